//! Every way a handshake can fail, provoked on purpose.
//!
//! Each case tampers with messages in transit (`Pair::drive_with`), with a
//! configuration, or with raw bytes, and checks from both ends:
//!
//! - the side at fault fails (`Connection::failure`, read through
//!   `common::Feed`) with the exact alert of RFC 5246 7.2.2, origin `Local`,
//!   and reports one `Event::Failed` with the failing step;
//! - it queued exactly one fatal alert for the peer, as its last message:
//!   a plaintext `Message::Alert` before its own ChangeCipherSpec, a
//!   `Message::Protected` of type alert after it;
//! - the peer reports the same description with origin `Peer` and does not
//!   answer with an alert of its own;
//! - from then on both ignore every input, keep the same error and queue
//!   nothing more.
//!
//! Table-driven tests run every case and list all mismatches at the end, so
//! one engine bug does not hide the next.

mod common;

use common::Feed;

use std::sync::Arc;

use common::pair::{Pair, certified, client_config, server_config, step_events, steps};
use common::pki::{after_expiry, before_validity, pki, valid_now};
use handshake::ALL_SUITES;
use handshake::MAX_CIPHERTEXT;
use handshake::internal::kx::rsa_encrypt_pre_master;
use handshake::msgs::codec::Codec;
use handshake::msgs::enums::{
    AlertLevel, ContentType, ExtensionType, HandshakeType, ProtocolVersion,
};
use handshake::msgs::extensions::{ClientExtension, ServerExtension};
use handshake::msgs::handshake::{
    ClientHello, ClientKeyExchange, EcdheParams, Finished, HandshakeMessage, HandshakePayload,
    ServerHello, ServerKeyExchange,
};
use handshake::{
    Alert, AlertDescription, CipherSuite, Connection, Direction, Error, Event, Message, NamedGroup,
    Origin, ProtectedRecord, Role, ServerConfig, SignatureScheme, Step, StepDetail,
};
use handshake::{Rng, SeededRng};

use AlertDescription as A;

/// Returns `Err(message)` from the enclosing function unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

// ---------------------------------------------------------------------------
// Suites
// ---------------------------------------------------------------------------

const RSA: &[CipherSuite] = &[
    CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
];

const ECDHE_RSA: &[CipherSuite] = &[
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

const ECDHE_ECDSA: &[CipherSuite] = &[
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

const ECDHE: &[CipherSuite] = &[
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// One suite of each key exchange (and each AEAD among them).
const ONE_OF_EACH: &[CipherSuite] = &[
    CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

fn all_suites() -> Vec<CipherSuite> {
    ALL_SUITES.iter().map(|s| s.suite).collect()
}

// ---------------------------------------------------------------------------
// Harness: a pair driven with a record of every message each engine queued
// ---------------------------------------------------------------------------

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// A client offering only `suite`, the standard server, "localhost".
fn pair_for(suite: CipherSuite) -> Pair {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    Pair::new(c, server_config())
}

struct Run {
    pair: Pair,
    /// Every message each engine queued, in order, as it queued it (before
    /// any tampering; messages injected by a test are not in here).
    sent: Vec<(Role, Message)>,
    /// The first error each side's `handle` returned.
    client_err: Option<Error>,
    server_err: Option<Error>,
}

impl Run {
    fn new(pair: Pair) -> Self {
        Self {
            pair,
            sent: Vec::new(),
            client_err: None,
            server_err: None,
        }
    }

    /// A fresh pair for `suite`, driven through `tamper`.
    fn tampered(suite: CipherSuite, tamper: impl FnMut(Role, &mut Message) -> bool) -> Self {
        let mut run = Self::new(pair_for(suite));
        run.drive_with(tamper);
        run
    }

    fn drive(&mut self) {
        self.drive_with(|_, _| true);
    }

    fn drive_with(&mut self, mut tamper: impl FnMut(Role, &mut Message) -> bool) {
        let sent = &mut self.sent;
        let out = self.pair.drive_with(|from, m| {
            sent.push((from, m.clone()));
            tamper(from, m)
        });
        if self.client_err.is_none() {
            self.client_err = out.client;
        }
        if self.server_err.is_none() {
            self.server_err = out.server;
        }
    }

    /// Hands `msg` to the other side as if `from` had sent it, then drives
    /// on (so an alert it provokes reaches `from`).
    fn inject(&mut self, from: Role, msg: Message) {
        let to = other(from);
        if let Err(e) = self.conn_mut(to).feed(msg) {
            let slot = match to {
                Role::Client => &mut self.client_err,
                Role::Server => &mut self.server_err,
            };
            slot.get_or_insert(e);
        }
        self.drive();
    }

    fn conn(&self, role: Role) -> &Connection {
        match role {
            Role::Client => &self.pair.client,
            Role::Server => &self.pair.server,
        }
    }

    fn conn_mut(&mut self, role: Role) -> &mut Connection {
        match role {
            Role::Client => &mut self.pair.client,
            Role::Server => &mut self.pair.server,
        }
    }

    fn events(&self, role: Role) -> &[Event] {
        match role {
            Role::Client => &self.pair.client_events,
            Role::Server => &self.pair.server_events,
        }
    }

    fn err(&self, role: Role) -> Option<&Error> {
        match role {
            Role::Client => self.client_err.as_ref(),
            Role::Server => self.server_err.as_ref(),
        }
    }

    fn sent_by(&self, role: Role) -> Vec<&Message> {
        self.sent
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, m)| m)
            .collect()
    }

    /// Neither side failed and both completed the handshake.
    fn check_complete(&self) -> Result<(), String> {
        ensure!(
            self.client_err.is_none() && self.server_err.is_none(),
            "expected a complete handshake, got client {:?}, server {:?}",
            self.client_err,
            self.server_err
        );
        ensure!(
            self.pair.client.is_handshake_complete() && self.pair.server.is_handshake_complete(),
            "the handshake did not complete"
        );
        Ok(())
    }
}

fn failed_events(events: &[Event]) -> Vec<(Step, Error)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { step, error } => Some((*step, error.clone())),
            _ => None,
        })
        .collect()
}

fn is_alert(m: &Message) -> bool {
    matches!(m, Message::Alert(_))
        || matches!(m, Message::Protected(p) if p.typ == ContentType::ALERT)
}

/// Messages of every kind, to feed a session that has ended.
fn late_messages() -> Vec<Message> {
    vec![
        a_client_hello(),
        a_client_key_exchange(),
        a_finished(),
        Message::ChangeCipherSpec,
        Message::Alert(Alert::fatal(A::INTERNAL_ERROR)),
        Message::Alert(warning()),
        protected(ContentType::APPLICATION_DATA, 40),
        protected(ContentType::HANDSHAKE, 40),
        protected(ContentType::ALERT, 26),
    ]
}

/// After a failure with `err`: every input gets `err` back, nothing is
/// queued, nothing happens.
fn check_refuses(conn: &mut Connection, err: &Error) -> Result<(), String> {
    for round in 0..2 {
        for msg in late_messages() {
            let what = format!("{msg:?}");
            let got = conn.feed(msg);
            ensure!(
                got.as_ref() == Err(err),
                "handle({what}) after the failure (round {round}) returned {got:?}, expected Err({err:?})"
            );
        }
    }
    ensure!(
        conn.send_application_data(b"too late").is_err(),
        "send_application_data accepted after the failure"
    );
    ensure!(conn.close().is_err(), "close accepted after the failure");
    let queued = conn.poll_transmit();
    ensure!(
        queued.is_none(),
        "queued {queued:?} after the failure was reported"
    );
    let event = conn.poll_event();
    ensure!(event.is_none(), "reported {event:?} after the failure");
    ensure!(
        conn.failure() == Some(err),
        "failure() is {:?}, expected {err:?}",
        conn.failure()
    );
    Ok(())
}

/// Everything a fatal failure must show: `failing` raised `alert` at `step`,
/// sent it once, the peer got it, and both ends are closed for good.
fn check_fatal(
    run: &mut Run,
    failing: Role,
    alert: AlertDescription,
    step: Step,
) -> Result<Error, String> {
    let peer = other(failing);
    let err = run.err(failing).cloned().ok_or_else(|| {
        format!(
            "expected the {failing:?} to fail with {alert} at {step:?}; client: {:?}, server: {:?}",
            run.client_err, run.server_err
        )
    })?;

    // Who raised which alert, at which step.
    let failed = failed_events(run.events(failing));
    let got_step = failed.first().map(|(s, _)| *s);
    ensure!(
        (err.origin(), err.alert(), got_step) == (Origin::Local, alert, Some(step)),
        "{failing:?}: expected Local {alert} at step {step:?}, got {:?} {} at step {got_step:?} ({err})",
        err.origin(),
        err.alert()
    );
    ensure!(
        failed.len() == 1 && failed[0].1 == err,
        "{failing:?}: expected one Failed event carrying {err:?}, got {failed:?}"
    );

    // Exactly one fatal alert on the wire, last, protected iff after CCS.
    let sent = run.sent_by(failing);
    let alerts: Vec<usize> = (0..sent.len()).filter(|&i| is_alert(sent[i])).collect();
    ensure!(
        alerts.len() == 1,
        "{failing:?}: expected exactly one alert queued, got {}",
        alerts.len()
    );
    let at = alerts[0];
    ensure!(
        at == sent.len() - 1,
        "{failing:?}: queued {:?} after its alert",
        &sent[at + 1..]
    );
    let after_ccs = sent[..at]
        .iter()
        .any(|m| matches!(m, Message::ChangeCipherSpec));
    match sent[at] {
        Message::Alert(a) => {
            ensure!(
                !after_ccs,
                "{failing:?}: plaintext alert after its own ChangeCipherSpec"
            );
            ensure!(
                *a == Alert::fatal(alert),
                "{failing:?}: sent {a:?}, expected a fatal {alert}"
            );
        }
        Message::Protected(_) => ensure!(
            after_ccs,
            "{failing:?}: protected alert before its own ChangeCipherSpec"
        ),
        other => return Err(format!("{failing:?}: {other:?} counted as an alert")),
    }

    // The peer got it (so a protected alert opened under the session keys).
    let perr = run.err(peer).cloned().ok_or_else(|| {
        format!("{peer:?} (the peer) did not report the {alert} alert it was sent")
    })?;
    ensure!(
        (perr.origin(), perr.alert()) == (Origin::Peer, alert),
        "{peer:?}: expected Peer {alert}, got {:?} {} ({perr})",
        perr.origin(),
        perr.alert()
    );
    let pfailed = failed_events(run.events(peer));
    ensure!(
        pfailed.len() == 1 && pfailed[0].1 == perr,
        "{peer:?}: expected one Failed event carrying {perr:?}, got {pfailed:?}"
    );
    ensure!(
        !run.sent_by(peer).into_iter().any(is_alert),
        "{peer:?}: answered the alert with an alert"
    );

    // Both ends refuse anything further.
    check_refuses(run.conn_mut(failing), &err).map_err(|e| format!("{failing:?}: {e}"))?;
    check_refuses(run.conn_mut(peer), &perr).map_err(|e| format!("{peer:?} (peer): {e}"))?;
    Ok(err)
}

