//! Fallback policy: an exhaustive comparison with an independent reference
//! model over a grid of published tags, invariants, and explicit cases.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashSet};

use tagwarden_core::policy::{candidates, explain_fallback, highest_of_minor, infer_expected_tag};
use tagwarden_core::{Candidate, FallbackPolicy, Prefer, VersionTag};

fn v(tag: &str) -> VersionTag {
    VersionTag::parse(tag).unwrap_or_else(|| panic!("{tag:?} should parse"))
}

fn policy(max_skew: u64, prefer: Prefer) -> FallbackPolicy {
    FallbackPolicy { max_skew, prefer }
}

/// The candidate tags, as text.
fn tags(wanted: &str, published: &[&str], policy: &FallbackPolicy) -> Vec<String> {
    candidates(&v(wanted), published.iter().copied(), policy)
        .into_iter()
        .map(|c| c.tag.as_str().to_owned())
        .collect()
}

/// Published tags, deduplicated and parsed once (for the reference model).
fn parse_unique(published: &[&str]) -> Vec<VersionTag> {
    let unique: BTreeSet<&str> = published.iter().copied().collect();
    unique.into_iter().filter_map(VersionTag::parse).collect()
}

/// The reference model: filter, then sort by one key. Written without
/// looking at buckets: every rule is a component of the key.
fn reference(
    wanted: &VersionTag,
    unique: &[VersionTag],
    policy: &FallbackPolicy,
) -> Vec<(String, i64)> {
    if wanted.parts().len() < 2 {
        return Vec::new();
    }
    let w_minor = wanted.parts()[1] as i64;
    let w_tail = wanted.parts()[2..].to_vec();
    let max = policy.max_skew as i64;
    let mut rows = Vec::new();
    for t in unique {
        let text = t.as_str();
        let family = t.prefix() == wanted.prefix()
            && t.suffix() == wanted.suffix()
            && t.parts().len() == wanted.parts().len();
        if !family || t.parts()[0] != wanted.parts()[0] || text == wanted.as_str() {
            continue;
        }
        let skew = t.parts()[1] as i64 - w_minor;
        if skew.abs() > max {
            continue;
        }
        let older_first = policy.prefer == Prefer::Older;
        let rank = match skew {
            0 if t.parts()[2..] <= w_tail[..] => 0,
            0 => 1,
            s if (s < 0) == older_first => 1 + s.abs(),
            s => 1 + max + s.abs(),
        };
        let key = (
            rank,
            Reverse(t.parts().to_vec()),
            text.len(),
            text.to_owned(),
        );
        rows.push((key, skew));
    }
    rows.sort();
    rows.into_iter().map(|(key, skew)| (key.3, skew)).collect()
}

/// Invariants that hold for any output, independent of the reference.
fn check_invariants(
    wanted: &VersionTag,
    published: &[&str],
    policy: &FallbackPolicy,
    got: &[Candidate],
) {
    let published: HashSet<&str> = published.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut last_rank = 0;
    for c in got {
        let t = &c.tag;
        assert!(published.contains(t.as_str()), "{t} was not published");
        assert!(seen.insert(t.as_str()), "{t} twice");
        assert_ne!(t.as_str(), wanted.as_str());
        assert!(t.is_compatible(wanted), "{t} not compatible with {wanted}");
        assert_eq!(t.major(), wanted.major());
        assert_eq!(
            c.minor_skew,
            t.minor().unwrap() as i64 - wanted.minor().unwrap() as i64
        );
        assert!(
            c.minor_skew.unsigned_abs() <= policy.max_skew,
            "{t} outside the skew"
        );
        // Groups: same minor (0), preferred side (1), other side (2).
        let preferred_side = match policy.prefer {
            Prefer::Older => c.minor_skew < 0,
            Prefer::Newer => c.minor_skew > 0,
        };
        let rank = match c.minor_skew {
            0 => 0,
            _ if preferred_side => 1,
            _ => 2,
        };
        assert!(rank >= last_rank, "{t} out of group order for {wanted}");
        last_rank = rank;
    }
    // Nearest minor first within each side, highest numbers first within a minor.
    for pair in got.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.minor_skew != 0 && a.minor_skew.signum() == b.minor_skew.signum() {
            assert!(
                a.minor_skew.abs() <= b.minor_skew.abs(),
                "{} before {}",
                a.tag,
                b.tag
            );
            if a.minor_skew == b.minor_skew {
                assert!(a.tag.parts() >= b.tag.parts(), "{} before {}", a.tag, b.tag);
            }
        }
    }
}

