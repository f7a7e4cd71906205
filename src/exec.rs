//! exec: one planned [`Job`] → its [`Status`]. Each run line goes through the gate's shell in a
//! process group of its own, with a null stdin and exactly the planned environment; stdout and
//! stderr share one pipe, so the log at `.gate/logs/<gate>.log` interleaves them as a terminal
//! would. A timeout or cancellation terminates the whole group (SIGTERM, a grace period, then
//! SIGKILL), and when a line ends normally any process it left behind in its group is killed
//! too: a gate never leaves orphans.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::{Blob, OutputFile};
use crate::key::Keyed;
use crate::model::Meaning;
use crate::plan::{Job, SkipReason};

/// How long a terminated process group gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the output pipe to close after a group is gone; a process that
/// escaped the group (setsid) could hold it open forever.
const DRAIN: Duration = Duration::from_secs(2);

/// What happened to a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// Restored from the cache: the same key passed before.
    Cached,
    Failed(Failure),
    Skipped(SkipReason),
    /// A dependency failed, timed out or was blocked; `because` is its status word.
    Blocked {
        dep: String,
        because: &'static str,
    },
    TimedOut(Duration),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Run line `line` (0-based) exited with `code`; `reason` is what the gate's
    /// `fail-codes` says about it.
    Exit {
        line: usize,
        code: i32,
        reason: Option<String>,
    },
    /// Run line `line` was killed by `signal`.
    Signal { line: usize, signal: i32 },
    /// The shell could not be started, or the log not written.
    Spawn(String),
    /// A group's members that failed.
    Members(Vec<String>),
    /// The gate changed its own inputs (and is not `fix #true`).
    ModifiedInputs(Vec<String>),
}

impl Status {
    /// The status word of the spec.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Cached => "cached",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
            Status::Blocked { .. } => "blocked",
            Status::TimedOut(_) => "timed-out",
            Status::Cancelled => "cancelled",
        }
    }

    /// Why a gate did not pass, in words (`None` for a pass, a restore or a cancellation).
    pub fn reason(&self) -> Option<String> {
        Some(match self {
            Status::Passed | Status::Cached | Status::Cancelled => return None,
            Status::Failed(Failure::ModifiedInputs(files)) => {
                format!("changed its own inputs: {}", files.join(", "))
            }
            Status::Failed(Failure::Exit { line, code, reason }) => {
                let mut text = format!("exit code {code}");
                if let Some(reason) = reason {
                    text.push_str(": ");
                    text.push_str(reason);
                }
                if *line > 0 {
                    text.push_str(&format!(" (run line {})", line + 1));
                }
                text
            }
            Status::Failed(Failure::Signal { signal, .. }) => format!("killed by signal {signal}"),
            Status::Failed(Failure::Spawn(message)) => message.clone(),
            Status::Failed(Failure::Members(members)) => format!("failed: {}", members.join(", ")),
            Status::Skipped(reason) => reason.to_string(),
            Status::Blocked { dep, because } => format!("dependency {dep} {because}"),
            Status::TimedOut(after) => format!("timed out after {}", human(*after)),
        })
    }

    /// Whether this status fails a run (when the gate is not optional).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Status::Failed(_) | Status::Blocked { .. } | Status::TimedOut(_)
        )
    }
}

/// A gate's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub gate: String,
    pub status: Status,
    pub duration: Duration,
    pub optional: bool,
    /// The log, for gates that ran (or whose cached log was replayed).
    pub log: Option<std::path::PathBuf>,
    /// The gate's cache key, once keyed (a group's: its members').
    pub key: Option<blake3::Hash>,
    /// Whether the cache was asked, and what it said.
    pub lookup: Lookup,
    /// Why the gate ran instead of being restored (with `-v`).
    pub reason: Option<String>,
    /// Warnings about the gate that do not change its status (a damaged cache entry).
    pub notes: Vec<String>,
    /// This gate, or one it depends on, ran commands in this run (and may have written
    /// files that its dependents read).
    pub ran: bool,
    /// The gate's commands printed something (beyond gate's `$ line` headers).
    pub printed: bool,
    /// When the gate started (or was settled), since the run began.
    pub started: Duration,
    /// What the gate was keyed on, when it was keyed.
    pub keyed: Option<Arc<Keyed>>,
    /// The exit code of the last command it ran (0 for a pass or a restore).
    pub exit: Option<i32>,
    /// The files it produced (a pass) or restored (a hit), sorted by path.
    pub outputs: Vec<OutputFile>,
    /// Its log's digest and size, when it has a log.
    pub log_digest: Option<Blob>,
    /// For a restore: the run that stored the result, when the entry says.
    pub producer: Option<String>,
    /// What the gate's `facts` file held, for a pass or a restore.
    pub facts: Option<Facts>,
}

