//! parse: the loaded KDL nodes → [`Syntax`], the gates.kdl language with every value spanned.
//! Guarantees: every node and property is one the language defines (else a diagnostic with the
//! closest valid name), every value has the type its node takes, single-valued nodes are set
//! once. A bad entry is dropped and reported; the node around it is kept, so later stages do
//! not report follow-on errors (a gate with a typo still exists for its dependents).

use kdl::{KdlEntry, KdlNode, KdlValue};

use crate::error::{Diagnostic, Error, FileId, Span, Spanned, did_you_mean};
use crate::load::Item;

/// Nodes allowed at the top level (`include` is consumed by `load`).
pub const TOP_LEVEL: &[&str] = &["default", "env", "gate", "include", "shell", "vars"];

/// Nodes allowed inside a `gate` block.
pub const GATE_NODES: &[&str] = &[
    "cache",
    "cwd",
    "deps",
    "description",
    "env",
    "facts",
    "fail-codes",
    "fix",
    "hash-env",
    "inputs",
    "ok-codes",
    "optional",
    "outputs",
    "pass-env",
    "requires",
    "run",
    "shell",
    "skip-codes",
    "tags",
    "timeout",
    "version",
    "when",
];

/// A `key="value"` pair, both spanned.
pub type Pair = (Spanned<String>, Spanned<String>);

/// The whole graph as written, before names are resolved or variables substituted.
#[derive(Debug, Default)]
pub struct Syntax {
    pub default: Option<Spanned<Vec<Spanned<String>>>>,
    pub vars: Vec<Pair>,
    pub env: Vec<Pair>,
    pub shell: Option<Spanned<Vec<String>>>,
    pub gates: Vec<GateSyntax>,
}

#[derive(Debug)]
pub struct GateSyntax {
    pub name: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub run: Vec<Spanned<String>>,
    pub deps: Vec<Spanned<String>>,
    pub requires: Vec<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub inputs: Vec<Spanned<String>>,
    pub outputs: Vec<Spanned<String>>,
    pub env: Vec<Pair>,
    pub pass_env: Vec<Spanned<String>>,
    pub hash_env: Vec<Spanned<String>>,
    pub when: Vec<Spanned<When>>,
    pub tags: Vec<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub cwd: Option<Spanned<String>>,
    pub cache: Option<Spanned<bool>>,
    /// `fix #true`: the gate edits files (never cached, exempt from the read-only check).
    pub fix: Option<Spanned<bool>>,
    pub optional: Option<Spanned<bool>>,
    pub shell: Option<Spanned<Vec<String>>>,
    /// A JSON file of scalars the gate writes, copied into the manifest.
    pub facts: Option<Spanned<String>>,
    /// `ok-codes`, `skip-codes` and `fail-codes`, in order (validated: 0..=255, no code twice).
    pub exit_codes: Vec<CodesSyntax>,
    /// Every child node by name, in order, for checks that depend on which nodes were written.
    pub nodes: Vec<Spanned<&'static str>>,
}

/// What an exit code means to a gate, as `ok-codes`, `skip-codes` and `fail-codes` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CodeKind {
    /// The run line succeeded (the next one runs).
    Ok,
    /// The gate ends skipped, with the reason.
    Skip,
    /// The gate fails (as for any code not listed), with the reason.
    Fail,
}

/// One `ok-codes` / `skip-codes` / `fail-codes` node.
#[derive(Debug, Clone)]
pub struct CodesSyntax {
    pub kind: CodeKind,
    pub codes: Vec<Spanned<i32>>,
    pub reason: Option<Spanned<String>>,
}

/// The node that gives an exit code this meaning.
pub fn node_name(kind: CodeKind) -> &'static str {
    match kind {
        CodeKind::Ok => "ok-codes",
        CodeKind::Skip => "skip-codes",
        CodeKind::Fail => "fail-codes",
    }
}

/// One `when` condition as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Env {
        name: String,
        equals: Option<String>,
    },
    File(String),
}

/// Parses the loaded items. Returns the syntax (always, with bad parts left out) and every
/// problem found.
pub fn parse(items: &[Item]) -> (Syntax, Vec<Diagnostic>) {
    let mut syntax = Syntax::default();
    let mut diagnostics = Vec::new();
    for item in items {
        let mut ctx = Ctx {
            file: item.file,
            diagnostics: &mut diagnostics,
        };
        ctx.top_level(&item.node, &mut syntax);
    }
    (syntax, diagnostics)
}

