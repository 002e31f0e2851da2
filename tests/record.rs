//! `uidlmap record`: a live provider written as an anonymised scenario.
//!
//! Against a real Dovecot 2.3 source (same-size neighbours, near-twins whose headers
//! differ only in what the plugin's hash ignores and near-twins that differ in what it
//! keeps, a folder): the prediction of the recording, real Dovecot migrating from the
//! fake servers serving the recording and real Dovecot migrating from the source all
//! store the same rows, and the file holds none of the source's subjects, addresses,
//! Message-IDs or body lines. Against the fake servers: a world with provider quirks
//! and server knobs is served, recorded, and the recording has the same knobs and quirks
//! and predicts the same rows; and every world of the library that is only an account
//! (no faults, events or cache) records to a file that predicts the same.

mod support;

use std::path::Path;

use support::{dovecot_or_skip, serve_scenario, start_dovecot, stop_dovecot, tempdir};
use uidlmap::conformance::{self, Options};
use uidlmap::domain::{DovecotVersion, ImapcProfile};
use uidlmap::dovecot::{OracleOptions, SourceFolder, SourceMessage, SourceOptions, run_backup};
use uidlmap::scenario::{Scenario, load_file, load_str, run};

/// Lines of the source that must not appear in a recording.
const SECRETS: &[&str] = &[
    "Quarterly",
    "Invoice",
    "carol@",
    "dave@",
    "uidlmap-src.test",
    "Confidential",
    "no colon here",
];

fn message(subject: &str, from: &str, id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: dave@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}@uidlmap-src.test>\r\n\
         {extra}\r\n{body}\r\n"
    )
    .into_bytes()
}

fn inbox() -> Vec<Vec<u8>> {
    vec![
        // Same size, different headers: the size pass can't tell them apart.
        message(
            "Quarterly AAA",
            "carol@example.com",
            "n1",
            "",
            "Confidential one.",
        ),
        message(
            "Quarterly BBB",
            "carol@example.com",
            "n2",
            "",
            "Confidential two.",
        ),
        // Near-twins that hash equal: trailing blanks and a colon-less line (4.2, 4.3).
        message(
            "Invoice 7",
            "carol@example.com",
            "t1",
            "",
            "Confidential twin.",
        ),
        message(
            "Invoice 7  ",
            "carol@example.com",
            "t1",
            "no colon here\r\n",
            "Confidential twin, longer.",
        ),
        // Near-twins that don't: one letter's case differs, the size is the same.
        message(
            "Invoice 9",
            "carol@example.com",
            "t9",
            "",
            "Confidential nine.",
        ),
        message(
            "invoice 9",
            "carol@example.com",
            "t9",
            "",
            "Confidential nine.",
        ),
        message(
            "Invoice 8",
            "carol@example.com",
            "t3",
            "X-Note: x\r\n",
            &"Confidential. ".repeat(40),
        ),
    ]
}

/// (mailbox, uid, uidl, order) as a run stored them.
type Stored = Vec<(String, u32, String, u32)>;

