//! `uidlmap verify`'s read against `doveadm backup -R imapc:` with the pop3_migration
//! plugin, on the same real Dovecot source (issue 7's speed goal: verify ≤ 1/5 of
//! doveadm's wall time).
//!
//! The source: N messages of equal size (default 5,000; `UIDLMAP_BENCH_MESSAGES`), served
//! over IMAP in UID order by one Dovecot and over POP3 in reverse by another, as
//! tests/dovecot_harness.rs does for its order test. Equal sizes make Dovecot's size pass
//! give up, so both tools read every header of both sides. verify's part: `fast_read`
//! (with the audit's reads) + plan + resolve + audit; doveadm's part: the whole backup
//! in the docs profile (`imapc_features = rfc822.size fetch-headers`,
//! `mail_prefetch_count = 20`). Both answers are checked to agree.
//!
//! Then the same read through a link adding 25 ms each way (issue 14's check: a real
//! Dovecot behind a 50 ms round trip), against the floor (every command of both
//! protocols in one write, both servers at once; `common/floor.rs`), directly and
//! through the link: the ratios, and the round trips verify waited as (time through the
//! link − time direct) / RTT. The prediction through the link must equal the direct one.
//!
//! `cargo bench --bench verify`; skips with a line when Dovecot cannot run here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fake_servers::latency::{Link, Proxy};

#[path = "common/floor.rs"]
mod floor;

use uidlmap::domain::{Endpoint, Imapc, ImapcProfile};
use uidlmap::dovecot::{DovecotSource, OracleOptions, SourceOptions, run_backup};
use uidlmap::matcher::Settings;
use uidlmap::migrate::{self, Source};
use uidlmap::predict;
use uidlmap::tls::Trust;

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender{n:05}@example.com\r\nTo: alice@example.org\r\nSubject: invoice {n:05}\r\n\
         Message-ID: <m{n:05}@uidlmap.test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         Content-Type: text/plain\r\n\r\n{}\r\n",
        "body line of constant length\r\n".repeat(40)
    )
    .into_bytes()
}

