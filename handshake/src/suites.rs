//! The eight cipher suites this engine implements and what each one means:
//! key exchange, bulk AEAD, and the hash behind the PRF and Finished.

use std::str::FromStr;

use aws_lc_rs::{digest, tls_prf};

use crate::msgs::enums::CipherSuite;
use crate::quote;

/// How the pre-master secret reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyExchange {
    /// The client encrypts a random pre-master to the certificate's RSA key.
    Rsa,
    /// Ephemeral ECDH; the server signs its share with an RSA key.
    EcdheRsa,
    /// Ephemeral ECDH; the server signs its share with an ECDSA key.
    EcdheEcdsa,
}

impl KeyExchange {
    /// "RSA", "ECDHE_RSA" or "ECDHE_ECDSA", as in the suite names (and the
    /// contract's `Negotiated.key_exchange`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcdheRsa => "ECDHE_RSA",
            Self::EcdheEcdsa => "ECDHE_ECDSA",
        }
    }

    pub fn is_ecdhe(self) -> bool {
        !matches!(self, Self::Rsa)
    }

    /// The certificate key type the suite needs.
    pub fn certificate_key(self) -> KeyType {
        match self {
            Self::Rsa | Self::EcdheRsa => KeyType::Rsa,
            Self::EcdheEcdsa => KeyType::Ecdsa,
        }
    }
}

/// The kind of key in a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ecdsa,
}

/// The AEAD that protects records (RFC 5288, RFC 7905).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkCipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl BulkCipher {
    /// enc_key_length in the key block.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::Chacha20Poly1305 => 32,
        }
    }

    /// fixed_iv_length in the key block: the 4-byte GCM salt (RFC 5288 3),
    /// or ChaCha20-Poly1305's whole 12-byte IV (RFC 7905 2).
    pub fn fixed_iv_len(self) -> usize {
        match self {
            Self::Aes128Gcm | Self::Aes256Gcm => 4,
            Self::Chacha20Poly1305 => 12,
        }
    }

    /// record_iv_length: the explicit nonce carried in each GCM record; 0 for
    /// ChaCha20-Poly1305, whose nonce is the IV XOR the sequence number.
    pub fn explicit_nonce_len(self) -> usize {
        match self {
            Self::Aes128Gcm | Self::Aes256Gcm => 8,
            Self::Chacha20Poly1305 => 0,
        }
    }

    pub const TAG_LEN: usize = 16;
}

/// The hash of the suite: the PRF's P_hash and the transcript hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
}

impl HashAlgorithm {
    pub fn prf(self) -> &'static tls_prf::Algorithm {
        match self {
            Self::Sha256 => &tls_prf::P_SHA256,
            Self::Sha384 => &tls_prf::P_SHA384,
        }
    }

    pub fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
        }
    }
}

/// One implemented cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteParams {
    pub suite: CipherSuite,
    pub kx: KeyExchange,
    pub bulk: BulkCipher,
    pub hash: HashAlgorithm,
}

impl SuiteParams {
    /// Bytes of key block this suite consumes (RFC 5246 6.3): two write keys
    /// and two fixed IVs; AEAD suites have no MAC keys.
    pub fn key_block_len(&self) -> usize {
        2 * (self.bulk.key_len() + self.bulk.fixed_iv_len())
    }
}

const fn suite(
    suite: CipherSuite,
    kx: KeyExchange,
    bulk: BulkCipher,
    hash: HashAlgorithm,
) -> SuiteParams {
    SuiteParams {
        suite,
        kx,
        bulk,
        hash,
    }
}

/// Every implemented suite, strongest first: the default preference order.
pub static ALL_SUITES: &[SuiteParams] = &[
    suite(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        KeyExchange::EcdheEcdsa,
        BulkCipher::Aes256Gcm,
        HashAlgorithm::Sha384,
    ),
    suite(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        KeyExchange::EcdheEcdsa,
        BulkCipher::Aes128Gcm,
        HashAlgorithm::Sha256,
    ),
    suite(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        KeyExchange::EcdheEcdsa,
        BulkCipher::Chacha20Poly1305,
        HashAlgorithm::Sha256,
    ),
    suite(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        KeyExchange::EcdheRsa,
        BulkCipher::Aes256Gcm,
        HashAlgorithm::Sha384,
    ),
    suite(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        KeyExchange::EcdheRsa,
        BulkCipher::Aes128Gcm,
        HashAlgorithm::Sha256,
    ),
    suite(
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        KeyExchange::EcdheRsa,
        BulkCipher::Chacha20Poly1305,
        HashAlgorithm::Sha256,
    ),
    suite(
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        KeyExchange::Rsa,
        BulkCipher::Aes256Gcm,
        HashAlgorithm::Sha384,
    ),
    suite(
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        KeyExchange::Rsa,
        BulkCipher::Aes128Gcm,
        HashAlgorithm::Sha256,
    ),
];

/// The parameters of an implemented suite, or `None`.
pub fn lookup(suite: CipherSuite) -> Option<&'static SuiteParams> {
    ALL_SUITES.iter().find(|s| s.suite == suite)
}

/// A suite as written on a command line: an implemented suite's IANA name
/// in any case, with or without the contract's `CIPHER_SUITE_` prefix, or
/// any two-byte code point in hex (`0x009c`; an unimplemented one lets a
/// client offer what a server must refuse).
impl FromStr for CipherSuite {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("CIPHER_SUITE_").unwrap_or(&upper);
        if let Some(hex) = name.strip_prefix("0X") {
            let quoted = quote::truncate(s, quote::MAX_TEXT);
            return u16::from_str_radix(hex, 16)
                .map(CipherSuite)
                .map_err(|_| format!("{quoted} is not a two-byte hex code point"));
        }
        let known = || ALL_SUITES.iter().map(|p| p.suite);
        known().find(|c| c.name() == Some(name)).ok_or_else(|| {
            // Eight names: the line stays short whatever was typed.
            let names: Vec<_> = known().filter_map(CipherSuite::name).collect();
            let names = names.join(", ");
            format!("unknown cipher suite; known: {names} (or a hex code point, e.g. 0x009c)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_is_named_and_found() {
        assert_eq!(ALL_SUITES.len(), 8);
        for s in ALL_SUITES {
            assert_eq!(lookup(s.suite), Some(s));
            let name = s.suite.name().unwrap();
            assert_eq!(name.ends_with("SHA384"), s.hash == HashAlgorithm::Sha384);
            assert_eq!(name.starts_with("TLS_RSA_"), s.kx == KeyExchange::Rsa);
        }
        assert!(lookup(CipherSuite(0x002f)).is_none());
    }

    #[test]
    fn key_block_lengths_follow_rfc_5246_6_3() {
        // AES-128-GCM: 2*16 + 2*4; ChaCha20: 2*32 + 2*12.
        let aes = lookup(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256).unwrap();
        assert_eq!(aes.key_block_len(), 40);
        let chacha = lookup(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256).unwrap();
        assert_eq!(chacha.key_block_len(), 88);
    }
}
