//! github: a run record and its logs → what GitHub Actions reads, for a run with
//! `GITHUB_ACTIONS=true`. [`commands`] gives the workflow commands printed after the run
//! view: a collapsible `::group::` per gate that has a log, the log fenced by
//! `::stop-commands::TOKEN` … `::TOKEN::` so no line of it is taken for a command, then an
//! `::error` annotation per failure (a `::warning` when the gate is optional, a `::notice`
//! when it was blocked by another's failure). [`summary`]
//! gives the markdown appended to `$GITHUB_STEP_SUMMARY`: a verdict line and a table of
//! every gate, what failed the run first.
//!
//! Annotation data is escaped as the runner unescapes it (`%` `\r` `\n`; in properties also
//! `:` and `,`).

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::Path;

use crate::manifest::Manifest;
use crate::report::logs::Logs;
use crate::report::timeline::{self, Entry, timeline};

/// The workflow commands for a run. `token` ends the stop-commands blocks; it must not be
/// guessable from the logs (see [`token`]).
pub fn commands(manifest: &Manifest, logs: &Logs, token: &str) -> String {
    let timeline = timeline(manifest);
    let mut out = String::new();
    for entry in &timeline.entries {
        let Some(log) = logs.get(entry.gate) else {
            continue;
        };
        let _ = writeln!(
            out,
            "::group::{}",
            data(&format!("{} {}", entry.status, entry.gate))
        );
        let _ = writeln!(out, "::stop-commands::{token}");
        out.push_str(log);
        if !log.is_empty() && !log.ends_with('\n') {
            out.push('\n');
        }
        let _ = writeln!(out, "::{token}::");
        out.push_str("::endgroup::\n");
    }
    for entry in &timeline.entries {
        let failed = matches!(entry.status, "failed" | "timed-out" | "blocked");
        if !failed || entry.group {
            continue;
        }
        let reason = manifest
            .result
            .gates
            .get(entry.gate)
            .and_then(|r| r.reason.as_deref())
            .unwrap_or(entry.status);
        let (level, message) = match (entry.optional, entry.status) {
            (true, _) => (
                "warning",
                format!("optional gate {}: {reason}", entry.status),
            ),
            // GitHub shows at most ten errors per step: they go to the gates that failed, a
            // gate their failure blocked is a notice.
            (false, "blocked") => ("notice", format!("blocked: {reason}")),
            (false, _) => ("error", reason.to_owned()),
        };
        let _ = writeln!(
            out,
            "::{level} title={}::{}",
            property(&format!("gate {}", entry.gate)),
            data(&message)
        );
    }
    out
}

/// The step summary of a run: a heading, a one-line verdict and a table of every gate.
pub fn summary(manifest: &Manifest) -> String {
    let timeline = timeline(manifest);
    let mut out = format!("### gate run `{}`\n\n", manifest.run.id);
    let failed: Vec<&str> = timeline
        .entries
        .iter()
        .filter(|e| !e.optional && !e.group)
        .filter(|e| matches!(e.status, "failed" | "timed-out" | "blocked"))
        .map(|e| e.gate)
        .collect();
    let mark = match manifest.result.outcome.as_str() {
        "passed" => "✅",
        "cancelled" => "⏹️",
        _ => "❌",
    };
    let _ = write!(
        out,
        "{mark} **{}**: {} in {}",
        cell(&manifest.result.outcome),
        counts(manifest),
        seconds(manifest.run.duration_ms)
    );
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|g| format!("`{g}`")).collect();
        let _ = write!(out, "; failing: {}", names.join(", "));
    }
    out.push_str("\n\n| status | gate | duration | cache | reason |\n|---|---|--:|---|---|\n");
    let mut rows: Vec<&Entry> = timeline.entries.iter().collect();
    rows.sort_by_key(|e| (e.rank(), e.group, e.gate));
    for entry in rows {
        let execution = manifest.execution.get(entry.gate);
        let result = manifest.result.gates.get(entry.gate);
        let cache = match execution.map(|e| (e.cache.as_str(), e.produced_by.as_deref())) {
            Some(("hit", Some(run))) => format!("hit (run `{}`)", cell(run)),
            Some(("hit", None)) => "hit".to_owned(),
            Some(("miss", _)) => "miss".to_owned(),
            _ => "–".to_owned(),
        };
        let duration = match (entry.lane, entry.group) {
            (Some(_), false) => seconds(entry.duration_ms),
            _ => "–".to_owned(),
        };
        let mut reason = result
            .and_then(|r| r.reason.as_deref())
            .map(cell)
            .unwrap_or_default();
        if entry.optional && matches!(entry.status, "failed" | "timed-out") {
            reason.push_str(" (optional)");
        }
        let _ = writeln!(
            out,
            "| {} {} | `{}` | {duration} | {cache} | {reason} |",
            icon(entry.status),
            entry.status,
            entry.gate,
        );
    }
    out.push('\n');
    out
}

