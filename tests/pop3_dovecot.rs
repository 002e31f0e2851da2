//! The POP3 client against real Dovecot pop3d (2.3.19.1) on 127.0.0.1: plain, STLS and
//! POP3S with the harness's test CA, pipelined and not, every login method.
//!
//! Each test prints `skipped: ...` and returns when Dovecot cannot run here (not
//! installed, or not root); CI installs it. Every test runs under a timeout.

mod support;

use std::time::{Duration, Instant};

use support::{dovecot_or_skip, start_dovecot, stop_dovecot, within};
use uidlmap::dovecot::{DovecotSource, SourceMessage, SourceOptions};
use uidlmap::pop3::{
    Fetch, Fetched, Limits, Pop3Client, Pop3Error, RespCode, Status, Timeouts, connect,
};
use uidlmap::secret::Secret;
use uidlmap::tls::{MaybeTls, Security, Trust};

/// How long any one test may take.
const LIMIT: Duration = Duration::from_secs(60);

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(10),
    }
}

fn generated(n: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@example.com\r\nTo: alice@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <m{n}@uidlmap.test>\r\n\r\nbody of {n}\r\n"
    )
    .into_bytes()
}

/// Messages with dot lines, a folded header and a long body, then generated ones.
fn messages(n: usize) -> Vec<Vec<u8>> {
    let mut out = vec![
        b"From: a@example.com\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"
            .to_vec(),
        b"From: b@example.com\r\nSubject: folded\r\n\tcontinued\r\nX-Empty:\r\n\r\nbody\r\n"
            .to_vec(),
        [
            b"From: c@example.com\r\nSubject: long\r\n\r\n".to_vec(),
            b"0123456789abcdef\r\n".repeat(4000),
        ]
        .concat(),
    ];
    out.extend((4..=n).map(generated));
    out.truncate(n);
    out
}

fn header(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("blank line");
    &message[..end + 4]
}

fn options(msgs: &[Vec<u8>]) -> SourceOptions {
    SourceOptions {
        password: Secret::new("p#ss w\"rd"),
        messages: msgs.iter().cloned().map(SourceMessage::new).collect(),
        // Failed logins are delayed 2 s by default; nothing here needs that.
        extra_config: vec![
            "auth_failure_delay = 0".into(),
            "auth_mechanisms = plain apop".into(),
        ],
        ..Default::default()
    }
}

async fn plain(src: &DovecotSource) -> Pop3Client<MaybeTls> {
    connect(
        src.host(),
        src.pop3_port(),
        Security::Plain,
        &Trust::default(),
        timeouts(),
        Limits::default(),
    )
    .await
    .expect("connect to dovecot")
}

