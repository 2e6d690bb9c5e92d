//! One TLS 1.2 session against server-svc, over one `Connect` stream.
//!
//! This is the driver of the sans-IO engine: what the client engine wants
//! to send goes out through [`to_request`] on an mpsc-backed request
//! stream; what server-svc answers comes back through [`from_response`]
//! into [`Connection::handle`]. After the handshake the application message
//! is sent, the reply awaited, and the session closed with close_notify and
//! the end of the request stream.
//!
//! Every engine event is handed to the caller as it happens, with the time
//! since the session started (the engine reads no clock; this driver does,
//! with [`Instant`]). The report (`report.rs`), the service's
//! WatchHandshake and the CLI all build on that one callback.

use std::sync::Arc;
use std::time::Duration;

use handshake::keys::hex;
use handshake::msgs::enums::ContentType;
use handshake::rand::{Rng, SystemRng};
use handshake::{ClientConfig, Connection, Error, Event, Message, Origin, Step};
use proto::convert::{from_response, to_request};
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::status::{STEP_KEY, alert_of};
use rustls_pki_types::{ServerName, UnixTime};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use tracing::Instrument;

/// The request and response header that names a session in both
/// services' logs.
pub const SESSION_ID_HEADER: &str = "session-id";

/// Sent when no application message is given.
pub const DEFAULT_MESSAGE: &str = "hello";

/// How long a session may take, start to end, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait, once the session is over, for server-svc to end its
/// side of the stream (and to learn the step it names in its status).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest plaintext of one record (RFC 5246 6.2.1): server-svc answers
/// each application record with one record, so a message of n records
/// gets n replies.
const MAX_PLAINTEXT: usize = 1 << 14;

/// What session to run.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// server-svc's URL, for messages and logs (the channel is passed apart).
    pub server: String,
    /// Suites, groups, EMS, the CA and the corrupt-Finished fault.
    pub config: ClientConfig,
    /// The name the certificate must match.
    pub server_name: ServerName<'static>,
    /// Sent encrypted after the handshake; empty means [`DEFAULT_MESSAGE`].
    pub message: Vec<u8>,
    /// Lab: flip a byte of the application record after sealing it.
    pub corrupt_application_record: bool,
    /// Lab: copy the session's secrets into the outcome.
    pub capture_secrets: bool,
    /// The whole session's deadline, counted from its start.
    pub timeout: Duration,
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
    /// server-svc could not be reached; no TLS message was exchanged.
    Unreachable(String),
    /// The session failed with a fatal alert.
    Tls(Failure),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(msg) => f.write_str(msg),
            Self::Tls(failure) => failure.fmt(f),
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
            "server-svc"
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
    /// server-svc's decrypted reply, or why there is none.
    pub result: Result<Vec<u8>, SessionError>,
    /// Only when [`SessionSpec::capture_secrets`] and keys were derived.
    pub secrets: Option<pb::Secrets>,
    /// From the start to the end of the session.
    pub total: Duration,
}

