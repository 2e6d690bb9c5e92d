//! The wire codec against RFC 5246 (and RFC 4492/8422, 5746, 6066, 7627):
//! exact encodings written out by hand from the RFC structures, round trips
//! of every message and extension, the decoding bounds, and a round trip of
//! every message the real engine sends in full sessions.

mod common;

use std::fmt::Debug;

use common::pair::{Pair, client_config, server_config};
use handshake::ALL_SUITES;
use handshake::msgs::codec::{Codec, Reader};
use handshake::msgs::enums::{
    AlertDescription, AlertLevel, CipherSuite, ContentType, EcPointFormat, ExtensionType,
    HandshakeType, NamedGroup, ProtocolVersion, SignatureScheme,
};
use handshake::msgs::extensions::{ClientExtension, ServerExtension, ServerNameEntry};
use handshake::msgs::handshake::{
    Certificate, ClientHello, ClientKeyExchange, EcdheParams, Finished, HandshakeMessage,
    HandshakePayload, MAX_CLIENT_HELLO_LEN, MAX_HANDSHAKE_LEN, Random, ServerHello,
    ServerKeyExchange,
};
use handshake::msgs::message::{Alert, Message, ProtectedRecord};
use handshake::{Origin, Role};
use rustls_pki_types::CertificateDer;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Bytes from hex text; whitespace is ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {s:?}"
    );
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// The client random used in the known answers: 00 01 02 .. 1f.
fn random_a() -> Random {
    std::array::from_fn(|i| i as u8)
}

