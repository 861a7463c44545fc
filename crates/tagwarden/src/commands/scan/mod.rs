//! `tagwarden scan`: every image a live cluster uses, checked against its registry.
//!
//! The library does the work ([`tagwarden_cluster::Cluster::scan`]): it reads the
//! workloads, rolls Pods up to their owners, reads the pull secrets they name and the
//! nodes' platforms, and asks the engine once per unique image. This command finds the
//! cluster, turns flags into options, and prints the report in `check`'s shapes (text,
//! JSON, JUnit) with `check`'s exit codes.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use serde::Serialize;
use tagwarden_cluster::fleet::FleetTarget;
use tagwarden_cluster::scan::ScannedImage;
use tagwarden_cluster::{
    NodePlatform, PullFailure, ScanError, ScanOptions, Scope, SecretRef, WorkloadLocation,
};
use tagwarden_core::KubeVersion;

use crate::cli::{ClusterArgs, PolicyArgs, ScanFormat};
use crate::commands::print_json;
use crate::commands::report::{CheckOutput, Details, FailOn, ImageReport, Located, Report};
use crate::exit::{CommandResult, Failure};
use crate::output::{errln, out};
use crate::settings::Settings;

mod fleet;

pub const EXAMPLES: &str = "\
Examples:
  # Every image of every namespace: will it pull, and is it already failing?
  tagwarden scan -A

  # One namespace, some workloads, as JSON (or -o junit for CI)
  tagwarden scan -n shop -l app=web -o json

  # Upgrade preflight: the cluster runs 1.32; what breaks on 1.33?
  tagwarden scan -A --kube-version 1.33

  # As a kubectl plugin (kubectl-tagwarden on PATH, a link to tagwarden)
  kubectl tagwarden scan -A --context prod-eu

  # A fleet: several contexts (or --all-contexts), each before its next minor upgrade
  tagwarden scan -A --context prod-eu --context prod-us --kube-version +1

What is read: Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
Jobs (Helm hooks included), CronJobs and Pods, with their containers, init containers and
ephemeral containers; workloads scaled to zero too. A Pod is reported as the workload
that owns it (Pod → ReplicaSet → Deployment), with its pod count; each unique image is
checked once, with the pull secrets of the workloads that use it (then your local
credentials) and for the platforms of the nodes its Pods could run on (--platform
overrides that). Containers waiting in ErrImagePull, ImagePullBackOff or InvalidImageName
are listed per image with the kubelet's message, classified (not_found, unauthorized,
rate_limited, other).

--kube-version V different from the cluster's: an upgrade preflight. An image whose tag
follows today's version is checked at V's tag, in its own format (kubectl:v1.32 →
kubectl:v1.33; kubectl:1.32.4 → the highest published 1.33.x), with its fallback.

RBAC: read-only list on the workload kinds, pods, events, nodes and serviceaccounts;
get on secrets is optional (without it, images are checked with your local credentials),
and so is get on namespaces (to say when -n names one that does not exist).

Connection: as kubectl's. The kubeconfig's proxy-url (http, https, socks5), else
HTTPS_PROXY with NO_PROXY (never for localhost or loopback); exec credential plugins run
once per command; --request-timeout bounds each request (and a plugin; else 60 s).

--kube-version +N: each cluster is judged N minors after its own version (+1: the next
minor), the preflight of a fleet whose clusters run different versions.

Output: as check (text, json with locations {namespace, kind, name, container, path,
pods} plus pull_failures, platforms, pull_secrets and after_upgrade per image; junit).
Exit: as check (2 invalid, 3 undetermined or the cluster unreachable, 1 missing, 0).

A fleet (--context more than once, or --all-contexts): the clusters are scanned at once
(--concurrent-clusters), through one registry client, so an image the fleet shares is
asked once per credential. The report is per cluster: text grouped by cluster, JSON
{clusters: [{cluster, images, summary, …} or {cluster, error}], summary}, every location
with its cluster {context, server, kube_version}; JUnit one suite per cluster. A cluster
that cannot be read is reported with its reason, the others still are, and the exit is 3.";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The namespace to scan (default: the context's namespace, else `default`).
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,

    /// Scan every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Only workloads and Pods with these labels (kubectl's syntax: `app=web,tier!=db`).
    ///
    /// The selector picks workloads and Pods; each is reported at the top of its owner
    /// chain (a Pod or ReplicaSet as its Deployment, a Job as its CronJob), with all the
    /// Pods of that workload counted, also those the selector does not match. So a
    /// Deployment labelled team=x whose Pods are labelled app=web is the same line under
    /// `-l team=x` and `-l app=web`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Judge images at this Kubernetes version instead of the cluster's: an upgrade
    /// preflight (images whose tag follows today's version are checked at this one's tag).
    /// `+N`: N minors after each cluster's own version (`+1`: its next minor).
    #[arg(long, value_name = "VERSION|+N")]
    pub kube_version: Option<String>,

    /// A platform every image must provide (OS/ARCH[/VARIANT]), instead of the platforms
    /// of the nodes each image's Pods could run on; repeatable.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    /// What makes the exit code non-zero: undetermined (and missing, the default), missing
    /// only, or never.
    #[arg(long, value_enum, default_value_t = FailOn::Undetermined)]
    pub fail_on: FailOn,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Scan every context of the kubeconfig (a fleet; see --context).
    #[arg(long, help_heading = "Cluster options")]
    pub all_contexts: bool,

    /// How many clusters of a fleet are scanned at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = tagwarden_cluster::fleet::FLEET_CONCURRENCY,
        value_parser = clap::value_parser!(usize),
        help_heading = "Cluster options"
    )]
    pub concurrent_clusters: usize,
}

