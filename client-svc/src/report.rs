//! Engine events -> the thirteen-step report of `handshake.v1`.
//!
//! [`ReportBuilder::observe`] turns each event into the
//! [`pb::HandshakeStep`] it reports (the WatchHandshake stream sends them
//! as they come) and keeps what the whole report needs: the negotiated
//! parameters, the certificate chain and its verdict, the failure.
//! [`ReportBuilder::finish`] adds the outcome.
//!
//! Field values are text for people: hex for bytes, IANA names for code
//! points, RFC 3339 UTC for times. Secrets never pass through here: the
//! engine's events carry none, and the report's `secrets` come only from
//! an [`Outcome`] whose session was told to capture them.

use std::time::Duration;

use handshake::events::{ExtensionInfo, HelloInfo, names};
use handshake::hex;
use handshake::{CertificateInfo, rfc3339};
use handshake::{Direction, Event, Step, StepDetail, StepEvent};
use handshake::{KeyExchange, lookup};
use proto::pb;

use crate::session::{Failure, Outcome, Progress, micros};

/// Collects one session's steps into its report.
#[derive(Debug, Default)]
pub struct ReportBuilder {
    steps: Vec<pb::HandshakeStep>,
    /// When the previous step ended, for each step's duration.
    last: Duration,
    negotiated: Option<pb::Negotiated>,
    chain: Vec<pb::CertificateInfo>,
    verdict: String,
    failure: Option<pb::Failure>,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what the session reported `elapsed` after it started, and
    /// returns the step it tells: one per step done, and one more, with
    /// `failure` set, for the step where the session failed. Other events
    /// (application data, warnings) return `None`.
    pub fn observe(
        &mut self,
        progress: Progress<'_>,
        elapsed: Duration,
    ) -> Option<pb::HandshakeStep> {
        let mut step = match progress {
            Progress::Engine(Event::Step(s)) => {
                self.note(s);
                step_entry(s)
            }
            Progress::Failed(f) => {
                let failure = failure(f);
                if matches!(f.step, Step::ServerCertificate | Step::ClientVerification)
                    && !f.raised_by_server()
                {
                    self.verdict = format!("not trusted: {}: {}", f.error.alert(), f.reason());
                }
                self.failure = Some(failure.clone());
                failed_entry(f, failure)
            }
            Progress::Engine(_) => return None,
        };
        step.elapsed_micros = micros(elapsed);
        step.duration_micros = micros(elapsed.saturating_sub(self.last));
        self.last = elapsed;
        self.steps.push(step.clone());
        Some(step)
    }

    /// Keeps what the whole report needs from a step.
    fn note(&mut self, s: &StepEvent) {
        match &s.detail {
            StepDetail::ServerHello {
                hello,
                extended_master_secret,
            } => {
                let suite = hello.cipher_suites.first().copied();
                self.negotiated = Some(pb::Negotiated {
                    cipher_suite: suite.map_or(0, |s| i32::from(s.0)),
                    key_exchange: suite
                        .and_then(lookup)
                        .map(|p| p.kx.name().to_owned())
                        .unwrap_or_default(),
                    extended_master_secret: *extended_master_secret,
                    ..Default::default()
                });
            }
            StepDetail::ServerCertificate { chain, .. } => {
                self.chain = chain.iter().map(certificate).collect();
            }
            StepDetail::ServerHelloDone {
                key_exchange: Some(ske),
                ..
            } => {
                if let Some(n) = self.negotiated.as_mut() {
                    n.group = i32::from(ske.group.0);
                    n.signature_scheme = i32::from(ske.scheme.0);
                }
            }
            StepDetail::ClientVerification { server_name, .. } => {
                self.verdict = format!("trusted for {server_name}");
            }
            StepDetail::Finish {
                extended_master_secret,
                ..
            } => {
                if let Some(n) = self.negotiated.as_mut() {
                    n.extended_master_secret = *extended_master_secret;
                }
            }
            _ => {}
        }
    }

