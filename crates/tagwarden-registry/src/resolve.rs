//! Resolution: from an image reference (and maybe a Kubernetes version) to a tag that
//! really exists, following ARCHITECTURE.md step by step.
//!
//! 1. Work out the wanted tag: from the reference's tag, or from `--kube-version` through
//!    `--tag-format`, the reference tag's own scheme, or the scheme the repository's
//!    published tags use.
//!    With a Kubernetes version, the [`TagScheme`] says which scheme made the tag and why.
//!    Among published tags, the scheme covering the most minors wins
//!    ([`tagwarden_core::policy::infer_tag_scheme`]).
//! 2. HEAD the wanted tag. Found → done (`exact`), with the digest the registry reports.
//! 3. Missing → list the repository's tags (all pages, fresh from the registry), let
//!    [`tagwarden_core::policy::candidates`] order the compatible ones within the skew
//!    window, and HEAD them in that order (`fallback`).
//! 4. With platforms requested, a candidate counts only when its index (or single image's
//!    config) carries every requested platform.
//! 5. Every tag asked for is recorded in [`Resolution::tried`], in order.
//! 6. Any answer other than "does not exist" ends resolution with a [`RegistryError`]:
//!    a transient failure never causes a fallback.

use serde::Serialize;
use tagwarden_core::policy::{self, FallbackPolicy};
use tagwarden_core::{KubeVersion, Reference, TagFormat, VersionTag};

use crate::client::{Client, Repository};
use crate::error::{BoxedCause, Lookup, RegistryError};
use crate::platform::Platform;

/// What to resolve.
#[derive(Debug, Clone)]
pub struct ResolveRequest {
    /// The image as the user wrote it.
    pub reference: Reference,
    /// The cluster's Kubernetes version, when the tag should follow it.
    pub kube_version: Option<KubeVersion>,
    /// How a Kubernetes version becomes a tag (`v{major}.{minor}`).
    pub tag_format: Option<TagFormat>,
    /// Skew window and preference.
    pub policy: FallbackPolicy,
    /// Platforms every acceptable tag must carry.
    pub platforms: Vec<Platform>,
}

/// How resolution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The wanted tag exists.
    Exact,
    /// The wanted tag is missing; a compatible tag within the policy exists.
    Fallback,
    /// The wanted tag is missing and nothing within the policy can stand in.
    Missing,
}

/// The answer, with everything needed to explain it.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The reference as given.
    pub requested: Reference,
    /// The reference with the wanted tag (differs from `requested` with `--kube-version`).
    pub wanted: Reference,
    /// Exact, fallback or missing.
    pub outcome: Outcome,
    /// The chosen reference, in the user's spelling, without digest.
    pub resolved: Option<Reference>,
    /// The chosen tag (`None` for a digest-only reference or when missing).
    pub tag: Option<String>,
    /// The chosen manifest's digest, as the registry reported it.
    pub digest: Option<String>,
    /// Minor versions between the chosen and the wanted tag (`-1`: one older).
    pub skew: Option<i64>,
    /// Every tag (or digest) asked for, in order, including the one chosen.
    pub tried: Vec<String>,
    /// With a Kubernetes version: the tag scheme that made the wanted tag, and why.
    pub scheme: Option<TagScheme>,
    /// One line for people: why this answer.
    pub explanation: String,
    /// The host that answered for the chosen manifest: a mirror, or the registry itself.
    pub source: Option<String>,
    /// When missing: the nearest compatible published tag outside the skew policy
    /// (only without platforms, since it was never checked for them).
    pub nearest_outside_policy: Option<policy::Candidate>,
}

/// Why resolution stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The request itself cannot be carried out (exit 2).
    #[error("{0}")]
    Input(String),
    /// The registry did not let us decide (exit 3).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Where the tag scheme for a Kubernetes version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeSource {
    /// The request's [`ResolveRequest::tag_format`].
    Format,
    /// The reference's own version tag (`kubectl:v1.28` follows `v{major}.{minor}`).
    ImageTag,
    /// The scheme most of the repository's published tags follow.
    PublishedTags,
}

/// How a Kubernetes version became the wanted tag: the scheme, where it came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagScheme {
    /// The scheme as a format (`v{major}.{minor}`, `{major}.{minor}.{patch}-debian-12`).
    pub format: String,
    /// Where it came from.
    pub source: SchemeSource,
    /// One clause for people: why this scheme (e.g. `v1.30 is published`, or how many
    /// minors its published tags cover).
    pub reason: String,
}

