//! tagwarden's tag semantics next to Renovate's "docker" versioning.
//!
//! The module documentation of `tagwarden_core::tag` says tagwarden follows Renovate's
//! docker versioning except in a few named points. This file holds the proof: every case of
//! Renovate's own test tables (`lib/modules/versioning/docker/index.spec.ts`: `isValid`,
//! `getMajor`/`getMinor`/`getPatch`, `isGreaterThan`, `isLessThanRange`, `equals`,
//! `getSatisfyingVersion`, `sortVersions`, `isCompatible`) as data, plus cases added here
//! around each difference. A row carries Renovate's answer as its table states it,
//! tagwarden's answer, and, where the two differ, the [`Difference`] that explains it.
//!
//! Each row asserts three things, each of which can fail:
//! - tagwarden's code gives tagwarden's answer;
//! - [`renovate`], a model of Renovate's rules written here, gives Renovate's answer (so a
//!   row that misquotes Renovate fails, and so do the properties below if the model drifts);
//! - the row names a difference exactly when the two answers differ.
//!
//! How Renovate's questions map onto tagwarden: `isValid` is [`VersionTag::parse`] giving
//! a tag; `isCompatible` is [`VersionTag::is_compatible`]; `isGreaterThan`, `equals`,
//! `isLessThanRange` and `getSatisfyingVersion` compare versions, i.e.
//! [`VersionTag::cmp_version`]; `sortVersions` sorts, i.e. the [`Ord`] of [`VersionTag`].
//! `isStable`, `valueToVersion` and `getNewValue` have no counterpart (tagwarden has no
//! stability filter, which is the reason for [`Difference::GluedTextIsSuffix`]).

use std::cmp::Ordering;
use std::fmt::Debug;

use proptest::prelude::*;
use tagwarden_core::policy::candidates;
use tagwarden_core::{FallbackPolicy, VersionTag};

/// Where, and why, tagwarden answers differently from Renovate. The texts say what
/// `tagwarden_core::tag`'s module documentation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// `3.7.0b1`: Renovate reads `b1` as a pre-release, which compatibility ignores.
    GluedTextIsSuffix,
    /// `v1.2.3` against `1.2.4`, `1.2.3-` against `1.2.4`: Renovate strips the `v` and
    /// reads an empty indicator after a trailing `-`.
    PrefixAndSuffixAsWritten,
    /// `release-1.2.3`, `V1.2`, `1.2.x`: Renovate accepts only `v`, numbers, glued word
    /// characters and a `-` indicator.
    AcceptsAnyText,
    /// `1.32` against `1.32.0`: Renovate puts the shorter, floating tag above.
    ShorterIsLower,
    /// `cmp_version` compares the numbers only; Renovate also orders by pre-release and
    /// indicator.
    NumbersOnly,
    /// Sorting a list of several families.
    ListingOrder,
}

impl Difference {
    /// The documented reason for keeping tagwarden's rule.
    fn reason(self) -> &'static str {
        match self {
            Difference::GluedTextIsSuffix => {
                "tagwarden has no stability filter: if glued text were a pre-release outside \
                 compatibility, a beta (3.7.0b5) would stand in for a missing release (3.7.1)"
            }
            Difference::PrefixAndSuffixAsWritten => {
                "a registry serves v1.32 and 1.32 (or 1.2.3- and 1.2.3) as different tags, \
                 possibly different builds; a fallback stays in the scheme asked for"
            }
            Difference::AcceptsAnyText => {
                "an odd tag only ever forms a family of its own, so accepting it as a version \
                 tag can never pick it for another family, and release-1.2.3 can resolve"
            }
            Difference::ShorterIsLower => {
                "a registry does not say which patch a floating tag points to, and tags of \
                 different lengths are never compatible, so no fallback compares them"
            }
            Difference::NumbersOnly => {
                "whether two tags may replace each other is is_compatible's question, asked \
                 first by every choice tagwarden makes; cmp_version then orders one family"
            }
            Difference::ListingOrder => {
                "across families Ord is a listing order, not 'newer than'; within a family it \
                 is Renovate's order, and fallbacks only ever order one family"
            }
        }
    }
}

