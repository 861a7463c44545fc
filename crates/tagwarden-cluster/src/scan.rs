//! `scan`: every image a cluster uses, checked against its registry the way the
//! cluster's nodes would pull it.
//!
//! 1. [`Cluster::inventory`] reads the workloads, Pods, Events, Nodes and
//!    ServiceAccounts ([`crate::inventory`]): image uses rolled up to their owners, pull
//!    failures, node platforms.
//! 2. The pull secrets the uses name are read ([`Cluster::pull_secrets`]).
//! 3. Each unique image string is asked about once, by the engine
//!    ([`tagwarden_registry::inspect_images`]), with the pull secrets of every workload
//!    that uses it (before the local credentials) and the platforms of every node its
//!    Pods could run on (unless `--platform` names them). Images that share both are
//!    asked together. Every set of pull secrets asks through the one client the caller
//!    gave, with its own keychain ([`Client::with_keychain_first`]): one registry budget
//!    (per-host concurrency, pacing, host-down marks, learned challenges) for the whole
//!    scan, however many sets of pull secrets the workloads name.
//! 4. With [`ScanOptions::upgrade_from`], the question is the one of an upgrade
//!    preflight: an image whose tag tracks today's version is asked about at the target
//!    version's tag ([`tagwarden_registry::preflight`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use tagwarden_core::ImageStatus;
use tagwarden_core::{ImageSet, KubeVersion, Platform, Verdict};
use tagwarden_registry::inspect::Progress;
use tagwarden_registry::{Client, InspectOptions};

use crate::connection::Cluster;
use crate::error::ClusterError;
use crate::inventory::{
    GatheredUses, ImageUse, Inventory, NodePlatform, PullFailure, Scope, SecretRef,
    WorkloadLocation,
};
use crate::pull_secrets::PullSecrets;

/// What to scan and how to judge it.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Namespaces and label selector.
    pub scope: Scope,
    /// Tracking (at the version images are judged at: today's, or the upgrade's target),
    /// fallback policy and concurrency. Its `platforms` are replaced per image by the
    /// node platforms unless [`ScanOptions::platforms`] is set.
    pub inspect: InspectOptions,
    /// Platforms every image must provide, instead of the nodes' (`--platform`).
    pub platforms: Option<Vec<Platform>>,
    /// The cluster's version today, when `inspect`'s tracking version is an upgrade's
    /// target: images tracking today's version are asked about at the target's tag.
    pub upgrade_from: Option<KubeVersion>,
}

/// One unique image string of the cluster, with the answer about it.
#[derive(Debug, Clone)]
pub struct ScannedImage {
    /// The image as written in the objects.
    pub image: String,
    /// The engine's answer (about [`ScannedImage::after_upgrade`] when set).
    pub verdict: Verdict,
    /// With an upgrade preflight: the reference asked for after the upgrade, when its tag
    /// changes.
    pub after_upgrade: Option<String>,
    /// Every workload (or Pod) that uses it.
    pub locations: Vec<WorkloadLocation>,
    /// Containers that cannot pull it right now.
    pub pull_failures: Vec<PullFailure>,
    /// The platforms it was checked for: the nodes its Pods could run on (or
    /// `--platform`), with how many nodes have each.
    pub platforms: Vec<NodePlatform>,
    /// The pull secrets it was checked with (readable ones only), in order.
    pub pull_secrets: Vec<SecretRef>,
}

/// Everything a scan found.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Unique images, in report order (namespace, then workload).
    pub images: Vec<ScannedImage>,
    /// Every node's platform, counted.
    pub nodes: Vec<NodePlatform>,
    /// Pull failures of images no workload in scope has (should not happen; kept so
    /// nothing Kubernetes reported is dropped).
    pub other_pull_failures: Vec<PullFailure>,
    /// What could not be read (RBAC), each said once.
    pub warnings: Vec<String>,
}