/// A family of published tags: prefix, suffix, part count.
fn grid() -> Vec<String> {
    let mut out = Vec::new();
    for (prefix, suffix) in [
        ("v", ""),
        ("", ""),
        ("v", "-alpine"),
        ("", "-debian-12"),
        ("", "-debian-11"),
    ] {
        for minor in 26..=36 {
            out.push(format!("{prefix}1.{minor}{suffix}"));
            for patch in 0..=5 {
                out.push(format!("{prefix}1.{minor}.{patch}{suffix}"));
            }
        }
    }
    for minor in 30..=33 {
        for patch in 0..=2 {
            for build in 0..=2 {
                out.push(format!("v1.{minor}.{patch}.{build}"));
            }
        }
    }
    // Noise and spelling variants.
    for noise in [
        "latest",
        "stable",
        "v2.31",
        "v2.31.0",
        "v0.31",
        "sha-abc123",
        "V1.31",
        "v1.31-Alpine",
        "v01.31",
        "v1.031.2",
        "v1.31.04",
        "v1.31",
        "v1.31",
        "1.31.4-debian-12",
        "v1.31.4+x",
        "v1",
        "v1.32.0.0.1",
    ] {
        out.push(noise.to_owned());
    }
    out
}

/// A cheap deterministic hash, to punch holes into the grid.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn wanted_tags() -> Vec<String> {
    let mut out = Vec::new();
    for (prefix, suffix) in [("v", ""), ("", "-debian-12"), ("v", "-alpine"), ("x", "")] {
        for minor in 24..=38 {
            out.push(format!("{prefix}1.{minor}{suffix}"));
            for patch in 0..=7 {
                out.push(format!("{prefix}1.{minor}.{patch}{suffix}"));
            }
        }
    }
    for minor in 29..=34 {
        for tail in ["0.0", "1.1", "1.3", "2.2", "3.0"] {
            out.push(format!("v1.{minor}.{tail}"));
        }
    }
    for odd in ["v1", "v2.31", "v0.0", "v01.31", "1.31.4-debian-12"] {
        out.push(odd.to_owned());
    }
    out
}

#[test]
fn policy_exhaustive_against_reference() {
    let grid = grid();
    let subsets: Vec<Vec<&str>> = vec![
        grid.iter().map(String::as_str).collect(),
        grid.iter()
            .map(String::as_str)
            .filter(|t| !fnv(t).is_multiple_of(3))
            .collect(),
        grid.iter()
            .map(String::as_str)
            .filter(|t| fnv(t).is_multiple_of(2) && !t.contains("1.31"))
            .collect(),
    ];
    let mut compared = 0;
    let mut non_empty = 0;
    for published in &subsets {
        let unique = parse_unique(published);
        for wanted in wanted_tags() {
            let wanted = v(&wanted);
            for max_skew in 0..=3 {
                for prefer in [Prefer::Older, Prefer::Newer] {
                    let p = policy(max_skew, prefer);
                    let got = candidates(&wanted, published.iter().copied(), &p);
                    check_invariants(&wanted, published, &p, &got);
                    let got: Vec<(String, i64)> = got
                        .into_iter()
                        .map(|c| (c.tag.as_str().to_owned(), c.minor_skew))
                        .collect();
                    let expected = reference(&wanted, &unique, &p);
                    assert_eq!(
                        got, expected,
                        "wanted {wanted}, max_skew {max_skew}, {prefer:?}"
                    );
                    compared += 1;
                    non_empty += usize::from(!got.is_empty());
                }
            }
        }
    }
    // The grid must exercise both outcomes a lot.
    assert!(compared > 10_000, "{compared}");
    assert!(non_empty > compared / 2, "{non_empty} of {compared}");
    assert!(non_empty < compared, "{non_empty} of {compared}");
}

