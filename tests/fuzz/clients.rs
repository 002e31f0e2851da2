//! The POP3 and IMAP clients against mutated server bytes: a recorded session's server
//! side is mutated and replayed to the same client session from memory (writes are
//! dropped), once whole and once cut into random small reads. The client must end (an
//! error is fine), and both deliveries must give the same results.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::mutate::{Rng, chunk_plan};
use crate::runner::{Check, Harness};
use crate::sessions;

/// Serves fixed bytes in reads of planned lengths, then EOF; swallows writes.
pub struct Replay {
    data: Vec<u8>,
    pos: usize,
    plan: Vec<usize>,
    step: usize,
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let planned = me.plan.get(me.step).copied().unwrap_or(usize::MAX);
        let n = planned.min(buf.remaining()).min(me.data.len() - me.pos);
        buf.put_slice(&me.data[me.pos..me.pos + n]);
        me.pos += n;
        me.step += 1;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

pub fn replay(data: &[u8], plan: Vec<usize>) -> Replay {
    Replay {
        data: data.to_vec(),
        pos: 0,
        plan,
        step: 0,
    }
}

type Session = fn(Replay) -> Pin<Box<dyn std::future::Future<Output = Vec<String>>>>;

fn check_with(session: Session) -> Check {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Box::new(move |input: &[u8], rng: &mut Rng| {
        // A bound the replay never needs (it never waits): only a client that loops
        // without reading could reach it.
        let limit = Duration::from_secs(20);
        let whole = rt
            .block_on(async { tokio::time::timeout(limit, session(replay(input, vec![]))).await })
            .map_err(|_| "the client did not end on whole input".to_string())?;
        let plan = chunk_plan(rng, input.len(), 97);
        let chunked = rt
            .block_on(async { tokio::time::timeout(limit, session(replay(input, plan))).await })
            .map_err(|_| "the client did not end on chunked input".to_string())?;
        if let Some(v) = whole
            .iter()
            .chain(&chunked)
            .find(|e| e.starts_with(sessions::VIOLATION))
        {
            return Err(v.clone());
        }
        if whole != chunked {
            let at = whole.iter().zip(&chunked).position(|(a, b)| a != b);
            let at = at.unwrap_or(whole.len().min(chunked.len()));
            return Err(format!(
                "whole and chunked reads differ at step {at}: {:?} vs {:?}",
                whole.get(at),
                chunked.get(at)
            ));
        }
        Ok(())
    })
}

const POP3_DICT: &[&[u8]] = &[
    b"+OK",
    b"-ERR",
    b"+OK\r\n",
    b"-ERR [IN-USE] locked\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"..",
    b"+ \r\n",
    b"[SYS/TEMP]",
    b"TOP\r\n",
    b"UIDL\r\n",
    b"PIPELINING\r\n",
    b"SASL PLAIN\r\n",
    b"1 ",
    b"2 ",
    b"65536\r\n",
    b"<1.2@x>",
];

const IMAP_DICT: &[&[u8]] = &[
    b"* ",
    b"+ ",
    b"a1 ",
    b"OK",
    b"NO",
    b"BAD",
    b"BYE",
    b"PREAUTH",
    b"{0}\r\n",
    b"{5}\r\n",
    b"{99999}\r\n",
    b"{18446744073709551616}\r\n",
    b"{3+}\r\n",
    b" EXISTS\r\n",
    b" EXPUNGE\r\n",
    b" FETCH (",
    b"UID ",
    b"RFC822.SIZE ",
    b"BODY[HEADER] ",
    b"BODY[] ",
    b"NIL",
    b"FLAGS (",
    b"[UIDVALIDITY 1]",
    b"[UIDNEXT 5]",
    b"[CAPABILITY IMAP4rev1]",
    b"((((((((",
    b"))",
    b"\"",
    b"\\",
    b"* 1 FETCH (UID 1 RFC822.SIZE 5)\r\n",
    b"* LIST () \".\" INBOX\r\n",
];

pub fn pop3() -> Harness {
    let seeds = sessions::block_on(sessions::pop3_transcripts())
        .into_iter()
        .map(|t| t.from_server)
        .collect();
    Harness {
        name: "pop3_client",
        seeds,
        dict: POP3_DICT,
        max_len: 32 * 1024,
        mem_base: 2 << 20,
        mem_per_byte: 64,
        per_input: Duration::from_secs(3),
        make_check: Box::new(|| check_with(|r| Box::pin(sessions::pop3_session(r)))),
    }
}

pub fn imap() -> Harness {
    let seeds = sessions::block_on(sessions::imap_transcripts())
        .into_iter()
        .map(|t| t.from_server)
        .collect();
    Harness {
        name: "imap_client",
        seeds,
        dict: IMAP_DICT,
        max_len: 48 * 1024,
        mem_base: 2 << 20,
        mem_per_byte: 64,
        per_input: Duration::from_secs(3),
        make_check: Box::new(|| check_with(|r| Box::pin(sessions::imap_session(r)))),
    }
}
