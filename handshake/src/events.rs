//! Events: what the engine tells its caller about each of the thirteen
//! steps of `docs/DESIGN.md`, in the order they happen, for a student to
//! follow the handshake. They never carry a secret: those are reachable only
//! through [`crate::Connection::secrets`], an explicit call.

use crate::error::Error;
use crate::msgs::enums::{
    CipherSuite, ExtensionType, NamedGroup, ProtocolVersion, SignatureScheme,
};
use crate::msgs::message::Alert;
use crate::suites::{HashAlgorithm, KeyExchange};
use crate::verify::CertificateInfo;

/// [`Step`], [`Step::ALL`] and the names from one table: no list can miss a step.
macro_rules! steps {
    ($($variant:ident = $number:literal => $name:literal,)*) => {
        /// The thirteen steps, numbered as in `docs/DESIGN.md` ("The thirteen steps").
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Step {
            $($variant = $number,)*
        }

        impl Step {
            pub const ALL: [Step; 13] = [$(Self::$variant),*];

            /// The step's name in reports and logs.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

steps! {
    ClientHello = 1 => "Client Hello",
    ServerHello = 2 => "Server Hello",
    ServerCertificate = 3 => "Server Certificate",
    ServerHelloDone = 4 => "Server Hello Done",
    ClientVerification = 5 => "Client Verification",
    GenPreMaster = 6 => "Gen pre-master",
    ClientKeyExchange = 7 => "Client Key Exchange",
    GenSecretKey = 8 => "Gen secret key",
    ClientChangeCipherSpec = 9 => "Change Cipher Spec",
    ClientEncryptedHandshakeMessage = 10 => "Encrypted Handshake Message",
    ServerChangeCipherSpec = 11 => "Change Cipher Spec",
    ServerEncryptedHandshakeMessage = 12 => "Encrypted Handshake Message",
    Finish = 13 => "Finish",
}

impl Step {
    /// 1 to 13.
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// `10 (Encrypted Handshake Message)`: reads well after "step".
impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.number(), self.name())
    }
}

/// How this side took part in a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// This side sent the step's message.
    Sent,
    /// This side received and accepted the step's message.
    Received,
    /// Work done locally, nothing on the wire.
    Local,
}

/// One extension as offered or answered, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionInfo {
    pub typ: ExtensionType,
    /// A short reading of its content, e.g. `x25519, secp256r1`: at most
    /// [`MAX_NAMES`] code points or [`crate::quote::MAX_ITEMS`] names of
    /// [`crate::quote::MAX_TEXT`] bytes each, whatever the peer sent.
    pub summary: String,
}

/// A hello message as a student reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloInfo {
    pub version: ProtocolVersion,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    /// ClientHello: every suite offered, in order; ServerHello: the one chosen.
    pub cipher_suites: Vec<CipherSuite>,
    pub extensions: Vec<ExtensionInfo>,
    /// The message's RFC 5246 encoding (handshake header included), as hashed
    /// into the transcript.
    pub message: Vec<u8>,
}

/// The ECDHE parameters of a ServerKeyExchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKeyExchangeInfo {
    pub group: NamedGroup,
    /// The server's ephemeral public key.
    pub public: Vec<u8>,
    pub scheme: SignatureScheme,
    pub signature: Vec<u8>,
    pub message: Vec<u8>,
}

