//! What happens during the run: `events:` (a message delivered, expunged or the POP3
//! maildrop reordered, before or after a protocol step) and `faults:` (a changed reply to
//! matching commands), checked in the order they are written and turned into the fake
//! servers' [`Event`]s and [`Rule`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fake_servers::profiles::{self, Quirk};
use fake_servers::script::{CommandMatch, Event, FaultAction, Phase, Protocol, Rule, WorldChange};
use fake_servers::world::{Pop3Message, World};
use serde_saphyr::Location;

use super::super::format::{
    DeliverDef, EventDef, ExpungeDef, FaultDef, MatchDef, ProtocolDef, Spanned, StepDef,
};
use super::super::generate::{self, LineEnding};
use super::Cx;
use super::messages::Messages;
use super::views::Uidls;

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

/// A step name as a command match.
fn named_step(
    cx: &mut Cx<'_>,
    name: &str,
    loc: Location,
    rfc822_sizes: bool,
) -> Option<CommandMatch> {
    let Some((_, protocol, prefix, contains)) = STEPS.iter().find(|s| s.0 == name) else {
        let names: Vec<&str> = STEPS.iter().map(|s| s.0).collect();
        cx.err_at(
            loc,
            format!(
                "unknown step `{name}`{}: expected one of {}",
                super::hint(name, names.iter().copied()),
                names.join(", ")
            ),
        );
        return None;
    };
    if name == "imap.fetch_sizes" && !rfc822_sizes {
        cx.err_at(
            loc,
            "imap.fetch_sizes happens only with imapc: docs, or where every configuration \
             run sizes by RFC822.SIZE (imapc: defaults with dovecot: [2.4]; the bare profile \
             measures sizes by downloading BODY[]); set imapc: docs, or tie the event to imap.fetch_flags or \
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
}

/// A step as a command match and an optional n-th.
fn step_match(
    cx: &mut Cx<'_>,
    step: &Spanned<StepDef>,
    rfc822_sizes: bool,
) -> Option<(CommandMatch, Option<Spanned<u64>>)> {
    let m = match &step.value {
        StepDef::Named(name) => {
            return named_step(cx, name, step.referenced, rfc822_sizes).map(|m| (m, None));
        }
        StepDef::Match(m) => m,
    };
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
            named_step(cx, &s.value, s.referenced, rfc822_sizes)?
        }
        None => raw_match(cx, step, m)?,
    };
    cm.nth_in_session = m.nth_in_session.as_ref().map(|n| n.value);
    let nth = m.nth.as_ref().map(|n| Spanned {
        value: n.value,
        referenced: n.referenced,
        defined: n.defined,
    });
    Some((cm, nth))
}

/// A step written as protocol, command and contains.
fn raw_match(cx: &mut Cx<'_>, step: &Spanned<StepDef>, m: &MatchDef) -> Option<CommandMatch> {
    let Some(p) = &m.protocol else {
        cx.err(
            step,
            "a command match needs protocol: imap or pop3 (or a step name)",
        );
        return None;
    };
    let protocol = match p.value {
        ProtocolDef::Imap => Protocol::Imap,
        ProtocolDef::Pop3 => Protocol::Pop3,
    };
    for t in [&m.command, &m.contains].into_iter().flatten() {
        if t.value.is_empty() || t.value.contains(['\r', '\n']) {
            cx.err(t, "must be non-empty and one line");
            return None;
        }
    }
    Some(CommandMatch {
        protocol: Some(protocol),
        prefix: m.command.as_ref().map(|c| c.value.clone()),
        contains: m.contains.as_ref().map(|c| c.value.clone()),
        nth_in_session: None,
    })
}

/// What events are checked against: the initial world and how its messages are made.
pub(super) struct EventInputs<'a> {
    /// Every imapc configuration the scenario runs sizes by RFC822.SIZE, so that an
    /// `imap.fetch_sizes` step exists.
    pub rfc822_sizes: bool,
    pub world: &'a World,
    pub quirks: &'a [Quirk],
    pub msgs: &'a Messages<'a>,
    pub uidls: &'a Uidls<'a>,
}

