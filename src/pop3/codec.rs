//! PURE POP3 codec: status lines, multi-line blocks, `CAPA`, `UIDL` and `LIST` listings.
//!
//! Nothing here does I/O. Decoders take the bytes received so far and either finish
//! (saying how many bytes they consumed) or ask for more: "need more bytes" is a variant,
//! never an error. Every decoder is bounded by the caller's limits, so a hostile peer
//! gets a typed error instead of unbounded memory.
//!
//! Where Dovecot's pop3c has a rule, this codec follows it, since uidlmap predicts what
//! pop3c will read: lines end at LF with one CR before it dropped; a listing line is
//! `<n> <rest>` with `n` equal to the line's position ("Unexpected UIDL seq"); the UIDL is
//! everything after the first space, extra spaces and tabs included, cut at a NUL; `CAPA`
//! keywords `TOP`, `UIDL` and `PIPELINING` count only as whole lines, case-insensitively.
//! Blocks returned for `TOP`/`RETR` keep line ends exactly as received (after
//! dot-unstuffing), because the plugin's header hash depends on them.

use std::fmt;

/// What a status line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
    /// `+` alone or `+ text`: a SASL continuation.
    Continue,
}

/// An RFC 2449 / RFC 3206 response code, the bracketed word after the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespCode {
    /// `[IN-USE]`: the maildrop is locked by another session.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system failure.
    SysTemp,
    /// `[SYS/PERM]`: a permanent system failure.
    SysPerm,
    /// `[AUTH]`: the credentials were wrong.
    Auth,
    /// Any other code, as sent (without the brackets).
    Other(String),
}

impl RespCode {
    fn parse(code: &str) -> Self {
        match code.to_ascii_uppercase().as_str() {
            "IN-USE" => RespCode::InUse,
            "LOGIN-DELAY" => RespCode::LoginDelay,
            "SYS/TEMP" => RespCode::SysTemp,
            "SYS/PERM" => RespCode::SysPerm,
            "AUTH" => RespCode::Auth,
            _ => RespCode::Other(code.to_string()),
        }
    }

    /// Whether retrying later may succeed (RFC 2449 §8.1.1, RFC 3206 §4).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp
        )
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::Auth => "AUTH",
            RespCode::Other(s) => s,
        })
    }
}

/// One status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    /// The response code, if the text starts with `[...]`.
    pub code: Option<RespCode>,
    /// The text after the status word and the code, trimmed of the separating space.
    pub text: String,
    /// The whole line as received, without its line end (lossy UTF-8).
    pub line: String,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.line)
    }
}

/// What a decoder made of the bytes so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A complete item, and how many bytes of the input it took.
    Done { value: T, consumed: usize },
    /// The input ends inside an item; call again with more bytes.
    NeedMore,
}

/// A reply the codec cannot accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("multi-line reply larger than {limit} bytes")]
    BlockTooLarge { limit: usize },
    #[error("not a POP3 status line: {line:?}")]
    BadStatus { line: String },
    #[error("unexpected SASL continuation: {line:?}")]
    UnexpectedContinuation { line: String },
    #[error("Invalid UIDL line: {line}")]
    InvalidUidlLine { line: String },
    #[error("Unexpected UIDL seq: {got} != {expected}")]
    UnexpectedUidlSeq { got: String, expected: u64 },
    #[error("Invalid LIST line: {line}")]
    InvalidListLine { line: String },
    #[error("Unexpected LIST seq: {got} != {expected}")]
    UnexpectedListSeq { got: String, expected: u64 },
    #[error("Invalid LIST size: {size}")]
    InvalidListSize { size: String },
    #[error("Too much data in LIST: {line}")]
    TooMuchList { line: String },
    #[error("more than {limit} messages listed")]
    TooManyMessages { limit: usize },
    #[error("invalid STAT reply: {line:?}")]
    BadStat { line: String },
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Drops one CR before the (already removed) LF, as Dovecot's line reader does.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Decodes one line ending at LF. The value is the line without the LF and without one
/// CR right before it. A line longer than `max_line` bytes (LF excluded) is an error as
/// soon as that many bytes have arrived without an LF.
pub fn decode_line(buf: &[u8], max_line: usize) -> Result<Decoded<&[u8]>, CodecError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) if i > max_line => Err(CodecError::LineTooLong { limit: max_line }),
        Some(i) => Ok(Decoded::Done {
            value: strip_cr(&buf[..i]),
            consumed: i + 1,
        }),
        None if buf.len() > max_line => Err(CodecError::LineTooLong { limit: max_line }),
        None => Ok(Decoded::NeedMore),
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Parses a status line (without its line end).
pub fn parse_reply(line: &[u8]) -> Result<Reply, CodecError> {
    let (status, rest) = if starts_with_ignore_case(line, b"+OK") {
        (Status::Ok, &line[3..])
    } else if starts_with_ignore_case(line, b"-ERR") {
        (Status::Err, &line[4..])
    } else if line == b"+" || line.starts_with(b"+ ") {
        (Status::Continue, &line[1..])
    } else {
        return Err(CodecError::BadStatus { line: lossy(line) });
    };
    // pop3c matches "+OK" and "-ERR" as prefixes, so "+OKAY" is a success to it: no
    // word boundary is required here either.
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (code, text) = match (status, rest.first()) {
        (Status::Ok | Status::Err, Some(b'[')) => match rest.iter().position(|&b| b == b']') {
            Some(end) => {
                let text = &rest[end + 1..];
                (
                    Some(RespCode::parse(&lossy(&rest[1..end]))),
                    text.strip_prefix(b" ").unwrap_or(text),
                )
            }
            None => (None, rest),
        },
        _ => (None, rest),
    };
    Ok(Reply {
        status,
        code,
        text: lossy(text),
        line: lossy(line),
    })
}

