//! The limits that keep load from taking server-svc down: the session
//! budget (`--max-sessions`, gRPC streams and TLS front connections
//! together) and the message size (`--max-message-size`). Keepalive and
//! the connection age are `service_runtime::serve`'s, tested there
//! (service-runtime/tests/http2_limits.rs) and across processes in tests/e2e.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    PATIENCE, Stream, TestServer, client_config, client_hello, run_session, server_config,
};
use handshake::CipherSuite;
use proto::pb;
use server_svc::HandshakeService;
use service_runtime::limits::{Limits, LiveSessions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

/// Opens a Connect stream expecting it to be refused; returns the status.
async fn refused(server: &TestServer) -> Status {
    let (_tx, rx) = mpsc::channel::<pb::ConnectRequest>(1);
    let mut client = server.client().await;
    match tokio::time::timeout(PATIENCE, client.connect(ReceiverStream::new(rx)))
        .await
        .expect("an answer at once, not a queue")
    {
        Ok(_) => panic!("the stream was accepted beyond the limit"),
        Err(status) => status,
    }
}

/// Waits until `live` counts `n` sessions; panics after [`PATIENCE`].
async fn wait_live(live: &LiveSessions, n: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while live.get() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} sessions live, expected {n}",
            live.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_exhausted(status: &Status, max: usize) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains(&format!("maximum of {max}")),
        "{status:?}"
    );
    assert!(!status.message().contains('\n'), "one line: {status:?}");
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn beyond_max_sessions_a_stream_is_refused_at_once_until_one_ends() {
    let live = LiveSessions::with_max(2);
    let server = TestServer::start_limited(server_config(), live.clone(), Limits::default()).await;

    // Two sessions mid-handshake hold the two places.
    let mut first = Stream::open(&server).await;
    assert!(first.send(client_hello()).await);
    first.recv_n(1).await;
    let second = Stream::open(&server).await;
    assert!(second.send(client_hello()).await);
    assert_eq!(live.get(), 2);

    assert_exhausted(&refused(&server).await, 2);
    assert_eq!(live.get(), 2, "a refused stream takes no place");

    // A session that ends normally (the client closes its side) gives its
    // place back...
    first.close();
    let (_, status) = first.rest().await;
    assert!(status.is_none(), "{status:?}");
    wait_live(&live, 1).await;
    let out = run_session(
        &server,
        client_config(&[CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]),
        b"in the freed place",
    )
    .await;
    assert_eq!(
        out.log.reply.as_deref(),
        Some(&b"echo: in the freed place"[..])
    );

    // ...and so does one the client just drops (a reset stream).
    drop(second);
    server.wait_no_sessions().await;
    let mut again = Stream::open(&server).await;
    assert!(again.send(client_hello()).await);
    again.recv_n(1).await;
    server.stop().await;
}

/// The TLS front on a loopback port, counting in `live`.
async fn start_front(live: LiveSessions) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let front = HandshakeService::new(Arc::new(server_config()), Duration::from_secs(10))
        .with_sessions(live);
    tokio::spawn(front.serve_tls(listener, std::future::pending(), Duration::from_secs(1)));
    addr
}

/// Everything the front sends on a new connection, until it closes.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut got))
        .await
        .expect("the front closes in time")
        .expect("read until the close");
    got
}

#[tokio::test]
async fn the_tls_front_shares_the_budget_and_refuses_with_internal_error() {
    let live = LiveSessions::with_max(1);
    let server = TestServer::start_limited(server_config(), live.clone(), Limits::default()).await;
    let front = start_front(live.clone()).await;

    // A gRPC session holds the one place: a TLS connection gets a fatal
    // internal_error alert in the clear, and the close.
    let held = Stream::open(&server).await;
    assert!(held.send(client_hello()).await);
    assert_eq!(live.get(), 1);
    let mut tcp = TcpStream::connect(front).await.unwrap();
    // What a client sends first does not matter: the answer is the same.
    tcp.write_all(b"\x16\x03\x01\x00\x00").await.unwrap();
    let got = read_to_close(&mut tcp).await;
    assert_eq!(got.len(), 7, "one alert record: {got:02x?}");
    assert_eq!(got[0], 21, "content type alert: {got:02x?}");
    assert_eq!(
        &got[3..],
        &[0, 2, 2, 80],
        "fatal internal_error: {got:02x?}"
    );
    assert_eq!(live.get(), 1, "a refused connection takes no place");

    // The other way round: a TLS connection holds the place, a gRPC
    // stream is refused.
    drop(held);
    server.wait_no_sessions().await;
    let _tls = TcpStream::connect(front).await.unwrap();
    wait_live(&live, 1).await;
    assert_exhausted(&refused(&server).await, 1);
}

#[tokio::test]
async fn an_oversize_request_is_refused_with_out_of_range() {
    let limits = Limits {
        max_message_size: 16 * 1024,
        ..Limits::default()
    };
    let server = TestServer::start_limited(server_config(), LiveSessions::default(), limits).await;

    // Under the limit, whole sessions work.
    let out = run_session(&server, client_config(&[]), b"small enough").await;
    assert_eq!(out.log.reply.as_deref(), Some(&b"echo: small enough"[..]));

    // A record of 20 KiB: tonic refuses it from its length prefix.
    let mut stream = Stream::open(&server).await;
    let big = pb::ConnectRequest {
        message: Some(pb::connect_request::Message::EncryptedRecord(
            pb::EncryptedRecord {
                content_type: pb::ContentType::ApplicationData as i32,
                fragment: vec![0; 20 * 1024],
            },
        )),
    };
    assert!(stream.send(big).await);
    let (_, status) = stream.rest().await;
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn an_oversize_response_is_refused_with_out_of_range_too() {
    // 256 bytes: the ServerHello fits, the certificate chain does not.
    let limits = Limits {
        max_message_size: 256,
        ..Limits::default()
    };
    let server = TestServer::start_limited(server_config(), LiveSessions::default(), limits).await;
    let mut stream = Stream::open(&server).await;
    assert!(stream.send(client_hello()).await);
    let (responses, status) = stream.rest().await;
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        !responses.iter().any(|r| matches!(
            r.message,
            Some(pb::connect_response::Message::Certificate(_))
        )),
        "{responses:?}"
    );
    server.wait_no_sessions().await;
}
