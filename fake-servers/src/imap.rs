//! A scriptable fake IMAP server serving the IMAP view of a [`World`].
//!
//! Replies are derived from the world, then bent by the [`Script`] (delays, replacement
//! replies, disconnects, truncation) and shaped by [`ImapOptions`] (capabilities, TLS,
//! writes split into chunks, bare LF line ends). It serves any client, Dovecot's imapc
//! included: imapc's whole command set is here (LOGIN, LIST, STATUS, LSUB, EXAMINE,
//! UID FETCH of FLAGS, RFC822.SIZE, `BODY.PEEK[HEADER]`, INTERNALDATE, SAVEDATE and
//! `BODY.PEEK[]`, LOGOUT), plus SELECT, SEARCH, AUTHENTICATE PLAIN, ID, ENABLE, NAMESPACE,
//! NOOP, CHECK, CLOSE and STARTTLS. Anything else gets `BAD`. The server never changes
//! the world itself; timeline events do, and each session learns about it on its next
//! command (`* n EXPUNGE`, `* n EXISTS`), as RFC 3501 prescribes.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::script::{Protocol, Script};
use crate::tls::TestCa;
use crate::world::{ImapMailbox, ImapMessage, SharedWorld, World};

/// How the server offers TLS.
#[derive(Clone, Debug, Default)]
pub enum TlsMode {
    /// Plaintext only.
    #[default]
    None,
    /// Plaintext first; STARTTLS upgrades with this CA's certificate.
    StartTls(TestCa),
    /// TLS from the first byte (IMAPS).
    Implicit(TestCa),
}

/// Which capabilities the server announces (and so which commands it accepts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub literal_plus: bool,
    pub sasl_ir: bool,
    /// `AUTH=PLAIN`: AUTHENTICATE PLAIN is accepted only when announced.
    pub auth_plain: bool,
    pub id: bool,
    pub enable: bool,
    pub namespace: bool,
    /// `SAVEDATE`: the FETCH item is accepted only when announced, as imapc asks for
    /// it only then.
    pub savedate: bool,
    /// Announce STARTTLS when [`TlsMode::StartTls`] offers it (before TLS and login).
    pub starttls: bool,
    /// Further words appended verbatim, e.g. `X-GM-EXT-1`.
    pub extra: Vec<String>,
}

impl Default for Capabilities {
    /// Close to what Dovecot announces, without SAVEDATE.
    fn default() -> Self {
        Capabilities {
            literal_plus: true,
            sasl_ir: true,
            auth_plain: true,
            id: true,
            enable: true,
            namespace: true,
            savedate: false,
            starttls: true,
            extra: Vec::new(),
        }
    }
}

/// Server behaviour that is not in the world.
#[derive(Clone, Debug)]
pub struct ImapOptions {
    pub tls: TlsMode,
    /// Put `[CAPABILITY ...]` in the greeting (Dovecot does). Without it imapc sends
    /// CAPABILITY first.
    pub greeting_capability: bool,
    pub capabilities: Capabilities,
    /// Send every reply in pieces of at most this many bytes, each flushed on its own.
    pub write_chunk: Option<usize>,
    /// End protocol lines with LF instead of CRLF (literal data is left alone).
    pub bare_lf: bool,
    /// Send `[UIDNEXT n]` on SELECT/EXAMINE. Without it imapc asks STATUS (UIDNEXT).
    pub uidnext_on_select: bool,
    /// A session silent for this long is closed with `* BYE`.
    pub idle_timeout: Duration,
}

