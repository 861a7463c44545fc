//! The decisions every front end shares: *does this image exist on these platforms? If
//! not, and it tracks the Kubernetes version, what may stand in for it?*
//!
//! `check`, `post-render`, `scan` and the admission webhook ask exactly these questions,
//! so they are answered here, once:
//!
//! - [`inspect_image`] / [`inspect_reference`]: the [`Verdict`] about one image: HEAD it
//!   (by digest when it has one, else by tag, else `latest`), check the requested
//!   platforms, and when it is missing and tracks the Kubernetes version
//!   ([`tagwarden_core::track`]), [`resolve()`] its fallback.
//! - [`inspect_images`]: many images at once: each unique string is asked once, every
//!   repository is announced first (one token per registry), at most
//!   [`InspectOptions::concurrency`] images are in flight (the client still limits each
//!   registry), and the verdicts come back in input order, with a progress callback.
//! - [`decide_repair`] / [`decide_repairs`]: what a repairing front end (`post-render`,
//!   the webhook) does with one image: keep it, replace it (and why), or refuse it as
//!   missing; with `pin`, the answer is pinned by digest, and an image already pinned by
//!   digest is checked by that digest.
//! - [`resolve_image`]: [`resolve()`] with the answer pinned by digest when asked, as
//!   `tagwarden resolve` prints it.
//! - [`inspect_tags`] and [`published_tags`]: the steps of the publisher commands'
//!   question (`gaps`, `matrix verify`), which [`crate::promised`] asks: a repository's
//!   tags, listed once, and whether given tags exist with given platforms.
//!
//! A registry that does not answer never leads to a fallback or a rewrite: such an image is
//! *undetermined* ([`ImageStatus::Denied`] or [`ImageStatus::Unreachable`]).

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use tagwarden_core::policy::FallbackPolicy;
use tagwarden_core::track::{Tracking, Tracks};
use tagwarden_core::verdict::{ImageStatus, Verdict};
use tagwarden_core::{ImageSet, Reference};

use crate::client::{Client, Repository};
use crate::error::{Lookup, RegistryError, Undecided};
use crate::platform::Platform;
use crate::resolve::{
    Outcome, PlatformReport, Resolution, ResolveError, ResolveRequest, platform_report, resolve,
};

/// How many images are inspected at once by default (each registry still gets at most
/// its own concurrency limit of requests in flight).
pub const DEFAULT_CONCURRENCY: usize = 32;

/// What to ask about every image.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// Which images track the Kubernetes version, and so may get a fallback.
    pub tracking: Tracking,
    /// How far a fallback may be from the wanted tag, and which side comes first.
    pub fallback: FallbackPolicy,
    /// Platforms every image (and every fallback) must provide; empty: any.
    pub platforms: Vec<Platform>,
    /// Images inspected at once by [`inspect_images`] and [`decide_repairs`] (at least 1).
    pub concurrency: usize,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            tracking: Tracking::default(),
            fallback: FallbackPolicy::default(),
            platforms: Vec::new(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// How far [`inspect_images`] has come, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Unique images answered so far.
    pub done: usize,
    /// Unique images to answer in all.
    pub total: usize,
}

/// The verdict about one image as written (`image:` of a manifest): [`ImageStatus::Invalid`]
/// when it is not an image reference, else [`inspect_reference`].
pub async fn inspect_image(client: &Client, image: &str, options: &InspectOptions) -> Verdict {
    match Reference::parse(image) {
        Ok(reference) => inspect_reference(client, &reference, options).await,
        Err(e) => Verdict::invalid(e.reason()),
    }
}

