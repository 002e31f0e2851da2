//! The bulk syntax: `bulk:` groups of generated messages made from templates and size
//! patterns, and lists of ids derived by rule (`{ of: batch, reverse: yes }`).
//!
//! Expansion is a pass over the parsed file before anything else reads it: each group
//! becomes ordinary `messages:` entries (appended in group order, so arrival order and
//! generated dates follow), and each rule becomes the written-out list it stands for.
//! The rest of the loader then checks the result as if it had been written by hand, at
//! the position of the group or rule that made it. Expansion is deterministic: the
//! "random" patterns are a fixed function of their seed.

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Location;

use super::super::format::{
    BulkDef, DropDef, IdList, ListRule, MailboxDef, MessageDef, OrderedMap, Pop3Override,
    ScenarioFile, SizeDef, SizePattern, Spanned,
};
use super::super::generate::GeneratedSpec;
use super::Cx;
use super::messages::valid_id;

/// Most messages all `bulk:` groups of one file may make together.
pub const MAX_BULK_MESSAGES: u64 = 100_000;

/// What expansion made: each group's ids, for `of:`.
#[derive(Debug, Default)]
pub(super) struct Groups(BTreeMap<String, Vec<String>>);

/// Expands `bulk:` into `messages:`, then every list rule into its list.
pub(super) fn expand(cx: &mut Cx<'_>, f: &mut ScenarioFile) -> Groups {
    let mut groups = Groups::default();
    if !f.bulk.is_empty() {
        let messages = f.messages.get_or_insert_with(OrderedMap::default);
        let mut known: BTreeSet<String> = messages.0.iter().map(|(k, _)| k.value.clone()).collect();
        let mut total = 0u64;
        for g in &f.bulk {
            if let Some(made) = group(cx, g, &mut known, &mut total, messages.0.len()) {
                let ids = made.iter().map(|(k, _)| k.value.clone()).collect();
                messages.0.extend(made);
                groups.0.insert(g.value.name.value.clone(), ids);
            }
        }
    }
    let ids: BTreeSet<String> = f
        .messages
        .iter()
        .flat_map(|m| m.0.iter().map(|(k, _)| k.value.clone()))
        .collect();
    let mut mailboxes: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(boxes) = f.imap.as_mut().and_then(|i| i.mailboxes.as_mut()) {
        for (name, def) in &mut boxes.value.0 {
            let at = def.referenced;
            if let MailboxDef::Full(full) = &mut def.value
                && let IdList::Rule(rule) = &full.messages
            {
                let sources = Sources {
                    groups: &groups,
                    mailboxes: None,
                    ids: &ids,
                };
                full.messages = IdList::List(resolve(cx, rule, at, &sources));
            }
            let listed = match &def.value {
                MailboxDef::List(l) => l,
                MailboxDef::Full(full) => full.messages.ids(),
            };
            mailboxes.push((
                name.value.clone(),
                listed.iter().map(|s| s.value.clone()).collect(),
            ));
        }
    }
    if let Some(list) = f.pop3.as_mut().and_then(|p| p.messages.as_mut())
        && let IdList::Rule(rule) = &list.value
    {
        let sources = Sources {
            groups: &groups,
            mailboxes: Some(&mailboxes),
            ids: &ids,
        };
        list.value = IdList::List(resolve(cx, rule, list.referenced, &sources));
    }
    groups
}

