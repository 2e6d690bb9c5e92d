//! Spreading sessions over server-svc replicas: a [`Balancer`] holds one
//! lazily connected tonic [`Channel`] (one HTTP/2 connection) per address
//! and hands them out round-robin, one session at a time.
//!
//! A `dns:`, `ipv4:` or `ipv6:` name (`resolve.rs`) gives the addresses;
//! a `dns:` name is looked up again every `--resolve-interval`: a new
//! address gets its share from then on, one that disappeared gets no new
//! session (its channel is dropped; sessions still running on it finish
//! on their own clone). A failed lookup keeps the addresses known so far.
//! Any other server-svc URL is a balancer of one channel, as before.
//!
//! Why not tonic's `Channel::balance_channel` (tonic 0.14): it is tower's
//! power-of-two-choices between two random endpoints by a load tonic
//! always reports as 0, so sessions land at random rather than in turn; a
//! lazily connected endpoint that cannot connect still reports ready (its
//! error is kept for the next call), so a dead replica stays in the set
//! and fails the calls sent to it until DNS drops it; and it does not say
//! which address a call went to, so such a call cannot be retried on
//! another. Here a session knows its replica, an address that refused a
//! connection is passed over for [`DOWN_FOR`], and the session driver
//! (`transport/grpc.rs`) retries once elsewhere.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use service_runtime::metrics::{Metrics, Replica};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::resolve::Resolve;

/// How long an address that refused a connection is passed over (unless
/// every address is): long enough that a dead replica does not cost each
/// new session a failed connect, short enough that a restarted one is soon
/// used again.
pub const DOWN_FOR: Duration = Duration::from_secs(10);

/// How long connecting may take before the server counts as unreachable
/// (a host that drops packets must not hold a session for its whole
/// timeout before saying so).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How client-svc's channels to server-svc are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelOptions {
    /// HTTP/2 PING interval (also while idle, so a replica that vanished
    /// is found before the next session is sent to it); `None`: off.
    pub keepalive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// How often a `dns:` name is looked up again.
    pub resolve_interval: Duration,
}

/// Default `--resolve-interval`, seconds.
pub const DEFAULT_RESOLVE_INTERVAL: u64 = 30;

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            keepalive_interval: Some(Duration::from_secs(
                service_runtime::limits::DEFAULT_KEEPALIVE_INTERVAL,
            )),
            keepalive_timeout: Duration::from_secs(
                service_runtime::limits::DEFAULT_KEEPALIVE_TIMEOUT,
            ),
            resolve_interval: Duration::from_secs(DEFAULT_RESOLVE_INTERVAL),
        }
    }
}

impl ChannelOptions {
    /// A lazily connected channel to `url` ("http://host:port"):
    /// connecting happens on first use.
    pub fn channel(&self, url: &str) -> Result<Channel, String> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| {
                format!(
                    "invalid server URL {:?}: {e}",
                    handshake::quote::truncate(url, handshake::quote::MAX_TEXT)
                )
            })?
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(interval) = self.keepalive_interval {
            endpoint = endpoint
                .http2_keep_alive_interval(interval)
                .keep_alive_timeout(self.keepalive_timeout)
                .keep_alive_while_idle(true);
        }
        Ok(endpoint.connect_lazy())
    }
}

/// One session's server-svc: the replica's name and its channel.
#[derive(Clone, Debug)]
pub struct Pick {
    /// The address ("127.0.0.2:50051"), or the URL of a single server.
    pub key: String,
    pub channel: Channel,
}

/// Round-robin over the channels of server-svc's replicas. Clones share
/// everything.
#[derive(Clone)]
pub struct Balancer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("name", &self.inner.name)
            .field("backends", &self.keys())
            .finish()
    }
}

