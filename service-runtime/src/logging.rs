//! Where both services' logs go: the subscriber ([`init_tracing`]) with
//! its text or JSON lines, the OpenTelemetry layer when traces are on
//! ([`crate::telemetry`]), and [`List`], the way to log a list so that a
//! JSON line carries it as an array.

use std::fmt::{self, Write as _};

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::telemetry::{self, Telemetry};

/// Keeps the log writer running (and, with traces on, the span exporter):
/// lines still buffered are written when it is dropped, so hold it until
/// the process is about to exit (and drop it before printing a last error
/// line, which then comes last).
#[must_use = "logs stop when the guard is dropped"]
pub struct LogGuard {
    // Dropped first: its last spans may still log an export failure.
    telemetry: Option<Telemetry>,
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

impl LogGuard {
    /// Exports the spans still queued and stops the exporter (at most the
    /// export timeout, `OTEL_BSP_EXPORT_TIMEOUT`). Call it while the async
    /// runtime still runs: the gRPC exporter's connection lives on it.
    pub fn shut_down_telemetry(&mut self) {
        if let Some(t) = self.telemetry.take() {
            t.shut_down();
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shut_down_telemetry();
    }
}

/// Installs the tracing subscriber: human-readable text, or one JSON object
/// per line with `json`; which lines, from RUST_LOG (default `info`). With
/// `OTEL_EXPORTER_OTLP_ENDPOINT` set ([`crate::telemetry`]), also an
/// OpenTelemetry layer with a filter of its own, so the step events reach
/// the traces whatever RUST_LOG says; `service` is the default service name.
/// Call it inside the async runtime (`Runtime::enter`): the OTLP exporter's
/// gRPC channel is spawned on it.
///
/// Lines are formatted on the thread that logs, then handed to one writer
/// thread that writes whatever has queued up in one go and flushes when the
/// queue is empty: at a thousand sessions a second, one `write` per line
/// (stderr is unbuffered) cost about a quarter of server-svc's CPU time per
/// ECDHE session. Nothing is dropped: when the queue is full, loggers wait.
pub fn init_tracing(json: bool, service: &str) -> Result<LogGuard, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files and `kubectl logs` get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    // RUST_LOG filters this layer only (not the whole subscriber), so the
    // OpenTelemetry layer still sees what its own filter lets through.
    let log: Box<dyn Layer<_> + Send + Sync> = if json {
        fmt.event_format(JsonLines)
            .fmt_fields(JsonFields)
            .with_filter(filter)
            .boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let telemetry = telemetry::from_env(service)?;
    let mut layers = vec![log];
    if let Some(t) = &telemetry {
        layers.push(t.layer());
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    Ok(LogGuard {
        telemetry,
        _writer: guard,
    })
}

/// A list to log as one field: `suites = %List(&suites)`. It displays as
/// `["A", "B"]` (each item's `Display`, quoted as JSON, at most
/// [`List::MAX_ITEMS`] and then how many more), which `--log-json` writes
/// as a JSON array.
pub struct List<'a, T>(pub &'a [T]);

impl<T> List<'_, T> {
    /// Items written before the rest are only counted: a log line stays
    /// bounded whatever the list.
    pub const MAX_ITEMS: usize = 32;
}

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (n, i) in self.0.iter().take(Self::MAX_ITEMS).enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            // serde_json quotes and escapes (control characters too).
            write!(f, "{}", Value::String(i.to_string()))?;
        }
        if self.0.len() > Self::MAX_ITEMS {
            let more = format!("… and {} more", self.0.len() - Self::MAX_ITEMS);
            write!(f, ", {}", Value::String(more))?;
        }
        f.write_char(']')
    }
}

/// tracing-subscriber's `.json().flatten_event(true)` line (timestamp,
/// level, the event's fields incl. message, target, the current span and
/// the list of spans), except that a field whose text is a JSON array is
/// written as that array: [`List`], or the `Debug` of a list of strings.
struct JsonLines;

