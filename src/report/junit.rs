//! junit: a run record and its kept logs → JUnit XML (`gate run --junit PATH`), one
//! `<testcase>` per gate of `result.gates`, in one `<testsuite name="gate">`.
//!
//! | status | testcase |
//! |---|---|
//! | passed | plain |
//! | cached | plain, with `<properties>`: `cache` = `hit`, `produced_by`, `key` |
//! | failed, timed-out | `<failure type="failed">` (or `"timed-out"`, `message="REASON"`) + the log's last lines |
//! | failed or timed-out, optional | `<skipped message="optional gate failed: REASON">`, the log's last lines in `<system-out>` |
//! | skipped | `<skipped message="REASON">` |
//! | blocked | `<skipped message="blocked: REASON">` |
//! | cancelled | `<skipped message="cancelled">` |
//! | unaffected (`--staged`, `--since`) | `<skipped message="unaffected: nothing it reads changed">` |
//!
//! Text is escaped for XML, and characters XML 1.0 forbids (control characters in logs) are
//! dropped, so any log gives a well-formed file.

use std::fmt::Write as _;

use crate::manifest::Manifest;
use crate::report::logs::{Logs, clean, tail};
use crate::report::timeline::status;

/// Lines of a failed gate's log put in its `<failure>` (or `<system-out>`).
pub const TAIL_LINES: usize = 60;

/// How one gate maps to a testcase.
enum Case {
    Plain,
    Cached,
    Failure { kind: String, message: String },
    OptionalFailure { message: String },
    Skipped { message: String },
}

fn case(manifest: &Manifest, gate: &str) -> Case {
    let result = manifest.result.gates.get(gate);
    let reason = result.and_then(|r| r.reason.clone()).unwrap_or_default();
    let optional = result.is_some_and(|r| r.optional);
    match status(manifest, gate) {
        "passed" => Case::Plain,
        "cached" => Case::Cached,
        word @ ("failed" | "timed-out") if !optional => Case::Failure {
            kind: word.to_owned(),
            message: reason,
        },
        "failed" | "timed-out" => Case::OptionalFailure {
            message: format!("optional gate failed: {reason}"),
        },
        "blocked" => Case::Skipped {
            message: format!("blocked: {reason}"),
        },
        "cancelled" => Case::Skipped {
            message: "cancelled".to_owned(),
        },
        "unaffected" => Case::Skipped {
            message: format!("unaffected: {reason}"),
        },
        _ => Case::Skipped { message: reason },
    }
}

