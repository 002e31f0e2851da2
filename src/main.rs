//! The `uidlmap` binary: parse the arguments, run the command, and end with one of the exit
//! codes documented in `--help` ([`cli::EXIT_CODES_HELP`]). Exit codes are decided here and
//! nowhere else.

mod cli;

use std::io;
use std::process::ExitCode;

use clap::Parser;

use cli::{Exit, Failure};

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // clap prints help and version to stdout, usage errors to stderr.
            let _ = e.print();
            let exit = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Success
            };
            return ExitCode::from(exit.code());
        }
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let exit = exit_for(&err);
            if exit != Exit::Success {
                eprintln!("uidlmap: {err:#}");
            }
            ExitCode::from(exit.code())
        }
    }
}

/// The one mapping from errors to exit codes.
fn exit_for(err: &anyhow::Error) -> Exit {
    if let Some(failure) = err.chain().find_map(|e| e.downcast_ref::<Failure>()) {
        return failure.exit;
    }
    // The reader of our output went away (`uidlmap hash --hex-lines … | head`): not a
    // failure of ours, and nobody is left to tell.
    let broken_pipe = err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        Exit::Success
    } else {
        // Anything not marked otherwise means the command could not do its job.
        Exit::BadInput
    }
}
