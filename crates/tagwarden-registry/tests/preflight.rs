//! The upgrade preflight against a real registry: a cluster at 1.32 today, the operator
//! asks what breaks at 1.33. Images whose tag tracks 1.32 ask for the 1.33 tag in their
//! own format (`v1.32` → `v1.33`, `1.32.4` → the highest published `1.33.x`), get the
//! verdict and fallback of the target version, and a registry that does not answer never
//! leads to a fallback or a guessed tag.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use tagwarden_core::{
    FallbackPolicy, ImageStatus, KubeVersion, Platform, Prefer, TrackRule, Tracking, Tracks,
};
use tagwarden_registry::inspect::Progress;
use tagwarden_registry::{
    Client, ClientOptions, InspectOptions, inspect_images_after_upgrade, inspect_upgrade,
};
use tagwarden_testbed::{Fault, FaultProxy, ManifestKind, Registry, Rule, dead_addr};

fn kube(version: &str) -> KubeVersion {
    KubeVersion::parse(version).unwrap()
}

/// The questions of a preflight to `target`: tracking at the target version.
fn at_target(target: &str) -> InspectOptions {
    InspectOptions {
        tracking: Tracking {
            kube_version: Some(kube(target)),
            rules: Vec::new(),
        },
        ..InspectOptions::default()
    }
}

/// A client that does not retry, so that a failing registry answers at once.
fn client() -> Client {
    Client::new(
        ClientOptions::builder()
            .max_attempts(1)
            .request_timeout(Duration::from_secs(5))
            .build(),
    )
    .unwrap()
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(ToString::to_string).collect()
}

