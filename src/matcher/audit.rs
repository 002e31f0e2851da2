//! The audit: where Dovecot's answer is wrong by content, why, and which settings fix it.
//!
//! Dovecot's answer ([`super::Outcome`]) is compared with what is true: the scenario's
//! ground truth where one is known, otherwise what the content says (the full header
//! hashes of every message, paired where a hash is unique on both sides). Each IMAP
//! message the plugin handles gets a verdict, each wrong or lost UIDL a cause named
//! after the Dovecot behaviour behind it. Then the plan is replayed under every
//! combination of the boolean settings to find the smallest change that carries every
//! UIDL right, or to say that none does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::outcome::{Outcome, Stored, SyncStatus, Via};
use super::settings::BOOLEAN_SETTINGS;
use super::{Listing, Read, Reads, ResolveError, Settings, Sha1, simulate};
use crate::domain::Destination;

/// The true UIDL of one IMAP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// This POP3 message (UIDL and number) is the same message.
    Pop3 { uidl: String, number: u32 },
    /// POP3 does not list this message: it should get no UIDL.
    None,
    /// The content cannot tell (duplicate headers, unreadable header).
    Unknown,
    /// The message leaves the source during the run (expunged), so dsync never copies
    /// it: nothing to carry.
    Gone,
}

/// Ground truth: per (mailbox, UID), the true POP3 counterpart.
pub type Truth = BTreeMap<(String, u32), Expected>;

/// The verdict on one IMAP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The right UIDL and order, or rightly none.
    Right,
    /// The right UIDL, but the POP3 order is lost or wrong.
    OrderLost,
    /// Another message's UIDL (or a UIDL where none belongs).
    Wrong,
    /// No UIDL where one belongs, on a message that is copied.
    Lost,
    /// The message is not copied at all (its mailbox's sync fails, doveadm aborts or
    /// stops before it, or it was expunged meanwhile): the outcome says so; rerunning
    /// is the remedy, not a UIDL.
    NotMigrated,
    /// The truth is not known.
    Unknown,
}

impl Verdict {
    /// The word reports use.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Right => "right",
            Verdict::OrderLost => "order-lost",
            Verdict::Wrong => "wrong",
            Verdict::Lost => "lost",
            Verdict::NotMigrated => "not-migrated",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The Dovecot behaviour behind a wrong, lost or order-lost UIDL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// Different messages at the same position with the same size, paired by size.
    PositionalSizePairing,
    /// Identical normalised headers paired in list order.
    DuplicateHeaders,
    /// A header hash filed under the wrong POP3 entry after an empty UIDL.
    EmptyUidlShift,
    /// The cached-UIDL pass: a stale cached UIDL, or an order lost by the backwards walk.
    CacheWalk,
    /// The POP3 UIDL is empty: Dovecot skips the message.
    EmptyUidl,
    /// Paired right, but a maildir destination's dovecot-uidlist cannot hold the UIDL
    /// (a space in it): what is stored and served is cut at the space, or is the file
    /// name.
    MaildirUidlist,
    /// The IMAP and POP3 headers hash differently (a provider quirk): no pair.
    HeaderMismatch,
    /// The message was expunged while its header was read.
    Expunged,
    /// The mailbox's UIDL sync fails, so nothing of it is copied.
    SyncFailed,
    /// doveadm aborts in or before this mailbox.
    Aborted,
    /// dsync stops before this mailbox.
    NotReached,
    /// None of the above explains it.
    Other,
}

impl Cause {
    /// The words reports use.
    pub fn name(self) -> &'static str {
        match self {
            Cause::PositionalSizePairing => "positional size pairing",
            Cause::DuplicateHeaders => "duplicate headers paired in list order",
            Cause::EmptyUidlShift => "empty-UIDL shift",
            Cause::CacheWalk => "cached-UIDL walk",
            Cause::EmptyUidl => "empty POP3 UIDL",
            Cause::MaildirUidlist => "dovecot-uidlist cannot hold this UIDL",
            Cause::HeaderMismatch => "headers differ between IMAP and POP3",
            Cause::Expunged => "expunged during the run",
            Cause::SyncFailed => "UIDL sync failed",
            Cause::Aborted => "doveadm aborted",
            Cause::NotReached => "dsync stopped before this folder",
            Cause::Other => "other",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The audit of one IMAP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAudit {
    pub mailbox: String,
    pub uid: u32,
    pub expected: Expected,
    pub verdict: Verdict,
    pub cause: Option<Cause>,
}

/// A settings change that was tried, and what it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trial {
    /// The settings as `name=yes|no` pairs that differ from the audited ones.
    pub changes: Vec<(String, bool)>,
    pub settings: Settings,
    pub exit_code: i32,
    pub counts: Counts,
}

/// Verdict counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub right: usize,
    pub order_lost: usize,
    pub wrong: usize,
    pub lost: usize,
    pub not_migrated: usize,
    pub unknown: usize,
}

