//! `tagwarden post-render`: a Helm post-renderer. Manifests on stdin, the same manifests on
//! stdout with only image scalars changed.
//!
//! - An image is replaced only when its exact tag is missing and it tracks the Kubernetes
//!   version (see [`crate::commands::check::policy`]): the reference keeps its spelling and
//!   gets the nearest published compatible tag within the skew policy.
//! - `--pin` pins every image to its digest (`name:tag@sha256:…`); images already pinned
//!   are left alone.
//! - Every other byte is copied as it is (`tagwarden-manifest`'s splicer): comments, key
//!   order, quoting, anchors (an anchored image scalar is rewritten once, its aliases follow),
//!   CRLF, BOM, document markers.
//!
//! Exit codes: 0 rendered (stdout holds the manifests); 1 a tracking image (or, with `--pin`,
//! any image) is missing and has no fallback, unless `--allow-missing`; 2 bad flags or
//! broken YAML; 3 a registry could not be asked or denied access. Except for 0, nothing is
//! written to stdout, so Helm never applies half-repaired manifests.
//!
//! Without `--kube-version` the live cluster is not read (that comes with the cluster
//! integration): tags cannot be matched against the cluster's version, so only `--pin` and
//! `track` rules do anything, and a warning says so; with neither, it is exit 2.

use std::collections::HashMap;

use anyhow::anyhow;
use clap::Args as ClapArgs;
use futures::StreamExt;
use tagwarden_core::Reference;
use tagwarden_manifest::{ImageField, Limits, STDIN_NAME, read_source};
use tagwarden_registry::{
    Client, Lookup, Outcome, RegistryError, Repository, ResolveError, ResolveRequest,
};

use crate::cli::{GlobalOptions, OutputFormat};
use crate::commands::check::policy::{Policy, PolicyFlags, Tracks};
use crate::commands::check::{find_options, manifest_error, scan_one};
use crate::commands::resolve::PreferArg;
use crate::commands::{load_config, registry_client};
use crate::exit::{CommandResult, Failure, Status};
use crate::output::errln;

/// Registry questions in flight at once (each registry still gets at most
/// `--max-concurrency`).
const LOOKUPS_IN_FLIGHT: usize = 32;

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
--pin pins every image to its digest. Every other byte is copied unchanged. Each rewrite is
explained on stderr, one line per image.

Helm 3 does not pass hook manifests (helm.sh/hook Jobs, such as Capsule's kubectl jobs) to
post-renderers; Helm 4 does. For hooks under Helm 3, run `tagwarden check` in CI.

Exit: 0 rendered; 1 a tracking image is missing with no fallback (--allow-missing: warn and
leave it); 2 bad flags or broken YAML; 3 a registry could not be asked. Only exit 0 writes
anything to stdout.";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The cluster's Kubernetes version (any distribution's string, e.g.
    /// v1.32.0-eks-5e0fdde). Images whose tag has its major.minor track it.
    /// Required unless --pin or a track rule is given (the live cluster is not read yet).
    #[arg(long, value_name = "VERSION", env = "TAGWARDEN_KUBE_VERSION")]
    pub kube_version: Option<String>,

    /// Pin every image to its digest (name:tag@sha256:…).
    #[arg(long)]
    pub pin: bool,

    /// How many minor versions a fallback may be away from the wanted tag
    /// (default: the config's policy.max_skew, else 1).
    #[arg(long, value_name = "N")]
    pub max_skew: Option<u64>,

    /// Which side to try first once the wanted minor has nothing (default: the config's
    /// policy.prefer, else older).
    #[arg(long, value_enum)]
    pub prefer: Option<PreferArg>,

    /// Render even when an image is missing with no fallback: leave it as it is and warn.
    #[arg(long)]
    pub allow_missing: bool,

    /// Also treat this field as an image: KIND:PATH, e.g. 'Prometheus:spec.image'; repeatable.
    #[arg(long = "image-path", value_name = "KIND:PATH")]
    pub image_paths: Vec<String>,

    /// A repository whose tag tracks the Kubernetes version whatever it looks like
    /// (docker.io/clastix/kubectl, 'ghcr.io/org/*'); repeatable. Adds to the config's
    /// policy.track.
    #[arg(long = "track", value_name = "REPOSITORY")]
    pub track: Vec<String>,
}

