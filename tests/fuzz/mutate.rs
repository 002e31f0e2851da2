//! A small deterministic mutator over seed inputs: byte flips, inserts, deletes,
//! duplicated and swapped ranges, splices from other seeds, and tokens from a per-harness
//! dictionary (protocol words, line ends, literal announcements, large numbers). Seeded
//! by a number, so any run can be repeated with `UIDLMAP_FUZZ_SEED`.

/// SplitMix64: small, fast, and good enough to drive mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Bytes that mean something to most text protocols, tried by every harness.
const COMMON: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b"\t",
    b"0",
    b"1",
    b"-1",
    b"4294967295",
    b"4294967296",
    b"18446744073709551615",
    b"99999999999999999999999",
    b"\xff",
    b"\xc3\xa9",
];

/// Values that often sit at boundaries.
const INTERESTING: &[u8] = &[
    0, 1, b'\r', b'\n', b' ', b'.', b'"', b'\\', b'{', b'}', b'(', b')', b'[', b']', b'*', b'+',
    b'-', b':', b'\t', 0x7f, 0x80, 0xff,
];

/// Applies 1-8 random mutations to a copy of `seeds[i]` for a random `i`, keeping the
/// result at most `max_len` bytes.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], dict: &[&[u8]], max_len: usize) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(rng, &mut data, seeds, dict);
    }
    data.truncate(max_len);
    data
}

fn token<'a>(rng: &mut Rng, dict: &[&'a [u8]]) -> &'a [u8] {
    if !dict.is_empty() && !rng.one_in(4) {
        dict[rng.below(dict.len())]
    } else {
        COMMON[rng.below(COMMON.len())]
    }
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], dict: &[&[u8]]) {
    let len = data.len();
    let at = if len == 0 { 0 } else { rng.below(len + 1) };
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => data.insert(at, rng.next() as u8),
        3 if len > 0 => {
            let n = 1 + rng.below(len.min(16));
            let start = rng.below(len - n + 1);
            data.drain(start..start + n);
        }
        4 | 5 => {
            let t = token(rng, dict);
            data.splice(at..at, t.iter().copied());
        }
        6 if len > 0 => {
            // Replace a range with a token: turns a number into a huge one, a word into
            // another keyword.
            let n = 1 + rng.below(len.min(12));
            let start = rng.below(len - n + 1);
            let t = token(rng, dict);
            data.splice(start..start + n, t.iter().copied());
        }
        7 if len > 0 => {
            // Duplicate a range, sometimes many times: long lines, floods, deep nesting.
            let n = 1 + rng.below(len.min(64));
            let start = rng.below(len - n + 1);
            let piece = data[start..start + n].to_vec();
            let times = if rng.one_in(8) { 1 + rng.below(200) } else { 1 };
            for _ in 0..times {
                data.splice(at..at, piece.iter().copied());
            }
        }
        8 if len > 1 => {
            let a = rng.below(len);
            let b = rng.below(len);
            data.swap(a, b);
        }
        9 => {
            // Splice: the front of this input, the back of another seed.
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
        10 if len > 0 => data.truncate(rng.below(len)),
        _ => {
            // A number changed: one digit widened, or the whole number replaced by a
            // boundary value. Sizes, counts and widths are where parsers go wrong.
            if let Some(i) = (0..len)
                .map(|k| (at + k) % len)
                .find(|&i| data[i].is_ascii_digit())
            {
                if rng.one_in(2) {
                    let digits = [b"0".as_slice(), b"9", b"00", b"65536", b"2147483648"];
                    data.splice(i..i + 1, digits[rng.below(digits.len())].iter().copied());
                } else {
                    let start = (0..=i)
                        .rev()
                        .take_while(|&j| data[j].is_ascii_digit())
                        .last()
                        .unwrap_or(i);
                    let end = i + data[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let numbers: [&[u8]; 10] = [
                        b"0",
                        b"1",
                        b"9",
                        b"255",
                        b"65536",
                        b"2147483648",
                        b"4294967295",
                        b"4294967296",
                        b"9999999999",
                        b"18446744073709551616",
                    ];
                    let n = numbers[rng.below(numbers.len())];
                    data.splice(start..end, n.iter().copied());
                }
            }
        }
    }
}

/// Cuts `len` bytes into random chunk lengths (1-`max` bytes each, sometimes all 1s).
pub fn chunk_plan(rng: &mut Rng, len: usize, max: usize) -> Vec<usize> {
    let mut plan = Vec::new();
    let mut left = len;
    let tiny = rng.one_in(4);
    while left > 0 {
        let n = if tiny {
            1
        } else {
            1 + rng.below(max.min(left))
        };
        plan.push(n);
        left -= n;
    }
    plan
}
