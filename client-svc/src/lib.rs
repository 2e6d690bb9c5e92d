//! client-svc: the TLS 1.2 client of the project, as a gRPC service
//! (`handshake.v1.HandshakeClientService`) and as a command line.
//!
//! It drives one `handshake::Connection` per session against server-svc
//! over a `HandshakeService.Connect` stream, or against a real TLS 1.2
//! server over TCP (a `tls://host:port` target), verifies the server's chain
//! against the configured CA and name, sends an application message, and
//! tells the session as the thirteen steps of `docs/DESIGN.md`.
//!
//! # Layout
//!
//! ```text
//! main.rs       flags -> tracing -> run(); errors as one `error: ...` line and their exit status
//! lib.rs        run(): `serve`, `handshake`, `bench load`, `bench hold`
//! cli.rs        the command line (clap), every flag also a CLIENT_SVC_* variable
//! config.rs     the flags -> the CA's verifier, the name, the key log, the service's settings
//! error.rs      the command's own error type and its exit statuses
//! session.rs    one session: the engine's driver and its phase, timing, the reply, the
//!               key log, the lab record fault
//! transport/    how its messages travel: target parsing, the Connect stream, TLS records on TCP
//! balance.rs    server-svc's replicas: one channel each, round-robin, retry elsewhere
//! cache.rs      the balancers of targets requests name: bounded by count and idle time
//! allow.rs      which servers a request may name (the allowlist): PERMISSION_DENIED otherwise
//! options.rs    the bounds of a request's options, checked before anything is built
//! resolve.rs    dns:, ipv4:, ipv6: names (gRPC naming) and their resolvers
//! report.rs     engine events -> HandshakeStep entries and the HandshakeReport
//! service.rs    HandshakeClientService: options -> session -> report or status
//! table.rs      the CLI's table of steps and its outcome line
//! trust.rs      the CA file -> certificate verifier
//! bench/        the load generator: `bench load` (sessions/s and latency as JSON),
//!               `bench hold` (sessions held after ServerHelloDone, for memory)
//! ```
//!
//! The same `session::run` serves the gRPC service and the CLI, so what a
//! student sees in a terminal is what a program gets over gRPC.

#![forbid(unsafe_code)]

pub mod allow;
pub mod balance;
pub mod bench;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod options;
pub mod report;
pub mod resolve;
pub mod service;
pub mod session;
pub mod table;
pub mod transport;
pub mod trust;

use std::time::Duration;

use handshake::ClientConfig;
use tokio::net::TcpListener;

pub use error::{Error, Result};

use service_runtime::metrics::{self, Metrics};

use cli::{BenchCommand, Command, HandshakeArgs, ServeArgs};
use report::ReportBuilder;
use service::ClientService;
use session::{SessionError, SessionSpec};

/// Runs the command the flags name.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => run_serve(args).await,
        Command::Handshake(args) => run_handshake(args).await,
        Command::Bench(BenchCommand::Load(args)) => {
            bench::load::run(&args.bench.settings()?, &args.load()?).await
        }
        Command::Bench(BenchCommand::Hold(args)) => {
            bench::hold::run(args.bench.settings()?, args.sessions, args.hold_for).await
        }
    }
}

/// `client-svc serve`: check the flags, listen, serve until SIGTERM or
/// SIGINT, then drain for the grace period.
pub async fn run_serve(args: ServeArgs) -> Result<()> {
    let mut settings = args.settings()?;
    let limits = args.service.limits();
    let t = &args.target;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Service(format!("cannot listen on {}: {e}", args.listen)))?;
    tracing::info!(
        // The bound address: with port 0, the one the system picked.
        listen = %listener.local_addr().unwrap_or(args.listen),
        server = %t.server,
        server_name = %t.server_name,
        ca = %t.ca.display(),
        show_secrets = t.lab_show_secrets,
        max_sessions = args.service.max_sessions,
        max_message_size = limits.max_message_size,
        keepalive_interval_secs = limits.keepalive_interval.map(|d| d.as_secs()),
        max_connection_age_secs = limits.max_connection_age.map(|d| d.as_secs()),
        resolve_interval_secs = args.resolve_interval,
        allowed_servers = %service_runtime::logging::List(&args.allow_servers),
        "client-svc serving"
    );
    if t.lab_show_secrets {
        tracing::warn!("lab flag --lab-show-secrets is on: reports carry session secrets");
    }
    let (metrics, _) = service_runtime::exporter::start(
        args.service.metrics_listen,
        Metrics::new(metrics::Service::Client),
    )
    .await
    .map_err(Error::Service)?;
    settings.metrics = metrics;
    let service = ClientService::new(settings).map_err(Error::Usage)?;
    service::serve(
        listener,
        service,
        &limits,
        service_runtime::serve::shutdown_signal(),
        Duration::from_secs(args.service.grace_period),
    )
    .await
    .map_err(Error::Service)
}

/// `client-svc handshake`: one session, its table (or JSON) on stdout.
pub async fn run_handshake(args: HandshakeArgs) -> Result<()> {
    let t = args.target;
    let (verifier, server_name) = t.verifier_and_name()?;
    let target = session::Target::parse(&t.server).map_err(Error::Usage)?;
    let peer = target.peer();
    let key_log = t.open_key_log()?;

    let mut config = ClientConfig::new(verifier);
    if !args.suites.is_empty() {
        config.cipher_suites = args.suites;
    }
    if !args.groups.is_empty() {
        config.groups = args.groups;
    }
    config.extended_master_secret = !args.lab_disable_ems;
    config.faults.corrupt_finished = args.lab_corrupt_finished;
    config.faults.corrupt_application_record = args.lab_corrupt_record;
    let spec = SessionSpec {
        timeout: Duration::from_secs(t.timeout),
        server: t.server,
        config,
        server_name,
        message: args.message.into_bytes(),
        capture_secrets: t.lab_show_secrets,
        key_log,
        metrics: Metrics::disabled(),
    };

    let mut builder = ReportBuilder::new();
    let outcome = session::run(target, &spec, |progress, elapsed| {
        builder.observe(progress, elapsed);
    })
    .await;
    if let Err(SessionError::Unreachable(msg) | SessionError::Busy(msg)) = &outcome.result {
        return Err(Error::Unreachable(msg.clone()));
    }
    let report = builder.finish(spec.message(), &outcome);
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Service(format!("cannot write the report as JSON: {e}")))?;
        println!("{json}");
    } else {
        print!("{}", table::render(&report, peer));
    }
    outcome
        .result
        .map(drop)
        .map_err(|e| Error::Tls(e.to_string()))
}
