//! inputs: which files a gate reads, and what they contain.
//!
//! One parallel walk at the start of a run (the `ignore` crate: .gitignore and .ignore are
//! honoured, `.git/` and `.gate/` never entered) lists the files under the literal prefixes of
//! every selected gate's globs, with one `stat` each. A gate's inputs are then the listed files
//! its globs match, minus `!` exclusions, plus what the walk cannot see: literal paths (matched
//! even when ignored) and other gates' declared outputs, both looked at afresh when the gate is
//! keyed, since a dependency may just have written them.
//!
//! Digests come from the [`Index`]: a persistent stat cache (device, inode, size, mtime, ctime
//! and mode → blake3) so an unchanged file is never read twice. A file modified in the same
//! second as it was hashed is not trusted next time (racy timestamps), and hashing is parallel.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The name prefix of the temporary file an output is restored through.
pub const STAGING: &str = ".gate-restore-";

/// A blake3 digest.
pub type Digest = blake3::Hash;

/// What `stat` says about a file: enough to notice any change to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub mode: u32,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            mode: meta.mode(),
        }
    }

    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }

    /// The permission bits, as restored on an output.
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// A file as hashed: its stat at the time and its content digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    pub stat: Stat,
    pub digest: Digest,
}

/// A glob split at its first component with a glob character: `src/pkg/**/*.py` is the
/// prefix `src/pkg` and the rest `**/*.py`. The walk starts at the prefix, and matching the
/// rest alone lets globset use its fast strategies (an extension lookup here).
#[derive(Debug, Clone)]
struct Pattern {
    prefix: String,
    /// `None` for a literal path (a file, or a directory meaning everything under it). A set
    /// of one, because a set picks a fast strategy where a lone matcher always runs a regex.
    rest: Option<GlobSet>,
}

impl Pattern {
    fn new(pattern: &str) -> Result<Pattern, globset::Error> {
        let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
        let literal = parts
            .iter()
            .take_while(|part| !part.contains(['*', '?', '[', ']', '{', '}', '\\']))
            .count();
        let prefix = parts[..literal].join("/");
        let rest = match &parts[literal..] {
            [] => None,
            rest => Some(
                GlobSetBuilder::new()
                    .add(
                        GlobBuilder::new(&rest.join("/"))
                            .literal_separator(true)
                            .build()?,
                    )
                    .build()?,
            ),
        };
        Ok(Pattern { prefix, rest })
    }

    fn is_match(&self, path: &str) -> bool {
        let rest = if self.prefix.is_empty() {
            path
        } else {
            match path.strip_prefix(self.prefix.as_str()) {
                Some("") => return self.rest.is_none(),
                Some(rest) => match rest.strip_prefix('/') {
                    Some(rest) => rest,
                    None => return false,
                },
                None => return false,
            }
        };
        match &self.rest {
            None => true,
            Some(glob) => glob.is_match(rest),
        }
    }

    /// Whether the two could match a common path: one prefix contains the other.
    fn overlaps(&self, other: &Pattern) -> bool {
        within(&self.prefix, &other.prefix) || within(&other.prefix, &self.prefix)
    }
}

/// Whether `path` is `dir` or under it (`""` contains everything).
fn within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// One gate's `inputs`, compiled.
#[derive(Debug, Clone)]
pub struct Spec {
    globs: Vec<Pattern>,
    literals: Vec<String>,
    excludes: GlobSet,
}

