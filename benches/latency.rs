//! `verify`'s read at a distance (issue 14): the fake servers behind a link adding 25 ms
//! each way (a 50 ms round trip), against the network floor.
//!
//! For each size (`UIDLMAP_BENCH_SIZES`, default `1000,10000,100000`) and folder count
//! (1, and 20 at 10,000 messages): equal-size messages, IMAP in UID order spread over the
//! folders, POP3 holding all of them in reverse. Printed per row:
//! - verify: `fast_read` with the audit's reads + `predict`, through the link;
//! - floor: a minimal client that sends every command of both protocols in one write,
//!   both servers at once, and reads everything back, through the same link;
//! - their ratio (goal ≤ 1.3);
//! - round trips waited: (time through the link − time direct) / RTT (goal ≤ 10), and
//!   the lock-step waits the link counted per protocol;
//! - the prediction through the link checked equal to the one read directly.
//!
//! Then, for the largest size, the release binary's peak RSS under `/usr/bin/time -v`
//! (goal < 64 MB) for `uidlmap verify` through the link.
//!
//! `cargo bench --bench latency`; `UIDLMAP_BENCH_LATENCY_MS` changes the delay.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[path = "common/floor.rs"]
mod floor;

use fake_servers::imap::{self as fimap, ImapOptions};
use fake_servers::latency::{Link, Proxy};
use fake_servers::pop3::{self as fpop3, Pop3Options};
use fake_servers::world::{ImapMailbox, ImapMessage, Pop3Message};
use fake_servers::{Script, SharedWorld, World};
use tokio::net::TcpListener;
use uidlmap::domain::{Endpoint, Imapc};
use uidlmap::matcher::Settings;
use uidlmap::migrate::{self, Source};
use uidlmap::predict;
use uidlmap::secret::Secret;
use uidlmap::tls::Trust;

const USER: &str = "alice";
const PASSWORD: &str = "bench-secret";

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender{n:06}@example.com\r\nTo: alice@example.org\r\nSubject: invoice {n:06}\r\n\
         Message-ID: <m{n:06}@uidlmap.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         Content-Type: text/plain\r\n\r\n{}\r\n",
        "body line of constant length\r\n".repeat(40)
    )
    .into_bytes()
}

fn folder_names(folders: usize) -> Vec<String> {
    let mut v = vec!["INBOX".to_string()];
    v.extend((1..folders).map(|i| format!("Folder{i:02}")));
    v
}

fn world(n: usize, folders: usize) -> World {
    let names = folder_names(folders);
    let mut mailboxes: Vec<ImapMailbox> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ImapMailbox::new(name.clone(), 1_700_000_000 + i as u32))
        .collect();
    let mut pop3 = Vec::with_capacity(n);
    for i in 1..=n {
        let bytes = message(i);
        mailboxes[(i - 1) % folders].append(ImapMessage::honest(format!("m{i}"), bytes.clone()));
        pop3.push(Pop3Message::honest(
            format!("m{i}"),
            format!("u{i:06}"),
            bytes,
        ));
    }
    pop3.reverse();
    let mut w = World {
        user: USER.into(),
        password: PASSWORD.into(),
        ..World::default()
    };
    w.imap.mailboxes = mailboxes;
    w.pop3.messages = pop3;
    w
}

/// Both fake servers on loopback, unshaped; dropped with the runtime.
async fn servers(world: World) -> (SocketAddr, SocketAddr) {
    let world = SharedWorld::new(world);
    let pop3 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addrs = (pop3.local_addr().unwrap(), imap.local_addr().unwrap());
    let script = Script::default();
    tokio::spawn(fpop3::serve(
        pop3,
        world.clone(),
        script.clone(),
        Pop3Options::default(),
        std::future::pending(),
    ));
    tokio::spawn(fimap::serve(
        imap,
        world,
        script,
        ImapOptions::default(),
        std::future::pending(),
    ));
    addrs
}

fn source(pop3: SocketAddr, imap: SocketAddr) -> Source {
    let ep = |a: SocketAddr| Endpoint::local(a.port(), USER, Secret::new(PASSWORD));
    Source {
        imap: ep(imap),
        pop3: ep(pop3),
        trust: Trust::default(),
    }
}

