//! The decoders' contract, checked on arbitrary bytes: no panic; a failure
//! is an [`Error`] raised locally (so it carries an alert for the peer);
//! and, decoding being strict (`handshake::msgs::codec`), a value decoded
//! from bytes re-encodes to exactly those bytes (the transcript hash
//! depends on it).

use std::fmt::Debug;

use handshake::msgs::codec::{Codec, Reader};
use handshake::msgs::enums::ContentType;
use handshake::msgs::handshake::{HandshakeMessage, max_handshake_len};
use handshake::{Error, Message, Origin, RawHandshake};

/// The wire encoding of `v`, which must have one: every value here was
/// decoded from bytes or made by the engine, so its vectors fit their
/// length prefixes (`Codec::encode` fails only for one that does not).
pub fn encoding<T: Codec + Debug>(v: &T) -> Vec<u8> {
    match v.get_encoding() {
        Ok(bytes) => bytes,
        Err(e) => panic!("{} {v:?} does not encode: {e}", std::any::type_name::<T>()),
    }
}

/// The record fragment of `m`, which must have one (as [`encoding`]).
pub fn fragment(m: &Message) -> Vec<u8> {
    match m.fragment() {
        Ok(bytes) => bytes,
        Err(e) => panic!("{m:?} has no fragment: {e}"),
    }
}

/// A decoding failure: raised here, not a peer's alert.
pub fn check_error(e: &Error, what: &str) {
    assert_eq!(e.origin(), Origin::Local, "{what}: {e}");
}

/// Decodes `bytes` as a `T` whole (`read_bytes`) and as a prefix (`read`):
/// they agree, and what either decodes re-encodes to the bytes it used.
pub fn exact<T: Codec + PartialEq + Debug>(bytes: &[u8]) -> Option<T> {
    let what = std::any::type_name::<T>();
    let whole = T::read_bytes(bytes);
    match &whole {
        Ok(v) => {
            assert_eq!(encoding(v), bytes, "{what} {v:?} re-encodes differently");
            assert_eq!(
                T::read_bytes(bytes).as_ref().ok(),
                Some(v),
                "{what}: not repeatable"
            );
        }
        Err(e) => check_error(e, what),
    }
    let mut r = Reader::new(bytes);
    match T::read(&mut r) {
        Ok(v) => {
            let used = bytes.len() - r.left();
            assert_eq!(
                encoding(&v),
                &bytes[..used],
                "{what} {v:?}: prefix re-encodes differently"
            );
            if let Ok(w) = &whole {
                assert_eq!(used, bytes.len(), "{what}: read stops early");
                assert_eq!(w, &v);
            }
        }
        Err(e) => {
            check_error(&e, what);
            assert!(
                whole.is_err(),
                "{what}: read fails where read_bytes succeeds"
            );
        }
    }
    whole.ok()
}

/// `Message::read`: a success gives back its fragment, reads back the same,
/// and is the variant the content type and protection say.
pub fn check_message_read(typ: ContentType, bytes: &[u8], protected: bool) -> Option<Message> {
    match Message::read(typ, bytes, protected) {
        Ok(m) => {
            assert_eq!(m.content_type(), typ);
            assert_eq!(fragment(&m), bytes, "{m:?}: fragment differs");
            assert_eq!(
                Message::read(typ, &fragment(&m), protected).as_ref(),
                Ok(&m)
            );
            match &m {
                Message::ChangeCipherSpec => assert_eq!(bytes, [1]),
                Message::Handshake(_) | Message::Alert(_) => assert!(!protected),
                Message::Protected(_) => assert!(protected),
                // Only the Deframer leaves handshake messages undecoded.
                Message::RawHandshake(_) => panic!("Message::read gave {m:?}"),
            }
            Some(m)
        }
        Err(e) => {
            check_error(&e, "Message::read");
            None
        }
    }
}

/// What an engine sends must read back as itself on the other side (a
/// wrong length prefix, say, would not).
pub fn check_sendable(m: &Message) {
    let protected = matches!(m, Message::Protected(_));
    let back = Message::read(m.content_type(), &fragment(m), protected);
    assert_eq!(
        back.as_ref().ok(),
        Some(m),
        "sent {m:?} does not read back: {back:?}"
    );
}

/// A handshake message the `Deframer` left undecoded: within its type's
/// maximum, rewrapped the same, and what its body decodes to (if it does)
/// is of its header's type and re-encodes to exactly its bytes.
pub fn check_raw(raw: &RawHandshake) {
    let bytes = raw.as_bytes();
    assert!(
        bytes.len() - RawHandshake::HEADER_LEN <= max_handshake_len(raw.typ()),
        "{raw:?} exceeds its type's maximum"
    );
    assert_eq!(RawHandshake::new(bytes.to_vec()).as_ref(), Ok(raw));
    match raw.decode() {
        Ok(h) => {
            assert_eq!(h.typ(), raw.typ(), "{raw:?} decodes to {h:?}");
            assert_eq!(encoding(&h), bytes, "{h:?} re-encodes differently");
            assert_eq!(HandshakeMessage::read_bytes(bytes).as_ref(), Ok(&h));
        }
        Err(e) => check_error(&e, "RawHandshake::decode"),
    }
}
