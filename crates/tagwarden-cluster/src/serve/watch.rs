//! Watching the cluster: one list-then-watch loop and `reflector` store per kind (and per
//! namespace, when only some are watched), `managedFields` stripped before storing.
//!
//! The loop is tagwarden's own rather than kube-runtime's `watcher`: that one reconnects a
//! watch that *ends* (a clean end of the stream, not an error) at once and without a
//! backoff, inside a future that never yields, so a server or proxy that closes watches
//! at once made `serve` send thousands of requests a second without a word. Here:
//!
//! - a dropped watch resumes from its last resourceVersion (no new list); a `410 Gone`
//!   lists again;
//! - every failure (a list or watch refused, a stream error, a watch that ended within
//!   [`HEALTHY_AFTER`] without delivering anything) waits an exponential, jittered
//!   backoff (0.8 s doubling to 30 s), reset once the watch is healthy again (it delivered
//!   an event or stayed open [`HEALTHY_AFTER`]);
//! - the first failure is logged as a warning, with the server's words, and so is the
//!   return to health; repeats in between are debug lines;
//! - every restart counts in `tagwarden_watch_restarts_total{kind}`.
//!
//! **Optional kinds.** Nodes (platforms) and ServiceAccounts (their pull secrets) are not
//! needed to check images: when listing them is forbidden (403) or not served (404), one
//! warning says what is lost, their store counts as synced (empty), and they are tried
//! again every [`OPTIONAL_RETRY`] quietly. `scan` degrades the same way.
//!
//! Every change wakes [`Watched::changed`]; [`Watched::objects`] is a snapshot of every
//! store, which [`crate::inventory`] turns into image uses exactly as `scan` does.

use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, ServiceAccount};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::error::one_line;
use crate::inventory::Objects;
use crate::monitor::Metrics;

/// A watch that stays open this long (or delivers an event) is healthy: the backoff
/// resets. One that ends sooner without a word is a failure.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(5);
/// How often an optional kind that is forbidden or absent is tried again.
pub(crate) const OPTIONAL_RETRY: Duration = Duration::from_secs(300);
/// The backoff after failures: first delay, ceiling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(800), Duration::from_secs(30));
/// Objects per page of a list.
const PAGE_SIZE: u32 = 500;
/// The server ends a watch after this many seconds (kube-runtime's default).
const WATCH_TIMEOUT_SECS: u32 = 290;

/// What `serve` watches: k8s-openapi's types (static kinds, `DynamicType = ()`).
pub(crate) trait Watchable:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Watchable for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// The stores of one kind: one for every namespace, or one per watched namespace.
struct Stores<K: Watchable> {
    stores: Vec<Store<K>>,
}

impl<K: Watchable> Stores<K> {
    /// Every object of every store.
    fn state(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(Store::state).collect()
    }

    /// Waits until every store has its first list.
    async fn ready(&self) {
        for store in &self.stores {
            // A dropped writer means the watcher task ended (shutdown): nothing to wait for.
            let _ = store.wait_until_ready().await;
        }
    }
}

/// Every store `serve` keeps, and the tasks filling them.
pub(crate) struct Watched {
    deployments: Stores<Deployment>,
    stateful_sets: Stores<StatefulSet>,
    daemon_sets: Stores<DaemonSet>,
    replica_sets: Stores<ReplicaSet>,
    replication_controllers: Stores<ReplicationController>,
    jobs: Stores<Job>,
    cron_jobs: Stores<CronJob>,
    pods: Stores<Pod>,
    nodes: Stores<Node>,
    service_accounts: Stores<ServiceAccount>,
    /// Woken after any change in any store.
    pub changed: Arc<Notify>,
    /// The watcher tasks; dropped (aborted) with this.
    _tasks: JoinSet<()>,
}

/// The kinds `serve` watches, for `tagwarden_watch_restarts_total` from the start.
pub(crate) const KINDS: [&str; 10] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
    "Node",
    "ServiceAccount",
];

