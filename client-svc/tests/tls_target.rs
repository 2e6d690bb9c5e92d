//! `tls://host:port` targets: client-svc speaking real TLS 1.2 over TCP to
//! `openssl s_server -tls1_2 -www`, an implementation that shares nothing
//! with the engine. For every suite: the thirteen steps, s_server's page as
//! the reply, and the client's key log line equal to the one s_server
//! writes with `-keylogfile`. Also through the gRPC service and the CLI,
//! and against a server whose certificate comes from another CA.
//!
//! Needs `openssl` on PATH (scripts/tools.sh installs it). Every wait is
//! bounded; nothing here asserts a duration.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use client_svc::report::ReportBuilder;
use client_svc::service::Settings;
use client_svc::session::{self, Outcome, SessionError, SessionSpec, Target};
use common::{STEP_NAMES, temp_dir};
use handshake::ALL_SUITES;
use handshake::{
    AlertDescription, CertifiedKey, CipherSuite, ClientConfig, Connection, Message,
    ServerCertVerifier, ServerConfig, Step,
};
use proto::pb;
use rustls_pki_types::ServerName;
use service_runtime::keylog::KeyLog;
use test_pki::{Ca, Leaf};

const BIN: &str = env!("CARGO_BIN_EXE_client-svc");

/// What an HTTPS client sends: s_server -www answers it with its page.
const GET: &str = "GET / HTTP/1.0\r\n\r\n";

/// Bounded waits.
const STARTUP: Duration = Duration::from_secs(15);
const FILE_WAIT: Duration = Duration::from_secs(5);
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// A lab PKI as PEM files, the way OpenSSL wants them: `ca.pem`, and
/// `rsa.pem`/`rsa.key` and `ecdsa.pem`/`ecdsa.key` (PKCS#8) for
/// "localhost" and 127.0.0.1.
struct Pki {
    dir: PathBuf,
    ca: Ca,
    leaves: [Leaf; 2],
}

impl Pki {
    fn new(ca_name: &str) -> Self {
        let dir = temp_dir();
        let ca = Ca::new(ca_name);
        std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
        let leaves = ca.localhost_leaves();
        for (name, leaf) in ["rsa", "ecdsa"].iter().zip(&leaves) {
            std::fs::write(dir.join(format!("{name}.pem")), &leaf.cert_pem).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), &leaf.key_pem).unwrap();
        }
        Self { dir, ca, leaves }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn verifier(&self) -> ServerCertVerifier {
        ServerCertVerifier::new(std::slice::from_ref(&self.ca.cert)).unwrap()
    }

    fn server_config(&self) -> ServerConfig {
        let keys = self
            .leaves
            .iter()
            .map(|l| CertifiedKey::new(l.chain.clone(), &l.key_pkcs8).unwrap())
            .collect();
        ServerConfig::new(keys).unwrap()
    }
}

/// The PKI client-svc trusts; made once per test binary (RSA keys are slow).
fn lab() -> &'static Pki {
    static LAB: OnceLock<Pki> = OnceLock::new();
    LAB.get_or_init(|| Pki::new("client-svc tls test CA"))
}

/// `openssl s_server -tls1_2 -www` on a free loopback port, with both
/// certificates of a [`Pki`] and a key log; killed on drop.
struct SServer {
    child: Child,
    /// Held open: s_server must not see the end of its input.
    _stdin: ChildStdin,
    port: u16,
    keylog: PathBuf,
    /// Its stdout and stderr, as they come.
    output: Arc<Mutex<String>>,
}

