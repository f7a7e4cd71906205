//! plan: [`Graph`] + a [`Selection`] → [`Plan`]: which gates take part, in topological order,
//! and for each whether it runs, is a group, or is skipped and why (`missing tool X`,
//! `condition`, `dependency X skipped`). Tools are resolved here, before anything starts, and
//! each runnable gate gets its exact environment: declared env + pass-env + hash-env + the
//! fixed allowlist of the spec, nothing else from the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Diagnostic, Error, did_you_mean};
use crate::graph::Graph;
use crate::parse::When;

/// Variables every gate sees when the caller has them; none is part of the key.
pub const ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TERM",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// What the user asked to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub targets: Vec<String>,
    pub tags: Vec<String>,
}

/// The caller's world as the plan sees it: environment and working root.
#[derive(Debug)]
pub struct Context {
    pub root: PathBuf,
    pub env: BTreeMap<OsString, OsString>,
    /// Shells resolved so far, by (program, PATH, cwd).
    shells: std::sync::Mutex<ShellMemo>,
}

type ShellMemo = std::collections::HashMap<(String, Option<OsString>, PathBuf), Option<PathBuf>>;

impl Context {
    pub fn from_process(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            env: std::env::vars_os().collect(),
            shells: Default::default(),
        }
    }

    fn var(&self, name: &str) -> Option<&OsString> {
        self.env.get(std::ffi::OsStr::new(name))
    }
}

#[derive(Debug)]
pub struct Plan {
    /// What was selected, for display: the targets after defaults were applied, and tags.
    pub targets: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub gate: String,
    /// Dependencies, all of which are earlier steps.
    pub deps: Vec<String>,
    pub optional: bool,
    pub decision: Decision,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Run(Box<Job>),
    Group,
    Skip(SkipReason),
}

/// Everything `exec` needs to run a gate, resolved.
#[derive(Debug, Clone)]
pub struct Job {
    pub run: Vec<String>,
    pub shell: Vec<String>,
    /// The shell's program resolved on the gate's PATH (`None`: left to fail at spawn).
    pub program: Option<PathBuf>,
    /// Absolute.
    pub cwd: PathBuf,
    pub env: BTreeMap<OsString, OsString>,
    pub timeout: Option<Duration>,
    pub tools: Vec<Tool>,
    /// What the key is made of, besides the above.
    pub relative_cwd: String,
    pub declared_env: BTreeMap<String, String>,
    pub hash_env: Vec<String>,
    pub version: Option<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub cache: bool,
    pub fix: bool,
    /// What each exit code of a run line means (part of the key when declared).
    pub exit_codes: crate::model::ExitCodes,
    /// The `facts` file, absolute.
    pub facts: Option<PathBuf>,
}

impl Job {
    /// A command that runs `line` the way every line of this gate runs: through its shell
    /// (resolved once by the plan), in its directory, with exactly its environment and a null
    /// stdin. `None` when the shell is empty.
    pub fn command(&self, line: &str) -> Option<std::process::Command> {
        let (program, arguments) = self.shell.split_first()?;
        let mut command =
            std::process::Command::new(self.program.as_deref().unwrap_or(Path::new(program)));
        command
            .args(arguments)
            .arg(line)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&self.env)
            .stdin(std::process::Stdio::null());
        Some(command)
    }
}

/// A `requires` entry resolved on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    MissingTool(Vec<String>),
    Condition(String),
    Dependency(String),
    /// A run line exited with a code the gate's `skip-codes` lists.
    ExitCode {
        code: i32,
        reason: Option<String>,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::MissingTool(tools) => write!(f, "missing tool {}", tools.join(", ")),
            SkipReason::Condition(condition) => write!(f, "condition ({condition})"),
            SkipReason::Dependency(dep) => write!(f, "dependency {dep} skipped"),
            SkipReason::ExitCode { code, reason } => match reason {
                Some(reason) => write!(f, "exit code {code}: {reason}"),
                None => write!(f, "exit code {code}"),
            },
        }
    }
}

/// Plans a run. Errors only for a selection that names nothing (unknown target or tag).
pub fn plan(
    graph: &Graph,
    selection: &Selection,
    context: &Context,
) -> Result<Plan, Vec<Diagnostic>> {
    let (targets, roots) = select(graph, selection)?;
    let mut decisions: BTreeMap<&str, Decision> = BTreeMap::new();
    let mut steps = Vec::new();
    for name in graph.closure(roots.iter().map(String::as_str)) {
        let gate = graph.gate(name);
        let deps = graph.deps[name].clone();
        let skipped_dep = deps
            .iter()
            .find(|d| matches!(decisions[d.as_str()], Decision::Skip(_)));
        let decision = if let Some(condition) = gate.when.iter().find_map(|w| unmet(w, context)) {
            Decision::Skip(SkipReason::Condition(condition))
        } else if gate.is_group() {
            Decision::Group
        } else if let Some(dep) = skipped_dep {
            Decision::Skip(SkipReason::Dependency(dep.clone()))
        } else {
            job(graph, name, context)
        };
        decisions.insert(name, decision.clone());
        steps.push(Step {
            gate: name.to_owned(),
            deps,
            optional: gate.optional,
            decision,
        });
    }
    Ok(Plan { targets, steps })
}