impl Spec {
    /// Compiles a gate's `inputs` as the model left them (normalised; `!` marks exclusions).
    pub fn new(inputs: &[String]) -> Spec {
        let mut globs = Vec::new();
        let mut literals = Vec::new();
        let mut excludes = GlobSetBuilder::new();
        for input in inputs {
            if let Some(excluded) = input.strip_prefix('!') {
                for pattern in [excluded.to_owned(), format!("{excluded}/**")] {
                    if let Ok(glob) = GlobBuilder::new(&pattern).literal_separator(true).build() {
                        excludes.add(glob);
                    }
                }
                continue;
            }
            // The model has compiled every glob already; a failure here cannot happen.
            let Ok(pattern) = Pattern::new(input) else {
                continue;
            };
            match pattern.rest {
                None => literals.push(pattern.prefix),
                Some(_) => globs.push(pattern),
            }
        }
        Spec {
            globs,
            literals,
            excludes: excludes.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty() && self.literals.is_empty()
    }

    fn excluded(&self, path: &str) -> bool {
        self.excludes.is_match(path)
    }

    /// Whether `path` (relative to the root) is one these inputs read: a glob or a literal
    /// path (a file, or a directory and everything under it) matches it, and no exclusion
    /// does. Decides `--staged` and `--since` without walking anything.
    pub fn touches(&self, path: &str) -> bool {
        !self.excluded(path)
            && (self.globs.iter().any(|g| g.is_match(path))
                || self.literals.iter().any(|l| within(path, l)))
    }
}

/// The gates of `plan` that read one of `changed` (paths relative to the root), for
/// [`Plan::narrow`](crate::plan::Plan::narrow); a skipped gate counts as its declaration
/// says, so a change still shows why it did not run. A gate that declares no inputs always
/// counts: nothing says what it reads. Groups read nothing themselves.
pub fn affected(
    plan: &crate::plan::Plan,
    graph: &crate::graph::Graph,
    changed: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    plan.steps
        .iter()
        .filter(|step| !matches!(step.decision, crate::plan::Decision::Group))
        .filter(|step| {
            let spec = Spec::new(&graph.gate(&step.gate).inputs);
            spec.is_empty() || changed.iter().any(|path| spec.touches(path))
        })
        .map(|step| step.gate.clone())
        .collect()
}

/// Another gate's declared outputs, which a gate's inputs may match even when ignored.
#[derive(Debug, Clone)]
pub struct Outputs {
    gate: String,
    patterns: Vec<Pattern>,
}

impl Outputs {
    pub fn new(gate: &str, outputs: &[String]) -> Outputs {
        Outputs {
            gate: gate.to_owned(),
            patterns: outputs
                .iter()
                .filter_map(|o| Pattern::new(o).ok())
                .collect(),
        }
    }

    pub fn gate(&self) -> &str {
        &self.gate
    }

    /// Whether the gate declares no outputs.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (from a cache entry) is a place this gate may write: a plain relative
    /// path, inside the root, outside `.git/` and `.gate/`, matched by a declared output.
    pub fn allows(&self, path: &str) -> bool {
        let plain = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !matches!(part, "" | "." | ".." | ".git"));
        plain
            && !within(path, crate::model::STATE_DIR)
            && self.patterns.iter().any(|p| p.is_match(path))
    }
}

/// Walks `roots` (relative to `root`) and lists the files with their stat. With `filtered`,
/// ignore files are honoured; the state directory and `.git/` are never entered.
fn walk(root: &Path, roots: &[String], filtered: bool, skip: &[PathBuf]) -> Vec<Listed> {
    // From the root itself (the caller made it the working directory), paths are short: the
    // kernel resolves fewer components per stat, and nothing needs stripping but `./`.
    let here = std::env::current_dir().is_ok_and(|d| d == root);
    let base = if here { Path::new("") } else { root };
    let existing: Vec<PathBuf> = roots
        .iter()
        .map(|r| match (here, r.is_empty()) {
            (true, true) => PathBuf::from("."),
            _ => base.join(r),
        })
        .filter(|p| p.exists())
        .collect();
    // What walked paths start with, before the root-relative part.
    let prefix: Vec<u8> = match here {
        true => Vec::new(),
        false => {
            let mut prefix = root.as_os_str().as_bytes().to_vec();
            prefix.push(b'/');
            prefix
        }
    };
    let Some((first, rest)) = existing.split_first() else {
        return Vec::new();
    };
    let mut builder = ignore::WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    let skip: Vec<String> = skip
        .iter()
        .filter_map(|s| s.strip_prefix(root).ok()?.to_str().map(str::to_owned))
        .chain([crate::model::STATE_DIR.to_owned()])
        .collect();
    let filter_prefix = prefix.clone();
    builder
        .standard_filters(filtered)
        .hidden(false)
        .git_global(false)
        .git_exclude(false)
        .threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        )
        .filter_entry(move |entry| {
            entry.file_name() != ".git"
                && relative(&filter_prefix, entry.path())
                    .is_none_or(|path| !skip.iter().any(|s| s == path))
        });
    let (sender, receiver) = mpsc::channel::<Vec<Listed>>();
    builder.build_parallel().run(|| {
        let sender = sender.clone();
        let prefix = prefix.clone();
        let mut batch = Batch {
            files: Vec::new(),
            sender,
        };
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return ignore::WalkState::Continue;
            };
            let is_symlink = entry.file_type().is_some_and(|t| t.is_symlink());
            if !is_symlink && !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            // A symlink stands for what it points at; a dangling one is not a file.
            let meta = match is_symlink {
                true => std::fs::metadata(entry.path()),
                false => std::fs::symlink_metadata(entry.path()),
            };
            let (Ok(meta), Some(relative)) = (meta, relative(&prefix, entry.path())) else {
                return ignore::WalkState::Continue;
            };
            if meta.is_file() {
                batch.files.push((relative.to_owned(), Stat::of(&meta)));
                if batch.files.len() >= 1024 {
                    let _ = batch.sender.send(std::mem::take(&mut batch.files));
                }
            }
            ignore::WalkState::Continue
        })
    });
    drop(sender);
    let mut files: Vec<Listed> = receiver.into_iter().flatten().collect();
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    files
}