#[tokio::test]
async fn dovecot_listing_headers_and_messages() {
    if !dovecot_or_skip("dovecot_listing_headers_and_messages") {
        return;
    }
    within(LIMIT, async {
        let msgs = messages(40);
        let src = start_dovecot(options(&msgs)).await;
        let mut c = plain(&src).await;
        assert!(c.greeting().text.contains("ready"), "{}", c.greeting());
        let pre = c.capa().await.unwrap().clone();
        assert!(
            pre.user && pre.sasl.contains(&"PLAIN".to_string()),
            "{pre:?}"
        );
        c.login(src.user(), src.password()).await.unwrap();
        let caps = c.capa().await.unwrap().clone();
        assert!(
            caps.answered && caps.top && caps.uidl && caps.pipelining && caps.resp_codes,
            "{caps:?}"
        );

        let (count, octets) = c.stat().await.unwrap();
        assert_eq!(count as usize, msgs.len());
        assert_eq!(octets, msgs.iter().map(|m| m.len() as u64).sum::<u64>());
        let uidls = c.uidl_all().await.unwrap();
        let want: Vec<Vec<u8>> = (1..=msgs.len() as u32)
            .map(|uid| src.expected_uidl(uid).unwrap().into_bytes())
            .collect();
        assert_eq!(uidls, want);
        let sizes = c.list_all(Some(uidls.len())).await.unwrap();
        assert_eq!(
            sizes,
            msgs.iter().map(|m| m.len() as u64).collect::<Vec<_>>()
        );

        // All 40 TOPs in one flush, as pop3c would with a deep enough prefetch.
        let numbers: Vec<u32> = (1..=msgs.len() as u32).collect();
        let before = c.stats();
        let headers = c.fetch_headers(&numbers).await.unwrap();
        assert_eq!(c.stats().round_trips - before.round_trips, 1);
        for ((n, got), m) in headers.iter().zip(&msgs) {
            assert_eq!(got, &Fetched::Top(header(m).to_vec()), "TOP {n} 0");
        }
        // RETR returns the stored bytes exactly, dot lines included.
        let full = c
            .fetch(&[Fetch::Retr { msg: 1 }, Fetch::Retr { msg: 3 }])
            .await
            .unwrap();
        assert_eq!(full[0].bytes().unwrap(), &msgs[0][..]);
        assert_eq!(full[1].bytes().unwrap(), &msgs[2][..]);

        // Beyond the maildrop: -ERR, which pop3c (and so this client) calls expunged.
        let gone = c.top(msgs.len() as u32 + 1, 0).await.unwrap();
        let Fetched::Expunged { reply } = &gone else {
            panic!("{gone:?}")
        };
        assert_eq!(reply.status, Status::Err);
        c.noop().await.unwrap();
        c.quit().await.unwrap();
        stop_dovecot(src).await;
    })
    .await;
}

#[tokio::test]
async fn dovecot_pipelined_versus_one_at_a_time() {
    if !dovecot_or_skip("dovecot_pipelined_versus_one_at_a_time") {
        return;
    }
    within(LIMIT, async {
        let msgs: Vec<Vec<u8>> = (1..=1000).map(generated).collect();
        let src = start_dovecot(options(&msgs)).await;
        let numbers: Vec<u32> = (1..=msgs.len() as u32).collect();
        for window in [1, 20, 128] {
            let mut c = plain(&src).await;
            c.login(src.user(), src.password()).await.unwrap();
            c.capa().await.unwrap();
            c.set_window(window);
            let before = c.stats();
            let started = Instant::now();
            let headers = c.fetch_headers(&numbers).await.unwrap();
            let took = started.elapsed();
            let rt = c.stats().round_trips - before.round_trips;
            let expected = if window == 1 {
                1000
            } else {
                let w = window as u64;
                1 + (1000 - w).div_ceil(w / 2)
            };
            assert_eq!(rt, expected, "window {window}");
            for ((_, got), m) in headers.iter().zip(&msgs) {
                assert_eq!(got.bytes(), Some(header(m)));
            }
            eprintln!("dovecot: 1000 × TOP n 0, window {window}: {rt} round trips, {took:?}");
            drop(c.into_inner());
        }
        stop_dovecot(src).await;
    })
    .await;
}

#[tokio::test]
async fn dovecot_auth_methods_and_failures() {
    if !dovecot_or_skip("dovecot_auth_methods_and_failures") {
        return;
    }
    within(LIMIT, async {
        let msgs = messages(3);
        let src = start_dovecot(options(&msgs)).await;

        let mut c = plain(&src).await;
        let err = c
            .login(src.user(), &Secret::new("wrong"))
            .await
            .unwrap_err();
        assert_eq!(err.resp_code(), Some(&RespCode::Auth), "{err}");
        assert!(err.to_string().starts_with("PASS ***: "), "{err}");
        assert!(!format!("{err:?}").contains("wrong"), "{err:?}");

        let mut c = plain(&src).await;
        c.auth_plain(src.user(), src.password()).await.unwrap();
        assert_eq!(c.stat().await.unwrap().0, 3);

        let mut c = plain(&src).await;
        match c.apop_timestamp() {
            Some(_) => {
                c.apop(src.user(), src.password()).await.unwrap();
                assert_eq!(c.stat().await.unwrap().0, 3);
            }
            None => panic!(
                "Dovecot with auth_mechanisms = plain apop sent no APOP timestamp: {}",
                c.greeting()
            ),
        }
        stop_dovecot(src).await;
    })
    .await;
}

