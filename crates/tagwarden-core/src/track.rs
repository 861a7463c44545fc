//! Which images follow the Kubernetes version ("track" it).
//!
//! An image tracks the Kubernetes version when
//!
//! - the cluster's version is known and the image's tag is a version tag (`v1.32`,
//!   `1.32.0-debian-12`) whose `major.minor` is the cluster's; or
//! - a [`TrackRule`] names its repository (`docker.io/clastix/kubectl`, `ghcr.io/org/*`),
//!   whatever its tag looks like.
//!
//! Only such images may get a fallback: the same reference with the nearest published
//! compatible tag. An image pinned by digest never tracks anything: its content is fixed,
//! whatever its tag says.
//!
//! ```
//! use tagwarden_core::track::{Tracking, TrackRule, Tracks};
//! use tagwarden_core::{KubeVersion, Reference};
//!
//! let tracking = Tracking {
//!     kube_version: Some(KubeVersion::parse("v1.32.0-eks-5e0fdde").unwrap()),
//!     rules: vec![TrackRule::parse("ghcr.io/org/*").unwrap()],
//! };
//! let kubectl = Reference::parse("clastix/kubectl:v1.32").unwrap();
//! assert_eq!(tracking.tracks(&kubectl), Some(Tracks::Tag));
//! let nginx = Reference::parse("nginx:1.27").unwrap();
//! assert_eq!(tracking.tracks(&nginx), None);
//! ```

use crate::reference::normalize_name;
use crate::{KubeVersion, Reference, VersionTag};

/// A repository name, maybe with `*` wildcards, whose images track the Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRule {
    /// The rule as written.
    written: String,
    /// What it is matched against: a normalised `registry/repository` pattern.
    pattern: String,
}

/// Why a [`TrackRule`] could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrackRuleError(String);

impl TrackRule {
    /// Parses a rule, normalising the name as Docker does ([`normalize_name`]):
    /// `clastix/kubectl` is `docker.io/clastix/kubectl`, `busybox` is
    /// `docker.io/library/busybox`, `bitnami/*` is `docker.io/bitnami/*`.
    ///
    /// Two forms are special: a pattern that starts with `*` (`*/kubectl`) is matched as it
    /// is against `registry/repository`, and `REGISTRY/*` matches every repository of that
    /// registry (`docker.io/*` is not read as the official image `library/*`).
    ///
    /// A name with a tag or a digest is refused: a rule names repositories.
    pub fn parse(text: &str) -> Result<TrackRule, TrackRuleError> {
        let written = text.trim().to_string();
        if written.is_empty() {
            return Err(TrackRuleError("an empty repository name".into()));
        }
        let last = written.rsplit('/').next().unwrap_or(&written);
        if written.contains('@') || last.contains(':') {
            return Err(TrackRuleError(format!(
                "`{written}` names a tag or digest; name the repository only (e.g. docker.io/clastix/kubectl)"
            )));
        }
        let pattern = if !written.contains('*') {
            let reference =
                Reference::parse(&written).map_err(|e| TrackRuleError(e.to_string()))?;
            format!("{}/{}", reference.registry(), reference.repository())
        } else if written.starts_with('*') {
            written.clone()
        } else {
            let (registry, repository) = normalize_name(&written);
            // `docker.io/*`: every repository of the registry, not the official `library/*`.
            let every_repository = repository == "library/*" && !written.contains("library/");
            if every_repository {
                format!("{registry}/*")
            } else {
                format!("{registry}/{repository}")
            }
        };
        Ok(TrackRule { written, pattern })
    }

    /// Whether the rule names the repository of `reference`.
    pub fn matches(&self, reference: &Reference) -> bool {
        let name = format!("{}/{}", reference.registry(), reference.repository());
        glob(&self.pattern, &name)
    }

    /// The rule as written, for explanations.
    pub fn written(&self) -> &str {
        &self.written
    }
}

/// `*` matches any run of characters (also none, also `/`); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Why an image tracks the Kubernetes version, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracks {
    /// Its tag's `major.minor` is the cluster's.
    Tag,
    /// A rule names its repository; the rule as written.
    Rule(String),
}

