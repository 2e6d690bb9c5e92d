//! ClientHellos a hostile or unusual client sends, at the engine: large
//! ones (up to the 131,396 bytes RFC 5246 allows, as OpenSSL accepts),
//! thousands of extensions or suites, short reasons whatever the offer,
//! ECDSA signatures with any offered SHA-2 hash, and RFC 8422's alert for
//! a client that cannot take uncompressed points.
//!
//! Sizes and counts are asserted, never times: the benchmark group
//! `client_hello` (benches/handshake.rs) shows the cost is linear.

mod common;

use common::Feed;

use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey};
use common::pair::{Pair, certified, client_config, failure, server_config, step_events};
use common::pki::{Leaf, pki};
use handshake::SeededRng;
use handshake::msgs::enums::{ExtensionType, HandshakeType};
use handshake::msgs::handshake::{
    EcdheParams, MAX_CLIENT_HELLO_LEN, MAX_HANDSHAKE_LEN, ServerKeyExchange,
};
use handshake::quote::MAX_REASON;
use handshake::{
    AlertDescription, CipherSuite, ClientConfig, Connection, Error, Event, Message, ServerConfig,
    SignatureScheme, Step, StepDetail,
};
use handshake::{Deframer, encode_records};

// ---------------------------------------------------------------------------
// Raw ClientHellos
// ---------------------------------------------------------------------------

/// supported_groups x25519, secp256r1; ec_point_formats uncompressed;
/// signature_algorithms rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256.
fn tls12_extensions() -> Vec<(u16, Vec<u8>)> {
    vec![
        (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]),
        (0x000b, vec![1, 0]),
        (0x000d, vec![0, 4, 0x08, 0x04, 0x04, 0x03]),
    ]
}

/// `n` empty extensions of types no engine knows, all different.
fn unknown_extensions(n: usize) -> Vec<(u16, Vec<u8>)> {
    (0..n)
        .map(|i| (0x1000 + u16::try_from(i).unwrap(), Vec::new()))
        .inspect(|(t, _)| assert!(ExtensionType(*t).name().is_none(), "{t:#x} is known"))
        .collect()
}

