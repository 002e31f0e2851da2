//! Scenario files: every file of the library loads; malformed inputs are reported at
//! file:line:column with what was expected; the README's examples load; the JSON Schema
//! lists exactly the keys the loader accepts.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fake_servers::script::{FaultAction, Phase, Protocol, WorldChange};
use fake_servers::{Script, SharedWorld};
use support::{scenario, tempdir};
use uidlmap::scenario::{
    self, Outcome, ProfileChoice, ScenarioError, check, discover, json_schema, load_file, load_str,
};

/// The scenario library, `scenarios/`.
fn root() -> PathBuf {
    support::root().join("scenarios")
}

/// Loads a scenario text as `t/case.yaml` and returns its first error's headline.
fn first_error(text: &str) -> String {
    match load_str(text, Path::new("t/case.yaml"), Path::new("t")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => {
            let d = e.diagnostics();
            assert!(!d.is_empty(), "no diagnostics: {e}");
            d[0].headline()
        }
    }
}

fn all_errors(text: &str) -> Vec<String> {
    match load_str(text, Path::new("t/case.yaml"), Path::new("t")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diagnostics().iter().map(|d| d.headline()).collect(),
    }
}

// ---------------------------------------------------------------------------------------
// The library

#[test]
fn every_library_file_loads() {
    let files = discover(&[root()]).expect("scenarios/ is searchable");
    assert!(files.len() >= 40, "only {} scenarios", files.len());
    let mut families = BTreeSet::new();
    for f in &files {
        let s = load_file(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.description.is_empty() && !s.description.contains('\n'));
        assert!(
            !s.name.contains('\\') && !s.name.ends_with(".yaml"),
            "{}",
            s.name
        );
        families.insert(s.name.split('/').next().unwrap().to_string());
        // Ground truth covers every IMAP message of the world.
        for mb in &s.world.imap.mailboxes {
            assert_eq!(
                s.truth.imap[&mb.name].len(),
                mb.messages.len(),
                "{}",
                s.name
            );
        }
    }
    for family in [
        "basic",
        "order",
        "sizes",
        "folders",
        "race",
        "providers",
        "faults",
        "uidls",
        "dovecot-bugs",
    ] {
        assert!(families.contains(family), "no scenario in {family}/");
    }
    // _fixtures and README are never taken for scenarios.
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("_fixtures"))
    );
}

#[test]
fn every_profile_has_a_scenario() {
    let files = discover(&[root().join("providers")]).unwrap();
    let used: BTreeSet<String> = files
        .iter()
        .filter_map(|f| load_file(f).unwrap().profile)
        .collect();
    for p in fake_servers::profiles::PROFILES {
        assert!(
            used.contains(p.name),
            "no providers/ scenario for {}",
            p.name
        );
    }
}

#[test]
fn names_and_paths() {
    let s = scenario("order/reversed.yaml");
    assert_eq!(s.name, "order/reversed");
    assert_eq!(s.imapc, ProfileChoice::Both);
    assert_eq!(s.expect.outcome, Outcome::Success);
    let ids: Vec<_> = s
        .world
        .pop3
        .messages
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(ids, ["m4", "m3", "m2", "m1"]);
    assert_eq!(s.world.pop3.messages[0].uidl, "UID4-1");
    assert_eq!(s.world.imap.mailboxes[0].uidnext, 5);
}

#[test]
fn generated_sizes_are_exact_and_views_honest() {
    let s = scenario("basic/identical.yaml");
    let sizes: Vec<u64> = s.world.imap.mailboxes[0]
        .messages
        .iter()
        .map(|m| m.size())
        .collect();
    assert_eq!(sizes, [1200, 2400, 900]);
    for (i, p) in s.world.pop3.messages.iter().enumerate() {
        let m = &s.world.imap.mailboxes[0].messages[i];
        assert_eq!(p.full, m.full);
        assert_eq!(p.size(), m.size());
        assert!(
            m.full.windows(2).filter(|w| *w == b"\n\n").count() == 0,
            "CRLF only"
        );
    }
    assert_eq!(s.knobs, scenario::ServerKnobs::default());
    assert_eq!(s.settings, uidlmap::matcher::Settings::enabled());
}

#[test]
fn truth_tracks_identities() {
    let s = scenario("dovecot-bugs/empty-uidl-shift.yaml");
    assert_eq!(s.truth.uidl_of("a"), None, "an empty UIDL is no UIDL");
    assert_eq!(s.truth.true_uidl("INBOX", 2), Some("u2"));
    assert_eq!(s.truth.pop3[0].uidl, "");
    assert_eq!(s.expect.wrong, 2);
    assert_eq!(s.expect.lost, 1);

    let s = scenario("race/delivery-between-reads.yaml");
    assert_eq!(
        s.truth.uidl_of("n4"),
        Some("UID4-1"),
        "POP3 deliveries count"
    );
    assert!(s.truth.imap["INBOX"].values().all(|id| id != "n4"));
    assert_eq!(s.expect.outcome, Outcome::Failure);
}

