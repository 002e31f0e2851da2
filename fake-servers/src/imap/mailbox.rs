//! Mailbox commands: LIST and LSUB, STATUS, SELECT and EXAMINE, SEARCH, and the
//! EXPUNGE / EXISTS updates a selected session is owed when the world has changed.

use super::*;

impl Session {
    pub(super) fn separator(&self) -> char {
        self.world.lock().imap.separator
    }

    /// Tells the session about messages that left or arrived since it last looked.
    /// Only when the world changed since then: otherwise there is nothing to tell, and
    /// walking the mailbox on every command made a big mailbox quadratic to serve.
    pub(super) fn sync(&mut self, out: &mut Out, allow_expunge: bool) {
        let State::Selected {
            mailbox,
            view,
            seen,
        } = &mut self.state
        else {
            return;
        };
        let (current, changes) = {
            let w = self.world.lock();
            let changes = w.changes();
            if changes == *seen {
                return;
            }
            let current: Vec<u32> = find_mailbox(&w, mailbox)
                .map(|m| m.messages.iter().map(|m| m.uid).collect())
                .unwrap_or_default();
            (current, changes)
        };
        if *view == current {
            *seen = changes;
            return;
        }
        if allow_expunge {
            // Up to date once the expunges are told; withheld (RFC 3501 forbids them
            // after FETCH, STORE and SEARCH by sequence number), they are owed on a
            // later command, which must look again.
            *seen = changes;
            let present: HashSet<u32> = current.iter().copied().collect();
            let mut kept = 0;
            view.retain(|uid| {
                if present.contains(uid) {
                    kept += 1;
                    true
                } else {
                    // Numbered as the client sees them at that moment: the ones kept
                    // so far, then this one (later ones shift down).
                    out.line(&format!("* {} EXPUNGE", kept + 1));
                    false
                }
            });
        }
        let last = view.iter().copied().max().unwrap_or(0);
        let before = view.len();
        view.extend(current.iter().copied().filter(|&u| u > last));
        if view.len() != before {
            out.line(&format!("* {} EXISTS", view.len()));
        }
    }