/// A ClientHello handshake message (header included): `session_id`,
/// `suites`, compression `methods`, then `extensions`.
fn hello_with(
    session_id: &[u8],
    suites: &[u16],
    methods: &[u8],
    extensions: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(u8::try_from(session_id.len()).unwrap());
    body.extend_from_slice(session_id);
    body.extend_from_slice(&u16::try_from(2 * suites.len()).unwrap().to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.push(u8::try_from(methods.len()).unwrap());
    body.extend_from_slice(methods);
    let mut ext = Vec::new();
    for (typ, data) in extensions {
        ext.extend_from_slice(&typ.to_be_bytes());
        ext.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        ext.extend_from_slice(data);
    }
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

fn hello(suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    hello_with(&[], suites, &[0], extensions)
}

/// `handshake` bytes as plaintext records of at most 2^14 bytes.
fn records(handshake: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in handshake.chunks(1 << 14) {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// What a fresh server does with `handshake` (bytes, as over TCP): the
/// messages it sends back, its events, and its error if it failed.
fn serve_bytes(
    config: ServerConfig,
    handshake: &[u8],
) -> (Vec<Message>, Vec<Event>, Option<Error>) {
    let mut server =
        Connection::server(Arc::new(config), Box::new(SeededRng::new(7))).expect("server");
    let mut deframer = Deframer::new();
    deframer.push(&records(handshake));
    let mut error = None;
    loop {
        match deframer.pop() {
            Ok(Some(m)) => {
                if let Err(e) = server.feed(m) {
                    error = Some(e);
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                server.abort(e.clone());
                error = Some(e);
                break;
            }
        }
    }
    let sent = std::iter::from_fn(|| server.poll_transmit()).collect();
    let events = std::iter::from_fn(|| server.poll_event()).collect();
    (sent, events, error)
}

fn handshake_types(sent: &[Message]) -> Vec<HandshakeType> {
    sent.iter()
        .filter_map(|m| match m {
            Message::Handshake(h) => Some(h.typ()),
            _ => None,
        })
        .collect()
}

const SERVER_FLIGHT: [HandshakeType; 4] = [
    HandshakeType::SERVER_HELLO,
    HandshakeType::CERTIFICATE,
    HandshakeType::SERVER_KEY_EXCHANGE,
    HandshakeType::SERVER_HELLO_DONE,
];

const ECDHE_RSA_AES128: u16 = 0xc02f;

// ---------------------------------------------------------------------------
// Large hellos (conformance b)
// ---------------------------------------------------------------------------

#[test]
fn a_client_hello_of_16373_extensions_over_64_kib_is_answered() {
    // As many as fit in extensions<0..2^16-1> with the three of TLS 1.2.
    let mut exts = tls12_extensions();
    exts.extend(unknown_extensions(16_370));
    let hs = hello(&[ECDHE_RSA_AES128], &exts);
    assert!(hs.len() > MAX_HANDSHAKE_LEN, "{} bytes", hs.len());

    let (sent, events, error) = serve_bytes(server_config(), &hs);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(handshake_types(&sent), SERVER_FLIGHT);
    // Step 1 reports every extension, each summary short.
    let hello = step_events(&events)
        .find_map(|s| match &s.detail {
            StepDetail::ClientHello(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a ClientHello event");
    assert_eq!(hello.extensions.len(), 16_373);
    assert_eq!(hello.message, hs, "the transcript hashes the hello as sent");
    assert!(hello.extensions.iter().all(|e| e.summary.len() < 64));
}

#[test]
fn a_client_hello_of_the_largest_size_rfc_5246_allows_is_answered() {
    // Every vector at its maximum: 32 bytes of session_id, 32,767 suites,
    // 255 compression methods, 65,535 bytes of extensions (the three of
    // TLS 1.2 and padding, RFC 7685).
    let mut suites = vec![0x0a0a; 32_766];
    suites.push(ECDHE_RSA_AES128);
    let methods: Vec<u8> = (0..=254).rev().collect();
    let mut exts = tls12_extensions();
    let used: usize = exts.iter().map(|(_, d)| 4 + d.len()).sum();
    exts.push((0x0015, vec![0; 0xffff - used - 4]));
    let hs = hello_with(&[7; 32], &suites, &methods, &exts);
    assert_eq!(hs.len(), 4 + MAX_CLIENT_HELLO_LEN);
    assert_eq!(
        MAX_CLIENT_HELLO_LEN, 131_396,
        "OpenSSL's CLIENT_HELLO_MAX_LENGTH"
    );

    let (sent, _, error) = serve_bytes(server_config(), &hs);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(handshake_types(&sent), SERVER_FLIGHT);
}

#[test]
fn a_handshake_message_over_its_types_limit_is_decode_error() {
    // A ClientHello declaring one byte more than the largest allowed: refused
    // on its header, before its body is buffered.
    let len = MAX_CLIENT_HELLO_LEN + 1;
    let header = [1, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    let (sent, _, error) = serve_bytes(server_config(), &header);
    let error = error.expect("refused");
    assert_eq!(error.alert(), AlertDescription::DECODE_ERROR);
    assert!(error.reason().contains("131396"), "{}", error.reason());
    assert!(
        matches!(sent.last(), Some(Message::Alert(a)) if a.description == AlertDescription::DECODE_ERROR),
        "{sent:?}"
    );

    // Every other type keeps the 64 KiB limit: a ClientKeyExchange, say.
    let len = MAX_HANDSHAKE_LEN + 1;
    let header = [16, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    let mut d = Deframer::new();
    d.push(&records(&header));
    let err = d.pop().unwrap_err();
    assert_eq!(err.alert(), AlertDescription::DECODE_ERROR);
    assert!(err.reason().contains("65536"), "{}", err.reason());
}

/// Sends what `from` has queued to `to` as records, read back by `deframer`.
/// Returns whether anything moved, or the first error.
fn flush(
    from: &mut Connection,
    to: &mut Connection,
    deframer: &mut Deframer,
) -> Result<bool, Error> {
    let mut bytes = Vec::new();
    while let Some(m) = from.poll_transmit() {
        encode_records(&m, &mut bytes).expect("encode");
    }
    deframer.push(&bytes);
    while let Some(m) = deframer.pop()? {
        to.feed(m)?;
    }
    Ok(!bytes.is_empty())
}

/// Client and server over bytes: every message encoded into records and
/// read back by a deframer, as over TCP.
fn drive_bytes(client: &mut Connection, server: &mut Connection) -> Option<Error> {
    let mut to_server = Deframer::new();
    let mut to_client = Deframer::new();
    loop {
        let moved = flush(client, server, &mut to_server)
            .and_then(|a| Ok(a | flush(server, client, &mut to_client)?));
        match moved {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(e),
        }
    }
}

fn connect(client: ClientConfig, server: ServerConfig) -> (Connection, Connection) {
    let pair = Pair::new(client, server);
    (pair.client, pair.server)
}

#[test]
fn a_client_offering_32000_suites_and_signature_schemes_completes_over_bytes() {
    // The engine's own client, with very long (repeating) lists: a hello
    // of about 128 KiB in nine records.
    let mut config = client_config();
    let mut suites = vec![CipherSuite(0x0a0a); 32_000];
    suites.push(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    config.cipher_suites = suites;
    config.signature_schemes = vec![SignatureScheme::ECDSA_NISTP256_SHA256; 32_000];
    let (mut client, mut server) = connect(config, server_config());
    let error = drive_bytes(&mut client, &mut server);
    assert!(error.is_none(), "{error:?}");
    assert!(client.is_handshake_complete() && server.is_handshake_complete());
    let hello_len = std::iter::from_fn(|| server.poll_event())
        .find_map(|e| match e {
            Event::Step(s) => match s.detail {
                StepDetail::ClientHello(h) => Some(h.message.len()),
                _ => None,
            },
            _ => None,
        })
        .expect("a ClientHello event");
    assert!(hello_len > 120_000, "{hello_len} bytes");
}

// ---------------------------------------------------------------------------
// Reasons stay short (defect 2)
// ---------------------------------------------------------------------------

#[test]
fn the_reason_for_32748_unknown_suites_is_short_and_complete() {
    let suites: Vec<u16> = (0..32_748u16).map(|i| 0x1000 + i).collect();
    let config = server_config();
    let first_enabled = format!("this server enables {:?}", config.cipher_suites[0]);
    let (_, _, error) = serve_bytes(config, &hello(&suites, &tls12_extensions()));
    let error = error.expect("refused");
    assert_eq!(error.alert(), AlertDescription::HANDSHAKE_FAILURE);
    let reason = error.reason();
    assert!(reason.len() <= MAX_REASON, "{} bytes", reason.len());
    // It says how many, quotes a few, and still names what the server
    // enables (a reason cut at 768 bytes of the offer would not).
    assert!(reason.contains("32748 suites"), "{reason}");
    assert!(reason.contains("and 32732 more"), "{reason}");
    assert!(reason.contains(&first_enabled), "{reason}");
}

#[test]
fn a_repeated_extension_is_found_among_16000() {
    let mut exts = tls12_extensions();
    exts.extend(unknown_extensions(16_000));
    exts.push((0x1000, vec![]));
    let (_, _, error) = serve_bytes(server_config(), &hello(&[ECDHE_RSA_AES128], &exts));
    let error = error.expect("refused");
    assert_eq!(error.alert(), AlertDescription::ILLEGAL_PARAMETER);
    assert!(error.reason().contains("repeats"), "{}", error.reason());
}

#[test]
fn a_server_name_summary_is_bounded() {
    // server_name with one 60,000-byte name, and one with 5,000 names.
    let mut long = vec![0, 0];
    long.push(0);
    long.extend_from_slice(&60_000u16.to_be_bytes());
    long.extend(std::iter::repeat_n(b'a', 60_000));
    let n = u16::try_from(long.len() - 2).unwrap();
    long[..2].copy_from_slice(&n.to_be_bytes());
    let mut many = vec![0, 0];
    for i in 0..5_000u32 {
        let name = format!("h{i}");
        many.push(0);
        many.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        many.extend_from_slice(name.as_bytes());
    }
    let n = u16::try_from(many.len() - 2).unwrap();
    many[..2].copy_from_slice(&n.to_be_bytes());
    for data in [long, many] {
        let mut exts = tls12_extensions();
        exts.push((0x0000, data));
        let (sent, events, error) =
            serve_bytes(server_config(), &hello(&[ECDHE_RSA_AES128], &exts));
        assert!(error.is_none(), "{error:?}");
        assert_eq!(handshake_types(&sent), SERVER_FLIGHT);
        let summary = step_events(&events)
            .find_map(|s| match &s.detail {
                StepDetail::ClientHello(h) => h
                    .extensions
                    .iter()
                    .find(|e| e.typ == ExtensionType::SERVER_NAME)
                    .map(|e| e.summary.clone()),
                _ => None,
            })
            .expect("server_name reported");
        assert!(summary.len() < 1024, "{} bytes", summary.len());
        assert!(summary.contains("more"), "{summary}");
    }
}

// ---------------------------------------------------------------------------
// ECDSA with any offered hash (conformance c)
// ---------------------------------------------------------------------------

/// A server with only `leaf` (ECDSA) and a client offering only `schemes`.
fn ecdsa_pair(leaf: &Leaf, schemes: &[SignatureScheme]) -> Pair {
    let server = ServerConfig::new(vec![certified(leaf)]).expect("server config");
    let mut client = client_config();
    client.cipher_suites = vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    client.groups = vec![
        handshake::NamedGroup::X25519,
        handshake::NamedGroup::SECP256R1,
        handshake::NamedGroup::SECP384R1,
    ];
    client.signature_schemes = schemes.to_vec();
    Pair::new(client, server)
}

/// aws-lc-rs's verifier for `scheme` on the leaf's curve, independent of
/// the engine's.
fn verifier(p256: bool, scheme: SignatureScheme) -> &'static sig::EcdsaVerificationAlgorithm {
    match (p256, scheme) {
        (true, SignatureScheme::ECDSA_NISTP256_SHA256) => &sig::ECDSA_P256_SHA256_ASN1,
        (true, SignatureScheme::ECDSA_NISTP384_SHA384) => &sig::ECDSA_P256_SHA384_ASN1,
        (true, SignatureScheme::ECDSA_NISTP521_SHA512) => &sig::ECDSA_P256_SHA512_ASN1,
        (false, SignatureScheme::ECDSA_NISTP256_SHA256) => &sig::ECDSA_P384_SHA256_ASN1,
        (false, SignatureScheme::ECDSA_NISTP384_SHA384) => &sig::ECDSA_P384_SHA384_ASN1,
        (false, SignatureScheme::ECDSA_NISTP521_SHA512) => &sig::ECDSA_P384_SHA512_ASN1,
        other => panic!("no verifier for {other:?}"),
    }
}

#[test]
fn an_ecdsa_key_signs_with_any_offered_sha2_hash() {
    let p = pki();
    for (leaf, p256) in [(&p.ecdsa_p256, true), (&p.ecdsa_p384, false)] {
        for scheme in [
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ECDSA_NISTP521_SHA512,
        ] {
            let case = format!("P-{} with {scheme}", if p256 { 256 } else { 384 });
            let mut pair = ecdsa_pair(leaf, &[scheme]);
            let out = pair.drive();
            assert!(
                out.client.is_none() && out.server.is_none(),
                "{case}: {out:?}"
            );
            assert!(pair.client.is_handshake_complete(), "{case}");

            // The ServerKeyExchange names the offered scheme, and aws-lc-rs's
            // own verifier for that curve and hash accepts its signature.
            let mut client_random = None;
            let mut server_random = None;
            let mut kx = None;
            for s in step_events(&pair.server_events) {
                match &s.detail {
                    StepDetail::ClientHello(h) => client_random = Some(h.random),
                    StepDetail::ServerHello { hello, .. } => server_random = Some(hello.random),
                    StepDetail::ServerHelloDone { key_exchange, .. } => kx = key_exchange.clone(),
                    _ => {}
                }
            }
            let kx = kx.expect("a ServerKeyExchange");
            assert_eq!(kx.scheme, scheme, "{case}");
            let signed = ServerKeyExchange::signed_message(
                &client_random.unwrap(),
                &server_random.unwrap(),
                &EcdheParams {
                    group: kx.group,
                    public: kx.public.clone(),
                },
            )
            .unwrap();
            let public = certified(leaf).key.public_key().to_vec();
            UnparsedPublicKey::new(verifier(p256, scheme), &public)
                .verify(&signed, &kx.signature)
                .unwrap_or_else(|_| panic!("{case}: the signature verifies"));
            // And one bit off does not (the check can fail).
            let mut bad = kx.signature.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(
                UnparsedPublicKey::new(verifier(p256, scheme), &public)
                    .verify(&signed, &bad)
                    .is_err(),
                "{case}"
            );
        }
    }
}

#[test]
fn an_ecdsa_key_prefers_its_curves_own_hash() {
    let p = pki();
    let all = [
        SignatureScheme::ECDSA_NISTP521_SHA512,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP256_SHA256,
    ];
    for (leaf, own) in [
        (&p.ecdsa_p256, SignatureScheme::ECDSA_NISTP256_SHA256),
        (&p.ecdsa_p384, SignatureScheme::ECDSA_NISTP384_SHA384),
    ] {
        let mut pair = ecdsa_pair(leaf, &all);
        let out = pair.drive();
        assert!(out.server.is_none(), "{out:?}");
        let scheme = step_events(&pair.server_events).find_map(|s| match &s.detail {
            StepDetail::ServerHelloDone {
                key_exchange: Some(kx),
                ..
            } => Some(kx.scheme),
            _ => None,
        });
        assert_eq!(scheme, Some(own));
    }
}

#[test]
fn an_ecdsa_key_refuses_sha1_and_sha224() {
    // RFC 9155: no SHA-1 signatures in TLS 1.2; SHA-224 is not signed here
    // (see ServerKey::choose_scheme).
    let ecdsa_sha224 = SignatureScheme(0x0303);
    for (schemes, alert) in [
        (
            vec![SignatureScheme::ECDSA_SHA1],
            AlertDescription::INSUFFICIENT_SECURITY,
        ),
        (vec![ecdsa_sha224], AlertDescription::HANDSHAKE_FAILURE),
        (
            vec![SignatureScheme::ECDSA_SHA1, ecdsa_sha224],
            AlertDescription::HANDSHAKE_FAILURE,
        ),
    ] {
        let mut pair = ecdsa_pair(&pki().ecdsa_p256, &schemes);
        let out = pair.drive();
        let err = out.server.expect("refused");
        assert_eq!(err.alert(), alert, "{schemes:?}: {}", err.reason());
        let (step, _) = failure(&pair.server_events).expect("a failure event");
        assert_eq!(step, Step::ServerHello);
    }
}

// ---------------------------------------------------------------------------
// ec_point_formats without uncompressed (conformance f)
// ---------------------------------------------------------------------------

#[test]
fn ec_point_formats_without_uncompressed_is_illegal_parameter() {
    // RFC 8422 5.1.2: with supported_groups naming its curves, the server
    // aborts with illegal_parameter, whatever suites are offered.
    for suites in [&[ECDHE_RSA_AES128][..], &[0x009c, ECDHE_RSA_AES128]] {
        let exts = vec![
            (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]),
            (0x000b, vec![1, 1]),
            (0x000d, vec![0, 4, 0x08, 0x04, 0x04, 0x03]),
        ];
        let (sent, _, error) = serve_bytes(server_config(), &hello(suites, &exts));
        let error = error.expect("refused");
        assert_eq!(
            error.alert(),
            AlertDescription::ILLEGAL_PARAMETER,
            "{}",
            error.reason()
        );
        assert!(
            error.reason().contains("uncompressed"),
            "{}",
            error.reason()
        );
        assert!(matches!(sent.as_slice(), [Message::Alert(_)]), "{sent:?}");
    }
    // Without supported_groups it only rules out ECDHE: an RSA suite is
    // still chosen.
    let exts = vec![(0x000b, vec![1, 1]), (0x000d, vec![0, 2, 0x08, 0x04])];
    let (sent, _, error) = serve_bytes(server_config(), &hello(&[0x009c, ECDHE_RSA_AES128], &exts));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        handshake_types(&sent),
        [
            HandshakeType::SERVER_HELLO,
            HandshakeType::CERTIFICATE,
            HandshakeType::SERVER_HELLO_DONE
        ]
    );
}
