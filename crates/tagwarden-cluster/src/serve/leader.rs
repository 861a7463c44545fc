//! Leader election through a Lease (`kube-lease-manager`, server-side apply): only the
//! leader checks images and writes Events; every replica serves the endpoints.
//!
//! The holder renews the Lease every `duration - grace` seconds; a replica that cannot
//! renew loses leadership within one renew period, and another takes over once the Lease
//! expires. With election off (one replica), the process is always the leader.

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

use crate::error::ClusterError;

/// The Lease's name by default (`serve --lease-name`).
pub const LEASE_NAME: &str = "tagwarden";
/// Seconds a Lease is valid without renewal by default (`serve --lease-duration`).
pub const LEASE_DURATION_SECONDS: u64 = 15;

/// Which Lease to hold, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOptions {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the one tagwarden runs in).
    pub namespace: String,
    /// This replica's identity (its Pod name).
    pub identity: String,
    /// Seconds a Lease is valid without renewal.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

impl LeaseOptions {
    /// The Lease [`LEASE_NAME`] in `namespace`, held [`LEASE_DURATION_SECONDS`] (15 s),
    /// renewed a third of that (5 s) before it expires.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> LeaseOptions {
        LeaseOptions {
            name: LEASE_NAME.to_string(),
            namespace: namespace.into(),
            identity: identity.into(),
            duration_seconds: 0,
            grace_seconds: 0,
        }
        .held_for(LEASE_DURATION_SECONDS)
    }

    /// Held `seconds` without renewal, renewed a third of that (at least 1 s) before it
    /// expires.
    pub fn held_for(mut self, seconds: u64) -> LeaseOptions {
        self.duration_seconds = seconds;
        self.grace_seconds = (seconds / 3).max(1);
        self
    }
}

/// Leadership as it changes, and what keeps it going.
pub(crate) struct Election {
    /// True while this replica leads.
    pub leading: watch::Receiver<bool>,
    /// The Lease task; it ends (releasing the Lease) once every receiver is dropped.
    pub task: Option<tokio::task::JoinHandle<()>>,
    /// Without a Lease: the sender of a constant `true`, kept so the channel stays open.
    _always: Option<watch::Sender<bool>>,
}

/// Whether this replica leads, as it changes; `None` options: always.
pub(crate) async fn elect(
    client: &kube::Client,
    options: Option<&LeaseOptions>,
    classify: impl Fn(&LeaseOptions, LeaseManagerError) -> ClusterError,
) -> Result<Election, ClusterError> {
    let Some(options) = options else {
        let (sender, leading) = watch::channel(true);
        return Ok(Election {
            leading,
            task: None,
            _always: Some(sender),
        });
    };
    let manager = LeaseManagerBuilder::new(client.clone(), &options.name)
        .with_namespace(&options.namespace)
        .with_identity(&options.identity)
        .with_duration(options.duration_seconds)
        .with_grace(options.grace_seconds)
        .with_field_manager(format!("tagwarden-{}", options.identity))
        .build()
        .await
        .map_err(|e| classify(options, e))?;
    let (receiver, task) = manager.watch().await;
    let name = format!("{}/{}", options.namespace, options.name);
    let identity = options.identity.clone();
    let watcher = tokio::spawn(async move {
        match task.await {
            Ok(Ok(_)) => tracing::debug!(lease = %name, "leader election stopped"),
            Ok(Err(e)) => {
                tracing::warn!(lease = %name, identity = %identity, "leader election failed: {e}")
            }
            Err(e) => tracing::warn!(lease = %name, "leader election task ended: {e}"),
        }
    });
    Ok(Election {
        leading: receiver,
        task: Some(watcher),
        _always: None,
    })
}
