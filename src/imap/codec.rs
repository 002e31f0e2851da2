//! PURE IMAP response decoding, and the few encoding helpers the client needs.
//!
//! [`decode`] takes the bytes received so far and returns one complete response with the
//! number of bytes it used, or [`Decoded::Incomplete`] when more bytes are needed. It is
//! stateless: the caller keeps the buffer, so the same bytes split at any point decode to
//! the same responses. A response is framed first (lines, plus `{n}` / `{n+}` literals at
//! line ends, skipped by length and never scanned), so a partial response costs one scan
//! of its lines, not of its literal data.
//!
//! Lenient where real servers differ harmlessly (bare LF line ends, missing response
//! text, extra spaces, any case for keywords); unknown responses, FETCH items and response
//! codes are kept as `Other` and otherwise skipped. Literal bytes are returned exactly as
//! received: a header hash depends on every byte. Every size read from the peer is
//! bounded by [`CodecLimits`].

use std::fmt::Write as _;

/// Bounds on what one response may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecLimits {
    /// Longest line (between literals), in bytes, line end excluded.
    pub max_line: usize,
    /// Largest literal, in bytes.
    pub max_literal: usize,
    /// Largest response, literals included, in bytes.
    pub max_response: usize,
    /// Deepest nesting of parenthesised lists.
    pub max_depth: usize,
}

impl Default for CodecLimits {
    fn default() -> Self {
        CodecLimits {
            // A SEARCH or FLAGS line of a very large mailbox stays well below this.
            max_line: 1 << 20,
            // Providers cap messages at 25-50 MB; base64 adds a third.
            max_literal: 128 << 20,
            // Room for a header and a text literal of the largest message.
            max_response: 256 << 20,
            max_depth: 64,
        }
    }
}

/// The result of one decoding step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The buffer does not yet hold a complete response.
    Incomplete,
    /// One response, and the number of bytes of the buffer it used.
    Complete { value: T, consumed: usize },
}

/// A response the codec cannot accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("literal of {size} bytes exceeds the limit of {limit} bytes")]
    LiteralTooLarge { size: u64, limit: usize },
    #[error("response larger than {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("lists nested deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("{reason} at byte {at} of {excerpt}")]
    Syntax {
        reason: &'static str,
        at: usize,
        /// The start of the response, escaped, at most [`EXCERPT`] bytes.
        excerpt: String,
    },
}

/// How many bytes of a response an error quotes.
pub const EXCERPT: usize = 200;

/// One server response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `tag OK|NO|BAD [code] text`: the end of a command.
    Tagged(Tagged),
    /// `* ...`: data, or a status not tied to a command.
    Untagged(Untagged),
    /// `+ text`: the server waits for a literal or a SASL response.
    Continuation { text: String },
}

/// The completion of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub status: Status,
    pub code: Option<Code>,
    pub text: String,
}

