//! Records a conformance suite or a hostile peer sends that a plain
//! handshake never does, at the engine: a Finished split over several
//! protected records (RFC 5246 6.2.1), renegotiation requests split the
//! same way, records interleaved inside a split message, malformed and
//! repeated ChangeCipherSpecs, and warning alerts sent to stall a session.
//! The services' tests drive the same cases over TCP and gRPC.

mod common;

use common::Feed;

use common::pair::{client_config, server_config};
use common::pki::valid_now;
use handshake::SeededRng;
use handshake::internal::record::RecordEncrypter;
use handshake::msgs::enums::{AlertLevel, ContentType, HandshakeType};
use handshake::{
    Alert, AlertDescription, CipherSuite, Connection, Error, Event, Message, ProtectedRecord, Role,
    Step, StepDetail,
};
use rustls_pki_types::ServerName;
use std::sync::Arc;

const SUITES: [CipherSuite; 3] = [
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

fn pair(suite: CipherSuite) -> (Connection, Connection) {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    let client = Connection::client(
        Arc::new(c),
        ServerName::try_from("localhost").unwrap(),
        valid_now(),
        Box::new(SeededRng::new(7)),
    )
    .unwrap();
    let server =
        Connection::server(Arc::new(server_config()), Box::new(SeededRng::new(8))).unwrap();
    (client, server)
}

fn outgoing(c: &mut Connection) -> Vec<Message> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn protected(typ: ContentType, fragment: Vec<u8>) -> Message {
    Message::Protected(ProtectedRecord { typ, fragment })
}

fn warning(description: AlertDescription) -> Alert {
    Alert {
        level: AlertLevel::WARNING,
        description,
    }
}

/// The sender's record protection, from the start (sequence number 0),
/// and the plaintext of its first protected record (its Finished).
fn reseal(sender: &Connection, first: &ProtectedRecord) -> (RecordEncrypter, Vec<u8>) {
    let secrets = sender.secrets().expect("keys before Finished");
    let receiver = match sender.role() {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let (_, mut dec) = secrets.record_layer(receiver).unwrap();
    let plain = dec.decrypt(first.typ, &first.fragment).unwrap();
    let (enc, _) = secrets.record_layer(sender.role()).unwrap();
    (enc, plain)
}

/// `plain` sealed as handshake records cut at `cuts`.
fn split(enc: &mut RecordEncrypter, plain: &[u8], cuts: &[usize]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([plain.len()].iter()) {
        out.push(protected(
            ContentType::HANDSHAKE,
            enc.encrypt(ContentType::HANDSHAKE, &plain[at..cut])
                .unwrap(),
        ));
        at = cut;
    }
    out
}

/// Moves `from`'s messages to `to`, failing the test on an error.
fn carry(from: &mut Connection, to: &mut Connection) -> usize {
    let msgs = outgoing(from);
    let n = msgs.len();
    for m in msgs {
        to.feed(m).expect("the peer accepts it");
    }
    n
}

/// Runs the handshake until `splitter`'s Finished is about to be sent and
/// returns the pair with that Finished (and everything before it) held
/// back: the messages before the Finished are delivered, the Finished
/// record returned.
fn until_finished(suite: CipherSuite, splitter: Role) -> (Connection, Connection, ProtectedRecord) {
    let (mut client, mut server) = pair(suite);
    carry(&mut client, &mut server); // ClientHello
    carry(&mut server, &mut client); // ServerHello .. ServerHelloDone
    if splitter == Role::Server {
        carry(&mut client, &mut server); // CKE, CCS, Finished
    }
    let (sender, receiver) = sides(splitter, &mut client, &mut server);
    let mut msgs = outgoing(sender);
    let Some(Message::Protected(finished)) = msgs.pop() else {
        panic!("the flight ends with the protected Finished");
    };
    for m in msgs {
        receiver.feed(m).expect("the flight before Finished");
    }
    (client, server, finished)
}

/// The `splitter` (the sender of the split Finished) and its peer (the
/// receiver), in that order.
fn sides<'a>(
    splitter: Role,
    client: &'a mut Connection,
    server: &'a mut Connection,
) -> (&'a mut Connection, &'a mut Connection) {
    match splitter {
        Role::Client => (client, server),
        Role::Server => (server, client),
    }
}

#[test]
fn a_finished_split_over_records_is_reassembled_in_both_roles() {
    // Finished is 4 + 12 bytes: one byte first (the conformance suite's
    // case), the header alone, byte by byte, and the last byte alone.
    let cuts: [&[usize]; 4] = [
        &[1],
        &[4],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        &[15],
    ];
    for suite in SUITES {
        for splitter in [Role::Client, Role::Server] {
            for cut in cuts {
                let what = format!("{suite} {splitter:?} {cut:?}");
                let (mut client, mut server, finished) = until_finished(suite, splitter);
                let (sender, receiver) = sides(splitter, &mut client, &mut server);
                let (mut enc, plain) = reseal(sender, &finished);
                assert_eq!(plain.len(), 16, "{what}");
                let pieces = split(&mut enc, &plain, cut);
                let mut ciphertext = Vec::new();
                for (i, m) in pieces.into_iter().enumerate() {
                    assert!(!receiver.is_handshake_complete(), "{what}: early at {i}");
                    let Message::Protected(r) = &m else {
                        unreachable!()
                    };
                    ciphertext.extend_from_slice(&r.fragment);
                    receiver.feed(m).unwrap_or_else(|e| panic!("{what}: {e}"));
                }
                // The report names the verify_data and every record's
                // ciphertext, in order.
                let reported = events(receiver).into_iter().find_map(|e| match e {
                    Event::Step(s) => match s.detail {
                        StepDetail::EncryptedHandshakeMessage {
                            verify_data,
                            record,
                        } if s.direction == handshake::Direction::Received => {
                            Some((verify_data, record))
                        }
                        _ => None,
                    },
                    _ => None,
                });
                let (verify_data, record) = reported.expect("Finished reported");
                assert_eq!(verify_data, plain[4..], "{what}");
                assert_eq!(record, ciphertext, "{what}");

                // The rest of the handshake, then data both ways. The
                // splitter's engine sealed the Finished as record 0 itself,
                // so its later records are sealed here, by the copy that
                // sent the pieces.
                if splitter == Role::Client {
                    carry(&mut server, &mut client);
                }
                assert!(client.is_handshake_complete(), "{what}");
                assert!(server.is_handshake_complete(), "{what}");
                let (sender, receiver) = sides(splitter, &mut client, &mut server);
                let data = enc
                    .encrypt(ContentType::APPLICATION_DATA, b"after a split Finished")
                    .unwrap();
                receiver
                    .feed(protected(ContentType::APPLICATION_DATA, data))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    events(receiver)
                        .contains(&Event::ApplicationData(b"after a split Finished".to_vec()))
                );
                receiver.send_application_data(b"pong").unwrap();
                carry(receiver, sender);
                assert!(events(sender).contains(&Event::ApplicationData(b"pong".to_vec())));
            }
        }
    }
}