impl Default for ImapOptions {
    fn default() -> Self {
        ImapOptions {
            tls: TlsMode::None,
            greeting_capability: true,
            capabilities: Capabilities::default(),
            write_chunk: None,
            bare_lf: false,
            uidnext_on_select: true,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Longest command line accepted.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest literal accepted inside a command.
pub const MAX_COMMAND_LITERAL: usize = 64 * 1024;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// Accepts connections on `listener` until `shutdown` completes, then closes every
/// session. Each connection is one session over the shared `world`.
pub async fn serve(
    listener: TcpListener,
    world: SharedWorld,
    script: Script,
    options: ImapOptions,
    shutdown: impl Future<Output = ()>,
) {
    let options = Arc::new(options);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let id = script.open_session(Protocol::Imap);
                    let session = Session::new(id, world.clone(), script.clone(), options.clone());
                    sessions.spawn(session.run(tcp));
                }
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}

/// One token of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Atom(String),
    Str(Vec<u8>),
    Open,
    Close,
}

impl Tok {
    /// An astring's bytes: an atom or a string.
    fn astring(&self) -> Option<&[u8]> {
        match self {
            Tok::Atom(a) => Some(a.as_bytes()),
            Tok::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A command as read: tag, tokens after the tag, and the form shown to the script.
struct Command {
    tag: String,
    toks: Vec<Tok>,
    shown: String,
}

enum Read {
    Command(Command),
    /// A line that is not a command (no tag); answered with an untagged BAD.
    Garbage,
    Eof,
}

/// What the session does after a reply.
enum Flow {
    Continue,
    Close,
    StartTls,
}

#[derive(Clone, Debug)]
enum State {
    NotAuthenticated,
    Authenticated,
    Selected {
        mailbox: String,
        /// UIDs by sequence number, as this session has been told.
        view: Vec<u32>,
    },
}

/// Output for one reply: protocol lines with CRLF or LF, literals verbatim.
struct Out {
    buf: Vec<u8>,
    bare_lf: bool,
}

impl Out {
    fn new(bare_lf: bool) -> Self {
        Out {
            buf: Vec::new(),
            bare_lf,
        }
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    fn eol(&mut self) -> &mut Self {
        if !self.bare_lf {
            self.buf.push(b'\r');
        }
        self.buf.push(b'\n');
        self
    }

    fn line(&mut self, s: &str) -> &mut Self {
        self.text(s).eol()
    }

    fn literal(&mut self, data: &[u8]) -> &mut Self {
        self.text(&format!("{{{}}}", data.len())).eol();
        self.buf.extend_from_slice(data);
        self
    }

    /// A string: quoted when it can be, else a literal.
    fn string(&mut self, s: &[u8]) -> &mut Self {
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
    fn astring(&mut self, s: &str) -> &mut Self {
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

fn quote(s: &[u8]) -> String {
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
struct Conn<S> {
    io: S,
    rbuf: Vec<u8>,
    chunk: Option<usize>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(io: S, chunk: Option<usize>) -> Self {
        Conn {
            io,
            rbuf: Vec::new(),
            chunk,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
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
    async fn line(&mut self, idle: Duration) -> io::Result<Option<Vec<u8>>> {
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

    async fn bytes(&mut self, n: usize, idle: Duration) -> io::Result<Option<Vec<u8>>> {
        while self.rbuf.len() < n {
            if !self.fill(idle).await? {
                return Ok(None);
            }
        }
        Ok(Some(self.rbuf.drain(..n).collect()))
    }

    async fn fill(&mut self, idle: Duration) -> io::Result<bool> {
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
fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
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

fn tokenize(line: &[u8], out: &mut Vec<Tok>) -> Result<(), &'static str> {
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
fn shown(toks: &[Tok]) -> String {
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

/// A sequence set: ranges of numbers where `None` stands for `*`.
type SeqSet = Vec<(Option<u32>, Option<u32>)>;

fn parse_set(s: &str) -> Option<SeqSet> {
    let number = |p: &str| -> Option<Option<u32>> {
        if p == "*" {
            Some(None)
        } else {
            let n: u32 = p.parse().ok()?;
            (n > 0 && p.bytes().all(|b| b.is_ascii_digit())).then_some(Some(n))
        }
    };
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => Some((number(a)?, number(b)?)),
            None => {
                let n = number(part)?;
                Some((n, n))
            }
        })
        .collect()
}

/// A FETCH data item the server can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Uid,
    Flags,
    Size,
    InternalDate,
    SaveDate,
    /// `BODY[section]` (answered as `BODY[...]` even when asked as PEEK).
    Body {
        section: Part,
        partial: Option<(u32, u32)>,
    },
    Rfc822(Part),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Full,
    Header,
    Text,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Full => "",
            Part::Header => "HEADER",
            Part::Text => "TEXT",
        }
    }

    fn bytes(self, m: &ImapMessage) -> &[u8] {
        match self {
            Part::Full => &m.full,
            Part::Header => &m.header,
            Part::Text => &m.text,
        }
    }
}

fn parse_item(name: &str, savedate: bool) -> Option<Vec<Item>> {
    let upper = name.to_ascii_uppercase();
    let simple = match upper.as_str() {
        "UID" => Some(Item::Uid),
        "FLAGS" => Some(Item::Flags),
        "RFC822.SIZE" => Some(Item::Size),
        "INTERNALDATE" => Some(Item::InternalDate),
        "SAVEDATE" if savedate => Some(Item::SaveDate),
        "RFC822" => Some(Item::Rfc822(Part::Full)),
        "RFC822.HEADER" => Some(Item::Rfc822(Part::Header)),
        "RFC822.TEXT" => Some(Item::Rfc822(Part::Text)),
        "FAST" => return Some(vec![Item::Flags, Item::InternalDate, Item::Size]),
        _ => None,
    };
    if let Some(item) = simple {
        return Some(vec![item]);
    }
    let rest = upper
        .strip_prefix("BODY.PEEK[")
        .or_else(|| upper.strip_prefix("BODY["))?;
    let (section, tail) = rest.split_once(']')?;
    let section = match section {
        "" => Part::Full,
        "HEADER" => Part::Header,
        "TEXT" => Part::Text,
        _ => return None,
    };
    let partial = if tail.is_empty() {
        None
    } else {
        let inner = tail.strip_prefix('<')?.strip_suffix('>')?;
        let (o, n) = inner.split_once('.')?;
        Some((o.parse().ok()?, n.parse().ok()?))
    };
    Some(vec![Item::Body { section, partial }])
}

/// One session.
struct Session {
    id: u64,
    nth: u64,
    state: State,
    tls_active: bool,
    world: SharedWorld,
    script: Script,
    opts: Arc<ImapOptions>,
}

impl Session {
    fn new(id: u64, world: SharedWorld, script: Script, opts: Arc<ImapOptions>) -> Self {
        Session {
            id,
            nth: 0,
            state: State::NotAuthenticated,
            tls_active: false,
            world,
            script,
            opts,
        }
    }

    async fn run(mut self, tcp: TcpStream) {
        let chunk = self.opts.write_chunk;
        match self.opts.tls.clone() {
            TlsMode::Implicit(ca) => {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, ca.acceptor().accept(tcp)).await
                else {
                    return;
                };
                self.tls_active = true;
                let mut conn = Conn::new(tls, chunk);
                if self.greet(&mut conn).await.is_ok() {
                    let _ = self.serve_conn(&mut conn).await;
                }
            }
            mode => {
                let mut conn = Conn::new(tcp, chunk);
                if self.greet(&mut conn).await.is_err() {
                    return;
                }
                let Ok(Flow::StartTls) = self.serve_conn(&mut conn).await else {
                    return;
                };
                let TlsMode::StartTls(ca) = mode else {
                    return;
                };
                // Anything the client sent after STARTTLS was plaintext: dropped.
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, ca.acceptor().accept(conn.io)).await
                else {
                    return;
                };
                self.tls_active = true;
                let mut conn = Conn::new(tls, chunk);
                let _ = self.serve_conn(&mut conn).await;
            }
        }
    }

    fn capability_list(&self) -> String {
        let c = &self.opts.capabilities;
        let mut caps = vec!["IMAP4rev1".to_string()];
        let mut add = |on: bool, name: &str| {
            if on {
                caps.push(name.to_string());
            }
        };
        add(c.sasl_ir, "SASL-IR");
        add(c.id, "ID");
        add(c.enable, "ENABLE");
        add(c.literal_plus, "LITERAL+");
        add(c.namespace, "NAMESPACE");
        add(c.savedate, "SAVEDATE");
        add(
            c.starttls
                && matches!(self.opts.tls, TlsMode::StartTls(_))
                && !self.tls_active
                && matches!(self.state, State::NotAuthenticated),
            "STARTTLS",
        );
        add(c.auth_plain, "AUTH=PLAIN");
        caps.extend(c.extra.iter().cloned());
        caps.join(" ")
    }

    async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> io::Result<()> {
        let mut out = Out::new(self.opts.bare_lf);
        if self.opts.greeting_capability {
            out.line(&format!(
                "* OK [CAPABILITY {}] uidlmap fake IMAP server ready.",
                self.capability_list()
            ));
        } else {
            out.line("* OK uidlmap fake IMAP server ready.");
        }
        conn.send(&out.buf).await
    }

    /// Serves commands until the client leaves, the connection breaks or STARTTLS.
    async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> io::Result<Flow> {
        loop {
            let command = match self.read_command(conn).await {
                Ok(Read::Command(c)) => c,
                Ok(Read::Garbage) => {
                    let mut out = Out::new(self.opts.bare_lf);
                    out.line("* BAD Error in IMAP command received by server.");
                    conn.send(&out.buf).await?;
                    continue;
                }
                Ok(Read::Eof) => return Ok(Flow::Close),
                Err(e) => {
                    let mut out = Out::new(self.opts.bare_lf);
                    if e.kind() == io::ErrorKind::TimedOut {
                        out.line("* BYE Disconnected for inactivity.");
                    } else {
                        out.line("* BYE Command line too long or malformed.");
                    }
                    let _ = conn.send(&out.buf).await;
                    return Err(e);
                }
            };
            self.nth += 1;
            let nth = self.nth;
            let directive =
                self.script
                    .before(&self.world, Protocol::Imap, self.id, nth, &command.shown);
            if let Some(delay) = directive.delay {
                tokio::time::sleep(delay).await;
            }
            if directive.disconnect {
                return Ok(Flow::Close);
            }
            let (bytes, flow) = match &directive.reply {
                // A replacement reply stands for the whole answer: the command is not
                // carried out, so the session's state does not move.
                Some(reply) => (replace_tag(reply, &command.tag), Flow::Continue),
                None => {
                    let mut out = Out::new(self.opts.bare_lf);
                    let flow = self.handle(conn, &command, &mut out).await?;
                    (out.buf, flow)
                }
            };
            if let Some(n) = directive.truncate {
                conn.send(&bytes[..n.min(bytes.len())]).await?;
                return Ok(Flow::Close);
            }
            conn.send(&bytes).await?;
            self.script
                .after(&self.world, Protocol::Imap, nth, &command.shown);
            match flow {
                Flow::Continue => {}
                other => return Ok(other),
            }
        }
    }

    async fn read_command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> io::Result<Read> {
        let idle = self.opts.idle_timeout;
        let mut toks = Vec::new();
        loop {
            let Some(line) = conn.line(idle).await? else {
                return Ok(Read::Eof);
            };
            let literal = literal_at_end(&line);
            let text = match literal {
                Some(_) => &line[..line.iter().rposition(|&b| b == b'{').unwrap_or(0)],
                None => &line[..],
            };
            if tokenize(text, &mut toks).is_err() {
                return Ok(Read::Garbage);
            }
            let Some((size, nonsync)) = literal else {
                break;
            };
            if size > MAX_COMMAND_LITERAL as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "command literal too large",
                ));
            }
            if !nonsync {
                let mut out = Out::new(self.opts.bare_lf);
                out.line("+ OK");
                conn.send(&out.buf).await?;
            }
            let Some(data) = conn.bytes(size as usize, idle).await? else {
                return Ok(Read::Eof);
            };
            toks.push(Tok::Str(data));
        }
        if toks.is_empty() {
            return Ok(Read::Garbage);
        }
        let tag = match toks.remove(0) {
            Tok::Atom(t) if !t.contains(['+', '*', '{', '%']) => t,
            _ => return Ok(Read::Garbage),
        };
        Ok(Read::Command(Command {
            tag,
            shown: shown(&toks),
            toks,
        }))
    }

    fn tagged(&self, out: &mut Out, tag: &str, text: &str) {
        out.line(&format!("{tag} {text}"));
    }

    async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        command: &Command,
        out: &mut Out,
    ) -> io::Result<Flow> {
        let tag = command.tag.as_str();
        let toks = &command.toks;
        let verb = match toks.first() {
            Some(Tok::Atom(a)) => a.to_ascii_uppercase(),
            _ => {
                self.tagged(out, tag, "BAD Error in IMAP command: Unknown command.");
                return Ok(Flow::Continue);
            }
        };
        let args = &toks[1..];
        let authenticated = !matches!(self.state, State::NotAuthenticated);
        let selected = matches!(self.state, State::Selected { .. });
        // Pending world changes are told before the reply; not during FETCH, STORE
        // or SEARCH by sequence number, where RFC 3501 forbids EXPUNGE.
        if selected {
            let uid_cmd = verb == "UID";
            let seq_cmd = matches!(verb.as_str(), "FETCH" | "STORE" | "SEARCH");
            self.sync(out, uid_cmd || !seq_cmd);
        }
        match verb.as_str() {
            "CAPABILITY" if args.is_empty() => {
                out.line(&format!("* CAPABILITY {}", self.capability_list()));
                self.tagged(
                    out,
                    tag,
                    "OK Pre-login capabilities listed, post-login capabilities have more.",
                );
            }
            "NOOP" if args.is_empty() => self.tagged(out, tag, "OK NOOP completed."),
            "LOGOUT" if args.is_empty() => {
                out.line("* BYE Logging out");
                self.tagged(out, tag, "OK Logout completed.");
                return Ok(Flow::Close);
            }
            "ID" if self.opts.capabilities.id && !args.is_empty() => {
                out.line("* ID (\"name\" \"uidlmap-fake-servers\")");
                self.tagged(out, tag, "OK ID completed.");
            }
            "STARTTLS" if args.is_empty() => {
                if !matches!(self.opts.tls, TlsMode::StartTls(_)) {
                    self.tagged(out, tag, "NO TLS is not available.");
                } else if self.tls_active {
                    self.tagged(out, tag, "BAD TLS is already active.");
                } else if authenticated {
                    self.tagged(out, tag, "BAD STARTTLS is only valid before login.");
                } else {
                    self.tagged(out, tag, "OK Begin TLS negotiation now.");
                    return Ok(Flow::StartTls);
                }
            }
            "LOGIN" if !authenticated => match (
                args.first().and_then(Tok::astring),
                args.get(1).and_then(Tok::astring),
            ) {
                (Some(user), Some(pass)) if args.len() == 2 => {
                    let ok = self.check_login(user, pass);
                    self.finish_login(out, tag, ok);
                }
                _ => self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command LOGIN: Invalid arguments.",
                ),
            },
            "AUTHENTICATE" if !authenticated => {
                return self.authenticate(conn, tag, args, out).await;
            }
            _ if !authenticated => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command: Unknown command or not valid before login.",
                );
            }
            "ENABLE" if self.opts.capabilities.enable && !args.is_empty() => {
                out.line("* ENABLED");
                self.tagged(out, tag, "OK Enabled.");
            }
            "NAMESPACE" if self.opts.capabilities.namespace && args.is_empty() => {
                let sep = self.separator();
                out.line(&format!(
                    "* NAMESPACE ((\"\" {})) NIL NIL",
                    quote(sep.to_string().as_bytes())
                ));
                self.tagged(out, tag, "OK Namespace completed.");
            }
            "LIST" | "LSUB" if args.len() == 2 => match (args[0].astring(), args[1].astring()) {
                (Some(reference), Some(pattern)) => {
                    self.list(out, &verb, reference, pattern);
                    self.tagged(
                        out,
                        tag,
                        &format!(
                            "OK {} completed.",
                            if verb == "LIST" { "List" } else { "Lsub" }
                        ),
                    );
                }
                _ => self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command LIST: Invalid arguments.",
                ),
            },
            "STATUS" if args.len() >= 2 => self.status(out, tag, args),
            "SELECT" | "EXAMINE" if args.len() == 1 => match args[0].astring() {
                Some(name) => {
                    self.select(out, tag, &String::from_utf8_lossy(name), verb == "EXAMINE")
                }
                None => self.tagged(out, tag, "BAD Error in IMAP command: Invalid arguments."),
            },
            _ if !selected => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command: Unknown command or no mailbox selected.",
                );
            }
            "CHECK" if args.is_empty() => self.tagged(out, tag, "OK Check completed."),
            "CLOSE" if args.is_empty() => {
                self.state = State::Authenticated;
                self.tagged(out, tag, "OK Close completed.");
            }
            "FETCH" => self.fetch(out, tag, args, false),
            "SEARCH" => self.search(out, tag, args, false),
            "UID" => match args.first() {
                Some(Tok::Atom(a)) if a.eq_ignore_ascii_case("FETCH") => {
                    self.fetch(out, tag, &args[1..], true)
                }
                Some(Tok::Atom(a)) if a.eq_ignore_ascii_case("SEARCH") => {
                    self.search(out, tag, &args[1..], true)
                }
                _ => self.tagged(out, tag, "BAD Error in IMAP command UID: Unknown command."),
            },
            _ => self.tagged(out, tag, "BAD Error in IMAP command: Unknown command."),
        }
        Ok(Flow::Continue)
    }

    fn check_login(&self, user: &[u8], pass: &[u8]) -> bool {
        let w = self.world.lock();
        w.user.as_bytes() == user && w.password.as_bytes() == pass
    }

    fn finish_login(&mut self, out: &mut Out, tag: &str, ok: bool) {
        if ok {
            self.state = State::Authenticated;
            let caps = self.capability_list();
            self.tagged(out, tag, &format!("OK [CAPABILITY {caps}] Logged in"));
        } else {
            self.tagged(out, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
        }
    }

    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        tag: &str,
        args: &[Tok],
        out: &mut Out,
    ) -> io::Result<Flow> {
        let mechanism = match args.first() {
            Some(Tok::Atom(m)) => m.to_ascii_uppercase(),
            _ => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid arguments.",
                );
                return Ok(Flow::Continue);
            }
        };
        if mechanism != "PLAIN" || !self.opts.capabilities.auth_plain {
            self.tagged(out, tag, "NO Unsupported authentication mechanism.");
            return Ok(Flow::Continue);
        }
        let response = match args.get(1) {
            Some(_) if !self.opts.capabilities.sasl_ir => {
                self.tagged(out, tag, "BAD Initial response not allowed (no SASL-IR).");
                return Ok(Flow::Continue);
            }
            Some(Tok::Atom(ir)) => ir.clone().into_bytes(),
            Some(_) => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid arguments.",
                );
                return Ok(Flow::Continue);
            }
            None => {
                let mut cont = Out::new(self.opts.bare_lf);
                cont.line("+ ");
                conn.send(&cont.buf).await?;
                match conn.line(self.opts.idle_timeout).await? {
                    Some(line) => line,
                    None => return Ok(Flow::Close),
                }
            }
        };
        if response == b"*" {
            self.tagged(out, tag, "BAD Authentication aborted by client.");
            return Ok(Flow::Continue);
        }
        let decoded = if response == b"=" {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(&response)
                .ok()
        };
        let Some(decoded) = decoded else {
            self.tagged(out, tag, "BAD Invalid base64 data in continued response");
            return Ok(Flow::Continue);
        };
        let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let ok = match fields.as_slice() {
            [authz, user, pass] => {
                (authz.is_empty() || authz == user) && self.check_login(user, pass)
            }
            _ => false,
        };
        self.finish_login(out, tag, ok);
        Ok(Flow::Continue)
    }

    fn separator(&self) -> char {
        self.world.lock().imap.separator
    }

    /// Tells the session about messages that left or arrived since it last looked.
    fn sync(&mut self, out: &mut Out, allow_expunge: bool) {
        let State::Selected { mailbox, view, .. } = &mut self.state else {
            return;
        };
        let current: Vec<u32> = {
            let w = self.world.lock();
            find_mailbox(&w, mailbox)
                .map(|m| m.messages.iter().map(|m| m.uid).collect())
                .unwrap_or_default()
        };
        if *view == current {
            return;
        }
        if allow_expunge {
            let present: HashSet<u32> = current.iter().copied().collect();
            let mut i = 0;
            while i < view.len() {
                // Numbered as the client sees them at that moment: later ones shift down.
                if !present.contains(&view[i]) {
                    out.line(&format!("* {} EXPUNGE", i + 1));
                    view.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        let last = view.iter().copied().max().unwrap_or(0);
        let before = view.len();
        view.extend(current.iter().copied().filter(|&u| u > last));
        if view.len() != before {
            out.line(&format!("* {} EXISTS", view.len()));
        }
    }

    fn list(&self, out: &mut Out, verb: &str, reference: &[u8], pattern: &[u8]) {
        let w = self.world.lock();
        let sep = w.imap.separator;
        if pattern.is_empty() {
            if verb == "LIST" {
                out.text("* LIST (\\Noselect) ")
                    .text(&quote(sep.to_string().as_bytes()))
                    .line(" \"\"");
            }
            return;
        }
        let mut full = String::from_utf8_lossy(reference).into_owned();
        full.push_str(&String::from_utf8_lossy(pattern));
        let full = normalise_inbox(&full, sep);
        let names: Vec<&str> = w.imap.mailboxes.iter().map(|m| m.name.as_str()).collect();
        // Parents that are not mailboxes themselves are listed as \Noselect.
        let mut candidates: Vec<(String, bool)> = Vec::new();
        for name in &names {
            let mut prefix = String::new();
            for (i, part) in name.split(sep).enumerate() {
                if i > 0 {
                    prefix.push(sep);
                }
                prefix.push_str(part);
                let exists = names.contains(&prefix.as_str());
                if !candidates.iter().any(|(n, _)| *n == prefix) {
                    candidates.push((prefix.clone(), exists));
                }
            }
        }
        for (name, exists) in candidates {
            if !wildcard_match(&full, &normalise_inbox(&name, sep), sep) {
                continue;
            }
            if verb == "LSUB" && !exists {
                continue;
            }
            let children = names.iter().any(|n| {
                n.len() > name.len() && n.starts_with(&name) && n[name.len()..].starts_with(sep)
            });
            let mut attrs = Vec::new();
            if verb == "LIST" {
                if !exists {
                    attrs.push("\\Noselect");
                }
                attrs.push(if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
            }
            out.text(&format!("* {verb} ({}) ", attrs.join(" ")))
                .text(&quote(sep.to_string().as_bytes()))
                .text(" ")
                .astring(&name)
                .eol();
        }
    }

    fn status(&self, out: &mut Out, tag: &str, args: &[Tok]) {
        let Some(name) = args[0].astring() else {
            self.tagged(
                out,
                tag,
                "BAD Error in IMAP command STATUS: Invalid arguments.",
            );
            return;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let items: Vec<String> = match &args[1..] {
            [Tok::Open, inner @ .., Tok::Close] => inner
                .iter()
                .map(|t| match t {
                    Tok::Atom(a) => a.to_ascii_uppercase(),
                    _ => String::new(),
                })
                .collect(),
            _ => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command STATUS: Status items must be a list.",
                );
                return;
            }
        };
        let w = self.world.lock();
        let Some(mb) = find_mailbox(&w, &name) else {
            drop(w);
            self.tagged(
                out,
                tag,
                &format!("NO [NONEXISTENT] Mailbox doesn't exist: {name}"),
            );
            return;
        };
        let mut values = Vec::new();
        for item in &items {
            let v = match item.as_str() {
                "MESSAGES" => mb.messages.len() as u64,
                "RECENT" => 0,
                "UIDNEXT" => u64::from(mb.uidnext),
                "UIDVALIDITY" => u64::from(mb.uidvalidity),
                "UNSEEN" => mb
                    .messages
                    .iter()
                    .filter(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                    .count() as u64,
                _ => {
                    drop(w);
                    self.tagged(
                        out,
                        tag,
                        "BAD Error in IMAP command STATUS: Invalid status item.",
                    );
                    return;
                }
            };
            values.push(format!("{item} {v}"));
        }
        let shown_name = mb.name.clone();
        drop(w);
        out.text("* STATUS ")
            .astring(&shown_name)
            .line(&format!(" ({})", values.join(" ")));
        self.tagged(out, tag, "OK Status completed.");
    }

    fn select(&mut self, out: &mut Out, tag: &str, name: &str, read_only: bool) {
        let found = {
            let w = self.world.lock();
            find_mailbox(&w, name).map(|mb| {
                (
                    mb.name.clone(),
                    mb.messages.iter().map(|m| m.uid).collect::<Vec<u32>>(),
                    mb.uidvalidity,
                    mb.uidnext,
                )
            })
        };
        let Some((mailbox, view, uidvalidity, uidnext)) = found else {
            // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
            self.state = State::Authenticated;
            self.tagged(
                out,
                tag,
                &format!("NO [NONEXISTENT] Mailbox doesn't exist: {name}"),
            );
            return;
        };
        out.line(&format!("* FLAGS ({SYSTEM_FLAGS})"));
        if read_only {
            out.line("* OK [PERMANENTFLAGS ()] Read-only mailbox.");
        } else {
            out.line(&format!(
                "* OK [PERMANENTFLAGS ({SYSTEM_FLAGS} \\*)] Flags permitted."
            ));
        }
        out.line(&format!("* {} EXISTS", view.len()));
        out.line("* 0 RECENT");
        out.line(&format!("* OK [UIDVALIDITY {uidvalidity}] UIDs valid"));
        if self.opts.uidnext_on_select {
            out.line(&format!("* OK [UIDNEXT {uidnext}] Predicted next UID"));
        }
        self.state = State::Selected { mailbox, view };
        if read_only {
            self.tagged(out, tag, "OK [READ-ONLY] Examine completed.");
        } else {
            self.tagged(out, tag, "OK [READ-WRITE] Select completed.");
        }
    }

    fn search(&self, out: &mut Out, tag: &str, args: &[Tok], uid: bool) {
        let State::Selected { view, .. } = &self.state else {
            return;
        };
        let all = matches!(args, [Tok::Atom(a)] if a.eq_ignore_ascii_case("ALL"));
        if !all {
            self.tagged(
                out,
                tag,
                "BAD Error in IMAP command SEARCH: Only ALL is supported here.",
            );
            return;
        }
        let mut line = String::from("* SEARCH");
        for (i, u) in view.iter().enumerate() {
            let _ = write!(line, " {}", if uid { *u } else { i as u32 + 1 });
        }
        out.line(&line);
        self.tagged(out, tag, "OK Search completed.");
    }

    fn fetch(&self, out: &mut Out, tag: &str, args: &[Tok], uid_mode: bool) {
        let State::Selected { mailbox, view } = &self.state else {
            return;
        };
        let name = if uid_mode { "UID FETCH" } else { "FETCH" };
        let bad = |out: &mut Out, why: &str| {
            self.tagged(
                out,
                tag,
                &format!("BAD Error in IMAP command {name}: {why}"),
            );
        };
        let Some(Tok::Atom(set)) = args.first() else {
            return bad(out, "Invalid arguments.");
        };
        let Some(set) = parse_set(set) else {
            return bad(out, "Invalid messageset.");
        };
        let item_toks: Vec<&Tok> = match &args[1..] {
            [Tok::Open, inner @ .., Tok::Close] => inner.iter().collect(),
            [single @ Tok::Atom(_)] => vec![single],
            _ => return bad(out, "Invalid arguments."),
        };
        let savedate = self.opts.capabilities.savedate;
        let mut items = vec![Item::Uid];
        for t in item_toks {
            let parsed = match t {
                Tok::Atom(a) => parse_item(a, savedate),
                _ => None,
            };
            let Some(parsed) = parsed else {
                return bad(out, "Unknown FETCH attribute.");
            };
            for item in parsed {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
        }
        let targets: Vec<(u32, u32)> = if uid_mode {
            // The view is in UID order: each range is a slice of it.
            let star = view.last().copied().unwrap_or(0);
            let mut seqs: Vec<usize> = Vec::new();
            for &(a, b) in &set {
                let (a, b) = (a.unwrap_or(star), b.unwrap_or(star));
                let (lo, hi) = (a.min(b), a.max(b));
                let start = view.partition_point(|&u| u < lo);
                let end = view.partition_point(|&u| u <= hi);
                seqs.extend(start..end);
            }
            seqs.sort_unstable();
            seqs.dedup();
            seqs.into_iter().map(|i| (i as u32 + 1, view[i])).collect()
        } else {
            let star = view.len() as u32;
            let valid = star > 0
                && set
                    .iter()
                    .all(|&(a, b)| a.is_none_or(|n| n <= star) && b.is_none_or(|n| n <= star));
            if !valid {
                return bad(out, "Invalid messageset.");
            }
            let mut seqs: Vec<u32> = Vec::new();
            for &(a, b) in &set {
                let (a, b) = (a.unwrap_or(star), b.unwrap_or(star));
                seqs.extend(a.min(b)..=a.max(b));
            }
            seqs.sort_unstable();
            seqs.dedup();
            seqs.into_iter()
                .map(|s| (s, view[s as usize - 1]))
                .collect()
        };
        let w = self.world.lock();
        let Some(mb) = find_mailbox(&w, mailbox) else {
            drop(w);
            self.tagged(out, tag, "NO Mailbox was deleted.");
            return;
        };
        for (seq, uid) in targets {
            // A message gone from the world but not yet reported gets no reply.
            let Some(m) = message_by_uid(mb, uid) else {
                continue;
            };
            out.text(&format!("* {seq} FETCH ("));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.text(" ");
                }
                match item {
                    Item::Uid => out.text(&format!("UID {uid}")),
                    Item::Flags => out.text(&format!("FLAGS ({})", m.flags.join(" "))),
                    Item::Size => out.text(&format!("RFC822.SIZE {}", m.size())),
                    Item::InternalDate => {
                        out.text(&format!("INTERNALDATE \"{}\"", m.internal_date))
                    }
                    // The world keeps no save date; the arrival date stands in for it.
                    Item::SaveDate => out.text(&format!("SAVEDATE \"{}\"", m.internal_date)),
                    Item::Body { section, partial } => {
                        let data = section.bytes(m);
                        match partial {
                            None => out
                                .text(&format!("BODY[{}] ", section.name()))
                                .literal(data),
                            Some((origin, len)) => {
                                let start = (*origin as usize).min(data.len());
                                let end = start.saturating_add(*len as usize).min(data.len());
                                out.text(&format!("BODY[{}]<{origin}> ", section.name()))
                                    .literal(&data[start..end])
                            }
                        }
                    }
                    Item::Rfc822(part) => {
                        let name = match part {
                            Part::Full => "RFC822",
                            Part::Header => "RFC822.HEADER",
                            Part::Text => "RFC822.TEXT",
                        };
                        out.text(&format!("{name} ")).literal(part.bytes(m))
                    }
                };
            }
            out.line(")");
        }
        drop(w);
        self.tagged(out, tag, "OK Fetch completed.");
    }
}

fn replace_tag(reply: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    let mut i = 0;
    while i < reply.len() {
        if reply[i..].starts_with(b"{tag}") {
            out.extend_from_slice(tag.as_bytes());
            i += 5;
        } else {
            out.push(reply[i]);
            i += 1;
        }
    }
    out
}

/// Messages are kept in UID order by `append`; a world built otherwise is still served.
fn message_by_uid(mb: &ImapMailbox, uid: u32) -> Option<&ImapMessage> {
    match mb.messages.binary_search_by_key(&uid, |m| m.uid) {
        Ok(i) => Some(&mb.messages[i]),
        Err(_) => mb.messages.iter().find(|m| m.uid == uid),
    }
}

fn find_mailbox<'w>(w: &'w World, name: &str) -> Option<&'w ImapMailbox> {
    let sep = w.imap.separator;
    let wanted = normalise_inbox(name, sep);
    w.imap
        .mailboxes
        .iter()
        .find(|m| normalise_inbox(&m.name, sep) == wanted)
}