/// The status word of a status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl Status {
    fn parse(word: &[u8]) -> Option<Status> {
        Some(match upper(word).as_str() {
            "OK" => Status::Ok,
            "NO" => Status::No,
            "BAD" => Status::Bad,
            "PREAUTH" => Status::PreAuth,
            "BYE" => Status::Bye,
            _ => return None,
        })
    }

    /// The word as IMAP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// Untagged responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text`.
    Status {
        status: Status,
        code: Option<Code>,
        text: String,
    },
    /// `* CAPABILITY ...`, words as sent.
    Capability(Vec<String>),
    /// `* LIST (attrs) delim name`.
    List(ListEntry),
    /// `* LSUB (attrs) delim name`.
    Lsub(ListEntry),
    /// `* STATUS mailbox (NAME n ...)`, names upper-cased.
    MailboxStatus {
        mailbox: String,
        items: Vec<(String, u64)>,
    },
    /// `* FLAGS (...)`.
    Flags(Vec<String>),
    /// `* SEARCH n ...`.
    Search(Vec<u32>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* seq FETCH (...)`.
    Fetch { seq: u32, items: Vec<FetchItem> },
    /// Anything else (`ENABLED`, `ID`, `NAMESPACE`, `ESEARCH`, ...), skipped.
    Other {
        keyword: String,
        number: Option<u32>,
    },
}

/// One `LIST` or `LSUB` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Attributes as sent, e.g. `\Noselect`, `\HasNoChildren`.
    pub attributes: Vec<String>,
    /// The hierarchy separator; `None` for a flat namespace (`NIL`).
    pub delimiter: Option<char>,
    /// The name as sent (modified UTF-7 is not decoded); non-UTF-8 bytes are replaced.
    pub name: String,
}

/// Response codes (`[...]` after a status word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    Alert,
    Capability(Vec<String>),
    Parse,
    PermanentFlags(Vec<String>),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    /// Any other code, name upper-cased, arguments as sent.
    Other {
        name: String,
        args: Option<String>,
    },
}

/// One item of a FETCH response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    Uid(u32),
    Rfc822Size(u64),
    Flags(Vec<String>),
    /// The date-time string without quotes.
    InternalDate(String),
    /// `BODY[section]<origin> data`; `data` is `None` for `NIL`.
    Body {
        section: Section,
        origin: Option<u32>,
        data: Option<Vec<u8>>,
    },
    /// Any other item (upper-cased name), value skipped.
    Other(String),
}

/// The section of a `BODY[...]` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section {
    /// `BODY[]`.
    Full,
    /// `BODY[HEADER]`.
    Header,
    /// `BODY[TEXT]`.
    Text,
    /// Any other section, upper-cased, e.g. `1.MIME`.
    Other(String),
}

/// Decodes one response from the start of `buf`.
pub fn decode(buf: &[u8], limits: &CodecLimits) -> Result<Decoded<Response>, CodecError> {
    decode_resuming(buf, limits, &mut Resume::default())
}

/// Where framing of an incomplete response stopped: the start of its first line (or
/// literal announcement) not yet known to be complete. Everything before it is framed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume(usize);

/// [`decode`] for a caller that calls again with the same bytes plus more after an
/// `Incomplete`: framing goes on from `resume` instead of rescanning the response from
/// its start, so a response of many lines arriving in small reads costs one scan, not
/// one per read. Reset `resume` (to its default) whenever the bytes before it change,
/// that is after every `Complete` or error. The result is that of [`decode`].
pub fn decode_resuming(
    buf: &[u8],
    limits: &CodecLimits,
    resume: &mut Resume,
) -> Result<Decoded<Response>, CodecError> {
    let Some(end) = frame(buf, limits, resume)? else {
        return Ok(Decoded::Incomplete);
    };
    *resume = Resume::default();
    let mut p = Parser {
        b: &buf[..end],
        i: 0,
        limits,
    };
    let value = p.response()?;
    Ok(Decoded::Complete {
        value,
        consumed: end,
    })
}

/// Finds the end of the first complete response: lines, with literals announced at line
/// ends skipped by length. `Ok(None)` means more bytes are needed; `resume` then says
/// where to go on from.
fn frame(
    buf: &[u8],
    limits: &CodecLimits,
    resume: &mut Resume,
) -> Result<Option<usize>, CodecError> {
    let mut pos: usize = resume.0.min(buf.len());
    loop {
        resume.0 = pos;
        // Only look one byte past the limit, so a long buffer is never rescanned in full.
        let window = &buf[pos..buf.len().min(pos.saturating_add(limits.max_line + 2))];
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            if window.len() > limits.max_line + 1 {
                return Err(CodecError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            return Ok(None);
        };
        let mut line = &window[..lf];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > limits.max_line {
            return Err(CodecError::LineTooLong {
                limit: limits.max_line,
            });
        }
        let next_line = pos + lf + 1;
        match literal_at_end(line) {
            None => return Ok(Some(next_line)),
            Some(size) => {
                let n = checked_literal(size, limits)?;
                let after = next_line
                    .checked_add(n)
                    .ok_or(CodecError::LiteralTooLarge {
                        size,
                        limit: limits.max_literal,
                    })?;
                if after > limits.max_response {
                    return Err(CodecError::ResponseTooLarge {
                        limit: limits.max_response,
                    });
                }
                if after > buf.len() {
                    return Ok(None);
                }
                pos = after;
            }
        }
    }
}

fn checked_literal(size: u64, limits: &CodecLimits) -> Result<usize, CodecError> {
    match usize::try_from(size) {
        Ok(n) if n <= limits.max_literal => Ok(n),
        _ => Err(CodecError::LiteralTooLarge {
            size,
            limit: limits.max_literal,
        }),
    }
}

/// The size of a `{n}` or `{n+}` literal announced at the end of a line. A number too
/// large for u64 reads as `u64::MAX` so that it fails the size check.
fn literal_at_end(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .unwrap_or(u64::MAX),
    )
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    limits: &'a CodecLimits,
}

type PResult<T> = Result<T, CodecError>;

impl<'a> Parser<'a> {
    fn err<T>(&self, reason: &'static str) -> PResult<T> {
        Err(CodecError::Syntax {
            reason,
            at: self.i,
            excerpt: excerpt(self.b),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
            || (self.peek() == Some(b'\r') && matches!(self.b.get(self.i + 1), None | Some(b'\n')))
    }

    fn eol(&mut self) -> PResult<()> {
        self.eat(b'\r');
        if self.eat(b'\n') || self.i == self.b.len() {
            Ok(())
        } else {
            self.err("expected end of line")
        }
    }

    /// One or more spaces (servers sometimes send two).
    fn sp(&mut self) -> PResult<()> {
        if !self.eat(b' ') {
            return self.err("expected a space");
        }
        self.skip_spaces();
        Ok(())
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    /// A run of non-special bytes: atoms, flags (`\Seen`, `\*`), capability names.
    /// `in_code` also stops at `]`, which ends a response code.
    fn word(&mut self, in_code: bool) -> &'a [u8] {
        let start = self.i;
        while let Some(c) = self.peek() {
            let stop = c <= b' '
                || c == 0x7f
                || c == b'('
                || c == b')'
                || c == b'"'
                || c == b'{'
                || (in_code && c == b']');
            if stop {
                break;
            }
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn nonempty_word(&mut self, in_code: bool, what: &'static str) -> PResult<&'a [u8]> {
        let w = self.word(in_code);
        if w.is_empty() {
            return self.err(what);
        }
        Ok(w)
    }

    fn number(&mut self) -> PResult<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
            {
                Some(n) => n,
                None => return self.err("number too large"),
            };
            self.i += 1;
        }
        if self.i == start {
            return self.err("expected a number");
        }
        Ok(n)
    }

    fn number32(&mut self) -> PResult<u32> {
        let n = self.number()?;
        match u32::try_from(n) {
            Ok(n) => Ok(n),
            Err(_) => self.err("number too large for 32 bits"),
        }
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        if !self.eat(b'"') {
            return self.err("expected a quoted string");
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return self.err("unterminated quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    // RFC 3501 allows only \" and \\; any other escaped byte is kept as
                    // itself, as lenient parsers do.
                    self.i += 1;
                    match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => {
                            return self.err("unterminated quoted string");
                        }
                        Some(c) => out.push(c),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<&'a [u8]> {
        if !self.eat(b'{') {
            return self.err("expected a literal");
        }
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return self.err("malformed literal announcement");
        }
        // Too many digits reads as too large, which the size check then rejects.
        let size = self.number().unwrap_or(u64::MAX);
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.eat(b'+');
        if !self.eat(b'}') {
            return self.err("malformed literal announcement");
        }
        let n = checked_literal(size, self.limits)?;
        if !self.at_eol() || self.i == self.b.len() {
            return self.err("literal announcement not at the end of a line");
        }
        self.eol()?;
        if self.b.len() - self.i < n {
            return self.err("literal runs past the end of the response");
        }
        let data = &self.b[self.i..self.i + n];
        self.i += n;
        Ok(data)
    }

    /// `string`: quoted or literal.
    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal()?.to_vec()),
            _ => self.err("expected a string"),
        }
    }

    /// `nstring`: `NIL` or a string.
    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string().map(Some),
            _ => {
                let w = self.word(false);
                if w.eq_ignore_ascii_case(b"NIL") {
                    Ok(None)
                } else {
                    self.err("expected a string or NIL")
                }
            }
        }
    }

    /// `astring`: an atom (which may hold `]`), or a string.
    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => Ok(self.nonempty_word(false, "expected a name")?.to_vec()),
        }
    }

    /// The rest of the current line, for human-readable text.
    fn text(&mut self) -> String {
        let start = self.i;
        while !self.at_eol() {
            self.i += 1;
        }
        let t = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        let _ = self.eol();
        t
    }

    fn response(&mut self) -> PResult<Response> {
        match self.peek() {
            Some(b'+') => {
                self.i += 1;
                self.eat(b' ');
                Ok(Response::Continuation { text: self.text() })
            }
            Some(b'*') => {
                self.i += 1;
                self.sp()?;
                self.untagged().map(Response::Untagged)
            }
            _ => {
                let tag = self.word(false);
                if tag.is_empty() {
                    return self.err("expected a tag, '*' or '+'");
                }
                let tag = String::from_utf8_lossy(tag).into_owned();
                self.sp()?;
                let word = self.nonempty_word(false, "expected a status")?;
                let Some(status) = Status::parse(word) else {
                    return self.err("unknown status in tagged response");
                };
                let (code, text) = self.resp_text()?;
                Ok(Response::Tagged(Tagged {
                    tag,
                    status,
                    code,
                    text,
                }))
            }
        }
    }

    /// `[SP ["[" code "]" SP] text]`; servers that omit the text are tolerated.
    fn resp_text(&mut self) -> PResult<(Option<Code>, String)> {
        if self.at_eol() {
            let _ = self.eol();
            return Ok((None, String::new()));
        }
        self.sp()?;
        let code = if self.eat(b'[') {
            let code = self.code()?;
            self.skip_spaces();
            Some(code)
        } else {
            None
        };
        Ok((code, self.text()))
    }

    fn code(&mut self) -> PResult<Code> {
        let name = upper(self.nonempty_word(true, "expected a response code")?);
        let args = if self.eat(b' ') {
            let start = self.i;
            while !self.at_eol() && self.peek() != Some(b']') {
                self.i += 1;
            }
            Some(&self.b[start..self.i])
        } else {
            None
        };
        if !self.eat(b']') {
            return self.err("unterminated response code");
        }
        let number =
            |a: Option<&[u8]>| -> Option<u32> { std::str::from_utf8(a?).ok()?.trim().parse().ok() };
        let words = |a: Option<&[u8]>| -> Vec<String> {
            let a = a.unwrap_or_default();
            let a = a.strip_prefix(b"(").unwrap_or(a);
            let a = a.strip_suffix(b")").unwrap_or(a);
            a.split(|&b| b == b' ')
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        };
        let simple = match name.as_str() {
            "ALERT" => Some(Code::Alert),
            "PARSE" => Some(Code::Parse),
            "READ-ONLY" => Some(Code::ReadOnly),
            "READ-WRITE" => Some(Code::ReadWrite),
            "TRYCREATE" => Some(Code::TryCreate),
            "CAPABILITY" => Some(Code::Capability(words(args))),
            "PERMANENTFLAGS" => Some(Code::PermanentFlags(words(args))),
            "UIDNEXT" => number(args).map(Code::UidNext),
            "UIDVALIDITY" => number(args).map(Code::UidValidity),
            "UNSEEN" => number(args).map(Code::Unseen),
            _ => None,
        };
        // A known code with unreadable arguments is kept as `Other`, not fatal.
        Ok(simple.unwrap_or_else(|| Code::Other {
            name,
            args: args.map(|a| String::from_utf8_lossy(a).into_owned()),
        }))
    }

    fn untagged(&mut self) -> PResult<Untagged> {
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            let n = self.number32()?;
            self.sp()?;
            let keyword = upper(self.nonempty_word(false, "expected a keyword")?);
            return Ok(match keyword.as_str() {
                "EXISTS" => Untagged::Exists(n),
                "RECENT" => Untagged::Recent(n),
                "EXPUNGE" => Untagged::Expunge(n),
                "FETCH" => {
                    self.sp()?;
                    Untagged::Fetch {
                        seq: n,
                        items: self.fetch_items()?,
                    }
                }
                _ => Untagged::Other {
                    keyword,
                    number: Some(n),
                },
            });
        }
        let word = self.nonempty_word(false, "expected a keyword")?;
        if let Some(status) = Status::parse(word) {
            let (code, text) = self.resp_text()?;
            return Ok(Untagged::Status { status, code, text });
        }
        let keyword = upper(word);
        Ok(match keyword.as_str() {
            "CAPABILITY" => Untagged::Capability(self.words_to_eol()),
            "LIST" => Untagged::List(self.list_entry()?),
            "LSUB" => Untagged::Lsub(self.list_entry()?),
            "STATUS" => self.mailbox_status()?,
            "FLAGS" => {
                self.sp()?;
                Untagged::Flags(self.flag_list()?)
            }
            "SEARCH" => {
                let mut found = Vec::new();
                self.skip_spaces();
                while let Some(b'0'..=b'9') = self.peek() {
                    found.push(self.number32()?);
                    self.skip_spaces();
                }
                // Anything after the numbers (ESEARCH-style MODSEQ) is ignored.
                Untagged::Search(found)
            }
            _ => Untagged::Other {
                keyword,
                number: None,
            },
        })
    }

    fn words_to_eol(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.at_eol() {
                break;
            }
            let w = self.word(false);
            if w.is_empty() {
                // A stray special byte: skip it rather than fail on a capability list.
                self.i += 1;
                continue;
            }
            out.push(String::from_utf8_lossy(w).into_owned());
        }
        out
    }

    /// `(flag flag ...)`.
    fn flag_list(&mut self) -> PResult<Vec<String>> {
        if !self.eat(b'(') {
            return self.err("expected '('");
        }
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                return Ok(out);
            }
            let w = self.nonempty_word(false, "expected a flag or ')'")?;
            out.push(String::from_utf8_lossy(w).into_owned());
        }
    }

    fn list_entry(&mut self) -> PResult<ListEntry> {
        self.sp()?;
        let attributes = self.flag_list()?;
        self.sp()?;
        let delimiter = match self.nstring()? {
            None => None,
            Some(d) => String::from_utf8_lossy(&d).chars().next(),
        };
        self.sp()?;
        let name = String::from_utf8_lossy(&self.astring()?).into_owned();
        // LIST-EXTENDED data may follow; it is not needed.
        Ok(ListEntry {
            attributes,
            delimiter,
            name,
        })
    }

    fn mailbox_status(&mut self) -> PResult<Untagged> {
        self.sp()?;
        let mailbox = String::from_utf8_lossy(&self.astring()?).into_owned();
        self.sp()?;
        if !self.eat(b'(') {
            return self.err("expected '(' in STATUS");
        }
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                break;
            }
            let name = upper(self.nonempty_word(false, "expected a STATUS item")?);
            self.sp()?;
            items.push((name, self.number()?));
        }
        Ok(Untagged::MailboxStatus { mailbox, items })
    }

    fn fetch_items(&mut self) -> PResult<Vec<FetchItem>> {
        if !self.eat(b'(') {
            return self.err("expected '(' after FETCH");
        }
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                return Ok(items);
            }
            if self.at_eol() {
                return self.err("unterminated FETCH item list");
            }
            let (name, section, origin) = self.fetch_name()?;
            self.sp()?;
            let item = match (name.as_str(), section) {
                ("UID", None) => FetchItem::Uid(self.number32()?),
                ("RFC822.SIZE", None) => FetchItem::Rfc822Size(self.number()?),
                ("FLAGS", None) => FetchItem::Flags(self.flag_list()?),
                ("INTERNALDATE", None) => match self.nstring()? {
                    Some(d) => FetchItem::InternalDate(String::from_utf8_lossy(&d).into_owned()),
                    None => FetchItem::Other(name),
                },
                ("BODY", Some(section)) => FetchItem::Body {
                    section: match section.as_str() {
                        "" => Section::Full,
                        "HEADER" => Section::Header,
                        "TEXT" => Section::Text,
                        _ => Section::Other(section),
                    },
                    origin,
                    data: self.nstring()?,
                },
                (_, section) => {
                    self.skip_value(0)?;
                    FetchItem::Other(match section {
                        Some(s) => format!("{name}[{s}]"),
                        None => name,
                    })
                }
            };
            items.push(item);
        }
    }

    /// A FETCH item name: `NAME`, `NAME[section]` or `NAME[section]<origin>`.
    fn fetch_name(&mut self) -> PResult<(String, Option<String>, Option<u32>)> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c <= b' ' || c >= 0x7f || b"()[]{\"<".contains(&c) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return self.err("expected a FETCH item name");
        }
        let name = upper(&self.b[start..self.i]);
        let section = if self.eat(b'[') {
            let s = self.i;
            while self.peek() != Some(b']') {
                if self.at_eol() {
                    return self.err("unterminated section");
                }
                self.i += 1;
            }
            let section = upper(&self.b[s..self.i]);
            self.i += 1;
            Some(section)
        } else {
            None
        };
        let origin = if section.is_some() && self.eat(b'<') {
            let n = self.number32()?;
            if !self.eat(b'>') {
                return self.err("unterminated origin");
            }
            Some(n)
        } else {
            None
        };
        Ok((name, section, origin))
    }

    /// Skips one value of any shape: a list, string, literal, number, atom or NIL.
    fn skip_value(&mut self, depth: usize) -> PResult<()> {
        match self.peek() {
            Some(b'(') => {
                if depth >= self.limits.max_depth {
                    return Err(CodecError::TooDeep {
                        limit: self.limits.max_depth,
                    });
                }
                self.i += 1;
                loop {
                    self.skip_spaces();
                    if self.eat(b')') {
                        return Ok(());
                    }
                    if self.at_eol() {
                        return self.err("unterminated list");
                    }
                    self.skip_value(depth + 1)?;
                }
            }
            Some(b'"') => self.quoted().map(drop),
            Some(b'{') => self.literal().map(drop),
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c <= b' ' || c == b'(' || c == b')' || c == b'"' || c == b'{' {
                        break;
                    }
                    if c == b'[' {
                        // Sections may hold spaces and parentheses: skip to the bracket.
                        while self.peek() != Some(b']') {
                            if self.at_eol() {
                                return self.err("unterminated '['");
                            }
                            self.i += 1;
                        }
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return self.err("expected a value");
                }
                Ok(())
            }
        }
    }
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// The start of a response, printable, for error messages.
pub fn excerpt(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(EXCERPT) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > EXCERPT {
        s.push_str("...");
    }
    s
}

/// True when `s` cannot travel as a quoted string (CR, LF, NUL or 8-bit bytes) and must
/// be sent as a literal.
pub fn needs_literal(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == b'\r' || c == b'\n' || c == 0 || c >= 0x80)
}

/// `s` as a quoted string, with `"` and `\` escaped. Only for strings that do not
/// [`needs_literal`].
pub fn quoted(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    out
}

/// A UID set with consecutive runs as ranges: `[1,2,3,5,7,8]` → `1:3,5,7:8`. The UIDs
/// are sorted and duplicates dropped first.
pub fn uid_ranges(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

/// A UID set as a plain comma list, in the given order, as Dovecot's imapc writes it.
pub fn uid_commas(uids: &[u32]) -> String {
    let mut out = String::new();
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{u}");
    }
    out
}

#[cfg(test)]
mod tests {
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
}
