//! Known answers from OpenSSL: whole TLS 1.2 sessions that OpenSSL 3's
//! `s_client` and `s_server` made with each other, recorded on the wire by
//! `scripts/record-kat.sh` (see `tests/data/kat/README.md`), replayed here
//! through the engine's record deframer, message codec, RSA pre-master
//! decryption, key schedule and record layer.
//!
//! Nothing in these sessions came from the engine: the randoms, the
//! encrypted pre-master, both Finished messages and the application data
//! are OpenSSL's, and the master secret to match is the one OpenSSL wrote to
//! its key log. So when the engine derives that master secret, both
//! verify_data values OpenSSL sent, and the plaintext OpenSSL sent, it
//! computes what OpenSSL computes:
//!
//! - the deframed handshake messages re-encode to the exact recorded bytes
//!   (which the test cuts out of the byte stream itself);
//! - `ServerKey::decrypt_pre_master` recovers the pre-master OpenSSL's
//!   client logged (its `RSA` key log line) from the recorded
//!   ClientKeyExchange;
//! - `SessionSecrets::new` gives the logged master secret, with RFC 7627's
//!   extended master secret exactly when both hellos carry the extension
//!   (session_hash taken with the public `Transcript` over the recorded
//!   ClientHello .. ClientKeyExchange), and `key_log_line` is OpenSSL's line;
//! - the record keys open OpenSSL's protected records in both directions,
//!   the Finished verify_data are `SessionSecrets::verify_data` over the
//!   transcript hashes, and the application data is the line the script sent
//!   (and the server's echo of it, reversed).
//!
//! The other direction: the recorded ClientHello and ClientKeyExchange are
//! fed to a real engine server with the same certificate and key, which must
//! accept them, choose the same suite, make the same extended master secret
//! decision, send the same Certificate message, and decrypt the same
//! pre-master.
//!
//! Every check is shown to be able to fail (the `*_is_caught` tests): a
//! flipped byte of the pre-master ciphertext, the wrong EMS decision, a
//! transcript missing a message or hashed with the wrong hash, a lossy
//! decoder, a tampered record, a server without the suite.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::Feed;
use handshake::Deframer;
use handshake::SeededRng;
use handshake::ServerKey;
use handshake::msgs::codec::Codec;
use handshake::msgs::enums::{AlertLevel, ContentType, ProtocolVersion};
use handshake::msgs::extensions::{ClientExtension, ServerExtension};
use handshake::msgs::handshake::{ClientHello, HandshakeMessage, HandshakePayload, ServerHello};
use handshake::{
    Alert, AlertDescription, CertifiedKey, CipherSuite, Connection, Event, Message,
    ProtectedRecord, Role, ServerConfig, Step, StepDetail,
};
use handshake::{HashAlgorithm, SuiteParams, lookup};
use handshake::{SessionSecrets, Transcript, hex};
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

/// The line `scripts/record-kat.sh` makes `s_client` send; `s_server -rev`
/// answers with it reversed.
const LINE: &str = "known answer: one line of application data from scripts/record-kat.sh";

/// One recorded session and what OpenSSL was asked to do.
struct Kat {
    /// Directory under tests/data/kat/.
    name: &'static str,
    suite: CipherSuite,
    /// The suite's PRF and transcript hash, written out here rather than
    /// taken from the engine's suite table.
    hash: HashAlgorithm,
    /// s_client offered extended_master_secret.
    client_offers_ems: bool,
    /// s_server was willing to use it.
    server_agrees_ems: bool,
}

const KATS: &[Kat] = &[
    Kat {
        name: "rsa-aes128-gcm-sha256-ems",
        suite: CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        hash: HashAlgorithm::Sha256,
        client_offers_ems: true,
        server_agrees_ems: true,
    },
    Kat {
        name: "rsa-aes256-gcm-sha384-ems",
        suite: CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        hash: HashAlgorithm::Sha384,
        client_offers_ems: true,
        server_agrees_ems: true,
    },
    Kat {
        name: "rsa-aes128-gcm-sha256-no-ems",
        suite: CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        hash: HashAlgorithm::Sha256,
        client_offers_ems: false,
        server_agrees_ems: true,
    },
    Kat {
        name: "rsa-aes256-gcm-sha384-server-no-ems",
        suite: CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        hash: HashAlgorithm::Sha384,
        client_offers_ems: true,
        server_agrees_ems: false,
    },
];

