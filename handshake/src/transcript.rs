//! The handshake transcript: the RFC 5246 encodings of every handshake
//! message so far, in order, as hashed for Finished (7.4.9) and for the
//! extended master secret's session_hash (RFC 7627 3).
//!
//! The hash function is only known once the ServerHello names the suite,
//! so the bytes are kept (a few KiB) and hashed on demand, three times a
//! session: simpler than buffering then switching to a running hash, and
//! the cost is noise next to one RSA or ECDH operation.

use aws_lc_rs::digest;

use crate::msgs::codec::Codec;
use crate::msgs::handshake::HandshakeMessage;
use crate::suites::HashAlgorithm;

#[derive(Clone, Debug, Default)]
pub struct Transcript {
    bytes: Vec<u8>,
}

impl Transcript {
    /// Appends `msg` and returns its encoding (for events).
    pub fn add(&mut self, msg: &HandshakeMessage) -> Vec<u8> {
        let enc = msg.get_encoding();
        self.bytes.extend_from_slice(&enc);
        enc
    }

    /// Hash(handshake_messages) with the suite's hash.
    pub fn hash(&self, alg: HashAlgorithm) -> Vec<u8> {
        digest::digest(alg.digest(), &self.bytes).as_ref().to_vec()
    }
}
