//! The lab PKI: one CA and the two server certificates server-svc needs
//! (RSA for `TLS_RSA_*` and `TLS_ECDHE_RSA_*`, ECDSA for
//! `TLS_ECDHE_ECDSA_*`), made with rcgen.
//!
//! `server-svc pki init --out DIR --name NAME...` writes:
//!
//! ```text
//! ca.pem     ECDSA P-256 root CA certificate: what clients trust (client-svc --ca)
//! ca.key     its private key (0600)
//! rsa.pem    RSA-2048 server certificate issued by the CA
//! rsa.key    its private key, PKCS#8 PEM (0600)
//! ecdsa.pem  ECDSA P-256 server certificate issued by the CA
//! ecdsa.key  its private key, PKCS#8 PEM (0600)
//! ```
//!
//! Both server certificates carry a subjectAltName for each NAME (an IP
//! address SAN when the name parses as one, a DNS name otherwise), EKU
//! serverAuth and keyUsage digitalSignature, plus keyEncipherment for RSA:
//! RSA key transport encrypts the pre-master to that key (RFC 5246
//! 7.4.7.1), and the client checks the bit. The CA is valid for 20 years,
//! the server certificates for 10, both from January 1st of last year, so
//! a lab clock that is a little off does not matter.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use handshake::CertifiedKey;
use handshake::KeyType;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm,
};

use crate::certs::load_certified_key;
use crate::error::{Error, Result};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const RSA_CERT: &str = "rsa.pem";
pub const RSA_KEY: &str = "rsa.key";
pub const ECDSA_CERT: &str = "ecdsa.pem";
pub const ECDSA_KEY: &str = "ecdsa.key";

/// Every file of a lab PKI, in the order they are written.
pub const FILES: [&str; 6] = [CA_CERT, CA_KEY, RSA_CERT, RSA_KEY, ECDSA_CERT, ECDSA_KEY];

/// Private keys are readable by their owner only.
const KEY_MODE: u32 = 0o600;
/// Certificates are public.
const CERT_MODE: u32 = 0o644;

/// A directory holding (or about to hold) the six files of a lab PKI.
#[derive(Clone, Debug)]
pub struct LabPki {
    dir: PathBuf,
}

impl LabPki {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one of its files, e.g. `pki.file(CA_CERT)`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA certificate clients must trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.file(CA_CERT)
    }

    /// The RSA and the ECDSA server certificate with their keys, checked
    /// like any files given on the command line.
    pub fn load_keys(&self) -> Result<Vec<CertifiedKey>> {
        Ok(vec![
            load_certified_key(&self.file(RSA_CERT), &self.file(RSA_KEY), KeyType::Rsa)?,
            load_certified_key(
                &self.file(ECDSA_CERT),
                &self.file(ECDSA_KEY),
                KeyType::Ecdsa,
            )?,
        ])
    }
}

/// What [`ensure`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// The directory had no lab PKI: one was made.
    Created,
    /// A complete lab PKI was there already and is used as it is.
    Reused,
}

/// The names a default lab PKI is made for: loopback by name and address,
/// and this machine's host name when it is a plain DNS name (in a
/// Kubernetes pod, the pod's name).
pub fn default_names() -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if let Some(host) = host_name()
        && !names.contains(&host)
    {
        names.push(host);
    }
    names
}

fn host_name() -> Option<String> {
    // No portable std call for it; Linux exposes it here (and containers
    // set it). Anywhere else the default PKI simply goes without it.
    let raw = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let host = raw.trim().to_ascii_lowercase();
    check_dns_name(&host).ok()?;
    Some(host)
}

/// Uses the lab PKI in `dir`, making one for `names` if there is none.
/// A directory with some of the files but not all is refused rather than
/// overwritten: those may be keys someone wants to keep.
pub fn ensure(dir: &Path, names: &[String]) -> Result<(LabPki, Provenance)> {
    let pki = LabPki::new(dir);
    let (present, missing): (Vec<&str>, Vec<&str>) =
        FILES.iter().partition(|f| pki.file(f).exists());
    if missing.is_empty() {
        return Ok((pki, Provenance::Reused));
    }
    if present.is_empty() {
        return Ok((init(dir, names, false)?, Provenance::Created));
    }
    Err(Error::other(format!(
        "{} holds an incomplete lab PKI (missing {}); remove it or run `server-svc pki init --out {} --force`",
        dir.display(),
        missing.join(", "),
        dir.display()
    )))
}

