//! The CLI's readable table: one row per step (number, name, direction,
//! duration, a short summary), then one outcome line, then the secrets if
//! the report carries them. Built from a [`pb::HandshakeReport`] alone, so
//! it shows a report from the service just as well as one made locally.

use std::fmt::Write as _;

use proto::pb;

/// The report as a table, ending with a newline. `peer` names the server
/// in the outcome line ("server-svc", "the server").
pub fn render(report: &pb::HandshakeReport, peer: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>2}  {:<28}  {:<16}  {:>10}  summary",
        "#", "step", "direction", "time"
    );
    for s in &report.steps {
        let _ = writeln!(
            out,
            "{:>2}  {:<28}  {:<16}  {:>10}  {}",
            s.number,
            s.name,
            direction(s),
            duration(s.duration_micros),
            summary(s)
        );
    }
    let _ = writeln!(out, "{}", outcome(report, peer));
    if let Some(secrets) = &report.secrets {
        let _ = writeln!(out, "secrets (lab):");
        for (name, value) in [
            ("pre_master_secret", &secrets.pre_master_secret),
            ("master_secret", &secrets.master_secret),
            ("client_write_key", &secrets.client_write_key),
            ("server_write_key", &secrets.server_write_key),
            ("client_write_iv", &secrets.client_write_iv),
            ("server_write_iv", &secrets.server_write_iv),
            ("key_log_line", &secrets.key_log_line),
        ] {
            let _ = writeln!(out, "  {name:<18} {value}");
        }
    }
    out
}

/// The last line: what was agreed and said, or where and why it failed.
pub fn outcome(report: &pb::HandshakeReport, peer: &str) -> String {
    let total = duration(report.total_micros);
    if report.success {
        let suite = report
            .negotiated
            .as_ref()
            .map(|n| suite_name(n.cipher_suite))
            .unwrap_or_default();
        format!(
            "OK: {suite}, certificate {}; sent {:?}, reply {}; {total} in all",
            report.certificate_verdict,
            report.application_message,
            glance(&report.reply)
        )
    } else if let Some(f) = &report.failure {
        let by = if f.raised_by_server {
            peer
        } else {
            "client-svc"
        };
        format!(
            "FAILED at step {} ({}): {} raised by {by}: {}; {total} in all",
            f.step,
            f.step_name,
            alert_name(f.alert),
            f.reason
        )
    } else {
        format!("FAILED; {total} in all")
    }
}

/// Characters of a reply the outcome line shows; `--json` has it all.
const REPLY_SHOWN: usize = 200;

/// A reply, quoted, cut to [`REPLY_SHOWN`] characters (a real HTTPS
/// server's page would fill the terminal).
fn glance(reply: &str) -> String {
    match reply.char_indices().nth(REPLY_SHOWN) {
        None => format!("{reply:?}"),
        Some((at, _)) => format!("{:?}... ({} bytes in all)", &reply[..at], reply.len()),
    }
}

fn direction(s: &pb::HandshakeStep) -> &'static str {
    if s.failure.is_some() {
        return "FAILED";
    }
    match pb::Direction::try_from(s.direction) {
        Ok(pb::Direction::Sent) => "client -> server",
        Ok(pb::Direction::Received) => "server -> client",
        Ok(pb::Direction::Local) => "client",
        _ => "",
    }
}

/// Microseconds as "0.123 ms" / "12.3 ms" / "1.23 s".
fn duration(us: u64) -> String {
    // Display only: precision loss above 2^52 µs does not matter.
    #[allow(clippy::cast_precision_loss)]
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn get<'a>(s: &'a pb::HandshakeStep, name: &str) -> &'a str {
    s.fields
        .iter()
        .find(|f| f.name == name)
        .map_or("", |f| f.value.as_str())
}

/// The first bytes of a hex value, for a glance.
fn short(hex: &str) -> String {
    if hex.len() > 16 {
        format!("{}...", &hex[..16])
    } else {
        hex.to_owned()
    }
}

