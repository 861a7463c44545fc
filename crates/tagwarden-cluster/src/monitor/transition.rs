//! The state changes the monitor announces (the lead turns them into Kubernetes Events).
//!
//! One [`Transition`] per change, never one per check: an image missing for a week is
//! announced once when it goes missing and once when it comes back. The first answer
//! about an image is a change when it is unavailable (the cluster should hear about it),
//! and not when it is present (nothing to say).

use crate::inventory::WorkloadLocation;

use super::Status;

/// A change in the state of one unique image, with every workload that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// It became unavailable, or unavailable for another reason (missing → denied).
    Unavailable {
        /// The image as written in the workloads.
        image: String,
        /// Never [`Status::Present`].
        status: Status,
        /// One line for people: the engine's reason.
        reason: String,
        /// A published stand-in, for a missing image that tracks the Kubernetes version.
        fallback: Option<String>,
        /// Where it is used.
        uses: Vec<WorkloadLocation>,
    },
    /// It was unavailable and is present again.
    Available {
        /// The image as written in the workloads.
        image: String,
        /// Where it is used.
        uses: Vec<WorkloadLocation>,
    },
    /// Its tag changed upstream since the last check.
    TagChanged {
        /// The image as written in the workloads.
        image: String,
        /// What happened to the tag.
        change: TagChange,
        /// Where it is used.
        uses: Vec<WorkloadLocation>,
    },
}

impl Transition {
    /// The image it is about.
    pub fn image(&self) -> &str {
        match self {
            Transition::Unavailable { image, .. }
            | Transition::Available { image, .. }
            | Transition::TagChanged { image, .. } => image,
        }
    }

    /// The workloads that use the image.
    pub fn uses(&self) -> &[WorkloadLocation] {
        match self {
            Transition::Unavailable { uses, .. }
            | Transition::Available { uses, .. }
            | Transition::TagChanged { uses, .. } => uses,
        }
    }
}

/// Tag drift: what became of a tag that was present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// The registry now says the tag does not exist (deleted upstream, as Bitnami did).
    Deleted {
        /// The digest it had when last seen.
        digest: String,
    },
    /// The tag now points at another manifest.
    Retagged {
        /// The digest it had.
        from: String,
        /// The digest it has now.
        to: String,
    },
}

impl TagChange {
    /// The `kind` label of `tagwarden_image_tag_changes_total`: `deleted` or `retagged`.
    pub fn kind(&self) -> &'static str {
        match self {
            TagChange::Deleted { .. } => "deleted",
            TagChange::Retagged { .. } => "retagged",
        }
    }
}