/// A walker thread's files, sent on when full and when the thread ends.
struct Batch {
    files: Vec<Listed>,
    sender: mpsc::Sender<Vec<Listed>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.files.is_empty() {
            let _ = self.sender.send(std::mem::take(&mut self.files));
        }
    }
}

/// A walked path relative to the root, `/`-separated (`prefix` is what walked paths start
/// with: the root and a `/`, or nothing); `None` for a name that is not UTF-8.
fn relative<'a>(prefix: &[u8], path: &'a Path) -> Option<&'a str> {
    let bytes = path.as_os_str().as_bytes().strip_prefix(prefix)?;
    let bytes = bytes.strip_prefix(b"./").unwrap_or(bytes);
    std::str::from_utf8(bytes).ok()
}

/// The files `outputs` stands for now (ignore files do not apply), sorted.
pub fn produced(root: &Path, outputs: &Outputs) -> Vec<Listed> {
    let mut files: Vec<Listed> = Vec::new();
    for output in &outputs.patterns {
        for (path, stat) in walk(root, std::slice::from_ref(&output.prefix), false, &[]) {
            // A restore interrupted by `kill -9` can leave its staging file behind.
            let staging = path
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(STAGING));
            if output.is_match(&path) && !staging {
                files.push((path, stat));
            }
        }
    }
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    files
}

/// A walked file and its stat now (`None`: gone).
pub type Walked = (Arc<str>, Option<Stat>);

/// A file listed by a walk, with its stat then.
pub type Listed = (String, Stat);

/// A file a gate reads, as resolved: its path and stat, and where the index keeps it.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: Arc<str>,
    pub stat: Stat,
    /// Its place in the walked tree, or `None` for a file looked at on its own (a literal
    /// path, a generated output, a tool).
    tree: Option<usize>,
}

impl Input {
    /// A file outside the walk (an absolute tool path, say).
    pub fn single(path: &str, stat: Stat) -> Input {
        Input {
            path: Arc::from(path),
            stat,
            tree: None,
        }
    }
}

/// A walked file and what is known of it: its stat now (`None` once it is gone) and its
/// digest when the stat cache vouched for it or it was hashed in this run.
#[derive(Debug)]
struct TreeFile {
    path: Arc<str>,
    slot: Mutex<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    stat: Option<Stat>,
    digest: Option<Digest>,
    hashed_at: i64,
}

/// The walk of every selected gate's glob prefixes, and the digests of files: the persistent
/// stat cache joined with it, plus what this run hashes.
#[derive(Debug)]
pub struct Index {
    root: PathBuf,
    file: PathBuf,
    /// Sorted by path.
    tree: Vec<TreeFile>,
    /// The outermost walked prefixes.
    roots: Vec<String>,
    saved: Saved,
    /// Files outside the tree (literal paths, generated outputs, tools) known in this run.
    seen: Mutex<HashMap<String, Record>>,
    dirty: AtomicBool,
    /// Files hashed again only to find what the stat cache said (their records were too
    /// fresh to trust): worth saving only when there are many.
    reconfirmed: AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    stat: Stat,
    digest: Digest,
    /// When the content was read (whole seconds since the epoch).
    hashed_at: i64,
}

