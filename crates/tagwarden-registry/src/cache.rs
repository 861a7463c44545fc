//! The persistent cache: manifest digests and tag lists on disk, for a TTL.
//!
//! Running `check` in CI on every push asks the same questions again and again; a short
//! TTL (10 minutes by default) answers the repeats locally.
//!
//! # Layout
//!
//! One small JSON file per answer, in `$XDG_CACHE_HOME/tagwarden/entries/` (or
//! `~/.cache/tagwarden/entries/`), named by the SHA-256 of its key, as Go's build cache and
//! `cacache` do. Each file holds the key, the time it was stored and the value. A write goes
//! to a temporary file first and is renamed into place, which POSIX makes atomic, so:
//!
//! - any number of processes (CI jobs, `serve` replicas on a shared volume, a developer's
//!   shells) read and write at once, and nobody waits for a lock;
//! - a reader sees a whole entry or none, never half of one;
//! - a corrupt or foreign file is a miss, and is removed;
//! - `clear` renames the folder away before deleting it, so a run in progress sees an
//!   empty cache, never a half-deleted one.
//!
//! # Rules that keep it honest
//!
//! - only answers are stored (a digest, a tag list); failures never are;
//! - an entry past its TTL is never used, not even when the registry is down: a stale
//!   entry must not turn "unreachable" into "present";
//! - a cache that cannot be written (a read-only home) only costs the hits: it is logged at
//!   debug level, never an error.
//!
//! Earlier versions kept a single redb file, `cache.redb`, whose exclusive lock made
//! parallel runs skip the cache. [`DiskCache::clear`] removes it too, even when it is
//! corrupt.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::RegistryError;

