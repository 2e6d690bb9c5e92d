//! Handshake messages (RFC 5246 7.4), one type per structure, and the
//! `Handshake` envelope `{msg_type, length<u24>, body}` around them.

use rustls_pki_types::CertificateDer;

use super::codec::{Codec, LengthPrefix, Reader, put_opaque, put_vec};
use super::enums::{CipherSuite, HandshakeType, NamedGroup, ProtocolVersion, SignatureScheme};
use super::extensions::{ClientExtension, ServerExtension, put_extensions, read_extensions};
use crate::error::Error;

/// The largest handshake body accepted, ClientHello aside (see
/// [`max_handshake_len`]). RFC 5246 allows 2^24-1, but no other message of
/// these suites comes near 64 KiB (a certificate chain is the biggest);
/// the cap bounds what one peer can make us buffer.
pub const MAX_HANDSHAKE_LEN: usize = 0x1_0000;

/// The largest ClientHello body accepted: the largest one RFC 5246 7.4.1.2
/// allows, every vector at its maximum:
///
/// ```text
/// client_version 2 + random 32 + session_id 1+32
///   + cipher_suites 2+65,534 + compression_methods 1+255
///   + extensions 2+65,535 = 131,396 bytes
/// ```
///
/// OpenSSL's CLIENT_HELLO_MAX_LENGTH is the same figure. A hello of 16,383
/// empty extensions, a long signature_algorithms list or large padding is
/// over 64 KiB and valid. This is also the largest handshake message of
/// any type accepted, so the most a deframer holds while reassembling one.
pub const MAX_CLIENT_HELLO_LEN: usize =
    2 + 32 + (1 + 32) + (2 + 0xfffe) + (1 + 0xff) + (2 + 0xffff);

/// The largest body accepted for a handshake message of type `typ`:
/// [`MAX_CLIENT_HELLO_LEN`] for a ClientHello, [`MAX_HANDSHAKE_LEN`] for
/// every other type. Checked on the 4-byte header, before the body is
/// buffered.
pub fn max_handshake_len(typ: HandshakeType) -> usize {
    if typ == HandshakeType::CLIENT_HELLO {
        MAX_CLIENT_HELLO_LEN
    } else {
        MAX_HANDSHAKE_LEN
    }
}

/// `Random` (RFC 5246 7.4.1.2): 32 bytes, the first 4 traditionally a time.
pub type Random = [u8; 32];

fn read_random(r: &mut Reader<'_>) -> Result<Random, Error> {
    let mut out = [0u8; 32];
    out.copy_from_slice(r.take(32, "random")?);
    Ok(out)
}

/// `ClientHello` (RFC 5246 7.4.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    pub client_version: ProtocolVersion,
    pub random: Random,
    /// SessionID <0..32>.
    pub session_id: Vec<u8>,
    /// CipherSuite cipher_suites<2..2^16-2>, client's preference first.
    pub cipher_suites: Vec<CipherSuite>,
    /// CompressionMethod compression_methods<1..2^8-1>; only null (0) is used.
    pub compression_methods: Vec<u8>,
    /// `None` when the hello ends without an extensions block.
    pub extensions: Option<Vec<ClientExtension>>,
}

impl ClientHello {
    pub fn extensions(&self) -> &[ClientExtension] {
        self.extensions.as_deref().unwrap_or_default()
    }
}

impl Codec for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.client_version.encode(out)?;
        out.extend_from_slice(&self.random);
        put_opaque(LengthPrefix::U8, &self.session_id, out)?;
        put_vec(LengthPrefix::U16, out, |o| {
            for s in &self.cipher_suites {
                s.encode(o)?;
            }
            Ok(())
        })?;
        put_opaque(LengthPrefix::U8, &self.compression_methods, out)?;
        put_extensions(&self.extensions, out)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let client_version = ProtocolVersion::read(r)?;
        let random = read_random(r)?;
        let session_id = r.opaque(LengthPrefix::U8, 0, 32, "session_id")?;
        let mut suites = r.sub(LengthPrefix::U16, 2, 0xfffe, "cipher_suites")?;
        if suites.left() % 2 != 0 {
            return Err(Error::decode("cipher_suites: odd length"));
        }
        let mut cipher_suites = Vec::with_capacity(suites.left() / 2);
        while suites.any_left() {
            cipher_suites.push(CipherSuite::read(&mut suites)?);
        }
        let compression_methods = r.opaque(LengthPrefix::U8, 1, 0xff, "compression_methods")?;
        let extensions = read_extensions(r)?;
        Ok(Self {
            client_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }
}

/// `ServerHello` (RFC 5246 7.4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub server_version: ProtocolVersion,
    pub random: Random,
    pub session_id: Vec<u8>,
    pub cipher_suite: CipherSuite,
    pub compression_method: u8,
    pub extensions: Option<Vec<ServerExtension>>,
}

impl ServerHello {
    pub fn extensions(&self) -> &[ServerExtension] {
        self.extensions.as_deref().unwrap_or_default()
    }
}

