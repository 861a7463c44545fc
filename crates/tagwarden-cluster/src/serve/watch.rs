//! Watching the cluster: one list-then-watch loop per kind (and per namespace, when
//! only some are watched), each feeding the [incremental inventory](crate::inventory::index)
//! directly: list pages and watch events are read into projections (only the fields an
//! inventory reads, see [`crate::inventory::wire`]), never into whole objects.
//!
//! The loop is tagwarden's own rather than kube-runtime's `watcher`: that one reconnects a
//! watch that *ends* (a clean end of the stream, not an error) at once and without a
//! backoff, inside a future that never yields, so a server or proxy that closes watches
//! at once made `serve` send thousands of requests a second without a word. Here:
//!
//! - **one watch per kind**, cluster-wide, unless namespaces are given (then one per kind
//!   and namespace);
//! - **streaming lists** where the server serves them (`WatchList`, beta in 1.32): the
//!   first read is a watch with `sendInitialEvents=true`, its initial events applied to
//!   the index as they come, and what they did not name forgotten at the
//!   `k8s.io/initial-events-end` bookmark; the watch goes on from there. A server that
//!   refuses them (`400`, `422`) or ignores them (a bookmark without the annotation) gets
//!   paged lists ([`PAGE_SIZE`](crate::inventory::PAGE_SIZE))
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
//! warning says what is lost, they count as listed (none), and they are tried
//! again every [`OPTIONAL_RETRY`] quietly. `scan` degrades the same way.
//!
//! A list (paged or streaming) is applied as it comes; when it ends, what it did not
//! return is forgotten ([`Index::sweep`]). Every change wakes [`Watched::changed`];
//! [`Watched::take_changes`] then says which images' uses changed, worked out as `scan`
//! works them out.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::{WatchEvent, WatchParams};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::connection::{Cluster, Timeouts};
use crate::error::{ClusterError, one_line};
use crate::inventory::index::{Changes, Class, Index};
use crate::inventory::list_pages;
use crate::inventory::objects::Key;
use crate::inventory::wire::{
    CronJobWire, NodeWire, PodWire, ServiceAccountWire, Templated, Wire, WorkloadWire,
};
use crate::monitor::Metrics;

/// A watch that stays open this long (or delivers an event) is healthy: the backoff
/// resets. One that ends sooner without a word is a failure.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(5);
/// How often an optional kind that is forbidden or absent is tried again.
pub(crate) const OPTIONAL_RETRY: Duration = Duration::from_secs(300);
/// The backoff after failures: first delay, ceiling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(800), Duration::from_secs(30));
/// A watch that ended cleanly this close to its `timeoutSeconds` was ended by the server
/// at its timeout, as asked.
const EXPIRY_SLACK: Duration = Duration::from_secs(1);

/// What `serve` watches: a kind's wire form, and how it goes into the index.
pub(crate) trait Watchable: Wire {
    /// Which of the index's kinds a list of it fills (for [`Index::sweep`]).
    const CLASS: Class;
    /// Keeps it (or its new state); its key, `None` when it is not kept.
    fn upsert(self, index: &mut Index) -> Option<Key>;
    /// Forgets it.
    fn remove(self, index: &mut Index);
}

macro_rules! watchable_workload {
    ($($wire:ty),*) => {$(
        impl Watchable for $wire {
            const CLASS: Class = Class::Workload(<$wire as WorkloadWire>::WORKLOAD);
            fn upsert(self, index: &mut Index) -> Option<Key> {
                index.upsert_workload(self)
            }
            fn remove(self, index: &mut Index) {
                index.remove_workload(self)
            }
        }
    )*};
}

watchable_workload!(
    Templated<Deployment>,
    Templated<StatefulSet>,
    Templated<DaemonSet>,
    Templated<ReplicaSet>,
    Templated<ReplicationController>,
    Templated<Job>,
    CronJobWire,
    PodWire
);

