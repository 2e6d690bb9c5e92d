//! The engine's speed, side by side with rustls and with the cryptography
//! it cannot avoid: `cargo bench -p handshake` runs all of it.
//!
//! # Benchmark IDs
//!
//! These IDs are stable: `tests/load/report.sh` reads
//! `target/criterion/<group>/<function>/<suite>/new/estimates.json`
//! (`target/criterion/floor/<name>/new/estimates.json` for the floors).
//!
//! | ID | what one iteration is |
//! |---|---|
//! | `session/engine/<SUITE>` | engine client <-> engine server, all 8 suites |
//! | `session/rustls_client/<SUITE>` | rustls client <-> engine server, the 6 ECDHE suites |
//! | `session/rustls/<SUITE>` | rustls client <-> rustls server, the 6 ECDHE suites |
//! | `floor/rsa2048_decrypt` | one RSA-2048 PKCS#1 v1.5 private decryption of a 48-byte pre-master |
//! | `floor/ecdhe_x25519_sign_rsa2048_pss_sha256` | x25519 key pair + shared secret + RSA-2048 RSASSA-PSS SHA-256 signature |
//! | `floor/ecdhe_x25519_sign_ecdsa_p256_sha256` | x25519 key pair + shared secret + ECDSA P-256 SHA-256 signature |
//!
//! | `client_hello/extensions/<N>` | a fresh server engine reads a ClientHello with N empty unknown extensions and answers it |
//! | `client_hello/suites/<N>` | the same with N suites offered (N - 1 unknown, then TLS_RSA_WITH_AES_128_GCM_SHA256) |
//! | `client_hello/repeated_suites/<N>` | client preference; an ECDHE suite N - 1 times, unusable for want of a common group among N, then TLS_RSA_WITH_AES_128_GCM_SHA256 |
//!
//! `<SUITE>` is the IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
//! rustls has no RSA key-transport suites (TLS_RSA_WITH_*), so those two
//! have an engine session only; their floor is `floor/rsa2048_decrypt`.
//!
//! # One session
//!
//! Both sides fresh, in memory, over real TLS records (the engine's
//! messages through `handshake::Deframer` and `encode_records`, rustls' through `write_tls` /
//! `read_tls`): ClientHello to both Finished verified, then one
//! application-data record each way (a short request, a short reply). The
//! settings are the same for every pair: one suite; groups x25519 and
//! secp256r1 on both sides, x25519 chosen; the extended master secret on
//! both sides; the lab certificates (RSA-2048 or ECDSA P-256 leaf from an
//! ECDSA P-256 CA), chain and name checked by the client; the server
//! signing with the scheme the engine picks by default (RSA-PSS SHA-256 or
//! ECDSA P-256 SHA-256: the rustls client offers only that scheme,
//! otherwise a rustls server would sign with RSA-PSS SHA-512); no session
//! resumption (disabled in rustls; the engine has none); system randomness
//! on both sides. The first session of each pair is checked (completes,
//! data intact, x25519, the scheme, EMS) before it is measured.
//!
//! # A ClientHello's cost against its size
//!
//! `client_hello/*` give N = 1,000 to 16,000: a client chooses how many
//! extensions (up to 16,383) and suites (up to 32,767) it sends, so the
//! server's cost must grow linearly with them (defect 2 of issue 11: a
//! list searched once per extension made 16,000 cost 38 ms). Linear means
//! the time per element (criterion's `thrpt`) stays flat as N doubles.
//! One iteration: a new server (RSA key transport, so no signature),
//! records through the deframer, ClientHello decoded, checked, reported
//! (step 1 event) and answered with ServerHello, Certificate,
//! ServerHelloDone.
//!
//! A short run (`cargo bench -p handshake --bench handshake -- client_hello
//! --warm-up-time 1 --measurement-time 2`, release, on the 2-core
//! development machine shared with other builds), mean per iteration,
//! before issue 11's fix and after:
//!
//! | N | extensions before | after | suites before | after | repeated_suites before | after |
//! |---|---|---|---|---|---|---|
//! | 1,000 | 453 µs | 145 µs | 16.8 µs | 15.1 µs | 1.30 ms | 26.9 µs |
//! | 2,000 | 976 µs | 285 µs | 30.9 µs | 24.7 µs | 4.69 ms | 47.0 µs |
//! | 4,000 | 4.45 ms | 559 µs | 57.0 µs | 48.9 µs | 20.1 ms | 88.3 µs |
//! | 8,000 | 17.1 ms | 1.16 ms | 72.2 µs | 90.1 µs | 64.3 ms | 162 µs |
//! | 16,000 | 54.4 ms | 2.58 ms | 193 µs | 192 µs | 286 ms | 320 µs |
//!
//! Before, a list searched once per extension (duplicate check) and the
//! client's lists scanned once per repeated suite made the time grow four
//! times per doubling; after, it doubles, about 160 ns per extension, 12
//! ns per suite and 20 ns per repeated suite.
//!
//! # The floor
//!
//! What a server cannot avoid per session, called on aws-lc-rs directly:
//! RSA key transport costs one private decryption; an ECDHE suite costs a
//! key pair, the shared secret and one signature. The hashing, PRF and
//! AEAD of a session come on top of it.

