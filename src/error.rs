//! Errors of the front half of the pipeline (discover → plan): every variant has a stable code
//! and, where it helps, a hint. A variant says *what* is wrong; a [`Diagnostic`] adds *where*
//! (spans into the loaded sources), and `report` renders it with a caret snippet.

use std::path::PathBuf;

use miette::SourceSpan;

/// The index of a loaded file in `load::Sources`. Defined here, with [`Span`], so spans can
/// be carried by every stage without importing `load`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub usize);

/// A byte range in one loaded source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: FileId,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(file: FileId, span: SourceSpan) -> Span {
        Span {
            file,
            offset: span.offset(),
            len: span.len(),
        }
    }
}

/// A value with the place it was written, carried from `parse` to `plan` so late errors
/// (an unknown dep, a cycle) still point at the text the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// What went wrong. The message is the `Display`; `code` and `hint` come from the variant.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("no gates.kdl in {} or any parent directory", start.display())]
    #[diagnostic(
        code(gate::discover::not_found),
        help("create a gates.kdl at the repository root, or name one with `-f PATH`")
    )]
    NotFound { start: PathBuf },

    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(gate::load::read))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{} is not UTF-8 text (invalid byte at offset {offset})", path.display())]
    #[diagnostic(
        code(gate::load::not_utf8),
        help("gates.kdl files are KDL v2 documents, which are UTF-8 text")
    )]
    NotUtf8 { path: PathBuf, offset: usize },

    #[error("blocks are nested more than {limit} deep")]
    #[diagnostic(
        code(gate::load::too_deep),
        help("a gates.kdl needs two levels: `gate \"name\" {{ ... }}` and the nodes inside it")
    )]
    TooDeep { limit: usize },

    #[error("{message}")]
    #[diagnostic(code(gate::parse::syntax))]
    Syntax {
        message: String,
        #[help]
        hint: Option<String>,
    },

    #[error("include cycle: {cycle}")]
    #[diagnostic(code(gate::load::include_cycle), help("remove one of these includes"))]
    IncludeCycle { cycle: String },

    #[error("cannot include {}: {source}", path.display())]
    #[diagnostic(
        code(gate::load::include),
        help("include paths are relative to the file that contains the include")
    )]
    Include {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("unknown node `{name}` {place}")]
    #[diagnostic(code(gate::parse::unknown_node))]
    UnknownNode {
        name: String,
        place: String,
        #[help]
        hint: Option<String>,
    },

    #[error("unknown property `{name}` on `{node}`")]
    #[diagnostic(code(gate::parse::unknown_property))]
    UnknownProperty {
        name: String,
        node: String,
        #[help]
        hint: Option<String>,
    },

    #[error("`{node}` takes {expected}")]
    #[diagnostic(code(gate::parse::bad_value))]
    BadValue {
        node: String,
        expected: String,
        #[help]
        hint: Option<String>,
    },

    #[error("exit code {code} is given twice (`{first}`, then `{again}`)")]
    #[diagnostic(
        code(gate::parse::exit_code_twice),
        help("an exit code has one meaning per gate: keep it in one list")
    )]
    ExitCodeTwice {
        code: i32,
        first: &'static str,
        again: &'static str,
    },

    #[error("`{node}` is set twice")]
    #[diagnostic(code(gate::parse::duplicate_node), help("keep one of them"))]
    DuplicateNode { node: String },

    #[error("`{name}` is given twice on `{node}`")]
    #[diagnostic(code(gate::parse::duplicate_property), help("keep one of them"))]
    DuplicateProperty { name: String, node: String },

    #[error("invalid gate name `{name}`")]
    #[diagnostic(
        code(gate::model::gate_name),
        help("a gate name is one or more of A-Z a-z 0-9 _ . : -")
    )]
    GateName { name: String },

    #[error("gate `{name}` is defined twice")]
    #[diagnostic(
        code(gate::model::duplicate_gate),
        help("gate names are unique across all included files; rename one")
    )]
    DuplicateGate { name: String },

    #[error("a group (a gate without `run`) cannot have `{node}`")]
    #[diagnostic(
        code(gate::model::group_property),
        help("add a `run` line, or move `{node}` to the gates the group depends on")
    )]
    GroupProperty { node: String },

    #[error("unknown variable `{name}`")]
    #[diagnostic(code(gate::model::unknown_var))]
    UnknownVar {
        name: String,
        #[help]
        hint: Option<String>,
    },

    #[error("variable cycle: {cycle}")]
    #[diagnostic(
        code(gate::model::var_cycle),
        help("a variable cannot refer to itself, directly or through others")
    )]
    VarCycle { cycle: String },

    #[error("`--var {text}` is not of the form NAME=VALUE")]
    #[diagnostic(code(gate::cli::var), help("for example `--var coverage-floor=90`"))]
    VarSyntax { text: String },

    #[error("invalid duration `{text}`")]
    #[diagnostic(
        code(gate::model::duration),
        help("a number with a unit: 500ms, 90s, 10m, 2h, 1d, or combined: 1m30s")
    )]
    Duration { text: String },

    #[error("invalid glob `{glob}`: {reason}")]
    #[diagnostic(code(gate::model::glob))]
    Glob { glob: String, reason: String },

    #[error("`{path}` is outside the root")]
    #[diagnostic(
        code(gate::model::outside_root),
        help(
            "{what} must stay inside the directory that holds gates.kdl: relative paths, no `..` above it"
        )
    )]
    OutsideRoot { path: String, what: String },

    #[error("`{path}` is inside .gate/, gate's own state directory")]
    #[diagnostic(code(gate::model::state_dir), help("choose a path outside .gate/"))]
    InStateDir { path: String },

    #[error("`{path}` is the whole root")]
    #[diagnostic(
        code(gate::model::whole_root),
        help("name the files or directories the gate writes; the root also holds .gate/")
    )]
    WholeRoot { path: String },

    #[error("`when` needs `env=\"NAME\"` (optionally with `equals=\"VALUE\"`) or `file=\"PATH\"`")]
    #[diagnostic(code(gate::parse::when))]
    When,

    #[error("gate `{gate}` depends on unknown gate `{dep}`")]
    #[diagnostic(code(gate::graph::unknown_dep))]
    UnknownDep {
        gate: String,
        dep: String,
        #[help]
        hint: Option<String>,
    },

    #[error("dependency cycle: {cycle}")]
    #[diagnostic(
        code(gate::graph::cycle),
        help(
            "a gate cannot depend on itself, directly or through other gates; remove one of these deps"
        )
    )]
    Cycle { cycle: String },

    #[error("`default` names unknown gate `{name}`")]
    #[diagnostic(code(gate::graph::unknown_default))]
    UnknownDefault {
        name: String,
        #[help]
        hint: Option<String>,
    },

    #[error("unknown target `{name}`")]
    #[diagnostic(code(gate::plan::unknown_target))]
    UnknownTarget {
        name: String,
        #[help]
        hint: Option<String>,
    },

    #[error("no gate has tag `{tag}`")]
    #[diagnostic(code(gate::plan::unknown_tag))]
    UnknownTag {
        tag: String,
        #[help]
        hint: Option<String>,
    },
}

