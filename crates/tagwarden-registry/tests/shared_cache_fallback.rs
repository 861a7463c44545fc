//! The shared cache when Redis dies mid-run: every client goes on checking on its own, and
//! nothing is reported missing that is not. (A test binary of its own: it checks that the
//! failure is logged once per process, and `tracing` decides whether a log line is
//! wanted once per call site, for every test thread of a binary.)

mod common;

use tagwarden_testbed::{FaultProxy, RedisServer, Registry, Warnings, seed_standard};

use common::shared::{ask, client, questions, shared_cache, truth};

#[tokio::test]
async fn when_redis_dies_every_client_goes_on_checking_and_nothing_turns_missing() {
    let warnings = Warnings::default();
    let _logging = tracing::subscriber::set_default(warnings.clone());
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let redis = RedisServer::start();
    let (cache_a, cache_b) = (shared_cache(&redis, |_| {}), shared_cache(&redis, |_| {}));
    let (a, b) = (client(Some(cache_a.clone())), client(Some(cache_b.clone())));
    let questions = questions(&seeded);
    let (first, second) = questions.split_at(questions.len() / 2);
    let addr = proxy.addr();
    for q in first {
        let (x, y) = futures::join!(ask(&a, &addr, q), ask(&b, &addr, q));
        assert_eq!(x.unwrap(), truth(&seeded, q));
        assert_eq!(y.unwrap(), truth(&seeded, q));
    }
    assert!(
        cache_a.stats().hits + cache_b.stats().hits > 0,
        "shared while Redis ran"
    );
    redis.kill();
    // The rest, and the first half again from fresh clients (fresh memories).
    let (a, b) = (client(Some(cache_a.clone())), client(Some(cache_b.clone())));
    for q in second.iter().chain(first) {
        let (x, y) = futures::join!(ask(&a, &addr, q), ask(&b, &addr, q));
        assert_eq!(x.unwrap(), truth(&seeded, q), "{q:?} after Redis died");
        assert_eq!(y.unwrap(), truth(&seeded, q), "{q:?} after Redis died");
    }
    let fallbacks = cache_a.stats().fallbacks + cache_b.stats().fallbacks;
    assert!(fallbacks >= 2 * questions.len() as u64, "{fallbacks}");
    assert!(cache_a.stats().errors >= 1 && cache_b.stats().errors >= 1);
    let said: Vec<String> = warnings.lines();
    let unavailable = said
        .iter()
        .filter(|l| l.contains("shared cache is unavailable"))
        .count();
    assert_eq!(unavailable, 2, "once per process: {said:#?}");
}
