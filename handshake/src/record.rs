//! AEAD record protection for TLS 1.2: turns one record's plaintext into a
//! `GenericAEADCipher` fragment and back (RFC 5246 6.2.3.3), for AES-GCM
//! (RFC 5288) and ChaCha20-Poly1305 (RFC 7905).
//!
//! The caller frames records (type, version, length header); this module only
//! seals and opens the fragment and keeps the 64-bit sequence number of each
//! direction (RFC 5246 6.1). All cryptography is aws-lc-rs: AES-GCM goes
//! through `TlsRecordSealingKey` / `TlsRecordOpeningKey` in TLS 1.2 mode, which
//! refuse a nonce that does not increase, and ChaCha20-Poly1305 through
//! `LessSafeKey`, because the TLS record keys do not support it.

use std::fmt;

use aws_lc_rs::aead::{
    self, Aad, LessSafeKey, Nonce, TlsProtocolId, TlsRecordOpeningKey, TlsRecordSealingKey,
    UnboundKey,
};
use aws_lc_rs::error::Unspecified;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::msgs::enums::{AlertDescription, ContentType, ProtocolVersion};
use crate::suites::BulkCipher;

/// Largest `TLSPlaintext.fragment`: 2^14 bytes (RFC 5246 6.2.1).
pub const MAX_PLAINTEXT: usize = 16384;

/// Largest `TLSCiphertext.fragment`: 2^14 + 2048 bytes (RFC 5246 6.2.3).
pub const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 2048;

const TAG_LEN: usize = BulkCipher::TAG_LEN;
const NONCE_LEN: usize = aead::NONCE_LEN;
/// seq_num(8) || type(1) || version(2) || length(2), RFC 5246 6.2.3.3.
const AAD_LEN: usize = 13;

/// The one difference between the two AEAD families that the record logic
/// sees: how the per-record nonce is made, and whether part of it travels in
/// the record.
enum NonceScheme {
    /// AES-GCM, RFC 5288 3: nonce = salt(4) || nonce_explicit(8), and
    /// nonce_explicit is sent in front of the ciphertext. We send the sequence
    /// number, as OpenSSL and rustls do; aws-lc's TLS 1.2 GCM key requires a
    /// strictly increasing explicit nonce, which the sequence number is.
    Gcm { salt: Zeroizing<[u8; 4]> },
    /// ChaCha20-Poly1305, RFC 7905 2: nonce = iv(12) XOR (0^32 || seq_be64);
    /// nothing is sent.
    Chacha { iv: Zeroizing<[u8; NONCE_LEN]> },
}

impl NonceScheme {
    fn new(bulk: BulkCipher, fixed_iv: &[u8]) -> Result<Self, Error> {
        let bad_iv = || wrong_len(bulk, "fixed IV", bulk.fixed_iv_len(), fixed_iv.len());
        Ok(match bulk {
            BulkCipher::Aes128Gcm | BulkCipher::Aes256Gcm => Self::Gcm {
                salt: Zeroizing::new(fixed_iv.try_into().map_err(|_| bad_iv())?),
            },
            BulkCipher::Chacha20Poly1305 => Self::Chacha {
                iv: Zeroizing::new(fixed_iv.try_into().map_err(|_| bad_iv())?),
            },
        })
    }

    /// Bytes of nonce carried at the start of each fragment.
    fn explicit_len(&self) -> usize {
        match self {
            Self::Gcm { .. } => 8,
            Self::Chacha { .. } => 0,
        }
    }

    /// The nonce for sealing record `seq`; for GCM the explicit part is `seq`.
    fn seal_nonce(&self, seq: u64) -> [u8; NONCE_LEN] {
        match self {
            Self::Gcm { salt } => gcm_nonce(salt, seq.to_be_bytes()),
            Self::Chacha { iv } => chacha_nonce(iv, seq),
        }
    }

    /// The nonce for opening record `seq` whose fragment starts with
    /// `explicit` (exactly `explicit_len()` bytes). For GCM the receiver uses
    /// the nonce_explicit the sender chose (RFC 5288 3), not its own counter;
    /// the sequence number is still authenticated through the AAD.
    fn open_nonce(&self, seq: u64, explicit: &[u8]) -> Result<[u8; NONCE_LEN], Error> {
        match self {
            Self::Gcm { salt } => {
                let explicit = explicit
                    .try_into()
                    .map_err(|_| Error::internal("GCM explicit nonce is not 8 bytes"))?;
                Ok(gcm_nonce(salt, explicit))
            }
            Self::Chacha { iv } => Ok(chacha_nonce(iv, seq)),
        }
    }
}

