//! The network floor of a read (issue 14): a minimal client that sends every command of
//! both protocols in one write, to both servers at once, and reads everything back.
//! Shared by the benches that compare `verify` with it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `commands` at once and reads until the server closes; the read starts with
/// the write, so neither side waits on a full buffer.
async fn one_write(addr: SocketAddr, commands: String) -> usize {
    let s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.set_nodelay(true);
    let (mut r, mut w) = s.into_split();
    let write = async move {
        w.write_all(commands.as_bytes()).await.expect("write");
        w
    };
    let read = async move {
        let mut n = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break n,
                Ok(k) => n += k,
            }
        }
    };
    let (_w, n) = tokio::join!(write, read);
    n
}

/// The floor: every command of both protocols in one write each, both at once, for a
/// maildrop of `n` messages and the IMAP `folders`.
pub async fn floor(
    pop3: SocketAddr,
    imap: SocketAddr,
    user: &str,
    password: &str,
    n: usize,
    folders: &[String],
) -> Duration {
    let mut p = format!("USER {user}\r\nPASS {password}\r\nUIDL\r\nLIST\r\n");
    for i in 1..=n {
        p.push_str(&format!("TOP {i} 0\r\n"));
    }
    p.push_str("QUIT\r\n");
    let mut i = format!("a LOGIN \"{user}\" \"{password}\"\r\nb LIST \"\" \"*\"\r\n");
    for (k, name) in folders.iter().enumerate() {
        i.push_str(&format!(
            "e{k} EXAMINE \"{name}\"\r\nl{k} UID FETCH 1:* (UID RFC822.SIZE)\r\n\
             h{k} UID FETCH 1:* (BODY.PEEK[HEADER])\r\n"
        ));
    }
    i.push_str("z LOGOUT\r\n");
    let t = Instant::now();
    let (a, b) = tokio::join!(one_write(pop3, p), one_write(imap, i));
    assert!(a > 0 && b > 0, "the floor read nothing");
    t.elapsed()
}
