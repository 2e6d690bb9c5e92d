//! The server's handshake, one state per expected message.
//!
//! ```text
//!                 <- ClientHello
//! ServerHello, Certificate, [ServerKeyExchange], ServerHelloDone ->
//!                 <- ClientKeyExchange, ChangeCipherSpec, Finished
//! ChangeCipherSpec, Finished ->
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use crate::Role;
use crate::config::{CertifiedKey, ServerConfig, SuitePreference};
use crate::conn::{Connection, Core, State, unexpected, unexpected_type};
use crate::error::Error;
use crate::events::{Direction, ExtensionInfo, HelloInfo, ServerKeyExchangeInfo, Step, StepDetail};
use crate::kx::{EcdheKeyPair, is_supported_group};
use crate::msgs::codec::{Codec, Reader};
use crate::msgs::enums::{
    AlertDescription, CipherSuite, EcPointFormat, ExtensionType, NamedGroup, ProtocolVersion,
    SignatureScheme,
};
use crate::msgs::extensions::{ClientExtension, ServerExtension};
use crate::msgs::handshake::{
    Certificate, ClientHello, EcdheParams, HandshakeMessage, HandshakePayload, Random, ServerHello,
    ServerKeyExchange,
};
use crate::msgs::message::Message;
use crate::quote;
use crate::rand::Rng;
use crate::suites::{KeyExchange, SuiteParams, lookup};
use crate::transcript::Transcript;

impl Connection {
    /// Starts a server session, waiting for the ClientHello.
    pub fn server(config: Arc<ServerConfig>, rng: Box<dyn Rng>) -> Result<Self, Error> {
        Self::new(Role::Server, rng, config.faults, |core| {
            core.at(Step::ClientHello);
            Ok(State::Server(Box::new(ServerState::ExpectClientHello(
                config,
            ))))
        })
    }
}

// Each variant is named for the message it waits for, as in rustls.
#[allow(clippy::enum_variant_names)]
pub(crate) enum ServerState {
    ExpectClientHello(Arc<ServerConfig>),
    ExpectClientKeyExchange(Box<ExpectClientKeyExchange>),
    ExpectChangeCipherSpec(Transcript),
    ExpectFinished(Transcript),
}

/// What the ClientKeyExchange will need.
pub(crate) struct ExpectClientKeyExchange {
    config: Arc<ServerConfig>,
    suite: &'static SuiteParams,
    client_version: ProtocolVersion,
    client_random: Random,
    server_random: Random,
    extended_master_secret: bool,
    /// ECDHE: the ephemeral key whose public half went in ServerKeyExchange.
    ecdhe: Option<EcdheKeyPair>,
    transcript: Transcript,
}

impl ServerState {
    pub(crate) fn handle(self, core: &mut Core, msg: Message) -> Result<State, Error> {
        let next = match (self, msg) {
            (Self::ExpectClientHello(config), Message::Handshake(m)) => {
                let typ = m.typ();
                let mut transcript = Transcript::default();
                let message = transcript.add(&m)?;
                let HandshakePayload::ClientHello(ch) = m.payload else {
                    return Err(unexpected_type(core, Step::ClientHello, typ));
                };
                Self::ExpectClientKeyExchange(Box::new(on_client_hello(
                    core, config, ch, message, transcript,
                )?))
            }
            (Self::ExpectClientKeyExchange(st), Message::Handshake(m)) => {
                Self::ExpectChangeCipherSpec(on_client_key_exchange(core, *st, &m)?)
            }
            (Self::ExpectChangeCipherSpec(transcript), Message::ChangeCipherSpec) => {
                core.receive_change_cipher_spec()?;
                Self::ExpectFinished(transcript)
            }
            (Self::ExpectFinished(mut transcript), Message::Protected(rec)) => {
                let Some(finished) = core.receive_finished(&rec, &transcript)? else {
                    // Split over records: the rest is still to come.
                    return Ok(State::Server(Box::new(Self::ExpectFinished(transcript))));
                };
                transcript.add(&finished)?;
                core.send_change_cipher_spec_and_finished(&mut transcript)?;
                return Ok(core.finish());
            }
            (state, msg) => return Err(unexpected(core, state.expecting(), &msg)),
        };
        Ok(State::Server(Box::new(next)))
    }