/// Resolve one reference. See the module documentation for the steps.
///
/// Every decision is logged at debug level (`tagwarden --debug`): the wanted tag and the
/// scheme that made it, the candidates in the order they are tried, and the outcome.
pub async fn resolve(
    client: &Client,
    request: &ResolveRequest,
) -> Result<Resolution, ResolveError> {
    let result = resolve_steps(client, request).await;
    match &result {
        Ok(resolution) => tracing::debug!(
            image = %request.reference,
            outcome = ?resolution.outcome,
            answer = resolution.tag.as_deref().unwrap_or("none"),
            tried = ?resolution.tried,
            "decided: {}",
            resolution.explanation
        ),
        Err(e) => tracing::debug!(image = %request.reference, "could not decide: {e}"),
    }
    result
}

async fn resolve_steps(
    client: &Client,
    request: &ResolveRequest,
) -> Result<Resolution, ResolveError> {
    let reference = &request.reference;
    let repo = Repository::of(reference);
    let mut published = Published::default();

    if request.tag_format.is_some() && request.kube_version.is_none() {
        return Err(ResolveError::Input(
            "--tag-format needs --kube-version: the format says how a Kubernetes version becomes a tag".into(),
        ));
    }

    // A digest without a Kubernetes version: the digest is the question.
    if let (Some(digest), None) = (reference.digest(), &request.kube_version) {
        return resolve_digest(client, request, &repo, digest).await;
    }

    // 1. The wanted tag.
    let (wanted_tag, scheme) = match wanted_tag(client, request, &repo, &mut published).await? {
        Some(wanted) => wanted,
        None => return Ok(repository_missing(request, reference.clone(), Vec::new())),
    };
    tracing::debug!(
        image = %reference,
        wanted = %wanted_tag,
        scheme = scheme.as_ref().map(|s| s.reason.as_str()).unwrap_or("the image's own tag"),
        "wanted tag"
    );
    let wanted = reference.with_tag(&wanted_tag).map_err(|e| {
        ResolveError::Input(format!(
            "the wanted tag {wanted_tag:?} is not a valid tag: {e}"
        ))
    })?;
    let mut search = Search {
        client,
        request,
        repo: &repo,
        wanted,
        tried: Vec::new(),
    };

    // 2. The exact tag.
    let wanted_problem = match search.exact(&wanted_tag).await? {
        Ok(resolution) => return Ok(with_scheme(resolution, scheme)),
        Err(problem) => problem,
    };

    // 3. Fallback candidates.
    let Some(wanted_version) = VersionTag::parse(&wanted_tag).filter(|v| v.parts().len() >= 2)
    else {
        let explanation = format!(
            "{wanted_problem}, and it is not a MAJOR.MINOR version tag, so no fallback applies"
        );
        return Ok(with_scheme(search.nothing(explanation), scheme));
    };
    let tags = match list_once(client, &repo, &mut published, Freshness::Fresh).await? {
        Some(tags) => tags,
        None => {
            let resolution = repository_missing(request, search.wanted, search.tried);
            return Ok(with_scheme(resolution, scheme));
        }
    };
    if let Some(resolution) = search
        .fallback(&wanted_version, &tags, &wanted_problem)
        .await?
    {
        return Ok(with_scheme(resolution, scheme));
    }

    // 4. Nothing within the policy: say what the nearest tag outside it would have been.
    let resolution = search.nothing_within_policy(&wanted_version, &tags, &wanted_problem);
    Ok(with_scheme(resolution, scheme))
}

/// The resolution, with the scheme that chose its wanted tag.
fn with_scheme(mut resolution: Resolution, scheme: Option<TagScheme>) -> Resolution {
    resolution.scheme = scheme;
    resolution
}

