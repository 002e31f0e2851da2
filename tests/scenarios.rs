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
    // insta reports a mismatch by panicking (after printing the diff); catch it, so that
    // a failed expectation is reported too, as an expectation.
    let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, report.snapshot_yaml()))
    }));

    let exp = report
        .expectation
        .as_ref()
        .ok_or("run sets the expectation")?;
    let also = if snapshot.is_err() {
        "\n\nThe report also differs from its snapshot (diff above)."
    } else {
        ""
    };
    if !exp.met {
        return Err(format!(
            "{}: expectation not met:\n  {}{also}\n\n{}",
            sc.name,
            exp.failures.join("\n  "),
            uidlmap::report::human(&report)
        )
        .into());
    }
    match snapshot {
        Ok(()) => Ok(()),
        Err(_) => Err(format!(
            "{}: the report differs from its snapshot (diff above)",
            sc.name
        )
        .into()),
    }
}
