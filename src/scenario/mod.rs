//! Scenario files: one YAML file per modelled migration, loaded into a fake-servers world.
//!
//! A scenario defines every message once, then the old provider's IMAP view (mailboxes,
//! UIDs) and POP3 view (order, UIDLs) by reference, the pop3-migration settings, provider
//! quirks, timeline events, faults, server knobs and what Dovecot 2.3.19 is expected to
//! do. Loading validates all of it before anything runs; every error starts with
//! `path:line:column:`. The format is documented in `scenarios/README.md`.
//!
//! - [`format`](mod@format): the serde types mirroring the YAML, with positions.
//! - [`schema`]: the JSON Schema, generated from those types.
//! - [`knobs`]: the server knobs, defined once: defaults, schema, fake-server options.
//! - [`load`]: parse, validate, build a [`Scenario`].
//! - [`generate`]: deterministic message generation, line ends, UIDL templates (re-exported
//!   from the fake servers' crate).
//! - [`serve`]: a scenario's world on the fake servers from a library call.
//! - [`run`]: a scenario end to end: serve, read, predict, check the expectations.
//! - [`worlds`]: the world generator: random valid scenarios, shrinkable, for hunting.

pub mod anonymise;
pub mod format;
pub mod generate;
pub mod import;
pub mod knobs;
pub mod load;
pub mod record;
pub mod run;
pub mod schema;
pub mod serve;
pub mod worlds;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use fake_servers::profiles::Quirk;
use fake_servers::script::{Event, Rule};
use fake_servers::world::{MessageId, World};
use fake_servers::{Script, SharedWorld};
use serde::Deserialize;

use crate::domain::{Imapc, ImapcProfile};
use crate::matcher::Settings;
use crate::matcher::settings::ConfigError;

pub use crate::domain::{Destination, DovecotVersion, ProfileChoice};
pub use knobs::{ImapKnobs, Pop3Knobs, ServerKnobs};
pub use load::{load_file, load_str};
pub use schema::json_schema;

/// How the migration ends, as doveadm reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The plugin succeeded for INBOX (doveadm exit 0).
    Success,
    /// The plugin refused: "POP3 UIDLs couldn't be synced" (doveadm exit 75).
    Failure,
    /// doveadm aborted on an assertion (exit 134; spec §12, `all_mailboxes`; also
    /// 2.3's IMAP login failure).
    Abort,
    /// doveconf refused the configuration: nothing read (exit 89; 2.4's booleans).
    ConfigError,
    /// 2.4: imapc's login failed; nothing read from POP3, nothing stored (exit 77).
    LoginFailure,
}

impl Outcome {
    /// doveadm's exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 75,
            Outcome::Abort => 134,
            Outcome::ConfigError => 89,
            Outcome::LoginFailure => 77,
        }
    }
}

/// What Dovecot is expected to do with this scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub outcome: Outcome,
    /// doveadm's exit code where a failure's is not 75 (`exit:`).
    pub exit: Option<i32>,
    /// IMAP messages that get a UIDL other than their true one.
    pub wrong: u32,
    /// IMAP messages with a true UIDL that get none.
    pub lost: u32,
    /// IMAP messages given a UIDL but no POP3 order (the cached-UIDL bug, spec §7).
    pub order_lost: u32,
    /// Substrings each of which must appear in some warning.
    pub warnings: Vec<String>,
    /// Substrings each of which must appear in some error.
    pub errors: Vec<String>,
}

/// A previous run's `pop3.uidl` values in imapc's index cache: per IMAP mailbox, UID →
/// cached UIDL (spec §7).
pub type UidlCache = BTreeMap<String, BTreeMap<u32, String>>;

/// One POP3 entry of the ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop3Truth {
    /// POP3 message number (1-based).
    pub number: u32,
    pub id: MessageId,
    pub uidl: String,
}

/// What the right answer is, from message identities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// Per IMAP mailbox, per UID: the message id.
    pub imap: BTreeMap<String, BTreeMap<u32, MessageId>>,
    /// The POP3 listing, by message number.
    pub pop3: Vec<Pop3Truth>,
    /// Every UIDL POP3 lists each message under: the initial listing plus POP3
    /// deliveries from timeline events. More than one only for messages POP3 lists twice.
    pub uidls: BTreeMap<MessageId, Vec<String>>,
}

impl Truth {
    /// The truth of a world as it is (e.g. after a run, once events have fired).
    pub fn of_world(world: &World) -> Truth {
        let mut t = Truth::default();
        for mb in &world.imap.mailboxes {
            let uids = t.imap.entry(mb.name.clone()).or_default();
            for m in &mb.messages {
                uids.insert(m.uid, m.id.clone());
            }
        }
        for (i, m) in world.pop3.messages.iter().enumerate() {
            t.pop3.push(Pop3Truth {
                number: i as u32 + 1,
                id: m.id.clone(),
                uidl: m.uidl.clone(),
            });
            t.uidls
                .entry(m.id.clone())
                .or_default()
                .push(m.uidl.clone());
        }
        t
    }