/// The target names (for display) and the gates they stand for.
fn select(
    graph: &Graph,
    selection: &Selection,
) -> Result<(Vec<String>, Vec<String>), Vec<Diagnostic>> {
    let gates = &graph.model.gates;
    let mut targets = selection.targets.clone();
    if targets.is_empty() && selection.tags.is_empty() {
        targets = graph
            .model
            .default
            .iter()
            .map(|d| d.value.clone())
            .collect();
        if targets.is_empty() {
            targets.push("all".into());
        }
    }
    let mut roots = BTreeSet::new();
    let mut diagnostics = Vec::new();
    for target in &targets {
        if gates.contains_key(target) {
            roots.insert(target.clone());
        } else if target == "all" {
            roots.extend(gates.keys().cloned());
        } else {
            let hint = did_you_mean(target, gates.keys().map(String::as_str))
                .or_else(|| Some("`gate list` shows the gates".into()));
            diagnostics.push(Diagnostic::bare(Error::UnknownTarget {
                name: target.clone(),
                hint,
            }));
        }
    }
    for tag in &selection.tags {
        let tagged: Vec<&String> = gates
            .values()
            .filter(|g| g.tags.contains(tag))
            .map(|g| &g.name)
            .collect();
        if tagged.is_empty() {
            let all_tags: BTreeSet<&str> = gates
                .values()
                .flat_map(|g| g.tags.iter().map(String::as_str))
                .collect();
            let hint = did_you_mean(tag, all_tags.iter().copied());
            diagnostics.push(Diagnostic::bare(Error::UnknownTag {
                tag: tag.clone(),
                hint,
            }));
        }
        roots.extend(tagged.into_iter().cloned());
        targets.push(format!("--tag {tag}"));
    }
    if diagnostics.is_empty() {
        Ok((targets, roots.into_iter().collect()))
    } else {
        Err(diagnostics)
    }
}

/// The description of a condition that does not hold, or `None` when it holds.
fn unmet(when: &When, context: &Context) -> Option<String> {
    match when {
        When::Env { name, equals: None } => match context.var(name) {
            Some(value) if !value.is_empty() => None,
            _ => Some(format!("env {name} is not set")),
        },
        When::Env {
            name,
            equals: Some(expected),
        } => match context.var(name) {
            Some(value) if value == expected.as_str() => None,
            _ => Some(format!("env {name} is not {expected:?}")),
        },
        When::File(path) => {
            (!context.root.join(path).exists()).then(|| format!("file {path} does not exist"))
        }
    }
}

/// The job of a runnable gate, or a skip when a required tool is missing.
fn job(graph: &Graph, name: &str, context: &Context) -> Decision {
    let gate = graph.gate(name);
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    let passed = ALLOWLIST
        .iter()
        .copied()
        .chain(gate.pass_env.iter().map(String::as_str))
        .chain(gate.hash_env.iter().map(String::as_str));
    for variable in passed {
        if let Some(value) = context.var(variable) {
            env.insert(variable.into(), value.clone());
        }
    }
    for (variable, value) in &gate.env {
        env.insert(variable.into(), value.into());
    }

    let cwd = context.root.join(&gate.cwd);
    let search_path = env.get(std::ffi::OsStr::new("PATH")).cloned();
    let mut tools = Vec::new();
    let mut missing = Vec::new();
    for tool in &gate.requires {
        match which::which_in(tool, search_path.as_ref(), &cwd) {
            Ok(path) => tools.push(Tool {
                name: tool.clone(),
                path,
            }),
            Err(_) => missing.push(tool.clone()),
        }
    }
    if !missing.is_empty() {
        return Decision::Skip(SkipReason::MissingTool(missing));
    }
    let program = gate.shell.first().and_then(|shell| {
        // One lookup per shell, PATH and directory, not one per gate.
        let memo = (shell.clone(), search_path.clone(), cwd.clone());
        let mut shells = context.shells.lock().unwrap_or_else(|e| e.into_inner());
        shells
            .entry(memo)
            .or_insert_with(|| which::which_in(shell, search_path.as_ref(), &cwd).ok())
            .clone()
    });
    Decision::Run(Box::new(Job {
        run: gate.run.clone(),
        shell: gate.shell.clone(),
        program,
        cwd,
        env,
        timeout: gate.timeout,
        tools,
        relative_cwd: gate.cwd.to_string_lossy().into_owned(),
        declared_env: gate.env.clone(),
        hash_env: gate.hash_env.clone(),
        version: gate.version.clone(),
        inputs: gate.inputs.clone(),
        outputs: gate.outputs.clone(),
        cache: gate.cache,
        fix: gate.fix,
        exit_codes: gate.exit_codes.clone(),
        facts: gate.facts.as_ref().map(|f| context.root.join(f)),
    }))
}
