//! The `uidlmap` binary as a user runs it: `run`, `serve` and `scenario`, their outputs
//! and their exit codes.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{command, output, root, tempdir, uidlmap, write_file};

#[test]
fn run_prints_one_row_per_scenario_and_exits_0() {
    let out = uidlmap(["run", "scenarios/order", "scenarios/basic/identical.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stdout = out.stdout;
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("ok") && r.contains("order/reversed"))
    );
    assert!(rows.iter().any(|r| r.contains("basic/identical")));
    let files = std::fs::read_dir(root().join("scenarios/order"))
        .unwrap()
        .count();
    assert_eq!(
        rows.last(),
        Some(&format!("{} passed, 0 failed", files + 1).as_str())
    );
}

#[test]
fn run_tsv_is_what_dovecot_stores() {
    let out = uidlmap(["run", "--format", "tsv", "scenarios/order/reversed.yaml"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "mailbox\tuid\tpop3_uidl\tpop3_order\n\
         INBOX\t1\tUID1-1\t4\nINBOX\t2\tUID2-1\t3\nINBOX\t3\tUID3-1\t2\nINBOX\t4\tUID4-1\t1\n"
    );
    // A mailbox whose sync fails stores nothing, and dsync stops after it.
    let out = uidlmap([
        "run",
        "--format",
        "tsv",
        "scenarios/dovecot-bugs/failed-inbox-stops-later-folders.yaml",
    ]);
    let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    assert!(lines.iter().all(|l| !l.starts_with("INBOX\t")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.starts_with("Sent\t")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("Alpha\t")), "{lines:?}");
}

/// Under 2.4 no `--imapc-profile` means 2.4's own defaults (RFC822.SIZE one UID a
/// command): the event after the first size command fails INBOX, nothing stored, where
/// the recipe the scenario is about stores two rows (both measured with 2.4.1,
/// docs/dovecot-versions.md "An event tied to the size fetch").
#[test]
fn run_under_2_4_without_a_profile_predicts_its_defaults() {
    let tsv = |extra: &[&str]| {
        let mut a = vec!["run", "--dovecot-version", "2.4", "--format", "tsv"];
        a.extend_from_slice(extra);
        a.push("scenarios/versions/expunge-after-size-fetch.yaml");
        uidlmap(a).stdout
    };
    let header = "mailbox\tuid\tpop3_uidl\tpop3_order\n";
    assert_eq!(tsv(&[]), header);
    assert_eq!(tsv(&["--imapc-profile", "defaults"]), header);
    assert_eq!(
        tsv(&["--imapc-profile", "docs"]),
        format!("{header}INBOX\t1\tm1\t1\nINBOX\t3\tm3\t3\n")
    );
    // 2.3's defaults are bare's: no RFC822.SIZE is sent, the event never fires.
    let out = uidlmap([
        "run",
        "--dovecot-version",
        "2.3",
        "--imapc-profile",
        "defaults",
        "--format",
        "tsv",
        "scenarios/versions/defaults-expunge-after-first-size.yaml",
    ]);
    assert_eq!(out.stdout.lines().count(), 4, "{}", out.stdout);
}

/// `run --destination` replaces every scenario's own: the maildir scenario
/// `uidls/spaces` into sdbox keeps its UIDLs whole (and so misses its `wrong: 2`).
#[test]
fn run_destination_replaces_the_scenarios() {
    let tsv = |dest: &str| {
        uidlmap([
            "run",
            "--format",
            "tsv",
            "--destination",
            dest,
            "scenarios/uidls/spaces.yaml",
        ])
    };
    let out = tsv("maildir");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.ends_with("INBOX\t1\tabc\t1\nINBOX\t2\tghi\t2\n"));
    let out = tsv("sdbox");
    assert_eq!(out.code, 1, "the expectation is maildir's: {}", out.stderr);
    assert!(
        out.stdout
            .ends_with("INBOX\t1\tabc def\t1\nINBOX\t2\tghi jkl mno\t2\n"),
        "{}",
        out.stdout
    );
    let out = uidlmap([
        "run",
        "--format",
        "yaml",
        "scenarios/destinations/spaces-sdbox.yaml",
    ]);
    assert!(
        out.stdout.contains("\ndestination: sdbox\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn run_output_is_deterministic() {
    let a = uidlmap(["run", "--format", "yaml", "scenarios/providers"]);
    let b = uidlmap([
        "run",
        "--format",
        "yaml",
        "--jobs",
        "1",
        "scenarios/providers",
    ]);
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.contains("127.0.0.1:"), "no ports in reports");
}

#[test]
fn unmet_expectation_exits_1_and_says_why() {
    let dir = tempdir();
    let src =
        std::fs::read_to_string(root().join("scenarios/order/crossed-equal-sizes.yaml")).unwrap();
    // The scenario expects 2 wrong UIDLs; claim none.
    let changed = src.replace("wrong: 2", "wrong: 0");
    assert_ne!(src, changed, "the scenario states its wrong count");
    let path = write_file(dir.path(), "crossed.yaml", changed);
    let out = output(command().arg("run").arg(&path));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("FAIL"));
    assert!(out.stdout.contains("expected 0 wrong UIDLs, got 2"));
    assert!(out.stderr.contains("did not meet their expectations"));
}

