//! Encoding helpers for the commands the client writes: quoted strings or literals, and
//! UID sets.

use std::fmt::Write as _;

/// True when `s` cannot travel as a quoted string (CR, LF, NUL or 8-bit bytes) and must
/// be sent as a literal.
pub fn needs_literal(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == b'\r' || c == b'\n' || c == 0 || c >= 0x80)
}

/// `s` as a quoted string, with `"` and `\` escaped. Only for strings that do not
/// [`needs_literal`].
pub fn quoted(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    out
}

/// A UID set with consecutive runs as ranges: `[1,2,3,5,7,8]` → `1:3,5,7:8`. The UIDs
/// are sorted and duplicates dropped first.
pub fn uid_ranges(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

/// A UID set as a plain comma list, in the given order, as Dovecot's imapc writes it.
pub fn uid_commas(uids: &[u32]) -> String {
    let mut out = String::new();
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{u}");
    }
    out
}
