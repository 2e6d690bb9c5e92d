//! Key exchange: how the two sides come to share a pre-master secret.
//!
//! Two mechanisms, both done by aws-lc-rs:
//!
//! - **ECDHE** (RFC 8422): each side makes an ephemeral key pair on a named
//!   group, they swap public values (ServerKeyExchange / ClientKeyExchange),
//!   and the ECDH output is the pre-master secret.
//! - **RSA key transport** (RFC 5246 7.4.7.1): the client makes 48 random
//!   bytes and encrypts them with PKCS#1 v1.5 to the key in the server's
//!   certificate. The server side lives in [`crate::sign::ServerKey`].
//!
//! Every random byte comes from the engine's [`Rng`], so a seeded generator
//! reproduces the same ephemeral keys and pre-master on every run (the RSA
//! padding bytes are the exception: aws-lc draws them itself).

use std::fmt;

use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::keys::hex;
use crate::msgs::enums::{AlertDescription, NamedGroup, ProtocolVersion};
use crate::rand::Rng;

/// The groups this engine implements, in its preference order.
pub const SUPPORTED_GROUPS: &[NamedGroup] = &[
    NamedGroup::X25519,
    NamedGroup::SECP256R1,
    NamedGroup::SECP384R1,
];

/// Groups implemented: X25519, SECP256R1, SECP384R1.
pub fn is_supported_group(group: NamedGroup) -> bool {
    SUPPORTED_GROUPS.contains(&group)
}

/// How many fresh scalars to try for a P curve before giving up. A random
/// 256-bit string is out of range for P-256 with probability about 2^-32
/// (P-384: 2^-190), so a second try practically never happens; the bound
/// only keeps a broken Rng (say, all zeros) from looping forever.
const MAX_SCALAR_TRIES: usize = 16;

/// What the engine needs to know about one group.
struct GroupParams {
    alg: &'static agreement::Algorithm,
    /// Private scalar length in bytes.
    scalar_len: usize,
    /// Public value length on the wire.
    public_len: usize,
    /// X25519 keys are raw strings; P-curve points are ANSI X9.62 encoded.
    is_x25519: bool,
}

fn params(group: NamedGroup) -> Option<GroupParams> {
    match group {
        NamedGroup::X25519 => Some(GroupParams {
            alg: &agreement::X25519,
            scalar_len: 32,
            public_len: 32,
            is_x25519: true,
        }),
        // RFC 8422 5.4: an uncompressed ECPoint is 0x04 || X || Y.
        NamedGroup::SECP256R1 => Some(GroupParams {
            alg: &agreement::ECDH_P256,
            scalar_len: 32,
            public_len: 1 + 2 * 32,
            is_x25519: false,
        }),
        NamedGroup::SECP384R1 => Some(GroupParams {
            alg: &agreement::ECDH_P384,
            scalar_len: 48,
            public_len: 1 + 2 * 48,
            is_x25519: false,
        }),
        _ => None,
    }
}

/// An ephemeral ECDH key pair (RFC 8422), used for exactly one handshake.
pub struct EcdheKeyPair {
    group: NamedGroup,
    private: agreement::PrivateKey,
    public: Vec<u8>,
}

impl fmt::Debug for EcdheKeyPair {
    // The private key never appears; the public value is public.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcdheKeyPair")
            .field("group", &self.group)
            .field("public_key", &hex(&self.public))
            .finish_non_exhaustive()
    }
}

