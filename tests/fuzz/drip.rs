//! Long lines dripped a few bytes per read, with the clients' default limits: the cost
//! must grow linearly with the line, not with its square (a reader that rescans its
//! buffer on every read turns a slow server into a CPU hang). Checked as the time for a
//! line 4× longer, best of 3: about 4× when linear, about 16× when quadratic.

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
    let long = f(4 * len, chunk);
    let ratio = long.as_secs_f64() / short.as_secs_f64().max(1e-6);
    println!(
        "drip {name}: {len} bytes in {chunk}-byte reads {short:?}, {} bytes {long:?}, ratio {ratio:.1}",
        4 * len
    );
    assert!(
        ratio < 9.0,
        "drip {name}: 4x the line took {ratio:.1}x the time (quadratic)"
    );
}

pub fn pop3() {
    linear("pop3 RETR line", pop3_retr, 192 << 10, 16);
}

pub fn imap() {
    linear("imap greeting line", imap_greeting, 192 << 10, 16);
}
