//! What the engine takes in and gives out: one [`Message`] is one TLS
//! record's worth of content (RFC 5246 6.2.1) — a plaintext handshake
//! message, ChangeCipherSpec, a plaintext alert, or a protected record.
//!
//! The record layer's framing (5-byte headers, fragmentation and
//! coalescing) is the transport's business; over gRPC each message travels
//! as one protobuf message, over TCP a framer cuts records into these.

use super::codec::{Codec, Reader};
use super::enums::{AlertDescription, AlertLevel, ContentType};
use super::handshake::HandshakeMessage;
use std::fmt::Write as _;

use crate::error::Error;

/// `Alert` (RFC 5246 7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub level: AlertLevel,
    pub description: AlertDescription,
}

impl Alert {
    pub fn fatal(description: AlertDescription) -> Self {
        Self {
            level: AlertLevel::FATAL,
            description,
        }
    }
}

impl Codec for Alert {
    fn encode(&self, out: &mut Vec<u8>) {
        self.level.encode(out);
        self.description.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            level: AlertLevel::read(r)?,
            description: AlertDescription::read(r)?,
        })
    }
}

/// A record protected with the session keys: `GenericAEADCipher`
/// (RFC 5246 6.2.3.3) — explicit nonce (GCM only), ciphertext, tag. After
/// ChangeCipherSpec every message is one of these: first the Finished
/// (`typ` handshake), then application data (and alerts, if any).
#[derive(Clone, PartialEq, Eq)]
pub struct ProtectedRecord {
    /// The record's content type, authenticated as part of the AEAD's
    /// additional data.
    pub typ: ContentType,
    pub fragment: Vec<u8>,
}

impl std::fmt::Debug for ProtectedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ProtectedRecord({:?}, {} bytes)",
            self.typ,
            self.fragment.len()
        )
    }
}

/// The content of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Handshake(HandshakeMessage),
    /// `ChangeCipherSpec` (RFC 5246 7.1): the single byte 1.
    ChangeCipherSpec,
    Alert(Alert),
    Protected(ProtectedRecord),
}

impl Message {
    /// The ContentType of the record that carries this message.
    pub fn content_type(&self) -> ContentType {
        match self {
            Self::Handshake(_) => ContentType::HANDSHAKE,
            Self::ChangeCipherSpec => ContentType::CHANGE_CIPHER_SPEC,
            Self::Alert(_) => ContentType::ALERT,
            Self::Protected(p) => p.typ,
        }
    }

    /// The record fragment: what follows the 5-byte record header.
    pub fn fragment(&self) -> Vec<u8> {
        match self {
            Self::Handshake(h) => h.get_encoding(),
            Self::ChangeCipherSpec => vec![1],
            Self::Alert(a) => a.get_encoding(),
            Self::Protected(p) => p.fragment.clone(),
        }
    }

    /// Reads one message from a record fragment. `protected` says whether
    /// the reader's keys are active (after the peer's ChangeCipherSpec),
    /// in which case handshake, alert and application data records are
    /// ciphertext.
    pub fn read(typ: ContentType, fragment: &[u8], protected: bool) -> Result<Self, Error> {
        match typ {
            // RFC 5246 7.1: the message is the single byte 1. Anything
            // else (another value, two coalesced, an empty record) is not
            // a ChangeCipherSpec the state machine can expect: OpenSSL
            // answers unexpected_message too.
            ContentType::CHANGE_CIPHER_SPEC => match fragment {
                [1] => Ok(Self::ChangeCipherSpec),
                _ => Err(Error::unexpected(format!(
                    "ChangeCipherSpec must be the single byte 1, not [{}] ({} bytes)",
                    crate::quote::list_with(fragment, 8, |b, o| write!(o, "{b}")),
                    fragment.len()
                ))),
            },
            ContentType::HANDSHAKE | ContentType::ALERT | ContentType::APPLICATION_DATA
                if protected =>
            {
                Ok(Self::Protected(ProtectedRecord {
                    typ,
                    fragment: fragment.to_vec(),
                }))
            }
            ContentType::HANDSHAKE => Ok(Self::Handshake(HandshakeMessage::read_bytes(fragment)?)),
            ContentType::ALERT => Ok(Self::Alert(Alert::read_bytes(fragment)?)),
            ContentType::APPLICATION_DATA => Err(Error::unexpected(
                "application data before the handshake protected it",
            )),
            other => Err(Error::unexpected(format!(
                "record of unknown content type {other}"
            ))),
        }
    }
}

impl From<HandshakeMessage> for Message {
    fn from(h: HandshakeMessage) -> Self {
        Self::Handshake(h)
    }
}
