//! The `client-svc` command: `serve` runs the gRPC service, `handshake`
//! runs one session from the terminal and prints its steps, `bench` loads
//! a server with sessions (`bench.rs`).
//!
//! Every flag can also be set through an environment variable
//! (`CLIENT_SVC_<FLAG>`), for Kubernetes. Errors are one line on stderr.
//!
//! Exit status: 0 success; 1 the TLS session failed (its table or JSON is
//! still printed; `bench`: a session failed or could not be held); 2 invalid
//! flags or configuration (CA file, URL, names); 3 the server unreachable
//! (or refusing sessions at its limit); 4 the service could not start or
//! failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use client_svc::balance::ChannelOptions;
use client_svc::report::ReportBuilder;
use client_svc::service::{ClientService, Settings};
use client_svc::session::{self, DEFAULT_MESSAGE, SessionError, SessionSpec};
use client_svc::{bench, table, trust};
use handshake::{CipherSuite, ClientConfig, NamedGroup};
use proto::keylog::KeyLog;
use rustls_pki_types::ServerName;

const EXIT_TLS: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;
const EXIT_SERVICE: u8 = 4;

/// The TLS 1.2 client: run handshakes against server-svc (or a real TLS 1.2
/// server) and see each of the thirteen steps.
#[derive(Parser, Debug)]
#[command(name = "client-svc", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve handshake.v1.HandshakeClientService (plus health and reflection).
    Serve(ServeArgs),
    /// Run one session against server-svc (or a real TLS server) and print its steps.
    Handshake(HandshakeArgs),
    /// Load server-svc (or a real TLS server) with concurrent sessions and
    /// print sessions/s and latency percentiles as JSON; or hold sessions
    /// open after ServerHelloDone (--hold).
    Bench(BenchArgs),
}

