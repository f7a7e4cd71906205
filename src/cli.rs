//! The command line: parses arguments, drives the pipeline stages in order, and decides the
//! exit code (2 for an invalid graph or command line, 0/1 from the outcomes, 130 when
//! interrupted). Holds no logic of its own beyond wiring.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::attest;
use crate::cache::{self, Cache};
use crate::ci::{self, Shard};
use crate::discover::{self, Root};
use crate::error::{Diagnostic, Error};
use crate::graph::{self, Format, Graph};
use crate::hook;
use crate::import;
use crate::inputs::{self, Outputs};
use crate::key::Keyer;
use crate::load::{self, Sources};
use crate::manifest;
use crate::model;
use crate::parse;
use crate::plan::{self, Context, Plan, Selection};
use crate::report::{self, RunReport, Verbosity};
use crate::schedule::{self, Options};
use crate::staged::{self, Checkout};

const ABOUT: &str = "Run a repository's quality gates from one declarative graph (gates.kdl)";

const AFTER_HELP: &str = "\
Examples:
  gate run                 run the `default` target (or every gate)
  gate run lint test -j 4  run two gates and their dependencies, four at a time
  gate run --tag fast      run every gate tagged `fast`
  gate run all --dry-run   show what would run, and what would be skipped and why
  gate list                the gates, with descriptions, deps and tags
  gate graph ci --format mermaid
  gate hook install        run the `fast` target (or the default) on what is staged, at each commit
  gate run --since main    run only what changed since main, and what depends on it
  gate run ci --ci --shard 1/4
  gate ci github ci > .github/workflows/gate.yml
  gate import pre-commit > imported.kdl

