//! A realistic cluster, generated: what the scale benchmarks of issue 17 run against.
//!
//! Users measured `serve` and `scan -A` against API servers serving real clusters, whose
//! Pods are 8–11 KB of JSON each. A benchmark with 300-byte Pods and no owners measures
//! something else. [`RealisticCluster::generate`] builds, deterministically (same options,
//! same bytes), a cluster as kube-apiserver returns it:
//!
//! - Namespaces (one per 200 Pods), each with its `default` ServiceAccount and an `app`
//!   ServiceAccount; one namespace in five has a `regcred` pull Secret named in its
//!   ServiceAccounts' `imagePullSecrets`;
//! - Nodes ([`RealisticOptions::nodes`], 100 by default) with labels, taints on one in
//!   ten, capacity, conditions, addresses, `status.nodeInfo` and a list of 40 images;
//! - Deployments → ReplicaSets (the current one with the Pods, up to two old ones scaled
//!   to zero, with older images) → Pods; StatefulSets → Pods; DaemonSets (in
//!   `kube-system`, one Pod per Node, while they make at most a tenth of the Pods);
//!   CronJobs → three Jobs → one completed Pod each. Every `ownerReferences` entry has the
//!   owner's real uid, `controller: true` and `blockOwnerDeletion: true`;
//! - Pods with labels, annotations, env, volume mounts, volumes, probes, resources,
//!   security contexts, the two default tolerations, `nodeName`, `status` (conditions,
//!   container statuses with `imageID` digests, `podIPs`, `qosClass`) and the
//!   `managedFields` of `kube-controller-manager` and the kubelet; one template in four
//!   has a sidecar, one in five an init container. Workloads carry the
//!   `kubectl-client-side-apply` entry and the `last-applied-configuration` annotation;
//! - one Deployment in 40 is mid-rollout to an image that is not published: its new
//!   ReplicaSet's Pod is in `ImagePullBackOff`, with the kubelet's Events (`Pulling`,
//!   `Failed`, `BackOff`), as the real kubelet writes them.
//!
//! Images: [`RealisticOptions::unique_images`] (by default one per 15 Pods: 10,000 at
//! 150,000 Pods) as `HOST/team/service-R:v2.X.Y`, 50 tags per repository, one in
//! [`RealisticOptions::missing_every`] not published. [`seed_realistic_images`] pushes
//! the published ones, cheaply (one image per repository, then its tags as concurrent
//! manifest PUTs of the same bytes).
//!
//! For churn, [`RealisticCluster::rollout`] gives the writes of a `kubectl rollout
//! restart` of one Deployment: a new ReplicaSet, then per replica a new Pod created, its
//! status set to running, and an old Pod deleted; then the old ReplicaSet scaled to zero.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::token::rfc3339;

/// 2026-11-20T08:00:00Z: when the generated cluster's objects begin.
const EPOCH: u64 = 1_795_161_600;
/// Tags per repository.
pub const TAGS_PER_REPOSITORY: usize = 50;
/// Pods per namespace.
const PODS_PER_NAMESPACE: usize = 200;
/// Images in each Node's `status.images`.
const NODE_IMAGES: usize = 40;
/// One Deployment in this many is mid-rollout to a missing image.
const FAILING_ROLLOUT_EVERY: usize = 40;
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const TEAMS: &[&str] = &[
    "payments", "checkout", "search", "catalog", "identity", "ledger", "media", "growth",
    "platform", "data",
];
const SERVICES: &[&str] = &[
    "api",
    "worker",
    "gateway",
    "indexer",
    "scheduler",
    "frontend",
    "cache",
    "exporter",
    "notifier",
    "resolver",
    "billing",
    "session",
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct RealisticOptions {
    /// Pods, exactly.
    pub pods: usize,
    /// Nodes (default 100).
    pub nodes: usize,
    /// Unique images used (default: one per 15 Pods, at least 50).
    pub unique_images: usize,
    /// `HOST:PORT` of the registry images name (default `registry.example.com`).
    pub registry: String,
    /// One image in this many is not published (default 10).
    pub missing_every: usize,
}

impl RealisticOptions {
    /// `pods` Pods, 100 Nodes, one unique image per 15 Pods.
    pub fn new(pods: usize) -> RealisticOptions {
        RealisticOptions {
            pods,
            nodes: 100,
            unique_images: (pods / 15).max(50),
            registry: "registry.example.com".to_string(),
            missing_every: 10,
        }
    }

    /// Set the number of Nodes.
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// Set the number of unique images.
    pub fn unique_images(mut self, images: usize) -> Self {
        self.unique_images = images.max(1);
        self
    }

    /// Set the registry host images name.
    pub fn registry(mut self, host: impl Into<String>) -> Self {
        self.registry = host.into();
        self
    }
}

/// One unique image of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealisticImage {
    /// `team/service-R`.
    pub repository: String,
    /// `v2.X.Y`.
    pub tag: String,
    /// Whether [`seed_realistic_images`] pushes it.
    pub published: bool,
}

/// The images of one Pod template: indices into the image pool.
#[derive(Clone, Copy, Debug)]
struct Images {
    main: usize,
    sidecar: Option<usize>,
    init: Option<usize>,
}

#[derive(Clone, Debug)]
enum Kind {
    Deployment {
        /// Revisions, oldest first; the last is current.
        revisions: Vec<Images>,
        /// Mid-rollout to this (missing) image: one Pod in ImagePullBackOff.
        failing: Option<usize>,
    },
    StatefulSet(Images),
    DaemonSet(Images),
    CronJob(Images),
}

#[derive(Clone, Debug)]
struct Workload {
    namespace: usize,
    name: String,
    replicas: usize,
    kind: Kind,
}

/// A generated cluster; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct RealisticCluster {
    options: RealisticOptions,
    images: Vec<RealisticImage>,
    namespaces: Vec<String>,
    workloads: Vec<Workload>,
}

/// One write of a rollout: store this object, or delete that one.
#[derive(Clone, Debug)]
pub enum Write {
    /// Create or replace (as [`crate::ApiServer::apply`]).
    Apply(Value),
    /// Delete `apiVersion`, `kind`, namespace, name.
    Delete(&'static str, &'static str, String, String),
}

impl Write {
    /// Whether the write is a Pod's (the churn benchmark counts those).
    pub fn is_pod(&self) -> bool {
        match self {
            Write::Apply(o) => o["kind"] == "Pod",
            Write::Delete(_, kind, _, _) => *kind == "Pod",
        }
    }
}

/// The image pool, taken in turn: every image is used once before any is used twice.
struct Pool {
    next: usize,
    size: usize,
}

impl Pool {
    fn take(&mut self) -> usize {
        let i = self.next % self.size;
        self.next += 1;
        i
    }

    fn template(&mut self, rng: &mut Rng) -> Images {
        let main = self.take();
        let sidecar = (rng.below(4) == 0).then(|| self.take());
        // A sidecar or an init container, not both: Pods stay within 8-11 KB.
        let init = (sidecar.is_none() && rng.below(4) == 0).then(|| self.take());
        Images {
            main,
            sidecar,
            init,
        }
    }

