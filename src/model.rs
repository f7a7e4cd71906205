//! model: [`Syntax`] → [`Model`]: gates by name, with variables substituted, env merged,
//! durations parsed, globs compiled and paths proven to stay inside the root.
//! Guarantees: gate names are valid and unique, every `${var}` is defined, every glob compiles,
//! no output or cwd escapes the root or enters `.gate/`, groups carry no execution settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::error::{Diagnostic, Error, FileId, Span, Spanned, did_you_mean};
use crate::parse::{CodeKind, GateSyntax, Syntax, When};

/// gate's state directory under the root; never an input, never an output.
pub const STATE_DIR: &str = ".gate";

/// The shell of the spec when none is declared.
pub const DEFAULT_SHELL: [&str; 2] = ["sh", "-c"];

/// The validated graph definition, before dependencies are resolved.
#[derive(Debug)]
pub struct Model {
    /// `default` targets as written; empty means `all`.
    pub default: Vec<Spanned<String>>,
    pub gates: BTreeMap<String, Gate>,
}

/// One gate, ready to plan. A gate without `run` lines is a group.
#[derive(Debug, Clone)]
pub struct Gate {
    pub name: String,
    /// Where the name was written.
    pub span: Span,
    pub description: Option<String>,
    pub run: Vec<String>,
    pub deps: Vec<Spanned<String>>,
    pub requires: Vec<String>,
    /// A command printing the tool's version, part of the key when declared.
    pub version: Option<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Global env overlaid with the gate's own; values substituted.
    pub env: BTreeMap<String, String>,
    pub pass_env: Vec<String>,
    pub hash_env: Vec<String>,
    pub when: Vec<When>,
    pub tags: Vec<String>,
    pub timeout: Option<Duration>,
    /// Relative to the root; empty for the root itself.
    pub cwd: PathBuf,
    pub cache: bool,
    /// The gate edits files: never cached, and its inputs may change while it runs.
    pub fix: bool,
    pub optional: bool,
    pub shell: Vec<String>,
    pub exit_codes: ExitCodes,
    /// A file (relative to the root) the gate writes: a flat JSON object of scalars that is
    /// copied into the manifest.
    pub facts: Option<PathBuf>,
}

/// What each exit code of a run line means: `ok-codes` (default: only 0), `skip-codes` and
/// `fail-codes` (a reason for a code that fails anyway). Every other code fails the gate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitCodes {
    /// Codes that count as success; empty means only 0.
    pub ok: BTreeSet<i32>,
    /// Codes that end the gate skipped, with their reasons.
    pub skip: BTreeMap<i32, Option<String>>,
    /// Codes that fail the gate, with their reasons.
    pub fail: BTreeMap<i32, Option<String>>,
}

/// What one exit code means to a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    Ok,
    Skip(Option<String>),
    Fail(Option<String>),
}

impl ExitCodes {
    pub fn meaning(&self, code: i32) -> Meaning {
        if let Some(reason) = self.skip.get(&code) {
            Meaning::Skip(reason.clone())
        } else if let Some(reason) = self.fail.get(&code) {
            Meaning::Fail(reason.clone())
        } else if self.ok.contains(&code) || (self.ok.is_empty() && code == 0) {
            Meaning::Ok
        } else {
            Meaning::Fail(None)
        }
    }

    /// A canonical description for the key (empty for the default map, so declaring nothing
    /// leaves keys as they were): `ok 0 5`, `skip 3 no GPU`, `fail 4`.
    pub fn canonical(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.ok.is_empty() {
            let codes: Vec<String> = self.ok.iter().map(i32::to_string).collect();
            lines.push(format!("ok {}", codes.join(" ")));
        }
        for (word, map) in [("skip", &self.skip), ("fail", &self.fail)] {
            for (code, reason) in map {
                lines.push(match reason {
                    Some(reason) => format!("{word} {code} {reason}"),
                    None => format!("{word} {code}"),
                });
            }
        }
        lines
    }
}

impl Gate {
    pub fn is_group(&self) -> bool {
        self.run.is_empty()
    }

    pub fn file(&self) -> FileId {
        self.span.file
    }
}

