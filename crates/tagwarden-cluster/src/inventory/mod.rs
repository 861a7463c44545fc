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

mod nodes;
mod objects;
mod pull_failures;
mod selection;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Node, Pod, ReplicationController, ServiceAccount};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tagwarden_core::Platform;

pub use nodes::NodePlatform;
pub use pull_failures::{PullFailure, PullFailureClass};

use crate::connection::Cluster;
use crate::error::ClusterError;
use objects::{OwnerKey, PodTemplate, Workload};

/// Objects asked for in one page of a list.
const PAGE_SIZE: u32 = 500;

/// Which objects to read: kubectl's `-n`/`-A` and `-l`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// One namespace; `None` for every namespace (`-A`).
    pub namespace: Option<String>,
    /// A label selector (`app=web,tier notin (db)`), applied to every workload and Pod.
    pub selector: Option<String>,
}

/// Where an image is used in a cluster (the `locations[]` entry of `scan`'s JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    /// gathers their images; see the [module documentation](self).
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
        // Owners and Pods whole: a selected Pod's owners, and a selected workload's Pods,
        // need not match the selector.
        let whole = Scope {
            selector: None,
            ..scope.clone()
        };
        let mut objects = Objects::read(self, &client, &whole).await?;
        objects.selected = selected;
        Ok(objects.inventory())
    }

    /// Every object of `K` in `scope` (all pages).
    pub(crate) async fn list_all<K>(
        &self,
        client: &kube::Client,
        scope: &Scope,
        with_selector: bool,
    ) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = match &scope.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        self.list_pages(api, scope.selector.as_deref().filter(|_| with_selector))
            .await
    }

    /// Every object an `api` lists, following `continue` tokens.
    pub(crate) async fn list_pages<K>(
        &self,
        api: Api<K>,
        selector: Option<&str>,
    ) -> Result<Vec<K>, ClusterError>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        let mut objects = Vec::new();
        loop {
            let page = api.list(&params).await.map_err(|e| {
                self.request_error(e)
                    .during(&format!("list {}", api.resource_url()))
            })?;
            objects.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(objects),
            }
        }
    }
}

/// The objects an inventory is made of, as the API server returned them: read by one
/// list each ([`Cluster::inventory`]), or the contents of `serve`'s reflector stores.
#[derive(Debug, Default, Clone)]
pub(crate) struct Objects {
    pub deployments: Vec<Arc<Deployment>>,
    pub stateful_sets: Vec<Arc<StatefulSet>>,
    pub daemon_sets: Vec<Arc<DaemonSet>>,
    pub replica_sets: Vec<Arc<ReplicaSet>>,
    pub replication_controllers: Vec<Arc<ReplicationController>>,
    pub jobs: Vec<Arc<Job>>,
    pub cron_jobs: Vec<Arc<CronJob>>,
    pub pods: Vec<Arc<Pod>>,
    pub events: Vec<Arc<Event>>,
    pub nodes: Vec<Arc<Node>>,
    pub service_accounts: Vec<Arc<ServiceAccount>>,
    /// What could not be read, each said once.
    pub warnings: Vec<String>,
    /// The uids of the workloads and Pods a selector matched (`scan -l`): only their
    /// owner chains are reported. `None`: no selector, everything is (`serve`).
    pub selected: Option<HashSet<String>>,
}

/// Owned objects, shared.
fn shared<K>(objects: Vec<K>) -> Vec<Arc<K>> {
    objects.into_iter().map(Arc::new).collect()
}