impl Kat {
    fn expect_ems(&self) -> bool {
        self.client_offers_ems && self.server_agrees_ems
    }

    fn params(&self) -> &'static SuiteParams {
        let params = lookup(self.suite).expect("the engine implements the suite");
        assert_eq!(params.hash, self.hash, "{}: the suite's hash", self.name);
        params
    }

    fn load(&self) -> Recording {
        let dir = data_dir().join(self.name);
        Recording {
            c2s: read(&dir.join("c2s.bin")),
            s2c: read(&dir.join("s2c.bin")),
            keylog: KeyLog::parse(&String::from_utf8(read(&dir.join("keylog.txt"))).unwrap()),
        }
    }
}

// ---------------------------------------------------------------------------
// The recorded data

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/kat")
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (recorded by scripts/record-kat.sh)",
            path.display()
        )
    })
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The lab certificate and its key (PKCS#8 DER), shared by every session.
fn server_cert() -> CertificateDer<'static> {
    CertificateDer::from(read(&data_dir().join("server.crt.der")))
}

fn server_key_pkcs8() -> Vec<u8> {
    read(&data_dir().join("server.key.der"))
}

/// One session as recorded: the raw TCP bytes of each direction and the key log.
#[derive(Clone)]
struct Recording {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    keylog: KeyLog,
}

/// keylog.txt: OpenSSL's NSS key log lines for the session.
#[derive(Clone, Debug)]
struct KeyLog {
    /// `RSA <first 8 bytes of the encrypted pre-master> <pre-master>`
    /// (s_client's log).
    rsa_ciphertext_prefix: Vec<u8>,
    pre_master: Vec<u8>,
    /// `CLIENT_RANDOM <client random> <master secret>`, the whole line
    /// (identical in s_client's and s_server's logs).
    client_random_line: String,
    client_random: Vec<u8>,
    master_secret: Vec<u8>,
}

impl KeyLog {
    fn parse(text: &str) -> Self {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            2,
            "keylog.txt: an RSA and a CLIENT_RANDOM line"
        );
        let rsa: Vec<&str> = lines[0].split(' ').collect();
        let cr: Vec<&str> = lines[1].split(' ').collect();
        assert_eq!((rsa.len(), rsa[0]), (3, "RSA"), "{}", lines[0]);
        assert_eq!((cr.len(), cr[0]), (3, "CLIENT_RANDOM"), "{}", lines[1]);
        let log = Self {
            rsa_ciphertext_prefix: unhex(rsa[1]),
            pre_master: unhex(rsa[2]),
            client_random_line: lines[1].to_string(),
            client_random: unhex(cr[1]),
            master_secret: unhex(cr[2]),
        };
        assert_eq!(log.rsa_ciphertext_prefix.len(), 8);
        assert_eq!(log.pre_master.len(), 48);
        assert_eq!(log.client_random.len(), 32);
        assert_eq!(log.master_secret.len(), 48);
        log
    }
}

// ---------------------------------------------------------------------------
// Taking the byte streams apart

