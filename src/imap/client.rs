//! An async IMAP client over any stream, for reading a mailbox the way a migration does.
//!
//! It logs in, lists folders, EXAMINEs one, lists UIDs with sizes or flags, and fetches
//! sizes, headers and whole messages by UID. UID sets are batched: compressed into
//! ranges and pipelined (several tagged commands in flight) for speed, or written as
//! Dovecot's imapc writes them (comma lists, one command at a time) so a harness can
//! mimic its traffic. [`Stats`] counts commands and round trips deterministically: a
//! round trip is counted each time the client flushes commands and then waits, at points
//! fixed by the command sequence alone, never by how the bytes happened to arrive.
//!
//! Every read is bounded ([`Limits`]) and timed ([`Timeouts`]); every failure is an
//! [`ImapError`] naming the command (passwords shown as `***`) and the server's reply.
//! STARTTLS hands the raw stream back ([`ImapClient::starttls`]); the caller wraps it
//! with [`crate::tls::upgrade`] and continues with [`ImapClient::after_tls`]. [`connect`]
//! does all of that for the three [`Security`] modes.
//!
//! Here: the types, connecting, the greeting, capabilities, login and logout. The rest by
//! what it does: `client/mailbox.rs` (LIST, STATUS, EXAMINE, UID listings),
//! `client/fetch.rs` (fetches by UID, batched and pipelined) and `client/wire.rs`
//! (queueing, flushing and reading responses).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::codec::{
    self, Code, CodecError, CodecLimits, Decoded, FetchItem, ListEntry, Response, Section, Status,
    Tagged, Untagged,
};
use crate::secret::Secret;
use crate::tls::{self, MaybeTls, Security, TlsError, Trust};

mod fetch;
mod mailbox;
mod pipeline;
#[cfg(test)]
mod tests;
mod wire;

use fetch::{Want, fetch_summary, wanted_position};
use wire::{
    Cmd, MAX_PIPELINED_BYTES, Part, astring_part, mailbox_cmd, render_status, render_tagged,
    shown_string, summary, unexpected,
};

/// Bounds on what the server may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Line, literal, response size and nesting bounds of the codec.
    pub codec: CodecLimits,
    /// Most untagged responses accepted between two tagged ones (one per message in a
    /// `UID FETCH 1:*` listing).
    pub max_untagged: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            codec: CodecLimits::default(),
            max_untagged: 1_000_000,
        }
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, and the TLS handshake.
    pub connect: Duration,
    /// Longest silence accepted while a reply is due, and longest a write may block.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            io: Duration::from_secs(60),
        }
    }
}

/// What the client did on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tagged commands sent.
    pub commands: u64,
    /// Times the client flushed what it had written and then waited for the server.
    pub round_trips: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// How a UID set is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetStyle {
    /// Consecutive runs as ranges: `1:3,5,7:9`.
    Ranges,
    /// A plain comma list, as Dovecot's imapc writes it: `1,2,3,5,7,8,9`.
    Commas,
}

/// How UID-set fetches are cut into commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most UIDs per command.
    pub per_command: usize,
    /// Most commands in flight. Refills happen when half the window has completed, so
    /// that a large fetch costs about `2 × commands / in_flight` round trips.
    pub in_flight: usize,
    pub style: SetStyle,
}

impl Batching {
    /// Fast: ranges of up to 500 UIDs, 8 commands in flight.
    pub const PIPELINED: Batching = Batching {
        per_command: 500,
        in_flight: 8,
        style: SetStyle::Ranges,
    };
    /// Dovecot's "docs" profile (`mail_prefetch_count = 20`): comma lists of up to 21
    /// UIDs, one command at a time.
    pub const DOVECOT_DOCS: Batching = Batching {
        per_command: 21,
        in_flight: 1,
        style: SetStyle::Commas,
    };
    /// Dovecot's "bare" profile (defaults): one UID per command, one at a time.
    pub const DOVECOT_BARE: Batching = Batching {
        per_command: 1,
        in_flight: 1,
        style: SetStyle::Commas,
    };
}

impl Default for Batching {
    fn default() -> Self {
        Batching::PIPELINED
    }
}

