//! One TLS 1.2 session: against server-svc over one `Connect` stream, or
//! against a real TLS 1.2 server over TCP (`tls://host:port`).
//!
//! This is the driver of the sans-IO engine, the same for both targets:
//! what the client engine wants to send goes to [`Transport::send`]; what
//! the server answers comes back from [`Transport::recv`] into
//! [`Connection::handle`] (`transport/` holds the only differences: gRPC
//! messages, or TLS records through the engine's deframer). After the
//! handshake the application message is sent, the reply collected, and the
//! session closed with close_notify.
//!
//! The reply: server-svc answers each application record the client sends
//! (the message is cut into records of at most 2^14 bytes) with
//! "echo: " + that record's plaintext, in as many records as that takes
//! (a full record's echo is 2^14 + 6 bytes: two records). So the reply
//! to a message is known in advance ([`expected_echo`]): it is complete
//! once that many bytes have come, and a session succeeds only if they
//! are exactly those; a reply cut short (the stream or close_notify ends
//! it first) or different fails the session. A real TLS server says
//! nothing of the kind, so there the reply is everything received until
//! the server's close_notify, TCP EOF, or [`REPLY_QUIET`] without new data
//! once some has come (at most [`MAX_REPLY`] bytes), all within the
//! session's timeout.
//!
//! Every engine event is handed to the caller as it happens, with the time
//! since the session started (the engine reads no clock; this driver does,
//! with [`Instant`]). The report (`report.rs`), the service's
//! WatchHandshake and the CLI all build on that one callback.
//!
//! With a key log ([`SessionSpec::key_log`]), the session's NSS key log
//! line is appended as soon as its keys exist (step 8), whatever the
//! target and whether or not the session then succeeds.

use std::sync::Arc;
use std::time::Duration;

use handshake::MAX_PLAINTEXT;
use handshake::SystemRng;
use handshake::hex;
use handshake::{ClientConfig, Connection, Error, Event, Origin, Step};
use handshake::{quote, server_name_text};
use proto::pb;
use proto::status::{STEP_KEY, alert_of};
use rustls_pki_types::{ServerName, UnixTime};
use service_runtime::keylog::KeyLog;
use service_runtime::metrics::{Limit, Metrics, Transport as Via};
use service_runtime::new_session_id;
use service_runtime::watch::SessionWatch;
use tokio::time::{Instant, timeout_at};
use tonic::Status;
use tracing::Instrument;

use crate::transport::{Incoming, Transport, connection_lost};
pub use crate::transport::{TLS_SCHEME, Target, balancer, tls_address};

/// Sent when no application message is given.
pub const DEFAULT_MESSAGE: &str = "hello";

/// How long a session may take, start to end, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A real TLS server's reply is complete once this long passes without
/// new data after some came (unless close_notify or EOF ends it first).
pub const REPLY_QUIET: Duration = Duration::from_millis(500);

/// At most this much of a real TLS server's reply is kept; the reply is
/// complete once it is reached. Twice the largest application message the
/// service takes (`options::MAX_APPLICATION_MESSAGE`), so server-svc's
/// TLS front can echo the largest whole.
pub const MAX_REPLY: usize = 2 << 20;

/// What server-svc puts before its echo of each application record
/// (service.proto, `HandshakeService.Connect`).
pub const ECHO_PREFIX: &[u8] = b"echo: ";

/// How long to wait, once the session is over, for the server to end its
/// side (and, for server-svc, to learn the step it names in its status).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// server-svc's reply to `message` sent by this engine: for each record
/// of at most [`MAX_PLAINTEXT`] bytes (how `Connection::send_application_data`
/// cuts it), "echo: " + that record's plaintext.
pub fn expected_echo(message: &[u8]) -> Vec<u8> {
    let records = message.len().div_ceil(MAX_PLAINTEXT).max(1);
    let mut echo = Vec::with_capacity(message.len() + records * ECHO_PREFIX.len());
    for chunk in message.chunks(MAX_PLAINTEXT) {
        echo.extend_from_slice(ECHO_PREFIX);
        echo.extend_from_slice(chunk);
    }
    echo
}

