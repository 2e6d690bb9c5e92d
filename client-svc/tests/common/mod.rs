//! What the tests need around client-svc: a lab PKI (test-pki), a small
//! in-process server-svc stand-in (the engine's server role behind
//! `HandshakeService.Connect`, echoing application data as "echo: " +
//! data), and client-svc's own service on a loopback port.
//!
//! The stand-in follows the contract of service.proto: on failure it sends
//! the alert, then ends the stream with `proto::status::to_status`.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use handshake::Deframer;
use handshake::SystemRng;
use handshake::{
    CertifiedKey, CipherSuite, ClientConfig, Connection, Event, ServerCertVerifier, ServerConfig,
};
use proto::convert::{from_request, to_response};
use proto::pb;
use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;
use proto::pb::handshake_service_server::{HandshakeService, HandshakeServiceServer};
use rustls_pki_types::ServerName;
use test_pki::{Ca, Leaf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

use client_svc::balance::ChannelOptions;
use client_svc::service::{ClientService, Settings};
use client_svc::session::SessionSpec;
use service_runtime::limits::Limits;
use service_runtime::limits::LiveSessions;
use tonic::service::Routes;

/// A lab CA and one RSA and one ECDSA server certificate for
/// "localhost" and 127.0.0.1.
pub struct Lab {
    pub ca: Ca,
    leaves: [Leaf; 2],
}

/// Made once per test binary: RSA key generation is slow.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let ca = Ca::new("client-svc test CA");
        let leaves = ca.localhost_leaves();
        Lab { ca, leaves }
    })
}

impl Lab {
    /// A server config with both certificates, every suite.
    pub fn server_config(&self) -> ServerConfig {
        let keys = self
            .leaves
            .iter()
            .map(|l| CertifiedKey::new(l.chain.clone(), &l.key_pkcs8).unwrap())
            .collect();
        ServerConfig::new(keys).unwrap()
    }

    pub fn verifier(&self) -> ServerCertVerifier {
        ServerCertVerifier::new(std::slice::from_ref(&self.ca.cert)).unwrap()
    }

    /// The CA as a PEM file in a fresh temporary directory.
    pub fn ca_file(&self) -> PathBuf {
        let dir = temp_dir();
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca.pem).unwrap();
        path
    }
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "client-svc-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server-svc stand-in.
struct EchoServer {
    config: Arc<ServerConfig>,
    /// The `session-id` request header of every call, in order.
    session_ids: Arc<Mutex<Vec<String>>>,
    /// The client's address of every call (one per connection), in order.
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    /// The answer to one application record (server-svc's: "echo: " + it).
    reply: Reply,
}

/// What a stand-in answers to one application record's plaintext; nothing
/// (empty): it sends close_notify instead.
pub type Reply = fn(&[u8]) -> Vec<u8>;

/// server-svc's answer: "echo: " + the record's plaintext.
pub fn echo(data: &[u8]) -> Vec<u8> {
    [b"echo: ".as_slice(), data].concat()
}

