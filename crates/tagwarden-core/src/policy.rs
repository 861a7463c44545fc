//! Fallback policy: which published tags may stand in for a missing one, and
//! in what order they are tried.
//!
//! # The problem
//!
//! Charts often derive an image tag from the cluster version: Capsule asks for
//! `clastix/kubectl:v1.32` on a 1.32 cluster. When the publisher has not (yet)
//! pushed that tag, the pod never starts. Some published tag of the same
//! image is almost always an acceptable substitute, and this module decides
//! which ones, purely from the list of published tags.
//!
//! # The rules
//!
//! 1. **Same family only.** A candidate must be
//!    [compatible](crate::VersionTag::is_compatible) with the wanted tag (same
//!    prefix, same number of numeric parts, same suffix) and have the same
//!    major. `v1.31-alpine` may replace `v1.32-alpine`; `v1.31`, `1.31-alpine`
//!    and `v1.31.0-alpine` may not: they are other variants of the image.
//!    Nor may a pre-release replace a release (`v1.32.0b1` or `v1.32.0-rc.1`
//!    for `v1.32.1`: their suffix differs), nor a commit-hash tag (it is not
//!    a version tag at all).
//! 2. **A version needs a minor.** The wanted tag must have at least two
//!    numeric parts (`major.minor`); otherwise there is no notion of "nearby"
//!    and there are no candidates.
//! 3. **Same minor first.** A different patch of the same minor is the
//!    closest substitute: first the patches not above the wanted one (highest
//!    first), then the patches above it (highest first). With four or more
//!    parts, everything after the minor is compared the same way, part by
//!    part, numerically.
//! 4. **Then neighbouring minors, within the skew.** kubectl is supported
//!    within one minor version (older or newer) of the API server, so by
//!    default only minors at distance 1 qualify
//!    ([`FallbackPolicy::max_skew`]). Older minors come first, nearest first
//!    (minor−1, minor−2, …), then newer minors, nearest first; within a
//!    minor, the highest patch first. Older first because that is the
//!    direction the rest of the Kubernetes skew policy allows (kubelet,
//!    kube-proxy and the controllers may lag behind the API server, never
//!    lead it), and an older image is what was tested against the previous
//!    release; [`Prefer::Newer`] swaps the two groups, for images that need
//!    to know the newest API fields.
//!
//! The wanted tag itself is never a candidate (it is not published, or we
//! would not be here), and each published tag appears at most once.
//!
//! [`infer_expected_tag`] finds the wanted tag when only a Kubernetes version
//! is known, [`highest_of_minor`] the newest published patch of a minor in a
//! tag's own shape (what `1.32.4` becomes on a 1.33 cluster), and
//! [`explain_fallback`] says in one line why a candidate was chosen.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::tag::VersionTag;

/// The kubectl version-skew policy: a client is supported within one minor
/// version of the API server.
const KUBECTL_SKEW: u64 = 1;

/// Which neighbouring minors to try first after the same minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// Older minors (minor−1, minor−2, …) before newer ones. The default.
    #[default]
    Older,
    /// Newer minors (minor+1, minor+2, …) before older ones.
    Newer,
}

/// How far a fallback may stray from the wanted version, and in which
/// direction to look first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackPolicy {
    /// The largest allowed distance, in minors, between the wanted tag and a
    /// candidate. 0 allows only other patches of the same minor.
    pub max_skew: u64,
    /// Whether older or newer minors are tried first.
    pub prefer: Prefer,
}

impl Default for FallbackPolicy {
    /// The kubectl skew policy: ±1 minor, older first.
    fn default() -> Self {
        FallbackPolicy {
            max_skew: KUBECTL_SKEW,
            prefer: Prefer::Older,
        }
    }
}

/// A published tag that may stand in for the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The published tag.
    pub tag: VersionTag,
    /// The candidate's minor minus the wanted minor: −1 is one minor older,
    /// 0 the same minor, 2 two minors newer. Saturates at the `i64` bounds.
    pub minor_skew: i64,
}