/// What `scan` adds to an image's report.
#[derive(Debug, Clone, Serialize)]
pub struct ScanDetails {
    /// With an upgrade preflight: the reference asked for after the upgrade (only when
    /// its tag changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_upgrade: Option<String>,
    /// Containers that cannot pull it now.
    pub pull_failures: Vec<PullFailure>,
    /// The platforms it was checked for, with how many nodes have each.
    pub platforms: Vec<NodePlatform>,
    /// The pull secrets it was checked with (`namespace/name`).
    pub pull_secrets: Vec<String>,
}

impl Details for ScanDetails {
    fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(after) = &self.after_upgrade {
            lines.push(format!("after the upgrade: {after}"));
        }
        for failure in &self.pull_failures {
            let since = failure
                .since
                .as_deref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default();
            lines.push(format!(
                "{} in {}/{} ({}){since}: {}",
                failure.reason,
                failure.namespace,
                failure.pod,
                failure.container,
                class_text(failure)
            ));
        }
        if !self.pull_secrets.is_empty() {
            lines.push(format!("pull secrets: {}", self.pull_secrets.join(", ")));
        }
        lines
    }
}

fn class_text(failure: &PullFailure) -> &'static str {
    use tagwarden_cluster::PullFailureClass::*;
    match failure.class {
        NotFound => "not found",
        Unauthorized => "unauthorized",
        RateLimited => "rate-limited",
        Other => "other",
    }
}

impl Located for WorkloadLocation {
    fn describe(&self) -> String {
        let pods = match (self.kind.as_str(), self.pods) {
            ("Pod", _) => String::new(),
            (_, 1) => ", 1 pod".to_string(),
            (_, n) => format!(", {n} pods"),
        };
        format!(
            "{}/{}/{} ({}){pods}",
            self.namespace, self.kind, self.name, self.container
        )
    }

