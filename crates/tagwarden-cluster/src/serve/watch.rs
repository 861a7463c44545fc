//! Watching the cluster: one kube-runtime `watcher` and `reflector` store per kind (and
//! per namespace, when only some are watched), `managedFields` stripped before storing,
//! the default backoff after errors (a dropped connection or a `410 Gone` relists).
//!
//! Every change wakes [`Watched::changed`]; [`Watched::objects`] is a snapshot of every
//! store, which [`crate::inventory`] turns into image uses exactly as `scan` does.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, ServiceAccount};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::inventory::Objects;

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

impl Watched {
    /// Starts the watchers: every namespace when `namespaces` is empty, else each of them.
    pub fn start(client: &kube::Client, namespaces: &[String]) -> Watched {
        let changed = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let mut start = Starter {
            client,
            namespaces,
            changed: &changed,
            tasks: &mut tasks,
        };
        Watched {
            deployments: start.namespaced(),
            stateful_sets: start.namespaced(),
            daemon_sets: start.namespaced(),
            replica_sets: start.namespaced(),
            replication_controllers: start.namespaced(),
            jobs: start.namespaced(),
            cron_jobs: start.namespaced(),
            pods: start.namespaced(),
            nodes: start.cluster_wide(),
            service_accounts: start.namespaced(),
            changed,
            _tasks: tasks,
        }
    }

    /// Waits until every store has its first list (what `/readyz` waits for).
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
    tasks: &'a mut JoinSet<()>,
}

impl Starter<'_> {
    fn namespaced<K>(&mut self) -> Stores<K>
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
            stores: apis.into_iter().map(|api| self.watch(api)).collect(),
        }
    }

    fn cluster_wide<K>(&mut self) -> Stores<K>
    where
        K: Watchable + Resource<Scope = k8s_openapi::ClusterResourceScope>,
    {
        Stores {
            stores: vec![self.watch(Api::all(self.client.clone()))],
        }
    }

    /// One watcher feeding one store; every event wakes `changed`.
    fn watch<K: Watchable>(&mut self, api: Api<K>) -> Store<K> {
        let (reader, writer) = reflector::store::<K>();
        let url = api.resource_url().to_string();
        let changed = self.changed.clone();
        let stream = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|object: &mut K| object.managed_fields_mut().clear())
            .reflect(writer);
        self.tasks.spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(_) => changed.notify_one(),
                    // The backoff retries; a 410 Gone relists from scratch.
                    Err(e) => tracing::warn!(watch = %url, "watch failed, retrying: {e}"),
                }
            }
        });
        reader
    }
}
