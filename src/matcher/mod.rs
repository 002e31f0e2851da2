//! Dovecot's pop3-migration matching, as pure functions (no tokio, no clock, no fs).
//!
//! The plugin's work is split where the I/O falls: [`plan`] runs what the listings alone
//! settle (the cached-UIDL pass and the positional size pass, per mailbox, in dsync's
//! order) and names exactly which headers the header pass will read; the caller reads
//! them (and, for a header without its blank line, the whole message: §4.4); [`resolve`]
//! finishes the header pass and produces Dovecot's answer with its log lines.
//!
//! - [`header_hash`]: the header filter, "version 4" normalisation and SHA-1 (§4.2–4.4).
//! - [`settings`]: the `pop3_migration_*` settings under Dovecot's names.
//! - [`uidl_cache`]: the cached-UIDL pass with its backwards walk (§7).
//! - [`size_pass`]: the positional size walk and its stop rules (§3).
//! - [`hash_pass`]: sort-and-merge pairing by header hash (§4.5).
//! - [`outcome`]: the result, log lines in Dovecot's wording, the doveadm prediction.
//! - [`audit`]: where that result is wrong by content, and which settings fix it.

pub mod audit;
pub mod hash_pass;
pub mod header_hash;
pub mod outcome;
pub mod settings;
pub mod size_pass;
pub mod uidl_cache;

use std::collections::BTreeMap;

pub use outcome::{
    Assigned, DoveadmResult, Level, LogLine, MailboxResult, Outcome, SyncStatus, Via,
};
pub use settings::Settings;

/// A SHA-1 digest of a normalised header (spec §4.3).
pub type Sha1 = [u8; 20];

/// One IMAP message as the IMAP pass reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImapMessage {
    pub uid: u32,
    /// Physical size; `None` when not read (`skip_size_check`).
    pub size: Option<u64>,
    /// `pop3.uidl` from imapc's own cache (a previous run), if any.
    pub cached_uidl: Option<String>,
}

/// One IMAP mailbox, messages in UID order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImapMailbox {
    pub name: String,
    pub messages: Vec<ImapMessage>,
    /// The first UID whose size the plugin asked for and imapc could not get (the
    /// message was expunged before its size command): the plugin's IMAP map read fails
    /// there (`Failed to get psize for imap uid N`), before POP3 is contacted, and so
    /// does this mailbox's sync. Which UID that is depends on imapc's batching
    /// (`docs/dovecot-versions.md`, "An event tied to the size fetch").
    pub size_failure: Option<u32>,
}

/// One POP3 message as `UIDL` and `LIST` give it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pop3Message {
    /// The POP3 message number (1-based, in order).
    pub number: u32,
    /// The UIDL exactly as pop3c parsed it (may be empty).
    pub uidl: String,
    /// `LIST` octets; `None` when not read (`skip_size_check`).
    pub size: Option<u64>,
}

/// Everything the listings say, before any header is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The source's mailboxes, in any order (dsync's order is applied here).
    pub imap: Vec<ImapMailbox>,
    /// The POP3 maildrop in message-number order.
    pub pop3: Vec<Pop3Message>,
    /// Set when connecting to, logging in to or listing the POP3 server failed: the
    /// error line to log (e.g. pop3c's `-ERR` text). The first mailbox the plugin acts
    /// on then fails.
    pub pop3_error: Option<String>,
}

/// The result of reading one header (or, in the fallback, one whole message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Hashed; `eoh` is the blank-line-seen flag.
    Hashed { sha1: Sha1, eoh: bool },
    /// The server said the message is gone (POP3 `-ERR` to TOP/RETR, IMAP expunge).
    /// (`Box<str>`, not `String`: a million of these are kept, see [`ReadMap`].)
    Expunged { reason: Box<str> },
    /// Any other failure; the sync fails.
    Failed { reason: Box<str> },
}

impl Read {
    /// A header read without its blank line needs the whole message (§4.4).
    pub fn needs_full(&self) -> bool {
        matches!(self, Read::Hashed { eoh: false, .. })
    }
}

/// A message's header read and, where the header lacked its blank line, the full read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRead {
    pub header: Read,
    /// Boxed: rare, and it keeps the common case small (spec-sized mailboxes hold a
    /// million of these).
    pub full: Option<Box<Read>>,
}

impl MessageRead {
    /// A header that has its blank line.
    pub fn hashed(sha1: Sha1) -> Self {
        MessageRead {
            header: Read::Hashed { sha1, eoh: true },
            full: None,
        }
    }
}

