//! `client-svc bench`: a load generator for server-svc alone (or for a real
//! TLS 1.2 server over TCP, `tls://host:port`), and the hold mode that
//! parks sessions after ServerHelloDone to measure server-svc's memory.
//!
//! # Layout
//!
//! ```text
//! mod.rs   what both modes share: the checked flags, the tally, the connections
//! load.rs  `bench load`: sessions back to back -> sessions/s and latency as JSON
//! hold.rs  `bench hold`: sessions held after ServerHelloDone
//! ```
//!
//! Both fail with the command's [`Error`]: `Usage`, `Unreachable`, or `Tls`
//! (sessions failed, or not all could be held; a load run's JSON first).

pub mod hold;
pub mod load;

use std::sync::Arc;
use std::time::Duration;

use handshake::ClientConfig;
use hdrhistogram::Histogram;
use rustls_pki_types::ServerName;
use service_runtime::keylog::KeyLog;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::session::Target;

/// Distinct error lines kept for the JSON.
const MAX_ERROR_LINES: usize = 5;

/// Histogram range: 1 µs to an hour, 3 significant digits (0.1 %).
const MAX_LATENCY_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// What both modes take from the flags, checked (`config.rs`).
pub struct Settings {
    /// As given: server-svc's URL or `tls://host:port`.
    pub server: String,
    /// Suites offered (one, or every suite), groups, the CA's verifier.
    pub config: Arc<ClientConfig>,
    /// The one suite asked for, if any (for the JSON).
    pub suite: Option<&'static str>,
    pub server_name: ServerName<'static>,
    pub key_log: Option<Arc<KeyLog>>,
    /// Deadline of one session (hold mode: of reaching ServerHelloDone).
    pub timeout: Duration,
    /// Sessions in flight at once (hold mode: being opened at once).
    pub concurrency: u32,
    /// server-svc: one HTTP/2 connection per this many workers (or held
    /// sessions).
    pub streams_per_connection: u32,
}

/// What one worker measured.
pub(crate) struct Tally {
    latency: Histogram<u64>,
    errors: u64,
    first_errors: Vec<String>,
    /// When the worker's last measured session ended.
    last_end: Option<Instant>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: new_histogram(),
            errors: 0,
            first_errors: Vec::new(),
            last_end: None,
        }
    }

    fn error(&mut self, line: String) {
        self.errors += 1;
        keep_distinct(&mut self.first_errors, line);
    }

    fn merge(&mut self, other: Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.errors += other.errors;
        for line in other.first_errors {
            keep_distinct(&mut self.first_errors, line);
        }
        self.last_end = self.last_end.max(other.last_end);
    }
}

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (low 1 <= high/2, 3 digits): cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

fn keep_distinct(lines: &mut Vec<String>, line: String) {
    if lines.len() < MAX_ERROR_LINES && !lines.contains(&line) {
        lines.push(line);
    }
}

/// The targets of the workers: for server-svc, one channel (one HTTP/2
/// connection) per `per` workers; for `tls://`, the address.
fn targets(server: &str, workers: u64, per: u32) -> Result<Vec<Target>> {
    let first = Target::parse(server).map_err(Error::Usage)?;
    if first.is_tls() {
        return Ok(vec![first]);
    }
    let n = workers.div_ceil(u64::from(per)).max(1);
    let mut all = vec![first];
    for _ in 1..n {
        all.push(Target::parse(server).map_err(Error::Usage)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_a_few_distinct_error_lines_are_kept() {
        let mut tally = Tally::new();
        for i in 0..20 {
            tally.error(format!("error {}", i % 7));
        }
        assert_eq!(tally.errors, 20);
        assert_eq!(tally.first_errors.len(), MAX_ERROR_LINES);
        let mut other = Tally::new();
        other.error("error 0".into());
        tally.merge(other);
        assert_eq!(tally.errors, 21);
        assert_eq!(tally.first_errors.len(), MAX_ERROR_LINES);
    }

    #[tokio::test]
    async fn workers_share_connections_by_streams_per_connection() {
        let n = |workers, per| targets("http://127.0.0.1:1", workers, per).unwrap().len();
        assert_eq!(n(1, 100), 1);
        assert_eq!(n(100, 100), 1);
        assert_eq!(n(101, 100), 2);
        assert_eq!(n(10_000, 100), 100);
        assert_eq!(targets("tls://127.0.0.1:1", 64, 1).unwrap().len(), 1);
        assert!(matches!(
            targets("tls://nohost", 1, 1),
            Err(Error::Usage(_))
        ));
    }
}