/// Builds the model. `overrides` are `--var NAME=VALUE` pairs, already split.
pub fn model(syntax: Syntax, overrides: &[(String, String)]) -> (Model, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();

    let mut raw: BTreeMap<String, (String, Option<Span>)> = BTreeMap::new();
    for (name, value) in &syntax.vars {
        // A later definition wins, so a file can override the defaults of what it includes.
        raw.insert(name.value.clone(), (value.value.clone(), Some(value.span)));
    }
    for (name, value) in overrides {
        if raw.contains_key(name) {
            raw.insert(name.clone(), (value.clone(), None));
        } else {
            let hint = did_you_mean(name, raw.keys().map(String::as_str)).or_else(|| {
                Some("`--var` sets a variable declared in a `vars { ... }` block".into())
            });
            diagnostics.push(Diagnostic::bare(Error::UnknownVar {
                name: name.clone(),
                hint,
            }));
        }
    }
    let vars = resolve_vars(&raw, &mut diagnostics);
    let mut ctx = Ctx {
        vars: &vars,
        diagnostics: &mut diagnostics,
    };

    let mut global_env = BTreeMap::new();
    for (name, value) in &syntax.env {
        if let Some(value) = ctx.substitute(value) {
            global_env.insert(name.value.clone(), value);
        }
    }
    let shell: Vec<String> = match &syntax.shell {
        Some(shell) => shell.value.clone(),
        None => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
    };

    let mut gates: BTreeMap<String, Gate> = BTreeMap::new();
    for gate in syntax.gates {
        if let Some(first) = gates.get(&gate.name.value) {
            let error = Error::DuplicateGate {
                name: gate.name.value.clone(),
            };
            ctx.diagnostics.push(
                Diagnostic::at(error, gate.name.span, "defined again here")
                    .note(first.span, "first defined here"),
            );
            continue;
        }
        if !valid_name(&gate.name.value) {
            let error = Error::GateName {
                name: gate.name.value.clone(),
            };
            ctx.diagnostics
                .push(Diagnostic::at(error, gate.name.span, "invalid name"));
        }
        let gate = ctx.gate(gate, &global_env, &shell);
        gates.insert(gate.name.clone(), gate);
    }

    let default = syntax.default.map(|d| d.value).unwrap_or_default();
    (Model { default, gates }, diagnostics)
}

/// Gate names: one or more of `[A-Za-z0-9_.:-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