Exit codes: 0 nothing failed; 1 a gate failed, was blocked or timed out; 2 invalid gates.kdl or
command line; 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "gate", version, about = ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// The graph to use, instead of the nearest gates.kdl in this or a parent directory
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Override a variable declared in `vars { ... }` (repeatable)
    #[arg(long = "var", global = true, value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run gates and their dependencies, in parallel
    Run(RunArgs),
    /// List the gates with their descriptions, dependencies and tags
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print the dependency graph
    Graph {
        /// Show only this gate and what it depends on
        target: Option<String>,
        #[arg(long, value_enum, default_value = "dot")]
        format: Format,
    },
    /// Validate gates.kdl and report every problem; runs nothing
    Check,
    /// Say whether a gate would be restored from the cache or run, and why: its key, and
    /// what changed since its last run, field by field
    Explain {
        /// The gate (its dependencies are keyed first, as a run would)
        gate: String,
    },
    /// Inspect and trim the result cache (.gate/cache, or GATE_CACHE_DIR)
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Check a run's manifest: its digests, the chain of runs before it, the input lists it
    /// refers to, and its outputs on disk, file by file. Given an attestation (`gate attest`'s
    /// output), check its signature, its subjects on disk, and that it is what the run's
    /// manifest gives
    Verify {
        /// A manifest file, a run directory, a run id or `latest` [default: latest], or an
        /// attestation file
        target: Option<String>,
        /// The signer's ed25519 public key (SPKI PEM, as `openssl pkey -pubout` writes) to
        /// check a signed attestation with
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Print a run's provenance as an in-toto Statement v1 with a SLSA Provenance v1
    /// predicate; its subjects are the outputs of passed gates, re-hashed first
    Attest {
        /// A manifest file, a run directory, a run id or `latest` [default: latest]
        manifest: Option<String>,
        /// Write the attestation to this file (atomically) instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Sign it: a DSSE envelope, signed with this ed25519 private key (PKCS#8 PEM, as
        /// `openssl genpkey -algorithm ed25519` writes)
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Write a run's report as one self-contained HTML page (status table, timeline, failure
    /// logs) and print its path
    Report {
        /// A run id, a run directory or a manifest file [default: the latest run]
        run: Option<String>,
        /// Where to write the page [default: .gate/runs/RUN/report.html]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Install, remove or show the git hooks that run gate (pre-commit: `gate run --staged`)
    Hook {
        #[command(subcommand)]
        action: HookAction,
    },
    /// Import another tool's configuration as gates.kdl text (printed, never written)
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Print a CI configuration that runs this graph's gates the way a laptop does
    Ci {
        #[command(subcommand)]
        provider: CiProvider,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookAction {
    /// Write the hook script into the repository's hooks directory (core.hooksPath and
    /// worktrees honoured); reinstalling is harmless
    Install {
        /// Which hook
        #[arg(long = "hook", value_enum, default_value = "pre-commit")]
        kind: hook::Kind,
        /// The target it runs [default: `fast` if there is such a gate, else the default]
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Replace a hook gate did not write, keeping it as HOOK.gate-backup
        #[arg(long)]
        force: bool,
    },
    /// Remove gate's hook and put back the one `--force` replaced, if any
    Uninstall {
        #[arg(long = "hook", value_enum, default_value = "pre-commit")]
        kind: hook::Kind,
    },
    /// Say which hooks are installed: gate's (and its target), another's, or none
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Translate a `.pre-commit-config.yaml`'s local hooks into gates; a comment says why for
    /// each hook that cannot be translated
    PreCommit {
        /// The configuration [default: .pre-commit-config.yaml in the current directory]
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CiProvider {
    /// A GitHub Actions workflow: install gate, restore the cache, `gate run --ci TARGET`
    /// (one job per shard), upload the run record and a JUnit report
    Github {
        /// The target the workflow runs [default: the graph's default]
        target: Option<String>,
        /// Split the run over this many parallel jobs (`--shard K/N`)
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=256))]
        shards: u32,
        /// A command that installs gate, instead of `cargo install --git` from this build's
        /// repository (repeatable; one step line each)
        #[arg(long, value_name = "CMD")]
        install: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries, blobs and bytes in the cache, and the hit rate of the last run
    Stats,
    /// Remove least recently used entries (and the blobs only they used)
    Prune {
        /// Remove entries until the cache is at most this size (e.g. 500M, 2G)
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// Remove entries not used for this long (e.g. 30d, 12h)
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Option<std::time::Duration>,
    },
    /// Remove every entry and blob
    Clean,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..digits]
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 500M or 2G"))?;
    let unit: u64 = match text[digits..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        other => return Err(format!("unknown size unit `{other}`: use K, M, G or T")),
    };
    Ok((number * unit as f64) as u64)
}

fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    model::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not an age such as 30d, 12h or 90m"))
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Gates to run (with their dependencies); default: the `default` target, or every gate.
    /// `all` selects every gate unless a gate is named `all`
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Run every gate with this tag (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Gates to run at once [default: available parallelism]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    /// Treat a gate skipped for a missing tool as a failure
    #[arg(long)]
    pub strict: bool,

    /// CI mode: strict, plain output (no live view, no colour), GitHub Actions annotations
    /// when GITHUB_ACTIONS is set. Implied by CI=true or CI=1
    #[arg(long, overrides_with = "no_ci")]
    pub ci: bool,

    /// Not CI mode, even when CI is set
    #[arg(long, overrides_with = "ci")]
    pub no_ci: bool,

    /// Run shard K of N: the selected gates whose name hashes to K (groups excepted), with
    /// their dependencies (restored from the cache when another shard stored them)
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// Stop at the first failure: cancel running gates and start no new ones
    #[arg(long)]
    pub fail_fast: bool,

    /// Print the plan (what would run, what would be skipped and why) and run nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Stream every gate's output live, prefixed with its name
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only failures
    #[arg(short, long)]
    pub quiet: bool,

    /// Run every gate instead of restoring results from the cache (results are still stored)
    #[arg(long)]
    pub no_cache: bool,

    /// Also write the run's manifest here (it is always kept in `.gate/runs/RUN/`)
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// Write a JUnit XML report: one testcase per gate
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Write a Chrome trace (open in Perfetto or chrome://tracing): one span per gate
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,

    /// Run on what is staged in git, in a checkout of the index (the working tree
    /// and the index are never touched); only gates whose inputs are staged run, with their
    /// dependents; the rest are `unaffected`
    #[arg(long, conflicts_with = "since")]
    pub staged: bool,

    /// Run only the gates whose inputs changed since REV (committed, staged, unstaged or
    /// untracked), with their dependents; the rest are `unaffected`
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,

    /// With --staged: copy what `fix #true` gates changed to the working tree (only for
    /// files without unstaged changes); they are not staged
    #[arg(long, requires = "staged")]
    pub apply_fixes: bool,

    /// The changed paths, given instead of asked of git (for hook frameworks that pass file
    /// names, e.g. pre-commit's `--all-files`): only gates whose inputs include one of them
    /// run, with their dependents; the rest are `unaffected`. Takes every argument after it
    #[arg(long, value_name = "PATH", num_args = 0.., conflicts_with = "since")]
    pub files: Option<Vec<PathBuf>>,

    /// Run on the tree of commit REV, in a checkout of it (the working tree and the index are
    /// never touched); what the pre-push hook runs for each pushed commit
    #[arg(long, value_name = "REV", conflicts_with_all = ["staged", "since"])]
    pub commit: Option<String>,
}

/// Where a run keeps its state, and what it is narrowed to.
struct Place<'a> {
    /// The root whose `.gate/` (and cache) the run uses: the real one, also when the gates
    /// run in a temporary checkout.
    home: &'a Path,
    /// `--staged`: the checkout of the index the gates run in.
    checkout: Option<&'a Checkout>,
    /// `--staged`, `--since`, `--files`: the changed paths, relative to the root.
    changed: Option<BTreeSet<String>>,
    since: Option<manifest::Since>,
    /// `--commit REV`: the commit whose tree the checkout holds.
    commit: Option<manifest::Since>,
}

impl Place<'_> {
    fn at(root: &Path) -> Place<'_> {
        Place {
            home: root,
            checkout: None,
            changed: None,
            since: None,
            commit: None,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Paths the user gave are relative to where they typed them, not to the root a run
    // works from.
    if let Command::Run(args) = &mut cli.command {
        let cwd = std::env::current_dir().unwrap_or_default();
        for path in [&mut args.manifest, &mut args.junit, &mut args.trace]
            .into_iter()
            .flatten()
        {
            *path = cwd.join(&*path);
        }
        for path in args.files.iter_mut().flatten() {
            *path = cwd.join(&*path);
        }
    }
    match cli.command {
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gate", &mut buffer);
            report::print(&String::from_utf8_lossy(&buffer));
            ExitCode::SUCCESS
        }
        Command::Verify {
            ref target,
            ref key,
        } => {
            let root = record_root(&cli);
            let runs = root.join(model::STATE_DIR).join(manifest::RUNS_DIR);
            let path = manifest::locate(&runs, target.as_deref());
            let verification = if attest::is_attestation(&path) {
                let key = match key.as_deref().map(attest::Verifier::read).transpose() {
                    Ok(key) => key,
                    Err(error) => {
                        report::fatal(&error);
                        return ExitCode::from(2);
                    }
                };
                attest::verify(&path, &root, key.as_ref())
            } else if key.is_some() && path.exists() {
                report::fatal(&format!(
                    "--key checks a signed attestation; {} is not one (a manifest is checked \
                     without a key)",
                    path.display()
                ));
                return ExitCode::from(2);
            } else {
                manifest::verify(&path, &root)
            };
            report::verification(&path, &verification);
            if verification.holds() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Attest {
            manifest: ref which,
            ref out,
            ref sign,
        } => {
            let signer = match sign.as_deref().map(attest::Signer::read).transpose() {
                Ok(signer) => signer,
                Err(error) => {
                    report::fatal(&error);
                    return ExitCode::from(2);
                }
            };
            let root = record_root(&cli);
            let runs = root.join(model::STATE_DIR).join(manifest::RUNS_DIR);
            let path = manifest::locate(&runs, which.as_deref());
            let written =
                attest::attest(&path, &root, signer.as_ref()).and_then(|text| match out {
                    Some(out) => manifest::write_file(out, &text),
                    None => {
                        report::print(&text);
                        Ok(())
                    }
                });
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    report::fatal(&error);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report { ref run, ref out } => {
            let root = record_root(&cli);
            let runs = root.join(model::STATE_DIR).join(manifest::RUNS_DIR);
            let path = manifest::locate(&runs, run.as_deref());
            let record = match manifest::load(&path) {
                Ok(record) => record,
                Err(error) => {
                    report::fatal(&error);
                    return ExitCode::from(2);
                }
            };
            let dir = report::logs::run_dir(&path, &record, &runs);
            let page = report::html::page(&record, &report::logs::Logs::kept(&dir, &record));
            let target = out.clone().unwrap_or_else(|| dir.join("report.html"));
            if let Err(error) = manifest::write_file(&target, &page) {
                report::fatal(&error);
                return ExitCode::FAILURE;
            }
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = target.strip_prefix(&cwd).unwrap_or(&target);
            report::print(&format!("{}\n", shown.display()));
            ExitCode::SUCCESS
        }
        Command::Hook {
            action: HookAction::Status,
        } => hook_result(hook::status(&cwd_or_dot())),
        Command::Hook {
            action: HookAction::Uninstall { kind },
        } => hook_result(hook::uninstall(&cwd_or_dot(), kind)),
        Command::Run(ref args) if args.staged || args.commit.is_some() => {
            run_in_checkout(&cli, args)
        }
        Command::Import {
            source: ImportSource::PreCommit { ref path },
        } => {
            let path = path
                .clone()
                .unwrap_or_else(|| PathBuf::from(".pre-commit-config.yaml"));
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) => {
                    report::fatal(&format!(
                        "cannot read {}: {error}\n  hint: give the configuration's path: \
                         gate import pre-commit PATH",
                        path.display()
                    ));
                    return ExitCode::from(2);
                }
            };
            match import::pre_commit(&path, &text) {
                Ok(gates) => {
                    report::print(&gates);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    report::fatal(&error);
                    ExitCode::from(2)
                }
            }
        }
        _ => match front(&cli) {
            Ok((root, sources, graph)) => dispatch(&cli, &root, &sources, &graph),
            Err(code) => code,
        },
    }
}

fn cwd_or_dot() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// Prints what a hook command did; a refusal or failure exits 1.
fn hook_result(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            report::print(&format!("{}\n", text.trim_end()));
            ExitCode::SUCCESS
        }
        Err(error) => {
            report::fatal(&error);
            ExitCode::FAILURE
        }
    }
}