/// The server random used in the known answers: a0 a1 .. bf.
fn random_b() -> Random {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `value` encodes to exactly `wire`, `wire` decodes to exactly `value`, and
/// `read` stops at the end of the structure when more bytes follow.
fn assert_codec<T: Codec + PartialEq + Debug>(value: &T, wire: &[u8]) {
    assert_eq!(value.get_encoding().unwrap(), wire, "encoding of {value:?}");
    let decoded = T::read_bytes(wire).unwrap_or_else(|e| panic!("decoding {value:?}: {e}"));
    assert_eq!(&decoded, value);
    assert_eq!(
        decoded.get_encoding().unwrap(),
        wire,
        "re-encoding of {value:?}"
    );
}

/// Like `assert_codec`, for structures that have their own length (all but
/// the ones whose body runs to the end of the handshake message): `read`
/// stops at the end of the structure when more bytes follow.
fn assert_framed_codec<T: Codec + PartialEq + Debug>(value: &T, wire: &[u8]) {
    assert_codec(value, wire);
    let mut more = wire.to_vec();
    more.extend_from_slice(&[0xde, 0xad]);
    let mut r = Reader::new(&more);
    assert_eq!(&T::read(&mut r).unwrap(), value);
    assert_eq!(r.left(), 2, "read of {value:?} consumed the bytes after it");
    // read_bytes refuses the trailing bytes.
    assert_eq!(decode_err::<T>(&more), AlertDescription::DECODE_ERROR);
}

/// The alert a failed decode answers with (and that it is a local error).
fn decode_err<T: Codec + Debug>(wire: &[u8]) -> AlertDescription {
    match T::read_bytes(wire) {
        Ok(v) => panic!("{wire:02x?} decoded to {v:?}, expected an error"),
        Err(e) => {
            assert_eq!(e.origin(), Origin::Local);
            e.alert()
        }
    }
}

fn message_err(typ: ContentType, fragment: &[u8], protected: bool) -> AlertDescription {
    match Message::read(typ, fragment, protected) {
        Ok(m) => panic!("{typ:?} {fragment:02x?} (protected {protected}) read as {m:?}"),
        Err(e) => e.alert(),
    }
}

fn hs(payload: HandshakePayload) -> HandshakeMessage {
    HandshakeMessage::from(payload)
}

/// The handshake message `hs` as a whole: its encoding is `wire`, and read
/// as a plaintext handshake record it gives back `Message::Handshake`.
fn assert_handshake(msg: &HandshakeMessage, wire: &[u8]) {
    assert_framed_codec(msg, wire);
    assert_eq!(msg.typ(), HandshakeType(wire[0]));
    let m = Message::Handshake(msg.clone());
    assert_eq!(m.content_type(), ContentType::HANDSHAKE);
    assert_eq!(m.fragment().unwrap(), wire);
    assert_eq!(
        Message::read(ContentType::HANDSHAKE, wire, false).unwrap(),
        m
    );
}

fn minimal_client_hello(extensions: Option<Vec<ClientExtension>>) -> ClientHello {
    ClientHello {
        client_version: ProtocolVersion::TLSV1_2,
        random: random_a(),
        session_id: vec![],
        cipher_suites: vec![CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256],
        compression_methods: vec![0],
        extensions,
    }
}

// ---------------------------------------------------------------------------
// ClientHello
// ---------------------------------------------------------------------------

#[test]
fn client_hello_without_extensions_block() {
    // Handshake { client_hello(1), length 0x29 = 2 + 32 + 1 + (2+2) + (1+1) }
    // ClientHello { version 3.3, random, session_id<0>, cipher_suites<2>
    // = {0x009c}, compression_methods<1> = {null} } and nothing after it.
    let wire = cat(&[
        &hex("01 00 00 29 03 03"),
        &random_a(),
        &hex("00  00 02 00 9c  01 00"),
    ]);
    let ch = minimal_client_hello(None);
    assert_handshake(&hs(HandshakePayload::ClientHello(ch.clone())), &wire);
    assert_codec(&ch, &wire[4..]);
    assert!(ch.extensions().is_empty());
}

#[test]
fn client_hello_with_empty_extensions_block_is_not_the_same_as_none() {
    // The 2-byte zero-length block: 0x29 + 2 = 0x2b.
    let wire = cat(&[
        &hex("01 00 00 2b 03 03"),
        &random_a(),
        &hex("00  00 02 00 9c  01 00  00 00"),
    ]);
    let ch = minimal_client_hello(Some(vec![]));
    assert_handshake(&hs(HandshakePayload::ClientHello(ch.clone())), &wire);
    let decoded = ClientHello::read_bytes(&wire[4..]).unwrap();
    assert_eq!(decoded.extensions, Some(vec![]));
    assert_ne!(decoded, minimal_client_hello(None));
    assert!(decoded.extensions().is_empty());
}

#[test]
fn client_hello_with_extended_master_secret() {
    // 0x29 + 2 (block length) + 4 (00 17 00 00) = 0x2f.
    let wire = cat(&[
        &hex("01 00 00 2f 03 03"),
        &random_a(),
        &hex("00  00 02 00 9c  01 00  00 04 00 17 00 00"),
    ]);
    let ch = minimal_client_hello(Some(vec![ClientExtension::ExtendedMasterSecret]));
    assert_handshake(&hs(HandshakePayload::ClientHello(ch)), &wire);
}

/// Every ClientExtension variant with its encoding, by hand.
fn client_extension_answers() -> Vec<(ClientExtension, Vec<u8>)> {
    vec![
        (
            // server_name: ServerNameList<1..2^16-1> { host_name(0), HostName<1..> }
            ClientExtension::ServerName(vec![ServerNameEntry::host_name("localhost")]),
            hex("00 00  00 0e  00 0c  00  00 09 6c 6f 63 61 6c 68 6f 73 74"),
        ),
        (
            ClientExtension::ServerName(vec![
                ServerNameEntry::host_name("a"),
                ServerNameEntry {
                    name_type: 7,
                    name: vec![0xff, 0x00],
                },
            ]),
            hex("00 00  00 0b  00 09  00 00 01 61  07 00 02 ff 00"),
        ),
        (
            ClientExtension::SupportedGroups(vec![NamedGroup::X25519, NamedGroup::SECP256R1]),
            hex("00 0a 00 06 00 04 00 1d 00 17"),
        ),
        (
            // GREASE and unknown groups survive.
            ClientExtension::SupportedGroups(vec![NamedGroup(0x0a0a)]),
            hex("00 0a 00 04 00 02 0a 0a"),
        ),
        (
            ClientExtension::EcPointFormats(vec![EcPointFormat::UNCOMPRESSED]),
            hex("00 0b 00 02 01 00"),
        ),
        (
            ClientExtension::EcPointFormats(vec![
                EcPointFormat::UNCOMPRESSED,
                EcPointFormat::ANSIX962_COMPRESSED_PRIME,
                EcPointFormat::ANSIX962_COMPRESSED_CHAR2,
            ]),
            hex("00 0b 00 04 03 00 01 02"),
        ),
        (
            ClientExtension::SignatureAlgorithms(vec![
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::RSA_PSS_RSAE_SHA256,
            ]),
            hex("00 0d 00 06 00 04 04 03 08 04"),
        ),
        (ClientExtension::ExtendedMasterSecret, hex("00 17 00 00")),
        (
            ClientExtension::RenegotiationInfo(vec![]),
            hex("ff 01 00 01 00"),
        ),
        (
            ClientExtension::RenegotiationInfo(vec![0xaa, 0xbb]),
            hex("ff 01 00 03 02 aa bb"),
        ),
        (
            // supported_versions has a code point but no variant: kept opaque.
            ClientExtension::Unknown {
                typ: ExtensionType::SUPPORTED_VERSIONS,
                data: hex("02 03 03"),
            },
            hex("00 2b 00 03 02 03 03"),
        ),
        (
            ClientExtension::Unknown {
                typ: ExtensionType(0x0a0a),
                data: vec![],
            },
            hex("0a 0a 00 00"),
        ),
        (
            ClientExtension::Unknown {
                typ: ExtensionType(0x1234),
                data: hex("01 02 03"),
            },
            hex("12 34 00 03 01 02 03"),
        ),
    ]
}

#[test]
fn every_client_extension_encodes_as_the_rfc_says() {
    for (ext, wire) in client_extension_answers() {
        assert_framed_codec(&ext, &wire);
        assert_eq!(
            ext.typ(),
            ExtensionType(u16::from_be_bytes([wire[0], wire[1]]))
        );
    }
}

#[test]
fn client_hello_with_every_extension() {
    let exts: Vec<(ClientExtension, Vec<u8>)> = client_extension_answers();
    let ext_bytes: Vec<u8> = exts.iter().flat_map(|(_, w)| w.clone()).collect();
    let ch = ClientHello {
        client_version: ProtocolVersion::TLSV1_2,
        random: random_a(),
        session_id: hex("aa bb cc"),
        cipher_suites: vec![
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
        ],
        compression_methods: vec![1, 0],
        extensions: Some(exts.into_iter().map(|(e, _)| e).collect()),
    };
    let n = ext_bytes.len();
    let body = cat(&[
        &hex("03 03"),
        &random_a(),
        &hex("03 aa bb cc  00 06 c0 2f 00 9c 00 ff  02 01 00"),
        &[(n >> 8) as u8, n as u8],
        &ext_bytes,
    ]);
    assert_eq!(body.len(), 2 + 32 + 4 + 8 + 3 + 2 + n);
    let wire = cat(&[
        &[0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8],
        &body,
    ]);
    assert_codec(&ch, &body);
    assert_handshake(&hs(HandshakePayload::ClientHello(ch.clone())), &wire);
    assert_eq!(ch.extensions().len(), 13);
}

#[test]
fn client_hello_with_32_byte_session_id_and_many_suites() {
    let ch = ClientHello {
        client_version: ProtocolVersion(0x0302),
        random: random_b(),
        session_id: vec![0x5a; 32],
        cipher_suites: (0..300u16).map(CipherSuite).collect(),
        compression_methods: vec![0; 255],
        extensions: None,
    };
    let enc = ch.get_encoding().unwrap();
    assert_eq!(enc.len(), 2 + 32 + 33 + 2 + 600 + 1 + 255);
    assert_eq!(&enc[34..35], &[32]);
    assert_eq!(&enc[67..69], &[0x02, 0x58]);
    assert_codec(&ch, &enc);
}

// ---------------------------------------------------------------------------
// ServerHello
// ---------------------------------------------------------------------------

fn server_extension_answers() -> Vec<(ServerExtension, Vec<u8>)> {
    vec![
        (ServerExtension::ServerNameAck, hex("00 00 00 00")),
        (
            ServerExtension::EcPointFormats(vec![EcPointFormat::UNCOMPRESSED]),
            hex("00 0b 00 02 01 00"),
        ),
        (
            ServerExtension::EcPointFormats(vec![EcPointFormat(0), EcPointFormat(0xee)]),
            hex("00 0b 00 03 02 00 ee"),
        ),
        (ServerExtension::ExtendedMasterSecret, hex("00 17 00 00")),
        (
            ServerExtension::RenegotiationInfo(vec![]),
            hex("ff 01 00 01 00"),
        ),
        (
            ServerExtension::RenegotiationInfo(vec![0xaa, 0xbb]),
            hex("ff 01 00 03 02 aa bb"),
        ),
        (
            // application_layer_protocol_negotiation "h2": not known here.
            ServerExtension::Unknown {
                typ: ExtensionType(0x0010),
                data: hex("00 03 02 68 32"),
            },
            hex("00 10 00 05 00 03 02 68 32"),
        ),
        (
            // supported_groups is a client extension; in a ServerHello it is opaque.
            ServerExtension::Unknown {
                typ: ExtensionType::SUPPORTED_GROUPS,
                data: hex("00 02 00 17"),
            },
            hex("00 0a 00 04 00 02 00 17"),
        ),
        (
            ServerExtension::Unknown {
                typ: ExtensionType(0xfe0d),
                data: vec![],
            },
            hex("fe 0d 00 00"),
        ),
    ]
}

#[test]
fn every_server_extension_encodes_as_the_rfc_says() {
    for (ext, wire) in server_extension_answers() {
        assert_framed_codec(&ext, &wire);
        assert_eq!(
            ext.typ(),
            ExtensionType(u16::from_be_bytes([wire[0], wire[1]]))
        );
    }
}

#[test]
fn server_hello_known_answers() {
    // Without an extensions block: 2 + 32 + 1 + 2 + 1 = 38 = 0x26.
    let sh = ServerHello {
        server_version: ProtocolVersion::TLSV1_2,
        random: random_b(),
        session_id: vec![],
        cipher_suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        compression_method: 0,
        extensions: None,
    };
    let wire = cat(&[&hex("02 00 00 26 03 03"), &random_b(), &hex("00 c0 2f 00")]);
    assert_handshake(&hs(HandshakePayload::ServerHello(sh.clone())), &wire);
    assert_codec(&sh, &wire[4..]);

    // Empty block: 0x28.
    let sh_empty = ServerHello {
        extensions: Some(vec![]),
        ..sh.clone()
    };
    let wire = cat(&[
        &hex("02 00 00 28 03 03"),
        &random_b(),
        &hex("00 c0 2f 00 00 00"),
    ]);
    assert_handshake(&hs(HandshakePayload::ServerHello(sh_empty)), &wire);

    // What this engine's server sends for an ECDHE suite: renegotiation_info,
    // extended_master_secret, ec_point_formats: 5 + 4 + 6 = 15 bytes of
    // extensions, 38 + 2 + 15 = 55 = 0x37.
    let sh_exts = ServerHello {
        extensions: Some(vec![
            ServerExtension::RenegotiationInfo(vec![]),
            ServerExtension::ExtendedMasterSecret,
            ServerExtension::EcPointFormats(vec![EcPointFormat::UNCOMPRESSED]),
        ]),
        ..sh.clone()
    };
    let wire = cat(&[
        &hex("02 00 00 37 03 03"),
        &random_b(),
        &hex("00 c0 2f 00  00 0f  ff 01 00 01 00  00 17 00 00  00 0b 00 02 01 00"),
    ]);
    assert_handshake(&hs(HandshakePayload::ServerHello(sh_exts)), &wire);

    // A 32-byte session_id and an unknown suite and compression method.
    let sh_sid = ServerHello {
        session_id: vec![0x77; 32],
        cipher_suite: CipherSuite(0x1301),
        compression_method: 1,
        ..sh
    };
    let wire = cat(&[
        &hex("02 00 00 46 03 03"),
        &random_b(),
        &[0x20],
        &[0x77; 32],
        &hex("13 01 01"),
    ]);
    assert_handshake(&hs(HandshakePayload::ServerHello(sh_sid)), &wire);
}

#[test]
fn server_hello_with_every_extension() {
    let exts = server_extension_answers();
    let ext_bytes: Vec<u8> = exts.iter().flat_map(|(_, w)| w.clone()).collect();
    let sh = ServerHello {
        server_version: ProtocolVersion::TLSV1_2,
        random: random_b(),
        session_id: hex("01"),
        cipher_suite: CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        compression_method: 0,
        extensions: Some(exts.into_iter().map(|(e, _)| e).collect()),
    };
    let n = ext_bytes.len();
    let body = cat(&[
        &hex("03 03"),
        &random_b(),
        &hex("01 01  00 9d  00"),
        &[(n >> 8) as u8, n as u8],
        &ext_bytes,
    ]);
    assert_codec(&sh, &body);
    let wire = cat(&[&[0x02, 0x00, 0x00, body.len() as u8], &body]);
    assert_handshake(&hs(HandshakePayload::ServerHello(sh.clone())), &wire);
    assert_eq!(sh.extensions().len(), 9);
}

// ---------------------------------------------------------------------------
// Certificate, ServerKeyExchange, ServerHelloDone
// ---------------------------------------------------------------------------

fn certificate(ders: &[&[u8]]) -> Certificate {
    Certificate {
        certificate_list: ders
            .iter()
            .map(|d| CertificateDer::from(d.to_vec()))
            .collect(),
    }
}

#[test]
fn certificate_known_answers() {
    // certificate_list<0..2^24-1> with no entries.
    let c0 = certificate(&[]);
    assert_handshake(
        &hs(HandshakePayload::Certificate(c0.clone())),
        &hex("0b 00 00 03 00 00 00"),
    );
    assert_framed_codec(&c0, &hex("00 00 00"));

    let c1 = certificate(&[&[0xaa, 0xbb]]);
    assert_handshake(
        &hs(HandshakePayload::Certificate(c1.clone())),
        &hex("0b 00 00 08  00 00 05  00 00 02 aa bb"),
    );

    // 4 + 5 + 6 = 15 bytes of entries; body 3 + 15 = 18.
    let c3 = certificate(&[&[0x01], &[0x02, 0x02], &[0x03, 0x03, 0x03]]);
    assert_handshake(
        &hs(HandshakePayload::Certificate(c3.clone())),
        &hex("0b 00 00 12  00 00 0f  00 00 01 01  00 00 02 02 02  00 00 03 03 03 03"),
    );
    assert_eq!(c3.certificate_list.len(), 3);
}

#[test]
fn certificate_of_the_lab_pki_round_trips() {
    let p = common::pki::pki();
    let c = Certificate {
        certificate_list: vec![
            p.rsa.cert().clone(),
            p.ca.clone(),
            p.ecdsa_p256.cert().clone(),
        ],
    };
    let enc = hs(HandshakePayload::Certificate(c.clone()))
        .get_encoding()
        .unwrap();
    let total: usize = c.certificate_list.iter().map(|d| 3 + d.len()).sum();
    assert_eq!(enc.len(), 4 + 3 + total);
    assert_eq!(
        HandshakeMessage::read_bytes(&enc).unwrap().payload,
        HandshakePayload::Certificate(c)
    );
}

#[test]
fn certificate_bounds() {
    // An empty ASN.1Cert (<1..2^24-1>).
    assert_eq!(
        decode_err::<Certificate>(&hex("00 00 03 00 00 00")),
        AlertDescription::DECODE_ERROR
    );
    // An entry longer than the list.
    assert_eq!(
        decode_err::<Certificate>(&hex("00 00 04 00 00 02 aa")),
        AlertDescription::DECODE_ERROR
    );
    // A list longer than what is there.
    assert_eq!(
        decode_err::<Certificate>(&hex("00 00 09 00 00 02 aa bb")),
        AlertDescription::DECODE_ERROR
    );
    // Bytes after the list.
    assert_eq!(
        decode_err::<Certificate>(&hex("00 00 00 00")),
        AlertDescription::DECODE_ERROR
    );
    assert_eq!(
        decode_err::<HandshakeMessage>(&hex("0b 00 00 04 00 00 00 00")),
        AlertDescription::DECODE_ERROR
    );
}

fn ske_x25519() -> ServerKeyExchange {
    ServerKeyExchange {
        params: EcdheParams {
            group: NamedGroup::X25519,
            public: vec![0x42; 32],
        },
        scheme: SignatureScheme::ECDSA_NISTP256_SHA256,
        signature: hex("30 01 02"),
    }
}

#[test]
fn server_key_exchange_known_answer() {
    // ServerECDHParams { named_curve(3), x25519, ECPoint<1..255> } then
    // DigitallySigned { ecdsa_secp256r1_sha256, signature<0..2^16-1> }:
    // 1 + 2 + 1 + 32 + 2 + 2 + 3 = 43 = 0x2b.
    let ske = ske_x25519();
    let body = cat(&[
        &hex("03 00 1d 20"),
        &[0x42; 32],
        &hex("04 03 00 03 30 01 02"),
    ]);
    let wire = cat(&[&hex("0c 00 00 2b"), &body]);
    assert_codec(&ske, &body);
    assert_handshake(&hs(HandshakePayload::ServerKeyExchange(ske.clone())), &wire);

    // The signed message: client_random + server_random + ServerECDHParams.
    let signed = ServerKeyExchange::signed_message(&random_a(), &random_b(), &ske.params).unwrap();
    assert_eq!(
        signed,
        cat(&[&random_a(), &random_b(), &hex("03 00 1d 20"), &[0x42; 32]])
    );
    assert_framed_codec(&ske.params, &cat(&[&hex("03 00 1d 20"), &[0x42; 32]]));

    // An empty signature is allowed by the syntax.
    let ske_empty_sig = ServerKeyExchange {
        params: EcdheParams {
            group: NamedGroup::SECP256R1,
            public: vec![0x04],
        },
        scheme: SignatureScheme::RSA_PKCS1_SHA256,
        signature: vec![],
    };
    assert_framed_codec(&ske_empty_sig, &hex("03 00 17 01 04 04 01 00 00"));
}

#[test]
fn server_key_exchange_bounds() {
    let good = ske_x25519().get_encoding().unwrap();
    // explicit_prime (1) and explicit_char2 (2) curves, and nonsense: illegal_parameter.
    for curve_type in [0u8, 1, 2, 4, 0xff] {
        let mut bad = good.clone();
        bad[0] = curve_type;
        assert_eq!(
            decode_err::<ServerKeyExchange>(&bad),
            AlertDescription::ILLEGAL_PARAMETER,
            "curve type {curve_type}"
        );
        let wire = hs(HandshakePayload::Unknown {
            typ: HandshakeType::SERVER_KEY_EXCHANGE,
            body: bad,
        })
        .get_encoding()
        .unwrap();
        assert_eq!(
            decode_err::<HandshakeMessage>(&wire),
            AlertDescription::ILLEGAL_PARAMETER
        );
    }
    // An empty ECPoint (<1..2^8-1>).
    assert_eq!(
        decode_err::<ServerKeyExchange>(&hex("03 00 1d 00 04 03 00 00")),
        AlertDescription::DECODE_ERROR
    );
    // A signature longer than what is there.
    assert_eq!(
        decode_err::<ServerKeyExchange>(&hex("03 00 1d 01 09 04 03 00 05 01 02")),
        AlertDescription::DECODE_ERROR
    );
    // Trailing bytes after the signature.
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        decode_err::<ServerKeyExchange>(&trailing),
        AlertDescription::DECODE_ERROR
    );
    // Truncated anywhere.
    for n in 0..good.len() {
        assert_eq!(
            decode_err::<ServerKeyExchange>(&good[..n]),
            AlertDescription::DECODE_ERROR,
            "prefix of {n} bytes"
        );
    }
}

