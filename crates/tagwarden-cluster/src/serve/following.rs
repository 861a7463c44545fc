//! Following the cluster's Kubernetes version while `serve` runs: `/version` is read again
//! every [`VersionWatch::every`], and when the version followed changes (by the rule of
//! [`VersionFollower`]: a higher version at once, a lower one after it was the only answer
//! of several reads in a row, so a rolling control-plane upgrade cannot make it flap):
//!
//! - the monitor tracks the new version ([`Monitor::set_kube_version`]: the images that
//!   tracked the old or track the new one are checked again at once), and so does the
//!   webhook ([`Webhook::set_kube_version`]);
//! - `tagwarden_cluster_info{git_version,minor}` names it;
//! - one warning line says it, on every replica;
//! - the leader writes a Normal Event `ClusterVersionChanged` on the serve Lease: the
//!   object that stands for `serve` as a whole (a Pod comes and goes with its replica),
//!   which every replica may already `get`, and which `kubectl describe lease` shows.
//!   Without a Lease (one replica, no election) the log line and the metric say it.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder};
use tagwarden_core::KubeVersion;
use tokio::sync::watch;

use crate::connection::Cluster;
use crate::monitor::{Metrics, Monitor};
use crate::version::{LOWER_VERSION_READS, VersionFollower};
use crate::webhook::Webhook;

use super::LeaseOptions;

/// How `serve` follows the cluster's version.
#[derive(Debug, Clone)]
pub struct VersionWatch {
    /// The version read at start.
    pub initial: KubeVersion,
    /// How often `/version` is read again (60 s by default).
    pub every: Duration,
    /// Reads in a row a lower version needs before it is followed (5 by default).
    pub lower_reads: u32,
}

impl VersionWatch {
    /// Following from `initial`, read every minute, a lower version after 5 reads.
    pub fn new(initial: KubeVersion) -> VersionWatch {
        VersionWatch {
            initial,
            every: VERSION_INTERVAL,
            lower_reads: LOWER_VERSION_READS,
        }
    }
}

/// Who hears of a new version.
pub(crate) struct Followers {
    pub cluster: Cluster,
    pub client: kube::Client,
    pub monitor: Monitor,
    pub webhook: Option<Webhook>,
    pub metrics: Metrics,
    pub leading: watch::Receiver<bool>,
    pub recorder: Recorder,
    pub lease: Option<LeaseOptions>,
}

/// How often `/version` is read again by default (`serve --version-interval`).
pub const VERSION_INTERVAL: Duration = Duration::from_secs(60);

/// The `git_version` label of a version (its `gitVersion`, else `1.32`).
pub(crate) fn git_version_of(version: &KubeVersion) -> String {
    version
        .git_version
        .clone()
        .unwrap_or_else(|| version.to_string())
}

impl Followers {
    /// Reads `/version` every `watch.every` until `stop` is cancelled.
    pub async fn follow(self, watch: VersionWatch, stop: tokio_util::sync::CancellationToken) {
        let mut follower = VersionFollower::new(watch.initial, watch.lower_reads);
        let mut failing = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(watch.every) => {}
                () = stop.cancelled() => return,
            }
            let read = match self.cluster.version().await {
                Ok(read) => read,
                Err(e) => {
                    if failing {
                        tracing::debug!("cannot read the cluster's version: {e}");
                    } else {
                        tracing::warn!(
                            "cannot read the cluster's version again (still following {}): {e}",
                            follower.current()
                        );
                        failing = true;
                    }
                    continue;
                }
            };
            failing = false;
            let old = follower.current().clone();
            if let Some(new) = follower.observe(read) {
                self.switch(&old, &new).await;
            }
        }
    }

    /// Everything follows `new` now.
    async fn switch(&self, old: &KubeVersion, new: &KubeVersion) {
        tracing::warn!(
            "the cluster's Kubernetes version changed from {} to {}: images are tracked at {}.{} now",
            git_version_of(old),
            git_version_of(new),
            new.major,
            new.minor
        );
        self.monitor.set_kube_version(new);
        if let Some(webhook) = &self.webhook {
            webhook.set_kube_version(new);
        }
        self.metrics
            .set_cluster_version(&git_version_of(new), new.minor);
        if *self.leading.borrow() {
            self.announce(old, new).await;
        }
    }

    /// The `ClusterVersionChanged` Event on the Lease (best effort).
    async fn announce(&self, old: &KubeVersion, new: &KubeVersion) {
        let Some(lease) = &self.lease else {
            return;
        };
        let uid = Api::<Lease>::namespaced(self.client.clone(), &lease.namespace)
            .get(&lease.name)
            .await
            .ok()
            .and_then(|l| l.metadata.uid);
        let regarding = ObjectReference {
            api_version: Some("coordination.k8s.io/v1".into()),
            kind: Some("Lease".into()),
            name: Some(lease.name.clone()),
            namespace: Some(lease.namespace.clone()),
            uid,
            ..ObjectReference::default()
        };
        let event = Event {
            type_: EventType::Normal,
            reason: "ClusterVersionChanged".into(),
            note: Some(format!(
                "the cluster's Kubernetes version changed from {} to {}: images that follow \
                 the version are tracked at {}.{} now",
                git_version_of(old),
                git_version_of(new),
                new.major,
                new.minor
            )),
            action: "FollowVersion".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &regarding).await {
            tracing::warn!("cannot write the ClusterVersionChanged Event: {e}");
        }
    }
}