/// What happened in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepDetail {
    ClientHello(HelloInfo),
    ServerHello {
        hello: HelloInfo,
        /// Both sides asked for RFC 7627's extended master secret.
        extended_master_secret: bool,
    },
    ServerCertificate {
        /// End entity first.
        chain: Vec<CertificateInfo>,
        message: Vec<u8>,
    },
    ServerHelloDone {
        /// Present for ECDHE suites: it precedes ServerHelloDone.
        key_exchange: Option<ServerKeyExchangeInfo>,
        message: Vec<u8>,
    },
    ClientVerification {
        /// The name the certificate was checked against.
        server_name: String,
        /// Subject of the verified end-entity certificate.
        subject: String,
        /// For ECDHE, the ServerKeyExchange signature verified with the
        /// certificate's key.
        signature_scheme: Option<SignatureScheme>,
    },
    GenPreMaster {
        key_exchange: KeyExchange,
        /// Length of the pre-master secret: 48 for RSA, the ECDH shared
        /// secret's length for ECDHE.
        length: usize,
        /// ECDHE: the group and the client's ephemeral public key.
        group: Option<NamedGroup>,
        client_public: Option<Vec<u8>>,
    },
    ClientKeyExchange {
        key_exchange: KeyExchange,
        /// RSA: the encrypted pre-master's length (the modulus size).
        encrypted_pre_master_len: Option<usize>,
        /// ECDHE: the client's public key.
        client_public: Option<Vec<u8>>,
        message: Vec<u8>,
    },
    GenSecretKey {
        extended_master_secret: bool,
        prf: HashAlgorithm,
        key_block_len: usize,
        enc_key_len: usize,
        fixed_iv_len: usize,
    },
    ChangeCipherSpec,
    EncryptedHandshakeMessage {
        /// The Finished's verify_data (12 bytes).
        verify_data: Vec<u8>,
        /// The protected record fragment as it travels.
        record: Vec<u8>,
    },
    Finish {
        cipher_suite: CipherSuite,
        extended_master_secret: bool,
    },
}

/// One step done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepEvent {
    pub step: Step,
    pub direction: Direction,
    pub detail: StepDetail,
    /// When the step finished, read from the clock given with
    /// [`crate::Connection::with_clock`]; `None` without one. Several
    /// steps can finish in one `handle` call (the client does steps 5 to
    /// 10 on ServerHelloDone), so only the engine can time them apart.
    pub at: Option<std::time::Duration>,
}

/// What the engine reports, polled with [`crate::Connection::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Step(StepEvent),
    /// Application data from the peer, decrypted.
    ApplicationData(Vec<u8>),
    /// The peer closed the connection with close_notify.
    PeerClosed,
    /// A warning alert from the peer, ignored.
    Warning(Alert),
    /// The session failed at `step`; a fatal alert was sent (for a local
    /// error) or received.
    Failed {
        step: Step,
        error: Error,
    },
}

/// Code points as text, comma-separated: IANA names, or type and hex
/// value; at most [`MAX_NAMES`] of them, then "… and N more" (a peer may
/// offer 32,000 suites; a log line or report field must stay small).
pub fn names<T: std::fmt::Debug>(items: &[T]) -> String {
    crate::quote::list_with(items, MAX_NAMES, |i, out| {
        std::fmt::Write::write_fmt(out, format_args!("{i:?}"))
    })
}

/// How many code points [`names`] lists: more than any real client offers
/// (OpenSSL's default list is about 30 suites).
pub const MAX_NAMES: usize = 64;

impl From<&crate::msgs::extensions::ClientExtension> for ExtensionInfo {
    fn from(ext: &crate::msgs::extensions::ClientExtension) -> Self {
        use crate::msgs::extensions::ClientExtension as E;
        let summary = match ext {
            // Each name and their number quoted within bounds: a peer may
            // send a 64 KB name or thousands of them.
            E::ServerName(names) => {
                crate::quote::list_with(names, crate::quote::MAX_ITEMS, |n, out| {
                    out.push_str(&crate::quote::bytes(&n.name));
                    Ok(())
                })
            }
            E::SupportedGroups(g) => names(g),
            E::EcPointFormats(f) => names(f),
            E::SignatureAlgorithms(s) => names(s),
            E::ExtendedMasterSecret => String::new(),
            E::RenegotiationInfo(v) if v.is_empty() => "initial handshake".into(),
            E::RenegotiationInfo(v) => format!("{} bytes", v.len()),
            E::Unknown { data, .. } => format!("{} bytes, ignored", data.len()),
        };
        Self {
            typ: ext.typ(),
            summary,
        }
    }
}

impl From<&crate::msgs::extensions::ServerExtension> for ExtensionInfo {
    fn from(ext: &crate::msgs::extensions::ServerExtension) -> Self {
        use crate::msgs::extensions::ServerExtension as E;
        let summary = match ext {
            E::ServerNameAck => "acknowledged".into(),
            E::EcPointFormats(f) => names(f),
            E::ExtendedMasterSecret => String::new(),
            E::RenegotiationInfo(v) if v.is_empty() => "initial handshake".into(),
            E::RenegotiationInfo(v) => format!("{} bytes", v.len()),
            E::Unknown { data, .. } => format!("{} bytes", data.len()),
        };
        Self {
            typ: ext.typ(),
            summary,
        }
    }
}
