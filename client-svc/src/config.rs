//! From the flags to what runs, checked: the CA and the server name every
//! command needs, the key log, `serve`'s service settings and limits, and
//! `bench`'s settings. Every failure here is a usage error (exit 2).

use std::sync::Arc;
use std::time::Duration;

use handshake::{ClientConfig, ServerCertVerifier};
use rustls_pki_types::ServerName;
use service_runtime::keylog::KeyLog;
use service_runtime::limits::LiveSessions;
use service_runtime::metrics::Metrics;

use crate::balance::ChannelOptions;
use crate::bench::{self, load::Load, load::Stop};
use crate::cli::{BenchArgs, LoadArgs, ServeArgs, TargetArgs};
use crate::error::{Error, Result};
use crate::{service, session, trust};

impl TargetArgs {
    /// The CA file read into a verifier, then the server name parsed.
    pub fn verifier_and_name(&self) -> Result<(ServerCertVerifier, ServerName<'static>)> {
        let verifier = trust::load_ca(&self.ca).map_err(Error::Usage)?;
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| Error::Usage(format!("--server-name {:?}: {e}", self.server_name)))?;
        Ok((verifier, name))
    }

    /// The key log file, if one is asked for: opened (created 0600) now, so
    /// a bad path is a configuration error, not a silent loss; and the
    /// warning that it is on.
    pub fn open_key_log(&self) -> Result<Option<Arc<KeyLog>>> {
        let Some(path) = &self.key_log else {
            return Ok(None);
        };
        let log = KeyLog::open(path).map_err(Error::Usage)?;
        tracing::warn!(
            key_log = %path.display(),
            "lab flag --key-log is on: the file holds every session's master secret"
        );
        Ok(Some(Arc::new(log)))
    }
}

impl ServeArgs {
    /// The service's settings: the CA read, the name and the default target
    /// checked (a bad one is refused now rather than on every call), the
    /// key log opened.
    pub fn settings(&self) -> Result<service::Settings> {
        let (args, t) = (self, &self.target);
        let (verifier, _) = t.verifier_and_name()?;
        let limits = args.service.limits();
        let upstream = ChannelOptions {
            keepalive_interval: limits.keepalive_interval,
            keepalive_timeout: limits.keepalive_timeout,
            resolve_interval: Duration::from_secs(args.resolve_interval),
        };
        session::Target::parse_with(&t.server, &upstream).map_err(Error::Usage)?;
        Ok(service::Settings {
            server: t.server.clone(),
            server_name: t.server_name.clone(),
            verifier,
            show_secrets: t.lab_show_secrets,
            key_log: t.open_key_log()?,
            timeout: Duration::from_secs(t.timeout),
            sessions: LiveSessions::with_max(args.service.max_sessions),
            upstream,
            allow_servers: args.allow_servers.clone(),
            // Set by `run_serve` once the exporter is up (or off).
            metrics: Metrics::disabled(),
        })
    }
}

impl BenchArgs {
    /// What both `bench` modes share, checked.
    pub fn settings(&self) -> Result<bench::Settings> {
        let t = &self.target;
        if t.lab_show_secrets {
            return Err(Error::Usage(
                "--lab-show-secrets: bench prints no reports".into(),
            ));
        }
        let (verifier, server_name) = t.verifier_and_name()?;
        let mut config = ClientConfig::new(verifier);
        if let Some(suite) = self.suite {
            config.cipher_suites = vec![suite];
        }
        Ok(bench::Settings {
            server: t.server.clone(),
            config: Arc::new(config),
            suite: self.suite.and_then(|s| s.name()),
            server_name,
            key_log: t.open_key_log()?,
            timeout: Duration::from_secs(t.timeout),
            concurrency: self.concurrency,
            streams_per_connection: self.streams_per_connection,
        })
    }
}

impl LoadArgs {
    /// What `bench load` runs. clap's `stop` group requires exactly one of
    /// --duration and --count; flags built otherwise are a usage error.
    pub fn load(&self) -> Result<Load> {
        let stop = match (self.duration, self.count) {
            (Some(d), None) => Stop::Duration(d),
            (None, Some(n)) => Stop::Count(n),
            _ => {
                return Err(Error::Usage(
                    "bench load needs exactly one of --duration SECS, --count N".into(),
                ));
            }
        };
        Ok(Load {
            stop,
            warm_up: self.warm_up,
            message: self.message.clone(),
        })
    }
}