impl Counts {
    /// Every UIDL carried right, order included.
    pub fn all_right(&self) -> bool {
        self.wrong == 0 && self.lost == 0 && self.order_lost == 0
    }
}

/// What the audit recommends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recommendation {
    /// The audited settings already carry every UIDL right.
    KeepSettings,
    /// The smallest change that does (fewest settings flipped).
    Change(Trial),
    /// No combination of the boolean settings does; the best one tried is given.
    Impossible { best: Option<Trial> },
    /// The truth is not known well enough to judge.
    Undecided,
}

/// The whole audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    pub messages: Vec<MessageAudit>,
    pub counts: Counts,
    pub recommendation: Recommendation,
}

/// The hash Dovecot would compute from a complete read (header, then full fallback).
fn final_hash(r: &super::MessageRead) -> Option<Sha1> {
    match (&r.header, &r.full) {
        (Read::Hashed { sha1, eoh: true }, _) => Some(*sha1),
        (Read::Hashed { eoh: false, .. }, Some(full)) => match **full {
            Read::Hashed { sha1, .. } => Some(sha1),
            _ => None,
        },
        _ => None,
    }
}

/// Truth from content alone: an IMAP message pairs with the POP3 message whose full
/// header hash it shares when that hash is unique on both sides; a hash POP3 does not
/// have means no UIDL belongs; anything else is unknown. Only mailboxes the plugin acts
/// on (under `settings`) are judged.
pub fn content_truth(listing: &Listing, settings: &Settings, all: &Reads) -> Truth {
    let compact = ContentTruth::new(listing, settings, all);
    let mut truth = Truth::new();
    for (name, slots) in &compact.by_mailbox {
        for &(uid, slot) in slots {
            truth.insert((name.to_string(), uid), compact.expected(slot));
        }
    }
    truth
}

/// [`content_truth`] held compactly, for the audit of a big mailbox: per mailbox, the
/// UIDs in order with an index into the POP3 listing, where a [`Truth`] keeps a name
/// and a UIDL per message (30 MB at 100,000 messages).
struct ContentTruth<'a> {
    listing: &'a Listing,
    /// Stable-sorted by UID: of a UID listed twice the last counts, as a map's insert.
    by_mailbox: BTreeMap<&'a str, Vec<(u32, Slot)>>,
}

#[derive(Clone, Copy)]
enum Slot {
    /// Index into `listing.pop3`.
    Pop3(usize),
    None,
    Unknown,
}

impl<'a> ContentTruth<'a> {
    fn new(listing: &'a Listing, settings: &Settings, all: &Reads) -> Self {
        // Sorted vectors, not hash maps of lists: a third of the memory at 100,000
        // messages, and only "unique or not" is asked.
        let mut pop3_by_hash: Vec<(Sha1, usize)> = Vec::with_capacity(listing.pop3.len());
        let mut pop3_unreadable = false;
        for (i, m) in listing.pop3.iter().enumerate() {
            match all.pop3.get(&m.number).and_then(final_hash) {
                Some(h) => pop3_by_hash.push((h, i)),
                None => pop3_unreadable = true,
            }
        }
        pop3_by_hash.sort_unstable();
        let mut by_mailbox: BTreeMap<&str, Vec<(u32, Slot)>> = BTreeMap::new();
        for mb in &listing.imap {
            if !super::acts_on(settings, &mb.name) && !settings.all_mailboxes {
                continue;
            }
            let hashes: Vec<Option<Sha1>> = mb
                .messages
                .iter()
                .map(|m| all.imap_get(&mb.name, m.uid).and_then(final_hash))
                .collect();
            let mut imap_sorted: Vec<Sha1> = hashes.iter().flatten().copied().collect();
            imap_sorted.sort_unstable();
            let slots = by_mailbox.entry(mb.name.as_str()).or_default();
            slots.reserve(mb.messages.len());
            for (m, h) in mb.messages.iter().zip(&hashes) {
                let slot = match h {
                    None => Slot::Unknown,
                    Some(h) => match equal_range(&pop3_by_hash, h, |e| &e.0) {
                        [(_, i)] if equal_range(&imap_sorted, h, |e| e).len() == 1 => {
                            Slot::Pop3(*i)
                        }
                        [] if !pop3_unreadable => Slot::None,
                        _ => Slot::Unknown,
                    },
                };
                slots.push((m.uid, slot));
            }
        }
        for slots in by_mailbox.values_mut() {
            slots.sort_by_key(|(uid, _)| *uid);
        }
        ContentTruth {
            listing,
            by_mailbox,
        }
    }

