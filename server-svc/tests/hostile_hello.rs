//! Hostile and unusual ClientHellos against the real `server-svc` process,
//! over gRPC Connect and over TCP (`--tls-listen`), as a student reaches
//! it: a huge offer gets a short status and short log lines; a ClientHello
//! over 64 KiB (up to the 131,396 bytes RFC 5246 allows, as OpenSSL takes)
//! is answered and completes; an ECDSA certificate signs with whatever
//! SHA-2 hash the client offers (checked by `openssl s_client`); and
//! ec_point_formats without "uncompressed" gets illegal_parameter (RFC
//! 8422 5.1.2).
//!
//! Sizes are asserted, never times. Needs `openssl` on the PATH
//! (`scripts/tools.sh openssl`).

mod common;

use std::net::SocketAddr;
use std::process::Stdio;

use common::front::raw_client_hello;
use common::process::ServerProcess;
use common::{PATIENCE, client_config, lab, new_client, plain_alerts};
use handshake::{
    AlertDescription, CipherSuite, ClientConfig, Connection, Event, SignatureScheme, StepDetail,
};
use handshake::{Deframer, encode_records};
use proto::convert::{from_response, to_request};
use proto::pb::connect_request::Message as Req;
use proto::pb::handshake_service_client::HandshakeServiceClient;
use proto::pb::{ConnectRequest, ConnectResponse, Extension};
use proto::status::alert_of;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// The longest log line accepted: a step 1 line quotes at most 64 suites
/// and 16 extensions, a failure line a reason of at most 768 bytes.
const MAX_LOG_LINE: usize = 4096;

/// The longest gRPC status message accepted (issue 11: about 1 KiB).
const MAX_STATUS_MESSAGE: usize = 1024;

/// `server-svc serve` on the lab PKI, both listeners on loopback, its
/// log collected ([`ServerProcess`]).
struct Server {
    process: ServerProcess,
    tls: SocketAddr,
}

impl Server {
    async fn start() -> Self {
        // The step lines and per-session details are what is checked:
        // they are at debug.
        let process = ServerProcess::start_with_log(
            &["--tls-listen", "127.0.0.1:0"],
            None,
            Some("info,handshake::step=debug,server_svc=debug,service_runtime=debug"),
        )
        .await;
        let tls = process.tls.expect("the TLS front's address");
        Self { process, tls }
    }

    async fn client(&self) -> HandshakeServiceClient<tonic::transport::Channel> {
        let channel =
            tonic::transport::Channel::from_shared(format!("http://{}", self.process.grpc))
                .expect("uri")
                .connect()
                .await
                .expect("connect to server-svc");
        HandshakeServiceClient::new(channel)
    }

    /// The log so far, once the server has had time to write it: waits
    /// until a line containing `until` is there.
    async fn log_until(&self, until: &str) -> Vec<String> {
        assert!(
            self.process.wait_for(&[until]).await,
            "no log line with {until:?}"
        );
        self.process.log().lines().map(str::to_owned).collect()
    }
}

