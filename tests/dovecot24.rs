//! Real Dovecot 2.4.1 (a Debian 13 root built by `.ci/dovecot24-root`, entered with
//! `chroot`) beside 2.3.19.1 as the oracle: project scenarios served by the fake servers,
//! run through `doveadm backup -R imapc:` under both versions, stored rows read back.
//! The facts these runs show are written up in `docs/dovecot-versions.md`.
//!
//! Needs root and the 2.4 root (CI builds it). Without them each test prints
//! `skipped: <test>: ...` and returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use uidlmap::conformance;
use uidlmap::domain::{DovecotVersion, ImapcProfile};
use uidlmap::dovecot::{OracleOptions, OracleRun, run_backup};
use uidlmap::scenario::{Scenario, load_file, run};
use uidlmap::secret::Secret;

fn scenario(rel: &str) -> Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    load_file(&root.join("scenarios").join(rel)).expect("the scenario loads")
}

/// `true` when every version asked for can run; otherwise says which cannot on the real
/// stderr (libtest captures `eprintln!` of passing tests, and a skip must never be silent).
fn available_or_skip(test: &str, versions: &[DovecotVersion]) -> bool {
    for v in versions {
        if let Some(why) = v.unavailable_reason() {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: dovecot24::{test}: Dovecot {v} is not usable here: {why}"
            );
            return false;
        }
    }
    true
}

/// Serves a fresh copy of `sc` and runs doveadm of `version` against it, the options
/// adjusted by `adjust`.
async fn backup(
    sc: &Scenario,
    version: DovecotVersion,
    adjust: impl FnOnce(&mut OracleOptions),
) -> OracleRun {
    let pop3_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let served = run::serve(sc, pop3_l, imap_l, None).expect("fake servers start");
    let mut o = OracleOptions::same_account(
        "127.0.0.1",
        served.imap.port(),
        served.pop3.port(),
        &sc.world.user,
        Secret::new(sc.world.password.clone()),
    );
    o.version = version;
    o.settings = sc.settings.clone();
    o.timeout = Duration::from_secs(40);
    adjust(&mut o);
    let run = tokio::task::spawn_blocking(move || run_backup(o))
        .await
        .expect("the oracle thread")
        .expect("doveadm ran");
    served.stop().await;
    run
}

