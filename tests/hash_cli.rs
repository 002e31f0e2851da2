//! `uidlmap hash` as a user runs it: the built binary on files and standard input, its
//! output, its errors and its exit codes.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Out, command, output_with_stdin, tempdir, write_file};
use uidlmap::matcher::header_hash::header_hash;

/// `uidlmap <args>` with `stdin` on its standard input.
fn uidlmap(args: &[&str], stdin: &[u8]) -> Out {
    output_with_stdin(command().args(args), stdin)
}

const EX_USAGE: i32 = 64;
const EX_DATAERR: i32 = 65;
const EX_NOINPUT: i32 = 66;

#[track_caller]
fn assert_ok(out: &Out, stdout: &str) {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.stdout, stdout);
    assert_eq!(out.stderr, "");
}

#[track_caller]
fn assert_exit(code: i32, out: &Out, stdout: &str, stderr_has: &[&str]) {
    assert_eq!(out.code, code, "stderr: {}", out.stderr);
    assert_eq!(out.stdout, stdout);
    let stderr = &out.stderr;
    for part in stderr_has {
        assert!(stderr.contains(part), "stderr {stderr:?} lacks {part:?}");
    }
}

#[test]
fn hashes_a_file_stdin_and_dash() {
    let dir = tempdir();
    let path = write_file(dir.path(), "header.eml", b"a: b\r\n\r\r\nc: d\r\n\r\n");
    let expected = "44ef6a20971148dd54a161f79814e22e2d098ddb eoh=yes\n"; // spec §8.1 #10
    assert_ok(&uidlmap(&["hash", path.to_str().unwrap()], b""), expected);
    assert_ok(&uidlmap(&["hash"], b"a: b\r\n\r\r\nc: d\r\n\r\n"), expected);
    assert_ok(
        &uidlmap(&["hash", "-"], b"a: b\r\n\r\r\nc: d\r\n\r\n"),
        expected,
    );
    assert_ok(
        &uidlmap(&["hash"], b""),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709 eoh=no\n",
    );
    assert_ok(
        &uidlmap(&["hash"], b"a: b\nfoo\nc: d\n"),
        "4dbea2c1bdd1323e15931382c1835200d9286230 eoh=no\n",
    );
}

#[test]
fn a_whole_message_hashes_like_its_header() {
    let header = b"From: a@example.org\r\nSubject: hi\r\n\r\n".to_vec();
    let mut message = header.clone();
    message.extend(std::iter::repeat_n(b"body line\r\n".as_slice(), 200_000).flatten());
    let expected = format!("{} eoh=yes\n", header_hash(&header));
    assert_ok(&uidlmap(&["hash"], &message), &expected);
    let dir = tempdir();
    let path = write_file(dir.path(), "message.eml", &message);
    assert_ok(&uidlmap(&["hash", path.to_str().unwrap()], b""), &expected);
}

#[test]
fn explain_shows_hashed_bytes_and_dropped_lines() {
    let out = uidlmap(
        &["hash", "--explain"],
        b"From: a\r\nX-UID: 7\r\n  more\r\nbad name: x\r\nTo: b\r\n \r\n c\r\n",
    );
    assert_ok(
        &out,
        &format!(
            "{} eoh=no\n\
             hashed bytes (after the filter and normalisation, 12 bytes):\n  \
               \"From:a\\n\"\n  \
               \"To:b\\n\"\n\
             dropped lines:\n  \
               line 2: skip list: \"X-UID: 7\\r\\n\"\n    \
                 header name is in the skip list (§4.2 rule 2)\n  \
               line 3: inherited fold: \"  more\\r\\n\"\n    \
                 folded line of a header whose previous line was dropped (§4.2 rule 2)\n  \
               line 4: invalid name: \"bad name: x\\r\\n\"\n    \
                 invalid header name (§4.2 rule 5)\n  \
               line 6: whitespace-only fold: \" \\r\\n\"\n    \
                 folded line of only spaces/tabs (§4.2 rule 4)\n  \
               line 7: inherited fold: \" c\\r\\n\"\n    \
                 folded line of a header whose previous line was dropped (§4.2 rule 2)\n\
             end of header: no blank line seen, so Dovecot would hash the whole message \
             instead (§4.4)\n",
            header_hash(b"From: a\nTo: b\n")
        ),
    );
}

