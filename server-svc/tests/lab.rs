//! Lab faults, the server's (--lab-*) and the client's, end the session
//! with the alert the lesson promises on the stream and the matching gRPC
//! status (proto::status::code_for).

mod common;

use common::{TestServer, client_config, run_session, server_config};
use handshake::KeyType;
use handshake::{AlertDescription, CipherSuite, Origin, ServerConfig, Step};
use proto::status::{STEP_KEY, alert_of};
use tonic::Code;

/// Checks the status the server ended the stream with.
fn assert_status(status: Option<&tonic::Status>, code: Code, alert: AlertDescription) {
    let status = status.expect("the stream ends with an error status");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(alert_of(status), Some(alert), "{status:?}");
    assert!(status.metadata().get(STEP_KEY).is_some(), "{status:?}");
}

#[tokio::test]
async fn lab_corrupt_finished_is_decrypt_error_from_the_client() {
    let mut config = server_config();
    config.faults.corrupt_finished = true;
    let server = TestServer::start(config).await;
    for suite in [
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        let out = run_session(&server, client_config(&[suite]), b"x").await;
        let (step, error) = out.client_failure().expect("the client refuses");
        assert_eq!(step, Step::ServerEncryptedHandshakeMessage);
        assert_eq!(
            (error.alert(), error.origin()),
            (AlertDescription::DECRYPT_ERROR, Origin::Local)
        );
        assert!(out.log.reply.is_none());
        // The client's alert (encrypted: its keys are on) reached the
        // server, which ends the stream naming it.
        let status = out.log.status.as_ref();
        assert_status(
            status,
            Code::Unauthenticated,
            AlertDescription::DECRYPT_ERROR,
        );
        assert!(
            status.unwrap().message().starts_with("peer sent"),
            "{status:?}"
        );
    }
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn lab_choose_unoffered_suite_is_illegal_parameter_from_the_client() {
    let mut config = server_config();
    config.faults.choose_unoffered_suite = true;
    let server = TestServer::start(config).await;
    let out = run_session(
        &server,
        client_config(&[CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256]),
        b"x",
    )
    .await;
    let (step, error) = out.client_failure().expect("the client refuses");
    assert_eq!(step, Step::ServerHello);
    assert_eq!(error.alert(), AlertDescription::ILLEGAL_PARAMETER);
    assert_status(
        out.log.status.as_ref(),
        Code::InvalidArgument,
        AlertDescription::ILLEGAL_PARAMETER,
    );
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn lab_corrupt_signature_is_decrypt_error_from_the_client() {
    let mut config = server_config();
    config.faults.corrupt_signature = true;
    let server = TestServer::start(config).await;
    for suite in [
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        let out = run_session(&server, client_config(&[suite]), b"x").await;
        let (_, error) = out.client_failure().expect("the client refuses");
        assert_eq!(error.alert(), AlertDescription::DECRYPT_ERROR, "{suite}");
        assert_status(
            out.log.status.as_ref(),
            Code::Unauthenticated,
            AlertDescription::DECRYPT_ERROR,
        );
    }
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn a_corrupt_client_finished_gets_a_decrypt_error_alert_and_unauthenticated() {
    let server = TestServer::start(server_config()).await;
    let mut client = client_config(&[CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
    client.faults.corrupt_finished = true;
    let out = run_session(&server, client, b"x").await;
    // The server's keys are not on yet: its alert travels in the clear.
    let alerts = out.plain_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].level, 2, "fatal");
    assert_eq!(alerts[0].description, 51, "decrypt_error");
    let status = out.log.status.as_ref();
    assert_status(
        status,
        Code::Unauthenticated,
        AlertDescription::DECRYPT_ERROR,
    );
    assert_eq!(status.unwrap().metadata().get(STEP_KEY).unwrap(), "10");
    let (step, error) = out.client_failure().expect("the client hears the alert");
    assert_eq!(error.origin(), Origin::Peer);
    assert_eq!(step, Step::ServerChangeCipherSpec);
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn no_certificate_for_the_offered_suites_is_handshake_failure() {
    let keys = common::lab()
        .pki
        .load_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.key.key_type() == KeyType::Rsa)
        .collect();
    let server = TestServer::start(ServerConfig::new(keys).unwrap()).await;
    let out = run_session(
        &server,
        client_config(&[CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]),
        b"x",
    )
    .await;
    let alerts = out.plain_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].description, 40, "handshake_failure");
    assert_status(
        out.log.status.as_ref(),
        Code::FailedPrecondition,
        AlertDescription::HANDSHAKE_FAILURE,
    );
    server.wait_no_sessions().await;
}
