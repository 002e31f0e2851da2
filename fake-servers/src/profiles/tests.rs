//! Tests of the provider quirks and profiles: each header transform as a table, added
//! headers, sizes, listing rules, UIDL templates and applying a profile to a world.

use super::*;
use crate::world::ImapMailbox;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(f: fn(&[u8]) -> Vec<u8>, table: &[(&[u8], &[u8])]) {
    for (input, want) in table {
        assert_eq!(s(&f(input)), s(want), "input {:?}", s(input));
    }
}

#[test]
fn names_round_trip_and_are_unique() {
    for info in QUIRKS {
        assert_eq!(Quirk::from_name(info.name), Some(info.quirk));
        assert_eq!(info.quirk.name(), info.name);
    }
    let mut names: Vec<_> = QUIRKS.iter().map(|i| i.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), QUIRKS.len());
    assert_eq!(Quirk::from_name("imap.header.nonsense"), None);
    // Stage order is the table order.
    assert!(QUIRKS.windows(2).all(|w| w[0].quirk < w[1].quirk));
}

#[test]
fn profiles_exist() {
    for name in [
        "dovecot",
        "zimbra",
        "yahoo",
        "exchange",
        "gmail",
        "courier",
        "oracle-ims",
        "gmx",
    ] {
        assert!(profile(name).is_some(), "{name}");
    }
    assert!(profile("hotmail").is_none());
}

#[test]
fn strip_trailing_whitespace_table() {
    run(
        strip_trailing_whitespace,
        &[
            (b"a: b \r\nc: d\t\t\r\n\r\n", b"a: b\r\nc: d\r\n\r\n"),
            (b"a: b  \n\n", b"a: b\n\n"),
            // whitespace-only folds stay: stripping them would end the header early
            (b"a: b\r\n \r\n c \r\n\r\n", b"a: b\r\n \r\n c\r\n\r\n"),
            // no blank line, no final newline
            (b"a: b ", b"a: b"),
            (b"", b""),
        ],
    );
}

#[test]
fn drop_blank_folds_table() {
    run(
        drop_blank_folds,
        &[
            (b"a: b\r\n \r\n\t\r\n c\r\n\r\n", b"a: b\r\n c\r\n\r\n"),
            (b" \r\na: b\r\n\r\n", b" \r\na: b\r\n\r\n"),
            (b"a: b\r\n\r\n", b"a: b\r\n\r\n"),
        ],
    );
}

#[test]
fn drop_colonless_lines_table() {
    run(
        drop_colonless_lines,
        &[
            (
                b"a: b\r\nfoo\r\n bar\r\nc: d\r\n\r\n",
                b"a: b\r\nc: d\r\n\r\n",
            ),
            (b"foo\na: b\n\n", b"a: b\n\n"),
            // a CR-only line is not a header line
            (b"a: b\r\n\r\r\nc: d\r\n\r\n", b"a: b\r\n\r\r\nc: d\r\n\r\n"),
        ],
    );
}

#[test]
fn drop_invalid_names_table() {
    run(
        drop_invalid_names,
        &[
            (b"a b: c\r\n d\r\ne: f\r\n\r\n", b"e: f\r\n\r\n"),
            (b"a : c\r\n\r\n", b"a : c\r\n\r\n"),
            (b"a\x7f: c\r\nx\x01y: z\r\n\r\n", b"\r\n"),
            (b": empty name\r\n\r\n", b": empty name\r\n\r\n"),
            (b"colonless line\r\n\r\n", b"colonless line\r\n\r\n"),
            (
                "\u{e4}: 8-bit name\r\n\r\n".as_bytes(),
                "\u{e4}: 8-bit name\r\n\r\n".as_bytes(),
            ),
        ],
    );
}

