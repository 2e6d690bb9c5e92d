//! Hostile `SessionOptions.server` values, through client-svc's gRPC
//! service on a loopback port: targets it was not allowed to reach are
//! refused before any connection (SSRF), and target lists are bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proto::pb;
use tonic::Code;

/// A listener that counts who connected (and hangs up on them).
struct Witness {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Witness {
    async fn start() -> Self {
        let (l, addr) = common::listener().await;
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = l.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self {
            port: addr.port(),
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn options(server: &str) -> pb::SessionOptions {
    pb::SessionOptions {
        server: server.to_owned(),
        ..Default::default()
    }
}

type Client =
    pb::handshake_client_service_client::HandshakeClientServiceClient<tonic::transport::Channel>;

/// Both calls' status for `server`: Handshake's, and the one a
/// WatchHandshake stream ends with (after no event).
async fn both_statuses(client: &mut Client, server: &str) -> [tonic::Status; 2] {
    let unary = client
        .handshake(pb::HandshakeRequest {
            options: Some(options(server)),
        })
        .await
        .expect_err("refused");
    let watched = match client
        .watch_handshake(pb::WatchHandshakeRequest {
            options: Some(options(server)),
        })
        .await
    {
        Err(s) => s,
        Ok(resp) => {
            let mut stream = resp.into_inner();
            match stream.message().await {
                Err(s) => s,
                Ok(item) => panic!("{server}: the watch went on with {item:?}"),
            }
        }
    };
    [unary, watched]
}

#[tokio::test]
async fn a_server_not_allowed_is_refused_without_a_connection() {
    let server = common::start_server(common::lab().server_config()).await;
    let mut client = common::start_client_svc(&server, false).await;
    let witness = Witness::start().await;
    let p = witness.port;
    let default = server.trim_start_matches("http://");
    for target in [
        format!("tls://127.0.0.1:{p}"),
        format!("TLS://localhost:{p}"),
        format!("http://127.0.0.1:{p}"),
        format!("127.0.0.1:{p}"),
        format!("ipv4:127.0.0.1:{p}"),
        // One allowed replica does not carry another that is not.
        format!("ipv4:{default},127.0.0.1:{p}"),
        format!("ipv6:[::1]:{p}"),
        format!("dns:///localhost:{p}"),
        // Not looked up: the same answer as any other.
        "dns:///no-such-host.invalid:50051".to_owned(),
        "tls://no-such-host.invalid:443".to_owned(),
    ] {
        for status in both_statuses(&mut client, &target).await {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{target}: {status:?}"
            );
            assert!(
                status.message().contains("--allow-server"),
                "{target}: {status:?}"
            );
            assert!(status.message().len() < 1024, "{target}");
        }
    }
    assert_eq!(witness.connections(), 0, "nobody connected to the witness");

    // The default server, in another form, is allowed.
    let report = client
        .handshake(pb::HandshakeRequest {
            options: Some(options(&format!("ipv4:{default}"))),
        })
        .await
        .expect("the configured server by its address")
        .into_inner()
        .report
        .unwrap();
    assert!(report.success);
}

#[tokio::test]
async fn a_refused_port_and_a_silent_one_get_the_same_answer() {
    let server = common::start_server(common::lab().server_config()).await;
    let mut client = common::start_client_svc(&server, false).await;
    let witness = Witness::start().await;
    let closed = common::closed_port_url().await;
    let closed_port = closed.rsplit(':').next().unwrap();
    let [a, _] = both_statuses(&mut client, &format!("tls://127.0.0.1:{}", witness.port)).await;
    let [b, _] = both_statuses(&mut client, &format!("tls://127.0.0.1:{closed_port}")).await;
    assert_eq!(a.code(), b.code());
    let strip = |s: &tonic::Status, port: &str| s.message().replace(port, "PORT");
    assert_eq!(strip(&a, &witness.port.to_string()), strip(&b, closed_port));
    assert_eq!(witness.connections(), 0);
}

#[tokio::test]
async fn an_allowed_server_is_reached() {
    let server = common::start_server(common::lab().server_config()).await;
    let witness = Witness::start().await;
    let allowed = format!("tls://127.0.0.1:{}", witness.port);
    let mut client = common::start_client_svc_with(client_svc::service::Settings {
        allow_servers: vec![allowed.clone()],
        ..common::settings(&server, false)
    })
    .await;
    let status = client
        .handshake(pb::HandshakeRequest {
            options: Some(options(&allowed)),
        })
        .await
        .expect_err("the witness speaks no TLS");
    assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(witness.connections(), 1, "client-svc connected");
    // By address in the ipv4: form it is the same server, but a gRPC one:
    // allowed too (and reached).
    let status = client
        .handshake(pb::HandshakeRequest {
            options: Some(options(&format!("ipv4:127.0.0.1:{}", witness.port))),
        })
        .await
        .expect_err("the witness speaks no gRPC");
    assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(witness.connections() >= 2);
}

#[tokio::test]
async fn a_target_list_over_the_cap_is_invalid_argument_with_a_bounded_message() {
    let server = common::start_server(common::lab().server_config()).await;
    let default = server.trim_start_matches("http://").to_owned();
    let mut client = common::start_client_svc(&server, false).await;
    let max = client_svc::resolve::MAX_ADDRESSES;

    // The cap itself: that many addresses (all the allowed server) work.
    let at_cap = format!("ipv4:{}", vec![default.as_str(); max].join(","));
    let report = client
        .handshake(pb::HandshakeRequest {
            options: Some(options(&at_cap)),
        })
        .await
        .expect("a list at the cap")
        .into_inner()
        .report
        .unwrap();
    assert!(report.success);

    // One more, and a list as long as the 30,000 addresses.
    let over = format!("ipv4:{}", vec![default.as_str(); max + 1].join(","));
    let huge: Vec<String> = (0..30_000)
        .map(|i| format!("10.{}.{}.{}:50051", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let huge = format!("ipv4:{}", huge.join(","));
    for (target, says) in [(over, "at most"), (huge, "at most")] {
        for status in both_statuses(&mut client, &target).await {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains(says), "{:?}", status.message());
            assert!(
                status.message().len() < 1024,
                "{} bytes",
                status.message().len()
            );
        }
    }
}

#[tokio::test]
async fn a_long_list_with_repeats_keeps_each_address_once_in_order() {
    use client_svc::balance::{Balancer, ChannelOptions};
    use client_svc::resolve::{MAX_ADDRESSES, parse_name};
    // 256 entries, three distinct addresses: one channel each.
    let entries: Vec<String> = (0..MAX_ADDRESSES)
        .map(|i| format!("127.0.0.{}:50051", 1 + i % 3))
        .collect();
    let target = format!("ipv4:{}", entries.join(","));
    let name = parse_name(&target).unwrap().unwrap();
    let b = Balancer::resolving(&target, name, false, ChannelOptions::default());
    b.refresh().await.unwrap();
    assert_eq!(
        b.keys(),
        ["127.0.0.1:50051", "127.0.0.2:50051", "127.0.0.3:50051"]
    );
    // One more entry is refused by the parser itself.
    let over = format!("{target},127.0.0.1:1");
    let err = parse_name(&over).unwrap().unwrap_err();
    assert!(err.contains("at most 256"), "{err}");
    assert!(err.len() < 1024);
}
