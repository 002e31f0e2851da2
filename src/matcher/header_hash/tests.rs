//! Tests of the header hash: Dovecot's unit vectors, each §4.2 rule, normalisation and
//! properties.

use super::*;
use proptest::prelude::*;

fn sha1(bytes: &[u8]) -> [u8; 20] {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .try_into()
        .unwrap()
}

fn esc(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn hash_in_chunks(input: &[u8], size: usize) -> HeaderHash {
    let mut h = HeaderHasher::new();
    for chunk in input.chunks(size) {
        h.update(chunk);
    }
    h.finish()
}

/// A deliberately plain, whole-input reading of spec §4.2, to cross-check the
/// streaming state machine: returns the filtered bytes and "blank line seen".
fn reference(input: &[u8]) -> (Vec<u8>, bool) {
    let (mut out, mut stop, mut prev_dropped, mut first) = (Vec::new(), false, false, true);
    let mut rest = input;
    while !rest.is_empty() {
        let (line, newline, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => (&rest[..i - 1], true, &rest[i + 1..]),
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        rest = next;
        if line.is_empty() {
            if !stop {
                out.push(b'\n');
            }
            return (out, true);
        }
        let blank = |b: &u8| *b == b' ' || *b == b'\t';
        let fold = !first && blank(&line[0]);
        first = false;
        let drop = if stop {
            true
        } else if fold {
            prev_dropped || line.iter().all(blank)
        } else {
            let name = line.iter().position(|&b| b == b':').map(|c| {
                let mut n = &line[..c];
                while let Some((b, r)) = n.split_last() {
                    if !blank(b) {
                        break;
                    }
                    n = r;
                }
                n
            });
            match name.filter(|n| n.len() <= MAX_NAME_LEN) {
                None => {
                    stop = line.iter().all(|&b| b == b'\r');
                    true
                }
                Some(n) => {
                    let c_str = n.split(|&b| b == 0).next().unwrap();
                    SKIP_LIST
                        .iter()
                        .any(|s| s.as_bytes().eq_ignore_ascii_case(c_str))
                        || c_str.iter().any(|&b| b <= 0x20 || b == 0x7f)
                }
            }
        };
        prev_dropped = drop;
        if !drop {
            out.extend_from_slice(line);
            if newline {
                out.push(b'\n');
            }
        }
    }
    (out, false)
}

/// Checks what the filter passes on and the blank-line flag, and that the hash, the
/// explanation, the plain reference and every way of chunking the input agree.
#[track_caller]
fn check(input: &[u8], filtered: &[u8], eoh: bool) {
    let ex = explain(input);
    assert_eq!(
        esc(&ex.filtered),
        esc(filtered),
        "filtered bytes of {:?}",
        esc(input)
    );
    assert_eq!(ex.hash.eoh, eoh, "blank line seen for {:?}", esc(input));
    assert_eq!(esc(&ex.hashed), esc(&normalise(filtered)));
    assert_eq!(ex.hash.sha1, sha1(&ex.hashed));
    assert_eq!(
        header_hash(input),
        ex.hash,
        "header_hash of {:?}",
        esc(input)
    );
    let (ref_filtered, ref_eoh) = reference(input);
    assert_eq!(
        (esc(&ref_filtered), ref_eoh),
        (esc(filtered), eoh),
        "reference"
    );
    for size in 1..=9 {
        assert_eq!(hash_in_chunks(input, size), ex.hash, "in chunks of {size}");
    }
}

/// The lines dropped, by number, with their rule.
fn drops(input: &[u8]) -> Vec<(usize, DropRule)> {
    explain(input)
        .dropped()
        .map(|(l, r)| (l.number, r))
        .collect()
}

use DropRule::*;

// --- §8.1: the plugin's own unit-test vectors -----------------------------------

#[test]
fn dovecot_unit_test_vectors() {
    const H4: &str = "44ef6a20971148dd54a161f79814e22e2d098ddb";
    const H16: &str = "4dbea2c1bdd1323e15931382c1835200d9286230";
    let table: [(&[u8], &[u8], &str, bool); 18] = [
        (b"", b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709", false),
        (
            b"\n",
            b"\n",
            "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc",
            true,
        ),
        (
            b"a: \r\n",
            b"a:\n",
            "a3871371f2d468493005286282ae10549dab2c57",
            false,
        ),
        (b"a: b\r\n", b"a:b\n", H4, false),
        (b"a: b \r\n", b"a:b\n", H4, false),
        (b"a: b  \r\n", b"a:b\n", H4, false),
        (b"a: b     \r\n", b"a:b\n", H4, false),
        (
            b"a: b\r\n\r\n",
            b"a:b\n\n",
            "938b96404495cced816e3a4f6031734eab4e71b3",
            true,
        ),
        (b"a: b\r\n\r\r\n", b"a:b\n", H4, false),
        (b"a: b\r\n\r\r\nc: d\r\n\r\n", b"a:b\n", H4, true),
        (b"a: b\r\n \r\n", b"a:b\n", H4, false),
        (b"a: b\r\n  \r\n", b"a:b\n", H4, false),
        (b"a: b\r\n\t\r\n", b"a:b\n", H4, false),
        (b"a: b\t\t\t\t\r\n", b"a:b\n", H4, false),
        (b"a: b\nfoo\n", b"a:b\n", H4, false),
        (b"a: b\nc: d\n", b"a:b\nc:d\n", H16, false),
        (b"a:b\nc:d\n", b"a:b\nc:d\n", H16, false),
        (b"a: b\nfoo\nc: d\n", b"a:b\nc:d\n", H16, false),
    ];
    for (i, (input, hashed, sha1_hex, eoh)) in table.into_iter().enumerate() {
        let ex = explain(input);
        assert_eq!(esc(&ex.hashed), esc(hashed), "vector {}", i + 1);
        assert_eq!(ex.hash.to_string(), sha1_hex, "vector {}", i + 1);
        assert_eq!(ex.hash.eoh, eoh, "vector {}", i + 1);
        assert_eq!(header_hash(input), ex.hash, "vector {}", i + 1);
        for size in 1..=5 {
            assert_eq!(
                hash_in_chunks(input, size),
                ex.hash,
                "vector {} by {size}",
                i + 1
            );
        }
    }
}

// --- §4.2 line reading ----------------------------------------------------------

#[test]
fn line_reading() {
    let long_name = [b'x'; MAX_NAME_LEN];
    let kept_long = [&long_name[..], b"  \t: v\n"].concat();
    let cases: &[(&[u8], &[u8], bool)] = &[
        (b"", b"", false),
        (b"a: b\n", b"a: b\n", false),
        (b"a: b\r\n", b"a: b\n", false),
        // Only the one CR right before LF is line end; others are content.
        (b"a: b\r\r\n", b"a: b\r\n", false),
        (b"a: b\rc\n", b"a: b\rc\n", false),
        (b"a\r: b\n", b"", false), // CR in a name makes it invalid (rule 5)
        // A last line without newline is kept without one; a final lone CR is content.
        (b"a: b", b"a: b", false),
        (b"a: b\r", b"a: b\r", false),
        (b"a: b\nc: d", b"a: b\nc: d", false),
        // Folding: a line starting with space or tab continues the header.
        (b"a: b\n c\n\td\n", b"a: b\n c\n\td\n", false),
        // ...except the very first line, which is a header with a blank in its name.
        (b" a: b\n", b"", false),
        (b"\ta: b\nc: d\n", b"c: d\n", false),
        (b" : b\n", b" : b\n", false), // name "" once trimmed: valid
        // The header ends at the first empty line, LF or CRLF; the body is not read.
        (b"a: b\n\nc: d\n", b"a: b\n\n", true),
        (b"a: b\r\n\r\nbody\r\n", b"a: b\n\n", true),
        (b"\n\r\r\n", b"\n", true),
        (b"\r\n", b"\n", true),
        (b"a: b\n \n\n", b"a: b\n\n", true),
        // Name: everything before the first colon, blanks trimmed off its end.
        (b"a \t: b: c\n", b"a \t: b: c\n", false),
        (&kept_long, &kept_long, false),
    ];
    for (input, filtered, eoh) in cases {
        check(input, filtered, *eoh);
    }
}

#[test]
fn name_longer_than_limit_counts_as_no_colon() {
    for (len, kept) in [(999, true), (1000, true), (1001, false), (5000, false)] {
        let line = [vec![b'x'; len], b": v\n".to_vec()].concat();
        let input = [&line[..], b" folded\nc: d\n"].concat();
        let filtered = if kept {
            input.clone()
        } else {
            b"c: d\n".to_vec()
        };
        check(&input, &filtered, false);
        if !kept {
            assert_eq!(drops(&input), [(1, NoColon), (2, InheritedFold)]);
        }
    }
    // Blanks before the colon do not count: they are trimmed off the name.
    let input = [vec![b'x'; 1000], vec![b' '; 3000], b": v\n".to_vec()].concat();
    check(&input, &input, false);
    // A later colon does not help: the name up to it is longer still.
    let input = [vec![b'x'; 1001], b":a:b\n".to_vec()].concat();
    check(&input, b"", false);
}

// --- §4.2 rule 1: CR-only line ----------------------------------------------------

#[test]
fn rule1_cr_only_line_cuts_the_header() {
    let many_crs = [vec![b'\r'; 2000], b"\n\n".to_vec()].concat();
    let cases: &[(&[u8], &[u8], bool, &[(usize, DropRule)])] = &[
        (b"a: b\r\n\r\r\n", b"a: b\n", false, &[(2, CrOnlyStop)]),
        (
            b"a: b\r\n\r\r\nc: d\r\n\r\n",
            b"a: b\n",
            true,
            &[(2, CrOnlyStop), (3, CrOnlyStop), (4, CrOnlyStop)],
        ),
        (
            b"\r\r\n\r\n",
            b"",
            true,
            &[(1, CrOnlyStop), (2, CrOnlyStop)],
        ),
        (b"\r\r\r\r\n", b"", false, &[(1, CrOnlyStop)]),
        (b"\r", b"", false, &[(1, CrOnlyStop)]),
        (b"a: b\n\r", b"a: b\n", false, &[(2, CrOnlyStop)]),
        (
            b"a: b\n\r\r\n c\n\n",
            b"a: b\n",
            true,
            &[(2, CrOnlyStop), (3, CrOnlyStop), (4, CrOnlyStop)],
        ),
        (&many_crs, b"", true, &[(1, CrOnlyStop), (2, CrOnlyStop)]),
        // Not CR-only: a colon, a blank, or a fold (folds never stop the header).
        (b"\r:x\n\n", b"\n", true, &[(1, InvalidName)]),
        (b"\r \r\n\n", b"\n", true, &[(1, NoColon)]),
        (b"a: b\n \r\r\n\n", b"a: b\n \r\n\n", true, &[]),
    ];
    for (input, filtered, eoh, dropped) in cases {
        check(input, filtered, *eoh);
        assert_eq!(&drops(input), dropped, "{:?}", esc(input));
    }
    let ex = explain(b"a: b\r\n\r\r\nc: d\r\n\r\n");
    assert_eq!((ex.cr_only_line(), ex.blank_line()), (Some(2), Some(4)));
}

// --- §4.2 rule 2: skip list, folds inherit ----------------------------------------

#[test]
fn rule2_skip_list_ignoring_case() {
    for name in SKIP_LIST {
        for variant in [
            name.to_string(),
            name.to_ascii_lowercase(),
            name.to_ascii_uppercase(),
        ] {
            let input = format!("a: 1\n{variant}: x\n  more\nb: 2\n");
            check(input.as_bytes(), b"a: 1\nb: 2\n", false);
            assert_eq!(drops(input.as_bytes()), [(2, SkipList), (3, InheritedFold)]);
            // Blanks before the colon are trimmed off the name first.
            let input = format!("{variant} \t: x\n");
            check(input.as_bytes(), b"", false);
        }
    }
    let cases: &[(&[u8], &[u8], &[(usize, DropRule)])] = &[
        (b"Statuss: x\nStatu: x\n", b"Statuss: x\nStatu: x\n", &[]),
        (b"X-UIDLs: x\nXUID: x\n", b"X-UIDLs: x\nXUID: x\n", &[]),
        // Names are compared as C strings: a NUL ends the name.
        (b"Status\0junk: x\n", b"", &[(1, SkipList)]),
        (b"X-UID\0: x\nc: d\n", b"c: d\n", &[(1, SkipList)]),
        // A colon-less line is all name; it is dropped either way.
        (b"status\n", b"", &[(1, SkipList)]),
        (b"status \n", b"", &[(1, NoColon)]),
    ];
    for (input, filtered, dropped) in cases {
        check(input, filtered, false);
        assert_eq!(&drops(input), dropped, "{:?}", esc(input));
    }
}

// --- §4.2 rule 3: no colon --------------------------------------------------------

#[test]
fn rule3_first_line_without_colon() {
    let cases: &[(&[u8], &[u8], &[(usize, DropRule)])] = &[
        (b"a: b\nfoo\n", b"a: b\n", &[(2, NoColon)]),
        (
            b"foo\n bar\nc: d\n",
            b"c: d\n",
            &[(1, NoColon), (2, InheritedFold)],
        ),
        (b"a: b\nfoo\nc: d\n", b"a: b\nc: d\n", &[(2, NoColon)]),
        (b"foo bar\n\n", b"\n", &[(1, NoColon)]),
        (b"foo", b"", &[(1, NoColon)]),
        // A fold line needs no colon.
        (b"a: b\n c d\n", b"a: b\n c d\n", &[]),
    ];
    for (input, filtered, dropped) in cases {
        check(input, filtered, input.ends_with(b"\n\n"));
        assert_eq!(&drops(input), dropped, "{:?}", esc(input));
    }
}

// --- §4.2 rule 4: whitespace-only folds, and the sticky drop ----------------------

#[test]
fn rule4_whitespace_only_fold() {
    let cases: &[(&[u8], &[u8], &[(usize, DropRule)])] = &[
        (b"a: b\n \n", b"a: b\n", &[(2, WhitespaceOnlyFold)]),
        (b"a: b\n \t \r\n", b"a: b\n", &[(2, WhitespaceOnlyFold)]),
        (b"a: b\n ", b"a: b\n", &[(2, WhitespaceOnlyFold)]),
        // Sticky: every later fold of the same header goes too.
        (
            b"a: b\n \n c\n\td\ne: f\n",
            b"a: b\ne: f\n",
            &[
                (2, WhitespaceOnlyFold),
                (3, InheritedFold),
                (4, InheritedFold),
            ],
        ),
        // A CR inside is not a blank, so the fold stays.
        (b"a: b\n \r \n", b"a: b\n \r \n", &[]),
        (b"a: b\n c \n", b"a: b\n c \n", &[]),
    ];
    for (input, filtered, dropped) in cases {
        check(input, filtered, false);
        assert_eq!(&drops(input), dropped, "{:?}", esc(input));
    }
    // The spec's example: `a: b` + ` ` + ` c` hashes like `a: b` alone.
    assert_eq!(header_hash(b"a: b\n \n c\n"), header_hash(b"a: b\n"));
    assert_ne!(header_hash(b"a: b\n \n c\n"), header_hash(b"a: b\n c\n"));
}

// --- §4.2 rule 5: invalid names ---------------------------------------------------

#[test]
fn rule5_invalid_name() {
    let dropped: &[&[u8]] = &[
        b"a b: c\n",
        b"a\tb: c\n",
        b"a\x7fb: c\n",
        b"a\x01b: c\n",
        b"a\x1fb: c\n",
        b"a\rb: c\n",
        b"a \0: c\n", // the blank comes before the NUL
        b"\x7f: c\n",
    ];
    for input in dropped {
        let with_fold = [&input[..], b" more\nz: 1\n"].concat();
        check(&with_fold, b"z: 1\n", false);
        assert_eq!(drops(&with_fold), [(1, InvalidName), (2, InheritedFold)]);
    }
    let kept: &[&[u8]] = &[
        b"\xc3\xa4: c\n", // 0x80-0xFF compare as signed char: not rejected
        b"a\x80\xffb: c\n",
        b"a\0 b: c\n", // the check stops at the NUL
        b"a\0\x01: c\n",
        b": c\n", // empty name
        b"a \t : c\n",
        b"!#~: c\n",
    ];
    for input in kept {
        check(input, input, false);
    }
    assert_eq!(explain(b"\xc3\xa4: c\n").hashed, b"?:c\n");
}

// --- §4.2 rule 6: what a kept line looks like ---------------------------------------

#[test]
fn rule6_kept_lines_end_in_lf() {
    check(b"a: b\r\nc: d\r\n\r\n", b"a: b\nc: d\n\n", true);
    check(b"a: b\r\nc: d", b"a: b\nc: d", false);
    check(b"a: b\r\n\tc\r\n", b"a: b\n\tc\n", false);
}

#[test]
fn explanation_lists_every_line() {
    let input = b"From: a\r\nStatus: RO\r\n  x\r\nfoo\r\nSubject: s\r\n\r\nbody\r\n";
    let ex = explain(input);
    let verdicts: Vec<_> = ex.lines.iter().map(|l| (l.number, l.verdict)).collect();
    assert_eq!(
        verdicts,
        [
            (1, Verdict::Kept),
            (2, Verdict::Dropped(SkipList)),
            (3, Verdict::Dropped(InheritedFold)),
            (4, Verdict::Dropped(NoColon)),
            (5, Verdict::Kept),
            (6, Verdict::EndOfHeader { hashed: true }),
        ]
    );
    assert_eq!(ex.lines[1].bytes, b"Status: RO\r\n");
    assert_eq!(ex.filtered, b"From: a\nSubject: s\n\n");
    assert_eq!(ex.hashed, b"From:a\nSubject:s\n\n");
    assert_eq!((ex.cr_only_line(), ex.blank_line()), (None, Some(6)));
}

#[test]
fn hasher_reports_end_of_header_and_ignores_the_rest() {
    let mut h = HeaderHasher::new();
    h.update(b"a: b\r");
    assert!(!h.is_done());
    h.update(b"\n\r");
    assert!(!h.is_done());
    h.update(b"\nbody without end");
    assert!(h.is_done());
    h.update(b"\r\r\n more");
    assert_eq!(h.finish(), header_hash(b"a: b\r\n\r\n"));
    let mut h = HeaderHasher::new();
    h.update(b"");
    h.update(b"a: b\r");
    h.update(b"");
    h.update(b"\r\n");
    assert_eq!(h.finish(), header_hash(b"a: b\r\r\n"));
}

// --- §4.3 normalisation -------------------------------------------------------------

#[test]
fn normalisation_v4() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"a: b\n", b"a:b\n"),
        (b" \t a \t b \t\n", b"ab\n"),
        (b"\n\n", b"\n\n"),
        (b"\r", b"?"),
        (b"\0", b"?"),
        (b"\x01\x1f", b"?"),
        (b"\x7f", b"?"),
        (b"\x80", b"?"),
        (b"\xff", b"?"),
        (b"?", b"?"),
        (b"??", b"?"),
        (b"\xc3\xa4\xc3\xb6x", b"?x"),
        (b"a?\r\0\x7f\xffb", b"a?b"),
        (b"? ?", b"??"),
        (b"?\t?", b"??"),
        (b"?a?", b"?a?"),
        (b"?\n?", b"?\n?"),
        (b" !~", b"!~"),
        (b"A: B", b"A:B"), // no case folding
    ];
    for (input, expected) in cases {
        assert_eq!(esc(&normalise(input)), esc(expected), "{:?}", esc(input));
    }
    // The run state carries across calls.
    let mut q = false;
    let mut buf = [0u8; 4];
    assert_eq!(normalise_kernel(b"a\r", &mut q, &mut buf), 2);
    assert_eq!(normalise_kernel(b"\0b", &mut q, &mut buf), 1);
    assert_eq!(&buf[..1], b"b");
}

