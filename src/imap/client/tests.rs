//! Unit tests of the IMAP client against a scripted peer: literals, continuations, capabilities and the errors each fault gives.

use super::*;

/// A scripted peer over an in-memory pipe: checks what the client writes and
/// answers, so the client's exact bytes are pinned down without a server.
async fn with_peer<F, Fut, T>(
    script: &'static [(&'static str, &'static str)],
    greeting: &'static str,
    body: F,
) -> (T, Vec<String>)
where
    F: FnOnce(ImapClient<tokio::io::DuplexStream>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (client_end, mut server_end) = tokio::io::duplex(1 << 16);
    let peer = tokio::spawn(async move {
        let mut seen = Vec::new();
        server_end.write_all(greeting.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        for (expect, reply) in script {
            // Read one line (commands here carry no literals unless `expect` says).
            loop {
                if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                    let line: Vec<u8> = buf.drain(..end + 2).collect();
                    let line = String::from_utf8_lossy(&line[..end]).into_owned();
                    assert_eq!(&line, expect);
                    seen.push(line);
                    break;
                }
                let mut chunk = [0u8; 4096];
                let n = server_end.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return seen;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            server_end.write_all(reply.as_bytes()).await.unwrap();
        }
        seen
    });
    let client = ImapClient::greet(client_end, Timeouts::default(), Limits::default())
        .await
        .expect("greeting");
    let out = tokio::time::timeout(Duration::from_secs(10), body(client))
        .await
        .expect("no hang");
    let seen = tokio::time::timeout(Duration::from_secs(10), peer)
        .await
        .expect("peer ends")
        .expect("peer ok");
    (out, seen)
}

#[tokio::test]
async fn login_literal_without_literal_plus() {
    let script: &[(&str, &str)] = &[
        ("A1 LOGIN \"us\\\"er\" {4}", "+ go on\r\n"),
        ("p\u{e4}s", "A1 OK done\r\n"),
    ];
    let (r, _) = with_peer(
        script,
        "* OK [CAPABILITY IMAP4rev1] hi\r\n",
        |mut c| async move {
            c.login("us\"er", &Secret::new("p\u{e4}s")).await?;
            Ok::<_, ImapError>(c.stats())
        },
    )
    .await;
    let stats = r.expect("login");
    assert_eq!(stats.commands, 1);
    // One flush for the literal announcement, one for the rest.
    assert_eq!(stats.round_trips, 2);
}

#[tokio::test]
async fn login_literal_plus_and_redaction() {
    let script: &[(&str, &str)] = &[
        ("A1 LOGIN \"u\" {5+}", ""),
        ("a", ""),
        (
            "b!",
            "A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        ),
    ];
    let (r, _) = with_peer(
        script,
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n",
        |mut c| async move { c.login("u", &Secret::new("a\r\nb!")).await },
    )
    .await;
    let e = r.expect_err("rejected");
    let shown = e.to_string();
    assert_eq!(
        shown,
        "LOGIN \"u\" ***: NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    assert!(matches!(
        e,
        ImapError::Rejected {
            status: Status::No,
            ..
        }
    ));
}

#[tokio::test]
async fn authenticate_plain_with_and_without_sasl_ir() {
    let script: &[(&str, &str)] = &[(
        "A1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==",
        "A1 OK [CAPABILITY IMAP4rev1 X] ok\r\n",
    )];
    let (r, _) = with_peer(
        script,
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n",
        |mut c| async move {
            c.authenticate_plain("user", &Secret::new("pass")).await?;
            Ok::<_, ImapError>(c.known_capabilities().map(|c| c.to_vec()))
        },
    )
    .await;
    assert_eq!(
        r.unwrap(),
        Some(vec!["IMAP4rev1".to_string(), "X".to_string()])
    );

    let script: &[(&str, &str)] = &[
        ("A1 AUTHENTICATE PLAIN", "+ \r\n"),
        ("AHVzZXIAcGFzcw==", "A1 OK ok\r\n"),
    ];
    let (r, _) = with_peer(
        script,
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n",
        |mut c| async move { c.authenticate_plain("user", &Secret::new("pass")).await },
    )
    .await;
    r.unwrap();
}

#[tokio::test]
async fn login_disabled_sends_nothing() {
    let (r, seen) = with_peer(
        &[],
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n",
        |mut c| async move { c.login("u", &Secret::new("secret")).await },
    )
    .await;
    assert!(matches!(r, Err(ImapError::NotSupported { .. })));
    assert!(seen.is_empty());
}

#[tokio::test]
async fn examine_requires_exists_and_uidvalidity() {
    let script: &[(&str, &str)] = &[(
        "A1 EXAMINE \"INBOX\"",
        "* 3 EXISTS\r\nA1 OK [READ-ONLY] done\r\n",
    )];
    let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move {
        c.examine("INBOX").await
    })
    .await;
    let e = r.expect_err("no UIDVALIDITY");
    assert!(
        e.to_string().contains("EXISTS/UIDVALIDITY not received"),
        "{e}"
    );
}

