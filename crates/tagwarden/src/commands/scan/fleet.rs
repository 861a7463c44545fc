//! `scan` of a fleet: the clusters of several kubeconfig contexts (`--context A --context
//! B`, `--all-contexts`), scanned at once by the library ([`tagwarden_cluster::scan_fleet`])
//! through one registry client, and reported per cluster.
//!
//! - **JSON**: `{clusters: [{cluster, images, summary, nodes, …}], summary, rate_limits}`;
//!   a cluster that could not be scanned is `{cluster, error}`. Every location carries its
//!   `cluster` (`context`, `server`, `kube_version`, `target_kube_version`), so a flat list
//!   of locations still says where each one is.
//! - **Text**: one table per cluster under a line naming it; the fleet's summary last.
//! - **JUnit**: one `testsuite` per cluster.
//! - **Exit**: the images of all clusters together decide as one report does (2, 3, 1,
//!   0); a cluster that could not be scanned makes it 3, unless an invalid reference made
//!   it 2.

use anyhow::anyhow;
use serde::Serialize;
use tagwarden_cluster::connection::FleetChoice;
use tagwarden_cluster::{
    Cluster, ClusterScan, Environment, FleetMember, FleetScanOptions, NodePlatform, PullFailure,
    ScanOptions, Scope, WorkloadLocation, scan_fleet,
};
use tagwarden_core::KubeVersion;
use tagwarden_core::report::Summary;
use tagwarden_registry::Platform;

use super::{Args, HINT, ScanDetails, image_report, target_of};
use crate::cli::ScanFormat;
use crate::commands::report::junit::{self, Suite};
use crate::commands::report::{ImageReport, Located, Report, verdict_of};
use crate::commands::{RateLimitOutput, print_json, rate_limits_of};
use crate::exit::{CommandResult, Failure};
use crate::output::{errln, outln};
use crate::settings::Settings;

/// The cluster a report (or a location) is about.
#[derive(Debug, Clone, Serialize)]
pub struct FleetCluster {
    /// The kubeconfig context.
    pub context: String,
    /// The API server (`null` when the context names no usable one).
    pub server: Option<String>,
    /// Its version today (`null` when it could not be read).
    pub kube_version: Option<KubeVersion>,
    /// With an upgrade preflight: the version images were judged at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_kube_version: Option<KubeVersion>,
}

/// Where an image is used in a fleet: the workload, and its cluster.
#[derive(Debug, Clone, Serialize)]
pub struct FleetLocation {
    /// The cluster.
    pub cluster: FleetCluster,
    /// The workload (or Pod) and container.
    #[serde(flatten)]
    pub workload: WorkloadLocation,
}

impl Located for FleetLocation {
    fn describe(&self) -> String {
        self.workload.describe()
    }

    fn short(&self) -> String {
        format!("{}: {}", self.cluster.context, self.workload.short())
    }

    fn path(&self) -> &str {
        &self.workload.path
    }

    fn file_line(&self) -> Option<(&str, usize)> {
        None
    }
}

/// One cluster of a fleet's `-o json`.
#[derive(Debug, Serialize)]
pub struct FleetClusterOutput {
    pub cluster: FleetCluster,
    /// Why it could not be scanned (then there is no report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `images` and `summary`, when it was scanned.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report<FleetLocation, ScanDetails>>,
    /// Every node's platform, counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodePlatform>,
    /// Pull failures of images no workload in scope uses (normally none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_pull_failures: Vec<PullFailure>,
    /// What could not be read (RBAC), each said once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The fleet's counts: clusters, and images counted once per cluster that uses them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FleetSummary {
    /// Clusters asked for.
    pub clusters: usize,
    /// Clusters that could not be scanned.
    pub unreachable: usize,
    /// The images' statuses, per cluster.
    #[serde(flatten)]
    pub images: Summary,
}

