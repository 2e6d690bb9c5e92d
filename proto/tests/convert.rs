//! Every message of real sessions survives engine -> protobuf -> engine
//! unchanged, and malformed protobuf is refused with decode_error.

use std::sync::Arc;

use handshake::ALL_SUITES;
use handshake::SeededRng;
use handshake::{
    AlertDescription, CertifiedKey, ClientConfig, Connection, Message, Role, ServerCertVerifier,
    ServerConfig,
};
use proto::convert::{from_request, from_response, to_request, to_response};
use proto::pb;
use rustls_pki_types::ServerName;

/// The lab CA's RSA and ECDSA P-256 server certificates for "localhost".
fn configs() -> (ClientConfig, ServerConfig) {
    let pki = test_pki::pki();
    let keys = [&pki.rsa, &pki.ecdsa_p256]
        .map(|leaf| CertifiedKey::new(leaf.chain.clone(), &leaf.key_pkcs8).unwrap());
    let verifier = ServerCertVerifier::new(std::slice::from_ref(&pki.ca)).unwrap();
    (
        ClientConfig::new(verifier),
        ServerConfig::new(keys.into()).unwrap(),
    )
}

/// Runs a session for every suite, converting every message both ways on
/// its way and checking it comes back equal; the session must still complete.
#[test]
fn every_message_of_every_suite_round_trips() {
    let (client_config, server_config) = configs();
    let server_config = Arc::new(server_config);
    let now = test_pki::valid_now();
    for suite in ALL_SUITES {
        let mut c = client_config.clone();
        c.cipher_suites = vec![suite.suite];
        let mut client = Connection::client(
            Arc::new(c),
            ServerName::try_from("localhost").unwrap(),
            now,
            Box::new(SeededRng::new(1)),
        )
        .unwrap();
        let mut server =
            Connection::server(server_config.clone(), Box::new(SeededRng::new(2))).unwrap();
        let mut seen = 0;
        loop {
            let mut moved = false;
            while let Some(m) = client.poll_transmit() {
                let back = from_request(to_request(m.clone()).unwrap()).unwrap();
                assert_eq!(back, m, "{:?}", suite.suite);
                server.handle(back);
                assert_eq!(server.failure(), None);
                moved = true;
                seen += 1;
            }
            while let Some(m) = server.poll_transmit() {
                let back = from_response(to_response(m.clone()).unwrap()).unwrap();
                assert_eq!(back, m, "{:?}", suite.suite);
                client.handle(back);
                assert_eq!(client.failure(), None);
                moved = true;
                seen += 1;
            }
            if !moved {
                break;
            }
        }
        assert!(client.is_handshake_complete() && server.is_handshake_complete());
        assert!(seen >= 8, "{seen}");
        // Application data and an alert record too.
        client.send_application_data(b"ping").unwrap();
        let m = client.poll_transmit().unwrap();
        assert_eq!(from_request(to_request(m.clone()).unwrap()).unwrap(), m);
    }
}

#[test]
fn messages_of_the_wrong_role_are_internal_errors() {
    let (c, _) = configs();
    let mut client = Connection::client(
        Arc::new(c),
        ServerName::try_from("localhost").unwrap(),
        test_pki::valid_now(),
        Box::new(SeededRng::new(1)),
    )
    .unwrap();
    let hello = client.poll_transmit().unwrap();
    let err = to_response(hello).unwrap_err();
    assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
    assert_eq!(client.role(), Role::Client);
}

fn hello() -> pb::ClientHello {
    pb::ClientHello {
        client_version: 0x0303,
        random: vec![7; 32],
        session_id: vec![],
        cipher_suites: vec![pb::CipherSuite::TlsRsaWithAes128GcmSha256 as i32],
        compression_methods: vec![0],
        extensions: Some(pb::Extensions {
            items: vec![pb::Extension {
                r#type: 23,
                data: vec![],
            }],
        }),
    }
}

fn req(h: pb::ClientHello) -> pb::ConnectRequest {
    pb::ConnectRequest {
        message: Some(pb::connect_request::Message::ClientHello(h)),
    }
}