    pub(super) fn list(&self, out: &mut Out, verb: &str, reference: &[u8], pattern: &[u8]) {
        let w = self.world.lock();
        let sep = w.imap.separator;
        if pattern.is_empty() {
            if verb == "LIST" {
                out.text("* LIST (\\Noselect) ")
                    .text(&quote(sep.to_string().as_bytes()))
                    .line(" \"\"");
            }
            return;
        }
        let mut full = String::from_utf8_lossy(reference).into_owned();
        full.push_str(&String::from_utf8_lossy(pattern));
        let full = normalise_inbox(&full, sep);
        let names: Vec<&str> = w.imap.mailboxes.iter().map(|m| m.name.as_str()).collect();
        // Parents that are not mailboxes themselves are listed as \Noselect.
        let mut candidates: Vec<(String, bool)> = Vec::new();
        for name in &names {
            let mut prefix = String::new();
            for (i, part) in name.split(sep).enumerate() {
                if i > 0 {
                    prefix.push(sep);
                }
                prefix.push_str(part);
                let exists = names.contains(&prefix.as_str());
                if !candidates.iter().any(|(n, _)| *n == prefix) {
                    candidates.push((prefix.clone(), exists));
                }
            }
        }
        for (name, exists) in candidates {
            if !wildcard_match(&full, &normalise_inbox(&name, sep), sep) {
                continue;
            }
            if verb == "LSUB" && !exists {
                continue;
            }
            let children = names.iter().any(|n| {
                n.len() > name.len() && n.starts_with(&name) && n[name.len()..].starts_with(sep)
            });
            let mut attrs = Vec::new();
            if verb == "LIST" {
                if !exists {
                    attrs.push("\\Noselect");
                }
                attrs.push(if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
            }
            out.text(&format!("* {verb} ({}) ", attrs.join(" ")))
                .text(&quote(sep.to_string().as_bytes()))
                .text(" ")
                .astring(&name)
                .eol();
        }
    }

    pub(super) fn status(&self, out: &mut Out, tag: &str, args: &[Tok]) {
        let Some(name) = args[0].astring() else {
            self.tagged(
                out,
                tag,
                "BAD Error in IMAP command STATUS: Invalid arguments.",
            );
            return;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let items: Vec<String> = match &args[1..] {
            [Tok::Open, inner @ .., Tok::Close] => inner
                .iter()
                .map(|t| match t {
                    Tok::Atom(a) => a.to_ascii_uppercase(),
                    _ => String::new(),
                })
                .collect(),
            _ => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command STATUS: Status items must be a list.",
                );
                return;
            }
        };
        let w = self.world.lock();
        let Some(mb) = find_mailbox(&w, &name) else {
            drop(w);
            self.tagged(
                out,
                tag,
                &format!("NO [NONEXISTENT] Mailbox doesn't exist: {name}"),
            );
            return;
        };
        let mut values = Vec::new();
        for item in &items {
            let v = match item.as_str() {
                "MESSAGES" => mb.messages.len() as u64,
                "RECENT" => 0,
                "UIDNEXT" => u64::from(mb.uidnext),
                "UIDVALIDITY" => u64::from(mb.uidvalidity),
                "UNSEEN" => mb
                    .messages
                    .iter()
                    .filter(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                    .count() as u64,
                _ => {
                    drop(w);
                    self.tagged(
                        out,
                        tag,
                        "BAD Error in IMAP command STATUS: Invalid status item.",
                    );
                    return;
                }
            };
            values.push(format!("{item} {v}"));
        }
        let shown_name = mb.name.clone();
        drop(w);
        out.text("* STATUS ")
            .astring(&shown_name)
            .line(&format!(" ({})", values.join(" ")));
        self.tagged(out, tag, "OK Status completed.");
    }

    pub(super) fn select(&mut self, out: &mut Out, tag: &str, name: &str, read_only: bool) {
        let found = {
            let w = self.world.lock();
            let seen = w.changes();
            find_mailbox(&w, name).map(|mb| {
                (
                    mb.name.clone(),
                    mb.messages.iter().map(|m| m.uid).collect::<Vec<u32>>(),
                    mb.uidvalidity,
                    mb.uidnext,
                    seen,
                )
            })
        };
        let Some((mailbox, view, uidvalidity, uidnext, seen)) = found else {
            // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
            self.state = State::Authenticated;
            self.tagged(
                out,
                tag,
                &format!("NO [NONEXISTENT] Mailbox doesn't exist: {name}"),
            );
            return;
        };
        out.line(&format!("* FLAGS ({SYSTEM_FLAGS})"));
        if read_only {
            out.line("* OK [PERMANENTFLAGS ()] Read-only mailbox.");
        } else {
            out.line(&format!(
                "* OK [PERMANENTFLAGS ({SYSTEM_FLAGS} \\*)] Flags permitted."
            ));
        }
        out.line(&format!("* {} EXISTS", view.len()));
        out.line("* 0 RECENT");
        out.line(&format!("* OK [UIDVALIDITY {uidvalidity}] UIDs valid"));
        if self.opts.uidnext_on_select {
            out.line(&format!("* OK [UIDNEXT {uidnext}] Predicted next UID"));
        }
        self.state = State::Selected {
            mailbox,
            view,
            seen,
        };
        if read_only {
            self.tagged(out, tag, "OK [READ-ONLY] Examine completed.");
        } else {
            self.tagged(out, tag, "OK [READ-WRITE] Select completed.");
        }
    }

    pub(super) fn search(&self, out: &mut Out, tag: &str, args: &[Tok], uid: bool) {
        let State::Selected { view, .. } = &self.state else {
            return;
        };
        let all = matches!(args, [Tok::Atom(a)] if a.eq_ignore_ascii_case("ALL"));
        if !all {
            self.tagged(
                out,
                tag,
                "BAD Error in IMAP command SEARCH: Only ALL is supported here.",
            );
            return;
        }
        let mut line = String::from("* SEARCH");
        for (i, u) in view.iter().enumerate() {
            let _ = write!(line, " {}", if uid { *u } else { i as u32 + 1 });
        }
        out.line(&line);
        self.tagged(out, tag, "OK Search completed.");
    }
}

pub(super) fn find_mailbox<'w>(w: &'w World, name: &str) -> Option<&'w ImapMailbox> {
    let sep = w.imap.separator;
    let wanted = normalise_inbox(name, sep);
    w.imap
        .mailboxes
        .iter()
        .find(|m| normalise_inbox(&m.name, sep) == wanted)
}

/// INBOX is case-insensitive, including as the first level of a hierarchy.
pub(super) fn normalise_inbox(name: &str, sep: char) -> String {
    let head_len = name.find(sep).unwrap_or(name.len());
    if name[..head_len].eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &name[head_len..])
    } else {
        name.to_string()
    }
}

/// LIST pattern matching: `*` matches anything, `%` anything but the separator.
pub(super) fn wildcard_match(pattern: &str, name: &str, sep: char) -> bool {
    let n: Vec<char> = name.chars().collect();
    // dp[j]: the pattern read so far matches the first j characters of the name.
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for pc in pattern.chars() {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = match pc {
                '*' => dp[j] || (j > 0 && next[j - 1]),
                '%' => dp[j] || (j > 0 && next[j - 1] && n[j - 1] != sep),
                c => j > 0 && dp[j - 1] && n[j - 1] == c,
            };
        }
        dp = next;
    }
    dp[n.len()]
}
