//! The handshake transcript: the RFC 5246 encodings of every handshake
//! message so far, in order, as hashed for Finished (7.4.9) and for the
//! extended master secret's session_hash (RFC 7627 3).
//!
//! The hash function is only known once the suite is (the server chooses
//! it, the client reads it in ServerHello), so the first messages are
//! buffered; [`Transcript::start`] then feeds them into a running hash,
//! which every later message updates, as rustls' `HandshakeHashBuffer` /
//! `HandshakeHash` do. A hash is a copy of the running state, finished:
//! each byte is hashed once per side instead of once per hash (three a
//! session, over a transcript of a few KiB: a few percent of a whole
//! session's time), and a session waiting for the client's key exchange
//! holds a hash state instead of every message so far.

use aws_lc_rs::digest;

use crate::error::Error;
use crate::msgs::codec::Codec;
use crate::msgs::handshake::HandshakeMessage;
use crate::suites::HashAlgorithm;

/// Hash(handshake_messages): [`Transcript::add`] each message in order,
/// [`Transcript::start`] with the suite's hash once it is known, then
/// [`Transcript::hash`] for verify_data or the EMS session_hash.
#[derive(Clone, Default)]
pub struct Transcript {
    /// Messages added before the hash was known.
    buffer: Vec<u8>,
    /// The running hash once [`Transcript::start`] was called.
    running: Option<digest::Context>,
}

impl Transcript {
    /// Appends `msg` and returns its encoding (for events). Fails only if
    /// a message built here cannot be encoded ([`Codec::encode`]); nothing
    /// is added then.
    pub fn add(&mut self, msg: &HandshakeMessage) -> Result<Vec<u8>, Error> {
        let enc = msg.get_encoding()?;
        match &mut self.running {
            Some(ctx) => ctx.update(&enc),
            None => self.buffer.extend_from_slice(&enc),
        }
        Ok(enc)
    }

    /// From now on hashes with `alg` (the suite's hash): what was buffered
    /// goes into the running hash and is dropped. Called once; a second
    /// call does nothing.
    pub fn start(&mut self, alg: HashAlgorithm) {
        if self.running.is_some() {
            return;
        }
        let mut ctx = digest::Context::new(alg.digest());
        ctx.update(&self.buffer);
        self.buffer = Vec::new();
        self.running = Some(ctx);
    }

    /// Hash(handshake_messages) so far, with the hash given to
    /// [`Transcript::start`]. Before it there is no hash to take: an
    /// internal error (a state machine bug, not a peer's).
    pub fn hash(&self) -> Result<Vec<u8>, Error> {
        let ctx = self
            .running
            .clone()
            .ok_or_else(|| Error::internal("transcript hash asked before the suite was known"))?;
        Ok(ctx.finish().as_ref().to_vec())
    }
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("buffered", &self.buffer.len())
            .field("running", &self.running.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::handshake::HandshakePayload;

    fn message() -> HandshakeMessage {
        HandshakeMessage::from(HandshakePayload::ServerHelloDone)
    }

    #[test]
    fn running_hash_equals_hash_of_all_messages() {
        for alg in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
            let mut t = Transcript::default();
            let mut all = t.add(&message()).unwrap();
            t.start(alg);
            all.extend(t.add(&message()).unwrap());
            let first = t.hash().unwrap();
            assert_eq!(
                first,
                digest::digest(alg.digest(), &all).as_ref(),
                "{alg:?}"
            );
            // Taking a hash does not disturb the running one.
            all.extend(t.add(&message()).unwrap());
            t.start(HashAlgorithm::Sha384);
            assert_eq!(
                t.hash().unwrap(),
                digest::digest(alg.digest(), &all).as_ref(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn no_hash_before_the_suite_is_known() {
        let mut t = Transcript::default();
        t.add(&message()).unwrap();
        let e = t.hash().unwrap_err();
        assert_eq!(e.alert(), crate::AlertDescription::INTERNAL_ERROR);
    }
}