struct Ctx<'a> {
    vars: &'a BTreeMap<String, String>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn gate(
        &mut self,
        syntax: GateSyntax,
        global_env: &BTreeMap<String, String>,
        shell: &[String],
    ) -> Gate {
        let is_group = syntax.run.is_empty();
        if is_group {
            const EXECUTION: &[&str] = &[
                "cache",
                "cwd",
                "env",
                "facts",
                "fail-codes",
                "fix",
                "hash-env",
                "inputs",
                "ok-codes",
                "outputs",
                "pass-env",
                "requires",
                "shell",
                "skip-codes",
                "timeout",
                "version",
            ];
            for node in syntax.nodes.iter().filter(|n| EXECUTION.contains(&n.value)) {
                let error = Error::GroupProperty {
                    node: node.value.to_owned(),
                };
                self.diagnostics
                    .push(Diagnostic::at(error, node.span, "not allowed on a group"));
            }
        }

        let run = syntax
            .run
            .iter()
            .filter_map(|line| self.substitute(line))
            .collect();
        let mut env = global_env.clone();
        for (name, value) in &syntax.env {
            if let Some(value) = self.substitute(value) {
                env.insert(name.value.clone(), value);
            }
        }
        let inputs = syntax
            .inputs
            .iter()
            .filter_map(|input| self.input(input))
            .collect();
        let outputs = syntax
            .outputs
            .iter()
            .filter_map(|output| self.output(output))
            .collect();
        let cwd = syntax.cwd.as_ref().and_then(|cwd| {
            let text = self.substitute(cwd)?;
            self.inside_root(&text, cwd.span, "`cwd`")
        });
        let facts = syntax.facts.as_ref().and_then(|facts| {
            let text = self.substitute(facts)?;
            self.inside_root(&text, facts.span, "`facts`")
        });
        let timeout =
            syntax
                .timeout
                .as_ref()
                .and_then(|timeout| match parse_duration(&timeout.value) {
                    Some(duration) => Some(duration),
                    None => {
                        let error = Error::Duration {
                            text: timeout.value.clone(),
                        };
                        self.diagnostics.push(Diagnostic::at(
                            error,
                            timeout.span,
                            "not a duration",
                        ));
                        None
                    }
                });

        let mut exit_codes = ExitCodes::default();
        for list in &syntax.exit_codes {
            let reason = list.reason.as_ref().map(|r| r.value.clone());
            for code in &list.codes {
                match list.kind {
                    CodeKind::Ok => {
                        exit_codes.ok.insert(code.value);
                    }
                    CodeKind::Skip => {
                        exit_codes.skip.insert(code.value, reason.clone());
                    }
                    CodeKind::Fail => {
                        exit_codes.fail.insert(code.value, reason.clone());
                    }
                }
            }
        }

        let values =
            |list: &[Spanned<String>]| list.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
        Gate {
            name: syntax.name.value.clone(),
            span: syntax.name.span,
            description: syntax.description.map(|d| d.value),
            run,
            deps: syntax.deps,
            requires: syntax
                .requires
                .iter()
                .filter_map(|tool| self.substitute(tool))
                .collect(),
            version: syntax.version.as_ref().and_then(|v| self.substitute(v)),
            inputs,
            outputs,
            env,
            pass_env: values(&syntax.pass_env),
            hash_env: values(&syntax.hash_env),
            when: syntax.when.into_iter().map(|w| w.value).collect(),
            tags: values(&syntax.tags),
            timeout,
            cwd: cwd.unwrap_or_default(),
            cache: syntax.cache.is_none_or(|c| c.value),
            fix: syntax.fix.is_some_and(|f| f.value),
            optional: syntax.optional.is_some_and(|o| o.value),
            shell: syntax
                .shell
                .map(|s| s.value)
                .unwrap_or_else(|| shell.to_vec()),
            exit_codes,
            facts,
        }
    }

    /// Replaces `${name}` with the variable's value; `$${` stands for a literal `${`.
    fn substitute(&mut self, text: &Spanned<String>) -> Option<String> {
        match substitute(&text.value, self.vars) {
            Ok(value) => Some(value),
            Err(name) => {
                let hint = did_you_mean(&name, self.vars.keys().map(String::as_str)).or_else(|| {
                    Some(format!("declare it in `vars {{ {name} \"...\" }}`, or write `$${{{name}}}` to pass `${{{name}}}` to the shell"))
                });
                let error = Error::UnknownVar { name, hint };
                self.diagnostics
                    .push(Diagnostic::at(error, text.span, "used here"));
                None
            }
        }
    }

    fn input(&mut self, input: &Spanned<String>) -> Option<String> {
        let text = self.substitute(input)?;
        let pattern = text.strip_prefix('!').unwrap_or(&text);
        self.glob(pattern, input.span)?;
        let path = self.inside_root(pattern, input.span, "inputs")?;
        if path.starts_with(STATE_DIR) {
            self.diagnostics.push(Diagnostic::at(
                Error::InStateDir {
                    path: pattern.to_owned(),
                },
                input.span,
                "in .gate/",
            ));
            return None;
        }
        // Normalised (`./src/*.py` is `src/*.py`), so it matches the walker's relative paths.
        let path = path.to_string_lossy();
        let path = if path.is_empty() { "**" } else { &path };
        Some(match text.starts_with('!') {
            true => format!("!{path}"),
            false => path.to_owned(),
        })
    }

    fn output(&mut self, output: &Spanned<String>) -> Option<String> {
        let text = self.substitute(output)?;
        self.glob(&text, output.span)?;
        let path = self.inside_root(&text, output.span, "outputs")?;
        if path.as_os_str().is_empty() {
            self.diagnostics.push(Diagnostic::at(
                Error::WholeRoot { path: text },
                output.span,
                "the whole root",
            ));
            return None;
        }
        if path.starts_with(STATE_DIR) {
            self.diagnostics.push(Diagnostic::at(
                Error::InStateDir { path: text },
                output.span,
                "in .gate/",
            ));
            return None;
        }
        Some(path.to_string_lossy().into_owned())
    }

    fn glob(&mut self, pattern: &str, span: Span) -> Option<()> {
        match globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
        {
            Ok(_) => Some(()),
            Err(error) => {
                let reason = error.kind().to_string();
                self.diagnostics.push(Diagnostic::at(
                    Error::Glob {
                        glob: pattern.to_owned(),
                        reason,
                    },
                    span,
                    "invalid glob",
                ));
                None
            }
        }
    }

    /// The lexically normalised relative path, or a diagnostic when it leaves the root.
    fn inside_root(&mut self, text: &str, span: Span, what: &str) -> Option<PathBuf> {
        match normalize(Path::new(text)) {
            Some(path) => Some(path),
            None => {
                let error = Error::OutsideRoot {
                    path: text.to_owned(),
                    what: what.to_owned(),
                };
                self.diagnostics
                    .push(Diagnostic::at(error, span, "outside the root"));
                None
            }
        }
    }
}