/// verify's part: the read and the prediction. Returns the time, the predicted rows of
/// every mailbox and the client's round trips (POP3, IMAP).
async fn verify(src: &Source) -> (Duration, Vec<(String, u32, String, u32)>, (u64, u64)) {
    let opts = migrate::Options::new(Settings::enabled(), Imapc::DOCS);
    let t = Instant::now();
    let m = migrate::fast_read(src, &opts).await.expect("fast_read");
    let p = predict::predict(&m, &predict::Inputs::new(&opts.settings)).expect("predict");
    let took = t.elapsed();
    let rows = p
        .outcome
        .mailboxes
        .iter()
        .flat_map(|mb| {
            mb.messages.iter().map(|x| {
                (
                    mb.name.to_string(),
                    x.uid,
                    x.uidl.unwrap_or_default().to_string(),
                    x.order,
                )
            })
        })
        .collect();
    let rt = (m.traffic.pop3.round_trips, m.traffic.imap.round_trips);
    (took, rows, rt)
}

/// Peak RSS in KiB of `uidlmap verify` against `src`, from `/usr/bin/time -v`.
fn binary_rss(src: &Source) -> Option<(u64, Duration)> {
    let bin = env!("CARGO_BIN_EXE_uidlmap");
    let t = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args([
            "verify",
            "--imap",
            &format!("imap://{USER}@127.0.0.1:{}", src.imap.port),
            "--pop3",
            &format!("pop3://{USER}@127.0.0.1:{}", src.pop3.port),
            "--timeout",
            "600",
        ])
        .env("UIDLMAP_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .output()
        .ok()?;
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })?
        .trim()
        .parse()
        .ok()?;
    Some((kib, took))
}

fn main() {
    let sizes: Vec<usize> = std::env::var("UIDLMAP_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let latency = Duration::from_millis(
        std::env::var("UIDLMAP_BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(25),
    );
    let rtt = latency * 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows: Vec<(usize, usize)> = sizes.iter().map(|&n| (n, 1)).collect();
    if sizes.contains(&10_000) {
        rows.push((10_000, 20));
    }
    println!(
        "link: {} ms each way ({} ms RTT); fake servers; audit on (every header of both sides)",
        latency.as_millis(),
        rtt.as_millis()
    );
    println!(
        "{:>7} {:>3} {:>9} {:>9} {:>9} {:>6} {:>8} {:>11} {:>9}",
        "msgs", "fld", "direct s", "verify s", "floor s", "ratio", "waited", "lock-step", "client"
    );
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for (n, folders) in rows {
        let runs = if n >= 100_000 { 1 } else { 3 };
        rt.block_on(async {
            let (pop3, imap) = servers(world(n, folders)).await;
            let link = Link::latency(latency);
            let pp = Proxy::start(pop3, link).await.expect("proxy");
            let ip = Proxy::start(imap, link).await.expect("proxy");
            let (mut direct, mut far, mut fl) = (Duration::MAX, Duration::MAX, Duration::MAX);
            let (mut waits, mut client) = ((0, 0), (0, 0));
            for _ in 0..runs {
                let (d, rows_direct, _) = verify(&source(pop3, imap)).await;
                pp.turns.reset();
                ip.turns.reset();
                let (f, rows_far, c) = verify(&source(pp.addr, ip.addr)).await;
                assert_eq!(rows_direct, rows_far, "the link changed the prediction");
                waits = (pp.turns.waits(), ip.turns.waits());
                client = c;
                direct = direct.min(d);
                far = far.min(f);
                fl = fl.min(
                    floor::floor(pp.addr, ip.addr, USER, PASSWORD, n, &folder_names(folders)).await,
                );
            }
            let waited = far.saturating_sub(direct).as_secs_f64() / rtt.as_secs_f64();
            println!(
                "{:>7} {:>3} {:>9.3} {:>9.3} {:>9.3} {:>6.2} {:>8.1} {:>5}+{:<5} {:>4}+{:<4}",
                n,
                folders,
                direct.as_secs_f64(),
                far.as_secs_f64(),
                fl.as_secs_f64(),
                far.as_secs_f64() / fl.as_secs_f64(),
                waited,
                waits.0,
                waits.1,
                client.0,
                client.1
            );
            if n == largest && folders == 1 {
                let src = source(pp.addr, ip.addr);
                let got = tokio::task::spawn_blocking(move || binary_rss(&src))
                    .await
                    .expect("join");
                match got {
                    Some((kib, took)) => println!(
                        "uidlmap verify, {n} messages through the link: {:.1} MB peak RSS, {:.3} s (goal < 64 MB)",
                        kib as f64 / 1024.0,
                        took.as_secs_f64()
                    ),
                    None => println!("peak RSS: /usr/bin/time -v could not measure it here"),
                }
            }
        });
    }
    println!(
        "waited = (verify through the link - verify direct) / RTT; lock-step = waits the link \
         counted (POP3+IMAP); client = round trips the clients counted (POP3+IMAP)"
    );
}
