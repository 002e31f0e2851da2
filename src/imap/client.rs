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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::codec::{
    self, Code, CodecError, CodecLimits, Decoded, FetchItem, ListEntry, Response, Section, Status,
    Tagged, Untagged,
};
use crate::secret::Secret;
use crate::tls::{self, MaybeTls, Security, TlsError, Trust};

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

/// Which bytes a fetch keeps from each FETCH response.
#[derive(Clone, Copy)]
enum Want {
    Size,
    Flags,
    Body(SectionKind),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SectionKind {
    Header,
    Full,
}

enum Got {
    Size(u64),
    Bytes(Vec<u8>),
}

/// A piece of a command on the wire.
enum Part {
    Text(Vec<u8>),
    /// A string that must travel as a literal.
    Literal(Vec<u8>),
    /// Sent after the server's `+` continuation (SASL without SASL-IR).
    AfterContinuation(Vec<u8>),
}

/// A command: its wire pieces and how it is shown in errors.
struct Cmd {
    parts: Vec<Part>,
    shown: String,
}

impl Cmd {
    fn text(s: impl Into<String>) -> Cmd {
        let s = s.into();
        Cmd {
            parts: vec![Part::Text(s.clone().into_bytes())],
            shown: s,
        }
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

const READ_CHUNK: usize = 64 * 1024;
/// Most command bytes written in one go while pipelining.
const MAX_PIPELINED_BYTES: usize = 32 * 1024;

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

    /// The hierarchy separator, from `LIST "" ""`. `None` for a flat namespace.
    pub async fn separator(&mut self) -> Result<Option<char>, ImapError> {
        let (untagged, _) = self.run(Cmd::text("LIST \"\" \"\"")).await?;
        for u in untagged {
            if let Untagged::List(e) = u {
                return Ok(e.delimiter);
            }
        }
        Err(ImapError::protocol(
            "LIST \"\" \"\"",
            "no LIST response giving the hierarchy separator",
            "",
        ))
    }

    /// Every folder, from `LIST "" "*"`, in the server's order.
    pub async fn list(&mut self) -> Result<Vec<Mailbox>, ImapError> {
        let (untagged, _) = self.run(Cmd::text("LIST \"\" \"*\"")).await?;
        Ok(untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List(e) => Some(Mailbox::from(e)),
                _ => None,
            })
            .collect())
    }

