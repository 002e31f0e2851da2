//! Provider quirks as named view transforms, and provider profiles as bundles of them.
//!
//! Every quirk in `notes/provider-quirks.md` that matters to POP3↔IMAP matching comes down
//! to a change applied to ONE view of a message: strip whitespace from the IMAP
//! `BODY[HEADER]`, add a header that only IMAP shows, count LF-only line ends in POP3
//! `LIST`, list the maildrop newest-first, and so on. Each [`Quirk`] is such a change, with
//! a stable dotted name (`imap.header.strip_trailing_whitespace`) that scenario files use,
//! and each is usable alone. A [`Profile`] is a named list of quirks (`zimbra`, `yahoo`,
//! …). The transforms are pure functions on bytes or on views; [`apply`] runs the
//! content ones over a whole [`World`] in a fixed stage order (the order of [`Quirk`]'s
//! variants), so the order a scenario lists them in never matters.
//!
//! Three kinds of quirk are not byte transforms and are exposed separately because the
//! scenario loader needs them before the views exist: listing rules ([`pop3_listing`]:
//! which messages POP3 shows and in what order) and UIDL formats ([`uidl_template`]: a
//! template the loader evaluates per message).

use crate::world::{ImapMessage, ImapView, MessageId, Pop3Message, World, split_header};

/// One provider behaviour, applied to one view. Variant order is the stage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quirk {
    // --- IMAP, whole message (BODY[], BODY[HEADER] and RFC822.SIZE all change) ---
    /// Yahoo: `X-Yahoo-Newman-Property` at the top of the IMAP copy only.
    ImapAddYahooNewmanProperty,
    /// Yahoo: `Return-Path` at the top of the IMAP copy only.
    ImapAddReturnPath,
    /// Exchange 2010: `X-Message-Flag` added to messages carrying `\Flagged`.
    ImapFlaggedAddsXMessageFlag,
    // --- IMAP, BODY[HEADER] only (BODY[] and POP3 keep the original) ---
    /// Zimbra, Oracle IMS: whitespace-only continuation lines are removed.
    ImapHeaderDropBlankFolds,
    /// Zimbra: lines without a colon are removed.
    ImapHeaderDropColonlessLines,
    /// Yahoo: headers whose name holds a control byte, space or DEL are removed.
    ImapHeaderDropInvalidNames,
    /// Zimbra: trailing spaces and tabs are stripped from every header line.
    ImapHeaderStripTrailingWhitespace,
    /// Zimbra, Yahoo: every 8-bit character becomes `?` (one per UTF-8 sequence).
    ImapHeaderEightBitToQuestion,
    /// Oracle IMS: the header ends, without its blank line, at a whitespace-only fold.
    ImapHeaderCutAtBlankFold,
    /// Oracle IMS: the header ends, without its blank line, after a colon-less line.
    ImapHeaderCutAfterColonlessLine,
    /// Courier: the header ends at LF CR CR LF.
    ImapHeaderCutAtCrCrLf,
    // --- IMAP sizes ---
    /// RFC822.SIZE counts LF-only line ends (smaller than what BODY[] delivers).
    ImapRfc822SizeLf,
    // --- POP3 content (RETR and TOP) ---
    /// GMX: messages IMAP files under a spam folder get a tagged Subject in POP3.
    Pop3SpamSubjectTag,
    /// Dovecot's `outlook-no-nuls`: NUL bytes become 0x80 in POP3.
    Pop3NulTo0x80,
    /// `TOP n 0` serves the header without the blank line that ends it.
    Pop3TopNoBlankLine,
    // --- POP3 LIST sizes ---
    /// LIST counts LF-only line ends.
    Pop3ListSizeLf,
    /// Exchange: LIST reports an estimate, never the real size.
    Pop3ListSizeEstimate,
    /// HP OpenMail: LIST sizes rounded up to a multiple of 1024.
    Pop3ListSizeRoundKib,
    // --- POP3 listing rules (which messages, in what order) ---
    /// Gmail: POP3 serves All Mail (every folder except spam and trash).
    Pop3ListingAllMail,
    /// GMX: POP3 also serves the spam folder.
    Pop3ListingIncludeSpam,
    /// Exchange (configurable), others: the maildrop is listed newest first.
    Pop3OrderNewestFirst,
    // --- POP3 UIDL formats ---
    /// Gmail: `GmailId<hex>`.
    Pop3UidlGmailId,
    /// Courier: `UID<uid>-<uidvalidity>`.
    Pop3UidlCourier,
    /// Dovecot's default `pop3_uidl_format = %08Xu%08Xv`.
    Pop3UidlDovecot,
}