fn gcm_nonce(salt: &[u8; 4], explicit: [u8; 8]) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(&explicit);
    nonce
}

fn chacha_nonce(iv: &[u8; NONCE_LEN], seq: u64) -> [u8; NONCE_LEN] {
    let mut nonce = *iv;
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

/// additional_data = seq_num || TLSCompressed.type || TLSCompressed.version ||
/// TLSCompressed.length (RFC 5246 6.2.3.3); the length is the plaintext's.
fn additional_data(
    seq: u64,
    typ: ContentType,
    plaintext_len: usize,
) -> Result<Aad<[u8; AAD_LEN]>, Error> {
    let len = u16::try_from(plaintext_len)
        .map_err(|_| Error::internal("record plaintext length does not fit 16 bits"))?;
    let mut aad = [0u8; AAD_LEN];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = typ.0;
    aad[9..11].copy_from_slice(&ProtocolVersion::TLSV1_2.0.to_be_bytes());
    aad[11..].copy_from_slice(&len.to_be_bytes());
    Ok(Aad::from(aad))
}

fn algorithm(bulk: BulkCipher) -> &'static aead::Algorithm {
    match bulk {
        BulkCipher::Aes128Gcm => &aead::AES_128_GCM,
        BulkCipher::Aes256Gcm => &aead::AES_256_GCM,
        BulkCipher::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
    }
}

/// The internal_error for a key or IV whose length does not fit `bulk`.
fn wrong_len(bulk: BulkCipher, what: &str, want: usize, got: usize) -> Error {
    Error::internal(format!(
        "{bulk:?} needs a {want}-byte {what}, got {got} bytes"
    ))
}

/// RFC 5246 6.1: sequence numbers "MUST NOT wrap". We stop one short of
/// 2^64-1, which aws-lc's TLS 1.2 GCM key refuses as a nonce anyway, so both
/// AEAD families and both directions hit the same limit.
fn check_sequence(seq: u64) -> Result<(), Error> {
    if seq == u64::MAX {
        Err(Error::internal("record sequence number exhausted"))
    } else {
        Ok(())
    }
}

/// The reason given for every record that fails to open: short fragments and
/// failed tags look alike, so the error says nothing more than the alert.
const BAD_RECORD: &str = "record failed authentication";

/// One direction's record protection. `G` is aws-lc's TLS 1.2 GCM key for
/// that direction: [`RecordEncrypter`] seals, [`RecordDecrypter`] opens.
pub struct RecordProtection<G> {
    bulk: BulkCipher,
    key: Key<G>,
    nonces: NonceScheme,
    seq: u64,
}

/// The key of one AEAD family.
enum Key<G> {
    Gcm(G),
    Chacha(LessSafeKey),
}

/// Protects the records this side sends.
pub type RecordEncrypter = RecordProtection<TlsRecordSealingKey>;

/// Opens the records the peer sends.
pub type RecordDecrypter = RecordProtection<TlsRecordOpeningKey>;