/// The verdict about one parsed image: present, missing (with its fallback when it tracks
/// the Kubernetes version), or undetermined. See the [module documentation](self).
pub async fn inspect_reference(
    client: &Client,
    reference: &Reference,
    options: &InspectOptions,
) -> Verdict {
    let (problem, platforms) = match why_not_present(client, reference, &options.platforms).await {
        Ok(Ok(digest)) => return Verdict::present(digest),
        Ok(Err(not_present)) => not_present,
        Err(e) => return undetermined(&e),
    };
    let mut verdict = Verdict::missing(problem.clone());
    verdict.platforms = platforms;
    verdict.tracks = options.tracking.tracks(reference);
    if verdict.tracks.is_none() {
        return verdict;
    }
    let request = ResolveRequest {
        reference: reference.clone(),
        kube_version: None,
        tag_format: None,
        policy: options.fallback,
        platforms: options.platforms.clone(),
    };
    match resolve(client, &request).await {
        Ok(resolution) => match resolution.outcome {
            Outcome::Fallback => {
                verdict.fallback = resolution.resolved.map(|r| r.to_string());
                verdict.fallback_digest = resolution.digest;
                verdict.reason = Some(resolution.explanation);
            }
            Outcome::Missing => {
                verdict.nearest_outside_policy = resolution
                    .nearest_outside_policy
                    .and_then(|c| resolution.wanted.with_tag(c.tag.as_str()).ok())
                    .map(|r| r.to_string());
                verdict.reason = Some(resolution.explanation);
            }
            // Published between the two questions.
            Outcome::Exact => {
                if let Some(digest) = resolution.digest {
                    return Verdict::present(digest);
                }
            }
        },
        Err(ResolveError::Registry(e)) => {
            verdict.fallback_undetermined = true;
            verdict.reason = Some(format!("{problem}; no fallback could be decided: {e}"));
        }
        Err(ResolveError::Input(message)) => {
            verdict.reason = Some(format!("{problem}; no fallback: {message}"));
        }
    }
    verdict
}

/// `Ok(Ok(digest))` when the image is published on every requested platform,
/// `Ok(Err((problem, platforms)))` with one line saying why not (and, when it exists but
/// lacks platforms, which), `Err` when the registry did not answer.
async fn why_not_present(
    client: &Client,
    reference: &Reference,
    platforms: &[Platform],
) -> Result<Result<String, (String, PlatformReport)>, RegistryError> {
    let repo = Repository::of(reference);
    let what = reference.digest().or(reference.tag()).unwrap_or("latest");
    let head = match client.head_manifest(&repo, what).await? {
        Lookup::Found(head) => head,
        Lookup::Missing(why) => {
            let problem = match why.code.as_deref() {
                Some("NAME_UNKNOWN") => format!(
                    "repository {} does not exist on {} (NAME_UNKNOWN)",
                    reference.repository(),
                    reference.registry()
                ),
                _ => format!("{what} is not published ({why})"),
            };
            return Ok(Err((problem, PlatformReport::default())));
        }
    };
    let report = platform_report(client, &repo, &head.digest, platforms).await?;
    if report.is_complete() {
        return Ok(Ok(head.digest));
    }
    let mut problems = Vec::new();
    if !report.absent.is_empty() {
        problems.push(format!("{what} lacks {}", list(&report.absent)));
    }
    if !report.broken.is_empty() {
        problems.push(format!(
            "{what} is a broken index: it lists {} but the manifest is missing",
            list(&report.broken)
        ));
    }
    Ok(Err((problems.join("; "), report)))
}

