//! Protobuf messages <-> the engine's [`Message`].
//!
//! Incoming protobuf is turned into the RFC 5246 encoding first and then
//! read by the engine's own decoder: every bound the wire format has
//! (session_id at most 32 bytes, at least one suite, ...) is checked once,
//! in one place, and the transcript hashes exactly the bytes the .proto
//! comments promise. Outgoing messages are read field by field from the
//! engine's structures.

use handshake::Error;
use handshake::msgs::codec::{Codec, LengthPrefix, put_opaque, put_u16, put_vec};
use handshake::msgs::enums::{AlertDescription, AlertLevel, ContentType, HandshakeType};
use handshake::msgs::handshake::{HandshakeMessage, HandshakePayload, max_handshake_len};
use handshake::{Alert, Message, ProtectedRecord};

use crate::pb;
use crate::pb::client_key_exchange::ExchangeKeys;
use crate::pb::connect_request::Message as Req;
use crate::pb::connect_response::Message as Resp;

/// A protobuf message from the TLS client, as the engine's message.
pub fn from_request(req: pb::ConnectRequest) -> Result<Message, Error> {
    match req.message {
        Some(Req::ClientHello(h)) => {
            handshake(HandshakeType::CLIENT_HELLO, |b| client_hello(&h, b))
        }
        Some(Req::ClientKeyExchange(k)) => handshake(HandshakeType::CLIENT_KEY_EXCHANGE, |b| {
            client_key_exchange(&k, b)
        }),
        Some(Req::ChangeCipherSpec(_)) => Ok(Message::ChangeCipherSpec),
        Some(Req::EncryptedRecord(r)) => encrypted_record(r),
        Some(Req::Alert(a)) => alert(&a),
        None => Err(Error::decode("ConnectRequest carries no message")),
    }
}

/// A protobuf message from the TLS server, as the engine's message.
pub fn from_response(resp: pb::ConnectResponse) -> Result<Message, Error> {
    match resp.message {
        Some(Resp::ServerHello(h)) => {
            handshake(HandshakeType::SERVER_HELLO, |b| server_hello(&h, b))
        }
        Some(Resp::Certificate(c)) => handshake(HandshakeType::CERTIFICATE, |b| {
            let total: usize = c.certificate_list.iter().map(|c| 3 + c.len()).sum();
            fit_len(total, 0xff_ffff, "certificate_list")?;
            put_vec(LengthPrefix::U24, b, |b| {
                for c in &c.certificate_list {
                    put_opaque(LengthPrefix::U24, c, b)?;
                }
                Ok(())
            })
        }),
        Some(Resp::ServerKeyExchange(k)) => handshake(HandshakeType::SERVER_KEY_EXCHANGE, |b| {
            fit(&k.public_key, 0xff, "ECPoint")?;
            fit(&k.signature, 0xffff, "signature")?;
            b.push(3); // named_curve
            put_u16(u16_of(k.named_curve, "named_curve")?, b);
            put_opaque(LengthPrefix::U8, &k.public_key, b)?;
            put_u16(u16_of(k.signature_algorithm, "signature_algorithm")?, b);
            put_opaque(LengthPrefix::U16, &k.signature, b)
        }),
        Some(Resp::ServerHelloDone(_)) => handshake(HandshakeType::SERVER_HELLO_DONE, |_| Ok(())),
        Some(Resp::ChangeCipherSpec(_)) => Ok(Message::ChangeCipherSpec),
        Some(Resp::EncryptedRecord(r)) => encrypted_record(r),
        Some(Resp::Alert(a)) => alert(&a),
        None => Err(Error::decode("ConnectResponse carries no message")),
    }
}

/// The engine's message as the client sends it. Messages a client never
/// sends are an internal error.
pub fn to_request(msg: Message) -> Result<pb::ConnectRequest, Error> {
    let m = match msg {
        Message::RawHandshake(raw) => return to_request(Message::Handshake(raw.decode()?)),
        Message::Handshake(h) => match h.payload {
            HandshakePayload::ClientHello(h) => Req::ClientHello(pb::ClientHello {
                client_version: h.client_version.0.into(),
                random: h.random.to_vec(),
                session_id: h.session_id,
                cipher_suites: h.cipher_suites.iter().map(|s| s.0.into()).collect(),
                compression_methods: h.compression_methods,
                extensions: h.extensions.map(|e| extensions(&e)).transpose()?,
            }),
            HandshakePayload::ClientKeyExchange(k) => {
                // The body is v16(encrypted) for RSA or v8(public) for ECDHE;
                // which one the bytes are tells the prefix that fits them.
                let exchange_keys = if let Ok(enc) = k.encrypted_pre_master() {
                    ExchangeKeys::EncryptedPreMasterSecret(enc.to_vec())
                } else {
                    ExchangeKeys::EcdhPublic(k.ecdh_public()?.to_vec())
                };
                Req::ClientKeyExchange(pb::ClientKeyExchange {
                    exchange_keys: Some(exchange_keys),
                })
            }
            other => return Err(not_sendable(&HandshakeMessage::from(other), "client")),
        },
        Message::ChangeCipherSpec => Req::ChangeCipherSpec(pb::ChangeCipherSpec {}),
        Message::Alert(a) => Req::Alert(to_alert(a)),
        Message::Protected(r) => Req::EncryptedRecord(to_record(r)),
    };
    Ok(pb::ConnectRequest { message: Some(m) })
}