/// Which part of which view a quirk changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuirkKind {
    ImapMessage,
    ImapHeader,
    ImapSize,
    Pop3Content,
    Pop3Size,
    Pop3Listing,
    Pop3Uidl,
}

/// A quirk's name, kind and documentation, for scenario files and `--help`.
#[derive(Clone, Copy, Debug)]
pub struct QuirkInfo {
    pub quirk: Quirk,
    /// The name scenario files use.
    pub name: &'static str,
    pub kind: QuirkKind,
    /// What the transform does, in one sentence.
    pub summary: &'static str,
    /// Who does this, with the catalogue number in provider-quirks.md.
    pub seen_at: &'static str,
}

/// Every quirk, in stage order.
pub const QUIRKS: &[QuirkInfo] = &[
    QuirkInfo {
        quirk: Quirk::ImapAddYahooNewmanProperty,
        name: "imap.add_yahoo_newman_property",
        kind: QuirkKind::ImapMessage,
        summary: "the IMAP copy starts with an `X-Yahoo-Newman-Property: ymail-3` header that POP3 lacks",
        seen_at: "Yahoo (#5)",
    },
    QuirkInfo {
        quirk: Quirk::ImapAddReturnPath,
        name: "imap.add_return_path",
        kind: QuirkKind::ImapMessage,
        summary: "the IMAP copy starts with a `Return-Path: <from address>` header that POP3 lacks",
        seen_at: "Yahoo (#5)",
    },
    QuirkInfo {
        quirk: Quirk::ImapFlaggedAddsXMessageFlag,
        name: "imap.flagged_adds_x_message_flag",
        kind: QuirkKind::ImapMessage,
        summary: "IMAP messages flagged \\Flagged gain an `X-Message-Flag: Follow up` header at the end of their header",
        seen_at: "Exchange 2010 (#9)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderDropBlankFolds,
        name: "imap.header.drop_blank_folds",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] leaves out continuation lines made only of spaces and tabs",
        seen_at: "Zimbra (#6)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderDropColonlessLines,
        name: "imap.header.drop_colonless_lines",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] leaves out header lines without a colon (and their continuations)",
        seen_at: "Zimbra (#6)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderDropInvalidNames,
        name: "imap.header.drop_invalid_names",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] leaves out headers whose name holds a byte <= 0x20 or 0x7F",
        seen_at: "Yahoo (#5)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderStripTrailingWhitespace,
        name: "imap.header.strip_trailing_whitespace",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] strips trailing spaces and tabs from every line (whitespace-only folds are left alone)",
        seen_at: "Zimbra (#6)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderEightBitToQuestion,
        name: "imap.header.eight_bit_to_question",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] shows every 8-bit character as `?`: one per UTF-8 sequence, one per invalid byte",
        seen_at: "Zimbra (#6), Yahoo (#5)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderCutAtBlankFold,
        name: "imap.header.cut_at_blank_fold",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] stops before the first whitespace-only continuation line, without the blank line",
        seen_at: "Oracle IMS (#8)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderCutAfterColonlessLine,
        name: "imap.header.cut_after_colonless_line",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] stops after the first line without a colon, without the blank line",
        seen_at: "Oracle IMS (#8)",
    },
    QuirkInfo {
        quirk: Quirk::ImapHeaderCutAtCrCrLf,
        name: "imap.header.cut_at_cr_cr_lf",
        kind: QuirkKind::ImapHeader,
        summary: "BODY[HEADER] stops at LF CR CR LF: the CR CR LF line is its last",
        seen_at: "Courier (#7)",
    },
    QuirkInfo {
        quirk: Quirk::ImapRfc822SizeLf,
        name: "imap.rfc822_size.lf",
        kind: QuirkKind::ImapSize,
        summary: "RFC822.SIZE counts LF-only line ends, so it is smaller than what BODY[] delivers",
        seen_at: "various (#10)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3SpamSubjectTag,
        name: "pop3.spam_subject_tag",
        kind: QuirkKind::Pop3Content,
        summary: "POP3 copies of messages that IMAP keeps in a spam folder get `*** GMX Spamverdacht *** ` before their Subject",
        seen_at: "GMX / WEB.DE (#16)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3NulTo0x80,
        name: "pop3.nul_to_0x80",
        kind: QuirkKind::Pop3Content,
        summary: "POP3 serves NUL bytes as 0x80",
        seen_at: "Dovecot outlook-no-nuls, UW (#11)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3TopNoBlankLine,
        name: "pop3.top.no_blank_line",
        kind: QuirkKind::Pop3Content,
        summary: "TOP n 0 serves the header without the blank line that ends it",
        seen_at: "servers that cut TOP at the header (#37)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3ListSizeLf,
        name: "pop3.list_size.lf",
        kind: QuirkKind::Pop3Size,
        summary: "LIST counts LF-only line ends: the real size minus the number of CRLFs",
        seen_at: "many POP3 servers, Dovecot with pop3_fast_size_lookups (#4)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3ListSizeEstimate,
        name: "pop3.list_size.estimate",
        kind: QuirkKind::Pop3Size,
        summary: "LIST reports an estimate: real + real/20 + 317 (a deterministic stand-in, never the real size)",
        seen_at: "Exchange, EnableExactRFC822Size=false (#1, #2)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3ListSizeRoundKib,
        name: "pop3.list_size.round_kib",
        kind: QuirkKind::Pop3Size,
        summary: "LIST sizes are rounded up to a multiple of 1024",
        seen_at: "HP OpenMail < 6.0 (#3)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3ListingAllMail,
        name: "pop3.listing.all_mail",
        kind: QuirkKind::Pop3Listing,
        summary: "POP3 lists every message of every IMAP folder except spam and trash, once each, in arrival order",
        seen_at: "Gmail (#12, #28)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3ListingIncludeSpam,
        name: "pop3.listing.include_spam",
        kind: QuirkKind::Pop3Listing,
        summary: "POP3 lists the messages of the IMAP spam folder too, in arrival order",
        seen_at: "GMX / WEB.DE (#16, #28)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3OrderNewestFirst,
        name: "pop3.order.newest_first",
        kind: QuirkKind::Pop3Listing,
        summary: "POP3 lists the maildrop newest first",
        seen_at: "Exchange MessageRetrievalSortOrder (#1, #27)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3UidlGmailId,
        name: "pop3.uidl.gmail_id",
        kind: QuirkKind::Pop3Uidl,
        summary: "UIDLs are `GmailId<16 hex digits>`",
        seen_at: "Gmail (#15)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3UidlCourier,
        name: "pop3.uidl.courier",
        kind: QuirkKind::Pop3Uidl,
        summary: "UIDLs are `UID<uid>-<uidvalidity>`",
        seen_at: "Courier (spec §11)",
    },
    QuirkInfo {
        quirk: Quirk::Pop3UidlDovecot,
        name: "pop3.uidl.dovecot",
        kind: QuirkKind::Pop3Uidl,
        summary: "UIDLs are Dovecot's default `%08Xu%08Xv`: UID then UIDVALIDITY, 8 hex digits each (Dovecot's X prints lower case)",
        seen_at: "Dovecot (pop3_uidl_format default)",
    },
];