use std::hint::black_box;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use handshake::{
    ALL_SUITES, ClientConfig, Connection, Deframer, Event, KeyExchange, NamedGroup,
    ServerCertVerifier, ServerConfig, SignatureScheme, StepDetail, StepEvent, SuiteParams,
    SystemRng, encode_records,
};
use rustls::crypto::{CryptoProvider, aws_lc_rs as provider};
use rustls::time_provider::TimeProvider;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

#[path = "../tests/common/mod.rs"]
mod common;

use common::pair::server_config;
use common::pki::{Leaf, pki, valid_now};

/// The client's application record.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// The server's application record.
const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

/// The groups every client offers, in this order: x25519, which every
/// server picks, and secp256r1 because a client must list the curve of an
/// ECDSA certificate (RFC 8422 5.1; the engine's server insists).
const CLIENT_GROUPS: &[NamedGroup] = &[NamedGroup::X25519, NamedGroup::SECP256R1];

/// A flight never takes more than a few round trips; more means a bug.
const MAX_ROUNDS: usize = 16;

// ---------------------------------------------------------------------------
// One end of an in-memory session: the engine or rustls, bytes in and out.

enum End {
    Engine {
        conn: Box<Connection>,
        deframer: Deframer,
        received: Vec<u8>,
        /// ECDHE: the group and signature scheme of ServerKeyExchange.
        kx: Option<(NamedGroup, SignatureScheme)>,
    },
    Rustls {
        conn: Box<rustls::Connection>,
        received: Vec<u8>,
    },
}

impl End {
    fn engine(conn: Connection) -> Self {
        Self::Engine {
            conn: Box::new(conn),
            deframer: Deframer::new(),
            received: Vec::new(),
            kx: None,
        }
    }

    fn rustls(conn: impl Into<rustls::Connection>) -> Self {
        Self::Rustls {
            conn: Box::new(conn.into()),
            received: Vec::new(),
        }
    }

