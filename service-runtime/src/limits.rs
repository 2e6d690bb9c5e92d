//! Limits that keep load from taking a service down, shared by both
//! services: how many sessions may run at once ([`LiveSessions`]), how
//! large one gRPC message may be, HTTP/2 keepalive, and how long one
//! connection may live ([`Limits`], applied by [`crate::serve::serve`]).
//!
//! Both services set them with the same flags ([`crate::cli::ServiceArgs`]),
//! whose defaults are below.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Status;
use tonic::transport::Server;

/// Default `--max-sessions`. A session waiting for its peer holds about
/// 20 KB (measured in release builds: 19.2 to 21.0 KB per gRPC session
/// waiting after ServerHelloDone, docs/PERFORMANCE.md section (e)), so ten
/// thousand take about 200 MB, while a flood of new streams beyond that is
/// refused at once instead of growing the process until the kernel kills
/// it. It is also the load the performance report measures memory at
/// (10,000 sessions open after ServerHelloDone).
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// Default `--keepalive-interval`, seconds: an HTTP/2 PING after this long
/// without frames finds a peer that vanished without closing (a node gone,
/// a dropped NAT entry) long before TCP would.
pub const DEFAULT_KEEPALIVE_INTERVAL: u64 = 30;

/// Default `--keepalive-timeout`, seconds: how long a PING may go
/// unanswered before the connection is closed.
pub const DEFAULT_KEEPALIVE_TIMEOUT: u64 = 10;

/// Default `--max-connection-age`, seconds: after this a connection gets a
/// GOAWAY, so a long-lived client reconnects and is balanced again across
/// the replicas there are now (a new replica gets its share within this).
pub const DEFAULT_MAX_CONNECTION_AGE: u64 = 300;

/// Default `--max-connection-age-grace`, seconds: sessions in flight on a
/// connection past its age get this long to finish before it is closed.
pub const DEFAULT_MAX_CONNECTION_AGE_GRACE: u64 = 30;

/// The HTTP/2 and message limits of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest gRPC message decoded or encoded, in bytes: a larger one is
    /// refused with OUT_OF_RANGE (tonic's status) as soon as its 5-byte
    /// length prefix is read, before any of it is buffered.
    pub max_message_size: usize,
    /// HTTP/2 PING interval on idle connections; `None`: no keepalive.
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive PING may go unanswered.
    pub keepalive_timeout: Duration,
    /// After this, a connection gets a GOAWAY; `None`: connections live on.
    pub max_connection_age: Option<Duration>,
    /// After the GOAWAY, how long the streams still open get before the
    /// connection is closed; `None`: as long as they take.
    pub max_connection_age_grace: Option<Duration>,
}

impl Limits {
    /// The limits from flag values in whole seconds, where 0 turns
    /// keepalive, the connection age or its grace off.
    pub fn from_secs(
        max_message_size: usize,
        keepalive_interval: u64,
        keepalive_timeout: u64,
        max_connection_age: u64,
        max_connection_age_grace: u64,
    ) -> Self {
        let some = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        Self {
            max_message_size,
            keepalive_interval: some(keepalive_interval),
            keepalive_timeout: Duration::from_secs(keepalive_timeout),
            max_connection_age: some(max_connection_age),
            max_connection_age_grace: some(max_connection_age_grace),
        }
    }

    /// The HTTP/2 settings on a server builder: keepalive, and the GOAWAY
    /// at the maximum age. (The message size is the service's own setting,
    /// see each service's `serve`; the grace is enforced on the accepted
    /// connections themselves, see [`Limits::connection_deadline`].)
    pub fn apply<L>(&self, builder: Server<L>) -> Server<L> {
        let builder = builder
            .http2_keepalive_interval(self.keepalive_interval)
            .http2_keepalive_timeout(Some(self.keepalive_timeout));
        // Not tonic's own max_connection_age_grace: in tonic 0.14 setting
        // it replaces the GOAWAY at the age with a bare close at age +
        // grace, so sessions would be cut instead of drained
        // (grpc/grpc-rust#2877).
        match self.max_connection_age {
            Some(age) => builder.max_connection_age(age),
            None => builder,
        }
    }

