//! `tagwarden post-render`: a Helm post-renderer. Manifests on stdin, the same manifests on
//! stdout with only image scalars changed.
//!
//! - An image is replaced only when its exact tag is missing and it tracks the Kubernetes
//!   version (see [`tagwarden_core::track`]): the reference keeps its spelling and
//!   gets the nearest published compatible tag within the skew policy.
//! - `--pin` pins every image to its digest (`name:tag@sha256:…`); an image already pinned
//!   is checked by its digest, and is missing when that digest does not exist.
//! - `--platform` makes every tracking image's tag (and every repair) provide the platforms.
//! - The decision for each image is the library's ([`tagwarden_registry::decide_repair`]),
//!   the same one the admission webhook makes.
//! - Every other byte is copied as it is (`tagwarden-manifest`'s splicer): comments, key
//!   order, quoting, anchors (an anchored image scalar is rewritten once, its aliases follow),
//!   CRLF, BOM, document markers.
//!
//! Exit codes: 0 rendered (stdout holds the manifests); 1 a tracking image (or, with `--pin`,
//! any image) is missing and has no fallback, unless `--allow-missing`; 2 bad flags or
//! broken YAML; 3 a registry could not be asked or denied access. Except for 0, nothing is
//! written to stdout, so Helm never applies half-repaired manifests.
//!
//! Without `--kube-version` (or `TAGWARDEN_KUBE_VERSION`), the version is read from the
//! live cluster of the current context (`KUBECONFIG`, `HELM_KUBECONTEXT`, which Helm passes
//! to post-renderers); a cluster that is configured but cannot be asked is exit 3. With no
//! kubeconfig at all, tags cannot be matched against the cluster's version, so only `--pin`
//! and `track` rules do anything, and a warning says so; with neither, it is exit 2.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_core::{ImageSet, Reference};
use tagwarden_manifest::{ImageField, Limits, STDIN_NAME, read_source};
use tagwarden_registry::{Repair, RepairOptions};

use crate::cli::PolicyArgs;
use crate::commands::manifests::{find_options, manifest_error, scan_one};
use crate::exit::{CommandResult, Failure, Status};
use crate::output::errln;
use crate::settings::Settings;

/// Lines listed per image in explanations; the rest are counted.
const MAX_LINES: usize = 5;

pub const EXAMPLES: &str = "\
Examples:
  # Helm 3: the binary itself is the post-renderer
  helm install capsule projectcapsule/capsule --post-renderer tagwarden \\
      --post-renderer-args post-render --post-renderer-args --kube-version=1.32

  # Helm 4: post-renderers are plugins (helm plugin install ./helm-plugin)
  helm install capsule projectcapsule/capsule --post-renderer tagwarden \\
      --post-renderer-args --kube-version=1.32 --post-renderer-args --pin

  # By hand, to see what it would change
  helm template capsule projectcapsule/capsule --kube-version 1.32 | tagwarden post-render --kube-version 1.32 | diff - <(helm template …)

Rewrites an image only when its exact tag is missing and it tracks the Kubernetes version:
its tag is a version tag with --kube-version's major.minor (clastix/kubectl:v1.32 on 1.32),
or --track / the config's policy.track names its repository. It gets the nearest published
compatible tag within --max-skew (clastix/kubectl:v1.31), spelled as the chart spelled it.
--platform (repeatable) makes a tag that lacks the cluster's platform count as missing, and
a repair never picks such a tag. --pin pins every image to its digest; an image already
pinned is checked by its digest. Every other byte is copied unchanged. Each rewrite is
explained on stderr, one line per image; a field that holds no image reference (empty,
null, a number, a mapping…) is passed through with a warning.