/// What to do with one unique image.
#[derive(Debug)]
enum Decision {
    /// Leave it.
    Keep,
    /// Replace it with `new`, because of `why`.
    Replace { new: String, why: String },
    /// Missing, and nothing may stand in for it.
    Missing { why: String },
}

pub async fn run(global: &GlobalOptions, args: &Args) -> CommandResult {
    if global.output != OutputFormat::Text {
        return Err(global.output.reject("post-render", &["text (YAML)"]));
    }
    let config = load_config(global)?;
    let policy = Policy::from_flags(
        &PolicyFlags {
            kube_version: args.kube_version.as_deref(),
            track: &args.track,
            max_skew: args.max_skew,
            prefer: args.prefer,
        },
        &config,
    )?;
    if policy.kube_version.is_none() {
        if !args.pin && policy.rules.is_empty() {
            return Err(Failure::bad_input(anyhow!(
                "post-render needs --kube-version (or TAGWARDEN_KUBE_VERSION): reading it from the live cluster is not available yet; with --pin or a track rule it runs without one"
            )));
        }
        errln!(
            "warning: no --kube-version: tags are not matched against the cluster's version (reading the live cluster is not available yet), so only {} apply",
            match (args.pin, policy.rules.is_empty()) {
                (true, true) => "pinning (--pin) will",
                (false, _) => "track rules",
                (true, false) => "pinning (--pin) and track rules",
            }
        );
    }
    let options = find_options(&args.image_paths)?;

    let limits = Limits::default();
    let source = read_source(STDIN_NAME, std::io::stdin().lock(), &limits)
        .map_err(|e| manifest_error(e, None))?;
    let scan = scan_one(&source, &options)?;

    // Unique images, in order of first use.
    let mut order: Vec<&str> = Vec::new();
    let mut fields: HashMap<&str, Vec<&ImageField>> = HashMap::new();
    for field in &scan.images {
        fields
            .entry(field.image.as_str())
            .or_insert_with(|| {
                order.push(field.image.as_str());
                Vec::new()
            })
            .push(field);
    }

    // What needs the registry: every image with --pin, else tracking images only.
    let mut work: Vec<(&str, Reference, Option<Tracks>)> = Vec::new();
    for &image in &order {
        let reference = match Reference::parse(image) {
            Ok(reference) => reference,
            Err(e) => {
                errln!(
                    "warning: {}: {}; left as it is",
                    where_(&fields[image]),
                    e.to_string().escape_debug()
                );
                continue;
            }
        };
        let tracks = policy.tracks(&reference);
        if args.pin && reference.digest().is_none() || tracks.is_some() {
            work.push((image, reference, tracks));
        }
    }

    let decisions: Vec<(&str, Result<Decision, RegistryError>)> = if work.is_empty() {
        Vec::new()
    } else {
        let client = registry_client(global)?;
        let mut seen = std::collections::HashSet::new();
        let repositories: Vec<Repository> = work
            .iter()
            .map(|(_, r, _)| Repository::of(r))
            .filter(|repo| seen.insert(repo.clone()))
            .collect();
        client.announce(&repositories);
        futures::stream::iter(work.iter())
            .map(|(image, reference, tracks)| {
                let (client, policy) = (&client, &policy);
                async move {
                    let decision =
                        decide(client, reference, tracks.as_ref(), args.pin, policy).await;
                    (*image, decision)
                }
            })
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .collect()
            .await
    };
    let mut decisions: HashMap<&str, Result<Decision, RegistryError>> =
        decisions.into_iter().collect();

    // A registry that could not be asked: nothing is rewritten, nothing is written.
    let undecided: Vec<String> = order
        .iter()
        .filter_map(|image| match decisions.get(image) {
            Some(Err(e)) => Some(format!("{}: {image}: {e}", where_(&fields[image]))),
            _ => None,
        })
        .collect();
    if !undecided.is_empty() {
        for line in &undecided[1..] {
            errln!("error: {line}");
        }
        return Err(Failure::undecided(anyhow!(
            "{}; nothing was rendered",
            undecided[0]
        )));
    }

    let mut edits = Vec::new();
    let mut missing = Vec::new();
    for &image in &order {
        let Some(Ok(decision)) = decisions.remove(image) else {
            continue;
        };
        let used = &fields[image];
        match decision {
            Decision::Keep => {}
            Decision::Replace { new, why } => {
                errln!("{}: {image} → {new} ({why})", where_(used));
                edits.extend(used.iter().map(|field| field.edit(new.as_str())));
            }
            Decision::Missing { why } => missing.push((image, used, why)),
        }
    }
    if !missing.is_empty() {
        let level = if args.allow_missing {
            "warning"
        } else {
            "error"
        };
        for (image, used, why) in &missing {
            errln!("{level}: {}: {image}: {why}{}", where_(used), owner(used));
        }
        if !args.allow_missing {
            errln!(
                "error: {} missing image{} with no fallback: nothing was rendered (--allow-missing renders them as they are)",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" }
            );
            return Ok(Status::Finding);
        }
    }

    let output = if edits.is_empty() {
        source.contents
    } else {
        tagwarden_manifest::rewrite(&source.contents, &edits)
            .map_err(|e| Failure::bad_input(anyhow!("cannot rewrite the manifests: {e}")))?
    };
    crate::output::write_stdout_bytes(output.as_bytes())?;
    Ok(Status::Success)
}

