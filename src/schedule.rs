//! schedule: a [`Plan`] → one [`Outcome`] per step. Gates start as soon as their dependencies
//! are done, at most `jobs` at a time, in plan order among the ready ones. Statuses propagate
//! as the spec says: a failed, timed-out or blocked dependency blocks a gate, a cancelled one
//! cancels it; a group fails when a (non-optional) member failed. With `fail_fast`, the first
//! failure cancels the running gates and starts nothing new; cancellation (Ctrl-C) does the
//! same. Events go to the caller as they happen; printing them is `report`'s job.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::{self, Blob, Cache, Entry, OutputFile};
use crate::exec::{self, Event, Failure, Lookup, Outcome, Status};
use crate::inputs::Digest;
use crate::key::{self, Hex, Keyed, Keyer};
use crate::plan::{Decision, Job, Plan, SkipReason, Step};

#[derive(Debug, Clone)]
pub struct Options {
    /// Gates running at once; at least 1.
    pub jobs: usize,
    pub fail_fast: bool,
    /// Send every output line as [`Event::Output`], and replay cached logs.
    pub stream: bool,
    /// Where `<gate>.log` files go; created if missing.
    pub logs: PathBuf,
    /// The root, where outputs are restored.
    pub root: PathBuf,
    /// Where each gate's last key material is kept (`.gate/keys`).
    pub keys: PathBuf,
    /// The store, when the run has one.
    pub cache: Option<Arc<Cache>>,
    /// `false` with `--no-cache`: every gate runs, results are still stored.
    pub read_cache: bool,
    /// Work out why each gate reruns (`-v`).
    pub explain: bool,
    /// This run's id, recorded in the cache entries it stores.
    pub run: String,
}

/// All outcomes, in plan order, and the wall time.
#[derive(Debug)]
pub struct Run {
    pub outcomes: Vec<Outcome>,
    pub wall: Duration,
}

impl Run {
    /// Cache hits and misses, as `(hits, misses)`.
    pub fn lookups(&self) -> (u64, u64) {
        let count =
            |lookup: Lookup| self.outcomes.iter().filter(|o| o.lookup == lookup).count() as u64;
        (count(Lookup::Hit), count(Lookup::Miss))
    }

    /// Whether the run failed: a non-optional gate failed, was blocked or timed out, or, with
    /// `strict`, a non-optional gate was skipped for a missing tool.
    pub fn failed(&self, strict: bool) -> bool {
        self.outcomes.iter().filter(|o| !o.optional).any(|o| {
            o.status.is_failure()
                || (strict && matches!(o.status, Status::Skipped(SkipReason::MissingTool(_))))
        })
    }
}

