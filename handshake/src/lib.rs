//! A sans-IO TLS 1.2 (RFC 5246) handshake engine, for both roles.
//!
//! The caller feeds whole messages in with [`Connection::handle`] and takes
//! messages to send out with [`Connection::poll_transmit`] and events with
//! [`Connection::poll_event`]; a failure comes out there too, once (the
//! fatal alert and [`Event::Failed`]). The engine does no I/O, reads no
//! clock (the client is given `now` for certificate checks) and draws
//! randomness only from the [`Rng`] it is given, so the same engine runs over gRPC,
//! over TCP, or in memory in a test, and a seeded test is the same on every
//! run.
//!
//! The public API is what this file re-exports, plus the modules [`msgs`]
//! (wire structures), [`events`] and [`quote`]; every other module is
//! private. A learner may call the key schedule directly: [`prf`],
//! [`SessionSecrets`] (master secret, RFC 7627's extended one, key block,
//! verify_data) and [`Transcript`] (the handshake hash). What the engine's
//! own tests, benches and fuzz targets need beyond that is in the hidden
//! `internal` module, which is no API.
//!
//! Every step is reported as one of the thirteen [`events::Step`]s of
//! `docs/DESIGN.md` ("The thirteen steps"). Every failure is a fatal
//! alert with a reason ([`Error`]; "Error model" there).
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
//!
//! Cryptography is aws-lc-rs; X.509 is rustls / rustls-webpki (and
//! x509-parser to show certificates). Nothing here implements a primitive.

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

// Sessions: the connection, its settings, what it reports, how it fails.
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

// The suites and the messages (the gRPC contract maps the messages field by
// field, so `msgs` holds public wire structures).
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

// Records on a byte stream, for TCP transports.
pub use framing::{Deframer, RECORD_HEADER_LEN, encode_records};
pub use record::{MAX_CIPHERTEXT, MAX_PLAINTEXT};

// The key schedule, for a learner reproducing a published session byte for
// byte (handshake/tests/known_answers.rs does, with nothing else): the PRF,
// the master secret (RFC 5246 8.1 or RFC 7627's extended one), the key
// block, verify_data, and the transcript hash they are taken over.
pub use keys::{SessionSecrets, hex, prf};
pub use transcript::Transcript;

/// What the engine's own tests, benchmarks and fuzz targets reach beyond
/// the public API: record protection, key exchange and certificate checks
/// on their own. Not part of the API; it may change in any release (as
/// rustls' `internal`).
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
