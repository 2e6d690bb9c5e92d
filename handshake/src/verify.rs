//! Certificates on the client side: what a certificate says (for the step
//! report), whether the server's chain is trustworthy (step 5, "Client
//! Verification"), and whether ServerKeyExchange was signed by the
//! certificate's key.
//!
//! Nothing here is hand-rolled: x509-parser reads certificates for display,
//! rustls' `WebPkiServerVerifier` checks chains, names and validity, and
//! rustls-webpki checks the ServerKeyExchange signature. Every failure is
//! mapped to the RFC 5246 7.2.2 alert that describes it, with a reason a
//! student can act on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use aws_lc_rs::digest;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, UnixTime};
use webpki::aws_lc_rs as algs;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED448, OID_SIG_ED25519,
};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::Error;
use crate::keys::hex;
use crate::msgs::enums::{AlertDescription, SignatureScheme};
use crate::sign::ServerKey;
use crate::suites::KeyType;

/// What a student sees of a certificate (parsed with x509-parser).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// RFC 4514-style distinguished names, as x509-parser prints them.
    pub subject: String,
    pub issuer: String,
    /// The serial number's DER content octets, lowercase hex.
    pub serial_hex: String,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName iPAddress entries, in the usual text form.
    pub ip_addresses: Vec<String>,
    /// Validity window, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, lowercase hex, no separators.
    pub sha256_fingerprint: String,
    /// None for keys this engine can't use (RSA and ECDSA P-256/P-384 only).
    pub key_type: Option<KeyType>,
    /// e.g. "RSA 2048 bits", "ECDSA P-256".
    pub public_key_description: String,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// The keyUsage extension, if present (RFC 5280 4.2.1.3).
    pub key_usage: Option<KeyUsageInfo>,
}

/// The keyUsage bits TLS 1.2 cares about, and all of them as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsageInfo {
    pub digital_signature: bool,
    pub key_encipherment: bool,
    /// Every bit set, by RFC 5280 name, e.g. "Digital Signature, Key Encipherment".
    pub text: String,
}

/// Parses a DER certificate, insisting on nothing after it.
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        Error::new(
            AlertDescription::BAD_CERTIFICATE,
            format!("certificate does not parse as X.509 DER: {e}"),
        )
    })?;
    if !rest.is_empty() {
        return Err(Error::new(
            AlertDescription::BAD_CERTIFICATE,
            format!(
                "certificate has {} trailing bytes after its DER",
                rest.len()
            ),
        ));
    }
    Ok(cert)
}

/// Describes a certificate for the report. Malformed DER -> bad_certificate.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, Error> {
    let cert = parse(der)?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(
            AlertDescription::BAD_CERTIFICATE,
            format!("certificate {what} does not parse: {e}"),
        )
    };

    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| bad("subjectAltName", &e))?;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
            GeneralName::IPAddress(bytes) => ip_addresses.push(ip_to_string(bytes)),
            _ => {}
        }
    }

    let key_usage = cert
        .key_usage()
        .map_err(|e| bad("keyUsage", &e))?
        .map(|ku| KeyUsageInfo {
            digital_signature: ku.value.digital_signature(),
            key_encipherment: ku.value.key_encipherment(),
            text: ku.value.to_string(),
        });
    let (key_type, public_key_description) = describe_key(cert.public_key());
    let validity = cert.validity();
    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial_hex: hex(cert.raw_serial()),
        dns_names,
        ip_addresses,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        sha256_fingerprint: hex(digest::digest(&digest::SHA256, der).as_ref()),
        key_type,
        public_key_description,
        is_ca: cert.is_ca(),
        key_usage,
    })
}

fn ip_to_string(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(v4)).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        IpAddr::V6(Ipv6Addr::from(v6)).to_string()
    } else {
        // Name constraints use 8/32-byte address+mask forms; a SAN should
        // not, but show it rather than fail.
        format!("invalid IP address {}", hex(bytes))
    }
}

/// The key type this engine can use, and a human description.
fn describe_key(spki: &SubjectPublicKeyInfo<'_>) -> (Option<KeyType>, String) {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => bit_len(rsa.modulus),
            _ => 0,
        };
        (Some(KeyType::Rsa), format!("RSA {bits} bits"))
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => (Some(KeyType::Ecdsa), "ECDSA P-256".into()),
            Some(c) if c == OID_NIST_EC_P384 => (Some(KeyType::Ecdsa), "ECDSA P-384".into()),
            Some(c) if c == OID_NIST_EC_P521 => (None, "ECDSA P-521 (not supported)".into()),
            Some(c) => (None, format!("EC key on curve {c} (not supported)")),
            None => (None, "EC key with no named curve (not supported)".into()),
        }
    } else if *alg == OID_SIG_ED25519 {
        (None, "Ed25519 (not supported)".into())
    } else if *alg == OID_SIG_ED448 {
        (None, "Ed448 (not supported)".into())
    } else {
        (None, format!("key algorithm {alg} (not supported)"))
    }
}

