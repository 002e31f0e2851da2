//! `header_hash` against Dovecot's own: the installed pop3-migration plugin exports
//! `pop3_migration_get_hdr_sha1`, which this test loads and calls in-process on the spec's
//! vectors, hand-picked edge cases and 20,000 generated header blocks (fixed seed).
//!
//! Set `UIDLMAP_DOVECOT_BLOCKS` (count) and `UIDLMAP_DOVECOT_SEED` to fuzz longer or
//! elsewhere; run with `--nocapture` to see the agreement figures.

mod support;

use std::ffi::{c_int, c_void};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
use std::collections::BTreeMap;

use uidlmap::matcher::header_hash::{DropRule, HeaderHash, HeaderHasher, explain, header_hash};

const LIBDOVECOT: &str = "/usr/lib/dovecot/libdovecot.so.0";
const LIBSTORAGE: &str = "/usr/lib/dovecot/libdovecot-storage.so.0";
const PLUGIN: &str = "/usr/lib/dovecot/modules/lib05_pop3_migration_plugin.so";

type LibInit = unsafe extern "C" fn();
/// `struct istream *i_stream_create_from_data(const void *data, size_t size)`
type CreateFromData = unsafe extern "C" fn(*const u8, usize) -> *mut c_void;
/// `void i_stream_unref(struct istream **stream)`
type StreamUnref = unsafe extern "C" fn(*mut *mut c_void);
/// `int pop3_migration_get_hdr_sha1(uint32_t mail_seq, struct istream *input,
///  unsigned char sha1_r[SHA1_RESULTLEN], bool *have_eoh_r)` (pop3-migration-plugin.h)
type GetHdrSha1 = unsafe extern "C" fn(u32, *mut c_void, *mut u8, *mut bool) -> c_int;

struct Dovecot {
    create: CreateFromData,
    unref: StreamUnref,
    get_hdr_sha1: GetHdrSha1,
    // Keeps the code above mapped.
    _libs: [Library; 3],
}

impl Dovecot {
    fn load() -> Result<Dovecot, String> {
        let open = |path: &str| {
            // SAFETY: Dovecot's libraries run no constructors that need anything from us.
            // RTLD_GLOBAL so the plugin resolves its symbols against the two libraries.
            unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
                .map_err(|e| format!("cannot load {path}: {e}"))
        };
        let lib = open(LIBDOVECOT)?;
        let storage = open(LIBSTORAGE)?;
        let plugin = open(PLUGIN)?;
        // SAFETY: the types above are the C prototypes from Dovecot 2.3's headers.
        unsafe {
            let lib_init = *lib
                .get::<LibInit>("lib_init")
                .map_err(|e| format!("lib_init: {e}"))?;
            let create = *lib
                .get::<CreateFromData>("i_stream_create_from_data")
                .map_err(|e| format!("i_stream_create_from_data: {e}"))?;
            let unref = *lib
                .get::<StreamUnref>("i_stream_unref")
                .map_err(|e| format!("i_stream_unref: {e}"))?;
            let get_hdr_sha1 = *plugin
                .get::<GetHdrSha1>("pop3_migration_get_hdr_sha1")
                .map_err(|e| format!("pop3_migration_get_hdr_sha1: {e}"))?;
            // The data stack and default pool the istreams allocate from.
            lib_init();
            Ok(Dovecot {
                create,
                unref,
                get_hdr_sha1,
                _libs: [lib, storage, plugin],
            })
        }
    }

    fn hash(&self, input: &[u8]) -> HeaderHash {
        let mut sha1 = [0u8; 20];
        let mut eoh = false;
        // SAFETY: the stream reads `input`, which outlives it; Dovecot is only ever
        // called under the mutex (it is not thread-safe).
        let ret = unsafe {
            let mut stream = (self.create)(input.as_ptr(), input.len());
            assert!(!stream.is_null());
            let ret = (self.get_hdr_sha1)(1, stream, sha1.as_mut_ptr(), &mut eoh);
            (self.unref)(&mut stream);
            ret
        };
        assert_eq!(ret, 0, "pop3_migration_get_hdr_sha1 failed");
        HeaderHash { sha1, eoh }
    }
}

