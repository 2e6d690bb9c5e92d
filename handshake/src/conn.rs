//! [`Connection`]: the sans-IO engine for either role. Inputs are
//! [`Connection::handle`] and [`Connection::send_application_data`], outputs
//! [`Connection::poll_transmit`] and [`Connection::poll_event`]. The
//! handshakes of each role are in `client.rs` and `server.rs`; this file
//! holds what both share: queues, record protection, reassembly of protected
//! handshake messages, type-before-body checks, alerts (and the cap on
//! warnings), and the traffic phase after Finished.

use std::collections::VecDeque;
use std::mem;
use std::time::Duration;

use crate::Role;
use crate::client::ClientState;
use crate::error::{Error, Origin};
use crate::events::{Direction, Event, Step, StepDetail, StepEvent};
use crate::faults::LabFaults;
use crate::keys::{SessionSecrets, VERIFY_DATA_LEN, ct_eq};
use crate::msgs::codec::Codec;
use crate::msgs::enums::{AlertDescription, AlertLevel, ContentType, HandshakeType};
use crate::msgs::handshake::{
    Finished, HandshakeMessage, HandshakePayload, Random, max_handshake_len,
};
use crate::msgs::message::{Alert, Message, ProtectedRecord};
use crate::rand::Rng;
use crate::record::{MAX_PLAINTEXT, RecordDecrypter, RecordEncrypter};
use crate::server::ServerState;
use crate::suites::SuiteParams;
use crate::transcript::Transcript;
use zeroize::Zeroizing;

/// close_notify (RFC 5246 7.2.1), sent at warning level.
const CLOSE_NOTIFY: Alert = Alert {
    level: AlertLevel::WARNING,
    description: AlertDescription::CLOSE_NOTIFY,
};

/// Warning alerts accepted per handshake; the next one is fatal
/// (unexpected_message). Warnings carry no progress, and a peer that sends
/// one now and then must not hold a session open: OpenSSL's
/// `MAX_WARN_ALERT_COUNT` is 5 with the same effect (its fifth warning is
/// fatal). After the handshake the same cap applies to warnings in a row:
/// application data from the peer starts the count again.
pub const MAX_WARNING_ALERTS: usize = 4;

/// One TLS 1.2 session, client or server side.
pub struct Connection {
    pub(crate) core: Core,
    state: State,
}

pub(crate) enum State {
    Client(Box<ClientState>),
    Server(Box<ServerState>),
    /// Handshake done: application data flows both ways.
    Traffic,
    /// We sent close_notify and wait for the peer's; its data still counts.
    Closing,
    /// close_notify sent and received: nothing more comes or goes.
    Closed,
    /// A fatal alert was sent or received; all further input is refused.
    Failed(Error),
}

/// What both roles share while the handshake runs.
pub(crate) struct Core {
    pub(crate) role: Role,
    pub(crate) rng: Box<dyn Rng>,
    /// This side's lab faults (off unless its config turns one on).
    faults: LabFaults,
    outgoing: VecDeque<Message>,
    events: VecDeque<Event>,
    /// The step being worked on, named in a `Failed` event if it fails.
    step: Step,
    /// Keys derived but not yet switched on by a ChangeCipherSpec.
    pending_write: Option<RecordEncrypter>,
    pending_read: Option<RecordDecrypter>,
    encrypter: Option<RecordEncrypter>,
    decrypter: Option<RecordDecrypter>,
    pub(crate) secrets: Option<SessionSecrets>,
    /// Set when both Finished messages have been verified.
    pub(crate) handshake_complete: bool,
    /// Reads the caller's clock for step timestamps, if it gave one.
    clock: Option<Clock>,
    /// Handshake bytes opened from protected records and not yet a whole
    /// message: RFC 5246 6.2.1 lets any handshake message span records,
    /// protected ones too. Its type and declared length are checked as
    /// soon as they are in ([`Core::take_handshake`]), so it holds at most
    /// one record's plaintext more than the longest message allowed now.
    handshake_fragments: Vec<u8>,
    /// The ciphertext of the records that carried the peer's Finished so
    /// far, for the step report.
    finished_records: Vec<u8>,
    /// Warning alerts received this handshake, or in a row after it.
    warnings: usize,
}