/// The plaintext handshake messages at the start of a stream (everything
/// before the first ChangeCipherSpec record), cut out of the raw bytes by
/// the test itself: record headers stripped, handshake fragments joined,
/// then split at each 4-byte handshake header. These are the bytes OpenSSL
/// sent and hashed, independent of the engine's deframer and codec.
fn raw_handshake_messages(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut joined = Vec::new();
    let mut at = 0;
    while at + 5 <= stream.len() {
        let typ = stream[at];
        let len = usize::from(u16::from_be_bytes([stream[at + 3], stream[at + 4]]));
        if typ == 20 {
            break;
        }
        assert_eq!(typ, 22, "only handshake records before ChangeCipherSpec");
        joined.extend_from_slice(&stream[at + 5..at + 5 + len]);
        at += 5 + len;
    }
    let mut out = Vec::new();
    let mut rest = &joined[..];
    while !rest.is_empty() {
        let len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
        out.push(rest[..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    out
}

/// Every message the engine's deframer yields from a whole stream.
fn deframe(stream: &[u8]) -> Vec<Message> {
    let mut d = Deframer::new();
    d.push(stream);
    let mut out = Vec::new();
    while let Some(m) = d.pop().expect("the recorded stream deframes") {
        out.push(m);
    }
    assert_eq!(d.buffered(), 0, "the whole stream was consumed");
    out
}

/// One direction: plaintext handshake messages, one ChangeCipherSpec, then
/// protected records.
struct Flight {
    handshake: Vec<HandshakeMessage>,
    /// The recorded bytes of each handshake message, cut by the test.
    raw: Vec<Vec<u8>>,
    protected: Vec<ProtectedRecord>,
}

fn flight(stream: &[u8]) -> Flight {
    let mut handshake = Vec::new();
    let mut protected = Vec::new();
    let mut change_cipher_specs = 0;
    for m in deframe(stream) {
        match m {
            Message::RawHandshake(raw) => {
                assert_eq!(change_cipher_specs, 0, "plaintext handshake after CCS");
                handshake.push(raw.decode().expect("a recorded message decodes"));
            }
            Message::Handshake(h) => panic!("the deframer decoded {h:?} itself"),
            Message::ChangeCipherSpec => change_cipher_specs += 1,
            Message::Protected(p) => {
                assert_eq!(change_cipher_specs, 1, "protected record before CCS");
                protected.push(p);
            }
            Message::Alert(a) => panic!("plaintext alert {a:?} in a good session"),
        }
    }
    assert_eq!(change_cipher_specs, 1);
    let raw = raw_handshake_messages(stream);
    assert_eq!(
        raw.len(),
        handshake.len(),
        "the test and the deframer agree on the count"
    );
    Flight {
        handshake,
        raw,
        protected,
    }
}

/// A whole session, taken apart and checked for shape.
struct Session {
    client_hello: ClientHello,
    server_hello: ServerHello,
    /// ClientHello, ServerHello, Certificate, ServerHelloDone,
    /// ClientKeyExchange: decoded, in the order they were sent.
    messages: [HandshakeMessage; 5],
    /// The same five as recorded on the wire.
    raw: [Vec<u8>; 5],
    encrypted_pre_master: Vec<u8>,
    /// The protected records after each side's ChangeCipherSpec: the
    /// Finished first, then application data and alerts.
    from_client: Vec<ProtectedRecord>,
    from_server: Vec<ProtectedRecord>,
}

fn session(rec: &Recording) -> Session {
    let c = flight(&rec.c2s);
    let s = flight(&rec.s2c);
    let types = |f: &Flight| f.handshake.iter().map(|m| m.typ()).collect::<Vec<_>>();
    assert_eq!(
        format!("{:?} {:?}", types(&c), types(&s)),
        "[client_hello, client_key_exchange] [server_hello, certificate, server_hello_done]",
        "the RSA key transport flights, no ticket, no client certificate"
    );
    let [ch, cke]: [HandshakeMessage; 2] = c.handshake.try_into().unwrap();
    let [sh, cert, shd]: [HandshakeMessage; 3] = s.handshake.try_into().unwrap();
    let [ch_raw, cke_raw]: [Vec<u8>; 2] = c.raw.try_into().unwrap();
    let [sh_raw, cert_raw, shd_raw]: [Vec<u8>; 3] = s.raw.try_into().unwrap();
    let HandshakePayload::ClientHello(client_hello) = ch.payload.clone() else {
        unreachable!()
    };
    let HandshakePayload::ServerHello(server_hello) = sh.payload.clone() else {
        unreachable!()
    };
    let HandshakePayload::ClientKeyExchange(k) = &cke.payload else {
        unreachable!()
    };
    let encrypted_pre_master = k
        .encrypted_pre_master()
        .expect("an RSA EncryptedPreMasterSecret")
        .to_vec();
    Session {
        client_hello,
        server_hello,
        messages: [ch, sh, cert, shd, cke],
        raw: [ch_raw, sh_raw, cert_raw, shd_raw, cke_raw],
        encrypted_pre_master,
        from_client: c.protected,
        from_server: s.protected,
    }
}

// ---------------------------------------------------------------------------
// What the engine computes

/// Hash(handshake_messages) over the recorded messages, with the engine's
/// public [`Transcript`] (each message decoded, then hashed as it
/// re-encodes: the recorded bytes, as
/// `handshake_messages_decode_and_re_encode_to_the_recorded_bytes` shows).
fn hash(alg: HashAlgorithm, parts: &[&[u8]]) -> Vec<u8> {
    let mut transcript = Transcript::default();
    transcript.start(alg);
    // An empty part (a Finished left out on purpose) adds nothing.
    for p in parts.iter().filter(|p| !p.is_empty()) {
        let m = HandshakeMessage::read_bytes(p).expect("one recorded handshake message");
        transcript.add(&m).expect("it re-encodes");
    }
    transcript.hash().expect("the hash is started")
}

fn client_offers_ems(ch: &ClientHello) -> bool {
    ch.extensions()
        .contains(&ClientExtension::ExtendedMasterSecret)
}

fn server_agrees_ems(sh: &ServerHello) -> bool {
    sh.extensions()
        .contains(&ServerExtension::ExtendedMasterSecret)
}

/// RSA key transport, the server's side: the pre-master from the recorded
/// ClientKeyExchange with the lab key.
fn pre_master(s: &Session) -> Zeroizing<Vec<u8>> {
    let key = ServerKey::from_pkcs8(&server_key_pkcs8()).expect("the lab key loads");
    key.decrypt_pre_master(
        &s.encrypted_pre_master,
        s.client_hello.client_version,
        &mut SeededRng::new(1),
    )
    .expect("decryption never fails outright (RFC 5246 7.4.7.1)")
}

/// The session's secrets from the recorded hellos, the pre-master and the
/// EMS decision; with EMS, session_hash = Hash(ClientHello ..
/// ClientKeyExchange) as recorded.
fn derive(kat: &Kat, s: &Session, pre_master: Zeroizing<Vec<u8>>, ems: bool) -> SessionSecrets {
    let session_hash = ems.then(|| hash(kat.hash, &s.raw.each_ref().map(Vec::as_slice)));
    SessionSecrets::new(
        kat.params(),
        &s.client_hello.random,
        &s.server_hello.random,
        pre_master,
        session_hash.as_deref(),
    )
    .expect("secrets derive")
}

/// Every protected record of a session, opened with the session keys.
#[derive(Debug)]
struct Opened {
    /// The verify_data of each Finished (the first protected record of
    /// each side).
    client_verify_data: Vec<u8>,
    server_verify_data: Vec<u8>,
    /// The client's whole Finished message, for the server's transcript.
    client_finished: Vec<u8>,
    /// What each side sent after its Finished: (content type, plaintext).
    client_rest: Vec<(ContentType, Vec<u8>)>,
    server_rest: Vec<(ContentType, Vec<u8>)>,
}

/// Opens `records` as `reader` would, with the record layer the session's
/// keys give it.
fn open_all(
    secrets: &SessionSecrets,
    reader: Role,
    records: &[ProtectedRecord],
) -> Result<Vec<(ContentType, Vec<u8>)>, handshake::Error> {
    let (_, mut dec) = secrets.record_layer(reader)?;
    records
        .iter()
        .map(|r| Ok((r.typ, dec.decrypt(r.typ, &r.fragment)?)))
        .collect()
}

/// The verify_data of a decrypted Finished record.
fn verify_data_of((typ, plain): &(ContentType, Vec<u8>)) -> Vec<u8> {
    assert_eq!(
        *typ,
        ContentType::HANDSHAKE,
        "the first protected record is Finished"
    );
    let m = HandshakeMessage::read_bytes(plain).expect("Finished decodes");
    assert_eq!(
        &m.get_encoding().unwrap(),
        plain,
        "Finished re-encodes exactly"
    );
    let HandshakePayload::Finished(f) = m.payload else {
        panic!("{} instead of Finished", m.typ())
    };
    f.verify_data
}

/// Opens both sides' records with the engine's record layer: the server's
/// decrypter opens what the client wrote, the client's what the server wrote.
fn open_records(secrets: &SessionSecrets, s: &Session) -> Result<Opened, handshake::Error> {
    let mut client = open_all(secrets, Role::Server, &s.from_client)?;
    let mut server = open_all(secrets, Role::Client, &s.from_server)?;
    let client_finished = client.remove(0);
    let server_finished = server.remove(0);
    Ok(Opened {
        client_verify_data: verify_data_of(&client_finished),
        server_verify_data: verify_data_of(&server_finished),
        client_finished: client_finished.1,
        client_rest: client,
        server_rest: server,
    })
}

/// verify_data per RFC 5246 7.4.9 over the recorded transcript: the
/// client's covers ClientHello .. ClientKeyExchange, the server's also the
/// client's Finished.
fn expected_verify_data(
    secrets: &SessionSecrets,
    alg: HashAlgorithm,
    transcript: &[&[u8]],
    client_finished: &[u8],
) -> ([u8; 12], [u8; 12]) {
    let client = secrets
        .verify_data(Role::Client, &hash(alg, transcript))
        .unwrap();
    let with_finished: Vec<&[u8]> = transcript
        .iter()
        .copied()
        .chain([client_finished])
        .collect();
    let server = secrets
        .verify_data(Role::Server, &hash(alg, &with_finished))
        .unwrap();
    (client, server)
}

fn close_notify() -> Vec<u8> {
    Alert {
        level: AlertLevel::WARNING,
        description: AlertDescription::CLOSE_NOTIFY,
    }
    .get_encoding()
    .unwrap()
}

// ---------------------------------------------------------------------------
// The known answers

#[test]
fn recordings_cover_both_hashes_with_and_without_ems() {
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
        assert!(KATS.iter().any(|k| k.hash == hash && k.expect_ems()));
        assert!(KATS.iter().any(|k| k.hash == hash && !k.expect_ems()));
    }
}

#[test]
fn handshake_messages_decode_and_re_encode_to_the_recorded_bytes() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        for (m, raw) in s.messages.iter().zip(&s.raw) {
            assert_eq!(
                hex(&m.get_encoding().unwrap()),
                hex(raw),
                "{}: {} re-encodes to what OpenSSL sent",
                kat.name,
                m.typ()
            );
            // And decoding the recorded bytes directly gives the same message.
            assert_eq!(&HandshakeMessage::read_bytes(raw).unwrap(), m);
        }
        // What OpenSSL offered and chose, as recorded.
        let (ch, sh) = (&s.client_hello, &s.server_hello);
        assert_eq!(ch.client_version, ProtocolVersion::TLSV1_2, "{}", kat.name);
        assert_eq!(sh.server_version, ProtocolVersion::TLSV1_2, "{}", kat.name);
        assert!(ch.cipher_suites.contains(&kat.suite), "{}", kat.name);
        assert_eq!(sh.cipher_suite, kat.suite, "{}", kat.name);
        assert_eq!(client_offers_ems(ch), kat.client_offers_ems, "{}", kat.name);
        assert_eq!(
            server_agrees_ems(sh),
            kat.expect_ems(),
            "{}: the server answers EMS only when offered and willing",
            kat.name
        );
        assert_eq!(
            hex(&ch.random),
            hex(&rec.keylog.client_random),
            "{}",
            kat.name
        );
        // The Certificate message carries the lab certificate, alone.
        let HandshakePayload::Certificate(c) = &s.messages[2].payload else {
            unreachable!()
        };
        assert_eq!(c.certificate_list, vec![server_cert()], "{}", kat.name);
        // The ClientKeyExchange carries a 2048-bit RSA ciphertext whose
        // first bytes OpenSSL logged.
        assert_eq!(s.encrypted_pre_master.len(), 256, "{}", kat.name);
        assert_eq!(
            hex(&s.encrypted_pre_master[..8]),
            hex(&rec.keylog.rsa_ciphertext_prefix),
            "{}",
            kat.name
        );
    }
}

