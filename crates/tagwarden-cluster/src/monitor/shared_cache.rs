//! The `tagwarden_shared_cache_*` metrics: what the cache a fleet shares in Redis
//! ([`tagwarden_registry::shared`]) did, read from its counters at scrape time.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tagwarden_shared_cache_requests_total` | counter | `result` (`hit`, `miss`, `error`) |
//! | `tagwarden_shared_cache_fallbacks_total` | counter | |
//! | `tagwarden_shared_cache_budget_spent_total` | counter | |
//! | `tagwarden_shared_cache_up` | gauge | |
//!
//! Written only when `serve` has a shared cache ([`super::Metrics::watch_shared_cache`]).

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tagwarden_registry::SharedCache;

/// The shared cache whose counters are written, once there is one.
#[derive(Default)]
pub(crate) struct SharedCacheView {
    pub(crate) cache: Mutex<Option<SharedCache>>,
}

impl SharedCacheView {
    /// A view registered in `registry`, written once it is given a cache.
    pub(crate) fn registered(registry: &mut Registry) -> Arc<SharedCacheView> {
        let view = Arc::new(SharedCacheView::default());
        registry.register_collector(Box::new(view.clone()));
        view
    }
}

impl std::fmt::Debug for SharedCacheView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCacheView")
    }
}

impl Collector for SharedCacheView {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(cache) = self.cache.lock().expect("view poisoned").clone() else {
            return Ok(());
        };
        let stats = cache.stats();
        let mut requests = encoder.encode_descriptor(
            "tagwarden_shared_cache_requests",
            "Questions put to the shared cache, by result: hit (answered from Redis), miss (asked the registry and shared the answer), error (a Redis command failed or timed out)",
            None,
            MetricType::Counter,
        )?;
        for (result, count) in [
            ("hit", stats.hits),
            ("miss", stats.misses),
            ("error", stats.errors),
        ] {
            ConstCounter::new(count).encode(requests.encode_family(&[("result", result)])?)?;
        }
        let plain = [
            (
                "tagwarden_shared_cache_fallbacks",
                "Questions and budget checks decided by this process alone because the shared cache could not help (down, slow, or no answer in time)",
                stats.fallbacks,
            ),
            (
                "tagwarden_shared_cache_budget_spent",
                "Registry requests not sent because the fleet's request budget in the shared cache was spent",
                stats.budget_spent,
            ),
        ];
        for (name, help, count) in plain {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(count).encode(metric)?;
        }
        let up = encoder.encode_descriptor(
            "tagwarden_shared_cache_up",
            "1 while the shared cache answers, 0 after a failure until it answers again",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(cache.is_up())).encode(up)
    }
}