/// The fields of a span as a JSON object, kept with the span for
/// [`JsonLines`] (the same array rule).
struct JsonFields;

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = JsonVisitor::default();
        fields.record(&mut visitor);
        writer.write_char('{')?;
        visitor.write_members(&mut writer)?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // A field recorded after the span started: rare, so re-parsing
        // what is there is fine (a field recorded again keeps its place).
        let mut visitor = JsonVisitor::default();
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&current.fields) {
            visitor.0.extend(map);
        }
        fields.record(&mut visitor);
        let mut out = String::from("{");
        visitor.write_members(&mut out)?;
        out.push('}');
        current.fields = out;
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = JsonVisitor::default();
        line.put_value("timestamp", Value::String(timestamp));
        line.put_value("level", Value::String(meta.level().to_string()));
        event.record(&mut line);
        line.put_value("target", Value::String(meta.target().to_owned()));
        let mut out = String::from("{");
        line.write_members(&mut out)?;
        // Each span: its fields as JsonFields kept them, then its name.
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<N>>()
                    .map(|f| f.fields.as_str())
                    .unwrap_or_default();
                let members = fields
                    .strip_prefix('{')
                    .and_then(|f| f.strip_suffix('}'))
                    .unwrap_or_default();
                let name = Value::String(span.name().to_owned());
                spans.push(match members.is_empty() {
                    true => format!("{{\"name\":{name}}}"),
                    false => format!("{{{members},\"name\":{name}}}"),
                });
            }
        }
        if let Some(current) = spans.last() {
            write!(out, ",\"span\":{current},\"spans\":[{}]", spans.join(","))?;
        }
        out.push('}');
        writeln!(writer, "{out}")
    }
}

/// Field values as JSON: numbers and booleans as such, everything else as
/// text, except text that is a JSON array (not the message: what a line
/// says stays text).
/// Members in the order they were recorded, as tracing-subscriber writes
/// them; a name recorded again replaces the value in its place.
#[derive(Default)]
struct JsonVisitor(Vec<(String, Value)>);

impl JsonVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        // `r#type` is logged as `type`, as tracing-subscriber does.
        self.put_value(name.strip_prefix("r#").unwrap_or(name), value);
    }

    fn put_value(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// `"name":value,...` (serde_json quotes and escapes).
    fn write_members(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for (n, (name, value)) in self.0.iter().enumerate() {
            if n > 0 {
                out.write_char(',')?;
            }
            write!(out, "{}:{value}", Value::String(name.clone()))?;
        }
        Ok(())
    }

    fn put_text(&mut self, field: &Field, text: String) {
        let value = match field.name() != "message" && looks_like_array(&text) {
            true => match serde_json::from_str::<Value>(&text) {
                Ok(array @ Value::Array(_)) => array,
                _ => Value::String(text),
            },
            false => Value::String(text),
        };
        self.put(field, value);
    }
}

