//! The registry client against a real registry: request counts, single flight, the disk
//! cache, mirrors, and the never-lie rule for failures.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use tagwarden_registry::{Client, ClientOptions, DiskCache, Lookup};
use tagwarden_testbed::{PagingProxy, Registry, dead_addr, seed_standard};

use common::repo;

fn requests_matching(proxy: &PagingProxy, needle: &str) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_questions_cost_one_request() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = PagingProxy::start(&registry.url(), 0);
    let client = Client::new(ClientOptions::default()).unwrap();
    let kubectl = repo(proxy.addr(), "clastix/kubectl");

    // 50 concurrent HEADs of one tag, 50 concurrent tag listings.
    let heads = (0..50).map(|_| client.head_manifest(&kubectl, "v1.31"));
    let lists = (0..50).map(|_| client.list_tags(&kubectl));
    let (heads, lists) = tokio::join!(
        futures::future::join_all(heads),
        futures::future::join_all(lists)
    );
    for head in heads {
        match head.unwrap() {
            Lookup::Found(h) => assert_eq!(h.digest, seeded.digest("clastix/kubectl", "v1.31")),
            other => panic!("{other:?}"),
        }
    }
    for list in lists {
        let Lookup::Found(tags) = list.unwrap() else {
            panic!("missing")
        };
        assert_eq!(tags.len(), seeded.tags("clastix/kubectl").len());
    }
    assert_eq!(
        requests_matching(&proxy, "HEAD /v2/clastix/kubectl/manifests/v1.31"),
        1,
        "{:?}",
        proxy.requests()
    );
    assert_eq!(requests_matching(&proxy, "/tags/list"), 1);

    // Missing answers are shared too.
    let missing = (0..10).map(|_| client.head_manifest(&kubectl, "v1.32"));
    for m in futures::future::join_all(missing).await {
        assert!(matches!(m.unwrap(), Lookup::Missing(_)));
    }
    assert_eq!(requests_matching(&proxy, "manifests/v1.32"), 1);
}

