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
//!
//! Here: options, the accept loop and the session (greeting, command loop, dispatch).
//! By command group: `imap/wire.rs` (reading commands, writing replies), `imap/auth.rs`
//! (LOGIN, AUTHENTICATE), `imap/mailbox.rs` (LIST, LSUB, STATUS, SELECT, EXAMINE, SEARCH)
//! and `imap/fetch.rs` (FETCH, UID FETCH).

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

use crate::latency::{Link, Turns, shaped};
use crate::script::{Protocol, Script};
use crate::tls::TestCa;
use crate::world::{ImapMailbox, ImapMessage, SharedWorld, World};

mod auth;
mod fetch;
mod mailbox;
#[cfg(test)]
mod tests;
mod wire;

use mailbox::find_mailbox;
use wire::{Command, Conn, Out, Tok, literal_at_end, quote, shown, tokenize};

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
    /// The network every session is served through (a far provider on loopback).
    pub link: Link,
    /// Round trips clients waited on `link`.
    pub turns: Arc<Turns>,
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
            link: Link::default(),
            turns: Arc::default(),
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
                    let (link, turns) = (options.link, options.turns.clone());
                    sessions.spawn(async move {
                        if let Ok(tcp) = shaped(tcp, link, turns).await {
                            session.run(tcp).await;
                        }
                    });
                }
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
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
        /// The world's change count when `view` was last brought up to date.
        seen: u64,
    },
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

    /// Answers one command. One match on purpose, though long: the order of its arms is
    /// the state gate (any state, then before login, then authenticated, then selected),
    /// which splitting it by state would hide.
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