/// `gate run --staged` and `gate run --commit REV`: brings a checkout to the index (or the
/// commit's tree), loads gates.kdl from it, and runs there with the real root's state
/// directory and cache. The repository's kept checkout stays for the next such run; a
/// one-off copy is removed when this returns (a killed run's, by the next one).
fn run_in_checkout(cli: &Cli, args: &RunArgs) -> ExitCode {
    staged::pin_environment();
    let cwd = cwd_or_dot();
    let real = match discover::discover(&cwd, cli.file.as_deref()) {
        Ok(root) => root,
        Err(diagnostic) => {
            report::diagnostics(&Sources::default(), vec![diagnostic]);
            return ExitCode::from(2);
        }
    };
    let state = state_dir(&real.dir);
    let _checkout_lock = (!args.dry_run).then(|| checkout_lock(&state)).flatten();
    let label = match &args.commit {
        Some(rev) => format!("--commit {rev}"),
        None => "--staged".to_owned(),
    };
    // What the checkout holds (the index, or a commit's tree) and what counts as changed:
    // the staged paths, the paths given with --files, or (a commit) nothing narrows the run.
    let found = staged::Repo::of(&real.dir).and_then(|_| {
        let source = match &args.commit {
            Some(rev) => staged::Source::Commit(staged::resolve(&real.dir, rev)?),
            None => staged::Source::Index,
        };
        let changed = match (&args.files, &source) {
            (Some(files), _) => Some(staged::given(&real.dir, files)),
            (None, staged::Source::Index) => Some(staged::changed_staged(&real.dir)?),
            (None, staged::Source::Commit(_)) => None,
        };
        Ok((source, changed))
    });
    let (source, changed) = match found {
        Ok(found) => found,
        Err(error) => {
            report::fatal(&format!("{label}: {error}"));
            return ExitCode::from(2);
        }
    };
    // Ctrl-C from here on must not kill gate before it removes the checkout.
    staged::guard_signals();
    let checkout = match Checkout::new(&real.dir, &source) {
        Ok(checkout) => checkout,
        Err(_) if staged::signalled() => return interrupted_early(),
        Err(error) => {
            report::fatal(&format!("{label}: {error}"));
            return ExitCode::from(2);
        }
    };
    if staged::signalled() {
        return interrupted_early();
    }
    let relative = real
        .file
        .strip_prefix(&real.dir)
        .unwrap_or(Path::new(discover::FILE_NAME));
    let file = checkout.root.join(relative);
    if !file.is_file() {
        report::fatal(&match &source {
            staged::Source::Index => format!(
                "--staged: {} is not in the git index; `git add` it first",
                relative.display()
            ),
            staged::Source::Commit(commit) => {
                format!("{label}: {} is not in commit {commit}", relative.display())
            }
        });
        return ExitCode::from(2);
    }
    let (root, sources, graph) = match front_at(&checkout.root, Some(&file), &cli.vars) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let place = Place {
        home: &real.dir,
        checkout: Some(&checkout),
        changed,
        since: None,
        commit: match (&args.commit, &source) {
            (Some(rev), staged::Source::Commit(commit)) => Some(manifest::Since {
                rev: rev.clone(),
                commit: commit.clone(),
            }),
            _ => None,
        },
    };
    run(cli, args, &root, &sources, &graph, place)
}