/// Reads by number (POP3) or UID (IMAP): a sorted vector rather than a `BTreeMap`,
/// because a mailbox of a million messages keeps a million of these and a B-tree
/// doubles their size. Inserting in ascending order is O(1); [`ReadMap::extend`] takes
/// any order in O(n log n); a single insert out of order costs a shift.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadMap(Vec<(u32, MessageRead)>);

impl ReadMap {
    /// An empty map with room for `n` reads (a caller that knows the plan's count
    /// avoids the growth slack of pushing one at a time).
    pub fn with_capacity(n: usize) -> Self {
        ReadMap(Vec::with_capacity(n))
    }

    fn find(&self, key: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&key, |(k, _)| *k)
    }

    /// Inserts or replaces; returns the previous read.
    pub fn insert(&mut self, key: u32, read: MessageRead) -> Option<MessageRead> {
        if self.0.last().is_none_or(|(k, _)| *k < key) {
            self.0.push((key, read));
            return None;
        }
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, read)),
            Err(i) => {
                self.0.insert(i, (key, read));
                None
            }
        }
    }

    /// Inserts `read` unless `key` is present; returns the entry either way.
    pub fn get_or_insert(&mut self, key: u32, read: MessageRead) -> &mut MessageRead {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, read));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn get(&self, key: &u32) -> Option<&MessageRead> {
        self.find(*key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &u32) -> Option<&mut MessageRead> {
        self.find(*key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, key: &u32) -> bool {
        self.find(*key).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In ascending key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&u32, &MessageRead)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Extend<(u32, MessageRead)> for ReadMap {
    /// Adds reads in any order; a later read of a key replaces an earlier one.
    fn extend<T: IntoIterator<Item = (u32, MessageRead)>>(&mut self, iter: T) {
        let before = self.0.len();
        self.0.extend(iter);
        // Already ascending (the common case, appending a later range): done.
        if self.0[before.saturating_sub(1)..]
            .windows(2)
            .all(|w| w[0].0 < w[1].0)
        {
            return;
        }
        // Stable, so that among equal keys the last added comes last and survives.
        self.0.sort_by_key(|(k, _)| *k);
        let mut out: Vec<(u32, MessageRead)> = Vec::with_capacity(self.0.len());
        for (k, v) in self.0.drain(..) {
            match out.last_mut() {
                Some((lk, lv)) if *lk == k => *lv = v,
                _ => out.push((k, v)),
            }
        }
        self.0 = out;
    }
}

impl FromIterator<(u32, MessageRead)> for ReadMap {
    fn from_iter<T: IntoIterator<Item = (u32, MessageRead)>>(iter: T) -> Self {
        let mut m = ReadMap::default();
        m.extend(iter);
        m
    }
}

impl std::ops::Index<&u32> for ReadMap {
    type Output = MessageRead;

    fn index(&self, key: &u32) -> &MessageRead {
        self.get(key).expect("no read under this key")
    }
}

/// Header reads keyed as the plan names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// By POP3 message number.
    pub pop3: ReadMap,
    /// By mailbox name, then UID (nested, so the name is not stored per message).
    pub imap: BTreeMap<String, ReadMap>,
}

impl Reads {
    /// The IMAP read of (mailbox, UID).
    pub fn imap_get(&self, mailbox: &str, uid: u32) -> Option<&MessageRead> {
        self.imap.get(mailbox).and_then(|m| m.get(&uid))
    }

    /// Mutable access to the IMAP read of (mailbox, UID).
    pub fn imap_get_mut(&mut self, mailbox: &str, uid: u32) -> Option<&mut MessageRead> {
        self.imap.get_mut(mailbox).and_then(|m| m.get_mut(&uid))
    }

    /// Records IMAP reads of one mailbox, in any order (see [`ReadMap::extend`]).
    pub fn extend_imap(
        &mut self,
        mailbox: &str,
        reads: impl IntoIterator<Item = (u32, MessageRead)>,
    ) {
        match self.imap.get_mut(mailbox) {
            Some(m) => m.extend(reads),
            None => {
                self.imap
                    .insert(mailbox.to_string(), reads.into_iter().collect());
            }
        }
    }

    /// Records the IMAP read of (mailbox, UID).
    pub fn insert_imap(&mut self, mailbox: &str, uid: u32, read: MessageRead) {
        match self.imap.get_mut(mailbox) {
            Some(m) => {
                m.insert(uid, read);
            }
            None => {
                self.imap
                    .insert(mailbox.to_string(), ReadMap(vec![(uid, read)]));
            }
        }
    }
}

/// A read the plan asked for but the caller did not provide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no header read given for POP3 message {0}")]
    MissingPop3(u32),
    #[error("no full-message read given for POP3 message {0}, whose header had no blank line")]
    MissingPop3Full(u32),
    #[error("no header read given for IMAP {0} UID {1}")]
    MissingImap(String, u32),
    #[error("no full-message read given for IMAP {0} UID {1}, whose header had no blank line")]
    MissingImapFull(String, u32),
}

