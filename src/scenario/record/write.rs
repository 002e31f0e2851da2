//! The scenario file of a [`Recording`]: every IMAP message and every POP3 entry as a
//! synthetic message of the same sizes whose header reads keep the plugin's hash
//! equality across both servers (one class per distinct hash, [`Anonymiser::class_of`]);
//! the folder tree, UIDs, UIDVALIDITY, POP3 order and UIDLs as recorded; what the
//! servers did differently from the message as per-message overrides, and what every
//! message showed as the scenario's quirks and server knobs.
//!
//! Which IMAP message and which POP3 entry are one message (the scenario's ground truth)
//! is read from their header bytes: the same bytes are the same message (the k-th POP3
//! entry of equal headers with the k-th IMAP message, in LIST and UID order). That
//! decides only what the report calls right or wrong; what Dovecot stores depends only
//! on the sizes and hashes, which are kept either way.
//!
//! A message whose bytes are all CRLF lines with a blank line after the header is
//! written as a generated message (`headers:` the synthetic header, `size:` its size:
//! the file stays small however big the mail is); any other one is written `raw:`.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use fake_servers::generate::{self, GeneratedSpec, LineEnding};
use fake_servers::profiles::{estimated_size, round_kib};

use super::{Full, ImapMessage, Pop3Entry, Recording, Shape};
use crate::matcher::header_hash::HeaderHash;
use crate::scenario::anonymise::{AnonymiseError, Anonymiser, filler, synthetic_header};
use crate::scenario::import::quote;

/// Longest header line written (RFC 5322's 998 with the line end).
const LINE: usize = 998;
/// `X-Message-Flag:` and CRLF: the shortest such line.
const XMF_MIN: u64 = 17;

/// How to write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Replace every UIDL by a token of the same length and character classes, equal
    /// where the UIDLs are equal.
    pub anonymise_uidls: bool,
    /// What was recorded and when, for the comment at the top (never a password).
    pub what: String,
}

/// Why a recording can't be written as a scenario.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "folder {name:?}: a scenario's mailbox names can't hold control characters, `\"` or `\\`"
    )]
    FolderName { name: String },
    #[error("{what}: {len} bytes is too small for a synthetic message of its hash class")]
    TooSmall { what: String, len: u64 },
}

/// The LIST-size habit every POP3 entry showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListQuirk {
    Lf,
    Estimate,
    RoundKib,
}

impl ListQuirk {
    fn name(self) -> &'static str {
        match self {
            ListQuirk::Lf => "pop3.list_size.lf",
            ListQuirk::Estimate => "pop3.list_size.estimate",
            ListQuirk::RoundKib => "pop3.list_size.round_kib",
        }
    }

    fn apply(self, size: u64, crlfs: u64) -> u64 {
        match self {
            ListQuirk::Lf => size - crlfs,
            ListQuirk::Estimate => estimated_size(size),
            ListQuirk::RoundKib => round_kib(size),
        }
    }
}

/// The quirks observed.
#[derive(Clone, Copy, Debug, Default)]
struct Quirks {
    top_no_blank_line: bool,
    list: Option<ListQuirk>,
    rfc822_lf: bool,
}

/// One message of the file: the bytes it stands for and the views that show it.
struct Msg<'a> {
    id: String,
    /// The header block and sizes the synthetic message has.
    shape: Shape,
    size: u64,
    /// The size 2.3's default imapc must measure (IMAP messages).
    bare: u64,
    clean_crlf: bool,
    imap: Option<&'a ImapMessage>,
    pop3: Option<&'a Pop3Entry>,
}

/// How a message's bytes are written.
enum Form {
    /// Generated: the header lines (without line ends) and the total size; with the
    /// generator's own From and To where the class has them ([`Classes`]) and the
    /// default body where it fits, which keeps the file to
    /// about 20 YAML nodes a message (the loader reads at most 250,000).
    Generated {
        headers: Vec<Vec<u8>>,
        size: u64,
        addresses: bool,
        /// The message id, when the default body (which names it) is used.
        body_of: Option<String>,
    },
    Raw(Vec<u8>),
}