impl Quirk {
    /// This quirk's documentation entry.
    pub fn info(self) -> &'static QuirkInfo {
        QUIRKS
            .iter()
            .find(|i| i.quirk == self)
            .expect("every quirk has an entry in QUIRKS")
    }

    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The quirk called `name`.
    pub fn from_name(name: &str) -> Option<Quirk> {
        QUIRKS.iter().find(|i| i.name == name).map(|i| i.quirk)
    }

    pub fn kind(self) -> QuirkKind {
        self.info().kind
    }
}

/// A provider preset: a named list of quirks.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub summary: &'static str,
    pub quirks: &'static [Quirk],
}

/// Every profile.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "dovecot",
        summary: "neutral: honest views, UIDLs in Dovecot's default %08Xu%08Xv format",
        quirks: &[Quirk::Pop3UidlDovecot],
    },
    Profile {
        name: "zimbra",
        summary: "Zimbra: BODY[HEADER] strips trailing whitespace, drops blank folds and colon-less lines, turns 8-bit into '?'",
        quirks: &[
            Quirk::ImapHeaderDropBlankFolds,
            Quirk::ImapHeaderDropColonlessLines,
            Quirk::ImapHeaderStripTrailingWhitespace,
            Quirk::ImapHeaderEightBitToQuestion,
        ],
    },
    Profile {
        name: "yahoo",
        summary: "Yahoo: IMAP adds Return-Path and X-Yahoo-Newman-Property, drops invalid header names, turns 8-bit into '?' in BODY[HEADER]",
        quirks: &[
            Quirk::ImapAddYahooNewmanProperty,
            Quirk::ImapAddReturnPath,
            Quirk::ImapHeaderDropInvalidNames,
            Quirk::ImapHeaderEightBitToQuestion,
        ],
    },
    Profile {
        name: "exchange",
        summary: "Exchange with default POP3 settings: estimated LIST sizes, X-Message-Flag on flagged IMAP mail",
        quirks: &[
            Quirk::ImapFlaggedAddsXMessageFlag,
            Quirk::Pop3ListSizeEstimate,
        ],
    },
    Profile {
        name: "exchange-newest-first",
        summary: "Exchange with MessageRetrievalSortOrder set to newest first, estimated LIST sizes, X-Message-Flag",
        quirks: &[
            Quirk::ImapFlaggedAddsXMessageFlag,
            Quirk::Pop3ListSizeEstimate,
            Quirk::Pop3OrderNewestFirst,
        ],
    },
    Profile {
        name: "exchange-2010",
        summary: "Exchange 2010 with exact POP3 sizes: only X-Message-Flag on flagged IMAP mail",
        quirks: &[Quirk::ImapFlaggedAddsXMessageFlag],
    },
    Profile {
        name: "gmail",
        summary: "Gmail: POP3 serves All Mail (spam and trash excluded) with GmailId UIDLs",
        quirks: &[Quirk::Pop3ListingAllMail, Quirk::Pop3UidlGmailId],
    },
    Profile {
        name: "courier",
        summary: "Courier: BODY[HEADER] stops at LF CR CR LF; UIDLs UID<uid>-<uidvalidity>",
        quirks: &[Quirk::ImapHeaderCutAtCrCrLf, Quirk::Pop3UidlCourier],
    },
    Profile {
        name: "oracle-ims",
        summary: "Oracle IMS: BODY[HEADER] ends at a whitespace-only fold or after a colon-less line",
        quirks: &[
            Quirk::ImapHeaderCutAtBlankFold,
            Quirk::ImapHeaderCutAfterColonlessLine,
        ],
    },
    Profile {
        name: "gmx",
        summary: "GMX / WEB.DE with POP3 spam delivery: POP3 also serves the spam folder, with a tagged Subject",
        quirks: &[Quirk::Pop3SpamSubjectTag, Quirk::Pop3ListingIncludeSpam],
    },
    Profile {
        name: "openmail",
        summary: "HP OpenMail < 6.0: LIST sizes rounded up to 1 KiB",
        quirks: &[Quirk::Pop3ListSizeRoundKib],
    },
];

