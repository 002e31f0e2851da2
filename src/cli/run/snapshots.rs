//! `uidlmap run --snapshots DIR [--update]`: compare each scenario's report with its
//! reviewed snapshot (`DIR/a/b.snap` for scenario `a/b`), print the difference, and with
//! `--update` leave insta's pending `DIR/a/b.snap.new` beside it, so that
//! `cargo insta review` and this command see the same thing.
//!
//! The file format is insta's: a metadata block between `---` lines, then the report's
//! snapshot text. Comparison is insta's too: trailing whitespace at the end and CRLF line
//! ends are not differences.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use uidlmap::report::Report;

/// The file the snapshot tests record as the snapshot's writer.
const SOURCE: &str = "tests/scenarios.rs";

/// How one scenario's report compares with its snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The report is the snapshot.
    Same,
    /// There is no snapshot yet.
    Missing,
    /// The report differs: a unified diff, old (snapshot) to new (report).
    Differs(String),
}

impl Verdict {
    pub fn is_same(&self) -> bool {
        *self == Verdict::Same
    }
}

/// The snapshot file of scenario `name` under `dir`.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.snap"))
}

/// Compares `report` with its snapshot under `dir`; with `update`, a report that is not
/// its snapshot is written as `NAME.snap.new` (and a stale `.snap.new` of a report that
/// is its snapshot again is removed, as insta does).
pub fn compare(dir: &Path, report: &Report, update: bool) -> anyhow::Result<Verdict> {
    let path = path_of(dir, &report.name);
    let new = report.snapshot_yaml();
    let (header, verdict) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (header, old) = split(&text);
            let v = if normalize(old) == normalize(&new) {
                Verdict::Same
            } else {
                Verdict::Differs(diff(&path, old, &new))
            };
            (header.to_string(), v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            fresh_header(report.description.as_deref()),
            Verdict::Missing,
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let pending = PathBuf::from(format!("{}.new", path.display()));
    if update {
        if verdict.is_same() {
            match std::fs::remove_file(&pending) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("removing {}", pending.display()));
                }
            }
        } else {
            if let Some(parent) = pending.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let mut text = header;
            text.push_str(new.trim_end());
            text.push('\n');
            std::fs::write(&pending, text)
                .with_context(|| format!("writing {}", pending.display()))?;
        }
    }
    Ok(verdict)
}

/// Splits an insta snapshot file into its metadata block (both `---` lines included)
/// and its contents. A file without a metadata block is all contents.
fn split(text: &str) -> (&str, &str) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return ("", text);
    };
    match rest.find("\n---\n") {
        Some(i) => {
            let end = 4 + i + 5;
            (&text[..end], &text[end..])
        }
        None => ("", text),
    }
}

/// The metadata block insta writes for a new scenario snapshot.
fn fresh_header(description: Option<&str>) -> String {
    let mut h = format!("---\nsource: {SOURCE}\n");
    if let Some(d) = description {
        // A JSON string is a YAML double-quoted scalar: safe for any description.
        let _ = writeln!(
            h,
            "description: {}",
            serde_json::to_string(d).expect("a string")
        );
    }
    h.push_str("---\n");
    h
}

fn normalize(s: &str) -> String {
    s.trim_end().replace("\r\n", "\n")
}

/// A unified diff of the snapshot (`-`) against the new report (`+`), 3 lines of context.
fn diff(path: &Path, old: &str, new: &str) -> String {
    let (old, new) = (normalize(old) + "\n", normalize(new) + "\n");
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(
            &path.display().to_string(),
            &format!("{} (this run)", path.display()),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_the_metadata_block() {
        let (h, c) = split("---\nsource: x\ndescription: y\n---\nname: a\n");
        assert_eq!(h, "---\nsource: x\ndescription: y\n---\n");
        assert_eq!(c, "name: a\n");
        assert_eq!(split("name: a\n"), ("", "name: a\n"));
    }

    #[test]
    fn comparison_ignores_trailing_space_and_crlf() {
        assert_eq!(normalize("a\r\nb\n\n"), normalize("a\nb"));
    }

    #[test]
    fn diff_shows_both_sides() {
        let d = diff(Path::new("s.snap"), "a\nb\nc\n", "a\nB\nc\n");
        assert!(d.contains("-b\n") && d.contains("+B\n"), "{d}");
    }

    #[test]
    fn a_fresh_header_quotes_the_description() {
        assert_eq!(
            fresh_header(Some("say \"hi\": now")),
            "---\nsource: tests/scenarios.rs\ndescription: \"say \\\"hi\\\": now\"\n---\n"
        );
    }
}
