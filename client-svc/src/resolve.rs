//! Where server-svc's replicas are: the gRPC names of
//! <https://github.com/grpc/grpc/blob/master/doc/naming.md> that client-svc
//! balances over (`balance.rs`), and the resolvers behind them.
//!
//! - `dns:[//authority/]host[:port]`: every address the host resolves to
//!   (e.g. a Kubernetes headless Service: one A record per ready pod),
//!   looked up again periodically. Only the system resolver is used, so
//!   the authority must be empty (`dns:///host:port`).
//! - `ipv4:addr[:port][,addr[:port],...]` and
//!   `ipv6:addr` / `ipv6:[addr]:port[,...]`: a fixed list.
//!
//! The port defaults to 443, as in gRPC's naming; server-svc listens on
//! 50051, so give it. A list names at most [`MAX_ADDRESSES`] addresses
//! (a request's list is input: each address costs a channel).

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;

use handshake::quote;

/// The port of a name that gives none (gRPC's default).
pub const DEFAULT_PORT: u16 = 443;

/// Most addresses an `ipv4:` or `ipv6:` list may name: far more replicas
/// than a deployment runs (server-svc's autoscaler stops at 6), few enough
/// that a request's list costs little (one channel each, kept while the
/// balancer is).
pub const MAX_ADDRESSES: usize = 256;

/// A boxed future, for a trait object's async method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What finds the replicas' addresses now. Tests inject their own.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses now; an error says why there are none.
    fn resolve(&self) -> BoxFuture<'_, Result<Vec<SocketAddr>, String>>;
}

/// A name of gRPC's naming that resolves to server-svc's replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// `dns:`: looked up with the system resolver each time.
    Dns { host: String, port: u16 },
    /// `ipv4:` / `ipv6:`: these addresses, always.
    Static(Vec<SocketAddr>),
}

impl Name {
    /// Whether resolving again may give other addresses.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Self::Dns { .. })
    }
}

impl Resolve for Name {
    fn resolve(&self) -> BoxFuture<'_, Result<Vec<SocketAddr>, String>> {
        Box::pin(async move {
            match self {
                Self::Static(addrs) => Ok(addrs.clone()),
                Self::Dns { host, port } => {
                    let found = tokio::net::lookup_host((host.as_str(), *port))
                        .await
                        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
                    let mut seen = HashSet::new();
                    let addrs: Vec<SocketAddr> = found.filter(|a| seen.insert(*a)).collect();
                    if addrs.is_empty() {
                        return Err(format!("{host} resolves to no address"));
                    }
                    Ok(addrs)
                }
            }
        })
    }
}

/// Whether `target` is a `dns:`, `ipv4:` or `ipv6:` name, and if so the
/// name or why it is malformed.
pub fn parse_name(target: &str) -> Option<Result<Name, String>> {
    let (scheme, rest) = target.split_once(':')?;
    let bad = |why: String| {
        Err(format!(
            "invalid server {:?}: {why}",
            quote::truncate(target, quote::MAX_TEXT)
        ))
    };
    let parsed = match scheme.to_ascii_lowercase().as_str() {
        "dns" => dns(rest),
        "ipv4" => list(rest, ipv4),
        "ipv6" => list(rest, ipv6),
        _ => return None,
    };
    Some(parsed.or_else(bad))
}

/// `[//authority/]host[:port]`.
fn dns(rest: &str) -> Result<Name, String> {
    let endpoint = match rest.strip_prefix("//") {
        Some(after) => {
            let (authority, endpoint) = after
                .split_once('/')
                .ok_or("want dns:///host:port (three slashes)")?;
            if !authority.is_empty() {
                return Err(format!(
                    "a DNS server ({}) cannot be named: client-svc uses the system resolver (write dns:///host:port)",
                    quote::truncate(authority, quote::MAX_TEXT)
                ));
            }
            endpoint
        }
        None => rest,
    };
    let (host, port) = host_port(endpoint)?;
    if host.is_empty() || host.contains(['/', '@', ',']) {
        return Err("no host".into());
    }
    // The resolver takes an IPv6 literal without its brackets.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok(Name::Dns {
        host: host.to_owned(),
        port,
    })
}