/// Resolves variables whose values refer to other variables (`out "${dir}/out"`), whatever
/// the order of definition; a cycle or an unknown reference is a diagnostic at the definition.
fn resolve_vars(
    raw: &BTreeMap<String, (String, Option<Span>)>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    struct Resolver<'a> {
        raw: &'a BTreeMap<String, (String, Option<Span>)>,
        done: BTreeMap<String, String>,
        active: Vec<String>,
        diagnostics: &'a mut Vec<Diagnostic>,
    }
    impl Resolver<'_> {
        fn report(&mut self, error: Error, span: Option<Span>) {
            self.diagnostics.push(match span {
                Some(span) => Diagnostic::at(error, span, "in this value"),
                None => Diagnostic::bare(error),
            });
        }

        fn resolve(&mut self, name: &str) -> Option<String> {
            if let Some(value) = self.done.get(name) {
                return Some(value.clone());
            }
            let raw = self.raw;
            let (text, span) = raw.get(name)?;
            if let Some(position) = self.active.iter().position(|a| a == name) {
                let mut cycle = self.active[position..].to_vec();
                cycle.push(name.to_owned());
                self.report(
                    Error::VarCycle {
                        cycle: cycle.join(" -> "),
                    },
                    *span,
                );
                return Some(String::new());
            }
            self.active.push(name.to_owned());
            let result = substitute_with(text, &mut |reference| self.resolve(reference));
            self.active.pop();
            let value = result.unwrap_or_else(|unknown| {
                let hint = did_you_mean(&unknown, raw.keys().map(String::as_str));
                self.report(
                    Error::UnknownVar {
                        name: unknown,
                        hint,
                    },
                    *span,
                );
                String::new()
            });
            self.done.insert(name.to_owned(), value.clone());
            Some(value)
        }
    }
    let mut resolver = Resolver {
        raw,
        done: BTreeMap::new(),
        active: Vec::new(),
        diagnostics,
    };
    for name in raw.keys() {
        resolver.resolve(name);
    }
    resolver.done
}

/// [`substitute_with`] over a map of variables.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    substitute_with(text, &mut |name| vars.get(name).cloned())
}

/// Substitutes `${name}` where `name` looks like a variable name (letters, digits, `_`, `-`,
/// `.`); `$${` is a literal `${`. Other `${...}` forms (`${VAR:-default}`, `${#array[@]}`) are
/// shell syntax and pass through untouched. Returns the first unknown name on failure.
pub fn substitute_with(
    text: &str,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let is_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if is_name(name) => {
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => return Err(name.to_owned()),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Lexical normalisation of a relative path: `.` dropped, `..` resolved; `None` if the path is
/// absolute or climbs above its start.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Parses `90s`, `10m`, `2h`, `1d`, `500ms` and combinations such as `1m30s`. Zero is not a
/// timeout.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let step = match &rest[..unit] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            "d" => Duration::from_secs(number.checked_mul(86_400)?),
            _ => return None,
        };
        total = total.checked_add(step)?;
        rest = &rest[unit..];
    }
    (!total.is_zero()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        fn case(text: &str, expected: Option<u64>) {
            assert_eq!(
                parse_duration(text).map(|d| d.as_millis() as u64),
                expected,
                "{text}"
            );
        }
        case("90s", Some(90_000));
        case("10m", Some(600_000));
        case("2h", Some(7_200_000));
        case("1m30s", Some(90_000));
        case("250ms", Some(250));
        case("10", None);
        case("m", None);
        case("0s", None);
        case("1.5s", None);
        case("", None);
        case("5d", Some(5 * 86_400_000));
        case("5w", None);
    }

    #[test]
    fn substitution() {
        let vars = BTreeMap::from([("floor".to_owned(), "80".to_owned())]);
        fn case(vars: &BTreeMap<String, String>, text: &str, expected: Result<&str, &str>) {
            assert_eq!(
                substitute(text, vars),
                expected.map(str::to_owned).map_err(str::to_owned),
                "{text}"
            );
        }
        case(&vars, "--fail-under=${floor}", Ok("--fail-under=80"));
        case(&vars, "${floor}${floor}", Ok("8080"));
        case(&vars, "echo $HOME $$ $${HOME}", Ok("echo $HOME $$ ${HOME}"));
        case(&vars, "echo ${HOME}", Err("HOME"));
        case(&vars, "unterminated ${floor", Ok("unterminated ${floor"));
        case(
            &vars,
            "${X:-default} ${#a[@]} ${v%.*}",
            Ok("${X:-default} ${#a[@]} ${v%.*}"),
        );
        case(&vars, "${floor}-${x.y}", Err("x.y"));
    }

    #[test]
    fn normalisation_keeps_paths_inside() {
        fn case(text: &str, expected: Option<&str>) {
            assert_eq!(
                normalize(Path::new(text)),
                expected.map(PathBuf::from),
                "{text}"
            );
        }
        case("a/./b", Some("a/b"));
        case("a/../b", Some("b"));
        case(".", Some(""));
        case("../x", None);
        case("a/../../x", None);
        case("/etc/passwd", None);
    }

    #[test]
    fn names() {
        assert!(valid_name("lint.ruff:check-1_x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("é"));
    }
}
