//! Hello extensions (RFC 5246 7.4.1.4) of the six kinds this engine speaks,
//! plus any other kept as opaque bytes: RFC 5246 says an extension the
//! receiver does not understand is ignored, so it must survive decoding
//! (and re-encode byte for byte, for the transcript).
//!
//! The client's and the server's forms differ (server_name is a list in the
//! ClientHello and empty in the ServerHello), hence two enums, as in rustls.

use super::codec::{Codec, LengthPrefix, Reader, put_opaque, put_vec};
use super::enums::{EcPointFormat, ExtensionType, NamedGroup, SignatureScheme};
use crate::error::Error;

/// One entry of the server_name extension (RFC 6066 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNameEntry {
    /// 0 is host_name; other values are kept as they came.
    pub name_type: u8,
    pub name: Vec<u8>,
}

impl ServerNameEntry {
    pub const HOST_NAME: u8 = 0;

    pub fn host_name(name: &str) -> Self {
        Self {
            name_type: Self::HOST_NAME,
            name: name.as_bytes().to_vec(),
        }
    }
}

/// An extension in a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientExtension {
    /// server_name (RFC 6066 3): ServerNameList <1..2^16-1>.
    ServerName(Vec<ServerNameEntry>),
    /// supported_groups (RFC 8422 5.1.1): NamedGroup <2..2^16-1>.
    SupportedGroups(Vec<NamedGroup>),
    /// ec_point_formats (RFC 8422 5.1.2): ECPointFormat <1..2^8-1>.
    EcPointFormats(Vec<EcPointFormat>),
    /// signature_algorithms (RFC 5246 7.4.1.4.1): <2..2^16-2>.
    SignatureAlgorithms(Vec<SignatureScheme>),
    /// extended_master_secret (RFC 7627 5.1): empty.
    ExtendedMasterSecret,
    /// renegotiation_info (RFC 5746 3.2): renegotiated_connection <0..255>,
    /// empty on an initial handshake.
    RenegotiationInfo(Vec<u8>),
    /// Anything else, kept and ignored.
    Unknown { typ: ExtensionType, data: Vec<u8> },
}

/// An extension in a ServerHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerExtension {
    /// server_name acknowledged (RFC 6066 3): empty.
    ServerNameAck,
    EcPointFormats(Vec<EcPointFormat>),
    ExtendedMasterSecret,
    RenegotiationInfo(Vec<u8>),
    Unknown {
        typ: ExtensionType,
        data: Vec<u8>,
    },
}

fn read_list<T: Codec>(r: &mut Reader<'_>) -> Result<Vec<T>, Error> {
    let mut out = Vec::new();
    while r.any_left() {
        out.push(T::read(r)?);
    }
    Ok(out)
}

fn put_list<T: Codec>(items: &[T], out: &mut Vec<u8>) -> Result<(), Error> {
    for i in items {
        i.encode(out)?;
    }
    Ok(())
}

/// Writes `extension_type` and `extension_data<0..2^16-1>`.
fn put_extension(
    typ: ExtensionType,
    out: &mut Vec<u8>,
    data: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    typ.encode(out)?;
    put_vec(LengthPrefix::U16, out, data)
}

impl ClientExtension {
    pub fn typ(&self) -> ExtensionType {
        match self {
            Self::ServerName(_) => ExtensionType::SERVER_NAME,
            Self::SupportedGroups(_) => ExtensionType::SUPPORTED_GROUPS,
            Self::EcPointFormats(_) => ExtensionType::EC_POINT_FORMATS,
            Self::SignatureAlgorithms(_) => ExtensionType::SIGNATURE_ALGORITHMS,
            Self::ExtendedMasterSecret => ExtensionType::EXTENDED_MASTER_SECRET,
            Self::RenegotiationInfo(_) => ExtensionType::RENEGOTIATION_INFO,
            Self::Unknown { typ, .. } => *typ,
        }
    }
}

