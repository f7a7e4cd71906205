//! import: another tool's configuration → gates.kdl text. [`pre_commit`] reads a
//! `.pre-commit-config.yaml` (YAML through serde-saphyr; the file is only read, never
//! rewritten) and returns one gate per hook it can translate, and a `//` comment naming each
//! hook it cannot, and why. Nothing here runs or writes anything; `report` prints the text.
//!
//! How a hook becomes a gate:
//! - `entry` + `args` → `run`, each word shell-quoted (pre-commit splits `entry` like a shell
//!   and appends `args` as words). A `script` entry without a slash gets `./`.
//! - `pass_filenames` (the default) → the files are listed by `git ls-files` with the hook's
//!   globs as pathspecs and handed over by `xargs`, as `pre-commit run --all-files` does.
//! - `files` / `exclude` (Python regexes, searched anywhere in the path) → input globs when the
//!   regex is a simple one (anchors, literals, `.*` between directories, `\.`, `(a|b)`,
//!   `[...]`, `(?x)` verbose form); a comment shows a regex that is not.
//! - `types` / `types_or` → file-name globs (`python` → `*.py` `*.pyi`, ...).
//! - `always_run` → no inputs, so the gate runs every time; otherwise the globs are the inputs
//!   (every file, `**`, when there are none), so an unchanged tree is served from the cache.
//! - `stages` (or `default_stages`) → tags (`commit` → `pre-commit`, `push` → `pre-push`);
//!   none → `pre-commit`.
//! - `language: python`, `node`, ... with `repo: local`: pre-commit installs
//!   `additional_dependencies` into its own environment; gate runs the entry from PATH and
//!   `requires` it, so a missing tool is named (and fails a `--ci` run).
//! - `language: pygrep`: `grep -P` over the hook's files; a match fails (`--negate`: a file
//!   without one).
//! - a remote `repo`: not translated; the comment suggests the tool's usual command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    repos: Vec<Repo>,
    #[serde(default)]
    files: Option<String>,
    #[serde(default)]
    exclude: Option<String>,
    #[serde(default)]
    default_stages: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Repo {
    repo: String,
    #[serde(default)]
    rev: Option<String>,
    #[serde(default)]
    hooks: Vec<Hook>,
}