/// The profile called `name`.
pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

// ---------------------------------------------------------------------------------------
// Header lines

/// A header split into physical lines (each with its line end) and its blank end line.
struct HeaderLines<'a> {
    lines: Vec<&'a [u8]>,
    /// The blank line that ends the header (`\r\n` or `\n`), if the header has one.
    terminator: &'a [u8],
}

fn header_lines(header: &[u8]) -> HeaderLines<'_> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in header.iter().enumerate() {
        if *b == b'\n' {
            lines.push(&header[start..=i]);
            start = i + 1;
        }
    }
    if start < header.len() {
        lines.push(&header[start..]);
    }
    let mut terminator: &[u8] = &[];
    if let Some(last) = lines.last()
        && (*last == b"\n" || *last == b"\r\n")
    {
        terminator = last;
        lines.pop();
    }
    HeaderLines { lines, terminator }
}

/// A line without its line end (LF, and one CR before it).
fn content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The line end of a line: `\r\n`, `\n` or nothing.
fn line_end(line: &[u8]) -> &[u8] {
    &line[content(line).len()..]
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A continuation line; the very first line never is one (as in Dovecot's parser).
fn is_fold(index: usize, line: &[u8]) -> bool {
    index > 0 && line.first().is_some_and(|b| is_ws(*b))
}

fn is_blank_fold(index: usize, line: &[u8]) -> bool {
    is_fold(index, line) && content(line).iter().all(|b| is_ws(*b))
}

fn is_cr_only(line: &[u8]) -> bool {
    let c = content(line);
    !c.is_empty() && c.iter().all(|b| *b == b'\r')
}

/// A header line (not a fold, not a CR-only line) without a colon.
fn is_colonless(index: usize, line: &[u8]) -> bool {
    !is_fold(index, line) && !is_cr_only(line) && !content(line).contains(&b':')
}

fn join(lines: &[&[u8]], terminator: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len()).sum::<usize>() + 2);
    for l in lines {
        out.extend_from_slice(l);
    }
    out.extend_from_slice(terminator);
    out
}