impl Codec for ClientExtension {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        put_extension(self.typ(), out, |o| match self {
            Self::ServerName(names) => put_vec(LengthPrefix::U16, o, |o| {
                for n in names {
                    o.push(n.name_type);
                    put_opaque(LengthPrefix::U16, &n.name, o)?;
                }
                Ok(())
            }),
            Self::SupportedGroups(g) => put_vec(LengthPrefix::U16, o, |o| put_list(g, o)),
            Self::EcPointFormats(f) => put_vec(LengthPrefix::U8, o, |o| put_list(f, o)),
            Self::SignatureAlgorithms(s) => put_vec(LengthPrefix::U16, o, |o| put_list(s, o)),
            Self::ExtendedMasterSecret => Ok(()),
            Self::RenegotiationInfo(v) => put_opaque(LengthPrefix::U8, v, o),
            Self::Unknown { data, .. } => {
                o.extend_from_slice(data);
                Ok(())
            }
        })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let typ = ExtensionType::read(r)?;
        let mut data = r.sub(LengthPrefix::U16, 0, 0xffff, "extension_data")?;
        let d = &mut data;
        let ext = match typ {
            ExtensionType::SERVER_NAME => {
                let mut list = d.sub(LengthPrefix::U16, 1, 0xffff, "server_name_list")?;
                let mut names = Vec::new();
                while list.any_left() {
                    let name_type = list.u8("server_name name_type")?;
                    let name =
                        list.opaque(LengthPrefix::U16, 1, 0xffff, "server_name host_name")?;
                    names.push(ServerNameEntry { name_type, name });
                }
                Self::ServerName(names)
            }
            ExtensionType::SUPPORTED_GROUPS => {
                let mut l = d.sub(LengthPrefix::U16, 2, 0xffff, "supported_groups")?;
                Self::SupportedGroups(read_list(&mut l)?)
            }
            ExtensionType::EC_POINT_FORMATS => {
                let mut l = d.sub(LengthPrefix::U8, 1, 0xff, "ec_point_formats")?;
                Self::EcPointFormats(read_list(&mut l)?)
            }
            ExtensionType::SIGNATURE_ALGORITHMS => {
                let mut l = d.sub(LengthPrefix::U16, 2, 0xfffe, "signature_algorithms")?;
                Self::SignatureAlgorithms(read_list(&mut l)?)
            }
            ExtensionType::EXTENDED_MASTER_SECRET => Self::ExtendedMasterSecret,
            ExtensionType::RENEGOTIATION_INFO => Self::RenegotiationInfo(d.opaque(
                LengthPrefix::U8,
                0,
                0xff,
                "renegotiation_info",
            )?),
            _ => Self::Unknown {
                typ,
                data: d.rest().to_vec(),
            },
        };
        // The name is formatted only for the error: a hello may carry
        // 16,000 extensions.
        if data.any_left() {
            data.expect_empty(&format!("extension {typ}"))?;
        }
        Ok(ext)
    }
}

impl ServerExtension {
    pub fn typ(&self) -> ExtensionType {
        match self {
            Self::ServerNameAck => ExtensionType::SERVER_NAME,
            Self::EcPointFormats(_) => ExtensionType::EC_POINT_FORMATS,
            Self::ExtendedMasterSecret => ExtensionType::EXTENDED_MASTER_SECRET,
            Self::RenegotiationInfo(_) => ExtensionType::RENEGOTIATION_INFO,
            Self::Unknown { typ, .. } => *typ,
        }
    }
}

impl Codec for ServerExtension {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        put_extension(self.typ(), out, |o| match self {
            Self::ServerNameAck | Self::ExtendedMasterSecret => Ok(()),
            Self::EcPointFormats(f) => put_vec(LengthPrefix::U8, o, |o| put_list(f, o)),
            Self::RenegotiationInfo(v) => put_opaque(LengthPrefix::U8, v, o),
            Self::Unknown { data, .. } => {
                o.extend_from_slice(data);
                Ok(())
            }
        })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let typ = ExtensionType::read(r)?;
        let mut data = r.sub(LengthPrefix::U16, 0, 0xffff, "extension_data")?;
        let d = &mut data;
        let ext = match typ {
            ExtensionType::SERVER_NAME => Self::ServerNameAck,
            ExtensionType::EC_POINT_FORMATS => {
                let mut l = d.sub(LengthPrefix::U8, 1, 0xff, "ec_point_formats")?;
                Self::EcPointFormats(read_list(&mut l)?)
            }
            ExtensionType::EXTENDED_MASTER_SECRET => Self::ExtendedMasterSecret,
            ExtensionType::RENEGOTIATION_INFO => Self::RenegotiationInfo(d.opaque(
                LengthPrefix::U8,
                0,
                0xff,
                "renegotiation_info",
            )?),
            _ => Self::Unknown {
                typ,
                data: d.rest().to_vec(),
            },
        };
        // The name is formatted only for the error: a hello may carry
        // 16,000 extensions.
        if data.any_left() {
            data.expect_empty(&format!("extension {typ}"))?;
        }
        Ok(ext)
    }
}

/// Reads `Extension extensions<0..2^16-1>` if any bytes are left: RFC 5246
/// 7.4.1.2 lets a hello end without the extensions block. `None` (absent)
/// and `Some(vec![])` (present, empty) encode differently, so both are kept.
pub(crate) fn read_extensions<T: Codec>(r: &mut Reader<'_>) -> Result<Option<Vec<T>>, Error> {
    if !r.any_left() {
        return Ok(None);
    }
    let mut l = r.sub(LengthPrefix::U16, 0, 0xffff, "extensions")?;
    Ok(Some(read_list(&mut l)?))
}

pub(crate) fn put_extensions<T: Codec>(
    exts: &Option<Vec<T>>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match exts {
        Some(exts) => put_vec(LengthPrefix::U16, out, |o| put_list(exts, o)),
        None => Ok(()),
    }
}