fn rows(run: &OracleRun) -> Vec<(String, u32, String, u32)> {
    run.messages
        .iter()
        .map(|m| (m.mailbox.clone(), m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect()
}

fn counters(run: &OracleRun) -> Vec<(u32, u32, u32, Option<u32>)> {
    run.summaries()
        .iter()
        .map(|s| {
            (
                s.cached_uidls,
                s.size_matches,
                s.total,
                s.matched_by_headers,
            )
        })
        .collect()
}

/// The same world stores the same rows under 2.3 and 2.4, under the recipe, 2.4's
/// defaults and `no-fetch-size`; and 2.4 under the recipe does what uidlmap predicts
/// for 2.3 under the docs profile (log prefixes aside, which the comparison ignores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_versions_store_the_same_rows() {
    if !available_or_skip("both_versions_store_the_same_rows", &DovecotVersion::ALL) {
        return;
    }
    let sc = scenario("basic/identical.yaml");
    let v23 = backup(&sc, DovecotVersion::V2_3, |o| {
        o.profile = ImapcProfile::Docs
    })
    .await;
    assert_eq!(v23.exit_code, 0, "{:#?}", v23.plugin_lines);
    assert_eq!(v23.messages.len(), 3);
    assert!(v23.messages.iter().all(|m| !m.pop3_uidl.is_empty()));

    let docs = backup(&sc, DovecotVersion::V2_4, |o| {
        o.profile = ImapcProfile::Docs
    })
    .await;
    let bare = backup(&sc, DovecotVersion::V2_4, |o| {
        o.profile = ImapcProfile::Bare
    })
    .await;
    let defaults = backup(&sc, DovecotVersion::V2_4, |o| o.imapc_lines = Some(vec![])).await;
    for (name, r) in [("docs", &docs), ("bare", &bare), ("defaults", &defaults)] {
        assert_eq!(r.version, DovecotVersion::V2_4);
        assert_eq!(r.exit_code, 0, "2.4 {name}: {:#?}", r.plugin_lines);
        assert_eq!(rows(r), rows(&v23), "2.4 {name}");
        assert_eq!(counters(r), [(0, 3, 3, None)], "2.4 {name}");
        assert!(
            r.log.iter().any(|l| l.contains(
                "Debug: Mailbox INBOX: pop3_migration: cached uidls=0, size matches=3, total=3"
            )),
            "2.4 {name}: {:#?}",
            r.log
        );
    }
    // The recipe and the defaults size by RFC822.SIZE; no-fetch-size downloads.
    let sent = |r: &OracleRun, what: &str| r.imapc_rawlog.sent.iter().any(|l| l.contains(what));
    assert!(sent(&docs, "(RFC822.SIZE)") && sent(&defaults, "(RFC822.SIZE)"));
    assert!(!sent(&bare, "RFC822.SIZE"), "{:#?}", bare.imapc_rawlog.sent);

    let predicted = run::predict(
        &sc,
        ImapcProfile::Docs,
        DovecotVersion::V2_4,
        Duration::from_secs(30),
    )
    .await
    .expect("uidlmap predicts");
    assert_eq!(
        conformance::compare(&predicted, &docs),
        Vec::<String>::new()
    );
}

/// Where RFC822.SIZE counts LF line ends, 2.4's defaults (like 2.3's recipe) miss every
/// size and pair by headers, while `no-fetch-size` (like 2.3's defaults) pairs by size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_size_by_rfc822_size_in_24_and_by_download_in_23() {
    if !available_or_skip(
        "defaults_size_by_rfc822_size_in_24_and_by_download_in_23",
        &DovecotVersion::ALL,
    ) {
        return;
    }
    let sc = scenario("sizes/rfc822-size-lf.yaml");
    let defaults = |o: &mut OracleOptions| o.imapc_lines = Some(vec![]);
    let d23 = backup(&sc, DovecotVersion::V2_3, defaults).await;
    let d24 = backup(&sc, DovecotVersion::V2_4, defaults).await;
    let bare24 = backup(&sc, DovecotVersion::V2_4, |o| {
        o.profile = ImapcProfile::Bare
    })
    .await;
    let docs23 = backup(&sc, DovecotVersion::V2_3, |o| {
        o.profile = ImapcProfile::Docs
    })
    .await;
    assert_eq!(counters(&d23), [(0, 3, 3, None)]);
    assert_eq!(counters(&bare24), [(0, 3, 3, None)]);
    assert_eq!(counters(&d24), [(0, 0, 3, Some(3))]);
    assert_eq!(counters(&docs23), [(0, 0, 3, Some(3))]);
    for r in [&d23, &d24, &bare24, &docs23] {
        assert_eq!(r.exit_code, 0, "{:#?}", r.plugin_lines);
        assert_eq!(rows(r), rows(&d23));
    }
}

/// 2.4 refuses plugin booleans other than yes/y/1/no: a configuration error, exit 89,
/// nothing stored. 2.3 takes `off` as yes (first letter not n/0/f).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booleans_24_refuses_what_23_takes() {
    if !available_or_skip("booleans_24_refuses_what_23_takes", &DovecotVersion::ALL) {
        return;
    }
    let sc = scenario("basic/identical.yaml");
    let off = |o: &mut OracleOptions| {
        o.raw_settings = vec![("skip_size_check".into(), "off".into())];
    };
    let r24 = backup(&sc, DovecotVersion::V2_4, off).await;
    assert_eq!(r24.exit_code, 89, "{:#?}", r24.log);
    assert!(r24.messages.is_empty());
    assert!(
        r24.plugin_says("pop3_migration_skip_size_check"),
        "{:#?}",
        r24.plugin_lines
    );
    let r23 = backup(&sc, DovecotVersion::V2_3, off).await;
    assert_eq!(r23.exit_code, 0, "{:#?}", r23.plugin_lines);
    // skip_size_check on: no LIST to POP3, no size match, all by headers.
    assert_eq!(counters(&r23), [(0, 0, 3, Some(3))]);
    assert!(!r23.pop3c_rawlog.sent.iter().any(|l| l == "LIST"));

    let y = |o: &mut OracleOptions| o.raw_settings = vec![("skip_size_check".into(), "y".into())];
    let r24 = backup(&sc, DovecotVersion::V2_4, y).await;
    assert_eq!(r24.exit_code, 0, "{:#?}", r24.plugin_lines);
    assert_eq!(counters(&r24), [(0, 0, 3, Some(3))]);
}

