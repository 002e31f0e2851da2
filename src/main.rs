//! The `uidlmap` binary: parse the arguments, run the command, and end with one of the exit
//! codes documented in `--help` ([`cli::EXIT_CODES_HELP`]), as [`cli::exit::classify`]
//! decides them.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::Exit;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // clap prints help and version to stdout, usage errors to stderr.
            let _ = e.print();
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            return ExitCode::from(exit.code());
        }
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let exit = cli::exit::classify(&err);
            if exit != Exit::Success {
                eprintln!("uidlmap: {}", cli::exit::message(&err));
            }
            ExitCode::from(exit.code())
        }
    }
}