/// The messages of one group, or `None` (reported) when it can't be made.
fn group(
    cx: &mut Cx<'_>,
    g: &Spanned<BulkDef>,
    known: &mut BTreeSet<String>,
    total: &mut u64,
    base_index: usize,
) -> Option<Vec<(Spanned<String>, Spanned<MessageDef>)>> {
    let d = &g.value;
    let name = &d.name.value;
    if !valid_id(name) {
        cx.err(
            &d.name,
            format!("bulk group name `{name}` must be 1-64 letters, digits, `.`, `_` or `-`"),
        );
        return None;
    }
    if known.contains(name) {
        cx.err(
            &d.name,
            format!("bulk group name `{name}` is already a message id or group name"),
        );
        return None;
    }
    if d.count.value == 0 {
        cx.err(&d.count, "count must be at least 1");
        return None;
    }
    *total += d.count.value;
    if *total > MAX_BULK_MESSAGES {
        cx.err(
            &d.count,
            format!("bulk groups make more than {MAX_BULK_MESSAGES} messages in all"),
        );
        return None;
    }
    let t = Templates::parse(cx, d)?;
    let sizes = Sizes::new(cx, d.size.as_ref())?;
    let every = match &d.duplicates {
        Some(e) if e.value.every.value < 2 => {
            cx.err(
                &e.value.every,
                "duplicates every must be at least 2 (each copies the message before it)",
            );
            return None;
        }
        Some(e) => Some(e.value.every.value),
        None => None,
    };
    let first = d.first.as_ref().map_or(1, |f| f.value);
    let count = d.count.value;
    let mut out = Vec::with_capacity(count as usize);
    let mut ids = Vec::with_capacity(count as usize);
    for p in 0..count {
        let i = first.saturating_add(p);
        let id = t.id.expand(i, name);
        if p == 0 && !valid_id(&id) {
            cx.err_at(
                t.id_at,
                format!("the id template makes `{id}`, which is not a valid message id"),
            );
            return None;
        }
        if !known.insert(id.clone()) {
            cx.err_at(
                t.id_at,
                format!("the id template makes `{id}`, which is already defined"),
            );
            return None;
        }
        ids.push(id);
    }
    known.insert(name.clone());
    for p in 0..count as usize {
        // A duplicate is made from the message before it: same header block and size.
        let src = match every {
            Some(e) if (p as u64 + 1).is_multiple_of(e) => p - 1,
            _ => p,
        };
        let src_vars = Vars {
            i: first.saturating_add(src as u64),
            id: &ids[src],
            index: base_index + src,
        };
        let own = Vars {
            i: first.saturating_add(p as u64),
            id: &ids[p],
            index: base_index + p,
        };
        let def = message(d, &t, sizes.at(src), &src_vars, &own, g.referenced);
        let key = Spanned::new(ids[p].clone(), g.referenced, g.defined);
        out.push((key, Spanned::new(def, g.referenced, g.defined)));
    }
    Some(out)
}

/// What a template may refer to: the number in the group, the id, the arrival index.
struct Vars<'a> {
    i: u64,
    id: &'a str,
    index: usize,
}

/// One message of a group, as if written in `messages:`: every field explicit, so that
/// a duplicate carries its original's defaults (Subject, Date, Message-ID, body).
fn message(
    d: &BulkDef,
    t: &Templates,
    size: Option<u64>,
    src: &Vars<'_>,
    own: &Vars<'_>,
    at: Location,
) -> MessageDef {
    let defaults = GeneratedSpec::defaults(src.id, src.index);
    let sp = |v: String| Spanned::new(v, at, at);
    let field = |tmpl: &Option<Option<Text>>, default: Option<String>| match tmpl {
        None => default.map(|v| Some(sp(v))),
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(sp(t.expand(src.i, src.id)))),
    };
    MessageDef {
        from: field(&t.from, defaults.from),
        to: field(&t.to, defaults.to),
        subject: field(&t.subject, defaults.subject),
        date: field(&t.date, defaults.date),
        message_id: field(&t.message_id, defaults.message_id),
        headers: t.headers.as_ref().map(|h| {
            let hat = d.headers.as_ref().map_or(at, |h| h.referenced);
            Spanned::new(
                h.iter().map(|x| sp(x.expand(src.i, src.id))).collect(),
                hat,
                hat,
            )
        }),
        body: Some(sp(t
            .body
            .as_ref()
            .map_or(defaults.body, |b| b.expand(src.i, src.id)))),
        size: size.map(|s| Spanned::new(s, t.size_at, t.size_at)),
        raw: None,
        file: None,
        line_ending: d.line_ending.clone(),
        encoding: None,
        imap: None,
        pop3: t.uidl.as_ref().map(|u| {
            Spanned::new(
                Pop3Override {
                    uidl: Some(Spanned::new(u.expand(own.i, own.id), t.uidl_at, t.uidl_at)),
                    ..Pop3Override::default()
                },
                at,
                at,
            )
        }),
    }
}

