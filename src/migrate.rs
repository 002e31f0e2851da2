//! The only place that drives both clients: list, ask the matcher which headers
//! Dovecot reads ([`matcher::reads_needed`]), fetch them, and hand back a [`Migration`]
//! for [`crate::predict`].
//!
//! [`dovecot_order`] reads the source the way Dovecot 2.3.19's plugin does, so that
//! timeline events keyed to protocol steps fire where they would under Dovecot: per
//! mailbox in dsync's order the IMAP pass (EXAMINE, UIDs, sizes); at the first mailbox
//! the plugin acts on, the POP3 session (login, CAPA, UIDL, LIST); then that mailbox's
//! header pass, POP3 first, each header without its blank line followed by the whole
//! message. Batching follows imapc's configuration ([`Imapc`]): sizes by RFC822.SIZE or
//! by download, `mail_prefetch_count + 1` UIDs a command and POP3 commands in flight
//! (the recipe's 20: comma lists of 21; Dovecot's default 0: one at a time).
//!
//! With `audit` on, every header not read yet is read afterwards (the audit replays the
//! plan under other settings, which needs them all); traffic is counted before that, so
//! it reports what Dovecot itself would send.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::imap::client::{self as imapc, Batching, ImapClient, ImapError};
use crate::matcher::header_hash::header_hash;
use crate::matcher::{
    self, ImapMailbox, ImapMessage, Listing, MessageRead, Pop3Message, Read, ReadMap, Reads,
    Settings,
};
use crate::pop3::client::{self as pop3c, Fetch, Fetched, Pop3Client, Pop3Error};
use crate::report::{ServerTraffic, Traffic};
use crate::retry::Retry;
use crate::tls::{MaybeTls, Trust};

use crate::domain::{Endpoint, Imapc, Sizing};

mod fast;
mod reads;
mod recovery;
pub use fast::fast_read;
use reads::{audit_reads, imap_reads};
use recovery::{ImapcConn, vname};
pub use recovery::{Step as ImapStep, apply as apply_imap_faults};

/// The old provider: its IMAP and POP3 services.
#[derive(Clone, Debug)]
pub struct Source {
    pub imap: Endpoint,
    pub pop3: Endpoint,
    pub trust: Trust,
}

/// imapc's size and header commands: `mail_prefetch_count + 1` UIDs a command, one at
/// a time (prefetch 20 is `Batching::DOVECOT_DOCS`, 0 `Batching::DOVECOT_BARE`).
fn imap_batching(imapc: Imapc) -> Batching {
    Batching {
        per_command: imapc.batch(),
        ..Batching::DOVECOT_BARE
    }
}

/// POP3 commands in flight: `mail_prefetch_count + 1` when the server allows it.
fn pop3_window(imapc: Imapc) -> usize {
    imapc.batch()
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub settings: Settings,
    /// imapc's configuration as far as the reads feel it: sizing and prefetch.
    pub imapc: Imapc,
    /// Read every header afterwards, for the audit.
    pub audit: bool,
    /// imapc's UIDL cache from an earlier run: (mailbox, UID) → UIDL.
    pub cache: BTreeMap<(String, u32), String>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Logins tried again after a temporary failure (never by default, as Dovecot).
    pub retry: Retry,
    /// Also send dsync's own download of each mailbox (`UID FETCH <set> (INTERNALDATE
    /// BODY.PEEK[])`) where Dovecot sends it, so that a fault tied to it meets it
    /// (`migrate::recovery`). Off by default: it downloads every message once more.
    pub download: bool,
    /// Counters a caller may show while the run goes on.
    pub progress: Arc<Progress>,
    /// IMAP connections `fast_read` spreads the folders over (at least 1; providers
    /// limit sessions, so callers keep it small). Dovecot's order uses one.
    pub imap_connections: usize,
}

/// How far a run has got; updated as it goes, read by whoever shows progress.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages POP3 lists (set once listed).
    pub pop3_listed: AtomicU64,
    /// Messages the IMAP mailboxes hold (set once listed).
    pub imap_listed: AtomicU64,
    /// POP3 headers read so far.
    pub pop3_read: AtomicU64,
    /// IMAP headers read so far.
    pub imap_read: AtomicU64,
}