/// A caller-supplied clock: time since an origin of the caller's choosing.
pub type Clock = Box<dyn Fn() -> Duration + Send>;

impl Core {
    fn new(role: Role, rng: Box<dyn Rng>, faults: LabFaults) -> Self {
        Self {
            role,
            rng,
            faults,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            step: Step::ClientHello,
            pending_write: None,
            pending_read: None,
            encrypter: None,
            decrypter: None,
            secrets: None,
            handshake_complete: false,
            clock: None,
            handshake_fragments: Vec::new(),
            finished_records: Vec::new(),
            warnings: 0,
        }
    }

    /// Marks the start of `step`.
    pub(crate) fn at(&mut self, step: Step) {
        self.step = step;
    }

    /// Reports the current step as done.
    pub(crate) fn emit(&mut self, direction: Direction, detail: StepDetail) {
        let at = self.clock.as_ref().map(|clock| clock());
        self.events.push_back(Event::Step(StepEvent {
            step: self.step,
            direction,
            detail,
            at,
        }));
    }

    pub(crate) fn send(&mut self, msg: Message) {
        self.outgoing.push_back(msg);
    }

    /// Protects `plaintext` as one record of `typ`, queues it, and returns
    /// the fragment as sent.
    pub(crate) fn send_protected(
        &mut self,
        typ: ContentType,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let enc = self
            .encrypter
            .as_mut()
            .ok_or_else(|| Error::internal("no write keys before ChangeCipherSpec"))?;
        let mut fragment = enc.encrypt(typ, plaintext)?;
        if typ == ContentType::APPLICATION_DATA {
            self.faults.on_application_record(&mut fragment);
        }
        self.send(Message::Protected(ProtectedRecord {
            typ,
            fragment: fragment.clone(),
        }));
        Ok(fragment)
    }

    /// Removes the protection of a received record.
    pub(crate) fn open(&mut self, rec: &ProtectedRecord) -> Result<Vec<u8>, Error> {
        let dec = self.decrypter.as_mut().ok_or_else(|| {
            Error::unexpected("protected record before the peer's ChangeCipherSpec")
        })?;
        dec.decrypt(rec.typ, &rec.fragment)
    }

    /// Opens a protected handshake record and appends its plaintext to the
    /// handshake message being reassembled.
    fn open_handshake(&mut self, rec: &ProtectedRecord) -> Result<(), Error> {
        let plain = self.open(rec)?;
        if plain.is_empty() {
            // RFC 5246 6.2.1: zero-length handshake fragments MUST NOT be
            // sent (and each would cost a decryption for nothing).
            return Err(Error::decode("empty protected handshake record"));
        }
        self.handshake_fragments.extend_from_slice(&plain);
        Ok(())
    }

    /// Whether a protected handshake message is partly in: until it is
    /// whole, a record of any other kind is unexpected (RFC 5246 6.2.1
    /// allows interleaving only between whole messages).
    fn mid_handshake_message(&self) -> bool {
        !self.handshake_fragments.is_empty()
    }

