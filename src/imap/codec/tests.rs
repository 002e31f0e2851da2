//! Table tests of the IMAP response decoder: every response form, chunked input, limits,
//! RFC 3501 and Dovecot transcripts, and the encoding helpers.

use super::*;

fn limits() -> CodecLimits {
    CodecLimits::default()
}

/// Decodes every response of `input`, feeding it in chunks of `chunk` bytes the way
/// a socket might deliver it. Panics if bytes are left over at the end.
fn decode_chunked(
    input: &[u8],
    chunk: usize,
    limits: &CodecLimits,
) -> Result<Vec<Response>, CodecError> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decode(&buf, limits)? {
                Decoded::Incomplete => break,
                Decoded::Complete { value, consumed } => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    buf.drain(..consumed);
                    out.push(value);
                }
            }
        }
    }
    assert!(buf.is_empty(), "left over: {}", excerpt(&buf));
    Ok(out)
}

/// Decodes `input` whole and in every chunk size from 1 to 17, and checks they agree.
fn decode_all(input: &[u8]) -> Vec<Response> {
    let whole = decode_chunked(input, input.len(), &limits()).expect("decodes");
    for chunk in 1..=17 {
        let chunked = decode_chunked(input, chunk, &limits()).expect("decodes chunked");
        assert_eq!(chunked, whole, "chunk size {chunk}");
    }
    whole
}