/// Collects the mismatches of a table of cases; panics with all of them.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn fatal(
        &mut self,
        name: &str,
        run: &mut Run,
        failing: Role,
        alert: AlertDescription,
        step: Step,
    ) -> Option<Error> {
        self.check(name, check_fatal(run, failing, alert, step))
    }

    fn check<T>(&mut self, name: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(format!("{name}: {e}"));
                None
            }
        }
    }

    #[track_caller]
    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) failed:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

#[track_caller]
fn assert_fatal(run: &mut Run, failing: Role, alert: AlertDescription, step: Step) -> Error {
    check_fatal(run, failing, alert, step).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------
// Messages and tampering helpers
// ---------------------------------------------------------------------------

fn hs(payload: HandshakePayload) -> Message {
    Message::Handshake(HandshakeMessage::from(payload))
}

fn a_client_hello() -> Message {
    hs(HandshakePayload::ClientHello(ClientHello {
        client_version: ProtocolVersion::TLSV1_2,
        random: [7; 32],
        session_id: Vec::new(),
        cipher_suites: all_suites(),
        compression_methods: vec![0],
        extensions: None,
    }))
}

fn a_client_key_exchange() -> Message {
    hs(HandshakePayload::ClientKeyExchange(
        ClientKeyExchange::ecdh(&[9; 32]).unwrap(),
    ))
}

fn a_server_key_exchange() -> Message {
    hs(HandshakePayload::ServerKeyExchange(ServerKeyExchange {
        params: EcdheParams {
            group: NamedGroup::X25519,
            public: vec![9; 32],
        },
        scheme: SignatureScheme::RSA_PSS_RSAE_SHA256,
        signature: vec![0x55; 256],
    }))
}

fn a_finished() -> Message {
    hs(HandshakePayload::Finished(Finished {
        verify_data: vec![0; 12],
    }))
}

fn protected(typ: ContentType, len: usize) -> Message {
    Message::Protected(ProtectedRecord {
        typ,
        fragment: vec![0x42; len],
    })
}

fn warning() -> Alert {
    Alert {
        level: AlertLevel::WARNING,
        description: A::NO_RENEGOTIATION,
    }
}

fn payload(m: &mut Message) -> Option<&mut HandshakePayload> {
    match m {
        Message::Handshake(h) => Some(&mut h.payload),
        _ => None,
    }
}

fn is_hs(m: &Message, typ: HandshakeType) -> bool {
    matches!(m, Message::Handshake(h) if h.typ() == typ)
}

fn is_protected(m: &Message, typ: ContentType) -> bool {
    matches!(m, Message::Protected(p) if p.typ == typ)
}

fn flip_middle(bytes: &mut [u8]) {
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
}

/// A tamper function: sees each message with its sender, may change it,
/// returns false to drop it.
type Tamper = fn(Role, &mut Message) -> bool;

/// Changes bytes in place: a record fragment, a record's plaintext.
type Edit = fn(&mut Vec<u8>);

/// One tampering case: run it on each suite, expect `failing` to raise
/// `alert` at `step`. Written as one row of a table:
/// `case(name, suites).fails(role, alert, step).tamper(|from, m| ..)`.
struct Case {
    name: &'static str,
    suites: &'static [CipherSuite],
    tamper: Tamper,
    failing: Role,
    alert: AlertDescription,
    step: Step,
}

/// A case that the session survives until `fails` and `tamper` say
/// otherwise (a `Case` left half-built fails its own check).
fn case(name: &'static str, suites: &'static [CipherSuite]) -> Case {
    Case {
        name,
        suites,
        tamper: |_, _| true,
        failing: Role::Server,
        alert: A::CLOSE_NOTIFY,
        step: Step::ClientHello,
    }
}

impl Case {
    /// `failing` raises `alert` at `step`.
    fn fails(self, failing: Role, alert: AlertDescription, step: Step) -> Self {
        Self {
            failing,
            alert,
            step,
            ..self
        }
    }

    fn tamper(self, tamper: Tamper) -> Self {
        Self { tamper, ..self }
    }
}

/// A tamper step: puts `with()` in place of a plaintext handshake message
/// of type `typ`.
fn replace(m: &mut Message, typ: HandshakeType, with: impl FnOnce() -> Message) -> bool {
    if is_hs(m, typ) {
        *m = with();
    }
    true
}

/// A tamper step: applies `change` to the part `get` finds in `m` (a
/// ServerHello, a ClientHello, a ServerKeyExchange, a certificate list).
fn edit<T: ?Sized>(
    m: &mut Message,
    get: impl FnOnce(&mut Message) -> Option<&mut T>,
    change: impl FnOnce(&mut T),
) -> bool {
    if let Some(part) = get(m) {
        change(part);
    }
    true
}

fn run_cases(cases: Vec<Case>) {
    let mut problems = Problems::default();
    for c in cases {
        for &suite in c.suites {
            let mut run = Run::tampered(suite, c.tamper);
            let name = format!("{} [{suite:?}]", c.name);
            problems.fatal(&name, &mut run, c.failing, c.alert, c.step);
        }
    }
    problems.assert_none();
}

// ---------------------------------------------------------------------------
// Out-of-order messages: unexpected_message at the step being waited for
// ---------------------------------------------------------------------------

#[test]
fn out_of_order_messages_are_unexpected_message() {
    let all: &[CipherSuite] = &[
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    run_cases(vec![
        // The server, waiting for ClientHello.
        case("ClientKeyExchange before ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientHello)
            .tamper(|_, m| replace(m, HandshakeType::CLIENT_HELLO, a_client_key_exchange)),
        case("Finished before ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientHello)
            .tamper(|_, m| replace(m, HandshakeType::CLIENT_HELLO, a_finished)),
        case("encrypted Finished before ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientHello)
            .tamper(|_, m| {
                replace(m, HandshakeType::CLIENT_HELLO, || {
                    protected(ContentType::HANDSHAKE, 40)
                })
            }),
        case("ChangeCipherSpec before ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientHello)
            .tamper(|_, m| replace(m, HandshakeType::CLIENT_HELLO, || Message::ChangeCipherSpec)),
        case("application data before ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientHello)
            .tamper(|_, m| {
                replace(m, HandshakeType::CLIENT_HELLO, || {
                    protected(ContentType::APPLICATION_DATA, 40)
                })
            }),
        // The client, waiting for ServerHello.
        case("ChangeCipherSpec instead of ServerHello", all)
            .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerHello)
            .tamper(|_, m| replace(m, HandshakeType::SERVER_HELLO, || Message::ChangeCipherSpec)),
        case("application data instead of ServerHello", all)
            .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerHello)
            .tamper(|_, m| {
                replace(m, HandshakeType::SERVER_HELLO, || {
                    protected(ContentType::APPLICATION_DATA, 40)
                })
            }),
        // The client, waiting for Certificate.
        case("ServerHelloDone before Certificate", all)
            .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerCertificate)
            .tamper(|_, m| {
                replace(m, HandshakeType::CERTIFICATE, || {
                    hs(HandshakePayload::ServerHelloDone)
                })
            }),
        case("a second ServerHello instead of Certificate", all)
            .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerCertificate)
            .tamper(|_, m| {
                if let Some(HandshakePayload::Certificate(_)) = payload(m) {
                    *m = hs(HandshakePayload::ServerHello(ServerHello {
                        server_version: ProtocolVersion::TLSV1_2,
                        random: [3; 32],
                        session_id: Vec::new(),
                        cipher_suite: CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
                        compression_method: 0,
                        extensions: None,
                    }));
                }
                true
            }),
        // The client, waiting for ServerKeyExchange (ECDHE) or
        // ServerHelloDone (RSA): both belong to step 4.
        case("ServerKeyExchange for an RSA suite", RSA)
            .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerHelloDone)
            .tamper(|_, m| replace(m, HandshakeType::SERVER_HELLO_DONE, a_server_key_exchange)),
        case(
            "ServerHelloDone without the ServerKeyExchange of an ECDHE suite",
            ECDHE,
        )
        .fails(Role::Client, A::UNEXPECTED_MESSAGE, Step::ServerHelloDone)
        .tamper(|_, m| !is_hs(m, HandshakeType::SERVER_KEY_EXCHANGE)),
        // The server, waiting for ClientKeyExchange.
        case("a second ClientHello", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientKeyExchange)
            .tamper(|_, m| replace(m, HandshakeType::CLIENT_KEY_EXCHANGE, a_client_hello)),
        case("ChangeCipherSpec before ClientKeyExchange", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientKeyExchange)
            .tamper(|_, m| !is_hs(m, HandshakeType::CLIENT_KEY_EXCHANGE)),
        case("application data instead of ClientKeyExchange", all)
            .fails(Role::Server, A::UNEXPECTED_MESSAGE, Step::ClientKeyExchange)
            .tamper(|_, m| {
                replace(m, HandshakeType::CLIENT_KEY_EXCHANGE, || {
                    protected(ContentType::APPLICATION_DATA, 40)
                })
            }),
        // The server, waiting for the client's Finished.
        case("application data instead of the client's Finished", all)
            .fails(
                Role::Server,
                A::UNEXPECTED_MESSAGE,
                Step::ClientEncryptedHandshakeMessage,
            )
            .tamper(|from, m| {
                if let (Role::Client, Message::Protected(p)) = (from, &mut *m) {
                    p.typ = ContentType::APPLICATION_DATA;
                }
                true
            }),
        case("plaintext Finished after ChangeCipherSpec", all)
            .fails(
                Role::Server,
                A::UNEXPECTED_MESSAGE,
                Step::ClientEncryptedHandshakeMessage,
            )
            .tamper(|from, m| {
                if from == Role::Client && is_protected(m, ContentType::HANDSHAKE) {
                    *m = a_finished();
                }
                true
            }),
        case("a second ChangeCipherSpec from the client", all)
            .fails(
                Role::Server,
                A::UNEXPECTED_MESSAGE,
                Step::ClientEncryptedHandshakeMessage,
            )
            .tamper(|from, m| {
                if from == Role::Client && is_protected(m, ContentType::HANDSHAKE) {
                    *m = Message::ChangeCipherSpec;
                }
                true
            }),
        // The client, waiting for the server's Finished.
        case("application data instead of the server's Finished", all)
            .fails(
                Role::Client,
                A::UNEXPECTED_MESSAGE,
                Step::ServerEncryptedHandshakeMessage,
            )
            .tamper(|from, m| {
                if let (Role::Server, Message::Protected(p)) = (from, &mut *m) {
                    p.typ = ContentType::APPLICATION_DATA;
                }
                true
            }),
    ]);
}

// ---------------------------------------------------------------------------
// Malformed messages: decode_error
// ---------------------------------------------------------------------------

const RAW_SUITES: &[u8] = &[0x00, 0x04, 0x00, 0x9c, 0xc0, 0x2f];
const RAW_COMPRESSION: &[u8] = &[0x01, 0x00];
/// extensions<0..2^16-1> holding one empty renegotiation_info.
const RAW_EXTENSIONS: &[u8] = &[0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00];

/// A ClientHello body: version, random, session_id, then `suites` and
/// `rest` as given (each with whatever length prefix the case wants).
fn raw_hello_body(session_id: &[u8], suites: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[0x5a; 32]);
    b.push(u8::try_from(session_id.len()).expect("short session_id"));
    b.extend_from_slice(session_id);
    b.extend_from_slice(suites);
    b.extend_from_slice(rest);
    b
}

fn raw_rest(extra: &[u8]) -> Vec<u8> {
    [RAW_COMPRESSION, RAW_EXTENSIONS, extra].concat()
}

/// msg_type, uint24 length, body.
fn raw_handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("short body").to_be_bytes();
    [&[typ], &len[1..], body].concat()
}

