//! What the fuzz targets share: the committed lab PKI and the configs made
//! from it ([`lab`]), the checks every decoder must pass ([`codec`]), one
//! role's state machine driven by fuzz input against a live peer
//! ([`session`]), and a small cursor over the fuzz input ([`input`]).
//!
//! The targets (fuzz_targets/*.rs) are thin: each reads its input and calls
//! into here. Nothing here does network I/O. README.md describes every
//! target's input format.

#![forbid(unsafe_code)]

pub mod codec;
pub mod input;
pub mod lab;
pub mod session;
