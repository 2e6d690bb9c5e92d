//! The lab PKI the targets use, committed under fuzz/pki/ (made once by
//! `cargo run --example seed -- --new-pki`): a CA, an RSA-2048 and an
//! ECDSA P-256 leaf for "localhost", valid 2025-01-01 .. 2035-01-01. It is
//! fixed, not generated per run, because the seed corpora hold real
//! sessions: their Certificate messages must verify against this CA, and
//! their signatures were made with these keys.
//!
//! Every session is seeded ([`SeededRng`]) and checks certificates at a
//! fixed [`now`], so an input means the same thing on every run (except
//! what aws-lc draws itself: ECDSA nonces, RSA padding; see
//! `handshake::Rng`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use handshake::SeededRng;
use handshake::ALL_SUITES;
use handshake::{CertifiedKey, ClientConfig, Connection, Role, ServerCertVerifier, ServerConfig};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The name in the leaves' subjectAltName.
pub const SERVER_NAME: &str = "localhost";

/// The client's seed; the server's is [`SERVER_SEED`].
pub const CLIENT_SEED: u64 = 1;
pub const SERVER_SEED: u64 = 2;

/// Inside the leaves' validity: 2026-06-01T00:00:00Z.
pub fn now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(1_780_272_000))
}

/// One leaf: its chain (`[leaf]`) and PKCS#8 private key.
#[derive(Clone)]
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
}

/// The DER files of fuzz/pki/, as the seed example writes them.
#[derive(Clone)]
pub struct Pki {
    pub ca: CertificateDer<'static>,
    pub rsa: Leaf,
    pub ecdsa: Leaf,
}

impl Pki {
    /// The committed one.
    pub fn committed() -> Self {
        Self {
            ca: CertificateDer::from(include_bytes!("../pki/ca.der").to_vec()),
            rsa: Leaf {
                chain: vec![CertificateDer::from(
                    include_bytes!("../pki/rsa.der").to_vec(),
                )],
                key_pkcs8: include_bytes!("../pki/rsa.key.der").to_vec(),
            },
            ecdsa: Leaf {
                chain: vec![CertificateDer::from(
                    include_bytes!("../pki/ecdsa.der").to_vec(),
                )],
                key_pkcs8: include_bytes!("../pki/ecdsa.key.der").to_vec(),
            },
        }
    }
}

/// Configs made once per process (key parsing is not free).
pub struct Lab {
    pub pki: Pki,
    pub verifier: ServerCertVerifier,
    /// Both leaves, every suite, server preference.
    pub server: Arc<ServerConfig>,
    /// Per [`Setup::index`]: one suite offered, EMS on or off.
    clients: Vec<Arc<ClientConfig>>,
}

impl Lab {
    /// The lab of the committed PKI.
    pub fn get() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| Lab::new(Pki::committed()))
    }

    pub fn new(pki: Pki) -> Self {
        let key = |l: &Leaf| {
            CertifiedKey::new(l.chain.clone(), &l.key_pkcs8).expect("the lab key matches its leaf")
        };
        let server =
            ServerConfig::new(vec![key(&pki.rsa), key(&pki.ecdsa)]).expect("server config");
        let verifier =
            ServerCertVerifier::new(std::slice::from_ref(&pki.ca)).expect("the lab CA is a CA");
        let clients = Setup::all()
            .map(|s| {
                let mut c = ClientConfig::new(verifier.clone());
                c.cipher_suites = vec![ALL_SUITES[s.suite].suite];
                c.extended_master_secret = s.ems;
                Arc::new(c)
            })
            .collect();
        Self {
            pki,
            verifier,
            server: Arc::new(server),
            clients,
        }
    }

    /// A fresh connection of `role` for `setup`, seeded.
    pub fn connection(&self, role: Role, setup: Setup) -> Connection {
        match role {
            Role::Client => Connection::client(
                self.clients[setup.index()].clone(),
                ServerName::try_from(SERVER_NAME).expect("a DNS name"),
                now(),
                Box::new(SeededRng::new(CLIENT_SEED)),
            )
            .expect("the lab client starts"),
            Role::Server => {
                Connection::server(self.server.clone(), Box::new(SeededRng::new(SERVER_SEED)))
                    .expect("the lab server starts")
            }
        }
    }
}

/// Which session: the one suite the client offers, and whether it offers
/// the extended master secret. Read from one selector byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Index into `ALL_SUITES`.
    pub suite: usize,
    pub ems: bool,
    /// The live peer sends close_notify after its application data.
    pub peer_closes: bool,
}

impl Setup {
    /// Bits 0-2: the suite; bit 3: EMS off; bit 4: the peer closes.
    pub fn from_byte(b: u8) -> Self {
        Self {
            suite: usize::from(b & 7) % ALL_SUITES.len(),
            ems: b & 8 == 0,
            peer_closes: b & 16 != 0,
        }
    }

    pub fn to_byte(self) -> u8 {
        self.suite as u8 | if self.ems { 0 } else { 8 } | if self.peer_closes { 16 } else { 0 }
    }

    /// Every suite, with and without EMS (the peer does not close).
    pub fn all() -> impl Iterator<Item = Setup> {
        (0..ALL_SUITES.len()).flat_map(|suite| {
            [true, false].map(|ems| Setup {
                suite,
                ems,
                peer_closes: false,
            })
        })
    }

    fn index(self) -> usize {
        self.suite * 2 + usize::from(!self.ems)
    }
}