#[derive(Debug, Deserialize)]
struct Hook {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    entry: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    files: Option<String>,
    #[serde(default)]
    exclude: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    types_or: Vec<String>,
    #[serde(default)]
    exclude_types: Vec<String>,
    #[serde(default)]
    stages: Option<Vec<String>>,
    #[serde(default)]
    pass_filenames: Option<bool>,
    #[serde(default)]
    always_run: Option<bool>,
    #[serde(default)]
    additional_dependencies: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Languages whose `entry` is a command pre-commit runs as written.
const COMMAND_LANGUAGES: &[&str] = &["system", "script", "unsupported", "unsupported_script"];

/// Languages for which pre-commit builds an environment from `additional_dependencies` and
/// then runs `entry` as a command in it.
const ENVIRONMENT_LANGUAGES: &[&str] = &[
    "python", "node", "ruby", "golang", "rust", "perl", "lua", "r", "dart", "swift", "conda",
    "coursier", "dotnet", "haskell", "julia",
];

/// Translates the configuration at `path` (its text `text`) into gates.kdl text, or says
/// where the YAML is wrong (`PATH:LINE:COLUMN: ...`).
pub fn pre_commit(path: &Path, text: &str) -> Result<String, String> {
    let config: Config = serde_saphyr::from_str(text).map_err(|error| {
        let place = match error.location() {
            Some(at) => format!("{}:{}:{}", path.display(), at.line(), at.column()),
            None => path.display().to_string(),
        };
        let message = error.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML");
        // Its first line repeats the place: `error: line 3 column 12: unclosed bracket`.
        let message = message.strip_prefix("error: ").unwrap_or(message);
        let message = match (error.location(), message.split_once(": ")) {
            (Some(_), Some((place, rest))) if place.starts_with("line ") => rest,
            _ => message,
        };
        format!(
            "{place}: {message}\n  hint: a .pre-commit-config.yaml is a mapping with `repos:`, \
             a list of repositories with `hooks:`"
        )
    })?;
    let mut out = format!(
        "// Imported from {} by `gate import pre-commit`.\n\
         // Run them all with `gate run --tag pre-commit` (or name a gate); check with `gate check`.\n",
        path.display()
    );
    let mut global_excludes = Vec::new();
    if let Some(regex) = given(&config.exclude) {
        match regex_globs(regex) {
            Some(globs) => global_excludes = globs,
            None => {
                let _ = writeln!(
                    out,
                    "// The top-level `exclude` regex {} has no glob equivalent: add `!GLOB` inputs by hand.",
                    one_line(regex)
                );
            }
        }
    }
    if let Some(regex) = given(&config.files) {
        let _ = writeln!(
            out,
            "// The top-level `files` regex {} is not applied: narrow each gate's inputs by hand.",
            one_line(regex)
        );
    }
    let mut names = BTreeSet::new();
    for repo in &config.repos {
        for hook in &repo.hooks {
            out.push('\n');
            match repo.repo.as_str() {
                "local" => {
                    let name = unique_name(&hook.id, &mut names);
                    out.push_str(&local(
                        &name,
                        hook,
                        config.default_stages.as_deref(),
                        &global_excludes,
                    ));
                }
                "meta" => {
                    let _ = writeln!(
                        out,
                        "// hook `{}` (repo: meta) checks pre-commit's own configuration: nothing to translate.",
                        hook.id
                    );
                }
                remote => out.push_str(&remote_comment(remote, repo.rev.as_deref(), hook)),
            }
        }
    }
    Ok(out)
}

/// A gate for one `repo: local` hook, or a comment saying why there is none.
fn local(
    name: &str,
    hook: &Hook,
    default_stages: Option<&[String]>,
    global_excludes: &[String],
) -> String {
    let language = hook.language.as_deref().unwrap_or("system");
    let mut notes: Vec<String> = Vec::new();
    let Some(entry) = hook.entry.as_deref().filter(|e| !e.trim().is_empty()) else {
        return format!(
            "// hook `{}` has no `entry`: nothing to run, so no gate.\n",
            hook.id
        );
    };
    let environment = ENVIRONMENT_LANGUAGES.contains(&language);
    let pygrep = language == "pygrep";
    if !COMMAND_LANGUAGES.contains(&language) && !environment && !pygrep {
        let why = match language {
            "fail" => {
                "it only fails when files match (a `fail` hook): write a gate that checks for them"
            }
            "docker" | "docker_image" => {
                "it runs in a container: write the `docker run` command as a gate"
            }
            _ => "pre-commit has no command for that language",
        };
        return format!(
            "// hook `{}` (language: {language}) is not translated: {why}.\n",
            hook.id
        );
    }
    let search = if pygrep {
        match grep(entry, &hook.args) {
            Ok(search) => Some(search),
            Err(why) => {
                return format!(
                    "// hook `{}` (language: pygrep) is not translated: {why}.\n",
                    hook.id
                );
            }
        }
    } else {
        None
    };
    // A pygrep entry is a regex, not words.
    let split = if pygrep {
        Some(Vec::new())
    } else {
        shlex::split(entry)
    };
    let Some(mut words) = split else {
        return format!(
            "// hook `{}` is not translated: its entry {} has unbalanced quotes.\n",
            hook.id,
            one_line(entry)
        );
    };
    if matches!(language, "script" | "unsupported_script")
        && let Some(first) = words.first_mut()
        && !first.contains('/')
    {
        first.insert_str(0, "./");
    }
    let tool = words.first().cloned().unwrap_or_default();
    if !pygrep {
        words.extend(hook.args.iter().cloned());
    }
    let Ok(command) = shlex::try_join(words.iter().map(String::as_str)) else {
        return format!(
            "// hook `{}` is not translated: an argument holds a NUL byte.\n",
            hook.id
        );
    };
    if pygrep {
        notes.push(
            "language pygrep: the regex is searched with `grep -P` (Perl syntax, close to \
             Python's)"
                .to_owned(),
        );
    }
    if environment {
        let deps = if hook.additional_dependencies.is_empty() {
            String::new()
        } else {
            format!(" ({})", hook.additional_dependencies.join(" "))
        };
        notes.push(format!(
            "language {language}: pre-commit installed it{deps} into its own environment; \
             gate runs `{tool}` from PATH: install it there"
        ));
    }

    // Which files: a list of name globs (types, files) under directories (files).
    let mut includes: Vec<String> = Vec::new();
    let files_globs = match given(&hook.files) {
        Some(regex) => match regex_globs(regex) {
            Some(globs) => Some(globs),
            None => {
                notes.push(format!(
                    "the `files` regex {} has no glob equivalent: narrow the inputs by hand",
                    one_line(regex)
                ));
                None
            }
        },
        None => None,
    };
    let type_globs = types_globs(hook, &mut notes);
    match (files_globs, type_globs) {
        (Some(files), Some(types)) => {
            for glob in &files {
                for name in &types {
                    includes.push(intersect(glob, name));
                }
            }
        }
        (Some(files), None) => includes = files,
        (None, Some(types)) => includes = types.iter().map(|t| format!("**/{t}")).collect(),
        (None, None) => {}
    }
    includes.sort();
    includes.dedup();
    let mut excludes: Vec<String> = global_excludes.to_vec();
    if let Some(regex) = given(&hook.exclude) {
        match regex_globs(regex) {
            Some(globs) => excludes.extend(globs),
            None => notes.push(format!(
                "the `exclude` regex {} has no glob equivalent: add `!GLOB` inputs by hand",
                one_line(regex)
            )),
        }
    }
    if !hook.exclude_types.is_empty() {
        notes.push(format!(
            "`exclude_types: [{}]` is not translated",
            hook.exclude_types.join(", ")
        ));
    }
    excludes.sort();
    excludes.dedup();

    // pygrep always searches the hook's files.
    let pass_filenames = hook.pass_filenames.unwrap_or(true) || pygrep;
    let run = if pass_filenames {
        // Excludes first: git 2.47 drops every file when an exclude follows includes that
        // share a directory prefix (`doc/a/** :(exclude)*.csv` lists nothing).
        let mut specs: Vec<String> = excludes
            .iter()
            .map(|g| format!(":(exclude,glob){g}"))
            .collect();
        specs.extend(includes.iter().map(|g| format!(":(glob){g}")));
        if includes.is_empty() && !excludes.is_empty() {
            specs.push(".".to_owned());
        }
        let specs: Vec<String> = specs.iter().map(|s| shell_quote(s)).collect();
        let specs = if specs.is_empty() {
            String::new()
        } else {
            format!(" -- {}", specs.join(" "))
        };
        match &search {
            // Matches (or, negated, files without one) are printed and fail the gate.
            Some(search) => format!(
                "found=$(git ls-files -z{specs} | xargs -0 -r {search}); \
                 if [ -n \"$found\" ]; then printf '%s\\n' \"$found\"; exit 1; fi"
            ),
            None => format!("git ls-files -z{specs} | xargs -0 -r {command}"),
        }
    } else {
        command
    };
    let always_run = hook.always_run.unwrap_or(false);
    let inputs: Vec<String> = if always_run {
        notes.push("always_run: no inputs, so it runs every time".to_owned());
        Vec::new()
    } else {
        let mut inputs = if includes.is_empty() {
            vec!["**".to_owned()]
        } else {
            includes.clone()
        };
        inputs.extend(excludes.iter().map(|g| format!("!{g}")));
        inputs
    };
    let stages = hook
        .stages
        .as_deref()
        .or(default_stages)
        .map(|stages| stages.to_vec())
        .unwrap_or_else(|| vec!["pre-commit".to_owned()]);
    let tags: BTreeSet<String> = stages
        .iter()
        .map(|stage| {
            match stage.as_str() {
                "commit" => "pre-commit",
                "push" => "pre-push",
                "merge-commit" => "pre-merge-commit",
                other => other,
            }
            .to_owned()
        })
        .collect();

    let mut out = String::new();
    for note in &notes {
        let _ = writeln!(out, "// {}: {note}", hook.id);
    }
    let _ = writeln!(out, "gate {} {{", kdl_string(name));
    let description = hook.name.as_deref().or(hook.description.as_deref());
    if let Some(description) = description.filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "    description {}", kdl_string(description));
    }
    if environment && !tool.is_empty() && !tool.contains('/') {
        let _ = writeln!(out, "    requires {}", kdl_string(&tool));
    }
    let _ = writeln!(out, "    run {}", kdl_string(&escape_vars(&run)));
    if !inputs.is_empty() {
        let list: Vec<String> = inputs.iter().map(|i| kdl_string(&escape_vars(i))).collect();
        let _ = writeln!(out, "    inputs {}", list.join(" "));
    }
    let list: Vec<String> = tags.iter().map(|t| kdl_string(t)).collect();
    let _ = writeln!(out, "    tags {}", list.join(" "));
    out.push_str("}\n");
    out
}

