//! Full sessions over gRPC: every suite completes, the application message
//! comes back as an echo, and each session's state is freed.

mod common;

use std::sync::Arc;

use common::{TempDir, TestServer, client_config, run_session, server_config};
use handshake::ALL_SUITES;
use handshake::{CipherSuite, Event, Step, StepDetail};
use proto::SESSION_ID_HEADER;
use proto::pb::connect_response::Message as Resp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_suite_completes_and_the_reply_is_an_echo() {
    let server = TestServer::start(server_config()).await;
    for params in ALL_SUITES {
        let suite = params.suite;
        let message = format!("hello over {suite}");
        let out = run_session(&server, client_config(&[suite]), message.as_bytes()).await;
        assert!(
            out.client_failure().is_none(),
            "{suite}: {:?}",
            out.client_failure()
        );
        assert!(out.log.status.is_none(), "{suite}: {:?}", out.log.status);
        assert_eq!(out.client.cipher_suite(), Some(suite));
        assert_eq!(
            out.log.reply.as_deref(),
            Some(format!("echo: {message}").as_bytes()),
            "{suite}"
        );
        // The client saw all thirteen steps, in order.
        assert_eq!(out.steps(), Step::ALL.to_vec(), "{suite}");
        // ServerKeyExchange travels for ECDHE suites only.
        let ske = out
            .log
            .responses
            .iter()
            .any(|r| matches!(r.message, Some(Resp::ServerKeyExchange(_))));
        assert_eq!(ske, params.kx.is_ecdhe(), "{suite}");
        assert!(
            out.metadata.get(SESSION_ID_HEADER).is_some(),
            "the response headers name the session"
        );
    }
    server.wait_no_sessions().await;
    server.stop().await;
}

#[tokio::test]
async fn several_records_each_get_their_echo() {
    let server = TestServer::start(server_config()).await;
    let (mut stream, mut client) = common::handshake_only(
        &server,
        client_config(&[CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]),
    )
    .await;
    for i in 0..3 {
        let msg = format!("message {i}");
        client.send_application_data(msg.as_bytes()).unwrap();
        while let Some(m) = client.poll_transmit() {
            assert!(stream.send(proto::convert::to_request(m).unwrap()).await);
        }
        let resp = stream.recv_n(1).await.remove(0);
        client.handle(proto::convert::from_response(resp).unwrap());
        assert_eq!(client.failure(), None);
        let reply = std::iter::from_fn(|| client.poll_event()).find_map(|e| match e {
            Event::ApplicationData(d) => Some(d),
            _ => None,
        });
        assert_eq!(reply, Some(format!("echo: {msg}").into_bytes()));
    }
    // close_notify from the client ends the session normally, after the
    // server's close_notify in reply (RFC 5246 7.2.1).
    client.close().unwrap();
    while let Some(m) = client.poll_transmit() {
        stream.send(proto::convert::to_request(m).unwrap()).await;
    }
    let (rest, status) = stream.rest().await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    for resp in rest {
        client.handle(proto::convert::from_response(resp).unwrap());
        assert_eq!(client.failure(), None);
    }
    assert!(std::iter::from_fn(|| client.poll_event()).any(|e| e == Event::PeerClosed));
    assert!(status.is_none(), "{status:?}");
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn extended_master_secret_can_be_refused() {
    let mut config = server_config();
    config.extended_master_secret = false;
    let server = TestServer::start(config).await;
    let out = run_session(
        &server,
        client_config(&[CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256]),
        b"x",
    )
    .await;
    assert_eq!(out.log.reply.as_deref(), Some(&b"echo: x"[..]));
    let ems = out.log.events.iter().find_map(|e| match e {
        Event::Step(s) => match s.detail {
            StepDetail::Finish {
                extended_master_secret,
                ..
            } => Some(extended_master_secret),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(ems, Some(false));
}

#[tokio::test]
async fn the_server_order_or_the_client_order_picks_the_suite() {
    let offer = [
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    for (preference, expected) in [
        (
            handshake::SuitePreference::Server,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            handshake::SuitePreference::Client,
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let mut config = server_config();
        config.preference = preference;
        let server = TestServer::start(config).await;
        let out = run_session(&server, client_config(&offer), b"x").await;
        assert_eq!(out.client.cipher_suite(), Some(expected), "{preference:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn with_a_key_log_every_session_that_derived_keys_is_logged() {
    let tmp = TempDir::new("grpc-key-log");
    let path = tmp.path().join("keys.log");
    let key_log = Arc::new(service_runtime::keylog::KeyLog::open(&path).expect("open the key log"));
    let server = TestServer::start_with_key_log(server_config(), key_log).await;
    let mut expected = Vec::new();
    for suite in [
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        let out = run_session(&server, client_config(&[suite]), b"hi").await;
        assert!(out.client_failure().is_none(), "{suite}");
        // The client engine's own line: same client random, same master secret.
        expected.push(out.client.key_log_line().expect("keys derived"));
    }
    server.wait_no_sessions().await;
    server.stop().await;
    let text = std::fs::read_to_string(&path).expect("read the key log");
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
}
