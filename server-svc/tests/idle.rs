//! A stream with no message for the handshake timeout is closed with
//! DEADLINE_EXCEEDED after a user_canceled alert, and its state is freed.
//! (A behaviour test with a 1 s timeout, not a timing assertion.)

mod common;

use std::time::Duration;

use common::{Stream, TestServer, client_config, client_hello, plain_alerts, server_config};
use handshake::{AlertDescription, CipherSuite};
use proto::convert::from_response;
use proto::pb::connect_response::Message as Resp;
use proto::status::{STEP_KEY, alert_of};
use tonic::Code;

const IDLE: Duration = Duration::from_secs(1);

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn an_idle_handshake_is_closed_with_deadline_exceeded() {
    let server = TestServer::start_with(server_config(), IDLE).await;

    // Mid-handshake: the server waits for ClientKeyExchange.
    let mut stream = Stream::open(&server).await;
    assert!(stream.send(client_hello()).await);
    let (responses, status) = stream.rest().await;
    assert!(
        matches!(
            responses.last().and_then(|r| r.message.as_ref()),
            Some(Resp::Alert(_))
        ),
        "{responses:?}"
    );
    let alerts = plain_alerts(&responses);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].description, 90, "user_canceled");
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::USER_CANCELED));
    assert_eq!(status.metadata().get(STEP_KEY).unwrap(), "7");
    server.wait_no_sessions().await;

    // Before any message at all.
    let mut stream = Stream::open(&server).await;
    let (_, status) = stream.rest().await;
    assert_eq!(
        status.expect("an error status").code(),
        Code::DeadlineExceeded
    );
    server.wait_no_sessions().await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_session_after_the_handshake_is_closed_too() {
    let server = TestServer::start_with(server_config(), IDLE).await;
    let (mut stream, mut client) = common::handshake_only(
        &server,
        client_config(&[CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256]),
    )
    .await;
    assert_eq!(server.live.get(), 1);
    let (responses, status) = stream.rest().await;
    // The alert is encrypted now; the client can read it.
    assert_eq!(responses.len(), 1, "{responses:?}");
    client.handle(from_response(responses[0].clone()).unwrap());
    let err = client.failure().cloned().expect("a failure");
    assert_eq!(err.alert(), AlertDescription::USER_CANCELED);
    assert_eq!(
        status.expect("an error status").code(),
        Code::DeadlineExceeded
    );
    server.wait_no_sessions().await;
}
