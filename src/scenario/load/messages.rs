//! `messages:`: every message defined once, rendered to bytes (generated, raw or read
//! from a fixture file), with its per-protocol overrides checked; and the lookups the
//! views and events make by message id.

use std::collections::BTreeMap;
use std::path::Path;

use fake_servers::world::{ImapMessage, Pop3Message};
use serde_saphyr::Location;

use super::super::format::{MessageDef, OrderedMap, Spanned};
use super::super::generate::{self, Encoding, GeneratedSpec, LineEnding};
use super::{Cx, MAX_ID_LEN, MAX_MESSAGE_BYTES, MAX_TOTAL_BYTES};

/// One message of `messages:`, rendered.
pub(super) struct Msg<'a> {
    pub id: String,
    index: usize,
    def: &'a Spanned<MessageDef>,
    /// Where the message's key is, for errors about the message as a whole.
    pub key: Location,
    pub bytes: Vec<u8>,
    /// How override texts (imap.header, pop3.top) become bytes.
    line_ending: LineEnding,
    encoding: Encoding,
}

impl Msg<'_> {
    fn internal_date(&self) -> String {
        self.def
            .value
            .imap
            .as_ref()
            .and_then(|o| o.value.internal_date.as_ref())
            .map(|d| d.value.clone())
            .unwrap_or_else(|| generate::imap_internal_date(self.index))
    }

    fn flags(&self) -> Vec<String> {
        self.def
            .value
            .imap
            .as_ref()
            .map(|o| o.value.flags.iter().map(|f| f.value.clone()).collect())
            .unwrap_or_default()
    }

    fn override_bytes(&self, text: &str) -> Vec<u8> {
        // Encoding errors were reported when the message was read; fall back to UTF-8.
        let bytes =
            generate::encode(text, self.encoding).unwrap_or_else(|_| text.as_bytes().to_vec());
        generate::convert_line_endings(&bytes, self.line_ending)
    }

    /// The message as an honest IMAP server shows it, with its flags and date.
    pub fn honest_imap(&self) -> ImapMessage {
        let mut m = ImapMessage::honest(self.id.clone(), self.bytes.clone());
        m.flags = self.flags();
        m.internal_date = self.internal_date();
        m
    }

    pub fn apply_imap_overrides(&self, m: &mut ImapMessage) {
        if let Some(o) = &self.def.value.imap {
            if let Some(h) = &o.value.header {
                m.header = self.override_bytes(&h.value);
            }
            if let Some(s) = &o.value.rfc822_size {
                m.rfc822_size = Some(s.value);
            }
        }
    }

    pub fn apply_pop3_overrides(&self, m: &mut Pop3Message) {
        if let Some(o) = &self.def.value.pop3 {
            if let Some(t) = &o.value.top {
                m.top = Some(self.override_bytes(&t.value));
            }
            if let Some(s) = &o.value.list_size {
                m.list_size = Some(s.value);
            }
        }
    }

    /// The message's own UIDL (`pop3: { uidl: … }`), which wins over the template.
    pub fn uidl_override(&self) -> Option<&Spanned<String>> {
        self.def
            .value
            .pop3
            .as_ref()
            .and_then(|o| o.value.uidl.as_ref())
    }
}

/// The message ids a scenario defines, for lookups and "did you mean" lists.
pub(super) struct KnownIds(Vec<String>, std::collections::BTreeSet<String>);

impl KnownIds {
    pub fn has(&self, id: &str) -> bool {
        self.1.contains(id)
    }

    /// The error for a reference to an id that `messages:` does not define.
    pub fn unknown(&self, id: &str) -> String {
        if self.0.is_empty() {
            return format!("unknown message `{id}`: messages: defines none");
        }
        let mut list: Vec<&str> = self.0.iter().map(String::as_str).take(12).collect();
        if self.0.len() > 12 {
            list.push("…");
        }
        format!(
            "unknown message `{id}`{}: messages: defines {}",
            super::hint(id, self.0.iter().map(String::as_str)),
            list.join(", ")
        )
    }
}

/// The messages of a file: those that rendered, and every id it defines.
pub(super) struct Messages<'a> {
    /// Rendered messages in file order; a message with an error is left out.
    pub list: Vec<Msg<'a>>,
    by_id: BTreeMap<String, usize>,
    /// Every well-formed id counts as known, even if its message had an error (reported
    /// once, where it is defined), so references to it don't add "unknown message" noise.
    pub known: KnownIds,
}

impl<'a> Messages<'a> {
    /// Renders and checks every message of `messages:`.
    pub fn read(cx: &mut Cx<'_>, defs: &'a OrderedMap<String, Spanned<MessageDef>>) -> Self {
        let list = messages(cx, defs);
        let by_id = list
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let ids: Vec<String> = defs
            .0
            .iter()
            .map(|(k, _)| k.value.clone())
            .filter(|id| valid_id(id))
            .collect();
        let known = KnownIds(ids.clone(), ids.into_iter().collect());
        Messages { list, by_id, known }
    }

