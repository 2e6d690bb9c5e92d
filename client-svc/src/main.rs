//! `client-svc`: parses the flags, installs tracing, runs the command
//! (`lib.rs`). Errors are one `error: ...` line on stderr, with the exit
//! status of their kind (`error.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use client_svc::cli::{Cli, Command};
use client_svc::error::Error;

fn main() -> ExitCode {
    service_runtime::cli::main(
        Error::Usage,
        Error::Service,
        Error::exit_code,
        |cli: Cli| {
            // Logs: `serve` always; `handshake` only on request (stdout is the
            // table, stderr the one error line); `bench` never.
            let log_json = match &cli.command {
                Command::Serve(args) => Some(args.service.log_json),
                Command::Handshake(_) => std::env::var_os("RUST_LOG").map(|_| false),
                Command::Bench(_) => None,
            };
            (log_json, client_svc::run(cli.command))
        },
    )
}