/// A model of Renovate's docker versioning (`lib/modules/versioning/docker/index.ts`),
/// written from its rules: strip one leading `v`; split at `-`; the first piece must be
/// `\d+(\.\d+)*\w*` (numbers, then a pre-release glued to them); the rest, joined by `-`,
/// is the compatibility indicator; a tag of 7 to 40 lowercase hex characters that is not
/// all digits is a git commit. Numbers are `u64` here (Renovate uses floats); the cases
/// below stay far from the limit. Texts compare by bytes where Renovate uses
/// `localeCompare`; the two agree on the lowercase letters and digits used below.
mod renovate {
    use std::cmp::Ordering;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Version {
        pub release: Vec<u64>,
        pub prerelease: String,
        pub suffix: String,
    }

    fn is_commit(tag: &str) -> bool {
        (7..=40).contains(&tag.len())
            && tag
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && !tag.chars().all(|c| c.is_ascii_digit())
    }

    pub fn parse(tag: &str) -> Option<Version> {
        if tag.is_empty() || is_commit(tag) {
            return None;
        }
        let rest = tag.strip_prefix('v').unwrap_or(tag);
        let mut pieces = rest.split('-');
        let head = pieces.next().unwrap_or("");
        let suffix = pieces.collect::<Vec<_>>().join("-");
        // `\d+(\.\d+)*`, greedily: a shorter match leaves a `.` in `\w*`, which fails.
        let mut release = Vec::new();
        let mut rest = head;
        loop {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            release.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
                _ => break,
            }
        }
        if !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        Some(Version {
            release,
            prerelease: rest.to_string(),
            suffix,
        })
    }

    pub fn is_valid(tag: &str) -> bool {
        parse(tag).is_some()
    }

    /// Renovate's `_compare` on the numbers alone: element-wise, and a missing number is
    /// higher ("shorter is bigger 2.1 > 2.1.1").
    pub fn compare_release(a: &[u64], b: &[u64]) -> Ordering {
        for i in 0..a.len().max(b.len()) {
            match (a.get(i), b.get(i)) {
                (None, _) => return Ordering::Greater,
                (_, None) => return Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        Ordering::Equal
    }

    /// Renovate's `_compare`: numbers, then pre-release (none is higher), then the
    /// indicator in reverse. Invalid tags compare as 1, as in Renovate.
    pub fn compare(a: &str, b: &str) -> Ordering {
        let (Some(a), Some(b)) = (parse(a), parse(b)) else {
            return Ordering::Greater;
        };
        compare_release(&a.release, &b.release)
            .then_with(
                || match (a.prerelease.is_empty(), b.prerelease.is_empty()) {
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => a.prerelease.cmp(&b.prerelease),
                },
            )
            .then_with(|| b.suffix.cmp(&a.suffix))
    }

    pub fn is_compatible(version: &str, current: &str) -> bool {
        match (parse(version), parse(current)) {
            (Some(a), Some(b)) => a.suffix == b.suffix && a.release.len() == b.release.len(),
            _ => false,
        }
    }

    pub fn section(tag: &str, index: usize) -> Option<u64> {
        parse(tag)?.release.get(index).copied()
    }
}

/// Check one row: the model against Renovate's stated answer, tagwarden's code against
/// tagwarden's stated answer, and the difference against the two answers.
fn check_row<A: PartialEq + Debug>(
    case: &str,
    renovate_says: A,
    renovate_model: A,
    tagwarden_says: A,
    tagwarden_does: A,
    difference: Option<Difference>,
) {
    assert_eq!(
        renovate_model, renovate_says,
        "{case}: the model of Renovate does not give the answer of Renovate's table"
    );
    assert_eq!(
        tagwarden_does, tagwarden_says,
        "{case}: tagwarden does not do what the row says"
    );
    match difference {
        None => assert_eq!(
            tagwarden_says, renovate_says,
            "{case}: the answers differ, so the row must name the difference"
        ),
        Some(difference) => {
            assert_ne!(
                tagwarden_says, renovate_says,
                "{case}: the answers agree, so the row must not name a difference"
            );
            assert!(!difference.reason().is_empty());
        }
    }
}

fn tag(text: &str) -> Option<VersionTag> {
    VersionTag::parse(text)
}

fn v(text: &str) -> VersionTag {
    tag(text).unwrap_or_else(|| panic!("{text:?} should be a version tag"))
}

use Difference::*;

/// `(tag, Renovate: valid, tagwarden: a version tag, difference)`.
const IS_VALID: &[(&str, bool, bool, Option<Difference>)] = &[
    // Renovate's table (its `null` is the empty string here).
    ("", false, false, None),
    ("1.2.3", true, true, None),
    ("18.04", true, true, None),
    ("10.1", true, true, None),
    ("3", true, true, None),
    ("foo", false, false, None),
    ("0a1b2c3", false, false, None),
    ("0a1b2c3d", false, false, None),
    (
        "0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d",
        false,
        false,
        None,
    ),
    (
        "0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
        true,
        true,
        None,
    ),
    ("0a1b2C3", true, true, None),
    ("0z1b2c3", true, true, None),
    ("0A1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d", true, true, None),
    ("123098140293", true, true, None),
    ("01aecc#v2.1.0", false, false, None),
    // Added: commit hashes (tagwarden follows Renovate).
    ("abc1234", false, false, None),
    ("5e0fdde", false, false, None),
    ("f1b5e0e", false, false, None),
    ("0a1b2c", true, true, None), // 6 characters: too short for a commit
    ("1234567", true, true, None), // all digits: a build number
    ("20240101", true, true, None),
    ("v0a1b2c3", true, true, None), // the check is on the whole tag
    // Added: shapes both read alike.
    ("3.7.0b1", true, true, None),
    ("3.8.0b1-alpine", true, true, None),
    ("v1.31.4-debian-12", true, true, None),
    ("1.32_amd64", true, true, None),
    ("latest", false, false, None),
    // Added: text Renovate does not accept.
    ("release-1.2.3", false, true, Some(AcceptsAnyText)),
    ("V1.2", false, true, Some(AcceptsAnyText)),
    ("alpine3.19", false, true, Some(AcceptsAnyText)),
    ("1.2.x", false, true, Some(AcceptsAnyText)),
    ("sha-0a1b2c3", false, true, Some(AcceptsAnyText)),
];

#[test]
fn renovate_is_valid_table() {
    for &(text, renovate, tagwarden, difference) in IS_VALID {
        check_row(
            &format!("isValid({text:?})"),
            renovate,
            renovate::is_valid(text),
            tagwarden,
            tag(text).is_some(),
            difference,
        );
    }
}

type Sections = (Option<u64>, Option<u64>, Option<u64>);

/// `(tag, Renovate's major/minor/patch, tagwarden's)`: all agree.
const SECTIONS: &[(&str, Sections)] = &[
    ("1.2.3", (Some(1), Some(2), Some(3))),
    ("18.04", (Some(18), Some(4), None)),
    ("10.1", (Some(10), Some(1), None)),
    ("3", (Some(3), None, None)),
    ("foo", (None, None, None)),
];

#[test]
fn renovate_major_minor_patch_table() {
    for &(text, sections) in SECTIONS {
        let model = (
            renovate::section(text, 0),
            renovate::section(text, 1),
            renovate::section(text, 2),
        );
        let ours = tag(text).map_or((None, None, None), |t| {
            (Some(t.major()), t.minor(), t.patch())
        });
        check_row(
            &format!("getMajor/Minor/Patch({text:?})"),
            sections,
            model,
            sections,
            ours,
            None,
        );
    }
}

/// Which comparison a row asks about.
#[derive(Debug, Clone, Copy)]
enum Compare {
    /// `isGreaterThan(a, b)`.
    GreaterThan,
    /// `isLessThanRange(a, b)`: Renovate's `_compare(a, b) < 0`.
    LessThan,
    /// `equals(a, b)`.
    Equals,
}

impl Compare {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Compare::GreaterThan => ordering.is_gt(),
            Compare::LessThan => ordering.is_lt(),
            Compare::Equals => ordering.is_eq(),
        }
    }
}