/// The `grep` command line of a pygrep hook (a matching line fails, or with `--negate` a file
/// without one), or why there is none.
fn grep(regex: &str, args: &[String]) -> Result<String, String> {
    let mut flags = String::from("-PnH");
    for arg in args {
        match arg.as_str() {
            "-i" | "--ignore-case" => flags.push('i'),
            "--negate" => flags = flags.replace("nH", "L"),
            "--multiline" => return Err("`--multiline` has no grep equivalent".to_owned()),
            other => return Err(format!("its argument `{other}` is not a pygrep option")),
        }
    }
    // grep takes each line of a pattern as a pattern of its own: a verbose regex is written
    // out on one line.
    let regex = match regex.trim_start().strip_prefix("(?x)") {
        Some(verbose) => strip_verbose(verbose),
        None => regex.trim_end_matches('\n').to_owned(),
    };
    if regex.contains('\n') {
        return Err("its regex spans lines".to_owned());
    }
    let regex = shlex::try_quote(&regex).map_err(|_| "its regex holds a NUL byte".to_owned())?;
    Ok(format!("grep {flags} -e {regex} --"))
}

/// The comment for a hook from another repository: gate does not fetch hooks.
fn remote_comment(repo: &str, rev: Option<&str>, hook: &Hook) -> String {
    let known: BTreeMap<&str, &str> = [
        ("black", "black --check ."),
        ("ruff", "ruff check ."),
        ("ruff-check", "ruff check ."),
        ("ruff-format", "ruff format --check ."),
        ("flake8", "flake8"),
        ("isort", "isort --check-only ."),
        ("mypy", "mypy ."),
        ("prettier", "prettier --check ."),
        ("eslint", "eslint ."),
        (
            "shellcheck",
            "git ls-files -z '*.sh' | xargs -0 -r shellcheck",
        ),
        ("hadolint", "hadolint Dockerfile"),
        ("hadolint-docker", "hadolint Dockerfile"),
        (
            "detect-secrets",
            "detect-secrets-hook --baseline .secrets.baseline",
        ),
        ("bandit", "bandit -r ."),
        ("codespell", "codespell"),
        ("yamllint", "yamllint ."),
        ("markdownlint", "markdownlint ."),
        ("semgrep", "semgrep scan --error"),
        ("fmt", "cargo fmt --check"),
        ("cargo-check", "cargo check"),
        ("clippy", "cargo clippy -- -D warnings"),
        ("gofmt", "gofmt -l ."),
    ]
    .into_iter()
    .collect();
    let rev = rev.map(|r| format!(" at {r}")).unwrap_or_default();
    let mut out = format!(
        "// hook `{}` from {repo}{rev} is not translated: gate runs commands, it does not \
         fetch hooks.\n",
        hook.id
    );
    match known.get(hook.id.as_str()) {
        Some(command) => {
            let _ = writeln!(
                out,
                "// With the tool installed, a gate would be: run {}",
                kdl_string(command)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "// Install the tool it wraps and write its command as a gate's `run`."
            );
        }
    }
    out
}