fn list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict for a registry that did not let us decide (marked
/// [`Verdict::rate_limited`] when it answered 429).
pub(crate) fn undetermined(error: &RegistryError) -> Verdict {
    let status = match error.undecided() {
        Undecided::Denied => ImageStatus::Denied,
        Undecided::Unreachable => ImageStatus::Unreachable,
    };
    let mut verdict = Verdict::with_status(status).because(error.to_string());
    verdict.rate_limited = error.is_rate_limited();
    verdict
}

/// The verdicts about many images as written, in input order. Each unique string is asked
/// once; every repository is announced first; `progress` is called after each unique image
/// is answered. See the [module documentation](self).
pub async fn inspect_images<S: AsRef<str>>(
    client: &Client,
    images: &[S],
    options: &InspectOptions,
    progress: impl Fn(Progress),
) -> Vec<Verdict> {
    ask_each_unique_image(
        client,
        images,
        options.concurrency,
        progress,
        |reference| async move { inspect_reference(client, &reference, options).await },
        Verdict::invalid,
    )
    .await
}

/// The one way to ask about many images as written: each unique string is asked once
/// (`ask` for an image reference, `invalid` with the reason for anything else), every
/// repository is announced first, at most `concurrency` are in flight, `progress` is
/// called after each unique image, and the answers come back in input order.
pub(crate) async fn ask_each_unique_image<S, T, Ask, Asking>(
    client: &Client,
    images: &[S],
    concurrency: usize,
    progress: impl Fn(Progress),
    ask: Ask,
    invalid: impl Fn(String) -> T,
) -> Vec<T>
where
    S: AsRef<str>,
    T: Clone,
    Ask: Fn(Reference) -> Asking,
    Asking: std::future::Future<Output = T>,
{
    let unique: ImageSet<usize, &str> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (image.as_ref(), i))
        .collect();
    let parsed: Vec<Result<Reference, String>> = unique
        .images()
        .map(|image| Reference::parse(image).map_err(|e| e.reason().to_string()))
        .collect();
    announce_all(client, parsed.iter().filter_map(|p| p.as_ref().ok()));
    let total = unique.len();
    let mut done = 0;
    let answers: Vec<T> = futures::stream::iter(parsed)
        .map(|parsed| {
            let asking = parsed.map(&ask);
            let invalid = &invalid;
            async move {
                match asking {
                    Ok(asking) => asking.await,
                    Err(reason) => invalid(reason),
                }
            }
        })
        .buffered(concurrency.max(1))
        .inspect(|_| {
            done += 1;
            progress(Progress { done, total });
        })
        .collect()
        .await;
    in_input_order(&unique, answers)
}

/// The answer about each unique image, given to every use of it: one answer per input
/// position, in input order (`unique`'s uses are the positions).
fn in_input_order<K, T: Clone>(unique: &ImageSet<usize, K>, answers: Vec<T>) -> Vec<T> {
    let mut placed: Vec<(usize, T)> = unique
        .iter()
        .zip(answers)
        .flat_map(|(entry, answer)| entry.uses.iter().map(move |&i| (i, answer.clone())))
        .collect();
    placed.sort_by_key(|(i, _)| *i);
    placed.into_iter().map(|(_, answer)| answer).collect()
}

/// One token request per registry covers every repository about to be asked.
pub(crate) fn announce_all<'a>(client: &Client, references: impl Iterator<Item = &'a Reference>) {
    let mut seen = HashSet::new();
    let repositories: Vec<Repository> = references
        .map(Repository::of)
        .filter(|repo| seen.insert(repo.clone()))
        .collect();
    client.announce(&repositories);
}

/// What a repairing front end does with one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Leave it as it is (present, or none of the repair's business).
    Keep,
    /// Replace it with `new` (the same reference as written, with another tag and/or a
    /// digest), because of `why`.
    Replace {
        /// The replacement, spelled as the original was.
        new: String,
        /// One line: why.
        why: String,
    },
    /// Missing, and nothing within the policy may stand in for it.
    Missing {
        /// One line: why.
        why: String,
    },
    /// A registry did not let us decide (denied, unreachable): change nothing.
    Undetermined {
        /// One line: what failed.
        why: String,
    },
}

/// What [`decide_repair`] does beyond [`InspectOptions`].
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// What to ask about each image (tracking, fallback policy, platforms).
    pub inspect: InspectOptions,
    /// Pin every image to its digest (`name:tag@sha256:…`); an image already pinned by
    /// digest is checked by that digest, and is missing when it does not exist.
    pub pin: bool,
}