/// Runs the plan to completion (or cancellation). Never fails: problems are outcomes.
pub async fn schedule(
    plan: &Plan,
    keyer: Arc<Keyer>,
    options: &Options,
    cancel: CancellationToken,
    events: UnboundedSender<Event>,
) -> Run {
    let started_at = Instant::now();
    let logs_ready = std::fs::create_dir_all(&options.logs);
    let steps = &plan.steps;
    let position: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.gate.as_str(), i))
        .collect();
    // Dependencies not yet done, and who waits on each step: a step is looked at once when
    // its last dependency finishes, not on every pass (500 gates stay linear).
    let mut pending: Vec<usize> = steps.iter().map(|s| s.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for dep in &step.deps {
            dependents[position[dep.as_str()]].push(i);
        }
    }
    // Ready to settle, and settled as "must run" but waiting for a slot; both in plan order.
    let mut ready: BTreeSet<usize> = (0..steps.len()).filter(|&i| pending[i] == 0).collect();
    let mut runnable: BTreeSet<usize> = BTreeSet::new();
    let mut done: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let finish = |outcome: Outcome,
                  done: &mut BTreeMap<String, Outcome>,
                  ready: &mut BTreeSet<usize>,
                  pending: &mut Vec<usize>| {
        let at = position[outcome.gate.as_str()];
        for &dependent in &dependents[at] {
            pending[dependent] -= 1;
            if pending[dependent] == 0 {
                ready.insert(dependent);
            }
        }
        let _ = events.send(Event::Finished(Box::new(outcome.clone())));
        done.insert(outcome.gate.clone(), outcome);
    };
    loop {
        // Settle what can be decided now (a settled group can make more ready), then start
        // what may start.
        loop {
            while let Some(i) = ready.pop_first() {
                match settle(&steps[i], &done, &cancel, started_at.elapsed()) {
                    Some(outcome) => finish(outcome, &mut done, &mut ready, &mut pending),
                    None => {
                        runnable.insert(i);
                    }
                }
            }
            while running.len() < options.jobs.max(1) {
                let Some(i) = runnable.pop_first() else {
                    break;
                };
                let step = &steps[i];
                // Cancellation may have come since the step became ready.
                if let Some(outcome) = settle(step, &done, &cancel, started_at.elapsed()) {
                    finish(outcome, &mut done, &mut ready, &mut pending);
                    continue;
                }
                let Decision::Run(job) = &step.decision else {
                    unreachable!("settle decides every non-run step")
                };
                let task = Task {
                    gate: step.gate.clone(),
                    job: (**job).clone(),
                    optional: step.optional,
                    deps: dep_keys(step, &done),
                    fresh: step.deps.iter().any(|d| done[d.as_str()].ran),
                    log: options.logs.join(format!("{}.log", step.gate)),
                    keyer: Arc::clone(&keyer),
                    options: options.clone(),
                    cancel: cancel.clone(),
                    stream: options.stream.then(|| events.clone()),
                    epoch: started_at,
                    creation: logs_ready
                        .as_ref()
                        .err()
                        .map(|e| format!("cannot create {}: {e}", options.logs.display())),
                };
                let _ = events.send(Event::Started(step.gate.clone()));
                running.spawn(task.run());
            }
            if ready.is_empty() {
                break;
            }
        }

        let Some(joined) = running.join_next().await else {
            break;
        };
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(error) => panic!("a gate task panicked: {error}"),
        };
        if options.fail_fast
            && !outcome.optional
            && matches!(outcome.status, Status::Failed(_) | Status::TimedOut(_))
        {
            cancel.cancel();
        }
        finish(outcome, &mut done, &mut ready, &mut pending);
    }

    let outcomes = plan
        .steps
        .iter()
        .map(|step| {
            done.remove(step.gate.as_str())
                .expect("every step is settled")
        })
        .collect();
    Run {
        outcomes,
        wall: started_at.elapsed(),
    }
}

/// The keys of a step's dependencies that have one.
fn dep_keys(step: &Step, done: &BTreeMap<String, Outcome>) -> BTreeMap<String, Digest> {
    step.deps
        .iter()
        .filter_map(|d| Some((d.clone(), done.get(d.as_str())?.key?)))
        .collect()
}

/// One gate to run: key it, restore it from the cache or run it, check it left its inputs
/// alone, store the result.
struct Task {
    gate: String,
    job: Job,
    optional: bool,
    deps: BTreeMap<String, Digest>,
    /// Something upstream ran in this run: key on the files as they are now.
    fresh: bool,
    log: PathBuf,
    keyer: Arc<Keyer>,
    options: Options,
    cancel: CancellationToken,
    stream: Option<UnboundedSender<Event>>,
    /// When the run began.
    epoch: Instant,
    creation: Option<String>,
}

