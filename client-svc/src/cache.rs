//! The balancers kept for server targets that requests name, bounded by
//! count and by age.
//!
//! A balancer holds a channel (an HTTP/2 connection) per replica, so
//! keeping one for every target a request ever named would let callers
//! grow client-svc's memory without end. This cache keeps at most
//! [`TargetCache::max`] of them; one unused for [`TargetCache::idle`] is
//! dropped (its connections close), and a new target when the cache is
//! full pushes out the one unused longest. The configured server's
//! balancer is not kept here (the service pins it). The clock is passed
//! in, so tests need not wait.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Targets kept at most.
pub const MAX_TARGETS: usize = 64;

/// How long a target's balancer is kept without a session.
pub const IDLE: Duration = Duration::from_secs(300);

/// Values by target, at most `max`, none unused for longer than `idle`.
#[derive(Debug)]
pub struct TargetCache<V> {
    entries: HashMap<String, Entry<V>>,
    max: usize,
    idle: Duration,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    used: Instant,
}

impl<V: Clone> TargetCache<V> {
    /// At most `max` entries (at least one), each dropped after `idle`
    /// without use.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            max: max.max(1),
            idle,
        }
    }

    /// The value kept for `key`, or a new one from `make`, kept. Drops
    /// what has been idle too long first; then, if full, the entry unused
    /// longest. Costs O(max).
    pub fn get_or_insert_with<E>(
        &mut self,
        key: &str,
        now: Instant,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.expire(now);
        if let Some(e) = self.entries.get_mut(key) {
            e.used = now;
            return Ok(e.value.clone());
        }
        let value = make()?;
        if self.entries.len() >= self.max
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: value.clone(),
                used: now,
            },
        );
        tracing::debug!(targets = self.entries.len(), "target cache");
        Ok(value)
    }

    /// Drops the entries unused for longer than `idle` at `now`.
    pub fn expire(&mut self, now: Instant) {
        let idle = self.idle;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.used) <= idle);
    }

    /// Entries kept now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(n: &mut usize) -> impl FnOnce() -> Result<usize, ()> + '_ {
        move || {
            *n += 1;
            Ok(*n)
        }
    }

    #[test]
    fn many_targets_keep_at_most_max() {
        let mut cache = TargetCache::new(8, IDLE);
        let now = Instant::now();
        let mut made = 0;
        for i in 0..10_000 {
            cache
                .get_or_insert_with(&format!("t{i}"), now, make(&mut made))
                .unwrap();
            assert!(cache.len() <= 8);
        }
        assert_eq!(cache.len(), 8);
        assert_eq!(made, 10_000);
    }

    #[test]
    fn a_target_in_use_is_reused_and_the_longest_unused_goes_first() {
        let mut cache = TargetCache::new(2, IDLE);
        let t0 = Instant::now();
        let mut made = 0;
        let a = cache.get_or_insert_with("a", t0, make(&mut made)).unwrap();
        cache
            .get_or_insert_with("b", t0 + Duration::from_secs(1), make(&mut made))
            .unwrap();
        // "a" used again: "b" is now the one unused longest.
        let again = cache
            .get_or_insert_with("a", t0 + Duration::from_secs(2), make(&mut made))
            .unwrap();
        assert_eq!(again, a);
        cache
            .get_or_insert_with("c", t0 + Duration::from_secs(3), make(&mut made))
            .unwrap();
        assert_eq!(cache.len(), 2);
        let a_still = cache
            .get_or_insert_with("a", t0 + Duration::from_secs(4), make(&mut made))
            .unwrap();
        assert_eq!(a_still, a, "a was kept, b pushed out");
        assert_eq!(made, 3);
    }

    #[test]
    fn idle_targets_expire() {
        let idle = Duration::from_secs(60);
        let mut cache = TargetCache::new(64, idle);
        let t0 = Instant::now();
        let mut made = 0;
        for i in 0..50 {
            cache
                .get_or_insert_with(&format!("t{i}"), t0, make(&mut made))
                .unwrap();
        }
        assert_eq!(cache.len(), 50);
        // Still within `idle`: kept.
        cache.expire(t0 + idle);
        assert_eq!(cache.len(), 50);
        // One more target later: the fifty idle ones are gone.
        cache
            .get_or_insert_with("new", t0 + idle + Duration::from_secs(1), make(&mut made))
            .unwrap();
        assert_eq!(cache.len(), 1);
        // And an expired target is made anew.
        let again = cache
            .get_or_insert_with("t0", t0 + idle * 3, make(&mut made))
            .unwrap();
        assert_eq!(again, 52);
    }

    #[test]
    fn a_failure_to_make_keeps_nothing() {
        let mut cache: TargetCache<usize> = TargetCache::new(4, IDLE);
        let r: Result<usize, &str> = cache.get_or_insert_with("bad", Instant::now(), || Err("no"));
        assert_eq!(r, Err("no"));
        assert!(cache.is_empty());
    }
}
