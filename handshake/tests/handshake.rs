//! Full in-memory sessions: every suite, with and without the extended
//! master secret, then application data both ways.

mod common;

use common::Feed;

use common::pair::{Pair, client_config, server_config, steps};
use handshake::ALL_SUITES;
use handshake::{CipherSuite, Role, Step};

fn run(suite: CipherSuite, ems_client: bool, ems_server: bool) -> Pair {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    c.extended_master_secret = ems_client;
    let mut s = server_config();
    s.extended_master_secret = ems_server;
    let mut pair = Pair::new(c, s);
    let out = pair.drive();
    assert!(
        out.client.is_none() && out.server.is_none(),
        "{suite:?}: {out:?}"
    );
    assert!(pair.client.is_handshake_complete(), "{suite:?}");
    assert!(pair.server.is_handshake_complete(), "{suite:?}");
    pair
}

#[test]
fn every_suite_completes_and_carries_data_both_ways() {
    for s in ALL_SUITES {
        for (ems_c, ems_s) in [(true, true), (false, true), (true, false)] {
            let mut pair = run(s.suite, ems_c, ems_s);
            let (cs, ss) = (
                pair.client.secrets().unwrap(),
                pair.server.secrets().unwrap(),
            );
            assert_eq!(cs.suite().suite, s.suite);
            assert_eq!(cs.master_secret(), ss.master_secret(), "{:?}", s.suite);
            assert_eq!(cs.extended_master_secret(), ems_c && ems_s);
            assert_eq!(ss.extended_master_secret(), ems_c && ems_s);
            assert_eq!(
                pair.send(Role::Client, b"GET / HTTP/1.1\r\n\r\n"),
                b"GET / HTTP/1.1\r\n\r\n"
            );
            assert_eq!(
                pair.send(Role::Server, b"hello, student"),
                b"hello, student"
            );
            // More than one record's worth.
            let big = vec![0x5a; 40_000];
            assert_eq!(pair.send(Role::Client, &big), big);
        }
    }
}

#[test]
fn client_reports_all_thirteen_steps_in_order() {
    let pair = run(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256, true, true);
    assert_eq!(steps(&pair.client_events), Step::ALL.to_vec());
    let pair = run(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        true,
        true,
    );
    assert_eq!(steps(&pair.client_events), Step::ALL.to_vec());
}

#[test]
fn server_reports_the_steps_it_takes_part_in() {
    let pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        true,
        true,
    );
    let expected: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| !matches!(s, Step::ClientVerification | Step::GenPreMaster))
        .collect();
    assert_eq!(steps(&pair.server_events), expected);
}

#[test]
fn the_server_chooses_by_its_preference_or_the_clients() {
    use handshake::SuitePreference;
    let (a, b) = (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
    );
    for (preference, expected) in [(SuitePreference::Server, b), (SuitePreference::Client, a)] {
        let mut c = client_config();
        c.cipher_suites = vec![a, b];
        let mut s = server_config();
        s.cipher_suites = vec![b, a];
        s.preference = preference;
        let mut pair = Pair::new(c, s);
        pair.drive();
        assert_eq!(pair.client.cipher_suite(), Some(expected), "{preference:?}");
        assert_eq!(pair.server.cipher_suite(), Some(expected), "{preference:?}");
    }
}

fn server_key_exchange(events: &[handshake::Event]) -> handshake::events::ServerKeyExchangeInfo {
    common::pair::step_events(events)
        .find_map(|s| match &s.detail {
            handshake::StepDetail::ServerHelloDone {
                key_exchange: Some(kx),
                ..
            } => Some(kx.clone()),
            _ => None,
        })
        .expect("a ServerKeyExchange was reported")
}

#[test]
fn every_group_is_negotiated_when_it_is_the_only_one_offered() {
    use handshake::NamedGroup;
    for (group, public_len) in [
        (NamedGroup::X25519, 32),
        (NamedGroup::SECP256R1, 65),
        (NamedGroup::SECP384R1, 97),
    ] {
        let mut c = client_config();
        c.groups = vec![group];
        c.cipher_suites = vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
        let mut pair = Pair::new(c, server_config());
        let out = pair.drive();
        assert!(
            out.client.is_none() && out.server.is_none(),
            "{group:?}: {out:?}"
        );
        let kx = server_key_exchange(&pair.client_events);
        assert_eq!(kx.group, group);
        assert_eq!(kx.public.len(), public_len, "{group:?}");
    }
}

#[test]
fn an_ecdsa_p384_certificate_signs_with_sha384() {
    use common::pair::certified;
    use common::pki::pki;
    let server = handshake::ServerConfig::new(vec![certified(&pki().ecdsa_p384)]).unwrap();
    let mut pair = Pair::new(client_config(), server);
    let out = pair.drive();
    assert!(out.client.is_none() && out.server.is_none(), "{out:?}");
    assert_eq!(
        server_key_exchange(&pair.client_events).scheme,
        handshake::SignatureScheme::ECDSA_NISTP384_SHA384
    );
}