    /// A single-container template of an image handed out before.
    fn earlier(&self, rng: &mut Rng) -> Images {
        let used = self.next.min(self.size);
        Images {
            main: (self.next - 1 - rng.below(used)) % self.size,
            sidecar: None,
            init: None,
        }
    }

    /// The `k`-th unpublished image among those used so far.
    fn missing(&self, k: usize, every: usize) -> usize {
        let used = self.next.min(self.size).max(1);
        let slots = used.div_ceil(every);
        (k % slots) * every
    }
}

/// A deterministic stream of numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn hash(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn hex(parts: &[&str], len: usize) -> String {
    let h = hash(parts);
    let mut out: String = h.iter().map(|b| format!("{b:02x}")).collect();
    while out.len() < len {
        out = format!("{out}{out}");
    }
    out.truncate(len);
    out
}

/// A uid of the version-4 shape, from what names the object.
fn uid(parts: &[&str]) -> String {
    let h = hex(parts, 32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// `len` characters of the alphabet kube uses for generated names.
fn suffix(parts: &[&str], len: usize) -> String {
    hash(parts)
        .iter()
        .take(len)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn time(minutes: u64) -> String {
    rfc3339(EPOCH + minutes * 60)
}

impl RealisticCluster {
    /// Plan the cluster (cheap: the objects are built as [`RealisticCluster::objects`]
    /// yields them).
    pub fn generate(options: RealisticOptions) -> RealisticCluster {
        let mut rng = Rng(0x7a67_7761_7264_656e);
        let namespaces: Vec<String> = (0..(options.pods / PODS_PER_NAMESPACE).max(3))
            .map(|i| format!("{}-{i}", TEAMS[i % TEAMS.len()]))
            .collect();
        let mut pool = Pool {
            next: 0,
            size: options.unique_images,
        };
        let mut workloads = Vec::new();
        let daemon_sets = (options.pods / 10 / options.nodes).min(3);
        for d in 0..daemon_sets {
            workloads.push(Workload {
                namespace: usize::MAX,
                name: ["node-exporter", "fluent-bit", "ebs-csi-node"][d].to_string(),
                replicas: options.nodes,
                kind: Kind::DaemonSet(pool.template(&mut rng)),
            });
        }
        let mut remaining = options.pods - daemon_sets * options.nodes;
        let mut deployments = 0usize;
        while remaining > 0 {
            let index = workloads.len();
            let namespace = index % namespaces.len();
            let service = SERVICES[rng.below(SERVICES.len())];
            let name = format!("{service}-{index}");
            let roll = rng.below(100);
            let (replicas, kind) = if roll < 82 || remaining < 3 {
                deployments += 1;
                // Old revisions (scaled to zero) use images current templates use too:
                // `scan` and `serve` report a Deployment's template, not its old
                // ReplicaSets, so an image only these had would never be checked.
                let current = pool.template(&mut rng);
                let old = rng.below(3);
                let mut revisions: Vec<Images> = (0..old).map(|_| pool.earlier(&mut rng)).collect();
                revisions.push(current);
                let failing = (deployments.is_multiple_of(FAILING_ROLLOUT_EVERY) && remaining >= 2)
                    .then(|| {
                        pool.missing(deployments / FAILING_ROLLOUT_EVERY, options.missing_every)
                    });
                let replicas = (rng.below(8) + 1).min(remaining - usize::from(failing.is_some()));
                (replicas, Kind::Deployment { revisions, failing })
            } else if roll < 92 {
                let replicas = (rng.below(5) + 1).min(remaining);
                (replicas, Kind::StatefulSet(pool.template(&mut rng)))
            } else {
                (3, Kind::CronJob(pool.template(&mut rng)))
            };
            let failing = matches!(
                kind,
                Kind::Deployment {
                    failing: Some(_),
                    ..
                }
            );
            remaining -= replicas + usize::from(failing);
            workloads.push(Workload {
                namespace,
                name,
                replicas,
                kind,
            });
        }
        let used = pool.next.min(pool.size);
        let images = (0..used)
            .map(|i| {
                let repo = i / TAGS_PER_REPOSITORY;
                let tag = i % TAGS_PER_REPOSITORY;
                RealisticImage {
                    repository: format!(
                        "{}/{}-{repo}",
                        TEAMS[repo % TEAMS.len()],
                        SERVICES[repo % SERVICES.len()]
                    ),
                    tag: format!("v2.{}.{}", tag / 10, tag % 10),
                    published: !i.is_multiple_of(options.missing_every),
                }
            })
            .collect();
        RealisticCluster {
            options,
            images,
            namespaces,
            workloads,
        }
    }

    /// The options it was generated with.
    pub fn options(&self) -> &RealisticOptions {
        &self.options
    }

    /// Every unique image the objects use (published or not), without the host.
    pub fn images(&self) -> &[RealisticImage] {
        &self.images
    }

    /// The full reference of image `i` of the pool.
    fn image(&self, i: usize) -> String {
        let image = &self.images[i % self.images.len()];
        format!(
            "{}/{}:{}",
            self.options.registry, image.repository, image.tag
        )
    }

    /// How many Pods [`RealisticCluster::objects`] yields.
    pub fn pod_count(&self) -> usize {
        self.workloads
            .iter()
            .map(|w| match &w.kind {
                Kind::Deployment { failing, .. } => w.replicas + usize::from(failing.is_some()),
                _ => w.replicas,
            })
            .sum()
    }

    /// Every object, in an order a cluster could have been built in (Namespaces,
    /// Nodes, ServiceAccounts and Secrets, then each workload with what it owns).
    pub fn objects(&self) -> impl Iterator<Item = Value> + '_ {
        let namespaces = std::iter::once("kube-system".to_string())
            .chain(self.namespaces.iter().cloned())
            .collect::<Vec<_>>();
        let base = namespaces
            .clone()
            .into_iter()
            .enumerate()
            .flat_map(move |(i, ns)| namespace_objects(&ns, i, &self.options.registry))
            .chain((0..self.options.nodes).map(|n| self.node(n)));
        base.chain(
            self.workloads
                .iter()
                .flat_map(move |w| self.workload_objects(w)),
        )
    }

    fn namespace_of(&self, w: &Workload) -> &str {
        self.namespaces
            .get(w.namespace)
            .map_or("kube-system", String::as_str)
    }

    /// The Deployments that [`RealisticCluster::rollout`] may restart (not mid-rollout).
    pub fn deployments(&self) -> Vec<usize> {
        self.workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| matches!(w.kind, Kind::Deployment { failing: None, .. }))
            .map(|(i, _)| i)
            .collect()
    }

    /// The revision of Deployment `d` the generated objects are at.
    pub fn current_revision(&self, d: usize) -> usize {
        match &self.workloads[d].kind {
            Kind::Deployment { revisions, .. } => revisions.len(),
            _ => panic!("workload {d} is not a Deployment"),
        }
    }

    /// The writes of `kubectl rollout restart` of Deployment `d` (see
    /// [`RealisticCluster::deployments`]) from revision `from` to `from + 1`: a new
    /// ReplicaSet, then for each replica a Pod created (`Pending`), its status set to
    /// running, an old Pod deleted; then the old ReplicaSet scaled to zero and the
    /// Deployment's template and status updated. The images stay the same.
    pub fn rollout(&self, d: usize, from: usize) -> Vec<Write> {
        let w = &self.workloads[d];
        let Kind::Deployment { revisions, .. } = &w.kind else {
            panic!("workload {d} is not a Deployment");
        };
        let images = *revisions.last().expect("a Deployment has a revision");
        let ns = self.namespace_of(w).to_string();
        let to = from + 1;
        let owner = self.owner_ref("apps/v1", "Deployment", &ns, &w.name);
        let old_rs = format!("{}-{}", w.name, suffix(&[&w.name, &from.to_string()], 10));
        let mut writes = vec![Write::Apply(self.replica_set(
            w,
            &ns,
            &owner,
            to,
            images,
            w.replicas,
            to as u64 * 1000,
        ))];
        let new_rs = format!("{}-{}", w.name, suffix(&[&w.name, &to.to_string()], 10));
        let rs_owner = self.owner_ref("apps/v1", "ReplicaSet", &ns, &new_rs);
        for i in 0..w.replicas {
            let name = format!("{new_rs}-{}", suffix(&[&new_rs, &i.to_string()], 5));
            let labels = self.labels(w, Some(&hash_of(&new_rs)));
            let mut pod = self.pod(&PodPlan {
                ns: &ns,
                name: &name,
                app: &w.name,
                labels,
                owner: rs_owner.clone(),
                images,
                node: self.node_for(&name),
                state: PodState::Running,
                minutes: to as u64 * 1000,
                restarted: Some(to),
            });
            let running = pod.clone();
            pod["status"] = json!({"phase": "Pending", "qosClass": "Burstable",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                                "lastTransitionTime": time(to as u64 * 1000)}]});
            writes.push(Write::Apply(pod));
            writes.push(Write::Apply(running));
            let old = format!("{old_rs}-{}", suffix(&[&old_rs, &i.to_string()], 5));
            writes.push(Write::Delete("v1", "Pod", ns.clone(), old));
        }
        writes.push(Write::Apply(self.replica_set(
            w,
            &ns,
            &owner,
            from,
            images,
            0,
            from as u64 * 1000,
        )));
        let mut deployment = self.deployment(w, &ns, images, Some(to));
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
            json!(to.to_string());
        writes.push(Write::Apply(deployment));
        writes
    }

    fn owner_ref(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Value {
        json!({
            "apiVersion": api_version, "kind": kind, "name": name,
            "uid": uid(&[kind, ns, name]), "controller": true, "blockOwnerDeletion": true,
        })
    }

    fn node_name(&self, n: usize) -> String {
        let (b, c) = (n / 250 % 250 + 1, n % 250 + 1);
        format!("ip-10-{}-{b}-{c}.eu-west-1.compute.internal", n / 62500)
    }

    fn node_for(&self, pod: &str) -> usize {
        let h = hash(&[pod, "node"]);
        let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
        (n % self.options.nodes as u64) as usize
    }

    fn labels(&self, w: &Workload, hash: Option<&str>) -> Value {
        let mut labels = json!({
            "app.kubernetes.io/name": w.name,
            "app.kubernetes.io/instance": format!("{}-{}", w.name, self.namespace_of(w)),
            "app.kubernetes.io/version": "2.4.1",
            "app.kubernetes.io/component": "server",
            "app.kubernetes.io/part-of": TEAMS[w.namespace % TEAMS.len()],
            "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": format!("{}-1.8.3", w.name),
        });
        if let Some(h) = hash {
            labels["pod-template-hash"] = json!(h);
        }
        labels
    }

    fn workload_objects(&self, w: &Workload) -> Vec<Value> {
        let ns = self.namespace_of(w).to_string();
        match &w.kind {
            Kind::Deployment { revisions, failing } => {
                self.deployment_objects(w, &ns, revisions, *failing)
            }
            Kind::StatefulSet(images) => self.stateful_set_objects(w, &ns, *images),
            Kind::DaemonSet(images) => self.daemon_set_objects(w, &ns, *images),
            Kind::CronJob(images) => self.cron_job_objects(w, &ns, *images),
        }
    }

    fn deployment_objects(
        &self,
        w: &Workload,
        ns: &str,
        revisions: &[Images],
        failing: Option<usize>,
    ) -> Vec<Value> {
        let current = *revisions.last().expect("a Deployment has a revision");
        let owner = self.owner_ref("apps/v1", "Deployment", ns, &w.name);
        let mut objects = Vec::new();
        let mut template_images = current;
        for (r, images) in revisions.iter().enumerate() {
            let replicas = if r + 1 == revisions.len() {
                w.replicas
            } else {
                0
            };
            objects.push(self.replica_set(w, ns, &owner, r + 1, *images, replicas, r as u64 * 600));
        }
        let serving = revisions.len();
        let mut pods_of = vec![(serving, current, w.replicas, PodState::Running)];
        if let Some(missing) = failing {
            template_images = Images {
                main: missing,
                sidecar: None,
                init: None,
            };
            let next = revisions.len() + 1;
            objects.push(self.replica_set(w, ns, &owner, next, template_images, 1, 5000));
            pods_of.push((next, template_images, 1, PodState::ImagePullBackOff));
        }
        for (revision, images, count, state) in pods_of {
            let rs = format!(
                "{}-{}",
                w.name,
                suffix(&[&w.name, &revision.to_string()], 10)
            );
            let rs_owner = self.owner_ref("apps/v1", "ReplicaSet", ns, &rs);
            for i in 0..count {
                let name = format!("{rs}-{}", suffix(&[&rs, &i.to_string()], 5));
                let pod = self.pod(&PodPlan {
                    ns,
                    name: &name,
                    app: &w.name,
                    labels: self.labels(w, Some(&hash_of(&rs))),
                    owner: rs_owner.clone(),
                    images,
                    node: self.node_for(&name),
                    state,
                    minutes: revision as u64 * 600,
                    restarted: None,
                });
                if state == PodState::ImagePullBackOff {
                    objects.extend(self.pull_events(&pod));
                }
                objects.push(pod);
            }
        }
        objects.insert(0, self.deployment(w, ns, template_images, None));
        objects
    }

    fn stateful_set_objects(&self, w: &Workload, ns: &str, images: Images) -> Vec<Value> {
        let mut set = self.workload("apps/v1", "StatefulSet", w, ns, images, None);
        for k in ["strategy", "progressDeadlineSeconds"] {
            set["spec"].as_object_mut().expect("an object").remove(k);
        }
        set["spec"]["serviceName"] = json!(w.name);
        set["spec"]["podManagementPolicy"] = json!("OrderedReady");
        set["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
        set["spec"]["persistentVolumeClaimRetentionPolicy"] =
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
        refresh_apply_fields(&mut set);
        let revision = format!("{}-{}", w.name, hex(&[&w.name, "rev"], 10));
        set["status"] = json!({
            "availableReplicas": w.replicas, "collisionCount": 0, "currentReplicas": w.replicas,
            "currentRevision": revision, "observedGeneration": 1, "readyReplicas": w.replicas,
            "replicas": w.replicas, "updateRevision": revision, "updatedReplicas": w.replicas,
        });
        let owner = self.owner_ref("apps/v1", "StatefulSet", ns, &w.name);
        let mut objects = vec![set];
        for i in 0..w.replicas {
            let name = format!("{}-{i}", w.name);
            let mut labels = self.labels(w, None);
            labels["controller-revision-hash"] = json!(revision);
            labels["statefulset.kubernetes.io/pod-name"] = json!(name);
            labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
            objects.push(self.pod(&PodPlan {
                ns,
                name: &name,
                app: &w.name,
                labels,
                owner: owner.clone(),
                images,
                node: self.node_for(&name),
                state: PodState::Running,
                minutes: 300,
                restarted: None,
            }));
        }
        objects
    }

    fn daemon_set_objects(&self, w: &Workload, ns: &str, images: Images) -> Vec<Value> {
        let mut set = self.workload("apps/v1", "DaemonSet", w, ns, images, None);
        for k in ["replicas", "strategy", "progressDeadlineSeconds"] {
            set["spec"].as_object_mut().expect("an object").remove(k);
        }
        set["spec"]["updateStrategy"] = json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}});
        refresh_apply_fields(&mut set);
        let n = w.replicas;
        set["status"] = json!({
            "currentNumberScheduled": n, "desiredNumberScheduled": n, "numberAvailable": n,
            "numberMisscheduled": 0, "numberReady": n, "observedGeneration": 1,
            "updatedNumberScheduled": n,
        });
        let owner = self.owner_ref("apps/v1", "DaemonSet", ns, &w.name);
        let revision = hex(&[&w.name, "rev"], 10);
        let mut objects = vec![set];
        for node in 0..n {
            let name = format!("{}-{}", w.name, suffix(&[&w.name, &node.to_string()], 5));
            let mut labels = self.labels(w, None);
            labels["controller-revision-hash"] = json!(revision);
            labels["pod-template-generation"] = json!("1");
            objects.push(self.pod(&PodPlan {
                ns,
                name: &name,
                app: &w.name,
                labels,
                owner: owner.clone(),
                images,
                node,
                state: PodState::Running,
                minutes: 10,
                restarted: None,
            }));
        }
        objects
    }

    fn cron_job_objects(&self, w: &Workload, ns: &str, images: Images) -> Vec<Value> {
        let mut template = self.workload("batch/v1", "CronJob", w, ns, images, None);
        let pod_template = template["spec"]["template"].take();
        let spec = template["spec"].as_object_mut().expect("an object");
        spec.remove("replicas");
        spec.remove("selector");
        spec.remove("strategy");
        spec.remove("revisionHistoryLimit");
        spec.remove("progressDeadlineSeconds");
        template["spec"] = json!({
            "concurrencyPolicy": "Forbid", "failedJobsHistoryLimit": 1,
            "schedule": "*/20 * * * *", "successfulJobsHistoryLimit": 3, "suspend": false,
            "jobTemplate": {"metadata": {"creationTimestamp": null},
                            "spec": {"backoffLimit": 2, "template": pod_template}},
        });
        refresh_apply_fields(&mut template);
        template["status"] =
            json!({"lastScheduleTime": time(7200), "lastSuccessfulTime": time(7201)});
        let owner = self.owner_ref("batch/v1", "CronJob", ns, &w.name);
        let mut objects = vec![template];
        for j in 0..w.replicas {
            let scheduled = 29_700_000 + j * 20;
            let job_name = format!("{}-{scheduled}", w.name);
            let mut job = self.workload("batch/v1", "Job", w, ns, images, None);
            job["metadata"]["name"] = json!(job_name);
            job["metadata"]["uid"] = json!(uid(&["Job", ns, &job_name]));
            job["metadata"]["ownerReferences"] = json!([owner]);
            job["metadata"]["annotations"] = json!({"batch.kubernetes.io/cronjob-scheduled-timestamp": time(7000 + j as u64 * 20)});
            let spec = job["spec"].as_object_mut().expect("an object");
            for k in [
                "replicas",
                "strategy",
                "revisionHistoryLimit",
                "progressDeadlineSeconds",
            ] {
                spec.remove(k);
            }
            spec.insert("backoffLimit".into(), json!(2));
            spec.insert("completionMode".into(), json!("NonIndexed"));
            spec.insert("completions".into(), json!(1));
            spec.insert("parallelism".into(), json!(1));
            spec.insert("suspend".into(), json!(false));
            spec.insert("podReplacementPolicy".into(), json!("TerminatingOrFailed"));
            spec.insert("manualSelector".into(), json!(false));
            let job_uid = uid(&["Job", ns, &job_name]);
            job["spec"]["selector"] =
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}});
            job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] =
                json!(job_uid);
            job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] =
                json!(job_name);
            job["status"] = json!({"completionTime": time(7001 + j as u64 * 20), "ready": 0,
                "startTime": time(7000 + j as u64 * 20), "succeeded": 1, "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": time(7001 + j as u64 * 20),
                                "lastTransitionTime": time(7001 + j as u64 * 20)}]});
            job["metadata"]["managedFields"] = json!([
                managed(
                    "kube-controller-manager",
                    "batch/v1",
                    7000,
                    None,
                    &subset(
                        &job,
                        &[
                            ("metadata", &["annotations", "labels", "ownerReferences"]),
                            ("spec", &[])
                        ]
                    )
                ),
                managed(
                    "kube-controller-manager",
                    "batch/v1",
                    7001,
                    Some("status"),
                    &subset(&job, &[("status", &[])])
                ),
            ]);
            let job_owner = self.owner_ref("batch/v1", "Job", ns, &job_name);
            let name = format!("{job_name}-{}", suffix(&[&job_name], 5));
            let mut labels = self.labels(w, None);
            labels["batch.kubernetes.io/job-name"] = json!(job_name);
            labels["batch.kubernetes.io/controller-uid"] = job["metadata"]["uid"].clone();
            objects.push(job);
            objects.push(self.pod(&PodPlan {
                ns,
                name: &name,
                app: &w.name,
                labels,
                owner: job_owner,
                images,
                node: self.node_for(&name),
                state: PodState::Completed,
                minutes: 7000 + j as u64 * 20,
                restarted: None,
            }));
        }
        objects
    }

    /// A Deployment with its template (`restarted`: the restartedAt annotation of a
    /// `kubectl rollout restart` to that revision).
    fn deployment(
        &self,
        w: &Workload,
        ns: &str,
        images: Images,
        restarted: Option<usize>,
    ) -> Value {
        let mut d = self.workload("apps/v1", "Deployment", w, ns, images, restarted);
        let revision = match &w.kind {
            Kind::Deployment { revisions, failing } => {
                revisions.len() + usize::from(failing.is_some())
            }
            _ => 1,
        };
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
            json!(revision.to_string());
        d["status"] = json!({
            "availableReplicas": w.replicas, "observedGeneration": revision, "readyReplicas": w.replicas,
            "replicas": w.replicas, "updatedReplicas": w.replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.",
                 "lastTransitionTime": time(60), "lastUpdateTime": time(60)},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{}-{}\" has successfully progressed.", w.name,
                                    suffix(&[&w.name, &revision.to_string()], 10)),
                 "lastTransitionTime": time(60), "lastUpdateTime": time(600)},
            ],
        });
        let status = managed(
            "kube-controller-manager",
            "apps/v1",
            600,
            Some("status"),
            &subset(&d, &[("status", &[])]),
        );
        d["metadata"]["managedFields"]
            .as_array_mut()
            .expect("workload() writes managedFields")
            .push(status);
        d
    }

    /// A workload object with the Pod template of `images`, as `kubectl apply` of a Helm
    /// chart's manifest leaves it (the last-applied annotation, its managedFields entry).
    fn workload(
        &self,
        api_version: &str,
        kind: &str,
        w: &Workload,
        ns: &str,
        images: Images,
        restarted: Option<usize>,
    ) -> Value {
        let labels = self.labels(w, None);
        let mut pod_annotations = pod_annotations(&w.name);
        if let Some(r) = restarted {
            pod_annotations["kubectl.kubernetes.io/restartedAt"] = json!(time(r as u64 * 1000));
        }
        let selector = json!({"matchLabels": {"app.kubernetes.io/name": w.name,
            "app.kubernetes.io/instance": labels["app.kubernetes.io/instance"]}});
        let applied = json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {"name": w.name, "namespace": ns, "labels": labels,
                         "annotations": {"meta.helm.sh/release-name": w.name,
                                         "meta.helm.sh/release-namespace": ns}},
            "spec": {
                "replicas": w.replicas,
                "selector": selector,
                "template": {
                    "metadata": {"labels": labels, "annotations": pod_annotations},
                    "spec": self.pod_spec(&w.name, images),
                },
            },
        });
        let mut object = applied.clone();
        let last_applied = applied.to_string();
        let meta = object["metadata"].as_object_mut().expect("an object");
        meta.insert("uid".into(), json!(uid(&[kind, ns, &w.name])));
        meta.insert("creationTimestamp".into(), json!(time(0)));
        meta.insert("generation".into(), json!(1));
        meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!(last_applied);
        let spec = object["spec"].as_object_mut().expect("an object");
        spec.insert("revisionHistoryLimit".into(), json!(10));
        spec.insert("progressDeadlineSeconds".into(), json!(600));
        spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
        object["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
        let fields = subset(
            &object,
            &[("metadata", &["annotations", "labels"]), ("spec", &[])],
        );
        object["metadata"]["managedFields"] = json!([managed(
            "kubectl-client-side-apply",
            api_version,
            0,
            None,
            &fields
        )]);
        object
    }

    #[allow(clippy::too_many_arguments)]
    fn replica_set(
        &self,
        w: &Workload,
        ns: &str,
        owner: &Value,
        revision: usize,
        images: Images,
        replicas: usize,
        minutes: u64,
    ) -> Value {
        let name = format!(
            "{}-{}",
            w.name,
            suffix(&[&w.name, &revision.to_string()], 10)
        );
        let restarted = (revision > self.current_revision_of(w)).then_some(revision);
        let mut rs = self.workload("apps/v1", "ReplicaSet", w, ns, images, restarted);
        let hash = hash_of(&name);
        let meta = rs["metadata"].as_object_mut().expect("an object");
        meta.insert("name".into(), json!(name));
        meta.insert("uid".into(), json!(uid(&["ReplicaSet", ns, &name])));
        meta.insert("creationTimestamp".into(), json!(time(minutes)));
        meta.insert("ownerReferences".into(), json!([owner]));
        meta.insert(
            "annotations".into(),
            json!({"deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
                   "deployment.kubernetes.io/max-replicas": (w.replicas + 1).to_string(),
                   "deployment.kubernetes.io/revision": revision.to_string(),
                   "meta.helm.sh/release-name": w.name, "meta.helm.sh/release-namespace": ns}),
        );
        meta["labels"]["pod-template-hash"] = json!(hash);
        let spec = rs["spec"].as_object_mut().expect("an object");
        for k in [
            "strategy",
            "revisionHistoryLimit",
            "progressDeadlineSeconds",
        ] {
            spec.remove(k);
        }
        spec.insert("replicas".into(), json!(replicas));
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] = json!(hash);
        rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        rs["status"] = json!({"availableReplicas": replicas, "fullyLabeledReplicas": replicas,
            "observedGeneration": 1, "readyReplicas": replicas, "replicas": replicas});
        let fields = subset(
            &rs,
            &[
                ("metadata", &["annotations", "labels", "ownerReferences"]),
                ("spec", &[]),
            ],
        );
        rs["metadata"]["managedFields"] = json!([
            managed("kube-controller-manager", "apps/v1", minutes, None, &fields),
            managed(
                "kube-controller-manager",
                "apps/v1",
                minutes + 1,
                Some("status"),
                &subset(&rs, &[("status", &[])])
            ),
        ]);
        rs
    }

    fn current_revision_of(&self, w: &Workload) -> usize {
        match &w.kind {
            Kind::Deployment { revisions, .. } => revisions.len(),
            _ => 1,
        }
    }

    /// The Pod spec of a template: main container, maybe a sidecar and an init container.
    fn pod_spec(&self, app: &str, images: Images) -> Value {
        let mut containers = vec![main_container(app, &self.image(images.main))];
        if let Some(s) = images.sidecar {
            containers.push(sidecar_container(&self.image(s)));
        }
        let mut spec = json!({
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {"fsGroup": 1000, "runAsNonRoot": true,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "serviceAccountName": "app",
            "terminationGracePeriodSeconds": 30,
            "volumes": [
                {"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}},
                {"name": "tls", "secret": {"secretName": format!("{app}-tls"), "defaultMode": 420}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            ],
        });
        if let Some(i) = images.init {
            spec["initContainers"] = json!([{
                "name": "migrate", "image": self.image(i), "imagePullPolicy": "IfNotPresent",
                "command": ["/app/migrate", "--wait", "--timeout=120s"],
                "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/etc/app", "name": "config", "readOnly": true}],
            }]);
        }
        spec
    }

    fn pod(&self, plan: &PodPlan<'_>) -> Value {
        let mut spec = self.pod_spec(plan.app, plan.images);
        let mut annotations = pod_annotations(plan.app);
        if let Some(r) = plan.restarted {
            annotations["kubectl.kubernetes.io/restartedAt"] = json!(time(r as u64 * 1000));
        }
        let mut metadata = json!({
            "name": plan.name, "namespace": plan.ns, "uid": uid(&["Pod", plan.ns, plan.name]),
            "creationTimestamp": time(plan.minutes), "labels": plan.labels,
            "annotations": annotations, "ownerReferences": [plan.owner],
        });
        if plan.owner["kind"] != "StatefulSet" {
            metadata["generateName"] = json!(format!(
                "{}-",
                plan.owner["name"].as_str().unwrap_or_default()
            ));
        }
        let controller_fields = subset(
            &json!({"metadata": metadata, "spec": spec}),
            &[
                (
                    "metadata",
                    &["generateName", "labels", "annotations", "ownerReferences"],
                ),
                ("spec", &[]),
            ],
        );
        let token_volume = format!("kube-api-access-{}", suffix(&[plan.name, "token"], 5));
        for key in ["containers", "initContainers"] {
            for c in spec[key].as_array_mut().into_iter().flatten() {
                c["volumeMounts"]
                    .as_array_mut()
                    .expect("mounts")
                    .push(json!({
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "name": token_volume, "readOnly": true}));
            }
        }
        spec["volumes"]
            .as_array_mut()
            .expect("volumes")
            .push(token_volume_of(&token_volume));
        let node = self.node_name(plan.node);
        let extra = json!({
            "nodeName": node, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "serviceAccount": "app",
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
            ],
        });
        for (k, v) in extra.as_object().expect("an object") {
            spec[k] = v.clone();
        }
        let status = self.pod_status(plan, &spec);
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                             "spec": spec, "status": status});
        let kubelet_fields = subset(&pod, &[("status", &[])]);
        pod["metadata"]["managedFields"] = json!([
            managed(
                "kube-controller-manager",
                "v1",
                plan.minutes,
                None,
                &controller_fields
            ),
            managed(
                "kubelet",
                "v1",
                plan.minutes + 1,
                Some("status"),
                &kubelet_fields
            ),
        ]);
        pod
    }

    fn pod_status(&self, plan: &PodPlan<'_>, spec: &Value) -> Value {
        let at = time(plan.minutes);
        let host_ip = node_ip(plan.node);
        let h = hash(&[plan.name, "ip"]);
        let pod_ip = format!("10.{}.{}.{}", 64 + h[0] % 64, h[1], h[2] % 254 + 1);
        let statuses: Vec<Value> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| self.container_status(plan, c, &at))
            .collect();
        let ready = plan.state == PodState::Running;
        let condition = |t: &str, ok: bool| {
            let mut c = json!({"type": t, "status": if ok {"True"} else {"False"},
                               "lastProbeTime": null, "lastTransitionTime": at});
            if !ok {
                c["reason"] = json!(if plan.state == PodState::Completed {
                    "PodCompleted"
                } else {
                    "ContainersNotReady"
                });
            }
            c
        };
        let mut status = json!({
            "phase": match plan.state {
                PodState::Running => "Running",
                PodState::Completed => "Succeeded",
                PodState::ImagePullBackOff => "Pending",
            },
            "conditions": [condition("PodReadyToStartContainers", plan.state != PodState::Completed),
                           condition("Initialized", true), condition("Ready", ready),
                           condition("ContainersReady", ready), condition("PodScheduled", true)],
            "containerStatuses": statuses,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "qosClass": "Burstable", "startTime": at,
        });
        if let Some(init) = spec["initContainers"].as_array().and_then(|a| a.first()) {
            let mut s = self.container_status(plan, init, &at);
            s["ready"] = json!(true);
            s["started"] = json!(false);
            s["state"] = json!({"terminated": {"containerID": s["containerID"], "exitCode": 0,
                "finishedAt": at, "reason": "Completed", "startedAt": at}});
            status["initContainerStatuses"] = json!([s]);
        }
        status
    }

    fn container_status(&self, plan: &PodPlan<'_>, container: &Value, at: &str) -> Value {
        let name = container["name"].as_str().unwrap_or_default();
        let image = container["image"].as_str().unwrap_or_default();
        let id = format!("containerd://{}", hex(&[plan.name, name, "container"], 64));
        let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
        let image_id = format!("{repo}@sha256:{}", hex(&[image, "digest"], 64));
        match plan.state {
            PodState::ImagePullBackOff => json!({
                "name": name, "image": image, "imageID": "", "lastState": {}, "ready": false,
                "restartCount": 0, "started": false,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                                      "message": format!("Back-off pulling image \"{image}\"")}},
            }),
            PodState::Completed => json!({
                "name": name, "image": image, "imageID": image_id, "containerID": id,
                "lastState": {}, "ready": false, "restartCount": 0, "started": false,
                "state": {"terminated": {"containerID": id, "exitCode": 0, "finishedAt": at,
                                         "reason": "Completed", "startedAt": at}},
            }),
            PodState::Running => json!({
                "name": name, "image": image, "imageID": image_id, "containerID": id,
                "lastState": {}, "ready": true, "restartCount": usize::from(hash(&[plan.name])[3].is_multiple_of(8)),
                "started": true, "state": {"running": {"startedAt": at}},
            }),
        }
    }

    /// The kubelet's Events about a Pod that cannot pull its image.
    fn pull_events(&self, pod: &Value) -> Vec<Value> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let container = &pod["spec"]["containers"][0];
        let image = container["image"].as_str().unwrap_or_default();
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        let not_found = format!(
            "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and \
             unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
        );
        [
            ("Normal", "Pulling", format!("Pulling image \"{image}\""), 5),
            ("Warning", "Failed", not_found, 5),
            ("Warning", "Failed", "Error: ErrImagePull".to_string(), 5),
            ("Normal", "BackOff", format!("Back-off pulling image \"{image}\""), 21),
            ("Warning", "Failed", "Error: ImagePullBackOff".to_string(), 21),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (typ, reason, message, count))| {
            let event = format!("{name}.{}", hex(&[name, &i.to_string()], 16));
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": event, "namespace": ns, "uid": uid(&["Event", ns, &event]),
                             "creationTimestamp": time(5000)},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns,
                                   "uid": pod["metadata"]["uid"],
                                   "fieldPath": format!("spec.containers{{{}}}", container["name"].as_str().unwrap_or_default())},
                "reason": reason, "message": message, "type": typ, "count": count,
                "firstTimestamp": time(5000), "lastTimestamp": time(5030), "eventTime": null,
                "reportingComponent": "kubelet", "reportingInstance": node,
                "source": {"component": "kubelet", "host": node},
            })
        })
        .collect()
    }

    fn node(&self, n: usize) -> Value {
        let name = self.node_name(n);
        let ip = node_ip(n);
        let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][n % 3];
        let instance = ["m6i.2xlarge", "m6i.4xlarge", "c6i.4xlarge"][n % 3];
        let group = format!("ng-{}", ["general", "compute", "memory"][n % 3]);
        let images: Vec<Value> = (0..NODE_IMAGES)
            .map(|i| {
                let image = self.image(hash(&[&name, &i.to_string()])[0] as usize * 97 + i);
                let repo = image
                    .rsplit_once(':')
                    .map_or(image.as_str(), |(r, _)| r)
                    .to_string();
                json!({"names": [format!("{repo}@sha256:{}", hex(&[&image, "digest"], 64)), image],
                       "sizeBytes": 10_000_000 + (hash(&[&image])[0] as u64) * 400_000})
            })
            .collect();
        let mut node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name, "uid": uid(&["Node", &name]), "creationTimestamp": time(0),
                "annotations": {"alpha.kubernetes.io/provided-node-ip": ip,
                                "node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                                "csi.volume.kubernetes.io/nodeid": format!("{{\"ebs.csi.aws.com\":\"i-{}\"}}", hex(&[&name, "i"], 17))},
                "labels": {
                    "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": instance,
                    "beta.kubernetes.io/os": "linux", "eks.amazonaws.com/capacityType": "ON_DEMAND",
                    "eks.amazonaws.com/nodegroup": group,
                    "failure-domain.beta.kubernetes.io/region": "eu-west-1",
                    "failure-domain.beta.kubernetes.io/zone": zone, "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": instance,
                    "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": zone,
                },
            },
            "spec": {"providerID": format!("aws:///{zone}/i-{}", hex(&[&name, "i"], 17)),
                     "podCIDR": format!("10.{}.{}.0/24", 64 + n / 256 % 64, n % 256)},
            "status": {
                "addresses": [{"address": ip, "type": "InternalIP"},
                              {"address": name, "type": "InternalDNS"},
                              {"address": name, "type": "Hostname"}],
                "allocatable": {"cpu": "7910m", "ephemeral-storage": "95491281146", "hugepages-1Gi": "0",
                                "hugepages-2Mi": "0", "memory": "31482112Ki", "pods": "110"},
                "capacity": {"cpu": "8", "ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0",
                             "hugepages-2Mi": "0", "memory": "32408832Ki", "pods": "110"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": time(9000), "lastTransitionTime": time(0)},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": time(9000), "lastTransitionTime": time(0)},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": time(9000), "lastTransitionTime": time(0)},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": time(9000), "lastTransitionTime": time(1)},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "images": images,
                "nodeInfo": {
                    "architecture": "amd64", "bootID": uid(&[&name, "boot"]),
                    "containerRuntimeVersion": "containerd://1.7.25",
                    "kernelVersion": "6.1.127-135.201.amzn2023.x86_64",
                    "kubeProxyVersion": "v1.32.1-eks-5e0fdde", "kubeletVersion": "v1.32.1-eks-5e0fdde",
                    "machineID": hex(&[&name, "machine"], 32), "operatingSystem": "linux",
                    "osImage": "Amazon Linux 2023.6.20250203", "systemUUID": uid(&[&name, "system"]),
                },
            },
        });
        if n % 10 == 9 {
            node["spec"]["taints"] =
                json!([{"effect": "NoSchedule", "key": "dedicated", "value": "batch"}]);
        }
        let fields = subset(
            &node,
            &[("metadata", &["annotations", "labels"]), ("spec", &[])],
        );
        let status_fields = json!({"f:status": {"f:allocatable": {}, "f:capacity": {}, "f:conditions": {},
                                                "f:images": {}, "f:nodeInfo": {}}});
        node["metadata"]["managedFields"] = json!([
            managed("kubelet", "v1", 0, None, &fields),
            managed("kubelet", "v1", 9000, Some("status"), &status_fields),
        ]);
        node
    }
}

