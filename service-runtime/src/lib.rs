//! What server-svc and client-svc run around their services: the service
//! runtime, apart from the contract (`proto`), so that a client of the
//! contract does not pull in tracing set-up, health or reflection.
//!
//! # Layout
//!
//! ```text
//! cli.rs        the flags both services' `serve` share, every flag's variable, `main`
//! serve.rs      health, reflection and graceful shutdown for both services
//! logging.rs    the log subscriber: text or JSON lines (lists as arrays), the traces' layer
//! telemetry.rs  optional OTLP trace export, W3C trace context in gRPC metadata
//! limits.rs     session budget, message size, keepalive, connection age
//! deadline.rs   accepted connections that end at their maximum age + grace
//! accept.rs     accepting TCP connections, backing off while accept fails (out of descriptors)
//! keylog.rs     NSS key log files (lab option of both services)
//! session_id.rs the random id that names a session in both services' logs
//! metrics.rs    the Prometheus families and their bounded label types (Metrics)
//! exporter.rs   --metrics-listen: the GET /metrics HTTP listener
//! watch.rs      SessionWatch: one session's metrics and its one info summary line
//! steps.rs      the thirteen step lines (debug, target handshake::step)
//! records.rs    TLS records over TCP: the engine's framing as a tokio_util codec, and the
//!               connection that reads and writes it (TLS front, tls://)
//! ```

#![forbid(unsafe_code)]

pub mod accept;
pub mod cli;
mod deadline;
pub mod exporter;
pub mod keylog;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod records;
pub mod serve;
mod session_id;
pub mod steps;
pub mod telemetry;
pub mod watch;

pub use session_id::new_session_id;
