//! Parse, validate and build a scenario.
//!
//! Parsing is serde-saphyr's; its errors are re-worded to start with `path:line:column:`.
//! Everything the types can't say (references to unknown messages, duplicates, bad
//! settings, unknown profiles and quirks, sizes below the generated header, events that
//! could never fire) is checked here before anything runs, and reported at the position
//! of the offending node. All such problems of one file are reported together.
//!
//! This file holds the entry points, the limits, the diagnostics collector and `build`,
//! which reads a parsed file section by section, in the order of its modules:
//!
//! - `bulk`: `bulk:` groups and lists derived by rule, expanded before the rest reads
//!   the file;
//! - `settings`: `settings:`, `profile:` and `quirks:`, `cache:`, `expect:`;
//! - `messages`: `messages:`, rendered to bytes;
//! - `views`: the IMAP and POP3 views, UIDLs, the world with quirks and overrides;
//! - `timeline`: `events:` and `faults:`, as the servers' script;
//! - `knobs`: the checks of `server:`.

mod bulk;
mod knobs;
mod messages;
mod settings;
mod structure;
mod timeline;
mod views;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fake_servers::world::World;
use serde_saphyr::Location;

use super::format::{ImapDef, ImapcDef, OrderedMap, Pop3Def, ScenarioFile, Spanned};
use super::{Diagnostic, ProfileChoice, Scenario, ScenarioError, Truth, WrittenImapc};
use crate::domain::{DovecotVersion, Imapc, Sizing};
use messages::Messages;
use timeline::EventInputs;
pub use timeline::STEPS;
use views::Uidls;

/// Largest scenario file read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Largest single message (generated `size`, raw text or .eml file).
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// Largest total of all messages' bytes in one scenario.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;
/// Longest message id.
pub const MAX_ID_LEN: usize = 64;

/// Most problems reported for one file.
pub const MAX_DIAGNOSTICS: usize = 50;

/// Default login of both servers.
pub const DEFAULT_USER: &str = "alice";
/// Default password of both servers.
pub const DEFAULT_PASSWORD: &str = "secret";

/// Loads a scenario file. The scenarios root (for the name and `_fixtures/` paths) is the
/// nearest folder, from the file's own upwards, that holds `_fixtures/`; failing that, the
/// nearest called `scenarios`; failing that, the file's folder.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let io = |error| ScenarioError::Io {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ScenarioError::Invalid(vec![Diagnostic {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!(
                "the file is {} bytes; scenario files are limited to {MAX_FILE_BYTES}",
                meta.len()
            ),
            snippet: None,
        }]));
    }
    // Read through the bounded reader too: `metadata` says 0 for `/proc` files and
    // devices.
    let text = match crate::input::read_text(path, crate::input::SCENARIO) {
        Ok(text) => text,
        Err(crate::input::InputError::Io { source, .. }) => return Err(io(source)),
        Err(e) => {
            return Err(ScenarioError::Invalid(vec![Diagnostic {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
                message: e.to_string(),
                snippet: None,
            }]));
        }
    };
    load_str(&text, path, &find_root(path))
}

/// The scenarios root of a file (see [`load_file`]).
pub fn find_root(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new(""));
    if let Some(root) = dir.ancestors().find(|a| a.join("_fixtures").is_dir()) {
        return root.to_path_buf();
    }
    if let Some(root) = dir
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "scenarios"))
    {
        return root.to_path_buf();
    }
    dir.to_path_buf()
}

