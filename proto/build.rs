//! Compiles proto/handshake/v1/*.proto into Rust (prost messages, tonic
//! clients and servers), a descriptor set for server reflection, and
//! proto3-JSON serde impls (pbjson) for the CLI's `--json`.
//!
//! protoc comes from the protoc-bin-vendored crate, so a fresh machine needs
//! nothing installed beyond Rust.

use std::path::PathBuf;

const PROTOS: &[&str] = &["handshake/v1/tls.proto", "handshake/v1/service.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out.join("handshake_v1_descriptor.bin");

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // The generated `connect` constructor would clash with the RPC
        // `Connect`; clients are built from a Channel with `new` instead.
        .build_transport(false)
        .file_descriptor_set_path(&descriptors)
        .compile_with_config(config, PROTOS, &["."])?;

    let set = std::fs::read(&descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&set)?
        .build(&[".handshake.v1"])?;

    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
