//! timeline: a run record → where each gate sits in time. Takes a [`Manifest`]; returns a
//! [`Timeline`]: one [`Entry`] per gate with its start and duration, the lane it is drawn on
//! (greedy interval packing: gates that overlap in time never share a lane) and whether it
//! is on the critical path. The Chrome trace and the HTML page both draw from it, so they
//! agree on lanes and on the path.
//!
//! A gate is a span when it ran or was restored: passed, cached, failed, timed out, or
//! cancelled after it started. Skipped and blocked gates, groups (which run nothing) and
//! gates cancelled before they started are instants: they have no lane.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::Manifest;
use crate::report::ORDER;

/// One gate's place in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub gate: &'a str,
    /// The status word as printed: `passed`, `cached`, `failed`, ...
    pub status: &'a str,
    /// Since the run started.
    pub start_ms: u64,
    pub duration_ms: u64,
    /// 0-based; `None` for an instant.
    pub lane: Option<usize>,
    pub critical: bool,
    pub optional: bool,
    pub group: bool,
}

impl Entry<'_> {
    pub fn end_ms(&self) -> u64 {
        self.start_ms.saturating_add(self.duration_ms)
    }

    /// Where a gate goes in a table of the run: what failed the run first (failed, timed
    /// out, blocked: 0 to 2), then a cancellation, an optional gate's failure, passes and
    /// restores, and skips last.
    pub fn rank(&self) -> usize {
        let failure = matches!(self.status, "failed" | "timed-out" | "blocked");
        match self.status {
            _ if failure && self.optional => 4,
            "failed" => 0,
            "timed-out" => 1,
            "blocked" => 2,
            "cancelled" => 3,
            "passed" | "cached" => 5,
            _ => 6,
        }
    }
}

/// Every gate of a run, by start time then name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline<'a> {
    pub entries: Vec<Entry<'a>>,
    /// How many lanes the spans need.
    pub lanes: usize,
    /// The later of the run's end and the last gate's end.
    pub end_ms: u64,
    /// The critical path, from its first gate to the one that finished last.
    pub critical_path: Vec<&'a str>,
}

/// A gate's status word: the execution's (which tells `cached` from `passed`), else the
/// result's outcome.
pub fn status<'a>(manifest: &'a Manifest, gate: &str) -> &'a str {
    match (
        manifest.execution.get(gate),
        manifest.result.gates.get(gate),
    ) {
        (Some(execution), _) => &execution.status,
        (None, Some(result)) => &result.outcome,
        (None, None) => "unknown",
    }
}

/// How many gates ended with each status, in the run view's order (`ORDER`), an optional
/// gate's failure counted apart since it does not fail the run: `(word, optional, count)`.
pub fn counts(manifest: &Manifest) -> Vec<(&'static str, bool, usize)> {
    let mut counts: BTreeMap<(usize, bool), usize> = BTreeMap::new();
    for (gate, result) in &manifest.result.gates {
        let word = status(manifest, gate);
        let rank = ORDER.iter().position(|w| *w == word).unwrap_or(ORDER.len());
        let optional = result.optional && matches!(word, "failed" | "timed-out" | "blocked");
        *counts.entry((rank, optional)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((rank, optional), n)| (ORDER.get(rank).copied().unwrap_or("other"), optional, n))
        .collect()
}

/// Start and duration of a gate, in milliseconds since the run started (0 when unrecorded).
fn times(manifest: &Manifest, gate: &str) -> (u64, u64) {
    manifest
        .execution
        .get(gate)
        .map_or((0, 0), |e| (e.started_ms, e.duration_ms))
}

/// Whether a gate ran or was restored, and so takes time on a lane.
fn is_span(manifest: &Manifest, gate: &str) -> bool {
    let group = manifest.result.gates.get(gate).is_some_and(|g| g.group);
    let (_, duration) = times(manifest, gate);
    !group
        && match status(manifest, gate) {
            "passed" | "cached" | "failed" | "timed-out" => true,
            "cancelled" => duration > 0,
            _ => false,
        }
}

/// Builds the timeline of a run.
pub fn timeline(manifest: &Manifest) -> Timeline<'_> {
    let critical: BTreeSet<&str> = critical_path(manifest).into_iter().collect();
    let mut entries: Vec<Entry> = manifest
        .result
        .gates
        .iter()
        .map(|(gate, result)| {
            let (start_ms, duration_ms) = times(manifest, gate);
            Entry {
                gate,
                status: status(manifest, gate),
                start_ms,
                duration_ms,
                lane: None,
                critical: critical.contains(gate.as_str()),
                optional: result.optional,
                group: result.group,
            }
        })
        .collect();
    entries.sort_by(|a, b| (a.start_ms, a.end_ms(), a.gate).cmp(&(b.start_ms, b.end_ms(), b.gate)));
    // Greedy interval packing: in order of start, each span takes the first lane that is
    // free by then (a lane is free at the moment its last span ended), or opens a new one.
    let mut free_at: Vec<u64> = Vec::new();
    for entry in entries.iter_mut().filter(|e| is_span(manifest, e.gate)) {
        let lane = match free_at.iter().position(|end| *end <= entry.start_ms) {
            Some(lane) => lane,
            None => {
                free_at.push(0);
                free_at.len() - 1
            }
        };
        free_at[lane] = entry.end_ms();
        entry.lane = Some(lane);
    }
    let end_ms = entries
        .iter()
        .map(Entry::end_ms)
        .max()
        .unwrap_or(0)
        .max(manifest.run.duration_ms);
    Timeline {
        lanes: free_at.len(),
        end_ms,
        critical_path: {
            let mut path = critical_path(manifest);
            path.reverse();
            path
        },
        entries,
    }
}

