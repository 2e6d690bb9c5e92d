//! The command line: `server-svc [serve] [FLAGS]` and `server-svc pki init`.
//! Every flag can also be set by an environment variable (`SERVER_SVC_*`),
//! for Kubernetes; a flag given on the command line wins.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use handshake::{CipherSuite, SuitePreference};

/// The TLS 1.2 server of the handshake lab, over gRPC
/// (handshake.v1.HandshakeService).
///
/// With no subcommand it serves, as `server-svc serve` would.
#[derive(Debug, Parser)]
#[command(name = "server-svc", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flags of `serve`, for when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// What to run: a plain `server-svc` serves.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }

    /// Whether logs are to be JSON lines (only `serve` has the flag).
    pub fn log_json(&self) -> bool {
        match &self.command {
            Some(Command::Serve(args)) => args.log_json,
            Some(Command::Pki(_)) => false,
            None => self.serve.log_json,
        }
    }
}

// Parsed once at start and moved, never stored in bulk: the size of the
// serve variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve handshake.v1.HandshakeService, gRPC health and reflection.
    Serve(ServeArgs),
    /// Manage the lab PKI (CA and server certificates).
    // Without a subcommand: a one-line "requires a subcommand" error
    // rather than the whole help.
    #[command(arg_required_else_help = false)]
    Pki(PkiArgs),
}