/// A `files` or `exclude` regex that filters anything: pre-commit's defaults (`''` for files,
/// `^$` for exclude) do not.
fn given(regex: &Option<String>) -> Option<&str> {
    regex.as_deref().filter(|r| !r.is_empty() && *r != "^$")
}

/// Globs for `types` (every tag must hold) and `types_or` (any may): `None` when they do not
/// narrow the files.
fn types_globs(hook: &Hook, notes: &mut Vec<String>) -> Option<Vec<String>> {
    let mut globs: Option<Vec<String>> = None;
    for tag in &hook.types {
        match type_glob(tag) {
            Some(TypeGlob::Any) => {}
            Some(TypeGlob::Names(names)) => match &globs {
                // Two name tags must both hold: keep the first, which is usually the narrower.
                Some(_) => notes.push(format!("`types` tag `{tag}` is not applied on top")),
                None => globs = Some(names.iter().map(|n| (*n).to_owned()).collect()),
            },
            None => notes.push(format!("`types` tag `{tag}` has no glob equivalent")),
        }
    }
    if !hook.types_or.is_empty() {
        let mut any: Vec<String> = Vec::new();
        let mut everything = false;
        for tag in &hook.types_or {
            match type_glob(tag) {
                Some(TypeGlob::Any) => everything = true,
                Some(TypeGlob::Names(names)) => any.extend(names.iter().map(|n| (*n).to_owned())),
                None => notes.push(format!("`types_or` tag `{tag}` has no glob equivalent")),
            }
        }
        if !everything && !any.is_empty() {
            globs = Some(match globs {
                None => any,
                Some(all) => all.into_iter().filter(|g| any.contains(g)).collect(),
            });
        }
    }
    globs
}