/// Why a scan could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The cluster could not be read.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Images that are asked about together: same pull secrets, same platforms.
#[derive(Debug, Default)]
struct Group {
    pull_secrets: Vec<SecretRef>,
    platforms: Vec<Platform>,
    /// Positions in the report's images.
    images: Vec<usize>,
}

/// The unique images of an inventory ([`ImageSet`]: in order of first use), each with
/// what it is asked with: the readable pull secrets and the node platforms of all its
/// uses (or `--platform`'s), and its pull failures; and the failures of images no use
/// names.
fn gather(
    inventory: Inventory,
    secrets: &PullSecrets,
    platforms: Option<&[Platform]>,
) -> (Vec<ScannedImage>, Vec<PullFailure>) {
    let uses: ImageSet<ImageUse> = inventory
        .uses
        .into_iter()
        .map(|image_use| (image_use.image.clone(), image_use))
        .collect();
    let mut failures: Vec<Vec<PullFailure>> = vec![Vec::new(); uses.len()];
    let mut other_pull_failures = Vec::new();
    for failure in inventory.pull_failures {
        match uses.position(failure.image.as_str()) {
            Some(i) => failures[i].push(failure),
            None => other_pull_failures.push(failure),
        }
    }
    let nodes = &inventory.nodes;
    let images = uses
        .into_iter()
        .zip(failures)
        .map(|(entry, pull_failures)| {
            let gathered = GatheredUses::of(entry.uses);
            ScannedImage {
                image: entry.image,
                verdict: Verdict::with_status(ImageStatus::Unreachable),
                after_upgrade: None,
                locations: gathered.locations,
                pull_failures,
                platforms: match platforms {
                    Some(platforms) => platforms
                        .iter()
                        .map(|p| NodePlatform {
                            platform: p.clone(),
                            nodes: count_nodes(nodes, p),
                        })
                        .collect(),
                    None => gathered.platforms,
                },
                pull_secrets: gathered
                    .pull_secrets
                    .into_iter()
                    .filter(|s| secrets.knows(s))
                    .collect(),
            }
        })
        .collect();
    (images, other_pull_failures)
}

/// The images that share both pull secrets and platforms, in order of first use.
fn groups_of(images: &[ScannedImage]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let platforms: Vec<Platform> = image.platforms.iter().map(|p| p.platform.clone()).collect();
        match groups
            .iter_mut()
            .find(|g| g.pull_secrets == image.pull_secrets && g.platforms == platforms)
        {
            Some(group) => group.images.push(i),
            None => groups.push(Group {
                pull_secrets: image.pull_secrets.clone(),
                platforms,
                images: vec![i],
            }),
        }
    }
    groups
}

impl Cluster {
    /// Scans the cluster; see the [module documentation](self). `client` asks with the
    /// local credentials; images whose workloads name pull secrets ask through it with
    /// those secrets first. `progress` is called as unique images are answered.
    ///
    /// # Errors
    ///
    /// [`ScanError::Cluster`] when the namespace is not one or does not exist, or when
    /// workloads or Pods cannot be listed. Registry answers never fail a scan: they are
    /// verdicts.
    pub async fn scan(
        &self,
        client: &Client,
        options: &ScanOptions,
        progress: impl Fn(Progress),
    ) -> Result<ScanReport, ScanError> {
        if let Some(namespace) = &options.scope.namespace {
            self.check_namespace(namespace).await?;
        }
        let inventory = self.inventory(&options.scope).await?;
        let secrets = self
            .pull_secrets(inventory.uses.iter().flat_map(|u| &u.pull_secrets))
            .await;
        let mut warnings = inventory.warnings.clone();
        warnings.extend(secrets.warnings.iter().cloned());
        let nodes = inventory.nodes.clone();
        let (mut images, other_pull_failures) =
            gather(inventory, &secrets, options.platforms.as_deref());
        let groups = groups_of(&images);
        let answers = ask_groups(client, &secrets, &images, &groups, options, progress).await;
        for (i, (verdict, after_upgrade)) in answers {
            images[i].verdict = with_nodes_named(verdict, &images[i].platforms);
            images[i].after_upgrade = after_upgrade;
        }
        Ok(ScanReport {
            images,
            nodes,
            other_pull_failures,
            warnings,
        })
    }
}

