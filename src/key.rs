//! key: a runnable gate → its cache key, as the spec's "The key" lists it.
//!
//! The key material ([`Material`]) is a plain, sorted, deterministic struct: the key-format
//! version, the gate's name, run lines, shell, cwd, declared env, hash-env values (as
//! digests, so no secret is ever written down), tool identities (resolved path, content
//! digest, and `version` output when declared), the sorted (path, digest, executable bit)
//! list of inputs, the outputs declaration, the dependencies' keys and the platform. The key
//! is the blake3 of a length-prefixed binary encoding of it. The material of each gate's last
//! run is kept under `.gate/keys/` so `gate explain` can say what changed, field by field.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inputs::{self, Digest, FileState, Index, Input, Outputs, Spec};
use crate::plan::{Decision, Job, Plan};

/// Bumped whenever the material or its encoding changes: every old key then misses.
pub const KEY_FORMAT: u32 = 1;

/// How long a `version` command may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(60);

/// A digest that reads and writes as lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hex(pub Digest);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.to_hex().as_str())
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::from_hex(&text)
            .map(Hex)
            .map_err(serde::de::Error::custom)
    }
}

impl PartialOrd for Hex {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By bytes, which is the order of the hex text too.
impl Ord for Hex {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.to_hex().as_str())
    }
}

/// Everything a gate's key is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    pub format: u32,
    pub gate: String,
    pub run: Vec<String>,
    pub shell: Vec<String>,
    pub cwd: String,
    pub env: BTreeMap<String, String>,
    /// Digest of each hash-env variable's value; `None` when unset.
    pub hash_env: BTreeMap<String, Option<Hex>>,
    pub tools: Vec<ToolId>,
    pub inputs: Vec<InputId>,
    pub outputs: Vec<String>,
    pub deps: BTreeMap<String, Hex>,
    pub platform: String,
    /// The gate's exit-code map (`ok-codes`, `skip-codes`, `fail-codes`), canonical; empty
    /// when it declares none, which leaves the encoding (and so every such key) unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ToolId {
    pub name: String,
    pub path: String,
    /// `None` when the executable could not be read.
    pub digest: Option<Hex>,
    /// What the gate's `version` command printed (with its exit status when not 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    pub path: String,
    pub digest: Hex,
    pub executable: bool,
}

/// The platform part of every key.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

impl Material {
    /// The key: blake3 over a canonical, length-prefixed encoding (no separator ambiguity).
    pub fn key(&self) -> Digest {
        self.key_with(
            self.inputs
                .iter()
                .map(|i| (i.path.as_str(), &i.digest.0, i.executable)),
        )
    }

    /// The key with `inputs` in place of the material's own list (the same encoding).
    fn key_with<'a>(
        &self,
        inputs: impl ExactSizeIterator<Item = (&'a str, &'a Digest, bool)>,
    ) -> Digest {
        let mut h = Canon(blake3::Hasher::new());
        h.str("gate key");
        h.u64(u64::from(self.format));
        h.str(&self.gate);
        h.strs(&self.run);
        h.strs(&self.shell);
        h.str(&self.cwd);
        h.u64(self.env.len() as u64);
        for (name, value) in &self.env {
            h.str(name);
            h.str(value);
        }
        h.u64(self.hash_env.len() as u64);
        for (name, value) in &self.hash_env {
            h.str(name);
            h.digest(value.as_ref());
        }
        h.u64(self.tools.len() as u64);
        for tool in &self.tools {
            h.str(&tool.name);
            h.str(&tool.path);
            h.digest(tool.digest.as_ref());
            h.str(tool.version.as_deref().unwrap_or("\0none"));
        }
        h.u64(inputs.len() as u64);
        for (path, digest, executable) in inputs {
            h.str(path);
            h.0.update(digest.as_bytes());
            h.0.update(&[u8::from(executable)]);
        }
        h.strs(&self.outputs);
        h.u64(self.deps.len() as u64);
        for (name, key) in &self.deps {
            h.str(name);
            h.0.update(key.0.as_bytes());
        }
        h.str(&self.platform);
        if !self.exit_codes.is_empty() {
            h.str("exit codes");
            h.strs(&self.exit_codes);
        }
        h.0.finalize()
    }
}

struct Canon(blake3::Hasher);