/// Order the published tags that may replace the missing `wanted` tag, best
/// first. See the [module documentation](self) for the rules.
///
/// Tags in `published` that are not version tags, belong to another family
/// or major, equal `wanted`, or lie outside `policy.max_skew` are dropped;
/// duplicates are kept once. Among tags with the same numbers but different
/// spellings (`v1.31` and `v01.31`), the shorter spelling comes first, then
/// the lexicographically smaller.
///
/// ```
/// use tagwarden_core::{policy::candidates, FallbackPolicy, VersionTag};
/// let wanted = VersionTag::parse("v1.32").unwrap();
/// let found = candidates(&wanted, ["v1.30", "v1.31", "v1.33", "latest"], &FallbackPolicy::default());
/// let tags: Vec<_> = found.iter().map(|c| c.tag.as_str()).collect();
/// assert_eq!(tags, ["v1.31", "v1.33"]);
/// ```
pub fn candidates<'a>(
    wanted: &VersionTag,
    published: impl IntoIterator<Item = &'a str>,
    policy: &FallbackPolicy,
) -> Vec<Candidate> {
    let Some(wanted_minor) = wanted.minor() else {
        return Vec::new();
    };
    let wanted_tail = wanted.parts().get(2..).unwrap_or(&[]);

    // Same minor, split by the tail (patch, …) relative to the wanted one.
    let mut not_above = Vec::new();
    let mut above = Vec::new();
    // Other minors, keyed by skew.
    let mut by_skew: BTreeMap<i128, Vec<VersionTag>> = BTreeMap::new();

    for text in published {
        let Some(tag) = VersionTag::parse(text) else {
            continue;
        };
        if !wanted.is_compatible(&tag)
            || tag.major() != wanted.major()
            || tag.as_str() == wanted.as_str()
        {
            continue;
        }
        let Some(minor) = tag.minor() else {
            continue;
        };
        let skew = i128::from(minor) - i128::from(wanted_minor);
        if skew.unsigned_abs() > u128::from(policy.max_skew) {
            continue;
        }
        if skew != 0 {
            by_skew.entry(skew).or_default().push(tag);
        } else if tag.parts().get(2..).unwrap_or(&[]) <= wanted_tail {
            not_above.push(tag);
        } else {
            above.push(tag);
        }
    }

    // Split off the newer minors; what remains are the older ones. Both maps
    // iterate nearest first: older from −1 down, newer from +1 up.
    let newer = by_skew.split_off(&1);
    let older = by_skew.into_values().rev();
    let newer = newer.into_values();
    let neighbours: Vec<Vec<VersionTag>> = match policy.prefer {
        Prefer::Older => older.chain(newer).collect(),
        Prefer::Newer => newer.chain(older).collect(),
    };

    let mut out = Vec::new();
    for mut group in [not_above, above].into_iter().chain(neighbours) {
        group.sort_by(|a, b| {
            b.parts()
                .cmp(a.parts())
                .then_with(|| a.as_str().len().cmp(&b.as_str().len()))
                .then_with(|| a.as_str().cmp(b.as_str()))
        });
        // Identical texts sort next to each other.
        group.dedup();
        out.extend(group.into_iter().map(|tag| {
            let skew = i128::from(tag.minor().unwrap_or(0)) - i128::from(wanted_minor);
            Candidate {
                minor_skew: saturate(skew),
                tag,
            }
        }));
    }
    out
}

/// The highest published tag of the minor `major.minor` in the shape of
/// `shape`: the same prefix, suffix and number of numeric parts
/// ([`VersionTag::is_compatible`]), compared numerically part by part, so
/// `1.33.10` beats `1.33.2`. `None` when no such tag is published.
///
/// This is how an upgrade preflight re-derives a tag with a patch for the
/// target version: on a cluster going from 1.32 to 1.33, `kubectl:1.32.4`
/// becomes the newest `1.33.x` the repository publishes, never
/// `1.33.5-debian-12` or `v1.33.5` (other variants of the image), and never a
/// tag of another minor. Among spellings of the same numbers (`1.33.1` and
/// `1.33.01`) the shorter one wins, then the lexicographically smaller, as in
/// [`candidates`]. `shape`'s own numbers do not matter.
///
/// ```
/// use tagwarden_core::{policy::highest_of_minor, VersionTag};
/// let shape = VersionTag::parse("1.32.4").unwrap();
/// let published = ["1.33.0", "1.33.2", "1.33.10", "1.34.0", "1.33.11-debian-12", "v1.33.12"];
/// assert_eq!(highest_of_minor(&shape, 1, 33, published).unwrap().as_str(), "1.33.10");
/// assert_eq!(highest_of_minor(&shape, 1, 35, published), None);
/// ```
pub fn highest_of_minor<'a>(
    shape: &VersionTag,
    major: u64,
    minor: u64,
    published: impl IntoIterator<Item = &'a str>,
) -> Option<VersionTag> {
    published
        .into_iter()
        .filter_map(VersionTag::parse)
        .filter(|tag| {
            shape.is_compatible(tag) && tag.major() == major && tag.minor() == Some(minor)
        })
        .min_by(|a, b| {
            b.parts()
                .cmp(a.parts())
                .then_with(|| a.as_str().len().cmp(&b.as_str().len()))
                .then_with(|| a.as_str().cmp(b.as_str()))
        })
}