/// A comma-separated list of at most [`MAX_ADDRESSES`] addresses.
fn list(rest: &str, one: fn(&str) -> Result<SocketAddr, String>) -> Result<Name, String> {
    let count = rest.bytes().filter(|&b| b == b',').count() + 1;
    if count > MAX_ADDRESSES {
        return Err(format!(
            "{count} addresses; a list names at most {MAX_ADDRESSES}"
        ));
    }
    let addrs = rest
        .split(',')
        .map(|a| one(a.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Name::Static(addrs))
}

/// `a.b.c.d[:port]`.
fn ipv4(s: &str) -> Result<SocketAddr, String> {
    let (host, port) = host_port(s)?;
    let ip: Ipv4Addr = host.parse().map_err(|_| {
        format!(
            "{:?} is not an IPv4 address",
            quote::truncate(host, quote::MAX_TEXT)
        )
    })?;
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

/// `addr` or `[addr]:port`.
fn ipv6(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<Ipv6Addr>() {
        return Ok(SocketAddr::new(IpAddr::V6(ip), DEFAULT_PORT));
    }
    let (host, port) = host_port(s)?;
    let ip: Ipv6Addr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .map_err(|_| {
            format!(
                "{:?} is not an IPv6 address (with a port: [addr]:port)",
                quote::truncate(host, quote::MAX_TEXT)
            )
        })?;
    Ok(SocketAddr::new(IpAddr::V6(ip), port))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the host keeps its
/// brackets.
fn host_port(s: &str) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(end) = s.strip_prefix('[').and_then(|r| r.find(']')) {
        // "[" + address + "]" then nothing or ":port".
        let close = end + 1;
        match &s[close + 1..] {
            "" => (&s[..=close], None),
            rest => match rest.strip_prefix(':') {
                Some(p) => (&s[..=close], Some(p)),
                None => {
                    return Err(format!(
                        "unexpected {:?} after the address",
                        quote::truncate(rest, quote::MAX_TEXT)
                    ));
                }
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("an IPv6 address must be in brackets".into());
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            _ => {
                return Err(format!(
                    "the port {:?} is not 1 to 65535",
                    quote::truncate(p, quote::MAX_TEXT)
                ));
            }
        },
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_of_grpc_naming() {
        let ok = |t: &str| parse_name(t).expect("a name").expect("well formed");
        assert_eq!(
            ok("dns:///server-svc-headless:50051"),
            Name::Dns {
                host: "server-svc-headless".into(),
                port: 50051
            }
        );
        assert_eq!(
            ok("dns:localhost"),
            Name::Dns {
                host: "localhost".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            ok("DNS:///[::1]:7"),
            Name::Dns {
                host: "::1".into(),
                port: 7
            }
        );
        assert_eq!(
            ok("ipv4:127.0.0.1:1,127.0.0.2:2, 127.0.0.3"),
            Name::Static(vec![
                addr("127.0.0.1:1"),
                addr("127.0.0.2:2"),
                addr("127.0.0.3:443")
            ])
        );
        assert_eq!(
            ok("ipv6:[::1]:50051,::2,[fe80::1]"),
            Name::Static(vec![
                addr("[::1]:50051"),
                addr("[::2]:443"),
                addr("[fe80::1]:443")
            ])
        );
        assert!(ok("dns:///h:1").is_dynamic());
        assert!(!ok("ipv4:1.2.3.4:5").is_dynamic());
    }

    #[test]
    fn other_targets_are_not_names() {
        for t in [
            "http://127.0.0.1:50051",
            "127.0.0.1:50051",
            "localhost:50051",
            "tls://127.0.0.1:4433",
            "unix:/tmp/sock",
        ] {
            assert!(parse_name(t).is_none(), "{t}");
        }
    }

    #[test]
    fn malformed_names_say_why_in_one_line() {
        for (t, why) in [
            ("dns://8.8.8.8/host:1", "system resolver"),
            ("dns:///host:0", "port"),
            ("dns:///host:99999", "port"),
            ("dns:///", "no host"),
            ("dns://", "three slashes"),
            ("ipv4:", "no host"),
            ("ipv4:1.2.3:5", "not an IPv4"),
            ("ipv4:::1", "brackets"),
            ("ipv4:127.0.0.1:1,", "no host"),
            ("ipv6:[::1", "brackets"),
            ("ipv6:[::1]x", "unexpected"),
            ("ipv6:127.0.0.1:5", "not an IPv6"),
        ] {
            let err = parse_name(t).expect("a name").unwrap_err();
            assert!(err.contains(why), "{t}: {err}");
            assert!(err.contains(t), "{t}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[tokio::test]
    async fn dns_names_resolve_with_the_system_resolver() {
        let name = parse_name("dns:///localhost:50051").unwrap().unwrap();
        let addrs = name.resolve().await.expect("localhost resolves");
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 50051 && a.ip().is_loopback())
        );
        let none = parse_name("dns:///no-such-host.invalid:1")
            .unwrap()
            .unwrap();
        assert!(none.resolve().await.is_err());
    }
}