/// The JUnit XML of a run.
pub fn render(manifest: &Manifest, logs: &Logs) -> String {
    let cases: Vec<(&str, Case)> = manifest
        .result
        .gates
        .keys()
        .map(|gate| (gate.as_str(), case(manifest, gate)))
        .collect();
    let failures = cases
        .iter()
        .filter(|(_, c)| matches!(c, Case::Failure { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|(_, c)| matches!(c, Case::OptionalFailure { .. } | Case::Skipped { .. }))
        .count();
    let time = seconds(manifest.run.duration_ms);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"gate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{time}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"gate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\" hostname=\"{}\">",
        cases.len(),
        attribute(&manifest.run.started),
        attribute(&manifest.run.host)
    );
    out.push_str("    <properties>\n");
    let mut suite = vec![
        ("run", manifest.run.id.clone()),
        ("outcome", manifest.result.outcome.clone()),
        ("manifest_digest", manifest.digest.to_string()),
    ];
    if let Some(git) = &manifest.source.git {
        suite.push(("commit", git.commit.clone()));
        if let Some(branch) = &git.branch {
            suite.push(("branch", branch.clone()));
        }
    }
    for (name, value) in &suite {
        property(&mut out, 6, name, value);
    }
    out.push_str("    </properties>\n");
    for (gate, case) in &cases {
        let duration = manifest.execution.get(*gate).map_or(0, |e| e.duration_ms);
        let _ = write!(
            out,
            "    <testcase classname=\"gate\" name=\"{}\" time=\"{}\"",
            attribute(gate),
            seconds(duration)
        );
        let log = logs.get(gate).map(|text| clean(&tail(text, TAIL_LINES)));
        match case {
            Case::Plain => out.push_str("/>\n"),
            Case::Cached => {
                out.push_str(">\n      <properties>\n");
                property(&mut out, 8, "cache", "hit");
                let execution = manifest.execution.get(*gate);
                if let Some(run) = execution.and_then(|e| e.produced_by.as_deref()) {
                    property(&mut out, 8, "produced_by", run);
                }
                if let Some(key) = manifest.result.gates.get(*gate).and_then(|r| r.key) {
                    property(&mut out, 8, "key", &key.to_string());
                }
                out.push_str("      </properties>\n    </testcase>\n");
            }
            Case::Failure { kind, message } => {
                let _ = write!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\"",
                    attribute(kind),
                    attribute(message)
                );
                match &log {
                    Some(log) => {
                        let _ = write!(out, ">{}</failure>\n    </testcase>\n", text(log));
                    }
                    None => out.push_str("/>\n    </testcase>\n"),
                }
            }
            Case::OptionalFailure { message } => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>",
                    attribute(message)
                );
                if let Some(log) = &log {
                    let _ = writeln!(out, "      <system-out>{}</system-out>", text(log));
                }
                out.push_str("    </testcase>\n");
            }
            Case::Skipped { message } => {
                let _ = write!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    attribute(message)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn property(out: &mut String, indent: usize, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "{:indent$}<property name=\"{}\" value=\"{}\"/>",
        "",
        attribute(name),
        attribute(value)
    );
}

/// Milliseconds as seconds with three decimals, exactly (no float).
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Character data: cleaned, `&` and `<` escaped, and `>` too (so `]]>` cannot appear).
fn text(value: &str) -> String {
    escape(&clean(value), false)
}

/// An attribute value in double quotes: cleaned and escaped; tabs and newlines as character
/// references, since a parser would turn them into spaces.
fn attribute(value: &str) -> String {
    escape(&clean(value), true)
}

fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::fixture::{Row, manifest};

    #[test]
    fn escaping_gives_well_formed_xml() {
        let case = |value: &str, expected_text: &str, expected_attribute: &str| {
            assert_eq!(text(value), expected_text, "{value:?}");
            assert_eq!(attribute(value), expected_attribute, "{value:?}");
        };
        case(
            "a < b && c > d",
            "a &lt; b &amp;&amp; c &gt; d",
            "a &lt; b &amp;&amp; c &gt; d",
        );
        case("say \"hi\" 'x'", "say \"hi\" 'x'", "say &quot;hi&quot; 'x'");
        case("]]>", "]]&gt;", "]]&gt;");
        case(
            "two\nlines\tand tab",
            "two\nlines\tand tab",
            "two&#10;lines&#9;and tab",
        );
        case("\u{1b}[31mred\u{1b}[0m\u{0}\u{8}", "red", "red");
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(7), "0.007");
        assert_eq!(seconds(12_345), "12.345");
    }

    #[test]
    fn every_status_maps_to_its_testcase() {
        let run = manifest(&[
            Row::new("build", "passed", 0, 1500),
            Row::new("restored", "cached", 0, 3),
            Row::new("lint", "failed", 0, 20),
            Row::new("slow", "timed-out", 0, 1000),
            Row::new("advice", "failed", 0, 5).optional(),
            Row::new("tool", "skipped", 0, 0),
            Row::new("after", "blocked", 20, 0),
            Row::new("stopped", "cancelled", 0, 0),
        ]);
        let logs = Logs::from_texts(BTreeMap::from([
            (
                "lint".to_owned(),
                "line <1>\n\u{1b}[31mboom\u{1b}[0m & bust\n".to_owned(),
            ),
            ("advice".to_owned(), "consider this\n".to_owned()),
        ]));
        let xml = render(&run, &logs);
        let has = |part: &str| assert!(xml.contains(part), "lacks {part}\n{xml}");
        has("<testsuites name=\"gate\" tests=\"8\" failures=\"2\" errors=\"0\" skipped=\"4\"");
        has("timestamp=\"2026-11-22T03:15:00.000Z\"");
        has("<testcase classname=\"gate\" name=\"build\" time=\"1.500\"/>");
        has("<property name=\"cache\" value=\"hit\"/>");
        has("<property name=\"produced_by\" value=\"20261122T000000.000Z-abcdef\"/>");
        has(
            "<failure type=\"failed\" message=\"exit code 1\">line &lt;1&gt;\nboom &amp; bust\n</failure>",
        );
        has("<failure type=\"timed-out\" message=\"timed out after 1s\"/>");
        has(
            "<skipped message=\"optional gate failed: exit code 1\"/>\n      <system-out>consider this\n</system-out>",
        );
        has("<skipped message=\"missing tool x\"/>");
        has("<skipped message=\"blocked: dependency x failed\"/>");
        has("<skipped message=\"cancelled\"/>");
    }

    #[test]
    fn only_the_last_lines_of_a_log_are_kept() {
        let run = manifest(&[Row::new("lint", "failed", 0, 20)]);
        let log: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let xml = render(
            &run,
            &Logs::from_texts(BTreeMap::from([("lint".to_owned(), log)])),
        );
        assert!(!xml.contains("line 40\n"), "{xml}");
        assert!(xml.contains(">line 41\n"), "{xml}");
        assert!(xml.contains("line 100\n</failure>"), "{xml}");
    }
}
