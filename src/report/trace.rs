//! trace: a run record → a Chrome trace (`gate run --trace PATH`), the JSON object form of
//! the trace event format, which Perfetto (ui.perfetto.dev) and `chrome://tracing` open.
//!
//! Every gate of `result.gates` appears once. A gate that ran or was restored is a complete
//! event (`"ph": "X"`) on its lane of the [`Timeline`] (`tid` = lane + 1), with integer
//! `ts` and `dur` in microseconds since the run started. A gate that took no time (skipped,
//! blocked, a group, cancelled before it started) is a thread-scoped instant event
//! (`"ph": "i"`, `"s": "t"`) on `tid` 0, named "not run". `cat` is the status word (`cached`
//! for a restore); `args` holds status, cache, key, reason, `optional`, `produced_by` for a
//! restore, and `critical_path`. Metadata events name the process and the lanes.

use serde_json::{Value, json};

use crate::manifest::Manifest;
use crate::report::timeline::{Timeline, timeline};

/// The trace of a run, as pretty JSON with a final newline.
pub fn render(manifest: &Manifest) -> String {
    let timeline = timeline(manifest);
    let mut events = metadata(manifest, &timeline);
    for entry in &timeline.entries {
        let execution = manifest.execution.get(entry.gate);
        let result = manifest.result.gates.get(entry.gate);
        let mut args = json!({
            "status": entry.status,
            "cache": execution.map(|e| e.cache.as_str()),
            "key": result.and_then(|r| r.key).map(|k| k.to_string()),
            "reason": result.and_then(|r| r.reason.as_deref()),
            "optional": entry.optional,
            "group": entry.group,
            "critical_path": entry.critical,
        });
        if let Some(run) = execution.and_then(|e| e.produced_by.as_deref()) {
            args["produced_by"] = json!(run);
        }
        let mut event = json!({
            "name": entry.gate,
            "cat": entry.status,
            "ts": micros(entry.start_ms),
            "pid": 1,
            "args": args,
        });
        match entry.lane {
            Some(lane) => {
                event["ph"] = json!("X");
                event["dur"] = json!(micros(entry.duration_ms));
                event["tid"] = json!(lane + 1);
            }
            None => {
                event["ph"] = json!("i");
                event["s"] = json!("t");
                event["tid"] = json!(0);
            }
        }
        events.push(event);
    }
    let git = manifest.source.git.as_ref();
    let trace = json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "run": manifest.run.id,
            "outcome": manifest.result.outcome,
            "started": manifest.run.started,
            "duration_ms": manifest.run.duration_ms,
            "host": manifest.run.host,
            "platform": manifest.run.platform,
            "commit": git.map(|g| g.commit.as_str()),
            "branch": git.and_then(|g| g.branch.as_deref()),
            "manifest_digest": manifest.digest.to_string(),
            "critical_path": timeline.critical_path,
            "producer": format!("{} {}", manifest.producer.name, manifest.producer.version),
        },
    });
    let mut text = serde_json::to_string_pretty(&trace).expect("JSON values serialise");
    text.push('\n');
    text
}

/// The process's name, and a name and place for each lane (and for the "not run" track when
/// some gate took no time).
fn metadata(manifest: &Manifest, timeline: &Timeline) -> Vec<Value> {
    let event = |name: &str, tid: usize, args: Value| json!({"name": name, "ph": "M", "pid": 1, "tid": tid, "args": args});
    let mut events = vec![event(
        "process_name",
        0,
        json!({"name": format!("gate run {}", manifest.run.id)}),
    )];
    if timeline.entries.iter().any(|e| e.lane.is_none()) {
        events.push(event("thread_name", 0, json!({"name": "not run"})));
        events.push(event(
            "thread_sort_index",
            0,
            json!({"sort_index": timeline.lanes + 1}),
        ));
    }
    for lane in 0..timeline.lanes {
        events.push(event(
            "thread_name",
            lane + 1,
            json!({"name": format!("lane {}", lane + 1)}),
        ));
        events.push(event(
            "thread_sort_index",
            lane + 1,
            json!({"sort_index": lane + 1}),
        ));
    }
    events
}

fn micros(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{Row, manifest};

    #[test]
    fn spans_instants_and_metadata() {
        let run = manifest(&[
            Row::new("build", "passed", 0, 40),
            Row::new("lint", "failed", 5, 10),
            Row::new("restored", "cached", 40, 2).deps(&["build"]),
            Row::new("tool", "skipped", 0, 0),
        ]);
        let trace: Value = serde_json::from_str(&render(&run)).expect("JSON");
        let events = trace["traceEvents"].as_array().expect("events");
        let find = |name: &str| {
            events
                .iter()
                .find(|e| e["name"] == name && e["ph"] != "M")
                .unwrap_or_else(|| panic!("no event {name}"))
        };
        let build = find("build");
        assert_eq!(
            (&build["ph"], &build["ts"], &build["dur"], &build["tid"]),
            (&json!("X"), &json!(0), &json!(40_000), &json!(1))
        );
        assert_eq!(find("lint")["tid"], 2);
        assert_eq!(find("restored")["cat"], "cached");
        assert_eq!(find("restored")["args"]["cache"], "hit");
        assert_eq!(find("restored")["args"]["critical_path"], true);
        assert_eq!(find("build")["args"]["critical_path"], true);
        assert_eq!(find("lint")["args"]["critical_path"], false);
        let tool = find("tool");
        assert_eq!(
            (&tool["ph"], &tool["s"], &tool["tid"]),
            (&json!("i"), &json!("t"), &json!(0))
        );
        assert_eq!(tool["args"]["reason"], "missing tool x");
        let names: Vec<&Value> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| &e["args"]["name"])
            .collect();
        assert_eq!(
            names,
            [&json!("not run"), &json!("lane 1"), &json!("lane 2")]
        );
        assert_eq!(trace["displayTimeUnit"], "ms");
        assert_eq!(
            trace["otherData"]["critical_path"],
            json!(["build", "restored"])
        );
    }
}