    /// The next whole handshake message opened from protected records, as
    /// `msg_type || length || body`, or `None` while more records are
    /// needed. The type is checked first, as soon as its byte is in:
    /// `max_body` gives the longest body accepted for it, or `None` if the
    /// type is not expected now (unexpected_message, with `context` saying
    /// what was expected); a longer declared length is decode_error, before
    /// the body is waited for.
    fn take_handshake(
        &mut self,
        max_body: impl Fn(HandshakeType) -> Option<usize>,
        context: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let Some(&typ) = self.handshake_fragments.first() else {
            return Ok(None);
        };
        let typ = HandshakeType(typ);
        let Some(max) = max_body(typ) else {
            return Err(Error::unexpected(format!("encrypted {typ} {context}")));
        };
        let Some(h) = self.handshake_fragments.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        if len > max {
            return Err(Error::decode(format!(
                "encrypted {typ} declares {len} bytes, at most {max} are allowed"
            )));
        }
        if self.handshake_fragments.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some(self.handshake_fragments.drain(..4 + len).collect()))
    }

    /// Step 8, Gen secret key: the master secret (RFC 7627's when both sides
    /// asked for it: its session_hash covers the transcript up to and
    /// including ClientKeyExchange) and the key block. The keys take effect
    /// at ChangeCipherSpec, ours when we send it, the peer's when it comes.
    pub(crate) fn gen_secret_key(
        &mut self,
        suite: &'static SuiteParams,
        client_random: &Random,
        server_random: &Random,
        pre_master: Zeroizing<Vec<u8>>,
        transcript: &Transcript,
        extended_master_secret: bool,
    ) -> Result<(), Error> {
        self.at(Step::GenSecretKey);
        let session_hash = if extended_master_secret {
            Some(transcript.hash()?)
        } else {
            None
        };
        let secrets = SessionSecrets::new(
            suite,
            client_random,
            server_random,
            pre_master,
            session_hash.as_deref(),
        )?;
        self.emit(
            Direction::Local,
            StepDetail::GenSecretKey {
                extended_master_secret,
                prf: suite.hash,
                key_block_len: suite.key_block_len(),
                enc_key_len: suite.bulk.key_len(),
                fixed_iv_len: suite.bulk.fixed_iv_len(),
            },
        );
        let (enc, dec) = secrets.record_layer(self.role)?;
        self.secrets = Some(secrets);
        self.pending_write = Some(enc);
        self.pending_read = Some(dec);
        Ok(())
    }

    /// Steps 9 and 10 (client) or 11 and 12 (server): ChangeCipherSpec,
    /// after which every record is protected (RFC 5246 7.1), then this
    /// side's Finished as the first protected record (7.4.9).
    pub(crate) fn send_change_cipher_spec_and_finished(
        &mut self,
        transcript: &mut Transcript,
    ) -> Result<(), Error> {
        let (ccs, finished) = match self.role {
            Role::Client => (
                Step::ClientChangeCipherSpec,
                Step::ClientEncryptedHandshakeMessage,
            ),
            Role::Server => (
                Step::ServerChangeCipherSpec,
                Step::ServerEncryptedHandshakeMessage,
            ),
        };
        self.at(ccs);
        let enc = self
            .pending_write
            .take()
            .ok_or_else(|| Error::internal("ChangeCipherSpec before the keys exist"))?;
        self.send(Message::ChangeCipherSpec);
        self.encrypter = Some(enc);
        self.emit(Direction::Sent, StepDetail::ChangeCipherSpec);

        self.at(finished);
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| Error::internal("no secrets at Finished"))?;
        let mut verify_data = secrets.verify_data(self.role, &transcript.hash()?)?;
        self.faults.on_verify_data(&mut verify_data);
        let m = HandshakeMessage::from(HandshakePayload::Finished(Finished {
            verify_data: verify_data.to_vec(),
        }));
        let plain = transcript.add(&m)?;
        let record = self.send_protected(ContentType::HANDSHAKE, &plain)?;
        self.emit(
            Direction::Sent,
            StepDetail::EncryptedHandshakeMessage {
                verify_data: verify_data.to_vec(),
                record,
            },
        );
        Ok(())
    }

    /// Step 11 (client) or 9 (server): the peer's ChangeCipherSpec; its
    /// later records are protected.
    pub(crate) fn receive_change_cipher_spec(&mut self) -> Result<(), Error> {
        self.at(match self.role {
            Role::Client => Step::ServerChangeCipherSpec,
            Role::Server => Step::ClientChangeCipherSpec,
        });
        let dec = self
            .pending_read
            .take()
            .ok_or_else(|| Error::unexpected("ChangeCipherSpec before the key exchange"))?;
        self.decrypter = Some(dec);
        self.emit(Direction::Received, StepDetail::ChangeCipherSpec);
        Ok(())
    }

    /// Step 12 (client) or 10 (server): opens the peer's Finished, the
    /// first protected handshake message, and checks it against the
    /// transcript so far (RFC 5246 7.4.9); reports it and returns the
    /// message for the transcript. The peer may split the Finished over
    /// several records (RFC 5246 6.2.1): until it is whole this returns
    /// `None` and the state waits for the next record.
    pub(crate) fn receive_finished(
        &mut self,
        rec: &ProtectedRecord,
        transcript: &Transcript,
    ) -> Result<Option<HandshakeMessage>, Error> {
        let sender = match self.role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        let step = match sender {
            Role::Client => Step::ClientEncryptedHandshakeMessage,
            Role::Server => Step::ServerEncryptedHandshakeMessage,
        };
        self.at(step);
        if rec.typ != ContentType::HANDSHAKE {
            return Err(Error::unexpected(format!(
                "expected the encrypted Finished, got a {} record",
                rec.typ
            )));
        }
        self.open_handshake(rec)?;
        self.finished_records.extend_from_slice(&rec.fragment);
        let finished = |typ| (typ == HandshakeType::FINISHED).then_some(VERIFY_DATA_LEN);
        let context = format!("while waiting for step {step} (Finished)");
        let Some(bytes) = self.take_handshake(finished, &context)? else {
            return Ok(None);
        };
        let m = HandshakeMessage::read_bytes(&bytes)?;
        let HandshakePayload::Finished(fin) = &m.payload else {
            return Err(Error::unexpected(format!(
                "{} instead of the encrypted Finished",
                m.typ()
            )));
        };
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| Error::internal("no secrets at Finished"))?;
        let expected = secrets.verify_data(sender, &transcript.hash()?)?;
        // verify_data is 12 bytes for every TLS 1.2 suite here (7.4.9); a
        // message of the wrong length is malformed, not merely wrong.
        if fin.verify_data.len() != expected.len() {
            return Err(Error::decode(format!(
                "Finished verify_data has {} bytes, not {}",
                fin.verify_data.len(),
                expected.len()
            )));
        }
        if !ct_eq(&expected, &fin.verify_data) {
            let who = match sender {
                Role::Client => "client",
                Role::Server => "server",
            };
            return Err(Error::decrypt_error(format!(
                "the {who}'s Finished verify_data is wrong"
            )));
        }
        // The records' ciphertext as it travelled, concatenated if the
        // peer split the message.
        let record = mem::take(&mut self.finished_records);
        self.emit(
            Direction::Received,
            StepDetail::EncryptedHandshakeMessage {
                verify_data: fin.verify_data.clone(),
                record,
            },
        );
        Ok(Some(m))
    }

    /// Step 13, Finish: both Finished verified, application data may flow.
    pub(crate) fn finish(&mut self) -> State {
        self.at(Step::Finish);
        if let Some(secrets) = &self.secrets {
            let detail = StepDetail::Finish {
                cipher_suite: secrets.suite().suite,
                extended_master_secret: secrets.extended_master_secret(),
            };
            self.emit(Direction::Local, detail);
        }
        self.handshake_complete = true;
        // From here on the warning cap counts warnings in a row.
        self.warnings = 0;
        State::Traffic
    }

    /// Queues a fatal alert for a local error, protected if our write keys
    /// are on (RFC 5246 7.2: alerts are records like any other).
    fn send_alert(&mut self, alert: Alert) {
        let bytes = alert.to_bytes();
        if self.encrypter.is_some() {
            // If even the alert cannot be sealed, there is nothing more to
            // send: the session is over either way.
            let _ = self.send_protected(ContentType::ALERT, &bytes);
        } else {
            self.send(Message::Alert(alert));
        }
    }
}