/// Drops every header line for which `drop` holds, together with its continuation lines.
fn drop_headers(header: &[u8], drop: impl Fn(usize, &[u8]) -> bool) -> Vec<u8> {
    let h = header_lines(header);
    let mut kept = Vec::new();
    let mut dropping = false;
    for (i, line) in h.lines.iter().enumerate() {
        if !is_fold(i, line) {
            dropping = drop(i, line);
        }
        if !dropping {
            kept.push(*line);
        }
    }
    join(&kept, h.terminator)
}

// ---------------------------------------------------------------------------------------
// IMAP BODY[HEADER] transforms (input and output: the header, blank line included)

/// Zimbra: trailing spaces and tabs go. A whitespace-only fold is left as it is, since
/// stripping it would make an early blank line no server produces.
pub fn strip_trailing_whitespace(header: &[u8]) -> Vec<u8> {
    let h = header_lines(header);
    let mut out = Vec::with_capacity(header.len());
    for (i, line) in h.lines.iter().enumerate() {
        if is_blank_fold(i, line) {
            out.extend_from_slice(line);
            continue;
        }
        let c = content(line);
        let end = c.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
        out.extend_from_slice(&c[..end]);
        out.extend_from_slice(line_end(line));
    }
    out.extend_from_slice(h.terminator);
    out
}

/// Zimbra, Oracle IMS: whitespace-only continuation lines go.
pub fn drop_blank_folds(header: &[u8]) -> Vec<u8> {
    let h = header_lines(header);
    let kept: Vec<&[u8]> = h
        .lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !is_blank_fold(*i, l))
        .map(|(_, l)| *l)
        .collect();
    join(&kept, h.terminator)
}

/// Zimbra: header lines without a colon go, with their continuations.
pub fn drop_colonless_lines(header: &[u8]) -> Vec<u8> {
    drop_headers(header, is_colonless)
}

/// Yahoo IMAP: headers whose name (before the colon, trailing blanks trimmed) holds a
/// byte <= 0x20 or 0x7F go, with their continuations. Colon-less lines have no name and
/// stay.
pub fn drop_invalid_names(header: &[u8]) -> Vec<u8> {
    drop_headers(header, |_, line| {
        let c = content(line);
        let Some(colon) = c.iter().position(|b| *b == b':') else {
            return false;
        };
        let name = &c[..colon];
        let end = name.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
        name[..end].iter().any(|b| *b <= 0x20 || *b == 0x7f)
    })
}

/// Zimbra, Yahoo: every non-ASCII character becomes one `?`; bytes that are not valid
/// UTF-8 become one `?` each.
pub fn eight_bit_to_question(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_ascii() {
                out.push(ch as u8);
            } else {
                out.push(b'?');
            }
        }
        out.extend(std::iter::repeat_n(b'?', chunk.invalid().len()));
    }
    out
}

/// Oracle IMS: the header stops before the first whitespace-only continuation line; what
/// follows, the blank line included, is not returned.
pub fn cut_at_blank_fold(header: &[u8]) -> Vec<u8> {
    let h = header_lines(header);
    match h
        .lines
        .iter()
        .enumerate()
        .position(|(i, l)| is_blank_fold(i, l))
    {
        Some(p) => join(&h.lines[..p], b""),
        None => header.to_vec(),
    }
}

/// Oracle IMS: the header stops after the first colon-less line, which is still returned;
/// what follows, the blank line included, is not.
pub fn cut_after_colonless_line(header: &[u8]) -> Vec<u8> {
    let h = header_lines(header);
    match h
        .lines
        .iter()
        .enumerate()
        .position(|(i, l)| is_colonless(i, l))
    {
        Some(p) => join(&h.lines[..=p], b""),
        None => header.to_vec(),
    }
}

