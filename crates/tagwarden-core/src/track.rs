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
//!
//! # After an upgrade
//!
//! An image that tracks today's version through its tag will ask for another tag once
//! the cluster runs another version: [`tag_after_upgrade`] re-derives it in the image's
//! own tag format (the same prefix, suffix and number of parts). A `major.minor` tag
//! becomes exactly the target's (`v1.32` → `v1.33`); a tag with a patch becomes the
//! highest published patch of the target's minor ([`TagAfterUpgrade::choose`]:
//! `1.32.4` → `1.33.10` among `1.33.0`, `1.33.2`, `1.33.10`), or its first patch
//! (`1.33.0`) when none is published yet, so that the image shows up as missing.
//!
//! ```
//! use tagwarden_core::track::{tag_after_upgrade, TagAfterUpgrade};
//! use tagwarden_core::{KubeVersion, Reference};
//!
//! let (today, target) = (KubeVersion::parse("1.32.5").unwrap(), KubeVersion::parse("1.33").unwrap());
//! let kubectl = Reference::parse("clastix/kubectl:v1.32").unwrap();
//! let after = tag_after_upgrade(&kubectl, &today, &target).unwrap();
//! assert_eq!(after.choose(Vec::<&str>::new()).as_str(), "v1.33");
//!
//! let bitnami = Reference::parse("bitnami/kubectl:1.32.4-debian-12").unwrap();
//! let after = tag_after_upgrade(&bitnami, &today, &target).unwrap();
//! assert!(after.needs_published_tags());
//! let published = ["1.33.2-debian-12", "1.33.10-debian-12", "1.33.11", "1.34.0-debian-12"];
//! assert_eq!(after.choose(published).as_str(), "1.33.10-debian-12");
//! assert_eq!(after.choose(Vec::<&str>::new()).as_str(), "1.33.0-debian-12");
//!
//! // Not today's minor, or pinned by digest: the image keeps its tag.
//! let nginx = Reference::parse("nginx:1.27").unwrap();
//! assert_eq!(tag_after_upgrade(&nginx, &today, &target), None);
//! ```

use crate::policy::highest_of_minor;
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
        if let Some(kube) = &self.kube_version
            && version_tag_of(reference, kube).is_some()
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

/// The tag of `reference` when it is a version tag (at least `major.minor`) of `kube`'s
/// minor and the reference is not pinned by digest: the tags that track `kube`.
fn version_tag_of(reference: &Reference, kube: &KubeVersion) -> Option<VersionTag> {
    if reference.digest().is_some() {
        return None;
    }
    VersionTag::parse(reference.tag()?).filter(|version| {
        version.parts().len() >= 2
            && version.major() == kube.major
            && version.minor() == Some(kube.minor)
    })
}

/// The tag an image that tracks today's Kubernetes version through its tag asks for once
/// the cluster runs the target version, in the image's own tag format. Made by
/// [`tag_after_upgrade`]; see the [module documentation](self#after-an-upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagAfterUpgrade {
    /// A `major.minor` tag (`v1.32`, `1.32-alpine`): exactly this tag for the target
    /// (`v1.33`, `1.33-alpine`).
    Exact(VersionTag),
    /// A tag with a patch (`1.32.4`, `v1.32.0-debian-12`): the highest published tag of
    /// the target's minor in the same shape, chosen by [`TagAfterUpgrade::choose`] from
    /// the repository's tags.
    HighestPatch {
        /// The target minor's first patch in the same shape (`1.33.0`,
        /// `v1.33.0-debian-12`): the tag asked for when no patch of the minor is
        /// published, so that the image is reported missing (and gets its fallback).
        if_none_published: VersionTag,
    },
}

impl TagAfterUpgrade {
    /// Whether [`choose`](Self::choose) depends on the repository's published tags
    /// (only for tags with a patch).
    pub fn needs_published_tags(&self) -> bool {
        matches!(self, TagAfterUpgrade::HighestPatch { .. })
    }

