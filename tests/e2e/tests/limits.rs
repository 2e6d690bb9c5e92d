//! The limits that keep load from taking a service down, set by flags on
//! the real processes: `--max-sessions` (RESOURCE_EXHAUSTED at once
//! beyond it), `--max-message-size` (OUT_OF_RANGE), `--handshake-timeout`
//! (an idle session ends with DEADLINE_EXCEEDED) and `--max-connection-age`
//! (client-svc's connection to server-svc is replaced and no session
//! fails). Keepalive and the details of each are tested in process
//! (service-runtime/tests/http2_limits.rs, server-svc/tests/limits.rs,
//! client-svc/tests/limits.rs and balance.rs).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::grpc::{CALL_TIMEOUT, RawSession, bounded, brief};
use e2e::{SERVER_NAME, ca_of, handshake, options, start_client, start_server};
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Opens a Connect stream with `first` queued; Err is the status it was
/// refused with.
async fn connect(channel: Channel, first: Vec<pb::ConnectRequest>) -> Result<(), Status> {
    let (tx, rx) = mpsc::channel(8);
    for m in first {
        tx.send(m).await.expect("queue a request");
    }
    let mut client = HandshakeServiceClient::new(channel);
    let response = bounded("Connect", client.connect(ReceiverStream::new(rx))).await?;
    let mut inbound = response.into_inner();
    // The first answer, or the status the stream ends with.
    match bounded("a ConnectResponse", inbound.message()).await {
        Ok(_) => Ok(()),
        Err(status) => Err(status),
    }
}

/// Asserts the refusal of a session beyond `--max-sessions max`.
fn assert_at_limit(status: &Status, max: usize) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", brief(status));
    assert!(
        status.message().contains(&format!("maximum of {max}")),
        "{}",
        brief(status)
    );
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn server_svc_refuses_beyond_its_limits() {
    let server = start_server(&[
        "--max-sessions",
        "1",
        "--max-message-size",
        "65536",
        "--handshake-timeout",
        "2",
    ])
    .await;

    // One session mid-handshake holds the one place.
    let mut held = RawSession::open(server.channel().await, &ca_of(&server), SERVER_NAME).await;
    held.step().await;
    let refused = connect(server.channel().await, Vec::new())
        .await
        .expect_err("a second session is refused");
    assert_at_limit(&refused, 1);

    // Left idle, the held session ends at the handshake timeout, and its
    // place is free again.
    let (_, status) = held.stream.until_status(8).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{}", brief(&status));
    let deadline = Instant::now() + CALL_TIMEOUT;
    let mut again = loop {
        let mut s = RawSession::open(server.channel().await, &ca_of(&server), SERVER_NAME).await;
        match s.stream.recv().await {
            Ok(Some(m)) => {
                s.feed(m).await.expect("the ServerHello");
                break s;
            }
            Err(st) if st.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("expected the ServerHello, got {other:?}"),
        }
    };
    again.complete_handshake().await;
    assert_eq!(
        again.echo("in the freed place").await,
        "echo: in the freed place"
    );

    // A message over --max-message-size ends its stream with OUT_OF_RANGE.
    drop(again);
    let big = pb::ConnectRequest {
        message: Some(pb::connect_request::Message::EncryptedRecord(
            pb::EncryptedRecord {
                content_type: pb::ContentType::ApplicationData as i32,
                fragment: vec![0; 100 * 1024],
            },
        )),
    };
    let deadline = Instant::now() + CALL_TIMEOUT;
    let status = loop {
        let status = connect(server.channel().await, vec![big.clone()])
            .await
            .expect_err("refused");
        // The place of the session just dropped may not be free yet.
        if status.code() != Code::ResourceExhausted || Instant::now() >= deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Code::OutOfRange, "{}", brief(&status));
}

#[tokio::test]
async fn client_svc_refuses_beyond_its_limits() {
    // A "server-svc" that accepts TCP connections and never speaks: a
    // session on it holds its place until its timeout.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_addr = mute.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let _mute = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = mute.accept().await {
            held.push(s);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let ca_server = start_server(&[]).await;
    let server = format!("http://{mute_addr}");
    let client = e2e::Service::start(
        "client-svc",
        &e2e::binaries().client,
        &[
            "serve",
            "--server",
            &server,
            "--ca",
            e2e::path_str(&ca_of(&ca_server)),
            "--timeout",
            "120",
            "--max-sessions",
            "1",
            "--max-message-size",
            "4096",
        ],
    )
    .await;
    let mut api = pb::handshake_client_service_client::HandshakeClientServiceClient::new(
        client.channel().await,
    );
    let mut first = api.clone();
    let held = tokio::spawn(async move {
        first
            .handshake(pb::HandshakeRequest {
                options: Some(options(&[], "held")),
            })
            .await
    });
    // Its place is taken before it connects: once connected, it holds it.
    let deadline = Instant::now() + CALL_TIMEOUT;
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the held session never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = handshake(&mut api, options(&[], "second"))
        .await
        .expect_err("a second session is refused");
    assert_at_limit(&refused, 1);

    // A request over --max-message-size is refused before any session.
    let status = handshake(&mut api, options(&[], &"x".repeat(8192)))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::OutOfRange, "{}", brief(&status));
    held.abort();
}

/// The client addresses (one per connection) of the sessions in
/// server-svc's log.
fn session_peers(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains("session ended"))
        .filter_map(|l| l.split("peer=").nth(1))
        .map(|rest| {
            rest.split(|c: char| c == '}' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn past_the_maximum_connection_age_client_svc_reconnects_and_no_session_fails() {
    let server = start_server(&[
        "--max-connection-age",
        "1",
        "--max-connection-age-grace",
        "10",
    ])
    .await;
    let client = start_client(&server, &[]).await;
    let mut api = pb::handshake_client_service_client::HandshakeClientServiceClient::new(
        client.channel().await,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sessions = 0;
    loop {
        let report = handshake(&mut api, options(&[], "age"))
            .await
            .unwrap_or_else(|s| panic!("session {sessions} failed: {}", brief(&s)));
        assert_eq!(report.reply, "echo: age");
        sessions += 1;
        let peers = session_peers(&server.stderr());
        if peers.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{sessions} sessions, all over one connection ({peers:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn limit_flags_out_of_range_are_one_line_usage_errors() {
    for (binary, args) in [
        (
            &e2e::binaries().server,
            vec!["serve", "--max-sessions", "0"],
        ),
        (
            &e2e::binaries().server,
            vec!["serve", "--keepalive-timeout", "0"],
        ),
        (
            &e2e::binaries().client,
            vec!["serve", "--max-sessions", "0"],
        ),
        (
            &e2e::binaries().client,
            vec!["serve", "--max-message-size", "0"],
        ),
        (
            &e2e::binaries().client,
            vec!["serve", "--resolve-interval", "0"],
        ),
    ] {
        let out = e2e::run_bounded(binary, &args, Duration::from_secs(20)).await;
        assert!(!out.status.success(), "{args:?} accepted");
        let line = out.stderr.trim();
        assert!(line.starts_with("error"), "{args:?}: {line}");
        assert_eq!(line.lines().count(), 1, "{args:?}: {line}");
    }
}
