//! The real TLS front (`--tls-listen`): TLS 1.2 over TCP, RFC 5246 records,
//! driving the same server engine with the same `ServerConfig` as the
//! gRPC service (certificates, suites, lab faults), the same step logs and
//! the same key log. So curl, `openssl s_client` or a browser can take part
//! in the lab:
//!
//! ```text
//! RecordStream::read --> Connection::handle    (one message at a time)
//!                                |
//!      poll_event: log each step; application data -> the HTTP request; Failed -> remember
//!      poll_transmit --> RecordStream::queue, flush    (alerts included)
//! ```
//!
//! The records go through service-runtime's [`RecordStream`], as
//! client-svc's `tls://` targets. The settings (timeouts, key log, session
//! budget) are the [`HandshakeService`]'s.
//!
//! After the handshake the connection reads one HTTP/1.1 request (up to
//! [`MAX_REQUEST`] bytes, until the blank line) and answers `200 OK` with a
//! small HTML page naming the negotiated suite and the steps the server
//! took part in, then close_notify, then the close. Bytes that are not HTTP
//! get the same page at once: it is a lab tool, not a web server.
//!
//! How a connection ends:
//! - a framing error (garbage, an SSLv2 ClientHello, an oversized record)
//!   or an engine failure: the engine's fatal alert, one record, then the
//!   close; an alert from the client: the close;
//! - the handshake not done within the timeout or the handshake deadline
//!   (whichever is shorter) from accept, however the client keeps busy
//!   (trickling bytes, warning alerts), or no whole request within the
//!   timeout after the handshake: a fatal user_canceled alert (encrypted
//!   once the keys are on), as on the gRPC side, then the close;
//! - the client closes (EOF mid-record: decode_error), resets, or stops
//!   reading for the timeout: the close.
//!
//! Every close lingers ([`RecordStream::close`]). Nothing here panics on
//! input; buffers are bounded (one record, one handshake message being
//! reassembled, the request); the session budget counts connections until
//! their task ends.
//!
//! Beyond the budget (`--max-sessions`, shared with the gRPC service: one
//! budget for the process), a new connection is not queued but answered at
//! once with a fatal internal_error alert (RFC 5246 7.2.2: "an internal
//! error unrelated to the peer or the correctness of the protocol ... makes
//! it impossible to continue"; TLS 1.2 has no "busy" alert), in the clear,
//! then closed, lingering as above. No engine is made for it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use handshake::SystemRng;
use handshake::{
    Alert, AlertDescription, CipherSuite, Connection, Direction, Error as TlsError, Event, Message,
    Step, StepDetail,
};
use service_runtime::accept::Acceptor;
use service_runtime::limits::SessionGuard;
use service_runtime::metrics::{FrontConnection, Limit, Transport};
use service_runtime::new_session_id;
use service_runtime::records::{Received, RecordStream};
use service_runtime::watch::SessionWatch;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::error::Result;
use crate::service::HandshakeService;
use crate::steps::on_event;

/// The most bytes of HTTP request read after the handshake; a request that
/// has not ended by then is answered as it is.
pub const MAX_REQUEST: usize = 16 * 1024;

/// The longest a close lingers to read what the client still sends.
const LINGER: Duration = Duration::from_secs(2);

impl HandshakeService {
    /// The real TLS 1.2 front: accepts connections on `listener`, each one
    /// session of the server engine in its own task, until `shutdown`
    /// resolves; then stops accepting and gives the connections in flight
    /// up to `grace` to finish before the rest are cut.
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> Result<()> {
        let front = Arc::new(self);
        let mut tasks = JoinSet::new();
        // Accept failures (out of file descriptors) are not the listener's
        // end: the acceptor backs off and logs once per episode.
        let mut acceptor = Acceptor::new(listener, "TLS front");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                (stream, peer) = acceptor.accept() => {
                    let open = front.metrics.front_connection();
                    match front.live.try_enter() {
                        Some(live) => {
                            tasks.spawn(connection(front.clone(), stream, peer, (live, open)));
                        }
                        None => {
                            front.metrics.limit_hit(Limit::max_sessions);
                            tasks.spawn(refuse(stream, peer, front.live.max(), open));
                        }
                    }
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => reap(done),
            }
        }
        drop(acceptor);
        info!(
            connections = tasks.len(),
            grace_secs = grace.as_secs_f64(),
            "TLS front: stopped accepting; draining connections"
        );
        let drained = timeout(grace, async {
            while let Some(done) = tasks.join_next().await {
                reap(done);
            }
        })
        .await;
        if drained.is_err() {
            warn!(
                connections = tasks.len(),
                "TLS front: grace period over: cutting the connections still open"
            );
            tasks.shutdown().await;
        }
        Ok(())
    }
}