/// The objects of one namespace: itself, its ServiceAccounts, maybe a pull Secret.
fn namespace_objects(ns: &str, index: usize, registry: &str) -> Vec<Value> {
    let with_secret = index % 5 == 1;
    let mut objects = vec![json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "uid": uid(&["Namespace", ns]), "creationTimestamp": time(0),
                     "labels": {"kubernetes.io/metadata.name": ns}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    })];
    for sa in ["default", "app"] {
        let mut account = json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": sa, "namespace": ns, "uid": uid(&["ServiceAccount", ns, sa]),
                         "creationTimestamp": time(0)},
        });
        if with_secret {
            account["imagePullSecrets"] = json!([{"name": "regcred"}]);
        }
        objects.push(account);
    }
    if with_secret {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut auths = Map::new();
        auths.insert(
            registry.to_string(),
            json!({"auth": b64("puller:pull-only-token")}),
        );
        let config = json!({ "auths": auths });
        objects.push(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "regcred", "namespace": ns, "uid": uid(&["Secret", ns, "regcred"]),
                         "creationTimestamp": time(0)},
            "data": {".dockerconfigjson": b64(&config.to_string())},
        }));
    }
    objects
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodState {
    Running,
    Completed,
    ImagePullBackOff,
}

struct PodPlan<'a> {
    ns: &'a str,
    name: &'a str,
    app: &'a str,
    labels: Value,
    owner: Value,
    images: Images,
    node: usize,
    state: PodState,
    minutes: u64,
    restarted: Option<usize>,
}

