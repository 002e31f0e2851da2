//! One test per scenario file: run it end to end against the fake servers, check its
//! expectations, and compare the full report with its reviewed snapshot
//! (`scenarios/a/b.yaml` ↔ `snapshots/a/b.snap`).
//!
//! The scenario files are found when the test binary runs, not when it is built
//! (`harness = false`, with libtest-mimic for libtest's command line: filters, `--list`,
//! `--ignored`, `--exact`), so adding or editing a scenario rebuilds nothing. Each test is
//! named by its file, without `.yaml`: `cargo test --test scenarios -- basic/empty`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use uidlmap::scenario::{discover, load_file, run};

fn main() {
    let args = Arguments::from_args();
    let scenarios = support::root().join("scenarios");
    let files = discover(std::slice::from_ref(&scenarios)).expect("scenarios/ loads");
    let mut trials = vec![Trial::test("the_library_is_not_empty", {
        let n = files.len();
        move || {
            if n >= 40 {
                Ok(())
            } else {
                Err(format!("only {n} scenarios").into())
            }
        }
    })];
    for path in files {
        let rel = path
            .strip_prefix(&scenarios)
            .expect("under scenarios/")
            .with_extension("");
        let name = rel.to_string_lossy().into_owned();
        trials.push(Trial::test(name, move || run_scenario(&path, &rel)));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs one scenario (`rel` is its path under `scenarios/` without `.yaml`) on a runtime
/// of its own, as `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` would.
fn run_scenario(path: &Path, rel: &Path) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let sc = load_file(path).map_err(|e| e.to_string())?;
    let report = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(60),
                run::run(&sc, Duration::from_secs(30)),
            )
            .await
        })
        .map_err(|_| "the scenario did not finish within 60 s".to_string())?
        .map_err(|e| format!("{}: {e}", sc.name))?;

    let dir: PathBuf = support::root()
        .join("snapshots")
        .join(rel.parent().unwrap_or(Path::new("")));
    let name = rel
        .file_name()
        .expect("a file")
        .to_string_lossy()
        .into_owned();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(sc.description.clone());
    // insta reports a mismatch by panicking; libtest-mimic turns the panic into a failure.
    let snapshot = summarised(&report);
    settings.bind(|| insta::assert_snapshot!(name, snapshot));

    let exp = report
        .expectation
        .as_ref()
        .ok_or("run sets the expectation")?;
    if exp.met {
        Ok(())
    } else {
        Err(format!(
            "{}: expectation not met:\n  {}\n\n{}",
            sc.name,
            exp.failures.join("\n  "),
            uidlmap::report::human(&report)
        )
        .into())
    }
}

/// Mailboxes with more messages than this are summarised in snapshots.
const SNAPSHOT_ROWS: usize = 100;

/// The report as YAML; a mailbox of more than [`SNAPSHOT_ROWS`] messages keeps its first
/// five, its last five and every message whose verdict is not right, a POP3 listing that
/// long its first and last five, and a closing line says so, so that a 10,000-message
/// world has a snapshot a person can review.
fn summarised(report: &uidlmap::report::Report) -> String {
    let mut r = report.clone();
    let mut notes = Vec::new();
    for mb in &mut r.dovecot.mailboxes {
        let n = mb.messages.len();
        if n <= SNAPSHOT_ROWS {
            continue;
        }
        let keep = |i: usize, m: &uidlmap::report::MessageReport| {
            i < 5 || i >= n - 5 || m.verdict.as_deref().is_some_and(|v| v != "right")
        };
        mb.messages = std::mem::take(&mut mb.messages)
            .into_iter()
            .enumerate()
            .filter(|(i, m)| keep(*i, m))
            .map(|(_, m)| m)
            .collect();
        notes.push(format!(
            "# summarised: {} of {n} messages of {} shown (first 5, last 5, every one not right)",
            mb.messages.len(),
            mb.name
        ));
    }
    if let Some(pop3) = r.pop3.as_mut().filter(|p| p.len() > SNAPSHOT_ROWS) {
        let n = pop3.len();
        *pop3 = std::mem::take(pop3)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i < 5 || *i >= n - 5)
            .map(|(_, p)| p)
            .collect();
        notes.push(format!(
            "# summarised: 10 of {n} POP3 messages shown (first 5, last 5)"
        ));
    }
    let mut out = r.to_yaml();
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}
