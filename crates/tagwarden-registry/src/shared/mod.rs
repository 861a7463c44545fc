//! A cache shared by many processes (a fleet of `serve`s), kept in Redis: answers, a
//! single flight across processes, and request budgets per registry.
//!
//! Registry quotas are counted per credential or per source IP: N clusters behind one NAT,
//! each running `serve`, would spend N times Docker Hub's budget to learn the same answers.
//! With a [`SharedCache`] in [`ClientOptions::shared_cache`](crate::ClientOptions::shared_cache)
//! the clients of every process that points at the same Redis (or Valkey, or a managed
//! server speaking the protocol; `redis://` or `rediss://`, with AUTH) share:
//!
//! - **Answers** ([`flight`]): a manifest digest ("present"), "missing", manifests (for
//!   platform checks), and tag lists,
//!   each with its TTL ([`SharedCacheOptions::found_ttl`], [`SharedCacheOptions::missing_ttl`]).
//!   "Missing" is shared only when the registry said so (`MANIFEST_UNKNOWN`,
//!   `NAME_UNKNOWN`, or a 404 to a HEAD, [`Lookup::Missing`](crate::Lookup::Missing));
//!   an answer that could not decide (timeouts, 5xx, 401/403/429) is never shared.
//! - **A single flight across processes** ([`flight`]): the first process to ask takes a
//!   lock with an expiry (`SET NX PX`) and asks the registry; the others poll for its
//!   answer, so one registry request answers the fleet.
//! - **Request budgets** ([`budget`]): a fixed window per registry (`INCR` + `PEXPIRE` in one
//!   Lua script), counted for every registry request of every process, so a budget such as
//!   Docker Hub's holds for the fleet. A spent budget is *could not decide*
//!   ([`RegistryError::BudgetSpent`](crate::RegistryError::BudgetSpent)), never "missing".
//! - **Private images**: answers are kept under a hash of the credential identity the
//!   request would use (never the secret), so a process never learns an answer its own
//!   credentials would not give it.
//!
//! **When Redis is down or slow** (no answer within [`SharedCacheOptions::timeout`]), each
//! process asks the registry itself, within its own limits: never a false "missing". The
//! first failure is logged once (a warning; recovery is logged once too), Redis is left
//! alone for [`SharedCacheOptions::retry_after`], and every fallback is counted
//! ([`SharedCache::stats`], the `tagwarden_shared_cache_*` metrics of `serve`).
//!
//! The client consults the shared cache at one seam: after its own memory (and disk
//! cache) and before the registry, for HEAD and GET manifest and tag lists; and the transport
//! spends the budget right before each registry request.

pub mod budget;
pub mod flight;
mod redis;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use self::redis::SharedCacheError;

/// `url` with its password, if any, replaced by `***`: for messages.
pub fn redacted_url(url: &str) -> String {
    redis::redacted(url)
}
use self::redis::Store;

/// A request budget kept in the shared cache: at most `requests` registry requests per
/// `per`, for every process sharing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBudget {
    /// Requests per window.
    pub requests: u32,
    /// The window (a fixed window that starts with its first request).
    pub per: Duration,
}

/// Where the shared cache is and how it behaves.
#[derive(Clone)]
#[non_exhaustive]
pub struct SharedCacheOptions {
    /// `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]` or `rediss://…` (TLS).
    pub url: String,
    /// The AUTH password (a Secret's file), when not in the URL. Never printed.
    pub password: Option<String>,
    /// Extra CA certificates (PEM) trusted for `rediss://`, besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Every key starts with this, so several fleets can share one server.
    pub key_prefix: String,
    /// How long a shared "present" answer (a digest, a tag list) is used. Default 10 min.
    pub found_ttl: Duration,
    /// How long a shared "missing" answer is used. Default 1 min.
    pub missing_ttl: Duration,
    /// How long the lock of the process asking the registry lives (it is released when the
    /// answer is in), and the longest another process waits for that answer before it
    /// asks itself. Default 30 s.
    pub lock_ttl: Duration,
    /// The longest one Redis command may take before the process falls back to asking on
    /// its own. Default 250 ms.
    pub timeout: Duration,
    /// After a failure, how long Redis is left alone (every request falls back at once).
    /// Default 5 s.
    pub retry_after: Duration,
    /// Request budgets by registry (`docker.io`), for the whole fleet.
    pub budgets: HashMap<String, SharedBudget>,
}

impl SharedCacheOptions {
    /// The defaults, for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            ca_files: Vec::new(),
            key_prefix: "tagwarden:v1:".to_string(),
            found_ttl: Duration::from_secs(600),
            missing_ttl: Duration::from_secs(60),
            lock_ttl: Duration::from_secs(30),
            timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(5),
            budgets: HashMap::new(),
        }
    }
}

impl fmt::Debug for SharedCacheOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCacheOptions")
            .field("url", &redis::redacted(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_files", &self.ca_files)
            .field("key_prefix", &self.key_prefix)
            .field("found_ttl", &self.found_ttl)
            .field("missing_ttl", &self.missing_ttl)
            .field("lock_ttl", &self.lock_ttl)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .field("budgets", &self.budgets)
            .finish()
    }
}

/// What the shared cache did, counted since it was made (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedCacheStats {
    /// Questions answered from Redis (waiting for another process's answer included).
    pub hits: u64,
    /// Questions Redis had no answer to: this process asked the registry and shared it.
    pub misses: u64,
    /// Redis commands that failed or timed out.
    pub errors: u64,
    /// Questions (and budget checks) this process decided alone because Redis could not
    /// help: down, slow, or another process's answer did not come in time.
    pub fallbacks: u64,
    /// Registry requests not sent because the fleet's budget was spent.
    pub budget_spent: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    fallbacks: AtomicU64,
    budget_spent: AtomicU64,
}

impl Counters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A connection to the shared cache. Cheap to clone; clones share the connection and the
/// counters. Made once per process and given to every client through
/// [`ClientOptions::shared_cache`](crate::ClientOptions::shared_cache).
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Shared>,
}

struct Shared {
    store: Store,
    options: SharedCacheOptions,
    counters: Counters,
}

impl SharedCache {
    /// Prepare the connection (made on first use, and again after a failure: a Redis that
    /// is down at start is a fallback, not an error).
    ///
    /// # Errors
    ///
    /// A URL that is not `redis://` or `rediss://`, or an unreadable CA file.
    pub fn new(options: SharedCacheOptions) -> Result<Self, SharedCacheError> {
        let store = Store::new(&options)?;
        Ok(Self {
            inner: Arc::new(Shared {
                store,
                options,
                counters: Counters::default(),
            }),
        })
    }

    /// The options it was made with.
    pub fn options(&self) -> &SharedCacheOptions {
        &self.inner.options
    }

    /// The counters so far.
    pub fn stats(&self) -> SharedCacheStats {
        let c = &self.inner.counters;
        SharedCacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            budget_spent: c.budget_spent.load(Ordering::Relaxed),
        }
    }

    /// True while Redis answers (false after a failure, until it answers again).
    pub fn is_up(&self) -> bool {
        self.inner.store.is_up()
    }

    /// Ask Redis once (`PING`), for a readiness check or a start-up line.
    pub async fn ping(&self) -> Result<(), SharedCacheError> {
        self.inner.store.ping().await
    }

    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{}", self.inner.options.key_prefix, parts)
    }
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("options", &self.inner.options)
            .field("stats", &self.stats())
            .finish()
    }
}
