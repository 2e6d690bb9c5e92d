//! The decoders' contract, checked on arbitrary bytes: no panic; a failure
//! is an [`Error`] raised locally (so it carries an alert for the peer);
//! and, decoding being strict (`handshake::msgs::codec`), a value decoded
//! from bytes re-encodes to exactly those bytes (the transcript hash
//! depends on it).

use std::fmt::Debug;

use handshake::msgs::codec::{Codec, Reader};
use handshake::msgs::enums::ContentType;
use handshake::{Error, Message, Origin};

/// The wire encoding of `v`. The one place that calls the encoder, so that
/// a fallible `Codec::encode` changes only this function.
pub fn encoding<T: Codec>(v: &T) -> Vec<u8> {
    v.get_encoding()
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
            assert_eq!(m.fragment(), bytes, "{m:?}: fragment differs");
            assert_eq!(
                Message::read(typ, &m.fragment(), protected).as_ref(),
                Ok(&m)
            );
            match &m {
                Message::ChangeCipherSpec => assert_eq!(bytes, [1]),
                Message::Handshake(_) | Message::Alert(_) => assert!(!protected),
                Message::Protected(_) => assert!(protected),
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
    let back = Message::read(m.content_type(), &m.fragment(), protected);
    assert_eq!(
        back.as_ref().ok(),
        Some(m),
        "sent {m:?} does not read back: {back:?}"
    );
}
