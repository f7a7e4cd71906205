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

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

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
    /// `None` for a literal path (a file, or a directory meaning everything under it).
    rest: Option<GlobMatcher>,
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
                GlobBuilder::new(&rest.join("/"))
                    .literal_separator(true)
                    .build()?
                    .compile_matcher(),
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
}

/// A file a gate reads, with the stat it was (or will be) hashed under.
pub type Listed = (String, Stat);

/// The files under the walked prefixes, sorted by path, as they were at the start of the run.
#[derive(Debug, Default)]
pub struct Tree {
    files: Vec<Listed>,
    roots: Vec<String>,
}

impl Tree {
    /// Walks the prefixes of the globs of `specs`, in parallel, skipping ignored files,
    /// `.git/` and the state directory (and `skip`, the cache directory when inside the root).
    pub fn walk(root: &Path, specs: &[&Spec], skip: &[PathBuf]) -> Tree {
        let mut roots: Vec<String> = specs
            .iter()
            .flat_map(|s| s.globs.iter().map(|g| g.prefix.clone()))
            .collect();
        roots.sort();
        roots.dedup();
        // Keep only outermost prefixes: `src` covers `src/a`.
        let mut outer: Vec<String> = Vec::new();
        for candidate in roots {
            if !outer.iter().any(|o| within(&candidate, o)) {
                outer.push(candidate);
            }
        }
        let files = walk(root, &outer, true, skip);
        Tree {
            files,
            roots: outer,
        }
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The listed files under `prefix` (everything for `""`).
    fn under(&self, prefix: &str) -> &[Listed] {
        if prefix.is_empty() {
            return &self.files;
        }
        let start = self.files.partition_point(|(p, _)| p.as_str() < prefix);
        let end = start
            + self.files[start..]
                .iter()
                .take_while(|(p, _)| p.starts_with(prefix))
                .count();
        &self.files[start..end]
    }

    /// Whether the walk covered `path`, so that its absence from the list means it is gone.
    fn covers(&self, path: &str) -> bool {
        self.roots.iter().any(|r| within(path, r))
    }
}

/// Walks `roots` (relative to `root`) and lists the files with their stat. With `filtered`,
/// ignore files are honoured; the state directory and `.git/` are never entered.
fn walk(root: &Path, roots: &[String], filtered: bool, skip: &[PathBuf]) -> Vec<Listed> {
    let existing: Vec<PathBuf> = roots
        .iter()
        .map(|r| root.join(r))
        .filter(|p| p.exists())
        .collect();
    let Some((first, rest)) = existing.split_first() else {
        return Vec::new();
    };
    let mut builder = ignore::WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    let state = root.join(crate::model::STATE_DIR);
    let skip: Vec<PathBuf> = skip.iter().cloned().chain([state]).collect();
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
            entry.file_name() != ".git" && !skip.iter().any(|s| entry.path() == s)
        });
    let (sender, receiver) = mpsc::channel::<Vec<Listed>>();
    builder.build_parallel().run(|| {
        let sender = sender.clone();
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
            let (Ok(meta), Some(relative)) = (meta, relative(root, entry.path())) else {
                return ignore::WalkState::Continue;
            };
            if meta.is_file() {
                batch.files.push((relative, Stat::of(&meta)));
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

/// `path` relative to `root`, `/`-separated; `None` for a name that is not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root).ok()?.to_str().map(str::to_owned)
}

/// The files `outputs` stands for now (ignore files do not apply), sorted.
pub fn produced(root: &Path, outputs: &Outputs) -> Vec<Listed> {
    let mut files: Vec<Listed> = Vec::new();
    for output in &outputs.patterns {
        for (path, stat) in walk(root, std::slice::from_ref(&output.prefix), false, &[]) {
            if output.is_match(&path) {
                files.push((path, stat));
            }
        }
    }
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    files
}

/// The files a gate reads now: what `spec` matches in the tree, plus its literal paths and
/// the matching files of `outputs` (other gates' declarations), looked at afresh; sorted.
pub fn resolve(
    root: &Path,
    spec: &Spec,
    tree: &Tree,
    outputs: &[Outputs],
    gate: &str,
    index: &Index,
) -> Vec<Listed> {
    let mut found: HashMap<String, Stat> = HashMap::new();
    for glob in &spec.globs {
        for (path, stat) in tree.under(&glob.prefix) {
            if glob.is_match(path) && !spec.excluded(path) {
                // A file stat'ed again since the walk (after a fix gate ran) is as it is now.
                match index.fresh(path) {
                    None => found.insert(path.clone(), *stat),
                    Some(Some(now)) => found.insert(path.clone(), now),
                    Some(None) => None,
                };
            }
        }
    }
    for literal in &spec.literals {
        let path = root.join(literal);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && !spec.excluded(literal) => {
                found.insert(literal.clone(), Stat::of(&meta));
            }
            // A literal directory: everything under it, with the ignore files applying below it.
            Ok(meta) if meta.is_dir() => {
                for (path, stat) in walk(root, std::slice::from_ref(literal), true, &[]) {
                    if !spec.excluded(&path) {
                        found.insert(path, stat);
                    }
                }
            }
            // Missing: not an input (until it exists, which changes the key).
            _ => {}
        }
    }
    // Generated inputs: another gate's outputs, as they are now.
    let includes: Vec<&Pattern> = spec.globs.iter().collect();
    for other in outputs.iter().filter(|o| o.gate != gate) {
        for output in &other.patterns {
            let relevant = includes.iter().any(|g| g.overlaps(output))
                || spec
                    .literals
                    .iter()
                    .any(|l| within(l, &output.prefix) || within(&output.prefix, l));
            if !relevant {
                continue;
            }
            // The walk's view of this place is stale: forget it and look again.
            found.retain(|path, _| !(output.is_match(path) || within(path, &output.prefix)));
            for (path, stat) in walk(root, std::slice::from_ref(&output.prefix), false, &[]) {
                let wanted = includes.iter().any(|g| g.is_match(&path))
                    || spec.literals.iter().any(|l| within(&path, l));
                if output.is_match(&path) && wanted && !spec.excluded(&path) {
                    found.insert(path, stat);
                }
            }
        }
    }
    let mut files: Vec<Listed> = found.into_iter().collect();
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Digests of files, through the persistent stat cache.
#[derive(Debug)]
pub struct Index {
    root: PathBuf,
    file: PathBuf,
    saved: HashMap<String, Record>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    records: HashMap<String, Record>,
    /// Files stat'ed again during the run (after a gate ran): their state now, `None` when
    /// gone. It overrides what the walk saw, so dependents of a `fix` gate see its edits.
    fresh: HashMap<String, Option<Stat>>,
    changed: bool,
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

const MAGIC: &[u8; 8] = b"GATESTAT";
const FORMAT: u32 = 1;

impl Index {
    /// Loads the stat cache at `file`; a missing, foreign or corrupted one is empty.
    pub fn load(root: &Path, file: &Path) -> Index {
        let saved = std::fs::read(file)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        Index {
            root: root.to_path_buf(),
            file: file.to_path_buf(),
            saved,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The states of `files` (relative to the root, or absolute), hashing in parallel what the
    /// stat cache cannot vouch for. A file that vanished or cannot be read is `None`.
    pub fn states(&self, files: &[Listed]) -> Vec<Option<FileState>> {
        let mut states: Vec<Option<FileState>> = vec![None; files.len()];
        let mut todo: Vec<usize> = Vec::new();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for (index, (path, stat)) in files.iter().enumerate() {
                let known = seen
                    .records
                    .get(path)
                    .filter(|r| r.stat == *stat)
                    .or_else(|| self.saved.get(path).filter(|r| r.trusted(stat)))
                    .copied();
                match known {
                    Some(record) => {
                        states[index] = Some(FileState {
                            stat: *stat,
                            digest: record.digest,
                        });
                        seen.records.entry(path.clone()).or_insert(record);
                    }
                    None => todo.push(index),
                }
            }
        }
        if todo.is_empty() {
            return states;
        }
        let hashed = parallel(&todo, |&index| self.hash(&files[index].0).ok());
        let now = now_seconds();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (&index, digest) in todo.iter().zip(hashed) {
            let (path, stat) = &files[index];
            if let Some(digest) = digest {
                let record = Record {
                    stat: *stat,
                    digest,
                    hashed_at: now,
                };
                states[index] = Some(FileState {
                    stat: *stat,
                    digest,
                });
                seen.changed |= self.saved.get(path) != Some(&record);
                seen.records.insert(path.clone(), record);
            }
        }
        states
    }

    /// Stats `paths` now and gives their states; `None` for a file that is gone. What is seen
    /// replaces the walk's view of these files for the rest of the run.
    pub fn restat(&self, paths: &[&str]) -> Vec<Option<FileState>> {
        let listed: Vec<Option<Listed>> = paths
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(self.absolute(path)).ok()?;
                meta.is_file()
                    .then(|| ((*path).to_owned(), Stat::of(&meta)))
            })
            .collect();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for (path, listed) in paths.iter().zip(&listed) {
                seen.fresh
                    .insert((*path).to_owned(), listed.as_ref().map(|(_, stat)| *stat));
            }
        }
        let present: Vec<Listed> = listed.iter().flatten().cloned().collect();
        let mut states = self.states(&present).into_iter();
        listed
            .iter()
            .map(|l| l.as_ref().and_then(|_| states.next().flatten()))
            .collect()
    }

    /// What a file looked like when last stat'ed during this run, if it was after the walk:
    /// `Some(None)` when it was gone.
    fn fresh(&self, path: &str) -> Option<Option<Stat>> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.fresh.get(path).copied()
    }

    /// Records a file gate itself just wrote with known content (a restored output).
    pub fn record(&self, path: &str, state: FileState) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.fresh.insert(path.to_owned(), Some(state.stat));
        seen.records.insert(
            path.to_owned(),
            Record {
                stat: state.stat,
                digest: state.digest,
                hashed_at: now_seconds(),
            },
        );
        seen.changed = true;
    }

    fn absolute(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn hash(&self, path: &str) -> std::io::Result<Digest> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_mmap(self.absolute(path))?;
        Ok(hasher.finalize())
    }

    /// Writes the stat cache back (atomically) when this run learnt something. Records of
    /// files under the walked prefixes that the walk no longer found are dropped.
    pub fn save(&self, tree: &Tree) -> std::io::Result<()> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let listed: HashSet<&str> = tree.files.iter().map(|(p, _)| p.as_str()).collect();
        let mut dropped = false;
        let mut merged: Vec<(&String, &Record)> = Vec::new();
        for (path, record) in &self.saved {
            if seen.records.contains_key(path) {
                continue;
            }
            if !path.starts_with('/') && tree.covers(path) && !listed.contains(path.as_str()) {
                dropped = true;
                continue;
            }
            merged.push((path, record));
        }
        if !seen.changed && !dropped {
            return Ok(());
        }
        merged.extend(seen.records.iter());
        let bytes = encode(&merged);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(&bytes)?;
        temp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Runs `work` over `items` on all cores, keeping the order.
pub fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
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

/// `GATESTAT`, a format number, records, then a blake3 of all that: a torn or edited file
/// fails the check and is read as empty.
fn encode(records: &[(&String, &Record)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + records.len() * 96);
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

fn decode(bytes: &[u8]) -> Option<HashMap<String, Record>> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body) != Digest::from_bytes(check.try_into().ok()?) {
        return None;
    }
    let mut reader = Reader(body);
    if reader.take(8)? != MAGIC || reader.u32()? != FORMAT {
        return None;
    }
    let count = reader.u64()? as usize;
    let mut records = HashMap::with_capacity(count.min(body.len() / 80));
    for _ in 0..count {
        let length = reader.u32()? as usize;
        let path = std::str::from_utf8(reader.take(length)?).ok()?.to_owned();
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
        records.insert(
            path,
            Record {
                stat,
                digest,
                hashed_at,
            },
        );
    }
    Some(records)
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
        let path = "a/b.py".to_owned();
        let bytes = encode(&[(&path, &record)]);
        assert_eq!(decode(&bytes).expect("decodes")[&path], record);
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
