//! Hostile `SessionOptions` through client-svc's gRPC service on a
//! loopback port: lists and strings beyond their bounds are
//! INVALID_ARGUMENT with a short message (not a panic in a debug build, not
//! a WatchHandshake stream that ends OK without a report, not a status
//! message quoting megabytes of input).

mod common;

use proto::pb;
use tonic::Code;

type Client =
    pb::handshake_client_service_client::HandshakeClientServiceClient<tonic::transport::Channel>;

/// Handshake's status, and how WatchHandshake ends (it must end with an
/// error status: never OK).
async fn refused(client: &mut Client, o: pb::SessionOptions) -> [tonic::Status; 2] {
    let unary = client
        .handshake(pb::HandshakeRequest {
            options: Some(o.clone()),
        })
        .await
        .expect_err("refused");
    let watched = match client
        .watch_handshake(pb::WatchHandshakeRequest { options: Some(o) })
        .await
    {
        Err(s) => s,
        Ok(resp) => {
            let mut stream = resp.into_inner();
            loop {
                match stream.message().await {
                    Err(s) => break s,
                    Ok(Some(item)) => {
                        assert!(
                            !matches!(
                                item.event,
                                Some(pb::watch_handshake_response::Event::Report(_))
                            ),
                            "a report for refused options"
                        );
                    }
                    Ok(None) => panic!("WatchHandshake ended OK without a report"),
                }
            }
        }
    };
    [unary, watched]
}

fn assert_invalid(statuses: [tonic::Status; 2], field: &str) {
    for s in statuses {
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().contains(field), "{field}: {:?}", s.message());
        assert!(
            s.message().len() < 1024,
            "{field}: {} bytes",
            s.message().len()
        );
    }
}

#[tokio::test]
async fn suites_and_groups_beyond_a_hello_are_invalid_argument() {
    let server = common::start_server(common::lab().server_config()).await;
    let mut client = common::start_client_svc(&server, false).await;
    // 32,768 two-byte code points need a vector longer than 2^16 - 1
    // bytes: the codec's limit.
    for n in [client_svc::options::MAX_CIPHER_SUITES + 1, 32_768, 40_000] {
        let suites = pb::SessionOptions {
            cipher_suites: (0..n).map(|i| 0x1000 + (i as i32 % 0xe000)).collect(),
            ..Default::default()
        };
        assert_invalid(refused(&mut client, suites).await, "cipher_suites");
        let groups = pb::SessionOptions {
            lab: Some(pb::LabOptions {
                groups: (0..n).map(|i| 0x1000 + (i as i32 % 0xe000)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_invalid(refused(&mut client, groups).await, "groups");
    }

    // The service is still there, and a long offer within bounds works
    // (the server picks the one suite it knows).
    let mut suites: Vec<i32> = (0x1000..0x1000 + 1000).collect();
    suites.push(pb::CipherSuite::TlsEcdheRsaWithAes128GcmSha256 as i32);
    let report = client
        .handshake(pb::HandshakeRequest {
            options: Some(pb::SessionOptions {
                cipher_suites: suites,
                ..Default::default()
            }),
        })
        .await
        .expect("an offer at the bound")
        .into_inner()
        .report
        .unwrap();
    assert!(report.success);
}

#[tokio::test]
async fn long_strings_are_refused_with_a_short_message() {
    let server = common::start_server(common::lab().server_config()).await;
    let mut client = common::start_client_svc(&server, false).await;
    // The 4 MB server_name came back in a 2.6 MB message; 3 MB
    // keeps the request under the default 4 MiB gRPC limit.
    let name = pb::SessionOptions {
        server_name: "a".repeat(3 << 20),
        ..Default::default()
    };
    assert_invalid(refused(&mut client, name).await, "server_name");
    let server_target = pb::SessionOptions {
        server: format!("tls://{}:1", "a".repeat(1 << 20)),
        ..Default::default()
    };
    assert_invalid(refused(&mut client, server_target).await, "server");
    let message = pb::SessionOptions {
        application_message: "m".repeat(client_svc::options::MAX_APPLICATION_MESSAGE + 1),
        ..Default::default()
    };
    assert_invalid(refused(&mut client, message).await, "application_message");

    // Within the bound but not a name: still a short message.
    let bad_name = pb::SessionOptions {
        server_name: format!("{}!", "a".repeat(250)),
        ..Default::default()
    };
    for s in refused(&mut client, bad_name).await {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().len() < 1024);
    }
}