/// The critical path, from the gate that finished last back to where it started: from that
/// gate, repeatedly step to its dependency (`result.gates[g].deps`) that finished last. Ties
/// go to the longer gate, then to the name that sorts first, so the path is deterministic.
pub fn critical_path(manifest: &Manifest) -> Vec<&str> {
    let rank = |gate: &str| {
        let (start, duration) = times(manifest, gate);
        (start.saturating_add(duration), duration)
    };
    // Of two candidates, the later; `None` for the first one seen.
    let later = |best: Option<&str>, gate: &str| -> bool {
        best.is_none_or(|best| {
            let (a, b) = (rank(gate), rank(best));
            a > b || (a == b && gate < best)
        })
    };
    let mut current: Option<&str> = None;
    for gate in manifest.result.gates.keys() {
        if later(current, gate) {
            current = Some(gate);
        }
    }
    let mut path = Vec::new();
    let mut seen = BTreeSet::new();
    // `seen` guards against a hand-edited record whose deps form a cycle.
    while let Some(gate) = current.filter(|g| seen.insert(*g)) {
        path.push(gate);
        current = None;
        let deps = manifest.result.gates.get(gate).map(|g| g.deps.as_slice());
        for dep in deps.unwrap_or_default() {
            if manifest.result.gates.contains_key(dep) && later(current, dep) {
                current = Some(dep);
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{Row, manifest};

    fn row(gate: &'static str, status: &'static str, start: u64, duration: u64) -> Row {
        Row::new(gate, status, start, duration)
    }

    #[test]
    fn overlapping_gates_get_different_lanes() {
        let run = manifest(&[
            row("a", "passed", 0, 100),
            row("b", "passed", 10, 50),
            row("c", "passed", 60, 100),
            row("d", "failed", 100, 10),
            row("e", "cached", 200, 0),
            row("skip", "skipped", 0, 0),
        ]);
        let timeline = timeline(&run);
        let lane = |gate: &str| {
            timeline
                .entries
                .iter()
                .find(|e| e.gate == gate)
                .and_then(|e| e.lane)
        };
        assert_eq!(lane("a"), Some(0));
        assert_eq!(lane("b"), Some(1));
        // b ended at 60: its lane is free again.
        assert_eq!(lane("c"), Some(1));
        // a ended at 100, exactly when d starts.
        assert_eq!(lane("d"), Some(0));
        assert_eq!(lane("e"), Some(0));
        assert_eq!(lane("skip"), None);
        assert_eq!(timeline.lanes, 2);
        assert_eq!(timeline.end_ms, 200);
    }

    #[test]
    fn groups_blocked_and_unstarted_gates_are_instants() {
        let run = manifest(&[
            row("ci", "passed", 50, 0).group(),
            row("after", "blocked", 40, 0),
            row("stopped", "cancelled", 30, 0),
            row("killed", "cancelled", 0, 30),
        ]);
        let timeline = timeline(&run);
        let lanes: Vec<(&str, Option<usize>)> =
            timeline.entries.iter().map(|e| (e.gate, e.lane)).collect();
        assert_eq!(
            lanes,
            [
                ("killed", Some(0)),
                ("stopped", None),
                ("after", None),
                ("ci", None)
            ]
        );
    }

    #[test]
    fn the_critical_path_follows_the_dependency_that_finished_last() {
        let case = |rows: &[Row], expected: &[&str]| {
            let run = manifest(rows);
            assert_eq!(critical_path(&run), expected);
        };
        // c waits for b (ends 300) rather than for quick (ends 10); loner ends before c.
        case(
            &[
                row("a", "passed", 0, 100),
                row("quick", "passed", 0, 10),
                row("b", "passed", 100, 200).deps(&["a", "quick"]),
                row("c", "passed", 300, 5).deps(&["b"]),
                row("loner", "passed", 0, 50),
            ],
            &["c", "b", "a"],
        );
        // A group finishing last leads the path; among its members, a tie in end time goes to
        // the longer gate, then to the name that sorts first.
        case(
            &[
                row("x", "passed", 0, 10),
                row("y", "cached", 9, 1),
                row("z", "passed", 0, 10),
                row("all", "passed", 11, 0).group().deps(&["x", "y", "z"]),
            ],
            &["all", "x"],
        );
        // A dependency the record does not hold is ignored; a cycle stops the walk.
        case(
            &[
                row("p", "passed", 0, 10).deps(&["q", "gone"]),
                row("q", "passed", 0, 5).deps(&["p"]),
            ],
            &["p", "q"],
        );
        case(&[], &[]);
    }

    #[test]
    fn the_timeline_flags_the_path_in_order() {
        let run = manifest(&[
            row("a", "passed", 0, 10),
            row("b", "passed", 10, 10).deps(&["a"]),
            row("c", "passed", 0, 5),
        ]);
        let timeline = timeline(&run);
        assert_eq!(timeline.critical_path, ["a", "b"]);
        let flagged: Vec<&str> = timeline
            .entries
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.gate)
            .collect();
        assert_eq!(flagged, ["a", "b"]);
    }
}
