//! TLS record framing (RFC 5246 6.2), sans-IO: a byte stream in, engine
//! [`Message`]s out ([`Deframer`]), and engine messages back to bytes
//! ([`encode_records`]); docs/DESIGN.md ("Real TLS 1.2 over TCP") says how
//! the transports use it. On a byte stream records carry a 5-byte header
//!
//! ```text
//! struct {
//!     ContentType type;            // 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data
//!     ProtocolVersion version;     // {3, x}
//!     uint16 length;               // of the fragment
//!     opaque fragment[length];
//! } TLSPlaintext / TLSCiphertext;
//! ```
//!
//! and a peer may coalesce handshake messages into one record or fragment
//! one over several (RFC 5246 6.2.1). The [`Deframer`] undoes both for
//! plaintext handshake records, yielding each message undecoded
//! ([`Message::RawHandshake`]). Protected records pass whole
//! ([`Message::Protected`]): only the engine holds the keys, so it
//! reassembles the messages inside them.

use crate::error::Error;
use crate::msgs::codec::put_u16;
use crate::msgs::enums::{AlertDescription, ContentType, HandshakeType, ProtocolVersion};
use crate::msgs::handshake::max_handshake_len;
use crate::msgs::message::{Message, RawHandshake};
use crate::record::{MAX_CIPHERTEXT, MAX_PLAINTEXT};

/// type(1) || version(2) || length(2).
pub const RECORD_HEADER_LEN: usize = 5;

/// msg_type(1) || length(3) (RFC 5246 7.4).
const HANDSHAKE_HEADER_LEN: usize = RawHandshake::HEADER_LEN;

/// A record header, checked.
#[derive(Clone, Copy, Debug)]
struct Header {
    typ: ContentType,
    len: usize,
    /// The fragment is ciphertext (the read keys are on).
    protected: bool,
}

/// Turns a received byte stream into the engine's [`Message`]s.
///
/// Push bytes as they arrive with [`Deframer::push`], then call
/// [`Deframer::pop`] until it returns `Ok(None)` (more bytes needed). Each
/// popped message is handed to [`crate::Connection::handle`] before the next
/// pop, in order.
///
/// What it checks, with the alert each failure carries:
///
/// - the content type is one of the four of RFC 5246 6.2.1, else
///   unexpected_message (RFC 5246 6);
/// - the first record is not an SSLv2-compatible ClientHello (RFC 5246 E.2:
///   high bit of the first byte set), which is not accepted: handshake_failure;
/// - the version is {3, x} (any minor, as RFC 5246 E.1 asks of a server
///   reading the first record), else protocol_version;
/// - the length is at most 2^14 (plaintext) or 2^14 + 2048 (protected; RFC
///   5246 6.2.1, 6.2.3), checked on the header: record_overflow;
/// - handshake and alert records are not empty (6.2.1), else decode_error;
///   an empty change_cipher_spec is unexpected_message, like any CCS that is
///   not the single byte 1;
/// - a plaintext handshake message split over records is not interrupted by
///   another record type (6.2.1), else unexpected_message;
/// - a reassembled handshake message declares at most [`max_handshake_len`]
///   bytes for its type (checked once its 4-byte header is in), else
///   decode_error; the engine decodes its body ([`RawHandshake`]);
/// - a plaintext alert is exactly 2 bytes, else decode_error, and a CCS the
///   single byte 1, else unexpected_message ([`Message::read`]); plaintext
///   application data is unexpected_message.
///
/// An error is final: the stream cannot be resynchronised, so every later
/// `pop` returns the same error, and the caller closes the connection
/// (before the handshake protects records it can first send the error's
/// alert as a plaintext [`Message::Alert`]).
///
/// # Protection
///
/// After the peer's ChangeCipherSpec its handshake, alert and application
/// data records are ciphertext, popped as [`Message::Protected`]. The
/// deframer switches itself as it yields the CCS, so a record pushed right
/// behind it is already read as protected; [`Deframer::set_protected`]
/// overrides the mode for callers that manage it themselves.
///
/// # Memory
///
/// `push` buffers whatever it is given; `pop` consumes. A caller reading
/// from a socket should stop reading while [`Deframer::buffered`] exceeds
/// what it is willing to hold (one record is at most 5 + 2^14 + 2048 bytes;
/// a handshake message being reassembled at most 4 +
/// [`crate::msgs::handshake::MAX_CLIENT_HELLO_LEN`]).
#[derive(Debug, Default)]
pub struct Deframer {
    /// Received bytes not yet cut into records.
    buf: Vec<u8>,
    /// Plaintext handshake bytes not yet a whole message.
    handshake: Vec<u8>,
    /// The peer's ChangeCipherSpec has been seen.
    protected: bool,
    /// At least one record header has been accepted.
    seen_record: bool,
    /// The error that ended the stream.
    failed: Option<Error>,
}

