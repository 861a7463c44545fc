//! The compatibility matrix: which Kubernetes versions each application version
//! supports, and which image tag it will ask for on each of them.
//!
//! # The file
//!
//! A small YAML document (JSON Schema: `schema/compat-matrix.schema.json`):
//!
//! ```yaml
//! name: capsule                               # optional: the application, for tables
//! image: clastix/kubectl:v{major}.{minor}     # optional default for every entry
//! platforms: [linux/amd64, linux/arm64]       # optional default, needs an image
//! versions:
//!   - app: 0.7.x                              # application versions (a range)
//!     kubernetes: 1.28 - 1.32                 # Kubernetes minors, inclusive
//!   - app: ">=0.5.0 <0.7.0"
//!     kubernetes: 1.26 - 1.29
//!     image: clastix/kubectl:v{major}.{minor}.0   # per-entry override
//!     notes: CRDs are installed by a hook Job # optional, shown in tables
//! ```
//!
//! Unknown keys are errors (a typo must not silently drop a promise), and so
//! are duplicate keys.
//!
//! # Application ranges ([`AppRange`])
//!
//! Versions are `[v]MAJOR[.MINOR[.PATCH]]`; a pre-release or build suffix on a
//! version being checked (`0.8.0-rc.1`) is ignored, so it counts as `0.8.0`.
//!
//! | written                  | means                          |
//! |--------------------------|--------------------------------|
//! | `0.7.3`                  | exactly 0.7.3                  |
//! | `0.7.x`, `0.7.*`, `0.7`  | `>=0.7.0 <0.8.0`               |
//! | `0.x`, `0`               | `>=0.0.0 <1.0.0`               |
//! | `*`                      | every version                  |
//! | `0.7.0 - 0.7.5`          | `>=0.7.0 <=0.7.5` (spaces around `-` required) |
//! | `0.7 - 0.9`              | `>=0.7.0 <0.10.0` (a partial upper end covers its whole range) |
//! | `>=0.7.0 <0.8.0`         | both comparators: `>=`, `>`, `<=`, `<`, `=`, separated by spaces |
//!
//! A comparator with a partial version means what it says of the whole range:
//! `>0.7` is `>=0.8.0`, `<=0.7` is `<0.8.0`. One entry holds one range; two
//! entries' ranges must not overlap, so every application version has at most
//! one answer.
//!
//! # Kubernetes ranges ([`KubeRange`])
//!
//! `[v]MAJOR.MINOR - [v]MAJOR.MINOR` (inclusive), or a single minor `1.30`.
//! Minors only: Kubernetes compatibility is per minor. Both ends share a major.
//!
//! # Image templates ([`ImageTemplate`])
//!
//! An image reference whose tag uses `{major}` and `{minor}` (the Kubernetes
//! version the chart runs on): `clastix/kubectl:v{major}.{minor}`. `{patch}` is
//! not available, because the matrix promises one tag per Kubernetes minor.
//!
//! # Modules
//!
//! - `grammar`: the range grammars ([`AppVersion`], [`AppRange`], [`KubeRange`]) and image
//!   templates ([`ImageTemplate`]);
//! - `model`: the parsed matrix ([`Matrix`], [`Entry`]) and its errors;
//! - `loading`: [`Matrix::parse`], from YAML text to a validated matrix, every problem with
//!   its line and column;
//! - `checks`: [`Matrix::check`] (is this combination supported, and if not, what is
//!   nearest) and [`Matrix::promises`] (every tag the matrix promises);
//! - `rendering`: [`Matrix::to_markdown`].

mod checks;
mod grammar;
mod loading;
mod model;
mod rendering;

pub use checks::{Check, Keeps, Promise, Suggestion};
pub use grammar::{AppRange, AppVersion, ImageTemplate, KubeRange, MAX_MINORS, TemplateError};
pub use model::{Entry, Matrix, MatrixError, MatrixErrors};
pub use rendering::Layout;
