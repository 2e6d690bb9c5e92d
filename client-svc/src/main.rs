//! `client-svc`: parses the flags, installs tracing, runs the command
//! (`lib.rs`). Errors are one `error: ...` line on stderr, with the exit
//! status of their kind (`error.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use client_svc::cli::{self, Cli, Command};
use client_svc::error::Error;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version (stdout, 0), and the help shown for a
        // missing subcommand (stderr, 2), are clap's to print.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", cli::one_line(&e));
            return ExitCode::from(Error::Usage(String::new()).exit_code());
        }
    };
    // Logs: `serve` always; `handshake` only on request (stdout is the
    // table, stderr the one error line); `bench` never.
    let log_json = match &cli.command {
        Command::Serve(args) => Some(args.log_json),
        Command::Handshake(_) => std::env::var_os("RUST_LOG").map(|_| false),
        Command::Bench(_) => None,
    };
    let log = match log_json
        .map(service_runtime::serve::init_tracing)
        .transpose()
    {
        Ok(guard) => guard,
        Err(e) => return fail(&Error::Service(e)),
    };
    // Built by hand rather than with #[tokio::main], which panics if the
    // runtime cannot start.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(&Error::Service(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    let result = runtime.block_on(client_svc::run(cli.command));
    // The logs so far are written before the last error line.
    drop(runtime);
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}