impl Task {
    async fn run(self) -> Outcome {
        let start = Instant::now();
        let task = Arc::new(self);
        let mut outcome = Outcome::settled(&task.gate, Status::Passed, task.optional);
        outcome.ran = task.fresh;
        outcome.started = start.duration_since(task.epoch);
        // A gate with nothing to read or run for its key is keyed on the spot; the rest goes
        // off the scheduler's thread, once, for keying, lookup and restore together.
        let light =
            task.job.inputs.is_empty() && task.job.tools.is_empty() && task.job.version.is_none();
        let (keyed, found) = if light {
            task.before()
        } else {
            let task = Arc::clone(&task);
            blocking(move || task.before()).await
        };
        let keyed = Arc::new(keyed);
        outcome.key = Some(keyed.key);
        outcome.keyed = Some(Arc::clone(&keyed));
        match found {
            Some(Ok(Some(entry))) => {
                outcome.status = Status::Cached;
                outcome.lookup = Lookup::Hit;
                outcome.exit = Some(entry.exit);
                outcome.outputs = entry.outputs.clone();
                outcome.log_digest = entry.log.clone();
                outcome.producer = entry.run.clone();
                if let Some(path) = &task.job.facts {
                    match exec::read_facts(path) {
                        Ok(facts) => outcome.facts = Some(facts),
                        Err(warning) => outcome.notes.push(warning),
                    }
                }
                task.replay(&entry, &mut outcome).await;
                outcome.duration = start.elapsed();
                return outcome;
            }
            Some(Ok(None)) => outcome.lookup = Lookup::Miss,
            Some(Err(warning)) => {
                outcome.lookup = Lookup::Miss;
                outcome.notes.push(warning);
            }
            None => {}
        }
        if task.options.explain {
            let cacheable = task.keyer.cacheable(&task.gate, &task.job);
            let (keys, gate, material, key, read) = (
                task.options.keys.clone(),
                task.gate.clone(),
                keyed.material(),
                keyed.key,
                task.options.read_cache,
            );
            outcome.reason = Some(
                blocking(move || {
                    let last = key::load(&keys, &gate);
                    key::why(last.as_ref(), &material, &key, cacheable, read)
                })
                .await,
            );
        }

        // Interrupted while it was being keyed: start nothing.
        if task.cancel.is_cancelled() {
            outcome.status = Status::Cancelled;
            outcome.duration = start.elapsed();
            return outcome;
        }
        outcome.log = Some(task.log.clone());
        outcome.ran = true;
        let ran = Instant::now();
        let status = match &task.creation {
            Some(message) => Status::Failed(Failure::Spawn(message.clone())),
            None => {
                exec::run(
                    &task.gate,
                    &task.job,
                    &task.log,
                    &task.cancel,
                    task.stream.as_ref(),
                )
                .await
            }
        };
        let took = ran.elapsed();
        let after = if light && !task.job.fix {
            task.after(&keyed, status, took)
        } else {
            let task = Arc::clone(&task);
            blocking(move || task.after(&keyed, status, took)).await
        };
        outcome.status = after.status;
        if let Some(rekeyed) = after.keyed {
            outcome.key = Some(rekeyed.key);
            outcome.keyed = Some(Arc::new(rekeyed));
        }
        outcome.exit = after.exit;
        outcome.facts = after.facts;
        outcome.outputs = after.outputs;
        outcome.log_digest = after.log;
        outcome.notes.extend(after.notes);
        outcome.printed = after.printed;
        outcome.duration = start.elapsed();
        outcome
    }

    /// Keys the gate and, when it is cacheable and the cache is read, looks it up and
    /// restores a hit (`None`: the cache was not asked).
    fn before(&self) -> (Keyed, Option<Result<Option<Entry>, String>>) {
        let keyed = self
            .keyer
            .key(&self.gate, &self.job, &self.deps, self.fresh);
        let cacheable = self.keyer.cacheable(&self.gate, &self.job).is_ok();
        let cache = self
            .options
            .cache
            .as_ref()
            .filter(|_| cacheable && self.options.read_cache);
        let Some(cache) = cache else {
            return (keyed, None);
        };
        let found = (|| {
            let Some(entry) = cache.get(&keyed.key)? else {
                return Ok(None);
            };
            let declared = self.keyer.outputs_of(&self.gate);
            cache.restore(&entry, &self.options.root, self.keyer.index(), declared)?;
            Ok(Some(entry))
        })();
        // A hit is a pass of the same key: nothing new to remember (rewriting every gate's
        // material on every no-op run would cost more than the run).
        if matches!(found, Ok(Some(_))) {
            self.remember(&keyed, "passed");
        }
        (keyed, Some(found))
    }

    /// After the gate ran: the read-only check, a fix gate's key after its edits, storing a
    /// pass, and remembering the key material.
    fn after(&self, keyed: &Keyed, mut status: Status, took: Duration) -> After {
        let mut after = After {
            status: Status::Passed,
            keyed: None,
            notes: Vec::new(),
            printed: std::fs::metadata(&self.log).is_ok_and(|m| m.len() > self.headers()),
            exit: match &status {
                Status::Passed => Some(0),
                Status::Failed(Failure::Exit { code, .. })
                | Status::Skipped(SkipReason::ExitCode { code, .. }) => Some(*code),
                _ => None,
            },
            outputs: Vec::new(),
            log: None,
            facts: None,
        };
        // A check must not edit what it checks; a fix gate may, and its edits are seen by
        // what runs after it.
        if (status == Status::Passed || self.job.fix) && !keyed.files.is_empty() {
            let changed = self.keyer.changed(keyed);
            if !changed.is_empty() && !self.job.fix && status == Status::Passed {
                status = Status::Failed(Failure::ModifiedInputs(changed));
            }
        }
        // A gate that declares facts must leave them readable: a pass without them fails
        // (and is not stored), so a cached pass always has facts to restore.
        if let Some(path) = self.job.facts.as_ref().filter(|_| status == Status::Passed) {
            match exec::read_facts(path) {
                Ok(facts) => after.facts = Some(facts),
                Err(message) => status = Status::Failed(Failure::Spawn(message)),
            }
        }
        // What depends on a fix gate depends on the files as it left them: its key for them
        // is taken after its edits, so the next run (with nothing left to fix) matches it.
        if self.job.fix && status == Status::Passed {
            after.keyed = Some(self.keyer.key(&self.gate, &self.job, &self.deps, true));
        }
        let cacheable = self.keyer.cacheable(&self.gate, &self.job).is_ok();
        if let Some(cache) = self.options.cache.as_ref().filter(|_| cacheable)
            && status == Status::Passed
        {
            let outputs = self.keyer.outputs_of(&self.gate);
            let produced = cache::Produced {
                run: &self.options.run,
                gate: &self.gate,
                key: &keyed.key,
                duration: took,
            };
            let stored = cache.put(produced, Some(&self.log), outputs, self.keyer.index());
            match stored {
                Ok(entry) => {
                    after.outputs = entry.outputs;
                    after.log = entry.log;
                }
                Err(warning) => after.notes.push(warning),
            }
        }
        // The record describes what a pass produced whether or not it was stored.
        let declared = self.keyer.outputs_of(&self.gate);
        if status == Status::Passed && after.outputs.is_empty() && !declared.is_empty() {
            match cache::describe(&self.options.root, declared) {
                Ok(outputs) => after.outputs = outputs,
                Err(warning) => after.notes.push(warning),
            }
        }
        if after.log.is_none() {
            after.log = cache::blob_of(&self.log).ok();
        }
        if cacheable {
            self.remember(keyed, status.word());
        }
        after.status = status;
        after
    }

