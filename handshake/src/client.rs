//! The client's handshake, one state per expected message (as in rustls'
//! `client/tls12.rs`): each transition consumes its state and moves what
//! the next step needs into the next one, so an out-of-order message has
//! nowhere to go but `unexpected_message`.
//!
//! ```text
//! ClientHello ->
//!                 <- ServerHello, Certificate, [ServerKeyExchange], ServerHelloDone
//! [verify, pre-master] ClientKeyExchange, ChangeCipherSpec, Finished ->
//!                 <- ChangeCipherSpec, Finished
//! ```

use std::sync::Arc;

use rustls_pki_types::{ServerName, UnixTime};
use zeroize::Zeroizing;

use crate::Role;
use crate::config::ClientConfig;
use crate::conn::{Connection, Core, State, unexpected, unexpected_type};
use crate::error::Error;
use crate::events::{Direction, ExtensionInfo, HelloInfo, ServerKeyExchangeInfo, Step, StepDetail};
use crate::kx::{EcdheKeyPair, rsa_encrypt_pre_master, rsa_pre_master};
use crate::msgs::codec::Codec;
use crate::msgs::enums::{
    AlertDescription, EcPointFormat, ExtensionType, HandshakeType, ProtocolVersion,
};
use crate::msgs::extensions::{ClientExtension, ServerExtension, ServerNameEntry};
use crate::msgs::handshake::{
    Certificate, ClientHello, ClientKeyExchange, HandshakeMessage, HandshakePayload, Random,
    ServerHello, ServerKeyExchange,
};
use crate::msgs::message::Message;
use crate::rand::Rng;
use crate::suites::{KeyExchange, SuiteParams, lookup};
use crate::transcript::Transcript;
use crate::verify::{CertificateInfo, certificate_info};

impl Connection {
    /// Starts a client session: the ClientHello is queued at once.
    /// `now` is the time certificates are checked against.
    pub fn client(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        now: UnixTime,
        rng: Box<dyn Rng>,
    ) -> Result<Self, Error> {
        Self::new(Role::Client, rng, config.faults, |core| {
            let state = send_client_hello(core, config, server_name, now)?;
            Ok(State::Client(Box::new(ClientState::ExpectServerHello(
                state,
            ))))
        })
    }
}

/// What the whole client handshake carries along.
pub(crate) struct Hs {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    now: UnixTime,
    client_random: Random,
    transcript: Transcript,
}

// Each variant is named for the message it waits for, as in rustls.
#[allow(clippy::enum_variant_names)]
pub(crate) enum ClientState {
    ExpectServerHello(Hs),
    ExpectCertificate(Negotiated),
    ExpectServerKeyExchange(WithCertificate),
    ExpectServerHelloDone(WithCertificate, Option<ServerKeyExchange>),
    ExpectChangeCipherSpec(Hs),
    ExpectFinished(Hs),
}

/// After the ServerHello: the suite and the server's random.
pub(crate) struct Negotiated {
    hs: Hs,
    suite: &'static SuiteParams,
    server_random: Random,
    extended_master_secret: bool,
}

/// After the Certificate.
pub(crate) struct WithCertificate {
    neg: Negotiated,
    certificate: Certificate,
    /// The end-entity certificate as parsed for step 3, kept for the key
    /// type and keyUsage checks of step 5 (parsing it again there cost a
    /// few percent of a whole session).
    end_entity: CertificateInfo,
}

