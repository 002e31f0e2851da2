//! `server:`: the server knobs a file asks for, with the checks their values need beyond
//! their types. Which knobs exist, their defaults and what they set in the fake servers
//! is said once, in [`crate::scenario::knobs`].

use super::super::format::{ImapServerDef, Pop3ServerDef, ServerDef, Spanned};
use super::super::knobs::{ImapKnobs, Pop3Knobs, ServerKnobs};
use super::Cx;

/// The knobs of `server:` (the defaults when it is left out).
pub(super) fn knobs(cx: &mut Cx<'_>, def: Option<&ServerDef>) -> ServerKnobs {
    let mut k = ServerKnobs::default();
    let Some(def) = def else {
        return k;
    };
    if let Some(p) = &def.pop3 {
        k.pop3 = Pop3Knobs::read(p);
        check_pop3(cx, p, &k.pop3);
    }
    if let Some(i) = &def.imap {
        k.imap = ImapKnobs::read(i);
        check_imap(cx, i);
    }
    k
}

fn check_positive(cx: &mut Cx<'_>, v: Option<&Spanned<u64>>, what: &str) {
    if let Some(v) = v
        && v.value == 0
    {
        cx.err(v, format!("{what} must be at least 1"));
    }
}

fn check_pop3(cx: &mut Cx<'_>, p: &Pop3ServerDef, k: &Pop3Knobs) {
    check_positive(cx, p.split_writes.as_ref(), "split_writes");
    check_positive(cx, p.idle_timeout_ms.as_ref(), "idle_timeout_ms");
    if let Some(b) = &p.banner
        && b.value.contains(['\r', '\n'])
    {
        cx.err(b, "the banner is one line");
    }
    if let Some(b) = &p.broken_pipelining
        && b.value
        && !k.pipelining
    {
        cx.err(
            b,
            "broken_pipelining needs pipelining: it is advertised, then broken",
        );
    }
}

fn check_imap(cx: &mut Cx<'_>, i: &ImapServerDef) {
    check_positive(cx, i.split_writes.as_ref(), "split_writes");
    check_positive(cx, i.idle_timeout_ms.as_ref(), "idle_timeout_ms");
    for c in &i.extra_capabilities {
        if c.value.is_empty() || !c.value.bytes().all(|b| b.is_ascii_graphic()) {
            cx.err(
                c,
                "a capability is one atom without spaces, e.g. X-GM-EXT-1",
            );
        }
    }
}