struct Ctx<'a> {
    file: FileId,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn span(&self, span: miette::SourceSpan) -> Span {
        Span::new(self.file, span)
    }

    fn error(&mut self, error: Error, span: miette::SourceSpan, label: &str) {
        let span = self.span(span);
        self.diagnostics.push(Diagnostic::at(error, span, label));
    }

    fn top_level(&mut self, node: &KdlNode, syntax: &mut Syntax) {
        let name = node.name().value();
        match name {
            "default" => {
                let targets = self.strings(node, "gate names");
                let span = self.span(node.span());
                if let Some(first) = &syntax.default {
                    self.duplicate(node, first.span);
                } else {
                    syntax.default = Some(Spanned::new(targets, span));
                }
            }
            "vars" => {
                self.no_entries(node, "a block of `name \"value\"` lines");
                for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
                    let var = Spanned::new(
                        child.name().value().to_owned(),
                        self.span(child.name().span()),
                    );
                    if let Some(value) = self.one_value(child, true) {
                        syntax.vars.push((var, value));
                    }
                    self.no_children(child);
                }
            }
            "env" => {
                let pairs = self.pairs(node);
                syntax.env.extend(pairs);
                self.no_children(node);
            }
            "shell" => {
                let shell = self.shell(node);
                if let Some(first) = &syntax.shell {
                    self.duplicate(node, first.span);
                } else {
                    syntax.shell = shell;
                }
            }
            "gate" => {
                if let Some(gate) = self.gate(node) {
                    syntax.gates.push(gate);
                }
            }
            _ => {
                let hint = if GATE_NODES.contains(&name) {
                    Some(format!(
                        "`{name}` belongs inside a `gate \"name\" {{ ... }}` block"
                    ))
                } else {
                    did_you_mean(name, TOP_LEVEL.iter().copied())
                };
                let error = Error::UnknownNode {
                    name: name.to_owned(),
                    place: "at the top level".into(),
                    hint,
                };
                self.error(error, node.name().span(), "unknown node");
            }
        }
    }

    fn gate(&mut self, node: &KdlNode) -> Option<GateSyntax> {
        let name = match node.entries() {
            [entry] if entry.name().is_none() && entry.value().is_string() => Spanned::new(
                entry.value().as_string().unwrap_or_default().to_owned(),
                self.span(entry.span()),
            ),
            _ => {
                let error = Error::BadValue {
                    node: "gate".into(),
                    expected: "exactly one name as a string".into(),
                    hint: Some("gate \"lint\" { run \"ruff check .\" }".into()),
                };
                self.error(error, node.span(), "expected `gate \"NAME\" { ... }`");
                return None;
            }
        };
        let mut gate = GateSyntax {
            name,
            description: None,
            run: Vec::new(),
            deps: Vec::new(),
            requires: Vec::new(),
            version: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            env: Vec::new(),
            pass_env: Vec::new(),
            hash_env: Vec::new(),
            when: Vec::new(),
            tags: Vec::new(),
            timeout: None,
            cwd: None,
            cache: None,
            fix: None,
            optional: None,
            shell: None,
            facts: None,
            exit_codes: Vec::new(),
            nodes: Vec::new(),
        };
        for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
            self.gate_child(child, &mut gate);
        }
        self.overlapping_codes(&gate);
        Some(gate)
    }

    fn gate_child(&mut self, node: &KdlNode, gate: &mut GateSyntax) {
        let name = node.name().value();
        let Some(known) = GATE_NODES.iter().copied().find(|known| *known == name) else {
            let hint = if TOP_LEVEL.contains(&name) && name != "env" && name != "shell" {
                Some(format!(
                    "`{name}` belongs at the top level, outside any gate"
                ))
            } else {
                did_you_mean(name, GATE_NODES.iter().copied())
            };
            let error = Error::UnknownNode {
                name: name.to_owned(),
                place: format!("in gate `{}`", gate.name.value),
                hint,
            };
            self.error(error, node.name().span(), "unknown node");
            return;
        };
        let span = self.span(node.span());
        let first = gate.nodes.iter().find(|n| n.value == known).map(|n| n.span);
        gate.nodes.push(Spanned::new(known, span));
        let single = |ctx: &mut Ctx, first: Option<Span>| match first {
            Some(first) => {
                ctx.duplicate(node, first);
                false
            }
            None => true,
        };
        match known {
            "run" => gate.run.extend(self.strings(node, "command lines")),
            "deps" => gate.deps.extend(self.strings(node, "gate names")),
            "requires" => gate.requires.extend(self.strings(node, "executable names")),
            "inputs" => gate.inputs.extend(self.strings(node, "globs")),
            "outputs" => gate.outputs.extend(self.strings(node, "paths or globs")),
            "pass-env" => gate.pass_env.extend(self.strings(node, "variable names")),
            "hash-env" => gate.hash_env.extend(self.strings(node, "variable names")),
            "tags" => gate.tags.extend(self.strings(node, "tags")),
            "env" => gate.env.extend(self.pairs(node)),
            "ok-codes" => gate.exit_codes.push(self.codes(node, CodeKind::Ok)),
            "skip-codes" => gate.exit_codes.push(self.codes(node, CodeKind::Skip)),
            "fail-codes" => gate.exit_codes.push(self.codes(node, CodeKind::Fail)),
            "when" => {
                if let Some(when) = self.when(node) {
                    gate.when.push(when);
                }
            }
            "description" if single(self, first) => gate.description = self.one_value(node, false),
            "version" if single(self, first) => gate.version = self.one_value(node, false),
            "timeout" if single(self, first) => gate.timeout = self.one_value(node, false),
            "cwd" if single(self, first) => gate.cwd = self.one_value(node, false),
            "facts" if single(self, first) => gate.facts = self.one_value(node, false),
            "cache" if single(self, first) => gate.cache = self.one_bool(node),
            "fix" if single(self, first) => gate.fix = self.one_bool(node),
            "optional" if single(self, first) => gate.optional = self.one_bool(node),
            "shell" if single(self, first) => gate.shell = self.shell(node),
            _ => {}
        }
        self.no_children(node);
    }

    /// `ok-codes 0 5`, `skip-codes 3 reason="..."`, `fail-codes 4 reason="..."`: integers in
    /// 0..=255, and for skip and fail an optional `reason`.
    fn codes(&mut self, node: &KdlNode, kind: CodeKind) -> CodesSyntax {
        let name = node.name().value();
        let mut codes = CodesSyntax {
            kind,
            codes: Vec::new(),
            reason: None,
        };
        let allowed: &[&str] = if kind == CodeKind::Ok {
            &[]
        } else {
            &["reason"]
        };
        for entry in node.entries() {
            if let Some(property) = entry.name() {
                match (property.value(), entry.value()) {
                    ("reason", KdlValue::String(text)) if kind != CodeKind::Ok => {
                        codes.reason = Some(Spanned::new(text.clone(), self.span(entry.span())));
                    }
                    ("reason", _) if kind != CodeKind::Ok => {
                        self.wrong_type(name, entry, "a string as `reason`")
                    }
                    _ if allowed.is_empty() => {
                        let error = Error::UnknownProperty {
                            name: property.value().to_owned(),
                            node: name.to_owned(),
                            hint: Some(format!("`{name}` takes exit codes only: `{name} 0 5`")),
                        };
                        self.error(error, property.span(), "unknown property");
                    }
                    _ => self.unknown_property(name, property, allowed),
                }
                continue;
            }
            match entry.value() {
                KdlValue::Integer(code) if (0..=255).contains(code) => {
                    let code = i32::try_from(*code).unwrap_or_default();
                    codes
                        .codes
                        .push(Spanned::new(code, self.span(entry.span())));
                }
                _ => {
                    let error = Error::BadValue {
                        node: name.to_owned(),
                        expected: "exit codes: integers from 0 to 255".into(),
                        hint: entry
                            .value()
                            .as_string()
                            .filter(|text| text.parse::<u8>().is_ok())
                            .map(|text| format!("write the number without quotes: `{text}`")),
                    };
                    self.error(error, entry.span(), "not an exit code");
                }
            }
        }
        if codes.codes.is_empty() && !node.entries().iter().any(|e| e.name().is_none()) {
            let error = Error::BadValue {
                node: name.to_owned(),
                expected: "one or more exit codes (integers from 0 to 255)".into(),
                hint: Some(format!("{name} 3")),
            };
            self.error(error, node.span(), "no exit code given");
        }
        codes
    }

    /// An exit code may have one meaning per gate.
    fn overlapping_codes(&mut self, gate: &GateSyntax) {
        let mut seen: Vec<(i32, CodeKind, Span)> = Vec::new();
        for list in &gate.exit_codes {
            for code in &list.codes {
                if let Some((_, kind, first)) = seen.iter().find(|(c, _, _)| *c == code.value) {
                    let error = Error::ExitCodeTwice {
                        code: code.value,
                        first: node_name(*kind),
                        again: node_name(list.kind),
                    };
                    let diagnostic = Diagnostic::at(error, code.span, "given again here")
                        .note(*first, "first given here");
                    self.diagnostics.push(diagnostic);
                } else {
                    seen.push((code.value, list.kind, code.span));
                }
            }
        }
    }

    fn duplicate(&mut self, node: &KdlNode, first: Span) {
        let error = Error::DuplicateNode {
            node: node.name().value().to_owned(),
        };
        let diagnostic = Diagnostic::at(error, self.span(node.name().span()), "set again here")
            .note(first, "first set here");
        self.diagnostics.push(diagnostic);
    }

    /// All arguments as strings; at least one. Properties and other types are errors.
    fn strings(&mut self, node: &KdlNode, what: &str) -> Vec<Spanned<String>> {
        let name = node.name().value();
        let mut values = Vec::new();
        for entry in node.entries() {
            if let Some(property) = entry.name() {
                self.unknown_property(name, property, &[]);
                continue;
            }
            match entry.value() {
                KdlValue::String(value) => {
                    values.push(Spanned::new(value.clone(), self.span(entry.span())))
                }
                _ => self.wrong_type(name, entry, &format!("{what} as strings")),
            }
        }
        if node.entries().is_empty() {
            let error = Error::BadValue {
                node: name.to_owned(),
                expected: format!("one or more {what} as strings"),
                hint: None,
            };
            self.error(error, node.span(), "nothing given");
        }
        values
    }

    /// Exactly one argument: a string, or (when `numbers`) a number written as one.
    fn one_value(&mut self, node: &KdlNode, numbers: bool) -> Option<Spanned<String>> {
        let name = node.name().value();
        let expected = if numbers {
            "one value (a string or a number)"
        } else {
            "one string"
        };
        match node.entries() {
            [entry] if entry.name().is_none() => match value_text(entry.value(), numbers) {
                Some(text) => Some(Spanned::new(text, self.span(entry.span()))),
                None => {
                    let hint = match (name, entry.value()) {
                        ("timeout", KdlValue::Integer(seconds)) => {
                            Some(format!("write the unit: `timeout \"{seconds}s\"`"))
                        }
                        _ => None,
                    };
                    let error = Error::BadValue {
                        node: name.to_owned(),
                        expected: expected.into(),
                        hint,
                    };
                    self.error(error, entry.span(), "wrong type");
                    None
                }
            },
            [entry] => {
                let property = entry.name().expect("a named entry");
                self.unknown_property(name, property, &[]);
                None
            }
            _ => {
                let error = Error::BadValue {
                    node: name.to_owned(),
                    expected: expected.into(),
                    hint: None,
                };
                self.error(error, node.span(), "expected one value");
                None
            }
        }
    }

    fn one_bool(&mut self, node: &KdlNode) -> Option<Spanned<bool>> {
        let name = node.name().value();
        match node.entries() {
            [entry] if entry.name().is_none() && entry.value().is_bool() => Some(Spanned::new(
                entry.value().as_bool().unwrap_or_default(),
                self.span(entry.span()),
            )),
            _ => {
                let hint = node
                    .entries()
                    .first()
                    .and_then(|e| e.value().as_string())
                    .and_then(|text| match text {
                        "true" | "false" => Some(format!("KDL v2 writes booleans as #{text}")),
                        _ => None,
                    });
                let error = Error::BadValue {
                    node: name.to_owned(),
                    expected: "#true or #false".into(),
                    hint,
                };
                self.error(error, node.span(), "expected #true or #false");
                None
            }
        }
    }

    fn shell(&mut self, node: &KdlNode) -> Option<Spanned<Vec<String>>> {
        let parts = self.strings(node, "program and arguments");
        let span = self.span(node.span());
        (!parts.is_empty())
            .then(|| Spanned::new(parts.into_iter().map(|p| p.value).collect(), span))
    }

    /// `KEY="value"` properties; arguments are errors. Numbers are accepted as their text.
    fn pairs(&mut self, node: &KdlNode) -> Vec<Pair> {
        let name = node.name().value();
        let mut pairs: Vec<Pair> = Vec::new();
        for entry in node.entries() {
            let Some(key) = entry.name() else {
                let error = Error::BadValue {
                    node: name.to_owned(),
                    expected: "NAME=\"value\" properties".into(),
                    hint: Some(format!("{name} PYTHONHASHSEED=\"0\"")),
                };
                self.error(error, entry.span(), "not a NAME=\"value\" property");
                continue;
            };
            let Some(value) = value_text(entry.value(), true) else {
                self.wrong_type(name, entry, "a string or a number");
                continue;
            };
            let key = Spanned::new(key.value().to_owned(), self.span(key.span()));
            if let Some((first, _)) = pairs.iter().find(|(k, _)| k.value == key.value) {
                let error = Error::DuplicateProperty {
                    name: key.value.clone(),
                    node: name.to_owned(),
                };
                let diagnostic = Diagnostic::at(error, key.span, "given again here")
                    .note(first.span, "first given here");
                self.diagnostics.push(diagnostic);
                continue;
            }
            pairs.push((key, Spanned::new(value, self.span(entry.span()))));
        }
        if node.entries().is_empty() {
            let error = Error::BadValue {
                node: name.to_owned(),
                expected: "NAME=\"value\" properties".into(),
                hint: Some(format!("{name} PYTHONHASHSEED=\"0\"")),
            };
            self.error(error, node.span(), "nothing given");
        }
        pairs
    }

    fn when(&mut self, node: &KdlNode) -> Option<Spanned<When>> {
        const PROPERTIES: &[&str] = &["env", "equals", "file"];
        let (mut env, mut equals, mut file) = (None, None, None);
        let mut ok = true;
        for entry in node.entries() {
            let Some(key) = entry.name() else {
                let error = Error::When;
                self.error(error, entry.span(), "a value without a property name");
                ok = false;
                continue;
            };
            let slot = match key.value() {
                "env" => &mut env,
                "equals" => &mut equals,
                "file" => &mut file,
                _ => {
                    self.unknown_property("when", key, PROPERTIES);
                    ok = false;
                    continue;
                }
            };
            match value_text(entry.value(), true) {
                Some(value) => *slot = Some(value),
                None => {
                    self.wrong_type("when", entry, "a string");
                    ok = false;
                }
            }
        }
        let span = self.span(node.span());
        let when = match (env, equals, file) {
            (Some(name), equals, None) => When::Env { name, equals },
            (None, None, Some(path)) => When::File(path),
            _ => {
                if ok {
                    self.error(Error::When, node.span(), "incomplete condition");
                }
                return None;
            }
        };
        ok.then(|| Spanned::new(when, span))
    }

    fn unknown_property(&mut self, node: &str, property: &kdl::KdlIdentifier, known: &[&str]) {
        let hint = if known.is_empty() {
            Some(format!(
                "`{node}` takes values, not properties: write `{node} \"...\"`"
            ))
        } else {
            did_you_mean(property.value(), known.iter().copied())
        };
        let error = Error::UnknownProperty {
            name: property.value().to_owned(),
            node: node.to_owned(),
            hint,
        };
        self.error(error, property.span(), "unknown property");
    }

    fn wrong_type(&mut self, node: &str, entry: &KdlEntry, expected: &str) {
        let error = Error::BadValue {
            node: node.to_owned(),
            expected: expected.to_owned(),
            hint: None,
        };
        self.error(error, entry.span(), "wrong type");
    }

    fn no_entries(&mut self, node: &KdlNode, expected: &str) {
        if let Some(entry) = node.entries().first() {
            let error = Error::BadValue {
                node: node.name().value().to_owned(),
                expected: expected.to_owned(),
                hint: None,
            };
            self.error(error, entry.span(), "unexpected value");
        }
    }

    fn no_children(&mut self, node: &KdlNode) {
        if let Some(children) = node.children() {
            let name = node.name().value();
            let hint = (name == "env")
                .then(|| "write variables as properties: env NAME=\"value\"".to_owned());
            let error = Error::BadValue {
                node: name.to_owned(),
                expected: "no `{ ... }` block".into(),
                hint,
            };
            self.error(error, children.span(), "unexpected block");
        }
    }
}