/// What the plan settled for one mailbox before any header is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxPlan {
    /// Index into `Listing::imap`.
    pub index: usize,
    pub name: String,
    /// Whether the plugin acts on this mailbox (INBOX, or all with `all_mailboxes`).
    pub acted: bool,
    /// POP3 listing failed in this mailbox's sync.
    pub pop3_failed: bool,
    /// The POP3 map this mailbox sees is empty because an earlier sync failed to list
    /// POP3 (Dovecot keeps the half-made map: all_mailboxes only).
    pub pop3_map_lost: bool,
    /// IMAP position → POP3 map index, made by the cached-UIDL pass.
    pub cache_links: Vec<(usize, usize)>,
    /// The size walk.
    pub walk: size_pass::SizeWalk,
    /// The header pass runs.
    pub header_pass: bool,
    /// POP3 message numbers whose headers this mailbox's header pass reads.
    pub pop3_reads: Vec<u32>,
    /// IMAP UIDs whose headers this mailbox's header pass reads.
    pub imap_reads: Vec<u32>,
    /// doveadm 2.3.19 aborts here (assertion, spec §12): `all_mailboxes`, the POP3 map
    /// was read by an earlier mailbox and no POP3 header was read yet.
    pub aborts: bool,
}

/// What the listings settle, and which headers the rest needs.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    pub settings: Settings,
    pub listing: &'a Listing,
    /// Dovecot's `pop3_uidl_map`: indices into `listing.pop3` of the messages with a
    /// non-empty UIDL, in number order.
    pub map: Vec<u32>,
    /// POP3 numbers whose UIDL is empty (each logged as a warning).
    pub empty_uidls: Vec<u32>,
    /// Mailboxes in dsync's order (byte order of names).
    pub mailboxes: Vec<MailboxPlan>,
}

/// Whether the plugin is configured at all (`pop3_migration_mailbox` set).
pub fn enabled(settings: &Settings) -> bool {
    !settings.mailbox.is_empty()
}

/// dsync handles the source folders in byte order of their names (spec §12).
pub fn dsync_order(listing: &Listing) -> Vec<usize> {
    let mut order: Vec<usize> = (0..listing.imap.len()).collect();
    order.sort_by(|&a, &b| {
        listing.imap[a]
            .name
            .as_bytes()
            .cmp(listing.imap[b].name.as_bytes())
    });
    order
}

/// Whether the plugin acts on a mailbox of this name.
pub fn acts_on(settings: &Settings, name: &str) -> bool {
    enabled(settings) && (settings.all_mailboxes || name.eq_ignore_ascii_case("INBOX"))
}

