//! html: a run record and its kept logs → one self-contained HTML page (`gate report`):
//! inline CSS and SVG, no script, no external URL, so it can be attached to a CI run or
//! mailed and still open as it was written.
//!
//! The page holds a header (run id, outcome, start, duration, host, git commit, branch and
//! dirty flag, targets), a table of every gate (status, duration, cache hit or miss with the
//! producing run, reason), a timeline (a bar per gate that ran or was restored, on the lanes
//! of [`timeline`], coloured by status, the critical path outlined, with a time axis), the
//! failures with their kept log tails, what was restored from the cache, what was skipped and
//! why, and a footer with the manifest's digest and the `gate verify` command. Everything
//! taken from the record or a log is HTML-escaped.

use std::fmt::Write as _;

use crate::manifest::{Manifest, digest_of};
use crate::report::logs::{Logs, clean, tail};
use crate::report::timeline::{Entry, Timeline, timeline};

/// Lines of a failed gate's log shown on the page.
pub const TAIL_LINES: usize = 60;

/// The colour of each status, in the page and its timeline.
const COLOURS: [(&str, &str); 8] = [
    ("passed", "#1a7f37"),
    ("cached", "#0969da"),
    ("failed", "#cf222e"),
    ("timed-out", "#bc4c00"),
    ("blocked", "#9a6700"),
    ("cancelled", "#6e7781"),
    ("skipped", "#8c959f"),
    ("unaffected", "#afb8c1"),
];

/// The colour of a failure; tests look for it in a screenshot.
pub const FAILED: &str = "#cf222e";

const STYLE: &str = r#"
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: var(--ink);
  font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 40px; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
h1 { font-size: 24px; margin: 0; font-weight: 600; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0; font-weight: 600; }
.banner { border: 1px solid var(--line); border-left: 8px solid var(--outcome); border-radius: 8px;
  padding: 16px 22px 14px; background: var(--soft); }
