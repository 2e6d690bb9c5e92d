//! Lab faults: mistakes a side commits on purpose, to show what TLS
//! detects. They are a product feature (the lab options of both services),
//! so they live in one type that is off unless configured, and each is
//! applied here, at the one place the engine calls it; the states and the
//! record layer do not test the flags themselves.

use crate::error::Error;
use crate::msgs::enums::CipherSuite;

/// The faults to commit, all off by default. Never set them outside a lab.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabFaults {
    /// Flip a bit of this side's verify_data before sealing its Finished:
    /// the peer answers decrypt_error.
    pub corrupt_finished: bool,
    /// Server: choose an implemented suite the client did not offer: the
    /// client answers illegal_parameter.
    pub choose_unoffered_suite: bool,
    /// Server: flip a bit of the ServerKeyExchange signature (ECDHE): the
    /// client answers decrypt_error.
    pub corrupt_signature: bool,
    /// Flip the last byte (part of the AEAD tag) of every application data
    /// record after sealing it: the peer answers bad_record_mac.
    pub corrupt_application_record: bool,
}

impl LabFaults {
    /// Whether any fault is on (a service warns loudly when one is).
    pub fn any(&self) -> bool {
        *self != Self::default()
    }

    /// The Finished this side sends (steps 10 and 12).
    pub(crate) fn on_verify_data(&self, verify_data: &mut [u8]) {
        if self.corrupt_finished
            && let Some(first) = verify_data.first_mut()
        {
            *first ^= 0x01;
        }
    }

    /// The server's ServerKeyExchange signature (step 4).
    pub(crate) fn on_signature(&self, signature: &mut [u8]) {
        if self.corrupt_signature
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
    }

    /// A sealed application data record.
    pub(crate) fn on_application_record(&self, fragment: &mut [u8]) {
        if self.corrupt_application_record
            && let Some(last) = fragment.last_mut()
        {
            *last ^= 0x01;
        }
    }

    /// The server's suite choice (step 2): with `choose_unoffered_suite`,
    /// the first enabled suite the client did NOT offer that `usable`
    /// accepts; `None` when the fault is off and the normal choice stands.
    pub(crate) fn choose_suite<T>(
        &self,
        enabled: &[CipherSuite],
        offered: &[CipherSuite],
        usable: impl Fn(CipherSuite) -> Option<T>,
    ) -> Option<Result<T, Error>> {
        if !self.choose_unoffered_suite {
            return None;
        }
        Some(
            enabled
                .iter()
                .filter(|s| !offered.contains(s))
                .find_map(|s| usable(*s))
                .ok_or_else(|| {
                    Error::handshake_failure("lab fault: every enabled suite was offered")
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: LabFaults = LabFaults {
        corrupt_finished: true,
        choose_unoffered_suite: true,
        corrupt_signature: true,
        corrupt_application_record: true,
    };

    #[test]
    fn off_by_default_and_then_nothing_changes() {
        let off = LabFaults::default();
        assert!(!off.any());
        let mut bytes = [7u8; 12];
        off.on_verify_data(&mut bytes);
        off.on_signature(&mut bytes);
        off.on_application_record(&mut bytes);
        assert_eq!(bytes, [7u8; 12]);
        let suites = [CipherSuite(1), CipherSuite(2)];
        assert!(off.choose_suite(&suites, &[], Some).is_none());
    }

    #[test]
    fn each_fault_flips_one_bit_where_it_applies() {
        assert!(ON.any());
        let mut vd = [0u8; 12];
        ON.on_verify_data(&mut vd);
        assert_eq!(vd[0], 1);
        assert_eq!(vd[1..], [0u8; 11]);
        let mut sig = [0u8; 4];
        ON.on_signature(&mut sig);
        assert_eq!(sig, [0, 0, 0, 1]);
        let mut rec = [0u8; 3];
        ON.on_application_record(&mut rec);
        assert_eq!(rec, [0, 0, 1]);
        // Nothing to flip in nothing.
        ON.on_signature(&mut []);
        for (flag, apply) in [
            (
                LabFaults {
                    corrupt_finished: true,
                    ..LabFaults::default()
                },
                LabFaults::on_verify_data as fn(&LabFaults, &mut [u8]),
            ),
            (
                LabFaults {
                    corrupt_signature: true,
                    ..LabFaults::default()
                },
                LabFaults::on_signature,
            ),
            (
                LabFaults {
                    corrupt_application_record: true,
                    ..LabFaults::default()
                },
                LabFaults::on_application_record,
            ),
        ] {
            // Each flag drives its own place only.
            let mut changed = 0;
            for f in [
                LabFaults::on_verify_data as fn(&LabFaults, &mut [u8]),
                LabFaults::on_signature,
                LabFaults::on_application_record,
            ] {
                let mut b = [0u8; 2];
                f(&flag, &mut b);
                changed += usize::from(b != [0, 0]);
            }
            assert_eq!(changed, 1, "{flag:?}");
            let mut b = [0u8; 2];
            apply(&flag, &mut b);
            assert_ne!(b, [0, 0], "{flag:?}");
        }
    }

    #[test]
    fn the_unoffered_suite_is_the_first_usable_one_not_offered() {
        let enabled = [CipherSuite(1), CipherSuite(2), CipherSuite(3)];
        let usable = |s: CipherSuite| (s != CipherSuite(2)).then_some(s);
        assert_eq!(
            ON.choose_suite(&enabled, &[CipherSuite(1)], usable),
            Some(Ok(CipherSuite(3)))
        );
        let err = ON
            .choose_suite(&enabled, &enabled, usable)
            .unwrap()
            .unwrap_err();
        assert!(err.reason().contains("lab fault"), "{err}");
    }
}