impl Deframer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn pop(&mut self) -> Result<Option<Message>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let next = self.next_message();
        if let Err(e) = &next {
            self.failed = Some(e.clone());
        }
        next
    }

    /// Whether handshake, alert and application data records are read as
    /// ciphertext. Set automatically when a ChangeCipherSpec is popped.
    pub fn set_protected(&mut self, on: bool) {
        self.protected = on;
    }

    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// Bytes received and not yet returned as messages: unparsed records
    /// plus a handshake message being reassembled.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.handshake.len()
    }

    fn next_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            // Whole handshake messages already reassembled go first: they
            // came before any record still in `buf`.
            if let Some(m) = self.take_handshake()? {
                return Ok(Some(m));
            }
            let Some(header) = self.header()? else {
                return Ok(None);
            };
            let end = RECORD_HEADER_LEN + header.len;
            if self.buf.len() < end {
                return Ok(None);
            }
            let fragment: Vec<u8> = self.buf.drain(..end).skip(RECORD_HEADER_LEN).collect();
            if header.typ == ContentType::HANDSHAKE && !header.protected {
                self.handshake.extend_from_slice(&fragment);
                continue;
            }
            let msg = Message::read(header.typ, &fragment, header.protected)?;
            if msg == Message::ChangeCipherSpec {
                self.protected = true;
            }
            return Ok(Some(msg));
        }
    }

    /// Reads and checks the header at the front of `buf`, if all 5 bytes
    /// are in. Does not consume it.
    fn header(&mut self) -> Result<Option<Header>, Error> {
        if self.buf.len() < RECORD_HEADER_LEN {
            return Ok(None);
        }
        let b = &self.buf[..RECORD_HEADER_LEN];
        if !self.seen_record && b[0] & 0x80 != 0 {
            return Err(Error::handshake_failure(format!(
                "the peer sent an SSLv2-compatible ClientHello (first bytes {:02x} {:02x} {:02x}, \
                 RFC 5246 E.2); this engine accepts TLS records only",
                b[0], b[1], b[2]
            )));
        }
        let typ = ContentType(b[0]);
        if typ.name().is_none() {
            return Err(Error::unexpected(format!(
                "record of unknown content type {}",
                b[0]
            )));
        }
        let version = ProtocolVersion(u16::from_be_bytes([b[1], b[2]]));
        if b[1] != 3 {
            return Err(Error::new(
                AlertDescription::PROTOCOL_VERSION,
                format!("record version {version} is not TLS (major version must be 3)"),
            ));
        }
        let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
        let protected = self.protected && typ != ContentType::CHANGE_CIPHER_SPEC;
        let limit = if protected {
            MAX_CIPHERTEXT
        } else {
            MAX_PLAINTEXT
        };
        if len > limit {
            return Err(Error::new(
                AlertDescription::RECORD_OVERFLOW,
                format!(
                    "{} {typ} record of {len} bytes, more than {limit}",
                    if protected { "protected" } else { "plaintext" }
                ),
            ));
        }
        if len == 0 && typ == ContentType::CHANGE_CIPHER_SPEC {
            // Not the single byte 1, like any other malformed CCS
            // ([`Message::read`]).
            return Err(Error::unexpected(
                "empty change_cipher_spec record (ChangeCipherSpec is the single byte 1)",
            ));
        }
        if len == 0 && typ != ContentType::APPLICATION_DATA {
            return Err(Error::decode(format!(
                "empty {typ} record (RFC 5246 6.2.1 allows empty application data only)"
            )));
        }
        if !self.handshake.is_empty() && (typ != ContentType::HANDSHAKE || protected) {
            return Err(Error::unexpected(format!(
                "{typ} record in the middle of a fragmented handshake message"
            )));
        }
        self.seen_record = true;
        Ok(Some(Header {
            typ,
            len,
            protected,
        }))
    }

    /// The first handshake message in `handshake`, if it is complete.
    fn take_handshake(&mut self) -> Result<Option<Message>, Error> {
        let Some(h) = self.handshake.get(..HANDSHAKE_HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        if len > max_handshake_len(HandshakeType(h[0])) {
            return Err(Error::decode(format!(
                "handshake message of type {} declares {len} bytes, more than {}",
                h[0],
                max_handshake_len(HandshakeType(h[0]))
            )));
        }
        let end = HANDSHAKE_HEADER_LEN + len;
        if self.handshake.len() < end {
            return Ok(None);
        }
        let bytes: Vec<u8> = self.handshake.drain(..end).collect();
        Ok(Some(Message::RawHandshake(RawHandshake::new(bytes)?)))
    }
}

