//! The pure POP3 and IMAP codecs on mutated server bytes, fed whole and in random
//! chunks the way a socket delivers them: no panic, every step makes progress, every
//! bound holds, and the two deliveries decode to the same items and the same error.

use std::time::Duration;

use uidlmap::imap::codec::{self as imap, CodecLimits, Decoded as IDecoded};
use uidlmap::pop3::codec::{self as pop3, BlockDecoder, BlockProgress, Capabilities, Decoded};

use crate::mutate::{Rng, chunk_plan};
use crate::runner::Harness;
use crate::sessions;

/// Bytes arriving chunk by chunk into a buffer the decoder reads from.
struct Feed<'a> {
    input: &'a [u8],
    fed: usize,
    plan: Vec<usize>,
    step: usize,
    buf: Vec<u8>,
}

impl<'a> Feed<'a> {
    fn new(input: &'a [u8], plan: Vec<usize>) -> Self {
        Feed {
            input,
            fed: 0,
            plan,
            step: 0,
            buf: Vec::new(),
        }
    }

    /// Appends the next chunk; false at the end of the input.
    fn more(&mut self) -> bool {
        if self.fed == self.input.len() {
            return false;
        }
        let n = self.plan.get(self.step).copied().unwrap_or(usize::MAX);
        let n = n.min(self.input.len() - self.fed);
        self.buf
            .extend_from_slice(&self.input[self.fed..self.fed + n]);
        self.fed += n;
        self.step += 1;
        true
    }

    fn take(&mut self, n: usize) {
        self.buf.drain(..n);
    }
}

const MAX_LINE: usize = 512;
const MAX_BLOCK: usize = 8 * 1024;
const MAX_MESSAGES: usize = 100;

/// Which replies are multi-line: the order of a verify read, then `TOP`s to the end.
const POP3_STEPS: &[(&str, bool)] = &[
    ("greeting", false),
    ("CAPA", true),
    ("USER", false),
    ("PASS", false),
    ("STAT", false),
    ("UIDL", true),
    ("LIST", true),
];

/// Reads `input` as the server side of a POP3 session and says what a client made of it.
fn pop3_events(input: &[u8], plan: Vec<usize>) -> Result<Vec<String>, String> {
    let mut f = Feed::new(input, plan);
    let mut out = Vec::new();
    let mut uidls = None;
    for step in 0.. {
        let (name, multi) = POP3_STEPS.get(step).copied().unwrap_or(("TOP", true));
        let reply = loop {
            match pop3::decode_reply(&f.buf, MAX_LINE) {
                Ok(Decoded::Done { value, consumed }) => {
                    if consumed == 0 || consumed > MAX_LINE + 1 {
                        return Err(format!("{name}: status line consumed {consumed} bytes"));
                    }
                    f.take(consumed);
                    break value;
                }
                Ok(Decoded::NeedMore) if f.more() => {}
                Ok(Decoded::NeedMore) => {
                    out.push(format!("{name}: eof"));
                    return Ok(out);
                }
                Err(e) => {
                    out.push(format!("{name}: {e}"));
                    return Ok(out);
                }
            }
        };
        out.push(format!("{name}: {reply:?} {}", reply));
        if name == "greeting" {
            out.push(format!("apop {:?}", pop3::apop_timestamp(&reply.text)));
        }
        if name == "STAT" && reply.is_ok() {
            out.push(format!("stat {:?}", pop3::parse_stat(&reply)));
        }
        if !(multi && reply.is_ok()) {
            continue;
        }
        let mut dec = BlockDecoder::new(MAX_LINE, MAX_BLOCK);
        let block = loop {
            match dec.decode(&f.buf) {
                Ok(BlockProgress::Done { consumed, block }) => {
                    f.take(consumed);
                    break block;
                }
                Ok(BlockProgress::NeedMore { consumed }) => {
                    f.take(consumed);
                    if !f.more() {
                        out.push(format!("{name} block: eof"));
                        return Ok(out);
                    }
                }
                Err(e) => {
                    out.push(format!("{name} block: {e}"));
                    return Ok(out);
                }
            }
        };
        if block.len() > MAX_BLOCK {
            return Err(format!(
                "{name}: block of {} bytes passed the bound",
                block.len()
            ));
        }
        out.push(format!("{name} block {block:?}"));
        match name {
            "CAPA" => out.push(format!("{:?}", Capabilities::parse(&block))),
            "UIDL" => {
                let r = pop3::parse_uidl_listing(&block, MAX_MESSAGES);
                if let Ok(l) = &r {
                    if l.len() > MAX_MESSAGES {
                        return Err("UIDL listing passed the count bound".into());
                    }
                    uidls = Some(l.len());
                }
                out.push(format!("{r:?}"));
            }
            "LIST" => {
                out.push(format!(
                    "{:?}",
                    pop3::parse_list_listing(&block, MAX_MESSAGES, uidls)
                ));
                out.push(format!(
                    "{:?}",
                    pop3::parse_list_listing(&block, MAX_MESSAGES, None)
                ));
            }
            _ => {}
        }
    }
    unreachable!()
}

