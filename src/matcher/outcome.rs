//! The plugin's answer: per IMAP message a UIDL and a POP3 order, the log lines in
//! Dovecot's wording (so admins can grep for them), and what doveadm would then do.
//!
//! dsync handles folders in byte order of their names. A mailbox whose UIDL sync fails
//! is not copied and, if it has any message to export, stops dsync there: later folders
//! are not reached and doveadm exits 75. The `all_mailboxes` assertion aborts doveadm
//! (exit 134) at the mailbox where it fires (spec §12).

use std::fmt;

use super::hash_pass;
use super::size_pass::Step;
use super::{MessageRead, Plan, Read, Reads, ResolveError, Settings, Sha1};

/// How an IMAP message got its UIDL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    /// From imapc's UIDL cache of an earlier run.
    Cache,
    /// Positional size pass.
    Size,
    /// Header-hash pass.
    Header,
}

impl Via {
    /// The word reports use.
    pub fn name(self) -> &'static str {
        match self {
            Via::Cache => "cache",
            Via::Size => "size",
            Via::Header => "header",
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The plugin's answer for one IMAP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned<'a> {
    pub uid: u32,
    /// `None`: the storage's default answer (empty for imapc); nothing is stored.
    pub uidl: Option<&'a str>,
    /// POP3 message number; 0 = none (dsync stores no order).
    pub order: u32,
    pub via: Option<Via>,
    /// Paired by a header hash that was filed under the wrong POP3 entry because of an
    /// earlier empty UIDL (spec §9).
    pub shifted: bool,
}

/// What happened to one mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// The plugin synced it; its UIDLs are stored.
    Synced,
    /// The plugin does not act on it; copied without UIDLs.
    NotHandled,
    /// "POP3 UIDLs couldn't be synced": nothing of it is copied.
    Failed,
    /// doveadm aborted here (exit 134).
    Aborted,
    /// dsync stopped before this folder.
    NotReached,
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncStatus::Synced => "synced",
            SyncStatus::NotHandled => "not handled by the plugin",
            SyncStatus::Failed => "failed",
            SyncStatus::Aborted => "aborted",
            SyncStatus::NotReached => "not reached",
        })
    }
}

/// One mailbox of the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxResult<'a> {
    pub name: String,
    pub status: SyncStatus,
    /// Whether dsync copies this mailbox's messages to the destination.
    pub copied: bool,
    /// Per IMAP message, in UID order.
    pub messages: Vec<Assigned<'a>>,
    /// The debug figures: `cached uidls=C, size matches=S, total=N`.
    pub cached_uidls: usize,
    pub size_matches: usize,
    pub total: usize,
    pub header_pass: bool,
    /// Pairs made by the header pass.
    pub header_matches: usize,
}

/// Log level of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Warning,
    Error,
    /// doveconf refusing the configuration.
    Fatal,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "Debug",
            Level::Warning => "Warning",
            Level::Error => "Error",
            Level::Fatal => "Fatal",
        })
    }
}

/// One log line, worded as Dovecot 2.3.19 words it ([`Outcome::reword_for`] turns it
/// into another version's words).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogLine {
    pub level: Level,
    /// The IMAP mailbox whose sync logged it.
    pub mailbox: String,
    pub text: String,
    /// Logged about a POP3 message (2.4 puts the pop3c mailbox's event prefix on it).
    pub pop3_side: bool,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level, self.text)
    }
}