/// The wanted tag, and with a Kubernetes version, the scheme that made it. `None`: the
/// repository does not exist (found out while inferring the scheme).
async fn wanted_tag(
    client: &Client,
    request: &ResolveRequest,
    repo: &Repository,
    published: &mut Published,
) -> Result<Option<(String, Option<TagScheme>)>, ResolveError> {
    let reference = &request.reference;
    let Some(kube) = &request.kube_version else {
        return Ok(Some((
            reference.tag().unwrap_or("latest").to_string(),
            None,
        )));
    };
    if reference.digest().is_some() {
        return Err(ResolveError::Input(format!(
            "\"{reference}\" is pinned to a digest, so its tag cannot follow --kube-version; drop the @sha256:… part"
        )));
    }
    if let Some((tag, scheme)) = wanted_from_kube_version(request, kube)? {
        return Ok(Some((tag, Some(scheme))));
    }
    let Some(tags) = list_once(client, repo, published, Freshness::CachedIsFine).await? else {
        return Ok(None);
    };
    let Some(inferred) = policy::infer_tag_scheme(
        kube.major,
        kube.minor,
        kube.patch,
        tags.iter().map(String::as_str),
    ) else {
        return Err(ResolveError::Input(format!(
            "no published tag of {} looks like a Kubernetes {}.x version, so the tag scheme cannot be inferred; pass --tag-format, e.g. --tag-format 'v{{major}}.{{minor}}'",
            reference.name_as_written(),
            kube.major
        )));
    };
    let scheme = TagScheme {
        format: format_of(&inferred.expected),
        source: SchemeSource::PublishedTags,
        reason: inferred.reason(),
    };
    Ok(Some((inferred.expected.as_str().to_string(), Some(scheme))))
}

/// `v{major}.{minor}` for `v1.32`, `{major}.{minor}.{patch}-debian-12` for `1.32.0-debian-12`.
fn format_of(tag: &VersionTag) -> String {
    let numbers = match tag.parts().len() {
        2 => "{major}.{minor}",
        _ => "{major}.{minor}.{patch}",
    };
    format!("{}{numbers}{}", tag.prefix(), tag.suffix())
}

/// The questions of one resolution after the wanted tag is known: every tag asked for is
/// recorded in `tried`, in order.
struct Search<'a> {
    client: &'a Client,
    request: &'a ResolveRequest,
    repo: &'a Repository,
    wanted: Reference,
    tried: Vec<String>,
}

impl Search<'_> {
    /// HEADs `tag` and checks the requested platforms: `Some(digest, source)` when it is
    /// usable, `None` when it is missing or lacks a platform (the lacking ones are logged).
    async fn usable(
        &mut self,
        tag: &str,
    ) -> Result<Result<(String, String), Option<Vec<Platform>>>, RegistryError> {
        self.tried.push(tag.to_string());
        let Lookup::Found(head) = self.client.head_manifest(self.repo, tag).await? else {
            return Ok(Err(None));
        };
        let lacking = missing_platforms(
            self.client,
            self.repo,
            &head.digest,
            &self.request.platforms,
        )
        .await?;
        if lacking.is_empty() {
            Ok(Ok((head.digest, head.source)))
        } else {
            tracing::debug!(%tag, ?lacking, "tag lacks platforms");
            Ok(Err(Some(lacking)))
        }
    }

    /// The exact answer, or the first half of every later explanation ("v1.32 is not
    /// published", "v1.32 lacks linux/arm64/v8").
    async fn exact(&mut self, tag: &str) -> Result<Result<Resolution, String>, ResolveError> {
        match self.usable(tag).await? {
            Ok((digest, source)) => Ok(Ok(Resolution {
                requested: self.request.reference.clone(),
                resolved: Some(self.wanted.clone()),
                wanted: self.wanted.clone(),
                outcome: Outcome::Exact,
                tag: Some(tag.to_string()),
                explanation: format!(
                    "{tag} is published ({}){}",
                    short(&digest),
                    via_mirror(self.repo, &source)
                ),
                source: Some(source),
                digest: Some(digest),
                skew: Some(0),
                tried: std::mem::take(&mut self.tried),
                scheme: None,
                nearest_outside_policy: None,
            })),
            Err(Some(lacking)) => Ok(Err(format!("{tag} lacks {}", platform_list(&lacking)))),
            Err(None) => Ok(Err(format!("{tag} is not published"))),
        }
    }

    /// The first candidate within the policy that is usable, if any.
    async fn fallback(
        &mut self,
        wanted_version: &VersionTag,
        tags: &[String],
        wanted_problem: &str,
    ) -> Result<Option<Resolution>, ResolveError> {
        let policy = &self.request.policy;
        let candidates =
            policy::candidates(wanted_version, tags.iter().map(String::as_str), policy);
        tracing::debug!(
            wanted = %wanted_version.as_str(),
            published = tags.len(),
            candidates = ?candidates.iter().map(|c| c.tag.as_str()).take(10).collect::<Vec<_>>(),
            "fallback candidates within ±{} minors, in the order they are tried",
            policy.max_skew
        );
        for candidate in &candidates {
            let tag = candidate.tag.as_str();
            let Ok((digest, source)) = self.usable(tag).await? else {
                continue;
            };
            let resolved = self.wanted.with_tag(tag).map_err(|e| {
                ResolveError::Input(format!("published tag {tag:?} is not a valid tag: {e}"))
            })?;
            return Ok(Some(Resolution {
                requested: self.request.reference.clone(),
                wanted: self.wanted.clone(),
                outcome: Outcome::Fallback,
                resolved: Some(resolved),
                tag: Some(tag.to_string()),
                digest: Some(digest),
                skew: Some(candidate.minor_skew),
                explanation: explain(wanted_version, candidate, policy, wanted_problem)
                    + &via_mirror(self.repo, &source),
                source: Some(source),
                tried: std::mem::take(&mut self.tried),
                scheme: None,
                nearest_outside_policy: None,
            }));
        }
        Ok(None)
    }

    /// Missing, naming the nearest compatible tag outside the skew window (only without
    /// platforms: a tag outside the window was never checked for them).
    fn nothing_within_policy(
        self,
        wanted_version: &VersionTag,
        tags: &[String],
        wanted_problem: &str,
    ) -> Resolution {
        let max_skew = self.request.policy.max_skew;
        let wide = FallbackPolicy {
            max_skew: u64::MAX,
            ..self.request.policy
        };
        let nearest = policy::candidates(wanted_version, tags.iter().map(String::as_str), &wide)
            .into_iter()
            .filter(|_| self.request.platforms.is_empty())
            .find(|c| c.minor_skew.unsigned_abs() > max_skew);
        let hint = match &nearest {
            Some(c) => format!(
                "; the nearest compatible tag is {} ({} minor{} {}), raise --max-skew to accept it",
                c.tag.as_str(),
                c.minor_skew.unsigned_abs(),
                if c.minor_skew.unsigned_abs() == 1 {
                    ""
                } else {
                    "s"
                },
                if c.minor_skew < 0 { "older" } else { "newer" }
            ),
            None => String::new(),
        };
        let mut resolution = self.nothing(format!(
            "{wanted_problem}, and no compatible tag is within the skew policy of ±{max_skew}{hint}"
        ));
        resolution.nearest_outside_policy = nearest;
        resolution
    }

    /// Missing, for `explanation`.
    fn nothing(self, explanation: String) -> Resolution {
        missing(self.request, self.wanted, self.tried, explanation)
    }
}