/// The pod-template-hash of a ReplicaSet name (its last ten characters).
fn hash_of(rs: &str) -> String {
    rs.rsplit('-').next().unwrap_or_default().to_string()
}

fn node_ip(n: usize) -> String {
    format!("10.{}.{}.{}", n / 62500, n / 250 % 250 + 1, n % 250 + 1)
}

fn pod_annotations(app: &str) -> Value {
    json!({
        "checksum/config": hex(&[app, "config"], 64),
        "prometheus.io/scrape": "true", "prometheus.io/port": "9090",
    })
}

fn main_container(app: &str, image: &str) -> Value {
    let probe = |path: &str, delay: u32| {
        json!({"httpGet": {"path": path, "port": "http", "scheme": "HTTP"}, "initialDelaySeconds": delay,
               "periodSeconds": 10, "timeoutSeconds": 2, "successThreshold": 1, "failureThreshold": 3})
    };
    json!({
        "name": app, "image": image, "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", "--log-format=json", "--listen=:8080"],
        "env": [
            {"name": "APP_NAME", "value": app},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
            {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"key": "url", "name": format!("{app}-db")}}},
        ],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"},
                  {"containerPort": 9090, "name": "metrics", "protocol": "TCP"}],
        "livenessProbe": probe("/healthz", 10),
        "readinessProbe": probe("/readyz", 5),
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": true, "runAsUser": 10001},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/etc/app", "name": "config", "readOnly": true},
                         {"mountPath": "/etc/tls", "name": "tls", "readOnly": true},
                         {"mountPath": "/tmp", "name": "tmp"}],
    })
}