/// What the views hold while events are checked in the order they are written.
struct Timeline {
    imap: BTreeMap<String, Vec<String>>,
    pop3: Vec<String>,
    /// (message id, UIDL) of every POP3 delivery, for the truth and the UIDL checks.
    deliveries: Vec<(String, String)>,
}

/// The script's events, and the (id, UIDL) of every message they deliver to POP3.
pub(super) fn events(
    cx: &mut Cx<'_>,
    defs: &[Spanned<EventDef>],
    input: &EventInputs<'_>,
    used: &mut BTreeSet<String>,
) -> (Vec<Event>, Vec<(String, String)>) {
    let mut tl = Timeline {
        imap: input
            .world
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
        pop3: input
            .world
            .pop3
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect(),
        deliveries: Vec::new(),
    };
    // Messages named by events count as used even when the event is rejected.
    for ev in defs {
        let e = &ev.value;
        used.extend(e.deliver.iter().map(|d| d.value.message.value.clone()));
        used.extend(e.expunge.iter().map(|x| x.value.message.value.clone()));
    }
    let mut out = Vec::new();
    for ev in defs {
        if let Some(event) = event(cx, ev, input, used, &mut tl) {
            out.push(event);
        }
    }
    (out, tl.deliveries)
}

/// One event: its step, and its one change to the world.
fn event(
    cx: &mut Cx<'_>,
    ev: &Spanned<EventDef>,
    input: &EventInputs<'_>,
    used: &mut BTreeSet<String>,
    tl: &mut Timeline,
) -> Option<Event> {
    let e = &ev.value;
    let (phase, step) = match (&e.before, &e.after) {
        (Some(s), None) => (Phase::Before, s),
        (None, Some(s)) => (Phase::After, s),
        (Some(_), Some(s)) => {
            cx.err(s, "an event is before or after one step, not both");
            return None;
        }
        (None, None) => {
            cx.err(ev, "an event needs before: or after: a protocol step");
            return None;
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
        return None;
    }
    if given.len() > 1 {
        cx.err_at(
            given[1],
            "one change per event: write several events on the same step",
        );
        return None;
    }
    let (on, nth) = step_match(cx, step, input.rfc822_sizes)?;
    let changes = if let Some(d) = &e.deliver {
        deliver(cx, d, input, used, tl)?
    } else if let Some(x) = &e.expunge {
        expunge(cx, x, input.msgs, used, tl)?
    } else if let Some(r) = &e.reorder_pop3 {
        reorder_pop3(cx, r, tl)?
    } else {
        return None;
    };
    Some(Event {
        on,
        phase,
        nth: nth.map_or(1, |n| n.value),
        changes,
    })
}

/// `deliver:`: the message arrives in an IMAP mailbox and/or at the end of POP3, shaped
/// by the quirks and its own overrides as the initial messages are.
fn deliver(
    cx: &mut Cx<'_>,
    d: &Spanned<DeliverDef>,
    input: &EventInputs<'_>,
    used: &mut BTreeSet<String>,
    tl: &mut Timeline,
) -> Option<Vec<WorldChange>> {
    let (world, quirks, msgs) = (input.world, input.quirks, input.msgs);
    let id = &d.value.message;
    if !msgs.known.has(&id.value) {
        cx.err(id, msgs.known.unknown(&id.value));
        return None;
    }
    used.insert(id.value.clone());
    let m = msgs.get(&id.value)?;
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
        // A server that lists newest first lists a new message first.
        let newest_first = quirks.contains(&Quirk::Pop3OrderNewestFirst);
        let number = if newest_first {
            tl.pop3.insert(0, id.value.clone());
            1
        } else {
            tl.pop3.push(id.value.clone());
            tl.pop3.len()
        };
        let uidl = input.uidls.uidl(cx, m, number, Some(id.referenced))?;
        let spam = spam || profiles::in_spam_folder(&world.imap, &id.value);
        let mut pm = Pop3Message::honest(id.value.clone(), uidl.clone(), m.bytes.clone());
        profiles::transform_pop3(quirks, &mut pm, spam);
        m.apply_pop3_overrides(&mut pm);
        tl.deliveries.push((id.value.clone(), uidl));
        changes.push(WorldChange::Pop3Deliver { message: pm });
        if newest_first {
            changes.push(WorldChange::Pop3Reorder {
                order: vec![id.value.clone()],
            });
        }
    }
    Some(changes)
}

