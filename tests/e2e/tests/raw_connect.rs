//! The raw HandshakeService.Connect stream of server-svc, driven by the
//! engine's own client: malformed and out-of-order messages get a TLS alert
//! and a gRPC status, a closed stream is let go, and the server keeps
//! serving other sessions.

use std::time::Duration;

use e2e::grpc::{ConnectStream, RawSession, assert_failure, brief, client_engine, drain};
use e2e::{SERVER_NAME, Service, ca_of, start_server};
use proto::pb;
use proto::pb::connect_request::Message as Req;
use proto::pb::connect_response::Message as Resp;
use tonic::Code;

fn req(m: Req) -> pb::ConnectRequest {
    pb::ConnectRequest { message: Some(m) }
}

/// The only alert among `msgs`, in the clear.
fn clear_alert(msgs: &[pb::ConnectResponse]) -> pb::Alert {
    let alerts: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.message {
            Some(Resp::Alert(a)) => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "expected one alert before the status: {msgs:?}"
    );
    assert!(
        matches!(
            msgs.last().and_then(|m| m.message.as_ref()),
            Some(Resp::Alert(_))
        ),
        "the alert is the last message: {msgs:?}"
    );
    alerts[0]
}

#[tokio::test]
async fn malformed_streams_get_alerts_and_the_server_keeps_serving() {
    // A long handshake timeout: a stream that ends here ends because of
    // what the client did, not because it sat idle.
    let server = start_server(&["--handshake-timeout", "60"]).await;
    wrong_first_message(&server).await;
    garbage_record_after_the_handshake(&server).await;
    second_client_hello(&server).await;
    closed_mid_handshake(&server).await;
    // After all of that, a normal session on the same server, under a
    // session id the client proposes.
    let proposed = "e2e-proposed.1";
    let engine = client_engine(&ca_of(&server), SERVER_NAME, &[]);
    let mut s = RawSession::open_as(server.channel().await, engine, Some(proposed)).await;
    assert_eq!(
        s.stream.session_id(),
        Some(proposed),
        "session-id response header"
    );
    s.complete_handshake().await;
    assert_eq!(s.echo("still serving").await, "echo: still serving");
    // A second one, concurrently with the first still open; its id is the
    // server's own.
    let mut t = RawSession::open(server.channel().await, &ca_of(&server), SERVER_NAME).await;
    let id = t.stream.session_id().unwrap_or_default();
    assert!(
        !id.is_empty() && id != proposed,
        "session-id response header: {id:?}"
    );
    t.complete_handshake().await;
    assert_eq!(t.echo("and another").await, "echo: and another");
    assert_eq!(s.echo("first again").await, "echo: first again");
    // At the default level a session's one line is its summary, at its end.
    drop(s);
    assert!(
        server.wait_for_log(proposed, Duration::from_secs(5)).await,
        "server-svc's log does not name the session id {proposed} the client proposed"
    );
}

/// ChangeCipherSpec instead of ClientHello: unexpected_message, InvalidArgument.
async fn wrong_first_message(server: &Service) {
    let first = vec![req(Req::ChangeCipherSpec(pb::ChangeCipherSpec {}))];
    let mut stream = ConnectStream::open(server.channel().await, first).await;
    let (msgs, status) = stream.until_status(4).await;
    let alert = clear_alert(&msgs);
    assert_eq!(alert.level(), pb::AlertLevel::Fatal, "{alert:?}");
    assert_eq!(
        alert.description(),
        pb::AlertDescription::UnexpectedMessage,
        "{alert:?}"
    );
    assert_failure(&status, Code::InvalidArgument, "unexpected_message");
}

/// Garbage in an application data record once keys are on: an encrypted
/// bad_record_mac alert, then Unauthenticated.
async fn garbage_record_after_the_handshake(server: &Service) {
    let mut s = RawSession::open(server.channel().await, &ca_of(server), SERVER_NAME).await;
    s.complete_handshake().await;
    s.stream
        .send(req(Req::EncryptedRecord(pb::EncryptedRecord {
            content_type: pb::ContentType::ApplicationData as i32,
            fragment: vec![0x5a; 40],
        })))
        .await;
    let (msgs, status) = s.stream.until_status(4).await;
    assert_eq!(msgs.len(), 1, "expected one encrypted alert: {msgs:?}");
    let Some(Resp::EncryptedRecord(rec)) = &msgs[0].message else {
        panic!("expected the alert as an encrypted record, got {msgs:?}");
    };
    assert_eq!(rec.content_type(), pb::ContentType::Alert, "{rec:?}");
    // The client engine opens it with the server's keys and finds the alert.
    let err = s
        .feed(msgs[0].clone())
        .await
        .expect_err("the record is a fatal alert");
    assert_eq!(
        err.alert(),
        handshake::AlertDescription::BAD_RECORD_MAC,
        "{err:?}"
    );
    assert_eq!(err.origin(), handshake::Origin::Peer, "{err:?}");
    assert_failure(&status, Code::Unauthenticated, "bad_record_mac");
}

/// A second ClientHello while the server waits for ClientKeyExchange.
async fn second_client_hello(server: &Service) {
    let mut s = RawSession::open(server.channel().await, &ca_of(server), SERVER_NAME).await;
    // Read the server's flight up to ServerHelloDone without answering it.
    let mut done = false;
    for _ in 0..8 {
        match s.stream.recv().await {
            Ok(Some(pb::ConnectResponse {
                message: Some(Resp::ServerHelloDone(_)),
            })) => {
                done = true;
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("the server's first flight: {other:?}"),
        }
    }
    assert!(done, "no ServerHelloDone in the server's first flight");
    let mut again = client_engine(&ca_of(server), SERVER_NAME, &[]);
    for m in drain(&mut again) {
        s.stream.send(m).await;
    }
    let (msgs, status) = s.stream.until_status(4).await;
    let alert = clear_alert(&msgs);
    assert_eq!(
        alert.description(),
        pb::AlertDescription::UnexpectedMessage,
        "{alert:?}"
    );
    assert_failure(&status, Code::InvalidArgument, "unexpected_message");
}

/// The client closes its side right after ClientHello: the server ends the
/// stream promptly (whatever its status), it does not hang.
async fn closed_mid_handshake(server: &Service) {
    let mut s = RawSession::open(server.channel().await, &ca_of(server), SERVER_NAME).await;
    s.stream.close_send();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        for _ in 0..8 {
            match s.stream.recv().await {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(()),
                Err(status) => return Err(status),
            }
        }
        panic!("more than 8 messages after the client closed its side");
    })
    .await
    .expect("the server did not end the stream within 10 s of the client closing its side");
    if let Err(status) = end {
        // A status is fine, but not one that says the server broke.
        assert_ne!(status.code(), Code::Internal, "{}", brief(&status));
        assert_ne!(status.code(), Code::Unknown, "{}", brief(&status));
    }
}