/// Appends `msg` to `out` as TLS record(s): header {content type, 0x0303,
/// length} then the fragment. A handshake message longer than 2^14 bytes is
/// split over as many records as it needs (RFC 5246 6.2.1); the engine's
/// messages never are, but a long certificate chain could be. Every other
/// message goes in one record.
///
/// # Panics
///
/// If a non-handshake fragment exceeds 2^14 + 2048 bytes (RFC 5246
/// 6.2.3), which the engine never produces: its records carry at most 2^14
/// bytes of plaintext.
pub fn encode_records(msg: &Message, out: &mut Vec<u8>) -> Result<(), Error> {
    let typ = msg.content_type();
    let fragment = msg.fragment()?;
    match msg {
        Message::Handshake(_) | Message::RawHandshake(_) => {
            for chunk in fragment.chunks(MAX_PLAINTEXT) {
                put_record(typ, chunk, out);
            }
        }
        // A protected record cannot be split; the engine never seals one
        // this big, but a hand-made message could be.
        _ if fragment.len() > MAX_CIPHERTEXT => {
            return Err(Error::internal(format!(
                "{typ} fragment of {} bytes does not fit one record",
                fragment.len()
            )));
        }
        _ => put_record(typ, &fragment, out),
    }
    Ok(())
}

fn put_record(typ: ContentType, fragment: &[u8], out: &mut Vec<u8>) {
    out.push(typ.0);
    put_u16(ProtocolVersion::TLSV1_2.0, out);
    // Both callers keep fragments within MAX_CIPHERTEXT < 2^16.
    out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    out.extend_from_slice(fragment);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls_pki_types::{CertificateDer, ServerName};

    use super::*;
    use crate::msgs::codec::Codec;
    use crate::msgs::enums::{AlertLevel, HandshakeType};
    use crate::msgs::handshake::{Certificate, Finished, HandshakeMessage, HandshakePayload};
    use crate::msgs::message::{Alert, ProtectedRecord};
    use crate::rand::SeededRng;
    use crate::suites::ALL_SUITES;
    use crate::{CertifiedKey, ClientConfig, Connection, Event, ServerCertVerifier, ServerConfig};

    fn record(typ: u8, version: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![typ];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn hs(payload: HandshakePayload) -> HandshakeMessage {
        HandshakeMessage::from(payload)
    }

    fn finished(byte: u8) -> HandshakeMessage {
        hs(HandshakePayload::Finished(Finished {
            verify_data: vec![byte; 12],
        }))
    }

    fn certificate(len: usize) -> HandshakeMessage {
        hs(HandshakePayload::Certificate(Certificate {
            certificate_list: vec![CertificateDer::from(vec![0x30; len])],
        }))
    }

    /// Every message the deframer yields until it needs more bytes, with
    /// handshake messages decoded (as the engine does) for comparison.
    fn drain(d: &mut Deframer) -> Result<Vec<Message>, Error> {
        let mut out = Vec::new();
        while let Some(m) = d.pop()? {
            out.push(decoded(m)?);
        }
        Ok(out)
    }

    fn decoded(m: Message) -> Result<Message, Error> {
        match m {
            Message::RawHandshake(raw) => Ok(Message::Handshake(raw.decode()?)),
            m => Ok(m),
        }
    }

    fn deframe(bytes: &[u8]) -> Result<Vec<Message>, Error> {
        let mut d = Deframer::new();
        d.push(bytes);
        drain(&mut d)
    }

    fn alert_of(bytes: &[u8]) -> AlertDescription {
        deframe(bytes).unwrap_err().alert()
    }

    #[test]
    fn an_oversized_protected_record_is_refused_not_written() {
        let rec = ProtectedRecord {
            typ: ContentType::APPLICATION_DATA,
            fragment: vec![0; MAX_CIPHERTEXT + 1],
        };
        let mut out = Vec::new();
        let err = encode_records(&Message::Protected(rec), &mut out).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(out.is_empty());
    }

    #[test]
    fn coalesced_messages_in_one_record() {
        let msgs = [
            finished(1),
            hs(HandshakePayload::ServerHelloDone),
            certificate(100),
        ];
        let mut body = Vec::new();
        for m in &msgs {
            m.encode(&mut body).unwrap();
        }
        let got = deframe(&record(22, 0x0303, &body)).unwrap();
        let want: Vec<Message> = msgs.into_iter().map(Message::from).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn coalesced_messages_come_out_before_the_next_record() {
        let mut body = Vec::new();
        hs(HandshakePayload::ServerHelloDone)
            .encode(&mut body)
            .unwrap();
        finished(2).encode(&mut body).unwrap();
        let mut bytes = record(22, 0x0303, &body);
        bytes.extend(record(20, 0x0303, &[1]));
        let got = deframe(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                hs(HandshakePayload::ServerHelloDone).into(),
                finished(2).into(),
                Message::ChangeCipherSpec,
            ]
        );
    }

    #[test]
    fn message_split_over_three_records() {
        // By encode_records: a 40 000-byte Certificate needs 3 records.
        let cert = certificate(40_000);
        let mut bytes = Vec::new();
        encode_records(&cert.clone().into(), &mut bytes).unwrap();
        let encoded = cert.get_encoding().unwrap();
        assert_eq!(
            bytes.len(),
            encoded.len() + 3 * RECORD_HEADER_LEN,
            "three records"
        );
        assert_eq!(deframe(&bytes).unwrap(), vec![cert.clone().into()]);

        // By hand, cutting inside the 4-byte handshake header too.
        let encoded = certificate(20_000).get_encoding().unwrap();
        let cert = certificate(20_000);
        let mut bytes = Vec::new();
        for part in [&encoded[..2], &encoded[2..10_000], &encoded[10_000..]] {
            bytes.extend(record(22, 0x0303, part));
        }
        let mut d = Deframer::new();
        d.push(&bytes[..bytes.len() - 1]);
        assert_eq!(drain(&mut d).unwrap(), vec![]);
        d.push(&bytes[bytes.len() - 1..]);
        assert_eq!(drain(&mut d).unwrap(), vec![cert.into()]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn message_tail_shares_a_record_with_the_next_message() {
        let (a, b) = (certificate(300), finished(7));
        let mut stream = a.get_encoding().unwrap();
        stream.extend(b.get_encoding().unwrap());
        let cut = 150;
        let mut bytes = record(22, 0x0303, &stream[..cut]);
        bytes.extend(record(22, 0x0303, &stream[cut..]));
        assert_eq!(deframe(&bytes).unwrap(), vec![a.into(), b.into()]);
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut body = Vec::new();
        hs(HandshakePayload::ServerHelloDone)
            .encode(&mut body)
            .unwrap();
        finished(3).encode(&mut body).unwrap();
        let mut bytes = record(22, 0x0301, &body);
        bytes.extend(record(21, 0x0303, &[1, 0]));
        bytes.extend(record(20, 0x0303, &[1]));
        bytes.extend(record(22, 0x0303, &[0xaa; 40]));
        bytes.extend(record(23, 0x0303, &[0xbb; 30]));
        bytes.extend(record(23, 0x0303, &[]));

        let mut d = Deframer::new();
        let mut got = Vec::new();
        for b in &bytes {
            d.push(&[*b]);
            got.extend(drain(&mut d).unwrap());
        }
        assert_eq!(d.buffered(), 0);
        let protected =
            |typ, fragment: Vec<u8>| Message::Protected(ProtectedRecord { typ, fragment });
        assert_eq!(
            got,
            vec![
                hs(HandshakePayload::ServerHelloDone).into(),
                finished(3).into(),
                Message::Alert(Alert {
                    level: AlertLevel::WARNING,
                    description: AlertDescription::CLOSE_NOTIFY
                }),
                Message::ChangeCipherSpec,
                protected(ContentType::HANDSHAKE, vec![0xaa; 40]),
                protected(ContentType::APPLICATION_DATA, vec![0xbb; 30]),
                protected(ContentType::APPLICATION_DATA, vec![]),
            ]
        );
    }

    #[test]
    fn change_cipher_spec_switches_to_protected_and_back_by_hand() {
        let mut d = Deframer::new();
        assert!(!d.is_protected());
        d.push(&record(20, 0x0303, &[1]));
        d.push(&record(21, 0x0303, &[2, 40]));
        assert_eq!(d.pop().unwrap(), Some(Message::ChangeCipherSpec));
        assert!(d.is_protected());
        assert_eq!(
            d.pop().unwrap(),
            Some(Message::Protected(ProtectedRecord {
                typ: ContentType::ALERT,
                fragment: vec![2, 40]
            }))
        );
        d.set_protected(false);
        d.push(&record(21, 0x0303, &[2, 40]));
        assert_eq!(
            d.pop().unwrap(),
            Some(Message::Alert(Alert::fatal(
                AlertDescription::HANDSHAKE_FAILURE
            )))
        );
    }

    #[test]
    fn oversized_records_are_record_overflow() {
        // Plaintext: at most 2^14. The header alone is enough to refuse.
        let header = [22, 3, 3, 0x40, 0x01];
        assert_eq!(alert_of(&header), AlertDescription::RECORD_OVERFLOW);
        let mut d = Deframer::new();
        d.push(&[22, 3, 3, 0x40, 0x00]);
        assert_eq!(d.pop().unwrap(), None, "2^14 is allowed");

        // Protected: at most 2^14 + 2048.
        let mut d = Deframer::new();
        d.set_protected(true);
        d.push(&[23, 3, 3, 0x48, 0x00]);
        assert_eq!(d.pop().unwrap(), None, "2^14 + 2048 is allowed");
        let mut d = Deframer::new();
        d.set_protected(true);
        d.push(&[23, 3, 3, 0x48, 0x01]);
        assert_eq!(
            d.pop().unwrap_err().alert(),
            AlertDescription::RECORD_OVERFLOW
        );
        let mut d = Deframer::new();
        d.set_protected(true);
        d.push(&[22, 3, 3, 0xff, 0xff]);
        assert_eq!(
            d.pop().unwrap_err().alert(),
            AlertDescription::RECORD_OVERFLOW
        );
    }

    #[test]
    fn handshake_message_over_the_cap_is_decode_error() {
        use crate::msgs::handshake::{MAX_CLIENT_HELLO_LEN, MAX_HANDSHAKE_LEN};
        for (typ, len) in [(2, MAX_HANDSHAKE_LEN + 1), (1, MAX_CLIENT_HELLO_LEN + 1)] {
            let header = [typ, (len >> 16) as u8, (len >> 8) as u8, len as u8];
            let err = deframe(&record(22, 0x0303, &header)).unwrap_err();
            assert_eq!(err.alert(), AlertDescription::DECODE_ERROR);
            assert!(err.reason().contains("declares"), "{}", err.reason());
        }
    }

    #[test]
    fn sslv2_client_hello_is_refused_with_a_reason() {
        // An SSLv2-compatible ClientHello: length 0x002e with the high bit,
        // msg_type 1, version 3.1 (RFC 5246 E.2).
        let bytes = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00];
        let err = deframe(&bytes).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::HANDSHAKE_FAILURE);
        assert!(err.reason().contains("SSLv2"), "{}", err.reason());

        // After a first valid record the same byte is an unknown type.
        let mut bytes2 = record(22, 0x0303, &finished(1).get_encoding().unwrap());
        bytes2.extend(bytes);
        assert_eq!(alert_of(&bytes2), AlertDescription::UNEXPECTED_MESSAGE);
    }

    #[test]
    fn bad_version_is_protocol_version() {
        for version in [0x0203, 0x0403, 0x0000, 0xfeff] {
            let bytes = record(22, version, &finished(1).get_encoding().unwrap());
            assert_eq!(
                alert_of(&bytes),
                AlertDescription::PROTOCOL_VERSION,
                "{version:04x}"
            );
        }
        // Any {3, x} passes the record layer.
        for version in [0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x03ff] {
            let bytes = record(22, version, &finished(1).get_encoding().unwrap());
            assert_eq!(deframe(&bytes).unwrap().len(), 1, "{version:04x}");
        }
    }

    #[test]
    fn unknown_content_type_is_unexpected_message() {
        for typ in [0u8, 19, 24, 0x7f] {
            let err = deframe(&record(typ, 0x0303, &[1, 2])).unwrap_err();
            assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{typ}");
            assert!(
                err.reason().contains("unknown content type"),
                "{}",
                err.reason()
            );
        }
    }

    #[test]
    fn empty_records() {
        for typ in [21u8, 22] {
            let err = deframe(&record(typ, 0x0303, &[])).unwrap_err();
            assert_eq!(err.alert(), AlertDescription::DECODE_ERROR, "{typ}");
            assert!(err.reason().contains("empty"), "{}", err.reason());
        }
        // An empty ChangeCipherSpec is not the single byte 1.
        let err = deframe(&record(20, 0x0303, &[])).unwrap_err();
        assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE);
        assert!(err.reason().contains("empty"), "{}", err.reason());
        // Plaintext application data is refused, empty or not.
        assert_eq!(
            alert_of(&record(23, 0x0303, &[])),
            AlertDescription::UNEXPECTED_MESSAGE
        );
    }

    #[test]
    fn alert_and_change_cipher_spec_lengths() {
        for body in [&[2u8][..], &[2, 40, 0]] {
            assert_eq!(
                alert_of(&record(21, 0x0303, body)),
                AlertDescription::DECODE_ERROR
            );
        }
        // RFC 5246 7.1: a ChangeCipherSpec is the single byte 1; another
        // value, or two coalesced, is unexpected_message (as OpenSSL has it).
        for body in [&[2u8][..], &[0], &[1, 1], &[1, 0], &[1; 300]] {
            let err = deframe(&record(20, 0x0303, body)).unwrap_err();
            assert_eq!(
                err.alert(),
                AlertDescription::UNEXPECTED_MESSAGE,
                "{body:?}"
            );
            assert!(err.reason().contains("single byte 1"), "{}", err.reason());
        }
    }

    #[test]
    fn interleaving_inside_a_fragmented_message_is_unexpected() {
        let encoded = certificate(100).get_encoding().unwrap();
        for (typ, body) in [(21u8, &[1u8, 0][..]), (20, &[1]), (23, &[0; 20])] {
            let mut bytes = record(22, 0x0303, &encoded[..50]);
            bytes.extend(record(typ, 0x0303, body));
            bytes.extend(record(22, 0x0303, &encoded[50..]));
            let err = deframe(&bytes).unwrap_err();
            assert_eq!(err.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{typ}");
            assert!(err.reason().contains("middle"), "{}", err.reason());
        }
    }

    #[test]
    fn errors_are_final() {
        let mut d = Deframer::new();
        d.push(&record(99, 0x0303, &[1]));
        let err = d.pop().unwrap_err();
        d.push(&record(20, 0x0303, &[1]));
        assert_eq!(d.pop().unwrap_err(), err);
    }

    #[test]
    fn handshake_bodies_are_left_for_the_engine_to_decode() {
        // A ServerHelloDone with a 1-byte body, and a ClientHello body
        // relabelled as ServerHello: well framed, not decodable. The
        // deframer passes them on; the engine checks the type first.
        // version, random, session_id<0>, cipher_suites<2>, compression<1>.
        let hello = [&[3, 3][..], &[7; 32], &[0, 0, 2, 0xc0, 0x2f, 1, 0]].concat();
        for body in [vec![14, 0, 0, 1, 0], [vec![2, 0, 0, 41], hello].concat()] {
            let mut d = Deframer::new();
            d.push(&record(22, 0x0303, &body));
            let Some(Message::RawHandshake(raw)) = d.pop().unwrap() else {
                panic!("a raw handshake message");
            };
            assert_eq!(raw.as_bytes(), body);
            assert_eq!(raw.typ(), HandshakeType(body[0]));
            assert_eq!(
                raw.decode().unwrap_err().alert(),
                AlertDescription::DECODE_ERROR
            );
        }
    }

    #[test]
    fn encode_records_headers() {
        let mut out = Vec::new();
        encode_records(&Message::ChangeCipherSpec, &mut out).unwrap();
        assert_eq!(out, [20, 3, 3, 0, 1, 1]);
        out.clear();
        encode_records(
            &Message::Alert(Alert::fatal(AlertDescription::DECODE_ERROR)),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [21, 3, 3, 0, 2, 2, 50]);
        out.clear();
        encode_records(&hs(HandshakePayload::ServerHelloDone).into(), &mut out).unwrap();
        assert_eq!(out, [22, 3, 3, 0, 4, 14, 0, 0, 0]);
        out.clear();
        let rec = ProtectedRecord {
            typ: ContentType::APPLICATION_DATA,
            fragment: vec![9; MAX_CIPHERTEXT],
        };
        encode_records(&Message::Protected(rec), &mut out).unwrap();
        assert_eq!(out[..5], [23, 3, 3, 0x48, 0x00]);
        assert_eq!(out.len(), 5 + MAX_CIPHERTEXT);

        // A handshake message of exactly 2^14 bytes fits one record; one
        // more byte takes two.
        for (len, records) in [(MAX_PLAINTEXT, 1), (MAX_PLAINTEXT + 1, 2)] {
            let m = hs(HandshakePayload::Unknown {
                typ: HandshakeType::CERTIFICATE_REQUEST,
                body: vec![0; len - 4],
            });
            out.clear();
            encode_records(&m.into(), &mut out).unwrap();
            assert_eq!(out.len(), len + records * RECORD_HEADER_LEN);
        }
    }

    /// The lab CA's RSA and ECDSA P-256 server certificates for "localhost".
    fn lab() -> (ClientConfig, ServerConfig) {
        let pki = test_pki::pki();
        let keys = [&pki.rsa, &pki.ecdsa_p256]
            .map(|leaf| CertifiedKey::new(leaf.chain.clone(), &leaf.key_pkcs8).unwrap());
        let client =
            ClientConfig::new(ServerCertVerifier::new(std::slice::from_ref(&pki.ca)).unwrap());
        (client, ServerConfig::new(keys.into()).unwrap())
    }

    /// One direction of a byte stream: what one engine sent, as records.
    struct Wire {
        deframer: Deframer,
        /// Feed the deframer this many bytes at a time (0: all at once).
        chunk: usize,
    }

    impl Wire {
        /// Encodes everything `from` has to send, deframes it and hands
        /// each message to `to`, checking it survived the trip unchanged.
        fn carry(&mut self, from: &mut Connection, to: &mut Connection) -> usize {
            let mut sent = Vec::new();
            let mut bytes = Vec::new();
            while let Some(m) = from.poll_transmit() {
                encode_records(&m, &mut bytes).unwrap();
                sent.push(m);
            }
            let mut got = Vec::new();
            let chunk = if self.chunk == 0 {
                bytes.len().max(1)
            } else {
                self.chunk
            };
            for piece in bytes.chunks(chunk) {
                self.deframer.push(piece);
                while let Some(m) = self.deframer.pop().expect("deframes") {
                    got.push(decoded(m.clone()).expect("decodes"));
                    to.handle(m);
                    assert_eq!(to.failure(), None, "the peer accepts it");
                }
            }
            assert_eq!(got, sent, "messages survive framing unchanged");
            assert_eq!(self.deframer.buffered(), 0);
            sent.len()
        }
    }

    fn app_data(events: impl Iterator<Item = Event>) -> Vec<u8> {
        events
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn whole_engine_sessions_round_trip_through_records() {
        let (client_config, server_config) = lab();
        let server_config = Arc::new(server_config);
        let now = test_pki::valid_now();
        for (i, suite) in ALL_SUITES.iter().enumerate() {
            for chunk in [0, 1, 7] {
                let mut config = client_config.clone();
                config.cipher_suites = vec![suite.suite];
                let mut client = Connection::client(
                    Arc::new(config),
                    ServerName::try_from("localhost").unwrap(),
                    now,
                    Box::new(SeededRng::new(i as u64)),
                )
                .unwrap();
                let mut server =
                    Connection::server(server_config.clone(), Box::new(SeededRng::new(99)))
                        .unwrap();
                let mut to_server = Wire {
                    deframer: Deframer::new(),
                    chunk,
                };
                let mut to_client = Wire {
                    deframer: Deframer::new(),
                    chunk,
                };
                let mut carried = 0;
                loop {
                    let n = to_server.carry(&mut client, &mut server)
                        + to_client.carry(&mut server, &mut client);
                    if n == 0 {
                        break;
                    }
                    carried += n;
                }
                assert!(client.is_handshake_complete(), "{:?}", suite.suite);
                assert!(server.is_handshake_complete(), "{:?}", suite.suite);
                // ClientHello .. ServerHelloDone, CKE, CCS, Finished, CCS, Finished.
                let expected = if suite.kx.is_ecdhe() { 10 } else { 9 };
                assert_eq!(carried, expected, "{:?}", suite.suite);
                assert!(to_client.deframer.is_protected() && to_server.deframer.is_protected());

                let big = vec![0x42; 40_000];
                client.send_application_data(&big).unwrap();
                to_server.carry(&mut client, &mut server);
                assert_eq!(app_data(std::iter::from_fn(|| server.poll_event())), big);
                server.send_application_data(b"pong").unwrap();
                to_client.carry(&mut server, &mut client);
                assert_eq!(
                    app_data(std::iter::from_fn(|| client.poll_event())),
                    b"pong"
                );
            }
        }
    }
}
