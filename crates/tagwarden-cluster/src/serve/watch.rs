//! Watching the cluster: one list-then-watch loop and `reflector` store per kind (and per
//! namespace, when only some are watched), `managedFields` stripped before storing.
//!
//! The loop is tagwarden's own rather than kube-runtime's `watcher`: that one reconnects a
//! watch that *ends* (a clean end of the stream, not an error) at once and without a
//! backoff, inside a future that never yields, so a server or proxy that closes watches
//! at once made `serve` send thousands of requests a second without a word. Here:
//!
//! - **one watch per kind**, cluster-wide, unless namespaces are given (then one per kind
//!   and namespace);
//! - **streaming lists** where the server serves them (`WatchList`, beta in 1.32): the
//!   first read is a watch with `sendInitialEvents=true`, its initial events buffered in
//!   the store's writer until the `k8s.io/initial-events-end` bookmark, then applied at
//!   once; the watch goes on from there. A server that refuses them (`400`, `422`) or
//!   ignores them (a bookmark without the annotation) gets paged lists ([`PAGE_SIZE`])
//!   from then on; any other failure of a streaming list is followed by a paged list,
//!   whose failures have the backoff below;
//! - **idle watches stay open**: each asks for bookmarks (`allowWatchBookmarks=true`) and
//!   for the server to end it after `timeoutSeconds` ([`Timeouts::watch`], 290 s), on a
//!   client whose read timeout is longer than that ([`Cluster::watch_client`]): the 30 s
//!   read timeout of other requests is shorter than kube-apiserver's bookmark interval
//!   (about a minute), and cut every idle watch. A watch the server ends at its timeout is
//!   opened again at once from its last resourceVersion (events and bookmarks move it):
//!   no list, no warning, not counted as a restart;
//! - a dropped watch resumes from its last resourceVersion (no new list); a `410 Gone`
//!   lists again;
//! - every failure (a list or watch refused, a stream error, a watch that ended within
//!   [`HEALTHY_AFTER`] without delivering anything) waits an exponential, jittered
//!   backoff (0.8 s doubling to 30 s), reset once the watch is healthy again (it delivered
//!   an event or stayed open [`HEALTHY_AFTER`]);
//! - the first failure is logged as a warning, with the server's words, and so is the
//!   return to health; repeats in between are debug lines;
//! - every restart (after a failure, a `410 Gone` or a watch that ended early) counts in
//!   `tagwarden_watch_restarts_total{kind}`.
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

