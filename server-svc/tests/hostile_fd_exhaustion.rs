//! Out of file descriptors, server-svc backs off instead of spinning on
//! accept (issue 11, defect 6: tonic's TcpIncoming retried at once, 100%
//! CPU, until the connections closed): each listener logs the failure once
//! per episode, not once per try, uses next to no CPU meanwhile, and
//! accepts again once descriptors are free, so new sessions complete over
//! gRPC and over the TLS front.
//!
//! server-svc runs as a process under `ulimit -n` [`NOFILE`]; idle TCP
//! connections use up its descriptors. Nothing here is timed: the
//! assertions count log lines, bound CPU ticks far above what backing off
//! costs, and wait (boundedly) for recovery.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::process::ServerProcess;
use common::{PATIENCE, client_config, new_client, run_session_at};
use handshake::CipherSuite;
use handshake::{Deframer, encode_records};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

/// server-svc's descriptor limit: it holds about 13 at rest.
const NOFILE: u32 = 64;

/// Idle connections opened to use them up: well beyond the limit.
const IDLE: usize = 96;

const FAILED: &str = "accept failed";
const RECOVERED: &str = "accepting connections again";

/// A whole TLS handshake with the engine's client over TCP.
async fn tls_handshake(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = new_client(client_config(&[
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ]));
    let mut deframer = Deframer::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut out = Vec::new();
        while let Some(m) = client.poll_transmit() {
            encode_records(&m, &mut out).map_err(|e| e.to_string())?;
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))?;
        if let Some(e) = client.failure() {
            return Err(format!("{e}"));
        }
        if client.is_handshake_complete() {
            return Ok(());
        }
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .map_err(|_| "no answer in time".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the handshake completed".into());
        }
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().map_err(|e| format!("deframe: {e}"))? {
            client.handle(m);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn out_of_descriptors_it_backs_off_logs_once_and_recovers() {
    // Long timeouts: the idle connections must not be freed by server-svc
    // itself while the test holds them.
    let server = ServerProcess::start(
        &["--tls-listen", "127.0.0.1:0", "--handshake-timeout", "300"],
        Some(NOFILE),
    )
    .await;
    let tls = server.tls.expect("the TLS front's address");

    // Idle gRPC connections until server-svc cannot accept any more (the
    // kernel still completes them: they wait in the listen queue).
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(server.grpc).await.expect("connect"));
    }
    assert!(
        server.wait_for(&[FAILED, "listener=\"gRPC\""]).await,
        "no log line saying that the gRPC listener cannot accept"
    );
    // One more on the TLS front: it cannot accept it either.
    idle.push(TcpStream::connect(tls).await.expect("connect"));
    assert!(
        server.wait_for(&[FAILED, "listener=\"TLS front\""]).await,
        "no log line saying that the TLS front cannot accept"
    );

    // The episode goes on for a while: still one line per listener, and
    // almost no CPU (spinning on accept would take a whole core: about
    // 100 ticks a second).
    let ticks = server.cpu_ticks();
    sleep(Duration::from_secs(2)).await;
    let spent = server.cpu_ticks() - ticks;
    eprintln!("{spent} ticks of CPU in 2 s out of descriptors");
    assert_eq!(server.count(&[FAILED]), 2, "one line per listener");
    assert!(
        spent < 60,
        "{spent} ticks of CPU in 2 s while out of descriptors"
    );

    // Descriptors free again: both listeners accept, a session completes
    // on each.
    drop(idle);
    assert!(
        server.wait_for(&[RECOVERED, "listener=\"gRPC\""]).await,
        "the gRPC listener did not say it accepts again"
    );
    let outcome = run_session_at(server.grpc, client_config(&[]), b"ping").await;
    assert_eq!(
        outcome.log.reply.as_deref(),
        Some(&b"echo: ping"[..]),
        "a gRPC session after the episode: {:?}",
        outcome.log.status
    );
    tls_handshake(tls)
        .await
        .expect("a TLS handshake after the episode");
    assert!(
        server
            .wait_for(&[RECOVERED, "listener=\"TLS front\""])
            .await,
        "the TLS front did not say it accepts again"
    );
    assert_eq!(server.count(&[FAILED]), 2, "no more failures");
}
