//! The monitor's Prometheus metrics, with bounded cardinality.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tagwarden_images` | gauge | `registry`, `status` (all six statuses per registry in use) |
//! | `tagwarden_image_unavailable` | gauge | `namespace`, `kind`, `workload`, `container`, `image`, `reason` |
//! | `tagwarden_image_fallback_info` | gauge (1) | `image`, `fallback` |
//! | `tagwarden_image_tag_changes_total` | counter | `registry`, `kind` (`deleted`, `retagged`) |
//! | `tagwarden_registry_requests_total` | counter | `registry`, `operation`, `code` |
//! | `tagwarden_registry_request_duration_seconds` | histogram | `registry`, `operation` |
//! | `tagwarden_registry_rate_limit_remaining` | gauge | `registry` |
//! | `tagwarden_check_cycle_duration_seconds` | histogram | |
//! | `tagwarden_last_full_check_timestamp_seconds` | gauge | |
//! | `tagwarden_is_leader` | gauge | |
//! | `tagwarden_build_info` | gauge (1) | `version` |
//! | `tagwarden_cluster_info` | gauge (1) | `git_version`, `minor` (the version followed now) |
//! | `tagwarden_watch_restarts_total` | counter | `kind` (every watched kind, from the start) |
//! | `tagwarden_shared_cache_*` | | with a shared cache only: see `monitor/shared_cache.rs` |
//!
//! **Every family from the first scrape.** Each family is registered at start, so its
//! `HELP`/`TYPE` is there before anything happened, and label values known in advance
//! have their series at 0: `tagwarden_image_tag_changes_total` for `deleted` and
//! `retagged` of every registry in use ([`Metrics::know_registries`]),
//! `tagwarden_watch_restarts_total` for every kind `serve` watches
//! ([`Metrics::know_watched_kinds`]) and the webhook's decisions. A counter that appears
//! only when it first rises hides that first rise from `rate()` and `increase()`.
//!
//! **Derived at scrape time.** The first three are not stored as series: they are
//! written from the monitor's state on each scrape (a [`Collector`]), so a recovered image
//! or a deleted workload simply has no series any more, and nothing can go stale. Only
//! unavailable images have per-workload series; a healthy image costs nothing but its
//! share of `tagwarden_images`.
//!
//! **The registry metrics** come from the client: [`Metrics`] is an [`Observer`]; give it
//! to the monitor's client ([`super::prepare_client_options`]). It only counts: the
//! request budgets and rate-limit pauses are an observer of their own
//! ([`super::RegistryGates`]), so a client without metrics still keeps them. `code` is the HTTP status
//! (`200`, `404`, `429`) or the failure class (`timeout`, `connect`, `tls`,
//! `interrupted`, `too_large`).
//!
//! [`Metrics::encode`] writes the Prometheus text format 0.0.4 ([`Metrics::CONTENT_TYPE`]),
//! which every Prometheus and `promtool check metrics` read; [`Metrics::encode_openmetrics`]
//! writes OpenMetrics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tagwarden_registry::{Observer, RequestEvent, RequestOutcome};

