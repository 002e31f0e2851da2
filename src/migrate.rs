//! The only place that drives both clients: list, ask the matcher which headers
//! Dovecot reads ([`matcher::reads_needed`]), fetch them, and hand back a [`Migration`]
//! for [`crate::predict`].
//!
//! [`dovecot_order`] reads the source the way Dovecot 2.3.19's plugin does, so that
//! timeline events keyed to protocol steps fire where they would under Dovecot: per
//! mailbox in dsync's order the IMAP pass (EXAMINE, UIDs, sizes); at the first mailbox
//! the plugin acts on, the POP3 session (login, CAPA, UIDL, LIST); then that mailbox's
//! header pass, POP3 first, each header without its blank line followed by the whole
//! message. Batching follows the imapc profile: `docs` (RFC822.SIZE, comma lists of 21,
//! POP3 pipelined 20 deep) or `bare` (Dovecot's defaults: sizes measured by downloading
//! every message, one UID per command, one POP3 command at a time).
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

use crate::domain::{Endpoint, ImapcProfile};

/// The old provider: its IMAP and POP3 services.
#[derive(Clone, Debug)]
pub struct Source {
    pub imap: Endpoint,
    pub pop3: Endpoint,
    pub trust: Trust,
}

/// How imapc batches IMAP commands under a profile.
fn imap_batching(profile: ImapcProfile) -> Batching {
    match profile {
        ImapcProfile::Docs => Batching::DOVECOT_DOCS,
        ImapcProfile::Bare => Batching::DOVECOT_BARE,
    }
}