impl Watched {
    /// Starts the watchers: every namespace when `namespaces` is empty, else each of them.
    pub fn start(client: &kube::Client, namespaces: &[String], metrics: &Metrics) -> Watched {
        let changed = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let mut start = Starter {
            client,
            namespaces,
            changed: &changed,
            metrics,
            tasks: &mut tasks,
        };
        Watched {
            deployments: start.namespaced(None),
            stateful_sets: start.namespaced(None),
            daemon_sets: start.namespaced(None),
            replica_sets: start.namespaced(None),
            replication_controllers: start.namespaced(None),
            jobs: start.namespaced(None),
            cron_jobs: start.namespaced(None),
            pods: start.namespaced(None),
            nodes: start.cluster_wide(Some(
                "images are not checked for the nodes' platforms; pass --platform to name them",
            )),
            service_accounts: start
                .namespaced(Some("the pull secrets ServiceAccounts add are not used")),
            changed,
            _tasks: tasks,
        }
    }

    /// Waits until every store has its first list (what `/readyz` waits for); an optional
    /// kind that cannot be listed counts as listed, empty.
    pub async fn ready(&self) {
        self.deployments.ready().await;
        self.stateful_sets.ready().await;
        self.daemon_sets.ready().await;
        self.replica_sets.ready().await;
        self.replication_controllers.ready().await;
        self.jobs.ready().await;
        self.cron_jobs.ready().await;
        self.pods.ready().await;
        self.nodes.ready().await;
        self.service_accounts.ready().await;
    }

    /// A snapshot of every store, without the namespaces in `skip`.
    pub fn objects(&self, skip: &[String]) -> Objects {
        fn kept<K: ResourceExt>(objects: Vec<Arc<K>>, skip: &[String]) -> Vec<Arc<K>> {
            if skip.is_empty() {
                return objects;
            }
            objects
                .into_iter()
                .filter(|o| !o.namespace().is_some_and(|ns| skip.contains(&ns)))
                .collect()
        }
        Objects {
            deployments: kept(self.deployments.state(), skip),
            stateful_sets: kept(self.stateful_sets.state(), skip),
            daemon_sets: kept(self.daemon_sets.state(), skip),
            replica_sets: kept(self.replica_sets.state(), skip),
            replication_controllers: kept(self.replication_controllers.state(), skip),
            jobs: kept(self.jobs.state(), skip),
            cron_jobs: kept(self.cron_jobs.state(), skip),
            pods: kept(self.pods.state(), skip),
            events: Vec::new(),
            nodes: self.nodes.state(),
            service_accounts: kept(self.service_accounts.state(), skip),
            warnings: Vec::new(),
            selected: None,
        }
    }
}

/// Starts watcher tasks.
struct Starter<'a> {
    client: &'a kube::Client,
    namespaces: &'a [String],
    changed: &'a Arc<Notify>,
    metrics: &'a Metrics,
    tasks: &'a mut JoinSet<()>,
}

impl Starter<'_> {
    fn namespaced<K>(&mut self, optional: Option<&'static str>) -> Stores<K>
    where
        K: Watchable + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        let apis: Vec<Api<K>> = if self.namespaces.is_empty() {
            vec![Api::all(self.client.clone())]
        } else {
            self.namespaces
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect()
        };
        Stores {
            stores: apis
                .into_iter()
                .map(|api| self.watch(api, optional))
                .collect(),
        }
    }

    fn cluster_wide<K>(&mut self, optional: Option<&'static str>) -> Stores<K>
    where
        K: Watchable + Resource<Scope = k8s_openapi::ClusterResourceScope>,
    {
        Stores {
            stores: vec![self.watch(Api::all(self.client.clone()), optional)],
        }
    }

    /// One watch loop feeding one store; every event wakes `changed`.
    fn watch<K: Watchable>(&mut self, api: Api<K>, optional: Option<&'static str>) -> Store<K> {
        let (reader, writer) = reflector::store::<K>();
        let watch = WatchLoop {
            url: api.resource_url().to_string(),
            kind: K::kind(&()).to_string(),
            api,
            writer,
            changed: self.changed.clone(),
            metrics: self.metrics.clone(),
            optional,
            backoff: Backoff::default(),
            failing: false,
            given_up: false,
        };
        self.tasks.spawn(watch.run());
        reader
    }
}

