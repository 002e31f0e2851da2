//! Real Dovecot as a source server, checked over raw sockets (plain and TLS).
//!
//! Every test skips with a printed line when Dovecot cannot run here. Sockets have read
//! timeouts and Dovecot's start is bounded, so nothing can hang.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{dovecot_or_skip, tempdir};
use uidlmap::dovecot::{
    DovecotError, DovecotSource, Flag, SourceFolder, SourceMessage, SourceOptions,
};
use uidlmap::secret::Secret;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn message(n: usize, body_len: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@example.com\r\nTo: alice@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <m{n}@uidlmap.test>\r\nDate: Tue, 14 Nov 2023 22:13:2{n} +0000\r\n\r\n{}\r\n",
        "x".repeat(body_len)
    )
    .into_bytes()
}

/// A line-at-a-time client over any stream, bounded in line length and line count.
struct Lines<S: Read + Write> {
    r: BufReader<S>,
}

impl<S: Read + Write> Lines<S> {
    fn new(s: S) -> Self {
        Lines {
            r: BufReader::new(s),
        }
    }

    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = (&mut self.r)
            .take(64 * 1024)
            .read_until(b'\n', &mut buf)
            .expect("read");
        assert!(n > 0, "connection closed");
        String::from_utf8(buf)
            .expect("utf-8")
            .trim_end()
            .to_string()
    }

    fn send(&mut self, cmd: &str) {
        let s = self.r.get_mut();
        s.write_all(cmd.as_bytes()).unwrap();
        s.write_all(b"\r\n").unwrap();
        s.flush().unwrap();
    }

    /// POP3: the status line, then (if `multi` and +OK) the lines up to the dot.
    fn pop3(&mut self, cmd: &str, multi: bool) -> (String, Vec<String>) {
        self.send(cmd);
        let status = self.line();
        let mut body = Vec::new();
        if multi && status.starts_with("+OK") {
            loop {
                let l = self.line();
                if l == "." {
                    break;
                }
                body.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
                assert!(body.len() < 10_000, "runaway multi-line reply");
            }
        }
        (status, body)
    }

    /// IMAP: every line up to and including the tagged reply (no literals expected).
    fn imap(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}"));
        let mut out = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
            assert!(out.len() < 10_000, "runaway IMAP reply");
        }
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn source_serves_pop3_and_imap_in_the_given_order() {
    if !dovecot_or_skip("source_serves_pop3_and_imap_in_the_given_order") {
        return;
    }
    let msgs = [message(1, 10), message(2, 200), message(3, 50)];
    let opts = SourceOptions {
        password: Secret::new("p#ss \"w\\rd"),
        messages: vec![
            SourceMessage::new(msgs[0].clone()),
            SourceMessage::new(msgs[1].clone()).with_flags(&[Flag::Seen, Flag::Flagged]),
            SourceMessage::new(msgs[2].clone()),
        ],
        uidvalidity: 1_234_567,
        ..Default::default()
    };
    let started = Instant::now();
    let src = DovecotSource::start(opts).expect("start dovecot");
    eprintln!("dovecot up in {:?}", started.elapsed());
    assert_eq!(src.host(), "127.0.0.1");
    assert_eq!(format!("{:?}", src.password()), "***");
    assert!(!format!("{src:?}").contains("p#ss"));

    // POP3
    let mut p = Lines::new(connect(src.pop3_port()));
    assert!(p.line().starts_with("+OK"), "banner");
    assert!(
        p.pop3(&format!("USER {}", src.user()), false)
            .0
            .starts_with("+OK")
    );
    let (st, _) = p.pop3(&format!("PASS {}", src.password().expose()), false);
    assert!(st.starts_with("+OK"), "PASS: {st}");
    let (st, uidl) = p.pop3("UIDL", true);
    assert!(st.starts_with("+OK"));
    // %08Xu%08Xv: Dovecot's X is lower-case hex.
    assert_eq!(
        uidl,
        vec![
            "1 000000010012d687",
            "2 000000020012d687",
            "3 000000030012d687"
        ]
    );
    for (i, line) in uidl.iter().enumerate() {
        let uid = u32::try_from(i + 1).unwrap();
        assert_eq!(line, &format!("{uid} {}", src.expected_uidl(uid).unwrap()));
    }
    let (_, list) = p.pop3("LIST", true);
    let want: Vec<String> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}", i + 1, m.len()))
        .collect();
    assert_eq!(list, want);
    let (_, top) = p.pop3("TOP 2 0", true);
    assert!(
        top.contains(&"Message-ID: <m2@uidlmap.test>".to_string()),
        "{top:?}"
    );
    assert_eq!(
        top.last().map(String::as_str),
        Some(""),
        "header ends with the blank line"
    );
    assert!(p.pop3("QUIT", false).0.starts_with("+OK"));

    // IMAP
    let mut i = Lines::new(connect(src.imap_port()));
    assert!(i.line().starts_with("* OK"), "greeting");
    let login = i.imap(
        "a",
        &format!(
            "LOGIN \"{}\" \"{}\"",
            src.user(),
            src.password()
                .expose()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        ),
    );
    assert!(login.last().unwrap().starts_with("a OK"), "{login:?}");
    let ex = i.imap("b", "EXAMINE INBOX");
    assert!(ex.contains(&"* 3 EXISTS".to_string()), "{ex:?}");
    assert!(
        ex.iter()
            .any(|l| l.starts_with("* OK [UIDVALIDITY 1234567]")),
        "{ex:?}"
    );
    let f = i.imap("c", "FETCH 1:* (UID FLAGS RFC822.SIZE)");
    assert_eq!(f.len(), 4, "{f:?}");
    assert_eq!(
        f[0],
        format!("* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {})", msgs[0].len())
    );
    assert_eq!(
        f[1],
        format!(
            "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen) RFC822.SIZE {})",
            msgs[1].len()
        )
    );
    assert_eq!(
        f[2],
        format!("* 3 FETCH (UID 3 FLAGS () RFC822.SIZE {})", msgs[2].len())
    );
    let d = i.imap("d", "UID FETCH 3 (INTERNALDATE)");
    assert!(
        d[0].contains("INTERNALDATE \"14-Nov-2023 22:13:23 +0000\""),
        "{d:?}"
    );
    assert!(i.imap("e", "LOGOUT").last().unwrap().starts_with("e OK"));
}

