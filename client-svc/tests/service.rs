//! HandshakeClientService over gRPC, in process, against the server-svc
//! stand-in of `common`: every suite, the watch stream, every lab option,
//! an unreachable server, and secrets only on request.

mod common;

use common::{STEP_NAMES, closed_port_url, lab, start_client_svc, start_server};
use handshake::ALL_SUITES;
use handshake::{AlertDescription, CipherSuite};
use prost::Message as _;
use proto::pb;
use proto::pb::watch_handshake_response::Event as WatchEvent;
use proto::status::{RpcStatus, alert_of, report_from_status};
use tonic::{Code, Status};

fn options(suites: &[CipherSuite]) -> pb::SessionOptions {
    pb::SessionOptions {
        cipher_suites: suites.iter().map(|s| i32::from(s.0)).collect(),
        ..Default::default()
    }
}

fn request(options: pb::SessionOptions) -> pb::HandshakeRequest {
    pb::HandshakeRequest {
        options: Some(options),
    }
}

fn lab_options(lab: pb::LabOptions) -> pb::SessionOptions {
    pb::SessionOptions {
        lab: Some(lab),
        ..Default::default()
    }
}

fn assert_thirteen_steps(steps: &[pb::HandshakeStep]) {
    let got: Vec<_> = steps.iter().map(|s| (s.number, s.name.as_str())).collect();
    let want: Vec<_> = (1..=13u32).zip(STEP_NAMES).collect();
    assert_eq!(got, want);
    let mut last = 0;
    for s in steps {
        assert!(s.failure.is_none(), "step {} failed", s.number);
        assert!(!s.fields.is_empty(), "step {} has no fields", s.number);
        assert!(
            s.elapsed_micros >= last,
            "elapsed goes back at {}",
            s.number
        );
        last = s.elapsed_micros;
    }
}

/// The report a failed call carries in its status details, after checking
/// that they are a google.rpc.Status agreeing with the status itself (gRPC
/// libraries replace a status whose details disagree with Internal).
fn report_of(status: &Status) -> pb::HandshakeReport {
    let rpc = RpcStatus::decode(status.details()).expect("a google.rpc.Status in the details");
    assert_eq!(
        (rpc.code, rpc.message.as_str()),
        (i32::from(status.code()), status.message()),
        "details disagree with the status"
    );
    report_from_status(status).expect("a HandshakeReport in the details")
}

fn field<'a>(step: &'a pb::HandshakeStep, name: &str) -> &'a str {
    step.fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("step {} has no field {name}", step.number))
}

#[tokio::test]
async fn every_suite_reports_thirteen_steps_and_the_echo() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    for suite in ALL_SUITES {
        let report = client
            .handshake(request(options(&[suite.suite])))
            .await
            .unwrap_or_else(|s| panic!("{:?}: {s:?}", suite.suite))
            .into_inner()
            .report
            .expect("a report");
        assert!(report.success, "{:?}", suite.suite);
        assert_thirteen_steps(&report.steps);
        let negotiated = report.negotiated.as_ref().expect("negotiated");
        assert_eq!(negotiated.cipher_suite, i32::from(suite.suite.0));
        assert!(negotiated.extended_master_secret);
        assert_eq!(negotiated.group != 0, suite.kx.is_ecdhe());
        assert_eq!(report.application_message, "hello");
        assert_eq!(report.reply, "echo: hello");
        assert_eq!(report.certificate_verdict, "trusted for localhost");
        assert!(report.failure.is_none());
        assert!(report.secrets.is_none(), "secrets without the lab flag");
        assert!(report.total_micros >= report.steps[12].elapsed_micros);
        // Steps 5 to 10 happen in one engine call but are stamped apart:
        // the client's RSA encryption or ECDH (step 6/7) takes measurable
        // time, so step 7 ends after step 5.
        assert!(
            report.steps[6].elapsed_micros > report.steps[4].elapsed_micros,
            "{:?}: steps 5 and 7 stamped at the same time",
            suite.suite
        );
        assert!(!report.session_id.is_empty());

        let cert = &report.certificate_chain[0];
        assert!(cert.subject.contains("localhost"), "{}", cert.subject);
        assert!(
            cert.issuer.contains("client-svc test CA"),
            "{}",
            cert.issuer
        );
        assert_eq!(cert.dns_names, ["localhost"]);
        assert_eq!(cert.ip_addresses, ["127.0.0.1"]);
        assert_eq!(cert.sha256_fingerprint.len(), 64);
        assert!(cert.not_before < cert.not_after);
        let want_key = if suite.kx == handshake::KeyExchange::EcdheEcdsa {
            "ECDSA P-256"
        } else {
            "RSA 2048 bits"
        };
        assert_eq!(cert.public_key, want_key);

        // A few fields and messages a student relies on.
        let s = &report.steps;
        assert_eq!(field(&s[0], "client_random").len(), 64);
        assert_eq!(s[0].message[0], 1, "ClientHello handshake type");
        assert_eq!(s[1].message[0], 2, "ServerHello handshake type");
        assert_eq!(field(&s[1], "cipher_suite"), suite.suite.name().unwrap());
        assert_eq!(s[2].message[0], 11, "Certificate handshake type");
        assert_eq!(field(&s[4], "verdict"), "trusted for localhost");
        assert_eq!(field(&s[9], "verify_data").len(), 24);
        assert_eq!(field(&s[11], "verify_data").len(), 24);
        if suite.kx.is_ecdhe() {
            assert_eq!(s[3].message[0], 12, "ServerKeyExchange first");
            assert!(!field(&s[6], "client_public").is_empty());
        } else {
            assert_eq!(s[3].message, [14, 0, 0, 0], "ServerHelloDone alone");
            assert_eq!(field(&s[6], "encrypted_pre_master_length"), "256");
            assert_eq!(field(&s[5], "pre_master_length"), "48");
        }
    }
}

