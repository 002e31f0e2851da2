//! A fake POP3 server serving the POP3 view of a [`SharedWorld`].
//!
//! Replies are derived from the world (RFC 1939, 2449, 2595, 5034), then bent by the
//! [`Script`]: every command is offered to [`Script::before`] (delay, replacement reply,
//! disconnect, truncation) and, once its reply is written, to [`Script::after`]. A
//! replaced reply means the command is not carried out (a `-ERR [IN-USE]` to `PASS`
//! leaves the session logged out). Passwords reach the script and its log as `***`.
//!
//! A session snapshots the maildrop (ids, UIDLs, sizes) at login, as a POP3 server locks
//! its maildrop; `TOP`/`RETR` then look each message up in the world by id, so a message
//! removed meanwhile by a timeline event is answered with `-ERR`, which is what Dovecot's
//! pop3c takes for "expunged". `DELE` only marks; `QUIT` in the transaction state commits
//! the removals to the world. Clients that just close (pop3c does) commit nothing.
//!
//! [`Pop3Options`] switch each capability off (a switched-off command is refused too),
//! choose TLS (none, `STLS`, implicit), APOP, and shape writes (small pieces, bare LF)
//! for every session.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::latency::{Link, Turns, shaped};
use crate::script::{self, Protocol, Script, WorldChange};
use crate::world::{MessageId, SharedWorld};

/// How the server offers TLS.
#[derive(Clone, Default)]
pub enum Pop3Tls {
    /// Plain text only; `STLS` is refused.
    #[default]
    None,
    /// Plain text, with `STLS` offered (and advertised unless `caps.stls` is off).
    Stls(TlsAcceptor),
    /// TLS from the first byte (POP3S).
    Implicit(TlsAcceptor),
}

impl std::fmt::Debug for Pop3Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pop3Tls::None => "None",
            Pop3Tls::Stls(_) => "Stls",
            Pop3Tls::Implicit(_) => "Implicit",
        })
    }
}

/// Capability switches. Off means: not listed in `CAPA`, and the command is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop3Caps {
    /// The `CAPA` command itself; off answers `-ERR` (pop3c then assumes UIDL only).
    pub capa: bool,
    pub top: bool,
    pub uidl: bool,
    pub pipelining: bool,
    /// Listed only when TLS mode is [`Pop3Tls::Stls`] and the session is not yet in TLS.
    pub stls: bool,
    /// `SASL PLAIN` and the `AUTH` command.
    pub sasl_plain: bool,
    /// `RESP-CODES`: off leaves the `[...]` codes out of derived replies.
    pub resp_codes: bool,
    /// `USER`/`PASS`.
    pub user: bool,
}

impl Default for Pop3Caps {
    /// Everything on, as Dovecot offers.
    fn default() -> Self {
        Pop3Caps {
            capa: true,
            top: true,
            uidl: true,
            pipelining: true,
            stls: true,
            sasl_plain: true,
            resp_codes: true,
            user: true,
        }
    }
}

/// Session-wide shaping of what the server writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteShaping {
    /// Write in pieces of at most this many bytes, flushing each.
    pub chunk: Option<usize>,
    /// Pause between pieces, so they reach the client as separate reads.
    pub chunk_delay: Option<Duration>,
    /// Send LF instead of CRLF in every derived reply, message content included.
    /// Replacement replies from the script are sent as given.
    pub bare_lf: bool,
}

/// Everything that shapes the server, shared by all its sessions.
#[derive(Clone, Debug)]
pub struct Pop3Options {
    pub tls: Pop3Tls,
    /// Text after `+OK ` in the greeting.
    pub greeting: String,
    /// Put an APOP timestamp in the greeting and accept `APOP`.
    pub apop: bool,
    pub caps: Pop3Caps,
    pub shaping: WriteShaping,
    /// Advertise PIPELINING but lose every command that arrived behind the one being
    /// answered (the broken servers of provider quirk #26).
    pub broken_pipelining: bool,
    /// Close a session that sends nothing for this long (provider quirk #38).
    pub idle_timeout: Option<Duration>,
    /// Longest command line accepted; longer ones get `-ERR` and the session is closed.
    pub max_line: usize,
    /// The network every session is served through (a far provider on loopback).
    pub link: Link,
    /// Round trips clients waited on `link`.
    pub turns: Arc<Turns>,
}

