//! Deterministic message generation and the small text tools worlds need: the same code
//! renders the messages of `uidlmap`'s scenario files and of [`crate::builder`].
//!
//! A generated message has the headers From, To, Subject, Date and Message-ID (each can be
//! replaced or left out), any extra header lines, and a body padded so that the CRLF
//! rendition of the whole message is exactly `size` bytes. Everything derives from the
//! message id and its position in the world's list of messages, so a world renders to
//! the same bytes on every machine. Also here: line-ending conversion, the byte encodings
//! of raw text, and the UIDL template language (`{uid}`, `{uid:08x}`, Dovecot's
//! `%08Xu%08Xv`).

use std::fmt;

use md5::{Digest, Md5};

/// How the line ends of a text are written into the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, schemars::JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum LineEnding {
    /// Every LF not preceded by CR becomes CRLF (CRLF stays, a lone CR stays).
    Crlf,
    /// Every CRLF becomes LF.
    Lf,
    /// The bytes exactly as written.
    Keep,
}

/// How the characters of a raw text become bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, schemars::JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Encoding {
    /// UTF-8, as YAML text is.
    Utf8,
    /// One byte per character U+0000..U+00FF, so `"\xE4"` is the single byte 0xE4 and
    /// `"\0"` is NUL: the way to write 8-bit bytes that are not UTF-8.
    Latin1,
}

/// A character beyond U+00FF in a `latin1` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLatin1 {
    pub ch: char,
    pub offset: usize,
}

/// Converts line ends.
pub fn convert_line_endings(bytes: &[u8], ending: LineEnding) -> Vec<u8> {
    match ending {
        LineEnding::Keep => bytes.to_vec(),
        LineEnding::Crlf => {
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
                    out.push(b'\r');
                }
                out.push(*b);
            }
            out
        }
        LineEnding::Lf => {
            let mut out = Vec::with_capacity(bytes.len());
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    continue;
                }
                out.push(*b);
            }
            out
        }
    }
}

/// Encodes a text as bytes.
pub fn encode(text: &str, encoding: Encoding) -> Result<Vec<u8>, NotLatin1> {
    match encoding {
        Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
        Encoding::Latin1 => text
            .char_indices()
            .map(|(offset, ch)| u8::try_from(u32::from(ch)).map_err(|_| NotLatin1 { ch, offset }))
            .collect(),
    }
}

/// Seconds since 1970 of the first generated message: Fri, 01 Mar 2024 08:00:00 +0000.
const BASE_TIME: i64 = 1_709_280_000;
/// Minutes between two consecutive generated messages.
const STEP_MINUTES: i64 = 37;

/// (year, month 1-12, day 1-31) of a day number counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

struct Stamp {
    year: i64,
    month: &'static str,
    day: u32,
    weekday: &'static str,
    hms: (i64, i64, i64),
}

fn stamp(index: usize) -> Stamp {
    let t = BASE_TIME + index as i64 * STEP_MINUTES * 60;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Stamp {
        year,
        month: MONTHS[month as usize - 1],
        day,
        weekday: WEEKDAYS[days.rem_euclid(7) as usize],
        hms: (secs / 3600, secs / 60 % 60, secs % 60),
    }
}

/// The Date header value of the message at `index` in `messages:` (0-based), e.g.
/// `Fri, 01 Mar 2024 08:00:00 +0000`; each message is 37 minutes after the previous one.
pub fn rfc5322_date(index: usize) -> String {
    let s = stamp(index);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        s.weekday, s.day, s.month, s.year, s.hms.0, s.hms.1, s.hms.2
    )
}

/// The IMAP INTERNALDATE of the message at `index`, e.g. `01-Mar-2024 08:00:00 +0000`.
pub fn imap_internal_date(index: usize) -> String {
    let s = stamp(index);
    format!(
        "{:02}-{}-{} {:02}:{:02}:{:02} +0000",
        s.day, s.month, s.year, s.hms.0, s.hms.1, s.hms.2
    )
}

/// Default From of generated messages.
pub const DEFAULT_FROM: &str = "Ann Sender <ann@example.org>";
/// Default To of generated messages.
pub const DEFAULT_TO: &str = "Bob Receiver <bob@example.net>";

/// What a generated message is made of. `None` in a header field leaves it out.
#[derive(Clone, Debug)]
pub struct GeneratedSpec {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// Extra header lines, each without its final line end; `\n` inside one is a fold.
    pub headers: Vec<String>,
    pub body: String,
    /// Total size of the CRLF rendition, if it must be exact.
    pub size: Option<u64>,
    pub line_ending: LineEnding,
}

