//! A fleet scanned in one run: the clusters of several kubeconfig contexts
//! ([`Cluster::locate_fleet`]), each scanned as [`Cluster::scan`] scans one, at most
//! [`FleetScanOptions::concurrency`] at a time, all asking through one registry client, so
//! that an image the whole fleet uses is asked once (the client's single flight and
//! in-memory answers).
//!
//! Each cluster is judged at its own version, or at the [`FleetTarget`] the run asks for:
//! one version for all (`--kube-version 1.34`), or each cluster's next minor
//! (`--kube-version +1`). A cluster that cannot be read is reported with its reason; the
//! others are still scanned. A cluster without the namespace asked for is scanned as
//! empty and says so ([`ClusterScan::absent_namespace`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use tagwarden_core::KubeVersion;
use tagwarden_core::track::JudgedAt;
use tagwarden_registry::Client;

use crate::connection::Cluster;
use crate::error::ClusterError;
use crate::inventory::Scope;
use crate::scan::{ScanError, ScanOptions, ScanReport};

/// How many clusters are scanned at once by default.
pub const FLEET_CONCURRENCY: usize = 4;

/// The most minors `+N` looks ahead: Kubernetes ships three minors a year, so more is a
/// typo, not a plan.
pub const MAX_MINORS_AHEAD: u64 = 100;

/// The version a fleet's clusters are judged at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FleetTarget {
    /// Each cluster's own version today.
    #[default]
    Today,
    /// One version for every cluster (`--kube-version 1.34`).
    Version(KubeVersion),
    /// Each cluster's version today, `n` minors later (`--kube-version +1`).
    MinorsAhead(u64),
}

impl FleetTarget {
    /// `+N` (N minors after each cluster's version) or a version string.
    ///
    /// # Errors
    ///
    /// The reason, for a `+` without a whole number after it, or a version that does not
    /// parse.
    pub fn parse(text: &str) -> Result<FleetTarget, String> {
        let text = text.trim();
        if text.starts_with('+') {
            return Self::minors_ahead(text).map(FleetTarget::MinorsAhead);
        }
        KubeVersion::parse(text)
            .map(FleetTarget::Version)
            .map_err(|e| e.to_string())
    }

    /// N of `+N`, from 1 to [`MAX_MINORS_AHEAD`].
    ///
    /// # Errors
    ///
    /// The reason, for a text that is not `+` and such a number.
    pub fn minors_ahead(text: &str) -> Result<u64, String> {
        let text = text.trim();
        match text.strip_prefix('+').map(str::parse::<u64>) {
            Some(Ok(n)) if (1..=MAX_MINORS_AHEAD).contains(&n) => Ok(n),
            _ => Err(format!(
                "{text:?}: +N takes a whole number of minor versions from 1 to {MAX_MINORS_AHEAD} (+1: each cluster's next minor)"
            )),
        }
    }

    /// What a cluster running `today` is judged at.
    pub fn judged_at(&self, today: KubeVersion) -> JudgedAt {
        let asked = match self {
            FleetTarget::Today => None,
            FleetTarget::Version(version) => Some(version.clone()),
            FleetTarget::MinorsAhead(n) => Some(KubeVersion {
                minor: today.minor.saturating_add(*n),
                patch: None,
                git_version: None,
                ..today.clone()
            }),
        };
        JudgedAt::new(today, asked)
    }
}

/// What to scan on every cluster of a fleet.
#[derive(Debug, Clone)]
pub struct FleetScanOptions {
    /// The scan of one cluster; its tracking version is set per cluster.
    pub scan: ScanOptions,
    /// `-A`: every namespace; else each context's own namespace (as kubectl without `-n`),
    /// or `scan.scope.namespace` when set.
    pub all_namespaces: bool,
    /// The version each cluster is judged at.
    pub target: FleetTarget,
    /// How many clusters are scanned at once.
    pub concurrency: usize,
}

/// One cluster of a fleet, and what its scan found (or why it could not be scanned).
#[derive(Debug)]
pub struct FleetMember {
    /// The kubeconfig context.
    pub context: String,
    /// The API server, when the context names a usable one.
    pub server: Option<String>,
    /// The scan, or why there is none.
    pub outcome: Result<ClusterScan, ScanError>,
}

/// A cluster's scan with the versions it was judged at.
#[derive(Debug)]
pub struct ClusterScan {
    /// Its version today, and the one its images were judged at.
    pub judged: JudgedAt,
    /// What the scan found.
    pub report: ScanReport,
    /// The namespace asked for, when this cluster has no such namespace: nothing was
    /// scanned there (a fleet's clusters need not all have every namespace).
    pub absent_namespace: Option<String>,
}

/// How far a fleet's scan is: clusters finished (scanned or failed) of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetProgress {
    /// Clusters finished.
    pub done: usize,
    /// Clusters in the fleet.
    pub total: usize,
}