#[test]
fn server_hello_done_known_answer() {
    assert_handshake(&hs(HandshakePayload::ServerHelloDone), &hex("0e 00 00 00"));
    // ServerHelloDone has an empty body: anything in it is a decode_error.
    assert_eq!(
        decode_err::<HandshakeMessage>(&hex("0e 00 00 01 00")),
        AlertDescription::DECODE_ERROR
    );
}

// ---------------------------------------------------------------------------
// ClientKeyExchange, Finished, unknown handshake types
// ---------------------------------------------------------------------------

#[test]
fn client_key_exchange_rsa() {
    // EncryptedPreMasterSecret: opaque<0..2^16-1>.
    let cke = ClientKeyExchange::rsa(&[0x11; 3]).unwrap();
    assert_eq!(cke.body, hex("00 03 11 11 11"));
    assert_eq!(cke.encrypted_pre_master().unwrap(), &[0x11; 3]);
    assert_handshake(
        &hs(HandshakePayload::ClientKeyExchange(cke.clone())),
        &hex("10 00 00 05 00 03 11 11 11"),
    );
    assert_codec(&cke, &hex("00 03 11 11 11"));

    // A 2048-bit RSA ciphertext.
    let big = vec![0x5c; 256];
    let cke = ClientKeyExchange::rsa(&big).unwrap();
    assert_eq!(&cke.body[..2], &[0x01, 0x00]);
    assert_eq!(cke.encrypted_pre_master().unwrap(), &big[..]);
    let wire = cat(&[&hex("10 00 01 02 01 00"), &big]);
    assert_handshake(&hs(HandshakePayload::ClientKeyExchange(cke)), &wire);

    // The empty ciphertext is well-formed (the RSA check fails later).
    let cke = ClientKeyExchange::rsa(&[]).unwrap();
    assert_eq!(cke.body, hex("00 00"));
    assert_eq!(cke.encrypted_pre_master().unwrap(), &[] as &[u8]);
}

