//! `uidlmap conformance`: run scenarios against real Dovecot 2.3.19.1 and/or 2.4.1 and
//! compare with uidlmap's own prediction for that version (the implementation is [`uidlmap::conformance`], shared with
//! the `tests/conformance.rs` target).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use uidlmap::conformance::{self, Options, Verdict};
use uidlmap::domain::{DovecotVersion, ProfileChoice};

use super::exit::{Exit, marked};
use super::{bad_input, check_failed};

/// The long `--help` text of `uidlmap conformance`.
pub const LONG_ABOUT: &str = "\
Run every scenario against real Dovecot and compare with uidlmap's prediction. For each \
scenario and each imapc profile it is about, the scenario's world is served by the fake \
POP3 and IMAP servers on 127.0.0.1 twice: once read by uidlmap, once by `doveadm backup -R \
imapc:` with the pop3_migration plugin and the scenario's settings. Compared: doveadm's \
exit code, the UIDL and POP3 order stored per destination message (mailbox, UID), and the \
plugin's warnings and errors (normalised: ports and the wording of pop3c's and the \
storage's error details are left out). Each run is made under each Dovecot version asked \
for (--dovecot-version): 2.3 needs Dovecot 2.3.19.1 installed (dovecot-core, \
dovecot-imapd, dovecot-pop3d), 2.4 the Debian 13 root that .ci/dovecot24-root builds \
($UIDLMAP_DOVECOT24_ROOT); both need root. Exits 0 if every run agrees, 1 if any disagrees, \
2 if it cannot run (Dovecot missing, bad scenario files, a harness error). \
`--format table` prints the markdown table of README.md.";

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

#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// Scenario files or folders
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Only the scenarios' runs under this imapc profile (both: every profile each
    /// scenario is about)
    #[arg(long, value_enum, default_value = "both")]
    pub profile: ProfileChoice,

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
    // Listed first on its own for the typed error (a missing folder is no input, 66).
    uidlmap::scenario::discover(&args.paths).map_err(bad_input)?;
    let scenarios = conformance::load(&args.paths).map_err(|e| bad_input(anyhow::anyhow!(e)))?;
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
