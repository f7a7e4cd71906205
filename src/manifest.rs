//! manifest: a run's outcomes → its provenance record, `.gate/runs/<run>/manifest.json`.
//!
//! The record is canonical JSON (object keys sorted, lists sorted, integers only) and carries
//! a blake3 digest of itself. It separates what the run established, `result` (per gate: the
//! outcome, key, inputs digest, outputs, exit code), from how it got there (`run`,
//! `execution`: timings, cache hits, the run that produced a restored result). The result
//! depends only on the keys and what the gates did with them, so two runs of the same tree
//! with the same tools agree on `result_digest` whether their gates ran or were restored.
//! `previous` holds the digest of the manifest written before it in the same state
//! directory: runs form a hash chain. Nothing secret is written: environment values appear
//! only for variables declared with `env` (which are in gates.kdl anyway); `pass-env` names
//! only, `hash-env` names with the digest of the value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exec::{Lookup, Status};
use crate::graph::Graph;
use crate::inputs::FileState;
use crate::key::{self, Hex, KEY_FORMAT, atomic_write};
use crate::schedule::Run;

/// Bumped when a field changes meaning or is removed; adding a field is a new version too,
/// since the schema rejects unknown fields.
pub const SCHEMA_VERSION: u32 = 1;

/// The schema every manifest validates against (draft 2020-12).
pub const SCHEMA: &str = include_str!("../schemas/manifest.schema.json");

/// Run directories kept under `.gate/runs`; older ones are removed (the chain then ends at
/// the oldest kept run).
pub const KEPT_RUNS: usize = 50;

/// Where run records live, under the state directory.
pub const RUNS_DIR: &str = "runs";

/// The link to the newest run, under [`RUNS_DIR`].
pub const LATEST: &str = "latest";

/// Content-addressed input lists, under [`RUNS_DIR`].
pub const INPUTS_DIR: &str = "inputs";

/// One run's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: u32,
    /// blake3 of the canonical compact JSON of this manifest without this field.
    pub digest: Hex,
    /// blake3 of the canonical compact JSON of `result`.
    pub result_digest: Hex,
    pub result: RunResult,
    pub producer: Producer,
    pub run: RunInfo,
    pub invocation: Invocation,
    pub source: Source,
    /// The manifest written before this one in the same state directory.
    pub previous: Option<Link>,
    /// How each gate's result came about, by gate name.
    pub execution: BTreeMap<String, Execution>,
}

/// What the run established: reproducible from the keys alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// `passed`, `failed` or `cancelled` (interrupted).
    pub outcome: String,
    pub gates: BTreeMap<String, GateResult>,
    /// Every tool a keyed gate resolved, sorted by name then path.
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// `passed` (also when restored from the cache), `failed`, `skipped`, `blocked`,
    /// `timed-out` or `cancelled`.
    pub outcome: String,
    /// Why it did not pass, in words.
    pub reason: Option<String>,
    /// A group has no commands of its own.
    pub group: bool,
    pub optional: bool,
    pub deps: Vec<String>,
    pub key: Option<Hex>,
    /// The exit code of the last command (0 for a pass).
    pub exit: Option<i32>,
    pub inputs: Option<Inputs>,
    pub outputs: Vec<Output>,
    /// Names of the tools it requires (see `result.tools`).
    pub tools: Vec<String>,
    /// `env` variables with their values (global and the gate's own).
    pub env: BTreeMap<String, String>,
    /// `pass-env` variables, by name only.
    pub pass_env: Vec<String>,
    /// `hash-env` variables with the digest of their value (`null`: unset).
    pub hash_env: BTreeMap<String, Option<Hex>>,
    /// What the gate's `facts` file held (a pass or a restore of a gate that declares one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<BTreeMap<String, serde_json::Value>>,
}

/// A gate's inputs: how many, and the blake3 of their canonical list, which is kept in
/// `.gate/runs/inputs/<digest>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub count: u64,
    pub digest: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub path: String,
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    pub blake3: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    /// Relative to the root when inside it, else absolute.
    pub path: String,
    pub blake3: Option<Hex>,
    /// The output of the gate's `version` command, when it declares one.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    pub name: String,
    pub version: String,
    pub key_format: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Sortable and unique: `20261122T031500.123Z-1a2b3c`.
    pub id: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    pub duration_ms: u64,
    pub host: String,
    /// `os-arch`, as in the keys.
    pub platform: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    pub command: String,
    /// As given on the command line (empty: the default target).
    pub targets: Vec<String>,
    pub tags: Vec<String>,
    /// The gates the selection came to, dependencies included, sorted.
    pub selected: Vec<String>,
    /// `--var` overrides.
    pub vars: BTreeMap<String, String>,
    pub strict: bool,
    pub fail_fast: bool,
    pub no_cache: bool,
    pub jobs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// blake3 of the canonical gates.kdl (`gate graph --format kdl`).
    pub graph: Hex,
    /// The graph's files, includes followed, sorted by path.
    pub files: Vec<SourceFile>,
    pub git: Option<Git>,
    /// The commit's time, for reproducible builds.
    pub source_date_epoch: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub path: String,
    pub blake3: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Git {
    pub commit: String,
    /// `null` on a detached HEAD.
    pub branch: Option<String>,
    /// Changes to tracked files, or untracked files that are not ignored, when the run began.
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub run: String,
    pub digest: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// The status word as printed: `cached` for a restore.
    pub status: String,
    /// `hit`, `miss`, or `off` (not cacheable, not run, or `--no-cache`).
    pub cache: String,
    /// For a hit: the run that stored the result, when known.
    pub produced_by: Option<String>,
    /// Since the run started.
    pub started_ms: u64,
    pub duration_ms: u64,
    pub log: Option<Log>,
    /// Warnings that did not change the status.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub blake3: Hex,
    pub size: u64,
}