/// Courier IMAP: a `\r\r\n` line ends the header; it is the last line returned.
pub fn cut_at_cr_cr_lf(header: &[u8]) -> Vec<u8> {
    let h = header_lines(header);
    match h.lines.iter().position(|l| *l == b"\r\r\n") {
        Some(p) => join(&h.lines[..=p], b""),
        None => header.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// Whole-message transforms

/// `\r\n` if the message's first line end is CRLF, else `\n`.
fn eol_of(message: &[u8]) -> &'static [u8] {
    match message.iter().position(|b| *b == b'\n') {
        Some(p) if p > 0 && message[p - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    }
}

/// Puts a header line (given without line end) at the top of the message.
pub fn prepend_header(message: &[u8], line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + line.len() + 2);
    out.extend_from_slice(line);
    out.extend_from_slice(eol_of(message));
    out.extend_from_slice(message);
    out
}

/// Puts a header line (given without line end) last in the header, before the blank line.
pub fn append_header(message: &[u8], line: &[u8]) -> Vec<u8> {
    let eol = eol_of(message);
    let (header, text) = split_header(message);
    let h = header_lines(header);
    let mut out = Vec::with_capacity(message.len() + line.len() + 2);
    for l in &h.lines {
        out.extend_from_slice(l);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(line);
    out.extend_from_slice(eol);
    out.extend_from_slice(h.terminator);
    out.extend_from_slice(text);
    out
}

/// The value of the first header called `name` (case-insensitive), first line only.
pub fn header_value<'a>(message: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let (header, _) = split_header(message);
    let h = header_lines(header);
    h.lines.iter().enumerate().find_map(|(i, line)| {
        if is_fold(i, line) {
            return None;
        }
        let c = content(line);
        let colon = c.iter().position(|b| *b == b':')?;
        if !c[..colon]
            .trim_ascii_end()
            .eq_ignore_ascii_case(name.as_bytes())
        {
            return None;
        }
        Some(c[colon + 1..].trim_ascii())
    })
}

/// The address in a From value: what is inside `<…>`, else the value itself.
fn address_of(from: &[u8]) -> &[u8] {
    match (
        from.iter().position(|b| *b == b'<'),
        from.iter().rposition(|b| *b == b'>'),
    ) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.trim_ascii(),
    }
}

/// Yahoo IMAP: `Return-Path: <address of From>` on top (`<>` without a From).
pub fn add_return_path(message: &[u8]) -> Vec<u8> {
    let addr = header_value(message, "From").map(address_of).unwrap_or(b"");
    let mut line = b"Return-Path: <".to_vec();
    line.extend_from_slice(addr);
    line.push(b'>');
    prepend_header(message, &line)
}

/// Yahoo IMAP: `X-Yahoo-Newman-Property: ymail-3` on top.
pub fn add_yahoo_newman_property(message: &[u8]) -> Vec<u8> {
    prepend_header(message, b"X-Yahoo-Newman-Property: ymail-3")
}

/// Exchange 2010 IMAP: `X-Message-Flag: Follow up` last in the header.
pub fn add_x_message_flag(message: &[u8]) -> Vec<u8> {
    append_header(message, b"X-Message-Flag: Follow up")
}

/// The Subject prefix GMX's POP3 spam delivery adds.
pub const GMX_SPAM_TAG: &str = "*** GMX Spamverdacht *** ";

/// GMX POP3: the Subject starts with [`GMX_SPAM_TAG`]; a message without a Subject gets
/// one, last in the header.
pub fn spam_subject_tag(message: &[u8]) -> Vec<u8> {
    let (header, text) = split_header(message);
    let h = header_lines(header);
    let found = h.lines.iter().enumerate().find_map(|(i, line)| {
        if is_fold(i, line) {
            return None;
        }
        let c = content(line);
        let colon = c.iter().position(|b| *b == b':')?;
        c[..colon]
            .trim_ascii_end()
            .eq_ignore_ascii_case(b"subject")
            .then_some((i, colon))
    });
    let Some((index, colon)) = found else {
        let line = format!("Subject: {}", GMX_SPAM_TAG.trim_end());
        return append_header(message, line.as_bytes());
    };
    let line = h.lines[index];
    let value_start = colon + 1 + line[colon + 1..].iter().take_while(|b| is_ws(**b)).count();
    let mut out = Vec::with_capacity(message.len() + GMX_SPAM_TAG.len());
    for (i, l) in h.lines.iter().enumerate() {
        if i == index {
            out.extend_from_slice(&line[..value_start]);
            out.extend_from_slice(GMX_SPAM_TAG.as_bytes());
            out.extend_from_slice(&line[value_start..]);
        } else {
            out.extend_from_slice(l);
        }
    }
    out.extend_from_slice(h.terminator);
    out.extend_from_slice(text);
    out
}

/// Dovecot's outlook-no-nuls: NUL becomes 0x80.
pub fn nul_to_0x80(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| if *b == 0 { 0x80 } else { *b })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sizes

/// The size with LF-only line ends: the length minus the number of CRLF pairs.
pub fn lf_size(bytes: &[u8]) -> u64 {
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
    (bytes.len() - crlf) as u64
}

