//! How one session's messages travel: the only part of a session that
//! differs between a server-svc target and a real TLS server.
//!
//! - [`Target::Grpc`]: server-svc's `HandshakeService.Connect` stream, one
//!   protobuf message per TLS message ([`to_request`], [`from_response`]);
//!   a failure may end the stream with a status naming the server's step.
//!   The replica is picked by a [`Balancer`] (one URL, or a `dns:`,
//!   `ipv4:` or `ipv6:` name of several); a call that fails before any
//!   message was exchanged is retried once on another replica (see
//!   [`Grpc`]).
//! - [`Target::Tls`]: a TCP connection carrying RFC 5246 records, written
//!   with [`encode_records`] and read back with the engine's [`Deframer`]
//!   (handshake messages coalesced into one record or fragmented over
//!   several are split and joined there).
//!
//! The session driver (`session.rs`) sees only [`Transport::send`] (queue
//! one message), [`Transport::recv`] (the next message, or how the peer
//! ended) and [`Transport::finish`] (our last words, then the end): the
//! engine, the events, the report and the timing are the same for both.

use std::time::Duration;

use handshake::{Deframer, encode_records};
use handshake::{Error, Message};
use proto::convert::{from_response, to_request};
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::status::alert_of;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

use crate::balance::{Balancer, CONNECT_TIMEOUT, ChannelOptions, Pick};
use crate::resolve::parse_name;

/// The request and response header that names a session in both
/// services' logs.
pub const SESSION_ID_HEADER: &str = "session-id";

/// The scheme of a real TLS 1.2 server's address: `tls://host:port`.
pub const TLS_SCHEME: &str = "tls://";

/// Bytes read from a TCP connection at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Where a session's server is.
#[derive(Clone, Debug)]
pub enum Target {
    /// server-svc: one replica or several, over lazily connected channels.
    Grpc(Balancer),
    /// A real TLS 1.2 server at "host:port", over TCP.
    Tls(String),
}

impl Target {
    /// [`Target::parse_with`] with the default channel options.
    pub fn parse(url: &str) -> Result<Self, String> {
        Self::parse_with(url, &ChannelOptions::default())
    }

    /// `tls://host:port` is a real TLS server; `dns:`, `ipv4:` and `ipv6:`
    /// names are server-svc's replicas, balanced; anything else is
    /// server-svc's URL ("http://host:port"; a bare "host:port" gets
    /// "http://").
    pub fn parse_with(url: &str, options: &ChannelOptions) -> Result<Self, String> {
        match tls_address(url) {
            Some(addr) => addr.map(Self::Tls),
            None => balancer(url, options).map(Self::Grpc),
        }
    }

    /// A real TLS server rather than server-svc.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// The peer, as messages name it.
    pub fn peer(&self) -> &'static str {
        if self.is_tls() {
            "the server"
        } else {
            "server-svc"
        }
    }
}