/// The text of a string value, or of a number when `numbers` is set.
fn value_text(value: &KdlValue, numbers: bool) -> Option<String> {
    match value {
        KdlValue::String(text) => Some(text.clone()),
        KdlValue::Integer(number) if numbers => Some(number.to_string()),
        KdlValue::Float(number) if numbers => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Syntax, Vec<String>) {
        let document: kdl::KdlDocument = text.parse().unwrap();
        let items: Vec<Item> = document
            .nodes()
            .iter()
            .map(|node| Item {
                file: FileId(0),
                node: node.clone(),
            })
            .collect();
        let (syntax, diagnostics) = parse(&items);
        let messages = diagnostics
            .iter()
            .map(|d| {
                let hint = miette::Diagnostic::help(&*d.error)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                format!("{}{hint}", d.error)
            })
            .collect();
        (syntax, messages)
    }

    fn case(text: &str, expected: &[&str]) {
        let (_, messages) = parse_text(text);
        assert_eq!(messages, expected, "{text}");
    }

    #[test]
    fn accepts_every_node_of_the_spec() {
        let text = r#"
            default "all"
            vars { floor "80"; jobs 4 }
            env PYTHONHASHSEED="0" TZ="UTC"
            shell "bash" "-c"
            gate "coverage" {
                description "Tests"
                deps "test"
                requires "pytest" "coverage"
                version "pytest --version"
                run "pytest" "coverage report"
                run "true"
                inputs "src/**/*.py" "!tests/big/**"
                outputs "artifacts/coverage.xml"
                env COVERAGE_CORE="sysmon" N=1
                pass-env "HOME"
                hash-env "PYTHONPATH"
                when env="CODEX_AUDIT" equals="1"
                when file="pyproject.toml"
                tags "slow" "ci"
                timeout "10m"
                cwd "."
                cache #true
                optional #false
                shell "bash" "-c"
            }
        "#;
        let (syntax, messages) = parse_text(text);
        assert_eq!(messages, Vec::<String>::new());
        let gate = &syntax.gates[0];
        assert_eq!(
            gate.run
                .iter()
                .map(|r| r.value.as_str())
                .collect::<Vec<_>>(),
            ["pytest", "coverage report", "true"]
        );
        assert_eq!(gate.when.len(), 2);
        assert_eq!(gate.env[1].1.value, "1");
        assert_eq!(syntax.vars[1].1.value, "4");
        assert_eq!(gate.cache.as_ref().map(|c| c.value), Some(true));
    }

    #[test]
    fn misspelt_names_get_suggestions() {
        case(
            r#"gate "a" { requries "x" }"#,
            &["unknown node `requries` in gate `a` (did you mean `requires`?)"],
        );
        case(
            r#"gates "a" { }"#,
            &["unknown node `gates` at the top level (did you mean `gate`?)"],
        );
        case(
            r#"run "x""#,
            &[
                "unknown node `run` at the top level (`run` belongs inside a `gate \"name\" { ... }` block)",
            ],
        );
        case(
            r#"gate "a" { when evn="X" }"#,
            &["unknown property `evn` on `when` (did you mean `env`?)"],
        );
        case(
            r#"gate "a" { vars { x "1" } }"#,
            &[
                "unknown node `vars` in gate `a` (`vars` belongs at the top level, outside any gate)",
            ],
        );
    }

    #[test]
    fn wrong_shapes_are_reported() {
        case(
            r#"gate "a" { timeout 10 }"#,
            &["`timeout` takes one string (write the unit: `timeout \"10s\"`)"],
        );
        case(
            r#"gate "a" { cache "true" }"#,
            &["`cache` takes #true or #false (KDL v2 writes booleans as #true)"],
        );
        case(
            r#"gate "a" { run }"#,
            &["`run` takes one or more command lines as strings"],
        );
        case(
            r#"gate "a" { run x="y" }"#,
            &[
                "unknown property `x` on `run` (`run` takes values, not properties: write `run \"...\"`)",
            ],
        );
        case(
            r#"gate "a" { description "x"; description "y" }"#,
            &["`description` is set twice (keep one of them)"],
        );
        case(
            r#"env A="1" A="2""#,
            &["`A` is given twice on `env` (keep one of them)"],
        );
        case(
            r#"gate "a" { when equals="1" }"#,
            &[
                "`when` needs `env=\"NAME\"` (optionally with `equals=\"VALUE\"`) or `file=\"PATH\"`",
            ],
        );
        case(
            r#"gate { }"#,
            &["`gate` takes exactly one name as a string (gate \"lint\" { run \"ruff check .\" })"],
        );
        case(
            r#"gate "a" { env { X "1" } }"#,
            &[
                "`env` takes NAME=\"value\" properties (env PYTHONHASHSEED=\"0\")",
                "`env` takes no `{ ... }` block (write variables as properties: env NAME=\"value\")",
            ],
        );
    }
}
