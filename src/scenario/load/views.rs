//! The two views of the account: the IMAP view (`imap:`: mailboxes, UIDs, UIDVALIDITY)
//! and the POP3 view (`pop3:`: the listing, given or derived from IMAP and the quirks,
//! and each message's UIDL from its template), then the world both servers serve, with
//! the quirks and per-message overrides applied.

use std::collections::{BTreeMap, BTreeSet};

use fake_servers::profiles::{self, Quirk};
use fake_servers::world::{ImapMailbox, ImapView, Pop3Message, Pop3View, World};
use serde_saphyr::Location;

use super::super::format::{EventDef, ImapDef, MailboxDef, MailboxFull, Pop3Def, Spanned};
use super::super::generate::{self, Template};
use super::Cx;
use super::messages::{Messages, Msg};

/// The IMAP view of `imap:` (one empty INBOX when it is left out).
pub(super) fn imap_view(
    cx: &mut Cx<'_>,
    def: &ImapDef,
    msgs: &Messages<'_>,
    used: &mut BTreeSet<String>,
) -> ImapView {
    let default_uidvalidity = match &def.uidvalidity {
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
        separator: separator(cx, def.separator.as_ref()),
        mailboxes: Vec::new(),
    };
    let Some(boxes) = &def.mailboxes else {
        imap.mailboxes
            .push(ImapMailbox::new("INBOX", default_uidvalidity));
        return imap;
    };
    for (name, def) in &boxes.value.0 {
        if let Some(mb) = mailbox(cx, name, def, default_uidvalidity, msgs, used) {
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
    imap
}

fn separator(cx: &mut Cx<'_>, def: Option<&Spanned<String>>) -> char {
    let Some(s) = def else {
        return '/';
    };
    let mut chars = s.value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() && c != '"' && c != '\\' && !c.is_alphanumeric() => c,
        _ => {
            cx.err(
                s,
                "separator must be one character such as / or . (not a letter, digit, quote or backslash)",
            );
            '/'
        }
    }
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
    msgs: &Messages<'_>,
    used: &mut BTreeSet<String>,
) -> Option<ImapMailbox> {
    let (ids, full) = match &def.value {
        MailboxDef::List(ids) => (ids.as_slice(), None),
        MailboxDef::Full(f) => (f.messages.ids(), Some(&**f)),
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
    let mut mb = ImapMailbox::new(name.value.clone(), uidvalidity);
    let resolved = mailbox_messages(cx, &name.value, ids, full, msgs, used);
    let uids = mailbox_uids(cx, ids.len(), full)?;
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

/// The messages a mailbox lists, resolved, with duplicates checked against its
/// `allow_duplicates`.
fn mailbox_messages<'m, 'a>(
    cx: &mut Cx<'_>,
    name: &str,
    ids: &[Spanned<String>],
    full: Option<&MailboxFull>,
    msgs: &'m Messages<'a>,
    used: &mut BTreeSet<String>,
) -> Vec<&'m Msg<'a>> {
    let dups: BTreeSet<&str> = full
        .map(|f| {
            f.allow_duplicates
                .iter()
                .map(|s| s.value.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut resolved = Vec::new();
    for r in ids {
        if !msgs.known.has(&r.value) {
            cx.err(r, msgs.known.unknown(&r.value));
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
                    r.value, name
                ),
            );
        }
        used.insert(r.value.clone());
        if let Some(m) = msgs.get(&r.value) {
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
                        a.value, name
                    ),
                );
            }
        }
    }
    resolved
}

/// The UIDs of a mailbox's `count` messages: 1, 2, …, from `first_uid`, or `uids`.
fn mailbox_uids(cx: &mut Cx<'_>, count: usize, full: Option<&MailboxFull>) -> Option<Vec<u32>> {
    match (
        full.and_then(|f| f.first_uid.as_ref()),
        full.and_then(|f| f.uids.as_ref()),
    ) {
        (Some(_), Some(list)) => {
            cx.err(list, "give first_uid or uids, not both");
            None
        }
        (Some(first), None) => {
            if first.value == 0 {
                cx.err(first, "first_uid must be at least 1");
                return None;
            }
            let mut v = Vec::new();
            for i in 0..count {
                match first.value.checked_add(i as u32) {
                    Some(u) => v.push(u),
                    None => {
                        cx.err(first, "UIDs would overflow 32 bits");
                        return None;
                    }
                }
            }
            Some(v)
        }
        (None, Some(list)) => {
            if list.value.len() != count {
                cx.err(
                    list,
                    format!(
                        "{} uids for {} messages: give one UID per message",
                        list.value.len(),
                        count
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
            Some(list.value.iter().map(|u| u.value).collect())
        }
        (None, None) => Some((1..=count as u32).collect()),
    }
}

/// Where a message lives in IMAP, for the `{uid}`, `{uidvalidity}`, `{mailbox}` variables.
#[derive(Clone, Debug)]
struct Home {
    mailbox: String,
    uid: u32,
    uidvalidity: u32,
}

/// Where each message first lives in IMAP: INBOX first, then LIST order; then, for
/// messages only events deliver to IMAP, the UIDs they will get if the events fire in
/// the order they are written.
fn homes(imap: &ImapView, events: &[Spanned<EventDef>]) -> BTreeMap<String, Home> {
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
    let mut uidnext: BTreeMap<String, (u32, u32)> = imap
        .mailboxes
        .iter()
        .map(|m| (m.name.clone(), (m.uidnext, m.uidvalidity)))
        .collect();
    for ev in events {
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
    homes
}

/// How POP3 UIDLs are made: the template (`pop3.uidl`, or the quirks') and where each
/// message lives in IMAP.
pub(super) struct Uidls<'a> {
    template: Option<Template>,
    template_at: Option<&'a Spanned<String>>,
    homes: BTreeMap<String, Home>,
}

impl<'a> Uidls<'a> {
    /// Parses the UIDL template; reports it when it is bad (no UIDLs are made then).
    pub fn new(
        cx: &mut Cx<'_>,
        def: &'a Pop3Def,
        quirks: &[Quirk],
        imap: &ImapView,
        events: &[Spanned<EventDef>],
    ) -> Self {
        let (text, template_at) = match &def.uidl {
            Some(t) => (t.value.clone(), Some(t)),
            None => (
                profiles::uidl_template(quirks)
                    .unwrap_or("{id}")
                    .to_string(),
                None,
            ),
        };
        let template = match Template::parse(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                match template_at {
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
        Uidls {
            template,
            template_at,
            homes: homes(imap, events),
        }
    }

    /// The UIDL of message `m` as POP3 message number `n`; `at` is where the listing
    /// names it, if it does.
    pub fn uidl(
        &self,
        cx: &mut Cx<'_>,
        m: &Msg<'_>,
        n: usize,
        at: Option<Location>,
    ) -> Option<String> {
        if let Some(u) = m.uidl_override() {
            return Some(u.value.clone());
        }
        let template = self.template.as_ref()?;
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

/// The POP3 listing: `pop3.messages` (checked), or derived from the IMAP view and the
/// listing quirks. Each id comes with where the file names it, if it does.
pub(super) fn pop3_listing(
    cx: &mut Cx<'_>,
    def: &Pop3Def,
    quirks: &[Quirk],
    imap: &ImapView,
    msgs: &Messages<'_>,
    used: &mut BTreeSet<String>,
) -> Vec<(String, Option<Location>)> {
    let dups: BTreeSet<&str> = def
        .allow_duplicates
        .iter()
        .map(|s| s.value.as_str())
        .collect();
    for a in &def.allow_duplicates {
        if !msgs.known.has(&a.value) {
            cx.err(a, msgs.known.unknown(&a.value));
        }
    }
    let Some(list) = &def.messages else {
        let arrival: Vec<String> = msgs.list.iter().map(|m| m.id.clone()).collect();
        let ids = profiles::pop3_listing(quirks, imap, &arrival);
        return ids.into_iter().map(|id| (id, None)).collect();
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for r in list.value.ids() {
        if !msgs.known.has(&r.value) {
            cx.err(r, msgs.known.unknown(&r.value));
            continue;
        }
        let n = seen.entry(r.value.as_str()).or_default();
        *n += 1;
        if *n == 2 && !dups.contains(r.value.as_str()) {
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
    for a in &def.allow_duplicates {
        if seen.get(a.value.as_str()).copied().unwrap_or(0) < 2 && msgs.known.has(&a.value) {
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

/// The POP3 view of a listing, each message with its UIDL.
pub(super) fn pop3_view(
    cx: &mut Cx<'_>,
    listing: &[(String, Option<Location>)],
    msgs: &Messages<'_>,
    uidls: &Uidls<'_>,
    used: &mut BTreeSet<String>,
) -> Pop3View {
    let mut pop3 = Pop3View::default();
    for (n, (id, at)) in listing.iter().enumerate() {
        let Some(m) = msgs.get(id) else {
            continue;
        };
        used.insert(id.clone());
        if let Some(uidl) = uidls.uidl(cx, m, n + 1, *at) {
            pop3.messages
                .push(Pop3Message::honest(id.clone(), uidl, m.bytes.clone()));
        }
    }
    pop3
}

/// The world both servers serve: the views with the quirks, then each message's own
/// overrides, applied.
pub(super) fn world(mut world: World, quirks: &[Quirk], msgs: &Messages<'_>) -> World {
    profiles::apply(&mut world, quirks);
    for mb in &mut world.imap.mailboxes {
        for m in &mut mb.messages {
            if let Some(msg) = msgs.get(&m.id) {
                msg.apply_imap_overrides(m);
            }
        }
    }
    for m in &mut world.pop3.messages {
        if let Some(msg) = msgs.get(&m.id) {
            msg.apply_pop3_overrides(m);
        }
    }
    world
}

/// Two messages may share a UIDL only with `pop3.allow_duplicate_uidls`; checked over
/// the initial listing and the POP3 deliveries of events.
pub(super) fn check_unique_uidls(
    cx: &mut Cx<'_>,
    def: &Pop3Def,
    world: &World,
    deliveries: &[(String, String)],
    msgs: &Messages<'_>,
) {
    if def.allow_duplicate_uidls.as_ref().is_some_and(|b| b.value) {
        return;
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let all = world
        .pop3
        .messages
        .iter()
        .map(|m| (m.id.as_str(), m.uidl.as_str()))
        .chain(deliveries.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    for (id, uidl) in all {
        if let Some(first) = seen.insert(uidl, id) {
            if first == id {
                // The same message listed twice shares its UIDL unless a template
                // with {n} tells the copies apart; the listing itself was checked.
                continue;
            }
            let at = msgs.get(id).map_or(Location::UNKNOWN, |m| m.key);
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
