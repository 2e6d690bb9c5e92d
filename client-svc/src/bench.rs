//! `client-svc bench`: a load generator for server-svc alone (or for a real
//! TLS 1.2 server over TCP, `tls://host:port`), and the hold mode that
//! parks sessions after ServerHelloDone to measure server-svc's memory.
//!
//! # Load
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
//!
//! # Hold
//!
//! `--hold N` opens N sessions against server-svc, each stopped after the
//! server's first flight (steps 1 to 4: ServerHelloDone received, server-svc
//! waiting for the client's key exchange), `--concurrency` opening at a
//! time. Once all are held it prints one line
//! `{"mode":"hold","held":N,"target":...,"suite":...,"connections":C,"elapsed_s":...}`,
//! keeps them open until SIGINT/SIGTERM or `--hold-for` seconds, then
//! closes them (ends every request stream) and exits 0. The server's
//! messages are counted, not checked: the point is the server's memory, not
//! the client's verdict. HTTP/2 caps concurrent streams per connection
//! (tonic's server sets no cap by default, hyper's is 200, a proxy may set
//! 100), so held sessions are spread over one connection per
//! `--streams-per-connection` (default 100): 10,000 sessions are 100
//! connections, 100 file descriptors on each side.
//!
//! # Failing
//!
//! [`BenchError`] says which exit status `main.rs` gives: usage (bad flags:
//! 2), unreachable (3), failed (some sessions failed, or not all could be
//! held: 1; the JSON of a load run is still printed first).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use handshake::SystemRng;
use handshake::msgs::enums::HandshakeType;
use handshake::{ClientConfig, Connection, Event, Message, StepDetail};
use hdrhistogram::Histogram;
use proto::keylog::KeyLog;
use rustls_pki_types::{ServerName, UnixTime};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use crate::session::{self, DEFAULT_MESSAGE, Progress, SessionError, SessionSpec, Target};
use crate::transport::{Incoming, OpenError, Transport};

/// Distinct error lines kept for the JSON.
const MAX_ERROR_LINES: usize = 5;

/// Hold mode: how long closing the held streams may take before exit.
const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// Histogram range: 1 µs to an hour, 3 significant digits (0.1 %).
const MAX_LATENCY_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// The load-generator flags of `client-svc bench` (the target, CA, name,
/// suite and timeout flags are the other commands', in `main.rs`).
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Sessions in flight at once (hold mode: sessions being opened at once).
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_CONCURRENCY",
        default_value_t = 16,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub concurrency: u32,
    /// Run for this many seconds (after the warm-up). Exactly one of
    /// --duration, --count, --hold.
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_DURATION",
        value_name = "SECS",
        value_parser = parse_secs,
        required_unless_present_any = ["count", "hold"],
        conflicts_with_all = ["count", "hold"]
    )]
    pub duration: Option<Duration>,
    /// Run this many sessions (after the warm-up).
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_COUNT",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..),
        conflicts_with = "hold"
    )]
    pub count: Option<u64>,
    /// Seconds of sessions run first and left out of the numbers.
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_WARM_UP",
        default_value = "1",
        value_name = "SECS",
        value_parser = parse_secs_or_zero,
        conflicts_with = "hold"
    )]
    pub warm_up: Duration,
    /// server-svc: HTTP/2 streams per connection; workers (or held
    /// sessions) are spread over one connection per this many.
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_STREAMS_PER_CONNECTION",
        default_value_t = 100,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub streams_per_connection: u32,
    /// The application message of each session (for an HTTPS server, a
    /// request such as $'GET / HTTP/1.0\r\n\r\n').
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_MESSAGE",
        default_value = DEFAULT_MESSAGE,
        value_name = "TEXT",
        conflicts_with = "hold"
    )]
    pub message: String,
    /// Hold mode: open N sessions to server-svc, each stopped after
    /// ServerHelloDone, and keep them open.
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_HOLD",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub hold: Option<u64>,
    /// Hold mode: close the sessions after this many seconds (default:
    /// on SIGINT/SIGTERM).
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_HOLD_FOR",
        value_name = "SECS",
        value_parser = parse_secs_or_zero,
        requires = "hold"
    )]
    pub hold_for: Option<Duration>,
}

/// Seconds, fractions allowed, more than zero.
fn parse_secs(s: &str) -> Result<Duration, String> {
    match parse_secs_or_zero(s)? {
        d if d.is_zero() => Err("must be more than 0 seconds".into()),
        d => Ok(d),
    }
}

/// Seconds, fractions allowed, zero allowed.
fn parse_secs_or_zero(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{s:?} is not a usable number of seconds"))
}