/// The engine's message as the server sends it.
pub fn to_response(msg: Message) -> Result<pb::ConnectResponse, Error> {
    let m = match msg {
        Message::RawHandshake(raw) => return to_response(Message::Handshake(raw.decode()?)),
        Message::Handshake(h) => match h.payload {
            HandshakePayload::ServerHello(h) => Resp::ServerHello(pb::ServerHello {
                server_version: h.server_version.0.into(),
                random: h.random.to_vec(),
                session_id: h.session_id,
                cipher_suite: h.cipher_suite.0.into(),
                compression_method: h.compression_method.into(),
                extensions: h.extensions.map(|e| extensions(&e)).transpose()?,
            }),
            HandshakePayload::Certificate(c) => Resp::Certificate(pb::Certificate {
                certificate_list: c.certificate_list.iter().map(|c| c.to_vec()).collect(),
            }),
            HandshakePayload::ServerKeyExchange(k) => {
                Resp::ServerKeyExchange(pb::ServerKeyExchange {
                    named_curve: k.params.group.0.into(),
                    public_key: k.params.public,
                    signature_algorithm: k.scheme.0.into(),
                    signature: k.signature,
                })
            }
            HandshakePayload::ServerHelloDone => Resp::ServerHelloDone(pb::ServerHelloDone {}),
            other => return Err(not_sendable(&HandshakeMessage::from(other), "server")),
        },
        Message::ChangeCipherSpec => Resp::ChangeCipherSpec(pb::ChangeCipherSpec {}),
        Message::Alert(a) => Resp::Alert(to_alert(a)),
        Message::Protected(r) => Resp::EncryptedRecord(to_record(r)),
    };
    Ok(pb::ConnectResponse { message: Some(m) })
}

fn not_sendable(m: &HandshakeMessage, role: &str) -> Error {
    Error::internal(format!(
        "a {role} cannot send {} over handshake.v1",
        m.typ()
    ))
}