/// Decodes one status line from the front of `buf`.
pub fn decode_reply(buf: &[u8], max_line: usize) -> Result<Decoded<Reply>, CodecError> {
    match decode_line(buf, max_line)? {
        Decoded::Done { value, consumed } => Ok(Decoded::Done {
            value: parse_reply(value)?,
            consumed,
        }),
        Decoded::NeedMore => Ok(Decoded::NeedMore),
    }
}

/// Progress of a [`BlockDecoder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockProgress {
    /// The terminating `.` line has not arrived yet. `consumed` bytes (whole lines) were
    /// taken into the decoder; the caller drops them and calls again with more bytes.
    NeedMore { consumed: usize },
    /// The block is complete: its content, dot-unstuffed, line ends as received.
    Done { consumed: usize, block: Vec<u8> },
}

/// Decodes the body of a multi-line reply (after its status line) up to and including
/// the terminating `.` line. Lines end at LF, so bare-LF servers work; CR LF and bare LF
/// are both kept as received. Incremental: the caller feeds what it has, drops the bytes
/// consumed, and feeds again, so each byte is looked at a bounded number of times.
#[derive(Clone, Debug)]
pub struct BlockDecoder {
    out: Vec<u8>,
    max_line: usize,
    max_block: usize,
    /// Bytes at the front of the next `buf` (the line still open) already known to
    /// hold no LF: a long line is scanned once, not once per read.
    scanned: usize,
}

impl BlockDecoder {
    /// `max_line` bounds one line (LF excluded); `max_block` bounds the decoded content.
    pub fn new(max_line: usize, max_block: usize) -> Self {
        BlockDecoder {
            out: Vec::new(),
            max_line,
            max_block,
            scanned: 0,
        }
    }

    /// Takes as many whole lines from `buf` as there are. `buf` must begin where the
    /// last call's `consumed` ended.
    pub fn decode(&mut self, buf: &[u8]) -> Result<BlockProgress, CodecError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            let skip = std::mem::take(&mut self.scanned).min(rest.len());
            let Some(i) = memchr::memchr(b'\n', &rest[skip..]).map(|i| i + skip) else {
                if rest.len() > self.max_line {
                    return Err(CodecError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                self.scanned = rest.len();
                return Ok(BlockProgress::NeedMore { consumed: pos });
            };
            if i > self.max_line {
                return Err(CodecError::LineTooLong {
                    limit: self.max_line,
                });
            }
            let line = &rest[..=i];
            pos += i + 1;
            if line == b".\r\n" || line == b".\n" {
                return Ok(BlockProgress::Done {
                    consumed: pos,
                    block: std::mem::take(&mut self.out),
                });
            }
            // RFC 1939 §3: a line starting with "." has that first dot removed.
            let data = line.strip_prefix(b".").unwrap_or(line);
            if self.out.len() + data.len() > self.max_block {
                return Err(CodecError::BlockTooLarge {
                    limit: self.max_block,
                });
            }
            self.out.extend_from_slice(data);
        }
    }
}