#[test]
fn a_well_formed_hello_decodes_to_its_rfc_encoding() {
    let Message::Handshake(m) = from_request(req(hello())).unwrap() else {
        panic!("not a handshake message")
    };
    use handshake::msgs::codec::Codec;
    let enc = m.get_encoding().unwrap();
    // u8(1) || u24(len) || 0303 || random || 00 || 0002 009c || 01 00 || 0004 0017 0000
    assert_eq!(&enc[..4], &[1, 0, 0, (enc.len() - 4) as u8]);
    assert_eq!(&enc[4..6], &[3, 3]);
    assert_eq!(&enc[38..], &[0, 0, 2, 0, 0x9c, 1, 0, 0, 4, 0, 0x17, 0, 0]);
}

#[test]
fn malformed_protobuf_is_decode_error() {
    let cases: Vec<(&str, pb::ConnectRequest)> = vec![
        ("empty", pb::ConnectRequest { message: None }),
        (
            "short random",
            req(pb::ClientHello {
                random: vec![1; 31],
                ..hello()
            }),
        ),
        (
            "long session id",
            req(pb::ClientHello {
                session_id: vec![1; 33],
                ..hello()
            }),
        ),
        (
            "no suites",
            req(pb::ClientHello {
                cipher_suites: vec![],
                ..hello()
            }),
        ),
        (
            "suite over 2 bytes",
            req(pb::ClientHello {
                cipher_suites: vec![70_000],
                ..hello()
            }),
        ),
        (
            "negative suite",
            req(pb::ClientHello {
                cipher_suites: vec![-1],
                ..hello()
            }),
        ),
        (
            "version over 2 bytes",
            req(pb::ClientHello {
                client_version: 0x1_0303,
                ..hello()
            }),
        ),
        (
            "no compression",
            req(pb::ClientHello {
                compression_methods: vec![],
                ..hello()
            }),
        ),
        (
            "extension data over 2^16",
            req(pb::ClientHello {
                extensions: Some(pb::Extensions {
                    items: vec![pb::Extension {
                        r#type: 99,
                        data: vec![0; 70_000],
                    }],
                }),
                ..hello()
            }),
        ),
        (
            "extension type over 2 bytes",
            req(pb::ClientHello {
                extensions: Some(pb::Extensions {
                    items: vec![pb::Extension {
                        r#type: 70_000,
                        data: vec![],
                    }],
                }),
                ..hello()
            }),
        ),
        (
            "malformed known extension",
            req(pb::ClientHello {
                extensions: Some(pb::Extensions {
                    items: vec![pb::Extension {
                        r#type: 10,
                        data: vec![0, 5, 0],
                    }],
                }),
                ..hello()
            }),
        ),
        (
            "empty key exchange",
            pb::ConnectRequest {
                message: Some(pb::connect_request::Message::ClientKeyExchange(
                    pb::ClientKeyExchange {
                        exchange_keys: None,
                    },
                )),
            },
        ),
        (
            "ecdh public over 255",
            pb::ConnectRequest {
                message: Some(pb::connect_request::Message::ClientKeyExchange(
                    pb::ClientKeyExchange {
                        exchange_keys: Some(pb::client_key_exchange::ExchangeKeys::EcdhPublic(
                            vec![4; 300],
                        )),
                    },
                )),
            },
        ),
        (
            "alert level over a byte",
            pb::ConnectRequest {
                message: Some(pb::connect_request::Message::Alert(pb::Alert {
                    level: 300,
                    description: 0,
                })),
            },
        ),
    ];
    for (what, r) in cases {
        let err = from_request(r).expect_err(what);
        assert_eq!(err.alert(), AlertDescription::DECODE_ERROR, "{what}: {err}");
    }
    let ccs_record = pb::ConnectRequest {
        message: Some(pb::connect_request::Message::EncryptedRecord(
            pb::EncryptedRecord {
                content_type: 20,
                fragment: vec![1],
            },
        )),
    };
    assert_eq!(
        from_request(ccs_record).unwrap_err().alert(),
        AlertDescription::UNEXPECTED_MESSAGE
    );
}

#[test]
fn json_uses_enum_names() {
    let json = serde_json::to_string(&hello()).unwrap();
    assert!(
        json.contains("CIPHER_SUITE_TLS_RSA_WITH_AES_128_GCM_SHA256"),
        "{json}"
    );
    let back: pb::ClientHello = serde_json::from_str(&json).unwrap();
    assert_eq!(back, hello());
}
