//! TLS alerts as gRPC statuses: each failure ends a stream with a status
//! whose code says what kind of failure it was, whose message is the one
//! readable line, and whose metadata carries the alert and the step for
//! programs (`tls-alert: decode_error`, `tls-step: 7`).
//!
//! client-svc adds the report so far as rich error details: the
//! `grpc-status-details-bin` trailer holds a `google.rpc.Status` (the same
//! code and message) whose one detail is an `Any` packing the
//! `HandshakeReport` ([`with_report`], read back by [`report_from_status`]).

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
    let who = match error.origin() {
        Origin::Local => "",
        Origin::Peer => "peer sent ",
    };
    let message = match error.origin() {
        Origin::Local => format!(
            "tls alert {} at step {step}: {}",
            error.alert(),
            error.reason()
        ),
        Origin::Peer => format!("{who}tls alert {} at step {step}", error.alert()),
    };
    let mut status = Status::new(code_for(error.alert()), message);
    let md = status.metadata_mut();
    if let Ok(v) = error.alert().to_string().parse() {
        md.insert(ALERT_KEY, v);
    }
    if let Ok(v) = step.number().to_string().parse() {
        md.insert(STEP_KEY, v);
    }
    status
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

/// Encoded details larger than this carry the report without message bytes
/// (and then without fields): details travel in an HTTP/2 header, and
/// clients commonly refuse header blocks over 16 KiB.
pub const MAX_DETAILS: usize = 8 * 1024;

/// `status` (code, message and metadata kept) with `report` in its details,
/// as a `google.rpc.Status` holding the report in an `Any`, trimmed to fit
/// in [`MAX_DETAILS`].
pub fn with_report(status: &Status, report: &pb::HandshakeReport) -> Status {
    Status::with_details_and_metadata(
        status.code(),
        status.message(),
        details(status, report).into(),
        status.metadata().clone(),
    )
}

/// The encoded `google.rpc.Status` for `status` carrying `report`, dropping
/// the report's bulkiest parts until it fits (see [`MAX_DETAILS`]).
fn details(status: &Status, report: &pb::HandshakeReport) -> Vec<u8> {
    let encode = |report: &pb::HandshakeReport| {
        RpcStatus {
            code: i32::from(status.code()),
            message: status.message().to_string(),
            details: vec![Any {
                type_url: REPORT_TYPE_URL.to_string(),
                value: report.encode_to_vec(),
            }],
        }
        .encode_to_vec()
    };
    let full = encode(report);
    if full.len() <= MAX_DETAILS {
        return full;
    }
    let mut r = report.clone();
    for s in &mut r.steps {
        s.message.clear();
    }
    let trimmed = encode(&r);
    if trimmed.len() <= MAX_DETAILS {
        return trimmed;
    }
    for s in &mut r.steps {
        s.fields.clear();
    }
    encode(&r)
}

/// The report in a status's details, if they are a `google.rpc.Status`
/// with an `Any` of type [`REPORT_TYPE_URL`] (what [`with_report`] makes).
pub fn report_from_status(status: &Status) -> Option<pb::HandshakeReport> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let any = rpc.details.iter().find(|a| a.type_url == REPORT_TYPE_URL)?;
    pb::HandshakeReport::decode(any.value.as_slice()).ok()
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

        // Too many fields even without message bytes: the fields go too.
        let huge = report(100);
        let status = with_report(&finished_failure(), &huge);
        assert!(status.details().len() <= MAX_DETAILS);
        let d = report_from_status(&status).unwrap();
        assert_eq!(d.steps.len(), 100);
        assert!(d.steps.iter().all(|s| s.fields.is_empty()));
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