    /// The true UIDL of a message: that of the POP3 entry with the same id (the first,
    /// if POP3 lists it twice); `None` if POP3 does not list it, or lists it with an
    /// empty UIDL (which no migration can carry over).
    pub fn uidl_of(&self, id: &str) -> Option<&str> {
        self.uidls
            .get(id)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|u| !u.is_empty())
    }

    /// The true UIDL of IMAP message `uid` in `mailbox`.
    pub fn true_uidl(&self, mailbox: &str, uid: u32) -> Option<&str> {
        let id = self.imap.get(mailbox)?.get(&uid)?;
        self.uidl_of(id)
    }
}

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Path relative to the scenarios root, without extension, `/`-separated:
    /// `order/reversed`.
    pub name: String,
    /// One line: the real situation it models.
    pub description: String,
    /// The pop3-migration settings (plugin enabled, Dovecot's defaults otherwise).
    pub settings: Settings,
    pub imapc: ProfileChoice,
    /// `imapc: { features: …, prefetch: N }`: imapc's settings as the admin writes
    /// them, on top of each version's defaults (then [`Self::imapc`] is `defaults`).
    pub imapc_written: Option<WrittenImapc>,
    /// The destination's mail storage (`destination:`, default maildir); `run` and
    /// `conformance --destination` replace it.
    pub destination: Destination,
    /// Both views at the start, quirks and per-message overrides applied.
    pub world: World,
    /// Fault rules for the servers' [`Script`].
    pub rules: Vec<Rule>,
    /// Timeline events for the servers' [`Script`].
    pub events: Vec<Event>,
    pub knobs: ServerKnobs,
    /// A previous run's UIDL cache; empty when there was none.
    pub cache: UidlCache,
    pub expect: Expect,
    /// The Dovecot versions the scenario is about, oldest first (default: 2.3).
    pub dovecot: Vec<DovecotVersion>,
    /// Where a version's expectations differ from [`Self::expect`].
    pub expect_by_version: BTreeMap<DovecotVersion, Expect>,
    /// Ground truth of the initial world, plus the UIDLs of POP3 deliveries.
    pub truth: Truth,
    /// The provider profile named, if any.
    pub profile: Option<String>,
    /// Every quirk in effect (profile and `quirks:`), in stage order.
    pub quirks: Vec<Quirk>,
    /// What loaded but should be written differently (an old spelling, with the new).
    pub warnings: Vec<Diagnostic>,
}

/// imapc's two settings the plugin feels, as a scenario writes them: `imapc_features`
/// and `mail_prefetch_count`, each unset when absent (the version's defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrittenImapc {
    /// imapc_features, as written (2.3's rfc822.size in a 2.4 configuration is refused:
    /// exit 75)
    #[serde(default)]
    pub features: Option<String>,
    /// mail_prefetch_count (default 0): prefetch + 1 UIDs a command
    #[serde(default)]
    pub prefetch: Option<u32>,
}

impl WrittenImapc {
    /// The configuration lines, as the oracle writes them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.features {
            out.push(format!("imapc_features = {f}"));
        }
        if let Some(n) = self.prefetch {
            out.push(format!("mail_prefetch_count = {n}"));
        }
        out
    }
}

impl Scenario {
    /// The imapc configuration `profile` stands for in this scenario under `version`:
    /// the scenario's written settings where it has them, else the named profile's.
    /// A feature name the version does not know is its refusal (2.4 given 2.3's
    /// `rfc822.size`: exit 75, nothing read).
    pub fn imapc_for(
        &self,
        profile: ImapcProfile,
        version: DovecotVersion,
    ) -> Result<Imapc, ConfigError> {
        let Some(w) = &self.imapc_written else {
            return Ok(profile.imapc(version));
        };
        if let Some(e) = w
            .features
            .as_deref()
            .and_then(|f| crate::config::dovecot_conf::unknown_feature(version, f))
        {
            return Err(e);
        }
        Ok(Imapc::from_settings(
            version,
            w.features.as_deref(),
            w.prefetch.unwrap_or(0),
        ))
    }

    /// How a report names `profile` under `version`: `docs`, `bare`, `defaults`, or
    /// the written configuration's meaning.
    pub fn imapc_label(&self, profile: ImapcProfile, version: DovecotVersion) -> String {
        match (&self.imapc_written, self.imapc_for(profile, version)) {
            (None, _) => profile.imapc_name(version).to_string(),
            (Some(_), Ok(imapc)) => imapc.name(version),
            (Some(w), Err(_)) => w.lines().join(", "),
        }
    }

    /// What `version` is expected to do.
    pub fn expect_for(&self, version: DovecotVersion) -> &Expect {
        self.expect_by_version.get(&version).unwrap_or(&self.expect)
    }

    /// A fresh script with this scenario's rules and events.
    pub fn script(&self) -> Script {
        Script::new(self.rules.clone(), self.events.clone())
    }

    /// A fresh shared copy of the initial world.
    pub fn shared_world(&self) -> SharedWorld {
        SharedWorld::new(self.world.clone())
    }
}

