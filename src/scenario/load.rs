//! Parse, validate and build a scenario.
//!
//! Parsing is serde-saphyr's; its errors are re-worded to start with `path:line:column:`.
//! Everything the types can't say (references to unknown messages, duplicates, bad
//! settings, unknown profiles and quirks, sizes below the generated header, events that
//! could never fire) is checked here before anything runs, and reported at the position
//! of the offending node. All such problems of one file are reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_servers::profiles::{self, Quirk};
use fake_servers::script::{CommandMatch, Event, FaultAction, Phase, Protocol, Rule, WorldChange};
use fake_servers::world::{ImapMailbox, ImapMessage, ImapView, Pop3Message, Pop3View, World};
use serde_saphyr::{Location, Spanned};

use super::format::{
    EventDef, FaultDef, MailboxDef, MessageDef, OrderedMap, Scalar, ScenarioFile, StepDef,
};
use super::generate::{self, Encoding, GeneratedSpec, LineEnding, Template};
use super::{
    Diagnostic, Expect, ImapcProfile, Scenario, ScenarioError, ServerKnobs, Truth, UidlCache,
};
use crate::matcher::Settings;
use crate::matcher::settings::SettingError;

/// Largest scenario file read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Largest single message (generated `size`, raw text or .eml file).
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// Largest total of all messages' bytes in one scenario.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;
/// Longest message id.
pub const MAX_ID_LEN: usize = 64;

/// Default login of both servers.
pub const DEFAULT_USER: &str = "alice";
/// Default password of both servers.
pub const DEFAULT_PASSWORD: &str = "secret";

/// The protocol steps events and faults can name, with what they match. Names follow
/// Dovecot's order of work (notes/dovecot-interop.md).
pub const STEPS: &[(&str, Protocol, &str, Option<&str>)] = &[
    ("imap.login", Protocol::Imap, "LOGIN", None),
    ("imap.list", Protocol::Imap, "LIST", None),
    ("imap.examine", Protocol::Imap, "EXAMINE", None),
    (
        "imap.fetch_flags",
        Protocol::Imap,
        "UID FETCH",
        Some("(FLAGS)"),
    ),
    (
        "imap.fetch_sizes",
        Protocol::Imap,
        "UID FETCH",
        Some("RFC822.SIZE"),
    ),
    (
        "imap.fetch_headers",
        Protocol::Imap,
        "UID FETCH",
        Some("BODY.PEEK[HEADER]"),
    ),
    (
        "imap.fetch_messages",
        Protocol::Imap,
        "UID FETCH",
        Some("INTERNALDATE"),
    ),
    ("imap.logout", Protocol::Imap, "LOGOUT", None),
    ("pop3.user", Protocol::Pop3, "USER", None),
    ("pop3.login", Protocol::Pop3, "PASS", None),
    ("pop3.capa", Protocol::Pop3, "CAPA", None),
    ("pop3.stls", Protocol::Pop3, "STLS", None),
    ("pop3.uidl", Protocol::Pop3, "UIDL", None),
    ("pop3.list", Protocol::Pop3, "LIST", None),
    ("pop3.top", Protocol::Pop3, "TOP", None),
    ("pop3.retr", Protocol::Pop3, "RETR", None),
    ("pop3.quit", Protocol::Pop3, "QUIT", None),
];

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
    let text = std::fs::read_to_string(path).map_err(io)?;
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
    };
    let file: ScenarioFile = match serde_saphyr::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let loc = e.location().unwrap_or(Location::UNKNOWN);
            let raw = e.without_snippet().to_string();
            let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
            let message = raw.strip_suffix(&suffix).unwrap_or(&raw);
            cx.err_at(loc, explain_parse_error(message));
            return Err(cx.finish());
        }
    };
    let scenario = build(&mut cx, &file);
    if !cx.diags.is_empty() {
        return Err(cx.finish());
    }
    Ok(scenario.expect("a build without diagnostics yields a scenario"))
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
}

impl Cx<'_> {
    fn err_at(&mut self, loc: Location, message: impl Into<String>) {
        let line = loc.line() as u32;
        let column = loc.column() as u32;
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
        ScenarioError::Invalid(d)
    }
}

/// One message of `messages:`, rendered.
struct Msg<'a> {
    id: String,
    index: usize,
    def: &'a Spanned<MessageDef>,
    key: Location,
    bytes: Vec<u8>,
    /// How override texts (imap.header, pop3.top) become bytes.
    line_ending: LineEnding,
    encoding: Encoding,
}

impl Msg<'_> {
    fn internal_date(&self) -> String {
        self.def
            .value
            .imap
            .as_ref()
            .and_then(|o| o.value.internal_date.as_ref())
            .map(|d| d.value.clone())
            .unwrap_or_else(|| generate::imap_internal_date(self.index))
    }

    fn flags(&self) -> Vec<String> {
        self.def
            .value
            .imap
            .as_ref()
            .map(|o| o.value.flags.iter().map(|f| f.value.clone()).collect())
            .unwrap_or_default()
    }

    fn override_bytes(&self, text: &str) -> Vec<u8> {
        // Encoding errors were reported when the message was read; fall back to UTF-8.
        let bytes =
            generate::encode(text, self.encoding).unwrap_or_else(|_| text.as_bytes().to_vec());
        generate::convert_line_endings(&bytes, self.line_ending)
    }

    fn honest_imap(&self) -> ImapMessage {
        let mut m = ImapMessage::honest(self.id.clone(), self.bytes.clone());
        m.flags = self.flags();
        m.internal_date = self.internal_date();
        m
    }

    fn apply_imap_overrides(&self, m: &mut ImapMessage) {
        if let Some(o) = &self.def.value.imap {
            if let Some(h) = &o.value.header {
                m.header = self.override_bytes(&h.value);
            }
            if let Some(s) = &o.value.rfc822_size {
                m.rfc822_size = Some(s.value);
            }
        }
    }

    fn apply_pop3_overrides(&self, m: &mut Pop3Message) {
        if let Some(o) = &self.def.value.pop3 {
            if let Some(t) = &o.value.top {
                m.top = Some(self.override_bytes(&t.value));
            }
            if let Some(s) = &o.value.list_size {
                m.list_size = Some(s.value);
            }
        }
    }

    fn uidl_override(&self) -> Option<&Spanned<String>> {
        self.def
            .value
            .pop3
            .as_ref()
            .and_then(|o| o.value.uidl.as_ref())
    }
}

/// Where a message lives in IMAP, for the `{uid}`, `{uidvalidity}`, `{mailbox}` variables.
#[derive(Clone, Debug)]
struct Home {
    mailbox: String,
    uid: u32,
    uidvalidity: u32,
}