use super::Status;
use super::book::Book;
use super::gates::leading_number;
use super::shared_cache::SharedCacheView;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TagChangeLabels {
    registry: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    registry: String,
    operation: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    registry: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    git_version: String,
    minor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Every metric of `serve`. Cheap to clone (clones share everything); `Send + Sync`.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// The one registry `/metrics` encodes: the monitor's families, and those added with
    /// [`Metrics::register`] (the webhook's, in `serve`).
    registry: RwLock<Registry>,
    tag_changes: Family<TagChangeLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    rate_limit_remaining: Family<RegistryLabels, Gauge>,
    cycle_duration: Histogram,
    last_full_check: Gauge<f64, AtomicU64>,
    is_leader: Gauge,
    cluster_info: Family<ClusterLabels, Gauge>,
    watch_restarts: Family<KindLabels, Counter>,
    /// The monitor's state, for the series derived at scrape time.
    view: Arc<StateView>,
    /// The shared cache's counters (`tagwarden_shared_cache_*`), when there is one.
    shared_cache: Arc<SharedCacheView>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The content type of [`Metrics::encode`].
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
    /// The content type of [`Metrics::encode_openmetrics`].
    pub const OPENMETRICS_CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Every metric registered, `tagwarden_is_leader` 0, `tagwarden_build_info` set.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let view = Arc::new(StateView::default());
        registry.register_collector(Box::new(view.clone()));
        let shared_cache = SharedCacheView::registered(&mut registry);
        let tag_changes = shown(
            &mut registry,
            "tagwarden_image_tag_changes",
            "Tag drift seen: a tag that was present was deleted, or now points at another digest.",
            Family::<TagChangeLabels, Counter>::default(),
        );
        let requests = shown(
            &mut registry,
            "tagwarden_registry_requests",
            "Registry requests by operation and HTTP status (or failure class).",
            Family::<RequestLabels, Counter>::default(),
        );
        let durations = shown(
            &mut registry,
            "tagwarden_registry_request_duration_seconds",
            "Registry request duration, from sending the request to reading the whole answer.",
            Family::<OperationLabels, Histogram>::new_with_constructor(
                (|| Histogram::new(exponential_buckets(0.005, 2.0, 12))) as fn() -> Histogram,
            ),
        );
        let rate_limit_remaining = shown(
            &mut registry,
            "tagwarden_registry_rate_limit_remaining",
            "Requests left in the registry's rate-limit window (ratelimit-remaining), when it sends it.",
            Family::<RegistryLabels, Gauge>::default(),
        );
        let cycle_duration = Histogram::new(exponential_buckets(0.1, 2.0, 14));
        registry.register(
            "tagwarden_check_cycle_duration_seconds",
            "Duration of a full pass over the images that were due",
            cycle_duration.clone(),
        );
        let last_full_check = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "tagwarden_last_full_check_timestamp_seconds",
            "When a pass last ended with every known image answered (Unix time)",
            last_full_check.clone(),
        );
        let is_leader = Gauge::default();
        registry.register(
            "tagwarden_is_leader",
            "1 on the replica that checks images and sends Events",
            is_leader.clone(),
        );
        registry.register("tagwarden_build_info", "tagwarden's version", build_info());
        let cluster_info = shown(
            &mut registry,
            "tagwarden_cluster_info",
            "The Kubernetes version serve follows now (1; one series).",
            Family::<ClusterLabels, Gauge>::default(),
        );
        let watch_restarts = shown(
            &mut registry,
            "tagwarden_watch_restarts",
            "Watches started again after they ended or failed, by kind.",
            Family::<KindLabels, Counter>::default(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                tag_changes,
                requests,
                durations,
                rate_limit_remaining,
                cycle_duration,
                last_full_check,
                is_leader,
                cluster_info,
                watch_restarts,
                view,
                shared_cache,
            }),
        }
    }

    /// Everything, in the Prometheus text format 0.0.4 ([`Metrics::CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry())
            .expect("writing to a String cannot fail");
        text
    }

    /// Everything, in OpenMetrics text ([`Metrics::OPENMETRICS_CONTENT_TYPE`]).
    pub fn encode_openmetrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry())
            .expect("writing to a String cannot fail");
        text
    }

    /// Adds more families to the registry these metrics are encoded from, so that one
    /// `/metrics` (one registry, one encoding) serves them all: `serve` adds the webhook's
    /// ([`crate::webhook::Webhook::register_metrics`]). Register each family once.
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self
            .inner
            .registry
            .write()
            .expect("metrics registry poisoned"));
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.inner
            .registry
            .read()
            .expect("metrics registry poisoned")
    }

    /// Set `tagwarden_is_leader`.
    pub fn set_leader(&self, leader: bool) {
        self.inner.is_leader.set(i64::from(leader));
    }

    /// Set `tagwarden_cluster_info` to this version alone (`v1.32.1-eks-5e0fdde`, `32`).
    pub fn set_cluster_version(&self, git_version: &str, minor: u64) {
        let family = &self.inner.cluster_info;
        family.clear();
        family
            .get_or_create(&ClusterLabels {
                git_version: git_version.to_string(),
                minor: minor.to_string(),
            })
            .set(1);
    }

    /// `tagwarden_watch_restarts_total` at 0 for each of `kinds`.
    pub fn know_watched_kinds(&self, kinds: &[&str]) {
        for kind in kinds {
            let _ = self.inner.watch_restarts.get_or_create(&KindLabels {
                kind: (*kind).to_string(),
            });
        }
    }

    /// Counts one restart of a watch of `kind`.
    pub fn count_watch_restart(&self, kind: &str) {
        self.inner
            .watch_restarts
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// `tagwarden_image_tag_changes_total` at 0 for `deleted` and `retagged` of each of
    /// `registries` (known once an image of theirs is in use).
    pub fn know_registries<'a>(&self, registries: impl IntoIterator<Item = &'a String>) {
        for registry in registries {
            for kind in ["deleted", "retagged"] {
                let _ = self.inner.tag_changes.get_or_create(&TagChangeLabels {
                    registry: registry.clone(),
                    kind: kind.to_string(),
                });
            }
        }
    }

    /// Write the `tagwarden_shared_cache_*` metrics (requests by result, fallbacks, budget
    /// spent, up) from `cache`'s counters on every scrape.
    pub fn watch_shared_cache(&self, cache: tagwarden_registry::SharedCache) {
        *self.inner.shared_cache.cache.lock().expect("view poisoned") = Some(cache);
    }

    pub(crate) fn attach(&self, book: Weak<Mutex<Book>>) {
        *self.inner.view.book.lock().expect("view poisoned") = Some(book);
    }

    pub(crate) fn count_tag_change(&self, registry: &str, kind: &str) {
        self.inner
            .tag_changes
            .get_or_create(&TagChangeLabels {
                registry: registry.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    pub(crate) fn observe_cycle(&self, seconds: f64, every_image_answered: bool) {
        self.inner.cycle_duration.observe(seconds);
        if every_image_answered {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.inner.last_full_check.set(now);
        }
    }
}

impl Observer for Metrics {
    fn on_request(&self, event: &RequestEvent) {
        let inner = &self.inner;
        let code = match event.outcome {
            RequestOutcome::Status(status) => status.to_string(),
            RequestOutcome::Error(class) => class.as_str().to_string(),
            _ => "other".to_string(),
        };
        inner
            .requests
            .get_or_create(&RequestLabels {
                registry: event.registry.clone(),
                operation: event.operation.as_str().to_string(),
                code,
            })
            .inc();
        inner
            .durations
            .get_or_create(&OperationLabels {
                registry: event.registry.clone(),
                operation: event.operation.as_str().to_string(),
            })
            .observe(event.duration.as_secs_f64());
        if let Some(remaining) = event
            .rate_limit
            .as_ref()
            .and_then(|l| l.remaining.as_deref())
            .and_then(leading_number)
        {
            inner
                .rate_limit_remaining
                .get_or_create(&RegistryLabels {
                    registry: event.registry.clone(),
                })
                .set(i64::try_from(remaining).unwrap_or(i64::MAX));
        }
    }
}

/// `tagwarden_build_info`: 1, labelled with this build's version.
fn build_info() -> Family<VersionLabels, Gauge> {
    let build_info = Family::<VersionLabels, Gauge>::default();
    build_info
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    build_info
}

/// Registers `metric` under `name` (shown from the first scrape, see [`Shown`]) and gives
/// it back to be updated.
fn shown<M>(registry: &mut Registry, name: &'static str, help: &'static str, metric: M) -> M
where
    M: EncodeMetric + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    registry.register_collector(Box::new(Shown {
        name,
        help,
        metric: metric.clone(),
    }));
    metric
}

/// A family registered as a collector so that its `HELP` and `TYPE` are written even
/// while it has no series: `Registry::register` leaves empty families out, and a family
/// that appears only with its first series hides that first change from `rate()`.
#[derive(Debug)]
struct Shown<M> {
    name: &'static str,
    help: &'static str,
    metric: M,
}

impl<M: EncodeMetric + std::fmt::Debug + Send + Sync + 'static> Collector for Shown<M> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let metric =
            encoder.encode_descriptor(self.name, self.help, None, self.metric.metric_type())?;
        self.metric.encode(metric)
    }
}