/// The exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let (first, most) = BACKOFF;
        let full = first
            .saturating_mul(1u32 << self.failures.min(16))
            .min(most);
        self.failures = self.failures.saturating_add(1);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let fraction = 0.5 + (random % 1_000) as f64 / 2_000.0;
        full.mul_f64(fraction)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// How one watch ended.
enum Ended {
    /// It ended or broke; resume from this resourceVersion. `healthy`: it was.
    Resume {
        resource_version: String,
        why: Option<String>,
    },
    /// `410 Gone`: the resourceVersion is too old; list again.
    Gone,
}

/// One kind (in one namespace, or all): list, then watch, for ever.
struct WatchLoop<K: Watchable> {
    api: Api<K>,
    url: String,
    kind: String,
    writer: Writer<K>,
    changed: Arc<Notify>,
    metrics: Metrics,
    /// For an optional kind, what is lost without it.
    optional: Option<&'static str>,
    backoff: Backoff,
    /// Between a failure and the return to health.
    failing: bool,
    /// An optional kind that is forbidden or absent: its store is synced empty.
    given_up: bool,
}

impl<K: Watchable> WatchLoop<K> {
    async fn run(mut self) {
        let mut resume: Option<String> = None;
        let mut first = true;
        loop {
            if !first {
                self.metrics.count_watch_restart(&self.kind);
            }
            first = false;
            let resource_version = match resume.take() {
                Some(rv) => rv,
                None => match self.list().await {
                    Ok(rv) => rv,
                    Err(e) => {
                        let wait = self.list_failed(&e);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                },
            };
            match self.watch_from(resource_version).await {
                Ended::Resume {
                    resource_version,
                    why,
                } => {
                    resume = Some(resource_version);
                    if let Some(why) = why {
                        self.failed(&why);
                        tokio::time::sleep(self.backoff.next()).await;
                    }
                }
                Ended::Gone => {
                    tracing::debug!(watch = %self.url, "410 Gone: listing again");
                }
            }
        }
    }

    /// Lists every object (all pages) into the store; the list's resourceVersion.
    async fn list(&mut self) -> Result<String, kube::Error> {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        let mut objects = Vec::new();
        let resource_version = loop {
            let page = self.api.list(&params).await?;
            objects.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break page.metadata.resource_version.unwrap_or_default(),
            }
        };
        if self.given_up {
            tracing::info!(watch = %self.url, "{} can be listed now", plural(&self.kind));
            self.given_up = false;
        }
        self.writer.apply_watcher_event(&watcher::Event::Init);
        for mut object in objects {
            object.managed_fields_mut().clear();
            self.writer
                .apply_watcher_event(&watcher::Event::InitApply(object));
        }
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
        self.changed.notify_one();
        Ok(resource_version)
    }

    /// A list failed: say so (once), and how long to wait. An optional kind that is
    /// forbidden or absent is given up: synced empty, tried again now and then.
    fn list_failed(&mut self, error: &kube::Error) -> Duration {
        let code = match error {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        };
        if let (Some(lost), Some(403 | 404)) = (self.optional, code) {
            if !self.given_up {
                tracing::warn!(
                    "cannot list {} ({}): {lost}",
                    plural(&self.kind),
                    describe(error)
                );
                self.given_up = true;
                self.writer.apply_watcher_event(&watcher::Event::Init);
                self.writer.apply_watcher_event(&watcher::Event::InitDone);
                self.changed.notify_one();
            }
            return OPTIONAL_RETRY;
        }
        self.failed(&format!("cannot list: {}", describe(error)));
        self.backoff.next()
    }