/// POP3 commands in flight: `mail_prefetch_count + 1` when the server allows it.
fn pop3_window(profile: ImapcProfile) -> usize {
    match profile {
        ImapcProfile::Docs => 21,
        ImapcProfile::Bare => 1,
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub settings: Settings,
    pub profile: ImapcProfile,
    /// Read every header afterwards, for the audit.
    pub audit: bool,
    /// imapc's UIDL cache from an earlier run: (mailbox, UID) → UIDL.
    pub cache: BTreeMap<(String, u32), String>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Logins tried again after a temporary failure (never by default, as Dovecot).
    pub retry: Retry,
    /// Counters a caller may show while the run goes on.
    pub progress: Arc<Progress>,
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
    pub fn new(settings: Settings, profile: ImapcProfile) -> Self {
        Options {
            settings,
            profile,
            audit: true,
            cache: BTreeMap::new(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            retry: Retry::default(),
            progress: Arc::default(),
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
    /// The POP3 session failed (`listing.pop3_error`) for a passing reason (network,
    /// a busy server): a caller that retries whole reads may try again.
    pub pop3_temporary: bool,
}

/// The POP3 listing failed: Dovecot's log line, and whether a retry may pass.
struct Pop3Fail {
    line: String,
    temporary: bool,
}

/// Failures that stop the run before Dovecot's plugin could even start.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("IMAP server {server}: {source}")]
    Imap { server: String, source: ImapError },
    #[error("POP3 server {server}, while reading headers for the audit: {source}")]
    Pop3Audit { server: String, source: Pop3Error },
}

impl MigrateError {
    /// Whether a second try may pass: the connection failed or dropped, or the server
    /// said it is busy.
    pub fn is_temporary(&self) -> bool {
        match self {
            MigrateError::Imap { source, .. } => imap_temporary(source),
            MigrateError::Pop3Audit { source, .. } => source.is_temporary(),
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
/// with every `X-Message-Flag:` header (and its folded lines) removed from the header.
pub fn bare_size(message: &[u8]) -> u64 {
    let mut size = 0u64;
    let mut in_header = true;
    let mut dropping = false;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if in_header {
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
        }
        size += line.len() as u64;
    }
    size
}

struct Pop3Session {
    client: Pop3Client<MaybeTls>,
    host: String,
    /// The session broke; later reads fail.
    broken: Option<String>,
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

/// Connects and lists POP3 as pop3c does. An error is returned as Dovecot's log line.
async fn pop3_list(
    source: &Source,
    opts: &Options,
) -> Result<(Pop3Session, Vec<Pop3Message>), Pop3Fail> {
    pop3_list_inner(source, opts)
        .await
        .map_err(|(line, temporary)| Pop3Fail { line, temporary })
}

/// [`pop3_list`], its failure as (line, temporary).
async fn pop3_list_inner(
    source: &Source,
    opts: &Options,
) -> Result<(Pop3Session, Vec<Pop3Message>), (String, bool)> {
    let e = &source.pop3;
    // Dovecot names the peer `pop3c(host:port)`; the port is left out so that reports
    // of runs against servers on ephemeral ports stay comparable.
    let host = e.host.clone();
    // Worded as Dovecot 2.3.19.1 words the storage error where `uidlmap conformance`
    // saw it (a bad UIDL listing, a drop during UIDL); otherwise our client's words.
    let fail = |err: Pop3Error| {
        let detail = match &err {
            Pop3Error::Protocol { source, .. } => {
                format!("Mailbox POP3-MIGRATION-NS/INBOX: {source}")
            }
            Pop3Error::Disconnected { command } if command == "UIDL" => {
                "Mailbox POP3-MIGRATION-NS/INBOX: UIDL failed: Disconnected".to_string()
            }
            other => format!("pop3c({host}): {other}"),
        };
        (
            format!("pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: {detail}"),
            err.is_temporary(),
        )
    };
    let timeouts = pop3c::Timeouts {
        connect: opts.connect_timeout,
        command: opts.command_timeout,
    };
    let mut client = pop3_login(source, timeouts, opts.retry)
        .await
        .map_err(fail)?;
    let caps = client.capa().await.map_err(fail)?.clone();
    if !caps.uidl {
        return Err((
            "pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: UIDLs not supported by server"
                .to_string(),
            false,
        ));
    }
    client.set_window(if caps.pipelining {
        pop3_window(opts.profile)
    } else {
        1
    });
    let uidls = client.uidl_all().await.map_err(fail)?;
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
                    (
                        format!(
                            "pop3_migration: Failed to get size for msg 1: Mailbox POP3-MIGRATION-NS/INBOX: {detail}"
                        ),
                        err.is_temporary(),
                    )
                })?,
        )
    };
    let messages = uidls
        .iter()
        .enumerate()
        .map(|(i, u)| Pop3Message {
            number: i as u32 + 1,
            // pop3c stops at a NUL; bytes that are not UTF-8 are kept as replacement
            // characters so that the report can show them.
            uidl: String::from_utf8_lossy(u.split(|&b| b == 0).next().unwrap_or_default())
                .into_owned(),
            size: sizes.as_ref().and_then(|s| s.get(i).copied()),
        })
        .collect();
    Ok((
        Pop3Session {
            client,
            host: host.clone(),
            broken: None,
        },
        messages,
    ))
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
    let got = session
        .client
        .fetch_headers_each(&numbers, |n, fetched| {
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
        })
        .await;
    if let Err(e) = got {
        let why = format!("pop3c({}): {e}", session.host);
        session.broken = Some(why.clone());
        fail(out, &numbers, &why);
        return;
    }
    out.extend(fresh);
    if need_full.is_empty() {
        return;
    }
    let fetches: Vec<Fetch> = need_full.iter().map(|&msg| Fetch::Retr { msg }).collect();
    match session.client.fetch(&fetches).await {
        Ok(fulls) => {
            for (n, f) in need_full.iter().zip(fulls) {
                let read = match &f {
                    Fetched::Expunged { reply } => Read::Expunged {
                        reason: reply.text.as_str().into(),
                    },
                    other => hashed(other.bytes().unwrap_or_default()),
                };
                if let Some(r) = out.get_mut(n) {
                    r.full = Some(Box::new(read));
                }
            }
        }
        Err(e) => {
            let why = format!("pop3c({}): {e}", session.host);
            session.broken = Some(why.clone());
            for n in need_full {
                if let Some(r) = out.get_mut(&n) {
                    r.full = Some(Box::new(Read::Failed {
                        reason: why.as_str().into(),
                    }));
                }
            }
        }
    }
}

/// Reads IMAP headers of `uids` in the selected mailbox, then whole messages for every
/// header without its blank line.
async fn imap_reads(
    client: &mut ImapClient<MaybeTls>,
    mailbox: &str,
    uids: &[u32],
    batching: Batching,
    out: &mut Reads,
    progress: &Progress,
) -> Result<(), ImapError> {
    let uids: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|&u| out.imap_get(mailbox, u).is_none())
        .collect();
    if uids.is_empty() {
        return Ok(());
    }
    // Hashed as they arrive; a UID that does not come back (or comes back NIL) is
    // gone, as imapc sees it.
    let mut need_full = Vec::new();
    let mut fresh = Vec::with_capacity(uids.len());
    let got = client
        .fetch_headers_each(&uids, batching, |uid, bytes| {
            let header = hashed(&bytes);
            if header.needs_full() {
                need_full.push(uid);
            }
            fresh.push((uid, MessageRead { header, full: None }));
            progress.imap_read.fetch_add(1, Ordering::Relaxed);
        })
        .await?;
    fresh.extend(got.vanished().into_iter().map(|uid| {
        (
            uid,
            MessageRead {
                header: Read::Expunged {
                    reason: "Message was expunged".into(),
                },
                full: None,
            },
        )
    }));
    out.extend_imap(mailbox, fresh);
    if !need_full.is_empty() {
        let fulls = client.fetch_full(&need_full, batching).await?;
        for uid in need_full {
            let read = match fulls.items.get(&uid) {
                Some(bytes) => hashed(bytes),
                None => Read::Expunged {
                    reason: "Message was expunged".into(),
                },
            };
            if let Some(r) = out.imap_get_mut(mailbox, uid) {
                r.full = Some(Box::new(read));
            }
        }
    }
    Ok(())
}

/// Reads the source in Dovecot's order; see the module documentation.
pub async fn dovecot_order(source: &Source, opts: &Options) -> Result<Migration, MigrateError> {
    let imap_server = source.imap.server_name();
    let imap_err = |source: ImapError| MigrateError::Imap {
        server: imap_server.clone(),
        source,
    };
    let mut imap = imap_login(source, opts).await.map_err(imap_err)?;
    let mut names: Vec<String> = imap
        .list()
        .await
        .map_err(imap_err)?
        .into_iter()
        .filter(|m| m.is_selectable())
        .map(|m| m.name)
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();

    let settings = &opts.settings;
    let batching = imap_batching(opts.profile);
    let mut m = Migration::default();
    let mut pop3: Option<Pop3Session> = None;
    let mut pop3_tried = false;

    for name in &names {
        imap.examine(name).await.map_err(imap_err)?;
        let listed = imap.uid_flags().await.map_err(imap_err)?;
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();
        let acted = matcher::acts_on(settings, name);
        let mut sizes: BTreeMap<u32, u64> = BTreeMap::new();
        if acted && !settings.skip_size_check && !uids.is_empty() {
            sizes = match opts.profile {
                ImapcProfile::Docs => {
                    imap.fetch_sizes(&uids, batching)
                        .await
                        .map_err(imap_err)?
                        .items
                }
                ImapcProfile::Bare => {
                    let mut s = BTreeMap::new();
                    imap.fetch_full_each(&uids, batching, |uid, bytes| {
                        s.insert(uid, bare_size(&bytes));
                    })
                    .await
                    .map_err(imap_err)?;
                    s
                }
            };
        }
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
        });
        if !acted {
            continue;
        }
        if !pop3_tried {
            pop3_tried = true;
            match pop3_list(source, opts).await {
                Ok((session, messages)) => {
                    m.listing.pop3 = messages;
                    pop3 = Some(session);
                }
                Err(fail) => m.listing.pop3_error = Some(fail.line),
            }
        }
        // The plan of the mailboxes listed so far: dsync's order puts every later
        // mailbox after this one, so this mailbox's reads are already final.
        let Some(mr) = matcher::reads_needed(&m.listing, settings)
            .mailbox(name)
            .cloned()
        else {
            continue;
        };
        if let Some(session) = pop3.as_mut() {
            pop3_reads(session, &mr.pop3, &mut m.reads.pop3, &opts.progress).await;
        }
        // Dovecot stops at the first failed POP3 read; the IMAP reads then never happen.
        let imap_uids = mr.imap_after(&m.reads.pop3).to_vec();
        if !imap_uids.is_empty() {
            imap_reads(
                &mut imap,
                name,
                &imap_uids,
                batching,
                &mut m.reads,
                &opts.progress,
            )
            .await
            .map_err(imap_err)?;
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
        let mut all = m.reads.clone();
        if let Some(session) = pop3.as_mut() {
            session
                .client
                .set_window(pop3c::DEFAULT_WINDOW.max(session.client.window()));
            let numbers: Vec<u32> = m.listing.pop3.iter().map(|p| p.number).collect();
            pop3_reads(session, &numbers, &mut all.pop3, &opts.progress).await;
        }
        for mb in &m.listing.imap {
            let uids: Vec<u32> = mb.messages.iter().map(|x| x.uid).collect();
            if uids.iter().all(|&u| all.imap_get(&mb.name, u).is_some()) {
                continue;
            }
            imap.examine(&mb.name).await.map_err(imap_err)?;
            imap_reads(
                &mut imap,
                &mb.name,
                &uids,
                Batching::PIPELINED,
                &mut all,
                &opts.progress,
            )
            .await
            .map_err(imap_err)?;
        }
        m.all = Some(all);
    }
    // Dovecot drops the POP3 connection without QUIT; be polite to IMAP.
    let _ = imap.logout().await;
    Ok(m)
}