/// What [`build`] needs besides the outcomes.
pub struct Context<'a> {
    pub id: String,
    pub started: SystemTime,
    pub graph: &'a Graph,
    pub invocation: Invocation,
    pub sources: Vec<SourceFile>,
    pub git: Option<(Git, Option<i64>)>,
    pub strict: bool,
    pub interrupted: bool,
    /// The state directory, where input lists are kept (and looked up by key).
    pub state: PathBuf,
}

/// A manifest, sealed but not yet linked or written, and the input lists it refers to.
pub struct Record {
    pub manifest: Manifest,
    /// New input lists: their digest, bytes, and the key they belong to.
    sidecars: Vec<(Hex, Vec<u8>, Hex)>,
}

/// Builds the record of a finished run.
pub fn build(context: &Context, run: &Run) -> Record {
    let mut gates = BTreeMap::new();
    let mut execution = BTreeMap::new();
    let mut tools = BTreeSet::new();
    let mut sidecars = Vec::new();
    let lists = context.state.join(RUNS_DIR).join(INPUTS_DIR);
    for outcome in &run.outcomes {
        let gate = context.graph.gate(&outcome.gate);
        let base = outcome.keyed.as_ref().map(|k| k.base());
        let inputs = outcome.keyed.as_ref().map(|keyed| {
            let count = keyed.files.len() as u64;
            // The key fixes the list (it is made of it): a list already kept for this key
            // is not built again, which on a no-op run over 50 000 files saves ~25 ms.
            if let Some(digest) = remembered(&lists, &Hex(keyed.key)) {
                return Inputs { count, digest };
            }
            let list = input_list(&keyed.files);
            let digest = Hex(blake3::hash(&list));
            sidecars.push((digest, list, Hex(keyed.key)));
            Inputs { count, digest }
        });
        for tool in base.iter().flat_map(|b| &b.tools) {
            tools.insert(Tool {
                name: tool.name.clone(),
                path: tool.path.clone(),
                blake3: tool.digest,
                version: tool.version.clone(),
            });
        }
        let outcome_word = match outcome.status {
            Status::Cached => "passed",
            ref status => status.word(),
        };
        let passed = matches!(outcome.status, Status::Passed | Status::Cached);
        gates.insert(
            outcome.gate.clone(),
            GateResult {
                outcome: outcome_word.to_owned(),
                reason: outcome.status.reason(),
                group: gate.is_group(),
                optional: outcome.optional,
                deps: context.graph.deps[&outcome.gate].clone(),
                key: outcome.key.map(Hex),
                exit: outcome.exit,
                inputs,
                outputs: outcome
                    .outputs
                    .iter()
                    .filter(|_| passed)
                    .map(|o| Output {
                        path: o.path.clone(),
                        size: o.size,
                        mode: o.mode,
                        blake3: o.digest,
                    })
                    .collect(),
                tools: sorted(gate.requires.iter().cloned()),
                env: gate.env.clone(),
                pass_env: sorted(gate.pass_env.iter().cloned()),
                hash_env: gate
                    .hash_env
                    .iter()
                    .map(|name| {
                        let digest = base.and_then(|b| b.hash_env.get(name).copied().flatten());
                        (name.clone(), digest)
                    })
                    .collect(),
                facts: outcome.facts.clone().filter(|_| passed),
            },
        );
        execution.insert(
            outcome.gate.clone(),
            Execution {
                status: outcome.status.word().to_owned(),
                cache: match outcome.lookup {
                    Lookup::Hit => "hit",
                    Lookup::Miss => "miss",
                    Lookup::NotAsked => "off",
                }
                .to_owned(),
                produced_by: outcome.producer.clone(),
                started_ms: millis(outcome.started),
                duration_ms: millis(outcome.duration),
                log: outcome.log_digest.as_ref().map(|blob| Log {
                    blake3: blob.digest,
                    size: blob.size,
                }),
                notes: outcome.notes.clone(),
            },
        );
    }
    let outcome = if context.interrupted {
        "cancelled"
    } else if run.failed(context.strict) {
        "failed"
    } else {
        "passed"
    };
    let finished = SystemTime::now();
    let (git, source_date_epoch) = match &context.git {
        Some((git, epoch)) => (Some(git.clone()), *epoch),
        None => (None, None),
    };
    let mut sources = context.sources.clone();
    sources.sort();
    let mut manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        digest: Hex(blake3::Hash::from_bytes([0; 32])),
        result_digest: Hex(blake3::Hash::from_bytes([0; 32])),
        result: RunResult {
            outcome: outcome.to_owned(),
            gates,
            tools: tools.into_iter().collect(),
        },
        producer: Producer {
            name: "gate".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            key_format: KEY_FORMAT,
        },
        run: RunInfo {
            id: context.id.clone(),
            started: rfc3339(context.started),
            finished: rfc3339(finished),
            duration_ms: millis(finished.duration_since(context.started).unwrap_or_default()),
            host: host(),
            platform: key::platform(),
        },
        invocation: context.invocation.clone(),
        source: Source {
            graph: Hex(blake3::hash(
                crate::graph::canonical(context.graph).as_bytes(),
            )),
            files: sources,
            git,
            source_date_epoch,
        },
        previous: None,
        execution,
    };
    seal(&mut manifest);
    Record { manifest, sidecars }
}

fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort();
    items.dedup();
    items
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The canonical list of a gate's inputs: a JSON array of `{"digest", "executable", "path"}`
/// objects sorted by path, compact. Its blake3 is the gate's inputs digest.
fn input_list(files: &[(Arc<str>, FileState)]) -> Vec<u8> {
    let mut sorted: Vec<&(Arc<str>, FileState)> = files.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(files.len() * 120 + 2);
    out.push(b'[');
    for (i, (path, state)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"digest\":\"");
        out.extend_from_slice(state.digest.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"executable\":");
        out.extend_from_slice(if state.stat.executable() {
            b"true"
        } else {
            b"false"
        });
        out.extend_from_slice(b",\"path\":");
        serde_json::to_writer(&mut out, &**path).expect("a string serialises");
        out.push(b'}');
    }
    out.push(b']');
    out
}

/// Input lists by gate key, under [`INPUTS_DIR`]: `keys/<key>` holds the list's digest.
const KEYS_DIR: &str = "keys";

/// The digest of the list kept for `key`, when there is one and the list is still kept.
fn remembered(lists: &Path, key: &Hex) -> Option<Hex> {
    let text = std::fs::read_to_string(lists.join(KEYS_DIR).join(key.to_string())).ok()?;
    let digest = Hex(blake3::Hash::from_hex(text.trim_end()).ok()?);
    lists
        .join(format!("{digest}.json"))
        .is_file()
        .then_some(digest)
}

/// Fills in `result_digest` and `digest`.
pub fn seal(manifest: &mut Manifest) {
    let result = serde_json::to_value(&manifest.result).expect("the result serialises");
    manifest.result_digest = Hex(blake3::hash(canonical(&result, false).as_bytes()));
    let whole = serde_json::to_value(&*manifest).expect("a manifest serialises");
    manifest.digest = digest_of(&whole);
}

/// The digest a manifest's JSON should carry: blake3 of its canonical compact form without
/// the top-level `digest` member.
pub fn digest_of(value: &Value) -> Hex {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        map.remove("digest");
    }
    Hex(blake3::hash(canonical(&value, false).as_bytes()))
}

/// Canonical JSON: object members sorted by the UTF-8 bytes of their names, strings escaped
/// as serde_json escapes them. Compact has no whitespace at all; pretty indents by two
/// spaces, one member or element per line (the form manifests are written in).
pub fn canonical(value: &Value, pretty: bool) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value, pretty, 0);
    out
}

fn write_canonical(out: &mut String, value: &Value, pretty: bool, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        if pretty {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", depth));
        }
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_canonical(out, item, pretty, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&serde_json::to_string(name).expect("a string serialises"));
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                write_canonical(out, item, pretty, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).expect("JSON serialises")),
    }
}

/// The bytes of a manifest file: canonical pretty JSON and a final newline.
pub fn render(manifest: &Manifest) -> String {
    let value = serde_json::to_value(manifest).expect("a manifest serialises");
    let mut text = canonical(&value, true);
    text.push('\n');
    text
}

/// Where a record went.
#[derive(Debug)]
pub struct Written {
    pub manifest: Manifest,
    pub path: PathBuf,
    /// Problems that did not stop the write (an unreadable previous manifest).
    pub notes: Vec<String>,
}

/// How much of a failed gate's log a run directory keeps: its end, where the error is.
pub const LOG_TAIL: u64 = 64 * 1024;

