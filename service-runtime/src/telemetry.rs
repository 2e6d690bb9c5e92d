//! Optional OpenTelemetry traces: the `session` span of each service goes
//! out over OTLP/gRPC, its step lines as span events, and the W3C trace
//! context travels in gRPC metadata so that one trace holds a session
//! across client-svc and server-svc.
//!
//! On only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and not empty and
//! `OTEL_SDK_DISABLED` is not `true`. Off, there is no OpenTelemetry layer
//! and no provider, and the helpers here return at once. The service name
//! is `OTEL_SERVICE_NAME`, else the binary's; the batch span processor
//! takes the standard `OTEL_BSP_*` variables.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::Targets;

/// The target of the thirteen step lines (`debug!(target: STEP_TARGET,
/// ...)`): the OpenTelemetry layer lets them through at debug, so they are
/// span events whatever RUST_LOG says.
pub const STEP_TARGET: &str = "handshake::step";

/// The target of spans made for the traces only (client-svc's `request`
/// span): debug, so the log shows them only when RUST_LOG asks for debug,
/// while the OpenTelemetry layer always takes them.
pub const TRACE_TARGET: &str = "otel";

/// The trace pipeline while traces are on: held by the log guard, which
/// shuts it down at exit.
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
}

/// Whether the environment turns traces on (see the module doc); `var`
/// reads a variable.
fn configured(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The trace pipeline if the environment turns traces on. Must run inside
/// the async runtime: the exporter's gRPC channel is spawned on it (it
/// connects lazily: a collector that is not up yet is no startup error).
pub(crate) fn from_env(service: &str) -> Result<Option<Telemetry>, String> {
    if !configured(|name| std::env::var(name).ok()) {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| format!("OTLP trace exporter: {e}"))?;
    // Resource::builder() reads OTEL_SERVICE_NAME and
    // OTEL_RESOURCE_ATTRIBUTES; without a name, ours rather than
    // `unknown_service`.
    let resource = match std::env::var("OTEL_SERVICE_NAME") {
        Ok(name) if !name.trim().is_empty() => Resource::builder().build(),
        _ => Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    };
    // Its own thread, batches by OTEL_BSP_* (default: every 5 s or 512
    // spans, 2048 queued, the rest dropped rather than slowing sessions).
    let processor = BatchSpanProcessor::builder(exporter).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    Ok(Some(Telemetry { provider }))
}

impl Telemetry {
    /// The OpenTelemetry layer, with its own filter: spans and events at
    /// info, the step lines and the trace-only spans at debug.
    pub(crate) fn layer(&self) -> Box<dyn Layer<Registry> + Send + Sync> {
        let tracer = self.provider.tracer(env!("CARGO_PKG_NAME"));
        let filter = Targets::new()
            .with_default(Level::INFO)
            .with_target(STEP_TARGET, Level::DEBUG)
            .with_target(TRACE_TARGET, Level::DEBUG);
        let otel: OtelLayer = tracing_opentelemetry::layer().with_tracer(tracer);
        otel.with_filter(filter).boxed()
    }

    /// Exports what is queued and stops the exporter thread; an export
    /// that fails now has nobody left to tell but stderr.
    pub(crate) fn shut_down(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: traces: shutting the exporter down: {e}");
        }
    }
}

/// The OpenTelemetry layer as [`Telemetry::layer`] makes it: what the
/// helpers below look for in the subscriber (a type id comparison per
/// layer) to know whether there is anything to do.
type OtelLayer = tracing_opentelemetry::OpenTelemetryLayer<Registry, SdkTracer>;

/// Whether `span` goes to OpenTelemetry: traces on, and the span enabled.
fn traced(span: &Span) -> bool {
    span.with_subscriber(|(_, dispatch)| dispatch.downcast_ref::<OtelLayer>().is_some())
        .unwrap_or(false)
}

/// Whether the subscriber of this thread has the OpenTelemetry layer.
fn traces_on() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<OtelLayer>().is_some())
}