    /// The rendered message with this id, if it rendered.
    pub fn get(&self, id: &str) -> Option<&Msg<'a>> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn messages<'a>(
    cx: &mut Cx<'_>,
    defs: &'a OrderedMap<String, Spanned<MessageDef>>,
) -> Vec<Msg<'a>> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for (index, (key, def)) in defs.0.iter().enumerate() {
        let id = key.value.clone();
        if !valid_id(&id) {
            cx.err(
                key,
                format!(
                    "message id `{id}` must be 1-{MAX_ID_LEN} letters, digits, `.`, `_` or `-`, \
                     starting with a letter or digit"
                ),
            );
            continue;
        }
        let Some((bytes, line_ending, encoding)) = render(cx, &id, index, def) else {
            continue;
        };
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            cx.err(
                def,
                format!("the messages add up to more than {MAX_TOTAL_BYTES} bytes"),
            );
            return out;
        }
        let msg = Msg {
            id,
            index,
            def,
            key: key.referenced,
            bytes,
            line_ending,
            encoding,
        };
        check_overrides(cx, &msg);
        out.push(msg);
    }
    out
}

fn check_overrides(cx: &mut Cx<'_>, m: &Msg<'_>) {
    let d = &m.def.value;
    if let Some(o) = &d.imap {
        for flag in &o.value.flags {
            let f = flag.value.as_str();
            let body = f.strip_prefix('\\').unwrap_or(f);
            let ok = !body.is_empty()
                && body.bytes().all(|b| {
                    b.is_ascii_graphic()
                        && !matches!(b, b'(' | b')' | b'{' | b'"' | b'\\' | b'%' | b'*' | b']')
                });
            if !ok {
                cx.err(
                    flag,
                    format!("`{f}` is not an IMAP flag (e.g. \\Seen, \\Flagged, $Label1)"),
                );
            }
        }
        if let Some(d) = &o.value.internal_date
            && (d.value.trim().is_empty() || d.value.contains(['\r', '\n', '"']))
        {
            cx.err(d, "internal_date must look like 01-Mar-2024 08:00:00 +0000");
        }
        if let Some(h) = &o.value.header {
            check_text(cx, h, m.encoding);
        }
    }
    if let Some(o) = &d.pop3 {
        if let Some(u) = &o.value.uidl
            && u.value.contains(['\r', '\n', '\0'])
        {
            cx.err(
                u,
                "a UIDL can't hold CR, LF or NUL; model such a reply with a fault",
            );
        }
        if let Some(t) = &o.value.top {
            check_text(cx, t, m.encoding);
        }
    }
}

fn latin1_error(e: &generate::NotLatin1) -> String {
    format!(
        "character {:?} at offset {} is beyond U+00FF and can't be one latin1 byte",
        e.ch, e.offset
    )
}

fn check_text(cx: &mut Cx<'_>, text: &Spanned<String>, encoding: Encoding) {
    if let Err(e) = generate::encode(&text.value, encoding) {
        cx.err(text, latin1_error(&e));
    }
}