impl SServer {
    fn start(pki: &Pki) -> Self {
        // A port found free may be taken before s_server binds it: retry.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(pki) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
        }
        panic!("openssl s_server did not start: {last}");
    }

    fn try_start(pki: &Pki) -> Result<Self, String> {
        let port = free_port();
        let keylog = pki.path(&format!("s_server-keys-{port}.log"));
        let mut child = Command::new("openssl")
            .arg("s_server")
            .arg("-tls1_2")
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(pki.path("rsa.pem"))
            .arg("-key")
            .arg(pki.path("rsa.key"))
            .arg("-dcert")
            .arg(pki.path("ecdsa.pem"))
            .arg("-dkey")
            .arg(pki.path("ecdsa.key"))
            .arg("-www")
            .arg("-keylogfile")
            .arg(&keylog)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run openssl ({e}); install it (scripts/tools.sh does)"))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready) = mpsc::channel();
        // Both pipes are read until s_server exits, so it never blocks on
        // a full pipe; "ACCEPT" on stdout says it listens.
        let stdout = child.stdout.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ACCEPT" {
                    let _ = ready_tx.send(());
                }
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut server = Self {
            child,
            _stdin: stdin,
            port,
            keylog,
            output,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            if ready.recv_timeout(Duration::from_millis(100)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}: {}", server.output()));
            }
            if Instant::now() > deadline {
                return Err(format!("no ACCEPT within {STARTUP:?}: {}", server.output()));
            }
        }
    }

    fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The line s_server's key log has for `client_random` (hex).
    fn key_log_line(&self, client_random: &str) -> String {
        line_for(&self.keylog, client_random)
            .unwrap_or_else(|| panic!("s_server logged no key for client random {client_random}"))
    }

    /// Waits, bounded, for `text` in s_server's output.
    fn wait_for_output(&self, text: &str) -> bool {
        let deadline = Instant::now() + FILE_WAIT;
        while Instant::now() < deadline {
            if self.output().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits, bounded, for the `CLIENT_RANDOM <client_random> ...` line of a
/// key log file.
fn line_for(path: &Path, client_random: &str) -> Option<String> {
    // Hex in either case, as key log readers accept.
    let prefix = format!("client_random {} ", client_random.to_ascii_lowercase());
    let deadline = Instant::now() + FILE_WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(line) = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        {
            return Some(line.to_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// OpenSSL's name for a suite, as s_server's page shows it.
fn openssl_name(suite: CipherSuite) -> &'static str {
    match suite.0 {
        0x009c => "AES128-GCM-SHA256",
        0x009d => "AES256-GCM-SHA384",
        0xc02f => "ECDHE-RSA-AES128-GCM-SHA256",
        0xc030 => "ECDHE-RSA-AES256-GCM-SHA384",
        0xcca8 => "ECDHE-RSA-CHACHA20-POLY1305",
        0xc02b => "ECDHE-ECDSA-AES128-GCM-SHA256",
        0xc02c => "ECDHE-ECDSA-AES256-GCM-SHA384",
        0xcca9 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        other => panic!("no OpenSSL name for suite {other:#06x}"),
    }
}

/// A session spec for `server`, trusting `lab()`'s CA, offering `suites`.
fn spec(server: &str, suites: &[CipherSuite], key_log: Option<Arc<KeyLog>>) -> SessionSpec {
    let mut config = ClientConfig::new(lab().verifier());
    config.cipher_suites = suites.to_vec();
    SessionSpec {
        server: server.to_owned(),
        config,
        server_name: ServerName::try_from("localhost").unwrap(),
        message: GET.as_bytes().to_vec(),
        capture_secrets: true,
        key_log,
        timeout: SESSION_TIMEOUT,
        metrics: service_runtime::metrics::Metrics::disabled(),
    }
}

/// Runs one session as the library's callers do; returns it and its report.
async fn run(spec: &SessionSpec) -> (Outcome, pb::HandshakeReport) {
    let target = Target::parse(&spec.server).unwrap();
    assert!(target.is_tls(), "{} is a tls:// target", spec.server);
    let mut builder = ReportBuilder::new();
    let outcome = session::run(target, spec, |progress, elapsed| {
        builder.observe(progress, elapsed);
    })
    .await;
    let report = builder.finish(spec.message(), &outcome);
    (outcome, report)
}

fn field<'a>(step: &'a pb::HandshakeStep, name: &str) -> &'a str {
    step.fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("step {} has no field {name}", step.number))
}

fn assert_thirteen_steps(report: &pb::HandshakeReport) {
    let got: Vec<_> = report
        .steps
        .iter()
        .map(|s| (s.number, s.name.as_str(), s.failure.is_some()))
        .collect();
    let want: Vec<_> = (1..=13u32)
        .zip(STEP_NAMES)
        .map(|(n, s)| (n, s, false))
        .collect();
    assert_eq!(got, want);
}

/// What s_server -www answers, for the suite it negotiated.
fn assert_s_server_page(reply: &str, suite: CipherSuite) {
    assert!(reply.starts_with("HTTP/1.0 200 ok"), "{reply}");
    assert!(
        reply.contains("Ciphers supported in s_server binary"),
        "{reply}"
    );
    assert!(reply.contains("Protocol  : TLSv1.2"), "{reply}");
    let cipher = format!("Cipher    : {}", openssl_name(suite));
    assert!(reply.contains(&cipher), "{cipher} missing:\n{reply}");
}

/// The client random of a report, hex, from step 1.
fn client_random(report: &pb::HandshakeReport) -> String {
    field(&report.steps[0], "client_random").to_owned()
}

#[tokio::test]
async fn every_suite_against_openssl_s_server() {
    let server = SServer::start(lab());
    let keys = temp_dir().join("client-keys.log");
    let key_log = Arc::new(KeyLog::open(&keys).unwrap());
    for suite in ALL_SUITES {
        let suite = suite.suite;
        let spec = spec(&server.url(), &[suite], Some(key_log.clone()));
        let (outcome, report) = run(&spec).await;
        if let Err(e) = &outcome.result {
            panic!("{suite:?}: {e}\ns_server:\n{}", server.output());
        }
        assert!(report.success, "{suite:?}");
        assert_thirteen_steps(&report);
        let negotiated = report.negotiated.as_ref().expect("negotiated");
        assert_eq!(negotiated.cipher_suite, i32::from(suite.0), "{suite:?}");
        assert_eq!(report.certificate_verdict, "trusted for localhost");
        assert_eq!(report.application_message, GET);
        assert_s_server_page(&report.reply, suite);

        // The same master secret on both sides: s_server's key log line
        // for this client random is the client's, byte for byte.
        let random = client_random(&report);
        let theirs = server.key_log_line(&random);
        let ours = line_for(&keys, &random).expect("client-svc logged the session's key");
        assert_eq!(ours, theirs, "{suite:?}");
        let secrets = outcome.secrets.as_ref().expect("captured");
        assert_eq!(secrets.key_log_line, theirs, "{suite:?}");
    }
    // One line per session, nothing else.
    let text = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(text.lines().count(), ALL_SUITES.len(), "{text}");
}

#[tokio::test]
async fn through_the_grpc_service() {
    let server = SServer::start(lab());
    let keys = temp_dir().join("client-keys.log");
    let mut client = common::start_client_svc_with(Settings {
        // The default target is not used: the request names its own.
        server: "http://127.0.0.1:1".to_owned(),
        server_name: "localhost".to_owned(),
        verifier: lab().verifier(),
        show_secrets: false,
        key_log: Some(Arc::new(KeyLog::open(&keys).unwrap())),
        timeout: SESSION_TIMEOUT,
        // A request may name only what the service allows.
        allow_servers: vec![server.url()],
        ..common::settings("http://127.0.0.1:1", false)
    })
    .await;
    let suite = CipherSuite(0xc02b); // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    let options = pb::SessionOptions {
        server: server.url(),
        server_name: "localhost".to_owned(),
        cipher_suites: vec![i32::from(suite.0)],
        application_message: GET.to_owned(),
        ..Default::default()
    };
    let report = client
        .handshake(pb::HandshakeRequest {
            options: Some(options.clone()),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}\ns_server:\n{}", server.output()))
        .into_inner()
        .report
        .expect("a report");
    assert!(report.success);
    assert_thirteen_steps(&report);
    assert_s_server_page(&report.reply, suite);
    assert!(
        report.secrets.is_none(),
        "no secrets in reports without the lab flag"
    );
    let random = client_random(&report);
    assert_eq!(
        line_for(&keys, &random).expect("the service logged the key"),
        server.key_log_line(&random)
    );

    // WatchHandshake: the same steps, as they happen, then the report.
    let mut stream = client
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(options),
        })
        .await
        .unwrap()
        .into_inner();
    let mut steps = Vec::new();
    let mut last = None;
    while let Some(item) = stream.message().await.unwrap() {
        match item.event {
            Some(pb::watch_handshake_response::Event::Step(s)) => steps.push(s),
            Some(pb::watch_handshake_response::Event::Report(r)) => last = Some(r),
            None => {}
        }
    }
    let report = last.expect("the report last");
    assert_eq!(steps, report.steps);
    assert_thirteen_steps(&report);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_unknown_ca_at_step_5_from_the_client() {
    let other = Pki::new("some other CA");
    let server = SServer::start(&other);
    let keys = temp_dir().join("client-keys.log");
    let key_log = Arc::new(KeyLog::open(&keys).unwrap());
    for suite in [CipherSuite(0xc02f), CipherSuite(0x009c)] {
        let spec = spec(&server.url(), &[suite], Some(key_log.clone()));
        let (outcome, report) = run(&spec).await;
        let Err(SessionError::Tls(f)) = &outcome.result else {
            panic!("{suite:?}: want a TLS failure, got {:?}", outcome.result);
        };
        assert_eq!(f.step, Step::ClientVerification, "{suite:?}: {f}");
        assert_eq!(f.error.alert(), AlertDescription::UNKNOWN_CA, "{f}");
        assert!(!f.raised_by_server(), "{f}");
        assert!(f.to_string().contains("raised by client-svc"), "{f}");

        // Steps 1 to 4 as usual, then step 5 failed: the session ended on
        // its alert, not on a timeout.
        let got: Vec<_> = report
            .steps
            .iter()
            .map(|s| (s.number, s.failure.is_some()))
            .collect();
        assert_eq!(
            got,
            [(1, false), (2, false), (3, false), (4, false), (5, true)]
        );
        let failure = report.failure.as_ref().expect("failure");
        assert_eq!(failure.step, 5);
        assert_eq!(failure.alert, pb::AlertDescription::UnknownCa as i32);
        assert!(!failure.raised_by_server);
        assert!(!report.success);
        assert!(report.reply.is_empty());
        assert!(
            report
                .certificate_verdict
                .starts_with("not trusted: unknown_ca")
        );
        assert!(outcome.secrets.is_none(), "no keys before step 5");
    }
    // s_server received the client's alert.
    assert!(
        server.wait_for_output("alert unknown ca"),
        "s_server did not report the unknown_ca alert:\n{}",
        server.output()
    );
    // No keys were derived, so nothing was logged.
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), "");
}