impl Canon {
    fn u64(&mut self, value: u64) {
        self.0.update(&value.to_le_bytes());
    }
    fn str(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.0.update(text.as_bytes());
    }
    fn strs(&mut self, texts: &[String]) {
        self.u64(texts.len() as u64);
        for text in texts {
            self.str(text);
        }
    }
    fn digest(&mut self, digest: Option<&Hex>) {
        match digest {
            Some(digest) => {
                self.0.update(&[1]);
                self.0.update(digest.0.as_bytes());
            }
            None => {
                self.0.update(&[0]);
            }
        }
    }
}

/// A group's key: its members' keys, so a dependent of a group sees any member change.
pub fn group_key(name: &str, members: &BTreeMap<String, Digest>) -> Digest {
    let mut h = Canon(blake3::Hasher::new());
    h.str("gate group");
    h.u64(u64::from(KEY_FORMAT));
    h.str(name);
    h.u64(members.len() as u64);
    for (member, key) in members {
        h.str(member);
        h.0.update(key.as_bytes());
    }
    h.0.finalize()
}

/// A keyed gate: its key, and what it was made of: the material without its inputs, and the
/// input files with the state they were keyed under (for the read-only check after the run).
/// The full [`Material`] is only built when it is needed (a miss, `explain`).
#[derive(Debug, Clone)]
pub struct Keyed {
    pub key: Digest,
    base: Material,
    pub files: Vec<(Arc<str>, FileState)>,
}

impl Keyed {
    /// The material without its inputs (those are [`Keyed::files`]).
    pub fn base(&self) -> &Material {
        &self.base
    }

    pub fn material(&self) -> Material {
        let mut material = self.base.clone();
        material.inputs = self
            .files
            .iter()
            .map(|(path, state)| InputId {
                path: path.to_string(),
                digest: Hex(state.digest),
                executable: state.stat.executable(),
            })
            .collect();
        material
    }
}

type VersionMemo = (String, PathBuf, Vec<ToolId>);

/// What keys gates during a run: the walk and stat cache, and the compiled input specs.
#[derive(Debug)]
pub struct Keyer {
    index: Index,
    specs: HashMap<String, Spec>,
    outputs: Vec<Outputs>,
    /// `version` outputs by (command, cwd, tools), so each runs once per run.
    versions: Mutex<HashMap<VersionMemo, String>>,
    no_outputs: Outputs,
}

impl Keyer {
    /// Walks what the plan's gates read. `stat_cache` is the stat cache file; `skip` holds
    /// directories the walk must not enter (the cache directory when it is inside the root).
    pub fn new(
        root: &Path,
        plan: &Plan,
        all_outputs: &[Outputs],
        stat_cache: &Path,
        skip: &[PathBuf],
    ) -> Keyer {
        let specs: HashMap<String, Spec> = plan
            .steps
            .iter()
            .filter_map(|step| match &step.decision {
                Decision::Run(job) => Some((step.gate.clone(), Spec::new(&job.inputs))),
                _ => None,
            })
            .collect();
        let walked: Vec<&Spec> = specs.values().collect();
        Keyer {
            index: Index::new(root, stat_cache, &walked, skip),
            specs,
            outputs: all_outputs.to_vec(),
            versions: Mutex::new(HashMap::new()),
            no_outputs: Outputs::new("", &[]),
        }
    }