fn good_raw_hello() -> Vec<u8> {
    raw_handshake(1, &raw_hello_body(&[], RAW_SUITES, &raw_rest(&[])))
}

#[test]
fn a_well_formed_raw_client_hello_decodes_and_is_answered() {
    for session_id in [&[][..], &[0x11; 32][..]] {
        let bytes = raw_handshake(1, &raw_hello_body(session_id, RAW_SUITES, &raw_rest(&[])));
        let msg = Message::read(ContentType::HANDSHAKE, &bytes, false).expect("decodes");
        let Message::Handshake(h) = &msg else {
            panic!("not a handshake message: {msg:?}")
        };
        let HandshakePayload::ClientHello(ch) = &h.payload else {
            panic!("not a ClientHello: {h:?}")
        };
        assert_eq!(ch.session_id, session_id);
        assert_eq!(
            ch.cipher_suites,
            [
                CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
        // Re-encodes byte for byte (the transcript depends on it).
        assert_eq!(h.get_encoding().unwrap(), bytes);
        let mut server =
            Connection::server(Arc::new(server_config()), Box::new(SeededRng::new(5))).unwrap();
        server.feed(msg).expect("the server accepts it");
        let first = server.poll_transmit();
        assert!(
            matches!(&first, Some(m) if is_hs(m, HandshakeType::SERVER_HELLO)),
            "{first:?}"
        );
    }
}

#[test]
fn truncated_oversized_and_trailing_client_hello_fields_are_decode_error() {
    let good_body = raw_hello_body(&[], RAW_SUITES, &raw_rest(&[]));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("the record holds less than the header's length", {
            let mut v = good_raw_hello();
            v.truncate(v.len() - 10);
            v
        }),
        ("the header alone", good_raw_hello()[..4].to_vec()),
        (
            "the body ends inside the random",
            raw_handshake(1, &good_body[..20]),
        ),
        (
            "the body ends after cipher_suites",
            raw_handshake(1, &raw_hello_body(&[], RAW_SUITES, &[])),
        ),
        (
            "a session_id of 33 bytes",
            raw_handshake(1, &raw_hello_body(&[0x11; 33], RAW_SUITES, &raw_rest(&[]))),
        ),
        (
            "cipher_suites length running past the end",
            raw_handshake(
                1,
                &raw_hello_body(&[], &[0x01, 0x00, 0x00, 0x9c, 0xc0, 0x2f], &[]),
            ),
        ),
        (
            "cipher_suites of odd length",
            raw_handshake(
                1,
                &raw_hello_body(&[], &[0x00, 0x03, 0x00, 0x9c, 0xc0], &raw_rest(&[])),
            ),
        ),
        (
            "no cipher suites",
            raw_handshake(1, &raw_hello_body(&[], &[0x00, 0x00], &raw_rest(&[]))),
        ),
        (
            "no compression methods",
            raw_handshake(
                1,
                &raw_hello_body(&[], RAW_SUITES, &[&[0x00][..], RAW_EXTENSIONS].concat()),
            ),
        ),
        (
            "extensions length running past the end",
            raw_handshake(
                1,
                &raw_hello_body(
                    &[],
                    RAW_SUITES,
                    &[RAW_COMPRESSION, &[0x00, 0x10, 0xff, 0x01, 0x00, 0x01, 0x00]].concat(),
                ),
            ),
        ),
        (
            "an extension's data running past the extensions block",
            raw_handshake(
                1,
                &raw_hello_body(
                    &[],
                    RAW_SUITES,
                    &[RAW_COMPRESSION, &[0x00, 0x05, 0xff, 0x01, 0x00, 0x09, 0x00]].concat(),
                ),
            ),
        ),
        (
            "trailing bytes inside the message",
            raw_handshake(
                1,
                &raw_hello_body(&[], RAW_SUITES, &raw_rest(&[0xde, 0xad])),
            ),
        ),
        (
            "trailing bytes after the message",
            [good_raw_hello(), vec![0x00]].concat(),
        ),
    ];
    let mut problems = Problems::default();
    for (name, bytes) in cases {
        let got = Message::read(ContentType::HANDSHAKE, &bytes, false);
        problems.check(
            name,
            match got {
                Err(e) if e.alert() == A::DECODE_ERROR && e.origin() == Origin::Local => Ok(()),
                other => Err(format!("expected a local decode_error, got {other:?}")),
            },
        );
    }
    problems.assert_none();
}

#[test]
fn malformed_records_of_other_types_are_decode_error() {
    // A ChangeCipherSpec that is not the single byte 1 is
    // unexpected_message instead (tests/hostile_records.rs).
    for (typ, bytes) in [
        (ContentType::ALERT, &[2][..]),
        (ContentType::ALERT, &[2, 40, 0][..]),
        (ContentType::HANDSHAKE, &[14, 0, 0, 1, 0][..]),
    ] {
        let e = Message::read(typ, bytes, false).unwrap_err();
        assert_eq!(e.alert(), A::DECODE_ERROR, "{typ:?} {bytes:?}: {e}");
    }
}

#[test]
fn client_key_exchange_with_a_wrong_length_prefix_is_decode_error() {
    run_cases(vec![
        case("RSA: EncryptedPreMasterSecret length one too long", RSA)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body[1] = cke.body[1].wrapping_add(1);
                }
                true
            }),
        case("RSA: EncryptedPreMasterSecret length one too short", RSA)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body[1] = cke.body[1].wrapping_sub(1);
                }
                true
            }),
        case("RSA: a lone byte of length", RSA)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body.truncate(1);
                }
                true
            }),
        case("ECDHE: point length one too long", ECDHE)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body[0] += 1;
                }
                true
            }),
        case("ECDHE: point length one too short", ECDHE)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body[0] -= 1;
                }
                true
            }),
        case("ECDHE: empty body", ECDHE)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    cke.body.clear();
                }
                true
            }),
    ]);
}

