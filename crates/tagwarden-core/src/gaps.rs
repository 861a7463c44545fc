//! The release-gap report: which tags an image *should* have, one per upstream
//! Kubernetes release, and which of them are not published.
//!
//! A publisher of a kubectl-like image follows Kubernetes: every upstream
//! release (or every minor) should become a tag. This module decides, without
//! the network, what that means:
//!
//! 1. **Upstream versions** ([`UpstreamVersion`]) come from an upstream image's
//!    tags ([`versions_from_tags`]: `v1.32.0`, `v1.32.0-rc.1`, …; everything
//!    else is skipped) or from a list the user typed ([`UpstreamVersion::parse`]).
//! 2. **Selection** ([`Selection`]): GA releases only unless pre-releases are
//!    asked for, and nothing below a lower bound ([`Selection::since`]).
//! 3. **Expected tags** ([`expected_tags`]): each [`TagFormat`] renders every
//!    selected version; versions that render the same tag collapse into one
//!    expectation, represented by the newest of them. So `v{major}.{minor}`
//!    expects one tag per minor (its version is the newest release of that
//!    minor, the one a publisher would build it from) and
//!    `v{major}.{minor}.{patch}` one per release. A pre-release rendered with a
//!    `{patch}` format keeps its pre-release after the patch
//!    (`v1.33.0-rc.1`), so it never claims the GA tag.
//! 4. **The gap set** ([`partition`]): expected tags that are published are
//!    *present*, the others *missing*. Nothing else: `present ∪ missing` is
//!    exactly the expected set, and the two never share a tag.
//!
//! ```
//! use tagwarden_core::TagFormat;
//! use tagwarden_core::gaps::{Selection, expected_tags, partition, select, versions_from_tags};
//!
//! let upstream = versions_from_tags(["v1.31.3", "v1.31.4", "v1.32.0", "v1.32.0-rc.1", "latest"]);
//! let versions = select(&upstream, &Selection::default());
//! let per_minor = TagFormat::parse("v{major}.{minor}").unwrap();
//! let expected = expected_tags(&versions, &[per_minor]).unwrap();
//! let report = partition(&expected, ["v1.31", "latest"]);
//! assert_eq!(report.present[0].tag, "v1.31");
//! assert_eq!(report.present[0].version.to_string(), "1.31.4");
//! assert_eq!(report.missing[0].tag, "v1.32");
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use crate::policy::infer_expected_tag;
use crate::tag::{TagFormat, TagFormatError, VersionTag};

/// Longest input quoted back in an error message, in characters.
const MAX_SHOWN: usize = 80;

/// The kind of an upstream pre-release, in release order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreKind {
    /// `-alpha.N`
    Alpha,
    /// `-beta.N`
    Beta,
    /// `-rc.N`
    Rc,
}

impl PreKind {
    /// `"alpha"`, `"beta"` or `"rc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PreKind::Alpha => "alpha",
            PreKind::Beta => "beta",
            PreKind::Rc => "rc",
        }
    }
}

/// An upstream pre-release such as `rc.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prerelease {
    /// alpha, beta or rc.
    pub kind: PreKind,
    /// The number after the dot.
    pub number: u64,
}

impl fmt::Display for Prerelease {
    /// `rc.1`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.as_str(), self.number)
    }
}

/// An upstream Kubernetes release: `1.32.0`, `1.33.0-rc.1`, or a bare minor
/// `1.32` when the user listed only minors.
///
/// Ordered by release precedence: the numbers (a missing patch before patch
/// 0), then alpha < beta < rc < GA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamVersion {
    /// Major version (at least 1).
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version; `None` only for versions typed as `MAJOR.MINOR`.
    pub patch: Option<u64>,
    /// The pre-release, `None` for a GA release.
    pub pre: Option<Prerelease>,
}

impl UpstreamVersion {
    /// Parse a version as a user writes it: `[v]MAJOR.MINOR[.PATCH][-(alpha|beta|rc).N]`
    /// (surrounding whitespace allowed). A pre-release needs a patch.
    ///
    /// ```
    /// use tagwarden_core::gaps::UpstreamVersion;
    /// assert_eq!(UpstreamVersion::parse("v1.33.0-rc.1").unwrap().to_string(), "1.33.0-rc.1");
    /// assert_eq!(UpstreamVersion::parse("1.32").unwrap().patch, None);
    /// assert!(UpstreamVersion::parse("1.32.0-eks-5e0fdde").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<UpstreamVersion, GapsError> {
        let trimmed = text.trim();
        parse_version(trimmed, false).map_err(|reason| GapsError::BadVersion {
            input: shown(trimmed),
            reason,
        })
    }

    /// Parse an upstream image tag: `[v]MAJOR.MINOR.PATCH[-(alpha|beta|rc).N]`,
    /// nothing else. `None` for every other tag (`latest`, `v1.32`,
    /// `1.32.0-debian-12`, signature tags, …).
    pub fn from_tag(tag: &str) -> Option<UpstreamVersion> {
        parse_version(tag, true).ok()
    }

    /// True for a GA release (no pre-release).
    pub fn is_ga(&self) -> bool {
        self.pre.is_none()
    }

    /// The numbers only, a missing patch counted as 0: what a lower bound ([`Selection::since`]) compares.
    pub fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }
}