impl Options {
    pub fn new(settings: Settings, imapc: Imapc) -> Self {
        Options {
            settings,
            imapc,
            audit: true,
            cache: BTreeMap::new(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            retry: Retry::default(),
            download: false,
            progress: Arc::default(),
            imap_connections: 1,
        }
    }
}

/// Everything read.
#[derive(Clone, Debug, Default)]
pub struct Migration {
    pub listing: Listing,
    /// What Dovecot's header pass read (exactly what the plan asked for).
    pub reads: Reads,
    /// Every header of both sides, when the audit was asked for.
    pub all: Option<Reads>,
    /// Commands and round trips of the Dovecot-like part.
    pub traffic: Traffic,
    /// The source's hierarchy separator, as `LIST` gave it (for the names the
    /// destination stores, [`crate::domain::Destination::stored_name`]).
    pub separator: Option<char>,
    /// Our client's error behind `listing.pop3_error`, when there is one: what kind of
    /// failure it was (login, network, protocol) is read from it, not from the words.
    pub pop3_failure: Option<Arc<Pop3Error>>,
    /// The POP3 session failed (`listing.pop3_error`) for a passing reason (network,
    /// a busy server): a caller that retries whole reads may try again.
    pub pop3_temporary: bool,
    /// A mailbox after the first that imapc could not open (EXAMINE or its flags
    /// listing failed), or any whose download failed: dsync stops there, the
    /// mailboxes listed before it are stored. The error is `None` when the
    /// connection ended.
    pub imap_stop: Option<(ImapStep, Option<Arc<ImapError>>)>,
    /// imapc's connection ended for good during the header reads (a second drop, a
    /// `BAD`, a garbage line): dsync's export then fails on the saved date, not on the
    /// UIDLs.
    pub imap_dead: bool,
}

impl Migration {
    /// Takes Dovecot's reads and the audit's out of the migration (leaving none), for
    /// [`crate::predict::predict_with`]: the caller frees them once the prediction is
    /// made, before the report.
    pub fn take_reads(&mut self) -> (Reads, Option<Reads>) {
        (std::mem::take(&mut self.reads), self.all.take())
    }
}

/// Why the POP3 listing failed: the line Dovecot would log, and the client's error.
struct ListFailed {
    line: String,
    error: Option<Arc<Pop3Error>>,
}

impl ListFailed {
    fn line(line: String) -> Self {
        ListFailed { line, error: None }
    }
}

/// Failures that stop the run before Dovecot's plugin could even start.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("IMAP server {server}: {source}")]
    Imap { server: String, source: ImapError },
    /// A step of the run that imapc could not recover (see `migrate::recovery`).
    #[error("IMAP server {server}: {source}")]
    ImapStep {
        server: String,
        step: ImapStep,
        source: ImapError,
    },
    #[error("POP3 server {server}, while reading headers for the audit: {source}")]
    Pop3Audit { server: String, source: Pop3Error },
}

impl MigrateError {
    /// Whether a second try may pass: the connection failed or dropped, or the server
    /// said it is busy.
    pub fn is_temporary(&self) -> bool {
        match self {
            MigrateError::Imap { source, .. } | MigrateError::ImapStep { source, .. } => {
                imap_temporary(source)
            }
            MigrateError::Pop3Audit { source, .. } => source.is_temporary(),
        }
    }

    /// The line (without its level) Dovecot `version` logs for a step imapc could not
    /// recover; `None` for other failures.
    pub fn dovecot_line(&self, version: crate::domain::DovecotVersion) -> Option<String> {
        match self {
            MigrateError::ImapStep { step, source, .. } => {
                Some(step.dovecot_line(Some(source), version))
            }
            _ => None,
        }
    }

    /// Whether the IMAP login itself failed (doveadm 2.3.19 aborts on that).
    pub fn is_imap_login(&self) -> bool {
        matches!(
            self,
            MigrateError::Imap { source: ImapError::Rejected { command, .. }, .. }
                if command.starts_with("LOGIN") || command.starts_with("AUTHENTICATE")
        )
    }
}

/// A read of one message: header hash, and whether a full read must follow.
fn hashed(bytes: &[u8]) -> Read {
    let h = header_hash(bytes);
    Read::Hashed {
        sha1: h.sha1,
        eoh: h.eoh,
    }
}