impl Form {
    /// The bytes the fake servers serve for it.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Form::Raw(b) => b.clone(),
            Form::Generated {
                headers,
                size,
                addresses,
                body_of,
            } => generate::render(&generated(headers, *size, *addresses, body_of.as_deref()))
                .expect("the synthetic header fits its size"),
        }
    }
}

/// The bytes the default From and To lines take.
fn address_lines() -> u64 {
    (b"From: \r\nTo: \r\n".len() + generate::DEFAULT_FROM.len() + generate::DEFAULT_TO.len()) as u64
}

/// The default body of message `id` (CRLF).
fn default_body(id: &str) -> u64 {
    format!("This is message {id}.\r\n").len() as u64
}

fn generated(
    headers: &[Vec<u8>],
    size: u64,
    addresses: bool,
    body_of: Option<&str>,
) -> GeneratedSpec {
    let defaults = GeneratedSpec::defaults(body_of.unwrap_or_default(), 0);
    GeneratedSpec {
        from: addresses.then_some(defaults.from).flatten(),
        to: addresses.then_some(defaults.to).flatten(),
        subject: None,
        date: None,
        message_id: None,
        headers: headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect(),
        body: if body_of.is_some() {
            defaults.body
        } else {
            String::new()
        },
        size: Some(size),
        line_ending: LineEnding::Crlf,
    }
}

fn nl(crlf: bool) -> &'static [u8] {
    if crlf { b"\r\n" } else { b"\n" }
}

/// The hash classes of a recording, and which of them carry the generator's From and
/// To lines. Those lines are the same in every message, so a class has them in every
/// stand-in or in none: only where its shortest header has room for them.
struct Classes {
    anon: Anonymiser,
    /// Bytes of the shortest header read of each class.
    shortest: HashMap<usize, usize>,
}

impl Classes {
    fn class(&mut self, hash: HeaderHash) -> usize {
        self.anon.class_of(hash)
    }

    fn note(&mut self, hash: HeaderHash, len: usize) {
        let c = self.class(hash);
        let e = self.shortest.entry(c).or_insert(len);
        *e = (*e).min(len);
    }

    fn addressed(&self, class: usize) -> bool {
        self.shortest
            .get(&class)
            .is_some_and(|&l| l as u64 >= address_lines() + 16)
    }

    fn count(&self) -> usize {
        self.anon.classes()
    }

    /// A synthetic header of `len` bytes in `hash`'s class.
    fn header(
        &mut self,
        hash: HeaderHash,
        len: usize,
        crlf: bool,
        eoh: bool,
    ) -> Result<Vec<u8>, AnonymiseError> {
        let class = self.class(hash);
        let nl = nl(crlf);
        let mut out = Vec::new();
        if self.addressed(class) {
            for (name, value) in [
                ("From", generate::DEFAULT_FROM),
                ("To", generate::DEFAULT_TO),
            ] {
                out.extend_from_slice(format!("{name}: {value}").as_bytes());
                out.extend_from_slice(nl);
            }
        }
        let rest = synthetic_header(class, len.saturating_sub(out.len()), nl, eoh)?;
        out.extend(rest);
        Ok(out)
    }
}

/// The synthetic text of a header read: `len` bytes (or the least its class needs).
fn header_text(classes: &mut Classes, s: &Shape) -> Vec<u8> {
    classes
        .header(s.hash, s.len, s.crlf, s.eoh())
        .unwrap_or_else(|e| {
            let AnonymiseError::HeaderTooShort { need, .. } = e;
            classes
                .header(s.hash, need, s.crlf, s.eoh())
                .expect("the least length fits")
        })
}

