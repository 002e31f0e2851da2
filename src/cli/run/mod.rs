//! `uidlmap run`: run scenarios end to end, check their expectations and, with
//! `--snapshots DIR`, compare their reports with the reviewed snapshots.

mod junit;
mod snapshots;

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use uidlmap::domain::{Destination, DovecotVersion, ImapcProfile, ProfileChoice};
use uidlmap::report::{self, Report};
use uidlmap::scenario::{self, Scenario, run as scenario_run};

use super::{bad_input, check_failed};

/// The long `--help` text of `uidlmap run`.
pub const LONG_ABOUT: &str = "\
Run scenarios end to end: serve each scenario's world with the fake POP3 and IMAP servers \
on 127.0.0.1, read it the way Dovecot does through uidlmap's own clients, predict what the \
pop3-migration plugin of each Dovecot version the scenario is about (or --dovecot-version) \
would store, audit that against the scenario's ground truth \
and check the scenario's expectations. Prints one row per scenario (or the full reports \
with --format) and exits 0 only if every expectation holds. PATHs are scenario files or \
folders searched recursively for *.yaml (scenarios/_fixtures is skipped). \
With --snapshots DIR each report is also compared with its reviewed snapshot DIR/NAME.snap \
(the file `cargo test --test scenarios` checks) and the difference is printed; --update \
leaves the new report as DIR/NAME.snap.new for `cargo insta review` (or a plain diff and \
mv). A scenario whose report is not its snapshot fails the run.";

/// What `run` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One row per scenario.
    Summary,
    /// The full report of each scenario, for people.
    Human,
    /// The full reports, as one YAML document each.
    Yaml,
    /// The full reports, as a JSON array.
    Json,
    /// What Dovecot would store, as `doveadm fetch 'mailbox uid pop3.uidl pop3.order'`
    /// shows it: `mailbox uid pop3_uidl pop3_order`, tab-separated; with several
    /// scenarios a first `scenario` column is added.
    Tsv,
    /// One self-contained HTML page for all scenarios: the listings side by side with a
    /// line per pairing, coloured by verdict.
    Html,
    /// JUnit XML, one test case per scenario, for CI systems.
    Junit,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files or folders
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value = "summary")]
    pub format: Format,

    /// Predict this Dovecot version [default: every version each scenario is about]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub dovecot_version: Option<DovecotVersion>,

    /// Predict this imapc profile: docs (the recipe: RFC822.SIZE, mail_prefetch_count
    /// 20), bare (sizes by download: 2.3's defaults, 2.4's no-fetch-size) or defaults
    /// (the version's own: 2.3's are bare; 2.4's RFC822.SIZE one UID a command)
    /// [default: every profile each scenario is about, its expectations checked against
    /// them; under 2.4 the prediction shown is 2.4's defaults where they differ]
    #[arg(long, value_enum)]
    pub imapc_profile: Option<ImapcProfile>,

    /// Message rows in --format human: auto (every row up to 50 messages a mailbox,
    /// beyond that only those not right), all, or problems
    #[arg(long, value_enum, default_value = "auto")]
    pub rows: report::Rows,

    /// The destination's mail storage, for every scenario [default: each scenario's
    /// `destination:`, maildir where it names none]
    #[arg(long, value_enum)]
    pub destination: Option<Destination>,

    /// Scenarios run at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Compare each report with its snapshot DIR/NAME.snap (e.g. `snapshots`)
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,

    /// With --snapshots: write each report that differs as DIR/NAME.snap.new
    #[arg(long, requires = "snapshots")]
    pub update: bool,
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let files = scenario::discover(&args.paths).map_err(bad_input)?;
    // Load everything first: a malformed file is reported before anything runs.
    let mut scenarios = Vec::with_capacity(files.len());
    let mut errors = String::new();
    for f in &files {
        match scenario::load_file(f) {
            Ok(mut s) => {
                if let Some(d) = args.destination {
                    s.destination = d;
                }
                scenarios.push(s)
            }
            Err(e) => {
                let _ = writeln!(errors, "{e}");
            }
        }
    }
    if !errors.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "invalid scenario files:\n{}",
            errors.trim_end()
        )));
    }
    let reports = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run_all(&scenarios, args))?;

    let verdicts = match &args.snapshots {
        Some(dir) => Some(
            reports
                .iter()
                .map(|r| snapshots::compare(dir, r, args.update))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };

    let out = match args.format {
        Format::Junit => junit::render(&reports, verdicts.as_deref()),
        f => render(&reports, f, args.rows, verdicts.as_deref()),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;

    let unmet: Vec<&str> = reports
        .iter()
        .filter(|r| r.expectation.as_ref().is_some_and(|e| !e.met))
        .map(|r| r.name.as_str())
        .collect();
    let changed: Vec<&str> = verdicts
        .iter()
        .flatten()
        .zip(&reports)
        .filter(|(v, _)| !v.is_same())
        .map(|(_, r)| r.name.as_str())
        .collect();
    let mut problems = Vec::new();
    if !unmet.is_empty() {
        problems.push(format!(
            "{} of {} scenarios did not meet their expectations: {}",
            unmet.len(),
            reports.len(),
            unmet.join(", ")
        ));
    }
    if !changed.is_empty() {
        problems.push(format!(
            "{} of {} reports are not their snapshots: {}{}",
            changed.len(),
            reports.len(),
            changed.join(", "),
            if args.update {
                " (review the .snap.new files: `cargo insta review`, or diff and mv)"
            } else {
                " (--update writes them as .snap.new for review)"
            }
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(check_failed(anyhow::anyhow!("{}", problems.join("; "))))
    }
}

/// Runs the scenarios, at most `--jobs` at once, for the versions and profiles the
/// command line or each scenario names, and returns the reports in input order.
async fn run_all(scenarios: &[Scenario], args: &RunArgs) -> anyhow::Result<Vec<Report>> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(args.jobs as usize));
    let mut set = tokio::task::JoinSet::new();
    for (i, sc) in scenarios.iter().enumerate() {
        let sc = sc.clone();
        let sem = sem.clone();
        let versions = match args.dovecot_version {
            Some(v) => vec![v],
            None => sc.dovecot.clone(),
        };
        let profiles = args.imapc_profile.map_or(sc.imapc, ProfileChoice::from);
        // No profile named: under 2.4 its own defaults are the prediction shown (not
        // against snapshots, which hold the scenario's own profiles).
        let defaults_shown = args.imapc_profile.is_none() && args.snapshots.is_none();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = scenario_run::run_with(
                &sc,
                &versions,
                profiles,
                defaults_shown,
                Duration::from_secs(60),
            )
            .await;
            (i, sc.name.clone(), r)
        });
    }
    let mut out: Vec<Option<Report>> = vec![None; scenarios.len()];
    while let Some(joined) = set.join_next().await {
        let (i, name, r) = joined.context("a scenario task panicked")?;
        out[i] = Some(r.with_context(|| format!("scenario {name}"))?);
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every task reported"))
        .collect())
}

