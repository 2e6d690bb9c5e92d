//! Writes the seed corpora (fuzz/corpus/<target>/) from real in-memory
//! sessions, one per suite with and without EMS, on the committed lab PKI.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed             # rewrite fuzz/corpus
//! cargo run --manifest-path fuzz/Cargo.toml --example seed -- --new-pki # new fuzz/pki, then run again
//! ```
//!
//! Each corpus directory is emptied and rewritten; file names are hashes of
//! the contents, so identical inputs are written once.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use handshake::encode_records;
use handshake::msgs::enums::ContentType;
use handshake::msgs::handshake::HandshakePayload;
use handshake::ALL_SUITES;
use handshake::{Connection, Message, Role};
use handshake_fuzz::codec::{encoding, fragment};
use handshake_fuzz::lab::{Lab, Setup};
use handshake_fuzz::session::Item;
use prost::Message as _;
use proto::convert::{to_request, to_response};
use proto::pb;
use test_pki::{Ca, leaf_params};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::args().any(|a| a == "--new-pki") {
        new_pki(&root.join("pki"))?;
        println!("wrote fuzz/pki; run again without --new-pki to rewrite the corpora");
        return Ok(());
    }
    let lab = Lab::get();
    let sessions: Vec<(Setup, Session)> = Setup::all().map(|s| (s, record(lab, s))).collect();
    let mut corpora = Corpora::default();
    for (setup, session) in &sessions {
        check_replay(lab, *setup, session);
        corpora.session(*setup, session)?;
    }
    corpora.client_options()?;
    corpora.write(&root.join("corpus"))?;
    Ok(())
}

/// What each side sent in one session: the handshake, "ping" and "pong",
/// the client's close_notify and the server's answer.
struct Session {
    client_sent: Vec<Message>,
    server_sent: Vec<Message>,
}

fn record(lab: &Lab, setup: Setup) -> Session {
    let mut client = lab.connection(Role::Client, setup);
    let mut server = lab.connection(Role::Server, setup);
    let mut s = Session {
        client_sent: Vec::new(),
        server_sent: Vec::new(),
    };
    let step = |client: &mut Connection, server: &mut Connection, s: &mut Session| {
        let mut moved = false;
        while let Some(m) = client.poll_transmit() {
            moved = true;
            s.client_sent.push(m.clone());
            server.handle(m);
            assert_eq!(server.failure(), None, "the lab server accepts");
        }
        while let Some(m) = server.poll_transmit() {
            moved = true;
            s.server_sent.push(m.clone());
            client.handle(m);
            assert_eq!(client.failure(), None, "the lab client accepts");
        }
        moved
    };
    while step(&mut client, &mut server, &mut s) {}
    assert!(client.is_handshake_complete() && server.is_handshake_complete());
    client.send_application_data(b"ping").expect("client data");
    step(&mut client, &mut server, &mut s);
    server.send_application_data(b"pong").expect("server data");
    step(&mut client, &mut server, &mut s);
    client.close().expect("close");
    while step(&mut client, &mut server, &mut s) {}
    s
}

/// Where a session is deterministic under the seeds (a client of an ECDHE
/// suite: its key share is seeded and the server's signature is in the
/// recording; a server of an RSA suite: the client's ciphertext is), the
/// recording replayed to a fresh connection completes the handshake, so
/// the replay seeds reach the end of the state machine.
fn check_replay(lab: &Lab, setup: Setup, s: &Session) {
    let role = if ALL_SUITES[setup.suite].kx.is_ecdhe() {
        Role::Client
    } else {
        Role::Server
    };
    let peer_sent = match role {
        Role::Client => &s.server_sent,
        Role::Server => &s.client_sent,
    };
    let mut conn = lab.connection(role, setup);
    for m in peer_sent {
        conn.handle(m.clone());
        if let Some(e) = conn.failure() {
            panic!("{role:?} {setup:?}: the replay fails: {e}");
        }
    }
    assert!(conn.is_handshake_complete(), "{role:?} {setup:?}");
}

/// Seed inputs per target.
#[derive(Default)]
struct Corpora {
    files: Vec<(&'static str, Vec<u8>)>,
}

impl Corpora {
    fn add(&mut self, target: &'static str, input: Vec<u8>) {
        self.files.push((target, input));
    }

    fn session(&mut self, setup: Setup, s: &Session) -> Result<(), Box<dyn std::error::Error>> {
        // The state machines: the live peer as it is, and the recorded
        // session replayed record by record.
        for (target, peer_sent) in [
            ("client_session", &s.server_sent),
            ("server_session", &s.client_sent),
        ] {
            for closes in [false, true] {
                let sel = Setup {
                    peer_closes: closes,
                    ..setup
                };
                let mut live = vec![sel.to_byte()];
                for _ in 0..peer_sent.len() + 2 {
                    Item::Next.encode(&mut live);
                }
                self.add(target, live);
            }
            let mut replay = vec![setup.to_byte()];
            for m in peer_sent {
                Item::Record {
                    typ: m.content_type().0,
                    fragment: m.fragment()?,
                }
                .encode(&mut replay);
            }
            self.add(target, replay);
        }

        // The decoders, the deframer and proto::convert: the messages.
        for (role, sent) in [
            (Role::Client, &s.client_sent),
            (Role::Server, &s.server_sent),
        ] {
            let mut stream = Vec::new();
            for m in sent {
                self.decode_seeds(m);
                encode_records(m, &mut stream)?;
                let pb = match role {
                    Role::Client => (0u8, to_request(m.clone())?.encode_to_vec()),
                    Role::Server => (1u8, to_response(m.clone())?.encode_to_vec()),
                };
                self.add("proto_convert", [vec![pb.0], pb.1].concat());
            }
            if setup.ems {
                // One push, and small uneven chunks.
                self.add("deframer", [vec![0], stream.clone()].concat());
                self.add("deframer", [vec![3, 0, 6, 199], stream].concat());
            }
        }
        Ok(())
    }

