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

use crate::matcher::Listing;
use crate::matcher::audit::{Audit, Counts, Expected};
use crate::matcher::outcome::{Stored, maildir_stored};
use crate::matcher::{Outcome, SyncStatus};

/// Shown for a UIDL that a maildir destination replaces by the message's file name.
pub const MAILDIR_FILE_NAME: &str = "<maildir file name>";

pub use advice::{Advice, ConfigSyntax, advice, config_block};
pub use human::human;
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
    /// The UIDL Dovecot would store and serve, as a maildir destination reads it back
    /// (absent: none; `<maildir file name>` where an empty `P` field makes Dovecot use
    /// the file name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uidl: Option<String>,
    /// The plugin's answer, where dovecot-uidlist cannot hold it as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_uidl: Option<String>,
    /// The POP3 order Dovecot would store (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    /// How the plugin matched it: cache, size or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// right / order-lost / wrong / lost / unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
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

/// Builds a report. `ids` names the message behind (mailbox, UID) where known.
pub fn build(
    name: &str,
    description: Option<&str>,
    imapc: &str,
    outcome: &Outcome<'_>,
    audit: Option<&Audit>,
    ids: &dyn Fn(&str, u32) -> Option<String>,
) -> Report {
    let mut verdicts = BTreeMap::new();
    if let Some(a) = audit {
        for m in &a.messages {
            verdicts.insert((m.mailbox.as_str(), m.uid), m);
        }
    }
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
                    let judged = verdicts.get(&(mb.name.as_str(), a.uid));
                    MessageReport {
                        uid: a.uid,
                        message: ids(&mb.name, a.uid),
                        uidl: if stored {
                            a.uidl.map(|u| match maildir_stored(u) {
                                Stored::Uidl(kept) => kept.to_string(),
                                Stored::FileName => MAILDIR_FILE_NAME.to_string(),
                            })
                        } else {
                            None
                        },
                        plugin_uidl: a
                            .uidl
                            .filter(|u| stored && maildir_stored(u) != Stored::Uidl(u))
                            .map(str::to_string),
                        order: (stored && a.order > 0).then_some(a.order),
                        via: if stored {
                            a.via.map(|v| v.to_string())
                        } else {
                            None
                        },
                        verdict: judged.map(|j| j.verdict.to_string()),
                        cause: judged.and_then(|j| j.cause.map(|c| c.to_string())),
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
        dovecot: DovecotReport {
            exit_code: outcome.result.exit_code(),
            result: outcome.result.to_string(),
            mailboxes,
            log: outcome.log.iter().map(|l| l.to_string()).collect(),
        },
        pop3: None,
        audit: audit.map(|a| AuditReport {
            counts: a.counts,
            recommendation: advice(&a.recommendation, ConfigSyntax::Dovecot23),
        }),
        traffic: None,
        expectation: None,
    }
}

impl Report {
    /// YAML, as `--format yaml` prints it.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a report always serialises")
    }

    /// The text of the report's reviewed snapshot (`snapshots/a/b.snap`), which
    /// `tests/scenarios.rs` and `uidlmap run --snapshots` compare. The expectation's
    /// result is left out: expectations are checked as expectations (a failed one says
    /// what was expected and what was found), so a changed `expect:` is not a snapshot
    /// change and a snapshot shows only what uidlmap predicts.
    pub fn snapshot_yaml(&self) -> String {
        Report {
            expectation: None,
            ..self.clone()
        }
        .to_yaml()
    }

    /// JSON, as `--format json` prints it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}