/// The wanted tag, and its scheme, when it can be derived without listing tags.
fn wanted_from_kube_version(
    request: &ResolveRequest,
    kube: &KubeVersion,
) -> Result<Option<(String, TagScheme)>, ResolveError> {
    if let Some(format) = &request.tag_format {
        let tag = format
            .render(kube.major, kube.minor, kube.patch)
            .map_err(|e| ResolveError::Input(e.to_string()))?;
        let scheme = TagScheme {
            format: format.as_str().to_string(),
            source: SchemeSource::Format,
            reason: "the tag format was given".to_string(),
        };
        return Ok(Some((tag, scheme)));
    }
    let Some(template) = request
        .reference
        .tag()
        .and_then(VersionTag::parse)
        .filter(|t| t.parts().len() >= 2)
    else {
        return Ok(None);
    };
    let parts: Vec<u64> = match (template.parts().len(), kube.patch) {
        (2, _) => vec![kube.major, kube.minor],
        (3, Some(patch)) => vec![kube.major, kube.minor, patch],
        (3, None) => {
            return Err(ResolveError::Input(format!(
                "the tag {} has a patch number, but Kubernetes version {kube} has none; pass a full version such as {}.{}.0, or --tag-format",
                template.as_str(),
                kube.major,
                kube.minor
            )));
        }
        (n, _) => {
            return Err(ResolveError::Input(format!(
                "the tag {} has {n} numeric parts and cannot follow a Kubernetes version; pass --tag-format",
                template.as_str()
            )));
        }
    };
    let scheme = TagScheme {
        format: format_of(&template),
        source: SchemeSource::ImageTag,
        reason: format!("the image's own tag {} follows it", template.as_str()),
    };
    Ok(Some((
        template.with_parts(&parts).as_str().to_string(),
        scheme,
    )))
}