#[test]
fn source_folders_and_filename_uidls() {
    if !dovecot_or_skip("source_folders_and_filename_uidls") {
        return;
    }
    let opts = SourceOptions {
        messages: vec![
            SourceMessage::new(message(1, 5)),
            SourceMessage::new(message(2, 5)),
        ],
        folders: vec![
            SourceFolder {
                name: "Archive".into(),
                messages: vec![SourceMessage::new(message(3, 5))],
            },
            SourceFolder {
                name: "Sent Items".into(),
                messages: vec![],
            },
        ],
        pop3_uidl_format: "%f".into(),
        ..Default::default()
    };
    let src = DovecotSource::start(opts).expect("start dovecot");
    let mut p = Lines::new(connect(src.pop3_port()));
    p.line();
    p.pop3(&format!("USER {}", src.user()), false);
    p.pop3(&format!("PASS {}", src.password().expose()), false);
    let (_, uidl) = p.pop3("UIDL", true);
    assert_eq!(
        uidl,
        vec![
            format!("1 {}", src.expected_uidl(1).unwrap()),
            format!("2 {}", src.expected_uidl(2).unwrap()),
        ]
    );
    assert_eq!(src.expected_uidl(1).unwrap(), "1700000001.M1P1.uidlmap");

    let mut i = Lines::new(connect(src.imap_port()));
    i.line();
    i.imap(
        "a",
        &format!("LOGIN {} {}", src.user(), src.password().expose()),
    );
    let list = i.imap("b", "LIST \"\" \"*\"");
    for name in ["INBOX", "Archive", "\"Sent Items\""] {
        assert!(
            list.iter().any(|l| l.ends_with(&format!(" {name}"))),
            "{name} in {list:?}"
        );
    }
    let st = i.imap("c", "STATUS Archive (MESSAGES UIDVALIDITY)");
    assert_eq!(
        st[0],
        "* STATUS Archive (MESSAGES 1 UIDVALIDITY 1700000001)"
    );
}