    /// The tag to ask for after the upgrade, given the repository's published tags
    /// (ignored for [`TagAfterUpgrade::Exact`]): the highest tag of the target's minor
    /// in the same shape ([`highest_of_minor`]), else the minor's first patch. The
    /// answer always has the original tag's prefix, suffix and number of parts, and the
    /// target's `major.minor`.
    pub fn choose<'a>(&self, published: impl IntoIterator<Item = &'a str>) -> VersionTag {
        match self {
            TagAfterUpgrade::Exact(tag) => tag.clone(),
            TagAfterUpgrade::HighestPatch { if_none_published } => {
                let (major, minor) = (
                    if_none_published.major(),
                    if_none_published.minor().unwrap_or(0),
                );
                highest_of_minor(if_none_published, major, minor, published)
                    .unwrap_or_else(|| if_none_published.clone())
            }
        }
    }

    /// The tag for people, with `x` for a patch still to be chosen: `v1.33`, `1.33.x`,
    /// `1.33.x-debian-12`.
    pub fn pattern(&self) -> String {
        match self {
            TagAfterUpgrade::Exact(tag) => tag.as_str().to_string(),
            TagAfterUpgrade::HighestPatch { if_none_published } => {
                let tag = if_none_published;
                let patches = vec!["x"; tag.parts().len().saturating_sub(2)].join(".");
                format!(
                    "{}{}.{}.{patches}{}",
                    tag.prefix(),
                    tag.major(),
                    tag.minor().unwrap_or(0),
                    tag.suffix()
                )
            }
        }
    }
}

/// What the tag of `reference` becomes when the cluster moves from `today`'s Kubernetes
/// version to `target`'s (an upgrade or a downgrade); `None` when the image keeps its
/// tag: its tag is not a version tag of today's `major.minor` (whether or not a track
/// rule names it), it is pinned by digest (its content is fixed), or the target has
/// today's `major.minor`.
///
/// The new tag keeps the image's own format: the same prefix and suffix, the same number
/// of parts. See [`TagAfterUpgrade`].
pub fn tag_after_upgrade(
    reference: &Reference,
    today: &KubeVersion,
    target: &KubeVersion,
) -> Option<TagAfterUpgrade> {
    if today.major_minor() == target.major_minor() {
        return None;
    }
    let tag = version_tag_of(reference, today)?;
    let mut parts = vec![0; tag.parts().len()];
    parts[0] = target.major;
    parts[1] = target.minor;
    let retargeted = tag.with_parts(&parts);
    Some(if parts.len() == 2 {
        TagAfterUpgrade::Exact(retargeted)
    } else {
        TagAfterUpgrade::HighestPatch {
            if_none_published: retargeted,
        }
    })
}

/// The Kubernetes version images are judged at, and whether that makes the run an
/// upgrade preflight: a version asked for (`scan --kube-version`) whose `major.minor` is
/// not the cluster's today. Then every image whose tag tracks today's version is asked
/// about at the target's tag ([`tag_after_upgrade`]); a version of today's minor (another
/// patch) is no upgrade, and images are judged at it as they are.
///
/// ```
/// use tagwarden_core::track::JudgedAt;
/// use tagwarden_core::KubeVersion;
///
/// let today = KubeVersion::parse("v1.32.4-eks-5e0fdde").unwrap();
/// let upgrade = JudgedAt::new(today.clone(), Some(KubeVersion::parse("1.33").unwrap()));
/// assert_eq!(upgrade.upgrade_from(), Some(&today));
/// assert_eq!(upgrade.target().map(|v| v.major_minor()), Some((1, 33)));
///
/// let patch = JudgedAt::new(today.clone(), Some(KubeVersion::parse("1.32.1").unwrap()));
/// assert!(!patch.is_preflight());
/// assert_eq!(patch.version().patch, Some(1));
/// assert!(!JudgedAt::new(today, None).is_preflight());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedAt {
    today: KubeVersion,
    version: KubeVersion,
}

impl JudgedAt {
    /// The cluster runs `today`; `asked` is the version the user asked to judge at.
    pub fn new(today: KubeVersion, asked: Option<KubeVersion>) -> JudgedAt {
        let version = asked.unwrap_or_else(|| today.clone());
        JudgedAt { today, version }
    }

    /// The cluster's version today.
    pub fn today(&self) -> &KubeVersion {
        &self.today
    }

    /// The version images are judged at (tracked): the one asked for, else today's.
    pub fn version(&self) -> &KubeVersion {
        &self.version
    }

    /// True when the version judged at is another `major.minor` than today's.
    pub fn is_preflight(&self) -> bool {
        self.version.major_minor() != self.today.major_minor()
    }

    /// Today's version, when this is an upgrade preflight.
    pub fn upgrade_from(&self) -> Option<&KubeVersion> {
        self.is_preflight().then_some(&self.today)
    }

