//! What a request's [`pb::SessionOptions`] may ask for: the bounds checked
//! at client-svc's API boundary, before anything is built from them.
//!
//! Every list and string a caller sends is bounded here, so that no input
//! reaches the engine's encoder larger than a ClientHello can carry (a
//! vector of more than 2^16 - 1 bytes has no length prefix: 32,768 suites
//! once tripped the codec), and no cost grows beyond a small multiple of
//! these numbers. A request beyond them gets INVALID_ARGUMENT, whose
//! message says which bound and quotes none of the input.

use proto::pb;
use tonic::Status;

/// Most cipher suites an offer may list: every registered TLS suite (about
/// 350) fits, and the ClientHello's vector stays far below its 2^16 - 2
/// bytes.
pub const MAX_CIPHER_SUITES: usize = 1024;

/// Most groups an offer may list (about 60 are registered).
pub const MAX_GROUPS: usize = 1024;

/// Longest `server_name`, bytes: a DNS name is at most 253 characters
/// (RFC 1035 2.3.4, without the trailing dot); an IP address is shorter.
pub const MAX_SERVER_NAME: usize = 253;

/// Longest `server` target, bytes: room for an `ipv4:`/`ipv6:` list of
/// `resolve::MAX_ADDRESSES` addresses.
pub const MAX_SERVER: usize = 16 * 1024;

/// Largest `application_message`, bytes. The report carries the message
/// and its echo (about as long again), which must fit the gRPC message
/// limit (`--max-message-size`, 4 MiB by default).
pub const MAX_APPLICATION_MESSAGE: usize = 1 << 20;

/// INVALID_ARGUMENT if `o` exceeds a bound.
pub fn check(o: &pb::SessionOptions) -> Result<(), Status> {
    let groups = o.lab.as_ref().map_or(0, |l| l.groups.len());
    let checks = [
        (
            "cipher_suites",
            o.cipher_suites.len(),
            MAX_CIPHER_SUITES,
            "entries",
        ),
        ("lab.groups", groups, MAX_GROUPS, "entries"),
        ("server_name", o.server_name.len(), MAX_SERVER_NAME, "bytes"),
        ("server", o.server.len(), MAX_SERVER, "bytes"),
        (
            "application_message",
            o.application_message.len(),
            MAX_APPLICATION_MESSAGE,
            "bytes",
        ),
    ];
    for (field, len, max, unit) in checks {
        if len > max {
            return Err(Status::invalid_argument(format!(
                "{field} has {len} {unit}; at most {max} are allowed"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_bounds_is_fine_one_beyond_is_not() {
        let ok = pb::SessionOptions {
            cipher_suites: vec![1; MAX_CIPHER_SUITES],
            server_name: "a".repeat(MAX_SERVER_NAME),
            server: "s".repeat(MAX_SERVER),
            application_message: "m".repeat(MAX_APPLICATION_MESSAGE),
            lab: Some(pb::LabOptions {
                groups: vec![1; MAX_GROUPS],
                ..Default::default()
            }),
        };
        check(&ok).unwrap();
        let mut o = ok.clone();
        o.cipher_suites.push(1);
        assert!(check(&o).unwrap_err().message().contains("cipher_suites"));
        let mut o = ok.clone();
        o.lab.as_mut().unwrap().groups.push(1);
        assert!(check(&o).unwrap_err().message().contains("groups"));
        let mut o = ok.clone();
        o.server_name.push('a');
        assert!(check(&o).unwrap_err().message().contains("server_name"));
        let mut o = ok.clone();
        o.server.push('a');
        assert!(check(&o).unwrap_err().message().starts_with("server has"));
        let mut o = ok;
        o.application_message.push('a');
        let s = check(&o).unwrap_err();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("application_message"), "{s:?}");
    }
}
