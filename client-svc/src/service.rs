//! `HandshakeClientService`: the gRPC face of [`crate::session`].
//!
//! Each call turns its [`pb::SessionOptions`] into a [`SessionSpec`] (the
//! service's defaults filling the gaps), runs one session against
//! server-svc, or against a real TLS 1.2 server when `server` is
//! `tls://host:port`, and answers with the report. A TLS failure is a status from
//! [`proto::status::to_status`] (code, `tls-alert` and `tls-step`
//! metadata) with the report so far in the status details (a
//! `google.rpc.Status` packing it, from [`proto::status::with_report`]); an
//! unreachable server-svc is UNAVAILABLE.
//!
//! A request is checked before anything is built from it: its sizes
//! (`options.rs`: INVALID_ARGUMENT beyond them) and its server, which must
//! be allowed (`allow.rs`: PERMISSION_DENIED otherwise, before any lookup
//! or connection).
//!
//! One [`Balancer`] is kept per server target: one tonic channel (one
//! HTTP/2 connection, multiplexing every session's stream) per server-svc
//! replica, so a load test measures handshakes, not TCP connections, and
//! sessions go round-robin over the replicas of a `dns:`, `ipv4:` or
//! `ipv6:` name. The configured server's is kept for the life of the
//! service; other targets' in a [`TargetCache`] bounded by count and idle
//! time. A `tls://` target has no such thing to share: each session is its
//! own TCP connection, as with any TLS client.
//!
//! At most `--max-sessions` sessions (Handshake and WatchHandshake calls)
//! run at once; beyond, a call gets RESOURCE_EXHAUSTED at once. [`serve`]
//! runs the service with health, reflection and `service_runtime::limits`.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use handshake::quote;
use handshake::{CipherSuite, ClientConfig, NamedGroup, ServerCertVerifier};
use proto::pb;
use proto::pb::handshake_client_service_server::{
    HandshakeClientService, HandshakeClientServiceServer,
};
use proto::pb::watch_handshake_response::Event as WatchEvent;
use rustls_pki_types::ServerName;
use service_runtime::keylog::KeyLog;
use service_runtime::limits::{Limits, LiveSessions};
use service_runtime::metrics::{Limit, Metrics};
use service_runtime::telemetry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::allow::Allowlist;
use crate::balance::{Balancer, ChannelOptions};
use crate::cache::{self, TargetCache};
use crate::options;
use crate::report::ReportBuilder;
use crate::session::{self, Outcome, SessionError, SessionSpec, Target};

/// What the service uses when a request leaves something out.
#[derive(Clone, Debug)]
pub struct Settings {
    /// server-svc's URL, or `tls://host:port` for a real TLS server.
    pub server: String,
    /// The name certificates must match.
    pub server_name: String,
    /// The configured CA.
    pub verifier: ServerCertVerifier,
    /// Lab: put the session secrets in reports.
    pub show_secrets: bool,
    /// Lab: append every session's key log line here.
    pub key_log: Option<Arc<KeyLog>>,
    /// Deadline of one session.
    pub timeout: Duration,
    /// The session budget (`--max-sessions`).
    pub sessions: LiveSessions,
    /// How channels to server-svc are made: keepalive, re-resolution.
    pub upstream: ChannelOptions,
    /// Servers a request may name besides `server` (`--allow-server`).
    pub allow_servers: Vec<String>,
    /// Where sessions, refusals and replicas are counted.
    pub metrics: Metrics,
}

/// The service.
#[derive(Debug)]
pub struct ClientService {
    settings: Settings,
    allow: Allowlist,
    /// The configured server's balancer, made on first use and kept.
    default: Mutex<Option<Balancer>>,
    /// Other allowed targets' balancers, bounded by count and idle time.
    balancers: Mutex<TargetCache<Balancer>>,
}

impl ClientService {
    /// Err: the configured server or an allowed one is malformed.
    pub fn new(settings: Settings) -> Result<Self, String> {
        let allow = Allowlist::new(&settings.server, &settings.allow_servers)?;
        Ok(Self {
            settings,
            allow,
            default: Mutex::new(None),
            balancers: Mutex::new(TargetCache::new(cache::MAX_TARGETS, cache::IDLE)),
        })
    }

    /// A place in the session budget, or the refusal (counted).
    fn enter(&self) -> Result<service_runtime::limits::SessionGuard, Status> {
        self.settings
            .sessions
            .enter_or_refuse("client-svc")
            .inspect_err(|_| self.settings.metrics.limit_hit(Limit::max_sessions))
    }

    /// Where `url` is: a real TLS server, or server-svc's replicas over
    /// the balancer kept for the target.
    fn target(&self, url: &str) -> Result<Target, Status> {
        match session::tls_address(url) {
            Some(addr) => addr.map(Target::Tls).map_err(Status::invalid_argument),
            None => self.balancer(url).map(Target::Grpc),
        }
    }