/// With traces on, a `request` span (kind server, target [`TRACE_TARGET`])
/// for the call `rpc` of a gRPC service, its parent the caller's trace
/// context from `metadata`: the spans made while it is current (a
/// `session`) are the caller's trace. With traces off, [`Span::none`].
pub fn request_span(rpc: &'static str, metadata: &MetadataMap) -> Span {
    if !traces_on() {
        return Span::none();
    }
    let span = tracing::debug_span!(target: TRACE_TARGET, "request", rpc, otel.kind = "server");
    set_parent_from(&span, metadata);
    span
}

/// Makes the trace context in `metadata` (W3C `traceparent`/`tracestate`)
/// the parent of `span`, which must not have been entered yet. Returns
/// whether it did: not with traces off, without a valid `traceparent`, or
/// once the span has started.
pub fn set_parent_from(span: &Span, metadata: &MetadataMap) -> bool {
    if !traced(span) {
        return false;
    }
    let cx = TraceContextPropagator::new().extract(&Carrier(metadata));
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// Writes `span`'s trace context into `metadata` as W3C `traceparent`
/// (and `tracestate`), for the next service to continue the trace. With
/// traces off, nothing.
pub fn inject_into(span: &Span, metadata: &mut MetadataMap) {
    if !traced(span) {
        return;
    }
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut CarrierMut(metadata));
    }
}

/// Sets `span`'s OpenTelemetry kind (`"server"`, `"client"`): the span
/// must declare `otel.kind = tracing::field::Empty` and not have been
/// entered yet. With traces off, nothing (and the log lines do not grow
/// the field).
pub fn set_kind(span: &Span, kind: &'static str) {
    if traced(span) {
        span.record("otel.kind", kind);
    }
}

struct Carrier<'a>(&'a MetadataMap);

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct CarrierMut<'a>(&'a mut MetadataMap);

