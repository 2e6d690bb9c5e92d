//! Several server-svc replicas without a cluster: three server-svc
//! processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (one lab PKI), and one
//! client-svc balancing over them with `--server ipv4:...`. Under load
//! every replica serves a share; SIGKILL on one mid-load loses only the
//! sessions in flight on it, which fail fast with UNAVAILABLE, while the
//! calls after it succeed; SIGTERM on another turns its health
//! NOT_SERVING, lets its session in flight finish, and it exits.
//!
//! Every call has a deadline ([`CALL_TIMEOUT`], far below client-svc's
//! session timeout) and all of them return; the only times checked are
//! such "did not hang" bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::grpc::{CALL_TIMEOUT, HealthWatch, RawSession, bounded, brief};
use e2e::{SERVER_NAME, Service, binaries, options, path_str, run_bounded, temp_dir};
use proto::pb;
use proto::pb::handshake_client_service_client::HandshakeClientServiceClient;
use tokio::sync::Mutex;
use tonic::Code;
use tonic::transport::Channel;

/// client-svc's session timeout: a session that hung would end only
/// then, far beyond [`CALL_TIMEOUT`], so a hang fails the test.
const SESSION_TIMEOUT: &str = "120";
/// Calls at once: enough that some are likely in flight on the replica
/// killed (client-svc/tests/balance.rs makes one certainly in flight, in
/// process).
const WORKERS: usize = 12;
/// How soon a session lost with its replica must have failed.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// One Handshake call through client-svc: when it started and ended, and
/// its status code.
#[derive(Debug)]
struct Call {
    start: Instant,
    end: Instant,
    result: Result<(), (Code, String)>,
}

/// Runs one Handshake call, within [`CALL_TIMEOUT`] (panics beyond).
async fn call(api: &mut HandshakeClientServiceClient<Channel>) -> Call {
    let start = Instant::now();
    let result = bounded(
        "Handshake through client-svc",
        api.handshake(pb::HandshakeRequest {
            options: Some(options(&[], "replicas")),
        }),
    )
    .await;
    let result = match result {
        Ok(resp) => {
            let report = resp.into_inner().report.expect("a report");
            assert_eq!(report.reply, "echo: replicas");
            Ok(())
        }
        Err(s) => Err((s.code(), brief(&s))),
    };
    Call {
        start,
        end: Instant::now(),
        result,
    }
}

/// Calls from [`WORKERS`] tasks at once until `stop` is set.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(api: &HandshakeClientServiceClient<Channel>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..WORKERS)
            .map(|_| {
                let (stop, calls, mut api) = (stop.clone(), calls.clone(), api.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let c = call(&mut api).await;
                        calls.lock().await.push(c);
                    }
                })
            })
            .collect();
        Load { stop, calls, tasks }
    }

    /// Waits until `n` calls more than `after` have ended.
    async fn wait_calls(&self, after: usize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.calls.lock().await.len() < after + n {
            assert!(Instant::now() < deadline, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn len(&self) -> usize {
        self.calls.lock().await.len()
    }

    /// Stops the load (each worker ends its call first) and returns every
    /// call made.
    async fn stop(self) -> Vec<Call> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("a load worker panicked");
        }
        Arc::try_unwrap(self.calls)
            .expect("the workers are done")
            .into_inner()
    }
}

/// Sessions a replica ran, from its log (one `session ended` line each).
fn sessions_started(replica: &Service) -> usize {
    replica.stderr().matches("session ended").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "full tier (./scripts/test.sh): a load through real processes"]
