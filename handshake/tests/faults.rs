//! The lab faults: each breaks the session the way its lesson says.

mod common;

use common::pair::{Pair, client_config, failure, server_config};
use handshake::{AlertDescription, CipherSuite, Origin, Role, Step};

fn run(
    suite: CipherSuite,
    client: impl FnOnce(&mut handshake::ClientConfig),
    server: impl FnOnce(&mut handshake::ServerConfig),
) -> Pair {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    client(&mut c);
    let mut s = server_config();
    server(&mut s);
    let mut pair = Pair::new(c, s);
    pair.drive();
    pair
}

fn assert_fails(events: &[handshake::Event], step: Step, alert: AlertDescription, origin: Origin) {
    let (s, e) = failure(events).expect("the session fails");
    assert_eq!((s, e.alert(), e.origin()), (step, alert, origin), "{e}");
}

#[test]
fn a_corrupt_client_finished_is_decrypt_error_at_the_server() {
    for suite in [
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        let pair = run(suite, |c| c.faults.corrupt_finished = true, |_| {});
        let step = Step::ClientEncryptedHandshakeMessage;
        assert_fails(
            &pair.server_events,
            step,
            AlertDescription::DECRYPT_ERROR,
            Origin::Local,
        );
        assert_fails(
            &pair.client_events,
            Step::ServerChangeCipherSpec,
            AlertDescription::DECRYPT_ERROR,
            Origin::Peer,
        );
    }
}

#[test]
fn a_corrupt_server_finished_is_decrypt_error_at_the_client() {
    let pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        |_| {},
        |s| s.faults.corrupt_finished = true,
    );
    assert_fails(
        &pair.client_events,
        Step::ServerEncryptedHandshakeMessage,
        AlertDescription::DECRYPT_ERROR,
        Origin::Local,
    );
    assert!(
        pair.server.failure().is_some(),
        "the server hears the alert"
    );
}

#[test]
fn an_unoffered_suite_is_illegal_parameter_at_the_client() {
    let pair = run(
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        |_| {},
        |s| s.faults.choose_unoffered_suite = true,
    );
    assert_fails(
        &pair.client_events,
        Step::ServerHello,
        AlertDescription::ILLEGAL_PARAMETER,
        Origin::Local,
    );
    let (_, e) = failure(&pair.client_events).unwrap();
    assert!(e.reason().contains("not offered"), "{e}");
}

#[test]
fn a_corrupt_signature_is_decrypt_error_at_client_verification() {
    for suite in [
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ] {
        let pair = run(suite, |_| {}, |s| s.faults.corrupt_signature = true);
        assert_fails(
            &pair.client_events,
            Step::ClientVerification,
            AlertDescription::DECRYPT_ERROR,
            Origin::Local,
        );
    }
}

#[test]
fn without_faults_the_same_sessions_complete() {
    let pair = run(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256, |_| {}, |_| {});
    assert!(pair.client.is_handshake_complete() && pair.server.is_handshake_complete());
}

#[test]
fn a_corrupt_application_record_is_bad_record_mac_at_the_peer() {
    for (from, suite) in [
        (Role::Client, CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256),
        (
            Role::Server,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ] {
        let mut pair = run(
            suite,
            |c| c.faults.corrupt_application_record = from == Role::Client,
            |s| s.faults.corrupt_application_record = from == Role::Server,
        );
        // The handshake is untouched: the fault is on application data only.
        assert!(pair.client.is_handshake_complete() && pair.server.is_handshake_complete());
        let sender = match from {
            Role::Client => &mut pair.client,
            Role::Server => &mut pair.server,
        };
        sender.send_application_data(b"hello").unwrap();
        let out = pair.drive();
        let (failed, events) = match from {
            Role::Client => (out.server, &pair.server_events),
            Role::Server => (out.client, &pair.client_events),
        };
        assert_eq!(
            failed.map(|e| e.alert()),
            Some(AlertDescription::BAD_RECORD_MAC),
            "{from:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, handshake::Event::ApplicationData(_))),
            "{from:?}"
        );
    }
}
