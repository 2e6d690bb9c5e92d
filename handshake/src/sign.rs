//! The server's private key: it signs ServerKeyExchange in the ECDHE suites
//! (RFC 5246 7.4.3, RFC 8422 5.4) and, for RSA, decrypts the client's
//! pre-master in the RSA key-transport suites (RFC 5246 7.4.7.1).
//!
//! All cryptography is aws-lc-rs. The key material never appears in `Debug`
//! output; aws-lc frees (and clears) it when the key is dropped.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::msgs::enums::{NamedGroup, ProtocolVersion, SignatureScheme};
use crate::rand::Rng;
use crate::suites::KeyType;

/// This server's preference order for RSA keys: RSASSA-PSS before PKCS#1
/// v1.5 (PSS has the security proof; TLS 1.2 clients offer it with the RFC
/// 8446 4.2.3 code points), then by hash, cheapest first.
const RSA_PREFERENCE: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_RSAE_SHA256,
    SignatureScheme::RSA_PSS_RSAE_SHA384,
    SignatureScheme::RSA_PSS_RSAE_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

/// A server private key from PKCS#8 DER: RSA (signing and pre-master
/// decryption) or ECDSA on P-256 / P-384.
pub struct ServerKey {
    inner: Inner,
    /// The subjectPublicKey bits of the matching SubjectPublicKeyInfo: the
    /// PKCS#1 RSAPublicKey for RSA, the uncompressed point for ECDSA.
    public: Vec<u8>,
}

enum Inner {
    Rsa {
        signer: RsaKeyPair,
        decrypter: Pkcs1PrivateDecryptingKey,
    },
    Ecdsa {
        curve: NamedGroup,
        /// The key with the curve's own hash (P-256/SHA-256, P-384/SHA-384);
        /// it signs other hashes as digests (see `sign`).
        signer: EcdsaKeyPair,
    },
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ServerKey");
        d.field("key_type", &self.key_type());
        if let Some(c) = self.curve() {
            d.field("curve", &c);
        }
        d.finish_non_exhaustive()
    }
}