    /// Whether a gate's result may be stored and restored: `cache` on, not a fix gate, and
    /// some inputs declared.
    pub fn cacheable(&self, gate: &str, job: &Job) -> Result<(), &'static str> {
        if job.fix {
            Err("a `fix` gate always runs")
        } else if !job.cache {
            Err("`cache #false`")
        } else if self.specs.get(gate).is_none_or(Spec::is_empty) {
            Err("no `inputs` declared")
        } else {
            Ok(())
        }
    }

    /// Keys a gate now: resolves and hashes its inputs, identifies its tools. With `fresh`
    /// (something upstream ran in this run and may have written files), every input is
    /// stat'ed again instead of trusting the walk.
    pub fn key(
        &self,
        gate: &str,
        job: &Job,
        deps: &BTreeMap<String, Digest>,
        fresh: bool,
    ) -> Keyed {
        let empty = Spec::new(&[]);
        let spec = self.specs.get(gate).unwrap_or(&empty);
        let inputs = self.index.resolve(spec, &self.outputs, gate, fresh);
        let states = self.index.states(&inputs);
        let files: Vec<(Arc<str>, FileState)> = inputs
            .into_iter()
            .zip(states)
            .filter_map(|(input, state)| Some((input.path, state?)))
            .collect();
        let tools = self.tools(job);
        let hash_env = job
            .hash_env
            .iter()
            .map(|name| {
                let value = job.env.get(std::ffi::OsStr::new(name));
                let digest = value.map(|v| Hex(blake3::hash(v.as_encoded_bytes())));
                (name.clone(), digest)
            })
            .collect();
        let base = Material {
            format: KEY_FORMAT,
            gate: gate.to_owned(),
            run: job.run.clone(),
            shell: job.shell.clone(),
            cwd: job.relative_cwd.clone(),
            env: job.declared_env.clone(),
            hash_env,
            tools,
            inputs: Vec::new(),
            outputs: job.outputs.clone(),
            deps: deps.iter().map(|(n, k)| (n.clone(), Hex(*k))).collect(),
            platform: platform(),
            exit_codes: job.exit_codes.canonical(),
        };
        let key = base.key_with(
            files
                .iter()
                .map(|(path, state)| (&**path, &state.digest, state.stat.executable())),
        );
        Keyed { key, base, files }
    }

    fn tools(&self, job: &Job) -> Vec<ToolId> {
        let listed: Vec<Input> = job
            .tools
            .iter()
            .filter_map(|tool| {
                let meta = std::fs::metadata(&tool.path).ok()?;
                Some(Input::single(
                    &tool.path.to_string_lossy(),
                    inputs::Stat::of(&meta),
                ))
            })
            .collect();
        let states = self.index.states(&listed);
        let digests: HashMap<&str, Digest> = listed
            .iter()
            .zip(&states)
            .filter_map(|(input, state)| Some((&*input.path, state.as_ref()?.digest)))
            .collect();
        let mut tools: Vec<ToolId> = job
            .tools
            .iter()
            .map(|tool| {
                let path = tool.path.to_string_lossy().into_owned();
                // A tool in the checkout (a repo script) is named relative to the root, so
                // two checkouts of one commit share keys.
                let named = match tool.path.strip_prefix(self.index.root()) {
                    Ok(inside) => inside.to_string_lossy().into_owned(),
                    Err(_) => path.clone(),
                };
                ToolId {
                    name: tool.name.clone(),
                    digest: digests.get(path.as_str()).copied().map(Hex),
                    path: named,
                    version: None,
                }
            })
            .collect();
        if let Some(command) = &job.version {
            let output = self.version(command, job, &tools);
            match tools.first_mut() {
                Some(first) => first.version = Some(output),
                None => tools.push(ToolId {
                    name: command.clone(),
                    path: String::new(),
                    digest: None,
                    version: Some(output),
                }),
            }
        }
        tools
    }

    /// The output of a `version` command, run once per run for the same tools and directory.
    fn version(&self, command: &str, job: &Job, tools: &[ToolId]) -> String {
        let memo = (command.to_owned(), job.cwd.clone(), tools.to_vec());
        if let Some(known) = self
            .versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&memo)
        {
            return known.clone();
        }
        let output = run_version(command, job);
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(memo, output.clone());
        output
    }

    /// The input files whose content changed since `keyed` was taken (or that are gone):
    /// what a read-only gate must not do. The stat cache learns the new states either way.
    pub fn changed(&self, keyed: &Keyed) -> Vec<String> {
        let paths: Vec<&str> = keyed.files.iter().map(|(p, _)| &**p).collect();
        let now = self.index.restat(&paths);
        keyed
            .files
            .iter()
            .zip(now)
            .filter(|((_, before), after)| {
                after.is_none_or(|after| {
                    after.digest != before.digest
                        || after.stat.executable() != before.stat.executable()
                })
            })
            .map(|((path, _), _)| path.to_string())
            .collect()
    }

    /// A gate's declared outputs (none when it declares none).
    pub fn outputs_of(&self, gate: &str) -> &Outputs {
        self.outputs
            .iter()
            .find(|o| o.gate() == gate)
            .unwrap_or(&self.no_outputs)
    }

    /// Whether `path` is inside some gate's declared outputs (a generated file).
    pub fn generated(&self, path: &str) -> bool {
        self.outputs.iter().any(|o| o.allows(path))
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Saves the stat cache; errors are not worth failing a run for.
    pub fn save(&self) -> std::io::Result<()> {
        self.index.save()
    }
}