fn render(
    reports: &[Report],
    format: Format,
    rows: report::Rows,
    verdicts: Option<&[snapshots::Verdict]>,
) -> String {
    let mut o = String::new();
    match format {
        Format::Summary => {
            let mut failed = 0;
            for (i, r) in reports.iter().enumerate() {
                let e = r.expectation.as_ref();
                let verdict = verdicts.map(|v| &v[i]);
                let met = e.is_none_or(|e| e.met) && verdict.is_none_or(|v| v.is_same());
                failed += usize::from(!met);
                let counts = r.audit.as_ref().map_or(String::new(), |a| {
                    format!(
                        "right {} wrong {} lost {} order-lost {} not-migrated {}",
                        a.counts.right,
                        a.counts.wrong,
                        a.counts.lost,
                        a.counts.order_lost,
                        a.counts.not_migrated
                    )
                });
                let _ = writeln!(
                    o,
                    "{}  {:<48} exit {:>3}  {}",
                    if met { "ok  " } else { "FAIL" },
                    r.name,
                    r.dovecot.exit_code,
                    counts
                );
                for other in &r.other_versions {
                    let _ = writeln!(
                        o,
                        "        under Dovecot {}: exit {}",
                        other.dovecot_version, other.dovecot.exit_code
                    );
                }
                for f in e.map(|e| e.failures.as_slice()).unwrap_or_default() {
                    let _ = writeln!(o, "      - {f}");
                }
                match verdict {
                    Some(snapshots::Verdict::Missing) => {
                        let _ = writeln!(o, "      - no snapshot yet");
                    }
                    Some(snapshots::Verdict::Differs(d)) => {
                        let _ = writeln!(o, "      - report differs from its snapshot:");
                        for line in d.lines() {
                            let _ = writeln!(o, "        {line}");
                        }
                    }
                    _ => {}
                }
            }
            let _ = writeln!(o, "{} passed, {} failed", reports.len() - failed, failed);
        }
        Format::Human => {
            for r in reports {
                o.push_str(&report::human_with(r, rows));
                o.push('\n');
            }
        }
        Format::Yaml => {
            for r in reports {
                o.push_str("---\n");
                o.push_str(&r.to_yaml());
            }
        }
        Format::Json => {
            o = serde_json::to_string_pretty(reports).expect("reports serialise");
            o.push('\n');
        }
        Format::Html => o = report::html::render(reports),
        Format::Junit => o = junit::render(reports, verdicts),
        Format::Tsv => {
            let several = reports.len() > 1;
            if several {
                o.push_str("scenario\t");
            }
            o.push_str(report::TSV_HEADER);
            o.push('\n');
            for r in reports {
                for line in report::tsv_lines(r).lines() {
                    if several {
                        o.push_str(&r.name);
                        o.push('\t');
                    }
                    o.push_str(line);
                    o.push('\n');
                }
            }
        }
    }
    o
}