#[test]
fn eight_bit_to_question_table() {
    run(
        eight_bit_to_question,
        &[
            (
                "Subject: Gr\u{fc}\u{df}e\r\n\r\n".as_bytes(),
                b"Subject: Gr??e\r\n\r\n",
            ),
            ("S: \u{1f600}!\r\n".as_bytes(), b"S: ?!\r\n"),
            (b"S: \xe4\xff\r\n", b"S: ??\r\n"),
            (b"plain ascii", b"plain ascii"),
        ],
    );
}

#[test]
fn cut_at_blank_fold_table() {
    run(
        cut_at_blank_fold,
        &[
            (b"a: b\r\n \r\n c\r\nd: e\r\n\r\n", b"a: b\r\n"),
            (b"a: b\r\n c\r\n\r\n", b"a: b\r\n c\r\n\r\n"),
        ],
    );
}

#[test]
fn cut_after_colonless_line_table() {
    run(
        cut_after_colonless_line,
        &[
            (b"a: b\r\nfoo\r\nc: d\r\n\r\n", b"a: b\r\nfoo\r\n"),
            (b"a: b\r\n c\r\n\r\n", b"a: b\r\n c\r\n\r\n"),
        ],
    );
}

#[test]
fn cut_at_cr_cr_lf_table() {
    run(
        cut_at_cr_cr_lf,
        &[
            (b"a: b\r\n\r\r\nc: d\r\n\r\n", b"a: b\r\n\r\r\n"),
            (b"a: b\r\nc: d\r\n\r\n", b"a: b\r\nc: d\r\n\r\n"),
        ],
    );
}

#[test]
fn added_headers() {
    let m = b"From: Ann <ann@example.org>\r\nSubject: x\r\n\r\nbody\r\n";
    assert_eq!(
        s(&add_return_path(m)),
        "Return-Path: <ann@example.org>\r\nFrom: Ann <ann@example.org>\r\nSubject: x\r\n\r\nbody\r\n"
    );
    assert_eq!(
        s(&add_return_path(b"Subject: x\n\nb\n")),
        "Return-Path: <>\nSubject: x\n\nb\n"
    );
    assert_eq!(
        s(&add_yahoo_newman_property(b"a: b\n\n")),
        "X-Yahoo-Newman-Property: ymail-3\na: b\n\n"
    );
    assert_eq!(
        s(&add_x_message_flag(m)),
        "From: Ann <ann@example.org>\r\nSubject: x\r\nX-Message-Flag: Follow up\r\n\r\nbody\r\n"
    );
    // header-only message without a final newline
    assert_eq!(
        s(&add_x_message_flag(b"a: b")),
        "a: b\r\nX-Message-Flag: Follow up\r\n"
    );
    assert_eq!(
        header_value(b"a: b\r\nFROM :  x@y \r\n\r\n", "from"),
        Some(&b"x@y"[..])
    );
}

#[test]
fn spam_tag() {
    assert_eq!(
        s(&spam_subject_tag(b"From: a\r\nSubject:  Cheap\r\n\r\nbody")),
        "From: a\r\nSubject:  *** GMX Spamverdacht *** Cheap\r\n\r\nbody"
    );
    assert_eq!(
        s(&spam_subject_tag(b"From: a\r\n\r\nbody")),
        "From: a\r\nSubject: *** GMX Spamverdacht ***\r\n\r\nbody"
    );
}

#[test]
fn sizes() {
    assert_eq!(lf_size(b"a: b\r\n\r\nx\r\n"), 8);
    assert_eq!(lf_size(b"a\n"), 2);
    assert_eq!(estimated_size(1000), 1367);
    assert_eq!(round_kib(1), 1024);
    assert_eq!(round_kib(1024), 1024);
    assert_eq!(round_kib(1025), 2048);
    assert_eq!(nul_to_0x80(b"a\0b"), b"a\x80b");
}

fn view(boxes: &[(&str, &[&str])]) -> ImapView {
    let mut v = ImapView::default();
    for (name, ids) in boxes {
        let mut mb = ImapMailbox::new(*name, 1);
        for id in *ids {
            mb.append(ImapMessage::honest(*id, b"a: b\r\n\r\n".to_vec()));
        }
        v.mailboxes.push(mb);
    }
    v
}