Helm 3 does not pass hook manifests (helm.sh/hook Jobs, such as Capsule's kubectl jobs) to
post-renderers; Helm 4 does. For hooks under Helm 3, run `tagwarden check` in CI.

Exit: 0 rendered; 1 a tracking image is missing with no fallback (--allow-missing: warn and
leave it); 2 bad flags or broken YAML; 3 a registry could not be asked. Only exit 0 writes
anything to stdout.";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The cluster's Kubernetes version (any distribution's string, e.g.
    /// v1.32.0-eks-5e0fdde). Images whose tag has its major.minor track it.
    /// Default: /version of the current context's cluster (KUBECONFIG, HELM_KUBECONTEXT).
    #[arg(long, value_name = "VERSION", env = "TAGWARDEN_KUBE_VERSION")]
    pub kube_version: Option<String>,

    /// Pin every image to its digest (name:tag@sha256:…). An image already pinned by digest
    /// is checked by that digest: missing is exit 1.
    #[arg(long)]
    pub pin: bool,

    /// A platform the cluster's nodes need (OS/ARCH[/VARIANT]); repeatable. A tracking image
    /// whose tag lacks it is repaired, and a repair never picks a tag without it. `all`:
    /// every platform its index lists, each of whose manifests must exist.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    /// Render even when an image is missing with no fallback: leave it as it is and warn.
    #[arg(long)]
    pub allow_missing: bool,

    /// Also treat this field as an image: KIND:PATH, e.g. 'Prometheus:spec.image'; repeatable.
    #[arg(long = "image-path", value_name = "KIND:PATH")]
    pub image_paths: Vec<String>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The cluster whose version is tracked.
    #[command(flatten)]
    pub cluster: crate::cli::ClusterArgs,
}

pub async fn run(settings: &Settings, args: &Args) -> CommandResult {
    let kube_version = crate::cluster::version_for_tracking(&settings.kube).await?;
    let options = repair_options(settings, args, kube_version)?;
    let find = find_options(&args.image_paths)?;

    let limits = Limits::default();
    let source = read_source(STDIN_NAME, std::io::stdin().lock(), &limits)
        .map_err(|e| manifest_error(e, None))?;
    let scan = scan_one(&source, &find)?;
    // The fields of each image string, in order of first use.
    let fields: ImageSet<&ImageField, &str> = scan
        .images
        .iter()
        .map(|field| (field.image.as_str(), field))
        .collect();
    for skipped in &scan.skipped {
        let at = &skipped.location;
        warn_invalid(&format!("{}:{}", at.file, at.line), &skipped.message());
    }

    // Every valid image; what needs the registry is the library's call.
    let mut images: Vec<(&str, &[&ImageField])> = Vec::new();
    let mut references: Vec<Reference> = Vec::new();
    for entry in &fields {
        match Reference::parse(entry.image) {
            Ok(reference) => {
                images.push((entry.image, &entry.uses));
                references.push(reference);
            }
            Err(e) => warn_invalid(&where_(&entry.uses), &e.to_string()),
        }
    }
    let repairs = if references.iter().any(|r| options.asks_about(r)) {
        let client = settings.client.build()?;
        let _spinner = crate::progress::Spinner::start("asking registries about images");
        tagwarden_registry::decide_repairs(&client, &references, &options).await
    } else {
        vec![Repair::Keep; references.len()]
    };

    // A registry that could not be asked: nothing is rewritten, nothing is written.
    let undecided: Vec<String> = images
        .iter()
        .zip(&repairs)
        .filter_map(|((image, used), repair)| match repair {
            Repair::Undetermined { why } => Some(format!("{}: {image}: {why}", where_(used))),
            _ => None,
        })
        .collect();
    if let Some((first, rest)) = undecided.split_first() {
        for line in rest {
            errln!("error: {line}");
        }
        return Err(Failure::undecided(anyhow!("{first}; nothing was rendered")));
    }

    let mut edits = Vec::new();
    let mut missing = Vec::new();
    for (&(image, used), repair) in images.iter().zip(repairs) {
        match repair {
            Repair::Keep | Repair::Undetermined { .. } => {}
            Repair::Replace { new, why } => {
                errln!("{}: {image} → {new} ({why})", where_(used));
                edits.extend(used.iter().map(|field| field.edit(new.as_str())));
            }
            Repair::Missing { why } => missing.push((image, used, why)),
        }
    }
    if !missing.is_empty() && report_missing(&missing, args.allow_missing) {
        return Ok(Status::Finding);
    }
    write_rendered(source.contents, &edits)
}