#[test]
fn source_over_tls() {
    if !dovecot_or_skip("source_over_tls") {
        return;
    }
    let opts = SourceOptions {
        messages: vec![SourceMessage::new(message(1, 5))],
        tls: true,
        ..Default::default()
    };
    let src = DovecotSource::start(opts).expect("start dovecot");
    let config = uidlmap::tls::client_config(&uidlmap::tls::Trust::only(
        src.ca_der().expect("a CA").clone(),
    ))
    .unwrap();
    let tls = |port: u16| {
        let conn = rustls::ClientConnection::new(
            config.clone(),
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        rustls::StreamOwned::new(conn, connect(port))
    };

    let mut p = Lines::new(tls(src.pop3s_port().expect("pop3s")));
    assert!(p.line().starts_with("+OK"));
    p.pop3(&format!("USER {}", src.user()), false);
    assert!(
        p.pop3(&format!("PASS {}", src.password().expose()), false)
            .0
            .starts_with("+OK")
    );
    let (_, uidl) = p.pop3("UIDL", true);
    assert_eq!(uidl, vec![format!("1 {}", src.expected_uidl(1).unwrap())]);

    let mut i = Lines::new(tls(src.imaps_port().expect("imaps")));
    assert!(i.line().starts_with("* OK"));
    let r = i.imap(
        "a",
        &format!("LOGIN {} {}", src.user(), src.password().expose()),
    );
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");

    // The plain ports offer STARTTLS / STLS with the same certificate.
    let mut i = Lines::new(connect(src.imap_port()));
    let greeting = i.line();
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    let mut p = Lines::new(connect(src.pop3_port()));
    p.line();
    let (_, capa) = p.pop3("CAPA", true);
    assert!(capa.contains(&"STLS".to_string()), "{capa:?}");
}

#[test]
fn source_reports_a_bad_config_with_the_log() {
    if !dovecot_or_skip("source_reports_a_bad_config_with_the_log") {
        return;
    }
    let opts = SourceOptions {
        extra_config: vec!["no_such_setting_uidlmap = 1".into()],
        start_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let err = DovecotSource::start(opts).expect_err("must fail");
    let text = err.to_string();
    assert!(matches!(err, DovecotError::Exited { .. }), "{text}");
    assert!(text.contains("no_such_setting_uidlmap"), "{text}");
}

#[test]
fn source_stops_and_cleans_up_on_drop() {
    if !dovecot_or_skip("source_stops_and_cleans_up_on_drop") {
        return;
    }
    let src = DovecotSource::start(SourceOptions::default()).expect("start dovecot");
    let (port, dir) = (src.imap_port(), src.dir().to_path_buf());
    assert!(dir.join("dovecot.conf").exists());
    drop(src);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

// ---------------------------------------------------------------------------------------
// The oracle: doveadm backup with the pop3_migration plugin.
// ---------------------------------------------------------------------------------------

use uidlmap::domain::{Endpoint, ImapcProfile};
use uidlmap::dovecot::{OracleOptions, OracleRun, run_backup};

/// Messages A, B, C with distinct sizes, so a same-order migration pairs all by size.
fn abc() -> Vec<Vec<u8>> {
    vec![message(1, 10), message(2, 40), message(3, 90)]
}

fn endpoint(src: &DovecotSource, pop3: bool) -> Endpoint {
    Endpoint::local(
        if pop3 {
            src.pop3_port()
        } else {
            src.imap_port()
        },
        src.user(),
        src.password().clone(),
    )
}

fn no_password_anywhere(run: &OracleRun, password: &str) {
    let all = format!(
        "{:?}\n{}\n{}\n{}",
        run,
        run.log.join("\n"),
        run.imapc_rawlog.sent.join("\n"),
        run.pop3c_rawlog.sent.join("\n")
    );
    assert!(!all.contains(password), "the password leaked");
}

#[test]
fn oracle_same_server_pairs_everything_by_size() {
    if !dovecot_or_skip("oracle_same_server_pairs_everything_by_size") {
        return;
    }
    let password = "pa ss\"#1";
    let src = DovecotSource::start(SourceOptions {
        password: Secret::new(password),
        ..SourceOptions::with_messages(abc())
    })
    .expect("start dovecot");
    let mut opts = OracleOptions::new(endpoint(&src, false), endpoint(&src, true));
    opts.profile = ImapcProfile::Docs;
    opts.timeout = Duration::from_secs(20);
    let run = run_backup(opts).expect("run doveadm");

    assert_eq!(run.exit_code, 0, "{:#?}", run.plugin_lines);
    assert!(!run.timed_out);
    let s = run.summaries();
    assert_eq!(s.len(), 1, "{:#?}", run.plugin_lines);
    assert_eq!(
        (s[0].mailbox.as_str(), s[0].size_matches, s[0].total),
        ("INBOX", 3, 3)
    );
    assert_eq!(
        s[0].matched_by_headers, None,
        "complete size pass: no header pass"
    );
    assert!(run.plugin_says("size matches=3"));

    let inbox = run.mailbox("INBOX");
    assert_eq!(inbox.len(), 3);
    for (i, m) in inbox.iter().enumerate() {
        let uid = u32::try_from(i + 1).unwrap();
        assert_eq!(m.uid, uid);
        assert_eq!(m.pop3_uidl, src.expected_uidl(uid).unwrap());
        assert_eq!(m.pop3_order, uid);
        assert_eq!(m.message_id, format!("<m{uid}@uidlmap.test>"));
        assert_eq!(m.subject, format!("message {uid}"));
    }

    // Docs profile: sizes by RFC822.SIZE in one command; no TOP since sizes settled it.
    let imap = &run.imapc_rawlog.sent;
    assert_eq!(imap[0], "1 LOGIN \"alice\" \"***\"", "{imap:#?}");
    assert!(
        imap.iter()
            .any(|l| l.ends_with("UID FETCH 1,2,3 (RFC822.SIZE)")),
        "{imap:#?}"
    );
    let pop3 = &run.pop3c_rawlog.sent;
    assert_eq!(
        pop3[..4],
        ["USER alice", "PASS ***", "CAPA", "UIDL"],
        "{pop3:#?}"
    );
    assert!(pop3.contains(&"LIST".to_string()));
    assert!(!pop3.iter().any(|l| l.starts_with("TOP")), "{pop3:#?}");
    no_password_anywhere(&run, password);
}

#[test]
fn oracle_keeps_pop3_order_when_pop3_lists_differently() {
    if !dovecot_or_skip("oracle_keeps_pop3_order_when_pop3_lists_differently") {
        return;
    }
    let [a, b, c]: [Vec<u8>; 3] = abc().try_into().unwrap();
    let imap = DovecotSource::start(SourceOptions::with_messages([
        a.clone(),
        b.clone(),
        c.clone(),
    ]))
    .expect("start IMAP dovecot");
    // POP3 lists C, A, B; another UIDVALIDITY so its UIDLs cannot be mistaken for IMAP's.
    let pop3 = DovecotSource::start(SourceOptions {
        uidvalidity: 1_600_000_000,
        ..SourceOptions::with_messages([c, a, b])
    })
    .expect("start POP3 dovecot");
    let mut opts = OracleOptions::new(endpoint(&imap, false), endpoint(&pop3, true));
    opts.profile = ImapcProfile::Bare;
    opts.timeout = Duration::from_secs(20);
    let run = run_backup(opts).expect("run doveadm");

    assert_eq!(run.exit_code, 0, "{:#?}", run.plugin_lines);
    let s = run.summaries();
    assert_eq!(s.len(), 1, "{:#?}", run.plugin_lines);
    // Position 0 already differs in size: the size pass stops at once (spec §3) and the
    // header pass pairs all three.
    assert_eq!((s[0].size_matches, s[0].total), (0, 3));
    assert_eq!(s[0].matched_by_headers, Some(3));

    // Spec §6: IMAP [A, B, C] with POP3 [C, A, B] gives A=O2, B=O3, C=O1.
    let got: Vec<(u32, String, u32)> = run
        .mailbox("INBOX")
        .iter()
        .map(|m| (m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect();
    let want = vec![
        (1, pop3.expected_uidl(2).unwrap(), 2),
        (2, pop3.expected_uidl(3).unwrap(), 3),
        (3, pop3.expected_uidl(1).unwrap(), 1),
    ];
    assert_eq!(got, want);

    // Bare profile: one BODY.PEEK[] per UID for the sizes, one TOP per POP3 message.
    let imap_cmds = &run.imapc_rawlog.sent;
    for uid in 1..=3 {
        assert!(
            imap_cmds
                .iter()
                .any(|l| l.ends_with(&format!("UID FETCH {uid} (BODY.PEEK[])"))),
            "{imap_cmds:#?}"
        );
    }
    let tops: Vec<&String> = run
        .pop3c_rawlog
        .sent
        .iter()
        .filter(|l| l.starts_with("TOP"))
        .collect();
    assert_eq!(tops, ["TOP 1 0", "TOP 2 0", "TOP 3 0"]);
}

#[test]
fn oracle_refuses_an_extra_pop3_message_unless_told_to_ignore_it() {
    if !dovecot_or_skip("oracle_refuses_an_extra_pop3_message_unless_told_to_ignore_it") {
        return;
    }
    let mut msgs = abc();
    let imap = DovecotSource::start(SourceOptions::with_messages(msgs.clone()))
        .expect("start IMAP dovecot");
    msgs.push(message(4, 160));
    let pop3 = DovecotSource::start(SourceOptions {
        uidvalidity: 1_600_000_000,
        ..SourceOptions::with_messages(msgs)
    })
    .expect("start POP3 dovecot");

    let mut opts = OracleOptions::new(endpoint(&imap, false), endpoint(&pop3, true));
    opts.profile = ImapcProfile::Docs;
    opts.timeout = Duration::from_secs(20);
    let refused = run_backup(opts.clone()).expect("run doveadm");
    eprintln!("plugin lines: {:#?}", refused.plugin_lines);
    // Spec §5: the missing-message error fails INBOX, which is then not copied at all.
    assert_eq!(refused.exit_code, 75, "{:#?}", refused.plugin_lines);
    assert!(
        refused.plugin_says("POP3 messages have no matching IMAP messages"),
        "{:#?}",
        refused.plugin_lines
    );
    assert!(
        refused.plugin_says("POP3 UIDLs couldn't be synced"),
        "{:#?}",
        refused.plugin_lines
    );
    assert!(
        refused.mailbox("INBOX").is_empty(),
        "{:#?}",
        refused.messages
    );
    // Spec §3: the prefix of three still pairs by size; only the tail is read by TOP.
    assert_eq!(refused.summaries()[0].size_matches, 3);
    let tops: Vec<&String> = refused
        .pop3c_rawlog
        .sent
        .iter()
        .filter(|l| l.starts_with("TOP"))
        .collect();
    assert_eq!(tops, ["TOP 4 0"]);

    // IMAP count + missing = POP3 count, so ignore_extra_uidls turns it into a warning.
    opts.settings.ignore_extra_uidls = true;
    let accepted = run_backup(opts).expect("run doveadm");
    assert_eq!(accepted.exit_code, 0, "{:#?}", accepted.plugin_lines);
    let got: Vec<(u32, String, u32)> = accepted
        .mailbox("INBOX")
        .iter()
        .map(|m| (m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect();
    let want: Vec<(u32, String, u32)> = (1..=3)
        .map(|u| (u, pop3.expected_uidl(u).unwrap(), u))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn oracle_kills_doveadm_at_the_run_timeout() {
    if !dovecot_or_skip("oracle_kills_doveadm_at_the_run_timeout") {
        return;
    }
    // A peer that accepts and never says anything: imapc waits for a greeting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut opts = OracleOptions::new(
        Endpoint::local(port, "alice", Secret::new("x")),
        Endpoint::local(port, "alice", Secret::new("x")),
    );
    opts.timeout = Duration::from_millis(1500);
    let started = Instant::now();
    let run = run_backup(opts).expect("run doveadm");
    assert!(run.timed_out, "{:#?}", run.plugin_lines);
    eprintln!(
        "exit code after the timeout: {}, log tail: {:#?}",
        run.exit_code,
        &run.log[run.log.len().saturating_sub(3)..]
    );
    assert_ne!(run.exit_code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(run.messages.is_empty());
    drop(silent);
}

#[test]
fn oracle_over_tls_verifies_the_test_ca() {
    if !dovecot_or_skip("oracle_over_tls_verifies_the_test_ca") {
        return;
    }
    let src = DovecotSource::start(SourceOptions {
        tls: true,
        ..SourceOptions::with_messages(abc())
    })
    .expect("start dovecot");
    // imapc over TLS only: pop3c over TLS stalls now and then in 2.3.19.1 (STLS always),
    // which would make this test flaky; see the module docs of `oracle`.
    let mut imap = endpoint(&src, false);
    imap.port = src.imaps_port().unwrap();
    imap.security = uidlmap::tls::Security::Implicit;
    let mut opts = OracleOptions::new(imap, endpoint(&src, true));
    opts.ca_file = src.ca_file();
    opts.profile = ImapcProfile::Docs;
    opts.timeout = Duration::from_secs(20);
    let run = run_backup(opts.clone()).expect("run doveadm");
    assert_eq!(run.exit_code, 0, "{:#?}", run.plugin_lines);
    let got: Vec<(u32, String, u32)> = run
        .mailbox("INBOX")
        .iter()
        .map(|m| (m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect();
    let want: Vec<(u32, String, u32)> = (1..=3)
        .map(|u| (u, src.expected_uidl(u).unwrap(), u))
        .collect();
    assert_eq!(got, want);

    // Without the CA, verification fails: login fails, and doveadm 2.3.19.1 aborts on an
    // IMAP login failure (exit 134; interop note). (STARTTLS without the CA is worse:
    // imapc reconnects in a tight loop until killed, so it is not tried here.)
    opts.ca_file = None;
    let untrusted = run_backup(opts).expect("run doveadm");
    assert_eq!(untrusted.exit_code, 134, "{:#?}", untrusted.plugin_lines);
    assert!(
        untrusted.log.iter().any(|l| l.contains("SSL certificate")),
        "{:#?}",
        untrusted.plugin_lines
    );
    assert!(untrusted.messages.is_empty(), "{:#?}", untrusted.messages);
}

#[test]
fn oracle_reuses_a_workdir_and_an_incremental_run_skips_pop3() {
    if !dovecot_or_skip("oracle_reuses_a_workdir_and_an_incremental_run_skips_pop3") {
        return;
    }
    let src = DovecotSource::start(SourceOptions::with_messages(abc())).expect("start dovecot");
    let dir = tempdir();
    let mut opts = OracleOptions::new(endpoint(&src, false), endpoint(&src, true));
    opts.workdir = Some(dir.path().join("oracle"));
    opts.imapc_location = "imapc:~/imapc".into();
    opts.timeout = Duration::from_secs(20);
    let first = run_backup(opts.clone()).expect("run doveadm");
    assert_eq!(first.exit_code, 0, "{:#?}", first.plugin_lines);
    assert_eq!(first.workdir.as_deref(), opts.workdir.as_deref());
    assert!(!first.pop3c_rawlog.sent.is_empty());

    // Spec §1: nothing new to copy, so the plugin never asks POP3; what was stored stays.
    let second = run_backup(opts).expect("run doveadm");
    assert_eq!(second.exit_code, 0, "{:#?}", second.plugin_lines);
    assert!(
        second.pop3c_rawlog.sent.is_empty(),
        "{:#?}",
        second.pop3c_rawlog
    );
    assert!(second.summaries().is_empty());
    assert_eq!(second.messages, first.messages);
    assert_eq!(first.mailbox("INBOX").len(), 3);
}
