//! The `handshake.v1` gRPC contract, generated from `proto/handshake/v1`,
//! and what both services need around it.
//!
//! # Layout
//!
//! ```text
//! lib.rs      the generated code under `pb`, and the descriptor set for reflection
//! accept.rs   accepting TCP connections, backing off while accept fails (out of descriptors)
//! convert.rs  pb messages <-> the engine's `handshake::Message`
//! status.rs   TLS alerts <-> gRPC status codes; the report in status details
//! serve.rs    tracing, health, reflection and graceful shutdown for both services
//! limits.rs   session budget, message size, keepalive, connection age
//! deadline.rs accepted connections that end at their maximum age + grace
//! keylog.rs   NSS key log files (lab option of both services)
//! ```

#![forbid(unsafe_code)]

/// Generated messages, clients and servers of package `handshake.v1`.
pub mod pb {
    tonic::include_proto!("handshake.v1");
    include!(concat!(env!("OUT_DIR"), "/handshake.v1.serde.rs"));
}

pub mod accept;
pub mod convert;
mod deadline;
pub mod keylog;
pub mod limits;
pub mod serve;
pub mod status;

/// The encoded FileDescriptorSet of `handshake.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/handshake_v1_descriptor.bin"));