    /// The bytes of the `$ line` headers gate writes into a passing gate's log: a log longer
    /// than that holds output of the gate's own.
    fn headers(&self) -> u64 {
        self.job.run.iter().map(|line| line.len() as u64 + 3).sum()
    }

    /// Replays a cached gate's log when asked for output (`-v`), or when an optional gate
    /// had some (so its warnings are not lost to the cache).
    async fn replay(&self, entry: &Entry, outcome: &mut Outcome) {
        let has_output = entry.log.as_ref().is_some_and(|l| l.size > self.headers());
        outcome.printed = has_output;
        let logged = entry.log.as_ref().is_some_and(|l| l.size > 0);
        let wanted = (self.stream.is_some() && logged) || (self.optional && has_output);
        let Some(cache) = self.options.cache.clone().filter(|_| wanted) else {
            return;
        };
        let (entry, log) = (entry.clone(), self.log.clone());
        let restored = blocking(move || {
            cache.restore_log(&entry, &log)?;
            std::fs::read(&log).map_err(|e| format!("cannot read {}: {e}", log.display()))
        })
        .await;
        match restored {
            Ok(bytes) => {
                outcome.log = Some(self.log.clone());
                if let Some(stream) = &self.stream {
                    for line in String::from_utf8_lossy(&bytes).lines() {
                        let _ = stream.send(Event::Output(exec::Line {
                            gate: self.gate.clone(),
                            text: line.to_owned(),
                        }));
                    }
                }
            }
            Err(warning) => outcome.notes.push(warning),
        }
    }

    /// Keeps the key material of this run for `gate explain`, when it is new (for cacheable
    /// gates: the others always run, and `explain` says so without it).
    fn remember(&self, keyed: &Keyed, status: &'static str) {
        let keys = &self.options.keys;
        let known = key::last(keys, &self.gate);
        let current = known.is_some_and(|last| {
            last.key == keyed.key && last.status == status && last.intact(keys, &self.gate)
        });
        if !current {
            let saved = key::Saved {
                key: Hex(keyed.key),
                status: status.to_owned(),
                material: keyed.material(),
            };
            let _ = key::save(keys, &self.gate, &saved);
        }
    }
}

/// What [`Task::after`] decided.
struct After {
    status: Status,
    /// A fix gate keyed again after its edits.
    keyed: Option<Keyed>,
    notes: Vec<String>,
    printed: bool,
    exit: Option<i32>,
    outputs: Vec<OutputFile>,
    log: Option<Blob>,
    facts: Option<exec::Facts>,
}

/// Runs blocking work (hashing, file copies) off the scheduler's thread.
async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// The status of a step whose dependencies are all done, unless it is a gate to run now.
fn settle(
    step: &Step,
    done: &BTreeMap<String, Outcome>,
    cancel: &CancellationToken,
    now: Duration,
) -> Option<Outcome> {
    let status = settled_status(step, done, cancel)?;
    let mut outcome = Outcome::settled(&step.gate, status, step.optional);
    outcome.started = now;
    outcome.ran = step.deps.iter().any(|d| done[d.as_str()].ran);
    if matches!(step.decision, Decision::Group) {
        let members = dep_keys(step, done);
        if members.len() == step.deps.len() {
            outcome.key = Some(key::group_key(&step.gate, &members));
        }
    }
    Some(outcome)
}