/// Asks the registry about one image.
async fn decide(
    client: &Client,
    reference: &Reference,
    tracks: Option<&Tracks>,
    pin: bool,
    policy: &Policy,
) -> Result<Decision, RegistryError> {
    if reference.digest().is_some() {
        return Ok(Decision::Keep);
    }
    let repo = Repository::of(reference);
    let tag = reference.tag().unwrap_or("latest");
    let pinned = |r: &Reference, digest: &str| {
        r.with_digest(digest)
            .map(|p| p.to_string())
            .map_err(|e| RegistryError::Malformed {
                registry: reference.registry().to_string(),
                request: format!("HEAD {}:{tag}", reference.repository()),
                reason: format!("the digest {digest:?} is not valid: {e}"),
            })
    };
    let problem = match client.head_manifest(&repo, tag).await? {
        Lookup::Found(head) if pin => {
            return Ok(Decision::Replace {
                new: pinned(reference, &head.digest)?,
                why: format!("pinned to the digest {tag} has now"),
            });
        }
        Lookup::Found(_) => return Ok(Decision::Keep),
        Lookup::Missing(why) => format!("{tag} is not published ({why})"),
    };
    let Some(tracks) = tracks else {
        return Ok(Decision::Missing {
            why: format!(
                "{problem}, and it does not track the Kubernetes version, so it is not replaced"
            ),
        });
    };
    let request = ResolveRequest {
        reference: reference.clone(),
        kube_version: None,
        tag_format: None,
        policy: policy.fallback,
        platforms: Vec::new(),
    };
    let resolution = match tagwarden_registry::resolve(client, &request).await {
        Ok(resolution) => resolution,
        Err(ResolveError::Registry(e)) => return Err(e),
        Err(ResolveError::Input(message)) => {
            return Ok(Decision::Missing {
                why: format!("{problem}; no fallback: {message}"),
            });
        }
    };
    let because = match tracks {
        Tracks::Tag => String::new(),
        Tracks::Rule(rule) => format!("; track rule {rule}"),
    };
    match (resolution.outcome, resolution.resolved, resolution.digest) {
        (Outcome::Fallback | Outcome::Exact, Some(resolved), Some(digest)) => {
            let new = if pin {
                pinned(&resolved, &digest)?
            } else {
                resolved.to_string()
            };
            if new == reference.original() {
                return Ok(Decision::Keep);
            }
            Ok(Decision::Replace {
                new,
                why: format!("{}{because}", resolution.explanation),
            })
        }
        _ => Ok(Decision::Missing {
            why: format!("{}{because}", resolution.explanation),
        }),
    }
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
