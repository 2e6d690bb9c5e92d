//! `serve`'s HTTP/2 limits, seen from a raw HTTP/2 client on a TCP socket
//! (frames read one by one, nothing answered unless the test says so):
//! keepalive PINGs, the close of a connection whose PINGs go unanswered,
//! and the GOAWAY of a connection past its maximum age. Behaviour tests
//! with 1 s settings; every wait is bounded by a generous [`PATIENCE`].

use std::time::Duration;

use service_runtime::limits::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::service::Routes;

/// The longest the test waits for any frame or the close.
const PATIENCE: Duration = Duration::from_secs(20);

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;

/// One frame's header and payload.
#[derive(Debug)]
struct Frame {
    typ: u8,
    flags: u8,
    payload: Vec<u8>,
}

/// `serve` with health only (and reflection) on a loopback port, under
/// `limits`; stops when the returned sender is dropped.
async fn start(limits: Limits) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        service_runtime::serve::serve(
            Routes::default(),
            "test.Service",
            listener,
            &limits,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        )
        .await
    });
    (addr, stop)
}

fn frame_bytes(typ: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], typ, flags, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

/// The next frame, or `None` at the close of the connection.
async fn next_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut header = [0u8; 9];
    let read = tokio::time::timeout(PATIENCE, stream.read_exact(&mut header))
        .await
        .expect("a frame or the close within the patience");
    if read.is_err() {
        return None;
    }
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut payload))
        .await
        .expect("the frame's payload within the patience")
        .ok()?;
    Some(Frame {
        typ: header[3],
        flags: header[4],
        payload,
    })
}

/// Connects and exchanges the connection prefaces (SETTINGS both ways,
/// the server's acknowledged).
async fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream
        .write_all(&frame_bytes(SETTINGS, 0, &[]))
        .await
        .unwrap();
    loop {
        let f = next_frame(&mut stream)
            .await
            .expect("the server's SETTINGS");
        if f.typ == SETTINGS && f.flags & ACK == 0 {
            stream
                .write_all(&frame_bytes(SETTINGS, ACK, &[]))
                .await
                .unwrap();
            return stream;
        }
    }
}

/// Reads frames until the close; returns their types in order.
async fn frames_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut types = Vec::new();
    while let Some(f) = next_frame(stream).await {
        types.push(f.typ);
        assert!(types.len() < 1000, "no close after 1000 frames: {types:?}");
    }
    types
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn keepalive_pings_and_closes_a_connection_that_does_not_answer() {
    let limits = Limits {
        keepalive_interval: Some(Duration::from_secs(1)),
        keepalive_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (addr, _stop) = start(limits).await;

    // A client that answers the PINGs keeps its connection: the server
    // goes on pinging.
    let mut alive = connect(addr).await;
    let mut pings = 0;
    while pings < 3 {
        let f = next_frame(&mut alive).await.expect("open while answering");
        if f.typ == PING && f.flags & ACK == 0 {
            pings += 1;
            alive
                .write_all(&frame_bytes(PING, ACK, &f.payload))
                .await
                .unwrap();
        }
    }

    // A client that does not answer is closed after its first PING.
    let mut silent = connect(addr).await;
    let types = frames_until_close(&mut silent).await;
    assert!(types.contains(&PING), "no PING before the close: {types:?}");
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn without_keepalive_an_idle_connection_gets_no_ping() {
    // The negative side, without waiting on the clock: the connection
    // outlives its maximum age's GOAWAY having seen no PING before it.
    let limits = Limits {
        keepalive_interval: None,
        max_connection_age: Some(Duration::from_secs(2)),
        ..Limits::default()
    };
    let (addr, _stop) = start(limits).await;
    let mut stream = connect(addr).await;
    let mut before_goaway = Vec::new();
    loop {
        let f = next_frame(&mut stream)
            .await
            .expect("a GOAWAY before the close");
        if f.typ == GOAWAY {
            break;
        }
        before_goaway.push(f.typ);
    }
    assert!(
        !before_goaway.contains(&PING),
        "a PING with keepalive off: {before_goaway:?}"
    );
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_connection_past_its_maximum_age_gets_goaway_and_is_closed() {
    let limits = Limits {
        max_connection_age: Some(Duration::from_secs(1)),
        max_connection_age_grace: Some(Duration::from_secs(1)),
        ..Limits::default()
    };
    let (addr, _stop) = start(limits).await;
    let mut stream = connect(addr).await;
    let types = frames_until_close(&mut stream).await;
    assert!(
        types.contains(&GOAWAY),
        "closed without a GOAWAY: {types:?}"
    );

    // The server still accepts new connections: only the old one went.
    let mut again = connect(addr).await;
    let types = frames_until_close(&mut again).await;
    assert!(types.contains(&GOAWAY), "{types:?}");
}

#[tokio::test]
#[ignore = "full tier (./scripts/test.sh): waits out real timeouts"]
async fn a_stream_still_open_after_the_grace_is_cut_and_the_client_reconnects() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let limits = Limits {
        max_connection_age: Some(Duration::from_secs(1)),
        max_connection_age_grace: Some(Duration::from_secs(1)),
        ..Limits::default()
    };
    let (addr, _stop) = start(limits).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    // Health.Watch never ends by itself: only the connection's end ends it.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Watch starts")
        .into_inner();
    let first = watch.message().await.expect("the current status");
    assert!(first.is_some());
    let end = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .expect("the stream is cut after the age and its grace");
    let status = end.expect_err("the stream ends with an error status, not OK");
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
        ),
        "{status:?}"
    );
    // The same channel connects again for the next call.
    let again = tokio::time::timeout(
        PATIENCE,
        health.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .expect("a new call in time");
    assert!(again.is_ok(), "{again:?}");
}
