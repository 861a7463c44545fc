//! The pure core of tagwarden: everything that can be decided without the network.
//!
//! - [`kube_version`]: parse any distribution's Kubernetes version string.
//! - [`reference`]: the OCI image reference grammar (parse, normalise, format).
//! - [`tag`]: tag anatomy (prefix, numeric parts, suffix), compatibility and ordering.
//! - [`policy`]: which published tags may stand in for a missing one, in what order.
//! - [`track`]: which images follow the Kubernetes version (their tag, or a track rule).
//! - [`verdict`]: the answer about one image (present, missing, undetermined, invalid).
//!
//! Nothing here does I/O or async, so every rule is tested exhaustively.

pub mod gaps;
pub mod kube_version;
pub mod matrix;
pub mod policy;
pub mod reference;
pub mod tag;
pub mod track;
pub mod verdict;

pub use kube_version::{Distribution, KubeVersion, KubeVersionError};
pub use policy::{Candidate, FallbackPolicy, Prefer};
pub use reference::{Reference, ReferenceError};
pub use tag::{TagFormat, TagFormatError, VersionTag};
pub use track::{TrackRule, Tracking, Tracks};
pub use verdict::{ImageStatus, Verdict};
