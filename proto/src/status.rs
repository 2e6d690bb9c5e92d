//! TLS alerts as gRPC statuses: each failure ends a stream with a status
//! whose code says what kind of failure it was, whose message is the one
//! readable line, and whose metadata carries the alert and the step for
//! programs (`tls-alert: decode_error`, `tls-step: 7`).
//!
//! client-svc adds the report so far as rich error details: the
//! `grpc-status-details-bin` trailer holds a `google.rpc.Status` (the same
//! code and message) whose first detail is an `Any` packing the
//! `HandshakeReport` ([`with_report`], read back by [`report_from_status`]).
//!
//! Both travel in HTTP/2 headers, which clients commonly cap at 16 KiB (a
//! larger block makes C-core and Python clients report RESOURCE_EXHAUSTED
//! instead of the real status). So whatever the caller passes, a status
//! message made here is at most [`MAX_MESSAGE`] bytes and details at most
//! [`MAX_DETAILS`]: long texts are cut and marked "… (N bytes more)", and a
//! report that still does not fit loses its bulkiest parts, a second
//! detail ([`pb::ReportTrimmed`], read by [`trimmed_from_status`]) saying
//! what was left out.

use std::borrow::Cow;
use std::mem;

use handshake::quote::{MAX_TEXT, truncate};
use handshake::{AlertDescription, Error, Origin, Step};
use prost::Message as _;
use prost_types::Any;
use tonic::{Code, Status};

use crate::pb;

/// Metadata key carrying the alert's name.
pub const ALERT_KEY: &str = "tls-alert";
/// Metadata key carrying the failing step's number.
pub const STEP_KEY: &str = "tls-step";

/// The status code for a session that failed with `alert`.
///
/// - InvalidArgument: the peer sent something malformed or out of order;
/// - FailedPrecondition: the two sides cannot agree on parameters;
/// - Unauthenticated: a certificate, signature, Finished or record did not
///   verify;
/// - Internal: this side's own fault;
/// - Cancelled: the peer closed the session;
/// - Aborted: any other alert.
pub fn code_for(alert: AlertDescription) -> Code {
    match alert {
        AlertDescription::DECODE_ERROR
        | AlertDescription::ILLEGAL_PARAMETER
        | AlertDescription::UNEXPECTED_MESSAGE
        | AlertDescription::RECORD_OVERFLOW
        | AlertDescription::UNSUPPORTED_EXTENSION => Code::InvalidArgument,
        AlertDescription::HANDSHAKE_FAILURE
        | AlertDescription::INSUFFICIENT_SECURITY
        | AlertDescription::PROTOCOL_VERSION => Code::FailedPrecondition,
        AlertDescription::BAD_CERTIFICATE
        | AlertDescription::UNSUPPORTED_CERTIFICATE
        | AlertDescription::CERTIFICATE_REVOKED
        | AlertDescription::CERTIFICATE_EXPIRED
        | AlertDescription::CERTIFICATE_UNKNOWN
        | AlertDescription::UNKNOWN_CA
        | AlertDescription::ACCESS_DENIED
        | AlertDescription::DECRYPT_ERROR
        | AlertDescription::BAD_RECORD_MAC => Code::Unauthenticated,
        AlertDescription::INTERNAL_ERROR => Code::Internal,
        AlertDescription::CLOSE_NOTIFY | AlertDescription::USER_CANCELED => Code::Cancelled,
        _ => Code::Aborted,
    }
}

/// The status that ends a session which failed with `error` at `step`.
pub fn to_status(error: &Error, step: Step) -> Status {
    let message = match error.origin() {
        Origin::Local => format!(
            "tls alert {} at step {step}: {}",
            error.alert(),
            error.reason()
        ),
        Origin::Peer => format!("peer sent tls alert {} at step {step}", error.alert()),
    };
    let mut status = Status::new(code_for(error.alert()), bounded_message(&message));
    let md = status.metadata_mut();
    if let Ok(v) = error.alert().to_string().parse() {
        md.insert(ALERT_KEY, v);
    }
    if let Ok(v) = step.number().to_string().parse() {
        md.insert(STEP_KEY, v);
    }
    status
}

/// The longest status message made here, in bytes, marker included: one
/// line a person reads (an error reason is at most 768 bytes), and small
/// enough that the message (percent-encoded: up to three times as long)
/// and [`MAX_DETAILS`] (base64: a third longer) fit together in a 16 KiB
/// header block.
pub const MAX_MESSAGE: usize = 1024;

