//! Lab faults: mistakes a side commits on purpose, to show what TLS
//! detects (the services' lab options). Each is applied here, at the one
//! place the engine calls it; the states do not test the flags themselves.

use crate::error::Error;
use crate::msgs::enums::CipherSuite;

/// The faults to commit, all off by default. Never set them outside a lab.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabFaults {
    /// Flip a bit of this side's Finished verify_data: the peer answers decrypt_error.
    pub corrupt_finished: bool,
    /// Server: choose a suite the client did not offer: it answers illegal_parameter.
    pub choose_unoffered_suite: bool,
    /// Server: flip a bit of the ServerKeyExchange signature: the client answers decrypt_error.
    pub corrupt_signature: bool,
    /// Flip the last byte (AEAD tag) of each sealed application record: bad_record_mac.
    pub corrupt_application_record: bool,
}

impl LabFaults {
    /// Whether any fault is on (a service warns loudly when one is).
    pub fn any(&self) -> bool {
        *self != Self::default()
    }

    /// The Finished this side sends (steps 10 and 12).
    pub(crate) fn on_verify_data(&self, verify_data: &mut [u8]) {
        flip(self.corrupt_finished, verify_data.first_mut());
    }

    /// The server's ServerKeyExchange signature (step 4).
    pub(crate) fn on_signature(&self, signature: &mut [u8]) {
        flip(self.corrupt_signature, signature.last_mut());
    }

    /// A sealed application data record.
    pub(crate) fn on_application_record(&self, fragment: &mut [u8]) {
        flip(self.corrupt_application_record, fragment.last_mut());
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
        self.choose_unoffered_suite.then(|| {
            let mut unoffered = enabled.iter().filter(|s| !offered.contains(s));
            unoffered.find_map(|s| usable(*s)).ok_or_else(|| {
                Error::handshake_failure("lab fault: every enabled suite was offered")
            })
        })
    }
}

/// Flips the low bit of `byte` (if any) when `on`.
fn flip(on: bool, byte: Option<&mut u8>) {
    if let (true, Some(b)) = (on, byte) {
        *b ^= 0x01;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_flips_one_bit_where_it_applies_and_only_when_on() {
        type Apply = fn(&LabFaults, &mut [u8]);
        let places: [(LabFaults, Apply, [u8; 2]); 3] = [
            (
                LabFaults {
                    corrupt_finished: true,
                    ..LabFaults::default()
                },
                LabFaults::on_verify_data,
                [1, 0],
            ),
            (
                LabFaults {
                    corrupt_signature: true,
                    ..LabFaults::default()
                },
                LabFaults::on_signature,
                [0, 1],
            ),
            (
                LabFaults {
                    corrupt_application_record: true,
                    ..LabFaults::default()
                },
                LabFaults::on_application_record,
                [0, 1],
            ),
        ];
        for (faults, _, _) in &places {
            assert!(faults.any() && !LabFaults::default().any());
            for (other, apply, flipped) in &places {
                let mut b = [0u8; 2];
                apply(faults, &mut b);
                assert_eq!(
                    b,
                    if faults == other { *flipped } else { [0, 0] },
                    "{faults:?}"
                );
            }
        }
    }

    #[test]
    fn the_unoffered_suite_is_the_first_usable_one_not_offered() {
        let enabled = [CipherSuite(1), CipherSuite(2), CipherSuite(3)];
        let usable = |s: CipherSuite| (s != CipherSuite(2)).then_some(s);
        assert!(
            LabFaults::default()
                .choose_suite(&enabled, &[], usable)
                .is_none()
        );
        let on = LabFaults {
            choose_unoffered_suite: true,
            ..LabFaults::default()
        };
        assert_eq!(
            on.choose_suite(&enabled, &[CipherSuite(1)], usable),
            Some(Ok(CipherSuite(3)))
        );
        let err = on
            .choose_suite(&enabled, &enabled, usable)
            .unwrap()
            .unwrap_err();
        assert!(
            err.reason().contains("every enabled suite was offered"),
            "{err}"
        );
    }
}
