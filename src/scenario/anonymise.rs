//! Anonymising messages for scenario files written from real mail (`scenario import
//! --anonymise`): every message becomes a synthetic one of exactly the same size whose
//! header block keeps the pop3-migration plugin's hash equality. Messages whose headers
//! hash equal (spec §4) get synthetic headers that hash equal; headers that hash
//! differently get synthetic headers that differ in the hashed text, so no two collide.
//! Nothing of the source's header or body text survives: subject, addresses,
//! Message-ID and body are all replaced.
//!
//! How the size is kept without touching the hash: the synthetic header is one field
//! `a:<class>` (short, so that tiny headers fit too) padded with trailing blanks (the hash drops trailing
//! whitespace, spec §4.3) and, past a line of 998 bytes, with lines of `x` that have no
//! colon (the filter drops those, spec §4.2 step 3). The body is filler lines of `x`.

use std::collections::HashMap;

use crate::matcher::header_hash::{HeaderHash, header_hash};

/// Longest line written (RFC 5322's 998 plus the line end).
const LINE: usize = 998;

/// Assigns synthetic messages, keeping hash classes across every call.
#[derive(Debug, Default)]
pub struct Anonymiser {
    classes: HashMap<HeaderHash, usize>,
}

/// Why a message can't be anonymised.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnonymiseError {
    #[error(
        "the header block is {have} bytes, fewer than the {need} a synthetic header of its hash class needs"
    )]
    HeaderTooShort { have: usize, need: usize },
}

impl Anonymiser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The class of `hash`: the number of distinct hashes seen before it first was.
    /// `scenario record` assigns classes to every header read of both servers with it.
    pub fn class_of(&mut self, hash: HeaderHash) -> usize {
        let next = self.classes.len();
        *self.classes.entry(hash).or_insert(next)
    }

    /// How many distinct header hashes were seen.
    pub fn classes(&self) -> usize {
        self.classes.len()
    }

    /// A synthetic message of `raw.len()` bytes whose header hashes equal to that of
    /// every earlier message whose header hashed equal to `raw`'s, and different from
    /// every other. A message without an end-of-header blank line stays without one
    /// (the hash then covers the whole message, spec §4.4).
    pub fn message(&mut self, raw: &[u8]) -> Result<Vec<u8>, AnonymiseError> {
        let class = self.class_of(header_hash(raw));
        let crlf = memchr::memmem::find(raw, b"\r\n").is_some();
        let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let header_len = header_block_len(raw);
        let mut out = synthetic_header(
            class,
            header_len.unwrap_or(raw.len()),
            nl,
            header_len.is_some(),
        )?;
        if header_len.is_some() {
            let n = raw.len() - out.len();
            filler(&mut out, n, nl);
        }
        debug_assert_eq!(out.len(), raw.len());
        Ok(out)
    }
}

/// The length of the header block including its blank line, or None without one.
pub fn header_block_len(raw: &[u8]) -> Option<usize> {
    if raw.starts_with(b"\r\n") {
        return Some(2);
    }
    if raw.starts_with(b"\n") {
        return Some(1);
    }
    let lf = memchr::memmem::find(raw, b"\n\n").map(|i| i + 2);
    let crlf = memchr::memmem::find(raw, b"\n\r\n").map(|i| i + 3);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A header block of exactly `len` bytes in hash class `class`, ending with a blank line
/// when `eoh`.
pub fn synthetic_header(
    class: usize,
    len: usize,
    nl: &[u8],
    eoh: bool,
) -> Result<Vec<u8>, AnonymiseError> {
    let field = format!("a:{class}");
    let tail = if eoh { 2 * nl.len() } else { nl.len() };
    let need = field.len() + tail;
    if len < need {
        return Err(AnonymiseError::HeaderTooShort { have: len, need });
    }
    let mut out = field.into_bytes();
    let pad = len - need;
    // Trailing blanks on the field, up to a full line; the rest as colon-less lines of
    // at most a full line each, at least one `x` plus the line end.
    let min_line = 1 + nl.len();
    let mut blanks = pad.min(LINE - nl.len() - out.len());
    let mut rest = pad - blanks;
    if rest > 0 && rest < min_line {
        blanks -= min_line;
        rest += min_line;
    }
    out.resize(out.len() + blanks, b' ');
    out.extend_from_slice(nl);
    let lines = rest.div_ceil(LINE);
    for i in 0..lines {
        // Spread `rest` evenly: every line is rest/lines or one more.
        let total = rest / lines + usize::from(i < rest % lines);
        out.extend(std::iter::repeat_n(b'x', total - nl.len()));
        out.extend_from_slice(nl);
    }
    if eoh {
        out.extend_from_slice(nl);
    }
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// Appends `n` bytes of body: lines of `x`, the last one possibly without a line end.
pub fn filler(out: &mut Vec<u8>, mut n: usize, nl: &[u8]) {
    while n > 0 {
        if n <= nl.len() {
            out.extend(std::iter::repeat_n(b'x', n));
            return;
        }
        let take = (n - nl.len()).min(76);
        out.extend(std::iter::repeat_n(b'x', take));
        out.extend_from_slice(nl);
        n -= take + nl.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(header: &str, body_len: usize) -> Vec<u8> {
        let mut m = header.as_bytes().to_vec();
        m.extend(std::iter::repeat_n(b'b', body_len));
        m
    }

    #[test]
    fn sizes_and_hash_classes_are_kept() {
        let mut a = Anonymiser::new();
        let inputs = [
            msg("Subject: Lunch\r\nFrom: a@b.example\r\n\r\n", 10),
            // Same hash as the first (trailing blanks are not hashed), other size.
            msg("Subject: Lunch   \r\nFrom: a@b.example\r\n\r\n", 3000),
            msg("Subject: Lunch?\r\nFrom: a@b.example\r\n\r\n", 10),
            msg(&format!("Subject: {}\r\n\r\n", "y".repeat(5000)), 0),
            msg("a: b\nc: d\n\n", 1),
            msg("Subject: no blank line\r\nX: y\r\n", 0),
        ];
        let outs: Vec<Vec<u8>> = inputs.iter().map(|m| a.message(m).unwrap()).collect();
        for (i, o) in inputs.iter().zip(&outs) {
            assert_eq!(i.len(), o.len());
            assert_eq!(header_hash(i).eoh, header_hash(o).eoh);
            assert!(memchr::memmem::find(o, b"Lunch").is_none());
        }
        for x in 0..inputs.len() {
            for y in 0..inputs.len() {
                assert_eq!(
                    header_hash(&inputs[x]) == header_hash(&inputs[y]),
                    header_hash(&outs[x]) == header_hash(&outs[y]),
                    "{x} {y}"
                );
            }
        }
    }

    #[test]
    fn every_header_length_is_reachable() {
        for len in 7..2100 {
            for nl in [&b"\r\n"[..], b"\n"] {
                let h = synthetic_header(3, len, nl, true).unwrap();
                assert_eq!(h.len(), len);
                assert_eq!(header_block_len(&h), Some(len), "{len}");
                assert!(h.split(|&b| b == b'\n').all(|l| l.len() < LINE));
            }
        }
        assert!(synthetic_header(3, 6, b"\r\n", true).is_err());
    }
}
