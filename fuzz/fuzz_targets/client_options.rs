//! client-svc's option handling: `ClientService::prepare` (SessionOptions
//! -> SessionSpec and target) on arbitrary options, then the client
//! engine's first flight from the spec it made, as client-svc would send it.
//!
//! Input: one byte `exp` (`exp % 16`: the cipher suite and group lists are
//! cycled to `len << exp` entries, at most 2^17, so that a short input can
//! reach the limits where 32,768 suites broke the encoder), then a
//! protobuf `SessionOptions`.
//!
//! Checks: no panic; a refusal is a status of a client error
//! (INVALID_ARGUMENT, or PERMISSION_DENIED for a target not allowed) whose
//! message is bounded; an accepted spec starts a client engine or fails
//! with an `Error`; what the engine queues reads back as itself and goes
//! through handshake.v1 unchanged (`to_request` then `from_request`).
//!
//! Nothing is connected or looked up: targets are lazy (a `dns:` name is
//! resolved at the first session, a channel connects at its first call);
//! the tasks tonic spawns for lazy channels run on a current-thread
//! runtime that is driven after each input, so they end with the input.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use client_svc::balance::ChannelOptions;
use client_svc::service::{ClientService, Settings};
use handshake::Connection;
use handshake::SeededRng;
use handshake_fuzz::codec::{check_error, check_sendable};
use handshake_fuzz::input::{Input, amplify};
use handshake_fuzz::lab::{CLIENT_SEED, Lab, SERVER_NAME, now};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use proto::convert::{from_request, to_request};
use proto::pb;
use service_runtime::limits::LiveSessions;
use tokio::runtime::Runtime;

/// Entries a repeated field is amplified to at most.
const MAX_ENTRIES: usize = 1 << 17;

/// A refusal's message may quote the input, but only so much of it.
const MAX_STATUS_MESSAGE: usize = proto::status::MAX_MESSAGE;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Servers a request may name besides the default: one of each form the
/// allowlist reduces to endpoints. No `dns:` target: the replicas of an
/// allowed `dns:` name are found by looking it up, and a target makes no
/// lookup.
const ALLOW_SERVERS: [&str; 3] = [
    "tls://127.0.0.1:4433",
    "http://localhost:50052",
    "ipv4:127.0.0.2:50051,127.0.0.3:50051",
];

/// A service with client-svc's defaults and the lab CA; a new one per
/// input, so that its cache of targets starts empty.
fn service() -> ClientService {
    let service = ClientService::new(Settings {
        server: "http://127.0.0.1:50051".into(),
        server_name: SERVER_NAME.into(),
        verifier: Lab::get().verifier.clone(),
        show_secrets: false,
        key_log: None,
        timeout: Duration::from_secs(30),
        sessions: LiveSessions::with_max(1),
        upstream: ChannelOptions::default(),
        allow_servers: ALLOW_SERVERS.map(String::from).to_vec(),
        metrics: service_runtime::metrics::Metrics::disabled(),
    });
    service.expect("the fuzz target's settings are valid")
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let exp = input.u8() % 16;
    let Ok(mut options) = pb::SessionOptions::decode(input.rest()) else {
        return;
    };
    amplify(&mut options.cipher_suites, exp, MAX_ENTRIES);
    if let Some(lab) = &mut options.lab {
        amplify(&mut lab.groups, exp, MAX_ENTRIES);
    }

    let rt = runtime();
    rt.block_on(async {
        // Inside the runtime: the lazy channels' tasks are spawned on it.
        match service().prepare(Some(options)).await {
            Ok((_target, spec)) => first_flight(spec.config, spec.server_name),
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::InvalidArgument | tonic::Code::PermissionDenied
                    ),
                    "refused with {:?}: {}",
                    status.code(),
                    status.message()
                );
                assert!(
                    status.message().len() <= MAX_STATUS_MESSAGE,
                    "a status message of {} bytes: {:.200}...",
                    status.message().len(),
                    status.message()
                );
            }
        }
        // Let the lazily connected channels' tasks see their channels dropped.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    });
});

fn first_flight(
    config: handshake::ClientConfig,
    server_name: rustls_pki_types::ServerName<'static>,
) {
    let conn = Connection::client(
        Arc::new(config),
        server_name,
        now(),
        Box::new(SeededRng::new(CLIENT_SEED)),
    );
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => return check_error(&e, "Connection::client"),
    };
    while let Some(m) = conn.poll_transmit() {
        check_sendable(&m);
        let req = to_request(m.clone()).expect("a client's message has a ConnectRequest");
        assert_eq!(from_request(req).as_ref(), Ok(&m), "through handshake.v1");
    }
    while conn.poll_event().is_some() {}
}
