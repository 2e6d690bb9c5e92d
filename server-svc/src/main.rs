//! `server-svc`: parses the flags, installs tracing, runs the command.
//! Any error is one `error: ...` line on stderr and exit status 1.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use server_svc::Error;
use server_svc::cli::{Cli, Command};

fn main() -> ExitCode {
    service_runtime::cli::main(
        Error::Other,
        Error::Other,
        |_| 1,
        |cli: Cli| {
            let command = cli.into_command();
            let log_json = match &command {
                Command::Serve(args) => args.service.log_json,
                Command::Pki(_) => false,
            };
            (Some(log_json), server_svc::run(command))
        },
    )
}