fn looks_like_array(text: &str) -> bool {
    let text = text.trim();
    text.starts_with('[') && text.ends_with(']')
}

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and the infinities are not JSON numbers: text then.
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, v.into()),
            Err(_) => self.put(field, Value::String(value.to_string())),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.put(field, v.into()),
            Err(_) => self.put(field, Value::String(value.to_string())),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_text(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put_text(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// What a test subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn json_lines(log: impl FnOnce()) -> Vec<Value> {
        raw_json_lines(log)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn raw_json_lines(log: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(out.clone())
            .event_format(JsonLines)
            .fmt_fields(JsonFields);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, log);
        out.lines()
    }

    #[test]
    fn list_fields_are_arrays_and_the_rest_keeps_its_shape() {
        let suites = ["TLS_A", "TLS_\"B\""];
        let names = vec!["x".to_owned(), "y".to_owned()];
        let lines = json_lines(|| {
            let span = tracing::info_span!("session", id = "abc", n = 3);
            let _in = span.enter();
            tracing::info!(
                suites = %List(&suites),
                names = ?names,
                empty = %List::<u8>(&[]),
                not_json = ?[Some(1)],
                count = 2u64,
                ok = true,
                "[not] an array"
            );
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["suites"], serde_json::json!(["TLS_A", "TLS_\"B\""]));
        assert_eq!(line["names"], serde_json::json!(["x", "y"]));
        assert_eq!(line["empty"], serde_json::json!([]));
        assert_eq!(line["not_json"], "[Some(1)]");
        assert_eq!(line["message"], "[not] an array");
        assert_eq!(
            (line["count"].as_u64(), line["ok"].as_bool()),
            (Some(2), Some(true))
        );
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        let span = serde_json::json!({"id": "abc", "n": 3, "name": "session"});
        assert_eq!(line["span"], span);
        assert_eq!(line["spans"], serde_json::json!([span]));
    }

    #[test]
    fn members_come_in_tracing_subscribers_order() {
        let lines = raw_json_lines(|| {
            let span = tracing::info_span!("session", id = "abc", n = 3);
            span.in_scope(|| tracing::info!(b = 1, a = 2, "hi"));
            tracing::info!(z = 1, "no span");
        });
        let [inside, outside] = &lines[..] else {
            panic!("{lines:?}")
        };
        let rest = inside.strip_prefix("{\"timestamp\":\"").unwrap();
        let target = module_path!();
        let tail = format!(
            "Z\",\"level\":\"INFO\",\"message\":\"hi\",\"b\":1,\"a\":2,\"target\":\"{target}\",\
             \"span\":{{\"id\":\"abc\",\"n\":3,\"name\":\"session\"}},\
             \"spans\":[{{\"id\":\"abc\",\"n\":3,\"name\":\"session\"}}]}}"
        );
        assert!(rest.ends_with(&tail), "{inside}");
        let tail = format!(
            "Z\",\"level\":\"INFO\",\"message\":\"no span\",\"z\":1,\"target\":\"{target}\"}}"
        );
        assert!(outside.ends_with(&tail), "{outside}");
    }

    #[test]
    fn control_characters_and_late_fields_stay_valid_json() {
        let lines = json_lines(|| {
            let span = tracing::info_span!(
                "session",
                id = "a\u{1b}[31m\n",
                late = tracing::field::Empty
            );
            span.record("late", "\u{0}\t\"");
            let _in = span.enter();
            tracing::warn!(reason = "bad\r\n\u{7f}\u{1}", list = ?["\u{2}"], "x\ny");
            tracing::info!(nan = f64::NAN, "no span fields lost");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["reason"], "bad\r\n\u{7f}\u{1}");
        // Rust's Debug escapes \u{2} as `\u{2}`: not JSON, so text.
        assert_eq!(lines[0]["list"], "[\"\\u{2}\"]");
        assert_eq!(lines[0]["message"], "x\ny");
        assert_eq!(lines[0]["span"]["id"], "a\u{1b}[31m\n");
        assert_eq!(lines[0]["span"]["late"], "\u{0}\t\"");
        assert_eq!(lines[1]["nan"], "NaN");
        // Outside any span: no span keys at all, as before.
        let lines = json_lines(|| tracing::info!("alone"));
        assert!(lines[0].get("span").is_none() && lines[0].get("spans").is_none());
    }

    #[test]
    fn text_lines_are_tracing_subscribers_own() {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(out.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("session", id = "abc");
            let _in = span.enter();
            tracing::info!(suites = %List(&["A", "B"]), "listening");
        });
        let lines = out.lines();
        assert_eq!(
            lines,
            [format!(
                " INFO session{{id=\"abc\"}}: {}: listening suites=[\"A\", \"B\"]",
                module_path!()
            )]
        );
    }

    #[test]
    fn a_long_list_is_cut_and_counted() {
        let items: Vec<u32> = (0..40).collect();
        let text = List(&items).to_string();
        let value: Value = serde_json::from_str(&text).unwrap();
        let array = value.as_array().unwrap();
        assert_eq!(array.len(), List::<u32>::MAX_ITEMS + 1);
        assert_eq!(array[0], "0");
        assert_eq!(array[List::<u32>::MAX_ITEMS], "… and 8 more");
    }
}
