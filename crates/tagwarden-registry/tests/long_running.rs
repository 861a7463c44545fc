//! A client for a process that runs for weeks: bounded in-memory answers that expire, and
//! one observer event per registry request.

mod common;

use std::time::Duration;

use futures::StreamExt;
use tagwarden_registry::{Client, ClientOptions, ErrorClass, Lookup, Operation, RequestOutcome};
use tagwarden_testbed::{
    CaptureResponse, CaptureServer, Fault, FaultProxy, HangingServer, Registry, Rule, seed_standard,
};

use common::{Events, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_references_stay_within_the_bound_and_answers_expire() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    // The 20,000 missing references go to an in-process server answering
    // MANIFEST_UNKNOWN, which keeps the test fast; the expiry is checked on the real registry.
    let missing_everywhere = CaptureServer::start_with(CaptureResponse::json(
        404,
        &serde_json::json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}),
    ));
    let events = Events::default();
    const BOUND: usize = 1_000;
    let client = Client::new(
        ClientOptions::builder()
            .found_ttl(Duration::from_millis(200))
            .missing_ttl(Duration::from_millis(200))
            .max_cached_answers(BOUND)
            .max_concurrency_per_registry(32)
            .observer(events.observer())
            .build(),
    )
    .unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let gone = repo(&missing_everywhere.addr(), "clastix/kubectl");

    // 20,000 distinct references, all missing: the memory never holds more than the bound.
    let mut answers = futures::stream::iter(0..20_000)
        .map(|i| {
            let (client, gone) = (client.clone(), gone.clone());
            async move { client.head_manifest(&gone, &format!("gone-{i}")).await }
        })
        .buffer_unordered(64);
    let mut largest = 0;
    let mut missing = 0;
    while let Some(answer) = answers.next().await {
        assert!(matches!(answer.unwrap(), Lookup::Missing(_)));
        missing += 1;
        largest = largest.max(client.cache_len());
    }
    assert_eq!(missing, 20_000);
    assert!(largest <= BOUND, "{largest} answers held, bound {BOUND}");
    assert_eq!(events.len(), 20_000, "one request per distinct reference");

    // An answer is reused within its TTL and asked again after it.
    events.clear();
    let found = client.head_manifest(&kubectl, "v1.31").await.unwrap();
    assert!(matches!(found, Lookup::Found(_)));
    client.head_manifest(&kubectl, "v1.31").await.unwrap();
    assert_eq!(
        events.len(),
        1,
        "the second question was answered from memory"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    client.head_manifest(&kubectl, "v1.31").await.unwrap();
    assert_eq!(events.len(), 2, "the expired answer was asked again");
}

#[tokio::test]
async fn one_event_per_request_with_retries_status_and_rate_limits() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let events = Events::default();
    let client = Client::new(
        ClientOptions::builder()
            .max_retry_wait(Duration::from_secs(1))
            .observer(events.observer())
            .build(),
    )
    .unwrap();
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");

    // A 503, then the answer: two events, attempts 1 and 2.
    proxy.add_rule(
        Rule::new(Fault::unavailable(Some(0)))
            .method("HEAD")
            .path_contains("/manifests/v1.31")
            .times(1),
    );
    proxy.add_rule(
        Rule::new(Fault::header("ratelimit-remaining", "99;w=21600"))
            .path_contains("/manifests/v1.31"),
    );
    let found = client.head_manifest(&kubectl, "v1.31").await.unwrap();
    assert!(matches!(found, Lookup::Found(_)));
    let seen = events.all();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0].outcome, RequestOutcome::Status(503));
    assert_eq!(seen[0].attempt, 1);
    assert_eq!(seen[1].outcome, RequestOutcome::Status(200));
    assert_eq!(seen[1].attempt, 2);
    for event in &seen {
        assert_eq!(event.operation, Operation::HeadManifest);
        assert_eq!(event.registry, proxy.addr());
        assert_eq!(event.host, proxy.addr());
    }
    assert_eq!(
        seen[1]
            .rate_limit
            .as_ref()
            .and_then(|l| l.remaining.as_deref()),
        Some("99;w=21600")
    );

    // A tag list and a missing manifest: one event each, with their operation and status.
    events.clear();
    client.list_tags(&kubectl).await.unwrap();
    client.head_manifest(&kubectl, "v9.9").await.unwrap();
    let seen = events.all();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0].operation, Operation::ListTags);
    assert_eq!(seen[0].outcome, RequestOutcome::Status(200));
    assert_eq!(seen[1].outcome, RequestOutcome::Status(404));

    // No answer at all: the event says why.
    let hung = HangingServer::start();
    let events = Events::default();
    let client = Client::new(
        ClientOptions::builder()
            .request_timeout(Duration::from_secs(1))
            .max_attempts(1)
            .observer(events.observer())
            .build(),
    )
    .unwrap();
    let _ = client.head_manifest(&repo(&hung.addr(), "a/b"), "v1").await;
    let seen = events.all();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].outcome, RequestOutcome::Error(ErrorClass::Timeout));
}