#[test]
fn quirks_shape_the_views() {
    let s = scenario("providers/gmx.yaml");
    let pop3: Vec<_> = s
        .world
        .pop3
        .messages
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(
        pop3,
        ["m1", "s2", "m3"],
        "spam folder served in arrival order"
    );
    let top = String::from_utf8(s.world.pop3.messages[1].top(0)).unwrap();
    assert!(
        top.contains("Subject: *** GMX Spamverdacht *** Billige Uhren"),
        "{top}"
    );

    let s = scenario("providers/gmail.yaml");
    assert!(
        s.world
            .pop3
            .messages
            .iter()
            .all(|m| m.uidl.starts_with("GmailId"))
    );
    let pop3: Vec<_> = s
        .world
        .pop3
        .messages
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(pop3, ["m1", "a2", "s3", "m4"], "All Mail without spam");

    let s = scenario("providers/exchange-2010-flagged.yaml");
    let inbox = &s.world.imap.mailboxes[0].messages;
    assert_eq!(
        inbox[1].size(),
        2300 + "X-Message-Flag: Follow up\r\n".len() as u64
    );
    assert_eq!(s.world.pop3.messages[1].size(), 2300);

    let s = scenario("providers/zimbra.yaml");
    let h = String::from_utf8_lossy(&s.world.imap.mailboxes[0].messages[2].header).into_owned();
    assert!(h.contains("Subject: Gr??e aus K?ln\r\n"), "{h}");

    let s = scenario("providers/dovecot.yaml");
    assert_eq!(s.world.pop3.messages[0].uidl, "0000000165e18b00");
}

#[test]
fn events_and_faults_become_script_entries() {
    let s = scenario("race/expunge-both-mid-run.yaml");
    assert_eq!(s.events.len(), 1);
    let e = &s.events[0];
    assert_eq!(e.phase, Phase::Before);
    assert_eq!(e.on.protocol, Some(Protocol::Pop3));
    assert_eq!(e.on.prefix.as_deref(), Some("TOP"));
    assert!(matches!(
        e.changes[..],
        [
            WorldChange::ImapExpunge { .. },
            WorldChange::Pop3Remove { .. }
        ]
    ));

    let s = scenario("faults/top-err.yaml");
    assert_eq!(s.rules.len(), 1);
    assert_eq!(
        s.rules[0].action,
        FaultAction::Reply(b"-ERR No such message\r\n".to_vec())
    );
    assert_eq!(s.rules[0].on.prefix.as_deref(), Some("TOP 2 "));

    let s = scenario("faults/uidl-out-of-sequence.yaml");
    assert_eq!(
        s.rules[0].action,
        FaultAction::Reply(b"+OK\r\n1 m1\r\n3 m3\r\n2 m2\r\n.\r\n".to_vec())
    );
    let s = scenario("faults/no-uidl-capability.yaml");
    assert!(!s.knobs.pop3.uidl && s.knobs.pop3.top);
}

#[test]
fn a_delivery_event_fires_through_the_script() {
    let s = scenario("race/delivery-between-reads.yaml");
    let world = SharedWorld::new(s.world.clone());
    let script = Script::new(s.rules.clone(), s.events.clone());
    script.before(&world, Protocol::Pop3, 1, 1, "CAPA");
    assert_eq!(world.lock().pop3.messages.len(), 3, "not yet");
    script.before(&world, Protocol::Pop3, 1, 1, "USER alice");
    let w = world.snapshot();
    assert_eq!(w.pop3.messages.len(), 4);
    assert_eq!(w.pop3.messages[3].uidl, "UID4-1");
    let inbox = &w.imap.mailboxes[0];
    assert_eq!(
        inbox.messages.last().map(|m| (m.uid, m.id.as_str())),
        Some((4, "n4"))
    );
    assert_eq!(
        scenario::Truth::of_world(&w).true_uidl("INBOX", 4),
        Some("UID4-1")
    );
}

#[test]
fn nth_in_a_fault_is_skip_and_once() {
    let text = "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\n\
                faults:\n  - when: { step: pop3.top, nth: 3 }\n    disconnect: yes\n\
                expect: { outcome: success }\n";
    let s = load_str(text, Path::new("t/x.yaml"), Path::new("t")).unwrap();
    assert_eq!((s.rules[0].skip, s.rules[0].times), (2, Some(1)));
    assert_eq!(s.rules[0].action, FaultAction::Disconnect);
    assert_eq!(s.name, "x");
}

// ---------------------------------------------------------------------------------------
// Errors, with file:line:column

const HEAD: &str = "description: x\nexpect: { outcome: success }\n";