/// Ctrl-C before any gate started (the checkout, if made, is removed on the way out).
fn interrupted_early() -> ExitCode {
    report::warning("interrupted before any gate ran");
    ExitCode::from(130)
}

/// The root for commands that read run records, which need no valid graph (a manifest is
/// checked long after the gates.kdl that produced it changed): the directory of the nearest
/// gates.kdl, or the current directory.
fn record_root(cli: &Cli) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    discover::discover(&cwd, cli.file.as_deref())
        .map(|root| root.dir)
        .unwrap_or(cwd)
}

/// discover → load → parse → model → graph, reporting every problem at once.
fn front(cli: &Cli) -> Result<(Root, Sources, Graph), ExitCode> {
    front_at(&cwd_or_dot(), cli.file.as_deref(), &cli.vars)
}

/// [`front`] from `cwd`, with `-f FILE` and `--var`s.
fn front_at(
    cwd: &Path,
    file: Option<&Path>,
    vars: &[String],
) -> Result<(Root, Sources, Graph), ExitCode> {
    let invalid = ExitCode::from(2);
    let root = match discover::discover(cwd, file) {
        Ok(root) => root,
        Err(diagnostic) => {
            report::diagnostics(&Sources::default(), vec![diagnostic]);
            return Err(invalid);
        }
    };
    let loaded = match load::load(&root) {
        Ok(loaded) => loaded,
        Err((sources, diagnostics)) => {
            report::diagnostics(&sources, diagnostics);
            return Err(invalid);
        }
    };
    let mut diagnostics = Vec::new();
    let overrides = overrides(vars, &mut diagnostics);
    let (syntax, found) = parse::parse(&loaded.items);
    diagnostics.extend(found);
    let (model, found) = model::model(syntax, &overrides);
    diagnostics.extend(found);
    let (graph, found) = graph::graph(model);
    diagnostics.extend(found);
    if diagnostics.is_empty() {
        Ok((root, loaded.sources, graph))
    } else {
        report::diagnostics(&loaded.sources, diagnostics);
        Err(invalid)
    }
}

fn overrides(vars: &[String], diagnostics: &mut Vec<Diagnostic>) -> Vec<(String, String)> {
    vars.iter()
        .filter_map(|text| match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => Some((name.to_owned(), value.to_owned())),
            _ => {
                diagnostics.push(Diagnostic::bare(Error::VarSyntax { text: text.clone() }));
                None
            }
        })
        .collect()
}