    /// The report of a finished session. `application_message` is the
    /// message as sent.
    pub fn finish(self, application_message: &[u8], outcome: &Outcome) -> pb::HandshakeReport {
        let (reply, success) = match &outcome.result {
            Ok(reply) => (String::from_utf8_lossy(reply).into_owned(), true),
            Err(_) => (String::new(), false),
        };
        let failure = match &outcome.result {
            Err(e) => e
                .failure()
                .map(|f| self.failure.unwrap_or_else(|| failure(f))),
            Ok(_) => None,
        };
        pb::HandshakeReport {
            session_id: outcome.session_id.clone(),
            steps: self.steps,
            negotiated: self.negotiated,
            certificate_chain: self.chain,
            certificate_verdict: self.verdict,
            application_message: String::from_utf8_lossy(application_message).into_owned(),
            reply,
            total_micros: micros(outcome.total),
            success,
            failure,
            secrets: outcome.secrets.clone(),
        }
    }
}

/// Why the session failed, as the report says it.
pub fn failure(f: &Failure) -> pb::Failure {
    pb::Failure {
        step: u32::from(f.step.number()),
        step_name: f.step.name().to_owned(),
        alert: i32::from(f.error.alert().0),
        raised_by_server: f.raised_by_server(),
        reason: f.reason().to_owned(),
    }
}

fn direction(d: Direction) -> pb::Direction {
    match d {
        Direction::Sent => pb::Direction::Sent,
        Direction::Received => pb::Direction::Received,
        Direction::Local => pb::Direction::Local,
    }
}

/// The step's entry without its timing.
fn step_entry(s: &StepEvent) -> pb::HandshakeStep {
    let (fields, message) = fields(&s.detail);
    pb::HandshakeStep {
        number: u32::from(s.step.number()),
        name: s.step.name().to_owned(),
        direction: direction(s.direction) as i32,
        fields,
        message,
        ..Default::default()
    }
}

/// The entry of the step where the session failed.
fn failed_entry(f: &Failure, failure: pb::Failure) -> pb::HandshakeStep {
    let (raised_by, dir) = if f.raised_by_server() {
        ("server", pb::Direction::Received)
    } else {
        ("client", pb::Direction::Local)
    };
    pb::HandshakeStep {
        number: u32::from(f.step.number()),
        name: f.step.name().to_owned(),
        direction: dir as i32,
        fields: vec![
            field("alert", f.error.alert()),
            field("raised_by", raised_by),
            field("reason", f.reason()),
        ],
        failure: Some(failure),
        ..Default::default()
    }
}