impl Default for Pop3Options {
    fn default() -> Self {
        Pop3Options {
            tls: Pop3Tls::None,
            greeting: "uidlmap fake POP3 ready.".to_string(),
            apop: false,
            caps: Pop3Caps::default(),
            shaping: WriteShaping::default(),
            broken_pipelining: false,
            idle_timeout: None,
            max_line: 8 * 1024,
            link: Link::default(),
            turns: Arc::default(),
        }
    }
}

/// How long an implicit-TLS or STLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves POP3 on `listener` until `shutdown` completes, then ends every session.
pub async fn serve(
    listener: TcpListener,
    world: SharedWorld,
    script: Script,
    options: Pop3Options,
    shutdown: impl Future<Output = ()>,
) {
    let options = Arc::new(options);
    let mut sessions = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Small replies must leave at once, or pipelining tests measure Nagle.
                    let _ = tcp.set_nodelay(true);
                    let (world, script, options) = (world.clone(), script.clone(), options.clone());
                    sessions.spawn(async move {
                        if let Ok(tcp) = shaped(tcp, options.link, options.turns.clone()).await {
                            session(tcp, world, script, options).await;
                        }
                    });
                }
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}

/// A server on `127.0.0.1:0` in a task of its own; stopped by [`Running::stop`] or drop.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, ends every session and waits for that.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and serves there until stopped.
pub async fn spawn_local(
    world: SharedWorld,
    script: Script,
    options: Pop3Options,
) -> io::Result<Running> {
    let listener = crate::servers::bind(([127, 0, 0, 1], 0).into())?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(serve(listener, world, script, options, async {
        let _ = rx.await;
    }));
    Ok(Running {
        addr,
        stop: Some(tx),
        task: Some(task),
    })
}

/// A server-side connection, before or after TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One message of the maildrop as snapshotted at login.
#[derive(Clone, Debug)]
struct Entry {
    id: MessageId,
    uidl: String,
    size: u64,
    deleted: bool,
}

enum State {
    Authorization { user: Option<String> },
    Transaction { drop: Vec<Entry> },
}

/// What the session does after writing a reply.
enum Then {
    Continue,
    Close,
    StartTls,
}

/// Why a session ends early; never surfaces beyond the session.
enum End {
    Closed,
}

impl From<io::Error> for End {
    fn from(_: io::Error) -> Self {
        End::Closed
    }
}

struct Session {
    conn: Option<Conn>,
    rbuf: Vec<u8>,
    world: SharedWorld,
    script: Script,
    options: Arc<Pop3Options>,
    id: u64,
    nth: u64,
    state: State,
    in_tls: bool,
    timestamp: Option<String>,
}

async fn session(tcp: TcpStream, world: SharedWorld, script: Script, options: Arc<Pop3Options>) {
    let id = script.open_session(Protocol::Pop3);
    let (conn, in_tls) = match &options.tls {
        Pop3Tls::Implicit(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => (Conn::Tls(Box::new(tls)), true),
                _ => return,
            }
        }
        _ => (Conn::Plain(tcp), false),
    };
    let timestamp = options
        .apop
        .then(|| format!("<{}.{}@uidlmap.fake>", std::process::id(), id));
    let mut s = Session {
        conn: Some(conn),
        rbuf: Vec::new(),
        world,
        script,
        options,
        id,
        nth: 0,
        state: State::Authorization { user: None },
        in_tls,
        timestamp,
    };
    let _ = s.run().await;
    if let Some(mut conn) = s.conn.take() {
        let _ = conn.shutdown().await;
    }
}

