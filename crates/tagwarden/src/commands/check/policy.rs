//! Which images follow the Kubernetes version ("track" it), and the fallback policy, shared
//! by `check` and `post-render`.
//!
//! An image tracks the Kubernetes version when
//!
//! - `--kube-version` is given and its tag is a version tag (`v1.32`, `1.32.0-debian-12`)
//!   whose `major.minor` is the cluster's; or
//! - a `--track` flag or a `policy.track` rule of the config file names its repository.
//!
//! Only such images get a fallback: the same reference, spelled as written, with the
//! nearest published compatible tag within the skew policy. Everything else is reported
//! (`check`) or left alone (`post-render`).

use anyhow::anyhow;
use tagwarden_core::{FallbackPolicy, KubeVersion, Prefer, Reference, VersionTag};

use crate::commands::resolve::PreferArg;
use crate::config::{Config, PreferConfig};
use crate::exit::Failure;

/// A `track` rule: a repository name, maybe with `*` wildcards.
#[derive(Debug, Clone)]
pub struct TrackRule {
    /// The rule as written.
    written: String,
    /// What it is matched against: a normalised `registry/repository` pattern.
    pattern: String,
}

impl TrackRule {
    /// Parses a rule. Without `*`, the name is normalised as Docker does (`clastix/kubectl`
    /// is `docker.io/clastix/kubectl`, `busybox` is `docker.io/library/busybox`). With `*`,
    /// the first path component is a registry when it contains `.` or `:` or is
    /// `localhost`, otherwise the pattern is a Docker Hub one; a pattern that starts with `*`
    /// is matched as it is against `registry/repository`.
    pub fn parse(text: &str) -> Result<TrackRule, String> {
        let written = text.trim().to_string();
        if written.is_empty() {
            return Err("an empty repository name".into());
        }
        let last = written.rsplit('/').next().unwrap_or(&written);
        if written.contains('@') || last.contains(':') {
            return Err(format!(
                "`{written}` names a tag or digest; name the repository only (e.g. docker.io/clastix/kubectl)"
            ));
        }
        let pattern = if !written.contains('*') {
            let reference = Reference::parse(&written).map_err(|e| e.to_string())?;
            format!("{}/{}", reference.registry(), reference.repository())
        } else if written.starts_with('*') {
            written.clone()
        } else {
            let (first, rest) = written.split_once('/').unwrap_or(("", &written));
            let is_registry = !first.is_empty()
                && (first.contains('.') || first.contains(':') || first == "localhost");
            let (registry, path) = if is_registry {
                (first, rest)
            } else {
                ("docker.io", written.as_str())
            };
            let registry = if registry == "index.docker.io" {
                "docker.io"
            } else {
                registry
            };
            if registry == "docker.io" && !path.contains('/') && path != "*" {
                format!("docker.io/library/{path}")
            } else {
                format!("{registry}/{path}")
            }
        };
        Ok(TrackRule { written, pattern })
    }

    /// Whether the rule names the repository of `reference`.
    pub fn matches(&self, reference: &Reference) -> bool {
        let name = format!("{}/{}", reference.registry(), reference.repository());
        glob(&self.pattern, &name)
    }

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
    /// A rule names its repository.
    Rule(String),
}

/// Everything `check` and `post-render` need to decide about fallbacks.
#[derive(Debug, Clone)]
pub struct Policy {
    pub kube_version: Option<KubeVersion>,
    pub rules: Vec<TrackRule>,
    pub fallback: FallbackPolicy,
}

/// The flags both commands share, as given.
pub struct PolicyFlags<'a> {
    pub kube_version: Option<&'a str>,
    pub track: &'a [String],
    pub max_skew: Option<u64>,
    pub prefer: Option<PreferArg>,
}

impl Policy {
    /// Flags first, then the config file, then the defaults (±1 minor, older first).
    pub fn from_flags(flags: &PolicyFlags<'_>, config: &Config) -> Result<Policy, Failure> {
        let kube_version = flags
            .kube_version
            .map(KubeVersion::parse)
            .transpose()
            .map_err(|e| Failure::bad_input(anyhow!("--kube-version: {e}")))?;
        let mut rules = Vec::new();
        for text in flags.track {
            rules.push(
                TrackRule::parse(text).map_err(|e| Failure::bad_input(anyhow!("--track: {e}")))?,
            );
        }
        for text in &config.policy.track {
            rules.push(
                TrackRule::parse(text)
                    .map_err(|e| Failure::bad_input(anyhow!("config policy.track: {e}")))?,
            );
        }
        let defaults = FallbackPolicy::default();
        let prefer = match (flags.prefer, config.policy.prefer) {
            (Some(PreferArg::Older), _) | (None, Some(PreferConfig::Older)) => Prefer::Older,
            (Some(PreferArg::Newer), _) | (None, Some(PreferConfig::Newer)) => Prefer::Newer,
            (None, None) => defaults.prefer,
        };
        Ok(Policy {
            kube_version,
            rules,
            fallback: FallbackPolicy {
                max_skew: flags
                    .max_skew
                    .or(config.policy.max_skew)
                    .unwrap_or(defaults.max_skew),
                prefer,
            },
        })
    }

    /// Whether `reference` tracks the Kubernetes version, and why. A reference pinned by
    /// digest never does: its content is fixed, whatever its tag says.
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
        assert!(rule("docker.io/*").matches(&r("busybox")));
        assert!(rule("localhost:5000/k*l").matches(&r("localhost:5000/kubectl")));
        assert!(TrackRule::parse("clastix/kubectl:v1.32").is_err());
        assert!(TrackRule::parse("a@sha256:00").is_err());
        assert!(TrackRule::parse(" ").is_err());
    }

    #[test]
    fn tags_track_the_kube_version() {
        let policy = Policy {
            kube_version: Some(KubeVersion::parse("v1.32.1-eks-5e0fdde").unwrap()),
            rules: vec![rule("ghcr.io/org/*")],
            fallback: FallbackPolicy::default(),
        };
        assert_eq!(
            policy.tracks(&r("clastix/kubectl:v1.32")),
            Some(Tracks::Tag)
        );
        assert_eq!(
            policy.tracks(&r("bitnami/kubectl:1.32.0-debian-12")),
            Some(Tracks::Tag)
        );
        assert_eq!(policy.tracks(&r("clastix/kubectl:v1.31")), None);
        assert_eq!(policy.tracks(&r("clastix/kubectl")), None);
        assert_eq!(policy.tracks(&r("nginx:2.32")), None);
        assert_eq!(
            policy.tracks(&r("ghcr.io/org/kubectl:latest")),
            Some(Tracks::Rule("ghcr.io/org/*".into()))
        );
        let pinned = format!("clastix/kubectl:v1.32@sha256:{}", "0".repeat(64));
        assert_eq!(policy.tracks(&r(&pinned)), None);
    }
}