impl Connection {
    pub(crate) fn new(
        role: Role,
        rng: Box<dyn Rng>,
        faults: LabFaults,
        state: impl FnOnce(&mut Core) -> Result<State, Error>,
    ) -> Result<Self, Error> {
        let mut core = Core::new(role, rng, faults);
        let state = state(&mut core)?;
        Ok(Self { core, state })
    }

    /// Stamps each step with `clock()` when it finishes (see
    /// [`StepEvent::at`]). The engine never reads a clock of its own: the
    /// caller decides what time is, e.g. `move || start.elapsed()`. Steps
    /// already reported (the ClientHello, queued at construction) have no
    /// stamp.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.core.clock = Some(clock);
        self
    }

    /// Feeds one received message. What it causes comes out of
    /// [`Connection::poll_transmit`] and [`Connection::poll_event`]; a
    /// failure is the fatal alert queued to send and one `Event::Failed`
    /// (also kept in [`Connection::failure`]). Once the session has failed
    /// or closed, further messages are ignored.
    //
    // Why no `Result`: returning the failure as well would report it twice
    // (every driver threw the copy away). One channel, as in quinn-proto.
    pub fn handle(&mut self, msg: Message) {
        if matches!(self.state, State::Failed(_) | State::Closed) {
            return;
        }
        if let Err(e) = self.dispatch(msg) {
            self.fail(e);
        }
    }

    fn dispatch(&mut self, msg: Message) -> Result<(), Error> {
        // Whatever arrives (an alert, a record that fails to open) is
        // reported against the step this side is waiting for.
        match &self.state {
            State::Client(s) => self.core.at(s.expecting()),
            State::Server(s) => self.core.at(s.expecting()),
            _ => {}
        }
        if self.core.mid_handshake_message()
            && !matches!(&msg, Message::Protected(r) if r.typ == ContentType::HANDSHAKE)
        {
            return Err(Error::unexpected(format!(
                "{} in the middle of a fragmented encrypted handshake message",
                describe(&msg)
            )));
        }
        let msg = match msg {
            Message::Alert(alert) => {
                if self.core.decrypter.is_some() {
                    return Err(Error::unexpected("plaintext alert after ChangeCipherSpec"));
                }
                return self.on_alert(alert);
            }
            Message::Protected(rec) if rec.typ == ContentType::ALERT => {
                let plain = self.core.open(&rec)?;
                return self.on_alert(Alert::read_bytes(&plain)?);
            }
            // A plaintext handshake message: its type is checked against
            // the state before its body is decoded, so a message in the
            // wrong place is unexpected_message whatever its body holds.
            Message::Handshake(h) => {
                self.expect_handshake(h.typ())?;
                Message::Handshake(h)
            }
            Message::RawHandshake(raw) => {
                self.expect_handshake(raw.typ())?;
                Message::Handshake(raw.decode()?)
            }
            m => m,
        };
        // The state is taken out and the next one put back: a transition
        // consumes what the old state held. On error the placeholder stays,
        // and `fail` replaces it with `Failed`.
        self.state = match mem::replace(&mut self.state, State::Closed) {
            State::Client(s) => (*s).handle(&mut self.core, msg)?,
            State::Server(s) => (*s).handle(&mut self.core, msg)?,
            State::Traffic => self.on_traffic(msg)?,
            State::Closing => {
                self.on_traffic(msg)?;
                State::Closing
            }
            other => other,
        };
        // A record that ended the peer's Finished may have carried the
        // start of its next handshake message too.
        if matches!(self.state, State::Traffic) && self.core.mid_handshake_message() {
            self.on_traffic_handshake()?;
        }
        Ok(())
    }

    /// Fails with unexpected_message unless the state waits for a
    /// plaintext handshake message of type `typ`.
    fn expect_handshake(&mut self, typ: HandshakeType) -> Result<(), Error> {
        let (step, expected) = match &self.state {
            State::Client(s) => (s.expecting(), s.expected_handshake()),
            State::Server(s) => (s.expecting(), s.expected_handshake()),
            _ => {
                return Err(Error::unexpected(format!(
                    "plaintext {typ} after the handshake"
                )));
            }
        };
        if expected != Some(typ) {
            return Err(unexpected_type(&mut self.core, step, typ));
        }
        Ok(())
    }

    fn on_traffic(&mut self, msg: Message) -> Result<State, Error> {
        match msg {
            Message::Protected(rec) if rec.typ == ContentType::APPLICATION_DATA => {
                let plain = self.core.open(&rec)?;
                self.core.events.push_back(Event::ApplicationData(plain));
                self.core.warnings = 0;
                Ok(State::Traffic)
            }
            Message::Protected(rec) if rec.typ == ContentType::HANDSHAKE => {
                self.core.open_handshake(&rec)?;
                self.on_traffic_handshake()?;
                Ok(State::Traffic)
            }
            Message::Protected(rec) => Err(Error::unexpected(format!(
                "{} record after the handshake",
                rec.typ
            ))),
            other => Err(Error::unexpected(format!(
                "plaintext {} after the handshake",
                other.content_type()
            ))),
        }
    }

    /// Handshake messages after the handshake, whole ones as they come in.
    /// The only one a peer may send asks for renegotiation: a HelloRequest
    /// (empty) from a server, a ClientHello from a client. Any other type
    /// is refused as soon as its first byte is in; a renegotiation request
    /// is declined without reading its body, which cannot change the
    /// answer.
    fn on_traffic_handshake(&mut self) -> Result<(), Error> {
        let (asked, max) = match self.core.role {
            Role::Client => (HandshakeType::HELLO_REQUEST, 0),
            Role::Server => (
                HandshakeType::CLIENT_HELLO,
                max_handshake_len(HandshakeType::CLIENT_HELLO),
            ),
        };
        let max_body = |typ| (typ == asked).then_some(max);
        while self
            .core
            .take_handshake(max_body, "after the handshake")?
            .is_some()
        {
            // RFC 5246 7.2.2: renegotiation is declined with a
            // no_renegotiation warning; the session goes on (RFC 5746
            // is supported for the initial handshake only).
            let alert = Alert {
                level: AlertLevel::WARNING,
                description: AlertDescription::NO_RENEGOTIATION,
            };
            self.core
                .send_protected(ContentType::ALERT, &alert.to_bytes())?;
        }
        Ok(())
    }

    fn on_alert(&mut self, alert: Alert) -> Result<(), Error> {
        if alert.description == AlertDescription::CLOSE_NOTIFY {
            match self.state {
                // RFC 5246 7.2.1: answer with a close_notify of our own.
                State::Traffic => {
                    self.core
                        .send_protected(ContentType::ALERT, &CLOSE_NOTIFY.to_bytes())?;
                }
                State::Closing => {}
                // During the handshake the session simply did not happen.
                _ => return Err(Error::from_peer(alert.description)),
            }
            self.core.events.push_back(Event::PeerClosed);
            self.state = State::Closed;
            return Ok(());
        }
        if alert.level == AlertLevel::WARNING {
            self.core.warnings += 1;
            if self.core.warnings > MAX_WARNING_ALERTS {
                let when = if self.core.handshake_complete {
                    "in a row after the handshake"
                } else {
                    "during the handshake"
                };
                return Err(Error::unexpected(format!(
                    "more than {MAX_WARNING_ALERTS} warning alerts {when} (the last: {})",
                    alert.description
                )));
            }
            self.core.events.push_back(Event::Warning(alert));
            return Ok(());
        }
        Err(Error::from_peer(alert.description))
    }

    fn fail(&mut self, error: Error) {
        if error.origin() == Origin::Local {
            self.core.send_alert(Alert::fatal(error.alert()));
        }
        let step = self.core.step;
        self.core.events.push_back(Event::Failed {
            step,
            error: error.clone(),
        });
        self.state = State::Failed(error);
    }

    /// Ends the session for a failure found outside the engine (a framing
    /// error on TCP, an idle timeout): queues the fatal alert for `error`,
    /// protected once our keys are on, and reports it like any other
    /// failure. Does nothing if the session already ended.
    pub fn abort(&mut self, error: Error) {
        if !matches!(self.state, State::Failed(_) | State::Closed) {
            self.fail(error);
        }
    }

    /// The next message to send to the peer, if any.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.core.outgoing.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// Protects and queues application data, in records of at most 2^14
    /// bytes. Only after the handshake.
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if !matches!(self.state, State::Traffic) {
            return Err(Error::internal(
                "application data can only be sent after the handshake",
            ));
        }
        for chunk in data.chunks(MAX_PLAINTEXT) {
            self.core
                .send_protected(ContentType::APPLICATION_DATA, chunk)?;
        }
        Ok(())
    }

    /// Sends close_notify (after the handshake). The peer's data still
    /// arrives until its own close_notify, reported as `Event::PeerClosed`.
    /// Closing twice, or after the peer's close_notify (already answered),
    /// does nothing.
    pub fn close(&mut self) -> Result<(), Error> {
        match self.state {
            State::Traffic => {
                self.core
                    .send_protected(ContentType::ALERT, &CLOSE_NOTIFY.to_bytes())?;
                self.state = State::Closing;
                Ok(())
            }
            State::Closing | State::Closed => Ok(()),
            State::Failed(_) => Err(Error::internal(
                "the session failed; there is nothing to close",
            )),
            State::Client(_) | State::Server(_) => {
                Err(Error::internal("close before the handshake completed"))
            }
        }
    }

    pub fn role(&self) -> Role {
        self.core.role
    }

    /// Both Finished messages verified: application data may flow.
    pub fn is_handshake_complete(&self) -> bool {
        self.core.handshake_complete
    }

    /// The error that ended the session, if one did.
    pub fn failure(&self) -> Option<&Error> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The session's secrets, once derived (step 8). The only way to reach
    /// the pre-master, master secret and keys: call it on purpose.
    pub fn secrets(&self) -> Option<&SessionSecrets> {
        self.core.secrets.as_ref()
    }

    /// The NSS key log line (`CLIENT_RANDOM <client_random> <master_secret>`)
    /// once the master secret exists.
    pub fn key_log_line(&self) -> Option<String> {
        self.secrets().map(SessionSecrets::key_log_line)
    }

    /// The negotiated suite, once keys are derived.
    pub fn cipher_suite(&self) -> Option<crate::msgs::enums::CipherSuite> {
        self.secrets().map(|s| s.suite().suite)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.core.role)
            .field("step", &self.core.step)
            .field("handshake_complete", &self.is_handshake_complete())
            .field("failure", &self.failure())
            .finish_non_exhaustive()
    }
}

/// The error for a message that does not fit the state, named by what it is
/// and the step being waited for.
pub(crate) fn unexpected(core: &mut Core, step: Step, msg: &Message) -> Error {
    core.at(step);
    Error::unexpected(format!("{} while waiting for step {step}", describe(msg)))
}

/// What a message is, for a reason.
fn describe(msg: &Message) -> String {
    match msg {
        Message::Handshake(h) => format!("{}", h.typ()),
        Message::RawHandshake(h) => format!("{}", h.typ()),
        Message::ChangeCipherSpec => "ChangeCipherSpec".into(),
        Message::Alert(a) => format!("alert {}", a.description),
        Message::Protected(p) => format!("encrypted {} record", p.typ),
    }
}

/// A handshake message of the wrong type for `step`.
pub(crate) fn unexpected_type(core: &mut Core, step: Step, typ: HandshakeType) -> Error {
    core.at(step);
    Error::unexpected(format!("{typ} while waiting for step {step}"))
}