/// What session to run.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// The target as given (server-svc's URL or `tls://host:port`), for
    /// messages and logs (the [`Target`] is passed apart).
    pub server: String,
    /// Suites, groups, EMS, the CA and the corrupt-Finished fault.
    pub config: ClientConfig,
    /// The name the certificate must match (and the SNI sent).
    pub server_name: ServerName<'static>,
    /// Sent encrypted after the handshake; empty means [`DEFAULT_MESSAGE`].
    pub message: Vec<u8>,
    /// Lab: copy the session's secrets into the outcome.
    pub capture_secrets: bool,
    /// Lab: append the session's key log line here once keys exist.
    pub key_log: Option<Arc<KeyLog>>,
    /// The whole session's deadline, counted from its start.
    pub timeout: Duration,
    /// Where the session is counted (`Metrics::disabled()`: nowhere).
    pub metrics: Metrics,
}

impl SessionSpec {
    /// The message actually sent.
    pub fn message(&self) -> &[u8] {
        if self.message.is_empty() {
            DEFAULT_MESSAGE.as_bytes()
        } else {
            &self.message
        }
    }
}

/// Why a session did not complete.
#[derive(Clone, Debug)]
pub enum SessionError {
    /// The server could not be reached; no TLS message was exchanged.
    Unreachable(String),
    /// server-svc refused the session at once (at its --max-sessions); no
    /// TLS message was exchanged.
    Busy(String),
    /// The connection to server-svc was lost mid-session (the replica died
    /// or cut it): reported as an internal_error of client-svc at the step
    /// it was at, whose reason says so.
    Lost(Failure),
    /// The session failed with a fatal alert.
    Tls(Failure),
}

impl SessionError {
    /// The failed step, for the errors that have one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Lost(f) | Self::Tls(f) => Some(f),
            Self::Unreachable(_) | Self::Busy(_) => None,
        }
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(msg) | Self::Busy(msg) => f.write_str(msg),
            Self::Lost(failure) | Self::Tls(failure) => failure.fmt(f),
        }
    }
}

/// Where and why a session failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The step being worked on: for an alert from server-svc, the step
    /// server-svc names in its status; otherwise the engine's.
    pub step: Step,
    /// The alert, and who raised it (`error.origin()`).
    pub error: Error,
    /// For an alert from server-svc, the reason its status gave (the
    /// engine only knows which alert came).
    pub server_reason: Option<String>,
    /// The server, as messages name it ([`Target::peer`]).
    pub peer: &'static str,
}

impl Failure {
    /// What went wrong, in the words of the side that found it.
    pub fn reason(&self) -> &str {
        self.server_reason
            .as_deref()
            .unwrap_or_else(|| self.error.reason())
    }

    pub fn raised_by_server(&self) -> bool {
        self.error.origin() == Origin::Peer
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let by = if self.raised_by_server() {
            self.peer
        } else {
            "client-svc"
        };
        write!(
            f,
            "tls alert {} at step {}, raised by {by}: {}",
            self.error.alert(),
            self.step,
            self.reason()
        )
    }
}