/// `X-Message-Flag:` lines of `len` bytes in all (each ending in CRLF, without it
/// here): what 2.3's default imapc leaves out of its size and the hash skips.
fn xmf_lines(len: u64) -> Vec<Vec<u8>> {
    let mut rest = len as usize;
    let mut out = Vec::new();
    let mut first = true;
    while rest > 0 {
        let mut take = rest.min(LINE);
        // A continuation line is at least a blank and CRLF.
        if (1..3).contains(&(rest - take)) {
            take -= 3;
        }
        let mut line: Vec<u8> = if first {
            b"X-Message-Flag:".to_vec()
        } else {
            b" ".to_vec()
        };
        line.resize(take - 2, b'x');
        out.push(line);
        rest -= take;
        first = false;
    }
    out
}

/// The form of `m`: generated where its bytes allow, raw otherwise.
fn form(classes: &mut Classes, m: &Msg<'_>) -> Result<Form, WriteError> {
    let class = classes.class(m.shape.hash);
    let xmf = m.size.saturating_sub(m.bare);
    let generated_ok = m.clean_crlf
        && m.shape.eoh()
        && m.shape.crlf
        && m.bare <= m.size
        && (xmf == 0 || xmf >= XMF_MIN);
    if generated_ok && xmf < m.shape.len as u64 {
        let len = m.shape.len as u64 - xmf;
        let addresses = classes.addressed(class);
        let own = len - if addresses { address_lines() } else { 0 };
        if let Ok(h) = synthetic_header(class, own as usize, b"\r\n", true) {
            let mut headers: Vec<Vec<u8>> = h[..h.len() - 4]
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                .collect();
            headers.extend(xmf_lines(xmf));
            let body_of =
                (m.size - m.shape.len as u64 >= default_body(&m.id)).then(|| m.id.clone());
            return Ok(Form::Generated {
                headers,
                size: m.size,
                addresses,
                body_of,
            });
        }
    }
    let size = m.size as usize;
    let hlen = if m.shape.eoh() { m.shape.len } else { size };
    let mut out = classes
        .header(m.shape.hash, hlen.min(size), m.shape.crlf, m.shape.eoh())
        .map_err(|_| WriteError::TooSmall {
            what: format!("message {}", m.id),
            len: m.size,
        })?;
    let rest = size - out.len();
    filler(&mut out, rest, nl(m.shape.crlf));
    Ok(Form::Raw(out))
}

/// Pairs POP3 entries with IMAP messages of the same header bytes: entry index → index
/// into `flat`. A pair must be one message to Dovecot too: where pop3c reads the whole
/// message, its hash must be the IMAP message's.
fn pair(flat: &[&ImapMessage], pop3: &[Pop3Entry]) -> Vec<Option<usize>> {
    let mut by_ident: HashMap<[u8; 20], Vec<usize>> = HashMap::new();
    for (i, m) in flat.iter().enumerate() {
        by_ident.entry(m.full.ident).or_default().push(i);
    }
    pop3.iter()
        .map(|p| {
            let list = by_ident.get_mut(&p.ident)?;
            let at = list.iter().position(|&i| {
                p.full
                    .as_ref()
                    .is_none_or(|f| f.shape.hash == flat[i].full.shape.hash)
            })?;
            Some(list.remove(at))
        })
        .collect()
}

/// The quirks every message showed.
fn observe(rec: &Recording, flat: &[&ImapMessage], pairs: &[Option<usize>]) -> Quirks {
    let top_no_blank_line = rec.pop3_caps.top
        && !rec.pop3.is_empty()
        && rec
            .pop3
            .iter()
            .all(|p| !p.header.eoh() && p.full.as_ref().is_some_and(|f| f.shape.eoh()));
    // The real message behind each POP3 entry: (size, CRLFs), where known.
    let real: Vec<Option<(u64, u64)>> = rec
        .pop3
        .iter()
        .zip(pairs)
        .map(|(p, pair)| {
            pair.map(|i| &flat[i].full)
                .or(p.full.as_ref())
                .map(|f| (f.size, f.crlfs))
        })
        .collect();
    let list = [ListQuirk::Estimate, ListQuirk::RoundKib, ListQuirk::Lf]
        .into_iter()
        .find(|q| {
            !rec.pop3.is_empty()
                && rec.pop3.iter().zip(&real).all(|(p, r)| {
                    r.is_some_and(|(size, crlfs)| q.apply(size, crlfs) == p.list_size)
                })
                && rec
                    .pop3
                    .iter()
                    .zip(&real)
                    .any(|(p, r)| r.is_some_and(|(size, _)| size != p.list_size))
        });
    let rfc822_lf = !flat.is_empty()
        && flat
            .iter()
            .all(|m| m.rfc822_size == Some(m.full.size - m.full.crlfs))
        && flat.iter().any(|m| m.full.crlfs > 0);
    Quirks {
        top_no_blank_line,
        list,
        rfc822_lf,
    }
}