impl GeneratedSpec {
    /// The defaults for message `id` at `index` in `messages:`.
    pub fn defaults(id: &str, index: usize) -> Self {
        GeneratedSpec {
            from: Some(DEFAULT_FROM.to_string()),
            to: Some(DEFAULT_TO.to_string()),
            subject: Some(format!("Message {id}")),
            date: Some(rfc5322_date(index)),
            message_id: Some(format!("<{id}@uidlmap.test>")),
            headers: Vec::new(),
            body: format!("This is message {id}.\n"),
            size: None,
            line_ending: LineEnding::Crlf,
        }
    }
}

/// Why a message could not be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// `size` is below what the headers and body take without padding.
    SizeTooSmall { size: u64, minimum: u64 },
    /// An extra header holds an empty line, which would end the header early.
    BlankLineInHeader { index: usize },
    /// A header field value holds a line break.
    LineBreakInField { field: &'static str },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::SizeTooSmall { size, minimum } => write!(
                f,
                "size {size} is smaller than the generated headers and body ({minimum} bytes \
                 before padding); use a size of at least {minimum}, or shorten the body"
            ),
            GenError::BlankLineInHeader { index } => write!(
                f,
                "extra header {} holds an empty line, which would end the header; use raw \
                 for such a message",
                index + 1
            ),
            GenError::LineBreakInField { field } => write!(
                f,
                "{field} must be one line; fold long values with an extra header line instead"
            ),
        }
    }
}

