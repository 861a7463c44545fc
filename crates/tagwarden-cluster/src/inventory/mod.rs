//! What a cluster runs: every image of every workload, with where it is used, the pull
//! failures Kubernetes already sees, and the nodes the workloads may run on.
//!
//! [`Cluster::inventory`] reads, with one paged list per kind (500 objects a page):
//!
//! - the workloads of every kind `check` knows (Deployments, StatefulSets, DaemonSets,
//!   ReplicaSets, ReplicationControllers, Jobs, CronJobs) and Pods;
//! - Events (only the kubelet's `Failed` ones about pulling images are kept);
//! - Nodes (their `status.nodeInfo` platform, labels and taints);
//! - ServiceAccounts (their `imagePullSecrets`).
//!
//! **Owners, not Pods.** A Pod is reported as the workload at the top of its owner chain
//! (Pod → ReplicaSet → Deployment, Pod → Job → CronJob, Pod → StatefulSet), which is
//! counted in [`WorkloadLocation::pods`]. A container of a Pod whose image differs from
//! its owner's template (a rollout in progress, an ephemeral container) is reported as
//! the Pod itself. A ReplicaSet or Job owned by a listed workload is not reported on its
//! own. Workloads scaled to zero are reported with `pods: 0`: registries garbage-collect
//! tags, and a scale-up must not be the moment that shows it.
//!
//! **A selector picks owner chains.** [`Scope::selector`] (`scan -l`) selects workloads
//! and Pods, as the API server matches it. A selected Pod, ReplicaSet or Job is reported
//! at the top of its owner chain (the Deployment, not the ReplicaSet; the CronJob, not the
//! Job), and a selected workload is reported whole: all its Pods are counted, also those
//! the selector does not match. So a Deployment labelled `team=x` whose Pods are labelled
//! `app=web` is the same one line with either selector. For that, workloads and Pods are
//! listed without the selector (owners need not carry their Pods' labels), and the
//! selector only says which chains to report (`selection.rs`).
//!
//! Nodes and ServiceAccounts are optional: when RBAC forbids listing them, the inventory
//! says so once in [`Inventory::warnings`] and goes on without node platforms or
//! ServiceAccount pull secrets.

mod gathered;
pub(crate) mod index;
mod nodes;
pub(crate) mod objects;
mod pull_failures;
mod selection;
pub(crate) mod wire;

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::ListParams;
use serde::Serialize;
use tagwarden_core::Platform;

pub(crate) use gathered::GatheredUses;
pub use nodes::NodePlatform;
pub use pull_failures::{PullFailure, PullFailureClass};

use crate::connection::Cluster;
use crate::error::ClusterError;
use index::Index;
use pull_failures::PullEvents;
use wire::{
    CronJobWire, EventWire, NodeWire, PodWire, ServiceAccountWire, Templated, Wire, WorkloadWire,
};

/// Objects asked for in one page of a list.
pub(crate) const PAGE_SIZE: u32 = 500;

/// Which objects to read: kubectl's `-n`/`-A` and `-l`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// One namespace; `None` for every namespace (`-A`).
    pub namespace: Option<String>,
    /// A label selector (`app=web,tier notin (db)`), applied to every workload and Pod.
    pub selector: Option<String>,
}

/// Where an image is used in a cluster (the `locations[]` entry of `scan`'s JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct WorkloadLocation {
    /// The namespace.
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `ReplicationController`,
    /// `Job`, `CronJob` or `Pod`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The container's name.
    pub container: String,
    /// The image field in the object: `spec.template.spec.initContainers[0].image`.
    pub path: String,
    /// Pods of this workload that exist now (0 for a workload scaled to zero, 1 for a Pod).
    pub pods: usize,
    /// The object's uid, when the API server gave one: `serve`'s Events name it in
    /// `regarding`, which is how `kubectl describe` finds them. Not in `scan`'s JSON.
    #[serde(skip)]
    pub uid: Option<String>,
}

impl WorkloadLocation {
    /// `namespace/kind/name` (`capsule-system/Job/capsule-crds`), for messages.
    pub fn object(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// A Kubernetes pull secret named by a Pod or its ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SecretRef {
    /// The Secret's namespace (the Pod's).
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One image field of one workload (or Pod) of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The image as written in the object.
    pub image: String,
    /// Where.
    pub location: WorkloadLocation,
    /// The pull secrets the kubelet would use for it: the Pod spec's `imagePullSecrets`,
    /// then those of its ServiceAccount, in order, without repeats.
    pub pull_secrets: Vec<SecretRef>,
    /// The platforms of the nodes its Pods could run on (nodeSelector, required node
    /// affinity and taints considered), with how many nodes have each; for a Pod already
    /// bound to a node, that node's. Empty when no node is known.
    pub node_platforms: Vec<NodePlatform>,
}

/// Everything [`Cluster::inventory`] found.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every image field, in a stable order (namespace, kind, name, container).
    pub uses: Vec<ImageUse>,
    /// Containers that cannot pull their image right now.
    pub pull_failures: Vec<PullFailure>,
    /// Every node's platform, with how many nodes have it.
    pub nodes: Vec<NodePlatform>,
    /// What could not be read (RBAC), each said once, for the user.
    pub warnings: Vec<String>,
}

