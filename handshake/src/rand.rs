//! Randomness, injected: the engine never reaches for a global RNG for the
//! values that make a session (the two randoms, the RSA pre-master, ECDHE
//! private keys), so a seeded test gets the same ones on every run.
//!
//! What aws-lc draws internally cannot be injected: RSA-PSS salts, ECDSA
//! nonces and PKCS#1 encryption padding. So the ServerKeyExchange
//! signature (except PKCS#1 v1.5), the RSA ClientKeyExchange ciphertext,
//! and through the transcript an extended master secret, differ between
//! runs even with a seeded generator.

use crate::error::Error;

/// A source of random bytes for one engine.
pub trait Rng: Send {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's CSPRNG through aws-lc-rs: the one to use outside tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        aws_lc_rs::rand::fill(buf).map_err(|_| Error::internal("system random generator failed"))
    }
}

/// A deterministic generator for tests and reproducible lab runs: a
/// SHA-256 counter-mode stream from a seed. Not for production keys.
#[derive(Clone, Debug)]
pub struct SeededRng {
    seed: [u8; 32],
    counter: u64,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self {
            seed: s,
            counter: 0,
        }
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        for chunk in buf.chunks_mut(32) {
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            ctx.update(&self.seed);
            ctx.update(&self.counter.to_be_bytes());
            self.counter += 1;
            let block = ctx.finish();
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_repeatable_and_seed_dependent() {
        let (mut a, mut b, mut c) = (SeededRng::new(1), SeededRng::new(1), SeededRng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 50], [0u8; 50], [0u8; 50]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        c.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut w = [0u8; 50];
        a.fill(&mut w).unwrap();
        assert_ne!(x, w, "the stream moves on");
    }
}