#[tokio::test]
async fn fetch_validates_uids_and_reports_expunged() {
    let script: &[(&str, &str)] = &[
        (
            "A1 EXAMINE \"INBOX\"",
            "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 9] x\r\nA1 OK [READ-ONLY] done\r\n",
        ),
        (
            "A2 UID FETCH 1:* (UID RFC822.SIZE)",
            "* 1 FETCH (UID 2 RFC822.SIZE 10)\r\n* 2 FETCH (UID 4 RFC822.SIZE 20)\r\n\
                 * 3 FETCH (UID 6 RFC822.SIZE 30)\r\n* 4 FETCH (UID 8 RFC822.SIZE 40)\r\nA2 OK done\r\n",
        ),
        (
            "A3 UID FETCH 2,4,6,8 (BODY.PEEK[HEADER])",
            "* 1 FETCH (UID 2 BODY[HEADER] {3}\r\na\r\n)\r\n* 2 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n\
                 * 2 FETCH (BODY[HEADER] NIL)\r\n* 3 FETCH (UID 8 BODY[HEADER] \"b\")\r\nA3 OK done\r\n",
        ),
        (
            "A4 UID FETCH 2 (BODY.PEEK[HEADER])",
            "* 3 FETCH (UID 8 BODY[HEADER] \"x\")\r\nA4 OK done\r\n",
        ),
    ];
    let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move {
        let sel = c.examine("INBOX").await?;
        assert_eq!(
            (sel.exists, sel.uidvalidity, sel.uidnext, sel.read_only),
            (4, 7, Some(9), true)
        );
        let listed = c.uid_sizes().await?;
        assert_eq!(
            listed
                .iter()
                .map(|l| (l.seq, l.uid, l.size))
                .collect::<Vec<_>>(),
            vec![
                (1, 2, Some(10)),
                (2, 4, Some(20)),
                (3, 6, Some(30)),
                (4, 8, Some(40))
            ]
        );
        let f = c
            .fetch_headers(&[8, 2, 4, 6, 4], Batching::DOVECOT_DOCS)
            .await?;
        assert_eq!(f.items.get(&2).map(Vec::as_slice), Some(&b"a\r\n"[..]));
        assert_eq!(f.items.get(&8).map(Vec::as_slice), Some(&b"b"[..]));
        // Seq 2 held UID 4 until the EXPUNGE; then seq 2 is UID 6, which came as NIL.
        assert_eq!(f.nil, vec![6]);
        assert_eq!(f.expunged, vec![4]);
        assert_eq!(f.expunge_notices, 1);
        assert_eq!(c.exists(), Some(3));
        let e = c
            .fetch_headers(&[2], Batching::DOVECOT_DOCS)
            .await
            .expect_err("unasked UID");
        Ok::<_, ImapError>(e.to_string())
    })
    .await;
    let e = r.unwrap();
    assert!(e.contains("UID 8, which was not asked for"), "{e}");
}

#[tokio::test]
async fn unexpected_tag_and_close_are_typed() {
    let script: &[(&str, &str)] = &[("A1 NOOP", "B7 OK what\r\n")];
    let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move { c.noop().await }).await;
    assert!(matches!(r, Err(ImapError::Protocol { .. })), "{r:?}");

    let script: &[(&str, &str)] = &[("A1 NOOP", "* BYE going away\r\n")];
    let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move { c.noop().await }).await;
    match r {
        Err(ImapError::Bye { reply, context }) => {
            assert_eq!(
                (reply.as_str(), context.as_str()),
                ("BYE going away", "NOOP")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn greeting_bye_is_refused() {
    let (client_end, mut server_end) = tokio::io::duplex(1024);
    server_end.write_all(b"* BYE too busy\r\n").await.unwrap();
    let r = ImapClient::greet(client_end, Timeouts::default(), Limits::default()).await;
    match r {
        Err(ImapError::Greeting { reply }) => assert_eq!(reply, "BYE too busy"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn silence_times_out() {
    let (client_end, _server_end) = tokio::io::duplex(1024);
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        io: Duration::from_millis(50),
    };
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        ImapClient::greet(client_end, timeouts, Limits::default()),
    )
    .await
    .expect("bounded");
    assert!(matches!(r, Err(ImapError::Timeout { .. })), "{r:?}");
}

#[test]
fn batching_consts() {
    assert_eq!(Batching::default(), Batching::PIPELINED);
    assert_eq!(Batching::DOVECOT_DOCS.per_command, 21);
}