impl EcdheKeyPair {
    /// Makes a key pair on `group` from bytes drawn from `rng`.
    ///
    /// The private scalar is built with `PrivateKey::from_private_key` rather
    /// than `PrivateKey::generate` so that a seeded [`Rng`] gives the same
    /// key. An unsupported group is a bug in the caller (negotiation only
    /// picks supported ones), hence internal_error.
    pub fn generate(group: NamedGroup, rng: &mut dyn Rng) -> Result<Self, Error> {
        let p = params(group)
            .ok_or_else(|| Error::internal(format!("ECDHE group {group} is not implemented")))?;
        let mut scalar = Zeroizing::new(vec![0u8; p.scalar_len]);
        for _ in 0..MAX_SCALAR_TRIES {
            rng.fill(&mut scalar)?;
            // X25519 clamps any 32 bytes (RFC 7748 5); a P-curve scalar must
            // be in [1, n-1], so an out-of-range draw is retried with fresh
            // bytes rather than reduced (which would bias it).
            let Ok(private) = agreement::PrivateKey::from_private_key(p.alg, &scalar) else {
                continue;
            };
            let public = private
                .compute_public_key()
                .map_err(|_| Error::internal(format!("{group}: computing the public key failed")))?
                .as_ref()
                .to_vec();
            if public.len() != p.public_len {
                return Err(Error::internal(format!(
                    "{group}: public key is {} bytes, expected {}",
                    public.len(),
                    p.public_len
                )));
            }
            return Ok(Self {
                group,
                private,
                public,
            });
        }
        Err(Error::internal(format!(
            "{group}: the random generator gave {MAX_SCALAR_TRIES} invalid private scalars in a row"
        )))
    }

    pub fn group(&self) -> NamedGroup {
        self.group
    }

    /// The public value as sent in ECPoint/ServerECDHParams: X25519 32 raw
    /// bytes (RFC 8422 5.11); P curves uncompressed 0x04||X||Y (RFC 8422 5.4).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret: the premaster for ECDHE (RFC 8422 5.10: the X
    /// coordinate of the shared point, or the X25519 output).
    ///
    /// A malformed or invalid peer point -> illegal_parameter: wrong length,
    /// compressed or hybrid encoding (RFC 8422 5.1.2: only uncompressed is
    /// allowed now), not on the curve, or an X25519 result of all zeros
    /// (RFC 7748 6.1, RFC 8422 5.11: a low-order point).
    pub fn agree(self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let group = self.group;
        let p = params(group)
            .ok_or_else(|| Error::internal(format!("ECDHE group {group} is not implemented")))?;
        // aws-lc-rs also accepts SubjectPublicKeyInfo and compressed points;
        // the wire format allows neither, so check length and form first.
        if peer_public.len() != p.public_len {
            return Err(Error::illegal_parameter(format!(
                "{group} public key is {} bytes, expected {}",
                peer_public.len(),
                p.public_len
            )));
        }
        if !p.is_x25519 && peer_public.first() != Some(&0x04) {
            return Err(Error::illegal_parameter(format!(
                "{group} public key is not an uncompressed point (RFC 8422 5.4)"
            )));
        }
        let secret = agreement::agree(
            &self.private,
            UnparsedPublicKey::new(p.alg, peer_public),
            Error::illegal_parameter(format!(
                "{group} public key is not a valid point on the curve"
            )),
            |s| Ok(Zeroizing::new(s.to_vec())),
        )?;
        // Fold without an early exit, so the check does not leak where the
        // first nonzero byte is.
        if secret.iter().fold(0u8, |acc, b| acc | b) == 0 {
            return Err(Error::illegal_parameter(format!(
                "{group} shared secret is all zeros: the peer sent a low-order point"
            )));
        }
        Ok(secret)
    }
}

/// RSA key transport, client side (RFC 5246 7.4.7.1): the PreMasterSecret
/// is client_version (the version offered in ClientHello, not the one
/// negotiated, to stop version rollback) followed by 46 random bytes.
pub fn rsa_pre_master(
    client_version: ProtocolVersion,
    rng: &mut dyn Rng,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut pm = Zeroizing::new(vec![0u8; 48]);
    pm[..2].copy_from_slice(&client_version.0.to_be_bytes());
    rng.fill(&mut pm[2..])?;
    Ok(pm)
}

