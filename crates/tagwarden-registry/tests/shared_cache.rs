//! The cache a fleet shares in Redis ([`tagwarden_registry::shared`]), against the real
//! `redis-server` and the real registry: separate [`Client`]s with separate memories and
//! separate connections to Redis stand for separate processes (a `serve` per cluster).
//! Registry requests are counted where they arrive: at the fault proxy in front of the
//! registry, which also slows answers so that questions of different clients overlap.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use tagwarden_registry::{
    Client, ClientOptions, Lookup, PullSecretKeychain, RegistryError, SharedBudget,
    SharedCacheOptions,
};
use tagwarden_testbed::{FaultProxy, RedisServer, Registry, RegistryMode, Seeded, seed_standard};

use common::repo;
use common::shared::{ask, client, questions, registry_requests, shared_cache, truth};

/// `clients` clients (each its own memory and, with `redis`, its own connection to it)
/// ask every question at once; the registry requests it took.
async fn fleet_requests(
    clients: usize,
    redis: Option<&RedisServer>,
    proxy: &FaultProxy,
    seeded: &Seeded,
) -> usize {
    proxy.clear_requests();
    let questions = questions(seeded);
    let fleet: Vec<Client> = (0..clients)
        .map(|_| client(redis.map(|r| shared_cache(r, |_| {}))))
        .collect();
    let addr = proxy.addr();
    let asked = fleet
        .iter()
        .flat_map(|c| questions.iter().map(move |q| (c, q)));
    let answers = join_all(asked.map(|(c, q)| {
        let addr = addr.clone();
        async move { (q, ask(c, &addr, q).await) }
    }))
    .await;
    for (question, answer) in answers {
        assert_eq!(answer.unwrap(), truth(seeded, question), "{question:?}");
    }
    registry_requests(proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_sharing_redis_asks_the_registry_once_per_unique_question() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.set_latency(Duration::from_millis(40));
    let unique = questions(&seeded).len();
    let mut measured = Vec::new();
    for clients in [2, 10] {
        let alone = fleet_requests(clients, None, &proxy, &seeded).await;
        // A fresh Redis per run: nothing learned in an earlier run is reused.
        let redis = RedisServer::start();
        let shared = fleet_requests(clients, Some(&redis), &proxy, &seeded).await;
        measured.push((clients, alone, shared));
        assert_eq!(
            alone,
            clients * unique,
            "without Redis, each client asks alone"
        );
        assert_eq!(
            shared, unique,
            "with Redis, one request per unique question"
        );
    }
    for (clients, alone, shared) in measured {
        println!(
            "{clients} clients, {unique} unique questions: {alone} registry requests alone, \
             {shared} sharing one Redis"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_budget_holds_for_every_client_together() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let redis = RedisServer::start();
    let budget = |options: &mut SharedCacheOptions| {
        options.budgets = HashMap::from([(
            proxy.addr(),
            SharedBudget {
                requests: 10,
                per: Duration::from_secs(60),
            },
        )]);
    };
    let (a, b) = (
        client(Some(shared_cache(&redis, budget))),
        client(Some(shared_cache(&redis, budget))),
    );
    let tags = seeded.tags("seed/many-tags");
    assert!(tags.len() >= 30, "{}", tags.len());
    let kubectl = repo(&proxy.addr(), "seed/many-tags");
    // 15 different tags each: nothing to share, so only the budget holds them back.
    let asked = tags[..30].iter().enumerate().map(|(i, tag)| {
        let c = if i % 2 == 0 { &a } else { &b };
        let kubectl = &kubectl;
        async move { c.head_manifest(kubectl, tag).await }
    });
    let answers = join_all(asked).await;
    let sent = registry_requests(&proxy);
    assert_eq!(sent, 10, "the fleet's budget is 10 requests a minute");
    let found = answers
        .iter()
        .filter(|a| matches!(a, Ok(Lookup::Found(_))))
        .count();
    assert_eq!(found, 10);
    for answer in &answers {
        match answer {
            Ok(Lookup::Found(_)) => {}
            Err(e @ RegistryError::BudgetSpent { .. }) => {
                assert!(e.is_rate_limited());
                assert!(e.to_string().contains("10 requests per 60s"), "{e}");
            }
            other => panic!("a spent budget is never missing: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_auth_to_redis_work() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let redis = RedisServer::builder()
        .tls(true)
        .password("t0p-secret")
        .start();
    assert!(redis.url().starts_with("rediss://"));
    let cache = shared_cache(&redis, |_| {});
    cache.ping().await.unwrap();
    let question = ("clastix/kubectl".to_string(), Some("v1.31".to_string()));
    let addr = proxy.addr();
    for _ in 0..3 {
        let fresh = client(Some(cache.clone()));
        assert_eq!(
            ask(&fresh, &addr, &question).await.unwrap(),
            truth(&seeded, &question)
        );
    }
    assert_eq!(registry_requests(&proxy), 1);
    assert_eq!(cache.stats().hits, 2);
    // A wrong password is no answer at all: the process asks on its own.
    let wrong = shared_cache(&redis, |o| o.password = Some("wrong".into()));
    assert!(wrong.ping().await.is_err());
    let alone = client(Some(wrong.clone()));
    assert_eq!(
        ask(&alone, &addr, &question).await.unwrap(),
        truth(&seeded, &question)
    );
    assert_eq!(registry_requests(&proxy), 2);
    assert_eq!(wrong.stats().hits, 0);
    assert!(wrong.stats().fallbacks >= 1);
}

fn pull_secret(registry: &str, user: &str, password: &str) -> PullSecretKeychain {
    let config = serde_json::json!({"auths": {registry: {"username": user, "password": password}}});
    PullSecretKeychain::from_cluster_secrets(&[("team/regcred".into(), config.to_string())])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_answers_are_only_shared_with_the_same_credentials() {
    let registry = Registry::builder()
        .mode(RegistryMode::Htpasswd)
        .extra_users([("other", "other-password")])
        .start();
    let seeded = seed_standard(&registry);
    let redis = RedisServer::start();
    let (user, password) = registry.credentials();
    let with = |keychain: Option<PullSecretKeychain>| {
        let mut options = ClientOptions::builder()
            .ca_files(vec![registry.ca_cert_path().unwrap().to_path_buf()])
            .build();
        if let Some(keychain) = keychain {
            options.credentials = std::sync::Arc::new(keychain);
        }
        let cache = shared_cache(&redis, |_| {});
        options.shared_cache = Some(cache.clone());
        (Client::new(options).unwrap(), cache)
    };
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let digest = seeded.digest("clastix/kubectl", "v1.31").to_string();
    let digest_of = |answer: Result<Lookup<tagwarden_registry::ManifestHead>, RegistryError>| {
        answer.unwrap().found().unwrap().digest
    };
    let (owner, _) = with(Some(pull_secret(registry.addr(), &user, &password)));
    assert_eq!(
        digest_of(owner.head_manifest(&kubectl, "v1.31").await),
        digest
    );
    // Anonymous: the registry says 401, and the owner's answer in Redis is not given.
    let (stranger, stranger_cache) = with(None);
    let err = stranger.head_manifest(&kubectl, "v1.31").await.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert_eq!(stranger_cache.stats().hits, 0);
    // Other valid credentials: their own answer, from the registry.
    let (other, other_cache) = with(Some(pull_secret(
        registry.addr(),
        "other",
        "other-password",
    )));
    assert_eq!(
        digest_of(other.head_manifest(&kubectl, "v1.31").await),
        digest
    );
    assert_eq!(
        (other_cache.stats().hits, other_cache.stats().misses),
        (0, 1)
    );
    // The same credentials in another process: the shared answer.
    let (twin, twin_cache) = with(Some(pull_secret(registry.addr(), &user, &password)));
    assert_eq!(
        digest_of(twin.head_manifest(&kubectl, "v1.31").await),
        digest
    );
    assert_eq!((twin_cache.stats().hits, twin_cache.stats().misses), (1, 0));
    let keys = redis_keys(&redis).await;
    let heads: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains(":answer:head:"))
        .collect();
    assert_eq!(
        heads.len(),
        2,
        "one answer per credential identity: {keys:#?}"
    );
    for key in &keys {
        assert!(!key.contains(&password) && !key.contains(&user), "{key}");
    }
}

/// Every key in `redis`.
async fn redis_keys(redis: &RedisServer) -> Vec<String> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_for_platform_checks_are_shared_byte_for_byte() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.set_latency(Duration::from_millis(40));
    let redis = RedisServer::start();
    let (a, b) = (
        client(Some(shared_cache(&redis, |_| {}))),
        client(Some(shared_cache(&redis, |_| {}))),
    );
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");
    let digest = seeded.digest("clastix/kubectl", "v1.31");
    let (x, y) = futures::join!(
        a.get_manifest(&kubectl, digest),
        b.get_manifest(&kubectl, digest)
    );
    let (x, y) = (x.unwrap().found().unwrap(), y.unwrap().found().unwrap());
    assert_eq!(x, y);
    assert_eq!(x.digest, digest);
    assert_eq!(registry_requests(&proxy), 1);
}