#[test]
fn error_table() {
    let cases: &[(&str, &str)] = &[
        // unknown key (parse error, position of the key)
        (
            "description: x\ncolour: red\nexpect: { outcome: success }\n",
            "t/case.yaml:2:1: unknown key `colour` in the file (valid keys: account, bulk,",
        ),
        (
            "description: x\nmessages:\n  m1: { subject: a, colour: red }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:21: unknown key `colour` in m1 (valid keys: body, date,",
        ),
        // bad type
        (
            "description: x\nmessages:\n  m1: { size: big }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:15: `size` must be a whole number of bytes, got \"big\"",
        ),
        (
            "description: x\nmessages: [m1]\nexpect: { outcome: success }\n",
            "t/case.yaml:2:11: `messages` must be a mapping, got a list",
        ),
        (
            "description: x\nexpect: { outcome: fine }\n",
            "t/case.yaml:2:20: `outcome` must be one of success, failure, abort, config_error, login_failure, got \"fine\"",
        ),
        (
            "expect: { outcome: success }\n",
            "t/case.yaml:1:1: the file needs `description` (one line: the real situation this models)",
        ),
        // YAML syntax
        ("description: 'x\n", "t/case.yaml:1:14: unclosed quote"),
        (
            "description: x\ndescription: y\nexpect: { outcome: success }\n",
            "t/case.yaml:2:1: duplicate mapping key: description",
        ),
        // unknown message reference
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1, m9] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:34: unknown message `m9`: messages: defines m1",
        ),
        (
            "description: x\nmessages: { m1: {} }\npop3: { messages: [m1, m2] }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:24: unknown message `m2`",
        ),
        // duplicates
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1, m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:34: message `m1` is twice in INBOX",
        ),
        (
            "description: x\nmessages: { m1: {} }\npop3: { messages: [m1, m1] }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:24: message `m1` is listed twice in POP3",
        ),
        (
            "description: x\nmessages:\n  m1: { pop3: { uidl: same } }\n  m2: { pop3: { uidl: same } }\nimap: { mailboxes: { INBOX: [m1, m2] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:4:3: messages `m1` and `m2` have the same UIDL `same`",
        ),
        // settings
        (
            "description: x\nsettings: { skip_uidl_check: yes }\nexpect: { outcome: success }\n",
            "t/case.yaml:2:13: unknown setting 'skip_uidl_check'",
        ),
        // Dovecot versions (any boolean spelling loads: each version reads it its way)
        (
            "description: x\nexpect: { outcome: success }\nexpect_by_version:\n  2.4: { outcome: config_error }\n",
            "t/case.yaml:4:3: expectations for Dovecot 2.4, which `dovecot:` does not list",
        ),
        (
            "description: x\ndovecot: [2.3, 2.5]\nexpect: { outcome: success }\n",
            "t/case.yaml:2:16: an entry of dovecot must be one of 2.3, 2.4, got 2.5",
        ),
        (
            "description: x\nsettings: { skip_size_check: yes, pop3_migration_skip_size_check: no }\nexpect: { outcome: success }\n",
            "t/case.yaml:2:35: setting `skip_size_check` is set twice",
        ),
        // profiles and quirks
        (
            "description: x\nprofile: hotmail\nexpect: { outcome: success }\n",
            "t/case.yaml:2:10: unknown profile `hotmail`: expected one of dovecot, zimbra,",
        ),
        (
            "description: x\nquirks: [pop3.list_size.lf, imap.nope]\nexpect: { outcome: success }\n",
            "t/case.yaml:2:29: unknown quirk `imap.nope`: expected one of",
        ),
        // nonsense sizes and missing line ends
        (
            "description: x\nmessages:\n  m1: { subject: Hello, size: 10 }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:31: message `m1`: size 10 is smaller than the generated headers and body (181 bytes",
        ),
        (
            "description: x\nmessages:\n  m1: { raw: \"a: b\\r\\n\\r\\n\" }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:14: a raw message needs line_ending: crlf, lf or keep",
        ),
        (
            "description: x\nmessages:\n  m1: { raw: \"a: b\\r\\n\\r\\n\", line_ending: keep, subject: s }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:58: subject is for generated messages; a raw message is used as it is",
        ),
        (
            "description: x\nmessages:\n  m1: { file: nowhere.eml, line_ending: keep }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:15: no such file: looked for t/nowhere.eml",
        ),
        // views
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { Archive: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:20: the IMAP view needs an INBOX",
        ),
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { inbox: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:22: write INBOX in capitals",
        ),
        (
            "description: x\nmessages: { m1: {}, m2: {} }\nimap: { mailboxes: { INBOX: { messages: [m1, m2], uids: [5, 3] } } }\nexpect: { outcome: success }\n",
            "t/case.yaml:3:61: UIDs must be at least 1 and strictly increasing",
        ),
        (
            "description: x\nmessages: { m1: {}, m2: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nexpect: { outcome: success }\n",
            "t/case.yaml:2:21: message `m2` is defined but no IMAP mailbox, POP3 listing or event uses it",
        ),
        // templates
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\npop3: { uidl: \"{uuid}\" }\nexpect: { outcome: success }\n",
            "t/case.yaml:4:15: UIDL template: unknown variable `uuid`",
        ),
        (
            "description: x\nmessages: { m1: {}, m2: {} }\nimap: { mailboxes: { INBOX: [m1] } }\npop3: { messages: [m1, m2], uidl: \"UID{uid}\" }\nexpect: { outcome: success }\n",
            "t/case.yaml:4:24: message `m2` is in no IMAP mailbox, so the UIDL template's {uid} has no value",
        ),
        // events
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nevents:\n  - after: pop3.bogus\n    expunge: { message: m1, pop3: yes }\nexpect: { outcome: success }\n",
            "t/case.yaml:5:12: unknown step `pop3.bogus`: expected one of imap.login,",
        ),
        (
            "description: x\nmessages: { m1: {}, m2: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nevents:\n  - after: imap.fetch_sizes\n    deliver: { message: m2, pop3: yes }\nexpect: { outcome: success }\n",
            "t/case.yaml:5:12: imap.fetch_sizes happens only with imapc: docs",
        ),
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nevents:\n  - after: pop3.uidl\n    deliver: { message: m1, imap: INBOX }\nexpect: { outcome: success }\n",
            "t/case.yaml:6:25: message `m1` is already in INBOX",
        ),
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\npop3: { messages: [] }\nevents:\n  - after: pop3.uidl\n    expunge: { message: m1, pop3: yes }\nexpect: { outcome: success }\n",
            "t/case.yaml:7:25: message `m1` is not in POP3 at this point",
        ),
        // faults
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nfaults:\n  - when: pop3.top\n    reply: \"-ERR\"\n    disconnect: yes\nexpect: { outcome: success }\n",
            "t/case.yaml:7:17: one action per fault",
        ),
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nfaults:\n  - when: { protocol: smtp }\n    disconnect: yes\nexpect: { outcome: success }\n",
            "t/case.yaml:5:23: `protocol` must be one of imap, pop3, got \"smtp\"",
        ),
        // cache
        (
            "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\ncache: { INBOX: { 7: u7 } }\nexpect: { outcome: success }\n",
            "t/case.yaml:4:19: INBOX has no UID 7",
        ),
        // expect
        (
            "description: x\nexpect: { outcome: success, warnings: [\"\"] }\n",
            "t/case.yaml:2:40: an empty substring matches anything",
        ),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = first_error(text);
        if !got.starts_with(want) {
            failures.push(format!("\n got: {got}\nwant: {want}…\nfor:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_of_a_file_are_reported_in_position_order() {
    let text = format!(
        "{HEAD}messages:\n  m1: {{ size: 5 }}\nimap: {{ mailboxes: {{ INBOX: [m1, m7] }} }}\nprofile: aol\nsettings: {{ skip: yes }}\n"
    );
    let errors = all_errors(&text);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("t/case.yaml:4:15: message `m1`: size 5"));
    assert!(errors[1].starts_with("t/case.yaml:5:34: unknown message `m7`"));
    assert!(errors[2].starts_with("t/case.yaml:6:10: unknown profile `aol`"));
    assert!(errors[3].starts_with("t/case.yaml:7:13: unknown setting 'skip'"));
}

#[test]
fn display_carries_a_snippet() {
    let e = load_str(
        "description: x\nexpect: { outcome: nope }\n",
        Path::new("t/case.yaml"),
        Path::new("t"),
    )
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(
        text,
        "t/case.yaml:2:20: `outcome` must be one of success, failure, abort, config_error, login_failure, got \"nope\"\n  |\n2 | expect: { outcome: nope }\n  |                    ^"
    );
}

// ---------------------------------------------------------------------------------------
// Discovery and check

#[test]
fn discover_rules() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("b/_fixtures")).unwrap();
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::create_dir_all(d.join("empty")).unwrap();
    for f in [
        "b/z.yml",
        "a/y.yaml",
        "b/_fixtures/skip.yaml",
        "README.md",
        "a/notes.txt",
    ] {
        std::fs::write(d.join(f), HEAD).unwrap();
    }
    let found = discover(&[d.to_path_buf(), d.join("a/y.yaml")]).unwrap();
    assert_eq!(found, [d.join("a/y.yaml"), d.join("b/z.yml")]);
    assert!(matches!(
        discover(&[d.join("empty")]),
        Err(ScenarioError::Empty { .. })
    ));
    assert!(matches!(
        discover(&[d.join("missing")]),
        Err(ScenarioError::Io { .. })
    ));
    assert!(matches!(
        discover(&[d.join("a/notes.txt")]),
        Err(ScenarioError::NotScenario { .. })
    ));
    let msg = discover(&[d.join("empty")]).unwrap_err().to_string();
    assert!(
        msg.ends_with("empty: no scenario files (*.yaml, *.yml) in this folder"),
        "{msg}"
    );
}