#[test]
fn an_invalid_client_ecdh_point_is_illegal_parameter() {
    run_cases(vec![
        case("x25519 all-zero point (low order)", ECDHE)
            .fails(Role::Server, A::ILLEGAL_PARAMETER, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    *cke = ClientKeyExchange::ecdh(&[0; 32]).unwrap();
                }
                true
            }),
        case("a point one byte short, with a matching length", ECDHE)
            .fails(Role::Server, A::ILLEGAL_PARAMETER, Step::ClientKeyExchange)
            .tamper(|_, m| {
                if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                    let public = cke.ecdh_public().unwrap().to_vec();
                    *cke = ClientKeyExchange::ecdh(&public[1..]).unwrap();
                }
                true
            }),
    ]);
}

/// Holds back `sender`'s Finished, applies `edit` to its plaintext (the
/// handshake message: type, uint24 length, verify_data), seals it again
/// under `sender`'s keys (first record, sequence number 0) and delivers it.
fn forged_finished(suite: CipherSuite, sender: Role, edit: Edit) -> Run {
    forged_first_record(suite, sender, ContentType::HANDSHAKE, edit)
}

/// Like [`forged_finished`], but the record sent in the Finished's place
/// is of type `typ`, its plaintext the Finished's after `edit`.
fn forged_first_record(suite: CipherSuite, sender: Role, typ: ContentType, edit: Edit) -> Run {
    let mut run = Run::new(pair_for(suite));
    let mut held = None;
    run.drive_with(|from, m| {
        if from == sender && held.is_none() && is_protected(m, ContentType::HANDSHAKE) {
            held = Some(m.clone());
            return false;
        }
        true
    });
    let Some(Message::Protected(rec)) = held else {
        panic!("{suite:?}: the {sender:?} sent no Finished")
    };
    let secrets = run
        .conn(sender)
        .secrets()
        .expect("keys exist before Finished");
    let (mut seal, _) = secrets.record_layer(sender).unwrap();
    let (_, mut open) = secrets.record_layer(other(sender)).unwrap();
    let mut plain = open
        .decrypt(rec.typ, &rec.fragment)
        .expect("the Finished opens under the sender's keys");
    edit(&mut plain);
    let fragment = seal.encrypt(typ, &plain).unwrap();
    run.inject(
        sender,
        Message::Protected(ProtectedRecord { typ, fragment }),
    );
    run
}

#[test]
fn forged_finished_messages() {
    let mut problems = Problems::default();
    for &suite in ONE_OF_EACH {
        for sender in [Role::Client, Role::Server] {
            let (receiver, step) = match sender {
                Role::Client => (Role::Server, Step::ClientEncryptedHandshakeMessage),
                Role::Server => (Role::Client, Step::ServerEncryptedHandshakeMessage),
            };
            // The control: sealed again unchanged, it is accepted.
            let run = forged_finished(suite, sender, |_| {});
            problems.check(
                &format!("resealed unchanged [{suite:?}, {sender:?}]"),
                run.check_complete(),
            );
            // A Finished that declares more than its record holds is not
            // malformed: the rest may come in the next record (RFC 5246
            // 6.2.1; tests/hostile_records.rs).
            let cases: [(&str, Edit, AlertDescription); 5] = [
                // RFC 5246 7.2.2: a Finished that does not verify.
                (
                    "verify_data with one bit flipped",
                    |p| p[4] ^= 0x80,
                    A::DECRYPT_ERROR,
                ),
                // RFC 5246 7.4.9: verify_data is exactly 12 bytes here; a
                // message of the wrong length is decode_error (7.2.2), as in
                // OpenSSL and BoringSSL.
                (
                    "11 bytes of verify_data",
                    |p| {
                        p.pop();
                        p[3] = 11;
                    },
                    A::DECODE_ERROR,
                ),
                (
                    "13 bytes of verify_data",
                    |p| {
                        p.push(0);
                        p[3] = 13;
                    },
                    A::DECODE_ERROR,
                ),
                (
                    "no verify_data",
                    |p| {
                        p.truncate(4);
                        p[3] = 0;
                    },
                    A::DECODE_ERROR,
                ),
                (
                    "a ServerHelloDone where Finished belongs",
                    |p| *p = vec![14, 0, 0, 0],
                    A::UNEXPECTED_MESSAGE,
                ),
            ];
            for (name, edit, alert) in cases {
                let mut run = forged_finished(suite, sender, edit);
                let name = format!("{name} [{suite:?}, {sender:?}'s Finished]");
                problems.fatal(&name, &mut run, receiver, alert, step);
            }
        }
    }
    problems.assert_none();
}

// ---------------------------------------------------------------------------
// Negotiation failures
// ---------------------------------------------------------------------------

/// No suite in common: the server received the ClientHello (step 1 done)
/// and fails choosing what to put in its ServerHello (step 2).
#[test]
fn no_common_suite_is_handshake_failure_at_the_server() {
    type Setup = fn() -> Pair;
    let cases: Vec<(&str, Setup)> = vec![
        ("client TLS_RSA_* only, server ECDHE only", || {
            let mut c = client_config();
            c.cipher_suites = RSA.to_vec();
            let mut s = server_config();
            s.cipher_suites = ECDHE.to_vec();
            Pair::new(c, s)
        }),
        ("client ECDHE only, server TLS_RSA_* only", || {
            let mut c = client_config();
            c.cipher_suites = ECDHE.to_vec();
            let mut s = server_config();
            s.cipher_suites = RSA.to_vec();
            Pair::new(c, s)
        }),
        ("client offers only TLS 1.3 suites", || {
            let mut c = client_config();
            c.cipher_suites = vec![
                CipherSuite(0x1301),
                CipherSuite(0x1302),
                CipherSuite(0x1303),
            ];
            Pair::new(c, server_config())
        }),
        (
            "ECDSA-only server, client RSA key exchange suites only",
            || {
                let mut c = client_config();
                c.cipher_suites = [RSA, ECDHE_RSA].concat();
                let s = ServerConfig::new(vec![certified(&pki().ecdsa_p256)]).unwrap();
                Pair::new(c, s)
            },
        ),
        ("RSA-only server, client ECDHE_ECDSA only", || {
            let mut c = client_config();
            c.cipher_suites = ECDHE_ECDSA.to_vec();
            let s = ServerConfig::new(vec![certified(&pki().rsa)]).unwrap();
            Pair::new(c, s)
        }),
        ("no ECDHE group in common", || {
            let mut c = client_config();
            c.cipher_suites = ECDHE.to_vec();
            c.groups = vec![NamedGroup::X448];
            Pair::new(c, server_config())
        }),
        (
            "the ECDSA certificate's curve is not among the client's groups",
            || {
                let mut c = client_config();
                c.cipher_suites = ECDHE_ECDSA.to_vec();
                c.groups = vec![NamedGroup::X25519];
                Pair::new(c, server_config())
            },
        ),
    ];
    let mut problems = Problems::default();
    for (name, setup) in cases {
        let mut run = Run::new(setup());
        run.drive();
        problems.fatal(
            name,
            &mut run,
            Role::Server,
            A::HANDSHAKE_FAILURE,
            Step::ServerHello,
        );
        problems.check(
            name,
            match steps(run.events(Role::Server)).as_slice() {
                [Step::ClientHello] => Ok(()),
                other => Err(format!(
                    "the server should report only ClientHello received, got {other:?}"
                )),
            },
        );
    }
    problems.assert_none();
}

#[test]
fn a_server_hello_the_client_did_not_ask_for_is_refused() {
    let one: &[CipherSuite] = &[CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    fn sh(m: &mut Message) -> Option<&mut ServerHello> {
        match payload(m) {
            Some(HandshakePayload::ServerHello(sh)) => Some(sh),
            _ => None,
        }
    }
    run_cases(vec![
        case("a suite the client did not offer", one)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHello)
            .tamper(|_, m| {
                edit(m, sh, |sh| {
                    sh.cipher_suite = CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                })
            }),
        case(
            "a suite of another key exchange the client did not offer",
            one,
        )
        .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHello)
        .tamper(|_, m| {
            edit(m, sh, |sh| {
                sh.cipher_suite = CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256
            })
        }),
        case("a suite nobody implements", one)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHello)
            .tamper(|_, m| edit(m, sh, |sh| sh.cipher_suite = CipherSuite(0x1301))),
        case("server_version TLS 1.1", one)
            .fails(Role::Client, A::PROTOCOL_VERSION, Step::ServerHello)
            .tamper(|_, m| edit(m, sh, |sh| sh.server_version = ProtocolVersion::TLSV1_1)),
        case("server_version SSL 3.0", one)
            .fails(Role::Client, A::PROTOCOL_VERSION, Step::ServerHello)
            .tamper(|_, m| edit(m, sh, |sh| sh.server_version = ProtocolVersion::SSLV3)),
        case("a compression method the client did not offer", one)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHello)
            .tamper(|_, m| edit(m, sh, |sh| sh.compression_method = 1)),
        // RFC 5246 7.4.1.4: an extension the client did not send.
        case("an unsolicited extension", one)
            .fails(Role::Client, A::UNSUPPORTED_EXTENSION, Step::ServerHello)
            .tamper(|_, m| {
                edit(m, sh, |sh| {
                    sh.extensions
                        .get_or_insert_with(Vec::new)
                        .push(ServerExtension::Unknown {
                            typ: ExtensionType(0x1234),
                            data: Vec::new(),
                        });
                })
            }),
        // RFC 5746 3.4: it must be empty on an initial handshake.
        case("a non-empty renegotiation_info", one)
            .fails(Role::Client, A::HANDSHAKE_FAILURE, Step::ServerHello)
            .tamper(|_, m| {
                edit(m, sh, |sh| {
                    for e in sh.extensions.iter_mut().flatten() {
                        if let ServerExtension::RenegotiationInfo(v) = e {
                            *v = vec![0; 12];
                        }
                    }
                })
            }),
    ]);
}

fn ch(m: &mut Message) -> Option<&mut ClientHello> {
    match payload(m) {
        Some(HandshakePayload::ClientHello(ch)) => Some(ch),
        _ => None,
    }
}

