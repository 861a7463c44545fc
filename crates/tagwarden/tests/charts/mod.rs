//! Rendered-chart fixtures for the `check` and `post-render` tests, and one registry per
//! test binary that serves every image they use (except the Kubernetes-version-derived tags
//! that are missing on purpose: `clastix/kubectl:v1.32`, `bitnami/kubectl:1.32`).
//!
//! The fixtures under `tests/fixtures/charts/` are written in the shapes `helm template`
//! produces for real charts (Capsule's CRD and pre-delete hook Jobs, kube-prometheus-stack's
//! CRD-upgrade Job, Velero's upgrade/cleanup-CRD Jobs), with `REGISTRY` where the registry
//! host goes; [`rendered`] substitutes the test registry's address.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use tagwarden_testbed::{ManifestKind, Platform, Registry, Seeded, seed_standard};

use crate::common::Run;

/// Images the charts use that the standard data set lacks; pushed by [`shared`].
pub const EXTRA_IMAGES: &[(&str, &str)] = &[
    ("projectcapsule/capsule", "v0.7.2"),
    ("velero/velero", "v1.15.0"),
    ("velero/velero-plugin-for-aws", "v1.11.0"),
    ("ingress-nginx/kube-webhook-certgen", "v1.5.1"),
    ("prometheus-operator/prometheus-operator", "v0.79.2"),
];

pub const CHARTS: &[&str] = &[
    "capsule.yaml",
    "kube-prometheus-stack.yaml",
    "misc.yaml",
    "velero.yaml",
];

pub struct Charts {
    pub registry: Registry,
    pub seeded: Seeded,
    /// Digests of [`EXTRA_IMAGES`], by `repo:tag`.
    pub extra: BTreeMap<String, String>,
}

impl Charts {
    pub fn addr(&self) -> &str {
        self.registry.addr()
    }

    /// The digest of `repo:tag`, standard or extra.
    pub fn digest(&self, repo: &str, tag: &str) -> String {
        match self.extra.get(&format!("{repo}:{tag}")) {
            Some(digest) => digest.clone(),
            None => self.seeded.digest(repo, tag).to_string(),
        }
    }
}

/// The registry shared by the tests of one binary, seeded once.
pub fn shared() -> &'static Charts {
    static CHARTS: OnceLock<Charts> = OnceLock::new();
    CHARTS.get_or_init(|| {
        let registry = Registry::start();
        let seeded = seed_standard(&registry);
        let seeder = registry.seeder();
        let extra = EXTRA_IMAGES
            .iter()
            .map(|(repo, tag)| {
                let digest =
                    seeder.push_image(repo, tag, ManifestKind::Oci, &[Platform::linux_amd64()]);
                (format!("{repo}:{tag}"), digest)
            })
            .collect();
        Charts {
            registry,
            seeded,
            extra,
        }
    })
}

/// A fixture file, as written.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/charts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A fixture with the registry's address in place of `REGISTRY`.
pub fn rendered(name: &str, addr: &str) -> String {
    fixture(name).replace("REGISTRY", addr)
}

/// Every fixture, rendered, written into a fresh folder (as `helm template --output-dir`
/// would leave them).
pub fn rendered_dir(addr: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in CHARTS {
        std::fs::write(dir.path().join(name), rendered(name, addr)).expect("write fixture");
    }
    dir
}

/// `text` with `from` replaced by `to` on every line except those containing `keep`.
pub fn replace_except(text: &str, from: &str, to: &str, keep: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.contains(keep) {
                line.to_string()
            } else {
                line.replace(from, to)
            }
        })
        .collect()
}

/// Run `tagwarden ARGS` with `stdin` piped in, with the same clean environment as
/// `common::tagwarden` (temp HOME, so a fresh disk cache; no credentials or config from the
/// developer's machine).
pub fn tagwarden_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    tagwarden_stdin_home(args, stdin, home.path())
}

/// [`tagwarden_stdin`] with a given HOME (to share the disk cache between runs).
pub fn tagwarden_stdin_home(args: &[&str], stdin: &[u8], home: &std::path::Path) -> Run {
    crate::common::tagwarden_stdin_in(args, stdin, home, &[])
}
