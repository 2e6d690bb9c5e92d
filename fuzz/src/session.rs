//! One role's state machine fed a whole session that the fuzzer edits.
//!
//! The connection under test plays `role` against a live peer (a real
//! engine of the other role, same [`Setup`], seeded). The input is a
//! selector byte ([`Setup::from_byte`]) and then items, each deciding what
//! reaches the connection under test next:
//!
//! ```text
//! tag % 4 == 0  Next                        the peer's next message, as sent
//! tag % 4 == 1  Flip  pos:u16 xor:u8        the peer's next message with one fragment byte xored
//! tag % 4 == 2  Record typ:u8 len:u16 bytes a record of the fuzzer's own (len capped by the input)
//! tag % 4 == 3  Drop                        the peer's next message, discarded
//! ```
//!
//! What the connection sends goes to the peer, which answers (its own
//! failures are not under test). Recorded sessions replayed as `Record`
//! items are the seed corpus, next to "all Next" inputs.
//!
//! An input of Next items only is the genuine session: it is played to
//! the end and must complete (so the harness is known to reach every
//! state a real session does).
//!
//! A record is read as the TLS front reads one: a plaintext handshake
//! message whole but undecoded ([`Message::RawHandshake`], the engine
//! checks its type before decoding its body), anything else with
//! [`Message::read`] (ciphertext once a ChangeCipherSpec has been
//! delivered); one that the front would refuse is not delivered (the
//! transport would have closed with its alert) and the session goes on
//! with the next item.
//!
//! Checked after every message ([`Checker`]): no panic; what is sent reads
//! back as itself; a failure is an [`Error`] that the connection reports
//! once (one `Failed` event), answers with one fatal alert carrying the
//! same description (unless the failure is the peer's own alert), and
//! repeats for every later message, sending nothing more.

use std::collections::VecDeque;

use handshake::msgs::enums::ContentType;
use handshake::{
    Alert, AlertDescription, Connection, Error, Event, Message, Origin, RawHandshake, Role,
};

use crate::codec::{check_sendable, fragment};
use crate::input::Input;
use crate::lab::{Lab, Setup};

/// Items read per input at most, so that one input costs a bounded time.
pub const MAX_ITEMS: usize = 64;

/// One item of the input, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Next,
    Flip { pos: u16, xor: u8 },
    Record { typ: u8, fragment: Vec<u8> },
    Drop,
}

impl Item {
    pub fn read(input: &mut Input<'_>) -> Item {
        match input.u8() % 4 {
            0 => Item::Next,
            1 => Item::Flip {
                pos: input.u16(),
                xor: input.u8(),
            },
            2 => {
                let typ = input.u8();
                let len = usize::from(input.u16());
                Item::Record {
                    typ,
                    fragment: input.bytes(len).to_vec(),
                }
            }
            _ => Item::Drop,
        }
    }

    /// The item's encoding (for the seed corpus).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Item::Next => out.push(0),
            Item::Flip { pos, xor } => {
                out.push(1);
                out.extend_from_slice(&pos.to_be_bytes());
                out.push(*xor);
            }
            Item::Record { typ, fragment } => {
                out.push(2);
                out.push(*typ);
                out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
                out.extend_from_slice(fragment);
            }
            Item::Drop => out.push(3),
        }
    }
}