/// The cache folder cannot be used, with the file system's error as its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The folder (or its entries folder) cannot be created.
    #[error("cannot create the cache folder {}: {source}", .path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// Why it cannot be created.
        source: std::io::Error,
    },
    /// Something in the folder cannot be removed.
    #[error("cannot clear the cache {}: {source}", .path.display())]
    Clear {
        /// What could not be removed.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The default time an entry stays valid.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// The folder below the cache root that holds the entries.
const ENTRIES: &str = "entries";

/// The single-file cache of earlier versions, removed by [`DiskCache::clear`].
const LEGACY_FILE: &str = "cache.redb";

/// How often (at most) opening the cache sweeps expired entries away.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The marker file whose modification time records the last sweep.
const SWEEP_MARKER: &str = ".last-sweep";

/// An open cache folder. Opening never locks anything; see the module docs.
pub struct DiskCache {
    root: PathBuf,
    ttl: Duration,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("root", &self.root)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// What one file holds.
#[derive(Serialize, serde::Deserialize)]
struct Entry<T> {
    /// The key, to tell a (theoretical) hash collision or a foreign file from a hit.
    key: String,
    /// Seconds since the Unix epoch.
    stored: u64,
    value: T,
}

/// What [`DiskCache::clear`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Entry files removed.
    pub entries: usize,
    /// Whether a single-file cache of an earlier version (`cache.redb`) was removed.
    pub legacy_file: bool,
}

impl Cleared {
    /// Whether anything at all was there to remove.
    pub fn is_empty(&self) -> bool {
        self.entries == 0 && !self.legacy_file
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An absolute path from an environment variable; relative and empty values are ignored,
/// as the XDG Base Directory specification requires.
fn absolute_env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
}

impl DiskCache {
    /// The cache folder: `$XDG_CACHE_HOME/tagwarden`, else `~/.cache/tagwarden`. A relative
    /// `XDG_CACHE_HOME` (or `HOME`) is ignored, as the XDG specification says.
    pub fn default_path() -> Option<PathBuf> {
        let base = absolute_env_path("XDG_CACHE_HOME")
            .or_else(|| absolute_env_path("HOME").map(|home| home.join(".cache")))?;
        Some(base.join("tagwarden"))
    }

    /// Open (or create) the cache folder at `root`. Fails only when the folder cannot be
    /// created; nothing is locked.
    pub fn open(root: &Path, ttl: Duration) -> Result<Self, RegistryError> {
        let entries = root.join(ENTRIES);
        std::fs::create_dir_all(&entries).map_err(|source| CacheError::CreateFolder {
            path: entries.clone(),
            source,
        })?;
        let cache = Self {
            root: root.to_path_buf(),
            ttl,
        };
        cache.sweep_if_due();
        Ok(cache)
    }

    /// Open the cache, or explain at debug level why it is skipped.
    pub fn open_or_skip(root: &Path, ttl: Duration) -> Option<Self> {
        match Self::open(root, ttl) {
            Ok(cache) => Some(cache),
            Err(e) => {
                tracing::debug!(error = %e, "running without the persistent cache");
                None
            }
        }
    }

    /// The folder this cache lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file_of(&self, key: &str) -> PathBuf {
        let name = format!("{:x}.json", Sha256::digest(key.as_bytes()));
        self.root.join(ENTRIES).join(name)
    }

    /// The value stored under `key`, if it is younger than the TTL.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let file = self.file_of(key);
        let bytes = std::fs::read(&file).ok()?;
        let entry: Entry<T> = match serde_json::from_slice(&bytes) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::debug!(file = %file.display(), error = %e, "removing a corrupt cache entry");
                let _ = std::fs::remove_file(&file);
                return None;
            }
        };
        if entry.key != key {
            return None;
        }
        let age = now_secs().saturating_sub(entry.stored);
        (age < self.ttl.as_secs()).then_some(entry.value)
    }

    /// Store `value` under `key`, atomically. Failures only cost the cache hit.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) {
        let entry = Entry {
            key: key.to_string(),
            stored: now_secs(),
            value,
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        if let Err(e) = self.write_atomically(&self.file_of(key), &bytes) {
            tracing::debug!(error = %e, "could not write the cache");
        }
    }

    /// Write to a temporary file in the same folder, then rename it over `target`.
    fn write_atomically(&self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = target.parent().unwrap_or(&self.root);
        let temp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let create = || match std::fs::File::create(&temp) {
            // `clear` (maybe in another process) removed the folder: make it again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                std::fs::File::create(&temp)
            }
            other => other,
        };
        let result = (|| {
            let mut file = create()?;
            file.write_all(bytes)?;
            std::fs::rename(&temp, target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Remove every entry, and a single-file cache of an earlier version. The folder is
    /// renamed away first, so runs in progress see an empty cache, never a partial one.
    pub fn clear(&self) -> Result<Cleared, RegistryError> {
        clear_folder(&self.root)
    }

    /// Delete expired entries, at most once per [`SWEEP_EVERY`] across all processes,
    /// so that a cache used for weeks does not grow without bound.
    fn sweep_if_due(&self) {
        let marker = self.root.join(SWEEP_MARKER);
        let due = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .map(|at| at.elapsed().unwrap_or_default() >= SWEEP_EVERY)
            .unwrap_or(true);
        if !due || std::fs::write(&marker, b"").is_err() {
            return;
        }
        let Ok(files) = std::fs::read_dir(self.root.join(ENTRIES)) else {
            return;
        };
        let ttl = self.ttl.max(SWEEP_EVERY);
        for file in files.filter_map(Result::ok) {
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .map(|at| at.elapsed().unwrap_or_default() > ttl)
                .unwrap_or(false);
            if old {
                let _ = std::fs::remove_file(file.path());
            }
        }
    }
}

/// Empty the cache folder at `root` without opening it: works when the folder is
/// corrupt, absent, or holds only a legacy `cache.redb`.
pub fn clear_folder(root: &Path) -> Result<Cleared, RegistryError> {
    let fail = |what: &Path, source: std::io::Error| {
        RegistryError::from(CacheError::Clear {
            path: what.to_path_buf(),
            source,
        })
    };
    let mut cleared = Cleared::default();
    let legacy = root.join(LEGACY_FILE);
    match std::fs::remove_file(&legacy) {
        Ok(()) => cleared.legacy_file = true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(&legacy, e)),
    }
    let entries = root.join(ENTRIES);
    let trash = root.join(format!(
        ".trash-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    match std::fs::rename(&entries, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cleared),
        Err(e) => return Err(fail(&entries, e)),
    }
    cleared.entries = std::fs::read_dir(&trash)
        .map(|files| {
            files
                .filter_map(Result::ok)
                .filter(|f| !f.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0);
    std::fs::remove_dir_all(&trash).map_err(|e| fail(&trash, e))?;
    Ok(cleared)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tags\tr\ta";

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_folder_that_cannot_be_created_keeps_its_io_error() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        let root = dir.path().join("file");
        std::fs::write(&root, "").unwrap();
        let Err(err) = DiskCache::open(&root, Duration::from_secs(60)) else {
            panic!("a file is not a folder");
        };
        assert!(err.is_config(), "{err}");
        assert!(
            matches!(&err, RegistryError::Cache(CacheError::CreateFolder { path, .. }) if path.starts_with(&root)),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).expect("a source");
        assert!(
            source.downcast_ref::<std::io::Error>().is_some(),
            "{source:?}"
        );
        assert!(err.to_string().contains(&source.to_string()), "{err}");
    }

    #[test]
    fn entries_live_for_the_ttl_and_clear_empties() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nested").join("tagwarden");
        let cache = DiskCache::open(&root, Duration::from_secs(600)).unwrap();
        assert_eq!(cache.get::<Vec<String>>(KEY), None);
        cache.put(KEY, &tags(&["v1"]));
        assert_eq!(cache.get::<Vec<String>>(KEY), Some(tags(&["v1"])));
        drop(cache);

        // Reopened: still there. With a TTL of zero, never used.
        let cache = DiskCache::open(&root, Duration::from_secs(600)).unwrap();
        assert_eq!(cache.get::<Vec<String>>(KEY), Some(tags(&["v1"])));
        let expired = DiskCache::open(&root, Duration::ZERO).unwrap();
        assert_eq!(expired.get::<Vec<String>>(KEY), None);
        assert_eq!(
            expired.clear().unwrap(),
            Cleared {
                entries: 1,
                legacy_file: false
            }
        );
        assert_eq!(
            cache.get::<Vec<String>>(KEY),
            None,
            "cleared for every handle"
        );
        // A handle whose folder was cleared under it (a long-running `serve`) keeps working.
        cache.put(KEY, &tags(&["v2"]));
        assert_eq!(cache.get::<Vec<String>>(KEY), Some(tags(&["v2"])));
        assert_eq!(expired.clear().unwrap().entries, 1);
    }

    #[test]
    fn many_handles_read_and_write_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tagwarden");
        // With redb the second open failed on the lock and the run silently went uncached.
        let handles: Vec<DiskCache> = (0..4)
            .map(|_| DiskCache::open(&root, DEFAULT_TTL).unwrap())
            .collect();
        std::thread::scope(|scope| {
            for (i, cache) in handles.iter().enumerate() {
                scope.spawn(move || {
                    for round in 0..200 {
                        let key = format!("head\th\tr\t{}", round % 10);
                        cache.put(&key, &format!("writer {i} round {round}"));
                        let value: String = cache.get(&key).expect("an entry is never torn");
                        assert!(value.starts_with("writer "), "{value}");
                    }
                });
            }
        });
        let keys = (0..10).filter(|n| {
            handles[0]
                .get::<String>(&format!("head\th\tr\t{n}"))
                .is_some()
        });
        assert_eq!(keys.count(), 10);
        let leftovers: Vec<_> = std::fs::read_dir(root.join(ENTRIES))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|f| f.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files are left behind");
    }

    #[test]
    fn corrupt_and_foreign_entries_are_misses_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), DEFAULT_TTL).unwrap();
        cache.put(KEY, &tags(&["v1"]));
        let file = cache.file_of(KEY);
        std::fs::write(&file, b"\x00not json").unwrap();
        assert_eq!(cache.get::<Vec<String>>(KEY), None);
        assert!(!file.exists(), "a corrupt entry is removed");

        // A valid entry under another key's name (a collision, or a copied file).
        cache.put("other", &tags(&["v9"]));
        std::fs::copy(cache.file_of("other"), &file).unwrap();
        assert_eq!(cache.get::<Vec<String>>(KEY), None);
        // The wrong type is a miss too, not a panic.
        cache.put(KEY, &"a string");
        assert_eq!(cache.get::<Vec<String>>(KEY), None);
    }

    #[test]
    fn clear_removes_a_corrupt_legacy_file_and_says_when_there_was_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tagwarden");
        assert!(clear_folder(&root).unwrap().is_empty(), "nothing there");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(LEGACY_FILE), b"Not a redb database at all").unwrap();
        let cleared = clear_folder(&root).unwrap();
        assert!(cleared.legacy_file);
        assert!(!root.join(LEGACY_FILE).exists());
        assert!(clear_folder(&root).unwrap().is_empty());
    }

    #[test]
    fn expired_entries_are_swept_when_a_sweep_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), DEFAULT_TTL).unwrap();
        cache.put(KEY, &tags(&["v1"]));
        let file = cache.file_of(KEY);
        let long_ago = SystemTime::now() - Duration::from_secs(10 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        // A sweep ran when the cache was opened; the next one is not due yet.
        let _again = DiskCache::open(dir.path(), DEFAULT_TTL).unwrap();
        assert!(file.exists());
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(SWEEP_MARKER))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let _swept = DiskCache::open(dir.path(), DEFAULT_TTL).unwrap();
        assert!(!file.exists(), "an entry older than the TTL is swept away");
    }
}
