//! Long lines dripped a few bytes per read, with the clients' default limits: the cost
//! must grow linearly with the line, not with its square (a reader that rescans its
//! buffer on every read turns a slow server into a CPU hang). Checked as the time for a
//! line 8× longer, best of 3: about 8× when linear (up to ~20× seen on a loaded
//! machine), about 64× when quadratic; the bound is 40×.

use std::time::{Duration, Instant};

use uidlmap::imap::ImapClient;
use uidlmap::pop3::Pop3Client;

use crate::clients::{Replay, replay};
use crate::sessions::{self, block_on};

/// POP3: a greeting, then a `RETR` answered by one `len`-byte line.
fn pop3_retr(len: usize, chunk: usize) -> Duration {
    let mut data = b"+OK hi\r\n+OK\r\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', len));
    data.extend_from_slice(b"\r\n.\r\n");
    time(&data, chunk, |r| {
        block_on(async {
            let mut c = Pop3Client::greet(r, sessions::pop3_timeouts(), Default::default())
                .await
                .expect("greeting");
            let got = c.retr(1).await.expect("RETR read");
            assert_eq!(got.bytes().map(<[u8]>::len), Some(len + 2));
        })
    })
}

/// POP3: a greeting that is one `len`-byte line (status lines have their own reader).
fn pop3_greeting(len: usize, chunk: usize) -> Duration {
    let mut data = b"+OK ".to_vec();
    data.extend(std::iter::repeat_n(b'x', len));
    data.extend_from_slice(b"\r\n");
    time(&data, chunk, |r| {
        block_on(async {
            let c = Pop3Client::greet(r, sessions::pop3_timeouts(), Default::default())
                .await
                .expect("greeting");
            assert_eq!(c.greeting().text.len(), len);
        })
    })
}

/// IMAP: a greeting that is one `len`-byte line.
fn imap_greeting(len: usize, chunk: usize) -> Duration {
    let mut data = b"* OK ".to_vec();
    data.extend(std::iter::repeat_n(b'x', len));
    data.extend_from_slice(b"\r\n");
    time(&data, chunk, |r| {
        block_on(async {
            let c = ImapClient::greet(r, sessions::imap_timeouts(), Default::default())
                .await
                .expect("greeting");
            assert_eq!(c.greeting().len(), len);
        })
    })
}

/// IMAP: a greeting slot answered by one response of `lines` short lines, each ending
/// in an empty literal (every line end is a new LF, so each read decodes again).
fn imap_literal_chain(lines: usize, chunk: usize) -> Duration {
    let mut data = b"* 1 FETCH (".to_vec();
    for _ in 0..lines {
        data.extend_from_slice(b"X {0}\r\n");
    }
    data.extend_from_slice(b"UID 1)\r\n");
    time(&data, chunk, |r| {
        block_on(async {
            let got = ImapClient::greet(r, sessions::imap_timeouts(), Default::default()).await;
            assert!(got.is_err(), "a FETCH is no greeting");
        })
    })
}

fn time(data: &[u8], chunk: usize, run: impl Fn(Replay)) -> Duration {
    (0..3)
        .map(|_| {
            let plan = vec![chunk; data.len().div_ceil(chunk)];
            let start = Instant::now();
            run(replay(data, plan));
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn linear(name: &str, f: fn(usize, usize) -> Duration, len: usize, chunk: usize) {
    let short = f(len, chunk);
    let long = f(8 * len, chunk);
    let ratio = long.as_secs_f64() / short.as_secs_f64().max(1e-6);
    println!(
        "drip {name}: {len} bytes in {chunk}-byte reads {short:?}, {} bytes {long:?}, ratio {ratio:.1}",
        8 * len
    );
    assert!(
        ratio < 40.0,
        "drip {name}: 8x the line took {ratio:.1}x the time (quadratic)"
    );
}

pub fn pop3() {
    linear("pop3 RETR line", pop3_retr, 192 << 10, 16);
    // The status line limit is 64 KiB.
    linear("pop3 greeting line", pop3_greeting, 7 << 10, 1);
}

pub fn imap() {
    // The line limit is 1 MiB.
    linear("imap greeting line", imap_greeting, 120 << 10, 16);
    linear("imap literal chain", imap_literal_chain, 4 << 10, 64);
}