fn settled_status(
    step: &Step,
    done: &BTreeMap<String, Outcome>,
    cancel: &CancellationToken,
) -> Option<Status> {
    let deps: Vec<&Outcome> = step.deps.iter().map(|d| &done[d.as_str()]).collect();
    if deps.iter().any(|o| o.status == Status::Cancelled) {
        return Some(Status::Cancelled);
    }
    match &step.decision {
        Decision::Skip(reason) => Some(Status::Skipped(reason.clone())),
        Decision::Group => {
            let failed: Vec<String> = deps
                .iter()
                .filter(|o| blocks(o))
                .map(|o| o.gate.clone())
                .collect();
            Some(if failed.is_empty() {
                Status::Passed
            } else {
                Status::Failed(Failure::Members(failed))
            })
        }
        Decision::Run(_) => {
            if let Some(dep) = deps.iter().find(|o| blocks(o)) {
                Some(Status::Blocked {
                    dep: dep.gate.clone(),
                    because: dep.status.word(),
                })
            } else if let Some(dep) = deps
                .iter()
                .find(|o| matches!(o.status, Status::Skipped(SkipReason::ExitCode { .. })))
            {
                // Skipped while it ran (`skip-codes`): what needs it is skipped too, as it
                // would be for a skip decided before the run.
                Some(Status::Skipped(SkipReason::Dependency(dep.gate.clone())))
            } else if cancel.is_cancelled() {
                Some(Status::Cancelled)
            } else {
                None
            }
        }
    }
}

/// Whether a dependency's outcome stops its dependents. An optional gate's own failure does not
/// (it "does not fail the run", so what comes after it still runs); a blocked gate always
/// does, since it stands for a failure further up.
fn blocks(dep: &Outcome) -> bool {
    match dep.status {
        Status::Blocked { .. } => true,
        _ => dep.status.is_failure() && !dep.optional,
    }
}

/// What a run would do with a gate, without running anything.
#[derive(Debug, Clone)]
pub struct Forecast {
    pub keyed: Option<Keyed>,
    pub key: Option<Digest>,
    /// A usable cache entry exists.
    pub cached: bool,
    /// Why it would run, when it would.
    pub reason: String,
    /// The record of its last run, when there is one.
    pub last: Option<key::Saved>,
}

impl Forecast {
    /// A step that runs nothing: a group (with its key) or a skip.
    fn settled(key: Option<Digest>) -> Forecast {
        Forecast {
            keyed: None,
            key,
            cached: false,
            reason: String::new(),
            last: None,
        }
    }
}

/// Keys every step of `plan` on the files as they are now, and asks the cache about each:
/// `--dry-run` and `gate explain`. A gate whose inputs a dependency generates is keyed on
/// what is on disk now, which the real run may change.
pub fn forecast(plan: &Plan, keyer: &Keyer, options: &Options) -> BTreeMap<String, Forecast> {
    let mut forecasts: BTreeMap<String, Forecast> = BTreeMap::new();
    for step in &plan.steps {
        let deps: BTreeMap<String, Digest> = step
            .deps
            .iter()
            .filter_map(|d| Some((d.clone(), forecasts.get(d)?.key?)))
            .collect();
        let forecast = match &step.decision {
            Decision::Run(job) => {
                let keyed = keyer.key(&step.gate, job, &deps, false);
                let cacheable = keyer.cacheable(&step.gate, job);
                let cached = cacheable.is_ok()
                    && options.read_cache
                    && options
                        .cache
                        .as_ref()
                        .is_some_and(|c| matches!(c.get(&keyed.key), Ok(Some(_))));
                let last = key::load(&options.keys, &step.gate);
                let reason = match cached {
                    true => String::new(),
                    false => key::why(
                        last.as_ref(),
                        &keyed.material(),
                        &keyed.key,
                        cacheable,
                        options.read_cache,
                    ),
                };
                Forecast {
                    key: Some(keyed.key),
                    keyed: Some(keyed),
                    cached,
                    reason,
                    last,
                }
            }
            Decision::Group if deps.len() == step.deps.len() => {
                Forecast::settled(Some(key::group_key(&step.gate, &deps)))
            }
            _ => Forecast::settled(None),
        };
        forecasts.insert(step.gate.clone(), forecast);
    }
    forecasts
}
