//! Faults between tagwarden and a real registry, injected by the harness's proxy: what is
//! retried, what is "could not decide", and that none of it ever looks like "missing".

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tagwarden_core::{FallbackPolicy, Reference};
use tagwarden_registry::{
    Client, ClientOptions, CredentialStore, Lookup, RegistryError, ResolveError, ResolveRequest,
};
use tagwarden_testbed::{
    CaptureResponse, CaptureServer, Fault, FaultProxy, HangingServer, Registry, RegistryMode, Rule,
    seed_standard,
};

use common::repo;

/// The transport error an `Unreachable` keeps as its source.
fn transport_cause(error: &RegistryError) -> &reqwest::Error {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<std::sync::Arc<reqwest::Error>>())
        .map(|cause| &**cause)
        .unwrap_or_else(|| panic!("no reqwest::Error source: {error:?}"))
}

fn quick_client() -> Client {
    Client::new(
        ClientOptions::builder()
            .max_retry_wait(Duration::from_secs(2))
            .build(),
    )
    .unwrap()
}

#[tokio::test]
async fn transient_failures_are_retried_and_then_answered() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");
    let want = seeded.digest("clastix/kubectl", "v1.31").to_string();

    for fault in [
        Fault::too_many_requests(1),
        Fault::unavailable(None),
        Fault::status(500),
        Fault::Reset,
    ] {
        let rule = proxy.add_rule(
            Rule::new(fault.clone())
                .method("HEAD")
                .path_contains("/manifests/v1.31")
                .times(1),
        );
        let c = quick_client();
        match c.head_manifest(&kubectl, "v1.31").await {
            Ok(Lookup::Found(h)) => assert_eq!(h.digest, want, "{fault:?}"),
            other => panic!("{fault:?}: {other:?}"),
        }
        assert_eq!(proxy.hits(rule), 1, "{fault:?}");
        proxy.clear();
    }

    // A truncated manifest body is retried too (GET, where the body matters).
    let rule = proxy.add_rule(
        Rule::new(Fault::Truncate)
            .method("GET")
            .path_contains("/manifests/v1.30")
            .times(1),
    );
    let c = quick_client();
    match c.get_manifest(&kubectl, "v1.30").await {
        Ok(Lookup::Found(m)) => assert_eq!(m.digest, seeded.digest("clastix/kubectl", "v1.30")),
        other => panic!("{other:?}"),
    }
    assert_eq!(proxy.hits(rule), 1);
}

#[tokio::test]
async fn persistent_failures_are_undecided_never_missing() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");

    let cases: Vec<(Fault, &str, &str)> = vec![
        (
            Fault::unavailable(None),
            "HEAD",
            "HTTP 503 Service Unavailable after 3 attempts",
        ),
        (Fault::too_many_requests(0), "HEAD", "rate-limited"),
        (Fault::Reset, "HEAD", "(after 3 attempts)"),
        // Retry-After beyond the wait bound: give up at once instead of sleeping.
        (Fault::too_many_requests(3600), "HEAD", "rate-limited"),
        (Fault::status(403), "HEAD", "denied"),
        (Fault::status(400), "HEAD", "unexpected HTTP 400"),
        (Fault::WrongDigest, "GET", "hashes to"),
        (Fault::CorruptBody, "GET", "hashes to"),
        (Fault::Truncate, "GET", "reading the answer failed"),
    ];
    for (fault, method, needle) in cases {
        let rule = proxy.add_rule(
            Rule::new(fault.clone())
                .method(method)
                .path_contains("/manifests/v1.32"),
        );
        let c = quick_client();
        let err = if method == "HEAD" {
            c.head_manifest(&kubectl, "v1.32").await.map(|_| ())
        } else {
            // v1.31 exists: a corrupted answer must not be taken for it.
            proxy.clear();
            let rule2 = proxy.add_rule(
                Rule::new(fault.clone())
                    .method("GET")
                    .path_contains("/manifests/v1.31"),
            );
            let r = c.get_manifest(&kubectl, "v1.31").await.map(|_| ());
            assert!(proxy.hits(rule2) >= 1);
            r
        }
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(needle), "{fault:?}: {text}");
        assert!(!err.is_config(), "{fault:?}");
        if method == "HEAD" {
            let hits = proxy.hits(rule);
            let expected = match &fault {
                Fault::Status {
                    code: 403 | 400, ..
                } => 1,
                Fault::Status {
                    code: 429, headers, ..
                } if headers.iter().any(|(_, v)| v == "3600") => 1,
                _ => 3,
            };
            assert_eq!(hits, expected, "{fault:?}: attempts");
        }
        proxy.clear();
    }

    // A tag list that is not JSON is malformed, and says which registry and request.
    proxy.add_rule(
        Rule::new(Fault::Status {
            code: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"<html>maintenance</html>".to_vec(),
        })
        .path_contains("/tags/list"),
    );
    let err = quick_client().list_tags(&kubectl).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RegistryError::Malformed { .. }), "{text}");
    assert!(
        text.contains(&proxy.addr()) && text.contains("tags"),
        "{text}"
    );
    // The parser's error is the cause, and the message already says it.
    let json = std::error::Error::source(&err)
        .and_then(|cause| cause.downcast_ref::<serde_json::Error>())
        .unwrap_or_else(|| panic!("no serde_json::Error source: {err:?}"));
    assert!(json.is_syntax(), "{json}");
    assert!(text.contains(&json.to_string()), "{text}");
}

