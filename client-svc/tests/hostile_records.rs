//! A `tls://` target that splits its Finished over several protected
//! records (RFC 5246 6.2.1 allows any handshake message to be fragmented):
//! client-svc's session reassembles it and completes, as against OpenSSL.
//! The server is the engine's own server role over TCP, its Finished
//! sealed again in pieces. Every wait is bounded; nothing asserts a
//! duration.

mod common;

use std::time::Duration;

use client_svc::report::ReportBuilder;
use client_svc::session::{self, Target};
use common::{lab, ping_spec, start_engine_server_with};
use handshake::encode_records;
use handshake::internal::record::{RecordDecrypter, RecordEncrypter};
use handshake::{CipherSuite, Connection, Message, ProtectedRecord, Role};
use tokio::io::AsyncReadExt;

/// Re-seals what the engine's server sends so that its first protected
/// record (the Finished) goes out in pieces cut at `cuts`; every later
/// protected record is sealed again whole, under the sequence numbers the
/// pieces moved on.
struct Splitter {
    cuts: &'static [usize],
    /// Opens the engine's records (the client's view), seals ours.
    keys: Option<(RecordDecrypter, RecordEncrypter)>,
}

impl Splitter {
    fn transmit(&mut self, server: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(m) = server.poll_transmit() {
            let Message::Protected(r) = m else {
                encode_records(&m, &mut out).unwrap();
                continue;
            };
            let first = self.keys.is_none();
            let (dec, enc) = self.keys.get_or_insert_with(|| {
                let secrets = server.secrets().expect("keys before Finished");
                let (_, dec) = secrets.record_layer(Role::Client).unwrap();
                let (enc, _) = secrets.record_layer(Role::Server).unwrap();
                (dec, enc)
            });
            let plain = dec.decrypt(r.typ, &r.fragment).unwrap();
            let cuts: &[usize] = if first { self.cuts } else { &[] };
            let mut at = 0;
            for &cut in cuts.iter().chain([plain.len()].iter()) {
                let piece = Message::Protected(ProtectedRecord {
                    typ: r.typ,
                    fragment: enc.encrypt(r.typ, &plain[at..cut]).unwrap(),
                });
                encode_records(&piece, &mut out).unwrap();
                at = cut;
            }
        }
        out
    }
}

/// Serves one connection with the engine's server role, its Finished cut
/// at `cuts`, replying "echo: " + the request and then close_notify.
async fn start_splitting_server(cuts: &'static [usize]) -> String {
    let mut splitter = Splitter { cuts, keys: None };
    start_engine_server_with(
        lab().server_config(),
        |conn| {
            conn.close().unwrap();
            false
        },
        move |conn| splitter.transmit(conn),
    )
    .await
}

#[tokio::test]
async fn a_server_finished_split_over_records_completes() {
    let cuts: [&'static [usize]; 3] = [
        &[1],
        &[4],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    ];
    for suite in [
        CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        for cut in cuts {
            let url = start_splitting_server(cut).await;
            let spec = ping_spec(&url, &[suite]);
            let target = Target::parse(&spec.server).unwrap();
            let mut builder = ReportBuilder::new();
            let outcome = session::run(target, &spec, |progress, elapsed| {
                builder.observe(progress, elapsed);
            })
            .await;
            let report = builder.finish(spec.message(), &outcome);
            if let Err(e) = &outcome.result {
                panic!("{suite} {cut:?}: {e}");
            }
            assert!(report.success, "{suite} {cut:?}");
            assert_eq!(report.steps.len(), 13, "{suite} {cut:?}");
            assert!(
                report.steps.iter().all(|s| s.failure.is_none()),
                "{suite} {cut:?}"
            );
            assert_eq!(report.reply, "echo: ping", "{suite} {cut:?}");
        }
    }
}

/// 32,768 suites or more cannot go in a ClientHello (its cipher_suites
/// vector holds at most 2^16-2 bytes): the session fails with a TLS error
/// naming the list, before anything is sent; no panic in any build, no
/// hello with a wrong length prefix.
#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn too_many_suites_fail_the_session_with_a_reason() {
    // A listener that records whether any byte arrives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tls://{}", listener.local_addr().unwrap());
    let received = tokio::spawn(async move {
        let mut total = 0;
        while let Ok(Ok((mut tcp, _))) =
            tokio::time::timeout(Duration::from_secs(2), listener.accept()).await
        {
            let mut buf = [0u8; 1024];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
                total += n;
            }
        }
        total
    });
    for n in [32_768usize, 40_000] {
        let suites: Vec<CipherSuite> = (0..n).map(|i| CipherSuite(i as u16)).collect();
        let spec = ping_spec(&url, &suites);
        let target = Target::parse(&spec.server).unwrap();
        let outcome = session::run(target, &spec, |_, _| {}).await;
        let err = outcome.result.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("cipher_suites"), "{n}: {text}");
        assert!(text.contains("internal_error"), "{n}: {text}");
    }
    assert_eq!(received.await.unwrap(), 0, "no ClientHello was sent");
}
