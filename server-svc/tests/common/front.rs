//! The TLS front (`--tls-listen`) served in this process on a loopback
//! port with the lab's RSA and ECDSA certificates, and raw TCP peers of
//! it: bytes written as they are (a ClientHello built by hand), the answer
//! read until the close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use server_svc::{HandshakeService, LiveSessions};
use service_runtime::keylog::KeyLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use super::{PATIENCE, server_config};

/// The TLS front running in this process.
pub struct Front {
    pub addr: SocketAddr,
    /// Its open connections.
    pub live: LiveSessions,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<server_svc::Result<()>>,
}

impl Front {
    /// Serves with `timeout` as the handshake and idle timeout, writing
    /// the key log if given.
    pub async fn start(timeout: Duration, key_log: Option<Arc<KeyLog>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let front = HandshakeService::new(Arc::new(server_config()), timeout).with_key_log(key_log);
        let live = front.live_sessions();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(front.serve_tls(
            listener,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(10),
        ));
        Self {
            addr,
            live,
            stop: Some(stop),
            task,
        }
    }

    /// Waits until no connection is open; panics after [`PATIENCE`].
    pub async fn wait_no_connections(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.live.get() != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connections still open",
                self.live.get()
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signals shutdown (as SIGTERM does).
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits for the front to end cleanly.
    pub async fn stop(mut self) {
        self.signal_stop();
        timeout(PATIENCE, &mut self.task)
            .await
            .expect("the front stops")
            .expect("the front's task")
            .expect("the front ran cleanly");
    }
}

/// What the server sent on a raw connection, until it closed (or reset).
pub async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the server closes in time")
        {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Connects, writes `bytes` (then half-closes if `eof`), returns what came back.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8], eof: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may close before it has read everything: that is fine.
    let _ = stream.write_all(bytes).await;
    if eof {
        let _ = stream.shutdown().await;
    }
    read_all(&mut stream).await
}

/// A plaintext ClientHello offering `suites` with `extensions`, in records
/// of at most 2^14 bytes (record version 3.1, as clients send it).
pub fn raw_client_hello(suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // session_id
    body.extend_from_slice(&u16::try_from(2 * suites.len()).unwrap().to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    for (typ, data) in extensions {
        ext.extend_from_slice(&typ.to_be_bytes());
        ext.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        ext.extend_from_slice(data);
    }
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1]; // client_hello
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut records = Vec::new();
    for chunk in hs.chunks(1 << 14) {
        records.extend_from_slice(&[22, 3, 1]);
        records.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        records.extend_from_slice(chunk);
    }
    records
}
