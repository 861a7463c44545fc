//! `tagwarden check`: every image of rendered manifests, checked against its registry.
//!
//! 1. Read the inputs (files, folders, stdin) and find the image fields
//!    (`tagwarden-manifest`). Broken YAML stops here: exit 2, nothing on stdout; so does
//!    no input at all (unless `--fail-on never`).
//! 2. Group the fields by image string, as written. A field with no image string (empty,
//!    null, absent, a number, a mapping…) is an invalid image with its location.
//! 3. Ask the engine ([`tagwarden_registry::inspect_images`]) once per unique image: it
//!    announces every repository (one token per registry), runs the questions concurrently
//!    (the client limits each registry to `--max-concurrency`), and gives a missing image
//!    that tracks the Kubernetes version ([`tagwarden_core::track`]) its fallback. An image
//!    that could not be checked never gets one.
//! 4. Only when every answer is in is the report printed (text, JSON, SARIF or JUnit).
//!
//! Exit codes, with the default `--fail-on undetermined`: 2 when any image reference is
//! invalid (the report is still printed), else 3 when any image could not be checked
//! (denied, unreachable), else 1 when any is missing, else 0. `--fail-on missing` ignores
//! undetermined images (with a warning); `--fail-on never` always exits 0 once a report was
//! printed. Broken YAML and bad flags are exit 2 whatever `--fail-on` says.

use std::io::IsTerminal;

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_core::{ImageSet, Verdict};
use tagwarden_manifest::Location;
use tagwarden_registry::{Client, InspectOptions};

use crate::cli::{CheckFormat, PolicyArgs};
use crate::commands::manifests::{self as input, find_options};
use crate::commands::print_json;
use crate::commands::report::{
    CheckOutput, FailOn, ImageReport, ImageStatus, NoDetails, Report, junit, kustomize, sarif,
    text, verdict_of,
};
use crate::exit::{CommandResult, Failure};
use crate::output::{errln, out};
use crate::progress::progress_bar;
use crate::settings::Settings;

pub const EXAMPLES: &str = "\
Examples:
  # Will every image of this chart pull on Kubernetes 1.32? Suggest fallbacks if not.
  helm template capsule projectcapsule/capsule --kube-version 1.32 | tagwarden check --kube-version 1.32

  # Folders are read recursively (*.yaml, *.yml); several paths and - (stdin) mix
  tagwarden check rendered/ extra.yaml

  # For GitHub code scanning, and for CI test reports
  tagwarden check rendered/ -o sarif > tagwarden.sarif
  tagwarden check rendered/ -o junit > tagwarden.xml

  # Images in custom resources, e.g. the Prometheus operator's
  tagwarden check rendered/ --image-path 'Prometheus:spec.image' --image-path 'Alertmanager:spec.image'

Images: the image of every container, init container and ephemeral container of Pods,
Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers,
PodTemplates and List items, plus the fields --image-path names. Each unique image string
is checked once. A missing image gets a suggested fallback when it tracks the Kubernetes
version: its tag is a version tag with the --kube-version's major.minor (v1.32, 1.32.0), or
--track / the config's policy.track names its repository.

Status of each image: present, missing (the registry says so, or a --platform is lacking),
denied (401/403), unreachable (anything else that kept us from an answer), invalid (not an
image reference: also an empty, null or missing image, a number, a mapping or a sequence;
the reason says why).

