//! The command line: `server-svc [serve] [FLAGS]` and `server-svc pki init`.
//! Every flag can also be set by an environment variable, for Kubernetes:
//! `SERVER_SVC_` and its name (`pki init`'s: `SERVER_SVC_PKI_`), see
//! `service_runtime::cli::env`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use handshake::{CipherSuite, SuitePreference};
use service_runtime::cli::{ServiceArgs, env, parse_timeout};

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
#[command(mut_args(env("SERVER_SVC_")))]
#[command(mut_arg("max_message_size", |a| a.default_value(DEFAULT_MAX_MESSAGE_SIZE.to_string())))]
#[command(mut_arg("metrics_listen", |a| a.default_value(DEFAULT_METRICS_LISTEN)))]
pub struct ServeArgs {
    /// Address to listen on for gRPC (plaintext HTTP/2).
    #[arg(long, default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// Also accept real TLS 1.2 over TCP on this address (RFC 5246
    /// records), driving the same engine with the same certificates: after
    /// the handshake, any request is answered with a small HTML page naming
    /// the negotiated suite and the steps (`curl --tlsv1.2 --cacert ca.pem
    /// https://localhost:PORT/`). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,

    /// Directory of the lab PKI used when no certificate flag is given:
    /// created there on first start (CA, RSA and ECDSA certificates for
    /// localhost, 127.0.0.1, ::1 and the host name), reused afterwards.
    #[arg(long, default_value = "./pki")]
    pub pki_dir: PathBuf,

    /// RSA server certificate chain, PEM (server certificate first). Used
    /// by the TLS_RSA_* and TLS_ECDHE_RSA_* suites. Needs --rsa-key.
    #[arg(long, requires = "rsa_key")]
    pub rsa_cert: Option<PathBuf>,

    /// Private key of --rsa-cert, unencrypted PKCS#8 PEM.
    #[arg(long, requires = "rsa_cert")]
    pub rsa_key: Option<PathBuf>,

    /// ECDSA (P-256 or P-384) server certificate chain, PEM. Used by the
    /// TLS_ECDHE_ECDSA_* suites. Needs --ecdsa-key.
    #[arg(long, requires = "ecdsa_key")]
    pub ecdsa_cert: Option<PathBuf>,

    /// Private key of --ecdsa-cert, unencrypted PKCS#8 PEM.
    #[arg(long, requires = "ecdsa_cert")]
    pub ecdsa_key: Option<PathBuf>,

    /// Enable only these cipher suites, by IANA name, in the server's
    /// order of preference (repeat the flag or separate with commas).
    /// Default: all eight.
    #[arg(
        long = "suite",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = str::parse::<CipherSuite>
    )]
    pub suites: Vec<CipherSuite>,

    /// Whose order picks the suite: the server's (its --suite order) or
    /// the client's (its ClientHello order).
    #[arg(long, default_value = "server", value_parser = parse_preference())]
    pub preference: SuitePreference,

    /// Refuse RFC 7627's extended master secret even when the client
    /// offers it.
    #[arg(long)]
    pub no_extended_master_secret: bool,

    /// Seconds a stream may stay without a message from the client before
    /// the session is closed with gRPC status DEADLINE_EXCEEDED (after a
    /// user_canceled alert) and its state freed. On --tls-listen: the time a
    /// connection has to complete the handshake from accept, and then to
    /// send its request (else a user_canceled alert and the close).
    #[arg(
        long,
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
        value_name = "SECS",
        default_value_t = DEFAULT_HANDSHAKE_DEADLINE,
        value_parser = parse_timeout
    )]
    pub handshake_deadline: u64,

    // --max-sessions counts gRPC streams and --tls-listen connections
    // together; a TLS connection beyond it gets a fatal internal_error
    // alert and the close.
    #[command(flatten)]
    pub service: ServiceArgs,

    /// Lab: append every session's NSS key log line (`CLIENT_RANDOM <client
    /// random> <master secret>`, the SSLKEYLOGFILE format Wireshark reads)
    /// to FILE, created with mode 0600. The file holds secrets: anyone who
    /// reads it can decrypt the sessions. Off by default.
    #[arg(long, value_name = "FILE")]
    pub key_log: Option<PathBuf>,

    /// Lab: send a wrong server Finished (flip a bit of verify_data); the
    /// client answers decrypt_error at step 12.
    #[arg(long)]
    pub lab_corrupt_finished: bool,

    /// Lab: choose a suite the client did not offer; the client answers
    /// illegal_parameter at step 2.
    #[arg(long)]
    pub lab_choose_unoffered_suite: bool,

    /// Lab: corrupt the ServerKeyExchange signature (ECDHE suites); the
    /// client answers decrypt_error.
    #[arg(long)]
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

/// Where `/metrics` is served unless `--metrics-listen` says otherwise.
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9464";

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
#[command(mut_args(env("SERVER_SVC_PKI_")))]
pub struct PkiInitArgs {
    /// Directory to write the six files into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Name the server certificates are valid for: a DNS name, or an IP
    /// address (repeat the flag or separate with commas).
    #[arg(
        long = "name",
        value_name = "NAME",
        value_delimiter = ',',
        required = true
    )]
    pub names: Vec<String>,

    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// `server` or `client`: whose order picks the suite.
fn parse_preference() -> impl TypedValueParser<Value = SuitePreference> {
    PossibleValuesParser::new(["server", "client"]).map(|p| match p.as_str() {
        "client" => SuitePreference::Client,
        _ => SuitePreference::Server,
    })
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
            args.service.max_sessions,
            service_runtime::limits::DEFAULT_MAX_SESSIONS
        );
        assert_eq!(args.handshake_deadline, DEFAULT_HANDSHAKE_DEADLINE);
        let limits = args.service.limits();
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
        assert_eq!(args.service.max_sessions, 3);
        let limits = args.service.limits();
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
            let line = service_runtime::cli::one_line(&err, "server-svc");
            assert!(line.contains(bad[0]), "{line}");
        }
    }

    #[test]
    fn usage_errors_are_one_line() {
        let err = Cli::try_parse_from(["server-svc", "--bogus"]).unwrap_err();
        let line = service_runtime::cli::one_line(&err, "server-svc");
        assert!(line.starts_with("error: "), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let err = Cli::try_parse_from(["server-svc", "pki", "init", "--name", "x"]).unwrap_err();
        let line = service_runtime::cli::one_line(&err, "server-svc");
        assert!(line.contains("--out"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
