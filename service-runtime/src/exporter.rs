//! The `/metrics` HTTP listener (`--metrics-listen`): `GET /metrics` gives
//! the OpenMetrics text of [`Metrics`], any other path 404. HTTP/1.1 from
//! hyper (already in the tree through tonic), bounded: the request head
//! must arrive within [`HEADER_READ_TIMEOUT`] and fit [`MAX_HEAD`] bytes,
//! a body is never read, each connection is served in its own task and
//! lives at most [`CONNECTION_LIFETIME`], and accept failures back off
//! ([`Acceptor`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::accept::Acceptor;
use crate::metrics::Metrics;

/// What prometheus-client's text encoder writes.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A scraper sends its request at once; a connection that does not is cut.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head read: a scrape request is a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;

/// A connection (keep-alive included) is closed after this.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// `off` (any case) or an address to listen on.
pub fn parse_listen(s: &str) -> Result<MetricsListen, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(MetricsListen(None));
    }
    s.parse::<SocketAddr>()
        .map(|a| MetricsListen(Some(a)))
        .map_err(|_| {
            format!(
                "expected IP:PORT or off, got {}",
                handshake::quote::bytes(s.as_bytes())
            )
        })
}

/// `--metrics-listen`: where `/metrics` is served, or nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

impl std::fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("off"),
        }
    }
}

/// Binds `listen` and serves `metrics` there in a task of its own; logs
/// `metrics_listen=IP:PORT` at info. `off`: nothing bound, and the
/// returned [`Metrics`] records nothing. The address bound is returned.
pub async fn start(
    listen: MetricsListen,
    metrics: Metrics,
) -> Result<(Metrics, Option<SocketAddr>), String> {
    let Some(addr) = listen.0 else {
        tracing::info!("metrics_listen=off: no metrics");
        return Ok((Metrics::disabled(), None));
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the metrics listener's address: {e}"))?;
    tracing::info!(metrics_listen = %bound, "serving metrics at http://{bound}/metrics");
    tokio::spawn(serve(listener, metrics.clone()));
    Ok((metrics, Some(bound)))
}

/// Serves `GET /metrics` on `listener` forever.
pub async fn serve(listener: TcpListener, metrics: Metrics) {
    let mut acceptor = Acceptor::new(listener, "metrics");
    loop {
        let (stream, _) = acceptor.accept().await;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            // A scraper that misbehaves only loses its connection.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
}

fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    if req.uri().path() != "/metrics" {
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return resp;
    }
    *resp.body_mut() = Full::new(Bytes::from(metrics.encode()));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Service;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_404s_the_rest() {
        let listen = parse_listen("127.0.0.1:0").unwrap();
        let (_m, addr) = start(listen, Metrics::new(Service::Server)).await.unwrap();
        let addr = addr.unwrap();
        let ok = get(addr, "/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(
            ok.to_ascii_lowercase()
                .contains(&format!("content-type: {CONTENT_TYPE_OPENMETRICS}"))
        );
        assert!(ok.contains("handshake_sessions_started_total") && ok.ends_with("# EOF\n"));
        let missing = get(addr, "/other").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        // A request head past the bound is refused, not buffered.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let huge = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(4 * MAX_HEAD)
        );
        let _ = s.write_all(huge.as_bytes()).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(!String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn off_binds_nothing() {
        for off in ["off", "OFF", " Off "] {
            let listen = parse_listen(off).unwrap();
            assert_eq!(listen, MetricsListen(None));
            let (m, addr) = start(listen, Metrics::new(Service::Client)).await.unwrap();
            assert!(addr.is_none() && !m.is_enabled());
        }
        assert!(parse_listen("nowhere").is_err());
        assert_eq!(
            parse_listen("0.0.0.0:9464").unwrap().to_string(),
            "0.0.0.0:9464"
        );
    }
}