struct Inner {
    /// The target as given, for messages.
    name: String,
    /// None: a fixed set (one URL).
    resolver: Option<Box<dyn Resolve>>,
    options: ChannelOptions,
    backends: RwLock<Arc<Vec<Backend>>>,
    next: AtomicUsize,
    /// One lookup at a time.
    resolving: tokio::sync::Mutex<()>,
    refresher_started: AtomicBool,
    /// Where sessions are counted per replica, once set.
    metrics: std::sync::OnceLock<ReplicaCount>,
}

/// How a balancer's sessions are counted.
struct ReplicaCount {
    metrics: Metrics,
    /// client-svc's own `--server`: by replica address; any other target
    /// a request named: all as `other` (the label stays bounded).
    own: bool,
}

#[derive(Clone)]
struct Backend {
    key: String,
    channel: Channel,
    /// Passed over until then: the address refused a connection.
    down_until: Arc<Mutex<Option<Instant>>>,
}

impl Backend {
    fn new(key: String, channel: Channel) -> Self {
        Self {
            key,
            channel,
            down_until: Arc::new(Mutex::new(None)),
        }
    }

    fn is_down(&self, now: Instant) -> bool {
        let until = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|t| now < t)
    }
}

impl Balancer {
    /// One server at `url` over one lazily connected channel.
    pub fn single(url: &str, options: ChannelOptions) -> Result<Self, String> {
        let channel = options.channel(url)?;
        Ok(Self::new(
            url,
            None,
            options,
            vec![Backend::new(url.to_owned(), channel)],
        ))
    }

    /// The replicas `resolver` finds, looked up on first use and then
    /// every `options.resolve_interval` if `periodic`.
    pub fn resolving(
        name: &str,
        resolver: impl Resolve,
        periodic: bool,
        options: ChannelOptions,
    ) -> Self {
        let balancer = Self::new(name, Some(Box::new(resolver)), options, Vec::new());
        if !periodic {
            // Never started: a fixed list need not be looked up again.
            balancer
                .inner
                .refresher_started
                .store(true, Ordering::SeqCst);
        }
        balancer
    }