/// Writes a new lab PKI for `names` into `out` (created if needed).
/// Refuses if any of the six files exists, unless `force`.
pub fn init(out: &Path, names: &[String], force: bool) -> Result<LabPki> {
    if names.is_empty() {
        return Err(Error::other(
            "a lab PKI needs at least one --name (a DNS name or an IP address)",
        ));
    }
    let sans = names.iter().map(|n| san(n)).collect::<Result<Vec<_>>>()?;
    let pki = LabPki::new(out);
    if !force {
        let existing: Vec<String> = FILES
            .iter()
            .map(|f| pki.file(f))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(Error::other(format!(
                "refusing to overwrite {}; pass --force to replace the lab PKI",
                existing.join(", ")
            )));
        }
    }

    // Generate everything before writing anything: a failure here leaves
    // the directory as it was.
    let year = current_year();
    let ca_key = generate(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let ca_params = ca_params(year);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(rcgen_error)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let first = &names[0];
    let rsa_key = generate(&rcgen::PKCS_RSA_SHA256)?;
    let rsa_cert = leaf_params(&format!("{first} (RSA)"), &sans, true, year)
        .signed_by(&rsa_key, &issuer)
        .map_err(rcgen_error)?;
    let ecdsa_key = generate(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let ecdsa_cert = leaf_params(&format!("{first} (ECDSA)"), &sans, false, year)
        .signed_by(&ecdsa_key, &issuer)
        .map_err(rcgen_error)?;

    fs::create_dir_all(out).map_err(|e| Error::io("create directory", out, e))?;
    let ca_key_pem = zeroize::Zeroizing::new(issuer.key().serialize_pem());
    let rsa_key_pem = zeroize::Zeroizing::new(rsa_key.serialize_pem());
    let ecdsa_key_pem = zeroize::Zeroizing::new(ecdsa_key.serialize_pem());
    let files: [(&str, &str, u32); 6] = [
        (CA_CERT, &ca_cert.pem(), CERT_MODE),
        (CA_KEY, &ca_key_pem, KEY_MODE),
        (RSA_CERT, &rsa_cert.pem(), CERT_MODE),
        (RSA_KEY, &rsa_key_pem, KEY_MODE),
        (ECDSA_CERT, &ecdsa_cert.pem(), CERT_MODE),
        (ECDSA_KEY, &ecdsa_key_pem, KEY_MODE),
    ];
    for (name, content, mode) in files {
        write_file(&pki.file(name), content.as_bytes(), mode, force)?;
    }
    Ok(pki)
}

fn generate(alg: &'static SignatureAlgorithm) -> Result<KeyPair> {
    KeyPair::generate_for(alg).map_err(rcgen_error)
}

fn rcgen_error(e: rcgen::Error) -> Error {
    Error::other(format!("cannot generate the lab PKI: {e}"))
}

/// A subjectAltName: an IP address if the name parses as one, else a DNS
/// name, checked here so a typo fails now rather than at a client's step 5.
fn san(name: &str) -> Result<SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    check_dns_name(name)
        .map_err(|why| Error::other(format!("--name {name:?} is not a DNS name: {why}")))?;
    let ia5 = name
        .try_into()
        .map_err(|e| Error::other(format!("--name {name:?}: {e}")))?;
    Ok(SanType::DnsName(ia5))
}

/// Letters, digits and hyphens in dot-separated labels of at most 63
/// characters (RFC 1035 2.3.1, with RFC 1123's leading digits), and an
/// optional leading `*.` wildcard.
fn check_dns_name(name: &str) -> Result<(), &'static str> {
    let body = name.strip_prefix("*.").unwrap_or(name);
    if body.is_empty() || name.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label needs 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "TLS Handshake Lab");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(year: i32) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn("TLS Handshake Lab CA");
    p.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    p.not_after = rcgen::date_time_ymd(year + 20, 1, 1);
    // It issues the server certificates directly: no intermediates below it.
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn leaf_params(common_name: &str, sans: &[SanType], rsa: bool, year: i32) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.subject_alt_names = sans.to_vec();
    p.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    p.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
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
    p.use_authority_key_identifier_extension = true;
    p
}

/// The calendar year, near enough: validity starts a whole year earlier.
fn current_year() -> i32 {
    const SECS_PER_YEAR: u64 = 31_556_952; // 365.2425 days
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + i32::try_from(secs / SECS_PER_YEAR).unwrap_or(0)
}

/// Writes `content` to `path` with permissions `mode`. Without `overwrite`
/// the file must not exist (checked by the open itself, not before it).
fn write_file(path: &Path, content: &[u8], mode: u32, overwrite: bool) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut file = opts.open(path).map_err(|e| Error::io("write", path, e))?;
    // An existing file keeps its old mode when truncated: set it again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set permissions of", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(content)
        .map_err(|e| Error::io("write", path, e))?;
    file.sync_all().map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_checked() {
        for ok in [
            "localhost",
            "server.lab.test",
            "*.lab.test",
            "a-1.b2",
            "1host",
        ] {
            assert!(check_dns_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "-a.b", "a_b", "a b", "*.", "é.test", ".a"] {
            assert!(check_dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_names_become_ip_sans() {
        assert!(matches!(san("127.0.0.1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san("localhost"), Ok(SanType::DnsName(_))));
        let err = san("bad name").unwrap_err().to_string();
        assert!(err.contains("\"bad name\""), "{err}");
    }

    #[test]
    fn default_names_cover_loopback() {
        let names = default_names();
        assert_eq!(&names[..3], ["localhost", "127.0.0.1", "::1"]);
    }
}