/// `value` as an `i64`, clamped to its range.
fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// A tag scheme: the family of a tag, without its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Scheme {
    prefix: String,
    parts: usize,
    suffix: String,
}

/// Infer the tag an image would use for Kubernetes `major.minor[.patch]` from
/// the tags the repository publishes, when a Kubernetes version is known but
/// no tag format was given.
///
/// The published version tags with this `major` and two or three numeric
/// parts are grouped by scheme (prefix, part count, suffix). Tags with four
/// or more parts are ignored: a Kubernetes version cannot fill them. A
/// three-part scheme needs `patch`, so it is skipped when `patch` is `None`.
/// Then:
///
/// 1. If the scheme's tag for this very version is published, that scheme
///    wins; among several, more parts first (`v1.31.4` over `v1.31`), then
///    as in 2.
/// 2. Otherwise the scheme that covers the most minors wins: an image that
///    publishes `v1.31` and `v1.31.0`…`v1.31.4` follows both schemes for one
///    minor each, so many patches do not outvote one tag per minor. Ties go
///    to fewer parts, then the empty suffix, then the smaller prefix text,
///    then the smaller suffix text.
///
/// Returns the tag rendered in the winning scheme (whether or not it is
/// published), or `None` when no published tag fits. [`infer_tag_scheme`]
/// says why as well.
///
/// ```
/// use tagwarden_core::policy::infer_expected_tag;
/// let tags = ["v1.29", "v1.30", "v1.31", "latest"];
/// assert_eq!(infer_expected_tag(1, 32, Some(0), tags).unwrap().as_str(), "v1.32");
/// ```
pub fn infer_expected_tag<'a>(
    major: u64,
    minor: u64,
    patch: Option<u64>,
    published: impl IntoIterator<Item = &'a str>,
) -> Option<VersionTag> {
    infer_tag_scheme(major, minor, patch, published).map(|scheme| scheme.expected)
}

/// The tag scheme [`infer_expected_tag`] chose, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferredScheme {
    /// The tag for the Kubernetes version in the chosen scheme.
    pub expected: VersionTag,
    /// True when `expected` itself is published (rule 1), false when the scheme won by
    /// the number of minors it covers (rule 2).
    pub exact: bool,
    /// How many distinct minors of the major the scheme's published tags cover.
    pub minors: usize,
    /// How many schemes were considered.
    pub schemes: usize,
}

impl InferredScheme {
    /// One clause for people: why this scheme, e.g. `v1.32 is published` or
    /// `its tags cover 4 minors of 1.x, the most of 2 schemes`.
    pub fn reason(&self) -> String {
        let major = self.expected.major();
        if self.exact {
            return format!("{} is published", self.expected);
        }
        let minors = if self.minors == 1 { "minor" } else { "minors" };
        match self.schemes {
            1 => format!(
                "the only scheme of the published {major}.x tags ({} {minors})",
                self.minors
            ),
            n => format!(
                "its published tags cover {} {minors} of {major}.x, the most of {n} schemes",
                self.minors
            ),
        }
    }
}