async fn client_svc_balances_over_three_replicas_and_survives_their_end() {
    // One lab PKI for the three replicas.
    let pki = temp_dir("replicas-pki");
    let out = run_bounded(
        &binaries().server,
        &[
            "pki",
            "init",
            "--out",
            path_str(&pki),
            "--name",
            "localhost",
        ],
        Duration::from_secs(60),
    )
    .await;
    assert!(out.status.success(), "pki init: {}", out.stderr);
    let mut replicas = Vec::new();
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let args = ["serve", "--pki-dir", path_str(&pki), "--grace-period", "60"];
        replicas.push(Service::start_on("server-svc", &binaries().server, &args, host).await);
    }
    let targets: Vec<String> = replicas.iter().map(Service::addr).collect();
    let server = format!("ipv4:{}", targets.join(","));
    let ca = pki.join("ca.pem");
    let client = Service::start(
        "client-svc",
        &binaries().client,
        &[
            "serve",
            "--server",
            &server,
            "--ca",
            path_str(&ca),
            "--server-name",
            SERVER_NAME,
            "--timeout",
            SESSION_TIMEOUT,
        ],
    )
    .await;
    let api = HandshakeClientServiceClient::new(client.channel().await);

    // 1. Under load, every replica serves a share.
    let load = Load::start(&api);
    load.wait_calls(0, 30).await;
    let calls = load.stop().await;
    for c in &calls {
        assert!(
            c.result.is_ok(),
            "a call failed with every replica up: {c:?}"
        );
    }
    let shares: Vec<usize> = replicas.iter().map(sessions_started).collect();
    assert_eq!(shares.iter().sum::<usize>(), calls.len(), "{shares:?}");
    for (i, share) in shares.iter().enumerate() {
        // Round-robin: a third each; a sixth is generous.
        assert!(
            *share >= calls.len() / 6,
            "replica {i} served {share} of {} sessions: {shares:?}",
            calls.len()
        );
    }

    // 2. SIGKILL on one mid-load. Besides client-svc's sessions, one held
    // by the test itself is in flight on it for sure.
    let load = Load::start(&api);
    load.wait_calls(0, 12).await;
    let mut held = RawSession::open(replicas[0].channel().await, &ca, SERVER_NAME).await;
    held.step().await;
    let kill_at = Instant::now();
    replicas[0].kill();
    let dead_at = Instant::now();
    // What the replica sent before it died may still come; then the end.
    let end = loop {
        match held.stream.recv().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        end.is_err(),
        "the held session ended cleanly after SIGKILL: {end:?}"
    );
    assert!(
        kill_at.elapsed() < FAIL_FAST,
        "the held session took long to fail"
    );
    drop(held);
    let before = load.len().await;
    load.wait_calls(before, 30).await;
    let calls = load.stop().await;
    let mut lost = 0;
    for c in &calls {
        match &c.result {
            Ok(()) => {}
            Err((code, why)) => {
                // Only a session in flight on the killed replica may fail,
                // fast, with UNAVAILABLE.
                assert_eq!(*code, Code::Unavailable, "{why}");
                assert!(
                    c.start < dead_at,
                    "a call started after the kill failed: {why}"
                );
                assert!(
                    c.end < kill_at + FAIL_FAST,
                    "a lost session took {:?} after the kill to fail: {why}",
                    c.end - kill_at
                );
                lost += 1;
            }
        }
    }
    assert!(
        lost <= WORKERS,
        "{lost} calls failed; at most {WORKERS} were in flight"
    );
    let after: Vec<&Call> = calls.iter().filter(|c| c.start > dead_at).collect();
    assert!(after.len() >= 20, "{} calls after the kill", after.len());
    assert!(after.iter().all(|c| c.result.is_ok()));

    // 3. SIGTERM on another: health NOT_SERVING, its session in flight
    // finishes, the process exits; client-svc goes on with the last one.
    let draining = &mut replicas[1];
    let watch = HealthWatch::serving(draining.channel().await).await;
    let mut in_flight = RawSession::open(draining.channel().await, &ca, SERVER_NAME).await;
    in_flight.step().await;
    assert!(!in_flight.engine.is_handshake_complete());

    draining.terminate();
    watch.assert_not_serving().await;
    let mut api_after = api.clone();
    for _ in 0..6 {
        let c = call(&mut api_after).await;
        assert!(
            c.result.is_ok(),
            "a call while one replica drains and one is dead: {c:?}"
        );
    }
    in_flight.complete_handshake().await;
    assert_eq!(in_flight.echo("draining").await, "echo: draining");
    in_flight.stream.close_send();
    let _ = bounded("the end of the drained session", in_flight.stream.recv()).await;
    drop(in_flight);
    let status = draining
        .wait_exit(CALL_TIMEOUT)
        .await
        .expect("the draining replica exits once its session ended");
    assert!(status.success(), "it exited with {status}");
    assert!(
        replicas[2].try_exit().is_none(),
        "the last replica still runs"
    );
}
