//! The client's state machine fed a server's session that the fuzzer edits
//! (handshake_fuzz::session describes the input).
#![no_main]

use handshake::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| handshake_fuzz::session::run(Role::Client, data));
