//! Renderings of a result: the structured [`Report`] (YAML/JSON), a human summary, the
//! HTML page ([`html`]), the TSV of what Dovecot would store, and dovecot-uidlist
//! `P`/`O` fields; the recommendation as advice with a configuration block.
//!
//! A report always says which answer is which: `dovecot` is what Dovecot 2.3.19 would
//! do, bugs and all; `audit` is how that compares with the truth. Output is
//! deterministic: mailboxes in dsync's order, messages in UID order, no ports, paths or
//! timings.

mod advice;
pub mod html;
mod human;
mod tsv;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{Destination, Stored};
use crate::matcher::Listing;
use crate::matcher::audit::{Audit, Counts, Expected, MessageAudit};
use crate::matcher::{Outcome, SyncStatus};

/// Shown for a UIDL that a maildir destination replaces by the message's file name.
pub const MAILDIR_FILE_NAME: &str = "<maildir file name>";

pub use advice::{Advice, advice, config_block};
pub use human::{FULL_UP_TO, Rows, human, human_with};
pub use tsv::{TSV_HEADER, TsvError, dovecot_uidlist, read_cache, tsv_lines};

/// Everything known about one run (a scenario, or a live verification).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Scenario name (path under scenarios/ without extension), or the account.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The plugin settings under Dovecot's full names.
    pub settings: BTreeMap<String, String>,
    /// The imapc profile the prediction is for (`docs` or `bare`).
    pub imapc: String,
    /// The destination's mail storage (`maildir`, `sdbox`, `mdbox`): it decides what is
    /// kept of each UIDL ([`Destination::keeps`]).
    pub destination: String,
    /// The Dovecot version predicted (`2.3` or `2.4`).
    pub dovecot_version: String,
    /// Plugin settings whose spelling this version does not read as it reads to a
    /// person (`off` meaning yes in 2.3; anything but yes/y/1/no refused by 2.4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub setting_spellings: Vec<String>,
    /// What Dovecot would do.
    pub dovecot: DovecotReport,
    /// The POP3 maildrop as listed (absent where it was not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pop3: Option<Vec<Pop3Entry>>,
    /// How that compares with the truth (absent with `--no-audit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditReport>,
    /// Commands and round trips per server, as our clients counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// Whether the scenario's expectations hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation: Option<Expectation>,
    /// The same run predicted for the other Dovecot versions a scenario is about, where
    /// their answer differs from this one (what is stored, or the exit code).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_versions: Vec<Report>,
}

/// Dovecot's answer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DovecotReport {
    pub exit_code: i32,
    pub result: String,
    pub mailboxes: Vec<MailboxReport>,
    /// Log lines as `Level: text`, in the order Dovecot logs them.
    pub log: Vec<String>,
}

/// One mailbox of Dovecot's answer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MailboxReport {
    pub name: String,
    pub status: String,
    /// Whether dsync copies its messages.
    pub copied: bool,
    /// `cached uidls=C, size matches=S, total=N` (absent where the plugin did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passes: Option<Passes>,
    pub messages: Vec<MessageReport>,
}

/// The figures of one mailbox's sync.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Passes {
    pub cached_uidls: usize,
    pub size_matches: usize,
    pub total: usize,
    pub header_pass: bool,
    pub header_matches: usize,
}

/// One IMAP message.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MessageReport {
    pub uid: u32,
    /// The scenario's message id, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The UIDL Dovecot would store and serve, as the destination reads it back
    /// (absent: none; `<maildir file name>` where an empty `P` field of a maildir's
    /// dovecot-uidlist makes Dovecot use the file name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uidl: Option<String>,
    /// The plugin's answer, where the destination cannot hold it as it is (maildir's
    /// dovecot-uidlist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_uidl: Option<String>,
    /// The POP3 order Dovecot would store (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    /// How the plugin matched it: cache, size or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// right / order-lost / wrong / lost / unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// The true UIDL, where a verdict is not right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// One POP3 message as `UIDL` and `LIST` gave it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Pop3Entry {
    pub number: u32,
    pub uidl: String,
    /// `LIST` octets (absent where not read: `skip_size_check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The POP3 side of a listing, for [`Report::pop3`].
pub fn pop3_entries(listing: &Listing) -> Vec<Pop3Entry> {
    listing
        .pop3
        .iter()
        .map(|m| Pop3Entry {
            number: m.number,
            uidl: m.uidl.clone(),
            size: m.size,
        })
        .collect()
}

/// The audit, summarised.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditReport {
    #[serde(flatten)]
    pub counts: Counts,
    pub recommendation: Advice,
}

