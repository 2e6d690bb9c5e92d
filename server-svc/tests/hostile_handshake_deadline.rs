//! A handshake has an overall deadline (`--handshake-deadline`) that no
//! activity pushes back (issue 11, defect 8: every warning alert reset the
//! idle timer, so a client sending one now and then held a session at step
//! 7 until the connection's maximum age). A client that completes step 1,
//! then sends a warning alert every [`EVERY`] (well within the idle
//! timeout, `--handshake-timeout` [`IDLE_SECS`] s) is cut at the deadline
//! ([`DEADLINE_SECS`] s) with a fatal user_canceled alert: over gRPC, then
//! DEADLINE_EXCEEDED with `tls-alert` and `tls-step`; over TCP, the close.
//!
//! server-svc runs as a process with those flags. The warnings are spaced
//! so that only two or three fit before the deadline: the deadline, not a
//! cap on warning alerts, is what ends the session. Nothing is timed: the
//! test checks how the session ends, and that it ends before the client
//! has sent [`GIVE_UP`] warnings (at which point the session has outlived
//! the deadline several times over).

mod common;

use std::time::Duration;

use common::process::ServerProcess;
use common::{PATIENCE, Stream, client_hello, plain_alerts};
use handshake::AlertDescription;
use handshake::Deframer;
use proto::pb;
use proto::pb::connect_response::Message as Resp;
use proto::status::{STEP_KEY, alert_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tonic::Code;

const IDLE_SECS: &str = "5";
const DEADLINE_SECS: &str = "2";
const EVERY: Duration = Duration::from_millis(800);
const GIVE_UP: usize = 12;

/// A warning alert the engine takes and goes on: unrecognized_name
/// (RFC 6066 3), at warning level.
const WARNING: [u8; 2] = [1, 112];

async fn server(extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "--handshake-timeout",
        IDLE_SECS,
        "--handshake-deadline",
        DEADLINE_SECS,
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_grpc_handshake_kept_busy_with_warnings_is_cut_at_the_deadline() {
    let server = server(&[]).await;
    let mut stream = Stream::open_at(server.grpc).await;
    assert!(stream.send(client_hello()).await);
    // The server's flight, up to ServerHelloDone: the server now waits
    // for step 7.
    loop {
        match stream.recv().await {
            Ok(Some(pb::ConnectResponse {
                message: Some(Resp::ServerHelloDone(_)),
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("expected the server's flight, got {other:?}"),
        }
    }
    let warning = pb::ConnectRequest {
        message: Some(pb::connect_request::Message::Alert(pb::Alert {
            level: i32::from(WARNING[0]),
            description: i32::from(WARNING[1]),
        })),
    };
    let mut sent = 0;
    let (responses, status) = loop {
        // Whatever the server sends ends the session: read it whole.
        tokio::select! {
            r = stream.recv() => match r {
                Ok(Some(resp)) => {
                    let (mut rest, status) = stream.rest().await;
                    rest.insert(0, resp);
                    break (rest, status);
                }
                Ok(None) => panic!("the stream ended with OK after {sent} warnings"),
                Err(status) => break (Vec::new(), Some(status)),
            },
            () = sleep(EVERY) => {
                assert!(sent < GIVE_UP, "the session outlived the deadline: {sent} warnings sent");
                if !stream.send(warning.clone()).await {
                    continue;
                }
                sent += 1;
            }
        }
    };
    let alerts = plain_alerts(&responses);
    assert_eq!(alerts.len(), 1, "{responses:?}");
    assert_eq!(
        (alerts[0].level, alerts[0].description),
        (2, 90),
        "a fatal user_canceled alert"
    );
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::USER_CANCELED));
    assert_eq!(status.metadata().get(STEP_KEY).unwrap(), "7");
    assert!(
        status.message().contains("--handshake-deadline"),
        "{}",
        status.message()
    );
    assert!(sent >= 1, "the client kept the session busy");
}

/// A plaintext record.
fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![typ, 0x03, 0x03];
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_tls_handshake_kept_busy_with_warnings_is_cut_at_the_deadline() {
    let server = server(&["--tls-listen", "127.0.0.1:0"]).await;
    let mut tcp = TcpStream::connect(server.tls.expect("the TLS address"))
        .await
        .expect("connect");
    let mut hello = Vec::new();
    let client_hello = common::new_client(common::client_config(&[]))
        .poll_transmit()
        .expect("a ClientHello");
    handshake::encode_records(&client_hello, &mut hello).unwrap();
    tcp.write_all(&hello).await.expect("send the ClientHello");

    // Read the server's records; send a warning every EVERY until it
    // closes.
    let mut deframer = Deframer::new();
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut sent = 0;
    loop {
        tokio::select! {
            r = timeout(PATIENCE, tcp.read(&mut buf)) => match r.expect("the server answers in time") {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    deframer.push(&buf[..n]);
                    while let Some(m) = deframer.pop().expect("records from the server") {
                        messages.push(m);
                    }
                }
            },
            () = sleep(EVERY) => {
                assert!(sent < GIVE_UP, "the connection outlived the deadline: {sent} warnings sent");
                if tcp.write_all(&record(21, &WARNING)).await.is_ok() {
                    sent += 1;
                }
            }
        }
    }
    let alerts: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            handshake::Message::Alert(a) => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one alert, after the server's flight: {messages:?}"
    );
    assert_eq!(alerts[0].description, AlertDescription::USER_CANCELED);
    assert_eq!(alerts[0].level, handshake::msgs::enums::AlertLevel::FATAL);
    assert!(
        messages.len() > 1,
        "the server's flight came first: {messages:?}"
    );
    assert!(sent >= 1, "the client kept the connection busy");
    assert!(
        server
            .wait_for(&["the handshake did not complete within 2 s"])
            .await,
        "the log says why"
    );
}