/// Flags of `server-svc serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for gRPC (plaintext HTTP/2).
    #[arg(long, env = "SERVER_SVC_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// Also accept real TLS 1.2 over TCP on this address (RFC 5246
    /// records), driving the same engine with the same certificates: after
    /// the handshake, any request is answered with a small HTML page naming
    /// the negotiated suite and the steps (`curl --tlsv1.2 --cacert ca.pem
    /// https://localhost:PORT/`). Off by default.
    #[arg(long, env = "SERVER_SVC_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,

    /// Directory of the lab PKI used when no certificate flag is given:
    /// created there on first start (CA, RSA and ECDSA certificates for
    /// localhost, 127.0.0.1, ::1 and the host name), reused afterwards.
    #[arg(long, env = "SERVER_SVC_PKI_DIR", default_value = "./pki")]
    pub pki_dir: PathBuf,

    /// RSA server certificate chain, PEM (server certificate first). Used
    /// by the TLS_RSA_* and TLS_ECDHE_RSA_* suites. Needs --rsa-key.
    #[arg(long, env = "SERVER_SVC_RSA_CERT", requires = "rsa_key")]
    pub rsa_cert: Option<PathBuf>,

    /// Private key of --rsa-cert, unencrypted PKCS#8 PEM.
    #[arg(long, env = "SERVER_SVC_RSA_KEY", requires = "rsa_cert")]
    pub rsa_key: Option<PathBuf>,

    /// ECDSA (P-256 or P-384) server certificate chain, PEM. Used by the
    /// TLS_ECDHE_ECDSA_* suites. Needs --ecdsa-key.
    #[arg(long, env = "SERVER_SVC_ECDSA_CERT", requires = "ecdsa_key")]
    pub ecdsa_cert: Option<PathBuf>,

    /// Private key of --ecdsa-cert, unencrypted PKCS#8 PEM.
    #[arg(long, env = "SERVER_SVC_ECDSA_KEY", requires = "ecdsa_cert")]
    pub ecdsa_key: Option<PathBuf>,

    /// Enable only these cipher suites, by IANA name, in the server's
    /// order of preference (repeat the flag or separate with commas).
    /// Default: all eight.
    #[arg(
        long = "suite",
        value_name = "NAME",
        env = "SERVER_SVC_SUITE",
        value_delimiter = ',',
        value_parser = str::parse::<CipherSuite>
    )]
    pub suites: Vec<CipherSuite>,

    /// Whose order picks the suite: the server's (its --suite order) or
    /// the client's (its ClientHello order).
    #[arg(long, env = "SERVER_SVC_PREFERENCE", value_enum, default_value_t = Preference::Server)]
    pub preference: Preference,

    /// Refuse RFC 7627's extended master secret even when the client
    /// offers it.
    #[arg(long, env = "SERVER_SVC_NO_EXTENDED_MASTER_SECRET", value_parser = BoolishValueParser::new())]
    pub no_extended_master_secret: bool,

    /// Seconds a stream may stay without a message from the client before
    /// the session is closed with gRPC status DEADLINE_EXCEEDED (after a
    /// user_canceled alert) and its state freed. On --tls-listen: the time a
    /// connection has to complete the handshake from accept, and then to
    /// send its request (else a user_canceled alert and the close).
    #[arg(
        long,
        env = "SERVER_SVC_HANDSHAKE_TIMEOUT",
        value_name = "SECS",
        default_value_t = 10,
        value_parser = parse_timeout
    )]
    pub handshake_timeout: u64,

    /// Seconds a handshake may take in all, from the stream's start (on
    /// --tls-listen: from accept) to the client's Finished, however busy
    /// the client keeps it (a warning alert every few seconds resets the
    /// idle timeout, not this). Past it the session ends with a fatal
    /// user_canceled alert, then over gRPC DEADLINE_EXCEEDED (with
    /// `tls-alert` and `tls-step`), on --tls-listen the close.
    #[arg(
        long,
        env = "SERVER_SVC_HANDSHAKE_DEADLINE",
        value_name = "SECS",
        default_value_t = DEFAULT_HANDSHAKE_DEADLINE,
        value_parser = parse_timeout
    )]
    pub handshake_deadline: u64,

    /// Seconds that sessions in flight get to finish after SIGTERM/SIGINT
    /// before they are cut.
    #[arg(
        long,
        env = "SERVER_SVC_GRACE_PERIOD",
        value_name = "SECS",
        default_value_t = 10
    )]
    pub grace_period: u64,

    /// Sessions that may run at once, gRPC streams and --tls-listen
    /// connections together. Beyond it a new Connect stream gets
    /// RESOURCE_EXHAUSTED at once (not queued), a new TLS connection a
    /// fatal internal_error alert and the close. A waiting session holds
    /// about 20 KB (19.2 to 21.0 KB measured in release builds): the
    /// default is about 200 MB of sessions.
    #[arg(
        long,
        env = "SERVER_SVC_MAX_SESSIONS",
        value_name = "N",
        default_value_t = service_runtime::limits::DEFAULT_MAX_SESSIONS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_sessions: usize,

    /// Largest gRPC message received or sent, in bytes; a larger one ends
    /// its stream with OUT_OF_RANGE. The default takes the largest
    /// ClientHello the engine accepts (131,396 bytes, about 217 KB as
    /// protobuf), so no stream can make the server buffer megabytes.
    #[arg(
        long,
        env = "SERVER_SVC_MAX_MESSAGE_SIZE",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_MESSAGE_SIZE,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_message_size: usize,

    /// Seconds between HTTP/2 PINGs on a connection with nothing to send,
    /// to find clients that vanished without closing; 0: no keepalive.
    #[arg(
        long,
        env = "SERVER_SVC_KEEPALIVE_INTERVAL",
        value_name = "SECS",
        default_value_t = service_runtime::limits::DEFAULT_KEEPALIVE_INTERVAL
    )]
    pub keepalive_interval: u64,

    /// Seconds a keepalive PING may go unanswered before the connection
    /// is closed.
    #[arg(
        long,
        env = "SERVER_SVC_KEEPALIVE_TIMEOUT",
        value_name = "SECS",
        default_value_t = service_runtime::limits::DEFAULT_KEEPALIVE_TIMEOUT,
        value_parser = parse_timeout
    )]
    pub keepalive_timeout: u64,

    /// Seconds after which a client connection gets an HTTP/2 GOAWAY, so
    /// long-lived clients reconnect and are balanced again over the
    /// replicas there are now; 0: connections live on.
    #[arg(
        long,
        env = "SERVER_SVC_MAX_CONNECTION_AGE",
        value_name = "SECS",
        default_value_t = service_runtime::limits::DEFAULT_MAX_CONNECTION_AGE
    )]
    pub max_connection_age: u64,

    /// Seconds the sessions still open on a connection past its maximum
    /// age get to finish before it is closed; 0: as long as they take.
    #[arg(
        long,
        env = "SERVER_SVC_MAX_CONNECTION_AGE_GRACE",
        value_name = "SECS",
        default_value_t = service_runtime::limits::DEFAULT_MAX_CONNECTION_AGE_GRACE
    )]
    pub max_connection_age_grace: u64,

    /// Log one JSON object per line instead of text (level from RUST_LOG,
    /// default info).
    #[arg(long, env = "SERVER_SVC_LOG_JSON", value_parser = BoolishValueParser::new())]
    pub log_json: bool,

    /// Lab: append every session's NSS key log line (`CLIENT_RANDOM <client
    /// random> <master secret>`, the SSLKEYLOGFILE format Wireshark reads)
    /// to FILE, created with mode 0600. The file holds secrets: anyone who
    /// reads it can decrypt the sessions. Off by default.
    #[arg(long, env = "SERVER_SVC_KEY_LOG", value_name = "FILE")]
    pub key_log: Option<PathBuf>,

    /// Lab: send a wrong server Finished (flip a bit of verify_data); the
    /// client answers decrypt_error at step 12.
    #[arg(long, env = "SERVER_SVC_LAB_CORRUPT_FINISHED", value_parser = BoolishValueParser::new())]
    pub lab_corrupt_finished: bool,

    /// Lab: choose a suite the client did not offer; the client answers
    /// illegal_parameter at step 2.
    #[arg(long, env = "SERVER_SVC_LAB_CHOOSE_UNOFFERED_SUITE", value_parser = BoolishValueParser::new())]
    pub lab_choose_unoffered_suite: bool,

    /// Lab: corrupt the ServerKeyExchange signature (ECDHE suites); the
    /// client answers decrypt_error.
    #[arg(long, env = "SERVER_SVC_LAB_CORRUPT_SIGNATURE", value_parser = BoolishValueParser::new())]
    pub lab_corrupt_signature: bool,
}

