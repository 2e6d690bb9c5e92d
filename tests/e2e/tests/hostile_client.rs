//! client-svc under hostile requests, with server-svc and client-svc as
//! real (debug) processes: long application messages get their whole echo
//! over gRPC (and go whole through server-svc's TLS front), servers not allowed are
//! refused before any connection, and offers beyond a ClientHello are
//! INVALID_ARGUMENT rather than a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use e2e::grpc::bounded;
use e2e::{handshake, start_client, start_server};
use proto::pb;
use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;
use proto::pb::watch_handshake_response::Event;
use tonic::Code;
use tonic::transport::Channel;

/// 20 KB, 100 KB and 1 MB.
const SIZES: [usize; 3] = [20_000, 100_000, 1_000_000];

fn message(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// server-svc's reply (service.proto): "echo: " + each record of at most
/// 2^14 bytes the message was sent in.
fn echo(message: &str) -> String {
    message
        .as_bytes()
        .chunks(16_384)
        .map(|c| format!("echo: {}", std::str::from_utf8(c).unwrap()))
        .collect()
}

fn options(server: &str, message: &str) -> pb::SessionOptions {
    pb::SessionOptions {
        server: server.to_owned(),
        application_message: message.to_owned(),
        ..Default::default()
    }
}

/// The report WatchHandshake ends with.
async fn watched(
    client: &mut HandshakeClientServiceClient<Channel>,
    o: pb::SessionOptions,
) -> Result<pb::HandshakeReport, tonic::Status> {
    let mut stream = bounded(
        "WatchHandshake",
        client.watch_handshake(pb::WatchHandshakeRequest { options: Some(o) }),
    )
    .await?
    .into_inner();
    let mut report = None;
    while let Some(item) = bounded("WatchHandshake message", stream.message()).await? {
        if let Some(Event::Report(r)) = item.event {
            report = Some(r);
        }
    }
    Ok(report.expect("WatchHandshake ended OK without a report"))
}

/// Waits until something accepts TCP connections on `port` (server-svc's
/// TLS front binds beside its gRPC port).
async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// An HTTP response whose body is as long as its Content-Length says.
fn assert_whole_page(reply: &str) {
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:.200}");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a header");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    assert_eq!(body.len(), length, "{reply:.200}");
}

#[tokio::test]
async fn long_messages_get_their_whole_echo_over_grpc_and_tls() {
    let tport = e2e::process::free_port();
    let front = format!("127.0.0.1:{tport}");
    let server = start_server(&["--tls-listen", &front]).await;
    let tls = format!("tls://{front}");
    let client = start_client(&server, &["--allow-server", &tls]).await;
    wait_listening(tport).await;
    let mut c = HandshakeClientServiceClient::new(client.channel().await);
    for len in SIZES {
        let m = message(len);
        let want = echo(&m);
        let report = handshake(&mut c, options("", &m))
            .await
            .unwrap_or_else(|s| panic!("{len}: {s:?}"));
        assert!(report.success, "{len}");
        assert_eq!(report.reply.len(), want.len(), "{len}");
        assert!(report.reply == want, "{len}: not the echo");

        let report = watched(&mut c, options("", &m))
            .await
            .unwrap_or_else(|s| panic!("{len}: {s:?}"));
        assert!(report.success && report.reply == want, "{len}");

        // server-svc's TLS front, as any real TLS server: it answers the
        // first bytes with its page whole (it is no echo), and the session
        // succeeds with all of it.
        let report = handshake(&mut c, options(&tls, &m))
            .await
            .unwrap_or_else(|s| panic!("{tls} {len}: {s:?}"));
        assert!(report.success, "{len}");
        assert_whole_page(&report.reply);
    }
}

#[tokio::test]
async fn a_server_not_allowed_is_refused_before_any_connection() {
    let server = start_server(&[]).await;
    let client = start_client(&server, &[]).await;
    let mut c = HandshakeClientServiceClient::new(client.channel().await);

    // A listener that counts who connects.
    let witness = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = witness.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = witness.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });

    for target in [
        format!("tls://127.0.0.1:{port}"),
        format!("ipv4:127.0.0.1:{port}"),
        format!("dns:///localhost:{port}"),
        "tls://no-such-host.invalid:443".to_owned(),
    ] {
        let s = handshake(&mut c, options(&target, "hi"))
            .await
            .expect_err("not allowed");
        assert_eq!(s.code(), Code::PermissionDenied, "{target}: {s:?}");
        let s = watched(&mut c, options(&target, "hi"))
            .await
            .expect_err("not allowed");
        assert_eq!(s.code(), Code::PermissionDenied, "{target}: {s:?}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    // The configured server itself still works.
    let report = handshake(&mut c, options(&server.url(), "hi"))
        .await
        .unwrap();
    assert!(report.success);
}

#[tokio::test]
async fn offers_beyond_a_client_hello_are_invalid_argument_in_a_debug_build() {
    let server = start_server(&[]).await;
    let client = start_client(&server, &[]).await;
    let mut c = HandshakeClientServiceClient::new(client.channel().await);
    let many: Vec<i32> = (0..32_768).map(|i| 0x1000 + i).collect();
    let suites = pb::SessionOptions {
        cipher_suites: many.clone(),
        ..Default::default()
    };
    let groups = pb::SessionOptions {
        lab: Some(pb::LabOptions {
            groups: many,
            ..Default::default()
        }),
        ..Default::default()
    };
    for o in [suites, groups] {
        let s = handshake(&mut c, o.clone()).await.expect_err("refused");
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().len() < 1024);
        let s = watched(&mut c, o).await.expect_err("refused");
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    }
    // client-svc is still up.
    let report = handshake(&mut c, options("", "still here")).await.unwrap();
    assert!(report.success);
}