#[test]
fn malformed_scenario_exits_65_with_file_line_column() {
    let dir = tempdir();
    let path = write_file(
        dir.path(),
        "bad.yaml",
        "description: x\nsettings: { skip_uidl_check: yes }\nexpect: { outcome: success }\n",
    );
    for args in [vec!["run"], vec!["scenario", "check"]] {
        let out = output(command().args(&args).arg(&path));
        assert_eq!(out.code, 65, "{args:?}: EX_DATAERR");
        let err = &out.stderr;
        assert!(
            err.contains(&format!("{}:2:", path.display())),
            "{args:?}: {err}"
        );
        assert!(
            out.stdout.is_empty() || args[0] == "scenario",
            "nothing run: {}",
            out.stdout
        );
    }
    let out = uidlmap(["run", "scenarios/does-not-exist"]);
    assert_eq!(out.code, 66, "EX_NOINPUT: {}", out.stderr);
}

#[test]
fn scenario_check_and_schema() {
    let out = uidlmap(["scenario", "check", "scenarios"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("scenario files are valid"));
    let out = uidlmap(["scenario", "schema"]);
    assert_eq!(out.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(schema["properties"]["messages"].is_object(), "{schema}");
}

#[test]
fn serve_prints_a_ready_line_and_serves_pop3_and_imap() {
    let mut child = command()
        .args(["serve", "scenarios/order/reversed.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    let pop3 = ready["pop3"].as_str().unwrap().to_string();
    assert!(pop3.starts_with("127.0.0.1:"), "{line}");
    assert_eq!(
        ready["settings"]["pop3_migration_mailbox"],
        "POP3-MIGRATION-NS/INBOX"
    );
    let user = ready["user"].as_str().unwrap();
    let password = ready["password"].as_str().unwrap();

    let mut s = TcpStream::connect(&pop3).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "USER {user}\r\nPASS {password}\r\nUIDL\r\nQUIT\r\n").unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert!(
        got.contains("\r\n1 UID4-1\r\n"),
        "POP3 lists newest first: {got}"
    );

    let mut s = TcpStream::connect(ready["imap"].as_str().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "a LOGIN \"{user}\" \"{password}\"\r\nb EXAMINE INBOX\r\nc LOGOUT\r\n"
    )
    .unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert!(got.contains("* 4 EXISTS"), "{got}");

    terminate(&child);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "serve ends cleanly on SIGTERM: {status:?}"
    );
}

fn terminate(child: &std::process::Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
}

#[test]
fn human_output_of_a_big_mailbox_shows_the_summary_first_and_only_problems() {
    // 57 messages in the same order on both sides, then the crossed pair of
    // dovecot-bugs/positional-size-crossed: 60 in all, 2 wrong.
    let ids: Vec<String> = (1..=57).map(|n| format!("m{n}")).collect();
    // Sizes all different, so that the size pass pairs every message by position.
    let mut messages: String = (1..=57)
        .map(|n| format!("  m{n}: {{ size: {} }}\n", 1000 + 10 * n))
        .collect();
    messages.push_str(
        "  a: { subject: \"Statement March\", size: 3000 }\n  \
         a2: { subject: \"Statement April\", size: 3000 }\n  \
         c: { subject: Unrelated, size: 1800 }\n",
    );
    let list = ids.join(", ");
    let yaml = format!(
        "description: A big mailbox with one crossed pair.\nmessages:\n{messages}\
         imap:\n  mailboxes:\n    INBOX: [{list}, a2, c, a]\n\
         pop3:\n  messages: [{list}, a, c, a2]\n\
         expect: {{ outcome: success, wrong: 2 }}\n"
    );
    let dir = tempdir();
    let path = write_file(dir.path(), "big.yaml", yaml);
    let path = path.display().to_string();
    let out = uidlmap(["run", "--format", "human", &path]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = &out.stdout;
    let audit = text
        .find("audit: 58 right, 2 wrong")
        .expect("the audit line");
    let table = text.find("  INBOX: synced").expect("the mailbox");
    assert!(audit < table, "summary first:\n{text}");
    assert!(
        text.contains("2 of 60 rows shown: those not right (--rows all shows every row)"),
        "{text}"
    );
    assert_eq!(text.matches("wrong (positional size pairing)").count(), 2);
    assert!(text.lines().count() < 20, "{text}");

    let all = uidlmap(["run", "--format", "human", "--rows", "all", &path]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(
        all.stdout.matches("  size  right").count(),
        58,
        "{}",
        all.stdout
    );
}

/// A copy of one snapshot folder, for `run --snapshots` to compare with and write into.
fn snapshot_copy(family: &str) -> tempfile::TempDir {
    let dir = tempdir();
    let to = dir.path().join(family);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(root().join("snapshots").join(family)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    dir
}

#[test]
fn run_snapshots_compares_prints_the_diff_and_updates_for_review() {
    let dir = snapshot_copy("order");
    let snaps = dir.path().to_str().unwrap().to_string();
    let out = uidlmap(["run", "--snapshots", &snaps, "scenarios/order"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // A changed snapshot: the run fails, shows both sides, and --update leaves the new
    // report beside it, byte for byte the reviewed one.
    let snap = dir.path().join("order/reversed.snap");
    let good = std::fs::read_to_string(&snap).unwrap();
    std::fs::write(&snap, good.replace("uidl: UID2-1", "uidl: UID2-9")).unwrap();
    let out = uidlmap([
        "run",
        "--snapshots",
        &snaps,
        "scenarios/order/reversed.yaml",
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("FAIL  order/reversed"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-      uidl: UID2-9"), "{}", out.stdout);
    assert!(out.stdout.contains("+      uidl: UID2-1"), "{}", out.stdout);
    assert!(
        out.stderr.contains("not their snapshots: order/reversed"),
        "{}",
        out.stderr
    );
    let pending = dir.path().join("order/reversed.snap.new");
    assert!(!pending.exists());
    let out = uidlmap([
        "run",
        "--snapshots",
        &snaps,
        "--update",
        "scenarios/order/reversed.yaml",
    ]);
    assert_eq!(out.code, 1);
    assert_eq!(std::fs::read_to_string(&pending).unwrap(), good);

    // Once the snapshot is right again, the pending file goes.
    std::fs::write(&snap, &good).unwrap();
    let out = uidlmap([
        "run",
        "--snapshots",
        &snaps,
        "--update",
        "scenarios/order/reversed.yaml",
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(!pending.exists());

    // A scenario without a snapshot fails as such.
    std::fs::remove_file(&snap).unwrap();
    let out = uidlmap([
        "run",
        "--snapshots",
        &snaps,
        "scenarios/order/reversed.yaml",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("no snapshot yet"), "{}", out.stdout);
}

#[test]
fn run_junit_has_one_case_per_scenario_and_says_why_one_failed() {
    let dir = snapshot_copy("order");
    let snaps = dir.path().to_str().unwrap().to_string();
    let snap = dir.path().join("order/rotated.snap");
    let good = std::fs::read_to_string(&snap).unwrap();
    std::fs::write(&snap, good.replace("right: 4", "right: 3")).unwrap();
    let out = uidlmap([
        "run",
        "--format",
        "junit",
        "--snapshots",
        &snaps,
        "scenarios/order",
    ]);
    assert_eq!(out.code, 1);
    let files = std::fs::read_dir(root().join("scenarios/order"))
        .unwrap()
        .count();
    assert!(
        out.stdout
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites")
    );
    assert_eq!(out.stdout.matches("<testcase ").count(), files);
    assert!(
        out.stdout
            .contains(&format!("tests=\"{files}\" failures=\"1\""))
    );
    assert_eq!(out.stdout.matches("<failure ").count(), 1);
    assert!(out.stdout.contains("<testcase classname=\"scenarios.order\" name=\"rotated\">\n    <failure message=\"report differs from its snapshot:\">"), "{}", out.stdout);
    assert!(
        out.stdout.contains("-  right: 3\n+  right: 4"),
        "{}",
        out.stdout
    );
}