#[tonic::async_trait]
impl HandshakeService for EchoServer {
    type ConnectStream = ReceiverStream<Result<pb::ConnectResponse, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<pb::ConnectRequest>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        if let Some(id) = request.metadata().get(proto::SESSION_ID_HEADER) {
            let id = id.to_str().unwrap_or("(not text)").to_owned();
            self.session_ids.lock().unwrap().push(id);
        }
        if let Some(peer) = request.remote_addr() {
            self.peers.lock().unwrap().push(peer);
        }
        let mut inbound = request.into_inner();
        let mut conn = Connection::server(self.config.clone(), Box::new(SystemRng))
            .map_err(|e| Status::internal(e.to_string()))?;
        let (tx, rx) = mpsc::channel(32);
        let reply = self.reply;
        tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                match from_request(req) {
                    Ok(m) => {
                        conn.handle(m);
                    }
                    Err(e) => conn.abort(e),
                }
                if !pump(&mut conn, &tx, reply).await {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Sends what the engine queued, echoes application data; false once the
/// session is over (the failure status sent, or close_notify received).
async fn pump(
    conn: &mut Connection,
    tx: &mpsc::Sender<Result<pb::ConnectResponse, Status>>,
    reply: Reply,
) -> bool {
    let mut end: Option<Option<Status>> = None;
    loop {
        let mut moved = false;
        while let Some(event) = conn.poll_event() {
            moved = true;
            match event {
                Event::ApplicationData(data) => {
                    let reply = reply(&data);
                    let sent = match reply.is_empty() {
                        true => conn.close(),
                        false => conn.send_application_data(&reply),
                    };
                    if let Err(e) = sent {
                        conn.abort(e);
                    }
                }
                Event::Failed { step, error } => {
                    end = Some(Some(proto::status::to_status(&error, step)));
                }
                Event::PeerClosed => end = Some(None),
                _ => {}
            }
        }
        while let Some(m) = conn.poll_transmit() {
            moved = true;
            let resp = to_response(m).map_err(|e| Status::internal(e.to_string()));
            if tx.send(resp).await.is_err() {
                return false;
            }
        }
        if !moved {
            break;
        }
    }
    match end {
        None => true,
        Some(status) => {
            if let Some(s) = status {
                let _ = tx.send(Err(s)).await;
            }
            false
        }
    }
}

/// Accepted connections with TCP_NODELAY, as a real deployment wants
/// them: small gRPC frames must not wait for delayed ACKs (40 ms).
fn incoming(
    l: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    TcpListenerStream::new(l).map(|s| {
        let s = s?;
        s.set_nodelay(true)?;
        Ok(s)
    })
}

/// A listener on a free loopback port.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Serves one TLS connection over TCP with the engine's server role on
/// `config` (a `tls://` target), answering each request with "echo: " + the request;
/// returns its URL. After each reply `after_reply` says how the server
/// goes on: it may queue close_notify, and true ends the connection with
/// TCP EOF. `transmit` turns what the engine queued into the bytes written,
/// so a test can coalesce, fragment or re-seal the server's records.
pub async fn start_engine_server_with(
    config: ServerConfig,
    after_reply: impl Fn(&mut Connection) -> bool + Send + 'static,
    mut transmit: impl FnMut(&mut Connection) -> Vec<u8> + Send + 'static,
) -> String {
    let (listener, addr) = listener().await;
    let config = Arc::new(config);
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut conn = Connection::server(config, Box::new(SystemRng)).unwrap();
        let mut deframer = Deframer::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            deframer.push(&buf[..n]);
            let mut end = false;
            while let Ok(Some(m)) = deframer.pop() {
                conn.handle(m);
                while let Some(e) = conn.poll_event() {
                    match e {
                        Event::ApplicationData(data) => {
                            let reply = [b"echo: ".as_slice(), &data].concat();
                            conn.send_application_data(&reply).unwrap();
                            end |= after_reply(&mut conn);
                        }
                        Event::Failed { .. } | Event::PeerClosed => end = true,
                        _ => {}
                    }
                }
            }
            if tcp.write_all(&transmit(&mut conn)).await.is_err() {
                return;
            }
            if end {
                let _ = tcp.shutdown().await;
                return;
            }
        }
    });
    format!("tls://{addr}")
}

/// A session spec for `server` sending "ping", trusting `lab()`'s CA,
/// offering `suites`; no secrets captured, a 20 s session timeout.
pub fn ping_spec(server: &str, suites: &[CipherSuite]) -> SessionSpec {
    let mut config = ClientConfig::new(lab().verifier());
    config.cipher_suites = suites.to_vec();
    SessionSpec {
        server: server.to_owned(),
        config,
        server_name: ServerName::try_from("localhost").unwrap(),
        message: b"ping".to_vec(),
        capture_secrets: false,
        key_log: None,
        timeout: Duration::from_secs(20),
        metrics: service_runtime::metrics::Metrics::disabled(),
    }
}

/// Starts the server-svc stand-in; returns its URL.
pub async fn start_server(config: ServerConfig) -> String {
    start_recording_server(config).await.0
}

/// Starts the server-svc stand-in; returns its URL and the session ids
/// client-svc proposes in its calls.
pub async fn start_recording_server(config: ServerConfig) -> (String, Arc<Mutex<Vec<String>>>) {
    start_replying_server(config, echo).await
}

/// Starts a stand-in that answers each application record with
/// `reply(plaintext)`; returns its URL and the session ids.
pub async fn start_replying_server(
    config: ServerConfig,
    reply: Reply,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let (l, addr) = listener().await;
    let session_ids = Arc::new(Mutex::new(Vec::new()));
    let svc = HandshakeServiceServer::new(EchoServer {
        config: Arc::new(config),
        session_ids: session_ids.clone(),
        peers: Arc::new(Mutex::new(Vec::new())),
        reply,
    });
    tokio::spawn(
        Server::builder()
            .add_service(svc)
            .serve_with_incoming(incoming(l)),
    );
    (format!("http://{addr}"), session_ids)
}

/// Starts the server-svc stand-in served as the services serve
/// (`service_runtime::serve::serve`, with `limits`); returns its address and the
/// client address of every call.
pub async fn start_served_server(
    config: ServerConfig,
    limits: Limits,
) -> (SocketAddr, Arc<Mutex<Vec<SocketAddr>>>) {
    let (l, addr) = listener().await;
    let peers = Arc::new(Mutex::new(Vec::new()));
    let svc = HandshakeServiceServer::new(EchoServer {
        config: Arc::new(config),
        session_ids: Arc::new(Mutex::new(Vec::new())),
        peers: peers.clone(),
        reply: echo,
    });
    tokio::spawn(async move {
        service_runtime::serve::serve(
            Routes::new(svc),
            "handshake.v1.HandshakeService",
            l,
            &limits,
            std::future::pending(),
            Duration::from_secs(1),
        )
        .await
    });
    (addr, peers)
}

