//! From `serve`'s flags to the engine's [`ServerConfig`]: certificates,
//! suites, preference, extended master secret, lab faults.

use std::path::PathBuf;

use handshake::{CertifiedKey, LabFaults, ServerConfig};
use handshake::{KeyType, lookup};

use crate::certs::load_certified_key;
use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::pki::{self, Provenance};

/// Where the server's certificates came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// --rsa-cert / --ecdsa-cert.
    Files,
    /// The lab PKI in --pki-dir, made now or found there.
    LabPki {
        ca_cert: PathBuf,
        provenance: Provenance,
    },
}

/// The engine's configuration from `serve`'s flags, checked, and where
/// its certificates came from (the default lab PKI, made now if no
/// certificate flag is given, or the files named).
pub fn server_config(args: &ServeArgs) -> Result<(ServerConfig, KeySource)> {
    let (keys, source) = load_keys(args)?;
    let mut server = ServerConfig::new(keys)
        .map_err(|e| Error::other(format!("server certificates: {}", e.reason())))?;
    if !args.suites.is_empty() {
        let mut suites = args.suites.clone();
        // The first mention of a suite sets its place in the order.
        let mut seen = Vec::new();
        suites.retain(|s| {
            let first = !seen.contains(s);
            seen.push(*s);
            first
        });
        server.cipher_suites = suites;
    }
    server.preference = args.preference;
    server.extended_master_secret = !args.no_extended_master_secret;
    server.faults = LabFaults {
        corrupt_finished: args.lab_corrupt_finished,
        choose_unoffered_suite: args.lab_choose_unoffered_suite,
        corrupt_signature: args.lab_corrupt_signature,
        ..LabFaults::default()
    };
    if usable_suites(&server).is_empty() {
        return Err(Error::other(
            "no enabled --suite has a certificate of its key type (RSA suites need --rsa-cert, ECDSA suites --ecdsa-cert)",
        ));
    }
    Ok((server, source))
}

/// The enabled suites that have a certificate of the key type they need.
pub fn usable_suites(config: &ServerConfig) -> Vec<handshake::CipherSuite> {
    config
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| {
            lookup(*s).is_some_and(|p| config.certified_key(p.kx.certificate_key()).is_some())
        })
        .collect()
}

fn load_keys(args: &ServeArgs) -> Result<(Vec<CertifiedKey>, KeySource)> {
    // clap's `requires` makes each cert come with its key and vice versa.
    let pairs = [
        (&args.rsa_cert, &args.rsa_key, KeyType::Rsa),
        (&args.ecdsa_cert, &args.ecdsa_key, KeyType::Ecdsa),
    ];
    let mut keys = Vec::new();
    for (cert, key, key_type) in pairs {
        match (cert, key) {
            (Some(cert), Some(key)) => keys.push(load_certified_key(cert, key, key_type)?),
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::other(
                    "a certificate flag needs its key flag and vice versa (--rsa-cert with --rsa-key, --ecdsa-cert with --ecdsa-key)",
                ));
            }
        }
    }
    if !keys.is_empty() {
        return Ok((keys, KeySource::Files));
    }
    let (lab, provenance) = pki::ensure(&args.pki_dir, &pki::default_names())?;
    let keys = lab.load_keys()?;
    Ok((
        keys,
        KeySource::LabPki {
            ca_cert: lab.ca_cert(),
            provenance,
        },
    ))
}
