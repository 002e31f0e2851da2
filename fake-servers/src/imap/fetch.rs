//! FETCH and UID FETCH: sequence sets, the items imapc asks for, and the replies built
//! from the world's messages.

use super::*;

/// A sequence set: ranges of numbers where `None` stands for `*`.
pub(super) type SeqSet = Vec<(Option<u32>, Option<u32>)>;

pub(super) fn parse_set(s: &str) -> Option<SeqSet> {
    let number = |p: &str| -> Option<Option<u32>> {
        if p == "*" {
            Some(None)
        } else {
            let n: u32 = p.parse().ok()?;
            (n > 0 && p.bytes().all(|b| b.is_ascii_digit())).then_some(Some(n))
        }
    };
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => Some((number(a)?, number(b)?)),
            None => {
                let n = number(part)?;
                Some((n, n))
            }
        })
        .collect()
}

/// A FETCH data item the server can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Item {
    Uid,
    Flags,
    Size,
    InternalDate,
    SaveDate,
    /// `BODY[section]` (answered as `BODY[...]` even when asked as PEEK).
    Body {
        section: Part,
        partial: Option<(u32, u32)>,
    },
    Rfc822(Part),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Full,
    Header,
    Text,
}

impl Part {
    pub(super) fn name(self) -> &'static str {
        match self {
            Part::Full => "",
            Part::Header => "HEADER",
            Part::Text => "TEXT",
        }
    }

    pub(super) fn bytes(self, m: &ImapMessage) -> &[u8] {
        match self {
            Part::Full => &m.full,
            Part::Header => &m.header,
            Part::Text => &m.text,
        }
    }
}

pub(super) fn parse_item(name: &str, savedate: bool) -> Option<Vec<Item>> {
    let upper = name.to_ascii_uppercase();
    let simple = match upper.as_str() {
        "UID" => Some(Item::Uid),
        "FLAGS" => Some(Item::Flags),
        "RFC822.SIZE" => Some(Item::Size),
        "INTERNALDATE" => Some(Item::InternalDate),
        "SAVEDATE" if savedate => Some(Item::SaveDate),
        "RFC822" => Some(Item::Rfc822(Part::Full)),
        "RFC822.HEADER" => Some(Item::Rfc822(Part::Header)),
        "RFC822.TEXT" => Some(Item::Rfc822(Part::Text)),
        "FAST" => return Some(vec![Item::Flags, Item::InternalDate, Item::Size]),
        _ => None,
    };
    if let Some(item) = simple {
        return Some(vec![item]);
    }
    let rest = upper
        .strip_prefix("BODY.PEEK[")
        .or_else(|| upper.strip_prefix("BODY["))?;
    let (section, tail) = rest.split_once(']')?;
    let section = match section {
        "" => Part::Full,
        "HEADER" => Part::Header,
        "TEXT" => Part::Text,
        _ => return None,
    };
    let partial = if tail.is_empty() {
        None
    } else {
        let inner = tail.strip_prefix('<')?.strip_suffix('>')?;
        let (o, n) = inner.split_once('.')?;
        Some((o.parse().ok()?, n.parse().ok()?))
    };
    Some(vec![Item::Body { section, partial }])
}