#[test]
fn word_at_a_time_tests_are_exact() {
    for v in 0..=255u8 {
        for pos in 0..8 {
            let mut word = *b"abcdefgh";
            word[pos] = v;
            let w = u64::from_le_bytes(word);
            let text = (0x21..=0x7e).contains(&v) && v != b'?';
            assert_eq!(is_text(w), text, "byte {v:#04x} at {pos}");
            let eq = bytes_equal(w, b' ');
            assert_eq!(eq == 0, v != b' ', "byte {v:#04x} at {pos}");
            // Every other byte is a space too.
            let mut spaced = [b' '; 8];
            spaced[pos] = v;
            let mask = bytes_equal(u64::from_le_bytes(spaced), b' ');
            let expected: [u8; 8] =
                std::array::from_fn(|i| if spaced[i] == b' ' { 0x80 } else { 0 });
            assert_eq!(mask, u64::from_le_bytes(expected), "byte {v:#04x} at {pos}");
        }
    }
}

#[test]
fn normalisation_has_no_unfolding_reordering_or_value_removal() {
    assert_ne!(header_hash(b"a: b\n c\n"), header_hash(b"a: b c\n"));
    assert_ne!(header_hash(b"a: 1\nb: 2\n"), header_hash(b"b: 2\na: 1\n"));
    assert_ne!(header_hash(b"a:\nb: 2\n"), header_hash(b"b: 2\n"));
    assert_ne!(header_hash(b"A: b\n"), header_hash(b"a: b\n"));
    assert_eq!(header_hash(b"a : b\n"), header_hash(b"a:b\n"));
}