/// Per-server traffic.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Traffic {
    pub pop3: ServerTraffic,
    pub imap: ServerTraffic,
}

/// One server's traffic.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ServerTraffic {
    pub commands: u64,
    pub round_trips: u64,
}

/// The scenario's expectations and whether they hold.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Expectation {
    pub met: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// Mailboxes (and POP3 listings) with more messages than this are summarised in
/// snapshots ([`Report::snapshot_yaml`]).
pub const SNAPSHOT_ROWS: usize = 100;

/// What a report is about: its name and the Dovecot it predicts (imapc profile,
/// destination, version).
#[derive(Clone, Copy, Debug)]
pub struct Heading<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub imapc: &'a str,
    pub destination: Destination,
    pub version: crate::domain::DovecotVersion,
}

/// Builds a report of what Dovecot `heading.version` does (its advice in that version's
/// syntax). `ids` names the message behind (mailbox, UID) where known.
pub fn build(
    heading: Heading<'_>,
    outcome: &Outcome<'_>,
    audit: Option<&Audit>,
    ids: &dyn Fn(&str, u32) -> Option<String>,
) -> Report {
    let Heading {
        name,
        description,
        imapc,
        destination,
        version,
    } = heading;
    // By mailbox, then in UID order (binary searched): a map of every (mailbox, UID)
    // was a large part of a 100,000-message report's memory.
    let mut verdicts: BTreeMap<&str, Vec<(u32, &MessageAudit)>> = BTreeMap::new();
    if let Some(a) = audit {
        for m in &a.messages {
            verdicts
                .entry(m.mailbox.as_str())
                .or_default()
                .push((m.uid, m));
        }
    }
    for v in verdicts.values_mut() {
        // Stable: of the same UID twice, the last is the one found (as a map's insert).
        v.sort_by_key(|(uid, _)| *uid);
    }
    let verdict_of = |mailbox: &str, uid: u32| -> Option<&MessageAudit> {
        let v = verdicts.get(mailbox)?;
        let end = v.partition_point(|(u, _)| *u <= uid);
        (end > 0 && v[end - 1].0 == uid).then(|| v[end - 1].1)
    };
    let mailboxes = outcome
        .mailboxes
        .iter()
        .map(|mb| MailboxReport {
            name: mb.name.clone(),
            status: mb.status.to_string(),
            copied: mb.copied,
            passes: (mb.status == SyncStatus::Synced).then_some(Passes {
                cached_uidls: mb.cached_uidls,
                size_matches: mb.size_matches,
                total: mb.total,
                header_pass: mb.header_pass,
                header_matches: mb.header_matches,
            }),
            messages: mb
                .messages
                .iter()
                .map(|a| {
                    let stored = mb.copied && a.uidl.is_some();
                    let judged = verdict_of(&mb.name, a.uid);
                    MessageReport {
                        uid: a.uid,
                        message: ids(&mb.name, a.uid),
                        uidl: if stored {
                            a.uidl.map(|u| match destination.keeps(u) {
                                Stored::Uidl(kept) => kept.to_string(),
                                Stored::FileName => MAILDIR_FILE_NAME.to_string(),
                            })
                        } else {
                            None
                        },
                        plugin_uidl: a
                            .uidl
                            .filter(|u| stored && !destination.keeps_whole(u))
                            .map(str::to_string),
                        order: (stored && a.order > 0).then_some(a.order),
                        via: if stored {
                            a.via.map(|v| v.name())
                        } else {
                            None
                        },
                        verdict: judged.map(|j| j.verdict.name()),
                        cause: judged.and_then(|j| j.cause.map(|c| c.name())),
                        expected: judged.and_then(|j| match (&j.expected, j.verdict) {
                            (_, crate::matcher::audit::Verdict::Right) => None,
                            (Expected::Pop3 { uidl, number }, _) => {
                                Some(format!("{uidl} (POP3 msg {number})"))
                            }
                            (Expected::None, _) => Some("none".to_string()),
                            (Expected::Unknown | Expected::Gone, _) => None,
                        }),
                    }
                })
                .collect(),
        })
        .collect();
    Report {
        name: name.to_string(),
        description: description.map(str::to_string),
        settings: outcome.settings.dovecot_pairs().into_iter().collect(),
        imapc: imapc.to_string(),
        destination: destination.name().to_string(),
        dovecot_version: version.name().to_string(),
        setting_spellings: Vec::new(),
        dovecot: DovecotReport {
            exit_code: outcome.result.exit_code(),
            result: outcome.result.to_string(),
            mailboxes,
            log: outcome.log.iter().map(|l| l.to_string()).collect(),
        },
        pop3: None,
        audit: audit.map(|a| AuditReport {
            counts: a.counts,
            recommendation: destination_advice(advice(&a.recommendation, version), a, destination),
        }),
        traffic: None,
        expectation: None,
        other_versions: Vec::new(),
    }
}

