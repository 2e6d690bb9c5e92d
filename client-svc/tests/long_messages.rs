//! Application messages longer than one record, through client-svc's gRPC
//! service against the server-svc stand-in (which echoes each record as
//! server-svc does): the whole echo comes back, and a reply cut short or
//! different fails the session instead of passing for success.

mod common;

use std::time::Duration;

use proto::pb;
use proto::pb::watch_handshake_response::Event as WatchEvent;
use tonic::Code;

/// 20 KB, 100 KB and 1 MB: two, seven and 62 records.
const SIZES: [usize; 3] = [20_000, 100_000, 1_000_000];

fn message(len: usize) -> String {
    // Not one byte repeated: a misplaced record would show.
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn options(message: &str) -> pb::SessionOptions {
    pb::SessionOptions {
        application_message: message.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn long_messages_get_their_whole_echo() {
    let server = common::start_server(common::lab().server_config()).await;
    let mut client = common::start_client_svc(&server, false).await;
    for len in SIZES {
        let m = message(len);
        let want = client_svc::session::expected_echo(m.as_bytes());
        // One "echo: " per record of at most 2^14 bytes.
        assert_eq!(want.len(), len + 6 * len.div_ceil(16_384));

        let report = client
            .handshake(pb::HandshakeRequest {
                options: Some(options(&m)),
            })
            .await
            .unwrap_or_else(|s| panic!("{len}: {s:?}"))
            .into_inner()
            .report
            .unwrap();
        assert!(report.success, "{len}");
        assert_eq!(report.reply.as_bytes(), want.as_slice(), "{len}");

        let mut stream = client
            .watch_handshake(pb::WatchHandshakeRequest {
                options: Some(options(&m)),
            })
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(item) = stream.message().await.unwrap() {
            if let Some(WatchEvent::Report(r)) = item.event {
                last = Some(r);
            }
        }
        let report = last.expect("the report");
        assert!(report.success, "{len}");
        assert_eq!(report.reply.as_bytes(), want.as_slice(), "{len}");
    }
}

/// A server that answers each record with one record at most: the echo
/// of a full record cut to 2^14 bytes (what a client counting records saw
/// as the whole reply).
fn cut_echo(data: &[u8]) -> Vec<u8> {
    let mut e = common::echo(data);
    e.truncate(16_384);
    e
}

/// A server whose echo has one byte wrong.
fn wrong_echo(data: &[u8]) -> Vec<u8> {
    let mut e = common::echo(data);
    let last = e.len() - 1;
    e[last] ^= 1;
    e
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_short_or_wrong_reply_is_a_failure() {
    // (server, message lengths, what ends the session): a cut echo leaves
    // the client waiting for the rest until the session's deadline; a
    // wrong one is refused once it is whole; close_notify instead of the
    // echo ends it at once.
    let cases: [(common::Reply, &[usize], &str); 3] = [
        (cut_echo, &[20_000], "timeout"),
        (wrong_echo, &[5, 20_000], "not the echo"),
        (|_| Vec::new(), &[5], "close_notify before replying"),
    ];
    for (reply, lens, why) in cases {
        let (server, _) = common::start_replying_server(common::lab().server_config(), reply).await;
        let mut client = common::start_client_svc_with(client_svc::service::Settings {
            timeout: Duration::from_secs(2),
            ..common::settings(&server, false)
        })
        .await;
        for &len in lens {
            let o = options(&message(len));
            let status = client
                .handshake(pb::HandshakeRequest {
                    options: Some(o.clone()),
                })
                .await
                .expect_err(&format!("{why}: a bad reply to {len} bytes is no success"));
            assert_ne!(status.code(), Code::Ok);
            // The reason, from the failed step WatchHandshake sends before
            // its status (the status's details carry the whole message,
            // which only a bounded report keeps under HTTP/2's header
            // limit).
            let mut stream = client
                .watch_handshake(pb::WatchHandshakeRequest { options: Some(o) })
                .await
                .unwrap()
                .into_inner();
            let mut failed = None;
            let end = loop {
                match stream.message().await {
                    Ok(Some(item)) => match item.event {
                        Some(WatchEvent::Step(s)) if s.failure.is_some() => failed = s.failure,
                        Some(WatchEvent::Report(r)) => panic!("{why} {len}: a report {r:?}"),
                        _ => {}
                    },
                    Ok(None) => panic!("{why} {len}: ended OK"),
                    Err(s) => break s,
                }
            };
            assert_ne!(end.code(), Code::Ok);
            let failed = failed.expect("the failed step");
            assert_eq!(failed.step, 13, "{failed:?}");
            assert!(!failed.raised_by_server, "{failed:?}");
            assert!(failed.reason.contains(why), "{len}: {failed:?}");
            assert!(failed.reason.len() < 1024, "{len}");
        }
    }
}
