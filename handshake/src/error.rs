//! Errors: every failure is a fatal TLS alert plus a readable reason.
//!
//! Like rustls, the alert and the error are produced in one expression
//! (`Error::decode("...")`), so no failure can leave without the alert the
//! RFC asks for. [`Origin`] says who is at fault: this side detected it and
//! sends the alert, or the peer sent one.

use std::fmt;

use crate::msgs::enums::AlertDescription;

/// A fatal handshake or record failure.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    alert: AlertDescription,
    reason: String,
    origin: Origin,
}

/// Which side raised the alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// This engine found the problem and sends the alert.
    Local,
    /// The peer sent the alert.
    Peer,
}

impl Error {
    /// A locally detected failure answered with `alert`. The reason is
    /// kept to [`crate::quote::MAX_REASON`] bytes (cut and marked beyond
    /// it): reasons quote peer input, and end up in log lines and gRPC
    /// status messages that must stay small whatever the peer sent.
    pub fn new(alert: AlertDescription, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > crate::quote::MAX_REASON {
            reason = crate::quote::truncate(&reason, crate::quote::MAX_REASON).into_owned();
        }
        Self {
            alert,
            reason,
            origin: Origin::Local,
        }
    }

    /// The peer sent a fatal alert (or a warning this engine treats as fatal).
    pub fn from_peer(alert: AlertDescription) -> Self {
        Self {
            alert,
            reason: format!("peer sent alert {alert}"),
            origin: Origin::Peer,
        }
    }

    /// A message could not be parsed: bad lengths, truncation, trailing bytes.
    pub fn decode(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::DECODE_ERROR, reason)
    }

    /// A message arrived that the state machine does not expect now.
    pub fn unexpected(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::UNEXPECTED_MESSAGE, reason)
    }

    /// No acceptable set of security parameters (RFC 5246 7.2.2).
    pub fn handshake_failure(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::HANDSHAKE_FAILURE, reason)
    }

    /// A field was well-formed but out of range or inconsistent.
    pub fn illegal_parameter(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::ILLEGAL_PARAMETER, reason)
    }

    /// A handshake cryptographic check failed (signature, Finished).
    pub fn decrypt_error(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::DECRYPT_ERROR, reason)
    }

    /// A protected record failed authentication.
    pub fn bad_record_mac(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::BAD_RECORD_MAC, reason)
    }

    /// A failure not caused by the peer (e.g. the crypto library refused).
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(AlertDescription::INTERNAL_ERROR, reason)
    }

    /// The alert description sent or received.
    pub fn alert(&self) -> AlertDescription {
        self.alert
    }

    /// What went wrong, for a person.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Origin::Local => write!(f, "{}: {}", self.alert, self.reason),
            Origin::Peer => write!(f, "{} (from peer)", self.alert),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}