/// Each distinct UIDL's token: the same length, digits for digits and letters for
/// letters of the same case, everything else kept; distinct UIDLs get distinct tokens.
fn uidl_tokens(pop3: &[Pop3Entry]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut out: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut used: BTreeSet<Vec<u8>> = BTreeSet::new();
    for u in pop3.iter().filter_map(|p| p.uidl.as_ref()) {
        if out.contains_key(u) {
            continue;
        }
        let k = out.len() as u64;
        let mut salt = 0u64;
        let token = loop {
            let t: Vec<u8> = u
                .iter()
                .enumerate()
                .map(|(j, &b)| {
                    let h = mix(k << 24 ^ salt << 48 ^ j as u64);
                    match b {
                        b'0'..=b'9' => b'0' + (h % 10) as u8,
                        b'a'..=b'z' => b'a' + (h % 26) as u8,
                        b'A'..=b'Z' => b'A' + (h % 26) as u8,
                        other => other,
                    }
                })
                .collect();
            if !used.contains(&t) {
                break t;
            }
            salt += 1;
        };
        used.insert(token.clone());
        out.insert(u.clone(), token);
    }
    out
}

/// splitmix64: a fixed, well-spread mixing of a counter.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UIDL as the file writes it: up to a NUL (where pop3c stops), as text.
fn uidl_text(u: &[u8]) -> (String, bool) {
    let u = u.split(|&b| b == 0).next().unwrap_or_default();
    match std::str::from_utf8(u) {
        Ok(s) => (s.to_string(), true),
        Err(_) => (String::from_utf8_lossy(u).into_owned(), false),
    }
}

/// Every header read's class, numbered in reading order (IMAP, then POP3), so that the
/// file is the same for the same account; and each class's shortest header.
fn classes_of(rec: &Recording) -> Classes {
    let mut classes = Classes {
        anon: Anonymiser::new(),
        shortest: HashMap::new(),
    };
    for m in rec.folders.iter().flat_map(|f| &f.messages) {
        classes.note(m.header.hash, m.header.len);
        // The X-Message-Flag lines a generated stand-in holds are not the class's.
        let xmf = m.full.size.saturating_sub(m.full.bare) as usize;
        classes.note(m.full.shape.hash, m.full.shape.len.saturating_sub(xmf));
    }
    for p in &rec.pop3 {
        classes.note(p.header.hash, p.header.len);
        if let Some(f) = &p.full {
            classes.note(f.shape.hash, f.shape.len);
        }
    }
    classes
}