#[test]
fn check_reports_per_file() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("good.yaml"), HEAD).unwrap();
    std::fs::write(d.join("bad.yaml"), "description: x\nexpect: {}\n").unwrap();
    let results = check(&[d.to_path_buf()]).unwrap();
    assert_eq!(results.len(), 2);
    let bad = &results[0];
    assert!(bad.path.ends_with("bad.yaml"));
    let err = bad.result.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("bad.yaml:2:9: expect needs `outcome`"),
        "{err}"
    );
    assert_eq!(results[1].result.as_ref().unwrap().name, "good");
}

#[test]
fn fixtures_resolve_from_the_file_or_the_root() {
    // A scenario in a sub-folder names the fixture relative to the scenarios root.
    let s = scenario("sizes/lf-counted.yaml");
    let news = &s.world.imap.mailboxes[0].messages[1];
    assert!(news.full.starts_with(b"Received: by list.example.org"));
    assert!(
        !news.full.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "converted to CRLF"
    );
    // header-only.eml has no final newline, and `keep` keeps it that way.
    let s = scenario("dovecot-bugs/header-only-no-newline.yaml");
    assert!(
        s.world.imap.mailboxes[0].messages[1]
            .full
            .ends_with(b"<note-7@example.net>")
    );
}

// ---------------------------------------------------------------------------------------
// README and schema

