//! The POP3 client against the fake POP3 server over real sockets on 127.0.0.1: plain,
//! STLS and implicit TLS with the test CA, pipelined and not, and every fault the
//! server can be scripted to produce. Every test runs under a timeout.

mod support;

use std::time::Duration;

use fake_servers::pop3::{Pop3Caps, Pop3Options, Pop3Tls, Running, WriteShaping, spawn_local};
use fake_servers::script::{
    CommandMatch, Event, FaultAction, Phase, Protocol, Rule, Script, WorldChange,
};
use fake_servers::tls::TestCa;
use fake_servers::world::{Pop3Message, SharedWorld, World};
use support::within;
use uidlmap::pop3::{
    Capabilities, CodecError, Fetch, Fetched, Limits, Pop3Client, Pop3Error, RespCode, Timeouts,
    connect,
};
use uidlmap::secret::Secret;
use uidlmap::tls::{MaybeTls, Security, TlsError, Trust};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret pw#\"";

/// How long any one test may take.
const LIMIT: Duration = Duration::from_secs(30);

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(5),
    }
}

/// Four odd messages, then plain generated ones up to `n`.
fn messages(n: usize) -> Vec<Pop3Message> {
    let mut out = vec![
        Pop3Message::honest(
            "m1",
            "UID1-abc",
            b"From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n.dot line\r\n.\r\n".to_vec(),
        ),
        Pop3Message::honest(
            "m2",
            "  lead spaces",
            b"From: b@example.org\nSubject: two\n\nbare lf body\n".to_vec(),
        ),
        Pop3Message::honest(
            "m3",
            "tab\there ",
            b"Subject: three\r\n\r\nno newline at end".to_vec(),
        ),
        Pop3Message::honest("m4", "", b"Subject: four\r\nX: header only\r\n".to_vec()),
    ];
    for i in 5..=n {
        out.push(Pop3Message::honest(
            format!("m{i}"),
            format!("uid{i}"),
            format!("Subject: n{i}\r\nMessage-ID: <{i}@example.org>\r\n\r\nbody {i}\r\n")
                .into_bytes(),
        ));
    }
    out.truncate(n);
    out
}

