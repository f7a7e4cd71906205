//! gate runs a repository's quality gates from one declarative graph, `gates.kdl`.
//!
//! It is a pipeline; each module is one stage, takes the previous stage's type and returns a
//! new one, and never reaches back:
//!
//! | stage | takes → returns |
//! |---|---|
//! | [`discover`] | cwd or `-f` → [`discover::Root`] |
//! | [`load`] | root → [`load::Loaded`]: source texts, includes spliced, include cycles caught |
//! | [`parse`] | KDL nodes → [`parse::Syntax`], spanned; unknown names get "did you mean" |
//! | [`model`] | syntax → [`model::Model`]: gates by name, `${var}` substituted, paths checked |
//! | [`graph`] | model → [`graph::Graph`]: deps resolved, cycles as paths, topological order |
//! | [`plan`] | graph + selection → [`plan::Plan`]: what runs, what is skipped and why |
//! | [`ci`] | plan + `--shard K/N` → the plan narrowed to one shard; `gate ci github` |
//! | [`inputs`] | globs → [`inputs::Index`]: one walk + the stat cache; files with blake3 digests |
//! | [`key`] | job + deps' keys → [`key::Keyed`]: blake3 of [`key::Material`], kept for `explain` |
//! | [`cache`] | key → hit ([`cache::Entry`]: outputs verified, restored) or miss; prune, clean |
//! | [`exec`] / [`schedule`] | plan → [`exec::Outcome`]s: restore or run, read-only check, store |
//! | [`manifest`] | [`schedule::Run`] → [`manifest::Manifest`]: the run record, hash-chained; `verify` |
//! | [`attest`] | a run's manifest → in-toto Statement (SLSA Provenance), DSSE-signed; checked |
//! | [`report`] | everything the user sees: diagnostics, the run view, lists, graphs; and the report files (JUnit, trace, GitHub Actions, HTML) rendered from a manifest |
//!
//! [`import`] turns another tool's configuration (`.pre-commit-config.yaml`) into gates.kdl
//! text; it is not a stage of a run.
//!
//! [`error`] holds the diagnostics shared by the front stages; [`cli`] wires the stages to the
//! command line and decides the exit code. Beside the pipeline: [`staged`] asks git what
//! changed and copies the index to a temporary checkout (`run --staged`, `run --since`);
//! [`hook`] installs gate as a git hook.

pub mod attest;
pub mod cache;
pub mod ci;
pub mod cli;
pub mod discover;
pub mod error;
pub mod exec;
pub mod graph;
pub mod hook;
pub mod import;
pub mod inputs;
pub mod key;
pub mod load;
pub mod manifest;
pub mod model;
pub mod parse;
pub mod plan;
pub mod report;
pub mod schedule;
pub mod staged;
