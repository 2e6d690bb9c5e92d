//! The `client-svc handshake` command as a user runs it: against the
//! in-process server-svc stand-in of `common`, checking stdout, the one
//! error line on stderr, and the exit status.

mod common;

use std::process::Output;

use common::{STEP_NAMES, closed_port_url, lab, start_server};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_client-svc");

/// Runs the binary with a clean CLIENT_SVC_* environment.
async fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CLIENT_SVC_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().await.expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exactly one line on stderr, starting with "error: ".
fn assert_one_error_line(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].starts_with("error: "), "stderr: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"));
    lines[0].to_owned()
}

#[tokio::test]
async fn json_report_has_thirteen_steps() {
    let server = start_server(lab().server_config()).await;
    let ca = lab().ca_file();
    let out = run(&[
        "handshake",
        "--server",
        &server,
        "--ca",
        ca.to_str().unwrap(),
        "--server-name",
        "localhost",
        "--suite",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "--message",
        "hi there",
        "--json",
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "stderr: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 13);
    for (step, name) in steps.iter().zip(STEP_NAMES) {
        assert_eq!(step["name"], name);
    }
    assert_eq!(report["success"], true);
    assert_eq!(report["reply"], "echo: hi there");
    assert_eq!(
        report["negotiated"]["cipherSuite"],
        "CIPHER_SUITE_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    );
    assert!(report.get("secrets").is_none(), "no secrets by default");
}

#[tokio::test]
async fn table_with_secrets_and_the_outcome_line() {
    let server = start_server(lab().server_config()).await;
    let ca = lab().ca_file();
    let out = run(&[
        "handshake",
        "--server",
        &server,
        "--ca",
        ca.to_str().unwrap(),
        "--suite",
        "tls_rsa_with_aes_128_gcm_sha256",
        "--lab-show-secrets",
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    for name in STEP_NAMES {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.contains("OK: TLS_RSA_WITH_AES_128_GCM_SHA256"),
        "{text}"
    );
    assert!(text.contains("CLIENT_RANDOM "), "{text}");
}

#[tokio::test]
async fn tls_failure_prints_the_table_and_one_error_line() {
    let server = start_server(lab().server_config()).await;
    let ca = lab().ca_file();
    let out = run(&[
        "handshake",
        "--server",
        &server,
        "--ca",
        ca.to_str().unwrap(),
        "--lab-corrupt-finished",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let line = assert_one_error_line(&out);
    assert!(line.contains("decrypt_error"), "{line}");
    assert!(line.contains("server-svc"), "{line}");
    let text = stdout(&out);
    assert!(text.contains("FAILED at step 10"), "{text}");
}

#[tokio::test]
async fn missing_ca_file_is_one_line() {
    let out = run(&["handshake", "--ca", "/nonexistent/ca.pem"]).await;
    assert_eq!(out.status.code(), Some(2));
    let line = assert_one_error_line(&out);
    assert!(line.contains("/nonexistent/ca.pem"), "{line}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn unknown_suite_is_one_line() {
    let ca = lab().ca_file();
    let out = run(&[
        "handshake",
        "--ca",
        ca.to_str().unwrap(),
        "--suite",
        "TLS_NULL_WITH_NULL_NULL",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let line = assert_one_error_line(&out);
    assert!(line.contains("TLS_NULL_WITH_NULL_NULL"), "{line}");
    assert!(line.contains("unknown cipher suite"), "{line}");
}

#[tokio::test]
async fn unknown_flag_is_one_line() {
    let out = run(&["handshake", "--no-such-flag"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_one_error_line(&out);
}

#[tokio::test]
async fn unreachable_server_is_one_line() {
    let server = closed_port_url().await;
    let ca = lab().ca_file();
    let out = run(&[
        "handshake",
        "--server",
        &server,
        "--ca",
        ca.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    let line = assert_one_error_line(&out);
    assert!(line.contains("unreachable"), "{line}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn flags_come_from_the_environment_too() {
    let server = start_server(lab().server_config()).await;
    let ca = lab().ca_file();
    let out = Command::new(BIN)
        .arg("handshake")
        .env("CLIENT_SVC_SERVER", &server)
        .env("CLIENT_SVC_CA", &ca)
        .env(
            "CLIENT_SVC_SUITE",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_256_GCM_SHA384",
        )
        .env("CLIENT_SVC_JSON", "true")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let offered = &report["steps"][0]["fields"];
    let suites = offered
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "cipher_suites")
        .unwrap();
    assert_eq!(
        suites["value"],
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_256_GCM_SHA384"
    );
}

/// `client-svc serve`: answers Handshake and health on its port, and
/// exits cleanly on SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    use proto::pb;
    use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;
    use std::time::Duration;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let server = start_server(lab().server_config()).await;
    let ca = lab().ca_file();
    // A free port: bound, then released for the child to bind.
    let (l, addr) = common::listener().await;
    drop(l);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &addr.to_string(), "--server", &server])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .arg("--ca")
        .arg(&ca)
        .args(["--grace-period", "2"])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let url = format!("http://{addr}");
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let channel = channel.expect("client-svc serve listens");

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "handshake.v1.HandshakeClientService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");

    let report = HandshakeClientServiceClient::new(channel)
        .handshake(pb::HandshakeRequest { options: None })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(report.success);
    assert_eq!(report.steps.len(), 13);

    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// `client-svc serve --listen 127.0.0.1:0` logs the port the system picked:
/// what the scripts read back, rather than pick a free port and race for it.
#[tokio::test]
async fn serve_on_port_0_logs_the_port_it_bound() {
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let ca = lab().ca_file();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(["--server", "http://127.0.0.1:1", "--ca"])
        .arg(&ca)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("client-svc serving") {
                return line;
            }
        }
        panic!("client-svc exited without its start line");
    })
    .await
    .expect("the start line comes");
    let addr: std::net::SocketAddr = line
        .split(" listen=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listen= in {line}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0, "{line}");
    tokio::net::TcpStream::connect(addr)
        .await
        .expect("it listens there");
}