/// A fleet's `scan -o json`.
#[derive(Debug, Serialize)]
pub struct FleetOutput {
    pub clusters: Vec<FleetClusterOutput>,
    pub summary: FleetSummary,
    /// Only when a registry sent rate-limit headers (Docker Hub does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimitOutput>,
}

/// Scans the fleet `choice` names and prints its report; see the module documentation.
pub async fn run(
    settings: &Settings<ScanFormat>,
    args: &Args,
    command: &str,
    choice: &FleetChoice,
    platforms: Vec<Platform>,
) -> CommandResult {
    let located = Cluster::locate_fleet(&settings.kube.cluster, choice, &Environment::current())
        .await
        .map_err(|e| crate::cluster::failure(e, HINT))?;
    let local = settings.client.build()?;
    let options = FleetScanOptions {
        scan: ScanOptions {
            scope: Scope {
                namespace: args.namespace.clone(),
                selector: args.selector.clone(),
            },
            inspect: settings.policy.inspect_options(None, Vec::new()),
            platforms: (!platforms.is_empty()).then_some(platforms),
            upgrade_from: None,
        },
        all_namespaces: args.all_namespaces,
        target: target_of(&settings.kube),
        concurrency: args.concurrent_clusters,
    };
    let total = located.len();
    let spinner = crate::progress::Spinner::start(format!("scanning {total} clusters"));
    let members = scan_fleet(located, &local, &options, |p| {
        spinner.set_message(format!("scanning {} clusters: {} done", p.total, p.done));
    })
    .await;
    drop(spinner);
    let absent = members
        .iter()
        .filter(|m| matches!(&m.outcome, Ok(scan) if scan.absent_namespace.is_some()))
        .count();
    let output = FleetOutput::of(members, rate_limits_of(&local));
    for cluster in &output.clusters {
        for warning in &cluster.warnings {
            errln!("warning: {}: {warning}", cluster.cluster.context);
        }
    }
    match settings.output {
        ScanFormat::Json => print_json(&output)?,
        ScanFormat::Junit => crate::output::out!("{}", junit_of(&output, command))?,
        ScanFormat::Text => print_text(&output)?,
    }
    exit_of(&output, args, absent)
}

impl FleetOutput {
    /// The members' reports in the fleet's shape.
    fn of(members: Vec<FleetMember>, rate_limits: Vec<RateLimitOutput>) -> FleetOutput {
        let clusters: Vec<FleetClusterOutput> = members.into_iter().map(member_output).collect();
        let images = clusters
            .iter()
            .filter_map(|c| c.report.as_ref())
            .fold(Summary::default(), |sum, report| sum + report.summary);
        let summary = FleetSummary {
            clusters: clusters.len(),
            unreachable: clusters.iter().filter(|c| c.error.is_some()).count(),
            images,
        };
        FleetOutput {
            clusters,
            summary,
            rate_limits,
        }
    }
}

/// One member: its cluster named on every location, or its error.
fn member_output(member: FleetMember) -> FleetClusterOutput {
    let mut cluster = FleetCluster {
        context: member.context,
        server: member.server,
        kube_version: None,
        target_kube_version: None,
    };
    let scan = match member.outcome {
        Ok(scan) => scan,
        Err(error) => {
            return FleetClusterOutput {
                cluster,
                error: Some(error.to_string().replace('\n', "; ")),
                report: None,
                nodes: Vec::new(),
                other_pull_failures: Vec::new(),
                warnings: Vec::new(),
            };
        }
    };
    let ClusterScan {
        judged,
        mut report,
        absent_namespace,
    } = scan;
    if let Some(namespace) = absent_namespace {
        report.warnings.push(format!(
            "namespace {namespace} does not exist in this cluster: nothing was scanned here"
        ));
    }
    cluster.kube_version = Some(judged.today().clone());
    cluster.target_kube_version = judged.target().cloned();
    let images: Vec<ImageReport<FleetLocation, ScanDetails>> = report
        .images
        .into_iter()
        .map(|scanned| {
            image_report(scanned).map_locations(|workload| FleetLocation {
                cluster: cluster.clone(),
                workload,
            })
        })
        .collect();
    FleetClusterOutput {
        cluster,
        error: None,
        report: Some(Report::new(images)),
        nodes: report.nodes,
        other_pull_failures: report.other_pull_failures,
        warnings: report.warnings,
    }
}