/// Exchange's estimated size, modelled deterministically: about 5 % more plus a fixed
/// overhead, so it is never the real size (for real sizes > 0 or not) and equal real sizes
/// stay equal.
pub fn estimated_size(real: u64) -> u64 {
    real + real / 20 + 317
}

/// HP OpenMail: rounded up to a multiple of 1024.
pub fn round_kib(real: u64) -> u64 {
    real.div_ceil(1024) * 1024
}

// ---------------------------------------------------------------------------------------
// Listing rules and UIDL formats

/// The last component of a mailbox name.
fn leaf(name: &str, separator: char) -> String {
    name.rsplit(separator).next().unwrap_or(name).to_lowercase()
}

/// A spam folder, by the last component of its name: `Spam`, `Junk`, `Junk E-Mail`,
/// `Bulk Mail` or `Spamverdacht`, in any case (`[Gmail]/Spam` counts).
pub fn is_spam_mailbox(name: &str, separator: char) -> bool {
    matches!(
        leaf(name, separator).as_str(),
        "spam" | "junk" | "junk e-mail" | "bulk mail" | "spamverdacht"
    )
}

/// A trash folder, by the last component of its name: `Trash`, `Bin`, `Deleted Items`,
/// `Deleted Messages` or `Papierkorb`, in any case.
pub fn is_trash_mailbox(name: &str, separator: char) -> bool {
    matches!(
        leaf(name, separator).as_str(),
        "trash" | "bin" | "deleted items" | "deleted messages" | "papierkorb"
    )
}

/// Which messages POP3 lists, and in what order, when a scenario doesn't say.
///
/// Without listing quirks: the IMAP INBOX in UID order. `pop3.listing.all_mail` lists the
/// messages of every folder except spam and trash instead, and `pop3.listing.include_spam`
/// adds the spam folders; both list each message once, in `arrival` order (messages not in
/// `arrival` come last, in LIST and UID order). `pop3.order.newest_first` then reverses
/// the list.
pub fn pop3_listing(quirks: &[Quirk], imap: &ImapView, arrival: &[MessageId]) -> Vec<MessageId> {
    let all_mail = quirks.contains(&Quirk::Pop3ListingAllMail);
    let spam = quirks.contains(&Quirk::Pop3ListingIncludeSpam);
    let mut ids: Vec<MessageId> = Vec::new();
    if all_mail || spam {
        for mb in &imap.mailboxes {
            let is_spam = is_spam_mailbox(&mb.name, imap.separator);
            let take = (all_mail && !is_spam && !is_trash_mailbox(&mb.name, imap.separator))
                || (spam && is_spam)
                || mb.name == "INBOX";
            if take {
                for m in &mb.messages {
                    if !ids.contains(&m.id) {
                        ids.push(m.id.clone());
                    }
                }
            }
        }
        let rank = |id: &MessageId| arrival.iter().position(|a| a == id).unwrap_or(usize::MAX);
        ids.sort_by_key(rank);
    } else if let Some(inbox) = imap.mailboxes.iter().find(|m| m.name == "INBOX") {
        ids = inbox.messages.iter().map(|m| m.id.clone()).collect();
    }
    if quirks.contains(&Quirk::Pop3OrderNewestFirst) {
        ids.reverse();
    }
    ids
}