/// Asks every group at once, each with one keychain per set of pull secrets over the
/// caller's one transport (one budget per registry host): each image's answer.
async fn ask_groups(
    client: &Client,
    secrets: &PullSecrets,
    images: &[ScannedImage],
    groups: &[Group],
    options: &ScanOptions,
    progress: impl Fn(Progress),
) -> Vec<(usize, (Verdict, Option<String>))> {
    let mut clients_by_secrets: HashMap<Vec<SecretRef>, Client> = HashMap::new();
    for group in groups {
        if !clients_by_secrets.contains_key(&group.pull_secrets) {
            let with_secrets = match secrets.keychain(&group.pull_secrets) {
                Some(keychain) => client.with_keychain_first(keychain),
                None => client.clone(),
            };
            clients_by_secrets.insert(group.pull_secrets.clone(), with_secrets);
        }
    }
    let total = groups.iter().map(|g| g.images.len()).sum();
    let done = AtomicUsize::new(0);
    let tick = |_: Progress| {
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(Progress { done, total });
    };
    let answers = join_all(groups.iter().map(|group| {
        let client = &clients_by_secrets[&group.pull_secrets];
        let mut inspect = options.inspect.clone();
        inspect.platforms = group.platforms.clone();
        let tick = &tick;
        let strings: Vec<&str> = group
            .images
            .iter()
            .map(|&i| images[i].image.as_str())
            .collect();
        async move {
            let answers = ask(
                client,
                &strings,
                &inspect,
                options.upgrade_from.as_ref(),
                tick,
            )
            .await;
            group
                .images
                .iter()
                .copied()
                .zip(answers)
                .collect::<Vec<_>>()
        }
    }))
    .await;
    answers.into_iter().flatten().collect()
}

/// The engine's answers for one group, with the reference asked for after an upgrade.
async fn ask(
    client: &Client,
    images: &[&str],
    options: &InspectOptions,
    upgrade_from: Option<&KubeVersion>,
    progress: &impl Fn(Progress),
) -> Vec<(Verdict, Option<String>)> {
    match upgrade_from {
        Some(today) => tagwarden_registry::preflight::inspect_images_after_upgrade(
            client, images, today, options, progress,
        )
        .await
        .into_iter()
        .map(|u| (u.verdict, u.after_upgrade))
        .collect(),
        None => tagwarden_registry::inspect_images(client, images, options, progress)
            .await
            .into_iter()
            .map(|v| (v, None))
            .collect(),
    }
}

/// A verdict whose image lacks platforms, its reason saying how many nodes that concerns
/// ("…lacks linux/arm64/v8; 2 nodes its Pods could run on are linux/arm64/v8").
fn with_nodes_named(mut verdict: Verdict, platforms: &[NodePlatform]) -> Verdict {
    let lacking: Vec<String> = verdict
        .platforms
        .absent
        .iter()
        .chain(&verdict.platforms.broken)
        .filter_map(|wanted| {
            let nodes: usize = platforms
                .iter()
                .filter(|p| wanted.matches(&p.platform))
                .map(|p| p.nodes)
                .sum();
            (nodes > 0).then(|| {
                format!(
                    "{nodes} {} its Pods could run on {} {wanted}",
                    if nodes == 1 { "node" } else { "nodes" },
                    if nodes == 1 { "is" } else { "are" }
                )
            })
        })
        .collect();
    if !lacking.is_empty()
        && let Some(reason) = &mut verdict.reason
    {
        reason.push_str("; ");
        reason.push_str(&lacking.join(", "));
    }
    verdict
}

/// How many nodes offer `wanted`.
fn count_nodes(nodes: &[NodePlatform], wanted: &Platform) -> usize {
    nodes
        .iter()
        .filter(|n| wanted.matches(&n.platform))
        .map(|n| n.nodes)
        .sum()
}