#[test]
fn key_log_lines_agree_and_secrets_stay_out_of_debug_output() {
    let pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        true,
        true,
    );
    let line = pair.client.key_log_line().unwrap();
    assert_eq!(Some(&line), pair.server.key_log_line().as_ref());
    let secrets = pair.client.secrets().unwrap();
    let master = handshake::hex(secrets.master_secret());
    let client_random = handshake::hex(secrets.client_random());
    assert_eq!(line, format!("CLIENT_RANDOM {client_random} {master}"));
    let everything = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        pair.client, pair.server, pair.client_events, pair.server_events, secrets
    );
    for secret in [
        secrets.pre_master_secret(),
        secrets.master_secret(),
        secrets.client_write_key(),
        secrets.server_write_key(),
    ] {
        let hex = handshake::hex(secret);
        assert!(
            !everything.contains(&hex),
            "a secret leaked into Debug output"
        );
        // Debug of byte vectors prints decimal lists; look for those too.
        assert!(
            !everything.contains(&format!("{:?}", secret)),
            "a secret leaked into Debug output"
        );
    }
}

#[test]
fn an_ecdsa_certificate_needs_its_curve_in_supported_groups() {
    // RFC 8422 5.1: the server's P-256 certificate is of no use to a client
    // that supports only x25519, so the ECDSA suite cannot be chosen.
    let mut c = client_config();
    c.groups = vec![handshake::NamedGroup::X25519];
    c.cipher_suites = vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    let mut pair = Pair::new(c, server_config());
    let out = pair.drive();
    let err = out.server.expect("server refuses");
    assert_eq!(err.alert(), handshake::AlertDescription::HANDSHAKE_FAILURE);
    assert!(err.reason().contains("secp256r1"), "{err}");
    assert_eq!(
        out.client.expect("client told").alert(),
        handshake::AlertDescription::HANDSHAKE_FAILURE
    );
}

#[test]
fn abort_sends_the_alert_protected_once_keys_are_on() {
    use handshake::{AlertDescription, Error, Message};
    // Before ChangeCipherSpec: a plaintext alert.
    let mut pair = Pair::new(client_config(), server_config());
    pair.client.poll_transmit().expect("ClientHello");
    pair.client
        .abort(Error::decode("framing: truncated record"));
    assert!(matches!(
        pair.client.poll_transmit(),
        Some(Message::Alert(a)) if a.description == AlertDescription::DECODE_ERROR
    ));
    assert_eq!(
        pair.client.failure().map(|e| e.alert()),
        Some(AlertDescription::DECODE_ERROR)
    );
    pair.client.abort(Error::internal("again"));
    assert!(
        pair.client.poll_transmit().is_none(),
        "a second abort sends nothing"
    );

    // After the handshake: a protected alert record the peer can read.
    let mut pair = run(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256, true, true);
    pair.server.abort(Error::new(
        AlertDescription::RECORD_OVERFLOW,
        "framing: record too big",
    ));
    let out = pair.drive();
    assert_eq!(
        out.client.map(|e| e.alert()),
        Some(AlertDescription::RECORD_OVERFLOW)
    );
}

#[test]
fn renegotiation_is_declined_with_a_warning_and_the_session_goes_on() {
    use handshake::msgs::codec::Codec;
    use handshake::msgs::enums::{AlertLevel, ContentType, HandshakeType};
    use handshake::msgs::handshake::{HandshakeMessage, HandshakePayload};
    use handshake::{AlertDescription, Event, Message, ProtectedRecord};
    let mut pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        true,
        true,
    );
    // The server asks for renegotiation with a HelloRequest, sealed with its keys.
    let (mut enc, _) = pair
        .server
        .secrets()
        .unwrap()
        .record_layer(Role::Server)
        .unwrap();
    // Its Finished went out as record 0: advance this copy past it.
    enc.encrypt(ContentType::HANDSHAKE, b"").unwrap();
    let hello_request = HandshakeMessage::from(HandshakePayload::Unknown {
        typ: HandshakeType::HELLO_REQUEST,
        body: Vec::new(),
    });
    let fragment = enc
        .encrypt(
            ContentType::HANDSHAKE,
            &hello_request.get_encoding().unwrap(),
        )
        .unwrap();
    pair.client
        .feed(Message::Protected(ProtectedRecord {
            typ: ContentType::HANDSHAKE,
            fragment,
        }))
        .expect("a HelloRequest is declined, not fatal");
    // The client answers with a protected warning the server can read.
    let reply = pair.client.poll_transmit().expect("the client answers");
    let before = pair.server_events.len();
    pair.server.feed(reply).expect("a warning is not fatal");
    while let Some(e) = pair.server.poll_event() {
        pair.server_events.push(e);
    }
    assert!(matches!(
        &pair.server_events[before..],
        [Event::Warning(a)] if a.description == AlertDescription::NO_RENEGOTIATION && a.level == AlertLevel::WARNING
    ));
    assert!(pair.client.failure().is_none());
}