/// The decision options from the settings; without a Kubernetes version, a warning (or
/// exit 2 when nothing at all could act).
fn repair_options(
    settings: &Settings,
    args: &Args,
    kube_version: Option<tagwarden_core::KubeVersion>,
) -> Result<RepairOptions, Failure> {
    if kube_version.is_none() {
        let no_rules = settings.policy.rules.is_empty();
        if !args.pin && no_rules {
            return Err(Failure::bad_input(anyhow!(
                "post-render needs a Kubernetes version: --kube-version, TAGWARDEN_KUBE_VERSION, or a kubeconfig (KUBECONFIG, ~/.kube/config) whose cluster it asks, and there is none; with --pin or a track rule it runs without one"
            )));
        }
        errln!(
            "warning: no --kube-version and no kubeconfig to ask the cluster: tags are not matched against the cluster's version, so only {} apply",
            match (args.pin, no_rules) {
                (true, true) => "pinning (--pin) will",
                (false, _) => "track rules",
                (true, false) => "pinning (--pin) and track rules",
            }
        );
    }
    let platforms = crate::commands::platforms_flag(&args.platforms)?;
    Ok(RepairOptions {
        inspect: settings.policy.inspect_options(kube_version, platforms),
        pin: args.pin,
    })
}

/// One warning, in one form, for every field that holds no valid image reference (an
/// invalid string, empty, null, absent, not a string): Kubernetes will reject it, but it is
/// not post-render's to repair, so it is passed through.
fn warn_invalid(at: &str, reason: &str) {
    errln!("warning: {at}: {reason}; left as it is");
}

/// Says what is missing; true when that stops the rendering (no `--allow-missing`).
fn report_missing(missing: &[(&str, &[&ImageField], String)], allow_missing: bool) -> bool {
    let level = if allow_missing { "warning" } else { "error" };
    for (image, used, why) in missing {
        errln!("{level}: {}: {image}: {why}{}", where_(used), owner(used));
    }
    if !allow_missing {
        errln!(
            "error: {} missing image{} with no fallback: nothing was rendered (--allow-missing renders them as they are)",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" }
        );
    }
    !allow_missing
}

/// The manifests with the edits applied, on stdout.
fn write_rendered(contents: String, edits: &[tagwarden_manifest::Edit]) -> CommandResult {
    let output = if edits.is_empty() {
        contents
    } else {
        tagwarden_manifest::rewrite(&contents, edits)
            .map_err(|e| Failure::bad_input(anyhow!("cannot rewrite the manifests: {e}")))?
    };
    crate::output::write_stdout_bytes(output.as_bytes())?;
    Ok(Status::Success)
}

/// `<stdin>:12` or `<stdin>:12,40,77` (and a count beyond a few).
fn where_(fields: &[&ImageField]) -> String {
    let Some(first) = fields.first() else {
        return STDIN_NAME.to_string();
    };
    let mut lines: Vec<String> = Vec::new();
    for field in fields {
        let line = field.location.line.to_string();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let shown = lines.len().min(MAX_LINES);
    let mut out = format!("{}:{}", first.location.file, lines[..shown].join(","));
    if lines.len() > shown {
        out.push_str(&format!(" (+{} more)", lines.len() - shown));
    }
    out
}

/// ` (in Job capsule-system/capsule-pre-install, capsule/templates/pre-install-job.yaml)`.
fn owner(fields: &[&ImageField]) -> String {
    let Some(first) = fields.first() else {
        return String::new();
    };
    let l = &first.location;
    let mut parts = Vec::new();
    let object = match (&l.namespace, &l.name) {
        (Some(ns), Some(name)) => format!("{} {ns}/{name}", l.kind),
        (None, Some(name)) => format!("{} {name}", l.kind),
        _ => l.kind.clone(),
    };
    if !object.trim().is_empty() {
        parts.push(object.trim().to_string());
    }
    if let Some(source) = &first.helm_source {
        parts.push(source.clone());
    }
    if let Some(hook) = &first.helm_hook {
        parts.push(format!("helm.sh/hook: {hook}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (in {})", parts.join(", "))
    }
}