impl Session {
    pub(super) fn fetch(&self, out: &mut Out, tag: &str, args: &[Tok], uid_mode: bool) {
        let State::Selected { mailbox, view, .. } = &self.state else {
            return;
        };
        let name = if uid_mode { "UID FETCH" } else { "FETCH" };
        let bad = |out: &mut Out, why: &str| {
            self.tagged(
                out,
                tag,
                &format!("BAD Error in IMAP command {name}: {why}"),
            );
        };
        let Some(Tok::Atom(set)) = args.first() else {
            return bad(out, "Invalid arguments.");
        };
        let Some(set) = parse_set(set) else {
            return bad(out, "Invalid messageset.");
        };
        let item_toks: Vec<&Tok> = match &args[1..] {
            [Tok::Open, inner @ .., Tok::Close] => inner.iter().collect(),
            [single @ Tok::Atom(_)] => vec![single],
            _ => return bad(out, "Invalid arguments."),
        };
        let savedate = self.opts.capabilities.savedate;
        let mut items = vec![Item::Uid];
        for t in item_toks {
            let parsed = match t {
                Tok::Atom(a) => parse_item(a, savedate),
                _ => None,
            };
            let Some(parsed) = parsed else {
                return bad(out, "Unknown FETCH attribute.");
            };
            for item in parsed {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
        }
        let Some(targets) = targets(view, &set, uid_mode) else {
            return bad(out, "Invalid messageset.");
        };
        let w = self.world.lock();
        let Some(mb) = find_mailbox(&w, mailbox) else {
            drop(w);
            self.tagged(out, tag, "NO Mailbox was deleted.");
            return;
        };
        for (seq, uid) in targets {
            // A message gone from the world but not yet reported gets no reply.
            let Some(m) = message_by_uid(mb, uid) else {
                continue;
            };
            out.text(&format!("* {seq} FETCH ("));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.text(" ");
                }
                match item {
                    Item::Uid => out.text(&format!("UID {uid}")),
                    Item::Flags => out.text(&format!("FLAGS ({})", m.flags.join(" "))),
                    Item::Size => out.text(&format!("RFC822.SIZE {}", m.size())),
                    Item::InternalDate => {
                        out.text(&format!("INTERNALDATE \"{}\"", m.internal_date))
                    }
                    // The world keeps no save date; the arrival date stands in for it.
                    Item::SaveDate => out.text(&format!("SAVEDATE \"{}\"", m.internal_date)),
                    Item::Body { section, partial } => {
                        let data = section.bytes(m);
                        match partial {
                            None => out
                                .text(&format!("BODY[{}] ", section.name()))
                                .literal(data),
                            Some((origin, len)) => {
                                let start = (*origin as usize).min(data.len());
                                let end = start.saturating_add(*len as usize).min(data.len());
                                out.text(&format!("BODY[{}]<{origin}> ", section.name()))
                                    .literal(&data[start..end])
                            }
                        }
                    }
                    Item::Rfc822(part) => {
                        let name = match part {
                            Part::Full => "RFC822",
                            Part::Header => "RFC822.HEADER",
                            Part::Text => "RFC822.TEXT",
                        };
                        out.text(&format!("{name} ")).literal(part.bytes(m))
                    }
                };
            }
            out.line(")");
        }
        drop(w);
        self.tagged(out, tag, "OK Fetch completed.");
    }
}

/// Messages are kept in UID order by `append`; a world built otherwise is still served.
pub(super) fn message_by_uid(mb: &ImapMailbox, uid: u32) -> Option<&ImapMessage> {
    match mb.messages.binary_search_by_key(&uid, |m| m.uid) {
        Ok(i) => Some(&mb.messages[i]),
        Err(_) => mb.messages.iter().find(|m| m.uid == uid),
    }
}

/// The (sequence, UID) pairs a FETCH set names in the session's view, in sequence order;
/// `None` for a sequence set beyond the view (a UID set simply matches fewer messages).
fn targets(view: &[u32], set: &SeqSet, uid_mode: bool) -> Option<Vec<(u32, u32)>> {
    if uid_mode {
        // The view is in UID order: each range is a slice of it.
        let star = view.last().copied().unwrap_or(0);
        let mut seqs: Vec<usize> = Vec::new();
        for &(a, b) in set {
            let (a, b) = (a.unwrap_or(star), b.unwrap_or(star));
            let (lo, hi) = (a.min(b), a.max(b));
            let start = view.partition_point(|&u| u < lo);
            let end = view.partition_point(|&u| u <= hi);
            seqs.extend(start..end);
        }
        seqs.sort_unstable();
        seqs.dedup();
        Some(seqs.into_iter().map(|i| (i as u32 + 1, view[i])).collect())
    } else {
        let star = view.len() as u32;
        let valid = star > 0
            && set
                .iter()
                .all(|&(a, b)| a.is_none_or(|n| n <= star) && b.is_none_or(|n| n <= star));
        if !valid {
            return None;
        }
        let mut seqs: Vec<u32> = Vec::new();
        for &(a, b) in set {
            let (a, b) = (a.unwrap_or(star), b.unwrap_or(star));
            seqs.extend(a.min(b)..=a.max(b));
        }
        seqs.sort_unstable();
        seqs.dedup();
        Some(
            seqs.into_iter()
                .map(|s| (s, view[s as usize - 1]))
                .collect(),
        )
    }
}