async fn resolve_digest(
    client: &Client,
    request: &ResolveRequest,
    repo: &Repository,
    digest: &str,
) -> Result<Resolution, ResolveError> {
    let reference = &request.reference;
    let (found, source) = match client.head_manifest(repo, digest).await? {
        Lookup::Found(head) => (
            missing_platforms(client, repo, &head.digest, &request.platforms)
                .await?
                .is_empty(),
            Some(head.source),
        ),
        Lookup::Missing(_) => (false, None),
    };
    Ok(Resolution {
        nearest_outside_policy: None,
        scheme: None,
        source: source.filter(|_| found),
        requested: reference.clone(),
        wanted: reference.clone(),
        outcome: if found {
            Outcome::Exact
        } else {
            Outcome::Missing
        },
        resolved: found.then(|| reference.clone()),
        tag: None,
        digest: found.then(|| digest.to_string()),
        skew: found.then_some(0),
        tried: vec![digest.to_string()],
        explanation: if found {
            format!("{} is published", short(digest))
        } else {
            format!(
                "{} is not published{}",
                short(digest),
                platform_note(&request.platforms)
            )
        },
    })
}

fn repository_missing(
    request: &ResolveRequest,
    wanted: Reference,
    tried: Vec<String>,
) -> Resolution {
    let explanation = format!(
        "repository {} does not exist on {}",
        request.reference.repository(),
        request.reference.registry()
    );
    missing(request, wanted, tried, explanation)
}

/// A resolution that found nothing usable.
fn missing(
    request: &ResolveRequest,
    wanted: Reference,
    tried: Vec<String>,
    explanation: String,
) -> Resolution {
    Resolution {
        requested: request.reference.clone(),
        wanted,
        outcome: Outcome::Missing,
        resolved: None,
        tag: None,
        digest: None,
        skew: None,
        tried,
        explanation,
        source: None,
        scheme: None,
        nearest_outside_policy: None,
    }
}

/// ` (answered by mirror HOST)` when a mirror, not the registry, answered.
fn via_mirror(repo: &Repository, source: &str) -> String {
    if source == repo.api_host {
        String::new()
    } else {
        format!(" (answered by mirror {source})")
    }
}

/// The repository's tags as far as one resolution needs them.
#[derive(Default)]
struct Published {
    tags: Option<Vec<String>>,
    /// Whether `tags` came from the registry in this run rather than the disk cache.
    fresh: bool,
}

/// Whether a tag list may come from the disk cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Inferring a tag scheme: any recent list will do.
    CachedIsFine,
    /// Choosing a fallback: the answer depends on the newest tags, so ask the registry.
    Fresh,
}

/// The repository's tags, listed at most once per resolution (twice when a cached list
/// must be refreshed). `None`: no such repository.
async fn list_once(
    client: &Client,
    repo: &Repository,
    published: &mut Published,
    freshness: Freshness,
) -> Result<Option<Vec<String>>, RegistryError> {
    let stale = freshness == Freshness::Fresh && !published.fresh;
    if published.tags.is_none() || stale {
        let listed = match freshness {
            Freshness::Fresh => client.list_tags_fresh(repo).await?,
            Freshness::CachedIsFine => client.list_tags(repo).await?,
        };
        match listed {
            Lookup::Found(tags) => published.tags = Some(tags),
            Lookup::Missing(_) => return Ok(None),
        }
        published.fresh = freshness == Freshness::Fresh;
    }
    Ok(published.tags.clone())
}

/// The requested platforms that the manifest at `digest` does not provide. An index
/// entry whose child manifest is missing counts as not provided (a broken index).
pub async fn missing_platforms(
    client: &Client,
    repo: &Repository,
    digest: &str,
    wanted: &[Platform],
) -> Result<Vec<Platform>, RegistryError> {
    let report = platform_report(client, repo, digest, wanted).await?;
    Ok(report.absent.into_iter().chain(report.broken).collect())
}

pub use tagwarden_core::verdict::PlatformReport;

/// Check the requested platforms (or, with [`Platform::all`], every listed one) against
/// the manifest at `digest`, telling absent platforms from broken index entries.
pub async fn platform_report(
    client: &Client,
    repo: &Repository,
    digest: &str,
    wanted: &[Platform],
) -> Result<PlatformReport, RegistryError> {
    let mut report = PlatformReport::default();
    if wanted.is_empty() {
        return Ok(report);
    }
    let entries = platform_entries(client, repo, digest).await?;
    if wanted.iter().any(Platform::is_all) {
        if entries.is_empty() {
            report.absent.push(Platform::all());
        }
        for (offered, child) in &entries {
            if !child_exists(client, repo, child.as_deref()).await? {
                report.broken.push(offered.clone());
            }
        }
    }
    for platform in wanted.iter().filter(|p| !p.is_all()) {
        let mut listed = false;
        let mut provided = false;
        for (offered, child) in entries.iter().filter(|(o, _)| platform.matches(o)) {
            listed = true;
            if child_exists(client, repo, child.as_deref()).await? {
                provided = true;
                break;
            }
            tracing::debug!(%offered, child = ?child, "index entry points at a missing manifest");
        }
        match (listed, provided) {
            (_, true) => {}
            (true, false) => report.broken.push(platform.clone()),
            (false, _) => report.absent.push(platform.clone()),
        }
    }
    Ok(report)
}

