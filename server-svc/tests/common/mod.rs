//! In-process harness: a lab PKI made once per test binary, server-svc
//! served on 127.0.0.1:0, and the TLS client side driven by the engine
//! itself (`handshake::Connection::client`) over a real gRPC stream.
#![allow(dead_code)]

pub mod front;
pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use handshake::SystemRng;
use handshake::{
    CipherSuite, ClientConfig, Connection, Event, Message, ServerCertVerifier, ServerConfig, Step,
};
use handshake::{Deframer, encode_records};
use proto::convert::{from_response, to_request};
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::pb::{ConnectRequest, ConnectResponse, connect_response};
use rustls_pki_types::{ServerName, UnixTime};
use server_svc::pki::LabPki;
use server_svc::{HandshakeService, LiveSessions};
use service_runtime::keylog::KeyLog;
use service_runtime::limits::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

/// How long any single wait on the server may take before a test fails
/// (generous: debug builds on a busy machine).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A directory under cargo's scratch space for integration tests, removed
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "server-svc-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lab PKI of this test binary (RSA key generation is slow: once).
pub struct Lab {
    _dir: TempDir,
    pub pki: LabPki,
}

pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let dir = TempDir::new("lab");
        let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        let pki = server_svc::pki::init(dir.path(), &names, false).expect("pki init");
        Lab { _dir: dir, pki }
    })
}

/// A server configuration with the lab's RSA and ECDSA certificates.
pub fn server_config() -> ServerConfig {
    server_config_for(&lab().pki)
}

pub fn server_config_for(pki: &LabPki) -> ServerConfig {
    ServerConfig::new(pki.load_keys().expect("load lab keys")).expect("server config")
}

/// A client that trusts the lab CA and offers `suites` (all when empty).
pub fn client_config(suites: &[CipherSuite]) -> ClientConfig {
    client_config_for(&lab().pki, suites)
}

pub fn client_config_for(pki: &LabPki, suites: &[CipherSuite]) -> ClientConfig {
    let ca = server_svc::certs::load_chain(&pki.ca_cert()).expect("lab CA");
    let verifier = ServerCertVerifier::new(&ca).expect("verifier");
    let mut config = ClientConfig::new(verifier);
    if !suites.is_empty() {
        config.cipher_suites = suites.to_vec();
    }
    config
}

/// server-svc running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub live: LiveSessions,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<server_svc::Result<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        Self::start_with(config, Duration::from_secs(10)).await
    }

    pub async fn start_with(config: ServerConfig, idle_timeout: Duration) -> Self {
        Self::start_full(config, idle_timeout, None).await
    }

    /// With `--key-log`.
    pub async fn start_with_key_log(config: ServerConfig, key_log: Arc<KeyLog>) -> Self {
        Self::start_full(config, Duration::from_secs(10), Some(key_log)).await
    }

    async fn start_full(
        config: ServerConfig,
        idle_timeout: Duration,
        key_log: Option<Arc<KeyLog>>,
    ) -> Self {
        let service = HandshakeService::new(Arc::new(config), idle_timeout).with_key_log(key_log);
        Self::serve(service, Limits::default()).await
    }

    /// With the session budget `live` (shared with whatever else holds a
    /// clone) and `limits`.
    pub async fn start_limited(config: ServerConfig, live: LiveSessions, limits: Limits) -> Self {
        let service =
            HandshakeService::new(Arc::new(config), Duration::from_secs(10)).with_sessions(live);
        Self::serve(service, limits).await
    }

    async fn serve(service: HandshakeService, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let live = service.live_sessions();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server_svc::serve(
                listener,
                service,
                &limits,
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(2),
            )
            .await
        });
        Self {
            addr,
            live,
            stop: Some(stop),
            task,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to server-svc")
    }

    pub async fn client(&self) -> HandshakeServiceClient<Channel> {
        HandshakeServiceClient::new(self.channel().await)
    }

    /// Waits until no session is running; panics after [`PATIENCE`].
    pub async fn wait_no_sessions(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.live.get() != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} sessions still live",
                self.live.get()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let done = tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("server stops");
        done.expect("server task").expect("server ran cleanly");
    }
}

/// One raw Connect stream.
pub struct Stream {
    tx: Option<mpsc::Sender<ConnectRequest>>,
    inbound: Streaming<ConnectResponse>,
    pub metadata: tonic::metadata::MetadataMap,
}

