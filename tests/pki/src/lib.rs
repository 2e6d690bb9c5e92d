//! The lab PKI of the tests, made with rcgen: one copy for the engine's
//! unit and integration tests, proto's and client-svc's tests and the fuzz
//! seeds. Only DER and PEM bytes and rcgen types come out, no engine types,
//! so that the handshake crate's own unit tests can use it too.
//!
//! [`pki`] is made once per test binary (RSA key generation is slow) and
//! cached in a `OnceLock`:
//!
//! - `ca`: the lab root CA (ECDSA P-256, valid 2020..2045);
//! - `rsa`, `ecdsa_p256`, `ecdsa_p384`: leaves issued by `ca`;
//! - `other_ca` and `other_ca_rsa`: a second, untrusted root and an RSA leaf
//!   it issued, for unknown_ca cases.
//!
//! Every leaf has subjectAltName DNS "localhost", DNS "server.lab.test" and
//! IP 127.0.0.1, EKU serverAuth, and the fixed validity window
//! 2025-01-01T00:00:00Z .. 2035-01-01T00:00:00Z, so tests pass a fixed `now`
//! ([`valid_now`], [`after_expiry`], [`before_validity`]) and never depend on
//! the clock. [`TestPki::issue`] and [`leaf_params`] make other leaves (a
//! wrong EKU, other names, another validity) from the same CA; [`Ca::new`]
//! makes another root, whose leaves may take rcgen's default validity
//! (1975..4096) where the code under test reads the clock.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, UnixTime};

/// not_before of every standard leaf: 2025-01-01T00:00:00Z.
pub const LEAF_NOT_BEFORE: u64 = 1_735_689_600;
/// not_after of every standard leaf: 2035-01-01T00:00:00Z.
pub const LEAF_NOT_AFTER: u64 = 2_051_222_400;
/// subjectAltName DNS entries of every standard leaf.
pub const LEAF_DNS_NAMES: &[&str] = &["localhost", "server.lab.test"];
/// subjectAltName IP entry of every standard leaf.
pub const LEAF_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A certificate chain and the leaf's private key.
pub struct Leaf {
    /// `[leaf]`: what a server sends in its Certificate message.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The leaf certificate, PEM (what OpenSSL and the services read).
    pub cert_pem: String,
    /// The leaf's private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl Leaf {
    /// The end-entity certificate.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

/// A root CA (ECDSA P-256, valid 2020..2045) that issues leaves.
pub struct Ca {
    /// Its self-signed certificate.
    pub cert: CertificateDer<'static>,
    /// The same, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new root named `common_name`, with a fresh key.
    pub fn new(common_name: &str) -> Ca {
        new_ca(common_name, 0)
    }

