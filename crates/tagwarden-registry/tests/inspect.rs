//! The engine's decisions against a real registry, as a library user (scan, serve, the
//! admission webhook) calls them: verdicts in input order with one question per unique
//! image, platform reports, fallbacks only for images that track the Kubernetes version,
//! and repairs that never act on what could not be decided.

mod common;

use std::sync::Mutex;

use tagwarden_core::{FallbackPolicy, ImageStatus, KubeVersion, Platform, Reference, Tracking};
use tagwarden_registry::inspect::Progress;
use tagwarden_registry::{
    Client, ClientOptions, InspectOptions, Repair, RepairOptions, decide_repair, decide_repairs,
    inspect_images,
};
use tagwarden_testbed::{FaultProxy, PagingProxy, Registry, dead_addr, seed_standard};

fn tracking_1_32() -> Tracking {
    Tracking {
        kube_version: Some(KubeVersion::parse("v1.32.0-eks-5e0fdde").unwrap()),
        rules: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_come_in_input_order_with_one_question_per_unique_image() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = PagingProxy::start(&registry.url(), 0);
    let at = |image: &str| format!("{}/{image}", proxy.addr());
    let images = vec![
        at("clastix/kubectl:v1.32"),
        at("clastix/kubectl:v1.31"),
        "not an image".to_string(),
        at("clastix/kubectl:v1.32"),
        at("bitnami/kubectl:1.99"),
        at("clastix/kubectl:v1.31"),
    ];
    let client = Client::new(ClientOptions::default()).unwrap();
    let options = InspectOptions {
        tracking: tracking_1_32(),
        ..InspectOptions::default()
    };
    let seen = Mutex::new(Vec::new());
    let verdicts = inspect_images(&client, &images, &options, |p: Progress| {
        seen.lock().unwrap().push(p)
    })
    .await;

    let statuses: Vec<ImageStatus> = verdicts.iter().map(|v| v.status).collect();
    use ImageStatus::*;
    assert_eq!(
        statuses,
        [Missing, Present, Invalid, Missing, Missing, Present]
    );
    // v1.32 tracks 1.32: it gets the nearest published minor, spelled as written.
    assert_eq!(
        verdicts[0].fallback.as_deref(),
        Some(at("clastix/kubectl:v1.31").as_str())
    );
    assert_eq!(
        verdicts[0].fallback_digest.as_deref(),
        Some(seeded.digest("clastix/kubectl", "v1.31"))
    );
    assert_eq!(verdicts[0], verdicts[3], "the same string, the same answer");
    // 1.99 does not track 1.32: missing, and no fallback is even looked for.
    assert_eq!(verdicts[4].fallback, None);
    assert_eq!(verdicts[4].tracks, None);
    assert_eq!(
        verdicts[1].digest.as_deref(),
        Some(seeded.digest("clastix/kubectl", "v1.31"))
    );

    // Four unique strings, each asked once: progress counts them, and the registry saw one
    // HEAD per unique valid image (plus the fallback's tag list and HEAD).
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last(), Some(&Progress { done: 4, total: 4 }));
    let heads = |tag: &str| {
        proxy
            .requests()
            .iter()
            .filter(|r| r.starts_with("HEAD") && r.contains(&format!("/manifests/{tag}")))
            .count()
    };
    assert_eq!(heads("v1.32"), 1, "{:?}", proxy.requests());
    assert_eq!(heads("1.99"), 1, "{:?}", proxy.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_platform_is_reported_by_name_and_steers_the_fallback() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let at = |image: &str| format!("{}/{image}", registry.addr());
    let client = Client::new(ClientOptions::default()).unwrap();
    let arm64: Platform = "linux/arm64".parse().unwrap();
    let options = InspectOptions {
        platforms: vec![arm64.clone()],
        tracking: Tracking {
            kube_version: Some(KubeVersion::parse("1.29.3").unwrap()),
            rules: Vec::new(),
        },
        fallback: FallbackPolicy::default(),
        ..InspectOptions::default()
    };
    // v1.29.x is amd64 only; v1.30.x has arm64. A 1.29 cluster with arm64 nodes.
    let verdicts =
        inspect_images(&client, &[at("clastix/kubectl:v1.29.3")], &options, |_| {}).await;
    let verdict = &verdicts[0];
    assert_eq!(verdict.status, ImageStatus::Missing, "{verdict:?}");
    assert_eq!(verdict.platforms.absent, vec![arm64]);
    assert!(verdict.platforms.broken.is_empty());
    // The only compatible tags within ±1 that carry arm64 are newer: v1.30.3 is the
    // highest patch of the nearest newer minor.
    assert_eq!(
        verdict.fallback.as_deref(),
        Some(at("clastix/kubectl:v1.30.3").as_str()),
        "{verdict:?}"
    );

    // Present images carry an empty report.
    let present = inspect_images(&client, &[at("clastix/kubectl:v1.30.3")], &options, |_| {}).await;
    assert_eq!(present[0].status, ImageStatus::Present);
    assert!(present[0].platforms.is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairs_replace_only_what_is_missing_and_never_what_is_undetermined() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let at = |image: &str| format!("{}/{image}", registry.addr());
    let client = Client::new(ClientOptions::default()).unwrap();
    let options = RepairOptions {
        inspect: InspectOptions {
            tracking: tracking_1_32(),
            ..InspectOptions::default()
        },
        pin: true,
    };
    let parse = |text: &str| Reference::parse(text).unwrap();
    let dead = format!("{}/clastix/kubectl:v1.32", dead_addr());
    let references = vec![
        parse(&at("clastix/kubectl:v1.32")),
        parse(&at("clastix/kubectl:v1.31")),
        parse(&dead),
    ];
    let repairs = decide_repairs(&client, &references, &options).await;

    let v131 = seeded.digest("clastix/kubectl", "v1.31");
    match &repairs[0] {
        Repair::Replace { new, why } => {
            assert_eq!(new, &format!("{}@{v131}", at("clastix/kubectl:v1.31")));
            assert!(why.contains("v1.32 is not published"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // Present, and --pin: pinned to the digest it has now.
    assert_eq!(
        repairs[1],
        Repair::Replace {
            new: format!("{}@{v131}", at("clastix/kubectl:v1.31")),
            why: repairs_why(&repairs[1]),
        }
    );
    // A registry that cannot be reached: never a rewrite.
    assert!(
        matches!(repairs[2], Repair::Undetermined { .. }),
        "{:?}",
        repairs[2]
    );

    // Without --pin, a present image is kept, and an image that does not track the
    // version is not even asked about (a dead registry does not matter then).
    let keep = RepairOptions {
        pin: false,
        ..options.clone()
    };
    assert_eq!(
        decide_repair(&client, &parse(&at("clastix/kubectl:v1.31")), &keep).await,
        Repair::Keep
    );
    let untracked = format!("{}/clastix/kubectl:v1.20", dead_addr());
    assert_eq!(
        decide_repair(&client, &parse(&untracked), &keep).await,
        Repair::Keep
    );
}

fn repairs_why(repair: &Repair) -> String {
    match repair {
        Repair::Replace { why, .. } => why.clone(),
        other => panic!("{other:?}"),
    }
}

/// Many tags that share one image config (here one manifest under twenty tags, as a
/// repository's rebuilt tags or a fleet's clusters share theirs): the platform check reads
/// the config blob once, not once per tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_many_tags_share_is_read_once_for_its_platform() {
    let registry = Registry::start();
    let tags: Vec<String> = (0..20).map(|n| format!("v{n}")).collect();
    registry.seeder().many_tags("app/shared", &tags);
    let proxy = FaultProxy::in_front_of(&registry);
    let images: Vec<String> = tags
        .iter()
        .map(|tag| format!("{}/app/shared:{tag}", proxy.addr()))
        .collect();
    let client = Client::new(ClientOptions::default()).unwrap();
    let options = InspectOptions {
        platforms: vec![Platform::new("linux", "amd64", None)],
        ..InspectOptions::default()
    };
    let blob_gets = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.target.contains("/blobs/"))
            .count()
    };
    for verdict in inspect_images(&client, &images, &options, |_| {}).await {
        assert_eq!(verdict.status, ImageStatus::Present, "{verdict:?}");
    }
    assert_eq!(blob_gets(), 1, "{:?}", proxy.request_lines());
    // Asked again with other platforms: the config's answer is still known.
    let arm = InspectOptions {
        platforms: vec![Platform::new("linux", "arm64", Some("v8"))],
        ..InspectOptions::default()
    };
    for verdict in inspect_images(&client, &images[..3], &arm, |_| {}).await {
        assert_eq!(
            verdict.status,
            ImageStatus::Missing,
            "lacks arm64: {verdict:?}"
        );
    }
    assert_eq!(blob_gets(), 1, "{:?}", proxy.request_lines());
}
