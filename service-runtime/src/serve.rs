//! What both services do around their own gRPC service: gRPC health and
//! reflection, the HTTP/2 limits, and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::accept::Acceptor;
use crate::deadline::Deadlined;
use crate::limits::Limits;

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            // Without a SIGTERM handler, Ctrl-C still works.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `routes` (the service named `name`, e.g.
/// `Routes::new(HandshakeServiceServer::new(svc))` and
/// `HandshakeServiceServer::<Svc>::NAME`), gRPC health (grpc.health.v1) and
/// server reflection (v1 and v1alpha) on `listener` until `shutdown`
/// resolves, with the HTTP/2 keepalive and connection age of `limits`
/// (the message size is set on the service itself, in `routes`). Then
/// health turns NOT_SERVING, the server stops accepting, and sessions in
/// flight get up to `grace` to finish before the rest are cut.
pub async fn serve(
    routes: Routes,
    name: &'static str,
    listener: TcpListener,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), String> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, name, ServingStatus::Serving).await;
    let reflection = |b: tonic_reflection::server::Builder<'static>| {
        b.register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = reflection(tonic_reflection::server::Builder::configure())
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    let v1alpha = reflection(tonic_reflection::server::Builder::configure())
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?;
    let routes = routes
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = limits
        .apply(tonic::transport::Server::builder())
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener, limits), async {
            let _ = stop_rx.await;
        });
    tokio::pin!(server);
    tokio::select! {
        done = &mut server => return done.map_err(|e| format!("server failed: {e}")),
        () = shutdown => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "shutting down: draining sessions"
    );
    set_all(&reporter, name, ServingStatus::NotServing).await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(done) => done.map_err(|e| format!("server failed: {e}")),
        Err(_) => {
            tracing::warn!("grace period over: cutting the sessions still open");
            Ok(())
        }
    }
}

/// Accepted connections, with a backoff while accepting fails (not
/// tonic's `TcpIncoming`, which retries at once: 100% CPU while out of
/// file descriptors; see [`Acceptor`]), and with TCP_NODELAY: a handshake
/// is a ping-pong of small messages, and Nagle's algorithm against delayed
/// ACKs would add 40 ms to some steps. Each ends by itself after the
/// maximum age and its grace ([`Deadlined`]).
fn incoming(
    listener: TcpListener,
    limits: &Limits,
) -> impl tokio_stream::Stream<Item = std::io::Result<Deadlined>> {
    use tokio_stream::StreamExt as _;
    let lifetime = limits.connection_deadline();
    Acceptor::new(listener, "gRPC")
        .into_stream()
        .map(move |accepted| {
            accepted.map(|io| {
                // Only fails if the socket is already gone: hyper finds out.
                let _ = io.set_nodelay(true);
                Deadlined::new(io, lifetime)
            })
        })
}

async fn set_all(reporter: &HealthReporter, name: &str, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(name, status).await;
}
