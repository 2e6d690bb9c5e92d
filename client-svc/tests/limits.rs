//! client-svc's limits, in process: the session budget
//! (`--max-sessions`), the message size (`--max-message-size`), both
//! through `client_svc::service::serve` as `client-svc serve` runs it,
//! and HTTP/2 keepalive on its channels to server-svc (a raw HTTP/2
//! server sees the PINGs).

mod common;

use std::time::Duration;

use client_svc::balance::ChannelOptions;
use client_svc::service::Settings;
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use service_runtime::limits::{Limits, LiveSessions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// The longest any one wait of these tests may take.
const PATIENCE: Duration = Duration::from_secs(20);

fn request(message: &str) -> pb::HandshakeRequest {
    pb::HandshakeRequest {
        options: Some(pb::SessionOptions {
            application_message: message.to_owned(),
            ..Default::default()
        }),
    }
}

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

#[tokio::test]
async fn beyond_max_sessions_a_call_is_refused_at_once_until_one_ends() {
    // server-svc never answers: a session holds its place until it ends.
    let silent = common::start_silent_server().await;
    let live = LiveSessions::with_max(1);
    let settings = Settings {
        sessions: live.clone(),
        timeout: Duration::from_secs(300),
        ..common::settings(&silent, false)
    };
    let client = common::start_client_svc_limited(settings, Limits::default()).await;

    let mut first = client.clone();
    let held = tokio::spawn(async move { first.handshake(request("held")).await });
    wait_live(&live, 1).await;

    // Refused at once, Handshake and WatchHandshake alike.
    let status = tokio::time::timeout(PATIENCE, client.clone().handshake(request("x")))
        .await
        .expect("an answer at once, not a queue")
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("maximum of 1"), "{status:?}");
    let status = client
        .clone()
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(pb::SessionOptions::default()),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(live.get(), 1, "refused calls take no place");

    // The caller of the held session goes away: its place is free again.
    held.abort();
    let _ = held.await;
    wait_live(&live, 0).await;
    let _watch = client
        .clone()
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(pb::SessionOptions::default()),
        })
        .await
        .expect("accepted in the freed place");
    wait_live(&live, 1).await;
}

#[tokio::test]
async fn an_oversize_request_is_refused_with_out_of_range() {
    let server = common::start_server(common::lab().server_config()).await;
    let limits = Limits {
        max_message_size: 16 * 1024,
        ..Limits::default()
    };
    let mut client =
        common::start_client_svc_limited(common::settings(&server, false), limits).await;
    let report = client
        .handshake(request("small enough"))
        .await
        .expect("a small request works")
        .into_inner()
        .report
        .unwrap();
    assert_eq!(report.reply, "echo: small enough");

    let status = client
        .handshake(request(&"x".repeat(32 * 1024)))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
}

#[tokio::test]
async fn an_oversize_report_is_refused_with_out_of_range_too() {
    // The report of a whole session (thirteen steps, the certificate) is
    // several KiB.
    let server = common::start_server(common::lab().server_config()).await;
    let limits = Limits {
        max_message_size: 1024,
        ..Limits::default()
    };
    let mut client =
        common::start_client_svc_limited(common::settings(&server, false), limits).await;
    let status = client.handshake(request("hi")).await.expect_err("refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

/// Frame types of HTTP/2 (RFC 9113 6).
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;

fn frame(typ: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], typ, flags, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

/// Accepts one connection as a raw HTTP/2 server that never answers a
/// request, and returns the types of the frames the client sent until its
/// first PING.
async fn frames_until_ping(listener: tokio::net::TcpListener) -> Vec<u8> {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut preface = [0u8; 24];
    stream.read_exact(&mut preface).await.unwrap();
    assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    stream.write_all(&frame(SETTINGS, 0, &[])).await.unwrap();
    let mut types = Vec::new();
    loop {
        let mut header = [0u8; 9];
        stream.read_exact(&mut header).await.unwrap();
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        types.push(header[3]);
        if header[3] == SETTINGS && header[4] & 1 == 0 {
            stream.write_all(&frame(SETTINGS, 1, &[])).await.unwrap();
        }
        if header[3] == PING && header[4] & 1 == 0 {
            return types;
        }
    }
}

#[tokio::test]
async fn channels_to_server_svc_send_keepalive_pings() {
    let (listener, addr) = common::listener().await;
    let options = ChannelOptions {
        keepalive_interval: Some(Duration::from_secs(1)),
        keepalive_timeout: Duration::from_secs(5),
        ..ChannelOptions::default()
    };
    let channel = options.channel(&format!("http://{addr}")).unwrap();
    // A call makes the channel connect; the server never answers it.
    let (_tx, rx) = tokio::sync::mpsc::channel::<pb::ConnectRequest>(1);
    let call = tokio::spawn(async move {
        HandshakeServiceClient::new(channel)
            .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let types = tokio::time::timeout(PATIENCE, frames_until_ping(listener))
        .await
        .expect("a PING from the client in time");
    assert_eq!(types.last(), Some(&PING), "{types:?}");
    call.abort();
}
