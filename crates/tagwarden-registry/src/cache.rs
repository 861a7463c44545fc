//! The persistent cache: manifest digests and tag lists on disk, for a TTL.
//!
//! Running `check` in CI on every push asks the same questions again and again; a short
//! TTL (10 minutes by default) answers the repeats locally. The store is
//! [redb](https://docs.rs/redb), an embedded, crash-safe key-value file, at
//! `$XDG_CACHE_HOME/tagwarden/cache.redb` (or `~/.cache/tagwarden/cache.redb`).
//!
//! Rules that keep it honest:
//!
//! - only answers are stored (a digest, a tag list); failures never are;
//! - an entry past its TTL is never used, not even when the registry is down: a stale
//!   entry must not turn "unreachable" into "present";
//! - a cache that cannot be opened (another tagwarden holds it, a read-only home) is
//!   skipped with a debug message, never an error: it only ever saves requests.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase as _, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::RegistryError;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

/// The default time an entry stays valid.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// An open cache file.
pub struct DiskCache {
    db: Database,
    ttl: Duration,
    path: PathBuf,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("path", &self.path)
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[derive(Serialize, serde::Deserialize)]
struct Entry<T> {
    stored: u64,
    value: T,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DiskCache {
    /// `$XDG_CACHE_HOME/tagwarden/cache.redb`, else `~/.cache/tagwarden/cache.redb`.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(base.join("tagwarden").join("cache.redb"))
    }

    /// Open (or create) the cache at `path`.
    pub fn open(path: &Path, ttl: Duration) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                RegistryError::Config(format!("cannot create cache folder {}: {e}", dir.display()))
            })?;
        }
        let db = Database::create(path).map_err(|e| {
            RegistryError::Config(format!("cannot open cache {}: {e}", path.display()))
        })?;
        Ok(Self {
            db,
            ttl,
            path: path.to_path_buf(),
        })
    }

    /// Open the cache, or explain at debug level why it is skipped.
    pub fn open_or_skip(path: &Path, ttl: Duration) -> Option<Self> {
        match Self::open(path, ttl) {
            Ok(cache) => Some(cache),
            Err(e) => {
                tracing::debug!(error = %e, "running without the persistent cache");
                None
            }
        }
    }

    /// The value stored under `key`, if it is younger than the TTL.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let read = self.db.begin_read().ok()?;
        let table = read.open_table(ENTRIES).ok()?;
        let bytes = table.get(key).ok()??;
        let entry: Entry<T> = serde_json::from_slice(bytes.value()).ok()?;
        let age = now_secs().saturating_sub(entry.stored);
        (age < self.ttl.as_secs()).then_some(entry.value)
    }

    /// Store `value` under `key`. Failures only cost the cache hit.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) {
        let entry = Entry {
            stored: now_secs(),
            value,
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        let result = (|| -> Result<(), redb::Error> {
            let write = self.db.begin_write()?;
            {
                let mut table = write.open_table(ENTRIES)?;
                table.insert(key, bytes.as_slice())?;
            }
            write.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not write the cache");
        }
    }

    /// Remove every entry.
    pub fn clear(&self) -> Result<(), RegistryError> {
        let fail = |e: String| {
            RegistryError::Config(format!("cannot clear cache {}: {e}", self.path.display()))
        };
        let write = self.db.begin_write().map_err(|e| fail(e.to_string()))?;
        write
            .delete_table(ENTRIES)
            .map_err(|e| fail(e.to_string()))?;
        write.commit().map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl_and_clear_empties() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("cache.redb");
        let cache = DiskCache::open(&path, Duration::from_secs(600)).unwrap();
        assert_eq!(cache.get::<Vec<String>>("tags\tr\ta"), None);
        cache.put("tags\tr\ta", &vec!["v1".to_string()]);
        assert_eq!(
            cache.get::<Vec<String>>("tags\tr\ta"),
            Some(vec!["v1".to_string()])
        );
        drop(cache);

        // Reopened: still there. With a TTL of zero, never used.
        let cache = DiskCache::open(&path, Duration::from_secs(600)).unwrap();
        assert_eq!(
            cache.get::<Vec<String>>("tags\tr\ta"),
            Some(vec!["v1".to_string()])
        );
        drop(cache);
        let expired = DiskCache::open(&path, Duration::ZERO).unwrap();
        assert_eq!(expired.get::<Vec<String>>("tags\tr\ta"), None);
        expired.clear().unwrap();
        drop(expired);
        let cache = DiskCache::open(&path, Duration::from_secs(600)).unwrap();
        assert_eq!(cache.get::<Vec<String>>("tags\tr\ta"), None);
    }
}