Output:
  text   a table grouped by image, with every location, and a summary line
  json   {\"images\":[{\"image\",\"status\",\"digest\",\"fallback\",\"reason\",[\"nearest_outside_policy\"],\"locations\":[{\"file\",
         \"document\",\"line\",\"column\",\"kind\",\"namespace\",\"name\",\"container\",\"path\"}]}],
         \"summary\":{\"present\",\"missing\",\"undetermined\",\"invalid\"}}
  sarif  SARIF 2.1.0: one result per location of a missing (image-missing), undeterminable
         (image-undetermined) or invalid (image-invalid) image
  junit  one testcase per unique image: <failure> when missing or invalid, <error> when
         undetermined
  kustomize-images
         the repairs as Kustomize images entries (name, newTag, digest: the fallback's),
         for a Flux HelmRelease's spec.postRenderers[].kustomize.images; [] when none

Exit (--fail-on undetermined, the default): 2 an invalid image reference, else 3 an image
could not be checked, else 1 an image is missing, else 0. --fail-on missing: undetermined
images only warn. --fail-on never: 0 whenever the report was written. Broken YAML, bad
flags and unreadable files are always 2, with nothing on stdout; so is no input at all
(an empty folder or stdin), which --fail-on never only warns about.";

// Its doc comments are `--help` text: `[*]` there is not a rustdoc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Files, folders (read recursively for *.yaml and *.yml) or - for stdin.
    /// Default: stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// The cluster's Kubernetes version (any distribution's string, e.g.
    /// v1.32.0-eks-5e0fdde): images whose tag has its major.minor track it, and get a
    /// fallback when missing. Default: TAGWARDEN_KUBE_VERSION, else /version of the
    /// current context's cluster (KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,

    /// A platform every image must provide (OS/ARCH[/VARIANT]); repeatable. `all`: every
    /// platform its index lists, each of whose manifests must exist (a broken index is caught).
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    /// Also treat this field as an image: KIND:PATH, e.g. 'Prometheus:spec.image' or
    /// 'Foo:spec.containers[*].image'; repeatable.
    #[arg(long = "image-path", value_name = "KIND:PATH")]
    pub image_paths: Vec<String>,

    /// What makes the exit code non-zero: undetermined (and missing, the default), missing
    /// only, or never.
    #[arg(long, value_enum, default_value_t = FailOn::Undetermined)]
    pub fail_on: FailOn,

    /// Check the images of every namespace of the current cluster instead of manifests:
    /// `tagwarden scan -A` with these flags (--kube-version is then an upgrade's target).
    #[arg(long)]
    pub cluster: bool,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The cluster whose version is tracked (and, with --cluster, whose images are checked).
    #[command(flatten)]
    pub cluster_args: crate::cli::ClusterArgs,

    /// With --cluster: check every context of the kubeconfig (a fleet, as `scan
    /// --all-contexts`).
    #[arg(long, requires = "cluster", help_heading = "Cluster options")]
    pub all_contexts: bool,
}

/// The files and folders to read; none given: standard input, unless it is a terminal.
fn paths_of(args: &Args) -> Result<Vec<String>, Failure> {
    if !args.paths.is_empty() {
        return Ok(args.paths.clone());
    }
    if std::io::stdin().is_terminal() {
        return Err(Failure::bad_input(anyhow!(
            "nothing to check: give files or folders, or pipe manifests in (helm template … | tagwarden check)"
        )));
    }
    Ok(vec!["-".to_string()])
}

pub async fn run(settings: &Settings<CheckFormat>, args: &Args) -> CommandResult {
    // Everything the user typed is checked before anything is read or asked.
    let kube_version = crate::cluster::version_for_tracking(&settings.kube).await?;
    let platforms = crate::commands::platforms_flag(&args.platforms)?;
    let options = find_options(&args.image_paths)?;
    let paths = paths_of(args)?;

    // 1. Inputs and their image fields.
    let sources = input::read_all(&paths, &options.limits)?;
    let scans = input::scan_all(&sources, &options)?;
    no_input_at_all(&sources, args.fail_on)?;

    // 2. Unique images, in order of first use.
    let mut images = unique_images(&scans);

    // 3. The registry, once per unique valid image.
    let rate_limits = if images.iter().any(|i| i.reason.is_none()) {
        // Said once there is something to check (not for broken input, exit 2 anyway).
        if kube_version.is_none() {
            errln!(
                "warning: no Kubernetes version to track (no --kube-version, \
                 TAGWARDEN_KUBE_VERSION, kubeconfig or in-cluster configuration): tags are not \
                 matched against a cluster's version, so a missing image gets a fallback only \
                 from track rules"
            );
        }
        let client = settings.client.build()?;
        let options = settings.policy.inspect_options(kube_version, platforms);
        inspect_all(&client, &mut images, &options).await;
        crate::commands::rate_limits_of(&client)
    } else {
        for report in &mut images {
            report.status = ImageStatus::Invalid;
        }
        Vec::new()
    };
    let output = CheckOutput {
        report: Report::new(images),
        rate_limits,
    };

    // 4. The report, with every answer in.
    print_report(settings.output, &output)?;
    verdict_of(&output.report, args.fail_on)
}

/// Writes the finished report in the format asked for.
fn print_report(format: CheckFormat, output: &CheckOutput) -> Result<(), Failure> {
    let report = &output.report;
    match format {
        CheckFormat::Json => print_json(output)?,
        CheckFormat::Sarif => print_json(&sarif::report(report))?,
        CheckFormat::Junit => out!("{}", junit::report(report, "check"))?,
        CheckFormat::KustomizeImages => {
            let images = kustomize::images(report);
            for warning in &images.warnings {
                errln!("warning: {warning}");
            }
            out!("{}", images.yaml())?
        }
        CheckFormat::Text => text::print(report)?,
    }
    Ok(())
}

/// Nothing to read at all (an empty folder, empty files, empty stdin) is a mistake that
/// would let a CI gate pass: a warning with `--fail-on never`, else exit 2.
fn no_input_at_all(sources: &[tagwarden_manifest::Source], fail_on: FailOn) -> Result<(), Failure> {
    if sources.iter().any(|s| !s.contents.trim().is_empty()) {
        return Ok(());
    }
    let what = if sources.is_empty() {
        "no manifest files were found (folders are read for *.yaml, *.yml and *.json)".to_string()
    } else {
        format!(
            "the input is empty ({})",
            sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if fail_on == FailOn::Never {
        errln!("warning: {what}: nothing was checked");
        return Ok(());
    }
    Err(Failure::bad_input(anyhow!(
        "{what}: nothing to check (--fail-on never accepts that)"
    )))
}

/// Every image string of the scans, once, with every place it is used, in order of first
/// use. Fields that hold no image string (empty, null, absent, a number, a boolean, a
/// mapping or a sequence, directly or through an alias) are invalid images: Kubernetes
/// rejects the object, or the chart left a value unset. They are grouped by what they hold
/// (`image` is the scalar's text, or empty) and already carry their `reason`; other images
/// are still to be asked about.
fn unique_images(scans: &[tagwarden_manifest::Scan]) -> Vec<ImageReport> {
    // Keyed by why it is not an image string (if it is not), then the text.
    let mut set: ImageSet<Location, (Option<String>, String)> = ImageSet::new();
    for scan in scans {
        for field in &scan.images {
            set.add((None, field.image.clone()), field.location.clone());
        }
        for skipped in &scan.skipped {
            let text = skipped.value.clone().unwrap_or_default();
            set.add((Some(skipped.message()), text), skipped.location.clone());
        }
    }
    set.into_iter()
        .map(|entry| {
            let (reason, image) = entry.image;
            let verdict = Verdict {
                reason,
                ..Verdict::with_status(ImageStatus::Invalid)
            };
            ImageReport::of(image, verdict, entry.uses, NoDetails {})
        })
        .collect()
}

/// Asks the registries about every image not yet known to be invalid (a progress bar on a
/// terminal), and fills in the answers.
async fn inspect_all(client: &Client, images: &mut [ImageReport], options: &InspectOptions) {
    let asked: Vec<usize> = (0..images.len())
        .filter(|&i| images[i].reason.is_none())
        .collect();
    let strings: Vec<&str> = asked.iter().map(|&i| images[i].image.as_str()).collect();
    let progress = progress_bar(strings.len());
    let verdicts = tagwarden_registry::inspect_images(client, &strings, options, |_| {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    })
    .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    for (i, verdict) in asked.into_iter().zip(verdicts) {
        images[i].set_verdict(verdict);
    }
}