impl Injector for CarrierMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes valid header names and values; one that is
        // not is left out rather than failing the call.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanKind, TraceId};
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn traced_subscriber() -> (
        InMemorySpanExporter,
        Telemetry,
        impl tracing::Subscriber + Send + Sync,
    ) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let telemetry = Telemetry { provider };
        // As `logging::init_tracing` composes it: a log at info beside it,
        // which must not hide the step lines and request spans from it.
        let log = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(tracing_subscriber::EnvFilter::new("info"))
            .boxed();
        let subscriber = tracing_subscriber::registry().with(vec![log, telemetry.layer()]);
        (exporter, telemetry, subscriber)
    }

    #[test]
    fn the_context_travels_through_metadata_from_parent_to_child() {
        let (exporter, telemetry, subscriber) = traced_subscriber();
        let mut metadata = MetadataMap::new();
        tracing::subscriber::with_default(subscriber, || {
            // client-svc's session span, calling server-svc.
            let caller = tracing::info_span!("session", otel.kind = tracing::field::Empty);
            set_kind(&caller, "client");
            caller.in_scope(|| inject_into(&Span::current(), &mut metadata));
            drop(caller);
            // server-svc's, from the request's metadata.
            let session = tracing::info_span!("session", otel.kind = tracing::field::Empty);
            assert!(set_parent_from(&session, &metadata));
            set_kind(&session, "server");
            session.in_scope(|| {
                tracing::debug!(target: STEP_TARGET, step = 1, step_name = "ClientHello", "step 1");
                // Not a step line, not info: not in the trace.
                tracing::debug!("chatter");
            });
            // Too late once started.
            assert!(!set_parent_from(&session, &metadata));
        });
        // (Before shutting down, which empties the in-memory exporter.)
        let spans = exporter.get_finished_spans().unwrap();
        telemetry.shut_down();
        let traceparent = metadata.get("traceparent").unwrap().to_str().unwrap();
        assert!(
            traceparent.starts_with("00-") && traceparent.ends_with("-01"),
            "{traceparent}"
        );
        let [caller, session] = &spans[..] else {
            panic!("{spans:?}")
        };
        assert_eq!(caller.span_kind, SpanKind::Client);
        assert_eq!(session.span_kind, SpanKind::Server);
        let trace = caller.span_context.trace_id();
        assert_ne!(trace, TraceId::INVALID);
        assert_eq!(session.span_context.trace_id(), trace);
        assert_eq!(session.parent_span_id, caller.span_context.span_id());
        let events: Vec<_> = session.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(events, ["step 1"]);
        let attributes = &session.events.events[0].attributes;
        assert!(
            attributes
                .iter()
                .any(|kv| kv.key.as_str() == "step_name" && kv.value.as_str() == "ClientHello"),
            "{attributes:?}"
        );
    }

    #[test]
    fn a_caller_s_traceparent_is_the_parent_and_garbage_is_ignored() {
        let (exporter, telemetry, subscriber) = traced_subscriber();
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut metadata = MetadataMap::new();
        let parent = format!("00-{trace}-00f067aa0ba902b7-01");
        metadata.insert("traceparent", parent.parse().unwrap());
        let mut garbage = MetadataMap::new();
        garbage.insert("traceparent", "00-zz-00-01".parse().unwrap());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            assert!(!set_parent_from(&span, &garbage));
            assert!(!set_parent_from(&span, &MetadataMap::new()));
            assert!(set_parent_from(&span, &metadata));
            let mut out = MetadataMap::new();
            inject_into(&span, &mut out);
            let sent = out.get("traceparent").unwrap().to_str().unwrap();
            assert!(sent.contains(trace), "{sent}");
        });
        let spans = exporter.get_finished_spans().unwrap();
        telemetry.shut_down();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].span_context.trace_id().to_string(), trace);
    }

    #[test]
    fn a_request_span_only_with_traces_on() {
        let mut metadata = MetadataMap::new();
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = format!("00-{trace}-00f067aa0ba902b7-01");
        metadata.insert("traceparent", parent.parse().unwrap());
        assert!(request_span("Handshake", &metadata).is_none());
        let (exporter, telemetry, subscriber) = traced_subscriber();
        tracing::subscriber::with_default(subscriber, || {
            let request = request_span("Handshake", &metadata);
            assert!(!request.is_none());
            // The session span made inside it is its child.
            request.in_scope(|| tracing::info_span!("session").in_scope(|| {}));
        });
        let spans = exporter.get_finished_spans().unwrap();
        telemetry.shut_down();
        let [session, request] = &spans[..] else {
            panic!("{spans:?}")
        };
        assert_eq!(
            (session.name.as_ref(), request.name.as_ref()),
            ("session", "request")
        );
        assert_eq!(request.span_kind, SpanKind::Server);
        assert_eq!(request.span_context.trace_id().to_string(), trace);
        assert_eq!(session.span_context.trace_id().to_string(), trace);
        assert_eq!(session.parent_span_id, request.span_context.span_id());
    }

    #[test]
    fn with_traces_off_the_helpers_do_nothing() {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let subscriber = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("session", otel.kind = tracing::field::Empty);
            assert!(!set_parent_from(&span, &metadata));
            set_kind(&span, "server");
            let mut out = MetadataMap::new();
            span.in_scope(|| inject_into(&Span::current(), &mut out));
            assert!(out.is_empty());
        });
        // No subscriber at all.
        let mut out = MetadataMap::new();
        inject_into(&Span::current(), &mut out);
        assert!(out.is_empty() && !set_parent_from(&Span::current(), &metadata));
    }

    #[test]
    fn on_only_with_an_endpoint_and_not_disabled() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!configured(env(&[])));
        assert!(!configured(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(configured(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4317"
        )])));
        assert!(configured(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4317"
        )])));
        assert!(!configured(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(configured(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_SDK_DISABLED", "false"),
        ])));
    }
}