/// `(question, a, b, Renovate, tagwarden (cmp_version), difference)`.
type Comparison = (
    Compare,
    &'static str,
    &'static str,
    bool,
    bool,
    Option<Difference>,
);

const COMPARISONS: &[Comparison] = &[
    // Renovate's isGreaterThan table.
    (
        Compare::GreaterThan,
        "1.2.3",
        "1.2",
        false,
        true,
        Some(ShorterIsLower),
    ),
    (Compare::GreaterThan, "18.04", "18.1", true, true, None),
    (
        Compare::GreaterThan,
        "10.1",
        "10.1.2",
        true,
        false,
        Some(ShorterIsLower),
    ),
    (Compare::GreaterThan, "3", "2", true, true, None),
    (Compare::GreaterThan, "1.2.3", "1.2.3", false, false, None),
    // Renovate's isLessThanRange table.
    (Compare::LessThan, "1.2.3", "2.0", true, true, None),
    (Compare::LessThan, "18.04", "18.1", false, false, None),
    (Compare::LessThan, "10.1", "10.0.4", false, false, None),
    (Compare::LessThan, "3", "4.0", true, true, None),
    (Compare::LessThan, "1.2", "1.3.4", true, true, None),
    // Renovate's equals table.
    (Compare::Equals, "1.2.3", "1.2.3", true, true, None),
    (Compare::Equals, "18.04", "18.4", true, true, None),
    (Compare::Equals, "10.0", "10.0.4", false, false, None),
    (Compare::Equals, "3", "4.0", false, false, None),
    (Compare::Equals, "1.2", "1.2.3", false, false, None),
    // Added: numbers first, numerically.
    (Compare::GreaterThan, "1.10", "1.9", true, true, None),
    (Compare::LessThan, "1.4", "1.32", true, true, None),
    (Compare::Equals, "v1.32", "1.32", true, true, None),
    (
        Compare::GreaterThan,
        "1.32",
        "1.32.9",
        true,
        false,
        Some(ShorterIsLower),
    ),
    // Added: the text around the numbers.
    (Compare::GreaterThan, "3.7.0b1", "3.7.0", false, false, None),
    (
        Compare::GreaterThan,
        "3.7.0",
        "3.7.0b1",
        true,
        false,
        Some(NumbersOnly),
    ),
    (
        Compare::Equals,
        "3.7.0b1",
        "3.7.0",
        false,
        true,
        Some(NumbersOnly),
    ),
    (
        Compare::Equals,
        "3.7.0-alpine",
        "3.7.0",
        false,
        true,
        Some(NumbersOnly),
    ),
    (Compare::LessThan, "3.7.0b9", "3.8.0", true, true, None),
];