/// The name of a scenario: its path relative to `root`, without extension, `/`-separated.
pub fn scenario_name(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel.with_extension("");
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

/// Loads a scenario from text. `path` is used in error messages, for the name and to
/// resolve `file:` paths (relative to its folder first, then to `root`).
pub fn load_str(text: &str, path: &Path, root: &Path) -> Result<Scenario, ScenarioError> {
    let mut cx = Cx {
        path,
        text,
        root,
        diags: Vec::new(),
        warnings: Vec::new(),
    };
    let mut file: ScenarioFile = match serde_saphyr::from_str_with_options(text, yaml_options()) {
        Ok(f) => f,
        Err(e) => {
            structural_errors(&mut cx, &e);
            return Err(cx.finish());
        }
    };
    bulk::expand(&mut cx, &mut file);
    let scenario = build(&mut cx, &file);
    if !cx.diags.is_empty() {
        return Err(cx.finish());
    }
    let mut scenario = scenario.expect("a build without diagnostics yields a scenario");
    scenario.warnings = std::mem::take(&mut cx.warnings);
    Ok(scenario)
}

/// The YAML reader's limits for scenario files. No shipped scenario uses anchors and
/// aliases; a file may, but a few thousand copied events are plenty for that, and a
/// "billion laughs" of nested aliases is refused at once instead of being expanded into
/// hundreds of thousands of nodes (and then checked node by node against the schema).
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = 1_000;
    budget.max_recorded_anchor_events = 20_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Reports why the typed parse failed: a flow collection left open, else every
/// structural problem the schema finds in the plain tree, else serde's own message.
fn structural_errors(cx: &mut Cx<'_>, e: &serde_saphyr::Error) {
    if let Some(((line, column), ch)) = structure::unclosed_flow(cx.text) {
        let close = if ch == '{' { '}' } else { ']' };
        cx.err_pos(
            line,
            column,
            format!(
                "this `{ch}` is never closed: end it with `{close}` on its line, or indent \
                 the lines that continue it"
            ),
        );
        return;
    }
    if let Ok(tree) =
        serde_saphyr::from_str_with_options::<Spanned<structure::Node>>(cx.text, yaml_options())
    {
        let problems = structure::check(&super::schema::json_schema(), &tree);
        if !problems.is_empty() {
            for p in problems {
                cx.err_at(p.at, p.message);
            }
            return;
        }
    }
    let loc = e.location().unwrap_or(Location::UNKNOWN);
    let raw = e.without_snippet().to_string();
    let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
    let message = raw.strip_suffix(&suffix).unwrap_or(&raw);
    cx.err_at(loc, explain_parse_error(message));
}

/// Adds what is expected to serde-saphyr's terser messages.
fn explain_parse_error(message: &str) -> String {
    let hint = match message {
        "invalid u32" => Some("expected a whole number from 0 to 4294967295"),
        "invalid u64" => Some("expected a whole number, 0 or more"),
        "expected mapping start" => {
            Some("expected a mapping (key: value lines, or { key: value })")
        }
        "expected sequence start" => Some("expected a list ([a, b], or lines starting with -)"),
        "expected string scalar" => Some("expected text"),
        _ => None,
    };
    match hint {
        Some(h) => format!("{message}: {h}"),
        None => message.to_string(),
    }
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    root: &'a Path,
    diags: Vec<Diagnostic>,
    /// Problems that don't stop the file loading: old spellings, with the new ones.
    warnings: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn warn<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        let before = self.diags.len();
        self.err_at(at.referenced, message);
        let d = self.diags.split_off(before);
        self.warnings.extend(d);
    }

    fn err_at(&mut self, loc: Location, message: impl Into<String>) {
        self.err_pos(loc.line() as u32, loc.column() as u32, message);
    }

    fn err_pos(&mut self, line: u32, column: u32, message: impl Into<String>) {
        let snippet = (line > 0)
            .then(|| self.text.lines().nth(line as usize - 1))
            .flatten()
            .map(|src| {
                let gutter = line.to_string();
                let pad = " ".repeat(gutter.len());
                let caret = " ".repeat(column.saturating_sub(1) as usize);
                format!("{pad} |\n{gutter} | {src}\n{pad} | {caret}^")
            });
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
            snippet,
        });
    }

    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        self.err_at(at.referenced, message);
    }

    fn finish(&mut self) -> ScenarioError {
        let mut d = std::mem::take(&mut self.diags);
        d.sort_by_key(|d| (d.line, d.column));
        // A bulk group with one mistake would repeat it for each of its messages.
        if d.len() > MAX_DIAGNOSTICS {
            let more = d.len() - MAX_DIAGNOSTICS;
            d.truncate(MAX_DIAGNOSTICS);
            d.push(Diagnostic {
                path: self.path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("… and {more} more problems"),
                snippet: None,
            });
        }
        ScenarioError::Invalid(d)
    }
}

