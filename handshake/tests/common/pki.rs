//! A lab PKI for the integration tests, made with rcgen once per test
//! binary (RSA key generation is slow) and cached in a `OnceLock`.
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
//! wrong EKU, other names, another validity) from the same CA.
#![allow(dead_code)]

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
}

impl Leaf {
    /// The end-entity certificate.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

pub struct TestPki {
    /// The lab root CA certificate (what clients trust).
    pub ca: CertificateDer<'static>,
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
    ca_issuer: Issuer<'static, KeyPair>,
}

impl TestPki {
    /// Issues a leaf from the lab CA: `params` (start from [`leaf_params`])
    /// with a fresh key for `alg` (e.g. `&rcgen::PKCS_ECDSA_P256_SHA256`).
    pub fn issue(&self, alg: &'static SignatureAlgorithm, params: &CertificateParams) -> Leaf {
        issue(&self.ca_issuer, alg, params)
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

fn new_ca(common_name: &str, serial: u8) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let params = ca_params(common_name, serial);
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.der().clone(), Issuer::new(params, key))
}

fn issue(
    issuer: &Issuer<'_, KeyPair>,
    alg: &'static SignatureAlgorithm,
    params: &CertificateParams,
) -> Leaf {
    let key = KeyPair::generate_for(alg).expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    Leaf {
        chain: vec![cert.der().clone()],
        key_pkcs8: key.serialize_der(),
    }
}

fn with_serial(mut p: CertificateParams, serial: u8) -> CertificateParams {
    p.serial_number = Some(SerialNumber::from_slice(&[0x10, serial]));
    p
}

fn build() -> TestPki {
    let (ca, ca_issuer) = new_ca("TLS Lab Root CA", 1);
    let (other_ca, other_issuer) = new_ca("Other Untrusted Root CA", 2);
    let rsa = issue(
        &ca_issuer,
        &rcgen::PKCS_RSA_SHA256,
        &with_serial(leaf_params("localhost (RSA)", true), 1),
    );
    let ecdsa_p256 = issue(
        &ca_issuer,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &with_serial(leaf_params("localhost (ECDSA P-256)", false), 2),
    );
    let ecdsa_p384 = issue(
        &ca_issuer,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &with_serial(leaf_params("localhost (ECDSA P-384)", false), 3),
    );
    let other_ca_rsa = issue(
        &other_issuer,
        &rcgen::PKCS_RSA_SHA256,
        &with_serial(leaf_params("localhost (RSA, other CA)", true), 4),
    );
    TestPki {
        ca,
        rsa,
        ecdsa_p256,
        ecdsa_p384,
        other_ca_rsa,
        other_ca,
        ca_issuer,
    }
}