use crate::connection::{Cluster, Timeouts};
use crate::error::{ClusterError, one_line};
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
/// A watch that ended cleanly this close to its `timeoutSeconds` was ended by the server
/// at its timeout, as asked.
const EXPIRY_SLACK: Duration = Duration::from_secs(1);

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
    /// Lists go through the cluster's client, watches through its watch client.
    ///
    /// # Errors
    ///
    /// When a client cannot be made (the cluster's configuration).
    pub fn start(
        cluster: &Cluster,
        namespaces: &[String],
        metrics: &Metrics,
    ) -> Result<Watched, ClusterError> {
        let changed = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let clients = Clients {
            lists: cluster.client()?,
            watches: cluster.watch_client()?,
            timeouts: cluster.timeouts(),
        };
        let mut start = Starter {
            clients: &clients,
            namespaces,
            changed: &changed,
            metrics,
            tasks: &mut tasks,
        };
        Ok(Watched {
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
        })
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

/// The clients of the watch loops: one for lists, one (with a longer read timeout) for
/// watches.
struct Clients {
    lists: kube::Client,
    watches: kube::Client,
    timeouts: Timeouts,
}

/// Starts watcher tasks.
struct Starter<'a> {
    clients: &'a Clients,
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
        let clients = self.clients;
        let apis: Vec<(Api<K>, Api<K>)> = if self.namespaces.is_empty() {
            vec![(
                Api::all(clients.lists.clone()),
                Api::all(clients.watches.clone()),
            )]
        } else {
            self.namespaces
                .iter()
                .map(|ns| {
                    (
                        Api::namespaced(clients.lists.clone(), ns),
                        Api::namespaced(clients.watches.clone(), ns),
                    )
                })
                .collect()
        };
        Stores {
            stores: apis
                .into_iter()
                .map(|(lists, watches)| self.watch(lists, watches, optional))
                .collect(),
        }
    }

    fn cluster_wide<K>(&mut self, optional: Option<&'static str>) -> Stores<K>
    where
        K: Watchable + Resource<Scope = k8s_openapi::ClusterResourceScope>,
    {
        let lists = Api::all(self.clients.lists.clone());
        let watches = Api::all(self.clients.watches.clone());
        Stores {
            stores: vec![self.watch(lists, watches, optional)],
        }
    }

    /// One watch loop feeding one store; every event wakes `changed`.
    fn watch<K: Watchable>(
        &mut self,
        lists: Api<K>,
        watches: Api<K>,
        optional: Option<&'static str>,
    ) -> Store<K> {
        let (reader, writer) = reflector::store::<K>();
        let watch = WatchLoop {
            url: watches.resource_url().to_string(),
            kind: K::kind(&()).to_string(),
            lists,
            watches,
            watch_timeout: self.clients.timeouts.watch,
            writer,
            changed: self.changed.clone(),
            metrics: self.metrics.clone(),
            optional,
            backoff: Backoff::default(),
            failing: false,
            given_up: false,
            streaming: true,
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
    /// It ended or broke; resume from this resourceVersion. `why`: it failed, and why;
    /// `expired`: the server ended it at its `timeoutSeconds`, as asked.
    Resume {
        resource_version: String,
        why: Option<String>,
        expired: bool,
    },
    /// `410 Gone`: the resourceVersion is too old; list again.
    Gone,
    /// A streaming list did not reach its end (nothing of it was stored): list with pages.
    /// `refused`: the server does not serve streaming lists (`400`, `422`, or a bookmark
    /// without `k8s.io/initial-events-end`), so this loop stops asking.
    NotStreamed { refused: bool },
}

/// Where a watch starts.
enum Start {
    /// Resume from this resourceVersion.
    From(String),
    /// A streaming list: the current state as events, then the changes.
    StreamingList,
}

/// The annotation of the bookmark that ends a streaming list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// One kind (in one namespace, or all): list, then watch, for ever.
struct WatchLoop<K: Watchable> {
    /// For lists (the client with the usual read timeout).
    lists: Api<K>,
    /// For watches (the watch client, see [`Cluster::watch_client`]).
    watches: Api<K>,
    /// The `timeoutSeconds` asked of every watch.
    watch_timeout: Duration,
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
    /// Streaming lists are tried (until the server refuses one).
    streaming: bool,
}

impl<K: Watchable> WatchLoop<K> {
    async fn run(mut self) {
        let mut resume: Option<String> = None;
        // A streaming list that did not work is followed by a paged list.
        let mut paged_next = false;
        loop {
            let start = match resume.take() {
                Some(rv) => Start::From(rv),
                None if self.streaming && !std::mem::take(&mut paged_next) => Start::StreamingList,
                None => match self.list().await {
                    Ok(rv) => Start::From(rv),
                    Err(e) => {
                        let wait = self.list_failed(&e);
                        tokio::time::sleep(wait).await;
                        self.metrics.count_watch_restart(&self.kind);
                        continue;
                    }
                },
            };
            match self.watch_from(start).await {
                Ended::Resume {
                    resource_version,
                    why,
                    expired,
                } => {
                    resume = Some(resource_version);
                    if let Some(why) = why {
                        self.failed(&why);
                        tokio::time::sleep(self.backoff.next()).await;
                    }
                    // The server's own end of a watch at its timeout is routine, not a
                    // restart: kube-apiserver does it every few minutes to every watch.
                    if !expired {
                        self.metrics.count_watch_restart(&self.kind);
                    }
                }
                Ended::Gone => {
                    tracing::debug!(watch = %self.url, "410 Gone: listing again");
                    self.metrics.count_watch_restart(&self.kind);
                }
                // A paged list next, at once: its failures have their backoff.
                Ended::NotStreamed { refused } => {
                    paged_next = true;
                    if refused {
                        tracing::debug!(
                            watch = %self.url,
                            "the API server does not serve streaming lists: listing with pages"
                        );
                        self.streaming = false;
                    }
                }
            }
        }
    }

    /// Lists every object (all pages) into the store; the list's resourceVersion.
    async fn list(&mut self) -> Result<String, kube::Error> {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        let mut objects = Vec::new();
        let resource_version = loop {
            let page = self.lists.list(&params).await?;
            objects.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break page.metadata.resource_version.unwrap_or_default(),
            }
        };
        self.listed();
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

    /// The kind could be listed (an optional kind given up says it is back).
    fn listed(&mut self) {
        if self.given_up {
            tracing::info!(watch = %self.url, "{} can be listed now", plural(&self.kind));
            self.given_up = false;
        }
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

    /// Watches from `start` until the watch ends. A streaming list fills the store from
    /// its initial events, which are applied at once when their end bookmark comes.
    async fn watch_from(&mut self, start: Start) -> Ended {
        let timeout_secs = u32::try_from(self.watch_timeout.as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        // Bookmarks (on in both) keep the resourceVersion of a quiet watch current, so that
        // the next watch resumes from there, not from an old one.
        let (params, mut resource_version, mut initial) = match start {
            Start::From(rv) => (WatchParams::default().timeout(timeout_secs), rv, false),
            // No resourceVersion: the most recent state, read consistently.
            Start::StreamingList => (
                WatchParams::streaming_lists().timeout(timeout_secs),
                String::new(),
                true,
            ),
        };
        debug_assert!(params.bookmarks);
        let opened = tokio::time::Instant::now();
        let stream = match self.watches.watch(&params, &resource_version).await {
            Ok(stream) => stream,
            Err(e) if initial => {
                let refused = matches!(&e, kube::Error::Api(s) if matches!(s.code, 400 | 422));
                return Ended::NotStreamed { refused };
            }
            Err(e) => {
                return Ended::Resume {
                    resource_version,
                    why: Some(format!("cannot watch: {}", describe(&e))),
                    expired: false,
                };
            }
        };
        if initial {
            self.writer.apply_watcher_event(&watcher::Event::Init);
        }
        let mut stream = std::pin::pin!(stream);
        let healthy_at = opened + HEALTHY_AFTER;
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
                Some(Ok(event)) => event,
                _ if initial => return Ended::NotStreamed { refused: false },
                None if healthy => {
                    let lasted = opened.elapsed() + EXPIRY_SLACK;
                    return Ended::Resume {
                        resource_version,
                        why: None,
                        expired: lasted >= Duration::from_secs(timeout_secs.into()),
                    };
                }
                None => {
                    return Ended::Resume {
                        resource_version,
                        why: Some("the watch ended at once".to_string()),
                        expired: false,
                    };
                }
                Some(Err(e)) => {
                    return Ended::Resume {
                        resource_version,
                        why: Some(format!("the watch broke: {}", describe(&e))),
                        expired: false,
                    };
                }
            };
            if let Some(ended) = self.apply(event, &mut initial, &mut resource_version) {
                return ended;
            }
            if !healthy {
                healthy = true;
                self.healthy();
            }
        }
    }

    /// One event into the store (during a streaming list's initial events, into its
    /// buffer); `Some` when the event ends the watch.
    fn apply(
        &mut self,
        event: WatchEvent<K>,
        initial: &mut bool,
        resource_version: &mut String,
    ) -> Option<Ended> {
        match event {
            WatchEvent::Added(mut object) | WatchEvent::Modified(mut object) => {
                if let Some(rv) = object.resource_version() {
                    *resource_version = rv;
                }
                object.managed_fields_mut().clear();
                if *initial {
                    self.writer
                        .apply_watcher_event(&watcher::Event::InitApply(object));
                } else {
                    self.writer
                        .apply_watcher_event(&watcher::Event::Apply(object));
                    self.changed.notify_one();
                }
            }
            WatchEvent::Deleted(object) => {
                if let Some(rv) = object.resource_version() {
                    *resource_version = rv;
                }
                // Initial events are the objects that exist: a deletion is not one.
                if !*initial {
                    self.writer
                        .apply_watcher_event(&watcher::Event::Delete(object));
                    self.changed.notify_one();
                }
            }
            WatchEvent::Bookmark(bookmark) => {
                *resource_version = bookmark.metadata.resource_version;
                if *initial {
                    if !bookmark
                        .metadata
                        .annotations
                        .contains_key(INITIAL_EVENTS_END)
                    {
                        // A server that ignored sendInitialEvents.
                        return Some(Ended::NotStreamed { refused: true });
                    }
                    *initial = false;
                    self.listed();
                    self.writer.apply_watcher_event(&watcher::Event::InitDone);
                    self.changed.notify_one();
                }
            }
            WatchEvent::Error(_) if *initial => return Some(Ended::NotStreamed { refused: false }),
            WatchEvent::Error(status) if status.code == 410 => return Some(Ended::Gone),
            WatchEvent::Error(status) => {
                return Some(Ended::Resume {
                    resource_version: resource_version.clone(),
                    why: Some(format!(
                        "the watch said {} ({})",
                        status.message, status.code
                    )),
                    expired: false,
                });
            }
        }
        None
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
    use crate::connection::{ClusterOptions, Environment};
    use serde_json::json;
    use std::sync::Mutex;
    use tagwarden_testbed::{ApiRequest, ApiServer};

    /// The paths `serve` watches without namespaces: one per kind.
    const CLUSTER_WIDE: [&str; 10] = [
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/statefulsets",
        "/apis/apps/v1/daemonsets",
        "/apis/apps/v1/replicasets",
        "/api/v1/replicationcontrollers",
        "/apis/batch/v1/jobs",
        "/apis/batch/v1/cronjobs",
        "/api/v1/pods",
        "/api/v1/nodes",
        "/api/v1/serviceaccounts",
    ];

    /// The warnings (and errors) logged on this thread while it is the default subscriber.
    #[derive(Clone, Default)]
    struct Warnings(Arc<Mutex<Vec<String>>>);

    impl Warnings {
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    struct Message(String);

    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
            use std::fmt::Write as _;
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    impl tracing::Subscriber for Warnings {
        fn register_callsite(
            &self,
            _: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            tracing::subscriber::Interest::sometimes()
        }
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            *metadata.level() <= tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// The cluster of `api`'s kubeconfig, with `timeouts`.
    async fn cluster_of(api: &ApiServer, timeouts: Timeouts) -> Cluster {
        let options = ClusterOptions {
            kubeconfig: Some(api.kubeconfig_path().to_path_buf()),
            ..ClusterOptions::default()
        };
        Cluster::locate_in(&options, &Environment::default())
            .await
            .expect("the test API server's kubeconfig")
            .expect("a cluster")
            .with_timeouts(timeouts)
    }

    fn is_watch(request: &ApiRequest) -> bool {
        request.query.split('&').any(|p| p == "watch=true")
    }

    fn is_streaming_list(request: &ApiRequest) -> bool {
        is_watch(request) && param(request, "sendInitialEvents") == Some("true")
    }

    /// The requests for `path`: (lists, streaming lists included; watches, streaming
    /// lists included).
    fn requests_for(api: &ApiServer, path: &str) -> (Vec<ApiRequest>, Vec<ApiRequest>) {
        let requests: Vec<ApiRequest> = api
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        let lists = requests
            .iter()
            .filter(|r| !is_watch(r) || is_streaming_list(r))
            .cloned()
            .collect();
        (lists, requests.into_iter().filter(is_watch).collect())
    }

    /// A query parameter's value.
    fn param<'a>(request: &'a ApiRequest, name: &str) -> Option<&'a str> {
        request
            .query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    }

    /// The resourceVersion a watch started from, as a number.
    fn watched_from(request: &ApiRequest) -> u64 {
        param(request, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a watch without a resourceVersion: {request:?}"))
    }

    /// Waits (up to 30 s) until `done` says yes.
    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every kind's first watch is open.
    async fn wait_for_watches(api: &ApiServer, paths: &[&str]) {
        wait_until("a watch of every kind", || {
            paths.iter().all(|p| !requests_for(api, p).1.is_empty())
        })
        .await;
    }

    fn pod(name: &str) -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": "example.com/app:1.0"}]},
        })
    }

    fn has_pod(watched: &Watched, name: &str) -> bool {
        watched
            .objects(&[])
            .pods
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(name))
    }

    /// `tagwarden_watch_restarts_total` is 0 for every kind.
    fn assert_no_restarts(metrics: &Metrics) {
        let text = metrics.encode();
        let restarts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tagwarden_watch_restarts_total{"))
            .collect();
        assert_eq!(restarts.len(), KINDS.len(), "{text}");
        assert!(restarts.iter().all(|l| l.ends_with(" 0")), "{text}");
    }

    fn metrics() -> Metrics {
        let metrics = Metrics::new();
        metrics.know_watched_kinds(&KINDS);
        metrics
    }

    #[tokio::test]
    async fn an_idle_watch_outlives_the_read_timeout_one_per_kind() {
        let warnings = Warnings::default();
        let _logging = tracing::subscriber::set_default(warnings.clone());
        // No bookmarks during the test: the watches are silent for longer than the 2 s read
        // timeout, as a real watch is between kube-apiserver's bookmarks (about a minute)
        // against the 30 s read timeout.
        let api = ApiServer::builder()
            .empty()
            .bookmark_interval(Duration::from_secs(3600))
            .start();
        let timeouts = Timeouts {
            read: Duration::from_secs(2),
            watch: Duration::from_secs(60),
        };
        let cluster = cluster_of(&api, timeouts).await;
        let metrics = metrics();
        let watched = Watched::start(&cluster, &[], &metrics).expect("clients");
        tokio::time::timeout(Duration::from_secs(30), watched.ready())
            .await
            .expect("every kind listed");
        wait_for_watches(&api, &CLUSTER_WIDE).await;

        // Idle for longer than the read timeout, then a change.
        tokio::time::sleep(Duration::from_secs(5)).await;
        api.apply(pod("after-idle"));
        wait_until("the Pod made after the idle time", || {
            has_pod(&watched, "after-idle")
        })
        .await;

        for path in CLUSTER_WIDE {
            let (lists, watches) = requests_for(&api, path);
            assert_eq!((lists.len(), watches.len()), (1, 1), "{path}: {watches:?}");
            let watch = &watches[0];
            assert!(is_streaming_list(watch), "{watch:?}");
            assert_eq!(
                param(watch, "allowWatchBookmarks"),
                Some("true"),
                "{watch:?}"
            );
            assert_eq!(param(watch, "timeoutSeconds"), Some("60"), "{watch:?}");
        }
        // Cluster-wide, one per kind: nothing asked per namespace.
        let per_namespace: Vec<String> = api
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/namespaces/"))
            .map(|r| r.path)
            .collect();
        assert_eq!(per_namespace, Vec::<String>::new());
        assert_eq!(warnings.lines(), Vec::<String>::new());
        assert_no_restarts(&metrics);
    }

    #[tokio::test]
    async fn a_watch_the_server_ends_at_its_timeout_resumes_from_its_bookmark_quietly() {
        let warnings = Warnings::default();
        let _logging = tracing::subscriber::set_default(warnings.clone());
        let api = ApiServer::builder()
            .empty()
            .bookmark_interval(Duration::from_millis(500))
            .start();
        let timeouts = Timeouts {
            read: Duration::from_secs(2),
            watch: Duration::from_secs(6),
        };
        let cluster = cluster_of(&api, timeouts).await;
        let metrics = metrics();
        let watched = Watched::start(&cluster, &[], &metrics).expect("clients");
        wait_for_watches(&api, &CLUSTER_WIDE).await;
        // An object no watch sees moves the resourceVersion: only bookmarks carry it.
        let moved = api.apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "unwatched", "namespace": "shop"},
        }));
        let moved: u64 = moved["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("a stored resourceVersion");
        wait_until("the second watch of every kind", || {
            CLUSTER_WIDE
                .iter()
                .all(|p| requests_for(&api, p).1.len() >= 2)
        })
        .await;
        for path in CLUSTER_WIDE {
            let (lists, watches) = requests_for(&api, path);
            assert_eq!(lists.len(), 1, "{path}: no list again");
            assert!(watched_from(&watches[1]) >= moved, "{path}: {watches:?}");
        }
        api.apply(pod("after-expiry"));
        wait_until("the Pod made after the watch expired", || {
            has_pod(&watched, "after-expiry")
        })
        .await;
        assert_eq!(warnings.lines(), Vec::<String>::new());
        assert_no_restarts(&metrics);
    }

    #[tokio::test]
    async fn a_dropped_watch_resumes_from_its_last_version_without_a_list() {
        let api = ApiServer::builder()
            .empty()
            .bookmark_interval(Duration::from_secs(3600))
            .start();
        let cluster = cluster_of(&api, Timeouts::default()).await;
        let watched = Watched::start(&cluster, &[], &Metrics::new()).expect("clients");
        wait_for_watches(&api, &CLUSTER_WIDE).await;
        let seen = api.apply(pod("before-drop"));
        wait_until("the first Pod", || has_pod(&watched, "before-drop")).await;
        api.drop_watches();
        api.apply(pod("after-drop"));
        wait_until("the Pod made after the drop", || {
            has_pod(&watched, "after-drop")
        })
        .await;
        let (lists, watches) = requests_for(&api, "/api/v1/pods");
        assert_eq!(lists.len(), 1, "resumed, not listed again");
        assert_eq!(
            param(&watches[1], "resourceVersion"),
            seen["metadata"]["resourceVersion"].as_str(),
            "{watches:?}"
        );
    }

    #[tokio::test]
    async fn without_streaming_lists_the_watches_list_with_pages() {
        let warnings = Warnings::default();
        let _logging = tracing::subscriber::set_default(warnings.clone());
        let api = ApiServer::builder().empty().streaming_lists(false).start();
        api.apply(pod("listed"));
        let cluster = cluster_of(&api, Timeouts::default()).await;
        let metrics = metrics();
        let watched = Watched::start(&cluster, &[], &metrics).expect("clients");
        tokio::time::timeout(Duration::from_secs(30), watched.ready())
            .await
            .expect("every kind listed");
        assert!(has_pod(&watched, "listed"));
        wait_until("a watch after the list of every kind", || {
            CLUSTER_WIDE
                .iter()
                .all(|p| requests_for(&api, p).1.len() >= 2)
        })
        .await;
        for path in CLUSTER_WIDE {
            let requests: Vec<(bool, u16)> = api
                .requests()
                .into_iter()
                .filter(|r| r.path == path)
                .map(|r| (is_watch(&r), r.status))
                .collect();
            // The streaming list refused, one paged list, one watch from it.
            assert_eq!(requests, [(true, 422), (false, 200), (true, 200)], "{path}");
        }
        api.apply(pod("watched"));
        wait_until("a Pod seen by the watch", || has_pod(&watched, "watched")).await;
        assert_eq!(warnings.lines(), Vec::<String>::new());
        assert_no_restarts(&metrics);
    }

    #[tokio::test]
    async fn with_namespaces_each_kind_is_watched_in_each_of_them() {
        let api = ApiServer::builder().empty().start();
        let cluster = cluster_of(&api, Timeouts::default()).await;
        let namespaces = ["a".to_string(), "b".to_string()];
        let _watched = Watched::start(&cluster, &namespaces, &Metrics::new()).expect("clients");
        let per_namespace: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|ns| {
                [
                    format!("/apis/apps/v1/namespaces/{ns}/deployments"),
                    format!("/api/v1/namespaces/{ns}/pods"),
                    format!("/api/v1/namespaces/{ns}/serviceaccounts"),
                ]
            })
            .collect();
        let mut paths: Vec<&str> = per_namespace.iter().map(String::as_str).collect();
        paths.push("/api/v1/nodes");
        wait_for_watches(&api, &paths).await;
        for path in paths {
            assert_eq!(requests_for(&api, path).1.len(), 1, "{path}");
        }
        assert_eq!(requests_for(&api, "/api/v1/pods").1.len(), 0);
    }

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
