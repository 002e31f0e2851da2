//! Dovecot 2.3.19's pop3-migration header hash, byte for byte (spec §4.2–§4.4).
//!
//! The plugin pairs an IMAP message with a POP3 message when SHA-1 over a filtered and
//! normalised copy of their headers is equal. This module reproduces the three steps: the
//! header filter (§4.2: which lines take part, read the way Dovecot's header parser reads
//! them), the "header hash version 4" normalisation (§4.3) and SHA-1. It also reports
//! whether the end-of-header blank line was seen, which decides the whole-message fallback
//! (§4.4).
//!
//! - [`header_hash`]: one header block (or whole message) in memory.
//! - [`HeaderHasher`]: the same over chunks as they arrive, in bounded memory; it tells
//!   when the header has ended so that a reader can stop early.
//! - [`explain`]: the bytes that were hashed, and every line with the rule that dropped it.
//! - [`normalise`]: the §4.3 step alone.
//!
//! `tests/dovecot_hash.rs` checks all of this against the plugin's own exported function.

use std::fmt;

use ring::digest;

/// Header names the plugin leaves out of the hash (compared ignoring ASCII case).
///
/// Mailbox formats and servers add, drop or rewrite these, so IMAP and POP3 disagree on
/// them: `Return-Path` is on Yahoo's IMAP side only, the rest are mbox/UW/Courier status
/// and bookkeeping headers.
pub const SKIP_LIST: [&str; 11] = [
    "Content-Length",
    "Return-Path",
    "Status",
    "X-IMAP",
    "X-IMAPbase",
    "X-Keywords",
    "X-Message-Flag",
    "X-Status",
    "X-UID",
    "X-UIDL",
    "X-Yahoo-Newman-Property",
];

/// A header "name" (the bytes before the colon, trailing blanks trimmed) longer than this
/// makes Dovecot's parser treat the line as having no colon at all.
pub const MAX_NAME_LEN: usize = 1000;

/// The longest name in [`SKIP_LIST`]; longer names are never skipped.
const SKIP_NAME_MAX: usize = 23;

/// What the plugin computes for one message: the SHA-1 it pairs on, and whether the
/// end-of-header blank line was reached (when not, Dovecot re-reads the whole message).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct HeaderHash {
    /// SHA-1 over the normalised, filtered header; messages pair when these are equal.
    pub sha1: [u8; 20],
    /// "Blank line seen" (Dovecot's `have_eoh`), true even when a CR-only line cut the
    /// header before it.
    pub eoh: bool,
}

impl fmt::Display for HeaderHash {
    /// The SHA-1 in lowercase hex, as Dovecot's unit tests write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.sha1 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a header line was left out of the hash; the rules of spec §4.2, in the order
/// Dovecot applies them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DropRule {
    /// Rule 1: a line made only of CRs ends the header; it and every later line (the
    /// blank line included) are left out.
    CrOnlyStop,
    /// Rule 2: the header's name is in [`SKIP_LIST`].
    SkipList,
    /// Rule 3: the first line of a header has no colon (or a name over
    /// [`MAX_NAME_LEN`] bytes).
    NoColon,
    /// Rule 4: a folded line made only of spaces and tabs.
    WhitespaceOnlyFold,
    /// Rule 5: the name has a byte ≤ 0x20 or 0x7F before any NUL.
    InvalidName,
    /// Rule 2 for folded lines: the line before was dropped, so this one is too. After a
    /// whitespace-only fold this drops the rest of that header ("sticky" fold drop).
    InheritedFold,
}

impl DropRule {
    /// A short explanation for people, naming the spec rule.
    pub fn describe(self) -> &'static str {
        match self {
            DropRule::CrOnlyStop => "cut by a line made only of CRs (§4.2 rule 1)",
            DropRule::SkipList => "header name is in the skip list (§4.2 rule 2)",
            DropRule::NoColon => "first line of a header without a colon (§4.2 rule 3)",
            DropRule::WhitespaceOnlyFold => "folded line of only spaces/tabs (§4.2 rule 4)",
            DropRule::InvalidName => "invalid header name (§4.2 rule 5)",
            DropRule::InheritedFold => {
                "folded line of a header whose previous line was dropped (§4.2 rule 2)"
            }
        }
    }
}