/// Why a version text is not an upstream version: the reason, or `None` when
/// it is simply not shaped like one.
fn parse_version(text: &str, strict_tag: bool) -> Result<UpstreamVersion, String> {
    let expected =
        "expected [v]MAJOR.MINOR[.PATCH][-(alpha|beta|rc).N], e.g. 1.32.0 or v1.33.0-rc.1";
    if text.is_empty() {
        return Err(format!("it is empty ({expected})"));
    }
    let body = text.strip_prefix('v').unwrap_or(text);
    let (core, pre) = match body.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (body, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&numbers.len()) || (strict_tag && numbers.len() != 3) {
        return Err(format!("it is not a Kubernetes version ({expected})"));
    }
    let mut values = [0u64; 3];
    for (i, part) in numbers.iter().enumerate() {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{part:?} is not a number ({expected})"));
        }
        values[i] = part
            .parse()
            .map_err(|_| format!("{part:?} is too large ({expected})"))?;
    }
    if values[0] == 0 {
        return Err(format!(
            "major version 0 is not a Kubernetes release ({expected})"
        ));
    }
    let patch = (numbers.len() == 3).then_some(values[2]);
    let pre = match pre {
        None => None,
        Some(pre) => {
            if patch.is_none() {
                return Err(format!(
                    "a pre-release needs a patch number, e.g. 1.33.0-rc.1 ({expected})"
                ));
            }
            let Some((kind, number)) = pre.split_once('.') else {
                return Err(format!(
                    "pre-release {pre:?} is not alpha.N, beta.N or rc.N ({expected})"
                ));
            };
            let kind = match kind {
                "alpha" => PreKind::Alpha,
                "beta" => PreKind::Beta,
                "rc" => PreKind::Rc,
                _ => {
                    return Err(format!(
                        "pre-release {pre:?} is not alpha.N, beta.N or rc.N ({expected})"
                    ));
                }
            };
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "pre-release {pre:?} is not alpha.N, beta.N or rc.N ({expected})"
                ));
            }
            let number = number
                .parse()
                .map_err(|_| format!("pre-release number {number:?} is too large"))?;
            Some(Prerelease { kind, number })
        }
    };
    Ok(UpstreamVersion {
        major: values[0],
        minor: values[1],
        patch,
        pre,
    })
}

