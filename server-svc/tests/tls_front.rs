//! The real TLS front (`--tls-listen`) against independent TLS stacks and
//! bad input: curl and `openssl s_client` complete a handshake for every
//! suite and get the page naming it; OpenSSL's key log equals server-svc's;
//! malformed or hostile input gets the right alert (or a close) while good
//! clients go on; every connection is freed. Behaviour tests: the only
//! time limits are generous waits ([`PATIENCE`]) and the server's own
//! timeouts.
//!
//! Needs `curl` and `openssl` on the PATH (`scripts/tools.sh` installs
//! them from Debian's packages).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::front::{Front, raw_client_hello, read_all, send_raw};
use common::{PATIENCE, TempDir, client_config, get_over_tcp, lab, new_client};
use handshake::{AlertDescription, CipherSuite, Event};
use handshake::{Deframer, encode_records};
use service_runtime::keylog::KeyLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::{sleep, timeout};

/// Every suite with its OpenSSL name.
const SUITES: [(CipherSuite, &str); 8] = [
    (
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        "AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        "AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
];

/// What the page says for `suite`.
fn names(suite: CipherSuite) -> String {
    format!("<p>TLS 1.2 with {suite}</p>")
}

/// Runs a command to its end, within [`PATIENCE`].
async fn run(cmd: &mut Command) -> Output {
    cmd.kill_on_drop(true);
    timeout(PATIENCE, cmd.output())
        .await
        .expect("the command ends in time")
        .expect("the command runs (are curl and openssl installed?)")
}

async fn curl(port: u16, ca: &Path, cipher: &str) -> Output {
    run(Command::new("curl")
        .args(["-sS", "--tlsv1.2", "--tls-max", "1.2", "--ciphers", cipher])
        .arg("--cacert")
        .arg(ca)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/"))
        .stdin(Stdio::null()))
    .await
}

/// `openssl s_client` sending a GET; with `-ign_eof` it waits for the page
/// and the server's close.
async fn s_client(port: u16, ca: &Path, cipher: &str, key_log: Option<&Path>) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-tls1_2", "-cipher", cipher, "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-ign_eof",
        ])
        .arg("-CAfile")
        .arg(ca);
    if let Some(path) = key_log {
        cmd.arg("-keylogfile").arg(path);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("openssl runs (is it installed?)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("write the request to openssl");
    drop(stdin);
    timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("openssl ends in time")
        .expect("openssl's output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_completes_every_suite_and_gets_the_page() {
    let front = Front::start(Duration::from_secs(10), None).await;
    let ca = lab().pki.ca_cert();
    for (suite, cipher) in SUITES {
        let out = curl(front.addr.port(), &ca, cipher).await;
        let page = text(&out.stdout);
        assert!(
            out.status.success(),
            "{suite}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert!(page.contains(&names(suite)), "{suite}: {page}");
        assert!(page.contains("Finish (computed)"), "{suite}: {page}");
    }
    front.wait_no_connections().await;
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_verifies_and_completes_every_suite() {
    let front = Front::start(Duration::from_secs(10), None).await;
    let ca = lab().pki.ca_cert();
    for (suite, cipher) in SUITES {
        let out = s_client(front.addr.port(), &ca, cipher, None).await;
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{suite}: {:?} {stdout} {}",
            out.status,
            text(&out.stderr)
        );
        assert!(
            stdout.contains("Verify return code: 0 (ok)"),
            "{suite}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("TLSv1.2, Cipher is {cipher}")),
            "{suite}: {stdout}"
        );
        assert!(stdout.contains("HTTP/1.1 200 OK"), "{suite}: {stdout}");
        assert!(stdout.contains(&names(suite)), "{suite}: {stdout}");
    }
    front.wait_no_connections().await;
    front.stop().await;
}

/// The `CLIENT_RANDOM` lines of an NSS key log, lower case.
fn client_random_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| l.starts_with("CLIENT_RANDOM "))
        .map(str::to_ascii_lowercase)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_log_equals_openssls() {
    let tmp = TempDir::new("tls-key-log");
    let server_log = tmp.path().join("server-svc.keys");
    let key_log = Arc::new(KeyLog::open(&server_log).expect("open the key log"));
    let front = Front::start(Duration::from_secs(10), Some(key_log)).await;
    let ca = lab().pki.ca_cert();
    let mut openssl_lines = Vec::new();
    // Both PRF hashes, both key exchanges, both certificates.
    for (i, cipher) in [
        "AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ]
    .into_iter()
    .enumerate()
    {
        let path = tmp.path().join(format!("openssl-{i}.keys"));
        let out = s_client(front.addr.port(), &ca, cipher, Some(&path)).await;
        assert!(out.status.success(), "{cipher}: {}", text(&out.stderr));
        let lines = client_random_lines(&path);
        assert_eq!(lines.len(), 1, "{cipher}: {lines:?}");
        openssl_lines.extend(lines);
    }
    front.wait_no_connections().await;
    front.stop().await;
    // Same client randoms, same master secrets, one line per session.
    assert_eq!(client_random_lines(&server_log), openssl_lines);
}

/// A TLS 1.2 client (the engine's own) over TCP: sends its records in
/// pieces of `piece` bytes and the request in two records, and returns all
/// it received as application data, or why it failed.
async fn engine_get(addr: SocketAddr, suite: CipherSuite, piece: usize) -> Result<String, String> {
    get_over_tcp(
        addr,
        new_client(client_config(&[suite])),
        &[b"GET / HT", b"TP/1.1\r\nHost: localhost\r\n\r\n"],
        piece,
        |client| std::iter::from_fn(|| client.poll_transmit()).collect(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_client_gets_the_page_even_in_small_pieces() {
    let front = Front::start(Duration::from_secs(10), None).await;
    for (i, (suite, _)) in SUITES.into_iter().enumerate() {
        let piece = [3, 7, 1 << 16][i % 3];
        let page = engine_get(front.addr, suite, piece)
            .await
            .unwrap_or_else(|e| panic!("{suite}: {e}"));
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{suite}: {page}");
        assert!(page.contains("Connection: close\r\n"), "{suite}: {page}");
        assert!(page.contains(&names(suite)), "{suite}: {page}");
    }
    front.wait_no_connections().await;
    front.stop().await;
}

/// A plaintext record.
fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![typ, 0x03, 0x01];
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// supported_groups x25519, secp256r1; ec_point_formats uncompressed;
/// signature_algorithms rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256.
fn tls12_extensions() -> Vec<(u16, Vec<u8>)> {
    vec![
        (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]),
        (0x000b, vec![1, 0]),
        (0x000d, vec![0, 4, 0x08, 0x04, 0x04, 0x03]),
    ]
}

/// TLS 1.3 only: supported_versions [TLS 1.3], TLS_AES_128_GCM_SHA256,
/// an x25519 key share.
fn tls13_only_client_hello() -> Vec<u8> {
    let mut key_share = vec![0, 36, 0, 0x1d, 0, 32];
    key_share.extend_from_slice(&[9; 32]);
    raw_client_hello(
        &[0x1301],
        &[
            (0x002b, vec![2, 0x03, 0x04]),
            (0x000a, vec![0, 2, 0, 0x1d]),
            (0x000d, vec![0, 2, 0x08, 0x04]),
            (0x0033, key_share),
        ],
    )
}

/// The alert in the server's answer: exactly one plaintext fatal alert
/// record (15 03 03 00 02 02 desc), or None for a bare close.
fn alert(answer: &[u8]) -> Option<AlertDescription> {
    match answer {
        [] => None,
        [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, desc] => Some(AlertDescription(*desc)),
        other => panic!("expected one fatal alert record or a close, got {other:02x?}"),
    }
}

fn assert_alert(case: &str, answer: &[u8], allowed: &[AlertDescription], close_ok: bool) {
    match alert(answer) {
        Some(a) => assert!(
            allowed.contains(&a),
            "{case}: alert {a}, expected {allowed:?}"
        ),
        None => assert!(close_ok, "{case}: closed without an alert"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_alert_while_good_clients_succeed() {
    let front = Front::start(Duration::from_secs(10), None).await;
    let addr = front.addr;
    let ca = lab().pki.ca_cert();

    // Bad connections opened first and kept open while the good clients run.
    let mut truncated = TcpStream::connect(addr).await.expect("connect");
    truncated
        .write_all(&raw_client_hello(&[0xc02f], &tls12_extensions())[..40])
        .await
        .expect("write");
    let mut half_header = TcpStream::connect(addr).await.expect("connect");
    half_header.write_all(&[0x16, 0x03]).await.expect("write");

    let bad = async {
        let mut garbage = b"this is not TLS at all\r\n\r\n".to_vec();
        garbage.extend_from_slice(&[0xff; 300]);
        assert_alert(
            "garbage",
            &send_raw(addr, &garbage, false).await,
            &[
                AlertDescription::UNEXPECTED_MESSAGE,
                AlertDescription::DECODE_ERROR,
            ],
            false,
        );
        // A header claiming 2^14 + 2049 bytes, and some of them.
        let mut big = vec![0x16, 0x03, 0x03, 0x48, 0x01];
        big.extend_from_slice(&[0; 1000]);
        assert_alert(
            "oversized record",
            &send_raw(addr, &big, false).await,
            &[AlertDescription::RECORD_OVERFLOW],
            false,
        );
        // SSLv2-compatible ClientHello (RFC 5246 E.2).
        // 2-byte header (length 0x2e = 46), msg_type 1, version 3.1,
        // cipher_spec_length 21, session_id_length 0, challenge_length 16.
        let mut v2 = vec![
            0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
        ];
        for spec in [
            [0x00, 0x00, 0x35],
            [0x00, 0x00, 0x2f],
            [0x00, 0x00, 0x0a],
            [0x07, 0x00, 0xc0],
            [0x03, 0x00, 0x80],
            [0x01, 0x00, 0x80],
            [0x00, 0x00, 0xff],
        ] {
            v2.extend_from_slice(&spec);
        }
        v2.extend_from_slice(&[0x11; 16]);
        assert_eq!(v2.len(), 2 + 0x2e);
        assert_alert(
            "SSLv2 ClientHello",
            &send_raw(addr, &v2, false).await,
            &[AlertDescription::HANDSHAKE_FAILURE],
            false,
        );
        assert_alert(
            "TLS 1.3-only ClientHello",
            &send_raw(addr, &tls13_only_client_hello(), false).await,
            &[
                AlertDescription::PROTOCOL_VERSION,
                AlertDescription::HANDSHAKE_FAILURE,
            ],
            false,
        );
        // TLS_RSA_WITH_AES_128_CBC_SHA and _256_: not implemented here.
        assert_alert(
            "no common suite",
            &send_raw(
                addr,
                &raw_client_hello(&[0x002f, 0x0035], &tls12_extensions()),
                false,
            )
            .await,
            &[AlertDescription::HANDSHAKE_FAILURE],
            false,
        );
        // Plaintext application data before the handshake.
        assert_alert(
            "application data first",
            &send_raw(addr, &record(23, b"GET / HTTP/1.1\r\n\r\n"), false).await,
            &[AlertDescription::UNEXPECTED_MESSAGE],
            false,
        );
        // A client that refuses the certificate: curl trusts only the
        // RSA leaf as its CA, fails verification and sends its own alert.
        let out = run(Command::new("curl")
            .args(["-sS", "--tlsv1.2", "--tls-max", "1.2"])
            .args(["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "--cacert"])
            .arg(lab().pki.dir().join(server_svc::pki::RSA_CERT))
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", addr.port()))
            .arg(format!("https://localhost:{}/", addr.port()))
            .stdin(Stdio::null()))
        .await;
        assert_eq!(out.status.code(), Some(60), "{}", text(&out.stderr));
    };

    let good = async {
        let mut tasks = tokio::task::JoinSet::new();
        for (suite, cipher) in [SUITES[0], SUITES[3], SUITES[5], SUITES[7]] {
            let ca = ca.clone();
            tasks.spawn(async move {
                let out = curl(addr.port(), &ca, cipher).await;
                assert!(out.status.success(), "{suite}: {}", text(&out.stderr));
                assert!(text(&out.stdout).contains(&names(suite)), "{suite}");
            });
        }
        for (suite, _) in [SUITES[2], SUITES[6]] {
            tasks.spawn(async move {
                let page = engine_get(addr, suite, 5)
                    .await
                    .unwrap_or_else(|e| panic!("{suite}: {e}"));
                assert!(page.contains(&names(suite)), "{suite}: {page}");
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a good client");
        }
    };
    tokio::join!(bad, good);

    // The held connections end now: a truncated record, then EOF.
    for (case, mut stream) in [
        ("truncated record", truncated),
        ("half a header", half_header),
    ] {
        stream.shutdown().await.expect("half-close");
        assert_alert(
            case,
            &read_all(&mut stream).await,
            &[AlertDescription::DECODE_ERROR],
            false,
        );
    }
    front.wait_no_connections().await;
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_cut_at_the_handshake_deadline_and_others_go_on() {
    let front = Front::start(Duration::from_secs(1), None).await;
    let addr = front.addr;
    let slow = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut rx, mut tx) = stream.into_split();
        let hello = raw_client_hello(&[0xc02f], &tls12_extensions());
        // One byte every 200 ms: the whole ClientHello would take ~20 s.
        let writer = tokio::spawn(async move {
            for b in hello {
                if tx.write_all(&[b]).await.is_err() {
                    break;
                }
                sleep(Duration::from_millis(200)).await;
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match timeout(PATIENCE, rx.read(&mut buf))
                .await
                .expect("the slow client is cut in time")
            {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        writer.abort();
        got
    });
    // Meanwhile, good clients are served.
    for (suite, _) in [SUITES[1], SUITES[4]] {
        let page = engine_get(addr, suite, 1 << 16)
            .await
            .unwrap_or_else(|e| panic!("{suite}: {e}"));
        assert!(page.contains(&names(suite)), "{suite}: {page}");
    }
    let answer = slow.await.expect("the slow client's task");
    assert_alert(
        "slow client",
        &answer,
        &[AlertDescription::USER_CANCELED],
        true,
    );
    front.wait_no_connections().await;
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn an_idle_connection_after_the_handshake_is_closed() {
    let front = Front::start(Duration::from_secs(1), None).await;
    let mut stream = TcpStream::connect(front.addr).await.expect("connect");
    let mut client = new_client(client_config(&[
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ]));
    let mut deframer = Deframer::new();
    let mut buf = vec![0u8; 32 * 1024];
    // The handshake, then nothing: the server gives up after its timeout.
    let mut failure = None;
    loop {
        let mut out = Vec::new();
        while let Some(m) = client.poll_transmit() {
            encode_records(&m, &mut out).unwrap();
        }
        stream.write_all(&out).await.expect("write");
        while let Some(event) = client.poll_event() {
            if let Event::Failed { error, .. } = event {
                failure = Some(error);
            }
        }
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the server closes in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().expect("the server's records deframe") {
            client.handle(m);
        }
    }
    assert!(client.is_handshake_complete());
    // The alert was encrypted; the client read it.
    let failure = failure.expect("an alert from the server");
    assert_eq!(failure.alert(), AlertDescription::USER_CANCELED);
    front.wait_no_connections().await;
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn shutdown_stops_accepting_and_lets_connections_in_flight_finish() {
    let mut front = Front::start(Duration::from_secs(10), None).await;
    let addr = front.addr;
    // A connection in flight: its ClientHello is in, its handshake not done.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut client = new_client(client_config(&[
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    ]));
    let mut out = Vec::new();
    while let Some(m) = client.poll_transmit() {
        encode_records(&m, &mut out).unwrap();
    }
    stream.write_all(&out).await.expect("write");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while front.live.get() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never accepted");
        sleep(Duration::from_millis(10)).await;
    }

    front.signal_stop();
    // New connections are refused once the listener is gone.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after shutdown"
        );
        sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !front.task.is_finished(),
        "the front waits for its connection"
    );

    // The one in flight still completes and gets its page.
    let mut deframer = Deframer::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut received = Vec::new();
    let mut requested = false;
    loop {
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        if n == 0 {
            break;
        }
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().expect("deframe") {
            client.handle(m);
            assert_eq!(client.failure(), None, "the client accepts it");
        }
        if client.is_handshake_complete() && !requested {
            requested = true;
            client
                .send_application_data(b"GET / HTTP/1.1\r\n\r\n")
                .unwrap();
        }
        let mut out = Vec::new();
        while let Some(m) = client.poll_transmit() {
            encode_records(&m, &mut out).unwrap();
        }
        stream.write_all(&out).await.expect("write");
        while let Some(event) = client.poll_event() {
            if let Event::ApplicationData(d) = event {
                received.extend(d);
            }
        }
    }
    let page = text(&received);
    assert!(
        page.contains(&names(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256)),
        "{page}"
    );
    front.wait_no_connections().await;
    front.stop().await;
}

/// The binary: `--tls-listen` and `--key-log` from the command line, the
/// warning about secrets, a session from curl, its key log line, and a
/// clean exit on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_tls_writes_the_key_log_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};

    let tmp = TempDir::new("tls-bin");
    let pki_dir = tmp.path().join("pki");
    let key_log = tmp.path().join("keys.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server-svc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SERVER_SVC_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env_remove("RUST_LOG")
        .env("SERVER_SVC_METRICS_LISTEN", "127.0.0.1:0")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .arg("--pki-dir")
        .arg(&pki_dir)
        .arg("--key-log")
        .arg(&key_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server-svc");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Lab PKI generation (RSA) takes a while in a debug build.
    let wait = Duration::from_secs(120);
    let mut warned = false;
    let port = loop {
        let line = rx
            .recv_timeout(wait)
            .expect("server-svc logs its TLS address");
        warned |= line.contains("KEY LOG ON");
        if let Some(rest) = line.split("tls_listen=").nth(1) {
            let addr: SocketAddr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .parse()
                .expect("a socket address");
            break addr.port();
        }
    };
    assert!(warned, "a warning that the key log holds secrets");

    let out = curl(port, &pki_dir.join("ca.pem"), "ECDHE-RSA-AES128-GCM-SHA256").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&names(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)));
    let lines = client_random_lines(&key_log);
    assert_eq!(lines.len(), 1, "{lines:?}");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "server-svc stops");
        sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(!rest.iter().any(|l| l.contains("panicked")), "{rest:?}");
}
