//! Configuration of each role: what to offer or accept, and with which
//! certificates and keys. Built once, shared by every session (`Arc`).

use rustls_pki_types::CertificateDer;

use crate::error::Error;
use crate::faults::LabFaults;
use crate::msgs::enums::{CipherSuite, NamedGroup, SignatureScheme};
use crate::sign::ServerKey;
use crate::suites::{ALL_SUITES, KeyType};
use crate::verify::{
    CertificateInfo, ServerCertVerifier, certificate_info, key_matches_certificate,
};

/// The groups implemented, in default preference order.
pub const DEFAULT_GROUPS: &[NamedGroup] = &[
    NamedGroup::X25519,
    NamedGroup::SECP256R1,
    NamedGroup::SECP384R1,
];

/// Signature schemes a client offers by default: what the server's
/// ServerKeyExchange signature may use. SHA-1 is left out.
pub const DEFAULT_SIGNATURE_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::RSA_PSS_RSAE_SHA256,
    SignatureScheme::RSA_PSS_RSAE_SHA384,
    SignatureScheme::RSA_PSS_RSAE_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

fn all_suites() -> Vec<CipherSuite> {
    ALL_SUITES.iter().map(|s| s.suite).collect()
}

/// The client's settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Suites offered, most preferred first. Values the engine does not
    /// implement may be offered (to provoke a server); the client still
    /// refuses a ServerHello that picks one of them.
    pub cipher_suites: Vec<CipherSuite>,
    /// supported_groups, most preferred first.
    pub groups: Vec<NamedGroup>,
    /// signature_algorithms, most preferred first.
    pub signature_schemes: Vec<SignatureScheme>,
    /// Offer the extended master secret (RFC 7627).
    pub extended_master_secret: bool,
    /// Checks the server's chain, name and validity.
    pub verifier: ServerCertVerifier,
    /// Lab faults (`corrupt_finished` and `corrupt_application_record`
    /// apply to a client).
    pub faults: LabFaults,
}

impl ClientConfig {
    /// Every suite and group, EMS on, certificates checked by `verifier`.
    pub fn new(verifier: ServerCertVerifier) -> Self {
        Self {
            cipher_suites: all_suites(),
            groups: DEFAULT_GROUPS.to_vec(),
            signature_schemes: DEFAULT_SIGNATURE_SCHEMES.to_vec(),
            extended_master_secret: true,
            verifier,
            faults: LabFaults::default(),
        }
    }
}

/// A certificate chain and the private key of its end entity.
#[derive(Debug)]
pub struct CertifiedKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: ServerKey,
    /// The chain as reported in step 3, parsed once here rather than on
    /// every handshake.
    pub(crate) info: Vec<CertificateInfo>,
}

impl CertifiedKey {
    /// Pairs a chain (end entity first) with its PKCS#8 key, refusing a key
    /// that is not the certificate's.
    pub fn new(chain: Vec<CertificateDer<'static>>, key_pkcs8: &[u8]) -> Result<Self, Error> {
        let end_entity = chain
            .first()
            .ok_or_else(|| Error::internal("certificate chain is empty"))?;
        let key = ServerKey::from_pkcs8(key_pkcs8)?;
        if !key_matches_certificate(&key, end_entity)? {
            return Err(Error::internal(
                "the private key does not belong to the certificate",
            ));
        }
        let info = chain
            .iter()
            .map(|c| certificate_info(c.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { chain, key, info })
    }
}

/// Whose order decides the cipher suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuitePreference {
    /// The first of the server's suites that the client offered.
    #[default]
    Server,
    /// The first of the client's offered suites that the server enables.
    Client,
}

/// The server's settings.
#[derive(Debug)]
pub struct ServerConfig {
    /// Suites enabled, in the server's preference order.
    pub cipher_suites: Vec<CipherSuite>,
    /// Groups accepted for ECDHE, in the server's preference order.
    pub groups: Vec<NamedGroup>,
    pub preference: SuitePreference,
    /// Agree to the extended master secret when the client offers it.
    pub extended_master_secret: bool,
    /// Lab faults.
    pub faults: LabFaults,
    rsa: Option<CertifiedKey>,
    ecdsa: Option<CertifiedKey>,
}

impl ServerConfig {
    /// A server with up to one RSA and one ECDSA certificate; the suite
    /// decides which one a session uses.
    pub fn new(keys: Vec<CertifiedKey>) -> Result<Self, Error> {
        let (mut rsa, mut ecdsa) = (None, None);
        for k in keys {
            let slot = match k.key.key_type() {
                KeyType::Rsa => &mut rsa,
                KeyType::Ecdsa => &mut ecdsa,
            };
            if slot.is_some() {
                return Err(Error::internal(format!(
                    "two {:?} certificates configured; one of each key type is allowed",
                    k.key.key_type()
                )));
            }
            *slot = Some(k);
        }
        if rsa.is_none() && ecdsa.is_none() {
            return Err(Error::internal("no certificate configured"));
        }
        Ok(Self {
            cipher_suites: all_suites(),
            groups: DEFAULT_GROUPS.to_vec(),
            preference: SuitePreference::Server,
            extended_master_secret: true,
            faults: LabFaults::default(),
            rsa,
            ecdsa,
        })
    }

    /// The certificate and key for suites that need `key_type`.
    pub fn certified_key(&self, key_type: KeyType) -> Option<&CertifiedKey> {
        match key_type {
            KeyType::Rsa => self.rsa.as_ref(),
            KeyType::Ecdsa => self.ecdsa.as_ref(),
        }
    }
}
