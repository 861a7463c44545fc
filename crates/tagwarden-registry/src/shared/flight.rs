//! Shared answers and the single flight across processes.
//!
//! A question (`head:IDENTITY:HOST/REPOSITORY:REFERENCE`, `manifest:…`, `tags:IDENTITY:HOST/REPOSITORY`)
//! has an answer key and a lock key:
//!
//! 1. `GET` the answer: there → a hit.
//! 2. Else `SET lock TOKEN NX PX lock_ttl`: taken → this process asks the registry, shares a
//!    decided answer with its TTL (`SET answer … PX ttl`), and releases its own lock (a
//!    compare-and-delete script: a lock that expired and was taken by another is not ours).
//! 3. Else another process is asking: poll (`MGET answer lock`, 20 ms doubling to 200 ms)
//!    until its answer is there (a hit), or its lock is gone without an answer (it could not
//!    decide: race for the lock again), or `lock_ttl` has passed (ask on our own).
//!
//! Only decided answers are shared: "present", and "missing" as this crate decides it
//! (the registry said `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, or 404 to a HEAD, which has no
//! body to say more; [`Lookup::Missing`]). A timeout, a 5xx, 401/403/429 or a malformed
//! answer is an error, and errors are never shared. Whenever Redis fails or is being left alone, the process asks the
//! registry itself (a fallback): an answer is never made up from a failure.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Counters, SharedCache};
use crate::error::{Lookup, Missing, RegistryError};

/// Delete the lock only while it holds our token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

const FIRST_POLL: Duration = Duration::from_millis(20);
const LONGEST_POLL: Duration = Duration::from_millis(200);

/// An answer as it is kept in Redis (JSON).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stored<T> {
    Found(T),
    /// The registry's error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`), or none for a bare
    /// 404 (a HEAD has no body to say more).
    Missing(Option<String>),
}

/// What reading an answer gave.
enum Read<T> {
    Answer(Lookup<T>),
    Absent,
    /// Redis failed or is being left alone.
    Unusable,
}

/// What waiting for another process gave.
enum Wait<T> {
    Answer(Lookup<T>),
    /// Its lock is gone without an answer.
    Released,
    /// No answer within the lock's lifetime, or Redis failed.
    GaveUp,
}

impl SharedCache {
    /// The shared answer to `question`, or `ask`'s (asked by one process of the fleet at a
    /// time, and shared when decided).
    pub(crate) async fn answer<T, F, Fut>(
        &self,
        question: &str,
        ask: F,
    ) -> Result<Lookup<T>, RegistryError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Lookup<T>, RegistryError>>,
    {
        let answer_key = self.key(format_args!("answer:{question}"));
        let lock_key = self.key(format_args!("lock:{question}"));
        let counters = &self.inner.counters;
        let deadline = Instant::now() + self.inner.options.lock_ttl;
        loop {
            match self.read::<T>(&answer_key).await {
                Read::Answer(answer) => {
                    Counters::count(&counters.hits);
                    return Ok(answer);
                }
                Read::Unusable => return self.fallback(ask).await,
                Read::Absent => {}
            }
            match self.take_lock(&lock_key).await {
                Some(Some(token)) => {
                    Counters::count(&counters.misses);
                    return self.lead(&answer_key, &lock_key, &token, ask).await;
                }
                Some(None) => {}
                None => return self.fallback(ask).await,
            }
            match self.wait_for::<T>(&answer_key, &lock_key, deadline).await {
                Wait::Answer(answer) => {
                    Counters::count(&counters.hits);
                    return Ok(answer);
                }
                Wait::Released => continue,
                Wait::GaveUp => return self.fallback(ask).await,
            }
        }
    }

    async fn fallback<T, F, Fut>(&self, ask: F) -> Result<Lookup<T>, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Lookup<T>, RegistryError>>,
    {
        Counters::count(&self.inner.counters.fallbacks);
        ask().await
    }

