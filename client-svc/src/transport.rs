//! How one session's messages travel: the only part of a session that
//! differs between a server-svc target and a real TLS server.
//!
//! - [`Target::Grpc`]: server-svc's `HandshakeService.Connect` stream, one
//!   protobuf message per TLS message ([`to_request`], [`from_response`]);
//!   a failure may end the stream with a status naming the server's step.
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

use handshake::framing::{Deframer, encode_records};
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
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};

/// The request and response header that names a session in both
/// services' logs.
pub const SESSION_ID_HEADER: &str = "session-id";

/// The scheme of a real TLS 1.2 server's address: `tls://host:port`.
pub const TLS_SCHEME: &str = "tls://";

/// How long connecting may take before the server counts as unreachable
/// (a host that drops packets must not hold a session for its whole
/// timeout before saying so).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from a TCP connection at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Where a session's server is.
#[derive(Clone, Debug)]
pub enum Target {
    /// server-svc, over a lazily connected gRPC channel.
    Grpc(Channel),
    /// A real TLS 1.2 server at "host:port", over TCP.
    Tls(String),
}

impl Target {
    /// `tls://host:port` is a real TLS server; anything else is server-svc's
    /// URL ("http://host:port"; a bare "host:port" gets "http://").
    pub fn parse(url: &str) -> Result<Self, String> {
        match tls_address(url) {
            Some(addr) => addr.map(Self::Tls),
            None => channel(url).map(Self::Grpc),
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
            "invalid server {url:?}: {why} (want tls://host:port)"
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

/// A lazily connected channel to `url` ("http://host:port"; a bare
/// "host:port" gets "http://"). Connecting happens on first use, so an
/// unreachable server shows up when a session starts.
pub fn channel(url: &str) -> Result<Channel, String> {
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("invalid server URL {url:?}: {e}"))?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy())
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
            Target::Grpc(channel) => {
                let (tx, rx) = mpsc::unbounded_channel();
                Self::Grpc(Grpc {
                    channel: Some(channel),
                    tx: Some(tx),
                    rx: Some(rx),
                    inbound: None,
                    status: None,
                })
            }
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
                if let Some(tx) = &g.tx {
                    // A closed stream shows up on the receiving side.
                    let _ = tx.send(req);
                }
                Ok(())
            }
            Self::Tls(t) => encode_records(&msg, &mut t.out),
        }
    }

    /// Connects (gRPC: makes the call, the queued ClientHello travelling
    /// with its headers). `Err` says the server is unreachable: nothing
    /// was exchanged.
    pub async fn open(
        &mut self,
        server: &str,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), String> {
        match self {
            Self::Grpc(g) => g.open(server, session_id, deadline, timeout).await,
            Self::Tls(t) => t.open(server, deadline).await,
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
pub struct Grpc {
    channel: Option<Channel>,
    /// The request stream's sender; dropping it ends the stream.
    tx: Option<mpsc::UnboundedSender<pb::ConnectRequest>>,
    /// The request stream, until the call takes it.
    rx: Option<mpsc::UnboundedReceiver<pb::ConnectRequest>>,
    inbound: Option<Streaming<pb::ConnectResponse>>,
    /// The status the call was refused with, told by the first `recv`.
    status: Option<Status>,
}

impl Grpc {
    async fn open(
        &mut self,
        server: &str,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), String> {
        let (Some(channel), Some(rx)) = (self.channel.take(), self.rx.take()) else {
            return Ok(());
        };
        let mut request = Request::new(UnboundedReceiverStream::new(rx));
        // Proposes our id to server-svc, so both services' logs name the
        // session alike (service.proto: the `session-id` header). Hex
        // digits are always a valid header value.
        if let Ok(v) = MetadataValue::try_from(session_id) {
            request.metadata_mut().insert(SESSION_ID_HEADER, v);
        }
        let mut client = HandshakeServiceClient::new(channel);
        match timeout_at(deadline, client.connect(request)).await {
            Ok(Ok(resp)) => {
                let theirs = resp.metadata().get(SESSION_ID_HEADER);
                if let Some(id) = theirs.and_then(|v| v.to_str().ok())
                    && id != session_id
                {
                    tracing::info!(server_session_id = id, "server-svc names this session {id}");
                }
                self.inbound = Some(resp.into_inner());
                Ok(())
            }
            Ok(Err(status))
                if alert_of(&status).is_none() && status.code() == Code::Unavailable =>
            {
                Err(format!(
                    "server-svc at {server} is unreachable: {}",
                    status.message()
                ))
            }
            Ok(Err(status)) => {
                self.status = Some(status);
                Ok(())
            }
            Err(_) => Err(format!(
                "server-svc at {server} did not answer within {} s",
                timeout.as_secs_f64()
            )),
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