/// Dovecot, once per test binary, or why it is not there.
fn dovecot() -> Result<MutexGuard<'static, Dovecot>, String> {
    static DOVECOT: OnceLock<Result<Mutex<Dovecot>, String>> = OnceLock::new();
    let loaded = DOVECOT.get_or_init(|| {
        if let Some(missing) = [LIBDOVECOT, LIBSTORAGE, PLUGIN]
            .into_iter()
            .find(|p| !Path::new(p).exists())
        {
            return Err(format!("{missing} not found (Debian package dovecot-core)"));
        }
        // Installed but not loadable is a real failure, not a skip.
        Ok(Mutex::new(
            Dovecot::load().unwrap_or_else(|e| panic!("{e}")),
        ))
    });
    match loaded {
        Ok(m) => Ok(m.lock().unwrap_or_else(|p| p.into_inner())),
        Err(why) => Err(why.clone()),
    }
}

/// Dovecot's hash function, or (when the plugin is not installed) a `skipped:` line
/// naming `$test` and a return.
macro_rules! dovecot_or_skip {
    ($test:literal) => {
        match dovecot() {
            Ok(d) => d,
            Err(why) => {
                support::skip(
                    $test,
                    &format!("Dovecot's pop3-migration plugin is not installed: {why}"),
                );
                return;
            }
        }
    };
}

