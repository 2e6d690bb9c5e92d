//! One session: one Connect stream driving one server engine, in its own
//! task. The loop is the whole adapter:
//!
//! ```text
//! ConnectRequest --from_request--> Connection::handle
//!                                        |
//!      poll_event: log each step; ApplicationData -> "echo: " reply; Failed -> remember
//!      poll_transmit --to_response--> ConnectResponse (alerts included)
//!                                        |
//!      failed?  -> Err(status) ends the stream (after the alert went out)
//! ```
//!
//! How a session ends:
//! - the client closes its side (or sends close_notify): the stream ends
//!   with OK, whatever the step;
//! - the engine fails (a bad message, a bad record, an alert from the
//!   client), or the request cannot be converted (`Connection::abort`): the
//!   queued alert is sent, then `proto::status::to_status(error, step)`;
//! - no message for the idle timeout, or the handshake not done by the
//!   handshake deadline (counted from the stream's start, whatever the
//!   client sends meanwhile: warning alerts reset the idle timeout, not
//!   this): a fatal user_canceled alert (RFC 5246 7.2.1: the handshake is
//!   cancelled for a reason unrelated to a protocol failure), then
//!   DEADLINE_EXCEEDED with the same `tls-alert` and `tls-step` metadata;
//! - a message larger than `--max-message-size`: tonic's OUT_OF_RANGE
//!   status, as it gives it;
//! - the client resets the stream or stops reading for the idle timeout:
//!   the task just ends.
//!
//! When the task ends, the engine, the stream and every key are dropped and
//! its [`SessionGuard`] gives its place in the [`LiveSessions`] budget back.

use handshake::{AlertDescription, Connection, Error, Event, Step};
use proto::convert::{from_request, to_response};
use proto::pb::{ConnectRequest, ConnectResponse};
use proto::status::to_status;
pub use service_runtime::limits::LiveSessions;
use service_runtime::limits::SessionGuard;
use service_runtime::metrics::{Limit, Transport};
use service_runtime::watch::SessionWatch;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tonic::{Code, Status, Streaming};
use tracing::debug;

use crate::service::HandshakeService;
use crate::steps::on_event;

/// The prefix of every application data reply.
pub const ECHO_PREFIX: &[u8] = b"echo: ";

pub(crate) type Outbound = mpsc::Sender<Result<ConnectResponse, Status>>;

/// A running session.
pub(crate) struct Session {
    conn: Connection,
    tx: Outbound,
    /// The timeouts and the key log.
    service: HandshakeService,
    /// Set by a `Failed` event: the step and why.
    failed: Option<(Step, Error)>,
    /// The client sent close_notify.
    closed: bool,
    /// Its metrics and its one info line, written when the session drops.
    watch: SessionWatch,
}

/// Which limit a session ran past.
#[derive(Clone, Copy)]
enum Expired {
    /// No message for the idle timeout.
    Idle,
    /// The handshake not done by its deadline.
    Handshake,
}

impl Expired {
    fn limit(self) -> Limit {
        match self {
            Self::Idle => Limit::idle_timeout,
            Self::Handshake => Limit::handshake_deadline,
        }
    }
}

/// Why the loop stopped.
enum End {
    /// Nothing more to say: the client closed, or is gone.
    Quiet,
    /// The session failed; its status goes last on the stream.
    Status(Status),
}

impl Session {
    /// A session starts (call inside its span).
    pub(crate) fn new(conn: Connection, tx: Outbound, service: HandshakeService) -> Self {
        let watch = SessionWatch::start(&service.metrics, Transport::grpc);
        Self {
            conn,
            tx,
            service,
            failed: None,
            closed: false,
            watch,
        }
    }