#[test]
fn readme_examples_load() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut n = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let yaml = block.split("```").next().unwrap();
        if !yaml.contains("description:") {
            continue;
        }
        let path = root().join("readme-example.yaml");
        if let Err(e) = load_str(yaml, &path, &root()) {
            panic!("README example does not load:\n{yaml}\n{e}");
        }
        n += 1;
    }
    assert!(n >= 10, "only {n} complete examples in the README");
}

/// The keys serde accepts at some place, read from its "expected one of" message.
fn accepted_keys(text_with_probe: &str) -> BTreeSet<String> {
    // serde's own message, not the loader's (which is worded from the schema).
    let err = serde_saphyr::from_str::<scenario::format::ScenarioFile>(text_with_probe)
        .expect_err("the probe key is unknown")
        .without_snippet()
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no key list in: {err}"));
    list.split(" at line")
        .next()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect()
}

fn schema_keys(v: &serde_json::Value) -> BTreeSet<String> {
    v["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties in {v}"))
        .keys()
        .cloned()
        .collect()
}

/// `v` with every `#/$defs/…` reference replaced by its definition (the format has no
/// recursive types), so a test can walk the schema as a path of keys.
fn inline_refs(v: &serde_json::Value, defs: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(obj) => {
            let mut out = serde_json::Map::new();
            if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
                let name = r.strip_prefix("#/$defs/").expect("a local reference");
                let def = defs
                    .get(name)
                    .unwrap_or_else(|| panic!("no definition {name}"));
                out = inline_refs(def, defs).as_object().unwrap().clone();
            }
            for (k, x) in obj.iter().filter(|(k, _)| *k != "$ref" && *k != "$defs") {
                out.insert(k.clone(), inline_refs(x, defs));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|x| inline_refs(x, defs)).collect()),
        other => other.clone(),
    }
}