/// The advice, with what the destination changes: UIDLs that only maildir's
/// dovecot-uidlist mangles are kept whole by sdbox and mdbox (no plugin setting helps).
fn destination_advice(mut advice: Advice, audit: &Audit, destination: Destination) -> Advice {
    let mangled = audit
        .messages
        .iter()
        .filter(|m| m.cause == Some(crate::matcher::audit::Cause::MaildirUidlist))
        .count();
    if mangled > 0 && destination == Destination::Maildir {
        advice.reason.push_str(&format!(
            "; {mangled} UIDL(s) hold a space, which a maildir destination's dovecot-uidlist cuts: an sdbox or mdbox destination keeps them whole"
        ));
    }
    advice
}

impl Report {
    /// The messages Dovecot stores, mailbox by mailbox: those of the mailboxes dsync
    /// copies, except the ones it never stores. A message that left the server while
    /// dsync downloaded it (audit verdict `not-migrated` in a copied mailbox) is absent
    /// from the destination, not stored with an empty UIDL (issue 12 f): Dovecot
    /// 2.3.19.1 logs `Remote didn't send mail UID=N` and `doveadm fetch` lists no such
    /// message (hunt seed 2; `scenarios/race/expunged-during-download.yaml`). The TSV and
    /// the conformance comparison both list exactly these.
    pub fn stored(&self) -> impl Iterator<Item = (&MailboxReport, &MessageReport)> {
        self.dovecot
            .mailboxes
            .iter()
            .filter(|mb| mb.copied)
            .flat_map(|mb| mb.messages.iter().map(move |m| (mb, m)))
            .filter(|(_, m)| m.verdict != Some("not-migrated"))
    }

    /// For a configuration the version refuses before reading anything: no traffic
    /// (doveadm sends nothing), and the plugin's settings as the admin spelled them
    /// (there is no reading of them to show).
    pub fn mark_refused(&mut self, settings: &crate::matcher::Settings) {
        self.traffic = None;
        self.pop3 = None;
        self.settings.extend(settings.spelled_pairs());
    }

    /// YAML, as `--format yaml` prints it.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a report always serialises")
    }

    /// The text of the report's reviewed snapshot (`snapshots/a/b.snap`), which
    /// `tests/scenarios.rs` and `uidlmap run --snapshots` compare. The expectation's
    /// result is left out: expectations are checked as expectations (a failed one says
    /// what was expected and what was found), so a changed `expect:` is not a snapshot
    /// change and a snapshot shows only what uidlmap predicts.
    ///
    /// A mailbox of more than [`SNAPSHOT_ROWS`] messages keeps its first five, its last
    /// five and every message whose verdict is not right, a POP3 listing that long its
    /// first and last five, and a closing line says so, so that a 10,000-message world has
    /// a snapshot a person can review.
    pub fn snapshot_yaml(&self) -> String {
        let mut r = Report {
            expectation: None,
            ..self.clone()
        };
        let mut notes = Vec::new();
        for mb in &mut r.dovecot.mailboxes {
            let n = mb.messages.len();
            if n <= SNAPSHOT_ROWS {
                continue;
            }
            let keep = |i: usize, m: &MessageReport| {
                i < 5 || i >= n - 5 || m.verdict.is_some_and(|v| v != "right")
            };
            mb.messages = std::mem::take(&mut mb.messages)
                .into_iter()
                .enumerate()
                .filter(|(i, m)| keep(*i, m))
                .map(|(_, m)| m)
                .collect();
            notes.push(format!(
                "# summarised: {} of {n} messages of {} shown (first 5, last 5, every one not right)",
                mb.messages.len(),
                mb.name
            ));
        }
        if let Some(pop3) = r.pop3.as_mut().filter(|p| p.len() > SNAPSHOT_ROWS) {
            let n = pop3.len();
            *pop3 = std::mem::take(pop3)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i < 5 || *i >= n - 5)
                .map(|(_, p)| p)
                .collect();
            notes.push(format!(
                "# summarised: 10 of {n} POP3 messages shown (first 5, last 5)"
            ));
        }
        let mut out = r.to_yaml();
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
        out
    }

    /// JSON, as `--format json` prints it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}
