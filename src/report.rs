//! report: the only place that prints. Diagnostics (miette, with file:line:column and a caret
//! snippet), the run view (a live spinner per running gate on a terminal, plain lines
//! otherwise), failed gates' log tails, the closing summary, and `list`, `graph`, `check` and
//! `--dry-run` output.
//!
//! Its submodules render a finished run's record (the [`Manifest`](crate::manifest::Manifest))
//! into the reports of a run, each a pure function from the record to text: [`junit`] (JUnit
//! XML), [`trace`] (a Chrome trace), [`github`] (GitHub Actions commands and step summary) and
//! [`html`] (the page `gate report` writes). [`timeline`] places gates in time for the trace and
//! the page (lanes, the critical path); [`logs`] reads the logs they show.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use console::{StyledObject, style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::error::{self, Diagnostic, Error};
use crate::exec::{Event, Failure, Outcome, Status};
use crate::graph::Graph;
use crate::load::Sources;
use crate::plan::{Decision, Plan, SkipReason};
use crate::schedule::{Forecast, Run};

pub mod github;
pub mod html;
pub mod junit;
pub mod logs;
pub mod timeline;
pub mod trace;

/// The order statuses are counted in, in the summary (and in the reports).
const ORDER: [&str; 7] = [
    "passed",
    "cached",
    "failed",
    "timed-out",
    "blocked",
    "cancelled",
    "skipped",
];

/// Lines of a failed gate's log shown under its status line.
pub const TAIL_LINES: usize = 40;

/// Prints every diagnostic, sorted, then a one-line count, to stderr.
pub fn diagnostics(sources: &Sources, mut diagnostics: Vec<Diagnostic>) {
    error::sort(&mut diagnostics, |id| sources.name(id).to_owned());
    let color = console::colors_enabled_stderr();
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in &diagnostics {
        let shown = Shown::new(sources, diagnostic);
        if !out.is_empty() {
            out.push('\n');
        }
        if handler.render_report(&mut out, &shown).is_err() {
            let _ = writeln!(out, "error: {}", diagnostic.error);
        }
    }
    let place = match sources.files.as_slice() {
        [] => String::new(),
        [only] => format!(" in {}", only.name),
        [root, ..] => format!(" in {} and the files it includes", root.name),
    };
    let _ = writeln!(
        out,
        "{}: {} found{place}",
        paint(style("error").red().bold(), color),
        plural(diagnostics.len(), "problem")
    );
    let _ = std::io::stderr().write_all(out.as_bytes());
}

/// A failure outside the graph (the runtime cannot start), to stderr.
pub fn fatal(message: &str) {
    let color = console::colors_enabled_stderr();
    to_stderr(&format!(
        "{}: {message}\n",
        paint(style("error").red().bold(), color)
    ));
}

/// Something worth knowing that changes no result (the cache cannot be opened), to stderr.
pub fn warning(message: &str) {
    let color = console::colors_enabled_stderr();
    let label = paint(style("warning").yellow().bold(), color);
    to_stderr(&format!("{label}: {message}\n"));
}

/// One write of a whole message; a closed stderr is not worth a panic (`eprintln!` would).
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The width of the gate-name column: the longest name in the plan.
fn name_width(plan: &Plan) -> usize {
    plan.steps
        .iter()
        .map(|s| s.gate.chars().count())
        .max()
        .unwrap_or(0)
}