/// The scenario file's text.
pub fn write_scenario(rec: &Recording, opts: &WriteOptions) -> Result<String, WriteError> {
    for f in &rec.folders {
        if f.name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(WriteError::FolderName {
                name: f.name.clone(),
            });
        }
    }
    let mut classes = classes_of(rec);
    let flat: Vec<&ImapMessage> = rec.folders.iter().flat_map(|f| &f.messages).collect();
    let pairs = pair(&flat, &rec.pop3);
    let quirks = observe(rec, &flat, &pairs);
    let mut pop3_of: Vec<Option<&Pop3Entry>> = vec![None; flat.len()];
    for (p, i) in rec.pop3.iter().zip(&pairs) {
        if let Some(i) = i {
            pop3_of[*i] = Some(p);
        }
    }
    let mut msgs: Vec<Msg<'_>> = flat
        .iter()
        .zip(&pop3_of)
        .enumerate()
        .map(|(k, (m, p))| Msg {
            id: format!("i{}", k + 1),
            shape: m.full.shape,
            size: m.full.size,
            bare: m.full.bare,
            clean_crlf: m.full.clean_crlf,
            imap: Some(m),
            pop3: *p,
        })
        .collect();
    let mut pop3_ids = Vec::with_capacity(rec.pop3.len());
    for (p, i) in rec.pop3.iter().zip(&pairs) {
        match i {
            Some(i) => pop3_ids.push(msgs[*i].id.clone()),
            None => {
                let id = format!("p{}", p.number);
                let full: Option<&Full> = p.full.as_ref();
                msgs.push(Msg {
                    id: id.clone(),
                    shape: full.map_or(p.header, |f| f.shape),
                    size: full.map_or(p.list_size, |f| f.size),
                    // Not in IMAP: nothing measures it the bare way.
                    bare: full.map_or(p.list_size, |f| f.size),
                    clean_crlf: full.map_or(p.header.crlf, |f| f.clean_crlf),
                    imap: None,
                    pop3: Some(p),
                });
                pop3_ids.push(id);
            }
        }
    }
    let tokens = opts.anonymise_uidls.then(|| uidl_tokens(&rec.pop3));

    let mut o = String::new();
    header_comment(&mut o, rec, opts, &classes, quirks);
    o.push_str("description: \"A provider recorded by uidlmap record\"\n");
    if rec.pop3_broken_pipelining {
        // As scenarios/faults/broken-pipelining-bare.yaml: with the docs profile pop3c
        // pipelines TOPs and hangs on the lost ones, which is not predicted.
        o.push_str(
            "# The POP3 server loses pipelined commands: the prediction holds for imapc bare only.\n\
             imapc: bare\n",
        );
    }
    o.push_str("messages:\n");
    let mut notes = Vec::new();
    for m in &msgs {
        write_message(
            &mut o,
            &mut classes,
            m,
            rec,
            quirks,
            tokens.as_ref(),
            &mut notes,
        )?;
    }
    write_imap(&mut o, rec, &msgs);
    o.push_str("pop3:\n");
    let _ = writeln!(o, "  messages: [{}]", pop3_ids.join(", "));
    let uidls: Vec<&Vec<u8>> = rec.pop3.iter().filter_map(|p| p.uidl.as_ref()).collect();
    if uidls.iter().collect::<BTreeSet<_>>().len() < uidls.len() {
        o.push_str("  allow_duplicate_uidls: yes\n");
    }
    let mut q = Vec::new();
    if quirks.rfc822_lf {
        q.push("imap.rfc822_size.lf");
    }
    if quirks.top_no_blank_line {
        q.push("pop3.top.no_blank_line");
    }
    if let Some(l) = quirks.list {
        q.push(l.name());
    }
    if !q.is_empty() {
        let _ = writeln!(o, "quirks: [{}]", q.join(", "));
    }
    write_knobs(&mut o, rec);
    for n in notes {
        let _ = writeln!(o, "# {n}");
    }
    o.push_str("# Review: `uidlmap run` on this file prints what Dovecot is predicted to do.\n");
    o.push_str("expect: { outcome: success }\n");
    Ok(o)
}