    /// Runs the session to its end. `_live` counts it while it runs.
    pub(crate) async fn run(mut self, mut inbound: Streaming<ConnectRequest>, _live: SessionGuard) {
        let handshake_deadline = Instant::now() + self.service.handshake_deadline;
        let end = loop {
            let mut timed_out = None;
            let received = tokio::select! {
                r = timeout(self.service.timeout, inbound.message()) => r.map_err(|_| Expired::Idle),
                () = sleep_until(handshake_deadline), if !self.conn.is_handshake_complete() => {
                    Err(Expired::Handshake)
                }
                // The response stream is gone while the client still
                // sends: tonic ended it (a response over
                // --max-message-size, its status already sent) or the
                // client went away. Nothing can reach the client now.
                () = self.tx.closed() => {
                    debug!("the response stream ended; session dropped");
                    break End::Quiet;
                }
            };
            match received {
                Err(expired) => {
                    timed_out = Some(expired);
                    self.watch.timed_out(expired.limit());
                    let reason = self.expired(expired);
                    self.conn
                        .abort(Error::new(AlertDescription::USER_CANCELED, reason));
                }
                Ok(Ok(Some(req))) => match from_request(req) {
                    // A failure is reported as a Failed event; the returned
                    // error is the same one.
                    Ok(msg) => {
                        self.conn.handle(msg);
                    }
                    Err(e) => self.conn.abort(e),
                },
                Ok(Ok(None)) => {
                    if self.conn.is_handshake_complete() {
                        debug!("client closed the stream");
                    } else {
                        debug!("client closed the stream before the handshake completed");
                    }
                    break End::Quiet;
                }
                Ok(Err(status)) if is_decode_error(&status) => {
                    // Bytes that are not a ConnectRequest: malformed input
                    // like any other, answered with decode_error.
                    self.conn.abort(Error::decode(format!(
                        "the ConnectRequest is not valid protobuf: {}",
                        status.message()
                    )));
                }
                Ok(Err(status)) if status.code() == Code::OutOfRange => {
                    // A message over --max-message-size: tonic refused it
                    // from its length prefix, and its status says so.
                    self.service.metrics.limit_hit(Limit::message_size);
                    debug!(
                        reason = status.message(),
                        "message too large; session refused"
                    );
                    break End::Status(status);
                }
                Ok(Err(status)) => {
                    debug!(code = ?status.code(), reason = status.message(), "stream broken by the client");
                    break End::Quiet;
                }
            }
            if !self.flush().await {
                break End::Quiet;
            }
            if let Some((step, error)) = self.failed.take() {
                let status = match timed_out {
                    Some(expired) => self.deadline_status(expired, &error, step),
                    None => to_status(&error, step),
                };
                break End::Status(status);
            }
            if timed_out.is_some() {
                // abort() found the session already over: nothing to send
                // but the deadline itself.
                break End::Status(Status::deadline_exceeded("session idle for too long"));
            }
            if self.closed {
                break End::Quiet;
            }
        };
        match end {
            End::Quiet => {}
            End::Status(status) => {
                debug!(code = ?status.code(), status = status.message(), "session ended with an error status");
                let _ = self.send(Err(status)).await;
            }
        }
    }

    /// Handles what the engine produced: logs events, answers application
    /// data, sends every queued message in order. False if the client can
    /// no longer be written to.
    async fn flush(&mut self) -> bool {
        loop {
            let mut progressed = false;
            while let Some(event) = self.conn.poll_event() {
                progressed = true;
                self.on_event(event);
            }
            while let Some(msg) = self.conn.poll_transmit() {
                progressed = true;
                match to_response(msg) {
                    Ok(resp) => {
                        if !self.send(Ok(resp)).await {
                            return false;
                        }
                    }
                    // A message the contract cannot carry: this side's bug,
                    // reported as internal_error like any engine failure.
                    Err(e) => self.conn.abort(e),
                }
            }
            if !progressed {
                return true;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        on_event(
            &mut self.watch,
            &event,
            &self.conn,
            self.service.key_log.as_deref(),
        );
        match event {
            Event::ApplicationData(data) => {
                debug!(
                    bytes = data.len(),
                    "application data received; replying with an echo"
                );
                let mut reply = Vec::with_capacity(ECHO_PREFIX.len() + data.len());
                reply.extend_from_slice(ECHO_PREFIX);
                reply.extend_from_slice(&data);
                if let Err(e) = self.conn.send_application_data(&reply) {
                    self.conn.abort(e);
                }
            }
            Event::PeerClosed => self.closed = true,
            Event::Failed { step, error } => self.failed = Some((step, error)),
            Event::Step(_) | Event::Warning(_) => {}
        }
    }

    /// Sends one item, waiting at most the idle timeout for room: a client
    /// that stops reading cannot hold the session forever. (`&mut`: the
    /// engine is Send but not Sync, so the future may hold no `&Session`.)
    async fn send(&mut self, item: Result<ConnectResponse, Status>) -> bool {
        match timeout(self.service.timeout, self.tx.send(item)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                debug!("the client is gone");
                false
            }
            Err(_) => {
                debug!("the client stopped reading; session dropped");
                false
            }
        }
    }
}

/// tonic reports a message that is not valid protobuf as Internal with
/// this prefix (tonic's codec/prost.rs).
fn is_decode_error(status: &Status) -> bool {
    status.code() == Code::Internal && status.message().starts_with("failed to decode")
}

impl Session {
    /// What ran out, for the alert's reason and the status.
    fn expired(&self, expired: Expired) -> String {
        match expired {
            Expired::Idle => format!(
                "no message from the client for {} s",
                self.service.timeout.as_secs_f64()
            ),
            Expired::Handshake => format!(
                "the handshake did not complete within {} s (--handshake-deadline)",
                self.service.handshake_deadline.as_secs_f64()
            ),
        }
    }

    /// DEADLINE_EXCEEDED for the limit that `expired`, with the alert and
    /// step metadata `to_status` gives.
    fn deadline_status(&self, expired: Expired, error: &Error, step: Step) -> Status {
        let metadata = to_status(error, step).metadata().clone();
        Status::with_metadata(
            Code::DeadlineExceeded,
            format!(
                "{} at step {step}: session closed (tls alert {})",
                self.expired(expired),
                error.alert()
            ),
            metadata,
        )
    }
}
