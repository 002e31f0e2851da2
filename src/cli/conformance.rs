//! `uidlmap conformance`: run scenarios against real Dovecot 2.3.19.1 and/or 2.4.1 and
//! compare with uidlmap's own prediction for that version (the implementation is [`uidlmap::conformance`], shared with
//! the `tests/conformance.rs` target).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use uidlmap::conformance::{self, Options, Verdict};
use uidlmap::domain::{Destination, DovecotVersion, ProfileChoice};

use super::exit::{Exit, marked};
use super::{bad_input, check_failed};

/// The long `--help` text of `uidlmap conformance`.
pub const LONG_ABOUT: &str = "\
Run every scenario against real Dovecot and compare with uidlmap's prediction. For each \
scenario and each imapc profile it is about, the scenario's world is served by the fake \
POP3 and IMAP servers on 127.0.0.1 twice: once read by uidlmap, once by `doveadm backup -R \
imapc:` with the pop3_migration plugin and the scenario's settings. Compared: doveadm's \
exit code, the UIDL and POP3 order stored per destination message (mailbox, UID) as \
`doveadm fetch` reads them back from the destination (maildir, sdbox or mdbox), and the \
plugin's warnings and errors (normalised: ports and the wording of pop3c's and the \
storage's error details are left out). Each run is made under each Dovecot version asked \
for (--dovecot-version): 2.3 needs Dovecot 2.3.19.1 installed (dovecot-core, \
dovecot-imapd, dovecot-pop3d), 2.4 the Debian 13 root that .ci/dovecot24-root builds \
($UIDLMAP_DOVECOT24_ROOT); both need root. Exits 0 if every run agrees, 1 if any disagrees, \
2 if it cannot run (Dovecot missing, bad scenario files, a harness error). \
`--format table` prints the markdown table of README.md. With `--random N --seed S`, N \
random worlds are generated instead (as `uidlmap scenario generate` writes them), every \
disagreement is shrunk (folders, messages, events, faults, settings left out while it \
still disagrees) and, with `--keep-failures DIR`, written there as a scenario whose \
comments say what differed; progress on a terminal, then one summary line.";

/// What `conformance` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per scenario and profile, differences below, then the counts.
    Summary,
    /// A markdown table: scenarios × profiles.
    Table,
    /// Every case with its differences, as JSON.
    Json,
}

/// Which Dovecot versions conformance runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionChoice {
    #[value(name = "2.3")]
    V2_3,
    #[value(name = "2.4")]
    V2_4,
    Both,
}

impl VersionChoice {
    fn versions(self) -> Vec<DovecotVersion> {
        match self {
            VersionChoice::V2_3 => vec![DovecotVersion::V2_3],
            VersionChoice::V2_4 => vec![DovecotVersion::V2_4],
            VersionChoice::Both => DovecotVersion::ALL.to_vec(),
        }
    }
}

/// What `--random` does with the known gaps.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownGaps {
    /// Keep them in the worlds (they will disagree)
    Hunt,
    /// Leave them out
    Skip,
}

#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// Scenario files or folders
    #[arg(value_name = "PATH", required_unless_present = "random")]
    pub paths: Vec<PathBuf>,

    /// Hunt: generate this many random worlds instead of reading scenario files, and
    /// shrink each disagreement
    #[arg(long, value_name = "N", conflicts_with = "paths")]
    pub random: Option<usize>,

    /// Seed of the random worlds (with --random)
    #[arg(long, default_value_t = 1, requires = "random")]
    pub seed: u64,

    /// About this many messages per random world (default: 1 to 9)
    #[arg(long, value_name = "M", requires = "random")]
    pub messages: Option<usize>,

    /// With --random: `skip` leaves out of every world the parts that show
    /// disagreements already known and not yet modelled (listed in the summary), `hunt`
    /// keeps them
    #[arg(long, value_enum, default_value = "hunt", requires = "random")]
    pub known_gaps: KnownGaps,

    /// Write each shrunk disagreement to this folder as a scenario (with --random)
    #[arg(long, value_name = "DIR", requires = "random")]
    pub keep_failures: Option<PathBuf>,

    /// Only the scenarios' runs under this imapc profile: docs, bare, defaults (each
    /// version's own: 2.3's are bare's; 2.4's RFC822.SIZE one UID a command), or both
    /// (every profile each scenario is about; under 2.4 its defaults too)
    #[arg(long, visible_alias = "imapc", value_enum, default_value = "both")]
    pub profile: ProfileChoice,

    /// The destination's mail storage Dovecot writes and uidlmap predicts, for every
    /// scenario [default: each scenario's `destination:`, maildir where it names none]
    #[arg(long, value_enum)]
    pub destination: Option<Destination>,
    /// The Dovecot version to run and predict (both: each run under 2.3 and 2.4)
    #[arg(long, value_enum, default_value = "both", value_name = "VERSION")]
    pub dovecot_version: VersionChoice,

    /// Runs at once (each is one doveadm process)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: u16,

    /// Output format
    #[arg(long, value_enum, default_value = "summary")]
    pub format: Format,
}