/// The lab faults against s_server: it refuses a corrupt Finished with
/// decrypt_error (reported at step 10, as with server-svc) and a corrupt
/// application record with bad_record_mac.
#[tokio::test]
async fn lab_faults_are_refused_by_s_server() {
    let server = SServer::start(lab());
    let suite = CipherSuite(0xc030);
    let mut corrupt_finished = spec(&server.url(), &[suite], None);
    corrupt_finished.config.faults.corrupt_finished = true;
    let mut corrupt_record = spec(&server.url(), &[suite], None);
    corrupt_record.config.faults.corrupt_application_record = true;
    for (spec, step, alert) in [
        (
            corrupt_finished,
            Step::ClientEncryptedHandshakeMessage,
            AlertDescription::DECRYPT_ERROR,
        ),
        (
            corrupt_record,
            Step::Finish,
            AlertDescription::BAD_RECORD_MAC,
        ),
    ] {
        let (outcome, report) = run(&spec).await;
        let Err(SessionError::Tls(f)) = &outcome.result else {
            panic!("want a TLS failure, got {:?}", outcome.result);
        };
        assert_eq!((f.step, f.error.alert()), (step, alert), "{f}");
        assert!(f.raised_by_server(), "{f}");
        assert!(f.to_string().contains("raised by the server"), "{f}");
        let failure = report.failure.as_ref().expect("failure");
        assert_eq!(failure.step, u32::from(step.number()));
        assert!(failure.raised_by_server);
    }
}

