//! `client-svc bench load`.
//!
//! `--concurrency` workers each run whole sessions back to back
//! ([`session::run`], the same driver as `client-svc handshake`, with no
//! report built), for `--duration` seconds or until `--count` sessions are
//! done. A first session checks the server is there (unreachable: exit 3
//! at once); then `--warm-up` seconds of sessions that are not counted;
//! then the measured ones. One JSON object goes to stdout:
//!
//! ```json
//! {"mode":"load","target":"http://127.0.0.1:50051","suite":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
//!  "concurrency":16,"connections":1,"warm_up_s":1.0,"sessions":20000,
//!  "errors":{"count":0,"first":[]},"elapsed_s":10.01,"sessions_per_sec":1998.0,
//!  "latency_us":{"p50":7900,"p90":9100,"p99":12000,"p999":15000,"max":21000,"mean":8001.5}}
//! ```
//!
//! - `sessions`: measured sessions that completed; `errors.count` those that
//!   failed, `errors.first` the first few distinct error lines.
//! - `elapsed_s`: from the end of the warm-up to the end of the last
//!   measured session; `sessions_per_sec` = `sessions / elapsed_s`.
//! - `latency_us`: one session, start to end (connect or open the stream,
//!   handshake, one application record each way, close), from an HDR
//!   histogram (1 µs to 1 h, 3 significant digits) of the completed ones.
//! - `suite`: the one `--suite` asked for; without it every suite is offered
//!   and this is the one server-svc chose in the first session.
//!
//! Sessions against server-svc share HTTP/2 connections: one tonic channel
//! per `--streams-per-connection` workers (each worker sticks to one), so
//! the load is handshakes, not TCP or HTTP/2 setup. Against `tls://` each
//! session is its own TCP connection, as with any TLS client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use handshake::{ClientConfig, Event, StepDetail};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Settings, Tally, targets};
use crate::error::{Error, Result};
use crate::session::{self, Progress, SessionError, SessionSpec, Target};

/// What `bench load` runs, besides the shared [`Settings`].
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub stop: Stop,
    /// Sessions run first and left out of the numbers.
    pub warm_up: Duration,
    /// The application message of each session.
    pub message: String,
}

/// When the measured part stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    Count(u64),
    Duration(Duration),
}

/// What the workers share.
struct Plan {
    spec: SessionSpec,
    schedule: Schedule,
}

/// Which sessions are measured, and when to stop.
struct Schedule {
    /// The end of the warm-up: sessions started before it are not counted.
    measure_from: Instant,
    stop: Stop,
    /// Count mode: measured sessions claimed so far.
    claimed: AtomicU64,
}

impl Schedule {
    /// Whether a session starting now is measured, and whether to start
    /// one at all.
    fn next(&self) -> Option<bool> {
        let now = Instant::now();
        if now < self.measure_from {
            return Some(false);
        }
        let go = match self.stop {
            Stop::Count(n) => self.claimed.fetch_add(1, Ordering::Relaxed) < n,
            Stop::Duration(d) => now < self.measure_from + d,
        };
        go.then_some(true)
    }
}

/// Runs `bench load`: prints the JSON line, then fails if any measured
/// session failed.
pub async fn run(settings: &Settings, load: &Load) -> Result<()> {
    let workers = u64::from(settings.concurrency);
    let targets = targets(&settings.server, workers, settings.streams_per_connection)?;
    let spec = SessionSpec {
        server: settings.server.clone(),
        config: ClientConfig::clone(&settings.config),
        server_name: settings.server_name.clone(),
        message: load.message.clone().into_bytes(),
        capture_secrets: false,
        key_log: settings.key_log.clone(),
        timeout: settings.timeout,
        metrics: service_runtime::metrics::Metrics::disabled(),
    };

    // One session first: a server that is not there is exit 3 now, not a
    // run of errors; and it tells which suite the server picks.
    let mut negotiated = None;
    let probe = session::run(targets[0].clone(), &spec, |p, _| {
        if let Some(suite) = finished_suite(p) {
            negotiated = Some(suite);
        }
    })
    .await;
    if let Err(SessionError::Unreachable(msg)) = probe.result {
        return Err(Error::Unreachable(msg));
    }

    let plan = Arc::new(Plan {
        spec,
        schedule: Schedule {
            measure_from: Instant::now() + load.warm_up,
            stop: load.stop,
            claimed: AtomicU64::new(0),
        },
    });
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let plan = plan.clone();
        // Worker w sticks to connection w mod n: the connections get equal
        // shares of the streams.
        let target = targets[(w % targets.len() as u64) as usize].clone();
        tasks.spawn(worker(plan, target));
    }
    let mut tally = Tally::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(t) => tally.merge(t),
            Err(e) => tally.error(format!("a worker ended abnormally: {e}")),
        }
    }

    let elapsed = tally
        .last_end
        .map(|end| end.saturating_duration_since(plan.schedule.measure_from))
        .unwrap_or_default();
    let suite = settings
        .suite
        .or(negotiated)
        .map_or(Value::Null, Value::from);
    let connections = if targets[0].is_tls() {
        workers
    } else {
        targets.len() as u64
    };
    let report = load_json(&LoadReport {
        target: &settings.server,
        suite,
        concurrency: workers,
        connections,
        warm_up: load.warm_up,
        tally: &tally,
        elapsed,
    });
    println!("{report}");
    if tally.errors > 0 {
        let total = tally.errors + tally.latency.len();
        return Err(Error::Tls(format!(
            "{} of {total} sessions failed; first: {}",
            tally.errors,
            tally.first_errors.first().map_or("", String::as_str)
        )));
    }
    Ok(())
}

