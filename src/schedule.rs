//! schedule: a [`Plan`] → one [`Outcome`] per step. Gates start as soon as their dependencies
//! are done, at most `jobs` at a time, in plan order among the ready ones. Statuses propagate
//! as the spec says: a failed, timed-out or blocked dependency blocks a gate, a cancelled one
//! cancels it; a group fails when a (non-optional) member failed. With `fail_fast`, the first
//! failure cancels the running gates and starts nothing new; cancellation (Ctrl-C) does the
//! same. Events go to the caller as they happen; printing them is `report`'s job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::exec::{self, Event, Failure, Outcome, Status};
use crate::plan::{Decision, Plan, SkipReason, Step};

#[derive(Debug, Clone)]
pub struct Options {
    /// Gates running at once; at least 1.
    pub jobs: usize,
    pub fail_fast: bool,
    /// Send every output line as [`Event::Output`].
    pub stream: bool,
    /// Where `<gate>.log` files go; created if missing.
    pub logs: PathBuf,
}

/// All outcomes, in plan order, and the wall time.
#[derive(Debug)]
pub struct Run {
    pub outcomes: Vec<Outcome>,
    pub wall: Duration,
}

impl Run {
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
    options: &Options,
    cancel: CancellationToken,
    events: UnboundedSender<Event>,
) -> Run {
    let started_at = Instant::now();
    let logs_ready = std::fs::create_dir_all(&options.logs);
    let mut done: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut waiting: Vec<&Step> = plan.steps.iter().collect();
    loop {
        // Settle everything that can be decided now, start what may start; repeat until stable
        // because a settled group can make its dependents ready.
        loop {
            let mut progressed = false;
            let mut still_waiting = Vec::new();
            for step in waiting {
                if !step.deps.iter().all(|d| done.contains_key(d.as_str())) {
                    still_waiting.push(step);
                    continue;
                }
                let settled = match settle(step, &done, &cancel) {
                    Some(status) => Some(status),
                    None if running.len() < options.jobs.max(1) => {
                        let Decision::Run(job) = &step.decision else {
                            unreachable!("settle decides every non-run step")
                        };
                        let log = options.logs.join(format!("{}.log", step.gate));
                        let (gate, job, optional, cancel) = (
                            step.gate.clone(),
                            job.clone(),
                            step.optional,
                            cancel.clone(),
                        );
                        let stream = options.stream.then(|| events.clone());
                        let creation = logs_ready
                            .as_ref()
                            .err()
                            .map(|e| format!("cannot create {}: {e}", options.logs.display()));
                        let _ = events.send(Event::Started(gate.clone()));
                        running.spawn(async move {
                            let start = Instant::now();
                            let status = match creation {
                                Some(message) => Status::Failed(Failure::Spawn(message)),
                                None => {
                                    exec::run(&gate, &job, &log, &cancel, stream.as_ref()).await
                                }
                            };
                            Outcome {
                                gate,
                                status,
                                duration: start.elapsed(),
                                optional,
                                log: Some(log),
                            }
                        });
                        progressed = true;
                        None
                    }
                    None => {
                        still_waiting.push(step);
                        continue;
                    }
                };
                if let Some(status) = settled {
                    let outcome = Outcome {
                        gate: step.gate.clone(),
                        status,
                        duration: Duration::ZERO,
                        optional: step.optional,
                        log: None,
                    };
                    let _ = events.send(Event::Finished(outcome.clone()));
                    done.insert(step.gate.clone(), outcome);
                    progressed = true;
                }
            }
            waiting = still_waiting;
            if !progressed {
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
        let _ = events.send(Event::Finished(outcome.clone()));
        done.insert(outcome.gate.clone(), outcome);
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

/// The status of a step whose dependencies are all done, unless it is a gate to run now.
fn settle(
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