#[test]
fn renovate_comparison_table() {
    for &(question, a, b, renovate, tagwarden, difference) in COMPARISONS {
        check_row(
            &format!("{question:?}({a:?}, {b:?})"),
            renovate,
            question.holds(renovate::compare(a, b)),
            tagwarden,
            question.holds(v(a).cmp_version(&v(b))),
            difference,
        );
    }
}

/// Renovate's "Satisfying versions": the first of these equal to the wanted version.
const SATISFYING_FROM: &[&str] = &[
    "0.9.8", "1.1.1", "1.1", "1.2.3", "1.2", "1", "2.2.2", "2.2", "2",
];

/// `(wanted, Renovate's answer = tagwarden's)`.
const SATISFYING: &[(&str, Option<&str>)] = &[
    ("1.2.3", Some("1.2.3")),
    ("1.2", Some("1.2")),
    ("1", Some("1")),
    ("1.3", None),
    ("0.9", None),
];

#[test]
fn renovate_satisfying_version_table() {
    for &(wanted, answer) in SATISFYING {
        let model = SATISFYING_FROM
            .iter()
            .copied()
            .find(|t| renovate::compare(t, wanted).is_eq());
        let ours = SATISFYING_FROM
            .iter()
            .copied()
            .find(|t| v(t).cmp_version(&v(wanted)).is_eq());
        check_row(
            &format!("getSatisfyingVersion({wanted:?})"),
            answer,
            model,
            answer,
            ours,
            None,
        );
    }
}

/// `(a, b, Renovate's sortVersions sign, tagwarden's Ord)`: Renovate's table says docker
/// sorts these as semver does.
const SORT_PAIRS: &[(&str, &str, Ordering, Ordering)] = &[
    ("1.1.1", "1.2.3", Ordering::Less, Ordering::Less),
    ("1.2.3", "1.3.4", Ordering::Less, Ordering::Less),
    ("2.0.1", "1.2.3", Ordering::Greater, Ordering::Greater),
    ("1.2.3", "0.9.5", Ordering::Greater, Ordering::Greater),
];

#[test]
fn renovate_sort_pairs_table() {
    for &(a, b, renovate, tagwarden) in SORT_PAIRS {
        check_row(
            &format!("sortVersions({a:?}, {b:?})"),
            renovate,
            renovate::compare(a, b),
            tagwarden,
            v(a).cmp(&v(b)),
            None,
        );
    }
}

/// `(list, Renovate's order, tagwarden's order, difference)`.
type SortCase = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    Option<Difference>,
);

