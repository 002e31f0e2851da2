//! ASYNC POP3 client over any `AsyncRead + AsyncWrite + Unpin` stream.
//!
//! It sends what Dovecot's pop3c sends and reads replies the way pop3c reads them (see
//! [`codec`]), so what it reports is what the migration plugin will see.
//! `TOP`/`RETR` for many messages are pipelined when the server lists `PIPELINING`,
//! with a window of commands in flight; a `-ERR` to one of them means that message was
//! expunged meanwhile ([`Fetched::Expunged`]), as pop3c treats it, not a failed run.
//!
//! Every wait is bounded by [`Timeouts`] and every read by [`Limits`]. Errors name the
//! command (passwords shown as `***`) and the server's reply. [`Stats`] counts commands
//! and round trips deterministically: a round trip is one flush of one or more commands,
//! each followed by waiting for replies, so the counts do not depend on timing.

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::codec::{
    self, BlockDecoder, BlockProgress, Capabilities, CodecError, Decoded, Reply, RespCode, Status,
};
use crate::secret::Secret;
use crate::tls::{self, MaybeTls, Security, TlsError, Trust};

/// Pipelined commands in flight by default: deep enough that 10 000 headers take under a
/// hundred round trips, small enough that the commands fit in any socket buffer.
pub const DEFAULT_WINDOW: usize = 128;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 32 * 1024;

/// Bounds on what a server may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// One status or listing line, LF excluded (pop3c's input buffer is 32 KiB).
    pub max_line: usize,
    /// One multi-line reply after dot-unstuffing (a `RETR`ed message, a `UIDL` listing).
    pub max_block: usize,
    /// Messages in a `UIDL` or `LIST` listing.
    pub max_messages: usize,
    /// One line of a message in a `TOP` or `RETR` reply, LF excluded. Larger than
    /// `max_line`: real messages carry long lines (HTML, unwrapped base64) that
    /// Dovecot reads as a stream.
    pub max_message_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_block: 64 * 1024 * 1024,
            max_messages: 1_000_000,
            max_message_line: 1024 * 1024,
        }
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, and the TLS handshake for implicit TLS and STLS.
    pub connect: Duration,
    /// The longest wait for the server's next bytes, or for a write to go through,
    /// within a command. A large `RETR` that keeps arriving never times out; a server
    /// that stalls does.
    pub command: Duration,
}

impl Default for Timeouts {
    /// pop3c's: 30 s to connect and log in, 5 minutes per command.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(300),
        }
    }
}

/// What the client has done so far. Deterministic for a given server behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Command lines sent (an `AUTH` continuation counts as one).
    pub commands: u64,
    /// Times the client flushed one or more commands and then waited for replies.
    pub round_trips: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// One message read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fetch {
    /// `TOP msg lines`
    Top { msg: u32, lines: u32 },
    /// `RETR msg`
    Retr { msg: u32 },
}

impl Fetch {
    pub fn msg(&self) -> u32 {
        match *self {
            Fetch::Top { msg, .. } | Fetch::Retr { msg } => msg,
        }
    }

    /// The command line, without CRLF.
    pub fn command(&self) -> String {
        match *self {
            Fetch::Top { msg, lines } => format!("TOP {msg} {lines}"),
            Fetch::Retr { msg } => format!("RETR {msg}"),
        }
    }
}

/// The answer to one [`Fetch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// `TOP`'s block: dot-unstuffed, line ends as received.
    Top(Vec<u8>),
    /// `RETR`'s block: the whole message, dot-unstuffed, line ends as received.
    Retr(Vec<u8>),
    /// The server answered `-ERR`: pop3c takes the message as expunged meanwhile.
    Expunged { reply: Reply },
}

impl Fetched {
    /// The bytes read, unless the message was expunged.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Fetched::Top(b) | Fetched::Retr(b) => Some(b),
            Fetched::Expunged { .. } => None,
        }
    }

    pub fn is_expunged(&self) -> bool {
        matches!(self, Fetched::Expunged { .. })
    }
}

