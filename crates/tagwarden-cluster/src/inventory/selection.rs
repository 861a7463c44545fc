//! What a label selector (`scan -l`) selects: workloads and Pods, by the API server's own
//! matching, as the uids of the objects a list with the selector returns.
//!
//! The inventory itself is read without the selector: a selected Pod's owners need not
//! carry its labels (a Deployment labelled `team=x` owns Pods labelled `app=web`), and a
//! selected workload counts all its Pods, also those the selector does not match. So
//! the selector only decides which owner chains are reported (see
//! [`Objects::inventory`](super::Objects::inventory)).

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::ResourceExt;

use super::Scope;
use crate::connection::Cluster;
use crate::error::ClusterError;

/// The uids of the workloads and Pods of `scope` that its selector matches, each kind by
/// one paged list with the selector (the API server judges the selector, and says when
/// it is malformed).
///
/// # Errors
///
/// As [`Cluster::inventory`]: a list that fails is [`ClusterError`].
pub(super) async fn selected_uids(
    cluster: &Cluster,
    client: &kube::Client,
    scope: &Scope,
) -> Result<HashSet<String>, ClusterError> {
    let (deployments, stateful_sets, daemon_sets, replica_sets) = futures::try_join!(
        cluster.list_all::<Deployment>(client, scope, true),
        cluster.list_all::<StatefulSet>(client, scope, true),
        cluster.list_all::<DaemonSet>(client, scope, true),
        cluster.list_all::<ReplicaSet>(client, scope, true),
    )?;
    let (replication_controllers, jobs, cron_jobs, pods) = futures::try_join!(
        cluster.list_all::<ReplicationController>(client, scope, true),
        cluster.list_all::<Job>(client, scope, true),
        cluster.list_all::<CronJob>(client, scope, true),
        cluster.list_all::<Pod>(client, scope, true),
    )?;
    let mut uids = HashSet::new();
    uids.extend(deployments.iter().filter_map(ResourceExt::uid));
    uids.extend(stateful_sets.iter().filter_map(ResourceExt::uid));
    uids.extend(daemon_sets.iter().filter_map(ResourceExt::uid));
    uids.extend(replica_sets.iter().filter_map(ResourceExt::uid));
    uids.extend(replication_controllers.iter().filter_map(ResourceExt::uid));
    uids.extend(jobs.iter().filter_map(ResourceExt::uid));
    uids.extend(cron_jobs.iter().filter_map(ResourceExt::uid));
    uids.extend(pods.iter().filter_map(ResourceExt::uid));
    Ok(uids)
}
