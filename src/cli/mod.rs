//! The command line: `uidlmap <command> [options]`, one module per command.
//!
//! To add a command: write `cli/<name>.rs` with a clap `Args` struct and
//! `run(&Args) -> anyhow::Result<()>`, then add a [`Command`] variant and a [`run`] arm.
//! Errors are `anyhow` errors with context. An error that must end with a particular exit
//! code is wrapped in [`Failure`] (for bad input: [`bad_input`]); `main` turns errors into
//! exit codes, and nothing else does. A new exit code means a new [`Exit`] variant and its
//! line in [`EXIT_CODES_HELP`] (a test checks that they match).

pub mod conformance;
pub mod hash;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod verify;

use std::fmt;

use clap::{Parser, Subcommand};

/// The exit codes, shown at the end of every `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success: the command did its job and every check held (verify: Dovecot would carry every UIDL correctly)
  1  failure: a check did not hold (run: a scenario's expectation was not met; conformance: a run disagrees with Dovecot; verify: Dovecot would fail, lose or mis-assign UIDLs)
  2  bad usage or bad input, or the command could not do its job: unknown option, unreadable or malformed file, network, TLS, login or server error, Dovecot not usable (conformance)";

#[derive(Parser, Debug)]
#[command(
    name = "uidlmap",
    version,
    about = "Predict, check and explain how Dovecot's pop3-migration plugin carries POP3 UIDLs over",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against real Dovecot and compare with uidlmap's prediction
    #[command(long_about = conformance::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Conformance(conformance::ConformanceArgs),
    /// Hash a header block exactly as Dovecot's pop3-migration plugin does
    #[command(long_about = hash::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Hash(hash::HashArgs),
    /// Run scenarios end to end against the fake servers and check their expectations
    #[command(long_about = run::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Run(run::RunArgs),
    /// Serve a scenario's world over real POP3 and IMAP until interrupted
    #[command(long_about = serve::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Serve(serve::ServeArgs),
    /// Check a live provider's IMAP and POP3 services before the migration
    #[command(long_about = verify::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Verify(Box<verify::VerifyArgs>),
    /// Validate scenario files, or print the JSON Schema of the format
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
}

/// Runs the command the arguments name.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Conformance(args) => conformance::run(&args),
        Command::Hash(args) => hash::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Scenario(cmd) => scenario::run(&cmd),
    }
}

/// How the process ends. The numbers are part of the interface: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    BadInput = 2,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error that ends the process with a chosen exit code. Its message is the wrapped
/// error's, context chain included.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

// No `source()`: Display already prints the wrapped chain, and `{:#}` on an outer
// anyhow error would print it twice.
impl std::error::Error for Failure {}

/// Marks an error as a failed check (exit code 1).
pub fn check_failed(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Failure {
        exit: Exit::Failure,
        error: error.into(),
    }
    .into()
}

/// The exit code an error ends the process with (2 unless marked otherwise).
pub fn exit_of(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(Exit::BadInput, |f| f.exit)
        .code()
}

/// Marks an error as bad input (exit code 2).
pub fn bad_input(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Failure {
        exit: Exit::BadInput,
        error: error.into(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_documents_every_exit_code() {
        // A new variant breaks this match, and so leads here.
        let all = [Exit::Success, Exit::Failure, Exit::BadInput];
        for exit in all {
            match exit {
                Exit::Success | Exit::Failure | Exit::BadInput => {}
            }
            let line = format!("\n  {}  ", exit.code());
            assert!(
                EXIT_CODES_HELP.contains(&line),
                "{exit:?} missing from the help"
            );
        }
        assert_eq!(EXIT_CODES_HELP.lines().count(), all.len() + 1);
        let help = Cli::command().render_help().to_string();
        assert!(help.contains(EXIT_CODES_HELP));
    }

    #[test]
    fn failure_keeps_its_code_and_message_through_context() {
        let err = bad_input(anyhow::anyhow!("line 3: bad hex")).context("reading input.txt");
        let failure = err.chain().find_map(|e| e.downcast_ref::<Failure>());
        assert_eq!(failure.map(|f| f.exit), Some(Exit::BadInput));
        assert_eq!(format!("{err:#}"), "reading input.txt: line 3: bad hex");
    }
}
