//! The IMAP client against the fake IMAP server on 127.0.0.1: plain, STARTTLS and IMAPS
//! (trusting only the test CA), literals, batching and round trips, mid-fetch EXPUNGE
//! and EXISTS, and every scripted fault ending in a typed error within a timeout.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use fake_servers::imap::{Capabilities, ImapOptions, TlsMode};
use fake_servers::script::{CommandMatch, Event, FaultAction, Phase, Rule, WorldChange};
use fake_servers::tls::TestCa;
use fake_servers::world::{ImapMailbox, ImapMessage, ImapView};
use fake_servers::{Protocol, Script, SharedWorld, World};
use support::{FakeImap, within};
use uidlmap::imap::codec::{CodecError, Status};
use uidlmap::imap::{Batching, ImapClient, ImapError, Limits, SetStyle, Stats, Timeouts, connect};
use uidlmap::secret::Secret;
use uidlmap::tls::{MaybeTls, Security, TlsError, Trust};

const LIMIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "s3cr3t \"quoted\" \\";

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: sender{i}@example.org\r\nSubject: message {i}\r\nMessage-ID: <{i}@example.org>\r\n\r\nbody {i}\r\n{}",
        "x".repeat(i % 37)
    )
    .into_bytes()
}

fn world_with(n: usize) -> World {
    let mut inbox = ImapMailbox::new("INBOX", 4242);
    for i in 0..n {
        inbox.append(ImapMessage::honest(format!("m{i}"), message(i)));
    }
    World {
        user: "alice".into(),
        password: PASSWORD.into(),
        imap: ImapView {
            separator: '.',
            mailboxes: vec![inbox, ImapMailbox::new("Archive", 7)],
        },
        ..Default::default()
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(5),
    }
}

async fn plain(addr: SocketAddr) -> ImapClient<MaybeTls> {
    connect(
        "127.0.0.1",
        addr.port(),
        Security::Plain,
        &Trust::default(),
        timeouts(),
        Limits::default(),
    )
    .await
    .expect("connects")
}

async fn logged_in(addr: SocketAddr) -> ImapClient<MaybeTls> {
    let mut c = plain(addr).await;
    c.login("alice", &Secret::new(PASSWORD))
        .await
        .expect("login");
    c
}