impl Objects {
    async fn read(
        cluster: &Cluster,
        client: &kube::Client,
        scope: &Scope,
    ) -> Result<Objects, ClusterError> {
        // Every list at once (a slow or hung server costs one timeout, not one per kind);
        // each list pages through its own objects.
        let optional = futures::future::join3(
            cluster.list_pages(Api::<Node>::all(client.clone()), None),
            cluster.list_all::<ServiceAccount>(client, scope, false),
            cluster.list_all::<Event>(client, scope, false),
        );
        let required = futures::future::try_join4(
            futures::future::try_join4(
                cluster.list_all::<Deployment>(client, scope, true),
                cluster.list_all::<StatefulSet>(client, scope, true),
                cluster.list_all::<DaemonSet>(client, scope, true),
                cluster.list_all::<ReplicaSet>(client, scope, true),
            ),
            cluster.list_all::<ReplicationController>(client, scope, true),
            futures::future::try_join(
                cluster.list_all::<Job>(client, scope, true),
                cluster.list_all::<CronJob>(client, scope, true),
            ),
            cluster.list_all::<Pod>(client, scope, true),
        );
        let ((nodes, service_accounts, events), required) =
            futures::future::join(optional, required).await;
        let (
            (deployments, stateful_sets, daemon_sets, replica_sets),
            replication_controllers,
            (jobs, cron_jobs),
            pods,
        ) = required?;
        let mut warnings = Vec::new();
        let nodes = nodes.unwrap_or_else(|e| {
            warnings.push(format!(
                "cannot list Nodes ({e}): images are not checked for the nodes' platforms; pass --platform to name them"
            ));
            Vec::new()
        });
        let service_accounts = service_accounts.unwrap_or_else(|e| {
            warnings.push(format!(
                "cannot list ServiceAccounts ({e}): their imagePullSecrets are not used"
            ));
            Vec::new()
        });
        let events = events.unwrap_or_else(|e| {
            warnings.push(format!(
                "cannot list Events ({e}): pull failures are shown without the kubelet's messages"
            ));
            Vec::new()
        });
        Ok(Objects {
            deployments: shared(deployments),
            stateful_sets: shared(stateful_sets),
            daemon_sets: shared(daemon_sets),
            replica_sets: shared(replica_sets),
            replication_controllers: shared(replication_controllers),
            jobs: shared(jobs),
            cron_jobs: shared(cron_jobs),
            pods: shared(pods),
            events: shared(events),
            nodes: shared(nodes),
            service_accounts: shared(service_accounts),
            warnings,
            selected: None,
        })
    }

    /// The inventory these objects make; see the [module documentation](self).
    pub(crate) fn inventory(&self) -> Inventory {
        let mut workloads: Vec<Workload> = Vec::new();
        workloads.extend(
            self.deployments
                .iter()
                .filter_map(|o| Workload::deployment(o)),
        );
        workloads.extend(
            self.stateful_sets
                .iter()
                .filter_map(|o| Workload::stateful_set(o)),
        );
        workloads.extend(
            self.daemon_sets
                .iter()
                .filter_map(|o| Workload::daemon_set(o)),
        );
        workloads.extend(
            self.replica_sets
                .iter()
                .filter_map(|o| Workload::replica_set(o)),
        );
        workloads.extend(
            self.replication_controllers
                .iter()
                .filter_map(|o| Workload::replication_controller(o)),
        );
        workloads.extend(self.jobs.iter().filter_map(|o| Workload::job(o)));
        workloads.extend(self.cron_jobs.iter().filter_map(|o| Workload::cron_job(o)));
        workloads.extend(self.pods.iter().filter_map(|o| Workload::pod(o)));

        let by_uid: HashMap<String, usize> = workloads
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.uid.clone().map(|uid| (uid, i)))
            .collect();
        // Each workload's top listed owner (itself when it has none).
        let top: Vec<usize> = (0..workloads.len())
            .map(|i| top_owner(&workloads, &by_uid, i))
            .collect();
        let mut pods = vec![0usize; workloads.len()];
        for (i, workload) in workloads.iter().enumerate() {
            if workload.kind == "Pod" && top[i] != i {
                pods[top[i]] += 1;
            }
        }
        let reported_chain = self.reported_chains(&workloads, &top);

        let accounts: HashMap<(String, String), Vec<String>> = self
            .service_accounts
            .iter()
            .map(|sa| {
                let secrets = sa
                    .image_pull_secrets
                    .iter()
                    .flatten()
                    .map(|s| s.name.clone())
                    .filter(|n| !n.is_empty())
                    .collect();
                ((sa.namespace().unwrap_or_default(), sa.name_any()), secrets)
            })
            .collect();
        let nodes = nodes::Nodes::of(&self.nodes);

