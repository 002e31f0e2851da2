//! What the file says about Dovecot and the provider rather than the messages: the
//! pop3-migration `settings:`, the provider `profile:` and `quirks:`, a previous run's
//! UIDL `cache:`, and what Dovecot is expected to do (`expect:`).

use std::collections::{BTreeMap, BTreeSet};

use fake_servers::profiles::{self, Quirk};
use fake_servers::world::World;

use super::super::format::{ExpectDef, OrderedMap, Scalar, ScenarioFile, Spanned};
use super::super::{DovecotVersion, Expect, Outcome, UidlCache};
use super::Cx;
use crate::matcher::Settings;
use crate::matcher::settings::{PREFIX, SettingError};

/// The pop3-migration settings: the plugin enabled, Dovecot's defaults, then `settings:`.
pub(super) fn settings(
    cx: &mut Cx<'_>,
    map: Option<&OrderedMap<String, Spanned<Scalar>>>,
) -> Settings {
    let mut settings = Settings::enabled();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (key, value) in map.map(|m| m.0.as_slice()).unwrap_or_default() {
        let short = key
            .value
            .strip_prefix(PREFIX)
            .unwrap_or(&key.value)
            .to_string();
        if !seen.insert(short.clone()) {
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
            Err(e @ SettingError::UnknownName(_)) => {
                let known = crate::matcher::settings::BOOLEAN_SETTINGS
                    .iter()
                    .copied()
                    .chain(["mailbox"]);
                cx.err(key, format!("{e}{}", super::hint(&short, known)));
            }
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

/// Every quirk in effect: the profile's and `quirks:`, in stage order, without repeats.
pub(super) fn quirks(cx: &mut Cx<'_>, f: &ScenarioFile) -> Vec<Quirk> {
    let mut out = Vec::new();
    if let Some(p) = &f.profile {
        match profiles::profile(&p.value) {
            Some(profile) => out.extend_from_slice(profile.quirks),
            None => {
                let names: Vec<&str> = profiles::PROFILES.iter().map(|p| p.name).collect();
                cx.err(
                    p,
                    format!(
                        "unknown profile `{}`{}: expected one of {}",
                        p.value,
                        super::hint(&p.value, names.iter().copied()),
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
                        "unknown quirk `{}`{}: expected one of {}",
                        q.value,
                        super::hint(&q.value, names.iter().copied()),
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

/// A previous run's UIDL cache, keyed by UID (a message id stands for its one UID).
pub(super) fn cache(
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
            let Some(uid) = cached_uid(cx, key, mb) else {
                continue;
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

/// The UID a cache key names in `mb`: a UID, or the id of a message there once.
fn cached_uid(
    cx: &mut Cx<'_>,
    key: &Spanned<Scalar>,
    mb: &fake_servers::world::ImapMailbox,
) -> Option<u32> {
    match &key.value {
        Scalar::Int(n) => match u32::try_from(*n) {
            Ok(u) if mb.messages.iter().any(|m| m.uid == u) => Some(u),
            _ => {
                cx.err(key, format!("{} has no UID {n}", mb.name));
                None
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
                [u] => Some(*u),
                [] => {
                    cx.err(key, format!("message `{id}` is not in {}", mb.name));
                    None
                }
                _ => {
                    cx.err(
                        key,
                        format!(
                            "message `{id}` is in {} more than once: use its UID",
                            mb.name
                        ),
                    );
                    None
                }
            }
        }
        Scalar::Bool(_) => {
            cx.err(key, "a cache key is a UID or a message id");
            None
        }
    }
}

/// `expect:`, with its substrings checked.
pub(super) fn expect(cx: &mut Cx<'_>, def: &Spanned<ExpectDef>) -> Expect {
    let e = &def.value;
    for s in e.warnings.iter().chain(&e.errors) {
        if s.value.trim().is_empty() {
            cx.err(s, "an empty substring matches anything; leave it out");
        }
    }
    if let Some(x) = &e.exit
        && (e.outcome.value != Outcome::Failure || x.value == 0)
    {
        cx.err(
            x,
            "`exit:` names a failure's exit code: give it with `outcome: failure`, and not 0",
        );
    }
    Expect {
        outcome: e.outcome.value,
        exit: e.exit.as_ref().map(|x| i32::from(x.value)),
        wrong: e.wrong.as_ref().map_or(0, |w| w.value),
        lost: e.lost.as_ref().map_or(0, |l| l.value),
        order_lost: e.order_lost.as_ref().map_or(0, |l| l.value),
        warnings: e.warnings.iter().map(|s| s.value.clone()).collect(),
        errors: e.errors.iter().map(|s| s.value.clone()).collect(),
    }
}

/// `dovecot:` (default 2.3) and `expect_by_version:`, each version once, and
/// expectations only for versions the scenario is about.
pub(super) fn versions(
    cx: &mut Cx<'_>,
    f: &ScenarioFile,
) -> (Vec<DovecotVersion>, BTreeMap<DovecotVersion, Expect>) {
    let mut versions = Vec::new();
    for v in &f.dovecot {
        if versions.contains(&v.value.0) {
            cx.err(v, format!("Dovecot {} is listed twice", v.value.0.name()));
        }
        versions.push(v.value.0);
    }
    if versions.is_empty() {
        versions.push(DovecotVersion::V2_3);
    }
    versions.sort();
    versions.dedup();
    let mut by = BTreeMap::new();
    for (key, def) in f.expect_by_version.iter().flat_map(|m| m.0.iter()) {
        let v = key.value.0;
        if !versions.contains(&v) {
            cx.err(
                key,
                format!(
                    "expectations for Dovecot {}, which `dovecot:` does not list",
                    v.name()
                ),
            );
        }
        if by.insert(v, expect(cx, def)).is_some() {
            cx.err(key, format!("Dovecot {} is given twice", v.name()));
        }
    }
    (versions, by)
}