fn add_supported_versions(m: &mut Message, data: &[u8]) {
    if let Some(ch) = ch(m) {
        ch.extensions
            .get_or_insert_with(Vec::new)
            .push(ClientExtension::Unknown {
                typ: ExtensionType::SUPPORTED_VERSIONS,
                data: data.to_vec(),
            });
    }
}

#[test]
fn a_client_hello_the_server_cannot_serve_is_refused() {
    run_cases(vec![
        // RFC 5246 E.1: a server that supports only versions above
        // client_version answers protocol_version.
        case("client_version TLS 1.0", ONE_OF_EACH)
            .fails(Role::Server, A::PROTOCOL_VERSION, Step::ClientHello)
            .tamper(|_, m| edit(m, ch, |ch| ch.client_version = ProtocolVersion::TLSV1_0)),
        case("client_version TLS 1.1", ONE_OF_EACH)
            .fails(Role::Server, A::PROTOCOL_VERSION, Step::ClientHello)
            .tamper(|_, m| edit(m, ch, |ch| ch.client_version = ProtocolVersion::TLSV1_1)),
        case("supported_versions lists only TLS 1.3", ONE_OF_EACH)
            .fails(Role::Server, A::PROTOCOL_VERSION, Step::ClientHello)
            .tamper(|_, m| {
                add_supported_versions(m, &[0x02, 0x03, 0x04]);
                true
            }),
        case("supported_versions lists TLS 1.3 and 1.1", ONE_OF_EACH)
            .fails(Role::Server, A::PROTOCOL_VERSION, Step::ClientHello)
            .tamper(|_, m| {
                add_supported_versions(m, &[0x04, 0x03, 0x04, 0x03, 0x02]);
                true
            }),
        case("supported_versions longer than its extension", ONE_OF_EACH)
            .fails(Role::Server, A::DECODE_ERROR, Step::ClientHello)
            .tamper(|_, m| {
                add_supported_versions(m, &[0x04, 0x03, 0x03]);
                true
            }),
        case("no null compression", ONE_OF_EACH)
            .fails(Role::Server, A::ILLEGAL_PARAMETER, Step::ClientHello)
            .tamper(|_, m| edit(m, ch, |ch| ch.compression_methods = vec![1])),
        // RFC 5746 3.6: it must be empty on an initial handshake.
        case("a non-empty renegotiation_info", ONE_OF_EACH)
            .fails(Role::Server, A::HANDSHAKE_FAILURE, Step::ClientHello)
            .tamper(|_, m| {
                edit(m, ch, |ch| {
                    for e in ch.extensions.iter_mut().flatten() {
                        if let ClientExtension::RenegotiationInfo(v) = e {
                            *v = vec![0; 12];
                        }
                    }
                })
            }),
    ]);
}

/// The controls for the version cases: the server goes on, in TLS 1.2.
/// (The tampered ClientHello then breaks the Finished, which is fine.)
#[test]
fn a_client_hello_that_also_speaks_tls12_is_answered_in_tls12() {
    let tampers: [(&str, Tamper); 3] = [
        ("client_version TLS 1.3", |_, m| {
            if let Some(ch) = ch(m) {
                ch.client_version = ProtocolVersion::TLSV1_3;
            }
            true
        }),
        ("supported_versions TLS 1.3 and 1.2", |_, m| {
            add_supported_versions(m, &[0x04, 0x03, 0x04, 0x03, 0x03]);
            true
        }),
        (
            "supported_versions with an unknown version first",
            |_, m| {
                add_supported_versions(m, &[0x04, 0x7a, 0x7a, 0x03, 0x03]);
                true
            },
        ),
    ];
    for (name, tamper) in tampers {
        for &suite in ONE_OF_EACH {
            let run = Run::tampered(suite, tamper);
            let server_steps = steps(run.events(Role::Server));
            assert!(
                server_steps.contains(&Step::ServerHelloDone),
                "{name} [{suite:?}]: the server stopped at {server_steps:?}: {:?}",
                run.server_err
            );
            let version = run.sent_by(Role::Server).into_iter().find_map(|m| match m {
                Message::Handshake(HandshakeMessage {
                    payload: HandshakePayload::ServerHello(sh),
                }) => Some(sh.server_version),
                _ => None,
            });
            assert_eq!(
                version,
                Some(ProtocolVersion::TLSV1_2),
                "{name} [{suite:?}]"
            );
            // The tampering took effect: the transcripts differ, so the
            // session cannot complete.
            assert!(
                run.client_err.is_some() || run.server_err.is_some(),
                "{name} [{suite:?}]: the tampered ClientHello went unnoticed"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The server's certificate (step 5, Client Verification)
// ---------------------------------------------------------------------------

#[test]
fn a_certificate_from_an_unknown_ca_is_unknown_ca() {
    let mut problems = Problems::default();
    for &suite in [RSA, ECDHE_RSA].concat().iter() {
        let mut c = client_config();
        c.cipher_suites = vec![suite];
        let s = ServerConfig::new(vec![certified(&pki().other_ca_rsa)]).unwrap();
        let mut run = Run::new(Pair::new(c, s));
        run.drive();
        problems.fatal(
            &format!("{suite:?}"),
            &mut run,
            Role::Client,
            A::UNKNOWN_CA,
            Step::ClientVerification,
        );
    }
    problems.assert_none();
}

fn run_named(suite: CipherSuite, name: &str, now: rustls_pki_types::UnixTime) -> Run {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    let mut run = Run::new(Pair::with(c, server_config(), name, now, 1));
    run.drive();
    run
}

#[test]
fn a_certificate_for_another_name_is_bad_certificate() {
    let mut problems = Problems::default();
    for &suite in ONE_OF_EACH {
        for name in ["wrong.example", "127.0.0.2", "lab.test", "::1"] {
            let mut run = run_named(suite, name, valid_now());
            problems.fatal(
                &format!("{name} [{suite:?}]"),
                &mut run,
                Role::Client,
                A::BAD_CERTIFICATE,
                Step::ClientVerification,
            );
        }
    }
    problems.assert_none();
}

#[test]
fn the_certificates_own_names_and_ip_are_accepted() {
    for &suite in ONE_OF_EACH {
        for name in ["localhost", "server.lab.test", "127.0.0.1"] {
            let run = run_named(suite, name, valid_now());
            run.check_complete()
                .unwrap_or_else(|e| panic!("{name} [{suite:?}]: {e}"));
        }
    }
}

#[test]
fn an_expired_or_not_yet_valid_certificate_is_certificate_expired() {
    let mut problems = Problems::default();
    for &suite in ONE_OF_EACH {
        for (when, now) in [
            ("after expiry", after_expiry()),
            ("before validity", before_validity()),
        ] {
            let mut run = run_named(suite, "localhost", now);
            problems.fatal(
                &format!("{when} [{suite:?}]"),
                &mut run,
                Role::Client,
                A::CERTIFICATE_EXPIRED,
                Step::ClientVerification,
            );
        }
    }
    problems.assert_none();
}

#[test]
fn a_broken_certificate_message_is_refused() {
    fn cert_list(m: &mut Message) -> Option<&mut Vec<rustls_pki_types::CertificateDer<'static>>> {
        match payload(m) {
            Some(HandshakePayload::Certificate(c)) => Some(&mut c.certificate_list),
            _ => None,
        }
    }
    run_cases(vec![
        case("an empty certificate list", ONE_OF_EACH)
            .fails(Role::Client, A::BAD_CERTIFICATE, Step::ServerCertificate)
            .tamper(|_, m| edit(m, cert_list, |l| l.clear())),
        case("a certificate that is not DER", ONE_OF_EACH)
            .fails(Role::Client, A::BAD_CERTIFICATE, Step::ServerCertificate)
            .tamper(|_, m| {
                edit(m, cert_list, |l| {
                    l[0] = vec![0x30, 0x03, 0x01, 0x01, 0xff].into()
                })
            }),
        case("a certificate whose signature does not verify", ONE_OF_EACH)
            .fails(Role::Client, A::BAD_CERTIFICATE, Step::ClientVerification)
            .tamper(|_, m| {
                edit(m, cert_list, |l| {
                    let mut der = l[0].as_ref().to_vec();
                    let last = der.len() - 1;
                    der[last] ^= 0x01;
                    l[0] = der.into();
                })
            }),
        case("an ECDSA certificate for an RSA key exchange", RSA)
            .fails(
                Role::Client,
                A::UNSUPPORTED_CERTIFICATE,
                Step::ClientVerification,
            )
            .tamper(|_, m| edit(m, cert_list, |l| *l = pki().ecdsa_p256.chain.clone())),
        case("an RSA certificate for ECDHE_ECDSA", ECDHE_ECDSA)
            .fails(
                Role::Client,
                A::UNSUPPORTED_CERTIFICATE,
                Step::ClientVerification,
            )
            .tamper(|_, m| edit(m, cert_list, |l| *l = pki().rsa.chain.clone())),
    ]);
}

// ---------------------------------------------------------------------------
// ServerKeyExchange
// ---------------------------------------------------------------------------

fn ske(m: &mut Message) -> Option<&mut ServerKeyExchange> {
    match payload(m) {
        Some(HandshakePayload::ServerKeyExchange(ske)) => Some(ske),
        _ => None,
    }
}

#[test]
fn a_server_key_exchange_that_does_not_verify_is_decrypt_error() {
    run_cases(vec![
        case("a signature byte flipped", ECDHE)
            .fails(Role::Client, A::DECRYPT_ERROR, Step::ClientVerification)
            .tamper(|_, m| {
                edit(m, ske, |ske| {
                    let last = ske.signature.len() - 1;
                    ske.signature[last] ^= 0x01;
                })
            }),
        case("a signature byte flipped in the middle", ECDHE)
            .fails(Role::Client, A::DECRYPT_ERROR, Step::ClientVerification)
            .tamper(|_, m| edit(m, ske, |ske| flip_middle(&mut ske.signature))),
        case("an empty signature", ECDHE)
            .fails(Role::Client, A::DECRYPT_ERROR, Step::ClientVerification)
            .tamper(|_, m| edit(m, ske, |ske| ske.signature.clear())),
        // The signature covers the ECDHE parameters.
        case("the server's public key changed", ECDHE)
            .fails(Role::Client, A::DECRYPT_ERROR, Step::ClientVerification)
            .tamper(|_, m| edit(m, ske, |ske| ske.params.public[1] ^= 0x01)),
        case("another offered group named", ECDHE)
            .fails(Role::Client, A::DECRYPT_ERROR, Step::ClientVerification)
            .tamper(|_, m| edit(m, ske, |ske| ske.params.group = NamedGroup::SECP384R1)),
    ]);
}

#[test]
fn a_server_key_exchange_on_a_nist_curve_that_does_not_verify_is_decrypt_error() {
    let mut problems = Problems::default();
    for &suite in ECDHE {
        for group in [NamedGroup::SECP256R1, NamedGroup::SECP384R1] {
            let mut c = client_config();
            c.cipher_suites = vec![suite];
            c.groups = vec![group, NamedGroup::SECP256R1];
            let mut run = Run::new(Pair::new(c, server_config()));
            run.drive_with(|_, m| {
                if let Some(ske) = ske(m) {
                    let last = ske.params.public.len() - 1;
                    ske.params.public[last] ^= 0x01;
                }
                true
            });
            problems.fatal(
                &format!("{group:?} public key changed [{suite:?}]"),
                &mut run,
                Role::Client,
                A::DECRYPT_ERROR,
                Step::ClientVerification,
            );
        }
    }
    problems.assert_none();
}

#[test]
fn a_server_key_exchange_with_unoffered_parameters_is_illegal_parameter() {
    run_cases(vec![
        case("a group the client did not offer (secp521r1)", ECDHE)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHelloDone)
            .tamper(|_, m| edit(m, ske, |ske| ske.params.group = NamedGroup::SECP521R1)),
        case("an unknown group", ECDHE)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHelloDone)
            .tamper(|_, m| edit(m, ske, |ske| ske.params.group = NamedGroup(0x7a7a))),
        case("a signature scheme the client did not offer", ECDHE)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ServerHelloDone)
            .tamper(|_, m| edit(m, ske, |ske| ske.scheme = SignatureScheme::RSA_PKCS1_SHA1)),
        case("an ECDSA scheme for the RSA certificate", ECDHE_RSA)
            .fails(Role::Client, A::ILLEGAL_PARAMETER, Step::ClientVerification)
            .tamper(|_, m| {
                edit(m, ske, |ske| {
                    ske.scheme = SignatureScheme::ECDSA_NISTP256_SHA256
                })
            }),
    ]);
    // A group the engine implements but this client left out.
    let mut problems = Problems::default();
    for &suite in ECDHE {
        let mut c = client_config();
        c.cipher_suites = vec![suite];
        c.groups = vec![NamedGroup::X25519, NamedGroup::SECP384R1];
        let s = ServerConfig::new(vec![certified(&pki().rsa), certified(&pki().ecdsa_p384)]);
        let mut run = Run::new(Pair::new(c, s.unwrap()));
        run.drive_with(|_, m| {
            if let Some(ske) = ske(m) {
                ske.params.group = NamedGroup::SECP256R1;
            }
            true
        });
        problems.fatal(
            &format!("secp256r1, not offered [{suite:?}]"),
            &mut run,
            Role::Client,
            A::ILLEGAL_PARAMETER,
            Step::ServerHelloDone,
        );
    }
    problems.assert_none();
}

