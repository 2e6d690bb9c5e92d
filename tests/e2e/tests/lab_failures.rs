//! Lab faults, client-side (HandshakeRequest's lab options) and server-side
//! (server-svc's --lab-* flags): each yields its alert, its gRPC status,
//! and a report naming the failing step and who raised the alert.

use e2e::grpc::{assert_failure, bounded, brief, report_of, step_of};
use e2e::{Lab, handshake, options, suite_name};
use proto::pb;
use proto::pb::watch_handshake_response::Event;
use tonic::{Code, Status};

/// What a failed session must show.
struct Expect {
    code: Code,
    alert: &'static str,
    pb_alert: pb::AlertDescription,
    /// The failing step, where the lesson names one.
    step: Option<u32>,
    raised_by_server: bool,
}

/// Runs `opts` through client-svc and checks the failure against `want`.
async fn expect_failure(lab: &Lab, opts: pb::SessionOptions, want: Expect) -> Status {
    let suites: Vec<_> = opts
        .cipher_suites
        .iter()
        .map(|&s| pb::CipherSuite::try_from(s).map_or("?", suite_name))
        .collect();
    eprintln!("expecting {} with suites {suites:?}", want.alert);
    let mut client = lab.handshake_client().await;
    let status = match handshake(&mut client, opts).await {
        Ok(report) => panic!(
            "expected {} but the session succeeded ({} steps, reply {:?})",
            want.alert,
            report.steps.len(),
            report.reply
        ),
        Err(s) => s,
    };
    assert_failure(&status, want.code, want.alert);
    let report = report_of(&status);
    assert!(!report.success, "a failed session's report says success");
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("the report has no failure: {report:?}"));
    assert_eq!(
        failure.alert(),
        want.pb_alert,
        "report failure alert ({failure:?})"
    );
    assert_eq!(
        failure.raised_by_server, want.raised_by_server,
        "raised_by_server ({failure:?})"
    );
    if let Some(step) = want.step {
        assert_eq!(failure.step, step, "failing step ({failure:?})");
    }
    // The status names the same step as the report.
    assert_eq!(
        step_of(&status),
        Some(failure.step),
        "tls-step metadata vs report failure.step ({}, {failure:?})",
        brief(&status)
    );
    status
}

fn lab_options(suites: &[pb::CipherSuite], lab: pb::LabOptions) -> pb::SessionOptions {
    pb::SessionOptions {
        lab: Some(lab),
        ..options(suites, "lab")
    }
}

#[tokio::test]
async fn corrupt_client_finished_is_decrypt_error_at_step_10_raised_by_the_server() {
    let lab = Lab::start().await;
    let opts = lab_options(
        &[],
        pb::LabOptions {
            corrupt_client_finished: true,
            ..Default::default()
        },
    );
    let want = Expect {
        code: Code::Unauthenticated,
        alert: "decrypt_error",
        pb_alert: pb::AlertDescription::DecryptError,
        step: Some(10),
        raised_by_server: true,
    };
    expect_failure(&lab, opts, want).await;
}

#[tokio::test]
async fn corrupt_application_record_is_bad_record_mac_raised_by_the_server() {
    let lab = Lab::start().await;
    let opts = lab_options(
        &[],
        pb::LabOptions {
            corrupt_application_record: true,
            ..Default::default()
        },
    );
    let want = Expect {
        code: Code::Unauthenticated,
        alert: "bad_record_mac",
        pb_alert: pb::AlertDescription::BadRecordMac,
        step: Some(13),
        raised_by_server: true,
    };
    expect_failure(&lab, opts, want).await;
}

#[tokio::test]
async fn wrong_server_name_is_bad_certificate_at_step_5() {
    let lab = Lab::start().await;
    let opts = pb::SessionOptions {
        server_name: "wrong.example".into(),
        ..options(&[], "lab")
    };
    let want = Expect {
        code: Code::Unauthenticated,
        alert: "bad_certificate",
        pb_alert: pb::AlertDescription::BadCertificate,
        step: Some(5),
        raised_by_server: false,
    };
    let status = expect_failure(&lab, opts, want).await;
    let report = report_of(&status);
    assert!(
        !report.certificate_verdict.is_empty(),
        "step 5 failed but the report has no certificate verdict"
    );
}

