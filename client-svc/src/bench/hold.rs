//! `client-svc bench hold`.
//!
//! `--sessions N` opens N sessions against server-svc, each stopped after the
//! server's first flight (steps 1 to 4: ServerHelloDone received, server-svc
//! waiting for the client's key exchange), `--concurrency` opening at a
//! time. Once all are held it prints one line
//! `{"mode":"hold","held":N,"target":...,"suite":...,"connections":C,"elapsed_s":...}`,
//! keeps them open until SIGINT/SIGTERM or `--hold-for` seconds, then
//! closes them (ends every request stream) and exits 0. The server's
//! messages are counted, not checked: the point is the server's memory, not
//! the client's verdict. HTTP/2 caps concurrent streams per connection
//! (tonic's server sets no cap by default, hyper's is 200, a proxy may set
//! 100), so held sessions are spread over one connection per
//! `--streams-per-connection` (default 100): 10,000 sessions are 100
//! connections, 100 file descriptors on each side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use handshake::SystemRng;
use handshake::msgs::enums::HandshakeType;
use handshake::{Connection, Message};
use rustls_pki_types::UnixTime;
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::{Settings, Tally, targets};
use crate::error::{Error, Result};
use crate::session::{SessionError, Target};
use crate::transport::{Incoming, Transport};

/// How long closing the held streams may take before exit.
const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// One session parked after ServerHelloDone: its open Connect stream.
/// Dropping it ends the request stream, and server-svc ends the session.
struct Held {
    _transport: Transport,
}

/// Runs `bench hold`: opens `n` sessions, prints the JSON line once all
/// are held, holds them for `hold_for` (or until SIGINT/SIGTERM).
pub async fn run(settings: Settings, n: u64, hold_for: Option<Duration>) -> Result<()> {
    let targets = targets(&settings.server, n, settings.streams_per_connection)?;
    if targets[0].is_tls() {
        return Err(Error::Usage(
            "bench hold needs server-svc (http://host:port), not a tls:// server".into(),
        ));
    }
    let spec = Arc::new(settings);
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let targets = Arc::new(targets);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..u64::from(spec.concurrency).min(n) {
        let (spec, next, targets) = (spec.clone(), next.clone(), targets.clone());
        tasks.spawn(async move {
            let mut held = Vec::new();
            let mut tally = Tally::new();
            let mut unreachable = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                // Session i rides connection i mod C: equal shares.
                let target = targets[(i % targets.len() as u64) as usize].clone();
                match hold_one(target, &spec).await {
                    Ok(h) => held.push(h),
                    Err(Error::Unreachable(msg)) => {
                        tally.error(msg.clone());
                        unreachable = Some(msg);
                    }
                    Err(e) => tally.error(e.to_string()),
                }
            }
            (held, tally, unreachable)
        });
    }
    let mut held = Vec::new();
    let mut tally = Tally::new();
    let mut unreachable = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((h, t, u)) => {
                held.extend(h);
                tally.merge(t);
                unreachable = unreachable.or(u);
            }
            Err(e) => tally.error(format!("an opener ended abnormally: {e}")),
        }
    }
    if held.is_empty()
        && let Some(msg) = unreachable
    {
        return Err(Error::Unreachable(msg));
    }
    if tally.errors > 0 {
        return Err(Error::Tls(format!(
            "{} of {n} sessions could not be held; first: {}",
            tally.errors,
            tally.first_errors.first().map_or("", String::as_str)
        )));
    }
    let line = json!({
        "mode": "hold",
        "held": held.len(),
        "target": spec.server,
        "suite": spec.suite,
        "connections": targets.len(),
        "elapsed_s": start.elapsed().as_secs_f64(),
    });
    println!("{line}");

    match hold_for {
        Some(d) => tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = service_runtime::serve::shutdown_signal() => {}
        },
        None => service_runtime::serve::shutdown_signal().await,
    }
    // Dropping a session ends its request stream; the frames saying so go
    // out with the connection's task, so give it a moment before the
    // process exits (else server-svc sees broken connections instead).
    drop(held);
    tokio::time::sleep(CLOSE_GRACE).await;
    Ok(())
}

/// Opens one session and reads the server's first flight up to
/// ServerHelloDone; the stream stays open in the returned [`Held`].
async fn hold_one(target: Target, spec: &Settings) -> Result<Held> {
    let failed = Error::Tls;
    let mut client = Connection::client(
        spec.config.clone(),
        spec.server_name.clone(),
        UnixTime::now(),
        Box::new(SystemRng),
    )
    .map_err(|e| failed(format!("cannot make a ClientHello: {e}")))?;
    let mut transport = Transport::new(target);
    while let Some(msg) = client.poll_transmit() {
        transport
            .send(msg)
            .map_err(|e| failed(format!("cannot send the ClientHello: {e}")))?;
    }
    let deadline = Instant::now() + spec.timeout;
    transport
        .open(
            &spec.server,
            &service_runtime::new_session_id(),
            deadline,
            spec.timeout,
        )
        .await
        .map_err(|e| match e {
            SessionError::Unreachable(m) => Error::Unreachable(m),
            other => failed(other.to_string()),
        })?;
    loop {
        let incoming = timeout_at(deadline, transport.recv()).await.map_err(|_| {
            failed(format!(
                "no ServerHelloDone within {} s",
                spec.timeout.as_secs_f64()
            ))
        })?;
        match incoming {
            Incoming::Message(Ok(Message::Handshake(m)))
                if m.typ() == HandshakeType::SERVER_HELLO_DONE =>
            {
                return Ok(Held {
                    _transport: transport,
                });
            }
            Incoming::Message(Ok(Message::Handshake(_))) => {}
            Incoming::Message(Ok(other)) => {
                return Err(failed(format!(
                    "server-svc sent {} before ServerHelloDone",
                    other.content_type()
                )));
            }
            Incoming::Message(Err(e)) => return Err(failed(format!("server-svc sent {e}"))),
            Incoming::End(why) => return Err(failed(why)),
            Incoming::Status(status) => {
                return Err(failed(format!(
                    "server-svc ended the stream with {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
        }
    }
}