impl RepairOptions {
    /// Whether [`decide_repair`] needs the registry for `reference`: with `pin`, every
    /// image; otherwise only images that track the Kubernetes version.
    pub fn asks_about(&self, reference: &Reference) -> bool {
        self.pin || self.inspect.tracking.tracks(reference).is_some()
    }
}

/// The one decision of `post-render` and the admission webhook for one image:
///
/// - an image that neither tracks the Kubernetes version nor is to be pinned is kept,
///   without a question;
/// - a present image is kept, or with `pin` (and no digest yet) pinned to its digest;
/// - a missing image with a fallback is replaced by it (pinned with `pin`);
/// - a missing image without one is [`Repair::Missing`];
/// - anything a registry did not answer is [`Repair::Undetermined`]: never a rewrite.
pub async fn decide_repair(
    client: &Client,
    reference: &Reference,
    options: &RepairOptions,
) -> Repair {
    if !options.asks_about(reference) {
        return Repair::Keep;
    }
    let verdict = inspect_reference(client, reference, &options.inspect).await;
    repair_of(reference, verdict, options.pin)
}

/// [`decide_repair`] for many references, in input order, each unique one asked once,
/// every repository announced first.
pub async fn decide_repairs(
    client: &Client,
    references: &[Reference],
    options: &RepairOptions,
) -> Vec<Repair> {
    announce_all(client, references.iter().filter(|r| options.asks_about(r)));
    let unique: ImageSet<usize, &str> = references
        .iter()
        .enumerate()
        .map(|(i, r)| (r.original(), i))
        .collect();
    let firsts = unique
        .iter()
        .filter_map(|entry| entry.uses.first().map(|&i| &references[i]));
    let answers: Vec<Repair> = futures::stream::iter(firsts)
        .map(|reference| decide_repair(client, reference, options))
        .buffered(options.inspect.concurrency.max(1))
        .collect()
        .await;
    in_input_order(&unique, answers)
}

/// Turns the verdict about `reference` into what to do with it.
fn repair_of(reference: &Reference, verdict: Verdict, pin: bool) -> Repair {
    let reason = verdict.reason.clone().unwrap_or_default();
    let because = match &verdict.tracks {
        Some(Tracks::Rule(rule)) => format!("; track rule {rule}"),
        _ => String::new(),
    };
    match verdict.status {
        ImageStatus::Denied | ImageStatus::Unreachable => Repair::Undetermined { why: reason },
        ImageStatus::Present => match (&verdict.digest, reference.digest()) {
            (Some(digest), None) if pin => match pinned(reference, digest) {
                Ok(new) => Repair::Replace {
                    why: format!(
                        "pinned to the digest {} has now",
                        reference.tag().unwrap_or("latest")
                    ),
                    new,
                },
                Err(why) => Repair::Undetermined { why },
            },
            _ => Repair::Keep,
        },
        _ if verdict.fallback_undetermined => Repair::Undetermined { why: reason },
        _ => match (&verdict.fallback, &verdict.fallback_digest) {
            (Some(fallback), Some(digest)) => {
                let new = if pin {
                    match Reference::parse(fallback)
                        .map_err(|e| e.to_string())
                        .and_then(|r| pinned(&r, digest))
                    {
                        Ok(new) => new,
                        Err(why) => return Repair::Undetermined { why },
                    }
                } else {
                    fallback.clone()
                };
                if new == reference.original() {
                    Repair::Keep
                } else {
                    Repair::Replace {
                        new,
                        why: format!("{reason}{because}"),
                    }
                }
            }
            _ if verdict.tracks.is_some() => Repair::Missing {
                why: format!("{reason}{because}"),
            },
            _ => Repair::Missing {
                why: format!(
                    "{reason}, and it does not track the Kubernetes version, so it is not replaced"
                ),
            },
        },
    }
}

/// `reference` pinned to `digest`, as written, or why the registry's digest is unusable.
fn pinned(reference: &Reference, digest: &str) -> Result<String, String> {
    reference
        .with_digest(digest)
        .map(|r| r.to_string())
        .map_err(|e| {
            format!(
                "{}: the registry reported the digest {digest:?}, which is not valid: {e}",
                reference.registry()
            )
        })
}