fn field(name: &str, value: impl std::fmt::Display) -> pb::Field {
    pb::Field {
        name: name.to_owned(),
        value: value.to_string(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A step's fields and its message bytes.
fn fields(detail: &StepDetail) -> (Vec<pb::Field>, Vec<u8>) {
    let mut f = Vec::new();
    let message = match detail {
        StepDetail::ClientHello(hello) => {
            hello_fields(&mut f, hello, "client");
            f.push(field("cipher_suites", names(&hello.cipher_suites)));
            extension_fields(&mut f, &hello.extensions);
            hello.message.clone()
        }
        StepDetail::ServerHello {
            hello,
            extended_master_secret,
        } => {
            hello_fields(&mut f, hello, "server");
            f.push(field("cipher_suite", names(&hello.cipher_suites)));
            extension_fields(&mut f, &hello.extensions);
            f.push(field(
                "extended_master_secret",
                yes_no(*extended_master_secret),
            ));
            hello.message.clone()
        }
        StepDetail::ServerCertificate { chain, message } => {
            f.push(field("chain_length", chain.len()));
            for (i, c) in chain.iter().enumerate() {
                certificate_fields(&mut f, i, c);
            }
            message.clone()
        }
        StepDetail::ServerHelloDone {
            key_exchange,
            message,
        } => match key_exchange {
            Some(ske) => {
                f.push(field("server_key_exchange", "ECDHE parameters, signed"));
                f.push(field("named_curve", format!("{:?}", ske.group)));
                f.push(field("server_public", hex(&ske.public)));
                f.push(field("signature_algorithm", format!("{:?}", ske.scheme)));
                f.push(field("signature", hex(&ske.signature)));
                f.push(field("server_key_exchange_length", ske.message.len()));
                f.push(field("server_hello_done_length", message.len()));
                // Both messages, in transcript order.
                [ske.message.as_slice(), message.as_slice()].concat()
            }
            None => {
                f.push(field("server_key_exchange", "none (RSA key transport)"));
                f.push(field("server_hello_done_length", message.len()));
                message.clone()
            }
        },
        StepDetail::ClientVerification {
            server_name,
            subject,
            signature_scheme,
        } => {
            f.push(field("server_name", server_name));
            f.push(field("subject", subject));
            f.push(field("verdict", format!("trusted for {server_name}")));
            f.push(field(
                "checks",
                "chain to the configured CA, name, validity, key usage",
            ));
            if let Some(s) = signature_scheme {
                f.push(field(
                    "server_key_exchange_signature",
                    format!("verified ({s:?})"),
                ));
            }
            Vec::new()
        }
        StepDetail::GenPreMaster {
            key_exchange,
            length,
            group,
            client_public,
        } => {
            f.push(field("key_exchange", key_exchange.name()));
            let how = match key_exchange {
                KeyExchange::Rsa => "client_version (2 bytes) + 46 random bytes",
                _ => "ECDH shared secret: the x-coordinate of client_private * server_public",
            };
            f.push(field("pre_master_secret", how));
            f.push(field("pre_master_length", length));
            if let Some(g) = group {
                f.push(field("named_curve", format!("{g:?}")));
            }
            if let Some(p) = client_public {
                f.push(field("client_public", hex(p)));
            }
            Vec::new()
        }
        StepDetail::ClientKeyExchange {
            key_exchange,
            encrypted_pre_master_len,
            client_public,
            message,
        } => {
            f.push(field("key_exchange", key_exchange.name()));
            if let Some(n) = encrypted_pre_master_len {
                f.push(field("encrypted_pre_master_length", n));
                f.push(field(
                    "encryption",
                    "RSAES-PKCS1-v1_5 to the certificate's public key",
                ));
            }
            if let Some(p) = client_public {
                f.push(field("client_public", hex(p)));
            }
            f.push(field("message_length", message.len()));
            message.clone()
        }
        StepDetail::GenSecretKey {
            extended_master_secret,
            prf,
            key_block_len,
            enc_key_len,
            fixed_iv_len,
        } => {
            f.push(field("prf", format!("P_{}", prf.name())));
            let master = if *extended_master_secret {
                "PRF(pre_master, \"extended master secret\", session_hash) (RFC 7627)"
            } else {
                "PRF(pre_master, \"master secret\", client_random + server_random)"
            };
            f.push(field(
                "extended_master_secret",
                yes_no(*extended_master_secret),
            ));
            f.push(field("master_secret", master));
            f.push(field("master_secret_length", 48));
            f.push(field("key_block_length", key_block_len));
            f.push(field("enc_key_length", enc_key_len));
            f.push(field("fixed_iv_length", fixed_iv_len));
            Vec::new()
        }
        StepDetail::ChangeCipherSpec => {
            f.push(field(
                "effect",
                "records from this side are encrypted from now on",
            ));
            Vec::new()
        }
        StepDetail::EncryptedHandshakeMessage {
            verify_data,
            record,
        } => {
            f.push(field("content", "Finished"));
            f.push(field("verify_data", hex(verify_data)));
            f.push(field("record_length", record.len()));
            record.clone()
        }
        StepDetail::Finish {
            cipher_suite,
            extended_master_secret,
        } => {
            f.push(field("cipher_suite", format!("{cipher_suite:?}")));
            f.push(field(
                "extended_master_secret",
                yes_no(*extended_master_secret),
            ));
            f.push(field("state", "handshake complete: application data flows"));
            Vec::new()
        }
    };
    (f, message)
}

fn hello_fields(f: &mut Vec<pb::Field>, hello: &HelloInfo, who: &str) {
    f.push(field("version", format!("{:?}", hello.version)));
    f.push(field(&format!("{who}_random"), hex(&hello.random)));
    let session_id = if hello.session_id.is_empty() {
        "(empty)".to_owned()
    } else {
        hex(&hello.session_id)
    };
    f.push(field("session_id", session_id));
}

/// One field per extension: `extension_<name>` = its content.
fn extension_fields(f: &mut Vec<pb::Field>, extensions: &[ExtensionInfo]) {
    for e in extensions {
        let name = match e.typ.name() {
            Some(n) => format!("extension_{n}"),
            None => format!("extension_{}", e.typ.0),
        };
        let value = if e.summary.is_empty() {
            "(empty)".to_owned()
        } else {
            e.summary.clone()
        };
        f.push(field(&name, value));
    }
}

fn certificate_fields(f: &mut Vec<pb::Field>, i: usize, c: &CertificateInfo) {
    let p = |name: &str| format!("certificate_{i}_{name}");
    f.push(field(&p("subject"), &c.subject));
    f.push(field(&p("issuer"), &c.issuer));
    f.push(field(&p("serial"), &c.serial_hex));
    if !c.dns_names.is_empty() {
        f.push(field(&p("dns_names"), c.dns_names.join(", ")));
    }
    if !c.ip_addresses.is_empty() {
        f.push(field(&p("ip_addresses"), c.ip_addresses.join(", ")));
    }
    f.push(field(&p("not_before"), rfc3339(c.not_before)));
    f.push(field(&p("not_after"), rfc3339(c.not_after)));
    f.push(field(&p("sha256_fingerprint"), &c.sha256_fingerprint));
    f.push(field(&p("public_key"), &c.public_key_description));
    if let Some(ku) = &c.key_usage {
        f.push(field(&p("key_usage"), &ku.text));
    }
    f.push(field(&p("is_ca"), yes_no(c.is_ca)));
}

fn certificate(c: &CertificateInfo) -> pb::CertificateInfo {
    pb::CertificateInfo {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial_hex.clone(),
        dns_names: c.dns_names.clone(),
        ip_addresses: c.ip_addresses.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        sha256_fingerprint: c.sha256_fingerprint.clone(),
        public_key: c.public_key_description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handshake::Error;

    #[test]
    fn failure_names_step_alert_origin_and_the_servers_reason() {
        let f = failure(&Failure {
            step: Step::ClientEncryptedHandshakeMessage,
            error: Error::from_peer(handshake::AlertDescription::DECRYPT_ERROR),
            server_reason: Some("the client's Finished verify_data is wrong".into()),
            peer: "server-svc",
        });
        assert_eq!(f.step, 10);
        assert_eq!(f.step_name, "Encrypted Handshake Message");
        assert_eq!(f.alert, pb::AlertDescription::DecryptError as i32);
        assert!(f.raised_by_server);
        assert_eq!(f.reason, "the client's Finished verify_data is wrong");
    }

    #[test]
    fn failed_step_gets_an_entry_with_timing() {
        let mut b = ReportBuilder::new();
        let f = Failure {
            step: Step::ClientVerification,
            error: Error::new(handshake::AlertDescription::BAD_CERTIFICATE, "wrong name"),
            server_reason: None,
            peer: "server-svc",
        };
        let entry = b
            .observe(Progress::Failed(&f), Duration::from_micros(1500))
            .expect("an entry");
        assert_eq!(entry.number, 5);
        assert_eq!(entry.elapsed_micros, 1500);
        assert!(entry.failure.is_some());
        assert!(b.verdict.starts_with("not trusted: bad_certificate"));
        assert!(
            b.observe(
                Progress::Engine(&Event::ApplicationData(b"x".to_vec())),
                Duration::ZERO
            )
            .is_none()
        );
    }
}