fn header_comment(
    o: &mut String,
    rec: &Recording,
    opts: &WriteOptions,
    classes: &Classes,
    quirks: Quirks,
) {
    let imap: usize = rec.folders.iter().map(|f| f.messages.len()).sum();
    for line in opts.what.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(
        o,
        "# {imap} IMAP messages in {} folders, {} POP3 entries, {} distinct header hashes.",
        rec.folders.len(),
        rec.pop3.len(),
        classes.count()
    );
    o.push_str(
        "# Every header is synthetic (`a:<class>` padded with what the plugin's hash ignores) and\n\
         # every body filler, of the recorded sizes: headers that hash equal still do, no two that\n\
         # differ collide. Message ids: iN the IMAP messages in LIST and UID order, pN the POP3\n\
         # entries no IMAP message has the same header bytes as.\n",
    );
    let _ = writeln!(
        o,
        "# UIDLs: {}.",
        if opts.anonymise_uidls {
            "replaced by tokens of the same length and characters classes, equal where they were equal"
        } else {
            "as the provider gave them"
        }
    );
    let _ = writeln!(
        o,
        "# IMAP capabilities before login: {}; after: {}.",
        rec.imap_caps.before_login.join(" "),
        rec.imap_caps.words.join(" ")
    );
    let _ = writeln!(
        o,
        "# POP3 capabilities after login: {}.",
        if rec.pop3_caps.answered {
            rec.pop3_caps.lines.join(", ")
        } else {
            "CAPA refused".to_string()
        }
    );
    if quirks.list == Some(ListQuirk::Lf) || quirks.rfc822_lf {
        o.push_str(
            "# Sizes counted with LF line ends: the quirk says it, and `list_size`/`rfc822_size`\n\
             # give the recorded value where the synthetic message's line count gives another.\n",
        );
    }
}

/// One entry of `messages:`.
fn write_message(
    o: &mut String,
    classes: &mut Classes,
    m: &Msg<'_>,
    rec: &Recording,
    quirks: Quirks,
    tokens: Option<&HashMap<Vec<u8>, Vec<u8>>>,
    notes: &mut Vec<String>,
) -> Result<(), WriteError> {
    let form = form(classes, m)?;
    let needs_bytes = (quirks.rfc822_lf && m.imap.is_some())
        || (quirks.list == Some(ListQuirk::Lf) && m.pop3.is_some());
    let crlfs = if needs_bytes {
        let b = form.bytes();
        memchr::memmem::find_iter(&b, b"\r\n").count() as u64
    } else {
        0
    };
    let mut fields: Vec<String> = Vec::new();
    match &form {
        Form::Generated {
            headers,
            size,
            addresses,
            body_of,
        } => {
            let mut f = String::new();
            if !addresses {
                f.push_str("from: ~, to: ~, ");
            }
            f.push_str("subject: ~, date: ~, message_id: ~");
            fields.push(f);
            let hs: Vec<String> = headers.iter().map(|h| quote(h).0).collect();
            fields.push(format!("headers: [{}]", hs.join(", ")));
            fields.push(match body_of {
                Some(_) => format!("size: {size}"),
                None => format!("body: \"\", size: {size}"),
            });
        }
        Form::Raw(bytes) => {
            let (text, latin1) = quote(bytes);
            fields.push(format!("raw: {text}"));
            fields.push("line_ending: keep".into());
            if latin1 {
                fields.push("encoding: latin1".into());
            }
            if m.imap.is_some() {
                let bare = crate::migrate::bare_size(bytes);
                if bare != m.bare {
                    notes.push(format!(
                        "{}: 2.3's default imapc measures {} bytes here, {} at the source",
                        m.id, bare, m.bare
                    ));
                }
            }
        }
    }
    let mut imap = Vec::new();
    if let Some(i) = m.imap {
        let default = if quirks.rfc822_lf {
            m.size - crlfs
        } else {
            m.size
        };
        match i.rfc822_size {
            Some(r) if r != default => imap.push(format!("rfc822_size: {r}")),
            Some(_) => {}
            None => notes.push(format!("{}: the source sent no RFC822.SIZE", m.id)),
        }
        if i.header.hash != m.shape.hash {
            let text = header_text(classes, &i.header);
            imap.push(format!("header: {}", quote(&text).0));
        }
    }
    let mut pop3 = Vec::new();
    if let Some(p) = m.pop3 {
        if let Some(u) = &p.uidl {
            let u = tokens.and_then(|t| t.get(u)).unwrap_or(u);
            let (text, exact) = uidl_text(u);
            if !exact {
                notes.push(format!(
                    "{}: the UIDL is not UTF-8; written with replacement characters",
                    m.id
                ));
            }
            pop3.push(format!("uidl: {}", quote(text.as_bytes()).0));
        }
        let default = match quirks.list {
            Some(ListQuirk::Lf) => m.size - crlfs,
            Some(q) => q.apply(m.size, 0),
            None => m.size,
        };
        if p.list_size != default {
            pop3.push(format!("list_size: {}", p.list_size));
        }
        let default_eoh = !quirks.top_no_blank_line;
        let top_served = rec.pop3_caps.top;
        if top_served
            && (p.header.eoh() != default_eoh || (p.header.eoh() && p.header.hash != m.shape.hash))
        {
            let text = header_text(classes, &p.header);
            pop3.push(format!("top: {}", quote(&text).0));
        }
    }
    if !imap.is_empty() {
        fields.push(format!("imap: {{ {} }}", imap.join(", ")));
    }
    if !pop3.is_empty() {
        fields.push(format!("pop3: {{ {} }}", pop3.join(", ")));
    }
    let _ = writeln!(o, "  {}: {{ {} }}", m.id, fields.join(",\n      "));
    Ok(())
}