/// Where the server is and whom to trust: shared by both commands.
#[derive(Args, Debug)]
struct TargetArgs {
    /// server-svc's URL (http://HOST:PORT), its replicas by gRPC name
    /// (dns:///HOST:PORT: every address HOST resolves to, looked up again
    /// periodically; ipv4:ADDR:PORT[,ADDR:PORT...] or
    /// ipv6:[ADDR]:PORT[,...]: these), balanced round-robin per session;
    /// or tls://HOST:PORT for a real TLS 1.2 server over TCP (e.g. openssl
    /// s_server, an HTTPS site).
    #[arg(
        long,
        env = "CLIENT_SVC_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    server: String,
    /// PEM file of the CA that server certificates must chain to.
    #[arg(
        long,
        env = "CLIENT_SVC_CA",
        default_value = "./pki/ca.pem",
        value_name = "FILE"
    )]
    ca: PathBuf,
    /// The name the server's certificate must match (DNS name or IP).
    #[arg(
        long,
        env = "CLIENT_SVC_SERVER_NAME",
        default_value = "localhost",
        value_name = "NAME"
    )]
    server_name: String,
    /// Lab: show the session secrets (pre-master, master secret, keys, IVs,
    /// key log line) in reports. Never in production.
    #[arg(long, env = "CLIENT_SVC_LAB_SHOW_SECRETS")]
    lab_show_secrets: bool,
    /// Lab: append each session's NSS key log line (CLIENT_RANDOM
    /// <client_random> <master_secret>, what Wireshark reads) to FILE,
    /// created with mode 0600. The file holds secrets that decrypt the
    /// sessions: never in production.
    #[arg(long, env = "CLIENT_SVC_KEY_LOG", value_name = "FILE")]
    key_log: Option<PathBuf>,
    /// Deadline of one session, in seconds.
    #[arg(
        long,
        env = "CLIENT_SVC_TIMEOUT",
        default_value_t = 30,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    timeout: u64,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CLIENT_SVC_LISTEN",
        default_value = "0.0.0.0:50052",
        value_name = "ADDR"
    )]
    listen: SocketAddr,
    #[command(flatten)]
    target: TargetArgs,
    /// Log one JSON object per line instead of text.
    #[arg(long, env = "CLIENT_SVC_LOG_JSON")]
    log_json: bool,
    /// On SIGTERM/SIGINT, how long sessions in flight may take to finish.
    #[arg(
        long,
        env = "CLIENT_SVC_GRACE_PERIOD",
        default_value_t = 10,
        value_name = "SECS"
    )]
    grace_period: u64,
    /// Sessions (Handshake and WatchHandshake calls) that may run at once;
    /// beyond it a call gets RESOURCE_EXHAUSTED at once (not queued).
    #[arg(
        long,
        env = "CLIENT_SVC_MAX_SESSIONS",
        default_value_t = proto::limits::DEFAULT_MAX_SESSIONS,
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_sessions: usize,
    /// Largest gRPC message received or sent, in bytes (a larger one is
    /// refused with OUT_OF_RANGE). The default, tonic's, leaves room for
    /// long application messages and a real server's reply of up to 1 MiB
    /// in the report.
    #[arg(
        long,
        env = "CLIENT_SVC_MAX_MESSAGE_SIZE",
        default_value_t = 4 * 1024 * 1024,
        value_name = "BYTES",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_message_size: usize,
    /// Seconds between HTTP/2 PINGs, on client-svc's own connections and
    /// on its channels to server-svc (there also while idle), to find a
    /// peer that vanished without closing; 0: no keepalive.
    #[arg(
        long,
        env = "CLIENT_SVC_KEEPALIVE_INTERVAL",
        default_value_t = proto::limits::DEFAULT_KEEPALIVE_INTERVAL,
        value_name = "SECS"
    )]
    keepalive_interval: u64,
    /// Seconds a keepalive PING may go unanswered before the connection
    /// is closed.
    #[arg(
        long,
        env = "CLIENT_SVC_KEEPALIVE_TIMEOUT",
        default_value_t = proto::limits::DEFAULT_KEEPALIVE_TIMEOUT,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    keepalive_timeout: u64,
    /// Seconds after which a connection to client-svc gets an HTTP/2
    /// GOAWAY, so long-lived callers rebalance over client-svc's replicas;
    /// 0: connections live on.
    #[arg(
        long,
        env = "CLIENT_SVC_MAX_CONNECTION_AGE",
        default_value_t = proto::limits::DEFAULT_MAX_CONNECTION_AGE,
        value_name = "SECS"
    )]
    max_connection_age: u64,
    /// Seconds the calls still open on a connection past its maximum age
    /// get before it is closed; 0: as long as they take.
    #[arg(
        long,
        env = "CLIENT_SVC_MAX_CONNECTION_AGE_GRACE",
        default_value_t = proto::limits::DEFAULT_MAX_CONNECTION_AGE_GRACE,
        value_name = "SECS"
    )]
    max_connection_age_grace: u64,
    /// A server a request (SessionOptions.server) may name besides
    /// --server, in any target form (tls://HOST:PORT, http://HOST:PORT,
    /// dns:///HOST:PORT, ipv4:ADDR:PORT); repeatable. Any other is refused
    /// with PERMISSION_DENIED before it is looked up or connected to. By
    /// default only --server (and its replicas) may be named.
    #[arg(
        long = "allow-server",
        env = "CLIENT_SVC_ALLOW_SERVERS",
        value_delimiter = ',',
        value_name = "TARGET"
    )]
    allow_servers: Vec<String>,
    /// Seconds between lookups of a dns: --server: new replicas get
    /// sessions from then on, gone ones no more.
    #[arg(
        long,
        env = "CLIENT_SVC_RESOLVE_INTERVAL",
        default_value_t = client_svc::balance::DEFAULT_RESOLVE_INTERVAL,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    resolve_interval: u64,
}

#[derive(Args, Debug)]
struct HandshakeArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Offer only this suite (IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    /// or its hex code point, e.g. 0xc02f); repeat for more, in order.
    /// Default: every suite.
    #[arg(
        long = "suite",
        env = "CLIENT_SVC_SUITE",
        value_delimiter = ',',
        value_name = "NAME",
        value_parser = parse_suite
    )]
    suites: Vec<CipherSuite>,
    /// Offer only this group (x25519, secp256r1, secp384r1); repeatable.
    #[arg(
        long = "group",
        env = "CLIENT_SVC_GROUP",
        value_delimiter = ',',
        value_name = "NAME",
        value_parser = parse_group
    )]
    groups: Vec<NamedGroup>,
    /// The application message sent after the handshake (for an HTTPS
    /// server, a request such as $'GET / HTTP/1.0\r\n\r\n').
    #[arg(long, env = "CLIENT_SVC_MESSAGE", default_value = DEFAULT_MESSAGE, value_name = "TEXT")]
    message: String,
    /// Print the report as proto3 JSON instead of the table.
    #[arg(long, env = "CLIENT_SVC_JSON")]
    json: bool,
    /// Lab: flip a bit of the client's Finished (server-svc answers decrypt_error).
    #[arg(long, env = "CLIENT_SVC_LAB_CORRUPT_FINISHED")]
    lab_corrupt_finished: bool,
    /// Lab: flip a byte of the application record (server-svc answers bad_record_mac).
    #[arg(long, env = "CLIENT_SVC_LAB_CORRUPT_RECORD")]
    lab_corrupt_record: bool,
    /// Lab: do not offer the extended master secret (RFC 7627).
    #[arg(long, env = "CLIENT_SVC_LAB_DISABLE_EMS")]
    lab_disable_ems: bool,
}