#[test]
fn client_key_exchange_ecdh() {
    // ClientECDiffieHellmanPublic: ECPoint ecdh_Yc<1..2^8-1>.
    let cke = ClientKeyExchange::ecdh(&hex("04 aa bb")).unwrap();
    assert_eq!(cke.body, hex("03 04 aa bb"));
    assert_eq!(cke.ecdh_public().unwrap(), &hex("04 aa bb")[..]);
    assert_handshake(
        &hs(HandshakePayload::ClientKeyExchange(cke)),
        &hex("10 00 00 04 03 04 aa bb"),
    );

    // An uncompressed P-256 point (65 bytes) and an x25519 key (32 bytes).
    for len in [32usize, 65, 97, 133, 255] {
        let public = vec![0x04; len];
        let cke = ClientKeyExchange::ecdh(&public).unwrap();
        assert_eq!(cke.body[0] as usize, len);
        assert_eq!(cke.ecdh_public().unwrap(), &public[..]);
        let wire = hs(HandshakePayload::ClientKeyExchange(cke.clone()))
            .get_encoding()
            .unwrap();
        assert_eq!(
            HandshakeMessage::read_bytes(&wire).unwrap().payload,
            HandshakePayload::ClientKeyExchange(cke)
        );
    }
}

#[test]
fn client_key_exchange_wrong_prefix_is_decode_error() {
    let cke = |b: &str| ClientKeyExchange { body: hex(b) };
    let decode = AlertDescription::DECODE_ERROR;
    // Empty body: neither form.
    assert_eq!(cke("").encrypted_pre_master().unwrap_err().alert(), decode);
    assert_eq!(cke("").ecdh_public().unwrap_err().alert(), decode);
    // The RSA form read as ECDH: a zero-length point (00) with bytes after.
    let rsa = ClientKeyExchange::rsa(&[1, 2, 3]).unwrap();
    assert_eq!(rsa.ecdh_public().unwrap_err().alert(), decode);
    // The ECDH form read as RSA: 0x0304 bytes claimed, 3 there.
    let ecdh = ClientKeyExchange::ecdh(&[4, 5, 6]).unwrap();
    assert_eq!(ecdh.encrypted_pre_master().unwrap_err().alert(), decode);
    // A one-byte body is a truncated RSA length.
    assert_eq!(
        cke("01").encrypted_pre_master().unwrap_err().alert(),
        decode
    );
    // The zero-length point.
    assert_eq!(cke("00").ecdh_public().unwrap_err().alert(), decode);
    // Lengths one short and one long.
    assert_eq!(
        cke("00 02 aa").encrypted_pre_master().unwrap_err().alert(),
        decode
    );
    assert_eq!(
        cke("00 01 aa bb")
            .encrypted_pre_master()
            .unwrap_err()
            .alert(),
        decode
    );
    assert_eq!(cke("02 aa").ecdh_public().unwrap_err().alert(), decode);
    assert_eq!(cke("01 aa bb").ecdh_public().unwrap_err().alert(), decode);
    // The decoder itself keeps any body: the suite decides the form.
    for body in ["", "00", "01 aa bb", "ff ff ff"] {
        assert_codec(&cke(body), &hex(body));
    }
}