/// Decodes a whole multi-line body from the front of `buf` in one go (tests, small
/// replies). The client uses [`BlockDecoder`] to avoid rescanning.
pub fn decode_block(
    buf: &[u8],
    max_line: usize,
    max_block: usize,
) -> Result<Decoded<Vec<u8>>, CodecError> {
    match BlockDecoder::new(max_line, max_block).decode(buf)? {
        BlockProgress::Done { consumed, block } => Ok(Decoded::Done {
            value: block,
            consumed,
        }),
        BlockProgress::NeedMore { .. } => Ok(Decoded::NeedMore),
    }
}

/// The lines of a decoded block, each without LF, one CR before it dropped, and cut at
/// the first NUL (pop3c handles them as C strings).
fn block_lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = block.strip_suffix(b"\n").unwrap_or(block);
    let mut lines = (!block.is_empty()).then(|| body.split(|&b| b == b'\n'));
    std::iter::from_fn(move || lines.as_mut()?.next()).map(|l| {
        let l = strip_cr(l);
        match l.iter().position(|&b| b == 0) {
            Some(nul) => &l[..nul],
            None => l,
        }
    })
}

/// Dovecot's `str_to_uint`: decimal digits only, the whole string, no overflow.
fn dovecot_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s)
        .ok()?
        .parse::<u32>()
        .ok()
        .map(u64::from)
}

/// Dovecot's `str_to_uoff`.
fn dovecot_uoff(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s)
        .ok()?
        .parse::<i64>()
        .ok()
        .map(|v| v as u64)
}

/// Splits `<n> <rest>` at the first space and checks `n` is the expected position.
fn numbered(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = line.iter().position(|&b| b == b' ')?;
    Some((&line[..sp], &line[sp + 1..]))
}

/// Parses the body of a `UIDL` reply as pop3c does. Entry `i` is message `i + 1`'s UIDL:
/// everything after the first space (extra spaces, tabs, trailing blanks kept; cut at a
/// NUL; may be empty).
pub fn parse_uidl_listing(block: &[u8], max_count: usize) -> Result<Vec<Vec<u8>>, CodecError> {
    let mut out = Vec::new();
    for (i, line) in block_lines(block).enumerate() {
        let seq = i as u64 + 1;
        if out.len() >= max_count {
            return Err(CodecError::TooManyMessages { limit: max_count });
        }
        let (n, uidl) =
            numbered(line).ok_or_else(|| CodecError::InvalidUidlLine { line: lossy(line) })?;
        if dovecot_uint(n) != Some(seq) {
            return Err(CodecError::UnexpectedUidlSeq {
                got: lossy(n),
                expected: seq,
            });
        }
        out.push(uidl.to_vec());
    }
    Ok(out)
}

/// Parses the body of a `LIST` reply as pop3c does. Entry `i` is message `i + 1`'s size.
/// `expected`, when known (pop3c knows it from `UIDL`), bounds the number of lines:
/// more is "Too much data in LIST". Fewer is accepted, as pop3c does (its missing
/// sizes stay 0); the caller sees the shorter list.
pub fn parse_list_listing(
    block: &[u8],
    max_count: usize,
    expected: Option<usize>,
) -> Result<Vec<u64>, CodecError> {
    let mut out = Vec::new();
    for (i, line) in block_lines(block).enumerate() {
        let seq = i as u64 + 1;
        if expected.is_some_and(|e| out.len() >= e) {
            return Err(CodecError::TooMuchList { line: lossy(line) });
        }
        if out.len() >= max_count {
            return Err(CodecError::TooManyMessages { limit: max_count });
        }
        let (n, size) =
            numbered(line).ok_or_else(|| CodecError::InvalidListLine { line: lossy(line) })?;
        if dovecot_uint(n) != Some(seq) {
            return Err(CodecError::UnexpectedListSeq {
                got: lossy(n),
                expected: seq,
            });
        }
        let size =
            dovecot_uoff(size).ok_or_else(|| CodecError::InvalidListSize { size: lossy(size) })?;
        out.push(size);
    }
    Ok(out)
}

/// Parses `+OK nn mm` (the STAT reply's text `nn mm`): message count and octets.
pub fn parse_stat(reply: &Reply) -> Result<(u32, u64), CodecError> {
    let bad = || CodecError::BadStat {
        line: reply.line.clone(),
    };
    let mut words = reply.text.split_ascii_whitespace();
    let count = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let size = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    Ok((count, size))
}