    /// Watches from `resource_version` until the watch ends.
    async fn watch_from(&mut self, mut resource_version: String) -> Ended {
        let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
        let stream = match self.api.watch(&params, &resource_version).await {
            Ok(stream) => stream,
            Err(e) => {
                return Ended::Resume {
                    resource_version,
                    why: Some(format!("cannot watch: {}", describe(&e))),
                };
            }
        };
        let mut stream = std::pin::pin!(stream);
        let healthy_at = tokio::time::Instant::now() + HEALTHY_AFTER;
        let mut healthy = false;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = tokio::time::sleep_until(healthy_at), if !healthy => {
                    healthy = true;
                    self.healthy();
                    continue;
                }
            };
            let event = match item {
                None if healthy => {
                    return Ended::Resume {
                        resource_version,
                        why: None,
                    };
                }
                None => {
                    return Ended::Resume {
                        resource_version,
                        why: Some("the watch ended at once".to_string()),
                    };
                }
                Some(Err(e)) => {
                    return Ended::Resume {
                        resource_version,
                        why: Some(format!("the watch broke: {}", describe(&e))),
                    };
                }
                Some(Ok(event)) => event,
            };
            match event {
                WatchEvent::Added(mut object) | WatchEvent::Modified(mut object) => {
                    resource_version = object.resource_version().unwrap_or(resource_version);
                    object.managed_fields_mut().clear();
                    self.writer
                        .apply_watcher_event(&watcher::Event::Apply(object));
                    self.changed.notify_one();
                }
                WatchEvent::Deleted(object) => {
                    resource_version = object.resource_version().unwrap_or(resource_version);
                    self.writer
                        .apply_watcher_event(&watcher::Event::Delete(object));
                    self.changed.notify_one();
                }
                WatchEvent::Bookmark(bookmark) => {
                    resource_version = bookmark.metadata.resource_version;
                }
                WatchEvent::Error(status) if status.code == 410 => return Ended::Gone,
                WatchEvent::Error(status) => {
                    return Ended::Resume {
                        resource_version,
                        why: Some(format!(
                            "the watch said {} ({})",
                            status.message, status.code
                        )),
                    };
                }
            }
            if !healthy {
                healthy = true;
                self.healthy();
            }
        }
    }

    /// A failure: the first one after health is a warning, the others debug lines.
    fn failed(&mut self, why: &str) {
        if self.failing {
            tracing::debug!(watch = %self.url, "{why}; retrying");
        } else {
            tracing::warn!(
                watch = %self.url,
                "watching {} failed, retrying with a backoff: {why}",
                plural(&self.kind)
            );
            self.failing = true;
        }
    }

    /// The watch works: the backoff resets, and a recovery is said once.
    fn healthy(&mut self) {
        self.backoff.reset();
        if self.failing {
            self.failing = false;
            tracing::warn!(watch = %self.url, "watching {} works again", plural(&self.kind));
        }
    }
}

/// `Nodes`, `ServiceAccounts`, `Pods` (for messages).
fn plural(kind: &str) -> String {
    format!("{kind}s")
}

/// An API error in the server's words (`nodes is forbidden: User … (403)`), else one line.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => one_line(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_with_jitter_to_its_ceiling_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next()).collect();
        assert!(delays[0] >= Duration::from_millis(400) && delays[0] <= BACKOFF.0);
        assert!(delays[1] >= Duration::from_millis(800) && delays[1] <= BACKOFF.0 * 2);
        assert!(delays.iter().all(|d| *d <= BACKOFF.1), "{delays:?}");
        assert!(delays[9] >= BACKOFF.1 / 2, "{delays:?}");
        backoff.reset();
        assert!(backoff.next() <= BACKOFF.0);
    }
}