type GcmKeyNew<G> = fn(&'static aead::Algorithm, TlsProtocolId, &[u8]) -> Result<G, Unspecified>;

impl<G> RecordProtection<G> {
    /// `key` and `fixed_iv` are one side's write key and IV from the key
    /// block (RFC 5246 6.3); their lengths must match `bulk`.
    fn with(
        bulk: BulkCipher,
        key: &[u8],
        fixed_iv: &[u8],
        gcm: GcmKeyNew<G>,
        what: &str,
    ) -> Result<Self, Error> {
        if key.len() != bulk.key_len() {
            return Err(wrong_len(bulk, "key", bulk.key_len(), key.len()));
        }
        let nonces = NonceScheme::new(bulk, fixed_iv)?;
        let refused = |_| Error::internal(format!("aws-lc refused the {bulk:?} {what} key"));
        let key = match bulk {
            BulkCipher::Aes128Gcm | BulkCipher::Aes256Gcm => {
                Key::Gcm(gcm(algorithm(bulk), TlsProtocolId::TLS12, key).map_err(refused)?)
            }
            BulkCipher::Chacha20Poly1305 => Key::Chacha(LessSafeKey::new(
                UnboundKey::new(algorithm(bulk), key).map_err(refused)?,
            )),
        };
        Ok(Self {
            bulk,
            key,
            nonces,
            seq: 0,
        })
    }

    /// The sequence number the next record carries.
    pub fn sequence_number(&self) -> u64 {
        self.seq
    }
}

impl<G> fmt::Debug for RecordProtection<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordProtection")
            .field("bulk", &self.bulk)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl RecordEncrypter {
    /// This side's write key and IV; lengths must match `bulk`.
    pub fn new(bulk: BulkCipher, key: &[u8], fixed_iv: &[u8]) -> Result<Self, Error> {
        Self::with(bulk, key, fixed_iv, TlsRecordSealingKey::new, "sealing")
    }

    /// Seals one record of type `typ` and returns its `GenericAEADCipher`
    /// fragment: nonce_explicit (GCM only) || ciphertext || tag.
    pub fn encrypt(&mut self, typ: ContentType, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        // RFC 5246 6.2.1: the sender fragments; a longer record is our bug.
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::internal(format!(
                "record plaintext of {} bytes exceeds {MAX_PLAINTEXT}",
                plaintext.len()
            )));
        }
        check_sequence(self.seq)?;
        let seq = self.seq;
        let nonce = Nonce::assume_unique_for_key(self.nonces.seal_nonce(seq));
        let aad = additional_data(seq, typ, plaintext.len())?;

        let explicit = self.nonces.explicit_len();
        let mut out = Vec::with_capacity(explicit + plaintext.len() + TAG_LEN);
        if explicit > 0 {
            // RFC 5288 3: nonce_explicit goes first; it is the sequence number.
            out.extend_from_slice(&seq.to_be_bytes());
        }
        out.extend_from_slice(plaintext);
        let in_out = &mut out[explicit..];
        let tag = match &mut self.key {
            Key::Gcm(key) => key.seal_in_place_separate_tag(nonce, aad, in_out),
            Key::Chacha(key) => key.seal_in_place_separate_tag(nonce, aad, in_out),
        }
        .map_err(|_| Error::internal("AEAD seal failed"))?;
        out.extend_from_slice(tag.as_ref());
        self.seq = seq + 1;
        Ok(out)
    }
}

impl RecordDecrypter {
    /// The peer's write key and IV; lengths must match `bulk`.
    pub fn new(bulk: BulkCipher, key: &[u8], fixed_iv: &[u8]) -> Result<Self, Error> {
        Self::with(bulk, key, fixed_iv, TlsRecordOpeningKey::new, "opening")
    }

    /// Opens one `GenericAEADCipher` fragment of type `typ` and returns the
    /// plaintext. The sequence number moves on only when this succeeds.
    pub fn decrypt(&mut self, typ: ContentType, fragment: &[u8]) -> Result<Vec<u8>, Error> {
        // RFC 5246 6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048.
        if fragment.len() > MAX_CIPHERTEXT {
            return Err(Error::new(
                AlertDescription::RECORD_OVERFLOW,
                format!(
                    "record fragment of {} bytes exceeds {MAX_CIPHERTEXT}",
                    fragment.len()
                ),
            ));
        }
        let explicit = self.nonces.explicit_len();
        // RFC 5246 6.2.3.3: a record that cannot be authenticated is
        // bad_record_mac, too short to hold nonce and tag included.
        if fragment.len() < explicit + TAG_LEN {
            return Err(Error::bad_record_mac(BAD_RECORD));
        }
        check_sequence(self.seq)?;
        let seq = self.seq;
        let (explicit_nonce, sealed) = fragment.split_at(explicit);
        let nonce = Nonce::assume_unique_for_key(self.nonces.open_nonce(seq, explicit_nonce)?);
        let aad = additional_data(seq, typ, sealed.len() - TAG_LEN)?;

        let mut buf = sealed.to_vec();
        let plaintext_len = match &self.key {
            Key::Gcm(key) => key.open_in_place(nonce, aad, &mut buf),
            Key::Chacha(key) => key.open_in_place(nonce, aad, &mut buf),
        }
        .map_err(|_| Error::bad_record_mac(BAD_RECORD))?
        .len();
        buf.truncate(plaintext_len);

        // RFC 5246 6.2.1 / 6.2.3: the plaintext inside may not exceed 2^14
        // either. Checked after authentication, so only the real peer can
        // provoke record_overflow.
        if buf.len() > MAX_PLAINTEXT {
            return Err(Error::new(
                AlertDescription::RECORD_OVERFLOW,
                format!(
                    "record plaintext of {} bytes exceeds {MAX_PLAINTEXT}",
                    buf.len()
                ),
            ));
        }
        self.seq = seq + 1;
        Ok(buf)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::keys::{SessionSecrets, hex};
    use crate::msgs::enums::CipherSuite;
    use crate::suites::{self, SuiteParams};

    const ALL_BULK: [BulkCipher; 3] = [
        BulkCipher::Aes128Gcm,
        BulkCipher::Aes256Gcm,
        BulkCipher::Chacha20Poly1305,
    ];

    fn suite_for(bulk: BulkCipher) -> &'static SuiteParams {
        let cs = match bulk {
            BulkCipher::Aes128Gcm => CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            BulkCipher::Aes256Gcm => CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            BulkCipher::Chacha20Poly1305 => {
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            }
        };
        suites::lookup(cs).unwrap()
    }

