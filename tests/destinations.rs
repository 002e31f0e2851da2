//! The destination decides what is kept of a UIDL. Real Dovecot (2.3.19.1, and 2.4.1
//! where its root is built) migrates one world of odd UIDLs
//! (`scenarios/destinations/odd-uidls-*.yaml`: spaces inside, leading, trailing and
//! alone, a tab, 8-bit bytes, 1000 bytes) into maildir, sdbox and mdbox; `doveadm fetch`
//! reads each destination back. Every stored UIDL must be what
//! [`Destination::keeps`] says, and uidlmap's prediction for that destination must agree
//! with the run ([`conformance::compare`]). The rows are printed (`--nocapture`): they
//! are the evidence behind `docs/dsync.md`.
//!
//! Needs root and Dovecot; without them each test prints `skipped: …` and passes.

mod support;

use std::io::Write;
use std::time::Duration;

use tokio::net::TcpListener;
use uidlmap::conformance;
use uidlmap::domain::{Destination, DovecotVersion, ImapcProfile, Stored};
use uidlmap::dovecot::{OracleOptions, OracleRun, run_backup};
use uidlmap::scenario::{Scenario, run};
use uidlmap::secret::Secret;

/// Serves a fresh copy of `sc` and migrates it with doveadm of `version` into the
/// scenario's destination.
async fn backup(sc: &Scenario, version: DovecotVersion) -> OracleRun {
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
    o.profile = ImapcProfile::Docs;
    o.destination = sc.destination;
    o.timeout = Duration::from_secs(40);
    let run = tokio::task::spawn_blocking(move || run_backup(o))
        .await
        .expect("the oracle thread")
        .expect("doveadm ran");
    served.stop().await;
    run
}

/// Runs the odd-UIDL world into `dest` under `version` and checks every stored UIDL.
async fn check(version: DovecotVersion, dest: Destination) {
    let mut sc = support::scenario(&format!("destinations/odd-uidls-{dest}.yaml"));
    assert_eq!(sc.destination, dest, "the scenario names its destination");
    sc.destination = dest;
    let real = backup(&sc, version).await;
    let predicted = run::predict(&sc, ImapcProfile::Docs, version, Duration::from_secs(30))
        .await
        .expect("uidlmap predicts");
    assert_eq!(predicted.destination, dest.name());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Dovecot {version} into {dest}: exit {}",
        real.exit_code
    );
    assert_eq!(real.exit_code, 0, "{:#?}", real.plugin_lines);
    let pop3: Vec<&str> = sc
        .world
        .pop3
        .messages
        .iter()
        .map(|m| m.uidl.as_str())
        .collect();
    assert_eq!(real.messages.len(), pop3.len());
    for (m, sent) in real.messages.iter().zip(&pop3) {
        let shown = |s: &str| {
            if s.len() > 40 {
                format!("{:?}… ({} bytes)", &s[..12], s.len())
            } else {
                format!("{s:?}")
            }
        };
        let _ = writeln!(
            out,
            "  UID {}: POP3 UIDL {} stored as {} (order {})",
            m.uid,
            shown(sent),
            shown(&m.pop3_uidl),
            m.pop3_order
        );
        match dest.keeps(sent) {
            Stored::Uidl(kept) => assert_eq!(m.pop3_uidl, kept, "UID {}", m.uid),
            // Dovecot serves the maildir base file name: `<secs>.M<usecs>P<pid>.<host>…`.
            Stored::FileName => assert!(
                m.pop3_uidl.contains(".M") && m.pop3_uidl.contains(",S="),
                "UID {}: {:?} is not a maildir file name",
                m.uid,
                m.pop3_uidl
            ),
        }
        assert_eq!(m.pop3_order, m.uid, "the size pass pairs in order");
    }
    let diffs = conformance::compare(&predicted, &real);
    assert!(diffs.is_empty(), "{dest} under {version}: {diffs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_destination_keeps_what_uidlmap_says_23() {
    if !support::dovecot_or_skip("destinations::each_destination_keeps_what_uidlmap_says_23") {
        return;
    }
    for dest in Destination::ALL {
        check(DovecotVersion::V2_3, dest).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_destination_keeps_what_uidlmap_says_24() {
    if let Some(why) = DovecotVersion::V2_4.unavailable_reason() {
        support::skip(
            "destinations::each_destination_keeps_what_uidlmap_says_24",
            &format!("Dovecot 2.4 is not usable here: {why}"),
        );
        return;
    }
    for dest in Destination::ALL {
        check(DovecotVersion::V2_4, dest).await;
    }
}

/// The evidence behind each rule of `docs/dsync.md`: one scenario per rule through
/// Dovecot 2.3.19.1 (imapc docs profile), printing doveadm's exit code, what each
/// mailbox stored and every warning, error, fatal or panic line. Run with `cargo test
/// --test destinations -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints measurements; run by hand"]
async fn dsync_rules_evidence() {
    if !support::dovecot_or_skip("destinations::dsync_rules_evidence") {
        return;
    }
    let cases: [(&str, Option<Destination>); 12] = [
        ("dovecot-bugs/failed-inbox-stops-later-folders.yaml", None),
        ("dovecot-bugs/all-mailboxes-abort.yaml", None),
        ("race/expunge-both-mid-run.yaml", None),
        ("race/delivery-after-pop3-listing.yaml", None),
        ("dovecot-bugs/empty-uidl-shift.yaml", None),
        ("destinations/empty-uidl-sdbox.yaml", None),
        ("uidls/spaces.yaml", None),
        ("destinations/spaces-sdbox.yaml", None),
        (
            "destinations/folder-dots-sdbox.yaml",
            Some(Destination::Maildir),
        ),
        ("destinations/folder-dots-sdbox.yaml", None),
        ("faults/no-uidl-capability.yaml", None),
        ("faults/in-use.yaml", None),
    ];
    let mut out = std::io::stdout().lock();
    for (rel, dest) in cases {
        let mut sc = support::scenario(rel);
        if let Some(d) = dest {
            sc.destination = d;
        }
        let run = backup(&sc, DovecotVersion::V2_3).await;
        let _ = writeln!(
            out,
            "## {rel} into {}: doveadm exit {}",
            sc.destination, run.exit_code
        );
        let mut boxes: Vec<(&str, Vec<String>)> = Vec::new();
        for m in &run.messages {
            let row = format!("{}:{:?}:{}", m.uid, m.pop3_uidl, m.pop3_order);
            match boxes.iter_mut().find(|(n, _)| *n == m.mailbox) {
                Some((_, rows)) => rows.push(row),
                None => boxes.push((&m.mailbox, vec![row])),
            }
        }
        for (name, rows) in boxes {
            let _ = writeln!(out, "  stored {name:?}: {}", rows.join(" "));
        }
        for l in &run.plugin_lines {
            let _ = writeln!(out, "  log: {l}");
        }
    }
    // Folder names per destination under 2.4.1 too, where its root is built.
    if DovecotVersion::V2_4.unavailable_reason().is_some() {
        return;
    }
    for dest in Destination::ALL {
        let mut sc = support::scenario("destinations/folder-dots-sdbox.yaml");
        sc.destination = dest;
        let run = backup(&sc, DovecotVersion::V2_4).await;
        let mut names: Vec<&str> = run.messages.iter().map(|m| m.mailbox.as_str()).collect();
        names.dedup();
        let _ = writeln!(
            out,
            "## Dovecot 2.4 folder-dots-sdbox into {dest}: exit {}, mailboxes {names:?}",
            run.exit_code
        );
    }
}