/// What `doveadm backup` would end with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DoveadmResult {
    /// Exit 0.
    Success,
    /// Exit 75: "POP3 UIDLs couldn't be synced" in this mailbox.
    TempFail { mailbox: String },
    /// Exit 134: assertion failure inside the plugin, in this mailbox.
    Abort { mailbox: String },
    /// The configuration is refused (or its login cannot work) before the plugin reads
    /// anything: exit 89, 75 or 77 by what is wrong ([`super::settings::ConfigError`]).
    ConfigError { message: String, exit: i32 },
    /// Exit 75 from dsync itself: a message listed by IMAP was gone when dsync came to
    /// download it ("Remote didn't send mail UID=…"); the mailbox's other messages are
    /// stored.
    DownloadFailed { mailbox: String, uid: u32 },
    /// dsync fails: imapc could not open this mailbox (EXAMINE or its flags listing
    /// failed) or download it; the mailboxes before it are stored. `exit` is 75, or
    /// what a tagged `NO` means to doveadm (`migrate::recovery::Step::exit`).
    OpenFailed { mailbox: String, exit: i32 },
}

impl DoveadmResult {
    pub fn exit_code(&self) -> i32 {
        match self {
            DoveadmResult::Success => 0,
            DoveadmResult::TempFail { .. } | DoveadmResult::DownloadFailed { .. } => 75,
            DoveadmResult::OpenFailed { exit, .. } => *exit,
            DoveadmResult::Abort { .. } => 134,
            DoveadmResult::ConfigError { exit, .. } => *exit,
        }
    }
}

impl fmt::Display for DoveadmResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DoveadmResult::Success => f.write_str("success (exit 0)"),
            DoveadmResult::TempFail { mailbox } => write!(
                f,
                "mailbox {mailbox}: POP3 UIDLs couldn't be synced (exit 75)"
            ),
            DoveadmResult::Abort { mailbox } => write!(
                f,
                "mailbox {mailbox}: doveadm aborts with an assertion failure in the plugin (exit 134)"
            ),
            DoveadmResult::ConfigError { message, exit } => write!(
                f,
                "doveadm stops before reading anything: {message}; nothing is migrated (exit {exit})"
            ),
            DoveadmResult::DownloadFailed { mailbox, uid } => write!(
                f,
                "mailbox {mailbox}: dsync fails, Remote didn't send mail UID={uid}; its other messages are stored (exit 75)"
            ),
            DoveadmResult::OpenFailed { mailbox, exit } => write!(
                f,
                "mailbox {mailbox}: imapc cannot open it, dsync fails; the mailboxes before it are stored (exit {exit})"
            ),
        }
    }
}

/// Dovecot's answer for a whole session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<'a> {
    pub settings: Settings,
    /// In dsync's order.
    pub mailboxes: Vec<MailboxResult<'a>>,
    pub log: Vec<LogLine>,
    pub result: DoveadmResult,
}

/// What the destination keeps of a UIDL ([`crate::domain::Destination::keeps`]).
pub use crate::domain::Stored;