/// How many requests the proxy saw whose line contains every one of `parts`.
fn count(proxy: &FaultProxy, parts: &[&str]) -> usize {
    proxy
        .request_lines()
        .iter()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_major_minor_tag_asks_for_the_target_tag_and_falls_back_per_policy() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let current = seeder.many_tags("apps/current", &tags(&["v1.31", "v1.32", "v1.33"]));
    seeder.many_tags("apps/lagging", &tags(&["v1.31", "v1.32", "v1.34"]));
    let at = |image: &str| format!("{}/{image}", registry.addr());
    let client = client();
    let today = kube("v1.32.4-eks-5e0fdde");
    let to_1_33 = at_target("1.33");

    // v1.33 is published: that is what the cluster will ask for, and it is there.
    let exact = inspect_upgrade(&client, &at("apps/current:v1.32"), &today, &to_1_33).await;
    assert_eq!(
        exact.after_upgrade.as_deref(),
        Some(at("apps/current:v1.33").as_str())
    );
    assert_eq!(exact.verdict.status, ImageStatus::Present, "{exact:?}");
    assert_eq!(exact.verdict.digest.as_deref(), Some(current.as_str()));

    // v1.33 is not published: missing after the upgrade, and the older neighbour first.
    let lagging = inspect_upgrade(&client, &at("apps/lagging:v1.32"), &today, &to_1_33).await;
    assert_eq!(
        lagging.after_upgrade.as_deref(),
        Some(at("apps/lagging:v1.33").as_str())
    );
    let verdict = &lagging.verdict;
    assert_eq!(verdict.status, ImageStatus::Missing, "{verdict:?}");
    assert_eq!(verdict.tracks, Some(Tracks::Tag));
    assert_eq!(
        verdict.fallback.as_deref(),
        Some(at("apps/lagging:v1.32").as_str())
    );
    let reason = verdict.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("v1.33 is not published"), "{reason}");

    // Newer first: v1.34.
    let newer = InspectOptions {
        fallback: FallbackPolicy {
            prefer: Prefer::Newer,
            ..FallbackPolicy::default()
        },
        ..to_1_33.clone()
    };
    let lagging = inspect_upgrade(&client, &at("apps/lagging:v1.32"), &today, &newer).await;
    assert_eq!(
        lagging.verdict.fallback.as_deref(),
        Some(at("apps/lagging:v1.34").as_str())
    );

    // No skew allowed: no fallback, and the nearest tag outside the policy is named.
    let strict = InspectOptions {
        fallback: FallbackPolicy {
            max_skew: 0,
            ..FallbackPolicy::default()
        },
        ..to_1_33.clone()
    };
    let lagging = inspect_upgrade(&client, &at("apps/lagging:v1.32"), &today, &strict).await;
    assert_eq!(lagging.verdict.status, ImageStatus::Missing);
    assert_eq!(lagging.verdict.fallback, None);
    assert_eq!(
        lagging.verdict.nearest_outside_policy.as_deref(),
        Some(at("apps/lagging:v1.32").as_str())
    );

    // A downgrade from 1.34 to 1.33 works the same way.
    let down = inspect_upgrade(
        &client,
        &at("apps/lagging:v1.34"),
        &kube("1.34.1"),
        &to_1_33,
    )
    .await;
    assert_eq!(
        down.after_upgrade.as_deref(),
        Some(at("apps/lagging:v1.33").as_str())
    );
    assert_eq!(
        down.verdict.fallback.as_deref(),
        Some(at("apps/lagging:v1.32").as_str()),
        "{down:?}"
    );

    // The target is today's minor: nothing changes, whatever the patch.
    let same = inspect_upgrade(
        &client,
        &at("apps/lagging:v1.32"),
        &kube("1.32.1"),
        &at_target("1.32.9"),
    )
    .await;
    assert_eq!(same.after_upgrade, None);
    assert_eq!(same.verdict.status, ImageStatus::Present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_tag_asks_for_the_highest_published_patch_in_its_own_format() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    seeder.many_tags(
        "apps/patches",
        &tags(&[
            "1.32.4",
            "1.33.0",
            "1.33.2",
            "1.33.10",
            "v1.33.12",
            "1.32.0-debian-12",
            "1.33.3-debian-12",
            "1.33.11-debian-11",
            "1.34.0",
        ]),
    );
    seeder.many_tags(
        "apps/unreleased",
        &tags(&["1.32.1", "1.32.4", "1.34.2", "1.32.4-debian-12"]),
    );
    let proxy = FaultProxy::in_front_of(&registry);
    let at = |image: &str| format!("{}/{image}", proxy.addr());
    let client = client();
    let images = [
        at("apps/patches:1.32.4"),
        at("apps/patches:1.32.0-debian-12"),
        at("apps/unreleased:1.32.4"),
        at("apps/unreleased:1.32.4-debian-12"),
        at("apps/absent:1.32.4"),
    ];
    let verdicts =
        inspect_images_after_upgrade(&client, &images, &kube("1.32"), &at_target("1.33"), |_| {})
            .await;
    let after: Vec<Option<&str>> = verdicts
        .iter()
        .map(|v| v.after_upgrade.as_deref())
        .collect();
    assert_eq!(
        after,
        [
            // Numerically highest, not 1.33.2; never v1.33.12 (another prefix).
            Some(at("apps/patches:1.33.10").as_str()),
            // The suffix is kept: never 1.33.11-debian-11 nor 1.33.10.
            Some(at("apps/patches:1.33.3-debian-12").as_str()),
            // No 1.33.x in these formats: the minor's first patch, which is missing.
            Some(at("apps/unreleased:1.33.0").as_str()),
            Some(at("apps/unreleased:1.33.0-debian-12").as_str()),
            // No such repository: no tags, so the first patch, which does not exist.
            Some(at("apps/absent:1.33.0").as_str()),
        ]
    );
    let statuses: Vec<ImageStatus> = verdicts.iter().map(|v| v.verdict.status).collect();
    use ImageStatus::*;
    assert_eq!(
        statuses,
        [Present, Present, Missing, Missing, Missing],
        "{verdicts:?}"
    );
    // The fallbacks of the policy: the highest patch of 1.32 (older first), same suffix.
    assert_eq!(
        verdicts[2].verdict.fallback.as_deref(),
        Some(at("apps/unreleased:1.32.4").as_str())
    );
    assert_eq!(
        verdicts[3].verdict.fallback.as_deref(),
        Some(at("apps/unreleased:1.32.4-debian-12").as_str())
    );
    assert_eq!(verdicts[2].verdict.tracks, Some(Tracks::Tag));
    let absent = &verdicts[4].verdict;
    assert_eq!(absent.fallback, None);
    let reason = absent.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("does not exist"), "{reason}");

    // Each repository's tags were listed once: to choose the patch, and the fallbacks
    // reuse that listing.
    for repo in ["apps/patches", "apps/unreleased"] {
        assert_eq!(
            count(&proxy, &["GET", &format!("/v2/{repo}/tags/list")]),
            1,
            "{:?}",
            proxy.request_lines()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_that_do_not_follow_today_are_checked_as_they_are() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let digest = seeder.many_tags("apps/current", &tags(&["v1.31", "v1.32", "v1.33"]));
    seeder.many_tags("apps/ruled", &tags(&["stable", "v1.32"]));
    let at = |image: &str| format!("{}/{image}", registry.addr());
    let options = InspectOptions {
        tracking: Tracking {
            kube_version: Some(kube("1.33")),
            rules: vec![TrackRule::parse(&at("apps/ruled")).unwrap()],
        },
        ..InspectOptions::default()
    };
    let pinned = format!("{}@{digest}", at("apps/current:v1.32"));
    let images = [
        at("apps/current:v1.31"),
        at("apps/current:v1.30"),
        pinned.clone(),
        at("apps/ruled:stable"),
        at("apps/ruled:v1.31"),
        "Not An Image".to_string(),
    ];
    let verdicts =
        inspect_images_after_upgrade(&client(), &images, &kube("1.32"), &options, |_| {}).await;

    for (image, verdict) in images.iter().zip(&verdicts) {
        assert_eq!(verdict.after_upgrade, None, "{image} keeps its reference");
    }
    let statuses: Vec<ImageStatus> = verdicts.iter().map(|v| v.verdict.status).collect();
    use ImageStatus::*;
    assert_eq!(
        statuses,
        [Present, Missing, Present, Present, Missing, Invalid],
        "{verdicts:?}"
    );
    // v1.30 tracks neither 1.32 nor 1.33: missing, no fallback looked for.
    assert_eq!(verdicts[1].verdict.tracks, None);
    assert_eq!(verdicts[1].verdict.fallback, None);
    // Pinned by digest: checked by its digest.
    assert_eq!(verdicts[2].verdict.digest.as_deref(), Some(digest.as_str()));
    // A track rule keeps the image's own tag, and still gives it a fallback.
    assert_eq!(
        verdicts[4].verdict.tracks,
        Some(Tracks::Rule(at("apps/ruled")))
    );
    assert_eq!(
        verdicts[4].verdict.fallback.as_deref(),
        Some(at("apps/ruled:v1.32").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platforms_are_honoured_after_the_upgrade() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let both = [
        tagwarden_testbed::Platform::linux_amd64(),
        tagwarden_testbed::Platform::linux_arm64(),
    ];
    let amd64_only = [tagwarden_testbed::Platform::linux_amd64()];
    seeder.push_image("apps/multi", "v1.32", ManifestKind::Oci, &both);
    seeder.push_image("apps/multi", "v1.33", ManifestKind::Oci, &amd64_only);
    let at = |image: &str| format!("{}/{image}", registry.addr());
    let arm64: Platform = "linux/arm64".parse().unwrap();
    let options = InspectOptions {
        platforms: vec![arm64.clone()],
        ..at_target("1.33")
    };
    let upgrade =
        inspect_upgrade(&client(), &at("apps/multi:v1.32"), &kube("1.32"), &options).await;
    assert_eq!(
        upgrade.after_upgrade.as_deref(),
        Some(at("apps/multi:v1.33").as_str())
    );
    assert_eq!(upgrade.verdict.status, ImageStatus::Missing, "{upgrade:?}");
    assert_eq!(upgrade.verdict.platforms.absent, vec![arm64]);
    assert_eq!(
        upgrade.verdict.fallback.as_deref(),
        Some(at("apps/multi:v1.32").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_does_not_answer_is_undetermined_and_never_falls_back() {
    let today = kube("1.32");
    let to_1_33 = at_target("1.33");

    // Nothing listens: the tag after the upgrade is known for v1.32, but not decided.
    let dead = dead_addr();
    let images = [
        format!("{dead}/apps/kubectl:v1.32"),
        format!("{dead}/apps/kubectl:1.32.4"),
    ];
    let verdicts = inspect_images_after_upgrade(&client(), &images, &today, &to_1_33, |_| {}).await;
    assert_eq!(
        verdicts[0].after_upgrade.as_deref(),
        Some(format!("{dead}/apps/kubectl:v1.33").as_str())
    );
    // The patch cannot be chosen without the tag list: no guessed tag.
    assert_eq!(verdicts[1].after_upgrade, None);
    let reason = verdicts[1].verdict.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("1.33.x") && reason.contains("could not be listed"),
        "{reason}"
    );
    for upgrade in &verdicts {
        let verdict = &upgrade.verdict;
        assert_eq!(verdict.status, ImageStatus::Unreachable, "{verdict:?}");
        assert_eq!(verdict.fallback, None);
        assert_eq!(verdict.nearest_outside_policy, None);
    }

    // A registry that answers HEADs but fails its tag lists.
    let registry = Registry::start();
    let seeder = registry.seeder();
    seeder.many_tags("apps/lagging", &tags(&["v1.31", "v1.32", "v1.34"]));
    seeder.many_tags("apps/patches", &tags(&["1.32.4", "1.33.1"]));
    let proxy = FaultProxy::in_front_of(&registry);
    let at = |image: &str| format!("{}/{image}", proxy.addr());
    for (fault, status) in [
        (Fault::status(503), ImageStatus::Unreachable),
        (Fault::too_many_requests(1), ImageStatus::Unreachable),
        (Fault::status(403), ImageStatus::Denied),
    ] {
        proxy.clear_rules();
        proxy.add_rule(Rule::new(fault.clone()).path_contains("/tags/list"));
        let client = client();
        // The patch cannot be chosen: undetermined, no tag, no fallback.
        let patch = inspect_upgrade(&client, &at("apps/patches:1.32.4"), &today, &to_1_33).await;
        assert_eq!(patch.verdict.status, status, "{fault:?}: {patch:?}");
        assert_eq!(patch.after_upgrade, None);
        assert_eq!(patch.verdict.fallback, None);
        // v1.33 is missing, but the fallback cannot be decided: none is given.
        let lagging = inspect_upgrade(&client, &at("apps/lagging:v1.32"), &today, &to_1_33).await;
        let verdict = &lagging.verdict;
        assert_eq!(
            verdict.status,
            ImageStatus::Missing,
            "{fault:?}: {verdict:?}"
        );
        assert!(verdict.fallback_undetermined, "{fault:?}: {verdict:?}");
        assert_eq!(verdict.fallback, None);
        assert_eq!(verdict.nearest_outside_policy, None);
    }

    // The image itself is refused: undetermined, even though its tag would be known.
    proxy.clear_rules();
    proxy.add_rule(Rule::new(Fault::status(500)).path_contains("/manifests/v1.33"));
    let refused = inspect_upgrade(&client(), &at("apps/lagging:v1.32"), &today, &to_1_33).await;
    assert_eq!(
        refused.verdict.status,
        ImageStatus::Unreachable,
        "{refused:?}"
    );
    assert_eq!(refused.verdict.fallback, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unique_image_is_asked_once_and_answers_come_in_input_order() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    seeder.many_tags("apps/current", &tags(&["v1.32", "v1.33"]));
    seeder.many_tags("apps/patches", &tags(&["1.32.4", "1.32.5", "1.33.1"]));
    let proxy = FaultProxy::in_front_of(&registry);
    let at = |image: &str| format!("{}/{image}", proxy.addr());
    let images = [
        at("apps/current:v1.32"),
        at("apps/patches:1.32.4"),
        at("apps/current:v1.32"),
        at("apps/patches:1.32.5"),
        at("apps/patches:1.32.4"),
        at("apps/current:v1.33"),
    ];
    let seen = Mutex::new(Vec::new());
    let verdicts = inspect_images_after_upgrade(
        &client(),
        &images,
        &kube("1.32"),
        &at_target("1.33"),
        |p: Progress| seen.lock().unwrap().push(p),
    )
    .await;

    let after: Vec<Option<&str>> = verdicts
        .iter()
        .map(|v| v.after_upgrade.as_deref())
        .collect();
    let v133 = at("apps/current:v1.33");
    let p1331 = at("apps/patches:1.33.1");
    assert_eq!(
        after,
        [
            Some(v133.as_str()),
            Some(p1331.as_str()),
            Some(v133.as_str()),
            Some(p1331.as_str()),
            Some(p1331.as_str()),
            None,
        ]
    );
    assert!(
        verdicts
            .iter()
            .all(|v| v.verdict.status == ImageStatus::Present),
        "{verdicts:?}"
    );
    assert_eq!(verdicts[0], verdicts[2], "the same string, the same answer");
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.last(), Some(&Progress { done: 4, total: 4 }));

    // Four unique images, two of them asking for the same tags after the upgrade: one
    // HEAD per tag, one tag list per repository.
    let lines = proxy.request_lines();
    assert_eq!(count(&proxy, &["HEAD", "/manifests/v1.33"]), 1, "{lines:?}");
    assert_eq!(
        count(&proxy, &["HEAD", "/manifests/1.33.1"]),
        1,
        "{lines:?}"
    );
    assert_eq!(count(&proxy, &["/manifests/v1.32"]), 0, "{lines:?}");
    assert_eq!(
        count(&proxy, &["GET", "/v2/apps/patches/tags/list"]),
        1,
        "{lines:?}"
    );
    assert_eq!(
        count(&proxy, &["/v2/apps/current/tags/list"]),
        0,
        "{lines:?}"
    );
}