enum TypeGlob {
    /// Matches every file (`file`, `text`).
    Any,
    Names(&'static [&'static str]),
}

/// The file-name globs of an `identify` tag, for the common ones.
fn type_glob(tag: &str) -> Option<TypeGlob> {
    let names: &'static [&'static str] = match tag {
        "file" | "text" | "non-executable" => return Some(TypeGlob::Any),
        "python" | "pyi" => &["*.py", "*.pyi"],
        "cython" => &["*.pyx", "*.pxd"],
        "yaml" => &["*.yaml", "*.yml"],
        "json" => &["*.json"],
        "toml" => &["*.toml"],
        "ini" => &["*.ini", "*.cfg"],
        "xml" => &["*.xml"],
        "markdown" => &["*.md", "*.markdown"],
        "rst" => &["*.rst"],
        "shell" | "bash" | "sh" => &["*.sh", "*.bash"],
        "rust" => &["*.rs"],
        "go" => &["*.go"],
        "javascript" => &["*.js", "*.mjs", "*.cjs"],
        "jsx" => &["*.jsx"],
        "ts" => &["*.ts", "*.mts", "*.cts"],
        "tsx" => &["*.tsx"],
        "css" => &["*.css"],
        "scss" => &["*.scss"],
        "html" => &["*.html", "*.htm"],
        "c" => &["*.c", "*.h"],
        "c++" => &["*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx"],
        "java" => &["*.java"],
        "kotlin" => &["*.kt", "*.kts"],
        "ruby" => &["*.rb"],
        "php" => &["*.php"],
        "sql" => &["*.sql"],
        "dockerfile" => &["Dockerfile", "*.dockerfile", "Dockerfile.*"],
        "makefile" => &["Makefile", "*.mk"],
        "terraform" => &["*.tf"],
        "proto" => &["*.proto"],
        "lua" => &["*.lua"],
        "swift" => &["*.swift"],
        "csv" => &["*.csv"],
        "svg" => &["*.svg"],
        "jupyter" => &["*.ipynb"],
        _ => return None,
    };
    Some(TypeGlob::Names(names))
}