/// Links the record to the newest manifest of `state`, writes it to
/// `state/runs/<id>/manifest.json` (and to `extra`), points `state/runs/latest` at it, keeps
/// the input lists it refers to and the tails of failed gates' logs (`logs`: gate and log
/// path, kept as `runs/<id>/logs/<gate>.log`, since `.gate/logs` is overwritten by the next
/// run), and trims old runs. Every file is written atomically.
pub fn write(
    state: &Path,
    record: Record,
    extra: Option<&Path>,
    logs: &[(String, PathBuf)],
) -> Result<Written, String> {
    let Record {
        mut manifest,
        sidecars,
    } = record;
    let runs = state.join(RUNS_DIR);
    let mut notes = Vec::new();
    let dir = runs.join(&manifest.run.id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let inputs = runs.join(INPUTS_DIR);
    if !sidecars.is_empty() {
        std::fs::create_dir_all(&inputs)
            .map_err(|e| format!("cannot create {}: {e}", inputs.display()))?;
    }
    for (digest, list, key) in &sidecars {
        let path = inputs.join(format!("{digest}.json"));
        let present = std::fs::metadata(&path).is_ok_and(|m| m.len() == list.len() as u64);
        if !present {
            atomic_write(&path, list)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        // Only a convenience: a memo that cannot be written is built again next time.
        let memo = inputs.join(KEYS_DIR);
        let _ = std::fs::create_dir_all(&memo).and_then(|()| {
            atomic_write(
                &memo.join(key.to_string()),
                format!("{digest}\n").as_bytes(),
            )
        });
    }
    for (gate, log) in logs {
        if let Err(error) = keep_tail(log, &dir.join("logs").join(format!("{gate}.log"))) {
            notes.push(format!("cannot keep the log of {gate}: {error}"));
        }
    }
    match previous(&runs) {
        Ok(link) => manifest.previous = link,
        Err(problem) => notes.push(format!("{problem}; this run starts a new chain")),
    }
    seal(&mut manifest);
    let text = render(&manifest);
    let path = dir.join("manifest.json");
    atomic_write(&path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    point_latest(&runs, &manifest.run.id)
        .map_err(|e| format!("cannot update {}: {e}", runs.join(LATEST).display()))?;
    if let Some(extra) = extra {
        if let Some(parent) = extra.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        atomic_write(extra, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", extra.display()))?;
    }
    trim(&runs);
    Ok(Written {
        manifest,
        path,
        notes,
    })
}

/// Copies the last [`LOG_TAIL`] bytes of `log` to `to`.
fn keep_tail(log: &Path, to: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log)?;
    let size = file.metadata()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(LOG_TAIL)))?;
    let mut tail = Vec::new();
    file.take(LOG_TAIL).read_to_end(&mut tail)?;
    std::fs::create_dir_all(to.parent().unwrap_or(Path::new(".")))?;
    atomic_write(to, &tail)
}

/// The link to the newest manifest under `runs`, with its digest recomputed from its content
/// (a manifest whose stated digest is wrong must not be vouched for by its successor).
fn previous(runs: &Path) -> Result<Option<Link>, String> {
    let path = runs.join(LATEST).join("manifest.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the previous manifest {} is damaged ({e})", path.display()))?;
    let digest = digest_of(&value);
    let stated = value.get("digest").and_then(Value::as_str);
    let run = value
        .pointer("/run/id")
        .and_then(Value::as_str)
        .filter(|id| valid_run_id(id));
    match (run, stated) {
        (Some(run), Some(stated)) if stated == digest.to_string() => Ok(Some(Link {
            run: run.to_owned(),
            digest,
        })),
        _ => Err(format!(
            "the previous manifest {} does not match its digest",
            path.display()
        )),
    }
}

/// Points `runs/latest` at `id` (a relative symlink, replaced atomically).
fn point_latest(runs: &Path, id: &str) -> std::io::Result<()> {
    let temp = runs.join(format!(".tmp-latest-{id}"));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(id, &temp)?;
    std::fs::rename(&temp, runs.join(LATEST))
}

/// The run ids under `runs`, oldest first.
pub fn run_ids(runs: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(runs)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| valid_run_id(name))
        .collect();
    ids.sort();
    ids
}

/// Removes the oldest runs beyond [`KEPT_RUNS`] (in batches, so most runs do no work here)
/// and the input lists no kept manifest refers to.
fn trim(runs: &Path) {
    let ids = run_ids(runs);
    if ids.len() <= KEPT_RUNS + KEPT_RUNS / 5 {
        return;
    }
    let (old, kept) = ids.split_at(ids.len() - KEPT_RUNS);
    for id in old {
        let _ = std::fs::remove_dir_all(runs.join(id));
    }
    let mut referenced = BTreeSet::new();
    for id in kept {
        let Ok(bytes) = std::fs::read(runs.join(id).join("manifest.json")) else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
            // Unreadable: keep every list rather than guess what it needs.
            return;
        };
        referenced.extend(
            manifest
                .result
                .gates
                .values()
                .filter_map(|g| Some(format!("{}.json", g.inputs.as_ref()?.digest))),
        );
    }
    let lists = runs.join(INPUTS_DIR);
    let entries = |dir: &Path| -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .collect()
    };
    for entry in entries(&lists) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !referenced.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for entry in entries(&lists.join(KEYS_DIR)) {
        let digest = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if !referenced.contains(&format!("{}.json", digest.trim_end())) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A new run id: the UTC time to the millisecond, sortable, and six hex digits that tell
/// apart runs started in the same millisecond.
pub fn run_id(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(since);
    let noise = blake3::hash(format!("{}-{}", since.as_nanos(), std::process::id()).as_bytes());
    format!(
        "{}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{}",
        date.0,
        date.1,
        date.2,
        time.0,
        time.1,
        time.2,
        since.subsec_millis(),
        &noise.to_hex()[..6]
    )
}

/// Whether `text` has the shape [`run_id`] gives (so nothing else under `runs/` is taken
/// for a run, and a manifest cannot name a path outside it).
pub fn valid_run_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 27
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 => *b == b'T',
            15 => *b == b'.',
            19 => *b == b'Z',
            20 => *b == b'-',
            21.. => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
            _ => b.is_ascii_digit(),
        })
}

