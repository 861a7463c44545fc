//! The Kubernetes version a command was given, parsed once and kept typed from here on,
//! and how to reach the cluster (kubectl's `--kubeconfig`, `--context`, else
//! `HELM_KUBECONTEXT`, and `--request-timeout`). Asking the cluster is
//! [`crate::cluster`]'s.

use anyhow::anyhow;
use tagwarden_cluster::ClusterOptions;
use tagwarden_core::KubeVersion;

use crate::cli::LowArgs;
use crate::exit::Failure;

/// The environment variable that stands in for `--kube-version` (`check`, `post-render`).
pub const KUBE_VERSION_ENV: &str = "TAGWARDEN_KUBE_VERSION";

/// The Kubernetes version given and the cluster flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// `--kube-version`, else (where the command reads it) `TAGWARDEN_KUBE_VERSION`;
    /// `None`: the command asks the cluster, or works without a version.
    pub version: Option<KubeVersion>,
    /// How to reach the cluster.
    pub cluster: ClusterOptions,
    /// Whether `--kubeconfig` or `--context` was given.
    pub cluster_given: bool,
}

impl KubeSettings {
    /// The flag, then the environment (`env` looks a variable up); a version that does not
    /// parse is exit 2, naming where it came from.
    pub(super) fn new(
        low: &LowArgs<'_>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<KubeSettings, Failure> {
        let parse = |what: &str, text: &str| {
            KubeVersion::parse(text).map_err(|e| Failure::bad_input(anyhow!("{what}: {e}")))
        };
        let version = match low.kube_version {
            Some(text) => Some(parse("--kube-version", text)?),
            None if low.kube_version_env => match env(KUBE_VERSION_ENV) {
                Some(text) if !text.trim().is_empty() => Some(parse(KUBE_VERSION_ENV, &text)?),
                _ => None,
            },
            None => None,
        };
        let helm_context = env("HELM_KUBECONTEXT").filter(|context| !context.is_empty());
        let cluster = low
            .cluster
            .map(|args| ClusterOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone().or(helm_context),
                request_timeout: args.request_timeout.0,
            })
            .unwrap_or_default();
        Ok(KubeSettings {
            version,
            cluster,
            cluster_given: low.cluster.is_some_and(|args| args.is_given()),
        })
    }
}