/// A gate's facts: names and scalar values (strings, integers, booleans, null; other numbers
/// as their decimal text, since the manifest holds integers only).
pub type Facts = std::collections::BTreeMap<String, serde_json::Value>;

/// The most a facts file may hold: it is copied into every manifest.
pub const FACTS_LIMIT: u64 = 64 * 1024;

/// Reads a `facts` file: a flat JSON object of scalars.
pub fn read_facts(path: &Path) -> Result<Facts, String> {
    use serde_json::Value;
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("facts file {shown}: {e}"))?
        .len();
    if size > FACTS_LIMIT {
        return Err(format!(
            "facts file {shown} is {size} bytes, more than the {FACTS_LIMIT} a manifest takes"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("facts file {shown}: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "facts file {shown}:{}:{}: not JSON: {e}",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(map) = value else {
        return Err(format!(
            "facts file {shown} is not a JSON object (write {{\"name\": value, ...}})"
        ));
    };
    let mut facts = Facts::new();
    for (name, value) in map {
        let value = match value {
            Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
                Value::String(n.to_string())
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "facts file {shown}: `{name}` is not a scalar (facts are a flat object of strings, numbers, booleans and nulls)"
                ));
            }
            scalar => scalar,
        };
        facts.insert(name, value);
    }
    Ok(facts)
}

impl Outcome {
    /// An outcome decided without running anything.
    pub fn settled(gate: &str, status: Status, optional: bool) -> Outcome {
        Outcome {
            gate: gate.to_owned(),
            status,
            duration: Duration::ZERO,
            optional,
            log: None,
            key: None,
            lookup: Lookup::NotAsked,
            reason: None,
            notes: Vec::new(),
            ran: false,
            printed: false,
            started: Duration::ZERO,
            keyed: None,
            exit: None,
            outputs: Vec::new(),
            log_digest: None,
            producer: None,
            facts: None,
        }
    }
}

/// The cache's part in an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Not cacheable, not run, or the cache was not read (`--no-cache`).
    NotAsked,
    Hit,
    Miss,
}

/// What a run reports as it goes, for `report` to show.
#[derive(Debug)]
pub enum Event {
    Started(String),
    Output(Line),
    Finished(Box<Outcome>),
}

/// A line of a gate's output, for `-v`.
#[derive(Debug, Clone)]
pub struct Line {
    pub gate: String,
    pub text: String,
}

/// Runs `job`'s lines in order until one fails, writing output to `log`. `stream` receives
/// every output line when set.
pub async fn run(
    gate: &str,
    job: &Job,
    log: &Path,
    cancel: &CancellationToken,
    stream: Option<&UnboundedSender<Event>>,
) -> Status {
    // The log is overwritten in place and cut to length at the end, not truncated first: on
    // ext4, truncating a file and closing it after a write makes the close wait for the
    // data to reach the disk (and frees blocks, which a `discard` mount turns into device
    // I/O); a rerun that writes the same log then costs nothing of the sort.
    let file = match File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(log)
    {
        Ok(file) => file,
        Err(error) => {
            return Status::Failed(Failure::Spawn(format!(
                "cannot create {}: {error}",
                log.display()
            )));
        }
    };
    let (status, length) = lines(gate, job, log, file, cancel, stream).await;
    let longer = |length| std::fs::metadata(log).is_ok_and(|m| m.len() > length);
    if let Some(length) = length.filter(|&l| longer(l))
        && let Ok(file) = File::options().write(true).open(log)
    {
        let _ = file.set_len(length);
    }
    status
}

/// Runs the lines in order; gives the log's length when it is known (every byte went through
/// the handle this function holds).
async fn lines(
    gate: &str,
    job: &Job,
    log: &Path,
    mut file: File,
    cancel: &CancellationToken,
    stream: Option<&UnboundedSender<Event>>,
) -> (Status, Option<u64>) {
    let failed = |message: String| Status::Failed(Failure::Spawn(message));
    if !job.cwd.is_dir() {
        let message = format!("working directory {} does not exist", job.cwd.display());
        return (failed(message), Some(0));
    }
    let deadline = job.timeout.map(|timeout| Instant::now() + timeout);
    let mut exact = true;
    for (index, line) in job.run.iter().enumerate() {
        if let Err(error) = file.write_all(format!("$ {line}\n").as_bytes()) {
            let message = format!("cannot write {}: {error}", log.display());
            return (failed(message), file.stream_position().ok());
        }
        // Where this line's output starts: the length if the line never starts.
        let at = file.stream_position().ok();
        if let Some(stream) = stream {
            let _ = stream.send(Event::Output(Line {
                gate: gate.to_owned(),
                text: format!("$ {line}"),
            }));
        }
        let (status, returned) =
            match line_status(gate, job, line, file, deadline, cancel, stream).await {
                Ok(pair) => pair,
                Err(message) => return (failed(message), at),
            };
        file = match returned {
            Some(file) => file,
            // The pipe stayed open (a process escaped the group): write on through a new
            // handle, at the end of whatever was written.
            None => match std::fs::OpenOptions::new().append(true).open(log) {
                Ok(file) => {
                    exact = false;
                    file
                }
                Err(error) => {
                    return (
                        failed(format!("cannot reopen {}: {error}", log.display())),
                        None,
                    );
                }
            },
        };
        let status = match status {
            LineEnd::Exited(code) => match job.exit_codes.meaning(code) {
                Meaning::Ok => continue,
                Meaning::Skip(reason) => Status::Skipped(SkipReason::ExitCode { code, reason }),
                Meaning::Fail(reason) => Status::Failed(Failure::Exit {
                    line: index,
                    code,
                    reason,
                }),
            },
            LineEnd::Signalled(signal) => Status::Failed(Failure::Signal {
                line: index,
                signal,
            }),
            LineEnd::TimedOut => Status::TimedOut(job.timeout.unwrap_or_default()),
            LineEnd::Cancelled => Status::Cancelled,
        };
        return (status, length(&mut file, exact));
    }
    (Status::Passed, length(&mut file, exact))
}

