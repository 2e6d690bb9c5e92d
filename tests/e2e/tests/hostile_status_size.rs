//! A failed session's status stays small whatever the request held: a
//! 1 MB application message through client-svc, against a server-svc that
//! breaks the handshake at Finished (`--lab-corrupt-finished`), gets the
//! real status (UNAUTHENTICATED, decrypt_error at step 12) with details of
//! at most 8 KiB that a default tonic client decodes; the report in them
//! keeps the message's first bytes, marked as cut, and says what was left
//! out (issue 11, defect 5: 21 KB to 1 MB of details before).

use e2e::grpc::{bounded, brief, report_of};
use e2e::{Lab, handshake, options};
use proto::pb;
use proto::pb::watch_handshake_response::Event;
use proto::status::{MAX_DETAILS, MAX_MESSAGE, alert_of, trimmed_from_status};
use tonic::{Code, Status};

const MESSAGE_LEN: usize = 1 << 20;

fn huge_message() -> String {
    "a".repeat(MESSAGE_LEN)
}

/// The status is the real one, small, and carries a trimmed report.
fn assert_bounded(status: &Status) {
    assert_eq!(status.code(), Code::Unauthenticated, "{}", brief(status));
    assert_eq!(
        alert_of(status),
        Some(handshake::AlertDescription::DECRYPT_ERROR),
        "{}",
        brief(status)
    );
    assert!(
        status.details().len() <= MAX_DETAILS,
        "{} bytes of details",
        status.details().len()
    );
    assert!(status.message().len() <= MAX_MESSAGE, "{}", brief(status));
    let report = report_of(status);
    assert!(!report.success);
    let failure = report.failure.as_ref().expect("the failure");
    assert_eq!(failure.step, 12, "{failure:?}");
    assert!(
        report.application_message.starts_with("aaaa"),
        "the message's first bytes are kept"
    );
    assert!(
        report.application_message.ends_with(" bytes more)"),
        "the cut is marked: {:?}",
        &report.application_message[report.application_message.len().saturating_sub(40)..]
    );
    assert!(report.application_message.len() < 1024);
    let trimmed = trimmed_from_status(status).expect("a ReportTrimmed detail");
    assert!(
        trimmed.omitted_bytes as usize >= MESSAGE_LEN - 1024,
        "{trimmed:?}"
    );
    assert!(
        trimmed.omitted.iter().any(|w| w.contains("texts")),
        "{trimmed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_application_message_gets_small_status_details() {
    let lab = Lab::with_server_args(&["--lab-corrupt-finished"]).await;
    let mut client = lab.handshake_client().await;

    let status = handshake(&mut client, options(&[], &huge_message()))
        .await
        .expect_err("the server's Finished is corrupt");
    assert_bounded(&status);

    // WatchHandshake ends with the same status, after the steps.
    let mut stream = bounded(
        "WatchHandshake",
        client.watch_handshake(pb::WatchHandshakeRequest {
            options: Some(options(&[], &huge_message())),
        }),
    )
    .await
    .expect("the stream opens")
    .into_inner();
    let mut steps = 0;
    let status = loop {
        match bounded("a WatchHandshake message", stream.message()).await {
            Ok(Some(pb::WatchHandshakeResponse {
                event: Some(Event::Step(_)),
            })) => steps += 1,
            Ok(other) => panic!("expected a step or the failure, got {other:?}"),
            Err(status) => break status,
        }
    };
    assert!(steps >= 12, "{steps} steps before the failure");
    assert_bounded(&status);
}