/// Runs the cached-UIDL and size passes of every mailbox and names the headers needed.
pub fn plan<'a>(listing: &'a Listing, settings: &Settings) -> Plan<'a> {
    let mut empty_uidls = Vec::new();
    let mut map = Vec::with_capacity(listing.pop3.len());
    for (i, m) in listing.pop3.iter().enumerate() {
        if m.uidl.is_empty() {
            empty_uidls.push(m.number);
        } else {
            map.push(i as u32);
        }
    }

    let mut mailboxes = Vec::with_capacity(listing.imap.len());
    // Session state shared by the mailboxes (one pop3c storage per user session).
    let mut pop3_read = false;
    let mut pop3_listing_failed = false;
    let mut pop3_hashes_all = false;
    for index in dsync_order(listing) {
        let mailbox = &listing.imap[index];
        let acted = acts_on(settings, &mailbox.name);
        let mut mp = MailboxPlan {
            index,
            name: mailbox.name.clone(),
            acted,
            pop3_failed: false,
            pop3_map_lost: false,
            cache_links: Vec::new(),
            walk: size_pass::walk(0, 0, |_| unreachable!(), |_| unreachable!(), false),
            header_pass: false,
            pop3_reads: Vec::new(),
            imap_reads: Vec::new(),
            aborts: false,
        };
        if !acted {
            mailboxes.push(mp);
            continue;
        }
        let first_pop3_read = !pop3_read;
        pop3_read = true;
        if first_pop3_read && listing.pop3_error.is_some() {
            mp.pop3_failed = true;
            pop3_listing_failed = true;
            mailboxes.push(mp);
            continue;
        }
        // After a failed listing the map stays created but empty (spec: read once).
        let session_map: &[u32] = if pop3_listing_failed {
            mp.pop3_map_lost = true;
            &[]
        } else {
            &map
        };
        let pop3_at = |i: usize| &listing.pop3[session_map[i] as usize];
        let cached = |m: &'a ImapMessage| {
            if settings.skip_uidl_cache {
                None
            } else {
                m.cached_uidl.as_deref().filter(|u| !u.is_empty())
            }
        };
        // The cached pass sorts copies of both lists; only worth it when a cache exists.
        if mailbox.messages.iter().any(|m| cached(m).is_some()) {
            let uidls: Vec<&str> = (0..session_map.len())
                .map(|i| pop3_at(i).uidl.as_str())
                .collect();
            let imap_cached: Vec<Option<&str>> = mailbox.messages.iter().map(cached).collect();
            mp.cache_links = uidl_cache::link_cached(&uidls, &imap_cached);
        }
        let skip = settings.skip_size_check;
        mp.walk = size_pass::walk(
            session_map.len(),
            mailbox.messages.len(),
            |i| {
                let p = pop3_at(i);
                size_pass::PopSide {
                    uidl: &p.uidl,
                    size: if skip { None } else { p.size },
                }
            },
            |j| {
                let m = &mailbox.messages[j];
                size_pass::ImapSide {
                    size: if skip { None } else { m.size },
                    cached_uidl: cached(m),
                }
            },
            skip,
        );
        if !mp.walk.complete {
            mp.header_pass = true;
            let k = mp.walk.stopped_at;
            if !pop3_hashes_all {
                if !first_pop3_read && (!session_map.is_empty() || !pop3_listing_failed) {
                    // The pop3c box of this sync was never synced: doveadm asserts.
                    // An empty maildrop does not avoid it: the plugin begins a
                    // transaction on the box before looking at the (empty) map
                    // (`map_read_hdr_hashes`). Evidence: Dovecot 2.3.19.1, hunt seed 2,
                    // worlds random-2-158 and random-2-193 (all_mailboxes, empty INBOX
                    // and POP3, one message in a later folder): `Panic: ...
                    // (mailbox_transaction_begin): assertion failed: (box->opened)`,
                    // exit 134. Regression: dovecot-bugs/all-mailboxes-abort-empty-pop3.
                    mp.aborts = true;
                    mailboxes.push(mp);
                    continue;
                }
                let first_seq = if settings.all_mailboxes { 1 } else { k + 1 };
                // Dovecot reads POP3 numbers first_seq..=|map| and files the hash of
                // number s under map entry s-1: with empty UIDLs that is the wrong
                // entry, and the last messages are never read (spec §9).
                mp.pop3_reads = (first_seq..=session_map.len()).map(|s| s as u32).collect();
                if first_seq == 1 {
                    pop3_hashes_all = true;
                }
            }
            mp.imap_reads = mailbox.messages[k.min(mailbox.messages.len())..]
                .iter()
                .map(|m| m.uid)
                .collect();
        }
        mailboxes.push(mp);
    }
    Plan {
        settings: settings.clone(),
        listing,
        map,
        empty_uidls,
        mailboxes,
    }
}

impl Plan<'_> {
    /// POP3 map entry `i`.
    pub fn map_entry(&self, i: usize) -> &Pop3Message {
        &self.listing.pop3[self.map[i] as usize]
    }

    /// Every POP3 number whose header some mailbox's header pass reads, in read order.
    pub fn pop3_reads(&self) -> impl Iterator<Item = u32> + '_ {
        self.mailboxes
            .iter()
            .flat_map(|m| m.pop3_reads.iter().copied())
    }

    /// Every (mailbox, UID) whose IMAP header some header pass reads.
    pub fn imap_reads(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.mailboxes
            .iter()
            .flat_map(|m| m.imap_reads.iter().map(move |&u| (m.name.as_str(), u)))
    }

    /// What the header passes read, mailbox by mailbox.
    pub fn reads(&self) -> ReadPlan {
        ReadPlan {
            mailboxes: self
                .mailboxes
                .iter()
                .filter(|m| m.header_pass && !m.aborts && !m.pop3_failed)
                .map(|m| MailboxReads {
                    name: m.name.clone(),
                    pop3: m.pop3_reads.clone(),
                    imap: m.imap_reads.clone(),
                })
                .collect(),
        }
    }

    /// Whether any header is needed at all.
    pub fn needs_headers(&self) -> bool {
        self.mailboxes.iter().any(|m| m.header_pass)
    }
}