/// `2 passed, 1 cached, 1 failed (optional)`, in the run view's order.
fn counts(manifest: &Manifest) -> String {
    let words: Vec<String> = timeline::counts(manifest)
        .into_iter()
        .map(|(word, optional, n)| match optional {
            true => format!("{n} {word} (optional)"),
            false => format!("{n} {word}"),
        })
        .collect();
    match words.is_empty() {
        true => "nothing to run".to_owned(),
        false => words.join(", "),
    }
}

fn icon(status: &str) -> &'static str {
    match status {
        "passed" => "✅",
        "cached" => "♻️",
        "failed" | "timed-out" => "❌",
        "blocked" => "⛔",
        "cancelled" => "⏹️",
        "unaffected" => "➖",
        _ => "⏭️",
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:02}s", ms / 1000, ms % 1000 / 10)
}

/// Text for a markdown table cell: on one line, `|` escaped, and HTML's specials as
/// entities so a reason is shown as written, never as markup.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push('\''),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A command's message, escaped as the runner unescapes it.
pub fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value, escaped as the runner unescapes it.
pub fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A fresh, unguessable token for `::stop-commands::` (128 bits from the kernel; failing
/// that, the time and the process).
pub fn token() -> String {
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = format!("{}-{}-{:p}", now.as_nanos(), std::process::id(), &bytes);
        bytes.copy_from_slice(&blake3::hash(seed.as_bytes()).as_bytes()[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends to a file (the step summary), creating it; never truncates.
pub fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::File::options()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::fixture::{Row, manifest};

    #[test]
    fn annotation_data_is_escaped() {
        assert_eq!(data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(property("gate a:b,c 5%"), "gate a%3Ab%2Cc 5%25");
        assert_eq!(data("a:b,c"), "a:b,c");
    }

    #[test]
    fn logs_are_fenced_and_failures_annotated() {
        let run = manifest(&[
            Row::new("build", "passed", 0, 10),
            Row::new("lint:strict", "failed", 0, 5),
            Row::new("advice", "failed", 0, 2).optional(),
            Row::new("after", "blocked", 5, 0),
            Row::new("ci", "failed", 10, 0).group(),
        ]);
        let logs = Logs::from_texts(BTreeMap::from([
            ("build".to_owned(), "built\n".to_owned()),
            (
                "lint:strict".to_owned(),
                "::error::injected\nno newline".to_owned(),
            ),
        ]));
        let out = commands(&run, &logs, "T0K3N");
        assert_eq!(
            out,
            "::group::failed lint:strict\n\
             ::stop-commands::T0K3N\n::error::injected\nno newline\n::T0K3N::\n::endgroup::\n\
             ::group::passed build\n\
             ::stop-commands::T0K3N\nbuilt\n::T0K3N::\n::endgroup::\n\
             ::warning title=gate advice::optional gate failed: exit code 1\n\
             ::error title=gate lint%3Astrict::exit code 1\n\
             ::notice title=gate after::blocked: dependency x failed\n"
        );
    }

    #[test]
    fn the_summary_is_a_verdict_and_a_table() {
        let run = manifest(&[
            Row::new("build", "passed", 0, 1234),
            Row::new("restored", "cached", 0, 3),
            Row::new("lint", "failed", 0, 5).reason("exit | <code> 1"),
            Row::new("tool", "skipped", 0, 0),
        ]);
        let text = summary(&run);
        assert!(
            text.contains(
                "❌ **failed**: 1 passed, 1 cached, 1 failed, 1 skipped in 1.23s; failing: `lint`\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| ✅ passed | `build` | 1.23s | miss |  |\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "| ♻️ cached | `restored` | 0.00s | hit (run `20261122T000000.000Z-abcdef`) |  |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| ❌ failed | `lint` | 0.00s | miss | exit \\| &lt;code&gt; 1 |\n"),
            "{text}"
        );
        assert!(
            text.contains("| ⏭️ skipped | `tool` | – | – | missing tool x |\n"),
            "{text}"
        );
        let at = |gate: &str| text.find(&format!("| `{gate}` |")).expect(gate);
        assert!(
            at("lint") < at("build") && at("build") < at("restored") && at("restored") < at("tool")
        );
    }

    #[test]
    fn tokens_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