/// What `main.rs` resolved from the shared flags.
pub struct Settings {
    /// As given: server-svc's URL or `tls://host:port`.
    pub server: String,
    /// Suites offered (one, or every suite), groups, the CA's verifier.
    pub config: ClientConfig,
    /// The one suite asked for, if any (for the JSON).
    pub suite: Option<&'static str>,
    pub server_name: ServerName<'static>,
    pub key_log: Option<Arc<KeyLog>>,
    /// Deadline of one session (hold mode: of reaching ServerHelloDone).
    pub timeout: Duration,
}

/// Why `bench` ends unsuccessfully; `main.rs` maps each to its exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum BenchError {
    /// Flags that do not fit together: exit 2.
    Usage(String),
    /// The server cannot be reached: exit 3.
    Unreachable(String),
    /// Sessions failed (the JSON is printed) or could not be held: exit 1.
    Failed(String),
}

/// Runs `client-svc bench`: a load run, or holding sessions.
pub async fn run(settings: Settings, load: LoadArgs) -> Result<(), BenchError> {
    match load.mode()? {
        Mode::Load(stop) => load_run(&settings, &load, stop).await,
        Mode::Hold { sessions, hold_for } => hold(&settings, &load, sessions, hold_for).await,
    }
}

/// What a `bench` run does, from flags that fit together.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Load(Stop),
    Hold {
        sessions: u64,
        hold_for: Option<Duration>,
    },
}