/// Builds the scenario of a parsed file, reporting every problem to `cx`. The sections
/// are read in an order where each one finds what it refers to: messages before the
/// views that list them, the IMAP view before the POP3 view derived from it, the world
/// before the events that change it.
fn build(cx: &mut Cx<'_>, f: &ScenarioFile) -> Option<Scenario> {
    let description = description(cx, &f.description);
    let (user, password) = account(cx, f);
    let settings = settings::settings(cx, f.settings.as_ref());
    let (imapc, imapc_written) = match f.imapc.as_ref().map(|s| &s.value) {
        None => (ProfileChoice::Both, None),
        Some(ImapcDef::Named(p)) => (*p, None),
        // Written settings are on top of each version's defaults.
        Some(ImapcDef::Written(w)) => (ProfileChoice::Defaults, Some(w.clone())),
    };
    let (dovecot, expect_by_version) = settings::versions(cx, f);
    let rfc822_sizes = rfc822_sizes(imapc, imapc_written.as_ref(), &dovecot);
    let quirks = settings::quirks(cx, f);

    let empty = OrderedMap::default();
    let msgs = Messages::read(cx, f.messages.as_ref().unwrap_or(&empty));
    // Ids referred to anywhere; a message no one refers to is reported at the end.
    let mut used: BTreeSet<String> = BTreeSet::new();

    let default_imap = ImapDef::default();
    let imap = views::imap_view(
        cx,
        f.imap.as_ref().unwrap_or(&default_imap),
        &msgs,
        &mut used,
    );
    let default_pop3 = Pop3Def::default();
    let pop3_def = f.pop3.as_ref().unwrap_or(&default_pop3);
    let listing = views::pop3_listing(cx, pop3_def, &quirks, &imap, &msgs, &mut used);
    let uidls = Uidls::new(cx, pop3_def, &quirks, &imap, &f.events);
    let pop3 = views::pop3_view(cx, &listing, &msgs, &uidls, &mut used);
    let world = World {
        user,
        password,
        imap,
        pop3,
    };
    let world = views::world(world, &quirks, &msgs);

    let inputs = EventInputs {
        rfc822_sizes,
        world: &world,
        quirks: &quirks,
        msgs: &msgs,
        uidls: &uidls,
    };
    let (events, deliveries) = timeline::events(cx, &f.events, &inputs, &mut used);
    views::check_unique_uidls(cx, pop3_def, &world, &deliveries, &msgs);
    let rules = timeline::faults(cx, &f.faults, rfc822_sizes);
    let knobs = knobs::knobs(cx, f.server.as_ref());
    let cache = settings::cache(cx, f.cache.as_ref(), &world);
    let expect = settings::expect(cx, &f.expect);
    check_all_used(cx, &msgs, &used);

    let mut truth = Truth::of_world(&world);
    for (id, uidl) in deliveries {
        truth.uidls.entry(id).or_default().push(uidl);
    }
    Some(Scenario {
        path: cx.path.to_path_buf(),
        name: scenario_name(cx.path, cx.root),
        description,
        settings,
        imapc,
        imapc_written,
        destination: f
            .destination
            .as_ref()
            .map_or_else(Default::default, |s| s.value),
        world,
        rules,
        events,
        knobs,
        cache,
        expect,
        dovecot,
        expect_by_version,
        truth,
        profile: f.profile.as_ref().map(|p| p.value.clone()),
        quirks,
        warnings: Vec::new(),
    })
}

