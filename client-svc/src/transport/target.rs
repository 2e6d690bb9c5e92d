//! Where a session's server is: a `tls://host:port` target (a real TLS
//! 1.2 server) or server-svc (one URL, or a `dns:`, `ipv4:` or `ipv6:`
//! name of several replicas).

use crate::balance::{Balancer, ChannelOptions};
use crate::resolve::parse_name;

/// The scheme of a real TLS 1.2 server's address: `tls://host:port`.
pub const TLS_SCHEME: &str = "tls://";

/// Where a session's server is.
#[derive(Clone, Debug)]
pub enum Target {
    /// server-svc: one replica or several, over lazily connected channels.
    Grpc(Balancer),
    /// A real TLS 1.2 server at "host:port", over TCP.
    Tls(String),
}

impl Target {
    /// [`Target::parse_with`] with the default channel options.
    pub fn parse(url: &str) -> Result<Self, String> {
        Self::parse_with(url, &ChannelOptions::default())
    }

    /// `tls://host:port` is a real TLS server; `dns:`, `ipv4:` and `ipv6:`
    /// names are server-svc's replicas, balanced; anything else is
    /// server-svc's URL ("http://host:port"; a bare "host:port" gets
    /// "http://").
    pub fn parse_with(url: &str, options: &ChannelOptions) -> Result<Self, String> {
        match tls_address(url) {
            Some(addr) => addr.map(Self::Tls),
            None => balancer(url, options).map(Self::Grpc),
        }
    }

    /// A real TLS server rather than server-svc.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// The peer, as messages name it.
    pub fn peer(&self) -> &'static str {
        if self.is_tls() {
            "the server"
        } else {
            "server-svc"
        }
    }
}

/// Whether `url` is a `tls://` target, and if so its "host:port".
pub fn tls_address(url: &str) -> Option<Result<String, String>> {
    let scheme = url.get(..TLS_SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(TLS_SCHEME) {
        return None;
    }
    let rest = url[TLS_SCHEME.len()..].trim_end_matches('/');
    let bad = |why: &str| {
        Err(format!(
            "invalid server {:?}: {why} (want tls://host:port)",
            handshake::quote::truncate(url, handshake::quote::MAX_TEXT)
        ))
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Some(bad("no port"));
    };
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Some(bad("no host"));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        return Some(bad("an IPv6 address must be in brackets"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Some(Ok(rest.to_owned())),
        _ => Some(bad("the port must be 1 to 65535")),
    }
}

/// server-svc at `target`: the replicas of a `dns:`, `ipv4:` or `ipv6:`
/// name, or the one server of a URL ("http://host:port"; a bare
/// "host:port" gets "http://"). Nothing is looked up or connected until
/// the first session.
pub fn balancer(target: &str, options: &ChannelOptions) -> Result<Balancer, String> {
    match parse_name(target) {
        Some(name) => {
            let name = name?;
            let periodic = name.is_dynamic();
            Ok(Balancer::resolving(target, name, periodic, *options))
        }
        None => Balancer::single(&url_of(target), *options),
    }
}

fn url_of(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_targets_are_host_and_port() {
        for (url, want) in [
            ("tls://127.0.0.1:4433", "127.0.0.1:4433"),
            ("TLS://example.com:443/", "example.com:443"),
            ("tls://[::1]:8443", "[::1]:8443"),
        ] {
            assert_eq!(tls_address(url), Some(Ok(want.to_owned())), "{url}");
        }
        for url in [
            "tls://127.0.0.1",
            "tls://:443",
            "tls://host:0",
            "tls://host:65536",
            "tls://::1:443",
            "tls://host:443/path",
            "tls://user@host:443",
        ] {
            let err = tls_address(url).expect("a tls target").unwrap_err();
            assert!(err.contains("tls://host:port"), "{url}: {err}");
        }
        for url in ["http://127.0.0.1:50051", "127.0.0.1:50051", "tl"] {
            assert!(tls_address(url).is_none(), "{url}");
        }
    }

    #[tokio::test]
    async fn targets_by_scheme() {
        assert!(Target::parse("tls://localhost:4433").unwrap().is_tls());
        let grpc = Target::parse("127.0.0.1:50051").unwrap();
        assert!(!grpc.is_tls());
        assert_eq!(grpc.peer(), "server-svc");
        assert!(Target::parse("tls://nohost").is_err());
    }
}