impl Outcome<'_> {
    /// dsync lists a mailbox, then downloads its messages: one that is gone by then
    /// (expunged after the listing) fails the export with exit 75 after the others are
    /// stored, and dsync goes no further. `vanished` holds (mailbox, UID) of such
    /// messages.
    pub fn apply_vanished(&mut self, vanished: &[(String, u32)]) {
        if self.result != DoveadmResult::Success {
            return;
        }
        let mut stop = false;
        for mb in &mut self.mailboxes {
            if stop {
                mb.status = SyncStatus::NotReached;
                mb.copied = false;
                continue;
            }
            if !mb.copied {
                continue;
            }
            if let Some(uid) = mb
                .messages
                .iter()
                .map(|m| m.uid)
                .find(|&u| vanished.iter().any(|(n, v)| *n == mb.name && *v == u))
            {
                self.log.push(LogLine {
                    level: Level::Error,
                    mailbox: mb.name.clone(),
                    text: format!("Remote didn't send mail UID={uid}"),
                    pop3_side: false,
                });
                self.result = DoveadmResult::DownloadFailed {
                    mailbox: mb.name.clone(),
                    uid,
                };
                stop = true;
            }
        }
    }

    /// What Dovecot does when the configuration is refused: nothing read, nothing
    /// stored, doveconf's one fatal line.
    pub fn config_error(settings: Settings, error: &super::settings::ConfigError) -> Self {
        Outcome {
            settings,
            mailboxes: Vec::new(),
            log: vec![LogLine {
                level: if error.exit() == 89 {
                    Level::Fatal
                } else {
                    Level::Error
                },
                mailbox: String::new(),
                text: match error.exit() {
                    89 => format!("Error in configuration file: {error}"),
                    _ => error.to_string(),
                },
                pop3_side: false,
            }],
            result: DoveadmResult::ConfigError {
                message: error.to_string(),
                exit: error.exit(),
            },
        }
    }

    /// Rewords the log as `version` words it. 2.3's words are the model's; 2.4 puts the
    /// event's prefix before `pop3_migration: ` (`imapc: ` for what the plugin logs
    /// while imapc asks it for a UIDL, `Mailbox NAME: ` for what it logs about a
    /// mailbox's messages) and dsync's `brain M: ` before dsync's own lines, and drops
    /// the `Mailbox POP3-MIGRATION-NS/INBOX: ` that 2.3 repeats inside pop3c's errors
    /// (measured, `docs/dovecot-versions.md`, "Log lines").
    pub fn reword_for(&mut self, version: crate::domain::DovecotVersion) {
        if version == crate::domain::DovecotVersion::V2_3 {
            return;
        }
        for line in &mut self.log {
            line.text = reword_2_4(line);
        }
    }

    /// Log lines at warning level or above.
    pub fn problems(&self) -> impl Iterator<Item = &LogLine> {
        self.log.iter().filter(|l| l.level >= Level::Warning)
    }

    /// What imapc's UIDL cache holds after this run (only persisted when imapc has
    /// on-disk indexes): per mailbox and UID, the UIDL; existing values kept.
    pub fn uidl_cache_after(&self) -> Vec<(String, u32, String)> {
        if self.settings.skip_uidl_cache {
            return Vec::new();
        }
        let mut out = Vec::new();
        for mb in &self.mailboxes {
            if mb.status != SyncStatus::Synced {
                continue;
            }
            for m in &mb.messages {
                if let Some(u) = m.uidl {
                    out.push((mb.name.clone(), m.uid, u.to_string()));
                }
            }
        }
        out
    }
}

const SYNC_FAILED: &str = "POP3 UIDLs couldn't be synced";

/// One 2.3 line in 2.4's words (see [`Outcome::reword_for`]).
fn reword_2_4(line: &LogLine) -> String {
    const INNER: &str = "Mailbox POP3-MIGRATION-NS/INBOX: ";
    let t = line.text.as_str();
    let Some(rest) = t.strip_prefix("pop3_migration: ") else {
        if t.starts_with("Remote didn't send mail") {
            return format!("brain M: Import mailbox {}: {t}", line.mailbox);
        }
        return t.to_string();
    };
    if rest.starts_with("UIDL for msg ") {
        return format!("imapc: {t}");
    }
    const SYNC: &str = "Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: ";
    if let Some(why) = rest.strip_prefix(SYNC) {
        return format!(
            "imapc: pop3_migration: {SYNC}{}",
            why.trim_start_matches(INNER)
        );
    }
    // `Failed to get size for msg N: Mailbox …: why` loses the inner prefix too.
    if rest.starts_with("Failed to get size for msg ")
        && let Some(i) = rest.find(": ")
    {
        let (head, why) = rest.split_at(i + 2);
        return format!(
            "imapc: pop3_migration: {head}{}",
            why.trim_start_matches(INNER)
        );
    }
    if rest.starts_with("cached uidls=") || rest.ends_with("mails matched by headers") {
        // The counters carry the same prefix in both versions.
        return t.to_string();
    }
    if line.pop3_side {
        format!("{INNER}{t}")
    } else {
        format!("Mailbox {}: {t}", line.mailbox)
    }
}