/// The series written from the monitor's state on each scrape.
#[derive(Default)]
struct StateView {
    book: Mutex<Option<Weak<Mutex<Book>>>>,
}

impl std::fmt::Debug for StateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateView")
    }
}

/// The derived series, gathered under the book's lock and written after it is released.
#[derive(Default)]
struct Derived {
    images: BTreeMap<(String, Status), i64>,
    unavailable: BTreeSet<[String; 6]>,
    fallbacks: BTreeSet<(String, String)>,
}

impl StateView {
    fn derive(&self) -> Derived {
        let mut derived = Derived::default();
        let book = self.book.lock().expect("view poisoned").clone();
        let Some(book) = book.and_then(|b| b.upgrade()) else {
            return derived;
        };
        let book = book.lock().expect("book poisoned");
        for (image, entry) in &book.images {
            for status in Status::ALL {
                derived
                    .images
                    .entry((entry.registry.clone(), status))
                    .or_insert(0);
            }
            let Some(answer) = &entry.answer else {
                continue;
            };
            *derived
                .images
                .entry((entry.registry.clone(), answer.status))
                .or_insert(0) += 1;
            if answer.status.is_available() {
                continue;
            }
            for location in &entry.uses {
                derived.unavailable.insert([
                    location.namespace.clone(),
                    location.kind.clone(),
                    location.name.clone(),
                    location.container.clone(),
                    image.clone(),
                    answer.status.as_str().to_string(),
                ]);
            }
            if let Some(fallback) = &answer.fallback {
                derived.fallbacks.insert((image.clone(), fallback.clone()));
            }
        }
        derived
    }
}