/// What the filter did with one input line.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Verdict {
    /// Passed on to the hash, with LF as its line end.
    Kept,
    /// Left out.
    Dropped(DropRule),
    /// The blank line that ends the header; `hashed` is false when a CR-only line had
    /// already cut the header (it still counts as "blank line seen").
    EndOfHeader {
        /// Whether the bare LF standing for it went into the hash.
        hashed: bool,
    },
}

/// One input line and what the filter did with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExplainedLine {
    /// 1-based line number in the input.
    pub number: usize,
    /// The line as it was in the input, line end included.
    pub bytes: Vec<u8>,
    /// What happened to it.
    pub verdict: Verdict,
}

/// The full story of one hash: see [`explain`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Explanation {
    /// Same as [`header_hash`] gives.
    pub hash: HeaderHash,
    /// What the filter passed on (kept lines, LF line ends), before normalisation.
    pub filtered: Vec<u8>,
    /// The normalised bytes SHA-1 was computed over.
    pub hashed: Vec<u8>,
    /// Every line up to and including the end-of-header line; the body is not read.
    pub lines: Vec<ExplainedLine>,
}

impl Explanation {
    /// Every line that was left out of the hash, with the rule that dropped it. A blank
    /// line cut by a CR-only line is reported as [`DropRule::CrOnlyStop`].
    pub fn dropped(&self) -> impl Iterator<Item = (&ExplainedLine, DropRule)> {
        self.lines.iter().filter_map(|l| match l.verdict {
            Verdict::Dropped(rule) => Some((l, rule)),
            Verdict::EndOfHeader { hashed: false } => Some((l, DropRule::CrOnlyStop)),
            _ => None,
        })
    }

    /// The number of the CR-only line that cut the header, if one did.
    pub fn cr_only_line(&self) -> Option<usize> {
        self.lines
            .iter()
            .find(|l| l.verdict == Verdict::Dropped(DropRule::CrOnlyStop))
            .map(|l| l.number)
    }

    /// The number of the end-of-header blank line, if the input had one.
    pub fn blank_line(&self) -> Option<usize> {
        self.lines
            .iter()
            .find(|l| matches!(l.verdict, Verdict::EndOfHeader { .. }))
            .map(|l| l.number)
    }
}

/// Hashes one header block (or a whole message: reading stops at the blank line) exactly
/// as Dovecot 2.3.19's `pop3_migration_get_hdr_sha1` does.
pub fn header_hash(bytes: &[u8]) -> HeaderHash {
    let mut hasher = HeaderHasher::new();
    hasher.update(bytes);
    hasher.finish()
}

/// Like [`header_hash`], and also reports what was hashed and every dropped line with the
/// rule that dropped it.
pub fn explain(bytes: &[u8]) -> Explanation {
    let mut core = Core::new(Collect::default());
    core.update(bytes);
    let (eoh, sink) = core.finish();
    let mut filtered = Vec::new();
    let mut lines = Vec::with_capacity(sink.events.len());
    for ev in sink.events {
        // Offsets come from a single in-memory slice, so they fit in usize.
        let (start, content_end, end) =
            (ev.start as usize, ev.content_end as usize, ev.end as usize);
        match ev.verdict {
            Verdict::Kept => {
                filtered.extend_from_slice(&bytes[start..content_end]);
                if ev.newline {
                    filtered.push(b'\n');
                }
            }
            Verdict::EndOfHeader { hashed: true } => filtered.push(b'\n'),
            _ => {}
        }
        lines.push(ExplainedLine {
            number: ev.number,
            bytes: bytes[start..end].to_vec(),
            verdict: ev.verdict,
        });
    }
    let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &sink.hashed);
    Explanation {
        hash: HeaderHash {
            sha1: sha1.as_ref().try_into().expect("SHA-1 is 20 bytes"),
            eoh,
        },
        filtered,
        hashed: sink.hashed,
        lines,
    }
}

/// The "header hash version 4" normalisation of spec §4.3 on its own: spaces and tabs
/// deleted, LF kept, every other control byte, 0x7F–0xFF and `?` become `?`, and a run of
/// those collapses to one `?`.
pub fn normalise(filtered: &[u8]) -> Vec<u8> {
    let mut out = vec![0; filtered.len()];
    let mut prev_q = false;
    let n = normalise_kernel(filtered, &mut prev_q, &mut out);
    out.truncate(n);
    out
}

/// [`header_hash`] over input that arrives in pieces. Memory stays bounded whatever the
/// input (a partly read header name is kept normalised, at most about 1 KiB). The result
/// does not depend on how the input is split.
pub struct HeaderHasher {
    core: Core<Sha1Sink>,
}

