//! Pipelining beyond Dovecot's, for reading at the network floor: a login with `USER`
//! and `PASS` in one write and the listing (`CAPA`, `UIDL`, `LIST`) right behind it, and
//! fetches bounded by the bytes of the replies outstanding rather than by a count of
//! commands. RFC 2449 allows all of it once `PIPELINING` is announced (RFC 1939 lets
//! `USER` and `PASS` travel together then). The Dovecot-like reader keeps the window of
//! `fetch_each`, whose round trips are Dovecot's.

use super::*;

/// Reply bytes kept in flight by default: a 50 ms round trip at 1 Gbit/s, and only the
/// server's and the kernel's buffers hold them; this client reads one reply at a time.
pub const DEFAULT_BUDGET: u64 = 8 << 20;

/// Most commands in flight whatever the estimates say: bounds the queue of commands
/// (about 12 bytes each) when messages are tiny.
pub const MAX_IN_FLIGHT: usize = 16_384;

/// A guess at a header's length when only the message's is known: long enough for most
/// mail, so that estimates err on the side of fewer commands in flight.
const HEADER_GUESS: u64 = 4096;

/// What `UIDL` and `LIST` said: entry `i` is message `i + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub uidls: Vec<Vec<u8>>,
    pub sizes: Vec<u64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// After a `CAPA` that announced `PIPELINING`: `USER`, `PASS`, `CAPA`, `UIDL` and
    /// `LIST` in one write, then their replies. The capabilities are the ones after
    /// login. Any failure leaves the session unusable: start again the plain way.
    pub async fn login_and_list(
        &mut self,
        user: &str,
        password: &Secret,
    ) -> Result<Listing, Pop3Error> {
        let user_line = format!("USER {user}");
        check_arg(&user_line, "the user name", user)?;
        check_arg("PASS ***", "the password", password.expose())?;
        if !self.caps.as_ref().is_some_and(|c| c.pipelining) {
            return Err(Pop3Error::NotSupported {
                command: user_line,
                what: "pipelining before PIPELINING is announced",
            });
        }
        self.check_usable(&user_line)?;
        self.queue(&user_line, &user_line);
        self.queue(&format!("PASS {}", password.expose()), "PASS ***");
        for c in ["CAPA", "UIDL", "LIST"] {
            self.queue(c, c);
        }
        self.flush().await?;
        let listed = self.read_login_and_list(&user_line).await;
        if let Err(e) = &listed {
            // Replies of the commands behind the failed one are still on their way.
            self.broken.get_or_insert_with(|| e.to_string());
        }
        listed
    }

    async fn read_login_and_list(&mut self, user_line: &str) -> Result<Listing, Pop3Error> {
        self.read_ok(user_line).await?;
        self.read_ok("PASS ***").await?;
        let reply = self.read_reply("CAPA").await?;
        let caps = match reply.status {
            Status::Ok => {
                let max_line = self.limits.max_line;
                let block = self.read_block("CAPA", max_line, max_line * 4).await?;
                Capabilities::parse(&block)
            }
            _ => Capabilities::fallback(),
        };
        self.caps = Some(caps);
        self.read_ok("UIDL").await?;
        let block = self
            .read_block("UIDL", self.limits.max_line, self.limits.max_block)
            .await?;
        let uidls = codec::parse_uidl_listing(&block, self.limits.max_messages)
            .map_err(|source| self.fail_protocol("UIDL", source))?;
        self.read_ok("LIST").await?;
        let block = self
            .read_block("LIST", self.limits.max_line, self.limits.max_block)
            .await?;
        let sizes = codec::parse_list_listing(&block, self.limits.max_messages, Some(uidls.len()))
            .map_err(|source| self.fail_protocol("LIST", source))?;
        Ok(Listing { uidls, sizes })
    }

    /// Reads the status line of a command already sent; anything but `+OK` is an error.
    async fn read_ok(&mut self, shown: &str) -> Result<Reply, Pop3Error> {
        let reply = self.read_reply(shown).await?;
        match reply.status {
            Status::Ok => Ok(reply),
            Status::Err => Err(Pop3Error::Rejected {
                command: shown.into(),
                reply,
            }),
            Status::Continue => Err(self.fail_protocol(
                shown,
                CodecError::UnexpectedContinuation { line: reply.line },
            )),
        }
    }

    /// Headers as [`Pop3Client::fetch_headers_each`] reads them (`TOP n 0`, or `RETR n`
    /// without TOP), with the commands in flight bounded by `budget` bytes of replies
    /// estimated from `sizes` (entry `i`: message `i + 1`'s `LIST` size).
    pub async fn fetch_headers_budgeted(
        &mut self,
        numbers: &[u32],
        sizes: &[u64],
        budget: u64,
        mut each: impl FnMut(u32, Fetched),
    ) -> Result<(), Pop3Error> {
        let top = self.caps.as_ref().is_some_and(|c| c.top);
        let size = |msg: u32| {
            sizes
                .get((msg as usize).wrapping_sub(1))
                .copied()
                .unwrap_or(HEADER_GUESS)
        };
        let requests: Vec<Fetch> = numbers
            .iter()
            .map(|&msg| {
                if top {
                    Fetch::Top { msg, lines: 0 }
                } else {
                    Fetch::Retr { msg }
                }
            })
            .collect();
        // Status line, terminator and a little dot-stuffing on top of the data.
        let estimate = |i: usize| match requests[i] {
            Fetch::Top { msg, .. } => size(msg).min(HEADER_GUESS) + 16,
            Fetch::Retr { msg } => size(msg) + size(msg) / 64 + 16,
        };
        self.fetch_budgeted(&requests, estimate, budget, |i, f| each(numbers[i], f))
            .await
    }

    /// Runs `requests` with as many in flight as `budget` bytes of estimated replies
    /// allow (at least one, at most [`MAX_IN_FLIGHT`]), topping up as each reply is
    /// read; commands go out while replies come in. Without `PIPELINING`, one at a time.
    pub async fn fetch_budgeted(
        &mut self,
        requests: &[Fetch],
        estimate: impl Fn(usize) -> u64,
        budget: u64,
        mut each: impl FnMut(usize, Fetched),
    ) -> Result<(), Pop3Error> {
        if !self.caps.as_ref().is_some_and(|c| c.pipelining) {
            let window = self.window;
            self.window = 1;
            let done = self.fetch_each(requests, each).await;
            self.window = window;
            return done;
        }
        if requests.is_empty() {
            return Ok(());
        }
        // One wait however many commands: the pipeline is never drained to refill it.
        self.stats.round_trips += 1;
        let (mut sent, mut done, mut outstanding) = (0, 0, 0u64);
        while done < requests.len() {
            let command = requests[done].command();
            self.check_usable(&command)?;
            while sent < requests.len()
                && sent - done < MAX_IN_FLIGHT
                && (sent == done || outstanding + estimate(sent) <= budget)
            {
                let line = requests[sent].command();
                self.queue(&line, &line);
                outstanding += estimate(sent);
                sent += 1;
            }
            let fetched = self.read_fetched(requests[done], &command).await?;
            outstanding -= estimate(done);
            each(done, fetched);
            done += 1;
        }
        Ok(())
    }
}
