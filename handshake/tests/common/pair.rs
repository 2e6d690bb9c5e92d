//! An in-memory client/server pair, stepped by hand (quinn-proto's
//! `tests/util.rs` idea): no sockets, no sleeps, seeded randomness (see
//! `handshake::rand` for what aws-lc draws on its own).
#![allow(dead_code)]

use std::sync::Arc;

use handshake::SeededRng;
use handshake::{
    CertifiedKey, ClientConfig, Connection, Error, Event, Message, Role, ServerCertVerifier,
    ServerConfig, Step, StepEvent,
};
use rustls_pki_types::{ServerName, UnixTime};

use super::pki::{Leaf, TestPki, pki, valid_now};

pub fn certified(leaf: &Leaf) -> CertifiedKey {
    CertifiedKey::new(leaf.chain.clone(), &leaf.key_pkcs8)
        .expect("test key matches its certificate")
}

/// A server with the RSA and the ECDSA P-256 leaf of the lab PKI.
pub fn server_config() -> ServerConfig {
    let p = pki();
    ServerConfig::new(vec![certified(&p.rsa), certified(&p.ecdsa_p256)]).expect("server config")
}

/// A client trusting the lab CA, offering everything.
pub fn client_config() -> ClientConfig {
    client_config_for(pki())
}

pub fn client_config_for(p: &TestPki) -> ClientConfig {
    ClientConfig::new(ServerCertVerifier::new(std::slice::from_ref(&p.ca)).expect("verifier"))
}

/// What happened to each side.
#[derive(Debug, Default)]
pub struct Outcome {
    pub client: Option<Error>,
    pub server: Option<Error>,
}

pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Self {
        Self::with(client, server, "localhost", valid_now(), 1)
    }

    pub fn with(
        client: ClientConfig,
        server: ServerConfig,
        name: &str,
        now: UnixTime,
        seed: u64,
    ) -> Self {
        let name = ServerName::try_from(name.to_string()).expect("server name");
        let client =
            Connection::client(Arc::new(client), name, now, Box::new(SeededRng::new(seed)))
                .expect("client starts");
        let server = Connection::server(Arc::new(server), Box::new(SeededRng::new(seed + 1000)))
            .expect("server starts");
        Self {
            client,
            server,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Runs until neither side has anything to send.
    pub fn drive(&mut self) -> Outcome {
        self.drive_with(|_, _| true)
    }

    /// Like `drive`, but each message passes through `tamper(sender, msg)`
    /// first, which may change it, or drop it by returning false.
    pub fn drive_with(&mut self, mut tamper: impl FnMut(Role, &mut Message) -> bool) -> Outcome {
        let mut out = Outcome::default();
        loop {
            let mut moved = false;
            while let Some(mut m) = self.client.poll_transmit() {
                moved = true;
                if tamper(Role::Client, &mut m) && out.server.is_none() {
                    self.server.handle(m);
                    out.server = self.server.failure().cloned();
                }
            }
            while let Some(mut m) = self.server.poll_transmit() {
                moved = true;
                if tamper(Role::Server, &mut m) && out.client.is_none() {
                    self.client.handle(m);
                    out.client = self.client.failure().cloned();
                }
            }
            self.collect();
            if !moved {
                return out;
            }
        }
    }

    fn collect(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Sends `data` from `from` and returns what the other side received.
    pub fn send(&mut self, from: Role, data: &[u8]) -> Vec<u8> {
        let (tx, rx_events_before) = match from {
            Role::Client => (&mut self.client, self.server_events.len()),
            Role::Server => (&mut self.server, self.client_events.len()),
        };
        tx.send_application_data(data)
            .expect("send application data");
        let out = self.drive();
        assert!(out.client.is_none() && out.server.is_none(), "{out:?}");
        let events = match from {
            Role::Client => &self.server_events[rx_events_before..],
            Role::Server => &self.client_events[rx_events_before..],
        };
        events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// The steps reported, in order.
pub fn steps(events: &[Event]) -> Vec<Step> {
    step_events(events).map(|s| s.step).collect()
}

pub fn step_events(events: &[Event]) -> impl Iterator<Item = &StepEvent> {
    events.iter().filter_map(|e| match e {
        Event::Step(s) => Some(s),
        _ => None,
    })
}

/// The `Failed` event, if any: the step and the error.
pub fn failure(events: &[Event]) -> Option<(Step, Error)> {
    events.iter().find_map(|e| match e {
        Event::Failed { step, error } => Some((*step, error.clone())),
        _ => None,
    })
}
