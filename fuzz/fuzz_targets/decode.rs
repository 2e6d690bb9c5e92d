//! Every decoder of `handshake::msgs` on arbitrary bytes: the first byte
//! picks the decoder, the rest is its input (for `Message::read`, the
//! second byte is the content type and the first byte's high bit says
//! whether the record is protected). Checks: no panic, failures are local
//! errors, and what decodes re-encodes to the same bytes (see
//! handshake_fuzz::codec).
#![no_main]

use handshake::msgs::enums::{ContentType, HandshakeType};
use handshake::msgs::extensions::{ClientExtension, ServerExtension};
use handshake::msgs::handshake::{
    Certificate, ClientHello, ClientKeyExchange, EcdheParams, Finished, HandshakeMessage,
    HandshakePayload, ServerHello, ServerKeyExchange,
};
use handshake::{Alert, Message};
use handshake_fuzz::codec::{check_error, check_message_read, exact};
use libfuzzer_sys::fuzz_target;

/// How many decoders the selector byte chooses from.
pub const DECODERS: u8 = 12;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % DECODERS {
        0 => handshake_message(bytes),
        1 => drop(exact::<ClientHello>(bytes)),
        2 => drop(exact::<ServerHello>(bytes)),
        3 => drop(exact::<Certificate>(bytes)),
        4 => drop(exact::<ServerKeyExchange>(bytes)),
        5 => client_key_exchange(bytes),
        6 => drop(exact::<Finished>(bytes)),
        7 => drop(exact::<ClientExtension>(bytes)),
        8 => drop(exact::<ServerExtension>(bytes)),
        9 => drop(exact::<Alert>(bytes)),
        10 => drop(exact::<EcdheParams>(bytes)),
        _ => {
            let Some((&typ, fragment)) = bytes.split_first() else {
                return;
            };
            check_message_read(ContentType(typ), fragment, selector & 0x80 != 0);
        }
    }
});

/// The envelope, and `Message::read` and the body's own decoder agree with it.
fn handshake_message(bytes: &[u8]) {
    let decoded = exact::<HandshakeMessage>(bytes);
    let as_message = check_message_read(ContentType::HANDSHAKE, bytes, false);
    assert_eq!(as_message, decoded.clone().map(Message::Handshake));
    let Some(h) = decoded else { return };
    let body = &bytes[4..];
    match &h.payload {
        HandshakePayload::ClientHello(m) => assert_eq!(exact(body).as_ref(), Some(m)),
        HandshakePayload::ServerHello(m) => assert_eq!(exact(body).as_ref(), Some(m)),
        HandshakePayload::Certificate(m) => assert_eq!(exact(body).as_ref(), Some(m)),
        HandshakePayload::ServerKeyExchange(m) => assert_eq!(exact(body).as_ref(), Some(m)),
        HandshakePayload::ServerHelloDone => assert!(body.is_empty()),
        HandshakePayload::ClientKeyExchange(m) => assert_eq!(m.body, body),
        HandshakePayload::Finished(m) => assert_eq!(m.verify_data, body),
        HandshakePayload::Unknown { typ, body: b } => {
            assert_eq!(*typ, HandshakeType(bytes[0]));
            assert_eq!(b, body);
        }
    }
}

/// The body, and its RSA and ECDH readings, each of which rebuilds it.
fn client_key_exchange(bytes: &[u8]) {
    let Some(cke) = exact::<ClientKeyExchange>(bytes) else {
        return;
    };
    let rsa = cke.encrypted_pre_master();
    let ecdh = cke.ecdh_public();
    match &rsa {
        Ok(v) => assert_eq!(
            ClientKeyExchange::rsa(v).map(|c| c.body).as_deref(),
            Ok(bytes)
        ),
        Err(e) => check_error(e, "encrypted_pre_master"),
    }
    match &ecdh {
        Ok(v) => assert_eq!(
            ClientKeyExchange::ecdh(v).map(|c| c.body).as_deref(),
            Ok(bytes)
        ),
        Err(e) => check_error(e, "ecdh_public"),
    }
    // 2 + 256a + b = 1 + a has no solution: a body is never both.
    assert!(!(rsa.is_ok() && ecdh.is_ok()));
}