impl ServerKey {
    /// Loads a PKCS#8 private key. Anything other than RSA or ECDSA P-256 /
    /// P-384 is a configuration mistake -> internal_error with a reason.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        if let Ok(signer) = RsaKeyPair::from_pkcs8(der) {
            let decrypter = PrivateDecryptingKey::from_pkcs8(der)
                .ok()
                .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
                .ok_or_else(|| {
                    Error::internal("RSA private key cannot be used for PKCS#1 decryption")
                })?;
            let public = signer.public_key().as_ref().to_vec();
            return Ok(Self {
                inner: Inner::Rsa { signer, decrypter },
                public,
            });
        }
        for (curve, alg) in [
            (
                NamedGroup::SECP256R1,
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            ),
            (
                NamedGroup::SECP384R1,
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            ),
        ] {
            if let Ok(signer) = EcdsaKeyPair::from_pkcs8(alg, der) {
                let public = signer.public_key().as_ref().to_vec();
                return Ok(Self {
                    inner: Inner::Ecdsa { curve, signer },
                    public,
                });
            }
        }
        // Say what it is, if we can tell, so the operator knows what to fix.
        let what = if signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
            "an Ed25519 key (TLS 1.2 suites here need RSA or ECDSA P-256/P-384)"
        } else if EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P521_SHA512_ASN1_SIGNING, der).is_ok()
        {
            "an ECDSA P-521 key (only P-256 and P-384 are supported)"
        } else {
            "not an unencrypted PKCS#8 RSA (2048 to 8192 bits), ECDSA P-256 or ECDSA P-384 key"
        };
        Err(Error::internal(format!("server private key: {what}")))
    }

    pub fn key_type(&self) -> KeyType {
        match self.inner {
            Inner::Rsa { .. } => KeyType::Rsa,
            Inner::Ecdsa { .. } => KeyType::Ecdsa,
        }
    }

    /// For ECDSA keys, the curve (SECP256R1 / SECP384R1); None for RSA.
    pub fn curve(&self) -> Option<NamedGroup> {
        match self.inner {
            Inner::Rsa { .. } => None,
            Inner::Ecdsa { curve, .. } => Some(curve),
        }
    }

    /// The subjectPublicKey bits of this key's SubjectPublicKeyInfo, to check
    /// it matches a certificate (see `verify::key_matches_certificate`).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// Picks the scheme to sign ServerKeyExchange with from the client's
    /// signature_algorithms (RFC 5246 7.4.1.4.1), in this server's order.
    ///
    /// For ECDSA, TLS 1.2's SignatureAndHashAlgorithm names only the hash
    /// (RFC 5246 7.4.1.4.1; the curve in the TLS 1.3 names does not bind in
    /// TLS 1.2), so any offered hash goes with any curve, as OpenSSL
    /// signs: the curve's own hash first (P-256 with SHA-256, P-384 with
    /// SHA-384), then SHA-384 or SHA-512, then the rest. Never chosen:
    /// SHA-1 (RFC 9155 deprecates it for TLS 1.2 signatures), and for
    /// ECDSA SHA-224 (ecdsa_sha224, 0x0303): its 112 bits are below the
    /// 128-bit strength of every suite here, and neither rustls' verifier
    /// nor this engine's client would check it; a client that offers
    /// nothing else gets handshake_failure.
    pub fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<SignatureScheme> {
        let ours: &[SignatureScheme] = match &self.inner {
            Inner::Rsa { .. } => RSA_PREFERENCE,
            Inner::Ecdsa {
                curve: NamedGroup::SECP384R1,
                ..
            } => &[
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ECDSA_NISTP521_SHA512,
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ],
            Inner::Ecdsa { .. } => &[
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ECDSA_NISTP521_SHA512,
            ],
        };
        // At most six of ours, each looked for once: linear in the offer.
        ours.iter().copied().find(|s| offered.contains(s))
    }

    /// Signs `message` (client_random || server_random || ServerECDHParams,
    /// built by the caller: RFC 8422 5.4) with `scheme`. A scheme that does
    /// not fit the key -> internal_error (choose_scheme never returns one).
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, Error> {
        let misfit = || {
            Error::internal(format!(
                "signature scheme {scheme} does not fit this {:?} key",
                self.key_type()
            ))
        };
        // aws-lc ignores the rng argument: RSA-PSS salts and ECDSA nonces come
        // from aws-lc's own generator and cannot be injected. So PSS and
        // ECDSA signatures differ from run to run even with a seeded Rng
        // (RSA PKCS#1 v1.5 signatures are deterministic).
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Rsa { signer, .. } => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RSA_PSS_RSAE_SHA256 => &signature::RSA_PSS_SHA256,
                    SignatureScheme::RSA_PSS_RSAE_SHA384 => &signature::RSA_PSS_SHA384,
                    SignatureScheme::RSA_PSS_RSAE_SHA512 => &signature::RSA_PSS_SHA512,
                    SignatureScheme::RSA_PKCS1_SHA256 => &signature::RSA_PKCS1_SHA256,
                    SignatureScheme::RSA_PKCS1_SHA384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RSA_PKCS1_SHA512 => &signature::RSA_PKCS1_SHA512,
                    _ => return Err(misfit()),
                };
                let mut sig = vec![0u8; signer.public_modulus_len()];
                signer
                    .sign(padding, &rng, message, &mut sig)
                    .map_err(|_| Error::internal(format!("RSA signing with {scheme} failed")))?;
                Ok(sig)
            }
            Inner::Ecdsa { curve, signer } => {
                let hash = match scheme {
                    SignatureScheme::ECDSA_NISTP256_SHA256 => &digest::SHA256,
                    SignatureScheme::ECDSA_NISTP384_SHA384 => &digest::SHA384,
                    SignatureScheme::ECDSA_NISTP521_SHA512 => &digest::SHA512,
                    _ => return Err(misfit()),
                };
                let failed = |_| Error::internal(format!("ECDSA signing with {scheme} failed"));
                // The hash the key was loaded with (see `from_pkcs8`).
                let native = match *curve {
                    NamedGroup::SECP384R1 => &digest::SHA384,
                    _ => &digest::SHA256,
                };
                let sig = if hash == native {
                    signer.sign(&rng, message).map_err(failed)?
                } else {
                    // aws-lc-rs signs each curve with its own hash only
                    // (no ECDSA_P256_SHA384 signing algorithm), but signs a
                    // digest given to it. ECDSA reads a hash as the integer
                    // of its leftmost bits, as many as the curve's order
                    // has (FIPS 186-5 6.4.1; SEC 1 4.1.3 step 5): 256 for
                    // P-256, 384 for P-384. So the other hash, cut to that
                    // many bytes (or left-padded with zeros, which do not
                    // change the integer), is exactly what ECDSA with that
                    // hash signs; aws-lc makes the same cut itself on a
                    // longer digest. Checked in tests against aws-lc-rs's
                    // own verifiers (ECDSA_P256_SHA384_ASN1, ...) and
                    // OpenSSL.
                    let h = digest::digest(hash, message);
                    let digest = digest::Digest::import_less_safe(
                        &leftmost(h.as_ref(), native.output_len()),
                        native,
                    )
                    .map_err(|_| {
                        Error::internal(format!("{scheme}: digest of the wrong length"))
                    })?;
                    signer.sign_digest(&digest).map_err(failed)?
                };
                Ok(sig.as_ref().to_vec())
            }
        }
    }

    /// RSA key transport, server side, with the RFC 5246 7.4.7.1
    /// countermeasure against Bleichenbacher's attack:
    ///
    /// 1. draw 46 random bytes R, always, before looking at the ciphertext;
    /// 2. decrypt the message to M;
    /// 3. if the PKCS#1 padding is wrong or M is not 48 bytes, the pre-master
    ///    is client_version || R; otherwise it is client_version || M[2..47].
    ///
    /// The last rule is the RFC's own: a wrong version inside M is not
    /// detected here but replaced by ClientHello.client_version, so it too
    /// fails later as a wrong Finished (and a rollback to an older version
    /// is caught). No error is ever returned for a bad ciphertext, and the
    /// choice between M and R is a byte-wise mask select, not a branch, so
    /// neither the alert nor the timing tells an attacker which case it was.
    ///
    /// Errors only for: not an RSA key (internal_error), rng failure.
    pub fn decrypt_pre_master(
        &self,
        encrypted: &[u8],
        client_version: ProtocolVersion,
        rng: &mut dyn Rng,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let Inner::Rsa { decrypter, .. } = &self.inner else {
            return Err(Error::internal(
                "RSA key exchange needs an RSA server key, this one is ECDSA",
            ));
        };
        let mut pre_master = Zeroizing::new(vec![0u8; 48]);
        pre_master[..2].copy_from_slice(&client_version.0.to_be_bytes());
        // Step 1: R goes straight into its final place; M overwrites it below
        // only when M is good.
        rng.fill(&mut pre_master[2..])?;

        // At least 48 bytes so the select below never reads out of bounds
        // (aws-lc only loads RSA keys of 2048 bits or more anyway).
        let mut plain = Zeroizing::new(vec![0u8; decrypter.min_output_size().max(48)]);
        // aws-lc reports a padding failure as an error; fold it into a mask
        // with the length check instead of returning it.
        let (decrypted_ok, len) = match decrypter.decrypt(encrypted, &mut plain) {
            Ok(m) => (1u8, m.len()),
            Err(_) => (0u8, 0),
        };
        let good = decrypted_ok & ct_eq_usize(len, 48);
        let mask = std::hint::black_box(0u8.wrapping_sub(good));
        // The loop runs over the same 46 bytes whatever the outcome.
        for (out, m) in pre_master[2..].iter_mut().zip(plain[2..48].iter()) {
            *out = (m & mask) | (*out & !mask);
        }
        Ok(pre_master)
    }
}