impl Default for HeaderHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HeaderHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderHasher")
            .field("consumed", &self.core.pos)
            .field("done", &self.core.done)
            .finish_non_exhaustive()
    }
}

impl HeaderHasher {
    /// A hasher at the start of a message.
    pub fn new() -> Self {
        HeaderHasher {
            core: Core::new(Sha1Sink(digest::Context::new(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
            ))),
        }
    }

    /// Feeds the next piece of the message.
    pub fn update(&mut self, chunk: &[u8]) {
        self.core.update(chunk);
    }

    /// True once the end-of-header blank line has been read: the hash is settled and
    /// further input is ignored, so a reader may stop.
    pub fn is_done(&self) -> bool {
        self.core.done
    }

    /// Ends the input (a last line without a newline counts) and gives the result.
    pub fn finish(self) -> HeaderHash {
        let (eoh, sink) = self.core.finish();
        let sha1 = sink.0.finish();
        HeaderHash {
            sha1: sha1.as_ref().try_into().expect("SHA-1 is 20 bytes"),
            eoh,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Normalisation (§4.3)

/// Byte classes of the version 4 normalisation.
const ORDINARY: u8 = 0;
const BLANK: u8 = 1;
const QUESTION: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [QUESTION; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = ORDINARY;
        b += 1;
    }
    t[b' ' as usize] = BLANK;
    t[b'\t' as usize] = BLANK;
    t[b'?' as usize] = QUESTION;
    t[b'\n' as usize] = ORDINARY;
    t
};

/// Normalises `src` into the front of `dst` (at least `src.len()` long) and returns how many
/// bytes it wrote. `prev_q` carries "the last byte written was a `?` of a run" across
/// calls; a deleted blank ends a run just like a kept byte does.
#[inline]
fn normalise_kernel(src: &[u8], prev_q: &mut bool, dst: &mut [u8]) -> usize {
    let dst = &mut dst[..src.len()];
    let mut n = 0;
    let mut q = *prev_q;
    // Eight bytes at a time while they are plain text (bytes 0x21-0x7E but `?`), with or
    // without spaces: most of a header is. Anything else goes byte by byte.
    let mut words = src.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if is_text(w) {
            dst[n..n + 8].copy_from_slice(word);
            n += 8;
            q = false;
            continue;
        }
        // Spaces turned into letters: if that makes it text, spaces were all there was.
        let spaces = bytes_equal(w, b' ');
        if is_text(w.wrapping_add((spaces >> 7) * u64::from(b'a' - b' '))) {
            for &b in word {
                dst[n] = b;
                n += usize::from(b != b' ');
            }
            q = false;
        } else {
            n = normalise_bytes(word, &mut q, dst, n);
        }
    }
    n = normalise_bytes(words.remainder(), &mut q, dst, n);
    *prev_q = q;
    n
}

/// The byte-at-a-time form: writes at `dst[n..]`, returns the new `n`.
#[inline]
fn normalise_bytes(src: &[u8], q: &mut bool, dst: &mut [u8], mut n: usize) -> usize {
    let mut prev = *q;
    // Branch-free: every byte is written, and the write position only advances for bytes
    // that stay.
    for &b in src {
        let class = CLASS[b as usize];
        let is_q = class == QUESTION;
        dst[n] = if is_q { b'?' } else { b };
        n += usize::from(class == ORDINARY || (is_q && !prev));
        prev = is_q;
    }
    *q = prev;
    n
}

const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Whether all eight bytes are 0x21-0x7E and none is `?`: bytes normalisation keeps as
/// they are. (The classic "has a byte less/more than/equal to" word tricks; each is exact
/// as a yes/no answer.)
#[inline]
fn is_text(w: u64) -> bool {
    let below = w.wrapping_sub(splat(0x21)) & !w;
    let above = w.wrapping_add(splat(0x01)) | w;
    let x = w ^ splat(b'?');
    let question = x.wrapping_sub(splat(0x01)) & !x;
    (below | above | question) & splat(0x80) == 0
}

/// 0x80 in every byte of `w` equal to `b`, 0 elsewhere (exact per byte: no carries).
#[inline]
fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ splat(b);
    !(((x & splat(0x7f)).wrapping_add(splat(0x7f))) | x) & splat(0x80)
}

// ---------------------------------------------------------------------------------------
// The filter (§4.2) as a push state machine over line pieces.