/// Runs a `version` command the way the gate's lines run (its shell, env and cwd) and gives
/// its output, trimmed, with the exit status appended when it failed.
fn run_version(command: &str, job: &Job) -> String {
    use std::process::Stdio;
    let Some(mut child) = job.command(command) else {
        return "error: the shell is empty".into();
    };
    let child = child.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return format!("error: cannot start `{command}`: {error}"),
    };
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < VERSION_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return format!("error: `{command}` did not finish in {VERSION_TIMEOUT:?}");
            }
        }
    }
    match child.wait_with_output() {
        Ok(output) => {
            let mut text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !stderr.trim().is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(stderr.trim());
            }
            if !output.status.success() {
                text.push_str(&format!(" (exit: {})", output.status));
            }
            text
        }
        Err(error) => format!("error: `{command}`: {error}"),
    }
}

/// One field of the material that differs between two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Format,
    Command,
    Shell,
    Cwd,
    Outputs,
    Platform,
    ExitCodes,
    InputsAdded(Vec<String>),
    InputsRemoved(Vec<String>),
    InputsChanged(Vec<String>),
    Env(Vec<String>),
    HashEnv(Vec<String>),
    Tool {
        name: String,
        what: Vec<&'static str>,
    },
    ToolsChanged,
    Deps(Vec<String>),
}

/// What changed from `old` to `new`, field by field, in the order of the material.
pub fn diff(old: &Material, new: &Material) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.format != new.format {
        changes.push(Change::Format);
    }
    if old.run != new.run {
        changes.push(Change::Command);
    }
    if old.shell != new.shell {
        changes.push(Change::Shell);
    }
    if old.cwd != new.cwd {
        changes.push(Change::Cwd);
    }
    let env = changed_names(&old.env, &new.env);
    if !env.is_empty() {
        changes.push(Change::Env(env));
    }
    let hash_env = changed_names(&old.hash_env, &new.hash_env);
    if !hash_env.is_empty() {
        changes.push(Change::HashEnv(hash_env));
    }
    if old.tools != new.tools {
        let old_tools: BTreeMap<&str, &ToolId> =
            old.tools.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut named = false;
        for tool in &new.tools {
            let Some(before) = old_tools.get(tool.name.as_str()) else {
                continue;
            };
            let mut what = Vec::new();
            if before.path != tool.path {
                what.push("path");
            }
            if before.digest != tool.digest {
                what.push("digest");
            }
            if before.version != tool.version {
                what.push("version");
            }
            if !what.is_empty() {
                named = true;
                changes.push(Change::Tool {
                    name: tool.name.clone(),
                    what,
                });
            }
        }
        if !named {
            changes.push(Change::ToolsChanged);
        }
    }
    let old_inputs: BTreeMap<&str, &InputId> =
        old.inputs.iter().map(|i| (i.path.as_str(), i)).collect();
    let new_inputs: BTreeMap<&str, &InputId> =
        new.inputs.iter().map(|i| (i.path.as_str(), i)).collect();
    let added: Vec<String> = new_inputs
        .keys()
        .filter(|p| !old_inputs.contains_key(*p))
        .map(|p| (*p).to_owned())
        .collect();
    let removed: Vec<String> = old_inputs
        .keys()
        .filter(|p| !new_inputs.contains_key(*p))
        .map(|p| (*p).to_owned())
        .collect();
    let modified: Vec<String> = new_inputs
        .iter()
        .filter(|(p, i)| old_inputs.get(*p).is_some_and(|o| o != *i))
        .map(|(p, _)| (*p).to_owned())
        .collect();
    for (list, change) in [
        (added, Change::InputsAdded as fn(Vec<String>) -> Change),
        (removed, Change::InputsRemoved),
        (modified, Change::InputsChanged),
    ] {
        if !list.is_empty() {
            changes.push(change(list));
        }
    }
    if old.outputs != new.outputs {
        changes.push(Change::Outputs);
    }
    let deps = changed_names(&old.deps, &new.deps);
    if !deps.is_empty() {
        changes.push(Change::Deps(deps));
    }
    if old.platform != new.platform {
        changes.push(Change::Platform);
    }
    if old.exit_codes != new.exit_codes {
        changes.push(Change::ExitCodes);
    }
    changes
}