/// The glob of files matching both a path glob (`src/**/*.py`, `src/**`) and a name glob
/// (`*.py`): the name glob replaces a trailing `**`; a glob that already ends in a name keeps
/// it.
fn intersect(path: &str, name: &str) -> String {
    match path.strip_suffix("**") {
        Some(dir) if dir.is_empty() || dir.ends_with('/') => format!("{dir}**/{name}"),
        // `docs/v*` and `*.rst`: `docs/v*.rst`.
        _ if path.ends_with('*') && name.starts_with('*') => format!("{path}{}", &name[1..]),
        _ => path.to_owned(),
    }
}

/// Globs matching what a pre-commit regex (`re.search` over the relative path) matches, for
/// the simple regexes people write; `None` for any other.
pub fn regex_globs(regex: &str) -> Option<Vec<String>> {
    let regex = match regex.strip_prefix("(?x)") {
        Some(verbose) => strip_verbose(verbose),
        None => regex.to_owned(),
    };
    let chars: Vec<char> = regex.chars().collect();
    let mut position = 0;
    let alternatives = parse_alternatives(&chars, &mut position, 0)?;
    if position != chars.len() {
        return None;
    }
    let mut globs: Vec<String> = Vec::new();
    for sequence in alternatives {
        globs.extend(sequence_globs(&sequence)?);
    }
    globs.sort();
    globs.dedup();
    (!globs.is_empty() && globs.iter().all(|g| acceptable(g))).then_some(globs)
}

/// Whether gates.kdl takes a glob as an input: it compiles, stays inside the root and out of
/// `.gate/` (`^\.\./` or `^/` regexes do not).
fn acceptable(glob: &str) -> bool {
    let compiles = globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .is_ok();
    let path = crate::model::normalize(Path::new(glob));
    compiles && path.is_some_and(|p| !p.starts_with(crate::model::STATE_DIR))
}

/// A regex in verbose mode without its whitespace and comments.
fn strip_verbose(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            '#' if !in_class => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() && !in_class => {}
            c => out.push(c),
        }
    }
    out
}

/// A piece of a simple regex.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Start,
    End,
    /// A literal character.
    Char(char),
    /// `.`: any one character.
    Any,
    /// `.*`
    AnyRun,
    /// `[^/]*`
    NameRun,
    /// `[...]`, glob syntax.
    Class(String),
}

/// `a|b|c` up to an unmatched `)` (or the end): each alternative expanded into plain
/// sequences (groups multiplied out, at most 64).
fn parse_alternatives(
    chars: &[char],
    position: &mut usize,
    depth: usize,
) -> Option<Vec<Vec<Piece>>> {
    if depth > 8 {
        return None;
    }
    let mut alternatives: Vec<Vec<Piece>> = Vec::new();
    let mut current: Vec<Vec<Piece>> = vec![Vec::new()];
    while *position < chars.len() {
        let c = chars[*position];
        match c {
            '|' => {
                *position += 1;
                alternatives.append(&mut current);
                current = vec![Vec::new()];
            }
            ')' => break,
            '(' => {
                *position += 1;
                if chars.get(*position) == Some(&'?') {
                    if chars.get(*position + 1) == Some(&':') {
                        *position += 2;
                    } else {
                        return None;
                    }
                }
                let inner = parse_alternatives(chars, position, depth + 1)?;
                if chars.get(*position) != Some(&')') {
                    return None;
                }
                *position += 1;
                if matches!(chars.get(*position), Some('*' | '+' | '?' | '{')) {
                    return None;
                }
                let mut product = Vec::new();
                for prefix in &current {
                    for suffix in &inner {
                        let mut joined = prefix.clone();
                        joined.extend(suffix.iter().cloned());
                        product.push(joined);
                    }
                }
                if product.len() > 64 {
                    return None;
                }
                current = product;
            }
            _ => {
                let piece = parse_piece(chars, position)?;
                for sequence in &mut current {
                    sequence.push(piece.clone());
                }
            }
        }
    }
    alternatives.append(&mut current);
    Some(alternatives)
}