/// Renders a generated message.
pub fn render(spec: &GeneratedSpec) -> Result<Vec<u8>, GenError> {
    let mut head = Vec::new();
    let fields: [(&'static str, &str, &Option<String>); 5] = [
        ("from", "From", &spec.from),
        ("to", "To", &spec.to),
        ("subject", "Subject", &spec.subject),
        ("date", "Date", &spec.date),
        ("message_id", "Message-ID", &spec.message_id),
    ];
    for (key, name, value) in fields {
        if let Some(v) = value {
            if v.contains(['\r', '\n']) {
                return Err(GenError::LineBreakInField { field: key });
            }
            head.extend_from_slice(format!("{name}: {v}\r\n").as_bytes());
        }
    }
    for (index, h) in spec.headers.iter().enumerate() {
        let h = convert_line_endings(h.as_bytes(), LineEnding::Crlf);
        let lines = h.strip_suffix(b"\r\n").unwrap_or(&h);
        if lines.is_empty()
            || lines
                .split(|b| *b == b'\n')
                .any(|l| l.is_empty() || l == b"\r")
        {
            return Err(GenError::BlankLineInHeader { index });
        }
        head.extend_from_slice(&h);
        if !h.ends_with(b"\n") {
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    let mut body = convert_line_endings(spec.body.as_bytes(), LineEnding::Crlf);
    if !body.is_empty() && !body.ends_with(b"\n") {
        body.extend_from_slice(b"\r\n");
    }
    let minimum = (head.len() + body.len()) as u64;
    if let Some(size) = spec.size {
        if size < minimum {
            return Err(GenError::SizeTooSmall { size, minimum });
        }
        pad(&mut body, (size - minimum) as usize);
    }
    let mut out = head;
    out.extend_from_slice(&body);
    Ok(convert_line_endings(&out, spec.line_ending))
}

/// Bytes per filler line, CRLF included.
const FILLER_LINE: usize = 78;

/// Appends exactly `extra` bytes of filler lines to a body (CRLF rendition). A single
/// spare byte widens the last filler line, or the body's last line.
fn pad(body: &mut Vec<u8>, extra: usize) {
    if extra == 0 {
        return;
    }
    let full = extra / FILLER_LINE;
    let rest = extra % FILLER_LINE;
    let mut lines: Vec<usize> = vec![FILLER_LINE - 2; full];
    match rest {
        0 => {}
        1 => match lines.last_mut() {
            Some(last) => *last += 1,
            None => {
                // Widen the body's own last line: it ends in CRLF (or the body is empty).
                if body.ends_with(b"\r\n") {
                    let at = body.len() - 2;
                    body.insert(at, b'.');
                } else {
                    body.push(b'.');
                }
            }
        },
        n => lines.push(n - 2),
    }
    for (i, width) in lines.into_iter().enumerate() {
        // A recognisable, non-repeating filler makes bodies differ line by line.
        let tag = format!("{:04} ", i + 1);
        let mut line: Vec<u8> = tag
            .bytes()
            .chain(std::iter::repeat(b'x'))
            .take(width)
            .collect();
        line.extend_from_slice(b"\r\n");
        body.extend_from_slice(&line);
    }
}

/// Lower-case hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    let digest = Md5::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stand-in for Gmail's X-GM-MSGID: 16 lower-case hex digits derived from the message
/// id (the top nibble is 1, as real ones are around 1.6e18).
pub fn gmail_id(id: &str) -> String {
    let d = Md5::digest(id.as_bytes());
    let mut v = u64::from_be_bytes(d[..8].try_into().expect("md5 is 16 bytes"));
    v = 0x1000_0000_0000_0000 | (v & 0x0fff_ffff_ffff_ffff);
    format!("{v:x}")
}

// ---------------------------------------------------------------------------------------
// UIDL templates

/// Variables a UIDL template may use.
pub const TEMPLATE_VARS: [&str; 7] = [
    "id",
    "n",
    "uid",
    "uidvalidity",
    "md5",
    "gmail_id",
    "mailbox",
];

/// How a value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Radix {
    Decimal,
    LowerHex,
    UpperHex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var {
        name: &'static str,
        width: usize,
        zero: bool,
        radix: Radix,
        case: Case,
    },
}

/// Widest padding a template variable may ask for: UIDLs are short (RFC 1939 allows 70
/// bytes), and an unbounded width would build a string of that many bytes per message.
pub const MAX_TEMPLATE_WIDTH: usize = 1000;

/// A parsed UIDL template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A template error, with the byte offset in the template where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

fn var_name(name: &str) -> Option<&'static str> {
    TEMPLATE_VARS.iter().copied().find(|v| *v == name)
}

fn template_error(offset: usize, message: String) -> TemplateError {
    TemplateError { offset, message }
}

/// `{name}` or `{name:FMT}` at `i`: the variable and the offset after it.
fn parse_brace_var(text: &str, i: usize) -> Result<(Piece, usize), TemplateError> {
    let err = template_error;
    let close = text[i..]
        .find('}')
        .ok_or_else(|| err(i, "`{` without a closing `}`".into()))?;
    let inner = &text[i + 1..i + close];
    let (name, fmt) = inner.split_once(':').unwrap_or((inner, ""));
    let name = var_name(name).ok_or_else(|| {
        err(
            i,
            format!(
                "unknown variable `{name}`: expected one of {}",
                TEMPLATE_VARS.join(", ")
            ),
        )
    })?;
    let zero = fmt.starts_with('0');
    let ndigits = fmt.bytes().take_while(u8::is_ascii_digit).count();
    // Too many digits for usize is too wide, not "no width".
    let width: usize = match ndigits {
        0 => 0,
        _ => fmt[..ndigits].parse().unwrap_or(usize::MAX),
    };
    if width > MAX_TEMPLATE_WIDTH {
        return Err(err(
            i,
            format!("width in `{{{inner}}}` is over {MAX_TEMPLATE_WIDTH}"),
        ));
    }
    let rest = &fmt[ndigits..];
    let radix = match rest {
        "" | "d" => Radix::Decimal,
        "x" => Radix::LowerHex,
        "X" => Radix::UpperHex,
        other => {
            return Err(err(
                i,
                format!("unknown format `{other}` in `{{{inner}}}`: expected d, x or X"),
            ));
        }
    };
    let var = Piece::Var {
        name,
        width,
        zero,
        radix,
        case: Case::Keep,
    };
    Ok((var, i + close + 1))
}

/// Dovecot's `%u`, `%v` or `%m` with its modifiers at `start` (not `%%`): the variable
/// and the offset after it.
fn parse_percent_var(b: &[u8], start: usize) -> Result<(Piece, usize), TemplateError> {
    let err = template_error;
    let mut i = start + 1;
    let zero = b.get(i) == Some(&b'0');
    let mut width = 0usize;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        width = width
            .saturating_mul(10)
            .saturating_add(usize::from(d - b'0'));
        i += 1;
    }
    if width > MAX_TEMPLATE_WIDTH {
        let shown = String::from_utf8_lossy(&b[start..i]);
        return Err(err(
            start,
            format!("width in `{shown}` is over {MAX_TEMPLATE_WIDTH}"),
        ));
    }
    let mut radix = Radix::Decimal;
    let mut case = Case::Keep;
    loop {
        match b.get(i) {
            Some(b'X') => radix = Radix::LowerHex,
            Some(b'L') => case = Case::Lower,
            Some(b'U') => case = Case::Upper,
            _ => break,
        }
        i += 1;
    }
    let name = match b.get(i) {
        Some(b'u') => "uid",
        Some(b'v') => "uidvalidity",
        Some(b'm') => "md5",
        Some(c) => {
            return Err(err(
                start,
                format!(
                    "Dovecot variable `%{}` is not modelled: use %u, %v or %m, \
                     or give the UIDLs per message (pop3: {{uidl: ...}})",
                    *c as char
                ),
            ));
        }
        None => return Err(err(start, "`%` at the end of the template".into())),
    };
    let var = Piece::Var {
        name: var_name(name).expect("listed"),
        width,
        zero,
        radix,
        case,
    };
    Ok((var, i + 1))
}

