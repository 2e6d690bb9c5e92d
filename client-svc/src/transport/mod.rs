//! How one session's messages travel: the only part of a session that
//! differs between server-svc ([`Target::Grpc`], see [`Grpc`]) and a real
//! TLS server ([`Target::Tls`], see [`Tls`]). The session driver
//! (`session.rs`) sees only [`Transport::send`] (queue one message),
//! [`Transport::recv`] (the next message, or how the peer ended) and
//! [`Transport::finish`] (our last words, then the end): the engine, the
//! events, the report and the timing are the same for both.
//!
//! ```text
//! mod.rs     Transport: what the session driver calls; Incoming
//! target.rs  parsing a target: tls://host:port, or server-svc's URL or name
//! grpc.rs    server-svc's Connect stream, with one retry on another replica
//! tcp.rs     a real TLS server: records over TCP
//! ```

mod grpc;
mod target;
mod tcp;

use std::time::Duration;

use handshake::{Error, Message};
use tokio::time::Instant;
use tonic::Status;

use crate::session::SessionError;

pub use grpc::{Grpc, connection_lost};
pub use target::{TLS_SCHEME, Target, balancer, tls_address};
pub use tcp::Tls;

/// What [`Transport::recv`] got.
#[derive(Debug)]
pub enum Incoming {
    /// The next message, or why the bytes or protobuf could not be one
    /// (for the engine to abort with).
    Message(Result<Message, Error>),
    /// The peer ended without a status: the end of the gRPC stream, or
    /// TCP EOF or a broken connection. Says what happened.
    End(String),
    /// gRPC: the stream ended with this status.
    Status(Status),
}

/// One session's way to its server.
pub enum Transport {
    Grpc(Grpc),
    Tls(Tls),
}

impl Transport {
    /// A transport to `target`, not yet open: messages sent before
    /// [`Transport::open`] go out when it opens.
    pub fn new(target: Target) -> Self {
        match target {
            Target::Grpc(upstream) => Self::Grpc(Grpc::new(upstream)),
            Target::Tls(addr) => Self::Tls(Tls::new(addr)),
        }
    }

    /// Queues `msg` for the server. Never waits: gRPC requests go into an
    /// unbounded stream (a flight is a handful of messages), TCP records
    /// into the [`RecordStream`](service_runtime::records::RecordStream)'s
    /// buffer.
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        match self {
            Self::Grpc(g) => g.send(msg),
            Self::Tls(t) => t.send(msg),
        }
    }

    /// Connects (gRPC: makes the call, the queued ClientHello travelling
    /// with its headers). `Err` ([`SessionError::Unreachable`] or
    /// [`SessionError::Busy`]) says why the session could not start:
    /// nothing was exchanged.
    pub async fn open(
        &mut self,
        server: &str,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        match self {
            Self::Grpc(g) => g.open(session_id, deadline, timeout).await,
            Self::Tls(t) => t
                .open(server, deadline)
                .await
                .map_err(SessionError::Unreachable),
        }
    }

    /// The next message from the server (writing what is queued meanwhile).
    /// Cancel-safe: a timeout around it loses nothing.
    pub async fn recv(&mut self) -> Incoming {
        match self {
            Self::Grpc(g) => g.recv().await,
            Self::Tls(t) => t.recv().await,
        }
    }

    /// Sends what is queued (our close_notify or alert), ends our side and,
    /// until `until`, reads what the server still sends: with `drain`, the
    /// gRPC status it ends with (which may name its failing step); over TCP
    /// always, so that closing the socket with unread bytes does not reset
    /// the connection under our last alert.
    pub async fn finish(&mut self, drain: bool, until: Instant) -> Option<Status> {
        match self {
            Self::Grpc(g) => g.finish(drain, until).await,
            Self::Tls(t) => {
                t.finish(until).await;
                None
            }
        }
    }
}