    fn expected(&self, slot: Slot) -> Expected {
        match slot {
            Slot::Pop3(i) => {
                let p = &self.listing.pop3[i];
                Expected::Pop3 {
                    uidl: p.uidl.clone(),
                    number: p.number,
                }
            }
            Slot::None => Expected::None,
            Slot::Unknown => Expected::Unknown,
        }
    }

    fn get(&self, mailbox: &str, uid: u32) -> Option<Expected> {
        let slots = self.by_mailbox.get(mailbox)?;
        let end = slots.partition_point(|(u, _)| *u <= uid);
        (end > 0 && slots[end - 1].0 == uid).then(|| self.expected(slots[end - 1].1))
    }
}

/// The entries of sorted `v` whose key is `k`.
fn equal_range<'v, T>(v: &'v [T], k: &Sha1, key: impl Fn(&T) -> &Sha1) -> &'v [T] {
    let start = v.partition_point(|e| key(e) < k);
    let end = start + v[start..].partition_point(|e| key(e) == k);
    &v[start..end]
}

/// The truth an audit judges by: the caller's, or the content's.
enum TruthRef<'a> {
    Given(&'a Truth),
    Content(ContentTruth<'a>),
}

impl TruthRef<'_> {
    fn get(&self, mailbox: &str, uid: u32) -> Option<Cow<'_, Expected>> {
        match self {
            TruthRef::Given(t) => t.get(&(mailbox.to_string(), uid)).map(Cow::Borrowed),
            TruthRef::Content(c) => c.get(mailbox, uid).map(Cow::Owned),
        }
    }
}

/// Judges one outcome against the truth.
fn judge(
    listing: &Listing,
    outcome: &Outcome<'_>,
    truth: &TruthRef<'_>,
    dest: Destination,
) -> (Vec<MessageAudit>, Counts) {
    let empty_uidl_numbers: Vec<u32> = listing
        .pop3
        .iter()
        .filter(|m| m.uidl.is_empty())
        .map(|m| m.number)
        .collect();
    let mut out = Vec::new();
    let mut counts = Counts::default();
    for mb in &outcome.mailboxes {
        let handled = super::acts_on(&outcome.settings, &mb.name);
        for a in &mb.messages {
            let Some(expected) = truth.get(&mb.name, a.uid) else {
                continue;
            };
            let expected: &Expected = &expected;
            // Mailboxes the plugin does not act on are copied without UIDLs by design;
            // a POP3 client on the destination sees only INBOX.
            if !handled && mb.status == SyncStatus::NotHandled {
                continue;
            }
            let stored = if mb.copied {
                a.uidl.map(|u| dest.keeps(u))
            } else {
                None
            };
            let mangled = a.uidl.is_some_and(|u| !dest.keeps_whole(u));
            let wrong = |a: &super::Assigned<'_>| {
                if mangled
                    && matches!(expected, Expected::Pop3 { uidl, .. } if Some(uidl.as_str()) == a.uidl)
                {
                    Cause::MaildirUidlist
                } else {
                    wrong_cause(a.via, a.shifted)
                }
            };
            let (verdict, cause) = match expected {
                _ if !mb.copied => (
                    Verdict::NotMigrated,
                    Some(match mb.status {
                        SyncStatus::Aborted => Cause::Aborted,
                        SyncStatus::NotReached => Cause::NotReached,
                        _ => Cause::SyncFailed,
                    }),
                ),
                Expected::Gone => (Verdict::NotMigrated, Some(Cause::Expunged)),
                Expected::Unknown => (Verdict::Unknown, None),
                Expected::None => match stored {
                    None => (Verdict::Right, None),
                    Some(_) => (Verdict::Wrong, Some(wrong(a))),
                },
                Expected::Pop3 { uidl, number } => match stored {
                    Some(Stored::Uidl(u)) if u == uidl => {
                        if a.order == *number {
                            (Verdict::Right, None)
                        } else {
                            (Verdict::OrderLost, Some(Cause::CacheWalk))
                        }
                    }
                    Some(_) => (Verdict::Wrong, Some(wrong(a))),
                    None => {
                        let cause = if uidl.is_empty() || empty_uidl_numbers.contains(number) {
                            Cause::EmptyUidl
                        } else if !empty_uidl_numbers.is_empty() {
                            Cause::EmptyUidlShift
                        } else if expunged_in_log(outcome) {
                            Cause::Expunged
                        } else {
                            Cause::HeaderMismatch
                        };
                        (Verdict::Lost, Some(cause))
                    }
                },
            };
            match verdict {
                Verdict::Right => counts.right += 1,
                Verdict::OrderLost => counts.order_lost += 1,
                Verdict::Wrong => counts.wrong += 1,
                Verdict::Lost => counts.lost += 1,
                Verdict::NotMigrated => counts.not_migrated += 1,
                Verdict::Unknown => counts.unknown += 1,
            }
            out.push(MessageAudit {
                mailbox: mb.name.clone(),
                uid: a.uid,
                expected: expected.clone(),
                verdict,
                cause,
            });
        }
    }
    (out, counts)
}

