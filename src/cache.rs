//! cache: the content-addressed store of gate results, under `.gate/cache/` or
//! `GATE_CACHE_DIR` (shareable between checkouts).
//!
//! ```text
//! <dir>/entries/ab/<key>     one per key: a checksum line, then JSON (outputs, log, exit)
//! <dir>/blobs/cd/<digest>    file contents, stored once by blake3 digest
//! <dir>/lock                 shared by every run, exclusive for prune and clean
//! ```
//!
//! Nothing read from here is trusted: an entry's checksum and every blob's digest are checked
//! on the way out, and whatever fails is a miss with a warning (and is removed), never an
//! error and never a garbage restore. Every file is written to a temporary name in its final
//! directory and renamed, so a reader (another process, or the next run after a `kill -9`)
//! sees a whole file or none; a torn write after a power loss fails its check the same way,
//! which is why no fsync is needed on the hot path. Outputs are restored the same way: staged
//! next to their destination, verified, then renamed into place.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::inputs::{self, Digest, FileState, Index, Stat};
use crate::key::{Hex, atomic_write};

/// Bumped when the entry format changes; older entries are then misses.
pub const ENTRY_FORMAT: u32 = 1;

/// A hit refreshes an entry's time of last use at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(3600);

/// One cached result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub format: u32,
    pub key: Hex,
    pub gate: String,
    /// When the result was produced (seconds since the epoch) and how long the run took.
    pub created: u64,
    pub duration_ms: u64,
    pub exit: i32,
    pub log: Option<Blob>,
    pub outputs: Vec<OutputFile>,
    /// The run that produced the result (its manifest's run id); absent in entries written
    /// before runs had ids, which read the same otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    pub digest: Hex,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub path: String,
    pub mode: u32,
    pub digest: Hex,
    pub size: u64,
}

/// Which result [`Cache::put`] stores: a gate's pass under `key`, in run `run`.
#[derive(Debug, Clone, Copy)]
pub struct Produced<'a> {
    pub run: &'a str,
    pub gate: &'a str,
    pub key: &'a Digest,
    pub duration: Duration,
}

/// Why a restore failed.
enum Problem {
    /// The cache is wrong: a blob is missing or does not match.
    Damaged(String),
    /// The working tree is in the way (a file where a directory must go, permissions).
    Local(String),
}

/// The store, held open (with a shared lock) for a run.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    _lock: File,
}

/// The cache directory for a root: `GATE_CACHE_DIR` when set, else `.gate/cache`.
pub fn dir(root: &Path, env: Option<&std::ffi::OsStr>) -> PathBuf {
    match env {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join(crate::model::STATE_DIR).join("cache"),
    }
}

