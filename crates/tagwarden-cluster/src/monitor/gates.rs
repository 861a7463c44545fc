//! When each registry may be asked: pauses after rate limits, and request budgets.
//!
//! [`RegistryGates`] is an [`Observer`] of its own, given to every client the monitor and
//! the webhook ask through where that client is built ([`super::prepare_client_options`]),
//! metrics or not, so it sees every request, retries included:
//!
//! - a **429** pauses the registry for its `Retry-After`, else for the window of its
//!   `ratelimit-remaining`/`ratelimit-limit` (`N;w=SECONDS`), else for
//!   [`MonitorOptions::rate_limit_pause`](super::MonitorOptions::rate_limit_pause);
//! - **`ratelimit-remaining: 0`** on any answer pauses it until that window has passed
//!   (Docker Hub sends the window's length, not when it resets, so this is the safe side);
//! - a **budget** ([`Budget`]) counts requests per fixed window; a used-up budget closes
//!   the registry until the window ends.
//!
//! A closed registry's images are not asked; they keep their last answer and are checked
//! once it opens. An image that never had an answer is `rate_limited` meanwhile when the
//! registry rationed answers, and stays unanswered when only tagwarden's own budget is
//! used up (a self-imposed wait must not raise alerts about the image). The webhook asks
//! no closed registry either ([`crate::webhook::RegistryGate`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tagwarden_registry::{Observer, Operation, RateLimit, RequestEvent, RequestOutcome};

use super::options::Budget;

/// Why a registry may not be asked now, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    pub until: Instant,
    pub reason: String,
    /// True when the registry itself rationed answers (429, `ratelimit-remaining: 0`);
    /// false when tagwarden's own budget is used up.
    pub by_registry: bool,
}

#[derive(Debug, Default)]
struct Gate {
    paused: Option<Closed>,
    /// Start of the budget window, and requests seen in it.
    window: Option<(Instant, u32)>,
}

#[derive(Debug)]
struct Config {
    budgets: HashMap<String, Budget>,
    default_budget: Option<Budget>,
    rate_limit_pause: Duration,
}

/// Every registry's gate: an [`Observer`] that counts each request against its
/// registry's [`Budget`] and pauses a registry that rationed answers. Give it to the
/// client ([`super::prepare_client_options`]), the monitor ([`super::Monitor::new`], which
/// sets its budgets) and the webhook ([`crate::webhook::Webhook::with_registry_gate`]).
/// Cheap to clone (clones share everything).
#[derive(Debug, Clone, Default)]
pub struct RegistryGates {
    inner: Arc<Gates>,
}

#[derive(Debug)]
struct Gates {
    gates: Mutex<HashMap<String, Gate>>,
    config: Mutex<Config>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            gates: Mutex::default(),
            config: Mutex::new(Config {
                budgets: HashMap::new(),
                default_budget: None,
                rate_limit_pause: Duration::from_secs(60),
            }),
        }
    }
}

impl Observer for RegistryGates {
    fn on_request(&self, event: &RequestEvent) {
        self.observe(event);
    }
}

/// The webhook asks no registry these gates keep closed: a 429's pause,
/// `ratelimit-remaining: 0`, or the registry's request budget used up (the webhook's own
/// requests count against it, as the gates observe its client too).
impl crate::webhook::RegistryGate for RegistryGates {
    fn closed(&self, registry: &str) -> Option<String> {
        RegistryGates::closed(self, registry, Instant::now()).map(|closed| closed.reason)
    }
}

impl RegistryGates {
    /// Use these budgets and this default pause from now on.
    pub(crate) fn configure(
        &self,
        budgets: HashMap<String, Budget>,
        default_budget: Option<Budget>,
        rate_limit_pause: Duration,
    ) {
        *self.inner.config.lock().expect("gates poisoned") = Config {
            budgets,
            default_budget,
            rate_limit_pause,
        };
    }

    fn budget_of(&self, registry: &str) -> Option<Budget> {
        let config = self.inner.config.lock().expect("gates poisoned");
        config
            .budgets
            .get(registry)
            .copied()
            .or(config.default_budget)
    }