/// Scans every located cluster, at most `options.concurrency` at once, all through
/// `client`; the members come back in the order given. `progress` is called as each
/// cluster finishes.
pub async fn scan_fleet(
    clusters: Vec<(String, Result<Cluster, ClusterError>)>,
    client: &Client,
    options: &FleetScanOptions,
    progress: impl Fn(FleetProgress),
) -> Vec<FleetMember> {
    let total = clusters.len();
    let done = AtomicUsize::new(0);
    let (done, progress) = (&done, &progress);
    futures::stream::iter(clusters)
        .map(|(context, located)| async move {
            let server = located.as_ref().ok().map(Cluster::server);
            let outcome = match located {
                Ok(cluster) => scan_member(&cluster, client, options).await,
                Err(error) => Err(ScanError::Cluster(error)),
            };
            progress(FleetProgress {
                done: done.fetch_add(1, Ordering::Relaxed) + 1,
                total,
            });
            FleetMember {
                context,
                server,
                outcome,
            }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await
}

/// One cluster: its version, what it is judged at, then its scan.
async fn scan_member(
    cluster: &Cluster,
    client: &Client,
    options: &FleetScanOptions,
) -> Result<ClusterScan, ScanError> {
    let today = cluster.version().await?;
    let judged = options.target.judged_at(today);
    let mut scan = options.scan.clone();
    scan.inspect.tracking.kube_version = Some(judged.version().clone());
    scan.upgrade_from = judged.upgrade_from().cloned();
    if !options.all_namespaces && scan.scope.namespace.is_none() {
        scan.scope = Scope {
            namespace: Some(cluster.default_namespace()),
            ..scan.scope
        };
    }
    match cluster.scan(client, &scan, |_| {}).await {
        Ok(report) => Ok(ClusterScan {
            judged,
            report,
            absent_namespace: None,
        }),
        Err(ScanError::Cluster(ClusterError::NoSuchNamespace { namespace })) => Ok(ClusterScan {
            judged,
            report: ScanReport::default(),
            absent_namespace: Some(namespace),
        }),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> KubeVersion {
        KubeVersion::parse(text).unwrap()
    }

    #[test]
    fn plus_n_is_each_clusters_minor_n_later() {
        let target = FleetTarget::parse("+1").unwrap();
        assert_eq!(target, FleetTarget::MinorsAhead(1));
        let eks = target.judged_at(version("v1.31.4-eks-5e0fdde"));
        assert!(eks.is_preflight());
        assert_eq!(eks.version().major_minor(), (1, 32));
        assert_eq!(eks.today().major_minor(), (1, 31));
        let k3s = target.judged_at(version("v1.29.1+k3s1"));
        assert_eq!(k3s.version().major_minor(), (1, 30));
    }

    #[test]
    fn one_version_for_all_and_today_for_none() {
        let all = FleetTarget::parse("1.34").unwrap();
        let judged = all.judged_at(version("v1.33.2"));
        assert_eq!(judged.version().major_minor(), (1, 34));
        let same = FleetTarget::Today.judged_at(version("v1.33.2"));
        assert!(!same.is_preflight());
    }

    proptest::proptest! {
        #[test]
        fn plus_n_parses_back_to_n_and_any_other_plus_text_is_refused(
            n in 1u64..=MAX_MINORS_AHEAD,
            huge in (MAX_MINORS_AHEAD + 1)..=u64::MAX,
            junk in "\\+[^0-9]?.{0,12}",
            minor in 0u64..100,
        ) {
            proptest::prop_assert_eq!(
                FleetTarget::parse(&format!("+{n}")),
                Ok(FleetTarget::MinorsAhead(n))
            );
            proptest::prop_assert_eq!(
                FleetTarget::parse(&format!(" +{n} ")),
                Ok(FleetTarget::MinorsAhead(n))
            );
            let too_far = format!("+{huge}");
            proptest::prop_assert!(FleetTarget::parse(&too_far).is_err(), "{too_far}");
            // Never a panic, and never a target for text that is not +N.
            if junk[1..].parse::<u64>().map_or(true, |n| !(1..=MAX_MINORS_AHEAD).contains(&n)) {
                proptest::prop_assert!(FleetTarget::parse(&junk).is_err(), "{junk:?}");
            }
            let judged = FleetTarget::MinorsAhead(n).judged_at(KubeVersion::parse(&format!("v1.{minor}.3")).unwrap());
            proptest::prop_assert_eq!(judged.version().major_minor(), (1, minor + n));
            proptest::prop_assert_eq!(judged.today().major_minor(), (1, minor));
        }
    }

    #[test]
    fn a_bad_target_says_why() {
        for text in ["+", "+0", "+x", "+-1"] {
            let error = FleetTarget::parse(text).unwrap_err();
            assert!(error.contains("+N takes a whole number"), "{text}: {error}");
        }
        assert!(FleetTarget::parse("not-a-version").is_err());
    }
}