impl Cache {
    /// Opens (creating) the store and takes a shared lock: runs share, prune waits.
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        std::fs::create_dir_all(dir.join("entries"))?;
        std::fs::create_dir_all(dir.join("blobs"))?;
        let lock = lock_file(dir)?;
        lock.lock_shared()?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key: &Digest) -> PathBuf {
        entry_path(&self.dir, key)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.dir, digest)
    }

    /// The entry for `key`: `Ok(None)` when there is none, `Err` (a warning) when it was
    /// damaged; a damaged entry is removed so the next run stores a good one.
    pub fn get(&self, key: &Digest) -> Result<Option<Entry>, String> {
        let path = self.entry_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(format!(
                    "cannot read cache entry {}: {error}",
                    path.display()
                ));
            }
        };
        match decode_entry(&bytes) {
            Some(entry) if entry.key.0 == *key && entry.format == ENTRY_FORMAT => {
                touch(&path);
                Ok(Some(entry))
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                Err(format!(
                    "cache entry {} is damaged; ignored and removed",
                    path.display()
                ))
            }
        }
    }

    /// Restores an entry's outputs under `root`, byte for byte with their modes; files that
    /// are already identical are left alone. All or nothing: every blob is staged next to its
    /// destination and verified before the first rename. Gives the number of files written.
    pub fn restore(
        &self,
        entry: &Entry,
        root: &Path,
        index: &Index,
        declared: &inputs::Outputs,
    ) -> Result<usize, String> {
        // An entry may come from another checkout or machine: it writes nowhere but where
        // this gate declares outputs, and never outside the root.
        if let Some(bad) = entry.outputs.iter().find(|o| !declared.allows(&o.path)) {
            let message = format!(
                "it would write {:?}, which is not a declared output",
                bad.path
            );
            return Err(self.damaged(entry, message));
        }
        let paths: Vec<&str> = entry.outputs.iter().map(|o| o.path.as_str()).collect();
        let current = index.restat(&paths);
        let mut staged = Vec::new();
        for (output, now) in entry.outputs.iter().zip(current) {
            let same = now.is_some_and(|now| {
                now.digest == output.digest.0 && now.stat.permissions() == output.mode
            });
            if same {
                continue;
            }
            let destination = root.join(&output.path);
            if destination.is_dir() {
                return Err(format!(
                    "cannot restore {}: a directory is in the way",
                    output.path
                ));
            }
            let temp = self
                .stage(&output.digest.0, output.size, &destination, output.mode)
                .map_err(|problem| self.problem(entry, problem))?;
            staged.push((output, destination, temp));
        }
        let count = staged.len();
        for (output, destination, temp) in staged {
            temp.persist(&destination)
                .map_err(|e| format!("cannot restore {}: {}", destination.display(), e.error))?;
            if let Ok(meta) = std::fs::metadata(&destination) {
                index.record(
                    &output.path,
                    FileState {
                        stat: Stat::of(&meta),
                        digest: output.digest.0,
                    },
                );
            }
        }
        Ok(count)
    }

    /// Copies a blob into a temporary file beside `destination`, checking size and digest.
    fn stage(
        &self,
        digest: &Digest,
        size: u64,
        destination: &Path,
        mode: u32,
    ) -> Result<tempfile::NamedTempFile, Problem> {
        use std::os::unix::fs::PermissionsExt;
        let blob = self.blob_path(digest);
        let mut source = File::open(&blob)
            .map_err(|e| Problem::Damaged(format!("blob {}: {e}", blob.display())))?;
        let parent = destination.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|e| Problem::Local(format!("cannot create {}: {e}", parent.display())))?;
        let mut temp = tempfile::Builder::new()
            .prefix(inputs::STAGING)
            .tempfile_in(parent)
            .map_err(|e| Problem::Local(format!("cannot write in {}: {e}", parent.display())))?;
        let (copied, actual) = copy_hashing(&mut source, temp.as_file_mut())
            .map_err(|e| Problem::Local(format!("cannot copy {}: {e}", blob.display())))?;
        if copied != size || actual != *digest {
            let _ = std::fs::remove_file(&blob);
            return Err(Problem::Damaged(format!(
                "blob {} does not match its digest; removed",
                blob.display()
            )));
        }
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| {
                Problem::Local(format!(
                    "cannot set the mode of {}: {e}",
                    destination.display()
                ))
            })?;
        Ok(temp)
    }

    /// The warning for a restore that failed. A damaged entry or blob takes the entry with it
    /// (the next successful run stores a good one); a problem in the working tree does not,
    /// since the entry is fine (and may be shared).
    fn problem(&self, entry: &Entry, problem: Problem) -> String {
        match problem {
            Problem::Damaged(message) => self.damaged(entry, message),
            Problem::Local(message) => format!("{message}; not restored from the cache"),
        }
    }

    /// A restore failed on a blob: the entry goes too, and the message says so.
    fn damaged(&self, entry: &Entry, message: String) -> String {
        let _ = std::fs::remove_file(self.entry_path(&entry.key.0));
        format!("{message}; cache entry for {} ignored", entry.gate)
    }

    /// Writes an entry's log to `destination` (for replay), verified like any blob.
    pub fn restore_log(&self, entry: &Entry, destination: &Path) -> Result<(), String> {
        let Some(log) = &entry.log else {
            return Ok(());
        };
        let temp = self
            .stage(&log.digest.0, log.size, destination, 0o644)
            .map_err(|problem| self.problem(entry, problem))?;
        temp.persist(destination)
            .map_err(|e| format!("cannot write {}: {}", destination.display(), e.error))?;
        Ok(())
    }

    /// Stores a successful run: its outputs (as listed by `outputs` now, under the index's
    /// root) and log, then the entry, which is the commit point.
    pub fn put(
        &self,
        produced: Produced,
        log: Option<&Path>,
        outputs: &inputs::Outputs,
        index: &Index,
    ) -> Result<Entry, String> {
        let Produced {
            run,
            gate,
            key,
            duration,
        } = produced;
        let root = index.root();
        let mut files = Vec::new();
        for (path, stat) in inputs::produced(root, outputs) {
            let blob = self.put_blob(&root.join(&path))?;
            // The stat cache learns the output too, so the next hit finds it unchanged
            // without reading it.
            if blob.size == stat.size {
                let state = FileState {
                    stat,
                    digest: blob.digest.0,
                };
                index.record(&path, state);
            }
            files.push(OutputFile {
                path,
                mode: stat.permissions(),
                digest: blob.digest,
                size: blob.size,
            });
        }
        let log = match log {
            Some(log) if log.exists() => Some(self.put_blob(log)?),
            _ => None,
        };
        let entry = Entry {
            format: ENTRY_FORMAT,
            key: Hex(*key),
            gate: gate.to_owned(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            duration_ms: duration.as_millis() as u64,
            exit: 0,
            log,
            outputs: files,
            run: Some(run.to_owned()),
        };
        let path = self.entry_path(key);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().unwrap_or(&self.dir))?;
            atomic_write(&path, &encode_entry(&entry))
        };
        write().map_err(|e| format!("cannot write cache entry {}: {e}", path.display()))?;
        Ok(entry)
    }

    /// Stores a file's content under its digest (hashed while copied, so the name always
    /// matches what was stored, even if the file changed meanwhile).
    fn put_blob(&self, path: &Path) -> Result<Blob, String> {
        let fail = |e: std::io::Error| format!("cannot store {} in the cache: {e}", path.display());
        let mut source = File::open(path).map_err(fail)?;
        let blobs = self.dir.join("blobs");
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(inputs::readable())
            .tempfile_in(&blobs)
            .map_err(fail)?;
        let (size, digest) = copy_hashing(&mut source, temp.as_file_mut()).map_err(fail)?;
        let target = self.blob_path(&digest);
        let present = std::fs::metadata(&target).is_ok_and(|m| m.len() == size);
        if !present {
            std::fs::create_dir_all(target.parent().unwrap_or(&blobs)).map_err(fail)?;
            temp.persist(&target).map_err(|e| fail(e.error))?;
        }
        Ok(Blob {
            digest: Hex(digest),
            size,
        })
    }
}