#[tokio::test]
async fn a_suite_the_server_excludes_is_handshake_failure() {
    let enabled = pb::CipherSuite::TlsRsaWithAes128GcmSha256;
    let lab = Lab::with_server_args(&["--suite", suite_name(enabled)]).await;
    // The enabled suite still works...
    let mut client = lab.handshake_client().await;
    let report = handshake(&mut client, options(&[enabled], "allowed"))
        .await
        .unwrap_or_else(|s| panic!("the one enabled suite fails: {}", brief(&s)));
    e2e::assert_success(&report, enabled, "allowed");
    // ...and offering only another one cannot be agreed on.
    let opts = options(&[pb::CipherSuite::TlsEcdheEcdsaWithAes128GcmSha256], "lab");
    let want = Expect {
        code: Code::FailedPrecondition,
        alert: "handshake_failure",
        pb_alert: pb::AlertDescription::HandshakeFailure,
        step: None,
        raised_by_server: true,
    };
    expect_failure(&lab, opts, want).await;
}

#[tokio::test]
async fn server_corrupt_finished_is_decrypt_error_at_step_12_raised_by_the_client() {
    let lab = Lab::with_server_args(&["--lab-corrupt-finished"]).await;
    let want = Expect {
        code: Code::Unauthenticated,
        alert: "decrypt_error",
        pb_alert: pb::AlertDescription::DecryptError,
        step: Some(12),
        raised_by_server: false,
    };
    expect_failure(&lab, options(&[], "lab"), want).await;
}

#[tokio::test]
async fn server_choosing_an_unoffered_suite_is_illegal_parameter_at_step_2() {
    let lab = Lab::with_server_args(&["--lab-choose-unoffered-suite"]).await;
    // Offer one suite, so the server has others to pick from.
    let opts = options(&[pb::CipherSuite::TlsEcdheRsaWithAes128GcmSha256], "lab");
    let want = Expect {
        code: Code::InvalidArgument,
        alert: "illegal_parameter",
        pb_alert: pb::AlertDescription::IllegalParameter,
        step: Some(2),
        raised_by_server: false,
    };
    expect_failure(&lab, opts, want).await;
}

#[tokio::test]
async fn server_corrupt_signature_is_decrypt_error_at_step_5() {
    let lab = Lab::with_server_args(&["--lab-corrupt-signature"]).await;
    // Both signature kinds: RSA and ECDSA ServerKeyExchange signatures.
    for suite in [
        pb::CipherSuite::TlsEcdheRsaWithAes128GcmSha256,
        pb::CipherSuite::TlsEcdheEcdsaWithAes128GcmSha256,
    ] {
        let want = Expect {
            code: Code::Unauthenticated,
            alert: "decrypt_error",
            pb_alert: pb::AlertDescription::DecryptError,
            step: Some(5),
            raised_by_server: false,
        };
        expect_failure(&lab, options(&[suite], "lab"), want).await;
    }
}

#[tokio::test]
async fn watch_handshake_failure_streams_the_failed_step_then_the_status() {
    let lab = Lab::start().await;
    let mut client = lab.handshake_client().await;
    let request = pb::WatchHandshakeRequest {
        options: Some(pb::SessionOptions {
            server_name: "wrong.example".into(),
            ..options(&[], "lab")
        }),
    };
    let mut stream = bounded("WatchHandshake", client.watch_handshake(request))
        .await
        .unwrap_or_else(|s| panic!("WatchHandshake does not start: {}", brief(&s)))
        .into_inner();
    let mut steps = Vec::new();
    let mut status = None;
    for _ in 0..20 {
        match bounded("a WatchHandshake message", stream.message()).await {
            Ok(Some(msg)) => match msg.event {
                Some(Event::Step(step)) => steps.push(step),
                Some(Event::Report(_)) => panic!("a report for a failed session"),
                None => panic!("a WatchHandshakeResponse with no event"),
            },
            Ok(None) => panic!("the stream ended OK after a failed session"),
            Err(s) => {
                status = Some(s);
                break;
            }
        }
    }
    let status = status.expect("the stream ends with a status");
    assert_failure(&status, Code::Unauthenticated, "bad_certificate");
    // Steps 1 to 4 done, then step 5 carrying the failure.
    let numbers: Vec<u32> = steps.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5], "streamed steps");
    let failure = steps[4]
        .failure
        .as_ref()
        .expect("the last streamed step carries the failure");
    assert_eq!(failure.alert(), pb::AlertDescription::BadCertificate);
    assert_eq!(failure.step, 5);
    assert!(steps[..4].iter().all(|s| s.failure.is_none()));
    assert_eq!(report_of(&status).failure.as_ref(), Some(failure));
}
