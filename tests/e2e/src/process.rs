//! The two binaries as child processes: built once, started on a free
//! loopback port in a temp dir of their own, waited for until gRPC health
//! says SERVING, killed when dropped.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::grpc;

/// How long a started service may take to answer SERVING.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(100);
/// Tries with a fresh port when the one picked was taken in between.
const PORT_TRIES: usize = 3;

/// Paths of the two service binaries.
#[derive(Debug)]
pub struct Binaries {
    pub server: PathBuf,
    pub client: PathBuf,
}

/// Builds server-svc and client-svc once per test binary and returns where
/// they are. Panics with cargo's output if the build fails.
///
/// The test binary lives in `<target>/<profile>/deps/`; the services are
/// built into the same `<target>/<profile>/` with the same profile, so a
/// `cargo test --release` tests release binaries.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(build)
}

fn build() -> Binaries {
    let exe = std::env::current_exe().expect("path of the test binary");
    // <target>/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("<target>/<profile> has a parent")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_string();

    // cargo test sets CARGO to the cargo that runs it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "server-svc", "-p", "client-svc"]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p server-svc -p client-svc failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = |name: &str| {
        let p = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(p.is_file(), "{} was not built", p.display());
        p
    };
    Binaries {
        server: bin("server-svc"),
        client: bin("client-svc"),
    }
}

/// A fresh, empty directory under the system temp dir, unique to this
/// process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("e2e-{}-{n}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Removes the services' own environment variables (every flag has one,
/// e.g. `SERVER_SVC_LAB_CORRUPT_FINISHED`), so the tests' command lines are
/// all that configure them, and turns off colored logs.
fn hermetic(cmd: &mut Command) {
    // Plain logs: they are read from files, not a terminal.
    cmd.env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("SERVER_SVC_") || k.starts_with("CLIENT_SVC_") {
            cmd.env_remove(&key);
        }
    }
    // Many processes per host: metrics on a port of their own each
    // (the defaults are fixed ports). A test may still pass --metrics-listen.
    cmd.env("SERVER_SVC_METRICS_LISTEN", "127.0.0.1:0")
        .env("CLIENT_SVC_METRICS_LISTEN", "127.0.0.1:0");
}

/// A loopback port that was free a moment ago: bound to port 0, read, and
/// released for the child to take.
pub fn free_port() -> u16 {
    free_port_on(LOOPBACK)
}

/// A port of `host` (a loopback address) that was free a moment ago.
pub fn free_port_on(host: &str) -> u16 {
    let l = TcpListener::bind((host, 0)).unwrap_or_else(|e| panic!("bind {host}:0: {e}"));
    l.local_addr().expect("local addr").port()
}

/// Where services listen unless told otherwise.
pub const LOOPBACK: &str = "127.0.0.1";

/// A running service. Dropping it kills the process; if the thread is
/// panicking (a failed test), its stderr is printed first and its temp dir
/// kept for inspection.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    /// The loopback address it listens on.
    host: String,
    port: u16,
    dir: PathBuf,
    exited: Option<ExitStatus>,
}

impl Service {
    /// Starts `binary` with `args` followed by `--listen 127.0.0.1:<port>`
    /// in a new temp dir, and waits until gRPC health answers SERVING.
    /// Panics, with the process's stderr, if it exits or does not become
    /// ready within [`START_TIMEOUT`].
    pub async fn start(name: &str, binary: &Path, args: &[&str]) -> Service {
        Service::start_on(name, binary, args, LOOPBACK).await
    }

    /// Like [`Service::start`], listening on `host` (another loopback
    /// address, e.g. 127.0.0.2, for replicas told apart by address).
    pub async fn start_on(name: &str, binary: &Path, args: &[&str], host: &str) -> Service {
        let dir = temp_dir(name);
        let mut last_failure = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port_on(host);
            let mut svc = Service::spawn(name, binary, args, host, port, dir.clone());
            match svc.wait_ready().await {
                Ok(()) => return svc,
                Err(why) => {
                    let logs = svc.stderr();
                    // Another process took the port between bind and listen:
                    // try another one. Anything else is the service's fault.
                    if logs.contains("in use") {
                        last_failure = format!("{why}\n{logs}");
                        continue;
                    }
                    panic!("{name} did not start: {why}\n--- {name} stderr ---\n{logs}");
                }
            }
        }
        panic!("{name} did not start after {PORT_TRIES} ports: {last_failure}");
    }

    fn spawn(
        name: &str,
        binary: &Path,
        args: &[&str],
        host: &str,
        port: u16,
        dir: PathBuf,
    ) -> Service {
        let stderr = File::create(dir.join("stderr.log")).expect("create stderr.log");
        let stdout = File::create(dir.join("stdout.log")).expect("create stdout.log");
        let listen = format!("{host}:{port}");
        let mut cmd = Command::new(binary);
        hermetic(&mut cmd);
        let child = cmd
            .args(args)
            .args(["--listen", &listen])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        Service {
            name: name.to_string(),
            child,
            host: host.to_string(),
            port,
            dir,
            exited: None,
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return Err(format!("exited with {status} before serving"));
            }
            match grpc::health_status(&self.url(), "").await {
                Ok(ServingStatus::Serving) => return Ok(()),
                Ok(other) => last = format!("health says {other:?}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!(
            "not SERVING after {START_TIMEOUT:?} (last: {last})"
        ))
    }

    /// "http://<host>:<port>".
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// "<host>:<port>".
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's working directory (server-svc's default ./pki is here).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new connection to the service.
    pub async fn channel(&self) -> Channel {
        grpc::channel(&self.url()).await
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for `needle` to appear in the process's stderr.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGTERM (through kill(1): no libc needed).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Kills the process at once (SIGKILL: no draining, no goodbye) and
    /// waits for it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            self.child.kill().expect("kill the child");
            self.exited = Some(self.child.wait().expect("wait for the killed child"));
        }
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("poll the child");
        }
        self.exited
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- {} (port {}, dir {}) stderr ---\n{}--- end of {} stderr ---",
                self.name,
                self.port,
                self.dir.display(),
                self.stderr(),
                self.name
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary args` in a temp dir to completion, killing it after
/// `timeout` (then panics). Stdout and stderr go through files, so a chatty
/// child never blocks on a full pipe.
pub async fn run_bounded(binary: &Path, args: &[&str], timeout: Duration) -> Output {
    let dir = temp_dir("cmd");
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let mut cmd = Command::new(binary);
    hermetic(&mut cmd);
    let mut child = cmd
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll the child") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} still running after {timeout:?}; stderr:\n{}",
                binary.display(),
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    };
    let output = Output {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    let _ = fs::remove_dir_all(&dir);
    output
}
