//! The Kubernetes version a command was given, parsed once and kept typed from here on,
//! and how to reach the cluster (kubectl's `--kubeconfig`, `--context`, else
//! `HELM_KUBECONTEXT`, and `--request-timeout`). Asking the cluster is
//! [`crate::cluster`]'s.

use anyhow::anyhow;
use tagwarden_cluster::ClusterOptions;
use tagwarden_cluster::connection::FleetChoice;
use tagwarden_cluster::fleet::FleetTarget;
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
    /// `--kube-version +N` (`scan`): each cluster is judged N minors after its own version.
    pub minors_ahead: Option<u64>,
    /// Several clusters (`--context` more than once, or `--all-contexts`): a fleet's scan.
    pub fleet: Option<FleetChoice>,
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
        let minors_ahead = match low.kube_version {
            Some(text) if text.trim().starts_with('+') => Some(minors_ahead(text, low.fleet)?),
            _ => None,
        };
        let version = match low.kube_version {
            Some(_) if minors_ahead.is_some() => None,
            Some(text) => Some(parse("--kube-version", text)?),
            None if low.kube_version_env => match env(KUBE_VERSION_ENV) {
                Some(text) if !text.trim().is_empty() => Some(parse(KUBE_VERSION_ENV, &text)?),
                _ => None,
            },
            None => None,
        };
        let helm_context = env("HELM_KUBECONTEXT").filter(|context| !context.is_empty());
        let contexts = low
            .cluster
            .map(|args| args.context.as_slice())
            .unwrap_or_default();
        let fleet = fleet_choice(contexts, low.all_contexts, low.fleet)?;
        let cluster = low
            .cluster
            .map(|args| ClusterOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.first().cloned().or(helm_context),
                request_timeout: args.request_timeout.0,
            })
            .unwrap_or_default();
        Ok(KubeSettings {
            version,
            cluster,
            cluster_given: low.cluster.is_some_and(|args| args.is_given()),
            minors_ahead,
            fleet,
        })
    }
}

/// `--kube-version +N`: N minors after each cluster's own version, for the commands that
/// read clusters (`scan`, `check --cluster`); elsewhere there is no cluster version to add
/// to.
fn minors_ahead(text: &str, fleet: bool) -> Result<u64, Failure> {
    if !fleet {
        return Err(Failure::bad_input(anyhow!(
            "--kube-version {text}: +N (N minors after the cluster's version) is for scan and check --cluster; give a version such as 1.33"
        )));
    }
    FleetTarget::minors_ahead(text)
        .map_err(|reason| Failure::bad_input(anyhow!("--kube-version: {reason}")))
}

/// Several clusters: `--context` more than once, or `--all-contexts` (only where the
/// command reads several, else exit 2 with what to do).
fn fleet_choice(
    contexts: &[String],
    all_contexts: bool,
    fleet: bool,
) -> Result<Option<FleetChoice>, Failure> {
    if contexts.len() > 1 && !fleet {
        return Err(Failure::bad_input(anyhow!(
            "--context given {} times: this command reads one cluster; scan reads several (tagwarden scan --context A --context B)",
            contexts.len()
        )));
    }
    if all_contexts && !contexts.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "--all-contexts reads every context of the kubeconfig: drop --context {}",
            contexts.join(" --context ")
        )));
    }
    Ok((contexts.len() > 1 || all_contexts).then(|| FleetChoice {
        contexts: contexts.to_vec(),
        all: all_contexts,
    }))
}
