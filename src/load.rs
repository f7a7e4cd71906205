//! load: the [`Root`] → every source text, with `include`s followed and spliced in place.
//! Guarantees: each file is read once (a diamond include is not a duplicate), include cycles are
//! caught with their path, and a file that is not UTF-8, nests too deep for the parser, or is
//! not valid KDL becomes a diagnostic, never a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};

use crate::discover::Root;
use crate::error::{Diagnostic, Error, FileId, Span};

/// Deeper nesting than this is rejected before the KDL parser (which recurses) sees it.
/// gates.kdl itself needs two levels.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// The path as shown to the user: relative to the root when inside it.
    pub name: String,
    pub text: Arc<String>,
}

/// All files of the graph, indexed by [`FileId`].
#[derive(Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn name(&self, id: FileId) -> &str {
        &self.files[id.0].name
    }
}

/// A top-level node and the file it came from.
#[derive(Debug)]
pub struct Item {
    pub file: FileId,
    pub node: KdlNode,
}

/// The result of loading: the sources (for diagnostics) and the top-level nodes in reading
/// order, includes spliced where they stood.
#[derive(Debug)]
pub struct Loaded {
    pub sources: Sources,
    pub items: Vec<Item>,
}

/// Loads the root's gates.kdl and everything it includes. On failure the sources read so far
/// come back with the diagnostics, so they can still be rendered with snippets.
pub fn load(root: &Root) -> Result<Loaded, (Sources, Vec<Diagnostic>)> {
    let mut loader = Loader {
        // Canonical, like the file paths it is stripped from.
        root: root.dir.canonicalize().unwrap_or_else(|_| root.dir.clone()),
        sources: Sources::default(),
        items: Vec::new(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    loader.file(&root.file, None);
    if loader.diagnostics.is_empty() {
        Ok(Loaded {
            sources: loader.sources,
            items: loader.items,
        })
    } else {
        Err((loader.sources, loader.diagnostics))
    }
}

struct Loader {
    root: PathBuf,
    sources: Sources,
    items: Vec<Item>,
    diagnostics: Vec<Diagnostic>,
    /// The chain of files being included, for cycle detection.
    stack: Vec<(PathBuf, Option<Span>)>,
}

impl Loader {
    /// Reads one file and splices its nodes; `from` is the include node that named it.
    fn file(&mut self, path: &Path, from: Option<Span>) {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(position) = self.stack.iter().position(|(p, _)| *p == path) {
            let mut chain: Vec<String> = self.stack[position..]
                .iter()
                .map(|(p, _)| self.display(p))
                .collect();
            chain.push(self.display(&path));
            let span = from.expect("the root file cannot be on the include stack");
            self.diagnostics.push(Diagnostic::at(
                Error::IncludeCycle {
                    cycle: chain.join(" -> "),
                },
                span,
                "this include closes the cycle",
            ));
            return;
        }
        if self.sources.files.iter().any(|f| f.path == path) {
            // Included twice without a cycle (a diamond): its nodes are already spliced.
            return;
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(source) => {
                let diagnostic = match from {
                    Some(span) => Diagnostic::at(
                        Error::Include {
                            path: path.clone(),
                            source,
                        },
                        span,
                        "included here",
                    ),
                    None => Diagnostic::bare(Error::Read {
                        path: path.clone(),
                        source,
                    }),
                };
                self.diagnostics.push(diagnostic);
                return;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let offset = error.utf8_error().valid_up_to();
                self.diagnostics
                    .push(Diagnostic::bare(Error::NotUtf8 { path, offset }));
                return;
            }
        };
        let id = FileId(self.sources.files.len());
        let name = self.display(&path);
        self.sources.files.push(SourceFile {
            path: path.clone(),
            name,
            text: Arc::new(text),
        });
        let text = Arc::clone(&self.sources.files[id.0].text);

        if let Some(offset) = too_deep(&text, MAX_DEPTH) {
            let span = Span {
                file: id,
                offset,
                len: 1,
            };
            self.diagnostics.push(Diagnostic::at(
                Error::TooDeep { limit: MAX_DEPTH },
                span,
                "too deep here",
            ));
            return;
        }
        let document = match text.parse::<KdlDocument>() {
            Ok(document) => document,
            Err(error) => {
                for kdl in error.diagnostics {
                    self.diagnostics.push(syntax(id, &text, kdl));
                }
                return;
            }
        };

        self.stack.push((path.clone(), from));
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for node in document.nodes() {
            if node.name().value() == "include" {
                self.include(id, &base, node);
            } else {
                self.items.push(Item {
                    file: id,
                    node: node.clone(),
                });
            }
        }
        self.stack.pop();
    }

    fn include(&mut self, id: FileId, base: &Path, node: &KdlNode) {
        let span = Span::new(id, node.span());
        let mut paths = Vec::new();
        for entry in node.entries() {
            match (entry.name(), entry.value().as_string()) {
                (None, Some(path)) => paths.push((path.to_owned(), Span::new(id, entry.span()))),
                _ => {
                    let error = Error::BadValue {
                        node: "include".into(),
                        expected: "one or more file paths as strings".into(),
                        hint: Some("include \"tasks/rust.kdl\"".into()),
                    };
                    self.diagnostics.push(Diagnostic::at(
                        error,
                        Span::new(id, entry.span()),
                        "not a path",
                    ));
                }
            }
        }
        if paths.is_empty() && node.entries().is_empty() {
            let error = Error::BadValue {
                node: "include".into(),
                expected: "one or more file paths as strings".into(),
                hint: Some("include \"tasks/rust.kdl\"".into()),
            };
            self.diagnostics
                .push(Diagnostic::at(error, span, "no path"));
        }
        if node.children().is_some() {
            let error = Error::BadValue {
                node: "include".into(),
                expected: "no children block".into(),
                hint: None,
            };
            self.diagnostics
                .push(Diagnostic::at(error, span, "unexpected block"));
        }
        for (path, span) in paths {
            self.file(&base.join(path), Some(span));
        }
    }

    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Converts one of the kdl crate's diagnostics into ours, keeping its span.
fn syntax(id: FileId, text: &str, kdl: kdl::KdlDiagnostic) -> Diagnostic {
    let (mut offset, mut len) = (kdl.span.offset(), kdl.span.len());
    // kdl 6.7.1 reports an error inside a property value with a span that starts at 0: point at
    // the end of that span instead, which is where the parser stopped.
    if offset == 0 && len > 1 {
        offset += len - 1;
        len = 1;
    }
    offset = offset.min(text.len());
    len = len.min(text.len() - offset);
    let error = Error::Syntax {
        message: kdl.message.unwrap_or_else(|| "invalid KDL".into()),
        hint: kdl.help,
    };
    Diagnostic::at(
        error,
        Span {
            file: id,
            offset,
            len,
        },
        kdl.label.unwrap_or_else(|| "here".into()),
    )
}

/// The offset of the first `{` that opens a block deeper than `limit`, if any. Counts braces
/// outside strings and comments only roughly (it does not know every KDL string form), which
/// errs towards accepting: the parser still rejects what is malformed.
fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(text: &str, expected: Option<usize>) {
        assert_eq!(too_deep(text, 2), expected, "{text:?}");
    }

    #[test]
    fn depth_check_ignores_strings_and_comments() {
        case("a { b { c } }", None);
        case("a { b { c { } } }", Some(10));
        case(r#"a { run "{{{{{" }"#, None);
        case("a { // {{{{\n}", None);
        case(r#"a { run "\"{{{{" }"#, None);
    }

    #[test]
    fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("gates.kdl");
        std::fs::write(
            &file,
            format!("{}{}", "a {".repeat(100_000), "}".repeat(100_000)),
        )
        .unwrap();
        let (_, diagnostics) = load(&Root {
            dir: temp.path().into(),
            file,
        })
        .unwrap_err();
        assert!(matches!(*diagnostics[0].error, Error::TooDeep { .. }));
    }
}