/// Every line at most [`MAX_LOG_LINE`] bytes.
fn assert_short_lines(lines: &[String]) {
    for l in lines {
        assert!(
            l.len() <= MAX_LOG_LINE,
            "a log line of {} bytes: {}…",
            l.len(),
            l.chars().take(300).collect::<String>()
        );
    }
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

/// Opens a Connect stream: the sender and the responses.
async fn open(
    server: &Server,
) -> (
    mpsc::Sender<ConnectRequest>,
    tonic::Streaming<ConnectResponse>,
) {
    let (tx, rx) = mpsc::channel(64);
    let inbound = server
        .client()
        .await
        .connect(ReceiverStream::new(rx))
        .await
        .expect("Connect opens")
        .into_inner();
    (tx, inbound)
}

/// Everything up to the end of the stream and its final status.
async fn rest(inbound: &mut tonic::Streaming<ConnectResponse>) -> (Vec<ConnectResponse>, Status) {
    let mut out = Vec::new();
    loop {
        match timeout(PATIENCE, inbound.message())
            .await
            .expect("server-svc answers in time")
        {
            Ok(Some(r)) => out.push(r),
            Ok(None) => panic!("the stream ended OK after {out:?}"),
            Err(status) => return (out, status),
        }
    }
}

/// The engine client's ClientHello as protobuf, changed by `edit`.
fn hello_request(edit: impl FnOnce(&mut proto::pb::ClientHello)) -> ConnectRequest {
    let mut client = new_client(client_config(&[]));
    let mut req = to_request(client.poll_transmit().expect("ClientHello")).expect("to_request");
    let Some(Req::ClientHello(h)) = req.message.as_mut() else {
        panic!("not a ClientHello: {req:?}");
    };
    edit(h);
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_offer_over_grpc_gets_a_short_status_and_short_log_lines() {
    let server = Server::start().await;
    // 32,748 unknown suites and 16,000 unknown extensions: about 130 KB.
    let mut extensions = 0;
    let req = hello_request(|h| {
        h.cipher_suites = (0..32_748).map(|i| 0x1000 + i).collect();
        let items = &mut h.extensions.as_mut().expect("extensions").items;
        items.extend((0..16_000u32).map(|i| Extension {
            r#type: 0x1000 + i,
            data: Vec::new(),
        }));
        extensions = items.len();
    });
    let (tx, mut inbound) = open(&server).await;
    tx.send(req).await.expect("send");
    let (responses, status) = rest(&mut inbound).await;

    let alerts = plain_alerts(&responses);
    assert_eq!(alerts.len(), 1, "{responses:?} {status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::HANDSHAKE_FAILURE));
    let message = status.message();
    assert!(
        message.len() <= MAX_STATUS_MESSAGE,
        "{} bytes",
        message.len()
    );
    assert!(message.contains("32748 suites"), "{message}");
    assert!(message.contains("this server enables"), "{message}");

    // The step 1 line was written (the hello was read, not refused for its
    // size) and every line is short.
    let lines = server.log_until("session failed").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("step 1") && l.contains(&format!("and {} more", extensions - 16))),
        "a step 1 line quoting 16 extensions of {extensions}: {lines:?}"
    );
    assert_short_lines(&lines);
}

/// The ClientHello RFC 5246 allows that is largest as protobuf: 32,767
/// suites of 3-byte varints, a 32-byte session_id, 255 compression
/// methods, and 65,535 bytes of extensions in 13,107 items of one data
/// byte (9 bytes of protobuf for 5 on the wire). One suite and
/// null compression the server takes.
fn largest_protobuf_hello() -> ConnectRequest {
    hello_request(|h| {
        h.session_id = vec![7; 32];
        h.cipher_suites = (0..32_766).map(|i| 0x4000 + i % 0x8000).collect();
        h.cipher_suites.push(0x009c); // TLS_RSA_WITH_AES_128_GCM_SHA256
        h.compression_methods = (0..=254).rev().collect();
        h.extensions = Some(proto::pb::Extensions {
            items: (0..13_107u32)
                .map(|i| Extension {
                    r#type: 0x4000 + i,
                    data: vec![1],
                })
                .collect(),
        });
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_client_hello_fits_the_default_grpc_message_size() {
    use tonic_prost::prost::Message as _;
    let req = largest_protobuf_hello();
    // As the engine reads it: the largest size RFC 5246 allows.
    let Ok(handshake::Message::Handshake(h)) = proto::convert::from_request(req.clone()) else {
        panic!("the hello converts");
    };
    use handshake::msgs::codec::Codec as _;
    assert_eq!(
        h.get_encoding().unwrap().len(),
        4 + handshake::MAX_CLIENT_HELLO_LEN
    );
    let size = req.encoded_len();
    assert!(size > 200_000, "{size} bytes of protobuf");
    assert!(
        size <= server_svc::cli::DEFAULT_MAX_MESSAGE_SIZE,
        "{size} bytes of protobuf"
    );

    // And server-svc, with its default limits, answers it with a ServerHello.
    let server = Server::start().await;
    let (tx, mut inbound) = open(&server).await;
    tx.send(req).await.expect("send");
    let first = timeout(PATIENCE, inbound.message())
        .await
        .expect("an answer in time")
        .expect("no error status")
        .expect("a response");
    assert!(
        matches!(
            first.message,
            Some(proto::pb::connect_response::Message::ServerHello(_))
        ),
        "{first:?}"
    );
}

/// The engine client offering `suite` among 32,000 unknown suites and
/// 32,000 copies of `scheme`: a ClientHello of about 128 KiB.
fn long_lists_config(suite: CipherSuite, scheme: SignatureScheme) -> ClientConfig {
    let mut config = client_config(&[]);
    let mut suites = vec![CipherSuite(0x0a0a); 32_000];
    suites.push(suite);
    config.cipher_suites = suites;
    config.signature_schemes = vec![scheme; 32_000];
    config
}

fn hello_len(events: &[Event]) -> usize {
    events
        .iter()
        .find_map(|e| match e {
            Event::Step(s) => match &s.detail {
                StepDetail::ClientHello(h) => Some(h.message.len()),
                _ => None,
            },
            _ => None,
        })
        .expect("a ClientHello event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_over_64_kib_completes_over_grpc() {
    let server = Server::start().await;
    let mut client = new_client(long_lists_config(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        SignatureScheme::ECDSA_NISTP256_SHA256,
    ));
    let (tx, mut inbound) = open(&server).await;
    let mut events = Vec::new();
    let mut reply = None;
    let mut sent = false;
    while reply.is_none() {
        while let Some(m) = client.poll_transmit() {
            tx.send(to_request(m).expect("to_request"))
                .await
                .expect("send");
        }
        while let Some(e) = client.poll_event() {
            if let Event::ApplicationData(d) = &e {
                reply = Some(d.clone());
            }
            events.push(e);
        }
        assert!(client.failure().is_none(), "{:?}", client.failure());
        if client.is_handshake_complete() && !sent {
            client.send_application_data(b"big hello").expect("data");
            sent = true;
            continue;
        }
        if reply.is_some() {
            break;
        }
        let r = timeout(PATIENCE, inbound.message())
            .await
            .expect("an answer in time")
            .expect("no error status")
            .expect("the stream goes on");
        client.handle(from_response(r).expect("from_response"));
    }
    assert_eq!(reply.as_deref(), Some(&b"echo: big hello"[..]));
    let len = hello_len(&events);
    assert!(len > 120_000, "{len} bytes");
    assert_short_lines(&server.log_until("step 13").await);
}

// ---------------------------------------------------------------------------
// TCP (--tls-listen)
// ---------------------------------------------------------------------------

/// The engine client over TCP: handshake, a GET, the page. Returns the
/// client's events and the page.
async fn engine_get(addr: SocketAddr, config: ClientConfig) -> (Vec<Event>, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut client: Connection = new_client(config);
    let mut deframer = Deframer::new();
    let mut events = Vec::new();
    let mut page = Vec::new();
    let mut requested = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut out = Vec::new();
        while let Some(m) = client.poll_transmit() {
            encode_records(&m, &mut out).expect("encode");
        }
        stream.write_all(&out).await.expect("write");
        let mut closed = false;
        while let Some(e) = client.poll_event() {
            match &e {
                Event::ApplicationData(d) => page.extend_from_slice(d),
                Event::PeerClosed => closed = true,
                Event::Failed { step, error } => panic!("step {step}: {error}"),
                _ => {}
            }
            events.push(e);
        }
        if closed {
            return (events, String::from_utf8_lossy(&page).into_owned());
        }
        if client.is_handshake_complete() && !requested {
            requested = true;
            client
                .send_application_data(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("request");
            continue;
        }
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed without close_notify");
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().expect("deframe") {
            client.handle(m);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_over_64_kib_completes_over_tcp() {
    let server = Server::start().await;
    let (events, page) = engine_get(
        server.tls,
        long_lists_config(
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            SignatureScheme::RSA_PSS_RSAE_SHA256,
        ),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        "{page}"
    );
    let len = hello_len(&events);
    assert!(len > 120_000, "{len} bytes");
    assert_short_lines(&server.log_until("request answered").await);
}

/// Writes `bytes` and reads until the server has sent at least `want`
/// bytes or closed.
async fn exchange(addr: SocketAddr, bytes: &[u8], want: usize) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(bytes).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the server answers in time")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// supported_groups x25519, secp256r1; ec_point_formats `formats`;
/// signature_algorithms rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256.
fn tls12_extensions(formats: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut points = vec![u8::try_from(formats.len()).unwrap()];
    points.extend_from_slice(formats);
    vec![
        (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]),
        (0x000b, points),
        (0x000d, vec![0, 4, 0x08, 0x04, 0x04, 0x03]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_of_16370_extensions_is_answered_over_tcp() {
    let server = Server::start().await;
    let mut exts = tls12_extensions(&[0]);
    exts.extend((0..16_370u16).map(|i| (0x1000 + i, Vec::new())));
    let hello = raw_client_hello(&[0xc02f], &exts);
    assert!(hello.len() > 65_536 + 5 * 4, "{} bytes", hello.len());
    let answer = exchange(server.tls, &hello, 6).await;
    // A handshake record whose first message is a ServerHello (type 2).
    assert!(
        answer.len() >= 6 && answer[0] == 22 && answer[5] == 2,
        "{:02x?}",
        &answer[..answer.len().min(16)]
    );
    let lines = server.log_until("step 2").await;
    assert!(
        lines.iter().any(|l| l.contains("and 16357 more")),
        "a step 1 line quoting 16 extensions: {lines:?}"
    );
    assert_short_lines(&lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_point_formats_without_uncompressed_is_illegal_parameter_over_tcp() {
    let server = Server::start().await;
    for formats in [&[1u8][..], &[1, 2]] {
        let hello = raw_client_hello(&[0xc02f, 0x009c], &tls12_extensions(formats));
        let answer = exchange(server.tls, &hello, 7).await;
        // One fatal alert: illegal_parameter (47).
        assert_eq!(
            answer,
            [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 47],
            "{formats:?}"
        );
    }
    // The control: with uncompressed listed, a ServerHello.
    let answer = exchange(
        server.tls,
        &raw_client_hello(&[0xc02f], &tls12_extensions(&[1, 0])),
        6,
    )
    .await;
    assert!(answer.len() >= 6 && answer[5] == 2, "{answer:02x?}");
}

/// `openssl s_client` for TLS 1.2 with `cipher` and `sigalgs`, sending a
/// GET: its exit status and output.
async fn s_client(addr: SocketAddr, cipher: &str, sigalgs: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-tls1_2",
            "-ign_eof",
            "-servername",
            "localhost",
        ])
        .args(["-connect", &addr.to_string()])
        .args(["-cipher", cipher, "-sigalgs", sigalgs])
        .arg("-CAfile")
        .arg(lab().pki.ca_cert())
        .args(["-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs (scripts/tools.sh openssl installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write to openssl");
    drop(stdin);
    let out = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("openssl ends in time")
        .expect("openssl's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecdsa_certificate_signs_with_the_hash_openssl_offers() {
    let server = Server::start().await;
    for (sigalgs, digest) in [
        ("ECDSA+SHA384", "SHA384"),
        ("ECDSA+SHA512", "SHA512"),
        ("ECDSA+SHA256", "SHA256"),
    ] {
        let (ok, text) = s_client(server.tls, "ECDHE-ECDSA-AES128-GCM-SHA256", sigalgs).await;
        assert!(ok, "{sigalgs}: {text}");
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{sigalgs}: {text}"
        );
        assert!(
            text.contains(&format!("Peer signing digest: {digest}")),
            "{sigalgs}: {text}"
        );
        assert!(
            text.contains("Peer signature type: ECDSA"),
            "{sigalgs}: {text}"
        );
        assert!(
            text.contains("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "{sigalgs}: the page: {text}"
        );
    }
    // SHA-1 alone is refused (RFC 9155): insufficient_security.
    // (OpenSSL itself offers SHA-1 signatures only at security level 0.)
    let (ok, text) = s_client(
        server.tls,
        "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0",
        "ECDSA+SHA1",
    )
    .await;
    assert!(!ok, "{text}");
    assert!(text.contains("alert insufficient security"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_client_offering_only_sha384_gets_an_ecdsa_sha384_signature() {
    let server = Server::start().await;
    let mut config = client_config(&[CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]);
    config.signature_schemes = vec![SignatureScheme::ECDSA_NISTP384_SHA384];
    let (events, page) = engine_get(server.tls, config).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    let scheme = events.iter().find_map(|e| match e {
        Event::Step(s) => match &s.detail {
            StepDetail::ServerHelloDone {
                key_exchange: Some(kx),
                ..
            } => Some(kx.scheme),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(scheme, Some(SignatureScheme::ECDSA_NISTP384_SHA384));
    let lines = server
        .log_until("signature_scheme=ecdsa_secp384r1_sha384")
        .await;
    assert_short_lines(&lines);
}