fn dispatch(cli: &Cli, root: &Root, sources: &Sources, graph: &Graph) -> ExitCode {
    match &cli.command {
        Command::Run(args) => run(cli, args, root, sources, graph, Place::at(&root.dir)),
        Command::Hook {
            action:
                HookAction::Install {
                    kind,
                    target,
                    force,
                },
        } => hook_install(root, graph, sources, *kind, target.as_deref(), *force),
        Command::List { json } => {
            report::list(graph, sources, *json);
            ExitCode::SUCCESS
        }
        Command::Graph { target, format } => {
            let gates = match target {
                Some(target) if graph.model.gates.contains_key(target) => {
                    graph.closure([target.as_str()])
                }
                Some(target) if target == "all" => graph.order.iter().map(String::as_str).collect(),
                Some(target) => return unknown_target(target, graph, sources),
                None => graph.order.iter().map(String::as_str).collect(),
            };
            report::print(&graph::render(graph, &gates, *format));
            ExitCode::SUCCESS
        }
        Command::Check => {
            report::check(graph, sources);
            ExitCode::SUCCESS
        }
        Command::Explain { gate } => explain(gate, root, sources, graph),
        Command::Cache { action } => cache_command(action, root),
        Command::Ci {
            provider:
                CiProvider::Github {
                    target,
                    shards,
                    install,
                },
        } => {
            if let Some(target) = target.as_deref()
                && target != "all"
                && !graph.model.gates.contains_key(target)
            {
                return unknown_target(target, graph, sources);
            }
            let cache_dir = cache_dir(&root.dir);
            let cache_dir = cache_dir
                .strip_prefix(&root.dir)
                .unwrap_or(&cache_dir)
                .to_string_lossy()
                .into_owned();
            report::print(&ci::github(&ci::Workflow {
                target: target.clone(),
                shards: *shards,
                install: install.clone(),
                repository: env!("CARGO_PKG_REPOSITORY").to_owned(),
                cache_dir,
            }));
            ExitCode::SUCCESS
        }
        Command::Import { .. }
        | Command::Completions { .. }
        | Command::Hook { .. }
        | Command::Verify { .. }
        | Command::Attest { .. }
        | Command::Report { .. } => {
            unreachable!("handled before the graph is loaded")
        }
    }
}

/// Says that `target` names no gate, with the closest name: exit 2 (`gate graph`, `gate hook
/// install`, `gate ci github`; `gate run` learns it from the plan).
fn unknown_target(target: &str, graph: &Graph, sources: &Sources) -> ExitCode {
    let hint = crate::error::did_you_mean(target, graph.model.gates.keys().map(String::as_str));
    report::diagnostics(
        sources,
        vec![Diagnostic::bare(Error::UnknownTarget {
            name: target.to_owned(),
            hint,
        })],
    );
    ExitCode::from(2)
}

/// `gate hook install`: the target is checked against the graph; its default is `fast`
/// when there is such a gate, else the graph's default.
fn hook_install(
    root: &Root,
    graph: &Graph,
    sources: &Sources,
    kind: hook::Kind,
    target: Option<&str>,
    force: bool,
) -> ExitCode {
    let target = match target {
        Some(target) if graph.model.gates.contains_key(target) || target == "all" => {
            Some(target.to_owned())
        }
        Some(target) => return unknown_target(target, graph, sources),
        None => graph
            .model
            .gates
            .contains_key("fast")
            .then(|| "fast".to_owned()),
    };
    let repo = match staged::Repo::of(&root.dir) {
        Ok(repo) => repo,
        Err(error) => {
            report::fatal(&error);
            return ExitCode::FAILURE;
        }
    };
    // The hook runs at the top of the work tree; a gates.kdl elsewhere is named with -f.
    let name = root.file.file_name().unwrap_or_default().to_string_lossy();
    let file = (!repo.prefix.is_empty() || name != discover::FILE_NAME)
        .then(|| format!("{}{name}", repo.prefix));
    hook_result(hook::install(
        &root.dir,
        kind,
        target.as_deref(),
        file.as_deref(),
        force,
    ))
}