/// The fields only generated messages have, with their positions when written.
type GeneratedFields = [(&'static str, Option<Location>); 8];

/// A message's bytes, and how its override texts become bytes.
fn render(
    cx: &mut Cx<'_>,
    id: &str,
    index: usize,
    def: &Spanned<MessageDef>,
) -> Option<(Vec<u8>, LineEnding, Encoding)> {
    let d = &def.value;
    let generated_fields: GeneratedFields = [
        ("from", d.from.as_ref().map(|v| nullable_loc(v, def))),
        ("to", d.to.as_ref().map(|v| nullable_loc(v, def))),
        ("subject", d.subject.as_ref().map(|v| nullable_loc(v, def))),
        ("date", d.date.as_ref().map(|v| nullable_loc(v, def))),
        (
            "message_id",
            d.message_id.as_ref().map(|v| nullable_loc(v, def)),
        ),
        ("headers", d.headers.as_ref().map(|v| v.referenced)),
        ("body", d.body.as_ref().map(|v| v.referenced)),
        ("size", d.size.as_ref().map(|v| v.referenced)),
    ];
    let source = match (&d.raw, &d.file) {
        (Some(_), Some(f)) => {
            cx.err(f, "a message is raw or read from a file, not both");
            return None;
        }
        (Some(r), None) => Some(("raw", r)),
        (None, Some(f)) => Some(("file", f)),
        (None, None) => None,
    };
    match source {
        Some((kind, at)) => render_given(cx, d, kind, at, &generated_fields),
        None => render_generated(cx, id, index, def, &generated_fields),
    }
}

/// A raw or file message: its bytes as written, with the line ends it asks for.
fn render_given(
    cx: &mut Cx<'_>,
    d: &MessageDef,
    kind: &str,
    at: &Spanned<String>,
    generated_fields: &GeneratedFields,
) -> Option<(Vec<u8>, LineEnding, Encoding)> {
    let mut ok = true;
    for (field, loc) in generated_fields {
        if let Some(loc) = loc {
            cx.err_at(
                *loc,
                format!("{field} is for generated messages; a {kind} message is used as it is"),
            );
            ok = false;
        }
    }
    let Some(le) = &d.line_ending else {
        cx.err(
            at,
            format!(
                "a {kind} message needs line_ending: crlf, lf or keep (say how its line ends \
                 must be served)"
            ),
        );
        return None;
    };
    let encoding = d.encoding.as_ref().map_or(Encoding::Utf8, |e| e.value);
    let bytes = if kind == "raw" {
        match generate::encode(&at.value, encoding) {
            Ok(b) => b,
            Err(e) => {
                cx.err(at, latin1_error(&e));
                return None;
            }
        }
    } else {
        if let Some(e) = &d.encoding {
            cx.err(e, "encoding is for raw text; a file is read byte for byte");
            ok = false;
        }
        read_fixture(cx, at)?
    };
    if bytes.len() as u64 > MAX_MESSAGE_BYTES {
        cx.err(
            at,
            format!("the message is larger than {MAX_MESSAGE_BYTES} bytes"),
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some((
        generate::convert_line_endings(&bytes, le.value),
        le.value,
        encoding,
    ))
}

/// A generated message: Dovecot-like defaults with the fields the file gives.
fn render_generated(
    cx: &mut Cx<'_>,
    id: &str,
    index: usize,
    def: &Spanned<MessageDef>,
    generated_fields: &GeneratedFields,
) -> Option<(Vec<u8>, LineEnding, Encoding)> {
    let d = &def.value;
    if let Some(e) = &d.encoding {
        cx.err(e, "encoding is for raw text; generated messages are UTF-8");
        return None;
    }
    let mut spec = GeneratedSpec::defaults(id, index);
    let pick = |v: &Option<Option<Spanned<String>>>, default: Option<String>| match v {
        None => default,
        Some(None) => None,
        Some(Some(s)) => Some(s.value.clone()),
    };
    spec.from = pick(&d.from, spec.from.take());
    spec.to = pick(&d.to, spec.to.take());
    spec.subject = pick(&d.subject, spec.subject.take());
    spec.date = pick(&d.date, spec.date.take());
    spec.message_id = pick(&d.message_id, spec.message_id.take());
    if let Some(h) = &d.headers {
        spec.headers = h.value.iter().map(|s| s.value.clone()).collect();
    }
    if let Some(b) = &d.body {
        spec.body = b.value.clone();
    }
    if let Some(s) = &d.size {
        if s.value > MAX_MESSAGE_BYTES {
            cx.err(
                s,
                format!(
                    "size {} is larger than the limit of {MAX_MESSAGE_BYTES} bytes",
                    s.value
                ),
            );
            return None;
        }
        spec.size = Some(s.value);
    }
    if let Some(le) = &d.line_ending {
        if le.value == LineEnding::Keep {
            cx.err(
                le,
                "generated messages are CRLF or LF; keep is for raw text and files",
            );
            return None;
        }
        spec.line_ending = le.value;
    }
    match generate::render(&spec) {
        Ok(bytes) => Some((bytes, spec.line_ending, Encoding::Utf8)),
        Err(e) => {
            let at = match &e {
                generate::GenError::SizeTooSmall { .. } => d.size.as_ref().map(|s| s.referenced),
                generate::GenError::BlankLineInHeader { index } => d
                    .headers
                    .as_ref()
                    .and_then(|h| h.value.get(*index))
                    .map(|s| s.referenced),
                generate::GenError::LineBreakInField { field } => generated_fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .and_then(|(_, l)| *l),
            };
            cx.err_at(at.unwrap_or(def.referenced), format!("message `{id}`: {e}"));
            None
        }
    }
}

/// The position of a nullable field: the value's, or the message's for an explicit null.
fn nullable_loc<T, U>(v: &Option<Spanned<T>>, def: &Spanned<U>) -> Location {
    v.as_ref().map_or(def.referenced, |s| s.referenced)
}

fn read_fixture(cx: &mut Cx<'_>, at: &Spanned<String>) -> Option<Vec<u8>> {
    let rel = Path::new(&at.value);
    if rel.is_absolute() {
        cx.err(
            at,
            "file must be relative (to the scenario's folder or the scenarios root)",
        );
        return None;
    }
    let dir = cx.path.parent().unwrap_or(Path::new(""));
    let candidates = [dir.join(rel), cx.root.join(rel)];
    for c in &candidates {
        if c.exists() {
            // Only regular files inside the scenarios tree, once `..` and symbolic
            // links are resolved; then read no more than the limit (`/proc` files
            // and devices say 0 bytes in their metadata).
            let real = match crate::input::confined(c, cx.root) {
                Ok(real) => real,
                Err(e) => {
                    cx.err(at, e.to_string());
                    return None;
                }
            };
            return match crate::input::read_file(&real, crate::input::FIXTURE) {
                Ok(b) => Some(b),
                Err(e) => {
                    cx.err(at, e.to_string());
                    None
                }
            };
        }
    }
    let looked = if candidates[0] == candidates[1] {
        candidates[0].display().to_string()
    } else {
        format!(
            "{} and {}",
            candidates[0].display(),
            candidates[1].display()
        )
    };
    cx.err(at, format!("no such file: looked for {looked}"));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["m1", "A", "a.b_c-d", "9x"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "-a", "a b", "ä", "a/b", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