fn limits() -> CodecLimits {
    CodecLimits {
        max_line: 1024,
        max_literal: 4096,
        max_response: 8192,
        max_depth: 8,
    }
}

/// Decodes every response of `input` delivered by `plan`.
fn imap_events(input: &[u8], plan: Vec<usize>) -> Result<Vec<String>, String> {
    let limits = limits();
    let mut f = Feed::new(input, plan);
    let mut out = Vec::new();
    // Chunked reads go through the resuming decoder, as the client does; whole input
    // through the plain one, so the comparison covers both.
    let mut resume = imap::Resume::default();
    loop {
        let got = if f.plan.is_empty() {
            imap::decode(&f.buf, &limits)
        } else {
            imap::decode_resuming(&f.buf, &limits, &mut resume)
        };
        if !matches!(got, Ok(IDecoded::Incomplete)) {
            resume = imap::Resume::default();
        }
        match got {
            Ok(IDecoded::Complete { value, consumed }) => {
                if consumed == 0 {
                    return Err("a response consumed no bytes".into());
                }
                if consumed > limits.max_response + limits.max_line + 2 {
                    return Err(format!("a response of {consumed} bytes passed the bound"));
                }
                f.take(consumed);
                out.push(format!("{value:?}"));
            }
            Ok(IDecoded::Incomplete) if f.more() => {}
            Ok(IDecoded::Incomplete) => {
                out.push(format!("eof with {} bytes left", f.buf.len()));
                return Ok(out);
            }
            Err(e) => {
                out.push(format!("error {e}"));
                return Ok(out);
            }
        }
    }
}

fn same_either_way(
    input: &[u8],
    rng: &mut Rng,
    events: fn(&[u8], Vec<usize>) -> Result<Vec<String>, String>,
) -> Result<(), String> {
    let whole = events(input, vec![])?;
    let chunked = events(input, chunk_plan(rng, input.len(), 64))?;
    if whole != chunked {
        let at = whole.iter().zip(&chunked).position(|(a, b)| a != b);
        let at = at.unwrap_or(whole.len().min(chunked.len()));
        return Err(format!(
            "whole and chunked differ at item {at}: {:?} vs {:?}",
            whole.get(at),
            chunked.get(at)
        ));
    }
    Ok(())
}

/// Handwritten seeds from real Dovecot 2.3 sessions (the interop notes), beside the
/// recorded fake-server ones.
const POP3_DOVECOT: &[u8] = b"+OK Dovecot (Debian) ready.\r\n+OK\r\nCAPA\r\nTOP\r\nUIDL\r\n\
RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n.\r\n+OK\r\n+OK Logged in.\r\n\
+OK 2 300\r\n+OK\r\n1 000000017d8f6a7c\r\n2 000000027d8f6a7c\r\n.\r\n+OK 2 messages:\r\n1 136\r\n\
2 164\r\n.\r\n+OK\r\nFrom: a@example.com\r\nSubject: x\r\n\r\n.\r\n\
-ERR [SYS/TEMP] Message 2 expunged.\r\n";