    /// The target version, when this is an upgrade preflight.
    pub fn target(&self) -> Option<&KubeVersion> {
        self.is_preflight().then_some(&self.version)
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

    fn after(image: &str, today: &str, target: &str) -> Option<TagAfterUpgrade> {
        tag_after_upgrade(
            &r(image),
            &KubeVersion::parse(today).unwrap(),
            &KubeVersion::parse(target).unwrap(),
        )
    }

    /// The tag asked for after the upgrade, given published tags, as text.
    fn chosen(image: &str, today: &str, target: &str, published: &[&str]) -> Option<String> {
        after(image, today, target).map(|a| a.choose(published.iter().copied()).to_string())
    }

    #[test]
    fn major_minor_tags_become_the_target_tag_in_their_own_format() {
        let up = |image| chosen(image, "v1.32.3-eks-1", "1.33", &[]);
        assert_eq!(up("clastix/kubectl:v1.32").as_deref(), Some("v1.33"));
        assert_eq!(up("kubectl:1.32").as_deref(), Some("1.33"));
        assert_eq!(up("kubectl:1.32-alpine").as_deref(), Some("1.33-alpine"));
        assert_eq!(up("kubectl:release-1.32").as_deref(), Some("release-1.33"));
        // Leading zeros are today's spelling, not a format: the target is plain decimal.
        assert_eq!(up("kubectl:v01.32").as_deref(), Some("v1.33"));
        assert!(
            !after("kubectl:v1.32", "1.32", "1.33")
                .unwrap()
                .needs_published_tags()
        );
        // Downgrades and other majors work the same way.
        assert_eq!(
            chosen("kubectl:v1.32", "1.32", "1.31", &[]).as_deref(),
            Some("v1.31")
        );
        assert_eq!(
            chosen("kubectl:v1.32", "1.32", "2.0", &[]).as_deref(),
            Some("v2.0")
        );
    }

    #[test]
    fn patch_tags_become_the_highest_published_patch_of_the_target_minor() {
        let published = [
            "1.33.0",
            "1.33.2",
            "1.33.10",
            "1.34.0",
            "v1.33.11",
            "1.33.12-debian-12",
            "1.33",
            "1.33.13.1",
            "1.32.9",
            "latest",
        ];
        let up = |image| chosen(image, "1.32", "1.33", &published);
        assert_eq!(up("bitnami/kubectl:1.32.4").as_deref(), Some("1.33.10"));
        assert_eq!(
            up("bitnami/kubectl:1.32.0-debian-12").as_deref(),
            Some("1.33.12-debian-12")
        );
        assert_eq!(up("bitnami/kubectl:v1.32.4").as_deref(), Some("v1.33.11"));
        assert_eq!(up("kubectl:1.32.4.2").as_deref(), Some("1.33.13.1"));
        // Nothing of the minor in this format: its first patch, which will be missing.
        assert_eq!(
            up("kubectl:1.32.4-alpine").as_deref(),
            Some("1.33.0-alpine")
        );
        assert_eq!(
            chosen("kubectl:1.32.4", "1.32", "1.31", &published).as_deref(),
            Some("1.31.0")
        );
        let suffixed = after("kubectl:1.32.4-debian-12", "1.32", "1.33").unwrap();
        assert!(suffixed.needs_published_tags());
        assert_eq!(suffixed.pattern(), "1.33.x-debian-12");
        assert_eq!(
            after("kubectl:v1.32.4.1", "1.32", "1.33")
                .unwrap()
                .pattern(),
            "v1.33.x.x"
        );
    }

    #[test]
    fn images_that_do_not_follow_today_keep_their_tag() {
        let pinned = format!("clastix/kubectl:v1.32@sha256:{}", "0".repeat(64));
        for image in [
            "clastix/kubectl:v1.31",
            "clastix/kubectl:v1.33",
            "clastix/kubectl",
            "clastix/kubectl:latest",
            "kubectl:v1",
            "nginx:2.32",
            pinned.as_str(),
        ] {
            assert_eq!(after(image, "1.32", "1.33"), None, "{image}");
        }
        // The same minor: nothing changes, whatever the patch.
        assert_eq!(after("kubectl:v1.32.4", "1.32.1", "1.32.7"), None);
        assert_eq!(after("kubectl:v1.32", "1.32", "1.32"), None);
    }
}