impl Watchable for NodeWire {
    const CLASS: Class = Class::Node;
    fn upsert(self, index: &mut Index) -> Option<Key> {
        Some(index.upsert_node(self))
    }
    fn remove(self, index: &mut Index) {
        index.remove_node(self)
    }
}

impl Watchable for ServiceAccountWire {
    const CLASS: Class = Class::ServiceAccount;
    fn upsert(self, index: &mut Index) -> Option<Key> {
        index.upsert_account(self)
    }
    fn remove(self, index: &mut Index) {
        index.remove_account(self)
    }
}

/// The index `serve` keeps, and the tasks filling it.
pub(crate) struct Watched {
    index: Arc<Mutex<Index>>,
    /// One per watch loop: true once its first list is in the index.
    listed: Vec<watch::Receiver<bool>>,
    /// Woken after any change of any kind.
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
    /// Starts the watchers: every namespace when `namespaces` is empty, else each of them;
    /// objects in the namespaces of `skip` are not kept. Lists go through the cluster's
    /// client, watches through its watch client.
    ///
    /// # Errors
    ///
    /// When a client cannot be made (the cluster's configuration).
    pub fn start(
        cluster: &Cluster,
        namespaces: &[String],
        skip: &[String],
        metrics: &Metrics,
    ) -> Result<Watched, ClusterError> {
        let changed = Arc::new(Notify::new());
        let index = Arc::new(Mutex::new(Index::new(skip)));
        let mut tasks = JoinSet::new();
        let clients = Clients {
            lists: cluster.client()?,
            watches: cluster.watch_client()?,
            timeouts: cluster.timeouts(),
        };
        let mut start = Starter {
            clients: &clients,
            namespaces,
            index: &index,
            changed: &changed,
            metrics,
            tasks: &mut tasks,
            listed: Vec::new(),
        };
        start.namespaced::<Templated<Deployment>>(None);
        start.namespaced::<Templated<StatefulSet>>(None);
        start.namespaced::<Templated<DaemonSet>>(None);
        start.namespaced::<Templated<ReplicaSet>>(None);
        start.namespaced::<Templated<ReplicationController>>(None);
        start.namespaced::<Templated<Job>>(None);
        start.namespaced::<CronJobWire>(None);
        start.namespaced::<PodWire>(None);
        start.cluster_wide::<NodeWire>(Some(
            "images are not checked for the nodes' platforms; pass --platform to name them",
        ));
        start.namespaced::<ServiceAccountWire>(Some(
            "the pull secrets ServiceAccounts add are not used",
        ));
        let listed = start.listed;
        Ok(Watched {
            index,
            listed,
            changed,
            _tasks: tasks,
        })
    }

    /// Waits until every kind has its first list in the index (what `/readyz` waits
    /// for); an optional kind that cannot be listed counts as listed, empty.
    pub async fn ready(&self) {
        for listed in &self.listed {
            let mut listed = listed.clone();
            // A dropped sender means the watcher task ended (shutdown): nothing to wait for.
            let _ = listed.wait_for(|done| *done).await;
        }
    }

    /// The index (locked: keep it short).
    pub fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().expect("index poisoned")
    }

    /// Which images' uses changed since the last call (the first: all of them).
    pub fn take_changes(&self) -> Changes {
        let mut index = self.index();
        let changes = index.take_changes();
        tracing::debug!(
            objects_read = index.projected(),
            objects_worked_out = index.derived(),
            images_changed = changes.images.len(),
            full = changes.full,
            "inventory updated"
        );
        changes
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
    index: &'a Arc<Mutex<Index>>,
    changed: &'a Arc<Notify>,
    metrics: &'a Metrics,
    tasks: &'a mut JoinSet<()>,
    listed: Vec<watch::Receiver<bool>>,
}

