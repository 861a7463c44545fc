//! Promised tags: *does every tag a publisher promises exist, on every platform it
//! promises?* The question of `gaps` (a tag per upstream Kubernetes release) and
//! `matrix verify` (a tag per supported Kubernetes minor), answered one way:
//!
//! 1. **List the tags** of each repository once ([`published_tags_of_each`]; a repository
//!    that does not exist has none). A tag that is not listed is missing: no HEAD per
//!    expected tag, however many releases are expected.
//! 2. **Check the platforms promised** of the listed tags only: each distinct question
//!    (repository, tag, platforms) is asked once ([`inspect_tags`]: HEAD, then the
//!    manifest and, for a single image, its config); the client asks the registry about
//!    each manifest once however many questions name it. A listed tag with no platforms
//!    promised is not asked about at all.
//!
//! A registry that does not answer, for a listing or a manifest, ends it with that error:
//! a partial answer would look like a real one.

use std::collections::{HashMap, HashSet};

use crate::client::{Client, Repository};
use crate::error::RegistryError;
use crate::inspect::{TagQuestion, TagState, inspect_tags, published_tags_of_each};
use crate::platform::Platform;

/// What the registry says about one promised tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromisedTag {
    /// Not in its repository's tag list (or the repository does not exist), or listed
    /// but gone when its platforms were asked for.
    Missing,
    /// Listed; no platform was promised, so nothing more was asked.
    Listed,
    /// Listed, and its platforms checked.
    Present {
        /// Its manifest digest.
        digest: String,
        /// The promised platforms it does not provide: absent ones, then broken index
        /// entries.
        lacking: Vec<Platform>,
    },
}

/// Each promise's answer, in input order: the tags of every repository listed once, then
/// the platforms of the listed tags checked. See the [module documentation](self).
///
/// # Errors
///
/// The first [`RegistryError`] of a listing or of a platform check.
pub async fn check_promised_tags(
    client: &Client,
    promises: &[TagQuestion],
) -> Result<Vec<PromisedTag>, RegistryError> {
    let listings = published_tags_of_each(client, promises.iter().map(|p| &p.repository)).await?;
    check_listed_tags(client, &listings, promises).await
}

/// [`check_promised_tags`] with the listings already at hand (`gaps` lists its image's
/// tags first, to infer their scheme): `None`, or a repository not in `listings`, has no
/// tags.
///
/// # Errors
///
/// The first [`RegistryError`] of a platform check.
pub async fn check_listed_tags(
    client: &Client,
    listings: &HashMap<Repository, Option<Vec<String>>>,
    promises: &[TagQuestion],
) -> Result<Vec<PromisedTag>, RegistryError> {
    let listed: HashMap<&Repository, HashSet<&str>> = listings
        .iter()
        .map(|(repo, tags)| (repo, tags.iter().flatten().map(String::as_str).collect()))
        .collect();
    let is_listed = |p: &TagQuestion| {
        listed
            .get(&p.repository)
            .is_some_and(|tags| tags.contains(p.tag.as_str()))
    };
    // Each distinct question about a listed tag's platforms, once.
    let mut questions: Vec<TagQuestion> = Vec::new();
    for promise in promises.iter().filter(|p| is_listed(p)) {
        if !promise.platforms.is_empty() && !questions.contains(promise) {
            questions.push(promise.clone());
        }
    }
    let states = inspect_tags(client, &questions).await?;
    Ok(promises
        .iter()
        .map(|promise| {
            if !is_listed(promise) {
                return PromisedTag::Missing;
            }
            if promise.platforms.is_empty() {
                return PromisedTag::Listed;
            }
            let i = questions
                .iter()
                .position(|q| q == promise)
                .expect("every listed promise with platforms was asked");
            match &states[i] {
                TagState::Present { digest, lacking } => PromisedTag::Present {
                    digest: digest.clone(),
                    lacking: lacking.clone(),
                },
                // Listed, then gone at HEAD: the registry now says it does not exist.
                TagState::Missing => PromisedTag::Missing,
            }
        })
        .collect())
}