/// RFC 3339 in UTC to the millisecond: `2026-11-22T03:15:00.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ((y, mo, d), (h, mi, s)) = civil(since);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        since.subsec_millis()
    )
}

type Date = (i64, u32, u32);
type Time = (u64, u64, u64);

/// The UTC calendar date and time of a duration since the epoch (Howard Hinnant's
/// days-to-civil algorithm).
fn civil(since: Duration) -> (Date, Time) {
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    ((year, month, day), (rest / 3600, rest / 60 % 60, rest % 60))
}

/// This machine's host name.
fn host() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let done = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    if !done {
        return String::new();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// What git says about the work tree before the run: read on a thread while the inputs are
/// walked, and settled into a [`Git`] by [`git_state`] once the run's own stats are known.
#[derive(Debug)]
pub struct Probe {
    commit: String,
    time: Option<i64>,
    branch: Option<String>,
    /// The index differs from HEAD.
    staged: bool,
    /// When the index file was written, in seconds: an entry modified in that second or
    /// later is "racily clean" and its stat data proves nothing.
    index_written: i64,
    /// The index entries under the root (paths relative to it), with their stat data.
    tracked: Vec<Tracked>,
}

#[derive(Debug)]
struct Tracked {
    path: String,
    /// Seconds and nanoseconds, as the index keeps them (32 bits each).
    ctime: (u32, u32),
    mtime: (u32, u32),
    dev: u32,
    ino: u32,
    size: u32,
}

/// Runs git in `root` without taking its index lock (the user may be running git at the same
/// time); `None` when it fails.
fn run_git(root: &Path, args: &[&str]) -> Option<std::process::Output> {
    std::process::Command::new("git")
        .args(["--no-optional-locks", "--literal-pathspecs"])
        .args(args)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
}

fn git_text(root: &Path, args: &[&str]) -> Option<String> {
    let output = run_git(root, args)?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    })
}

/// Reads HEAD, the branch, whether the index differs from HEAD, and the index's entries.
/// `None` outside a git work tree with a commit, or without git.
///
/// `git status` would answer "dirty?" too, but it lstat()s every tracked file and walks the
/// tree for untracked ones: on 50 000 files that is ~100 ms, as much as gate's whole no-op
/// run. The run has already stat'ed its inputs, so [`git_state`] compares those stats with
/// the index's and asks git only about the files whose stats disagree.
pub fn probe(root: &Path) -> Option<Probe> {
    let head = git_text(root, &["log", "-1", "--format=%H %ct"])?;
    let (commit, time) = head.split_once(' ')?;
    let branch =
        git_text(root, &["symbolic-ref", "--short", "-q", "HEAD"]).filter(|b| !b.is_empty());
    let staged = run_git(root, &["diff-index", "--cached", "--quiet", "HEAD", "--"])
        .is_none_or(|o| !o.status.success());
    let index = git_text(root, &["rev-parse", "--git-path", "index"])?;
    let index_written = std::fs::metadata(root.join(index))
        .map(|m| std::os::unix::fs::MetadataExt::mtime(&m))
        .unwrap_or(i64::MAX);
    let listed = run_git(root, &["ls-files", "--stage", "--debug", "-z"])?;
    if !listed.status.success() {
        return None;
    }
    Some(Probe {
        commit: commit.to_owned(),
        time: time.parse().ok(),
        branch,
        staged,
        index_written,
        tracked: parse_ls_files(&listed.stdout)?,
    })
}

/// Parses `git ls-files --stage --debug -z`: per entry `MODE OID STAGE\tPATH\0` and five
/// lines of stat data. Submodules (mode 160000) are left out: their content is not here.
fn parse_ls_files(bytes: &[u8]) -> Option<Vec<Tracked>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut tracked = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (header, after) = rest.split_once('\0')?;
        let (meta, path) = header.split_once('\t')?;
        let mut lines = after.splitn(6, '\n');
        let mut numbers = || -> Vec<u64> {
            lines
                .next()
                .unwrap_or("")
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .filter_map(|part| part.parse().ok())
                .collect()
        };
        let (ctime, mtime, dev_ino, _uid_gid, size_flags) =
            (numbers(), numbers(), numbers(), numbers(), numbers());
        rest = lines.next().unwrap_or("");
        let (&[cs, cn], &[ms, mn], &[dev, ino], Some(&size)) = (
            ctime.as_slice(),
            mtime.as_slice(),
            dev_ino.as_slice(),
            size_flags.first(),
        ) else {
            return None;
        };
        if !meta.starts_with("160000") {
            tracked.push(Tracked {
                path: path.to_owned(),
                ctime: (cs as u32, cn as u32),
                mtime: (ms as u32, mn as u32),
                dev: dev as u32,
                ino: ino as u32,
                size: size as u32,
            });
        }
    }
    Some(tracked)
}

