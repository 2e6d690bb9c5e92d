//! The command's own error: what ends `client-svc` unsuccessfully, as one
//! readable line and the exit status that says which kind of failure it
//! was. (A request to the service that fails is not an error of the
//! process: it gets a gRPC status, see `service.rs`.)

use std::fmt;

/// Why a command failed. `Display` is one line, without the `error: `
/// prefix that `main` adds; [`Error::exit_code`] is the status.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// The TLS session failed (its table or JSON is printed first); `bench`:
    /// sessions failed, or not all could be held. Exit 1.
    Tls(String),
    /// Invalid flags or configuration: the CA file, a URL, a name, the key
    /// log, flags that do not fit together. Exit 2.
    Usage(String),
    /// The server is unreachable, or refuses sessions at its limit. Exit 3.
    Unreachable(String),
    /// The service could not start or failed. Exit 4.
    Service(String),
}

impl Error {
    /// The process's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Tls(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
            Self::Service(_) => 4,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tls(m) | Self::Usage(m) | Self::Unreachable(m) | Self::Service(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_documented_exit_status_and_its_line() {
        let all = [
            (Error::Tls("t".into()), 1),
            (Error::Usage("u".into()), 2),
            (Error::Unreachable("r".into()), 3),
            (Error::Service("s".into()), 4),
        ];
        for (e, code) in all {
            assert_eq!(e.exit_code(), code, "{e:?}");
            assert_eq!(e.to_string().len(), 1, "{e:?}");
        }
    }
}