impl Stream {
    pub async fn open(server: &TestServer) -> Self {
        Self::open_at(server.addr).await
    }

    /// A Connect stream to the server-svc at `addr` (a process, say).
    pub async fn open_at(addr: SocketAddr) -> Self {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect to server-svc");
        let mut client = HandshakeServiceClient::new(channel);
        let (tx, rx) = mpsc::channel(64);
        let response = client
            .connect(ReceiverStream::new(rx))
            .await
            .expect("Connect opens");
        let metadata = response.metadata().clone();
        Self {
            tx: Some(tx),
            inbound: response.into_inner(),
            metadata,
        }
    }

    /// Sends one request; false if the stream is closed.
    pub async fn send(&self, req: ConnectRequest) -> bool {
        match &self.tx {
            Some(tx) => tx.send(req).await.is_ok(),
            None => false,
        }
    }

    /// Closes the client's sending side.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// The next response, Ok(None) when the stream ended with OK, Err with
    /// the final status otherwise.
    pub async fn recv(&mut self) -> Result<Option<ConnectResponse>, Status> {
        tokio::time::timeout(PATIENCE, self.inbound.message())
            .await
            .expect("server-svc answers in time")
    }

    /// The next `n` responses, which must come.
    pub async fn recv_n(&mut self, n: usize) -> Vec<ConnectResponse> {
        let mut out = Vec::new();
        for _ in 0..n {
            match self.recv().await {
                Ok(Some(r)) => out.push(r),
                other => panic!("expected a response, got {other:?} after {out:?}"),
            }
        }
        out
    }

    /// Everything up to the end of the stream, and the final status
    /// (None when it ended with OK).
    pub async fn rest(&mut self) -> (Vec<ConnectResponse>, Option<Status>) {
        let mut out = Vec::new();
        loop {
            match self.recv().await {
                Ok(Some(r)) => out.push(r),
                Ok(None) => return (out, None),
                Err(status) => return (out, Some(status)),
            }
        }
    }
}

/// What the client saw of one session.
#[derive(Default)]
pub struct Log {
    pub events: Vec<Event>,
    pub responses: Vec<ConnectResponse>,
    /// The decrypted application data the server sent.
    pub reply: Option<Vec<u8>>,
    /// The status the stream ended with; None for OK.
    pub status: Option<Status>,
}

/// The whole of one session as the client saw it.
pub struct Outcome {
    pub client: Connection,
    pub log: Log,
    pub metadata: tonic::metadata::MetadataMap,
}

impl Outcome {
    /// The client's failure: step and error.
    pub fn client_failure(&self) -> Option<(Step, &handshake::Error)> {
        self.log.events.iter().find_map(|e| match e {
            Event::Failed { step, error } => Some((*step, error)),
            _ => None,
        })
    }

    /// Steps the client reported, in order.
    pub fn steps(&self) -> Vec<Step> {
        self.log
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Step(s) => Some(s.step),
                _ => None,
            })
            .collect()
    }

    /// Alerts the server sent in the clear.
    pub fn plain_alerts(&self) -> Vec<proto::pb::Alert> {
        plain_alerts(&self.log.responses)
    }
}

pub fn plain_alerts(responses: &[ConnectResponse]) -> Vec<proto::pb::Alert> {
    responses
        .iter()
        .filter_map(|r| match &r.message {
            Some(connect_response::Message::Alert(a)) => Some(*a),
            _ => None,
        })
        .collect()
}

pub fn new_client(config: ClientConfig) -> Connection {
    Connection::client(
        Arc::new(config),
        ServerName::try_from("localhost").expect("name"),
        UnixTime::now(),
        Box::new(SystemRng),
    )
    .expect("client engine")
}

/// Drives the client engine against server-svc: the handshake, then
/// `message` as application data, until the reply arrives or the session
/// fails; then closes the client's side and reads the stream to its end.
pub async fn run_session(server: &TestServer, config: ClientConfig, message: &[u8]) -> Outcome {
    run_session_at(server.addr, config, message).await
}