/// Runs the binary with a clean CLIENT_SVC_* environment.
async fn cli(args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CLIENT_SVC_") {
            cmd.env_remove(k);
        }
    }
    cmd.kill_on_drop(true);
    tokio::time::timeout(SESSION_TIMEOUT * 2, cmd.output())
        .await
        .expect("the command ends")
        .expect("the binary runs")
}

#[tokio::test]
async fn cli_handshake_with_a_tls_target_and_a_key_log() {
    let server = SServer::start(lab());
    let keys = temp_dir().join("cli-keys.log");
    let ca = lab().path("ca.pem");
    let url = server.url();
    let out = cli(&[
        "handshake",
        "--server",
        &url,
        "--ca",
        ca.to_str().unwrap(),
        "--message",
        GET,
        "--key-log",
        keys.to_str().unwrap(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\ns_server:\n{}",
        out.status,
        server.output()
    );
    assert!(stderr.is_empty(), "stderr: {stderr}");
    // One row per step, numbered 1 to 13 in order, with the step's name.
    let rows: Vec<(u32, &str)> = stdout
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once("  ")?;
            Some((n.parse().ok()?, rest))
        })
        .collect();
    assert_eq!(rows.len(), 13, "{stdout}");
    for ((i, (n, rest)), name) in rows.iter().enumerate().zip(STEP_NAMES) {
        assert_eq!(*n as usize, i + 1, "{stdout}");
        assert!(rest.starts_with(name), "{stdout}");
    }
    assert!(stdout.contains("\nOK: "), "{stdout}");
    // The outcome line shows the start of s_server's page.
    assert!(stdout.contains("reply \"HTTP/1.0 200 ok"), "{stdout}");

    // The key log holds one line, and s_server has the same one.
    let text = std::fs::read_to_string(&keys).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let random = lines[0].split(' ').nth(1).unwrap();
    assert_eq!(lines[0], server.key_log_line(random));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key log is private");
    }
}