/// Significant bits of a big-endian unsigned integer.
fn bit_len(be: &[u8]) -> usize {
    let be = match be.iter().position(|&b| b != 0) {
        Some(i) => &be[i..],
        None => return 0,
    };
    8 * (be.len() - 1) + (8 - be[0].leading_zeros() as usize)
}

/// Does `key` belong to this certificate? Compares the certificate's
/// subjectPublicKey bits with the private key's public half.
pub fn key_matches_certificate(key: &ServerKey, cert_der: &[u8]) -> Result<bool, Error> {
    let cert = parse(cert_der)?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key())
}

/// Verifies server chains against configured roots only (RFC 5246 7.4.2:
/// the client checks the chain; RFC 5280 path validation, RFC 6125 names).
#[derive(Clone, Debug)]
pub struct ServerCertVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier {
    /// roots: DER CA certificates. No roots, or a root that doesn't parse ->
    /// internal_error: it is this side's configuration, not the peer's fault.
    pub fn new(roots: &[CertificateDer<'_>]) -> Result<Self, Error> {
        if roots.is_empty() {
            return Err(Error::internal(
                "no trusted root certificates configured: every server would be unknown_ca",
            ));
        }
        let mut store = RootCertStore::empty();
        for (i, root) in roots.iter().enumerate() {
            store.add(root.clone()).map_err(|e| {
                Error::internal(format!(
                    "trusted root certificate #{i} is not a usable trust anchor: {e}"
                ))
            })?;
        }
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .map_err(|e| Error::internal(format!("cannot build the certificate verifier: {e}")))?;
        Ok(Self { inner })
    }

    /// Verifies `chain` (end entity first, then intermediates, RFC 5246
    /// 7.4.2) against the roots: path to a root, `server_name` (DNS or IP)
    /// in the subjectAltName, validity at `now`, EKU serverAuth.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err(Error::new(
                AlertDescription::BAD_CERTIFICATE,
                "the server sent an empty certificate chain",
            ));
        };
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, &[], now)
            .map(|_| ())
            .map_err(|e| map_verify_error(e, server_name, now))
    }
}