const SORT_LISTS: &[SortCase] = &[
    // Renovate's "sorts unstable".
    (
        &[
            "3.7.0",
            "3.7-alpine",
            "3.7.0b1",
            "3.7.0b5",
            "3.8.0b1-alpine",
            "3.8.0-alpine",
            "3.8.2",
            "3.8.0",
        ],
        &[
            "3.7.0b1",
            "3.7.0b5",
            "3.7.0",
            "3.7-alpine",
            "3.8.0b1-alpine",
            "3.8.0-alpine",
            "3.8.0",
            "3.8.2",
        ],
        &[
            "3.7-alpine",
            "3.7.0",
            "3.7.0b1",
            "3.7.0b5",
            "3.8.0",
            "3.8.0-alpine",
            "3.8.0b1-alpine",
            "3.8.2",
        ],
        Some(ListingOrder),
    ),
    // Added: a floating tag among its patches.
    (
        &["1.32.0", "1.32", "1.31.9", "1.32.1"],
        &["1.31.9", "1.32.0", "1.32.1", "1.32"],
        &["1.31.9", "1.32", "1.32.0", "1.32.1"],
        Some(ShorterIsLower),
    ),
    // Added: pre-releases of several releases, glued: the numbers decide, then the
    // glued text, in both.
    (
        &["3.8.0b1", "3.7.0b5", "3.10.0b1", "3.7.0b1", "3.9.1b1"],
        &["3.7.0b1", "3.7.0b5", "3.8.0b1", "3.9.1b1", "3.10.0b1"],
        &["3.7.0b1", "3.7.0b5", "3.8.0b1", "3.9.1b1", "3.10.0b1"],
        None,
    ),
    (
        &[
            "v1.31.4-debian-12",
            "v1.9.0-debian-12",
            "v1.31.10-debian-12",
        ],
        &[
            "v1.9.0-debian-12",
            "v1.31.4-debian-12",
            "v1.31.10-debian-12",
        ],
        &[
            "v1.9.0-debian-12",
            "v1.31.4-debian-12",
            "v1.31.10-debian-12",
        ],
        None,
    ),
];

#[test]
fn renovate_sort_list_table() {
    for &(list, renovate, tagwarden, difference) in SORT_LISTS {
        let mut model = list.to_vec();
        model.sort_by(|a, b| renovate::compare(a, b));
        let mut ours: Vec<VersionTag> = list.iter().map(|t| v(t)).collect();
        ours.sort();
        let ours: Vec<&str> = ours.iter().map(VersionTag::as_str).collect();
        check_row(
            &format!("sortVersions({list:?})"),
            renovate.to_vec(),
            model,
            tagwarden.to_vec(),
            ours,
            difference,
        );
    }
}

/// `(version, current, Renovate, tagwarden, difference)`.
const IS_COMPATIBLE: &[(&str, &str, bool, bool, Option<Difference>)] = &[
    // Renovate's table.
    ("3.7.0", "3.7.0", true, true, None),
    ("3.7.0b1", "3.7.0", true, false, Some(GluedTextIsSuffix)),
    ("3.7-alpine", "3.7.0", false, false, None),
    ("3.8.0-alpine", "3.7.0", false, false, None),
    ("3.8.0b1-alpine", "3.7.0", false, false, None),
    ("3.8.2", "3.7.0", true, true, None),
    ("3.7.0", "3.7.0-alpine", false, false, None),
    ("3.7.0b1", "3.7.0-alpine", false, false, None),
    ("3.7-alpine", "3.7.0-alpine", false, false, None),
    ("3.8.0-alpine", "3.7.0-alpine", true, true, None),
    (
        "3.8.0b1-alpine",
        "3.7.0-alpine",
        true,
        false,
        Some(GluedTextIsSuffix),
    ),
    ("3.8.2", "3.7.0-alpine", false, false, None),
    // Added: glued text.
    ("3.7.0b5", "3.7.1", true, false, Some(GluedTextIsSuffix)),
    ("3.7.0b5", "3.7.0b1", true, false, Some(GluedTextIsSuffix)),
    ("3.7.1b1", "3.7.0b1", true, true, None),
    ("1.32_amd64", "1.32", true, false, Some(GluedTextIsSuffix)),
    ("1.31_amd64", "1.32_amd64", true, true, None),
    // Added: the indicator after `-`, and the pre-release written after it.
    ("1.32.1-debian-12", "1.32.0-debian-12", true, true, None),
    ("1.32.1-debian-12", "1.32.0-debian-11", false, false, None),
    ("v1.32.0-rc.1", "v1.32.0", false, false, None),
    ("v1.32.0-rc.1", "v1.31.0-rc.1", true, true, None),
    ("v1.28.0-3", "v1.28.0-4", false, false, None),
    // Added: prefix and suffix as written.
    (
        "v1.2.3",
        "1.2.4",
        true,
        false,
        Some(PrefixAndSuffixAsWritten),
    ),
    (
        "1.2.3-",
        "1.2.4",
        true,
        false,
        Some(PrefixAndSuffixAsWritten),
    ),
    ("v1.31", "v1.32", true, true, None),
    // Added: the number of parts.
    ("1.32", "1.32.0", false, false, None),
    ("v1", "v1.32", false, false, None),
    // Added: commit hashes are never compatible with anything.
    ("0a1b2c3", "0a1b2c4", false, false, None),
    ("5e0fdde", "1234567", false, false, None),
];

