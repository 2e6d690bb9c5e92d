//! The engine against rustls 0.23, in memory, over real TLS records: the
//! engine's messages go through `handshake::encode_records` /
//! `Deframer`, rustls' through `write_tls` / `read_tls` /
//! `process_new_packets`. rustls is an independent TLS 1.2
//! implementation, so a completed handshake, application data both ways
//! and the same master secret on both sides (read from rustls' `KeyLog`)
//! show the engine speaks TLS 1.2 byte for byte.
//!
//! rustls has no RSA key transport, so the suites in common are the six
//! ECDHE ones. rustls always offers (as a client) and accepts (as a server)
//! the extended master secret; it has no switch to turn it off
//! (`require_ems` only makes it mandatory). The sessions without EMS are
//! therefore made by turning it off on the engine's side.
//!
//! rustls speaks TLS 1.2 only with its `tls12` feature, one of its default
//! features. TLS 1.2 is looked up at run time ([`tls12`]) rather than named
//! (`rustls::version::TLS12` exists only with the feature), so that without
//! the feature these tests fail with a message that says what is missing
//! instead of the test binary not compiling.
//!
//! Both sides use a fixed "now" inside the lab certificates' validity
//! (rustls through a `TimeProvider`), so no test depends on the clock.

mod common;

use common::Feed;

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};

use common::pair::{client_config, server_config};
use common::pki::{Leaf, pki, valid_now};
use handshake::SeededRng;
use handshake::{ALL_SUITES, KeyExchange};
use handshake::{
    AlertDescription, CipherSuite, Connection, Error, Event, Origin, Step, StepDetail,
};
use handshake::{Deframer, encode_records};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::time_provider::TimeProvider;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

// ---------------------------------------------------------------------------
// rustls configuration

/// rustls' clock: the tests' fixed `now`.
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(valid_now())
    }
}

/// One line of rustls' key log.
#[derive(Clone, Debug)]
struct Logged {
    label: String,
    client_random: Vec<u8>,
    secret: Vec<u8>,
}

/// Everything rustls logs.
#[derive(Debug, Default)]
struct CapturedKeys(Mutex<Vec<Logged>>);

impl rustls::KeyLog for CapturedKeys {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0.lock().unwrap().push(Logged {
            label: label.to_string(),
            client_random: client_random.to_vec(),
            secret: secret.to_vec(),
        });
    }
}

impl CapturedKeys {
    /// The one CLIENT_RANDOM entry of a TLS 1.2 session: its client_random
    /// and master secret.
    fn client_random_entry(&self) -> Logged {
        let logged = self.0.lock().unwrap();
        let entries: Vec<&Logged> = logged
            .iter()
            .filter(|l| l.label == "CLIENT_RANDOM")
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "one TLS 1.2 master secret logged, got {logged:?}"
        );
        entries[0].clone()
    }
}

/// rustls' TLS 1.2, which needs rustls' `tls12` feature.
fn tls12() -> &'static rustls::SupportedProtocolVersion {
    rustls::ALL_VERSIONS
        .iter()
        .copied()
        .find(|v| v.version == rustls::ProtocolVersion::TLSv1_2)
        .expect(
            "rustls was built without TLS 1.2: its `tls12` feature (a default feature) must be \
             enabled, e.g. features = [\"aws_lc_rs\", \"std\", \"tls12\"] in the workspace Cargo.toml",
        )
}

/// The aws-lc-rs provider with its cipher suites cut down to `suite`.
fn provider(suite: CipherSuite) -> Arc<CryptoProvider> {
    let mut p = aws_lc_rs::default_provider();
    p.cipher_suites.retain(|s| u16::from(s.suite()) == suite.0);
    assert_eq!(p.cipher_suites.len(), 1, "rustls has {suite:?}");
    Arc::new(p)
}

