//! Real Dovecot on both sides of our IMAP code: our client against Dovecot's imapd
//! (plain, LOGIN quoted and literal, AUTHENTICATE PLAIN, pipelining, IMAPS and STARTTLS,
//! a message vanishing mid-fetch), and Dovecot's own client (imapc, inside
//! `doveadm backup` with the pop3_migration plugin) against our fake IMAP server.
//!
//! Every test prints a "skipped" line and passes when Dovecot cannot run here
//! (not installed, or not root). Everything is bounded by timeouts.

mod support;

use std::path::Path;
use std::time::Duration;

use fake_servers::imap::{Capabilities, ImapOptions};
use fake_servers::world::{ImapMailbox, ImapMessage, ImapView, split_header};
use fake_servers::{Script, SharedWorld, World};
use support::{FakeImap, dovecot_or_skip, start_dovecot};
use uidlmap::domain::{Endpoint, ImapcProfile};
use uidlmap::dovecot::{
    DovecotSource, Flag, OracleOptions, SourceFolder, SourceMessage, SourceOptions, run_backup,
};
use uidlmap::imap::{Batching, ImapClient, ImapError, Limits, SetStyle, Timeouts, connect};
use uidlmap::secret::Secret;
use uidlmap::tls::{MaybeTls, Security, TlsError, Trust};

const LIMIT: Duration = Duration::from_secs(60);

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@example.com\r\nTo: alice@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <m{n}@uidlmap.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n\
         body of {n}\r\n{}\r\n",
        "y".repeat(n % 53)
    )
    .into_bytes()
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(10),
    }
}