fn main() {
    if !DovecotSource::available_or_skip("bench verify") {
        return;
    }
    let n: usize = std::env::var("UIDLMAP_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let msgs: Vec<Vec<u8>> = (1..=n).map(message).collect();
    let start = Duration::from_secs(120);
    let imap = DovecotSource::start(SourceOptions {
        start_timeout: start,
        ..SourceOptions::with_messages(msgs.clone())
    })
    .expect("start the IMAP Dovecot");
    let pop3 = DovecotSource::start(SourceOptions {
        uidvalidity: 1_600_000_000,
        start_timeout: start,
        ..SourceOptions::with_messages(msgs.into_iter().rev())
    })
    .expect("start the POP3 Dovecot");
    let user = imap.user().to_string();
    let imap_ep = Endpoint::local(imap.imap_port(), &user, imap.password().clone());
    let pop3_ep = Endpoint::local(pop3.pop3_port(), &user, pop3.password().clone());

    // verify
    let source = Source {
        imap: imap_ep.clone(),
        pop3: pop3_ep.clone(),
        trust: Trust::default(),
    };
    let opts = migrate::Options::new(Settings::enabled(), Imapc::DOCS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Once untimed: Dovecot indexes a fresh maildir on its first read, which would be
    // counted to the direct read only (and make the link look free).
    rt.block_on(migrate::fast_read(&source, &opts))
        .expect("fast_read (warm-up)");
    let t = Instant::now();
    let m = rt
        .block_on(migrate::fast_read(&source, &opts))
        .expect("fast_read");
    let read = t.elapsed();
    let p = predict::predict(&m, &predict::Inputs::new(&opts.settings)).expect("predict");
    let outcome = &p.outcome;
    let a = p.audit.as_ref().expect("audit reads");
    let verify = t.elapsed();
    let predicted: Vec<(u32, String, u32)> = outcome.mailboxes[0]
        .messages
        .iter()
        .map(|x| (x.uid, x.uidl.unwrap_or_default().to_string(), x.order))
        .collect();

    // verify and the floor, directly and through a far link
    let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let (pop3_addr, imap_addr) = (addr(pop3_ep.port), addr(imap_ep.port));
    let password = imap.password().expose().to_string();
    let latency = Duration::from_millis(25);
    let far = rt.block_on(async {
        let floor_direct =
            floor::floor(pop3_addr, imap_addr, &user, &password, n, &["INBOX".into()]).await;
        let link = Link::latency(latency);
        let pp = Proxy::start(pop3_addr, link).await.expect("proxy");
        let ip = Proxy::start(imap_addr, link).await.expect("proxy");
        let mut far_source = source.clone();
        far_source.imap.port = ip.addr.port();
        far_source.pop3.port = pp.addr.port();
        let t = Instant::now();
        let fm = migrate::fast_read(&far_source, &opts)
            .await
            .expect("fast_read far");
        let fp = predict::predict(&fm, &predict::Inputs::new(&opts.settings)).expect("predict");
        let far_verify = t.elapsed();
        let far_rows: Vec<(u32, String, u32)> = fp.outcome.mailboxes[0]
            .messages
            .iter()
            .map(|x| (x.uid, x.uidl.unwrap_or_default().to_string(), x.order))
            .collect();
        let floor_far =
            floor::floor(pp.addr, ip.addr, &user, &password, n, &["INBOX".into()]).await;
        (floor_direct, far_verify, floor_far, far_rows)
    });
    let (floor_direct, far_verify, floor_far, far_rows) = far;
    assert_eq!(predicted, far_rows, "the link changed the prediction");

    // doveadm backup with the plugin
    let mut oracle = OracleOptions::new(imap_ep, pop3_ep);
    oracle.profile = ImapcProfile::Docs;
    oracle.timeout = Duration::from_secs(1800);
    oracle.imapc_cmd_timeout = Duration::from_secs(300);
    let t = Instant::now();
    let run = run_backup(oracle).expect("doveadm backup");
    let doveadm = t.elapsed();
    assert_eq!(run.exit_code, 0, "{:#?}", run.plugin_lines);
    let stored: Vec<(u32, String, u32)> = run
        .mailbox("INBOX")
        .iter()
        .map(|x| (x.uid, x.pop3_uidl.clone(), x.pop3_order))
        .collect();
    assert_eq!(
        predicted, stored,
        "verify's prediction differs from doveadm"
    );

    println!("messages: {n} (equal size, POP3 order reversed)");
    println!(
        "verify:  {:>8.3} s  (fast_read {:.3} s, {} right / {} wrong; POP3 {} commands in {} round trips, IMAP {} in {})",
        verify.as_secs_f64(),
        read.as_secs_f64(),
        a.counts.right,
        a.counts.wrong,
        m.traffic.pop3.commands,
        m.traffic.pop3.round_trips,
        m.traffic.imap.commands,
        m.traffic.imap.round_trips
    );
    println!("doveadm: {:>8.3} s", doveadm.as_secs_f64());
    println!(
        "floor:   {:>8.3} s  (verify / floor {:.2}, goal ≤ 1.20)",
        floor_direct.as_secs_f64(),
        verify.as_secs_f64() / floor_direct.as_secs_f64()
    );
    let rtt = latency * 2;
    println!(
        "through a {} ms RTT link: verify {:.3} s, floor {:.3} s, ratio {:.2} (goal ≤ 1.30), round trips waited {:.1} (goal ≤ 10), rows equal to direct",
        rtt.as_millis(),
        far_verify.as_secs_f64(),
        floor_far.as_secs_f64(),
        far_verify.as_secs_f64() / floor_far.as_secs_f64(),
        far_verify.saturating_sub(verify).as_secs_f64() / rtt.as_secs_f64()
    );
    println!(
        "ratio:   verify takes {:.3} of doveadm's time (goal ≤ 0.200): {}",
        verify.as_secs_f64() / doveadm.as_secs_f64(),
        if verify.as_secs_f64() * 5.0 <= doveadm.as_secs_f64() {
            "met"
        } else {
            "NOT met"
        }
    );
}