    /// Selector bytes as fuzz_targets/decode.rs reads them.
    fn decode_seeds(&mut self, m: &Message) {
        let protected = matches!(m, Message::Protected(_));
        let read_sel = if protected { 11 | 0x80 } else { 11 };
        self.add(
            "decode",
            [vec![read_sel, m.content_type().0], fragment(m)].concat(),
        );
        match m {
            Message::Handshake(h) => {
                let enc = encoding(h);
                self.add("decode", [vec![0], enc.clone()].concat());
                let body = enc[4..].to_vec();
                let (sel, exts) = match &h.payload {
                    HandshakePayload::ClientHello(c) => {
                        (1, c.extensions().iter().map(encoding).collect::<Vec<_>>())
                    }
                    HandshakePayload::ServerHello(c) => {
                        let e: Vec<Vec<u8>> = c.extensions().iter().map(encoding).collect();
                        self.add_all(8, e);
                        (2, vec![])
                    }
                    HandshakePayload::Certificate(_) => (3, vec![]),
                    HandshakePayload::ServerKeyExchange(k) => {
                        self.add("decode", [vec![10], encoding(&k.params)].concat());
                        (4, vec![])
                    }
                    HandshakePayload::ClientKeyExchange(_) => (5, vec![]),
                    HandshakePayload::Finished(_) => (6, vec![]),
                    _ => return,
                };
                self.add("decode", [vec![sel], body].concat());
                self.add_all(7, exts);
            }
            Message::Alert(a) => self.add("decode", [vec![9], encoding(a)].concat()),
            Message::Protected(p) if p.typ == ContentType::ALERT => {}
            _ => {}
        }
    }

    fn add_all(&mut self, sel: u8, items: Vec<Vec<u8>>) {
        for i in items {
            self.add("decode", [vec![sel], i].concat());
        }
    }

    /// client-svc's options: the defaults, each suite, groups, lab flags,
    /// and each kind of target.
    fn client_options(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let mut all = vec![pb::SessionOptions::default()];
        for s in ALL_SUITES {
            all.push(pb::SessionOptions {
                cipher_suites: vec![i32::from(s.suite.0)],
                application_message: "hello".into(),
                ..Default::default()
            });
        }
        all.push(pb::SessionOptions {
            server_name: "server.lab.test".into(),
            lab: Some(pb::LabOptions {
                corrupt_client_finished: true,
                corrupt_application_record: true,
                disable_extended_master_secret: true,
                groups: vec![29, 23, 24],
            }),
            ..Default::default()
        });
        for server in [
            "tls://localhost:8443",
            "tls://[::1]:8443",
            "http://127.0.0.1:50051",
            "127.0.0.1:50051",
            "dns:///server-svc.lab.svc:50051",
            "ipv4:127.0.0.1:50051,127.0.0.2:50051",
            "ipv6:[::1]:50051",
        ] {
            all.push(pb::SessionOptions {
                server: server.into(),
                server_name: "127.0.0.1".into(),
                ..Default::default()
            });
        }
        for o in all {
            self.add("client_options", [vec![0], o.encode_to_vec()].concat());
        }
        Ok(())
    }

    fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut targets: Vec<&str> = self.files.iter().map(|(t, _)| *t).collect();
        targets.sort();
        targets.dedup();
        for t in &targets {
            let d = dir.join(t);
            if d.exists() {
                std::fs::remove_dir_all(&d)?;
            }
            std::fs::create_dir_all(&d)?;
        }
        let mut written = 0;
        for (t, input) in &self.files {
            let mut h = DefaultHasher::new();
            input.hash(&mut h);
            let path: PathBuf = dir.join(t).join(format!("seed-{:016x}", h.finish()));
            if !path.exists() {
                std::fs::write(&path, input)?;
                written += 1;
            }
        }
        println!(
            "wrote {written} seed inputs for {} targets under {}",
            targets.len(),
            dir.display()
        );
        Ok(())
    }
}

/// A new lab PKI (test-pki's template): an ECDSA P-256 CA, and an RSA-2048
/// and an ECDSA P-256 leaf for "localhost", valid 2025-01-01 .. 2035-01-01.
fn new_pki(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let ca = Ca::new("Fuzz Lab Root CA");
    std::fs::write(dir.join("ca.der"), &ca.cert)?;
    for (name, alg, rsa) in [
        ("rsa", &rcgen::PKCS_RSA_SHA256, true),
        ("ecdsa", &rcgen::PKCS_ECDSA_P256_SHA256, false),
    ] {
        let leaf = ca.issue(alg, &leaf_params(&format!("localhost ({name})"), rsa));
        std::fs::write(dir.join(format!("{name}.der")), leaf.cert())?;
        std::fs::write(dir.join(format!("{name}.key.der")), &leaf.key_pkcs8)?;
    }
    Ok(())
}