    pub(crate) fn expecting(&self) -> Step {
        match self {
            Self::ExpectClientHello(_) => Step::ClientHello,
            Self::ExpectClientKeyExchange(_) => Step::ClientKeyExchange,
            Self::ExpectChangeCipherSpec(..) => Step::ClientChangeCipherSpec,
            Self::ExpectFinished(..) => Step::ClientEncryptedHandshakeMessage,
        }
    }

    /// The plaintext handshake message type this state waits for, checked
    /// before the message's body is decoded.
    pub(crate) fn expected_handshake(&self) -> Option<crate::msgs::enums::HandshakeType> {
        use crate::msgs::enums::HandshakeType;
        match self {
            Self::ExpectClientHello(_) => Some(HandshakeType::CLIENT_HELLO),
            Self::ExpectClientKeyExchange(_) => Some(HandshakeType::CLIENT_KEY_EXCHANGE),
            Self::ExpectChangeCipherSpec(..) | Self::ExpectFinished(..) => None,
        }
    }
}

/// What the ClientHello asks for, read once.
struct Offer<'a> {
    groups: Vec<NamedGroup>,
    schemes: &'a [SignatureScheme],
    uncompressed_points: bool,
    extended_master_secret: bool,
    secure_renegotiation: bool,
}

/// Reads the extensions once, in time linear in their number: a hello may
/// carry 16,000 of them.
fn read_offer(ch: &ClientHello) -> Result<Offer<'_>, Error> {
    // A hash set, not a list searched for each extension: that was
    // quadratic in the count. SipHash's random keys keep a peer from
    // choosing colliding types.
    let mut seen = HashSet::with_capacity(ch.extensions().len());
    let mut sent_groups = false;
    let mut offer = Offer {
        // RFC 8422 4: without supported_groups the server may assume the
        // client supports any curve; secp256r1 is the one every client has.
        groups: vec![NamedGroup::SECP256R1],
        // RFC 5246 7.4.1.4.1: without signature_algorithms the client is
        // assumed to support only SHA-1, which this server never uses.
        schemes: &[],
        uncompressed_points: true,
        extended_master_secret: false,
        secure_renegotiation: ch
            .cipher_suites
            .contains(&CipherSuite::TLS_EMPTY_RENEGOTIATION_INFO_SCSV),
    };
    for ext in ch.extensions() {
        let typ = ext.typ();
        if !seen.insert(typ) {
            return Err(Error::illegal_parameter(format!(
                "ClientHello repeats extension {typ}"
            )));
        }
        match ext {
            ClientExtension::SupportedGroups(g) => {
                sent_groups = true;
                offer.groups = g.clone();
            }
            ClientExtension::SignatureAlgorithms(s) => offer.schemes = s,
            ClientExtension::EcPointFormats(f) => {
                offer.uncompressed_points = f.contains(&EcPointFormat::UNCOMPRESSED)
            }
            ClientExtension::ExtendedMasterSecret => offer.extended_master_secret = true,
            ClientExtension::RenegotiationInfo(v) => {
                if !v.is_empty() {
                    return Err(Error::handshake_failure(
                        "renegotiation_info is not empty on an initial handshake",
                    ));
                }
                offer.secure_renegotiation = true;
            }
            // A client that lists versions and leaves TLS 1.2 out (a TLS
            // 1.3-only client) cannot be served.
            ClientExtension::Unknown { typ, data }
                if *typ == ExtensionType::SUPPORTED_VERSIONS && !lists_tls12(data)? =>
            {
                return Err(Error::new(
                    AlertDescription::PROTOCOL_VERSION,
                    "supported_versions does not include TLS 1.2",
                ));
            }
            _ => {}
        }
    }
    // RFC 8422 5.1.2: a client that names RFC 8422 curves in
    // supported_groups and sends ec_point_formats without "uncompressed"
    // gets illegal_parameter. (Without supported_groups it only rules out
    // the ECDHE suites; an RSA suite may still be chosen.)
    if !offer.uncompressed_points && sent_groups && offer.groups.iter().any(|g| is_rfc8422(*g)) {
        return Err(Error::illegal_parameter(
            "ec_point_formats does not include uncompressed (RFC 8422 5.1.2)",
        ));
    }
    Ok(offer)
}