/// Encrypts the pre-master with RSAES-PKCS1-v1_5 (RFC 5246 7.4.7.1) to the
/// RSA public key of the end-entity certificate `cert_der`.
///
/// A certificate that does not parse -> bad_certificate; one whose key is
/// not RSA -> unsupported_certificate (the suite needs an RSA key).
pub fn rsa_encrypt_pre_master(cert_der: &[u8], pre_master: &[u8]) -> Result<Vec<u8>, Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| {
        Error::new(
            AlertDescription::BAD_CERTIFICATE,
            format!("server certificate does not parse: {e}"),
        )
    })?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
        return Err(Error::new(
            AlertDescription::UNSUPPORTED_CERTIFICATE,
            format!(
                "RSA key exchange needs an RSA certificate key, this one is {}",
                spki.algorithm.algorithm
            ),
        ));
    }
    let key = PublicEncryptingKey::from_der(spki.raw).map_err(|e| {
        Error::new(
            AlertDescription::UNSUPPORTED_CERTIFICATE,
            format!("the certificate's RSA key is not usable: {e}"),
        )
    })?;
    let key = Pkcs1PublicEncryptingKey::new(key)
        .map_err(|_| Error::internal("cannot build an RSA PKCS#1 encryption key"))?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(pre_master, &mut out)
        .map_err(|_| Error::internal("RSA PKCS#1 v1.5 encryption failed"))?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::SeededRng;

    #[test]
    fn debug_hides_the_private_key() {
        let kp = EcdheKeyPair::generate(NamedGroup::X25519, &mut SeededRng::new(3)).unwrap();
        let s = format!("{kp:?}");
        assert!(s.contains("x25519"), "{s}");
        assert!(!s.contains("private"), "{s}");
    }

    #[test]
    fn unsupported_group_is_internal_error() {
        let e = EcdheKeyPair::generate(NamedGroup::X448, &mut SeededRng::new(1)).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(!is_supported_group(NamedGroup::SECP521R1));
        assert!(is_supported_group(NamedGroup::SECP384R1));
    }

    struct Zeros;
    impl Rng for Zeros {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
            buf.fill(0);
            Ok(())
        }
    }

    #[test]
    fn a_broken_rng_does_not_loop_forever() {
        let e = EcdheKeyPair::generate(NamedGroup::SECP256R1, &mut Zeros).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
    }

    /// Gives all-0xff bytes (a scalar above the group order) once, then
    /// defers to a seeded generator.
    struct OutOfRangeFirst(bool, SeededRng);
    impl Rng for OutOfRangeFirst {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
            if std::mem::replace(&mut self.0, false) {
                buf.fill(0xff);
                Ok(())
            } else {
                self.1.fill(buf)
            }
        }
    }

    #[test]
    fn out_of_range_scalars_are_redrawn() {
        for group in [NamedGroup::SECP256R1, NamedGroup::SECP384R1] {
            let mut rng = OutOfRangeFirst(true, SeededRng::new(9));
            let a = EcdheKeyPair::generate(group, &mut rng).unwrap();
            let b = EcdheKeyPair::generate(group, &mut SeededRng::new(9)).unwrap();
            assert_eq!(a.public_key(), b.public_key(), "{group}");
        }
    }

    #[test]
    fn compressed_point_is_illegal_parameter() {
        let a = EcdheKeyPair::generate(NamedGroup::SECP256R1, &mut SeededRng::new(1)).unwrap();
        let b = EcdheKeyPair::generate(NamedGroup::SECP256R1, &mut SeededRng::new(2)).unwrap();
        // A valid compressed encoding of b's point: 0x02/0x03 || X.
        let pk = b.public_key();
        let mut compressed = vec![2 + (pk[64] & 1)];
        compressed.extend_from_slice(&pk[1..33]);
        let e = a.agree(&compressed).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::ILLEGAL_PARAMETER);
    }
}