/// The engine's suites that rustls implements for TLS 1.2.
fn common_suites() -> Vec<CipherSuite> {
    let tls12 = tls12();
    let rustls_suites: Vec<u16> = aws_lc_rs::default_provider()
        .cipher_suites
        .iter()
        .filter(|s| s.version() == tls12)
        .map(|s| u16::from(s.suite()))
        .collect();
    let common: Vec<CipherSuite> = ALL_SUITES
        .iter()
        .map(|s| s.suite)
        .filter(|s| rustls_suites.contains(&s.0))
        .collect();
    let ecdhe: Vec<CipherSuite> = ALL_SUITES
        .iter()
        .filter(|s| s.kx.is_ecdhe())
        .map(|s| s.suite)
        .collect();
    assert_eq!(
        common, ecdhe,
        "rustls implements exactly the six ECDHE suites"
    );
    common
}

fn rustls_client_config(suite: CipherSuite, keys: &Arc<CapturedKeys>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("lab CA");
    let mut config =
        rustls::ClientConfig::builder_with_details(provider(suite), Arc::new(FixedTime))
            .with_protocol_versions(&[tls12()])
            .expect("TLS 1.2 with this suite")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.key_log = keys.clone();
    config
}

fn rustls_server_config(
    suite: CipherSuite,
    leaf: &Leaf,
    keys: &Arc<CapturedKeys>,
) -> rustls::ServerConfig {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_pkcs8.clone()));
    let mut config =
        rustls::ServerConfig::builder_with_details(provider(suite), Arc::new(FixedTime))
            .with_protocol_versions(&[tls12()])
            .expect("TLS 1.2 with this suite")
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), key)
            .expect("lab leaf and key");
    config.key_log = keys.clone();
    config
}

