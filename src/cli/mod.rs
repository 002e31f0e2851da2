//! The command line: `uidlmap <command> [options]`, one module per command.
//!
//! To add a command: write `cli/<name>.rs` with a clap `Args` struct and
//! `run(&Args) -> anyhow::Result<()>`, then add a [`Command`] variant and a [`run`] arm.
//! Errors are `anyhow` errors with context, typed errors of the library inside. Where
//! the type does not tell the exit code (a malformed file, a bad option), the command
//! marks the error ([`bad_input`], [`usage`], [`config`], [`check_failed`]);
//! [`exit::classify`] turns errors into exit codes, and nothing else does. A new exit
//! code means a new [`Exit`] variant and its line in [`exit::TABLE`] and the README
//! (tests check that they match).

pub mod conformance;
pub mod exit;
pub mod hash;
pub mod record;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod verify;

use clap::{Parser, Subcommand};

pub use exit::{EXIT_CODES_HELP, Exit, bad_input, check_failed, config, usage};

#[derive(Parser, Debug)]
#[command(
    name = "uidlmap",
    version,
    about = "Predict, check and explain how Dovecot's pop3-migration plugin carries POP3 UIDLs over",
    after_help = EXIT_CODES_HELP.as_str(),
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against real Dovecot and compare with uidlmap's prediction
    #[command(long_about = conformance::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
    Conformance(conformance::ConformanceArgs),
    /// Hash a header block exactly as Dovecot's pop3-migration plugin does
    #[command(long_about = hash::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
    Hash(hash::HashArgs),
    /// Record a live provider as an anonymised scenario file
    #[command(long_about = record::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
    Record(Box<record::RecordArgs>),
    /// Run scenarios end to end against the fake servers and check their expectations
    #[command(long_about = run::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
    Run(run::RunArgs),
    /// Serve a scenario's world over real POP3 and IMAP until interrupted
    #[command(long_about = serve::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
    Serve(serve::ServeArgs),
    /// Check a live provider's IMAP and POP3 services before the migration
    #[command(long_about = verify::LONG_ABOUT, after_help = EXIT_CODES_HELP.as_str())]
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
        Command::Record(args) => record::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Scenario(cmd) => scenario::run(&cmd),
    }
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
        let help = Cli::command().render_help().to_string();
        assert!(help.contains(EXIT_CODES_HELP.as_str()));
        for (exit, meaning) in exit::TABLE {
            let line = format!("\n  {:>2}  {meaning}", exit.code());
            assert!(EXIT_CODES_HELP.contains(&line), "{exit:?} missing");
        }
        assert_eq!(EXIT_CODES_HELP.lines().count(), exit::TABLE.len() + 1);
    }

    #[test]
    fn failure_keeps_its_code_and_message_through_context() {
        let err = bad_input(anyhow::anyhow!("line 3: bad hex")).context("reading input.txt");
        assert_eq!(exit::classify(&err), Exit::DataErr);
        assert_eq!(format!("{err:#}"), "reading input.txt: line 3: bad hex");
    }
}