/// One connection's task, in its session span. `_held` counts it in the
/// session budget and the open connections while it runs.
async fn connection(
    service: Arc<HandshakeService>,
    stream: TcpStream,
    peer: SocketAddr,
    _held: (SessionGuard, FrontConnection),
) {
    let span = info_span!(
        "session",
        id = %new_session_id(),
        peer = %peer,
        transport = "tls",
        otel.kind = tracing::field::Empty
    );
    service_runtime::telemetry::set_kind(&span, "server");
    let watch = span.in_scope(|| SessionWatch::start(&service.metrics, Transport::tls));
    let conn = match Connection::server(service.config.clone(), Box::new(SystemRng)) {
        Ok(conn) => conn,
        Err(e) => return span.in_scope(|| error!(reason = %e, "cannot start a session")),
    };
    TlsSession {
        stream: RecordStream::new(stream, Vec::new()),
        conn,
        service,
        watch,
        steps: Vec::new(),
        suite: None,
        extended_master_secret: false,
        request: Vec::new(),
        failed: false,
        peer_closed: false,
    }
    .run()
    .instrument(span)
    .await;
}

/// A connection beyond the session budget: a fatal internal_error alert
/// in the clear, then the lingering close.
async fn refuse(stream: TcpStream, peer: SocketAddr, max: usize, _open: FrontConnection) {
    warn!(
        %peer,
        max_sessions = max,
        "TLS front: connection refused with internal_error: the limit of concurrent sessions is reached"
    );
    let mut stream = RecordStream::new(stream, Vec::new());
    let alert = Message::Alert(Alert::fatal(AlertDescription::INTERNAL_ERROR));
    // An alert always frames; if not, the close alone says it.
    let _ = stream.queue(&alert);
    stream.close(Instant::now() + LINGER).await;
}

fn reap(done: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        error!("TLS front: a connection task panicked");
    }
}

/// One TLS connection being served.
struct TlsSession {
    stream: RecordStream,
    conn: Connection,
    /// The timeouts and the key log.
    service: Arc<HandshakeService>,
    /// Its metrics and its one info line, written when the session drops.
    watch: SessionWatch,
    /// The steps the engine reported, in order, for the page.
    steps: Vec<(Step, Direction)>,
    /// From step 13.
    suite: Option<CipherSuite>,
    extended_master_secret: bool,
    /// Decrypted application data: the HTTP request so far.
    request: Vec<u8>,
    /// The engine failed (alert sent or received).
    failed: bool,
    /// The client sent close_notify.
    peer_closed: bool,
}

/// Why the read loop stopped.
#[derive(PartialEq, Eq)]
enum End {
    /// Flush what the engine queued, then close.
    Close,
    /// The socket is broken or the client stopped reading: just drop it.
    Drop,
}

impl TlsSession {
    async fn run(mut self) {
        debug!("TLS connection accepted");
        // The final flight (an alert, or the page and close_notify) gets
        // its own deadline: the one that expired may be behind it.
        if self.serve().await == End::Close
            && self.flush(Instant::now() + self.service.timeout).await
        {
            let linger = self.service.timeout.min(LINGER);
            self.stream.close(Instant::now() + linger).await;
        }
        debug!(
            handshake_complete = self.conn.is_handshake_complete(),
            "TLS connection closed"
        );
    }