fn one(input: &[u8]) -> Response {
    let mut all = decode_all(input);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn untagged(input: &[u8]) -> Untagged {
    match one(input) {
        Response::Untagged(u) => u,
        other => panic!("not untagged: {other:?}"),
    }
}

fn fetch(input: &[u8]) -> (u32, Vec<FetchItem>) {
    match untagged(input) {
        Untagged::Fetch { seq, items } => (seq, items),
        other => panic!("not FETCH: {other:?}"),
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn tagged_table() {
    let cases: &[(&[u8], Status, Option<Code>, &str)] = &[
        (
            b"a001 OK LOGIN completed\r\n",
            Status::Ok,
            None,
            "LOGIN completed",
        ),
        (b"A1 ok done\n", Status::Ok, None, "done"),
        (b"A1 OK\r\n", Status::Ok, None, ""),
        (b"A1 OK \r\n", Status::Ok, None, ""),
        (
            b"A142 OK [READ-WRITE] SELECT completed\r\n",
            Status::Ok,
            Some(Code::ReadWrite),
            "SELECT completed",
        ),
        (
            b"a2 OK [READ-ONLY] Examine completed (0.002 + 0.000 secs).\r\n",
            Status::Ok,
            Some(Code::ReadOnly),
            "Examine completed (0.002 + 0.000 secs).",
        ),
        (
            b"a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            Status::No,
            Some(Code::Other {
                name: "AUTHENTICATIONFAILED".into(),
                args: None,
            }),
            "Authentication failed.",
        ),
        (
            b"a4 BAD Error in IMAP command: Unknown command.\r\n",
            Status::Bad,
            None,
            "Error in IMAP command: Unknown command.",
        ),
        (
            b"A5 NO [TRYCREATE] No such mailbox\r\n",
            Status::No,
            Some(Code::TryCreate),
            "No such mailbox",
        ),
        (
            b"a6 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Logged in\r\n",
            Status::Ok,
            Some(Code::Capability(s(&["IMAP4rev1", "LITERAL+", "SASL-IR"]))),
            "Logged in",
        ),
        (
            b"a7 OK [UIDNEXT x] odd\r\n",
            Status::Ok,
            Some(Code::Other {
                name: "UIDNEXT".into(),
                args: Some("x".into()),
            }),
            "odd",
        ),
        (
            b"a8 OK [X-UNKNOWN-CODE] text\r\n",
            Status::Ok,
            Some(Code::Other {
                name: "X-UNKNOWN-CODE".into(),
                args: None,
            }),
            "text",
        ),
    ];
    for (input, status, code, text) in cases {
        match one(input) {
            Response::Tagged(t) => {
                assert_eq!(t.status, *status, "{}", excerpt(input));
                assert_eq!(&t.code, code, "{}", excerpt(input));
                assert_eq!(t.text, *text, "{}", excerpt(input));
            }
            other => panic!("{}: {other:?}", excerpt(input)),
        }
    }
}

#[test]
fn untagged_status_and_codes_table() {
    let cases: &[(&[u8], Status, Option<Code>, &str)] = &[
        (b"* OK IMAP4rev1 Service Ready\r\n", Status::Ok, None, "IMAP4rev1 Service Ready"),
        (b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n", Status::Ok, Some(Code::UidValidity(3857529045)), "UIDs valid"),
        (b"* OK [UIDNEXT 4392] Predicted next UID\r\n", Status::Ok, Some(Code::UidNext(4392)), "Predicted next UID"),
        (b"* OK [UNSEEN 17] Message 17 is the first unseen message\r\n", Status::Ok, Some(Code::Unseen(17)), "Message 17 is the first unseen message"),
        (b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n", Status::Ok,
            Some(Code::PermanentFlags(s(&["\\Deleted", "\\Seen", "\\*"]))), "Limited"),
        (b"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n", Status::Ok, Some(Code::PermanentFlags(vec![])), "Read-only mailbox."),
        (b"* OK [ALERT] System shutdown in 10 minutes\r\n", Status::Ok, Some(Code::Alert), "System shutdown in 10 minutes"),
        (b"* NO [PARSE] bad header\r\n", Status::No, Some(Code::Parse), "bad header"),
        (b"* BAD Disk crash, attempting salvage to a new disk!\r\n", Status::Bad, None, "Disk crash, attempting salvage to a new disk!"),
        (b"* PREAUTH IMAP4rev1 server logged in as Smith\r\n", Status::PreAuth, None, "IMAP4rev1 server logged in as Smith"),
        (b"* BYE Autologout; idle for too long\r\n", Status::Bye, None, "Autologout; idle for too long"),
        (b"* OK [REFERRAL imap://user;AUTH=*@SERVER2/] Try elsewhere\r\n", Status::Ok,
            Some(Code::Other { name: "REFERRAL".into(), args: Some("imap://user;AUTH=*@SERVER2/".into()) }), "Try elsewhere"),
        (b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n",
            Status::Ok, Some(Code::Capability(s(&["IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "LITERAL+", "AUTH=PLAIN", "AUTH=LOGIN"]))),
            "Dovecot (Debian) ready."),
        (b"* OK\r\n", Status::Ok, None, ""),
    ];
    for (input, status, code, text) in cases {
        assert_eq!(
            untagged(input),
            Untagged::Status {
                status: *status,
                code: code.clone(),
                text: text.to_string()
            },
            "{}",
            excerpt(input)
        );
    }
}

#[test]
fn untagged_data_table() {
    let cases: &[(&[u8], Untagged)] = &[
        (b"* 18 EXISTS\r\n", Untagged::Exists(18)),
        (b"* 2 RECENT\r\n", Untagged::Recent(2)),
        (b"* 22 EXPUNGE\r\n", Untagged::Expunge(22)),
        (b"* 0 exists\n", Untagged::Exists(0)),
        (
            b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",
            Untagged::Capability(s(&[
                "IMAP4rev1",
                "STARTTLS",
                "AUTH=GSSAPI",
                "LOGINDISABLED",
            ])),
        ),
        (
            b"* CAPABILITY IMAP4rev1 \r\n",
            Untagged::Capability(s(&["IMAP4rev1"])),
        ),
        (
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
            Untagged::Flags(s(&[
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Seen",
                "\\Draft",
            ])),
        ),
        (b"* SEARCH 2 84 882\r\n", Untagged::Search(vec![2, 84, 882])),
        (b"* SEARCH\r\n", Untagged::Search(vec![])),
        (b"* SEARCH 1 2 \r\n", Untagged::Search(vec![1, 2])),
        (
            b"* LIST (\\Noselect) \"/\" \"\"\r\n",
            Untagged::List(ListEntry {
                attributes: s(&["\\Noselect"]),
                delimiter: Some('/'),
                name: String::new(),
            }),
        ),
        (
            b"* LIST (\\Noselect) \".\" #news.\r\n",
            Untagged::List(ListEntry {
                attributes: s(&["\\Noselect"]),
                delimiter: Some('.'),
                name: "#news.".into(),
            }),
        ),
        (
            b"* LIST () \"/\" ~/Mail/foo\r\n",
            Untagged::List(ListEntry {
                attributes: vec![],
                delimiter: Some('/'),
                name: "~/Mail/foo".into(),
            }),
        ),
        (
            b"* LIST (\\HasNoChildren) \".\" INBOX\r\n",
            Untagged::List(ListEntry {
                attributes: s(&["\\HasNoChildren"]),
                delimiter: Some('.'),
                name: "INBOX".into(),
            }),
        ),
        (
            b"* LIST (\\HasNoChildren) \"\\\\\" \"a \\\"b\\\"\"\r\n",
            Untagged::List(ListEntry {
                attributes: s(&["\\HasNoChildren"]),
                delimiter: Some('\\'),
                name: "a \"b\"".into(),
            }),
        ),
        (
            b"* LIST () NIL flat\r\n",
            Untagged::List(ListEntry {
                attributes: vec![],
                delimiter: None,
                name: "flat".into(),
            }),
        ),
        (
            b"* LIST () \"/\" {7}\r\nA\r\nB/c]\r\n",
            Untagged::List(ListEntry {
                attributes: vec![],
                delimiter: Some('/'),
                name: "A\r\nB/c]".into(),
            }),
        ),
        (
            b"* LIST (\\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
            Untagged::List(ListEntry {
                attributes: s(&["\\HasChildren"]),
                delimiter: Some('/'),
                name: "Foo".into(),
            }),
        ),
        (
            b"* LSUB () \".\" #news.comp.mail.misc\r\n",
            Untagged::Lsub(ListEntry {
                attributes: vec![],
                delimiter: Some('.'),
                name: "#news.comp.mail.misc".into(),
            }),
        ),
        (
            b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
            Untagged::MailboxStatus {
                mailbox: "blurdybloop".into(),
                items: vec![("MESSAGES".into(), 231), ("UIDNEXT".into(), 44292)],
            },
        ),
        (
            b"* STATUS \"INBOX\" (UIDNEXT 9 UIDVALIDITY 1795877593 )\r\n",
            Untagged::MailboxStatus {
                mailbox: "INBOX".into(),
                items: vec![("UIDNEXT".into(), 9), ("UIDVALIDITY".into(), 1795877593)],
            },
        ),
        (
            b"* ENABLED\r\n",
            Untagged::Other {
                keyword: "ENABLED".into(),
                number: None,
            },
        ),
        (
            b"* ID (\"name\" \"Dovecot\")\r\n",
            Untagged::Other {
                keyword: "ID".into(),
                number: None,
            },
        ),
        (
            b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n",
            Untagged::Other {
                keyword: "NAMESPACE".into(),
                number: None,
            },
        ),
        (
            b"* ESEARCH (TAG \"a\") UID ALL 1:3\r\n",
            Untagged::Other {
                keyword: "ESEARCH".into(),
                number: None,
            },
        ),
        (
            b"* 3 VANISHED-ISH {3}\r\nabc junk\r\n",
            Untagged::Other {
                keyword: "VANISHED-ISH".into(),
                number: Some(3),
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(&untagged(input), want, "{}", excerpt(input));
    }
}

#[test]
fn continuation_table() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"+ Ready for additional command text\r\n",
            "Ready for additional command text",
        ),
        (b"+ \r\n", ""),
        (b"+\r\n", ""),
        (b"+ OK\n", "OK"),
    ];
    for (input, text) in cases {
        assert_eq!(
            one(input),
            Response::Continuation {
                text: text.to_string()
            }
        );
    }
}

#[test]
fn fetch_items_table() {
    let cases: &[(&[u8], u32, Vec<FetchItem>)] = &[
        (b"* 1 FETCH (UID 1 RFC822.SIZE 136)\r\n", 1, vec![FetchItem::Uid(1), FetchItem::Rfc822Size(136)]),
        (b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))\r\n", 1, vec![FetchItem::Uid(1), FetchItem::Flags(s(&["\\Seen", "\\Recent"]))]),
        (b"* 23 FETCH (FLAGS (\\Seen) UID 4827313)\r\n", 23, vec![FetchItem::Flags(s(&["\\Seen"])), FetchItem::Uid(4827313)]),
        (b"* 2 fetch (uid 7 rfc822.size 10  flags ())\r\n", 2, vec![FetchItem::Uid(7), FetchItem::Rfc822Size(10), FetchItem::Flags(vec![])]),
        (b"* 1 FETCH (UID 1 INTERNALDATE \"14-Nov-2023 22:13:21 +0000\" SAVEDATE \"28-Nov-2026 14:53:13 +0000\" BODY[] {5}\r\nab\r\nc)\r\n", 1,
            vec![FetchItem::Uid(1), FetchItem::InternalDate("14-Nov-2023 22:13:21 +0000".into()), FetchItem::Other("SAVEDATE".into()),
                 FetchItem::Body { section: Section::Full, origin: None, data: Some(b"ab\r\nc".to_vec()) }]),
        (b"* 1 FETCH (UID 1 SAVEDATE NIL)\r\n", 1, vec![FetchItem::Uid(1), FetchItem::Other("SAVEDATE".into())]),
        (b"* 3 FETCH (UID 9 BODY[HEADER] {8}\r\na: b\r\n\r\n)\r\n", 3,
            vec![FetchItem::Uid(9), FetchItem::Body { section: Section::Header, origin: None, data: Some(b"a: b\r\n\r\n".to_vec()) }]),
        (b"* 3 FETCH (BODY[HEADER] {8+}\r\na: b\r\n\r\n UID 9)\r\n", 3,
            vec![FetchItem::Body { section: Section::Header, origin: None, data: Some(b"a: b\r\n\r\n".to_vec()) }, FetchItem::Uid(9)]),
        (b"* 4 FETCH (UID 4 BODY[TEXT] \"hi \\\"there\\\"\")\r\n", 4,
            vec![FetchItem::Uid(4), FetchItem::Body { section: Section::Text, origin: None, data: Some(b"hi \"there\"".to_vec()) }]),
        (b"* 4 FETCH (UID 4 BODY[HEADER] NIL)\r\n", 4,
            vec![FetchItem::Uid(4), FetchItem::Body { section: Section::Header, origin: None, data: None }]),
        (b"* 4 FETCH (UID 4 BODY[HEADER] \"\")\r\n", 4,
            vec![FetchItem::Uid(4), FetchItem::Body { section: Section::Header, origin: None, data: Some(vec![]) }]),
        (b"* 4 FETCH (UID 4 BODY[]<0> {3}\r\nabc)\r\n", 4,
            vec![FetchItem::Uid(4), FetchItem::Body { section: Section::Full, origin: Some(0), data: Some(b"abc".to_vec()) }]),
        (b"* 4 FETCH (UID 4 BODY[HEADER.FIELDS (FROM TO)] {0}\r\n)\r\n", 4,
            vec![FetchItem::Uid(4), FetchItem::Body { section: Section::Other("HEADER.FIELDS (FROM TO)".into()), origin: None, data: Some(vec![]) }]),
        (b"* 5 FETCH (MODSEQ (12345) X-GM-LABELS (\\Inbox \"a b\") UID 5 BINARY.SIZE[1] 40 X-WEIRD {2}\r\n()  )\r\n", 5,
            vec![FetchItem::Other("MODSEQ".into()), FetchItem::Other("X-GM-LABELS".into()), FetchItem::Uid(5),
                 FetchItem::Other("BINARY.SIZE[1]".into()), FetchItem::Other("X-WEIRD".into())]),
        // Bare LF inside a literal is data, and a bare-LF line end is accepted.
        (b"* 6 FETCH (UID 6 BODY[] {6}\na\nb\r\n\n)\n", 6,
            vec![FetchItem::Uid(6), FetchItem::Body { section: Section::Full, origin: None, data: Some(b"a\nb\r\n\n".to_vec()) }]),
        // A literal may hold what looks like the end of a response.
        (b"* 7 FETCH (UID 7 BODY[] {9}\r\n)\r\na OK\r\n)\r\n", 7,
            vec![FetchItem::Uid(7), FetchItem::Body { section: Section::Full, origin: None, data: Some(b")\r\na OK\r\n".to_vec()) }]),
        // Several literals in one response.
        (b"* 8 FETCH (BODY[HEADER] {2}\r\nh\n BODY[TEXT] {2}\r\nt\n UID 8)\r\n", 8,
            vec![FetchItem::Body { section: Section::Header, origin: None, data: Some(b"h\n".to_vec()) },
                 FetchItem::Body { section: Section::Text, origin: None, data: Some(b"t\n".to_vec()) }, FetchItem::Uid(8)]),
        // 8-bit and NUL bytes in a literal are returned untouched.
        (b"* 9 FETCH (UID 9 BODY[] {4}\r\n\x00\xff\r\x80)\r\n", 9,
            vec![FetchItem::Uid(9), FetchItem::Body { section: Section::Full, origin: None, data: Some(b"\x00\xff\r\x80".to_vec()) }]),
    ];
    for (input, seq, items) in cases {
        let (got_seq, got) = fetch(input);
        assert_eq!(got_seq, *seq, "{}", excerpt(input));
        assert_eq!(&got, items, "{}", excerpt(input));
    }
}

/// RFC 3501 section 8, the server's side, with the literal length computed from the
/// header lines as the RFC prints them.
#[test]
fn rfc3501_sample_session() {
    let header = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n";
    assert_eq!(header.len(), 342, "the RFC's literal length");
    let transcript = format!(
        "* OK IMAP4rev1 Service Ready\r\n\
a001 OK LOGIN completed\r\n\
* 18 EXISTS\r\n\
* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* 2 RECENT\r\n\
* OK [UNSEEN 17] Message 17 is the first unseen message\r\n\
* OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
a002 OK [READ-WRITE] SELECT completed\r\n\
* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
\"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")\
(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\") \
BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 \
92))\r\n\
a003 OK FETCH completed\r\n\
* 12 FETCH (BODY[HEADER] {{342}}\r\n{header})\r\n\
a004 OK FETCH completed\r\n\
* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n\
a005 OK +FLAGS completed\r\n\
* BYE IMAP4rev1 server terminating connection\r\n\
a006 OK LOGOUT completed\r\n"
    );
    let all = decode_all(transcript.as_bytes());
    assert_eq!(all.len(), 16);
    assert_eq!(
        all[8],
        Response::Untagged(Untagged::Fetch {
            seq: 12,
            items: vec![
                FetchItem::Flags(s(&["\\Seen"])),
                FetchItem::InternalDate("17-Jul-1996 02:44:25 -0700".into()),
                FetchItem::Rfc822Size(4286),
                FetchItem::Other("ENVELOPE".into()),
                FetchItem::Other("BODY".into()),
            ],
        })
    );
    assert_eq!(
        all[10],
        Response::Untagged(Untagged::Fetch {
            seq: 12,
            items: vec![FetchItem::Body {
                section: Section::Header,
                origin: None,
                data: Some(header.as_bytes().to_vec()),
            }],
        })
    );
    assert_eq!(
        all[15],
        Response::Tagged(Tagged {
            tag: "a006".into(),
            status: Status::Ok,
            code: None,
            text: "LOGOUT completed".into(),
        })
    );
}

/// Dovecot's docs-profile transcript from the interop note, server side.
#[test]
fn dovecot_transcript() {
    let t = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n\
1 OK [CAPABILITY IMAP4rev1 SASL-IR UIDPLUS SAVEDATE LITERAL+ NOTIFY] Logged in\r\n\
* LIST (\\Noselect) \".\" \"\"\r\n\
2 OK List completed (0.001 + 0.000 secs).\r\n\
* STATUS INBOX (UIDNEXT 9 UIDVALIDITY 1795877593)\r\n\
* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n\
* 8 EXISTS\r\n\
* 8 RECENT\r\n\
* OK [UIDVALIDITY 1795877593] UIDs valid\r\n\
* OK [UIDNEXT 9] Predicted next UID\r\n\
7 OK [READ-ONLY] Examine completed (0.002 + 0.000 + 0.001 secs).\r\n\
* 1 FETCH (UID 1 RFC822.SIZE 136)\r\n\
* 1 FETCH (UID 1 BODY[HEADER] {11}\r\nFrom: a\r\n\r\n)\r\n\
* 1 FETCH (UID 1 INTERNALDATE \"14-Nov-2023 22:13:21 +0000\" SAVEDATE \"28-Nov-2026 14:53:13 +0000\" BODY[] {13}\r\nFrom: a\r\n\r\nx\n)\r\n\
* BYE Logging out\r\n\
12 OK Logout completed (0.026 + 0.000 + 0.025 secs).\r\n";
    let all = decode_all(t);
    assert_eq!(all.len(), 17);
    assert!(
        matches!(&all[13], Response::Untagged(Untagged::Fetch { items, .. })
        if items[1] == FetchItem::Body { section: Section::Header, origin: None, data: Some(b"From: a\r\n\r\n".to_vec()) })
    );
}

#[test]
fn incomplete_until_the_last_byte() {
    let input = b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n";
    for end in 0..input.len() {
        assert_eq!(
            decode(&input[..end], &limits()),
            Ok(Decoded::Incomplete),
            "{end}"
        );
    }
    assert!(
        matches!(decode(input, &limits()), Ok(Decoded::Complete { consumed, .. }) if consumed == input.len())
    );
}

#[test]
fn syntax_errors_table() {
    let cases: &[&[u8]] = &[
        b"\r\n",
        b" OK x\r\n",
        b"a1 MAYBE x\r\n",
        b"a1\r\n",
        b"* 1 FETCH UID 1\r\n",
        b"* 1 FETCH (UID x)\r\n",
        b"* 1 FETCH (UID 99999999999)\r\n",
        b"* 1 FETCH (UID 1\r\n",
        b"* 1 FETCH (BODY[HEADER] \"unterminated)\r\n",
        b"* 1 FETCH (BODY[HEADER] {3} x\r\nabc)\r\n",
        b"* 1 FETCH (BODY[HEADER x)\r\n",
        b"* 1 FETCH (X (a (b)\r\n",
        b"* LIST \\Noselect \"/\" x\r\n",
        b"* STATUS x (MESSAGES many)\r\n",
        b"* OK [ALERT text\r\n",
        b"* 99999999999 EXISTS\r\n",
    ];
    for input in cases {
        match decode(input, &limits()) {
            Err(CodecError::Syntax { .. }) => {}
            other => panic!("{}: {other:?}", excerpt(input)),
        }
    }
}

#[test]
fn limits_are_enforced() {
    let small = CodecLimits {
        max_line: 16,
        max_literal: 4,
        max_response: 40,
        max_depth: 3,
    };
    assert_eq!(
        decode(b"* OK 0123456789abcdefgh", &small),
        Err(CodecError::LineTooLong { limit: 16 })
    );
    assert_eq!(
        decode(b"* OK 0123456789abcdefgh\r\n", &small),
        Err(CodecError::LineTooLong { limit: 16 })
    );
    assert_eq!(decode(b"* OK 0123456789a", &small), Ok(Decoded::Incomplete));
    assert!(matches!(
        decode(b"* OK 0123456789a\r\n", &small),
        Ok(Decoded::Complete { .. })
    ));
    assert_eq!(
        decode(b"* 1 FETCH (X {5}\r\n", &small),
        Err(CodecError::LiteralTooLarge { size: 5, limit: 4 })
    );
    assert_eq!(
        decode(
            b"* 1 FETCH (X {99999999999999999999999}\r\n",
            &CodecLimits::default()
        ),
        Err(CodecError::LiteralTooLarge {
            size: u64::MAX,
            limit: CodecLimits::default().max_literal
        })
    );
    assert!(matches!(
        decode(b"* 1 FETCH (X {4}\r\nabcd)\r\n", &small),
        Ok(Decoded::Complete { .. })
    ));
    assert_eq!(
        decode(
            b"* 1 FETCH (X ((((a)))))\r\n",
            &CodecLimits {
                max_line: 100,
                ..small
            }
        ),
        Err(CodecError::TooDeep { limit: 3 })
    );
    // The line limit holds per line, across literals.
    assert!(matches!(
        decode(b"* 1 FETCH (X {2}\r\nab Y {2}\r\ncd)\r\n", &small),
        Ok(Decoded::Complete { .. })
    ));
    // A response made of ever more literals stops at the response limit.
    assert_eq!(
        decode(b"* 1 FETCH (X {2}\r\nab Y {2}\r\ncd Z {4}\r\n", &small),
        Err(CodecError::ResponseTooLarge { limit: 40 })
    );
}

#[test]
fn a_huge_literal_is_not_rescanned() {
    // A 1 MiB literal arriving in 4 KiB pieces: the framer skips it by length.
    let mut input = b"* 1 FETCH (UID 1 BODY[] {1048576}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'\n', 1 << 20));
    input.extend_from_slice(b")\r\n");
    let got = decode_chunked(&input, 4096, &limits()).expect("decodes");
    assert!(
        matches!(&got[0], Response::Untagged(Untagged::Fetch { items, .. })
        if matches!(&items[1], FetchItem::Body { data: Some(d), .. } if d.len() == 1 << 20))
    );
}

#[test]
fn encoding_helpers() {
    assert_eq!(uid_ranges(&[]), "");
    assert_eq!(uid_ranges(&[5]), "5");
    assert_eq!(uid_ranges(&[8, 1, 2, 3, 5, 7, 3]), "1:3,5,7:8");
    assert_eq!(
        uid_ranges(&[u32::MAX, u32::MAX - 1]),
        "4294967294:4294967295"
    );
    assert_eq!(uid_commas(&[1, 2, 3, 10]), "1,2,3,10");
    assert_eq!(quoted(b"a\"b\\c d"), b"\"a\\\"b\\\\c d\"");
    assert!(!needs_literal(b"p\"w\\ d#"));
    assert!(needs_literal(b"p\xc3\xa4"));
    assert!(needs_literal(b"a\r\nb"));
    assert!(needs_literal(b"a\0"));
}

#[test]
fn quoted_round_trip() {
    for s in [
        &b"plain"[..],
        b"with \"quotes\"",
        b"back\\slash",
        b"",
        b"  spaces  ",
    ] {
        let mut line = b"* LIST () \"/\" ".to_vec();
        line.extend(quoted(s));
        line.extend_from_slice(b"\r\n");
        match untagged(&line) {
            Untagged::List(e) => assert_eq!(e.name.as_bytes(), s),
            other => panic!("{other:?}"),
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let small = CodecLimits { max_line: 64, max_literal: 64, max_response: 200, max_depth: 4 };
        let _ = decode(&bytes, &small);
        let _ = decode(&bytes, &CodecLimits::default());
    }

    #[test]
    fn imap_like_bytes_never_panic(parts in proptest::collection::vec(
        proptest::sample::select(vec![
            "* ", "a1 ", "+ ", "OK ", "NO ", "FETCH ", "(", ")", "[", "]", "{", "}", "{3}\r\n", "{2+}\r\n",
            "\"", "\\", "UID ", "1 ", "4294967296 ", "BODY[HEADER] ", "BODY[]<", ">", "NIL ", "\r\n", "\n",
            "LIST ", "STATUS ", "EXISTS", "CAPABILITY ", "x", " ",
        ]), 0..40)) {
        let bytes: Vec<u8> = parts.concat().into_bytes();
        let small = CodecLimits { max_line: 80, max_literal: 8, max_response: 300, max_depth: 4 };
        if let Ok(Decoded::Complete { consumed, .. }) = decode(&bytes, &small) {
            proptest::prop_assert!(consumed <= bytes.len());
        }
    }
}
