//! The webhook's own memory of decisions, so that a burst of Pods with one image costs one
//! registry resolution, and an answer that came too late for one Pod serves the next.
//!
//! `serve`'s registry clients remember nothing (the monitor must see a deleted tag at its
//! next check), so the webhook keeps its decisions here, per image, pull secrets and
//! endpoint (`/mutate` or `/validate`):
//!
//! - a decision that the image is there (kept, or pinned to its digest): [`PRESENT_TTL`];
//! - a decision about a missing image (a replacement, or missing with no fallback):
//!   [`MISSING_TTL`] (it may be published any minute);
//! - "could not decide" (denied, unreachable, rate-limited): never kept.
//!
//! Concurrent requests for the same key share one decision task (single flight); the task
//! runs on its own, so when every request stopped waiting (the latency budget) it still
//! finishes and leaves its answer here. Underneath, the registry client's single flight is
//! shared with the monitor: a check and an admission asking at once cost one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tagwarden_registry::Repair;

use crate::inventory::SecretRef;

/// How long "the image is there" is kept.
pub const PRESENT_TTL: Duration = Duration::from_secs(600);
/// How long "the image is missing" (with or without a stand-in) is kept.
pub const MISSING_TTL: Duration = Duration::from_secs(60);
/// Above this many entries, expired ones are dropped on the next insert.
const PRUNE_ABOVE: usize = 10_000;

/// One decision in progress or done: a task's answer, or why it failed.
pub(crate) type Pending = Shared<BoxFuture<'static, Result<Repair, String>>>;

/// (`/validate`?, the pull secrets, the image as written).
pub(crate) type Key = (bool, Vec<SecretRef>, String);

/// The decisions, and those in flight.
#[derive(Default)]
pub(crate) struct Memory {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    answers: HashMap<Key, (Repair, Instant)>,
    in_flight: HashMap<Key, Pending>,
}

impl Memory {
    /// The decision for `key`: remembered, in flight, or started now with `start`.
    pub(crate) fn decision(
        self: &Arc<Self>,
        key: Key,
        start: impl FnOnce() -> tokio::task::JoinHandle<Repair>,
    ) -> Pending {
        let mut state = self.state.lock().expect("webhook memory poisoned");
        if let Some((repair, until)) = state.answers.get(&key)
            && *until > Instant::now()
        {
            let repair = repair.clone();
            return async move { Ok(repair) }.boxed().shared();
        }
        if let Some(pending) = state.in_flight.get(&key) {
            return pending.clone();
        }
        let decision = start();
        let memory = Arc::clone(self);
        let finishing = key.clone();
        // Its own task: it finishes (and is remembered) even when nobody waits any more.
        let task = tokio::spawn(async move {
            let result = decision.await.map_err(|e| e.to_string());
            memory.finish(finishing, &result);
            result
        });
        let pending = async move { task.await.unwrap_or_else(|e| Err(e.to_string())) }
            .boxed()
            .shared();
        state.in_flight.insert(key, pending.clone());
        pending
    }

    /// The remembered decisions for every one of `keys`, in order, or `None` when one is
    /// not remembered (or has expired): then [`Memory::decision`] each.
    pub(crate) fn remembered(&self, keys: &[Key]) -> Option<Vec<Repair>> {
        let state = self.state.lock().expect("webhook memory poisoned");
        let now = Instant::now();
        keys.iter()
            .map(|key| match state.answers.get(key) {
                Some((repair, until)) if *until > now => Some(repair.clone()),
                _ => None,
            })
            .collect()
    }

    /// The remembered decision for `key`, or else `instead` (not remembered: a registry
    /// that may not be asked now decides nothing).
    pub(crate) fn remembered_or(&self, key: Key, instead: Repair) -> Pending {
        let repair = self
            .remembered(std::slice::from_ref(&key))
            .and_then(|mut found| found.pop())
            .unwrap_or(instead);
        async move { Ok(repair) }.boxed().shared()
    }

