//! `uidlmap hash`: the header hash Dovecot's pop3-migration plugin computes for a message,
//! optionally with what went into it, or in bulk over hex-encoded blocks for tooling.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use uidlmap::matcher::header_hash::{
    DropRule, Explanation, HeaderHash, HeaderHasher, explain, header_hash,
};

use super::bad_input;
use super::exit::{Exit, marked};
use uidlmap::input::{self, Bounded};

/// The long `--help` text of `uidlmap hash`.
pub const LONG_ABOUT: &str = "\
Hash a header block exactly as Dovecot 2.3.19's pop3-migration plugin does: its header \
filter, \"header hash version 4\" normalisation, then SHA-1. Prints `<sha1-hex> eoh=<yes|no>`; \
eoh says whether the blank line ending the header was seen (when not, Dovecot hashes the \
whole message instead). A whole message works too: reading stops at the blank line.";

#[derive(clap::Args, Debug)]
pub struct HashArgs {
    /// File holding a header block or a whole message; `-` or nothing reads standard input
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Also print the bytes that were hashed and every dropped line with the rule that
    /// dropped it
    #[arg(long, conflicts_with = "hex_lines")]
    pub explain: bool,

    /// Read one hex-encoded header block per input line and print `<sha1-hex> <1|0>` for
    /// each (1: blank line seen). Stops at the first malformed line, after printing the
    /// results of the lines before it
    #[arg(long)]
    pub hex_lines: bool,
}

