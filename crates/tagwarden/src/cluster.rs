//! How a command finds and asks the cluster its [`KubeSettings`] name, and what a cluster
//! error means for the exit code. Every command that talks to a cluster (`kube-version`,
//! `check`, `post-render`, `scan`, `serve`) goes through here.

use anyhow::anyhow;
use tagwarden_cluster::{Cluster, ClusterError};
use tagwarden_core::KubeVersion;

use crate::exit::Failure;
use crate::settings::KubeSettings;
use crate::settings::kube::KUBE_VERSION_ENV;

/// The cluster `kube` selects (`--kubeconfig`/`--context`, KUBECONFIG, ~/.kube/config,
/// HELM_KUBECONTEXT, in-cluster), `None` when there is no configuration at all. A broken
/// kubeconfig is exit 2 with `hint`.
pub async fn find(kube: &KubeSettings, hint: &str) -> Result<Option<Cluster>, Failure> {
    Cluster::locate(&kube.cluster)
        .await
        .map_err(|e| failure(e, hint))
}

/// [`find`], where no configuration at all is exit 2: "no cluster `to_what`: …;
/// `instead`".
pub async fn locate(
    kube: &KubeSettings,
    to_what: &str,
    instead: &str,
    hint: &str,
) -> Result<Cluster, Failure> {
    find(kube, hint).await?.ok_or_else(|| {
        Failure::bad_input(anyhow!(
            "no cluster {to_what}: no --kubeconfig, KUBECONFIG or ~/.kube/config, and \
             not running in a Pod; {instead}"
        ))
    })
}

/// Exit 2 for a broken kubeconfig or a bad name, 3 for a server that could not be asked.
/// The message is the error and what the command can do without the cluster; for a
/// server that could not be asked, a second line says what to do about it (`hint: …`).
pub fn failure(error: ClusterError, hint: &str) -> Failure {
    let message = match error.hint() {
        Some(what_to_do) => anyhow!("{error}; {hint}\nhint: {what_to_do}"),
        None => anyhow!("{error}; {hint}"),
    };
    if error.is_config() {
        Failure::bad_input(message)
    } else {
        Failure::undecided(message)
    }
}

/// The Kubernetes version `check` and `post-render` track, typed from here on: the one
/// the settings hold (`--kube-version`, else `TAGWARDEN_KUBE_VERSION`), else `/version`
/// of the cluster they select, as `check --cluster` and `scan` find it.
///
/// `Ok(None)` only when there is no cluster configuration at all: tracking is skipped, and
/// the command says so. A cluster that is configured but cannot be asked is exit 3, never
/// a silent "no version": tracking would quietly stop.
pub async fn version_for_tracking(kube: &KubeSettings) -> Result<Option<KubeVersion>, Failure> {
    if let Some(version) = &kube.version {
        return Ok(Some(version.clone()));
    }
    let hint = format!("pass the version with --kube-version VERSION (or {KUBE_VERSION_ENV})");
    let Some(cluster) = find(kube, &hint).await? else {
        return Ok(None);
    };
    let version = cluster.version().await.map_err(|e| failure(e, &hint))?;
    tracing::debug!(
        server = %cluster.server(),
        context = cluster.context().unwrap_or("-"),
        "Kubernetes {version} ({}) from the live cluster",
        version.distribution
    );
    Ok(Some(version))
}