    /// The balancer for `url`, made once and reused (while in the cache).
    fn balancer(&self, url: &str) -> Result<Balancer, Status> {
        let own = url == self.settings.server;
        let make = || {
            let b = session::balancer(url, &self.settings.upstream)?;
            b.count_sessions(self.settings.metrics.clone(), own);
            Ok::<_, String>(b)
        };
        // A poisoned lock only means another call panicked mid-insert; the
        // value itself is still usable.
        if url == self.settings.server {
            let mut default = self.default.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = default.as_ref() {
                return Ok(b.clone());
            }
            let b = make().map_err(Status::invalid_argument)?;
            *default = Some(b.clone());
            return Ok(b);
        }
        self.balancers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(url, Instant::now(), make)
            .map_err(Status::invalid_argument)
    }

    /// The session a request asks for, and where to run it: INVALID_ARGUMENT
    /// for options beyond their bounds or malformed, PERMISSION_DENIED for
    /// a server not allowed (nothing looked up or connected for it).
    /// Public for the `client_options` fuzz target.
    pub async fn prepare(
        &self,
        options: Option<pb::SessionOptions>,
    ) -> Result<(Target, SessionSpec), Status> {
        let o = options.unwrap_or_default();
        options::check(&o)?;
        let lab = o.lab.unwrap_or_default();
        let server = if o.server.is_empty() {
            self.settings.server.clone()
        } else {
            self.allow.check(&o.server).await?;
            o.server
        };
        let name = if o.server_name.is_empty() {
            self.settings.server_name.clone()
        } else {
            o.server_name
        };
        let server_name = ServerName::try_from(name.clone()).map_err(|e| {
            Status::invalid_argument(format!(
                "server_name {:?} is not a DNS name or IP address: {}",
                quote::truncate(&name, quote::MAX_TEXT),
                quote::Short(e)
            ))
        })?;

        let mut config = ClientConfig::new(self.settings.verifier.clone());
        if !o.cipher_suites.is_empty() {
            config.cipher_suites = o
                .cipher_suites
                .iter()
                .map(|&v| code_point(v, "cipher suite").map(CipherSuite))
                .collect::<Result<_, _>>()?;
        }
        if !lab.groups.is_empty() {
            config.groups = lab
                .groups
                .iter()
                .map(|&v| code_point(v, "group").map(NamedGroup))
                .collect::<Result<_, _>>()?;
        }
        config.extended_master_secret = !lab.disable_extended_master_secret;
        config.faults.corrupt_finished = lab.corrupt_client_finished;
        config.faults.corrupt_application_record = lab.corrupt_application_record;

        let target = self.target(&server)?;
        let spec = SessionSpec {
            server,
            config,
            server_name,
            message: o.application_message.into_bytes(),
            capture_secrets: self.settings.show_secrets,
            key_log: self.settings.key_log.clone(),
            timeout: self.settings.timeout,
            metrics: self.settings.metrics.clone(),
        };
        Ok((target, spec))
    }
}

/// A protobuf enum value that must be a nonzero two-byte code point.
fn code_point(v: i32, what: &str) -> Result<u16, Status> {
    match u16::try_from(v) {
        Ok(c) if c != 0 => Ok(c),
        _ => Err(Status::invalid_argument(format!(
            "{what} {v} is not a TLS code point (1 to 65535)"
        ))),
    }
}

/// The status a failed session ends with, the report in its details.
pub fn error_status(error: &SessionError, report: &pb::HandshakeReport) -> Status {
    match error {
        SessionError::Unreachable(msg) => Status::unavailable(msg.clone()),
        SessionError::Busy(msg) => Status::resource_exhausted(msg.clone()),
        SessionError::Tls(f) | SessionError::Lost(f) => {
            let s = proto::status::to_status(&f.error, f.step);
            // A lost connection is client-svc's internal_error in the
            // report, but for the caller it is the replica that went away:
            // UNAVAILABLE, as gRPC says of a transport failure.
            let s = match error {
                SessionError::Lost(_) => Status::with_metadata(
                    tonic::Code::Unavailable,
                    s.message(),
                    s.metadata().clone(),
                ),
                _ => s,
            };
            proto::status::with_report(&s, report)
        }
    }
}

/// Runs a session and builds its report, passing each step to `on_step`.
async fn run_and_report(
    target: Target,
    spec: &SessionSpec,
    mut on_step: impl FnMut(pb::HandshakeStep) + Send,
) -> (Outcome, pb::HandshakeReport) {
    let mut builder = ReportBuilder::new();
    let outcome = session::run(target, spec, |progress, elapsed| {
        if let Some(step) = builder.observe(progress, elapsed) {
            on_step(step);
        }
    })
    .await;
    let report = builder.finish(spec.message(), &outcome);
    (outcome, report)
}