/// The IMAP side of [`fast_read`]: listing, sizes, and (with `all`) every header.
struct ImapSide {
    client: ImapClient<MaybeTls>,
    mailboxes: Vec<ImapMailbox>,
    /// Sizes of every message, whether or not Dovecot would ask for them.
    sizes: BTreeMap<(String, u32), u64>,
    reads: Reads,
}

async fn fast_imap(source: &Source, opts: &Options, all: bool) -> Result<ImapSide, ImapError> {
    let mut client = imap_login(source, opts).await?;
    let mut names: Vec<String> = client
        .list()
        .await?
        .into_iter()
        .filter(|m| m.is_selectable())
        .map(|m| m.name)
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();
    let mut side = ImapSide {
        client,
        mailboxes: Vec::new(),
        sizes: BTreeMap::new(),
        reads: Reads::default(),
    };
    for name in &names {
        side.client.examine(name).await?;
        // One command lists the UIDs and, in the docs profile, the sizes Dovecot uses.
        let listed = side.client.uid_sizes().await?;
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();
        opts.progress
            .imap_listed
            .fetch_add(uids.len() as u64, Ordering::Relaxed);
        match opts.profile {
            ImapcProfile::Docs => {
                for l in &listed {
                    if let Some(n) = l.size {
                        side.sizes.insert((name.clone(), l.uid), n);
                    }
                }
            }
            ImapcProfile::Bare => {
                let wanted = matcher::acts_on(&opts.settings, name)
                    && !opts.settings.skip_size_check
                    && !uids.is_empty();
                if wanted {
                    let sizes = &mut side.sizes;
                    side.client
                        .fetch_full_each(&uids, Batching::PIPELINED, |uid, bytes| {
                            sizes.insert((name.clone(), uid), bare_size(&bytes));
                        })
                        .await?;
                }
            }
        }
        if all && !uids.is_empty() {
            imap_reads(
                &mut side.client,
                name,
                &uids,
                Batching::PIPELINED,
                &mut side.reads,
                &opts.progress,
            )
            .await?;
        }
        side.mailboxes.push(ImapMailbox {
            name: name.clone(),
            messages: uids
                .iter()
                .map(|&uid| ImapMessage {
                    uid,
                    size: None,
                    cached_uidl: opts.cache.get(&(name.clone(), uid)).cloned(),
                })
                .collect(),
        });
    }
    Ok(side)
}

