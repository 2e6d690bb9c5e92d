//! Which servers a request may name: client-svc's allowlist.
//!
//! `SessionOptions.server` lets a caller pick the server of its session.
//! Unchecked, that makes client-svc a port scanner inside the cluster: it
//! connects wherever it is told, and its errors tell a refused port, a
//! non-TLS banner, silence and a failed lookup apart. So a request may
//! only name servers the operator allowed: the configured `--server`
//! (always) and each `--allow-server` (`CLIENT_SVC_ALLOW_SERVERS`, comma
//! separated). Anything else is PERMISSION_DENIED before anything is
//! looked up or connected, with the same message whatever the target is.
//!
//! What is compared is where client-svc would connect: each target is
//! reduced to its endpoints (host and port), whatever its form:
//!
//! - `tls://host:port`, `http://host:port`, `host:port`: that one;
//! - `dns:///host:port`: the name and port (the name is not looked up);
//! - `ipv4:a:p,b:p` / `ipv6:[a]:p,...`: every address, each of which
//!   must be allowed.
//!
//! A target is allowed when every endpoint it names is an allowed one.
//! Host names are compared as written (case-insensitive, without a
//! trailing dot): a requested name is never resolved, so `localhost` is
//! not `127.0.0.1`. The replicas of an allowed `dns:` name are allowed
//! too: a requested IP address is compared with what the allowed name
//! resolves to now (the allowed name is looked up, never the requested
//! one).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use handshake::quote;
use tonic::Status;
use tonic::codegen::http::Uri;

use crate::balance::CONNECT_TIMEOUT;
use crate::resolve::{Name, Resolve, parse_name};
use crate::transport::tls_address;

/// The flag and variable that add servers, for messages.
pub const FLAG: &str = "--allow-server / CLIENT_SVC_ALLOW_SERVERS";

/// A host as a target names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Host {
    Ip(IpAddr),
    /// Lowercase, without a trailing dot.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// Where a connection would go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Endpoint {
    host: Host,
    port: u16,
}

impl Endpoint {
    fn new(host: &str, port: u16) -> Self {
        // The resolver and URLs take an IPv6 literal in brackets.
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(bare.trim_end_matches('.').to_ascii_lowercase()),
        };
        Self { host, port }
    }

    fn of(addr: SocketAddr) -> Self {
        Self {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }
}

/// The endpoints `target` would connect to, or why it is malformed. Looks
/// nothing up.
fn endpoints(target: &str) -> Result<Vec<Endpoint>, String> {
    if let Some(addr) = tls_address(target) {
        let addr = addr?;
        // tls_address checked there is a port of 1 to 65535.
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                format!(
                    "invalid server {:?}",
                    quote::truncate(target, quote::MAX_TEXT)
                )
            })?;
        return Ok(vec![Endpoint::new(host, port)]);
    }
    if let Some(name) = parse_name(target) {
        return Ok(match name? {
            Name::Dns { host, port } => vec![Endpoint::new(&host, port)],
            Name::Static(addrs) => addrs.into_iter().map(Endpoint::of).collect(),
        });
    }
    // server-svc's URL, as `transport::balancer` takes it.
    let url = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let uri: Uri = url.parse().map_err(|e| {
        format!(
            "invalid server URL {:?}: {e}",
            quote::truncate(target, quote::MAX_TEXT)
        )
    })?;
    let host = uri.host().ok_or_else(|| {
        format!(
            "invalid server URL {:?}: no host",
            quote::truncate(target, quote::MAX_TEXT)
        )
    })?;
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Ok(vec![Endpoint::new(host, port)])
}

/// The servers requests may name.
#[derive(Clone, Debug)]
pub struct Allowlist {
    /// Every endpoint named by an allowed target.
    endpoints: HashSet<Endpoint>,
    /// The allowed `dns:` names: their addresses (the replicas) are
    /// allowed too.
    names: Vec<Name>,
    /// The allowed targets as given, for messages.
    targets: Vec<String>,
}

impl Allowlist {
    /// `server` (the configured default) and `more` (`--allow-server`).
    /// Err: one of them is malformed.
    pub fn new(server: &str, more: &[String]) -> Result<Self, String> {
        let mut list = Self {
            endpoints: HashSet::new(),
            names: Vec::new(),
            targets: Vec::new(),
        };
        for target in std::iter::once(server).chain(more.iter().map(String::as_str)) {
            let target = target.trim();
            if target.is_empty() {
                continue;
            }
            list.endpoints.extend(endpoints(target)?);
            if let Some(Ok(name @ Name::Dns { .. })) = parse_name(target) {
                list.names.push(name);
            }
            list.targets.push(target.to_owned());
        }
        Ok(list)
    }