/// [`infer_expected_tag`], with what it found: see there for the rules.
pub fn infer_tag_scheme<'a>(
    major: u64,
    minor: u64,
    patch: Option<u64>,
    published: impl IntoIterator<Item = &'a str>,
) -> Option<InferredScheme> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut minors_of: HashMap<Scheme, HashSet<u64>> = HashMap::new();
    for text in published {
        if !seen.insert(text) {
            continue;
        }
        let Some(tag) = VersionTag::parse(text) else {
            continue;
        };
        let parts = tag.parts().len();
        if tag.major() != major || !(2..=3).contains(&parts) || (parts == 3 && patch.is_none()) {
            continue;
        }
        let scheme = Scheme {
            prefix: tag.prefix().to_owned(),
            parts,
            suffix: tag.suffix().to_owned(),
        };
        minors_of
            .entry(scheme)
            .or_default()
            .insert(tag.minor().unwrap_or(0));
    }
    let schemes = minors_of.len();

    let mut ranked: Vec<(Scheme, usize, VersionTag, bool)> = minors_of
        .into_iter()
        .filter_map(|(scheme, minors)| {
            let numbers = match (scheme.parts, patch) {
                (2, _) => format!("{major}.{minor}"),
                (_, Some(patch)) => format!("{major}.{minor}.{patch}"),
                (_, None) => return None,
            };
            let expected =
                VersionTag::parse(&format!("{}{numbers}{}", scheme.prefix, scheme.suffix))?;
            let published = seen.contains(expected.as_str());
            Some((scheme, minors.len(), expected, published))
        })
        .collect();

    ranked.sort_by(|(a, a_count, _, a_pub), (b, b_count, _, b_pub)| {
        let parts = if *a_pub && *b_pub {
            // Both exact: the more precise scheme.
            b.parts.cmp(&a.parts)
        } else {
            std::cmp::Ordering::Equal
        };
        b_pub
            .cmp(a_pub)
            .then(parts)
            .then_with(|| b_count.cmp(a_count))
            .then_with(|| a.parts.cmp(&b.parts))
            .then_with(|| b.suffix.is_empty().cmp(&a.suffix.is_empty()))
            .then_with(|| a.prefix.cmp(&b.prefix))
            .then_with(|| a.suffix.cmp(&b.suffix))
    });
    ranked
        .into_iter()
        .next()
        .map(|(_, minors, expected, exact)| InferredScheme {
            expected,
            exact,
            minors,
            schemes,
        })
}

/// How explanations name a skew window: `the kubectl skew policy of ±1` for kubectl's own
/// window (one minor), `a skew policy of ±N minors` for any other (kubectl's policy says
/// nothing about ±3, nor about images that are not kubectl).
///
/// ```
/// use tagwarden_core::policy::skew_policy_name;
/// assert_eq!(skew_policy_name(1), "the kubectl skew policy of ±1");
/// assert_eq!(skew_policy_name(100), "a skew policy of ±100 minors");
/// assert_eq!(skew_policy_name(0), "a skew policy of ±0 minors");
/// ```
pub fn skew_policy_name(max_skew: u64) -> String {
    if max_skew == KUBECTL_SKEW {
        format!("the kubectl skew policy of ±{max_skew}")
    } else {
        format!("a skew policy of ±{max_skew} minors")
    }
}

/// One line, for people, saying why `chosen` replaces the missing `wanted`.
///
/// Written for the candidate actually used, i.e. the first one of
/// [`candidates`] that worked:
///
/// - `v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1`
/// - `v1.32 is not published; v1.33 is 1 minor newer, within the kubectl skew policy of ±1`
/// - `v1.31.9 is not published; v1.31.4 is the highest published patch of 1.31 below it`
/// - `v1.31.2 is not published; v1.31.5 is a newer patch of the same minor 1.31`
/// - `v1.32 is not published; v01.32 is the same version, written differently`
///
/// A candidate outside the policy is described as such ("outside the kubectl
/// skew policy"); windows other than ±1 are "a skew policy of ±N minors"
/// ([`skew_policy_name`]). Never panics.
pub fn explain_fallback(
    wanted: &VersionTag,
    chosen: &Candidate,
    policy: &FallbackPolicy,
) -> String {
    let head = format!("{wanted} is not published; {}", chosen.tag);
    if chosen.tag.major() != wanted.major() || wanted.minor().is_none() {
        // Not something `candidates` returns; say no more than we know.
        return format!("{head} is used instead");
    }
    let skew = chosen.minor_skew;
    if skew != 0 {
        let distance = skew.unsigned_abs();
        let minors = if distance == 1 { "minor" } else { "minors" };
        let direction = if skew < 0 { "older" } else { "newer" };
        let within = if distance <= policy.max_skew {
            "within"
        } else {
            "outside"
        };
        return format!(
            "{head} is {distance} {minors} {direction}, {within} {}",
            skew_policy_name(policy.max_skew)
        );
    }
    let Some(minor) = chosen.tag.minor() else {
        return format!("{head} is used instead");
    };
    let series = format!("{}.{minor}", chosen.tag.major());
    let wanted_tail = wanted.parts().get(2..).unwrap_or(&[]);
    let chosen_tail = chosen.tag.parts().get(2..).unwrap_or(&[]);
    if chosen.tag.parts() == wanted.parts() {
        format!("{head} is the same version, written differently")
    } else if chosen_tail < wanted_tail {
        format!("{head} is the highest published patch of {series} below it")
    } else {
        format!("{head} is a newer patch of the same minor {series}")
    }
}