/// The POP3 side of [`fast_read`]: listing and (with `all`) every header.
async fn fast_pop3(
    source: &Source,
    opts: &Options,
    all: bool,
) -> (
    Option<Pop3Session>,
    Result<Vec<Pop3Message>, Pop3Fail>,
    ReadMap,
) {
    let mut reads = ReadMap::default();
    match pop3_list(source, opts).await {
        Ok((mut session, messages)) => {
            opts.progress
                .pop3_listed
                .store(messages.len() as u64, Ordering::Relaxed);
            session
                .client
                .set_window(pop3c::DEFAULT_WINDOW.max(session.client.window()));
            if all {
                let numbers: Vec<u32> = messages.iter().map(|p| p.number).collect();
                pop3_reads(&mut session, &numbers, &mut reads, &opts.progress).await;
                if session.broken.is_some() {
                    // Some servers advertise PIPELINING and break under a deep window:
                    // read again as Dovecot would, so that a failure is Dovecot's too.
                    if let Ok((mut again, _)) = pop3_list(source, opts).await {
                        reads.clear();
                        opts.progress.pop3_read.store(0, Ordering::Relaxed);
                        pop3_reads(&mut again, &numbers, &mut reads, &opts.progress).await;
                        session = again;
                    }
                }
            }
            (Some(session), Ok(messages), reads)
        }
        Err(fail) => (None, Err(fail), reads),
    }
}

