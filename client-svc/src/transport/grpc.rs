//! server-svc's `HandshakeService.Connect` stream as a session's
//! transport: one protobuf message per TLS message ([`to_request`],
//! [`from_response`]); a failure may end the stream with a status naming
//! the server's step.

use std::time::Duration;

use handshake::{Error, Message};
use proto::SESSION_ID_HEADER;
use proto::convert::{from_response, to_request};
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::status::alert_of;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status, Streaming};

use super::Incoming;
use crate::balance::{Balancer, Pick};
use crate::session::SessionError;

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
    error: SessionError,
    /// Nothing was exchanged and time is left: worth one more call.
    retry: bool,
    /// No connection could be made: pass the replica over for a while
    /// (not for a connection that merely went away, e.g. at its maximum
    /// age).
    down: bool,
}

impl Grpc {
    /// The Connect stream to one of `upstream`'s replicas, not yet made.
    pub(super) fn new(upstream: Balancer) -> Self {
        Self {
            upstream: Some(upstream),
            early: Vec::new(),
            tx: None,
            inbound: None,
            status: None,
        }
    }

    pub(super) fn send(&mut self, msg: Message) -> Result<(), Error> {
        let req = to_request(msg)?;
        if self.upstream.is_some() {
            // Not open yet: kept, to go with the call (and again with its
            // retry).
            self.early.push(req);
        } else if let Some(tx) = &self.tx {
            // A closed stream shows up on the receiving side.
            let _ = tx.send(req);
        }
        Ok(())
    }

    pub(super) async fn open(
        &mut self,
        session_id: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        let Some(upstream) = self.upstream.take() else {
            return Ok(());
        };
        let mut pick = upstream
            .pick(None)
            .await
            .map_err(SessionError::Unreachable)?;
        let mut retried = false;
        loop {
            let Err(why) = self.call(&pick, session_id, deadline, timeout).await else {
                upstream.session_opened(&pick.key);
                return Ok(());
            };
            if why.down {
                upstream.mark_down(&pick.key);
            }
            if retried || !why.retry {
                return Err(why.error);
            }
            let Ok(next) = upstream.pick(Some(&pick.key)).await else {
                return Err(why.error);
            };
            tracing::debug!(
                replica = %pick.key,
                retry_on = %next.key,
                reason = %why.error,
                "server-svc did not take the session; retrying once"
            );
            (pick, retried) = (next, true);
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
        // With traces on, server-svc's session continues this one's trace
        // (W3C traceparent).
        service_runtime::telemetry::inject_into(&tracing::Span::current(), request.metadata_mut());
        let mut client = HandshakeServiceClient::new(pick.channel.clone());
        let server = &pick.key;
        match timeout_at(deadline, client.connect(request)).await {
            Ok(Ok(resp)) => {
                let theirs = resp.metadata().get(SESSION_ID_HEADER);
                if let Some(id) = theirs.and_then(|v| v.to_str().ok())
                    && id != session_id
                {
                    tracing::debug!(server_session_id = id, "server-svc names this session {id}");
                }
                tracing::debug!(replica = %server, "session opened on server-svc");
                self.tx = Some(tx);
                self.inbound = Some(resp.into_inner());
                Ok(())
            }
            // No connection, or it broke before server-svc answered (the
            // replica died, or its GOAWAY crossed the call).
            Ok(Err(status)) if connection_lost(&status) => Err(Refused {
                error: SessionError::Unreachable(format!(
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
                    error: SessionError::Busy(format!(
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
                error: SessionError::Unreachable(format!(
                    "server-svc at {server} did not answer within {} s",
                    timeout.as_secs_f64()
                )),
                retry: false,
                down: false,
            }),
        }
    }

    pub(super) async fn recv(&mut self) -> Incoming {
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

    pub(super) async fn finish(&mut self, drain: bool, until: Instant) -> Option<Status> {
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