#[test]
fn a_client_that_can_only_verify_sha1_gets_insufficient_security() {
    use handshake::{AlertDescription, SignatureScheme};
    let mut c = client_config();
    c.cipher_suites = vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    c.signature_schemes = vec![SignatureScheme::RSA_PKCS1_SHA1];
    let mut pair = Pair::new(c.clone(), server_config());
    let err = pair.drive().server.expect("server refuses");
    assert_eq!(
        err.alert(),
        AlertDescription::INSUFFICIENT_SECURITY,
        "{err}"
    );
    assert!(err.reason().contains("SHA-1"), "{err}");

    // Offered alongside a suite that works, the weak one is just skipped.
    c.cipher_suites
        .push(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256);
    let mut pair = Pair::new(c, server_config());
    let out = pair.drive();
    assert!(out.server.is_none(), "{out:?}");
    assert_eq!(
        pair.server.cipher_suite(),
        Some(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256)
    );
}

#[test]
fn sessions_and_configs_can_move_between_threads() {
    // The services run each session on a tokio task and share configs.
    fn send<T: Send>() {}
    fn shared<T: Send + Sync>() {}
    send::<handshake::Connection>();
    send::<handshake::Event>();
    shared::<handshake::ClientConfig>();
    shared::<handshake::ServerConfig>();
}

#[test]
fn a_given_clock_stamps_every_step_apart() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    // A clock that ticks once per reading: each stamped step gets its own time.
    let ticks = Arc::new(AtomicU64::new(0));
    let clock = {
        let ticks = ticks.clone();
        Box::new(move || Duration::from_micros(ticks.fetch_add(1, Ordering::SeqCst)))
    };
    let mut pair = Pair {
        client: handshake::Connection::client(
            Arc::new(client_config()),
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            common::pki::valid_now(),
            Box::new(handshake::SeededRng::new(1)),
        )
        .unwrap()
        .with_clock(clock),
        server: handshake::Connection::server(
            Arc::new(server_config()),
            Box::new(handshake::SeededRng::new(2)),
        )
        .unwrap(),
        client_events: Vec::new(),
        server_events: Vec::new(),
    };
    let out = pair.drive();
    assert!(out.client.is_none() && out.server.is_none(), "{out:?}");
    let stamps: Vec<_> = common::pair::step_events(&pair.client_events)
        .map(|s| (s.step, s.at))
        .collect();
    assert_eq!(
        stamps[0],
        (Step::ClientHello, None),
        "queued before the clock was given"
    );
    let times: Vec<Duration> = stamps[1..]
        .iter()
        .map(|(_, at)| at.expect("stamped"))
        .collect();
    assert_eq!(times.len(), 12);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    // The server was given no clock.
    assert!(common::pair::step_events(&pair.server_events).all(|s| s.at.is_none()));
}

#[test]
fn close_notify_is_answered_with_close_notify() {
    use handshake::Event;
    let mut pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        true,
        true,
    );
    pair.client.close().unwrap();
    // The client still reads what the server sends until the server's own close_notify.
    pair.server.send_application_data(b"last words").unwrap();
    let out = pair.drive();
    assert!(out.client.is_none() && out.server.is_none(), "{out:?}");
    assert!(pair.server_events.contains(&Event::PeerClosed));
    assert!(
        pair.client_events
            .contains(&Event::ApplicationData(b"last words".to_vec()))
    );
    assert!(
        pair.client_events.contains(&Event::PeerClosed),
        "the server answered"
    );
    assert!(pair.client.poll_transmit().is_none() && pair.server.poll_transmit().is_none());
    assert!(pair.client.failure().is_none() && pair.server.failure().is_none());
    // Closing again, on either side, is harmless and sends nothing.
    pair.client.close().unwrap();
    pair.server.close().unwrap();
    assert!(pair.client.poll_transmit().is_none() && pair.server.poll_transmit().is_none());
}

#[test]
fn server_name_text_is_the_dns_name_or_the_address() {
    let text =
        |s: &str| handshake::server_name_text(&rustls_pki_types::ServerName::try_from(s).unwrap());
    assert_eq!(text("example.com"), "example.com");
    assert_eq!(text("192.0.2.1"), "192.0.2.1");
    assert_eq!(text("2001:db8::1"), "2001:db8::1");
}
