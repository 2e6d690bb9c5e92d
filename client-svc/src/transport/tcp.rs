//! A real TLS server over TCP as a session's transport: RFC 5246 records
//! through service-runtime's [`RecordStream`], as server-svc's TLS front.

use handshake::{Error, Message};
use service_runtime::records::{Received, RecordStream};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::Incoming;
use crate::balance::CONNECT_TIMEOUT;

/// A real TLS server over TCP.
pub struct Tls {
    /// "host:port".
    addr: String,
    stream: Option<RecordStream>,
    /// Records queued before the connection opens (the ClientHello).
    early: Vec<u8>,
}

impl Tls {
    /// A connection to `addr` ("host:port"), not yet made.
    pub(super) fn new(addr: String) -> Self {
        Self {
            addr,
            stream: None,
            early: Vec::new(),
        }
    }

    /// Queues `msg` as records; never waits (see [`RecordStream::queue`]).
    pub(super) fn send(&mut self, msg: Message) -> Result<(), Error> {
        match &mut self.stream {
            Some(stream) => stream.queue(&msg),
            None => handshake::encode_records(&msg, &mut self.early),
        }
    }

    pub(super) async fn open(&mut self, server: &str, deadline: Instant) -> Result<(), String> {
        let until = std::cmp::min(deadline, Instant::now() + CONNECT_TIMEOUT);
        let tcp = match timeout_at(until, TcpStream::connect(self.addr.as_str())).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("the server at {server} is unreachable: {e}")),
            Err(_) => {
                return Err(format!(
                    "the server at {server} did not accept a TCP connection in time"
                ));
            }
        };
        if let Ok(peer) = tcp.peer_addr() {
            tracing::debug!(%peer, "connected");
        }
        self.stream = Some(RecordStream::new(tcp, std::mem::take(&mut self.early)));
        Ok(())
    }

    pub(super) async fn recv(&mut self) -> Incoming {
        let Some(stream) = self.stream.as_mut() else {
            return Incoming::End("the connection is not open".into());
        };
        Incoming::End(match stream.read().await {
            Received::Message(msg) => return Incoming::Message(msg),
            Received::Eof { pending: 0 } => "the server closed the connection (TCP EOF)".into(),
            Received::Eof { .. } => {
                "the server closed the connection (TCP EOF) in the middle of a record".into()
            }
            Received::ReadFailed(e) => format!("reading from the server failed: {e}"),
            Received::WriteFailed(e) => format!("writing to the server failed: {e}"),
        })
    }

    /// Writes what is queued, then FIN, and reads what the server still
    /// sends until `until` (see [`RecordStream::close`]).
    pub(super) async fn finish(&mut self, until: Instant) {
        if let Some(mut stream) = self.stream.take() {
            stream.close(until).await;
        }
    }
}