fn esc(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Everything worth seeing when we and Dovecot disagree.
fn describe_mismatch(input: &[u8], ours: HeaderHash, theirs: HeaderHash) -> String {
    let ex = explain(input);
    let mut s = format!(
        "input ({} bytes): \"{}\"\n  dovecot: {theirs} eoh={}\n  ours:    {ours} eoh={}\n  \
         we hashed: \"{}\"\n",
        input.len(),
        esc(input),
        theirs.eoh,
        ours.eoh,
        esc(&ex.hashed),
    );
    for (line, rule) in ex.dropped() {
        s += &format!(
            "  we dropped line {} ({rule:?}): \"{}\"\n",
            line.number,
            esc(&line.bytes)
        );
    }
    s
}

#[test]
fn spec_vectors_and_edge_cases_agree_with_dovecot() {
    let dovecot = dovecot_or_skip!("spec_vectors_and_edge_cases_agree_with_dovecot");
    let mut inputs: Vec<Vec<u8>> = [
        // §8.1
        &b""[..],
        b"\n",
        b"a: \r\n",
        b"a: b\r\n",
        b"a: b \r\n",
        b"a: b  \r\n",
        b"a: b     \r\n",
        b"a: b\r\n\r\n",
        b"a: b\r\n\r\r\n",
        b"a: b\r\n\r\r\nc: d\r\n\r\n",
        b"a: b\r\n \r\n",
        b"a: b\r\n  \r\n",
        b"a: b\r\n\t\r\n",
        b"a: b\t\t\t\t\r\n",
        b"a: b\nfoo\n",
        b"a: b\nc: d\n",
        b"a:b\nc:d\n",
        b"a: b\nfoo\nc: d\n",
        // line reading
        b"a: b\r\r\n",
        b"a: b\rc\n",
        b"a\r: b\n",
        b"a: b",
        b"a: b\r",
        b" a: b\n",
        b"\ta: b\nc: d\n",
        b" : b\n",
        b"\n\r\r\n",
        b"a \t: b: c\n",
        // rule 1
        b"\r\r\n\r\n",
        b"\r",
        b"a: b\n\r",
        b"a: b\n\r\r\n c\n\n",
        b"\r:x\n\n",
        b"\r \r\n\n",
        b"a: b\n \r\r\n\n",
        // rule 2
        b"Status\0junk: x\n",
        b"X-UID\0: x\nc: d\n",
        b"status\n",
        b"X-YAHOO-NEWMAN-PROPERTY \t: x\n more\nb: 2\n",
        b"return-path: <a@b>\n",
        // rule 4
        b"a: b\n \n c\n\td\ne: f\n",
        b"a: b\n \r \n",
        // rule 5
        b"a \0: c\n",
        b"\xc3\xa4: c\n",
        b"a\0 b: c\n",
        b"a\0\x01: c\n",
        b": c\n",
        b"? ?: \x80 ?\x81\n",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    for len in [999, 1000, 1001] {
        inputs.push([vec![b'x'; len], b": v\n folded\nc: d\n".to_vec()].concat());
    }
    inputs.push([vec![b'x'; 1000], vec![b' '; 3000], b": v\n".to_vec()].concat());
    inputs.push([vec![b'\r'; 2000], b"\n\n".to_vec()].concat());
    // A header over 10 MiB: the 2.3.19 build hashes it in full (spec §9).
    inputs.push([&b"a: "[..], &vec![b'v'; 10 * 1024 * 1024 + 10], b"\n\n"].concat());

    let mut mismatches = Vec::new();
    for input in &inputs {
        let (ours, theirs) = (header_hash(input), dovecot.hash(input));
        if ours != theirs {
            mismatches.push(describe_mismatch(input, ours, theirs));
        }
    }
    println!(
        "dovecot_hash: {} spec vectors and edge cases, {} mismatches",
        inputs.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "first mismatch:\n{}", mismatches[0]);
}

#[test]
fn generated_header_blocks_agree_with_dovecot() {
    let dovecot = dovecot_or_skip!("generated_header_blocks_agree_with_dovecot");
    let count = env_number("UIDLMAP_DOVECOT_BLOCKS", 20_000) as usize;
    let seed = env_number("UIDLMAP_DOVECOT_SEED", 0x05ee_d0d0_ec07);
    let mut rng = Rng(seed);
    let (mut bytes, mut with_eoh, mut mismatches, mut first) = (0usize, 0usize, 0usize, None);
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..count {
        let input = gen_block(&mut rng);
        if i % 8 == 0 {
            for (_, rule) in explain(&input).dropped() {
                *rules.entry(format!("{rule:?}")).or_default() += 1;
            }
        }
        bytes += input.len();
        let theirs = dovecot.hash(&input);
        with_eoh += usize::from(theirs.eoh);
        let ours = header_hash(&input);
        // And the streaming hasher, cut at random places (every third block: debug builds
        // hash slowly and the pieces matter more than the count).
        let streamed = if i % 3 == 0 {
            let mut hasher = HeaderHasher::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(300));
                hasher.update(&rest[..n]);
                rest = &rest[n..];
            }
            hasher.finish()
        } else {
            ours
        };
        if ours != theirs || streamed != theirs {
            mismatches += 1;
            if first.is_none() {
                first = Some(format!(
                    "block #{i}, streamed: {streamed} eoh={}\n{}",
                    streamed.eoh,
                    describe_mismatch(&input, ours, theirs)
                ));
            }
        }
    }
    println!(
        "dovecot_hash: {count} generated header blocks ({bytes} bytes, {with_eoh} with a blank \
         line), seed {seed:#x}: {mismatches} mismatches"
    );
    println!("dovecot_hash: dropped lines by rule in every 8th block: {rules:?}");
    assert_eq!(
        mismatches,
        0,
        "first mismatch:\n{}",
        first.unwrap_or_default()
    );
    // The generator must keep reaching every rule, or agreement would prove little.
    let all = [
        DropRule::CrOnlyStop,
        DropRule::SkipList,
        DropRule::NoColon,
        DropRule::WhitespaceOnlyFold,
        DropRule::InvalidName,
        DropRule::InheritedFold,
    ];
    for rule in all {
        assert!(
            rules.get(&format!("{rule:?}")).is_some_and(|&n| n >= 10),
            "{rule:?} rarely hit"
        );
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    let Ok(v) = std::env::var(name) else {
        return default;
    };
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    }
    .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
}

/// splitmix64: deterministic across platforms and runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
}

const SKIP: [&str; 11] = [
    "Content-Length",
    "Return-Path",
    "Status",
    "X-IMAP",
    "X-IMAPbase",
    "X-Keywords",
    "X-Message-Flag",
    "X-Status",
    "X-UID",
    "X-UIDL",
    "X-Yahoo-Newman-Property",
];
const NAMES: [&str; 10] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Received",
    "Message-ID",
    "DKIM-Signature",
    "X-Spam",
    "Statu",
    "X-UIDLS",
];