fn stored(run: &uidlmap::dovecot::OracleRun) -> Stored {
    run.messages
        .iter()
        .map(|m| (m.mailbox.clone(), m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect()
}

fn predicted(r: &uidlmap::report::Report) -> Stored {
    let mut out = Vec::new();
    for mb in &r.dovecot.mailboxes {
        for m in &mb.messages {
            out.push((
                mb.name.clone(),
                m.uid,
                m.uidl.clone().unwrap_or_default(),
                m.order.unwrap_or(0),
            ));
        }
    }
    out.sort();
    out
}

/// `uidlmap record` of the servers at `imap` and `pop3` (HOST:PORT) into `out`.
async fn record(
    imap: String,
    pop3: String,
    user: &str,
    password: &str,
    out: &Path,
    extra: &[&str],
) {
    let dir = out.parent().unwrap();
    let pw = support::write_file(dir, "password", format!("{password}\n"));
    let mut cmd = support::command();
    cmd.arg("record")
        .arg("--imap")
        .arg(format!("imap://{user}@{imap}"))
        .arg("--pop3")
        .arg(format!("pop3://{user}@{pop3}"))
        .arg("--password-file")
        .arg(&pw)
        .arg("--out")
        .arg(out)
        .args(extra);
    let o = tokio::task::spawn_blocking(move || support::output(&mut cmd))
        .await
        .unwrap();
    assert_eq!(o.code, 0, "record failed: {}", o.stderr);
}

async fn predict(sc: &Scenario, profile: ImapcProfile) -> Stored {
    let report = run::predict(
        sc,
        profile,
        DovecotVersion::V2_3,
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("prediction");
    predicted(&report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_dovecot_source_runs_as_the_source() {
    if !dovecot_or_skip("a_recorded_dovecot_source_runs_as_the_source") {
        return;
    }
    let mut opts = SourceOptions::with_messages(inbox());
    opts.folders = vec![SourceFolder {
        name: "Archive".into(),
        messages: vec![SourceMessage::new(message(
            "Quarterly old",
            "dave@example.org",
            "a1",
            "",
            "Confidential archive.",
        ))],
    }];
    let src = start_dovecot(opts).await;
    let o = OracleOptions::same_account(
        src.host(),
        src.imap_port(),
        src.pop3_port(),
        src.user(),
        src.password().clone(),
    );
    let truth = tokio::task::spawn_blocking(move || run_backup(o))
        .await
        .unwrap()
        .expect("doveadm backup against the source");
    assert_eq!(truth.exit_code, 0, "{:?}", truth.log);
    let want = stored(&truth);
    assert!(want.iter().any(|m| m.0 == "Archive"), "{want:?}");

    let dir = tempdir();
    let file = dir.path().join("recorded.yaml");
    record(
        format!("{}:{}", src.host(), src.imap_port()),
        format!("{}:{}", src.host(), src.pop3_port()),
        src.user(),
        src.password().expose(),
        &file,
        &[],
    )
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    for s in SECRETS {
        assert!(!text.contains(s), "{s:?} is in the recording:\n{text}");
    }
    assert!(!text.contains(src.password().expose()), "{text}");
    let sc = load_file(&file).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for profile in [ImapcProfile::Bare, ImapcProfile::Docs] {
        assert_eq!(
            predict(&sc, profile).await,
            want,
            "prediction, {profile:?}\n{text}"
        );
    }
    let real = conformance::run_dovecot(
        &sc,
        ImapcProfile::Bare,
        DovecotVersion::V2_3,
        &Options::default(),
    )
    .await
    .expect("doveadm backup against the recording");
    assert_eq!(stored(&real), want, "Dovecot served the recording");
    stop_dovecot(src).await;
}

/// A provider with quirks the recording must say as knobs.
const QUIRKY: &str = r#"
description: A provider whose TOP lacks the blank line, whose LIST estimates, without PIPELINING.
quirks: [pop3.top.no_blank_line, pop3.list_size.estimate]
server:
  pop3: { pipelining: false, resp_codes: false }
  imap: { literal_plus: false, uidnext_on_select: false }
messages:
  m1: { subject: One, size: 1100 }
  m2: { subject: Two, size: 1100 }
  m3: { subject: Three, size: 1300, imap: { rfc822_size: 1290 } }
  m4: { subject: Four, size: 1400 }
  s1: { subject: Sent one, size: 900 }
  # Twins to the hash with headers of very different lengths, listed crosswise.
  t1: { raw: "S: x\r\n\r\nbody one\r\n", line_ending: keep }
  t2: { raw: "S: x                                                                                                                        \r\n\r\nbody two\r\n", line_ending: keep }
imap:
  separator: "."
  uidvalidity: 77
  mailboxes:
    INBOX: { messages: [m1, m2, m3, m4, t1, t2], first_uid: 5 }
    Sent: { messages: [s1], uids: [3] }
pop3:
  messages: [m2, m1, m4, m3, t2, t1]
  uidl: "UID{uid}-{uidvalidity}"
expect: { outcome: success }
"#;

/// One without TOP, with RFC822.SIZE counted with LF, LIST rounded, and a POP3-only
/// message.
const NO_TOP: &str = r#"
description: A provider without TOP whose IMAP sizes count LF line ends.
quirks: [imap.rfc822_size.lf, pop3.list_size.round_kib]
server:
  pop3: { top: false }
  imap: { greeting_capability: false, savedate: true }
messages:
  m1: { subject: One, size: 1100 }
  m2: { subject: Two, size: 1200 }
  p9: { subject: Only in POP3, size: 1500 }
imap:
  mailboxes:
    INBOX: [m1, m2]
pop3:
  messages: [m1, p9, m2]
expect: { outcome: success }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_says_the_quirks_it_saw_as_knobs() {
    let dir = tempdir();
    for (name, text) in [("quirky", QUIRKY), ("no-top", NO_TOP)] {
        let path = dir.path().join(format!("{name}.yaml"));
        let sc = load_str(text, &path, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let served = serve_scenario(&sc).await;
        for anonymise in [false, true] {
            let out = dir.path().join(format!("{name}-{anonymise}.rec.yaml"));
            let extra: &[&str] = if anonymise {
                &["--anonymise-uidls"]
            } else {
                &[]
            };
            record(
                served.imap.to_string(),
                served.pop3.to_string(),
                "alice",
                "secret",
                &out,
                extra,
            )
            .await;
            let rec_text = std::fs::read_to_string(&out).unwrap();
            let rec = load_file(&out).unwrap_or_else(|e| panic!("{e}\n{rec_text}"));
            assert_eq!(rec.knobs, sc.knobs, "{name}: knobs\n{rec_text}");
            assert_eq!(rec.quirks, sc.quirks, "{name}: quirks\n{rec_text}");
            for profile in [ImapcProfile::Bare, ImapcProfile::Docs] {
                let want = predict(&sc, profile).await;
                let got = predict(&rec, profile).await;
                if !anonymise {
                    assert_eq!(got, want, "{name} {profile:?}\n{rec_text}");
                    continue;
                }
                // Tokens for UIDLs: the same rows otherwise, same lengths, same equality.
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!((&g.0, g.1, g.3), (&w.0, w.1, w.3), "{name} {profile:?}");
                    assert_eq!(g.2.len(), w.2.len());
                    assert!(w.2.is_empty() || g.2 != w.2, "{g:?} kept its UIDL");
                }
                for i in 0..want.len() {
                    for j in 0..want.len() {
                        assert_eq!(want[i].2 == want[j].2, got[i].2 == got[j].2);
                    }
                }
            }
        }
        served.stop().await;
    }
}

/// What the prediction says Dovecot 2.3 does: exit code, log and rows.
async fn answer(sc: &Scenario, profile: ImapcProfile) -> (i32, Vec<String>, Stored) {
    let r = run::predict(
        sc,
        profile,
        DovecotVersion::V2_3,
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("prediction");
    (r.dovecot.exit_code, r.dovecot.log.clone(), predicted(&r))
}

/// Every world of the library without faults, events or a cache (those are about a
/// Dovecot run, not the account) is served, recorded through the library and predicted
/// again: the same exit, log and rows, in both imapc profiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_library_world_records_to_the_same_prediction() {
    use uidlmap::domain::Endpoint;
    use uidlmap::scenario::record::{WriteOptions, record, write_scenario};
    use uidlmap::secret::Secret;
    use uidlmap::tls::{Security, Trust};

    let dir = tempdir();
    let files =
        uidlmap::scenario::discover(&[support::root().join("scenarios")]).expect("the library");
    let mut checked = 0;
    for path in files {
        let sc = load_file(&path).expect("a library file loads");
        let big = sc
            .world
            .imap
            .mailboxes
            .iter()
            .map(|m| m.messages.len())
            .sum::<usize>()
            > 500;
        if !sc.rules.is_empty() || !sc.events.is_empty() || !sc.cache.is_empty() || big {
            continue;
        }
        let served = serve_scenario(&sc).await;
        let endpoint = |addr: std::net::SocketAddr| Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
            user: sc.world.user.clone(),
            password: Secret::new(sc.world.password.clone()),
            security: Security::Plain,
        };
        let source = uidlmap::migrate::Source {
            imap: endpoint(served.imap),
            pop3: endpoint(served.pop3),
            trust: Trust::system(),
        };
        let mut opts = uidlmap::migrate::Options::new(
            Default::default(),
            ImapcProfile::Docs.imapc(uidlmap::domain::DovecotVersion::V2_3),
        );
        // A server that loses pipelined commands costs one command timeout.
        opts.command_timeout = std::time::Duration::from_secs(2);
        let recording = record(&source, &opts).await.expect("recorded");
        served.stop().await;
        let text = write_scenario(&recording, &WriteOptions::default()).expect("written");
        let file = dir.path().join("recorded.yaml");
        let mut rec = load_str(&text, &file, dir.path()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // What the account does not say: the migration's own settings.
        rec.settings = sc.settings.clone();
        rec.destination = sc.destination;
        for profile in [ImapcProfile::Bare, ImapcProfile::Docs] {
            assert_eq!(
                answer(&rec, profile).await,
                answer(&sc, profile).await,
                "{} {profile:?}\n{text}",
                sc.name
            );
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} worlds recorded");
}
