//! What the client checks of the server's certificate beyond chain, name
//! and validity (those are in alerts.rs): that the key may be used the way
//! the suite uses it, and what it reports about the certificate.

mod common;

use common::pair::{Pair, certified, client_config, failure};
use common::pki::{LEAF_NOT_AFTER, LEAF_NOT_BEFORE, leaf_params, pki};
use handshake::{AlertDescription, CipherSuite, ServerConfig, Step, StepDetail};

/// An RSA leaf whose keyUsage allows signing only.
fn sign_only_rsa_server() -> ServerConfig {
    let mut params = leaf_params("sign-only", true);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let leaf = pki().issue(&rcgen::PKCS_RSA_SHA256, &params);
    ServerConfig::new(vec![certified(&leaf)]).unwrap()
}

fn run(server: ServerConfig, suite: CipherSuite) -> Pair {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    let mut pair = Pair::new(c, server);
    pair.drive();
    pair
}

#[test]
fn rsa_key_transport_needs_key_encipherment() {
    let pair = run(
        sign_only_rsa_server(),
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    );
    let (step, err) = failure(&pair.client_events).expect("client fails");
    assert_eq!(step, Step::ClientVerification);
    assert_eq!(err.alert(), AlertDescription::UNSUPPORTED_CERTIFICATE);
    assert!(err.reason().contains("keyEncipherment"), "{err}");
    // The server learns it from the alert.
    let (_, server_err) = failure(&pair.server_events).expect("server told");
    assert_eq!(
        server_err.alert(),
        AlertDescription::UNSUPPORTED_CERTIFICATE
    );
}

#[test]
fn the_same_certificate_signs_for_ecdhe() {
    let pair = run(
        sign_only_rsa_server(),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    );
    assert!(
        pair.client.is_handshake_complete(),
        "{:?}",
        failure(&pair.client_events)
    );
}

#[test]
fn certificate_step_reports_what_a_student_needs() {
    let pair = run(
        ServerConfig::new(vec![certified(&pki().ecdsa_p256)]).unwrap(),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    );
    let detail = pair
        .client_events
        .iter()
        .find_map(|e| match e {
            handshake::Event::Step(s) if s.step == Step::ServerCertificate => {
                Some(s.detail.clone())
            }
            _ => None,
        })
        .expect("certificate step");
    let StepDetail::ServerCertificate { chain, message } = detail else {
        panic!("wrong detail {detail:?}");
    };
    let leaf = &chain[0];
    assert_eq!(leaf.dns_names, ["localhost", "server.lab.test"]);
    assert_eq!(leaf.ip_addresses, ["127.0.0.1"]);
    assert_eq!(leaf.not_before, LEAF_NOT_BEFORE as i64);
    assert_eq!(leaf.not_after, LEAF_NOT_AFTER as i64);
    assert_eq!(leaf.public_key_description, "ECDSA P-256");
    assert!(
        leaf.key_usage
            .as_ref()
            .is_some_and(|ku| ku.digital_signature)
    );
    assert_eq!(leaf.sha256_fingerprint.len(), 64);
    // The message bytes are the Certificate handshake message: type 11.
    assert_eq!(message[0], 11);
    // And the verification step names the signature it checked.
    let verified = pair.client_events.iter().any(|e| {
        matches!(e, handshake::Event::Step(s) if matches!(
            &s.detail,
            StepDetail::ClientVerification { signature_scheme: Some(_), server_name, .. } if server_name == "localhost"
        ))
    });
    assert!(verified);
}