/// The curves RFC 8422 5.1.1 defines.
fn is_rfc8422(group: NamedGroup) -> bool {
    matches!(
        group,
        NamedGroup::SECP256R1
            | NamedGroup::SECP384R1
            | NamedGroup::SECP521R1
            | NamedGroup::X25519
            | NamedGroup::X448
    )
}

/// Reads supported_versions (RFC 8446 4.2.1): ProtocolVersion versions<2..254>.
fn lists_tls12(data: &[u8]) -> Result<bool, Error> {
    let mut r = Reader::new(data);
    let mut list = r.sub(
        crate::msgs::codec::LengthPrefix::U8,
        2,
        254,
        "supported_versions",
    )?;
    r.expect_empty("supported_versions")?;
    while list.any_left() {
        if ProtocolVersion::read(&mut list)? == ProtocolVersion::TLSV1_2 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a usable suite brings with it.
struct Choice<'a> {
    suite: &'static SuiteParams,
    key: &'a CertifiedKey,
    /// ECDHE: the group and the signature scheme.
    ecdhe: Option<(NamedGroup, SignatureScheme)>,
}

/// Why a suite cannot be used with this client.
struct Refusal {
    why: String,
    /// Only because the client's offer is too weak (RFC 5246 7.2.2
    /// insufficient_security), not because nothing matches.
    insecure: bool,
}

impl<T: Into<String>> From<T> for Refusal {
    fn from(why: T) -> Self {
        Self {
            why: why.into(),
            insecure: false,
        }
    }
}

/// Whether `suite` can be used with this client, and if not, why.
fn usable<'a>(
    config: &'a ServerConfig,
    offer: &Offer<'_>,
    suite: CipherSuite,
) -> Result<Choice<'a>, Refusal> {
    let params = lookup(suite).ok_or("not implemented")?;
    let key_type = params.kx.certificate_key();
    let key = config
        .certified_key(key_type)
        .ok_or_else(|| format!("no {key_type:?} certificate configured"))?;
    if !params.kx.is_ecdhe() {
        return Ok(Choice {
            suite: params,
            key,
            ecdhe: None,
        });
    }
    if !offer.uncompressed_points {
        return Err("the client does not accept uncompressed points".into());
    }
    let group = config
        .groups
        .iter()
        .copied()
        .find(|g| offer.groups.contains(g) && is_supported_group(*g))
        .ok_or("no ECDHE group in common")?;
    // RFC 8422 5.1: an ECDSA certificate's curve must be one the client supports.
    if let Some(curve) = key.key.curve()
        && !offer.groups.contains(&curve)
    {
        return Err(format!(
            "the certificate's curve {curve} is not in the client's supported_groups"
        )
        .into());
    }
    let scheme = key.key.choose_scheme(offer.schemes).ok_or_else(|| {
        // Without signature_algorithms a client is taken to support only
        // SHA-1 (RFC 5246 7.4.1.4.1), which this server refuses to sign with.
        let only_sha1 = offer.schemes.iter().all(|s| {
            matches!(
                *s,
                SignatureScheme::RSA_PKCS1_SHA1 | SignatureScheme::ECDSA_SHA1
            )
        });
        if only_sha1 {
            Refusal {
                why: "the client can only verify SHA-1 signatures, which this server does not make"
                    .into(),
                insecure: true,
            }
        } else {
            format!("no signature scheme in common for the {key_type:?} certificate").into()
        }
    })?;
    Ok(Choice {
        suite: params,
        key,
        ecdhe: Some((group, scheme)),
    })
}