/// The outputs a gate left under `root`, described as the cache would store them, for a gate
/// whose result is not stored (`cache #false`) but whose outputs still belong in the record.
pub fn describe(root: &Path, outputs: &inputs::Outputs) -> Result<Vec<OutputFile>, String> {
    inputs::produced(root, outputs)
        .into_iter()
        .map(|(path, stat)| {
            let blob = blob_of(&root.join(&path))?;
            Ok(OutputFile {
                path,
                mode: stat.permissions(),
                digest: blob.digest,
                size: blob.size,
            })
        })
        .collect()
}

/// A file's digest and size, as a blob of it would have them.
pub fn blob_of(path: &Path) -> Result<Blob, String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Blob {
        digest: Hex(hasher.finalize()),
        size: hasher.count(),
    })
}

fn lock_file(dir: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
}

fn entry_path(dir: &Path, key: &Digest) -> PathBuf {
    let hex = key.to_hex();
    dir.join("entries").join(&hex[..2]).join(hex.as_str())
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.to_hex();
    dir.join("blobs").join(&hex[..2]).join(hex.as_str())
}

/// Records a use of an entry (its mtime), for least-recently-used pruning.
fn touch(path: &Path) {
    let now = SystemTime::now();
    let Ok(file) = File::options().write(true).open(path) else {
        return;
    };
    let stale = file
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age > TOUCH_EVERY));
    if stale {
        let _ = file.set_modified(now);
    }
}

fn copy_hashing(source: &mut File, target: &mut File) -> std::io::Result<(u64, Digest)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        target.write_all(&buffer[..read])?;
        total += read as u64;
    }
    target.flush()?;
    Ok((total, hasher.finalize()))
}

