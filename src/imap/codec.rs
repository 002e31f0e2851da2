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
//!
//! Here: the response types, framing and [`decode`]; the token-level parser is in
//! `codec/parse.rs`, the command-writing helpers in `codec/encode.rs`.

use std::fmt::Write as _;

mod encode;
mod parse;

pub use encode::{needs_literal, quoted, uid_commas, uid_ranges};
use parse::Parser;

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

/// Keywords compare in any case.
fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

#[cfg(test)]
mod tests;