/// One problem in a scenario file, at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; 0 when the position is unknown.
    pub line: u32,
    /// 1-based, in characters; 0 when the position is unknown.
    pub column: u32,
    pub message: String,
    /// The source line and a caret under the column, when known.
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// `path:line:column: message`, without the snippet.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

/// Why scenarios could not be found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    // `error`, not `source`: the message already says it, and a source would make
    // error chains print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{}: no scenario files (*.yaml, *.yml) in this folder", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a scenario file: expected a .yaml or .yml file or a folder", path.display())]
    NotScenario { path: PathBuf },
}

impl ScenarioError {
    /// The diagnostics, if the file was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Invalid(d) => d,
            _ => &[],
        }
    }
}

fn render_all(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_scenario_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let io = |error| ScenarioError::Io {
        path: dir.to_path_buf(),
        error,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // `_fixtures` and other `_`/`.` folders hold material, not scenarios.
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            walk(&path, out)?;
        } else if is_scenario_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The scenario files named by `paths`: files as given, folders searched recursively for
/// `*.yaml`/`*.yml` (skipping `_fixtures` and other folders starting with `_` or `.`),
/// sorted, without repeats. A folder without scenarios is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|error| ScenarioError::Io {
            path: path.clone(),
            error,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(ScenarioError::Empty { path: path.clone() });
            }
            out.extend(found);
        } else if is_scenario_file(path) {
            out.push(path.clone());
        } else {
            return Err(ScenarioError::NotScenario { path: path.clone() });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The result of checking one file.
#[derive(Debug)]
pub struct CheckResult {
    pub path: PathBuf,
    /// What the file expands to if it loaded, else why not.
    pub result: Result<CheckSummary, ScenarioError>,
}

/// What a valid file expands to: its name and how many messages each view holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSummary {
    pub name: String,
    /// Old spellings and the like: `path:line:column: message`.
    pub warnings: Vec<Diagnostic>,
    /// Distinct messages of the initial world (both views).
    pub messages: usize,
    /// Each IMAP mailbox, in LIST order, with its message count.
    pub mailboxes: Vec<(String, usize)>,
    /// Entries of the POP3 listing.
    pub pop3: usize,
    pub events: usize,
    pub faults: usize,
}

impl CheckSummary {
    /// The summary of a loaded scenario.
    pub fn of(s: &Scenario) -> CheckSummary {
        let w = &s.world;
        let ids: std::collections::BTreeSet<&str> = w
            .imap
            .mailboxes
            .iter()
            .flat_map(|m| m.messages.iter().map(|m| m.id.as_str()))
            .chain(w.pop3.messages.iter().map(|m| m.id.as_str()))
            .collect();
        CheckSummary {
            name: s.name.clone(),
            warnings: s.warnings.clone(),
            messages: ids.len(),
            mailboxes: w
                .imap
                .mailboxes
                .iter()
                .map(|m| (m.name.clone(), m.messages.len()))
                .collect(),
            pop3: w.pop3.messages.len(),
            events: s.events.len(),
            faults: s.rules.len(),
        }
    }
}

impl fmt::Display for CheckSummary {
    /// `order/reversed: 3 messages; IMAP INBOX 3; POP3 3`, with events and faults when
    /// there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let boxes: Vec<String> = self
            .mailboxes
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        write!(
            f,
            "{}: {} messages; IMAP {}; POP3 {}",
            self.name,
            self.messages,
            boxes.join(", "),
            self.pop3
        )?;
        if self.events > 0 {
            write!(f, "; {} events", self.events)?;
        }
        if self.faults > 0 {
            write!(f, "; {} faults", self.faults)?;
        }
        Ok(())
    }
}

/// Loads every scenario under `paths` and reports, per file, what it expands to or its
/// errors. Fails only when the paths themselves can't be searched.
pub fn check(paths: &[PathBuf]) -> Result<Vec<CheckResult>, ScenarioError> {
    Ok(discover(paths)?
        .into_iter()
        .map(|path| {
            let result = load_file(&path).map(|s| CheckSummary::of(&s));
            CheckResult { path, result }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake_servers::world::{ImapMailbox, ImapMessage, Pop3Message};

    #[test]
    fn truth_of_a_world() {
        let mut w = World::default();
        let mut inbox = ImapMailbox::new("INBOX", 9);
        inbox.append(ImapMessage::honest("a", b"x: 1\r\n\r\n".to_vec()));
        inbox.append(ImapMessage::honest("b", b"x: 2\r\n\r\n".to_vec()));
        inbox.append(ImapMessage::honest("c", b"x: 3\r\n\r\n".to_vec()));
        w.imap.mailboxes.push(inbox);
        w.pop3.messages.push(Pop3Message::honest("b", "ub", vec![]));
        w.pop3.messages.push(Pop3Message::honest("c", "", vec![]));
        let t = Truth::of_world(&w);
        assert_eq!(t.true_uidl("INBOX", 1), None, "not in POP3");
        assert_eq!(t.true_uidl("INBOX", 2), Some("ub"));
        assert_eq!(t.true_uidl("INBOX", 3), None, "empty UIDL");
        assert_eq!(t.true_uidl("Sent", 1), None);
        assert_eq!(t.pop3[1].number, 2);
    }
}
