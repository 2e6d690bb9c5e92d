//! gRPC from the tests' side: channels, health and reflection clients,
//! reading a failed session out of a status, and a raw Connect stream
//! driven by the engine's own client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use handshake::SystemRng;
use handshake::{ClientConfig, Connection, Event, Message, ServerCertVerifier};
use prost::Message as _;
use proto::SESSION_ID_HEADER;
use proto::pb;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::status::{RpcStatus, report_from_status};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// The longest any single gRPC call or stream message is waited for.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `fut` for at most [`CALL_TIMEOUT`], panicking with `what`.
pub async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {CALL_TIMEOUT:?}"),
    }
}

async fn try_channel(url: &str) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad url {url}: {e}"))?
        .connect_timeout(Duration::from_secs(2));
    endpoint
        .connect()
        .await
        .map_err(|e| format!("connect {url}: {e}"))
}

/// A connection to `url` (panics if it cannot be made).
pub async fn channel(url: &str) -> Channel {
    bounded(&format!("connect {url}"), try_channel(url))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One grpc.health.v1 Check of `service` ("" for the whole server).
pub async fn health_status(url: &str, service: &str) -> Result<ServingStatus, String> {
    let check = async {
        let ch = try_channel(url).await?;
        let resp = HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map_err(|s| format!("health check: {s}"))?;
        Ok(resp.into_inner().status())
    };
    tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .unwrap_or_else(|_| Err("health check timed out".into()))
}

/// A grpc.health.v1 Watch of the whole server ("").
pub struct HealthWatch {
    stream: Streaming<tonic_health::pb::HealthCheckResponse>,
}

impl HealthWatch {
    /// Starts watching over `channel`; the first answer must be SERVING.
    pub async fn serving(channel: Channel) -> HealthWatch {
        let mut health = HealthClient::new(channel);
        let mut stream = bounded(
            "Health.Watch",
            health.watch(HealthCheckRequest {
                service: String::new(),
            }),
        )
        .await
        .expect("Health.Watch starts")
        .into_inner();
        let first = bounded("the first Watch answer", stream.message())
            .await
            .expect("Watch answers")
            .expect("Watch sends the current status");
        assert_eq!(first.status(), ServingStatus::Serving);
        HealthWatch { stream }
    }

    /// Asserts that the next change is to NOT_SERVING (or that the watch
    /// ends: the server may be gone by then). Watch sends changes only.
    pub async fn assert_not_serving(mut self) {
        if let Ok(Some(r)) = bounded("the next Watch answer", self.stream.message()).await {
            assert_eq!(
                r.status(),
                ServingStatus::NotServing,
                "health after SIGTERM"
            );
        }
    }
}

/// The services listed by server reflection v1.
pub async fn reflection_services(channel: Channel) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = bounded(
        "reflection v1 ServerReflectionInfo",
        client.server_reflection_info(tokio_stream::iter([req])),
    )
    .await
    .expect("reflection v1 answers")
    .into_inner();
    let resp = bounded("reflection v1 list_services", stream.message())
        .await
        .expect("reflection v1 response")
        .expect("reflection v1 sends one response");
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("reflection v1: expected a service list, got {other:?}"),
    }
}

/// The services listed by server reflection v1alpha.
pub async fn reflection_services_v1alpha(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = bounded(
        "reflection v1alpha ServerReflectionInfo",
        client.server_reflection_info(tokio_stream::iter([req])),
    )
    .await
    .expect("reflection v1alpha answers")
    .into_inner();
    let resp = bounded("reflection v1alpha list_services", stream.message())
        .await
        .expect("reflection v1alpha response")
        .expect("reflection v1alpha sends one response");
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("reflection v1alpha: expected a service list, got {other:?}"),
    }
}