#[test]
fn policy_order_does_not_depend_on_input_order() {
    let grid = grid();
    let forward: Vec<&str> = grid.iter().map(String::as_str).collect();
    let backward: Vec<&str> = forward.iter().rev().copied().collect();
    for wanted in ["v1.32", "v1.31.9", "1.30.2-debian-12", "v1.31.1.1"] {
        for prefer in [Prefer::Older, Prefer::Newer] {
            let p = policy(2, prefer);
            assert_eq!(
                tags(wanted, &forward, &p),
                tags(wanted, &backward, &p),
                "{wanted}"
            );
        }
    }
}

#[test]
fn policy_capsule_kubectl() {
    // clastix/kubectl publishes v1.28 … v1.31 and patch tags; the chart asks for v1.32.
    let mut published = vec!["latest".to_owned()];
    for minor in 28..=31 {
        published.push(format!("v1.{minor}"));
        for patch in 0..=5 {
            published.push(format!("v1.{minor}.{patch}"));
        }
    }
    let published: Vec<&str> = published.iter().map(String::as_str).collect();
    let got = candidates(
        &v("v1.32"),
        published.iter().copied(),
        &FallbackPolicy::default(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag.as_str(), "v1.31");
    assert_eq!(got[0].minor_skew, -1);
    // With a skew of 3, every older minor, nearest first; never a 3-part tag.
    assert_eq!(
        tags("v1.32", &published, &policy(3, Prefer::Older)),
        ["v1.31", "v1.30", "v1.29"]
    );
}

#[test]
fn policy_default_is_kubectl_skew() {
    assert_eq!(FallbackPolicy::default(), policy(1, Prefer::Older));
    assert_eq!(Prefer::default(), Prefer::Older);
}

#[test]
fn policy_prefer_newer_swaps_neighbours() {
    let published = ["v1.30", "v1.31", "v1.33", "v1.34", "v1.32.1"];
    assert_eq!(
        tags("v1.32", &published, &policy(1, Prefer::Older)),
        ["v1.31", "v1.33"]
    );
    assert_eq!(
        tags("v1.32", &published, &policy(1, Prefer::Newer)),
        ["v1.33", "v1.31"]
    );
    assert_eq!(
        tags("v1.32", &published, &policy(2, Prefer::Newer)),
        ["v1.33", "v1.34", "v1.31", "v1.30"]
    );
    // Same-minor candidates stay first whatever the preference.
    let published = ["v1.31.9", "v1.32.0", "v1.33.0", "v1.32.7"];
    assert_eq!(
        tags("v1.32.3", &published, &policy(1, Prefer::Newer)),
        ["v1.32.0", "v1.32.7", "v1.33.0", "v1.31.9"]
    );
}

#[test]
fn policy_nothing_within_skew() {
    let published = ["v1.29", "v1.35", "v1.32.0", "1.32", "v1.32-alpine", "v2.32"];
    assert!(tags("v1.32", &published, &FallbackPolicy::default()).is_empty());
    assert!(tags("v1.32", &published, &policy(0, Prefer::Newer)).is_empty());
    assert_eq!(
        tags("v1.32", &published, &policy(3, Prefer::Newer)),
        ["v1.35", "v1.29"]
    );
    assert!(tags("v1.32", &[], &FallbackPolicy::default()).is_empty());
}

#[test]
fn policy_max_skew_two() {
    let published = ["v1.29", "v1.30", "v1.31", "v1.33", "v1.34", "v1.35"];
    assert_eq!(
        tags("v1.32", &published, &policy(2, Prefer::Older)),
        ["v1.31", "v1.30", "v1.33", "v1.34"]
    );
    let got = candidates(&v("v1.32"), published, &policy(2, Prefer::Older));
    let skews: Vec<i64> = got.iter().map(|c| c.minor_skew).collect();
    assert_eq!(skews, [-1, -2, 1, 2]);
}

#[test]
fn policy_same_minor_patch_fallback() {
    let published = [
        "v1.31.0", "v1.31.1", "v1.31.2", "v1.31.3", "v1.31.4", "v1.30.8", "v1.32.0",
    ];
    assert_eq!(
        tags("v1.31.9", &published, &FallbackPolicy::default()),
        [
            "v1.31.4", "v1.31.3", "v1.31.2", "v1.31.1", "v1.31.0", "v1.30.8", "v1.32.0"
        ]
    );
    // Not above first (highest first), then above (highest first).
    let published = [
        "v1.31.1", "v1.31.2", "v1.31.5", "v1.31.7", "v1.30.9", "v1.32.0",
    ];
    assert_eq!(
        tags("v1.31.3", &published, &FallbackPolicy::default()),
        [
            "v1.31.2", "v1.31.1", "v1.31.7", "v1.31.5", "v1.30.9", "v1.32.0"
        ]
    );
    // max_skew 0: only the same minor.
    assert_eq!(
        tags("v1.31.3", &published, &policy(0, Prefer::Older)),
        ["v1.31.2", "v1.31.1", "v1.31.7", "v1.31.5"]
    );
    // Numeric, not textual: 1.31.10 is above 1.31.9.
    assert_eq!(
        tags(
            "v1.31.9",
            &["v1.31.10", "v1.31.8", "v1.31.09"],
            &policy(0, Prefer::Older)
        ),
        ["v1.31.09", "v1.31.8", "v1.31.10"]
    );
}

#[test]
fn policy_same_numbers_other_spelling() {
    // v01.31.09 has the wanted numbers: it comes first, ahead of lower patches.
    assert_eq!(
        tags(
            "v1.31.9",
            &["v1.31.8", "v01.31.09", "v1.31.09"],
            &policy(0, Prefer::Older)
        ),
        ["v1.31.09", "v01.31.09", "v1.31.8"]
    );
    assert_eq!(
        tags("v1.32", &["v01.32", "v1.32"], &FallbackPolicy::default()),
        ["v01.32"]
    );
}

#[test]
fn policy_four_parts_compare_tail() {
    let published = [
        "v1.31.2.4",
        "v1.31.2.6",
        "v1.31.1.9",
        "v1.31.3.0",
        "v1.30.5.5",
        "v1.31.2",
    ];
    assert_eq!(
        tags("v1.31.2.5", &published, &FallbackPolicy::default()),
        [
            "v1.31.2.4",
            "v1.31.1.9",
            "v1.31.3.0",
            "v1.31.2.6",
            "v1.30.5.5"
        ]
    );
}

#[test]
fn policy_suffix_family() {
    let published = [
        "1.32.0",
        "1.32.0-debian-12",
        "1.32.0-debian-11",
        "1.31.5-debian-12",
        "1.32.0-alpine",
        "1.32-debian-12",
        "v1.32.0-debian-12",
        "1.32.2-debian-12",
    ];
    assert_eq!(
        tags("1.32.1-debian-12", &published, &FallbackPolicy::default()),
        ["1.32.0-debian-12", "1.32.2-debian-12", "1.31.5-debian-12"]
    );
    assert_eq!(
        tags(
            "1.36.1-musl",
            &["1.36.0-musl", "1.36.0", "1.35.9-musl"],
            &FallbackPolicy::default()
        ),
        ["1.36.0-musl", "1.35.9-musl"]
    );
}

#[test]
fn policy_edge_cases() {
    let d = FallbackPolicy::default();
    // One part: no minor, no candidates.
    assert!(tags("v2", &["v1", "v3", "v2"], &d).is_empty());
    assert!(tags("20240101", &["20240102"], &d).is_empty());
    // Never the wanted tag itself; duplicates once.
    assert_eq!(
        tags("v1.32", &["v1.32", "v1.31", "v1.31", "v1.31"], &d),
        ["v1.31"]
    );
    // Another major is never a candidate.
    assert_eq!(
        tags("v1.0", &["v0.1", "v0.99", "v1.1", "v2.0"], &d),
        ["v1.1"]
    );
    // Minor 0 does not underflow.
    assert_eq!(
        tags("v1.0", &["v1.1", "v1.2"], &policy(5, Prefer::Older)),
        ["v1.1", "v1.2"]
    );
    // Huge numbers saturate instead of overflowing.
    let got = candidates(
        &v("v1.18446744073709551615"),
        ["v1.0", "v1.18446744073709551614"],
        &policy(u64::MAX, Prefer::Older),
    );
    let skews: Vec<i64> = got.iter().map(|c| c.minor_skew).collect();
    assert_eq!(skews, [-1, i64::MIN]);
    let got = candidates(
        &v("v1.0"),
        ["v1.18446744073709551615"],
        &policy(u64::MAX, Prefer::Older),
    );
    assert_eq!(got[0].minor_skew, i64::MAX);
}

#[test]
fn policy_infer_expected_tag() {
    let infer = |major, minor, patch, published: &[&str]| {
        infer_expected_tag(major, minor, patch, published.iter().copied()).map(|t| t.to_string())
    };
    let some = |s: &str| Some(s.to_owned());
    // The usual case: a 2-part scheme.
    assert_eq!(
        infer(1, 32, Some(0), &["v1.29", "v1.30", "v1.31", "latest"]),
        some("v1.32")
    );
    // Both v1.31.4 and v1.31 published: the more precise one.
    let both = ["v1.30", "v1.30.2", "v1.31", "v1.31.4"];
    assert_eq!(infer(1, 31, Some(4), &both), some("v1.31.4"));
    // Without a patch, 3-part schemes are skipped.
    assert_eq!(infer(1, 31, None, &both), some("v1.31"));
    assert_eq!(infer(1, 31, None, &["1.31.0", "1.31.1", "1.30.0"]), None);
    assert_eq!(infer(1, 32, Some(1), &["1.31.0", "1.31.1"]), some("1.32.1"));
    // An exactly published expected tag beats a bigger scheme.
    let mixed = ["v1.28", "v1.29", "v1.30", "1.31.4-debian-12"];
    assert_eq!(infer(1, 31, Some(4), &mixed), some("1.31.4-debian-12"));
    // Otherwise the scheme with the most tags.
    assert_eq!(infer(1, 32, Some(1), &mixed), some("v1.32"));
    // Minors count, not tags: many patch tags of a few minors do not outvote one tag per
    // minor (clastix/kubectl publishes both; an EKS 1.32.0 cluster wants v1.32).
    let clastix = [
        "v1.28", "v1.28.0", "v1.28.1", "v1.28.2", "v1.29", "v1.29.0", "v1.29.1", "v1.30",
        "v1.30.0", "v1.30.1", "v1.31", "v1.31.0", "v1.31.4", "latest",
    ];
    assert_eq!(infer(1, 32, Some(0), &clastix), some("v1.32"));
    let scheme = tagwarden_core::policy::infer_tag_scheme(1, 32, Some(0), clastix).unwrap();
    assert!(!scheme.exact);
    assert_eq!(scheme.minors, 4);
    assert_eq!(
        scheme.reason(),
        "its published tags cover 4 minors of 1.x, the most of 2 schemes"
    );
    // Ties: fewer parts, then empty suffix, then prefix text.
    assert_eq!(infer(1, 32, Some(1), &["v1.30", "v1.30.1"]), some("v1.32"));
    assert_eq!(
        infer(1, 32, None, &["v1.30-alpine", "v1.30"]),
        some("v1.32")
    );
    assert_eq!(infer(1, 32, None, &["v1.30", "1.30"]), some("1.32"));
    // Duplicates count once.
    assert_eq!(
        infer(1, 32, None, &["v1.30", "v1.30", "v1.30", "1.29", "1.30"]),
        some("1.32")
    );
    // Only tags of this major count.
    assert_eq!(
        infer(1, 32, None, &["2.0", "2.1", "2.2", "v1.30"]),
        some("v1.32")
    );
    // Four parts and one part cannot be filled from a Kubernetes version.
    assert_eq!(infer(1, 32, Some(0), &["v1.31.0.1", "v1", "latest"]), None);
    assert_eq!(infer(1, 32, Some(0), &[]), None);
    // The returned tag has the scheme's anatomy.
    let t = infer_expected_tag(1, 33, Some(2), ["1.32.0-debian-12", "1.32.1-debian-12"]).unwrap();
    assert_eq!(
        (t.prefix(), t.parts(), t.suffix()),
        ("", &[1, 33, 2][..], "-debian-12")
    );
}

#[test]
fn policy_explain_fallback() {
    let explain = |wanted: &str, chosen: &str, skew: i64, max_skew: u64| {
        let chosen = Candidate {
            tag: v(chosen),
            minor_skew: skew,
        };
        explain_fallback(&v(wanted), &chosen, &policy(max_skew, Prefer::Older))
    };
    assert_eq!(
        explain("v1.32", "v1.31", -1, 1),
        "v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1"
    );
    assert_eq!(
        explain("v1.32", "v1.33", 1, 1),
        "v1.32 is not published; v1.33 is 1 minor newer, within the kubectl skew policy of ±1"
    );
    assert_eq!(
        explain("v1.32", "v1.30", -2, 2),
        "v1.32 is not published; v1.30 is 2 minors older, within a skew policy of ±2 minors"
    );
    assert_eq!(
        explain("v1.32", "v1.35", 3, 1),
        "v1.32 is not published; v1.35 is 3 minors newer, outside the kubectl skew policy of ±1"
    );
    assert_eq!(
        explain("v1.31.9", "v1.31.4", 0, 1),
        "v1.31.9 is not published; v1.31.4 is the highest published patch of 1.31 below it"
    );
    assert_eq!(
        explain("v1.31.2", "v1.31.5", 0, 1),
        "v1.31.2 is not published; v1.31.5 is a newer patch of the same minor 1.31"
    );
    assert_eq!(
        explain("v1.32", "v01.32", 0, 1),
        "v1.32 is not published; v01.32 is the same version, written differently"
    );
    assert_eq!(
        explain("v2", "v1", 0, 1),
        "v2 is not published; v1 is used instead"
    );
    // End to end: the first candidate explains itself.
    let wanted = v("v1.32");
    let p = FallbackPolicy::default();
    let first = candidates(&wanted, ["v1.30", "v1.31", "v1.33"], &p).remove(0);
    assert_eq!(
        explain_fallback(&wanted, &first, &p),
        "v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1"
    );
    for line in [
        explain("v1.32", "v1.31", i64::MIN, u64::MAX),
        explain("v1.32", "v1.31", i64::MAX, 0),
    ] {
        assert!(!line.contains('\n'));
    }
}

#[test]
fn highest_of_minor_compares_numbers_and_keeps_the_shape() {
    let highest = |shape: &str, minor: u64, published: &[&str]| {
        highest_of_minor(&v(shape), 1, minor, published.iter().copied()).map(|t| t.to_string())
    };
    // Numerically, not as text: 10 > 9 > 2.
    assert_eq!(
        highest("1.32.4", 33, &["1.33.2", "1.33.9", "1.33.10"]).as_deref(),
        Some("1.33.10")
    );
    // The same numbers spelled twice: the shorter spelling, as candidates() orders them.
    assert_eq!(
        highest("1.32.4", 33, &["1.33.07", "1.33.7", "1.33.6"]).as_deref(),
        Some("1.33.7")
    );
    // Other shapes, majors and minors never count.
    let others = [
        "v1.33.9",
        "1.33.9-alpine",
        "1.33",
        "1.33.9.1",
        "2.33.9",
        "1.34.0",
        "x",
    ];
    assert_eq!(highest("1.32.4", 33, &others), None);
    assert_eq!(
        highest(
            "v1.32.0-debian-12",
            33,
            &["v1.33.1-debian-12", "v1.33.2-debian-11"]
        )
        .as_deref(),
        Some("v1.33.1-debian-12")
    );
}