/// Errors of the IMAP client. `command` and `context` never hold a password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connecting to {server}: {source}")]
    Connect { server: String, source: io::Error },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{context}: TLS handshake took longer than {after:?}")]
    TlsTimeout { context: String, after: Duration },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("{context}: no reply within {after:?}")]
    Timeout { context: String, after: Duration },
    #[error("{context}: the reply was not complete within {after:?} (the per-command deadline)")]
    Deadline { context: String, after: Duration },
    #[error("{context}: connection closed by the server")]
    Closed { context: String },
    #[error("{context}: the server said BYE: {reply}")]
    Bye { context: String, reply: String },
    #[error("{context}: malformed reply: {source}")]
    Codec { context: String, source: CodecError },
    #[error("greeting refused: {reply}")]
    Greeting { reply: String },
    #[error("{command}: {reply}")]
    Rejected {
        command: String,
        status: Status,
        /// The tagged reply without its tag, e.g. `NO [AUTHENTICATIONFAILED] ...`.
        reply: String,
    },
    #[error("{context}: more than {limit} untagged responses")]
    TooManyResponses { context: String, limit: usize },
    #[error("{context}: more than {limit} EXISTS responses to one command (an untagged flood)")]
    TooManyExists { context: String, limit: usize },
    #[error("{context}: {problem} (reply: {reply})")]
    Protocol {
        context: String,
        problem: String,
        reply: String,
    },
    #[error("{command}: the server does not offer {capability}")]
    NotSupported { command: String, capability: String },
    #[error("{command}: no mailbox is selected")]
    NotSelected { command: String },
}

impl ImapError {
    fn protocol(context: &str, problem: impl Into<String>, reply: impl Into<String>) -> Self {
        ImapError::Protocol {
            context: context.to_string(),
            problem: problem.into(),
            reply: reply.into(),
        }
    }
}

/// A folder as `LIST` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub name: String,
    pub delimiter: Option<char>,
    pub attributes: Vec<String>,
}

impl Mailbox {
    /// False for `\Noselect` and `\NonExistent` entries, which cannot be EXAMINEd.
    pub fn is_selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

impl From<ListEntry> for Mailbox {
    fn from(e: ListEntry) -> Self {
        Mailbox {
            name: e.name,
            delimiter: e.delimiter,
            attributes: e.attributes,
        }
    }
}

/// `STATUS` numbers of a folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: Option<u32>,
    pub uidnext: Option<u32>,
    pub uidvalidity: Option<u32>,
}

/// What `EXAMINE` reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub name: String,
    pub exists: u32,
    pub uidvalidity: u32,
    /// `None` when the server sent no `[UIDNEXT]` (imapc then asks STATUS).
    pub uidnext: Option<u32>,
    pub read_only: bool,
    pub flags: Vec<String>,
}

/// One message of a `UID FETCH 1:*` listing, in sequence order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub seq: u32,
    pub uid: u32,
    /// `RFC822.SIZE`, when asked for and sent.
    pub size: Option<u64>,
    /// `FLAGS`, when sent.
    pub flags: Vec<String>,
}

/// The result of a fetch by UID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched<T> {
    /// What came back, by UID.
    pub items: BTreeMap<u32, T>,
    /// UIDs asked for that the server returned nothing for. `UID FETCH` silently skips
    /// messages that are gone, so this is how an expunged message shows (as Dovecot's
    /// imapc sees it too), whether or not an `EXPUNGE` was announced.
    pub expunged: Vec<u32>,
    /// UIDs for which the server sent `NIL` instead of the data. Dovecot's imapd does
    /// this for a message whose file vanished under it, and Dovecot's imapc treats `NIL`
    /// as expunged (`mail_set_expunged` in imapc-mail-fetch.c).
    pub nil: Vec<u32>,
    /// `* n EXPUNGE` notices received during the fetch.
    pub expunge_notices: u32,
}

impl<T> Fetched<T> {
    /// Every UID asked for that imapc would treat as expunged: not returned, or `NIL`.
    pub fn vanished(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.expunged.iter().chain(&self.nil).copied().collect();
        all.sort_unstable();
        all
    }
}

impl Fetched<()> {
    fn with_items<T>(self, items: BTreeMap<u32, T>) -> Fetched<T> {
        Fetched {
            items,
            expunged: self.expunged,
            nil: self.nil,
            expunge_notices: self.expunge_notices,
        }
    }
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            items: BTreeMap::new(),
            expunged: Vec::new(),
            nil: Vec::new(),
            expunge_notices: 0,
        }
    }
}

/// What is left of a client after `STARTTLS`: carried over to [`ImapClient::after_tls`].
#[derive(Debug)]
pub struct Upgrade<S> {
    /// The raw stream, to be wrapped in TLS.
    pub stream: S,
    /// Counters, tag sequence and settings of the session, opaque.
    pub state: SessionState,
}

