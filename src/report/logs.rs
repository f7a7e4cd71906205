//! logs: a run record and its directory → the gate logs the reports show, read once and
//! checked against the record where the record allows it; plus the text helpers every
//! renderer shares (a log's last lines, control characters and ANSI colours removed).
//!
//! Failed and timed-out gates' logs come from the tails the run kept
//! (`.gate/runs/<run>/logs/<gate>.log`, the last [`LOG_TAIL`] bytes); passed and restored
//! gates' logs from `.gate/logs/<gate>.log`, which the next run overwrites, so those are
//! used only while their blake3 is still the one the record names.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::cache::blob_of;
use crate::manifest::{LATEST, LOG_TAIL, Manifest, valid_run_id};
use crate::model::valid_name;

/// The directory of a run's record, where its kept logs are: the manifest's own directory
/// when it is the run's (`runs/<run>/`, or `runs/latest/`, read as the run it points at),
/// else `runs/<run>` when that run is kept, else the manifest's directory (a copy written
/// with `--manifest`, whose reports go beside it).
pub fn run_dir(path: &Path, manifest: &Manifest, runs: &Path) -> PathBuf {
    let id = manifest.run.id.as_str();
    let parent = path.parent().unwrap_or(Path::new("."));
    let named = |name: &str| parent.file_name().is_some_and(|n| n == name);
    if named(id) {
        return parent.to_path_buf();
    }
    if valid_run_id(id) {
        if let Some(runs) = parent.parent().filter(|_| named(LATEST)) {
            return runs.join(id);
        }
        if runs.join(id).is_dir() {
            return runs.join(id);
        }
    }
    parent.to_path_buf()
}

/// The logs a report may show, by gate name, lossily decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Logs {
    texts: BTreeMap<String, String>,
}

impl Logs {
    /// From explicit texts (tests, and callers that already hold them).
    pub fn from_texts(texts: BTreeMap<String, String>) -> Logs {
        Logs { texts }
    }

    /// The kept log tails of the run's failed and timed-out gates, under `run_dir/logs`.
    /// A tail that holds the whole log must hash to the recorded digest; a longer log's tail
    /// cannot be checked and is taken as it is.
    pub fn kept(run_dir: &Path, manifest: &Manifest) -> Logs {
        let mut texts = BTreeMap::new();
        for (gate, execution) in &manifest.execution {
            if !matches!(execution.status.as_str(), "failed" | "timed-out") || !valid_name(gate) {
                continue;
            }
            let Some(log) = &execution.log else {
                continue;
            };
            let path = run_dir.join("logs").join(format!("{gate}.log"));
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let whole = log.size <= LOG_TAIL;
            if whole && (bytes.len() as u64 != log.size || blake3::hash(&bytes) != log.blake3.0) {
                continue;
            }
            texts.insert(gate.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
        Logs { texts }
    }

    /// Adds the logs of passed and restored gates from `logs_dir` (`.gate/logs`), each only
    /// if it is still the log the record names (the same blake3), and only its last
    /// [`LOG_TAIL`] bytes.
    pub fn current(mut self, logs_dir: &Path, manifest: &Manifest) -> Logs {
        for (gate, execution) in &manifest.execution {
            if !matches!(execution.status.as_str(), "passed" | "cached") || !valid_name(gate) {
                continue;
            }
            let Some(log) = &execution.log else {
                continue;
            };
            let path = logs_dir.join(format!("{gate}.log"));
            let matches =
                blob_of(&path).is_ok_and(|b| b.digest == log.blake3 && b.size == log.size);
            if let Some(text) = matches.then(|| read_tail(&path)).flatten() {
                self.texts.insert(gate.clone(), text);
            }
        }
        self
    }

    /// A gate's log, if the report has it.
    pub fn get(&self, gate: &str) -> Option<&str> {
        self.texts.get(gate).map(String::as_str)
    }
}

/// The last [`LOG_TAIL`] bytes of a file, lossily decoded (a cut through a UTF-8 sequence
/// becomes one replacement character).
fn read_tail(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(LOG_TAIL)))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(LOG_TAIL).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `count` lines of `text`, each ending in a newline.
pub fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for line in &lines[lines.len().saturating_sub(count)..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Text fit for XML 1.0 and HTML: ANSI escape sequences (colours, cursor moves) removed, and
/// every control character but tab and newline dropped (XML 1.0 forbids most of them outright;
/// a carriage return only redraws a progress line), as are U+FFFE and U+FFFF, which XML 1.0
/// forbids too.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (a window title, a hyperlink): up to BEL or ESC \.
                Some(']') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // Any other escape is two characters.
                _ => {
                    chars.next();
                }
            },
            '\t' | '\n' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_text_and_drops_what_xml_forbids() {
        let case = |text: &str, expected: &str| assert_eq!(clean(text), expected, "{text:?}");
        case("plain text\n", "plain text\n");
        case("tab\there", "tab\there");
        case("\u{1b}[31mred\u{1b}[0m done", "red done");
        case("\u{1b}[1;38;5;196mbold\u{1b}[m", "bold");
        case("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\", "link");
        case("bell\u{7} nul\u{0} del\u{7f} c1\u{85}", "bell nul del c1");
        case(
            "progress 10%\rprogress 100%\r\n",
            "progress 10%progress 100%\n",
        );
        case("bad \u{fffe}\u{ffff} end", "bad  end");
        case("unicode ✓ é 😀", "unicode ✓ é 😀");
        case("\u{1b}", "");
        case("\u{1b}[", "");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 5), "a\nb\nc\n");
        assert_eq!(tail("", 3), "");
    }
}
