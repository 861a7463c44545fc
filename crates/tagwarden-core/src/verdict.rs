//! The answer about one image: what every front end (`check`, `post-render`, `scan`, the
//! admission webhook) reports or acts on.
//!
//! An image is in exactly one of four states:
//!
//! - **present**: the registry has it (on every requested platform);
//! - **missing**: the registry said it does not exist, or it lacks a requested platform;
//! - **undetermined**: the registry did not let us decide, because it *denied* access
//!   (401/403) or was *unreachable* (timeouts, 5xx, 429, broken answers). Such an image
//!   never gets a fallback;
//! - **invalid**: not an image reference at all (an empty or non-string `image:`, or a
//!   string outside the reference grammar).
//!
//! A missing image that tracks the Kubernetes version ([`crate::track`]) may carry a
//! *fallback*: the same reference, spelled as written, with the nearest published
//! compatible tag within the skew policy. When there is none within the policy, the
//! nearest tag outside it is named, so that a person can decide to widen the policy.

use serde::Serialize;

use crate::platform::Platform;
use crate::track::Tracks;

/// What became of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    /// Published (on every requested platform).
    Present,
    /// The registry said it does not exist, or it lacks a requested platform.
    Missing,
    /// Undetermined: the registry refused access (401/403).
    Denied,
    /// Undetermined: no answer could be had (network, timeouts, 5xx, 429, broken answers).
    Unreachable,
    /// Not an image reference.
    Invalid,
}

impl ImageStatus {
    /// The lowercase name, as in JSON (`present`, `missing`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Present => "present",
            ImageStatus::Missing => "missing",
            ImageStatus::Denied => "denied",
            ImageStatus::Unreachable => "unreachable",
            ImageStatus::Invalid => "invalid",
        }
    }

    /// True for [`ImageStatus::Denied`] and [`ImageStatus::Unreachable`]: the registry did
    /// not let us decide.
    pub fn is_undetermined(self) -> bool {
        matches!(self, ImageStatus::Denied | ImageStatus::Unreachable)
    }
}

/// How a manifest measures up to the requested platforms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformReport {
    /// Requested platforms the manifest does not list at all.
    pub absent: Vec<Platform>,
    /// Platforms an index lists whose manifests are missing: a broken index.
    pub broken: Vec<Platform>,
}

impl PlatformReport {
    /// True when every requested platform is there and intact (also when none was
    /// requested).
    pub fn is_complete(&self) -> bool {
        self.absent.is_empty() && self.broken.is_empty()
    }
}

/// The verdict about one image, with everything needed to explain and act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Present, missing, undetermined (denied or unreachable) or invalid.
    pub status: ImageStatus,
    /// The manifest digest the registry reported, when present.
    pub digest: Option<String>,
    /// For a missing image that tracks the Kubernetes version: the reference as written
    /// with the nearest published compatible tag within the skew policy (no digest).
    pub fallback: Option<String>,
    /// The fallback's manifest digest, for pinning.
    pub fallback_digest: Option<String>,
    /// For a missing image with no fallback within the policy: the reference as written
    /// with the nearest compatible tag outside it (never checked for platforms).
    pub nearest_outside_policy: Option<String>,
    /// Why the image tracks the Kubernetes version; `None` when it does not.
    pub tracks: Option<Tracks>,
    /// For an image that exists but is missing because of platforms: the requested
    /// platforms it lacks, and those its index lists with a missing manifest. Empty
    /// otherwise.
    pub platforms: PlatformReport,
    /// True when the image is missing and its fallback could not be decided because a
    /// registry did not answer: a repair must not proceed on it.
    pub fallback_undetermined: bool,
    /// One line for people: why it is not present, or how the fallback was chosen;
    /// `None` when present.
    pub reason: Option<String>,
    /// True when the image is undetermined because the registry rate-limited the
    /// question (HTTP 429 even after retries). The status stays
    /// [`ImageStatus::Unreachable`] for the CLI's JSON and exit codes; a monitor reports
    /// it apart (`rate_limited`) and pauses the registry instead of asking again.
    pub rate_limited: bool,
}

impl Verdict {
    /// A published image.
    pub fn present(digest: impl Into<String>) -> Verdict {
        Verdict {
            digest: Some(digest.into()),
            reason: None,
            ..Verdict::with_status(ImageStatus::Present)
        }
    }

    /// An image the registry said does not exist (or lacks a platform), for `reason`.
    pub fn missing(reason: impl Into<String>) -> Verdict {
        Verdict::with_status(ImageStatus::Missing).because(reason)
    }

    /// Not an image reference, for `reason`.
    pub fn invalid(reason: impl Into<String>) -> Verdict {
        Verdict::with_status(ImageStatus::Invalid).because(reason)
    }

    /// A verdict of `status` and nothing else; refine it with the struct's fields.
    pub fn with_status(status: ImageStatus) -> Verdict {
        Verdict {
            status,
            digest: None,
            fallback: None,
            fallback_digest: None,
            nearest_outside_policy: None,
            tracks: None,
            platforms: PlatformReport::default(),
            fallback_undetermined: false,
            reason: None,
            rate_limited: false,
        }
    }

    /// The same verdict with `reason` as its explanation.
    pub fn because(mut self, reason: impl Into<String>) -> Verdict {
        self.reason = Some(reason.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_what_they_say() {
        let present = Verdict::present("sha256:00");
        assert_eq!(present.status, ImageStatus::Present);
        assert_eq!(present.digest.as_deref(), Some("sha256:00"));
        assert_eq!(present.reason, None);
        let missing = Verdict::missing("v1.32 is not published");
        assert_eq!(missing.status, ImageStatus::Missing);
        assert_eq!(missing.reason.as_deref(), Some("v1.32 is not published"));
        assert!(
            Verdict::with_status(ImageStatus::Denied)
                .status
                .is_undetermined()
        );
        assert!(!ImageStatus::Invalid.is_undetermined());
        assert_eq!(ImageStatus::Unreachable.as_str(), "unreachable");
    }
}