    /// Count a failed command (a command that was never sent is not an error).
    fn failed<T>(&self, result: Option<Result<T, super::SharedCacheError>>) -> Option<T> {
        match result? {
            Ok(value) => Some(value),
            Err(_) => {
                Counters::count(&self.inner.counters.errors);
                None
            }
        }
    }

    async fn read<T: DeserializeOwned>(&self, answer_key: &str) -> Read<T> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(answer_key);
        match self.failed(self.inner.store.run::<Option<Vec<u8>>>(&cmd).await) {
            None => Read::Unusable,
            Some(None) => Read::Absent,
            Some(Some(bytes)) => decode(&bytes).map_or(Read::Absent, Read::Answer),
        }
    }

    /// `Some(Some(token))`: the lock is ours; `Some(None)`: another process holds it;
    /// `None`: Redis could not say.
    async fn take_lock(&self, lock_key: &str) -> Option<Option<String>> {
        static TAKEN: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!(
            "{}-{nanos}-{}",
            std::process::id(),
            TAKEN.fetch_add(1, Ordering::Relaxed)
        );
        let lock_ms = u64::try_from(self.inner.options.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut cmd = redis::cmd("SET");
        cmd.arg(lock_key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lock_ms.max(1));
        let set: Option<String> = self.failed(self.inner.store.run(&cmd).await)?;
        Some(set.map(|_| token))
    }

    /// Ask, share a decided answer, release the lock.
    async fn lead<T, F, Fut>(
        &self,
        answer_key: &str,
        lock_key: &str,
        token: &str,
        ask: F,
    ) -> Result<Lookup<T>, RegistryError>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Lookup<T>, RegistryError>>,
    {
        let result = ask().await;
        if let Ok(answer) = &result
            && let Some((bytes, ttl)) = self.shareable(answer)
        {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            let mut cmd = redis::cmd("SET");
            cmd.arg(answer_key).arg(bytes).arg("PX").arg(ttl_ms);
            self.failed(self.inner.store.run::<()>(&cmd).await);
        }
        let mut release = redis::cmd("EVAL");
        release.arg(RELEASE).arg(1).arg(lock_key).arg(token);
        self.failed(self.inner.store.run::<i64>(&release).await);
        result
    }

    /// The stored form and TTL of an answer other processes may use, if it is one.
    fn shareable<T: Serialize>(&self, answer: &Lookup<T>) -> Option<(Vec<u8>, Duration)> {
        let options = &self.inner.options;
        let (stored, ttl) = match answer {
            Lookup::Found(value) => (Stored::Found(value), options.found_ttl),
            Lookup::Missing(Missing { code }) => {
                (Stored::Missing(code.clone()), options.missing_ttl)
            }
        };
        if ttl.as_millis() == 0 {
            return None;
        }
        serde_json::to_vec(&stored).ok().map(|bytes| (bytes, ttl))
    }

    /// Poll for another process's answer until `deadline`.
    async fn wait_for<T: DeserializeOwned>(
        &self,
        answer_key: &str,
        lock_key: &str,
        deadline: Instant,
    ) -> Wait<T> {
        let mut pause = FIRST_POLL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wait::GaveUp;
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(LONGEST_POLL);
            let mut cmd = redis::cmd("MGET");
            cmd.arg(answer_key).arg(lock_key);
            let polled = self
                .inner
                .store
                .run::<(Option<Vec<u8>>, Option<String>)>(&cmd);
            match self.failed(polled.await) {
                None => return Wait::GaveUp,
                Some((Some(bytes), _)) => match decode(&bytes) {
                    Some(answer) => return Wait::Answer(answer),
                    None => return Wait::GaveUp,
                },
                Some((None, None)) => return Wait::Released,
                Some((None, Some(_))) => {}
            }
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<Lookup<T>> {
    match serde_json::from_slice::<Stored<T>>(bytes) {
        Ok(Stored::Found(value)) => Some(Lookup::Found(value)),
        Ok(Stored::Missing(code)) => Some(Lookup::Missing(Missing { code })),
        Err(e) => {
            tracing::debug!(error = %e, "a shared answer this version cannot read; asking");
            None
        }
    }
}