/// Reads what Dovecot's plugin reads, and (with `opts.audit`) every header of both
/// sides, as fast as the servers allow: the IMAP and POP3 sides at once, POP3 pipelined
/// [`pop3c::DEFAULT_WINDOW`] deep, IMAP in large pipelined UID ranges, sizes from one
/// `UID FETCH 1:* (UID RFC822.SIZE)` per mailbox (docs profile) or from pipelined
/// downloads measured as Dovecot's default imapc does (bare profile).
///
/// The listing and `reads` are what [`dovecot_order`] gets on the same source, so
/// `plan` and `resolve` answer the same; only the order and batching of commands
/// differ (timeline events keyed to Dovecot's steps need [`dovecot_order`]). POP3 and
/// IMAP logins are retried as `opts.retry` says. `traffic` counts this reader's own commands.
pub async fn fast_read(source: &Source, opts: &Options) -> Result<Migration, MigrateError> {
    let imap_server = source.imap.server_name();
    let imap_err = |source: ImapError| MigrateError::Imap {
        server: imap_server.clone(),
        source,
    };
    let (imap, (mut pop3, pop3_listing, pop3_all)) = tokio::join!(
        fast_imap(source, opts, opts.audit),
        fast_pop3(source, opts, opts.audit)
    );
    let mut imap = imap.map_err(imap_err)?;
    let settings = &opts.settings;
    let mut m = Migration::default();
    m.listing.imap = std::mem::take(&mut imap.mailboxes);
    // Dovecot asks for sizes only where the plugin acts and checks them.
    for mb in &mut m.listing.imap {
        if matcher::acts_on(settings, &mb.name) && !settings.skip_size_check {
            for msg in &mut mb.messages {
                msg.size = imap.sizes.get(&(mb.name.clone(), msg.uid)).copied();
            }
        }
    }
    // pop3c is only started by the first mailbox the plugin acts on.
    if m.listing
        .imap
        .iter()
        .any(|mb| matcher::acts_on(settings, &mb.name))
    {
        match pop3_listing {
            Ok(messages) => m.listing.pop3 = messages,
            Err(fail) => {
                m.listing.pop3_error = Some(fail.line);
                m.pop3_temporary = fail.temporary;
            }
        }
    } else {
        pop3 = None;
    }
    let mut all = Reads {
        pop3: pop3_all,
        ..imap.reads
    };

    let needed = matcher::reads_needed(&m.listing, settings);
    if !opts.audit {
        // Read what the plan needs, both sides at once.
        let pop3_numbers: Vec<u32> = needed.pop3().collect();
        let imap_wanted: Vec<(String, u32)> =
            needed.imap().map(|(n, u)| (n.to_string(), u)).collect();
        let imap_client = &mut imap.client;
        let imap_reads_all = async {
            let mut out = Reads::default();
            let mut by_mailbox: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            for (name, uid) in imap_wanted {
                by_mailbox.entry(name).or_default().push(uid);
            }
            for (name, uids) in by_mailbox {
                imap_client.examine(&name).await?;
                imap_reads(
                    imap_client,
                    &name,
                    &uids,
                    Batching::PIPELINED,
                    &mut out,
                    &opts.progress,
                )
                .await?;
            }
            Ok::<_, ImapError>(out)
        };
        let pop3_reads_all = async {
            let mut out = ReadMap::default();
            if let Some(session) = pop3.as_mut() {
                pop3_reads(session, &pop3_numbers, &mut out, &opts.progress).await;
                if session.broken.is_some() {
                    // As in `fast_pop3`: again at Dovecot's own depth.
                    if let Ok((mut again, _)) = pop3_list(source, opts).await {
                        out.clear();
                        pop3_reads(&mut again, &pop3_numbers, &mut out, &opts.progress).await;
                        *session = again;
                    }
                }
            }
            out
        };
        let (imap_got, pop3_got) = tokio::join!(imap_reads_all, pop3_reads_all);
        all = Reads {
            pop3: pop3_got,
            ..imap_got.map_err(imap_err)?
        };
    }

    m.reads = needed.dovecot_reads(&all);
    let pop3_stats = pop3.as_ref().map(|s| s.client.stats()).unwrap_or_default();
    let imap_stats = imap.client.stats();
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
        m.all = Some(all);
    }
    let _ = imap.client.logout().await;
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
        ];
        for (msg, want) in cases {
            assert_eq!(bare_size(msg), *want, "{:?}", String::from_utf8_lossy(msg));
        }
    }
}