fn world(n: usize) -> SharedWorld {
    let mut w = World {
        user: USER.into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    w.pop3.messages = messages(n);
    SharedWorld::new(w)
}

async fn start(world: &SharedWorld, script: &Script, options: Pop3Options) -> Running {
    spawn_local(world.clone(), script.clone(), options)
        .await
        .expect("bind 127.0.0.1:0")
}

async fn plain(server: &Running) -> Pop3Client<MaybeTls> {
    connect(
        "127.0.0.1",
        server.addr.port(),
        Security::Plain,
        &Trust::default(),
        timeouts(),
        Limits::default(),
    )
    .await
    .expect("connect")
}

async fn logged_in(server: &Running) -> Pop3Client<MaybeTls> {
    let mut c = plain(server).await;
    c.login(USER, &Secret::new(PASSWORD)).await.expect("login");
    c.capa().await.expect("CAPA");
    c
}

fn pop3_log(script: &Script) -> Vec<String> {
    script
        .log()
        .into_iter()
        .filter(|e| e.protocol == Protocol::Pop3)
        .map(|e| e.command)
        .collect()
}

fn rule(prefix: &str, action: FaultAction, skip: u64, times: Option<u64>) -> Rule {
    Rule {
        on: CommandMatch::prefix(Protocol::Pop3, prefix),
        action,
        skip,
        times,
    }
}

#[tokio::test]
async fn plain_session_reads_everything_as_sent() {
    within(LIMIT, async {
        let (w, script) = (world(6), Script::default());
        let server = start(&w, &script, Pop3Options::default()).await;
        let mut c = plain(&server).await;
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        let caps = c.capa().await.unwrap().clone();
        assert!(caps.answered && caps.top && caps.uidl && caps.pipelining && caps.resp_codes);
        assert!(!caps.user && caps.sasl.is_empty(), "after login: {caps:?}");

        assert_eq!(c.stat().await.unwrap().0, 6);
        let uidls = c.uidl_all().await.unwrap();
        assert_eq!(
            uidls,
            [
                &b"UID1-abc"[..],
                b"  lead spaces",
                b"tab\there ",
                b"",
                b"uid5",
                b"uid6"
            ]
        );
        let sizes = c.list_all(Some(uidls.len())).await.unwrap();
        let expected: Vec<u64> = messages(6).iter().map(Pop3Message::size).collect();
        assert_eq!(sizes, expected);

        let headers = c.fetch_headers(&[1, 2, 3, 4, 5, 6]).await.unwrap();
        let want: [&[u8]; 4] = [
            b"From: a@example.org\r\nSubject: one\r\n\r\n",
            b"From: b@example.org\nSubject: two\n\n",
            b"Subject: three\r\n\r\n",
            b"Subject: four\r\nX: header only\r\n",
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(headers[i], (i as u32 + 1, Fetched::Top(w.to_vec())));
        }
        let full = c
            .fetch(&[Fetch::Retr { msg: 1 }, Fetch::Retr { msg: 3 }])
            .await
            .unwrap();
        assert_eq!(
            full[0].bytes().unwrap(),
            b"From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n.dot line\r\n.\r\n"
        );
        // No line end at the end of the stored message: the server must add one.
        assert_eq!(
            full[1].bytes().unwrap(),
            b"Subject: three\r\n\r\nno newline at end\r\n"
        );
        assert_eq!(
            c.top(1, 1).await.unwrap(),
            Fetched::Top(b"From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n".to_vec())
        );
        let stats = c.stats();
        // USER PASS CAPA STAT UIDL LIST, 6 TOP in one flush, 2 RETR in one, TOP 1 1.
        assert_eq!(stats.commands, 15);
        assert_eq!(stats.round_trips, 9);
        c.quit().await.unwrap();
        assert_eq!(
            pop3_log(&script),
            [
                "USER alice",
                "PASS ***",
                "CAPA",
                "STAT",
                "UIDL",
                "LIST",
                "TOP 1 0",
                "TOP 2 0",
                "TOP 3 0",
                "TOP 4 0",
                "TOP 5 0",
                "TOP 6 0",
                "RETR 1",
                "RETR 3",
                "TOP 1 1",
                "QUIT"
            ]
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stls_with_the_test_ca() {
    within(LIMIT, async {
        let ca = TestCa::generate().unwrap();
        let (w, script) = (world(3), Script::default());
        let options = Pop3Options {
            tls: Pop3Tls::Stls(ca.acceptor()),
            ..Default::default()
        };
        let server = start(&w, &script, options).await;

        // The STLS capability is there before the upgrade, and gone after it.
        let mut c = plain(&server).await;
        assert!(c.capa().await.unwrap().stls);
        drop(c);

        let mut c = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::StartTls,
            &Trust::only(ca.ca_der.clone()),
            timeouts(),
            Limits::default(),
        )
        .await
        .unwrap();
        let caps = c.capa().await.unwrap();
        assert!(!caps.stls && caps.user, "{caps:?}");
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        assert_eq!(c.uidl_all().await.unwrap().len(), 3);
        c.quit().await.unwrap();
        let log = pop3_log(&script);
        assert_eq!(
            &log[log.len() - 6..],
            ["STLS", "CAPA", "USER alice", "PASS ***", "UIDL", "QUIT"]
        );

        // STLS on a server without TLS is refused with a typed error.
        let plain_server = start(&w, &Script::default(), Pop3Options::default()).await;
        let err = connect(
            "127.0.0.1",
            plain_server.addr.port(),
            Security::StartTls,
            &Trust::only(ca.ca_der.clone()),
            timeouts(),
            Limits::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Rejected { command, .. } if command == "STLS"),
            "{err}"
        );
        server.stop().await;
        plain_server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn implicit_tls_with_the_test_ca() {
    within(LIMIT, async {
        let ca = TestCa::generate().unwrap();
        let (w, script) = (world(2), Script::default());
        let options = Pop3Options {
            tls: Pop3Tls::Implicit(ca.acceptor()),
            ..Default::default()
        };
        let server = start(&w, &script, options).await;
        for host in ["127.0.0.1", "localhost"] {
            let mut c = connect(
                host,
                server.addr.port(),
                Security::Implicit,
                &Trust::only(ca.ca_der.clone()),
                timeouts(),
                Limits::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
            assert!(c.capa().await.unwrap().user);
            c.auth_plain(USER, &Secret::new(PASSWORD)).await.unwrap();
            let got = c.fetch_headers(&[2]).await.unwrap();
            assert_eq!(
                got[0].1.bytes().unwrap(),
                b"From: b@example.org\nSubject: two\n\n"
            );
            c.quit().await.unwrap();
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_ca_is_rejected() {
    within(LIMIT, async {
        let ca = TestCa::generate().unwrap();
        let other = TestCa::generate().unwrap();
        let w = world(1);
        let implicit = start(
            &w,
            &Script::default(),
            Pop3Options {
                tls: Pop3Tls::Implicit(ca.acceptor()),
                ..Default::default()
            },
        )
        .await;
        let stls = start(
            &w,
            &Script::default(),
            Pop3Options {
                tls: Pop3Tls::Stls(ca.acceptor()),
                ..Default::default()
            },
        )
        .await;
        for (server, security) in [(&implicit, Security::Implicit), (&stls, Security::StartTls)] {
            let err = connect(
                "127.0.0.1",
                server.addr.port(),
                security,
                &Trust::only(other.ca_der.clone()),
                timeouts(),
                Limits::default(),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(err, Pop3Error::Tls(TlsError::Handshake { .. })),
                "{security:?}: {err}"
            );
            assert!(err.to_string().contains("certificate"), "{err}");
        }
        implicit.stop().await;
        stls.stop().await;
    })
    .await;
}

#[tokio::test]
async fn pipelining_costs_few_round_trips_and_none_costs_one_each() {
    within(LIMIT, async {
        const N: u32 = 1000;
        let w = world(N as usize);
        let numbers: Vec<u32> = (1..=N).collect();
        let expected: Vec<Vec<u8>> = w.lock().pop3.messages.iter().map(|m| m.top(0)).collect();

        let cases = [
            // (PIPELINING advertised, window, round trips for the fetch)
            (true, 128, 1 + (N as u64 - 128).div_ceil(64)),
            (true, 256, 1 + (N as u64 - 256).div_ceil(128)),
            (true, 1, N as u64),
            (false, 128, N as u64),
        ];
        for (pipelining, window, round_trips) in cases {
            let script = Script::default();
            let options = Pop3Options {
                caps: Pop3Caps {
                    pipelining,
                    ..Default::default()
                },
                ..Default::default()
            };
            let server = start(&w, &script, options).await;
            let mut c = logged_in(&server).await;
            c.set_window(window);
            let before = c.stats();
            let got = c.fetch_headers(&numbers).await.unwrap();
            let after = c.stats();
            assert_eq!(after.commands - before.commands, N as u64);
            assert_eq!(
                after.round_trips - before.round_trips,
                round_trips,
                "pipelining {pipelining}, window {window}"
            );
            let bytes: Vec<Vec<u8>> = got
                .iter()
                .map(|(_, f)| f.bytes().unwrap().to_vec())
                .collect();
            assert_eq!(bytes, expected);
            assert_eq!(script.command_count(Protocol::Pop3), 3 + N as u64);
            server.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn capa_err_falls_back_to_retr_without_pipelining() {
    within(LIMIT, async {
        let (w, script) = (world(3), Script::default());
        let options = Pop3Options {
            caps: Pop3Caps {
                capa: false,
                ..Default::default()
            },
            ..Default::default()
        };
        let server = start(&w, &script, options).await;
        let mut c = logged_in(&server).await;
        assert_eq!(c.capabilities(), Some(&Capabilities::fallback()));
        let before = c.stats().round_trips;
        let got = c.fetch_headers(&[1, 2, 3]).await.unwrap();
        assert_eq!(c.stats().round_trips - before, 3);
        assert_eq!(
            got[2].1,
            Fetched::Retr(b"Subject: three\r\n\r\nno newline at end\r\n".to_vec())
        );
        let log = pop3_log(&script);
        assert_eq!(&log[2..], ["CAPA", "RETR 1", "RETR 2", "RETR 3"]);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn top_switched_off_means_retr_and_top_refused() {
    within(LIMIT, async {
        let (w, script) = (world(2), Script::default());
        let options = Pop3Options {
            caps: Pop3Caps {
                top: false,
                ..Default::default()
            },
            ..Default::default()
        };
        let server = start(&w, &script, options).await;
        let mut c = logged_in(&server).await;
        assert!(!c.capabilities().unwrap().top);
        let got = c.fetch_headers(&[1, 2]).await.unwrap();
        assert!(matches!(got[0].1, Fetched::Retr(_)));
        // A TOP sent anyway is refused, which reads as "expunged" for that message.
        assert!(c.top(1, 0).await.unwrap().is_expunged());
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn out_of_sequence_listings_are_typed_errors() {
    within(LIMIT, async {
        let w = world(3);
        let script = Script::new(
            vec![
                rule(
                    "UIDL",
                    FaultAction::Reply(b"+OK\r\n1 a\r\n3 c\r\n.\r\n".to_vec()),
                    0,
                    Some(1),
                ),
                rule(
                    "LIST",
                    FaultAction::Reply(b"+OK\r\n1 10\r\n1 20\r\n.\r\n".to_vec()),
                    0,
                    Some(1),
                ),
            ],
            vec![],
        );
        let server = start(&w, &script, Pop3Options::default()).await;
        let mut c = logged_in(&server).await;
        let err = c.uidl_all().await.unwrap_err();
        assert!(
            matches!(
                &err,
                Pop3Error::Protocol { command, source: CodecError::UnexpectedUidlSeq { got, expected: 2 } }
                    if command == "UIDL" && got == "3"
            ),
            "{err}"
        );
        assert_eq!(err.to_string(), "UIDL: Unexpected UIDL seq: 3 != 2");

        let mut c = logged_in(&server).await;
        let err = c.list_all(None).await.unwrap_err();
        assert_eq!(err.to_string(), "LIST: Unexpected LIST seq: 1 != 2");

        // The rules ran out: the same server is now well-behaved.
        let mut c = logged_in(&server).await;
        assert_eq!(c.uidl_all().await.unwrap().len(), 3);
        assert_eq!(c.list_all(Some(3)).await.unwrap().len(), 3);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn over_long_lines_and_blocks_are_typed_errors() {
    within(LIMIT, async {
        let w = world(2);
        let long_uidl = [b"+OK\r\n1 ".to_vec(), vec![b'x'; 100_000], b"\r\n.\r\n".to_vec()].concat();
        let script = Script::new(
            vec![
                rule("UIDL", FaultAction::Reply(long_uidl), 0, None),
                rule(
                    "STAT",
                    FaultAction::Reply([b"+OK ".to_vec(), vec![b'9'; 70_000]].concat()),
                    0,
                    None,
                ),
            ],
            vec![],
        );
        let server = start(&w, &script, Pop3Options::default()).await;
        let mut c = logged_in(&server).await;
        let err = c.uidl_all().await.unwrap_err();
        assert!(
            matches!(err, Pop3Error::Protocol { source: CodecError::LineTooLong { limit: 65536 }, .. }),
            "{err}"
        );
        // A status line that never ends: refused once past the limit, not buffered forever.
        let mut c = logged_in(&server).await;
        let err = c.stat().await.unwrap_err();
        assert!(
            matches!(err, Pop3Error::Protocol { source: CodecError::LineTooLong { .. }, .. }),
            "{err}"
        );

        let mut c = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::Plain,
            &Trust::default(),
            timeouts(),
            Limits {
                max_block: 40,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        let err = c.retr(1).await.unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Protocol { command, source: CodecError::BlockTooLarge { limit: 40 } } if command == "RETR 1"),
            "{err}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn in_use_for_the_first_logins_then_success() {
    within(LIMIT, async {
        let w = world(2);
        let script = Script::new(
            vec![rule(
                "PASS",
                FaultAction::Reply(b"-ERR [IN-USE] Mailbox is locked by another session\r\n".to_vec()),
                0,
                Some(2),
            )],
            vec![],
        );
        let server = start(&w, &script, Pop3Options::default()).await;
        for _ in 0..2 {
            let mut c = plain(&server).await;
            let err = c.login(USER, &Secret::new(PASSWORD)).await.unwrap_err();
            assert_eq!(err.resp_code(), Some(&RespCode::InUse));
            assert!(err.is_temporary());
            assert_eq!(
                err.to_string(),
                "PASS ***: the server replied \"-ERR [IN-USE] Mailbox is locked by another session\""
            );
            assert!(!format!("{err:?}").contains("s3cret"));
            // The replaced reply means the login did not happen.
            assert!(matches!(c.stat().await, Err(Pop3Error::Rejected { .. })));
        }
        let mut c = plain(&server).await;
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        assert_eq!(c.stat().await.unwrap().0, 2);
        assert_eq!(script.session_count(Protocol::Pop3), 3);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_password_is_auth_error_and_never_printed() {
    within(LIMIT, async {
        let w = world(1);
        let server = start(
            &w,
            &Script::default(),
            Pop3Options {
                apop: true,
                ..Default::default()
            },
        )
        .await;
        let wrong = Secret::new("wrong-Pa55");
        let mut c = plain(&server).await;
        let e1 = c.login(USER, &wrong).await.unwrap_err();
        let e2 = c.auth_plain(USER, &wrong).await.unwrap_err();
        let e3 = c.apop(USER, &wrong).await.unwrap_err();
        for (err, command) in [
            (e1, "PASS ***"),
            (e2, "AUTH PLAIN ***"),
            (e3, "APOP alice ***"),
        ] {
            assert_eq!(err.resp_code(), Some(&RespCode::Auth), "{err}");
            assert!(!err.is_temporary());
            let text = format!("{err} {err:?}");
            assert!(text.contains(command), "{text}");
            assert!(!text.contains("wrong-Pa55"), "{text}");
        }
        // And the right one works through APOP.
        assert!(c.apop_timestamp().is_some());
        c.apop(USER, &Secret::new(PASSWORD)).await.unwrap();
        assert_eq!(c.stat().await.unwrap().0, 1);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn messages_removed_mid_session_are_expunged_not_failures() {
    within(LIMIT, async {
        for window in [1, 128] {
            let w = world(5);
            // m3 leaves the maildrop just before the server answers TOP 1: pop3c's race.
            let script = Script::new(
                vec![rule(
                    "TOP 5",
                    FaultAction::Reply(b"-ERR [SYS/PERM] message deleted\r\n".to_vec()),
                    0,
                    None,
                )],
                vec![Event {
                    on: CommandMatch::prefix(Protocol::Pop3, "TOP 1 "),
                    phase: Phase::Before,
                    nth: 1,
                    changes: vec![WorldChange::Pop3Remove { id: "m3".into() }],
                }],
            );
            let server = start(&w, &script, Pop3Options::default()).await;
            let mut c = logged_in(&server).await;
            c.set_window(window);
            assert_eq!(
                c.uidl_all().await.unwrap().len(),
                5,
                "snapshot taken at login"
            );
            let got = c.fetch_headers(&[1, 2, 3, 4, 5]).await.unwrap();
            let expunged: Vec<u32> = got
                .iter()
                .filter(|(_, f)| f.is_expunged())
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(expunged, [3, 5], "window {window}");
            let Fetched::Expunged { reply } = &got[4].1 else {
                unreachable!()
            };
            assert_eq!(reply.code, Some(RespCode::SysPerm));
            assert!(got[3].1.bytes().is_some());
            // The session is still usable afterwards.
            assert!(c.noop().await.is_ok());
            server.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn disconnects_and_truncations_are_errors() {
    within(LIMIT, async {
        let w = world(4);
        let script = Script::new(
            vec![
                rule("TOP 3", FaultAction::Disconnect, 0, Some(1)),
                rule("RETR 2", FaultAction::Truncate(20), 0, Some(1)),
            ],
            vec![],
        );
        let server = start(&w, &script, Pop3Options::default()).await;
        let mut c = logged_in(&server).await;
        let err = c.fetch_headers(&[1, 2, 3, 4]).await.unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Disconnected { command } if command == "TOP 3 0"),
            "{err}"
        );
        assert!(err.is_temporary());
        assert!(matches!(c.stat().await, Err(Pop3Error::Unusable { .. })));

        let mut c = logged_in(&server).await;
        let err = c.retr(2).await.unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Disconnected { command } if command == "RETR 2"),
            "{err}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stalls_time_out_instead_of_hanging() {
    within(LIMIT, async {
        let w = world(3);
        let short = Timeouts {
            connect: Duration::from_secs(5),
            command: Duration::from_millis(300),
        };
        let script = Script::new(
            vec![rule(
                "UIDL",
                FaultAction::Delay(Duration::from_secs(20)),
                0,
                None,
            )],
            vec![],
        );
        let server = start(&w, &script, Pop3Options::default()).await;
        let mut c = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::Plain,
            &Trust::default(),
            short,
            Limits::default(),
        )
        .await
        .unwrap();
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        let err = c.uidl_all().await.unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Timeout { command, .. } if command == "UIDL"),
            "{err}"
        );
        server.stop().await;

        // PIPELINING advertised but broken: the commands behind the first are lost.
        let broken = start(
            &w,
            &Script::default(),
            Pop3Options {
                broken_pipelining: true,
                ..Default::default()
            },
        )
        .await;
        let mut c = connect(
            "127.0.0.1",
            broken.addr.port(),
            Security::Plain,
            &Trust::default(),
            short,
            Limits::default(),
        )
        .await
        .unwrap();
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        c.capa().await.unwrap();
        let err = c.fetch_headers(&[1, 2, 3]).await.unwrap_err();
        // Which command is lost first depends on how the server's reads split them.
        assert!(
            matches!(&err, Pop3Error::Timeout { command, .. } if command.starts_with("TOP ")),
            "{err}"
        );
        // Window 1, as Dovecot without prefetch, works against the same server.
        let mut c = connect(
            "127.0.0.1",
            broken.addr.port(),
            Security::Plain,
            &Trust::default(),
            short,
            Limits::default(),
        )
        .await
        .unwrap();
        c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
        c.capa().await.unwrap();
        c.set_window(1);
        assert_eq!(c.fetch_headers(&[1, 2, 3]).await.unwrap().len(), 3);
        broken.stop().await;
    })
    .await;
}

#[tokio::test]
async fn byte_by_byte_bare_lf_server() {
    within(LIMIT, async {
        let w = world(4);
        let server = start(
            &w,
            &Script::default(),
            Pop3Options {
                shaping: WriteShaping {
                    chunk: Some(1),
                    chunk_delay: None,
                    bare_lf: true,
                },
                ..Default::default()
            },
        )
        .await;
        let mut c = logged_in(&server).await;
        assert!(c.capabilities().unwrap().pipelining);
        assert_eq!(c.uidl_all().await.unwrap()[1], b"  lead spaces");
        let got = c.fetch_headers(&[1, 3]).await.unwrap();
        // Line ends reach the client as the server sent them: LF only.
        assert_eq!(
            got[0].1.bytes().unwrap(),
            b"From: a@example.org\nSubject: one\n\n"
        );
        assert_eq!(
            c.retr(3).await.unwrap().bytes().unwrap(),
            b"Subject: three\n\nno newline at end\n"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_sessions_share_one_world() {
    within(LIMIT, async {
        let (w, script) = (world(50), Script::default());
        let server = start(&w, &script, Pop3Options::default()).await;
        let port = server.addr.port();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            tasks.spawn(async move {
                let mut c = connect(
                    "127.0.0.1",
                    port,
                    Security::Plain,
                    &Trust::default(),
                    timeouts(),
                    Limits::default(),
                )
                .await
                .unwrap();
                c.login(USER, &Secret::new(PASSWORD)).await.unwrap();
                c.capa().await.unwrap();
                let uidls = c.uidl_all().await.unwrap();
                let numbers: Vec<u32> = (1..=uidls.len() as u32).collect();
                let got = c.fetch_headers(&numbers).await.unwrap();
                (
                    uidls.len(),
                    got.iter().filter(|(_, f)| f.bytes().is_some()).count(),
                )
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap(), (50, 50));
        }
        assert_eq!(script.session_count(Protocol::Pop3), 16);
        server.stop().await;
    })
    .await;
}