struct Session<'p> {
    log: Vec<LogLine>,
    /// Header hash filed under each POP3 map entry (persists across mailboxes).
    pop3_hash: Vec<Option<Sha1>>,
    /// Whether the hash under map entry i came from another POP3 message (§9).
    pop3_shifted: Vec<bool>,
    mailbox: &'p str,
    /// Reading a POP3 message's header: lines are about the pop3c mailbox.
    pop3_side: bool,
}

impl Session<'_> {
    fn line(&mut self, level: Level, text: String) {
        self.log.push(LogLine {
            level,
            mailbox: self.mailbox.to_string(),
            text,
            pop3_side: self.pop3_side,
        });
    }
}

/// The hash a read yields, with Dovecot's log lines. `Ok(None)`: expunged, left out.
/// `Err(())`: the sync fails.
fn hash_of(
    s: &mut Session<'_>,
    read: &MessageRead,
    seq: u32,
    uid: u32,
) -> Result<Option<Sha1>, ()> {
    let mut take = |r: &Read, what: &str| -> Result<Option<(Sha1, bool)>, ()> {
        match r {
            Read::Hashed { sha1, eoh } => Ok(Some((*sha1, *eoh))),
            Read::Expunged { reason } => {
                s.line(
                    Level::Error,
                    format!("pop3_migration: Failed to get {what} for msg {seq}: {reason}"),
                );
                Ok(None)
            }
            Read::Failed { reason } => {
                s.line(
                    Level::Error,
                    format!("pop3_migration: Failed to get {what} for msg {seq}: {reason}"),
                );
                Err(())
            }
        }
    };
    let Some((sha1, eoh)) = take(&read.header, "header")? else {
        return Ok(None);
    };
    if eoh {
        return Ok(Some(sha1));
    }
    let full: &Read = read.full.as_ref().expect("checked by the caller");
    let Some((sha1, eoh)) = take(full, "body")? else {
        return Ok(None);
    };
    if !eoh {
        s.line(
            Level::Warning,
            format!("pop3_migration: Truncated email with UID {uid} stored as truncated"),
        );
    }
    Ok(Some(sha1))
}

/// See [`super::resolve`].
pub fn resolve<'a>(plan: &Plan<'a>, reads: &Reads) -> Result<Outcome<'a>, ResolveError> {
    check_reads(plan, reads)?;
    let settings = &plan.settings;
    let listing = plan.listing;
    let mut s = Session {
        log: Vec::new(),
        pop3_hash: vec![None; plan.map.len()],
        pop3_shifted: vec![false; plan.map.len()],
        mailbox: "",
        pop3_side: false,
    };
    let mut result = DoveadmResult::Success;
    let mut mailboxes = Vec::with_capacity(plan.mailboxes.len());
    let mut empty_uidls_logged = false;

    for mp in &plan.mailboxes {
        let imap = &listing.imap[mp.index].messages;
        let unassigned = |uid| Assigned {
            uid,
            uidl: None,
            order: 0,
            via: None,
            shifted: false,
        };
        let mut mr = MailboxResult {
            name: mp.name.clone(),
            status: SyncStatus::NotHandled,
            copied: true,
            messages: imap.iter().map(|m| unassigned(m.uid)).collect(),
            cached_uidls: 0,
            size_matches: 0,
            total: 0,
            header_pass: false,
            header_matches: 0,
        };
        if result != DoveadmResult::Success {
            mr.status = SyncStatus::NotReached;
            mr.copied = false;
            mailboxes.push(mr);
            continue;
        }
        if !mp.acted {
            mailboxes.push(mr);
            continue;
        }
        s.mailbox = &mp.name;
        let synced = sync_mailbox(plan, mp, reads, &mut s, &mut mr, &mut empty_uidls_logged);
        if mp.aborts {
            mr.status = SyncStatus::Aborted;
            mr.copied = false;
            mr.messages.iter_mut().for_each(|m| *m = unassigned(m.uid));
            result = DoveadmResult::Abort {
                mailbox: mp.name.clone(),
            };
        } else if synced {
            mr.status = SyncStatus::Synced;
        } else {
            mr.status = SyncStatus::Failed;
            mr.messages.iter_mut().for_each(|m| *m = unassigned(m.uid));
            // The failure surfaces only when a mail asks for its UIDL: an empty
            // mailbox fails silently and dsync goes on (interop note); Dovecot then
            // never logs "POP3 UIDLs couldn't be synced" (checked by conformance).
            if !imap.is_empty() {
                s.line(Level::Error, SYNC_FAILED.to_string());
                mr.copied = false;
                result = DoveadmResult::TempFail {
                    mailbox: mp.name.clone(),
                };
            }
        }
        mailboxes.push(mr);
    }
    Ok(Outcome {
        settings: settings.clone(),
        mailboxes,
        log: s.log,
        result,
    })
}