/// `hash` as ECDSA reads it on a curve whose order is `len` bytes long:
/// its first `len` bytes, or the whole of it behind leading zeros.
fn leftmost(hash: &[u8], len: usize) -> Vec<u8> {
    if hash.len() >= len {
        hash[..len].to_vec()
    } else {
        let mut e = vec![0u8; len - hash.len()];
        e.extend_from_slice(hash);
        e
    }
}

/// 1 if a == b, else 0, without a data-dependent branch.
fn ct_eq_usize(a: usize, b: usize) -> u8 {
    let x = a ^ b;
    // x | -x has its top bit set exactly when x != 0.
    let nonzero = (x | x.wrapping_neg()) >> (usize::BITS - 1);
    std::hint::black_box(1 ^ (nonzero as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_matches_eq() {
        for (a, b) in [
            (0, 0),
            (48, 48),
            (47, 48),
            (0, 1),
            (usize::MAX, 0),
            (256, 48),
        ] {
            assert_eq!(ct_eq_usize(a, b) == 1, a == b, "{a} {b}");
        }
    }

    #[test]
    fn garbage_is_internal_error_with_reason() {
        let e = ServerKey::from_pkcs8(b"not a key").unwrap_err();
        assert_eq!(e.alert(), crate::AlertDescription::INTERNAL_ERROR);
        assert!(e.reason().contains("PKCS#8"), "{}", e.reason());
    }
}