pub fn run(args: &ConformanceArgs) -> anyhow::Result<()> {
    if let Some(n) = args.random {
        return hunt(args, n);
    }
    // Listed first on its own for the typed error (a missing folder is no input, 66).
    uidlmap::scenario::discover(&args.paths).map_err(bad_input)?;
    let mut scenarios =
        conformance::load(&args.paths).map_err(|e| bad_input(anyhow::anyhow!(e)))?;
    if let Some(d) = args.destination {
        for sc in &mut scenarios {
            sc.destination = d;
        }
    }
    let versions = args.dovecot_version.versions();
    for v in &versions {
        if let Some(why) = v.unavailable_reason() {
            return Err(marked(
                Exit::Unavailable,
                anyhow::anyhow!(
                    "cannot run Dovecot {} here: {why} (--dovecot-version picks the versions run)",
                    v.name()
                ),
            ));
        }
    }
    if versions.contains(&DovecotVersion::V2_3) {
        match conformance::dovecot_version() {
            Some(v) if v == "2.3.19.1" => {}
            v => eprintln!(
                "uidlmap: warning: uidlmap models Dovecot 2.3 as 2.3.19.1, this is {}: differences may be Dovecot's",
                v.as_deref().unwrap_or("an unknown version")
            ),
        }
    }
    let opts = Options {
        profile: args.profile,
        versions,
        jobs: args.jobs as usize,
        dovecot_timeout: Duration::from_secs(45),
        predict_timeout: Duration::from_secs(30),
    };
    let cases = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(conformance::check_all(scenarios, &opts));
    let out = match args.format {
        Format::Summary => conformance::summary(&cases),
        Format::Table => conformance::table(&cases),
        Format::Json => conformance::json(&cases) + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;

    let n = conformance::counts(&cases);
    if n.disagree > 0 {
        let names: Vec<String> = cases
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Disagree(_)))
            .map(|c| format!("{} ({} {})", c.scenario, c.version, c.profile))
            .collect();
        return Err(check_failed(anyhow::anyhow!(
            "{} of {} runs disagree with Dovecot: {}",
            n.disagree,
            cases.len(),
            names.join(", ")
        )));
    }
    if n.error > 0 {
        return Err(marked(
            Exit::Unavailable,
            anyhow::anyhow!(
                "{} of {} runs could not be done (see above)",
                n.error,
                cases.len()
            ),
        ));
    }
    Ok(())
}

/// `--random N`: hunt, shrink, keep, one summary line.
fn hunt(args: &ConformanceArgs, n: usize) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use uidlmap::hunt::{self, HuntOptions};
    use uidlmap::scenario::worlds::GenOptions;

    let versions = args.dovecot_version.versions();
    for v in &versions {
        if let Some(why) = v.unavailable_reason() {
            return Err(marked(
                Exit::Unavailable,
                anyhow::anyhow!(
                    "cannot run Dovecot {} here: {why} (--dovecot-version picks the versions hunted)",
                    v.name()
                ),
            ));
        }
    }
    let opts = HuntOptions {
        generate: GenOptions {
            seed: args.seed,
            count: n,
            messages: args.messages,
        },
        conformance: Options {
            profile: args.profile,
            jobs: args.jobs as usize,
            dovecot_timeout: Duration::from_secs(30),
            predict_timeout: Duration::from_secs(30),
            versions,
        },
        shrink_runs: 40,
        skip_known_gaps: args.known_gaps == KnownGaps::Skip,
    };
    let terminal = std::io::stderr().is_terminal();
    let progress: std::sync::Arc<dyn Fn(usize, usize, usize) + Send + Sync> =
        std::sync::Arc::new(move |done, total, failing| {
            if terminal {
                eprint!("\r{done}/{total} worlds, {failing} failing");
                if done == total {
                    eprintln!();
                }
            }
        });
    let started = std::time::Instant::now();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(hunt::hunt(&opts, progress));
    let secs = started.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    for f in &result.found {
        writeln!(
            stdout,
            "DISAGREE  {} (Dovecot {}, {}), class guess {}, shrunk in {} runs:",
            f.world, f.version, f.profile, f.class, f.shrink_runs
        )?;
        for l in f.shrunk.render().lines() {
            writeln!(stdout, "    {l}")?;
        }
    }
    for c in &result.cases {
        if let Verdict::Error(e) = &c.verdict {
            writeln!(
                stdout,
                "ERROR     {} (Dovecot {}, {}): {e}",
                c.scenario, c.version, c.profile
            )?;
        }
    }
    if let Some(dir) = &args.keep_failures {
        let paths = hunt::keep_failures(&result.found, dir)
            .with_context(|| format!("writing failures to {}", dir.display()))?;
        for p in paths {
            writeln!(stdout, "kept      {}", p.display())?;
        }
    }
    if args.known_gaps == KnownGaps::Skip {
        let names: Vec<&str> = uidlmap::scenario::worlds::KNOWN_GAPS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        writeln!(stdout, "known gaps left out: {}", names.join("; "))?;
    }
    writeln!(stdout, "{}", hunt::summary(&result, args.seed, secs))?;
    stdout.flush()?;
    if !result.found.is_empty() {
        return Err(check_failed(anyhow::anyhow!(
            "{} random runs disagree with Dovecot (reproduce: uidlmap conformance --random {n} --seed {}{}{})",
            result.found.len(),
            args.seed,
            match args.dovecot_version {
                VersionChoice::Both => "",
                VersionChoice::V2_3 => " --dovecot-version 2.3",
                VersionChoice::V2_4 => " --dovecot-version 2.4",
            },
            if args.known_gaps == KnownGaps::Skip {
                " --known-gaps skip"
            } else {
                ""
            }
        )));
    }
    let errors = conformance::counts(&result.cases).error;
    if errors > 0 {
        return Err(bad_input(anyhow::anyhow!(
            "{errors} random runs could not be done (see above)"
        )));
    }
    Ok(())
}
