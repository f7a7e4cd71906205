//! staged: what git says changed, and the git index as a directory. `gate run --staged`
//! materialises the index (the root's part of it) into a temporary checkout and runs there,
//! so the working tree and the index are never read, stashed or written; `--staged` and
//! `--since REV` narrow a run to the gates whose inputs changed ([`changed_staged`],
//! [`changed_since`]). Comes before the front stages: it only talks to git and the file
//! system.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The name every temporary checkout starts with, in the system's temporary directory.
const PREFIX: &str = "gate-staged-";

/// Variables git sets for hooks that may hold paths relative to the directory the hook
/// started in: made absolute once, before gate changes directory.
const PATH_VARIABLES: [&str; 3] = ["GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE"];

static PINNED: std::sync::OnceLock<Vec<(&'static str, PathBuf)>> = std::sync::OnceLock::new();

/// Makes the path variables git gave a hook (`GIT_INDEX_FILE=.git/index` during
/// `git commit`) absolute against the current directory, for every later git command.
/// Call before changing directory.
pub fn pin_environment() {
    PINNED.get_or_init(|| {
        let cwd = std::env::current_dir().unwrap_or_default();
        PATH_VARIABLES
            .iter()
            .filter_map(|name| {
                let value = std::env::var_os(name).filter(|v| !v.is_empty())?;
                Some((*name, cwd.join(value)))
            })
            .collect()
    });
}

/// Runs git in `dir` (with the caller's environment: a hook's `GIT_INDEX_FILE` is honoured)
/// and returns its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    git_with(dir, args, None)
}

/// [`git`], with another index file.
fn git_with(dir: &Path, args: &[&str], index: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut command = Command::new("git");
    for (name, value) in PINNED.get().into_iter().flatten() {
        command.env(name, value);
    }
    if let Some(index) = index {
        command.env("GIT_INDEX_FILE", index);
    }
    let output = command
        .arg("--no-optional-locks")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(if message.is_empty() {
            format!("`git {}` failed ({})", args.join(" "), output.status)
        } else {
            message
        })
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

/// NUL-separated paths, as `-z` prints them.
fn paths(bytes: &[u8]) -> BTreeSet<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// Where `dir` sits in its repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The top of the work tree; absolute.
    pub top: PathBuf,
    /// The git directory; absolute.
    pub git_dir: PathBuf,
    /// `dir` relative to `top`, with a trailing `/` (empty at the top).
    pub prefix: String,
}

impl Repo {
    pub fn of(dir: &Path) -> Result<Repo, String> {
        let out = text(git(
            dir,
            &[
                "rev-parse",
                "--show-toplevel",
                "--absolute-git-dir",
                "--show-prefix",
            ],
        )?);
        let mut lines = out.lines();
        let (Some(top), Some(git_dir)) = (lines.next(), lines.next()) else {
            return Err(format!("{} is not in a git work tree", dir.display()));
        };
        Ok(Repo {
            top: PathBuf::from(top),
            git_dir: PathBuf::from(git_dir),
            prefix: lines.next().unwrap_or("").to_owned(),
        })
    }
}

/// The paths staged for commit under `dir`, relative to it: added, modified, deleted, and
/// both sides of a rename.
pub fn changed_staged(dir: &Path) -> Result<BTreeSet<String>, String> {
    let out = git(
        dir,
        &[
            "diff",
            "--cached",
            "--name-only",
            "--no-renames",
            "--relative",
            "-z",
        ],
    )?;
    Ok(paths(&out))
}

