//! [`HandshakeService`]: the thin tonic edge of handshake.v1.HandshakeService.
//! `Connect` only opens a session: a server engine, a channel for the
//! responses, and a task (`session.rs`) that drives the engine from the
//! request stream. Beyond `--max-sessions` sessions running at once, a new
//! stream is refused at once with RESOURCE_EXHAUSTED. Then [`serve`] runs
//! it with health, reflection and the limits of `service_runtime::limits`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use handshake::SystemRng;
use handshake::{Connection, ServerConfig, Step};
use proto::SESSION_ID_HEADER;
use proto::pb::handshake_service_server::{
    HandshakeService as HandshakeServiceTrait, HandshakeServiceServer,
};
use proto::pb::{ConnectRequest, ConnectResponse};
use proto::status::to_status;
use service_runtime::keylog::KeyLog;
use service_runtime::limits::Limits;
use service_runtime::metrics::{Limit, Metrics};
use service_runtime::new_session_id;
use service_runtime::telemetry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info_span};

use crate::cli::DEFAULT_HANDSHAKE_DEADLINE;
use crate::error::{Error, Result};
use crate::session::{LiveSessions, Session};

/// Responses a session may queue before it waits for the client to read:
/// a whole server flight (at most five messages) fits.
const OUTBOUND_CAPACITY: usize = 16;

/// handshake.v1.HandshakeService: each Connect stream is one TLS 1.2
/// session with the server engine. The TLS front
/// ([`HandshakeService::serve_tls`]) serves its sessions with the same
/// settings.
#[derive(Clone, Debug)]
pub struct HandshakeService {
    pub(crate) config: Arc<ServerConfig>,
    /// gRPC: how long a stream may go without a message from the client;
    /// TLS front: how long the handshake may take from accept (the
    /// handshake deadline, if shorter), then the request.
    pub(crate) timeout: Duration,
    pub(crate) handshake_deadline: Duration,
    pub(crate) key_log: Option<Arc<KeyLog>>,
    pub(crate) live: LiveSessions,
    /// Where sessions, limits and TLS front connections are counted.
    pub(crate) metrics: Metrics,
}

impl HandshakeService {
    /// Sessions use `config`; a stream with no message from the client for
    /// `timeout` is closed with DEADLINE_EXCEEDED, and so is one whose
    /// handshake is not done within the default `--handshake-deadline`.
    pub fn new(config: Arc<ServerConfig>, timeout: Duration) -> Self {
        Self {
            config,
            timeout,
            handshake_deadline: Duration::from_secs(DEFAULT_HANDSHAKE_DEADLINE),
            key_log: None,
            live: LiveSessions::default(),
            metrics: Metrics::disabled(),
        }
    }

    /// A session whose handshake is not done `deadline` after its stream
    /// started (TLS front: after accept) is closed with a user_canceled
    /// alert (and DEADLINE_EXCEEDED), however often the client sends
    /// (`--handshake-deadline`).
    pub fn with_handshake_deadline(mut self, deadline: Duration) -> Self {
        self.handshake_deadline = deadline;
        self
    }

    /// Appends every session's NSS key log line (`CLIENT_RANDOM <client
    /// random> <master secret>`) to `key_log` once its keys are derived: a
    /// lab option, the file lets anyone decrypt the sessions.
    pub fn with_key_log(mut self, key_log: Option<Arc<KeyLog>>) -> Self {
        self.key_log = key_log;
        self
    }

    /// Counts sessions (gRPC and TLS front alike: one budget for the
    /// process) in `live` and refuses one beyond its maximum. Default: a
    /// budget of its own, with no limit.
    pub fn with_sessions(mut self, live: LiveSessions) -> Self {
        self.live = live;
        self
    }

    /// Records sessions, limits hit and TLS front connections in
    /// `metrics` (default: nowhere).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The gauge of sessions running now.
    pub fn live_sessions(&self) -> LiveSessions {
        self.live.clone()
    }
}

#[tonic::async_trait]
impl HandshakeServiceTrait for HandshakeService {
    type ConnectStream = ReceiverStream<Result<ConnectResponse, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<ConnectRequest>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let id = session_id(request.metadata());
        // Refused before anything is allocated for it: under a flood the
        // cost of a refusal stays one status.
        let live = self
            .live
            .enter_or_refuse("server-svc")
            .inspect_err(|_| self.metrics.limit_hit(Limit::max_sessions))?;
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let span = info_span!("session", id = %id, peer = %peer, otel.kind = tracing::field::Empty);
        // With traces on, the caller's trace (client-svc's session) continues.
        telemetry::set_parent_from(&span, request.metadata());
        telemetry::set_kind(&span, "server");
        let conn = Connection::server(self.config.clone(), Box::new(SystemRng)).map_err(|e| {
            span.in_scope(|| tracing::error!(reason = %e, "cannot start a session"));
            to_status(&e, Step::ClientHello)
        })?;
        let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let session = span.in_scope(|| Session::new(conn, tx, self.clone()));
        tokio::spawn(
            session
                .run(request.into_inner(), live)
                .instrument(span.clone()),
        );
        let mut response = Response::new(ReceiverStream::new(rx));
        if let Ok(v) = MetadataValue::try_from(id.as_str()) {
            response.metadata_mut().insert(SESSION_ID_HEADER, v);
        }
        Ok(response)
    }
}

/// The client's session id if it gave a usable one, else a fresh random one.
fn session_id(metadata: &MetadataMap) -> String {
    let given = metadata
        .get(SESSION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    match given {
        Some(id) => id.to_owned(),
        None => new_session_id(),
    }
}

/// Serves `service` on `listener`, with gRPC health and reflection and
/// `limits` (message size, keepalive, connection age), until `shutdown`
/// resolves; then in-flight sessions get `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    service: HandshakeService,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<()> {
    let server = HandshakeServiceServer::new(service)
        .max_decoding_message_size(limits.max_message_size)
        .max_encoding_message_size(limits.max_message_size);
    service_runtime::serve::serve(
        Routes::new(server),
        HandshakeServiceServer::<HandshakeService>::NAME,
        listener,
        limits,
        shutdown,
        grace,
    )
    .await
    .map_err(Error::Other)
}