impl Template {
    /// Parses `{name}`, `{name:FMT}` (FMT = optional `0`, width, then `d`, `x` or `X`),
    /// `{{` / `}}`, and Dovecot's `%u %v %m` with an optional `0`, width and `X` (hex, lower
    /// case as Dovecot prints it), `L`, `U` modifiers; `%%` is a literal `%`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (var, next) = match b[i] {
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    lit.push('{');
                    i += 2;
                    continue;
                }
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    lit.push('}');
                    i += 2;
                    continue;
                }
                b'}' => {
                    return Err(template_error(
                        i,
                        "a lone `}`: write `}}` for a literal brace".into(),
                    ));
                }
                b'%' if b.get(i + 1) == Some(&b'%') => {
                    lit.push('%');
                    i += 2;
                    continue;
                }
                b'{' => parse_brace_var(text, i)?,
                b'%' => parse_percent_var(b, i)?,
                _ => {
                    let ch = text[i..].chars().next().expect("in bounds");
                    lit.push(ch);
                    i += ch.len_utf8();
                    continue;
                }
            };
            if !lit.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut lit)));
            }
            pieces.push(var);
            i = next;
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Template { pieces })
    }

    /// The variables the template uses, in order.
    pub fn variables(&self) -> Vec<&'static str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Var { name, .. } => Some(*name),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Expands the template. `value` gives each variable's text; numbers are given in
    /// decimal and re-written in hex when asked. A variable without a value is an error
    /// naming it.
    pub fn expand(&self, value: impl Fn(&str) -> Option<String>) -> Result<String, &'static str> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var {
                    name,
                    width,
                    zero,
                    radix,
                    case,
                } => {
                    let raw = value(name).ok_or(*name)?;
                    let mut text = match (radix, raw.parse::<u64>()) {
                        (Radix::LowerHex, Ok(n)) => format!("{n:x}"),
                        (Radix::UpperHex, Ok(n)) => format!("{n:X}"),
                        _ => raw,
                    };
                    match case {
                        Case::Keep => {}
                        Case::Lower => text = text.to_lowercase(),
                        Case::Upper => text = text.to_uppercase(),
                    }
                    let len = text.chars().count();
                    if len < *width {
                        let fill = if *zero { '0' } else { ' ' };
                        out.extend(std::iter::repeat_n(fill, width - len));
                    }
                    out.push_str(&text);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_table() {
        let cases: &[(&[u8], LineEnding, &[u8])] = &[
            (b"a\nb\r\nc\rd\n", LineEnding::Crlf, b"a\r\nb\r\nc\rd\r\n"),
            (b"\n\n", LineEnding::Crlf, b"\r\n\r\n"),
            (b"a\r\nb\nc\r\r\n", LineEnding::Lf, b"a\nb\nc\r\n"),
            (b"a\r\nb\n", LineEnding::Keep, b"a\r\nb\n"),
        ];
        for (input, ending, want) in cases {
            assert_eq!(
                convert_line_endings(input, *ending),
                *want,
                "{input:?} {ending:?}"
            );
        }
    }

    #[test]
    fn latin1() {
        assert_eq!(encode("a\u{e4}\0", Encoding::Latin1).unwrap(), b"a\xe4\0");
        assert_eq!(
            encode("a\u{e4}", Encoding::Utf8).unwrap(),
            "a\u{e4}".as_bytes()
        );
        assert_eq!(
            encode("ab\u{20ac}", Encoding::Latin1),
            Err(NotLatin1 {
                ch: '\u{20ac}',
                offset: 2
            })
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Fri, 01 Mar 2024 08:00:00 +0000");
        assert_eq!(imap_internal_date(0), "01-Mar-2024 08:00:00 +0000");
        assert_eq!(rfc5322_date(1), "Fri, 01 Mar 2024 08:37:00 +0000");
        // 26 steps of 37 minutes cross midnight into Saturday.
        assert_eq!(rfc5322_date(26), "Sat, 02 Mar 2024 00:02:00 +0000");
        // 14244 steps of 37 minutes = 366 days less 12 minutes; 01 Mar 2024 to 01 Mar 2025
        // is 365 days (the leap day came before), and 02 Mar 2025 is a Sunday.
        assert_eq!(rfc5322_date(14_244), "Sun, 02 Mar 2025 07:48:00 +0000");
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
    }

    #[test]
    fn generated_defaults() {
        let m = render(&GeneratedSpec::defaults("m1", 0)).unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "From: Ann Sender <ann@example.org>\r\nTo: Bob Receiver <bob@example.net>\r\n\
             Subject: Message m1\r\nDate: Fri, 01 Mar 2024 08:00:00 +0000\r\n\
             Message-ID: <m1@uidlmap.test>\r\n\r\nThis is message m1.\r\n"
        );
    }

    #[test]
    fn exact_sizes() {
        let base = render(&GeneratedSpec::defaults("m1", 0)).unwrap().len() as u64;
        for size in base..base + 400 {
            let mut spec = GeneratedSpec::defaults("m1", 0);
            spec.size = Some(size);
            let m = render(&spec).unwrap();
            assert_eq!(m.len() as u64, size, "size {size}");
            assert!(m.ends_with(b"\r\n") || size == base + 1);
            spec.line_ending = LineEnding::Lf;
            let lf = render(&spec).unwrap();
            assert_eq!(
                convert_line_endings(&lf, LineEnding::Crlf).len() as u64,
                size
            );
        }
        let mut spec = GeneratedSpec::defaults("m1", 0);
        spec.size = Some(10);
        assert_eq!(
            render(&spec),
            Err(GenError::SizeTooSmall {
                size: 10,
                minimum: base
            })
        );
        spec.body = String::new();
        spec.size = Some(base);
        // empty body: padding starts right after the blank line
        assert_eq!(render(&spec).unwrap().len() as u64, base);
    }

    #[test]
    fn omitted_and_extra_headers() {
        let mut spec = GeneratedSpec::defaults("m1", 0);
        spec.to = None;
        spec.date = None;
        spec.message_id = None;
        spec.headers = vec!["X-A: 1".into(), "X-B: folded\n  value".into()];
        spec.body = "b".into();
        let m = String::from_utf8(render(&spec).unwrap()).unwrap();
        assert_eq!(
            m,
            "From: Ann Sender <ann@example.org>\r\nSubject: Message m1\r\nX-A: 1\r\n\
             X-B: folded\r\n  value\r\n\r\nb\r\n"
        );
        spec.headers = vec!["X-A: 1\n\nX-B: 2".into()];
        assert_eq!(render(&spec), Err(GenError::BlankLineInHeader { index: 0 }));
        spec.headers = vec![];
        spec.subject = Some("a\nb".into());
        assert_eq!(
            render(&spec),
            Err(GenError::LineBreakInField { field: "subject" })
        );
    }

    #[test]
    fn templates() {
        let vars = |name: &str| match name {
            "uid" => Some("26".to_string()),
            "uidvalidity" => Some("1700000000".to_string()),
            "id" => Some("m1".to_string()),
            _ => None,
        };
        let cases = [
            ("UID{uid}-{uidvalidity}", "UID26-1700000000"),
            ("{uid:08x}{uidvalidity:08x}", "0000001a6553f100"),
            ("{uid:08X}", "0000001A"),
            ("{uid:5}", "   26"),
            ("%08Xu%08Xv", "0000001a6553f100"),
            ("%u.%v", "26.1700000000"),
            ("%UXu", "1A"),
            ("100%% {id}", "100% m1"),
            ("{{{id}}}", "{m1}"),
            ("plain", "plain"),
        ];
        for (t, want) in cases {
            let got = Template::parse(t).unwrap().expand(vars).unwrap();
            assert_eq!(got, want, "{t}");
        }
        assert_eq!(
            Template::parse("{n}-{md5}").unwrap().variables(),
            ["n", "md5"]
        );
        assert_eq!(Template::parse("{md5}").unwrap().expand(vars), Err("md5"));
        // Widths past the bound (or past usize) are errors, not huge strings.
        let wide = [
            "{uid:1001x}",
            "{uid:99999999999999999999999}",
            "%1001u",
            "%99999999999999999999999u",
        ];
        for bad in ["{nope}", "{uid:q}", "{uid", "a}", "%f", "%"]
            .into_iter()
            .chain(wide)
        {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Template::parse("ab%g").unwrap_err().offset, 2);
    }

    #[test]
    fn ids() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let g = gmail_id("m1");
        assert_eq!(g.len(), 16);
        assert!(g.starts_with('1'));
        assert_eq!(g, gmail_id("m1"));
        assert_ne!(g, gmail_id("m2"));
    }
}
