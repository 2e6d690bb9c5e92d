//! Malformed input on the raw Connect stream: each gets a fatal alert and
//! an error status (a stream closed mid-handshake just ends), and the
//! server keeps serving: a session opened before them and one started
//! after them both work.

mod common;

use common::{Stream, TestServer, client_config, client_hello, plain_alerts, server_config};
use handshake::{AlertDescription, CipherSuite, Event};
use proto::convert::{from_response, to_request};
use proto::pb::connect_request::Message as Req;
use proto::pb::connect_response::Message as Resp;
use proto::pb::{self, ConnectRequest, ConnectResponse};
use proto::status::{STEP_KEY, alert_of};
use tonic::{Code, Status};

fn req(m: Req) -> ConnectRequest {
    ConnectRequest { message: Some(m) }
}

/// Sends `requests` on a new stream and reads it to its end.
async fn raw(server: &TestServer, requests: Vec<ConnectRequest>) -> (Vec<ConnectResponse>, Status) {
    let mut stream = Stream::open(server).await;
    for r in requests {
        stream.send(r).await;
    }
    let (responses, status) = stream.rest().await;
    (responses, status.expect("an error status"))
}

/// One fatal alert in the clear, then `code` naming `alert` at `step`.
fn assert_alert_and_status(
    case: &str,
    (responses, status): &(Vec<ConnectResponse>, Status),
    alert: AlertDescription,
    code: Code,
    step: &str,
) {
    let alerts = plain_alerts(responses);
    assert_eq!(alerts.len(), 1, "{case}: {responses:?}");
    assert_eq!(alerts[0].level, 2, "{case}: fatal");
    assert_eq!(alerts[0].description, i32::from(alert.0), "{case}");
    assert_eq!(status.code(), code, "{case}: {status:?}");
    assert_eq!(alert_of(status), Some(alert), "{case}: {status:?}");
    assert_eq!(
        status.metadata().get(STEP_KEY).unwrap(),
        step,
        "{case}: {status:?}"
    );
}

/// Sends a ClientHello and reads the server's flight up to ServerHelloDone.
async fn hello(stream: &mut Stream) -> Vec<ConnectResponse> {
    assert!(stream.send(client_hello()).await);
    let mut flight = Vec::new();
    loop {
        let r = stream.recv_n(1).await.remove(0);
        let done = matches!(r.message, Some(Resp::ServerHelloDone(_)));
        flight.push(r);
        if done {
            return flight;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_an_alert_and_a_status_and_the_server_goes_on() {
    let server = TestServer::start(server_config()).await;
    let suite = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    // A session in progress while the bad ones come and go.
    let (mut before, mut before_client) =
        common::handshake_only(&server, client_config(&[suite])).await;

    // Wrong first message.
    let out = raw(
        &server,
        vec![req(Req::ChangeCipherSpec(pb::ChangeCipherSpec {}))],
    )
    .await;
    assert_alert_and_status(
        "ChangeCipherSpec first",
        &out,
        AlertDescription::UNEXPECTED_MESSAGE,
        Code::InvalidArgument,
        "1",
    );

    // A ConnectRequest with no message.
    let out = raw(&server, vec![ConnectRequest { message: None }]).await;
    assert_alert_and_status(
        "empty ConnectRequest",
        &out,
        AlertDescription::DECODE_ERROR,
        Code::InvalidArgument,
        "1",
    );

    // A random of 31 bytes.
    let mut short = client_hello();
    let Some(Req::ClientHello(h)) = &mut short.message else {
        panic!("a ClientHello");
    };
    h.random.pop();
    let out = raw(&server, vec![short]).await;
    assert_alert_and_status(
        "31-byte random",
        &out,
        AlertDescription::DECODE_ERROR,
        Code::InvalidArgument,
        "1",
    );
    assert!(out.1.message().contains("random"), "{:?}", out.1);

    // An encrypted record of a type that cannot be one.
    let out = raw(
        &server,
        vec![req(Req::EncryptedRecord(pb::EncryptedRecord {
            content_type: 99,
            fragment: vec![0; 32],
        }))],
    )
    .await;
    assert_alert_and_status(
        "record of type 99",
        &out,
        AlertDescription::UNEXPECTED_MESSAGE,
        Code::InvalidArgument,
        "1",
    );

    // A second ClientHello.
    let mut stream = Stream::open(&server).await;
    hello(&mut stream).await;
    assert!(stream.send(client_hello()).await);
    let (responses, status) = stream.rest().await;
    assert_alert_and_status(
        "second ClientHello",
        &(responses, status.expect("an error status")),
        AlertDescription::UNEXPECTED_MESSAGE,
        Code::InvalidArgument,
        "7",
    );

    // A fatal alert from the client: no alert back, the status names it.
    let mut stream = Stream::open(&server).await;
    hello(&mut stream).await;
    assert!(
        stream
            .send(req(Req::Alert(pb::Alert {
                level: 2,
                description: 40,
            })))
            .await
    );
    let (responses, status) = stream.rest().await;
    assert!(responses.is_empty(), "{responses:?}");
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().starts_with("peer sent"), "{status:?}");

    // Garbage in an application record after the handshake: bad_record_mac,
    // sent as an encrypted alert the client can open.
    let (mut stream, mut client) = common::handshake_only(&server, client_config(&[suite])).await;
    assert!(
        stream
            .send(req(Req::EncryptedRecord(pb::EncryptedRecord {
                content_type: 23,
                fragment: b"certainly not an AEAD record".to_vec(),
            })))
            .await
    );
    let (responses, status) = stream.rest().await;
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert!(
        matches!(&responses[0].message, Some(Resp::EncryptedRecord(r)) if r.content_type == 21),
        "an encrypted alert record: {responses:?}"
    );
    client.handle(from_response(responses[0].clone()).unwrap());
    let err = client.failure().cloned().expect("a failure");
    assert_eq!(err.alert(), AlertDescription::BAD_RECORD_MAC);
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(alert_of(&status), Some(AlertDescription::BAD_RECORD_MAC));

    // A stream closed mid-handshake just ends: no alert, status OK.
    let mut stream = Stream::open(&server).await;
    hello(&mut stream).await;
    stream.close();
    let (responses, status) = stream.rest().await;
    assert!(responses.is_empty(), "{responses:?}");
    assert!(status.is_none(), "{status:?}");

    // The session opened first still works.
    before_client.send_application_data(b"still here").unwrap();
    while let Some(m) = before_client.poll_transmit() {
        assert!(before.send(to_request(m).unwrap()).await);
    }
    let resp = before.recv_n(1).await.remove(0);
    before_client.handle(from_response(resp).unwrap());
    assert_eq!(before_client.failure(), None);
    let reply = std::iter::from_fn(|| before_client.poll_event()).find_map(|e| match e {
        Event::ApplicationData(d) => Some(d),
        _ => None,
    });
    assert_eq!(reply.as_deref(), Some(&b"echo: still here"[..]));
    before.close();
    assert!(before.rest().await.1.is_none());

    // And a new one too.
    let out = common::run_session(&server, client_config(&[]), b"after").await;
    assert_eq!(out.log.reply.as_deref(), Some(&b"echo: after"[..]));
    server.wait_no_sessions().await;
    server.stop().await;
}
