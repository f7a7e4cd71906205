//! The command line: parses arguments, drives the pipeline stages in order, and decides the
//! exit code (2 for an invalid graph or command line, 0/1 from the outcomes, 130 when
//! interrupted). Holds no logic of its own beyond wiring.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::discover::{self, Root};
use crate::error::{Diagnostic, Error};
use crate::graph::{self, Format, Graph};
use crate::load::{self, Sources};
use crate::model;
use crate::parse;
use crate::plan::{self, Context, Selection};
use crate::report::{self, RunReport, Verbosity};
use crate::schedule::{self, Options};

const ABOUT: &str = "Run a repository's quality gates from one declarative graph (gates.kdl)";

const AFTER_HELP: &str = "\
Examples:
  gate run                 run the `default` target (or every gate)
  gate run lint test -j 4  run two gates and their dependencies, four at a time
  gate run --tag fast      run every gate tagged `fast`
  gate run all --dry-run   show what would run, and what would be skipped and why
  gate list                the gates, with descriptions, deps and tags
  gate graph ci --format mermaid

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
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gate", &mut buffer);
            report::print(&String::from_utf8_lossy(&buffer));
            ExitCode::SUCCESS
        }
        _ => match front(&cli) {
            Ok((root, sources, graph)) => dispatch(&cli, &root, &sources, &graph),
            Err(code) => code,
        },
    }
}

/// discover → load → parse → model → graph, reporting every problem at once.
fn front(cli: &Cli) -> Result<(Root, Sources, Graph), ExitCode> {
    let invalid = ExitCode::from(2);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = match discover::discover(&cwd, cli.file.as_deref()) {
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
    let overrides = overrides(&cli.vars, &mut diagnostics);
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
        Command::Run(args) => run(args, root, sources, graph),
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
                Some(target) => {
                    let hint = crate::error::did_you_mean(
                        target,
                        graph.model.gates.keys().map(String::as_str),
                    );
                    report::diagnostics(
                        sources,
                        vec![Diagnostic::bare(Error::UnknownTarget {
                            name: target.clone(),
                            hint,
                        })],
                    );
                    return ExitCode::from(2);
                }
                None => graph.order.iter().map(String::as_str).collect(),
            };
            report::print(&graph::render(graph, &gates, *format));
            ExitCode::SUCCESS
        }
        Command::Check => {
            report::check(graph, sources);
            ExitCode::SUCCESS
        }
        Command::Completions { .. } => unreachable!("handled before the graph is loaded"),
    }
}

fn run(args: &RunArgs, root: &Root, sources: &Sources, graph: &Graph) -> ExitCode {
    let selection = Selection {
        targets: args.targets.clone(),
        tags: args.tags.clone(),
    };
    let context = Context::from_process(&root.dir);
    let plan = match plan::plan(graph, &selection, &context) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            report::diagnostics(sources, diagnostics);
            return ExitCode::from(2);
        }
    };
    let jobs = args.jobs.map(|j| j as usize).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if args.dry_run {
        report::dry_run(&plan, jobs);
        return ExitCode::SUCCESS;
    }

    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
    let live = std::io::stdout().is_terminal() && !ci && verbosity != Verbosity::Quiet;
    let mut view = RunReport::new(&plan, &root.dir, verbosity, live);
    let options = Options {
        jobs,
        fail_fast: args.fail_fast,
        stream: verbosity == Verbosity::Verbose,
        logs: logs_dir(&root.dir),
    };

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
    let run = runtime.block_on(async {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone(), Arc::clone(&interrupted));
        let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let scheduler = {
            let (plan, options, cancel) = (&plan, &options, cancel.clone());
            async move { schedule::schedule(plan, options, cancel, events).await }
        };
        let printer = async {
            while let Some(event) = receiver.recv().await {
                view.event(event);
            }
        };
        let (run, ()) = tokio::join!(scheduler, printer);
        run
    });
    let interrupted = interrupted.load(Ordering::SeqCst);
    view.finish(&run, args.strict, interrupted);
    if interrupted {
        ExitCode::from(130)
    } else if run.failed(args.strict) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `.gate/logs` under the root, with a `.gitignore` in `.gate/` so state is never committed.
fn logs_dir(root: &Path) -> PathBuf {
    let state = root.join(model::STATE_DIR);
    if std::fs::create_dir_all(&state).is_ok() {
        let ignore = state.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(ignore, "# gate's state directory: never commit it\n*\n");
        }
    }
    state.join("logs")
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