#[test]
fn hex_lines_handles_twenty_thousand_blocks_quickly() {
    let blocks: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| {
            format!(
                "Received: from host{i}.example.org\r\n\tby mx; {i}\r\nSubject: n\u{e4}{i}\r\n{}",
                if i % 3 == 0 { "\r\n" } else { "" }
            )
            .into_bytes()
        })
        .collect();
    let mut input = String::new();
    for b in &blocks {
        for byte in b {
            input += &format!("{byte:02X}");
        }
        input.push('\n');
    }
    let started = Instant::now();
    let out = uidlmap(&["hash", "--hex-lines"], input.as_bytes());
    let took = started.elapsed();
    let expected: String = blocks
        .iter()
        .map(|b| {
            let h = header_hash(b);
            format!("{h} {}\n", u8::from(h.eoh))
        })
        .collect();
    assert_ok(&out, &expected);
    println!("hash --hex-lines: 20,000 blocks in {took:?}");
    // "Well under a second" in release; a debug build on a loaded machine gets slack.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn hex_lines_accepts_crlf_and_empty_lines() {
    assert_ok(
        &uidlmap(&["hash", "--hex-lines"], b"0a\r\n\n613a62\n"),
        &format!(
            "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc 1\n\
             da39a3ee5e6b4b0d3255bfef95601890afd80709 0\n\
             {} 0\n",
            header_hash(b"a:b")
        ),
    );
}

#[test]
fn bad_hex_names_the_line_and_prints_nothing_for_it() {
    let earlier = "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc 1\n".repeat(2);
    assert_exit(
        EX_DATAERR,
        &uidlmap(&["hash", "--hex-lines"], b"0a\n0a\n0a0g\n0a\n"),
        &earlier,
        &["standard input, line 3: invalid hex digit \"g\" at column 4"],
    );
    assert_exit(
        EX_DATAERR,
        &uidlmap(&["hash", "--hex-lines"], b"0a\n0a\n0a0\n"),
        &earlier,
        &["line 3: odd number of hex digits (3)"],
    );
    let dir = tempdir();
    let path = write_file(dir.path(), "blocks.hex", b"0a\n0a\n0a 0a\n");
    let name = path.display().to_string();
    assert_exit(
        EX_DATAERR,
        &uidlmap(&["hash", "--hex-lines", &name], b""),
        &earlier,
        &[&format!(
            "{name}, line 3: invalid hex digit \" \" at column 3"
        )],
    );
}

#[test]
fn unreadable_input_is_no_input() {
    let dir = tempdir();
    let missing = dir.path().join("missing.eml");
    let missing = missing.to_str().unwrap();
    assert_exit(
        EX_NOINPUT,
        &uidlmap(&["hash", missing], b""),
        "",
        &[&format!("cannot open {missing}"), "No such file"],
    );
    let dir_name = dir.path().to_str().unwrap();
    for args in [&["hash", dir_name][..], &["hash", "--explain", dir_name]] {
        assert_exit(
            EX_NOINPUT,
            &uidlmap(args, b""),
            "",
            &[&format!("cannot read {dir_name}")],
        );
    }
}

#[test]
fn usage_errors_and_help() {
    assert_exit(
        EX_USAGE,
        &uidlmap(&["hash", "--bogus"], b""),
        "",
        &["--bogus"],
    );
    assert_exit(
        EX_USAGE,
        &uidlmap(&["hash", "--explain", "--hex-lines"], b""),
        "",
        &["cannot be used with"],
    );
    assert_exit(
        EX_USAGE,
        &uidlmap(&["frobnicate"], b""),
        "",
        &["frobnicate"],
    );
    for args in [&["--help"][..], &["hash", "--help"]] {
        let out = uidlmap(args, b"");
        assert_eq!(out.code, 0);
        let help = out.stdout;
        assert!(
            help.contains("Exit codes:\n   0  success") && help.contains("\n   1  failure"),
            "{help}"
        );
        assert!(help.contains("\n  64  bad usage"), "{help}");
        assert!(help.contains("\n  77  authentication failed"), "{help}");
    }
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    // Far more output than a pipe holds, so the binary is still writing when we leave.
    let input = "0a\n".repeat(200_000);
    let mut child = command()
        .args(["hash", "--hex-lines"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run uidlmap");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc 1\n");
    // stdout is closed now (the reader was dropped), like `| head -1`.
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}