#[test]
fn listing_rules() {
    let v = view(&[
        ("INBOX", &["m1", "m4"]),
        ("Sent", &["m2"]),
        ("[Gmail]/Spam", &["m3"]),
        ("Trash", &["m5"]),
        ("[Gmail]/All Mail", &["m1", "m2", "m4"]),
    ]);
    let arrival: Vec<String> = ["m1", "m2", "m3", "m4", "m5"].map(String::from).to_vec();
    assert_eq!(pop3_listing(&[], &v, &arrival), ["m1", "m4"]);
    assert_eq!(
        pop3_listing(&[Quirk::Pop3ListingAllMail], &v, &arrival),
        ["m1", "m2", "m4"]
    );
    assert_eq!(
        pop3_listing(&[Quirk::Pop3ListingIncludeSpam], &v, &arrival),
        ["m1", "m3", "m4"]
    );
    assert_eq!(
        pop3_listing(
            &[Quirk::Pop3OrderNewestFirst, Quirk::Pop3ListingAllMail],
            &v,
            &arrival
        ),
        ["m4", "m2", "m1"]
    );
    assert!(in_spam_folder(&v, "m3"));
    assert!(!in_spam_folder(&v, "m1"));
}

#[test]
fn uidl_templates() {
    assert_eq!(uidl_template(&[]), None);
    assert_eq!(
        uidl_template(&[Quirk::Pop3UidlDovecot, Quirk::Pop3UidlCourier]),
        Some("UID{uid}-{uidvalidity}")
    );
}

#[test]
fn apply_to_world() {
    let mut world = World::default();
    let mut inbox = ImapMailbox::new("INBOX", 1);
    let bytes = b"From: <a@b>\r\nSubject: s \r\n\r\nbody\r\n".to_vec();
    let mut m = ImapMessage::honest("m1", bytes.clone());
    m.flags.push("\\Flagged".into());
    inbox.append(m);
    world.imap.mailboxes.push(inbox);
    world
        .pop3
        .messages
        .push(Pop3Message::honest("m1", "u1", bytes.clone()));
    // listed out of stage order on purpose: the result must not depend on it
    apply(
        &mut world,
        &[
            Quirk::Pop3ListSizeLf,
            Quirk::ImapHeaderStripTrailingWhitespace,
            Quirk::ImapFlaggedAddsXMessageFlag,
            Quirk::ImapAddReturnPath,
        ],
    );
    let m = &world.imap.mailboxes[0].messages[0];
    assert_eq!(
        s(&m.full),
        "Return-Path: <a@b>\r\nFrom: <a@b>\r\nSubject: s \r\nX-Message-Flag: Follow up\r\n\r\nbody\r\n"
    );
    assert_eq!(
        s(&m.header),
        "Return-Path: <a@b>\r\nFrom: <a@b>\r\nSubject: s\r\nX-Message-Flag: Follow up\r\n\r\n"
    );
    assert_eq!(m.text, b"body\r\n");
    let p = &world.pop3.messages[0];
    assert_eq!(p.full, bytes);
    assert_eq!(p.list_size, Some(bytes.len() as u64 - 4));
}

#[test]
fn top_without_blank_line() {
    run(
        without_blank_line,
        &[
            (b"a: b\r\nc: d\r\n\r\n", b"a: b\r\nc: d\r\n"),
            (b"a: b\n\n", b"a: b\n"),
            (b"a: b\r\n", b"a: b\r\n"),
            (b"\r\n", b""),
        ],
    );
    let mut m = Pop3Message::honest("m", "u", b"a: b\r\n\r\nbody\r\n".to_vec());
    transform_pop3(&[Quirk::Pop3TopNoBlankLine], &mut m, false);
    assert_eq!(s(m.top.as_deref().unwrap()), "a: b\r\n");
    assert_eq!(s(&m.full), "a: b\r\n\r\nbody\r\n", "RETR is untouched");
}