/// A repository's published tags, every page; `None` when the repository does not exist.
pub async fn published_tags(
    client: &Client,
    repository: &Repository,
) -> Result<Option<Vec<String>>, RegistryError> {
    Ok(client.list_tags(repository).await?.found())
}

/// The published tags of each repository, listed once each (concurrently), in input
/// order of first appearance; `None` for a repository that does not exist.
pub async fn published_tags_of_each<'a>(
    client: &Client,
    repositories: impl IntoIterator<Item = &'a Repository>,
) -> Result<HashMap<Repository, Option<Vec<String>>>, RegistryError> {
    let mut seen = HashSet::new();
    let unique: Vec<&Repository> = repositories
        .into_iter()
        .filter(|repo| seen.insert(*repo))
        .collect();
    let listings: Vec<Option<Vec<String>>> = futures::stream::iter(unique.iter())
        .map(|repo| published_tags(client, repo))
        .buffered(DEFAULT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(unique.into_iter().cloned().zip(listings).collect())
}

/// One tag to look at, and the platforms it must provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagQuestion {
    /// Where the tag lives.
    pub repository: Repository,
    /// The tag.
    pub tag: String,
    /// Platforms it must provide; empty: only existence (and the digest) is asked.
    pub platforms: Vec<Platform>,
}

/// What the registry said about one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagState {
    /// The registry says it does not exist.
    Missing,
    /// Published.
    Present {
        /// Its manifest digest.
        digest: String,
        /// The asked-for platforms it does not provide (absent, or broken index entries).
        lacking: Vec<Platform>,
    },
}

/// HEADs each tag and checks its platforms, a bounded number at once, answers in input
/// order. The first registry that does not answer ends it with that error: a partial
/// answer would look like a real one.
pub async fn inspect_tags(
    client: &Client,
    questions: &[TagQuestion],
) -> Result<Vec<TagState>, RegistryError> {
    futures::stream::iter(questions)
        .map(|question| inspect_tag(client, question))
        .buffered(DEFAULT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn inspect_tag(client: &Client, question: &TagQuestion) -> Result<TagState, RegistryError> {
    let repo = &question.repository;
    let head = match client.head_manifest(repo, &question.tag).await? {
        Lookup::Found(head) => head,
        Lookup::Missing(_) => return Ok(TagState::Missing),
    };
    let report = platform_report(client, repo, &head.digest, &question.platforms).await?;
    Ok(TagState::Present {
        digest: head.digest,
        lacking: report.absent.into_iter().chain(report.broken).collect(),
    })
}

/// A [`Resolution`] and the reference to hand out for it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Everything resolution found out.
    pub resolution: Resolution,
    /// The answer as written by the user with the chosen tag, pinned by digest when asked
    /// (`name:tag@sha256:…`); `None` when missing.
    pub reference: Option<String>,
}

/// [`resolve()`] one image, and with `pin`, pin the answer to the digest the registry
/// reported: the question of `tagwarden resolve`, for any front end.
pub async fn resolve_image(
    client: &Client,
    request: &ResolveRequest,
    pin: bool,
) -> Result<ResolvedImage, ResolveError> {
    let resolution = resolve(client, request).await?;
    let reference = match (&resolution.resolved, &resolution.digest) {
        (Some(reference), Some(digest)) if pin && reference.digest().is_none() => {
            let pinned = reference
                .with_digest(digest)
                .map_err(|e| RegistryError::Malformed {
                    registry: reference.registry().to_string(),
                    request: format!("HEAD {}", reference.repository()),
                    reason: format!("the digest {digest:?} is not valid: {e}"),
                    cause: Some(e.into()),
                })?;
            Some(pinned.to_string())
        }
        (Some(reference), _) => Some(reference.to_string()),
        (None, _) => None,
    };
    Ok(ResolvedImage {
        resolution,
        reference,
    })
}