/// The length Dovecot 2.3's default imapc measures: the whole message as downloaded,
/// with every `X-Message-Flag:` header (and its folded lines) removed from the header,
/// and every header line, the blank line that ends the header included, ending in CRLF.
///
/// Without `imapc_features = rfc822.size` imapc reads the downloaded `BODY[]` through
/// a header filter (`imapc_stream_filter`, `i_stream_create_header_filter` with
/// `HEADER_FILTER_EXCLUDE` only), which writes each header line it keeps with CRLF
/// whatever the line end it came with; the body passes unchanged. The size is that
/// stream's. Evidence: Dovecot 2.3.19.1, `uidlmap conformance --random 100 --seed 1`
/// (world random-1-80, imapc bare): one generated message served with LF line ends,
/// LIST 1476 = the bytes served; Dovecot logged `size matches=0, total=1` and `1 mails
/// matched by headers` (the header's 6 LFs counted as CRLF: 1482), where uidlmap had
/// predicted a size match. Regression: `scenarios/sizes/bare-lf-header-crlf.yaml`.
pub fn bare_size(message: &[u8]) -> u64 {
    let mut size = 0u64;
    let mut in_header = true;
    let mut dropping = false;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if !in_header {
            size += line.len() as u64;
            continue;
        }
        if line == b"\n" || line == b"\r\n" {
            in_header = false;
        } else if line.starts_with(b" ") || line.starts_with(b"\t") {
            if dropping {
                continue;
            }
        } else {
            let name_end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let name = line[..name_end].trim_ascii_end();
            dropping = name.eq_ignore_ascii_case(b"X-Message-Flag");
            if dropping {
                continue;
            }
        }
        size += match line {
            [.., b'\r', b'\n'] => line.len() as u64,
            [.., b'\n'] => line.len() as u64 + 1,
            // The last line of a header without a line end stays as it is.
            _ => line.len() as u64,
        };
    }
    size
}

struct Pop3Session {
    client: Pop3Client<MaybeTls>,
    host: String,
    /// The session broke; later reads fail.
    broken: Option<String>,
    /// `LIST` sizes when reads are pipelined by bytes (`fast_read`); `None` reads with
    /// the client's window of commands, as Dovecot does.
    budget_sizes: Option<Vec<u64>>,
}

/// Connects and logs in to POP3, trying again after a temporary failure (`[IN-USE]`,
/// `[LOGIN-DELAY]`, `[SYS/TEMP]`, network trouble) as `retry` says.
async fn pop3_login(
    source: &Source,
    timeouts: pop3c::Timeouts,
    retry: Retry,
) -> Result<Pop3Client<MaybeTls>, Pop3Error> {
    let e = &source.pop3;
    retry
        .run(
            Pop3Error::is_temporary,
            |_, _, _| {},
            || async {
                let mut client = pop3c::connect(
                    &e.host,
                    e.port,
                    e.security,
                    &source.trust,
                    timeouts,
                    pop3c::Limits::default(),
                )
                .await?;
                client.login(&e.user, &e.password).await?;
                Ok(client)
            },
        )
        .await
}

/// Whether an IMAP failure may pass on a second try.
fn imap_temporary(err: &ImapError) -> bool {
    match err {
        ImapError::Connect { .. }
        | ImapError::Io { .. }
        | ImapError::Closed { .. }
        | ImapError::Timeout { .. }
        | ImapError::Deadline { .. } => true,
        ImapError::Bye { reply, .. } | ImapError::Rejected { reply, .. } => {
            let r = reply.to_ascii_uppercase();
            r.contains("[UNAVAILABLE]") || r.contains("[INUSE]") || r.contains("[IN-USE]")
        }
        _ => false,
    }
}

/// Connects and logs in to IMAP, with the same retries as [`pop3_login`].
async fn imap_login(source: &Source, opts: &Options) -> Result<ImapClient<MaybeTls>, ImapError> {
    let e = &source.imap;
    let timeouts = imapc::Timeouts {
        connect: opts.connect_timeout,
        io: opts.command_timeout,
    };
    opts.retry
        .run(
            imap_temporary,
            |_, _, _| {},
            || async {
                let mut imap = imapc::connect(
                    &e.host,
                    e.port,
                    e.security,
                    &source.trust,
                    timeouts,
                    imapc::Limits::default(),
                )
                .await?;
                imap.login(&e.user, &e.password).await?;
                Ok(imap)
            },
        )
        .await
}