/// Whether every imapc configuration the scenario runs, under every version it is
/// about, sizes by RFC822.SIZE (so `imap.fetch_sizes` is a step it sends).
fn rfc822_sizes(
    imapc: ProfileChoice,
    written: Option<&WrittenImapc>,
    versions: &[DovecotVersion],
) -> bool {
    versions.iter().all(|&v| {
        imapc.concrete_for(v).iter().all(|p| {
            let sized = match written {
                Some(w) => Imapc::from_settings(v, w.features.as_deref(), w.prefetch.unwrap_or(0)),
                None => p.imapc(v),
            };
            sized.sizing == Sizing::Rfc822Size
        })
    })
}

/// `description:`, one non-empty line.
fn description(cx: &mut Cx<'_>, def: &Spanned<String>) -> String {
    let description = def.value.trim().to_string();
    if description.is_empty() {
        cx.err(
            def,
            "description is empty: say in one line what real situation this models",
        );
    } else if description.contains('\n') {
        cx.err(
            def,
            "description must be one line; put details in YAML comments",
        );
    }
    description
}

/// The login both servers accept: `account:`, or the defaults.
fn account(cx: &mut Cx<'_>, f: &ScenarioFile) -> (String, String) {
    let Some(a) = &f.account else {
        return (DEFAULT_USER.to_string(), DEFAULT_PASSWORD.to_string());
    };
    for (field, v) in [("user", &a.user), ("password", &a.password)] {
        if v.value.is_empty() || v.value.contains(['\r', '\n', '\0']) {
            cx.err(v, format!("account {field} must be non-empty and one line"));
        }
    }
    (a.user.value.clone(), a.password.value.clone())
}

/// Every message must be used somewhere: in a mailbox, the POP3 listing or an event.
fn check_all_used(cx: &mut Cx<'_>, msgs: &Messages<'_>, used: &BTreeSet<String>) {
    for m in &msgs.list {
        if !used.contains(&m.id) {
            cx.err_at(
                m.key,
                format!(
                    "message `{}` is defined but no IMAP mailbox, POP3 listing or event uses it",
                    m.id
                ),
            );
        }
    }
}

/// The known name closest to `name`, if one is close enough to be a likely typo: at
/// most a quarter of its characters (at least one) changed, added or left out; none
/// for names shorter than three characters, where every short name is "close".
pub(crate) fn did_you_mean<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = name.chars().count();
    if len < 3 {
        return None;
    }
    let limit = (len / 4).max(1);
    known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// ` (did you mean `x`?)` for a likely typo of a known name, else nothing.
fn hint<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(name, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name() {
        let known = ["success", "failure", "abort"];
        assert_eq!(did_you_mean("sucess", known), Some("success"));
        assert_eq!(did_you_mean("zzz", known), None);
        assert_eq!(did_you_mean("sise", ["size", "subject"]), Some("size"));
    }

    #[test]
    fn names_from_paths() {
        let cases = [
            (
                "scenarios/order/reversed.yaml",
                "scenarios",
                "order/reversed",
            ),
            ("scenarios/a.yml", "scenarios", "a"),
            ("/x/y/z.yaml", "/other", "x/y/z"),
            ("z.yaml", "", "z"),
        ];
        for (path, root, want) in cases {
            assert_eq!(
                scenario_name(Path::new(path), Path::new(root)),
                want,
                "{path}"
            );
        }
    }

    #[test]
    fn root_is_found_by_fixtures_or_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("lib/_fixtures")).unwrap();
        std::fs::create_dir_all(d.join("lib/fam/sub")).unwrap();
        std::fs::create_dir_all(d.join("scenarios/fam")).unwrap();
        std::fs::create_dir_all(d.join("loose")).unwrap();
        assert_eq!(find_root(&d.join("lib/fam/sub/x.yaml")), d.join("lib"));
        assert_eq!(
            find_root(&d.join("scenarios/fam/x.yaml")),
            d.join("scenarios")
        );
        assert_eq!(find_root(&d.join("loose/x.yaml")), d.join("loose"));
    }

    #[test]
    fn parse_errors_say_what_is_expected() {
        assert_eq!(
            explain_parse_error("invalid u32"),
            "invalid u32: expected a whole number from 0 to 4294967295"
        );
        assert_eq!(explain_parse_error("anything else"), "anything else");
    }
}
