//! What can go wrong between tagwarden and a cluster.

use thiserror::Error;

/// Why the cluster's configuration could not be used or its server could not answer.
///
/// Each message names the kubeconfig or the server. What to do instead (pass the version
/// by hand) depends on the command, so that is the caller's to add.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A kubeconfig could not be read or does not describe a usable cluster: a missing
    /// `--kubeconfig` file, broken YAML, an unknown context, no server URL, an unreadable
    /// certificate. The user must fix the configuration.
    #[error("kubeconfig {source_name}: {reason}")]
    Config {
        /// Where the configuration came from (file names, or `in-cluster`).
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API server could not be asked: connection refused, DNS, TLS, timeout, a broken
    /// answer, or an HTTP error other than 401/403.
    #[error("cannot reach the Kubernetes API server {server}{context}: {reason}")]
    Unreachable {
        /// The server URL from the configuration.
        server: String,
        /// ` (context NAME)`, or empty when there is no context (in-cluster).
        context: String,
        /// The cause, as one line.
        reason: String,
    },
    /// The API server answered 401 or 403: the credentials are wrong, expired or not allowed.
    #[error(
        "the Kubernetes API server {server}{context} refused the credentials ({code} {reason}): {message}"
    )]
    Denied {
        /// The server URL from the configuration.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// 401 or 403.
        code: u16,
        /// The `reason` of the server's `Status` (`Unauthorized`, `Forbidden`).
        reason: String,
        /// The `message` of the server's `Status`.
        message: String,
    },
    /// `/version` answered, but with nothing that is a Kubernetes version.
    #[error("the Kubernetes API server {server}{context} reported no usable version: {reason}")]
    BadVersion {
        /// The server URL from the configuration.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// Why the answer could not be read.
        reason: String,
    },
}

impl ClusterError {
    /// The same error, its reason saying which request failed (`GET /apis/apps/v1/…`).
    pub(crate) fn during(mut self, request: &str) -> ClusterError {
        match &mut self {
            ClusterError::Unreachable { reason, .. } | ClusterError::BadVersion { reason, .. } => {
                *reason = format!("{request}: {reason}");
            }
            ClusterError::Denied { message, .. } => *message = format!("{request}: {message}"),
            ClusterError::Config { .. } => {}
        }
        self
    }

    /// True when the configuration itself is wrong (the user must change it: exit 2);
    /// false when the server could not be asked or answered badly (could not decide: exit 3).
    pub fn is_config(&self) -> bool {
        matches!(self, ClusterError::Config { .. })
    }
}

/// The error and its causes on one line, `a: b: c`, for error messages.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}
