//! One TLS 1.2 session between the engine's client and server, in memory,
//! printing the thirteen steps as the client sees them.
//!
//! ```text
//! cargo run -p handshake --example in_memory [SUITE]
//! ```
//!
//! SUITE is an IANA name such as TLS_RSA_WITH_AES_128_GCM_SHA256 (the
//! default); a throwaway lab PKI is made with rcgen on each run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use handshake::{
    ALL_SUITES, CertifiedKey, ClientConfig, Connection, Event, ServerCertVerifier, ServerConfig,
    StepDetail, SystemRng,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let wanted = std::env::args()
        .nth(1)
        .unwrap_or("TLS_RSA_WITH_AES_128_GCM_SHA256".into());
    let suite = ALL_SUITES
        .iter()
        .find(|s| s.suite.name() == Some(wanted.as_str()))
        .ok_or_else(|| format!("unknown suite {wanted}"))?;

    // A lab CA and two server certificates for "localhost".
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut keys = Vec::new();
    for alg in [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_ECDSA_P256_SHA256] {
        let key = KeyPair::generate_for(alg)?;
        let cert =
            CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &issuer)?;
        keys.push(CertifiedKey::new(
            vec![cert.der().clone()],
            &key.serialize_der(),
        )?);
    }

    let mut client_config = ClientConfig::new(ServerCertVerifier::new(&[CertificateDer::from(
        ca.der().to_vec(),
    )])?);
    client_config.cipher_suites = vec![suite.suite];
    let now = UnixTime::since_unix_epoch(SystemTime::now().duration_since(UNIX_EPOCH)?);
    let mut client = Connection::client(
        Arc::new(client_config),
        ServerName::try_from("localhost")?,
        now,
        Box::new(SystemRng),
    )?;
    let mut server = Connection::server(Arc::new(ServerConfig::new(keys)?), Box::new(SystemRng))?;

    // Move messages until both sides are quiet. A failure is not returned
    // by `handle`: the side that fails queues its fatal alert and reports
    // `Event::Failed` (also kept in `failure()`).
    loop {
        let mut moved = false;
        while let Some(m) = client.poll_transmit() {
            moved = true;
            server.handle(m);
        }
        while let Some(m) = server.poll_transmit() {
            moved = true;
            client.handle(m);
        }
        if !moved {
            break;
        }
    }
    if let Some(e) = client.failure().or(server.failure()) {
        return Err(e.clone().into());
    }
    client.send_application_data(b"hello over TLS 1.2")?;
    while let Some(m) = client.poll_transmit() {
        server.handle(m);
    }

    while let Some(event) = client.poll_event() {
        if let Event::Step(s) = event {
            println!(
                "{:>2}. {:<28} {:?}  {}",
                s.step.number(),
                s.step.name(),
                s.direction,
                summary(&s.detail)
            );
        }
    }
    while let Some(event) = server.poll_event() {
        if let Event::ApplicationData(data) = event {
            println!("server received: {}", String::from_utf8_lossy(&data));
        }
    }
    Ok(())
}

fn summary(detail: &StepDetail) -> String {
    match detail {
        StepDetail::ClientHello(h) => format!("{} suites offered", h.cipher_suites.len()),
        StepDetail::ServerHello { hello, .. } => format!("{:?}", hello.cipher_suites[0]),
        StepDetail::ServerCertificate { chain, .. } => {
            format!("{} ({})", chain[0].subject, chain[0].public_key_description)
        }
        StepDetail::ServerHelloDone { key_exchange, .. } => match key_exchange {
            Some(kx) => format!("ECDHE {:?}, signed {:?}", kx.group, kx.scheme),
            None => "no ServerKeyExchange (RSA key transport)".into(),
        },
        StepDetail::ClientVerification { server_name, .. } => format!("trusted for {server_name}"),
        StepDetail::GenPreMaster { length, .. } => format!("{length} bytes"),
        StepDetail::ClientKeyExchange { message, .. } => format!("{} bytes", message.len()),
        StepDetail::GenSecretKey {
            extended_master_secret,
            prf,
            ..
        } => {
            format!(
                "P_{} (extended master secret: {extended_master_secret})",
                prf.name()
            )
        }
        StepDetail::ChangeCipherSpec => String::new(),
        StepDetail::EncryptedHandshakeMessage { verify_data, .. } => {
            format!("verify_data {}", handshake::hex(verify_data))
        }
        StepDetail::Finish { cipher_suite, .. } => format!("{cipher_suite:?}"),
    }
}
