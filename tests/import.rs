//! `uidlmap scenario import` on a real Dovecot store: a Maildir that Dovecot 2.3 served
//! (same-size neighbours, near-twins whose headers hash equal, a folder) is imported,
//! plainly and with `--anonymise`, and both the prediction (`uidlmap run`'s pipeline)
//! and real Dovecot served the imported scenario store what real Dovecot stores against
//! the source. The anonymised file holds none of the source's subjects, addresses,
//! Message-IDs or bodies.

mod support;

use std::path::Path;

use support::{dovecot_or_skip, start_dovecot, stop_dovecot, tempdir};
use uidlmap::conformance::{self, Options};
use uidlmap::domain::{DovecotVersion, ImapcProfile};
use uidlmap::dovecot::{OracleOptions, SourceFolder, SourceMessage, SourceOptions, run_backup};
use uidlmap::scenario::{load_file, run};

/// Secret words of the source: none may appear in an anonymised file.
const SECRETS: &[&str] = &[
    "Quarterly",
    "Invoice",
    "carol@",
    "dave@",
    "uidlmap-src.test",
    "Confidential",
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
        // Near-twins: the second differs only in trailing blanks and a dropped
        // colon-less line, so their headers hash equal (spec 4.2, 4.3).
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

fn import(maildir: &Path, out: &Path, anonymise: bool) {
    let mut cmd = support::command();
    cmd.arg("scenario")
        .arg("import")
        .arg("--imap-maildir")
        .arg(maildir)
        .arg("--imap-maildir")
        .arg(format!("Archive={}", maildir.join(".Archive").display()))
        .arg("--pop3-maildir")
        .arg(maildir)
        .arg("--out")
        .arg(out);
    if anonymise {
        cmd.arg("--anonymise");
    }
    let o = support::output(&mut cmd);
    assert_eq!(o.code, 0, "import failed: {}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_dovecot_maildir_runs_as_the_source() {
    if !dovecot_or_skip("imported_dovecot_maildir_runs_as_the_source") {
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
    let maildir = src.dir().join("home").join(src.user()).join("Maildir");
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
    let _ = &dir;
    for anonymise in [false, true] {
        let file = dir
            .path()
            .join(if anonymise { "anon.yaml" } else { "plain.yaml" });
        import(&maildir, &file, anonymise);
        if anonymise {
            let text = std::fs::read_to_string(&file).unwrap();
            for s in SECRETS {
                assert!(
                    !text.contains(s),
                    "{s:?} is in the anonymised file:\n{text}"
                );
            }
        }
        let sc = load_file(&file).expect("the imported file loads");
        let report = run::predict(
            &sc,
            ImapcProfile::Bare,
            DovecotVersion::V2_3,
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("prediction");
        assert_eq!(
            predicted(&report),
            want,
            "prediction (anonymise {anonymise})"
        );
        let real = conformance::run_dovecot(
            &sc,
            ImapcProfile::Bare,
            DovecotVersion::V2_3,
            &Options::default(),
        )
        .await
        .expect("doveadm backup against the imported scenario");
        assert_eq!(
            stored(&real),
            want,
            "Dovecot served the import (anonymise {anonymise})"
        );
    }
    stop_dovecot(src).await;
}