/// A byte that exercises the normalisation: mostly text, with blanks, `?`, controls, CR,
/// NUL, DEL and 8-bit bytes.
fn value_byte(rng: &mut Rng) -> u8 {
    match rng.below(20) {
        0..=9 => b"abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789<>@.,;=-_/"[rng.below(55)],
        10..=12 => b' ',
        13 => b'\t',
        14 => b'?',
        15 => b':',
        16 => *rng.pick(&[0u8, 0x7f, 0x01, 0x1b, 0x1f]),
        17 => b'\r',
        _ => 0x80 + rng.below(128) as u8,
    }
}

fn random_case(rng: &mut Rng, s: &str) -> Vec<u8> {
    s.bytes()
        .map(|b| match rng.below(3) {
            0 => b.to_ascii_lowercase(),
            1 => b.to_ascii_uppercase(),
            _ => b,
        })
        .collect()
}

fn name(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0..=4 => rng.pick(&NAMES).as_bytes().to_vec(),
        5..=6 => {
            let skip = rng.pick_str(&SKIP);
            random_case(rng, skip)
        }
        7 => Vec::new(), // empty name
        8 => (0..1 + rng.below(12)).map(|_| value_byte(rng)).collect(),
        9 if rng.chance(40) => {
            // Around the 1000-byte name limit.
            let len = 990 + rng.below(20);
            vec![b'N'; len]
        }
        10 => {
            let skip = rng.pick_str(&SKIP);
            let mut n = random_case(rng, skip);
            n.push(*rng.pick(&[0u8, b' ', b'x']));
            n.extend(random_case(rng, "junk"));
            n
        }
        _ => {
            let mut n = rng.pick(&NAMES).as_bytes().to_vec();
            let at = rng.below(n.len() + 1);
            n.insert(at, value_byte(rng));
            n
        }
    }
}

fn value(rng: &mut Rng, max: usize) -> Vec<u8> {
    let len = rng.below(max + 1);
    (0..len).map(|_| value_byte(rng)).collect()
}

fn line_end(rng: &mut Rng) -> &'static [u8] {
    match rng.below(10) {
        0..=4 => b"\r\n",
        5..=7 => b"\n",
        8 => b"\r\r\n",
        _ => b"\r",
    }
}

fn gen_block(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let lines = rng.below(24);
    for _ in 0..lines {
        match rng.below(40) {
            // An ordinary header; the separator has blanks on either side at times.
            0..=17 => {
                out.extend(name(rng));
                const SEPARATORS: [&[u8]; 5] = [b":", b": ", b" :", b":\t", b" \t: "];
                out.extend_from_slice(SEPARATORS[rng.below(SEPARATORS.len())]);
                let max = if rng.chance(1) { 5_000 } else { 80 };
                out.extend(value(rng, max));
            }
            // A folded line, sometimes of blanks only.
            18..=25 => {
                out.push(*rng.pick(b" \t"));
                if rng.chance(40) {
                    for _ in 0..rng.below(4) {
                        out.push(*rng.pick(b" \t"));
                    }
                } else {
                    out.extend(value(rng, 60));
                }
            }
            // No colon.
            26..=28 => out.extend(
                (0..1 + rng.below(30))
                    .map(|_| value_byte(rng))
                    .filter(|&b| b != b':'),
            ),
            // Only CRs.
            29..=30 => out.extend(std::iter::repeat_n(b'\r', 1 + rng.below(3))),
            // A blank line, after which come lines that look like headers.
            31..=32 => {}
            // A name over the limit, blanks before the colon, or a colon later on.
            33 => {
                out.extend(vec![b'L'; 995 + rng.below(10)]);
                if rng.chance(25) {
                    out.extend(std::iter::repeat_n(b' ', rng.below(1500)));
                }
                out.extend_from_slice(b": v");
            }
            // Anything at all.
            _ => out.extend((0..rng.below(40)).map(|_| rng.next() as u8)),
        }
        out.extend_from_slice(line_end(rng));
    }
    if rng.chance(30) {
        const BLANK_LINES: [&[u8]; 2] = [b"\r\n", b"\n"];
        out.extend_from_slice(BLANK_LINES[rng.below(2)]);
        out.extend_from_slice(b"body: not a header\r\n\r\n");
    } else if rng.chance(30) {
        // No newline at the very end.
        while out.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            out.pop();
        }
    }
    out
}
