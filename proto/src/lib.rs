//! The `handshake.v1` gRPC contract, generated from `proto/handshake/v1`,
//! and what a Rust client of either service needs around it. The service
//! runtime (serving, limits, key logs) is in `service-runtime`.
//!
//! # Layout
//!
//! ```text
//! lib.rs      the generated code under `pb`, the descriptor set for reflection,
//!             the session-id header
//! convert.rs  pb messages <-> the engine's `handshake::Message`
//! status.rs   TLS alerts <-> gRPC status codes; the report in status details
//! ```

#![forbid(unsafe_code)]

/// Generated messages, clients and servers of package `handshake.v1`.
pub mod pb {
    tonic::include_proto!("handshake.v1");
    include!(concat!(env!("OUT_DIR"), "/handshake.v1.serde.rs"));
}

pub mod convert;
pub mod status;

/// The encoded FileDescriptorSet of `handshake.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/handshake_v1_descriptor.bin"));

/// The request and response metadata key naming a session in both
/// services' logs (service.proto). A client may propose an id (1 to 64
/// characters of letters, digits, `-`, `_`, `.`) to correlate its own
/// logs; otherwise server-svc draws one. Either way it comes back in the
/// response headers.
pub const SESSION_ID_HEADER: &str = "session-id";