#[test]
fn finished_known_answer() {
    let fin = Finished {
        verify_data: hex("01 02 03 04 05 06 07 08 09 0a 0b 0c"),
    };
    assert_handshake(
        &hs(HandshakePayload::Finished(fin.clone())),
        &hex("14 00 00 0c 01 02 03 04 05 06 07 08 09 0a 0b 0c"),
    );
    assert_codec(&fin, &hex("01 02 03 04 05 06 07 08 09 0a 0b 0c"));
    // The codec keeps any length; the state machine checks the value.
    assert_handshake(
        &hs(HandshakePayload::Finished(Finished {
            verify_data: vec![],
        })),
        &hex("14 00 00 00"),
    );
}

#[test]
fn unknown_handshake_types_are_kept() {
    let cases = [
        (HandshakeType::HELLO_REQUEST, "", "00 00 00 00"),
        // CertificateRequest { certificate_types<1..>: rsa_sign, sigalgs<2..>, CAs<0..> }
        (
            HandshakeType::CERTIFICATE_REQUEST,
            "01 01 00 02 04 01 00 00",
            "0d 00 00 08 01 01 00 02 04 01 00 00",
        ),
        (
            HandshakeType::CERTIFICATE_VERIFY,
            "04 03 00 00",
            "0f 00 00 04 04 03 00 00",
        ),
        // NewSessionTicket (RFC 5077) and an unassigned type.
        (
            HandshakeType(4),
            "00 00 00 00 00 00",
            "04 00 00 06 00 00 00 00 00 00",
        ),
        (HandshakeType(0xfe), "ab", "fe 00 00 01 ab"),
    ];
    for (typ, body, wire) in cases {
        let m = hs(HandshakePayload::Unknown {
            typ,
            body: hex(body),
        });
        assert_eq!(m.typ(), typ);
        assert_handshake(&m, &hex(wire));
    }
}

// ---------------------------------------------------------------------------
// Alert, ChangeCipherSpec, Message::read
// ---------------------------------------------------------------------------

#[test]
fn alert_known_answers() {
    let fatal = Alert::fatal(AlertDescription::DECODE_ERROR);
    assert_eq!(fatal.level, AlertLevel::FATAL);
    assert_framed_codec(&fatal, &hex("02 32"));
    let close = Alert {
        level: AlertLevel::WARNING,
        description: AlertDescription::CLOSE_NOTIFY,
    };
    assert_framed_codec(&close, &hex("01 00"));
    assert_framed_codec(
        &Alert::fatal(AlertDescription::HANDSHAKE_FAILURE),
        &hex("02 28"),
    );
    // Unknown levels and descriptions are kept.
    let odd = Alert {
        level: AlertLevel(7),
        description: AlertDescription(0xee),
    };
    assert_framed_codec(&odd, &hex("07 ee"));

    for bad in ["", "02", "02 32 00"] {
        assert_eq!(
            decode_err::<Alert>(&hex(bad)),
            AlertDescription::DECODE_ERROR
        );
        assert_eq!(
            message_err(ContentType::ALERT, &hex(bad), false),
            AlertDescription::DECODE_ERROR
        );
    }
    let m = Message::Alert(fatal);
    assert_eq!(m.content_type(), ContentType::ALERT);
    assert_eq!(m.fragment().unwrap(), hex("02 32"));
    assert_eq!(
        Message::read(ContentType::ALERT, &hex("02 32"), false).unwrap(),
        m
    );
}

#[test]
fn change_cipher_spec_known_answer() {
    let m = Message::ChangeCipherSpec;
    assert_eq!(m.content_type(), ContentType::CHANGE_CIPHER_SPEC);
    assert_eq!(
        ContentType::CHANGE_CIPHER_SPEC.get_encoding().unwrap(),
        hex("14")
    );
    assert_eq!(m.fragment().unwrap(), hex("01"));
    for protected in [false, true] {
        assert_eq!(
            Message::read(ContentType::CHANGE_CIPHER_SPEC, &[1], protected).unwrap(),
            m
        );
        // Not a ChangeCipherSpec at all: unexpected_message, as OpenSSL.
        for bad in ["", "00", "02", "ff", "01 01", "01 00", "00 01"] {
            assert_eq!(
                message_err(ContentType::CHANGE_CIPHER_SPEC, &hex(bad), protected),
                AlertDescription::UNEXPECTED_MESSAGE,
                "{bad:?} protected {protected}"
            );
        }
    }
}

#[test]
fn message_read_for_every_content_type() {
    let shd = hex("0e 00 00 00");
    let alert = hex("02 32");
    let junk = hex("de ad be ef");

    // Unprotected.
    assert_eq!(
        Message::read(ContentType::HANDSHAKE, &shd, false).unwrap(),
        Message::Handshake(hs(HandshakePayload::ServerHelloDone))
    );
    assert_eq!(
        message_err(ContentType::HANDSHAKE, &junk, false),
        AlertDescription::DECODE_ERROR
    );
    assert_eq!(
        message_err(ContentType::HANDSHAKE, &[], false),
        AlertDescription::DECODE_ERROR
    );
    assert_eq!(
        Message::read(ContentType::ALERT, &alert, false).unwrap(),
        Message::Alert(Alert::fatal(AlertDescription::DECODE_ERROR))
    );
    assert_eq!(
        message_err(ContentType::APPLICATION_DATA, &junk, false),
        AlertDescription::UNEXPECTED_MESSAGE
    );
    assert_eq!(
        message_err(ContentType::APPLICATION_DATA, &[], false),
        AlertDescription::UNEXPECTED_MESSAGE
    );

    // Protected: handshake, alert and application data are opaque ciphertext,
    // whatever they contain (even nothing: the record layer judges that).
    for typ in [
        ContentType::HANDSHAKE,
        ContentType::ALERT,
        ContentType::APPLICATION_DATA,
    ] {
        for fragment in [&shd[..], &alert[..], &junk[..], &[][..]] {
            let m = Message::read(typ, fragment, true).unwrap();
            assert_eq!(
                m,
                Message::Protected(ProtectedRecord {
                    typ,
                    fragment: fragment.to_vec(),
                })
            );
            assert_eq!(m.content_type(), typ);
            assert_eq!(m.fragment().unwrap(), fragment);
        }
    }

    // Unknown content types (heartbeat 24, tls12_cid 25, 0, 255) are
    // unexpected_message, protected or not.
    for typ in [0u8, 19, 24, 25, 0x80, 0xff] {
        for protected in [false, true] {
            for fragment in [&shd[..], &[1][..], &[][..]] {
                assert_eq!(
                    message_err(ContentType(typ), fragment, protected),
                    AlertDescription::UNEXPECTED_MESSAGE,
                    "content type {typ} protected {protected}"
                );
            }
        }
    }
}