impl Starter<'_> {
    fn namespaced<W: Watchable>(&mut self, optional: Option<&'static str>) {
        if self.namespaces.is_empty() {
            self.watch::<W>(None, optional);
        } else {
            for namespace in self.namespaces {
                self.watch::<W>(Some(namespace.clone()), optional);
            }
        }
    }

    fn cluster_wide<W: Watchable>(&mut self, optional: Option<&'static str>) {
        self.watch::<W>(None, optional);
    }

    /// One watch loop feeding the index; every change wakes `changed`.
    fn watch<W: Watchable>(&mut self, namespace: Option<String>, optional: Option<&'static str>) {
        let (listed, receiver) = watch::channel(false);
        self.listed.push(receiver);
        let watch = WatchLoop::<W> {
            url: W::url(namespace.as_deref()),
            namespace,
            lists: self.clients.lists.clone(),
            watches: self.clients.watches.clone(),
            watch_timeout: self.clients.timeouts.watch,
            index: self.index.clone(),
            listed,
            seen: HashSet::new(),
            changed: self.changed.clone(),
            metrics: self.metrics.clone(),
            optional,
            backoff: Backoff::default(),
            failing: false,
            given_up: false,
            streaming: true,
            kind: std::marker::PhantomData,
        };
        self.tasks.spawn(watch.run());
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
struct WatchLoop<W: Watchable> {
    /// For lists (the client with the usual read timeout).
    lists: kube::Client,
    /// For watches (the watch client, see [`Cluster::watch_client`]).
    watches: kube::Client,
    /// The `timeoutSeconds` asked of every watch.
    watch_timeout: Duration,
    /// The kind's path (cluster-wide, or in `namespace`).
    url: String,
    namespace: Option<String>,
    index: Arc<Mutex<Index>>,
    /// Set once the first list is in the index.
    listed: watch::Sender<bool>,
    /// The keys a list in progress returned, to forget the others at its end.
    seen: HashSet<Key>,
    changed: Arc<Notify>,
    metrics: Metrics,
    /// For an optional kind, what is lost without it.
    optional: Option<&'static str>,
    backoff: Backoff,
    /// Between a failure and the return to health.
    failing: bool,
    /// An optional kind that is forbidden or absent: it counts as listed, empty.
    given_up: bool,
    /// Streaming lists are tried (until the server refuses one).
    streaming: bool,
    kind: std::marker::PhantomData<fn() -> W>,
}

impl<W: Watchable> WatchLoop<W> {
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
                        self.metrics.count_watch_restart(W::KIND);
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
                        self.metrics.count_watch_restart(W::KIND);
                    }
                }
                Ended::Gone => {
                    tracing::debug!(watch = %self.url, "410 Gone: listing again");
                    self.metrics.count_watch_restart(W::KIND);
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

    /// Lists every object (all pages) into the index, a page at a time, then forgets
    /// what the list did not return; the list's resourceVersion.
    async fn list(&mut self) -> Result<String, kube::Error> {
        self.seen.clear();
        let index = &self.index;
        let seen = &mut self.seen;
        let resource_version = list_pages::<W>(&self.lists, &self.url, None, |page| {
            let mut index = index.lock().expect("index poisoned");
            seen.extend(
                page.into_iter()
                    .filter_map(|object| object.upsert(&mut index)),
            );
        })
        .await?;
        self.listed();
        self.list_done();
        Ok(resource_version)
    }

    /// A list (paged or streaming) ended: what it did not return is gone; the kind is
    /// listed.
    fn list_done(&mut self) {
        let seen = std::mem::take(&mut self.seen);
        self.index.lock().expect("index poisoned").sweep(
            W::CLASS,
            self.namespace.as_deref(),
            &seen,
        );
        self.listed.send_replace(true);
        self.changed.notify_one();
    }

    /// The kind could be listed (an optional kind given up says it is back).
    fn listed(&mut self) {
        if self.given_up {
            tracing::info!(watch = %self.url, "{} can be listed now", plural(W::KIND));
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
                    plural(W::KIND),
                    describe(error)
                );
                self.given_up = true;
                self.seen.clear();
                self.list_done();
            }
            return OPTIONAL_RETRY;
        }
        self.failed(&format!("cannot list: {}", describe(error)));
        self.backoff.next()
    }

    /// Opens a watch from `resource_version` (a streaming list when `initial`), asking
    /// for bookmarks, which keep the resourceVersion of a quiet watch current so that the
    /// next watch resumes from there, not from an old one.
    async fn open(
        &self,
        timeout_secs: u32,
        resource_version: &str,
        initial: bool,
    ) -> Result<impl futures::Stream<Item = Result<WatchEvent<W>, kube::Error>> + use<W>, kube::Error>
    {
        let params = if initial {
            // No resourceVersion: the most recent state, read consistently.
            WatchParams::streaming_lists()
        } else {
            WatchParams::default()
        }
        .timeout(timeout_secs);
        debug_assert!(params.bookmarks);
        let request = kube::core::Request::new(&self.url)
            .watch(&params, resource_version)
            .map_err(kube::Error::BuildRequest)?;
        self.watches.request_events::<W>(request).await
    }

    /// Watches from `start` until the watch ends. A streaming list fills the store from
    /// its initial events, which are applied at once when their end bookmark comes.
    async fn watch_from(&mut self, start: Start) -> Ended {
        let timeout_secs = u32::try_from(self.watch_timeout.as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let (mut resource_version, mut initial) = match start {
            Start::From(rv) => (rv, false),
            Start::StreamingList => (String::new(), true),
        };
        let opened = tokio::time::Instant::now();
        let stream = self.open(timeout_secs, &resource_version, initial).await;
        let stream = match stream {
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
            self.seen.clear();
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

    /// One event into the index (during a streaming list's initial events, its keys are
    /// noted for the sweep at their end); `Some` when the event ends the watch.
    fn apply(
        &mut self,
        event: WatchEvent<W>,
        initial: &mut bool,
        resource_version: &mut String,
    ) -> Option<Ended> {
        match event {
            WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                if let Some(rv) = object.resource_version() {
                    *resource_version = rv.to_string();
                }
                let key = object.upsert(&mut self.index.lock().expect("index poisoned"));
                if *initial {
                    self.seen.extend(key);
                } else {
                    self.changed.notify_one();
                }
            }
            WatchEvent::Deleted(object) => {
                if let Some(rv) = object.resource_version() {
                    *resource_version = rv.to_string();
                }
                // Initial events are the objects that exist: a deletion is not one.
                if !*initial {
                    object.remove(&mut self.index.lock().expect("index poisoned"));
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
                    self.list_done();
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
                plural(W::KIND)
            );
            self.failing = true;
        }
    }

    /// The watch works: the backoff resets, and a recovery is said once.
    fn healthy(&mut self) {
        self.backoff.reset();
        if self.failing {
            self.failing = false;
            tracing::warn!(watch = %self.url, "watching {} works again", plural(W::KIND));
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
    use tagwarden_testbed::{ApiRequest, ApiServer, Warnings};

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
        watched.index().has_pod(name)
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
        let watched = Watched::start(&cluster, &[], &[], &metrics).expect("clients");
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
        let watched = Watched::start(&cluster, &[], &[], &metrics).expect("clients");
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
        let watched = Watched::start(&cluster, &[], &[], &Metrics::new()).expect("clients");
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
        let watched = Watched::start(&cluster, &[], &[], &metrics).expect("clients");
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
        let _watched =
            Watched::start(&cluster, &namespaces, &[], &Metrics::new()).expect("clients");
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

    /// Uses of `image` in `changes`, as `kind/name pods=N`; `None` when it is not there.
    fn uses_in(changes: &Changes, image: &str) -> Option<Vec<String>> {
        changes
            .images
            .iter()
            .find(|(i, _)| i == image)
            .map(|(_, uses)| {
                uses.iter()
                    .map(|u| {
                        let l = &u.location;
                        format!("{}/{} pods={}", l.kind, l.name, l.pods)
                    })
                    .collect()
            })
    }

    /// (objects read, objects worked out) by the index so far.
    fn work(watched: &Watched) -> (u64, u64) {
        let index = watched.index();
        (index.projected(), index.derived())
    }

    #[tokio::test]
    async fn one_pod_changed_is_one_pods_work_not_the_clusters() {
        const OWNED: usize = 300;
        const BARE: usize = 100;
        let api = ApiServer::builder().empty().start();
        let deployment = api.apply(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]}}},
        }));
        let owner = |kind: &str, object: &serde_json::Value| {
            json!([{"apiVersion": "apps/v1", "kind": kind, "controller": true,
                    "name": object["metadata"]["name"], "uid": object["metadata"]["uid"]}])
        };
        let replica_set = api.apply(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "shop",
                         "ownerReferences": owner("Deployment", &deployment)},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]}}},
        }));
        for i in 0..OWNED {
            api.apply(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("web-1-{i}"), "namespace": "shop",
                             "ownerReferences": owner("ReplicaSet", &replica_set)},
                "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]},
            }));
        }
        for i in 0..BARE {
            api.apply(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("tool-{i}"), "namespace": "ops"},
                "spec": {"containers": [{"name": "sh", "image": "example.com/tool:1"}]},
            }));
        }
        let cluster = cluster_of(&api, Timeouts::default()).await;
        let watched = Watched::start(&cluster, &[], &[], &Metrics::new()).expect("clients");
        tokio::time::timeout(Duration::from_secs(30), watched.ready())
            .await
            .expect("every kind listed");

        // The first changes are everything, rolled up to the owners.
        let first = watched.take_changes();
        assert!(first.full);
        assert_eq!(
            uses_in(&first, "example.com/app:1"),
            Some(vec![format!("Deployment/web pods={OWNED}")])
        );
        assert_eq!(
            uses_in(&first, "example.com/tool:1").map(|u| u.len()),
            Some(BARE)
        );
        let settled = work(&watched);

        // A status update that changes nothing kept: read, and no work.
        api.modify("v1", "Pod", Some("shop"), "web-1-7", |pod| {
            pod["status"] = json!({"phase": "Running", "podIP": "10.0.0.7"});
        });
        wait_until("the status update read", || work(&watched).0 > settled.0).await;
        assert_eq!(
            work(&watched),
            (settled.0 + 1, settled.1),
            "read once, no work"
        );
        let quiet = watched.take_changes();
        assert!(!quiet.full && quiet.images.is_empty(), "{quiet:?}");

        // One Pod's image changes (a rollout in progress): that Pod's work alone.
        api.modify("v1", "Pod", Some("shop"), "web-1-8", |pod| {
            pod["spec"]["containers"][0]["image"] = json!("example.com/app:2");
        });
        wait_until("the image change read", || work(&watched).0 > settled.0 + 1).await;
        assert_eq!(
            work(&watched),
            (settled.0 + 2, settled.1 + 1),
            "one Pod worked out"
        );
        let changed = watched.take_changes();
        assert!(!changed.full);
        let mut images: Vec<&str> = changed.images.iter().map(|(i, _)| i.as_str()).collect();
        images.sort();
        assert_eq!(images, ["example.com/app:1", "example.com/app:2"]);
        assert_eq!(
            uses_in(&changed, "example.com/app:1"),
            Some(vec![format!("Deployment/web pods={OWNED}")])
        );
        assert_eq!(
            uses_in(&changed, "example.com/app:2"),
            Some(vec!["Pod/web-1-8 pods=1".to_string()])
        );

        // A bare Pod deleted: its image's uses change, nothing else is worked out.
        assert!(api.delete("v1", "Pod", Some("ops"), "tool-3"));
        wait_until("the deletion read", || work(&watched).0 > settled.0 + 2).await;
        assert_eq!(
            work(&watched).1,
            settled.1 + 1,
            "a deletion works nothing out"
        );
        let deleted = watched.take_changes();
        assert_eq!(deleted.images.len(), 1, "{deleted:?}");
        assert_eq!(
            uses_in(&deleted, "example.com/tool:1").map(|u| u.len()),
            Some(BARE - 1)
        );
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