    fn secrets(bulk: BulkCipher) -> SessionSecrets {
        SessionSecrets::new(
            suite_for(bulk),
            &[0x11; 32],
            &[0x22; 32],
            Zeroizing::new(vec![0x33; 48]),
            None,
        )
        .unwrap()
    }

    /// A client/server pair of record layers for `bulk`.
    fn pair(
        bulk: BulkCipher,
    ) -> (
        SessionSecrets,
        (RecordEncrypter, RecordDecrypter),
        (RecordEncrypter, RecordDecrypter),
    ) {
        let s = secrets(bulk);
        let client = s.record_layer(Role::Client).unwrap();
        let server = s.record_layer(Role::Server).unwrap();
        (s, client, server)
    }

    /// The expected fragment, computed independently with a plain
    /// `LessSafeKey`: nonce and AAD built by hand from RFC 5288 / RFC 7905 and
    /// RFC 5246 6.2.3.3.
    fn reference_seal(
        bulk: BulkCipher,
        key: &[u8],
        iv: &[u8],
        seq: u64,
        explicit: u64,
        typ: u8,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(algorithm(bulk), key).unwrap());
        let mut nonce = [0u8; 12];
        let mut out = Vec::new();
        if bulk == BulkCipher::Chacha20Poly1305 {
            nonce.copy_from_slice(iv);
            let s = seq.to_be_bytes();
            for i in 0..8 {
                nonce[4 + i] ^= s[i];
            }
        } else {
            nonce[..4].copy_from_slice(iv);
            nonce[4..].copy_from_slice(&explicit.to_be_bytes());
            out.extend_from_slice(&explicit.to_be_bytes());
        }
        let mut aad = Vec::new();
        aad.extend_from_slice(&seq.to_be_bytes());
        aad.push(typ);
        aad.extend_from_slice(&[0x03, 0x03]);
        aad.extend_from_slice(&(plaintext.len() as u16).to_be_bytes());
        let mut body = plaintext.to_vec();
        k.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut body,
        )
        .unwrap();
        out.extend_from_slice(&body);
        out
    }

    fn peer_write(s: &SessionSecrets, role: Role) -> (&[u8], &[u8]) {
        match role {
            Role::Client => (s.client_write_key(), s.client_write_iv()),
            Role::Server => (s.server_write_key(), s.server_write_iv()),
        }
    }

    #[test]
    fn round_trip_both_directions_every_bulk() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, mut c_dec), (mut s_enc, mut s_dec)) = pair(bulk);
            for seq in 0u64..3 {
                let msg = format!("client record {seq}").into_bytes();
                assert_eq!(c_enc.sequence_number(), seq);
                let frag = c_enc.encrypt(ContentType::APPLICATION_DATA, &msg).unwrap();
                match bulk {
                    BulkCipher::Chacha20Poly1305 => assert_eq!(frag.len(), msg.len() + 16),
                    _ => {
                        assert_eq!(frag.len(), 8 + msg.len() + 16);
                        assert_eq!(frag[..8], seq.to_be_bytes());
                    }
                }
                assert_ne!(&frag[bulk.explicit_nonce_len()..][..msg.len()], &msg[..]);
                assert_eq!(
                    s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).unwrap(),
                    msg
                );
                assert_eq!(s_dec.sequence_number(), seq + 1);

                let reply = format!("server reply {seq}, a little longer").into_bytes();
                let frag = s_enc.encrypt(ContentType::HANDSHAKE, &reply).unwrap();
                assert_eq!(c_dec.decrypt(ContentType::HANDSHAKE, &frag).unwrap(), reply);
            }
            assert_eq!(c_enc.sequence_number(), 3);
            assert_eq!(c_dec.sequence_number(), 3);
        }
    }

    #[test]
    fn directions_use_different_keys() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, mut c_dec), (_, mut s_dec)) = pair(bulk);
            let frag = c_enc.encrypt(ContentType::APPLICATION_DATA, b"hi").unwrap();
            // The client's own decrypter holds the server's key: it must fail.
            assert_eq!(
                c_dec
                    .decrypt(ContentType::APPLICATION_DATA, &frag)
                    .unwrap_err()
                    .alert(),
                AlertDescription::BAD_RECORD_MAC
            );
            assert!(s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).is_ok());
        }
    }

    #[test]
    fn known_answer_matches_independent_less_safe_key() {
        for bulk in ALL_BULK {
            for role in [Role::Client, Role::Server] {
                let s = secrets(bulk);
                let (mut enc, _) = s.record_layer(role).unwrap();
                let (key, iv) = peer_write(&s, role);
                for seq in 0u64..3 {
                    let pt = vec![seq as u8; 37 + seq as usize];
                    let got = enc.encrypt(ContentType::HANDSHAKE, &pt).unwrap();
                    let want = reference_seal(bulk, key, iv, seq, seq, 22, &pt);
                    assert_eq!(hex(&got), hex(&want), "{bulk:?} {role:?} seq {seq}");
                }
            }
        }
    }

    #[test]
    fn gcm_accepts_any_explicit_nonce_from_peer() {
        // RFC 5288 3: the receiver takes nonce_explicit from the record.
        for bulk in [BulkCipher::Aes128Gcm, BulkCipher::Aes256Gcm] {
            let (s, _, (_, mut s_dec)) = pair(bulk);
            let (key, iv) = peer_write(&s, Role::Client);
            let frag = reference_seal(bulk, key, iv, 0, 0xdead_beef_0102_0304, 23, b"hello");
            assert_eq!(
                s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).unwrap(),
                b"hello"
            );
        }
    }

    #[test]
    fn any_flipped_byte_is_bad_record_mac() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            let frag = c_enc
                .encrypt(ContentType::APPLICATION_DATA, b"integrity matters")
                .unwrap();
            for i in 0..frag.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = frag.clone();
                    bad[i] ^= bit;
                    let err = s_dec
                        .decrypt(ContentType::APPLICATION_DATA, &bad)
                        .unwrap_err();
                    assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC, "byte {i}");
                    assert_eq!(s_dec.sequence_number(), 0, "failure must not move seq");
                }
            }
            // Failures did not disturb the state: the genuine record opens.
            assert!(s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).is_ok());
        }
    }

    #[test]
    fn wrong_content_type_is_bad_record_mac() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            let frag = c_enc.encrypt(ContentType::HANDSHAKE, b"finished").unwrap();
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &frag)
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
            assert!(s_dec.decrypt(ContentType::HANDSHAKE, &frag).is_ok());
        }
    }

    #[test]
    fn replay_and_reorder_fail() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            let r0 = c_enc
                .encrypt(ContentType::APPLICATION_DATA, b"zero")
                .unwrap();
            let r1 = c_enc
                .encrypt(ContentType::APPLICATION_DATA, b"one")
                .unwrap();

            // Record 1 before record 0.
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &r1)
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);

            // Record 0 once, then again.
            assert_eq!(
                s_dec.decrypt(ContentType::APPLICATION_DATA, &r0).unwrap(),
                b"zero"
            );
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &r0)
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
            assert_eq!(
                s_dec.decrypt(ContentType::APPLICATION_DATA, &r1).unwrap(),
                b"one"
            );
        }
    }

    #[test]
    fn short_fragment_is_bad_record_mac() {
        for bulk in ALL_BULK {
            let (_s, _, (_, mut s_dec)) = pair(bulk);
            for len in 0..bulk.explicit_nonce_len() + 16 {
                let err = s_dec
                    .decrypt(ContentType::APPLICATION_DATA, &vec![0u8; len])
                    .unwrap_err();
                assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC, "len {len}");
                assert_eq!(err.reason(), BAD_RECORD);
            }
            // Just long enough but forged: same alert, same reason.
            let err = s_dec
                .decrypt(
                    ContentType::APPLICATION_DATA,
                    &vec![0u8; bulk.explicit_nonce_len() + 16],
                )
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
            assert_eq!(err.reason(), BAD_RECORD);
        }
    }

    #[test]
    fn oversized_fragment_is_record_overflow() {
        for bulk in ALL_BULK {
            let (_s, _, (_, mut s_dec)) = pair(bulk);
            let err = s_dec
                .decrypt(
                    ContentType::APPLICATION_DATA,
                    &vec![0u8; MAX_CIPHERTEXT + 1],
                )
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::RECORD_OVERFLOW);
            // At the limit the length is legal; the forgery is then caught.
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &vec![0u8; MAX_CIPHERTEXT])
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
        }
    }

    #[test]
    fn authenticated_oversized_plaintext_is_record_overflow() {
        for bulk in ALL_BULK {
            let (s, _, (_, mut s_dec)) = pair(bulk);
            let (key, iv) = peer_write(&s, Role::Client);
            let frag = reference_seal(bulk, key, iv, 0, 0, 23, &vec![7u8; MAX_PLAINTEXT + 1]);
            assert!(frag.len() <= MAX_CIPHERTEXT);
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &frag)
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::RECORD_OVERFLOW);
            assert_eq!(s_dec.sequence_number(), 0);
        }
    }

    #[test]
    fn plaintext_size_limits_when_sealing() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            let err = c_enc
                .encrypt(ContentType::APPLICATION_DATA, &vec![0u8; MAX_PLAINTEXT + 1])
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
            assert_eq!(c_enc.sequence_number(), 0);

            let big = vec![0x5au8; MAX_PLAINTEXT];
            let frag = c_enc.encrypt(ContentType::APPLICATION_DATA, &big).unwrap();
            assert!(frag.len() <= MAX_CIPHERTEXT);
            assert_eq!(
                s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).unwrap(),
                big
            );
        }
    }

    #[test]
    fn empty_plaintext_round_trips() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            let frag = c_enc.encrypt(ContentType::APPLICATION_DATA, b"").unwrap();
            assert_eq!(frag.len(), bulk.explicit_nonce_len() + 16);
            assert!(
                s_dec
                    .decrypt(ContentType::APPLICATION_DATA, &frag)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(s_dec.sequence_number(), 1);
        }
    }

    #[test]
    fn sequence_number_never_wraps() {
        for bulk in ALL_BULK {
            let (_s, (mut c_enc, _), (_, mut s_dec)) = pair(bulk);
            c_enc.seq = u64::MAX - 1;
            s_dec.seq = u64::MAX - 1;
            let frag = c_enc
                .encrypt(ContentType::APPLICATION_DATA, b"last")
                .unwrap();
            assert_eq!(
                s_dec.decrypt(ContentType::APPLICATION_DATA, &frag).unwrap(),
                b"last"
            );
            assert_eq!(c_enc.sequence_number(), u64::MAX);
            let err = c_enc
                .encrypt(ContentType::APPLICATION_DATA, b"one too many")
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
            assert_eq!(c_enc.sequence_number(), u64::MAX);
            let err = s_dec
                .decrypt(ContentType::APPLICATION_DATA, &frag)
                .unwrap_err();
            assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
        }
    }

    #[test]
    fn wrong_key_or_iv_length_is_internal_error() {
        for bulk in ALL_BULK {
            let key = vec![1u8; bulk.key_len()];
            let iv = vec![2u8; bulk.fixed_iv_len()];
            assert!(RecordEncrypter::new(bulk, &key, &iv).is_ok());
            assert!(RecordDecrypter::new(bulk, &key, &iv).is_ok());
            for (k, i) in [(&key[1..], &iv[..]), (&key[..], &iv[1..])] {
                let e = RecordEncrypter::new(bulk, k, i).unwrap_err();
                assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
                let e = RecordDecrypter::new(bulk, k, i).unwrap_err();
                assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
            }
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        for bulk in ALL_BULK {
            let (s, (enc, dec), _) = pair(bulk);
            let text = format!("{enc:?} {dec:?}");
            assert!(text.contains("seq"));
            for secret in [
                s.client_write_key(),
                s.server_write_key(),
                s.client_write_iv(),
                s.server_write_iv(),
            ] {
                assert!(!text.contains(&hex(secret)));
                let as_list = format!("{:?}", &secret[..4]);
                assert!(!text.contains(as_list.trim_end_matches(']')));
            }
        }
    }
}