/// INBOX is case-insensitive, including as the first level of a hierarchy.
fn normalise_inbox(name: &str, sep: char) -> String {
    let head_len = name.find(sep).unwrap_or(name.len());
    if name[..head_len].eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &name[head_len..])
    } else {
        name.to_string()
    }
}

/// LIST pattern matching: `*` matches anything, `%` anything but the separator.
fn wildcard_match(pattern: &str, name: &str, sep: char) -> bool {
    let n: Vec<char> = name.chars().collect();
    // dp[j]: the pattern read so far matches the first j characters of the name.
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for pc in pattern.chars() {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = match pc {
                '*' => dp[j] || (j > 0 && next[j - 1]),
                '%' => dp[j] || (j > 0 && next[j - 1] && n[j - 1] != sep),
                c => j > 0 && dp[j - 1] && n[j - 1] == c,
            };
        }
        dp = next;
    }
    dp[n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{CommandMatch, Event, FaultAction, Phase, Rule, WorldChange};
    use crate::world::ImapView;
    use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
    use imap_codec::imap_types::IntoStatic;
    use imap_codec::imap_types::response::{Data, Response as CResponse, Status as CStatus};
    use imap_codec::{GreetingCodec, ResponseCodec};

    const T: Duration = Duration::from_secs(10);

    fn msg(id: &str, subject: &str, body: &str) -> ImapMessage {
        ImapMessage::honest(
            id,
            format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n{body}").into_bytes(),
        )
    }

    fn world() -> World {
        let mut inbox = ImapMailbox::new("INBOX", 1795877593);
        inbox.append(msg("m1", "one", "hello\r\n"));
        inbox.append(msg("m2", "two", "second body\r\n"));
        let mut m3 = msg("m3", "three", "x\r\n");
        m3.flags = vec!["\\Seen".into()];
        inbox.append(m3);
        let mut archive = ImapMailbox::new("Archive/2023", 7);
        archive.append(msg("m4", "four", "old\r\n"));
        World {
            user: "alice".into(),
            password: "p \"w\\d".into(),
            imap: ImapView {
                separator: '/',
                mailboxes: vec![inbox, ImapMailbox::new("Sent Items", 9), archive],
            },
            ..Default::default()
        }
    }

    struct Running {
        addr: std::net::SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Running {
        async fn stop(mut self) {
            let _ = self.stop.take().map(|s| s.send(()));
            tokio::time::timeout(T, self.task)
                .await
                .expect("stops")
                .expect("no panic");
        }
    }

    async fn start(world: SharedWorld, script: Script, options: ImapOptions) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(listener, world, script, options, async {
            let _ = rx.await;
        }));
        Running {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// A raw client whose every received response is checked by imap-codec.
    struct Raw<S> {
        io: S,
        buf: Vec<u8>,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
        async fn fill(&mut self) {
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(T, self.io.read(&mut chunk))
                .await
                .expect("server answers in time")
                .expect("read");
            assert!(
                n > 0,
                "server closed; pending {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }

        async fn greeting(&mut self) -> String {
            loop {
                match GreetingCodec::default().decode(&self.buf) {
                    Ok((rest, _)) => {
                        let used = self.buf.len() - rest.len();
                        let g: Vec<u8> = self.buf.drain(..used).collect();
                        return String::from_utf8(g).unwrap();
                    }
                    Err(GreetingDecodeError::Incomplete) => self.fill().await,
                    Err(e) => panic!(
                        "invalid greeting {e:?}: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                }
            }
        }

        /// One response, validated; SAVEDATE items (unknown to imap-codec) are checked
        /// for shape and cut out before validation.
        async fn response(&mut self) -> (Vec<u8>, CResponse<'static>) {
            loop {
                let (stripped, raw_len) = strip_savedate(&self.buf);
                match ResponseCodec::default().decode(&stripped) {
                    Ok((rest, r)) => {
                        let used = raw_len(stripped.len() - rest.len());
                        let r = r.into_static();
                        let raw: Vec<u8> = self.buf.drain(..used).collect();
                        return (raw, r);
                    }
                    Err(ResponseDecodeError::Incomplete)
                    | Err(ResponseDecodeError::LiteralFound { .. }) => {}
                    Err(e) => panic!(
                        "imap-codec rejects {e:?}: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                }
                self.fill().await;
            }
        }

        async fn send(&mut self, line: &str) {
            self.io.write_all(line.as_bytes()).await.unwrap();
            self.io.write_all(b"\r\n").await.unwrap();
        }

        /// Sends a command and collects the responses up to its tagged one.
        async fn cmd(&mut self, tag: &str, command: &str) -> Vec<(String, CResponse<'static>)> {
            self.send(&format!("{tag} {command}")).await;
            self.until(tag).await
        }

        async fn until(&mut self, tag: &str) -> Vec<(String, CResponse<'static>)> {
            let mut out = Vec::new();
            loop {
                let (raw, r) = self.response().await;
                let done =
                    matches!(&r, CResponse::Status(CStatus::Tagged(t)) if t.tag.inner() == tag);
                out.push((String::from_utf8_lossy(&raw).into_owned(), r));
                if done {
                    return out;
                }
            }
        }

        async fn login(&mut self) {
            let r = self.cmd("L", "LOGIN alice \"p \\\"w\\\\d\"").await;
            assert!(
                r.last().unwrap().0.starts_with("L OK [CAPABILITY "),
                "{r:?}"
            );
        }
    }

    /// Removes ` SAVEDATE "..."` items (checking their shape) so imap-codec can judge the
    /// rest. Returns the stripped bytes and a map from stripped length to raw length.
    fn strip_savedate(buf: &[u8]) -> (Vec<u8>, impl Fn(usize) -> usize + use<>) {
        let needle = b" SAVEDATE \"";
        let mut out = Vec::with_capacity(buf.len());
        let mut cuts: Vec<(usize, usize)> = Vec::new(); // (stripped position, bytes cut)
        let mut i = 0;
        while i < buf.len() {
            if buf[i..].starts_with(needle) {
                let start = i + needle.len();
                if let Some(len) = buf[start..].iter().position(|&b| b == b'"') {
                    let date = std::str::from_utf8(&buf[start..start + len]).unwrap();
                    assert_eq!(date.len(), 26, "SAVEDATE shape: {date}");
                    cuts.push((out.len(), needle.len() + len + 1));
                    i = start + len + 1;
                    continue;
                }
            }
            out.push(buf[i]);
            i += 1;
        }
        let map = move |stripped: usize| {
            stripped
                + cuts
                    .iter()
                    .filter(|(at, _)| *at < stripped)
                    .map(|(_, n)| n)
                    .sum::<usize>()
        };
        (out, map)
    }

    async fn connect(addr: std::net::SocketAddr) -> Raw<TcpStream> {
        let io = tokio::time::timeout(T, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Raw {
            io,
            buf: Vec::new(),
        }
    }

    fn lines(r: &[(String, CResponse<'static>)]) -> Vec<String> {
        r.iter()
            .map(|(raw, _)| raw.trim_end().to_string())
            .collect()
    }

    #[tokio::test]
    async fn imapc_sequence_docs_profile() {
        tokio::time::timeout(T, async {
            let script = Script::default();
            let server = start(SharedWorld::new(world()), script.clone(), ImapOptions {
                capabilities: Capabilities { savedate: true, ..Default::default() },
                ..Default::default()
            })
            .await;
            let mut c = connect(server.addr).await;
            let g = c.greeting().await;
            assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE LITERAL+ NAMESPACE SAVEDATE AUTH=PLAIN]"), "{g}");
            let r = c.cmd("1", "LOGIN \"alice\" \"p \\\"w\\\\d\"").await;
            assert!(lines(&r)[0].starts_with("1 OK [CAPABILITY IMAP4rev1"));
            assert_eq!(lines(&c.cmd("2", "LIST \"\" \"\"").await), ["* LIST (\\Noselect) \"/\" \"\"", "2 OK List completed."]);
            assert_eq!(
                lines(&c.cmd("3", "LIST \"\" \"*\"").await),
                [
                    "* LIST (\\HasNoChildren) \"/\" INBOX",
                    "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"",
                    "* LIST (\\Noselect \\HasChildren) \"/\" Archive",
                    "* LIST (\\HasNoChildren) \"/\" Archive/2023",
                    "3 OK List completed.",
                ]
            );
            assert_eq!(
                lines(&c.cmd("4", "STATUS \"INBOX\" (UIDNEXT UIDVALIDITY)").await),
                ["* STATUS INBOX (UIDNEXT 4 UIDVALIDITY 1795877593)", "4 OK Status completed."]
            );
            assert_eq!(
                lines(&c.cmd("5", "LSUB \"\" \"*\"").await),
                [
                    "* LSUB () \"/\" INBOX",
                    "* LSUB () \"/\" \"Sent Items\"",
                    "* LSUB () \"/\" Archive/2023",
                    "5 OK Lsub completed.",
                ]
            );
            assert_eq!(
                lines(&c.cmd("7", "EXAMINE \"INBOX\"").await),
                [
                    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                    "* OK [PERMANENTFLAGS ()] Read-only mailbox.",
                    "* 3 EXISTS",
                    "* 0 RECENT",
                    "* OK [UIDVALIDITY 1795877593] UIDs valid",
                    "* OK [UIDNEXT 4] Predicted next UID",
                    "7 OK [READ-ONLY] Examine completed.",
                ]
            );
            assert_eq!(
                lines(&c.cmd("8", "UID FETCH 1:* (FLAGS)").await),
                [
                    "* 1 FETCH (UID 1 FLAGS ())",
                    "* 2 FETCH (UID 2 FLAGS ())",
                    "* 3 FETCH (UID 3 FLAGS (\\Seen))",
                    "8 OK Fetch completed.",
                ]
            );
            assert_eq!(
                lines(&c.cmd("9", "UID FETCH 1,2,3 (RFC822.SIZE)").await),
                [
                    "* 1 FETCH (UID 1 RFC822.SIZE 44)",
                    "* 2 FETCH (UID 2 RFC822.SIZE 50)",
                    "* 3 FETCH (UID 3 RFC822.SIZE 42)",
                    "9 OK Fetch completed.",
                ]
            );
            let r = c.cmd("10", "UID FETCH 1,2,3 (BODY.PEEK[HEADER])").await;
            assert_eq!(r[0].0, "* 1 FETCH (UID 1 BODY[HEADER] {37}\r\nFrom: a@example.org\r\nSubject: one\r\n\r\n)\r\n");
            let r = c.cmd("11", "UID FETCH 1,2,3 (INTERNALDATE SAVEDATE BODY.PEEK[])").await;
            assert_eq!(
                r[1].0,
                "* 2 FETCH (UID 2 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" SAVEDATE \"01-Jan-2024 00:00:00 +0000\" \
                 BODY[] {50}\r\nFrom: a@example.org\r\nSubject: two\r\n\r\nsecond body\r\n)\r\n"
            );
            let r = c.cmd("12", "LOGOUT").await;
            assert_eq!(lines(&r), ["* BYE Logging out", "12 OK Logout completed."]);
            let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
            assert_eq!(log[0], "LOGIN \"alice\" ***");
            assert_eq!(log[5], "EXAMINE \"INBOX\"");
            assert_eq!(log[7], "UID FETCH 1,2,3 (RFC822.SIZE)");
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn greeting_without_capability_and_capability_command() {
        tokio::time::timeout(T, async {
            let server = start(
                SharedWorld::new(world()),
                Script::default(),
                ImapOptions {
                    greeting_capability: false,
                    capabilities: Capabilities {
                        literal_plus: false,
                        sasl_ir: false,
                        id: false,
                        enable: false,
                        namespace: false,
                        extra: vec!["X-GM-EXT-1".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await;
            let mut c = connect(server.addr).await;
            assert_eq!(
                c.greeting().await,
                "* OK uidlmap fake IMAP server ready.\r\n"
            );
            assert_eq!(
                lines(&c.cmd("a", "CAPABILITY").await)[0],
                "* CAPABILITY IMAP4rev1 AUTH=PLAIN X-GM-EXT-1"
            );
            assert!(lines(&c.cmd("b", "ID NIL").await)[0].starts_with("b BAD"));
            // A synchronising literal gets its continuation.
            c.send("c LOGIN {5}").await;
            let (raw, _) = c.response().await;
            assert_eq!(raw, b"+ OK\r\n");
            c.io.write_all(b"alice {6}\r\n").await.unwrap();
            let (raw, _) = c.response().await;
            assert_eq!(raw, b"+ OK\r\n");
            c.io.write_all(b"p \"w\\d\r\n").await.unwrap();
            assert!(lines(&c.until("c").await)[0].starts_with("c OK [CAPABILITY"));
            assert!(lines(&c.cmd("d", "NAMESPACE").await)[0].starts_with("d BAD"));
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn literal_plus_authenticate_and_extensions() {
        tokio::time::timeout(T, async {
            let server = start(
                SharedWorld::new(world()),
                Script::default(),
                ImapOptions::default(),
            )
            .await;
            let mut c = connect(server.addr).await;
            c.greeting().await;
            assert!(
                lines(&c.cmd("a", "AUTHENTICATE PLAIN AGFsaWNlAHdyb25n").await)[0]
                    .starts_with("a NO [AUTHENTICATIONFAILED]")
            );
            // Without an initial response: continuation, then the response line.
            c.send("b AUTHENTICATE PLAIN").await;
            let (raw, _) = c.response().await;
            assert_eq!(raw, b"+ \r\n");
            c.send(&base64::engine::general_purpose::STANDARD.encode(b"\0alice\0p \"w\\d"))
                .await;
            assert!(lines(&c.until("b").await)[0].starts_with("b OK [CAPABILITY"));
            assert_eq!(
                lines(&c.cmd("c", "ID (\"name\" \"test\")").await)[0],
                "* ID (\"name\" \"uidlmap-fake-servers\")"
            );
            assert_eq!(lines(&c.cmd("d", "ENABLE CONDSTORE").await)[0], "* ENABLED");
            assert_eq!(
                lines(&c.cmd("e", "NAMESPACE").await)[0],
                "* NAMESPACE ((\"\" \"/\")) NIL NIL"
            );
            // LITERAL+: no continuation, the literal follows at once.
            c.io.write_all(b"f EXAMINE {5+}\r\ninbox\r\n")
                .await
                .unwrap();
            assert!(
                lines(&c.until("f").await)
                    .last()
                    .unwrap()
                    .starts_with("f OK [READ-ONLY]")
            );
            assert_eq!(
                lines(&c.cmd("g", "UID SEARCH ALL").await)[0],
                "* SEARCH 1 2 3"
            );
            assert_eq!(lines(&c.cmd("h", "SEARCH ALL").await)[0], "* SEARCH 1 2 3");
            assert_eq!(lines(&c.cmd("i", "NOOP").await), ["i OK NOOP completed."]);
            assert_eq!(lines(&c.cmd("j", "CHECK").await), ["j OK Check completed."]);
            assert!(lines(&c.cmd("k", "STORE 1 +FLAGS (\\Deleted)").await)[0].starts_with("k BAD"));
            assert!(lines(&c.cmd("l", "UID FETCH 1 (ENVELOPE)").await)[0].starts_with("l BAD"));
            assert!(
                lines(&c.cmd("m", "UID FETCH 1 (SAVEDATE)").await)[0].starts_with("m BAD"),
                "not advertised"
            );
            assert!(
                lines(&c.cmd("n", "FETCH 4 (UID)").await)[0].starts_with("n BAD"),
                "beyond EXISTS"
            );
            assert_eq!(lines(&c.cmd("o", "CLOSE").await), ["o OK Close completed."]);
            assert!(lines(&c.cmd("p", "FETCH 1 (UID)").await)[0].starts_with("p BAD"));
            assert!(
                lines(&c.cmd("q", "EXAMINE Nowhere").await)[0].starts_with("q NO [NONEXISTENT]")
            );
            assert!(
                lines(&c.cmd("r", "STATUS INBOX (MESSAGES UNSEEN RECENT)").await)[0]
                    == "* STATUS INBOX (MESSAGES 3 UNSEEN 2 RECENT 0)"
            );
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn fetch_forms_and_sets() {
        tokio::time::timeout(T, async {
            let mut w = world();
            // A provider quirk: BODY[HEADER] differs from the header inside BODY[], and
            // RFC822.SIZE lies.
            w.imap.mailboxes[0].messages[1].header = b"Subject: two\r\n\r\n".to_vec();
            w.imap.mailboxes[0].messages[1].rfc822_size = Some(999);
            let server = start(SharedWorld::new(w), Script::default(), ImapOptions::default()).await;
            let mut c = connect(server.addr).await;
            c.greeting().await;
            c.login().await;
            c.cmd("s", "SELECT INBOX").await;
            assert_eq!(
                lines(&c.cmd("a", "UID FETCH 3:2 (RFC822.SIZE)").await),
                ["* 2 FETCH (UID 2 RFC822.SIZE 999)", "* 3 FETCH (UID 3 RFC822.SIZE 42)", "a OK Fetch completed."]
            );
            assert_eq!(
                lines(&c.cmd("b", "UID FETCH 9:* UID").await),
                ["* 3 FETCH (UID 3)", "b OK Fetch completed."],
                "n:* includes the last message even when n is larger"
            );
            assert_eq!(
                lines(&c.cmd("c", "FETCH 2,* (FLAGS)").await),
                ["* 2 FETCH (UID 2 FLAGS ())", "* 3 FETCH (UID 3 FLAGS (\\Seen))", "c OK Fetch completed."]
            );
            let r = c.cmd("d", "UID FETCH 2 (BODY[HEADER] BODY.PEEK[TEXT] RFC822.HEADER)").await;
            assert_eq!(r[0].0, "* 2 FETCH (UID 2 BODY[HEADER] {16}\r\nSubject: two\r\n\r\n BODY[TEXT] {13}\r\nsecond body\r\n RFC822.HEADER {16}\r\nSubject: two\r\n\r\n)\r\n");
            let r = c.cmd("e", "UID FETCH 1 (BODY.PEEK[]<6.9>)").await;
            assert_eq!(r[0].0, "* 1 FETCH (UID 1 BODY[]<6> {9}\r\na@example)\r\n");
            assert_eq!(lines(&c.cmd("f", "UID FETCH 4:10 (UID)").await), ["f OK Fetch completed."]);
            assert_eq!(lines(&c.cmd("g", "UID FETCH 1 FAST").await)[0], "* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" RFC822.SIZE 44)");
            assert!(lines(&c.cmd("h", "UID FETCH 0 (UID)").await)[0].starts_with("h BAD"));
            assert!(lines(&c.cmd("i", "UID FETCH x (UID)").await)[0].starts_with("i BAD"));
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn world_changes_reach_the_session_before_the_tagged_reply() {
        tokio::time::timeout(T, async {
            let world = SharedWorld::new(world());
            let script = Script::new(
                vec![],
                vec![Event {
                    on: CommandMatch {
                        protocol: Some(Protocol::Imap),
                        contains: Some("RFC822.SIZE".into()),
                        ..Default::default()
                    },
                    phase: Phase::After,
                    nth: 1,
                    changes: vec![
                        WorldChange::ImapExpunge { id: "m1".into() },
                        WorldChange::ImapExpunge { id: "m3".into() },
                        WorldChange::ImapDeliver {
                            mailbox: "INBOX".into(),
                            message: msg("m5", "five", "new\r\n"),
                        },
                    ],
                }],
            );
            let server = start(world.clone(), script, ImapOptions::default()).await;
            let mut c = connect(server.addr).await;
            c.greeting().await;
            c.login().await;
            c.cmd("s", "EXAMINE INBOX").await;
            c.cmd("a", "UID FETCH 1:* (RFC822.SIZE)").await;
            // A second session sees the world as it is now.
            let mut other = connect(server.addr).await;
            other.greeting().await;
            other.login().await;
            assert_eq!(
                lines(&other.cmd("x", "EXAMINE INBOX").await)[2],
                "* 2 EXISTS"
            );
            // Plain FETCH must not announce EXPUNGE; EXISTS is fine.
            // UID 1 is gone but not yet reported: it gets no reply.
            assert_eq!(
                lines(&c.cmd("b", "FETCH 1 (UID)").await),
                ["* 4 EXISTS", "b OK Fetch completed."]
            );
            assert_eq!(
                lines(&c.cmd("c", "UID FETCH 1:* (UID)").await),
                [
                    "* 1 EXPUNGE",
                    "* 2 EXPUNGE",
                    "* 1 FETCH (UID 2)",
                    "* 2 FETCH (UID 4)",
                    "c OK Fetch completed."
                ]
            );
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn script_faults() {
        tokio::time::timeout(T, async {
            let rule = |prefix: &str, action: FaultAction| Rule {
                on: CommandMatch::prefix(Protocol::Imap, prefix),
                action,
                skip: 0,
                times: Some(1),
            };
            let script = Script::new(
                vec![
                    rule(
                        "NOOP",
                        FaultAction::Reply(
                            b"* OK [ALERT] hi\r\n{tag} NO [UNAVAILABLE] try later\r\n".to_vec(),
                        ),
                    ),
                    rule("CHECK", FaultAction::Delay(Duration::from_millis(50))),
                    rule("UID FETCH", FaultAction::Truncate(20)),
                ],
                vec![],
            );
            let server = start(SharedWorld::new(world()), script, ImapOptions::default()).await;
            let mut c = connect(server.addr).await;
            c.greeting().await;
            c.login().await;
            assert_eq!(
                lines(&c.cmd("n1", "NOOP").await),
                ["* OK [ALERT] hi", "n1 NO [UNAVAILABLE] try later"]
            );
            assert_eq!(
                lines(&c.cmd("n2", "NOOP").await),
                ["n2 OK NOOP completed."],
                "the rule applied once"
            );
            c.cmd("s", "EXAMINE INBOX").await;
            let t0 = std::time::Instant::now();
            c.cmd("k", "CHECK").await;
            assert!(t0.elapsed() >= Duration::from_millis(50));
            c.send("f UID FETCH 1 (BODY.PEEK[])").await;
            let mut got = Vec::new();
            let n = tokio::time::timeout(T, c.io.read_to_end(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 20);
            assert_eq!(got, b"* 1 FETCH (UID 1 BOD");
            server.stop().await;

            let script = Script::new(vec![rule("LOGIN", FaultAction::Disconnect)], vec![]);
            let server = start(SharedWorld::new(world()), script, ImapOptions::default()).await;
            let mut c = connect(server.addr).await;
            c.greeting().await;
            c.send("a LOGIN alice x").await;
            let mut got = Vec::new();
            tokio::time::timeout(T, c.io.read_to_end(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert!(got.is_empty());
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn write_shaping_and_bare_lf() {
        tokio::time::timeout(T, async {
            let server = start(SharedWorld::new(world()), Script::default(), ImapOptions {
                write_chunk: Some(3),
                bare_lf: true,
                ..Default::default()
            })
            .await;
            let mut c = connect(server.addr).await;
            let mut all = Vec::new();
            c.io.write_all(b"a LOGIN alice \"p \\\"w\\\\d\"\r\nb EXAMINE INBOX\r\nc UID FETCH 1 (BODY.PEEK[])\r\nd LOGOUT\r\n").await.unwrap();
            tokio::time::timeout(T, c.io.read_to_end(&mut all)).await.unwrap().unwrap();
            let text = String::from_utf8(all).unwrap();
            // Protocol lines end in LF; the literal keeps its CRLFs.
            assert!(text.contains("c OK Fetch completed.\nd OK") || text.contains("c OK Fetch completed.\n* BYE"));
            assert!(text.contains("BODY[] {44}\nFrom: a@example.org\r\nSubject: one\r\n\r\nhello\r\n)\n"), "{text}");
            assert!(!text.replace("\r\n", "").contains('\r'));
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn starttls_and_implicit_tls() {
        tokio::time::timeout(T, async {
            let ca = TestCa::generate().unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.ca_der.clone()).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            );
            let connector = tokio_rustls::TlsConnector::from(config);
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

            let server = start(
                SharedWorld::new(world()),
                Script::default(),
                ImapOptions {
                    tls: TlsMode::StartTls(ca.clone()),
                    ..Default::default()
                },
            )
            .await;
            let mut c = connect(server.addr).await;
            assert!(c.greeting().await.contains(" STARTTLS "));
            assert!(lines(&c.cmd("a", "LOGIN alice x").await)[0].starts_with("a NO"));
            assert_eq!(
                lines(&c.cmd("b", "STARTTLS").await),
                ["b OK Begin TLS negotiation now."]
            );
            let tls = connector
                .connect(name.clone(), c.io)
                .await
                .expect("handshake");
            let mut t = Raw {
                io: tls,
                buf: Vec::new(),
            };
            let caps = lines(&t.cmd("c", "CAPABILITY").await);
            assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
            t.login().await;
            assert!(lines(&t.cmd("d", "STARTTLS").await)[0].starts_with("d BAD"));
            server.stop().await;

            let server = start(
                SharedWorld::new(world()),
                Script::default(),
                ImapOptions {
                    tls: TlsMode::Implicit(ca.clone()),
                    ..Default::default()
                },
            )
            .await;
            let tcp = TcpStream::connect(server.addr).await.unwrap();
            let tls = connector.connect(name, tcp).await.expect("handshake");
            let mut t = Raw {
                io: tls,
                buf: Vec::new(),
            };
            let g = t.greeting().await;
            assert!(!g.contains("STARTTLS"), "{g}");
            t.login().await;
            assert!(lines(&t.cmd("e", "STARTTLS").await)[0].starts_with("e NO"));
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[tokio::test]
    async fn concurrent_sessions_and_garbage() {
        tokio::time::timeout(T, async {
            let script = Script::default();
            let server = start(
                SharedWorld::new(world()),
                script.clone(),
                ImapOptions::default(),
            )
            .await;
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let addr = server.addr;
                tasks.push(tokio::spawn(async move {
                    let mut c = connect(addr).await;
                    c.greeting().await;
                    c.login().await;
                    c.cmd("s", "EXAMINE INBOX").await;
                    let r = c
                        .cmd("f", "UID FETCH 1:* (RFC822.SIZE BODY.PEEK[HEADER])")
                        .await;
                    assert_eq!(r.len(), 4);
                    c.cmd("z", "LOGOUT").await;
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(script.session_count(Protocol::Imap), 8);
            let mut c = connect(server.addr).await;
            c.greeting().await;
            c.send("\"unterminated").await;
            let (raw, _) = c.response().await;
            assert!(raw.starts_with(b"* BAD"));
            assert!(lines(&c.cmd("a", "FROBNICATE").await)[0].starts_with("a BAD"));
            assert!(
                lines(&c.cmd("b", "SELECT INBOX").await)[0].starts_with("b BAD"),
                "before login"
            );
            server.stop().await;
        })
        .await
        .expect("no hang");
    }

    #[test]
    fn wildcard_table() {
        let cases = [
            ("*", "a/b/c", true),
            ("%", "a/b", false),
            ("%", "a", true),
            ("a/%", "a/b", true),
            ("a/%", "a/b/c", false),
            ("a/*", "a/b/c", true),
            ("a*c", "abc", true),
            ("a%c", "a/c", false),
            ("INBOX", "INBOX", true),
            ("", "x", false),
            ("**%*", "x/y", true),
            ("%/%", "x/y", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(wildcard_match(p, n, '/'), want, "{p} {n}");
        }
    }

    #[test]
    fn sets_and_tokens() {
        let s = parse_set("1:3,7,9:*").unwrap();
        assert_eq!(
            s,
            vec![(Some(1), Some(3)), (Some(7), Some(7)), (Some(9), None)]
        );
        assert!(parse_set("0").is_none() && parse_set("1:").is_none() && parse_set("+1").is_none());
        let mut toks = Vec::new();
        tokenize(
            b"UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] \"q\\\"x\")",
            &mut toks,
        )
        .unwrap();
        assert_eq!(toks[3], Tok::Open);
        assert_eq!(toks[4], Tok::Atom("BODY.PEEK[HEADER.FIELDS (A B)]".into()));
        assert_eq!(toks[5], Tok::Str(b"q\"x".to_vec()));
        assert_eq!(
            shown(&toks),
            "UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] \"q\\\"x\")"
        );
        let mut toks = Vec::new();
        tokenize(b"AUTHENTICATE PLAIN AGFsaWNl", &mut toks).unwrap();
        assert_eq!(shown(&toks), "AUTHENTICATE PLAIN ***");
        assert_eq!(replace_tag(b"{tag} OK {tag}", "A7"), b"A7 OK A7");
        assert_eq!(literal_at_end(b"LOGIN {12}"), Some((12, false)));
        assert_eq!(literal_at_end(b"LOGIN {12+}"), Some((12, true)));
        assert_eq!(literal_at_end(b"LOGIN {}"), None);
    }

    #[test]
    fn the_validator_is_strict() {
        // The checks above mean something only if imap-codec rejects what is wrong.
        let r = ResponseCodec::default()
            .decode(b"* LIST () \"/\" INBOX\r\n")
            .unwrap()
            .1;
        assert!(matches!(r, CResponse::Data(Data::List { .. })));
        for bad in [
            &b"* 1 FETCH (UID 0)\r\n"[..],
            b"a1 OK\r\n",
            b"* 1 FETCH (BODY[HEADER] {3}\r\nab)\r\n",
            b"* LIST (\\Noselect) / INBOX\r\n",
            b"* 1 FETCH (UID 1 SAVEDATE \"x\")\r\n",
        ] {
            assert!(
                !matches!(ResponseCodec::default().decode(bad), Ok((b"", _))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
