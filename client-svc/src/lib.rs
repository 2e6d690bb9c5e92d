//! client-svc: the TLS 1.2 client of the project, as a gRPC service
//! (`handshake.v1.HandshakeClientService`) and as a command line.
//!
//! It drives one `handshake::Connection` per session against server-svc
//! over a `HandshakeService.Connect` stream, or against a real TLS 1.2
//! server over TCP (a `tls://host:port` target), verifies the server's chain
//! against the configured CA and name, sends an application message, and
//! tells the session as the thirteen steps of `docs/DESIGN.md`.
//!
//! # Layout
//!
//! ```text
//! session.rs    one session: the engine's driver, timing, the reply, the key log,
//!               the lab record fault
//! transport.rs  how its messages travel: the Connect stream, or TLS records on TCP
//! balance.rs    server-svc's replicas: one channel each, round-robin, retry elsewhere
//! cache.rs      the balancers of targets requests name: bounded by count and idle time
//! allow.rs      which servers a request may name (the allowlist): PERMISSION_DENIED otherwise
//! options.rs    the bounds of a request's options, checked before anything is built
//! resolve.rs    dns:, ipv4:, ipv6: names (gRPC naming) and their resolvers
//! report.rs     engine events -> HandshakeStep entries and the HandshakeReport
//! service.rs    HandshakeClientService: options -> session -> report or status
//! table.rs      the CLI's table of steps and its outcome line
//! trust.rs      the CA file -> certificate verifier
//! bench.rs      `client-svc bench`: concurrent sessions -> sessions/s and latency as JSON;
//!               holding sessions after ServerHelloDone (memory measurements)
//! main.rs       the command line: `serve`, `handshake`, `bench` (README.md: flags, report fields)
//! ```
//!
//! The same `session::run` serves the gRPC service and the CLI, so what a
//! student sees in a terminal is what a program gets over gRPC.

#![forbid(unsafe_code)]

pub mod allow;
pub mod balance;
pub mod bench;
pub mod cache;
pub mod options;
pub mod report;
pub mod resolve;
pub mod service;
pub mod session;
pub mod table;
pub mod transport;
pub mod trust;