fn run(
    cli: &Cli,
    args: &RunArgs,
    root: &Root,
    sources: &Sources,
    graph: &Graph,
    mut place: Place,
) -> ExitCode {
    let selection = Selection {
        targets: args.targets.clone(),
        tags: args.tags.clone(),
    };
    let context = Context::from_process(&root.dir);
    let mut plan = match plan::plan(graph, &selection, &context) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            report::diagnostics(sources, diagnostics);
            return ExitCode::from(2);
        }
    };
    let ci = ci::enabled(args.ci, args.no_ci, std::env::var_os("CI").as_deref());
    let strict = args.strict || ci;
    if ci {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    if let (Some(files), None) = (&args.files, &place.changed) {
        place.changed = Some(staged::given(&root.dir, files));
    }
    if let Some(rev) = &args.since {
        staged::pin_environment();
        let found = staged::resolve(&root.dir, rev).and_then(|commit| {
            let changed = staged::changed_since(&root.dir, &commit)?;
            Ok((commit, changed))
        });
        match found {
            Ok((commit, changed)) => {
                place.since = Some(manifest::Since {
                    rev: rev.clone(),
                    commit,
                });
                place.changed = Some(changed);
            }
            Err(error) => {
                report::fatal(&format!("--since {rev}: {error}"));
                return ExitCode::from(2);
            }
        }
    }
    // A change to gates.kdl (or a file it includes) may change any gate: nothing is narrowed.
    if let Some(changed) = &place.changed
        && !sources
            .files
            .iter()
            .any(|file| changed.contains(&file.name))
    {
        let affected = inputs::affected(&plan, graph, changed);
        plan.narrow(&affected);
    }
    let (plan, shard) = match args.shard {
        Some(shard) => {
            let selected = plan
                .steps
                .iter()
                .filter(|s| !matches!(s.decision, plan::Decision::Group))
                .count();
            let (plan, owned) = shard.narrow(plan, graph);
            report::shard(&shard, &owned, selected);
            (plan, Some((shard, owned)))
        }
        None => (plan, None),
    };
    let jobs = args.jobs.map(|j| j as usize).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let state = state_dir(place.home);
    // One run at a time per checkout (a hook and a manual run would write the same outputs
    // and logs); runs in other checkouts share the cache freely. A staged run holds it
    // already.
    let _checkout = (!args.dry_run && place.checkout.is_none())
        .then(|| checkout_lock(&state))
        .flatten();
    let started = std::time::SystemTime::now();
    // The tree as the run found it (gates may write into it), read while the inputs are
    // walked and the gates run.
    let git = (!args.dry_run).then(|| {
        let dir = place.home.to_path_buf();
        std::thread::spawn(move || manifest::probe(&dir))
    });
    let (keyer, mut options) = prepare(root, graph, &plan, !args.no_cache, &place);
    options.run = manifest::run_id(started);
    if args.dry_run {
        let forecast = schedule::forecast(&plan, &keyer, &options);
        report::dry_run(&plan, &forecast, jobs);
        return ExitCode::SUCCESS;
    }

    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let live = std::io::stdout().is_terminal() && !ci && verbosity != Verbosity::Quiet;
    let mut view = RunReport::new(&plan, place.home, verbosity, live);
    options.jobs = jobs;
    options.fail_fast = args.fail_fast;
    options.stream = verbosity == Verbosity::Verbose;
    options.explain = verbosity == Verbosity::Verbose;

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report::fatal(&format!("cannot start the async runtime: {error}"));
            return ExitCode::from(2);
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    // The tree as the run found it (gates may write into it), read while gates run.
    let run = runtime.block_on(async {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone(), Arc::clone(&interrupted));
        // A staged run's Ctrl-C may have come before those handlers were there.
        if staged::signalled() {
            cancel.cancel();
        }
        let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let scheduler = {
            let (plan, options, cancel) = (&plan, &options, cancel.clone());
            let keyer = Arc::clone(&keyer);
            async move { schedule::schedule(plan, keyer, options, cancel, events).await }
        };
        let printer = async {
            while let Some(event) = receiver.recv().await {
                view.event(event);
            }
        };
        let (run, ()) = tokio::join!(scheduler, printer);
        run
    });
    // A signal between the checkout and the run's handlers counts too.
    let interrupted = interrupted.load(Ordering::SeqCst) || staged::signalled();
    if let Err(error) = keyer.save() {
        report::warning(&format!("cannot save the stat cache: {error}"));
    }
    let (hits, misses) = run.lookups();
    cache::Lookups { hits, misses }.save(&state);
    let context = manifest::Context {
        id: options.run.clone(),
        started,
        graph,
        invocation: manifest::Invocation {
            command: "run".to_owned(),
            targets: args.targets.clone(),
            tags: args.tags.clone(),
            selected: {
                let mut gates: Vec<String> = plan.steps.iter().map(|s| s.gate.clone()).collect();
                gates.sort();
                gates
            },
            vars: overrides(&cli.vars, &mut Vec::new()).into_iter().collect(),
            strict,
            fail_fast: args.fail_fast,
            no_cache: args.no_cache,
            jobs: jobs as u64,
            staged: args.staged,
            since: place.since.clone(),
            commit: place.commit.clone(),
            ci,
            shard: shard.map(|(shard, owned)| manifest::Shard {
                index: shard.index,
                count: shard.count,
                owned,
            }),
        },
        sources: sources
            .files
            .iter()
            .map(|file| manifest::SourceFile {
                path: file.name.clone(),
                blake3: crate::key::Hex(blake3::hash(file.text.as_bytes())),
            })
            .collect(),
        git: git
            .and_then(|thread| thread.join().ok())
            .flatten()
            .map(|probe| {
                if let Some(at) = &place.commit {
                    // The run saw a commit's tree: that commit, clean.
                    return manifest::commit_git(&root.dir, probe, &at.commit);
                }
                if place.checkout.is_some() {
                    // The run saw the index: it is dirty when the index differs from HEAD.
                    return manifest::staged_git(probe);
                }
                let (walked, outside) = keyer.index().known();
                let generated = |path: &str| keyer.generated(path);
                manifest::git_state(&root.dir, probe, &walked, &outside, &run, &generated)
            }),
        strict,
        interrupted,
        state: state.clone(),
    };
    let record = manifest::build(&context, &run);
    let failed_logs: Vec<(String, PathBuf)> = run
        .outcomes
        .iter()
        .filter(|o| o.status.is_failure())
        .filter_map(|o| Some((o.gate.clone(), o.log.clone()?)))
        .collect();
    match manifest::write(&state, record, args.manifest.as_deref(), &failed_logs) {
        Ok(written) => {
            for note in &written.notes {
                report::warning(note);
            }
            view.finish(&run, strict, interrupted);
            reports(args, &written.manifest, place.home);
        }
        Err(error) => {
            // Reports render from the written record; without it there are none to write.
            let reports = if args.junit.is_some() || args.trace.is_some() {
                " (so no --junit or --trace report either)"
            } else {
                ""
            };
            report::warning(&format!(
                "cannot write the run's manifest: {error}{reports}"
            ));
            view.finish(&run, strict, interrupted);
        }
    }
    let fixes_pending = match place.checkout {
        Some(checkout) if args.staged && !interrupted => {
            fixes(checkout, &plan, &run, args.apply_fixes)
        }
        _ => false,
    };
    if interrupted {
        ExitCode::from(130)
    } else if run.failed(strict) || fixes_pending {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// After a staged run: the diff `fix #true` gates made in the checkout, printed, and with
/// `apply` copied to the working tree when none of those files has unstaged changes. The
/// fixed files are never staged: the commit stops so the user can review them. Returns
/// whether there were fixes.
fn fixes(checkout: &Checkout, plan: &Plan, run: &schedule::Run, apply: bool) -> bool {
    let fixers = plan.steps.iter().zip(&run.outcomes).any(|(step, outcome)| {
        matches!(&step.decision, plan::Decision::Run(job) if job.fix) && outcome.log.is_some()
    });
    if !fixers {
        return false;
    }
    let (files, diff) = match checkout.fixes() {
        Ok(found) => found,
        Err(error) => {
            report::warning(&format!("cannot tell what the fixes changed: {error}"));
            return false;
        }
    };
    if files.is_empty() {
        return false;
    }
    let outcome = if !apply {
        Ok(format!(
            "fixes: {} would change {}; nothing was written (--apply-fixes writes them to the \
             working tree)",
            plural(files.len(), "file"),
            files.join(", ")
        ))
    } else {
        match staged::unstaged(&checkout.repo.top) {
            Err(error) => Err(format!("fixes not applied: {error}")),
            Ok(unstaged) => {
                let blocked: Vec<&str> = files
                    .iter()
                    .filter(|f| unstaged.contains(*f))
                    .map(String::as_str)
                    .collect();
                if !blocked.is_empty() {
                    Err(format!(
                        "fixes not applied: {} unstaged changes that the fix would overwrite: \
                         {} (stage or stash them, then commit again)",
                        if blocked.len() == 1 {
                            "this file has"
                        } else {
                            "these files have"
                        },
                        blocked.join(", ")
                    ))
                } else {
                    checkout.apply(&files).map(|()| {
                        format!(
                            "fixes: applied to {} in the working tree ({}); they are not \
                             staged: review them, `git add` and commit again",
                            plural(files.len(), "file"),
                            files.join(", ")
                        )
                    })
                }
            }
        }
    };
    report::fixes(&diff, &outcome);
    true
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// The files a run was asked to write from its record (`--junit`, `--trace`), and the
/// GitHub Actions step summary when running there.
fn reports(args: &RunArgs, record: &manifest::Manifest, root: &Path) {
    let state = root.join(model::STATE_DIR);
    let run_dir = state.join(manifest::RUNS_DIR).join(&record.run.id);
    let logs = report::logs::Logs::kept(&run_dir, record);
    let write = |path: &Path, text: String| {
        if let Err(error) = manifest::write_file(path, &text) {
            report::warning(&format!("cannot write a report: {error}"));
        }
    };
    if let Some(path) = &args.junit {
        write(path, report::junit::render(record, &logs));
    }
    if let Some(path) = &args.trace {
        write(path, report::trace::render(record));
    }
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        let logs = logs.current(&state.join("logs"), record);
        let token = report::github::token();
        report::print(&report::github::commands(record, &logs, &token));
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty());
        if let Some(summary) = summary {
            let text = report::github::summary(record);
            if let Err(error) = report::github::append(Path::new(&summary), &text) {
                report::warning(&error);
            }
        }
    }
}

