//! What Dovecot would store, line by line: the TSV of `uidlmap run --format tsv` and
//! `uidlmap verify --format tsv` and its reader (a UIDL cache for `verify --cache`),
//! and dovecot-uidlist `P`/`O` fields.

use std::collections::BTreeMap;
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

/// One line per message Dovecot stores ([`Report::stored`]), without the header line.
/// Fields are empty where Dovecot stores no UIDL or order.
pub fn tsv_lines(report: &Report) -> String {
    let mut out = String::new();
    for (mb, m) in report.stored() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            field(&mb.name),
            m.uid,
            m.uidl.as_deref().map(field).unwrap_or_default(),
            m.order.map(|o| o.to_string()).unwrap_or_default()
        );
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

/// A line of a UIDL-cache TSV that cannot be read; shown as `LINE: what`.
#[derive(Debug, thiserror::Error)]
#[error("{line}: {what}")]
pub struct TsvError {
    pub line: usize,
    pub what: String,
}

/// Undoes the escapes of [`field`].
fn tsv_unescape(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('n') => '\n',
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        });
    }
    Ok(out)
}

/// Reads a UIDL cache: the TSV of `--format tsv` (header line, then
/// `mailbox uid pop3_uidl pop3_order`) as (mailbox, UID) → UIDL; rows without a UIDL
/// are skipped.
pub fn read_cache(text: &str) -> Result<BTreeMap<(String, u32), String>, TsvError> {
    let mut cache = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h == TSV_HEADER => {}
        _ => {
            return Err(TsvError {
                line: 1,
                what: format!("expected the header line {TSV_HEADER:?}"),
            });
        }
    }
    for (i, line) in lines {
        let err = |what: String| TsvError { line: i + 1, what };
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(err(format!(
                "expected 4 tab-separated fields, got {}",
                f.len()
            )));
        }
        let mailbox = tsv_unescape(f[0]).map_err(err)?;
        let uid: u32 = f[1]
            .parse()
            .ok()
            .filter(|&u| u > 0)
            .ok_or_else(|| err(format!("bad UID {:?}", f[1])))?;
        let uidl = tsv_unescape(f[2]).map_err(err)?;
        if !uidl.is_empty() {
            cache.insert((mailbox, uid), uidl);
        }
    }
    Ok(cache)
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

    #[test]
    fn cache_file() {
        let c =
            read_cache("mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\\tb\t1\nINBOX\t2\t\t\n")
                .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[&("INBOX".to_string(), 1)], "a\tb");
        for (bad, want) in [
            ("INBOX\t1\ta\t1\n", "1:"),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t0\ta\t1\n",
                "2: bad UID",
            ),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\n",
                "2: expected 4",
            ),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\\x\t1\n",
                "2: bad escape",
            ),
        ] {
            let e = read_cache(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }
}
