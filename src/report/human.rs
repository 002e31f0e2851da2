//! The human summary: what Dovecot would do, what is wrong with it, what to change; then
//! the mailboxes' rows (for big mailboxes only the problems, unless asked for all).

use std::fmt::Write;

use super::{MailboxReport, MessageReport, Report};

/// Shows a UIDL readably: as it is when printable ASCII without spaces, quoted with
/// escapes otherwise (spaces, tabs and 8-bit bytes are exactly what breaks things).
pub(super) fn show(uidl: &str) -> String {
    if !uidl.is_empty() && uidl.bytes().all(|b| b.is_ascii_graphic()) {
        uidl.to_string()
    } else {
        format!("{uidl:?}")
    }
}

/// Which message rows the human output shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Rows {
    /// Every row of a mailbox up to [`FULL_UP_TO`] messages, beyond that only problems.
    #[default]
    Auto,
    /// Every row.
    All,
    /// Only rows whose UIDL is not right (or, without the audit, is missing).
    Problems,
}

/// Mailboxes up to this many messages are shown whole under [`Rows::Auto`].
pub const FULL_UP_TO: usize = 50;

/// Renders a report for people, rows as [`Rows::Auto`] says.
pub fn human(r: &Report) -> String {
    human_with(r, Rows::Auto)
}

/// Renders a report for people: the summary first (Dovecot's result, its log, the audit
/// and the recommendation), then each mailbox with its rows.
pub fn human_with(r: &Report, rows: Rows) -> String {
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
        "settings: {} (imapc profile: {}; destination: {})",
        if settings.is_empty() {
            "defaults".to_string()
        } else {
            settings.join(" ")
        },
        r.imapc,
        r.destination
    );
    for note in &r.setting_spellings {
        let _ = writeln!(o, "!! SETTING SPELLING: {note}");
    }
    let _ = writeln!(o, "dovecot {}: {}", r.dovecot_version, r.dovecot.result);
    summary(&mut o, r);
    for mb in &r.dovecot.mailboxes {
        mailbox(&mut o, mb, rows);
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
        o.push_str(&human_with(other, rows));
    }
    o
}

/// Dovecot's warnings and errors, the audit's counts and the recommendation.
fn summary(o: &mut String, r: &Report) {
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
}

/// Whether a row needs looking at: its UIDL is not right, or (without the audit) there
/// is none.
fn is_problem(m: &MessageReport) -> bool {
    match m.verdict {
        Some(v) => v != "right",
        None => m.uidl.is_none(),
    }
}

/// One mailbox: its passes, then its rows in columns as wide as their content.
fn mailbox(o: &mut String, mb: &MailboxReport, rows: Rows) {
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
        return;
    }
    let only_problems = match rows {
        Rows::All => false,
        Rows::Problems => true,
        Rows::Auto => mb.messages.len() > FULL_UP_TO,
    };
    let shown: Vec<&MessageReport> = mb
        .messages
        .iter()
        .filter(|m| !only_problems || is_problem(m))
        .collect();
    if only_problems {
        let _ = writeln!(
            o,
            "    {} of {} rows shown: those not right (--rows all shows every row)",
            shown.len(),
            mb.messages.len()
        );
    }
    if shown.is_empty() {
        return;
    }
    let mut table = vec![["uid", "message", "uidl", "order", "via", "verdict"].map(String::from)];
    for m in shown {
        let mut verdict = m.verdict.unwrap_or_default().to_string();
        if let Some(c) = &m.cause {
            let _ = write!(verdict, " ({c})");
        }
        if let Some(e) = &m.expected {
            let _ = write!(verdict, "; true: {e}");
        }
        table.push([
            m.uid.to_string(),
            m.message.clone().unwrap_or_else(|| "-".into()),
            m.uidl.as_deref().map(show).unwrap_or_else(|| "-".into()),
            m.order.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            m.via.unwrap_or("-").to_string(),
            verdict.trim_end().to_string(),
        ]);
    }
    columns(o, &table);
}

/// Writes rows in columns sized to their widest cell: numbers right-aligned, text left,
/// the last column unpadded so that no line ends in spaces.
fn columns(o: &mut String, table: &[[String; 6]]) {
    const RIGHT: [bool; 6] = [true, false, false, true, false, false];
    let mut width = [0usize; 6];
    for row in table {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in table {
        let mut line = String::from("   ");
        for (i, cell) in row.iter().enumerate() {
            line.push_str("  ");
            let pad = width[i] - cell.chars().count();
            if i == row.len() - 1 {
                line.push_str(cell);
            } else if RIGHT[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: u32, uidl: &str, verdict: &'static str) -> MessageReport {
        MessageReport {
            uid,
            message: None,
            uidl: Some(uidl.into()),
            plugin_uidl: None,
            order: Some(uid),
            via: Some("size"),
            verdict: Some(verdict),
            cause: None,
            expected: None,
        }
    }

    fn mailbox_of(n: u32, wrong: &[u32]) -> MailboxReport {
        MailboxReport {
            name: "INBOX".into(),
            status: "synced".into(),
            copied: true,
            passes: None,
            messages: (1..=n)
                .map(|u| {
                    let v = if wrong.contains(&u) { "wrong" } else { "right" };
                    row(u, &format!("uidl-{u}"), v)
                })
                .collect(),
        }
    }

    #[test]
    fn big_mailboxes_show_only_problems_unless_all() {
        let mb = mailbox_of(20_000, &[7, 19_999]);
        let mut o = String::new();
        mailbox(&mut o, &mb, Rows::Auto);
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines.len(), 5, "{o}");
        assert!(lines[1].contains("2 of 20000 rows shown"), "{o}");
        assert!(lines[3].contains("uidl-7") && lines[4].contains("uidl-19999"));
        let mut all = String::new();
        mailbox(&mut all, &mb, Rows::All);
        assert_eq!(all.lines().count(), 20_002);
        let mut small = String::new();
        mailbox(&mut small, &mailbox_of(FULL_UP_TO as u32, &[3]), Rows::Auto);
        assert_eq!(small.lines().count(), FULL_UP_TO + 2);
    }

    #[test]
    fn columns_fit_the_longest_cell_and_lines_have_no_trailing_space() {
        let mut mb = mailbox_of(2, &[]);
        mb.messages[1].uidl = Some("a-uidl-much-longer-than-twenty-four-characters".into());
        mb.messages[0].via = None;
        let mut o = String::new();
        mailbox(&mut o, &mb, Rows::All);
        let lines: Vec<&str> = o.lines().skip(1).collect();
        let at = |l: &str| l.find("right").unwrap();
        assert_eq!(at(lines[1]), at(lines[2]), "{o}");
        assert!(o.lines().all(|l| l == l.trim_end()), "{o}");
    }
}