/// Settles the probe: the tree is dirty when the index differs from HEAD, when a tracked
/// file under the root differs from the index (its stat, from the run's walk or an lstat,
/// disagrees with the index's, and git confirms the content differs), or when a file the run
/// read is not tracked (files inside a gate's declared outputs aside: they are generated).
/// `walked` is the run's walk, sorted by path as git sorts its index; `outside` the files it
/// read outside the walk; `generated` says whether a path is inside declared outputs.
pub fn git_state(
    root: &Path,
    probe: Probe,
    walked: &[crate::inputs::Walked],
    outside: &[String],
    run: &Run,
    generated: &dyn Fn(&str) -> bool,
) -> (Git, Option<i64>) {
    let mut suspects: Vec<&str> = Vec::new();
    let mut untracked: Vec<&str> = Vec::new();
    let mut walk = walked.iter().peekable();
    for entry in &probe.tracked {
        let mut stat = None;
        while let Some((path, found)) = walk.peek() {
            match (**path).cmp(entry.path.as_str()) {
                std::cmp::Ordering::Less => untracked.push(path),
                std::cmp::Ordering::Equal => stat = Some(*found),
                std::cmp::Ordering::Greater => break,
            }
            walk.next();
            if stat.is_some() {
                break;
            }
        }
        let stat = stat.unwrap_or_else(|| {
            std::fs::symlink_metadata(root.join(&entry.path))
                .ok()
                .map(|m| crate::inputs::Stat::of(&m))
        });
        if stat.is_none_or(|stat| !matches(entry, &stat, probe.index_written)) {
            suspects.push(&entry.path);
        }
    }
    untracked.extend(walk.map(|(path, _)| &**path));
    let tracked = |path: &str| {
        probe
            .tracked
            .binary_search_by(|entry| entry.path.as_str().cmp(path))
            .is_ok()
    };
    untracked.extend(outside.iter().map(String::as_str).filter(|p| !tracked(p)));
    untracked.retain(|path| !generated(path));
    let untracked_input = !untracked.is_empty() && read_by_a_gate(run, &untracked);
    let dirty = probe.staged || untracked_input || changed(root, &suspects);
    (
        Git {
            commit: probe.commit,
            branch: probe.branch,
            dirty,
        },
        probe.time,
    )
}

/// Whether some gate of the run was keyed on one of `paths` (a few).
fn read_by_a_gate(run: &Run, paths: &[&str]) -> bool {
    let wanted: BTreeSet<&str> = paths.iter().copied().collect();
    run.outcomes
        .iter()
        .filter_map(|o| o.keyed.as_deref())
        .flat_map(|keyed| keyed.files.iter())
        .any(|(path, _)| wanted.contains(&**path))
}

/// Whether a file's stat is the one the index recorded (git's own test, on the 32-bit
/// fields the index keeps), and not racily clean.
fn matches(entry: &Tracked, stat: &crate::inputs::Stat, index_written: i64) -> bool {
    let split = |ns: i64| {
        (
            ns.div_euclid(1_000_000_000) as u32,
            ns.rem_euclid(1_000_000_000) as u32,
        )
    };
    let mtime = split(stat.mtime_ns);
    mtime == entry.mtime
        && split(stat.ctime_ns) == entry.ctime
        && stat.size as u32 == entry.size
        && stat.ino as u32 == entry.ino
        && stat.dev as u32 == entry.dev
        && i64::from(mtime.0) < index_written
}

/// Whether git finds any of `paths` changed in content (it rehashes only those; too many
/// suspects and it checks the whole tree).
fn changed(root: &Path, paths: &[&str]) -> bool {
    if paths.is_empty() {
        return false;
    }
    let mut args = vec!["diff", "--no-ext-diff", "--quiet", "--"];
    if paths.len() <= 1000 {
        args.extend(paths);
    }
    run_git(root, &args).is_none_or(|o| !o.status.success())
}

/// Reads a manifest file: the path itself, or a run id / `latest` under `runs`.
pub fn locate(runs: &Path, which: Option<&str>) -> PathBuf {
    match which {
        None => runs.join(LATEST).join("manifest.json"),
        Some(id) if valid_run_id(id) || id == LATEST => runs.join(id).join("manifest.json"),
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_dir() {
                path.join("manifest.json")
            } else {
                path
            }
        }
    }
}

/// Loads and parses a manifest (no checks beyond its shape; see `verify`).
pub fn load(path: &Path) -> Result<Manifest, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not a manifest: {e}", path.display()))
}

/// Writes text to a file atomically, creating its directory (reports beside a run).
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    atomic_write(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One thing `verify` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub text: String,
}

