//! NSS key log files (the SSLKEYLOGFILE format that Wireshark, curl and
//! OpenSSL's `-keylogfile` use): one `CLIENT_RANDOM <client_random>
//! <master_secret>` line per session, appended. A lab feature: the file
//! holds secrets, so it is created with mode 0600 and only written when a
//! service is told to.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An open key log, shared by a service's sessions.
#[derive(Debug)]
pub struct KeyLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl KeyLog {
    /// Opens `path` for appending, creating it (mode 0600) if needed.
    pub fn open(path: &Path) -> Result<Self, String> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .map_err(|e| format!("cannot open key log {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends one line (the engine's `key_log_line()`), whole: sessions
    /// writing at once never interleave within a line.
    pub fn append(&self, line: &str) {
        let mut file = match self.file.lock() {
            Ok(f) => f,
            // A session that panicked while writing cannot leave the file
            // in a state worse than a partial line; keep logging.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = writeln!(file, "{line}") {
            tracing::warn!(path = %self.path.display(), "key log write failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_and_creates_the_file_private() {
        let dir = std::env::temp_dir().join(format!("keylog-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.log");
        let _ = std::fs::remove_file(&path);
        let log = KeyLog::open(&path).unwrap();
        log.append("CLIENT_RANDOM aa bb");
        log.append("CLIENT_RANDOM cc dd");
        drop(log);
        // Reopening appends.
        KeyLog::open(&path).unwrap().append("CLIENT_RANDOM ee ff");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "CLIENT_RANDOM aa bb\nCLIENT_RANDOM cc dd\nCLIENT_RANDOM ee ff\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unopenable_path_is_one_clear_error() {
        let err = KeyLog::open(Path::new("/nonexistent-dir/keys.log")).unwrap_err();
        assert!(err.contains("/nonexistent-dir/keys.log"), "{err}");
    }
}