#[test]
fn engine_computes_what_openssl_computed() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        assert_eq!(kat.params().hash, kat.hash);

        // Pre-master: the one OpenSSL's client encrypted.
        let pm = pre_master(&s);
        assert_eq!(
            hex(&pm),
            hex(&rec.keylog.pre_master),
            "{}: pre-master",
            kat.name
        );

        // Master secret and key log line: OpenSSL's.
        let ems = client_offers_ems(&s.client_hello) && server_agrees_ems(&s.server_hello);
        assert_eq!(ems, kat.expect_ems(), "{}", kat.name);
        let secrets = derive(kat, &s, pm, ems);
        assert_eq!(secrets.extended_master_secret(), ems);
        assert_eq!(
            hex(secrets.master_secret()),
            hex(&rec.keylog.master_secret),
            "{}: master secret",
            kat.name
        );
        assert_eq!(
            secrets.key_log_line(),
            rec.keylog.client_random_line,
            "{}: key log line",
            kat.name
        );

        // Both Finished records open with the derived keys, and their
        // verify_data are what the engine computes over the transcript.
        let opened =
            open_records(&secrets, &s).expect("OpenSSL's records open with the engine's keys");
        let transcript = s.raw.each_ref().map(Vec::as_slice);
        let (client_vd, server_vd) =
            expected_verify_data(&secrets, kat.hash, &transcript, &opened.client_finished);
        assert_eq!(
            hex(&opened.client_verify_data),
            hex(&client_vd),
            "{}: client verify_data",
            kat.name
        );
        assert_eq!(
            hex(&opened.server_verify_data),
            hex(&server_vd),
            "{}: server verify_data",
            kat.name
        );

        // The application data: the line and its echo, each followed by
        // that side's close_notify.
        let reversed: String = LINE.chars().rev().collect();
        assert_eq!(
            opened.client_rest,
            vec![
                (
                    ContentType::APPLICATION_DATA,
                    format!("{LINE}\n").into_bytes()
                ),
                (ContentType::ALERT, close_notify()),
            ],
            "{}: what the client sent after Finished",
            kat.name
        );
        assert_eq!(
            opened.server_rest,
            vec![
                (
                    ContentType::APPLICATION_DATA,
                    format!("{reversed}\n").into_bytes()
                ),
                (ContentType::ALERT, close_notify()),
            ],
            "{}: what the server sent after Finished",
            kat.name
        );
    }
}