/// An [`Error`] placed in the sources: the main span and any further labelled places (the
/// first definition of a duplicate, the other end of a cycle).
#[derive(Debug)]
pub struct Diagnostic {
    /// Boxed: diagnostics travel in `Result`s, and the variants are large.
    pub error: Box<Error>,
    pub at: Option<Labelled>,
    pub notes: Vec<Labelled>,
}

#[derive(Debug, Clone)]
pub struct Labelled {
    pub span: Span,
    pub label: String,
}

impl Diagnostic {
    /// A diagnostic with no place in the sources (a missing file, a bad command line).
    pub fn bare(error: Error) -> Diagnostic {
        Diagnostic {
            error: Box::new(error),
            at: None,
            notes: Vec::new(),
        }
    }

    pub fn at(error: Error, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            error: Box::new(error),
            at: Some(Labelled {
                span,
                label: label.into(),
            }),
            notes: Vec::new(),
        }
    }

    pub fn note(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.notes.push(Labelled {
            span,
            label: label.into(),
        });
        self
    }
}

/// Sorts diagnostics into the order the user reads the files: by file, then position; the ones
/// without a place last, in the order they were found.
pub fn sort(diagnostics: &mut [Diagnostic], file_name: impl Fn(FileId) -> String) {
    diagnostics.sort_by_cached_key(|d| match &d.at {
        Some(at) => (0, file_name(at.span.file), at.span.offset),
        None => (1, String::new(), 0),
    });
}

/// The closest of `candidates` to `word`, if one is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(word: &str, candidates: &[&str], expected: Option<&str>) {
        assert_eq!(
            closest(word, candidates.iter().copied()),
            expected,
            "{word}"
        );
    }

    #[test]
    fn closest_finds_typos_and_ignores_strangers() {
        case("requries", &["requires", "run", "deps"], Some("requires"));
        case("dep", &["deps", "requires"], Some("deps"));
        case("lnit", &["lint", "test"], Some("lint"));
        case("zzzzzz", &["lint", "test"], None);
        case("x", &["lint"], None);
        case("tset", &["test", "tests"], Some("test"));
    }
}
