//! What the gRPC server offers around Connect: health, reflection, session
//! ids in the headers, and bytes that are not a ConnectRequest at all.

mod common;

use common::{TestServer, plain_alerts, server_config};
use proto::pb::{self, ConnectResponse};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SERVICE: &str = "handshake.v1.HandshakeService";

#[tokio::test]
async fn health_answers_serving() {
    let server = TestServer::start(server_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", SERVICE] {
        let resp = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(resp.status, ServingStatus::Serving as i32, "{service:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_service() {
    let server = TestServer::start(server_config()).await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let first = responses
        .next()
        .await
        .expect("a response")
        .expect("not an error");
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("a list of services: {first:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&SERVICE), "{names:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_session_id_given_by_the_client_comes_back() {
    let server = TestServer::start(server_config()).await;
    let mut client = server.client().await;
    let mut request = tonic::Request::new(tokio_stream::empty::<pb::ConnectRequest>());
    request
        .metadata_mut()
        .insert(proto::SESSION_ID_HEADER, "lab-42".parse().unwrap());
    let resp = client.connect(request).await.expect("Connect");
    assert_eq!(
        resp.metadata().get(proto::SESSION_ID_HEADER).unwrap(),
        "lab-42"
    );
    // The request stream is already over: the session just ends.
    let mut inbound = resp.into_inner();
    assert!(inbound.message().await.expect("OK end").is_none());
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn bytes_that_are_not_a_connect_request_are_decode_error() {
    let server = TestServer::start(server_config()).await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.expect("ready");
    // A HandshakeStep's field 1 is a varint; a ConnectRequest's field 1 is
    // a message: prost refuses the wire type.
    let wrong = pb::HandshakeStep {
        number: 5,
        ..Default::default()
    };
    let codec = tonic_prost::ProstCodec::<pb::HandshakeStep, ConnectResponse>::default();
    let resp = grpc
        .streaming(
            tonic::Request::new(tokio_stream::once(wrong).chain(tokio_stream::pending())),
            PathAndQuery::from_static("/handshake.v1.HandshakeService/Connect"),
            codec,
        )
        .await
        .expect("Connect");
    let mut inbound = resp.into_inner();
    let mut responses = Vec::new();
    let status = loop {
        match inbound.message().await {
            Ok(Some(r)) => responses.push(r),
            Ok(None) => panic!("expected an error status after {responses:?}"),
            Err(status) => break status,
        }
    };
    let alerts = plain_alerts(&responses);
    assert_eq!(alerts.len(), 1, "{responses:?}");
    assert_eq!(alerts[0].description, 50, "decode_error");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    server.wait_no_sessions().await;
}
