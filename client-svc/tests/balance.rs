//! client-svc spreading sessions over server-svc replicas, in process:
//! stand-ins of server-svc on loopback ports, a resolver the test controls,
//! and the session driver (`session::run`) or the gRPC service on top.
//! Round-robin, re-resolution (an address appears, one disappears and gets
//! no more sessions), the one retry of a call that could not start, a
//! session lost with its replica (UNAVAILABLE, at once), and reconnection
//! after a replica's maximum connection age.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_svc::balance::{Balancer, ChannelOptions};
use client_svc::resolve::{BoxFuture, Resolve};
use client_svc::service::Settings;
use client_svc::session::{self, SessionError, SessionSpec, Target};
use common::{Proxy, lab};
use handshake::ClientConfig;
use proto::pb;
use rustls_pki_types::ServerName;
use service_runtime::limits::Limits;
use tonic::Code;

/// The longest any one wait of these tests may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// A resolver whose answer the test changes.
#[derive(Clone, Default)]
struct Swappable(Arc<Mutex<Vec<SocketAddr>>>);

impl Swappable {
    fn new(addrs: &[SocketAddr]) -> Self {
        let s = Self::default();
        s.set(addrs);
        s
    }

    fn set(&self, addrs: &[SocketAddr]) {
        *self.0.lock().unwrap() = addrs.to_vec();
    }
}

impl Resolve for Swappable {
    fn resolve(&self) -> BoxFuture<'_, Result<Vec<SocketAddr>, String>> {
        let addrs = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(addrs) })
    }
}

/// A stand-in replica: its address and the session ids it was asked for.
struct Replica {
    addr: SocketAddr,
    sessions: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    async fn start() -> Self {
        let (url, sessions) = common::start_recording_server(lab().server_config()).await;
        let addr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("the stand-in's URL is http://ADDR");
        Self { addr, sessions }
    }

    fn count(&self) -> usize {
        self.sessions.lock().unwrap().len()
    }
}

fn spec(timeout: Duration) -> SessionSpec {
    SessionSpec {
        server: "test replicas".to_owned(),
        config: ClientConfig::new(lab().verifier()),
        server_name: ServerName::try_from("localhost").unwrap(),
        message: b"hi".to_vec(),
        capture_secrets: false,
        key_log: None,
        timeout,
        metrics: service_runtime::metrics::Metrics::disabled(),
    }
}

/// Runs one session through `balancer`; its reply or error.
async fn session(balancer: &Balancer) -> Result<Vec<u8>, SessionError> {
    let outcome = tokio::time::timeout(
        PATIENCE,
        session::run(
            Target::Grpc(balancer.clone()),
            &spec(Duration::from_secs(10)),
            |_, _| {},
        ),
    )
    .await
    .expect("the session ends in time");
    outcome.result
}

async fn sessions_ok(balancer: &Balancer, n: usize) {
    for i in 0..n {
        match session(balancer).await {
            Ok(reply) => assert_eq!(reply, b"echo: hi"),
            Err(e) => panic!("session {i} failed: {e}"),
        }
    }
}

fn key(addr: SocketAddr) -> String {
    addr.to_string()
}

#[tokio::test]
async fn sessions_go_round_robin_and_follow_the_resolved_addresses() {
    let (a, b, c) = (
        Replica::start().await,
        Replica::start().await,
        Replica::start().await,
    );
    let resolver = Swappable::new(&[a.addr, b.addr]);
    let balancer = Balancer::resolving("test", resolver.clone(), false, ChannelOptions::default());
    sessions_ok(&balancer, 4).await;
    assert_eq!((a.count(), b.count(), c.count()), (2, 2, 0));

    // C appears, A disappears: A gets no more sessions.
    resolver.set(&[b.addr, c.addr]);
    balancer.refresh().await.expect("the lookup works");
    assert_eq!(balancer.keys(), vec![key(b.addr), key(c.addr)]);
    sessions_ok(&balancer, 4).await;
    assert_eq!((a.count(), b.count(), c.count()), (2, 4, 2));

    // A lookup with no address keeps the ones known.
    resolver.set(&[]);
    assert!(balancer.refresh().await.is_err());
    assert_eq!(balancer.keys(), vec![key(b.addr), key(c.addr)]);
    sessions_ok(&balancer, 2).await;
    assert_eq!((a.count(), b.count(), c.count()), (2, 5, 3));
}

#[tokio::test]
async fn a_resolving_balancer_looks_the_name_up_again_every_interval() {
    let (a, b) = (Replica::start().await, Replica::start().await);
    let resolver = Swappable::new(&[a.addr]);
    let options = ChannelOptions {
        resolve_interval: Duration::from_millis(50),
        ..ChannelOptions::default()
    };
    let balancer = Balancer::resolving("test", resolver.clone(), true, options);
    sessions_ok(&balancer, 1).await;
    resolver.set(&[b.addr]);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while balancer.keys() != vec![key(b.addr)] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not looked up again: {:?}",
            balancer.keys()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sessions_ok(&balancer, 2).await;
    assert_eq!((a.count(), b.count()), (1, 2));
}