/// One atom (with the only quantifier allowed: `*` after `.` or `[^/]`).
fn parse_piece(chars: &[char], position: &mut usize) -> Option<Piece> {
    let c = chars[*position];
    *position += 1;
    let piece = match c {
        '^' => Piece::Start,
        '$' => Piece::End,
        '\\' => {
            let escaped = *chars.get(*position)?;
            *position += 1;
            if escaped.is_ascii_alphanumeric() {
                // \d, \w, \b, \A, \Z ...: classes and assertions globs lack.
                return None;
            }
            Piece::Char(escaped)
        }
        '.' => {
            let word = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            if chars.get(*position) == Some(&'*') {
                *position += 1;
                Piece::AnyRun
            } else if word(position.checked_sub(2).and_then(|at| chars.get(at)))
                && word(chars.get(*position))
            {
                // `^setup.cfg$`: between letters, an unescaped dot means a dot.
                Piece::Char('.')
            } else {
                Piece::Any
            }
        }
        '[' => {
            let mut class = String::from("[");
            let mut negated = false;
            if chars.get(*position) == Some(&'^') {
                negated = true;
                class.push('!');
                *position += 1;
            }
            let mut body = String::new();
            loop {
                let next = *chars.get(*position)?;
                *position += 1;
                match next {
                    ']' if !body.is_empty() => break,
                    '\\' => {
                        let escaped = *chars.get(*position)?;
                        *position += 1;
                        if escaped.is_ascii_alphanumeric() {
                            return None;
                        }
                        body.push(escaped);
                    }
                    '[' | '!' => return None,
                    other => body.push(other),
                }
            }
            if negated && body == "/" && chars.get(*position) == Some(&'*') {
                *position += 1;
                return Some(Piece::NameRun);
            }
            // Letters, digits, `_`, `.` and inner ranges mean the same in a glob; anything
            // else (`^`, `]`, `\\`, `/` ...) is left untranslated.
            let plain = body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !body.starts_with('-')
                && !body.ends_with('-');
            if !plain {
                return None;
            }
            class.push_str(&body);
            class.push(']');
            Piece::Class(class)
        }
        '*' | '+' | '?' | '{' | '}' | ']' => return None,
        other => Piece::Char(other),
    };
    if matches!(chars.get(*position), Some('*' | '+' | '?' | '{')) {
        return None;
    }
    Some(piece)
}

/// The globs of one plain sequence.
fn sequence_globs(pieces: &[Piece]) -> Option<Vec<String>> {
    let mut pieces = pieces;
    let anchored_start = pieces.first() == Some(&Piece::Start);
    if anchored_start {
        pieces = &pieces[1..];
    }
    let anchored_end = pieces.last() == Some(&Piece::End);
    if anchored_end {
        pieces = &pieces[..pieces.len() - 1];
    }
    let mut body = String::new();
    for (at, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Start | Piece::End => return None,
            Piece::Char(c) => {
                if "*?[]{}!,\\".contains(*c) {
                    // Glob specials as literals (globset and git pathspecs both take `\`).
                    body.push('\\');
                    body.push(*c);
                } else {
                    body.push(*c);
                }
            }
            Piece::Any => body.push('?'),
            Piece::NameRun => body.push('*'),
            Piece::Class(class) => body.push_str(class),
            Piece::AnyRun => {
                // `.*` crosses directories: only where it stands for whole directory levels.
                let after_slash = at == 0 || body.ends_with('/');
                if !after_slash {
                    return None;
                }
                if at + 1 == pieces.len() {
                    body.push_str("**");
                } else {
                    body.push_str("**/*");
                }
            }
        }
    }
    if body.is_empty() {
        return None;
    }
    let mut globs = Vec::new();
    let start = if anchored_start || body.starts_with("**") {
        body
    } else if body.starts_with('/') {
        // Unanchored, after some directory: `/tests/` matches `a/tests/x`.
        format!("**{body}")
    } else {
        format!("**/*{body}")
    };
    if anchored_end || start.ends_with("**") {
        globs.push(start);
    } else if start.ends_with('/') {
        globs.push(format!("{start}**"));
    } else {
        // A prefix of a path: the file itself, or everything under a directory.
        globs.push(format!("{start}*"));
        globs.push(format!("{start}*/**"));
    }
    Some(globs)
}