/// The headers one mailbox's header pass reads, POP3 first (owned, so that a reader can
/// hold it while it goes on listing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxReads {
    pub name: String,
    pub pop3: Vec<u32>,
    pub imap: Vec<u32>,
}

impl MailboxReads {
    /// The IMAP reads that follow `pop3` (the POP3 reads done so far): none once one
    /// of this mailbox's POP3 reads failed, as Dovecot stops at the first failed read.
    pub fn imap_after(&self, pop3: &ReadMap) -> &[u32] {
        let failed = self
            .pop3
            .iter()
            .any(|n| matches!(pop3.get(n).map(|r| &r.header), Some(Read::Failed { .. })));
        if failed { &[] } else { &self.imap }
    }
}

/// What Dovecot's header passes read, mailbox by mailbox in dsync's order: the one
/// answer to "which reads does this plan need", for every reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadPlan {
    /// Only the mailboxes whose header pass runs (not aborted, POP3 listed).
    pub mailboxes: Vec<MailboxReads>,
}

impl ReadPlan {
    /// The reads of mailbox `name`, if its header pass runs.
    pub fn mailbox(&self, name: &str) -> Option<&MailboxReads> {
        self.mailboxes.iter().find(|m| m.name == name)
    }

    /// Every POP3 number read, in read order.
    pub fn pop3(&self) -> impl Iterator<Item = u32> + '_ {
        self.mailboxes.iter().flat_map(|m| m.pop3.iter().copied())
    }

    /// Every (mailbox, UID) whose IMAP header is read.
    pub fn imap(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.mailboxes
            .iter()
            .flat_map(|m| m.imap.iter().map(move |&u| (m.name.as_str(), u)))
    }

    /// What Dovecot's header pass reads, taken from reads of (at least) those
    /// messages: per mailbox its POP3 reads, then its IMAP reads unless a POP3 read
    /// failed.
    pub fn dovecot_reads(&self, all: &Reads) -> Reads {
        let mut out = Reads::default();
        for mr in &self.mailboxes {
            for n in &mr.pop3 {
                if let Some(r) = all.pop3.get(n) {
                    out.pop3.insert(*n, r.clone());
                }
            }
            for &uid in mr.imap_after(&all.pop3) {
                if let Some(r) = all.imap_get(&mr.name, uid) {
                    out.insert_imap(&mr.name, uid, r.clone());
                }
            }
        }
        out
    }
}

/// The reads Dovecot's header passes make on this listing (see [`Plan::reads`]).
pub fn reads_needed(listing: &Listing, settings: &Settings) -> ReadPlan {
    plan(listing, settings).reads()
}

/// Finishes the header pass of every mailbox with the reads the plan asked for.
pub fn resolve<'a>(plan: &Plan<'a>, reads: &Reads) -> Result<Outcome<'a>, ResolveError> {
    outcome::resolve(plan, reads)
}

/// Plans and resolves in one go when every header is already known (audit, tests).
pub fn simulate<'a>(
    listing: &'a Listing,
    settings: &Settings,
    reads: &Reads,
) -> Result<Outcome<'a>, ResolveError> {
    resolve(&plan(listing, settings), reads)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod read_map_tests {
    use super::*;

    fn r(b: u8) -> MessageRead {
        MessageRead::hashed([b; 20])
    }

    fn keys(m: &ReadMap) -> Vec<(u32, u8)> {
        m.iter()
            .map(|(k, v)| match &v.header {
                Read::Hashed { sha1, .. } => (*k, sha1[0]),
                _ => (*k, 0),
            })
            .collect()
    }

    #[test]
    fn insert_in_any_order_stays_sorted_and_replaces() {
        let mut m = ReadMap::default();
        for (k, b) in [(5, 1), (7, 2), (1, 3), (6, 4), (7, 5)] {
            m.insert(k, r(b));
        }
        assert_eq!(keys(&m), [(1, 3), (5, 1), (6, 4), (7, 5)]);
        assert!(m.contains_key(&6) && !m.contains_key(&2));
        assert_eq!(m.get_or_insert(2, r(9)), &r(9));
        assert_eq!(m.get_or_insert(2, r(8)), &r(9));
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn extend_merges_and_last_wins() {
        let mut m: ReadMap = [(3, r(1)), (4, r(2))].into_iter().collect();
        m.extend([(5, r(3)), (6, r(4))]);
        assert_eq!(keys(&m), [(3, 1), (4, 2), (5, 3), (6, 4)]);
        m.extend([(2, r(5)), (4, r(6)), (1, r(7)), (2, r(8))]);
        assert_eq!(keys(&m), [(1, 7), (2, 8), (3, 1), (4, 6), (5, 3), (6, 4)]);
    }
}