/// Runs one input against a fresh connection of `role`.
pub fn run(role: Role, data: &[u8]) {
    let lab = Lab::get();
    let mut input = Input::new(data);
    let setup = Setup::from_byte(input.u8());
    let mut conn = lab.connection(role, setup);
    let mut peer = LivePeer::new(lab.connection(other(role), setup), setup.peer_closes);
    let mut checker = Checker::start(&mut conn);
    peer.deliver(checker.take_sent());
    // Only Next items: the peer's genuine session, which must succeed.
    let mut genuine = true;
    for _ in 0..MAX_ITEMS {
        if input.is_empty() {
            break;
        }
        let item = Item::read(&mut input);
        genuine &= item == Item::Next;
        let msg = match item {
            Item::Next => peer.pending.pop_front(),
            Item::Flip { pos, xor } => peer.pending.pop_front().and_then(|m| flip(&m, pos, xor)),
            Item::Record { typ, fragment } => {
                read_as_front(ContentType(typ), &fragment, checker.ccs_delivered)
            }
            Item::Drop => {
                peer.pending.pop_front();
                None
            }
        };
        if let Some(m) = msg {
            checker.step(&mut conn, m);
            peer.deliver(checker.take_sent());
        }
    }
    if genuine {
        // Deliver the rest of the genuine session: both sides complete it
        // and the data goes through.
        while let Some(m) = peer.pending.pop_front() {
            checker.step(&mut conn, m);
            peer.deliver(checker.take_sent());
        }
        assert!(
            conn.is_handshake_complete() && conn.failure().is_none(),
            "{role:?} {setup:?} refused its peer's genuine session: {:?}",
            conn.failure()
        );
        assert!(peer.conn.is_handshake_complete() && peer.data_sent);
    }
    checker.finish();
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// `m` with fragment byte `pos % len` xored with `xor` (0 counts as 1),
/// read back the way it was sent; `None` if it no longer reads.
fn flip(m: &Message, pos: u16, xor: u8) -> Option<Message> {
    let mut bytes = fragment(m);
    if bytes.is_empty() {
        return Some(m.clone());
    }
    let at = usize::from(pos) % bytes.len();
    bytes[at] ^= xor.max(1);
    let protected = matches!(m, Message::Protected(_));
    read_as_front(m.content_type(), &bytes, protected)
}

/// A record as the TLS front's `Deframer` hands it over: a plaintext
/// handshake message whole but undecoded (the engine checks its type
/// before its body), anything else read; `None` if the front would have
/// refused it.
fn read_as_front(typ: ContentType, fragment: &[u8], protected: bool) -> Option<Message> {
    if typ == ContentType::HANDSHAKE && !protected {
        return RawHandshake::new(fragment.to_vec())
            .ok()
            .map(Message::RawHandshake);
    }
    Message::read(typ, fragment, protected).ok()
}

/// The other side: answers whatever reaches it; once its handshake is
/// complete it sends application data (and close_notify if asked).
pub struct LivePeer {
    pub conn: Connection,
    /// Sent and not yet taken by an item.
    pub pending: VecDeque<Message>,
    closes: bool,
    data_sent: bool,
}

impl LivePeer {
    pub fn new(conn: Connection, closes: bool) -> Self {
        let mut peer = Self {
            conn,
            pending: VecDeque::new(),
            closes,
            data_sent: false,
        };
        peer.collect();
        peer
    }

    pub fn deliver(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            // The peer's own failures are not under test.
            self.conn.handle(m);
        }
        self.collect();
    }

    fn collect(&mut self) {
        if self.conn.is_handshake_complete() && self.conn.failure().is_none() && !self.data_sent {
            self.data_sent = true;
            let _ = self.conn.send_application_data(b"genuine data");
            if self.closes {
                let _ = self.conn.close();
            }
        }
        while let Some(m) = self.conn.poll_transmit() {
            self.pending.push_back(m);
        }
        while self.conn.poll_event().is_some() {}
    }
}

fn is_alert(m: &Message) -> bool {
    match m {
        Message::Alert(_) => true,
        Message::Protected(p) => p.typ == ContentType::ALERT,
        _ => false,
    }
}

/// Watches the connection under test, one message at a time.
pub struct Checker {
    first_err: Option<Error>,
    /// The peer's close_notify was received: the session is over, not failed.
    closed: bool,
    failed_events: usize,
    /// A ChangeCipherSpec reached the connection: later records are ciphertext.
    pub ccs_delivered: bool,
    sent: Vec<Message>,
}

