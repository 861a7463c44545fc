//! In-memory answers: single flight, with a TTL and a size bound.
//!
//! A [`crate::Client`] may live for weeks in a service, so what it remembers must not grow
//! with every image it is ever asked about, and must not hide a tag published later:
//!
//! - **Single flight.** Identical questions asked at the same time cost one request; every
//!   caller gets its answer.
//! - **TTL by kind.** A "present" answer is reused for
//!   [`ClientOptions::found_ttl`](crate::ClientOptions::found_ttl), a "missing" one for the
//!   shorter [`ClientOptions::missing_ttl`](crate::ClientOptions::missing_ttl) (a missing tag
//!   may be pushed any time). An undetermined answer (an error) is never kept: the next
//!   caller asks again.
//! - **Size bound.** At most
//!   [`ClientOptions::max_cached_answers`](crate::ClientOptions::max_cached_answers) entries;
//!   the oldest go first. A question evicted while in flight still answers its callers;
//!   only later callers ask again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::error::Lookup;

/// How long answers live, and how many are kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub found_ttl: Duration,
    pub missing_ttl: Duration,
    pub max_entries: usize,
}

/// An answer and when it was obtained.
type Cell<T> = Arc<OnceCell<(Lookup<T>, Instant)>>;

struct Slot<T> {
    cell: Cell<T>,
    /// Insertion number, to tell this slot from a later one under the same key.
    generation: u64,
}

struct State<K, T> {
    slots: HashMap<K, Slot<T>>,
    /// Keys in insertion order, with their slot's generation (stale pairs are skipped).
    order: VecDeque<(K, u64)>,
    next_generation: u64,
}

/// Answers to one kind of question (`K` → `Lookup<T>`).
pub(crate) struct Answers<K, T> {
    state: Mutex<State<K, T>>,
    limits: Limits,
}

impl<K: Eq + Hash + Clone, T: Clone> Answers<K, T> {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            state: Mutex::new(State {
                slots: HashMap::new(),
                order: VecDeque::new(),
                next_generation: 0,
            }),
            limits,
        }
    }

    /// How many answers (and questions in flight) are held.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().expect("answers poisoned").slots.len()
    }

    /// The live answer to `key`, or `compute`'s, shared with everyone asking at once.
    pub(crate) async fn get_or_try<F, Fut, E>(&self, key: &K, compute: F) -> Result<Lookup<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Lookup<T>, E>>,
    {
        let cell = self.cell(key);
        let (answer, _) = cell
            .get_or_try_init(|| async { compute().await.map(|answer| (answer, Instant::now())) })
            .await?;
        Ok(answer.clone())
    }

    /// The slot for `key`: the live one, or a new one (dropping an expired answer and, past
    /// the bound, the oldest entries).
    fn cell(&self, key: &K) -> Cell<T> {
        let mut state = self.state.lock().expect("answers poisoned");
        if let Some(slot) = state.slots.get(key) {
            match slot.cell.get() {
                Some((answer, at)) if at.elapsed() >= self.ttl_of(answer) => {}
                _ => return slot.cell.clone(),
            }
        }
        let generation = state.next_generation;
        state.next_generation += 1;
        let cell: Cell<T> = Arc::new(OnceCell::new());
        state.slots.insert(
            key.clone(),
            Slot {
                cell: cell.clone(),
                generation,
            },
        );
        state.order.push_back((key.clone(), generation));
        self.evict(&mut state);
        cell
    }

    fn ttl_of(&self, answer: &Lookup<T>) -> Duration {
        match answer {
            Lookup::Found(_) => self.limits.found_ttl,
            Lookup::Missing(_) => self.limits.missing_ttl,
        }
    }

    /// Drop the oldest entries past the bound, and keep the order queue proportional to
    /// the entries (replaced slots leave stale pairs behind).
    fn evict(&self, state: &mut State<K, T>) {
        let max = self.limits.max_entries.max(1);
        while state.slots.len() > max {
            let Some((key, generation)) = state.order.pop_front() else {
                break;
            };
            if state
                .slots
                .get(&key)
                .is_some_and(|s| s.generation == generation)
            {
                state.slots.remove(&key);
            }
        }
        if state.order.len() > 2 * max {
            let slots = &state.slots;
            state
                .order
                .retain(|(k, g)| slots.get(k).is_some_and(|s| s.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Missing;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits(max_entries: usize) -> Limits {
        Limits {
            found_ttl: Duration::from_secs(60),
            missing_ttl: Duration::from_millis(30),
            max_entries,
        }
    }

    #[tokio::test]
    async fn bounded_expiring_and_errors_are_not_kept() {
        let answers: Answers<u32, u32> = Answers::new(limits(10));
        let computed = AtomicUsize::new(0);
        let ask = |key: u32, missing: bool| {
            let computed = &computed;
            let answers = &answers;
            async move {
                answers
                    .get_or_try(&key, || async {
                        computed.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(if missing {
                            Lookup::Missing(Missing { code: None })
                        } else {
                            Lookup::Found(key)
                        })
                    })
                    .await
                    .unwrap()
            }
        };
        for key in 0..100 {
            assert_eq!(ask(key, false).await, Lookup::Found(key));
            assert!(answers.len() <= 10);
        }
        // The newest are kept: asking again costs nothing.
        let before = computed.load(Ordering::SeqCst);
        ask(99, false).await;
        assert_eq!(computed.load(Ordering::SeqCst), before);
        // A missing answer expires sooner.
        ask(1000, true).await;
        ask(1000, true).await;
        assert_eq!(computed.load(Ordering::SeqCst), before + 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        ask(1000, true).await;
        assert_eq!(computed.load(Ordering::SeqCst), before + 2);
        // An error is not kept.
        let failed: Result<Lookup<u32>, &str> =
            answers.get_or_try(&7777, || async { Err("down") }).await;
        assert!(failed.is_err());
        assert_eq!(ask(7777, false).await, Lookup::Found(7777));
    }
}
