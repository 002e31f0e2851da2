//! Real Dovecot as a source server, checked over raw sockets (plain and TLS).
//!
//! Every test skips with a printed line when Dovecot cannot run here. Sockets have read
//! timeouts and Dovecot's start is bounded, so nothing can hang.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
    if !DovecotSource::available_or_skip("source_serves_pop3_and_imap_in_the_given_order") {
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
    if !DovecotSource::available_or_skip("source_folders_and_filename_uidls") {
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
    if !DovecotSource::available_or_skip("source_over_tls") {
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
    if !DovecotSource::available_or_skip("source_reports_a_bad_config_with_the_log") {
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
    if !DovecotSource::available_or_skip("source_stops_and_cleans_up_on_drop") {
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
