//! The cluster's Kubernetes version, from `GET /version`.

use tagwarden_core::KubeVersion;

use crate::connection::Cluster;
use crate::error::{ClusterError, one_line};

impl Cluster {
    /// Reads `/version` and parses it with [`KubeVersion::from_fields`]: the `gitVersion`
    /// when it is a Kubernetes version, else the `major`/`minor` fields, so EKS
    /// (`minor: "32+"`) and kcp (a `gitVersion` of its own) both work.
    ///
    /// # Errors
    ///
    /// - [`ClusterError::Unreachable`]: no connection, TLS, timeout, or an HTTP error;
    /// - [`ClusterError::Denied`]: 401 or 403;
    /// - [`ClusterError::BadVersion`]: an answer without a usable version.
    pub async fn version(&self) -> Result<KubeVersion, ClusterError> {
        let client =
            kube::Client::try_from(self.config.clone()).map_err(|e| self.unreachable(&e))?;
        let info = client
            .apiserver_version()
            .await
            .map_err(|e| self.request_error(e))?;
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

    pub(crate) fn request_error(&self, error: kube::Error) -> ClusterError {
        match error {
            kube::Error::Api(status) if matches!(status.code, 401 | 403) => ClusterError::Denied {
                server: self.server(),
                context: self.context_suffix(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::Api(status) => ClusterError::Unreachable {
                server: self.server(),
                context: self.context_suffix(),
                reason: format!("HTTP {} {}: {}", status.code, status.reason, status.message),
            },
            kube::Error::SerdeError(e) => ClusterError::BadVersion {
                server: self.server(),
                context: self.context_suffix(),
                reason: format!("the answer is not a /version document: {e}"),
            },
            other => self.unreachable(&other),
        }
    }

    pub(crate) fn unreachable(&self, error: &(dyn std::error::Error + 'static)) -> ClusterError {
        ClusterError::Unreachable {
            server: self.server(),
            context: self.context_suffix(),
            reason: one_line(error),
        }
    }
}
