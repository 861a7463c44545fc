//! The pure core of tagwarden: everything that can be decided without the network.
//!
//! - [`kube_version`]: parse any distribution's Kubernetes version string.
//! - [`reference`](mod@reference): the OCI image reference grammar (parse, normalise, format).
//! - [`tag`]: tag anatomy (prefix, numeric parts, suffix), compatibility and ordering.
//! - [`policy`]: which published tags may stand in for a missing one, in what order.
//! - [`platform`]: the platform grammar (`linux/arm64/v8`, `all`) and how platforms compare.
//! - [`gaps`]: which upstream Kubernetes releases an image has no tag for.
//! - [`matrix`]: the compatibility matrix file (application versions × Kubernetes minors).
//! - [`track`]: which images follow the Kubernetes version (their tag, or a track rule).
//! - [`verdict`]: the answer about one image (present, missing, undetermined, invalid).
//! - [`config`]: the config file's `policy:` section, and the rule of its numbers.
//! - [`image_set`]: image uses grouped by image, in order of first use ([`ImageSet`]).
//! - [`report`]: the report `check` and `scan` give, its summary, and the exit it means
//!   under `--fail-on`.
//!
//! Nothing here does I/O or async, so every rule is tested exhaustively.

#![warn(missing_docs)]

pub mod config;
pub mod gaps;
pub mod image_set;
pub mod kube_version;
pub mod matrix;
pub mod platform;
pub mod policy;
pub mod reference;
pub mod report;
pub mod tag;
pub mod track;
pub mod verdict;

pub use image_set::{ImageEntry, ImageSet};
pub use kube_version::{Distribution, KubeVersion, KubeVersionError};
pub use platform::{Platform, PlatformError};
pub use policy::{Candidate, FallbackPolicy, Prefer};
pub use reference::{Reference, ReferenceError};
pub use tag::{TagFormat, TagFormatError, VersionTag};
pub use track::{TrackRule, Tracking, Tracks};
pub use verdict::{ImageStatus, PlatformReport, Verdict};