#[tokio::test]
async fn a_failing_tag_list_never_leads_to_a_fallback() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.add_rule(Rule::new(Fault::unavailable(Some(0))).path_contains("/tags/list"));
    let request = ResolveRequest {
        reference: Reference::parse(&format!("{}/clastix/kubectl:v1.32", proxy.addr())).unwrap(),
        kube_version: None,
        tag_format: None,
        policy: FallbackPolicy::default(),
        platforms: vec![],
    };
    let err = tagwarden_registry::resolve(&quick_client(), &request)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry(RegistryError::ServerError { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limit_headers_are_recorded() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.add_rule(Rule::new(Fault::header(
        "ratelimit-remaining",
        "97;w=21600",
    )));
    let c = quick_client();
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");
    assert!(matches!(
        c.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
    let limits = c.rate_limits();
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert_eq!(limits[0].0, proxy.addr());
    assert_eq!(limits[0].1.remaining.as_deref(), Some("97;w=21600"));
    assert_eq!(limits[0].1.limit, None);
}

/// The credential rules: another host never sees `Authorization`, whether it is reached
/// through a redirect or named as the token realm.
#[tokio::test]
async fn credentials_never_reach_another_host() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let proxy = FaultProxy::start(&registry.url(), registry.ca_cert_path());
    // 127.0.0.2 is another host than the proxy's 127.0.0.1.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"auths": {proxy.addr(): {"username": user, "password": password}}})
            .to_string(),
    )
    .unwrap();
    let client = || {
        Client::with_extras(
            ClientOptions::builder()
                .credentials(CredentialStore::from_file(&config).unwrap())
                .max_retry_wait(Duration::from_secs(1))
                .build(),
            HashMap::new(),
            None,
        )
        .unwrap()
    };
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");

    // The registry itself gets the credentials (loopback, so plain HTTP is allowed).
    let c = client();
    assert!(matches!(
        c.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
    assert!(proxy.requests().iter().any(|r| r.authorization));

    // A blob redirect to another host: followed, without Authorization.
    let config_blob = {
        let Lookup::Found(m) = c.get_manifest(&kubectl, "v1.29.1").await.unwrap() else {
            panic!("seeded")
        };
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        v["config"]["digest"].as_str().unwrap().to_string()
    };
    let capture = CaptureServer::start_on(other, CaptureResponse::bytes(b"{}"));
    proxy.add_rule(
        Rule::new(Fault::redirect(&format!("{}/blob", capture.url())))
            .path_contains(&format!("/blobs/{config_blob}")),
    );
    let _ = client().get_blob(&kubectl, &config_blob).await; // the digest will not match
    assert!(!capture.requests().is_empty(), "the redirect was followed");
    assert!(!capture.saw_authorization(), "{:?}", capture.requests());
    proxy.clear();

    // A token realm on another host over plain HTTP: asked anonymously.
    let realm = CaptureServer::start_on(other, CaptureResponse::token("captured"));
    proxy.add_rule(
        Rule::new(Fault::bearer_challenge(
            &format!("{}/token", realm.url()),
            "svc",
            None,
        ))
        .path_contains("/manifests/v1.30")
        .times(1),
    );
    let _ = client().head_manifest(&kubectl, "v1.30").await;
    assert!(
        !realm.requests().is_empty(),
        "the realm was asked for a token"
    );
    assert!(!realm.saw_authorization(), "{:?}", realm.requests());
    let _ = seeded;
}

#[tokio::test]
async fn a_hung_host_is_down_for_a_while_then_asked_again() {
    let server = HangingServer::start();
    let client = Client::new(
        ClientOptions::builder()
            .request_timeout(Duration::from_secs(1))
            .max_attempts(1)
            .host_down_for(Duration::from_millis(1500))
            .build(),
    )
    .unwrap();
    let app = repo(&server.addr(), "team/app");

    // Ten questions at once: one waits for its timeout, the others learn the host is down.
    let tags: Vec<String> = (0..10).map(|i| format!("v1.0.{i}")).collect();
    let answers =
        futures::future::join_all(tags.iter().map(|tag| client.head_manifest(&app, tag))).await;
    for answer in answers {
        let err = answer.unwrap_err();
        assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
        // The transport error is the cause, for programs.
        assert!(transport_cause(&err).is_timeout(), "{err:?}");
    }
    let asked = server.connections();
    assert!((1..=8).contains(&asked), "{asked} connections");

    // While it is down, a question costs no connection and names the original failure.
    let down = client.head_manifest(&app, "v2").await.unwrap_err();
    assert!(transport_cause(&down).is_timeout(), "{down:?}");
    let err = down.to_string();
    assert!(
        err.contains("not asked") && err.contains("timed out"),
        "{err}"
    );
    assert_eq!(server.connections(), asked);

    // After the down period, the host is asked again.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let err = client
        .head_manifest(&app, "v3")
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("not asked"), "{err}");
    assert!(server.connections() > asked);
}

/// A 429 stays "could not decide" (never missing), but says so apart: the verdict is
/// marked `rate_limited` and the observer sees the registry's `Retry-After`, which is how
/// `serve`'s monitor pauses a registry. A 503 is not a rate limit.
#[tokio::test]
async fn a_rate_limit_is_told_apart_and_its_retry_after_observed() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    let image = Reference::parse(&format!("{}/clastix/kubectl:v1.31", proxy.addr())).unwrap();
    let options = tagwarden_registry::InspectOptions::default();

    for (fault, rate_limited, retry_after) in [
        (Fault::too_many_requests(3600), true, Some(3600)),
        (Fault::unavailable(Some(3600)), false, Some(3600)),
    ] {
        let rule = proxy.add_rule(Rule::new(fault.clone()).method("HEAD"));
        let events = common::Events::default();
        let client = Client::new(
            ClientOptions::builder()
                .max_retry_wait(Duration::from_secs(2))
                .observer(events.observer())
                .build(),
        )
        .unwrap();
        let verdict = tagwarden_registry::inspect_reference(&client, &image, &options).await;
        assert_eq!(
            verdict.status,
            tagwarden_core::ImageStatus::Unreachable,
            "{fault:?}"
        );
        assert_eq!(verdict.rate_limited, rate_limited, "{fault:?}: {verdict:?}");
        assert!(proxy.hits(rule) >= 1, "{fault:?}");
        let seen: Vec<Option<Duration>> = events
            .all()
            .iter()
            .filter(|e| e.operation == tagwarden_registry::Operation::HeadManifest)
            .map(|e| e.retry_after)
            .collect();
        assert_eq!(
            seen,
            vec![retry_after.map(Duration::from_secs)],
            "{fault:?}"
        );
        proxy.clear();
    }
}