/// What [`run`] tells its caller, as it happens.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// An engine event: a step done, application data, a warning alert,
    /// close_notify. Never `Event::Failed`: failures come as `Failed`.
    Engine(&'a Event),
    /// The session failed; told once, last.
    Failed(&'a Failure),
}

/// How a session ended.
#[derive(Debug)]
pub struct Outcome {
    /// Random, hex: names the session in logs and the report.
    pub session_id: String,
    /// The server's decrypted reply, or why there is none.
    pub result: Result<Vec<u8>, SessionError>,
    /// Only when [`SessionSpec::capture_secrets`] and keys were derived.
    pub secrets: Option<pb::Secrets>,
    /// From the start to the end of the session.
    pub total: Duration,
}

/// Runs one session against `target`, calling `on_event` with each engine
/// event as it happens and the time since the start, then, if the session
/// fails, with its [`Failure`] once the failing step is settled.
///
/// Timing: the engine stamps each step when it finishes with the clock this
/// session gives it (time since the session's start), so steps 5 to 10,
/// all done inside the one call that handles ServerHelloDone, are timed
/// apart. The ClientHello, queued before the clock is given, ends when the
/// session starts.
pub async fn run(
    target: Target,
    spec: &SessionSpec,
    on_event: impl FnMut(Progress<'_>, Duration) + Send,
) -> Outcome {
    let session_id = new_session_id();
    let span = tracing::info_span!(
        "session",
        id = %session_id,
        server = %spec.server,
        server_name = %server_name_text(&spec.server_name),
        otel.kind = tracing::field::Empty,
    );
    // It calls server-svc: a client span in the traces.
    service_runtime::telemetry::set_kind(&span, "client");
    async move {
        let via = if target.is_tls() { Via::tls } else { Via::grpc };
        let watch = SessionWatch::start(&spec.metrics, via);
        let start = Instant::now();
        let mut driver = Driver {
            spec,
            session_id: &session_id,
            start,
            deadline: start + spec.timeout,
            on_event,
            conn: None,
            until_close: target.is_tls(),
            peer: target.peer(),
            transport: Transport::new(target),
            phase: Phase::Handshake,
            expected_reply: Vec::new(),
            quiet_until: None,
            reply: Vec::new(),
            key_logged: false,
            watch,
        };
        let result = driver.run().await;
        if let Err(e) = &result
            && e.failure().is_none()
        {
            driver.watch.set_reason(&e.to_string());
        }
        let secrets = if spec.capture_secrets {
            driver.conn.as_ref().and_then(secrets_of)
        } else {
            None
        };
        let total = start.elapsed();
        if let Ok(reply) = &result {
            tracing::debug!(reply_len = reply.len(), "reply complete");
        }
        // The driver's SessionWatch writes the session's one info line
        // as it drops, here, inside the span.
        Outcome {
            session_id,
            result,
            secrets,
            total,
        }
    }
    .instrument(span)
    .await
}

/// One session's moving parts.
struct Driver<'a, F> {
    spec: &'a SessionSpec,
    session_id: &'a str,
    start: Instant,
    deadline: Instant,
    on_event: F,
    conn: Option<Connection>,
    transport: Transport,
    /// A real TLS server: the reply ends with close_notify, EOF or quiet.
    until_close: bool,
    /// The server, as messages name it.
    peer: &'static str,
    phase: Phase,
    /// server-svc: the whole reply, once the message is sent.
    expected_reply: Vec<u8>,
    /// A real TLS server: the reply is complete if nothing comes by then.
    quiet_until: Option<Instant>,
    reply: Vec<u8>,
    key_logged: bool,
    /// Its metrics and its one info line, written when the driver drops.
    watch: SessionWatch,
}

/// Where a session is, in RFC 5246's order: the handshake, the
/// application data, the closure (7.2.1); or failed, from any of them.
#[derive(Debug)]
enum Phase {
    /// Steps 1 to 13: the handshake is under way.
    Handshake,
    /// Step 13 (the server's Finished) verified: the application message
    /// goes next. `peer_closed`: the server's close_notify came already.
    Established { peer_closed: bool },
    /// The message is sent; its reply is being read.
    AwaitingReply { peer_closed: bool },
    /// The reply is complete (the echo's length, close_notify, EOF, silence
    /// or the cap): it is judged, then our close_notify goes out.
    ReplyComplete,
    /// The engine's failure (or ours), reported once its step is settled.
    /// `lost`: the connection to server-svc was lost mid-session.
    Failed {
        step: Step,
        error: Error,
        lost: bool,
    },
}

impl Phase {
    fn failed(step: Step, error: Error) -> Self {
        Self::Failed {
            step,
            error,
            lost: false,
        }
    }
}

impl<F: FnMut(Progress<'_>, Duration)> Driver<'_, F> {
    async fn run(&mut self) -> Result<Vec<u8>, SessionError> {
        let config = Arc::new(self.spec.config.clone());
        let conn = Connection::client(
            config,
            self.spec.server_name.clone(),
            UnixTime::now(),
            Box::new(SystemRng),
        );
        match conn {
            Ok(c) => {
                let start = self.start;
                self.conn = Some(c.with_clock(Box::new(move || start.elapsed())));
            }
            Err(error) => {
                // Nothing was sent: the ClientHello itself could not be made.
                return Err(SessionError::Tls(self.report_failure(
                    Step::ClientHello,
                    error,
                    None,
                )));
            }
        }

        // The ClientHello is queued before connecting (over gRPC it then
        // travels with the request headers). Its step is reported once the
        // server is reached: an unreachable server gets no steps.
        self.flush();
        self.transport
            .open(
                &self.spec.server,
                self.session_id,
                self.deadline,
                self.spec.timeout,
            )
            .await?;
        self.events();

        let mut final_status = self.exchange().await;

        // Our last words (close_notify or an alert) are queued: send them,
        // end our side and let the server end its own, which for server-svc
        // may say at which step it failed.
        let until = std::cmp::min(self.deadline, Instant::now() + DRAIN_TIMEOUT);
        let drained = self.transport.finish(final_status.is_none(), until).await;
        if final_status.is_none() {
            final_status = drained;
        }
        self.log_keys();

        match std::mem::replace(&mut self.phase, Phase::ReplyComplete) {
            Phase::Failed { step, error, lost } => {
                // server-svc knows which of its steps failed and why; the
                // engine only knows what it was waiting for and the alert.
                let (step, server_reason) = match (error.origin(), &final_status) {
                    (Origin::Peer, Some(status)) => {
                        (server_step(status).unwrap_or(step), server_reason(status))
                    }
                    (Origin::Peer, None) => (peer_step(step, &error), None),
                    _ => (step, None),
                };
                let failure = self.report_failure(step, error, server_reason);
                Err(if lost {
                    SessionError::Lost(failure)
                } else {
                    SessionError::Tls(failure)
                })
            }
            _ => Ok(std::mem::take(&mut self.reply)),
        }
    }

    /// Moves messages both ways until the session completes or fails.
    /// Returns the status the stream ended with, if it ended that way.
    async fn exchange(&mut self) -> Option<Status> {
        loop {
            match self.phase {
                Phase::Handshake | Phase::AwaitingReply { peer_closed: false } => {}
                Phase::Failed { .. } => return None,
                Phase::Established { peer_closed } => {
                    self.send_message(peer_closed);
                    continue;
                }
                Phase::ReplyComplete => {
                    if !self.until_close
                        && let Some(why) = echo_mismatch(&self.reply, &self.expected_reply)
                    {
                        self.fail(Error::unexpected(why));
                        continue;
                    }
                    if let Some(conn) = self.conn.as_mut() {
                        // close_notify (RFC 5246 7.2.1); the engine is in its
                        // traffic phase here, so this cannot fail in practice
                        // (except after the server's own close_notify, which
                        // the engine does not let us answer).
                        if let Err(e) = conn.close() {
                            tracing::debug!("close: {e}");
                        }
                    }
                    self.pump();
                    return None;
                }
                Phase::AwaitingReply { peer_closed: true } => {
                    if self.until_close {
                        tracing::debug!("the reply ends with the server's close_notify");
                        self.phase = Phase::ReplyComplete;
                    } else {
                        self.fail(Error::unexpected(
                            "server-svc sent close_notify before replying to the application message",
                        ));
                    }
                    continue;
                }
            }
            // A real server's reply may end with silence.
            let quiet = self
                .quiet_until
                .filter(|q| self.until_close && *q < self.deadline);
            let until = quiet.unwrap_or(self.deadline);
            match timeout_at(until, self.transport.recv()).await {
                Ok(Incoming::Message(msg)) => {
                    if let Some(conn) = self.conn.as_mut() {
                        match msg {
                            // The engine reports its own failures as events.
                            Ok(m) => {
                                conn.handle(m);
                            }
                            Err(e) => conn.abort(e),
                        }
                    }
                    self.pump();
                }
                Ok(Incoming::End(what))
                    if self.until_close && matches!(self.phase, Phase::AwaitingReply { .. }) =>
                {
                    tracing::debug!("the reply ends without close_notify: {what}");
                    self.phase = Phase::ReplyComplete;
                }
                Ok(Incoming::End(what)) => {
                    self.fail(Error::unexpected(format!(
                        "{what} while client-svc waited for {}",
                        self.awaited()
                    )));
                }
                Ok(Incoming::Status(status)) => {
                    self.on_status(&status);
                    return Some(status);
                }
                Err(_) if quiet.is_some() => {
                    tracing::debug!(
                        quiet_ms = REPLY_QUIET.as_millis(),
                        "the reply ends: nothing more came"
                    );
                    self.phase = Phase::ReplyComplete;
                }
                Err(_) => {
                    self.watch.timed_out(Limit::session_timeout);
                    self.fail(Error::internal(format!(
                        "timeout: the session's {} s ran out while client-svc waited for {}",
                        self.spec.timeout.as_secs_f64(),
                        self.awaited()
                    )));
                }
            }
        }
    }

    /// What was being waited for, for messages.
    fn awaited(&self) -> &'static str {
        match self.phase {
            Phase::Handshake => "the server's handshake messages",
            _ => "the reply to the application message",
        }
    }

    /// The stream ended with an error status and no alert before it.
    fn on_status(&mut self, status: &Status) {
        if matches!(self.phase, Phase::Failed { .. }) {
            return;
        }
        let alert = alert_of(status);
        let lost = alert.is_none() && connection_lost(status);
        let error = match alert {
            Some(alert) => Error::from_peer(alert),
            None if lost => Error::internal(format!(
                "the connection to server-svc was lost while client-svc waited for {}: {}",
                self.awaited(),
                status.message()
            )),
            None => Error::internal(format!(
                "server-svc ended the stream with {:?}: {}",
                status.code(),
                status.message()
            )),
        };
        self.fail(error);
        if let Phase::Failed { lost: l, .. } = &mut self.phase {
            *l = lost;
        }
    }

    /// Ends the session for a failure the engine did not see itself.
    fn fail(&mut self, error: Error) {
        if let Some(conn) = self.conn.as_mut() {
            conn.abort(error.clone());
        }
        self.pump();
        if !matches!(self.phase, Phase::Failed { .. }) {
            // The engine had already closed: record it here.
            self.phase = Phase::failed(Step::Finish, error);
        }
    }

    /// Seals the application message and sends it.
    fn send_message(&mut self, peer_closed: bool) {
        let message = self.spec.message();
        let records = message.len().div_ceil(MAX_PLAINTEXT).max(1);
        // What came before the message (nothing, from server-svc; from a
        // real server, up to the cap) may already complete the reply.
        let complete = if self.until_close {
            self.reply.len() >= MAX_REPLY
        } else {
            self.expected_reply = expected_echo(message);
            self.reply.len() >= self.expected_reply.len()
        };
        self.phase = if complete {
            Phase::ReplyComplete
        } else {
            Phase::AwaitingReply { peer_closed }
        };
        // Data a real server sent unasked does not start the reply's quiet
        // period early.
        if self.quiet_until.is_some() {
            self.quiet_until = Some(Instant::now() + REPLY_QUIET);
        }
        if let Some(conn) = self.conn.as_mut()
            && let Err(e) = conn.send_application_data(message)
        {
            conn.abort(e);
        }
        tracing::debug!(bytes = message.len(), records, "application message sent");
        self.pump();
    }

    /// Sends what the engine queued and passes on what it reported.
    fn pump(&mut self) {
        self.flush();
        self.events();
    }

    /// Hands what the engine queued to the transport.
    fn flush(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(msg) = conn.poll_transmit() {
            if let Err(e) = self.transport.send(msg) {
                conn.abort(e);
            }
        }
    }

    /// Passes on what the engine reported.
    fn events(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // Steps carry the engine's stamp; anything else ended by now.
        let now = self.start.elapsed();
        while let Some(event) = conn.poll_event() {
            let mut elapsed = now;
            // A failure is settled (its step, the server's reason) and
            // told to the watch in `report_failure`.
            if !matches!(event, Event::Failed { .. }) {
                self.watch.event(&event);
            }
            match &event {
                Event::Step(s) => {
                    if let Some(at) = s.at {
                        elapsed = at;
                    }
                    if s.step == Step::Finish && matches!(self.phase, Phase::Handshake) {
                        self.phase = Phase::Established { peer_closed: false };
                    }
                }
                Event::ApplicationData(data) => {
                    tracing::debug!(bytes = data.len(), "reply received");
                    if self.until_close {
                        let room = MAX_REPLY.saturating_sub(self.reply.len());
                        self.reply.extend_from_slice(&data[..data.len().min(room)]);
                        self.quiet_until = Some(Instant::now() + REPLY_QUIET);
                        if self.reply.len() >= MAX_REPLY {
                            tracing::debug!(max = MAX_REPLY, "the reply is cut at its maximum");
                            // Before the message is sent, `send_message`
                            // sees the cap.
                            if let Phase::AwaitingReply { .. } = self.phase {
                                self.phase = Phase::ReplyComplete;
                            }
                        }
                    } else {
                        // Complete at the echo's length; whether it is the
                        // echo is checked then (`exchange`). Nothing more
                        // is read after, so this holds at most one record
                        // beyond the echo.
                        self.reply.extend_from_slice(data);
                        if matches!(self.phase, Phase::AwaitingReply { .. })
                            && self.reply.len() >= self.expected_reply.len()
                        {
                            self.phase = Phase::ReplyComplete;
                        }
                    }
                }
                Event::PeerClosed => match &mut self.phase {
                    Phase::Established { peer_closed } | Phase::AwaitingReply { peer_closed } => {
                        *peer_closed = true;
                    }
                    // The engine fails a close_notify during the handshake;
                    // a complete reply or a failure stands.
                    _ => {}
                },
                Event::Warning(alert) => {
                    tracing::debug!(alert = %alert.description, "warning alert from {}", self.peer);
                }
                Event::Failed { step, error } => {
                    // Reported once the step is settled (see `run`).
                    self.phase = Phase::failed(*step, error.clone());
                    continue;
                }
            }
            (self.on_event)(Progress::Engine(&event), elapsed);
        }
        self.log_keys();
    }

    /// Appends the key log line, once, as soon as the keys exist.
    fn log_keys(&mut self) {
        if self.key_logged {
            return;
        }
        let (Some(log), Some(conn)) = (&self.spec.key_log, &self.conn) else {
            return;
        };
        if let Some(line) = conn.key_log_line() {
            log.append(&line);
            self.key_logged = true;
            tracing::debug!("key log line written");
        }
    }

    /// Logs and reports the failure; returns it.
    fn report_failure(
        &mut self,
        step: Step,
        error: Error,
        server_reason: Option<String>,
    ) -> Failure {
        let failure = Failure {
            step,
            error,
            server_reason,
            peer: self.peer,
        };
        tracing::debug!(
            step = step.number(),
            step_name = step.name(),
            alert = %failure.error.alert(),
            raised_by_server = failure.raised_by_server(),
            reason = failure.reason(),
            "step {step} failed"
        );
        self.watch
            .failed(step, failure.error.alert(), failure.reason());
        (self.on_event)(Progress::Failed(&failure), self.start.elapsed());
        failure
    }
}

/// Why `reply` is not server-svc's echo `expected`, if it is not: bounded
/// text (the bytes themselves are in the report).
fn echo_mismatch(reply: &[u8], expected: &[u8]) -> Option<String> {
    if reply == expected {
        return None;
    }
    let at = reply
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(reply.len().min(expected.len()));
    Some(format!(
        "server-svc's reply is not the echo of the application message: {} bytes came where the echo is {} bytes, differing from byte {at} ({:?})",
        reply.len(),
        expected.len(),
        quote::bytes(&reply[at..reply.len().min(at + 32)])
    ))
}

/// The reason in a status from [`proto::status::to_status`]
/// ("tls alert <alert> at step <n> (<name>): <reason>"), or its whole message.
fn server_reason(status: &Status) -> Option<String> {
    let message = status.message();
    let reason = match message.strip_prefix("tls alert ") {
        Some(rest) => rest.split_once(": ").map(|(_, r)| r)?,
        None => message,
    };
    (!reason.is_empty()).then(|| reason.to_owned())
}

/// The step of an alert from a server that names none (a real TLS
/// server): the step the client was waiting for, except that decrypt_error
/// while waiting for the server's ChangeCipherSpec is the server refusing
/// our Finished (RFC 5246 7.4.9), step 10, as server-svc would name it.
fn peer_step(awaited: Step, error: &Error) -> Step {
    if awaited == Step::ServerChangeCipherSpec
        && error.alert() == handshake::AlertDescription::DECRYPT_ERROR
    {
        Step::ClientEncryptedHandshakeMessage
    } else {
        awaited
    }
}

/// The step named in a status's `tls-step` metadata.
fn server_step(status: &Status) -> Option<Step> {
    let n: usize = status
        .metadata()
        .get(STEP_KEY)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Step::ALL.get(n.checked_sub(1)?).copied()
}

/// The session's secrets as hex, for the lab report.
fn secrets_of(conn: &Connection) -> Option<pb::Secrets> {
    let s = conn.secrets()?;
    Some(pb::Secrets {
        pre_master_secret: hex(s.pre_master_secret()),
        master_secret: hex(s.master_secret()),
        client_write_key: hex(s.client_write_key()),
        server_write_key: hex(s.server_write_key()),
        client_write_iv: hex(s.client_write_iv()),
        server_write_iv: hex(s.server_write_iv()),
        key_log_line: s.key_log_line(),
    })
}

/// Whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