#[allow(deprecated)] // the context-less variants may still be produced
fn map_verify_error(e: rustls::Error, server_name: &ServerName<'_>, now: UnixTime) -> Error {
    use AlertDescription as A;
    let ce = match e {
        rustls::Error::InvalidCertificate(ce) => ce,
        other => {
            return Error::new(A::BAD_CERTIFICATE, format!("certificate rejected: {other}"));
        }
    };
    let now_s = fmt_time(now);
    let (alert, reason) = match ce {
        CertificateError::UnknownIssuer => (
            A::UNKNOWN_CA,
            "the chain does not lead to any configured trusted root (unknown issuer)".to_owned(),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            A::CERTIFICATE_EXPIRED,
            format!(
                "certificate expired at {} (now is {})",
                fmt_time(not_after),
                fmt_time(time)
            ),
        ),
        CertificateError::Expired => (
            A::CERTIFICATE_EXPIRED,
            format!("certificate has expired (now is {now_s})"),
        ),
        CertificateError::NotValidYetContext { time, not_before } => (
            A::CERTIFICATE_EXPIRED,
            format!(
                "certificate is not valid until {} (now is {})",
                fmt_time(not_before),
                fmt_time(time)
            ),
        ),
        CertificateError::NotValidYet => (
            A::CERTIFICATE_EXPIRED,
            format!("certificate is not valid yet (now is {now_s})"),
        ),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => (
            A::BAD_CERTIFICATE,
            format!(
                "certificate is not valid for {}; it names {}",
                name_str(&expected),
                if presented.is_empty() {
                    "no DNS or IP subjectAltName".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|p| plain_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ),
        CertificateError::NotValidForName => (
            A::BAD_CERTIFICATE,
            format!("certificate is not valid for {}", name_str(server_name)),
        ),
        CertificateError::InvalidPurposeContext {
            required,
            presented,
        } => (
            A::UNSUPPORTED_CERTIFICATE,
            format!(
                "certificate is not for {required:?} (its extended key usages: {})",
                if presented.is_empty() {
                    "none".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|p| format!("{p:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ),
        CertificateError::InvalidPurpose => (
            A::UNSUPPORTED_CERTIFICATE,
            "certificate's extended key usage does not allow TLS server authentication".to_owned(),
        ),
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => (
            A::UNSUPPORTED_CERTIFICATE,
            format!("certificate is signed with an unsupported algorithm: {ce}"),
        ),
        CertificateError::Revoked => (A::CERTIFICATE_REVOKED, "certificate is revoked".to_owned()),
        CertificateError::BadSignature => (
            A::BAD_CERTIFICATE,
            "a certificate signature in the chain does not verify".to_owned(),
        ),
        CertificateError::BadEncoding => (
            A::BAD_CERTIFICATE,
            "a certificate in the chain is not valid DER".to_owned(),
        ),
        other => (A::BAD_CERTIFICATE, format!("certificate rejected: {other}")),
    };
    Error::new(alert, reason)
}

/// rustls presents names in Debug form (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`); a student wants `localhost`, `127.0.0.1`.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|s| s.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn name_str(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => format!("DNS name {:?}", d.as_ref()),
        ServerName::IpAddress(ip) => format!("IP address {}", IpAddr::from(*ip)),
        other => format!("{other:?}"),
    }
}

/// A unix time as "YYYY-MM-DDTHH:MM:SSZ".
fn fmt_time(t: UnixTime) -> String {
    rfc3339(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC), for
/// certificate validity in reasons and reports.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Days since 1970-01-01 -> civil date: H. Hinnant, "chrono-Compatible
    // Low-Level Date Algorithms", civil_from_days (400-year eras,
    // March-based years).
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The webpki algorithms that can verify `scheme`, or None if this engine
/// does not accept it for ServerKeyExchange.
///
/// In TLS 1.2 an ECDSA SignatureAndHashAlgorithm names only the hash
/// (RFC 5246 7.4.1.4.1, RFC 8422 5.1.1): the curve is the certificate's.
/// So each ECDSA scheme maps to that hash on every curve webpki offers;
/// webpki picks the one whose curve matches the certificate key.
fn algorithms_for(
    scheme: SignatureScheme,
) -> Option<Vec<&'static dyn SignatureVerificationAlgorithm>> {
    use SignatureScheme as S;
    Some(match scheme {
        S::RSA_PKCS1_SHA256 => vec![algs::RSA_PKCS1_2048_8192_SHA256],
        S::RSA_PKCS1_SHA384 => vec![algs::RSA_PKCS1_2048_8192_SHA384],
        S::RSA_PKCS1_SHA512 => vec![algs::RSA_PKCS1_2048_8192_SHA512],
        // "rsae": PSS signatures by a key whose SPKI says rsaEncryption,
        // which webpki calls LEGACY_KEY (RFC 8446 4.2.3).
        S::RSA_PSS_RSAE_SHA256 => vec![algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        S::RSA_PSS_RSAE_SHA384 => vec![algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        S::RSA_PSS_RSAE_SHA512 => vec![algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        S::ECDSA_NISTP256_SHA256 => vec![
            algs::ECDSA_P256_SHA256,
            algs::ECDSA_P384_SHA256,
            algs::ECDSA_P521_SHA256,
        ],
        S::ECDSA_NISTP384_SHA384 => vec![
            algs::ECDSA_P384_SHA384,
            algs::ECDSA_P256_SHA384,
            algs::ECDSA_P521_SHA384,
        ],
        S::ECDSA_NISTP521_SHA512 => vec![
            algs::ECDSA_P521_SHA512,
            algs::ECDSA_P256_SHA512,
            algs::ECDSA_P384_SHA512,
        ],
        _ => return None,
    })
}

/// Verifies the ServerKeyExchange signature (RFC 5246 7.4.3, RFC 8422 5.4)
/// over `message` (client_random || server_random || params) with the
/// end-entity certificate's key.
///
/// A scheme this engine does not accept, or one that does not fit the
/// certificate's key -> illegal_parameter; a signature that does not verify
/// -> decrypt_error (RFC 5246 7.2.2); a certificate webpki cannot parse ->
/// bad_certificate.
pub fn verify_signature(
    end_entity: &CertificateDer<'_>,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let candidates = algorithms_for(scheme).ok_or_else(|| {
        Error::illegal_parameter(format!(
            "ServerKeyExchange signed with {scheme}, which this client does not accept"
        ))
    })?;
    let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
        Error::new(
            AlertDescription::BAD_CERTIFICATE,
            format!("server certificate does not parse: {e}"),
        )
    })?;
    for alg in candidates {
        match cert.verify_signature(alg, message, signature) {
            Ok(()) => return Ok(()),
            // This algorithm's key type or curve is not the certificate's:
            // try the next curve for the same hash.
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => continue,
            #[allow(deprecated)]
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKey) => continue,
            Err(webpki::Error::InvalidSignatureForPublicKey) => {
                return Err(Error::decrypt_error(format!(
                    "ServerKeyExchange {scheme} signature does not verify with the certificate's key"
                )));
            }
            Err(e) => {
                return Err(Error::decrypt_error(format!(
                    "ServerKeyExchange {scheme} signature rejected: {e}"
                )));
            }
        }
    }
    Err(Error::illegal_parameter(format!(
        "ServerKeyExchange signed with {scheme}, which does not fit the certificate's key"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }
    use std::time::Duration;

    #[test]
    fn times_print_as_utc() {
        let t = |s| fmt_time(UnixTime::since_unix_epoch(Duration::from_secs(s)));
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        assert_eq!(t(2_051_222_400), "2035-01-01T00:00:00Z");
        assert_eq!(t(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn presented_names_lose_their_debug_wrapping() {
        assert_eq!(plain_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(plain_name("something else"), "something else");
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01]), 1);
        assert_eq!(bit_len(&[0x00]), 0);
    }

    #[test]
    fn no_roots_is_internal_error() {
        let e = ServerCertVerifier::new(&[]).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        let e = ServerCertVerifier::new(&[CertificateDer::from(vec![1, 2, 3])]).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
    }
}
