//! A sans-IO TLS 1.2 (RFC 5246) handshake engine, for both roles.
//!
//! The caller feeds whole messages in with [`Connection::handle`] and takes
//! messages out with [`Connection::poll_transmit`] and events (a failure
//! once, as the fatal alert and [`Event::Failed`]) with
//! [`Connection::poll_event`]. No I/O, no clock, randomness only from the
//! given [`Rng`]. The public API (the re-exports below, [`msgs`], [`events`],
//! [`quote`], and the key schedule: [`prf`], [`SessionSecrets`],
//! [`Transcript`]), the thirteen [`events::Step`]s and the error model are
//! in `docs/DESIGN.md`; the hidden `internal` module is no API.
//!
//! # Layout
//!
//! ```text
//! conn.rs        Connection: queues, record protection, protected handshake reassembly,
//!                type-before-body checks, alerts, traffic phase
//! client.rs      the client's states (ExpectServerHello .. ExpectFinished)
//! server.rs      the server's states (ExpectClientHello .. ExpectFinished)
//! config.rs      ClientConfig, ServerConfig, CertifiedKey
//! faults.rs      LabFaults: the lab's deliberate mistakes, each applied in one place
//! events.rs      the thirteen steps and what each reports
//! error.rs       Error = alert description + reason
//! suites.rs      the eight suites: key exchange, AEAD, hash; CipherSuite from a name
//! keys.rs        PRF, master secret (and RFC 7627's), key block, Finished, key log, hex
//! record.rs      AEAD record protection (RFC 5288, RFC 7905)
//! transcript.rs  handshake messages hashed for Finished and EMS
//! kx.rs          ECDHE key pairs, RSA pre-master encryption
//! sign.rs        the server's private key: signing, RSA decryption (7.4.7.1)
//! verify.rs      certificate chains and names (rustls' WebPki verifier), SKE signatures
//! rand.rs        injected randomness
//! quote.rs       bounded quoting of peer input in reasons, logs and reports
//! framing.rs     TLS records on a byte stream <-> Messages (for TCP transports and tests)
//! msgs/          wire structures: codec, code points, handshake messages, extensions
//! ```

#![forbid(unsafe_code)]

mod client;
mod config;
mod conn;
mod error;
pub mod events;
mod faults;
mod framing;
mod keys;
mod kx;
pub mod msgs;
pub mod quote;
mod rand;
mod record;
mod server;
mod sign;
mod suites;
mod transcript;
mod verify;

pub use client::{MAX_CIPHER_SUITES, MAX_HELLO_LIST, server_name_text};
pub use config::{
    CertifiedKey, ClientConfig, DEFAULT_GROUPS, DEFAULT_SIGNATURE_SCHEMES, ServerConfig,
    SuitePreference,
};
pub use conn::{Clock, Connection, MAX_WARNING_ALERTS};
pub use error::{Error, Origin};
pub use events::{Direction, Event, Step, StepDetail, StepEvent};
pub use faults::LabFaults;
pub use rand::{Rng, SeededRng, SystemRng};
pub use sign::ServerKey;
pub use verify::{CertificateInfo, KeyUsageInfo, ServerCertVerifier, rfc3339};

pub use msgs::enums::{
    AlertDescription, AlertLevel, CipherSuite, ContentType, HandshakeType, NamedGroup,
    ProtocolVersion, SignatureScheme,
};
pub use msgs::handshake::{
    HandshakeMessage, HandshakePayload, MAX_CLIENT_HELLO_LEN, max_handshake_len,
};
pub use msgs::message::{Alert, Message, ProtectedRecord, RawHandshake};
pub use suites::{
    ALL_SUITES, BulkCipher, HashAlgorithm, KeyExchange, KeyType, SuiteParams, lookup,
};

pub use framing::{Deframer, RECORD_HEADER_LEN, encode_records};
pub use record::{MAX_CIPHERTEXT, MAX_PLAINTEXT};

// The key schedule, for a learner (handshake/tests/known_answers.rs).
pub use keys::{SessionSecrets, hex, prf};
pub use transcript::Transcript;

/// What the engine's own tests, benchmarks and fuzz targets reach beyond
/// the public API. Not part of the API (as rustls' `internal`).
#[doc(hidden)]
pub mod internal {
    pub mod kx {
        pub use crate::kx::{
            EcdheKeyPair, is_supported_group, rsa_encrypt_pre_master, rsa_pre_master,
        };
    }
    pub mod record {
        pub use crate::record::{RecordDecrypter, RecordEncrypter};
    }
    pub mod verify {
        pub use crate::verify::{certificate_info, key_matches_certificate, verify_signature};
    }
}

/// Which end of the connection an engine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}