#[test]
fn renovate_is_compatible_table() {
    for &(a, b, renovate, tagwarden, difference) in IS_COMPATIBLE {
        let ours = match (tag(a), tag(b)) {
            (Some(a), Some(b)) => a.is_compatible(&b),
            _ => false,
        };
        check_row(
            &format!("isCompatible({a:?}, {b:?})"),
            renovate,
            renovate::is_compatible(a, b),
            tagwarden,
            ours,
            difference,
        );
    }
}

/// Every kind of difference is exercised by some row, so none is documented idly.
#[test]
fn renovate_every_difference_has_a_row() {
    let named: Vec<Difference> = IS_VALID
        .iter()
        .map(|row| row.3)
        .chain(COMPARISONS.iter().map(|row| row.5))
        .chain(SORT_LISTS.iter().map(|row| row.3))
        .chain(IS_COMPATIBLE.iter().map(|row| row.4))
        .flatten()
        .collect();
    for difference in [
        GluedTextIsSuffix,
        PrefixAndSuffixAsWritten,
        AcceptsAnyText,
        ShorterIsLower,
        NumbersOnly,
        ListingOrder,
    ] {
        assert!(named.contains(&difference), "no row shows {difference:?}");
    }
}

/// A fallback never picks a commit-hash tag, a pre-release written as glued text or after
/// a `-`, or a tag of another prefix, for a missing release.
#[test]
fn renovate_fallback_never_picks_a_commit_or_a_prerelease() {
    let published = [
        "3.7.0b5",
        "3.7.0b1",
        "3.7.0rc1",
        "3.7.0-rc.1",
        "3.6.9b1",
        "v3.7.0",
        "0a1b2c3",
        "abc1234",
        "3.6.2",
        "3.7.0",
    ];
    let found = candidates(&v("3.7.1"), published, &FallbackPolicy::default());
    let found: Vec<&str> = found.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(found, ["3.7.0", "3.6.2"]);

    // With no release of the family published, there is no fallback at all.
    let betas_only = ["3.7.0b5", "3.7.0-rc.1", "3.6.9b1", "0a1b2c3"];
    assert!(candidates(&v("3.7.1"), betas_only, &FallbackPolicy::default()).is_empty());

    // A wanted beta gets tags with exactly its glued text, never a release.
    let found = candidates(&v("3.7.1b1"), published, &FallbackPolicy::default());
    let found: Vec<&str> = found.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(found, ["3.7.0b1", "3.6.9b1"]);
}

/// Tags in the grammar Renovate accepts: an optional `v`, numbers, glued text, an
/// optional `-` indicator.
fn renovate_shaped() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "v"]),
        prop::collection::vec(0u64..12, 1..4),
        prop::sample::select(vec!["", "", "b1", "b5", "rc1", "_amd64", "a"]),
        prop::sample::select(vec!["", "", "-alpine", "-debian-12", "-", "-rc.1"]),
    )
        .prop_map(|(prefix, numbers, glued, indicator)| {
            let numbers: Vec<String> = numbers.iter().map(u64::to_string).collect();
            format!("{prefix}{}{glued}{indicator}", numbers.join("."))
        })
}

/// Hex strings starting with a digit, short, commit-long and longer.
fn hex_shaped() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9][0-9a-f]{6,39}",
        "[0-9]{7,12}",
        "[0-9][0-9a-f]{1,5}",
        "[0-9][0-9a-f]{40,44}",
    ]
}