impl Record {
    /// Whether the record still describes a file with this stat. A file changed in the second
    /// it was hashed (or later) could change again without its timestamps moving: not trusted.
    fn trusted(&self, stat: &Stat) -> bool {
        self.stat == *stat
            && self
                .stat
                .mtime_ns
                .max(self.stat.ctime_ns)
                .div_euclid(1_000_000_000)
                < self.hashed_at
    }
}

/// The stat cache as read: one buffer of paths and records sorted by path, so loading
/// allocates once and looking up is a binary search.
#[derive(Debug, Default)]
struct Saved {
    /// Every path, back to back (validated once, when read).
    paths: String,
    records: Vec<(u32, u32, Record)>,
}

impl Saved {
    fn path(&self, index: usize) -> &str {
        let (start, len, _) = self.records[index];
        self.paths
            .get(start as usize..(start + len) as usize)
            .unwrap_or("")
    }

    fn get(&self, path: &str) -> Option<&Record> {
        let at = self
            .records
            .binary_search_by(|(start, len, _)| {
                let p = &self.paths.as_bytes()[*start as usize..(*start + *len) as usize];
                p.cmp(path.as_bytes())
            })
            .ok()?;
        Some(&self.records[at].2)
    }
}

const MAGIC: &[u8; 8] = b"GATESTAT";
const FORMAT: u32 = 2;

impl Index {
    /// Walks the glob prefixes of `specs` (in parallel; ignored files, `.git/`, the state
    /// directory and `skip` are not entered) and joins what it finds with the stat cache in
    /// `file`; a missing, foreign or damaged stat cache is empty.
    pub fn new(root: &Path, file: &Path, specs: &[&Spec], skip: &[PathBuf]) -> Index {
        let mut prefixes: Vec<String> = specs
            .iter()
            .flat_map(|s| s.globs.iter().map(|g| g.prefix.clone()))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        // Keep only outermost prefixes: `src` covers `src/a`.
        let mut roots: Vec<String> = Vec::new();
        for candidate in prefixes {
            if !roots.iter().any(|o| within(&candidate, o)) {
                roots.push(candidate);
            }
        }
        let listed = if roots.is_empty() {
            Vec::new()
        } else {
            walk(root, &roots, true, skip)
        };
        let saved = std::fs::read(file)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();

        // Join the sorted walk with the sorted stat cache.
        let mut dirty = false;
        let mut cursor = 0;
        let mut tree = Vec::with_capacity(listed.len());
        for (path, stat) in listed {
            while cursor < saved.records.len() && saved.path(cursor) < path.as_str() {
                dirty |= covered(&roots, saved.path(cursor));
                cursor += 1;
            }
            let mut slot = Slot {
                stat: Some(stat),
                digest: None,
                hashed_at: 0,
            };
            if cursor < saved.records.len() && saved.path(cursor) == path {
                let record = saved.records[cursor].2;
                if record.trusted(&stat) {
                    slot.digest = Some(record.digest);
                    slot.hashed_at = record.hashed_at;
                }
                cursor += 1;
            }
            tree.push(TreeFile {
                path: Arc::from(path),
                slot: Mutex::new(slot),
            });
        }
        dirty |= (cursor..saved.records.len()).any(|i| covered(&roots, saved.path(i)));
        Index {
            root: root.to_path_buf(),
            file: file.to_path_buf(),
            tree,
            roots,
            saved,
            seen: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(dirty),
            reconfirmed: AtomicUsize::new(0),
        }
    }

    /// The tree's files under `prefix` (all for `""`), as a range of indices.
    fn under(&self, prefix: &str) -> std::ops::Range<usize> {
        if prefix.is_empty() {
            return 0..self.tree.len();
        }
        let start = self.tree.partition_point(|f| &*f.path < prefix);
        let end = start
            + self.tree[start..]
                .iter()
                .take_while(|f| f.path.starts_with(prefix))
                .count();
        start..end
    }