/// Errors of the POP3 client. `command` is the command line as sent, with any password
/// replaced by `***`, or `connect`/`greeting`/`TLS handshake` for those steps.
#[derive(Debug, thiserror::Error)]
pub enum Pop3Error {
    #[error("connecting to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{command}: no data from the server for {after:?}")]
    Timeout { command: String, after: Duration },
    #[error("{command}: the reply was not complete within {after:?} (the per-command deadline)")]
    Deadline { command: String, after: Duration },
    #[error("{command}: {source}")]
    Io {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command}: the server closed the connection")]
    Disconnected { command: String },
    #[error("{command}: the server replied {reply}")]
    Rejected { command: String, reply: Reply },
    #[error("{command}: {source}")]
    Protocol {
        command: String,
        #[source]
        source: CodecError,
    },
    #[error("{command}: the server sent data after its reply, before the TLS handshake")]
    DataBeforeTls { command: String },
    #[error("{command}: {what}")]
    NotSupported { command: String, what: &'static str },
    #[error("{command}: {what} must not contain CR, LF or NUL")]
    InvalidArgument { command: String, what: &'static str },
    #[error("{command}: the connection is unusable after an earlier error ({cause})")]
    Unusable { command: String, cause: String },
}

impl Pop3Error {
    /// The server's reply, when the error is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Pop3Error::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }

    /// The RFC 2449/3206 response code of the server's reply, if any.
    pub fn resp_code(&self) -> Option<&RespCode> {
        self.reply().and_then(|r| r.code.as_ref())
    }

    /// Whether trying again later may help: `[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`,
    /// and network trouble.
    pub fn is_temporary(&self) -> bool {
        match self {
            Pop3Error::Rejected { reply, .. } => {
                reply.code.as_ref().is_some_and(RespCode::is_temporary)
            }
            Pop3Error::Connect { .. }
            | Pop3Error::Timeout { .. }
            | Pop3Error::Deadline { .. }
            | Pop3Error::Io { .. }
            | Pop3Error::Disconnected { .. } => true,
            _ => false,
        }
    }
}

/// What survives an STLS upgrade: everything but the stream and the capabilities
/// (RFC 2595 §4: they must be asked for again).
#[derive(Clone, Debug)]
pub struct Resume {
    greeting: Reply,
    timeouts: Timeouts,
    limits: Limits,
    stats: Stats,
    window: usize,
}

/// A POP3 session.
#[derive(Debug)]
pub struct Pop3Client<S> {
    stream: S,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    /// How much of `wbuf` is already written (pipelined commands go out while replies
    /// are read, see `fill`).
    wpos: usize,
    /// The first command in `wbuf`, named if its flush fails.
    pending: Option<String>,
    greeting: Reply,
    caps: Option<Capabilities>,
    timeouts: Timeouts,
    limits: Limits,
    stats: Stats,
    window: usize,
    /// Why the stream can no longer be trusted to be at a reply boundary.
    broken: Option<String>,
    /// When the reply being read must be complete: `timeouts.command` after it was
    /// first waited for, however steadily its bytes trickle in.
    deadline: Option<Instant>,
}

fn check_arg(command: &str, what: &'static str, value: &str) -> Result<(), Pop3Error> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Pop3Error::InvalidArgument {
            command: command.to_string(),
            what,
        });
    }
    Ok(())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// Reads the greeting. A `-ERR` greeting is [`Pop3Error::Rejected`]; pop3c accepts
    /// any banner starting with `+`, and so does this.
    pub async fn greet(stream: S, timeouts: Timeouts, limits: Limits) -> Result<Self, Pop3Error> {
        let mut client = Pop3Client {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            wpos: 0,
            pending: None,
            greeting: Reply {
                status: Status::Ok,
                code: None,
                text: String::new(),
                line: String::new(),
            },
            caps: None,
            timeouts,
            limits,
            stats: Stats::default(),
            window: DEFAULT_WINDOW,
            broken: None,
            deadline: None,
        };
        let greeting = client.read_reply("greeting").await?;
        if greeting.status != Status::Ok {
            return Err(Pop3Error::Rejected {
                command: "greeting".into(),
                reply: greeting,
            });
        }
        client.greeting = greeting;
        Ok(client)
    }

    /// Continues a session on a new stream after [`Pop3Client::stls`].
    pub fn resume(stream: S, resume: Resume) -> Self {
        Pop3Client {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            wpos: 0,
            pending: None,
            greeting: resume.greeting,
            caps: None,
            timeouts: resume.timeouts,
            limits: resume.limits,
            stats: resume.stats,
            window: resume.window,
            broken: None,
            deadline: None,
        }
    }

    /// The greeting line.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// The APOP timestamp (`<...@...>`) in the greeting, if the server offers APOP.
    pub fn apop_timestamp(&self) -> Option<&str> {
        codec::apop_timestamp(&self.greeting.text)
    }

    /// The capabilities from the last [`Pop3Client::capa`], if it was called.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Pipelined commands kept in flight when the server lists `PIPELINING`. 1 turns
    /// pipelining off (Dovecot with `mail_prefetch_count = 0`); 0 counts as 1.
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// The stream, dropping anything buffered. No `QUIT` is sent: this is how pop3c
    /// ends its read-only sessions.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// `CAPA`. On `-ERR`, pop3c's fallback: UIDL only, no TOP, no PIPELINING.
    pub async fn capa(&mut self) -> Result<&Capabilities, Pop3Error> {
        let reply = self.command("CAPA", "CAPA").await?;
        let caps = match reply.status {
            Status::Ok => {
                let max_line = self.limits.max_line;
                let block = self.read_block("CAPA", max_line, max_line * 4).await?;
                Capabilities::parse(&block)
            }
            _ => Capabilities::fallback(),
        };
        Ok(self.caps.insert(caps))
    }

    /// `STLS`. On `+OK` the raw stream is handed back with what the session keeps; wrap
    /// it with [`crate::tls::upgrade`] and continue with [`Pop3Client::resume`], then
    /// ask `CAPA` again.
    pub async fn stls(mut self) -> Result<(S, Resume), Pop3Error> {
        self.expect_ok("STLS", "STLS").await?;
        if self.rpos < self.rbuf.len() {
            // Bytes that arrived before the handshake could have been injected by a
            // man in the middle (CVE-2011-0411 class); refuse rather than act on them.
            return Err(Pop3Error::DataBeforeTls {
                command: "STLS".into(),
            });
        }
        let resume = Resume {
            greeting: self.greeting,
            timeouts: self.timeouts,
            limits: self.limits,
            stats: self.stats,
            window: self.window,
        };
        Ok((self.stream, resume))
    }

    /// `USER` then `PASS`, as pop3c logs in.
    pub async fn login(&mut self, user: &str, password: &Secret) -> Result<Reply, Pop3Error> {
        check_arg("USER", "the user name", user)?;
        check_arg("PASS ***", "the password", password.expose())?;
        self.expect_ok(&format!("USER {user}"), &format!("USER {user}"))
            .await?;
        self.expect_ok(&format!("PASS {}", password.expose()), "PASS ***")
            .await
    }

    /// `AUTH PLAIN` with an initial response (RFC 5034), authorization identity empty.
    pub async fn auth_plain(&mut self, user: &str, password: &Secret) -> Result<Reply, Pop3Error> {
        self.auth_plain_as("", user, password).await
    }

    /// `AUTH PLAIN` with an authorization identity: pop3c's master-user login sends
    /// `user \0 master \0 password`, i.e. `auth_plain_as(user, master, password)`.
    pub async fn auth_plain_as(
        &mut self,
        authzid: &str,
        authcid: &str,
        password: &Secret,
    ) -> Result<Reply, Pop3Error> {
        let shown = "AUTH PLAIN ***";
        let mut raw = Vec::new();
        raw.extend_from_slice(authzid.as_bytes());
        raw.push(0);
        raw.extend_from_slice(authcid.as_bytes());
        raw.push(0);
        raw.extend_from_slice(password.expose().as_bytes());
        let line = format!(
            "AUTH PLAIN {}",
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        let reply = self.command(&line, shown).await?;
        match reply.status {
            Status::Ok => Ok(reply),
            Status::Err => Err(Pop3Error::Rejected {
                command: shown.into(),
                reply,
            }),
            Status::Continue => {
                // The initial response was ignored; cancel (RFC 5034 §4) and report.
                let _ = self.command("*", "*").await;
                Err(Pop3Error::Protocol {
                    command: shown.into(),
                    source: CodecError::UnexpectedContinuation { line: reply.line },
                })
            }
        }
    }

    /// `APOP user digest`, with the timestamp from the greeting.
    pub async fn apop(&mut self, user: &str, password: &Secret) -> Result<Reply, Pop3Error> {
        let shown = format!("APOP {user} ***");
        check_arg(&shown, "the user name", user)?;
        let Some(ts) = self.apop_timestamp() else {
            return Err(Pop3Error::NotSupported {
                command: shown,
                what: "the greeting has no APOP timestamp",
            });
        };
        let mut md5 = Md5::new();
        md5.update(ts.as_bytes());
        md5.update(password.expose().as_bytes());
        let digest: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.expect_ok(&format!("APOP {user} {digest}"), &shown)
            .await
    }

    /// `STAT`: message count and total octets.
    pub async fn stat(&mut self) -> Result<(u32, u64), Pop3Error> {
        let reply = self.expect_ok("STAT", "STAT").await?;
        codec::parse_stat(&reply).map_err(|source| self.fail_protocol("STAT", source))
    }

    /// `UIDL`: entry `i` is message `i + 1`'s UIDL, parsed as pop3c parses it. Whether
    /// the server advertised UIDL is the caller's question (pop3c refuses to sync
    /// without it: "UIDLs not supported by server").
    pub async fn uidl_all(&mut self) -> Result<Vec<Vec<u8>>, Pop3Error> {
        self.expect_ok("UIDL", "UIDL").await?;
        let block = self
            .read_block("UIDL", self.limits.max_line, self.limits.max_block)
            .await?;
        codec::parse_uidl_listing(&block, self.limits.max_messages)
            .map_err(|source| self.fail_protocol("UIDL", source))
    }

    /// `LIST`: entry `i` is message `i + 1`'s size. `expected` is the `UIDL` count if
    /// known: more lines than that is "Too much data in LIST", as in pop3c.
    pub async fn list_all(&mut self, expected: Option<usize>) -> Result<Vec<u64>, Pop3Error> {
        self.expect_ok("LIST", "LIST").await?;
        let block = self
            .read_block("LIST", self.limits.max_line, self.limits.max_block)
            .await?;
        codec::parse_list_listing(&block, self.limits.max_messages, expected)
            .map_err(|source| self.fail_protocol("LIST", source))
    }

    /// `TOP msg lines`.
    pub async fn top(&mut self, msg: u32, lines: u32) -> Result<Fetched, Pop3Error> {
        let mut out = self.fetch(&[Fetch::Top { msg, lines }]).await?;
        Ok(out.pop().expect("one request, one answer"))
    }

    /// `RETR msg`.
    pub async fn retr(&mut self, msg: u32) -> Result<Fetched, Pop3Error> {
        let mut out = self.fetch(&[Fetch::Retr { msg }]).await?;
        Ok(out.pop().expect("one request, one answer"))
    }

    /// Reads headers as pop3c does for the plugin's header pass: `TOP n 0`, or `RETR n`
    /// when `TOP` was not advertised (or `CAPA` was refused or never asked).
    pub async fn fetch_headers(
        &mut self,
        numbers: &[u32],
    ) -> Result<Vec<(u32, Fetched)>, Pop3Error> {
        let mut out = Vec::with_capacity(numbers.len());
        self.fetch_headers_each(numbers, |n, f| out.push((n, f)))
            .await?;
        Ok(out)
    }

    /// Like [`Pop3Client::fetch_headers`], handing each answer to `each` as it arrives
    /// (message number, answer), so that a large maildrop is never held in memory.
    pub async fn fetch_headers_each(
        &mut self,
        numbers: &[u32],
        mut each: impl FnMut(u32, Fetched),
    ) -> Result<(), Pop3Error> {
        let top = self.caps.as_ref().is_some_and(|c| c.top);
        let requests: Vec<Fetch> = numbers
            .iter()
            .map(|&msg| {
                if top {
                    Fetch::Top { msg, lines: 0 }
                } else {
                    Fetch::Retr { msg }
                }
            })
            .collect();
        self.fetch_each(&requests, |i, f| each(numbers[i], f)).await
    }

    /// Runs `requests` and collects the answers in order.
    pub async fn fetch(&mut self, requests: &[Fetch]) -> Result<Vec<Fetched>, Pop3Error> {
        let mut out = Vec::with_capacity(requests.len());
        self.fetch_each(requests, |_, f| out.push(f)).await?;
        Ok(out)
    }

    /// Runs `requests`, handing each answer to `each(index, answer)` as it arrives, so
    /// the caller need not hold every message at once. With `PIPELINING` advertised and
    /// a window above 1, up to `window` commands are in flight; the window is topped up
    /// whenever half of it has been answered. Otherwise one command at a time.
    pub async fn fetch_each(
        &mut self,
        requests: &[Fetch],
        mut each: impl FnMut(usize, Fetched),
    ) -> Result<(), Pop3Error> {
        let pipelining = self.caps.as_ref().is_some_and(|c| c.pipelining);
        let window = if pipelining { self.window } else { 1 };
        let (mut sent, mut done) = (0, 0);
        while done < requests.len() {
            let command = requests[done].command();
            self.check_usable(&command)?;
            if sent < requests.len() && sent - done <= window / 2 {
                while sent < requests.len() && sent - done < window {
                    let line = requests[sent].command();
                    self.queue(&line, &line);
                    sent += 1;
                }
                self.flush().await?;
            }
            let fetched = self.read_fetched(requests[done], &command).await?;
            each(done, fetched);
            done += 1;
        }
        Ok(())
    }

    /// Reads the answer to `request`, already sent as `command`.
    async fn read_fetched(&mut self, request: Fetch, command: &str) -> Result<Fetched, Pop3Error> {
        let reply = self.read_reply(command).await?;
        match reply.status {
            Status::Ok => {
                let block = self
                    .read_block(command, self.limits.max_message_line, self.limits.max_block)
                    .await?;
                Ok(match request {
                    Fetch::Top { .. } => Fetched::Top(block),
                    Fetch::Retr { .. } => Fetched::Retr(block),
                })
            }
            Status::Err => Ok(Fetched::Expunged { reply }),
            Status::Continue => Err(self.fail_protocol(
                command,
                CodecError::UnexpectedContinuation { line: reply.line },
            )),
        }
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<Reply, Pop3Error> {
        self.expect_ok("NOOP", "NOOP").await
    }

    /// `QUIT`, then closes the stream.
    pub async fn quit(mut self) -> Result<Reply, Pop3Error> {
        let reply = self.expect_ok("QUIT", "QUIT").await?;
        // The session is over either way; a failed TLS close_notify changes nothing.
        let _ = tokio::time::timeout(self.timeouts.command, self.stream.shutdown()).await;
        Ok(reply)
    }

    /// Sends one command and reads its status line; `-ERR` is returned, not an error.
    async fn command(&mut self, line: &str, shown: &str) -> Result<Reply, Pop3Error> {
        self.check_usable(shown)?;
        self.queue(line, shown);
        self.flush().await?;
        let reply = self.read_reply(shown).await?;
        Ok(reply)
    }

    /// Sends one command; anything but `+OK` is an error.
    async fn expect_ok(&mut self, line: &str, shown: &str) -> Result<Reply, Pop3Error> {
        let reply = self.command(line, shown).await?;
        match reply.status {
            Status::Ok => Ok(reply),
            Status::Err => Err(Pop3Error::Rejected {
                command: shown.into(),
                reply,
            }),
            Status::Continue => Err(self.fail_protocol(
                shown,
                CodecError::UnexpectedContinuation { line: reply.line },
            )),
        }
    }

    fn check_usable(&self, command: &str) -> Result<(), Pop3Error> {
        match &self.broken {
            Some(cause) => Err(Pop3Error::Unusable {
                command: command.into(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Marks the session unusable: after this error the stream is mid-reply.
    fn fail(&mut self, error: Pop3Error) -> Pop3Error {
        self.broken = Some(error.to_string());
        error
    }

    fn fail_protocol(&mut self, command: &str, source: CodecError) -> Pop3Error {
        self.fail(Pop3Error::Protocol {
            command: command.into(),
            source,
        })
    }

    fn queue(&mut self, line: &str, shown: &str) {
        if self.pending.is_none() {
            self.pending = Some(shown.to_string());
        }
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.extend_from_slice(b"\r\n");
        self.stats.commands += 1;
    }

    async fn flush(&mut self) -> Result<(), Pop3Error> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let command = self.pending.take().unwrap_or_default();
        let after = self.timeouts.command;
        let write = async {
            self.stream.write_all(&self.wbuf[self.wpos..]).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(after, write).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(self.fail(Pop3Error::Io { command, source })),
            Err(_) => return Err(self.fail(Pop3Error::Timeout { command, after })),
        }
        self.stats.bytes_sent += (self.wbuf.len() - self.wpos) as u64;
        self.stats.round_trips += 1;
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Reads until new bytes hold an LF or the unread bytes pass the line limit. Before
    /// that a partial status line stays partial, so decoding again would only rescan it:
    /// a long line arriving in small reads would cost the square of its length.
    async fn fill_to_lf(&mut self, command: &str) -> Result<(), Pop3Error> {
        loop {
            // `fill` may move the unread bytes to the front; their length stays.
            let seen = self.rbuf.len() - self.rpos;
            self.fill(command).await?;
            let unread = &self.rbuf[self.rpos..];
            if memchr::memchr(b'\n', &unread[seen..]).is_some()
                || unread.len() > self.limits.max_line
            {
                return Ok(());
            }
        }
    }

    /// Reads more bytes into the buffer; end of stream is [`Pop3Error::Disconnected`].
    async fn fill(&mut self, command: &str) -> Result<(), Pop3Error> {
        if self.rpos > 0 && (self.rpos == self.rbuf.len() || self.rpos >= READ_CHUNK) {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        // Read into spare capacity: zeroing a whole chunk per read would cost 32 KiB of
        // writes per byte against a server that sends one byte at a time.
        self.rbuf.reserve(READ_CHUNK);
        let after = self.timeouts.command;
        // The first wait for a reply is bounded by the idle timeout alone; later ones,
        // after bytes came, by whatever is left before the deadline too.
        let (left, trickled) = match self.deadline {
            Some(deadline) => (deadline.saturating_duration_since(Instant::now()), true),
            None => {
                self.deadline = Some(Instant::now() + after);
                (after, false)
            }
        };
        let read = tokio::time::timeout(after.min(left), self.read_sending()).await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(source)) => {
                return Err(self.fail(Pop3Error::Io {
                    command: command.into(),
                    source,
                }));
            }
            Err(_) if trickled && left < after => {
                return Err(self.fail(Pop3Error::Deadline {
                    command: command.into(),
                    after,
                }));
            }
            Err(_) => {
                return Err(self.fail(Pop3Error::Timeout {
                    command: command.into(),
                    after,
                }));
            }
        };
        if n == 0 {
            return Err(self.fail(Pop3Error::Disconnected {
                command: command.into(),
            }));
        }
        self.stats.bytes_received += n as u64;
        Ok(())
    }

    /// Reads into the spare capacity of `rbuf`, writing queued commands meanwhile:
    /// pipelined commands left in `wbuf` go out as the socket takes them, so client and
    /// server never both wait on a full buffer, however many commands are queued.
    async fn read_sending(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            while self.wpos < self.wbuf.len() {
                match Pin::new(&mut self.stream).poll_write(cx, &self.wbuf[self.wpos..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        self.stats.bytes_sent += n as u64;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            if self.wpos > 0 && self.wpos == self.wbuf.len() {
                match Pin::new(&mut self.stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.wbuf.clear();
                        self.wpos = 0;
                        self.pending = None;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            let mut buf = ReadBuf::uninit(self.rbuf.spare_capacity_mut());
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let n = buf.filled().len();
                    // SAFETY: `ReadBuf` vouches that its first `n` bytes, the start of the
                    // spare capacity, were written (initialised) by the read.
                    unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    async fn read_reply(&mut self, command: &str) -> Result<Reply, Pop3Error> {
        // Each reply (status line and any block after it) gets its own deadline.
        self.deadline = None;
        loop {
            match codec::decode_reply(&self.rbuf[self.rpos..], self.limits.max_line) {
                Ok(Decoded::Done { value, consumed }) => {
                    self.rpos += consumed;
                    return Ok(value);
                }
                Ok(Decoded::NeedMore) => self.fill_to_lf(command).await?,
                Err(source) => return Err(self.fail_protocol(command, source)),
            }
        }
    }

    async fn read_block(
        &mut self,
        command: &str,
        max_line: usize,
        max_block: usize,
    ) -> Result<Vec<u8>, Pop3Error> {
        let mut decoder = BlockDecoder::new(max_line, max_block);
        loop {
            match decoder.decode(&self.rbuf[self.rpos..]) {
                Ok(BlockProgress::Done { consumed, block }) => {
                    self.rpos += consumed;
                    return Ok(block);
                }
                Ok(BlockProgress::NeedMore { consumed }) => {
                    self.rpos += consumed;
                    self.fill(command).await?;
                }
                Err(source) => return Err(self.fail_protocol(command, source)),
            }
        }
    }
}

/// Connects, secures the connection as asked and reads the greeting. For
/// [`Security::StartTls`] the greeting is read in the clear, `STLS` is sent and the
/// session continues over TLS (ask `CAPA` afterwards). Certificates are verified
/// against `trust` and `host`.
pub async fn connect(
    host: &str,
    port: u16,
    security: Security,
    trust: &Trust,
    timeouts: Timeouts,
    limits: Limits,
) -> Result<Pop3Client<MaybeTls>, Pop3Error> {
    let config = match security {
        Security::Plain => None,
        Security::Implicit | Security::StartTls => Some(tls::client_config(trust)?),
    };
    let tcp = tls::connect_tcp(host, port, timeouts.connect)
        .await
        .map_err(|source| Pop3Error::Connect {
            host: host.to_string(),
            port,
            source,
        })?;
    let handshake = |tcp, config| async move {
        match tokio::time::timeout(timeouts.connect, tls::upgrade(tcp, host, config)).await {
            Ok(Ok(s)) => Ok(MaybeTls::Tls(Box::new(s))),
            Ok(Err(e)) => Err(Pop3Error::Tls(e)),
            Err(_) => Err(Pop3Error::Timeout {
                command: "TLS handshake".into(),
                after: timeouts.connect,
            }),
        }
    };
    match (security, config) {
        (Security::Implicit, Some(config)) => {
            let stream = handshake(tcp, config).await?;
            Pop3Client::greet(stream, timeouts, limits).await
        }
        (Security::StartTls, Some(config)) => {
            let client = Pop3Client::greet(MaybeTls::Plain(tcp), timeouts, limits).await?;
            let (stream, resume) = client.stls().await?;
            let MaybeTls::Plain(tcp) = stream else {
                unreachable!("the stream was plain before STLS")
            };
            let stream = handshake(tcp, config).await?;
            Ok(Pop3Client::resume(stream, resume))
        }
        _ => Pop3Client::greet(MaybeTls::Plain(tcp), timeouts, limits).await,
    }
}

pub mod pipeline;
#[cfg(test)]
mod tests;
