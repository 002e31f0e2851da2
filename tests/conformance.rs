//! Conformance with real Dovecot 2.3.19.1 and 2.4.1: every scenario under `scenarios/`,
//! under each imapc profile it is about and each version, run through `doveadm backup -R imapc:` with the
//! pop3_migration plugin and compared with uidlmap's prediction
//! ([`uidlmap::conformance`], the same code as `uidlmap conformance`).
//!
//! Needs Dovecot and root (CI has both). Without them each test prints
//! `skipped: <test>: ...` and returns.

mod support;

use std::time::{Duration, Instant};

use support::{dovecot_or_skip, uidlmap};
use uidlmap::conformance::{self, Options, Verdict};
use uidlmap::domain::{DovecotVersion, ImapcProfile};
use uidlmap::scenario::load_file;

const START: &str = "<!-- conformance:start -->";
const END: &str = "<!-- conformance:end -->";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_agrees_with_real_dovecot() {
    if !dovecot_or_skip("every_scenario_agrees_with_real_dovecot") {
        return;
    }
    let scenarios =
        conformance::load(&[support::root().join("scenarios")]).expect("scenarios/ loads");
    let n_scenarios = scenarios.len();
    let opts = Options::default();
    let started = Instant::now();
    let cases = tokio::time::timeout(
        Duration::from_secs(600),
        conformance::check_all(scenarios, &opts),
    )
    .await
    .expect("the conformance suite finished within 10 minutes");
    let summary = conformance::summary(&cases);
    println!("{summary}");
    println!(
        "{} scenarios, {} runs in {:.1} s with {} jobs",
        n_scenarios,
        cases.len(),
        started.elapsed().as_secs_f64(),
        opts.jobs
    );
    let n = conformance::counts(&cases);
    assert!(
        n_scenarios >= 40 && cases.len() >= n_scenarios,
        "only {} runs of {n_scenarios} scenarios",
        cases.len()
    );
    assert_eq!(
        (n.disagree, n.error),
        (0, 0),
        "uidlmap disagrees with Dovecot:\n{summary}"
    );

    // README.md's table is what `uidlmap conformance scenarios/ --format table` prints,
    // with both versions: it cannot be checked where one of them could not run.
    if let Some(Verdict::Skipped(why)) = cases
        .iter()
        .map(|c| &c.verdict)
        .find(|v| matches!(v, Verdict::Skipped(w) if w.contains("not usable")))
    {
        eprintln!("skipped: every_scenario_agrees_with_real_dovecot: README table check: {why}");
        return;
    }
    let readme = std::fs::read_to_string(support::root().join("README.md")).expect("README.md");
    let table = readme
        .split_once(START)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(t, _)| t.trim())
        .expect("README.md has the conformance markers");
    assert_eq!(
        table,
        conformance::table(&cases).trim(),
        "README.md's conformance table is stale: paste `uidlmap conformance scenarios/ --format table` between the markers"
    );
}

/// The comparison is not blind: a real run that agrees, altered in each compared
/// respect, disagrees in exactly that respect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_difference_is_caught() {
    if !dovecot_or_skip("each_kind_of_difference_is_caught") {
        return;
    }
    let sc =
        load_file(&support::root().join("scenarios/dovecot-bugs/duplicate-headers-swapped.yaml"))
            .expect("loads");
    let opts = Options::default();
    let profile = ImapcProfile::Docs;
    let predicted = uidlmap::scenario::run::predict(
        &sc,
        profile,
        uidlmap::domain::DovecotVersion::V2_3,
        opts.predict_timeout,
    )
    .await
    .expect("predicts");
    let real = tokio::time::timeout(
        Duration::from_secs(60),
        conformance::run_dovecot(&sc, profile, DovecotVersion::V2_3, &opts),
    )
    .await
    .expect("in time")
    .expect("Dovecot ran");
    assert_eq!(
        conformance::compare(&predicted, &real),
        Vec::<String>::new()
    );
    assert!(!real.messages.is_empty());

    let mut r = real.clone();
    r.messages[0].pop3_uidl.push('x');
    let d = conformance::compare(&predicted, &r);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("UID 1: predicted UIDL"), "{d:?}");

    let mut r = real.clone();
    r.messages[0].pop3_order += 1;
    assert_eq!(conformance::compare(&predicted, &r).len(), 1);

    let mut r = real.clone();
    r.messages.pop();
    let d = conformance::compare(&predicted, &r);
    assert!(d[0].contains("Dovecot did not store it"), "{d:?}");

    let mut r = real.clone();
    r.exit_code = 75;
    let d = conformance::compare(&predicted, &r);
    assert_eq!(d, ["exit code: predicted 0, Dovecot 75"]);

    let mut r = real.clone();
    r.log.push(
        "dsync(uidlmap): Warning: Mailbox INBOX: pop3_migration: UIDL for msg 9 is empty".into(),
    );
    let d = conformance::compare(&predicted, &r);
    assert_eq!(
        d,
        ["Dovecot logged, not predicted: Warning: pop3_migration: UIDL for msg 9 is empty"]
    );

    // The plugin's counters: drop the debug line Dovecot logged.
    let mut r = real.clone();
    r.log
        .retain(|l| !l.contains("pop3_migration: cached uidls="));
    let d = conformance::compare(&predicted, &r);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("cached uidls="), "{d:?}");
}