/// Room kept for the "… (N bytes more)" marker: `…` is 3 bytes, N at most
/// 20 digits, the rest 14.
const MARKER_ROOM: usize = 40;

/// `message` whole if it is at most [`MAX_MESSAGE`] bytes, else cut at a
/// character boundary and ending "… (N bytes more)", at most
/// [`MAX_MESSAGE`] bytes in all. For any status message that may quote
/// input (`Status::invalid_argument(bounded_message(&text))`).
pub fn bounded_message(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return Cow::Borrowed(message);
    }
    truncate(message, MAX_MESSAGE - MARKER_ROOM)
}

/// The alert a status names, if it came from [`to_status`].
pub fn alert_of(status: &Status) -> Option<AlertDescription> {
    let name = status.metadata().get(ALERT_KEY)?.to_str().ok()?;
    AlertDescription::KNOWN
        .iter()
        .copied()
        .find(|a| a.name() == Some(name))
}

/// `google.rpc.Status`, the message every gRPC library expects in the
/// `grpc-status-details-bin` trailer; the same three fields as
/// googleapis' `google/rpc/status.proto`
/// (<https://github.com/googleapis/googleapis/blob/master/google/rpc/status.proto>).
///
/// Declared here rather than taken from tonic-types: that crate's helpers
/// pack only the standard error details (BadRequest, RetryInfo, ...), not an
/// arbitrary message such as the report, so all it would add is this struct.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The gRPC status code (`google.rpc.Code`), equal to `grpc-status`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The status message, equal to `grpc-message` (not percent-encoded).
    #[prost(string, tag = "2")]
    pub message: String,
    /// The details; here, the report packed as [`REPORT_TYPE_URL`].
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// The `Any.type_url` of a packed `handshake.v1.HandshakeReport`.
pub const REPORT_TYPE_URL: &str = "type.googleapis.com/handshake.v1.HandshakeReport";

/// The `Any.type_url` of a packed `handshake.v1.ReportTrimmed`.
pub const TRIMMED_TYPE_URL: &str = "type.googleapis.com/handshake.v1.ReportTrimmed";

/// The most bytes of encoded details (the `google.rpc.Status`) made by
/// [`with_report`]: details travel in an HTTP/2 header, and clients
/// commonly refuse header blocks over 16 KiB.
pub const MAX_DETAILS: usize = 8 * 1024;

/// `status` (code and metadata kept, message bounded by
/// [`bounded_message`]) with `report` in its details, as a
/// `google.rpc.Status` holding the report in an `Any`, trimmed to fit in
/// [`MAX_DETAILS`] whatever the report holds.
pub fn with_report(status: &Status, report: &pb::HandshakeReport) -> Status {
    let message = bounded_message(status.message());
    let details = details(status.code(), &message, report);
    Status::with_details_and_metadata(
        status.code(),
        message,
        details.into(),
        status.metadata().clone(),
    )
}

