//! The header hash on mutated headers: deterministic, the same whichever way the input
//! is cut (the streaming hasher over random chunks, in one go, and `explain`), settled
//! once the blank line is read, and `explain`'s parts consistent with each other.

use std::time::Duration;

use ring::digest;
use uidlmap::matcher::header_hash::{HeaderHasher, explain, header_hash, normalise};

use crate::mutate::{Rng, chunk_plan};
use crate::runner::Harness;
use crate::sessions;

fn check(input: &[u8], rng: &mut Rng) -> Result<(), String> {
    let once = header_hash(input);
    if header_hash(input) != once {
        return Err("two hashes of the same bytes differ".into());
    }
    let mut h = HeaderHasher::new();
    let mut at = 0;
    let mut settled = None;
    for n in chunk_plan(rng, input.len(), 200) {
        h.update(&input[at..at + n]);
        at += n;
        if h.is_done() && settled.is_none() {
            settled = Some(at);
        }
    }
    let streamed = h.finish();
    if streamed != once {
        return Err(format!("chunked {streamed} differs from whole {once}"));
    }
    if let Some(at) = settled {
        // Once done, the rest of the message must not matter.
        let mut h = HeaderHasher::new();
        h.update(&input[..at]);
        h.update(b"Subject: after the end\r\n");
        if h.finish() != once {
            return Err(format!(
                "input after the settled point ({at}) changed the hash"
            ));
        }
    }
    let ex = explain(input);
    if ex.hash != once {
        return Err(format!("explain says {}, header_hash {once}", ex.hash));
    }
    if normalise(&ex.filtered) != ex.hashed {
        return Err("normalise(filtered) is not what was hashed".into());
    }
    let sha = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &ex.hashed);
    if sha.as_ref() != once.sha1 {
        return Err("SHA-1 of explain's hashed bytes is not the hash".into());
    }
    let mut end = 0;
    for (expect_number, line) in (1..).zip(&ex.lines) {
        if line.number != expect_number || !input[end..].starts_with(&line.bytes) {
            return Err(format!("explained line {} is not the input's", line.number));
        }
        end += line.bytes.len();
    }
    Ok(())
}

const DICT: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\r\n",
    b"\r",
    b": ",
    b":",
    b" ",
    b"\t",
    b"\r\n\r\n",
    b"\n\n",
    b"Return-Path: <x@y>\r\n",
    b"X-UID: 1\r\n",
    b"Status: RO\r\n",
    b"Subject: ",
    b"\r\n folded",
    b"\r\n \t \r\n",
    b"?",
    b"\x7f",
    b"\0",
    b"From:",
    b"From : ",
];

pub fn harness() -> Harness {
    let mut seeds: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let w = sessions::world();
            w.pop3.messages[i].full.clone()
        })
        .collect();
    seeds.push(b"Received: from x\r\n\tby y\r\nX-Keywords: \r\nSubject: a\r\n\r\nbody".to_vec());
    seeds.push(b"Subject: x\r\n\r\r\nFrom: y\r\n\r\n".to_vec());
    seeds.push([b"A".repeat(1001), b": long name\r\n\r\n".to_vec()].concat());
    Harness {
        name: "header_hash",
        seeds,
        dict: DICT,
        max_len: 16 * 1024,
        mem_base: 256 << 10,
        mem_per_byte: 96,
        per_input: Duration::from_secs(2),
        make_check: Box::new(|| Box::new(check)),
    }
}