/// A server-svc at its --max-sessions: refuses every Connect at once.
struct Busy;

#[tonic::async_trait]
impl HandshakeService for Busy {
    type ConnectStream = ReceiverStream<Result<pb::ConnectResponse, Status>>;

    async fn connect(
        &self,
        _request: Request<Streaming<pb::ConnectRequest>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        Err(Status::resource_exhausted(
            "server-svc is running its maximum of 0 concurrent sessions",
        ))
    }
}

/// Starts a server-svc that refuses every session; returns its address.
pub async fn start_busy_server() -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(
        Server::builder()
            .add_service(HandshakeServiceServer::new(Busy))
            .serve_with_incoming(incoming(l)),
    );
    addr
}

/// A TCP proxy on a loopback port in front of `upstream`, whose
/// connections the test can cut at once (as a replica's death would).
pub struct Proxy {
    pub addr: SocketAddr,
    /// Bytes that went from the client to `upstream`, all connections.
    pub forwarded: Arc<std::sync::atomic::AtomicUsize>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (l, addr) = listener().await;
        let forwarded = Arc::new(AtomicUsize::new(0));
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (f, t) = (forwarded.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = l.accept().await {
                let f = f.clone();
                t.lock().unwrap().push(tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut sr, mut sw) = server.into_split();
                    let (mut cr, mut cw) = client.split();
                    let up = async {
                        let mut buf = [0u8; 8192];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            f.fetch_add(n, Ordering::SeqCst);
                        }
                    };
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! {
                        () = up => {}
                        _ = down => {}
                    }
                }));
            }
        });
        Self {
            addr,
            forwarded,
            tasks,
            accept,
        }
    }

    /// Cuts every connection and stops accepting: the sockets close.
    pub fn cut(&self) {
        self.accept.abort();
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A URL where nothing listens (a port bound, then released).
pub async fn closed_port_url() -> String {
    let (l, addr) = listener().await;
    drop(l);
    format!("http://{addr}")
}

/// A server-svc that reads everything and never answers.
struct Silent;

#[tonic::async_trait]
impl HandshakeService for Silent {
    type ConnectStream = ReceiverStream<Result<pb::ConnectResponse, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<pb::ConnectRequest>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            // The response stream stays open until the client gives up.
            let _tx = tx;
            while let Ok(Some(_)) = inbound.message().await {}
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Starts a server-svc that never answers; returns its URL.
pub async fn start_silent_server() -> String {
    let (l, addr) = listener().await;
    tokio::spawn(
        Server::builder()
            .add_service(HandshakeServiceServer::new(Silent))
            .serve_with_incoming(incoming(l)),
    );
    format!("http://{addr}")
}

/// client-svc's settings for tests: the lab CA, "localhost", 10 s.
pub fn settings(server: &str, show_secrets: bool) -> Settings {
    Settings {
        server: server.to_owned(),
        server_name: "localhost".to_owned(),
        verifier: lab().verifier(),
        show_secrets,
        key_log: None,
        timeout: Duration::from_secs(10),
        sessions: LiveSessions::default(),
        upstream: ChannelOptions::default(),
        allow_servers: Vec::new(),
        metrics: service_runtime::metrics::Metrics::disabled(),
    }
}

/// Starts client-svc's service against `server`; returns a client of it.
pub async fn start_client_svc(
    server: &str,
    show_secrets: bool,
) -> HandshakeClientServiceClient<Channel> {
    start_client_svc_with(settings(server, show_secrets)).await
}

/// Starts client-svc's service with `settings`; returns a client of it.
pub async fn start_client_svc_with(settings: Settings) -> HandshakeClientServiceClient<Channel> {
    start_client_svc_limited(settings, Limits::default()).await
}

/// Starts client-svc's service as `client-svc serve` runs it
/// (`client_svc::service::serve`, with `limits`); returns a client of it.
pub async fn start_client_svc_limited(
    settings: Settings,
    limits: Limits,
) -> HandshakeClientServiceClient<Channel> {
    let (l, addr) = listener().await;
    let svc = ClientService::new(settings).expect("valid settings");
    tokio::spawn(async move {
        client_svc::service::serve(
            l,
            svc,
            &limits,
            std::future::pending(),
            Duration::from_secs(1),
        )
        .await
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HandshakeClientServiceClient::new(channel)
}

/// The thirteen step names of `docs/DESIGN.md`, in order.
pub const STEP_NAMES: [&str; 13] = [
    "Client Hello",
    "Server Hello",
    "Server Certificate",
    "Server Hello Done",
    "Client Verification",
    "Gen pre-master",
    "Client Key Exchange",
    "Gen secret key",
    "Change Cipher Spec",
    "Encrypted Handshake Message",
    "Change Cipher Spec",
    "Encrypted Handshake Message",
    "Finish",
];
