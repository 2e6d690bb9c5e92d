//! `client-svc bench load` and `client-svc bench hold` against a running
//! server-svc: a counted load run, held sessions, and how they fail (unreachable server, every session failing).

use std::time::Duration;

use e2e::{SERVER_NAME, Service, binaries, ca_of, path_str, run_bounded, start_server};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `client-svc bench MODE --server <server> --ca <its CA> ARGS`.
async fn bench(server: &Service, mode: &str, args: &[&str]) -> e2e::Output {
    bench_as(server, SERVER_NAME, mode, args).await
}

/// `bench`, checking the certificate against `server_name`.
async fn bench_as(server: &Service, server_name: &str, mode: &str, args: &[&str]) -> e2e::Output {
    let ca = ca_of(server);
    let url = server.url();
    let mut all = vec![
        "bench",
        mode,
        "--server",
        &url,
        "--ca",
        path_str(&ca),
        "--server-name",
        server_name,
    ];
    all.extend_from_slice(args);
    run_bounded(&binaries().client, &all, RUN_TIMEOUT).await
}

/// A successful run's JSON.
fn success_json(out: &e2e::Output) -> Value {
    assert!(
        out.status.success(),
        "bench exited with {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    json_of(out)
}

/// Stdout as the one JSON line it must be.
fn json_of(out: &e2e::Output) -> Value {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one JSON line on stdout, got:\n{}",
        out.stdout
    );
    serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", out.stdout))
}

fn one_error_line(out: &e2e::Output) -> &str {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error:"),
        "expected exactly one stderr line starting \"error:\", got:\n{}",
        out.stderr
    );
    lines[0]
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): a load through real processes"]
async fn a_counted_run_reports_every_session_and_ordered_percentiles() {
    let server = start_server(&[]).await;
    let suite = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
    let out = bench(
        &server,
        "load",
        &["--count", "20", "--concurrency", "4", "--suite", suite],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["mode"], "load", "{json}");
    assert_eq!(json["target"], server.url(), "{json}");
    assert_eq!(json["suite"], suite, "{json}");
    assert_eq!(json["concurrency"], 4, "{json}");
    assert_eq!(json["sessions"], 20, "{json}");
    assert_eq!(json["errors"]["count"], 0, "{json}");
    assert_eq!(json["errors"]["first"], Value::Array(vec![]), "{json}");
    let elapsed = json["elapsed_s"].as_f64().expect("elapsed_s");
    let rate = json["sessions_per_sec"].as_f64().expect("sessions_per_sec");
    assert!(elapsed > 0.0, "{json}");
    assert!(
        (rate * elapsed - 20.0).abs() < 0.01,
        "rate x elapsed = sessions: {json}"
    );
    let latency = &json["latency_us"];
    let us = |k: &str| {
        latency[k]
            .as_u64()
            .unwrap_or_else(|| panic!("latency_us.{k} in {json}"))
    };
    let (p50, p90, p99, p999, max) = (us("p50"), us("p90"), us("p99"), us("p999"), us("max"));
    assert!(p50 > 0, "{json}");
    assert!(
        p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "percentiles out of order: {json}"
    );
    let mean = latency["mean"].as_f64().expect("latency_us.mean");
    assert!(mean > 0.0 && mean <= max as f64, "{json}");
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): a load through real processes"]
async fn hold_keeps_sessions_open_after_server_hello_done() {
    let server = start_server(&[]).await;
    // 50 sessions over connections of 20 streams: 3 connections.
    let out = bench(
        &server,
        "hold",
        &[
            "--sessions",
            "50",
            "--hold-for",
            "1",
            "--streams-per-connection",
            "20",
        ],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["mode"], "hold", "{json}");
    assert_eq!(json["held"], 50, "{json}");
    assert_eq!(json["connections"], 3, "{json}");
    // server-svc is still there and serving once they are closed.
    let again = bench(&server, "load", &["--count", "1", "--warm-up", "0"]).await;
    assert_eq!(success_json(&again)["sessions"], 1);
}

#[tokio::test]
async fn an_unreachable_server_is_exit_3_with_one_line() {
    // A server only to get a real lab CA; nothing listens on the port used.
    let server = start_server(&[]).await;
    let ca = ca_of(&server);
    let url = format!("http://127.0.0.1:{}", e2e::process::free_port());
    for mode in [&["load", "--count", "5"][..], &["hold", "--sessions", "5"]] {
        let mut args = vec!["bench"];
        args.extend_from_slice(mode);
        args.extend(["--server", &url, "--ca", path_str(&ca)]);
        let out = run_bounded(&binaries().client, &args, RUN_TIMEOUT).await;
        assert_eq!(out.status.code(), Some(3), "{mode:?}: {}", out.stderr);
        let line = one_error_line(&out);
        assert!(line.contains("unreachable"), "{mode:?}: {line}");
        assert!(out.stdout.is_empty(), "{mode:?}: {}", out.stdout);
    }
}

#[tokio::test]
async fn sessions_that_all_fail_are_counted_and_exit_1() {
    let server = start_server(&[]).await;
    // The certificate is not for this name: every session fails at step 5.
    let args = ["--count", "6", "--concurrency", "2", "--warm-up", "0"];
    let out = bench_as(&server, "not-this-server.example", "load", &args).await;
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = one_error_line(&out);
    assert!(line.contains("6 of 6 sessions failed"), "{line}");
    let json = json_of(&out);
    assert_eq!(json["sessions"], 0, "{json}");
    assert_eq!(json["errors"]["count"], 6, "{json}");
    let first = json["errors"]["first"].as_array().expect("errors.first");
    assert_eq!(first.len(), 1, "one distinct error: {json}");
    let why = first[0].as_str().unwrap_or_default();
    assert!(why.contains("step 5"), "{why}");
    assert!(json["latency_us"].is_null(), "{json}");
}