#[tokio::test]
async fn full_read_of_a_mailbox() {
    within(LIMIT, async {
        let mut world = world_with(30);
        // Provider quirk: BODY[HEADER] is not the header inside BODY[], and one
        // RFC822.SIZE is wrong. The client must return both exactly as served.
        world.imap.mailboxes[0].messages[4].header = b"Subject: trimmed\r\n\r\n".to_vec();
        world.imap.mailboxes[0].messages[5].rfc822_size = Some(1);
        let server = FakeImap::start(
            SharedWorld::new(world.clone()),
            Script::default(),
            ImapOptions::default(),
        )
        .await;
        let mut c = logged_in(server.addr).await;
        assert_eq!(c.separator().await.unwrap(), Some('.'));
        let boxes = c.list().await.unwrap();
        assert_eq!(
            boxes.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["INBOX", "Archive"]
        );
        assert!(boxes.iter().all(|m| m.is_selectable()));
        let st = c.status("INBOX").await.unwrap();
        assert_eq!(
            (st.messages, st.uidnext, st.uidvalidity),
            (Some(30), Some(31), Some(4242))
        );
        let sel = c.examine("INBOX").await.unwrap();
        assert_eq!(
            (sel.exists, sel.uidvalidity, sel.uidnext, sel.read_only),
            (30, 4242, Some(31), true)
        );
        let listed = c.uid_sizes().await.unwrap();
        let inbox = &world.imap.mailboxes[0];
        assert_eq!(listed.len(), 30);
        for (l, m) in listed.iter().zip(&inbox.messages) {
            assert_eq!((l.uid, l.size), (m.uid, Some(m.size())));
        }
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();
        let headers = c.fetch_headers(&uids, Batching::PIPELINED).await.unwrap();
        let full = c.fetch_full(&uids, Batching::DOVECOT_DOCS).await.unwrap();
        let sizes = c
            .fetch_full_sizes(&uids, Batching::DOVECOT_BARE)
            .await
            .unwrap();
        let rfc_sizes = c.fetch_sizes(&uids, Batching::DOVECOT_DOCS).await.unwrap();
        for m in &inbox.messages {
            assert_eq!(headers.items[&m.uid], m.header, "uid {}", m.uid);
            assert_eq!(full.items[&m.uid], m.full, "uid {}", m.uid);
            assert_eq!(sizes.items[&m.uid], m.full.len() as u64);
            assert_eq!(rfc_sizes.items[&m.uid], m.size());
        }
        assert!(headers.expunged.is_empty() && full.expunged.is_empty() && headers.nil.is_empty());
        let flags = c.uid_flags().await.unwrap();
        assert_eq!(flags.len(), 30);
        let empty = c.examine("Archive").await.unwrap();
        assert_eq!(empty.exists, 0);
        let before = c.stats().commands;
        assert!(c.uid_sizes().await.unwrap().is_empty());
        assert_eq!(
            c.stats().commands,
            before,
            "nothing is sent for an empty mailbox"
        );
        let stats = c.logout().await.unwrap();
        // Nothing here is pipelined: one round trip per command.
        assert_eq!(stats.round_trips, stats.commands);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn starttls_and_imaps_trusting_only_the_test_ca() {
    within(LIMIT, async {
        let ca = TestCa::generate().unwrap();
        let world = SharedWorld::new(world_with(3));
        let trust = Trust::only(ca.ca_der.clone());

        let server = FakeImap::start(
            world.clone(),
            Script::default(),
            ImapOptions {
                tls: TlsMode::StartTls(ca.clone()),
                ..Default::default()
            },
        )
        .await;
        for host in ["127.0.0.1", "localhost"] {
            let mut c = connect(
                host,
                server.addr.port(),
                Security::StartTls,
                &trust,
                timeouts(),
                Limits::default(),
            )
            .await
            .expect("STARTTLS");
            assert!(
                c.known_capabilities().is_none(),
                "capabilities are forgotten after TLS"
            );
            assert!(!c.has_capability("STARTTLS").await.unwrap());
            c.login("alice", &Secret::new(PASSWORD)).await.unwrap();
            assert_eq!(c.examine("INBOX").await.unwrap().exists, 3);
            c.logout().await.unwrap();
        }
        // Same server, but a client that trusts another CA.
        let other = TestCa::generate().unwrap();
        let e = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::StartTls,
            &Trust::only(other.ca_der.clone()),
            timeouts(),
            Limits::default(),
        )
        .await
        .expect_err("untrusted");
        assert!(
            matches!(e, ImapError::Tls(TlsError::Handshake { .. })),
            "{e}"
        );
        server.stop().await;

        let server = FakeImap::start(
            world.clone(),
            Script::default(),
            ImapOptions {
                tls: TlsMode::Implicit(ca.clone()),
                ..Default::default()
            },
        )
        .await;
        let mut c = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::Implicit,
            &trust,
            timeouts(),
            Limits::default(),
        )
        .await
        .expect("IMAPS");
        c.login("alice", &Secret::new(PASSWORD)).await.unwrap();
        c.examine("INBOX").await.unwrap();
        let h = c
            .fetch_headers(&[1, 2, 3], Batching::PIPELINED)
            .await
            .unwrap();
        assert_eq!(h.items.len(), 3);
        c.logout().await.unwrap();
        let e = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::Implicit,
            &Trust::only(other.ca_der.clone()),
            timeouts(),
            Limits::default(),
        )
        .await
        .expect_err("untrusted");
        assert!(
            matches!(e, ImapError::Tls(TlsError::Handshake { .. })),
            "{e}"
        );
        // No roots at all is refused before connecting.
        let e = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::Implicit,
            &Trust::default(),
            timeouts(),
            Limits::default(),
        )
        .await
        .expect_err("no roots");
        assert!(matches!(e, ImapError::Tls(TlsError::NoRoots)), "{e}");
        server.stop().await;

        // STARTTLS asked of a server that does not offer it: no silent plaintext.
        let server = FakeImap::start(world, Script::default(), ImapOptions::default()).await;
        let e = connect(
            "127.0.0.1",
            server.addr.port(),
            Security::StartTls,
            &trust,
            timeouts(),
            Limits::default(),
        )
        .await
        .expect_err("not offered");
        assert!(matches!(e, ImapError::NotSupported { .. }), "{e}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn literals_and_authenticate() {
    within(LIMIT, async {
        // A user and password that cannot travel quoted.
        let mut world = world_with(2);
        world.user = "jos\u{e9}".into();
        world.password = "line1\r\nline2".into();
        let world = SharedWorld::new(world);
        for (literal_plus, sasl_ir) in [(true, true), (false, false)] {
            let script = Script::default();
            let server = FakeImap::start(
                world.clone(),
                script.clone(),
                ImapOptions {
                    capabilities: Capabilities {
                        literal_plus,
                        sasl_ir,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await;
            let mut c = plain(server.addr).await;
            let e = c
                .login("jos\u{e9}", &Secret::new("wrong\r\n"))
                .await
                .expect_err("wrong password");
            let text = e.to_string();
            assert_eq!(
                text,
                "LOGIN {5} ***: NO [AUTHENTICATIONFAILED] Authentication failed."
            );
            assert!(matches!(
                e,
                ImapError::Rejected {
                    status: Status::No,
                    ..
                }
            ));
            let before = c.stats().round_trips;
            c.login("jos\u{e9}", &Secret::new("line1\r\nline2"))
                .await
                .expect("literal login");
            // Synchronising literals cost one round trip each.
            let expected = if literal_plus { 1 } else { 3 };
            assert_eq!(c.stats().round_trips - before, expected);
            c.logout().await.unwrap();

            let mut c = plain(server.addr).await;
            c.authenticate_plain("jos\u{e9}", &Secret::new("line1\r\nline2"))
                .await
                .expect("AUTHENTICATE PLAIN");
            c.examine("INBOX").await.unwrap();
            c.logout().await.unwrap();
            let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
            assert!(
                log.iter()
                    .all(|l| !l.contains("line1") && !l.contains("wrong")),
                "{log:?}"
            );
            assert!(
                log.contains(&if sasl_ir {
                    "AUTHENTICATE PLAIN ***".to_string()
                } else {
                    "AUTHENTICATE PLAIN".to_string()
                }),
                "{log:?}"
            );
            server.stop().await;
        }
    })
    .await;
}

/// Fetches every header of a 10k mailbox with each batching, and reports the counters.
#[tokio::test]
async fn batching_and_round_trips() {
    within(LIMIT, async {
        let n = 10_000;
        let world = SharedWorld::new(world_with(n));
        let script = Script::default();
        let server = FakeImap::start(world.clone(), script.clone(), ImapOptions::default()).await;
        let mut c = logged_in(server.addr).await;
        c.examine("INBOX").await.unwrap();
        let uids: Vec<u32> = c.uid_sizes().await.unwrap().iter().map(|l| l.uid).collect();
        assert_eq!(uids.len(), n);

        let measure = |before: Stats, after: Stats| {
            (
                after.commands - before.commands,
                after.round_trips - before.round_trips,
            )
        };
        let s0 = c.stats();
        let h = c.fetch_headers(&uids, Batching::PIPELINED).await.unwrap();
        assert_eq!(h.items.len(), n);
        // 20 commands of 500 UIDs; 8 in flight, refilled by 4: 1 + (20 - 8) / 4 trips.
        assert_eq!(measure(s0, c.stats()), (20, 4));

        let s1 = c.stats();
        let h = c
            .fetch_headers(&uids, Batching::DOVECOT_DOCS)
            .await
            .unwrap();
        assert_eq!(h.items.len(), n);
        assert_eq!(measure(s1, c.stats()), (477, 477));

        let wide = Batching {
            per_command: 2_000,
            in_flight: 2,
            style: SetStyle::Ranges,
        };
        let s2 = c.stats();
        c.fetch_sizes(&uids, wide).await.unwrap();
        assert_eq!(measure(s2, c.stats()), (5, 4));

        // Long comma lists: the bytes written ahead are capped (32 KiB), not just the
        // command count: three commands go first, the fourth after one completes.
        let long = Batching {
            per_command: 3_000,
            in_flight: 8,
            style: SetStyle::Commas,
        };
        let s3 = c.stats();
        let h = c.fetch_headers(&uids, long).await.unwrap();
        assert_eq!(h.items.len(), n);
        assert_eq!(measure(s3, c.stats()), (4, 2));

        // Ranges compress: UIDs 1..=500 travel as one range; commas as imapc writes them.
        let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
        assert!(log.contains(&"UID FETCH 1:500 (BODY.PEEK[HEADER])".to_string()));
        let docs_first = (1..=21)
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(log.contains(&format!("UID FETCH {docs_first} (BODY.PEEK[HEADER])")));
        c.logout().await.unwrap();
        server.stop().await;
    })
    .await;
}

/// The counters depend on the command sequence alone, not on how the bytes arrive.
#[tokio::test]
async fn stats_are_deterministic_under_write_shaping() {
    within(LIMIT, async {
        let world = SharedWorld::new(world_with(300));
        let mut seen = Vec::new();
        for chunk in [None, Some(1), Some(7), Some(4096)] {
            let server = FakeImap::start(
                world.clone(),
                Script::default(),
                ImapOptions {
                    write_chunk: chunk,
                    bare_lf: chunk == Some(7),
                    ..Default::default()
                },
            )
            .await;
            let mut c = logged_in(server.addr).await;
            c.examine("INBOX").await.unwrap();
            let uids: Vec<u32> = c.uid_sizes().await.unwrap().iter().map(|l| l.uid).collect();
            let pipelined = Batching {
                per_command: 50,
                in_flight: 4,
                style: SetStyle::Ranges,
            };
            let h = c.fetch_headers(&uids, pipelined).await.unwrap();
            assert_eq!(h.items.len(), 300);
            let f = c
                .fetch_full_sizes(&uids[..40], Batching::DOVECOT_BARE)
                .await
                .unwrap();
            assert_eq!(f.items.len(), 40);
            let s = c.logout().await.unwrap();
            seen.push((s.commands, s.round_trips));
            server.stop().await;
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    })
    .await;
}

#[tokio::test]
async fn expunge_and_exists_mid_fetch() {
    within(LIMIT, async {
        let world = SharedWorld::new(world_with(60));
        let matching = |contains: &str| CommandMatch {
            protocol: Some(Protocol::Imap),
            prefix: Some("UID FETCH".into()),
            contains: Some(contains.into()),
            nth_in_session: None,
        };
        let script = Script::new(
            vec![],
            vec![
                // Before the second header batch: m50 leaves (announced before the reply,
                // and its UID is in a later batch), m5 leaves (already fetched), a new
                // message arrives.
                Event {
                    on: matching("BODY.PEEK[HEADER]"),
                    phase: Phase::Before,
                    nth: 2,
                    changes: vec![
                        WorldChange::ImapExpunge { id: "m50".into() },
                        WorldChange::ImapExpunge { id: "m5".into() },
                        WorldChange::ImapDeliver {
                            mailbox: "INBOX".into(),
                            message: ImapMessage::honest("new", message(999)),
                        },
                    ],
                },
                // Between two body commands m59 leaves; the next command is told.
                Event {
                    on: matching("BODY.PEEK[]"),
                    phase: Phase::After,
                    nth: 1,
                    changes: vec![WorldChange::ImapExpunge { id: "m59".into() }],
                },
            ],
        );
        let server = FakeImap::start(world, script, ImapOptions::default()).await;
        let mut c = logged_in(server.addr).await;
        c.examine("INBOX").await.unwrap();
        let uids: Vec<u32> = c.uid_sizes().await.unwrap().iter().map(|l| l.uid).collect();
        let h = c
            .fetch_headers(&uids, Batching::DOVECOT_DOCS)
            .await
            .unwrap();
        assert_eq!(h.expunged, vec![51], "m50 has UID 51");
        assert_eq!(h.expunge_notices, 2);
        assert_eq!(h.items.len(), 59);
        assert!(
            h.items.contains_key(&6),
            "m5 (UID 6) was fetched before it left"
        );
        assert_eq!(c.exists(), Some(59));
        // The new message (UID 61) can be fetched once announced.
        let f = c
            .fetch_full(&[1, 61, 60], Batching::DOVECOT_BARE)
            .await
            .unwrap();
        assert_eq!(f.items[&61], message(999));
        assert_eq!(f.expunged, vec![60], "m59 is UID 60");
        assert_eq!(f.expunge_notices, 1);
        c.logout().await.unwrap();
        server.stop().await;
    })
    .await;
}

async fn fault(rules: Vec<Rule>, options: ImapOptions, limits: Limits) -> ImapError {
    let server = FakeImap::start(
        SharedWorld::new(world_with(5)),
        Script::new(rules, vec![]),
        options,
    )
    .await;
    let mut c = ImapClient::greet(
        MaybeTls::Plain(tokio::net::TcpStream::connect(server.addr).await.unwrap()),
        Timeouts {
            connect: Duration::from_secs(2),
            io: Duration::from_millis(500),
        },
        limits,
    )
    .await
    .expect("greeting");
    let result = async {
        c.login("alice", &Secret::new(PASSWORD)).await?;
        c.examine("INBOX").await?;
        let uids: Vec<u32> = c.uid_sizes().await?.iter().map(|l| l.uid).collect();
        c.fetch_headers(&uids, Batching::PIPELINED).await?;
        c.fetch_full(&uids, Batching::PIPELINED).await?;
        c.logout().await
    }
    .await;
    server.stop().await;
    result.expect_err("the fault surfaces")
}

fn on(prefix: &str, contains: Option<&str>, action: FaultAction) -> Rule {
    Rule {
        on: CommandMatch {
            protocol: Some(Protocol::Imap),
            prefix: Some(prefix.into()),
            contains: contains.map(String::from),
            nth_in_session: None,
        },
        action,
        skip: 0,
        times: Some(1),
    }
}

#[tokio::test]
async fn every_fault_is_a_typed_error() {
    within(LIMIT, async {
        let d = ImapOptions::default;
        let l = Limits::default;
        let reply = |s: &str| FaultAction::Reply(s.as_bytes().to_vec());

        let e = fault(vec![on("LOGIN", None, FaultAction::Disconnect)], d(), l()).await;
        assert!(matches!(&e, ImapError::Closed { context } if context == "LOGIN \"alice\" ***"), "{e}");
        assert!(!format!("{e} {e:?}").contains("s3cr3t"));

        let e = fault(vec![on("LOGIN", None, reply("{tag} NO [UNAVAILABLE] Maintenance\r\n"))], d(), l()).await;
        assert_eq!(e.to_string(), "LOGIN \"alice\" ***: NO [UNAVAILABLE] Maintenance");

        let e = fault(vec![on("EXAMINE", None, FaultAction::Delay(Duration::from_secs(2)))], d(), l()).await;
        assert!(matches!(&e, ImapError::Timeout { context, .. } if context == "EXAMINE \"INBOX\""), "{e}");

        let e = fault(vec![on("UID FETCH", Some("HEADER"), FaultAction::Truncate(30))], d(), l()).await;
        assert!(matches!(&e, ImapError::Closed { context } if context.starts_with("UID FETCH 1:5 (BODY.PEEK[HEADER])")), "{e}");

        let e = fault(vec![on("UID FETCH", Some("HEADER"), reply("* 1 FETCH (UID 1 BODY[HEADER] {3}\r\nab)\r\n"))], d(), l()).await;
        assert!(matches!(&e, ImapError::Codec { source: CodecError::Syntax { .. }, .. }), "{e}");

        let e = fault(vec![on("UID FETCH", Some("HEADER"), reply("* 1 FETCH (UID 1 BODY[HEADER] {999999999}\r\n"))], d(), l()).await;
        assert!(matches!(&e, ImapError::Codec { source: CodecError::LiteralTooLarge { .. }, .. }), "{e}");

        let e = fault(vec![on("UID FETCH", Some("HEADER"), reply("* 3 FETCH (UID 3 BODY[HEADER] \"a\")\r\n* 3 FETCH (UID 3 BODY[HEADER] \"b\")\r\n{tag} OK\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("a second FETCH for UID 3"), "{e}");

        let e = fault(vec![on("UID FETCH", Some("HEADER"), reply("* 2 FETCH (UID 3 BODY[HEADER] \"a\")\r\n{tag} OK\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("says UID 3, but it is UID 2"), "{e}");

        let e = fault(vec![on("UID FETCH", Some("BODY.PEEK[]"), reply("* 1 FETCH (BODY[] \"x\" UID 9)\r\n{tag} OK\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("says UID 9"), "{e}");

        let e = fault(vec![on("UID FETCH", Some("SIZE"), reply("* 1 FETCH (UID 2 RFC822.SIZE 1)\r\n* 2 FETCH (UID 1 RFC822.SIZE 1)\r\n{tag} OK\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("UIDs not ascending"), "{e}");

        let e = fault(vec![on("EXAMINE", None, reply("* 5 EXISTS\r\n{tag} OK [READ-ONLY] done\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("EXISTS/UIDVALIDITY not received"), "{e}");

        // A BYE, and then the server really goes.
        let e = fault(
            vec![
                on("UID FETCH", None, reply("* BYE Server shutting down\r\n")),
                on("UID FETCH", None, FaultAction::Truncate(1000)),
            ],
            d(),
            l(),
        )
        .await;
        assert!(matches!(&e, ImapError::Bye { reply, .. } if reply == "BYE Server shutting down"), "{e:?}");

        let e = fault(vec![on("UID FETCH", Some("SIZE"), reply("{tag} BAD Error in IMAP command\r\n"))], d(), l()).await;
        assert!(matches!(&e, ImapError::Rejected { status: Status::Bad, command, .. } if command == "UID FETCH 1:* (UID RFC822.SIZE)"), "{e}");

        let e = fault(vec![on("EXAMINE", None, reply("X99 OK who?\r\n"))], d(), l()).await;
        assert!(e.to_string().contains("unknown tag"), "{e}");

        // Hostile volume: more untagged responses than allowed, and an endless line.
        let few = Limits { max_untagged: 3, ..Limits::default() };
        let e = fault(vec![on("NOOP", None, FaultAction::Disconnect)], d(), few).await;
        assert!(matches!(&e, ImapError::TooManyResponses { .. }), "{e}");
        let long = "* OK ".to_string() + &"x".repeat(5000) + "\r\n";
        let short = Limits { codec: uidlmap::imap::codec::CodecLimits { max_line: 1000, ..Default::default() }, ..Limits::default() };
        let e = fault(vec![on("EXAMINE", None, reply(&long))], d(), short).await;
        assert!(matches!(&e, ImapError::Codec { source: CodecError::LineTooLong { .. }, .. }), "{e}");
    })
    .await;
}

#[tokio::test]
async fn greeting_without_capability_and_a_plain_server() {
    within(LIMIT, async {
        let server = FakeImap::start(
            SharedWorld::new(world_with(2)),
            Script::default(),
            ImapOptions {
                greeting_capability: false,
                capabilities: Capabilities {
                    literal_plus: false,
                    sasl_ir: false,
                    auth_plain: false,
                    id: false,
                    enable: false,
                    namespace: false,
                    savedate: false,
                    starttls: false,
                    extra: vec![],
                },
                write_chunk: Some(1),
                bare_lf: true,
                ..Default::default()
            },
        )
        .await;
        let mut c = plain(server.addr).await;
        assert_eq!(c.known_capabilities(), None);
        assert_eq!(c.capabilities().await.unwrap(), ["IMAP4rev1"]);
        let e = c
            .authenticate_plain("alice", &Secret::new(PASSWORD))
            .await
            .expect_err("no AUTH=PLAIN");
        assert!(
            e.to_string().starts_with("AUTHENTICATE PLAIN ***: NO"),
            "{e}"
        );
        c.login("alice", &Secret::new(PASSWORD)).await.unwrap();
        c.examine("inbox").await.unwrap();
        let h = c.fetch_headers(&[2, 1], Batching::PIPELINED).await.unwrap();
        assert_eq!(
            h.items[&2],
            message(1)
                .split_inclusive(|&b| b == b'\n')
                .take(4)
                .flatten()
                .copied()
                .collect::<Vec<u8>>()
        );
        c.logout().await.unwrap();
        server.stop().await;
    })
    .await;
}
