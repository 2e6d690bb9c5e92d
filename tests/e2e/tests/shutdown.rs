//! SIGTERM drains server-svc: health turns NOT_SERVING, a session in flight
//! completes, and the process exits by itself well within the grace period.

use std::time::Duration;

use e2e::grpc::{HealthWatch, RawSession, bounded};
use e2e::{SERVER_NAME, ca_of, start_server};

/// Long enough that an exit only at its end fails the test's exit wait.
const GRACE_SECS: u64 = 60;
/// How long the drained server may take to exit by itself.
const EXIT_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn sigterm_drains_sessions_in_flight_then_exits() {
    let grace = GRACE_SECS.to_string();
    let mut server = start_server(&["--grace-period", &grace]).await;

    // Watch health first: it must say SERVING now.
    let watch = HealthWatch::serving(server.channel().await).await;

    // A session in flight: ClientHello sent, ServerHello received.
    let mut session = RawSession::open(server.channel().await, &ca_of(&server), SERVER_NAME).await;
    session.step().await;
    assert!(!session.engine.is_handshake_complete());

    server.terminate();

    // Health turns NOT_SERVING (or the Watch stream ends).
    watch.assert_not_serving().await;

    // The session in flight completes and still exchanges data.
    session.complete_handshake().await;
    assert_eq!(session.echo("draining").await, "echo: draining");
    session.stream.close_send();
    let end = bounded("the end of the drained session", session.stream.recv()).await;
    assert!(
        !matches!(end, Ok(Some(_))),
        "a message after the client closed its side: {end:?}"
    );
    drop(session);

    let status = server.wait_exit(EXIT_WITHIN).await.unwrap_or_else(|| {
        panic!(
            "server-svc still running {EXIT_WITHIN:?} after its last session ended \
                 (grace period {GRACE_SECS} s)"
        )
    });
    assert!(
        status.success(),
        "server-svc exited with {status} after SIGTERM"
    );
}
