//! Upgrade preflight: *what breaks if the cluster moves to another Kubernetes version?*
//!
//! An image whose tag tracks today's version (`clastix/kubectl:v1.32` on a 1.32 cluster)
//! will ask for another tag after the upgrade, because the chart that wrote it derives
//! the tag from the cluster's version. The preflight asks the registry about *that* tag,
//! in the image's own tag format ([`tagwarden_core::track::tag_after_upgrade`]), and
//! gives it the verdict [`inspect_reference`] would give at the target version: present,
//! missing with its fallback within the [`FallbackPolicy`](tagwarden_core::FallbackPolicy),
//! missing with the nearest tag outside it, or undetermined, with the requested platforms
//! honoured.
//!
//! # A worked example
//!
//! The cluster runs 1.32 today and the operator plans 1.33. The registry publishes
//! `kubectl` tags `v1.31`, `v1.32`, `v1.34`, `1.32.4`, `1.33.0`, `1.33.2`, `1.33.10` and
//! `1.32.4-debian-12`:
//!
//! | image in use        | asked for after the upgrade | verdict at 1.33                         |
//! |---------------------|-----------------------------|-----------------------------------------|
//! | `kubectl:v1.32`     | `kubectl:v1.33`             | missing; fallback `kubectl:v1.32` (−1)  |
//! | `kubectl:1.32.4`    | `kubectl:1.33.10`           | present (the highest published 1.33.x)  |
//! | `kubectl:1.32.4-debian-12` | `kubectl:1.33.0-debian-12` | missing (no `1.33.x-debian-12`); fallback `kubectl:1.32.4-debian-12` (−1) |
//! | `kubectl:v1.31`     | unchanged                   | as today: it does not track 1.32        |
//! | `kubectl:v1.32@sha256:…` | unchanged              | checked by its digest                   |
//! | `nginx:1.27`        | unchanged                   | as today                                |
//!
//! - A `major.minor` tag becomes the target's, exactly (`v1.32` → `v1.33`).
//! - A tag with a patch becomes the highest published patch of the target's minor with
//!   the same prefix, suffix and number of parts (`1.32.4` → `1.33.10`, not `1.33.2`):
//!   the repository's tags are listed once, fresh from the registry. When no such patch
//!   is published, the tag asked for is the minor's first patch (`1.33.0`), which is then
//!   missing and gets the fallback the policy allows (`1.32.x`, within ±1 minor).
//! - Images pinned by digest, images whose tag is not a version tag of today's minor
//!   (whether or not a track rule names them) and every image when the target is
//!   today's minor keep their reference and are checked as they are, at the target
//!   version (a track rule still gives them a fallback).
//! - A registry that does not answer (timeouts, 5xx, 401/403, 429), for the image or for
//!   the tag list that chooses its patch, makes the image *undetermined*: never a
//!   fallback, never a guessed tag.
//!
//! Downgrades work the same way (`v1.32` → `v1.31` for a target of 1.31).
//!
//! Whether a run is a preflight at all is [`JudgedAt`]'s decision: a version asked for
//! whose `major.minor` is not the cluster's today (`scan --kube-version`, `check
//! --cluster --kube-version`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tagwarden_core::{KubeVersion, Tracking};
//! use tagwarden_registry::preflight::inspect_images_after_upgrade;
//! use tagwarden_registry::{Client, ClientOptions, InspectOptions};
//!
//! let client = Client::new(ClientOptions::default())?;
//! let today = KubeVersion::parse("v1.32.4")?;
//! let options = InspectOptions {
//!     // The questions are asked at the target version.
//!     tracking: Tracking { kube_version: Some(KubeVersion::parse("1.33")?), rules: vec![] },
//!     ..InspectOptions::default()
//! };
//! let images = ["clastix/kubectl:v1.32", "bitnami/kubectl:1.32.4", "nginx:1.27"];
//! let verdicts = inspect_images_after_upgrade(&client, &images, &today, &options, |_| {}).await;
//! for (image, upgrade) in images.iter().zip(&verdicts) {
//!     let asked = upgrade.after_upgrade.as_deref().unwrap_or(image);
//!     println!("{image}: after the upgrade {asked} is {}", upgrade.verdict.status.as_str());
//!     if let Some(fallback) = &upgrade.verdict.fallback {
//!         println!("  fallback: {fallback}");
//!     }
//! }
//! # Ok(()) }
//! ```

pub use tagwarden_core::track::JudgedAt;
use tagwarden_core::track::{TagAfterUpgrade, Tracks, tag_after_upgrade};
use tagwarden_core::verdict::Verdict;
use tagwarden_core::{KubeVersion, Reference};

use crate::client::{Client, Repository};
use crate::error::{Lookup, RegistryError};
use crate::inspect::{
    InspectOptions, Progress, ask_each_unique_image, inspect_reference, undetermined,
};

