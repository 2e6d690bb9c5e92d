//! The id that names a session in both services' logs (and in the
//! `session-id` header, [`proto::SESSION_ID_HEADER`]).

use std::sync::atomic::{AtomicU64, Ordering};

use handshake::hex;
use handshake::{Rng, SystemRng};

/// A fresh random session id: 16 hex digits.
pub fn new_session_id() -> String {
    session_id_from(&mut SystemRng)
}

/// A session id drawn from `rng`. If it fails, "s" and a process-wide
/// counter: an id only labels log lines, and distinct labels still tell
/// sessions apart (a fixed fallback such as all zeros would name every
/// session alike). The session itself then fails with internal_error
/// when its engine draws its random.
fn session_id_from(rng: &mut dyn Rng) -> String {
    let mut bytes = [0u8; 8];
    match rng.fill(&mut bytes) {
        Ok(()) => hex(&bytes),
        Err(_) => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            format!("s{}", NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl Rng for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), handshake::Error> {
            Err(handshake::Error::internal("no randomness"))
        }
    }

    struct Counting(u8);

    impl Rng for Counting {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), handshake::Error> {
            buf.fill(self.0);
            self.0 += 1;
            Ok(())
        }
    }

    #[test]
    fn ids_are_sixteen_hex_digits_of_the_rng() {
        let mut rng = Counting(0xab);
        assert_eq!(session_id_from(&mut rng), "abababababababab");
        assert_eq!(session_id_from(&mut rng), "acacacacacacacac");
        let id = new_session_id();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }

    #[test]
    fn a_failing_rng_still_gives_distinct_ids() {
        let a = session_id_from(&mut Broken);
        let b = session_id_from(&mut Broken);
        assert!(a.starts_with('s') && b.starts_with('s'), "{a} {b}");
        assert_ne!(a, b);
    }
}