/// `1 gate`, `2 gates`.
fn plural(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("{count} {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

fn paint<D: std::fmt::Display>(styled: StyledObject<D>, color: bool) -> String {
    if color {
        styled.force_styling(true).to_string()
    } else {
        styled.force_styling(false).to_string()
    }
}

/// A [`Diagnostic`] joined with its source text, in the shape miette renders.
#[derive(Debug)]
struct Shown<'a> {
    error: &'a Error,
    source: Option<NamedSource<Arc<String>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Note>,
}

/// A labelled place in another file than the main one (the first definition of a duplicate).
#[derive(Debug)]
struct Note {
    message: String,
    source: NamedSource<Arc<String>>,
    label: LabeledSpan,
}

impl<'a> Shown<'a> {
    fn new(sources: &Sources, diagnostic: &'a Diagnostic) -> Shown<'a> {
        let source_of = |file| {
            let file = sources.file(file);
            NamedSource::new(file.name.clone(), Arc::clone(&file.text))
        };
        let mut shown = Shown {
            error: &diagnostic.error,
            source: None,
            labels: Vec::new(),
            related: Vec::new(),
        };
        if let Some(at) = &diagnostic.at {
            shown.source = Some(source_of(at.span.file));
            shown.labels.push(LabeledSpan::new_primary_with_span(
                Some(at.label.clone()),
                (at.span.offset, at.span.len),
            ));
            for note in &diagnostic.notes {
                let label = LabeledSpan::new_with_span(
                    Some(note.label.clone()),
                    (note.span.offset, note.span.len),
                );
                if note.span.file == at.span.file {
                    shown.labels.push(label);
                } else {
                    shown.related.push(Note {
                        message: note.label.clone(),
                        source: source_of(note.span.file),
                        label,
                    });
                }
            }
        }
        shown
    }
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.error.code()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.error.help()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty())
            .then(|| Box::new(self.labels.iter().cloned()) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        (!self.related.is_empty()).then(|| {
            Box::new(self.related.iter().map(|n| n as &dyn miette::Diagnostic))
                as Box<dyn Iterator<Item = _>>
        })
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Note {}

impl miette::Diagnostic for Note {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}

/// How much a run prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Failures only (with their log tails), and the summary when something failed.
    Quiet,
    Normal,
    /// Every output line, prefixed with the gate's name, as it happens.
    Verbose,
}

/// The run view: fed [`Event`]s as they happen, then the finished [`Run`].
pub struct RunReport {
    verbosity: Verbosity,
    color: bool,
    /// Width of the name column.
    width: usize,
    root: std::path::PathBuf,
    live: Option<Live>,
}

struct Live {
    progress: MultiProgress,
    bars: BTreeMap<String, ProgressBar>,
    style: ProgressStyle,
}

impl RunReport {
    /// `live` asks for the terminal view (spinners); the caller decides it from the terminal,
    /// `CI` and the verbosity.
    pub fn new(plan: &Plan, root: &Path, verbosity: Verbosity, live: bool) -> RunReport {
        let width = name_width(plan);
        let live = live.then(|| Live {
            progress: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: BTreeMap::new(),
            style: ProgressStyle::with_template(&format!(
                "{{spinner:>9.cyan}}  {{prefix:<{width}}}  {{elapsed:.dim}}"
            ))
            .expect("a valid template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        });
        RunReport {
            verbosity,
            color: console::colors_enabled(),
            width,
            root: root.to_path_buf(),
            live,
        }
    }

    fn println(&self, text: &str) {
        match &self.live {
            Some(live) => {
                let _ = live.progress.println(text);
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{text}");
            }
        }
    }

    pub fn event(&mut self, event: Event) {
        match event {
            Event::Started(gate) => {
                if let Some(live) = &mut self.live {
                    let bar = live.progress.add(
                        ProgressBar::new_spinner()
                            .with_style(live.style.clone())
                            .with_prefix(gate.clone()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(100));
                    live.bars.insert(gate, bar);
                }
            }
            Event::Output(line) => {
                if self.verbosity == Verbosity::Verbose {
                    let prefix = format!("{:>w$} |", line.gate, w = self.width + 11);
                    self.println(&format!(
                        "{} {}",
                        paint(style(prefix).dim(), self.color),
                        line.text
                    ));
                }
            }
            Event::Finished(outcome) => {
                if let Some(bar) = self
                    .live
                    .as_mut()
                    .and_then(|live| live.bars.remove(&outcome.gate))
                {
                    bar.finish_and_clear();
                }
                let show = match self.verbosity {
                    Verbosity::Quiet => outcome.status.is_failure() && !outcome.optional,
                    _ => true,
                };
                if show {
                    let text = self.outcome(&outcome);
                    self.println(&text);
                }
            }
        }
    }

    /// One status line, plus the log tail of a failure when output was not streamed.
    fn outcome(&self, outcome: &Outcome) -> String {
        let word = outcome.status.word();
        // Pad by the visible width: colour codes would throw `{:>9}` off.
        let pad = " ".repeat(9usize.saturating_sub(word.len()));
        let mut text = format!(
            "{pad}{}  {:<w$}",
            paint(styled_word(&outcome.status), self.color),
            outcome.gate,
            w = self.width
        );
        if outcome.log.is_some() || outcome.status == Status::Cached {
            let _ = write!(text, "  {}", seconds(outcome.duration));
        }
        let detail = match &outcome.status {
            Status::Passed => match (&outcome.reason, self.verbosity) {
                (Some(reason), Verbosity::Verbose) => format!("ran: {reason}"),
                _ => String::new(),
            },
            Status::Failed(Failure::ModifiedInputs(_)) => format!(
                "{} (a check must not edit what it checks; a gate that should says `fix #true`)",
                outcome.status.reason().unwrap_or_default()
            ),
            status => status.reason().unwrap_or_default(),
        };
        if !detail.is_empty() {
            let _ = write!(text, "  {detail}");
        }
        if outcome.optional && outcome.status.is_failure() {
            text.push_str(" (optional)");
        }
        if let (Some(reason), Verbosity::Verbose, true) =
            (&outcome.reason, self.verbosity, outcome.status.is_failure())
        {
            let _ = write!(text, " (ran: {reason})");
        }
        let mut text = text.trim_end().to_owned();
        for note in &outcome.notes {
            let _ = write!(
                text,
                "\n{}{} {note}",
                " ".repeat(11),
                paint(style("warning:").yellow(), self.color)
            );
        }
        // Only a gate that ran has a log, so a failure with a log failed or timed out itself.
        // An optional gate that passed (or was restored) shows what it printed, the same
        // either way: its warnings are why it is there.
        let advisory = outcome.optional
            && outcome.printed
            && matches!(outcome.status, Status::Passed | Status::Cached);
        let Some(log) = outcome.log.as_ref().filter(|_| {
            outcome.status.is_failure() || advisory || outcome.status == Status::Cached
        }) else {
            return text;
        };
        let indent = " ".repeat(11);
        if self.verbosity != Verbosity::Verbose {
            for line in tail_lines(log, TAIL_LINES) {
                let _ = write!(
                    text,
                    "\n{indent}{} {line}",
                    paint(style("│").dim(), self.color)
                );
            }
        }
        let _ = write!(
            text,
            "\n{indent}{} {}",
            paint(style("log:").dim(), self.color),
            self.relative(log)
        );
        text
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The closing summary: counts by status, wall time, slowest gates, and why the run failed
    /// when only `--strict` or an interruption made it fail.
    pub fn finish(&mut self, run: &Run, strict: bool, interrupted: bool) {
        if let Some(live) = self.live.take() {
            for bar in live.bars.values() {
                bar.finish_and_clear();
            }
            let _ = live.progress.clear();
        }
        let failed = run.failed(strict);
        if self.verbosity == Verbosity::Quiet && !failed && !interrupted {
            return;
        }
        // Counted in a fixed order; an optional gate's failure is counted apart, since it does
        // not fail the run.
        let mut counts: BTreeMap<(usize, bool), usize> = BTreeMap::new();
        for outcome in &run.outcomes {
            let rank = ORDER
                .iter()
                .position(|w| *w == outcome.status.word())
                .unwrap_or(ORDER.len());
            *counts
                .entry((rank, outcome.optional && outcome.status.is_failure()))
                .or_default() += 1;
        }
        let counts: Vec<String> = counts
            .iter()
            .map(|((rank, optional), n)| {
                let word = ORDER.get(*rank).copied().unwrap_or("other");
                if *optional {
                    format!("{n} {word} (optional)")
                } else {
                    format!("{n} {word}")
                }
            })
            .collect();
        let counts = if counts.is_empty() {
            "nothing to run".to_owned()
        } else {
            counts.join(", ")
        };
        let mut out = format!(
            "\n{} {counts} in {}",
            paint(style("gate:").bold(), self.color),
            seconds(run.wall)
        );
        let mut ran: Vec<&Outcome> = run
            .outcomes
            .iter()
            .filter(|o| o.log.is_some() && o.status != Status::Cached)
            .collect();
        ran.sort_by(|a, b| {
            b.duration
                .cmp(&a.duration)
                .then_with(|| a.gate.cmp(&b.gate))
        });
        if ran.len() > 1 {
            let slowest: Vec<String> = ran
                .iter()
                .take(3)
                .map(|o| format!("{} {}", o.gate, seconds(o.duration)))
                .collect();
            let _ = write!(out, "\nslowest: {}", slowest.join(", "));
        }
        if strict {
            let missing: Vec<String> = run
                .outcomes
                .iter()
                .filter_map(|o| match &o.status {
                    Status::Skipped(SkipReason::MissingTool(tools)) if !o.optional => {
                        Some(format!("{} ({})", o.gate, tools.join(", ")))
                    }
                    _ => None,
                })
                .collect();
            if !missing.is_empty() {
                let _ = write!(
                    out,
                    "\nstrict: a missing tool is a failure: {}",
                    missing.join(", ")
                );
            }
        }
        if interrupted {
            let _ = write!(
                out,
                "\ninterrupted: running gates were stopped and marked cancelled"
            );
        }
        self.println(&out);
    }
}

fn styled_word(status: &Status) -> StyledObject<&'static str> {
    let word = status.word();
    match status {
        Status::Passed => style(word).green(),
        Status::Cached => style(word).cyan(),
        Status::Failed(_) | Status::TimedOut(_) => style(word).red().bold(),
        Status::Blocked { .. } | Status::Cancelled => style(word).yellow(),
        Status::Skipped(_) => style(word).dim(),
    }
}

/// The last `count` lines of a log, lossily decoded.
fn tail_lines(path: &Path, count: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Durations in the run view: seconds with two decimals, so a reader (and a test's redaction)
/// sees one format.
pub fn seconds(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

/// A timeout as the user wrote it would read: `90s`, `10m`, `1h30m`, `500ms`.
/// `gate run --dry-run`: the plan in topological order, with commands and reasons: what
/// would be restored from the cache, and why the rest would run.
pub fn dry_run(plan: &Plan, forecast: &BTreeMap<String, Forecast>, jobs: usize) {
    let color = console::colors_enabled();
    let width = name_width(plan);
    let mut out = format!(
        "plan for {}: {}, at most {jobs} at a time\n",
        plan.targets.join(" "),
        plural(plan.steps.len(), "gate")
    );
    for step in &plan.steps {
        match &step.decision {
            Decision::Run(_) if forecast.get(&step.gate).is_some_and(|f| f.cached) => {
                let _ = writeln!(
                    out,
                    "{:>9}  {:<width$}  restored from the cache",
                    paint(style("cached").cyan(), color),
                    step.gate
                );
            }
            Decision::Run(job) => {
                let reason = forecast
                    .get(&step.gate)
                    .map(|f| f.reason.as_str())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:>9}  {:<width$}  {reason}",
                    paint(style("run").green(), color),
                    step.gate
                );
                for line in &job.run {
                    let _ = writeln!(
                        out,
                        "{:>9}  {}",
                        "",
                        paint(style(format!("$ {line}")).dim(), color)
                    );
                }
            }
            Decision::Group => {
                let _ = writeln!(
                    out,
                    "{:>9}  {:<width$}  {}",
                    paint(style("group").cyan(), color),
                    step.gate,
                    step.deps.join(", ")
                );
            }
            Decision::Skip(reason) => {
                let _ = writeln!(
                    out,
                    "{:>9}  {:<width$}  {reason}",
                    paint(style("skip").dim(), color),
                    step.gate
                );
            }
        }
    }
    print(&out);
}

/// `gate list`.
pub fn list(graph: &Graph, sources: &Sources, json: bool) {
    if json {
        let gates: Vec<serde_json::Value> = graph
            .order
            .iter()
            .map(|name| {
                let gate = graph.gate(name);
                let file = sources.file(gate.file());
                let line = file.text[..gate.span.offset].matches('\n').count() + 1;
                serde_json::json!({
                    "name": gate.name,
                    "description": gate.description,
                    "group": gate.is_group(),
                    "deps": graph.deps[name],
                    "tags": gate.tags,
                    "requires": gate.requires,
                    "inputs": gate.inputs,
                    "outputs": gate.outputs,
                    "optional": gate.optional,
                    "file": file.name,
                    "line": line,
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&gates).expect("JSON values serialise");
        text.push('\n');
        print(&text);
        return;
    }
    let color = console::colors_enabled();
    let rows: Vec<[String; 4]> = graph
        .order
        .iter()
        .map(|name| {
            let gate = graph.gate(name);
            let description = match (&gate.description, gate.is_group()) {
                (Some(d), _) => d.clone(),
                (None, true) => "(group)".to_owned(),
                (None, false) => String::new(),
            };
            let deps = graph.deps[name].join(", ");
            let tags = gate.tags.join(", ");
            [name.clone(), description, deps, tags]
        })
        .collect();
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let headers = ["GATE", "DESCRIPTION", "DEPS", "TAGS"];
    let header: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(c, h)| format!("{h:<w$}", w = widths[c].max(h.len())))
        .collect();
    let _ = writeln!(
        out,
        "{}",
        paint(style(header.join("  ").trim_end().to_owned()).bold(), color)
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c].max(headers[c].len())))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    print(&out);
}

/// `gate check` when all is well.
pub fn check(graph: &Graph, sources: &Sources) {
    let gates = plural(graph.model.gates.len(), "gate");
    let groups = plural(
        graph.model.gates.values().filter(|g| g.is_group()).count(),
        "group",
    );
    let files = plural(sources.files.len(), "file");
    print(&format!(
        "{}: {gates} ({groups}) in {files}, no problems\n",
        sources.files[0].name
    ));
}

/// Plain text to stdout (graph renderings, completions).
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// `gate explain GATE`: the verdict, the key, and what changed since the last run.
pub fn explain(gate: &str, plan: &Plan, forecast: &BTreeMap<String, Forecast>) {
    let color = console::colors_enabled();
    let mut out = String::new();
    let Some(step) = plan.steps.iter().find(|s| s.gate == gate) else {
        return;
    };
    let verdict = forecast.get(gate);
    match (&step.decision, verdict) {
        (Decision::Skip(reason), _) => {
            let _ = writeln!(out, "{gate}: would be skipped: {reason}");
        }
        (Decision::Group, _) => {
            let _ = writeln!(out, "{gate}: a group; it runs nothing itself. Its members:");
            for member in &step.deps {
                let line = match (
                    forecast.get(member),
                    plan.steps.iter().find(|s| &s.gate == member),
                ) {
                    (_, Some(s)) if matches!(s.decision, Decision::Skip(_)) => "skipped".to_owned(),
                    (Some(f), _) if f.cached => "cached".to_owned(),
                    (Some(f), _) if !f.reason.is_empty() => format!("run: {}", f.reason),
                    _ => "group".to_owned(),
                };
                let _ = writeln!(out, "  {member}: {line}");
            }
        }
        (Decision::Run(_), Some(forecast)) => {
            let Some(keyed) = &forecast.keyed else {
                return;
            };
            let verdict = match forecast.cached {
                true => paint(
                    style("would be restored from the cache".to_owned()).cyan(),
                    color,
                ),
                false => paint(
                    style(format!("would run: {}", forecast.reason)).green(),
                    color,
                ),
            };
            let _ = writeln!(out, "{gate}: {verdict}");
            let _ = writeln!(out, "  key: {}", keyed.key.to_hex());
            let material = &keyed.material();
            let _ = writeln!(
                out,
                "  inputs: {} ({} bytes)",
                plural(material.inputs.len(), "file"),
                keyed.files.iter().map(|(_, f)| f.stat.size).sum::<u64>()
            );
            for tool in &material.tools {
                let digest = tool
                    .digest
                    .map(|d| d.to_string()[..16].to_owned())
                    .unwrap_or_else(|| "unreadable".into());
                let _ = write!(out, "  tool: {} at {} ({digest})", tool.name, tool.path);
                if let Some(version) = &tool.version {
                    let _ = write!(out, ", version: {}", version.lines().next().unwrap_or(""));
                }
                out.push('\n');
            }
            for (dep, key) in &material.deps {
                let _ = writeln!(out, "  dependency: {dep} {}", &key.to_string()[..16]);
            }
            match &forecast.last {
                None => {
                    let _ = writeln!(out, "  last run: none recorded");
                }
                Some(saved) => {
                    let _ = writeln!(
                        out,
                        "  last run: {} with key {}",
                        saved.status,
                        &saved.key.to_string()[..16]
                    );
                    let changes = crate::key::diff(&saved.material, material);
                    if changes.is_empty() && saved.key.0 == keyed.key {
                        let _ = writeln!(out, "  nothing changed since");
                    }
                    for change in &changes {
                        let _ = writeln!(out, "  changed since: {}", change_detail(change));
                    }
                }
            }
        }
        (Decision::Run(_), None) => {}
    }
    print(&out);
}

/// A change with every path it names (up to a screenful).
fn change_detail(change: &crate::key::Change) -> String {
    use crate::key::Change;
    const MAX: usize = 50;
    let list = |label: &str, paths: &[String]| {
        let mut text = format!("{label} ({}):", paths.len());
        for path in paths.iter().take(MAX) {
            let _ = write!(text, "\n    {path}");
        }
        if paths.len() > MAX {
            let _ = write!(text, "\n    … and {} more", paths.len() - MAX);
        }
        text
    };
    match change {
        Change::InputsAdded(paths) => list("inputs added", paths),
        Change::InputsRemoved(paths) => list("inputs removed", paths),
        Change::InputsChanged(paths) => list("inputs changed", paths),
        other => other.to_string(),
    }
}

/// `gate cache stats`.
pub fn cache_stats(dir: &Path, stats: &crate::cache::Stats, last: Option<crate::cache::Lookups>) {
    let mut out = format!(
        "cache: {}\nentries: {}\nblobs: {}\nsize: {}\n",
        dir.display(),
        stats.entries,
        stats.blobs,
        bytes(stats.bytes)
    );
    match last {
        Some(crate::cache::Lookups { hits, misses }) if hits + misses > 0 => {
            let _ = writeln!(
                out,
                "last run: {}, {} ({:.0}% hit rate)",
                plural(hits as usize, "hit"),
                match misses {
                    1 => "1 miss".to_owned(),
                    n => format!("{n} misses"),
                },
                100.0 * hits as f64 / (hits + misses) as f64
            );
        }
        Some(_) => out.push_str("last run: no cacheable gates\n"),
        None => out.push_str("last run: none recorded\n"),
    }
    print(&out);
}

/// `gate cache prune`.
pub fn pruned(dir: &Path, pruned: &crate::cache::Pruned) {
    let mut out = String::new();
    if pruned.waited {
        out.push_str("waited for running gate processes to release the cache\n");
    }
    let _ = writeln!(
        out,
        "pruned {}: removed {} and {} ({}); left {} and {} ({})",
        dir.display(),
        plural(pruned.entries as usize, "entry"),
        plural(pruned.blobs as usize, "blob"),
        bytes(pruned.freed),
        plural(pruned.left.entries as usize, "entry"),
        plural(pruned.left.blobs as usize, "blob"),
        bytes(pruned.left.bytes)
    );
    print(&out);
}

/// `gate cache clean`.
pub fn cleaned(dir: &Path, freed: &crate::cache::Stats) {
    print(&format!(
        "cleaned {}: removed {} and {} ({})\n",
        dir.display(),
        plural(freed.entries as usize, "entry"),
        plural(freed.blobs as usize, "blob"),
        bytes(freed.bytes)
    ));
}

/// `1.5 MiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{count} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// `gate verify`: every check, failures first, then what could not be checked.
pub fn verification(path: &Path, verification: &crate::manifest::Verification) {
    let color = console::colors_enabled();
    let mut out = String::new();
    let (failed, passed): (Vec<_>, Vec<_>) = verification.findings.iter().partition(|f| !f.ok);
    for finding in failed.iter().chain(&passed) {
        let mark = if finding.ok {
            paint(style("ok").green(), color)
        } else {
            paint(style("FAIL").red().bold(), color)
        };
        let _ = writeln!(out, "{mark:>4}  {}", finding.text);
    }
    for note in &verification.notes {
        let _ = writeln!(out, "{}  {note}", paint(style("note").dim(), color));
    }
    let verdict = if verification.holds() {
        paint(style("verified").green().bold(), color)
    } else {
        paint(style("not verified").red().bold(), color)
    };
    let problems = failed.len();
    let _ = write!(out, "\n{verdict}: {}", path.display());
    if problems > 0 {
        let _ = write!(out, " ({})", plural(problems, "problem"));
    }
    out.push('\n');
    print(&out);
}

/// Run records for the report renderers' unit tests: one row per gate.
#[cfg(test)]
pub(crate) mod fixture {
    use std::collections::BTreeMap;

    use crate::key::Hex;
    use crate::manifest::{
        Execution, GateResult, Invocation, Log, Manifest, Producer, RunInfo, RunResult, Source,
    };

    #[derive(Debug, Clone)]
    pub struct Row {
        gate: &'static str,
        status: &'static str,
        start: u64,
        duration: u64,
        deps: Vec<String>,
        group: bool,
        optional: bool,
        reason: Option<String>,
    }

    impl Row {
        pub fn new(gate: &'static str, status: &'static str, start: u64, duration: u64) -> Row {
            let reason = match status {
                "failed" => Some("exit code 1".to_owned()),
                "timed-out" => Some("timed out after 1s".to_owned()),
                "skipped" => Some("missing tool x".to_owned()),
                "blocked" => Some("dependency x failed".to_owned()),
                _ => None,
            };
            Row {
                gate,
                status,
                start,
                duration,
                deps: Vec::new(),
                group: false,
                optional: false,
                reason,
            }
        }

        pub fn deps(mut self, deps: &[&str]) -> Row {
            self.deps = deps.iter().map(|d| (*d).to_owned()).collect();
            self
        }

        pub fn group(mut self) -> Row {
            self.group = true;
            self
        }

        pub fn optional(mut self) -> Row {
            self.optional = true;
            self
        }

        pub fn reason(mut self, reason: &str) -> Row {
            self.reason = Some(reason.to_owned());
            self
        }
    }

    fn hex(seed: &str) -> Hex {
        Hex(blake3::hash(seed.as_bytes()))
    }

    /// A run started at 2026-11-22T03:15:00Z that lasted until its last gate ended.
    pub fn manifest(rows: &[Row]) -> Manifest {
        let mut gates = BTreeMap::new();
        let mut execution = BTreeMap::new();
        for row in rows {
            let ran =
                !row.group && matches!(row.status, "passed" | "cached" | "failed" | "timed-out");
            gates.insert(
                row.gate.to_owned(),
                GateResult {
                    outcome: match row.status {
                        "cached" => "passed",
                        other => other,
                    }
                    .to_owned(),
                    reason: row.reason.clone(),
                    group: row.group,
                    optional: row.optional,
                    deps: row.deps.clone(),
                    key: ran.then(|| hex(row.gate)),
                    exit: None,
                    inputs: None,
                    outputs: Vec::new(),
                    tools: Vec::new(),
                    env: BTreeMap::new(),
                    pass_env: Vec::new(),
                    hash_env: BTreeMap::new(),
                    facts: None,
                },
            );
            execution.insert(
                row.gate.to_owned(),
                Execution {
                    status: row.status.to_owned(),
                    cache: match (row.status, ran) {
                        ("cached", _) => "hit",
                        (_, true) => "miss",
                        _ => "off",
                    }
                    .to_owned(),
                    produced_by: (row.status == "cached")
                        .then(|| "20261122T000000.000Z-abcdef".to_owned()),
                    started_ms: row.start,
                    duration_ms: row.duration,
                    log: ran.then(|| Log {
                        blake3: hex("log"),
                        size: 0,
                    }),
                    notes: Vec::new(),
                },
            );
        }
        let failed = rows
            .iter()
            .any(|r| !r.optional && matches!(r.status, "failed" | "timed-out" | "blocked"));
        let mut manifest = Manifest {
            schema_version: crate::manifest::SCHEMA_VERSION,
            digest: hex(""),
            result_digest: hex(""),
            result: RunResult {
                outcome: if failed { "failed" } else { "passed" }.to_owned(),
                gates,
                tools: Vec::new(),
            },
            producer: Producer {
                name: "gate".to_owned(),
                version: "0.1.0".to_owned(),
                key_format: crate::key::KEY_FORMAT,
            },
            run: RunInfo {
                id: "20261122T031500.000Z-123abc".to_owned(),
                started: "2026-11-22T03:15:00.000Z".to_owned(),
                finished: "2026-11-22T03:15:01.000Z".to_owned(),
                duration_ms: rows.iter().map(|r| r.start + r.duration).max().unwrap_or(0),
                host: "ci-runner".to_owned(),
                platform: "linux-x86_64".to_owned(),
            },
            invocation: Invocation {
                command: "run".to_owned(),
                targets: vec!["ci".to_owned()],
                tags: Vec::new(),
                selected: rows.iter().map(|r| r.gate.to_owned()).collect(),
                vars: BTreeMap::new(),
                strict: false,
                fail_fast: false,
                no_cache: false,
                jobs: 2,
            },
            source: Source {
                graph: hex("graph"),
                files: Vec::new(),
                git: None,
                source_date_epoch: None,
            },
            previous: None,
            execution,
        };
        crate::manifest::seal(&mut manifest);
        manifest
    }
}