/// The parts of a session that survive a TLS upgrade.
#[derive(Clone, Debug)]
pub struct SessionState {
    stats: Stats,
    next_tag: u64,
    limits: Limits,
    timeouts: Timeouts,
}

impl SessionState {
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// The selected mailbox as the client tracks it: UIDs by sequence number, `0` where not
/// yet known.
#[derive(Debug, Default)]
struct MailboxState {
    seq_uids: Vec<u32>,
    exists_seen: bool,
}

/// An IMAP client over any stream.
pub struct ImapClient<S> {
    stream: S,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    next_tag: u64,
    capabilities: Option<Vec<String>>,
    limits: Limits,
    timeouts: Timeouts,
    stats: Stats,
    mailbox: Option<MailboxState>,
    preauth: bool,
    greeting: String,
    bye: Option<String>,
    alerts: Vec<String>,
    untagged_run: usize,
    /// `EXISTS` responses since the last tagged one.
    exists_run: usize,
    /// Sequence numbers those `EXISTS` added (each costs the map a resize).
    exists_grown: usize,
    /// The last sign of progress (a flush, a tagged reply): the reply awaited must be
    /// complete `timeouts.io` after it, however steadily bytes trickle in.
    progress_at: Instant,
    /// `stats.bytes_received` at `progress_at`: no byte since means silence (the
    /// idle timeout), not a trickle (the deadline).
    progress_bytes: u64,
    /// Bumped whenever the server announces capabilities.
    caps_generation: u64,
    /// How far the response at `rpos` is framed, while it is incomplete.
    resume: codec::Resume,
}

/// Leaves the buffers out: the output buffer may hold a password being sent.
impl<S> fmt::Debug for ImapClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapClient")
            .field("capabilities", &self.capabilities)
            .field("stats", &self.stats)
            .field("selected", &self.mailbox.as_ref().map(|m| m.seq_uids.len()))
            .field("preauth", &self.preauth)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// Reads the greeting. `* OK` and `* PREAUTH` are accepted; `* BYE` is an error.
    pub async fn greet(stream: S, timeouts: Timeouts, limits: Limits) -> Result<Self, ImapError> {
        let mut c = ImapClient::new(
            stream,
            SessionState {
                stats: Stats::default(),
                next_tag: 1,
                limits,
                timeouts,
            },
        );
        match c.next_response("greeting").await? {
            Response::Untagged(Untagged::Status { status, code, text }) => {
                c.greeting = text.clone();
                match status {
                    Status::Ok | Status::PreAuth => {
                        c.preauth = status == Status::PreAuth;
                        if let Some(Code::Capability(caps)) = code {
                            c.capabilities = Some(caps);
                        }
                        Ok(c)
                    }
                    _ => Err(ImapError::Greeting {
                        reply: render_status(status, code.as_ref(), &text),
                    }),
                }
            }
            other => Err(ImapError::Greeting {
                reply: summary(&other),
            }),
        }
    }

    /// Continues a session on a new (TLS) stream after [`ImapClient::starttls`]. The
    /// capabilities are forgotten, as RFC 3501 requires, and asked again when needed.
    pub fn after_tls(stream: S, state: SessionState) -> Self {
        ImapClient::new(stream, state)
    }

    fn new(stream: S, state: SessionState) -> Self {
        ImapClient {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            next_tag: state.next_tag,
            capabilities: None,
            limits: state.limits,
            timeouts: state.timeouts,
            stats: state.stats,
            mailbox: None,
            preauth: false,
            greeting: String::new(),
            bye: None,
            alerts: Vec::new(),
            untagged_run: 0,
            exists_run: 0,
            exists_grown: 0,
            progress_at: Instant::now(),
            progress_bytes: state.stats.bytes_received,
            caps_generation: 0,
            resume: codec::Resume::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The greeting's text.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// True when the greeting was `PREAUTH` (no login needed).
    pub fn is_preauth(&self) -> bool {
        self.preauth
    }

    /// `[ALERT]` texts the server sent, which RFC 3501 says must reach the user.
    pub fn alerts(&self) -> &[String] {
        &self.alerts
    }

    /// The capabilities last announced, if any were since the last change of state.
    pub fn known_capabilities(&self) -> Option<&[String]> {
        self.capabilities.as_deref()
    }

    /// The capabilities, asking with `CAPABILITY` if none are known.
    pub async fn capabilities(&mut self) -> Result<Vec<String>, ImapError> {
        if self.capabilities.is_none() {
            self.run(Cmd::text("CAPABILITY")).await?;
            if self.capabilities.is_none() {
                return Err(ImapError::protocol(
                    "CAPABILITY",
                    "no CAPABILITY response",
                    "",
                ));
            }
        }
        Ok(self.capabilities.clone().unwrap_or_default())
    }

    /// Whether `name` is among the capabilities (case-insensitive).
    pub async fn has_capability(&mut self, name: &str) -> Result<bool, ImapError> {
        Ok(self
            .capabilities()
            .await?
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name)))
    }

