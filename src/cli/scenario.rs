//! `uidlmap scenario check|schema|generate`: validate scenario files without running
//! them; print the JSON Schema of the format for editors; write random worlds.

use std::path::PathBuf;

use uidlmap::scenario::{self, worlds};

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
    /// Write N valid random scenarios (the same bytes for the same seed), for hunting
    /// disagreements with real Dovecot
    Generate {
        /// Seed of the generator
        #[arg(long)]
        seed: u64,
        /// How many worlds
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// About this many messages per world (default: 1 to 9)
        #[arg(long)]
        messages: Option<usize>,
        /// Folder to write `random-SEED-I.yaml` into (created if missing)
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: &ScenarioCommand) -> anyhow::Result<()> {
    match cmd {
        ScenarioCommand::Generate {
            seed,
            count,
            messages,
            out,
        } => {
            std::fs::create_dir_all(out)
                .map_err(|e| bad_input(anyhow::anyhow!("creating {}: {e}", out.display())))?;
            let worlds = worlds::generate(worlds::GenOptions {
                seed: *seed,
                count: *count,
                messages: *messages,
            });
            for w in &worlds {
                let path = out.join(format!("{}.yaml", w.name));
                std::fs::write(&path, w.render())
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            }
            println!("{} scenarios written to {}", worlds.len(), out.display());
            Ok(())
        }
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
