//! Load: 200 concurrent POP3 and 200 concurrent IMAP sessions (`UIDLMAP_LOAD_SESSIONS`)
//! against the fake servers on loopback, each logging in and sending one command at a
//! time (POP3: CAPA, UIDL, LIST, 10 × TOP, QUIT; IMAP: EXAMINE, the sizes, 10 header
//! fetches, LOGOUT) with uidlmap's own clients. The sessions connect all at once (the
//! listen backlog has to take the burst) and every one must succeed.
//!
//! Two rounds: *paced*, each session waiting `UIDLMAP_LOAD_PACE_MS` (default 20 ms)
//! between its commands, as many mail clients each at its own pace: the p99 of each
//! command's latency (sent to reply read) must stay under 5 ms (`UIDLMAP_LOAD_P99_MS`);
//! and *saturated*, no pause, which measures throughput (its latency is then mostly
//! the queue of 400 sessions on the machine's cores, and is only printed).
//!
//! `cargo bench --bench load` (release build). Measured on 2 shared cores (load 8):
//! paced p99 3.1–3.7 ms (p50 0.8–1.0 ms); saturated 37–39k commands/s, p99 10–12 ms;
//! bursts of 1,000 and 2,000 sessions per server at once all succeed
//! (`UIDLMAP_LOAD_SESSIONS=2000 UIDLMAP_LOAD_P99_MS=100000`).

use std::time::{Duration, Instant};

use fake_servers::{Servers, WorldBuilder};
use uidlmap::imap::client::{self as imapc, Batching};
use uidlmap::pop3::client as pop3c;
use uidlmap::secret::Secret;
use uidlmap::tls::{Security, Trust};

const MESSAGES: usize = 50;
const READS: u32 = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One POP3 session; the latency of each command after the login.
async fn pop3_session(port: u16, trust: Trust, pace: Duration) -> Result<Vec<Duration>, String> {
    let timeouts = pop3c::Timeouts {
        connect: Duration::from_secs(30),
        command: Duration::from_secs(30),
    };
    let limits = pop3c::Limits::default();
    let mut c = pop3c::connect("127.0.0.1", port, Security::Plain, &trust, timeouts, limits)
        .await
        .map_err(|e| format!("POP3 connect: {e}"))?;
    c.login("alice", &Secret::new("secret"))
        .await
        .map_err(|e| format!("POP3 login: {e}"))?;
    let mut times = Vec::new();
    tokio::time::sleep(pace).await;
    let t = Instant::now();
    c.capa().await.map_err(|e| format!("CAPA: {e}"))?;
    times.push(t.elapsed());
    tokio::time::sleep(pace).await;
    let t = Instant::now();
    let uidls = c.uidl_all().await.map_err(|e| format!("UIDL: {e}"))?;
    times.push(t.elapsed());
    tokio::time::sleep(pace).await;
    let t = Instant::now();
    c.list_all(Some(uidls.len()))
        .await
        .map_err(|e| format!("LIST: {e}"))?;
    times.push(t.elapsed());
    for n in 1..=READS {
        tokio::time::sleep(pace).await;
        let t = Instant::now();
        c.top(n, 0).await.map_err(|e| format!("TOP {n}: {e}"))?;
        times.push(t.elapsed());
    }
    c.quit().await.map_err(|e| format!("QUIT: {e}"))?;
    Ok(times)
}

