//! A far network on loopback: a link that delays every byte by a fixed time each way
//! (and optionally limits bandwidth), and counts the round trips the client waited.
//!
//! [`Link`] describes the network. [`shaped`] puts a link inside a server: the accepted
//! connection is relayed through the link to a fresh loopback socket that the session
//! reads as usual (TLS, STLS and every script rule work unchanged). [`Proxy`] puts a link
//! in front of any server (a real Dovecot too), for benches.
//!
//! Delaying is done per chunk read, not per command: a chunk read at `t` leaves at
//! `t + latency`, so pipelined commands stay pipelined and only waits cost round trips.
//! What the relay holds is bounded by what the peers send within one latency (and by
//! the kernel's socket buffers when a peer stops reading).
//!
//! [`Turns`] counts, per direction of talk, the times the client sent after it had
//! received everything the server had sent so far, the server having spoken since the
//! client last did: a lock-step wait. A client that tops up its pipeline while replies
//! still stream in is not counted; the wall-clock cost of such partial waits is what a
//! bench measures by comparing times with and without the link.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// A network between client and server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Added to every byte, each way (25 ms gives a 50 ms round trip).
    pub latency: Duration,
    /// Bytes per second each way; `None` = as fast as loopback.
    pub bandwidth: Option<u64>,
}

impl Link {
    pub fn latency(latency: Duration) -> Self {
        Link {
            latency,
            bandwidth: None,
        }
    }

    /// Whether the link changes anything.
    pub fn is_shaped(&self) -> bool {
        !self.latency.is_zero() || self.bandwidth.is_some()
    }
}

/// Round trips waited and bytes carried, summed over every connection of a link.
#[derive(Debug, Default)]
pub struct Turns {
    /// Lock-step waits (see the module documentation), the greeting's included.
    pub waits: AtomicU64,
    pub connections: AtomicU64,
    pub bytes_to_server: AtomicU64,
    pub bytes_to_client: AtomicU64,
}

