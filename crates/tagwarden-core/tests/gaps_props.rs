//! The release-gap report, as properties: the gap set is exactly the expected tags minus
//! the published ones; present and missing split the expected set; expected tags follow
//! the formats' granularity; upstream tags round-trip through rendering.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tagwarden_core::TagFormat;
use tagwarden_core::gaps::{
    ExpectedTag, PreKind, Prerelease, Selection, UpstreamVersion, expected_tags, partition, render,
    select, versions_from_tags,
};

fn version() -> impl Strategy<Value = UpstreamVersion> {
    (
        1u64..3,
        0u64..40,
        0u64..12,
        prop::option::weighted(
            0.3,
            (
                prop_oneof![Just(PreKind::Alpha), Just(PreKind::Beta), Just(PreKind::Rc)],
                0u64..4,
            ),
        ),
    )
        .prop_map(|(major, minor, patch, pre)| UpstreamVersion {
            major,
            minor,
            patch: Some(patch),
            pre: pre.map(|(kind, number)| Prerelease { kind, number }),
        })
}

fn formats() -> impl Strategy<Value = Vec<TagFormat>> {
    prop::sample::subsequence(
        vec![
            "v{major}.{minor}",
            "v{major}.{minor}.{patch}",
            "{major}.{minor}.{patch}-debian-12",
            "kube-{major}.{minor}",
            "v{major}",
        ],
        1..=3,
    )
    .prop_map(|list| list.iter().map(|f| TagFormat::parse(f).unwrap()).collect())
}

/// Versions, formats, and a published tag list: some expected tags, plus noise.
fn scenario() -> impl Strategy<Value = (Vec<UpstreamVersion>, Vec<TagFormat>, Vec<String>)> {
    (prop::collection::vec(version(), 0..40), formats()).prop_flat_map(|(versions, formats)| {
        let expected = expected_tags(&versions, &formats).unwrap();
        let tags: Vec<String> = expected.into_iter().map(|e| e.tag).collect();
        let n = tags.len();
        (
            Just(versions),
            Just(formats),
            prop::sample::subsequence(tags, 0..=n),
            prop::collection::vec("[a-z0-9][a-z0-9.-]{0,12}", 0..8),
        )
            .prop_map(|(versions, formats, mut published, noise)| {
                published.extend(noise);
                (versions, formats, published)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_gap_set_is_expected_minus_published((versions, formats, published) in scenario()) {
        let expected = expected_tags(&versions, &formats).unwrap();
        let report = partition(&expected, published.iter().map(String::as_str));

        let expected_set: BTreeSet<&str> = expected.iter().map(|e| e.tag.as_str()).collect();
        let published_set: BTreeSet<&str> = published.iter().map(String::as_str).collect();
        let missing: BTreeSet<&str> = report.missing.iter().map(|e| e.tag.as_str()).collect();
        let present: BTreeSet<&str> = report.present.iter().map(|e| e.tag.as_str()).collect();

        let want_missing: BTreeSet<&str> = expected_set.difference(&published_set).copied().collect();
        let want_present: BTreeSet<&str> = expected_set.intersection(&published_set).copied().collect();
        prop_assert_eq!(&missing, &want_missing);
        prop_assert_eq!(&present, &want_present);
        prop_assert!(missing.is_disjoint(&present));
        let union: BTreeSet<&str> = missing.union(&present).copied().collect();
        prop_assert_eq!(&union, &expected_set);
        // Nothing is lost or duplicated, and both halves keep the expected order.
        prop_assert_eq!(report.missing.len() + report.present.len(), expected.len());
        let mut merged: Vec<ExpectedTag> = report.missing.iter().chain(&report.present).cloned().collect();
        merged.sort();
        prop_assert_eq!(&merged, &expected);
        prop_assert!(report.missing.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(report.present.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn each_expected_tag_is_represented_by_the_newest_version_rendering_it(
        versions in prop::collection::vec(version(), 1..40),
        formats in formats(),
    ) {
        let expected = expected_tags(&versions, &formats).unwrap();
        let mut newest: BTreeMap<String, UpstreamVersion> = BTreeMap::new();
        for format in &formats {
            for v in &versions {
                let tag = render(format, v).unwrap();
                let slot = newest.entry(tag).or_insert_with(|| v.clone());
                if v > slot {
                    *slot = v.clone();
                }
            }
        }
        let got: BTreeMap<String, UpstreamVersion> =
            expected.iter().map(|e| (e.tag.clone(), e.version.clone())).collect();
        prop_assert_eq!(got.len(), expected.len(), "tags are unique");
        prop_assert_eq!(got, newest);
        prop_assert!(expected.windows(2).all(|w| w[0] < w[1]), "sorted by version, then tag");
    }

    #[test]
    fn per_minor_expects_one_tag_per_minor_and_per_patch_one_per_release(
        versions in prop::collection::vec(version(), 1..40),
    ) {
        let per_minor = TagFormat::parse("v{major}.{minor}").unwrap();
        let per_patch = TagFormat::parse("v{major}.{minor}.{patch}").unwrap();
        let minors: BTreeSet<(u64, u64)> = versions.iter().map(|v| (v.major, v.minor)).collect();
        let releases: BTreeSet<&UpstreamVersion> = versions.iter().collect();
        prop_assert_eq!(expected_tags(&versions, &[per_minor]).unwrap().len(), minors.len());
        let by_patch = expected_tags(&versions, &[per_patch]).unwrap();
        prop_assert_eq!(by_patch.len(), releases.len());
        // A per-patch tag is the upstream tag itself, so it parses back to its version.
        for e in &by_patch {
            prop_assert_eq!(UpstreamVersion::from_tag(&e.tag), Some(e.version.clone()));
        }
    }

    #[test]
    fn upstream_tags_round_trip_and_noise_is_ignored(
        versions in prop::collection::vec(version(), 0..30),
        noise in prop::collection::vec(
            prop_oneof![
                Just("latest".to_string()),
                "v[0-9]{1,2}\\.[0-9]{1,2}",
                "[0-9]\\.[0-9]{1,2}\\.[0-9]-(debian|alpine)",
                "sha256-[0-9a-f]{8}\\.sig",
                "v0\\.[0-9]\\.[0-9]",
            ],
            0..10,
        ),
        with_v in any::<bool>(),
    ) {
        let mut tags: Vec<String> = versions
            .iter()
            .map(|v| format!("{}{v}", if with_v { "v" } else { "" }))
            .collect();
        tags.extend(noise);
        let parsed = versions_from_tags(tags.iter().map(String::as_str));
        let want: Vec<UpstreamVersion> = versions.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(parsed, want);
    }

    #[test]
    fn selection_keeps_exactly_what_it_should(
        versions in prop::collection::vec(version(), 0..40),
        include_prereleases in any::<bool>(),
        since in prop::option::of((1u64..3, 0u64..40, 0u64..12)),
    ) {
        let selection = Selection { include_prereleases, since };
        let kept = select(&versions, &selection);
        for v in &versions {
            let should = (include_prereleases || v.pre.is_none())
                && since.is_none_or(|s| (v.major, v.minor, v.patch.unwrap_or(0)) >= s);
            prop_assert_eq!(kept.contains(v), should, "{}", v);
        }
        prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
    }
}