fn check_reads(plan: &Plan<'_>, reads: &Reads) -> Result<(), ResolveError> {
    // A mailbox whose size read failed fails before any header is read, and dsync
    // stops there: neither it nor a mailbox after it needs a read.
    let cut = plan
        .mailboxes
        .iter()
        .position(|m| plan.listing.imap[m.index].size_failure.is_some())
        .unwrap_or(plan.mailboxes.len());
    let unread: Vec<&str> = plan.mailboxes[cut..]
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    for n in plan.mailboxes[..cut]
        .iter()
        .flat_map(|m| m.pop3_reads.iter().copied())
    {
        let r = reads.pop3.get(&n).ok_or(ResolveError::MissingPop3(n))?;
        if r.header.needs_full() && r.full.is_none() {
            return Err(ResolveError::MissingPop3Full(n));
        }
    }
    // A mailbox whose POP3 header read fails stops there: Dovecot reads no IMAP header
    // of it (`pop3_map_read_hdr_hashes(...) < 0 || imap_map_read_hdr_hashes(...)`), so
    // none is needed. Evidence: Dovecot 2.3.19.1, hunt seed 2, world random-2-23 (a
    // disconnect at the first TOP): uidlmap's prediction failed with "no header read
    // given for IMAP INBOX UID 1" (issue 12 d). Regression: faults/pop3-top-disconnect.
    let failed = |n: &u32| {
        reads.pop3.get(n).is_some_and(|r| {
            matches!(r.header, Read::Failed { .. })
                || matches!(r.full.as_deref(), Some(Read::Failed { .. }))
        })
    };
    let stopped: Vec<&str> = plan
        .mailboxes
        .iter()
        .filter(|m| m.pop3_reads.iter().any(failed))
        .map(|m| m.name.as_str())
        .collect();
    for (mb, uid) in plan
        .imap_reads()
        .filter(|(mb, _)| !stopped.contains(mb) && !unread.contains(mb))
    {
        let r = reads
            .imap_get(mb, uid)
            .ok_or_else(|| ResolveError::MissingImap(mb.to_string(), uid))?;
        if r.header.needs_full() && r.full.is_none() {
            return Err(ResolveError::MissingImapFull(mb.to_string(), uid));
        }
    }
    Ok(())
}

