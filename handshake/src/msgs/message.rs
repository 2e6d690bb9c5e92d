//! What the engine takes in and gives out: one [`Message`] is one TLS
//! record's worth of content (RFC 5246 6.2.1) — a plaintext handshake
//! message (decoded, or as framed on a byte stream), ChangeCipherSpec, a
//! plaintext alert, or a protected record.
//!
//! The record layer's framing (5-byte headers, fragmentation and
//! coalescing) is the transport's business; over gRPC each message travels
//! as one protobuf message, over TCP a framer cuts records into these.

use super::codec::{Codec, Reader};
use super::enums::{AlertDescription, AlertLevel, ContentType, HandshakeType};
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

impl Alert {
    /// The two bytes on the wire (encoding an alert cannot fail).
    pub fn to_bytes(self) -> [u8; 2] {
        [self.level.0, self.description.0]
    }
}

impl Codec for Alert {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.to_bytes());
        Ok(())
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

/// A plaintext handshake message as framed on a byte stream,
/// `msg_type || uint24 length || body`, whole but not yet decoded.
///
/// The [`crate::framing::Deframer`] yields these rather than decoding them
/// itself, so that the engine checks the type against its state first: a
/// message of a type not expected now is unexpected_message whatever its
/// body holds (as OpenSSL answers), and only a message the state expects
/// has its body decoded (decode_error if it is malformed).
#[derive(Clone, PartialEq, Eq)]
pub struct RawHandshake {
    bytes: Vec<u8>,
}

impl RawHandshake {
    /// msg_type(1) || length(3) (RFC 5246 7.4).
    pub const HEADER_LEN: usize = 4;

    /// Wraps one framed message; its header's length must be exactly what
    /// follows it, else decode_error.
    pub fn new(bytes: Vec<u8>) -> Result<Self, Error> {
        let Some(h) = bytes.get(..Self::HEADER_LEN) else {
            return Err(Error::decode(format!(
                "handshake message of {} bytes has no 4-byte header",
                bytes.len()
            )));
        };
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        if bytes.len() - Self::HEADER_LEN != len {
            return Err(Error::decode(format!(
                "handshake message declares {len} bytes, {} follow",
                bytes.len() - Self::HEADER_LEN
            )));
        }
        Ok(Self { bytes })
    }

    /// The message type, from the header alone.
    pub fn typ(&self) -> HandshakeType {
        HandshakeType(self.bytes[0])
    }

    /// The whole encoding, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes the body (decode_error, or illegal_parameter for a value out
    /// of range, if it is malformed).
    pub fn decode(&self) -> Result<HandshakeMessage, Error> {
        HandshakeMessage::read_bytes(&self.bytes)
    }
}

impl std::fmt::Debug for RawHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RawHandshake({}, {} bytes)",
            self.typ(),
            self.bytes.len()
        )
    }
}

/// The content of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Handshake(HandshakeMessage),
    /// A handshake message from a byte stream, decoded by the engine once
    /// its type is checked ([`RawHandshake`]).
    RawHandshake(RawHandshake),
    /// `ChangeCipherSpec` (RFC 5246 7.1): the single byte 1.
    ChangeCipherSpec,
    Alert(Alert),
    Protected(ProtectedRecord),
}

impl Message {
    /// The ContentType of the record that carries this message.
    pub fn content_type(&self) -> ContentType {
        match self {
            Self::Handshake(_) | Self::RawHandshake(_) => ContentType::HANDSHAKE,
            Self::ChangeCipherSpec => ContentType::CHANGE_CIPHER_SPEC,
            Self::Alert(_) => ContentType::ALERT,
            Self::Protected(p) => p.typ,
        }
    }

    /// The record fragment: what follows the 5-byte record header. Fails
    /// only for a handshake message built with a vector too long for its
    /// length prefix ([`Codec::encode`]).
    pub fn fragment(&self) -> Result<Vec<u8>, Error> {
        Ok(match self {
            Self::Handshake(h) => h.get_encoding()?,
            Self::RawHandshake(h) => h.bytes.clone(),
            Self::ChangeCipherSpec => vec![1],
            Self::Alert(a) => a.to_bytes().to_vec(),
            Self::Protected(p) => p.fragment.clone(),
        })
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