/// [`run_session`] against the server-svc at `addr`.
pub async fn run_session_at(addr: SocketAddr, config: ClientConfig, message: &[u8]) -> Outcome {
    let mut stream = Stream::open_at(addr).await;
    let mut client = new_client(config);
    let mut log = Log::default();
    let ended = drive(&mut client, &mut stream, &mut log, Some(message)).await;
    stream.close();
    if !ended {
        let (more, status) = stream.rest().await;
        for r in &more {
            if let Ok(m) = from_response(r.clone()) {
                client.handle(m);
            }
        }
        drain_events(&mut client, &mut log);
        log.responses.extend(more);
        log.status = status;
    }
    Outcome {
        client,
        log,
        metadata: stream.metadata,
    }
}

/// The engine's `client` over TCP to `addr` (the TLS front, Nagle off):
/// the handshake, then each part of `request` as its own record; returns
/// all application data received until the server's close_notify, or why
/// it failed. `transmit` takes what the client queued (a test may re-seal
/// or split records there); the bytes go out in writes of at most `piece`
/// bytes, a short pause after each tiny one so it travels on its own.
pub async fn get_over_tcp(
    addr: SocketAddr,
    mut client: Connection,
    request: &[&[u8]],
    piece: usize,
    mut transmit: impl FnMut(&mut Connection) -> Vec<Message>,
) -> Result<String, String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut deframer = Deframer::new();
    let mut received = Vec::new();
    let mut requested = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut out = Vec::new();
        for m in transmit(&mut client) {
            encode_records(&m, &mut out).unwrap();
        }
        for chunk in out.chunks(piece) {
            stream
                .write_all(chunk)
                .await
                .map_err(|e| format!("write: {e}"))?;
            if piece < 64 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let mut peer_closed = false;
        while let Some(event) = client.poll_event() {
            match event {
                Event::ApplicationData(d) => received.extend(d),
                Event::PeerClosed => peer_closed = true,
                Event::Failed { step, error } => return Err(format!("step {step}: {error}")),
                _ => {}
            }
        }
        if peer_closed {
            return Ok(text(&received));
        }
        if client.is_handshake_complete() && !requested {
            requested = true;
            for part in request {
                client
                    .send_application_data(part)
                    .map_err(|e| e.to_string())?;
            }
            continue;
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .map_err(|_| "no answer in time".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed without close_notify: {}", text(&received)));
        }
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().map_err(|e| format!("deframe: {e}"))? {
            client.handle(m);
        }
    }
}

/// Runs only the handshake and returns the open stream and the client.
pub async fn handshake_only(server: &TestServer, config: ClientConfig) -> (Stream, Connection) {
    let mut stream = Stream::open(server).await;
    let mut client = new_client(config);
    let mut log = Log::default();
    let ended = drive(&mut client, &mut stream, &mut log, None).await;
    assert!(
        !ended,
        "stream ended during the handshake: {:?}",
        log.status
    );
    assert!(client.is_handshake_complete(), "{:?}", client.failure());
    (stream, client)
}

fn drain_events(client: &mut Connection, out: &mut Log) {
    while let Some(e) = client.poll_event() {
        if let Event::ApplicationData(d) = &e {
            out.reply = Some(d.clone());
        }
        out.events.push(e);
    }
}

/// True if the stream ended (its status is in `out.status`).
async fn drive(
    client: &mut Connection,
    stream: &mut Stream,
    out: &mut Log,
    message: Option<&[u8]>,
) -> bool {
    let mut sent_message = false;
    loop {
        drain_events(client, out);
        while let Some(m) = client.poll_transmit() {
            stream.send(to_request(m).expect("to_request")).await;
        }
        if client.failure().is_some() || out.reply.is_some() {
            return false;
        }
        if client.is_handshake_complete() {
            match message {
                None => return false,
                Some(m) if !sent_message => {
                    client.send_application_data(m).expect("application data");
                    sent_message = true;
                    continue;
                }
                Some(_) => {}
            }
        }
        match stream.recv().await {
            Ok(Some(r)) => {
                out.responses.push(r.clone());
                match from_response(r) {
                    Ok(m) => {
                        client.handle(m);
                    }
                    Err(e) => client.abort(e),
                }
            }
            Ok(None) => return true,
            Err(status) => {
                out.status = Some(status);
                return true;
            }
        }
    }
}

/// A ClientHello as the engine's client would send it.
pub fn client_hello() -> ConnectRequest {
    let mut client = new_client(client_config(&[]));
    to_request(client.poll_transmit().expect("ClientHello")).expect("to_request")
}
