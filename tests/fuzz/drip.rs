//! Long lines dripped a few bytes per read, with the clients' default limits: the cost
//! must grow linearly with the line, not with its square (a reader that rescans its
//! buffer on every read turns a slow server into a CPU hang). Checked as the time for a
//! line k× longer, best of 5: about k× when linear, about k²× when quadratic; the bound
//! is k²/2.

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
    let plan = vec![chunk; data.len().div_ceil(chunk)];
    let start = Instant::now();
    run(replay(data, plan));
    start.elapsed()
}

/// Times `f` at `len` and `factor × len`; the ratio must stay under `factor²/2`
/// (linear gives about `factor`, quadratic about `factor²`).
fn linear(name: &str, f: fn(usize, usize) -> Duration, len: usize, chunk: usize, factor: usize) {
    // Short and long runs alternate, so that both see the same load; the best of five
    // of each is kept, since load only ever adds time.
    let (mut short, mut long) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        short = short.min(f(len, chunk));
        long = long.min(f(factor * len, chunk));
    }
    let ratio = long.as_secs_f64() / short.as_secs_f64().max(1e-6);
    let bound = (factor * factor) as f64 / 2.0;
    println!(
        "drip {name}: {len} bytes in {chunk}-byte reads {short:?}, {} bytes {long:?}, ratio {ratio:.1}",
        factor * len
    );
    assert!(
        ratio < bound,
        "drip {name}: {factor}x the bytes took {ratio:.1}x the time (quadratic)"
    );
}

/// For lines too short for a clean ratio: the time must stay under `limit`, which is
/// many times what a linear reader takes and a small part of what a quadratic one does.
fn bounded(name: &str, f: fn(usize, usize) -> Duration, len: usize, chunk: usize, limit: Duration) {
    let took = (0..3).map(|_| f(len, chunk)).min().unwrap_or_default();
    println!("drip {name}: {len} bytes in {chunk}-byte reads {took:?} (limit {limit:?})");
    assert!(
        took < limit,
        "drip {name}: {took:?} for {len} bytes (quadratic?)"
    );
}

pub fn pop3() {
    // 8 × 96 KiB stays under the client's 1 MiB cap on one message line.
    linear("pop3 RETR line", pop3_retr, 96 << 10, 16, 8);
    // The status line limit is 64 KiB, too short for a clean ratio (the per-read cost
    // steps up near 10,000 reads). Debug build, 56 KiB in 1-byte reads: 35-70 ms when
    // linear; a reader rescanning per read takes seconds (1.6 s in 16-byte reads).
    bounded(
        "pop3 greeting line",
        pop3_greeting,
        56 << 10,
        1,
        Duration::from_secs(1),
    );
}

pub fn imap() {
    // The line limit is 1 MiB.
    linear("imap greeting line", imap_greeting, 120 << 10, 16, 8);
    linear("imap literal chain", imap_literal_chain, 8 << 10, 64, 8);
}