/// A group's templates, parsed once.
struct Templates {
    id: Text,
    id_at: Location,
    from: Option<Option<Text>>,
    to: Option<Option<Text>>,
    subject: Option<Option<Text>>,
    date: Option<Option<Text>>,
    message_id: Option<Option<Text>>,
    headers: Option<Vec<Text>>,
    body: Option<Text>,
    size_at: Location,
    uidl: Option<Text>,
    uidl_at: Location,
}

impl Templates {
    fn parse(cx: &mut Cx<'_>, d: &BulkDef) -> Option<Templates> {
        let mut ok = true;
        let mut one = |cx: &mut Cx<'_>, s: &Spanned<String>| match Text::parse(&s.value) {
            Ok(t) => Some(t),
            Err(e) => {
                cx.err(s, format!("template `{}`: {e}", s.value));
                ok = false;
                None
            }
        };
        let mut nullable = |cx: &mut Cx<'_>, v: &Option<Option<Spanned<String>>>| match v {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => one(cx, s).map(Some),
        };
        let from = nullable(cx, &d.from);
        let to = nullable(cx, &d.to);
        let subject = nullable(cx, &d.subject);
        let date = nullable(cx, &d.date);
        let message_id = nullable(cx, &d.message_id);
        let default_id = format!("{}-{{i}}", d.name.value);
        let id = match &d.id {
            Some(s) => one(cx, s),
            None => Text::parse(&default_id).ok(),
        };
        let headers = d
            .headers
            .as_ref()
            .map(|h| h.value.iter().filter_map(|s| one(cx, s)).collect());
        let body = d.body.as_ref().and_then(|b| one(cx, b));
        let uidl = d.uidl.as_ref().and_then(|u| one(cx, u));
        if !ok {
            return None;
        }
        Some(Templates {
            id: id?,
            id_at: d.id.as_ref().map_or(d.name.referenced, |s| s.referenced),
            from,
            to,
            subject,
            date,
            message_id,
            headers,
            body,
            size_at: d.size.as_ref().map_or(d.count.referenced, |s| s.referenced),
            uidl,
            uidl_at: d.uidl.as_ref().map_or(d.name.referenced, |s| s.referenced),
        })
    }
}

/// A bulk text template: `{i}` (the number in the group; `{i:05}` pads with zeros to 5,
/// `{i:x}`/`{i:X}` writes hex), `{id}`, and `{{`/`}}` for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    I {
        width: usize,
        zero: bool,
        hex: Option<bool>,
    },
    Id,
}

impl Text {
    fn parse(s: &str) -> Result<Text, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("{{") || rest.starts_with("}}") {
                lit.push(c);
                rest = &rest[2..];
                continue;
            }
            if c == '}' {
                return Err("a lone `}`: write `}}` for a literal brace".into());
            }
            if c != '{' {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            let end = rest
                .find('}')
                .ok_or("an unclosed `{`: write `{{` for a literal brace")?;
            let var = &rest[1..end];
            rest = &rest[end + 1..];
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Self::var(var)?);
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Text(pieces))
    }

    fn var(var: &str) -> Result<Piece, String> {
        let (name, fmt) = var.split_once(':').unwrap_or((var, ""));
        match name {
            "id" if fmt.is_empty() => return Ok(Piece::Id),
            "i" => {}
            _ => {
                return Err(format!(
                    "unknown variable `{{{var}}}`: bulk templates know {{i}} and {{id}}"
                ));
            }
        }
        let (digits, hex) = match fmt.strip_suffix('x') {
            Some(d) => (d, Some(false)),
            None => match fmt.strip_suffix('X') {
                Some(d) => (d, Some(true)),
                None => (fmt.strip_suffix('d').unwrap_or(fmt), None),
            },
        };
        let width = if digits.is_empty() {
            0
        } else {
            digits
                .parse::<usize>()
                .ok()
                .filter(|w| *w <= 64)
                .ok_or_else(|| {
                    format!("`{{{var}}}`: the format is a width such as 05, then d, x or X")
                })?
        };
        Ok(Piece::I {
            width,
            zero: digits.starts_with('0'),
            hex,
        })
    }

    fn expand(&self, i: u64, id: &str) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Id => out.push_str(id),
                Piece::I { width, zero, hex } => {
                    let n = match hex {
                        None => i.to_string(),
                        Some(false) => format!("{i:x}"),
                        Some(true) => format!("{i:X}"),
                    };
                    let pad = if *zero { '0' } else { ' ' };
                    for _ in n.len()..*width {
                        out.push(pad);
                    }
                    out.push_str(&n);
                }
            }
        }
        out
    }
}