/// One way to make a report smaller, what it leaves out, and whether it
/// changed anything.
type Trim = (&'static str, fn(&mut pb::HandshakeReport) -> bool);

/// The ways to make a report smaller, tried in this order until it fits:
/// least informative first. Each is linear in the report.
const TRIMS: [Trim; 5] = [
    ("texts over 256 bytes cut", cut_texts),
    ("step message bytes", |r| {
        r.steps
            .iter_mut()
            .fold(false, |cut, s| !mem::take(&mut s.message).is_empty() | cut)
    }),
    ("step fields", |r| {
        r.steps
            .iter_mut()
            .fold(false, |cut, s| !mem::take(&mut s.fields).is_empty() | cut)
    }),
    ("certificate chain", |r| {
        !mem::take(&mut r.certificate_chain).is_empty()
    }),
    ("steps but the last", |r| {
        let had = r.steps.len() > 1;
        let last = r.steps.pop();
        r.steps = last.into_iter().collect();
        had
    }),
];

/// The encoded `google.rpc.Status` (`code`, `message`) carrying `report`,
/// trimmed by [`TRIMS`] until it fits in [`MAX_DETAILS`], with a
/// `ReportTrimmed` saying what went. Should even the last trim not be
/// enough (only texts of at most 256 bytes and one step are left, so it
/// cannot happen with a message of [`MAX_MESSAGE`]), the details hold no
/// report rather than too many bytes.
fn details(code: Code, message: &str, report: &pb::HandshakeReport) -> Vec<u8> {
    let encode = |details| {
        RpcStatus {
            code: i32::from(code),
            message: message.to_owned(),
            details,
        }
        .encode_to_vec()
    };
    let any = |type_url: &str, value| Any {
        type_url: type_url.to_owned(),
        value,
    };
    let full = encode(vec![any(REPORT_TYPE_URL, report.encode_to_vec())]);
    if full.len() <= MAX_DETAILS {
        return full;
    }
    let full_len = report.encoded_len();
    let mut r = report.clone();
    let mut trimmed = pb::ReportTrimmed::default();
    for (what, trim) in TRIMS {
        if !trim(&mut r) {
            continue;
        }
        trimmed.omitted.push(what.to_owned());
        trimmed.omitted_bytes = (full_len.saturating_sub(r.encoded_len())) as u64;
        let out = encode(vec![
            any(REPORT_TYPE_URL, r.encode_to_vec()),
            any(TRIMMED_TYPE_URL, trimmed.encode_to_vec()),
        ]);
        if out.len() <= MAX_DETAILS {
            return out;
        }
    }
    encode(Vec::new())
}

/// Cuts every text of the report longer than [`MAX_TEXT`] bytes, marked
/// "… (N bytes more)". True if any was cut.
fn cut_texts(r: &mut pb::HandshakeReport) -> bool {
    let mut cut = false;
    let mut text = |s: &mut String| {
        if s.len() > MAX_TEXT {
            *s = truncate(s, MAX_TEXT).into_owned();
            cut = true;
        }
    };
    let failure = |f: &mut pb::Failure, text: &mut dyn FnMut(&mut String)| {
        text(&mut f.step_name);
        text(&mut f.reason);
    };
    text(&mut r.session_id);
    text(&mut r.certificate_verdict);
    text(&mut r.application_message);
    text(&mut r.reply);
    if let Some(f) = &mut r.failure {
        failure(f, &mut text);
    }
    if let Some(n) = &mut r.negotiated {
        text(&mut n.key_exchange);
    }
    for s in &mut r.steps {
        text(&mut s.name);
        for f in &mut s.fields {
            text(&mut f.name);
            text(&mut f.value);
        }
        if let Some(f) = &mut s.failure {
            failure(f, &mut text);
        }
    }
    for c in &mut r.certificate_chain {
        for s in [
            &mut c.subject,
            &mut c.issuer,
            &mut c.serial,
            &mut c.sha256_fingerprint,
            &mut c.public_key,
        ] {
            text(s);
        }
        for s in c.dns_names.iter_mut().chain(c.ip_addresses.iter_mut()) {
            text(s);
        }
    }
    if let Some(k) = &mut r.secrets {
        for s in [
            &mut k.pre_master_secret,
            &mut k.master_secret,
            &mut k.client_write_key,
            &mut k.server_write_key,
            &mut k.client_write_iv,
            &mut k.server_write_iv,
            &mut k.key_log_line,
        ] {
            text(s);
        }
    }
    cut
}

/// The report in a status's details, if they are a `google.rpc.Status`
/// with an `Any` of type [`REPORT_TYPE_URL`] (what [`with_report`] makes).
pub fn report_from_status(status: &Status) -> Option<pb::HandshakeReport> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let any = rpc.details.iter().find(|a| a.type_url == REPORT_TYPE_URL)?;
    pb::HandshakeReport::decode(any.value.as_slice()).ok()
}