    /// Appends the records this end has to send to `out`.
    fn write_out(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Self::Engine { conn, .. } => {
                while let Some(m) = conn.poll_transmit() {
                    encode_records(&m, out).map_err(|e| format!("engine encode: {e}"))?;
                }
            }
            Self::Rustls { conn, .. } => {
                while conn.wants_write() {
                    conn.write_tls(out)
                        .map_err(|e| format!("rustls write_tls: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// Feeds the peer's records in; application data is kept.
    fn read_in(&mut self, mut wire: &[u8]) -> Result<(), String> {
        match self {
            Self::Engine {
                conn,
                deframer,
                received,
                kx,
            } => {
                deframer.push(wire);
                while let Some(m) = deframer.pop().map_err(|e| format!("engine deframe: {e}"))? {
                    conn.handle(m);
                    if let Some(e) = conn.failure() {
                        return Err(format!("engine: {e}"));
                    }
                }
                // server-svc and client-svc take every event; so does this.
                while let Some(event) = conn.poll_event() {
                    match event {
                        Event::ApplicationData(data) => received.extend_from_slice(&data),
                        Event::Step(StepEvent {
                            detail:
                                StepDetail::ServerHelloDone {
                                    key_exchange: Some(ske),
                                    ..
                                },
                            ..
                        }) => *kx = Some((ske.group, ske.scheme)),
                        _ => {}
                    }
                }
            }
            Self::Rustls { conn, received } => {
                while !wire.is_empty() {
                    conn.read_tls(&mut wire)
                        .map_err(|e| format!("rustls read_tls: {e}"))?;
                    conn.process_new_packets()
                        .map_err(|e| format!("rustls: {e}"))?;
                    let mut buf = [0u8; 1024];
                    loop {
                        match conn.reader().read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => received.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => return Err(format!("rustls reader: {e}")),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn handshake_done(&self) -> bool {
        match self {
            Self::Engine { conn, .. } => conn.is_handshake_complete(),
            Self::Rustls { conn, .. } => !conn.is_handshaking(),
        }
    }

    fn send(&mut self, data: &[u8]) -> Result<(), String> {
        match self {
            Self::Engine { conn, .. } => conn
                .send_application_data(data)
                .map_err(|e| format!("engine send: {e}")),
            Self::Rustls { conn, .. } => conn
                .writer()
                .write_all(data)
                .map_err(|e| format!("rustls send: {e}")),
        }
    }

    fn received(&self) -> &[u8] {
        match self {
            Self::Engine { received, .. } | Self::Rustls { received, .. } => received,
        }
    }

    /// What this end saw negotiated: the ECDHE group, the ServerKeyExchange
    /// scheme (engine only: rustls does not tell), the extended master
    /// secret (engine only: rustls always uses it when offered).
    fn negotiated(&self) -> (Option<NamedGroup>, Option<SignatureScheme>, Option<bool>) {
        match self {
            Self::Engine { conn, kx, .. } => (
                kx.map(|k| k.0),
                kx.map(|k| k.1),
                conn.secrets().map(|s| s.extended_master_secret()),
            ),
            Self::Rustls { conn, .. } => (
                conn.negotiated_key_exchange_group()
                    .map(|g| NamedGroup(u16::from(g.name()))),
                None,
                None,
            ),
        }
    }
}

/// Moves records both ways until neither end has anything to send.
fn exchange(client: &mut End, server: &mut End, wire: &mut Vec<u8>) -> Result<(), String> {
    for _ in 0..MAX_ROUNDS {
        wire.clear();
        client.write_out(wire)?;
        let client_sent = !wire.is_empty();
        if client_sent {
            server.read_in(wire)?;
        }
        wire.clear();
        server.write_out(wire)?;
        let server_sent = !wire.is_empty();
        if server_sent {
            client.read_in(wire)?;
        }
        if !client_sent && !server_sent {
            return Ok(());
        }
    }
    Err(format!("the two ends still talk after {MAX_ROUNDS} rounds"))
}

/// One whole session: the handshake, then one record each way. Returns
/// both ends, done.
fn session(mut client: End, mut server: End) -> Result<(End, End), String> {
    let mut wire = Vec::with_capacity(8 * 1024);
    exchange(&mut client, &mut server, &mut wire)?;
    if !client.handshake_done() || !server.handshake_done() {
        return Err("the handshake did not complete".into());
    }
    client.send(REQUEST)?;
    exchange(&mut client, &mut server, &mut wire)?;
    server.send(REPLY)?;
    exchange(&mut client, &mut server, &mut wire)?;
    if server.received() != REQUEST || client.received() != REPLY {
        return Err("the application data did not arrive intact".into());
    }
    Ok((client, server))
}

// ---------------------------------------------------------------------------
// Configurations: built once per suite, shared by every session.

/// The scheme the engine's server signs ServerKeyExchange with when the
/// client offers its defaults (`ServerKey::choose_scheme`).
fn engine_scheme(kx: KeyExchange) -> SignatureScheme {
    match kx {
        KeyExchange::EcdheEcdsa => SignatureScheme::ECDSA_NISTP256_SHA256,
        KeyExchange::EcdheRsa | KeyExchange::Rsa => SignatureScheme::RSA_PSS_RSAE_SHA256,
    }
}

/// The lab leaf a suite's server needs.
fn leaf_for(kx: KeyExchange) -> &'static Leaf {
    match kx {
        KeyExchange::EcdheEcdsa => &pki().ecdsa_p256,
        KeyExchange::EcdheRsa | KeyExchange::Rsa => &pki().rsa,
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a DNS name")
}

fn engine_client_config(suite: &SuiteParams) -> Arc<ClientConfig> {
    let verifier =
        ServerCertVerifier::new(std::slice::from_ref(&pki().ca)).expect("lab CA verifier");
    let mut config = ClientConfig::new(verifier);
    config.cipher_suites = vec![suite.suite];
    config.groups = CLIENT_GROUPS.to_vec();
    config.extended_master_secret = true;
    Arc::new(config)
}

fn engine_server_config() -> Arc<ServerConfig> {
    let mut config = server_config();
    config.groups = CLIENT_GROUPS.to_vec();
    config.extended_master_secret = true;
    Arc::new(config)
}

fn engine_client(config: &Arc<ClientConfig>) -> Connection {
    Connection::client(
        config.clone(),
        localhost(),
        valid_now(),
        Box::new(SystemRng),
    )
    .expect("client starts")
}

fn engine_server(config: &Arc<ServerConfig>) -> Connection {
    Connection::server(config.clone(), Box::new(SystemRng)).expect("server starts")
}

/// rustls' clock: the lab certificates' valid "now", as the engine gets.
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(valid_now())
    }
}

/// aws-lc-rs for rustls, cut down to `suite`, [`CLIENT_GROUPS`] and (for
/// the client's offer and check) the engine's signature scheme.
fn rustls_provider(suite: &SuiteParams) -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    p.cipher_suites
        .retain(|s| u16::from(s.suite()) == suite.suite.0);
    assert_eq!(p.cipher_suites.len(), 1, "rustls has {:?}", suite.suite);
    p.kx_groups
        .retain(|g| CLIENT_GROUPS.contains(&NamedGroup(u16::from(g.name()))));
    let groups: Vec<u16> = p.kx_groups.iter().map(|g| u16::from(g.name())).collect();
    let want: Vec<u16> = CLIENT_GROUPS.iter().map(|g| g.0).collect();
    assert_eq!(groups, want, "rustls has the groups, in this order");
    let scheme = rustls::SignatureScheme::from(engine_scheme(suite.kx).0);
    let mapping: Vec<_> = p
        .signature_verification_algorithms
        .mapping
        .iter()
        .filter(|(s, _)| *s == scheme)
        .copied()
        .collect();
    assert_eq!(mapping.len(), 1, "rustls verifies {scheme:?}");
    // The provider wants a 'static table; one leak per suite, once.
    p.signature_verification_algorithms.mapping = Box::leak(mapping.into_boxed_slice());
    Arc::new(p)
}

fn rustls_client_config(suite: &SuiteParams) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("lab CA");
    let mut config =
        rustls::ClientConfig::builder_with_details(rustls_provider(suite), Arc::new(FixedTime))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("TLS 1.2 with this suite")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

fn rustls_server_config(suite: &SuiteParams) -> Arc<rustls::ServerConfig> {
    let leaf = leaf_for(suite.kx);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_pkcs8.clone()));
    let mut config =
        rustls::ServerConfig::builder_with_details(rustls_provider(suite), Arc::new(FixedTime))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("TLS 1.2 with this suite")
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), key)
            .expect("lab leaf and key");
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Arc::new(config)
}

fn rustls_client(config: &Arc<rustls::ClientConfig>) -> rustls::ClientConnection {
    rustls::ClientConnection::new(config.clone(), localhost()).expect("rustls client starts")
}

fn rustls_server(config: &Arc<rustls::ServerConfig>) -> rustls::ServerConnection {
    rustls::ServerConnection::new(config.clone()).expect("rustls server starts")
}

/// What one iteration measures: both ends made, the session run, both
/// ends dropped. Never inlined, so that a profile (`valgrind --tool=callgrind
/// <bench binary> --bench --profile-time 5 <ID>`) shows one session's whole
/// cost under one name.
#[inline(never)]
fn one_session(make_session: &impl Fn() -> (End, End)) -> bool {
    let (client, server) = make_session();
    session(client, server).is_ok()
}

/// Runs `make_session` once as a check (a benchmark of a failing session
/// would measure an alert), then benchmarks it.
fn bench_session(
    c: &mut Criterion,
    pair: &str,
    suite: &SuiteParams,
    make_session: impl Fn() -> (End, End),
) {
    let name = suite.suite.name().expect("implemented suites have names");
    let id = format!("session/{pair}/{name}");
    let want_scheme = suite.kx.is_ecdhe().then(|| engine_scheme(suite.kx));
    let (client, server) = make_session();
    let (client, server) =
        session(client, server).unwrap_or_else(|e| panic!("{id}: the session fails: {e}"));
    // Equal settings: each end that can tell agrees on x25519, the
    // engine's scheme and EMS.
    for end in [&client, &server] {
        let (group, scheme, ems) = end.negotiated();
        if let Some(want) = want_scheme {
            assert_eq!(group, Some(NamedGroup::X25519), "{id}");
            assert!(scheme.is_none_or(|s| s == want), "{id}: {scheme:?}");
        }
        assert!(ems.is_none_or(|on| on), "{id}: no extended master secret");
    }
    let mut group = c.benchmark_group("session");
    group.bench_function(BenchmarkId::new(pair, name), |b| {
        b.iter(|| black_box(one_session(&make_session)))
    });
    group.finish();
}

fn sessions(c: &mut Criterion) {
    let server = engine_server_config();
    for suite in ALL_SUITES {
        let client = engine_client_config(suite);
        bench_session(c, "engine", suite, || {
            (
                End::engine(engine_client(&client)),
                End::engine(engine_server(&server)),
            )
        });
        // rustls has no RSA key transport.
        if !suite.kx.is_ecdhe() {
            continue;
        }
        let rustls_client_cfg = rustls_client_config(suite);
        bench_session(c, "rustls_client", suite, || {
            (
                End::rustls(rustls_client(&rustls_client_cfg)),
                End::engine(engine_server(&server)),
            )
        });
        let rustls_server_cfg = rustls_server_config(suite);
        bench_session(c, "rustls", suite, || {
            (
                End::rustls(rustls_client(&rustls_client_cfg)),
                End::rustls(rustls_server(&rustls_server_cfg)),
            )
        });
    }
}

// ---------------------------------------------------------------------------
// The cryptographic floor, on aws-lc-rs directly.

/// What a server signs in ServerKeyExchange: client_random ||
/// server_random || ServerECDHParams (curve_type, named group, the x25519
/// public value), RFC 8422 5.4. Its content does not change the cost.
fn signed_params(public: &[u8]) -> Vec<u8> {
    let mut m = vec![0x5a; 64];
    m.extend_from_slice(&[3, 0x00, 0x1d, 32]);
    m.extend_from_slice(public);
    m
}

/// The server's ECDHE half against `client_public`, then `sign`.
fn ecdhe_and_sign(client_public: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let private =
        agreement::PrivateKey::generate(&agreement::X25519).expect("x25519 key generation");
    let public = private.compute_public_key().expect("x25519 public key");
    let signature = sign(&signed_params(public.as_ref()));
    let shared = agreement::agree(
        &private,
        UnparsedPublicKey::new(&agreement::X25519, client_public),
        "x25519 agreement failed",
        |s| Ok(s.to_vec()),
    )
    .expect("x25519 agreement");
    (shared, signature)
}

fn floor(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rsa_der = &pki().rsa.key_pkcs8;
    let ecdsa_der = &pki().ecdsa_p256.key_pkcs8;
    let mut group = c.benchmark_group("floor");

    // RSA key transport: exactly the engine's decryption (sign.rs).
    let private = PrivateDecryptingKey::from_pkcs8(rsa_der).expect("RSA PKCS#8");
    let encrypter = Pkcs1PublicEncryptingKey::new(private.public_key()).expect("public key");
    let decrypter = Pkcs1PrivateDecryptingKey::new(private).expect("PKCS#1 decryption key");
    let pre_master = [0x03u8; 48];
    let mut ciphertext = vec![0u8; encrypter.ciphertext_size()];
    let n = encrypter
        .encrypt(&pre_master, &mut ciphertext)
        .expect("encrypt")
        .len();
    ciphertext.truncate(n);
    let mut plain = vec![0u8; decrypter.min_output_size().max(48)];
    let out = decrypter.decrypt(&ciphertext, &mut plain).expect("decrypt");
    assert_eq!(out, pre_master);
    group.bench_function("rsa2048_decrypt", |b| {
        b.iter(|| {
            black_box(
                decrypter
                    .decrypt(black_box(&ciphertext), &mut plain)
                    .map(|m| m.len()),
            )
        })
    });

    let client_private =
        agreement::PrivateKey::generate(&agreement::X25519).expect("x25519 key generation");
    let client_public = client_private
        .compute_public_key()
        .expect("x25519 public key");
    let client_public = client_public.as_ref().to_vec();

    let rsa = RsaKeyPair::from_pkcs8(rsa_der).expect("RSA PKCS#8");
    assert_eq!(rsa.public_modulus_len(), 256, "the lab RSA key is RSA-2048");
    let rsa_sign = |m: &[u8]| {
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PSS_SHA256, &rng, m, &mut sig)
            .expect("RSA-PSS signature");
        sig
    };
    let (shared, sig) = ecdhe_and_sign(&client_public, rsa_sign);
    assert_eq!((shared.len(), sig.len()), (32, 256));
    group.bench_function("ecdhe_x25519_sign_rsa2048_pss_sha256", |b| {
        b.iter(|| black_box(ecdhe_and_sign(black_box(&client_public), rsa_sign)))
    });

    let ecdsa = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, ecdsa_der)
        .expect("ECDSA P-256 PKCS#8");
    assert_eq!(ecdsa.public_key().as_ref().len(), 65, "a P-256 key");
    let ecdsa_sign = |m: &[u8]| {
        ecdsa
            .sign(&rng, m)
            .expect("ECDSA signature")
            .as_ref()
            .to_vec()
    };
    let (shared, _) = ecdhe_and_sign(&client_public, ecdsa_sign);
    assert_eq!(shared.len(), 32);
    group.bench_function("ecdhe_x25519_sign_ecdsa_p256_sha256", |b| {
        b.iter(|| black_box(ecdhe_and_sign(black_box(&client_public), ecdsa_sign)))
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// A ClientHello's cost against its extension and suite counts.

/// A ClientHello in plaintext records: `suites`, the TLS 1.2 extensions
/// (supported_groups: `groups`, or x25519 and secp256r1) and `unknown`
/// empty extensions of types no one uses.
fn client_hello_records(suites: &[u16], groups: Option<&[u16]>, unknown: usize) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(
        &u16::try_from(2 * suites.len())
            .expect("suites")
            .to_be_bytes(),
    );
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    let groups = groups.unwrap_or(&[0x1d, 0x17]);
    let mut ext = vec![0, 0x0a];
    ext.extend_from_slice(
        &u16::try_from(2 + 2 * groups.len())
            .expect("groups")
            .to_be_bytes(),
    );
    ext.extend_from_slice(
        &u16::try_from(2 * groups.len())
            .expect("groups")
            .to_be_bytes(),
    );
    for g in groups {
        ext.extend_from_slice(&g.to_be_bytes());
    }
    ext.extend_from_slice(&[
        0, 0x0b, 0, 2, 1, 0, // ec_point_formats
        0, 0x0d, 0, 4, 0, 2, 0x08, 0x04, // signature_algorithms
    ]);
    for i in 0..unknown {
        let typ = 0x1000 + u16::try_from(i).expect("extension count");
        ext.extend_from_slice(&typ.to_be_bytes());
        ext.extend_from_slice(&[0, 0]);
    }
    body.extend_from_slice(&u16::try_from(ext.len()).expect("extensions").to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&u32::try_from(body.len()).expect("body").to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut records = Vec::new();
    for chunk in hs.chunks(1 << 14) {
        records.extend_from_slice(&[22, 3, 3]);
        records.extend_from_slice(&u16::try_from(chunk.len()).expect("chunk").to_be_bytes());
        records.extend_from_slice(chunk);
    }
    records
}

/// A new server reads `records` (one ClientHello) and answers; returns
/// how many messages it queued (3: ServerHello, Certificate,
/// ServerHelloDone).
fn answer_client_hello(config: &Arc<ServerConfig>, records: &[u8]) -> usize {
    let mut server = engine_server(config);
    let mut deframer = Deframer::new();
    deframer.push(records);
    while let Some(m) = deframer.pop().expect("deframe") {
        server.handle(m);
        assert_eq!(server.failure(), None, "the server answers");
    }
    std::iter::from_fn(|| server.poll_transmit()).count()
}

fn client_hello(c: &mut Criterion) {
    const RSA_AES128: u16 = 0x009c;
    const ECDHE_RSA_AES128: u16 = 0xc02f;
    let server_order = Arc::new(server_config());
    let mut client_order = server_config();
    client_order.preference = handshake::SuitePreference::Client;
    let client_order = Arc::new(client_order);
    let mut group = c.benchmark_group("client_hello");
    for n in [1_000usize, 2_000, 4_000, 8_000, 16_000] {
        group.throughput(criterion::Throughput::Elements(n as u64));
        let by_extensions = client_hello_records(&[RSA_AES128], None, n);
        let mut suites: Vec<u16> = (0..n - 1).map(|i| 0x1000 + i as u16).collect();
        suites.push(RSA_AES128);
        let by_suites = client_hello_records(&suites, None, 0);
        // The client's order: one ECDHE suite n - 1 times, which no group
        // in common (n unknown groups) makes unusable, then an RSA suite.
        let mut repeated = vec![ECDHE_RSA_AES128; n - 1];
        repeated.push(RSA_AES128);
        let groups: Vec<u16> = (0..n).map(|i| 0x1000 + i as u16).collect();
        let by_repeats = client_hello_records(&repeated, Some(&groups), 0);
        for (name, config, records) in [
            ("extensions", &server_order, &by_extensions),
            ("suites", &server_order, &by_suites),
            ("repeated_suites", &client_order, &by_repeats),
        ] {
            assert_eq!(answer_client_hello(config, records), 3, "{name} {n}");
            group.bench_with_input(BenchmarkId::new(name, n), records, |b, r| {
                b.iter(|| black_box(answer_client_hello(config, black_box(r))))
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    // A session is about a millisecond: 100 samples in 5 s each is
    // plenty, and keeps the whole run (23 benchmarks) near four minutes.
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = floor, sessions, client_hello
}
criterion_main!(benches);