// --- properties -----------------------------------------------------------------------

/// Header-like input: tokens that hit every rule, glued at random.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"a".to_vec()),
        Just(b"From".to_vec()),
        Just(b"x-uid".to_vec()),
        Just(b"Status".to_vec()),
        Just(b":".to_vec()),
        Just(b": ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\r\n".to_vec()),
        Just(b"?".to_vec()),
        Just(vec![0]),
        Just(vec![0x7f]),
        Just(vec![0xc3, 0xa4]),
        Just(vec![b'n'; 1001]),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #[test]
    fn word_at_a_time_normalisation_matches_byte_at_a_time(
        input in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(b"ab:<@>.- ".to_vec()),
                1 => any::<u8>(),
            ],
            0..64,
        ),
        q in any::<bool>(),
    ) {
        let (mut fast, mut slow) = (vec![0; input.len()], vec![0; input.len()]);
        let (mut q_fast, mut q_slow) = (q, q);
        let n_fast = normalise_kernel(&input, &mut q_fast, &mut fast);
        let n_slow = normalise_bytes(&input, &mut q_slow, &mut slow, 0);
        prop_assert_eq!(&fast[..n_fast], &slow[..n_slow]);
        prop_assert_eq!(q_fast, q_slow);
    }

    #[test]
    fn name_scan_of_a_slice_matches_byte_by_byte(
        name in prop::collection::vec(
            prop::sample::select(b"aX \t\r\0\x7f\x80-".to_vec()),
            0..40,
        ),
    ) {
        let mut pushed = NameScan::NEW;
        for &b in &name {
            pushed.push(b);
        }
        prop_assert_eq!(NameScan::of(&name), pushed);
    }

    #[test]
    fn explain_agrees_with_hash_and_reference(input in header_bytes()) {
        let ex = explain(&input);
        prop_assert_eq!(ex.hash, header_hash(&input));
        prop_assert_eq!(ex.hash.sha1, sha1(&ex.hashed));
        prop_assert_eq!(&ex.hashed, &normalise(&ex.filtered));
        let (filtered, eoh) = reference(&input);
        prop_assert_eq!(esc(&ex.filtered), esc(&filtered));
        prop_assert_eq!(ex.hash.eoh, eoh);
        // The lines cover the input from its start, in order.
        let covered: Vec<u8> = ex.lines.iter().flat_map(|l| l.bytes.clone()).collect();
        prop_assert!(input.starts_with(&covered));
    }

    #[test]
    fn splitting_the_input_does_not_change_the_hash(
        input in header_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        at.sort_unstable();
        let mut h = HeaderHasher::new();
        let mut from = 0;
        for cut in at {
            h.update(&input[from..cut]);
            from = cut;
        }
        h.update(&input[from..]);
        prop_assert_eq!(h.finish(), header_hash(&input));
    }
}