impl Checker {
    /// Takes what the connection queued on creation (a client's hello).
    pub fn start(conn: &mut Connection) -> Self {
        let mut c = Self {
            first_err: None,
            closed: false,
            failed_events: 0,
            ccs_delivered: false,
            sent: Vec::new(),
        };
        while let Some(m) = conn.poll_transmit() {
            check_sendable(&m);
            assert!(!is_alert(&m), "an alert at the start");
            c.sent.push(m);
        }
        while let Some(e) = conn.poll_event() {
            assert!(!matches!(e, Event::Failed { .. }), "failed at the start");
        }
        c
    }

    /// What the connection sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.sent)
    }

    /// Feeds `msg` and checks the answer.
    pub fn step(&mut self, conn: &mut Connection, msg: Message) {
        self.ccs_delivered |= msg == Message::ChangeCipherSpec;
        let described = format!("{msg:?}");
        conn.handle(msg);
        let res = conn.failure().map_or(Ok(()), |e| Err(e.clone()));
        let mut sent = Vec::new();
        while let Some(m) = conn.poll_transmit() {
            check_sendable(&m);
            sent.push(m);
        }
        let mut events = Vec::new();
        while let Some(e) = conn.poll_event() {
            events.push(e);
        }
        let failed: Vec<&Error> = events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { error, .. } => Some(error),
                _ => None,
            })
            .collect();
        self.failed_events += failed.len();
        let alerts = sent.iter().filter(|m| is_alert(m)).count();
        match (&self.first_err, &res) {
            (Some(first), Ok(())) => {
                panic!("{described} accepted after the session ended with {first}")
            }
            (Some(first), Err(e)) => {
                assert_eq!(e, first, "{described}: a different error after the end");
                assert!(sent.is_empty(), "{described}: sent {sent:?} after the end");
                assert!(events.is_empty(), "{described}: {events:?} after the end");
            }
            (None, Ok(())) => {
                assert!(failed.is_empty(), "{described}: Failed event on Ok");
                assert!(conn.failure().is_none());
                // An alert without failing is a warning: no_renegotiation
                // after the handshake (RFC 5246 7.2.2), or close_notify
                // answering the peer's (7.2.1).
                assert!(alerts <= 1, "{described}: {alerts} alerts on Ok: {sent:?}");
                self.closed |= events.iter().any(|e| matches!(e, Event::PeerClosed));
            }
            (None, Err(e)) if self.closed => {
                // After the peer's close_notify input is refused, without
                // an alert or a Failed event.
                assert_eq!(e.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{e}");
                assert!(failed.is_empty(), "Failed event after close_notify");
                assert!(sent.is_empty(), "sent {sent:?} after close_notify");
                self.first_err = Some(e.clone());
            }
            (None, Err(e)) => {
                assert_eq!(
                    failed.len(),
                    1,
                    "{described}: {} Failed events for {e}",
                    failed.len()
                );
                assert_eq!(failed[0], e);
                assert_eq!(conn.failure(), Some(e));
                // A local failure is answered with its alert, last; a
                // failure that is the peer's fatal alert is not answered.
                let expected = usize::from(e.origin() == Origin::Local);
                assert_eq!(
                    alerts, expected,
                    "{described}: {alerts} alerts for {e}: {sent:?}"
                );
                if expected == 1 {
                    let last = sent.last().expect("an alert was sent");
                    assert!(is_alert(last), "the alert is not the last message sent");
                    if let Message::Alert(a) = last {
                        assert_eq!(*a, Alert::fatal(e.alert()), "alert for {e}");
                    }
                }
                self.first_err = Some(e.clone());
            }
        }
        self.sent.extend(sent);
    }

    pub fn finish(&self) {
        let expected = usize::from(self.first_err.is_some() && !self.closed);
        assert_eq!(self.failed_events, expected, "Failed events");
    }
}
