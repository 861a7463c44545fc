//! How often the monitor asks, and how much each registry may be asked.

use std::collections::HashMap;
use std::time::Duration;

use tagwarden_registry::{ClientOptions, InspectOptions, Observer, RequestEvent};

use super::{Metrics, RegistryGates};

/// A request budget: at most `requests` registry requests (HEADs, GETs; token requests
/// are not counted) per `per`. When it is used up, the registry's checks wait for the
/// next window. Checks already running finish, so a window may overrun by a few.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests per window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
}

/// How often a present image is checked by default (`serve --present-interval`).
pub const PRESENT_EVERY: Duration = Duration::from_secs(3600);
/// How often a missing or invalid image is checked by default (`serve --failing-interval`).
pub const FAILING_EVERY: Duration = Duration::from_secs(300);
/// The first and the longest wait before an undetermined image is asked again by default
/// (`serve --undetermined-max-backoff` sets the second).
pub const UNDETERMINED_BACKOFF: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(1800));

/// The monitor's schedule and limits. `Default` is what `serve` uses without settings.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// Recheck a present image this often (default 1 hour): tag drift shows up within it.
    pub present_every: Duration,
    /// Recheck a missing or invalid image this often (default 5 minutes): a fix shows
    /// up within it.
    pub failing_every: Duration,
    /// Recheck an undetermined image (denied, unreachable, rate-limited) after the first
    /// delay, doubling on each further undetermined answer up to the second (default
    /// 30 s to 30 min). A decided answer resets it.
    pub undetermined_backoff: (Duration, Duration),
    /// How long a registry is paused after a 429 that names no `Retry-After` and no
    /// rate-limit window (default 1 minute).
    pub rate_limit_pause: Duration,
    /// What to ask about every image (tracking, fallback policy). Its `concurrency` bounds
    /// the checks in flight at once. Empty `platforms`: each image is checked for the
    /// platforms of the nodes its Pods could run on (as `scan` does).
    pub inspect: InspectOptions,
    /// Request budgets by registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). Default:
    /// Docker Hub gets 600 requests per hour (HEADs are free on its pull limit, but it
    /// throttles heavy callers); others have none.
    pub budgets: HashMap<String, Budget>,
    /// The budget of every registry not in `budgets` (default: none).
    pub default_budget: Option<Budget>,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            present_every: PRESENT_EVERY,
            failing_every: FAILING_EVERY,
            undetermined_backoff: UNDETERMINED_BACKOFF,
            rate_limit_pause: Duration::from_secs(60),
            inspect: InspectOptions::default(),
            budgets: HashMap::from([(
                "docker.io".to_string(),
                Budget {
                    requests: 600,
                    per: Duration::from_secs(3600),
                },
            )]),
            default_budget: None,
        }
    }
}

impl MonitorOptions {
    /// The budget of `registry`, if it has one.
    pub fn budget_of(&self, registry: &str) -> Option<Budget> {
        self.budgets.get(registry).copied().or(self.default_budget)
    }
}

/// Makes `options` fit for the monitor's client; call it before building the client you
/// give [`super::Monitor::new`] (and the webhook):
///
/// - **Fresh answers.** The client remembers answers in memory (present for 10 minutes,
///   missing for 1) so that one `check` run asks once. A monitor must see a tag deleted or
///   retagged at its next check, and `check_soon` must ask *now*, so the memory TTLs are
///   set to zero: concurrent identical questions still cost one request (single flight),
///   but nothing is reused afterwards. Build it without a disk cache too
///   ([`tagwarden_registry::DiskCacheLocation::Off`]), for the same reason.
/// - **The gates, always.** `gates` observe every request: that is how the monitor and the
///   webhook hear of `Retry-After`, `ratelimit-remaining: 0` and the request budgets.
/// - **The metrics, when given.** `metrics` observe every request too, for the
///   `tagwarden_registry_*` metrics; without them the budgets hold all the same.
///
/// An observer already in `options` is replaced.
pub fn prepare_client_options(
    options: &mut ClientOptions,
    gates: &RegistryGates,
    metrics: Option<&Metrics>,
) {
    options.found_ttl = Duration::ZERO;
    options.missing_ttl = Duration::ZERO;
    let gates = gates.clone();
    let metrics = metrics.cloned();
    options.observer = Some(std::sync::Arc::new(move |event: &RequestEvent| {
        gates.on_request(event);
        if let Some(metrics) = &metrics {
            metrics.on_request(event);
        }
    }));
}