#[test]
fn content_type_and_handshake_type_code_points() {
    assert_eq!(ContentType::CHANGE_CIPHER_SPEC.0, 20);
    assert_eq!(ContentType::ALERT.0, 21);
    assert_eq!(ContentType::HANDSHAKE.0, 22);
    assert_eq!(ContentType::APPLICATION_DATA.0, 23);
    let types = [
        (HandshakeType::HELLO_REQUEST, 0),
        (HandshakeType::CLIENT_HELLO, 1),
        (HandshakeType::SERVER_HELLO, 2),
        (HandshakeType::CERTIFICATE, 11),
        (HandshakeType::SERVER_KEY_EXCHANGE, 12),
        (HandshakeType::CERTIFICATE_REQUEST, 13),
        (HandshakeType::SERVER_HELLO_DONE, 14),
        (HandshakeType::CERTIFICATE_VERIFY, 15),
        (HandshakeType::CLIENT_KEY_EXCHANGE, 16),
        (HandshakeType::FINISHED, 20),
    ];
    for (t, v) in types {
        assert_eq!(t.0, v);
    }
    assert_eq!(
        ProtocolVersion::TLSV1_2.get_encoding().unwrap(),
        hex("03 03")
    );
}

// ---------------------------------------------------------------------------
// Decoding bounds
// ---------------------------------------------------------------------------

/// A ClientHello body from its parts, each given with its length prefix.
fn ch_body(session_id: &str, suites: &str, compression: &str, rest: &str) -> Vec<u8> {
    cat(&[
        &hex("03 03"),
        &random_a(),
        &hex(session_id),
        &hex(suites),
        &hex(compression),
        &hex(rest),
    ])
}

fn ch_err(body: &[u8]) -> AlertDescription {
    let alert = decode_err::<ClientHello>(body);
    // The same inside the handshake envelope.
    let wire = hs(HandshakePayload::Unknown {
        typ: HandshakeType::CLIENT_HELLO,
        body: body.to_vec(),
    })
    .get_encoding()
    .unwrap();
    assert_eq!(decode_err::<HandshakeMessage>(&wire), alert);
    assert_eq!(message_err(ContentType::HANDSHAKE, &wire, false), alert);
    alert
}

#[test]
fn client_hello_bounds() {
    let decode = AlertDescription::DECODE_ERROR;
    let suites = "00 02 00 9c";
    // Sanity: the parts make a valid hello.
    assert!(ClientHello::read_bytes(&ch_body("00", suites, "01 00", "")).is_ok());
    let sid32 = format!("20 {}", "55 ".repeat(32));
    assert_eq!(
        ClientHello::read_bytes(&ch_body(&sid32, suites, "01 00", ""))
            .unwrap()
            .session_id,
        vec![0x55; 32]
    );

    // session_id<0..32>: 33 bytes is too long.
    let sid33 = format!("21 {}", "55 ".repeat(33));
    assert_eq!(ch_err(&ch_body(&sid33, suites, "01 00", "")), decode);
    // cipher_suites<2..2^16-2>: empty, odd, and shorter than the minimum.
    assert_eq!(ch_err(&ch_body("00", "00 00", "01 00", "")), decode);
    assert_eq!(
        ch_err(&ch_body("00", "00 03 00 9c 00", "01 00", "")),
        decode
    );
    assert_eq!(ch_err(&ch_body("00", "00 01 00", "01 00", "")), decode);
    // compression_methods<1..2^8-1>: empty.
    assert_eq!(ch_err(&ch_body("00", suites, "00", "")), decode);
    // Lengths beyond the end.
    assert_eq!(ch_err(&ch_body("05 01 02", "", "", "")), decode);
    assert_eq!(ch_err(&ch_body("00", "00 08 00 9c", "", "")), decode);
    assert_eq!(ch_err(&ch_body("00", suites, "02 00", "")), decode);
    // An extensions block that is only one byte, or longer than what is left.
    assert_eq!(ch_err(&ch_body("00", suites, "01 00", "00")), decode);
    assert_eq!(
        ch_err(&ch_body("00", suites, "01 00", "00 05 00 17 00 00")),
        decode
    );
    // Trailing bytes after the extensions block.
    assert_eq!(ch_err(&ch_body("00", suites, "01 00", "00 00 00")), decode);
    assert_eq!(
        ch_err(&ch_body("00", suites, "01 00", "00 04 00 17 00 00 ff")),
        decode
    );
    // An extension header cut short inside the block.
    assert_eq!(
        ch_err(&ch_body("00", suites, "01 00", "00 03 00 17 00")),
        decode
    );
    // Every truncation of a full hello (except right after the compression
    // methods, where a hello without extensions ends) fails.
    let full = hs(HandshakePayload::ClientHello(ClientHello {
        extensions: Some(
            client_extension_answers()
                .into_iter()
                .map(|(e, _)| e)
                .collect(),
        ),
        ..minimal_client_hello(None)
    }))
    .get_encoding()
    .unwrap();
    let body = &full[4..];
    let no_ext_len = 2 + 32 + 1 + 4 + 2;
    for n in 0..body.len() {
        if n == no_ext_len {
            assert_eq!(
                ClientHello::read_bytes(&body[..n]).unwrap().extensions,
                None
            );
        } else {
            assert_eq!(ch_err(&body[..n]), decode, "prefix of {n} bytes");
        }
    }
    for n in 0..full.len() {
        assert_eq!(
            decode_err::<HandshakeMessage>(&full[..n]),
            decode,
            "message prefix of {n} bytes"
        );
    }
}

#[test]
fn server_hello_bounds() {
    let decode = AlertDescription::DECODE_ERROR;
    let sh = |rest: &[u8]| cat(&[&hex("03 03"), &random_b(), rest]);
    assert!(ServerHello::read_bytes(&sh(&hex("00 c0 2f 00"))).is_ok());
    let mut sid33 = vec![33];
    sid33.extend_from_slice(&[0x66; 33]);
    sid33.extend_from_slice(&hex("c0 2f 00"));
    assert_eq!(decode_err::<ServerHello>(&sh(&sid33)), decode);
    // No compression method.
    assert_eq!(decode_err::<ServerHello>(&sh(&hex("00 c0 2f"))), decode);
    // Extension block cut, over-long, trailing.
    assert_eq!(
        decode_err::<ServerHello>(&sh(&hex("00 c0 2f 00 00"))),
        decode
    );
    assert_eq!(
        decode_err::<ServerHello>(&sh(&hex("00 c0 2f 00 00 05 00 17 00 00"))),
        decode
    );
    assert_eq!(
        decode_err::<ServerHello>(&sh(&hex("00 c0 2f 00 00 04 00 17 00 00 00"))),
        decode
    );
    // A server_name acknowledgement must be empty.
    assert_eq!(
        decode_err::<ServerHello>(&sh(&hex("00 c0 2f 00 00 05 00 00 00 01 00"))),
        decode
    );
}