impl LoadArgs {
    /// The mode, or a usage error. clap's conflicts catch most misfits
    /// first; this is the authority (clap lets `--hold-for` through when
    /// `--hold` is absent because it conflicts with a flag that is present).
    fn mode(&self) -> Result<Mode, BenchError> {
        match (self.duration, self.count, self.hold, self.hold_for) {
            (Some(d), None, None, None) => Ok(Mode::Load(Stop::Duration(d))),
            (None, Some(n), None, None) => Ok(Mode::Load(Stop::Count(n))),
            (None, None, Some(sessions), hold_for) => Ok(Mode::Hold { sessions, hold_for }),
            (_, _, None, Some(_)) => Err(BenchError::Usage(
                "--hold-for only goes with --hold N".into(),
            )),
            _ => Err(BenchError::Usage(
                "bench needs exactly one of --duration SECS, --count N, --hold N".into(),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// Load

/// When the measured part stops.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Count(u64),
    Duration(Duration),
}

/// What one worker measured.
struct Tally {
    latency: Histogram<u64>,
    errors: u64,
    first_errors: Vec<String>,
    /// When the worker's last measured session ended.
    last_end: Option<Instant>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: new_histogram(),
            errors: 0,
            first_errors: Vec::new(),
            last_end: None,
        }
    }

    fn error(&mut self, line: String) {
        self.errors += 1;
        keep_distinct(&mut self.first_errors, line);
    }

    fn merge(&mut self, other: Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.errors += other.errors;
        for line in other.first_errors {
            keep_distinct(&mut self.first_errors, line);
        }
        self.last_end = self.last_end.max(other.last_end);
    }
}

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (low 1 <= high/2, 3 digits): cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

fn keep_distinct(lines: &mut Vec<String>, line: String) {
    if lines.len() < MAX_ERROR_LINES && !lines.contains(&line) {
        lines.push(line);
    }
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

/// The targets of the workers: for server-svc, one channel (one HTTP/2
/// connection) per `per` workers; for `tls://`, the address.
fn targets(server: &str, workers: u64, per: u32) -> Result<Vec<Target>, BenchError> {
    let first = Target::parse(server).map_err(BenchError::Usage)?;
    if first.is_tls() {
        return Ok(vec![first]);
    }
    let n = workers.div_ceil(u64::from(per)).max(1);
    let mut all = vec![first];
    for _ in 1..n {
        all.push(Target::parse(server).map_err(BenchError::Usage)?);
    }
    Ok(all)
}

async fn load_run(settings: &Settings, load: &LoadArgs, stop: Stop) -> Result<(), BenchError> {
    let workers = u64::from(load.concurrency);
    let targets = targets(&settings.server, workers, load.streams_per_connection)?;
    let spec = SessionSpec {
        server: settings.server.clone(),
        config: settings.config.clone(),
        server_name: settings.server_name.clone(),
        message: load.message.clone().into_bytes(),
        capture_secrets: false,
        key_log: settings.key_log.clone(),
        timeout: settings.timeout,
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
        return Err(BenchError::Unreachable(msg));
    }

    let plan = Arc::new(Plan {
        spec,
        schedule: Schedule {
            measure_from: Instant::now() + load.warm_up,
            stop,
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
        return Err(BenchError::Failed(format!(
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

// ---------------------------------------------------------------------------
// Hold

/// One session parked after ServerHelloDone: its open Connect stream.
/// Dropping it ends the request stream, and server-svc ends the session.
struct Held {
    _transport: Transport,
}

async fn hold(
    settings: &Settings,
    load: &LoadArgs,
    n: u64,
    hold_for: Option<Duration>,
) -> Result<(), BenchError> {
    let targets = targets(&settings.server, n, load.streams_per_connection)?;
    if targets[0].is_tls() {
        return Err(BenchError::Usage(
            "--hold needs server-svc (http://host:port), not a tls:// server".into(),
        ));
    }
    let spec = Arc::new(HoldSpec {
        server: settings.server.clone(),
        config: Arc::new(settings.config.clone()),
        server_name: settings.server_name.clone(),
        timeout: settings.timeout,
    });
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let targets = Arc::new(targets);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..u64::from(load.concurrency).min(n) {
        let (spec, next, targets) = (spec.clone(), next.clone(), targets.clone());
        tasks.spawn(async move {
            let mut held = Vec::new();
            let mut tally = Tally::new();
            let mut unreachable = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                // Session i rides connection i mod C: equal shares.
                let target = targets[(i % targets.len() as u64) as usize].clone();
                match hold_one(target, &spec).await {
                    Ok(h) => held.push(h),
                    Err(HoldError::Unreachable(msg)) => {
                        tally.error(msg.clone());
                        unreachable = Some(msg);
                    }
                    Err(HoldError::Failed(msg)) => tally.error(msg),
                }
            }
            (held, tally, unreachable)
        });
    }
    let mut held = Vec::new();
    let mut tally = Tally::new();
    let mut unreachable = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((h, t, u)) => {
                held.extend(h);
                tally.merge(t);
                unreachable = unreachable.or(u);
            }
            Err(e) => tally.error(format!("an opener ended abnormally: {e}")),
        }
    }
    if held.is_empty()
        && let Some(msg) = unreachable
    {
        return Err(BenchError::Unreachable(msg));
    }
    if tally.errors > 0 {
        return Err(BenchError::Failed(format!(
            "{} of {n} sessions could not be held; first: {}",
            tally.errors,
            tally.first_errors.first().map_or("", String::as_str)
        )));
    }
    let line = json!({
        "mode": "hold",
        "held": held.len(),
        "target": settings.server,
        "suite": settings.suite,
        "connections": targets.len(),
        "elapsed_s": start.elapsed().as_secs_f64(),
    });
    println!("{line}");

    match hold_for {
        Some(d) => tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = proto::serve::shutdown_signal() => {}
        },
        None => proto::serve::shutdown_signal().await,
    }
    // Dropping a session ends its request stream; the frames saying so go
    // out with the connection's task, so give it a moment before the
    // process exits (else server-svc sees broken connections instead).
    drop(held);
    tokio::time::sleep(CLOSE_GRACE).await;
    Ok(())
}

/// What every held session shares.
struct HoldSpec {
    server: String,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    timeout: Duration,
}

enum HoldError {
    Unreachable(String),
    Failed(String),
}

/// Opens one session and reads the server's first flight up to
/// ServerHelloDone; the stream stays open in the returned [`Held`].
async fn hold_one(target: Target, spec: &HoldSpec) -> Result<Held, HoldError> {
    let failed = |why: String| HoldError::Failed(why);
    let mut client = Connection::client(
        spec.config.clone(),
        spec.server_name.clone(),
        UnixTime::now(),
        Box::new(SystemRng),
    )
    .map_err(|e| failed(format!("cannot make a ClientHello: {e}")))?;
    let mut transport = Transport::new(target);
    while let Some(msg) = client.poll_transmit() {
        transport
            .send(msg)
            .map_err(|e| failed(format!("cannot send the ClientHello: {e}")))?;
    }
    let deadline = Instant::now() + spec.timeout;
    transport
        .open(
            &spec.server,
            &session::new_session_id(),
            deadline,
            spec.timeout,
        )
        .await
        .map_err(|e| match e {
            OpenError::Unreachable(m) => HoldError::Unreachable(m),
            OpenError::Busy(m) => failed(m),
        })?;
    loop {
        let incoming = timeout_at(deadline, transport.recv()).await.map_err(|_| {
            failed(format!(
                "no ServerHelloDone within {} s",
                spec.timeout.as_secs_f64()
            ))
        })?;
        match incoming {
            Incoming::Message(Ok(Message::Handshake(m)))
                if m.typ() == HandshakeType::SERVER_HELLO_DONE =>
            {
                return Ok(Held {
                    _transport: transport,
                });
            }
            Incoming::Message(Ok(Message::Handshake(_))) => {}
            Incoming::Message(Ok(other)) => {
                return Err(failed(format!(
                    "server-svc sent {} before ServerHelloDone",
                    other.content_type()
                )));
            }
            Incoming::Message(Err(e)) => return Err(failed(format!("server-svc sent {e}"))),
            Incoming::End(why) => return Err(failed(why)),
            Incoming::Status(status) => {
                return Err(failed(format!(
                    "server-svc ended the stream with {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, String> {
        let argv = std::iter::once("bench").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.load)
            .map_err(|e| e.to_string())
    }

    /// The flags, parsed and checked as `run` does.
    fn mode(args: &[&str]) -> Result<(Mode, LoadArgs), String> {
        let load = parse(args)?;
        let mode = load.mode().map_err(|e| format!("{e:?}"))?;
        Ok((mode, load))
    }

    #[test]
    fn exactly_one_of_duration_count_hold() {
        let (m, count) = mode(&["--count", "20", "--concurrency", "4"]).unwrap();
        assert_eq!(m, Mode::Load(Stop::Count(20)));
        assert_eq!(count.concurrency, 4);
        let (m, duration) = mode(&["--duration", "2.5"]).unwrap();
        assert_eq!(m, Mode::Load(Stop::Duration(Duration::from_millis(2500))));
        assert_eq!(duration.warm_up, Duration::from_secs(1));
        let (m, _) = mode(&["--hold", "50", "--hold-for", "1"]).unwrap();
        assert_eq!(
            m,
            Mode::Hold {
                sessions: 50,
                hold_for: Some(Duration::from_secs(1))
            }
        );
        let (m, _) = mode(&["--hold", "10000"]).unwrap();
        assert_eq!(
            m,
            Mode::Hold {
                sessions: 10_000,
                hold_for: None
            }
        );

        for bad in [
            &[][..],
            &["--concurrency", "4"],
            &["--count", "20", "--duration", "1"],
            &["--count", "20", "--hold", "5"],
            &["--duration", "1", "--hold", "5"],
            &["--count", "5", "--hold-for", "1"],
            &["--hold-for", "1"],
            &["--hold", "5", "--warm-up", "1"],
            &["--hold", "5", "--message", "hi"],
        ] {
            assert!(mode(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        for bad in [
            &["--count", "0"][..],
            &["--count", "-1"],
            &["--duration", "0"],
            &["--duration", "-1"],
            &["--duration", "soon"],
            &["--count", "5", "--concurrency", "0"],
            &["--count", "5", "--streams-per-connection", "0"],
            &["--count", "5", "--warm-up", "-1"],
            &["--hold", "0"],
            &["--hold", "5", "--hold-for", "x"],
        ] {
            let err = mode(bad).expect_err(&format!("{bad:?} was accepted"));
            assert!(!err.is_empty());
        }
        assert_eq!(
            parse(&["--count", "5", "--warm-up", "0"]).unwrap().warm_up,
            Duration::ZERO
        );
    }

    #[test]
    fn flags_that_do_not_fit_are_usage_errors() {
        let mut args = parse(&["--count", "1"]).unwrap();
        args.count = None;
        assert!(matches!(args.mode(), Err(BenchError::Usage(_))));
        args.hold_for = Some(Duration::from_secs(1));
        let Err(BenchError::Usage(why)) = args.mode() else {
            panic!("--hold-for alone was accepted");
        };
        assert!(why.contains("--hold"), "{why}");
    }

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

    #[test]
    fn at_most_a_few_distinct_error_lines_are_kept() {
        let mut tally = Tally::new();
        for i in 0..20 {
            tally.error(format!("error {}", i % 7));
        }
        assert_eq!(tally.errors, 20);
        assert_eq!(tally.first_errors.len(), MAX_ERROR_LINES);
        let mut other = Tally::new();
        other.error("error 0".into());
        tally.merge(other);
        assert_eq!(tally.errors, 21);
        assert_eq!(tally.first_errors.len(), MAX_ERROR_LINES);
    }

    #[tokio::test]
    async fn workers_share_connections_by_streams_per_connection() {
        let n = |workers, per| targets("http://127.0.0.1:1", workers, per).unwrap().len();
        assert_eq!(n(1, 100), 1);
        assert_eq!(n(100, 100), 1);
        assert_eq!(n(101, 100), 2);
        assert_eq!(n(10_000, 100), 100);
        assert_eq!(targets("tls://127.0.0.1:1", 64, 1).unwrap().len(), 1);
        assert!(matches!(
            targets("tls://nohost", 1, 1),
            Err(BenchError::Usage(_))
        ));
    }
}
