//! The matcher at scale: plan + header hashing + resolve over synthetic mailboxes of 10k,
//! 100k and 1M messages with realistic ~1.5 KiB headers.
//!
//! `cargo bench --bench matcher` prints, per size:
//! - the size pass alone (identical order, distinct sizes: `plan` settles everything);
//! - the header pass (POP3 order reversed, so every header of both sides is hashed and
//!   paired), as throughput and as a ratio to plain SHA-1 over the same bytes, measured
//!   in the same run;
//! - memory: peak heap above the baseline (the listing itself), per message.
//!
//! Goals (issue 2): header pass ≥ 50% of plain SHA-1; size pass for 1M < 0.5 s;
//! ≤ 200 bytes per message above baseline.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ring::digest;
use uidlmap::matcher::header_hash::HeaderHasher;
use uidlmap::matcher::{
    self, ImapMailbox, ImapMessage, Listing, MessageRead, Pop3Message, Read, Reads, Settings,
};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const BASES: usize = 1024;

/// A small deterministic generator (xorshift), so every run hashes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + (self.next() % 26) as u8) as char)
            .collect()
    }
}

/// ~1.5 KiB headers shaped like real mail: a Received chain, DKIM, the usual fields,
/// a folded header, some 8-bit bytes. The unique Message-ID is fed separately.
fn bases() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..BASES)
        .map(|i| {
            let mut h = String::new();
            for hop in 0..3 {
                h.push_str(&format!(
                    "Received: from mx{hop}.{}.example.net (mx{hop}.{}.example.net [192.0.2.{}])\r\n\tby mail.example.org (Postfix) with ESMTPS id {}\r\n\tfor <user@example.org>; Tue, 14 Nov 2023 22:13:{:02} +0000\r\n",
                    rng.word(8), rng.word(6), hop + 1, rng.word(12).to_uppercase(), i % 60
                ));
            }
            h.push_str(&format!(
                "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel1;\r\n\th={}; bh={}=;\r\n\tb={}\r\n",
                rng.word(40), rng.word(43), rng.word(340)
            ));
            h.push_str("Return-Path: <bounce@example.net>\r\n");
            h.push_str(&format!("From: \"{} {}\" <{}@example.net>\r\n", rng.word(6), rng.word(9), rng.word(7)));
            h.push_str("To: user@example.org\r\n");
            h.push_str(&format!("Subject: {} {} {} \u{e4}\u{f6}\r\n", rng.word(7), rng.word(5), rng.word(9)));
            h.push_str(&format!("Date: Tue, 14 Nov 2023 22:{:02}:21 +0000\r\n", i % 60));
            h.push_str("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n");
            h.push_str(&format!("X-Mailer: {}\r\nList-Unsubscribe: <https://example.net/u/{}>\r\n", rng.word(10), rng.word(30)));
            while h.len() < 1500 {
                h.push_str(&format!("X-Extra-{}: {}\r\n", rng.word(4), rng.word(40)));
            }
            h.push_str("\r\n");
            h.into_bytes()
        })
        .collect()
}

fn message_id(i: usize) -> String {
    format!(
        "Message-ID: <{i:08}.{:x}@example.net>\r\n",
        i * 2_654_435_761
    )
}

fn listing(n: usize, reversed: bool) -> Listing {
    let imap = (0..n)
        .map(|i| ImapMessage {
            uid: i as u32 + 1,
            size: Some(10_000 + i as u64),
            cached_uidl: None,
        })
        .collect();
    let pop3 = (0..n)
        .map(|k| {
            let i = if reversed { n - 1 - k } else { k };
            Pop3Message {
                number: k as u32 + 1,
                uidl: format!("{:08x}{:08x}", i + 1, 1_700_000_000u32),
                size: Some(10_000 + i as u64),
            }
        })
        .collect();
    Listing {
        imap: vec![ImapMailbox {
            name: "INBOX".into(),
            messages: imap,
            size_failure: None,
        }],
        pop3,
        pop3_error: None,
    }
}

fn main() {
    let bases = bases();
    let settings = Settings::enabled();
    println!(
        "matcher bench: headers ~{} bytes (+ a unique Message-ID line)",
        bases.iter().map(Vec::len).sum::<usize>() / BASES
    );
    for n in [10_000usize, 100_000, 1_000_000] {
        // Size pass only.
        let l = listing(n, false);
        let t = Instant::now();
        let plan = matcher::plan(&l, &settings);
        let outcome = matcher::resolve(&plan, &Reads::default()).expect("no reads needed");
        let size_time = t.elapsed();
        assert_eq!(outcome.mailboxes[0].size_matches, n);
        drop((outcome, plan));

        // Header pass: POP3 reversed, so both sides are hashed in full.
        let l = listing(n, true);
        let base_live = LIVE.load(Ordering::Relaxed);
        PEAK.store(base_live, Ordering::Relaxed);
        let mut bytes = 0usize;
        let t = Instant::now();
        let plan = matcher::plan(&l, &settings);
        let mut reads = Reads {
            pop3: matcher::ReadMap::with_capacity(plan.pop3_reads().count()),
            ..Default::default()
        };
        for mp in &plan.mailboxes {
            reads.imap.insert(
                mp.name.clone(),
                matcher::ReadMap::with_capacity(mp.imap_reads.len()),
            );
        }
        let hash = |i: usize| {
            let mut h = HeaderHasher::new();
            h.update(message_id(i).as_bytes());
            h.update(&bases[i % BASES]);
            let h = h.finish();
            MessageRead {
                header: Read::Hashed {
                    sha1: h.sha1,
                    eoh: h.eoh,
                },
                full: None,
            }
        };
        for num in plan.pop3_reads() {
            let i = n - num as usize;
            bytes += message_id(i).len() + bases[i % BASES].len();
            reads.pop3.insert(num, hash(i));
        }
        for mp in &plan.mailboxes {
            for &uid in &mp.imap_reads {
                let i = uid as usize - 1;
                bytes += message_id(i).len() + bases[i % BASES].len();
                reads.insert_imap(&mp.name, uid, hash(i));
            }
        }
        let after_reads = LIVE.load(Ordering::Relaxed);
        let outcome = matcher::resolve(&plan, &reads).expect("all reads given");
        let header_time = t.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base_live;
        let reads_bytes = after_reads.saturating_sub(base_live);
        assert_eq!(outcome.mailboxes[0].header_matches, n);
        assert_eq!(outcome.mailboxes[0].messages[0].order, n as u32);
        drop((outcome, reads, plan));

        // Plain SHA-1 over the same bytes, fed the same way.
        let t = Instant::now();
        for _side in 0..2 {
            for i in 0..n {
                let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
                c.update(message_id(i).as_bytes());
                c.update(&bases[i % BASES]);
                black_box(c.finish());
            }
        }
        let sha1_time = t.elapsed();

        let mbps = |d: std::time::Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        println!(
            "n={n:>9}: size pass {:>6.1} ms | header pass {:>8.1} ms = {:>6.1} MB/s, plain SHA-1 {:>6.1} MB/s, ratio {:.2} | peak {:>3.0} B/msg above the listing, of which plan+reads {:>3.0} B/msg when resolve starts",
            size_time.as_secs_f64() * 1e3,
            header_time.as_secs_f64() * 1e3,
            mbps(header_time),
            mbps(sha1_time),
            sha1_time.as_secs_f64() / header_time.as_secs_f64(),
            peak as f64 / n as f64,
            reads_bytes as f64 / n as f64
        );
    }
}
