//! End-to-end test harness: server-svc and client-svc as real processes on
//! loopback ports, driven over gRPC.
//!
//! Each test binary (`tests/*.rs`) builds the two services once (`cargo
//! build -p server-svc -p client-svc`, into the target dir the tests run
//! from), then every test starts the processes it needs: each on a free
//! 127.0.0.1 port, in a temp dir of its own (server-svc's default `./pki`
//! is created there on first start), ready once grpc.health.v1 answers
//! SERVING. A [`Service`] kills its process when dropped; when a test
//! fails, the stderr of every process it started is printed.
//!
//! Every wait is bounded: starting ([`process::START_TIMEOUT`]), each gRPC
//! call or stream message ([`grpc::CALL_TIMEOUT`]), each command run.
//! Nothing listens beyond loopback.
//!
//! # Layout
//!
//! ```text
//! lib.rs      Lab (a server-svc and a client-svc pointed at it), suites, step names, report checks
//! process.rs  building the binaries, child processes, free ports, temp dirs, bounded commands
//! grpc.rs     channels, health, reflection, status helpers, raw Connect streams driven by the engine
//! ```
//!
//! Run with `cargo test -p e2e` (or the README's test command).

#![forbid(unsafe_code)]

pub mod grpc;
pub mod process;

use std::path::{Path, PathBuf};

use proto::pb;
use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;
use tonic::transport::Channel;

pub use process::{Binaries, Output, Service, binaries, run_bounded, temp_dir};

/// The name the lab certificates are checked against.
pub const SERVER_NAME: &str = "localhost";

/// The thirteen steps of `docs/DESIGN.md`, in order.
pub const STEP_NAMES: [&str; 13] = [
    "Client Hello",
    "Server Hello",
    "Server Certificate",
    "Server Hello Done",
    "Client Verification",
    "Gen pre-master",
    "Client Key Exchange",
    "Gen secret key",
    "Change Cipher Spec",
    "Encrypted Handshake Message",
    "Change Cipher Spec",
    "Encrypted Handshake Message",
    "Finish",
];

/// The eight suites of `docs/DESIGN.md`.
pub const SUITES: [pb::CipherSuite; 8] = [
    pb::CipherSuite::TlsRsaWithAes128GcmSha256,
    pb::CipherSuite::TlsRsaWithAes256GcmSha384,
    pb::CipherSuite::TlsEcdheRsaWithAes128GcmSha256,
    pb::CipherSuite::TlsEcdheRsaWithAes256GcmSha384,
    pb::CipherSuite::TlsEcdheRsaWithChacha20Poly1305Sha256,
    pb::CipherSuite::TlsEcdheEcdsaWithAes128GcmSha256,
    pb::CipherSuite::TlsEcdheEcdsaWithAes256GcmSha384,
    pb::CipherSuite::TlsEcdheEcdsaWithChacha20Poly1305Sha256,
];

/// A suite's IANA name, e.g. "TLS_RSA_WITH_AES_128_GCM_SHA256" (the
/// command lines' spelling).
pub fn suite_name(suite: pb::CipherSuite) -> &'static str {
    let n = suite.as_str_name();
    n.strip_prefix("CIPHER_SUITE_").unwrap_or(n)
}

/// Starts server-svc (`serve ARGS --listen ...`) in a temp dir of its own.
pub async fn start_server(args: &[&str]) -> Service {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    Service::start("server-svc", &binaries().server, &all).await
}

/// The lab CA certificate of a server-svc started without `--pki-dir`.
pub fn ca_of(server: &Service) -> PathBuf {
    server.dir().join("pki").join("ca.pem")
}

/// Starts client-svc serving, pointed at `server` with its lab CA and
/// [`SERVER_NAME`], plus `extra` flags.
pub async fn start_client(server: &Service, extra: &[&str]) -> Service {
    let ca = ca_of(server);
    let ca = ca.to_str().expect("temp paths are UTF-8");
    let url = server.url();
    let mut args = vec![
        "serve",
        "--server",
        &url,
        "--ca",
        ca,
        "--server-name",
        SERVER_NAME,
    ];
    args.extend_from_slice(extra);
    Service::start("client-svc", &binaries().client, &args).await
}

/// A server-svc and a client-svc that talks to it.
pub struct Lab {
    pub server: Service,
    pub client: Service,
}

impl Lab {
    /// Both services with default flags.
    pub async fn start() -> Lab {
        Lab::with_server_args(&[]).await
    }

    /// server-svc with `args` (e.g. a lab fault), client-svc pointed at it.
    pub async fn with_server_args(args: &[&str]) -> Lab {
        let server = start_server(args).await;
        let client = start_client(&server, &[]).await;
        Lab { server, client }
    }

    /// The lab CA server-svc created.
    pub fn ca(&self) -> PathBuf {
        ca_of(&self.server)
    }

    /// A HandshakeClientService client for client-svc.
    pub async fn handshake_client(&self) -> HandshakeClientServiceClient<Channel> {
        HandshakeClientServiceClient::new(self.client.channel().await)
    }
}

/// Session options: the given suites (empty: all) and application message;
/// server and name left to client-svc's defaults.
pub fn options(suites: &[pb::CipherSuite], message: &str) -> pb::SessionOptions {
    pb::SessionOptions {
        cipher_suites: suites.iter().map(|&s| s as i32).collect(),
        application_message: message.to_string(),
        ..Default::default()
    }
}

/// Runs one unary Handshake through client-svc.
pub async fn handshake(
    client: &mut HandshakeClientServiceClient<Channel>,
    options: pb::SessionOptions,
) -> Result<pb::HandshakeReport, tonic::Status> {
    let resp = grpc::bounded(
        "HandshakeClientService.Handshake",
        client.handshake(pb::HandshakeRequest {
            options: Some(options),
        }),
    )
    .await?;
    Ok(resp
        .into_inner()
        .report
        .expect("HandshakeResponse carries a report"))
}

/// Asserts the thirteen steps, numbered 1 to 13, named as in
/// `docs/DESIGN.md`, in order.
pub fn assert_thirteen_steps(steps: &[pb::HandshakeStep]) {
    let got: Vec<(u32, &str)> = steps.iter().map(|s| (s.number, s.name.as_str())).collect();
    let want: Vec<(u32, &str)> = (1..=13).zip(STEP_NAMES).collect();
    assert_eq!(got, want, "the report's steps");
    for s in steps {
        assert!(
            s.failure.is_none(),
            "step {} failed: {:?}",
            s.number,
            s.failure
        );
    }
}

/// Asserts a successful session: thirteen steps, `suite` negotiated, the
/// echo of `message` as the reply.
pub fn assert_success(report: &pb::HandshakeReport, suite: pb::CipherSuite, message: &str) {
    assert!(
        report.success,
        "{}: session failed: {:?}",
        suite_name(suite),
        report.failure
    );
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_thirteen_steps(&report.steps);
    let negotiated = report
        .negotiated
        .as_ref()
        .expect("the report has negotiated parameters");
    assert_eq!(
        negotiated.cipher_suite(),
        suite,
        "negotiated suite for an offer of only {}",
        suite_name(suite)
    );
    assert_eq!(report.application_message, message);
    assert_eq!(report.reply, format!("echo: {message}"));
}

/// `path` as a &str (temp paths are UTF-8).
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