#[tokio::test]
async fn the_report_session_id_is_proposed_to_server_svc() {
    let (server, ids) = common::start_recording_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let mut reports = Vec::new();
    for _ in 0..2 {
        let report = client
            .handshake(request(pb::SessionOptions::default()))
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        reports.push(report.session_id);
    }
    assert_ne!(reports[0], reports[1], "ids are per session");
    assert_eq!(*ids.lock().unwrap(), reports);
}

#[tokio::test]
async fn watch_streams_thirteen_steps_then_the_report() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let mut stream = client
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(pb::SessionOptions {
                application_message: "watch me".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let mut steps = Vec::new();
    let mut report = None;
    while let Some(item) = stream.message().await.unwrap() {
        match item.event.expect("an event") {
            WatchEvent::Step(s) => {
                assert!(report.is_none(), "a step after the report");
                steps.push(s);
            }
            WatchEvent::Report(r) => report = Some(r),
        }
    }
    assert_thirteen_steps(&steps);
    let report = report.expect("the report, last");
    assert!(report.success);
    assert_eq!(report.steps, steps);
    assert_eq!(report.reply, "echo: watch me");
}

#[tokio::test]
async fn watch_ends_with_the_failed_step_then_the_status() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let mut stream = client
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(lab_options(pb::LabOptions {
                corrupt_client_finished: true,
                ..Default::default()
            })),
        })
        .await
        .unwrap()
        .into_inner();
    let mut steps = Vec::new();
    let status = loop {
        match stream.message().await {
            Ok(Some(item)) => match item.event.expect("an event") {
                WatchEvent::Step(s) => steps.push(s),
                WatchEvent::Report(_) => panic!("a report for a failed session"),
            },
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unauthenticated);
    let last = steps.last().expect("steps");
    let failure = last
        .failure
        .as_ref()
        .expect("the last step carries the failure");
    assert_eq!(failure.step, 10);
    assert_eq!(last.number, 10);
    assert!(failure.raised_by_server);
    assert!(steps[..steps.len() - 1].iter().all(|s| s.failure.is_none()));
    assert_eq!(report_of(&status).steps, steps);
}

#[tokio::test]
async fn corrupt_client_finished_is_decrypt_error_from_the_server_at_step_10() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(lab_options(pb::LabOptions {
            corrupt_client_finished: true,
            ..Default::default()
        })))
        .await
        .expect_err("the session must fail");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::DECRYPT_ERROR));
    assert_eq!(status.metadata().get("tls-step").unwrap(), "10");
    let report = report_of(&status);
    assert!(!report.success);
    let failure = report.failure.expect("failure");
    assert_eq!(failure.step, 10);
    assert_eq!(failure.step_name, "Encrypted Handshake Message");
    assert_eq!(failure.alert, pb::AlertDescription::DecryptError as i32);
    assert!(failure.raised_by_server);
    // In server-svc's words, from its status.
    assert!(failure.reason.contains("verify_data"), "{}", failure.reason);
    // Steps 1 to 10 were done by the client before the server objected.
    let numbers: Vec<_> = report.steps.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
}

#[tokio::test]
async fn corrupt_application_record_is_bad_record_mac() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(lab_options(pb::LabOptions {
            corrupt_application_record: true,
            ..Default::default()
        })))
        .await
        .expect_err("the session must fail");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::BAD_RECORD_MAC));
    let report = report_of(&status);
    let failure = report.failure.expect("failure");
    assert_eq!(failure.alert, pb::AlertDescription::BadRecordMac as i32);
    assert!(failure.raised_by_server);
    assert_eq!(failure.step, 13);
    // The handshake itself completed.
    assert_eq!(report.steps[12].name, "Finish");
    assert!(report.reply.is_empty());
}