/// The command line as the script and its log see it: passwords as `***`.
fn redact(line: &str) -> String {
    let mut words = line.splitn(3, ' ');
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    match verb.as_str() {
        "PASS" => format!("{} ***", &line[..4]),
        "APOP" => match words.next() {
            Some(user) => format!("{} {user} ***", &line[..4]),
            None => line.to_string(),
        },
        "AUTH" => match (words.next(), words.next()) {
            (Some(mech), Some(_)) => format!("{} {mech} ***", &line[..4]),
            _ => line.to_string(),
        },
        _ => line.to_string(),
    }
}

/// Dot-stuffs a message and ends it with the terminating `.` line. A message that does
/// not end with a line end gets CRLF before the dot, as RFC 1939 requires.
fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut line_start = true;
    for &b in body {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn to_bare_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_md5(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(p);
    }
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Session {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("connection present while the session runs")
    }

    async fn run(&mut self) -> Result<(), End> {
        let mut greeting = format!("+OK {}", self.options.greeting);
        if let Some(ts) = &self.timestamp {
            greeting.push(' ');
            greeting.push_str(ts);
        }
        greeting.push_str("\r\n");
        self.write_derived(greeting.as_bytes()).await?;
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok(());
            };
            self.nth += 1;
            let nth = self.nth;
            let shown = redact(&line);
            let directive = self
                .script
                .before(&self.world, Protocol::Pop3, self.id, nth, &shown);
            if let Some(delay) = directive.delay {
                tokio::time::sleep(delay).await;
            }
            if directive.disconnect {
                return Ok(());
            }
            let (reply, then, derived) = match directive.reply {
                Some(reply) => (reply, Then::Continue, false),
                None => {
                    let (reply, then) = self.execute(&line).await?;
                    (reply, then, true)
                }
            };
            let reply = if derived && self.options.shaping.bare_lf {
                to_bare_lf(&reply)
            } else {
                reply
            };
            if let Some(n) = directive.truncate {
                self.write(&reply[..n.min(reply.len())]).await?;
                return Ok(());
            }
            self.write(&reply).await?;
            self.script.after(&self.world, Protocol::Pop3, nth, &shown);
            match then {
                Then::Continue => {}
                Then::Close => return Ok(()),
                Then::StartTls => self.start_tls().await?,
            }
            if self.options.broken_pipelining {
                self.rbuf.clear();
            }
        }
    }

    async fn start_tls(&mut self) -> Result<(), End> {
        let Pop3Tls::Stls(acceptor) = &self.options.tls else {
            return Err(End::Closed);
        };
        let acceptor = acceptor.clone();
        let Some(Conn::Plain(tcp)) = self.conn.take() else {
            return Err(End::Closed);
        };
        // Anything pipelined behind STLS was sent in the clear: drop it (RFC 2595 §4).
        self.rbuf.clear();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                self.conn = Some(Conn::Tls(Box::new(tls)));
                self.in_tls = true;
                self.state = State::Authorization { user: None };
                Ok(())
            }
            _ => Err(End::Closed),
        }
    }

    /// Reads one command line (LF-terminated, CR dropped). `None` at a clean end.
    async fn read_line(&mut self) -> Result<Option<String>, End> {
        loop {
            let newline = self.rbuf.iter().position(|&b| b == b'\n');
            if newline.unwrap_or(self.rbuf.len()) > self.options.max_line {
                self.write_derived(b"-ERR Line too long.\r\n").await?;
                return Err(End::Closed);
            }
            if let Some(i) = newline {
                let mut line: Vec<u8> = self.rbuf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let mut chunk = [0u8; 4096];
            let idle = self.options.idle_timeout;
            let read = self.conn().read(&mut chunk);
            let n = match idle {
                Some(t) => match tokio::time::timeout(t, read).await {
                    Ok(r) => r?,
                    Err(_) => {
                        self.write_derived(b"-ERR Disconnected for inactivity.\r\n")
                            .await?;
                        return Err(End::Closed);
                    }
                },
                None => read.await?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write_derived(&mut self, bytes: &[u8]) -> Result<(), End> {
        if self.options.shaping.bare_lf {
            self.write(&to_bare_lf(bytes)).await
        } else {
            self.write(bytes).await
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        let shaping = self.options.shaping.clone();
        match shaping.chunk {
            Some(n) if n > 0 => {
                for (i, piece) in bytes.chunks(n).enumerate() {
                    if i > 0
                        && let Some(d) = shaping.chunk_delay
                    {
                        tokio::time::sleep(d).await;
                    }
                    self.conn().write_all(piece).await?;
                    self.conn().flush().await?;
                }
            }
            _ => {
                self.conn().write_all(bytes).await?;
                self.conn().flush().await?;
            }
        }
        Ok(())
    }

    /// `-ERR`, with the response code when RESP-CODES is on.
    fn err(&self, code: Option<&str>, text: &str) -> Vec<u8> {
        match code {
            Some(code) if self.options.caps.resp_codes => {
                format!("-ERR [{code}] {text}\r\n").into_bytes()
            }
            _ => format!("-ERR {text}\r\n").into_bytes(),
        }
    }

    fn ok(text: &str) -> Vec<u8> {
        if text.is_empty() {
            b"+OK\r\n".to_vec()
        } else {
            format!("+OK {text}\r\n").into_bytes()
        }
    }

    /// Carries out one command and returns its reply.
    async fn execute(&mut self, line: &str) -> Result<(Vec<u8>, Then), End> {
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v.to_ascii_uppercase(), r),
            None => (line.to_ascii_uppercase(), ""),
        };
        let args: Vec<&str> = rest.split_ascii_whitespace().collect();
        let caps = self.options.caps.clone();
        let reply = match verb.as_str() {
            "CAPA" if caps.capa => self.capa(),
            "QUIT" => return Ok((self.quit(), Then::Close)),
            "STLS" => {
                let offered = matches!(self.options.tls, Pop3Tls::Stls(_));
                if !offered || self.in_tls {
                    self.err(None, "TLS is not available.")
                } else if !matches!(self.state, State::Authorization { .. }) {
                    self.err(None, "STLS is only allowed before login.")
                } else {
                    return Ok((Self::ok("Begin TLS negotiation now."), Then::StartTls));
                }
            }
            "USER" | "PASS" | "APOP" | "AUTH"
                if !matches!(self.state, State::Authorization { .. }) =>
            {
                self.err(None, "Already logged in.")
            }
            "USER" if caps.user => match args.first() {
                Some(user) => {
                    self.state = State::Authorization {
                        user: Some(user.to_string()),
                    };
                    Self::ok("")
                }
                None => self.err(None, "USER needs a name."),
            },
            // Dovecot takes the rest of the line as the password, spaces included.
            "PASS" if caps.user => match &self.state {
                State::Authorization { user: Some(user) } => {
                    let user = user.clone();
                    self.login(&user, rest.as_bytes())
                }
                _ => self.err(None, "No username given."),
            },
            "APOP" if self.timestamp.is_some() => match args.as_slice() {
                [user, digest] => {
                    let (expected, pw) = {
                        let w = self.world.lock();
                        (w.user.clone(), w.password.clone())
                    };
                    let ts = self.timestamp.clone().unwrap_or_default();
                    let want = hex_md5(&[ts.as_bytes(), pw.as_bytes()]);
                    if *user == expected && digest.eq_ignore_ascii_case(&want) {
                        self.login(user, pw.as_bytes())
                    } else {
                        self.err(Some("AUTH"), "Authentication failed.")
                    }
                }
                _ => self.err(None, "APOP needs a name and a digest."),
            },
            "AUTH" if caps.sasl_plain => match args.as_slice() {
                [] => b"+OK\r\nPLAIN\r\n.\r\n".to_vec(),
                [mech, ir @ ..] if mech.eq_ignore_ascii_case("PLAIN") && ir.len() <= 1 => {
                    let response = match ir.first() {
                        Some(ir) if *ir == "=" => String::new(),
                        Some(ir) => ir.to_string(),
                        None => {
                            self.write_derived(b"+ \r\n").await?;
                            match self.read_line().await? {
                                Some(l) => l,
                                None => return Err(End::Closed),
                            }
                        }
                    };
                    if response == "*" {
                        self.err(None, "Authentication aborted.")
                    } else {
                        self.auth_plain(&response)
                    }
                }
                _ => self.err(None, "Unsupported authentication mechanism."),
            },
            "STAT" | "LIST" | "UIDL" | "TOP" | "RETR" | "DELE" | "RSET" | "NOOP"
                if matches!(self.state, State::Authorization { .. }) =>
            {
                self.err(None, "Not logged in.")
            }
            "STAT" => {
                let (n, size) = self
                    .live()
                    .fold((0u64, 0u64), |(n, s), (_, e)| (n + 1, s + e.size));
                Self::ok(&format!("{n} {size}"))
            }
            "LIST" => self.listing(args.first().copied(), |e| e.size.to_string()),
            "UIDL" if caps.uidl => self.listing(args.first().copied(), |e| e.uidl.clone()),
            "TOP" if caps.top => match args.as_slice() {
                [n, lines] => match lines.parse::<usize>() {
                    Ok(lines) => self.serve_message(n, Some(lines)),
                    Err(_) => self.err(None, "Invalid number of lines."),
                },
                _ => self.err(None, "TOP needs a message number and a line count."),
            },
            "RETR" => match args.as_slice() {
                [n] => self.serve_message(n, None),
                _ => self.err(None, "RETR needs a message number."),
            },
            "DELE" => match args.as_slice() {
                [n] => match self.lookup(n) {
                    Ok(i) => {
                        if let State::Transaction { drop } = &mut self.state {
                            drop[i].deleted = true;
                        }
                        Self::ok("Marked to be deleted.")
                    }
                    Err(reply) => reply,
                },
                _ => self.err(None, "DELE needs a message number."),
            },
            "RSET" => {
                if let State::Transaction { drop } = &mut self.state {
                    drop.iter_mut().for_each(|e| e.deleted = false);
                }
                Self::ok("")
            }
            "NOOP" => Self::ok(""),
            _ => self.err(None, "Unknown command."),
        };
        Ok((reply, Then::Continue))
    }

    fn capa(&self) -> Vec<u8> {
        let caps = &self.options.caps;
        let in_auth = matches!(self.state, State::Authorization { .. });
        let mut out = b"+OK Capability list follows\r\nCAPA\r\n".to_vec();
        let mut add = |on: bool, name: &str| {
            if on {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        };
        add(caps.top, "TOP");
        add(caps.uidl, "UIDL");
        add(caps.resp_codes, "RESP-CODES");
        add(caps.pipelining, "PIPELINING");
        let stls = caps.stls && matches!(self.options.tls, Pop3Tls::Stls(_)) && !self.in_tls;
        add(stls && in_auth, "STLS");
        add(caps.user && in_auth, "USER");
        add(caps.sasl_plain && in_auth, "SASL PLAIN");
        add(true, "IMPLEMENTATION uidlmap-fake-servers");
        out.extend_from_slice(b".\r\n");
        out
    }

    fn quit(&mut self) -> Vec<u8> {
        let State::Transaction { drop } = &self.state else {
            return Self::ok("Logging out.");
        };
        let changes: Vec<WorldChange> = drop
            .iter()
            .filter(|e| e.deleted)
            .map(|e| WorldChange::Pop3Remove { id: e.id.clone() })
            .collect();
        let n = changes.len();
        script::apply(&self.world, &changes);
        Self::ok(&format!("Logging out, {n} messages deleted."))
    }

    /// Checks credentials; on success snapshots the maildrop and enters TRANSACTION.
    fn login(&mut self, user: &str, password: &[u8]) -> Vec<u8> {
        let drop = {
            let w = self.world.lock();
            if w.user != user || w.password.as_bytes() != password {
                None
            } else {
                Some(
                    w.pop3
                        .messages
                        .iter()
                        .map(|m| Entry {
                            id: m.id.clone(),
                            uidl: m.uidl.clone(),
                            size: m.size(),
                            deleted: false,
                        })
                        .collect::<Vec<_>>(),
                )
            }
        };
        match drop {
            Some(drop) => {
                self.state = State::Transaction { drop };
                Self::ok("Logged in.")
            }
            None => {
                self.state = State::Authorization { user: None };
                self.err(Some("AUTH"), "Authentication failed.")
            }
        }
    }

    fn auth_plain(&mut self, response: &str) -> Vec<u8> {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(response) else {
            return self.err(None, "Invalid base64 data in SASL response.");
        };
        let parts: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
        let [authzid, authcid, password] = parts.as_slice() else {
            return self.err(Some("AUTH"), "Authentication failed.");
        };
        if !authzid.is_empty() && authzid != authcid {
            return self.err(Some("AUTH"), "Authentication failed.");
        }
        let user = String::from_utf8_lossy(authcid).into_owned();
        self.login(&user, password)
    }

    /// Messages not marked deleted, with their numbers.
    fn live(&self) -> impl Iterator<Item = (usize, &Entry)> {
        let drop: &[Entry] = match &self.state {
            State::Transaction { drop } => drop,
            State::Authorization { .. } => &[],
        };
        drop.iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (i + 1, e))
    }

    /// The index of message `n`, or the `-ERR` reply.
    fn lookup(&self, n: &str) -> Result<usize, Vec<u8>> {
        let State::Transaction { drop } = &self.state else {
            return Err(self.err(None, "Not logged in."));
        };
        match n.parse::<usize>() {
            Ok(i) if i >= 1 && i <= drop.len() => {
                if drop[i - 1].deleted {
                    Err(self.err(None, &format!("Message {i} is deleted.")))
                } else {
                    Ok(i - 1)
                }
            }
            _ => Err(self.err(None, &format!("There's no message {n}."))),
        }
    }

    /// `LIST`/`UIDL`, all messages or one.
    fn listing(&self, one: Option<&str>, value: impl Fn(&Entry) -> String) -> Vec<u8> {
        if let Some(n) = one {
            return match self.lookup(n) {
                Ok(i) => {
                    let State::Transaction { drop } = &self.state else {
                        unreachable!("lookup succeeded, so the session is logged in")
                    };
                    Self::ok(&format!("{} {}", i + 1, value(&drop[i])))
                }
                Err(reply) => reply,
            };
        }
        let mut out = b"+OK\r\n".to_vec();
        for (n, e) in self.live() {
            out.extend_from_slice(format!("{n} ").as_bytes());
            out.extend_from_slice(value(e).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    /// `TOP n lines` (`Some(lines)`) or `RETR n` (`None`), read from the world now.
    fn serve_message(&self, n: &str, top: Option<usize>) -> Vec<u8> {
        let i = match self.lookup(n) {
            Ok(i) => i,
            Err(reply) => return reply,
        };
        let State::Transaction { drop } = &self.state else {
            unreachable!("lookup succeeded, so the session is logged in")
        };
        let entry = &drop[i];
        let body = {
            let w = self.world.lock();
            // The maildrop seldom changes under a session: look at its own place first,
            // so serving every message of a big maildrop is not quadratic.
            let same = |m: &&crate::world::Pop3Message| m.id == entry.id;
            w.pop3
                .messages
                .get(i)
                .filter(same)
                .or_else(|| w.pop3.messages.iter().find(same))
                .map(|m| match top {
                    Some(lines) => m.top(lines),
                    None => m.full.clone(),
                })
        };
        match body {
            None => self.err(None, &format!("Message {} was deleted meanwhile.", i + 1)),
            Some(body) => {
                let mut out = match top {
                    Some(_) => Self::ok(""),
                    None => Self::ok(&format!("{} octets", entry.size)),
                };
                out.extend_from_slice(&stuffed(&body));
                out
            }
        }
    }
}

#[cfg(test)]
mod tests;
