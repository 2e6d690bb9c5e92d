//! What the command lines of both services share: the flags of a serving
//! process ([`ServiceArgs`]), the environment variable of every flag
//! ([`env`]), and `main`: the flags parsed, logs and traces, the runtime, and every
//! failure as one `error: ...` line ([`main`]).

use std::fmt;
use std::future::Future;
use std::process::ExitCode;

use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Args, Parser};

use crate::exporter::{MetricsListen, parse_listen};
use crate::limits::{self, Limits};

/// The flags `serve` of both services takes for its process and its
/// [`Limits`].
#[derive(Clone, Debug, Args)]
pub struct ServiceArgs {
    /// Log one JSON object per line instead of text (level from RUST_LOG,
    /// default info).
    #[arg(long)]
    pub log_json: bool,

    /// Seconds that sessions in flight get to finish after SIGTERM/SIGINT
    /// before they are cut.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub grace_period: u64,

    /// Sessions that may run at once; beyond it a new one is refused at
    /// once (RESOURCE_EXHAUSTED, not queued). A waiting session holds about
    /// 20 KB: the default is about 200 MB of sessions.
    #[arg(
        long,
        value_name = "N",
        default_value_t = limits::DEFAULT_MAX_SESSIONS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_sessions: usize,

    /// Largest gRPC message received or sent, in bytes; a larger one is
    /// refused with OUT_OF_RANGE.
    // The default, tonic's, leaves client-svc room for long application
    // messages and a real server's reply of up to 1 MiB in the report;
    // server-svc sets its own (`DEFAULT_MAX_MESSAGE_SIZE` there).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = Limits::default().max_message_size,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_message_size: usize,

    /// Seconds between HTTP/2 PINGs on a connection with nothing to send,
    /// to find a peer that vanished without closing; 0: no keepalive.
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_KEEPALIVE_INTERVAL)]
    pub keepalive_interval: u64,

    /// Seconds a keepalive PING may go unanswered before the connection
    /// is closed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = limits::DEFAULT_KEEPALIVE_TIMEOUT,
        value_parser = parse_timeout
    )]
    pub keepalive_timeout: u64,

    /// Seconds after which a connection gets an HTTP/2 GOAWAY, so
    /// long-lived callers reconnect and are balanced again over the
    /// replicas there are now; 0: connections live on.
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_MAX_CONNECTION_AGE)]
    pub max_connection_age: u64,

    /// Seconds the calls still open on a connection past its maximum age
    /// get to finish before it is closed; 0: as long as they take.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = limits::DEFAULT_MAX_CONNECTION_AGE_GRACE
    )]
    pub max_connection_age_grace: u64,

    /// Where to serve Prometheus/OpenMetrics metrics (`GET /metrics`), as
    /// IP:PORT, or `off` for none.
    // Each service sets its own default (server-svc 0.0.0.0:9464,
    // client-svc 0.0.0.0:9465) with mut_arg, as for --max-message-size.
    #[arg(
        long,
        value_name = "ADDR|off",
        default_value = "off",
        value_parser = parse_listen
    )]
    pub metrics_listen: MetricsListen,
}

impl ServiceArgs {
    /// The HTTP/2 and message limits these flags set.
    pub fn limits(&self) -> Limits {
        Limits::from_secs(
            self.max_message_size,
            self.keepalive_interval,
            self.keepalive_timeout,
            self.max_connection_age,
            self.max_connection_age_grace,
        )
    }
}

/// For `#[command(mut_args(env("PREFIX_")))]`: every flag without a
/// variable of its own gets PREFIX_ and its name (`--max-sessions`:
/// PREFIX_MAX_SESSIONS), and an on/off flag's variable takes true/false,
/// yes/no, on/off or 1/0. A flag given on the command line wins.
pub fn env(prefix: &'static str) -> impl FnMut(Arg) -> Arg {
    move |arg| {
        if arg.get_env().is_some() {
            return arg;
        }
        let name = arg.get_long().unwrap_or(arg.get_id().as_str());
        let var = format!("{prefix}{}", name.to_ascii_uppercase().replace('-', "_"));
        match arg.get_action() {
            ArgAction::SetTrue => arg.env(var).value_parser(BoolishValueParser::new()),
            _ => arg.env(var),
        }
    }
}

/// A whole number of seconds, at least 1.
pub fn parse_timeout(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of seconds".into()),
    }
}

/// A clap error as the one line `main` prints: its first paragraph (what
/// is wrong, and the missing flags when that is what is wrong), lines
/// joined; the usage after it is one `--help` away.
pub fn one_line(err: &clap::Error, command: &str) -> String {
    let text = err.render().to_string();
    let first = text.trim_start().split("\n\n").next().unwrap_or_default();
    let words: Vec<_> = first
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = words.join(" ");
    let line = match line.starts_with("error:") {
        true => line,
        false => format!("error: {line}"),
    };
    format!("{line} (see {command} --help)")
}