    /// Every walked file with its stat (`None`: gone since), sorted by path, then the files
    /// outside the walk that this run looked at (literal paths, outputs, tools inside the
    /// root), for comparing the tree with git's index.
    pub fn known(&self) -> (Vec<Walked>, Vec<String>) {
        let walked = self
            .tree
            .iter()
            .map(|file| {
                let slot = file.slot.lock().unwrap_or_else(|e| e.into_inner());
                (Arc::clone(&file.path), slot.stat)
            })
            .collect();
        let outside = (self.seen.lock().unwrap_or_else(|e| e.into_inner()))
            .keys()
            .filter(|path| !path.starts_with('/'))
            .cloned()
            .collect();
        (walked, outside)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stats a walked file again; a change drops its digest.
    fn refresh(&self, index: usize) {
        let file = &self.tree[index];
        let stat = std::fs::metadata(self.root.join(&*file.path))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| Stat::of(&m));
        let mut slot = file.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.stat != stat {
            *slot = Slot {
                stat,
                digest: None,
                hashed_at: 0,
            };
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    fn tree_index(&self, path: &str) -> Option<usize> {
        self.tree.binary_search_by(|f| (*f.path).cmp(path)).ok()
    }

    fn slot(&self, index: usize) -> Slot {
        *self.tree[index]
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The files a gate reads now: what `spec`'s globs match in the tree, minus exclusions,
    /// plus its literal paths and the matching files of other gates' `outputs`, both looked
    /// at afresh (they are matched even when ignored); sorted by path.
    /// With `fresh`, the walked files are stat'ed again (a dependency ran and may have
    /// written them).
    pub fn resolve(&self, spec: &Spec, outputs: &[Outputs], gate: &str, fresh: bool) -> Vec<Input> {
        // A gate's own outputs are never its inputs, even when its globs match them.
        let own: Vec<&Pattern> = outputs
            .iter()
            .filter(|o| o.gate == gate)
            .flat_map(|o| o.patterns.iter())
            .collect();
        let is_own = |path: &str| own.iter().any(|o| o.is_match(path));
        let mut indices: Vec<usize> = Vec::new();
        for glob in &spec.globs {
            for index in self.under(&glob.prefix) {
                let path = &self.tree[index].path;
                if glob.is_match(path) && !spec.excluded(path) && !is_own(path) {
                    indices.push(index);
                }
            }
        }
        if fresh {
            for &index in &indices {
                self.refresh(index);
            }
        }
        if spec.globs.len() > 1 {
            indices.sort_unstable();
            indices.dedup();
        }
        let mut extra: Vec<Listed> = Vec::new();
        for literal in &spec.literals {
            match std::fs::metadata(self.root.join(literal)) {
                Ok(meta) if meta.is_file() && !spec.excluded(literal) && !is_own(literal) => {
                    extra.push((literal.clone(), Stat::of(&meta)));
                }
                // A literal directory: everything under it, ignore files applying below it.
                Ok(meta) if meta.is_dir() => {
                    let found = walk(&self.root, std::slice::from_ref(literal), true, &[]);
                    extra.extend(
                        found
                            .into_iter()
                            .filter(|(p, _)| !spec.excluded(p) && !is_own(p)),
                    );
                }
                // Missing: not an input (until it exists, which changes the key).
                _ => {}
            }
        }
        // Generated inputs: another gate's outputs, as they are now.
        for other in outputs.iter().filter(|o| o.gate != gate) {
            for output in &other.patterns {
                let relevant = spec.globs.iter().any(|g| g.overlaps(output))
                    || spec
                        .literals
                        .iter()
                        .any(|l| within(l, &output.prefix) || within(&output.prefix, l));
                if !relevant {
                    continue;
                }
                // The walk's view of this place may be stale: forget it and look again.
                indices.retain(|&i| {
                    let path = &self.tree[i].path;
                    !(output.is_match(path) || within(path, &output.prefix))
                });
                for (path, stat) in
                    walk(&self.root, std::slice::from_ref(&output.prefix), false, &[])
                {
                    let wanted = spec.globs.iter().any(|g| g.is_match(&path))
                        || spec.literals.iter().any(|l| within(&path, l));
                    if output.is_match(&path) && wanted && !spec.excluded(&path) {
                        extra.push((path, stat));
                    }
                }
            }
        }
        let mut inputs: Vec<Input> = indices
            .into_iter()
            .filter_map(|index| {
                let stat = self.slot(index).stat?;
                Some(Input {
                    path: Arc::clone(&self.tree[index].path),
                    stat,
                    tree: Some(index),
                })
            })
            .collect();
        if !extra.is_empty() {
            inputs.extend(extra.into_iter().map(|(path, stat)| Input {
                path: Arc::from(path),
                stat,
                tree: None,
            }));
            // Looked at afresh wins over the walk's view of the same path.
            inputs.sort_by(|a, b| {
                a.path
                    .cmp(&b.path)
                    .then(b.tree.is_none().cmp(&a.tree.is_none()))
            });
            inputs.dedup_by(|a, b| a.path == b.path);
        }
        inputs
    }

    /// The states of `inputs`, hashing in parallel what the stat cache cannot vouch for. A
    /// file that vanished or cannot be read is `None`.
    pub fn states(&self, inputs: &[Input]) -> Vec<Option<FileState>> {
        let mut states: Vec<Option<FileState>> = vec![None; inputs.len()];
        let mut todo: Vec<(usize, Stat)> = Vec::new();
        {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for (at, input) in inputs.iter().enumerate() {
                let known = match input.tree {
                    Some(index) => {
                        let slot = self.slot(index);
                        match slot.stat {
                            None => continue,
                            Some(stat) => slot.digest.map(|digest| FileState { stat, digest }),
                        }
                    }
                    None => seen
                        .get(&*input.path)
                        .filter(|r| r.stat == input.stat)
                        .or_else(|| {
                            self.saved
                                .get(&input.path)
                                .filter(|r| r.trusted(&input.stat))
                        })
                        .map(|r| FileState {
                            stat: input.stat,
                            digest: r.digest,
                        }),
                };
                match known {
                    Some(state) => states[at] = Some(state),
                    None => {
                        let stat = match input.tree {
                            Some(index) => self.slot(index).stat.unwrap_or(input.stat),
                            None => input.stat,
                        };
                        todo.push((at, stat));
                    }
                }
            }
        }
        if todo.is_empty() {
            return states;
        }
        let hashed = parallel(&todo, |(at, _)| self.hash(&inputs[*at].path).ok());
        let now = now_seconds();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for ((at, stat), digest) in todo.into_iter().zip(hashed) {
            let Some(digest) = digest else {
                continue;
            };
            let input = &inputs[at];
            states[at] = Some(FileState { stat, digest });
            self.learnt(&input.path, stat, digest);
            match input.tree {
                Some(index) => {
                    let mut slot = self.tree[index]
                        .slot
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if slot.stat == Some(stat) {
                        slot.digest = Some(digest);
                        slot.hashed_at = now;
                    }
                }
                None => {
                    seen.insert(
                        input.path.to_string(),
                        Record {
                            stat,
                            digest,
                            hashed_at: now,
                        },
                    );
                }
            }
        }
        states
    }

    /// Stats `paths` now and gives their states; `None` for a file that is gone. What is seen
    /// replaces the walk's view of these files for the rest of the run, so what runs after a
    /// `fix` gate sees its edits.
    pub fn restat(&self, paths: &[&str]) -> Vec<Option<FileState>> {
        let inputs: Vec<Option<Input>> = paths
            .iter()
            .map(|path| {
                let stat = std::fs::metadata(self.root.join(path))
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| Stat::of(&m));
                let tree = self.tree_index(path);
                if let Some(index) = tree {
                    let mut slot = self.tree[index]
                        .slot
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if slot.stat != stat {
                        *slot = Slot {
                            stat,
                            digest: None,
                            hashed_at: 0,
                        };
                        self.dirty.store(true, Ordering::Relaxed);
                    }
                }
                Some(Input {
                    path: Arc::from(*path),
                    stat: stat?,
                    tree,
                })
            })
            .collect();
        let present: Vec<Input> = inputs.iter().flatten().cloned().collect();
        let mut states = self.states(&present).into_iter();
        inputs
            .iter()
            .map(|i| i.as_ref().and_then(|_| states.next().flatten()))
            .collect()
    }

    /// Records a file gate itself just wrote with known content (a restored output).
    pub fn record(&self, path: &str, state: FileState) {
        let now = now_seconds();
        self.learnt(path, state.stat, state.digest);
        if let Some(index) = self.tree_index(path) {
            *self.tree[index]
                .slot
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Slot {
                stat: Some(state.stat),
                digest: Some(state.digest),
                hashed_at: now,
            };
            return;
        }
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(
            path.to_owned(),
            Record {
                stat: state.stat,
                digest: state.digest,
                hashed_at: now,
            },
        );
    }

    /// Notes what this run learnt about a file: news for the stat cache, or only what it
    /// already said.
    fn learnt(&self, path: &str, stat: Stat, digest: Digest) {
        let known = self
            .saved
            .get(path)
            .is_some_and(|r| r.stat == stat && r.digest == digest);
        match known {
            true => self.reconfirmed.fetch_add(1, Ordering::Relaxed),
            false => usize::from(self.dirty.swap(true, Ordering::Relaxed)),
        };
    }

    fn hash(&self, path: &str) -> std::io::Result<Digest> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_mmap(self.root.join(path))?;
        Ok(hasher.finalize())
    }

    /// Writes the stat cache back (atomically) when this run learnt something: the tree's
    /// hashed files, the other files seen, and the old records the walk could not have seen.
    pub fn save(&self) -> std::io::Result<()> {
        // Rewriting a large stat cache costs more than hashing a few young files again.
        const WORTH_SAVING: usize = 256;
        if !self.dirty.load(Ordering::Relaxed)
            && self.reconfirmed.load(Ordering::Relaxed) <= WORTH_SAVING
        {
            return Ok(());
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut records: Vec<(&str, Record)> = Vec::with_capacity(self.tree.len() + seen.len());
        for file in &self.tree {
            let slot = self.slot_of(file);
            if let (Some(stat), Some(digest)) = (slot.stat, slot.digest) {
                records.push((
                    &file.path,
                    Record {
                        stat,
                        digest,
                        hashed_at: slot.hashed_at,
                    },
                ));
            }
        }
        records.extend(seen.iter().map(|(path, record)| (path.as_str(), *record)));
        for index in 0..self.saved.records.len() {
            let path = self.saved.path(index);
            if !covered(&self.roots, path) && !seen.contains_key(path) {
                records.push((path, self.saved.records[index].2));
            }
        }
        records.sort_unstable_by(|a, b| a.0.cmp(b.0));
        records.dedup_by(|a, b| a.0 == b.0);
        let bytes = encode(&records);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(readable())
            .tempfile_in(dir)?;
        temp.write_all(&bytes)?;
        temp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }

    fn slot_of(&self, file: &TreeFile) -> Slot {
        *file.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a path lies under one of the walked prefixes (a relative path the walk would
/// have listed; absolute paths are tools).
fn covered(roots: &[String], path: &str) -> bool {
    !path.starts_with('/') && roots.iter().any(|r| within(path, r))
}

/// Cache and state files are readable by all (tempfile's default is 0600), so a cache
/// directory can be shared between users.
pub fn readable() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}

/// Runs `work` over `items` on all cores, keeping the order.
fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if items.len() < 64 || threads == 1 {
        return items.iter().map(&work).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let work = &work;
                scope.spawn(move || part.iter().map(work).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `GATESTAT`, a format number, records sorted by path, then a blake3 of all that: a torn
/// or edited file fails the check and is read as empty.
fn encode(records: &[(&str, Record)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + records.len() * 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for (path, record) in records {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        let s = &record.stat;
        for value in [s.dev, s.ino, s.size] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for value in [s.mtime_ns, s.ctime_ns, record.hashed_at] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&s.mode.to_le_bytes());
        out.extend_from_slice(record.digest.as_bytes());
    }
    let check = blake3::hash(&out);
    out.extend_from_slice(check.as_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Saved> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body) != Digest::from_bytes(check.try_into().ok()?) {
        return None;
    }
    let mut reader = Reader(body);
    if reader.take(8)? != MAGIC || reader.u32()? != FORMAT {
        return None;
    }
    let count = reader.u64()? as usize;
    let mut saved = Saved {
        paths: String::with_capacity(body.len() / 2),
        records: Vec::with_capacity(count.min(body.len() / 90)),
    };
    for _ in 0..count {
        let length = reader.u32()? as usize;
        let path = std::str::from_utf8(reader.take(length)?).ok()?;
        let start = u32::try_from(saved.paths.len()).ok()?;
        saved.paths.push_str(path);
        let stat = Stat {
            dev: reader.u64()?,
            ino: reader.u64()?,
            size: reader.u64()?,
            mtime_ns: reader.u64()? as i64,
            ctime_ns: reader.u64()? as i64,
            mode: 0,
        };
        let hashed_at = reader.u64()? as i64;
        let stat = Stat {
            mode: reader.u32()?,
            ..stat
        };
        let digest = Digest::from_bytes(reader.take(32)?.try_into().ok()?);
        saved.records.push((
            start,
            length as u32,
            Record {
                stat,
                digest,
                hashed_at,
            },
        ));
    }
    // Written sorted; a file that is not is not ours.
    let sorted = (1..saved.records.len()).all(|i| saved.path(i - 1) < saved.path(i));
    sorted.then_some(saved)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_split_at_the_first_glob_component() {
        let cases = [
            ("src/pkg/**/*.py", "src/pkg/a/b.py", true),
            ("src/pkg/**/*.py", "src/pkg/b.py", true),
            ("src/pkg/**/*.py", "src/pkgx/b.py", false),
            ("src/*.py", "src/a/b.py", false),
            ("**/*.py", "a.py", true),
            ("docs", "docs/a/b.md", true),
            ("docs", "docsx", false),
            ("Cargo.toml", "Cargo.toml", true),
            ("a/[bc].txt", "a/c.txt", true),
        ];
        for (pattern, path, expected) in cases {
            let compiled = Pattern::new(pattern).expect("a valid glob");
            assert_eq!(compiled.is_match(path), expected, "{pattern} vs {path}");
        }
    }

    #[test]
    fn a_changed_path_touches_the_inputs_that_would_read_it() {
        let case = |inputs: &[&str], path: &str, expected: bool| {
            let inputs: Vec<String> = inputs.iter().map(|i| (*i).to_owned()).collect();
            assert_eq!(
                Spec::new(&inputs).touches(path),
                expected,
                "{inputs:?} vs {path}"
            );
        };
        case(&["src/**/*.py"], "src/a/b.py", true);
        case(&["src/**/*.py"], "src/a/b.txt", false);
        case(&["*.py"], "a.py", true);
        case(&["*.py"], "sub/a.py", false);
        case(&["docs"], "docs/a/b.md", true);
        case(&["docs"], "docsx/a.md", false);
        case(&["Cargo.toml"], "Cargo.toml", true);
        case(&["src/**/*.py", "!src/gen"], "src/gen/a.py", false);
        case(&["src/**/*.py", "!src/gen/*.py"], "src/a.py", true);
        case(&[], "a.py", false);
    }

    #[test]
    fn the_stat_cache_round_trips_and_rejects_damage() {
        let stat = Stat {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: -5,
            mode: 0o100755,
        };
        let record = Record {
            stat,
            digest: blake3::hash(b"x"),
            hashed_at: 9,
        };
        let bytes = encode(&[("a/b.py", record)]);
        assert_eq!(
            decode(&bytes).expect("decodes").get("a/b.py"),
            Some(&record)
        );
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none(), "truncated at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).is_none());
    }

    #[test]
    fn a_record_hashed_in_the_second_of_a_change_is_not_trusted() {
        let stat = Stat {
            dev: 1,
            ino: 1,
            size: 1,
            mtime_ns: 10_500_000_000,
            ctime_ns: 10_500_000_000,
            mode: 0o100644,
        };
        let at = |hashed_at| Record {
            stat,
            digest: blake3::hash(b""),
            hashed_at,
        };
        assert!(!at(10).trusted(&stat));
        assert!(at(11).trusted(&stat));
        let moved = Stat { size: 2, ..stat };
        assert!(!at(11).trusted(&moved));
    }
}