/// The alert name a status carries in `tls-alert`.
pub fn alert_of(status: &Status) -> Option<String> {
    status
        .metadata()
        .get(proto::status::ALERT_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The step number a status carries in `tls-step`.
pub fn step_of(status: &Status) -> Option<u32> {
    status
        .metadata()
        .get(proto::status::STEP_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The HandshakeReport client-svc puts in a failed session's status
/// details: a google.rpc.Status with the status's own code and message
/// (what gRPC libraries check) packing the report in an Any.
pub fn report_of(status: &Status) -> pb::HandshakeReport {
    let rpc = RpcStatus::decode(status.details()).unwrap_or_else(|e| {
        panic!(
            "status details are not a google.rpc.Status: {e}; {}",
            brief(status)
        )
    });
    assert_eq!(
        (rpc.code, rpc.message.as_str()),
        (i32::from(status.code()), status.message()),
        "the details' google.rpc.Status disagrees with the status: {}",
        brief(status)
    );
    report_from_status(status).unwrap_or_else(|| {
        panic!(
            "status details hold no {}: {}",
            proto::status::REPORT_TYPE_URL,
            brief(status)
        )
    })
}

/// A status in one line: code, message, `tls-alert`, `tls-step`, and the
/// size of its details (the Debug form prints every byte of the report).
pub fn brief(status: &Status) -> String {
    format!(
        "{:?} {:?} (tls-alert {:?}, tls-step {:?}, {} bytes of details)",
        status.code(),
        status.message(),
        alert_of(status),
        step_of(status),
        status.details().len()
    )
}

/// Asserts that `status` has `code` and names `alert` in `tls-alert`.
pub fn assert_failure(status: &Status, code: Code, alert: &str) {
    assert_eq!(
        (status.code(), alert_of(status).as_deref()),
        (code, Some(alert)),
        "expected {code:?} with tls-alert {alert}, got {}",
        brief(status)
    );
}

/// The lab CA (DER) from a PEM file.
pub fn read_ca(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("read CA certificate {}: {e}", path.display()))
}

/// A client engine trusting `ca`, offering `suites` (empty: all), for
/// `server_name`.
pub fn client_engine(
    ca: &Path,
    server_name: &str,
    suites: &[handshake::CipherSuite],
) -> Connection {
    let verifier = ServerCertVerifier::new(&[read_ca(ca)]).expect("verifier for the lab CA");
    let mut config = ClientConfig::new(verifier);
    if !suites.is_empty() {
        config.cipher_suites = suites.to_vec();
    }
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    Connection::client(Arc::new(config), name, UnixTime::now(), Box::new(SystemRng))
        .expect("client engine starts")
}

/// One `HandshakeService.Connect` stream: what the test sends goes through
/// an mpsc channel, what server-svc answers is read one message at a time,
/// each read bounded by [`CALL_TIMEOUT`].
pub struct ConnectStream {
    tx: Option<mpsc::Sender<pb::ConnectRequest>>,
    rx: Streaming<pb::ConnectResponse>,
    /// The response headers (server-svc's `session-id` among them).
    pub headers: MetadataMap,
}

impl ConnectStream {
    /// Opens the stream with `first` already queued (the server sees the
    /// messages as soon as the call starts).
    pub async fn open(channel: Channel, first: Vec<pb::ConnectRequest>) -> ConnectStream {
        Self::open_as(channel, first, None).await
    }

    /// Like [`ConnectStream::open`], proposing `session_id` in the
    /// `session-id` request header.
    pub async fn open_as(
        channel: Channel,
        first: Vec<pb::ConnectRequest>,
        session_id: Option<&str>,
    ) -> ConnectStream {
        let (tx, rx) = mpsc::channel(64);
        for m in first {
            tx.send(m).await.expect("queue a request");
        }
        let mut request = Request::new(ReceiverStream::new(rx));
        if let Some(id) = session_id {
            request
                .metadata_mut()
                .insert(SESSION_ID_HEADER, id.parse().expect("a valid header value"));
        }
        let mut client = HandshakeServiceClient::new(channel);
        let response = bounded("Connect", client.connect(request))
            .await
            .unwrap_or_else(|s| panic!("Connect does not start: {}", brief(&s)));
        let headers = response.metadata().clone();
        ConnectStream {
            tx: Some(tx),
            rx: response.into_inner(),
            headers,
        }
    }

    /// The `session-id` response header.
    pub fn session_id(&self) -> Option<&str> {
        self.headers
            .get(SESSION_ID_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    /// Sends one message (panics if the stream's request side is closed).
    pub async fn send(&self, m: pb::ConnectRequest) {
        self.tx
            .as_ref()
            .expect("request side still open")
            .send(m)
            .await
            .expect("send on the Connect stream");
    }

    /// Closes this side of the stream.
    pub fn close_send(&mut self) {
        self.tx = None;
    }

    /// The next message: Ok(Some), Ok(None) at a clean end, Err(status).
    pub async fn recv(&mut self) -> Result<Option<pb::ConnectResponse>, Status> {
        bounded("a ConnectResponse", self.rx.message()).await
    }

    /// Reads until the stream ends with an error status (at most `max`
    /// messages); returns the messages before it and the status.
    pub async fn until_status(&mut self, max: usize) -> (Vec<pb::ConnectResponse>, Status) {
        let mut seen = Vec::new();
        for _ in 0..=max {
            match self.recv().await {
                Ok(Some(m)) => seen.push(m),
                Ok(None) => panic!("stream ended with OK, expected an error status; saw {seen:?}"),
                Err(s) => return (seen, s),
            }
        }
        panic!("no status after {max} messages: {seen:?}")
    }
}

/// A Connect stream driven by the engine's client: a real TLS client
/// speaking to server-svc over its own protocol.
pub struct RawSession {
    pub stream: ConnectStream,
    pub engine: Connection,
}

impl RawSession {
    /// Opens a stream and sends the engine's ClientHello.
    pub async fn open(channel: Channel, ca: &Path, server_name: &str) -> RawSession {
        Self::open_with(channel, client_engine(ca, server_name, &[])).await
    }

    /// Opens a stream for `engine`, sending what it has queued.
    pub async fn open_with(channel: Channel, engine: Connection) -> RawSession {
        Self::open_as(channel, engine, None).await
    }

    /// Opens a stream for `engine`, proposing `session_id`.
    pub async fn open_as(
        channel: Channel,
        mut engine: Connection,
        session_id: Option<&str>,
    ) -> RawSession {
        let first = drain(&mut engine);
        let stream = ConnectStream::open_as(channel, first, session_id).await;
        RawSession { stream, engine }
    }

    /// Sends whatever the engine has queued.
    pub async fn flush(&mut self) {
        for m in drain(&mut self.engine) {
            self.stream.send(m).await;
        }
    }

    /// Feeds one server message to the engine and flushes its answers.
    pub async fn feed(&mut self, m: pb::ConnectResponse) -> Result<(), handshake::Error> {
        let msg = proto::convert::from_response(m)?;
        self.engine.handle(msg);
        self.flush().await;
        self.engine.failure().map_or(Ok(()), |e| Err(e.clone()))
    }

    /// Receives one message and feeds it to the engine.
    pub async fn step(&mut self) {
        let m = match self.stream.recv().await {
            Ok(Some(m)) => m,
            Ok(None) => panic!("server ended the stream mid-handshake ({:?})", self.engine),
            Err(s) => panic!(
                "server failed the session: {} ({:?})",
                brief(&s),
                self.engine
            ),
        };
        if let Err(e) = self.feed(m).await {
            panic!("client engine refused the server's message: {e:?}");
        }
    }

    /// Runs the handshake to completion (at most 16 server messages).
    pub async fn complete_handshake(&mut self) {
        for _ in 0..16 {
            if self.engine.is_handshake_complete() {
                return;
            }
            self.step().await;
        }
        assert!(
            self.engine.is_handshake_complete(),
            "handshake not complete after 16 server messages: {:?}",
            self.engine
        );
    }

    /// Sends `data` as application data and returns the server's reply.
    pub async fn echo(&mut self, data: &str) -> String {
        self.engine
            .send_application_data(data.as_bytes())
            .expect("send application data");
        self.flush().await;
        for _ in 0..4 {
            self.step().await;
            while let Some(ev) = self.engine.poll_event() {
                if let Event::ApplicationData(d) = ev {
                    return String::from_utf8(d).expect("the reply is UTF-8");
                }
            }
        }
        panic!("no application data came back for {data:?}");
    }
}

/// The engine's queued messages as ConnectRequests.
pub fn drain(engine: &mut Connection) -> Vec<pb::ConnectRequest> {
    std::iter::from_fn(|| engine.poll_transmit())
        .map(|m: Message| proto::convert::to_request(m).expect("a message a client sends"))
        .collect()
}
