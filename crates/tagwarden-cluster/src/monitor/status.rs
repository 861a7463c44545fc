//! What the monitor says about one image: the engine's [`Verdict`] in the six words of
//! the metrics (`present`, `missing`, `denied`, `unreachable`, `rate_limited`, `invalid`).
//!
//! The engine folds a 429 into "unreachable" (both mean *could not decide*, exit 3); the
//! monitor tells it apart through [`Verdict::rate_limited`], because the answer to a rate
//! limit is different: wait for the registry, and never call the image missing.

use std::fmt;

use tagwarden_core::{ImageStatus, Verdict};

/// The state of one unique image, as the metrics and Events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Published (on every platform its nodes need).
    Present,
    /// The registry said it does not exist (or it lacks a platform its nodes need).
    Missing,
    /// The registry refused access (401/403): undetermined.
    Denied,
    /// No answer (network, timeouts, 5xx, broken answers): undetermined.
    Unreachable,
    /// The registry rationed answers (429, or its rate limit is used up): undetermined,
    /// and the registry is paused.
    RateLimited,
    /// Not an image reference at all.
    Invalid,
}

impl Status {
    /// Every status, in the order of the metrics' documentation.
    pub const ALL: [Status; 6] = [
        Status::Present,
        Status::Missing,
        Status::Denied,
        Status::Unreachable,
        Status::RateLimited,
        Status::Invalid,
    ];

    /// The `status`/`reason` label value: `present`, `missing`, `denied`, `unreachable`,
    /// `rate_limited`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Missing => "missing",
            Status::Denied => "denied",
            Status::Unreachable => "unreachable",
            Status::RateLimited => "rate_limited",
            Status::Invalid => "invalid",
        }
    }

    /// True only for [`Status::Present`]: every other status means a Pod needing the image
    /// now might not get it.
    pub fn is_available(self) -> bool {
        self == Status::Present
    }

    /// True when the registry did not let us decide (denied, unreachable, rate-limited):
    /// such images are rechecked with backoff.
    pub fn is_undetermined(self) -> bool {
        matches!(
            self,
            Status::Denied | Status::Unreachable | Status::RateLimited
        )
    }

    /// The status of an engine verdict.
    pub fn of(verdict: &Verdict) -> Status {
        match verdict.status {
            ImageStatus::Present => Status::Present,
            ImageStatus::Missing => Status::Missing,
            ImageStatus::Denied => Status::Denied,
            ImageStatus::Unreachable if verdict.rate_limited => Status::RateLimited,
            ImageStatus::Unreachable => Status::Unreachable,
            ImageStatus::Invalid => Status::Invalid,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The latest answer about one image: what a transition, a snapshot and the metrics need
/// from a [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: Status,
    /// One line for people (the engine's reason); `None` when present.
    pub reason: Option<String>,
    /// The manifest digest, when present.
    pub digest: Option<String>,
    /// A published stand-in for a missing image that tracks the Kubernetes version.
    pub fallback: Option<String>,
    /// True when the registry said the tag itself does not exist (as opposed to an image
    /// that exists but lacks a platform): only then has a tag been deleted.
    pub tag_absent: bool,
}

impl Answer {
    pub fn of(verdict: &Verdict) -> Answer {
        let status = Status::of(verdict);
        Answer {
            status,
            reason: verdict.reason.clone(),
            digest: verdict.digest.clone(),
            fallback: verdict.fallback.clone(),
            tag_absent: status == Status::Missing && verdict.platforms.is_complete(),
        }
    }

    /// The answer for an image whose registry is paused before it was ever answered.
    pub fn paused(reason: String) -> Answer {
        Answer {
            status: Status::RateLimited,
            reason: Some(reason),
            digest: None,
            fallback: None,
            tag_absent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_verdict_is_its_own_status() {
        let mut verdict = Verdict::with_status(ImageStatus::Unreachable);
        assert_eq!(Status::of(&verdict), Status::Unreachable);
        verdict.rate_limited = true;
        assert_eq!(Status::of(&verdict), Status::RateLimited);
        assert!(Status::RateLimited.is_undetermined());
        assert!(!Status::RateLimited.is_available());
        assert_eq!(Status::RateLimited.as_str(), "rate_limited");
    }

    #[test]
    fn only_a_missing_tag_counts_as_absent() {
        assert!(Answer::of(&Verdict::missing("v1 is not published")).tag_absent);
        let mut lacks_arm = Verdict::missing("v1 lacks linux/arm64");
        lacks_arm.platforms.absent = vec!["linux/arm64".parse().unwrap()];
        assert!(!Answer::of(&lacks_arm).tag_absent);
    }
}