/// The 2.3 recipe's feature names are unknown to 2.4: doveadm stops before reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_23_feature_names_stop_24() {
    if !available_or_skip("the_23_feature_names_stop_24", &[DovecotVersion::V2_4]) {
        return;
    }
    let sc = scenario("basic/identical.yaml");
    let r = backup(&sc, DovecotVersion::V2_4, |o| {
        o.imapc_lines = Some(vec!["imapc_features = rfc822.size fetch-headers".into()]);
    })
    .await;
    assert_eq!(r.exit_code, 75, "{:#?}", r.log);
    assert!(r.messages.is_empty());
    assert!(
        r.plugin_lines
            .iter()
            .any(|l| l.contains("Unknown feature: rfc822.size")),
        "{:#?}",
        r.plugin_lines
    );
    assert!(r.pop3c_rawlog.sent.is_empty());
}

/// The version inside the root is the one the docs describe.
#[test]
fn the_root_holds_dovecot_24() {
    if !available_or_skip("the_root_holds_dovecot_24", &[DovecotVersion::V2_4]) {
        return;
    }
    let v = DovecotVersion::V2_4.installed().expect("dovecot --version");
    assert!(v.starts_with("2.4."), "{v}");
    let root: PathBuf = DovecotVersion::V2_4.root().expect("a root");
    assert!(DovecotVersion::V2_4.scratch_dir().starts_with(root));
}

/// With 2.4's defaults the sizes come one UID a command (prefetch 0), so an event tied
/// to the size fetch lands between two size fetches: the second fails, INBOX is lost.
/// Under the recipe the same world migrates all but the expunged message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_after_the_size_fetch_splits_24_defaults_from_the_recipe() {
    if !available_or_skip(
        "an_event_after_the_size_fetch_splits_24_defaults_from_the_recipe",
        &[DovecotVersion::V2_4],
    ) {
        return;
    }
    let yaml = "description: m2 is deleted through IMAP right after the first size fetch.
imapc: docs
messages:
  m1: { subject: Keep me, size: 1100 }
  m2: { subject: Delete me, size: 1200 }
  m3: { subject: Keep me too, size: 1300 }
imap:
  mailboxes:
    INBOX: [m1, m2, m3]
events:
  - after: imap.fetch_sizes
    expunge: { message: m2, imap: yes }
expect: { outcome: success }
";
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("expunge-after-size-fetch.yaml");
    std::fs::write(&path, yaml).expect("write the scenario");
    let sc = load_file(&path).expect("the scenario loads");
    let docs = backup(&sc, DovecotVersion::V2_4, |o| {
        o.profile = ImapcProfile::Docs
    })
    .await;
    assert_eq!(docs.exit_code, 75, "{:#?}", docs.plugin_lines);
    let uids: Vec<u32> = docs.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [1, 3]);
    assert!(docs.plugin_says("Remote didn't send mail UID=2"));

    let defaults = backup(&sc, DovecotVersion::V2_4, |o| o.imapc_lines = Some(vec![])).await;
    assert_eq!(defaults.exit_code, 75, "{:#?}", defaults.plugin_lines);
    assert!(defaults.messages.is_empty(), "{:#?}", defaults.messages);
    assert!(
        defaults.plugin_says(
            "pop3_migration: Failed to get psize for imap uid 2: Message was expunged"
        ),
        "{:#?}",
        defaults.plugin_lines
    );
    assert!(defaults.pop3c_rawlog.sent.is_empty());
}
