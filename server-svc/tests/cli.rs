//! The binary: `pki init`, the default lab PKI, and one-line errors for bad
//! flags and bad certificate or key files. The PKI it writes loads and
//! serves.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TempDir, TestServer, client_config_for, run_session, server_config_for};
use handshake::CipherSuite;
use handshake::KeyType;
use server_svc::pki::{self, LabPki};

const BIN: &str = env!("CARGO_BIN_EXE_server-svc");

/// The binary with none of the caller's SERVER_SVC_* or RUST_LOG settings.
fn server_svc() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SERVER_SVC_") {
            cmd.env_remove(k);
        }
    }
    // Its own metrics port: the default is a fixed one.
    cmd.env_remove("RUST_LOG")
        .env("SERVER_SVC_METRICS_LISTEN", "127.0.0.1:0");
    cmd
}

fn run(args: &[&str]) -> Output {
    server_svc().args(args).output().expect("run server-svc")
}

/// Exit status 1 and exactly one `error: ...` line on stderr, returned.
fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    lines[0].to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn init(dir: &Path, force: bool) -> Output {
    let dir = dir.to_str().unwrap();
    let mut args = vec![
        "pki",
        "init",
        "--out",
        dir,
        "--name",
        "localhost",
        "--name",
        "127.0.0.1",
        "--name",
        "server.lab.test",
    ];
    if force {
        args.push("--force");
    }
    run(&args)
}

#[tokio::test]
async fn pki_init_writes_six_files_refuses_to_overwrite_and_serves() {
    let tmp = TempDir::new("pki-init");
    let dir = tmp.path().join("pki");
    let out = init(&dir, false);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ca.pem"), "{stdout}");
    for f in pki::FILES {
        assert!(dir.join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    for key in [pki::CA_KEY, pki::RSA_KEY, pki::ECDSA_KEY] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    let before: Vec<Vec<u8>> = pki::FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();

    // Again without --force: refused, nothing touched.
    let line = one_error_line(&init(&dir, false));
    assert!(line.contains("--force"), "{line}");
    for (f, old) in pki::FILES.iter().zip(&before) {
        assert_eq!(&std::fs::read(dir.join(f)).unwrap(), old, "{f} unchanged");
    }

    // With --force: new keys, and a key whose mode was loosened is 0600 again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join(pki::RSA_KEY),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let out = init(&dir, true);
    assert!(out.status.success(), "{out:?}");
    assert_ne!(std::fs::read(dir.join(pki::ECDSA_KEY)).unwrap(), before[5]);
    #[cfg(unix)]
    assert_eq!(mode(&dir.join(pki::RSA_KEY)), 0o600);

    // The certificates carry the names, DNS and IP, and serverAuth.
    let lab = LabPki::new(&dir);
    for cert in [pki::RSA_CERT, pki::ECDSA_CERT] {
        let chain = server_svc::certs::load_chain(&dir.join(cert)).unwrap();
        let info = handshake::internal::verify::certificate_info(&chain[0]).unwrap();
        assert_eq!(info.dns_names, ["localhost", "server.lab.test"], "{cert}");
        assert_eq!(info.ip_addresses, ["127.0.0.1"], "{cert}");
        let ku = info.key_usage.expect("keyUsage");
        assert!(ku.digital_signature);
        assert_eq!(ku.key_encipherment, cert == pki::RSA_CERT, "{cert}");
    }

    // And it serves: an RSA and an ECDSA session, trusting its ca.pem.
    let server = TestServer::start(server_config_for(&lab)).await;
    for suite in [
        CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        let out = run_session(&server, client_config_for(&lab, &[suite]), b"hi").await;
        assert_eq!(out.log.reply.as_deref(), Some(&b"echo: hi"[..]), "{suite}");
    }
    server.stop().await;
}

#[test]
fn bad_flags_are_one_line() {
    for args in [
        &["--bogus"][..],
        &["serve", "--listen", "not-an-address"],
        &["serve", "--suite", "TLS_NULL_WITH_NULL_NULL"],
        &["serve", "--handshake-timeout", "0"],
        &["serve", "--rsa-cert", "x.pem"],
        &["pki", "init", "--name", "localhost"],
        &["pki"],
    ] {
        let line = one_error_line(&run(args));
        assert!(line.len() < 1000, "{args:?}: {line}");
    }
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SERVER_SVC_LISTEN"));
}

#[test]
fn a_missing_certificate_file_is_one_line_naming_it() {
    let line = one_error_line(&run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rsa-cert",
        "/nonexistent/rsa.pem",
        "--rsa-key",
        "/nonexistent/rsa.key",
    ]));
    assert!(line.contains("/nonexistent/rsa.pem"), "{line}");
}