/// Paths given on the command line (`--files`, absolute by now), as the changed set: relative
/// to `root`, `.` and `..` resolved lexically (a staged deletion no longer exists to be
/// canonicalised), symlinked directories above resolved by canonicalising the longest existing
/// ancestor (the root is canonical). Paths outside the root change nothing under it: dropped.
pub fn given(root: &Path, files: &[PathBuf]) -> BTreeSet<String> {
    use std::path::Component;
    files
        .iter()
        .filter_map(|file| {
            let mut path = PathBuf::new();
            for component in file.components() {
                match component {
                    Component::ParentDir => {
                        path.pop();
                    }
                    Component::CurDir => {}
                    other => path.push(other),
                }
            }
            // The file itself is not resolved: a tracked symlink is a path of its own.
            let mut rest = vec![path.file_name()?.to_owned()];
            let mut base = path.parent()?;
            let base = loop {
                if let Ok(real) = std::fs::canonicalize(base) {
                    break real;
                }
                rest.push(base.file_name()?.to_owned());
                base = base.parent()?;
            };
            let full = rest.iter().rev().fold(base, |path, part| path.join(part));
            let relative = full.strip_prefix(root).ok()?;
            let text = relative.to_str()?;
            (!text.is_empty()).then(|| text.to_owned())
        })
        .collect()
}

/// `REV` resolved to a commit, or git's message.
pub fn resolve(dir: &Path, rev: &str) -> Result<String, String> {
    let spec = format!("{rev}^{{commit}}");
    git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    )
    .map(text)
    .map_err(|_| {
        // `--quiet` keeps git silent; ask again for its words ("bad revision 'X'").
        match git(dir, &["rev-parse", "--end-of-options", rev, "--"]) {
            Err(message) => message,
            Ok(_) => format!("{rev} is not a commit"),
        }
    })
}

/// The paths under `dir` (relative to it) that differ between `commit` and the working
/// tree, both sides of renames, plus untracked files that are not ignored.
pub fn changed_since(dir: &Path, commit: &str) -> Result<BTreeSet<String>, String> {
    let mut changed = paths(&git(
        dir,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "--relative",
            "-z",
            commit,
            "--",
        ],
    )?);
    changed.extend(paths(&git(
        dir,
        &["ls-files", "-z", "--others", "--exclude-standard"],
    )?));
    Ok(changed)
}

/// What a checkout holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The index (`--staged`).
    Index,
    /// A commit's tree (`--commit`), by its full id.
    Commit(String),
}

/// A temporary copy of the index (the part under the root), removed when dropped.
#[derive(Debug)]
pub struct Checkout {
    /// `gate-staged-…` in the temporary directory.
    base: PathBuf,
    /// The copy of the repository's top, `base/tree`.
    tree: PathBuf,
    /// The root inside the copy.
    pub root: PathBuf,
    pub repo: Repo,
    /// The lock on a kept checkout (see [`Checkout::new`]); `None` for a one-off copy,
    /// which is removed when dropped.
    kept: Option<std::fs::File>,
}

