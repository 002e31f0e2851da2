//! The scenario loader on mutated YAML (every scenario file of the repository as
//! seeds): it must give a scenario or diagnostics, never panic or hang, and load the
//! same text the same way twice.
//!
//! A `size:` of 7 to 19 digits is cut to 6 before loading: up to 64 MiB per message
//! (512 MiB in all) is legal and would be built in memory, which measures the machine
//! rather than the loader. For the same reason a bulk group's `count:` is cut to 2 digits
//! (the 10,000-message seed expands to about 100 MB of messages). Every other number is
//! kept as mutated.

use std::path::{Path, PathBuf};
use std::time::Duration;

use uidlmap::scenario::load_str;

use crate::mutate::Rng;
use crate::runner::Harness;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn tame_numbers(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let run = input[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 0 {
            out.push(input[i]);
            i += 1;
        } else {
            let tail = &out[out.len().saturating_sub(16)..];
            let before = String::from_utf8_lossy(tail);
            let before = before.trim_end();
            let keep = if before.ends_with("size:") && (7..=19).contains(&run) {
                6
            } else if before.ends_with("count:") && run > 2 {
                2
            } else {
                run
            };
            out.extend_from_slice(&input[i..i + keep]);
            i += run;
        }
    }
    out
}

fn check(input: &[u8], _rng: &mut Rng) -> Result<(), String> {
    let text = String::from_utf8_lossy(&tame_numbers(input)).into_owned();
    let root = root();
    let path = root.join("fuzz/input.yaml");
    let render = |r: &Result<uidlmap::scenario::Scenario, uidlmap::scenario::ScenarioError>| match r
    {
        Ok(s) => format!(
            "ok {} {:?} {:?}",
            s.name,
            s.world.imap.mailboxes.len(),
            s.expect
        ),
        Err(e) => {
            for d in e.diagnostics() {
                let _ = d.headline();
            }
            format!("error {e}")
        }
    };
    let first = render(&load_str(&text, &path, &root));
    let second = render(&load_str(&text, &path, &root));
    if first != second {
        return Err(format!("two loads differ: {first:.200} / {second:.200}"));
    }
    Ok(())
}

fn seeds() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir)
            .expect("scenarios readable")
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root(), &mut files);
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("readable"))
        .collect();
    // Anchors and aliases: a "billion laughs" must be refused, not expanded.
    seeds.push(
        b"description: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n\
c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n\
e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e]\nexpect: {}\n"
            .to_vec(),
    );
    seeds
}

const DICT: &[&[u8]] = &[
    b"\n",
    b"\n  ",
    b"\n    ",
    b"- ",
    b": ",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"!!str ",
    b"~",
    b"null",
    b"\"",
    b"'",
    b"|\n  ",
    b">-\n  ",
    b"#",
    b"---\n",
    b"...\n",
    b"? ",
    b"\\x00",
    b"\\u0000",
    b"\t",
    b"messages:\n",
    b"imap:\n",
    b"pop3:\n",
    b"mailboxes:\n",
    b"INBOX: [",
    b"size: ",
    b"raw: ",
    b"file: ",
    b"../",
    b"_fixtures/messages/",
    b"uidl: ",
    b"{uid}",
    b"{uidvalidity:08x}",
    b"{n}",
    b"first_uid: ",
    b"uids: [",
    b"uidnext: ",
    b"faults:\n  - ",
    b"events:\n  - ",
    b"after: ",
    b"before: ",
    b"deliver: ",
    b"expunge: ",
    b"times: ",
    b"truncate: ",
    b"delay_ms: ",
    b"nth: ",
    b"quirks: [",
    b"profile: ",
    b"settings: ",
    b"cache:\n",
    b"expect: ",
    b"outcome: ",
    b"line_ending: ",
    b"encoding: ",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"-1",
    b"0",
    b"1e9",
    b".inf",
];

pub fn harness() -> Harness {
    Harness {
        name: "scenario_load",
        seeds: seeds(),
        dict: DICT,
        max_len: 16 * 1024,
        // Generated bodies up to 6-digit sizes, two views each.
        mem_base: 64 << 20,
        mem_per_byte: 4096,
        per_input: Duration::from_secs(5),
        make_check: Box::new(|| Box::new(check)),
    }
}