/// A lazily connected channel to `url` ("http://host:port"; a bare
/// "host:port" gets "http://"). Connecting happens on first use, so an
/// unreachable server shows up as [`SessionError::Unreachable`].
pub fn channel(url: &str) -> Result<Channel, String> {
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("invalid server URL {url:?}: {e}"))?;
    // A host that drops packets must not hold a session for the whole
    // session timeout before saying it is unreachable.
    Ok(endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// Runs one session over `channel`, calling `on_event` with each engine
/// event as it happens and the time since the start, then, if the session
/// fails, with its [`Failure`] once the failing step is settled.
///
/// Timing: the engine stamps each step when it finishes with the clock this
/// session gives it (time since the session's start), so steps 5 to 10,
/// all done inside the one call that handles ServerHelloDone, are timed
/// apart. The ClientHello, queued before the clock is given, ends when the
/// session starts.
pub async fn run(
    channel: Channel,
    spec: &SessionSpec,
    on_event: impl FnMut(Progress<'_>, Duration) + Send,
) -> Outcome {
    let session_id = new_session_id();
    let span = tracing::info_span!(
        "session",
        id = %session_id,
        server = %spec.server,
        server_name = %server_name_text(&spec.server_name),
    );
    async move {
        let start = Instant::now();
        let mut driver = Driver {
            spec,
            session_id: &session_id,
            start,
            deadline: start + spec.timeout,
            on_event,
            conn: None,
            tx: None,
            failure: None,
            handshake_done: false,
            replies_left: None,
            reply: Vec::new(),
            peer_closed: false,
        };
        let result = driver.run(channel).await;
        let secrets = if spec.capture_secrets {
            driver.conn.as_ref().and_then(secrets_of)
        } else {
            None
        };
        let total = start.elapsed();
        match &result {
            Ok(reply) => tracing::info!(
                total_us = micros(total),
                reply_len = reply.len(),
                "session done"
            ),
            Err(e) => tracing::warn!(total_us = micros(total), "session failed: {e}"),
        }
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
    /// The request stream's sender; dropping it ends the stream.
    tx: Option<mpsc::UnboundedSender<pb::ConnectRequest>>,
    /// The engine's failure, reported once its step is settled.
    failure: Option<(Step, Error)>,
    handshake_done: bool,
    /// Replies still awaited; `None` until the message is sent.
    replies_left: Option<usize>,
    reply: Vec<u8>,
    peer_closed: bool,
}

impl<F: FnMut(Progress<'_>, Duration)> Driver<'_, F> {
    async fn run(&mut self, channel: Channel) -> Result<Vec<u8>, SessionError> {
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
                return Err(self.report_failure(Step::ClientHello, error, None));
            }
        }

        // The request stream is unbounded: a flight is at most a handful
        // of messages, and a bounded one could block the engine's pump
        // while server-svc waits for us to read.
        let (tx, rx) = mpsc::unbounded_channel();
        self.tx = Some(tx);
        // ClientHello goes into the stream before the call, so it travels
        // with the request headers. Its step is reported once server-svc
        // has answered the call: an unreachable server gets no steps.
        self.flush();

        let mut request = Request::new(UnboundedReceiverStream::new(rx));
        // Proposes our id to server-svc, so both services' logs name the
        // session alike (service.proto: the `session-id` header). Hex
        // digits are always a valid header value.
        if let Ok(v) = MetadataValue::try_from(self.session_id) {
            request.metadata_mut().insert(SESSION_ID_HEADER, v);
        }
        let mut client = HandshakeServiceClient::new(channel);
        let call = timeout_at(self.deadline, client.connect(request)).await;
        let mut final_status = None;
        let mut inbound = match call {
            Ok(Ok(resp)) => {
                let theirs = resp.metadata().get(SESSION_ID_HEADER);
                if let Some(id) = theirs.and_then(|v| v.to_str().ok())
                    && id != self.session_id
                {
                    tracing::info!(server_session_id = id, "server-svc names this session {id}");
                }
                self.events();
                Some(resp.into_inner())
            }
            Ok(Err(status))
                if alert_of(&status).is_none() && status.code() == Code::Unavailable =>
            {
                return Err(SessionError::Unreachable(format!(
                    "server-svc at {} is unreachable: {}",
                    self.spec.server,
                    status.message()
                )));
            }
            Ok(Err(status)) => {
                self.on_status(&status);
                final_status = Some(status);
                None
            }
            Err(_) => {
                return Err(SessionError::Unreachable(format!(
                    "server-svc at {} did not answer within {} s",
                    self.spec.server,
                    self.spec.timeout.as_secs_f64()
                )));
            }
        };

        if let Some(stream) = inbound.as_mut()
            && let Some(status) = self.exchange(stream).await
        {
            final_status = Some(status);
        }

        // Our last words (close_notify or an alert) are queued: end the
        // request stream and let server-svc end its side, which may say
        // at which step it failed.
        self.tx = None;
        if final_status.is_none()
            && let Some(stream) = inbound.as_mut()
        {
            final_status = self.drain(stream).await;
        }
        drop(inbound);

        match self.failure.take() {
            None => Ok(std::mem::take(&mut self.reply)),
            Some((step, error)) => {
                // server-svc knows which of its steps failed and why; the
                // engine only knows what it was waiting for and the alert.
                let (step, server_reason) = match (error.origin(), &final_status) {
                    (Origin::Peer, Some(status)) => {
                        (server_step(status).unwrap_or(step), server_reason(status))
                    }
                    _ => (step, None),
                };
                Err(self.report_failure(step, error, server_reason))
            }
        }
    }

    /// Moves messages both ways until the session completes or fails.
    /// Returns the status the stream ended with, if it ended that way.
    async fn exchange(&mut self, inbound: &mut Streaming<pb::ConnectResponse>) -> Option<Status> {
        loop {
            if self.failure.is_some() {
                return None;
            }
            if self.handshake_done && self.replies_left.is_none() {
                self.send_message();
                continue;
            }
            if self.replies_left == Some(0) {
                if let Some(conn) = self.conn.as_mut() {
                    // close_notify (RFC 5246 7.2.1); the engine is in its
                    // traffic phase here, so this cannot fail in practice.
                    if let Err(e) = conn.close() {
                        tracing::debug!("close: {e}");
                    }
                }
                self.pump();
                return None;
            }
            if self.peer_closed {
                self.fail(Error::unexpected(
                    "server-svc sent close_notify before replying to the application message",
                ));
                continue;
            }
            match timeout_at(self.deadline, inbound.message()).await {
                Ok(Ok(Some(resp))) => {
                    let msg = from_response(resp);
                    if let Some(conn) = self.conn.as_mut() {
                        match msg {
                            // The engine reports its own failures as events.
                            Ok(m) => {
                                let _ = conn.handle(m);
                            }
                            Err(e) => conn.abort(e),
                        }
                    }
                    self.pump();
                }
                Ok(Ok(None)) => {
                    self.fail(Error::unexpected(format!(
                        "server-svc ended the stream while client-svc waited for {}",
                        self.awaited()
                    )));
                }
                Ok(Err(status)) => {
                    self.on_status(&status);
                    return Some(status);
                }
                Err(_) => {
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
        if self.handshake_done {
            "the reply to the application message"
        } else {
            "the server's handshake messages"
        }
    }

    /// The stream ended with an error status and no alert before it.
    fn on_status(&mut self, status: &Status) {
        if self.failure.is_some() {
            return;
        }
        let error = match alert_of(status) {
            Some(alert) => Error::from_peer(alert),
            None => Error::internal(format!(
                "server-svc ended the stream with {:?}: {}",
                status.code(),
                status.message()
            )),
        };
        self.fail(error);
    }

    /// Ends the session for a failure the engine did not see itself.
    fn fail(&mut self, error: Error) {
        if let Some(conn) = self.conn.as_mut() {
            conn.abort(error.clone());
        }
        self.pump();
        if self.failure.is_none() {
            // The engine had already closed: record it here.
            self.failure = Some((Step::Finish, error));
        }
    }

    /// Seals the application message and sends it.
    fn send_message(&mut self) {
        let message = self.spec.message();
        let records = message.len().div_ceil(MAX_PLAINTEXT).max(1);
        self.replies_left = Some(records);
        if let Some(conn) = self.conn.as_mut()
            && let Err(e) = conn.send_application_data(message)
        {
            conn.abort(e);
        }
        tracing::info!(bytes = message.len(), records, "application message sent");
        self.pump();
    }

    /// Sends what the engine queued and passes on what it reported.
    fn pump(&mut self) {
        self.flush();
        self.events();
    }

    /// Sends what the engine queued.
    fn flush(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(msg) = conn.poll_transmit() {
            let msg = tamper(msg, self.spec.corrupt_application_record);
            match to_request(msg) {
                Ok(req) => {
                    if let Some(tx) = &self.tx {
                        // A closed stream shows up on the receiving side.
                        let _ = tx.send(req);
                    }
                }
                Err(e) => conn.abort(e),
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
            match &event {
                Event::Step(s) => {
                    if let Some(at) = s.at {
                        elapsed = at;
                    }
                    tracing::info!(
                        step = s.step.number(),
                        name = s.step.name(),
                        direction = ?s.direction,
                        elapsed_us = micros(elapsed),
                        "step {}",
                        s.step
                    );
                    if s.step == Step::Finish {
                        self.handshake_done = true;
                    }
                }
                Event::ApplicationData(data) => {
                    self.reply.extend_from_slice(data);
                    if let Some(n) = self.replies_left.as_mut() {
                        *n = n.saturating_sub(1);
                    }
                    tracing::info!(bytes = data.len(), "reply received");
                }
                Event::PeerClosed => self.peer_closed = true,
                Event::Warning(alert) => {
                    tracing::info!(alert = %alert.description, "warning alert from server-svc");
                }
                Event::Failed { step, error } => {
                    // Reported once the step is settled (see `run`).
                    self.failure = Some((*step, error.clone()));
                    continue;
                }
            }
            (self.on_event)(Progress::Engine(&event), elapsed);
        }
    }

    /// Reads what is left of the stream, briefly, for its closing status.
    async fn drain(&mut self, inbound: &mut Streaming<pb::ConnectResponse>) -> Option<Status> {
        let until = std::cmp::min(self.deadline, Instant::now() + DRAIN_TIMEOUT);
        loop {
            match timeout_at(until, inbound.message()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Err(_) => return None,
                Ok(Err(status)) => return Some(status),
            }
        }
    }

    /// Logs and reports the failure; returns it as the session's error.
    fn report_failure(
        &mut self,
        step: Step,
        error: Error,
        server_reason: Option<String>,
    ) -> SessionError {
        let failure = Failure {
            step,
            error,
            server_reason,
        };
        tracing::warn!(
            step = step.number(),
            name = step.name(),
            alert = %failure.error.alert(),
            raised_by_server = failure.raised_by_server(),
            reason = failure.reason(),
            "step {step} failed"
        );
        (self.on_event)(Progress::Failed(&failure), self.start.elapsed());
        SessionError::Tls(failure)
    }
}

/// Lab fault: flips the last byte (part of the AEAD tag) of an application
/// data record after sealing, so server-svc's decryption fails.
fn tamper(msg: Message, corrupt_application_record: bool) -> Message {
    match msg {
        Message::Protected(mut rec)
            if corrupt_application_record && rec.typ == ContentType::APPLICATION_DATA =>
        {
            if let Some(last) = rec.fragment.last_mut() {
                *last ^= 0x01;
            }
            Message::Protected(rec)
        }
        other => other,
    }
}

/// The reason in a status from [`proto::status::to_status`]
/// ("tls alert <alert> at step <n>. <name>: <reason>"), or its whole message.
fn server_reason(status: &Status) -> Option<String> {
    let message = status.message();
    let reason = match message.strip_prefix("tls alert ") {
        Some(rest) => rest.split_once(": ").map(|(_, r)| r)?,
        None => message,
    };
    (!reason.is_empty()).then(|| reason.to_owned())
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

fn new_session_id() -> String {
    let mut id = [0u8; 8];
    // An id only correlates logs: if the generator fails, a zero id is
    // still a valid (if unhelpful) one.
    let _ = SystemRng.fill(&mut id);
    hex(&id)
}

/// The name as text: a DNS name or an IP address.
pub fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// Whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