#[derive(Args, Debug)]
struct BenchArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Offer only this suite (as for `handshake`). Default: every suite,
    /// and the server picks.
    #[arg(long, env = "CLIENT_SVC_BENCH_SUITE", value_name = "NAME", value_parser = parse_suite)]
    suite: Option<CipherSuite>,
    #[command(flatten)]
    load: bench::LoadArgs,
}

/// A failure that ends the command: one line and an exit status.
struct Fatal(u8, String);

fn usage(msg: impl Into<String>) -> Fatal {
    Fatal(EXIT_USAGE, msg.into())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // clap's first line says what is wrong; the usage after it is
            // one `--help` away.
            let text = e.render().to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            eprintln!("{line} (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SERVICE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Handshake(args) => handshake(args).await,
            Command::Bench(args) => bench(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<u8, Fatal> {
    // Held to the end of `serve`: the logs are written before main's last line.
    let _log = proto::serve::init_tracing(args.log_json).map_err(|e| Fatal(EXIT_SERVICE, e))?;
    let t = args.target;
    let verifier = trust::load_ca(&t.ca).map_err(usage)?;
    ServerName::try_from(t.server_name.clone())
        .map_err(|e| usage(format!("--server-name {:?}: {e}", t.server_name)))?;
    let limits = proto::limits::Limits::from_secs(
        args.max_message_size,
        args.keepalive_interval,
        args.keepalive_timeout,
        args.max_connection_age,
        args.max_connection_age_grace,
    );
    let upstream = ChannelOptions {
        keepalive_interval: limits.keepalive_interval,
        keepalive_timeout: limits.keepalive_timeout,
        resolve_interval: Duration::from_secs(args.resolve_interval),
    };
    // Refuse a bad default target now rather than on every call.
    session::Target::parse_with(&t.server, &upstream).map_err(usage)?;
    let key_log = open_key_log(t.key_log.as_deref())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Fatal(
                EXIT_SERVICE,
                format!("cannot listen on {}: {e}", args.listen),
            )
        })?;
    tracing::info!(
        // The bound address: with port 0, the one the system picked.
        listen = %listener.local_addr().unwrap_or(args.listen),
        server = %t.server,
        server_name = %t.server_name,
        ca = %t.ca.display(),
        show_secrets = t.lab_show_secrets,
        max_sessions = args.max_sessions,
        max_message_size = limits.max_message_size,
        keepalive_interval_secs = limits.keepalive_interval.map(|d| d.as_secs()),
        max_connection_age_secs = limits.max_connection_age.map(|d| d.as_secs()),
        resolve_interval_secs = args.resolve_interval,
        allowed_servers = %handshake::quote::list(&args.allow_servers),
        "client-svc serving"
    );
    if t.lab_show_secrets {
        tracing::warn!("lab flag --lab-show-secrets is on: reports carry session secrets");
    }
    if let Some(path) = &t.key_log {
        tracing::warn!(
            key_log = %path.display(),
            "lab flag --key-log is on: the file holds every session's master secret"
        );
    }
    let service = ClientService::new(Settings {
        server: t.server,
        server_name: t.server_name,
        verifier,
        show_secrets: t.lab_show_secrets,
        key_log,
        timeout: Duration::from_secs(t.timeout),
        sessions: proto::limits::LiveSessions::with_max(args.max_sessions),
        upstream,
        allow_servers: args.allow_servers,
    })
    .map_err(usage)?;
    client_svc::service::serve(
        listener,
        service,
        &limits,
        proto::serve::shutdown_signal(),
        Duration::from_secs(args.grace_period),
    )
    .await
    .map_err(|e| Fatal(EXIT_SERVICE, e))?;
    Ok(0)
}

async fn handshake(args: HandshakeArgs) -> Result<u8, Fatal> {
    // Logs only on request: stdout is the table, stderr the one error line.
    let _log = match std::env::var_os("RUST_LOG") {
        Some(_) => Some(proto::serve::init_tracing(false).map_err(|e| Fatal(EXIT_SERVICE, e))?),
        None => None,
    };
    let t = args.target;
    let verifier = trust::load_ca(&t.ca).map_err(usage)?;
    let server_name = ServerName::try_from(t.server_name.clone())
        .map_err(|e| usage(format!("--server-name {:?}: {e}", t.server_name)))?;
    let target = session::Target::parse(&t.server).map_err(usage)?;
    let peer = target.peer();
    let key_log = open_key_log(t.key_log.as_deref())?;
    if let Some(path) = &t.key_log {
        tracing::warn!(
            key_log = %path.display(),
            "lab flag --key-log is on: the file holds the session's master secret"
        );
    }

    let mut config = ClientConfig::new(verifier);
    if !args.suites.is_empty() {
        config.cipher_suites = args.suites;
    }
    if !args.groups.is_empty() {
        config.groups = args.groups;
    }
    config.extended_master_secret = !args.lab_disable_ems;
    config.faults.corrupt_finished = args.lab_corrupt_finished;
    let spec = SessionSpec {
        server: t.server,
        config,
        server_name,
        message: args.message.into_bytes(),
        corrupt_application_record: args.lab_corrupt_record,
        capture_secrets: t.lab_show_secrets,
        key_log,
        timeout: Duration::from_secs(t.timeout),
    };

    let mut builder = ReportBuilder::new();
    let outcome = session::run(target, &spec, |progress, elapsed| {
        builder.observe(progress, elapsed);
    })
    .await;
    if let Err(SessionError::Unreachable(msg) | SessionError::Busy(msg)) = &outcome.result {
        return Err(Fatal(EXIT_UNREACHABLE, msg.clone()));
    }
    let report = builder.finish(spec.message(), &outcome);
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| {
            Fatal(
                EXIT_SERVICE,
                format!("cannot write the report as JSON: {e}"),
            )
        })?;
        println!("{json}");
    } else {
        print!("{}", table::render(&report, peer));
    }
    match outcome.result {
        Ok(_) => Ok(0),
        Err(e) => Err(Fatal(EXIT_TLS, e.to_string())),
    }
}

