//! Helpers shared by the integration tests. Each test binary declares
//! `mod common;` and uses a subset, so unused items are not warnings.
#![allow(dead_code)]

pub mod pair;
pub use test_pki as pki;

use handshake::{Connection, Error, Message};

/// `Connection::handle` reports a failure on one channel only (the
/// `Failed` event, kept in `Connection::failure`); tests that assert on a
/// single message read that as a `Result`.
pub trait Feed {
    fn feed(&mut self, msg: Message) -> Result<(), Error>;
}

impl Feed for Connection {
    fn feed(&mut self, msg: Message) -> Result<(), Error> {
        self.handle(msg);
        self.failure().map_or(Ok(()), |e| Err(e.clone()))
    }
}
