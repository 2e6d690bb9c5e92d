//! gRPC health and server reflection on both services.

use e2e::grpc::{health_status, reflection_services, reflection_services_v1alpha};
use e2e::{Lab, Service};
use tonic_health::pb::health_check_response::ServingStatus;

async fn check(svc: &Service, own: &str) {
    for name in ["", own] {
        assert_eq!(
            health_status(&svc.url(), name).await,
            Ok(ServingStatus::Serving),
            "health of {name:?} at {}",
            svc.url()
        );
    }
    for (version, listed) in [
        ("v1", reflection_services(svc.channel().await).await),
        (
            "v1alpha",
            reflection_services_v1alpha(svc.channel().await).await,
        ),
    ] {
        for want in [own, "grpc.health.v1.Health"] {
            assert!(
                listed.iter().any(|s| s == want),
                "reflection {version} at {} does not list {want}: {listed:?}",
                svc.url()
            );
        }
    }
}

#[tokio::test]
async fn both_services_answer_health_and_reflection() {
    let lab = Lab::start().await;
    check(&lab.server, "handshake.v1.HandshakeService").await;
    check(&lab.client, "handshake.v1.HandshakeClientService").await;
}