/// The first usable suite in the preferred order, or handshake_failure
/// (insufficient_security when the client only fell short on strength)
/// saying why each candidate was refused.
fn choose<'a>(
    config: &'a ServerConfig,
    offer: &Offer<'_>,
    offered: &[CipherSuite],
) -> Result<Choice<'a>, Error> {
    let enabled = &config.cipher_suites;
    if let Some(choice) = config
        .faults
        .choose_suite(enabled, offered, |s| usable(config, offer, s).ok())
    {
        return choice;
    }
    // Each enabled suite at most once, however often the client repeats
    // it: `usable` reads the client's lists, so running it once per
    // offered copy would be quadratic.
    let candidates: Vec<CipherSuite> = match config.preference {
        SuitePreference::Server => enabled
            .iter()
            .filter(|s| offered.contains(s))
            .copied()
            .collect(),
        SuitePreference::Client => {
            let mut c = Vec::with_capacity(enabled.len());
            for s in offered {
                if enabled.contains(s) && !c.contains(s) {
                    c.push(*s);
                }
            }
            c
        }
    };
    if candidates.is_empty() {
        return Err(Error::handshake_failure(format!(
            "no cipher suite in common: the client offers {} suites ({}), this server enables {}",
            offered.len(),
            quote::list(offered),
            quote::list(enabled)
        )));
    }
    let mut refusals = Vec::new();
    let mut all_insecure = true;
    for suite in candidates {
        match usable(config, offer, suite) {
            Ok(choice) => return Ok(choice),
            Err(r) => {
                all_insecure &= r.insecure;
                refusals.push(format!("{suite:?}: {}", r.why));
            }
        }
    }
    let alert = if all_insecure {
        AlertDescription::INSUFFICIENT_SECURITY
    } else {
        AlertDescription::HANDSHAKE_FAILURE
    };
    Err(Error::new(
        alert,
        format!("no usable cipher suite: {}", refusals.join("; ")),
    ))
}

/// Steps 1 to 4 on the server: read the ClientHello, choose, answer.
fn on_client_hello(
    core: &mut Core,
    config: Arc<ServerConfig>,
    ch: ClientHello,
    message: Vec<u8>,
    mut transcript: Transcript,
) -> Result<ExpectClientKeyExchange, Error> {
    core.at(Step::ClientHello);
    if ch.client_version < ProtocolVersion::TLSV1_2 {
        return Err(Error::new(
            AlertDescription::PROTOCOL_VERSION,
            format!(
                "the client offers at most {}, this server speaks TLS 1.2 only",
                ch.client_version
            ),
        ));
    }
    if !ch.compression_methods.contains(&0) {
        return Err(Error::illegal_parameter(
            "the client does not offer null compression",
        ));
    }
    let offer = read_offer(&ch)?;
    core.emit(
        Direction::Received,
        StepDetail::ClientHello(HelloInfo {
            version: ch.client_version,
            random: ch.random,
            session_id: ch.session_id.clone(),
            cipher_suites: ch.cipher_suites.clone(),
            extensions: ch.extensions().iter().map(ExtensionInfo::from).collect(),
            message,
        }),
    );

    core.at(Step::ServerHello);
    let choice = choose(&config, &offer, &ch.cipher_suites)?;
    let suite = choice.suite;
    // From the ServerHello on, the transcript is a running hash.
    transcript.start(suite.hash);
    let extended_master_secret = offer.extended_master_secret && config.extended_master_secret;
    let mut server_random = [0u8; 32];
    core.rng.fill(&mut server_random)?;
    let mut extensions = Vec::new();
    if offer.secure_renegotiation {
        extensions.push(ServerExtension::RenegotiationInfo(Vec::new()));
    }
    if extended_master_secret {
        extensions.push(ServerExtension::ExtendedMasterSecret);
    }
    // RFC 8422 5.2: answer ec_point_formats when an ECC suite is chosen and
    // the client sent the extension.
    let sent_point_formats = ch
        .extensions()
        .iter()
        .any(|e| matches!(e, ClientExtension::EcPointFormats(_)));
    if choice.suite.kx.is_ecdhe() && sent_point_formats {
        extensions.push(ServerExtension::EcPointFormats(vec![
            EcPointFormat::UNCOMPRESSED,
        ]));
    }
    let sh = ServerHello {
        server_version: ProtocolVersion::TLSV1_2,
        random: server_random,
        // No session resumption: an empty session_id says so (RFC 5246 7.4.1.3).
        session_id: Vec::new(),
        cipher_suite: choice.suite.suite,
        compression_method: 0,
        extensions: Some(extensions),
    };
    let hello = HelloInfo {
        version: sh.server_version,
        random: sh.random,
        session_id: Vec::new(),
        cipher_suites: vec![sh.cipher_suite],
        extensions: sh.extensions().iter().map(ExtensionInfo::from).collect(),
        message: Vec::new(),
    };
    let m = HandshakeMessage::from(HandshakePayload::ServerHello(sh));
    let message = transcript.add(&m)?;
    core.send(m.into());
    core.emit(
        Direction::Sent,
        StepDetail::ServerHello {
            hello: HelloInfo { message, ..hello },
            extended_master_secret,
        },
    );

    core.at(Step::ServerCertificate);
    let certificate = Certificate {
        certificate_list: choice.key.chain.clone(),
    };
    let chain = choice.key.info.clone();
    let m = HandshakeMessage::from(HandshakePayload::Certificate(certificate));
    let message = transcript.add(&m)?;
    core.send(m.into());
    core.emit(
        Direction::Sent,
        StepDetail::ServerCertificate { chain, message },
    );

    core.at(Step::ServerHelloDone);
    let (ecdhe, key_exchange) = match choice.ecdhe {
        Some((group, scheme)) => {
            let pair = EcdheKeyPair::generate(group, core.rng.as_mut())?;
            let params = EcdheParams {
                group,
                public: pair.public_key().to_vec(),
            };
            let signed = ServerKeyExchange::signed_message(&ch.random, &server_random, &params)?;
            let mut signature = choice.key.key.sign(scheme, &signed)?;
            config.faults.on_signature(&mut signature);
            let ske = ServerKeyExchange {
                params,
                scheme,
                signature,
            };
            let info = ServerKeyExchangeInfo {
                group,
                public: ske.params.public.clone(),
                scheme,
                signature: ske.signature.clone(),
                message: Vec::new(),
            };
            let m = HandshakeMessage::from(HandshakePayload::ServerKeyExchange(ske));
            let message = transcript.add(&m)?;
            core.send(m.into());
            (Some(pair), Some(ServerKeyExchangeInfo { message, ..info }))
        }
        None => (None, None),
    };
    let m = HandshakeMessage::from(HandshakePayload::ServerHelloDone);
    let message = transcript.add(&m)?;
    core.send(m.into());
    core.emit(
        Direction::Sent,
        StepDetail::ServerHelloDone {
            key_exchange,
            message,
        },
    );
    core.at(Step::ClientKeyExchange);
    Ok(ExpectClientKeyExchange {
        config,
        suite,
        client_version: ch.client_version,
        client_random: ch.random,
        server_random,
        extended_master_secret,
        ecdhe,
        transcript,
    })
}

