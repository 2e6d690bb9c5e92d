//! TLS alerts as gRPC statuses: each failure ends a stream with a status
//! whose code says what kind of failure it was, whose message is the one
//! readable line, and whose metadata carries the alert and the step for
//! programs (`tls-alert: decode_error`, `tls-step: 7`).

use handshake::{AlertDescription, Error, Origin, Step};
use tonic::{Code, Status};

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
}