/// An engine server with the lab certificate, EMS as s_server had it.
fn engine_server(kat: &Kat, suites: Option<Vec<CipherSuite>>) -> Connection {
    let key = CertifiedKey::new(vec![server_cert()], &server_key_pkcs8()).unwrap();
    let mut config = ServerConfig::new(vec![key]).unwrap();
    config.extended_master_secret = kat.server_agrees_ems;
    if let Some(suites) = suites {
        config.cipher_suites = suites;
    }
    Connection::server(Arc::new(config), Box::new(SeededRng::new(7))).unwrap()
}

#[test]
fn engine_server_accepts_openssls_client_flight() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        let mut server = engine_server(kat, None);
        server
            .feed(Message::Handshake(s.messages[0].clone()))
            .unwrap_or_else(|e| {
                panic!(
                    "{}: the engine refuses OpenSSL's ClientHello: {e}",
                    kat.name
                )
            });
        let sent: Vec<Message> = std::iter::from_fn(|| server.poll_transmit()).collect();
        let [
            Message::Handshake(sh),
            Message::Handshake(cert),
            Message::Handshake(shd),
        ] = &sent[..]
        else {
            panic!(
                "{}: not ServerHello, Certificate, ServerHelloDone: {sent:?}",
                kat.name
            )
        };
        let HandshakePayload::ServerHello(sh) = &sh.payload else {
            panic!("{}: {} first", kat.name, sh.typ())
        };
        // Its own random, so not OpenSSL's ServerHello; but the same choices.
        assert_eq!(
            sh.cipher_suite, s.server_hello.cipher_suite,
            "{}: suite",
            kat.name
        );
        assert_eq!(
            server_agrees_ems(sh),
            server_agrees_ems(&s.server_hello),
            "{}: EMS decision",
            kat.name
        );
        let ems_event = std::iter::from_fn(|| server.poll_event()).find_map(|e| match e {
            Event::Step(se) if se.step == Step::ServerHello => match se.detail {
                StepDetail::ServerHello {
                    extended_master_secret,
                    ..
                } => Some(extended_master_secret),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(ems_event, Some(kat.expect_ems()), "{}", kat.name);
        // Certificate and ServerHelloDone are byte for byte OpenSSL's.
        assert_eq!(
            hex(&cert.get_encoding().unwrap()),
            hex(&s.raw[2]),
            "{}",
            kat.name
        );
        assert_eq!(
            hex(&shd.get_encoding().unwrap()),
            hex(&s.raw[3]),
            "{}",
            kat.name
        );

        // The recorded ClientKeyExchange: the engine's server decrypts the
        // pre-master OpenSSL's client logged.
        server
            .feed(Message::Handshake(s.messages[4].clone()))
            .unwrap_or_else(|e| panic!("{}: ClientKeyExchange refused: {e}", kat.name));
        let secrets = server
            .secrets()
            .expect("keys derived after ClientKeyExchange");
        assert_eq!(secrets.suite().suite, kat.suite);
        assert_eq!(
            hex(secrets.pre_master_secret()),
            hex(&rec.keylog.pre_master),
            "{}: the engine server's pre-master",
            kat.name
        );
        // The rest of OpenSSL's flight belongs to OpenSSL's ServerHello
        // (another server random): its Finished does not open here.
        server.feed(Message::ChangeCipherSpec).unwrap();
        let err = server
            .feed(Message::Protected(s.from_client[0].clone()))
            .unwrap_err();
        assert_eq!(
            err.alert(),
            AlertDescription::BAD_RECORD_MAC,
            "{}",
            kat.name
        );
    }
}

// ---------------------------------------------------------------------------
// Each check can fail

/// `rec` with one byte of the RSA ciphertext in the ClientKeyExchange
/// flipped, found by the 8 bytes OpenSSL logged.
fn with_flipped_pre_master_ciphertext(rec: &Recording) -> Recording {
    let prefix = &rec.keylog.rsa_ciphertext_prefix;
    let at = rec
        .c2s
        .windows(prefix.len())
        .position(|w| w == &prefix[..])
        .expect("the ciphertext is in the stream");
    let mut bad = rec.clone();
    bad.c2s[at + 100] ^= 0x01;
    bad
}

#[test]
fn flipped_pre_master_ciphertext_is_caught() {
    for kat in KATS {
        let rec = with_flipped_pre_master_ciphertext(&kat.load());
        let s = session(&rec);
        let pm = pre_master(&s);
        // RFC 5246 7.4.7.1: no error, a random pre-master instead.
        assert_eq!(pm.len(), 48);
        assert_eq!(pm[..2], [3, 3], "client_version first");
        assert_ne!(hex(&pm), hex(&rec.keylog.pre_master), "{}", kat.name);
        let secrets = derive(kat, &s, pm, kat.expect_ems());
        assert_ne!(hex(secrets.master_secret()), hex(&rec.keylog.master_secret));
        assert_ne!(secrets.key_log_line(), rec.keylog.client_random_line);
        // OpenSSL's records do not open with these keys.
        let err = open_records(&secrets, &s).expect_err("records must not open");
        assert_eq!(
            err.alert(),
            AlertDescription::BAD_RECORD_MAC,
            "{}",
            kat.name
        );

        // The engine server, fed the same, derives another pre-master and
        // says nothing at ClientKeyExchange (no padding oracle).
        let mut server = engine_server(kat, None);
        server
            .feed(Message::Handshake(s.messages[0].clone()))
            .unwrap();
        server
            .feed(Message::Handshake(s.messages[4].clone()))
            .unwrap();
        let got = server.secrets().unwrap().pre_master_secret();
        assert_ne!(hex(got), hex(&rec.keylog.pre_master), "{}", kat.name);
    }
}

#[test]
fn wrong_ems_decision_is_caught() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        let wrong = derive(kat, &s, pre_master(&s), !kat.expect_ems());
        assert_ne!(
            hex(wrong.master_secret()),
            hex(&rec.keylog.master_secret),
            "{}",
            kat.name
        );
        assert!(open_records(&wrong, &s).is_err());
    }
}