impl Cluster {
    /// Reads the workloads, Pods, Events, Nodes and ServiceAccounts of `scope` and
    /// gathers their images; see the [module documentation](self). Each list page is
    /// read into projections and dropped: memory grows with what is kept of each object
    /// (a few hundred bytes a Pod), not with the objects.
    ///
    /// # Errors
    ///
    /// A [`ClusterError`] (of its classes: unreachable, forbidden, …) when a list of workloads
    /// or Pods fails (those are what a scan is about); Nodes and ServiceAccounts only warn.
    pub async fn inventory(&self, scope: &Scope) -> Result<Inventory, ClusterError> {
        let client = self.client()?;
        // The selector first: a malformed one is the API server's 400 before any more work.
        let selected = match &scope.selector {
            Some(_) => Some(selection::selected_uids(self, &client, scope).await?),
            None => None,
        };
        let index = Mutex::new(Index::new(&[]));
        let mut events = PullEvents::default();
        let warnings = self
            .read_into(&client, scope.namespace.as_deref(), &index, &mut events)
            .await?;
        let index = index.into_inner().expect("index poisoned");
        let (uses, pull_failures, nodes) = index.inventory(selected.as_ref(), &events);
        Ok(Inventory {
            uses,
            pull_failures,
            nodes,
            warnings,
        })
    }

    /// Lists every kind of `namespace` (or all) into `index` and `events`, all at once
    /// (a slow or hung server costs one timeout, not one per kind), each a page at a
    /// time. What could not be read of the optional kinds is said in the warnings.
    async fn read_into(
        &self,
        client: &kube::Client,
        namespace: Option<&str>,
        index: &Mutex<Index>,
        events: &mut PullEvents,
    ) -> Result<Vec<String>, ClusterError> {
        let workloads = async {
            futures::try_join!(
                self.index_all::<Templated<Deployment>>(client, namespace, index),
                self.index_all::<Templated<StatefulSet>>(client, namespace, index),
                self.index_all::<Templated<DaemonSet>>(client, namespace, index),
                self.index_all::<Templated<ReplicaSet>>(client, namespace, index),
                self.index_all::<Templated<ReplicationController>>(client, namespace, index),
                self.index_all::<Templated<Job>>(client, namespace, index),
                self.index_all::<CronJobWire>(client, namespace, index),
                self.index_all::<PodWire>(client, namespace, index),
            )
        };
        let nodes = self.list_each::<NodeWire>(client, None, None, |page| {
            let mut index = index.lock().expect("index poisoned");
            for node in page {
                index.upsert_node(node);
            }
        });
        let accounts = self.list_each::<ServiceAccountWire>(client, namespace, None, |page| {
            let mut index = index.lock().expect("index poisoned");
            for account in page {
                index.upsert_account(account);
            }
        });
        let pull_events = self.list_each::<EventWire>(client, namespace, None, |page| {
            for event in page {
                events.add(event);
            }
        });
        let (required, nodes, accounts, pull_events) =
            futures::join!(workloads, nodes, accounts, pull_events);
        required?;
        let mut warnings = Vec::new();
        if let Err(e) = nodes {
            warnings.push(format!(
                "cannot list Nodes ({e}): images are not checked for the nodes' platforms; pass --platform to name them"
            ));
        }
        if let Err(e) = accounts {
            warnings.push(format!(
                "cannot list ServiceAccounts ({e}): their imagePullSecrets are not used"
            ));
        }
        if let Err(e) = pull_events {
            warnings.push(format!(
                "cannot list Events ({e}): pull failures are shown without the kubelet's messages"
            ));
        }
        Ok(warnings)
    }

    /// Every workload or Pod of `W` into `index`, a page at a time.
    async fn index_all<W: WorkloadWire>(
        &self,
        client: &kube::Client,
        namespace: Option<&str>,
        index: &Mutex<Index>,
    ) -> Result<(), ClusterError> {
        self.list_each::<W>(client, namespace, None, |page| {
            let mut index = index.lock().expect("index poisoned");
            for object in page {
                index.upsert_workload(object);
            }
        })
        .await
    }

    /// Every object of `W` in `namespace` (or all), matching `selector`, handed to
    /// `each` a page at a time.
    pub(crate) async fn list_each<W: Wire>(
        &self,
        client: &kube::Client,
        namespace: Option<&str>,
        selector: Option<&str>,
        each: impl FnMut(Vec<W>),
    ) -> Result<(), ClusterError> {
        let url = W::url(namespace);
        list_pages(client, &url, selector, each)
            .await
            .map(|_| ())
            .map_err(|e| self.request_error(e).during(&format!("list {url}")))
    }
}

/// Lists `url` (all pages, following `continue` tokens), handing each page's objects to
/// `each` before the next page is asked for; the list's resourceVersion.
pub(crate) async fn list_pages<W: Wire>(
    client: &kube::Client,
    url: &str,
    selector: Option<&str>,
    mut each: impl FnMut(Vec<W>),
) -> Result<String, kube::Error> {
    let mut params = ListParams::default().limit(PAGE_SIZE);
    if let Some(selector) = selector {
        params = params.labels(selector);
    }
    let request = kube::core::Request::new(url);
    loop {
        let http = request.list(&params).map_err(kube::Error::BuildRequest)?;
        let page: wire::List<W> = client.request(http).await?;
        each(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(page.metadata.resource_version.unwrap_or_default()),
        }
    }
}

/// Counts of each platform, sorted by platform text.
pub(crate) fn count_platforms<'a>(
    platforms: impl Iterator<Item = &'a Platform>,
) -> Vec<NodePlatform> {
    let mut counts: BTreeMap<String, (Platform, usize)> = BTreeMap::new();
    for platform in platforms {
        counts
            .entry(platform.to_string())
            .or_insert_with(|| (platform.clone(), 0))
            .1 += 1;
    }
    counts
        .into_values()
        .map(|(platform, nodes)| NodePlatform { platform, nodes })
        .collect()
}

#[cfg(test)]
mod roll_up_tests;
