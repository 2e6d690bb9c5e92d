//! Helpers shared by the integration tests. Each test binary declares
//! `mod common;` and uses a subset, so unused items are not warnings.
#![allow(dead_code)]

pub mod pair;
pub use test_pki as pki;