#[test]
fn wrong_transcript_or_hash_is_caught() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        let secrets = derive(kat, &s, pre_master(&s), kat.expect_ems());
        let opened = open_records(&secrets, &s).unwrap();
        let full = s.raw.each_ref().map(Vec::as_slice);
        let wrong_hash = match kat.hash {
            HashAlgorithm::Sha256 => HashAlgorithm::Sha384,
            HashAlgorithm::Sha384 => HashAlgorithm::Sha256,
        };
        let without_certificate = [full[0], full[1], full[3], full[4]];
        let reordered = [full[1], full[0], full[2], full[3], full[4]];
        for (what, alg, transcript) in [
            ("wrong hash", wrong_hash, &full[..]),
            ("Certificate left out", kat.hash, &without_certificate[..]),
            ("hellos swapped", kat.hash, &reordered[..]),
        ] {
            let (c, sv) = expected_verify_data(&secrets, alg, transcript, &opened.client_finished);
            assert_ne!(
                c.to_vec(),
                opened.client_verify_data,
                "{}: {what}",
                kat.name
            );
            assert_ne!(
                sv.to_vec(),
                opened.server_verify_data,
                "{}: {what}",
                kat.name
            );
        }
        // The server's hash must include the client's Finished.
        let (_, sv) = expected_verify_data(&secrets, kat.hash, &full, &[]);
        assert_ne!(sv.to_vec(), opened.server_verify_data, "{}", kat.name);
        // And the labels are not interchangeable.
        let swapped = secrets
            .verify_data(Role::Server, &hash(kat.hash, &full))
            .unwrap();
        assert_ne!(swapped.to_vec(), opened.client_verify_data, "{}", kat.name);
        // With EMS the randoms reach the master secret only through
        // session_hash: one changed byte of the hashed ClientHello changes it.
        if kat.expect_ems() {
            let mut raw = s.raw.clone();
            raw[0][6] ^= 0x01; // first byte of the random (after header, version)
            let mut tampered = session(&rec);
            tampered.raw = raw;
            let other = derive(kat, &tampered, pre_master(&s), true);
            assert_ne!(other.master_secret(), secrets.master_secret());
        }
    }
}