/// The alert and reason `receiver` failed with after `msgs`.
fn fails_with(receiver: &mut Connection, msgs: Vec<Message>) -> Error {
    for m in msgs {
        if let Err(e) = receiver.feed(m) {
            return e;
        }
    }
    panic!("accepted: {receiver:?}");
}

#[test]
fn a_split_finished_that_declares_too_much_is_decode_error_at_once() {
    for splitter in [Role::Client, Role::Server] {
        let (mut client, mut server, finished) =
            until_finished(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, splitter);
        let (sender, receiver) = sides(splitter, &mut client, &mut server);
        let (mut enc, _) = reseal(sender, &finished);
        // A Finished header declaring 2^24 - 1 bytes: refused on the
        // header, without waiting for (or buffering) any body.
        let header = [20, 0xff, 0xff, 0xff];
        let err = fails_with(receiver, split(&mut enc, &header, &[]));
        assert_eq!(err.alert(), AlertDescription::DECODE_ERROR, "{splitter:?}");
        assert!(err.reason().contains("declares"), "{}", err.reason());
        // The fatal alert goes out: sealed by the client, whose write keys
        // are on; in plaintext by the server, which has not sent its
        // ChangeCipherSpec yet.
        let out = outgoing(receiver);
        match splitter {
            Role::Server => assert!(
                matches!(&out[..], [Message::Protected(r)] if r.typ == ContentType::ALERT),
                "{out:?}"
            ),
            Role::Client => assert_eq!(
                out,
                vec![Message::Alert(Alert::fatal(AlertDescription::DECODE_ERROR))]
            ),
        }
    }
}

