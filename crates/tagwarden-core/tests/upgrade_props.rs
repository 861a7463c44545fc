//! The tag an image asks for after a Kubernetes upgrade (or downgrade), as properties
//! over generated tags, versions and published tag lists: the image's own format is
//! kept, the target's `major.minor` is taken, the highest published patch is chosen,
//! and a tag of another shape is never chosen.

use proptest::prelude::*;
use tagwarden_core::policy::highest_of_minor;
use tagwarden_core::track::{TagAfterUpgrade, tag_after_upgrade};
use tagwarden_core::{KubeVersion, Reference, VersionTag};

/// A tag shape: prefix, number of parts, suffix.
fn shape() -> impl Strategy<Value = (String, usize, String)> {
    (
        prop::sample::select(vec!["", "v", "release-", "V"]),
        2usize..=4,
        prop::sample::select(vec!["", "-debian-12", "-alpine", "_amd64", "-3"]),
    )
        .prop_map(|(prefix, parts, suffix)| (prefix.to_string(), parts, suffix.to_string()))
}

/// A tag of `shape` with `major.minor` and then `tail` (cut or padded to the shape).
fn tag(shape: &(String, usize, String), major: u64, minor: u64, tail: &[u64]) -> String {
    let (prefix, parts, suffix) = shape;
    let mut numbers = vec![major, minor];
    numbers.extend((0..parts - 2).map(|i| tail.get(i).copied().unwrap_or(0)));
    let numbers: Vec<String> = numbers.iter().map(u64::to_string).collect();
    format!("{prefix}{}{suffix}", numbers.join("."))
}

fn kube(major: u64, minor: u64) -> KubeVersion {
    KubeVersion::parse(&format!("{major}.{minor}")).unwrap()
}

fn image(tag: &str) -> Reference {
    Reference::parse(&format!("registry.example/team/kubectl:{tag}")).unwrap()
}

/// Published tags: of random shapes, near the target minor, with random patches.
fn published(target_minor: u64) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (
            shape(),
            1u64..=2,
            target_minor.saturating_sub(1)..=target_minor + 1,
            prop::collection::vec(0u64..=20, 0..3),
        )
            .prop_map(|(shape, major, minor, tail)| tag(&shape, major, minor, &tail)),
        0..25,
    )
}

