//! Records a TLS 1.2 conformance suite sends that a plain client does not,
//! against server-svc's two transports: the TLS front over TCP
//! (`--tls-listen`) and Connect over gRPC. A Finished split over several
//! protected records is reassembled (RFC 5246 6.2.1); warning alerts sent
//! to stall a handshake end it with unexpected_message; a ChangeCipherSpec
//! that is not the single byte 1 is unexpected_message; a handshake message
//! of a valid type in the wrong place is unexpected_message whatever its
//! body. Behaviour tests: the only time limits are generous waits.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::front::{Front, read_all, send_raw};
use common::{
    PATIENCE, Stream, TestServer, client_config, get_over_tcp, new_client, plain_alerts,
    server_config,
};
use handshake::internal::record::{RecordDecrypter, RecordEncrypter};
use handshake::{AlertDescription, CipherSuite, Connection, Event, Message, ProtectedRecord, Role};
use handshake::{Deframer, encode_records};
use proto::convert::{from_response, to_request};
use proto::pb::{self, connect_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const SUITES: [CipherSuite; 3] = [
    CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// How the Finished (4 + 12 bytes) is cut: one byte then the rest (the
/// conformance suite's case), the header alone, and byte by byte.
const CUTS: [&[usize]; 3] = [
    &[1],
    &[4],
    &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
];

/// Re-seals what the engine's client sends so that its first protected
/// record (the Finished) goes out in pieces cut at `cuts`; every later
/// protected record is sealed again whole, under the sequence numbers the
/// pieces moved on.
struct Splitter {
    cuts: &'static [usize],
    /// Opens the engine's records (the server's view), seals ours.
    keys: Option<(RecordDecrypter, RecordEncrypter)>,
}

impl Splitter {
    fn new(cuts: &'static [usize]) -> Self {
        Self { cuts, keys: None }
    }

    fn pass(&mut self, client: &Connection, m: Message) -> Vec<Message> {
        let Message::Protected(r) = m else {
            return vec![m];
        };
        let first = self.keys.is_none();
        let (dec, enc) = self.keys.get_or_insert_with(|| {
            let secrets = client.secrets().expect("keys before Finished");
            let (_, dec) = secrets.record_layer(Role::Server).unwrap();
            let (enc, _) = secrets.record_layer(Role::Client).unwrap();
            (dec, enc)
        });
        let plain = dec.decrypt(r.typ, &r.fragment).unwrap();
        let cuts: &[usize] = if first { self.cuts } else { &[] };
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain([plain.len()].iter()) {
            out.push(Message::Protected(ProtectedRecord {
                typ: r.typ,
                fragment: enc.encrypt(r.typ, &plain[at..cut]).unwrap(),
            }));
            at = cut;
        }
        out
    }

    fn transmit(&mut self, client: &mut Connection) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = client.poll_transmit() {
            out.extend(self.pass(client, m));
        }
        out
    }
}

/// The engine's client over TCP with its Finished split: the handshake,
/// then a GET; returns the page, or why it failed.
async fn get_with_split_finished(
    addr: SocketAddr,
    suite: CipherSuite,
    cuts: &'static [usize],
) -> Result<String, String> {
    let mut splitter = Splitter::new(cuts);
    get_over_tcp(
        addr,
        new_client(client_config(&[suite])),
        &[b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"],
        usize::MAX,
        |client| splitter.transmit(client),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_finished_completes_over_tcp() {
    let front = Front::start(Duration::from_secs(10), None).await;
    for suite in SUITES {
        for cuts in CUTS {
            let page = get_with_split_finished(front.addr, suite, cuts)
                .await
                .unwrap_or_else(|e| panic!("{suite} {cuts:?}: {e}"));
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{suite}: {page}");
            assert!(
                page.contains(&format!("<p>TLS 1.2 with {suite}</p>")),
                "{suite}: {page}"
            );
        }
    }
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_finished_completes_over_grpc() {
    let server = TestServer::start(server_config()).await;
    for suite in SUITES {
        for cuts in CUTS {
            let mut stream = Stream::open(&server).await;
            let mut client = new_client(client_config(&[suite]));
            let mut splitter = Splitter::new(cuts);
            let mut sent_ping = false;
            let reply = loop {
                for m in splitter.transmit(&mut client) {
                    assert!(stream.send(to_request(m).unwrap()).await, "stream open");
                }
                if let Some(failure) = client.failure() {
                    panic!("{suite} {cuts:?}: {failure}");
                }
                if client.is_handshake_complete() && !sent_ping {
                    sent_ping = true;
                    client.send_application_data(b"ping").unwrap();
                    continue;
                }
                let r = match stream.recv().await {
                    Ok(Some(r)) => r,
                    other => panic!("{suite} {cuts:?}: stream ended: {other:?}"),
                };
                client.handle(from_response(r).unwrap());
                if let Some(e) = client.failure() {
                    panic!("{suite} {cuts:?}: {e}");
                }
                let data: Vec<u8> = std::iter::from_fn(|| client.poll_event())
                    .filter_map(|e| match e {
                        Event::ApplicationData(d) => Some(d),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                if !data.is_empty() {
                    break data;
                }
            };
            assert_eq!(reply, b"echo: ping", "{suite} {cuts:?}");
            stream.close();
        }
    }
    server.wait_no_sessions().await;
    server.stop().await;
}

/// A plaintext record.
fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![typ, 3, 3];
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// The engine client's ClientHello, as one record.
fn client_hello_record() -> Vec<u8> {
    let mut client = new_client(client_config(&[]));
    let mut out = Vec::new();
    encode_records(&client.poll_transmit().unwrap(), &mut out).unwrap();
    out
}

/// The plaintext alert records in what the server sent.
fn alerts(mut bytes: &[u8]) -> Vec<AlertDescription> {
    let mut out = Vec::new();
    while bytes.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        let Some(body) = bytes.get(5..5 + len) else {
            break;
        };
        if bytes[0] == 21 && len == 2 {
            out.push(AlertDescription(body[1]));
        }
        bytes = &bytes[5 + len..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_alerts_during_the_handshake_end_it_over_tcp() {
    // An idle timeout longer than the test's patience: only the cap can
    // end this session in time.
    let front = Front::start(Duration::from_secs(60), None).await;
    let mut bytes = client_hello_record();
    for _ in 0..handshake::MAX_WARNING_ALERTS + 1 {
        bytes.extend(record(21, &[1, AlertDescription::NO_RENEGOTIATION.0]));
    }
    let got = send_raw(front.addr, &bytes, false).await;
    assert_eq!(
        alerts(&got).last(),
        Some(&AlertDescription::UNEXPECTED_MESSAGE),
        "{got:02x?}"
    );
    // Up to the cap they are only warnings: the session waits on.
    let mut bytes = client_hello_record();
    for _ in 0..handshake::MAX_WARNING_ALERTS {
        bytes.extend(record(21, &[1, AlertDescription::NO_RENEGOTIATION.0]));
    }
    let mut stream = TcpStream::connect(front.addr).await.expect("connect");
    stream.write_all(&bytes).await.expect("write");
    let mut buf = vec![0u8; 64 * 1024];
    let mut flight = Vec::new();
    // The server's flight ends with ServerHelloDone (14, 0, 0, 0).
    while !flight.ends_with(&[14, 0, 0, 0]) {
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the flight comes")
            .expect("read");
        assert_ne!(
            n,
            0,
            "closed after {} warnings",
            handshake::MAX_WARNING_ALERTS
        );
        flight.extend_from_slice(&buf[..n]);
    }
    assert!(alerts(&flight).is_empty(), "{:?}", alerts(&flight));
    drop(stream);
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_alerts_during_the_handshake_end_it_over_grpc() {
    let server = TestServer::start_with(server_config(), Duration::from_secs(60)).await;
    let mut stream = Stream::open(&server).await;
    assert!(stream.send(common::client_hello()).await);
    for _ in 0..handshake::MAX_WARNING_ALERTS + 1 {
        let alert = pb::Alert {
            level: 1,
            description: AlertDescription::NO_RENEGOTIATION.0.into(),
        };
        stream
            .send(pb::ConnectRequest {
                message: Some(connect_request::Message::Alert(alert)),
            })
            .await;
    }
    let (responses, status) = stream.rest().await;
    let alerts = plain_alerts(&responses);
    assert_eq!(
        alerts.last().map(|a| AlertDescription(a.description as u8)),
        Some(AlertDescription::UNEXPECTED_MESSAGE),
        "{alerts:?} {status:?}"
    );
    server.wait_no_sessions().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_cipher_spec_that_is_not_the_byte_1_is_unexpected_over_tcp() {
    let front = Front::start(Duration::from_secs(10), None).await;
    for body in [&[1u8, 1][..], &[2], &[0], &[]] {
        let mut bytes = client_hello_record();
        bytes.extend(record(20, body));
        let got = send_raw(front.addr, &bytes, false).await;
        assert_eq!(
            alerts(&got),
            vec![AlertDescription::UNEXPECTED_MESSAGE],
            "{body:?}"
        );
    }
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_second_change_cipher_spec_is_unexpected_over_tcp() {
    let front = Front::start(Duration::from_secs(10), None).await;
    let mut stream = TcpStream::connect(front.addr).await.expect("connect");
    let mut client = new_client(client_config(&[
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
    ]));
    let mut deframer = Deframer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    encode_records(&client.poll_transmit().unwrap(), &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    while !client.is_handshake_complete() && client.secrets().is_none() {
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the flight comes")
            .expect("read");
        assert_ne!(n, 0);
        deframer.push(&buf[..n]);
        while let Some(m) = deframer.pop().unwrap() {
            client.handle(m);
            assert_eq!(client.failure(), None);
        }
    }
    // CKE, CCS, then a second CCS before the Finished.
    let mut out = Vec::new();
    while let Some(m) = client.poll_transmit() {
        let ccs = m == Message::ChangeCipherSpec;
        encode_records(&m, &mut out).unwrap();
        if ccs {
            encode_records(&Message::ChangeCipherSpec, &mut out).unwrap();
        }
    }
    stream.write_all(&out).await.unwrap();
    let got = read_all(&mut stream).await;
    assert_eq!(alerts(&got), vec![AlertDescription::UNEXPECTED_MESSAGE]);
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_relabelled_is_unexpected_over_tcp() {
    let front = Front::start(Duration::from_secs(10), None).await;
    // ServerHello, Certificate, ServerKeyExchange, ServerHelloDone,
    // ClientKeyExchange, Finished: a ClientHello body is malformed for
    // each, but the type is wrong at step 1 before any body is read.
    for typ in [2u8, 11, 12, 14, 16, 20] {
        let mut bytes = client_hello_record();
        bytes[5] = typ;
        let got = send_raw(front.addr, &bytes, false).await;
        assert_eq!(
            alerts(&got),
            vec![AlertDescription::UNEXPECTED_MESSAGE],
            "type {typ}"
        );
    }
    // The right type with a cut body is decode_error.
    let mut bytes = client_hello_record();
    bytes.truncate(5 + 40);
    bytes[3..5].copy_from_slice(&40u16.to_be_bytes());
    bytes[6..9].copy_from_slice(&[0, 0, 36]);
    let got = send_raw(front.addr, &bytes, false).await;
    assert_eq!(alerts(&got), vec![AlertDescription::DECODE_ERROR]);
    front.stop().await;
}