/// Where the normalised bytes and per-line verdicts go.
trait Sink {
    fn emit(&mut self, normalised: &[u8]);
    fn line(&mut self, _event: LineEvent) {}
}

struct Sha1Sink(digest::Context);

impl Sink for Sha1Sink {
    #[inline]
    fn emit(&mut self, normalised: &[u8]) {
        self.0.update(normalised);
    }
}

#[derive(Default)]
struct Collect {
    hashed: Vec<u8>,
    events: Vec<LineEvent>,
}

impl Sink for Collect {
    fn emit(&mut self, normalised: &[u8]) {
        self.hashed.extend_from_slice(normalised);
    }
    fn line(&mut self, event: LineEvent) {
        self.events.push(event);
    }
}

/// One finished line: absolute offsets of its start, the end of its content (before the
/// line end) and its end (after the line end).
#[derive(Clone, Copy)]
struct LineEvent {
    number: usize,
    start: u64,
    content_end: u64,
    end: u64,
    newline: bool,
    verdict: Verdict,
}

/// Where the current line stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// No content byte yet: could still be the end-of-header line.
    Start,
    /// First line of a header, colon not reached yet: undecided.
    Name,
    /// Folded line, only blanks so far: undecided.
    Fold,
    Keep,
    Drop(DropRule),
}

/// What is known about the name of the header on the current line while looking for the
/// colon. Dovecot trims blanks off the end of the name, checks it only up to the first NUL
/// and, for a line without a colon, takes the whole line as the name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct NameScan {
    len: usize,
    /// Length up to and including the last byte that is not a blank.
    trimmed: usize,
    nul_at: Option<usize>,
    /// A blank before any NUL that will make the name invalid if anything but blanks
    /// follows it (trailing blanks are trimmed off the name).
    blank_pending: bool,
    invalid: bool,
    all_cr: bool,
    /// The first bytes, enough to compare with the skip list.
    prefix: [u8; SKIP_NAME_MAX + 1],
}

impl NameScan {
    const NEW: NameScan = NameScan {
        len: 0,
        trimmed: 0,
        nul_at: None,
        blank_pending: false,
        invalid: false,
        all_cr: true,
        prefix: [0; SKIP_NAME_MAX + 1],
    };

    #[inline]
    fn push(&mut self, b: u8) {
        if b == b' ' || b == b'\t' {
            if self.nul_at.is_none() {
                self.blank_pending = true;
            }
            self.all_cr = false;
        } else {
            if self.blank_pending {
                self.invalid = true;
                self.blank_pending = false;
            }
            self.trimmed = self.len + 1;
            if b == 0 {
                if self.nul_at.is_none() {
                    self.nul_at = Some(self.len);
                }
            } else if self.nul_at.is_none() && (b < 0x20 || b == 0x7f) {
                // 0x80-0xFF pass: Dovecot compares them as signed char (spec §4.2 rule 5).
                self.invalid = true;
            }
            if b != b'\r' {
                self.all_cr = false;
            }
        }
        if self.len < self.prefix.len() {
            self.prefix[self.len] = b;
        }
        self.len += 1;
    }

    /// The scan of a whole name at once (no colon in it): as if each byte were pushed.
    fn of(name: &[u8]) -> NameScan {
        let blank = |b: &u8| *b == b' ' || *b == b'\t';
        let trimmed = name.len() - name.iter().rev().take_while(|b| blank(b)).count();
        let nul_at = memchr::memchr(0, &name[..trimmed]);
        let checked = &name[..nul_at.unwrap_or(trimmed)];
        let mut prefix = [0; SKIP_NAME_MAX + 1];
        let stored = name.len().min(prefix.len());
        prefix[..stored].copy_from_slice(&name[..stored]);
        NameScan {
            len: name.len(),
            trimmed,
            nul_at,
            blank_pending: trimmed < name.len() && nul_at.is_none(),
            invalid: checked.iter().any(|&b| b <= 0x20 || b == 0x7f),
            all_cr: name.iter().all(|&b| b == b'\r'),
            prefix,
        }
    }

    /// Whether the name, taken as its first `name_len` bytes and cut at the first NUL
    /// (C string comparison), is in the skip list.
    fn skipped(&self, name_len: usize) -> bool {
        let len = self.nul_at.map_or(name_len, |nul| nul.min(name_len));
        if len > SKIP_NAME_MAX {
            return false;
        }
        let name = &self.prefix[..len];
        SKIP_LIST
            .iter()
            .any(|s| s.len() == len && s.as_bytes().eq_ignore_ascii_case(name))
    }
}