/// The verdict about one image at the target Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeVerdict {
    /// The reference that will be asked for after the upgrade, as written with the tag
    /// re-derived for the target version (`clastix/kubectl:v1.33`). `None` when the image
    /// is asked for as it is today, and when the tag could not be chosen because the
    /// registry did not list its tags (then `verdict` is undetermined and says so).
    pub after_upgrade: Option<String>,
    /// The verdict about `after_upgrade`, or about the image itself when it is unchanged,
    /// as [`inspect_reference`] gives it at the target version (fallback included).
    pub verdict: Verdict,
}

impl UpgradeVerdict {
    /// The image keeps its reference: the verdict is about it.
    fn unchanged(verdict: Verdict) -> UpgradeVerdict {
        UpgradeVerdict {
            after_upgrade: None,
            verdict,
        }
    }
}

/// The verdict about one image as written (`image:` of a workload) after the cluster
/// moves from `today` to the target version in `options.tracking.kube_version`:
/// [`ImageStatus::Invalid`](tagwarden_core::ImageStatus::Invalid) when it is not an
/// image reference, else [`inspect_reference_after_upgrade`].
pub async fn inspect_upgrade(
    client: &Client,
    image: &str,
    today: &KubeVersion,
    options: &InspectOptions,
) -> UpgradeVerdict {
    match Reference::parse(image) {
        Ok(reference) => inspect_reference_after_upgrade(client, &reference, today, options).await,
        Err(e) => UpgradeVerdict::unchanged(Verdict::invalid(e.reason())),
    }
}

/// The verdict about one parsed image after the cluster moves from `today` to the target
/// version in `options.tracking.kube_version` (with none, nothing is re-derived and the
/// image is inspected as it is). See the [module documentation](self).
pub async fn inspect_reference_after_upgrade(
    client: &Client,
    reference: &Reference,
    today: &KubeVersion,
    options: &InspectOptions,
) -> UpgradeVerdict {
    let after = options
        .tracking
        .kube_version
        .as_ref()
        .and_then(|target| tag_after_upgrade(reference, today, target));
    let Some(after) = after else {
        return UpgradeVerdict::unchanged(inspect_reference(client, reference, options).await);
    };
    let tag = match tag_to_ask_for(client, reference, &after).await {
        Ok(tag) => tag,
        Err(e) => {
            let mut verdict = undetermined(&e);
            verdict.tracks = Some(Tracks::Tag);
            verdict.reason = Some(format!(
                "after the upgrade {} asks for the highest published {}, but its tags could not be listed: {e}",
                reference.name_as_written(),
                after.pattern()
            ));
            return UpgradeVerdict::unchanged(verdict);
        }
    };
    match reference.with_tag(&tag) {
        Ok(retagged) => UpgradeVerdict {
            verdict: inspect_reference(client, &retagged, options).await,
            after_upgrade: Some(retagged.to_string()),
        },
        // Only a tag near the 128-character limit can grow too long (1.99 → 1.100).
        Err(e) => UpgradeVerdict::unchanged(Verdict::invalid(format!(
            "after the upgrade {reference} would ask for the tag {tag:?}, which is not valid: {e}"
        ))),
    }
}

/// The tag to ask for after the upgrade: the re-derived tag, or for a tag with a patch
/// the highest published patch of the target's minor, from one fresh listing of the
/// repository's tags (a repository that does not exist has none). A listing that fails
/// is an error: the tag is never guessed.
async fn tag_to_ask_for(
    client: &Client,
    reference: &Reference,
    after: &TagAfterUpgrade,
) -> Result<String, RegistryError> {
    if !after.needs_published_tags() {
        return Ok(after.choose(std::iter::empty()).to_string());
    }
    let published = match client.list_tags_fresh(&Repository::of(reference)).await? {
        Lookup::Found(tags) => tags,
        Lookup::Missing(_) => Vec::new(),
    };
    let tag = after.choose(published.iter().map(String::as_str));
    tracing::debug!(
        image = %reference,
        wanted = %after.pattern(),
        chosen = %tag,
        published = published.len(),
        "tag after the upgrade"
    );
    Ok(tag.to_string())
}

/// [`inspect_upgrade`] for many images as written, in input order: each unique string is
/// asked once, every repository is announced first, at most
/// [`InspectOptions::concurrency`] images are in flight, and `progress` is called after
/// each unique image is answered, as [`inspect_images`](crate::inspect_images) does.
pub async fn inspect_images_after_upgrade<S: AsRef<str>>(
    client: &Client,
    images: &[S],
    today: &KubeVersion,
    options: &InspectOptions,
    progress: impl Fn(Progress),
) -> Vec<UpgradeVerdict> {
    ask_each_unique_image(
        client,
        images,
        options.concurrency,
        progress,
        |reference| async move {
            inspect_reference_after_upgrade(client, &reference, today, options).await
        },
        |reason| UpgradeVerdict::unchanged(Verdict::invalid(reason)),
    )
    .await
}