    /// Learn from one request: count it, and pause on a rate limit.
    pub(crate) fn observe(&self, event: &RequestEvent) {
        if event.operation == Operation::Token {
            return;
        }
        let now = Instant::now();
        let budget = self.budget_of(&event.registry);
        let default_pause = self
            .inner
            .config
            .lock()
            .expect("gates poisoned")
            .rate_limit_pause;
        let window = event.rate_limit.as_ref().and_then(rate_limit_window);
        let exhausted = event
            .rate_limit
            .as_ref()
            .and_then(|l| l.remaining.as_deref())
            .and_then(leading_number)
            == Some(0);
        let too_many = event.outcome == RequestOutcome::Status(429);
        let mut gates = self.inner.gates.lock().expect("gates poisoned");
        let gate = gates.entry(event.registry.clone()).or_default();
        if let Some(budget) = budget {
            let (start, used) = gate.window.get_or_insert((now, 0));
            if now.duration_since(*start) >= budget.per {
                *start = now;
                *used = 0;
            }
            *used += 1;
        }
        if too_many || exhausted {
            let pause = event.retry_after.or(window).unwrap_or(default_pause);
            let reason = if too_many {
                format!("{} answered 429 Too Many Requests", event.registry)
            } else {
                format!(
                    "{}'s rate limit is used up (ratelimit-remaining: 0)",
                    event.registry
                )
            };
            pause_gate(gate, now + pause, reason);
        }
    }

    /// Pause `registry` until `until` (a longer pause already in place stays).
    pub(crate) fn pause(&self, registry: &str, until: Instant, reason: String) {
        let mut gates = self.inner.gates.lock().expect("gates poisoned");
        pause_gate(
            gates.entry(registry.to_string()).or_default(),
            until,
            reason,
        );
    }

    /// The default pause after a 429 with no hint.
    pub(crate) fn default_pause(&self) -> Duration {
        self.inner
            .config
            .lock()
            .expect("gates poisoned")
            .rate_limit_pause
    }

    /// `None` when `registry` may be asked at `now`; else until when it may not, and why.
    pub(crate) fn closed(&self, registry: &str, now: Instant) -> Option<Closed> {
        let budget = self.budget_of(registry);
        let mut gates = self.inner.gates.lock().expect("gates poisoned");
        let gate = gates.get_mut(registry)?;
        if let Some(paused) = &gate.paused {
            if paused.until > now {
                return Some(paused.clone());
            }
            gate.paused = None;
        }
        let budget = budget?;
        let (start, used) = gate.window?;
        let ends = start + budget.per;
        (ends > now && used >= budget.requests).then(|| Closed {
            until: ends,
            by_registry: false,
            reason: format!(
                "{registry}'s request budget ({} per {:?}) is used up",
                budget.requests, budget.per
            ),
        })
    }

    /// Forget registries no image uses any more.
    pub(crate) fn retain(&self, registries: impl Fn(&str) -> bool) {
        let mut gates = self.inner.gates.lock().expect("gates poisoned");
        gates.retain(|registry, _| registries(registry));
    }
}

fn pause_gate(gate: &mut Gate, until: Instant, reason: String) {
    match &gate.paused {
        Some(paused) if paused.until >= until => {}
        _ => {
            tracing::info!(%reason, pause = ?until.saturating_duration_since(Instant::now()), "registry paused");
            gate.paused = Some(Closed {
                until,
                reason,
                by_registry: true,
            });
        }
    }
}

/// The leading number of a rate-limit header value (`97;w=21600` → 97).
pub(crate) fn leading_number(value: &str) -> Option<u64> {
    value.split(';').next()?.trim().parse().ok()
}

/// The `w=SECONDS` window of the remaining (or else the limit) header.
fn rate_limit_window(limit: &RateLimit) -> Option<Duration> {
    [&limit.remaining, &limit.limit]
        .into_iter()
        .flatten()
        .find_map(|value| {
            value
                .split(';')
                .skip(1)
                .find_map(|part| part.trim().strip_prefix("w="))
                .and_then(|seconds| seconds.trim().parse().ok())
                .map(Duration::from_secs)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_values_are_read() {
        assert_eq!(leading_number("97;w=21600"), Some(97));
        assert_eq!(leading_number("0"), Some(0));
        assert_eq!(leading_number("x"), None);
        let limit = RateLimit {
            limit: Some("100;w=21600".into()),
            remaining: Some("0;w=60".into()),
            source: None,
        };
        assert_eq!(rate_limit_window(&limit), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_pause_closes_only_its_own_registry() {
        let gates = RegistryGates::default();
        let per = Duration::from_secs(3600);
        gates.configure(
            HashMap::from([("docker.io".to_string(), Budget { requests: 2, per })]),
            None,
            Duration::from_secs(60),
        );
        assert_eq!(gates.closed("docker.io", Instant::now()), None);
        gates.pause("ghcr.io", Instant::now() + per, "test".into());
        assert!(gates.closed("ghcr.io", Instant::now()).is_some());
        assert_eq!(gates.closed("docker.io", Instant::now()), None);
    }
}