#[tokio::test]
async fn a_call_that_cannot_connect_is_retried_once_on_another_replica() {
    let a = Replica::start().await;
    let dead = common::closed_port_url().await;
    let dead: SocketAddr = dead.trim_start_matches("http://").parse().unwrap();
    let balancer = Balancer::resolving(
        "test",
        Swappable::new(&[dead, a.addr]),
        false,
        ChannelOptions::default(),
    );
    // Every session succeeds: those sent to the dead address first went on
    // to A, and after the first refusal the dead one is passed over.
    sessions_ok(&balancer, 5).await;
    assert_eq!(a.count(), 5);
    assert_eq!(balancer.down(), vec![key(dead)]);

    // With every address dead, the session is unreachable: UNAVAILABLE.
    let all_dead = Balancer::resolving(
        "test",
        Swappable::new(&[dead]),
        false,
        ChannelOptions::default(),
    );
    match session(&all_dead).await {
        Err(SessionError::Unreachable(msg)) => {
            assert!(msg.contains(&key(dead)), "{msg}");
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_nothing_is_unreachable() {
    let target = "dns:///no-such-host.invalid:50051";
    let balancer = session::balancer(target, &ChannelOptions::default()).unwrap();
    match session(&balancer).await {
        Err(SessionError::Unreachable(msg)) => {
            assert!(
                msg.contains("no address for") && msg.contains(target),
                "{msg}"
            );
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_replica_at_its_session_limit_is_passed_for_another() {
    let a = Replica::start().await;
    let busy = common::start_busy_server().await;
    let balancer = Balancer::resolving(
        "test",
        Swappable::new(&[busy, a.addr]),
        false,
        ChannelOptions::default(),
    );
    sessions_ok(&balancer, 4).await;
    assert_eq!(a.count(), 4);
    assert!(balancer.down().is_empty(), "a busy replica is not down");

    // Only busy replicas: the caller gets RESOURCE_EXHAUSTED, through the
    // service too.
    let only_busy = format!("ipv4:{busy}");
    let mut client = common::start_client_svc(&only_busy, false).await;
    let status = client
        .handshake(pb::HandshakeRequest {
            options: Some(pb::SessionOptions::default()),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("maximum"), "{status:?}");
}

#[tokio::test]
async fn a_session_in_flight_on_a_replica_that_dies_fails_fast_with_unavailable() {
    // The replica never answers, so the session waits at step 2 until its
    // replica (here: the proxy in front of it) goes away.
    let silent = common::start_silent_server().await;
    let silent: SocketAddr = silent.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(silent).await;
    let mut client = common::start_client_svc_with(Settings {
        // A session timeout far beyond the wait below: only the replica's
        // death can end the session in time.
        timeout: Duration::from_secs(300),
        ..common::settings(&format!("ipv4:{}", proxy.addr), false)
    })
    .await;
    let call = tokio::spawn(async move {
        client
            .handshake(pb::HandshakeRequest {
                options: Some(pb::SessionOptions::default()),
            })
            .await
    });
    // The ClientHello went through: the session is in flight.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while proxy.forwarded.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing forwarded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.cut();
    let status = tokio::time::timeout(PATIENCE, call)
        .await
        .expect("the session fails fast, not at its timeout")
        .unwrap()
        .expect_err("the session failed");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let report = proto::status::report_from_status(&status).expect("the report in the details");
    let failure = report.failure.expect("the report names the failure");
    assert!(
        failure.reason.contains("connection to server-svc was lost"),
        "{failure:?}"
    );
    assert!(!failure.raised_by_server);
}

#[tokio::test]
async fn after_the_maximum_connection_age_sessions_reconnect_and_none_fails() {
    let limits = Limits {
        max_connection_age: Some(Duration::from_secs(1)),
        max_connection_age_grace: Some(Duration::from_secs(10)),
        ..Limits::default()
    };
    let (addr, peers) = common::start_served_server(lab().server_config(), limits).await;
    let balancer = Balancer::single(&format!("http://{addr}"), ChannelOptions::default()).unwrap();
    // Sessions one after another on the one channel, until the server has
    // seen them come over a second connection (the first got its GOAWAY).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut sessions = 0;
    loop {
        sessions_ok(&balancer, 1).await;
        sessions += 1;
        let mut distinct = peers.lock().unwrap().clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sessions} sessions over one connection, none after its maximum age"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A connection that went away is no sign of a dead replica.
    assert!(balancer.down().is_empty(), "{:?}", balancer.down());
}
