//! The service's own error: what stops `server-svc` from starting or a
//! command from finishing, as one readable line that names the file or
//! flag at fault. (Failures of a TLS session are not errors of the
//! process: they end that one stream with an alert and a gRPC status, see
//! `session.rs`.)

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a command failed. `Display` is one line, without the `error: `
/// prefix that `main` adds.
#[derive(Debug)]
pub enum Error {
    /// A file or directory could not be read, written or created.
    Io {
        /// What was being done: "read", "write", "create directory".
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file's content is unusable: not PEM, the wrong kind of key, a key
    /// that is not the certificate's.
    File { path: PathBuf, reason: String },
    /// Anything else: flags that do not fit together, the listener, the
    /// gRPC server.
    Other(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn file(path: &Path, reason: impl Into<String>) -> Self {
        Self::File {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn other(reason: impl Into<String>) -> Self {
        Self::Other(reason.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::File { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Other(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
