//! `tagwarden resolve`: the nearest published tag for an image, within the skew policy.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use serde::Serialize;
use tagwarden_core::{KubeVersion, Reference, TagFormat};
use tagwarden_registry::inspect::ResolvedImage;
use tagwarden_registry::{Outcome, Resolution, ResolveRequest, SchemeSource, TagScheme};

use crate::cli::{PreferArg, TextOrJson};
use crate::commands::{RateLimitOutput, print_json, rate_limits_of};
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};
use crate::settings::Settings;

/// The JSON answer (a stable interface; see docs/reference.md, "resolve").
#[derive(Debug, Serialize)]
struct ResolveOutput {
    requested: String,
    resolved: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    outcome: Outcome,
    skew: Option<i64>,
    /// Every tag (or digest) asked for, in order, including the one chosen.
    tried: Vec<String>,
    /// With --kube-version only: the tag scheme that made the wanted tag, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    scheme: Option<TagScheme>,
    /// Only when a registry sent rate-limit headers (Docker Hub does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rate_limits: Vec<RateLimitOutput>,
}

pub async fn run(settings: &Settings<TextOrJson>, args: &Args) -> CommandResult {
    let request = request_from(settings, args)?;
    let client = settings.client.build()?;
    let spinner = crate::progress::Spinner::start(format!("resolving {}", args.image));
    let ResolvedImage {
        resolution,
        reference,
    } = tagwarden_registry::inspect::resolve_image(&client, &request, args.pin).await?;
    drop(spinner);

    match settings.output {
        TextOrJson::Json => print_json(&ResolveOutput {
            requested: resolution.requested.original().to_string(),
            resolved: reference.clone(),
            tag: resolution.tag.clone(),
            digest: resolution.digest.clone(),
            outcome: resolution.outcome,
            skew: resolution.skew,
            tried: resolution.tried.clone(),
            scheme: resolution.scheme.clone(),
            rate_limits: rate_limits_of(&client),
        })?,
        TextOrJson::Text => {
            if let Some(reference) = &reference {
                outln!("{reference}")?;
            }
        }
    }
    if let (Some(scheme), Some(kube)) = (&resolution.scheme, &request.kube_version) {
        errln!("{}", scheme_line(kube, &resolution, scheme));
    }
    errln!("{}", resolution.explanation);
    Ok(match resolution.outcome {
        Outcome::Exact | Outcome::Fallback => Status::Success,
        Outcome::Missing => Status::Finding,
    })
}

/// `Kubernetes 1.32.0 → v1.32: tag scheme v{major}.{minor}, inferred from the published
/// tags (its published tags cover 4 minors of 1.x, the most of 2 schemes)`.
fn scheme_line(kube: &KubeVersion, resolution: &Resolution, scheme: &TagScheme) -> String {
    let version = match kube.patch {
        Some(patch) => format!("{}.{}.{patch}", kube.major, kube.minor),
        None => format!("{}.{}", kube.major, kube.minor),
    };
    let wanted = resolution.wanted.tag().unwrap_or("latest");
    let why = match scheme.source {
        SchemeSource::Format => "from --tag-format".to_string(),
        SchemeSource::ImageTag => format!("from the image's tag ({})", scheme.reason),
        SchemeSource::PublishedTags => {
            format!("inferred from the published tags ({})", scheme.reason)
        }
    };
    format!(
        "Kubernetes {version} → {wanted}: tag scheme {}, {why}",
        scheme.format
    )
}

/// The question, with the fallback policy of the settings (the flags, then the config
/// file's `policy:`, then the defaults), as the other commands take it.
fn request_from(settings: &Settings<TextOrJson>, args: &Args) -> Result<ResolveRequest, Failure> {
    let reference = Reference::parse(&args.image).map_err(Failure::bad_input)?;
    let tag_format = args
        .tag_format
        .as_deref()
        .map(TagFormat::parse)
        .transpose()
        .map_err(|e| Failure::bad_input(anyhow!("--tag-format: {e}")))?;
    let platforms = crate::commands::platforms_flag(&args.platforms)?;
    Ok(ResolveRequest {
        reference,
        kube_version: settings.kube.version.clone(),
        tag_format,
        policy: settings.policy.fallback,
        platforms,
    })
}

pub const EXAMPLES: &str = "\
Examples:
  # The Capsule case: v1.32 is not published, take the nearest tag within ±1 minor
  tagwarden resolve clastix/kubectl:v1.32

  # Derive the tag from an EKS version, and pin the answer by digest
  tagwarden resolve clastix/kubectl --kube-version v1.32.0-eks-5e0fdde --tag-format 'v{major}.{minor}' --pin

  # Prefer a newer minor over an older one, and require arm64
  tagwarden resolve bitnami/kubectl:1.33 --prefer newer --platform linux/arm64

  # A registry on loopback speaks plain HTTP without further flags
  tagwarden resolve 127.0.0.1:5000/clastix/kubectl:v1.32 -o json

Text output: the resolved reference on stdout, one line of explanation on stderr.
With --kube-version, a first stderr line names the tag scheme and why it was chosen
(--tag-format, the image's own tag, or the scheme covering the most minors among the
published tags).
JSON output: {\"requested\",\"resolved\",\"tag\",\"digest\",\"outcome\":\"exact|fallback|missing\",\"skew\",
\"tried\" (every tag asked for, in order), \"scheme\":{\"format\",\"source\":\"format|image-tag|published-tags\",
\"reason\"} (with --kube-version only)}";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The image reference, e.g. clastix/kubectl:v1.32 or ghcr.io/org/app:1.2.3.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Derive the tag from this Kubernetes version (any distribution's string, e.g.
    /// v1.32.0-eks-5e0fdde). The tag scheme comes from --tag-format, the IMAGE's own tag,
    /// or the repository's published tags.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,

    /// How a Kubernetes version becomes a tag: placeholders {major}, {minor}, {patch}.
    #[arg(long, value_name = "FORMAT")]
    pub tag_format: Option<String>,

    /// How many minor versions a fallback may be away from the wanted one (default: the
    /// config's policy.max_skew, else 1: kubectl supports ±1 around the API server).
    #[arg(long, value_name = "N")]
    pub max_skew: Option<u64>,

    /// Which side to try first once the wanted minor has nothing (default: the config's
    /// policy.prefer, else older).
    #[arg(long, value_enum)]
    pub prefer: Option<PreferArg>,

    /// A platform every acceptable tag must provide (OS/ARCH[/VARIANT]); repeatable. `all`: every
    /// platform its index lists, each of whose manifests must exist (a broken index is caught).
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    /// Print the answer pinned by digest (IMAGE:TAG@sha256:…).
    #[arg(long)]
    pub pin: bool,
}