/// `.gate/` under the root, with a `.gitignore` in it so state is never committed.
fn state_dir(root: &Path) -> PathBuf {
    let state = root.join(model::STATE_DIR);
    if std::fs::create_dir_all(&state).is_ok() {
        let ignore = state.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(ignore, "# gate's state directory: never commit it\n*\n");
        }
    }
    state
}

/// Takes `.gate/run.lock`, waiting (and saying so) while another run holds it, and writes
/// our pid in it. `None` when the lock cannot be taken at all (a read-only state directory)
/// or is held by a run this one is nested in (a gate that runs `gate run`): the run goes on.
fn checkout_lock(state: &Path) -> Option<std::fs::File> {
    use std::io::{Seek, Write};
    let path = state.join("run.lock");
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .ok()?;
    if file.try_lock().is_err() {
        let holder = std::fs::read_to_string(&path).ok()?.trim().parse().ok();
        if holder.is_some_and(ancestor) {
            return None;
        }
        report::warning("another gate run is working in this checkout; waiting for it to finish");
        file.lock().ok()?;
    }
    // Fixed width, written in place: no truncation on the way.
    let _ = file.rewind();
    let _ = writeln!(file, "{:<10}", std::process::id());
    Some(file)
}

/// Whether `pid` is this process's parent, grandparent, ...
fn ancestor(pid: u32) -> bool {
    let parent = |of: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{of}/stat")).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let mut current = std::process::id();
    while let Some(up) = parent(current).filter(|&p| p > 1) {
        if up == pid {
            return true;
        }
        current = up;
    }
    false
}