const IMAP_DOVECOT: &[u8] = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n1 OK [CAPABILITY IMAP4rev1 UIDPLUS \
ESEARCH SAVEDATE LITERAL+ NOTIFY] Logged in\r\n* LIST (\\Noselect) \".\" \"\"\r\n2 OK List \
completed (0.001 + 0.000 secs).\r\n* STATUS INBOX (UIDNEXT 9 UIDVALIDITY 1795877593)\r\n\
* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS ()] Read-only \
mailbox.\r\n* 8 EXISTS\r\n* 8 RECENT\r\n* OK [UIDVALIDITY 1795877593] UIDs valid\r\n\
7 OK [READ-ONLY] Examine completed (0.002 + 0.000 + 0.001 secs).\r\n\
* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))\r\n* 1 FETCH (UID 1 RFC822.SIZE 136)\r\n\
* 1 FETCH (UID 1 BODY[HEADER] {24}\r\nFrom: a@example.com\r\n\r\n)\r\n\
* 1 FETCH (UID 1 INTERNALDATE \"14-Nov-2023 22:13:21 +0000\" SAVEDATE \"28-Nov-2026 14:53:13 \
+0000\" BODY[] {9}\r\nX: y\r\n\r\nz)\r\n* 2 FETCH (UID 2 BODY[HEADER] NIL)\r\n* BYE Logging out\r\n\
12 OK Logout completed (0.026 + 0.000 + 0.025 secs).\r\n+ go ahead\r\n";

pub fn pop3() -> Harness {
    let mut seeds: Vec<Vec<u8>> = sessions::block_on(sessions::pop3_transcripts())
        .into_iter()
        .map(|t| t.from_server)
        .collect();
    seeds.push(POP3_DOVECOT.to_vec());
    Harness {
        name: "pop3_codec",
        seeds,
        dict: POP3_DICT,
        max_len: 16 * 1024,
        mem_base: 256 << 10,
        mem_per_byte: 64,
        per_input: Duration::from_secs(3),
        make_check: Box::new(|| Box::new(|input, rng| same_either_way(input, rng, pop3_events))),
    }
}

pub fn imap() -> Harness {
    let mut seeds: Vec<Vec<u8>> = sessions::block_on(sessions::imap_transcripts())
        .into_iter()
        .map(|t| t.from_server)
        .collect();
    seeds.push(IMAP_DOVECOT.to_vec());
    Harness {
        name: "imap_codec",
        seeds,
        dict: IMAP_DICT,
        max_len: 16 * 1024,
        mem_base: 256 << 10,
        mem_per_byte: 64,
        per_input: Duration::from_secs(3),
        make_check: Box::new(|| Box::new(|input, rng| same_either_way(input, rng, imap_events))),
    }
}

const POP3_DICT: &[&[u8]] = &[
    b"+OK",
    b"-ERR",
    b"+OK\r\n",
    b"+OK [IN-USE] x\r\n",
    b"[",
    b"]",
    b".\r\n",
    b"\r\n.\r\n",
    b"..",
    b"+ ",
    b"1 ",
    b"2 ",
    b"0 ",
    b"TOP\r\n",
    b"SASL PLAIN\r\n",
    b"<1.2@x>",
];

const IMAP_DICT: &[&[u8]] = &[
    b"* ",
    b"+ ",
    b"1 ",
    b"OK",
    b"NO",
    b"BAD",
    b"BYE",
    b"{0}\r\n",
    b"{5}\r\n",
    b"{4096}\r\n",
    b"{4097}\r\n",
    b"{18446744073709551616}\r\n",
    b"{3+}\r\n",
    b" EXISTS\r\n",
    b" FETCH (",
    b"UID ",
    b"RFC822.SIZE ",
    b"BODY[HEADER] ",
    b"BODY[]<0> ",
    b"NIL",
    b"FLAGS (",
    b"[",
    b"]",
    b"[UIDNEXT 5]",
    b"[CAPABILITY IMAP4rev1]",
    b"((((((((((",
    b"))",
    b"\"",
    b"\\",
    b"* LIST () \".\" INBOX\r\n",
    b"* STATUS INBOX (MESSAGES 1)\r\n",
    b"* SEARCH 1 2\r\n",
];