impl ClientState {
    pub(crate) fn handle(self, core: &mut Core, msg: Message) -> Result<State, Error> {
        let next = match (self, msg) {
            (Self::ExpectServerHello(hs), Message::Handshake(m)) => {
                let typ = m.typ();
                let HandshakePayload::ServerHello(sh) = m.payload else {
                    return Err(unexpected_type(core, Step::ServerHello, typ));
                };
                Self::ExpectCertificate(on_server_hello(core, hs, sh)?)
            }
            (Self::ExpectCertificate(mut neg), Message::Handshake(m)) => {
                let typ = m.typ();
                let message = neg.hs.transcript.add(&m)?;
                let HandshakePayload::Certificate(certificate) = m.payload else {
                    return Err(unexpected_type(core, Step::ServerCertificate, typ));
                };
                core.at(Step::ServerCertificate);
                if certificate.certificate_list.is_empty() {
                    return Err(Error::new(
                        AlertDescription::BAD_CERTIFICATE,
                        "the server sent an empty certificate list",
                    ));
                }
                let chain = certificate
                    .certificate_list
                    .iter()
                    .map(|c| certificate_info(c.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?;
                let end_entity = chain
                    .first()
                    .cloned()
                    .ok_or_else(|| Error::internal("certificate list emptied"))?;
                core.emit(
                    Direction::Received,
                    StepDetail::ServerCertificate { chain, message },
                );
                let with = WithCertificate {
                    neg,
                    certificate,
                    end_entity,
                };
                if with.neg.suite.kx.is_ecdhe() {
                    Self::ExpectServerKeyExchange(with)
                } else {
                    Self::ExpectServerHelloDone(with, None)
                }
            }
            (Self::ExpectServerKeyExchange(mut with), Message::Handshake(m)) => {
                core.at(Step::ServerHelloDone);
                let HandshakePayload::ServerKeyExchange(ske) = &m.payload else {
                    return Err(unexpected_type(core, Step::ServerHelloDone, m.typ()));
                };
                let hs = &with.neg.hs;
                if !hs.config.groups.contains(&ske.params.group) {
                    return Err(Error::illegal_parameter(format!(
                        "ServerKeyExchange uses group {}, which was not offered",
                        ske.params.group
                    )));
                }
                if !hs.config.signature_schemes.contains(&ske.scheme) {
                    return Err(Error::illegal_parameter(format!(
                        "ServerKeyExchange signed with {}, which was not offered",
                        ske.scheme
                    )));
                }
                let ske = ske.clone();
                with.neg.hs.transcript.add(&m)?;
                Self::ExpectServerHelloDone(with, Some(ske))
            }
            (Self::ExpectServerHelloDone(with, ske), Message::Handshake(m)) => {
                core.at(Step::ServerHelloDone);
                if !matches!(m.payload, HandshakePayload::ServerHelloDone) {
                    return Err(unexpected_type(core, Step::ServerHelloDone, m.typ()));
                }
                Self::ExpectChangeCipherSpec(on_server_hello_done(core, with, ske, &m)?)
            }
            (Self::ExpectChangeCipherSpec(hs), Message::ChangeCipherSpec) => {
                core.receive_change_cipher_spec()?;
                Self::ExpectFinished(hs)
            }
            (Self::ExpectFinished(hs), Message::Protected(rec)) => {
                if core.receive_finished(&rec, &hs.transcript)?.is_none() {
                    // Split over records: the rest is still to come.
                    Self::ExpectFinished(hs)
                } else {
                    return Ok(core.finish());
                }
            }
            (state, msg) => return Err(unexpected(core, state.expecting(), &msg)),
        };
        Ok(State::Client(Box::new(next)))
    }

    pub(crate) fn expecting(&self) -> Step {
        match self {
            Self::ExpectServerHello(_) => Step::ServerHello,
            Self::ExpectCertificate(_) => Step::ServerCertificate,
            Self::ExpectServerKeyExchange(_) | Self::ExpectServerHelloDone(..) => {
                Step::ServerHelloDone
            }
            Self::ExpectChangeCipherSpec(_) => Step::ServerChangeCipherSpec,
            Self::ExpectFinished(_) => Step::ServerEncryptedHandshakeMessage,
        }
    }

    /// The plaintext handshake message type this state waits for, checked
    /// before the message's body is decoded.
    pub(crate) fn expected_handshake(&self) -> Option<HandshakeType> {
        match self {
            Self::ExpectServerHello(_) => Some(HandshakeType::SERVER_HELLO),
            Self::ExpectCertificate(_) => Some(HandshakeType::CERTIFICATE),
            Self::ExpectServerKeyExchange(_) => Some(HandshakeType::SERVER_KEY_EXCHANGE),
            Self::ExpectServerHelloDone(..) => Some(HandshakeType::SERVER_HELLO_DONE),
            Self::ExpectChangeCipherSpec(_) | Self::ExpectFinished(_) => None,
        }
    }
}

fn send_client_hello(
    core: &mut Core,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    now: UnixTime,
) -> Result<Hs, Error> {
    core.at(Step::ClientHello);
    check_hello_lists(&config)?;
    let mut client_random = [0u8; 32];
    core.rng.fill(&mut client_random)?;

    let mut extensions = Vec::new();
    // RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted".
    if let ServerName::DnsName(name) = &server_name {
        extensions.push(ClientExtension::ServerName(vec![
            ServerNameEntry::host_name(name.as_ref()),
        ]));
    }
    extensions.push(ClientExtension::SupportedGroups(config.groups.clone()));
    extensions.push(ClientExtension::EcPointFormats(vec![
        EcPointFormat::UNCOMPRESSED,
    ]));
    extensions.push(ClientExtension::SignatureAlgorithms(
        config.signature_schemes.clone(),
    ));
    if config.extended_master_secret {
        extensions.push(ClientExtension::ExtendedMasterSecret);
    }
    // RFC 5746 3.4: an initial handshake signals secure renegotiation
    // support with an empty renegotiation_info.
    extensions.push(ClientExtension::RenegotiationInfo(Vec::new()));

    let hello = ClientHello {
        client_version: ProtocolVersion::TLSV1_2,
        random: client_random,
        session_id: Vec::new(),
        cipher_suites: config.cipher_suites.clone(),
        compression_methods: vec![0],
        extensions: Some(extensions),
    };
    let info = HelloInfo {
        version: hello.client_version,
        random: hello.random,
        session_id: hello.session_id.clone(),
        cipher_suites: hello.cipher_suites.clone(),
        extensions: hello.extensions().iter().map(ExtensionInfo::from).collect(),
        message: Vec::new(),
    };
    let m = HandshakeMessage::from(HandshakePayload::ClientHello(hello));
    let mut transcript = Transcript::default();
    // The lists each fit (above), but all the extensions together share
    // one 2-byte length too: the codec refuses what does not fit.
    let message = transcript.add(&m).map_err(|e| {
        Error::internal(format!("the ClientHello cannot be encoded: {}", e.reason()))
    })?;
    core.send(m.into());
    core.emit(
        Direction::Sent,
        StepDetail::ClientHello(HelloInfo { message, ..info }),
    );
    Ok(Hs {
        config,
        server_name,
        now,
        client_random,
        transcript,
    })
}

/// The most cipher suites a ClientHello holds: cipher_suites<2..2^16-2>
/// (RFC 5246 7.4.1.2), two bytes each.
pub const MAX_CIPHER_SUITES: usize = 0xfffe / 2;

/// The most groups or signature schemes a ClientHello holds: each list is
/// `<2..2^16-1>` bytes inside its extension's `extension_data<0..2^16-1>`,
/// so 2 + 2n <= 2^16-1 (RFC 8422 5.1.1, RFC 5246 7.4.1.4.1). Together with
/// the other extensions they must also fit the extensions block's 2^16-1
/// bytes, which the codec checks.
pub const MAX_HELLO_LIST: usize = (0xffff - 2) / 2;

/// Refuses a configuration whose lists cannot go in a ClientHello, naming
/// the list, before anything is sent (an encoder given them would have to
/// write a wrong length).
fn check_hello_lists(config: &ClientConfig) -> Result<(), Error> {
    for (what, len, max) in [
        (
            "cipher_suites",
            config.cipher_suites.len(),
            MAX_CIPHER_SUITES,
        ),
        ("groups", config.groups.len(), MAX_HELLO_LIST),
        (
            "signature_schemes",
            config.signature_schemes.len(),
            MAX_HELLO_LIST,
        ),
    ] {
        if len > max {
            return Err(Error::internal(format!(
                "ClientConfig.{what} has {len} entries; a ClientHello holds at most {max}"
            )));
        }
    }
    Ok(())
}

fn on_server_hello(core: &mut Core, mut hs: Hs, sh: ServerHello) -> Result<Negotiated, Error> {
    core.at(Step::ServerHello);
    if sh.server_version != ProtocolVersion::TLSV1_2 {
        return Err(Error::new(
            AlertDescription::PROTOCOL_VERSION,
            format!(
                "the server chose {}, only TLS 1.2 is spoken here",
                sh.server_version
            ),
        ));
    }
    let suite = lookup(sh.cipher_suite)
        .filter(|_| hs.config.cipher_suites.contains(&sh.cipher_suite))
        .ok_or_else(|| {
            Error::illegal_parameter(format!(
                "the server chose {}, which was not offered",
                sh.cipher_suite
            ))
        })?;
    if sh.compression_method != 0 {
        return Err(Error::illegal_parameter(format!(
            "the server chose compression method {}, only null was offered",
            sh.compression_method
        )));
    }
    let mut seen = Vec::new();
    let mut extended_master_secret = false;
    for ext in sh.extensions() {
        let typ = ext.typ();
        if seen.contains(&typ) {
            return Err(Error::illegal_parameter(format!(
                "ServerHello repeats extension {typ}"
            )));
        }
        seen.push(typ);
        // RFC 5246 7.4.1.4: a server extension must answer one the client sent.
        let offered = hs.offered_extensions().any(|t| t == typ);
        if !offered {
            return Err(Error::new(
                AlertDescription::UNSUPPORTED_EXTENSION,
                format!("the server sent extension {typ}, which was not offered"),
            ));
        }
        match ext {
            ServerExtension::ExtendedMasterSecret => extended_master_secret = true,
            ServerExtension::RenegotiationInfo(v) if !v.is_empty() => {
                // RFC 5746 3.4: on an initial handshake it must be empty.
                return Err(Error::handshake_failure(
                    "renegotiation_info is not empty on an initial handshake",
                ));
            }
            _ => {}
        }
    }
    // From the ServerHello on, the transcript is a running hash.
    hs.transcript.start(suite.hash);
    let message = hs
        .transcript
        .add(&HandshakeMessage::from(HandshakePayload::ServerHello(
            sh.clone(),
        )))?;
    core.emit(
        Direction::Received,
        StepDetail::ServerHello {
            hello: HelloInfo {
                version: sh.server_version,
                random: sh.random,
                session_id: sh.session_id.clone(),
                cipher_suites: vec![sh.cipher_suite],
                extensions: sh.extensions().iter().map(ExtensionInfo::from).collect(),
                message,
            },
            extended_master_secret,
        },
    );
    Ok(Negotiated {
        hs,
        suite,
        server_random: sh.random,
        extended_master_secret,
    })
}

impl Hs {
    /// The extension types this client's ClientHello carried.
    fn offered_extensions(&self) -> impl Iterator<Item = ExtensionType> {
        let sni = matches!(self.server_name, ServerName::DnsName(_));
        let ems = self.config.extended_master_secret;
        [
            (ExtensionType::SERVER_NAME, sni),
            (ExtensionType::SUPPORTED_GROUPS, true),
            (ExtensionType::EC_POINT_FORMATS, true),
            (ExtensionType::SIGNATURE_ALGORITHMS, true),
            (ExtensionType::EXTENDED_MASTER_SECRET, ems),
            (ExtensionType::RENEGOTIATION_INFO, true),
        ]
        .into_iter()
        .filter_map(|(t, sent)| sent.then_some(t))
    }
}

/// Steps 4 to 10: everything the client does once the server's flight is in.
fn on_server_hello_done(
    core: &mut Core,
    with: WithCertificate,
    ske: Option<ServerKeyExchange>,
    shd: &HandshakeMessage,
) -> Result<Hs, Error> {
    let WithCertificate {
        neg,
        certificate,
        end_entity: info,
    } = with;
    let Negotiated {
        mut hs,
        suite,
        server_random,
        extended_master_secret,
    } = neg;

    // 4. Server Hello Done (with the ServerKeyExchange before it, if any).
    let message = hs.transcript.add(shd)?;
    let key_exchange = match &ske {
        Some(ske) => Some(ServerKeyExchangeInfo {
            group: ske.params.group,
            public: ske.params.public.clone(),
            scheme: ske.scheme,
            signature: ske.signature.clone(),
            message: HandshakeMessage::from(HandshakePayload::ServerKeyExchange(ske.clone()))
                .get_encoding()?,
        }),
        None => None,
    };
    core.emit(
        Direction::Received,
        StepDetail::ServerHelloDone {
            key_exchange,
            message,
        },
    );

    // 5. Client Verification: chain, name, validity, key type, and the
    // ServerKeyExchange signature made with the certificate's key.
    core.at(Step::ClientVerification);
    let chain = &certificate.certificate_list;
    let end_entity = chain
        .first()
        .ok_or_else(|| Error::internal("certificate list emptied"))?;
    hs.config.verifier.verify(chain, &hs.server_name, hs.now)?;
    if info.key_type != Some(suite.kx.certificate_key()) {
        return Err(Error::new(
            AlertDescription::UNSUPPORTED_CERTIFICATE,
            format!(
                "{} needs a {:?} certificate, the server's key is {}",
                suite.suite,
                suite.kx.certificate_key(),
                info.public_key_description
            ),
        ));
    }
    // RFC 5246 7.4.2: with a keyUsage extension, RSA key transport needs
    // keyEncipherment and a signed ServerKeyExchange needs digitalSignature.
    if let Some(ku) = &info.key_usage {
        let (needed, ok) = match suite.kx {
            KeyExchange::Rsa => ("keyEncipherment", ku.key_encipherment),
            _ => ("digitalSignature", ku.digital_signature),
        };
        if !ok {
            return Err(Error::new(
                AlertDescription::UNSUPPORTED_CERTIFICATE,
                format!(
                    "{} needs keyUsage {needed}; the certificate allows only {}",
                    suite.suite, ku.text
                ),
            ));
        }
    }
    if let Some(ske) = &ske {
        let signed =
            ServerKeyExchange::signed_message(&hs.client_random, &server_random, &ske.params)?;
        crate::verify::verify_signature(end_entity, ske.scheme, &signed, &ske.signature)?;
    }
    core.emit(
        Direction::Local,
        StepDetail::ClientVerification {
            server_name: server_name_text(&hs.server_name),
            subject: info.subject,
            signature_scheme: ske.as_ref().map(|s| s.scheme),
        },
    );

    // 6. Gen pre-master, 7. Client Key Exchange.
    core.at(Step::GenPreMaster);
    let (pre_master, cke, group, client_public, encrypted_len): (Zeroizing<Vec<u8>>, _, _, _, _) =
        match (&ske, suite.kx) {
            (None, KeyExchange::Rsa) => {
                let pre_master = rsa_pre_master(ProtocolVersion::TLSV1_2, core.rng.as_mut())?;
                let encrypted = rsa_encrypt_pre_master(end_entity.as_ref(), &pre_master)?;
                let len = encrypted.len();
                (
                    pre_master,
                    ClientKeyExchange::rsa(&encrypted)?,
                    None,
                    None,
                    Some(len),
                )
            }
            (Some(ske), kx) if kx.is_ecdhe() => {
                let pair = EcdheKeyPair::generate(ske.params.group, core.rng.as_mut())?;
                let public = pair.public_key().to_vec();
                let shared = pair.agree(&ske.params.public)?;
                (
                    shared,
                    ClientKeyExchange::ecdh(&public)?,
                    Some(ske.params.group),
                    Some(public),
                    None,
                )
            }
            _ => return Err(Error::internal("key exchange does not match the suite")),
        };
    core.emit(
        Direction::Local,
        StepDetail::GenPreMaster {
            key_exchange: suite.kx,
            length: pre_master.len(),
            group,
            client_public: client_public.clone(),
        },
    );
    core.at(Step::ClientKeyExchange);
    let m = HandshakeMessage::from(HandshakePayload::ClientKeyExchange(cke));
    let message = hs.transcript.add(&m)?;
    core.send(m.into());
    core.emit(
        Direction::Sent,
        StepDetail::ClientKeyExchange {
            key_exchange: suite.kx,
            encrypted_pre_master_len: encrypted_len,
            client_public,
            message,
        },
    );

    core.gen_secret_key(
        suite,
        &hs.client_random,
        &server_random,
        pre_master,
        &hs.transcript,
        extended_master_secret,
    )?;
    core.send_change_cipher_spec_and_finished(&mut hs.transcript)?;
    Ok(hs)
}

/// The server name as text: a DNS name or an IP address (for reports and
/// log lines).
pub fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        // `ServerName` is non_exhaustive; a later kind is shown as it is.
        other => format!("{other:?}"),
    }
}