    /// Forget every decision (the Kubernetes version changed: tracking changed).
    pub(crate) fn clear(&self) {
        self.state
            .lock()
            .expect("webhook memory poisoned")
            .answers
            .clear();
    }

    fn finish(&self, key: Key, result: &Result<Repair, String>) {
        let mut state = self.state.lock().expect("webhook memory poisoned");
        state.in_flight.remove(&key);
        let Ok(repair) = result else {
            return;
        };
        let Some(ttl) = ttl_of(repair, &key.2) else {
            return;
        };
        let now = Instant::now();
        if state.answers.len() >= PRUNE_ABOVE {
            state.answers.retain(|_, (_, until)| *until > now);
        }
        state.answers.insert(key, (repair.clone(), now + ttl));
    }
}

/// How long a decision about `image` is kept; `None`: not at all.
fn ttl_of(repair: &Repair, image: &str) -> Option<Duration> {
    match repair {
        Repair::Keep => Some(PRESENT_TTL),
        // Pinned as it is: the tag is there.
        Repair::Replace { new, .. } if new.starts_with(&format!("{image}@")) => Some(PRESENT_TTL),
        Repair::Replace { .. } | Repair::Missing { .. } => Some(MISSING_TTL),
        Repair::Undetermined { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(image: &str) -> Key {
        (false, Vec::new(), image.to_string())
    }

    #[tokio::test]
    async fn answers_are_remembered_until_they_expire_and_undecided_ones_not_at_all() {
        let memory = Arc::new(Memory::default());
        let (kept, missing, unknown) = (key("r/a:v1.32"), key("r/b:v1.32"), key("r/c:v1.32"));
        let answers = [
            (&kept, Repair::Keep),
            (&missing, Repair::Missing { why: "gone".into() }),
            (&unknown, Repair::Undetermined { why: "503".into() }),
        ];
        for (key, repair) in answers {
            let answer = memory
                .decision(key.clone(), move || tokio::spawn(async move { repair }))
                .await;
            assert!(answer.is_ok());
        }
        // Each task has finished (its answer awaited), so what is kept is kept.
        let both = memory.remembered(&[kept.clone(), missing.clone()]).unwrap();
        assert_eq!(both.len(), 2);
        assert!(matches!(both[1], Repair::Missing { .. }));
        assert!(memory.remembered(std::slice::from_ref(&unknown)).is_none());
        assert!(
            memory
                .remembered(&[kept.clone(), unknown.clone()])
                .is_none()
        );
        let instead = Repair::Undetermined {
            why: "closed".into(),
        };
        let answer = memory.remembered_or(unknown, instead).await.unwrap();
        assert!(matches!(answer, Repair::Undetermined { why } if why == "closed"));
        // An expired answer is not an answer.
        {
            let mut state = memory.state.lock().unwrap();
            let (_, until) = state.answers.get_mut(&missing).unwrap();
            *until = Instant::now() - Duration::from_secs(1);
        }
        assert!(memory.remembered(std::slice::from_ref(&missing)).is_none());
        assert!(memory.remembered(std::slice::from_ref(&kept)).is_some());
    }

    #[test]
    fn present_answers_stay_longer_than_missing_ones_and_errors_not_at_all() {
        let image = "r/app:v1.32";
        assert_eq!(ttl_of(&Repair::Keep, image), Some(PRESENT_TTL));
        let pinned = Repair::Replace {
            new: format!("{image}@sha256:aa"),
            why: "pinned".into(),
        };
        assert_eq!(ttl_of(&pinned, image), Some(PRESENT_TTL));
        let fallback = Repair::Replace {
            new: "r/app:v1.31".into(),
            why: "missing".into(),
        };
        assert_eq!(ttl_of(&fallback, image), Some(MISSING_TTL));
        let missing = Repair::Missing { why: "gone".into() };
        assert_eq!(ttl_of(&missing, image), Some(MISSING_TTL));
        let unknown = Repair::Undetermined {
            why: "timeout".into(),
        };
        assert_eq!(ttl_of(&unknown, image), None);
    }
}