fn length(file: &mut File, exact: bool) -> Option<u64> {
    if exact {
        file.stream_position().ok()
    } else {
        None
    }
}

enum LineEnd {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Cancelled,
}

/// Runs one line; gives back the log file unless the output pipe could not be drained.
async fn line_status(
    gate: &str,
    job: &Job,
    line: &str,
    file: File,
    deadline: Option<Instant>,
    cancel: &CancellationToken,
    stream: Option<&UnboundedSender<Event>>,
) -> Result<(LineEnd, Option<File>), String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let writer_copy = writer
        .try_clone()
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    let mut command = Command::from(job.command(line).ok_or("the shell is empty")?);
    command.stdout(writer_copy).stderr(writer).process_group(0);
    let program = job.shell.first().map(String::as_str).unwrap_or_default();
    let spawned = command.spawn();
    // The command holds our copies of the pipe's write end: drop them, or the pipe never
    // reports end-of-file.
    drop(command);
    let mut child =
        spawned.map_err(|e| format!("cannot start `{program}` in {}: {e}", job.cwd.display()))?;
    let group = child.id().map(|id| id as libc::pid_t);

    let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())
        .map_err(|e| format!("cannot read the output pipe: {e}"))?;
    let copier = tokio::spawn(copy(receiver, file, gate.to_owned(), stream.cloned()));

    let sleep = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                // Whatever the line left running in its group goes with it.
                signal_group(group, libc::SIGKILL);
                match (status.code(), status.signal()) {
                    (Some(code), _) => LineEnd::Exited(code),
                    (None, Some(signal)) => LineEnd::Signalled(signal),
                    (None, None) => LineEnd::Exited(-1),
                }
            }
            Err(error) => return Err(format!("cannot wait for `{line}`: {error}")),
        },
        _ = sleep => {
            terminate(&mut child, group).await;
            LineEnd::TimedOut
        }
        _ = cancel.cancelled() => {
            terminate(&mut child, group).await;
            LineEnd::Cancelled
        }
    };
    let file = match tokio::time::timeout(DRAIN, copier).await {
        Ok(Ok(file)) => Some(file),
        _ => None,
    };
    Ok((end, file))
}

/// Copies the pipe to the log line by line (bytes as they are), and to `stream` as text.
async fn copy(
    receiver: tokio::net::unix::pipe::Receiver,
    mut file: File,
    gate: String,
    stream: Option<UnboundedSender<Event>>,
) -> File {
    use tokio::io::AsyncBufReadExt;
    let mut reader = tokio::io::BufReader::new(receiver);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // A full disk must not stop the gate: the log is best effort, the exit code is not.
                let _ = file.write_all(&buffer);
                if let Some(stream) = &stream {
                    let text = String::from_utf8_lossy(&buffer)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    let _ = stream.send(Event::Output(Line {
                        gate: gate.clone(),
                        text,
                    }));
                }
            }
        }
    }
    let _ = file.flush();
    file
}

/// SIGTERM to the group, a grace period for the leader to exit, then SIGKILL to whatever is
/// left of the group.
async fn terminate(child: &mut Child, group: Option<libc::pid_t>) {
    signal_group(group, libc::SIGTERM);
    let _ = tokio::time::timeout(GRACE, child.wait()).await;
    signal_group(group, libc::SIGKILL);
    let _ = child.wait().await;
}

fn signal_group(group: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(group) = group {
        // SAFETY: killpg only sends a signal; an empty or vanished group yields ESRCH, which is
        // what "nothing left to kill" means here.
        unsafe {
            libc::killpg(group, signal);
        }
    }
}

/// A duration as written in gates.kdl: `1m30s`, or milliseconds when it has some.
pub fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    out
}