fn write_imap(o: &mut String, rec: &Recording, msgs: &[Msg<'_>]) {
    o.push_str("imap:\n");
    if let Some(sep) = rec.separator {
        let _ = writeln!(o, "  separator: {}", quote(sep.to_string().as_bytes()).0);
    }
    o.push_str("  mailboxes:\n");
    if !rec.folders.iter().any(|f| f.name == "INBOX") {
        o.push_str("    INBOX: []\n");
    }
    let mut next = 0;
    for f in &rec.folders {
        let ids: Vec<&str> = msgs[next..next + f.messages.len()]
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        next += f.messages.len();
        let uids: Vec<String> = f.messages.iter().map(|m| m.uid.to_string()).collect();
        let _ = writeln!(o, "    {}:", quote(f.name.as_bytes()).0);
        let _ = writeln!(o, "      messages: [{}]", ids.join(", "));
        let first = f.messages.first().map_or(1, |m| m.uid);
        let contiguous = f.messages.iter().zip(first..).all(|(m, u)| m.uid == u);
        if contiguous && first != 1 {
            let _ = writeln!(o, "      first_uid: {first}");
        } else if !contiguous {
            let _ = writeln!(o, "      uids: [{}]", uids.join(", "));
        }
        let _ = writeln!(o, "      uidvalidity: {}", f.uidvalidity);
        let last = f.messages.last().map_or(0, |m| m.uid);
        if let Some(n) = f.uidnext.filter(|&n| n > last + 1) {
            let _ = writeln!(o, "      uidnext: {n}");
        }
    }
}

/// `server:`: the knobs where the source differs from the fake servers' defaults.
fn write_knobs(o: &mut String, rec: &Recording) {
    let c = &rec.pop3_caps;
    let mut pop3 = Vec::new();
    let knob = |v: &mut Vec<String>, name: &str, value: bool, default: bool| {
        if value != default {
            v.push(format!("{name}: {value}"));
        }
    };
    knob(&mut pop3, "capa", c.answered, true);
    if c.answered {
        knob(&mut pop3, "top", c.top, true);
        knob(&mut pop3, "uidl", c.uidl, true);
        knob(&mut pop3, "pipelining", c.pipelining, true);
        knob(
            &mut pop3,
            "broken_pipelining",
            rec.pop3_broken_pipelining,
            false,
        );
        knob(&mut pop3, "resp_codes", c.resp_codes, true);
    }
    knob(&mut pop3, "stls", rec.pop3_stls, false);
    let i = &rec.imap_caps;
    let has = |words: &[String], w: &str| words.iter().any(|x| x.eq_ignore_ascii_case(w));
    let mut imap = Vec::new();
    knob(&mut imap, "greeting_capability", i.in_greeting, true);
    knob(&mut imap, "literal_plus", has(&i.words, "LITERAL+"), true);
    knob(&mut imap, "sasl_ir", has(&i.before_login, "SASL-IR"), true);
    knob(
        &mut imap,
        "auth_plain",
        has(&i.before_login, "AUTH=PLAIN"),
        true,
    );
    knob(&mut imap, "savedate", has(&i.words, "SAVEDATE"), false);
    knob(
        &mut imap,
        "starttls",
        has(&i.before_login, "STARTTLS"),
        false,
    );
    knob(&mut imap, "uidnext_on_select", i.uidnext_on_select, true);
    // Only the words the fake server knows how to serve; the rest are in the comment.
    if has(&i.words, "X-GM-EXT-1") {
        imap.push("extra_capabilities: [X-GM-EXT-1]".into());
    }
    if pop3.is_empty() && imap.is_empty() {
        return;
    }
    o.push_str("server:\n");
    if !pop3.is_empty() {
        let _ = writeln!(o, "  pop3: {{ {} }}", pop3.join(", "));
    }
    if !imap.is_empty() {
        let _ = writeln!(o, "  imap: {{ {} }}", imap.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::header_hash::header_hash;

    #[test]
    fn xmf_lines_have_the_asked_length() {
        for len in [17u64, 18, 100, 998, 999, 1000, 1001, 2500] {
            let lines = xmf_lines(len);
            let total: usize = lines.iter().map(|l| l.len() + 2).sum();
            assert_eq!(total as u64, len, "{len}");
            assert!(lines.iter().all(|l| l.len() + 2 <= LINE));
            let mut msg: Vec<u8> = b"a: b\r\n".to_vec();
            for l in &lines {
                msg.extend_from_slice(l);
                msg.extend_from_slice(b"\r\n");
            }
            msg.extend_from_slice(b"\r\nbody\r\n");
            assert_eq!(crate::migrate::bare_size(&msg), msg.len() as u64 - len);
            assert_eq!(
                header_hash(&msg),
                header_hash(b"a: b\r\n\r\nbody\r\n"),
                "{len}"
            );
        }
    }

    #[test]
    fn a_class_has_the_address_lines_in_every_stand_in_or_in_none() {
        let long = header_hash(b"Subject: a long header\r\n\r\n");
        let short = header_hash(b"S: x\r\n\r\n");
        let mut c = Classes {
            anon: Anonymiser::new(),
            shortest: HashMap::new(),
        };
        c.note(long, 300);
        c.note(long, 120);
        c.note(short, 300);
        c.note(short, 30);
        for (hash, lens) in [(long, [120, 300]), (short, [30, 300])] {
            let a = c.header(hash, lens[0], true, true).unwrap();
            let b = c.header(hash, lens[1], false, true).unwrap();
            assert_eq!((a.len(), b.len()), (lens[0], lens[1]));
            assert_eq!(header_hash(&a), header_hash(&b));
            let from = memchr::memmem::find(&a, b"From:").is_some();
            assert_eq!(from, hash == long);
            assert_eq!(from, memchr::memmem::find(&b, b"From:").is_some());
        }
        assert_ne!(
            header_hash(&c.header(long, 300, true, true).unwrap()),
            header_hash(&c.header(short, 300, true, true).unwrap())
        );
    }

    #[test]
    fn uidl_tokens_keep_shape_and_equality() {
        let entry = |u: &str| Pop3Entry {
            number: 1,
            uidl: Some(u.as_bytes().to_vec()),
            list_size: 1,
            header: Shape::of_header(b"a: b\r\n\r\n"),
            ident: [0; 20],
            full: None,
        };
        let pop3: Vec<Pop3Entry> = ["UID1-17", "UID2-17", "UID1-17", "", "a b"]
            .into_iter()
            .map(entry)
            .collect();
        let t = uidl_tokens(&pop3);
        assert_eq!(t.len(), 4);
        let a = &t[b"UID1-17".as_slice()];
        let b = &t[b"UID2-17".as_slice()];
        assert_ne!(a, b);
        assert_eq!(a.len(), 7);
        assert_eq!(a[4], b'-');
        assert!(a[..3].iter().all(u8::is_ascii_uppercase));
        assert!(a[3].is_ascii_digit() && a[5..].iter().all(u8::is_ascii_digit));
        assert_eq!(t[b"".as_slice()], b"");
        assert_eq!(t[b"a b".as_slice()][1], b' ');
    }
}
