//! server-svc: the TLS 1.2 server of the handshake lab, as the gRPC service
//! `handshake.v1.HandshakeService`.
//!
//! One `Connect` stream is one TLS 1.2 session: the client sends the
//! handshake messages as `ConnectRequest`s, a `handshake::Connection`
//! (server role) answers with `ConnectResponse`s. After the handshake each
//! application_data record from the client is answered with one record
//! holding `"echo: "` followed by the same bytes. Every failure sends the
//! TLS alert on the stream and then ends it with the gRPC status of
//! `proto::status::to_status` (code by kind of alert, `tls-alert` and
//! `tls-step` metadata); a stream idle for `--handshake-timeout` seconds,
//! or whose handshake is not done `--handshake-deadline` seconds after it
//! started, ends with DEADLINE_EXCEEDED. The process also serves gRPC health and
//! reflection (`service_runtime::serve`). Limits keep load from taking it down
//! (`service_runtime::limits`): at most `--max-sessions` sessions at once (beyond,
//! RESOURCE_EXHAUSTED at once), `--max-message-size`, HTTP/2 keepalive, and
//! a maximum connection age so that long-lived clients rebalance.
//!
//! With `--tls-listen` the same engine and configuration also serve real
//! TLS 1.2 over TCP (`tls_front.rs`): curl or `openssl s_client` complete a
//! handshake and get a small page naming the suite. With `--key-log` every
//! session's NSS key log line (gRPC and TLS front alike) is appended to a
//! file, for Wireshark.
//!
//! # Layout
//!
//! ```text
//! main.rs     flags -> tracing -> run(); errors as one `error: ...` line, exit 1
//! lib.rs      run(): `serve` and `pki init`
//! cli.rs      the command line (clap), every flag also a SERVER_SVC_* variable
//! config.rs   serve's flags -> the engine's ServerConfig
//! certs.rs    PEM certificate chains and PKCS#8 keys, checked, errors naming the file
//! pki.rs      the lab PKI (rcgen): CA, RSA and ECDSA server certificates
//! service.rs  HandshakeService (tonic): Connect opens a session; serve() with health + reflection
//! session.rs  one session's task: requests -> engine -> responses, alerts, status, idle timeout
//! tls_front.rs --tls-listen: TLS records over TCP -> the same engine; an HTTP page after the handshake
//! steps.rs    every engine event to the session's SessionWatch; the key log at step 8
//! error.rs    the process's own error type
//! ```

#![forbid(unsafe_code)]

pub mod certs;
pub mod cli;
pub mod config;
pub mod error;
pub mod pki;
pub mod service;
pub mod session;
mod steps;
pub mod tls_front;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use service_runtime::exporter;
use service_runtime::keylog::KeyLog;
use service_runtime::metrics::{Metrics, Service};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

pub use error::{Error, Result};
pub use service::{HandshakeService, serve};
pub use session::{ECHO_PREFIX, LiveSessions};

use cli::{Command, PkiCommand, ServeArgs};
use config::{KeySource, usable_suites};
use pki::Provenance;

/// Runs the command the flags name.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => run_serve(&args).await,
        Command::Pki(pki) => match pki.command {
            PkiCommand::Init(args) => {
                let lab = pki::init(&args.out, &args.names, args.force)?;
                println!(
                    "lab PKI written to {}; clients trust {}",
                    lab.dir().display(),
                    lab.ca_cert().display()
                );
                Ok(())
            }
        },
    }
}

/// `server-svc serve`: load or make the certificates, listen, serve until
/// SIGTERM or SIGINT, then drain for the grace period.
pub async fn run_serve(args: &ServeArgs) -> Result<()> {
    let (server, source) = config::server_config(args)?;
    if let KeySource::LabPki {
        ca_cert,
        provenance,
    } = &source
    {
        let what = match provenance {
            Provenance::Created => "created a lab PKI",
            Provenance::Reused => "using the lab PKI",
        };
        // The one line a student needs: what client-svc must trust.
        println!(
            "{what} in {}; clients trust the CA in {}",
            args.pki_dir.display(),
            ca_cert.display()
        );
    }
    let faults = server.faults;
    if faults.any() {
        warn!(
            corrupt_finished = faults.corrupt_finished,
            choose_unoffered_suite = faults.choose_unoffered_suite,
            corrupt_signature = faults.corrupt_signature,
            "LAB FAULTS ON: this server breaks handshakes on purpose"
        );
    }
    let usable = usable_suites(&server);
    for suite in &server.cipher_suites {
        if !usable.contains(suite) {
            warn!(%suite, "suite enabled but no certificate of its key type: it will never be chosen");
        }
    }
    let key_log = match &args.key_log {
        Some(path) => {
            let log = KeyLog::open(path).map_err(Error::Other)?;
            warn!(
                path = %path.display(),
                "KEY LOG ON: every session's master secret is appended to this file; \
                 anyone who can read it can decrypt the sessions"
            );
            Some(Arc::new(log))
        }
        None => None,
    };
    let (listener, local) = bind(args.listen).await?;
    let (metrics, _) = exporter::start(args.service.metrics_listen, Metrics::new(Service::Server))
        .await
        .map_err(Error::Other)?;
    let tls_listener = match args.tls_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let (limits, max_sessions) = (args.service.limits(), args.service.max_sessions);
    let idle = Duration::from_secs(args.handshake_timeout);
    let deadline = Duration::from_secs(args.handshake_deadline);
    let grace_period = Duration::from_secs(args.service.grace_period);
    info!(
        listen = %local,
        suites = %service_runtime::logging::List(&usable),
        preference = ?server.preference,
        extended_master_secret = server.extended_master_secret,
        handshake_timeout_secs = args.handshake_timeout,
        handshake_deadline_secs = args.handshake_deadline,
        grace_period_secs = args.service.grace_period,
        max_sessions,
        max_message_size = limits.max_message_size,
        keepalive_interval_secs = limits.keepalive_interval.map(|d| d.as_secs()),
        max_connection_age_secs = limits.max_connection_age.map(|d| d.as_secs()),
        "server-svc listening"
    );
    // One budget for the process: gRPC sessions and TLS front connections
    // cost the same memory and CPU.
    let live = LiveSessions::with_max(max_sessions);
    let service = HandshakeService::new(Arc::new(server), idle)
        .with_handshake_deadline(deadline)
        .with_key_log(key_log)
        .with_sessions(live)
        .with_metrics(metrics);

    // One SIGTERM/SIGINT stops both listeners.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        service_runtime::serve::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let grpc = serve(
        listener,
        service.clone(),
        &limits,
        stopped(stop_rx.clone()),
        grace_period,
    );
    match tls_listener {
        None => grpc.await,
        Some((listener, local)) => {
            info!(tls_listen = %local, "TLS front listening (real TLS 1.2 over TCP)");
            let tls = service.serve_tls(listener, stopped(stop_rx), grace_period);
            tokio::try_join!(grpc, tls).map(|_| ())
        }
    }
}

/// A listener on `addr`, and the address it is bound to (with port 0, the
/// one the system picked).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listen_error = |e| Error::other(format!("cannot listen on {addr}: {e}"));
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    Ok((listener, local))
}

/// Resolves once the shutdown signal has been seen.
async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only the end of the
    // runtime does: stop then too.
    let _ = rx.wait_for(|stop| *stop).await;
}