impl fmt::Display for UpstreamVersion {
    /// `1.32.0`, `1.33.0-rc.1`, `1.32`; never a leading `v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl Ord for UpstreamVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for UpstreamVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The upstream releases among an image's tags, sorted and without duplicates
/// (`v1.32.0` and `1.32.0` are one release). Tags that are not
/// `[v]MAJOR.MINOR.PATCH[-(alpha|beta|rc).N]` are skipped.
pub fn versions_from_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<UpstreamVersion> {
    tags.into_iter()
        .filter_map(UpstreamVersion::from_tag)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Which upstream versions count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep alpha, beta and rc releases too (default: GA only).
    pub include_prereleases: bool,
    /// Keep only versions whose numbers are at least these (`1.28` is
    /// `(1, 28, 0)`); pre-releases of that release count as at it.
    pub since: Option<(u64, u64, u64)>,
}

impl Selection {
    /// Whether `version` counts.
    pub fn keeps(&self, version: &UpstreamVersion) -> bool {
        (self.include_prereleases || version.is_ga())
            && self.since.is_none_or(|since| version.numbers() >= since)
    }
}

/// Parse a lower bound for [`Selection::since`]: `[v]MAJOR.MINOR[.PATCH]`.
pub fn parse_since(text: &str) -> Result<(u64, u64, u64), GapsError> {
    let version = UpstreamVersion::parse(text)?;
    if version.pre.is_some() {
        return Err(GapsError::BadVersion {
            input: shown(text.trim()),
            reason: "a lower bound is MAJOR.MINOR[.PATCH], without a pre-release, e.g. 1.28".into(),
        });
    }
    Ok(version.numbers())
}

/// The versions `selection` keeps, sorted, without duplicates.
pub fn select(versions: &[UpstreamVersion], selection: &Selection) -> Vec<UpstreamVersion> {
    versions
        .iter()
        .filter(|v| selection.keeps(v))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A tag the image should have, and the upstream version it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpectedTag {
    /// The newest upstream version that renders to this tag.
    pub version: UpstreamVersion,
    /// The tag.
    pub tag: String,
}

/// The tag `format` gives `version`. A pre-release rendered by a format with
/// `{patch}` carries its pre-release right after the patch
/// (`v{major}.{minor}.{patch}` → `v1.33.0-rc.1`); a format without `{patch}`
/// ignores it (`v{major}.{minor}` → `v1.33`).
pub fn render(format: &TagFormat, version: &UpstreamVersion) -> Result<String, GapsError> {
    let error = |source| GapsError::Render {
        version: version.to_string(),
        format: format.as_str().to_owned(),
        source,
    };
    match &version.pre {
        Some(pre) if format.needs_patch() => {
            let with_pre = format
                .as_str()
                .replace("{patch}", &format!("{{patch}}-{pre}"));
            TagFormat::parse(&with_pre)
                .and_then(|f| f.render(version.major, version.minor, version.patch))
                .map_err(error)
        }
        _ => format
            .render(version.major, version.minor, version.patch)
            .map_err(error),
    }
}

/// Every tag the formats expect for the versions: one per distinct rendered
/// tag, represented by the newest version that renders it. Sorted by version,
/// then tag.
///
/// Fails when a format needs `{patch}` and a version has none (version
/// `1.32` with `v{major}.{minor}.{patch}`), or a tag would be too long.
pub fn expected_tags(
    versions: &[UpstreamVersion],
    formats: &[TagFormat],
) -> Result<Vec<ExpectedTag>, GapsError> {
    let mut by_tag: BTreeMap<String, UpstreamVersion> = BTreeMap::new();
    for format in formats {
        for version in versions {
            let tag = render(format, version)?;
            match by_tag.get(&tag) {
                Some(newest) if newest >= version => {}
                _ => {
                    by_tag.insert(tag, version.clone());
                }
            }
        }
    }
    let mut expected: Vec<ExpectedTag> = by_tag
        .into_iter()
        .map(|(tag, version)| ExpectedTag { version, tag })
        .collect();
    expected.sort();
    Ok(expected)
}

/// Expected tags split by whether they are published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapReport {
    /// Published, in the order of the expected list.
    pub present: Vec<ExpectedTag>,
    /// Not published, in the order of the expected list.
    pub missing: Vec<ExpectedTag>,
}

/// Split `expected` by whether its tag is in `published` (exact text match,
/// as a registry compares tags).
pub fn partition<'a>(
    expected: &[ExpectedTag],
    published: impl IntoIterator<Item = &'a str>,
) -> GapReport {
    let published: HashSet<&str> = published.into_iter().collect();
    let (present, missing) = expected
        .iter()
        .cloned()
        .partition(|e| published.contains(e.tag.as_str()));
    GapReport { present, missing }
}

/// The template a version tag follows: `v1.31` → `v{major}.{minor}`,
/// `1.31.4-debian-12` → `{major}.{minor}.{patch}-debian-12`. `None` unless the
/// tag has two or three numeric parts (the shapes a Kubernetes version fills).
pub fn format_of_tag(tag: &VersionTag) -> Option<TagFormat> {
    let numbers = match tag.parts().len() {
        2 => "{major}.{minor}",
        3 => "{major}.{minor}.{patch}",
        _ => return None,
    };
    TagFormat::parse(&format!("{}{numbers}{}", tag.prefix(), tag.suffix())).ok()
}

/// Infer the tag format an image uses from its published tags, for the
/// upstream version `newest` (see [`infer_expected_tag`] for how schemes are
/// ranked). `None` when no published tag fits.
pub fn infer_format<'a>(
    newest: &UpstreamVersion,
    published: impl IntoIterator<Item = &'a str>,
) -> Option<TagFormat> {
    let tag = infer_expected_tag(newest.major, newest.minor, newest.patch, published)?;
    format_of_tag(&tag)
}

/// Why the gap report cannot be computed from this input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GapsError {
    /// A version the user gave is not an upstream Kubernetes version.
    #[error("{input:?}: {reason}")]
    BadVersion {
        /// The offending input (cut to 80 characters).
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A format cannot render a version.
    #[error("cannot render version {version} with tag format {format:?}: {source}")]
    Render {
        /// The version.
        version: String,
        /// The format as given.
        format: String,
        /// Why.
        source: TagFormatError,
    },
}

