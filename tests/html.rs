//! `--format html` in headless Chromium: the DOM after the page's script ran is checked
//! against the JSON report of the same scenarios (every IMAP message, its verdict, pass
//! and POP3 order), hostile names stay text, and a 20,000-message page loads and dumps
//! within a bound (against hangs; the time is printed). Skipped where Chromium is not
//! installed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uidlmap::report::{
    self, Advice, AuditReport, DovecotReport, MailboxReport, MessageReport, Passes, Pop3Entry,
    Report,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/chromium");
    if p.exists() {
        return Some(p);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .ok()?;
    let path = String::from_utf8(found.stdout).ok()?;
    let path = path.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Loads `page` in headless Chromium and returns the DOM after its scripts ran, and how
/// long that took. Killed after `limit`.
fn dump_dom(chromium: &Path, page: &Path, limit: Duration) -> (String, Duration) {
    let profile = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read on a thread: a big DOM fills the pipe long before Chromium exits.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish {} within {limit:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let dom = reader.join().unwrap().expect("the DOM is UTF-8");
    (dom, start.elapsed())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attributes of every `<div class="m…">` (an IMAP message) in `html`, in order.
fn imap_elements(html: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for piece in html.split("<div class=\"m").skip(1) {
        if !piece.starts_with(['"', ' ']) {
            continue; // another class (`mbh`)
        }
        // After the class value's closing quote: `name="value"` pairs up to `>`.
        let mut s = &piece[piece.find('"').unwrap() + 1..];
        let mut attrs = BTreeMap::new();
        loop {
            s = s.trim_start();
            if s.starts_with('>') {
                break;
            }
            let eq = s.find("=\"").expect("attribute");
            let value = &s[eq + 2..];
            let end = value.find('"').expect("quoted value");
            attrs.insert(s[..eq].to_string(), unescape(&value[..end]));
            s = &value[end + 1..];
        }
        out.push(attrs);
    }
    out
}

/// The page's sections, one per report, by `<section id="rN">`.
fn sections(dom: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = dom.split("<section id=\"r").skip(1).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.split("</section>").next().unwrap();
    }
    parts
}

fn uidlmap(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_uidlmap"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("uidlmap runs");
    assert!(
        out.status.code() == Some(0),
        "uidlmap {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const HOSTILE: &str = r#"description: "Hostile text: <script>document.title='pwned'</script> & \"quotes\""
settings: { all_mailboxes: yes }
messages:
  m1: { subject: Hello, size: 1200 }
  m2: { subject: Invoice, size: 1200 }
  m3: { subject: Lunch, size: 900 }
imap:
  mailboxes:
    INBOX: [m1, m2]
    "<img src=x onerror=alert(1)> &amp; 'a'": [m3]
pop3:
  messages: [m2, m1, m3]
  uidl: "<u>{id}&\"'</u>"
expect: { outcome: success }
"#;

#[test]
fn rendered_dom_matches_the_json_report() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("hostile.yaml");
    std::fs::write(&hostile, HOSTILE).unwrap();
    let mut paths: Vec<String> = [
        "scenarios/basic/identical.yaml",
        "scenarios/dovecot-bugs/positional-size-crossed.yaml",
        "scenarios/dovecot-bugs/duplicate-headers-swapped.yaml",
        "scenarios/dovecot-bugs/cached-uidl-order-lost.yaml",
        "scenarios/dovecot-bugs/empty-uidl-shift.yaml",
        "scenarios/dovecot-bugs/failed-inbox-stops-later-folders.yaml",
        "scenarios/uidls",
    ]
    .map(String::from)
    .to_vec();
    paths.push(hostile.display().to_string());
    let mut args = vec!["run", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let reports: Vec<serde_json::Value> = serde_json::from_str(&uidlmap(&args)).unwrap();
    args[2] = "html";
    let page = dir.path().join("page.html");
    std::fs::write(&page, uidlmap(&args)).unwrap();

    let (dom, took) = dump_dom(&chromium, &page, Duration::from_secs(60));
    eprintln!("{} reports rendered and dumped in {took:?}", reports.len());
    // The hostile description and names stayed text: one script, the page's own.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<img src=x"));
    assert!(!dom.contains("<title>pwned"));
    let sections = sections(&dom);
    assert_eq!(sections.len(), reports.len());
    let mut checked = 0;
    for (r, section) in reports.iter().zip(&sections) {
        let name = r["name"].as_str().unwrap();
        let s = |v: &serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut want = Vec::new();
        for mb in r["dovecot"]["mailboxes"].as_array().unwrap() {
            for m in mb["messages"].as_array().unwrap() {
                want.push([
                    s(&mb["name"]),
                    s(&m["uid"]),
                    s(&m["order"]),
                    s(&m["via"]),
                    s(&m["verdict"]),
                ]);
            }
        }
        let got: Vec<[String; 5]> = imap_elements(section)
            .into_iter()
            .map(|a| {
                [
                    "data-mailbox",
                    "data-uid",
                    "data-pop3-order",
                    "data-pass",
                    "data-verdict",
                ]
                .map(|k| {
                    a.get(k)
                        .cloned()
                        .unwrap_or_else(|| panic!("{name}: no {k}"))
                })
            })
            .collect();
        assert_eq!(got, want, "{name}");
        checked += got.len();
        // Every pairing the page knows of got its line.
        let paired = section.matches(" data-to=\"").count();
        let lines = section.matches("<line x1=\"0\"").count();
        assert!(paired == 0 || lines > 0, "{name}: no lines drawn");
        if let Some(a) = r.get("audit") {
            let reason = a["recommendation"]["reason"].as_str().unwrap();
            assert!(section.contains(&report_text(reason)), "{name}: no reason");
        }
    }
    assert!(checked > 20, "only {checked} messages checked");
}

/// `s` as the page shows it (Chromium's serialisation of text).
fn report_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A report of `n` messages in INBOX, mostly right, with a pair crossed by size every
/// 1,000 messages and one message lost every 5,000.
fn big_report(n: u32) -> Report {
    let mut messages = Vec::new();
    let mut pop3 = Vec::new();
    for uid in 1..=n {
        let crossed = uid % 1000 == 1 && uid < n;
        let partner = match () {
            _ if crossed => uid + 1,
            _ if uid % 1000 == 2 && uid > 1 => uid - 1,
            _ => uid,
        };
        let lost = uid % 5000 == 0;
        pop3.push(Pop3Entry {
            number: uid,
            uidl: format!("UID{uid}-1"),
            size: Some(1000 + u64::from(uid % 7)),
        });
        messages.push(MessageReport {
            uid,
            message: Some(format!("m{uid}")),
            uidl: (!lost).then(|| format!("UID{partner}-1")),
            plugin_uidl: None,
            order: (!lost).then_some(partner),
            via: (!lost).then_some("size"),
            verdict: Some(match () {
                _ if lost => "lost",
                _ if partner != uid => "wrong",
                _ => "right",
            }),
            cause: (lost || partner != uid).then_some("positional size pairing"),
            expected: (lost || partner != uid).then(|| format!("UID{uid}-1 (POP3 msg {uid})")),
        });
    }
    let wrong = messages
        .iter()
        .filter(|m| m.verdict == Some("wrong"))
        .count();
    let lost = messages
        .iter()
        .filter(|m| m.verdict == Some("lost"))
        .count();
    let settings: BTreeMap<String, String> = [(
        "pop3_migration_skip_size_check".to_string(),
        "yes".to_string(),
    )]
    .into();
    Report {
        name: "generated/20k".into(),
        description: Some(format!("{n} messages, a crossed pair every 1,000")),
        settings: [(
            "pop3_migration_mailbox".to_string(),
            "POP3-MIGRATION-NS/INBOX".to_string(),
        )]
        .into(),
        imapc: "docs".into(),
        destination: "maildir".into(),
        dovecot_version: "2.3".into(),
        setting_spellings: Vec::new(),
        other_versions: Vec::new(),
        dovecot: DovecotReport {
            exit_code: 0,
            result: "success (exit 0)".into(),
            mailboxes: vec![MailboxReport {
                name: "INBOX".into(),
                status: "synced".into(),
                copied: true,
                passes: Some(Passes {
                    cached_uidls: 0,
                    size_matches: n as usize,
                    total: n as usize,
                    header_pass: false,
                    header_matches: 0,
                }),
                messages,
            }],
            log: Vec::new(),
        },
        pop3: Some(pop3),
        audit: Some(AuditReport {
            counts: uidlmap::matcher::audit::Counts {
                right: n as usize - wrong - lost,
                wrong,
                lost,
                ..Default::default()
            },
            recommendation: Advice {
                config: report::config_block(&settings, uidlmap::domain::DovecotVersion::V2_3),
                settings,
                reason: "set pop3_migration_skip_size_check=yes: every UIDL is then carried right"
                    .into(),
            },
        }),
        traffic: None,
        expectation: None,
    }
}

#[test]
fn twenty_thousand_messages_load_within_bounds() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
    let n = 20_000;
    let big = big_report(n);
    let html = report::html::render(std::slice::from_ref(&big));
    assert_eq!(
        html,
        report::html::render(&[big_report(n)]),
        "deterministic"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("big.html");
    std::fs::write(&page, &html).unwrap();
    let (dom, took) = dump_dom(&chromium, &page, Duration::from_secs(60));
    eprintln!(
        "{n} messages: page {} bytes, rendered and dumped in {took:?}",
        html.len()
    );
    // Generous for a shared machine; the point is that it neither hangs nor crawls.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let elements = imap_elements(&dom);
    assert_eq!(elements.len(), n as usize);
    let wrong = elements
        .iter()
        .filter(|a| a["data-verdict"] == "wrong")
        .count();
    assert_eq!(wrong, big.audit.as_ref().unwrap().counts.wrong);
    // Folded: the wrong pairs and the bands of the folds are drawn, not 20,000 lines.
    let lines = dom.matches("<line x1=\"0\"").count();
    assert!(lines > wrong && lines < 1000, "{lines} lines");
}