/// One IMAP session; the latency of each command after the login.
async fn imap_session(port: u16, trust: Trust, pace: Duration) -> Result<Vec<Duration>, String> {
    let timeouts = imapc::Timeouts {
        connect: Duration::from_secs(30),
        io: Duration::from_secs(30),
    };
    let mut c = imapc::connect(
        "127.0.0.1",
        port,
        Security::Plain,
        &trust,
        timeouts,
        imapc::Limits::default(),
    )
    .await
    .map_err(|e| format!("IMAP connect: {e}"))?;
    c.login("alice", &Secret::new("secret"))
        .await
        .map_err(|e| format!("IMAP login: {e}"))?;
    let mut times = Vec::new();
    tokio::time::sleep(pace).await;
    let t = Instant::now();
    c.examine("INBOX")
        .await
        .map_err(|e| format!("EXAMINE: {e}"))?;
    times.push(t.elapsed());
    tokio::time::sleep(pace).await;
    let t = Instant::now();
    c.uid_sizes().await.map_err(|e| format!("sizes: {e}"))?;
    times.push(t.elapsed());
    for uid in 1..=READS {
        tokio::time::sleep(pace).await;
        let t = Instant::now();
        c.fetch_headers(&[uid], Batching::PIPELINED)
            .await
            .map_err(|e| format!("UID FETCH {uid}: {e}"))?;
        times.push(t.elapsed());
    }
    c.logout().await.map_err(|e| format!("LOGOUT: {e}"))?;
    Ok(times)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One round: every session at once; the command latencies of each protocol and the
/// wall time.
fn round(
    rt: &tokio::runtime::Runtime,
    sessions: usize,
    pace: Duration,
) -> (Vec<Duration>, Vec<Duration>, Duration) {
    let world = WorldBuilder::new()
        .messages("m", MESSAGES, 2_000)
        .mailbox("INBOX", (1..=MESSAGES).map(|i| format!("m{i}")))
        .build()
        .expect("world");
    rt.block_on(async {
        let servers = Servers::new(world).start().expect("fake servers");
        let (pop3_port, imap_port) = (servers.pop3().port(), servers.imap().port());
        let started = Instant::now();
        let mut pop3 = tokio::task::JoinSet::new();
        let mut imap = tokio::task::JoinSet::new();
        for _ in 0..sessions {
            pop3.spawn(pop3_session(pop3_port, Trust::default(), pace));
            imap.spawn(imap_session(imap_port, Trust::default(), pace));
        }
        let collect = |r: Result<Result<Vec<Duration>, String>, _>, all: &mut Vec<Duration>| match r
            .expect("session task")
        {
            Ok(t) => all.extend(t),
            Err(e) => panic!("a session failed: {e}"),
        };
        let (mut p, mut i) = (Vec::new(), Vec::new());
        while let Some(r) = pop3.join_next().await {
            collect(r, &mut p);
        }
        while let Some(r) = imap.join_next().await {
            collect(r, &mut i);
        }
        (p, i, started.elapsed())
    })
}

/// Prints a round's figures; returns its worst p99.
fn show(label: &str, sessions: usize, r: (Vec<Duration>, Vec<Duration>, Duration)) -> Duration {
    let (pop3_times, imap_times, wall) = r;
    let commands = pop3_times.len() + imap_times.len();
    println!(
        "load ({label}): {sessions} POP3 + {sessions} IMAP sessions at once, every one succeeded, in {:.2} s ({:.0} commands/s)",
        wall.as_secs_f64(),
        commands as f64 / wall.as_secs_f64()
    );
    let mut worst = Duration::ZERO;
    for (name, mut times) in [("POP3", pop3_times), ("IMAP", imap_times)] {
        times.sort();
        let p99 = percentile(&times, 0.99);
        worst = worst.max(p99);
        println!(
            "load ({label}): {name}: {} commands, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            times.len(),
            percentile(&times, 0.50).as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
    }
    worst
}

fn main() {
    let sessions: usize = env_or("UIDLMAP_LOAD_SESSIONS", 200);
    let pace = Duration::from_millis(env_or("UIDLMAP_LOAD_PACE_MS", 20));
    let p99_limit = Duration::from_micros((env_or("UIDLMAP_LOAD_P99_MS", 5.0f64) * 1000.0) as u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    show("saturated", sessions, round(&rt, sessions, Duration::ZERO));
    let worst = show("paced", sessions, round(&rt, sessions, pace));
    assert!(
        worst < p99_limit,
        "p99 command latency {worst:?} is not under {p99_limit:?}"
    );
}
