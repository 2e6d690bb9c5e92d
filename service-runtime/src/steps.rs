//! The thirteen step lines of both services, with what a student needs to
//! follow a handshake: randoms, suites, the chosen suite, group, key
//! exchange, verify_data. At debug level, target `handshake::step`, inside
//! the session's span: the info level keeps one summary line per session
//! (`watch.rs`), and `RUST_LOG=info,handshake::step=debug` (the lab
//! overlay) turns these on alone. Step events carry no secrets (see
//! `handshake::events`), and nothing here asks the engine for them.

use std::fmt::Write as _;

use handshake::events::{ExtensionInfo, names};
use handshake::hex;
use handshake::quote;
use handshake::{Direction, StepDetail, StepEvent};
use tracing::debug;

/// Logs one step at debug level, target `handshake::step`
/// (`RUST_LOG=info,handshake::step=debug` turns on just these).
pub fn log_step(ev: &StepEvent) {
    let step = ev.step.number();
    let step_name = ev.step.name();
    let direction = match ev.direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
        Direction::Local => "local",
    };
    // Every step's line starts with the same three fields.
    macro_rules! step_info {
        ($($rest:tt)+) => {
            debug!(target: "handshake::step", step, step_name, direction, $($rest)+)
        };
    }
    match &ev.detail {
        StepDetail::ClientHello(h) => step_info!(
            version = %h.version,
            client_random = %hex(&h.random),
            session_id = %hex(&h.session_id),
            offered_suites = %names(&h.cipher_suites),
            extensions = %extensions(&h.extensions),
            "step {}", ev.step
        ),
        StepDetail::ServerHello {
            hello,
            extended_master_secret,
        } => step_info!(
            server_random = %hex(&hello.random),
            chosen_suite = %names(&hello.cipher_suites),
            extended_master_secret,
            extensions = %extensions(&hello.extensions),
            "step {}", ev.step
        ),
        StepDetail::ServerCertificate { chain, .. } => {
            let leaf = chain.first();
            step_info!(
                chain_len = chain.len(),
                subject = leaf.map_or("", |c| c.subject.as_str()),
                issuer = leaf.map_or("", |c| c.issuer.as_str()),
                public_key = leaf.map_or("", |c| c.public_key_description.as_str()),
                sha256_fingerprint = leaf.map_or("", |c| c.sha256_fingerprint.as_str()),
                "step {}",
                ev.step
            );
        }
        StepDetail::ServerHelloDone { key_exchange, .. } => match key_exchange {
            Some(kx) => step_info!(
                key_exchange = "ECDHE",
                group = %kx.group,
                server_public = %hex(&kx.public),
                signature_scheme = %kx.scheme,
                "step {} (after ServerKeyExchange)", ev.step
            ),
            None => step_info!(
                key_exchange = "RSA",
                "step {} (no ServerKeyExchange: RSA key transport)",
                ev.step
            ),
        },
        StepDetail::ClientVerification {
            server_name,
            subject,
            signature_scheme,
        } => step_info!(
            server_name = %server_name,
            subject = %subject,
            signature_scheme = ?signature_scheme,
            "step {}", ev.step
        ),
        StepDetail::GenPreMaster {
            key_exchange,
            length,
            group,
            ..
        } => step_info!(
            key_exchange = key_exchange.name(),
            pre_master_len = length,
            group = ?group,
            "step {}", ev.step
        ),
        StepDetail::ClientKeyExchange {
            key_exchange,
            encrypted_pre_master_len,
            client_public,
            ..
        } => match client_public {
            Some(public) => step_info!(
                key_exchange = key_exchange.name(),
                client_public = %hex(public),
                "step {}", ev.step
            ),
            None => step_info!(
                key_exchange = key_exchange.name(),
                encrypted_pre_master_len = ?encrypted_pre_master_len,
                "step {}", ev.step
            ),
        },
        StepDetail::GenSecretKey {
            extended_master_secret,
            prf,
            key_block_len,
            enc_key_len,
            fixed_iv_len,
        } => step_info!(
            extended_master_secret,
            prf = prf.name(),
            key_block_len,
            enc_key_len,
            fixed_iv_len,
            "step {}",
            ev.step
        ),
        StepDetail::ChangeCipherSpec => step_info!("step {}", ev.step),
        StepDetail::EncryptedHandshakeMessage {
            verify_data,
            record,
        } => step_info!(
            verify_data = %hex(verify_data),
            record_len = record.len(),
            "step {}", ev.step
        ),
        StepDetail::Finish {
            cipher_suite,
            extended_master_secret,
        } => step_info!(
            cipher_suite = %cipher_suite,
            extended_master_secret,
            "step {}: handshake complete", ev.step
        ),
    }
}

/// The extensions as `type (summary); ...`: the first
/// [`quote::MAX_ITEMS`] and "… and N more" (a hello may carry 16,000).
fn extensions(e: &[ExtensionInfo]) -> String {
    quote::list_with(e, quote::MAX_ITEMS, |x, out| {
        if x.summary.is_empty() {
            write!(out, "{}", x.typ)
        } else {
            write!(out, "{} ({})", x.typ, x.summary)
        }
    })
}