/// A pair of different `major.minor` versions, and published tags near the target.
fn upgrade() -> impl Strategy<Value = ((u64, u64), (u64, u64), Vec<String>)> {
    ((1u64..=2, 0u64..=40), (1u64..=2, 0u64..=40))
        .prop_filter("the target differs from today", |(today, target)| {
            today != target
        })
        .prop_flat_map(|(today, target)| (Just(today), Just(target), published(target.1)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The tag after the upgrade keeps the prefix, suffix and number of parts, and has the
    /// target's `major.minor`; it is a published tag of that shape and minor, the highest
    /// one, or (when none is published) the minor's first patch.
    #[test]
    fn the_tag_after_an_upgrade_keeps_the_format_and_takes_the_target_minor(
        shape in shape(),
        tail in prop::collection::vec(0u64..=30, 0..3),
        ((today_major, today_minor), (target_major, target_minor), published) in upgrade(),
    ) {
        let original = VersionTag::parse(&tag(&shape, today_major, today_minor, &tail)).unwrap();
        let after = tag_after_upgrade(
            &image(original.as_str()),
            &kube(today_major, today_minor),
            &kube(target_major, target_minor),
        )
        .expect("a version tag of today's minor follows the upgrade");
        prop_assert_eq!(after.needs_published_tags(), original.parts().len() > 2);
        let chosen = after.choose(published.iter().map(String::as_str));

        prop_assert_eq!(chosen.prefix(), original.prefix());
        prop_assert_eq!(chosen.suffix(), original.suffix());
        prop_assert_eq!(chosen.parts().len(), original.parts().len());
        prop_assert!(chosen.is_compatible(&original));
        prop_assert_eq!((chosen.major(), chosen.minor()), (target_major, Some(target_minor)));

        let same_shape_and_minor: Vec<VersionTag> = published
            .iter()
            .filter_map(|t| VersionTag::parse(t))
            .filter(|t| t.is_compatible(&original) && t.major() == target_major && t.minor() == Some(target_minor))
            .collect();
        match &after {
            TagAfterUpgrade::Exact(exact) => prop_assert_eq!(&chosen, exact),
            TagAfterUpgrade::HighestPatch { if_none_published } => {
                if same_shape_and_minor.is_empty() {
                    prop_assert_eq!(&chosen, if_none_published);
                    prop_assert!(chosen.parts()[2..].iter().all(|p| *p == 0));
                } else {
                    prop_assert!(published.contains(&chosen.to_string()));
                    for other in &same_shape_and_minor {
                        prop_assert!(chosen.cmp_version(other).is_ge(), "{chosen} < {other}");
                    }
                }
            }
        }
    }

    /// `highest_of_minor` never answers a tag of another shape or minor, whatever is
    /// published, and answers whenever one of that shape and minor is published.
    #[test]
    fn the_highest_patch_is_never_of_another_shape(
        shape in shape(),
        (minor, published) in (0u64..=40).prop_flat_map(|minor| (Just(minor), published(minor))),
    ) {
        let template = VersionTag::parse(&tag(&shape, 1, 7, &[3, 4])).unwrap();
        let found = highest_of_minor(&template, 1, minor, published.iter().map(String::as_str));
        let any = published.iter().filter_map(|t| VersionTag::parse(t)).any(|t| {
            template.is_compatible(&t) && t.major() == 1 && t.minor() == Some(minor)
        });
        prop_assert_eq!(found.is_some(), any);
        if let Some(found) = found {
            prop_assert!(template.is_compatible(&found));
            prop_assert_eq!((found.major(), found.minor()), (1, Some(minor)));
            prop_assert!(published.contains(&found.to_string()));
        }
    }

    /// Going to the target and back gives the original `major.minor` tag: an upgrade and
    /// its downgrade are inverses.
    #[test]
    fn a_downgrade_undoes_an_upgrade(
        (prefix, _, suffix) in shape(),
        ((today_major, today_minor), (target_major, target_minor), _) in upgrade(),
    ) {
        let original = tag(&(prefix, 2, suffix), today_major, today_minor, &[]);
        let (today, target) = (kube(today_major, today_minor), kube(target_major, target_minor));
        let up = tag_after_upgrade(&image(&original), &today, &target).unwrap();
        let upgraded = up.choose(std::iter::empty());
        let down = tag_after_upgrade(&image(upgraded.as_str()), &target, &today).unwrap();
        let downgraded = down.choose(std::iter::empty());
        prop_assert_eq!(downgraded.as_str(), original.as_str());
    }

    /// Nothing changes when the target is today's minor, when the tag is not a version
    /// tag of today's minor, or when the image is pinned by digest.
    #[test]
    fn images_that_do_not_follow_today_keep_their_tag(
        shape in shape(),
        tail in prop::collection::vec(0u64..=30, 0..3),
        (today_minor, other_minor) in (0u64..=40, 0u64..=40).prop_filter("differ", |(a, b)| a != b),
        (today_patch, target_patch) in (0u64..=9, 0u64..=9),
    ) {
        let today = KubeVersion::parse(&format!("1.{today_minor}.{today_patch}")).unwrap();
        let same_minor = KubeVersion::parse(&format!("1.{today_minor}.{target_patch}")).unwrap();
        let target = kube(1, other_minor);
        let follows = tag(&shape, 1, today_minor, &tail);
        prop_assert_eq!(tag_after_upgrade(&image(&follows), &today, &same_minor), None);
        let other = tag(&shape, 1, other_minor, &tail);
        prop_assert_eq!(tag_after_upgrade(&image(&other), &today, &target), None);
        let pinned = Reference::parse(&format!(
            "registry.example/team/kubectl:{follows}@sha256:{}",
            "a".repeat(64)
        ))
        .unwrap();
        prop_assert_eq!(tag_after_upgrade(&pinned, &today, &target), None);
    }
}
