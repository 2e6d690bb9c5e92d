//! Every suite through client-svc: the unary Handshake and the streamed
//! WatchHandshake.

use std::time::Duration;

use e2e::grpc::{bounded, brief};
use e2e::{Lab, SUITES, assert_success, assert_thirteen_steps, handshake, options, suite_name};
use proto::pb;
use proto::pb::watch_handshake_response::Event;

#[tokio::test]
async fn every_suite_completes_with_thirteen_steps_and_an_echo() {
    let lab = Lab::start().await;
    let mut client = lab.handshake_client().await;
    for suite in SUITES {
        let message = format!("hello over {}", suite_name(suite));
        let report = handshake(&mut client, options(&[suite], &message))
            .await
            .unwrap_or_else(|s| panic!("{}: Handshake failed: {}", suite_name(suite), brief(&s)));
        assert_success(&report, suite, &message);
    }
}

#[tokio::test]
async fn watch_handshake_streams_thirteen_steps_then_the_report() {
    let lab = Lab::start().await;
    let mut client = lab.handshake_client().await;
    let suite = pb::CipherSuite::TlsEcdheRsaWithAes128GcmSha256;
    let request = pb::WatchHandshakeRequest {
        options: Some(options(&[suite], "watched")),
    };
    let mut stream = bounded("WatchHandshake", client.watch_handshake(request))
        .await
        .expect("WatchHandshake starts")
        .into_inner();

    let mut steps = Vec::new();
    let mut report = None;
    let mut ended = false;
    // 13 steps + 1 report, then the end; a few more reads to catch extras.
    for _ in 0..20 {
        match bounded("a WatchHandshake message", stream.message()).await {
            Ok(Some(msg)) => match msg.event {
                Some(Event::Step(step)) => {
                    assert!(report.is_none(), "step {} after the report", step.number);
                    steps.push(step);
                }
                Some(Event::Report(r)) => {
                    assert!(report.is_none(), "a second report");
                    report = Some(r);
                }
                None => panic!("a WatchHandshakeResponse with no event"),
            },
            Ok(None) => {
                ended = true;
                break;
            }
            Err(status) => panic!(
                "WatchHandshake failed after {} steps: {}",
                steps.len(),
                brief(&status)
            ),
        }
    }
    assert!(ended, "the stream did not end after the report");
    assert_thirteen_steps(&steps);
    let report = report.expect("the report comes last");
    assert_success(&report, suite, "watched");
    // The streamed steps are the report's steps, as they happened.
    let key = |s: &pb::HandshakeStep| (s.number, s.name.clone(), s.direction, s.message.clone());
    assert_eq!(
        steps.iter().map(key).collect::<Vec<_>>(),
        report.steps.iter().map(key).collect::<Vec<_>>(),
        "streamed steps differ from the report's"
    );
}

#[tokio::test]
async fn the_report_session_id_is_in_both_services_logs() {
    let lab = Lab::start().await;
    let mut client = lab.handshake_client().await;
    let suite = pb::CipherSuite::TlsRsaWithAes128GcmSha256;
    let report = handshake(&mut client, options(&[suite], "correlate"))
        .await
        .unwrap_or_else(|s| panic!("Handshake failed: {}", brief(&s)));
    assert_success(&report, suite, "correlate");
    let id = &report.session_id;
    assert!(!id.is_empty(), "the report has no session_id");
    // HandshakeReport.session_id "correlates with client-svc's and
    // server-svc's logs" (service.proto).
    let wait = Duration::from_secs(5);
    assert!(
        lab.client.wait_for_log(id, wait).await,
        "client-svc's log does not name the report's session_id {id}"
    );
    assert!(
        lab.server.wait_for_log(id, wait).await,
        "server-svc's log does not name the report's session_id {id}"
    );
}