/// Builds `u8(typ) || u24(len) || body` and reads it with the engine's decoder.
fn handshake(
    typ: HandshakeType,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<Message, Error> {
    let mut b = Vec::new();
    body(&mut b)?;
    fit_len(b.len(), max_handshake_len(typ), "handshake message")?;
    let mut bytes = vec![typ.0];
    put_opaque(LengthPrefix::U24, &b, &mut bytes)?;
    Ok(Message::Handshake(HandshakeMessage::read_bytes(&bytes)?))
}

/// Refuses a field too long for its length prefix, before encoding it: the
/// encoder would refuse it too, but as our internal_error, where a field
/// the peer sent too long is the peer's decode_error.
fn fit(bytes: &[u8], max: usize, what: &str) -> Result<(), Error> {
    fit_len(bytes.len(), max, what)
}

fn fit_len(len: usize, max: usize, what: &str) -> Result<(), Error> {
    if len > max {
        return Err(Error::decode(format!("{what}: {len} bytes, at most {max}")));
    }
    Ok(())
}

/// A protobuf uint32/enum that stands for a u16 on the wire.
fn u16_of(v: impl TryInto<u16>, what: &str) -> Result<u16, Error> {
    v.try_into()
        .map_err(|_| Error::decode(format!("{what} does not fit in two bytes")))
}

fn u8_of(v: impl TryInto<u8>, what: &str) -> Result<u8, Error> {
    v.try_into()
        .map_err(|_| Error::decode(format!("{what} does not fit in one byte")))
}

fn put_extensions(e: &Option<pb::Extensions>, b: &mut Vec<u8>) -> Result<(), Error> {
    let Some(e) = e else { return Ok(()) };
    let mut items = Vec::with_capacity(e.items.len());
    for x in &e.items {
        fit(&x.data, 0xffff, "extension_data")?;
        items.push((u16_of(x.r#type, "extension type")?, &x.data));
    }
    let total: usize = items.iter().map(|(_, d)| 4 + d.len()).sum();
    fit_len(total, 0xffff, "extensions")?;
    put_vec(LengthPrefix::U16, b, |b| {
        for (typ, data) in items {
            put_u16(typ, b);
            put_opaque(LengthPrefix::U16, data, b)?;
        }
        Ok(())
    })
}

fn client_hello(h: &pb::ClientHello, b: &mut Vec<u8>) -> Result<(), Error> {
    fit(&h.session_id, 32, "session_id")?;
    fit(&h.compression_methods, 0xff, "compression_methods")?;
    fit_len(2 * h.cipher_suites.len(), 0xffff, "cipher_suites")?;
    let suites = h
        .cipher_suites
        .iter()
        .map(|s| u16_of(*s, "cipher suite"))
        .collect::<Result<Vec<_>, _>>()?;
    put_u16(u16_of(h.client_version, "client_version")?, b);
    b.extend_from_slice(&random(&h.random)?);
    put_opaque(LengthPrefix::U8, &h.session_id, b)?;
    put_vec(LengthPrefix::U16, b, |b| {
        for s in suites {
            put_u16(s, b);
        }
        Ok(())
    })?;
    put_opaque(LengthPrefix::U8, &h.compression_methods, b)?;
    put_extensions(&h.extensions, b)
}

fn server_hello(h: &pb::ServerHello, b: &mut Vec<u8>) -> Result<(), Error> {
    fit(&h.session_id, 32, "session_id")?;
    put_u16(u16_of(h.server_version, "server_version")?, b);
    b.extend_from_slice(&random(&h.random)?);
    put_opaque(LengthPrefix::U8, &h.session_id, b)?;
    put_u16(u16_of(h.cipher_suite, "cipher_suite")?, b);
    b.push(u8_of(h.compression_method, "compression_method")?);
    put_extensions(&h.extensions, b)
}

fn client_key_exchange(k: &pb::ClientKeyExchange, b: &mut Vec<u8>) -> Result<(), Error> {
    match &k.exchange_keys {
        Some(ExchangeKeys::EncryptedPreMasterSecret(e)) => {
            fit(e, 0xffff, "encrypted_pre_master_secret")?;
            put_opaque(LengthPrefix::U16, e, b)?;
        }
        Some(ExchangeKeys::EcdhPublic(p)) => {
            fit(p, 0xff, "ecdh_public")?;
            put_opaque(LengthPrefix::U8, p, b)?;
        }
        None => return Err(Error::decode("ClientKeyExchange carries no key")),
    }
    Ok(())
}

fn random(r: &[u8]) -> Result<[u8; 32], Error> {
    r.try_into()
        .map_err(|_| Error::decode(format!("random: {} bytes, must be 32", r.len())))
}

fn encrypted_record(r: pb::EncryptedRecord) -> Result<Message, Error> {
    let typ = ContentType(u8_of(r.content_type, "content_type")?);
    if !matches!(
        typ,
        ContentType::HANDSHAKE | ContentType::ALERT | ContentType::APPLICATION_DATA
    ) {
        return Err(Error::unexpected(format!(
            "an encrypted record of type {typ}"
        )));
    }
    Ok(Message::Protected(ProtectedRecord {
        typ,
        fragment: r.fragment,
    }))
}

fn alert(a: &pb::Alert) -> Result<Message, Error> {
    Ok(Message::Alert(Alert {
        level: AlertLevel(u8_of(a.level, "alert level")?),
        description: AlertDescription(u8_of(a.description, "alert description")?),
    }))
}

fn to_alert(a: Alert) -> pb::Alert {
    pb::Alert {
        level: a.level.0.into(),
        description: a.description.0.into(),
    }
}

fn to_record(r: ProtectedRecord) -> pb::EncryptedRecord {
    pb::EncryptedRecord {
        content_type: r.typ.0.into(),
        fragment: r.fragment,
    }
}

/// Each extension as {type, data}: its encoding without the 4-byte header.
fn extensions<E: Codec>(exts: &[E]) -> Result<pb::Extensions, Error> {
    let items = exts
        .iter()
        .map(|e| {
            let enc = e.get_encoding()?;
            Ok(pb::Extension {
                r#type: u32::from(u16::from_be_bytes([enc[0], enc[1]])),
                data: enc[4..].to_vec(),
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(pb::Extensions { items })
}