/// A gate name from a hook id: the characters gate names allow, others as `-`.
fn unique_name(id: &str, taken: &mut BTreeSet<String>) -> String {
    let mut base: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if base.is_empty() {
        base.push_str("hook");
    }
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// `${` is gates.kdl's variable syntax; `$${` passes a literal `${` to the shell.
fn escape_vars(text: &str) -> String {
    text.replace("${", "$${")
}

/// A KDL v2 quoted string.
fn kdl_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word the shell reads back as itself.
fn shell_quote(text: &str) -> String {
    shlex::try_quote(text)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| text.to_owned())
}

/// A value on one line, for a comment.
fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text.split_whitespace().collect();
    format!("`{}`", joined.join(" ").replace('`', "'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn case(regex: &str, expected: Option<&[&str]>) {
        let globs = regex_globs(regex);
        let expected = expected.map(|e| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(globs, expected, "{regex}");
    }

    #[test]
    fn regexes_to_globs() {
        case(r"\.py$", Some(&["**/*.py"]));
        case(r"^src/.*\.py$", Some(&["src/**/*.py"]));
        case(r"^src/", Some(&["src/**"]));
        case(
            r"^(src|tests)/.*\.py$",
            Some(&["src/**/*.py", "tests/**/*.py"]),
        );
        case(r"\.(yaml|yml)$", Some(&["**/*.yaml", "**/*.yml"]));
        case(r"^docs/", Some(&["docs/**"]));
        case(r"^setup\.cfg$", Some(&["setup.cfg"]));
        case(r"^pyproject.toml$", Some(&["pyproject.toml"]));
        case(r"Dockerfile$", Some(&["**/*Dockerfile"]));
        case(r"prompts/.*\.md$", Some(&["**/*prompts/**/*.md"]));
        case(r"^a.$", Some(&["a?"]));
        case(r".*\.py$", Some(&["**/*.py"]));
        case(r"^.*/migrations/", Some(&["**/*/migrations/**"]));
        case(r".x", Some(&["**/*?x*", "**/*?x*/**"]));
        case(r"^README", Some(&["README*", "README*/**"]));
        case(r"/fixtures/", Some(&["**/fixtures/**"]));
        case(r"^[^/]*\.toml$", Some(&["*.toml"]));
        case(
            "(?x)^(\n    tests/data/.*|  # fixtures\n    vendor/.*\n)$",
            Some(&["tests/data/**", "vendor/**"]),
        );
        case(r"\d+\.py$", None);
        case(r"foo.*bar", None);
        case(r"(?i)\.py$", None);
        case(r"a+", None);
        case(r"", None);
        case(r"^\.\./", None);
        case(r"^/etc/", None);
        case(r"^\.gate/", None);
    }

    #[test]
    fn no_regex_panics_and_every_glob_compiles() {
        let alphabet: Vec<char> = "^$.*()|[]\\/a?+{}-!".chars().collect();
        let mut text = Vec::new();
        // Every string of up to four characters over the regex specials.
        fn walk(alphabet: &[char], text: &mut Vec<char>, left: usize) {
            let regex: String = text.iter().collect();
            for glob in regex_globs(&regex).unwrap_or_default() {
                assert!(acceptable(&glob), "{regex:?} gave {glob:?}");
            }
            if left == 0 {
                return;
            }
            for &c in alphabet {
                text.push(c);
                walk(alphabet, text, left - 1);
                text.pop();
            }
        }
        walk(&alphabet, &mut text, 4);
    }

    #[test]
    fn kdl_strings_are_quoted() {
        assert_eq!(kdl_string(r#"say "hi" \ now"#), r#""say \"hi\" \\ now""#);
        assert_eq!(kdl_string("a\tb"), r#""a\tb""#);
    }

    #[test]
    fn names() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_name("check yaml", &mut taken), "check-yaml");
        assert_eq!(unique_name("check yaml", &mut taken), "check-yaml-2");
        assert_eq!(unique_name("", &mut taken), "hook");
    }
}
