//! `server-svc`: parses the flags, installs tracing, runs the command.
//! Any error is one `error: ...` line on stderr and exit status 1.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use server_svc::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors: clap prints them to stdout.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(cli::one_line(&e)),
    };
    let log = match service_runtime::serve::init_tracing(cli.log_json()) {
        Ok(guard) => guard,
        Err(e) => return fail(format!("error: {e}")),
    };
    // Built by hand rather than with #[tokio::main], which panics if the
    // runtime cannot start.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("error: cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(server_svc::run(cli.into_command()));
    // The logs so far are written before the last error line.
    drop(runtime);
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("error: {e}")),
    }
}

fn fail(line: String) -> ExitCode {
    eprintln!("{line}");
    ExitCode::FAILURE
}