impl Checkout {
    /// A checkout of the index. The repository's kept checkout
    /// (`$TMPDIR/gate-staged-<tag>-kept`) is brought to the index when no other staged run
    /// holds it: only what changed since the last staged run is written, and its stat cache
    /// stays valid for the files that did not change. Otherwise (another run holds it, or
    /// it cannot be synchronised), the index's files under `root` are copied to a new
    /// temporary directory, after removing what killed runs left behind. Writes nothing in
    /// the repository's work tree or index (`git write-tree` may add tree objects, as a
    /// commit would).
    pub fn new(root: &Path, source: &Source) -> Result<Checkout, String> {
        let repo = Repo::of(root)?;
        let tag = tag(&repo.top);
        sweep(&tag);
        let kept = std::env::temp_dir().join(format!("{PREFIX}{tag}-kept"));
        if let Some(lock) = kept_lock(&kept) {
            // A run killed halfway leaves a checkout git may refuse (a stale lock file):
            // start that one over once.
            for attempt in 0..2 {
                match Checkout::sync(&repo, &kept, source) {
                    Ok(tree) => {
                        return Ok(Checkout {
                            root: tree.join(repo.prefix.trim_end_matches('/')),
                            tree,
                            base: kept,
                            repo,
                            kept: Some(lock),
                        });
                    }
                    Err(error) if signalled() => return Err(error),
                    Err(_) if attempt == 0 => {
                        let _ = std::fs::remove_dir_all(kept.join("tree"));
                        for file in ["tree-index", "tree-index.lock", STAT_CACHE] {
                            let _ = std::fs::remove_file(kept.join(file));
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        let base = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{tag}-{}-", std::process::id()))
            .tempdir()
            .map_err(|error| format!("cannot create a temporary checkout: {error}"))?
            .keep();
        let tree = base.join("tree");
        let checkout = Checkout {
            root: tree.join(repo.prefix.trim_end_matches('/')),
            tree,
            base,
            repo,
            kept: None,
        };
        match source {
            Source::Index => checkout.fill(root)?,
            // A commit's tree goes through its own index in the one-off directory.
            Source::Commit(_) => {
                Checkout::sync(&checkout.repo, &checkout.base, source)?;
            }
        }
        Ok(checkout)
    }

    /// Brings the checkout's `tree/` to exactly the index (or the commit's tree): `read-tree --reset -u`
    /// writes what changed since the last sync (by the checkout's own index, `tree-index`)
    /// and what a gate changed or removed there, and `clean` removes everything else
    /// (outputs, caches, files gates created). Returns the tree.
    fn sync(repo: &Repo, kept: &Path, source: &Source) -> Result<PathBuf, String> {
        let tree = kept.join("tree");
        std::fs::create_dir_all(&tree)
            .map_err(|error| format!("cannot create {}: {error}", tree.display()))?;
        let oid = match source {
            // The staged tree, written from a copy: write-tree may store its cache back in
            // the index it reads.
            Source::Index => {
                let staged = kept.join("staged-index");
                std::fs::copy(real_index(repo), &staged)
                    .map_err(|error| format!("cannot copy the index: {error}"))?;
                text(git_with(&repo.top, &["write-tree"], Some(&staged))?)
            }
            Source::Commit(commit) => text(git(
                &repo.top,
                &[
                    "rev-parse",
                    "--verify",
                    "--end-of-options",
                    &format!("{commit}^{{tree}}"),
                ],
            )?),
        };
        let work_index = kept.join("tree-index");
        let git_dir = format!("--git-dir={}", repo.git_dir.display());
        let work_tree = format!("--work-tree={}", tree.display());
        let in_tree = |args: &[&str]| {
            let mut all = vec![git_dir.as_str(), work_tree.as_str()];
            all.extend_from_slice(args);
            git_with(&tree, &all, Some(&work_index))
        };
        // With --reset, read-tree also writes again each tracked file whose stat no longer
        // matches its record (a gate edited or removed it).
        in_tree(&["read-tree", "--reset", "-u", &oid])?;
        in_tree(&["clean", "-ffdxq"])?;
        Ok(tree)
    }

    fn fill(&self, root: &Path) -> Result<(), String> {
        std::fs::create_dir_all(&self.root)
            .map_err(|error| format!("cannot create {}: {error}", self.root.display()))?;
        let listed = git(
            root,
            &["ls-files", "-z", "--cached", "--full-name", "--", "."],
        )?;
        let mut prefix = self.tree.as_os_str().to_owned();
        prefix.push("/");
        let mut command = Command::new("git");
        for (name, value) in PINNED.get().into_iter().flatten() {
            command.env(name, value);
        }
        let mut child = command
            .args(["checkout-index", "-z", "--stdin"])
            .arg({
                let mut arg = std::ffi::OsString::from("--prefix=");
                arg.push(&prefix);
                arg
            })
            .current_dir(&self.repo.top)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run git: {error}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&listed);
        }
        let output = child
            .wait_with_output()
            .map_err(|error| format!("cannot run git: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "cannot check out the index: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Where a run in the checkout keeps its stat cache: apart from the real one, whose
    /// records describe the working tree's files.
    pub fn stat_cache(&self) -> PathBuf {
        self.base.join(STAT_CACHE)
    }

    /// The files under the root that a fix changed in the checkout (paths relative to the
    /// repository's top), and the unified diff against the index.
    pub fn fixes(&self) -> Result<(Vec<String>, String), String> {
        // The root's part of the repository (a pathspec of `:(top)` alone matches nothing).
        let pathspec =
            (!self.repo.prefix.is_empty()).then(|| format!(":(top){}", self.repo.prefix));
        let args = |extra: &[&'static str]| -> Vec<String> {
            let mut args = vec![
                format!("--git-dir={}", self.repo.git_dir.display()),
                format!("--work-tree={}", self.tree.display()),
                "diff".to_owned(),
                "--no-ext-diff".to_owned(),
                "--no-color".to_owned(),
            ];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args.push("--".to_owned());
            args.extend(pathspec.clone());
            args
        };
        // git refreshes the stat data of the index it compares with, and may write it back:
        // it gets a copy, so the real index stays byte for byte what it was.
        let index = real_index(&self.repo);
        let copy = self.base.join("index");
        std::fs::copy(&index, &copy)
            .map_err(|error| format!("cannot copy {}: {error}", index.display()))?;
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            git_with(&self.tree, &args, Some(&copy))
        };
        let names = paths(&run(args(&["--name-only", "-z"]))?)
            .into_iter()
            .collect();
        let diff = String::from_utf8_lossy(&run(args(&[]))?).into_owned();
        Ok((names, diff))
    }

    /// Copies the fixed files (paths relative to the top) from the checkout to the working
    /// tree, each atomically; a file the fix removed is removed.
    pub fn apply(&self, files: &[String]) -> Result<(), String> {
        for file in files {
            let from = self.tree.join(file);
            let to = self.repo.top.join(file);
            match std::fs::read(&from) {
                Ok(bytes) => {
                    let mode = std::fs::metadata(&from).map(|m| m.permissions()).ok();
                    crate::key::atomic_write(&to, &bytes)
                        .map_err(|error| format!("cannot write {}: {error}", to.display()))?;
                    if let Some(mode) = mode {
                        let _ = std::fs::set_permissions(&to, mode);
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&to);
                }
                Err(error) => return Err(format!("cannot read {}: {error}", from.display())),
            }
        }
        Ok(())
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        // A kept checkout stays for the next staged run (which cleans it); its lock goes
        // with the file handle.
        if self.kept.is_none() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

/// The stat cache's file name in a checkout's directory.
const STAT_CACHE: &str = "stat-cache";

/// The kept checkout's lock, when no other staged run of the repository holds it. The
/// directory has a predictable name in a shared temporary directory: it is used only when it
/// is a real directory (not a symlink) of this user, private to them.
fn kept_lock(kept: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let _ = std::fs::DirBuilder::new().mode(0o700).create(kept);
    let meta = std::fs::symlink_metadata(kept).ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(kept, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(kept.join("lock"))
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// The index a staged run sees: the one git named for a hook (`git commit` prepares its
/// own), else the repository's.
fn real_index(repo: &Repo) -> PathBuf {
    PINNED
        .get()
        .into_iter()
        .flatten()
        .find(|(name, _)| *name == "GIT_INDEX_FILE")
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| repo.git_dir.join("index"))
}

/// Files (paths relative to the top) with changes in the working tree that are not staged.
pub fn unstaged(top: &Path) -> Result<BTreeSet<String>, String> {
    Ok(paths(&git(
        top,
        &["diff", "--name-only", "--no-renames", "-z"],
    )?))
}

/// Set by SIGINT or SIGTERM while a checkout is being made, before the run's own handlers
/// are installed; see [`guard_signals`].
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_signal(_: libc::c_int) {
    SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM from now on by setting a flag ([`signalled`]), so Ctrl-C while
/// the index is being copied does not kill gate before it can remove the copy. The run's
/// handlers, installed later, take over (and keep calling this one).
pub fn guard_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // struct is zeroed and then filled as sigaction(2) describes.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM came since [`guard_signals`].
pub fn signalled() -> bool {
    SIGNALLED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A short name for a repository, so its checkouts can be told from others'.
fn tag(top: &Path) -> String {
    blake3::hash(top.as_os_str().as_encoded_bytes()).to_hex()[..12].to_owned()
}

/// Removes the checkouts of this repository whose run is gone (killed before it could
/// clean up).
fn sweep(tag: &str) {
    let start = format!("{PREFIX}{tag}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&start)) else {
            continue;
        };
        let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|pid| !alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
