//! Prometheus/OpenMetrics metrics of both services (issue 13, the families
//! and labels of the shared spec): a [`Metrics`] handle, cheap to clone,
//! that records into one registry, or into nothing when
//! `--metrics-listen off` ([`Metrics::disabled`]: every call is one branch).
//!
//! Every label value is a bounded type by construction: the enums below,
//! a suite the engine implements (else `none`), an alert description the
//! registry knows (else `unknown`), a step or none. Nothing a peer sends
//! can add a value: a ClientHello offering 32,000 unknown suites or a
//! 64 KB server_name changes no label. Only `replica` (client-svc) is an
//! address, and those come from client-svc's own `--server` resolution
//! (at most `resolve::MAX_ADDRESSES`, removed when DNS drops them).
//!
//! The per-step histograms are created at start, in an array indexed by
//! step number, and every `limit` value exists from the start (exported as
//! 0), so that a query sees them before the first refusal.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use handshake::{AlertDescription, CipherSuite, Step};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Which service records: the constant label `service` of every series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Server,
    Client,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Self::Server => "server-svc",
            Self::Client => "client-svc",
        }
    }
}

/// How the session reached its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Transport {
    /// server-svc: a Connect stream; client-svc: a server-svc target.
    grpc,
    /// server-svc: the TLS front; client-svc: a tls:// target.
    tls,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// The handshake was done and no fatal alert followed.
    completed,
    /// A fatal alert, sent or received.
    failed,
    /// Idle timeout, handshake deadline, or client-svc's --timeout.
    timed_out,
    /// The peer went away before the handshake was done.
    abandoned,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::completed => "completed",
            Self::failed => "failed",
            Self::timed_out => "timed_out",
            Self::abandoned => "abandoned",
        }
    }
}

/// A limit that refused or ended a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Limit {
    /// `--max-sessions`: a session refused at once.
    max_sessions,
    /// `--max-message-size`: a message refused with OUT_OF_RANGE.
    message_size,
    /// No message from the peer for the idle timeout.
    idle_timeout,
    /// The handshake not done by `--handshake-deadline`.
    handshake_deadline,
    /// client-svc: a session past its `--timeout`.
    session_timeout,
}

impl Limit {
    const SERVER: [Limit; 4] = [
        Self::max_sessions,
        Self::message_size,
        Self::idle_timeout,
        Self::handshake_deadline,
    ];
    const CLIENT: [Limit; 5] = [
        Self::max_sessions,
        Self::message_size,
        Self::idle_timeout,
        Self::handshake_deadline,
        Self::session_timeout,
    ];
}

/// The suite ServerHello chose: an IANA name of a suite the engine
/// implements, else `none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SuiteLabel(Option<CipherSuite>);

impl SuiteLabel {
    /// Only a suite the engine implements is a value; anything else is none.
    pub fn new(suite: CipherSuite) -> Self {
        Self(handshake::lookup(suite).map(|p| p.suite))
    }

    pub fn name(self) -> &'static str {
        self.0.and_then(CipherSuite::name).unwrap_or("none")
    }
}

impl EncodeLabelValue for SuiteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.name())
    }
}

/// An alert description's RFC 5246 name; `unknown` for a value the
/// registry does not name (a peer may send any byte), `none` for no alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AlertLabel(Option<AlertDescription>);

impl AlertLabel {
    pub fn new(alert: AlertDescription) -> Self {
        Self(Some(alert))
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            None => "none",
            Some(a) => a.name().unwrap_or("unknown"),
        }
    }
}

impl EncodeLabelValue for AlertLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.name())
    }
}

/// A step's number, `0` for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StepNumber(pub Option<Step>);

impl EncodeLabelValue for StepNumber {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0.map_or(0, Step::number))
    }
}

/// A step's name as the README's table gives it, `none` for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StepName(pub Option<Step>);

impl EncodeLabelValue for StepName {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.map_or("none", Step::name))
    }
}

/// The server-svc replica a client-svc session went to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Replica {
    /// An address (`host:port`) of client-svc's own `--server`.
    Addr(Arc<str>),
    /// A target a request named (through the allowlist).
    Other,
}

