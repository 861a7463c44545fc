//! What a label selector (`scan -l`) selects: workloads and Pods, by the API server's own
//! matching, as the uids of the objects a list with the selector returns.
//!
//! The inventory itself is read without the selector: a selected Pod's owners need not
//! carry its labels (a Deployment labelled `team=x` owns Pods labelled `app=web`), and a
//! selected workload counts all its Pods, also those the selector does not match. So
//! the selector only decides which owner chains are reported (see
//! [`Index::inventory`](super::index::Index::inventory)).

use std::collections::HashSet;
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use super::Scope;
use super::wire::{UidOnly, Wire};
use crate::connection::Cluster;
use crate::error::ClusterError;

/// The uids of the workloads and Pods of `scope` that its selector matches, each kind by
/// one paged list with the selector (the API server judges the selector, and says when
/// it is malformed); only uids are kept of what the lists return.
///
/// # Errors
///
/// As [`Cluster::inventory`]: a list that fails is [`ClusterError`].
pub(super) async fn selected_uids(
    cluster: &Cluster,
    client: &kube::Client,
    scope: &Scope,
) -> Result<HashSet<String>, ClusterError> {
    let uids = Mutex::new(HashSet::new());
    futures::try_join!(
        uids_of::<Deployment>(cluster, client, scope, &uids),
        uids_of::<StatefulSet>(cluster, client, scope, &uids),
        uids_of::<DaemonSet>(cluster, client, scope, &uids),
        uids_of::<ReplicaSet>(cluster, client, scope, &uids),
    )?;
    futures::try_join!(
        uids_of::<ReplicationController>(cluster, client, scope, &uids),
        uids_of::<Job>(cluster, client, scope, &uids),
        uids_of::<CronJob>(cluster, client, scope, &uids),
        uids_of::<Pod>(cluster, client, scope, &uids),
    )?;
    Ok(uids.into_inner().expect("uids poisoned"))
}

/// The uids of the objects of one kind the selector matches, into `uids`.
async fn uids_of<K>(
    cluster: &Cluster,
    client: &kube::Client,
    scope: &Scope,
    uids: &Mutex<HashSet<String>>,
) -> Result<(), ClusterError>
where
    UidOnly<K>: Wire,
{
    cluster
        .list_each::<UidOnly<K>>(
            client,
            scope.namespace.as_deref(),
            scope.selector.as_deref(),
            |page| {
                let mut uids = uids.lock().expect("uids poisoned");
                uids.extend(page.into_iter().filter_map(|o| o.metadata.uid));
            },
        )
        .await
}