impl Collector for StateView {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let derived = self.derive();
        let mut images = encoder.encode_descriptor(
            "tagwarden_images",
            "Unique images in use, by registry and status",
            None,
            MetricType::Gauge,
        )?;
        for ((registry, status), count) in &derived.images {
            let labels = [("registry", registry.as_str()), ("status", status.as_str())];
            ConstGauge::new(*count).encode(images.encode_family(&labels)?)?;
        }
        let mut unavailable = encoder.encode_descriptor(
            "tagwarden_image_unavailable",
            "1 while the image of this workload's container is not available; reason is its status",
            None,
            MetricType::Gauge,
        )?;
        for [namespace, kind, workload, container, image, reason] in &derived.unavailable {
            let labels = [
                ("namespace", namespace.as_str()),
                ("kind", kind.as_str()),
                ("workload", workload.as_str()),
                ("container", container.as_str()),
                ("image", image.as_str()),
                ("reason", reason.as_str()),
            ];
            ConstGauge::new(1i64).encode(unavailable.encode_family(&labels)?)?;
        }
        let mut fallbacks = encoder.encode_descriptor(
            "tagwarden_image_fallback_info",
            "A missing image that tracks the Kubernetes version has this published fallback",
            None,
            MetricType::Gauge,
        )?;
        for (image, fallback) in &derived.fallbacks {
            let labels = [("image", image.as_str()), ("fallback", fallback.as_str())];
            ConstGauge::new(1i64).encode(fallbacks.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