#[tokio::test]
async fn the_disk_cache_answers_repeats_and_never_outlives_its_ttl() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = PagingProxy::start(&registry.url(), 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let kubectl = repo(proxy.addr(), "clastix/kubectl");

    let ask = |ttl: Duration| {
        let client = Client::with_extras(
            ClientOptions::default(),
            HashMap::new(),
            Some(DiskCache::open(&path, ttl).unwrap()),
        )
        .unwrap();
        let kubectl = kubectl.clone();
        async move {
            let head = client.head_manifest(&kubectl, "v1.30").await.unwrap();
            let tags = client.list_tags(&kubectl).await.unwrap();
            (head, tags)
        }
    };
    let (first, _) = ask(Duration::from_secs(600)).await;
    assert_eq!(proxy.requests().len(), 2, "{:?}", proxy.requests());
    // A second run within the TTL asks nothing.
    let (second, tags) = ask(Duration::from_secs(600)).await;
    assert_eq!(first, second);
    assert!(matches!(tags, Lookup::Found(t) if t.len() == seeded.tags("clastix/kubectl").len()));
    assert_eq!(proxy.requests().len(), 2, "{:?}", proxy.requests());
    // With the TTL over, it asks again.
    let _ = ask(Duration::ZERO).await;
    assert_eq!(proxy.requests().len(), 4, "{:?}", proxy.requests());

    // A registry that is down is never answered from a stale entry.
    let dead = repo(&dead_addr(), "clastix/kubectl");
    let cache = DiskCache::open(&path, Duration::from_secs(600)).unwrap();
    cache.put(
        &format!("head\t{}\t{}\t{}", dead.api_host, dead.name, "v1.30"),
        &first.clone().found().unwrap(),
    );
    drop(cache);
    let client = Client::with_extras(
        ClientOptions::default(),
        HashMap::new(),
        Some(DiskCache::open(&path, Duration::ZERO).unwrap()),
    )
    .unwrap();
    let err = client.head_manifest(&dead, "v1.30").await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn mirrors_are_asked_first_and_the_registry_decides() {
    let upstream = Registry::start();
    let up_seeded = seed_standard(&upstream);
    let mirror_registry = Registry::start();
    // The mirror holds only one tag, with different content.
    let mirror_digest = mirror_registry.seeder().push_image(
        "clastix/kubectl",
        "v1.30",
        tagwarden_testbed::ManifestKind::Docker,
        &[tagwarden_testbed::Platform::linux_amd64()],
    );
    let mirror = PagingProxy::start(&mirror_registry.url(), 0);
    let mirrors = HashMap::from([(upstream.addr().to_string(), vec![mirror.addr().to_string()])]);
    let client = Client::with_extras(ClientOptions::default(), mirrors, None).unwrap();
    let kubectl = repo(upstream.addr(), "clastix/kubectl");

    let Lookup::Found(head) = client.head_manifest(&kubectl, "v1.30").await.unwrap() else {
        panic!("v1.30 is on the mirror");
    };
    assert_eq!(head.digest, mirror_digest);
    assert_eq!(head.source, mirror.addr());

    // Not on the mirror: the registry itself answers.
    let Lookup::Found(head) = client.head_manifest(&kubectl, "v1.31").await.unwrap() else {
        panic!("v1.31 is upstream");
    };
    assert_eq!(head.digest, up_seeded.digest("clastix/kubectl", "v1.31"));
    assert_eq!(head.source, upstream.addr());
    assert_eq!(
        requests_matching(&mirror, "manifests/v1.31"),
        1,
        "the mirror was asked first"
    );

    // A mirror that is down is skipped; the registry decides.
    let mirrors = HashMap::from([(upstream.addr().to_string(), vec![dead_addr()])]);
    let client = Client::with_extras(ClientOptions::default(), mirrors, None).unwrap();
    assert!(matches!(
        client.head_manifest(&kubectl, "v1.32").await.unwrap(),
        Lookup::Missing(_)
    ));
}

#[tokio::test]
async fn an_index_entry_whose_manifest_is_gone_does_not_provide_its_platform() {
    use tagwarden_registry::{Platform, missing_platforms};
    let registry = Registry::start();
    let digest = registry.seeder().push_image(
        "broken/app",
        "v1.0",
        tagwarden_testbed::ManifestKind::Oci,
        &[
            tagwarden_testbed::Platform::linux_amd64(),
            tagwarden_testbed::Platform::linux_arm64(),
        ],
    );
    let client = Client::new(ClientOptions::default()).unwrap();
    let app = repo(registry.addr(), "broken/app");
    let platforms =
        |list: &[&str]| -> Vec<Platform> { list.iter().map(|p| p.parse().unwrap()).collect() };

    let all = platforms(&["all"]);
    assert!(
        missing_platforms(&client, &app, &digest, &all)
            .await
            .unwrap()
            .is_empty()
    );

    // Delete the arm64 manifest behind the index's back.
    let seeder = registry.seeder();
    seeder.delete_manifest(
        "broken/app",
        &seeder.index_child("broken/app", &digest, "arm64"),
    );

    // A fresh client (no cached answers) sees the index as broken for arm64 only.
    let client = Client::new(ClientOptions::default()).unwrap();
    let lacking = missing_platforms(
        &client,
        &app,
        &digest,
        &platforms(&["linux/arm64", "linux/amd64"]),
    )
    .await
    .unwrap();
    assert_eq!(lacking, platforms(&["linux/arm64"]));
    let lacking = missing_platforms(&client, &app, &digest, &all)
        .await
        .unwrap();
    assert_eq!(lacking, platforms(&["linux/arm64/v8"]));
    let offered = tagwarden_registry::platforms_of(&client, &app, &digest)
        .await
        .unwrap();
    assert_eq!(offered, platforms(&["linux/amd64"]));
}

#[tokio::test]
async fn per_registry_limits_hold() {
    use tagwarden_testbed::FaultProxy;
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let tags: Vec<String> = seeded.tags("seed/many-tags").into_iter().take(6).collect();
    let many = repo(&proxy.addr(), "seed/many-tags");

    // Time six HEADs of different tags, all started at once.
    let time_heads = |options: ClientOptions| {
        let (tags, many) = (&tags, &many);
        async move {
            let client = Client::new(options).unwrap();
            let started = std::time::Instant::now();
            let heads = tags.iter().map(|t| client.head_manifest(many, t));
            for head in futures::future::join_all(heads).await {
                assert!(matches!(head.unwrap(), Lookup::Found(_)));
            }
            started.elapsed()
        }
    };

    // Two requests at a time, each held 150 ms by the proxy: six take at least 450 ms.
    proxy.set_latency(Duration::from_millis(150));
    let elapsed = time_heads(
        ClientOptions::builder()
            .max_concurrency_per_registry(2)
            .build(),
    )
    .await;
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");

    // Ten requests per second: six requests need at least 500 ms between first and last.
    proxy.set_latency(Duration::ZERO);
    let elapsed = time_heads(
        ClientOptions::builder()
            .requests_per_second(Some(10.0))
            .build(),
    )
    .await;
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
}