#[tokio::test]
async fn dovecot_uidls_with_spaces_are_kept_whole() {
    if !dovecot_or_skip("dovecot_uidls_with_spaces_are_kept_whole") {
        return;
    }
    within(LIMIT, async {
        let msgs = messages(3);
        let src = start_dovecot(SourceOptions {
            pop3_uidl_format: "%u  x\t%v".into(),
            ..options(&msgs)
        })
        .await;
        let mut c = plain(&src).await;
        c.login(src.user(), src.password()).await.unwrap();
        let uidls = c.uidl_all().await.unwrap();
        assert_eq!(
            uidls[1],
            format!("2  x\t{}", src.uidvalidity()).into_bytes()
        );
        stop_dovecot(src).await;
    })
    .await;
}

#[tokio::test]
async fn dovecot_stls_and_pop3s_verify_the_certificate() {
    if !dovecot_or_skip("dovecot_stls_and_pop3s_verify_the_certificate") {
        return;
    }
    within(LIMIT, async {
        let msgs = messages(5);
        let src = start_dovecot(SourceOptions {
            tls: true,
            ..options(&msgs)
        })
        .await;
        let trust = Trust::only(src.ca_der().expect("tls on").clone());
        let cases = [
            (Security::StartTls, src.pop3_port()),
            (Security::Implicit, src.pop3s_port().expect("pop3s port")),
        ];
        for (security, port) in cases {
            let mut c = connect(
                src.host(),
                port,
                security,
                &trust,
                timeouts(),
                Limits::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
            let caps = c.capa().await.unwrap();
            assert!(
                !caps.stls,
                "{security:?}: STLS offered inside TLS: {caps:?}"
            );
            c.login(src.user(), src.password()).await.unwrap();
            c.capa().await.unwrap();
            let got = c.fetch_headers(&[1, 2, 3, 4, 5]).await.unwrap();
            for ((_, f), m) in got.iter().zip(&msgs) {
                assert_eq!(f.bytes(), Some(header(m)), "{security:?}");
            }
            c.quit().await.unwrap();
        }

        // Before STLS, the plain port lists STLS.
        let mut c = plain(&src).await;
        assert!(c.capa().await.unwrap().stls);

        // Another CA: refused on both.
        let other = fake_servers::tls::TestCa::generate().unwrap();
        for (security, port) in cases {
            let err = connect(
                src.host(),
                port,
                security,
                &Trust::only(other.ca_der.clone()),
                timeouts(),
                Limits::default(),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, Pop3Error::Tls(_)), "{security:?}: {err}");
        }
        stop_dovecot(src).await;
    })
    .await;
}

#[tokio::test]
async fn dovecot_serves_lf_only_mail_with_crlf_and_counts_it() {
    if !dovecot_or_skip("dovecot_serves_lf_only_mail_with_crlf_and_counts_it") {
        return;
    }
    within(LIMIT, async {
        let lf = b"From: x@example.com\nSubject: lf only\n\n.dot\nbody\n".to_vec();
        let crlf = b"From: x@example.com\r\nSubject: lf only\r\n\r\n.dot\r\nbody\r\n".to_vec();
        let src = start_dovecot(options(std::slice::from_ref(&lf))).await;
        let mut c = plain(&src).await;
        c.login(src.user(), src.password()).await.unwrap();
        c.capa().await.unwrap();
        // LIST counts CRLF line ends (RFC 1939), not the stored LF bytes.
        assert_eq!(c.list_all(Some(1)).await.unwrap(), [crlf.len() as u64]);
        let got = c
            .fetch(&[Fetch::Top { msg: 1, lines: 0 }, Fetch::Retr { msg: 1 }])
            .await
            .unwrap();
        assert_eq!(got[0].bytes(), Some(header(&crlf)));
        assert_eq!(got[1].bytes(), Some(&crlf[..]));
        stop_dovecot(src).await;
    })
    .await;
}