    /// Reads and handles messages until the connection is to close.
    async fn serve(&mut self) -> End {
        // The handshake must be complete by this deadline, counted from
        // accept and never pushed back (a client that keeps sending, e.g.
        // warning alerts, is cut all the same); then the request by a
        // second one.
        let handshake_limit = self.service.timeout.min(self.service.handshake_deadline);
        let mut deadline = Instant::now() + handshake_limit;
        let mut handshake_done = false;
        loop {
            match timeout_at(deadline, self.stream.read()).await {
                Err(_) => {
                    // Which limit cut it: the idle timeout, or the
                    // handshake deadline when that is the shorter.
                    let limit = if handshake_done
                        || self.service.timeout < self.service.handshake_deadline
                    {
                        Limit::idle_timeout
                    } else {
                        Limit::handshake_deadline
                    };
                    self.watch.timed_out(limit);
                    let reason = if handshake_done {
                        format!(
                            "no whole request within {} s of the handshake",
                            self.service.timeout.as_secs_f64()
                        )
                    } else {
                        format!(
                            "the handshake did not complete within {} s of the connection",
                            handshake_limit.as_secs_f64()
                        )
                    };
                    self.conn
                        .abort(TlsError::new(AlertDescription::USER_CANCELED, reason));
                    self.drain_events();
                    return End::Close;
                }
                // Nothing was queued while reading (each flight is flushed
                // before the next read): only a read can fail here.
                Ok(Received::ReadFailed(e) | Received::WriteFailed(e)) => {
                    debug!(error = %e, "the connection broke");
                    return End::Drop;
                }
                Ok(Received::Eof { pending }) => {
                    if pending > 0 {
                        self.conn.abort(TlsError::decode(format!(
                            "the client closed the connection in the middle of a record ({pending} bytes pending)"
                        )));
                        self.drain_events();
                    } else if handshake_done {
                        debug!("client closed the connection");
                    } else {
                        debug!("client closed the connection before the handshake completed");
                    }
                    return End::Close;
                }
                Ok(Received::Message(msg)) => self.process(msg),
            }
            if self.failed || self.peer_closed {
                return End::Close;
            }
            if self.request_ready() {
                self.respond();
                return End::Close;
            }
            if !self.flush(deadline).await {
                return End::Drop;
            }
            if !handshake_done && self.conn.is_handshake_complete() {
                handshake_done = true;
                deadline = Instant::now() + self.service.timeout;
                debug!("handshake complete; waiting for a request");
            }
        }
    }

    /// Hands one message (or the framing error, to abort with) to the
    /// engine and handles the events it produces.
    fn process(&mut self, msg: std::result::Result<Message, TlsError>) {
        match msg {
            // A failure comes back as a Failed event too.
            Ok(msg) => {
                self.conn.handle(msg);
            }
            Err(e) => self.conn.abort(e),
        }
        self.drain_events();
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            on_event(
                &mut self.watch,
                &event,
                &self.conn,
                self.service.key_log.as_deref(),
            );
            match event {
                Event::Step(step) => {
                    if let StepDetail::Finish {
                        cipher_suite,
                        extended_master_secret,
                    } = &step.detail
                    {
                        self.suite = Some(*cipher_suite);
                        self.extended_master_secret = *extended_master_secret;
                    }
                    self.steps.push((step.step, step.direction));
                }
                Event::ApplicationData(data) => {
                    let room = MAX_REQUEST.saturating_sub(self.request.len());
                    self.request
                        .extend_from_slice(&data[..data.len().min(room)]);
                }
                Event::PeerClosed => self.peer_closed = true,
                Event::Failed { .. } => self.failed = true,
                Event::Warning(_) => {}
            }
        }
    }

    /// A request to answer: the handshake is done and the request has
    /// ended (a blank line), filled its buffer, or is not HTTP at all.
    fn request_ready(&self) -> bool {
        self.conn.is_handshake_complete()
            && !self.failed
            && !self.request.is_empty()
            && request_complete(&self.request)
    }

    /// Queues the page and close_notify.
    fn respond(&mut self) {
        let line = first_line(&self.request);
        let head = self.request.starts_with(b"HEAD ");
        let page = page(self.suite, self.extended_master_secret, &self.steps);
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            page.len()
        )
        .into_bytes();
        if !head {
            response.extend_from_slice(page.as_bytes());
        }
        match self
            .conn
            .send_application_data(&response)
            .and_then(|()| self.conn.close())
        {
            Ok(()) => debug!(request = %line, "request answered with the page; close_notify sent"),
            Err(e) => self.conn.abort(e),
        }
        self.drain_events();
    }

    /// Writes every queued message as records, by `deadline`. False if the
    /// client cannot be written to.
    async fn flush(&mut self, deadline: Instant) -> bool {
        while let Some(msg) = self.conn.poll_transmit() {
            if let Err(e) = self.stream.queue(&msg) {
                // Only a message the engine never makes gets here; end the
                // connection rather than write a broken record.
                warn!(error = %e, "cannot frame an outgoing message");
                return false;
            }
        }
        match timeout_at(deadline, self.stream.flush()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                debug!(error = %e, "the client is gone");
                false
            }
            Err(_) => {
                debug!("the client stopped reading; connection dropped");
                false
            }
        }
    }
}