impl Codec for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.server_version.encode(out)?;
        out.extend_from_slice(&self.random);
        put_opaque(LengthPrefix::U8, &self.session_id, out)?;
        self.cipher_suite.encode(out)?;
        out.push(self.compression_method);
        put_extensions(&self.extensions, out)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            server_version: ProtocolVersion::read(r)?,
            random: read_random(r)?,
            session_id: r.opaque(LengthPrefix::U8, 0, 32, "session_id")?,
            cipher_suite: CipherSuite::read(r)?,
            compression_method: r.u8("compression_method")?,
            extensions: read_extensions(r)?,
        })
    }
}

/// `Certificate` (RFC 5246 7.4.2): ASN.1Cert certificate_list<0..2^24-1>,
/// the end-entity certificate first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub certificate_list: Vec<CertificateDer<'static>>,
}

impl Codec for Certificate {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        put_vec(LengthPrefix::U24, out, |o| {
            for c in &self.certificate_list {
                put_opaque(LengthPrefix::U24, c.as_ref(), o)?;
            }
            Ok(())
        })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut list = r.sub(LengthPrefix::U24, 0, 0xff_ffff, "certificate_list")?;
        let mut certificate_list = Vec::new();
        while list.any_left() {
            let der = list.opaque(LengthPrefix::U24, 1, 0xff_ffff, "ASN.1Cert")?;
            certificate_list.push(CertificateDer::from(der));
        }
        Ok(Self { certificate_list })
    }
}

/// `ServerECDHParams` (RFC 8422 5.4) for a named curve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdheParams {
    pub group: NamedGroup,
    /// ECPoint point <1..2^8-1>: the server's ephemeral public key.
    pub public: Vec<u8>,
}

impl EcdheParams {
    /// ECCurveType named_curve (RFC 8422 5.4); explicit curves are deprecated.
    const NAMED_CURVE: u8 = 3;
}

impl Codec for EcdheParams {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(Self::NAMED_CURVE);
        self.group.encode(out)?;
        put_opaque(LengthPrefix::U8, &self.public, out)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let curve_type = r.u8("ECCurveType")?;
        if curve_type != Self::NAMED_CURVE {
            return Err(Error::illegal_parameter(format!(
                "ServerKeyExchange: curve type {curve_type}, only named_curve (3) is allowed"
            )));
        }
        Ok(Self {
            group: NamedGroup::read(r)?,
            public: r.opaque(LengthPrefix::U8, 1, 0xff, "ECPoint")?,
        })
    }
}

/// `ServerKeyExchange` for ECDHE suites (RFC 8422 5.4): the server's
/// ephemeral parameters and its signature over
/// client_random + server_random + ServerECDHParams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKeyExchange {
    pub params: EcdheParams,
    /// `DigitallySigned.algorithm` (RFC 5246 4.7).
    pub scheme: SignatureScheme,
    /// `DigitallySigned.signature` <0..2^16-1>.
    pub signature: Vec<u8>,
}

impl ServerKeyExchange {
    /// The bytes the signature covers (RFC 8422 5.4).
    pub fn signed_message(
        client_random: &Random,
        server_random: &Random,
        params: &EcdheParams,
    ) -> Result<Vec<u8>, Error> {
        let mut m = Vec::with_capacity(64 + 4 + params.public.len());
        m.extend_from_slice(client_random);
        m.extend_from_slice(server_random);
        params.encode(&mut m)?;
        Ok(m)
    }
}

impl Codec for ServerKeyExchange {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.params.encode(out)?;
        self.scheme.encode(out)?;
        put_opaque(LengthPrefix::U16, &self.signature, out)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            params: EcdheParams::read(r)?,
            scheme: SignatureScheme::read(r)?,
            signature: r.opaque(LengthPrefix::U16, 0, 0xffff, "signature")?,
        })
    }
}

/// `ClientKeyExchange` (RFC 5246 7.4.7). Its body is either
/// `EncryptedPreMasterSecret` (opaque <0..2^16-1>) or an ECDH public value
/// (opaque <1..2^8-1>, RFC 8422 5.7); which one depends on the suite, which
/// the decoder cannot know, so the body is kept as it came and read by the
/// state machine that knows the suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKeyExchange {
    pub body: Vec<u8>,
}

impl ClientKeyExchange {
    pub fn rsa(encrypted_pre_master: &[u8]) -> Result<Self, Error> {
        let mut body = Vec::with_capacity(2 + encrypted_pre_master.len());
        put_opaque(LengthPrefix::U16, encrypted_pre_master, &mut body)?;
        Ok(Self { body })
    }

    pub fn ecdh(public: &[u8]) -> Result<Self, Error> {
        let mut body = Vec::with_capacity(1 + public.len());
        put_opaque(LengthPrefix::U8, public, &mut body)?;
        Ok(Self { body })
    }