fn sidecar_container(image: &str) -> Value {
    json!({
        "name": "envoy", "image": image, "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "20m", "memory": "64Mi"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/etc/envoy", "name": "config", "readOnly": true}],
    })
}

fn token_volume_of(name: &str) -> Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}},
    ]}})
}

/// Recompute the `kubectl-client-side-apply` entry after a workload's spec was edited.
fn refresh_apply_fields(object: &mut Value) {
    let fields = subset(
        object,
        &[("metadata", &["annotations", "labels"]), ("spec", &[])],
    );
    object["metadata"]["managedFields"][0]["fieldsV1"] = fields;
}

/// A `managedFields` entry.
fn managed(
    manager: &str,
    api_version: &str,
    minutes: u64,
    subresource: Option<&str>,
    fields: &Value,
) -> Value {
    let mut entry = json!({"apiVersion": api_version, "fieldsType": "FieldsV1", "fieldsV1": fields,
                           "manager": manager, "operation": "Update", "time": time(minutes)});
    if let Some(s) = subresource {
        entry["subresource"] = json!(s);
    }
    entry
}

/// The fieldsV1 of the top-level fields `parts` names (with, for each, the subfields to
/// take; empty: all) of `object`.
fn subset(object: &Value, parts: &[(&str, &[&str])]) -> Value {
    let mut out = Map::new();
    for (top, keys) in parts {
        let Some(Value::Object(map)) = object.get(*top) else {
            continue;
        };
        let mut fields = Map::new();
        for (k, v) in map {
            if keys.is_empty() || keys.contains(&k.as_str()) {
                fields.insert(format!("f:{k}"), fields_v1(k, v, true));
            }
        }
        out.insert(format!("f:{top}"), Value::Object(fields));
    }
    Value::Object(out)
}