    /// Ok if a request may name `target`; INVALID_ARGUMENT if it is
    /// malformed; PERMISSION_DENIED, before any connection or lookup of
    /// it, if it is not allowed.
    pub async fn check(&self, target: &str) -> Result<(), Status> {
        let wanted = endpoints(target).map_err(Status::invalid_argument)?;
        let mut resolved: Option<HashSet<SocketAddr>> = None;
        for e in &wanted {
            if self.endpoints.contains(e) {
                continue;
            }
            let Host::Ip(ip) = e.host else {
                return Err(self.denied(target));
            };
            if self.names.is_empty() {
                return Err(self.denied(target));
            }
            if resolved.is_none() {
                resolved = Some(self.replicas().await);
            }
            let addr = SocketAddr::new(ip, e.port);
            if !resolved.as_ref().is_some_and(|r| r.contains(&addr)) {
                return Err(self.denied(target));
            }
        }
        Ok(())
    }

    /// The addresses the allowed `dns:` names have now (a failed lookup
    /// adds none).
    async fn replicas(&self) -> HashSet<SocketAddr> {
        let mut all = HashSet::new();
        for name in &self.names {
            match tokio::time::timeout(CONNECT_TIMEOUT, name.resolve()).await {
                Ok(Ok(addrs)) => all.extend(addrs),
                Ok(Err(e)) => tracing::debug!("allowlist: {e}"),
                Err(_) => tracing::debug!("allowlist: a lookup timed out"),
            }
        }
        all
    }

    /// The one answer to every target not allowed: it says nothing of the
    /// target but its (bounded) text.
    fn denied(&self, target: &str) -> Status {
        let allowed = quote::list_with(&self.targets, quote::MAX_ITEMS, |t, out| {
            out.push_str(&quote::truncate(t, quote::MAX_TEXT));
            Ok(())
        });
        Status::permission_denied(format!(
            "server {:?} is not allowed: client-svc connects only to {allowed} (more with {FLAG})",
            quote::truncate(target, quote::MAX_TEXT)
        ))
    }

    /// The allowed targets as given: the configured server first.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(server: &str, more: &[&str]) -> Allowlist {
        let more: Vec<String> = more.iter().map(|s| (*s).to_owned()).collect();
        Allowlist::new(server, &more).unwrap()
    }

    async fn code(list: &Allowlist, target: &str) -> Option<tonic::Code> {
        list.check(target).await.err().map(|s| s.code())
    }

    #[tokio::test]
    async fn only_the_configured_server_by_default_in_any_form() {
        let l = list("http://127.0.0.1:50051", &[]);
        for ok in [
            "http://127.0.0.1:50051",
            "127.0.0.1:50051",
            "ipv4:127.0.0.1:50051",
            "ipv4:127.0.0.1:50051,127.0.0.1:50051",
            "tls://127.0.0.1:50051",
            "dns:///127.0.0.1:50051",
        ] {
            assert_eq!(code(&l, ok).await, None, "{ok}");
        }
        for denied in [
            "tls://127.0.0.1:22",
            "http://127.0.0.1:22",
            "ipv4:127.0.0.1:50051,127.0.0.1:22",
            "ipv4:10.0.0.1:50051",
            "ipv6:[::1]:50051",
            "http://localhost:50051",
            "dns:///evil.example:50051",
            "tls://evil.example:443",
        ] {
            assert_eq!(
                code(&l, denied).await,
                Some(tonic::Code::PermissionDenied),
                "{denied}"
            );
        }
        assert_eq!(
            code(&l, "tls://nohost").await,
            Some(tonic::Code::InvalidArgument)
        );
    }

    #[tokio::test]
    async fn more_servers_by_flag_and_names_compared_as_written() {
        let l = list(
            "dns:///Server-Svc.lab.svc.:50051",
            &[
                "tls://server-svc.lab.svc:8443",
                "ipv4:10.0.0.1:1,10.0.0.2:2",
            ],
        );
        for ok in [
            "dns:///server-svc.lab.svc:50051",
            "http://SERVER-SVC.lab.svc:50051",
            "tls://server-svc.lab.svc:8443",
            "ipv4:10.0.0.2:2",
        ] {
            assert_eq!(code(&l, ok).await, None, "{ok}");
        }
        assert_eq!(
            code(&l, "tls://server-svc.lab.svc:22").await,
            Some(tonic::Code::PermissionDenied)
        );
    }

    #[tokio::test]
    async fn the_replicas_of_an_allowed_dns_name_are_allowed() {
        let l = list("dns:///localhost:50051", &[]);
        assert_eq!(code(&l, "ipv4:127.0.0.1:50051").await, None);
        assert_eq!(
            code(&l, "ipv4:127.0.0.1:50052").await,
            Some(tonic::Code::PermissionDenied)
        );
    }

    #[tokio::test]
    async fn the_message_is_bounded() {
        let l = list("http://127.0.0.1:1", &[]);
        let long = format!("tls://{}:1", "a".repeat(1 << 20));
        let s = l.check(&long).await.unwrap_err();
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert!(s.message().len() < 1024, "{}", s.message().len());
    }
}