.headline { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
.headline .run { color: var(--muted); }
.badge { display: inline-block; padding: 3px 12px; border-radius: 999px; color: #fff;
  font-weight: 700; font-size: 13px; letter-spacing: .04em; text-transform: uppercase; }
.counts { margin: 10px 0 12px; display: flex; flex-wrap: wrap; gap: 8px; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px;
  background: #fff; border: 1px solid var(--line); font-size: 13px; }
.dot { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 6px 28px; margin: 0; }
.facts div { min-width: 0; }
.facts dt { color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.tag { display: inline-block; padding: 0 7px; border-radius: 4px; font-size: 11.5px; font-weight: 600;
  border: 1px solid var(--line); background: #fff; color: var(--muted); margin-left: 6px; vertical-align: 1px; }
.tag.dirty { color: #9a6700; border-color: #d4a72c; background: #fff8c5; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em;
  font-weight: 600; padding: 8px 12px; border-bottom: 2px solid var(--line); background: var(--soft); }
td { padding: 7px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.gates td:first-child, table.gates td:nth-child(2) { width: 1%; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.bad td { background: #fff5f5; }
tr.bad td:first-child { box-shadow: inset 4px 0 0 #cf222e; }
.pill { display: inline-block; min-width: 78px; text-align: center; padding: 1px 8px; border-radius: 999px;
  color: #fff; font-size: 12px; font-weight: 600; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.note { color: #9a6700; font-size: 12.5px; }
.timeline { border: 1px solid var(--line); border-radius: 8px; padding: 10px 8px 4px; }
.timeline svg { display: block; width: 100%; height: auto; }
.timeline text { font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; margin: 10px 4px 6px; font-size: 12.5px; color: var(--muted); }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.swatch { width: 14px; height: 10px; border-radius: 2px; display: inline-block; }
.swatch.path { background: #fff; border: 2px solid var(--ink); }
.path-line { margin: 6px 4px 0; font-size: 13px; }
.failure { border: 1px solid #ffcecb; border-radius: 8px; margin: 14px 0; overflow: hidden; }
.failure.optional { border-color: var(--line); }
.failure header { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; padding: 10px 14px;
  background: #ffebe9; border-bottom: 1px solid #ffcecb; }
.failure.optional header { background: var(--soft); border-bottom-color: var(--line); }
.failure .where { margin-left: auto; }
pre.log { margin: 0; padding: 12px 14px; background: #0d1117; color: #e6edf3; overflow: auto; max-height: 520px;
  line-height: 1.45; white-space: pre; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.plain li { padding: 6px 2px; border-bottom: 1px solid var(--line); }
footer { margin-top: 36px; padding-top: 12px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12.5px; }
footer p { margin: 4px 0; }
footer code { color: var(--ink); }
.bad-digest { color: #cf222e; font-weight: 600; }
"#;

/// The whole page.
pub fn page(manifest: &Manifest, logs: &Logs) -> String {
    let timeline = timeline(manifest);
    let outcome = manifest.result.outcome.as_str();
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>gate run {}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&manifest.run.id),
        escape(outcome)
    );
    header(&mut out, manifest);
    table(&mut out, manifest, &timeline);
    chart(&mut out, &timeline);
    failures(&mut out, manifest, &timeline, logs);
    restored(&mut out, manifest, &timeline);
    skipped(&mut out, manifest, &timeline);
    footer(&mut out, manifest);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn colour(status: &str) -> &'static str {
    COLOURS
        .iter()
        .find(|(word, _)| *word == status)
        .map_or("#6e7781", |(_, colour)| colour)
}

fn pill(status: &str) -> String {
    format!(
        "<span class=\"pill\" style=\"background:{}\">{}</span>",
        colour(status),
        escape(status)
    )
}

fn header(out: &mut String, manifest: &Manifest) {
    let outcome = manifest.result.outcome.as_str();
    let outcome_colour = match outcome {
        "passed" => colour("passed"),
        "failed" => FAILED,
        _ => colour("cancelled"),
    };
    let _ = write!(
        out,
        "<header class=\"banner\" style=\"--outcome:{outcome_colour}\">\n\
         <div class=\"headline\"><h1>gate run</h1>\
         <span class=\"badge\" style=\"background:{outcome_colour}\">{}</span>\
         <span class=\"run mono\">{}</span></div>\n<div class=\"counts\">",
        escape(outcome),
        escape(&manifest.run.id)
    );
    for (word, optional, count) in crate::report::timeline::counts(manifest) {
        let _ = write!(
            out,
            "<span class=\"chip\"><span class=\"dot\" style=\"background:{}\"></span>{count} {word}{}</span>",
            colour(word),
            if optional { " (optional)" } else { "" }
        );
    }
    out.push_str("</div>\n<dl class=\"facts\">\n");
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "<div><dt>{name}</dt><dd>{value}</dd></div>");
    };
    fact("started", escape(&when(&manifest.run.started)));
    fact("duration", seconds(manifest.run.duration_ms));
    fact(
        "host",
        format!(
            "{} <span class=\"muted\">{}</span>",
            escape(&manifest.run.host),
            escape(&manifest.run.platform)
        ),
    );
    fact(
        "commit",
        match &manifest.source.git {
            Some(git) => {
                let short: String = git.commit.chars().take(12).collect();
                let mut text = format!(
                    "<code title=\"{}\">{}</code>",
                    escape(&git.commit),
                    escape(&short)
                );
                match &git.branch {
                    Some(branch) => {
                        let _ = write!(text, " on <code>{}</code>", escape(branch));
                    }
                    None => text.push_str(" <span class=\"muted\">(detached)</span>"),
                }
                if git.dirty {
                    text.push_str("<span class=\"tag dirty\">dirty</span>");
                }
                text
            }
            None => "<span class=\"muted\">not recorded (no git commit)</span>".to_owned(),
        },
    );
    let invocation = &manifest.invocation;
    let mut targets = match invocation.targets.as_slice() {
        [] => "<span class=\"muted\">the default</span>".to_owned(),
        targets => targets
            .iter()
            .map(|t| format!("<code>{}</code>", escape(t)))
            .collect::<Vec<_>>()
            .join(" "),
    };
    for tag in &invocation.tags {
        let _ = write!(targets, " <code>--tag {}</code>", escape(tag));
    }
    for (flag, on) in [
        ("--strict", invocation.strict),
        ("--fail-fast", invocation.fail_fast),
        ("--no-cache", invocation.no_cache),
    ] {
        if on {
            let _ = write!(targets, "<span class=\"tag\">{flag}</span>");
        }
    }
    fact("targets", targets);
    fact(
        "gates",
        format!(
            "{} selected, at most {} at a time",
            invocation.selected.len(),
            invocation.jobs
        ),
    );
    out.push_str("</dl>\n</header>\n");
}

fn table(out: &mut String, manifest: &Manifest, timeline: &Timeline) {
    out.push_str(
        "<section>\n<h2>Gates</h2>\n<table class=\"gates\">\n<thead><tr><th>status</th><th>gate</th>\
         <th class=\"num\">duration</th><th>cache</th><th>reason</th></tr></thead>\n<tbody>\n",
    );
    let mut entries: Vec<&Entry> = timeline.entries.iter().collect();
    entries.sort_by_key(|e| (e.rank(), e.group, e.gate));
    for entry in entries {
        let execution = manifest.execution.get(entry.gate);
        let result = manifest.result.gates.get(entry.gate);
        let bad = entry.rank() < 3;
        let duration = match (entry.lane, entry.group) {
            (Some(_), false) => seconds(entry.duration_ms),
            _ => "<span class=\"muted\">–</span>".to_owned(),
        };
        let cache = match execution.map(|e| (e.cache.as_str(), e.produced_by.as_deref())) {
            Some(("hit", Some(run))) => format!(
                "hit <span class=\"muted small\">from</span> <code class=\"small\">{}</code>",
                escape(run)
            ),
            Some(("hit", None)) => "hit".to_owned(),
            Some(("miss", _)) => "miss".to_owned(),
            _ => "<span class=\"muted\">–</span>".to_owned(),
        };
        let mut reason = result
            .and_then(|r| r.reason.as_deref())
            .map(escape)
            .unwrap_or_default();
        if entry.group {
            reason = format!("<span class=\"muted\">group</span> {reason}");
        }
        if entry.optional {
            reason.push_str(" <span class=\"tag\">optional</span>");
        }
        for note in execution.map(|e| e.notes.as_slice()).unwrap_or_default() {
            let _ = write!(
                reason,
                "<div class=\"note\">warning: {}</div>",
                escape(note)
            );
        }
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td><code>{}</code></td><td class=\"num\">{duration}</td>\
             <td>{cache}</td><td>{}</td></tr>",
            if bad { " class=\"bad\"" } else { "" },
            pill(entry.status),
            escape(entry.gate),
            reason.trim()
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Geometry of the timeline, in SVG units.
const WIDTH: u64 = 1120;
const GUTTER: u64 = 64;
const RIGHT: u64 = 28;
const AXIS: u64 = 26;
const LANE: u64 = 32;
const BAR: u64 = 20;
/// A rough width of one character of the 12px label font, to decide where a label fits.
const CHAR: u64 = 7;

fn chart(out: &mut String, timeline: &Timeline) {
    out.push_str("<section>\n<h2>Timeline</h2>\n");
    let bars: Vec<&Entry> = timeline
        .entries
        .iter()
        .filter(|e| e.lane.is_some())
        .collect();
    if bars.is_empty() {
        out.push_str("<p class=\"muted\">No gate ran or was restored.</p>\n</section>\n");
        return;
    }
    let step = tick_step(timeline.end_ms.max(1));
    let end = timeline.end_ms.max(1).div_ceil(step) * step;
    let plot = WIDTH - GUTTER - RIGHT;
    let x = |ms: u64| GUTTER as f64 + ms as f64 * plot as f64 / end as f64;
    let height = AXIS + timeline.lanes as u64 * LANE + 6;
    let _ = writeln!(
        out,
        "<div class=\"timeline\"><svg viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"Timeline of the run's gates\">"
    );
    for lane in 0..timeline.lanes as u64 {
        let y = AXIS + lane * LANE;
        if lane % 2 == 0 {
            let _ = writeln!(
                out,
                "<rect x=\"{GUTTER}\" y=\"{y}\" width=\"{plot}\" height=\"{LANE}\" fill=\"#f6f8fa\"/>"
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#59636e\">lane {}</text>",
            GUTTER - 10,
            y + LANE / 2 + 4,
            lane + 1
        );
    }
    let mut tick = 0;
    while tick <= end {
        let at = x(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#d1d9e0\" stroke-width=\"1\"/>\
             <text x=\"{at:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
            AXIS - 6,
            height - 4,
            AXIS - 10,
            tick_label(tick, step)
        );
        tick += step;
    }
    for (i, bar) in bars.iter().enumerate() {
        let lane = bar.lane.unwrap_or_default() as u64;
        let (left, right) = (x(bar.start_ms), x(bar.end_ms()));
        let width = (right - left).max(2.0);
        let y = AXIS + lane * LANE + (LANE - BAR) / 2;
        let fill = colour(bar.status);
        let opacity = if bar.optional {
            " fill-opacity=\"0.55\""
        } else {
            ""
        };
        let mut title = format!(
            "{}: {} in {}",
            bar.gate,
            bar.status,
            seconds(bar.duration_ms)
        );
        if bar.critical {
            title.push_str(", on the critical path");
        }
        let _ = write!(
            out,
            "<g><title>{}</title><rect x=\"{left:.1}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR}\" \
             rx=\"3\" fill=\"{fill}\"{opacity}/>",
            escape(&title)
        );
        if bar.critical {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" rx=\"5\" fill=\"none\" \
                 stroke=\"#1f2328\" stroke-width=\"2\"/>",
                left - 2.5,
                y - 3,
                width + 5.0,
                BAR + 6
            );
        }
        let mut label = bar.gate.to_owned();
        if bar.optional {
            label.push_str(" (optional)");
        }
        let needed = (label.chars().count() as u64 * CHAR + 12) as f64;
        let baseline = y + BAR / 2 + 4;
        if needed <= width {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{baseline}\" fill=\"#ffffff\" font-weight=\"600\">{}</text>",
                left + 6.0,
                escape(&label)
            );
        } else {
            // Beside the bar, cut off where the next bar on the lane begins.
            let next = bars[i + 1..]
                .iter()
                .find(|b| b.lane == bar.lane)
                .map_or((WIDTH - 4) as f64, |b| x(b.start_ms));
            let room = next - (left + width) - 10.0;
            if room >= 3.0 * CHAR as f64 {
                let _ = write!(
                    out,
                    "<svg x=\"{:.1}\" y=\"{}\" width=\"{room:.1}\" height=\"{LANE}\"><text x=\"0\" y=\"{}\" \
                     fill=\"#1f2328\">{}</text></svg>",
                    left + width + 5.0,
                    AXIS + lane * LANE,
                    baseline - AXIS - lane * LANE,
                    escape(&label)
                );
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n<div class=\"legend\">");
    for (word, colour) in COLOURS {
        if bars.iter().any(|b| b.status == word) {
            let _ = write!(
                out,
                "<span><i class=\"swatch\" style=\"background:{colour}\"></i>{word}</span>"
            );
        }
    }
    if let Some(optional) = bars.iter().find(|b| b.optional) {
        let _ = write!(
            out,
            "<span><i class=\"swatch\" style=\"background:{};opacity:.55\"></i>optional (faded)</span>",
            colour(optional.status)
        );
    }
    out.push_str("<span><i class=\"swatch path\"></i>critical path</span></div>\n");
    let path: Vec<String> = timeline
        .critical_path
        .iter()
        .map(|g| format!("<code>{}</code>", escape(g)))
        .collect();
    if !path.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"path-line\"><strong>Critical path</strong> (each gate waited for the one \
             before it): {}</p>",
            path.join(" → ")
        );
    }
    out.push_str(
        "<p class=\"muted small path-line\">Skipped and blocked gates and groups run nothing and have \
         no bar.</p>\n</div>\n</section>\n",
    );
}

/// A step between axis ticks that gives at most about ten ticks: 1, 2 or 5 times a power of
/// ten milliseconds.
fn tick_step(end_ms: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            if end_ms.div_ceil(step) <= 10 {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// An axis label: milliseconds below a tenth of a second, else seconds, minutes past one.
fn tick_label(ms: u64, step: u64) -> String {
    match (ms, step) {
        (0, _) => "0".to_owned(),
        (_, ..100) => format!("{ms}ms"),
        (..60_000, ..1000) => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        (..60_000, _) => format!("{}s", ms / 1000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

fn failures(out: &mut String, manifest: &Manifest, timeline: &Timeline, logs: &Logs) {
    out.push_str("<section>\n<h2>Failures</h2>\n");
    let failed: Vec<&Entry> = timeline
        .entries
        .iter()
        .filter(|e| matches!(e.status, "failed" | "timed-out") && !e.group)
        .collect();
    if failed.is_empty() {
        out.push_str("<p class=\"muted\">No gate failed.</p>\n");
    }
    for entry in failed {
        let reason = manifest
            .result
            .gates
            .get(entry.gate)
            .and_then(|r| r.reason.as_deref())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<article class=\"failure{}\"><header>{}<h3><code>{}</code></h3><span>{}</span>{}\
             <span class=\"where muted small\">.gate/runs/{}/logs/{}.log</span></header>",
            if entry.optional { " optional" } else { "" },
            pill(entry.status),
            escape(entry.gate),
            escape(reason),
            if entry.optional {
                "<span class=\"tag\">optional: the run does not fail for it</span>"
            } else {
                ""
            },
            escape(&manifest.run.id),
            escape(entry.gate)
        );
        match logs.get(entry.gate) {
            Some(log) => {
                let shown = tail(log, TAIL_LINES);
                let _ = writeln!(
                    out,
                    "<pre class=\"log\">{}</pre>",
                    escape(clean(&shown).trim_end())
                );
            }
            None => out.push_str(
                "<p class=\"muted\" style=\"margin:10px 14px\">No log was kept for this run.</p>\n",
            ),
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

fn restored(out: &mut String, manifest: &Manifest, timeline: &Timeline) {
    out.push_str("<section>\n<h2>Restored from the cache</h2>\n");
    let cached: Vec<&Entry> = timeline
        .entries
        .iter()
        .filter(|e| e.status == "cached")
        .collect();
    if cached.is_empty() {
        out.push_str("<p class=\"muted\">Nothing: every gate that passed ran.</p>\n");
    } else {
        out.push_str("<ul class=\"plain\">\n");
        for entry in cached {
            let execution = manifest.execution.get(entry.gate);
            let key = manifest
                .result
                .gates
                .get(entry.gate)
                .and_then(|r| r.key)
                .map(|k| k.to_string());
            let _ = write!(out, "<li><code>{}</code>", escape(entry.gate));
            match execution.and_then(|e| e.produced_by.as_deref()) {
                Some(run) => {
                    let _ = write!(out, " from run <code>{}</code>", escape(run));
                }
                None => out.push_str(" <span class=\"muted\">(producing run not recorded)</span>"),
            }
            if let Some(key) = key {
                let _ = write!(
                    out,
                    " <span class=\"muted small\">key</span> <code class=\"small\" title=\"{}\">{}…</code>",
                    escape(&key),
                    escape(&key[..16.min(key.len())])
                );
            }
            let _ = writeln!(
                out,
                " <span class=\"muted small\">restored in {}</span></li>",
                seconds(entry.duration_ms)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn skipped(out: &mut String, manifest: &Manifest, timeline: &Timeline) {
    out.push_str("<section>\n<h2>Skipped, and why</h2>\n");
    let mut skipped: Vec<&Entry> = timeline
        .entries
        .iter()
        .filter(|e| matches!(e.status, "skipped" | "blocked" | "cancelled" | "unaffected"))
        .collect();
    skipped.sort_by_key(|e| (e.status, e.gate));
    if skipped.is_empty() {
        out.push_str("<p class=\"muted\">Nothing was skipped.</p>\n");
    } else {
        out.push_str("<ul class=\"plain\">\n");
        for entry in skipped {
            let reason = manifest
                .result
                .gates
                .get(entry.gate)
                .and_then(|r| r.reason.as_deref())
                .unwrap_or(match entry.status {
                    "cancelled" => "the run was interrupted",
                    _ => "",
                });
            let _ = writeln!(
                out,
                "<li>{} <code>{}</code>: {}</li>",
                pill(entry.status),
                escape(entry.gate),
                escape(reason)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn footer(out: &mut String, manifest: &Manifest) {
    let holds = serde_json::to_value(manifest)
        .ok()
        .is_some_and(|value| digest_of(&value) == manifest.digest);
    let check = match holds {
        true => "<span>(matches the record)</span>",
        false => {
            "<span class=\"bad-digest\">(does not match the record: it was changed after the run)</span>"
        }
    };
    let _ = write!(
        out,
        "<footer>\n<p>Manifest digest <code>{}</code> {check}; result digest <code>{}</code></p>\n",
        escape(&manifest.digest.to_string()),
        escape(&manifest.result_digest.to_string())
    );
    if let Some(previous) = &manifest.previous {
        let _ = writeln!(
            out,
            "<p>Previous run <code>{}</code> (digest <code>{}</code>)</p>",
            escape(&previous.run),
            escape(&previous.digest.to_string())
        );
    }
    let _ = write!(
        out,
        "<p>Check this record, the chain of runs before it and its outputs on disk: \
         <code>gate verify {}</code></p>\n<p>Made by {} {} from <code>.gate/runs/{}/manifest.json</code>.</p>\n\
         </footer>\n",
        escape(&manifest.run.id),
        escape(&manifest.producer.name),
        escape(&manifest.producer.version),
        escape(&manifest.run.id)
    );
}

/// `2026-11-22T03:15:00.123Z` as `2026-11-22 03:15:00 UTC`; anything else as it is.
fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) if rfc3339.ends_with('Z') => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:02}s", ms / 1000, ms % 1000 / 10)
}

/// Text safe in HTML content and in double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
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
    fn ticks_are_round_and_few() {
        let case = |end: u64, step: u64| assert_eq!(tick_step(end), step, "{end}");
        case(1, 1);
        case(9, 1);
        case(11, 2);
        case(320, 50);
        case(1000, 100);
        case(12_345, 2000);
        case(3_600_000, 500_000);
        let label = |ms: u64, step: u64, expected: &str| assert_eq!(tick_label(ms, step), expected);
        label(0, 50, "0");
        label(150, 50, "150ms");
        label(1500, 500, "1.5s");
        label(2000, 1000, "2s");
        label(90_000, 30_000, "1m30s");
        label(120_000, 60_000, "2m");
    }

    #[test]
    fn everything_from_the_record_is_escaped() {
        let run = manifest(&[
            Row::new("lint", "failed", 0, 10).reason("<script>alert('x')</script> & \"more\""),
            Row::new("build", "cached", 0, 3),
            Row::new("tool", "skipped", 0, 0),
        ]);
        let logs = Logs::from_texts(BTreeMap::from([(
            "lint".to_owned(),
            "<b>not bold</b> & \u{1b}[31mred\u{1b}[0m\n".to_owned(),
        )]));
        let html = page(&run, &logs);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>not bold"), "{html}");
        assert!(
            html.contains("&lt;b&gt;not bold&lt;/b&gt; &amp; red"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
        );
        assert!(html.contains("(matches the record)"));
        assert!(html.contains("gate verify 20261122T031500.000Z-123abc"));
        for gate in ["lint", "build", "tool"] {
            assert!(html.contains(&format!("<code>{gate}</code>")), "{gate}");
        }
    }

    #[test]
    fn a_changed_record_is_flagged() {
        let mut run = manifest(&[Row::new("lint", "passed", 0, 10)]);
        run.run.host = "elsewhere".to_owned();
        let html = page(&run, &Logs::default());
        assert!(html.contains("does not match the record"), "{html}");
    }
}
