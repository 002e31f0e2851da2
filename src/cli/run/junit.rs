//! `uidlmap run --format junit`: one JUnit XML `<testcase>` per scenario, for CI systems
//! that show test results (GitLab, Jenkins, GitHub actions that read JUnit). A scenario
//! fails when an expectation does not hold or, with `--snapshots`, when its report is
//! not its snapshot; the failure's text says what was expected and what was found.

use std::fmt::Write as _;

use uidlmap::report::{self, Report};

use super::snapshots::Verdict;

/// Renders the reports (and, when snapshots were compared, each one's verdict) as one
/// `<testsuites>` document.
pub fn render(reports: &[Report], verdicts: Option<&[Verdict]>) -> String {
    let mut cases = String::new();
    let mut failed = 0;
    for (i, r) in reports.iter().enumerate() {
        let mut problems: Vec<String> = r
            .expectation
            .as_ref()
            .map(|e| e.failures.clone())
            .unwrap_or_default();
        if r.expectation.as_ref().is_some_and(|e| !e.met) && problems.is_empty() {
            problems.push("expectation not met".into());
        }
        match verdicts.map(|v| &v[i]) {
            Some(Verdict::Differs(d)) => {
                problems.push(format!("report differs from its snapshot:\n{d}"))
            }
            Some(Verdict::Missing) => problems.push("no snapshot yet".into()),
            _ => {}
        }
        let (class, name) = r.name.rsplit_once('/').unwrap_or(("", &r.name));
        let _ = write!(
            cases,
            "  <testcase classname=\"{}\" name=\"{}\">",
            xml(&if class.is_empty() {
                "scenarios".to_string()
            } else {
                format!("scenarios.{}", class.replace('/', "."))
            }),
            xml(name)
        );
        if problems.is_empty() {
            cases.push_str("</testcase>\n");
            continue;
        }
        failed += 1;
        let _ = write!(
            cases,
            "\n    <failure message=\"{}\">{}</failure>\n    <system-out>{}</system-out>\n  </testcase>\n",
            xml(problems[0].lines().next().unwrap_or_default()),
            xml(&problems.join("\n")),
            xml(&report::human(r))
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"uidlmap run\" tests=\"{n}\" failures=\"{failed}\">\n<testsuite name=\"scenarios\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\">\n{cases}</testsuite>\n</testsuites>\n",
        n = reports.len()
    )
}

/// Escapes text for XML content and attribute values. Characters XML 1.0 cannot hold
/// at all (controls other than tab and line ends) become `?`: a report may quote raw
/// server bytes.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(xml("a<b>&\"'\u{1}\n"), "a&lt;b&gt;&amp;&quot;&apos;?\n");
    }
}