/// A service's `main`: parses `C` (`--help`, `--version`, and the help
/// shown for a missing subcommand are clap's to print; any other refusal
/// is one line and the status of `usage`), then `start` says whether to log
/// (`Some(json)`) and what to run. Tracing and the runtime failing to start
/// are `startup` errors; an error's line is printed after the logs.
pub fn main<C: Parser, E: fmt::Display, F: Future<Output = Result<(), E>>>(
    usage: impl FnOnce(String) -> E,
    startup: impl FnOnce(String) -> E,
    exit_code: impl Fn(&E) -> u8,
    start: impl FnOnce(C) -> (Option<bool>, F),
) -> ExitCode {
    let fail = |e: E| {
        eprintln!("error: {e}");
        ExitCode::from(exit_code(&e))
    };
    let (log_json, run) = match C::try_parse() {
        Ok(cli) => start(cli),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let line = one_line(&e, C::command().get_name());
            eprintln!("{line}");
            return ExitCode::from(exit_code(&usage(line)));
        }
    };
    // Built by hand rather than with #[tokio::main], which panics if the
    // runtime cannot start. Before the subscriber: the trace exporter's
    // gRPC channel is spawned on it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(startup(format!("cannot start the async runtime: {e}"))),
    };
    let name = C::command().get_name().to_owned();
    let mut log = {
        let _in = runtime.enter();
        match log_json
            .map(|json| crate::logging::init_tracing(json, &name))
            .transpose()
        {
            Ok(guard) => guard,
            Err(e) => return fail(startup(e)),
        }
    };
    // SIGTERM and SIGINT end `run` (its graceful shutdown), so this is
    // also the way out after a signal.
    let result = runtime.block_on(run);
    // The spans still queued go out while the runtime, and with it the
    // exporter's connection, still runs.
    if let Some(log) = &mut log {
        log.shut_down_telemetry();
    }
    // The logs so far are written before the last error line.
    drop(runtime);
    drop(log);
    result.map_or_else(fail, |()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Subcommand};

    /// A service's flags as the services declare them: one exception
    /// keeps its own variable, a subcommand has a prefix of its own.
    #[derive(Debug, Parser)]
    #[command(name = "svc")]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        Serve(Serve),
    }

    #[derive(Debug, Args)]
    #[command(mut_args(env("SVC_")))]
    struct Serve {
        #[command(flatten)]
        service: ServiceArgs,
        #[arg(long = "allow", env = "SVC_ALLOWED")]
        allow: Vec<String>,
    }

    fn serve(args: &[&str]) -> Result<Serve, clap::Error> {
        let argv = ["svc", "serve"].into_iter().chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Cmd::Serve(s) => s,
        })
    }

    #[test]
    fn every_flag_gets_the_prefix_and_its_name_unless_it_has_one() {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let var = |id: &str| {
            let arg = serve.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_env().map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(var("max_sessions").as_deref(), Some("SVC_MAX_SESSIONS"));
        assert_eq!(var("log_json").as_deref(), Some("SVC_LOG_JSON"));
        assert_eq!(
            var("max_connection_age_grace").as_deref(),
            Some("SVC_MAX_CONNECTION_AGE_GRACE")
        );
        assert_eq!(var("allow").as_deref(), Some("SVC_ALLOWED"));
        // An on/off flag's variable also takes yes/no, on/off, 1/0.
        let log_json = serve.get_arguments().find(|a| a.get_id() == "log_json");
        let values = log_json.unwrap().get_value_parser().possible_values();
        let names: Vec<_> = values
            .into_iter()
            .flatten()
            .map(|v| v.get_name().to_owned())
            .collect();
        for text in ["yes", "no", "on", "off", "1", "0", "true", "false"] {
            assert!(names.iter().any(|n| n == text), "{text}: {names:?}");
        }
        cmd.debug_assert();
    }

    #[test]
    fn defaults_limits_and_refusals() {
        let args = serve(&[]).unwrap().service;
        assert!(!args.log_json);
        assert_eq!(args.grace_period, 10);
        assert_eq!(args.max_sessions, limits::DEFAULT_MAX_SESSIONS);
        assert_eq!(args.limits().max_message_size, 4 * 1024 * 1024);
        assert_eq!(args.metrics_listen, MetricsListen(None));
        let args = serve(&["--metrics-listen", "127.0.0.1:0"]).unwrap().service;
        assert_eq!(args.metrics_listen.to_string(), "127.0.0.1:0");
        assert!(serve(&["--metrics-listen", "9464"]).is_err());
        let args = serve(&["--keepalive-interval", "0", "--max-message-size", "9"]).unwrap();
        let limits = args.service.limits();
        assert_eq!(
            (limits.keepalive_interval, limits.max_message_size),
            (None, 9)
        );
        for bad in [
            "--max-sessions",
            "--max-message-size",
            "--keepalive-timeout",
        ] {
            let err = serve(&[bad, "0"]).unwrap_err();
            let line = one_line(&err, "svc");
            assert!(line.starts_with("error: ") && line.contains(bad), "{line}");
            assert!(line.ends_with(" (see svc --help)") && !line.contains('\n'));
        }
        let missing = Cli::try_parse_from(["svc"]).unwrap_err();
        assert!(!one_line(&missing, "svc").contains('\n'));
    }

    #[test]
    fn timeouts_are_whole_seconds_from_one() {
        assert_eq!(parse_timeout(" 5 "), Ok(5));
        assert!(parse_timeout("0").unwrap_err().contains("at least 1"));
        assert!(parse_timeout("1.5").unwrap_err().contains("whole number"));
    }
}