/// Whether `request` is to be answered now: its header ended, it filled
/// [`MAX_REQUEST`], or it does not start like an HTTP request line.
fn request_complete(request: &[u8]) -> bool {
    request.len() >= MAX_REQUEST
        || contains(request, b"\r\n\r\n")
        || contains(request, b"\n\n")
        || !looks_like_http(request)
}

/// Whether `bytes` may be the start of an HTTP request: a method of 1 to
/// 16 capital letters, then a space (or not yet).
fn looks_like_http(bytes: &[u8]) -> bool {
    let method_end = bytes.iter().position(|&b| b == b' ');
    let method = &bytes[..method_end.unwrap_or(bytes.len())];
    method.len() <= 16
        && method.iter().all(u8::is_ascii_uppercase)
        && (method_end.is_none() || !method.is_empty())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The request's first line, printable and short, for the log.
fn first_line(request: &[u8]) -> String {
    let end = request
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(request.len())
        .min(200);
    String::from_utf8_lossy(&request[..end])
        .escape_debug()
        .to_string()
}

/// The page: the negotiated suite and the steps, in order.
fn page(
    suite: Option<CipherSuite>,
    extended_master_secret: bool,
    steps: &[(Step, Direction)],
) -> String {
    let suite = suite.map_or_else(|| "an unknown suite".to_owned(), |s| s.to_string());
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>TLS 1.2 handshake lab</title></head>\n<body>\n<h1>server-svc: TLS 1.2 handshake lab</h1>\n",
    );
    html.push_str(&format!("<p>TLS 1.2 with {}</p>\n", escape(&suite)));
    html.push_str(&format!(
        "<p>Extended master secret (RFC 7627): {}</p>\n",
        if extended_master_secret { "yes" } else { "no" }
    ));
    html.push_str("<p>The steps as the server saw them:</p>\n<ol>\n");
    for (step, direction) in steps {
        let how = match direction {
            Direction::Sent => "sent",
            Direction::Received => "received",
            Direction::Local => "computed",
        };
        html.push_str(&format!(
            "<li value=\"{}\">{} ({how})</li>\n",
            step.number(),
            escape(step.name())
        ));
    }
    html.push_str("</ol>\n</body></html>\n");
    html
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_answered_when_complete_or_not_http() {
        assert!(!request_complete(b"GE"));
        assert!(!request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(request_complete(b"GET / HTTP/1.0\n\n"));
        assert!(request_complete(b"hello\n"));
        assert!(request_complete(b" GET"));
        assert!(request_complete(b"\x16\x03\x01"));
        assert!(request_complete(&vec![b'A'; MAX_REQUEST]));
        assert!(request_complete(b"AVERYLONGMETHODNAMEX"));
    }

    #[test]
    fn the_page_names_the_suite_and_the_steps() {
        let html = page(
            Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            true,
            &[
                (Step::ClientHello, Direction::Received),
                (Step::GenSecretKey, Direction::Local),
            ],
        );
        assert!(html.contains("<p>TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</p>"));
        assert!(html.contains("<li value=\"1\">Client Hello (received)</li>"));
        assert!(html.contains("<li value=\"8\">Gen secret key (computed)</li>"));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }

    #[test]
    fn the_request_line_is_logged_printable() {
        assert_eq!(first_line(b"GET / HTTP/1.1\r\nHost: x"), "GET / HTTP/1.1");
        assert_eq!(first_line(b"\x1b[31m"), "\\u{1b}[31m");
    }
}