/// What `gate verify` found about a manifest.
#[derive(Debug, Default)]
pub struct Verification {
    pub findings: Vec<Finding>,
    /// What could not be checked, and why (a run no longer kept): not a failure.
    pub notes: Vec<String>,
}

impl Verification {
    pub fn holds(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    fn check(&mut self, ok: bool, text: impl Into<String>) {
        self.findings.push(Finding {
            ok,
            text: text.into(),
        });
    }
}

/// Checks a manifest file: that it is exactly its canonical form, matches the schema and
/// its digests; that the chain of manifests before it (as far as they are kept) links up;
/// that the input lists it refers to are intact; and that every output it records is on
/// disk under `root` as recorded.
pub fn verify(path: &Path, root: &Path) -> Verification {
    let mut found = Verification::default();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            found.check(
                false,
                format!(
                    "no manifest at {}: no run has been recorded there (`gate run` writes one)",
                    path.display()
                ),
            );
            return found;
        }
        Err(error) => {
            found.check(false, format!("cannot read {}: {error}", path.display()));
            return found;
        }
    };
    let Some(manifest) = check_file(&bytes, &mut found) else {
        return found;
    };
    let runs = runs_of(path, &manifest, root);
    check_chain(&runs, &manifest, &mut found);
    check_inputs(&runs, &manifest, &mut found);
    check_outputs(root, &manifest, &mut found);
    found
}

/// The canonical form, schema and digests of one manifest's bytes.
fn check_file(bytes: &[u8], found: &mut Verification) -> Option<Manifest> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(error) => {
            found.check(false, format!("not JSON: {error}"));
            return None;
        }
    };
    let mut canonical_text = canonical(&value, true);
    canonical_text.push('\n');
    found.check(
        canonical_text.as_bytes() == bytes,
        if canonical_text.as_bytes() == bytes {
            "canonical form".to_owned()
        } else {
            format!(
                "not in canonical form: {}",
                first_difference(bytes, canonical_text.as_bytes())
            )
        },
    );
    let errors: Vec<String> = validator()
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        found.check(true, format!("schema (version {SCHEMA_VERSION})"));
    } else {
        for error in errors {
            found.check(false, format!("schema: {error}"));
        }
        return None;
    }
    let manifest: Manifest = match serde_json::from_value(value.clone()) {
        Ok(manifest) => manifest,
        Err(error) => {
            found.check(false, format!("not a manifest: {error}"));
            return None;
        }
    };
    let digest = digest_of(&value);
    found.check(
        digest == manifest.digest,
        if digest == manifest.digest {
            format!("digest {digest}")
        } else {
            format!(
                "digest: the manifest says {}, its content hashes to {digest}",
                manifest.digest
            )
        },
    );
    let result = serde_json::to_value(&manifest.result).expect("the result serialises");
    let result_digest = Hex(blake3::hash(canonical(&result, false).as_bytes()));
    found.check(
        result_digest == manifest.result_digest,
        if result_digest == manifest.result_digest {
            format!("result digest {result_digest}")
        } else {
            format!(
                "result digest: the manifest says {}, its result hashes to {result_digest}",
                manifest.result_digest
            )
        },
    );
    Some(manifest)
}

/// The embedded schema, compiled once.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the embedded schema is JSON");
        jsonschema::validator_for(&schema).expect("the embedded schema is valid")
    })
}

/// Where a byte string first differs from another, for a person to look at.
fn first_difference(actual: &[u8], expected: &[u8]) -> String {
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    let line = actual[..at].iter().filter(|b| **b == b'\n').count() + 1;
    format!("first difference at byte {at} (line {line})")
}

/// The `runs` directory a manifest belongs to: the one it sits in when it is a run's own
/// copy, else the state directory under `root` (a copy written with `--manifest`).
pub fn runs_of(path: &Path, manifest: &Manifest, root: &Path) -> PathBuf {
    let dir = path.parent().filter(|dir| {
        dir.file_name()
            .is_some_and(|name| name == manifest.run.id.as_str() || name == LATEST)
    });
    match dir.and_then(Path::parent) {
        Some(runs) => runs.to_path_buf(),
        None => root.join(crate::model::STATE_DIR).join(RUNS_DIR),
    }
}

/// Walks `previous` links back as far as manifests are kept, checking each link's digest
/// against the content of the manifest it names.
fn check_chain(runs: &Path, manifest: &Manifest, found: &mut Verification) {
    let mut link = manifest.previous.clone();
    let mut from = manifest.run.id.clone();
    let mut walked = 0;
    while let Some(next) = link {
        let path = runs.join(&next.run).join("manifest.json");
        let Ok(bytes) = std::fs::read(&path) else {
            found.notes.push(format!(
                "chain: run {} (linked from {from}) is no longer kept; checked {walked} link(s)",
                next.run
            ));
            return;
        };
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let digest = parsed.as_ref().map(digest_of);
        if digest != Some(next.digest) {
            found.check(
                false,
                format!(
                    "chain broken: run {from} links run {} with digest {}, but that manifest \
                     hashes to {}",
                    next.run,
                    next.digest,
                    digest.map_or("nothing (not JSON)".to_owned(), |d| d.to_string())
                ),
            );
            return;
        }
        walked += 1;
        from = next.run.clone();
        link = parsed
            .and_then(|v| serde_json::from_value::<Manifest>(v).ok())
            .and_then(|m| m.previous);
        if walked > 100_000 {
            break;
        }
    }
    found.check(
        true,
        match walked {
            0 => "chain: first run of this state directory".to_owned(),
            n => format!("chain: {n} earlier run(s) link up"),
        },
    );
}