pub fn run(args: &HashArgs) -> anyhow::Result<()> {
    let (name, input): (String, Box<dyn Read>) = match &args.file {
        None => ("standard input".into(), Box::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => ("standard input".into(), Box::new(io::stdin().lock())),
        Some(p) => {
            let file = File::open(p).map_err(|e| {
                marked(
                    Exit::NoInput,
                    anyhow!(e).context(format!("cannot open {}", p.display())),
                )
            })?;
            (p.display().to_string(), Box::new(file))
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let result = if args.hex_lines {
        // The limit applies to each line (the stream itself may be long).
        let lines = BufReader::with_capacity(64 * 1024, input);
        hex_lines(Bounded::new(lines, &name, input::HEX_LINE), &name, &mut out)
    } else if args.explain {
        let bytes = read_all(Bounded::new(input, &name, input::HASH_INPUT), &name)?;
        out.write_all(render_explanation(&explain(&bytes)).as_bytes())
            .map_err(anyhow::Error::from)
    } else {
        let hash = hash_stream(Bounded::new(input, &name, input::HASH_INPUT), &name)?;
        writeln!(out, "{}", hash_line(hash)).map_err(anyhow::Error::from)
    };
    // Whatever was printed for earlier lines goes out even when a later line is bad.
    let flushed = out.flush();
    result?;
    flushed.context("cannot write to standard output")
}

/// The input could not be read (a folder, a device error): not bad data, no input.
fn read_failed(e: io::Error, name: &str) -> anyhow::Error {
    if e.kind() == io::ErrorKind::InvalidData {
        // Past the input limit (the bounded reader's error): data, not a missing input.
        return marked(Exit::DataErr, input::from_io(name, e));
    }
    marked(
        Exit::NoInput,
        anyhow!(e).context(format!("cannot read {name}")),
    )
}

fn hash_line(hash: HeaderHash) -> String {
    format!("{hash} eoh={}", if hash.eoh { "yes" } else { "no" })
}

/// Hashes as the input arrives and stops reading at the end of the header.
fn hash_stream(mut input: impl Read, name: &str) -> anyhow::Result<HeaderHash> {
    let mut hasher = HeaderHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !hasher.is_done() {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_failed(e, name)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

fn read_all(mut input: impl Read, name: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| read_failed(e, name))?;
    Ok(bytes)
}

fn hex_lines<R: BufRead>(
    mut input: Bounded<R>,
    name: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    let mut block = Vec::new();
    for number in 1.. {
        line.clear();
        input.reset();
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|e| read_failed(e, name))?;
        if read == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        decode_hex(text, &mut block)
            .map_err(|e| bad_input(anyhow!("{name}, line {number}: {e}")))?;
        let hash = header_hash(&block);
        writeln!(out, "{hash} {}", u8::from(hash.eoh))?;
    }
    Ok(())
}

/// Decodes hex digits (either case) into `out`, or says what is wrong and where (1-based
/// column).
fn decode_hex(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    out.clear();
    if let Some(col) = text.iter().position(|&b| digit(b).is_none()) {
        return Err(format!(
            "invalid hex digit \"{}\" at column {}",
            escape(&text[col..=col]),
            col + 1
        ));
    }
    if text.len() % 2 == 1 {
        return Err(format!("odd number of hex digits ({})", text.len()));
    }
    out.extend(
        text.chunks_exact(2)
            .map(|p| digit(p[0]).unwrap_or(0) << 4 | digit(p[1]).unwrap_or(0)),
    );
    Ok(())
}

/// Bytes as a readable string: printable ASCII as is, the rest as `\r`, `\n`, `\t`, `\0`,
/// `\xHH`; backslash and double quote escaped so the result can sit between quotes.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn rule_name(rule: DropRule) -> &'static str {
    match rule {
        DropRule::CrOnlyStop => "cr-only stop",
        DropRule::SkipList => "skip list",
        DropRule::NoColon => "no colon",
        DropRule::WhitespaceOnlyFold => "whitespace-only fold",
        DropRule::InvalidName => "invalid name",
        DropRule::InheritedFold => "inherited fold",
    }
}

fn render_explanation(ex: &Explanation) -> String {
    let mut s = hash_line(ex.hash);
    s.push('\n');
    s += &format!(
        "hashed bytes (after the filter and normalisation, {} bytes):\n",
        ex.hashed.len()
    );
    for piece in ex.hashed.split_inclusive(|&b| b == b'\n') {
        s += &format!("  \"{}\"\n", escape(piece));
    }
    let dropped: Vec<_> = ex.dropped().collect();
    if dropped.is_empty() {
        s += "dropped lines: none\n";
    } else {
        s += "dropped lines:\n";
        for (line, rule) in dropped {
            s += &format!(
                "  line {}: {}: \"{}\"\n    {}\n",
                line.number,
                rule_name(rule),
                escape(&line.bytes),
                rule.describe()
            );
        }
    }
    s += &match (ex.blank_line(), ex.cr_only_line()) {
        (Some(blank), Some(cut)) => format!(
            "end of header: cut at line {cut} (only CRs); the blank line at line {blank} \
             still counts as seen\n"
        ),
        (Some(blank), None) => format!("end of header: blank line at line {blank}\n"),
        (None, Some(cut)) => format!(
            "end of header: cut at line {cut} (only CRs); no blank line seen, so Dovecot \
             would hash the whole message instead (§4.4)\n"
        ),
        (None, None) => "end of header: no blank line seen, so Dovecot would hash the whole \
                         message instead (§4.4)\n"
            .to_string(),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_is_readable_and_unambiguous() {
        let cases: &[(&[u8], &str)] = &[
            (b"a: b", "a: b"),
            (b"\r\n\t\0", "\\r\\n\\t\\0"),
            (b"\\\"'", "\\\\\\\"'"),
            (b"\x7f\x80\xff\x1b", "\\x7f\\x80\\xff\\x1b"),
        ];
        for (bytes, text) in cases {
            assert_eq!(escape(bytes), *text);
        }
    }

    #[test]
    fn hex_decoding_names_what_is_wrong() {
        let mut out = Vec::new();
        let cases: &[(&[u8], Result<&[u8], &str>)] = &[
            (b"", Ok(b"")),
            (b"613a20620a", Ok(b"a: b\n")),
            (b"0D0a00fF", Ok(b"\r\n\0\xff")),
            (b"613", Err("odd number of hex digits (3)")),
            (b"61 3a", Err("invalid hex digit \" \" at column 3")),
            (b"6g", Err("invalid hex digit \"g\" at column 2")),
            (b"\xff0", Err("invalid hex digit \"\\xff\" at column 1")),
        ];
        for (text, expected) in cases {
            let got = decode_hex(text, &mut out).map(|()| out.as_slice());
            assert_eq!(got, expected.map_err(String::from), "{}", escape(text));
        }
    }

    #[test]
    fn hex_lines_prints_one_result_per_line_and_stops_at_a_bad_one() {
        let text: &[u8] = b"613a20620d0a0d0a\n\r\nzz\n0a\n";
        let mut out = Vec::new();
        let lines = Bounded::new(text, "input", input::HEX_LINE);
        let err = hex_lines(lines, "input", &mut out).unwrap_err();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "938b96404495cced816e3a4f6031734eab4e71b3 1\n\
             da39a3ee5e6b4b0d3255bfef95601890afd80709 0\n"
        );
        assert_eq!(
            format!("{err:#}"),
            "input, line 3: invalid hex digit \"z\" at column 1"
        );
    }

    #[test]
    fn explanation_rendering() {
        let ex = explain(b"From: a\r\nStatus: RO\r\n\r\r\nX: y\r\n\r\nbody\r\n");
        assert_eq!(
            render_explanation(&ex),
            "\
4705c87b82eb406c1287074529cb9a243f10ba23 eoh=yes
hashed bytes (after the filter and normalisation, 7 bytes):
  \"From:a\\n\"
dropped lines:
  line 2: skip list: \"Status: RO\\r\\n\"
    header name is in the skip list (§4.2 rule 2)
  line 3: cr-only stop: \"\\r\\r\\n\"
    cut by a line made only of CRs (§4.2 rule 1)
  line 4: cr-only stop: \"X: y\\r\\n\"
    cut by a line made only of CRs (§4.2 rule 1)
  line 5: cr-only stop: \"\\r\\n\"
    cut by a line made only of CRs (§4.2 rule 1)
end of header: cut at line 3 (only CRs); the blank line at line 5 still counts as seen
"
        );
    }
}