#[tonic::async_trait]
impl HandshakeClientService for ClientService {
    async fn handshake(
        &self,
        request: Request<pb::HandshakeRequest>,
    ) -> Result<Response<pb::HandshakeResponse>, Status> {
        // With traces on, the caller's trace continues here.
        let span = telemetry::request_span("Handshake", request.metadata());
        // Held until the call ends, however it ends (a caller that goes
        // away drops this future, and the guard with it).
        let _live = self.enter()?;
        let (target, spec) = self
            .prepare(request.into_inner().options)
            .instrument(span.clone())
            .await?;
        let (outcome, report) = run_and_report(target, &spec, |_| {}).instrument(span).await;
        match &outcome.result {
            Ok(_) => Ok(Response::new(pb::HandshakeResponse {
                report: Some(report),
            })),
            Err(e) => Err(error_status(e, &report)),
        }
    }

    type WatchHandshakeStream = UnboundedReceiverStream<Result<pb::WatchHandshakeResponse, Status>>;

    async fn watch_handshake(
        &self,
        request: Request<pb::WatchHandshakeRequest>,
    ) -> Result<Response<Self::WatchHandshakeStream>, Status> {
        // With traces on, the caller's trace continues here, in the
        // session's task too.
        let span = telemetry::request_span("WatchHandshake", request.metadata());
        // Held by the session's task until the session ends (its own
        // timeout bounds it, even if the watcher went away).
        let live = self.enter()?;
        let (target, spec) = self
            .prepare(request.into_inner().options)
            .instrument(span.clone())
            .await?;
        // At most fifteen items (thirteen steps, a failed step, the end):
        // unbounded is bounded enough, and never blocks the session.
        let (tx, rx) = mpsc::unbounded_channel();
        let watch = WatchSender { tx, ended: false };
        tokio::spawn(
            async move {
                let _live = live;
                let (outcome, report) = run_and_report(target, &spec, |step| {
                    watch.send(Ok(pb::WatchHandshakeResponse {
                        event: Some(WatchEvent::Step(step)),
                    }));
                })
                .await;
                let last = match &outcome.result {
                    Ok(_) => Ok(pb::WatchHandshakeResponse {
                        event: Some(WatchEvent::Report(report)),
                    }),
                    Err(e) => Err(error_status(e, &report)),
                };
                watch.end(last);
            }
            .instrument(span),
        );
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

/// A WatchHandshake stream's sending end. The stream ends with the report
/// or an error status ([`WatchSender::end`]); a session task that stops
/// before that (a panic) drops this, and the stream ends with INTERNAL:
/// dropping the bare sender would end it with OK and no report, which a
/// caller cannot tell from success.
struct WatchSender {
    tx: mpsc::UnboundedSender<Result<pb::WatchHandshakeResponse, Status>>,
    ended: bool,
}

impl WatchSender {
    fn send(&self, item: Result<pb::WatchHandshakeResponse, Status>) {
        // A watcher that went away just stops receiving.
        let _ = self.tx.send(item);
    }

    /// The last item: the report, or the session's status.
    fn end(mut self, last: Result<pb::WatchHandshakeResponse, Status>) {
        self.send(last);
        self.ended = true;
    }
}

impl Drop for WatchSender {
    fn drop(&mut self) {
        if !self.ended {
            tracing::error!("a watched session ended without a report");
            self.send(Err(Status::internal(
                "client-svc's session ended without a report (an internal error of client-svc; see its log)",
            )));
        }
    }
}

/// Serves `service` on `listener`, with gRPC health and reflection and
/// `limits` (message size, keepalive, connection age), until `shutdown`
/// resolves; then sessions in flight get `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    service: ClientService,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), String> {
    let server = HandshakeClientServiceServer::new(service)
        .max_decoding_message_size(limits.max_message_size)
        .max_encoding_message_size(limits.max_message_size);
    service_runtime::serve::serve(
        Routes::new(server),
        HandshakeClientServiceServer::<ClientService>::NAME,
        listener,
        limits,
        shutdown,
        grace,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_whose_session_stops_early_ends_with_an_error() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let watch = WatchSender { tx, ended: false };
            watch.send(Ok(pb::WatchHandshakeResponse { event: None }));
            panic!("the engine panicked");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(rx.recv().await.unwrap().is_ok());
        let last = rx.recv().await.expect("a last item, not the end");
        assert_eq!(last.unwrap_err().code(), tonic::Code::Internal);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_watch_that_ends_sends_its_last_item_only() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        WatchSender { tx, ended: false }.end(Err(Status::not_found("x")));
        assert_eq!(
            rx.recv().await.unwrap().unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert!(rx.recv().await.is_none());
    }
}