    fn short(&self) -> String {
        self.object()
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn file_line(&self) -> Option<(&str, usize)> {
        None
    }
}

/// The cluster a report is about.
#[derive(Debug, Serialize)]
pub struct ClusterInfo {
    /// The API server.
    pub server: String,
    /// The kubeconfig context (`null` in-cluster).
    pub context: Option<String>,
    /// Its version today.
    pub kube_version: KubeVersion,
    /// With an upgrade preflight: the version images were judged at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_kube_version: Option<KubeVersion>,
}

/// `scan -o json`.
#[derive(Debug, Serialize)]
pub struct ScanOutput {
    pub cluster: ClusterInfo,
    #[serde(flatten)]
    pub report: CheckOutput<WorkloadLocation, ScanDetails>,
    /// Every node's platform, counted.
    pub nodes: Vec<NodePlatform>,
    /// Pull failures of images no workload in scope uses (normally none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_pull_failures: Vec<PullFailure>,
}

pub async fn run(settings: &Settings<ScanFormat>, args: &Args) -> CommandResult {
    run_as(settings, args, "scan").await
}

/// What to do when the cluster cannot be read.
const HINT: &str =
    "check the kubeconfig and the server, or scan rendered manifests instead (tagwarden check)";

/// `scan`, named `command` in its messages and reports (`check --cluster` runs it too).
pub async fn run_as(settings: &Settings<ScanFormat>, args: &Args, command: &str) -> CommandResult {
    // Flags first: nothing is asked before everything typed is known to be valid.
    if let Some(namespace) = &args.namespace {
        tagwarden_cluster::names::namespace(namespace)
            .map_err(|e| Failure::bad_input(anyhow!("-n/--namespace: {e}")))?;
    }
    let platforms = crate::commands::platforms_flag(&args.platforms)?;
    if args.concurrent_clusters == 0 {
        return Err(Failure::bad_input(anyhow!(
            "--concurrent-clusters 0 would scan nothing: give 1 or more"
        )));
    }
    if let Some(choice) = &settings.kube.fleet {
        return fleet::run(settings, args, command, choice, platforms).await;
    }

    let cluster = crate::cluster::locate(
        &settings.kube,
        "to scan",
        "to check manifests instead, use tagwarden check",
        "fix the kubeconfig or pass --kubeconfig/--context",
    )
    .await?;
    let today = cluster
        .version()
        .await
        .map_err(|e| crate::cluster::failure(e, HINT))?;
    // --kube-version: the version images are judged at (an upgrade preflight).
    let judged = target_of(&settings.kube).judged_at(today);
    let options = ScanOptions {
        scope: scope_of(args, &cluster),
        inspect: settings
            .policy
            .inspect_options(Some(judged.version().clone()), Vec::new()),
        platforms: (!platforms.is_empty()).then_some(platforms),
        upgrade_from: judged.upgrade_from().cloned(),
    };

    // The client is built (and its flags and files checked) before the cluster is read;
    // pull secrets ask through it with their own keychain, within its limits.
    let local = settings.client.build()?;
    let report = scan_with_progress(&cluster, &local, &options).await?;
    for warning in &report.warnings {
        errln!("warning: {warning}");
    }
    if report.images.is_empty() {
        note_nothing_found(&options.scope);
    }
    let cluster_info = ClusterInfo {
        server: cluster.server(),
        context: cluster.context().map(str::to_string),
        kube_version: judged.today().clone(),
        target_kube_version: judged.target().cloned(),
    };
    let output = scan_output(cluster_info, report, &local);
    let report = &output.report.report;
    match settings.output {
        ScanFormat::Json => print_json(&output)?,
        ScanFormat::Junit => out!(
            "{}",
            crate::commands::report::junit::report(report, command)
        )?,
        ScanFormat::Text => crate::commands::report::text::print(report)?,
    }
    crate::commands::report::verdict_of(report, args.fail_on)
}

/// What `--kube-version` asks clusters to be judged at: their own version, one for all,
/// or N minors after each one's.
fn target_of(kube: &crate::settings::KubeSettings) -> FleetTarget {
    match (&kube.version, kube.minors_ahead) {
        (_, Some(n)) => FleetTarget::MinorsAhead(n),
        (Some(version), None) => FleetTarget::Version(version.clone()),
        (None, None) => FleetTarget::Today,
    }
}

/// The report in `check`'s shape, with what only a scan has.
fn scan_output(
    cluster: ClusterInfo,
    report: tagwarden_cluster::scan::ScanReport,
    local: &tagwarden_registry::Client,
) -> ScanOutput {
    let rate_limits = crate::commands::rate_limits_of(local);
    let images: Vec<ImageReport<WorkloadLocation, ScanDetails>> =
        report.images.into_iter().map(image_report).collect();
    ScanOutput {
        cluster,
        report: CheckOutput {
            report: Report::new(images),
            rate_limits,
        },
        nodes: report.nodes,
        other_pull_failures: report.other_pull_failures,
    }
}

/// `-n`/`-A` and `-l`: the kubeconfig's namespace unless `-n` or `-A` says otherwise.
fn scope_of(args: &Args, cluster: &tagwarden_cluster::Cluster) -> Scope {
    Scope {
        namespace: if args.all_namespaces {
            None
        } else {
            Some(
                args.namespace
                    .clone()
                    .unwrap_or_else(|| cluster.default_namespace()),
            )
        },
        selector: args.selector.clone(),
    }
}

/// The scan, with a progress bar on a terminal.
async fn scan_with_progress(
    cluster: &tagwarden_cluster::Cluster,
    local: &tagwarden_registry::Client,
    options: &ScanOptions,
) -> Result<tagwarden_cluster::scan::ScanReport, Failure> {
    let bar = std::sync::Mutex::new(None::<indicatif::ProgressBar>);
    let report = cluster
        .scan(local, options, |progress| {
            let mut bar = bar.lock().expect("not poisoned");
            if bar.is_none() {
                *bar = crate::progress::progress_bar(progress.total);
            }
            if let Some(bar) = bar.as_ref() {
                bar.set_position(progress.done as u64);
            }
        })
        .await
        .map_err(|e| match e {
            ScanError::Cluster(e) => crate::cluster::failure(e, HINT),
        })?;
    if let Some(bar) = bar.into_inner().expect("not poisoned") {
        bar.finish_and_clear();
    }
    Ok(report)
}

/// Says on stderr that nothing was found where the scan looked.
fn note_nothing_found(scope: &Scope) {
    let place = match &scope.namespace {
        Some(namespace) => format!("namespace {namespace} (-A scans every namespace)"),
        None => "any namespace".to_string(),
    };
    let selected = match &scope.selector {
        Some(selector) => format!(" matching {selector}"),
        None => String::new(),
    };
    errln!("note: no workloads or Pods{selected} in {place}");
}

/// One scanned image in `check`'s report shape.
fn image_report(scanned: ScannedImage) -> ImageReport<WorkloadLocation, ScanDetails> {
    let details = ScanDetails {
        after_upgrade: scanned.after_upgrade,
        pull_failures: scanned.pull_failures,
        platforms: scanned.platforms,
        pull_secrets: scanned
            .pull_secrets
            .iter()
            .map(SecretRef::to_string)
            .collect(),
    };
    ImageReport::of(scanned.image, scanned.verdict, scanned.locations, details)
}