/// One mailbox's UIDL sync. Returns false when Dovecot's sync fails.
fn sync_mailbox<'a>(
    plan: &Plan<'a>,
    mp: &super::MailboxPlan,
    reads: &Reads,
    s: &mut Session<'_>,
    mr: &mut MailboxResult<'a>,
    empty_uidls_logged: &mut bool,
) -> bool {
    let listing = plan.listing;
    let imap = &listing.imap[mp.index].messages;
    // `imap_map_read` comes before `pop3_map_read`: POP3 is not contacted.
    if let Some(uid) = listing.imap[mp.index].size_failure {
        s.line(
            Level::Error,
            format!("pop3_migration: Failed to get psize for imap uid {uid}: Message was expunged"),
        );
        return false;
    }
    if mp.pop3_failed {
        let err = listing
            .pop3_error
            .as_deref()
            .unwrap_or("POP3 listing failed");
        s.line(Level::Error, err.to_string());
        return false;
    }
    if !*empty_uidls_logged && !mp.pop3_map_lost {
        *empty_uidls_logged = true;
        for &n in &plan.empty_uidls {
            s.line(
                Level::Warning,
                format!("pop3_migration: UIDL for msg {n} is empty"),
            );
        }
    }
    let map: &[u32] = if mp.pop3_map_lost { &[] } else { &plan.map };
    let entry = |i: usize| &listing.pop3[map[i] as usize];
    let settings = &plan.settings;

    // Dovecot's imap_msg_map lives in `mr.messages` itself (uidl, order, via), and its
    // pop3_uidl_map in `map` plus the linked flags: no copies of either list.
    for (a, m) in mr.messages.iter_mut().zip(imap) {
        let cached = if settings.skip_uidl_cache {
            None
        } else {
            m.cached_uidl.as_deref().filter(|u| !u.is_empty())
        };
        a.uidl = cached;
        a.via = cached.map(|_| Via::Cache);
    }
    let mut pop3_linked = vec![false; map.len()];
    for &(j, p) in &mp.cache_links {
        mr.messages[j].order = entry(p).number;
        pop3_linked[p] = true;
    }
    for (i, step) in mp.walk.steps.iter().enumerate() {
        match step {
            Step::CachedMatch => mr.cached_uidls += 1,
            Step::SizeMatch => {
                mr.size_matches += 1;
                let a = &mut mr.messages[i];
                a.uidl = Some(&entry(i).uidl);
                a.order = entry(i).number;
                a.via = Some(Via::Size);
                pop3_linked[i] = true;
            }
        }
    }
    mr.total = map.len().min(imap.len());
    s.line(
        Level::Debug,
        format!(
            "pop3_migration: cached uidls={}, size matches={}, total={}",
            mr.cached_uidls, mr.size_matches, mr.total
        ),
    );

    if mp.header_pass && !mp.aborts {
        mr.header_pass = true;
        // POP3 first, then IMAP, each stopping at the first hard failure.
        for &n in &mp.pop3_reads {
            let read = &reads.pop3[&n];
            let slot = n as usize - 1;
            s.pop3_side = true;
            let hashed = hash_of(s, read, n, n);
            s.pop3_side = false;
            match hashed {
                Ok(h) => {
                    s.pop3_hash[slot] = h;
                    s.pop3_shifted[slot] = entry(slot).number != n;
                }
                Err(()) => return false,
            }
        }
        let mut imap_hash: Vec<Option<Sha1>> = vec![None; imap.len()];
        let first = mp.walk.stopped_at;
        for (pos, &uid) in mp.imap_reads.iter().enumerate() {
            let read = reads
                .imap_get(&mp.name, uid)
                .expect("checked by check_reads");
            match hash_of(s, read, (first + pos + 1) as u32, uid) {
                Ok(h) => imap_hash[first + pos] = h,
                Err(()) => return false,
            }
        }
        let imap_taken: Vec<bool> = mr.messages.iter().map(|a| a.uidl.is_some()).collect();
        let pairs = hash_pass::pair(
            &s.pop3_hash[..map.len()],
            &pop3_linked,
            &imap_hash,
            &imap_taken,
        );
        drop((imap_hash, imap_taken));
        for (p, j) in pairs {
            let (p, j) = (p as usize, j as usize);
            pop3_linked[p] = true;
            let a = &mut mr.messages[j];
            a.uidl = Some(&entry(p).uidl);
            a.order = entry(p).number;
            a.via = Some(Via::Header);
            a.shifted = s.pop3_shifted[p];
            mr.header_matches += 1;
        }
        // Missing: unpaired POP3 entries that have a hash (expunged ones have none).
        let mut missing = (0..map.len()).filter(|&p| !pop3_linked[p] && s.pop3_hash[p].is_some());
        let first = missing.next();
        let count = first.map_or(0, |_| 1 + missing.count());
        if let (Some(first), false) = (first, settings.all_mailboxes) {
            let mut text = format!(
                "pop3_migration: {count} POP3 messages have no matching IMAP messages (first POP3 msg {} UIDL {})",
                entry(first).number,
                entry(first).uidl
            );
            let all_imap_found = imap.len() + count == map.len();
            if all_imap_found {
                text.push_str(
                    " - all IMAP messages were found (POP3 contains more than IMAP INBOX - you may want to set pop3_migration_all_mailboxes=yes)",
                );
            }
            if all_imap_found && settings.ignore_extra_uidls {
                s.line(Level::Warning, text);
            } else if !settings.ignore_missing_uidls {
                text.push_str(" - set pop3_migration_ignore_missing_uidls=yes");
                if all_imap_found {
                    text.push_str(" or pop3_migration_ignore_extra_uidls=yes");
                }
                text.push_str(" to continue anyway");
                s.line(Level::Error, text);
                return false;
            } else {
                s.line(Level::Warning, text);
            }
        } else {
            s.line(
                Level::Debug,
                format!("pop3_migration: {} mails matched by headers", map.len()),
            );
        }
    }
    // An order means nothing without a UIDL (dsync asks for both, the plugin answers
    // both only for a paired message).
    for a in &mut mr.messages {
        if a.uidl.is_none() {
            a.order = 0;
        }
    }
    true
}