/// Names whose value differs, including names present on one side only.
fn changed_names<V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) -> Vec<String> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|name| old.get(*name) != new.get(*name))
        .cloned()
        .collect()
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Format => write!(f, "gate's key format changed"),
            Change::Command => write!(f, "command changed"),
            Change::Shell => write!(f, "shell changed"),
            Change::Cwd => write!(f, "cwd changed"),
            Change::Outputs => write!(f, "outputs declaration changed"),
            Change::Platform => write!(f, "platform changed"),
            Change::ExitCodes => write!(f, "exit-code map changed"),
            Change::InputsAdded(paths) => write!(f, "input added: {}", few(paths)),
            Change::InputsRemoved(paths) => write!(f, "input removed: {}", few(paths)),
            Change::InputsChanged(paths) => write!(f, "input changed: {}", few(paths)),
            Change::Env(names) => write!(f, "env changed: {}", names.join(", ")),
            Change::HashEnv(names) => write!(f, "hash-env value changed: {}", names.join(", ")),
            Change::Tool { name, what } => write!(f, "tool {name}: {} changed", what.join(", ")),
            Change::ToolsChanged => write!(f, "required tools changed"),
            Change::Deps(names) => write!(f, "dependency changed: {}", names.join(", ")),
        }
    }
}

/// `a, b, c (+4 more)`.
fn few(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" (+{} more)", paths.len() - SHOWN));
    }
    text
}

/// The one-line reason for a rerun: the first two changes.
pub fn summary(changes: &[Change]) -> String {
    let mut parts: Vec<String> = changes.iter().take(2).map(Change::to_string).collect();
    if changes.len() > 2 {
        parts.push(format!("+{} more changes", changes.len() - 2));
    }
    parts.join("; ")
}

/// Why a gate runs rather than being restored, in one line: what is not cacheable about it,
/// or what changed since its last run (from the material saved then).
pub fn why(
    last: Option<&Saved>,
    material: &Material,
    key: &Digest,
    cacheable: Result<(), &'static str>,
    read_cache: bool,
) -> String {
    if let Err(reason) = cacheable {
        return format!("never cached: {reason}");
    }
    if !read_cache {
        return "--no-cache".into();
    }
    match last {
        None => "no previous run".into(),
        Some(saved) if saved.key.0 == *key => match saved.status.as_str() {
            "passed" | "cached" => {
                "no cache entry for this key (pruned, cleaned or damaged)".into()
            }
            status => format!("the last run with this key {status} (only passes are cached)"),
        },
        Some(saved) => {
            let changes = diff(&saved.material, material);
            match changes.is_empty() {
                true => "key changed".into(),
                false => summary(&changes),
            }
        }
    }
}

/// What `.gate/keys/<gate>.json` holds: the last run's key, status and material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub key: Hex,
    pub status: String,
    pub material: Material,
}

fn saved_path(keys: &Path, gate: &str, extension: &str) -> PathBuf {
    keys.join(format!("{gate}.{extension}"))
}

/// The last key and status recorded for `gate` (cheap: a one-line file).
pub fn last(keys: &Path, gate: &str) -> Option<Last> {
    let text = std::fs::read_to_string(saved_path(keys, gate, "key")).ok()?;
    let mut words = text.split_whitespace();
    let key = Digest::from_hex(words.next()?).ok()?;
    let status = words.next()?.to_owned();
    let size = words.next()?.parse().ok()?;
    let modified = words.next()?.parse().ok()?;
    let digest = Digest::from_hex(words.next()?).ok()?;
    Some(Last {
        key,
        status,
        size,
        modified,
        digest,
    })
}

/// The one-line record of a gate's last run: its key and status, and the size, mtime and
/// digest of the material file beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    pub key: Digest,
    pub status: String,
    size: u64,
    modified: i64,
    digest: Digest,
}

