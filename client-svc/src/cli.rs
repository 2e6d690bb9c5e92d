//! The command line: `client-svc serve`, `client-svc handshake`, and the
//! load generator's `client-svc bench load` and `client-svc bench hold`.
//! Every flag can also be set by an environment variable, for Kubernetes:
//! `CLIENT_SVC_` and its name (`bench`'s own: `CLIENT_SVC_BENCH_`), see
//! `service_runtime::cli::env`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use handshake::{CipherSuite, NamedGroup};
use service_runtime::cli::{ServiceArgs, env};

use crate::session::DEFAULT_MESSAGE;

/// The TLS 1.2 client: run handshakes against server-svc (or a real TLS 1.2
/// server) and see each of the thirteen steps.
#[derive(Parser, Debug)]
#[command(name = "client-svc", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve handshake.v1.HandshakeClientService (plus health and reflection).
    Serve(ServeArgs),
    /// Run one session against server-svc (or a real TLS server) and print its steps.
    Handshake(HandshakeArgs),
    /// Load server-svc (or a real TLS server) with concurrent sessions
    /// (`bench load`), or hold sessions open after ServerHelloDone
    /// (`bench hold`).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Where the server is and whom to trust: shared by all commands.
#[derive(Args, Debug)]
#[command(mut_args(env("CLIENT_SVC_")))]
pub struct TargetArgs {
    /// server-svc's URL (http://HOST:PORT), its replicas by gRPC name
    /// (dns:///HOST:PORT: every address HOST resolves to, looked up again
    /// periodically; ipv4:ADDR:PORT[,ADDR:PORT...] or
    /// ipv6:[ADDR]:PORT[,...]: these), balanced round-robin per session;
    /// or tls://HOST:PORT for a real TLS 1.2 server over TCP (e.g. openssl
    /// s_server, an HTTPS site).
    #[arg(long, default_value = "http://127.0.0.1:50051", value_name = "URL")]
    pub server: String,
    /// PEM file of the CA that server certificates must chain to.
    #[arg(long, default_value = "./pki/ca.pem", value_name = "FILE")]
    pub ca: PathBuf,
    /// The name the server's certificate must match (DNS name or IP).
    #[arg(long, default_value = "localhost", value_name = "NAME")]
    pub server_name: String,
    /// Lab: show the session secrets (pre-master, master secret, keys, IVs,
    /// key log line) in reports. Never in production.
    #[arg(long)]
    pub lab_show_secrets: bool,
    /// Lab: append each session's NSS key log line (CLIENT_RANDOM
    /// <client_random> <master_secret>, what Wireshark reads) to FILE,
    /// created with mode 0600. The file holds secrets that decrypt the
    /// sessions: never in production.
    #[arg(long, value_name = "FILE")]
    pub key_log: Option<PathBuf>,
    /// Deadline of one session, in seconds.
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub timeout: u64,
}

/// Where `/metrics` is served unless `--metrics-listen` says otherwise.
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9465";

#[derive(Args, Debug)]
#[command(mut_args(env("CLIENT_SVC_")))]
#[command(mut_arg("metrics_listen", |a| a.default_value(DEFAULT_METRICS_LISTEN)))]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:50052", value_name = "ADDR")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub target: TargetArgs,
    // Its keepalive also pings the channels to server-svc, there even
    // while idle (`balance.rs`).
    #[command(flatten)]
    pub service: ServiceArgs,
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
    pub allow_servers: Vec<String>,
    /// Seconds between lookups of a dns: --server: new replicas get
    /// sessions from then on, gone ones no more.
    #[arg(
        long,
        default_value_t = crate::balance::DEFAULT_RESOLVE_INTERVAL,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub resolve_interval: u64,
}