/// The UIDL template the last UIDL-format quirk asks for, in the scenario loader's
/// template language (`{uid}`, `{uidvalidity}`, `{gmail_id}`, `{uid:08x}`).
pub fn uidl_template(quirks: &[Quirk]) -> Option<&'static str> {
    quirks.iter().rev().find_map(|q| match q {
        Quirk::Pop3UidlGmailId => Some("GmailId{gmail_id}"),
        Quirk::Pop3UidlCourier => Some("UID{uid}-{uidvalidity}"),
        Quirk::Pop3UidlDovecot => Some("{uid:08x}{uidvalidity:08x}"),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------
// Applying quirks to views

fn sorted(quirks: &[Quirk]) -> Vec<Quirk> {
    let mut q = quirks.to_vec();
    q.sort();
    q.dedup();
    q
}

/// Applies the IMAP quirks to one IMAP message (its `full`, `header`, `text` and
/// `rfc822_size`), in stage order.
pub fn transform_imap(quirks: &[Quirk], m: &mut ImapMessage) {
    let quirks = sorted(quirks);
    let mut full_changed = false;
    for q in &quirks {
        let new = match q {
            Quirk::ImapAddYahooNewmanProperty => add_yahoo_newman_property(&m.full),
            Quirk::ImapAddReturnPath => add_return_path(&m.full),
            Quirk::ImapFlaggedAddsXMessageFlag
                if m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Flagged")) =>
            {
                add_x_message_flag(&m.full)
            }
            _ => continue,
        };
        m.full = new;
        full_changed = true;
    }
    if full_changed {
        let (header, text) = split_header(&m.full);
        m.header = header.to_vec();
        m.text = text.to_vec();
    }
    for q in &quirks {
        let f: fn(&[u8]) -> Vec<u8> = match q {
            Quirk::ImapHeaderDropBlankFolds => drop_blank_folds,
            Quirk::ImapHeaderDropColonlessLines => drop_colonless_lines,
            Quirk::ImapHeaderDropInvalidNames => drop_invalid_names,
            Quirk::ImapHeaderStripTrailingWhitespace => strip_trailing_whitespace,
            Quirk::ImapHeaderEightBitToQuestion => eight_bit_to_question,
            Quirk::ImapHeaderCutAtBlankFold => cut_at_blank_fold,
            Quirk::ImapHeaderCutAfterColonlessLine => cut_after_colonless_line,
            Quirk::ImapHeaderCutAtCrCrLf => cut_at_cr_cr_lf,
            _ => continue,
        };
        m.header = f(&m.header);
    }
    if quirks.contains(&Quirk::ImapRfc822SizeLf) {
        m.rfc822_size = Some(lf_size(&m.full));
    }
}

/// Applies the POP3 content and size quirks to one POP3 message. `in_spam_folder` says
/// whether IMAP keeps this message in a spam folder (for `pop3.spam_subject_tag`).
pub fn transform_pop3(quirks: &[Quirk], m: &mut Pop3Message, in_spam_folder: bool) {
    let quirks = sorted(quirks);
    for q in &quirks {
        let f: fn(&[u8]) -> Vec<u8> = match q {
            Quirk::Pop3SpamSubjectTag if in_spam_folder => spam_subject_tag,
            Quirk::Pop3NulTo0x80 => nul_to_0x80,
            _ => continue,
        };
        m.full = f(&m.full);
        if let Some(top) = &m.top {
            m.top = Some(f(top));
        }
    }
    if quirks.contains(&Quirk::Pop3TopNoBlankLine) {
        let header = m
            .top
            .clone()
            .unwrap_or_else(|| crate::world::split_header(&m.full).0.to_vec());
        m.top = Some(without_blank_line(&header));
    }
    for q in &quirks {
        let real = m.full.len() as u64;
        m.list_size = match q {
            Quirk::Pop3ListSizeLf => Some(lf_size(&m.full)),
            Quirk::Pop3ListSizeEstimate => Some(estimated_size(real)),
            Quirk::Pop3ListSizeRoundKib => Some(round_kib(real)),
            _ => continue,
        };
    }
}

/// A header block without the empty line that ends it (unchanged if it has none).
fn without_blank_line(header: &[u8]) -> Vec<u8> {
    for end in [&b"\r\n\r\n"[..], b"\n\r\n", b"\r\n\n", b"\n\n"] {
        if header.ends_with(end) {
            let blank = if end.ends_with(b"\r\n") { 2 } else { 1 };
            return header[..header.len() - blank].to_vec();
        }
    }
    if header == b"\r\n" || header == b"\n" {
        return Vec::new();
    }
    header.to_vec()
}

/// Whether IMAP keeps message `id` in a spam folder.
pub fn in_spam_folder(imap: &ImapView, id: &str) -> bool {
    imap.mailboxes.iter().any(|mb| {
        is_spam_mailbox(&mb.name, imap.separator) && mb.messages.iter().any(|m| m.id == id)
    })
}

/// Applies every content and size quirk to every message of both views. Listing and
/// UIDL-format quirks are not applied here (see [`pop3_listing`], [`uidl_template`]).
pub fn apply(world: &mut World, quirks: &[Quirk]) {
    for mb in &mut world.imap.mailboxes {
        for m in &mut mb.messages {
            transform_imap(quirks, m);
        }
    }
    let spam: Vec<bool> = world
        .pop3
        .messages
        .iter()
        .map(|m| in_spam_folder(&world.imap, &m.id))
        .collect();
    for (m, in_spam) in world.pop3.messages.iter_mut().zip(spam) {
        transform_pop3(quirks, m, in_spam);
    }
}

#[cfg(test)]
mod tests;