fn shared_grammar() -> impl Strategy<Value = String> {
    prop_oneof![3 => renovate_shaped(), 1 => hex_shaped()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// On the grammar both accept, tagwarden and Renovate agree which tags are versions
    /// (commit hashes included), and read the same numbers.
    #[test]
    fn renovate_prop_validity_agrees(text in shared_grammar()) {
        let model = renovate::parse(&text);
        let ours = tag(&text);
        prop_assert_eq!(model.is_some(), ours.is_some(), "{}", text);
        if let (Some(model), Some(ours)) = (model, ours) {
            prop_assert_eq!(model.release.as_slice(), ours.parts());
            // tagwarden's suffix is Renovate's pre-release, then `-` and its indicator.
            let dash = if text.contains('-') { "-" } else { "" };
            prop_assert_eq!(ours.suffix(), format!("{}{dash}{}", model.prerelease, model.suffix));
        }
    }

    /// tagwarden's compatibility is Renovate's, narrowed by the documented differences
    /// only: never compatible where Renovate is not, and where Renovate is but tagwarden
    /// is not, the `v`, the glued text or a bare trailing `-` differ.
    #[test]
    fn renovate_prop_compatibility_is_narrower(a in shared_grammar(), b in shared_grammar()) {
        let ours = match (tag(&a), tag(&b)) {
            (Some(x), Some(y)) => x.is_compatible(&y),
            _ => false,
        };
        let theirs = renovate::is_compatible(&a, &b);
        if ours {
            prop_assert!(theirs, "{} ~ {} in tagwarden only", a, b);
        }
        if theirs && !ours {
            let (ra, rb) = (renovate::parse(&a).unwrap(), renovate::parse(&b).unwrap());
            let prefix_differs = a.starts_with('v') != b.starts_with('v');
            let glued_differs = ra.prerelease != rb.prerelease;
            let dash_differs = a.contains('-') != b.contains('-');
            prop_assert!(prefix_differs || glued_differs || dash_differs, "{} ~ {}", a, b);
        }
    }

    /// Within a family tagwarden orders as Renovate does, both by `cmp_version` and by
    /// `Ord`; across lengths with the same leading numbers they disagree, as documented.
    #[test]
    fn renovate_prop_order_within_a_family(a in shared_grammar(), b in shared_grammar()) {
        let (Some(x), Some(y)) = (tag(&a), tag(&b)) else { return Ok(()); };
        let theirs = renovate::compare(&a, &b);
        if x.is_compatible(&y) {
            prop_assert_eq!(x.cmp_version(&y), theirs, "{} vs {}", a, b);
            if theirs.is_ne() {
                prop_assert_eq!(x.cmp(&y), theirs, "{} vs {}", a, b);
            }
        }
        let (p, q) = (x.parts(), y.parts());
        if p.len() < q.len() && q.starts_with(p) {
            prop_assert_eq!(x.cmp_version(&y), Ordering::Less);
            prop_assert_eq!(renovate::compare_release(p, q), Ordering::Greater);
        }
    }

    /// Whatever is published, a fallback for a release is a release of its family: never
    /// a commit hash, never glued text, never another `-` indicator.
    #[test]
    fn renovate_prop_fallback_stays_in_the_family(
        wanted in ("(v)?", 1u64..3, 0u64..12, prop::option::of(0u64..5), "(-alpine)?")
            .prop_map(|(p, major, minor, patch, s)| match patch {
                Some(patch) => format!("{p}{major}.{minor}.{patch}{s}"),
                None => format!("{p}{major}.{minor}{s}"),
            }),
        published in prop::collection::vec(shared_grammar(), 0..30),
    ) {
        let wanted = v(&wanted);
        let found = candidates(&wanted, published.iter().map(String::as_str), &FallbackPolicy { max_skew: 3, ..FallbackPolicy::default() });
        for candidate in &found {
            let text = candidate.tag.as_str();
            prop_assert!(candidate.tag.is_compatible(&wanted));
            prop_assert_eq!(candidate.tag.suffix(), wanted.suffix(), "{}", text);
            let model = renovate::parse(text).unwrap();
            prop_assert!(model.prerelease.is_empty(), "{} is a pre-release", text);
            prop_assert!(published.iter().any(|p| p == text));
        }
    }
}