async fn bench(args: BenchArgs) -> Result<u8, Fatal> {
    let t = args.target;
    if t.lab_show_secrets {
        return Err(usage("--lab-show-secrets: bench prints no reports"));
    }
    let mut config = ClientConfig::new(trust::load_ca(&t.ca).map_err(usage)?);
    if let Some(suite) = args.suite {
        config.cipher_suites = vec![suite];
    }
    let settings = bench::Settings {
        server_name: ServerName::try_from(t.server_name.clone())
            .map_err(|e| usage(format!("--server-name {:?}: {e}", t.server_name)))?,
        server: t.server,
        config,
        suite: args.suite.and_then(|s| s.name()),
        key_log: open_key_log(t.key_log.as_deref())?,
        timeout: Duration::from_secs(t.timeout),
    };
    bench::run(settings, args.load).await.map_err(|e| match e {
        bench::BenchError::Usage(m) => usage(m),
        bench::BenchError::Unreachable(m) => Fatal(EXIT_UNREACHABLE, m),
        bench::BenchError::Failed(m) => Fatal(EXIT_TLS, m),
    })?;
    Ok(0)
}

/// The key log file, if one is asked for: opened (created 0600) now, so a
/// bad path is a configuration error, not a silent loss.
fn open_key_log(path: Option<&std::path::Path>) -> Result<Option<Arc<KeyLog>>, Fatal> {
    path.map(|p| KeyLog::open(p).map(Arc::new).map_err(usage))
        .transpose()
}

/// A suite by IANA name (any case, with or without the proto enum's
/// `CIPHER_SUITE_` prefix) or hex code point.
fn parse_suite(s: &str) -> Result<CipherSuite, String> {
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("CIPHER_SUITE_").unwrap_or(&upper);
    if let Some(hex) = name.strip_prefix("0X") {
        return u16::from_str_radix(hex, 16)
            .map(CipherSuite)
            .map_err(|_| format!("{s:?} is not a two-byte hex code point"));
    }
    handshake::suites::ALL_SUITES
        .iter()
        .map(|p| p.suite)
        .find(|c| c.name() == Some(name))
        .ok_or_else(|| {
            let known: Vec<_> = handshake::suites::ALL_SUITES
                .iter()
                .filter_map(|p| p.suite.name())
                .collect();
            format!("unknown cipher suite; known: {}", known.join(", "))
        })
}

/// A group by name (x25519, secp256r1, secp384r1) or hex code point.
fn parse_group(s: &str) -> Result<NamedGroup, String> {
    let lower = s.trim().to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u16::from_str_radix(hex, 16)
            .map(NamedGroup)
            .map_err(|_| format!("{s:?} is not a two-byte hex code point"));
    }
    handshake::config::DEFAULT_GROUPS
        .iter()
        .copied()
        .find(|g| g.name() == Some(lower.as_str()))
        .ok_or_else(|| "unknown group; known: x25519, secp256r1, secp384r1".to_owned())
}
