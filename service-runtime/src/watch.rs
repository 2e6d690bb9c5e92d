//! [`SessionWatch`]: what both services record about one session, in one
//! place. Created when the session starts (started +1, in flight +1), fed
//! every engine [`Event`] (the step lines at debug, each step's duration
//! from the previous one, the suite ServerHello chose, where and why it
//! failed), told about timeouts; on drop, so that it runs however the
//! session ends (a task cancelled included), it counts the session as
//! ended, records its duration, takes it out of the in-flight gauge and
//! writes the one info line of the session: `session ended`.

use std::time::{Duration, Instant};

use handshake::{Event, Step, StepDetail, quote};
use tracing::{debug, info};

use crate::metrics::{AlertLabel, Limit, Metrics, Outcome, SuiteLabel, Transport};
use crate::steps::log_step;

/// One session's observer. Lives as long as the session.
#[derive(Debug)]
pub struct SessionWatch {
    metrics: Metrics,
    transport: Transport,
    started: Instant,
    /// When the last step was done, since the start.
    last_at: Duration,
    last_step: Option<Step>,
    suite: SuiteLabel,
    completed: bool,
    /// The step where it failed and the alert.
    failed: Option<(Step, AlertLabel)>,
    /// Why it failed or ended early (bounded), for the summary line.
    reason: Option<String>,
    timed_out: bool,
}

impl SessionWatch {
    /// A session starts now.
    pub fn start(metrics: &Metrics, transport: Transport) -> Self {
        metrics.session_started(transport);
        debug!("session started");
        let now = Instant::now();
        Self {
            metrics: metrics.clone(),
            transport,
            started: now,
            last_at: Duration::ZERO,
            last_step: None,
            suite: SuiteLabel::default(),
            completed: false,
            failed: None,
            reason: None,
            timed_out: false,
        }
    }

    /// Every event of the engine, as it comes: logs and records it. A
    /// step's duration runs from the previous step (or the start) to the
    /// engine's stamp if it has a clock (client-svc: steps 5 to 10 are done
    /// in one call), else to now.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Step(ev) => {
                log_step(ev);
                let at = ev.at.unwrap_or_else(|| self.started.elapsed());
                self.metrics
                    .step_done(ev.step, at.saturating_sub(self.last_at));
                self.last_at = at;
                self.last_step = Some(ev.step);
                match &ev.detail {
                    StepDetail::ServerHello { hello, .. } => {
                        if let Some(&suite) = hello.cipher_suites.first() {
                            self.suite = SuiteLabel::new(suite);
                        }
                    }
                    StepDetail::Finish { .. } => self.completed = true,
                    _ => {}
                }
            }
            Event::PeerClosed => debug!("peer sent close_notify"),
            Event::Warning(alert) => {
                debug!(alert = %alert.description, "warning alert from the peer, ignored");
            }
            Event::Failed { step, error } => {
                debug!(
                    step = step.number(),
                    step_name = step.name(),
                    alert = %error.alert(),
                    origin = ?error.origin(),
                    reason = error.reason(),
                    "session failed at step {step}"
                );
                self.failed(*step, error.alert(), error.reason());
            }
            Event::ApplicationData(_) => {}
        }
    }

    /// The session ran past `limit` (an idle timeout, the handshake
    /// deadline, client-svc's --timeout): it ends as timed_out.
    pub fn timed_out(&mut self, limit: Limit) {
        self.metrics.limit_hit(limit);
        self.timed_out = true;
    }

    /// A failure the engine did not report as an event (client-svc: a
    /// server that could not be reached, a status from server-svc).
    pub fn failed(&mut self, step: Step, alert: handshake::AlertDescription, reason: &str) {
        if self.failed.is_none() {
            self.failed = Some((step, AlertLabel::new(alert)));
            self.set_reason(reason);
        }
    }

    /// Why the session ended without an alert (client-svc: server-svc
    /// unreachable or busy), for the summary line; the first one stays.
    pub fn set_reason(&mut self, reason: &str) {
        if self.reason.is_none() {
            self.reason = Some(quote::truncate(reason, quote::MAX_REASON).into_owned());
        }
    }

    /// How it ended, from what was seen.
    fn outcome(&self) -> Outcome {
        if self.timed_out {
            Outcome::timed_out
        } else if self.failed.is_some() {
            Outcome::failed
        } else if self.completed {
            Outcome::completed
        } else {
            Outcome::abandoned
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for SessionWatch {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let outcome = self.outcome();
        let (step, alert) = match self.failed {
            Some((step, alert)) => (Some(step), alert),
            None => (self.last_step, AlertLabel::default()),
        };
        let reason = self.reason.as_deref();
        self.metrics
            .session_ended(self.transport, self.suite, outcome, alert, step, took);
        // Microsecond precision is plenty, and keeps the line short.
        let duration_ms = (took.as_secs_f64() * 1e6).round() / 1e3;
        let (number, name) = (
            step.map_or(0, Step::number),
            step.map_or("none", Step::name),
        );
        // An Option field is recorded only when Some: the reason of a
        // failure, nothing for a completed session.
        info!(
            suite = %self.suite.name(),
            outcome = %outcome.name(),
            alert = %alert.name(),
            step = number,
            step_name = name,
            duration_ms,
            reason,
            "session ended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Service;
    use handshake::{AlertDescription, Error};

    #[test]
    fn a_failure_is_counted_at_its_step_and_leaves_flight() {
        let m = Metrics::new(Service::Server);
        let mut w = SessionWatch::start(&m, Transport::grpc);
        assert!(
            m.encode().contains(
                "handshake_sessions_in_flight{service=\"server-svc\",transport=\"grpc\"} 1"
            )
        );
        w.event(&Event::Failed {
            step: Step::ClientEncryptedHandshakeMessage,
            error: Error::new(AlertDescription::DECRYPT_ERROR, "bad verify_data"),
        });
        drop(w);
        let text = m.encode();
        assert!(text.contains("outcome=\"failed\",alert=\"decrypt_error\",step=\"10\",step_name=\"Encrypted Handshake Message\"} 1"), "{text}");
        assert!(
            text.contains(
                "handshake_sessions_in_flight{service=\"server-svc\",transport=\"grpc\"} 0"
            )
        );
    }

    #[test]
    fn nothing_seen_is_abandoned_and_a_timeout_is_timed_out() {
        let m = Metrics::new(Service::Client);
        drop(SessionWatch::start(&m, Transport::tls));
        let mut w = SessionWatch::start(&m, Transport::tls);
        w.timed_out(Limit::session_timeout);
        drop(w);
        let text = m.encode();
        assert!(
            text.contains("outcome=\"abandoned\",alert=\"none\",step=\"0\",step_name=\"none\"} 1"),
            "{text}"
        );
        assert!(text.contains("outcome=\"timed_out\""));
        assert!(text.contains("limit=\"session_timeout\"} 1"));
    }
}