/// `<blake3 of the JSON, hex>\n<JSON>`.
fn encode_entry(entry: &Entry) -> Vec<u8> {
    let json = serde_json::to_vec(entry).unwrap_or_default();
    let mut bytes = blake3::hash(&json).to_hex().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(&json);
    bytes
}

fn decode_entry(bytes: &[u8]) -> Option<Entry> {
    let (check, json) = bytes.split_at_checked(64)?;
    let json = json.strip_prefix(b"\n")?;
    let check = Digest::from_hex(check).ok()?;
    if blake3::hash(json) != check {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// The last run's hits and misses, kept in the state directory for `gate cache stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookups {
    pub hits: u64,
    pub misses: u64,
}

impl Lookups {
    const FILE: &str = "last-run.json";

    pub fn save(&self, state: &Path) {
        if let Ok(json) = serde_json::to_vec(self) {
            let _ = atomic_write(&state.join(Self::FILE), &json);
        }
    }

    pub fn load(state: &Path) -> Option<Lookups> {
        let bytes = std::fs::read(state.join(Self::FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What `gate cache stats` shows.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub entries: u64,
    pub blobs: u64,
    pub bytes: u64,
}

/// Counts what is in the store (read-only; no lock needed).
pub fn stats(dir: &Path) -> Stats {
    let mut stats = Stats::default();
    for (_, meta) in files_under(&dir.join("entries")) {
        stats.entries += 1;
        stats.bytes += meta.len();
    }
    for (_, meta) in files_under(&dir.join("blobs")) {
        stats.blobs += 1;
        stats.bytes += meta.len();
    }
    stats
}

/// The regular files two levels down (`entries/ab/<key>`), skipping temporaries.
fn files_under(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir) else {
        return files;
    };
    for shard in shards.flatten() {
        let Ok(names) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for name in names.flatten() {
            if name.file_name().to_string_lossy().starts_with(".tmp-") {
                continue;
            }
            if let Ok(meta) = name.metadata()
                && meta.is_file()
            {
                files.push((name.path(), meta));
            }
        }
    }
    files
}

/// What `prune` removed and what is left.
#[derive(Debug, Default, Clone)]
pub struct Pruned {
    pub entries: u64,
    pub blobs: u64,
    pub freed: u64,
    pub left: Stats,
    /// Whether another gate process held the cache and prune had to wait for it.
    pub waited: bool,
}

/// Removes entries not used for `older_than`, then the least recently used until the store
/// fits in `max_size`, then every blob no entry refers to (and leftover temporary files).
/// Holds the exclusive lock: no run is using any entry while this works.
pub fn prune(
    dir: &Path,
    max_size: Option<u64>,
    older_than: Option<Duration>,
) -> std::io::Result<Pruned> {
    let mut pruned = Pruned::default();
    if !dir.exists() {
        return Ok(pruned);
    }
    let lock = lock_file(dir)?;
    if lock.try_lock().is_err() {
        pruned.waited = true;
        lock.lock()?;
    }
    let now = SystemTime::now();
    // Entries, least recently used first; damaged ones count as used never.
    let mut entries: Vec<(PathBuf, u64, SystemTime, Vec<Digest>)> = Vec::new();
    for (path, meta) in files_under(&dir.join("entries")) {
        let used = meta.modified().unwrap_or(UNIX_EPOCH);
        let blobs = std::fs::read(&path)
            .ok()
            .and_then(|b| decode_entry(&b))
            .map(|e| {
                e.outputs
                    .iter()
                    .map(|o| o.digest.0)
                    .chain(e.log.map(|l| l.digest.0))
                    .collect()
            });
        match blobs {
            Some(blobs) => entries.push((path, meta.len(), used, blobs)),
            None => {
                remove(&path, meta.len(), &mut pruned.entries, &mut pruned.freed);
            }
        }
    }
    entries.sort_by_key(|(_, _, used, _)| *used);
    let blob_files: HashMap<Digest, (PathBuf, u64)> = files_under(&dir.join("blobs"))
        .into_iter()
        .filter_map(|(path, meta)| {
            let name = path.file_name()?.to_str()?;
            Some((Digest::from_hex(name).ok()?, (path, meta.len())))
        })
        .collect();
    let mut references: HashMap<Digest, usize> = HashMap::new();
    for (_, _, _, blobs) in &entries {
        for blob in dedup(blobs) {
            *references.entry(blob).or_default() += 1;
        }
    }
    let blob_size = |d: &Digest| blob_files.get(d).map(|(_, size)| *size).unwrap_or(0);
    let mut size: u64 = entries.iter().map(|(_, s, _, _)| s).sum::<u64>()
        + references.keys().map(blob_size).sum::<u64>();
    for (path, entry_size, used, blobs) in &entries {
        let old =
            older_than.is_some_and(|limit| now.duration_since(*used).is_ok_and(|a| a > limit));
        let over = max_size.is_some_and(|limit| size > limit);
        if !old && !over {
            continue;
        }
        remove(path, *entry_size, &mut pruned.entries, &mut pruned.freed);
        size -= entry_size;
        for blob in dedup(blobs) {
            if let Some(count) = references.get_mut(&blob) {
                *count -= 1;
                if *count == 0 {
                    references.remove(&blob);
                    size -= blob_size(&blob);
                }
            }
        }
    }
    for (digest, (path, blob_size)) in &blob_files {
        if !references.contains_key(digest) {
            remove(path, *blob_size, &mut pruned.blobs, &mut pruned.freed);
        }
    }
    // Temporaries of runs that were killed: nobody writes while we hold the lock.
    for sub in ["entries", "blobs"] {
        for (path, _) in temporaries(&dir.join(sub)) {
            let _ = std::fs::remove_file(path);
        }
    }
    pruned.left = stats(dir);
    drop(lock);
    Ok(pruned)
}

fn dedup(blobs: &[Digest]) -> Vec<Digest> {
    let mut unique: BTreeMap<[u8; 32], Digest> = BTreeMap::new();
    for blob in blobs {
        unique.insert(*blob.as_bytes(), *blob);
    }
    unique.into_values().collect()
}

fn remove(path: &Path, size: u64, count: &mut u64, freed: &mut u64) {
    if std::fs::remove_file(path).is_ok() {
        *count += 1;
        *freed += size;
    }
}

/// `.tmp-*` files directly in `dir` or one level down.
fn temporaries(dir: &Path) -> Vec<(PathBuf, ())> {
    let mut found = Vec::new();
    let mut look = |d: &Path| {
        if let Ok(names) = std::fs::read_dir(d) {
            for name in names.flatten() {
                if name.file_name().to_string_lossy().starts_with(".tmp-") {
                    found.push((name.path(), ()));
                }
            }
        }
    };
    look(dir);
    if let Ok(shards) = std::fs::read_dir(dir) {
        for shard in shards.flatten() {
            if shard.path().is_dir() {
                look(&shard.path());
            }
        }
    }
    found
}

/// Removes the whole store (under the exclusive lock). Gives what was freed.
pub fn clean(dir: &Path) -> std::io::Result<Stats> {
    if !dir.exists() {
        return Ok(Stats::default());
    }
    let before = stats(dir);
    let lock = lock_file(dir)?;
    lock.lock()?;
    for sub in ["entries", "blobs"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    drop(lock);
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_entry_does_not_decode() {
        let entry = Entry {
            format: ENTRY_FORMAT,
            key: Hex(blake3::hash(b"k")),
            gate: "g".into(),
            created: 1,
            duration_ms: 2,
            exit: 0,
            log: None,
            outputs: vec![OutputFile {
                path: "out/a".into(),
                mode: 0o755,
                digest: Hex(blake3::hash(b"a")),
                size: 1,
            }],
            run: Some("20261122T101500.000Z-abcdef".into()),
        };
        let bytes = encode_entry(&entry);
        assert_eq!(decode_entry(&bytes), Some(entry));
        for index in [0, 10, 64, 70, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x01;
            assert_eq!(decode_entry(&damaged), None, "byte {index} flipped");
        }
        assert_eq!(decode_entry(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_entry(&[]), None);
    }
}
