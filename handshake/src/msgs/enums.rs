//! Code points from the IANA TLS registries, as newtypes that keep values
//! they do not know: a peer may offer suites, groups or extensions this
//! engine never heard of (GREASE among them), and RFC 5246 says to ignore
//! them, not to fail.

use super::codec::{Codec, Reader};
use crate::error::Error;

macro_rules! code_points {
    ($(
        $(#[$meta:meta])*
        $name:ident($repr:ident) {
            $( $(#[$vmeta:meta])* $konst:ident = $value:literal => $text:literal, )*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$vmeta])* pub const $konst: Self = Self($value); )*

            /// The registry name, or `None` for a value this engine does not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }

            /// Every value this engine knows, in registry order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}(0x{:0width$x})", stringify!($name), self.0,
                                   width = 2 * std::mem::size_of::<$repr>()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl Codec for $name {
            fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
                out.extend_from_slice(&self.0.to_be_bytes());
                Ok(())
            }
            fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
                // `Reader::u8` / `Reader::u16`: the method is named as the type.
                Ok(Self(r.$repr(stringify!($name))?))
            }
        }
    )*};
}

code_points! {
    /// `ProtocolVersion` (RFC 5246 6.2.1): {major, minor} as one u16.
    ProtocolVersion(u16) {
        SSLV3 = 0x0300 => "SSLv3",
        TLSV1_0 = 0x0301 => "TLSv1.0",
        TLSV1_1 = 0x0302 => "TLSv1.1",
        TLSV1_2 = 0x0303 => "TLSv1.2",
        TLSV1_3 = 0x0304 => "TLSv1.3",
    }

    /// `ContentType` of a record (RFC 5246 6.2.1).
    ContentType(u8) {
        CHANGE_CIPHER_SPEC = 20 => "change_cipher_spec",
        ALERT = 21 => "alert",
        HANDSHAKE = 22 => "handshake",
        APPLICATION_DATA = 23 => "application_data",
    }

    /// `HandshakeType` (RFC 5246 7.4).
    HandshakeType(u8) {
        HELLO_REQUEST = 0 => "hello_request",
        CLIENT_HELLO = 1 => "client_hello",
        SERVER_HELLO = 2 => "server_hello",
        CERTIFICATE = 11 => "certificate",
        SERVER_KEY_EXCHANGE = 12 => "server_key_exchange",
        CERTIFICATE_REQUEST = 13 => "certificate_request",
        SERVER_HELLO_DONE = 14 => "server_hello_done",
        CERTIFICATE_VERIFY = 15 => "certificate_verify",
        CLIENT_KEY_EXCHANGE = 16 => "client_key_exchange",
        FINISHED = 20 => "finished",
    }

    /// `AlertLevel` (RFC 5246 7.2).
    AlertLevel(u8) {
        WARNING = 1 => "warning",
        FATAL = 2 => "fatal",
    }

    /// `AlertDescription` (RFC 5246 7.2).
    AlertDescription(u8) {
        CLOSE_NOTIFY = 0 => "close_notify",
        UNEXPECTED_MESSAGE = 10 => "unexpected_message",
        BAD_RECORD_MAC = 20 => "bad_record_mac",
        RECORD_OVERFLOW = 22 => "record_overflow",
        HANDSHAKE_FAILURE = 40 => "handshake_failure",
        BAD_CERTIFICATE = 42 => "bad_certificate",
        UNSUPPORTED_CERTIFICATE = 43 => "unsupported_certificate",
        CERTIFICATE_REVOKED = 44 => "certificate_revoked",
        CERTIFICATE_EXPIRED = 45 => "certificate_expired",
        CERTIFICATE_UNKNOWN = 46 => "certificate_unknown",
        ILLEGAL_PARAMETER = 47 => "illegal_parameter",
        UNKNOWN_CA = 48 => "unknown_ca",
        ACCESS_DENIED = 49 => "access_denied",
        DECODE_ERROR = 50 => "decode_error",
        DECRYPT_ERROR = 51 => "decrypt_error",
        PROTOCOL_VERSION = 70 => "protocol_version",
        INSUFFICIENT_SECURITY = 71 => "insufficient_security",
        INTERNAL_ERROR = 80 => "internal_error",
        USER_CANCELED = 90 => "user_canceled",
        NO_RENEGOTIATION = 100 => "no_renegotiation",
        UNSUPPORTED_EXTENSION = 110 => "unsupported_extension",
        UNRECOGNIZED_NAME = 112 => "unrecognized_name",
    }

    /// `CipherSuite` (IANA TLS Cipher Suites registry). The constants are
    /// the suites this engine implements plus the signalling value of RFC 5746.
    CipherSuite(u16) {
        TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        TLS_RSA_WITH_AES_128_GCM_SHA256 = 0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        TLS_RSA_WITH_AES_256_GCM_SHA384 = 0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    }

    /// `NamedGroup` (RFC 8422 5.1.1, IANA Supported Groups registry).
    NamedGroup(u16) {
        SECP256R1 = 0x0017 => "secp256r1",
        SECP384R1 = 0x0018 => "secp384r1",
        SECP521R1 = 0x0019 => "secp521r1",
        X25519 = 0x001d => "x25519",
        X448 = 0x001e => "x448",
    }

    /// `SignatureScheme` (RFC 8446 4.2.3): in TLS 1.2 the same two bytes are
    /// the `SignatureAndHashAlgorithm` {hash, signature} pair of RFC 5246 7.4.1.4.1.
    SignatureScheme(u16) {
        RSA_PKCS1_SHA1 = 0x0201 => "rsa_pkcs1_sha1",
        ECDSA_SHA1 = 0x0203 => "ecdsa_sha1",
        RSA_PKCS1_SHA256 = 0x0401 => "rsa_pkcs1_sha256",
        ECDSA_NISTP256_SHA256 = 0x0403 => "ecdsa_secp256r1_sha256",
        RSA_PKCS1_SHA384 = 0x0501 => "rsa_pkcs1_sha384",
        ECDSA_NISTP384_SHA384 = 0x0503 => "ecdsa_secp384r1_sha384",
        RSA_PKCS1_SHA512 = 0x0601 => "rsa_pkcs1_sha512",
        ECDSA_NISTP521_SHA512 = 0x0603 => "ecdsa_secp521r1_sha512",
        RSA_PSS_RSAE_SHA256 = 0x0804 => "rsa_pss_rsae_sha256",
        RSA_PSS_RSAE_SHA384 = 0x0805 => "rsa_pss_rsae_sha384",
        RSA_PSS_RSAE_SHA512 = 0x0806 => "rsa_pss_rsae_sha512",
        ED25519 = 0x0807 => "ed25519",
    }

    /// `ExtensionType` (IANA TLS ExtensionType Values registry).
    ExtensionType(u16) {
        SERVER_NAME = 0 => "server_name",
        SUPPORTED_GROUPS = 10 => "supported_groups",
        EC_POINT_FORMATS = 11 => "ec_point_formats",
        SIGNATURE_ALGORITHMS = 13 => "signature_algorithms",
        EXTENDED_MASTER_SECRET = 23 => "extended_master_secret",
        SUPPORTED_VERSIONS = 43 => "supported_versions",
        RENEGOTIATION_INFO = 0xff01 => "renegotiation_info",
    }

    /// `ECPointFormat` (RFC 8422 5.1.2).
    EcPointFormat(u8) {
        UNCOMPRESSED = 0 => "uncompressed",
        ANSIX962_COMPRESSED_PRIME = 1 => "ansiX962_compressed_prime",
        ANSIX962_COMPRESSED_CHAR2 = 2 => "ansiX962_compressed_char2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown_values_print() {
        assert_eq!(
            format!("{:?}", CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(format!("{:?}", CipherSuite(0x0a0a)), "CipherSuite(0x0a0a)");
        assert_eq!(format!("{}", AlertDescription(7)), "AlertDescription(0x07)");
        assert_eq!(
            CipherSuite(0xc02f),
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn round_trip_keeps_unknown_values() {
        let v = NamedGroup(0x1234);
        assert_eq!(
            NamedGroup::read_bytes(&v.get_encoding().unwrap()).unwrap(),
            v
        );
        assert_eq!(v.get_encoding().unwrap(), vec![0x12, 0x34]);
    }
}