/// Default `--handshake-deadline`, seconds: a handshake is a few round
/// trips, well under a second even to a distant client; thirty seconds
/// leave room for a person typing at `openssl s_client` and still free a
/// session that a client holds open with warning alerts long before the
/// connection's maximum age would.
pub const DEFAULT_HANDSHAKE_DEADLINE: u64 = 30;

/// Default `--max-message-size`: 256 KiB. The largest ClientHello RFC
/// 5246 allows (`handshake::msgs::handshake::MAX_CLIENT_HELLO_LEN`,
/// 131,396 bytes) grows in protobuf (a suite is a varint of up to 3 bytes,
/// an extension item carries tags and lengths) to about 217 KB; every
/// other message is far smaller.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024;

impl ServeArgs {
    /// The HTTP/2 and message limits these flags set.
    pub fn limits(&self) -> service_runtime::limits::Limits {
        service_runtime::limits::Limits::from_secs(
            self.max_message_size,
            self.keepalive_interval,
            self.keepalive_timeout,
            self.max_connection_age,
            self.max_connection_age_grace,
        )
    }
}

/// Whose order decides the cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preference {
    Server,
    Client,
}

impl From<Preference> for SuitePreference {
    fn from(p: Preference) -> Self {
        match p {
            Preference::Server => SuitePreference::Server,
            Preference::Client => SuitePreference::Client,
        }
    }
}

#[derive(Debug, Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub command: PkiCommand,
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Write a lab CA and an RSA-2048 and an ECDSA P-256 server
    /// certificate: ca.pem, ca.key, rsa.pem, rsa.key, ecdsa.pem, ecdsa.key
    /// (keys PKCS#8 PEM, mode 0600).
    Init(PkiInitArgs),
}

/// Flags of `server-svc pki init`.
#[derive(Debug, Args)]
pub struct PkiInitArgs {
    /// Directory to write the six files into (created if needed).
    #[arg(long, env = "SERVER_SVC_PKI_OUT", value_name = "DIR")]
    pub out: PathBuf,

    /// Name the server certificates are valid for: a DNS name, or an IP
    /// address (repeat the flag or separate with commas).
    #[arg(
        long = "name",
        value_name = "NAME",
        env = "SERVER_SVC_PKI_NAME",
        value_delimiter = ',',
        required = true
    )]
    pub names: Vec<String>,

    /// Replace files that already exist.
    #[arg(long, env = "SERVER_SVC_PKI_FORCE", value_parser = BoolishValueParser::new())]
    pub force: bool,
}

/// A whole number of seconds, at least 1.
fn parse_timeout(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of seconds".into()),
    }
}

/// A clap error as the one line `main` prints: its first paragraph, lines
/// joined, without the usage and tips that follow.
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = if first.starts_with("error:") {
        first
    } else {
        format!("error: {first}")
    };
    format!("{line} (see server-svc --help)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_serves_and_suites_split_on_commas() {
        let cli = Cli::try_parse_from([
            "server-svc",
            "--listen",
            "127.0.0.1:1",
            "--suite",
            "TLS_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve expected");
        };
        assert_eq!(args.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(args.suites.len(), 2);
    }

    #[test]
    fn limits_have_defaults_and_zero_turns_ages_off() {
        let Command::Serve(args) = Cli::try_parse_from(["server-svc"]).unwrap().into_command()
        else {
            panic!("serve expected");
        };
        assert_eq!(
            args.max_sessions,
            service_runtime::limits::DEFAULT_MAX_SESSIONS
        );
        assert_eq!(args.handshake_deadline, DEFAULT_HANDSHAKE_DEADLINE);
        let limits = args.limits();
        assert_eq!(limits.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(
            limits.max_connection_age,
            Some(std::time::Duration::from_secs(300))
        );
        let cli = Cli::try_parse_from([
            "server-svc",
            "--max-sessions",
            "3",
            "--max-message-size",
            "4096",
            "--keepalive-interval",
            "0",
            "--max-connection-age",
            "0",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve expected");
        };
        assert_eq!(args.max_sessions, 3);
        let limits = args.limits();
        assert_eq!(limits.max_message_size, 4096);
        assert_eq!(limits.keepalive_interval, None);
        assert_eq!(limits.max_connection_age, None);
        for bad in [
            ["--max-sessions", "0"],
            ["--max-message-size", "0"],
            ["--keepalive-timeout", "0"],
            ["--handshake-deadline", "0"],
        ] {
            let err = Cli::try_parse_from(["server-svc", bad[0], bad[1]]).unwrap_err();
            let line = one_line(&err);
            assert!(line.contains(bad[0]), "{line}");
        }
    }

    #[test]
    fn usage_errors_are_one_line() {
        let err = Cli::try_parse_from(["server-svc", "--bogus"]).unwrap_err();
        let line = one_line(&err);
        assert!(line.starts_with("error: "), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let err = Cli::try_parse_from(["server-svc", "pki", "init", "--name", "x"]).unwrap_err();
        let line = one_line(&err);
        assert!(line.contains("--out"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