#[test]
fn mismatched_or_wrong_files_are_refused_naming_the_file() {
    let a = &common::lab().pki;
    let tmp = TempDir::new("other-pki");
    let b = pki::init(tmp.path(), &["localhost".to_owned()], false).unwrap();
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();

    // A key that is not the certificate's: in the library...
    let err = server_svc::certs::load_certified_key(
        &a.file(pki::ECDSA_CERT),
        &b.file(pki::ECDSA_KEY),
        KeyType::Ecdsa,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not the private key"), "{err}");
    // ...and from the binary.
    let cases = [
        // (flags, file named, what is said)
        (
            vec![
                "--ecdsa-cert".to_owned(),
                path(a.file(pki::ECDSA_CERT)),
                "--ecdsa-key".to_owned(),
                path(b.file(pki::ECDSA_KEY)),
            ],
            path(b.file(pki::ECDSA_KEY)),
            "is not the private key of the certificate",
        ),
        (
            vec![
                "--rsa-cert".to_owned(),
                path(a.file(pki::RSA_CERT)),
                "--rsa-key".to_owned(),
                path(a.file(pki::ECDSA_KEY)),
            ],
            path(a.file(pki::ECDSA_KEY)),
            "holds an ECDSA key where an RSA key is needed",
        ),
        (
            vec![
                "--rsa-cert".to_owned(),
                path(a.file(pki::RSA_KEY)),
                "--rsa-key".to_owned(),
                path(a.file(pki::RSA_KEY)),
            ],
            path(a.file(pki::RSA_KEY)),
            "no PEM CERTIFICATE block",
        ),
        (
            vec![
                "--rsa-cert".to_owned(),
                path(a.file(pki::RSA_CERT)),
                "--rsa-key".to_owned(),
                path(a.file(pki::RSA_CERT)),
            ],
            path(a.file(pki::RSA_CERT)),
            "no PEM PRIVATE KEY block",
        ),
    ];
    for (flags, file, said) in cases {
        let mut args = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
        args.extend(flags);
        let out = server_svc().args(&args).output().unwrap();
        let line = one_error_line(&out);
        assert!(line.contains(&file), "{line}");
        assert!(line.contains(said), "{line}");
    }
}

/// Starts `server-svc` with `args`, returns its first stdout line, and
/// stops it.
fn first_stdout_line(args: &[&str]) -> String {
    let mut child = server_svc()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server-svc");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("a line on stdout")
}

#[test]
fn with_no_subcommand_it_makes_a_lab_pki_once_and_reuses_it() {
    let tmp = TempDir::new("default-pki");
    let dir = tmp.path().join("pki");
    let dir_s = dir.to_str().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--pki-dir", dir_s];
    let line = first_stdout_line(&args);
    assert!(line.starts_with("created a lab PKI"), "{line}");
    assert!(line.contains(&format!("{dir_s}/ca.pem")), "{line}");
    let ca = std::fs::read(dir.join(pki::CA_CERT)).unwrap();
    // Names: loopback by name and both addresses.
    let chain = server_svc::certs::load_chain(&dir.join(pki::RSA_CERT)).unwrap();
    let info = handshake::internal::verify::certificate_info(&chain[0]).unwrap();
    assert!(info.dns_names.contains(&"localhost".to_owned()), "{info:?}");
    assert!(
        info.ip_addresses.contains(&"127.0.0.1".to_owned()),
        "{info:?}"
    );
    assert_eq!(info.ip_addresses.len(), 2, "{info:?}");

    let line = first_stdout_line(&args);
    assert!(line.starts_with("using the lab PKI"), "{line}");
    assert_eq!(std::fs::read(dir.join(pki::CA_CERT)).unwrap(), ca, "reused");

    // Half a PKI is not silently replaced.
    std::fs::remove_file(dir.join(pki::RSA_KEY)).unwrap();
    let line = one_error_line(&run(&args));
    assert!(line.contains("incomplete lab PKI"), "{line}");
}
