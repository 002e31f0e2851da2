//! The human summary: what Dovecot would do, what is wrong with it, what to change.

use std::fmt::Write;

use super::Report;

/// Shows a UIDL readably: as it is when printable ASCII without spaces, quoted with
/// escapes otherwise (spaces, tabs and 8-bit bytes are exactly what breaks things).
pub(super) fn show(uidl: &str) -> String {
    if !uidl.is_empty() && uidl.bytes().all(|b| b.is_ascii_graphic()) {
        uidl.to_string()
    } else {
        format!("{uidl:?}")
    }
}

/// Renders a report for people.
pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "== {}", r.name);
    if let Some(d) = &r.description {
        let _ = writeln!(o, "{d}");
    }
    let settings: Vec<String> = r
        .settings
        .iter()
        .filter(|(k, _)| k.as_str() != "pop3_migration_mailbox")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        o,
        "settings: {} (imapc profile: {})",
        if settings.is_empty() {
            "defaults".to_string()
        } else {
            settings.join(" ")
        },
        r.imapc
    );
    for note in &r.setting_spellings {
        let _ = writeln!(o, "!! SETTING SPELLING: {note}");
    }
    let _ = writeln!(o, "dovecot {}: {}", r.dovecot_version, r.dovecot.result);
    for mb in &r.dovecot.mailboxes {
        let _ = write!(o, "  {}: {}", mb.name, mb.status);
        if !mb.copied {
            let _ = write!(o, ", not copied");
        }
        if let Some(p) = &mb.passes {
            let _ = write!(
                o,
                "; cached uidls={}, size matches={}, total={}",
                p.cached_uidls, p.size_matches, p.total
            );
            if p.header_pass {
                let _ = write!(o, "; header pass matched {}", p.header_matches);
            }
        }
        let _ = writeln!(o);
        if mb.messages.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "    {:>6}  {:<12}  {:<24}  {:>5}  {:<6}  verdict",
            "uid", "message", "uidl", "order", "via"
        );
        for m in &mb.messages {
            let mut verdict = m.verdict.clone().unwrap_or_default();
            if let Some(c) = &m.cause {
                let _ = write!(verdict, " ({c})");
            }
            if let Some(e) = &m.expected {
                let _ = write!(verdict, "; true: {e}");
            }
            let _ = writeln!(
                o,
                "    {:>6}  {:<12}  {:<24}  {:>5}  {:<6}  {}",
                m.uid,
                m.message.as_deref().unwrap_or("-"),
                m.uidl.as_deref().map(show).unwrap_or_else(|| "-".into()),
                m.order.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                m.via.as_deref().unwrap_or("-"),
                verdict.trim_end()
            );
        }
    }
    let problems: Vec<&String> = r
        .dovecot
        .log
        .iter()
        .filter(|l| !l.starts_with("Debug:"))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(o, "dovecot log:");
        for l in problems {
            let _ = writeln!(o, "  {l}");
        }
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(
            o,
            "audit: {} right, {} wrong, {} lost, {} order-lost, {} not migrated, {} unknown",
            a.counts.right,
            a.counts.wrong,
            a.counts.lost,
            a.counts.order_lost,
            a.counts.not_migrated,
            a.counts.unknown
        );
        let _ = writeln!(o, "recommendation: {}", a.recommendation.reason);
        // The block as it is to be pasted, indented so it stands apart from the text.
        for line in a.recommendation.config.lines() {
            let _ = writeln!(o, "  {line}");
        }
    }
    if let Some(t) = &r.traffic {
        let _ = writeln!(
            o,
            "traffic: POP3 {} commands in {} round trips; IMAP {} commands in {} round trips",
            t.pop3.commands, t.pop3.round_trips, t.imap.commands, t.imap.round_trips
        );
    }
    if let Some(e) = &r.expectation {
        if e.met {
            let _ = writeln!(o, "expectation: met");
        } else {
            let _ = writeln!(o, "expectation: NOT met");
            for f in &e.failures {
                let _ = writeln!(o, "  - {f}");
            }
        }
    }
    for other in &r.other_versions {
        let _ = writeln!(
            o,
            "-- under Dovecot {} the answer differs:",
            other.dovecot_version
        );
        o.push_str(&human(other));
    }
    o
}