#[test]
fn the_command_prints_the_table_and_exits_by_agreement() {
    let out = uidlmap([
        "conformance",
        "--format",
        "table",
        "--jobs",
        "2",
        "--dovecot-version",
        "2.3",
        "scenarios/basic",
    ]);
    if !dovecot_or_skip("the_command_prints_the_table_and_exits_by_agreement") {
        assert_eq!(out.code, 69, "Dovecot missing means EX_UNAVAILABLE");
        return;
    }
    let stdout = &out.stdout;
    assert_eq!(out.code, 0, "{stdout}\n{}", out.stderr);
    assert!(stdout.starts_with("| scenario | 2.3 docs | 2.3 bare |\n|---|---|---|\n"));
    assert!(
        stdout.contains("| `basic/identical` | agree | agree |"),
        "{stdout}"
    );

    let bad = uidlmap(["conformance", "/nonexistent/scenarios"]);
    assert_eq!(bad.code, 66, "EX_NOINPUT: {}", bad.stderr);
}

#[test]
fn verdicts_serialise_with_their_detail() {
    let v = serde_json::to_value(Verdict::Disagree(vec!["exit code".into()])).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"verdict": "disagree", "detail": ["exit code"]})
    );
}

#[tokio::test]
async fn a_scenario_dovecot_cannot_run_is_skipped_with_its_reason() {
    let mut sc = load_file(&support::root().join("scenarios/basic/identical.yaml")).expect("loads");
    sc.knobs.pop3.stls = true;
    let case = tokio::time::timeout(
        Duration::from_secs(30),
        conformance::check_case(
            &sc,
            ImapcProfile::Docs,
            DovecotVersion::V2_3,
            &Options::default(),
        ),
    )
    .await
    .expect("in time");
    match &case.verdict {
        Verdict::Skipped(why) => assert!(
            why.contains("STLS") || why.contains("Dovecot not usable"),
            "{why}"
        ),
        other => panic!("expected a skip, got {other:?}"),
    }
    assert_eq!(case.dovecot_exit, None);
}

/// imapc over STARTTLS to the fake IMAP server, trusting the run's test CA: the same
/// answer as in plain text (no scenario in `scenarios/` uses TLS yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imapc_over_starttls_agrees() {
    if !dovecot_or_skip("imapc_over_starttls_agrees") {
        return;
    }
    let mut sc = load_file(&support::root().join("scenarios/order/reversed.yaml")).expect("loads");
    sc.knobs.imap.starttls = true;
    let case = tokio::time::timeout(
        Duration::from_secs(90),
        conformance::check_case(
            &sc,
            ImapcProfile::Docs,
            DovecotVersion::V2_3,
            &Options::default(),
        ),
    )
    .await
    .expect("in time");
    assert_eq!(case.verdict, Verdict::Agree, "{case:?}");
    let real = conformance::run_dovecot(
        &sc,
        ImapcProfile::Docs,
        DovecotVersion::V2_3,
        &Options::default(),
    )
    .await
    .expect("Dovecot ran");
    assert!(
        real.imapc_rawlog
            .sent
            .iter()
            .any(|l| l.contains("STARTTLS")),
        "imapc did not use STARTTLS: {:?}",
        real.imapc_rawlog.sent
    );
    assert_eq!(real.exit_code, 0);
}
