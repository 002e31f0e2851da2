//! Many mailboxes in one write, for reading at the network floor: `EXAMINE` and its
//! `UID FETCH` for every mailbox are queued together and their replies read in order
//! (RFC 3501 §5.5 allows it; the tags keep the replies apart, and a server runs
//! commands that change the selected mailbox one after the other). Dovecot's imapc
//! reads mailbox after mailbox; the Dovecot-like reader keeps doing so.

use super::fetch::{Got, SectionKind};
use super::*;

/// UIDs per `UID FETCH` of the pipelined header pass.
const PER_COMMAND: usize = 1000;

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// `EXAMINE m` and `UID FETCH 1:* (UID RFC822.SIZE)` for every mailbox of `names`,
    /// in one write: each mailbox's `EXAMINE` answer and listing (sequence order), as
    /// [`ImapClient::examine`] and [`ImapClient::uid_sizes`] give them. The last
    /// mailbox is left selected.
    pub async fn examine_and_list_all(
        &mut self,
        names: &[String],
    ) -> Result<Vec<(Selected, Vec<Listed>)>, ImapError> {
        const LISTING: &str = "UID FETCH 1:* (UID RFC822.SIZE)";
        let mut sent = Vec::with_capacity(names.len());
        for name in names {
            let cmd = mailbox_cmd("EXAMINE", name);
            let examine = self.queue(&cmd).await?;
            let listing = self.queue(&Cmd::text(LISTING)).await?;
            sent.push((cmd.shown, examine, listing));
            if self.wbuf.len() >= MAX_PIPELINED_BYTES {
                self.flush_out(LISTING).await?;
            }
        }
        self.flush_out(LISTING).await?;
        let mut out = Vec::with_capacity(names.len());
        for (name, (shown, examine, listing)) in names.iter().zip(sent) {
            let selected = self.finish_examine(name, &examine, &shown).await?;
            let listed = match self.finish_listing(&listing, LISTING, Want::Size).await {
                Ok(l) => l,
                // `1:*` in an empty mailbox is refused by some servers; there is nothing
                // to list either way.
                Err(ImapError::Rejected { .. }) if selected.exists == 0 => Vec::new(),
                Err(e) => return Err(e),
            };
            out.push((selected, listed));
        }
        Ok(out)
    }

    /// Headers (`BODY.PEEK[HEADER]`) of the UIDs wanted in each mailbox, `EXAMINE` and
    /// every `UID FETCH` of all the mailboxes queued together (in writes of at most
    /// `MAX_PIPELINED_BYTES`, each read before the next is sent, so client and server
    /// never both wait on a full buffer). `each(mailbox index, uid, header)` is called as
    /// headers arrive; what did not come back is in the mailbox's [`Fetched`].
    pub async fn fetch_headers_in(
        &mut self,
        wanted: &[(String, Vec<u32>)],
        mut each: impl FnMut(usize, u32, Vec<u8>),
    ) -> Result<Vec<Fetched<()>>, ImapError> {
        let kind = SectionKind::Header;
        let items_arg = kind.items_arg();
        // (mailbox index, EXAMINE shown or None for a fetch, command, tag)
        let mut steps: VecDeque<(usize, bool, String, String)> = VecDeque::new();
        let mut requested: Vec<HashSet<u32>> = Vec::with_capacity(wanted.len());
        let mut out: Vec<Fetched<()>> = Vec::with_capacity(wanted.len());
        let mut delivered: Vec<HashSet<u32>> = Vec::with_capacity(wanted.len());
        let mut queue_from = 0;
        let mut commands: Vec<(usize, bool, Cmd)> = Vec::new();
        for (i, (name, uids)) in wanted.iter().enumerate() {
            let mut sorted = uids.clone();
            sorted.sort_unstable();
            sorted.dedup();
            sorted.retain(|&u| u != 0);
            requested.push(sorted.iter().copied().collect());
            delivered.push(HashSet::new());
            out.push(Fetched::default());
            if sorted.is_empty() {
                continue;
            }
            commands.push((i, true, mailbox_cmd("EXAMINE", name)));
            for chunk in sorted.chunks(PER_COMMAND) {
                let c = format!("UID FETCH {} {items_arg}", codec::uid_ranges(chunk));
                commands.push((i, false, Cmd::text(c)));
            }
        }
        while queue_from < commands.len() || !steps.is_empty() {
            if steps.is_empty() {
                while queue_from < commands.len() && self.wbuf.len() < MAX_PIPELINED_BYTES {
                    let (i, examine, cmd) = &commands[queue_from];
                    let tag = self.queue(cmd).await?;
                    steps.push_back((*i, *examine, cmd.shown.clone(), tag));
                    queue_from += 1;
                }
                let last = &commands[queue_from - 1].2.shown;
                self.flush_out(last).await?;
            }
            let Some((i, examine, shown, tag)) = steps.pop_front() else {
                break;
            };
            if examine {
                self.finish_examine(&wanted[i].0, &tag, &shown).await?;
                continue;
            }
            loop {
                match self.next_response(&shown).await? {
                    Response::Untagged(Untagged::Fetch { seq, items }) => {
                        self.take_fetch(
                            seq,
                            items,
                            &shown,
                            Want::Body(kind),
                            &requested[i],
                            &mut delivered[i],
                            &mut out[i],
                            &mut |uid, got| {
                                if let Got::Bytes(b) = got {
                                    each(i, uid, b);
                                }
                            },
                        )?;
                    }
                    Response::Untagged(Untagged::Expunge(_)) => out[i].expunge_notices += 1,
                    Response::Untagged(_) => {}
                    Response::Tagged(t) if t.tag == tag => {
                        self.check_ok(&shown, &t)?;
                        break;
                    }
                    other => return Err(unexpected(&shown, &other)),
                }
            }
        }
        for (i, f) in out.iter_mut().enumerate() {
            let mut gone: Vec<u32> = requested[i]
                .iter()
                .copied()
                .filter(|u| !delivered[i].contains(u))
                .collect();
            gone.sort_unstable();
            f.expunged = gone;
        }
        Ok(out)
    }
}