/// What [`with_report`] left out of the report to fit, if it trimmed it.
pub fn trimmed_from_status(status: &Status) -> Option<pb::ReportTrimmed> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let any = rpc
        .details
        .iter()
        .find(|a| a.type_url == TRIMMED_TYPE_URL)?;
    pb::ReportTrimmed::decode(any.value.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_code_alert_step_and_reason() {
        let err = Error::decode("ClientHello: needs 2 bytes, only 1 left");
        let status = to_status(&err, Step::ClientHello);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(alert_of(&status), Some(AlertDescription::DECODE_ERROR));
        assert_eq!(status.metadata().get(STEP_KEY).unwrap(), "1");
        assert!(
            status.message().contains("decode_error"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("needs 2 bytes"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn codes_by_kind_of_failure() {
        assert_eq!(
            code_for(AlertDescription::HANDSHAKE_FAILURE),
            Code::FailedPrecondition
        );
        assert_eq!(
            code_for(AlertDescription::BAD_RECORD_MAC),
            Code::Unauthenticated
        );
        assert_eq!(
            code_for(AlertDescription::UNKNOWN_CA),
            Code::Unauthenticated
        );
        assert_eq!(code_for(AlertDescription::INTERNAL_ERROR), Code::Internal);
        assert_eq!(code_for(AlertDescription(200)), Code::Aborted);
        let peer = to_status(
            &Error::from_peer(AlertDescription::DECRYPT_ERROR),
            Step::Finish,
        );
        assert!(
            peer.message().starts_with("peer sent"),
            "{}",
            peer.message()
        );
    }

    fn report(steps: usize) -> pb::HandshakeReport {
        let step = pb::HandshakeStep {
            number: 3,
            fields: vec![pb::Field {
                name: "x".into(),
                value: "y".repeat(100),
            }],
            message: vec![0; 3000],
            ..Default::default()
        };
        pb::HandshakeReport {
            session_id: "s-1".into(),
            steps: vec![step; steps],
            ..Default::default()
        }
    }

    fn finished_failure() -> Status {
        to_status(
            &Error::from_peer(AlertDescription::DECRYPT_ERROR),
            Step::ClientEncryptedHandshakeMessage,
        )
    }

    #[test]
    fn details_are_a_google_rpc_status_with_the_report_in_an_any() {
        let plain = finished_failure();
        let small = report(1);
        let status = with_report(&plain, &small);
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), plain.message());
        assert_eq!(alert_of(&status), Some(AlertDescription::DECRYPT_ERROR));
        assert_eq!(status.metadata().get(STEP_KEY).unwrap(), "10");

        let rpc = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(rpc.code, Code::Unauthenticated as i32);
        assert_eq!(rpc.message, plain.message());
        assert_eq!(rpc.details.len(), 1);
        assert_eq!(rpc.details[0].type_url, REPORT_TYPE_URL);
        assert_eq!(rpc.details[0].value, small.encode_to_vec(), "small: whole");
        assert_eq!(report_from_status(&status), Some(small));
        assert_eq!(trimmed_from_status(&status), None, "nothing trimmed");
    }

    #[test]
    fn details_fit_in_a_header() {
        let big = report(5);
        assert!(big.encoded_len() > MAX_DETAILS);
        let status = with_report(&finished_failure(), &big);
        assert!(status.details().len() <= MAX_DETAILS);
        let d = report_from_status(&status).unwrap();
        assert_eq!(d.session_id, "s-1");
        assert_eq!(d.steps.len(), 5);
        assert!(
            d.steps
                .iter()
                .all(|s| s.message.is_empty() && !s.fields.is_empty())
        );
        let t = trimmed_from_status(&status).expect("what was trimmed");
        assert_eq!(t.omitted, ["step message bytes"]);
        // The bytes, their tags and lengths, and shorter step lengths.
        assert!((5 * 3000..5 * 3100).contains(&t.omitted_bytes), "{t:?}");

        // Too many fields even without message bytes: the fields go too.
        let huge = report(100);
        let status = with_report(&finished_failure(), &huge);
        assert!(status.details().len() <= MAX_DETAILS);
        let d = report_from_status(&status).unwrap();
        assert_eq!(d.steps.len(), 100);
        assert!(d.steps.iter().all(|s| s.fields.is_empty()));
    }

    /// The encoded details fit and decode; returns the report and what
    /// was trimmed.
    fn bounded(status: &Status) -> (pb::HandshakeReport, Option<pb::ReportTrimmed>) {
        assert!(
            status.details().len() <= MAX_DETAILS,
            "{} bytes of details",
            status.details().len()
        );
        assert!(status.message().len() <= MAX_MESSAGE);
        let rpc = RpcStatus::decode(status.details()).expect("a google.rpc.Status");
        assert_eq!(rpc.code, i32::from(status.code()));
        assert_eq!(rpc.message, status.message(), "the same message twice");
        let report = report_from_status(status).expect("the report is still there");
        (report, trimmed_from_status(status))
    }

    #[test]
    fn long_texts_are_cut_and_marked_and_the_rest_kept() {
        let big = "m".repeat(1 << 20);
        let mut r = report(2);
        r.application_message = big.clone();
        r.reply = format!("echo: {big}");
        r.certificate_verdict = "v".repeat(100_000);
        r.failure = Some(pb::Failure {
            step: 12,
            reason: "r".repeat(100_000),
            ..Default::default()
        });
        let status = with_report(&finished_failure(), &r);
        let (d, trimmed) = bounded(&status);
        assert!(d.application_message.starts_with("mmmm"));
        assert!(
            d.application_message
                .ends_with(&format!("… ({} bytes more)", (1 << 20) - MAX_TEXT)),
            "{}",
            &d.application_message[MAX_TEXT..]
        );
        assert!(d.reply.starts_with("echo: mmm") && d.reply.ends_with("bytes more)"));
        assert!(d.certificate_verdict.ends_with("(99744 bytes more)"));
        assert!(d.failure.unwrap().reason.ends_with("(99744 bytes more)"));
        // Only the texts had to go: the steps' bytes are whole.
        assert_eq!(d.steps, r.steps);
        let trimmed = trimmed.expect("a ReportTrimmed detail");
        assert_eq!(trimmed.omitted, ["texts over 256 bytes cut"]);
        assert!(trimmed.omitted_bytes > 1 << 21, "{trimmed:?}");
    }

    #[test]
    #[ignore = "full tier (./scripts/test.sh): builds a report of about 1 GB"]
    fn any_report_fits_whatever_it_holds() {
        let long = || "x".repeat(100_000);
        let cert = pb::CertificateInfo {
            subject: long(),
            dns_names: vec!["a.example".to_owned(); 10_000],
            ..Default::default()
        };
        let step = pb::HandshakeStep {
            number: 3,
            name: long(),
            fields: vec![
                pb::Field {
                    name: "n".into(),
                    value: long(),
                };
                50
            ],
            message: vec![7; 100_000],
            ..Default::default()
        };
        let r = pb::HandshakeReport {
            session_id: long(),
            steps: vec![step; 200],
            certificate_chain: vec![cert; 20],
            application_message: long(),
            ..Default::default()
        };
        let status = with_report(&finished_failure(), &r);
        let (d, trimmed) = bounded(&status);
        assert_eq!(d.steps.len(), 1, "only the last step is left");
        assert!(d.certificate_chain.is_empty());
        assert!(d.session_id.ends_with("bytes more)"));
        let trimmed = trimmed.expect("a ReportTrimmed detail");
        assert_eq!(
            trimmed.omitted,
            [
                "texts over 256 bytes cut",
                "step message bytes",
                "step fields",
                "certificate chain",
                "steps but the last"
            ]
        );
        assert_eq!(
            trimmed.omitted_bytes as usize,
            r.encoded_len() - d.encoded_len()
        );
    }

    #[test]
    fn messages_are_bounded_whatever_the_caller_passes() {
        // A reason is capped by Error::new; the message is bounded anyway.
        let err = Error::new(AlertDescription::DECODE_ERROR, "é".repeat(1 << 20));
        let status = to_status(&err, Step::ClientHello);
        assert!(
            status.message().len() <= MAX_MESSAGE,
            "{}",
            status.message().len()
        );

        // A status from elsewhere with a 4 MB message.
        let huge = Status::invalid_argument(format!("server_name {}", "n".repeat(4 << 20)));
        let status = with_report(&huge, &report(1));
        let (d, trimmed) = bounded(&status);
        assert_eq!(d, report(1), "a small report is whole");
        assert_eq!(trimmed, None);
        assert!(status.message().starts_with("server_name nnn"));
        assert!(
            status.message().ends_with(" bytes more)"),
            "{}",
            status.message()
        );
        assert_eq!(bounded_message("short"), "short");
        let long = "é".repeat(MAX_MESSAGE);
        let cut = bounded_message(&long);
        assert!(
            cut.len() <= MAX_MESSAGE && cut.ends_with("bytes more)"),
            "{cut}"
        );
    }

    #[test]
    fn no_report_without_a_packed_report() {
        let plain = finished_failure();
        assert_eq!(report_from_status(&plain), None, "no details");

        // The old form, a bare HandshakeReport, is not a google.rpc.Status.
        let bare = Status::with_details(
            plain.code(),
            plain.message(),
            report(1).encode_to_vec().into(),
        );
        assert_eq!(report_from_status(&bare), None, "bare report");

        let other = RpcStatus {
            code: plain.code().into(),
            message: plain.message().into(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                value: report(1).encode_to_vec(),
            }],
        };
        let other =
            Status::with_details(plain.code(), plain.message(), other.encode_to_vec().into());
        assert_eq!(report_from_status(&other), None, "another type");
    }
}