/// The cache directory: `GATE_CACHE_DIR` (relative to the root) or `.gate/cache`.
fn cache_dir(root: &Path) -> PathBuf {
    cache::dir(root, std::env::var_os("GATE_CACHE_DIR").as_deref())
}

/// What keying and caching need: the walk of the plan's inputs, the stat cache, the store.
/// A cache that cannot be opened is a warning, not a failure: the run goes on uncached.
fn prepare(
    root: &Root,
    graph: &Graph,
    plan: &Plan,
    read_cache: bool,
    place: &Place,
) -> (Arc<Keyer>, Options) {
    // Gates run in their own directories; gate itself works from the root, where the walk's
    // paths are shortest.
    let _ = std::env::set_current_dir(&root.dir);
    let state = state_dir(place.home);
    let cache_dir = cache_dir(place.home);
    let cache = match Cache::open(&cache_dir) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(error) => {
            report::warning(&format!(
                "cannot open the cache at {}: {error}; running without it",
                cache_dir.display()
            ));
            None
        }
    };
    let outputs: Vec<Outputs> = graph
        .model
        .gates
        .values()
        .filter(|g| !g.outputs.is_empty())
        .map(|g| Outputs::new(&g.name, &g.outputs))
        .collect();
    let keyer = Keyer::new(
        &root.dir,
        plan,
        &outputs,
        &place
            .checkout
            .map(Checkout::stat_cache)
            .unwrap_or_else(|| state.join("stat-cache")),
        std::slice::from_ref(&cache_dir),
    );
    let options = Options {
        jobs: 1,
        fail_fast: false,
        stream: false,
        logs: state.join("logs"),
        root: root.dir.clone(),
        keys: state.join("keys"),
        cache,
        read_cache,
        explain: false,
        run: String::new(),
    };
    (Arc::new(keyer), options)
}

/// `gate explain GATE`.
fn explain(gate: &str, root: &Root, sources: &Sources, graph: &Graph) -> ExitCode {
    let selection = Selection {
        targets: vec![gate.to_owned()],
        tags: Vec::new(),
    };
    let context = Context::from_process(&root.dir);
    let plan = match plan::plan(graph, &selection, &context) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            report::diagnostics(sources, diagnostics);
            return ExitCode::from(2);
        }
    };
    let (keyer, options) = prepare(root, graph, &plan, true, &Place::at(&root.dir));
    let forecast = schedule::forecast(&plan, &keyer, &options);
    report::explain(gate, &plan, &forecast);
    ExitCode::SUCCESS
}

/// `gate cache stats|prune|clean`.
fn cache_command(action: &CacheAction, root: &Root) -> ExitCode {
    let dir = cache_dir(&root.dir);
    let state = root.dir.join(model::STATE_DIR);
    match action {
        CacheAction::Stats => {
            report::cache_stats(&dir, &cache::stats(&dir), cache::Lookups::load(&state));
            ExitCode::SUCCESS
        }
        CacheAction::Prune {
            max_size,
            older_than,
        } => {
            if max_size.is_none() && older_than.is_none() {
                report::fatal("say what to prune: --max-size SIZE and/or --older-than AGE");
                return ExitCode::from(2);
            }
            let pruned = cache::prune(&dir, *max_size, *older_than);
            finished(pruned, "prune", &dir, |p| report::pruned(&dir, p))
        }
        CacheAction::Clean => finished(cache::clean(&dir), "clean", &dir, |f| {
            report::cleaned(&dir, f)
        }),
    }
}

/// Reports what a cache command did, or why it could not.
fn finished<T>(
    result: std::io::Result<T>,
    verb: &str,
    dir: &Path,
    show: impl FnOnce(&T),
) -> ExitCode {
    match result {
        Ok(done) => {
            show(&done);
            ExitCode::SUCCESS
        }
        Err(error) => {
            report::fatal(&format!("cannot {verb} {}: {error}", dir.display()));
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM cancels the run; gates run in their own process groups, so a terminal's
/// Ctrl-C reaches only gate, which must stop them itself.
fn watch_signals(cancel: CancellationToken, interrupted: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        interrupted.store(true, Ordering::SeqCst);
        cancel.cancel();
    });
}