async fn plain_client(src: &DovecotSource) -> ImapClient<MaybeTls> {
    connect(
        "127.0.0.1",
        src.imap_port(),
        Security::Plain,
        &Trust::default(),
        timeouts(),
        Limits::default(),
    )
    .await
    .expect("connect to dovecot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reads_real_dovecot() {
    if !dovecot_or_skip("client_reads_real_dovecot") {
        return;
    }
    let messages: Vec<Vec<u8>> = (1..=40).map(message).collect();
    // Quotes and a backslash travel in a quoted string; 8-bit needs a literal.
    let password = "p\"w \\d \u{e4}";
    let mut opts = SourceOptions::with_messages(messages.clone());
    opts.password = Secret::new(password);
    opts.messages[2] = SourceMessage::new(messages[2].clone()).with_flags(&[Flag::Seen]);
    opts.folders = vec![SourceFolder {
        name: "Archive".into(),
        messages: vec![SourceMessage::new(message(99))],
    }];
    let src = start_dovecot(opts).await;
    tokio::time::timeout(LIMIT, async {
        let mut c = plain_client(&src).await;
        assert!(
            c.known_capabilities().is_some(),
            "Dovecot announces capabilities in its greeting"
        );
        let e = c
            .login("alice", &Secret::new("wrong"))
            .await
            .expect_err("wrong password");
        assert!(
            matches!(&e, ImapError::Rejected { command, reply, .. }
            if command == "LOGIN \"alice\" ***" && reply.starts_with("NO [AUTHENTICATIONFAILED]")),
            "{e}"
        );
        c.login("alice", &Secret::new(password))
            .await
            .expect("literal login");
        let separator = c.separator().await.unwrap();
        assert!(separator.is_some());
        let names: Vec<String> = c
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert!(
            names.contains(&"INBOX".to_string()) && names.contains(&"Archive".to_string()),
            "{names:?}"
        );
        let st = c.status("INBOX").await.unwrap();
        assert_eq!(
            (st.messages, st.uidvalidity, st.uidnext),
            (Some(40), Some(src.uidvalidity()), Some(41))
        );

        let sel = c.examine("INBOX").await.unwrap();
        assert_eq!(
            (sel.exists, sel.uidvalidity, sel.uidnext, sel.read_only),
            (40, src.uidvalidity(), Some(41), true)
        );
        let listed = c.uid_sizes().await.unwrap();
        let sizes: Vec<(u32, Option<u64>)> = listed.iter().map(|l| (l.uid, l.size)).collect();
        let want: Vec<(u32, Option<u64>)> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u32 + 1, Some(m.len() as u64)))
            .collect();
        assert_eq!(sizes, want);
        let flags = c.uid_flags().await.unwrap();
        assert!(
            flags[2].flags.iter().any(|f| f == "\\Seen"),
            "{:?}",
            flags[2]
        );
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();

        // Pipelined: 8 commands of 5 UIDs, 4 in flight, refilled by 2: 1 + (8 - 4) / 2.
        let before = c.stats();
        let small = Batching {
            per_command: 5,
            in_flight: 4,
            style: SetStyle::Ranges,
        };
        let headers = c.fetch_headers(&uids, small).await.unwrap();
        let after = c.stats();
        assert_eq!(
            (
                after.commands - before.commands,
                after.round_trips - before.round_trips
            ),
            (8, 3)
        );
        let full = c.fetch_full(&uids, Batching::DOVECOT_DOCS).await.unwrap();
        let downloaded = c
            .fetch_full_sizes(&uids[..5], Batching::DOVECOT_BARE)
            .await
            .unwrap();
        let rfc_sizes = c.fetch_sizes(&uids, Batching::PIPELINED).await.unwrap();
        for (i, m) in messages.iter().enumerate() {
            let uid = i as u32 + 1;
            assert_eq!(
                headers.items[&uid],
                split_header(m).0,
                "header of UID {uid}"
            );
            assert_eq!(full.items[&uid], *m, "body of UID {uid}");
            assert_eq!(rfc_sizes.items[&uid], m.len() as u64);
        }
        assert_eq!(
            downloaded.items.values().copied().collect::<Vec<_>>(),
            messages[..5]
                .iter()
                .map(|m| m.len() as u64)
                .collect::<Vec<_>>()
        );
        assert!(headers.expunged.is_empty() && full.expunged.is_empty());

        let archive = c.examine("Archive").await.unwrap();
        assert_eq!(archive.exists, 1);
        let a = c.fetch_full(&[1], Batching::DOVECOT_BARE).await.unwrap();
        assert_eq!(a.items[&1], message(99));
        c.logout().await.unwrap();

        // AUTHENTICATE PLAIN, with SASL-IR as Dovecot offers it.
        let mut c = plain_client(&src).await;
        c.authenticate_plain("alice", &Secret::new(password))
            .await
            .expect("AUTHENTICATE PLAIN");
        assert_eq!(c.examine("INBOX").await.unwrap().exists, 40);
        let h = c.fetch_headers(&[1], Batching::DOVECOT_BARE).await.unwrap();
        assert_eq!(h.items[&1], split_header(&messages[0]).0);
        c.logout().await.unwrap();
    })
    .await
    .expect("no hang");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_over_tls_to_dovecot() {
    if !dovecot_or_skip("client_over_tls_to_dovecot") {
        return;
    }
    let src = start_dovecot(SourceOptions {
        tls: true,
        ..SourceOptions::with_messages((1..=3).map(message))
    })
    .await;
    tokio::time::timeout(LIMIT, async {
        let trust = Trust::only(src.ca_der().expect("TLS source").clone());
        let imaps = src.imaps_port().expect("IMAPS port");
        for (security, port) in [
            (Security::Implicit, imaps),
            (Security::StartTls, src.imap_port()),
        ] {
            let mut c = connect(
                "127.0.0.1",
                port,
                security,
                &trust,
                timeouts(),
                Limits::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
            c.login("alice", &Secret::new("secret")).await.unwrap();
            c.examine("INBOX").await.unwrap();
            let h = c
                .fetch_headers(&[1, 2, 3], Batching::PIPELINED)
                .await
                .unwrap();
            assert_eq!(h.items[&2], split_header(&message(2)).0);
            c.logout().await.unwrap();
        }
        let stranger = fake_servers::tls::TestCa::generate().unwrap();
        for (security, port) in [
            (Security::Implicit, imaps),
            (Security::StartTls, src.imap_port()),
        ] {
            let e = connect(
                "127.0.0.1",
                port,
                security,
                &Trust::only(stranger.ca_der.clone()),
                timeouts(),
                Limits::default(),
            )
            .await
            .expect_err("an untrusted certificate is refused");
            assert!(
                matches!(e, ImapError::Tls(TlsError::Handshake { .. })),
                "{security:?}: {e}"
            );
        }
    })
    .await
    .expect("no hang");
}

/// A message deleted behind Dovecot's back (its Maildir file removed) while our client
/// has the mailbox open. What Dovecot then answers is pinned down here; a later fetch of
/// that UID gets nothing at all (reported in `expunged`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_vanishing_mid_session() {
    if !dovecot_or_skip("a_message_vanishing_mid_session") {
        return;
    }
    let messages: Vec<Vec<u8>> = (1..=6).map(message).collect();
    let src = start_dovecot(SourceOptions::with_messages(messages.clone())).await;
    tokio::time::timeout(LIMIT, async {
        let mut c = plain_client(&src).await;
        c.login("alice", &Secret::new("secret")).await.unwrap();
        c.examine("INBOX").await.unwrap();
        let uids: Vec<u32> = c.uid_sizes().await.unwrap().iter().map(|l| l.uid).collect();
        assert_eq!(uids, [1, 2, 3, 4, 5, 6]);
        remove_message_file(&src.dir().join("home/alice/Maildir/cur"), &messages[3]);
        let h = c.fetch_headers(&uids, Batching::DOVECOT_DOCS).await;
        let h = h.expect("the fetch completes");
        // Dovecot 2.3.19.1 answers `BODY[HEADER] NIL` for the message whose file is gone,
        // announces its EXPUNGE in the same reply, and completes the command with OK.
        assert_eq!(h.nil, vec![4], "{:?}", (&h.nil, &h.expunged));
        assert!(h.expunged.is_empty(), "{:?}", h.expunged);
        assert_eq!(h.items.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 5, 6]);
        assert_eq!(
            h.expunge_notices, 1,
            "Dovecot announces the EXPUNGE during a UID FETCH"
        );
        assert_eq!(c.exists(), Some(5));
        let again = c
            .fetch_headers(&[3, 4], Batching::DOVECOT_BARE)
            .await
            .unwrap();
        assert_eq!(
            (again.expunged, again.nil, again.items.len()),
            (vec![4], vec![], 1)
        );
        c.logout().await.unwrap();
    })
    .await
    .expect("no hang");
}

