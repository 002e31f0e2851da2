//! One test per scenario file: run it end to end against the fake servers, check its
//! expectations, and compare the full report with its reviewed snapshot
//! (`scenarios/a/b.yaml` ↔ `snapshots/a/b.snap`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rstest::rstest;
use uidlmap::scenario::{discover, load_file, run};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_scenario(
    #[files("scenarios/**/*.yaml")]
    #[exclude("_fixtures")]
    path: PathBuf,
) {
    let sc = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        run::run(&sc, Duration::from_secs(30)),
    )
    .await
    .expect("the scenario finished within 60 s")
    .unwrap_or_else(|e| panic!("{}: {e}", sc.name));

    let rel = path
        .strip_prefix(root().join("scenarios"))
        .expect("under scenarios/")
        .with_extension("");
    let dir = root()
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
    settings.bind(|| insta::assert_snapshot!(name, report.to_yaml()));

    let exp = report
        .expectation
        .as_ref()
        .expect("run sets the expectation");
    assert!(
        exp.met,
        "{}: expectation not met:\n  {}\n\n{}",
        sc.name,
        exp.failures.join("\n  "),
        uidlmap::report::human(&report)
    );
}

#[test]
fn the_library_is_not_empty() {
    let files = discover(&[root().join("scenarios")]).expect("scenarios/ loads");
    assert!(files.len() >= 40, "only {} scenarios", files.len());
}
