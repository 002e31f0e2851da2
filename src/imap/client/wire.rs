//! The session's wire: commands queued with their literals and continuations, output
//! flushed (each flush a counted round trip), responses read within limits and timeouts,
//! and their untagged effects absorbed; plus how commands and replies show in errors.

use super::*;

/// Most `EXISTS` responses accepted between two tagged ones (a server sends one when
/// new mail arrives; a hundred during one command is a flood).
pub(super) const MAX_EXISTS_RUN: usize = 100;

/// A piece of a command on the wire.
pub(super) enum Part {
    Text(Vec<u8>),
    /// A string that must travel as a literal.
    Literal(Vec<u8>),
    /// Sent after the server's `+` continuation (SASL without SASL-IR).
    AfterContinuation(Vec<u8>),
}

/// A command: its wire pieces and how it is shown in errors.
pub(super) struct Cmd {
    pub(super) parts: Vec<Part>,
    pub(super) shown: String,
}

impl Cmd {
    pub(super) fn text(s: impl Into<String>) -> Cmd {
        let s = s.into();
        Cmd {
            parts: vec![Part::Text(s.clone().into_bytes())],
            shown: s,
        }
    }
}

const READ_CHUNK: usize = 64 * 1024;
/// Most command bytes written in one go while pipelining.
pub(super) const MAX_PIPELINED_BYTES: usize = 32 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// Sends one command and reads to its tagged reply; `NO`/`BAD` become
    /// [`ImapError::Rejected`]. Untagged responses are returned (and absorbed).
    pub(super) async fn run(&mut self, cmd: Cmd) -> Result<(Vec<Untagged>, Tagged), ImapError> {
        let tag = self.queue(&cmd).await?;
        self.flush_out(&cmd.shown).await?;
        self.read_to_tag(&tag, &cmd.shown).await
    }

    /// Reads the responses of a command already sent, to its tagged reply; `NO`/`BAD`
    /// become [`ImapError::Rejected`].
    pub(super) async fn read_to_tag(
        &mut self,
        tag: &str,
        shown: &str,
    ) -> Result<(Vec<Untagged>, Tagged), ImapError> {
        let mut untagged = Vec::new();
        loop {
            match self.next_response(shown).await? {
                Response::Untagged(u) => untagged.push(u),
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(shown, &t)?;
                    return Ok((untagged, t));
                }
                other => return Err(unexpected(shown, &other)),
            }
        }
    }

    pub(super) fn check_ok(&self, command: &str, t: &Tagged) -> Result<(), ImapError> {
        if t.status == Status::Ok {
            Ok(())
        } else {
            Err(ImapError::Rejected {
                command: command.to_string(),
                status: t.status,
                reply: render_tagged(t),
            })
        }
    }

    /// Writes a command into the output buffer, waiting for `+` where a synchronising
    /// literal or a SASL response requires it. Returns its tag.
    pub(super) async fn queue(&mut self, cmd: &Cmd) -> Result<String, ImapError> {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        self.stats.commands += 1;
        self.wbuf.extend_from_slice(tag.as_bytes());
        self.wbuf.push(b' ');
        let literal_plus = self.knows_capability("LITERAL+");
        for part in &cmd.parts {
            match part {
                Part::Text(t) => self.wbuf.extend_from_slice(t),
                Part::Literal(data) => {
                    if literal_plus {
                        self.wbuf
                            .extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                    } else {
                        self.wbuf
                            .extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
                        self.flush_out(&cmd.shown).await?;
                        self.await_continuation(&tag, &cmd.shown).await?;
                    }
                    self.wbuf.extend_from_slice(data);
                }
                Part::AfterContinuation(data) => {
                    self.wbuf.extend_from_slice(b"\r\n");
                    self.flush_out(&cmd.shown).await?;
                    self.await_continuation(&tag, &cmd.shown).await?;
                    self.wbuf.extend_from_slice(data);
                }
            }
        }
        self.wbuf.extend_from_slice(b"\r\n");
        Ok(tag)
    }

    pub(super) async fn await_continuation(
        &mut self,
        tag: &str,
        shown: &str,
    ) -> Result<(), ImapError> {
        loop {
            match self.next_response(shown).await? {
                Response::Continuation { .. } => return Ok(()),
                Response::Untagged(_) => {}
                Response::Tagged(t) if t.tag == tag => {
                    self.check_ok(shown, &t)?;
                    return Err(ImapError::protocol(
                        shown,
                        "the command completed before all of it was sent",
                        render_tagged(&t),
                    ));
                }
                other => return Err(unexpected(shown, &other)),
            }
        }
    }

    /// Sends what was queued; counts a round trip, since the caller then waits.
    pub(super) async fn flush_out(&mut self, context: &str) -> Result<(), ImapError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let after = self.timeouts.io;
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(after, write).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(io_error(context, source)),
            Err(_) => {
                return Err(ImapError::Timeout {
                    context: context.to_string(),
                    after,
                });
            }
        }
        self.stats.bytes_sent += self.wbuf.len() as u64;
        self.stats.round_trips += 1;
        self.wbuf.clear();
        self.progress_at = Instant::now();
        self.progress_bytes = self.stats.bytes_received;
        Ok(())
    }

    /// The next response, with its untagged effects applied (capabilities, EXISTS,
    /// EXPUNGE, BYE, alerts) and the untagged count checked.
    pub(super) async fn next_response(&mut self, context: &str) -> Result<Response, ImapError> {
        loop {
            let unread = &self.rbuf[self.rpos..];
            match codec::decode_resuming(unread, &self.limits.codec, &mut self.resume) {
                Ok(Decoded::Complete { value, consumed }) => {
                    self.rpos += consumed;
                    self.absorb(&value, context)?;
                    return Ok(value);
                }
                Ok(Decoded::Incomplete) => self.fill_to_lf(context).await?,
                Err(source) => {
                    self.resume = codec::Resume::default();
                    return Err(ImapError::Codec {
                        context: context.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Reads until new bytes hold an LF, or the unread bytes no longer fit in one line.
    /// Until then an incomplete response stays incomplete and no line can pass the limit,
    /// so decoding again would only rescan: without this a long line arriving in small
    /// reads costs the square of its length.
    async fn fill_to_lf(&mut self, context: &str) -> Result<(), ImapError> {
        loop {
            // `fill` may move the unread bytes to the front; their length stays.
            let seen = self.rbuf.len() - self.rpos;
            self.fill(context).await?;
            let unread = &self.rbuf[self.rpos..];
            if memchr::memchr(b'\n', &unread[seen..]).is_some()
                || unread.len() > self.limits.codec.max_line + 1
            {
                return Ok(());
            }
        }
    }

    pub(super) async fn fill(&mut self, context: &str) -> Result<(), ImapError> {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > READ_CHUNK {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(READ_CHUNK);
        let after = self.timeouts.io;
        let left = (self.progress_at + after).saturating_duration_since(Instant::now());
        match tokio::time::timeout(after.min(left), self.stream.read_buf(&mut self.rbuf)).await {
            Ok(Ok(0)) => Err(match &self.bye {
                Some(reply) => ImapError::Bye {
                    context: context.to_string(),
                    reply: reply.clone(),
                },
                None => ImapError::Closed {
                    context: context.to_string(),
                },
            }),
            Ok(Ok(n)) => {
                self.stats.bytes_received += n as u64;
                Ok(())
            }
            Ok(Err(source)) => Err(io_error(context, source)),
            Err(_) if left < after && self.stats.bytes_received > self.progress_bytes => {
                Err(ImapError::Deadline {
                    context: context.to_string(),
                    after,
                })
            }
            Err(_) => Err(ImapError::Timeout {
                context: context.to_string(),
                after,
            }),
        }
    }

    pub(super) fn set_capabilities(&mut self, caps: &[String]) {
        self.capabilities = Some(caps.to_vec());
        self.caps_generation += 1;
    }

    pub(super) fn absorb(&mut self, response: &Response, context: &str) -> Result<(), ImapError> {
        let untagged = match response {
            Response::Untagged(u) => u,
            Response::Tagged(t) => {
                self.untagged_run = 0;
                self.exists_run = 0;
                self.exists_grown = 0;
                self.progress_at = Instant::now();
                self.progress_bytes = self.stats.bytes_received;
                self.progress_bytes = self.stats.bytes_received;
                if let Some(Code::Capability(c)) = &t.code {
                    self.set_capabilities(c);
                }
                return Ok(());
            }
            Response::Continuation { .. } => return Ok(()),
        };
        self.untagged_run += 1;
        if self.untagged_run > self.limits.max_untagged {
            return Err(ImapError::TooManyResponses {
                context: context.to_string(),
                limit: self.limits.max_untagged,
            });
        }
        match untagged {
            Untagged::Capability(c) => self.set_capabilities(c),
            Untagged::Status { status, code, text } => {
                match code {
                    Some(Code::Capability(c)) => self.set_capabilities(c),
                    Some(Code::Alert) if self.alerts.len() < 100 => self.alerts.push(text.clone()),
                    _ => {}
                }
                if *status == Status::Bye {
                    self.bye = Some(render_status(*status, code.as_ref(), text));
                }
            }
            Untagged::Exists(n) => {
                // Each EXISTS may resize the sequence map: a flood of them must stop
                // long before `max_untagged`.
                self.exists_run += 1;
                if self.exists_run > MAX_EXISTS_RUN {
                    return Err(ImapError::TooManyExists {
                        context: context.to_string(),
                        limit: MAX_EXISTS_RUN,
                    });
                }
                if let Some(m) = &mut self.mailbox {
                    m.exists_seen = true;
                    let n = *n as usize;
                    // Growth is bounded too: EXISTS alternating between 1 and a million
                    // would rebuild the map each time.
                    self.exists_grown += n.saturating_sub(m.seq_uids.len());
                    if n > self.limits.max_untagged
                        || self.exists_grown > 2 * self.limits.max_untagged
                    {
                        return Err(ImapError::TooManyResponses {
                            context: context.to_string(),
                            limit: self.limits.max_untagged,
                        });
                    }
                    // EXISTS never shrinks a mailbox without EXPUNGE; a server that says
                    // so anyway is believed.
                    m.seq_uids.resize(n, 0);
                }
            }
            Untagged::Expunge(seq) => {
                // Before the new mailbox's EXISTS, an EXPUNGE can only concern the
                // mailbox that was open before this EXAMINE.
                if let Some(m) = self.mailbox.as_mut().filter(|m| m.exists_seen) {
                    let i = (*seq as usize).wrapping_sub(1);
                    if i >= m.seq_uids.len() {
                        return Err(ImapError::protocol(
                            context,
                            format!(
                                "EXPUNGE of sequence {seq}, beyond the {} messages",
                                m.seq_uids.len()
                            ),
                            format!("* {seq} EXPUNGE"),
                        ));
                    }
                    m.seq_uids.remove(i);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

pub(super) fn astring_part(s: &[u8]) -> Part {
    if codec::needs_literal(s) {
        Part::Literal(s.to_vec())
    } else {
        Part::Text(codec::quoted(s))
    }
}

pub(super) fn mailbox_cmd(verb: &str, mailbox: &str) -> Cmd {
    let mut first = verb.as_bytes().to_vec();
    first.push(b' ');
    Cmd {
        parts: vec![Part::Text(first), astring_part(mailbox.as_bytes())],
        shown: format!("{verb} {}", shown_string(mailbox)),
    }
}

/// A string as it appears in a command, for errors: quoted, or `{n}` for a literal.
pub(super) fn shown_string(s: &str) -> String {
    if codec::needs_literal(s.as_bytes()) {
        format!("{{{}}}", s.len())
    } else {
        String::from_utf8_lossy(&codec::quoted(s.as_bytes())).into_owned()
    }
}

fn io_error(context: &str, source: io::Error) -> ImapError {
    ImapError::Io {
        context: context.to_string(),
        source,
    }
}

pub(super) fn unexpected(context: &str, response: &Response) -> ImapError {
    let problem = match response {
        Response::Tagged(_) => "a tagged reply with an unknown tag",
        Response::Continuation { .. } => "an unexpected continuation request",
        Response::Untagged(_) => "an unexpected untagged response",
    };
    ImapError::protocol(context, problem, summary(response))
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Alert => f.write_str("ALERT"),
            Code::Capability(c) => write!(f, "CAPABILITY {}", c.join(" ")),
            Code::Parse => f.write_str("PARSE"),
            Code::PermanentFlags(c) => write!(f, "PERMANENTFLAGS ({})", c.join(" ")),
            Code::ReadOnly => f.write_str("READ-ONLY"),
            Code::ReadWrite => f.write_str("READ-WRITE"),
            Code::TryCreate => f.write_str("TRYCREATE"),
            Code::UidNext(n) => write!(f, "UIDNEXT {n}"),
            Code::UidValidity(n) => write!(f, "UIDVALIDITY {n}"),
            Code::Unseen(n) => write!(f, "UNSEEN {n}"),
            Code::Other { name, args: None } => f.write_str(name),
            Code::Other {
                name,
                args: Some(a),
            } => write!(f, "{name} {a}"),
        }
    }
}

pub(super) fn render_status(status: Status, code: Option<&Code>, text: &str) -> String {
    match code {
        Some(c) => format!("{status} [{c}] {text}"),
        None => format!("{status} {text}"),
    }
    .trim_end()
    .to_string()
}

pub(super) fn render_tagged(t: &Tagged) -> String {
    render_status(t.status, t.code.as_ref(), &t.text)
}

/// A short rendering of a response for error messages (literal data left out).
pub(super) fn summary(r: &Response) -> String {
    match r {
        Response::Tagged(t) => format!("{} {}", t.tag, render_tagged(t)),
        Response::Continuation { text } => format!("+ {text}"),
        Response::Untagged(Untagged::Status { status, code, text }) => {
            format!("* {}", render_status(*status, code.as_ref(), text))
        }
        Response::Untagged(Untagged::Fetch { seq, items }) => fetch_summary(*seq, items),
        Response::Untagged(u) => format!("* {u:?}"),
    }
}