fn remove_message_file(cur: &Path, bytes: &[u8]) {
    for entry in std::fs::read_dir(cur).expect("Maildir cur") {
        let path = entry.unwrap().path();
        if std::fs::read(&path).unwrap() == bytes {
            std::fs::remove_file(&path).unwrap();
            return;
        }
    }
    panic!("message file not found in {}", cur.display());
}

/// Dovecot's imapc (inside `doveadm backup`, with the pop3_migration plugin) migrates
/// from our fake IMAP server, with a real Dovecot as the POP3 side serving the same
/// messages. One message's IMAP copy has an extra byte, so the size pass stops there and
/// the plugin reads headers (`BODY.PEEK[HEADER]` from the fake server, `TOP` from
/// Dovecot); every UIDL must still land on its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_imapc_migrates_from_the_fake_server() {
    if !dovecot_or_skip("dovecot_imapc_migrates_from_the_fake_server") {
        return;
    }
    let messages: Vec<Vec<u8>> = (1..=8).map(message).collect();
    let src = start_dovecot(SourceOptions::with_messages(messages.clone())).await;

    for (profile, options) in [
        (ImapcProfile::Bare, ImapOptions::default()),
        (
            ImapcProfile::Docs,
            ImapOptions {
                greeting_capability: false,
                capabilities: Capabilities {
                    savedate: true,
                    ..Default::default()
                },
                write_chunk: Some(5),
                ..Default::default()
            },
        ),
    ] {
        let mut inbox = ImapMailbox::new("INBOX", 1234);
        for (i, m) in messages.iter().enumerate() {
            let mut bytes = m.clone();
            if i == 2 {
                bytes.extend_from_slice(b"!");
            }
            inbox.append(ImapMessage::honest(format!("m{i}"), bytes));
        }
        let mut archive = ImapMailbox::new("Archive/2023", 77);
        archive.append(ImapMessage::honest("a1", message(50)));
        let world = World {
            user: "alice".into(),
            password: "secret".into(),
            imap: ImapView {
                separator: '/',
                mailboxes: vec![inbox, archive],
            },
            ..Default::default()
        };
        let script = Script::default();
        let fake = FakeImap::start(SharedWorld::new(world), script.clone(), options).await;

        let mut opts = OracleOptions::new(
            Endpoint::local(fake.addr.port(), "alice", Secret::new("secret")),
            Endpoint::local(src.pop3_port(), "alice", Secret::new("secret")),
        );
        opts.profile = profile;
        opts.timeout = Duration::from_secs(45);
        let run = tokio::task::spawn_blocking(move || run_backup(opts))
            .await
            .expect("no panic")
            .expect("run doveadm");
        let context = format!(
            "{profile:?}: {:#?}\nimapc sent: {:#?}",
            run.plugin_lines, run.imapc_rawlog.sent
        );
        assert_eq!(run.exit_code, 0, "{context}");
        let s = run.summaries();
        assert_eq!(s.len(), 1, "{context}");
        assert_eq!(
            (s[0].size_matches, s[0].total, s[0].matched_by_headers),
            (2, 8, Some(8)),
            "{context}"
        );
        let inbox = run.mailbox("INBOX");
        assert_eq!(inbox.len(), 8, "{context}");
        for m in &inbox {
            assert_eq!(m.pop3_uidl, src.expected_uidl(m.uid).unwrap(), "{context}");
            assert_eq!(m.message_id, format!("<m{}@uidlmap.test>", m.uid));
        }
        let archive = run.mailbox("Archive/2023");
        assert_eq!(archive.len(), 1, "{context}");
        assert_eq!(archive[0].subject, "message 50");

        // What imapc sent, as our server logged it.
        let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
        let first = if profile == ImapcProfile::Docs { 1 } else { 0 };
        if first == 1 {
            assert_eq!(
                log[0], "CAPABILITY",
                "no capabilities in the greeting: imapc asks"
            );
        }
        assert_eq!(log[first], "LOGIN \"alice\" ***");
        assert_eq!(log[first + 1], "LIST \"\" \"\"");
        assert!(log.contains(&"EXAMINE \"INBOX\"".to_string()), "{log:#?}");
        assert!(
            log.contains(&"UID FETCH 1:* (FLAGS)".to_string()),
            "{log:#?}"
        );
        let headers: Vec<&String> = log
            .iter()
            .filter(|l| l.contains("BODY.PEEK[HEADER]"))
            .collect();
        assert!(!headers.is_empty(), "{log:#?}");
        if profile == ImapcProfile::Docs {
            assert!(
                log.contains(&"UID FETCH 1,2,3,4,5,6,7,8 (RFC822.SIZE)".to_string()),
                "{log:#?}"
            );
            assert!(
                log.iter().any(|l| l.contains("SAVEDATE")),
                "SAVEDATE is asked for once advertised: {log:#?}"
            );
        } else {
            assert!(
                log.contains(&"UID FETCH 1 (BODY.PEEK[])".to_string()),
                "{log:#?}"
            );
            assert!(!log.iter().any(|l| l.contains("RFC822.SIZE")), "{log:#?}");
        }
        fake.stop().await;
    }
}
