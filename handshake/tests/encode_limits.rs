//! Vectors too long for their length prefix are refused by the encoder in
//! every build profile (never a wrong prefix, never a panic), and a client
//! configured with more suites, groups or signature schemes than a
//! ClientHello holds fails at construction with an error naming the list.

mod common;

use std::sync::Arc;

use common::pair::client_config;
use common::pki::valid_now;
use handshake::SeededRng;
use handshake::msgs::codec::Codec;
use handshake::msgs::handshake::{Certificate, ClientHello, HandshakeMessage, HandshakePayload};
use handshake::{
    AlertDescription, CipherSuite, ClientConfig, Connection, Error, MAX_CIPHER_SUITES,
    MAX_HELLO_LIST, Message, NamedGroup, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName};

fn client(config: ClientConfig) -> Result<Connection, Error> {
    Connection::client(
        Arc::new(config),
        ServerName::try_from("localhost").unwrap(),
        valid_now(),
        Box::new(SeededRng::new(1)),
    )
}

fn suites(n: usize) -> Vec<CipherSuite> {
    (0..n).map(|i| CipherSuite(i as u16)).collect()
}

/// The ClientHello a client sends, and its encoding.
fn sent_hello(mut c: Connection) -> (ClientHello, Vec<u8>) {
    let Some(Message::Handshake(m)) = c.poll_transmit() else {
        panic!("a ClientHello first");
    };
    let enc = m.get_encoding().unwrap();
    let HandshakePayload::ClientHello(h) = m.payload else {
        panic!("a ClientHello");
    };
    (h, enc)
}

/// The cipher_suites length prefix of an encoded ClientHello: after the
/// 4-byte header, version, random and an empty session_id.
fn suites_prefix(enc: &[u8]) -> usize {
    let at = 4 + 2 + 32 + 1;
    usize::from(u16::from_be_bytes([enc[at], enc[at + 1]]))
}

#[test]
fn a_client_with_too_many_suites_fails_at_construction() {
    // At the limit: sent with the right prefix (a hello this long is more
    // than MAX_HANDSHAKE_LEN accepts, but it is encoded right).
    let mut config = client_config();
    config.cipher_suites = suites(MAX_CIPHER_SUITES);
    let (hello, enc) = sent_hello(client(config).expect("32,767 suites fit"));
    assert_eq!(hello.cipher_suites.len(), MAX_CIPHER_SUITES);
    assert_eq!(suites_prefix(&enc), 2 * MAX_CIPHER_SUITES);
    // Shorter: decode(encode(x)) == x.
    let mut config = client_config();
    config.cipher_suites = suites(20_000);
    let (hello, enc) = sent_hello(client(config).unwrap());
    let back = HandshakeMessage::read_bytes(&enc).unwrap();
    assert_eq!(back.payload, HandshakePayload::ClientHello(hello));
    // One more, and far more: a clear error, nothing sent.
    for n in [MAX_CIPHER_SUITES + 1, 40_000, 100_000] {
        let mut config = client_config();
        config.cipher_suites = suites(n);
        let err = client(config).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR, "{n}");
        assert!(err.reason().contains("cipher_suites"), "{}", err.reason());
        assert!(err.reason().contains(&n.to_string()), "{}", err.reason());
    }
}

#[test]
fn a_client_with_too_many_groups_or_schemes_fails_at_construction() {
    let groups = |n: usize| (0..n).map(|i| NamedGroup(i as u16)).collect::<Vec<_>>();
    let schemes = |n: usize| {
        (0..n)
            .map(|i| SignatureScheme(i as u16))
            .collect::<Vec<_>>()
    };
    for n in [MAX_HELLO_LIST + 1, 32_768, 70_000] {
        let mut config = client_config();
        config.groups = groups(n);
        let err = client(config).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(err.reason().contains("groups"), "{}", err.reason());
        let mut config = client_config();
        config.signature_schemes = schemes(n);
        let err = client(config).unwrap_err();
        assert!(
            err.reason().contains("signature_schemes"),
            "{}",
            err.reason()
        );
    }
    // Each list fits alone, but not both in one extensions block: the
    // encoder refuses the hello.
    let mut config = client_config();
    config.groups = groups(MAX_HELLO_LIST);
    config.signature_schemes = schemes(MAX_HELLO_LIST);
    let err = client(config).unwrap_err();
    assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
    assert!(
        err.reason().contains("cannot be encoded"),
        "{}",
        err.reason()
    );
    assert!(err.reason().contains("length prefix"), "{}", err.reason());
    // Many groups, with room for the other extensions: sent.
    let mut config = client_config();
    config.groups = groups(MAX_HELLO_LIST - 100);
    let (hello, _) = sent_hello(client(config).expect("fits"));
    assert_eq!(hello.cipher_suites, client_config().cipher_suites);
}

#[test]
fn the_encoder_refuses_what_its_prefix_cannot_state() {
    // A ClientHello built by hand with 32,768 suites (65,536 bytes).
    let hello = ClientHello {
        client_version: handshake::msgs::enums::ProtocolVersion::TLSV1_2,
        random: [0; 32],
        session_id: vec![],
        cipher_suites: suites(32_768),
        compression_methods: vec![0],
        extensions: None,
    };
    let err = hello.get_encoding().unwrap_err();
    assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
    // A 33-byte session_id fits its 1-byte prefix and encodes (the decoder
    // then refuses it: its bound is 32); 256 bytes do not.
    let mut long = hello.clone();
    long.cipher_suites = suites(1);
    long.session_id = vec![1; 256];
    assert!(long.get_encoding().is_err());
    // A certificate chain over 2^24 - 1 bytes.
    let chain = Certificate {
        certificate_list: vec![CertificateDer::from(vec![0x30; 0x100_0000])],
    };
    let m = HandshakeMessage::from(HandshakePayload::Certificate(chain));
    assert!(m.get_encoding().is_err());
    let mut out = Vec::new();
    assert!(handshake::encode_records(&Message::Handshake(m), &mut out).is_err());
    assert!(out.is_empty(), "nothing written");
}