#[test]
fn another_type_where_finished_belongs_is_unexpected_on_its_first_byte() {
    for (splitter, typ) in [
        (Role::Client, HandshakeType::CLIENT_HELLO),
        (Role::Client, HandshakeType::CLIENT_KEY_EXCHANGE),
        (Role::Server, HandshakeType::HELLO_REQUEST),
        (Role::Server, HandshakeType::SERVER_HELLO),
    ] {
        let (mut client, mut server, finished) =
            until_finished(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, splitter);
        let (sender, receiver) = sides(splitter, &mut client, &mut server);
        let (mut enc, _) = reseal(sender, &finished);
        // Only the type byte: enough to refuse it.
        let err = fails_with(receiver, split(&mut enc, &[typ.0], &[]));
        assert_eq!(
            err.alert(),
            AlertDescription::UNEXPECTED_MESSAGE,
            "{splitter:?} {typ}"
        );
    }
}

#[test]
fn records_interleaved_in_a_split_finished_are_unexpected() {
    for splitter in [Role::Client, Role::Server] {
        for other in 0..4 {
            let (mut client, mut server, finished) =
                until_finished(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, splitter);
            let (sender, receiver) = sides(splitter, &mut client, &mut server);
            let (mut enc, plain) = reseal(sender, &finished);
            let mut msgs = split(&mut enc, &plain[..1], &[]);
            msgs.push(match other {
                0 => protected(
                    ContentType::ALERT,
                    enc.encrypt(
                        ContentType::ALERT,
                        &[1, AlertDescription::NO_RENEGOTIATION.0],
                    )
                    .unwrap(),
                ),
                1 => protected(
                    ContentType::APPLICATION_DATA,
                    enc.encrypt(ContentType::APPLICATION_DATA, b"x").unwrap(),
                ),
                2 => Message::ChangeCipherSpec,
                _ => Message::Alert(warning(AlertDescription::NO_RENEGOTIATION)),
            });
            msgs.extend(split(&mut enc, &plain[1..], &[]));
            let err = fails_with(receiver, msgs);
            assert_eq!(
                err.alert(),
                AlertDescription::UNEXPECTED_MESSAGE,
                "{splitter:?} {other}"
            );
            assert!(
                err.reason().contains("middle"),
                "{splitter:?} {other}: {}",
                err.reason()
            );
        }
    }
}

#[test]
fn an_empty_protected_handshake_record_is_decode_error() {
    let (mut client, mut server, finished) = until_finished(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Role::Client,
    );
    let (mut enc, _) = reseal(&client, &finished);
    let _ = &mut client;
    let err = fails_with(&mut server, split(&mut enc, &[], &[]));
    assert_eq!(err.alert(), AlertDescription::DECODE_ERROR);
}