impl EncodeLabelValue for Replica {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self {
            Self::Addr(a) => write!(encoder, "{a}"),
            Self::Other => encoder.write_str("other"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    transport: Transport,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndedLabels {
    transport: Transport,
    suite: SuiteLabel,
    outcome: Outcome,
    alert: AlertLabel,
    step: StepNumber,
    step_name: StepName,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    transport: Transport,
    suite: SuiteLabel,
    outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StepLabels {
    step: StepNumber,
    step_name: StepName,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabels {
    limit: Limit,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReplicaLabels {
    replica: Replica,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Session duration: 0.5 ms doubling, 16 buckets (to about 16 s).
fn session_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Step duration: 10 µs doubling, 18 buckets (to about 1.3 s).
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 18))
}

/// Everything a [`Metrics`] records into.
#[derive(Debug)]
struct Inner {
    registry: Registry,
    started: Family<TransportLabels, Counter>,
    ended: Family<EndedLabels, Counter>,
    session_duration: HistogramFamily<DurationLabels>,
    /// Indexed by step number - 1.
    step_duration: [Histogram; 13],
    in_flight: [Gauge; 2],
    limits: Family<LimitLabels, Counter>,
    front_total: Counter,
    front_open: Gauge,
    replicas: Family<ReplicaLabels, Counter>,
}

/// The metrics of one process: a handle to share (clones record into the
/// same registry), or [`Metrics::disabled`], which records nothing.
#[derive(Clone, Debug, Default)]
pub struct Metrics(Option<Arc<Inner>>);

impl Metrics {
    /// Records nothing, costs one branch per call: `--metrics-listen off`.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// The families of `service`, each series labelled `service=...`.
    pub fn new(service: Service) -> Self {
        let mut registry =
            Registry::with_labels([("service".into(), service.name().into())].into_iter());
        let started = Family::<TransportLabels, Counter>::default();
        registry.register(
            "handshake_sessions_started",
            "Sessions started",
            started.clone(),
        );
        for transport in [Transport::grpc, Transport::tls] {
            drop(started.get_or_create(&TransportLabels { transport }));
        }
        let ended = Family::<EndedLabels, Counter>::default();
        registry.register(
            "handshake_sessions_ended",
            "Sessions ended, by suite, outcome, alert and the step where it failed or the last step done",
            ended.clone(),
        );
        let session_duration: HistogramFamily<DurationLabels> =
            Family::new_with_constructor(session_histogram);
        registry.register(
            "handshake_session_duration_seconds",
            "Session duration from start to end",
            session_duration.clone(),
        );
        let step_family: HistogramFamily<StepLabels> = Family::new_with_constructor(step_histogram);
        registry.register(
            "handshake_step_duration_seconds",
            "Time from the previous step (or the session's start) to this step",
            step_family.clone(),
        );
        let step_duration = Step::ALL.map(|s| {
            step_family
                .get_or_create(&StepLabels {
                    step: StepNumber(Some(s)),
                    step_name: StepName(Some(s)),
                })
                .clone()
        });
        let in_flight_family = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "handshake_sessions_in_flight",
            "Sessions running now",
            in_flight_family.clone(),
        );
        let in_flight = [Transport::grpc, Transport::tls].map(|transport| {
            in_flight_family
                .get_or_create(&TransportLabels { transport })
                .clone()
        });
        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "handshake_limits_hit",
            "Sessions refused or ended by a limit",
            limits.clone(),
        );
        let all_limits: &[Limit] = match service {
            Service::Server => &Limit::SERVER,
            Service::Client => &Limit::CLIENT,
        };
        for &limit in all_limits {
            drop(limits.get_or_create(&LimitLabels { limit }));
        }
        let front_total = Counter::default();
        let front_open = Gauge::default();
        let replicas = Family::<ReplicaLabels, Counter>::default();
        match service {
            Service::Server => {
                registry.register(
                    "handshake_tls_front_connections",
                    "Connections accepted by the TLS front",
                    front_total.clone(),
                );
                registry.register(
                    "handshake_tls_front_connections_open",
                    "TLS front connections open now",
                    front_open.clone(),
                );
            }
            Service::Client => registry.register(
                "handshake_server_replica_sessions",
                "Sessions sent to each server-svc replica",
                replicas.clone(),
            ),
        }
        registry.register(
            "handshake_build",
            "Build information",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self(Some(Arc::new(Inner {
            registry,
            started,
            ended,
            session_duration,
            step_duration,
            in_flight,
            limits,
            front_total,
            front_open,
            replicas,
        })))
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The OpenMetrics text of every family; empty when disabled.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(inner) = &self.0 {
            // Writing to a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &inner.registry);
        }
        out
    }

    pub(crate) fn session_started(&self, transport: Transport) {
        if let Some(m) = &self.0 {
            m.started
                .get_or_create(&TransportLabels { transport })
                .inc();
            m.in_flight[transport as usize].inc();
        }
    }

    pub(crate) fn step_done(&self, step: Step, took: Duration) {
        if let Some(m) = &self.0 {
            m.step_duration[usize::from(step.number()) - 1].observe(took.as_secs_f64());
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn session_ended(
        &self,
        transport: Transport,
        suite: SuiteLabel,
        outcome: Outcome,
        alert: AlertLabel,
        step: Option<Step>,
        took: Duration,
    ) {
        if let Some(m) = &self.0 {
            m.ended
                .get_or_create(&EndedLabels {
                    transport,
                    suite,
                    outcome,
                    alert,
                    step: StepNumber(step),
                    step_name: StepName(step),
                })
                .inc();
            m.session_duration
                .get_or_create(&DurationLabels {
                    transport,
                    suite,
                    outcome,
                })
                .observe(took.as_secs_f64());
            m.in_flight[transport as usize].dec();
        }
    }

    /// A session refused or ended by `limit`.
    pub fn limit_hit(&self, limit: Limit) {
        if let Some(m) = &self.0 {
            m.limits.get_or_create(&LimitLabels { limit }).inc();
        }
    }

    /// server-svc: the TLS front accepted a connection; it is open until
    /// the returned guard drops.
    pub fn front_connection(&self) -> FrontConnection {
        if let Some(m) = &self.0 {
            m.front_total.inc();
            m.front_open.inc();
        }
        FrontConnection(self.clone())
    }

    /// client-svc: a session went to `replica`.
    pub fn replica_session(&self, replica: Replica) {
        if let Some(m) = &self.0 {
            m.replicas.get_or_create(&ReplicaLabels { replica }).inc();
        }
    }

    /// client-svc: DNS no longer gives `addr`; its series goes.
    pub fn replica_removed(&self, addr: &str) {
        if let Some(m) = &self.0 {
            m.replicas.remove(&ReplicaLabels {
                replica: Replica::Addr(addr.into()),
            });
        }
    }
}

/// An open TLS front connection: the open gauge goes down on drop.
#[derive(Debug)]
pub struct FrontConnection(Metrics);

impl Drop for FrontConnection {
    fn drop(&mut self) {
        if let Some(m) = &self.0.0 {
            m.front_open.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported_with_the_service_label() {
        let m = Metrics::new(Service::Server);
        let text = m.encode();
        for family in [
            "handshake_sessions_started_total",
            "handshake_step_duration_seconds_bucket{",
            "handshake_sessions_in_flight{",
            "handshake_limits_hit_total{",
            "handshake_tls_front_connections_total",
            "handshake_tls_front_connections_open",
            "handshake_build_info{",
        ] {
            assert!(text.contains(family), "{family} missing:\n{text}");
        }
        assert!(!text.contains("handshake_server_replica_sessions"));
        for limit in [
            "max_sessions",
            "message_size",
            "idle_timeout",
            "handshake_deadline",
        ] {
            assert!(
                text.contains(&format!(
                    "handshake_limits_hit_total{{service=\"server-svc\",limit=\"{limit}\"}} 0"
                )),
                "{limit}:\n{text}"
            );
        }
        assert!(text.contains("step=\"13\",step_name=\"Finish\""));
        assert!(text.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
        let client = Metrics::new(Service::Client).encode();
        assert!(client.contains("limit=\"session_timeout\"} 0"));
        assert!(!client.contains("tls_front"));
        assert!(client.contains("service=\"client-svc\""));
    }

    #[test]
    fn sessions_are_counted_with_enum_labels_only() {
        let m = Metrics::new(Service::Server);
        m.session_started(Transport::grpc);
        m.step_done(Step::ClientHello, Duration::from_micros(5));
        // An alert the registry does not know, a suite the engine does not
        // implement: no new values.
        m.session_ended(
            Transport::grpc,
            SuiteLabel::new(CipherSuite(0x1234)),
            Outcome::failed,
            AlertLabel::new(AlertDescription(0xee)),
            Some(Step::ClientHello),
            Duration::from_millis(3),
        );
        m.session_started(Transport::tls);
        m.session_ended(
            Transport::tls,
            SuiteLabel::new(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            Outcome::completed,
            AlertLabel::default(),
            Some(Step::Finish),
            Duration::from_millis(3),
        );
        let text = m.encode();
        assert!(text.contains(
            "handshake_sessions_ended_total{service=\"server-svc\",transport=\"grpc\",suite=\"none\",outcome=\"failed\",alert=\"unknown\",step=\"1\",step_name=\"Client Hello\"} 1"
        ), "{text}");
        assert!(text.contains(
            "suite=\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",outcome=\"completed\",alert=\"none\",step=\"13\""
        ));
        assert!(
            text.contains(
                "handshake_sessions_in_flight{service=\"server-svc\",transport=\"grpc\"} 0"
            )
        );
        assert!(text.contains(
            "handshake_sessions_started_total{service=\"server-svc\",transport=\"tls\"} 1"
        ));
        assert!(!text.contains("0x"), "{text}");
    }

    #[test]
    fn front_connections_and_replicas() {
        let m = Metrics::new(Service::Server);
        let c = m.front_connection();
        assert!(
            m.encode()
                .contains("handshake_tls_front_connections_open{service=\"server-svc\"} 1")
        );
        drop(c);
        let text = m.encode();
        assert!(text.contains("handshake_tls_front_connections_open{service=\"server-svc\"} 0"));
        assert!(text.contains("handshake_tls_front_connections_total{service=\"server-svc\"} 1"));

        let m = Metrics::new(Service::Client);
        let a = "10.0.0.1:50051";
        m.replica_session(Replica::Addr(a.into()));
        m.replica_session(Replica::Other);
        let text = m.encode();
        assert!(text.contains("replica=\"10.0.0.1:50051\"} 1"), "{text}");
        assert!(text.contains("replica=\"other\"} 1"));
        m.replica_removed(a);
        assert!(!m.encode().contains("10.0.0.1"));
    }

    #[test]
    fn disabled_records_nothing() {
        let m = Metrics::disabled();
        m.session_started(Transport::grpc);
        m.limit_hit(Limit::max_sessions);
        drop(m.front_connection());
        assert!(!m.is_enabled());
        assert_eq!(m.encode(), "");
    }
}