/// What decides whether an image tracks the Kubernetes version: the cluster's version
/// (when known) and the track rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracking {
    /// The cluster's Kubernetes version; `None` when unknown (then only rules apply).
    pub kube_version: Option<KubeVersion>,
    /// Repositories that track the version whatever their tags look like.
    pub rules: Vec<TrackRule>,
}

impl Tracking {
    /// Whether `reference` tracks the Kubernetes version, and why. A reference pinned by
    /// digest never does.
    pub fn tracks(&self, reference: &Reference) -> Option<Tracks> {
        if reference.digest().is_some() {
            return None;
        }
        if let (Some(kube), Some(tag)) = (&self.kube_version, reference.tag())
            && let Some(version) = VersionTag::parse(tag)
            && version.parts().len() >= 2
            && version.major() == kube.major
            && version.minor() == Some(kube.minor)
        {
            return Some(Tracks::Tag);
        }
        self.rules
            .iter()
            .find(|rule| rule.matches(reference))
            .map(|rule| Tracks::Rule(rule.written().to_string()))
    }

    /// True when nothing can track: no Kubernetes version and no rules.
    pub fn is_empty(&self) -> bool {
        self.kube_version.is_none() && self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> TrackRule {
        TrackRule::parse(text).unwrap()
    }

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn rules_match_normalised_names() {
        assert!(rule("clastix/kubectl").matches(&r("docker.io/clastix/kubectl:v1.30")));
        assert!(rule("docker.io/clastix/kubectl").matches(&r("clastix/kubectl:v1.30")));
        assert!(rule("busybox").matches(&r("index.docker.io/library/busybox:1")));
        assert!(!rule("clastix/kubectl").matches(&r("ghcr.io/clastix/kubectl:v1")));
        assert!(rule("ghcr.io/org/*").matches(&r("ghcr.io/org/team/kubectl:v1.2")));
        assert!(!rule("ghcr.io/org/*").matches(&r("ghcr.io/other/kubectl:v1.2")));
        assert!(rule("*/kubectl").matches(&r("127.0.0.1:5000/bitnami/kubectl:1.32")));
        assert!(rule("bitnami/*").matches(&r("bitnami/kubectl:1.32")));
        assert!(rule("index.docker.io/bitnami/*").matches(&r("bitnami/kubectl:1.32")));
        assert!(rule("docker.io/*").matches(&r("busybox")));
        assert!(rule("docker.io/*").matches(&r("clastix/kubectl")));
        assert!(rule("docker.io/library/*").matches(&r("busybox")));
        assert!(!rule("docker.io/library/*").matches(&r("clastix/kubectl")));
        assert!(rule("busy*").matches(&r("busybox")));
        assert!(rule("localhost:5000/k*l").matches(&r("localhost:5000/kubectl")));
        assert!(TrackRule::parse("clastix/kubectl:v1.32").is_err());
        assert!(TrackRule::parse("a@sha256:00").is_err());
        assert!(TrackRule::parse(" ").is_err());
    }

    #[test]
    fn tags_track_the_kube_version() {
        let tracking = Tracking {
            kube_version: Some(KubeVersion::parse("v1.32.1-eks-5e0fdde").unwrap()),
            rules: vec![rule("ghcr.io/org/*")],
        };
        assert_eq!(
            tracking.tracks(&r("clastix/kubectl:v1.32")),
            Some(Tracks::Tag)
        );
        assert_eq!(
            tracking.tracks(&r("bitnami/kubectl:1.32.0-debian-12")),
            Some(Tracks::Tag)
        );
        assert_eq!(tracking.tracks(&r("clastix/kubectl:v1.31")), None);
        assert_eq!(tracking.tracks(&r("clastix/kubectl")), None);
        assert_eq!(tracking.tracks(&r("nginx:2.32")), None);
        assert_eq!(
            tracking.tracks(&r("ghcr.io/org/kubectl:latest")),
            Some(Tracks::Rule("ghcr.io/org/*".into()))
        );
        let pinned = format!("clastix/kubectl:v1.32@sha256:{}", "0".repeat(64));
        assert_eq!(tracking.tracks(&r(&pinned)), None);
        assert!(Tracking::default().is_empty());
    }
}