#[derive(Args, Debug)]
#[command(mut_args(env("CLIENT_SVC_")))]
pub struct HandshakeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Offer only this suite (IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    /// or its hex code point, e.g. 0xc02f); repeat for more, in order.
    /// Default: every suite.
    #[arg(
        long = "suite",
        value_delimiter = ',',
        value_name = "NAME",
        value_parser = str::parse::<CipherSuite>
    )]
    pub suites: Vec<CipherSuite>,
    /// Offer only this group (x25519, secp256r1, secp384r1); repeatable.
    #[arg(
        long = "group",
        value_delimiter = ',',
        value_name = "NAME",
        value_parser = parse_group
    )]
    pub groups: Vec<NamedGroup>,
    /// The application message sent after the handshake (for an HTTPS
    /// server, a request such as $'GET / HTTP/1.0\r\n\r\n').
    #[arg(long, default_value = DEFAULT_MESSAGE, value_name = "TEXT")]
    pub message: String,
    /// Print the report as proto3 JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Lab: flip a bit of the client's Finished (server-svc answers decrypt_error).
    #[arg(long)]
    pub lab_corrupt_finished: bool,
    /// Lab: flip a byte of the application record (server-svc answers bad_record_mac).
    #[arg(long)]
    pub lab_corrupt_record: bool,
    /// Lab: do not offer the extended master secret (RFC 7627).
    #[arg(long)]
    pub lab_disable_ems: bool,
}

/// `client-svc bench`: what to do with the sessions.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Run whole sessions, --concurrency at a time, for --duration seconds
    /// or --count sessions, and print sessions/s and latency percentiles
    /// as one JSON line.
    Load(LoadArgs),
    /// Open --sessions sessions to server-svc, stop each after
    /// ServerHelloDone, and keep them open (server-svc's memory per
    /// waiting session).
    Hold(HoldArgs),
}

/// The flags both `bench` modes take.
#[derive(Args, Debug)]
#[command(mut_args(env("CLIENT_SVC_BENCH_")))]
pub struct BenchArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Offer only this suite (as for `handshake`). Default: every suite,
    /// and the server picks.
    #[arg(long, value_name = "NAME", value_parser = str::parse::<CipherSuite>)]
    pub suite: Option<CipherSuite>,
    /// Sessions in flight at once (hold: sessions being opened at once).
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub concurrency: u32,
    /// server-svc: HTTP/2 streams per connection; workers (or held
    /// sessions) are spread over one connection per this many.
    #[arg(
        long,
        default_value_t = 100,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub streams_per_connection: u32,
}

/// Flags of `client-svc bench load`: exactly one of --duration, --count.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("stop").required(true).args(["duration", "count"])))]
#[command(mut_args(env("CLIENT_SVC_BENCH_")))]
pub struct LoadArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Run for this many seconds (after the warm-up).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Run this many sessions (after the warm-up).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub count: Option<u64>,
    /// Seconds of sessions run first and left out of the numbers.
    #[arg(
        long,
        default_value = "1",
        value_name = "SECS",
        value_parser = parse_secs_or_zero
    )]
    pub warm_up: Duration,
    /// The application message of each session (for an HTTPS server, a
    /// request such as $'GET / HTTP/1.0\r\n\r\n').
    #[arg(long, default_value = DEFAULT_MESSAGE, value_name = "TEXT")]
    pub message: String,
}

/// Flags of `client-svc bench hold`.
#[derive(Args, Debug)]
#[command(mut_args(env("CLIENT_SVC_BENCH_")))]
pub struct HoldArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Open N sessions to server-svc, each stopped after ServerHelloDone,
    /// and keep them open.
    #[arg(
        long,
        env = "CLIENT_SVC_BENCH_HOLD",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub sessions: u64,
    /// Close the sessions after this many seconds (default: on
    /// SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_zero)]
    pub hold_for: Option<Duration>,
}