/// The lab leaf a suite's server needs.
fn leaf_for(suite: CipherSuite) -> &'static Leaf {
    let params = ALL_SUITES.iter().find(|s| s.suite == suite).unwrap();
    match params.kx {
        KeyExchange::EcdheEcdsa => &pki().ecdsa_p256,
        KeyExchange::EcdheRsa | KeyExchange::Rsa => &pki().rsa,
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

// ---------------------------------------------------------------------------
// The session: the engine on one side, rustls on the other, bytes between.

struct Session {
    engine: Connection,
    deframer: Deframer,
    peer: rustls::Connection,
    engine_events: Vec<Event>,
    engine_error: Option<Error>,
    peer_error: Option<rustls::Error>,
    /// Application data rustls has read.
    peer_received: Vec<u8>,
    /// rustls read close_notify.
    peer_closed: bool,
}

impl Session {
    fn new(engine: Connection, peer: impl Into<rustls::Connection>) -> Self {
        Self {
            engine,
            deframer: Deframer::new(),
            peer: peer.into(),
            engine_events: Vec::new(),
            engine_error: None,
            peer_error: None,
            peer_received: Vec::new(),
            peer_closed: false,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut moved = false;

            let mut wire = Vec::new();
            while let Some(m) = self.engine.poll_transmit() {
                encode_records(&m, &mut wire).unwrap();
            }
            if !wire.is_empty() {
                moved = true;
                self.feed_peer(&wire);
            }

            let mut wire = Vec::new();
            while self.peer.wants_write() {
                self.peer
                    .write_tls(&mut wire)
                    .expect("write_tls into a Vec");
            }
            if !wire.is_empty() {
                moved = true;
                self.feed_engine(&wire);
            }

            while let Some(e) = self.engine.poll_event() {
                self.engine_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the two sides never went quiet");
    }

    fn feed_peer(&mut self, mut wire: &[u8]) {
        if self.peer_error.is_some() {
            return;
        }
        while !wire.is_empty() {
            let n = self
                .peer
                .read_tls(&mut wire)
                .expect("read_tls from a slice");
            assert!(n > 0, "rustls took no bytes");
            if let Err(e) = self.peer.process_new_packets() {
                self.peer_error = Some(e);
                return;
            }
            self.read_peer_plaintext();
        }
    }

    /// Empties rustls' received-plaintext buffer (bounded at 16 KiB, so
    /// it must be read as records come in).
    fn read_peer_plaintext(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.peer.reader().read(&mut buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    return;
                }
                Ok(n) => self.peer_received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("rustls reader: {e}"),
            }
        }
    }

    fn feed_engine(&mut self, wire: &[u8]) {
        if self.engine_error.is_some() {
            return;
        }
        self.deframer.push(wire);
        loop {
            match self.deframer.pop() {
                Ok(Some(m)) => {
                    if let Err(e) = self.engine.feed(m) {
                        self.engine_error = Some(e);
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => panic!("the engine's deframer refused rustls' records: {e}"),
            }
        }
    }

    fn assert_no_errors(&self, what: &str) {
        assert!(
            self.engine_error.is_none() && self.peer_error.is_none(),
            "{what}: engine {:?}, rustls {:?}",
            self.engine_error,
            self.peer_error
        );
    }

    /// Application data the engine has reported since event `from`.
    fn engine_received(&self, from: usize) -> Vec<u8> {
        self.engine_events[from..]
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// The Finish step's verdict on EMS, as the engine reported it.
    fn reported_ems(&self) -> Option<bool> {
        self.engine_events.iter().find_map(|e| match e {
            Event::Step(s) => match &s.detail {
                StepDetail::Finish {
                    extended_master_secret,
                    ..
                } => Some(*extended_master_secret),
                _ => None,
            },
            _ => None,
        })
    }

    /// The handshake completed on both sides with `suite`, EMS as expected,
    /// and the same master secret; then data flows both ways and rustls
    /// closes.
    fn check_complete(&mut self, suite: CipherSuite, ems: bool, keys: &CapturedKeys) {
        let what = format!("{suite:?} (EMS {ems})");
        self.assert_no_errors(&what);
        assert!(self.engine.is_handshake_complete(), "{what}");
        assert!(!self.peer.is_handshaking(), "{what}");
        assert_eq!(
            self.peer.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2),
            "{what}"
        );
        let negotiated = self.peer.negotiated_cipher_suite().expect("rustls suite");
        assert_eq!(u16::from(negotiated.suite()), suite.0, "{what}");
        assert_eq!(self.engine.cipher_suite(), Some(suite), "{what}");

        let secrets = self.engine.secrets().expect("engine secrets");
        assert_eq!(secrets.extended_master_secret(), ems, "{what}");
        assert_eq!(self.reported_ems(), Some(ems), "{what}: Finish event");

        let Logged {
            client_random,
            secret: master_secret,
            ..
        } = keys.client_random_entry();
        assert_eq!(client_random, secrets.client_random(), "{what}");
        assert_eq!(master_secret.len(), 48, "{what}");
        assert_eq!(
            master_secret,
            secrets.master_secret(),
            "{what}: master secrets differ"
        );
        assert_eq!(
            self.engine.key_log_line().as_deref(),
            Some(
                format!(
                    "CLIENT_RANDOM {} {}",
                    hex(&client_random),
                    hex(&master_secret)
                )
                .as_str()
            ),
            "{what}"
        );

        // rustls -> engine.
        for data in [
            &b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            &[0x5a; 40_000],
        ] {
            let from = self.engine_events.len();
            self.peer.writer().write_all(data).expect("rustls write");
            self.drive();
            self.assert_no_errors(&what);
            assert_eq!(self.engine_received(from), data, "{what}: rustls -> engine");
        }
        // engine -> rustls.
        for data in [&b"HTTP/1.1 200 OK\r\n\r\nhello"[..], &[0xa5; 40_000]] {
            self.peer_received.clear();
            self.engine
                .send_application_data(data)
                .expect("engine send");
            self.drive();
            self.assert_no_errors(&what);
            assert_eq!(self.peer_received, data, "{what}: engine -> rustls");
        }
        // rustls closes: a protected close_notify the engine must open.
        self.peer.send_close_notify();
        self.drive();
        self.assert_no_errors(&what);
        assert!(
            self.engine_events.contains(&Event::PeerClosed),
            "{what}: the engine saw close_notify"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A rustls client against the engine's server.
fn rustls_client_session(
    config: rustls::ClientConfig,
    server: handshake::ServerConfig,
    seed: u64,
) -> Session {
    let client = rustls::ClientConnection::new(Arc::new(config), localhost()).expect("client");
    let engine = Connection::server(Arc::new(server), Box::new(SeededRng::new(seed)))
        .expect("engine server");
    let mut s = Session::new(engine, client);
    s.drive();
    s
}

/// The engine's client against a rustls server.
fn rustls_server_session(config: rustls::ServerConfig, client: handshake::ClientConfig) -> Session {
    let server = rustls::ServerConnection::new(Arc::new(config)).expect("server");
    let engine = Connection::client(
        Arc::new(client),
        localhost(),
        valid_now(),
        Box::new(SeededRng::new(7)),
    )
    .expect("engine client");
    let mut s = Session::new(engine, server);
    s.drive();
    s
}

fn engine_client_config(suite: CipherSuite, ems: bool) -> handshake::ClientConfig {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    c.extended_master_secret = ems;
    c
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn rustls_client_against_engine_server_every_common_suite() {
    for (i, suite) in common_suites().into_iter().enumerate() {
        let keys = Arc::new(CapturedKeys::default());
        let mut s = rustls_client_session(
            rustls_client_config(suite, &keys),
            server_config(),
            i as u64,
        );
        s.check_complete(suite, true, &keys);
    }
}

#[test]
fn engine_client_against_rustls_server_every_common_suite() {
    for suite in common_suites() {
        let keys = Arc::new(CapturedKeys::default());
        let config = rustls_server_config(suite, leaf_for(suite), &keys);
        let mut s = rustls_server_session(config, engine_client_config(suite, true));
        s.check_complete(suite, true, &keys);
    }
}

/// rustls cannot turn EMS off, so the engine's server declines it: rustls
/// (not requiring it) falls back to the RFC 5246 8.1 master secret.
#[test]
fn rustls_client_against_engine_server_without_ems() {
    for (i, suite) in common_suites().into_iter().enumerate() {
        let keys = Arc::new(CapturedKeys::default());
        let mut server = server_config();
        server.extended_master_secret = false;
        let mut s =
            rustls_client_session(rustls_client_config(suite, &keys), server, 100 + i as u64);
        s.check_complete(suite, false, &keys);
    }
}

/// The engine's client does not offer EMS; the rustls server goes without.
#[test]
fn engine_client_without_ems_against_rustls_server() {
    for suite in common_suites() {
        let keys = Arc::new(CapturedKeys::default());
        let config = rustls_server_config(suite, leaf_for(suite), &keys);
        let mut s = rustls_server_session(config, engine_client_config(suite, false));
        s.check_complete(suite, false, &keys);
    }
}

/// A rustls client offering only a suite the engine's server does not
/// enable: the server answers handshake_failure and rustls reports it.
#[test]
fn no_common_suite_is_handshake_failure() {
    for offered in common_suites() {
        let keys = Arc::new(CapturedKeys::default());
        let mut server = server_config();
        server.cipher_suites.retain(|s| *s != offered);
        let s = rustls_client_session(rustls_client_config(offered, &keys), server, 5);

        let err = s.engine_error.as_ref().expect("the engine's server fails");
        assert_eq!(
            err.alert(),
            AlertDescription::HANDSHAKE_FAILURE,
            "{offered:?}"
        );
        assert_eq!(err.origin(), Origin::Local, "{offered:?}");
        assert!(err.reason().contains("no cipher suite in common"), "{err}");
        assert!(
            s.engine_events.iter().any(|e| matches!(
                e,
                Event::Failed {
                    step: Step::ServerHello,
                    ..
                }
            )),
            "{offered:?}: {:?}",
            s.engine_events
        );
        assert_eq!(
            s.peer_error,
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::HandshakeFailure
            )),
            "{offered:?}"
        );
        assert!(keys.0.lock().unwrap().is_empty(), "no master secret");
    }
}