#[test]
fn extension_bounds() {
    let decode = AlertDescription::DECODE_ERROR;
    let client_bad = [
        // signature_algorithms<2..2^16-2>: empty list.
        "00 0d 00 02 00 00",
        // ... odd.
        "00 0d 00 05 00 03 04 03 08",
        // ec_point_formats<1..2^8-1>: empty list.
        "00 0b 00 01 00",
        // supported_groups<2..2^16-1>: empty, odd.
        "00 0a 00 02 00 00",
        "00 0a 00 05 00 03 00 1d 00",
        // server_name: empty list, empty host name, entry cut short.
        "00 00 00 02 00 00",
        "00 00 00 05 00 03 00 00 00",
        "00 00 00 04 00 02 00 00",
        // Trailing bytes inside an extension.
        "00 17 00 01 00",
        "ff 01 00 02 00 00",
        "00 0a 00 07 00 04 00 1d 00 17 00",
        "00 0b 00 03 01 00 00",
        "00 0d 00 05 00 02 04 03 00",
        "00 00 00 0f 00 0c 00 00 09 6c 6f 63 61 6c 68 6f 73 74 00",
        // renegotiation_info longer than the extension.
        "ff 01 00 01 05",
        // extension_data longer than what is there, header cut short.
        "00 17 00 02 00",
        "00 17 00",
        "00",
        "",
    ];
    for b in client_bad {
        assert_eq!(decode_err::<ClientExtension>(&hex(b)), decode, "client {b}");
    }
    let server_bad = [
        "00 00 00 01 00",
        "00 0b 00 01 00",
        "00 0b 00 03 01 00 00",
        "00 17 00 01 00",
        "ff 01 00 02 00 00",
        "ff 01 00 00",
        "00 10 00 05 00",
        "",
    ];
    for b in server_bad {
        assert_eq!(decode_err::<ServerExtension>(&hex(b)), decode, "server {b}");
    }
    // Inside a hello, an extension with trailing bytes fails the hello.
    let body = ch_body("00", "00 02 00 9c", "01 00", "00 05 00 17 00 01 00");
    assert_eq!(ch_err(&body), decode);
}

#[test]
fn handshake_length_bounds() {
    let decode = AlertDescription::DECODE_ERROR;
    assert_eq!(MAX_HANDSHAKE_LEN, 0x1_0000);
    // Exactly the maximum is accepted (an unknown type keeps any body).
    let at_max = hs(HandshakePayload::Unknown {
        typ: HandshakeType(0xfe),
        body: vec![0x33; MAX_HANDSHAKE_LEN],
    });
    let wire = at_max.get_encoding().unwrap();
    assert_eq!(&wire[..4], &hex("fe 01 00 00"));
    assert_eq!(HandshakeMessage::read_bytes(&wire).unwrap(), at_max);
    // One more byte is refused, whatever the type but ClientHello, even
    // with all of it there.
    for typ in [0xfeu8, 2, 11, 20] {
        let mut over = vec![typ, 0x01, 0x00, 0x01];
        over.extend_from_slice(&vec![0x33; MAX_HANDSHAKE_LEN + 1]);
        assert_eq!(decode_err::<HandshakeMessage>(&over), decode, "type {typ}");
    }
    // A ClientHello may be larger (see handshake/tests/hostile_hello.rs),
    // up to MAX_CLIENT_HELLO_LEN.
    let over = MAX_CLIENT_HELLO_LEN + 1;
    let mut bytes = vec![1, (over >> 16) as u8, (over >> 8) as u8, over as u8];
    bytes.extend_from_slice(&vec![0x33; over]);
    let err = HandshakeMessage::read_bytes(&bytes).unwrap_err();
    assert_eq!(err.alert(), decode);
    assert!(
        err.reason().contains("handshake message"),
        "{}",
        err.reason()
    );
    // The largest uint24, with nothing behind it.
    assert_eq!(decode_err::<HandshakeMessage>(&hex("01 ff ff ff")), decode);
    // A length longer than the bytes there; a header cut short.
    assert_eq!(
        decode_err::<HandshakeMessage>(&hex("14 00 00 0c 01 02")),
        decode
    );
    assert_eq!(decode_err::<HandshakeMessage>(&hex("14 00 00")), decode);
    assert_eq!(decode_err::<HandshakeMessage>(&[]), decode);
    // Trailing bytes after a whole message.
    assert_eq!(
        decode_err::<HandshakeMessage>(&hex("0e 00 00 00 00")),
        decode
    );
    assert_eq!(
        message_err(
            ContentType::HANDSHAKE,
            &hex("0e 00 00 00 0e 00 00 00"),
            false
        ),
        decode
    );
}

#[test]
fn coalesced_handshake_messages_read_one_at_a_time() {
    // A transport that cuts records into messages reads them with `read`.
    let a = hs(HandshakePayload::Certificate(certificate(&[&[1, 2, 3]])));
    let b = hs(HandshakePayload::ServerHelloDone);
    let c = hs(HandshakePayload::Finished(Finished {
        verify_data: vec![9; 12],
    }));
    let bytes = cat(&[
        &a.get_encoding().unwrap(),
        &b.get_encoding().unwrap(),
        &c.get_encoding().unwrap(),
    ]);
    let mut r = Reader::new(&bytes);
    assert_eq!(HandshakeMessage::read(&mut r).unwrap(), a);
    assert_eq!(HandshakeMessage::read(&mut r).unwrap(), b);
    assert_eq!(HandshakeMessage::read(&mut r).unwrap(), c);
    assert!(!r.any_left());
}

// ---------------------------------------------------------------------------
// What the real engine sends
// ---------------------------------------------------------------------------