/// A group's sizes, by position.
enum Sizes {
    None,
    Fixed(u64),
    Cycle(Vec<u64>, u64),
    Random {
        min: u64,
        span: u64,
        seed: u64,
        run: u64,
    },
    Steps {
        from: u64,
        step: i64,
        run: u64,
    },
}

impl Sizes {
    fn new(cx: &mut Cx<'_>, def: Option<&Spanned<SizeDef>>) -> Option<Sizes> {
        let Some(def) = def else {
            return Some(Sizes::None);
        };
        let p: &SizePattern = match &def.value {
            SizeDef::Fixed(n) => return Some(Sizes::Fixed(*n)),
            SizeDef::Pattern(p) => p,
        };
        let run = match &p.run {
            Some(r) if r.value == 0 => {
                cx.err(r, "run must be at least 1");
                return None;
            }
            Some(r) => r.value,
            None => 1,
        };
        let given = [p.alternate.is_some(), p.random.is_some(), p.from.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            cx.err(
                def,
                "a size pattern has exactly one of alternate, random or from",
            );
            return None;
        }
        if let Some(s) = &p.seed
            && p.random.is_none()
        {
            cx.err(s, "seed goes with random");
            return None;
        }
        if let Some(s) = &p.step
            && p.from.is_none()
        {
            cx.err(s, "step goes with from");
            return None;
        }
        if let Some(a) = &p.alternate {
            if a.value.is_empty() {
                cx.err(a, "alternate needs at least one size");
                return None;
            }
            return Some(Sizes::Cycle(a.value.iter().map(|s| s.value).collect(), run));
        }
        if let Some(r) = &p.random {
            let [min, max] = r.value.as_slice() else {
                cx.err(r, "random is [min, max]");
                return None;
            };
            if min.value > max.value {
                cx.err(r, "random is [min, max] with min ≤ max");
                return None;
            }
            return Some(Sizes::Random {
                min: min.value,
                span: max.value - min.value + 1,
                seed: p.seed.as_ref().map_or(0, |s| s.value),
                run,
            });
        }
        let from = p.from.as_ref().map_or(0, |f| f.value);
        Some(Sizes::Steps {
            from,
            step: p.step.as_ref().map_or(0, |s| s.value),
            run,
        })
    }

