//! server-svc as a child process: the binary cargo built for these tests,
//! using the lab PKI of this test binary, on ports it picks itself (read
//! back from its log), optionally under a lowered RLIMIT_NOFILE; killed
//! when dropped, its log printed if the test failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{PATIENCE, TempDir, lab};

const BIN: &str = env!("CARGO_BIN_EXE_server-svc");

/// A running server-svc.
pub struct ServerProcess {
    child: Child,
    _dir: TempDir,
    log: PathBuf,
    /// Where it serves gRPC.
    pub grpc: SocketAddr,
    /// Where its TLS front listens, with `--tls-listen`.
    pub tls: Option<SocketAddr>,
}

impl ServerProcess {
    /// `server-svc serve --listen 127.0.0.1:0 --pki-dir <lab> ARGS`, with
    /// at most `nofile` open file descriptors if given (`ulimit -n` in the
    /// shell that then execs it), and none of the caller's SERVER_SVC_*
    /// or RUST_LOG settings. Waits until it says where it listens.
    pub async fn start(args: &[&str], nofile: Option<u32>) -> Self {
        Self::start_with_log(args, nofile, None).await
    }

    /// [`ServerProcess::start`] with `RUST_LOG=rust_log` if given (the
    /// step lines and per-session details are at debug).
    pub async fn start_with_log(
        args: &[&str],
        nofile: Option<u32>,
        rust_log: Option<&str>,
    ) -> Self {
        let dir = TempDir::new("process");
        let log = dir.path().join("stderr.log");
        let mut cmd = match nofile {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(BIN);
                sh
            }
            None => Command::new(BIN),
        };
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SERVER_SVC_") {
                cmd.env_remove(k);
            }
        }
        match rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let child = cmd
            .env("NO_COLOR", "1")
            // Its own metrics port: the default is a fixed one.
            .env("SERVER_SVC_METRICS_LISTEN", "127.0.0.1:0")
            .args(["serve", "--listen", "127.0.0.1:0", "--pki-dir"])
            .arg(lab().pki.dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start server-svc");
        let mut process = Self {
            child,
            _dir: dir,
            log,
            grpc: "0.0.0.0:0".parse().unwrap(),
            tls: None,
        };
        let wants_tls = args.contains(&"--tls-listen");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let log = process.log();
            let grpc = address_after(&log, " listen=");
            let tls = address_after(&log, " tls_listen=");
            if let Some(grpc) = grpc
                && (tls.is_some() || !wants_tls)
            {
                process.grpc = grpc;
                process.tls = tls;
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("server-svc exited with {status}:\n{log}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server-svc did not say where it listens:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Waits up to [`PATIENCE`] for a line containing every one of
    /// `needles`; false if none came.
    pub async fn wait_for(&self, needles: &[&str]) -> bool {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.count(needles) == 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Its CPU time so far (user + system), in clock ticks, from
    /// /proc/<pid>/stat.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/<pid>/stat");
        // Fields after the command name (which may hold spaces), from
        // field 3 on: utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').expect("(comm)") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- server-svc log ---\n{}--- end ---", self.log());
        }
    }
}

/// The socket address right after `key` in the log, if any.
fn address_after(log: &str, key: &str) -> Option<SocketAddr> {
    let rest = log.split(key).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}