/// Whether `url` is a `tls://` target, and if so its "host:port".
pub fn tls_address(url: &str) -> Option<Result<String, String>> {
    let scheme = url.get(..TLS_SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(TLS_SCHEME) {
        return None;
    }
    let rest = url[TLS_SCHEME.len()..].trim_end_matches('/');
    let bad = |why: &str| {
        Err(format!(
            "invalid server {:?}: {why} (want tls://host:port)",
            handshake::quote::truncate(url, handshake::quote::MAX_TEXT)
        ))
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Some(bad("no port"));
    };
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Some(bad("no host"));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        return Some(bad("an IPv6 address must be in brackets"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Some(Ok(rest.to_owned())),
        _ => Some(bad("the port must be 1 to 65535")),
    }
}

/// server-svc at `target`: the replicas of a `dns:`, `ipv4:` or `ipv6:`
/// name, or the one server of a URL ("http://host:port"; a bare
/// "host:port" gets "http://"). Nothing is looked up or connected until
/// the first session.
pub fn balancer(target: &str, options: &ChannelOptions) -> Result<Balancer, String> {
    match parse_name(target) {
        Some(name) => {
            let name = name?;
            let periodic = name.is_dynamic();
            Ok(Balancer::resolving(target, name, periodic, *options))
        }
        None => Balancer::single(&url_of(target), *options),
    }
}

/// A lazily connected channel to `url` ("http://host:port"; a bare
/// "host:port" gets "http://"). Connecting happens on first use, so an
/// unreachable server shows up when a session starts.
pub fn channel(url: &str) -> Result<Channel, String> {
    ChannelOptions::default().channel(&url_of(url))
}

fn url_of(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// Whether a stream's error status says the connection to server-svc was
/// lost (the replica died, or cut the connection), rather than server-svc
/// ending the session: no TLS alert with it, and a code tonic gives to
/// transport failures (UNAVAILABLE; UNKNOWN or CANCELLED for an HTTP/2
/// error or a reset connection, made on this side, with a source).
pub fn connection_lost(status: &Status) -> bool {
    if alert_of(status).is_some() {
        return false;
    }
    match status.code() {
        Code::Unavailable => true,
        Code::Unknown | Code::Cancelled | Code::Internal => {
            std::error::Error::source(status).is_some()
        }
        _ => false,
    }
}

/// Whether no connection could be made at all (refused, unreachable,
/// timed out: tonic wraps each in its `ConnectError`).
fn connect_failed(status: &Status) -> bool {
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Why a session could not start on server-svc: nothing was exchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No connection, or no answer in time.
    Unreachable(String),
    /// server-svc refused the session at once (RESOURCE_EXHAUSTED: at its
    /// --max-sessions).
    Busy(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(m) | Self::Busy(m) => f.write_str(m),
        }
    }
}

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
            Target::Grpc(upstream) => Self::Grpc(Grpc {
                upstream: Some(upstream),
                early: Vec::new(),
                tx: None,
                inbound: None,
                status: None,
            }),
            Target::Tls(addr) => Self::Tls(Tls {
                addr,
                reader: None,
                writer: None,
                out: Vec::new(),
                buf: vec![0; READ_CHUNK],
                deframer: Deframer::new(),
                ended: None,
            }),
        }
    }

    /// Queues `msg` for the server. Never waits: gRPC requests go into an
    /// unbounded stream (a flight is a handful of messages), TCP bytes into
    /// a buffer that [`Transport::recv`] and [`Transport::finish`] write.
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        match self {
            Self::Grpc(g) => {
                let req = to_request(msg)?;
                if g.upstream.is_some() {
                    // Not open yet: kept, to go with the call (and again
                    // with its retry).
                    g.early.push(req);
                } else if let Some(tx) = &g.tx {
                    // A closed stream shows up on the receiving side.
                    let _ = tx.send(req);
                }
                Ok(())
            }
            Self::Tls(t) => encode_records(&msg, &mut t.out),
        }
    }

    /// Connects (gRPC: makes the call, the queued ClientHello travelling
    /// with its headers). `Err` says why the session could not start:
    /// nothing was exchanged.
    pub async fn open(
        &mut self,
        server: &str,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), OpenError> {
        match self {
            Self::Grpc(g) => g.open(session_id, deadline, timeout).await,
            Self::Tls(t) => t
                .open(server, deadline)
                .await
                .map_err(OpenError::Unreachable),
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

/// server-svc's Connect stream.
///
/// Opening it picks a replica and makes the call. If the call fails before
/// server-svc answered it (no connection, the connection going away under
/// it, or RESOURCE_EXHAUSTED), it is made once more, on another replica if
/// there is one. That is safe because nothing was exchanged: server-svc
/// answers a Connect with its headers as soon as it starts a session, so
/// without them it holds no session for this one (or the replica that
/// might have is gone), and the client engine has only sent its
/// ClientHello, which the retry replays as is: no key was derived, no
/// server message seen, and the new server's transcript is the one the
/// engine goes on with.
pub struct Grpc {
    /// The replicas, until the call is made.
    upstream: Option<Balancer>,
    /// What was sent before the call (the ClientHello): it goes with the
    /// call, and again with a retry.
    early: Vec<pb::ConnectRequest>,
    /// The request stream's sender once the call is made; dropping it ends
    /// the stream.
    tx: Option<mpsc::UnboundedSender<pb::ConnectRequest>>,
    inbound: Option<Streaming<pb::ConnectResponse>>,
    /// The status the call was refused with, told by the first `recv`.
    status: Option<Status>,
}

/// Why one call could not start.
struct Refused {
    error: OpenError,
    /// Nothing was exchanged and time is left: worth one more call.
    retry: bool,
    /// No connection could be made: pass the replica over for a while
    /// (not for a connection that merely went away, e.g. at its maximum
    /// age).
    down: bool,
}

impl Grpc {
    async fn open(
        &mut self,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), OpenError> {
        let Some(upstream) = self.upstream.take() else {
            return Ok(());
        };
        let first = upstream.pick(None).await.map_err(OpenError::Unreachable)?;
        let why = match self.call(&first, session_id, deadline, timeout).await {
            Ok(()) => return Ok(()),
            Err(refused) => refused,
        };
        if why.down {
            upstream.mark_down(&first.key);
        }
        if !why.retry {
            return Err(why.error);
        }
        let Ok(second) = upstream.pick(Some(&first.key)).await else {
            return Err(why.error);
        };
        tracing::info!(
            replica = %first.key,
            retry_on = %second.key,
            reason = %why.error,
            "server-svc did not take the session; retrying once"
        );
        match self.call(&second, session_id, deadline, timeout).await {
            Ok(()) => Ok(()),
            Err(again) => {
                if again.down {
                    upstream.mark_down(&second.key);
                }
                Err(again.error)
            }
        }
    }

    /// Makes the call on `pick`'s replica, with what was sent so far.
    async fn call(
        &mut self,
        pick: &Pick,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), Refused> {
        let (tx, rx) = mpsc::unbounded_channel();
        for req in &self.early {
            let _ = tx.send(req.clone());
        }
        let mut request = Request::new(UnboundedReceiverStream::new(rx));
        // Proposes our id to server-svc, so both services' logs name the
        // session alike (service.proto: the `session-id` header). Hex
        // digits are always a valid header value.
        if let Ok(v) = MetadataValue::try_from(session_id) {
            request.metadata_mut().insert(SESSION_ID_HEADER, v);
        }
        let mut client = HandshakeServiceClient::new(pick.channel.clone());
        let server = &pick.key;
        match timeout_at(deadline, client.connect(request)).await {
            Ok(Ok(resp)) => {
                let theirs = resp.metadata().get(SESSION_ID_HEADER);
                if let Some(id) = theirs.and_then(|v| v.to_str().ok())
                    && id != session_id
                {
                    tracing::info!(server_session_id = id, "server-svc names this session {id}");
                }
                tracing::info!(replica = %server, "session opened on server-svc");
                self.tx = Some(tx);
                self.inbound = Some(resp.into_inner());
                Ok(())
            }
            // No connection, or it broke before server-svc answered (the
            // replica died, or its GOAWAY crossed the call).
            Ok(Err(status)) if connection_lost(&status) => Err(Refused {
                error: OpenError::Unreachable(format!(
                    "server-svc at {server} is unreachable: {}",
                    status.message()
                )),
                retry: true,
                down: connect_failed(&status),
            }),
            Ok(Err(status))
                if alert_of(&status).is_none() && status.code() == Code::ResourceExhausted =>
            {
                Err(Refused {
                    error: OpenError::Busy(format!(
                        "server-svc at {server} refused the session: {}",
                        status.message()
                    )),
                    retry: true,
                    down: false,
                })
            }
            Ok(Err(status)) => {
                self.status = Some(status);
                Ok(())
            }
            Err(_) => Err(Refused {
                error: OpenError::Unreachable(format!(
                    "server-svc at {server} did not answer within {} s",
                    timeout.as_secs_f64()
                )),
                retry: false,
                down: false,
            }),
        }
    }

    async fn recv(&mut self) -> Incoming {
        if let Some(status) = self.status.take() {
            return Incoming::Status(status);
        }
        let Some(inbound) = self.inbound.as_mut() else {
            return Incoming::End("server-svc ended the stream".into());
        };
        match inbound.message().await {
            Ok(Some(resp)) => Incoming::Message(from_response(resp)),
            Ok(None) => Incoming::End("server-svc ended the stream".into()),
            Err(status) => Incoming::Status(status),
        }
    }

    async fn finish(&mut self, drain: bool, until: Instant) -> Option<Status> {
        self.tx = None;
        let mut status = None;
        if drain && let Some(inbound) = self.inbound.as_mut() {
            loop {
                match timeout_at(until, inbound.message()).await {
                    Ok(Ok(Some(_))) => continue,
                    Ok(Ok(None)) | Err(_) => break,
                    Ok(Err(s)) => {
                        status = Some(s);
                        break;
                    }
                }
            }
        }
        self.inbound = None;
        status
    }
}

/// A real TLS server over TCP.
pub struct Tls {
    /// "host:port".
    addr: String,
    reader: Option<OwnedReadHalf>,
    writer: Option<OwnedWriteHalf>,
    /// Records queued and not yet written.
    out: Vec<u8>,
    buf: Vec<u8>,
    deframer: Deframer,
    /// Why nothing more will be read: EOF or a socket error.
    ended: Option<String>,
}

/// One step of socket I/O.
enum Io {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
}

impl Tls {
    async fn open(&mut self, server: &str, deadline: Instant) -> Result<(), String> {
        let until = std::cmp::min(deadline, Instant::now() + CONNECT_TIMEOUT);
        let stream = match timeout_at(until, TcpStream::connect(self.addr.as_str())).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("the server at {server} is unreachable: {e}")),
            Err(_) => {
                return Err(format!(
                    "the server at {server} did not accept a TCP connection in time"
                ));
            }
        };
        // Each flight is written at once; small records must not wait for
        // a delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        if let Ok(peer) = stream.peer_addr() {
            tracing::debug!(%peer, "connected");
        }
        let (r, w) = stream.into_split();
        self.reader = Some(r);
        self.writer = Some(w);
        Ok(())
    }

    async fn recv(&mut self) -> Incoming {
        loop {
            match self.deframer.pop() {
                Ok(Some(m)) => return Incoming::Message(Ok(m)),
                Err(e) => return Incoming::Message(Err(e)),
                Ok(None) => {}
            }
            if let Some(why) = &self.ended {
                return Incoming::End(why.clone());
            }
            let (Some(reader), Some(writer)) = (self.reader.as_mut(), self.writer.as_mut()) else {
                self.ended = Some("the connection is not open".into());
                continue;
            };
            // Reading goes on while writing, so neither side can block the
            // other with a full buffer. Both calls are cancel-safe.
            let io = if self.out.is_empty() {
                Io::Read(reader.read(&mut self.buf).await)
            } else {
                tokio::select! {
                    r = reader.read(&mut self.buf) => Io::Read(r),
                    w = writer.write(&self.out) => Io::Wrote(w),
                }
            };
            match io {
                Io::Read(Ok(0)) => {
                    let why = if self.deframer.buffered() > 0 {
                        "the server closed the connection (TCP EOF) in the middle of a record"
                    } else {
                        "the server closed the connection (TCP EOF)"
                    };
                    self.ended = Some(why.into());
                }
                Io::Read(Ok(n)) => self.deframer.push(&self.buf[..n]),
                Io::Read(Err(e)) => {
                    self.ended = Some(format!("reading from the server failed: {e}"))
                }
                Io::Wrote(Ok(0)) => self.ended = Some("the server stopped reading".into()),
                Io::Wrote(Ok(n)) => {
                    self.out.drain(..n);
                }
                Io::Wrote(Err(e)) => {
                    self.ended = Some(format!("writing to the server failed: {e}"));
                }
            }
        }
    }

    async fn finish(&mut self, until: Instant) {
        if let Some(mut writer) = self.writer.take() {
            if !self.out.is_empty() {
                match timeout_at(until, writer.write_all(&self.out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!("last records not written: {e}"),
                    Err(_) => tracing::debug!("last records not written in time"),
                }
                self.out.clear();
            }
            // FIN: the server's read ends, and it closes its side.
            let _ = timeout_at(until, writer.shutdown()).await;
        }
        if let Some(mut reader) = self.reader.take()
            && self.ended.is_none()
        {
            loop {
                match timeout_at(until, reader.read(&mut self.buf)).await {
                    Ok(Ok(n)) if n > 0 => continue,
                    _ => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_targets_are_host_and_port() {
        for (url, want) in [
            ("tls://127.0.0.1:4433", "127.0.0.1:4433"),
            ("TLS://example.com:443/", "example.com:443"),
            ("tls://[::1]:8443", "[::1]:8443"),
        ] {
            assert_eq!(tls_address(url), Some(Ok(want.to_owned())), "{url}");
        }
        for url in [
            "tls://127.0.0.1",
            "tls://:443",
            "tls://host:0",
            "tls://host:65536",
            "tls://::1:443",
            "tls://host:443/path",
            "tls://user@host:443",
        ] {
            let err = tls_address(url).expect("a tls target").unwrap_err();
            assert!(err.contains("tls://host:port"), "{url}: {err}");
        }
        for url in ["http://127.0.0.1:50051", "127.0.0.1:50051", "tl"] {
            assert!(tls_address(url).is_none(), "{url}");
        }
    }

    #[tokio::test]
    async fn targets_by_scheme() {
        assert!(Target::parse("tls://localhost:4433").unwrap().is_tls());
        let grpc = Target::parse("127.0.0.1:50051").unwrap();
        assert!(!grpc.is_tls());
        assert_eq!(grpc.peer(), "server-svc");
        assert!(Target::parse("tls://nohost").is_err());
    }
}