    fn new(
        name: &str,
        resolver: Option<Box<dyn Resolve>>,
        options: ChannelOptions,
        backends: Vec<Backend>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                resolver,
                options,
                backends: RwLock::new(Arc::new(backends)),
                next: AtomicUsize::new(0),
                resolving: tokio::sync::Mutex::new(()),
                refresher_started: AtomicBool::new(false),
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Counts the sessions opened through this balancer in `metrics`: by
    /// replica if it is client-svc's own `--server` (`own`), else as
    /// `replica="other"`. The first call wins.
    pub fn count_sessions(&self, metrics: Metrics, own: bool) {
        let _ = self.inner.metrics.set(ReplicaCount { metrics, own });
    }

    /// A session was opened on the replica `key`.
    pub fn session_opened(&self, key: &str) {
        if let Some(count) = self.inner.metrics.get() {
            let replica = match count.own {
                // A fixed URL's key is the URL: its host:port is the label.
                true => {
                    let addr = key.split_once("://").map_or(key, |(_, rest)| rest);
                    Replica::Addr(addr.trim_end_matches('/').into())
                }
                false => Replica::Other,
            };
            count.metrics.replica_session(replica);
        }
    }

    /// The target as given.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The replicas in use now, in order.
    pub fn keys(&self) -> Vec<String> {
        self.inner
            .snapshot()
            .iter()
            .map(|b| b.key.clone())
            .collect()
    }

    /// The next replica in turn, passing over those marked down (unless
    /// all are) and `avoid` (unless it is the only one). Looks the name
    /// up first if no address is known yet. Err: no address at all.
    pub async fn pick(&self, avoid: Option<&str>) -> Result<Pick, String> {
        let mut backends = self.inner.snapshot();
        if backends.is_empty() {
            // Known down or not, a lookup on the session's path: there is
            // nothing else to try.
            if let Err(e) = self.refresh().await {
                return Err(format!("no address for {}: {e}", self.inner.name));
            }
            backends = self.inner.snapshot();
        }
        self.inner.start_refresher();
        let now = Instant::now();
        let others: Vec<&Backend> = backends
            .iter()
            .filter(|b| Some(b.key.as_str()) != avoid)
            .collect();
        let up: Vec<&Backend> = others.iter().copied().filter(|b| !b.is_down(now)).collect();
        let candidates = if !up.is_empty() {
            up
        } else if !others.is_empty() {
            others
        } else {
            backends.iter().collect()
        };
        if candidates.is_empty() {
            return Err(format!("no address for {}", self.inner.name));
        }
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let b = candidates[n % candidates.len()];
        Ok(Pick {
            key: b.key.clone(),
            channel: b.channel.clone(),
        })
    }

    /// The replicas passed over now (they refused a connection).
    pub fn down(&self) -> Vec<String> {
        let now = Instant::now();
        self.inner
            .snapshot()
            .iter()
            .filter(|b| b.is_down(now))
            .map(|b| b.key.clone())
            .collect()
    }

    /// Passes over `key` for [`DOWN_FOR`]: it refused a connection.
    pub fn mark_down(&self, key: &str) {
        if let Some(b) = self.inner.snapshot().iter().find(|b| b.key == key) {
            *b.down_until.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(Instant::now() + DOWN_FOR);
        }
    }

    /// Looks the name up now and updates the replicas: new addresses get a
    /// channel, gone ones are dropped, the others keep theirs. A failed or
    /// empty lookup changes nothing. Err says why it failed.
    pub async fn refresh(&self) -> Result<(), String> {
        self.inner.refresh().await
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Vec<Backend>> {
        self.backends
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn refresh(&self) -> Result<(), String> {
        let Some(resolver) = &self.resolver else {
            return Ok(());
        };
        let _one_at_a_time = self.resolving.lock().await;
        let found = match resolver.resolve().await {
            Ok(addrs) if addrs.is_empty() => Err("no address".to_owned()),
            other => other,
        };
        let addrs = match found {
            Ok(addrs) => addrs,
            Err(e) => {
                tracing::warn!(server = %self.name, error = %e, "lookup failed; keeping the addresses known");
                return Err(e);
            }
        };
        let old = self.snapshot();
        // Linear in the addresses: a list may be long (up to
        // resolve::MAX_ADDRESSES) and lookups repeat.
        let known: HashMap<&str, &Backend> = old.iter().map(|b| (b.key.as_str(), b)).collect();
        let mut seen: HashSet<String> = HashSet::with_capacity(addrs.len());
        let mut next = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let key = addr.to_string();
            if !seen.insert(key.clone()) {
                continue;
            }
            match known.get(key.as_str()) {
                Some(b) => next.push((*b).clone()),
                None => {
                    // SocketAddr's Display brackets IPv6: "http://[::1]:50051".
                    let channel = self.options.channel(&format!("http://{addr}"))?;
                    next.push(Backend::new(key, channel));
                }
            }
        }
        let added: Vec<&str> = next
            .iter()
            .filter(|b| !known.contains_key(b.key.as_str()))
            .map(|b| b.key.as_str())
            .collect();
        let removed: Vec<&str> = old
            .iter()
            .filter(|o| !seen.contains(&o.key))
            .map(|o| o.key.as_str())
            .collect();
        if let Some(count) = self.metrics.get().filter(|c| c.own) {
            for key in &removed {
                count.metrics.replica_removed(key);
            }
        }
        if !added.is_empty() || !removed.is_empty() {
            tracing::info!(
                server = %self.name,
                added = %service_runtime::logging::List(&added),
                removed = %service_runtime::logging::List(&removed),
                replicas = next.len(),
                "server-svc replicas changed"
            );
        }
        *self
            .backends
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// Looks the name up every interval from now on, while the balancer
    /// lives (the task holds it weakly and ends with it).
    fn start_refresher(self: &Arc<Self>) {
        if self.resolver.is_none() || self.refresher_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        let interval = self.options.resolve_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                // A failure is logged and the known addresses kept.
                let _ = inner.refresh().await;
            }
        });
    }
}