#[test]
fn schema_lists_exactly_the_accepted_keys() {
    let generated = json_schema();
    let schema = inline_refs(&generated, &generated["$defs"]);
    let p = &schema["properties"];
    let msg = &p["messages"]["additionalProperties"];
    let mailbox_long = &p["imap"]["properties"]["mailboxes"]["additionalProperties"]["oneOf"][1];
    let event = &p["events"]["items"];
    let fault = &p["faults"]["items"];
    let step_map = &event["properties"]["before"]["oneOf"][1];
    let cases: Vec<(&str, &serde_json::Value)> = vec![
        ("zz_probe: 1\n", &schema),
        ("description: x\nmessages: { m: { zz_probe: 1 } }\n", msg),
        (
            "description: x\nmessages: { m: { imap: { zz_probe: 1 } } }\n",
            &msg["properties"]["imap"],
        ),
        (
            "description: x\nmessages: { m: { pop3: { zz_probe: 1 } } }\n",
            &msg["properties"]["pop3"],
        ),
        ("description: x\nimap: { zz_probe: 1 }\n", &p["imap"]),
        (
            "description: x\nimap: { mailboxes: { INBOX: { messages: [], zz_probe: 1 } } }\n",
            mailbox_long,
        ),
        ("description: x\npop3: { zz_probe: 1 }\n", &p["pop3"]),
        (
            "description: x\naccount: { user: a, password: b, zz_probe: 1 }\n",
            &p["account"],
        ),
        ("description: x\nevents: [ { zz_probe: 1 } ]\n", event),
        (
            "description: x\nevents: [ { deliver: { message: m, zz_probe: 1 } } ]\n",
            &event["properties"]["deliver"],
        ),
        (
            "description: x\nevents: [ { expunge: { message: m, zz_probe: 1 } } ]\n",
            &event["properties"]["expunge"],
        ),
        (
            "description: x\nevents: [ { after: { zz_probe: 1 } } ]\n",
            step_map,
        ),
        (
            "description: x\nfaults: [ { when: x, zz_probe: 1 } ]\n",
            fault,
        ),
        ("description: x\nserver: { zz_probe: 1 }\n", &p["server"]),
        (
            "description: x\nserver: { pop3: { zz_probe: 1 } }\n",
            &p["server"]["properties"]["pop3"],
        ),
        (
            "description: x\nserver: { imap: { zz_probe: 1 } }\n",
            &p["server"]["properties"]["imap"],
        ),
        (
            "description: x\nexpect: { outcome: success, zz_probe: 1 }\n",
            &p["expect"],
        ),
        (
            "description: x\nbulk: [ { name: b, count: 1, zz_probe: 1 } ]\n",
            &p["bulk"]["items"],
        ),
        (
            "description: x\nbulk: [ { name: b, count: 1, size: { zz_probe: 1 } } ]\n",
            &p["bulk"]["items"]["properties"]["size"]["oneOf"][1],
        ),
        (
            "description: x\npop3: { messages: { of: b, zz_probe: 1 } }\n",
            &p["pop3"]["properties"]["messages"]["oneOf"][1],
        ),
    ];
    for (probe, node) in cases {
        assert_eq!(
            accepted_keys(probe),
            schema_keys(node),
            "schema drift at: {probe}"
        );
    }
    assert_eq!(
        p["profile"]["enum"].as_array().unwrap().len(),
        fake_servers::profiles::PROFILES.len()
    );
    // The schema is valid JSON that a tool can read back, the same on every call.
    let text = serde_json::to_string_pretty(&generated).unwrap();
    assert!(text.contains("\"additionalProperties\": false"));
    assert_eq!(text, serde_json::to_string_pretty(&json_schema()).unwrap());
    // What the types can't say by themselves is still said.
    assert_eq!(p["faults"]["items"]["properties"]["on"]["deprecated"], true);
    assert_eq!(
        p["bulk"]["items"]["properties"]["duplicates"]["properties"]["every"]["minimum"],
        2
    );
    assert_eq!(
        p["bulk"]["items"]["properties"]["line_ending"]["enum"],
        serde_json::json!(["crlf", "lf"])
    );
    assert_eq!(p["imap"]["properties"]["uidvalidity"]["maximum"], u32::MAX);
    assert_eq!(
        p["description"]["description"],
        "one line: the real situation this models"
    );
    assert_eq!(
        p["messages"]["additionalProperties"]["properties"]["subject"]["oneOf"][1]["type"], "null",
        "~ leaves a header out"
    );
    assert_eq!(
        p["messages"]["additionalProperties"]["properties"]["body"]["type"], "string",
        "an optional key is left out, not written ~"
    );
}