// ---------------------------------------------------------------------------
// Record protection: bad_record_mac, record_overflow, dropped ChangeCipherSpec
// ---------------------------------------------------------------------------

/// The client's Finished record with a byte flipped: the server's
/// (step, alert). The reference for the RSA no-oracle check below.
fn tampered_client_finished(suite: CipherSuite) -> (Run, Result<Error, String>) {
    let mut run = Run::tampered(suite, |from, m| {
        if let (Role::Client, Message::Protected(p)) = (from, &mut *m) {
            flip_middle(&mut p.fragment);
        }
        true
    });
    let r = check_fatal(
        &mut run,
        Role::Server,
        A::BAD_RECORD_MAC,
        Step::ClientEncryptedHandshakeMessage,
    );
    (run, r)
}

#[test]
fn a_tampered_finished_record_is_bad_record_mac() {
    let mut problems = Problems::default();
    for suite in all_suites() {
        let (_, r) = tampered_client_finished(suite);
        problems.check(&format!("client's Finished [{suite:?}]"), r);

        let mut run = Run::tampered(suite, |from, m| {
            if let (Role::Server, Message::Protected(p)) = (from, &mut *m) {
                flip_middle(&mut p.fragment);
            }
            true
        });
        problems.fatal(
            &format!("server's Finished [{suite:?}]"),
            &mut run,
            Role::Client,
            A::BAD_RECORD_MAC,
            Step::ServerEncryptedHandshakeMessage,
        );

        // The tag itself, and a record too short to hold one.
        for (what, edit) in [
            (
                "last tag byte",
                (|f: &mut Vec<u8>| *f.last_mut().unwrap() ^= 0x80) as Edit,
            ),
            ("truncated to 8 bytes", |f| f.truncate(8)),
            ("empty", |f| f.clear()),
        ] {
            let mut run = Run::new(pair_for(suite));
            run.drive_with(|from, m| {
                if let (Role::Client, Message::Protected(p)) = (from, &mut *m) {
                    edit(&mut p.fragment);
                }
                true
            });
            problems.fatal(
                &format!("client's Finished, {what} [{suite:?}]"),
                &mut run,
                Role::Server,
                A::BAD_RECORD_MAC,
                Step::ClientEncryptedHandshakeMessage,
            );
        }
    }
    problems.assert_none();
}

/// A completed session for `suite`.
fn established(suite: CipherSuite) -> Run {
    let mut run = Run::new(pair_for(suite));
    run.drive();
    run.check_complete()
        .unwrap_or_else(|e| panic!("{suite:?}: {e}"));
    run
}

#[test]
fn a_tampered_application_record_is_bad_record_mac_both_ways() {
    let mut problems = Problems::default();
    for suite in all_suites() {
        for sender in [Role::Client, Role::Server] {
            let mut run = established(suite);
            run.conn_mut(sender)
                .send_application_data(b"GET / HTTP/1.1\r\n\r\n")
                .unwrap();
            run.drive_with(|from, m| {
                if from == sender
                    && let Message::Protected(p) = m
                    && p.typ == ContentType::APPLICATION_DATA
                {
                    flip_middle(&mut p.fragment);
                }
                true
            });
            problems.fatal(
                &format!("{sender:?} -> {:?} [{suite:?}]", other(sender)),
                &mut run,
                other(sender),
                A::BAD_RECORD_MAC,
                Step::Finish,
            );
        }
    }
    problems.assert_none();
}

/// Sends two application records from `sender` and lets `tamper` see them
/// as (index, record); returns the run.
fn two_records(
    suite: CipherSuite,
    sender: Role,
    mut tamper: impl FnMut(usize, &mut Message) -> bool,
) -> Run {
    let mut run = established(suite);
    run.conn_mut(sender).send_application_data(b"one").unwrap();
    run.conn_mut(sender).send_application_data(b"two").unwrap();
    let mut i = 0;
    run.drive_with(|from, m| {
        if from == sender && is_protected(m, ContentType::APPLICATION_DATA) {
            i += 1;
            return tamper(i - 1, m);
        }
        true
    });
    run
}

#[test]
fn replayed_dropped_or_retyped_application_records_are_bad_record_mac() {
    let mut problems = Problems::default();
    for suite in all_suites() {
        for sender in [Role::Client, Role::Server] {
            let receiver = other(sender);
            let ctx = format!("{sender:?} -> {receiver:?} [{suite:?}]");

            // The first record again in place of the second.
            let mut first = None;
            let mut run = two_records(suite, sender, |i, m| {
                match i {
                    0 => first = Some(m.clone()),
                    _ => *m = first.clone().unwrap(),
                }
                true
            });
            problems.fatal(
                &format!("replayed record {ctx}"),
                &mut run,
                receiver,
                A::BAD_RECORD_MAC,
                Step::Finish,
            );
            // The first one was accepted before the replay.
            let got: Vec<&Event> = run
                .events(receiver)
                .iter()
                .filter(|e| matches!(e, Event::ApplicationData(_)))
                .collect();
            problems.check(
                &format!("replayed record {ctx}"),
                match got.as_slice() {
                    [Event::ApplicationData(d)] if d == b"one" => Ok(()),
                    other => Err(format!("expected only \"one\" delivered, got {other:?}")),
                },
            );

            // The first record lost: the second has the wrong sequence number.
            let mut run = two_records(suite, sender, |i, _| i != 0);
            problems.fatal(
                &format!("dropped record {ctx}"),
                &mut run,
                receiver,
                A::BAD_RECORD_MAC,
                Step::Finish,
            );

            // The content type is authenticated (RFC 5246 6.2.3.3).
            let mut run = two_records(suite, sender, |i, m| {
                if let (0, Message::Protected(p)) = (i, m) {
                    p.typ = ContentType::ALERT;
                }
                true
            });
            problems.fatal(
                &format!("application record relabelled as alert {ctx}"),
                &mut run,
                receiver,
                A::BAD_RECORD_MAC,
                Step::Finish,
            );
        }
    }
    problems.assert_none();
}

