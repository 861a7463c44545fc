//! What can go wrong between tagwarden and a cluster, in classes that each say what to do.
//!
//! | class | when | exit |
//! |---|---|---|
//! | [`ClusterError::Config`] | the kubeconfig is unreadable or unusable; an exec plugin cannot run | 2 |
//! | [`ClusterError::InvalidName`] | a namespace or name the API server would refuse | 2 |
//! | [`ClusterError::NoSuchNamespace`] | `-n` names a namespace that does not exist | 2 |
//! | [`ClusterError::Unreachable`] | no connection, DNS, TLS, proxy, timeout, a plugin that failed | 3 |
//! | [`ClusterError::Unauthorized`] | 401: the credentials were not accepted | 3 |
//! | [`ClusterError::Forbidden`] | 403: RBAC does not allow it (the server's message says who and what) | 3 |
//! | [`ClusterError::NotFound`] | 404 from a path every API server has | 3 |
//! | [`ClusterError::ServerError`] | 5xx (or another HTTP error) | 3 |
//! | [`ClusterError::NotKubernetes`] | an answer that is not the Kubernetes API's (HTML, not JSON) | 3 |
//! | [`ClusterError::BadVersion`] | `/version` without a usable version | 3 |
//!
//! [`ClusterError::hint`] says what to do about each.

use thiserror::Error;

use crate::names::InvalidName;

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
        /// What is wrong with it (the cause's text included, credentials removed).
        reason: String,
        /// The lower error, when one can be shown as it is: a token file's or an exec
        /// plugin's ([`crate::credentials::CredentialError`]), in-cluster configuration.
        /// kube-rs' errors about a kubeconfig are not kept: their text may hold the
        /// credentials the reason has removed.
        #[source]
        cause: Option<crate::credentials::Cause>,
    },
    /// A namespace or object name that is not one.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// The namespace asked for does not exist (kubectl's words).
    #[error("namespaces \"{namespace}\" not found")]
    NoSuchNamespace {
        /// The namespace.
        namespace: String,
    },
    /// The API server could not be asked: connection refused, DNS, TLS, a proxy, a
    /// timeout, a broken answer, or an exec credential plugin that failed.
    #[error("cannot reach the Kubernetes API server {server}{context}: {reason}")]
    Unreachable {
        /// The server URL from the configuration (credentials removed).
        server: String,
        /// ` (context NAME)`, or empty when there is no context (in-cluster).
        context: String,
        /// The cause, as one line.
        reason: String,
    },
    /// 401: the credentials are wrong or expired.
    #[error(
        "the Kubernetes API server {server}{context} did not accept the credentials (401 Unauthorized): {message}"
    )]
    Unauthorized {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// The server's `Status` message.
        message: String,
    },
    /// 403: the credentials are good, RBAC does not allow the request. The server's
    /// message says who cannot do what (`pods is forbidden: User "x" cannot list …`).
    #[error("the Kubernetes API server {server}{context} forbids it (403 Forbidden): {message}")]
    Forbidden {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// The server's `Status` message.
        message: String,
    },
    /// 404 for a path every Kubernetes API server has.
    #[error("the Kubernetes API server {server}{context} has no {path} (404 Not Found): {message}")]
    NotFound {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// What was asked for (`GET /version`, `list /api/v1/pods`).
        path: String,
        /// The server's message.
        message: String,
    },
    /// 5xx, or another HTTP error the server answered with a `Status`.
    #[error("the Kubernetes API server {server}{context} failed ({code} {reason}): {message}")]
    ServerError {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// The HTTP status.
        code: u16,
        /// The `Status` reason.
        reason: String,
        /// The `Status` message.
        message: String,
    },
    /// Something answered, but not as a Kubernetes API server does (an HTML page, text).
    #[error("{server}{context} did not answer as a Kubernetes API server: {reason}")]
    NotKubernetes {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// What came back instead.
        reason: String,
    },
    /// `/version` answered, but with nothing that is a Kubernetes version.
    #[error("the Kubernetes API server {server}{context} reported no usable version: {reason}")]
    BadVersion {
        /// The server URL.
        server: String,
        /// ` (context NAME)`, or empty.
        context: String,
        /// Why the answer could not be read.
        reason: String,
    },
}

impl ClusterError {
    /// The same error, its message saying which request failed (`list /api/v1/pods`).
    pub(crate) fn during(mut self, request: &str) -> ClusterError {
        match &mut self {
            ClusterError::Unreachable { reason, .. }
            | ClusterError::BadVersion { reason, .. }
            | ClusterError::NotKubernetes { reason, .. } => {
                *reason = format!("{request}: {reason}");
            }
            ClusterError::NotFound { path, .. } => *path = request.to_string(),
            ClusterError::ServerError { message, .. }
            | ClusterError::Unauthorized { message, .. } => {
                *message = format!("{request}: {message}");
            }
            // The server's Forbidden message already names the verb and the resource.
            ClusterError::Forbidden { .. }
            | ClusterError::Config { .. }
            | ClusterError::InvalidName(_)
            | ClusterError::NoSuchNamespace { .. } => {}
        }
        self
    }

    /// True when the configuration or the input is wrong (the user must change it: exit
    /// 2); false when the server could not be asked or answered badly (could not decide:
    /// exit 3).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            ClusterError::Config { .. }
                | ClusterError::InvalidName(_)
                | ClusterError::NoSuchNamespace { .. }
        )
    }

    /// What to do about it, one line; `None` when the message says it already.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            ClusterError::Config { .. } | ClusterError::InvalidName(_) => return None,
            ClusterError::NoSuchNamespace { .. } => {
                "list the namespaces with `kubectl get namespaces`, or scan every one with -A"
            }
            ClusterError::Unreachable { .. } => {
                "check the server address and that it is up, your network and proxy (HTTPS_PROXY, NO_PROXY, the kubeconfig's proxy-url), or give it more time with --request-timeout"
            }
            ClusterError::Unauthorized { .. } => {
                "log in again or renew the kubeconfig's credentials (a token or certificate may have expired); `kubectl auth whoami` shows who you are"
            }
            ClusterError::Forbidden { .. } => {
                "ask a cluster admin for the RBAC permission the message names (docs/cluster.md and docs/operator.md list what each command needs); `kubectl auth can-i --list` shows yours"
            }
            ClusterError::NotFound { .. } | ClusterError::NotKubernetes { .. } => {
                "check the kubeconfig's server URL: it must point at the Kubernetes API server itself, not a dashboard, a load balancer page or a path under it"
            }
            ClusterError::ServerError { .. } => {
                "the API server (or a proxy in front of it) has a problem: try again later, or ask its admin"
            }
            ClusterError::BadVersion { .. } => "pass the version by hand instead (--kube-version)",
        })
    }
}

/// The error and its causes on one line, `a: b: c`, each cause once (a cause whose text
/// its parent already holds is left out).
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
