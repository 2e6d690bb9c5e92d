//! Accepting TCP connections without spinning when accept fails.
//!
//! `accept(2)` fails while the process is out of file descriptors (EMFILE)
//! or the system is (ENFILE), or the kernel is short of memory; the
//! connection stays queued, so the listener stays readable and an
//! immediate retry fails again at once: a loop at 100% CPU that starves
//! the sessions whose end would free descriptors (tonic's `TcpIncoming`
//! does exactly that). [`Acceptor`] waits instead, 5 ms after the first
//! failure, doubling up to 1 s (the policy of Go's `net/http` server), and
//! logs one warning per episode of failures and one line when accepting
//! works again, whatever the number of failed tries in between.
//!
//! A connection that was reset or aborted before it was accepted
//! (ECONNABORTED and the like) is not a failure of the listener: it is
//! skipped at once, as it consumed its queued connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The wait after the first failed accept of an episode.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(5);

/// The longest wait between two tries: what a pending connection may
/// wait longer than it had to once descriptors are free again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A listener whose [`accept`](Acceptor::accept) backs off while accepting
/// fails, instead of failing.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    /// Names the listener in log lines ("gRPC", "TLS front").
    name: &'static str,
    /// The episode of failures going on, if any.
    failing: Option<Episode>,
}

/// Consecutive failed accepts.
#[derive(Debug)]
struct Episode {
    failures: u64,
    since: Instant,
    backoff: Duration,
    /// No try before this.
    retry_at: Instant,
}

impl Acceptor {
    /// Accepts from `listener`; `name` says which in log lines.
    pub fn new(listener: TcpListener, name: &'static str) -> Self {
        Self {
            listener,
            name,
            failing: None,
        }
    }

    /// The next connection, waiting as long as it takes: failed accepts
    /// are retried after the backoff. Cancel-safe: a call dropped during
    /// the backoff leaves it in place for the next call.
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if let Some(episode) = &self.failing {
                tokio::time::sleep_until(episode.retry_at).await;
            }
            match self.listener.accept().await {
                Ok(accepted) => {
                    if let Some(episode) = self.failing.take() {
                        tracing::info!(
                            listener = self.name,
                            failed_accepts = episode.failures,
                            failing_secs = episode.since.elapsed().as_secs_f64(),
                            "accepting connections again"
                        );
                    }
                    return accepted;
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(listener = self.name, error = %e, "a connection ended before it was accepted");
                }
                Err(e) => self.failed(&e),
            }
        }
    }

    /// Counts a failed accept and sets when to try again; the first of an
    /// episode is logged, the others are not.
    fn failed(&mut self, e: &io::Error) {
        let now = Instant::now();
        match &mut self.failing {
            None => {
                tracing::warn!(
                    listener = self.name,
                    error = %e,
                    "accept failed; new connections wait (retrying with backoff up to {} s, logged again once accepting works)",
                    MAX_BACKOFF.as_secs_f64()
                );
                self.failing = Some(Episode {
                    failures: 1,
                    since: now,
                    backoff: FIRST_BACKOFF,
                    retry_at: now + FIRST_BACKOFF,
                });
            }
            Some(episode) => {
                episode.failures += 1;
                episode.backoff = (episode.backoff * 2).min(MAX_BACKOFF);
                episode.retry_at = now + episode.backoff;
                tracing::debug!(listener = self.name, error = %e, failures = episode.failures, "accept failed again");
            }
        }
    }

    /// The accepted connections as a stream that never ends and never
    /// yields an error (what tonic's `serve_with_incoming` takes).
    pub fn into_stream(self) -> Incoming {
        Incoming(next(self))
    }
}

/// [`Acceptor::accept`] as a stream: see [`Acceptor::into_stream`].
pub struct Incoming(Pin<Box<dyn Future<Output = (Acceptor, TcpStream)> + Send>>);

fn next(mut acceptor: Acceptor) -> Pin<Box<dyn Future<Output = (Acceptor, TcpStream)> + Send>> {
    Box::pin(async move {
        let (stream, _) = acceptor.accept().await;
        (acceptor, stream)
    })
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((acceptor, stream)) => {
                self.0 = next(acceptor);
                Poll::Ready(Some(Ok(stream)))
            }
        }
    }
}

/// An error about one queued connection (it was reset or aborted before
/// it was accepted), not about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_maximum() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut a = Acceptor::new(listener, "test");
            let e = io::Error::from_raw_os_error(24); // EMFILE
            let mut backoffs = Vec::new();
            for _ in 0..12 {
                a.failed(&e);
                backoffs.push(a.failing.as_ref().unwrap().backoff);
            }
            assert_eq!(backoffs[0], FIRST_BACKOFF);
            assert_eq!(backoffs[1], FIRST_BACKOFF * 2);
            assert_eq!(*backoffs.last().unwrap(), MAX_BACKOFF);
            assert!(backoffs.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(a.failing.as_ref().unwrap().failures, 12);
        });
    }

    #[test]
    fn connection_errors_are_not_listener_failures() {
        assert!(is_connection_error(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
    }
}