    fn knows_capability(&self, name: &str) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|caps| caps.iter().any(|c| c.eq_ignore_ascii_case(name)))
    }

    /// `NOOP`: lets the server report new or expunged messages.
    pub async fn noop(&mut self) -> Result<(), ImapError> {
        self.run(Cmd::text("NOOP")).await.map(drop)
    }

    /// `STARTTLS`. On success the raw stream is handed back for the TLS handshake. Bytes
    /// the server sent after its OK would be plaintext injected before TLS: an error.
    pub async fn starttls(mut self) -> Result<Upgrade<S>, ImapError> {
        self.run(Cmd::text("STARTTLS")).await?;
        if self.rpos < self.rbuf.len() {
            return Err(ImapError::protocol(
                "STARTTLS",
                "the server sent data after its OK, before the TLS handshake",
                codec::excerpt(&self.rbuf[self.rpos..]),
            ));
        }
        Ok(Upgrade {
            stream: self.stream,
            state: SessionState {
                stats: self.stats,
                next_tag: self.next_tag,
                limits: self.limits,
                timeouts: self.timeouts,
            },
        })
    }

    /// `LOGIN user password`, each a quoted string, or a literal when it holds CR, LF,
    /// NUL or 8-bit bytes (non-synchronising when the server offers LITERAL+).
    /// Refused without sending anything when the server announces LOGINDISABLED.
    pub async fn login(&mut self, user: &str, password: &Secret) -> Result<(), ImapError> {
        if self.knows_capability("LOGINDISABLED") {
            return Err(ImapError::NotSupported {
                command: format!("LOGIN {} ***", shown_string(user)),
                capability: "LOGIN (LOGINDISABLED)".into(),
            });
        }
        let mut parts = vec![Part::Text(b"LOGIN ".to_vec())];
        parts.push(astring_part(user.as_bytes()));
        parts.push(Part::Text(b" ".to_vec()));
        parts.push(astring_part(password.expose().as_bytes()));
        let shown = format!("LOGIN {} ***", shown_string(user));
        self.after_auth(Cmd { parts, shown }).await
    }

    /// [`ImapClient::login`] with `LIST "" "*"` behind it in the same write (RFC 3501
    /// §5.5): one round trip for both. A refused login is reported as `login` reports it.
    pub async fn login_and_list(
        &mut self,
        user: &str,
        password: &Secret,
    ) -> Result<Vec<Mailbox>, ImapError> {
        if self.knows_capability("LOGINDISABLED") {
            // `login` says why it cannot.
            self.login(user, password).await?;
            return self.list().await;
        }
        let mut parts = vec![Part::Text(b"LOGIN ".to_vec())];
        parts.push(astring_part(user.as_bytes()));
        parts.push(Part::Text(b" ".to_vec()));
        parts.push(astring_part(password.expose().as_bytes()));
        let shown = format!("LOGIN {} ***", shown_string(user));
        let generation = self.caps_generation;
        let login = self
            .queue(&Cmd {
                parts,
                shown: shown.clone(),
            })
            .await?;
        const LIST: &str = "LIST \"\" \"*\"";
        let list = self.queue(&Cmd::text(LIST)).await?;
        self.flush_out(LIST).await?;
        self.read_to_tag(&login, &shown).await?;
        if self.caps_generation == generation {
            self.capabilities = None;
        }
        let (untagged, _) = self.read_to_tag(&list, LIST).await?;
        Ok(untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List(e) => Some(Mailbox::from(e)),
                _ => None,
            })
            .collect())
    }

    /// `AUTHENTICATE PLAIN`, with the initial response on the command line when the
    /// server offers SASL-IR, otherwise after its `+`.
    pub async fn authenticate_plain(
        &mut self,
        user: &str,
        password: &Secret,
    ) -> Result<(), ImapError> {
        let mut raw = Vec::with_capacity(user.len() + password.expose().len() + 2);
        raw.push(0);
        raw.extend_from_slice(user.as_bytes());
        raw.push(0);
        raw.extend_from_slice(password.expose().as_bytes());
        let ir = base64::engine::general_purpose::STANDARD
            .encode(raw)
            .into_bytes();
        let parts = if self.knows_capability("SASL-IR") {
            let mut line = b"AUTHENTICATE PLAIN ".to_vec();
            line.extend_from_slice(&ir);
            vec![Part::Text(line)]
        } else {
            vec![
                Part::Text(b"AUTHENTICATE PLAIN".to_vec()),
                Part::AfterContinuation(ir),
            ]
        };
        self.after_auth(Cmd {
            parts,
            shown: "AUTHENTICATE PLAIN ***".into(),
        })
        .await
    }

    async fn after_auth(&mut self, cmd: Cmd) -> Result<(), ImapError> {
        let generation = self.caps_generation;
        self.run(cmd).await?;
        // Capabilities change with authentication: unless the reply announced the new
        // ones, forget the old and ask again when needed.
        if self.caps_generation == generation {
            self.capabilities = None;
        }
        Ok(())
    }

    /// Sends `LOGOUT` and closes the stream without waiting for the reply: polite to
    /// the server, and no round trip spent at the end of a read.
    pub async fn logout_without_waiting(mut self) {
        if self.queue(&Cmd::text("LOGOUT")).await.is_ok() && self.flush_out("LOGOUT").await.is_ok()
        {
            let _ = tokio::time::timeout(self.timeouts.io, self.stream.shutdown()).await;
        }
    }

    /// `LOGOUT`, then closes the stream. A server that closes right after its BYE is
    /// fine. Returns the final counters.
    pub async fn logout(mut self) -> Result<Stats, ImapError> {
        let tag = self.queue(&Cmd::text("LOGOUT")).await?;
        self.flush_out("LOGOUT").await?;
        loop {
            match self.next_response("LOGOUT").await {
                Ok(Response::Tagged(t)) if t.tag == tag => {
                    self.check_ok("LOGOUT", &t)?;
                    break;
                }
                Ok(Response::Untagged(_)) => {}
                Ok(other) => return Err(unexpected("LOGOUT", &other)),
                Err(ImapError::Bye { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        let _ = tokio::time::timeout(self.timeouts.io, self.stream.shutdown()).await;
        Ok(self.stats)
    }
}

/// Connects, secures the connection as asked, and reads the greeting. With
/// [`Security::StartTls`] the server must offer STARTTLS: falling back to plaintext
/// would send the password in the clear.
pub async fn connect(
    host: &str,
    port: u16,
    security: Security,
    trust: &Trust,
    timeouts: Timeouts,
    limits: Limits,
) -> Result<ImapClient<MaybeTls>, ImapError> {
    let config = match security {
        Security::Plain => None,
        Security::Implicit | Security::StartTls => Some(tls::client_config(trust)?),
    };
    let server = format!("{host}:{port}");
    let tcp = tls::connect_tcp(host, port, timeouts.connect)
        .await
        .map_err(|source| ImapError::Connect {
            server: server.clone(),
            source,
        })?;
    match (security, config) {
        (Security::Implicit, Some(config)) => {
            let stream = handshake(tcp, host, config, timeouts, &server).await?;
            ImapClient::greet(MaybeTls::Tls(Box::new(stream)), timeouts, limits).await
        }
        (Security::StartTls, Some(config)) => {
            let mut plain = ImapClient::greet(tcp, timeouts, limits).await?;
            if plain.is_preauth() {
                return Err(ImapError::protocol(
                    "greeting",
                    "PREAUTH greeting: STARTTLS is no longer possible",
                    plain.greeting().to_string(),
                ));
            }
            if !plain.has_capability("STARTTLS").await? {
                return Err(ImapError::NotSupported {
                    command: "STARTTLS".into(),
                    capability: "STARTTLS".into(),
                });
            }
            let up = plain.starttls().await?;
            let stream = handshake(up.stream, host, config, timeouts, &server).await?;
            Ok(ImapClient::after_tls(
                MaybeTls::Tls(Box::new(stream)),
                up.state,
            ))
        }
        _ => ImapClient::greet(MaybeTls::Plain(tcp), timeouts, limits).await,
    }
}

async fn handshake(
    tcp: TcpStream,
    host: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
    timeouts: Timeouts,
    server: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    match tokio::time::timeout(timeouts.connect, tls::upgrade(tcp, host, config)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ImapError::TlsTimeout {
            context: format!("TLS with {server}"),
            after: timeouts.connect,
        }),
    }
}