/// A complete session and the sealers of both sides' later records.
fn established() -> (Connection, Connection, RecordEncrypter, RecordEncrypter) {
    let (mut client, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    while carry(&mut client, &mut server) + carry(&mut server, &mut client) > 0 {}
    assert!(client.is_handshake_complete() && server.is_handshake_complete());
    let secrets = client.secrets().unwrap();
    let (mut client_enc, _) = secrets.record_layer(Role::Client).unwrap();
    let (mut server_enc, _) = secrets.record_layer(Role::Server).unwrap();
    // Past each side's Finished (record 0).
    client_enc.encrypt(ContentType::HANDSHAKE, b"").unwrap();
    server_enc.encrypt(ContentType::HANDSHAKE, b"").unwrap();
    events(&mut client);
    events(&mut server);
    (client, server, client_enc, server_enc)
}

/// Whether `c` sent exactly one protected alert (a no_renegotiation
/// warning, checked by the peer's tests; here its count).
fn sealed_alerts(c: &mut Connection) -> usize {
    outgoing(c)
        .iter()
        .filter(|m| matches!(m, Message::Protected(r) if r.typ == ContentType::ALERT))
        .count()
}

#[test]
fn split_renegotiation_requests_are_declined_after_the_handshake() {
    let (mut client, mut server, mut client_enc, mut server_enc) = established();
    // A HelloRequest in two records, then two in one record: one
    // no_renegotiation each.
    for m in split(&mut server_enc, &[0, 0, 0, 0], &[1]) {
        client.feed(m).expect("declined, not fatal");
    }
    assert_eq!(sealed_alerts(&mut client), 1);
    for m in split(&mut server_enc, &[0, 0, 0, 0, 0, 0, 0, 0], &[]) {
        client.feed(m).expect("declined, not fatal");
    }
    assert_eq!(sealed_alerts(&mut client), 2);

    // A renegotiating ClientHello in three records, its body never read.
    let mut hello = vec![1, 0, 0, 40];
    hello.extend([0xee; 40]);
    for m in split(&mut client_enc, &hello, &[1, 30]) {
        server.feed(m).expect("declined, not fatal");
    }
    assert_eq!(sealed_alerts(&mut server), 1);
    // The session goes on.
    let data = client_enc
        .encrypt(ContentType::APPLICATION_DATA, b"still here")
        .unwrap();
    server
        .feed(protected(ContentType::APPLICATION_DATA, data))
        .unwrap();
    assert!(events(&mut server).contains(&Event::ApplicationData(b"still here".to_vec())));
}

#[test]
fn after_the_handshake_other_handshake_messages_are_refused_by_type() {
    // The client: a HelloRequest with a body is malformed; any other type
    // is unexpected on its first byte.
    let (mut client, _, _, mut server_enc) = established();
    let err = fails_with(&mut client, split(&mut server_enc, &[0, 0, 0, 1], &[]));
    assert_eq!(err.alert(), AlertDescription::DECODE_ERROR);
    let (mut client, _, _, mut server_enc) = established();
    let err = fails_with(&mut client, split(&mut server_enc, &[20], &[]));
    assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
    // The server: a Finished after the handshake.
    let (_, mut server, mut client_enc, _) = established();
    let err = fails_with(&mut server, split(&mut client_enc, &[20], &[]));
    assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
    // Application data inside a split renegotiation request.
    let (_, mut server, mut client_enc, _) = established();
    let mut msgs = split(&mut client_enc, &[1, 0], &[]);
    msgs.push(protected(
        ContentType::APPLICATION_DATA,
        client_enc
            .encrypt(ContentType::APPLICATION_DATA, b"x")
            .unwrap(),
    ));
    let err = fails_with(&mut server, msgs);
    assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
}

#[test]
fn a_finished_followed_by_a_hello_request_in_the_same_record() {
    let (mut client, mut server, finished) = until_finished(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Role::Server,
    );
    let (mut enc, mut plain) = reseal(&server, &finished);
    plain.extend([0, 0, 0, 0]);
    let _ = &mut server;
    for m in split(&mut enc, &plain, &[]) {
        client.feed(m).expect("accepted");
    }
    assert!(client.is_handshake_complete());
    assert_eq!(
        sealed_alerts(&mut client),
        1,
        "the HelloRequest is declined"
    );
}

#[test]
fn warning_alerts_are_capped_during_the_handshake() {
    use handshake::MAX_WARNING_ALERTS;
    for role in [Role::Client, Role::Server] {
        let (mut client, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
        carry(&mut client, &mut server);
        outgoing(&mut server); // its flight, not delivered
        let receiver = match role {
            Role::Client => &mut client,
            Role::Server => &mut server,
        };
        events(receiver);
        let w = || Message::Alert(warning(AlertDescription::NO_RENEGOTIATION));
        for i in 0..MAX_WARNING_ALERTS {
            receiver
                .feed(w())
                .unwrap_or_else(|e| panic!("{role:?} warning {i}: {e}"));
        }
        assert_eq!(
            events(receiver)
                .iter()
                .filter(|e| matches!(e, Event::Warning(_)))
                .count(),
            MAX_WARNING_ALERTS
        );
        let err = receiver.feed(w()).unwrap_err();
        assert_eq!(
            err.alert(),
            AlertDescription::UNEXPECTED_MESSAGE,
            "{role:?}"
        );
        assert!(err.reason().contains("warning alerts"), "{}", err.reason());
        // A fatal alert goes out and the failure is reported.
        assert_eq!(
            outgoing(receiver),
            vec![Message::Alert(Alert::fatal(
                AlertDescription::UNEXPECTED_MESSAGE
            ))]
        );
        let expected_step = match role {
            Role::Client => Step::ServerHello,
            Role::Server => Step::ClientKeyExchange,
        };
        assert!(
            events(receiver).iter().any(|e| matches!(
                e,
                Event::Failed { step, .. } if *step == expected_step
            )),
            "{role:?}"
        );
    }
}

#[test]
fn warning_alerts_in_a_row_are_capped_after_the_handshake() {
    use handshake::MAX_WARNING_ALERTS;
    let (_, mut server, mut client_enc, _) = established();
    let sealed_warning = |enc: &mut RecordEncrypter| {
        protected(
            ContentType::ALERT,
            enc.encrypt(
                ContentType::ALERT,
                &[1, AlertDescription::NO_RENEGOTIATION.0],
            )
            .unwrap(),
        )
    };
    // Application data between warnings starts the count again.
    for round in 0..3 {
        for i in 0..MAX_WARNING_ALERTS {
            server
                .feed(sealed_warning(&mut client_enc))
                .unwrap_or_else(|e| panic!("round {round} warning {i}: {e}"));
        }
        let data = client_enc
            .encrypt(ContentType::APPLICATION_DATA, b"data")
            .unwrap();
        server
            .feed(protected(ContentType::APPLICATION_DATA, data))
            .unwrap();
    }
    for _ in 0..MAX_WARNING_ALERTS {
        server.feed(sealed_warning(&mut client_enc)).unwrap();
    }
    let err = server.feed(sealed_warning(&mut client_enc)).unwrap_err();
    assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
    assert!(err.reason().contains("in a row"), "{}", err.reason());
}

#[test]
fn a_second_change_cipher_spec_is_unexpected_in_both_roles() {
    for splitter in [Role::Client, Role::Server] {
        let (mut client, mut server, _) =
            until_finished(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, splitter);
        let receiver = match splitter {
            Role::Client => &mut server,
            Role::Server => &mut client,
        };
        let err = receiver.feed(Message::ChangeCipherSpec).unwrap_err();
        assert_eq!(
            err.alert(),
            AlertDescription::UNEXPECTED_MESSAGE,
            "{splitter:?}"
        );
    }
}

#[test]
fn a_change_cipher_spec_that_is_not_the_byte_1_is_unexpected() {
    for body in [&[][..], &[0], &[2], &[1, 1], &[1, 0]] {
        let err = Message::read(ContentType::CHANGE_CIPHER_SPEC, body, false).unwrap_err();
        assert_eq!(
            err.alert(),
            AlertDescription::UNEXPECTED_MESSAGE,
            "{body:?}"
        );
    }
    assert_eq!(
        Message::read(ContentType::CHANGE_CIPHER_SPEC, &[1], true).unwrap(),
        Message::ChangeCipherSpec
    );
}

/// `bytes` with its handshake type byte set to `typ`, through the deframer
/// as one plaintext record (as the TCP transports receive it).
fn relabelled(bytes: &[u8], typ: HandshakeType) -> Message {
    let mut body = bytes.to_vec();
    body[0] = typ.0;
    let mut record = vec![22, 3, 3];
    record.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&body);
    let mut d = handshake::Deframer::new();
    d.push(&record);
    d.pop().expect("well framed").expect("whole")
}

#[test]
fn a_handshake_message_in_the_wrong_place_is_unexpected_whatever_its_body() {
    // Types the engine knows, so a body of another message is malformed
    // for them: the type must be refused before the body is read.
    let wrong = [
        HandshakeType::CLIENT_HELLO,
        HandshakeType::SERVER_HELLO,
        HandshakeType::CERTIFICATE,
        HandshakeType::SERVER_KEY_EXCHANGE,
        HandshakeType::SERVER_HELLO_DONE,
        HandshakeType::CLIENT_KEY_EXCHANGE,
        HandshakeType::FINISHED,
        HandshakeType::HELLO_REQUEST,
        HandshakeType(13), // CertificateRequest
        HandshakeType(99),
    ];
    // The server at step 1, given the client's ClientHello relabelled.
    let (mut client, _) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    let hello = outgoing(&mut client).remove(0).fragment().unwrap();
    for typ in wrong {
        if typ == HandshakeType::CLIENT_HELLO {
            continue;
        }
        let (_, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
        let err = server.feed(relabelled(&hello, typ)).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{typ}");
        assert!(err.reason().contains("step 1"), "{typ}: {}", err.reason());
        assert!(
            events(&mut server).iter().any(|e| matches!(
                e,
                Event::Failed {
                    step: Step::ClientHello,
                    ..
                }
            )),
            "{typ}"
        );
    }
    // The control: the right type with a malformed body is decode_error.
    let (_, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    let mut truncated = hello.clone();
    truncated.truncate(40);
    truncated[3] = 36;
    let err = server
        .feed(relabelled(&truncated, HandshakeType::CLIENT_HELLO))
        .unwrap_err();
    assert_eq!(err.alert(), AlertDescription::DECODE_ERROR);

    // The client at step 2, given the server's ServerHello relabelled.
    for typ in wrong {
        if typ == HandshakeType::SERVER_HELLO {
            continue;
        }
        let (mut client, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
        carry(&mut client, &mut server);
        let server_hello = outgoing(&mut server).remove(0).fragment().unwrap();
        let err = client.feed(relabelled(&server_hello, typ)).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{typ}");
    }
    // And at step 3, a ServerKeyExchange where the Certificate belongs.
    let (mut client, mut server) = pair(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    carry(&mut client, &mut server);
    let flight = outgoing(&mut server);
    client.feed(flight[0].clone()).unwrap();
    let certificate = flight[1].fragment().unwrap();
    let err = client
        .feed(relabelled(&certificate, HandshakeType::SERVER_KEY_EXCHANGE))
        .unwrap_err();
    assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
    // And after the handshake, a plaintext handshake message of any type.
    let (mut client, mut server, _, _) = established();
    for (conn, typ) in [
        (&mut client, HandshakeType::HELLO_REQUEST),
        (&mut server, HandshakeType::CLIENT_HELLO),
    ] {
        let err = conn.feed(relabelled(&hello, typ)).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{typ}");
    }
}