/// RFC 5246 6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048;
/// one byte more is record_overflow, exactly that much only fails the MAC.
#[test]
fn an_oversized_record_is_record_overflow() {
    let mut problems = Problems::default();
    for suite in all_suites() {
        for (len, alert) in [
            (MAX_CIPHERTEXT + 1, A::RECORD_OVERFLOW),
            (MAX_CIPHERTEXT, A::BAD_RECORD_MAC),
        ] {
            let mut run = Run::new(pair_for(suite));
            run.drive_with(|from, m| {
                if let (Role::Client, Message::Protected(p)) = (from, &mut *m) {
                    p.fragment.resize(len, 0);
                }
                true
            });
            problems.fatal(
                &format!("client's Finished of {len} bytes [{suite:?}]"),
                &mut run,
                Role::Server,
                alert,
                Step::ClientEncryptedHandshakeMessage,
            );
            for sender in [Role::Client, Role::Server] {
                let mut run = established(suite);
                run.conn_mut(sender).send_application_data(b"hi").unwrap();
                run.drive_with(|from, m| {
                    if from == sender
                        && let Message::Protected(p) = m
                        && p.typ == ContentType::APPLICATION_DATA
                    {
                        p.fragment.resize(len, 0);
                    }
                    true
                });
                problems.fatal(
                    &format!("{sender:?}'s application record of {len} bytes [{suite:?}]"),
                    &mut run,
                    other(sender),
                    alert,
                    Step::Finish,
                );
            }
        }
    }
    problems.assert_none();
}

#[test]
fn a_dropped_change_cipher_spec_is_unexpected_message() {
    let mut problems = Problems::default();
    for suite in all_suites() {
        let mut run = Run::tampered(suite, |from, m| {
            !(from == Role::Client && matches!(m, Message::ChangeCipherSpec))
        });
        problems.fatal(
            &format!("client's [{suite:?}]"),
            &mut run,
            Role::Server,
            A::UNEXPECTED_MESSAGE,
            Step::ClientChangeCipherSpec,
        );
        let mut run = Run::tampered(suite, |from, m| {
            !(from == Role::Server && matches!(m, Message::ChangeCipherSpec))
        });
        problems.fatal(
            &format!("server's [{suite:?}]"),
            &mut run,
            Role::Client,
            A::UNEXPECTED_MESSAGE,
            Step::ServerChangeCipherSpec,
        );
    }
    problems.assert_none();
}

// ---------------------------------------------------------------------------
// RSA key transport: no oracle (RFC 5246 7.4.7.1)
// ---------------------------------------------------------------------------

type CiphertextEdit = Box<dyn Fn(&[u8]) -> Vec<u8>>;

fn seeded_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    SeededRng::new(seed).fill(&mut v).unwrap();
    v
}

/// Properly padded RSA encryptions of something that is not this
/// session's pre-master, to the lab RSA key.
fn encrypted(plain: &[u8]) -> Vec<u8> {
    rsa_encrypt_pre_master(pki().rsa.cert().as_ref(), plain).unwrap()
}

#[test]
fn a_corrupted_rsa_pre_master_fails_only_at_the_clients_finished() {
    let edits: Vec<(&str, CiphertextEdit)> = vec![
        (
            "a byte flipped in the middle",
            Box::new(|ct| {
                let mut v = ct.to_vec();
                flip_middle(&mut v);
                v
            }),
        ),
        (
            "the top bit flipped (likely above the modulus)",
            Box::new(|ct| {
                let mut v = ct.to_vec();
                v[0] ^= 0x80;
                v
            }),
        ),
        (
            "the last byte flipped",
            Box::new(|ct| {
                let mut v = ct.to_vec();
                *v.last_mut().unwrap() ^= 0x01;
                v
            }),
        ),
        (
            "random bytes of the right length",
            Box::new(|ct| seeded_bytes(ct.len(), 7)),
        ),
        ("all zeros", Box::new(|ct| vec![0; ct.len()])),
        ("one byte short", Box::new(|ct| ct[..ct.len() - 1].to_vec())),
        ("one byte long", Box::new(|ct| [ct, &[0]].concat())),
        (
            "half the length",
            Box::new(|ct| ct[..ct.len() / 2].to_vec()),
        ),
        ("empty", Box::new(|_| Vec::new())),
        (
            "a well-padded 47-byte message",
            Box::new(|_| encrypted(&[0x03; 47])),
        ),
        (
            "a well-padded 49-byte message",
            Box::new(|_| encrypted(&[0x03; 49])),
        ),
        (
            "a well-padded pre-master with version TLS 1.0",
            Box::new(|_| encrypted(&[&[0x03, 0x01][..], &[0x42; 46]].concat())),
        ),
        (
            "a well-padded pre-master that is not the client's",
            Box::new(|_| encrypted(&[&[0x03, 0x03][..], &[0x42; 46]].concat())),
        ),
    ];
    let mut problems = Problems::default();
    for &suite in RSA {
        for ems in [true, false] {
            let (_, reference) = tampered_client_finished(suite);
            let reference = reference
                .map(|e| (Step::ClientEncryptedHandshakeMessage, e.alert()))
                .unwrap_or_else(|e| panic!("reference [{suite:?}]: {e}"));
            for (name, edit) in &edits {
                let ctx = format!("{name} [{suite:?}, EMS {ems}]");
                let mut c = client_config();
                c.cipher_suites = vec![suite];
                c.extended_master_secret = ems;
                let mut run = Run::new(Pair::new(c, server_config()));
                let mut tampered_len = None;
                run.drive_with(|_, m| {
                    if let Some(HandshakePayload::ClientKeyExchange(cke)) = payload(m) {
                        let ct = edit(cke.encrypted_pre_master().unwrap());
                        tampered_len = Some(ct.len());
                        *cke = ClientKeyExchange::rsa(&ct).unwrap();
                    }
                    true
                });

                // The ClientKeyExchange was accepted, keys were derived.
                let server_steps: Vec<(Step, Direction)> = step_events(run.events(Role::Server))
                    .map(|s| (s.step, s.direction))
                    .collect();
                problems.check(
                    &ctx,
                    if server_steps.contains(&(Step::ClientKeyExchange, Direction::Received))
                        && server_steps.contains(&(Step::GenSecretKey, Direction::Local))
                        && server_steps.contains(&(Step::ClientChangeCipherSpec, Direction::Received))
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "the server must accept the ClientKeyExchange and derive keys; steps {server_steps:?}"
                        ))
                    },
                );
                let reported_len =
                    step_events(run.events(Role::Server)).find_map(|s| match &s.detail {
                        StepDetail::ClientKeyExchange {
                            encrypted_pre_master_len,
                            ..
                        } => Some(*encrypted_pre_master_len),
                        _ => None,
                    });
                problems.check(
                    &ctx,
                    if reported_len == Some(tampered_len) {
                        Ok(())
                    } else {
                        Err(format!(
                            "ClientKeyExchange reported length {reported_len:?}, sent {tampered_len:?}"
                        ))
                    },
                );

                // And it fails exactly where and how a tampered Finished does.
                if let Some(err) = problems.fatal(
                    &ctx,
                    &mut run,
                    Role::Server,
                    A::BAD_RECORD_MAC,
                    Step::ClientEncryptedHandshakeMessage,
                ) {
                    let failed = failed_events(run.events(Role::Server));
                    let got = (failed[0].0, err.alert());
                    problems.check(
                        &ctx,
                        if got == reference {
                            Ok(())
                        } else {
                            Err(format!(
                                "(step, alert) {got:?} differs from a tampered Finished's {reference:?}: an oracle"
                            ))
                        },
                    );
                }
            }
        }
    }
    problems.assert_none();
}

// ---------------------------------------------------------------------------
// Alerts from the peer
// ---------------------------------------------------------------------------

type Pick = fn(Role, &Message) -> bool;

/// How a forged fatal alert reaches the receiver.
#[derive(Clone, Copy)]
enum Via {
    /// In the clear, in place of the message `Pick` chooses.
    Plain(Pick),
    /// Sealed under this sender's keys, in place of its Finished.
    Sealed(Role),
}

/// Where a fatal alert from the peer can arrive.
struct PeerAlertPoint {
    name: &'static str,
    suites: &'static [CipherSuite],
    via: Via,
    receiver: Role,
    /// The step the receiver is waiting for.
    step: Step,
}

fn peer_alert_points() -> Vec<PeerAlertPoint> {
    let point = |name, suites, pick: Pick, receiver, step| PeerAlertPoint {
        name,
        suites,
        via: Via::Plain(pick),
        receiver,
        step,
    };
    let sealed = |name, sender, step| PeerAlertPoint {
        name,
        suites: ONE_OF_EACH,
        via: Via::Sealed(sender),
        receiver: other(sender),
        step,
    };
    vec![
        point(
            "instead of ClientHello",
            ONE_OF_EACH,
            |_, m| is_hs(m, HandshakeType::CLIENT_HELLO),
            Role::Server,
            Step::ClientHello,
        ),
        point(
            "instead of ServerHello",
            ONE_OF_EACH,
            |_, m| is_hs(m, HandshakeType::SERVER_HELLO),
            Role::Client,
            Step::ServerHello,
        ),
        point(
            "instead of Certificate",
            ONE_OF_EACH,
            |_, m| is_hs(m, HandshakeType::CERTIFICATE),
            Role::Client,
            Step::ServerCertificate,
        ),
        point(
            "instead of ServerKeyExchange",
            ECDHE,
            |_, m| is_hs(m, HandshakeType::SERVER_KEY_EXCHANGE),
            Role::Client,
            Step::ServerHelloDone,
        ),
        point(
            "instead of ServerHelloDone",
            ONE_OF_EACH,
            |_, m| is_hs(m, HandshakeType::SERVER_HELLO_DONE),
            Role::Client,
            Step::ServerHelloDone,
        ),
        point(
            "instead of ClientKeyExchange",
            ONE_OF_EACH,
            |_, m| is_hs(m, HandshakeType::CLIENT_KEY_EXCHANGE),
            Role::Server,
            Step::ClientKeyExchange,
        ),
        point(
            "instead of the client's ChangeCipherSpec",
            ONE_OF_EACH,
            |from, m| from == Role::Client && matches!(m, Message::ChangeCipherSpec),
            Role::Server,
            Step::ClientChangeCipherSpec,
        ),
        point(
            "instead of the server's ChangeCipherSpec",
            ONE_OF_EACH,
            |from, m| from == Role::Server && matches!(m, Message::ChangeCipherSpec),
            Role::Client,
            Step::ServerChangeCipherSpec,
        ),
        sealed(
            "sealed, instead of the client's Finished",
            Role::Client,
            Step::ClientEncryptedHandshakeMessage,
        ),
        sealed(
            "sealed, instead of the server's Finished",
            Role::Server,
            Step::ServerEncryptedHandshakeMessage,
        ),
    ]
}

