//! The webhook's metrics, registered into the caller's registry so that they sit next to
//! the monitor's on `/metrics`:
//!
//! - `tagwarden_webhook_decisions_total{decision}`: one per admission request, by what
//!   became of it: `rewritten` (at least one image replaced), `unchanged` (nothing to do,
//!   out of scope, or missing with no fallback), `timeout` (the engine's answer was not
//!   ready within the budget: allowed unchanged), `undetermined` (a registry did not let
//!   us decide: allowed unchanged), `error` (a request that could not be read, or a
//!   failed decision: allowed unchanged), `denied` (`/validate` refused the Pod). Every
//!   value is there from the start, at 0, so that `rate()` and alerts see it;
//! - `tagwarden_webhook_duration_seconds`: how long answers took (histogram, 1 ms to 4 s).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// What became of one admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Rewritten,
    Unchanged,
    Timeout,
    Undetermined,
    Error,
    Denied,
}

impl Decision {
    const ALL: [Decision; 6] = [
        Decision::Rewritten,
        Decision::Unchanged,
        Decision::Timeout,
        Decision::Undetermined,
        Decision::Error,
        Decision::Denied,
    ];

    /// The label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Decision::Rewritten => "rewritten",
            Decision::Unchanged => "unchanged",
            Decision::Timeout => "timeout",
            Decision::Undetermined => "undetermined",
            Decision::Error => "error",
            Decision::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

/// The counters and the histogram; clones share them.
#[derive(Debug, Clone)]
pub(crate) struct WebhookMetrics {
    decisions: Family<DecisionLabels, Counter>,
    duration: Histogram,
}

impl WebhookMetrics {
    pub(crate) fn new() -> WebhookMetrics {
        let decisions = Family::<DecisionLabels, Counter>::default();
        for decision in Decision::ALL {
            let _ = decisions.get_or_create(&DecisionLabels {
                decision: decision.label(),
            });
        }
        WebhookMetrics {
            decisions,
            // 1 ms … ~4 s: warm answers, cold ones, and the 2 s budget.
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 13)),
        }
    }

    /// Adds both metrics to `registry` (which must not hold them yet).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "tagwarden_webhook_decisions",
            "Admission requests by what became of them: rewritten, unchanged, timeout, undetermined, error, denied",
            self.decisions.clone(),
        );
        registry.register(
            "tagwarden_webhook_duration_seconds",
            "How long the admission webhook took to answer",
            self.duration.clone(),
        );
    }

    /// Counts one answer.
    pub(crate) fn record(&self, decision: Decision, seconds: f64) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: decision.label(),
            })
            .inc();
        self.duration.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_is_exposed_from_the_start() {
        let metrics = WebhookMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record(Decision::Timeout, 0.5);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("tagwarden_webhook_decisions_total{decision=\"timeout\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tagwarden_webhook_decisions_total{decision=\"rewritten\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("tagwarden_webhook_duration_seconds_count 1"),
            "{text}"
        );
    }
}
