//! `client-svc handshake` from the command line against a running server-svc.

use std::time::Duration;

use e2e::{SERVER_NAME, STEP_NAMES, binaries, ca_of, path_str, run_bounded, start_server};

const RUN_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn handshake_json_prints_the_report_with_thirteen_steps() {
    let server = start_server(&[]).await;
    let ca = ca_of(&server);
    let url = server.url();
    let args = [
        "handshake",
        "--server",
        &url,
        "--ca",
        path_str(&ca),
        "--server-name",
        SERVER_NAME,
        "--message",
        "from the cli",
        "--json",
    ];
    let out = run_bounded(&binaries().client, &args, RUN_TIMEOUT).await;
    assert!(
        out.status.success(),
        "client-svc handshake --json exited with {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", out.stdout));
    // The report itself, or a HandshakeResponse around it.
    let report = json.get("report").unwrap_or(&json);
    let steps = report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps array in {json}"));
    let got: Vec<(u64, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["number"].as_u64().unwrap_or(0),
                s["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let want: Vec<(u64, &str)> = (1..=13).zip(STEP_NAMES).collect();
    assert_eq!(got, want, "steps in the JSON report");
    assert_eq!(report["success"], serde_json::Value::Bool(true), "{json}");
    assert_eq!(report["reply"], "echo: from the cli", "{json}");
}

/// One `error:` line on stderr and a non-zero exit, never a backtrace.
fn assert_one_error_line(out: &e2e::Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what}: exit status {} (expected failure); stdout:\n{}",
        out.status,
        out.stdout
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error:"),
        "{what}: expected exactly one stderr line starting \"error:\", got:\n{}",
        out.stderr
    );
}

#[tokio::test]
async fn handshake_with_a_missing_ca_file_fails_with_one_error_line() {
    let dir = e2e::temp_dir("no-ca");
    let missing = dir.join("missing-ca.pem");
    let args = [
        "handshake",
        "--server",
        // Nothing needs to listen here: the CA is read first.
        "http://127.0.0.1:9",
        "--ca",
        path_str(&missing),
        "--server-name",
        SERVER_NAME,
    ];
    let out = run_bounded(&binaries().client, &args, RUN_TIMEOUT).await;
    assert_one_error_line(&out, "missing CA file");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn handshake_against_an_unreachable_server_fails_with_one_error_line() {
    // A server only to get a real lab CA; nothing listens on the port used.
    let server = start_server(&[]).await;
    let ca = ca_of(&server);
    let url = format!("http://127.0.0.1:{}", e2e::process::free_port());
    let args = [
        "handshake",
        "--server",
        &url,
        "--ca",
        path_str(&ca),
        "--server-name",
        SERVER_NAME,
    ];
    let out = run_bounded(&binaries().client, &args, RUN_TIMEOUT).await;
    assert_one_error_line(&out, "unreachable server");
}