#[test]
fn server_knobs() {
    let text = "description: x\nexpect: { outcome: success }\nserver:\n  pop3: { capa: false, split_writes: 3, split_delay_ms: 2, banner: hi }\n  imap: { savedate: true, extra_capabilities: [X-GM-EXT-1], uidnext_on_select: false }\n";
    let s = load_str(text, Path::new("t/k.yaml"), Path::new("t")).unwrap();
    assert!(!s.knobs.pop3.capa && s.knobs.pop3.top);
    assert_eq!(s.knobs.pop3.split_writes, Some(3));
    assert_eq!(s.knobs.pop3.split_delay_ms, Some(2));
    assert_eq!(s.knobs.pop3.banner.as_deref(), Some("hi"));
    assert!(s.knobs.imap.savedate && !s.knobs.imap.uidnext_on_select);
    assert_eq!(s.knobs.imap.extra_capabilities, ["X-GM-EXT-1"]);
    let errors = all_errors(
        "description: x\nexpect: { outcome: success }\nserver:\n  pop3: { pipelining: false, broken_pipelining: true, split_writes: 0 }\n",
    );
    assert_eq!(
        errors,
        [
            "t/case.yaml:4:49: broken_pipelining needs pipelining: it is advertised, then broken",
            "t/case.yaml:4:69: split_writes must be at least 1",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Bulk syntax

#[test]
fn bulk_groups_and_rules_expand_deterministically() {
    let text = r#"description: bulk
messages:
  solo: { subject: Solo, size: 1500 }
bulk:
  - name: g
    count: 6
    id: "g{i:02}"
    subject: "Item {i}"
    size: { alternate: [1200, 1300], run: 2 }
    duplicates: { every: 3 }
    uidl: "U{i}"
  - name: r
    count: 20
    size: { random: [1000, 1100], seed: 5 }
imap:
  mailboxes:
    INBOX: { messages: { of: [g, solo] } }
    Archive: { messages: { of: r, shuffle: { seed: 3 } } }
pop3:
  messages: { of: [INBOX, r], drop: { every: 3 }, swap_pairs: yes }
expect: { outcome: success }
"#;
    let load = || load_str(text, Path::new("t/b.yaml"), Path::new("t")).unwrap();
    let s = load();
    let inbox = &s.world.imap.mailboxes[0];
    let ids: Vec<&str> = inbox.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["g01", "g02", "g03", "g04", "g05", "g06", "solo"]);
    let sizes: Vec<usize> = inbox.messages.iter().map(|m| m.full.len()).collect();
    // Runs of two sizes; g03 and g06 take their originals' sizes.
    assert_eq!(sizes, [1200, 1200, 1200, 1300, 1200, 1200, 1500]);
    // g03 repeats g02 and g06 repeats g05: the same bytes, under their own UIDL.
    assert_eq!(inbox.messages[2].full, inbox.messages[1].full);
    assert_eq!(inbox.messages[5].full, inbox.messages[4].full);
    assert_ne!(inbox.messages[3].full, inbox.messages[4].full);
    let pop3: Vec<(&str, &str)> = s
        .world
        .pop3
        .messages
        .iter()
        .map(|m| (m.id.as_str(), m.uidl.as_str()))
        .collect();
    assert_eq!(pop3.len(), 18);
    assert_eq!(
        pop3[..6],
        [
            ("g02", "U2"),
            ("g01", "U1"),
            ("g05", "U5"),
            ("g04", "U4"),
            ("r-1", "r-1"),
            ("solo", "solo")
        ]
    );
    let archive = &s.world.imap.mailboxes[1];
    let mut shuffled: Vec<&str> = archive.messages.iter().map(|m| m.id.as_str()).collect();
    assert_ne!(shuffled[..3], ["r-1", "r-2", "r-3"]);
    shuffled.sort();
    assert_eq!(shuffled.len(), 20);
    assert_eq!(shuffled[0], "r-1");
    let again = load();
    assert_eq!(
        format!("{:?}", s.world),
        format!("{:?}", again.world),
        "expansion is deterministic"
    );
    assert!(
        archive
            .messages
            .iter()
            .all(|m| (1000..=1100).contains(&m.full.len()))
    );
    let summary = scenario::CheckSummary::of(&s).to_string();
    assert_eq!(summary, "b: 27 messages; IMAP INBOX 7, Archive 20; POP3 18");
}

#[test]
fn bulk_errors_point_at_the_group_or_rule() {
    let errors = all_errors(
        "description: x\nbulk:\n  - { name: g, count: 3, subject: \"{n}\" }\n  - { name: h, count: 2, size: { alternate: [] } }\nimap: { mailboxes: { INBOX: { messages: { of: [gg] } } } }\npop3: { messages: { of: INBOX, shuffle: { seed: 1 } } }\nexpect: { outcome: success }\n",
    );
    assert_eq!(
        errors,
        [
            "t/case.yaml:3:35: template `{n}`: unknown variable `{n}`: bulk templates know {i} and {id}",
            "t/case.yaml:4:45: alternate needs at least one size",
            "t/case.yaml:5:48: of: `gg` is no bulk group or message id",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Portable YAML and the schema

/// Runs `support/yaml_portable.py` over `files` (path, text) against `uidlmap scenario
/// schema`: whether it passed, and what it printed. `None` where python3 or its yaml
/// module is missing.
fn portable_and_valid(files: &[(PathBuf, String)]) -> Option<(bool, String)> {
    let has_yaml = std::process::Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_yaml {
        eprintln!("skipped: python3 with the yaml module (Debian python3-yaml) is not installed");
        return None;
    }
    let dir = tempdir();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, json_schema().to_string()).unwrap();
    let mut list = String::new();
    for (n, (_, text)) in files.iter().enumerate() {
        // PyYAML reads the file itself: a copy, for texts that are not on disk.
        let yaml = dir.path().join(format!("{n}.yaml"));
        std::fs::write(&yaml, text).unwrap();
        let ours: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        let json = dir.path().join(format!("{n}.json"));
        std::fs::write(&json, ours.to_string()).unwrap();
        list.push_str(&format!("{}\t{}\n", yaml.display(), json.display()));
    }
    let tsv = dir.path().join("list.tsv");
    std::fs::write(&tsv, list).unwrap();
    let script = support::root().join("tests/support/yaml_portable.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&schema)
        .arg(&tsv)
        .output()
        .unwrap();
    let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    // Name the files as the library does, not by their temporary copies.
    for (n, (path, _)) in files.iter().enumerate() {
        let copy = dir.path().join(format!("{n}.yaml"));
        printed = printed.replace(&copy.display().to_string(), &path.display().to_string());
    }
    Some((out.status.success(), printed))
}

/// Every library file reads the same with a YAML 1.1 reader (PyYAML's `safe_load`) as
/// with ours, and validates against `uidlmap scenario schema` (with python3-jsonschema).
/// Skipped, saying so, where python3 or its yaml module is missing.
#[test]
fn library_is_portable_yaml_and_validates_against_the_schema() {
    let files: Vec<(PathBuf, String)> = discover(&[root()])
        .unwrap()
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect();
    let Some((passed, printed)) = portable_and_valid(&files) else {
        return;
    };
    assert!(passed, "{printed}");
    eprint!("{printed}");
}

/// The schema check is a check: files with a misspelt key, a wrong value or a missing
/// key fail it, each reported.
#[test]
fn a_wrong_file_fails_the_schema() {
    let wrong = |name: &str, text: &str| (PathBuf::from(name), text.to_string());
    let files = [
        wrong(
            "misspelt.yaml",
            "description: x\nmessages:\n  m1: { sise: 12 }\nexpect: { outcome: success }\n",
        ),
        wrong(
            "value.yaml",
            "description: x\nmessages:\n  m1: { size: big }\nexpect: { outcome: success }\n",
        ),
        wrong(
            "outcome.yaml",
            "description: x\nexpect: { outcome: fine }\n",
        ),
        wrong("missing.yaml", "description: x\n"),
        wrong(
            "count.yaml",
            "description: x\nbulk: [ { name: b, count: 0 } ]\nexpect: { outcome: success }\n",
        ),
    ];
    let Some((passed, printed)) = portable_and_valid(&files) else {
        return;
    };
    if printed.contains("no jsonschema module") {
        eprintln!("skipped: python3-jsonschema is not installed");
        return;
    }
    assert!(!passed, "{printed}");
    for (name, _) in &files {
        assert!(
            printed.contains(&format!(
                "{}: does not validate against the schema",
                name.display()
            )),
            "{name:?} not reported:\n{printed}"
        );
    }
    assert!(printed.contains("0 passed, 5 failed"), "{printed}");
}

#[test]
fn old_spellings_load_with_a_warning_naming_the_new() {
    let text = "description: x\nmessages: { m1: {} }\nimap: { mailboxes: { INBOX: [m1] } }\nfaults:\n  - on: pop3.top\n    disconnect: yes\nexpect: { outcome: success }\n";
    let s = load_str(text, Path::new("t/old.yaml"), Path::new("t")).unwrap();
    let w: Vec<String> = s.warnings.iter().map(|d| d.headline()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("t/old.yaml:5:9: `on:` is now `when:`"),
        "{w:?}"
    );
    assert_eq!(s.rules.len(), 1);
    let both = text.replace(
        "  - on: pop3.top\n",
        "  - on: pop3.top\n    when: pop3.top\n",
    );
    assert_eq!(
        first_error(&both),
        "t/case.yaml:5:9: give when: only (on: is its old name)"
    );
}

#[test]
fn structural_errors_come_all_at_once_in_the_formats_words() {
    let errors = all_errors(
        "description: x\nmessages:\n  m1: { subject: a, sise: 12 }\n  m2: { subject: b, size: big }\n  m3: { subject: c, size: -1 }\nimap: { mailboxes: { INBOX: [m1, m2, m3] } }\nexpect: { outcome: sucess }\n",
    );
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with("t/case.yaml:3:21: unknown key `sise` in m1; did you mean `size`?"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        "t/case.yaml:4:27: `size` must be a whole number of bytes, got \"big\""
    );
    assert_eq!(
        errors[2],
        "t/case.yaml:5:27: `size` must be a whole number of bytes (0 or more), got -1"
    );
    assert_eq!(
        errors[3],
        "t/case.yaml:7:20: `outcome` must be one of success, failure, abort, config_error, login_failure, got \"sucess\"; did you mean `success`?"
    );
    // An unclosed flow mapping is reported where it opens, not where YAML gives up.
    assert_eq!(
        first_error(
            "description: x\nmessages:\n  m1: { subject: a, size: 12\n  m2: { subject: b }\nexpect: { outcome: success }\n"
        ),
        "t/case.yaml:3:7: this `{` is never closed: end it with `}` on its line, or indent the lines that continue it"
    );
    // A missing key is reported at the mapping that lacks it.
    assert_eq!(
        first_error("messages: {}\nexpect:\n  wrong: 1\n"),
        "t/case.yaml:1:1: the file needs `description` (one line: the real situation this models)"
    );
    assert_eq!(
        all_errors("description: x\nexpect:\n  wrong: 1\n")[0],
        "t/case.yaml:3:3: expect needs `outcome`"
    );
}