fn build(cx: &mut Cx<'_>, f: &ScenarioFile) -> Option<Scenario> {
    // --- description
    let description = f.description.value.trim().to_string();
    if description.is_empty() {
        cx.err(
            &f.description,
            "description is empty: say in one line what real situation this models",
        );
    } else if description.contains('\n') {
        cx.err(
            &f.description,
            "description must be one line; put details in YAML comments",
        );
    }

    // --- account
    let (user, password) = match &f.account {
        Some(a) => {
            for (field, v) in [("user", &a.user), ("password", &a.password)] {
                if v.value.is_empty() || v.value.contains(['\r', '\n', '\0']) {
                    cx.err(v, format!("account {field} must be non-empty and one line"));
                }
            }
            (a.user.value.clone(), a.password.value.clone())
        }
        None => (DEFAULT_USER.to_string(), DEFAULT_PASSWORD.to_string()),
    };

    // --- settings
    let settings = settings(cx, f.settings.as_ref());
    let imapc = f.imapc.as_ref().map_or(ImapcProfile::Both, |s| s.value);

    // --- profile and quirks
    let quirks = quirks(cx, f);

    // --- messages
    let empty = OrderedMap::default();
    let msgs = messages(cx, f.messages.as_ref().unwrap_or(&empty));
    let by_id: BTreeMap<&str, &Msg<'_>> = msgs.iter().map(|m| (m.id.as_str(), m)).collect();
    // Every well-formed id counts as known, even if its message had an error (reported
    // once, where it is defined), so references to it don't add "unknown message" noise.
    let known = KnownIds(
        f.messages
            .iter()
            .flat_map(|m| m.0.iter())
            .map(|(k, _)| k.value.clone())
            .filter(|id| valid_id(id))
            .collect(),
    );
    let mut used: BTreeSet<String> = BTreeSet::new();

    // --- IMAP view
    let default_imap = super::format::ImapDef::default();
    let imap_def = f.imap.as_ref().unwrap_or(&default_imap);
    let separator = match &imap_def.separator {
        Some(s) => {
            let mut chars = s.value.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None)
                    if !c.is_control() && c != '"' && c != '\\' && !c.is_alphanumeric() =>
                {
                    c
                }
                _ => {
                    cx.err(s, "separator must be one character such as / or . (not a letter, digit, quote or backslash)");
                    '/'
                }
            }
        }
        None => '/',
    };
    let default_uidvalidity = match &imap_def.uidvalidity {
        Some(v) if v.value == 0 => {
            cx.err(
                v,
                "uidvalidity must be at least 1 (RFC 3501: a non-zero number)",
            );
            1
        }
        Some(v) => v.value,
        None => 1,
    };
    let mut imap = ImapView {
        separator,
        mailboxes: Vec::new(),
    };
    match &imap_def.mailboxes {
        Some(boxes) => {
            for (name, def) in &boxes.value.0 {
                if let Some(mb) = mailbox(
                    cx,
                    name,
                    def,
                    default_uidvalidity,
                    &by_id,
                    &known,
                    &mut used,
                ) {
                    imap.mailboxes.push(mb);
                }
            }
            // A lower-case `inbox` was reported already, with its fix.
            if !boxes
                .value
                .0
                .iter()
                .any(|(n, _)| n.value.eq_ignore_ascii_case("INBOX"))
            {
                cx.err(
                    boxes,
                    "the IMAP view needs an INBOX (write INBOX: [] for an empty one)",
                );
            }
        }
        None => imap
            .mailboxes
            .push(ImapMailbox::new("INBOX", default_uidvalidity)),
    }

    // Where each message first lives in IMAP: INBOX first, then LIST order.
    let mut homes: BTreeMap<String, Home> = BTreeMap::new();
    let inbox_first = imap
        .mailboxes
        .iter()
        .filter(|m| m.name == "INBOX")
        .chain(imap.mailboxes.iter().filter(|m| m.name != "INBOX"));
    for mb in inbox_first {
        for m in &mb.messages {
            homes.entry(m.id.clone()).or_insert_with(|| Home {
                mailbox: mb.name.clone(),
                uid: m.uid,
                uidvalidity: mb.uidvalidity,
            });
        }
    }
    // Messages that events deliver to IMAP get the UIDs they will get if the events fire
    // in the order they are written.
    let mut uidnext: BTreeMap<String, (u32, u32)> = imap
        .mailboxes
        .iter()
        .map(|m| (m.name.clone(), (m.uidnext, m.uidvalidity)))
        .collect();
    for ev in &f.events {
        if let Some(d) = &ev.value.deliver
            && let Some(mb) = &d.value.imap
            && let Some((next, uidv)) = uidnext.get_mut(&mb.value)
        {
            homes.entry(d.value.message.value.clone()).or_insert(Home {
                mailbox: mb.value.clone(),
                uid: *next,
                uidvalidity: *uidv,
            });
            *next += 1;
        }
    }

    // --- POP3 view
    let default_pop3 = super::format::Pop3Def::default();
    let pop3_def = f.pop3.as_ref().unwrap_or(&default_pop3);
    let pop3_dups: BTreeSet<&str> = pop3_def
        .allow_duplicates
        .iter()
        .map(|s| s.value.as_str())
        .collect();
    for a in &pop3_def.allow_duplicates {
        if !known.has(&a.value) {
            cx.err(a, known.unknown(&a.value));
        }
    }
    let pop3_ids: Vec<(String, Option<Location>)> = match &pop3_def.messages {
        Some(list) => {
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            let mut out = Vec::new();
            for r in &list.value {
                if !known.has(&r.value) {
                    cx.err(r, known.unknown(&r.value));
                    continue;
                }
                let n = seen.entry(r.value.as_str()).or_default();
                *n += 1;
                if *n == 2 && !pop3_dups.contains(r.value.as_str()) {
                    cx.err(
                        r,
                        format!(
                            "message `{}` is listed twice in POP3; for the same message served twice \
                             add it to pop3.allow_duplicates, for two copies define two messages",
                            r.value
                        ),
                    );
                }
                used.insert(r.value.clone());
                out.push((r.value.clone(), Some(r.referenced)));
            }
            for a in &pop3_def.allow_duplicates {
                if seen.get(a.value.as_str()).copied().unwrap_or(0) < 2 && known.has(&a.value) {
                    cx.err(
                        a,
                        format!(
                            "`{}` is allowed a duplicate but POP3 lists it only once",
                            a.value
                        ),
                    );
                }
            }
            out
        }
        None => {
            let arrival: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
            let ids = profiles::pop3_listing(&quirks, &imap, &arrival);
            ids.into_iter().map(|id| (id, None)).collect()
        }
    };
    let template_src: (String, Option<&Spanned<String>>) = match &pop3_def.uidl {
        Some(t) => (t.value.clone(), Some(t)),
        None => (
            profiles::uidl_template(&quirks)
                .unwrap_or("{id}")
                .to_string(),
            None,
        ),
    };
    let template = match Template::parse(&template_src.0) {
        Ok(t) => Some(t),
        Err(e) => {
            match template_src.1 {
                Some(at) => cx.err(
                    at,
                    format!(
                        "UIDL template: {} (at character {})",
                        e.message,
                        e.offset + 1
                    ),
                ),
                None => cx.err_at(
                    Location::UNKNOWN,
                    format!("UIDL template of the quirks: {}", e.message),
                ),
            }
            None
        }
    };
    let uidl_cx = UidlCx {
        template: template.as_ref(),
        template_at: template_src.1,
        homes: &homes,
    };
    let mut pop3 = Pop3View::default();
    for (n, (id, at)) in pop3_ids.iter().enumerate() {
        let Some(m) = by_id.get(id.as_str()) else {
            continue;
        };
        used.insert(id.clone());
        if let Some(uidl) = uidl_cx.uidl(cx, m, n + 1, *at) {
            pop3.messages
                .push(Pop3Message::honest(id.clone(), uidl, m.bytes.clone()));
        }
    }

    // --- the world, quirks, overrides
    let mut world = World {
        user,
        password,
        imap,
        pop3,
    };
    profiles::apply(&mut world, &quirks);
    for mb in &mut world.imap.mailboxes {
        for m in &mut mb.messages {
            if let Some(msg) = by_id.get(m.id.as_str()) {
                msg.apply_imap_overrides(m);
            }
        }
    }
    for m in &mut world.pop3.messages {
        if let Some(msg) = by_id.get(m.id.as_str()) {
            msg.apply_pop3_overrides(m);
        }
    }

    // --- events
    let mut truth_extra: Vec<(String, String)> = Vec::new();
    let events = events(
        cx,
        f,
        imapc,
        &world,
        &quirks,
        &by_id,
        &known,
        &uidl_cx,
        &mut used,
        &mut truth_extra,
    );

    // --- UIDL uniqueness, over the initial listing and POP3 deliveries
    let allow_dup_uidls = pop3_def
        .allow_duplicate_uidls
        .as_ref()
        .is_some_and(|b| b.value);
    if !allow_dup_uidls {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        let all = world
            .pop3
            .messages
            .iter()
            .map(|m| (m.id.as_str(), m.uidl.as_str()))
            .chain(truth_extra.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        for (id, uidl) in all {
            if let Some(first) = seen.insert(uidl, id) {
                if first == id {
                    // The same message listed twice shares its UIDL unless a template
                    // with {n} tells the copies apart; the listing itself was checked.
                    continue;
                }
                let at = by_id.get(id).map_or(Location::UNKNOWN, |m| m.key);
                cx.err_at(
                    at,
                    format!(
                        "messages `{first}` and `{id}` have the same UIDL `{uidl}`; set \
                         pop3.allow_duplicate_uidls: yes if that is the point"
                    ),
                );
            }
        }
    }

    // --- faults, knobs, cache, expect
    let rules = faults(cx, &f.faults, imapc);
    let knobs = knobs(cx, f.server.as_ref());
    let cache = cache(cx, f.cache.as_ref(), &world);
    let expect = expect(cx, &f.expect);

    // --- every message must be used somewhere
    for m in &msgs {
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

    let mut truth = Truth::of_world(&world);
    for (id, uidl) in truth_extra {
        truth.uidls.entry(id).or_default().push(uidl);
    }

    Some(Scenario {
        path: cx.path.to_path_buf(),
        name: scenario_name(cx.path, cx.root),
        description,
        settings,
        imapc,
        world,
        rules,
        events,
        knobs,
        cache,
        expect,
        truth,
        profile: f.profile.as_ref().map(|p| p.value.clone()),
        quirks,
    })
}

/// The message ids a scenario defines, for lookups and "did you mean" lists.
struct KnownIds(Vec<String>);

impl KnownIds {
    fn has(&self, id: &str) -> bool {
        self.0.iter().any(|k| k == id)
    }

    fn unknown(&self, id: &str) -> String {
        if self.0.is_empty() {
            return format!("unknown message `{id}`: messages: defines none");
        }
        let mut list: Vec<&str> = self.0.iter().map(String::as_str).take(12).collect();
        if self.0.len() > 12 {
            list.push("…");
        }
        format!(
            "unknown message `{id}`: messages: defines {}",
            list.join(", ")
        )
    }
}

fn settings(cx: &mut Cx<'_>, map: Option<&OrderedMap<String, Spanned<Scalar>>>) -> Settings {
    let mut settings = Settings::enabled();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for (key, value) in map.map(|m| m.0.as_slice()).unwrap_or_default() {
        let short = key
            .value
            .strip_prefix(crate::matcher::settings::PREFIX)
            .unwrap_or(&key.value)
            .to_string();
        if seen.insert(short.clone(), ()).is_some() {
            cx.err(key, format!("setting `{short}` is set twice"));
            continue;
        }
        if let Scalar::Int(_) = value.value
            && short != "mailbox"
        {
            cx.err(value, format!("setting `{}` takes yes or no", key.value));
            continue;
        }
        match settings.set(&key.value, &value.value.as_setting()) {
            Ok(()) => {}
            Err(e @ SettingError::UnknownName(_)) => cx.err(key, e.to_string()),
            Err(e @ SettingError::NotBoolean { .. }) => cx.err(value, e.to_string()),
        }
        if short == "mailbox" && settings.mailbox.trim().is_empty() {
            cx.err(
                value,
                "an empty mailbox turns the plugin off; uidlmap models it on (leave mailbox out \
                 for POP3-MIGRATION-NS/INBOX)",
            );
        }
    }
    settings
}

fn quirks(cx: &mut Cx<'_>, f: &ScenarioFile) -> Vec<Quirk> {
    let mut out = Vec::new();
    if let Some(p) = &f.profile {
        match profiles::profile(&p.value) {
            Some(profile) => out.extend_from_slice(profile.quirks),
            None => {
                let names: Vec<&str> = profiles::PROFILES.iter().map(|p| p.name).collect();
                cx.err(
                    p,
                    format!(
                        "unknown profile `{}`: expected one of {}",
                        p.value,
                        names.join(", ")
                    ),
                );
            }
        }
    }
    for q in &f.quirks {
        match Quirk::from_name(&q.value) {
            Some(quirk) => out.push(quirk),
            None => {
                let names: Vec<&str> = profiles::QUIRKS.iter().map(|q| q.name).collect();
                cx.err(
                    q,
                    format!(
                        "unknown quirk `{}`: expected one of {}",
                        q.value,
                        names.join(", ")
                    ),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn messages<'a>(
    cx: &mut Cx<'_>,
    defs: &'a OrderedMap<String, Spanned<MessageDef>>,
) -> Vec<Msg<'a>> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for (index, (key, def)) in defs.0.iter().enumerate() {
        let id = key.value.clone();
        if !valid_id(&id) {
            cx.err(
                key,
                format!(
                    "message id `{id}` must be 1-{MAX_ID_LEN} letters, digits, `.`, `_` or `-`, \
                     starting with a letter or digit"
                ),
            );
            continue;
        }
        let Some((bytes, line_ending, encoding)) = render(cx, &id, index, def) else {
            continue;
        };
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            cx.err(
                def,
                format!("the messages add up to more than {MAX_TOTAL_BYTES} bytes"),
            );
            return out;
        }
        let msg = Msg {
            id,
            index,
            def,
            key: key.referenced,
            bytes,
            line_ending,
            encoding,
        };
        check_overrides(cx, &msg);
        out.push(msg);
    }
    out
}

fn check_overrides(cx: &mut Cx<'_>, m: &Msg<'_>) {
    let d = &m.def.value;
    if let Some(o) = &d.imap {
        for flag in &o.value.flags {
            let f = flag.value.as_str();
            let body = f.strip_prefix('\\').unwrap_or(f);
            let ok = !body.is_empty()
                && body.bytes().all(|b| {
                    b.is_ascii_graphic()
                        && !matches!(b, b'(' | b')' | b'{' | b'"' | b'\\' | b'%' | b'*' | b']')
                });
            if !ok {
                cx.err(
                    flag,
                    format!("`{f}` is not an IMAP flag (e.g. \\Seen, \\Flagged, $Label1)"),
                );
            }
        }
        if let Some(d) = &o.value.internal_date
            && (d.value.trim().is_empty() || d.value.contains(['\r', '\n', '"']))
        {
            cx.err(d, "internal_date must look like 01-Mar-2024 08:00:00 +0000");
        }
        if let Some(h) = &o.value.header {
            check_text(cx, h, m.encoding);
        }
    }
    if let Some(o) = &d.pop3 {
        if let Some(u) = &o.value.uidl
            && u.value.contains(['\r', '\n', '\0'])
        {
            cx.err(
                u,
                "a UIDL can't hold CR, LF or NUL; model such a reply with a fault",
            );
        }
        if let Some(t) = &o.value.top {
            check_text(cx, t, m.encoding);
        }
    }
}

fn check_text(cx: &mut Cx<'_>, text: &Spanned<String>, encoding: Encoding) {
    if let Err(e) = generate::encode(&text.value, encoding) {
        cx.err(
            text,
            format!(
                "character {:?} at offset {} is beyond U+00FF and can't be one latin1 byte",
                e.ch, e.offset
            ),
        );
    }
}

/// A message's bytes, and how its override texts become bytes.
fn render(
    cx: &mut Cx<'_>,
    id: &str,
    index: usize,
    def: &Spanned<MessageDef>,
) -> Option<(Vec<u8>, LineEnding, Encoding)> {
    let d = &def.value;
    let generated_fields: [(&str, Option<Location>); 8] = [
        ("from", d.from.as_ref().map(|v| nullable_loc(v, def))),
        ("to", d.to.as_ref().map(|v| nullable_loc(v, def))),
        ("subject", d.subject.as_ref().map(|v| nullable_loc(v, def))),
        ("date", d.date.as_ref().map(|v| nullable_loc(v, def))),
        (
            "message_id",
            d.message_id.as_ref().map(|v| nullable_loc(v, def)),
        ),
        ("headers", d.headers.as_ref().map(|v| v.referenced)),
        ("body", d.body.as_ref().map(|v| v.referenced)),
        ("size", d.size.as_ref().map(|v| v.referenced)),
    ];
    let source = match (&d.raw, &d.file) {
        (Some(_), Some(f)) => {
            cx.err(f, "a message is raw or read from a file, not both");
            return None;
        }
        (Some(r), None) => Some(("raw", r)),
        (None, Some(f)) => Some(("file", f)),
        (None, None) => None,
    };
    if let Some((kind, at)) = source {
        let mut ok = true;
        for (field, loc) in generated_fields {
            if let Some(loc) = loc {
                cx.err_at(
                    loc,
                    format!("{field} is for generated messages; a {kind} message is used as it is"),
                );
                ok = false;
            }
        }
        let Some(le) = &d.line_ending else {
            cx.err(
                at,
                format!(
                    "a {kind} message needs line_ending: crlf, lf or keep (say how its line ends \
                     must be served)"
                ),
            );
            return None;
        };
        let encoding = d.encoding.as_ref().map_or(Encoding::Utf8, |e| e.value);
        let bytes = if kind == "raw" {
            match generate::encode(&at.value, encoding) {
                Ok(b) => b,
                Err(e) => {
                    cx.err(
                        at,
                        format!(
                            "character {:?} at offset {} is beyond U+00FF and can't be one latin1 byte",
                            e.ch, e.offset
                        ),
                    );
                    return None;
                }
            }
        } else {
            if let Some(e) = &d.encoding {
                cx.err(e, "encoding is for raw text; a file is read byte for byte");
                ok = false;
            }
            read_fixture(cx, at)?
        };
        if bytes.len() as u64 > MAX_MESSAGE_BYTES {
            cx.err(
                at,
                format!("the message is larger than {MAX_MESSAGE_BYTES} bytes"),
            );
            return None;
        }
        if !ok {
            return None;
        }
        return Some((
            generate::convert_line_endings(&bytes, le.value),
            le.value,
            encoding,
        ));
    }
    if let Some(e) = &d.encoding {
        cx.err(e, "encoding is for raw text; generated messages are UTF-8");
        return None;
    }
    let mut spec = GeneratedSpec::defaults(id, index);
    let pick = |v: &Option<Option<Spanned<String>>>, default: Option<String>| match v {
        None => default,
        Some(None) => None,
        Some(Some(s)) => Some(s.value.clone()),
    };
    spec.from = pick(&d.from, spec.from.take());
    spec.to = pick(&d.to, spec.to.take());
    spec.subject = pick(&d.subject, spec.subject.take());
    spec.date = pick(&d.date, spec.date.take());
    spec.message_id = pick(&d.message_id, spec.message_id.take());
    if let Some(h) = &d.headers {
        spec.headers = h.value.iter().map(|s| s.value.clone()).collect();
    }
    if let Some(b) = &d.body {
        spec.body = b.value.clone();
    }
    if let Some(s) = &d.size {
        if s.value > MAX_MESSAGE_BYTES {
            cx.err(
                s,
                format!(
                    "size {} is larger than the limit of {MAX_MESSAGE_BYTES} bytes",
                    s.value
                ),
            );
            return None;
        }
        spec.size = Some(s.value);
    }
    if let Some(le) = &d.line_ending {
        if le.value == LineEnding::Keep {
            cx.err(
                le,
                "generated messages are CRLF or LF; keep is for raw text and files",
            );
            return None;
        }
        spec.line_ending = le.value;
    }
    match generate::render(&spec) {
        Ok(bytes) => Some((bytes, spec.line_ending, Encoding::Utf8)),
        Err(e) => {
            let at = match &e {
                generate::GenError::SizeTooSmall { .. } => d.size.as_ref().map(|s| s.referenced),
                generate::GenError::BlankLineInHeader { index } => d
                    .headers
                    .as_ref()
                    .and_then(|h| h.value.get(*index))
                    .map(|s| s.referenced),
                generate::GenError::LineBreakInField { field } => generated_fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .and_then(|(_, l)| *l),
            };
            cx.err_at(at.unwrap_or(def.referenced), format!("message `{id}`: {e}"));
            None
        }
    }
}

/// The position of a nullable field: the value's, or the message's for an explicit null.
fn nullable_loc<T, U>(v: &Option<Spanned<T>>, def: &Spanned<U>) -> Location {
    v.as_ref().map_or(def.referenced, |s| s.referenced)
}

fn read_fixture(cx: &mut Cx<'_>, at: &Spanned<String>) -> Option<Vec<u8>> {
    let rel = Path::new(&at.value);
    if rel.is_absolute() {
        cx.err(
            at,
            "file must be relative (to the scenario's folder or the scenarios root)",
        );
        return None;
    }
    let dir = cx.path.parent().unwrap_or(Path::new(""));
    let candidates = [dir.join(rel), cx.root.join(rel)];
    for c in &candidates {
        if c.is_file() {
            let len = std::fs::metadata(c).map(|m| m.len()).unwrap_or(0);
            if len > MAX_MESSAGE_BYTES {
                cx.err(
                    at,
                    format!("{} is larger than {MAX_MESSAGE_BYTES} bytes", c.display()),
                );
                return None;
            }
            return match std::fs::read(c) {
                Ok(b) => Some(b),
                Err(e) => {
                    cx.err(at, format!("can't read {}: {e}", c.display()));
                    None
                }
            };
        }
    }
    let looked = if candidates[0] == candidates[1] {
        candidates[0].display().to_string()
    } else {
        format!(
            "{} and {}",
            candidates[0].display(),
            candidates[1].display()
        )
    };
    cx.err(at, format!("no such file: looked for {looked}"));
    None
}

fn valid_mailbox_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
}

fn mailbox(
    cx: &mut Cx<'_>,
    name: &Spanned<String>,
    def: &Spanned<MailboxDef>,
    default_uidvalidity: u32,
    by_id: &BTreeMap<&str, &Msg<'_>>,
    known: &KnownIds,
    used: &mut BTreeSet<String>,
) -> Option<ImapMailbox> {
    let (ids, full) = match &def.value {
        MailboxDef::List(ids) => (ids, None),
        MailboxDef::Full(f) => (&f.messages, Some(f)),
    };
    // The messages count as used even when the mailbox is rejected, so its error is
    // not followed by "defined but not used" noise.
    used.extend(ids.iter().map(|r| r.value.clone()));
    if !valid_mailbox_name(&name.value) {
        cx.err(
            name,
            "a mailbox name must be non-empty, without control characters, quotes or backslashes",
        );
        return None;
    }
    if name.value != "INBOX" && name.value.eq_ignore_ascii_case("inbox") {
        cx.err(
            name,
            format!(
                "write INBOX in capitals, not `{}`: IMAP's INBOX is case-insensitive",
                name.value
            ),
        );
        return None;
    }

    let uidvalidity = match full.and_then(|f| f.uidvalidity.as_ref()) {
        Some(v) if v.value == 0 => {
            cx.err(v, "uidvalidity must be at least 1");
            default_uidvalidity
        }
        Some(v) => v.value,
        None => default_uidvalidity,
    };
    let dups: BTreeSet<&str> = full
        .map(|f| {
            f.allow_duplicates
                .iter()
                .map(|s| s.value.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut mb = ImapMailbox::new(name.value.clone(), uidvalidity);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut resolved: Vec<&Msg<'_>> = Vec::new();
    for r in ids {
        if !known.has(&r.value) {
            cx.err(r, known.unknown(&r.value));
            continue;
        }
        let n = seen.entry(r.value.as_str()).or_default();
        *n += 1;
        if *n == 2 && !dups.contains(r.value.as_str()) {
            cx.err(
                r,
                format!(
                    "message `{}` is twice in {}; add it to allow_duplicates of this mailbox if the \
                     same message really is there twice",
                    r.value, name.value
                ),
            );
        }
        used.insert(r.value.clone());
        if let Some(m) = by_id.get(r.value.as_str()) {
            resolved.push(m);
        }
    }
    if let Some(f) = full {
        for a in &f.allow_duplicates {
            if seen.get(a.value.as_str()).copied().unwrap_or(0) < 2 {
                cx.err(
                    a,
                    format!(
                        "`{}` is allowed a duplicate but is not twice in {}",
                        a.value, name.value
                    ),
                );
            }
        }
    }
    // UIDs
    let uids: Vec<u32> = match (
        full.and_then(|f| f.first_uid.as_ref()),
        full.and_then(|f| f.uids.as_ref()),
    ) {
        (Some(first), Some(list)) => {
            cx.err(list, "give first_uid or uids, not both");
            let _ = first;
            return None;
        }
        (Some(first), None) => {
            if first.value == 0 {
                cx.err(first, "first_uid must be at least 1");
                return None;
            }
            let mut v = Vec::new();
            for i in 0..ids.len() {
                match first.value.checked_add(i as u32) {
                    Some(u) => v.push(u),
                    None => {
                        cx.err(first, "UIDs would overflow 32 bits");
                        return None;
                    }
                }
            }
            v
        }
        (None, Some(list)) => {
            if list.value.len() != ids.len() {
                cx.err(
                    list,
                    format!(
                        "{} uids for {} messages: give one UID per message",
                        list.value.len(),
                        ids.len()
                    ),
                );
                return None;
            }
            let mut prev = 0u32;
            for u in &list.value {
                if u.value <= prev {
                    cx.err(u, "UIDs must be at least 1 and strictly increasing");
                    return None;
                }
                prev = u.value;
            }
            list.value.iter().map(|u| u.value).collect()
        }
        (None, None) => (1..=ids.len() as u32).collect(),
    };
    // With unresolved messages (already reported) the mailbox is still built from the
    // rest, so later checks don't report it missing.
    for (m, uid) in resolved.iter().zip(&uids) {
        let mut im = m.honest_imap();
        im.uid = *uid;
        mb.messages.push(im);
    }
    let last = uids.last().copied().unwrap_or(0);
    mb.uidnext = match full.and_then(|f| f.uidnext.as_ref()) {
        Some(n) if n.value <= last => {
            cx.err(n, format!("uidnext must be above the last UID ({last})"));
            last + 1
        }
        Some(n) => n.value,
        None => last.saturating_add(1),
    }
    .max(
        full.and_then(|f| f.first_uid.as_ref())
            .map_or(1, |f| f.value),
    );
    Some(mb)
}

/// What UIDL templates need.
struct UidlCx<'a> {
    template: Option<&'a Template>,
    template_at: Option<&'a Spanned<String>>,
    homes: &'a BTreeMap<String, Home>,
}

impl UidlCx<'_> {
    /// The UIDL of message `m` as POP3 message number `n`.
    fn uidl(&self, cx: &mut Cx<'_>, m: &Msg<'_>, n: usize, at: Option<Location>) -> Option<String> {
        if let Some(u) = m.uidl_override() {
            return Some(u.value.clone());
        }
        let template = self.template?;
        let home = self.homes.get(&m.id);
        let header_md5 = generate::md5_hex(fake_servers::world::split_header(&m.bytes).0);
        let value = |var: &str| -> Option<String> {
            Some(match var {
                "id" => m.id.clone(),
                "n" => n.to_string(),
                "uid" => home?.uid.to_string(),
                "uidvalidity" => home?.uidvalidity.to_string(),
                "mailbox" => home?.mailbox.clone(),
                "md5" => header_md5.clone(),
                "gmail_id" => generate::gmail_id(&m.id),
                _ => return None,
            })
        };
        match template.expand(value) {
            Ok(u) => Some(u),
            Err(var) => {
                let msg = format!(
                    "message `{}` is in no IMAP mailbox, so the UIDL template's {{{var}}} has no \
                     value; give it its own UIDL (pop3: {{uidl: ...}})",
                    m.id
                );
                match at.or(self.template_at.map(|t| t.referenced)) {
                    Some(loc) => cx.err_at(loc, msg),
                    None => cx.err_at(m.key, msg),
                }
                None
            }
        }
    }
}

/// A step as a command match and an optional n-th.
fn step_match(
    cx: &mut Cx<'_>,
    step: &Spanned<StepDef>,
    imapc: ImapcProfile,
) -> Option<(CommandMatch, Option<Spanned<u64>>)> {
    let named = |cx: &mut Cx<'_>, name: &str, loc: Location| -> Option<CommandMatch> {
        let Some((_, protocol, prefix, contains)) = STEPS.iter().find(|s| s.0 == name) else {
            let names: Vec<&str> = STEPS.iter().map(|s| s.0).collect();
            cx.err_at(
                loc,
                format!(
                    "unknown step `{name}`: expected one of {}",
                    names.join(", ")
                ),
            );
            return None;
        };
        if name == "imap.fetch_sizes" && imapc != ImapcProfile::Docs {
            cx.err_at(
                loc,
                "imap.fetch_sizes happens only with imapc: docs (the bare profile measures sizes \
                 by downloading BODY[]); set imapc: docs, or tie the event to imap.fetch_flags or \
                 pop3.login, which both profiles send",
            );
            return None;
        }
        Some(CommandMatch {
            protocol: Some(*protocol),
            prefix: Some(prefix.to_string()),
            contains: contains.map(str::to_string),
            nth_in_session: None,
        })
    };
    match &step.value {
        StepDef::Named(name) => named(cx, name, step.referenced).map(|m| (m, None)),
        StepDef::Match(m) => {
            for n in [&m.nth, &m.nth_in_session].into_iter().flatten() {
                if n.value == 0 {
                    cx.err(n, "counts start at 1");
                    return None;
                }
            }
            let mut cm = match &m.step {
                Some(s) => {
                    let extra = [
                        m.protocol.as_ref().map(|p| p.referenced),
                        m.command.as_ref().map(|p| p.referenced),
                        m.contains.as_ref().map(|p| p.referenced),
                    ];
                    if let Some(loc) = extra.into_iter().flatten().next() {
                        cx.err_at(
                            loc,
                            "step already says which command; give either step or \
                             protocol/command/contains",
                        );
                        return None;
                    }
                    named(cx, &s.value, s.referenced)?
                }
                None => {
                    let Some(p) = &m.protocol else {
                        cx.err(
                            step,
                            "a command match needs protocol: imap or pop3 (or a step name)",
                        );
                        return None;
                    };
                    let protocol = match p.value {
                        super::format::ProtocolDef::Imap => Protocol::Imap,
                        super::format::ProtocolDef::Pop3 => Protocol::Pop3,
                    };
                    for t in [&m.command, &m.contains].into_iter().flatten() {
                        if t.value.is_empty() || t.value.contains(['\r', '\n']) {
                            cx.err(t, "must be non-empty and one line");
                            return None;
                        }
                    }
                    CommandMatch {
                        protocol: Some(protocol),
                        prefix: m.command.as_ref().map(|c| c.value.clone()),
                        contains: m.contains.as_ref().map(|c| c.value.clone()),
                        nth_in_session: None,
                    }
                }
            };
            cm.nth_in_session = m.nth_in_session.as_ref().map(|n| n.value);
            let nth = m.nth.as_ref().map(|n| Spanned {
                value: n.value,
                referenced: n.referenced,
                defined: n.defined,
            });
            Some((cm, nth))
        }
    }
}

/// What the views hold while events are checked in the order they are written.
struct Timeline {
    imap: BTreeMap<String, Vec<String>>,
    pop3: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn events(
    cx: &mut Cx<'_>,
    f: &ScenarioFile,
    imapc: ImapcProfile,
    world: &World,
    quirks: &[Quirk],
    by_id: &BTreeMap<&str, &Msg<'_>>,
    known: &KnownIds,
    uidl_cx: &UidlCx<'_>,
    used: &mut BTreeSet<String>,
    pop3_deliveries: &mut Vec<(String, String)>,
) -> Vec<Event> {
    let mut tl = Timeline {
        imap: world
            .imap
            .mailboxes
            .iter()
            .map(|mb| {
                (
                    mb.name.clone(),
                    mb.messages.iter().map(|m| m.id.clone()).collect(),
                )
            })
            .collect(),
        pop3: world.pop3.messages.iter().map(|m| m.id.clone()).collect(),
    };
    // Messages named by events count as used even when the event is rejected.
    for ev in &f.events {
        let e = &ev.value;
        used.extend(e.deliver.iter().map(|d| d.value.message.value.clone()));
        used.extend(e.expunge.iter().map(|x| x.value.message.value.clone()));
    }
    let mut out = Vec::new();
    for ev in &f.events {
        let e = &ev.value;
        let (phase, step) = match (&e.before, &e.after) {
            (Some(s), None) => (Phase::Before, s),
            (None, Some(s)) => (Phase::After, s),
            (Some(_), Some(s)) => {
                cx.err(s, "an event is before or after one step, not both");
                continue;
            }
            (None, None) => {
                cx.err(ev, "an event needs before: or after: a protocol step");
                continue;
            }
        };
        let actions = [
            e.deliver.as_ref().map(|a| a.referenced),
            e.expunge.as_ref().map(|a| a.referenced),
            e.reorder_pop3.as_ref().map(|a| a.referenced),
        ];
        let given: Vec<Location> = actions.into_iter().flatten().collect();
        if given.is_empty() {
            cx.err(
                ev,
                "an event needs one of deliver:, expunge: or reorder_pop3:",
            );
            continue;
        }
        if given.len() > 1 {
            cx.err_at(
                given[1],
                "one change per event: write several events on the same step",
            );
            continue;
        }
        let Some((on, nth)) = step_match(cx, step, imapc) else {
            continue;
        };
        let Some(changes) = event_changes(
            cx,
            e,
            world,
            quirks,
            by_id,
            known,
            uidl_cx,
            used,
            pop3_deliveries,
            &mut tl,
        ) else {
            continue;
        };
        out.push(Event {
            on,
            phase,
            nth: nth.map_or(1, |n| n.value),
            changes,
        });
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn event_changes(
    cx: &mut Cx<'_>,
    e: &EventDef,
    world: &World,
    quirks: &[Quirk],
    by_id: &BTreeMap<&str, &Msg<'_>>,
    known: &KnownIds,
    uidl_cx: &UidlCx<'_>,
    used: &mut BTreeSet<String>,
    pop3_deliveries: &mut Vec<(String, String)>,
    tl: &mut Timeline,
) -> Option<Vec<WorldChange>> {
    if let Some(d) = &e.deliver {
        let id = &d.value.message;
        if !known.has(&id.value) {
            cx.err(id, known.unknown(&id.value));
            return None;
        }
        used.insert(id.value.clone());
        let m = by_id.get(id.value.as_str())?;
        let to_pop3 = d.value.pop3.as_ref().is_some_and(|p| p.value);
        if d.value.imap.is_none() && !to_pop3 {
            cx.err(
                d,
                "say where the message arrives: imap: <mailbox> and/or pop3: yes",
            );
            return None;
        }
        let mut changes = Vec::new();
        let mut spam = false;
        if let Some(mb) = &d.value.imap {
            let Some(contents) = tl.imap.get_mut(&mb.value) else {
                let names: Vec<&str> = world
                    .imap
                    .mailboxes
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect();
                cx.err(
                    mb,
                    format!(
                        "no IMAP mailbox `{}`: the view has {}",
                        mb.value,
                        names.join(", ")
                    ),
                );
                return None;
            };
            if contents.contains(&id.value) {
                cx.err(
                    id,
                    format!("message `{}` is already in {}", id.value, mb.value),
                );
                return None;
            }
            contents.push(id.value.clone());
            spam = profiles::is_spam_mailbox(&mb.value, world.imap.separator);
            let mut im = m.honest_imap();
            profiles::transform_imap(quirks, &mut im);
            m.apply_imap_overrides(&mut im);
            changes.push(WorldChange::ImapDeliver {
                mailbox: mb.value.clone(),
                message: im,
            });
        }
        if to_pop3 {
            if tl.pop3.contains(&id.value) {
                cx.err(id, format!("message `{}` is already in POP3", id.value));
                return None;
            }
            tl.pop3.push(id.value.clone());
            let uidl = uidl_cx.uidl(cx, m, tl.pop3.len(), Some(id.referenced))?;
            let spam = spam || profiles::in_spam_folder(&world.imap, &id.value);
            let mut pm = Pop3Message::honest(id.value.clone(), uidl.clone(), m.bytes.clone());
            profiles::transform_pop3(quirks, &mut pm, spam);
            m.apply_pop3_overrides(&mut pm);
            pop3_deliveries.push((id.value.clone(), uidl));
            changes.push(WorldChange::Pop3Deliver { message: pm });
        }
        return Some(changes);
    }
    if let Some(x) = &e.expunge {
        let id = &x.value.message;
        if !known.has(&id.value) {
            cx.err(id, known.unknown(&id.value));
            return None;
        }
        used.insert(id.value.clone());
        let imap = x.value.imap.as_ref().is_some_and(|b| b.value);
        let pop3 = x.value.pop3.as_ref().is_some_and(|b| b.value);
        if !imap && !pop3 {
            cx.err(
                x,
                "say where the message goes away: imap: yes and/or pop3: yes",
            );
            return None;
        }
        let mut changes = Vec::new();
        if imap {
            let mut found = false;
            for contents in tl.imap.values_mut() {
                if contents.contains(&id.value) {
                    found = true;
                    contents.retain(|i| i != &id.value);
                }
            }
            if !found {
                cx.err(
                    id,
                    format!("message `{}` is in no IMAP mailbox at this point", id.value),
                );
                return None;
            }
            changes.push(WorldChange::ImapExpunge {
                id: id.value.clone(),
            });
        }
        if pop3 {
            if !tl.pop3.contains(&id.value) {
                cx.err(
                    id,
                    format!("message `{}` is not in POP3 at this point", id.value),
                );
                return None;
            }
            tl.pop3.retain(|i| i != &id.value);
            changes.push(WorldChange::Pop3Remove {
                id: id.value.clone(),
            });
        }
        return Some(changes);
    }
    if let Some(r) = &e.reorder_pop3 {
        let mut seen = BTreeSet::new();
        for id in &r.value {
            if !tl.pop3.contains(&id.value) {
                cx.err(
                    id,
                    format!("message `{}` is not in POP3 at this point", id.value),
                );
                return None;
            }
            if !seen.insert(id.value.as_str()) {
                cx.err(id, format!("message `{}` is named twice", id.value));
                return None;
            }
        }
        let order: Vec<String> = r.value.iter().map(|s| s.value.clone()).collect();
        let mut rest: Vec<String> = tl
            .pop3
            .iter()
            .filter(|i| !order.contains(i))
            .cloned()
            .collect();
        let mut new = order.clone();
        new.append(&mut rest);
        tl.pop3 = new;
        return Some(vec![WorldChange::Pop3Reorder { order }]);
    }
    None
}

fn faults(cx: &mut Cx<'_>, defs: &[Spanned<FaultDef>], imapc: ImapcProfile) -> Vec<Rule> {
    let mut out = Vec::new();
    for def in defs {
        let f = &def.value;
        let Some((on, nth)) = step_match(cx, &f.on, imapc) else {
            continue;
        };
        if let Some(d) = &f.disconnect
            && !d.value
        {
            cx.err(d, "disconnect: no does nothing; leave it out");
            continue;
        }
        let given: Vec<Location> = [
            f.reply.as_ref().map(|s| s.referenced),
            f.disconnect.as_ref().map(|s| s.referenced),
            f.truncate.as_ref().map(|s| s.referenced),
            f.delay_ms.as_ref().map(|s| s.referenced),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.is_empty() {
            cx.err(
                def,
                "a fault needs one of reply:, disconnect: yes, truncate: or delay_ms:",
            );
            continue;
        }
        if given.len() > 1 {
            cx.err_at(
                given[1],
                "one action per fault: write several faults on the same step",
            );
            continue;
        }
        if let (Some(le), None) = (&f.line_ending, &f.reply) {
            cx.err(le, "line_ending is for reply:");
            continue;
        }
        let action = if let Some(r) = &f.reply {
            let le = f.line_ending.as_ref().map_or(LineEnding::Crlf, |l| l.value);
            let mut bytes = generate::convert_line_endings(r.value.as_bytes(), le);
            if le != LineEnding::Keep && !bytes.ends_with(b"\n") {
                bytes.extend_from_slice(if le == LineEnding::Lf { b"\n" } else { b"\r\n" });
            }
            FaultAction::Reply(bytes)
        } else if f.disconnect.is_some() {
            FaultAction::Disconnect
        } else if let Some(t) = &f.truncate {
            FaultAction::Truncate(t.value as usize)
        } else if let Some(d) = &f.delay_ms {
            if d.value > 600_000 {
                cx.err(
                    d,
                    "delays above 10 minutes would outlast every client timeout",
                );
                continue;
            }
            FaultAction::Delay(Duration::from_millis(d.value))
        } else {
            unreachable!("one action is given")
        };
        if let Some(t) = &f.times
            && t.value == 0
        {
            cx.err(t, "times: 0 never applies; leave the fault out");
            continue;
        }
        let (skip, times) = match nth {
            Some(n) => {
                if let Some(x) = f
                    .skip
                    .as_ref()
                    .map(|s| s.referenced)
                    .or(f.times.as_ref().map(|s| s.referenced))
                {
                    cx.err_at(
                        x,
                        "nth already says which command; leave out skip and times",
                    );
                    continue;
                }
                (n.value - 1, Some(1))
            }
            None => (
                f.skip.as_ref().map_or(0, |s| s.value),
                f.times.as_ref().map(|t| t.value),
            ),
        };
        out.push(Rule {
            on,
            action,
            skip,
            times,
        });
    }
    out
}

fn knobs(cx: &mut Cx<'_>, def: Option<&super::format::ServerDef>) -> ServerKnobs {
    let mut k = ServerKnobs::default();
    let Some(def) = def else {
        return k;
    };
    let positive = |cx: &mut Cx<'_>, v: &Option<Spanned<u64>>, what: &str| -> Option<u64> {
        let v = v.as_ref()?;
        if v.value == 0 {
            cx.err(v, format!("{what} must be at least 1"));
            return None;
        }
        Some(v.value)
    };
    if let Some(p) = &def.pop3 {
        let d = &mut k.pop3;
        let flags = [
            (&mut d.capa, p.capa),
            (&mut d.top, p.top),
            (&mut d.uidl, p.uidl),
            (&mut d.pipelining, p.pipelining),
            (&mut d.stls, p.stls),
            (&mut d.resp_codes, p.resp_codes),
            (&mut d.bare_lf, p.bare_lf),
        ];
        for (slot, value) in flags {
            if let Some(v) = value {
                *slot = v;
            }
        }
        d.split_writes = positive(cx, &p.split_writes, "split_writes").map(|n| n as usize);
        d.split_delay_ms = p.split_delay_ms.as_ref().map(|v| v.value);
        d.idle_timeout_ms = positive(cx, &p.idle_timeout_ms, "idle_timeout_ms");
        if let Some(b) = &p.banner {
            if b.value.contains(['\r', '\n']) {
                cx.err(b, "the banner is one line");
            }
            d.banner = Some(b.value.clone());
        }
        if let Some(b) = &p.broken_pipelining {
            d.broken_pipelining = b.value;
            if b.value && !d.pipelining {
                cx.err(
                    b,
                    "broken_pipelining needs pipelining: it is advertised, then broken",
                );
            }
        }
    }
    if let Some(i) = &def.imap {
        let d = &mut k.imap;
        let flags = [
            (&mut d.greeting_capability, i.greeting_capability),
            (&mut d.literal_plus, i.literal_plus),
            (&mut d.sasl_ir, i.sasl_ir),
            (&mut d.auth_plain, i.auth_plain),
            (&mut d.savedate, i.savedate),
            (&mut d.starttls, i.starttls),
            (&mut d.uidnext_on_select, i.uidnext_on_select),
            (&mut d.bare_lf, i.bare_lf),
        ];
        for (slot, value) in flags {
            if let Some(v) = value {
                *slot = v;
            }
        }
        d.split_writes = positive(cx, &i.split_writes, "split_writes").map(|n| n as usize);
        d.idle_timeout_ms = positive(cx, &i.idle_timeout_ms, "idle_timeout_ms");
        for c in &i.extra_capabilities {
            if c.value.is_empty() || !c.value.bytes().all(|b| b.is_ascii_graphic()) {
                cx.err(
                    c,
                    "a capability is one atom without spaces, e.g. X-GM-EXT-1",
                );
            }
        }
        d.extra_capabilities = i
            .extra_capabilities
            .iter()
            .map(|c| c.value.clone())
            .collect();
    }
    k
}

fn cache(
    cx: &mut Cx<'_>,
    def: Option<&OrderedMap<String, OrderedMap<Scalar, Spanned<String>>>>,
    world: &World,
) -> UidlCache {
    let mut out = UidlCache::new();
    for (mb_name, entries) in def.map(|d| d.0.as_slice()).unwrap_or_default() {
        let Some(mb) = world
            .imap
            .mailboxes
            .iter()
            .find(|m| m.name == mb_name.value)
        else {
            cx.err(
                mb_name,
                format!("no IMAP mailbox `{}` to cache UIDLs for", mb_name.value),
            );
            continue;
        };
        let slot = out.entry(mb.name.clone()).or_default();
        for (key, uidl) in &entries.0 {
            let uid = match &key.value {
                Scalar::Int(n) => match u32::try_from(*n) {
                    Ok(u) if mb.messages.iter().any(|m| m.uid == u) => u,
                    _ => {
                        cx.err(key, format!("{} has no UID {n}", mb.name));
                        continue;
                    }
                },
                Scalar::Text(id) => {
                    let hits: Vec<u32> = mb
                        .messages
                        .iter()
                        .filter(|m| &m.id == id)
                        .map(|m| m.uid)
                        .collect();
                    match hits.as_slice() {
                        [u] => *u,
                        [] => {
                            cx.err(key, format!("message `{id}` is not in {}", mb.name));
                            continue;
                        }
                        _ => {
                            cx.err(
                                key,
                                format!(
                                    "message `{id}` is in {} more than once: use its UID",
                                    mb.name
                                ),
                            );
                            continue;
                        }
                    }
                }
                Scalar::Bool(_) => {
                    cx.err(key, "a cache key is a UID or a message id");
                    continue;
                }
            };
            if uidl.value.is_empty() || uidl.value.contains(['\r', '\n', '\0']) {
                cx.err(
                    uidl,
                    "a cached UIDL is non-empty and one line (Dovecot never caches an empty one)",
                );
                continue;
            }
            if slot.insert(uid, uidl.value.clone()).is_some() {
                cx.err(key, format!("UID {uid} of {} is cached twice", mb.name));
            }
        }
    }
    out
}

fn expect(cx: &mut Cx<'_>, def: &Spanned<super::format::ExpectDef>) -> Expect {
    let e = &def.value;
    for s in e.warnings.iter().chain(&e.errors) {
        if s.value.trim().is_empty() {
            cx.err(s, "an empty substring matches anything; leave it out");
        }
    }
    Expect {
        outcome: e.outcome.value,
        wrong: e.wrong.as_ref().map_or(0, |w| w.value),
        lost: e.lost.as_ref().map_or(0, |l| l.value),
        order_lost: e.order_lost.as_ref().map_or(0, |l| l.value),
        warnings: e.warnings.iter().map(|s| s.value.clone()).collect(),
        errors: e.errors.iter().map(|s| s.value.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn ids() {
        for ok in ["m1", "A", "a.b_c-d", "9x"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "-a", "a b", "ä", "a/b", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn every_step_name_is_unique_and_dotted() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
        assert!(
            STEPS
                .iter()
                .all(|s| s.0.starts_with("imap.") || s.0.starts_with("pop3."))
        );
    }
}
