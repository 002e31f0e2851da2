//! The wire side of a session: commands read as tokens (with literals), and replies
//! written through [`Out`] and [`Conn`] (write shaping, bare LF, bounded reads).

use super::*;

/// One token of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Atom(String),
    Str(Vec<u8>),
    Open,
    Close,
}

impl Tok {
    /// An astring's bytes: an atom or a string.
    pub(super) fn astring(&self) -> Option<&[u8]> {
        match self {
            Tok::Atom(a) => Some(a.as_bytes()),
            Tok::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A command as read: tag, tokens after the tag, and the form shown to the script.
pub(super) struct Command {
    pub(super) tag: String,
    pub(super) toks: Vec<Tok>,
    pub(super) shown: String,
}

/// Output for one reply: protocol lines with CRLF or LF, literals verbatim.
pub(super) struct Out {
    pub(super) buf: Vec<u8>,
    bare_lf: bool,
}

impl Out {
    pub(super) fn new(bare_lf: bool) -> Self {
        Out {
            buf: Vec::new(),
            bare_lf,
        }
    }

    pub(super) fn text(&mut self, s: &str) -> &mut Self {
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    pub(super) fn eol(&mut self) -> &mut Self {
        if !self.bare_lf {
            self.buf.push(b'\r');
        }
        self.buf.push(b'\n');
        self
    }

    pub(super) fn line(&mut self, s: &str) -> &mut Self {
        self.text(s).eol()
    }

    pub(super) fn literal(&mut self, data: &[u8]) -> &mut Self {
        self.text(&format!("{{{}}}", data.len())).eol();
        self.buf.extend_from_slice(data);
        self
    }

    /// A string: quoted when it can be, else a literal.
    pub(super) fn string(&mut self, s: &[u8]) -> &mut Self {
        if s.iter()
            .any(|&c| c == b'\r' || c == b'\n' || c == 0 || c >= 0x80)
        {
            self.literal(s)
        } else {
            let q = quote(s);
            self.text(&q)
        }
    }

    /// A mailbox name: an atom when it can be, else a string.
    pub(super) fn astring(&mut self, s: &str) -> &mut Self {
        let atom = !s.is_empty()
            && s.bytes()
                .all(|c| (0x21..0x7f).contains(&c) && !b"(){%*\"\\]".contains(&c));
        if atom {
            self.text(s)
        } else {
            self.string(s.as_bytes())
        }
    }
}

pub(super) fn quote(s: &[u8]) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            q.push('\\');
        }
        q.push(c as char);
    }
    q.push('"');
    q
}

/// A connection: the stream and what was read but not yet used.
pub(super) struct Conn<S> {
    pub(super) io: S,
    rbuf: Vec<u8>,
    chunk: Option<usize>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(io: S, chunk: Option<usize>) -> Self {
        Conn {
            io,
            rbuf: Vec::new(),
            chunk,
        }
    }

    pub(super) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.chunk {
            Some(n) if n > 0 => {
                for piece in bytes.chunks(n) {
                    self.io.write_all(piece).await?;
                    self.io.flush().await?;
                    tokio::task::yield_now().await;
                }
            }
            _ => {
                self.io.write_all(bytes).await?;
                self.io.flush().await?;
            }
        }
        Ok(())
    }

    /// One line without its line end; `None` at end of stream.
    pub(super) async fn line(&mut self, idle: Duration) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(lf) = self.rbuf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.rbuf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.rbuf.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if !self.fill(idle).await? {
                return Ok(None);
            }
        }
    }

    pub(super) async fn bytes(&mut self, n: usize, idle: Duration) -> io::Result<Option<Vec<u8>>> {
        while self.rbuf.len() < n {
            if !self.fill(idle).await? {
                return Ok(None);
            }
        }
        Ok(Some(self.rbuf.drain(..n).collect()))
    }

    pub(super) async fn fill(&mut self, idle: Duration) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(idle, self.io.read(&mut chunk)).await {
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.rbuf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "idle")),
        }
    }
}

/// The size of a `{n}` / `{n+}` literal announced at the end of a command line, and
/// whether it is non-synchronising.
pub(super) fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let plus = digits.last() == Some(&b'+');
    if plus {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus))
}

pub(super) fn tokenize(line: &[u8], out: &mut Vec<Tok>) -> Result<(), &'static str> {
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' => i += 1,
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            b')' => {
                out.push(Tok::Close);
                i += 1;
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match line.get(i) {
                        None => return Err("unterminated quoted string"),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let Some(&c) = line.get(i + 1) else {
                                return Err("unterminated quoted string");
                            };
                            s.push(c);
                            i += 2;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c < 0x20 || c == 0x7f => return Err("control character in command"),
            _ => {
                let start = i;
                while i < line.len() && !b" ()\"".contains(&line[i]) {
                    if line[i] == b'[' {
                        // A section may hold spaces and parentheses.
                        match line[i..].iter().position(|&b| b == b']') {
                            Some(end) => i += end,
                            None => return Err("unterminated '['"),
                        }
                    }
                    i += 1;
                }
                out.push(Tok::Atom(
                    String::from_utf8_lossy(&line[start..i]).into_owned(),
                ));
            }
        }
    }
    Ok(())
}

/// The command as the script sees it: no tag, passwords redacted.
pub(super) fn shown(toks: &[Tok]) -> String {
    let verb = match toks.first() {
        Some(Tok::Atom(a)) => a.to_ascii_uppercase(),
        _ => String::new(),
    };
    let toks: Vec<Tok> = match verb.as_str() {
        "LOGIN" => {
            let mut t: Vec<Tok> = toks.iter().take(2).cloned().collect();
            t.push(Tok::Atom("***".into()));
            t
        }
        "AUTHENTICATE" if toks.len() > 2 => {
            let mut t: Vec<Tok> = toks.iter().take(2).cloned().collect();
            t.push(Tok::Atom("***".into()));
            t
        }
        _ => toks.to_vec(),
    };
    let mut s = String::new();
    let mut prev_open = true;
    for t in &toks {
        if !prev_open && *t != Tok::Close {
            s.push(' ');
        }
        match t {
            Tok::Atom(a) => s.push_str(a),
            Tok::Str(b) => s.push_str(&quote(b)),
            Tok::Open => s.push('('),
            Tok::Close => s.push(')'),
        }
        prev_open = *t == Tok::Open;
    }
    s
}