    /// The RSA-encrypted pre-master secret.
    pub fn encrypted_pre_master(&self) -> Result<&[u8], Error> {
        Self::read_opaque(&self.body, LengthPrefix::U16, 0, "EncryptedPreMasterSecret")
    }

    /// The client's ECDH public value.
    pub fn ecdh_public(&self) -> Result<&[u8], Error> {
        Self::read_opaque(
            &self.body,
            LengthPrefix::U8,
            1,
            "ClientECDiffieHellmanPublic",
        )
    }

    fn read_opaque<'a>(
        body: &'a [u8],
        prefix: LengthPrefix,
        min: usize,
        what: &str,
    ) -> Result<&'a [u8], Error> {
        let mut r = Reader::new(body);
        let v = r.sub(prefix, min, 0xffff, what)?.rest();
        r.expect_empty(what)?;
        Ok(v)
    }
}

impl Codec for ClientKeyExchange {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.body);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            body: r.rest().to_vec(),
        })
    }
}

/// `Finished` (RFC 5246 7.4.9): verify_data, 12 bytes for every suite here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub verify_data: Vec<u8>,
}

impl Codec for Finished {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.verify_data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            verify_data: r.rest().to_vec(),
        })
    }
}

/// The body of a handshake message, by `HandshakeType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakePayload {
    ClientHello(ClientHello),
    ServerHello(ServerHello),
    Certificate(Certificate),
    ServerKeyExchange(ServerKeyExchange),
    ServerHelloDone,
    ClientKeyExchange(ClientKeyExchange),
    Finished(Finished),
    /// A type this engine does not handle (HelloRequest, CertificateRequest,
    /// ...), kept so the state machine can answer unexpected_message.
    Unknown {
        typ: HandshakeType,
        body: Vec<u8>,
    },
}

/// `Handshake` (RFC 5246 7.4): msg_type, uint24 length, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeMessage {
    pub payload: HandshakePayload,
}

impl HandshakeMessage {
    pub fn typ(&self) -> HandshakeType {
        match &self.payload {
            HandshakePayload::ClientHello(_) => HandshakeType::CLIENT_HELLO,
            HandshakePayload::ServerHello(_) => HandshakeType::SERVER_HELLO,
            HandshakePayload::Certificate(_) => HandshakeType::CERTIFICATE,
            HandshakePayload::ServerKeyExchange(_) => HandshakeType::SERVER_KEY_EXCHANGE,
            HandshakePayload::ServerHelloDone => HandshakeType::SERVER_HELLO_DONE,
            HandshakePayload::ClientKeyExchange(_) => HandshakeType::CLIENT_KEY_EXCHANGE,
            HandshakePayload::Finished(_) => HandshakeType::FINISHED,
            HandshakePayload::Unknown { typ, .. } => *typ,
        }
    }
}

impl From<HandshakePayload> for HandshakeMessage {
    fn from(payload: HandshakePayload) -> Self {
        Self { payload }
    }
}

impl Codec for HandshakeMessage {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.typ().encode(out)?;
        // The body<0..2^24-1> behind a 3-byte length, like any vector.
        put_vec(LengthPrefix::U24, out, |out| match &self.payload {
            HandshakePayload::ClientHello(m) => m.encode(out),
            HandshakePayload::ServerHello(m) => m.encode(out),
            HandshakePayload::Certificate(m) => m.encode(out),
            HandshakePayload::ServerKeyExchange(m) => m.encode(out),
            HandshakePayload::ServerHelloDone => Ok(()),
            HandshakePayload::ClientKeyExchange(m) => m.encode(out),
            HandshakePayload::Finished(m) => m.encode(out),
            HandshakePayload::Unknown { body, .. } => {
                out.extend_from_slice(body);
                Ok(())
            }
        })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let typ = HandshakeType::read(r)?;
        let mut body = r.sub(
            LengthPrefix::U24,
            0,
            max_handshake_len(typ),
            "handshake message",
        )?;
        let b = &mut body;
        let payload = match typ {
            HandshakeType::CLIENT_HELLO => HandshakePayload::ClientHello(ClientHello::read(b)?),
            HandshakeType::SERVER_HELLO => HandshakePayload::ServerHello(ServerHello::read(b)?),
            HandshakeType::CERTIFICATE => HandshakePayload::Certificate(Certificate::read(b)?),
            HandshakeType::SERVER_KEY_EXCHANGE => {
                HandshakePayload::ServerKeyExchange(ServerKeyExchange::read(b)?)
            }
            HandshakeType::SERVER_HELLO_DONE => HandshakePayload::ServerHelloDone,
            HandshakeType::CLIENT_KEY_EXCHANGE => {
                HandshakePayload::ClientKeyExchange(ClientKeyExchange::read(b)?)
            }
            HandshakeType::FINISHED => HandshakePayload::Finished(Finished::read(b)?),
            _ => HandshakePayload::Unknown {
                typ,
                body: b.rest().to_vec(),
            },
        };
        body.expect_empty(&format!("{typ}"))?;
        Ok(Self { payload })
    }
}