/// The key fields of the keyed lists of the kinds generated (as in their OpenAPI's
/// `x-kubernetes-list-map-keys`).
fn list_keys(field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" => &["name"],
        "ports" => &["containerPort", "protocol"],
        "volumeMounts" => &["mountPath"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "podIPs" | "hostIPs" => &["ip"],
        _ => return None,
    })
}

/// The fieldsV1 of one field's value: `{}` for a leaf or an atomic list; `f:` per key
/// of an object (with `.` for the object itself when `owned`); `k:{…}` per element of a
/// keyed list.
fn fields_v1(field: &str, value: &Value, owned: bool) -> Value {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut out = Map::new();
            if owned {
                out.insert(".".into(), json!({}));
            }
            for (k, v) in map {
                out.insert(format!("f:{k}"), fields_v1(k, v, true));
            }
            Value::Object(out)
        }
        Value::Array(items) => match list_keys(field) {
            Some(keys) => {
                let mut out = Map::new();
                for item in items {
                    let key: BTreeMap<&str, &Value> = keys
                        .iter()
                        .filter_map(|k| Some((*k, item.get(*k)?)))
                        .collect();
                    let key = serde_json::to_string(&key).expect("a JSON value serializes");
                    out.insert(format!("k:{key}"), fields_v1("", item, true));
                }
                Value::Object(out)
            }
            None => json!({}),
        },
        _ => json!({}),
    }
}

