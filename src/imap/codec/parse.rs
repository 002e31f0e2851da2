//! The response parser behind [`decode`](super::decode): one framed response, read token
//! by token (atoms, numbers, quoted strings, literals, response codes, FETCH items).

use super::*;

pub(super) struct Parser<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
    pub(super) limits: &'a CodecLimits,
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

    pub(super) fn response(&mut self) -> PResult<Response> {
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
