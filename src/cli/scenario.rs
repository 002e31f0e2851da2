//! `uidlmap scenario check|schema`: validate scenario files without running them; print
//! the JSON Schema of the format for editors.

use std::path::PathBuf;

use uidlmap::scenario;

use super::bad_input;

#[derive(clap::Subcommand, Debug)]
pub enum ScenarioCommand {
    /// Validate scenario files (or folders) without running them; print what each
    /// expands to (messages per view); every error names file:line:column
    Check {
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a JSON Schema of the scenario format (for editors)
    Schema,
}

pub fn run(cmd: &ScenarioCommand) -> anyhow::Result<()> {
    match cmd {
        ScenarioCommand::Schema => {
            let schema = scenario::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("a schema serialises")
            );
            Ok(())
        }
        ScenarioCommand::Check { paths } => {
            let results = scenario::check(paths).map_err(bad_input)?;
            let mut bad = 0;
            for r in &results {
                match &r.result {
                    Ok(summary) => {
                        for w in &summary.warnings {
                            eprintln!("warning: {w}");
                        }
                        println!("ok    {summary}");
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            if bad > 0 {
                return Err(bad_input(anyhow::anyhow!(
                    "{bad} of {} scenario files are invalid",
                    results.len()
                )));
            }
            println!("{} scenario files are valid", results.len());
            Ok(())
        }
    }
}