#[test]
fn lossy_decoding_or_tampered_records_are_caught() {
    for kat in KATS {
        let rec = kat.load();
        let s = session(&rec);
        // A decoder that dropped an extension it does not understand (here
        // encrypt_then_mac, which OpenSSL always offers) would change the
        // transcript: the re-encoding check sees it.
        let mut ch = s.client_hello.clone();
        let before = ch.extensions().len();
        ch.extensions
            .as_mut()
            .unwrap()
            .retain(|e| !matches!(e, ClientExtension::Unknown { .. }));
        assert!(
            ch.extensions().len() < before,
            "{}: an unknown extension",
            kat.name
        );
        let lossy = HandshakeMessage::from(HandshakePayload::ClientHello(ch));
        assert_ne!(
            hex(&lossy.get_encoding().unwrap()),
            hex(&s.raw[0]),
            "{}",
            kat.name
        );

        // A flipped byte in any protected record: it does not open.
        let secrets = derive(kat, &s, pre_master(&s), kat.expect_ems());
        for (side, i) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let mut bad = session(&rec);
            let records = if side == 0 {
                &mut bad.from_client
            } else {
                &mut bad.from_server
            };
            let last = records[i].fragment.len() - 1;
            records[i].fragment[last] ^= 0x80;
            let err = open_records(&secrets, &bad).expect_err("must not open");
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
        }
        // Keys of the wrong direction do not open OpenSSL's records.
        let (_, mut client_side) = secrets.record_layer(Role::Client).unwrap();
        let r = &s.from_client[0];
        assert!(client_side.decrypt(r.typ, &r.fragment).is_err());
    }
}

#[test]
fn engine_server_without_the_suite_refuses() {
    for kat in KATS {
        let s = session(&kat.load());
        let others: Vec<CipherSuite> = handshake::ALL_SUITES
            .iter()
            .map(|p| p.suite)
            .filter(|c| *c != kat.suite)
            .collect();
        let mut server = engine_server(kat, Some(others));
        let err = server
            .feed(Message::Handshake(s.messages[0].clone()))
            .unwrap_err();
        assert_eq!(
            err.alert(),
            AlertDescription::HANDSHAKE_FAILURE,
            "{}",
            kat.name
        );
    }
}