/// One line about one step, from its fields.
fn summary(s: &pb::HandshakeStep) -> String {
    if let Some(f) = &s.failure {
        let by = if f.raised_by_server {
            "server"
        } else {
            "client"
        };
        return format!("alert {} from the {by}: {}", alert_name(f.alert), f.reason);
    }
    match s.number {
        1 => {
            let suites = get(s, "cipher_suites").split(", ").count();
            let exts = s
                .fields
                .iter()
                .filter(|f| f.name.starts_with("extension_"))
                .count();
            format!(
                "random {}, {suites} suites, {exts} extensions",
                short(get(s, "client_random"))
            )
        }
        2 => format!(
            "{}, random {}, extended master secret: {}",
            get(s, "cipher_suite"),
            short(get(s, "server_random")),
            get(s, "extended_master_secret")
        ),
        3 => format!(
            "{} ({}), chain of {}",
            get(s, "certificate_0_subject"),
            get(s, "certificate_0_public_key"),
            get(s, "chain_length")
        ),
        4 => match get(s, "named_curve") {
            "" => "no ServerKeyExchange (RSA key transport)".to_owned(),
            curve => format!(
                "ServerKeyExchange: {curve} key, signed {}",
                get(s, "signature_algorithm")
            ),
        },
        5 => {
            let sig = get(s, "server_key_exchange_signature");
            if sig.is_empty() {
                get(s, "verdict").to_owned()
            } else {
                format!("{}; signature {sig}", get(s, "verdict"))
            }
        }
        6 => format!(
            "{}-byte pre-master ({})",
            get(s, "pre_master_length"),
            get(s, "key_exchange")
        ),
        7 => match get(s, "encrypted_pre_master_length") {
            "" => format!("client ECDHE public key {}", short(get(s, "client_public"))),
            n => format!("pre-master RSA-encrypted to the server's key ({n} bytes)"),
        },
        8 => format!(
            "master secret + {}-byte key block, {} (EMS: {})",
            get(s, "key_block_length"),
            get(s, "prf"),
            get(s, "extended_master_secret")
        ),
        9 | 11 => "switch to encrypted records".to_owned(),
        10 | 12 => format!(
            "Finished, verify_data {} ({}-byte record)",
            get(s, "verify_data"),
            get(s, "record_length")
        ),
        13 => format!("handshake complete: {}", get(s, "cipher_suite")),
        _ => String::new(),
    }
}

/// The IANA name of a suite (the enum's, less its prefix).
fn suite_name(v: i32) -> String {
    match pb::CipherSuite::try_from(v) {
        Ok(s) => s
            .as_str_name()
            .trim_start_matches("CIPHER_SUITE_")
            .to_owned(),
        Err(_) => format!("CipherSuite({v:#06x})"),
    }
}

/// The RFC 5246 name of an alert, e.g. "decrypt_error".
fn alert_name(v: i32) -> String {
    match u8::try_from(v) {
        Ok(b) => handshake::AlertDescription(b).to_string(),
        Err(_) => format!("alert {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(123), "0.123 ms");
        assert_eq!(duration(12_345), "12.3 ms");
        assert_eq!(duration(1_234_567), "1.23 s");
    }

    #[test]
    fn long_replies_are_cut_in_the_outcome_line() {
        assert_eq!(glance("echo: hi"), "\"echo: hi\"");
        let long = "é".repeat(300);
        let shown = glance(&long);
        assert!(shown.starts_with(&format!("\"{}\"...", "é".repeat(REPLY_SHOWN))));
        assert!(shown.ends_with("(600 bytes in all)"), "{shown}");
    }

    #[test]
    fn failure_line_names_step_alert_and_side() {
        let report = pb::HandshakeReport {
            failure: Some(pb::Failure {
                step: 10,
                step_name: "Encrypted Handshake Message".into(),
                alert: 51,
                raised_by_server: true,
                reason: "peer sent alert decrypt_error".into(),
            }),
            total_micros: 2000,
            ..Default::default()
        };
        let line = outcome(&report, "server-svc");
        assert!(
            line.starts_with(
                "FAILED at step 10 (Encrypted Handshake Message): decrypt_error raised by server-svc"
            ),
            "{line}"
        );
    }
}