/// Each input list the manifest refers to, when kept, must hash to its name and hold as
/// many files as recorded.
fn check_inputs(runs: &Path, manifest: &Manifest, found: &mut Verification) {
    let mut missing = 0;
    let mut checked = 0;
    for (gate, result) in &manifest.result.gates {
        let Some(inputs) = &result.inputs else {
            continue;
        };
        let path = runs
            .join(INPUTS_DIR)
            .join(format!("{}.json", inputs.digest));
        let Ok(bytes) = std::fs::read(&path) else {
            missing += 1;
            continue;
        };
        let digest = Hex(blake3::hash(&bytes));
        let count = serde_json::from_slice::<Vec<Value>>(&bytes).map(|list| list.len() as u64);
        if digest != inputs.digest {
            found.check(
                false,
                format!("inputs of {gate}: {} hashes to {digest}", path.display()),
            );
        } else if count.as_ref().ok() != Some(&inputs.count) {
            found.check(
                false,
                format!(
                    "inputs of {gate}: the list does not hold {} files",
                    inputs.count
                ),
            );
        } else {
            checked += 1;
        }
    }
    if checked > 0 {
        found.check(true, format!("input lists: {checked} intact"));
    }
    if missing > 0 {
        found.notes.push(format!(
            "input lists: {missing} not kept here (under {})",
            runs.join(INPUTS_DIR).display()
        ));
    }
}

/// Every recorded output, re-hashed on disk.
fn check_outputs(root: &Path, manifest: &Manifest, found: &mut Verification) {
    use std::os::unix::fs::PermissionsExt;
    let mut intact = 0;
    for (gate, result) in &manifest.result.gates {
        for output in &result.outputs {
            let path = root.join(&output.path);
            let problem = match std::fs::symlink_metadata(&path) {
                Err(_) => Some("missing".to_owned()),
                Ok(meta) if !meta.is_file() => Some("not a regular file".to_owned()),
                Ok(meta) => match crate::cache::blob_of(&path) {
                    Err(error) => Some(error),
                    Ok(blob) if blob.digest != output.blake3 || blob.size != output.size => {
                        Some(format!(
                            "modified: {} bytes, blake3 {} (recorded: {} bytes, {})",
                            blob.size, blob.digest, output.size, output.blake3
                        ))
                    }
                    Ok(_) if meta.permissions().mode() & 0o7777 != output.mode => Some(format!(
                        "mode {:o} (recorded: {:o})",
                        meta.permissions().mode() & 0o7777,
                        output.mode
                    )),
                    Ok(_) => None,
                },
            };
            match problem {
                Some(problem) => {
                    found.check(false, format!("output {} ({gate}): {problem}", output.path))
                }
                None => intact += 1,
            }
        }
    }
    found.check(true, format!("outputs: {intact} on disk as recorded"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let case = |secs: u64, expected: &str| {
            let time = UNIX_EPOCH + Duration::from_millis(secs * 1000 + 7);
            assert_eq!(rfc3339(time), expected);
        };
        case(0, "1970-01-01T00:00:00.007Z");
        case(951_782_400, "2000-02-29T00:00:00.007Z");
        case(1_795_000_000, "2026-11-18T11:06:40.007Z");
        case(4_102_444_799, "2099-12-31T23:59:59.007Z");
    }

    #[test]
    fn run_ids_sort_by_time_and_validate() {
        let a = run_id(UNIX_EPOCH + Duration::from_millis(1_795_000_000_123));
        let b = run_id(UNIX_EPOCH + Duration::from_millis(1_795_000_001_000));
        assert!(a < b, "{a} < {b}");
        assert!(a.starts_with("20261118T110640.123Z-"), "{a}");
        assert!(valid_run_id(&a) && valid_run_id(&b));
        for bad in [
            "latest",
            "inputs",
            "../x",
            "20261118T110640.123Z-ABCDEF",
            "",
        ] {
            assert!(!valid_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn canonical_json_sorts_members_and_is_stable() {
        let value: Value =
            serde_json::from_str(r#"{"b":[1,{"z":null,"a":"x\n"}],"a":{},"c":[]}"#).unwrap();
        assert_eq!(
            canonical(&value, false),
            r#"{"a":{},"b":[1,{"a":"x\n","z":null}],"c":[]}"#
        );
        let pretty = canonical(&value, true);
        let again: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(canonical(&again, true), pretty);
        assert_eq!(
            pretty,
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\n\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}"
        );
    }
}