/// A group by name (x25519, secp256r1, secp384r1) or hex code point.
fn parse_group(s: &str) -> Result<NamedGroup, String> {
    let lower = s.trim().to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u16::from_str_radix(hex, 16)
            .map(NamedGroup)
            .map_err(|_| format!("{s:?} is not a two-byte hex code point"));
    }
    handshake::DEFAULT_GROUPS
        .iter()
        .copied()
        .find(|g| g.name() == Some(lower.as_str()))
        .ok_or_else(|| "unknown group; known: x25519, secp256r1, secp384r1".to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::load::{Load, Stop};
    use crate::error::Error;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// What `client-svc bench ARGS` asks for, parsed and checked as `run`
    /// does.
    #[derive(Debug, PartialEq)]
    enum Bench {
        Load { load: Load, concurrency: u32 },
        Hold(u64, Option<Duration>),
    }

    /// `client-svc bench ARGS` as clap alone takes it.
    fn parse(args: &[&str]) -> Result<Command, String> {
        let argv = ["client-svc", "bench"]
            .into_iter()
            .chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|cli| cli.command)
            .map_err(|e| service_runtime::cli::one_line(&e, "client-svc"))
    }

    fn bench(args: &[&str]) -> Result<Bench, String> {
        match parse(args)? {
            Command::Bench(BenchCommand::Load(a)) => Ok(Bench::Load {
                load: a.load().map_err(|e| e.to_string())?,
                concurrency: a.bench.concurrency,
            }),
            Command::Bench(BenchCommand::Hold(a)) => Ok(Bench::Hold(a.sessions, a.hold_for)),
            other => panic!("not bench: {other:?}"),
        }
    }

    fn load(stop: Stop, concurrency: u32) -> Bench {
        Bench::Load {
            load: Load {
                stop,
                warm_up: Duration::from_secs(1),
                message: DEFAULT_MESSAGE.into(),
            },
            concurrency,
        }
    }

    #[test]
    fn load_takes_exactly_one_of_duration_count_and_hold_its_own_flags() {
        assert_eq!(
            bench(&["load", "--count", "20", "--concurrency", "4"]),
            Ok(load(Stop::Count(20), 4))
        );
        assert_eq!(
            bench(&["load", "--duration", "2.5"]),
            Ok(load(Stop::Duration(Duration::from_millis(2500)), 16))
        );
        assert_eq!(
            bench(&["hold", "--sessions", "50", "--hold-for", "1"]),
            Ok(Bench::Hold(50, Some(Duration::from_secs(1))))
        );
        assert_eq!(
            bench(&["hold", "--sessions", "10000"]),
            Ok(Bench::Hold(10_000, None))
        );

        for bad in [
            &[][..],
            &["load"],
            &["load", "--concurrency", "4"],
            &["load", "--count", "20", "--duration", "1"],
            &["load", "--count", "20", "--hold", "5"],
            &["load", "--count", "5", "--hold-for", "1"],
            &["hold"],
            &["hold", "--hold-for", "1"],
            &["hold", "--sessions", "5", "--count", "1"],
            &["hold", "--sessions", "5", "--warm-up", "1"],
            &["hold", "--sessions", "5", "--message", "hi"],
            // The syntax before the subcommands.
            &["--count", "20"],
            &["--hold", "5"],
        ] {
            // clap itself refuses them: no check after it decides.
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let missing = parse(&["load"]).unwrap_err();
        assert!(
            missing.contains("--duration") && missing.contains("--count"),
            "{missing}"
        );
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        for bad in [
            &["load", "--count", "0"][..],
            &["load", "--count", "-1"],
            &["load", "--duration", "0"],
            &["load", "--duration", "-1"],
            &["load", "--duration", "soon"],
            &["load", "--count", "5", "--concurrency", "0"],
            &["load", "--count", "5", "--streams-per-connection", "0"],
            &["load", "--count", "5", "--warm-up", "-1"],
            &["hold", "--sessions", "0"],
            &["hold", "--sessions", "5", "--concurrency", "0"],
            &["hold", "--sessions", "5", "--hold-for", "x"],
        ] {
            let err = bench(bad).expect_err(&format!("{bad:?} was accepted"));
            assert!(err.starts_with("error: ") && !err.contains('\n'), "{err}");
        }
        let Ok(Bench::Load { load, .. }) = bench(&["load", "--count", "5", "--warm-up", "0"])
        else {
            panic!("--warm-up 0 was refused");
        };
        assert_eq!(load.warm_up, Duration::ZERO);
    }

    #[test]
    fn a_load_without_exactly_one_stop_is_a_usage_error() {
        let argv = ["client-svc", "bench", "load", "--count", "1"];
        let Command::Bench(BenchCommand::Load(mut args)) = Cli::parse_from(argv).command else {
            panic!("bench load expected");
        };
        args.count = None;
        let Err(Error::Usage(why)) = args.load() else {
            panic!("neither --count nor --duration was accepted");
        };
        assert!(why.contains("--count"), "{why}");
        args.count = Some(1);
        args.duration = Some(Duration::from_secs(1));
        assert!(matches!(args.load(), Err(Error::Usage(_))));
    }
}