/// Steps 7 and 8 on the server: recover the pre-master, derive the keys.
fn on_client_key_exchange(
    core: &mut Core,
    st: ExpectClientKeyExchange,
    m: &HandshakeMessage,
) -> Result<Transcript, Error> {
    core.at(Step::ClientKeyExchange);
    let HandshakePayload::ClientKeyExchange(cke) = &m.payload else {
        return Err(unexpected_type(core, Step::ClientKeyExchange, m.typ()));
    };
    let ExpectClientKeyExchange {
        config,
        suite,
        client_version,
        client_random,
        server_random,
        extended_master_secret,
        ecdhe,
        mut transcript,
    } = st;
    let (pre_master, encrypted_len, client_public) = match (suite.kx, ecdhe) {
        (KeyExchange::Rsa, None) => {
            let encrypted = cke.encrypted_pre_master()?;
            let key = config
                .certified_key(suite.kx.certificate_key())
                .ok_or_else(|| Error::internal("the RSA key went missing"))?;
            // RFC 5246 7.4.7.1: never fails here, whatever the ciphertext;
            // a bad one yields a random pre-master and shows at Finished.
            let pre_master =
                key.key
                    .decrypt_pre_master(encrypted, client_version, core.rng.as_mut())?;
            (pre_master, Some(encrypted.len()), None)
        }
        (kx, Some(pair)) if kx.is_ecdhe() => {
            let public = cke.ecdh_public()?;
            let shared = pair.agree(public)?;
            (shared, None, Some(public.to_vec()))
        }
        _ => {
            return Err(Error::internal(
                "key exchange state does not match the suite",
            ));
        }
    };
    let message = transcript.add(m)?;
    core.emit(
        Direction::Received,
        StepDetail::ClientKeyExchange {
            key_exchange: suite.kx,
            encrypted_pre_master_len: encrypted_len,
            client_public,
            message,
        },
    );

    core.gen_secret_key(
        suite,
        &client_random,
        &server_random,
        pre_master,
        &transcript,
        extended_master_secret,
    )?;
    core.at(Step::ClientChangeCipherSpec);
    Ok(transcript)
}
