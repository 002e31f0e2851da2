//! Fetches by UID: sizes, headers and whole messages, all through one batched and
//! pipelined core (`fetch_each`) and one body-section fetch behind the
//! header and full-message variants.

use super::*;

/// Which bytes a fetch keeps from each FETCH response.
#[derive(Clone, Copy)]
pub(super) enum Want {
    Size,
    Flags,
    Body(SectionKind),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SectionKind {
    Header,
    Full,
}

impl SectionKind {
    /// The FETCH items asked for: PEEK, so that fetching never sets `\Seen`.
    pub(super) fn items_arg(self) -> &'static str {
        match self {
            SectionKind::Header => "(BODY.PEEK[HEADER])",
            SectionKind::Full => "(BODY.PEEK[])",
        }
    }
}

pub(super) enum Got {
    Size(u64),
    Bytes(Vec<u8>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// `UID FETCH <set> (RFC822.SIZE)`, as imapc asks for sizes in the docs profile.
    pub async fn fetch_sizes(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<u64>, ImapError> {
        let mut items = BTreeMap::new();
        let f = self
            .fetch_each(uids, "(RFC822.SIZE)", Want::Size, batching, |uid, got| {
                if let Got::Size(n) = got {
                    items.insert(uid, n);
                }
            })
            .await?;
        Ok(f.with_items(items))
    }

    /// `UID FETCH <set> (BODY.PEEK[HEADER])`: the header bytes exactly as received.
    pub async fn fetch_headers(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<Vec<u8>>, ImapError> {
        self.section_collect(uids, SectionKind::Header, batching, |b| b)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[HEADER])`, handing each header to `each` as it
    /// arrives so that a large mailbox is never held in memory. The result's `items`
    /// is empty; `vanished()` names the UIDs that did not come back.
    pub async fn fetch_headers_each(
        &mut self,
        uids: &[u32],
        batching: Batching,
        each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.section_each(uids, SectionKind::Header, batching, each)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`: whole messages, for the header fallback.
    pub async fn fetch_full(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<Vec<u8>>, ImapError> {
        self.section_collect(uids, SectionKind::Full, batching, |b| b)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`, keeping only each message's length: the size
    /// Dovecot 2.3 measures by default. Bodies are dropped as they arrive.
    pub async fn fetch_full_sizes(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<u64>, ImapError> {
        self.section_collect(uids, SectionKind::Full, batching, |b| b.len() as u64)
            .await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`, handing each message to `each` as it arrives so
    /// that a large mailbox is never held in memory. The result's `items` is empty.
    pub async fn fetch_full_each(
        &mut self,
        uids: &[u32],
        batching: Batching,
        each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.section_each(uids, SectionKind::Full, batching, each)
            .await
    }

    /// `UID FETCH <set> (INTERNALDATE BODY.PEEK[])`: dsync's own download of each
    /// message, as imapc sends it; the bytes are dropped as they arrive. `vanished()`
    /// names the UIDs that did not come back.
    pub async fn fetch_downloads(
        &mut self,
        uids: &[u32],
        batching: Batching,
    ) -> Result<Fetched<()>, ImapError> {
        self.fetch_each(
            uids,
            "(INTERNALDATE BODY.PEEK[])",
            Want::Body(SectionKind::Full),
            batching,
            |_, _| {},
        )
        .await
    }

    /// The one section fetch: a body section of each UID, handed to `each` as it
    /// arrives.
    pub(super) async fn section_each(
        &mut self,
        uids: &[u32],
        kind: SectionKind,
        batching: Batching,
        mut each: impl FnMut(u32, Vec<u8>),
    ) -> Result<Fetched<()>, ImapError> {
        self.fetch_each(
            uids,
            kind.items_arg(),
            Want::Body(kind),
            batching,
            |uid, got| {
                if let Got::Bytes(b) = got {
                    each(uid, b);
                }
            },
        )
        .await
    }

    /// [`section_each`](Self::section_each), keeping `keep(bytes)` for each UID.
    pub(super) async fn section_collect<T>(
        &mut self,
        uids: &[u32],
        kind: SectionKind,
        batching: Batching,
        mut keep: impl FnMut(Vec<u8>) -> T,
    ) -> Result<Fetched<T>, ImapError> {
        let mut items = BTreeMap::new();
        let f = self
            .section_each(uids, kind, batching, |uid, b| {
                items.insert(uid, keep(b));
            })
            .await?;
        Ok(f.with_items(items))
    }

    /// The batched, pipelined core of every fetch by UID.
    ///
    /// A FETCH that carries the wanted item for a UID that was not asked for, or a
    /// second one for the same UID, is an error: the server has lost track of its
    /// messages (provider quirk 35) and silently pairing the data would corrupt the
    /// map. FETCH responses without the wanted item (flag updates) are ignored.
    pub(super) async fn fetch_each(
        &mut self,
        uids: &[u32],
        items_arg: &str,
        want: Want,
        batching: Batching,
        mut sink: impl FnMut(u32, Got),
    ) -> Result<Fetched<()>, ImapError> {
        let first_cmd = format!("UID FETCH <set> {items_arg}");
        if self.mailbox.is_none() {
            return Err(ImapError::NotSelected { command: first_cmd });
        }
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.retain(|&u| u != 0);
        let requested: HashSet<u32> = sorted.iter().copied().collect();
        let commands: Vec<String> = sorted
            .chunks(batching.per_command.max(1))
            .map(|chunk| {
                let set = match batching.style {
                    SetStyle::Ranges => codec::uid_ranges(chunk),
                    SetStyle::Commas => codec::uid_commas(chunk),
                };
                format!("UID FETCH {set} {items_arg}")
            })
            .collect();
        let window = batching.in_flight.max(1);
        let mut in_flight: VecDeque<(String, usize)> = VecDeque::new();
        let mut next = 0;
        let mut delivered: HashSet<u32> = HashSet::new();
        let mut out = Fetched::default();
        // Refills happen at the start and after a command completes, never twice in a
        // row, so a round trip always has a wait behind it.
        let mut may_refill = true;
        while next < commands.len() || !in_flight.is_empty() {
            // Refill only once half the window has drained, so round trips stay few and
            // their number depends on the command sequence alone.
            if may_refill && in_flight.len() <= window / 2 && next < commands.len() {
                may_refill = false;
                // The bytes written before reading stay well inside socket buffers, so
                // client and server can never both block on a full buffer.
                while in_flight.len() < window
                    && next < commands.len()
                    && (self.wbuf.is_empty() || self.wbuf.len() < MAX_PIPELINED_BYTES)
                {
                    let tag = self.queue(&Cmd::text(commands[next].clone())).await?;
                    in_flight.push_back((tag, next));
                    next += 1;
                }
                self.flush_out(&commands[next - 1]).await?;
            }
            let Some(&(_, oldest)) = in_flight.front() else {
                break;
            };
            let context = &commands[oldest];
            match self.next_response(context).await? {
                Response::Untagged(Untagged::Fetch { seq, items }) => {
                    let context = context.clone();
                    self.take_fetch(
                        seq,
                        items,
                        &context,
                        want,
                        &requested,
                        &mut delivered,
                        &mut out,
                        &mut sink,
                    )?;
                }
                Response::Untagged(Untagged::Expunge(_)) => out.expunge_notices += 1,
                Response::Untagged(_) => {}
                Response::Tagged(t) => {
                    let Some(pos) = in_flight.iter().position(|(tag, _)| *tag == t.tag) else {
                        return Err(unexpected(context, &Response::Tagged(t)));
                    };
                    if let Some((_, index)) = in_flight.remove(pos) {
                        self.check_ok(&commands[index], &t)?;
                    }
                    may_refill = true;
                }
                other => return Err(unexpected(context, &other)),
            }
        }
        out.expunged = sorted
            .into_iter()
            .filter(|u| !delivered.contains(u))
            .collect();
        Ok(out)
    }

    /// Hands the wanted item of one FETCH response to `sink` (or notes it `NIL`); see
    /// [`fetch_each`](Self::fetch_each) for what is refused.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_fetch(
        &mut self,
        seq: u32,
        mut items: Vec<FetchItem>,
        context: &str,
        want: Want,
        requested: &HashSet<u32>,
        delivered: &mut HashSet<u32>,
        out: &mut Fetched<()>,
        sink: &mut impl FnMut(u32, Got),
    ) -> Result<(), ImapError> {
        let pos = wanted_position(&items, want);
        let Some(uid) = self.fetch_uid(seq, &items, context, pos.is_some())? else {
            return Ok(());
        };
        let Some(pos) = pos else { return Ok(()) };
        if !requested.contains(&uid) {
            return Err(ImapError::protocol(
                context,
                format!("FETCH data for UID {uid}, which was not asked for"),
                fetch_summary(seq, &items),
            ));
        }
        if !delivered.insert(uid) {
            return Err(ImapError::protocol(
                context,
                format!("a second FETCH for UID {uid}"),
                fetch_summary(seq, &items),
            ));
        }
        // Moved out, not copied: bodies can be large.
        match items.swap_remove(pos) {
            FetchItem::Rfc822Size(n) => sink(uid, Got::Size(n)),
            FetchItem::Body { data: Some(d), .. } => sink(uid, Got::Bytes(d)),
            _ => out.nil.push(uid),
        }
        Ok(())
    }

    /// The UID a FETCH response is about: its UID item, else the sequence map. Keeps the
    /// map in step and rejects a UID that contradicts it. `Ok(None)` for a FETCH that
    /// can be ignored (no UID, and no data the caller needs).
    pub(super) fn fetch_uid(
        &mut self,
        seq: u32,
        items: &[FetchItem],
        context: &str,
        needed: bool,
    ) -> Result<Option<u32>, ImapError> {
        let stated = items.iter().find_map(|i| match i {
            FetchItem::Uid(u) => Some(*u),
            _ => None,
        });
        let slot = self
            .mailbox
            .as_mut()
            .and_then(|m| m.seq_uids.get_mut((seq as usize).wrapping_sub(1)));
        match (stated, slot) {
            (Some(uid), Some(known)) => {
                if *known != 0 && *known != uid {
                    return Err(ImapError::protocol(
                        context,
                        format!("FETCH for sequence {seq} says UID {uid}, but it is UID {known}"),
                        fetch_summary(seq, items),
                    ));
                }
                *known = uid;
                Ok(Some(uid))
            }
            (Some(uid), None) => {
                if needed {
                    return Err(ImapError::protocol(
                        context,
                        format!("FETCH for sequence {seq}, beyond the messages announced"),
                        fetch_summary(seq, items),
                    ));
                }
                Ok(Some(uid))
            }
            (None, Some(&mut known)) if known != 0 => Ok(Some(known)),
            (None, _) if needed => Err(ImapError::protocol(
                context,
                format!("FETCH for sequence {seq} without a UID"),
                fetch_summary(seq, items),
            )),
            (None, _) => Ok(None),
        }
    }
}

/// Where the item `want` asks for sits in a FETCH response (first match only).
pub(super) fn wanted_position(items: &[FetchItem], want: Want) -> Option<usize> {
    items.iter().position(|i| match (i, want) {
        (FetchItem::Rfc822Size(_), Want::Size) => true,
        (FetchItem::Flags(_), Want::Flags) => true,
        (
            FetchItem::Body {
                section,
                origin: None,
                ..
            },
            Want::Body(kind),
        ) => matches!(
            (section, kind),
            (Section::Header, SectionKind::Header) | (Section::Full, SectionKind::Full)
        ),
        _ => false,
    })
}

pub(super) fn fetch_summary(seq: u32, items: &[FetchItem]) -> String {
    let names: Vec<String> = items
        .iter()
        .map(|i| match i {
            FetchItem::Uid(u) => format!("UID {u}"),
            FetchItem::Rfc822Size(n) => format!("RFC822.SIZE {n}"),
            FetchItem::Flags(f) => format!("FLAGS ({})", f.join(" ")),
            FetchItem::InternalDate(d) => format!("INTERNALDATE \"{d}\""),
            FetchItem::Body { section, data, .. } => {
                let s = match section {
                    Section::Full => String::new(),
                    Section::Header => "HEADER".into(),
                    Section::Text => "TEXT".into(),
                    Section::Other(s) => s.clone(),
                };
                match data {
                    Some(d) => format!("BODY[{s}] {{{}}}", d.len()),
                    None => format!("BODY[{s}] NIL"),
                }
            }
            FetchItem::Other(n) => n.clone(),
        })
        .collect();
    format!("* {seq} FETCH ({})", names.join(" "))
}
