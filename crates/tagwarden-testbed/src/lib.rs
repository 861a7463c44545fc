//! Test bed for tagwarden's integration tests: a **real** OCI registry.
//!
//! Mocks of a registry agree with whatever the code under test believes; a real
//! registry does not. So integration tests across the workspace (registry
//! client, CLI) run against Debian's `docker-registry` package, which is CNCF
//! distribution 2.8, the same server Docker Hub's protocol grew from:
//!
//! - [`Registry::start`] runs it on a free `127.0.0.1` port with a throw-away
//!   filesystem store and stops it on drop ([`registry`] explains the config,
//!   the port choice and why the child gets `PR_SET_PDEATHSIG`);
//! - [`Seeder`] pushes small, valid, deterministic images through the
//!   Distribution HTTP API alone: blob upload `POST` + `PUT`, manifest `PUT`.
//!   No docker, no skopeo ([`image`] explains what the bytes are);
//! - [`seed_standard`] pushes the data set the tests share ([`standard`] has
//!   the table) and returns a [`Seeded`] to look digests up in;
//! - [`PagingProxy`] adds the `tags/list` paging that distribution 2.8 lacks
//!   but Docker Hub has ([`proxy`] explains why it matters);
//! - [`dead_addr`] gives an address where nothing listens.
//!
//! The API is synchronous, for plain `#[test]` functions (the CLI tests run the
//! binary with `std::process::Command`), and safe to call from async tests too.
//!
//! ```no_run
//! use tagwarden_testbed::{Registry, seed_standard};
//!
//! let registry = Registry::start();          // panics loudly if it cannot
//! let seeded = seed_standard(&registry);
//! let want = seeded.digest("clastix/kubectl", "v1.31.4");
//! assert_eq!(want, seeded.digest("clastix/kubectl", "latest"));
//! // ... run the code under test against registry.url() / registry.addr()
//! ```
//!
//! # Requirements
//!
//! Linux and `/usr/bin/docker-registry` (`apt-get install -y docker-registry`),
//! or `TAGWARDEN_TEST_REGISTRY_BIN` pointing at a distribution `registry`
//! binary. Nothing is skipped when it is missing: tests fail with that advice.

pub mod image;
pub mod proxy;
pub mod registry;
pub mod seeder;
pub mod standard;

pub use image::{ACCEPT_ALL_MANIFESTS, ManifestKind, Platform};
pub use proxy::PagingProxy;
pub use registry::{Registry, dead_addr};
pub use seeder::Seeder;
pub use standard::{MANY_TAGS, Seeded, many_tag_names, seed_standard, seed_standard_with};
