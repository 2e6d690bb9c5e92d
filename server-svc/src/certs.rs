//! Loading a certificate chain and its private key from PEM files, with
//! one clear line naming the file when something is wrong: unreadable, not
//! PEM, not PKCS#8, the wrong kind of key, or a key that is not the
//! certificate's.

use std::fs;
use std::path::Path;

use handshake::CertifiedKey;
use handshake::KeyType;
use handshake::ServerKey;
use handshake::msgs::enums::AlertDescription;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The chain in `cert` (PEM, server certificate first, then any
/// intermediates) with the PKCS#8 PEM key in `key`, which must be a
/// `want` key (RSA or ECDSA) and the certificate's own.
pub fn load_certified_key(cert: &Path, key: &Path, want: KeyType) -> Result<CertifiedKey> {
    let chain = load_chain(cert)?;
    let der = load_pkcs8(key)?;
    let parsed = ServerKey::from_pkcs8(&der).map_err(|e| Error::file(key, e.reason()))?;
    if parsed.key_type() != want {
        return Err(Error::file(
            key,
            format!(
                "holds {} key where {} key is needed",
                key_type_name(parsed.key_type()),
                key_type_name(want)
            ),
        ));
    }
    CertifiedKey::new(chain, &der).map_err(|e| {
        if e.alert() == AlertDescription::BAD_CERTIFICATE {
            // The certificate itself did not parse as X.509.
            Error::file(cert, e.reason())
        } else {
            Error::file(
                key,
                format!(
                    "is not the private key of the certificate in {}",
                    cert.display()
                ),
            )
        }
    })
}

fn key_type_name(t: KeyType) -> &'static str {
    match t {
        KeyType::Rsa => "an RSA",
        KeyType::Ecdsa => "an ECDSA",
    }
}

/// Every CERTIFICATE block of a PEM file, in order.
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| Error::file(path, format!("not a valid PEM file: {e}")))?;
    if chain.is_empty() {
        return Err(Error::file(
            path,
            "no PEM CERTIFICATE block found (expected a PEM certificate file)",
        ));
    }
    Ok(chain)
}

/// The PKCS#8 DER of the first private key in a PEM file.
fn load_pkcs8(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| Error::io("read", path, e))?);
    let convert = |what: &str| {
        Error::file(
            path,
            format!(
                "holds a {what} key; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in {}`",
                path.display()
            ),
        )
    };
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(PrivateKeyDer::Pkcs8(k)) => Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        Ok(PrivateKeyDer::Pkcs1(_)) => Err(convert("PKCS#1 RSA")),
        Ok(PrivateKeyDer::Sec1(_)) => Err(convert("SEC1 EC")),
        Ok(_) => Err(Error::file(
            path,
            "holds a private key of an unknown format",
        )),
        Err(pem::Error::NoItemsFound) => Err(Error::file(
            path,
            "no PEM PRIVATE KEY block found (expected an unencrypted PKCS#8 PEM key)",
        )),
        Err(e) => Err(Error::file(path, format!("not a valid PEM file: {e}"))),
    }
}