    /// The size of the message at `p` (0-based) in the group, if the group sets sizes.
    fn at(&self, p: usize) -> Option<u64> {
        let p = p as u64;
        match self {
            Sizes::None => None,
            Sizes::Fixed(n) => Some(*n),
            Sizes::Cycle(v, run) => Some(v[((p / run) % v.len() as u64) as usize]),
            Sizes::Random {
                min,
                span,
                seed,
                run,
            } => Some(min + mix(seed.wrapping_add((p / run).wrapping_mul(GOLDEN))) % span),
            Sizes::Steps { from, step, run } => {
                let k = (p / run) as i128;
                let v = *from as i128 + k * *step as i128;
                // Below zero clamps to 0: the generator then names the minimum size.
                Some(v.clamp(0, u64::MAX as i128) as u64)
            }
        }
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a fixed, well-mixed function of its input.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What `of:` can name.
struct Sources<'a> {
    groups: &'a Groups,
    /// The mailboxes and their ids in UID order; `None` where a list can't name one
    /// (a mailbox made from another).
    mailboxes: Option<&'a [(String, Vec<String>)]>,
    ids: &'a BTreeSet<String>,
}

/// The list a rule stands for, each id at the position of the name that brought it.
fn resolve(
    cx: &mut Cx<'_>,
    rule: &ListRule,
    at: Location,
    s: &Sources<'_>,
) -> Vec<Spanned<String>> {
    let mut out: Vec<Spanned<String>> = Vec::new();
    let of_at = rule.of.referenced;
    for name in &rule.of.value.0 {
        let loc = if name.referenced == Location::UNKNOWN {
            of_at
        } else {
            name.referenced
        };
        let sp = |id: &String| Spanned::new(id.clone(), loc, loc);
        if let Some(ids) = s.groups.0.get(&name.value) {
            out.extend(ids.iter().map(sp));
        } else if let Some((_, ids)) = s
            .mailboxes
            .and_then(|m| m.iter().find(|(n, _)| *n == name.value))
        {
            out.extend(ids.iter().map(sp));
        } else if s.ids.contains(&name.value) {
            out.push(sp(&name.value));
        } else {
            cx.err_at(loc, unknown_source(&name.value, s));
        }
    }
    if let Some(d) = &rule.drop {
        match &d.value {
            DropDef::Ids(ids) => {
                for id in ids {
                    let before = out.len();
                    out.retain(|x| x.value != id.value);
                    if out.len() == before {
                        cx.err(id, format!("drop: `{}` is not in the list", id.value));
                    }
                }
            }
            DropDef::Every(e) if e.every.value == 0 => cx.err(&e.every, "every must be at least 1"),
            DropDef::Every(e) => {
                let k = e.every.value;
                out = out
                    .into_iter()
                    .enumerate()
                    .filter(|(n, _)| !(*n as u64 + 1).is_multiple_of(k))
                    .map(|(_, x)| x)
                    .collect();
            }
        }
    }
    if let Some(s) = &rule.shuffle {
        // Fisher-Yates, drawing from SplitMix64 seeded by the file.
        let mut state = s.value.seed.value;
        for n in (1..out.len()).rev() {
            state = state.wrapping_add(GOLDEN);
            let j = (mix(state) % (n as u64 + 1)) as usize;
            out.swap(n, j);
        }
    }
    if rule.reverse.as_ref().is_some_and(|r| r.value) {
        out.reverse();
    }
    if rule.swap_pairs.as_ref().is_some_and(|r| r.value) {
        for pair in out.chunks_mut(2) {
            pair.reverse();
        }
    }
    out.extend(rule.append.iter().cloned());
    if out.is_empty() && rule.of.value.0.is_empty() {
        cx.err_at(at, "of: names no group, mailbox or message");
    }
    out
}

fn unknown_source(name: &str, s: &Sources<'_>) -> String {
    let mut known: Vec<&str> = s.groups.0.keys().map(String::as_str).collect();
    let what = if let Some(m) = s.mailboxes {
        known.extend(m.iter().map(|(n, _)| n.as_str()));
        "bulk group, mailbox or message id"
    } else {
        "bulk group or message id"
    };
    let mut msg = format!("of: `{name}` is no {what}");
    if let Some(best) = super::did_you_mean(
        name,
        known
            .iter()
            .copied()
            .chain(s.ids.iter().map(String::as_str)),
    ) {
        msg.push_str(&format!("; did you mean `{best}`?"));
    }
    if !known.is_empty() {
        msg.push_str(&format!(" (groups and mailboxes: {})", known.join(", ")));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_templates() {
        let t = Text::parse("m{i:05}-{id}{{x}}").unwrap();
        assert_eq!(t.expand(42, "a"), "m00042-a{x}");
        assert_eq!(
            Text::parse("{i:x}/{i:4X}").unwrap().expand(255, ""),
            "ff/  FF"
        );
        assert!(Text::parse("{uid}").unwrap_err().contains("{i} and {id}"));
        assert!(Text::parse("{i").is_err());
        assert!(Text::parse("a}").is_err());
        assert_eq!(Text::parse("50% off").unwrap().expand(1, ""), "50% off");
    }

    #[test]
    fn size_patterns_are_fixed_functions_of_the_position() {
        let cycle = Sizes::Cycle(vec![10, 20], 2);
        let got: Vec<_> = (0..6).map(|p| cycle.at(p).unwrap()).collect();
        assert_eq!(got, [10, 10, 20, 20, 10, 10]);
        let steps = Sizes::Steps {
            from: 100,
            step: -30,
            run: 1,
        };
        let got: Vec<_> = (0..5).map(|p| steps.at(p).unwrap()).collect();
        assert_eq!(got, [100, 70, 40, 10, 0]);
        let r = Sizes::Random {
            min: 5,
            span: 3,
            seed: 9,
            run: 1,
        };
        let a: Vec<_> = (0..50).map(|p| r.at(p).unwrap()).collect();
        let b: Vec<_> = (0..50).map(|p| r.at(p).unwrap()).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|s| (5..=7).contains(s)));
        assert!(a.iter().collect::<BTreeSet<_>>().len() == 3);
    }
}
