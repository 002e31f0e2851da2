//! `uidlmap scenario check|schema|generate|import`: validate scenario files without
//! running them; print the JSON Schema of the format for editors; write random worlds;
//! turn real mail (Maildirs, mbox) into a scenario file.

use std::path::PathBuf;

use anyhow::Context;
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
    /// Write a scenario from real mail: Maildirs (or mbox files) for the IMAP folders
    /// and a Maildir for the POP3 maildrop
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// An IMAP folder: DIR is INBOX, NAME=DIR any other (repeat, in LIST order)
    #[arg(long, value_name = "[NAME=]DIR")]
    imap_maildir: Vec<String>,
    /// An IMAP folder read from an mbox file: FILE is INBOX, NAME=FILE any other
    #[arg(long, value_name = "[NAME=]FILE")]
    mbox: Vec<String>,
    /// The POP3 maildrop (POP3 order and UIDLs from its dovecot-uidlist where present)
    #[arg(long, value_name = "DIR")]
    pop3_maildir: Option<PathBuf>,
    /// The scenario file to write
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Write the messages as DIR/<id>.eml (DIR under the output's folder) instead of inline
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Replace every message by a synthetic one of the same size whose header keeps the
    /// plugin's hash equality (no subject, address, Message-ID or body text is written)
    #[arg(long)]
    anonymise: bool,
    /// The scenario's description line
    #[arg(long, default_value = "Imported mail store.")]
    description: String,
}

fn import(a: &ImportArgs) -> anyhow::Result<()> {
    let folder = |arg: &str, mbox: bool| {
        let (name, path) = match arg.split_once('=') {
            Some((n, p)) if !n.is_empty() && !n.contains('/') || n == "INBOX" => (n, p),
            _ => ("INBOX", arg),
        };
        (name.to_string(), PathBuf::from(path), mbox)
    };
    let mut imap: Vec<(String, PathBuf, bool)> = Vec::new();
    for (arg, mbox) in a
        .imap_maildir
        .iter()
        .map(|m| (m, false))
        .chain(a.mbox.iter().map(|m| (m, true)))
    {
        let f = folder(arg, mbox);
        if imap.iter().any(|g| g.0 == f.0) {
            return Err(bad_input(anyhow::anyhow!("folder {} given twice", f.0)));
        }
        imap.push(f);
    }
    if imap.is_empty() && a.pop3_maildir.is_none() {
        return Err(bad_input(anyhow::anyhow!(
            "nothing to import: give --imap-maildir, --mbox or --pop3-maildir"
        )));
    }
    let out_dir = a
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let spec = scenario::import::ImportSpec {
        imap,
        pop3: a.pop3_maildir.clone(),
        fixtures: a.fixtures.clone(),
        out_dir,
        anonymise: a.anonymise,
        description: a.description.clone(),
    };
    let text = scenario::import::import(&spec).map_err(bad_input)?;
    std::fs::write(&a.out, &text)
        .with_context(|| format!("writing {}", a.out.display()))
        .map_err(bad_input)?;
    // Check what was written loads, so a problem shows here rather than at run time.
    match scenario::load_file(&a.out) {
        Ok(sc) => {
            eprintln!(
                "wrote {} ({} IMAP folders, {} POP3 messages); check `expect:` with `uidlmap run {}`",
                a.out.display(),
                sc.world.imap.mailboxes.len(),
                sc.world.pop3.messages.len(),
                a.out.display()
            );
            Ok(())
        }
        Err(e) => Err(bad_input(anyhow::anyhow!(
            "wrote {}, but it does not load: {e}",
            a.out.display()
        ))),
    }
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
        ScenarioCommand::Import(a) => import(a),
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