fn peer_alert_run(suite: CipherSuite, via: Via) -> Run {
    match via {
        Via::Plain(pick) => Run::tampered(suite, |from, m| {
            if pick(from, m) {
                *m = Message::Alert(Alert::fatal(A::HANDSHAKE_FAILURE));
            }
            true
        }),
        Via::Sealed(sender) => forged_first_record(suite, sender, ContentType::ALERT, |p| {
            *p = Alert::fatal(A::HANDSHAKE_FAILURE).get_encoding().unwrap();
        }),
    }
}

#[test]
fn a_fatal_alert_from_the_peer_ends_the_session_without_an_answer() {
    let mut problems = Problems::default();
    for PeerAlertPoint {
        name,
        suites,
        via,
        receiver,
        ..
    } in peer_alert_points()
    {
        for &suite in suites {
            let ctx = format!("{name} [{suite:?}]");
            let mut run = peer_alert_run(suite, via);
            let r = (|| {
                let err = run
                    .err(receiver)
                    .cloned()
                    .ok_or_else(|| format!("{receiver:?} did not fail"))?;
                ensure!(
                    (err.origin(), err.alert()) == (Origin::Peer, A::HANDSHAKE_FAILURE),
                    "expected Peer handshake_failure, got {:?} {}",
                    err.origin(),
                    err.alert()
                );
                let failed = failed_events(run.events(receiver));
                ensure!(
                    failed.len() == 1 && failed[0].1 == err,
                    "expected one Failed event carrying {err:?}, got {failed:?}"
                );
                ensure!(
                    !run.sent_by(receiver).into_iter().any(is_alert),
                    "{receiver:?} answered a fatal alert with an alert"
                );
                // The other engine sent no alert (it was forged in transit)
                // and has not failed.
                ensure!(
                    run.err(other(receiver)).is_none(),
                    "{:?} failed too: {:?}",
                    other(receiver),
                    run.err(other(receiver))
                );
                check_refuses(run.conn_mut(receiver), &err)
            })();
            problems.check(&ctx, r);
        }
    }
    problems.assert_none();
}

/// A peer's alert ends the step the receiver was waiting for, just as an
/// unexpected message in its place is reported at that step.
#[test]
fn a_fatal_alert_from_the_peer_is_reported_at_the_step_being_waited_for() {
    let mut problems = Problems::default();
    for PeerAlertPoint {
        name,
        suites,
        via,
        receiver,
        step,
    } in peer_alert_points()
    {
        for &suite in suites {
            let run = peer_alert_run(suite, via);
            let got = failed_events(run.events(receiver)).first().map(|f| f.0);
            problems.check(
                &format!("{name} [{suite:?}]"),
                if got == Some(step) {
                    Ok(())
                } else {
                    Err(format!(
                        "{receiver:?} reported the peer's alert at step {got:?}, expected {step:?}"
                    ))
                },
            );
        }
    }
    problems.assert_none();
}

/// Once the peer's ChangeCipherSpec is in, everything it sends is
/// protected: a plaintext alert there is unexpected_message, reported at
/// the step being waited for (the peer's Finished).
#[test]
fn a_plaintext_alert_after_change_cipher_spec_is_unexpected_message() {
    let mut problems = Problems::default();
    for &suite in ONE_OF_EACH {
        for sender in [Role::Client, Role::Server] {
            let (receiver, step) = match sender {
                Role::Client => (Role::Server, Step::ClientEncryptedHandshakeMessage),
                Role::Server => (Role::Client, Step::ServerEncryptedHandshakeMessage),
            };
            let mut run = Run::tampered(suite, |from, m| {
                if from == sender && is_protected(m, ContentType::HANDSHAKE) {
                    *m = Message::Alert(Alert::fatal(A::HANDSHAKE_FAILURE));
                }
                true
            });
            problems.fatal(
                &format!("instead of the {sender:?}'s Finished [{suite:?}]"),
                &mut run,
                receiver,
                A::UNEXPECTED_MESSAGE,
                step,
            );
        }
    }
    problems.assert_none();
}

#[test]
fn a_warning_alert_is_reported_and_the_handshake_goes_on() {
    for &suite in ONE_OF_EACH {
        let mut pair = pair_for(suite);
        // Before anything happened, on both sides.
        pair.server.feed(Message::Alert(warning())).unwrap();
        pair.client.feed(Message::Alert(warning())).unwrap();
        // Mid-handshake: the client between Certificate and ServerHelloDone,
        // the server while waiting for ClientKeyExchange.
        let hello = pair.client.poll_transmit().unwrap();
        pair.server.feed(hello).unwrap();
        while let Some(m) = pair.server.poll_transmit() {
            if is_hs(&m, HandshakeType::SERVER_HELLO_DONE) {
                pair.client.feed(Message::Alert(warning())).unwrap();
            }
            pair.client.feed(m).unwrap();
        }
        pair.server.feed(Message::Alert(warning())).unwrap();

        let out = pair.drive();
        assert!(
            out.client.is_none() && out.server.is_none(),
            "{suite:?}: {out:?}"
        );
        assert!(pair.client.is_handshake_complete(), "{suite:?}");
        assert!(pair.server.is_handshake_complete(), "{suite:?}");
        assert_eq!(steps(&pair.client_events), Step::ALL.to_vec(), "{suite:?}");
        for (events, n) in [(&pair.client_events, 2), (&pair.server_events, 2)] {
            let warnings = events
                .iter()
                .filter(|e| **e == Event::Warning(warning()))
                .count();
            assert_eq!(warnings, n, "{suite:?}: {events:?}");
            assert!(failed_events(events).is_empty(), "{suite:?}");
        }
        assert_eq!(pair.send(Role::Client, b"still here"), b"still here");
    }
}

#[test]
fn a_protected_warning_after_the_handshake_is_reported_and_traffic_goes_on() {
    for &suite in ONE_OF_EACH {
        let mut run = established(suite);
        // The client's next record is its second: sequence number 1.
        let secrets = run.pair.client.secrets().unwrap();
        let (mut seal, _) = secrets.record_layer(Role::Client).unwrap();
        seal.encrypt(ContentType::HANDSHAKE, b"the Finished, seq 0")
            .unwrap();
        let fragment = seal
            .encrypt(ContentType::ALERT, &warning().get_encoding().unwrap())
            .unwrap();
        run.pair
            .server
            .feed(Message::Protected(ProtectedRecord {
                typ: ContentType::ALERT,
                fragment,
            }))
            .unwrap();
        assert_eq!(
            run.pair.server.poll_event(),
            Some(Event::Warning(warning())),
            "{suite:?}"
        );
        assert_eq!(run.pair.send(Role::Server, b"go on"), b"go on");
    }
}

// ---------------------------------------------------------------------------
// After the failure
// ---------------------------------------------------------------------------

#[test]
fn after_a_fatal_alert_every_input_gets_the_same_error_and_nothing_is_sent() {
    for &suite in ONE_OF_EACH {
        // Before and after ChangeCipherSpec, on each side.
        let (mut run, r) = tampered_client_finished(suite);
        r.unwrap_or_else(|e| panic!("{suite:?}: {e}"));
        for (role, err) in [
            (Role::Server, run.server_err.clone().unwrap()),
            (Role::Client, run.client_err.clone().unwrap()),
        ] {
            let conn = run.conn_mut(role);
            assert!(!conn.is_handshake_complete(), "{suite:?} {role:?}");
            for _ in 0..3 {
                // Even the message it was waiting for is refused now.
                assert_eq!(conn.feed(Message::ChangeCipherSpec), Err(err.clone()));
                assert_eq!(conn.feed(a_client_hello()), Err(err.clone()));
            }
            assert!(conn.poll_transmit().is_none(), "{suite:?} {role:?}");
            assert!(conn.poll_event().is_none(), "{suite:?} {role:?}");
        }

        let mut run = Run::tampered(suite, |from, m| {
            if let (Role::Server, Message::Protected(p)) = (from, &mut *m) {
                flip_middle(&mut p.fragment);
            }
            true
        });
        let err = assert_fatal(
            &mut run,
            Role::Client,
            A::BAD_RECORD_MAC,
            Step::ServerEncryptedHandshakeMessage,
        );
        // The client's alert went out protected, after its ChangeCipherSpec.
        assert!(matches!(
            run.sent_by(Role::Client).last(),
            Some(Message::Protected(p)) if p.typ == ContentType::ALERT
        ));
        assert_eq!(run.pair.client.failure(), Some(&err));
    }
}