fn shown(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> UpstreamVersion {
        UpstreamVersion::parse(s).unwrap()
    }

    #[test]
    fn tags_that_are_not_releases_are_skipped() {
        let got = versions_from_tags([
            "v1.32.0",
            "1.32.0",
            "v1.32",
            "latest",
            "v1.32.0-rc.1",
            "v1.32.0-debian-12",
            "sha256-abc.sig",
            "v0.1.0",
            "v1.33.0-alpha.0",
            "v1.33.0-gamma.1",
            "v1.31.99999999999999999999999",
        ]);
        let texts: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["1.32.0-rc.1", "1.32.0", "1.33.0-alpha.0"]);
    }

    #[test]
    fn precedence_puts_prereleases_before_ga() {
        let mut list = [
            v("1.33.0"),
            v("1.33.0-rc.0"),
            v("1.33.0-alpha.2"),
            v("1.33.0-beta.0"),
            v("1.32"),
            v("1.32.0"),
            v("1.33.0-alpha.10"),
        ];
        list.sort();
        let texts: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "1.32",
                "1.32.0",
                "1.33.0-alpha.2",
                "1.33.0-alpha.10",
                "1.33.0-beta.0",
                "1.33.0-rc.0",
                "1.33.0"
            ]
        );
    }

    #[test]
    fn user_versions_are_checked() {
        for bad in [
            "",
            "1",
            "1.x",
            "0.3.1",
            "1.32-rc.1",
            "1.32.0-eks-1",
            "1.2.3.4",
        ] {
            let err = UpstreamVersion::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("expected") || err.contains("pre-release"),
                "{bad}: {err}"
            );
        }
        assert_eq!(v(" v1.31.4 ").to_string(), "1.31.4");
    }

    #[test]
    fn prerelease_keeps_its_suffix_with_a_patch_format() {
        let per_patch = TagFormat::parse("v{major}.{minor}.{patch}-debian").unwrap();
        let per_minor = TagFormat::parse("v{major}.{minor}").unwrap();
        let rc = v("1.33.0-rc.1");
        assert_eq!(render(&per_patch, &rc).unwrap(), "v1.33.0-rc.1-debian");
        assert_eq!(render(&per_minor, &rc).unwrap(), "v1.33");
    }

    #[test]
    fn per_minor_is_represented_by_its_newest_release() {
        let versions = [v("1.31.3"), v("1.31.4"), v("1.32.0"), v("1.31.1")];
        let format = TagFormat::parse("v{major}.{minor}").unwrap();
        let got = expected_tags(&versions, &[format]).unwrap();
        let pairs: Vec<(String, &str)> = got
            .iter()
            .map(|e| (e.version.to_string(), e.tag.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("1.31.4".to_string(), "v1.31"),
                ("1.32.0".to_string(), "v1.32")
            ]
        );
    }

    #[test]
    fn a_patch_format_needs_patches() {
        let format = TagFormat::parse("{major}.{minor}.{patch}").unwrap();
        let err = expected_tags(&[v("1.32")], &[format]).unwrap_err();
        assert!(err.to_string().contains("needs {patch}"), "{err}");
    }

    #[test]
    fn selection_filters_prereleases_and_since() {
        let all = [v("1.27.9"), v("1.28.0-rc.1"), v("1.28.0"), v("1.29.1")];
        let since = parse_since("1.28").unwrap();
        let ga = select(
            &all,
            &Selection {
                include_prereleases: false,
                since: Some(since),
            },
        );
        assert_eq!(ga, [v("1.28.0"), v("1.29.1")]);
        let pre = select(
            &all,
            &Selection {
                include_prereleases: true,
                since: Some(since),
            },
        );
        assert_eq!(pre, [v("1.28.0-rc.1"), v("1.28.0"), v("1.29.1")]);
        assert!(parse_since("1.28.0-rc.1").is_err());
    }

    #[test]
    fn formats_are_read_off_tags() {
        let f = |t: &str| format_of_tag(&VersionTag::parse(t).unwrap()).map(|f| f.to_string());
        assert_eq!(f("v1.31").as_deref(), Some("v{major}.{minor}"));
        assert_eq!(
            f("1.31.4-debian-12").as_deref(),
            Some("{major}.{minor}.{patch}-debian-12")
        );
        assert_eq!(f("v1"), None);
        assert_eq!(f("1.2.3.4"), None);
        let inferred = infer_format(&v("1.32.0"), ["v1.30", "v1.31", "latest"]).unwrap();
        assert_eq!(inferred.as_str(), "v{major}.{minor}");
    }
}