/// What a server said it can do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// False when `CAPA` was refused and pop3c's fallback applies (UIDL only).
    pub answered: bool,
    pub top: bool,
    pub uidl: bool,
    pub pipelining: bool,
    pub stls: bool,
    pub user: bool,
    pub resp_codes: bool,
    /// SASL mechanisms, upper-cased.
    pub sasl: Vec<String>,
    /// Every capability line as received.
    pub lines: Vec<String>,
}

impl Capabilities {
    /// What pop3c assumes when `CAPA` answers `-ERR`: UIDL only, so no TOP (RETR is used
    /// instead) and no pipelining.
    pub fn fallback() -> Self {
        Capabilities {
            answered: false,
            uidl: true,
            ..Default::default()
        }
    }

    /// Parses the body of a `+OK` reply to `CAPA`.
    pub fn parse(block: &[u8]) -> Self {
        let mut caps = Capabilities {
            answered: true,
            ..Default::default()
        };
        for line in block_lines(block) {
            // pop3c compares whole lines for these three, so "TOP " with a trailing
            // blank does not count for it; neither does it here.
            if line.eq_ignore_ascii_case(b"TOP") {
                caps.top = true;
            } else if line.eq_ignore_ascii_case(b"UIDL") {
                caps.uidl = true;
            } else if line.eq_ignore_ascii_case(b"PIPELINING") {
                caps.pipelining = true;
            }
            let text = lossy(line);
            let mut words = text.split_ascii_whitespace();
            match words.next().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("STLS") => caps.stls = true,
                Some("USER") => caps.user = true,
                Some("RESP-CODES") => caps.resp_codes = true,
                Some("SASL") => caps.sasl.extend(words.map(|w| w.to_ascii_uppercase())),
                _ => {}
            }
            caps.lines.push(text);
        }
        caps
    }
}