/// Checks one message as it travels: it reads back from its fragment, and a
/// handshake message reads back from its encoding, body included.
fn check_wire_message(sender: Role, msg: &Message, seen: &mut Vec<(Role, String)>) {
    let protected = matches!(msg, Message::Protected(_));
    let fragment = msg.fragment().unwrap();
    let back = Message::read(msg.content_type(), &fragment, protected)
        .unwrap_or_else(|e| panic!("{sender:?} sent {msg:?}, which reads back as {e}"));
    assert_eq!(&back, msg);
    assert_eq!(back.fragment().unwrap(), fragment);
    match msg {
        Message::Handshake(h) => {
            let enc = h.get_encoding().unwrap();
            assert_eq!(enc, fragment);
            let decoded = HandshakeMessage::read_bytes(&enc).unwrap();
            assert_eq!(&decoded, h);
            assert_eq!(decoded.get_encoding().unwrap(), enc);
            // The length header is right.
            let len = u32::from_be_bytes([0, enc[1], enc[2], enc[3]]) as usize;
            assert_eq!(len, enc.len() - 4);
            // Each body decodes on its own too.
            let body = &enc[4..];
            match &h.payload {
                HandshakePayload::ClientHello(m) => {
                    assert_eq!(&ClientHello::read_bytes(body).unwrap(), m);
                    // The engine's ClientHello carries the known encodings.
                    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
                    assert!(contains(&hex("ff 01 00 01 00")), "renegotiation_info");
                    assert!(contains(&hex("00 0b 00 02 01 00")), "ec_point_formats");
                    assert!(contains(&hex(
                        "00 00 00 0e 00 0c 00 00 09 6c 6f 63 61 6c 68 6f 73 74"
                    )));
                }
                HandshakePayload::ServerHello(m) => {
                    assert_eq!(&ServerHello::read_bytes(body).unwrap(), m)
                }
                HandshakePayload::Certificate(m) => {
                    assert_eq!(&Certificate::read_bytes(body).unwrap(), m)
                }
                HandshakePayload::ServerKeyExchange(m) => {
                    assert_eq!(&ServerKeyExchange::read_bytes(body).unwrap(), m)
                }
                HandshakePayload::ClientKeyExchange(m) => {
                    assert_eq!(&ClientKeyExchange::read_bytes(body).unwrap(), m);
                    assert!(m.encrypted_pre_master().is_ok() || m.ecdh_public().is_ok());
                }
                HandshakePayload::ServerHelloDone => assert!(body.is_empty()),
                other => panic!("{sender:?} sent a plaintext {other:?}"),
            }
            seen.push((sender, format!("{:?}", h.typ())));
        }
        Message::ChangeCipherSpec => {
            assert_eq!(fragment, [1]);
            seen.push((sender, "ChangeCipherSpec".into()));
        }
        Message::Alert(a) => panic!("{sender:?} sent a plaintext alert {a:?}"),
        Message::Protected(p) => seen.push((sender, format!("protected {:?}", p.typ))),
        Message::RawHandshake(r) => panic!("{sender:?} sent an undecoded {r:?}"),
    }
}

#[test]
fn every_message_of_real_sessions_round_trips() {
    for s in ALL_SUITES {
        for ems in [true, false] {
            let mut c = client_config();
            c.cipher_suites = vec![s.suite];
            c.extended_master_secret = ems;
            let mut pair = Pair::new(c, server_config());
            let mut seen = Vec::new();
            let mut check = |sender: Role, m: &mut Message| {
                check_wire_message(sender, m, &mut seen);
                true
            };
            let out = pair.drive_with(&mut check);
            assert!(out.client.is_none() && out.server.is_none(), "{out:?}");
            assert!(pair.client.is_handshake_complete());
            pair.client.send_application_data(b"ping").unwrap();
            pair.server.send_application_data(b"pong").unwrap();
            pair.drive_with(&mut check);
            pair.client.close().unwrap();
            let out = pair.drive_with(&mut check);
            assert!(out.client.is_none() && out.server.is_none(), "{out:?}");

            let ecdhe = s.kx.is_ecdhe();
            let mut expected: Vec<(Role, &str)> = vec![
                (Role::Client, "client_hello"),
                (Role::Server, "server_hello"),
                (Role::Server, "certificate"),
            ];
            if ecdhe {
                expected.push((Role::Server, "server_key_exchange"));
            }
            expected.extend([
                (Role::Server, "server_hello_done"),
                (Role::Client, "client_key_exchange"),
                (Role::Client, "ChangeCipherSpec"),
                (Role::Client, "protected handshake"),
                (Role::Server, "ChangeCipherSpec"),
                (Role::Server, "protected handshake"),
                (Role::Client, "protected application_data"),
                (Role::Server, "protected application_data"),
                // close_notify, and the server's close_notify in reply.
                (Role::Client, "protected alert"),
                (Role::Server, "protected alert"),
            ]);
            let seen: Vec<(Role, &str)> = seen.iter().map(|(r, s)| (*r, s.as_str())).collect();
            assert_eq!(seen, expected, "{:?} ems {ems}", s.suite);
        }
    }
}

// ---------------------------------------------------------------------------
// Suites by name (`FromStr for CipherSuite`, the services' --suite flags)
// ---------------------------------------------------------------------------

#[test]
fn suites_parse_by_iana_name_in_any_case() {
    for s in ALL_SUITES {
        let name = s.suite.name().unwrap();
        assert_eq!(name.parse(), Ok(s.suite));
        assert_eq!(name.to_ascii_lowercase().parse(), Ok(s.suite));
    }
    assert_eq!(
        "tls_rsa_with_aes_128_gcm_sha256".parse(),
        Ok(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!(
        " Tls_Rsa_With_Aes_128_Gcm_Sha256 ".parse(),
        Ok(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256)
    );
}

#[test]
fn suites_parse_with_the_contracts_prefix() {
    assert_eq!(
        "CIPHER_SUITE_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".parse(),
        Ok(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        "cipher_suite_tls_rsa_with_aes_256_gcm_sha384".parse(),
        Ok(CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384)
    );
}

#[test]
fn suites_parse_as_hex_code_points_even_unimplemented_ones() {
    assert_eq!(
        "0x009c".parse(),
        Ok(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!("0X002F".parse(), Ok(CipherSuite(0x002f)));
    assert_eq!("CIPHER_SUITE_0xc02b".parse(), Ok(CipherSuite(0xc02b)));
}

#[test]
fn unknown_names_are_refused_with_the_known_ones_listed() {
    let err = "TLS_NULL".parse::<CipherSuite>().unwrap_err();
    assert!(err.starts_with("unknown cipher suite; known: "), "{err}");
    for s in ALL_SUITES {
        assert!(err.contains(s.suite.name().unwrap()), "{err}");
    }
    assert!(!err.contains('\n'), "{err}");
    // A code point the codec names but no implemented suite has.
    assert!(
        "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
            .parse::<CipherSuite>()
            .is_err()
    );
    assert!(
        "TLS_RSA_WITH_AES_128_CBC_SHA"
            .parse::<CipherSuite>()
            .is_err()
    );
    assert!("".parse::<CipherSuite>().is_err());
    // The line lists names, not the input: its length is fixed.
    let long = "x".repeat(10_000);
    assert_eq!(long.parse::<CipherSuite>().unwrap_err(), err);
}

#[test]
fn bad_hex_code_points_are_refused_and_quoted_bounded() {
    for bad in ["0x", "0x10000", "0xzz", "0x-1"] {
        let err = bad.parse::<CipherSuite>().unwrap_err();
        assert!(
            err.contains("is not a two-byte hex code point"),
            "{bad}: {err}"
        );
    }
    let long = format!("0x{}", "f".repeat(10_000));
    let err = long.parse::<CipherSuite>().unwrap_err();
    assert!(err.len() < 1_000, "{} bytes", err.len());
}