/// Push every published image of `cluster` to `registry`: per repository one image, then
/// its other published tags as manifest PUTs of the same bytes, repositories
/// concurrently. Returns how many tags were pushed.
///
/// # Panics
///
/// If the registry answers anything unexpected.
pub fn seed_realistic_images(registry: &crate::Registry, cluster: &RealisticCluster) -> usize {
    let seeder = registry.seeder();
    let mut by_repo: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for image in cluster.images().iter().filter(|i| i.published) {
        by_repo
            .entry(&image.repository)
            .or_default()
            .push(image.tag.clone());
    }
    let pushed = by_repo.values().map(Vec::len).sum();
    let jobs: Vec<(String, Vec<String>)> = by_repo
        .into_iter()
        .map(|(repo, tags)| (repo.to_string(), tags))
        .collect();
    let http = seeder.http().clone();
    seeder.block_on(async move {
        futures::stream::iter(jobs)
            .map(|(repo, tags)| {
                let http = http.clone();
                async move { http.many_tags(&repo, &tags).await }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
    });
    pushed
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    fn sizes(cluster: &RealisticCluster) -> Vec<usize> {
        cluster
            .objects()
            .filter(|o| o["kind"] == "Pod")
            .map(|o| serde_json::to_vec(&o).expect("serializes").len())
            .collect()
    }

    #[test]
    fn pods_are_as_large_as_real_ones() {
        let cluster =
            RealisticCluster::generate(RealisticOptions::new(3000).registry("127.0.0.1:5000"));
        let sizes = sizes(&cluster);
        assert_eq!(sizes.len(), 3000);
        assert_eq!(cluster.pod_count(), 3000);
        let (min, max) = (sizes.iter().min().copied(), sizes.iter().max().copied());
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!(
            min >= Some(8 * 1024) && max <= Some(11 * 1024),
            "Pods of {min:?}..{max:?} bytes (mean {mean}); real ones are 8-11 KB"
        );
    }

    #[test]
    fn every_owner_exists_and_every_image_is_used() {
        let cluster = RealisticCluster::generate(RealisticOptions::new(5000).nodes(40));
        let objects: Vec<Value> = cluster.objects().collect();
        let mut by_uid: HashMap<String, (String, String, String)> = HashMap::new();
        for o in &objects {
            let uid = o["metadata"]["uid"]
                .as_str()
                .expect("every object has a uid")
                .to_string();
            let key = (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            assert!(
                by_uid.insert(uid, key.clone()).is_none(),
                "a uid repeats: {key:?}"
            );
        }
        let mut owned = 0;
        for o in &objects {
            for owner in o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let uid = owner["uid"].as_str().expect("an owner uid");
                let (kind, ns, name) = by_uid.get(uid).unwrap_or_else(|| {
                    panic!(
                        "{} {} owned by missing {owner}",
                        o["kind"], o["metadata"]["name"]
                    )
                });
                assert_eq!(owner["kind"], json!(kind));
                assert_eq!(owner["name"], json!(name));
                assert_eq!(o["metadata"]["namespace"], json!(ns));
                assert_eq!(owner["controller"], json!(true));
                owned += 1;
            }
        }
        let pods: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Pod").collect();
        assert!(owned >= pods.len(), "every Pod has an owner");
        for kind in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "CronJob",
            "Job",
            "Node",
            "Event",
        ] {
            assert!(objects.iter().any(|o| o["kind"] == kind), "no {kind}");
        }
        let backoff = pods
            .iter()
            .filter(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "ImagePullBackOff"
            })
            .count();
        assert!(backoff > 0, "some Pods in ImagePullBackOff");
        // What scan and serve check: the images of the workloads at the top of the
        // owner chains (their templates) and of Pods that differ from their owner's.
        let checked: BTreeSet<String> = objects
            .iter()
            .filter(|o| {
                ["Deployment", "StatefulSet", "DaemonSet", "CronJob"]
                    .contains(&o["kind"].as_str().unwrap_or_default())
            })
            .flat_map(|o| {
                let spec = if o["kind"] == "CronJob" {
                    &o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                } else {
                    &o["spec"]["template"]["spec"]
                };
                ["containers", "initContainers"]
                    .into_iter()
                    .flat_map(move |k| {
                        spec[k]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| c["image"].as_str().unwrap_or_default().to_string())
                    })
            })
            .collect();
        let all: BTreeSet<String> = (0..cluster.images().len())
            .map(|i| cluster.image(i))
            .collect();
        assert_eq!(
            checked, all,
            "images() are exactly those the workloads' templates use"
        );
        let in_pods: BTreeSet<String> = objects
            .iter()
            .filter(|o| o["kind"] == "Pod" || o["kind"] == "ReplicaSet")
            .flat_map(|p| {
                let spec = if p["kind"] == "Pod" {
                    &p["spec"]
                } else {
                    &p["spec"]["template"]["spec"]
                };
                ["containers", "initContainers"]
                    .into_iter()
                    .flat_map(move |k| {
                        spec[k]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| c["image"].as_str().unwrap_or_default().to_string())
                    })
            })
            .collect();
        assert!(
            in_pods.is_subset(&all),
            "Pods and ReplicaSets use only images() too"
        );
    }

    #[test]
    fn generation_is_deterministic_and_rollouts_replace_pods() {
        let options = RealisticOptions::new(1200).nodes(20);
        let one: Vec<Value> = RealisticCluster::generate(options.clone())
            .objects()
            .collect();
        let cluster = RealisticCluster::generate(options);
        let two: Vec<Value> = cluster.objects().collect();
        assert_eq!(one, two);
        let d = cluster.deployments()[0];
        let from = cluster.current_revision(d);
        let writes = cluster.rollout(d, from);
        let pods: BTreeSet<(String, String)> = two
            .iter()
            .filter(|o| o["kind"] == "Pod")
            .map(|p| {
                (
                    p["metadata"]["namespace"].as_str().unwrap().to_string(),
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let deleted: Vec<_> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Delete(_, "Pod", ns, name) => Some((ns.clone(), name.clone())),
                _ => None,
            })
            .collect();
        assert!(!deleted.is_empty());
        for pod in &deleted {
            assert!(
                pods.contains(pod),
                "the rollout deletes {pod:?}, which does not exist"
            );
        }
    }
}