#[tokio::test]
async fn wrong_server_name_is_bad_certificate_at_step_5_from_the_client() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(pb::SessionOptions {
            server_name: "www.example.com".into(),
            ..Default::default()
        }))
        .await
        .expect_err("the session must fail");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::BAD_CERTIFICATE));
    let report = report_of(&status);
    let failure = report.failure.expect("failure");
    assert_eq!(failure.step, 5);
    assert_eq!(failure.step_name, "Client Verification");
    assert!(!failure.raised_by_server);
    assert!(
        failure.reason.contains("www.example.com"),
        "{}",
        failure.reason
    );
    assert!(
        report.certificate_verdict.starts_with("not trusted"),
        "{}",
        report.certificate_verdict
    );
    assert!(!report.certificate_chain.is_empty());
}

#[tokio::test]
async fn a_suite_the_server_does_not_enable_is_handshake_failure() {
    let mut config = lab().server_config();
    config.cipher_suites = vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    let server = start_server(config).await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(options(&[
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        ])))
        .await
        .expect_err("the session must fail");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::HANDSHAKE_FAILURE));
    let failure = report_of(&status).failure.expect("failure");
    assert!(failure.raised_by_server);
    assert!(failure.step <= 2, "{}", failure.step);
}

#[tokio::test]
async fn a_wrong_server_finished_is_decrypt_error_from_the_client_at_step_12() {
    let mut config = lab().server_config();
    config.faults.corrupt_finished = true;
    let server = start_server(config).await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(pb::SessionOptions::default()))
        .await
        .expect_err("the session must fail");
    assert_eq!(alert_of(&status), Some(AlertDescription::DECRYPT_ERROR));
    let failure = report_of(&status).failure.expect("failure");
    assert_eq!(failure.step, 12);
    assert!(!failure.raised_by_server);
}

#[tokio::test]
async fn lab_groups_and_no_extended_master_secret() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    let mut o = options(&[CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
    o.lab = Some(pb::LabOptions {
        groups: vec![pb::NamedGroup::Secp384r1 as i32],
        disable_extended_master_secret: true,
        ..Default::default()
    });
    let report = client
        .handshake(request(o))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(report.success);
    let n = report.negotiated.unwrap();
    assert_eq!(n.group, pb::NamedGroup::Secp384r1 as i32);
    assert!(!n.extended_master_secret);
    assert_eq!(field(&report.steps[7], "extended_master_secret"), "no");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let server = closed_port_url().await;
    let mut client = start_client_svc(&server, false).await;
    let status = client
        .handshake(request(pb::SessionOptions::default()))
        .await
        .expect_err("nothing listens there");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("unreachable") && status.message().contains(&server),
        "{}",
        status.message()
    );
    assert!(!status.message().contains('\n'));
}

#[tokio::test]
async fn a_silent_server_ends_the_session_at_the_timeout() {
    let server = common::start_silent_server().await;
    let mut settings = common::settings(&server, false);
    settings.timeout = std::time::Duration::from_millis(500);
    let mut client = common::start_client_svc_with(settings).await;
    let started = std::time::Instant::now();
    let status = client
        .handshake(request(pb::SessionOptions::default()))
        .await
        .expect_err("no answer, no session");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let report = report_of(&status);
    let failure = report.failure.expect("failure");
    assert!(failure.reason.contains("timeout"), "{}", failure.reason);
    assert!(!failure.raised_by_server);
    assert_eq!(report.steps[0].name, "Client Hello");
}

#[tokio::test]
async fn invalid_options_are_invalid_argument() {
    let server = start_server(lab().server_config()).await;
    let mut client = start_client_svc(&server, false).await;
    for o in [
        pb::SessionOptions {
            server_name: "not a name!".into(),
            ..Default::default()
        },
        pb::SessionOptions {
            cipher_suites: vec![0],
            ..Default::default()
        },
        pb::SessionOptions {
            server: "http://[bad".into(),
            ..Default::default()
        },
    ] {
        let status = client.handshake(request(o)).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

#[tokio::test]
async fn secrets_only_with_the_lab_flag() {
    let server = start_server(lab().server_config()).await;
    let mut plain = start_client_svc(&server, false).await;
    let report = plain
        .handshake(request(pb::SessionOptions::default()))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(report.secrets.is_none());

    let mut lab_client = start_client_svc(&server, true).await;
    let report = lab_client
        .handshake(request(options(&[
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        ])))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let secrets = report.secrets.expect("secrets with the lab flag");
    assert_eq!(secrets.pre_master_secret.len(), 96);
    assert!(
        secrets.pre_master_secret.starts_with("0303"),
        "client_version first"
    );
    assert_eq!(secrets.master_secret.len(), 96);
    assert_eq!(secrets.client_write_key.len(), 32);
    assert_eq!(secrets.server_write_iv.len(), 8);
    let client_random = field(&report.steps[0], "client_random");
    assert_eq!(
        secrets.key_log_line,
        format!("CLIENT_RANDOM {client_random} {}", secrets.master_secret)
    );

    // A failed session's report carries them too (keys were derived).
    let status = lab_client
        .handshake(request(lab_options(pb::LabOptions {
            corrupt_client_finished: true,
            ..Default::default()
        })))
        .await
        .expect_err("the session must fail");
    assert!(report_of(&status).secrets.is_some());
}