    /// `STATUS mailbox (MESSAGES UIDNEXT UIDVALIDITY)`.
    pub async fn status(&mut self, mailbox: &str) -> Result<MailboxStatus, ImapError> {
        let mut cmd = mailbox_cmd("STATUS", mailbox);
        cmd.parts
            .push(Part::Text(b" (MESSAGES UIDNEXT UIDVALIDITY)".to_vec()));
        cmd.shown.push_str(" (MESSAGES UIDNEXT UIDVALIDITY)");
        let (untagged, _) = self.run(cmd).await?;
        let mut out = MailboxStatus::default();
        for u in untagged {
            if let Untagged::MailboxStatus { items, .. } = u {
                for (name, n) in items {
                    let n = u32::try_from(n).ok();
                    match name.as_str() {
                        "MESSAGES" => out.messages = n,
                        "UIDNEXT" => out.uidnext = n,
                        "UIDVALIDITY" => out.uidvalidity = n,
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// `EXAMINE mailbox` (read-only). EXISTS and UIDVALIDITY are required, as imapc
    /// requires them.
    pub async fn examine(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let cmd = mailbox_cmd("EXAMINE", mailbox);
        let shown = cmd.shown.clone();
        self.mailbox = Some(MailboxState::default());
        let (untagged, tagged) = match self.run(cmd).await {
            Ok(r) => r,
            Err(e) => {
                self.mailbox = None;
                return Err(e);
            }
        };
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut flags = Vec::new();
        let mut read_only = matches!(tagged.code, Some(Code::ReadOnly));
        for u in &untagged {
            match u {
                Untagged::Status { code: Some(c), .. } => match c {
                    Code::UidValidity(v) => uidvalidity = Some(*v),
                    Code::UidNext(n) => uidnext = Some(*n),
                    Code::ReadOnly => read_only = true,
                    _ => {}
                },
                Untagged::Flags(f) => flags = f.clone(),
                _ => {}
            }
        }
        let state = self.mailbox.as_ref().filter(|m| m.exists_seen);
        let (Some(state), Some(uidvalidity)) = (state, uidvalidity) else {
            self.mailbox = None;
            return Err(ImapError::protocol(
                &shown,
                "EXISTS/UIDVALIDITY not received",
                render_tagged(&tagged),
            ));
        };
        Ok(Selected {
            name: mailbox.to_string(),
            exists: state.seq_uids.len() as u32,
            uidvalidity,
            uidnext,
            read_only,
            flags,
        })
    }

    /// The number of messages in the selected mailbox, as last reported.
    pub fn exists(&self) -> Option<u32> {
        self.mailbox.as_ref().map(|m| m.seq_uids.len() as u32)
    }

    /// `UID FETCH 1:* (UID RFC822.SIZE)`: every message's UID and size, in sequence
    /// order. Sends nothing for an empty mailbox.
    pub async fn uid_sizes(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.listing("UID FETCH 1:* (UID RFC822.SIZE)", Want::Size)
            .await
    }

    /// `UID FETCH 1:* (FLAGS)`, exactly as imapc lists a mailbox; the server adds UID.
    pub async fn uid_flags(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.listing("UID FETCH 1:* (FLAGS)", Want::Flags).await
    }

    async fn listing(&mut self, command: &str, key: Want) -> Result<Vec<Listed>, ImapError> {
        let Some(state) = &self.mailbox else {
            return Err(ImapError::NotSelected {
                command: command.into(),
            });
        };
        if state.seq_uids.is_empty() {
            return Ok(Vec::new());
        }
        let tag = self.queue(&Cmd::text(command)).await?;
        self.flush_out(command).await?;
        let mut data: HashMap<u32, (Option<u64>, Vec<String>)> = HashMap::new();
        loop {
            match self.next_response(command).await? {
                Response::Untagged(Untagged::Fetch { seq, items }) => {
                    // Flag updates without UID may come unsolicited; a FETCH carrying
                    // what was asked for must be placeable.
                    let needed = wanted_position(&items, key).is_some();
                    let Some(uid) = self.fetch_uid(seq, &items, command, needed)? else {
                        continue;
                    };
                    let entry = data.entry(uid).or_default();
                    for item in items {
                        match item {
                            FetchItem::Rfc822Size(n) => entry.0 = Some(n),
                            FetchItem::Flags(f) => entry.1 = f,
                            _ => {}
                        }
                    }
                }
                Response::Untagged(_) => {}
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(command, &t)?;
                    break;
                }
                other => return Err(unexpected(command, &other)),
            }
        }
        let seq_uids = self
            .mailbox
            .as_ref()
            .map(|m| m.seq_uids.clone())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(seq_uids.len());
        let mut last = 0;
        for (i, &uid) in seq_uids.iter().enumerate() {
            if uid == 0 {
                // A message announced by EXISTS that the listing did not include.
                continue;
            }
            if uid <= last {
                return Err(ImapError::protocol(
                    command,
                    format!(
                        "UIDs not ascending: UID {uid} at sequence {} after UID {last}",
                        i + 1
                    ),
                    "",
                ));
            }
            last = uid;
            let (size, flags) = data.remove(&uid).unwrap_or_default();
            out.push(Listed {
                seq: i as u32 + 1,
                uid,
                size,
                flags,
            });
        }
        Ok(out)
    }

    /// `UID FETCH <set> (RFC822.SIZE)`, as imapc asks for sizes in the docs profile.
    pub async fn fetch_sizes(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<u64>, ImapError> {
        let mut items = BTreeMap::new();
        let f = self
            .fetch_each(uids, "(RFC822.SIZE)", Want::Size, batching, |uid, got| {
                if let Got::Size(n) = got {
                    items.insert(uid, n);
                }
            })
            .await?;
        Ok(f.with_items(items))
    }

    /// `UID FETCH <set> (BODY.PEEK[HEADER])`: the header bytes exactly as received.
    pub async fn fetch_headers(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<Vec<u8>>, ImapError> {
        self.fetch_bytes(uids, "(BODY.PEEK[HEADER])", SectionKind::Header, batching)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[HEADER])`, handing each header to `each` as it
    /// arrives so that a large mailbox is never held in memory. The result's `items`
    /// is empty; `vanished()` names the UIDs that did not come back.
    pub async fn fetch_headers_each(
        &mut self,
        uids: &[u32],
        batching: Batching,
        each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.section_each(
            uids,
            "(BODY.PEEK[HEADER])",
            SectionKind::Header,
            batching,
            each,
        )
        .await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`: whole messages, for the header fallback.
    pub async fn fetch_full(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<Vec<u8>>, ImapError> {
        self.fetch_bytes(uids, "(BODY.PEEK[])", SectionKind::Full, batching)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`, keeping only each message's length: the size
    /// Dovecot 2.3 measures by default. Bodies are dropped as they arrive.
    pub async fn fetch_full_sizes(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<u64>, ImapError> {
        let mut items = BTreeMap::new();
        let f = self
            .fetch_full_each(uids, batching, |uid, bytes| {
                items.insert(uid, bytes.len() as u64);
            })
            .await?;
        Ok(f.with_items(items))
    }

    /// `UID FETCH <set> (BODY.PEEK[])`, handing each message to `each` as it arrives so
    /// that a large mailbox is never held in memory. The result's `items` is empty.
    pub async fn fetch_full_each(
        &mut self,
        uids: &[u32],
        batching: Batching,
        each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.section_each(uids, "(BODY.PEEK[])", SectionKind::Full, batching, each)
            .await
    }

    /// A body section of each UID, handed to `each` as it arrives.
    async fn section_each(
        &mut self,
        uids: &[u32],
        items_arg: &str,
        kind: SectionKind,
        batching: Batching,
        mut each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.fetch_each(uids, items_arg, Want::Body(kind), batching, |uid, got| {
            if let Got::Bytes(b) = got {
                each(uid, b);
            }
        })
        .await
    }

    async fn fetch_bytes(
        &mut self,
        uids: &[u32],
        items_arg: &str,
        kind: SectionKind,
        batching: Batching,
    ) -> Result<Fetched<Vec<u8>>, ImapError> {
        let mut items = BTreeMap::new();
        let f = self
            .section_each(uids, items_arg, kind, batching, |uid, b| {
                items.insert(uid, b);
            })
            .await?;
        Ok(f.with_items(items))
    }

    /// The batched, pipelined core of every fetch by UID.
    ///
    /// A FETCH that carries the wanted item for a UID that was not asked for, or a
    /// second one for the same UID, is an error: the server has lost track of its
    /// messages (provider quirk 35) and silently pairing the data would corrupt the
    /// map. FETCH responses without the wanted item (flag updates) are ignored.
    async fn fetch_each(
        &mut self,
        uids: &[u32],
        items_arg: &str,
        want: Want,
        batching: Batching,
        mut sink: impl FnMut(u32, Got),
    ) -> Result<Fetched<()>, ImapError> {
        let first_cmd = format!("UID FETCH <set> {items_arg}");
        if self.mailbox.is_none() {
            return Err(ImapError::NotSelected { command: first_cmd });
        }
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.retain(|&u| u != 0);
        let requested: HashSet<u32> = sorted.iter().copied().collect();
        let commands: Vec<String> = sorted
            .chunks(batching.per_command.max(1))
            .map(|chunk| {
                let set = match batching.style {
                    SetStyle::Ranges => codec::uid_ranges(chunk),
                    SetStyle::Commas => codec::uid_commas(chunk),
                };
                format!("UID FETCH {set} {items_arg}")
            })
            .collect();
        let window = batching.in_flight.max(1);
        let mut in_flight: VecDeque<(String, usize)> = VecDeque::new();
        let mut next = 0;
        let mut delivered: HashSet<u32> = HashSet::new();
        let mut out = Fetched::default();
        // Refills happen at the start and after a command completes, never twice in a
        // row, so a round trip always has a wait behind it.
        let mut may_refill = true;
        while next < commands.len() || !in_flight.is_empty() {
            // Refill only once half the window has drained, so round trips stay few and
            // their number depends on the command sequence alone.
            if may_refill && in_flight.len() <= window / 2 && next < commands.len() {
                may_refill = false;
                // The bytes written before reading stay well inside socket buffers, so
                // client and server can never both block on a full buffer.
                while in_flight.len() < window
                    && next < commands.len()
                    && (self.wbuf.is_empty() || self.wbuf.len() < MAX_PIPELINED_BYTES)
                {
                    let tag = self.queue(&Cmd::text(commands[next].clone())).await?;
                    in_flight.push_back((tag, next));
                    next += 1;
                }
                self.flush_out(&commands[next - 1]).await?;
            }
            let Some(&(_, oldest)) = in_flight.front() else {
                break;
            };
            let context = &commands[oldest];
            match self.next_response(context).await? {
                Response::Untagged(Untagged::Fetch { seq, mut items }) => {
                    let pos = wanted_position(&items, want);
                    let Some(uid) = self.fetch_uid(seq, &items, context, pos.is_some())? else {
                        continue;
                    };
                    let Some(pos) = pos else { continue };
                    if !requested.contains(&uid) {
                        return Err(ImapError::protocol(
                            context,
                            format!("FETCH data for UID {uid}, which was not asked for"),
                            fetch_summary(seq, &items),
                        ));
                    }
                    if !delivered.insert(uid) {
                        return Err(ImapError::protocol(
                            context,
                            format!("a second FETCH for UID {uid}"),
                            fetch_summary(seq, &items),
                        ));
                    }
                    // Moved out, not copied: bodies can be large.
                    match items.swap_remove(pos) {
                        FetchItem::Rfc822Size(n) => sink(uid, Got::Size(n)),
                        FetchItem::Body { data: Some(d), .. } => sink(uid, Got::Bytes(d)),
                        _ => out.nil.push(uid),
                    }
                }
                Response::Untagged(Untagged::Expunge(_)) => out.expunge_notices += 1,
                Response::Untagged(_) => {}
                Response::Tagged(t) => {
                    let Some(pos) = in_flight.iter().position(|(tag, _)| *tag == t.tag) else {
                        return Err(unexpected(context, &Response::Tagged(t)));
                    };
                    if let Some((_, index)) = in_flight.remove(pos) {
                        self.check_ok(&commands[index], &t)?;
                    }
                    may_refill = true;
                }
                other => return Err(unexpected(context, &other)),
            }
        }
        out.expunged = sorted
            .into_iter()
            .filter(|u| !delivered.contains(u))
            .collect();
        Ok(out)
    }

    /// The UID a FETCH response is about: its UID item, else the sequence map. Keeps the
    /// map in step and rejects a UID that contradicts it. `Ok(None)` for a FETCH that
    /// can be ignored (no UID, and no data the caller needs).
    fn fetch_uid(
        &mut self,
        seq: u32,
        items: &[FetchItem],
        context: &str,
        needed: bool,
    ) -> Result<Option<u32>, ImapError> {
        let stated = items.iter().find_map(|i| match i {
            FetchItem::Uid(u) => Some(*u),
            _ => None,
        });
        let slot = self
            .mailbox
            .as_mut()
            .and_then(|m| m.seq_uids.get_mut((seq as usize).wrapping_sub(1)));
        match (stated, slot) {
            (Some(uid), Some(known)) => {
                if *known != 0 && *known != uid {
                    return Err(ImapError::protocol(
                        context,
                        format!("FETCH for sequence {seq} says UID {uid}, but it is UID {known}"),
                        fetch_summary(seq, items),
                    ));
                }
                *known = uid;
                Ok(Some(uid))
            }
            (Some(uid), None) => {
                if needed {
                    return Err(ImapError::protocol(
                        context,
                        format!("FETCH for sequence {seq}, beyond the messages announced"),
                        fetch_summary(seq, items),
                    ));
                }
                Ok(Some(uid))
            }
            (None, Some(&mut known)) if known != 0 => Ok(Some(known)),
            (None, _) if needed => Err(ImapError::protocol(
                context,
                format!("FETCH for sequence {seq} without a UID"),
                fetch_summary(seq, items),
            )),
            (None, _) => Ok(None),
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

    /// Sends one command and reads to its tagged reply; `NO`/`BAD` become
    /// [`ImapError::Rejected`]. Untagged responses are returned (and absorbed).
    async fn run(&mut self, cmd: Cmd) -> Result<(Vec<Untagged>, Tagged), ImapError> {
        let tag = self.queue(&cmd).await?;
        self.flush_out(&cmd.shown).await?;
        let mut untagged = Vec::new();
        loop {
            match self.next_response(&cmd.shown).await? {
                Response::Untagged(u) => untagged.push(u),
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(&cmd.shown, &t)?;
                    return Ok((untagged, t));
                }
                other => return Err(unexpected(&cmd.shown, &other)),
            }
        }
    }

    fn check_ok(&self, command: &str, t: &Tagged) -> Result<(), ImapError> {
        if t.status == Status::Ok {
            Ok(())
        } else {
            Err(ImapError::Rejected {
                command: command.to_string(),
                status: t.status,
                reply: render_tagged(t),
            })
        }
    }

    /// Writes a command into the output buffer, waiting for `+` where a synchronising
    /// literal or a SASL response requires it. Returns its tag.
    async fn queue(&mut self, cmd: &Cmd) -> Result<String, ImapError> {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        self.stats.commands += 1;
        self.wbuf.extend_from_slice(tag.as_bytes());
        self.wbuf.push(b' ');
        let literal_plus = self.knows_capability("LITERAL+");
        for part in &cmd.parts {
            match part {
                Part::Text(t) => self.wbuf.extend_from_slice(t),
                Part::Literal(data) => {
                    if literal_plus {
                        self.wbuf
                            .extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                    } else {
                        self.wbuf
                            .extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
                        self.flush_out(&cmd.shown).await?;
                        self.await_continuation(&tag, &cmd.shown).await?;
                    }
                    self.wbuf.extend_from_slice(data);
                }
                Part::AfterContinuation(data) => {
                    self.wbuf.extend_from_slice(b"\r\n");
                    self.flush_out(&cmd.shown).await?;
                    self.await_continuation(&tag, &cmd.shown).await?;
                    self.wbuf.extend_from_slice(data);
                }
            }
        }
        self.wbuf.extend_from_slice(b"\r\n");
        Ok(tag)
    }

    async fn await_continuation(&mut self, tag: &str, shown: &str) -> Result<(), ImapError> {
        loop {
            match self.next_response(shown).await? {
                Response::Continuation { .. } => return Ok(()),
                Response::Untagged(_) => {}
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(shown, &t)?;
                    return Err(ImapError::protocol(
                        shown,
                        "the command completed before all of it was sent",
                        render_tagged(&t),
                    ));
                }
                other => return Err(unexpected(shown, &other)),
            }
        }
    }

    /// Sends what was queued; counts a round trip, since the caller then waits.
    async fn flush_out(&mut self, context: &str) -> Result<(), ImapError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let after = self.timeouts.io;
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(after, write).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(io_error(context, source)),
            Err(_) => {
                return Err(ImapError::Timeout {
                    context: context.to_string(),
                    after,
                });
            }
        }
        self.stats.bytes_sent += self.wbuf.len() as u64;
        self.stats.round_trips += 1;
        self.wbuf.clear();
        Ok(())
    }

    /// The next response, with its untagged effects applied (capabilities, EXISTS,
    /// EXPUNGE, BYE, alerts) and the untagged count checked.
    async fn next_response(&mut self, context: &str) -> Result<Response, ImapError> {
        loop {
            let unread = &self.rbuf[self.rpos..];
            match codec::decode_resuming(unread, &self.limits.codec, &mut self.resume) {
                Ok(Decoded::Complete { value, consumed }) => {
                    self.rpos += consumed;
                    self.absorb(&value, context)?;
                    return Ok(value);
                }
                Ok(Decoded::Incomplete) => self.fill_to_lf(context).await?,
                Err(source) => {
                    self.resume = codec::Resume::default();
                    return Err(ImapError::Codec {
                        context: context.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Reads until new bytes hold an LF, or the unread bytes no longer fit in one line.
    /// Until then an incomplete response stays incomplete and no line can pass the limit,
    /// so decoding again would only rescan: without this a long line arriving in small
    /// reads costs the square of its length.
    async fn fill_to_lf(&mut self, context: &str) -> Result<(), ImapError> {
        loop {
            // `fill` may move the unread bytes to the front; their length stays.
            let seen = self.rbuf.len() - self.rpos;
            self.fill(context).await?;
            let unread = &self.rbuf[self.rpos..];
            if memchr::memchr(b'\n', &unread[seen..]).is_some()
                || unread.len() > self.limits.codec.max_line + 1
            {
                return Ok(());
            }
        }
    }

    async fn fill(&mut self, context: &str) -> Result<(), ImapError> {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > READ_CHUNK {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(READ_CHUNK);
        let after = self.timeouts.io;
        match tokio::time::timeout(after, self.stream.read_buf(&mut self.rbuf)).await {
            Ok(Ok(0)) => Err(match &self.bye {
                Some(reply) => ImapError::Bye {
                    context: context.to_string(),
                    reply: reply.clone(),
                },
                None => ImapError::Closed {
                    context: context.to_string(),
                },
            }),
            Ok(Ok(n)) => {
                self.stats.bytes_received += n as u64;
                Ok(())
            }
            Ok(Err(source)) => Err(io_error(context, source)),
            Err(_) => Err(ImapError::Timeout {
                context: context.to_string(),
                after,
            }),
        }
    }

    fn set_capabilities(&mut self, caps: &[String]) {
        self.capabilities = Some(caps.to_vec());
        self.caps_generation += 1;
    }

    fn absorb(&mut self, response: &Response, context: &str) -> Result<(), ImapError> {
        let untagged = match response {
            Response::Untagged(u) => u,
            Response::Tagged(t) => {
                self.untagged_run = 0;
                if let Some(Code::Capability(c)) = &t.code {
                    self.set_capabilities(c);
                }
                return Ok(());
            }
            Response::Continuation { .. } => return Ok(()),
        };
        self.untagged_run += 1;
        if self.untagged_run > self.limits.max_untagged {
            return Err(ImapError::TooManyResponses {
                context: context.to_string(),
                limit: self.limits.max_untagged,
            });
        }
        match untagged {
            Untagged::Capability(c) => self.set_capabilities(c),
            Untagged::Status { status, code, text } => {
                match code {
                    Some(Code::Capability(c)) => self.set_capabilities(c),
                    Some(Code::Alert) if self.alerts.len() < 100 => self.alerts.push(text.clone()),
                    _ => {}
                }
                if *status == Status::Bye {
                    self.bye = Some(render_status(*status, code.as_ref(), text));
                }
            }
            Untagged::Exists(n) => {
                if let Some(m) = &mut self.mailbox {
                    m.exists_seen = true;
                    let n = *n as usize;
                    if n > self.limits.max_untagged {
                        return Err(ImapError::TooManyResponses {
                            context: context.to_string(),
                            limit: self.limits.max_untagged,
                        });
                    }
                    // EXISTS never shrinks a mailbox without EXPUNGE; a server that says
                    // so anyway is believed.
                    m.seq_uids.resize(n, 0);
                }
            }
            Untagged::Expunge(seq) => {
                // Before the new mailbox's EXISTS, an EXPUNGE can only concern the
                // mailbox that was open before this EXAMINE.
                if let Some(m) = self.mailbox.as_mut().filter(|m| m.exists_seen) {
                    let i = (*seq as usize).wrapping_sub(1);
                    if i >= m.seq_uids.len() {
                        return Err(ImapError::protocol(
                            context,
                            format!(
                                "EXPUNGE of sequence {seq}, beyond the {} messages",
                                m.seq_uids.len()
                            ),
                            format!("* {seq} EXPUNGE"),
                        ));
                    }
                    m.seq_uids.remove(i);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where the item `want` asks for sits in a FETCH response (first match only).
fn wanted_position(items: &[FetchItem], want: Want) -> Option<usize> {
    items.iter().position(|i| match (i, want) {
        (FetchItem::Rfc822Size(_), Want::Size) => true,
        (FetchItem::Flags(_), Want::Flags) => true,
        (
            FetchItem::Body {
                section,
                origin: None,
                ..
            },
            Want::Body(kind),
        ) => matches!(
            (section, kind),
            (Section::Header, SectionKind::Header) | (Section::Full, SectionKind::Full)
        ),
        _ => false,
    })
}

fn astring_part(s: &[u8]) -> Part {
    if codec::needs_literal(s) {
        Part::Literal(s.to_vec())
    } else {
        Part::Text(codec::quoted(s))
    }
}

fn mailbox_cmd(verb: &str, mailbox: &str) -> Cmd {
    let mut first = verb.as_bytes().to_vec();
    first.push(b' ');
    Cmd {
        parts: vec![Part::Text(first), astring_part(mailbox.as_bytes())],
        shown: format!("{verb} {}", shown_string(mailbox)),
    }
}

/// A string as it appears in a command, for errors: quoted, or `{n}` for a literal.
fn shown_string(s: &str) -> String {
    if codec::needs_literal(s.as_bytes()) {
        format!("{{{}}}", s.len())
    } else {
        String::from_utf8_lossy(&codec::quoted(s.as_bytes())).into_owned()
    }
}

fn io_error(context: &str, source: io::Error) -> ImapError {
    ImapError::Io {
        context: context.to_string(),
        source,
    }
}

fn unexpected(context: &str, response: &Response) -> ImapError {
    let problem = match response {
        Response::Tagged(_) => "a tagged reply with an unknown tag",
        Response::Continuation { .. } => "an unexpected continuation request",
        Response::Untagged(_) => "an unexpected untagged response",
    };
    ImapError::protocol(context, problem, summary(response))
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Alert => f.write_str("ALERT"),
            Code::Capability(c) => write!(f, "CAPABILITY {}", c.join(" ")),
            Code::Parse => f.write_str("PARSE"),
            Code::PermanentFlags(c) => write!(f, "PERMANENTFLAGS ({})", c.join(" ")),
            Code::ReadOnly => f.write_str("READ-ONLY"),
            Code::ReadWrite => f.write_str("READ-WRITE"),
            Code::TryCreate => f.write_str("TRYCREATE"),
            Code::UidNext(n) => write!(f, "UIDNEXT {n}"),
            Code::UidValidity(n) => write!(f, "UIDVALIDITY {n}"),
            Code::Unseen(n) => write!(f, "UNSEEN {n}"),
            Code::Other { name, args: None } => f.write_str(name),
            Code::Other {
                name,
                args: Some(a),
            } => write!(f, "{name} {a}"),
        }
    }
}

fn render_status(status: Status, code: Option<&Code>, text: &str) -> String {
    match code {
        Some(c) => format!("{status} [{c}] {text}"),
        None => format!("{status} {text}"),
    }
    .trim_end()
    .to_string()
}

fn render_tagged(t: &Tagged) -> String {
    render_status(t.status, t.code.as_ref(), &t.text)
}

fn fetch_summary(seq: u32, items: &[FetchItem]) -> String {
    let names: Vec<String> = items
        .iter()
        .map(|i| match i {
            FetchItem::Uid(u) => format!("UID {u}"),
            FetchItem::Rfc822Size(n) => format!("RFC822.SIZE {n}"),
            FetchItem::Flags(f) => format!("FLAGS ({})", f.join(" ")),
            FetchItem::InternalDate(d) => format!("INTERNALDATE \"{d}\""),
            FetchItem::Body { section, data, .. } => {
                let s = match section {
                    Section::Full => String::new(),
                    Section::Header => "HEADER".into(),
                    Section::Text => "TEXT".into(),
                    Section::Other(s) => s.clone(),
                };
                match data {
                    Some(d) => format!("BODY[{s}] {{{}}}", d.len()),
                    None => format!("BODY[{s}] NIL"),
                }
            }
            FetchItem::Other(n) => n.clone(),
        })
        .collect();
    format!("* {seq} FETCH ({})", names.join(" "))
}

/// A short rendering of a response for error messages (literal data left out).
fn summary(r: &Response) -> String {
    match r {
        Response::Tagged(t) => format!("{} {}", t.tag, render_tagged(t)),
        Response::Continuation { text } => format!("+ {text}"),
        Response::Untagged(Untagged::Status { status, code, text }) => {
            format!("* {}", render_status(*status, code.as_ref(), text))
        }
        Response::Untagged(Untagged::Fetch { seq, items }) => fetch_summary(*seq, items),
        Response::Untagged(u) => format!("* {u:?}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted peer over an in-memory pipe: checks what the client writes and
    /// answers, so the client's exact bytes are pinned down without a server.
    async fn with_peer<F, Fut, T>(
        script: &'static [(&'static str, &'static str)],
        greeting: &'static str,
        body: F,
    ) -> (T, Vec<String>)
    where
        F: FnOnce(ImapClient<tokio::io::DuplexStream>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let (client_end, mut server_end) = tokio::io::duplex(1 << 16);
        let peer = tokio::spawn(async move {
            let mut seen = Vec::new();
            server_end.write_all(greeting.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            for (expect, reply) in script {
                // Read one line (commands here carry no literals unless `expect` says).
                loop {
                    if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                        let line: Vec<u8> = buf.drain(..end + 2).collect();
                        let line = String::from_utf8_lossy(&line[..end]).into_owned();
                        assert_eq!(&line, expect);
                        seen.push(line);
                        break;
                    }
                    let mut chunk = [0u8; 4096];
                    let n = server_end.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return seen;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                server_end.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        let client = ImapClient::greet(client_end, Timeouts::default(), Limits::default())
            .await
            .expect("greeting");
        let out = tokio::time::timeout(Duration::from_secs(10), body(client))
            .await
            .expect("no hang");
        let seen = tokio::time::timeout(Duration::from_secs(10), peer)
            .await
            .expect("peer ends")
            .expect("peer ok");
        (out, seen)
    }

    #[tokio::test]
    async fn login_literal_without_literal_plus() {
        let script: &[(&str, &str)] = &[
            ("A1 LOGIN \"us\\\"er\" {4}", "+ go on\r\n"),
            ("p\u{e4}s", "A1 OK done\r\n"),
        ];
        let (r, _) = with_peer(
            script,
            "* OK [CAPABILITY IMAP4rev1] hi\r\n",
            |mut c| async move {
                c.login("us\"er", &Secret::new("p\u{e4}s")).await?;
                Ok::<_, ImapError>(c.stats())
            },
        )
        .await;
        let stats = r.expect("login");
        assert_eq!(stats.commands, 1);
        // One flush for the literal announcement, one for the rest.
        assert_eq!(stats.round_trips, 2);
    }

    #[tokio::test]
    async fn login_literal_plus_and_redaction() {
        let script: &[(&str, &str)] = &[
            ("A1 LOGIN \"u\" {5+}", ""),
            ("a", ""),
            (
                "b!",
                "A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            ),
        ];
        let (r, _) = with_peer(
            script,
            "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n",
            |mut c| async move { c.login("u", &Secret::new("a\r\nb!")).await },
        )
        .await;
        let e = r.expect_err("rejected");
        let shown = e.to_string();
        assert_eq!(
            shown,
            "LOGIN \"u\" ***: NO [AUTHENTICATIONFAILED] Authentication failed."
        );
        assert!(matches!(
            e,
            ImapError::Rejected {
                status: Status::No,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn authenticate_plain_with_and_without_sasl_ir() {
        let script: &[(&str, &str)] = &[(
            "A1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==",
            "A1 OK [CAPABILITY IMAP4rev1 X] ok\r\n",
        )];
        let (r, _) = with_peer(
            script,
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n",
            |mut c| async move {
                c.authenticate_plain("user", &Secret::new("pass")).await?;
                Ok::<_, ImapError>(c.known_capabilities().map(|c| c.to_vec()))
            },
        )
        .await;
        assert_eq!(
            r.unwrap(),
            Some(vec!["IMAP4rev1".to_string(), "X".to_string()])
        );

        let script: &[(&str, &str)] = &[
            ("A1 AUTHENTICATE PLAIN", "+ \r\n"),
            ("AHVzZXIAcGFzcw==", "A1 OK ok\r\n"),
        ];
        let (r, _) = with_peer(
            script,
            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n",
            |mut c| async move { c.authenticate_plain("user", &Secret::new("pass")).await },
        )
        .await;
        r.unwrap();
    }

    #[tokio::test]
    async fn login_disabled_sends_nothing() {
        let (r, seen) = with_peer(
            &[],
            "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n",
            |mut c| async move { c.login("u", &Secret::new("secret")).await },
        )
        .await;
        assert!(matches!(r, Err(ImapError::NotSupported { .. })));
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn examine_requires_exists_and_uidvalidity() {
        let script: &[(&str, &str)] = &[(
            "A1 EXAMINE \"INBOX\"",
            "* 3 EXISTS\r\nA1 OK [READ-ONLY] done\r\n",
        )];
        let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move {
            c.examine("INBOX").await
        })
        .await;
        let e = r.expect_err("no UIDVALIDITY");
        assert!(
            e.to_string().contains("EXISTS/UIDVALIDITY not received"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn fetch_validates_uids_and_reports_expunged() {
        let script: &[(&str, &str)] = &[
            (
                "A1 EXAMINE \"INBOX\"",
                "* 4 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 9] x\r\nA1 OK [READ-ONLY] done\r\n",
            ),
            (
                "A2 UID FETCH 1:* (UID RFC822.SIZE)",
                "* 1 FETCH (UID 2 RFC822.SIZE 10)\r\n* 2 FETCH (UID 4 RFC822.SIZE 20)\r\n\
                 * 3 FETCH (UID 6 RFC822.SIZE 30)\r\n* 4 FETCH (UID 8 RFC822.SIZE 40)\r\nA2 OK done\r\n",
            ),
            (
                "A3 UID FETCH 2,4,6,8 (BODY.PEEK[HEADER])",
                "* 1 FETCH (UID 2 BODY[HEADER] {3}\r\na\r\n)\r\n* 2 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n\
                 * 2 FETCH (BODY[HEADER] NIL)\r\n* 3 FETCH (UID 8 BODY[HEADER] \"b\")\r\nA3 OK done\r\n",
            ),
            (
                "A4 UID FETCH 2 (BODY.PEEK[HEADER])",
                "* 3 FETCH (UID 8 BODY[HEADER] \"x\")\r\nA4 OK done\r\n",
            ),
        ];
        let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move {
            let sel = c.examine("INBOX").await?;
            assert_eq!(
                (sel.exists, sel.uidvalidity, sel.uidnext, sel.read_only),
                (4, 7, Some(9), true)
            );
            let listed = c.uid_sizes().await?;
            assert_eq!(
                listed
                    .iter()
                    .map(|l| (l.seq, l.uid, l.size))
                    .collect::<Vec<_>>(),
                vec![
                    (1, 2, Some(10)),
                    (2, 4, Some(20)),
                    (3, 6, Some(30)),
                    (4, 8, Some(40))
                ]
            );
            let f = c
                .fetch_headers(&[8, 2, 4, 6, 4], Batching::DOVECOT_DOCS)
                .await?;
            assert_eq!(f.items.get(&2).map(Vec::as_slice), Some(&b"a\r\n"[..]));
            assert_eq!(f.items.get(&8).map(Vec::as_slice), Some(&b"b"[..]));
            // Seq 2 held UID 4 until the EXPUNGE; then seq 2 is UID 6, which came as NIL.
            assert_eq!(f.nil, vec![6]);
            assert_eq!(f.expunged, vec![4]);
            assert_eq!(f.expunge_notices, 1);
            assert_eq!(c.exists(), Some(3));
            let e = c
                .fetch_headers(&[2], Batching::DOVECOT_DOCS)
                .await
                .expect_err("unasked UID");
            Ok::<_, ImapError>(e.to_string())
        })
        .await;
        let e = r.unwrap();
        assert!(e.contains("UID 8, which was not asked for"), "{e}");
    }

    #[tokio::test]
    async fn unexpected_tag_and_close_are_typed() {
        let script: &[(&str, &str)] = &[("A1 NOOP", "B7 OK what\r\n")];
        let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move { c.noop().await }).await;
        assert!(matches!(r, Err(ImapError::Protocol { .. })), "{r:?}");

        let script: &[(&str, &str)] = &[("A1 NOOP", "* BYE going away\r\n")];
        let (r, _) = with_peer(script, "* OK hi\r\n", |mut c| async move { c.noop().await }).await;
        match r {
            Err(ImapError::Bye { reply, context }) => {
                assert_eq!(
                    (reply.as_str(), context.as_str()),
                    ("BYE going away", "NOOP")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn greeting_bye_is_refused() {
        let (client_end, mut server_end) = tokio::io::duplex(1024);
        server_end.write_all(b"* BYE too busy\r\n").await.unwrap();
        let r = ImapClient::greet(client_end, Timeouts::default(), Limits::default()).await;
        match r {
            Err(ImapError::Greeting { reply }) => assert_eq!(reply, "BYE too busy"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn silence_times_out() {
        let (client_end, _server_end) = tokio::io::duplex(1024);
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            io: Duration::from_millis(50),
        };
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            ImapClient::greet(client_end, timeouts, Limits::default()),
        )
        .await
        .expect("bounded");
        assert!(matches!(r, Err(ImapError::Timeout { .. })), "{r:?}");
    }

    #[test]
    fn batching_consts() {
        assert_eq!(Batching::default(), Batching::PIPELINED);
        assert_eq!(Batching::DOVECOT_DOCS.per_command, 21);
    }
}