/// The suite of a Finish event.
fn finished_suite(p: Progress<'_>) -> Option<&'static str> {
    match p {
        Progress::Engine(Event::Step(s)) => match &s.detail {
            StepDetail::Finish { cipher_suite, .. } => cipher_suite.name(),
            _ => None,
        },
        _ => None,
    }
}

/// One worker: sessions back to back until the plan says stop.
async fn worker(plan: Arc<Plan>, target: Target) -> Tally {
    let mut tally = Tally::new();
    while let Some(measured) = plan.schedule.next() {
        let start = Instant::now();
        // No report, no events kept: the client's cost per session stays
        // the engine's and the transport's.
        let outcome = session::run(target.clone(), &plan.spec, |_, _| {}).await;
        let end = Instant::now();
        if !measured {
            continue;
        }
        match outcome.result {
            Ok(_) => {
                tally
                    .latency
                    .saturating_record(session::micros(end - start).max(1));
                tally.last_end = Some(end);
            }
            Err(e) => {
                tally.error(e.to_string());
                tally.last_end = Some(end);
            }
        }
    }
    tally
}

/// Everything the load run's JSON says.
struct LoadReport<'a> {
    target: &'a str,
    suite: Value,
    concurrency: u64,
    connections: u64,
    warm_up: Duration,
    tally: &'a Tally,
    elapsed: Duration,
}

fn load_json(r: &LoadReport<'_>) -> Value {
    let h = &r.tally.latency;
    let sessions = h.len();
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        sessions as f64 / secs
    } else {
        0.0
    };
    let latency = if sessions == 0 {
        Value::Null
    } else {
        json!({
            "p50": h.value_at_quantile(0.50),
            "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999),
            "max": h.max(),
            "mean": h.mean(),
        })
    };
    json!({
        "mode": "load",
        "target": r.target,
        "suite": r.suite,
        "concurrency": r.concurrency,
        "connections": r.connections,
        "warm_up_s": r.warm_up.as_secs_f64(),
        "sessions": sessions,
        "errors": {"count": r.tally.errors, "first": r.tally.first_errors},
        "elapsed_s": secs,
        "sessions_per_sec": rate,
        "latency_us": latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_count_is_claimed_exactly_once_per_session() {
        let plan = Schedule {
            measure_from: Instant::now(),
            stop: Stop::Count(3),
            claimed: AtomicU64::new(0),
        };
        let starts: Vec<_> = (0..5).map(|_| plan.next()).collect();
        assert_eq!(
            starts,
            [Some(true), Some(true), Some(true), None, None],
            "three measured sessions, then stop"
        );
        let warming = Schedule {
            measure_from: Instant::now() + Duration::from_secs(3600),
            ..plan
        };
        assert_eq!(
            warming.next(),
            Some(false),
            "warm-up sessions are not counted"
        );
    }

    #[test]
    fn the_json_has_the_documented_shape_and_ordered_percentiles() {
        let mut tally = Tally::new();
        for us in [100, 200, 300, 400, 5000] {
            tally.latency.saturating_record(us);
        }
        tally.error("tls alert x".into());
        tally.error("tls alert x".into());
        tally.error("tls alert y".into());
        let v = load_json(&LoadReport {
            target: "http://127.0.0.1:1",
            suite: Value::from("TLS_RSA_WITH_AES_128_GCM_SHA256"),
            concurrency: 4,
            connections: 1,
            warm_up: Duration::from_millis(500),
            tally: &tally,
            elapsed: Duration::from_secs(2),
        });
        assert_eq!(v["mode"], "load");
        assert_eq!(v["target"], "http://127.0.0.1:1");
        assert_eq!(v["suite"], "TLS_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(v["concurrency"], 4);
        assert_eq!(v["connections"], 1);
        assert_eq!(v["warm_up_s"], 0.5);
        assert_eq!(v["sessions"], 5);
        assert_eq!(v["errors"]["count"], 3);
        assert_eq!(v["errors"]["first"], json!(["tls alert x", "tls alert y"]));
        assert_eq!(v["elapsed_s"], 2.0);
        assert_eq!(v["sessions_per_sec"], 2.5);
        let l = &v["latency_us"];
        let at = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("{k} in {l}"));
        assert!(at("p50") <= at("p90") && at("p90") <= at("p99"), "{l}");
        assert!(at("p99") <= at("p999") && at("p999") <= at("max"), "{l}");
        assert!((299..=301).contains(&at("p50")), "{l}");
        assert!((4995..=5005).contains(&at("max")), "{l}");
        assert!((l["mean"].as_f64().unwrap() - 1200.0).abs() < 5.0, "{l}");
    }

    #[test]
    fn no_sessions_is_zero_rate_and_no_latency() {
        let tally = Tally::new();
        let v = load_json(&LoadReport {
            target: "tls://h:1",
            suite: Value::Null,
            concurrency: 1,
            connections: 1,
            warm_up: Duration::ZERO,
            tally: &tally,
            elapsed: Duration::ZERO,
        });
        assert_eq!(v["sessions"], 0);
        assert_eq!(v["sessions_per_sec"], 0.0);
        assert!(v["latency_us"].is_null());
        assert!(v["suite"].is_null());
    }
}