/// A cluster's heading line: `cluster prod-eu · https://… · Kubernetes v1.31.4 (judged at v1.32.0)`.
fn heading(cluster: &FleetCluster) -> String {
    let mut line = format!("cluster {}", cluster.context);
    if let Some(server) = &cluster.server {
        line.push_str(&format!(" · {server}"));
    }
    if let Some(version) = &cluster.kube_version {
        line.push_str(&format!(" · Kubernetes {version}"));
    }
    if let Some(target) = &cluster.target_kube_version {
        line.push_str(&format!(" (judged at {target})"));
    }
    line
}

/// Text: each cluster's table under its heading, the fleet's summary last (stderr).
fn print_text(output: &FleetOutput) -> Result<(), Failure> {
    for (n, cluster) in output.clusters.iter().enumerate() {
        if n > 0 {
            outln!()?;
        }
        outln!("{}", heading(&cluster.cluster))?;
        match (&cluster.error, &cluster.report) {
            (Some(error), _) => outln!("could not be scanned: {error}")?,
            (None, Some(report)) => {
                crate::commands::report::text::print_named(report, Some(&cluster.cluster.context))?
            }
            (None, None) => {}
        }
    }
    let s = output.summary;
    let unreachable = match s.unreachable {
        0 => String::new(),
        n => format!(" ({n} could not be scanned)"),
    };
    errln!(
        "fleet: {} clusters{unreachable}; images per cluster: {} present, {} missing, {} undetermined, {} invalid",
        s.clusters,
        s.images.present,
        s.images.missing,
        s.images.undetermined,
        s.images.invalid
    );
    Ok(())
}

/// JUnit: a suite per cluster.
fn junit_of(output: &FleetOutput, command: &str) -> String {
    let suites: Vec<Suite<'_, FleetLocation, ScanDetails>> = output
        .clusters
        .iter()
        .map(|cluster| Suite {
            name: format!("tagwarden {command}: {}", cluster.cluster.context),
            outcome: match (&cluster.report, &cluster.error) {
                (Some(report), _) => Ok(report),
                (None, error) => Err(error.clone().unwrap_or_default()),
            },
        })
        .collect();
    junit::suites(&suites, command)
}

/// The exit: the images of every cluster decide together; a cluster that could not be
/// scanned is exit 3 (an invalid reference's 2 still wins). A namespace that none of the
/// clusters reached has is exit 2 (a typo, most likely), as on one cluster.
fn exit_of(output: &FleetOutput, args: &Args, absent: usize) -> CommandResult {
    let reached = output.clusters.iter().filter(|c| c.error.is_none()).count();
    if let Some(namespace) = &args.namespace
        && reached > 0
        && absent == reached
    {
        return Err(Failure::bad_input(anyhow!(
            "namespaces \"{namespace}\" not found in any of the {reached} clusters reached; kubectl get namespaces --context … lists them"
        )));
    }
    let all = Report::new(
        output
            .clusters
            .iter()
            .filter_map(|c| c.report.as_ref())
            .flat_map(|r| r.images.iter().cloned())
            .collect::<Vec<_>>(),
    );
    let images = verdict_of(&all, args.fail_on);
    let unreachable: Vec<String> = output
        .clusters
        .iter()
        .filter_map(|c| {
            c.error
                .as_ref()
                .map(|e| format!("{} ({e})", c.cluster.context))
        })
        .collect();
    if unreachable.is_empty() || matches!(images, Err(Failure::BadInput(_))) {
        return images;
    }
    Err(Failure::undecided(anyhow!(
        "{} of {} clusters could not be scanned: {}",
        unreachable.len(),
        output.clusters.len(),
        unreachable.join("; ")
    )))
}