fn expunged_in_log(outcome: &Outcome<'_>) -> bool {
    outcome
        .log
        .iter()
        .any(|l| l.text.contains("Failed to get header") || l.text.contains("Failed to get body"))
}

fn wrong_cause(via: Option<Via>, shifted: bool) -> Cause {
    match via {
        Some(Via::Size) => Cause::PositionalSizePairing,
        Some(Via::Header) if shifted => Cause::EmptyUidlShift,
        Some(Via::Header) => Cause::DuplicateHeaders,
        Some(Via::Cache) => Cause::CacheWalk,
        None => Cause::Other,
    }
}

/// Audits `outcome` (Dovecot's answer under `outcome.settings`). `all` must hold a
/// complete read (header, and full where the header had no blank line) of every POP3
/// message and every IMAP message; `truth` overrides the content truth where given.
///
/// `vanished` lists (mailbox, UID) of IMAP messages gone before dsync downloads them
/// ([`Outcome::apply_vanished`]): every settings trial inherits that failure, since no
/// setting avoids it.
pub fn audit(
    listing: &Listing,
    outcome: &Outcome<'_>,
    all: &Reads,
    truth: Option<&Truth>,
    vanished: &[(String, u32)],
) -> Result<Audit, ResolveError> {
    audit_to(Destination::Maildir, listing, outcome, all, truth, vanished)
}

/// [`audit`] for a run whose destination is `dest`: a UIDL is judged as `dest` keeps
/// it ([`Destination::keeps`]).
pub fn audit_to(
    dest: Destination,
    listing: &Listing,
    outcome: &Outcome<'_>,
    all: &Reads,
    truth: Option<&Truth>,
    vanished: &[(String, u32)],
) -> Result<Audit, ResolveError> {
    let truth = match truth {
        Some(t) => TruthRef::Given(t),
        None => {
            let mut any = outcome.settings.clone();
            any.all_mailboxes = true;
            TruthRef::Content(ContentTruth::new(listing, &any, all))
        }
    };
    let truth = &truth;
    let (messages, counts) = judge(listing, outcome, truth, dest);
    let recommendation = if counts.all_right() && outcome.result.exit_code() == 0 {
        if counts.unknown > 0 {
            Recommendation::Undecided
        } else {
            Recommendation::KeepSettings
        }
    } else {
        recommend(listing, &outcome.settings, all, truth, vanished, dest)?
    };
    Ok(Audit {
        messages,
        counts,
        recommendation,
    })
}

/// Tries every combination of the boolean settings, fewest changes first, and returns
/// the first that carries every UIDL right with doveadm succeeding.
fn recommend(
    listing: &Listing,
    base: &Settings,
    all: &Reads,
    truth: &TruthRef<'_>,
    vanished: &[(String, u32)],
    dest: Destination,
) -> Result<Recommendation, ResolveError> {
    let simulate = |s: &Settings| -> Result<Outcome<'_>, ResolveError> {
        let mut o = simulate(listing, s, all)?;
        o.apply_vanished(vanished);
        Ok(o)
    };
    let mut combos: Vec<u32> = (1..(1u32 << BOOLEAN_SETTINGS.len())).collect();
    // Fewest flips first; among equals, the order of BOOLEAN_SETTINGS decides.
    combos.sort_by_key(|c| (c.count_ones(), c.reverse_bits()));
    let score = |t: &Trial| {
        (
            t.exit_code != 0,
            t.counts.wrong,
            t.counts.lost,
            t.counts.order_lost,
            t.counts.not_migrated,
        )
    };
    // The settings as they are: a change is only worth naming if it does better.
    let current = {
        let outcome = simulate(base)?;
        let (_, counts) = judge(listing, &outcome, truth, dest);
        Trial {
            changes: Vec::new(),
            settings: base.clone(),
            exit_code: outcome.result.exit_code(),
            counts,
        }
    };
    let mut best = current;
    for mask in combos {
        let mut s = base.clone();
        let mut changes = Vec::new();
        for (bit, name) in BOOLEAN_SETTINGS.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                let v = !s.flag(name).expect("known setting");
                s.set(name, if v { "yes" } else { "no" })
                    .expect("known setting");
                changes.push((name.to_string(), v));
            }
        }
        let outcome = simulate(&s)?;
        let (_, counts) = judge(listing, &outcome, truth, dest);
        let trial = Trial {
            changes,
            settings: s,
            exit_code: outcome.result.exit_code(),
            counts,
        };
        if counts.all_right() && trial.exit_code == 0 {
            return Ok(Recommendation::Change(trial));
        }
        if score(&trial) < score(&best) {
            best = trial;
        }
    }
    let best = Some(best);
    Ok(Recommendation::Impossible { best })
}