/// `expunge:`: the message goes away from every IMAP mailbox and/or from POP3.
fn expunge(
    cx: &mut Cx<'_>,
    x: &Spanned<ExpungeDef>,
    msgs: &Messages<'_>,
    used: &mut BTreeSet<String>,
    tl: &mut Timeline,
) -> Option<Vec<WorldChange>> {
    let id = &x.value.message;
    if !msgs.known.has(&id.value) {
        cx.err(id, msgs.known.unknown(&id.value));
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
    Some(changes)
}

/// `reorder_pop3:`: these messages first, the others after them in their order.
fn reorder_pop3(
    cx: &mut Cx<'_>,
    r: &Spanned<Vec<Spanned<String>>>,
    tl: &mut Timeline,
) -> Option<Vec<WorldChange>> {
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
    Some(vec![WorldChange::Pop3Reorder { order }])
}

/// The script's fault rules.
pub(super) fn faults(cx: &mut Cx<'_>, defs: &[Spanned<FaultDef>], rfc822_sizes: bool) -> Vec<Rule> {
    defs.iter()
        .filter_map(|def| fault(cx, def, rfc822_sizes))
        .collect()
}

fn fault(cx: &mut Cx<'_>, def: &Spanned<FaultDef>, rfc822_sizes: bool) -> Option<Rule> {
    let f = &def.value;
    let step = match (&f.when, &f.on) {
        (Some(w), None) => w,
        (None, Some(on)) => {
            cx.warn(
                on,
                "`on:` is now `when:` (YAML 1.1 tools such as PyYAML read the key on as true); \
                 the old name still works",
            );
            on
        }
        (Some(_), Some(on)) => {
            cx.err(on, "give when: only (on: is its old name)");
            return None;
        }
        (None, None) => {
            cx.err(
                def,
                "a fault needs when: the step whose reply it changes, e.g. when: pop3.uidl",
            );
            return None;
        }
    };
    let (on, nth) = step_match(cx, step, rfc822_sizes)?;
    if let Some(d) = &f.disconnect
        && !d.value
    {
        cx.err(d, "disconnect: no does nothing; leave it out");
        return None;
    }
    let action = fault_action(cx, def)?;
    if let Some(t) = &f.times
        && t.value == 0
    {
        cx.err(t, "times: 0 never applies; leave the fault out");
        return None;
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
                return None;
            }
            (n.value - 1, Some(1))
        }
        None => (
            f.skip.as_ref().map_or(0, |s| s.value),
            f.times.as_ref().map(|t| t.value),
        ),
    };
    Some(Rule {
        on,
        action,
        skip,
        times,
    })
}

/// A fault's one action: reply, disconnect, truncate or delay.
fn fault_action(cx: &mut Cx<'_>, def: &Spanned<FaultDef>) -> Option<FaultAction> {
    let f = &def.value;
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
        return None;
    }
    if given.len() > 1 {
        cx.err_at(
            given[1],
            "one action per fault: write several faults on the same step",
        );
        return None;
    }
    if let (Some(le), None) = (&f.line_ending, &f.reply) {
        cx.err(le, "line_ending is for reply:");
        return None;
    }
    Some(if let Some(r) = &f.reply {
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
            return None;
        }
        FaultAction::Delay(Duration::from_millis(d.value))
    } else {
        unreachable!("one action is given")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