impl Last {
    /// Whether the material file is as written: same size and mtime (a stat, where reading
    /// and hashing every gate's material on every run would cost more than the run; `load`
    /// checks the digest).
    pub fn intact(&self, keys: &Path, gate: &str) -> bool {
        std::fs::metadata(saved_path(keys, gate, "json"))
            .is_ok_and(|m| m.len() == self.size && inputs::Stat::of(&m).mtime_ns == self.modified)
    }
}

/// The last run's full record, for explaining; `None` when absent, or when it does not match
/// the digest its `.key` line names (damaged).
pub fn load(keys: &Path, gate: &str) -> Option<Saved> {
    let last = last(keys, gate)?;
    let bytes = std::fs::read(saved_path(keys, gate, "json")).ok()?;
    if blake3::hash(&bytes) != last.digest {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// Records a gate's key, status and material (atomically; the `.key` file last, so it never
/// names a material that is not there).
pub fn save(keys: &Path, gate: &str, saved: &Saved) -> std::io::Result<()> {
    std::fs::create_dir_all(keys)?;
    let json = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    let path = saved_path(keys, gate, "json");
    atomic_write(&path, &json)?;
    let modified = inputs::Stat::of(&std::fs::metadata(&path)?).mtime_ns;
    let line = format!(
        "{} {} {} {modified} {}\n",
        saved.key,
        saved.status,
        json.len(),
        blake3::hash(&json).to_hex()
    );
    atomic_write(&saved_path(keys, gate, "key"), line.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// a reader sees the old content or the new, never a part.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(inputs::readable())
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material() -> Material {
        Material {
            format: KEY_FORMAT,
            gate: "lint".into(),
            run: vec!["ruff check".into()],
            shell: vec!["sh".into(), "-c".into()],
            cwd: String::new(),
            env: BTreeMap::from([("A".into(), "1".into())]),
            hash_env: BTreeMap::new(),
            tools: Vec::new(),
            inputs: vec![InputId {
                path: "a.py".into(),
                digest: Hex(blake3::hash(b"a")),
                executable: false,
            }],
            outputs: Vec::new(),
            deps: BTreeMap::new(),
            platform: platform(),
            exit_codes: Vec::new(),
        }
    }

    #[test]
    fn every_field_moves_the_key() {
        let base = material();
        let mut variants = Vec::new();
        let mut m = base.clone();
        m.run = vec!["ruff check .".into()];
        variants.push(m);
        let mut m = base.clone();
        m.run = vec!["ruff".into(), "check".into()];
        variants.push(m);
        let mut m = base.clone();
        m.env.insert("A".into(), "2".into());
        variants.push(m);
        let mut m = base.clone();
        m.inputs[0].executable = true;
        variants.push(m);
        let mut m = base.clone();
        m.inputs[0].digest = Hex(blake3::hash(b"b"));
        variants.push(m);
        let mut m = base.clone();
        m.deps.insert("x".into(), Hex(blake3::hash(b"")));
        variants.push(m);
        let mut m = base.clone();
        m.hash_env.insert("H".into(), None);
        variants.push(m);
        let mut m = base.clone();
        m.cwd = "sub".into();
        variants.push(m);
        let mut m = base.clone();
        m.exit_codes = vec!["ok 0 5".into()];
        variants.push(m);
        let mut m = base.clone();
        m.exit_codes = vec!["ok 0 5".into(), "skip 3".into()];
        variants.push(m);
        let mut keys: Vec<Digest> = variants.iter().map(Material::key).collect();
        keys.push(base.key());
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        assert_eq!(base.key(), base.clone().key(), "deterministic");
    }

    #[test]
    fn diff_names_what_changed() {
        let old = material();
        let mut new = material();
        new.inputs.push(InputId {
            path: "b.py".into(),
            digest: Hex(blake3::hash(b"b")),
            executable: false,
        });
        new.inputs[0].digest = Hex(blake3::hash(b"changed"));
        new.env.insert("A".into(), "2".into());
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change::Env(vec!["A".into()]),
                Change::InputsAdded(vec!["b.py".into()]),
                Change::InputsChanged(vec!["a.py".into()]),
            ]
        );
        assert_eq!(
            summary(&changes),
            "env changed: A; input added: b.py; +1 more changes"
        );
    }
}