        let mut uses = Vec::new();
        let mut seen: BTreeSet<(usize, String, String)> = BTreeSet::new();
        for (i, workload) in workloads.iter().enumerate() {
            let owner = top[i];
            // A ReplicaSet or Job under a listed owner is an old revision or a past run
            // of it: its Pods, when any differ, are reported themselves.
            if (owner != i && workload.kind != "Pod") || !reported_chain[owner] {
                continue;
            }
            let reported = &workloads[owner];
            for container in &workload.template.containers {
                // A Pod's container that its owner's template already has is the owner's.
                let (at, location_of) = if owner != i
                    && reported
                        .template
                        .containers
                        .iter()
                        .any(|c| c.name == container.name && c.image == container.image)
                {
                    (owner, reported)
                } else {
                    (i, workload)
                };
                if !seen.insert((at, container.name.clone(), container.image.clone())) {
                    continue;
                }
                let base = location_of
                    .template
                    .containers
                    .iter()
                    .find(|c| c.name == container.name && c.image == container.image)
                    .map(|c| c.path.clone())
                    .unwrap_or_else(|| container.path.clone());
                let count = if location_of.kind == "Pod" {
                    1
                } else {
                    pods[at]
                };
                uses.push(ImageUse {
                    image: container.image.clone(),
                    location: WorkloadLocation {
                        namespace: location_of.namespace.clone(),
                        kind: location_of.kind.clone(),
                        name: location_of.name.clone(),
                        container: container.name.clone(),
                        path: base,
                        pods: count,
                        uid: location_of.uid.clone(),
                    },
                    pull_secrets: pull_secrets_of(
                        &location_of.template,
                        &accounts,
                        &location_of.namespace,
                    ),
                    node_platforms: nodes.platforms_for(&location_of.template),
                });
            }
        }
        uses.sort_by(|a, b| {
            (
                &a.location.namespace,
                kind_rank(&a.location.kind),
                &a.location.name,
            )
                .cmp(&(
                    &b.location.namespace,
                    kind_rank(&b.location.kind),
                    &b.location.name,
                ))
        });

        let pull_failures = pull_failures::of(
            &self.reported_pods(&workloads, &top, &reported_chain),
            &self.events,
        );
        Inventory {
            uses,
            pull_failures,
            nodes: nodes.all(),
            warnings: self.warnings.clone(),
        }
    }
}

impl Objects {
    /// For each workload at the top of its owner chain, whether the chain is reported:
    /// always without a selector, else when the top or anything under it was selected.
    fn reported_chains(&self, workloads: &[Workload], top: &[usize]) -> Vec<bool> {
        let Some(selected) = &self.selected else {
            return vec![true; workloads.len()];
        };
        let mut reported = vec![false; workloads.len()];
        for (i, workload) in workloads.iter().enumerate() {
            if workload
                .uid
                .as_ref()
                .is_some_and(|uid| selected.contains(uid))
            {
                reported[top[i]] = true;
            }
        }
        reported
    }

    /// The Pods of the reported chains (all Pods without a selector), for pull failures.
    fn reported_pods(
        &self,
        workloads: &[Workload],
        top: &[usize],
        reported_chain: &[bool],
    ) -> Vec<Arc<Pod>> {
        if self.selected.is_none() {
            return self.pods.clone();
        }
        let uids: HashSet<&str> = workloads
            .iter()
            .enumerate()
            .filter(|(i, w)| w.kind == "Pod" && reported_chain[top[*i]])
            .filter_map(|(_, w)| w.uid.as_deref())
            .collect();
        self.pods
            .iter()
            .filter(|pod| pod.uid().is_some_and(|uid| uids.contains(uid.as_str())))
            .cloned()
            .collect()
    }
}

/// Follows owner references through listed objects to the top one.
fn top_owner(workloads: &[Workload], by_uid: &HashMap<String, usize>, start: usize) -> usize {
    let mut at = start;
    // Owner chains are short (Pod → ReplicaSet → Deployment); a cycle is not followed.
    for _ in 0..8 {
        let next = workloads[at]
            .owners
            .iter()
            .find_map(|OwnerKey { uid }| by_uid.get(uid).copied());
        match next {
            Some(owner) if owner != at => at = owner,
            _ => break,
        }
    }
    at
}

/// Workloads first (by how much they own), Pods last, for a stable report order.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Deployment" => 0,
        "StatefulSet" => 1,
        "DaemonSet" => 2,
        "CronJob" => 3,
        "Job" => 4,
        "ReplicaSet" => 5,
        "ReplicationController" => 6,
        _ => 7,
    }
}

/// The Pod template's pull secrets, then its ServiceAccount's, without repeats.
fn pull_secrets_of(
    template: &PodTemplate,
    accounts: &HashMap<(String, String), Vec<String>>,
    namespace: &str,
) -> Vec<SecretRef> {
    let account = template
        .service_account
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let from_account = accounts
        .get(&(namespace.to_string(), account))
        .cloned()
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    template
        .pull_secrets
        .iter()
        .chain(&from_account)
        .filter(|name| seen.insert((*name).clone()))
        .map(|name| SecretRef {
            namespace: namespace.to_string(),
            name: name.clone(),
        })
        .collect()
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