/// A POP3 failure as Dovecot's log line: worded as Dovecot 2.3.19.1 words the storage
/// error where `uidlmap conformance` saw it (a bad UIDL listing, a drop during UIDL);
/// otherwise our client's words.
fn pop3_failure(host: &str, err: Pop3Error) -> ListFailed {
    let detail = match &err {
        Pop3Error::Protocol { source, .. } => {
            format!("Mailbox POP3-MIGRATION-NS/INBOX: {source}")
        }
        Pop3Error::Disconnected { command } if command == "UIDL" => {
            "Mailbox POP3-MIGRATION-NS/INBOX: UIDL failed: Disconnected".to_string()
        }
        other => format!("pop3c({host}): {other}"),
    };
    ListFailed {
        line: format!("pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: {detail}"),
        error: Some(Arc::new(err)),
    }
}

/// Connects and lists POP3 as pop3c does. An error is returned as Dovecot's log line.
async fn pop3_list(
    source: &Source,
    opts: &Options,
) -> Result<(Pop3Session, Vec<Pop3Message>), ListFailed> {
    let e = &source.pop3;
    // Dovecot names the peer `pop3c(host:port)`; the port is left out so that reports
    // of runs against servers on ephemeral ports stay comparable.
    let host = e.host.clone();
    let fail = |err: Pop3Error| pop3_failure(&host, err);
    let timeouts = pop3c::Timeouts {
        connect: opts.connect_timeout,
        command: opts.command_timeout,
    };
    let client = pop3_login(source, timeouts, opts.retry)
        .await
        .map_err(&fail)?;
    pop3_list_on(client, host.clone(), opts, fail).await
}

