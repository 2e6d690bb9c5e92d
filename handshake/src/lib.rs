//! A sans-IO TLS 1.2 (RFC 5246) handshake engine, for both roles.
//!
//! The caller feeds whole messages in with [`Connection::handle`] and takes
//! messages to send out with [`Connection::poll_transmit`] and events with
//! [`Connection::poll_event`]. The engine does no I/O, reads no clock (the
//! client is given `now` for certificate checks) and draws randomness only
//! from the [`rand::Rng`] it is given, so the same engine runs over gRPC,
//! over TCP, or in memory in a test, and a seeded test is the same on every
//! run.
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
//! events.rs      the thirteen steps and what each reports
//! error.rs       Error = alert description + reason
//! suites.rs      the eight suites: key exchange, AEAD, hash
//! keys.rs        PRF, master secret (and RFC 7627's), key block, Finished, key log
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

pub mod config;
pub mod error;
pub mod events;
pub mod framing;
pub mod keys;
pub mod kx;
pub mod msgs;
pub mod quote;
pub mod rand;
pub mod record;
pub mod sign;
pub mod suites;
pub mod verify;

mod client;
mod conn;
mod server;
mod transcript;

pub use client::{MAX_CIPHER_SUITES, MAX_HELLO_LIST};
pub use config::{CertifiedKey, ClientConfig, Faults, ServerConfig, SuitePreference};
pub use conn::{Clock, Connection, MAX_WARNING_ALERTS};
pub use error::{Error, Origin};
pub use events::{Direction, Event, Step, StepDetail, StepEvent};
pub use keys::SessionSecrets;
pub use msgs::enums::{AlertDescription, CipherSuite, NamedGroup, SignatureScheme};
pub use msgs::message::{Alert, Message, ProtectedRecord, RawHandshake};
pub use verify::ServerCertVerifier;

/// Which end of the connection an engine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}