    /// How long an accepted connection may live in all: its maximum age
    /// plus the grace after the GOAWAY; `None` if either is off.
    pub fn connection_deadline(&self) -> Option<Duration> {
        Some(self.max_connection_age? + self.max_connection_age_grace?)
    }
}

impl Default for Limits {
    /// tonic's own defaults: 4 MiB messages, no keepalive, no age.
    fn default() -> Self {
        Self {
            max_message_size: 4 * 1024 * 1024,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(DEFAULT_KEEPALIVE_TIMEOUT),
            max_connection_age: None,
            max_connection_age_grace: None,
        }
    }
}

/// How many sessions run now, and how many may: the process's session
/// budget. Clones share the count.
#[derive(Clone, Debug)]
pub struct LiveSessions {
    live: Arc<AtomicUsize>,
    max: usize,
}

impl Default for LiveSessions {
    /// No limit.
    fn default() -> Self {
        Self::with_max(usize::MAX)
    }
}

impl LiveSessions {
    /// A budget of `max` sessions at once.
    pub fn with_max(max: usize) -> Self {
        Self {
            live: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Sessions running now.
    pub fn get(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// The most sessions that may run at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Counts one more session until the returned guard is dropped (when
    /// the session ends, however it ends: its task returning, failing,
    /// unwinding or being cancelled), or `None` if `max` already run.
    pub fn try_enter(&self) -> Option<SessionGuard> {
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| SessionGuard(self.live.clone()))
    }

    /// [`LiveSessions::try_enter`], or the RESOURCE_EXHAUSTED status that
    /// refuses the session at once (`service` names who refuses).
    pub fn enter_or_refuse(&self, service: &str) -> Result<SessionGuard, Status> {
        self.try_enter().ok_or_else(|| {
            tracing::warn!(
                max_sessions = self.max,
                "session refused: the limit of concurrent sessions is reached"
            );
            Status::resource_exhausted(format!(
                "{service} is running its maximum of {} concurrent sessions (--max-sessions); try again later",
                self.max
            ))
        })
    }
}

/// One session counted in [`LiveSessions`] while it lives.
#[derive(Debug)]
pub struct SessionGuard(Arc<AtomicUsize>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn the_budget_refuses_beyond_max_and_frees_on_drop() {
        let live = LiveSessions::with_max(2);
        let a = live.try_enter().expect("first");
        let b = live.try_enter().expect("second");
        assert_eq!(live.get(), 2);
        assert!(live.try_enter().is_none(), "a third beyond max 2");
        let refused = live.enter_or_refuse("server-svc").unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("maximum of 2"), "{refused:?}");
        assert!(!refused.message().contains('\n'));
        drop(a);
        assert_eq!(live.get(), 1);
        let c = live.clone().try_enter().expect("a slot is free again");
        drop((b, c));
        assert_eq!(live.get(), 0);
    }

    #[test]
    fn a_guard_is_released_when_its_task_is_cancelled() {
        let live = LiveSessions::with_max(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let guard = live.try_enter().unwrap();
            let task = tokio::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            assert!(live.try_enter().is_none());
            task.abort();
            let _ = task.await;
            assert_eq!(live.get(), 0);
            assert!(live.try_enter().is_some());
        });
    }

    #[test]
    fn zero_seconds_turn_keepalive_and_age_off() {
        let l = Limits::from_secs(1024, 0, 5, 0, 0);
        assert_eq!(l.keepalive_interval, None);
        assert_eq!(l.max_connection_age, None);
        assert_eq!(l.max_connection_age_grace, None);
        assert_eq!(l.connection_deadline(), None);
        let l = Limits::from_secs(1024, 30, 5, 300, 30);
        assert_eq!(l.keepalive_interval, Some(Duration::from_secs(30)));
        assert_eq!(l.keepalive_timeout, Duration::from_secs(5));
        assert_eq!(l.max_connection_age, Some(Duration::from_secs(300)));
        assert_eq!(l.max_connection_age_grace, Some(Duration::from_secs(30)));
        assert_eq!(l.connection_deadline(), Some(Duration::from_secs(330)));
    }
}