const OUT_LEN: usize = 2048;

struct Core<S: Sink> {
    sink: S,
    /// Normalised bytes waiting to go to the sink in one piece.
    out: [u8; OUT_LEN],
    out_len: usize,
    /// Normaliser state of the output stream.
    prev_q: bool,
    state: State,
    name: NameScan,
    /// Normalised bytes of a name that began in an earlier chunk, with their own
    /// normaliser state; written out if the line is kept.
    pending: Vec<u8>,
    pending_q: bool,
    /// The previous chunk ended in CR: a line end if an LF follows, content otherwise.
    held_cr: bool,
    first_line: bool,
    prev_dropped: bool,
    stop: bool,
    have_eoh: bool,
    done: bool,
    /// Absolute offset of the next input byte.
    pos: u64,
    line_start: u64,
    line_no: usize,
}

impl<S: Sink> Core<S> {
    fn new(sink: S) -> Self {
        Core {
            sink,
            out: [0; OUT_LEN],
            out_len: 0,
            prev_q: false,
            state: State::Start,
            name: NameScan::NEW,
            pending: Vec::new(),
            pending_q: false,
            held_cr: false,
            first_line: true,
            prev_dropped: false,
            stop: false,
            have_eoh: false,
            done: false,
            pos: 0,
            line_start: 0,
            line_no: 1,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        if self.done || data.is_empty() {
            self.pos += data.len() as u64;
            return;
        }
        if self.held_cr {
            self.held_cr = false;
            if data[0] == b'\n' {
                let cr_at = self.pos - 1;
                self.pos += 1;
                data = &data[1..];
                self.end_line(true, cr_at);
                if self.done {
                    self.pos += data.len() as u64;
                    return;
                }
            } else {
                self.feed(b"\r");
            }
        }
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(lf) => {
                    // One CR right before the LF belongs to the line end (§4.2).
                    let content = if lf > 0 && data[lf - 1] == b'\r' {
                        lf - 1
                    } else {
                        lf
                    };
                    self.feed(&data[..content]);
                    let content_end = self.pos + content as u64;
                    self.pos += lf as u64 + 1;
                    data = &data[lf + 1..];
                    self.end_line(true, content_end);
                    if self.done {
                        self.pos += data.len() as u64;
                        return;
                    }
                }
                None => {
                    let (piece, held) = match data.split_last() {
                        Some((b'\r', rest)) => (rest, true),
                        _ => (data, false),
                    };
                    self.feed(piece);
                    self.held_cr = held;
                    self.pos += data.len() as u64;
                    return;
                }
            }
        }
    }

    /// Ends the input and hands back "blank line seen" and the sink with everything
    /// written to it.
    fn finish(mut self) -> (bool, S) {
        if !self.done {
            if self.held_cr {
                self.held_cr = false;
                self.feed(b"\r");
            }
            let end = self.pos;
            self.end_line(false, end);
        }
        self.flush();
        (self.have_eoh, self.sink)
    }

    /// Content bytes of the current line (never an LF, never the line-end CR).
    #[inline]
    fn feed(&mut self, piece: &[u8]) {
        let Some(&first) = piece.first() else {
            return;
        };
        if self.state == State::Start {
            self.state = if self.stop {
                State::Drop(DropRule::CrOnlyStop)
            } else if !self.first_line && (first == b' ' || first == b'\t') {
                if self.prev_dropped {
                    State::Drop(DropRule::InheritedFold)
                } else {
                    State::Fold
                }
            } else {
                self.name = NameScan::NEW;
                State::Name
            };
        }
        match self.state {
            State::Keep => self.normalise(piece),
            State::Drop(_) => {}
            State::Fold => {
                if let Some(p) = piece.iter().position(|&b| b != b' ' && b != b'\t') {
                    self.state = State::Keep;
                    // The blanks before it would normalise to nothing.
                    self.normalise(&piece[p..]);
                }
            }
            State::Name => self.scan_name(piece),
            State::Start => unreachable!("state set above"),
        }
    }

    /// Looks for the colon; decides the line as soon as the name is known.
    fn scan_name(&mut self, piece: &[u8]) {
        // Usual case: the whole name is in this piece. Same answers as byte by byte below.
        if self.name.len == 0
            && let Some(colon) = memchr::memchr(b':', piece)
        {
            self.name = NameScan::of(&piece[..colon]);
            if self.name.trimmed <= MAX_NAME_LEN {
                self.decide_at_colon(piece);
            } else {
                self.drop_colon_less();
            }
            return;
        }
        for &b in piece {
            if b == b':' && self.name.trimmed <= MAX_NAME_LEN {
                self.decide_at_colon(piece);
                return;
            }
            self.name.push(b);
            if self.name.trimmed > MAX_NAME_LEN && !self.name.all_cr {
                // Any colon from here on is past the name limit: the line has no colon,
                // and not being all CRs it cannot be rule 1 either.
                self.drop_colon_less();
                return;
            }
        }
        // The name goes on in the next chunk; keep what it normalises to.
        let mut buf = [0u8; 256];
        for chunk in piece.chunks(buf.len()) {
            let n = normalise_kernel(chunk, &mut self.pending_q, &mut buf);
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// The name is known and has a colon after it; `piece` holds the rest of the line
    /// from where this chunk's part of the name begins.
    fn decide_at_colon(&mut self, piece: &[u8]) {
        if self.name.skipped(self.name.trimmed) {
            self.state = State::Drop(DropRule::SkipList);
        } else if self.name.invalid {
            self.state = State::Drop(DropRule::InvalidName);
        } else {
            self.state = State::Keep;
            // The start of the name came in earlier chunks (usually none).
            let pending = std::mem::take(&mut self.pending);
            self.push_normalised(&pending);
            self.pending = pending;
            self.prev_q = self.pending_q;
            self.normalise(piece);
        }
        self.pending.clear();
        self.pending_q = false;
    }

    /// A line whose name ran past [`MAX_NAME_LEN`]: the whole line is the name.
    fn drop_colon_less(&mut self) {
        self.state = State::Drop(if self.name.skipped(usize::MAX) {
            DropRule::SkipList
        } else {
            DropRule::NoColon
        });
        self.pending.clear();
        self.pending_q = false;
    }

    fn end_line(&mut self, newline: bool, content_end: u64) {
        let verdict = match self.state {
            State::Start => {
                if !newline {
                    return; // no bytes at all after the last line end
                }
                self.have_eoh = true;
                self.done = true;
                if !self.stop {
                    self.push_normalised(b"\n");
                }
                Verdict::EndOfHeader { hashed: !self.stop }
            }
            State::Name => {
                // The line ended before any usable colon: the whole line is the "name".
                let rule = if self.name.all_cr {
                    self.stop = true;
                    DropRule::CrOnlyStop
                } else if self.name.skipped(self.name.len) {
                    DropRule::SkipList
                } else {
                    DropRule::NoColon
                };
                Verdict::Dropped(rule)
            }
            State::Fold => Verdict::Dropped(DropRule::WhitespaceOnlyFold),
            State::Keep => {
                if newline {
                    self.push_normalised(b"\n");
                    self.prev_q = false;
                }
                Verdict::Kept
            }
            State::Drop(rule) => Verdict::Dropped(rule),
        };
        self.sink.line(LineEvent {
            number: self.line_no,
            start: self.line_start,
            content_end,
            end: self.pos,
            newline,
            verdict,
        });
        self.prev_dropped = matches!(verdict, Verdict::Dropped(_));
        self.first_line = false;
        self.state = State::Start;
        self.pending.clear();
        self.pending_q = false;
        self.line_no += 1;
        self.line_start = self.pos;
    }

    #[inline]
    fn normalise(&mut self, mut src: &[u8]) {
        while !src.is_empty() {
            if OUT_LEN - self.out_len < src.len() && self.out_len > 0 {
                self.flush();
            }
            let take = src.len().min(OUT_LEN - self.out_len);
            let n = normalise_kernel(
                &src[..take],
                &mut self.prev_q,
                &mut self.out[self.out_len..],
            );
            self.out_len += n;
            src = &src[take..];
        }
    }

    /// Bytes that are already normalised.
    fn push_normalised(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.out_len == OUT_LEN {
                self.flush();
            }
            let take = bytes.len().min(OUT_LEN - self.out_len);
            self.out[self.out_len..self.out_len + take].copy_from_slice(&bytes[..take]);
            self.out_len += take;
            bytes = &bytes[take..];
        }
    }

    fn flush(&mut self) {
        if self.out_len > 0 {
            self.sink.emit(&self.out[..self.out_len]);
            self.out_len = 0;
        }
    }
}

#[cfg(test)]
mod tests;