/// The platforms a manifest provides: every entry of an index whose child manifest
/// exists, or the platform in the config of a single image.
pub async fn platforms_of(
    client: &Client,
    repo: &Repository,
    digest: &str,
) -> Result<Vec<Platform>, RegistryError> {
    let entries = platform_entries(client, repo, digest).await?;
    let checks = entries
        .iter()
        .map(|(_, child)| child_exists(client, repo, child.as_deref()));
    let exists = futures::future::try_join_all(checks).await?;
    Ok(entries
        .into_iter()
        .zip(exists)
        .filter_map(|((platform, _), ok)| ok.then_some(platform))
        .collect())
}

async fn child_exists(
    client: &Client,
    repo: &Repository,
    child: Option<&str>,
) -> Result<bool, RegistryError> {
    match child {
        // A single image: its config was read, it exists.
        None => Ok(true),
        Some(digest) => Ok(matches!(
            client.head_manifest(repo, digest).await?,
            Lookup::Found(_)
        )),
    }
}

/// (platform, child manifest digest) for an index; (platform, None) for a single image.
async fn platform_entries(
    client: &Client,
    repo: &Repository,
    digest: &str,
) -> Result<Vec<(Platform, Option<String>)>, RegistryError> {
    let malformed_because = |reason: String, cause: Option<BoxedCause>| RegistryError::Malformed {
        registry: repo.registry.clone(),
        request: format!("GET {}@{digest}", repo.name),
        reason,
        cause,
    };
    let malformed = |reason: String| malformed_because(reason, None);
    let unparsable = |what: &str, e: serde_json::Error| {
        malformed_because(format!("{what}: {e}"), Some(e.into()))
    };
    let manifest = match client.get_manifest(repo, digest).await? {
        Lookup::Found(m) => m,
        Lookup::Missing(_) => {
            return Err(malformed(
                "the manifest vanished between HEAD and GET".into(),
            ));
        }
    };
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(&manifest.body)
        .map_err(|e| unparsable("the manifest is not valid JSON", e))?;
    let is_index = probe.manifests.is_some()
        || probe
            .media_type
            .as_deref()
            .is_some_and(|m| m.contains("index") || m.contains("list"));
    if is_index {
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&manifest.body)
            .map_err(|e| unparsable("the index is malformed", e))?;
        return Ok(index
            .manifests()
            .iter()
            .filter_map(|d| {
                let p = d.platform().as_ref()?;
                Some((
                    Platform::new(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    ),
                    Some(d.digest().to_string()),
                ))
            })
            .collect());
    }
    let image: oci_spec::image::ImageManifest = serde_json::from_slice(&manifest.body)
        .map_err(|e| unparsable("the image manifest is malformed", e))?;
    let config_digest = image.config().digest().to_string();
    match client.config_platform(repo, &config_digest).await? {
        Lookup::Found(platform) => Ok(vec![(platform, None)]),
        Lookup::Missing(_) => Err(malformed(format!(
            "the image config {config_digest} is missing"
        ))),
    }
}

/// The policy's explanation, with its first clause replaced by what really was wrong
/// with the wanted tag (it may exist but lack a platform).
fn explain(
    wanted: &VersionTag,
    chosen: &policy::Candidate,
    fallback_policy: &FallbackPolicy,
    wanted_problem: &str,
) -> String {
    let explanation = policy::explain_fallback(wanted, chosen, fallback_policy);
    match explanation.split_once("; ") {
        Some((_, why_this_one)) => format!("{wanted_problem}; {why_this_one}"),
        None => explanation,
    }
}

fn platform_list(platforms: &[Platform]) -> String {
    let list: Vec<String> = platforms.iter().map(ToString::to_string).collect();
    list.join(", ")
}

fn platform_note(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        String::new()
    } else {
        format!(" for {}", platform_list(platforms))
    }
}

/// `sha256:0123456789ab…` for messages.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}