/// [`pop3_list`] after the login.
async fn pop3_list_on(
    mut client: Pop3Client<MaybeTls>,
    host: String,
    opts: &Options,
    fail: impl Fn(Pop3Error) -> ListFailed,
) -> Result<(Pop3Session, Vec<Pop3Message>), ListFailed> {
    let caps = client.capa().await.map_err(&fail)?.clone();
    if !caps.uidl {
        return Err(ListFailed::line(
            "pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: UIDLs not supported by server"
                .to_string(),
        ));
    }
    client.set_window(if caps.pipelining {
        pop3_window(opts.imapc)
    } else {
        1
    });
    let uidls = client.uidl_all().await.map_err(&fail)?;
    let sizes = if opts.settings.skip_size_check || uidls.is_empty() {
        None
    } else {
        // pop3c sends LIST only when the plugin first asks for a message's size, so a
        // LIST failure is the plugin's failure to get msg 1's size, worded as the
        // storage error (seen with real Dovecot 2.3.19.1 by `uidlmap conformance`).
        Some(
            client
                .list_all(Some(uidls.len()))
                .await
                .map_err(|err| {
                    let detail = match &err {
                        Pop3Error::Protocol { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    ListFailed {
                        line: format!(
                            "pop3_migration: Failed to get size for msg 1: Mailbox POP3-MIGRATION-NS/INBOX: {detail}"
                        ),
                        error: Some(Arc::new(err)),
                    }
                })?,
        )
    };
    let messages = pop3_messages(&uidls, sizes.as_deref());
    Ok((
        Pop3Session {
            client,
            host: host.clone(),
            broken: None,
            budget_sizes: None,
        },
        messages,
    ))
}

/// The listing as pop3c holds it: message `i + 1` has `uidls[i]` and `sizes[i]`.
fn pop3_messages(uidls: &[Vec<u8>], sizes: Option<&[u64]>) -> Vec<Pop3Message> {
    uidls
        .iter()
        .enumerate()
        .map(|(i, u)| Pop3Message {
            number: i as u32 + 1,
            // pop3c stops at a NUL; bytes that are not UTF-8 are kept as replacement
            // characters so that the report can show them.
            uidl: String::from_utf8_lossy(u.split(|&b| b == 0).next().unwrap_or_default())
                .into_owned(),
            size: sizes.and_then(|s| s.get(i).copied()),
        })
        .collect()
}

/// Reads POP3 headers (TOP, or RETR without TOP), then the whole message for every
/// header without its blank line. A broken session fails this and every later read.
async fn pop3_reads(
    session: &mut Pop3Session,
    numbers: &[u32],
    out: &mut ReadMap,
    progress: &Progress,
) {
    let numbers: Vec<u32> = numbers
        .iter()
        .copied()
        .filter(|n| !out.contains_key(n))
        .collect();
    if numbers.is_empty() {
        return;
    }
    // `numbers` holds only keys not in `out`: new reads are added in one `extend`,
    // which stays cheap however they interleave with what is there.
    let fail = |out: &mut ReadMap, ns: &[u32], why: &str| {
        out.extend(ns.iter().map(|&n| {
            (
                n,
                MessageRead {
                    header: Read::Failed { reason: why.into() },
                    full: None,
                },
            )
        }));
    };
    if let Some(why) = session.broken.clone() {
        fail(out, &numbers, &why);
        return;
    }
    // Each header is hashed as it arrives and its bytes dropped: a large maildrop is
    // never held in memory.
    let mut need_full = Vec::new();
    let mut fresh = Vec::with_capacity(numbers.len());
    let each = |n, fetched: Fetched| {
        let header = match &fetched {
            Fetched::Expunged { reply } => Read::Expunged {
                reason: reply.text.as_str().into(),
            },
            other => hashed(other.bytes().unwrap_or_default()),
        };
        // A RETR fallback (no TOP) already read the whole message.
        if header.needs_full() && !matches!(fetched, Fetched::Retr(_)) {
            need_full.push(n);
        }
        let full = match (&fetched, header.needs_full()) {
            (Fetched::Retr(_), true) => Some(Box::new(header.clone())),
            _ => None,
        };
        fresh.push((n, MessageRead { header, full }));
        progress.pop3_read.fetch_add(1, Ordering::Relaxed);
    };
    let got = match &session.budget_sizes {
        Some(sizes) => {
            session
                .client
                .fetch_headers_budgeted(&numbers, sizes, pop3c::pipeline::DEFAULT_BUDGET, each)
                .await
        }
        None => session.client.fetch_headers_each(&numbers, each).await,
    };
    if let Err(e) = got {
        let why = format!("pop3c({}): {e}", session.host);
        session.broken = Some(why.clone());
        // The replies read before the break stand: pop3c read them too, so the plugin
        // names the message whose reply broke, not the first one asked for. Their
        // whole-message reads can no longer happen.
        let need: std::collections::BTreeSet<u32> = need_full.iter().copied().collect();
        for (n, r) in &mut fresh {
            if need.contains(n) {
                r.full = Some(Box::new(Read::Failed {
                    reason: why.as_str().into(),
                }));
            }
        }
        out.extend(fresh);
        let rest: Vec<u32> = numbers
            .iter()
            .copied()
            .filter(|n| !out.contains_key(n))
            .collect();
        fail(out, &rest, &why);
        return;
    }
    out.extend(fresh);
    if need_full.is_empty() {
        return;
    }
    let fetches: Vec<Fetch> = need_full.iter().map(|&msg| Fetch::Retr { msg }).collect();
    // Each whole message is kept as it arrives: if the session breaks, the ones read
    // before the break stand (pop3c read them too) and only the rest fail.
    let mut fulls: Vec<(u32, Read)> = Vec::with_capacity(need_full.len());
    let got = session
        .client
        .fetch_each(&fetches, |i, f| {
            let read = match &f {
                Fetched::Expunged { reply } => Read::Expunged {
                    reason: reply.text.as_str().into(),
                },
                other => hashed(other.bytes().unwrap_or_default()),
            };
            fulls.push((need_full[i], read));
        })
        .await;
    let read = fulls.len();
    for (n, full) in fulls {
        if let Some(r) = out.get_mut(&n) {
            r.full = Some(Box::new(full));
        }
    }
    if let Err(e) = got {
        let why = format!("pop3c({}): {e}", session.host);
        session.broken = Some(why.clone());
        for n in &need_full[read..] {
            if let Some(r) = out.get_mut(n) {
                r.full = Some(Box::new(Read::Failed {
                    reason: why.as_str().into(),
                }));
            }
        }
    }
}

/// The plugin's part of one mailbox it acts on, after its IMAP listing: the POP3
/// session (at the first such mailbox), the POP3 and then the IMAP header reads the
/// plan asks for. `false` when a header read imapc could not recover failed (or its
/// connection ended): the mailbox's sync fails and dsync goes no further.
async fn plugin_part(
    source: &Source,
    opts: &Options,
    imap: &mut ImapcConn<'_>,
    m: &mut Migration,
    pop3: &mut Option<Pop3Session>,
    name: &str,
) -> bool {
    // Not tried yet: neither a session nor its failure.
    if pop3.is_none() && m.listing.pop3_error.is_none() {
        match pop3_list(source, opts).await {
            Ok((session, messages)) => {
                m.listing.pop3 = messages;
                *pop3 = Some(session);
            }
            Err(f) => {
                m.listing.pop3_error = Some(f.line);
                m.pop3_temporary = f.error.as_ref().is_some_and(|e| e.is_temporary());
                m.pop3_failure = f.error;
            }
        }
    }
    // The plan of the mailboxes listed so far: dsync's order puts every later mailbox
    // after this one, so this mailbox's reads are already final.
    let Some(mr) = matcher::reads_needed(&m.listing, &opts.settings)
        .mailbox(name)
        .cloned()
    else {
        return true;
    };
    if let Some(session) = pop3.as_mut() {
        pop3_reads(session, &mr.pop3, &mut m.reads.pop3, &opts.progress).await;
    }
    // Dovecot stops at the first failed POP3 read; the IMAP reads then never happen.
    let imap_uids = mr.imap_after(&m.reads.pop3).to_vec();
    if !imap_uids.is_empty() {
        let batching = imap_batching(opts.imapc);
        imap_reads(
            imap,
            name,
            &imap_uids,
            batching,
            &mut m.reads,
            &opts.progress,
        )
        .await;
    }
    let failed = m.reads.imap.get(name).is_some_and(|reads| {
        reads.iter().any(|(_, r)| {
            matches!(r.header, Read::Failed { .. })
                || matches!(r.full.as_deref(), Some(Read::Failed { .. }))
        })
    });
    !failed && !imap.dead
}

/// Reads the source in Dovecot's order; see the module documentation. IMAP faults are
/// met as imapc meets them (`migrate::recovery`): a step it cannot recover ends the read with
/// [`MigrateError::ImapStep`], a header read it cannot recover is [`Read::Failed`] and
/// ends the read after that mailbox (Dovecot stops there).
pub async fn dovecot_order(source: &Source, opts: &Options) -> Result<Migration, MigrateError> {
    let imap_server = source.imap.server_name();
    let imap_err = |source: ImapError| MigrateError::Imap {
        server: imap_server.clone(),
        source,
    };
    let at = |step: ImapStep| {
        let server = imap_server.clone();
        move |source: ImapError| MigrateError::ImapStep {
            server,
            step,
            source,
        }
    };
    let client = imap_login(source, opts).await.map_err(|e| {
        if ImapStep::is_login_fault(&e) {
            at(ImapStep::Login {
                host: source.imap.host.clone(),
            })(e)
        } else {
            imap_err(e)
        }
    })?;
    let mut imap = ImapcConn::new(client, source, opts);
    let listed = imap.list().await.map_err(|(step, e)| at(step)(e))?;
    let separator = listed.iter().find_map(|m| m.delimiter);
    let mut names: Vec<String> = listed
        .into_iter()
        .filter(|m| m.is_selectable())
        .map(|m| m.name)
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();

    let settings = &opts.settings;
    let batching = imap_batching(opts.imapc);
    let mut m = Migration {
        separator,
        ..Migration::default()
    };
    let mut pop3: Option<Pop3Session> = None;

    // A failed size read stops dsync (exit 75): later mailboxes are only listed.
    let mut stopped = false;
    // A message of an earlier run's index cache: imapc has its UIDL and its size there
    // (the run that cached the UIDL fetched the size too), so neither is fetched again.
    let in_cache = |mailbox: &str, uid: u32| opts.cache.contains_key(&(mailbox.to_string(), uid));
    for name in &names {
        let opened = match imap.examine(name).await {
            Ok(()) => imap
                .uid_flags()
                .await
                .map_err(|e| (ImapStep::Flags(vname(name, separator)), e)),
            Err(e) => Err((ImapStep::Examine(vname(name, separator)), e)),
        };
        let listed = match opened {
            Ok(listed) => listed,
            // The first mailbox: nothing is stored (see `MigrateError::ImapStep`).
            Err((step, e)) if m.listing.imap.is_empty() => return Err(at(step)(e)),
            Err((step, e)) => {
                m.imap_stop = Some((step, Some(Arc::new(e))));
                break;
            }
        };
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();
        let acted = !stopped && matcher::acts_on(settings, name);
        let mut sizes: BTreeMap<u32, u64> = BTreeMap::new();
        if acted && !settings.skip_size_check && !uids.is_empty() {
            // The plugin asks the first size the index cache does not hold.
            let step = ImapStep::Sizes {
                mailbox: name.clone(),
                uid: uids
                    .iter()
                    .copied()
                    .find(|&u| !in_cache(name, u))
                    .unwrap_or(uids[0]),
            };
            let fetched = match opts.imapc.sizing {
                Sizing::Rfc822Size => imap.fetch_sizes(&uids, batching).await,
                Sizing::Download => imap.fetch_bare_sizes(&uids, batching, bare_size).await,
            };
            sizes = match fetched {
                Ok(s) => s,
                // Every size is in the index cache: imapc's failed prefetch is never
                // felt (Dovecot 2.3.19.1, hunt seed 232394678048770, worlds 81 and 187:
                // a `NO` to the size FETCH, `cached uidls=1`, exit 0).
                Err(_) if uids.iter().all(|&u| in_cache(name, u)) => BTreeMap::new(),
                Err(e) => return Err(at(step)(e)),
            };
        }
        // The plugin asks every UID's size in order; the first one imapc did not get,
        // nor holds in its index cache, fails its IMAP map read (`Failed to get psize
        // for imap uid N`).
        let size_failure = if acted && !settings.skip_size_check {
            uids.iter()
                .copied()
                .find(|&u| !sizes.contains_key(&u) && !in_cache(name, u))
        } else {
            None
        };
        m.listing.imap.push(ImapMailbox {
            name: name.clone(),
            messages: uids
                .iter()
                .map(|&uid| ImapMessage {
                    uid,
                    size: sizes.get(&uid).copied(),
                    cached_uidl: opts.cache.get(&(name.clone(), uid)).cloned(),
                })
                .collect(),
            size_failure,
        });
        if acted && size_failure.is_some() {
            stopped = true;
            continue;
        }
        if acted && !plugin_part(source, opts, &mut imap, &mut m, &mut pop3, name).await {
            m.imap_dead = imap.dead;
            break;
        }
        // dsync's download of the mailbox, whether or not the plugin's sync of it
        // failed: the export looks up the saved date before the UIDL (measured).
        if opts.download
            && !stopped
            && !uids.is_empty()
            && let Some(step) = imap
                .download(&vname(name, separator), &uids, batching)
                .await
        {
            m.imap_stop = Some((step, None));
            break;
        }
    }

    let pop3_stats = pop3.as_ref().map(|s| s.client.stats()).unwrap_or_default();
    let imap_stats = imap.stats();
    m.traffic = Traffic {
        pop3: ServerTraffic {
            commands: pop3_stats.commands,
            round_trips: pop3_stats.round_trips,
        },
        imap: ServerTraffic {
            commands: imap_stats.commands,
            round_trips: imap_stats.round_trips,
        },
    };

    if opts.audit {
        m.all = audit_reads(&mut imap, pop3.as_mut(), &m, opts).await;
    }
    // Dovecot drops the POP3 connection without QUIT; be polite to IMAP.
    imap.logout().await;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::bare_size;

    #[test]
    fn bare_size_strips_x_message_flag() {
        let cases: &[(&[u8], u64)] = &[
            (b"a: b\r\n\r\nbody\r\n", 14),
            (b"X-Message-Flag: Follow up\r\na: b\r\n\r\nbody\r\n", 14),
            (
                b"x-message-flag : x\r\n  folded\r\na: b\r\n\r\nX-Message-Flag: in body\r\n",
                33,
            ),
            (b"a: b\r\n", 6),
            // Header lines with LF are measured with CRLF, the body as it is.
            (b"a: b\n\nbody\n", 13),
            (b"a: b\n folded\n\r\nbody\n", 22),
            (b"\nbody\n", 7),
            (b"a: b", 4),
        ];
        for (msg, want) in cases {
            assert_eq!(bare_size(msg), *want, "{:?}", String::from_utf8_lossy(msg));
        }
    }
}
