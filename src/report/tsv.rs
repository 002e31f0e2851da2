//! What Dovecot would store, line by line: the TSV of `uidlmap run --format tsv` and
//! `uidlmap verify --format tsv`, and dovecot-uidlist `P`/`O` fields.

use std::fmt::Write;

use super::Report;

/// The TSV header line, as `doveadm fetch 'mailbox uid pop3.uidl pop3.order'` names
/// the fields.
pub const TSV_HEADER: &str = "mailbox\tuid\tpop3_uidl\tpop3_order";

/// Escapes a TSV field: backslash, tab, CR and LF become `\\`, `\t`, `\r`, `\n`, so a
/// UIDL with a tab cannot shift the columns.
fn field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One line per migrated message (mailboxes dsync copies), without the header line.
/// Fields are empty where Dovecot stores no UIDL or order.
pub fn tsv_lines(report: &Report) -> String {
    let mut out = String::new();
    for mb in report.dovecot.mailboxes.iter().filter(|m| m.copied) {
        for m in &mb.messages {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}",
                field(&mb.name),
                m.uid,
                m.uidl.as_deref().map(field).unwrap_or_default(),
                m.order.map(|o| o.to_string()).unwrap_or_default()
            );
        }
    }
    out
}

/// Why dovecot-uidlist cannot hold a UIDL as it is, if it cannot.
fn uidlist_problem(uidl: &str) -> Option<&'static str> {
    // Record values end at the first space and nothing is escaped (spec §11); a line
    // end would split the record; a NUL ends the C string.
    if uidl.contains(' ') {
        Some("has a space: dovecot-uidlist keeps only what comes before it")
    } else if uidl.contains(['\r', '\n']) {
        Some("has a line end: it would break the dovecot-uidlist record")
    } else if uidl.contains('\0') {
        Some("has a NUL byte")
    } else {
        None
    }
}

/// Per copied mailbox, per UID, the `P<uidl>` and `O<order>` fields Dovecot would
/// write into dovecot-uidlist (maildir), with a `#` comment before every UIDL that
/// file cannot hold, saying what it would become.
pub fn dovecot_uidlist(report: &Report) -> String {
    let mut out = String::new();
    for mb in report.dovecot.mailboxes.iter().filter(|m| m.copied) {
        let _ = writeln!(out, "# mailbox {}", mb.name);
        for m in &mb.messages {
            let mut line = m.uid.to_string();
            if let Some(u) = m.plugin_uidl.as_ref().or(m.uidl.as_ref()) {
                if let Some(problem) = uidlist_problem(u) {
                    let kept: String = u.split([' ', '\r', '\n', '\0']).next().unwrap_or("").into();
                    let _ = writeln!(
                        out,
                        "# UID {}: UIDL {:?} {problem}; it would be read back as {:?}",
                        m.uid, u, kept
                    );
                }
                line.push_str(" P");
                line.push_str(u);
            }
            if let Some(o) = m.order {
                let _ = write!(line, " O{o}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped() {
        assert_eq!(field("a\tb\\c\nd"), "a\\tb\\\\c\\nd");
        assert_eq!(field("UID1-7"), "UID1-7");
    }

    #[test]
    fn uidlist_problems() {
        assert_eq!(uidlist_problem("abc"), None);
        assert!(uidlist_problem("abc def").is_some());
        assert!(uidlist_problem("a\nb").is_some());
        assert_eq!(uidlist_problem("x\tY~!"), None);
    }
}
