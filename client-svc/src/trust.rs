//! The trusted CA: a PEM file of one or more CA certificates, read once at
//! start, against which every server chain is verified (step 5).

use std::path::Path;

use handshake::ServerCertVerifier;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Reads `path` (PEM, one or more `CERTIFICATE` blocks) into a verifier.
/// Every failure is one line naming the file.
pub fn load_ca(path: &Path) -> Result<ServerCertVerifier, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read CA file {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA file {shown} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("CA file {shown} holds no CERTIFICATE block"));
    }
    ServerCertVerifier::new(&certs).map_err(|e| format!("CA file {shown}: {}", e.reason()))
}