#[cfg(test)]
mod reword_tests {
    use super::*;

    /// The 2.3 → 2.4 pairs of `docs/dovecot-versions.md`, "Log lines".
    #[test]
    fn lines_in_2_4_words() {
        let line = |text: &str, pop3_side: bool| LogLine {
            level: Level::Error,
            mailbox: "INBOX".into(),
            text: text.into(),
            pop3_side,
        };
        let inner = "Mailbox POP3-MIGRATION-NS/INBOX: ";
        let sync = "Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: ";
        for (text, pop3_side, want) in [
            (
                "pop3_migration: UIDL for msg 2 is empty".to_string(),
                false,
                "imapc: pop3_migration: UIDL for msg 2 is empty".to_string(),
            ),
            (
                format!("pop3_migration: {sync}{inner}UIDL failed: Disconnected"),
                false,
                format!("imapc: pop3_migration: {sync}UIDL failed: Disconnected"),
            ),
            (
                format!("pop3_migration: Failed to get size for msg 1: {inner}Unexpected LIST seq"),
                false,
                "imapc: pop3_migration: Failed to get size for msg 1: Unexpected LIST seq".into(),
            ),
            (
                "pop3_migration: Failed to get header for msg 2: No such message".into(),
                true,
                format!("{inner}pop3_migration: Failed to get header for msg 2: No such message"),
            ),
            (
                "pop3_migration: Failed to get header for msg 2: Message was expunged".into(),
                false,
                "Mailbox INBOX: pop3_migration: Failed to get header for msg 2: Message was expunged"
                    .into(),
            ),
            (
                "Remote didn't send mail UID=2".into(),
                false,
                "brain M: Import mailbox INBOX: Remote didn't send mail UID=2".into(),
            ),
            (
                "pop3_migration: cached uidls=0, size matches=3, total=3".into(),
                false,
                "pop3_migration: cached uidls=0, size matches=3, total=3".into(),
            ),
            (
                "POP3 UIDLs couldn't be synced".into(),
                false,
                "POP3 UIDLs couldn't be synced".into(),
            ),
        ] {
            assert_eq!(reword_2_4(&line(&text, pop3_side)), want);
        }
    }
}