/// The APOP timestamp in a greeting's text: the first `<...>` holding an `@`
/// (RFC 1939 §7 calls it a msg-id), brackets included.
pub fn apop_timestamp(greeting_text: &str) -> Option<&str> {
    let start = greeting_text.find('<')?;
    let end = start + greeting_text[start..].find('>')?;
    let ts = &greeting_text[start..=end];
    ts.contains('@').then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded value and the bytes left after it.
    type Split<T> = Option<(T, Vec<u8>)>;
    /// A wanted status line and the bytes left after it, or the error.
    type WantLine = Result<(&'static str, &'static [u8]), CodecError>;

    /// Feeds `input` to `decode` in chunks of `chunk` bytes, keeping unconsumed bytes,
    /// as the client does; returns the first complete value and the bytes left over.
    fn chunked<T>(
        input: &[u8],
        chunk: usize,
        mut decode: impl FnMut(&[u8]) -> Result<Decoded<T>, CodecError>,
    ) -> Result<Split<T>, CodecError> {
        let mut buf = Vec::new();
        let mut fed = 0;
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            fed += piece.len();
            if let Decoded::Done { value, consumed } = decode(&buf)? {
                return Ok(Some((value, [&buf[consumed..], &input[fed..]].concat())));
            }
        }
        Ok(None)
    }

    /// The same for a block, through the incremental decoder.
    fn chunked_block(
        input: &[u8],
        chunk: usize,
        max_line: usize,
        max_block: usize,
    ) -> Result<Split<Vec<u8>>, CodecError> {
        let mut dec = BlockDecoder::new(max_line, max_block);
        let mut buf = Vec::new();
        let mut fed = 0;
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            fed += piece.len();
            match dec.decode(&buf)? {
                BlockProgress::NeedMore { consumed } => {
                    buf.drain(..consumed);
                }
                BlockProgress::Done { consumed, block } => {
                    return Ok(Some((block, [&buf[consumed..], &input[fed..]].concat())));
                }
            }
        }
        Ok(None)
    }

    #[test]
    fn status_lines() {
        use RespCode::*;
        let cases: &[(&[u8], Status, Option<RespCode>, &str)] = &[
            (b"+OK", Status::Ok, None, ""),
            (b"+OK ", Status::Ok, None, ""),
            (b"+OK Dovecot ready.", Status::Ok, None, "Dovecot ready."),
            (b"+ok lower", Status::Ok, None, "lower"),
            (b"-ERR", Status::Err, None, ""),
            (
                b"-ERR no such message",
                Status::Err,
                None,
                "no such message",
            ),
            (b"-ERR [IN-USE] locked", Status::Err, Some(InUse), "locked"),
            (b"-ERR [in-use] x", Status::Err, Some(InUse), "x"),
            (
                b"-ERR [LOGIN-DELAY] wait",
                Status::Err,
                Some(LoginDelay),
                "wait",
            ),
            (
                b"-ERR [SYS/TEMP] later",
                Status::Err,
                Some(SysTemp),
                "later",
            ),
            (
                b"-ERR [SYS/PERM] never",
                Status::Err,
                Some(SysPerm),
                "never",
            ),
            (
                b"-ERR [AUTH] Authentication failed.",
                Status::Err,
                Some(Auth),
                "Authentication failed.",
            ),
            (b"-ERR [AUTH]", Status::Err, Some(Auth), ""),
            (
                b"-ERR [XYZ/ABC] other",
                Status::Err,
                Some(Other("XYZ/ABC".into())),
                "other",
            ),
            (b"-ERR [unterminated", Status::Err, None, "[unterminated"),
            (
                b"+OK [IN-USE] codes on +OK parse too",
                Status::Ok,
                Some(InUse),
                "codes on +OK parse too",
            ),
            (b"+", Status::Continue, None, ""),
            (b"+ ", Status::Continue, None, ""),
            (b"+ [notacode]", Status::Continue, None, "[notacode]"),
        ];
        for (line, status, code, text) in cases {
            let r = parse_reply(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(r.status, *status, "{line:?}");
            assert_eq!(&r.code, code, "{line:?}");
            assert_eq!(r.text, *text, "{line:?}");
            assert_eq!(r.line.as_bytes(), *line);
        }
        let r = parse_reply(b"+OKAY").unwrap();
        assert_eq!(
            (r.status, r.text.as_str()),
            (Status::Ok, "AY"),
            "prefix, as pop3c"
        );
        let r = parse_reply(b"-ERROR x").unwrap();
        assert_eq!(r.status, Status::Err);
        for bad in [&b""[..], b"OK", b"-OK", b"* OK", b" +OK", b"+x"] {
            assert!(
                matches!(parse_reply(bad), Err(CodecError::BadStatus { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reply_lines_in_chunks() {
        let cases: &[(&[u8], WantLine)] = &[
            (b"+OK hi\r\nrest", Ok(("+OK hi", b"rest"))),
            (b"+OK bare lf\nrest", Ok(("+OK bare lf", b"rest"))),
            (b"+OK two cr\r\r\n", Ok(("+OK two cr\r", b""))),
            (b"-ERR x\r\n", Ok(("-ERR x", b""))),
            (
                b"garbage\r\n",
                Err(CodecError::BadStatus {
                    line: "garbage".into(),
                }),
            ),
            (
                b"+OK 0123456789012345678901234567890\r\n",
                Err(CodecError::LineTooLong { limit: 32 }),
            ),
            // The limit counts the CR, not the LF: 31 + CR fits in 32, 32 + CR does not.
            (
                b"+OK 012345678901234567890123456\r\n",
                Ok(("+OK 012345678901234567890123456", b"")),
            ),
            (
                b"+OK 0123456789012345678901234567\r\n",
                Err(CodecError::LineTooLong { limit: 32 }),
            ),
            (
                b"+OK 0123456789012345678901234567\n",
                Ok(("+OK 0123456789012345678901234567", b"")),
            ),
        ];
        for (input, want) in cases {
            for chunk in 1..=input.len() {
                let got = chunked(input, chunk, |b| decode_reply(b, 32));
                match want {
                    Ok((line, rest)) => {
                        let (r, left) = got.unwrap().expect("complete");
                        assert_eq!(r.line, *line, "{input:?} chunk {chunk}");
                        assert_eq!(left, *rest, "{input:?} chunk {chunk}");
                    }
                    Err(e) => assert_eq!(got.unwrap_err(), *e, "{input:?} chunk {chunk}"),
                }
            }
        }
        assert_eq!(decode_reply(b"+OK no end", 64), Ok(Decoded::NeedMore));
        assert_eq!(decode_line(b"", 64), Ok(Decoded::NeedMore));
    }

    #[test]
    fn blocks_in_chunks() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            // (input after the status line, decoded block, bytes left after it)
            (b".\r\n", b"", b""),
            (b".\n", b"", b""),
            (b"a: b\r\n\r\n.\r\nnext", b"a: b\r\n\r\n", b"next"),
            (b"a: b\n\nbody\n.\nX", b"a: b\n\nbody\n", b"X"),
            (
                b"mixed\r\nends\nhere\r\n.\r\n",
                b"mixed\r\nends\nhere\r\n",
                b"",
            ),
            (
                b"..stuffed\r\n...two\r\n.\r\n",
                b".stuffed\r\n..two\r\n",
                b"",
            ),
            (b"..\r\n.\r\n", b".\r\n", b""),
            (b".unstuffed\r\n.\r\n", b"unstuffed\r\n", b""),
            (b". \r\n.\r\n", b" \r\n", b""),
            (b".\r\r\n.\r\n", b"\r\r\n", b""),
            (b"lone\rcr\r\n.\r\n", b"lone\rcr\r\n", b""),
            (b"nul\0byte\r\n.\r\n", b"nul\0byte\r\n", b""),
            (b"\r\n\r\n.\r\n", b"\r\n\r\n", b""),
            (b"x\r\n.\r\n+OK next\r\n", b"x\r\n", b"+OK next\r\n"),
        ];
        for (input, block, rest) in cases {
            for chunk in 1..=input.len() {
                let (got, left) = chunked_block(input, chunk, 64, 1024)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{input:?} chunk {chunk}: incomplete"));
                assert_eq!(got, *block, "{input:?} chunk {chunk}");
                assert_eq!(left, *rest, "{input:?} chunk {chunk}");
                let one = decode_block(input, 64, 1024).unwrap();
                assert_eq!(
                    one,
                    Decoded::Done {
                        value: block.to_vec(),
                        consumed: input.len() - rest.len()
                    }
                );
            }
        }
        for incomplete in [&b""[..], b"a\r\n", b"a\r\n.", b"a\r\n.\r", b"..\r\n"] {
            assert_eq!(decode_block(incomplete, 64, 1024), Ok(Decoded::NeedMore));
        }
    }

    #[test]
    fn block_limits() {
        let long = [b"x".repeat(20), b"\r\n.\r\n".to_vec()].concat();
        for chunk in 1..=long.len() {
            assert_eq!(
                chunked_block(&long, chunk, 16, 1024),
                Err(CodecError::LineTooLong { limit: 16 })
            );
        }
        let big = [b"0123456789\r\n".repeat(10), b".\r\n".to_vec()].concat();
        for chunk in 1..=big.len() {
            assert_eq!(
                chunked_block(&big, chunk, 64, 100),
                Err(CodecError::BlockTooLarge { limit: 100 })
            );
            assert!(chunked_block(&big, chunk, 64, 120).unwrap().is_some());
        }
        // A line of exactly max_line bytes plus CR LF: the CR counts, the LF does not.
        let edge = b"0123456789abcde\r\n.\r\n";
        assert!(decode_block(edge, 16, 100).is_ok());
        assert_eq!(
            decode_block(edge, 15, 100),
            Err(CodecError::LineTooLong { limit: 15 })
        );
    }

    #[test]
    fn uidl_listing_rules() {
        type Want = Result<Vec<&'static [u8]>, CodecError>;
        let cases: Vec<(&[u8], Want)> = vec![
            (b"", Ok(vec![])),
            (b"1 abc\r\n2 def\r\n", Ok(vec![b"abc", b"def"])),
            (b"1 abc\n2 def\n", Ok(vec![b"abc", b"def"])),
            // Everything after the first space: extra spaces, tabs, trailing blanks.
            (b"1   lead\r\n", Ok(vec![b"  lead"])),
            (b"1 abc def\r\n", Ok(vec![b"abc def"])),
            (b"1 x\tY~!\r\n", Ok(vec![b"x\tY~!"])),
            (b"1 trail \r\n", Ok(vec![b"trail "])),
            (b"1 two-cr\r\r\n", Ok(vec![b"two-cr\r"])),
            (b"1 \r\n", Ok(vec![b""])),
            (b"1 nul\0cut\r\n", Ok(vec![b"nul"])),
            (b"01 lead-zero\r\n", Ok(vec![b"lead-zero"])),
            (b"1 \xff8bit\r\n", Ok(vec![b"\xff8bit"])),
            (b"1 dup\r\n2 dup\r\n", Ok(vec![b"dup", b"dup"])),
            (
                b"1 a\r\n3 c\r\n",
                Err(CodecError::UnexpectedUidlSeq {
                    got: "3".into(),
                    expected: 2,
                }),
            ),
            (
                b"2 a\r\n",
                Err(CodecError::UnexpectedUidlSeq {
                    got: "2".into(),
                    expected: 1,
                }),
            ),
            (
                b" 1 a\r\n",
                Err(CodecError::UnexpectedUidlSeq {
                    got: "".into(),
                    expected: 1,
                }),
            ),
            (
                b"+1 a\r\n",
                Err(CodecError::UnexpectedUidlSeq {
                    got: "+1".into(),
                    expected: 1,
                }),
            ),
            (
                b"1\ta\r\n",
                Err(CodecError::InvalidUidlLine {
                    line: "1\ta".into(),
                }),
            ),
            (
                b"1\r\n",
                Err(CodecError::InvalidUidlLine { line: "1".into() }),
            ),
            (
                b"\r\n",
                Err(CodecError::InvalidUidlLine { line: "".into() }),
            ),
            // The NUL cuts the line before the space, as strchr would see it.
            (
                b"1\0 a\r\n",
                Err(CodecError::InvalidUidlLine { line: "1".into() }),
            ),
            (
                b"4294967297 a\r\n",
                Err(CodecError::UnexpectedUidlSeq {
                    got: "4294967297".into(),
                    expected: 1,
                }),
            ),
        ];
        for (block, want) in cases {
            let got = parse_uidl_listing(block, 100);
            let want = want.map(|v| v.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
            assert_eq!(got, want, "{block:?}");
        }
        assert_eq!(
            parse_uidl_listing(b"1 a\r\n2 b\r\n3 c\r\n", 2),
            Err(CodecError::TooManyMessages { limit: 2 })
        );
    }

    #[test]
    fn uidl_listing_from_wire_in_chunks() {
        let wire = b"+OK\r\n1 a b\r\n2  c\r\n3 ..d\r\n..4 e\r\n.\r\n";
        // Line 4 is "..4 e" on the wire and ".4 e" once unstuffed: seq ".4" is not 4.
        for chunk in 1..=wire.len() {
            let (status, rest) = chunked(wire, chunk, |b| decode_reply(b, 64))
                .unwrap()
                .unwrap();
            assert!(status.is_ok());
            let (block, _) = chunked_block(&rest, chunk, 64, 1024).unwrap().unwrap();
            assert_eq!(
                parse_uidl_listing(&block, 10),
                Err(CodecError::UnexpectedUidlSeq {
                    got: ".4".into(),
                    expected: 4
                })
            );
        }
        let good = b"1 a b\r\n2  c\r\n3 ..d\r\n.\r\n";
        let block = decode_block(good, 64, 1024).unwrap();
        let Decoded::Done { value, .. } = block else {
            panic!()
        };
        assert_eq!(
            parse_uidl_listing(&value, 10).unwrap(),
            vec![b"a b".to_vec(), b" c".to_vec(), b"..d".to_vec()]
        );
    }

    #[test]
    fn list_listing_rules() {
        type Want = Result<Vec<u64>, CodecError>;
        let cases: Vec<(&[u8], Option<usize>, Want)> = vec![
            (b"", None, Ok(vec![])),
            (b"1 120\r\n2 7\r\n", None, Ok(vec![120, 7])),
            (b"1 120\n2 7\n", Some(2), Ok(vec![120, 7])),
            (b"1 120\r\n", Some(3), Ok(vec![120])),
            (b"1 0\r\n", None, Ok(vec![0])),
            (
                b"1 1\r\n2 2\r\n",
                Some(1),
                Err(CodecError::TooMuchList { line: "2 2".into() }),
            ),
            (
                b"2 1\r\n",
                None,
                Err(CodecError::UnexpectedListSeq {
                    got: "2".into(),
                    expected: 1,
                }),
            ),
            (
                b"1\r\n",
                None,
                Err(CodecError::InvalidListLine { line: "1".into() }),
            ),
            (
                b"1  120\r\n",
                None,
                Err(CodecError::InvalidListSize {
                    size: " 120".into(),
                }),
            ),
            (
                b"1 120 extra\r\n",
                None,
                Err(CodecError::InvalidListSize {
                    size: "120 extra".into(),
                }),
            ),
            (
                b"1 -5\r\n",
                None,
                Err(CodecError::InvalidListSize { size: "-5".into() }),
            ),
            (
                b"1 \r\n",
                None,
                Err(CodecError::InvalidListSize { size: "".into() }),
            ),
        ];
        for (block, expected, want) in cases {
            assert_eq!(parse_list_listing(block, 100, expected), want, "{block:?}");
        }
    }

    #[test]
    fn capabilities() {
        let caps = Capabilities::parse(
            b"CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN login\r\n",
        );
        assert!(caps.answered && caps.top && caps.uidl && caps.pipelining);
        assert!(caps.stls && caps.user && caps.resp_codes);
        assert_eq!(caps.sasl, ["PLAIN", "LOGIN"]);
        assert_eq!(caps.lines.len(), 9);

        let odd = Capabilities::parse(b"top\nTOP 10\r\nUIDL \r\npipelining\r\n");
        assert!(odd.top, "case-insensitive");
        assert!(
            !odd.uidl,
            "pop3c compares the whole line; a trailing blank loses it"
        );
        assert!(odd.pipelining);

        let none = Capabilities::parse(b"");
        assert!(none.answered && !none.top && !none.uidl && !none.pipelining);
        let fb = Capabilities::fallback();
        assert!(!fb.answered && fb.uidl && !fb.top && !fb.pipelining);
    }

    #[test]
    fn stat_and_apop() {
        let r = parse_reply(b"+OK 3 1200").unwrap();
        assert_eq!(parse_stat(&r), Ok((3, 1200)));
        let r = parse_reply(b"+OK 3").unwrap();
        assert!(parse_stat(&r).is_err());
        assert_eq!(
            apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp("Dovecot ready."), None);
        assert_eq!(apop_timestamp("<no-at> x"), None);
        assert_eq!(apop_timestamp("<unterminated@x"), None);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decoders_never_panic_and_stay_bounded(
                input in proptest::collection::vec(any::<u8>(), 0..512),
                chunk in 1usize..40,
            ) {
                let (max_line, max_block) = (48, 160);
                let _ = decode_reply(&input, max_line);
                let mut dec = BlockDecoder::new(max_line, max_block);
                let mut buf = Vec::new();
                for piece in input.chunks(chunk) {
                    buf.extend_from_slice(piece);
                    match dec.decode(&buf) {
                        Ok(BlockProgress::NeedMore { consumed }) => {
                            prop_assert!(consumed <= buf.len());
                            buf.drain(..consumed);
                            // Unconsumed bytes are at most one partial line.
                            prop_assert!(buf.len() <= max_line);
                        }
                        Ok(BlockProgress::Done { consumed, block }) => {
                            prop_assert!(consumed <= buf.len());
                            prop_assert!(block.len() <= max_block);
                            let _ = parse_uidl_listing(&block, 4);
                            let _ = parse_list_listing(&block, 4, Some(3));
                            let _ = Capabilities::parse(&block);
                            break;
                        }
                        Err(_) => break,
                    }
                    prop_assert!(dec.out.len() <= max_block);
                }
                let _ = parse_uidl_listing(&input, 1000);
                let _ = parse_list_listing(&input, 1000, None);
                let _ = apop_timestamp(&String::from_utf8_lossy(&input));
            }

            #[test]
            fn unstuffing_inverts_stuffing(
                lines in proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..20), any::<bool>()),
                    0..12),
                chunk in 1usize..16,
            ) {
                // A message made of lines with CRLF or bare LF ends; stuffed as a server must.
                let mut message = Vec::new();
                let mut wire = Vec::new();
                for (line, crlf) in &lines {
                    let mut l = line.clone();
                    // A CR right before the LF is the CRLF case; keep data CR-free at the end.
                    while l.last() == Some(&b'\r') { l.pop(); }
                    l.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
                    message.extend_from_slice(&l);
                    if l.first() == Some(&b'.') { wire.push(b'.'); }
                    wire.extend_from_slice(&l);
                }
                wire.extend_from_slice(b".\r\n");
                let mut dec = BlockDecoder::new(64, 4096);
                let mut buf = Vec::new();
                let mut got = None;
                for piece in wire.chunks(chunk) {
                    buf.extend_from_slice(piece);
                    match dec.decode(&buf).unwrap() {
                        BlockProgress::NeedMore { consumed } => { buf.drain(..consumed); }
                        BlockProgress::Done { block, .. } => { got = Some(block); break; }
                    }
                }
                prop_assert_eq!(got, Some(message));
            }
        }
    }
}