#[tokio::test]
async fn cli_unknown_ca_unreachable_and_bad_targets() {
    let other = Pki::new("yet another CA");
    let server = SServer::start(&other);
    let ca = lab().path("ca.pem");
    let ca = ca.to_str().unwrap();

    let url = server.url();
    let out = cli(&["handshake", "--server", &url, "--ca", ca]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown_ca at step 5"), "{stderr}");
    assert!(stderr.contains("raised by client-svc"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED at step 5"), "{stdout}");

    // Nothing listens there: unreachable, exit 3, no table.
    let port = free_port();
    let url = format!("tls://127.0.0.1:{port}");
    let out = cli(&["handshake", "--server", &url, "--ca", ca]).await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(out.stdout.is_empty());

    // Not host:port: a usage error, exit 2.
    for bad in [
        "tls://127.0.0.1",
        "tls://:443",
        "tls://localhost:0",
        "tls://::1:443",
    ] {
        let out = cli(&["handshake", "--server", bad, "--ca", ca]).await;
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("tls://host:port"), "{bad}: {stderr}");
    }
}

/// How the engine's own server role, over TCP, frames its flights and ends
/// its reply.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// One record per message; close_notify after the reply.
    CloseNotify,
    /// All handshake messages of a flight in one record; then TCP EOF
    /// without close_notify.
    CoalescedThenEof,
    /// Each handshake message cut over records of at most 50 bytes; then
    /// silence, the connection left open.
    FragmentedThenQuiet,
}

/// A record: header {type, 3.3, length} then the fragment.
fn record(typ: u8, fragment: &[u8], out: &mut Vec<u8>) {
    out.push(typ);
    out.extend_from_slice(&[3, 3]);
    out.extend_from_slice(&u16::try_from(fragment.len()).unwrap().to_be_bytes());
    out.extend_from_slice(fragment);
}

/// What `conn` queued, framed the way `peer` frames it.
fn frame(conn: &mut Connection, peer: Peer) -> Vec<u8> {
    let mut out = Vec::new();
    let mut handshake = Vec::new();
    while let Some(m) = conn.poll_transmit() {
        let plain_handshake = matches!(m, Message::Handshake(_));
        match peer {
            Peer::CoalescedThenEof if plain_handshake => {
                handshake.extend_from_slice(&m.fragment().unwrap());
                continue;
            }
            Peer::FragmentedThenQuiet if plain_handshake => {
                for chunk in m.fragment().unwrap().chunks(50) {
                    record(22, chunk, &mut out);
                }
                continue;
            }
            _ => {}
        }
        if !handshake.is_empty() {
            record(22, &std::mem::take(&mut handshake), &mut out);
        }
        handshake::encode_records(&m, &mut out).unwrap();
    }
    if !handshake.is_empty() {
        record(22, &handshake, &mut out);
    }
    out
}

/// Serves one TLS connection with the engine's server role, replying
/// "echo: " + the request, ending as `peer` says. Returns its address.
async fn start_engine_server(peer: Peer) -> String {
    common::start_engine_server_with(
        lab().server_config(),
        move |conn| match peer {
            Peer::CloseNotify => {
                conn.close().unwrap();
                false
            }
            Peer::CoalescedThenEof => true,
            Peer::FragmentedThenQuiet => false,
        },
        move |conn| frame(conn, peer),
    )
    .await
}

/// Against the engine's own server role over TCP: the client's deframer
/// joins coalesced and fragmented flights, and the reply ends with
/// close_notify, with TCP EOF, or with a quiet period.
#[tokio::test]
async fn reply_endings_and_record_framing_against_the_engines_server() {
    for peer in [
        Peer::CloseNotify,
        Peer::CoalescedThenEof,
        Peer::FragmentedThenQuiet,
    ] {
        for suite in [CipherSuite(0x009d), CipherSuite(0xcca9)] {
            let url = start_engine_server(peer).await;
            let mut spec = spec(&url, &[suite], None);
            spec.message = b"ping".to_vec();
            let (outcome, report) = run(&spec).await;
            if let Err(e) = &outcome.result {
                panic!("{peer:?} {suite:?}: {e}");
            }
            assert_thirteen_steps(&report);
            assert_eq!(report.reply, "echo: ping", "{peer:?} {suite:?}");
        }
    }
}

/// `client-svc serve` with a `tls://` default server and the key log from
/// the environment (CLIENT_SVC_SERVER, CLIENT_SVC_KEY_LOG).
#[cfg(unix)]
#[tokio::test]
async fn serve_with_a_tls_default_server_and_a_key_log_from_the_environment() {
    use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;

    let server = SServer::start(lab());
    let keys = temp_dir().join("serve-keys.log");
    let port = free_port();
    let mut cmd = tokio::process::Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CLIENT_SVC_") {
            cmd.env_remove(k);
        }
    }
    let _child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("CLIENT_SVC_SERVER", server.url())
        .env("CLIENT_SVC_CA", lab().path("ca.pem"))
        .env("CLIENT_SVC_KEY_LOG", &keys)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + STARTUP;
    let channel = loop {
        if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            break c;
        }
        assert!(Instant::now() < deadline, "client-svc serve did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let report = HandshakeClientServiceClient::new(channel)
        .handshake(pb::HandshakeRequest {
            options: Some(pb::SessionOptions {
                application_message: GET.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}\ns_server:\n{}", server.output()))
        .into_inner()
        .report
        .expect("a report");
    assert!(report.success);
    assert_thirteen_steps(&report);
    assert!(
        report.reply.starts_with("HTTP/1.0 200 ok"),
        "{}",
        report.reply
    );
    let random = client_random(&report);
    assert_eq!(
        line_for(&keys, &random).expect("client-svc serve logged the key"),
        server.key_log_line(&random)
    );
}