impl Turns {
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Sets every counter back to 0.
    pub fn reset(&self) {
        for c in [
            &self.waits,
            &self.connections,
            &self.bytes_to_server,
            &self.bytes_to_client,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// State one connection's two directions share, for counting waits.
#[derive(Debug, Default)]
struct Conversation {
    /// Bytes from the server not yet handed to the client.
    to_client_queued: AtomicU64,
    /// The server has spoken since the client last sent.
    server_spoke: AtomicBool,
    turns: Arc<Turns>,
}

/// Largest chunk read at a time.
const CHUNK: usize = 64 * 1024;

/// Reads from `from`, stamps each chunk with its departure time and queues it.
async fn intake(
    mut from: OwnedReadHalf,
    tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    link: Link,
    conv: Arc<Conversation>,
    client_side: bool,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client_side {
            // The client speaks having seen all the server said: it waited for that.
            if conv.to_client_queued.load(Ordering::Acquire) == 0
                && conv.server_spoke.swap(false, Ordering::AcqRel)
            {
                conv.turns.waits.fetch_add(1, Ordering::Relaxed);
            }
            conv.turns
                .bytes_to_server
                .fetch_add(n as u64, Ordering::Relaxed);
        } else {
            conv.to_client_queued.fetch_add(n as u64, Ordering::AcqRel);
            conv.turns
                .bytes_to_client
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        if tx
            .send((Instant::now() + link.latency, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
}

/// Writes queued chunks to `to` once their time has come, at the link's bandwidth.
async fn delivery(
    mut to: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    link: Link,
    conv: Arc<Conversation>,
    client_side: bool,
) {
    let mut free_at = Instant::now();
    // Under a bandwidth limit a chunk goes in pieces of about 10 ms each, every piece
    // waiting for the link to be free: a chunk read whole is still paced.
    let piece = link
        .bandwidth
        .map_or(CHUNK, |bw| (bw / 100).clamp(512, CHUNK as u64) as usize);
    'chunks: while let Some((due, bytes)) = rx.recv().await {
        tokio::time::sleep_until(due.max(free_at)).await;
        for part in bytes.chunks(piece) {
            tokio::time::sleep_until(free_at).await;
            if let Some(bw) = link.bandwidth {
                let cost = Duration::from_secs_f64(part.len() as f64 / bw.max(1) as f64);
                free_at = free_at.max(Instant::now()) + cost;
            }
            if to.write_all(part).await.is_err() {
                break 'chunks;
            }
        }
        if client_side {
            conv.server_spoke.store(true, Ordering::Release);
            conv.to_client_queued
                .fetch_sub(bytes.len() as u64, Ordering::AcqRel);
        }
    }
    let _ = to.shutdown().await;
}

/// Relays `client` ⇄ `server` through `link` until both directions end.
pub async fn relay(client: TcpStream, server: TcpStream, link: Link, turns: Arc<Turns>) {
    turns.connections.fetch_add(1, Ordering::Relaxed);
    let conv = Arc::new(Conversation {
        turns,
        ..Conversation::default()
    });
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (c_read, c_write) = client.into_split();
    let (s_read, s_write) = server.into_split();
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    tokio::join!(
        intake(c_read, up_tx, link, conv.clone(), true),
        delivery(s_write, up_rx, link, conv.clone(), false),
        intake(s_read, down_tx, link, conv.clone(), false),
        delivery(c_write, down_rx, link, conv.clone(), true),
    );
}

/// A loopback socket pair: (the end a relay writes to, the end a session reads).
async fn socket_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    Ok((connected?, accepted?.0))
}

/// The accepted `tcp` seen through `link`: a socket whose peer is a relay to `tcp`.
/// Unshaped links hand `tcp` back as it is.
pub async fn shaped(tcp: TcpStream, link: Link, turns: Arc<Turns>) -> io::Result<TcpStream> {
    if !link.is_shaped() {
        return Ok(tcp);
    }
    let (relay_end, session_end) = socket_pair().await?;
    let _ = session_end.set_nodelay(true);
    tokio::spawn(relay(tcp, relay_end, link, turns));
    Ok(session_end)
}

/// A listener on `127.0.0.1:0` relaying every connection to `upstream` through a link.
pub struct Proxy {
    pub addr: SocketAddr,
    pub turns: Arc<Turns>,
    stop: Arc<Notify>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, link: Link) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let turns = Arc::new(Turns::default());
        let stop = Arc::new(Notify::new());
        let (t, s) = (turns.clone(), stop.clone());
        tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = s.notified() => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let t = t.clone();
                        relays.spawn(async move {
                            if let Ok(server) = TcpStream::connect(upstream).await {
                                relay(client, server, link, t).await;
                            }
                        });
                    }
                }
            }
            relays.shutdown().await;
        });
        Ok(Proxy { addr, turns, stop })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delays_each_way_and_counts_lock_step_waits() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = upstream.local_addr().unwrap();
        // An echo server that greets first.
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            s.write_all(b"hi\n").await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        let proxy = Proxy::start(up, Link::latency(Duration::from_millis(20)))
            .await
            .unwrap();
        let t = std::time::Instant::now();
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hi\n");
        for _ in 0..3 {
            c.write_all(b"x\n").await.unwrap();
            let n = c.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"x\n");
        }
        let took = t.elapsed();
        // Greeting: one way; three echoes: a round trip each.
        assert!(took >= Duration::from_millis(20 + 3 * 40), "{took:?}");
        assert_eq!(proxy.turns.waits(), 3);
    }

    #[tokio::test]
    async fn bandwidth_paces_what_is_carried() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = upstream.local_addr().unwrap();
        // A server that sends 40 KB at once.
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            s.write_all(&vec![b'x'; 40_000]).await.unwrap();
        });
        let link = Link {
            latency: Duration::ZERO,
            bandwidth: Some(200_000),
        };
        let proxy = Proxy::start(up, link).await.unwrap();
        let t = std::time::Instant::now();
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 40_000);
        // 40 KB at 200 KB/s: 0.2 s, less the last chunk's own time.
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }
}
