//! Folders and the selected mailbox: LIST, STATUS, EXAMINE, and the UID listings
//! (`UID FETCH 1:*` of sizes or flags) that fix the sequence-to-UID map.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// The hierarchy separator, from `LIST "" ""`. `None` for a flat namespace.
    pub async fn separator(&mut self) -> Result<Option<char>, ImapError> {
        let (untagged, _) = self.run(Cmd::text("LIST \"\" \"\"")).await?;
        for u in untagged {
            if let Untagged::List(e) = u {
                return Ok(e.delimiter);
            }
        }
        Err(ImapError::protocol(
            "LIST \"\" \"\"",
            "no LIST response giving the hierarchy separator",
            "",
        ))
    }

    /// Every folder, from `LIST "" "*"`, in the server's order.
    pub async fn list(&mut self) -> Result<Vec<Mailbox>, ImapError> {
        let (untagged, _) = self.run(Cmd::text("LIST \"\" \"*\"")).await?;
        Ok(untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List(e) => Some(Mailbox::from(e)),
                _ => None,
            })
            .collect())
    }

    /// One command written as is, its untagged replies dropped: for the commands a
    /// reader sends only because Dovecot sends them (dsync's `LSUB`), so that a fault
    /// tied to one meets the same command.
    pub async fn send_ignoring_replies(&mut self, line: &str) -> Result<(), ImapError> {
        self.run(Cmd::text(line)).await.map(|_| ())
    }

    /// `STATUS mailbox (UIDNEXT UIDVALIDITY)`, as dsync asks of every mailbox it
    /// lists; the reply is not needed.
    pub async fn status_uid_only(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let mut cmd = mailbox_cmd("STATUS", mailbox);
        cmd.parts
            .push(Part::Text(b" (UIDNEXT UIDVALIDITY)".to_vec()));
        cmd.shown.push_str(" (UIDNEXT UIDVALIDITY)");
        self.run(cmd).await.map(|_| ())
    }

    /// `STATUS mailbox (MESSAGES UIDNEXT UIDVALIDITY)`.
    pub async fn status(&mut self, mailbox: &str) -> Result<MailboxStatus, ImapError> {
        let mut cmd = mailbox_cmd("STATUS", mailbox);
        cmd.parts
            .push(Part::Text(b" (MESSAGES UIDNEXT UIDVALIDITY)".to_vec()));
        cmd.shown.push_str(" (MESSAGES UIDNEXT UIDVALIDITY)");
        let (untagged, _) = self.run(cmd).await?;
        let mut out = MailboxStatus::default();
        for u in untagged {
            if let Untagged::MailboxStatus { items, .. } = u {
                for (name, n) in items {
                    let n = u32::try_from(n).ok();
                    match name.as_str() {
                        "MESSAGES" => out.messages = n,
                        "UIDNEXT" => out.uidnext = n,
                        "UIDVALIDITY" => out.uidvalidity = n,
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// `EXAMINE mailbox` (read-only). EXISTS and UIDVALIDITY are required, as imapc
    /// requires them.
    pub async fn examine(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let cmd = mailbox_cmd("EXAMINE", mailbox);
        let shown = cmd.shown.clone();
        self.mailbox = Some(MailboxState::default());
        let sent = match self.queue(&cmd).await {
            Ok(tag) => self.flush_out(&shown).await.map(|()| tag),
            Err(e) => Err(e),
        };
        match sent {
            Ok(tag) => self.finish_examine(mailbox, &tag, &shown).await,
            Err(e) => {
                self.mailbox = None;
                Err(e)
            }
        }
    }

    /// Reads the replies of an `EXAMINE` already sent; the mailbox it opens becomes the
    /// selected one from its first response on.
    pub(super) async fn finish_examine(
        &mut self,
        mailbox: &str,
        tag: &str,
        shown: &str,
    ) -> Result<Selected, ImapError> {
        self.mailbox = Some(MailboxState::default());
        let (untagged, tagged) = match self.read_to_tag(tag, shown).await {
            Ok(r) => r,
            Err(e) => {
                self.mailbox = None;
                return Err(e);
            }
        };
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut flags = Vec::new();
        let mut read_only = matches!(tagged.code, Some(Code::ReadOnly));
        for u in &untagged {
            match u {
                Untagged::Status { code: Some(c), .. } => match c {
                    Code::UidValidity(v) => uidvalidity = Some(*v),
                    Code::UidNext(n) => uidnext = Some(*n),
                    Code::ReadOnly => read_only = true,
                    _ => {}
                },
                Untagged::Flags(f) => flags = f.clone(),
                _ => {}
            }
        }
        let state = self.mailbox.as_ref().filter(|m| m.exists_seen);
        let (Some(state), Some(uidvalidity)) = (state, uidvalidity) else {
            self.mailbox = None;
            return Err(ImapError::protocol(
                shown,
                "EXISTS/UIDVALIDITY not received",
                render_tagged(&tagged),
            ));
        };
        Ok(Selected {
            name: mailbox.to_string(),
            exists: state.seq_uids.len() as u32,
            uidvalidity,
            uidnext,
            read_only,
            flags,
        })
    }

    /// The number of messages in the selected mailbox, as last reported.
    pub fn exists(&self) -> Option<u32> {
        self.mailbox.as_ref().map(|m| m.seq_uids.len() as u32)
    }

    /// `UID FETCH 1:* (UID RFC822.SIZE)`: every message's UID and size, in sequence
    /// order. Sends nothing for an empty mailbox.
    pub async fn uid_sizes(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.listing("UID FETCH 1:* (UID RFC822.SIZE)", Want::Size)
            .await
    }

    /// `UID FETCH 1:* (FLAGS)`, exactly as imapc lists a mailbox; the server adds UID.
    pub async fn uid_flags(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.listing("UID FETCH 1:* (FLAGS)", Want::Flags).await
    }

    pub(super) async fn listing(
        &mut self,
        command: &str,
        key: Want,
    ) -> Result<Vec<Listed>, ImapError> {
        let Some(state) = &self.mailbox else {
            return Err(ImapError::NotSelected {
                command: command.into(),
            });
        };
        if state.seq_uids.is_empty() {
            return Ok(Vec::new());
        }
        let tag = self.queue(&Cmd::text(command)).await?;
        self.flush_out(command).await?;
        self.finish_listing(&tag, command, key).await
    }

    /// Reads the replies of a `UID FETCH 1:*` listing already sent (`key`: what it
    /// asked for besides UID) and returns the listing in sequence order.
    pub(super) async fn finish_listing(
        &mut self,
        tag: &str,
        command: &str,
        key: Want,
    ) -> Result<Vec<Listed>, ImapError> {
        let mut data: HashMap<u32, (Option<u64>, Vec<String>)> = HashMap::new();
        loop {
            match self.next_response(command).await? {
                Response::Untagged(Untagged::Fetch { seq, items }) => {
                    // Flag updates without UID may come unsolicited; a FETCH carrying
                    // what was asked for must be placeable.
                    let needed = wanted_position(&items, key).is_some();
                    let Some(uid) = self.fetch_uid(seq, &items, command, needed)? else {
                        continue;
                    };
                    let entry = data.entry(uid).or_default();
                    for item in items {
                        match item {
                            FetchItem::Rfc822Size(n) => entry.0 = Some(n),
                            FetchItem::Flags(f) => entry.1 = f,
                            _ => {}
                        }
                    }
                }
                Response::Untagged(_) => {}
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(command, &t)?;
                    break;
                }
                other => return Err(unexpected(command, &other)),
            }
        }
        let seq_uids = self
            .mailbox
            .as_ref()
            .map(|m| m.seq_uids.clone())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(seq_uids.len());
        let mut last = 0;
        for (i, &uid) in seq_uids.iter().enumerate() {
            if uid == 0 {
                // A message announced by EXISTS that the listing did not include.
                continue;
            }
            if uid <= last {
                return Err(ImapError::protocol(
                    command,
                    format!(
                        "UIDs not ascending: UID {uid} at sequence {} after UID {last}",
                        i + 1
                    ),
                    "",
                ));
            }
            last = uid;
            let (size, flags) = data.remove(&uid).unwrap_or_default();
            out.push(Listed {
                seq: i as u32 + 1,
                uid,
                size,
                flags,
            });
        }
        Ok(out)
    }
}