    /// Issues a leaf: `params` signed by this CA, with a fresh key for
    /// `alg` (e.g. `&rcgen::PKCS_ECDSA_P256_SHA256`).
    pub fn issue(&self, alg: &'static SignatureAlgorithm, params: &CertificateParams) -> Leaf {
        let key = KeyPair::generate_for(alg).expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            chain: vec![cert.der().clone()],
            key_pkcs8: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// An RSA-2048 and an ECDSA P-256 leaf, CN and DNS "localhost" and IP
    /// 127.0.0.1, with rcgen's default validity (1975..4096): for services
    /// that check certificates against the real clock.
    pub fn localhost_leaves(&self) -> [Leaf; 2] {
        let mut params = CertificateParams::new(["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_ECDSA_P256_SHA256]
            .map(|alg| self.issue(alg, &params))
    }
}

pub struct TestPki {
    /// The lab root CA certificate (what clients trust).
    pub ca: CertificateDer<'static>,
    /// The same, PEM.
    pub ca_pem: String,
    /// RSA-2048 leaf for "localhost" (PKCS_RSA_SHA256 key).
    pub rsa: Leaf,
    /// ECDSA P-256 leaf for "localhost".
    pub ecdsa_p256: Leaf,
    /// ECDSA P-384 leaf for "localhost".
    pub ecdsa_p384: Leaf,
    /// RSA leaf for "localhost" signed by `other_ca`, which clients do not trust.
    pub other_ca_rsa: Leaf,
    /// A second root CA.
    pub other_ca: CertificateDer<'static>,
    lab_ca: Ca,
}

impl TestPki {
    /// Issues a leaf from the lab CA: `params` (start from [`leaf_params`])
    /// with a fresh key for `alg` (e.g. `&rcgen::PKCS_ECDSA_P256_SHA256`).
    pub fn issue(&self, alg: &'static SignatureAlgorithm, params: &CertificateParams) -> Leaf {
        self.lab_ca.issue(alg, params)
    }
}

/// The lab PKI, built on first use.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(build)
}

/// Inside every standard leaf's validity: 2026-06-01T00:00:00Z.
pub fn valid_now() -> UnixTime {
    at(1_780_272_000)
}

/// After every standard leaf expired (but the CA still valid): 2036-01-01T00:00:00Z.
pub fn after_expiry() -> UnixTime {
    at(2_082_758_400)
}

/// Before every standard leaf is valid (but the CA already is): 2024-06-01T00:00:00Z.
pub fn before_validity() -> UnixTime {
    at(1_717_200_000)
}

/// A unix time in seconds.
pub fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// The standard leaf template: the SANs, EKU serverAuth, key usage
/// digitalSignature (+ keyEncipherment when `rsa`, for RSA key transport),
/// the fixed validity window, and CN `common_name`.
pub fn leaf_params(common_name: &str, rsa: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.subject_alt_names = LEAF_DNS_NAMES
        .iter()
        .map(|d| SanType::DnsName((*d).try_into().expect("valid DNS name")))
        .chain(std::iter::once(SanType::IpAddress(LEAF_IP)))
        .collect();
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = if rsa {
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ]
    } else {
        vec![KeyUsagePurpose::DigitalSignature]
    };
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "TLS Handshake Lab");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.serial_number = Some(SerialNumber::from_slice(&[0x01, serial]));
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2045, 1, 1);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn new_ca(common_name: &str, serial: u8) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let params = ca_params(common_name, serial);
    let cert = params.self_signed(&key).expect("self-signed CA");
    Ca {
        cert: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

fn with_serial(mut p: CertificateParams, serial: u8) -> CertificateParams {
    p.serial_number = Some(SerialNumber::from_slice(&[0x10, serial]));
    p
}

fn build() -> TestPki {
    let lab_ca = new_ca("TLS Lab Root CA", 1);
    let other = new_ca("Other Untrusted Root CA", 2);
    let rsa = lab_ca.issue(
        &rcgen::PKCS_RSA_SHA256,
        &with_serial(leaf_params("localhost (RSA)", true), 1),
    );
    let ecdsa_p256 = lab_ca.issue(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &with_serial(leaf_params("localhost (ECDSA P-256)", false), 2),
    );
    let ecdsa_p384 = lab_ca.issue(
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &with_serial(leaf_params("localhost (ECDSA P-384)", false), 3),
    );
    let other_ca_rsa = other.issue(
        &rcgen::PKCS_RSA_SHA256,
        &with_serial(leaf_params("localhost (RSA, other CA)", true), 4),
    );
    TestPki {
        ca: lab_ca.cert.clone(),
        ca_pem: lab_ca.pem.clone(),
        rsa,
        ecdsa_p256,
        ecdsa_p384,
        other_ca_rsa,
        other_ca: other.cert,
        lab_ca,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_pem_texts_hold_the_der_bytes() {
        let p = pki();
        assert_eq!(
            CertificateDer::from_pem_slice(p.ca_pem.as_bytes()).unwrap(),
            p.ca
        );
        for leaf in [&p.rsa, &p.ecdsa_p256, &p.ecdsa_p384, &p.other_ca_rsa] {
            assert_eq!(
                &CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap(),
                leaf.cert()
            );
            let key = PrivatePkcs8KeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            assert_eq!(key.secret_pkcs8_der(), leaf.key_pkcs8);
        }
    }

    #[test]
    fn every_root_and_leaf_is_its_own() {
        let p = pki();
        let a = Ca::new("A");
        let b = Ca::new("B");
        let certs = [&p.ca, &p.other_ca, &a.cert, &b.cert];
        for (i, x) in certs.iter().enumerate() {
            for y in &certs[i + 1..] {
                assert_ne!(x, y);
            }
        }
        let params = leaf_params("localhost", false);
        let one = a.issue(&rcgen::PKCS_ECDSA_P256_SHA256, &params);
        let two = a.issue(&rcgen::PKCS_ECDSA_P256_SHA256, &params);
        assert_ne!(one.key_pkcs8, two.key_pkcs8, "a fresh key per leaf");
        assert_ne!(one.key_pkcs8, p.ecdsa_p256.key_pkcs8);
    }
}
