//! The cluster's Kubernetes version, from `GET /version`.

use tagwarden_core::KubeVersion;

use crate::connection::Cluster;
use crate::error::ClusterError;

impl Cluster {
    /// Reads `/version` and parses it with [`KubeVersion::from_fields`]: the `gitVersion`
    /// when it is a Kubernetes version, else the `major`/`minor` fields, so EKS
    /// (`minor: "32+"`) and kcp (a `gitVersion` of its own) both work.
    ///
    /// # Errors
    ///
    /// The classes of [`ClusterError`] ([`crate::error`]); [`ClusterError::BadVersion`]
    /// for an answer without a usable version.
    pub async fn version(&self) -> Result<KubeVersion, ClusterError> {
        let info = self
            .client()?
            .apiserver_version()
            .await
            .map_err(|e| self.request_error(e).during("GET /version"))?;
        tracing::debug!(
            server = %self.server(),
            git_version = %info.git_version,
            major = %info.major,
            minor = %info.minor,
            "read /version"
        );
        KubeVersion::from_fields(
            Some(&info.git_version),
            Some(&info.major),
            Some(&info.minor),
        )
        .map_err(|e| ClusterError::BadVersion {
            server: self.server(),
            context: self.context_suffix(),
            reason: e.to_string(),
        })
    }
}
