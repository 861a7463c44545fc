//! One registry budget, whatever the credentials: clients made with
//! [`Client::with_keychain`] share the transport (per-host concurrency, pacing, learned
//! challenges), but never their tokens or their answers in memory. Against the real
//! registry: htpasswd with many users behind the fault proxy (which counts requests in
//! flight), and token auth with the test bed's token server.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use futures::future::join_all;
use tagwarden_registry::{
    Anonymous, Client, ClientOptions, CredentialStore, Lookup, PullSecretKeychain, RegistryError,
};
use tagwarden_testbed::{FaultProxy, Registry, RegistryMode, seed_standard};

use common::repo;

/// How many sets of credentials the budget tests use.
const SETS: usize = 50;

/// `(user-N, password-N)` for N in 0..SETS.
fn users() -> Vec<(String, String)> {
    (0..SETS)
        .map(|n| (format!("user-{n}"), format!("password-{n}")))
        .collect()
}

/// A pull secret's `.dockerconfigjson` for `registry`.
fn dockerconfigjson(registry: &str, user: &str, password: &str) -> String {
    serde_json::json!({"auths": {registry: {"username": user, "password": password}}}).to_string()
}

fn pull_secret(registry: &str, n: usize, user: &str, password: &str) -> PullSecretKeychain {
    PullSecretKeychain::from_cluster_secrets(&[(
        format!("team-{n}/regcred"),
        dockerconfigjson(registry, user, password),
    )])
    .unwrap()
}

fn anonymous_client(max_concurrency: usize, ca: Option<&Path>) -> Client {
    Client::new(
        ClientOptions::builder()
            .credentials(Anonymous)
            .max_concurrency_per_registry(max_concurrency)
            .ca_files(ca.map(Path::to_path_buf).into_iter().collect())
            .build(),
    )
    .unwrap()
}

/// The user a recorded `Authorization: Basic …` value names.
fn basic_user(value: &str) -> Option<String> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.0.to_string())
}

/// The htpasswd registry with [`users`], seeded, behind a proxy that records who asked
/// and answers slowly, so that requests that may overlap do.
fn many_users_behind_a_slow_proxy() -> (Registry, tagwarden_testbed::Seeded, FaultProxy) {
    let registry = Registry::builder()
        .mode(RegistryMode::Htpasswd)
        .extra_users(users())
        .start();
    let seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.record_authorization_values(true);
    proxy.set_latency(Duration::from_millis(30));
    (registry, seeded, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_credential_sets_share_one_concurrency_limit() {
    let (_registry, seeded, proxy) = many_users_behind_a_slow_proxy();
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");

    let shared = anonymous_client(2, None);
    let clients: Vec<Client> = users()
        .iter()
        .enumerate()
        .map(|(n, (user, password))| {
            shared.with_keychain(pull_secret(&proxy.addr(), n, user, password))
        })
        .collect();
    let answers = join_all(clients.iter().map(|client| {
        let kubectl = &kubectl;
        async move {
            let found = client.head_manifest(kubectl, "v1.31").await;
            let missing = client.head_manifest(kubectl, "v1.32").await;
            (found, missing)
        }
    }))
    .await;

    for (found, missing) in answers {
        match found.unwrap() {
            Lookup::Found(head) => {
                assert_eq!(head.digest, seeded.digest("clastix/kubectl", "v1.31"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(missing.unwrap(), Lookup::Missing(_)));
    }
    let requests = proxy.requests();
    assert!(
        requests.len() >= 2 * SETS,
        "every set asked twice: {}",
        requests.len()
    );
    assert_eq!(
        proxy.max_in_flight(),
        2,
        "--max-concurrency 2 holds for the registry, whatever the credentials"
    );
    // Each set asked with its own user: credentials are per keychain.
    let authenticated: BTreeSet<String> = requests
        .iter()
        .filter_map(|r| r.authorization_value.as_deref().and_then(basic_user))
        .collect();
    let expected: BTreeSet<String> = users().into_iter().map(|(user, _)| user).collect();
    assert_eq!(authenticated, expected);
    // The challenge was learned once, for everyone: one unauthenticated request.
    let anonymous = requests.iter().filter(|r| !r.authorization).count();
    assert_eq!(anonymous, 1, "{:?}", proxy.request_lines());
}

#[tokio::test]
async fn two_credentials_get_two_tokens_and_each_reuses_its_own() {
    let registry = Registry::start_with(RegistryMode::Token);
    seed_standard(&registry);
    let (user, password) = registry.credentials();
    let tokens = registry.token_server().unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let bitnami = repo(registry.addr(), "bitnami/kubectl");

    let anonymous = anonymous_client(4, None);
    let with_user = anonymous.with_keychain(pull_secret(registry.addr(), 0, &user, &password));
    // Another keychain with the same credentials: the same token.
    let same_user = anonymous.with_keychain(pull_secret(registry.addr(), 1, &user, &password));
    tokens.clear_requests();
    for client in [&anonymous, &with_user, &anonymous, &with_user, &same_user] {
        for (repository, tag) in [(&kubectl, "v1.31"), (&kubectl, "v1.30")] {
            assert!(matches!(
                client.head_manifest(repository, tag).await.unwrap(),
                Lookup::Found(_)
            ));
        }
    }
    let users: Vec<Option<String>> = tokens.requests().into_iter().map(|r| r.user).collect();
    assert_eq!(
        users,
        vec![None, Some(user.clone())],
        "one token per credential, reused"
    );

    // A new scope: each credential asks for its own token again, once.
    tokens.clear_requests();
    for client in [&with_user, &anonymous, &same_user, &anonymous] {
        assert!(matches!(
            client.head_manifest(&bitnami, "1.31").await.unwrap(),
            Lookup::Found(_)
        ));
    }
    let users: Vec<Option<String>> = tokens.requests().into_iter().map(|r| r.user).collect();
    assert_eq!(users, vec![Some(user), None]);
}

/// True when the registry refused the request (401), never "present" or "missing".
fn denied<T>(result: Result<Lookup<T>, RegistryError>) -> bool {
    matches!(result, Err(RegistryError::Denied { status: 401, .. }))
}

#[tokio::test]
async fn an_answer_with_credentials_is_never_served_without_them() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let ca = registry.ca_cert_path().unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let anonymous = anonymous_client(4, Some(ca));
    let with_secret = anonymous.with_keychain(pull_secret(registry.addr(), 0, &user, &password));

    // Without credentials: denied. With them: present. Without again: still denied,
    // not the answer the pull secret got, from memory.
    assert!(denied(anonymous.head_manifest(&kubectl, "v1.31").await));
    match with_secret.head_manifest(&kubectl, "v1.31").await.unwrap() {
        Lookup::Found(head) => assert_eq!(head.digest, seeded.digest("clastix/kubectl", "v1.31")),
        other => panic!("{other:?}"),
    }
    assert!(denied(anonymous.head_manifest(&kubectl, "v1.31").await));

    // The same for tag lists and manifests, asked with credentials first.
    assert!(matches!(
        with_secret.list_tags(&kubectl).await.unwrap(),
        Lookup::Found(tags) if tags.contains(&"v1.31".to_string())
    ));
    assert!(denied(anonymous.list_tags(&kubectl).await));
    assert!(denied(anonymous.list_tags_fresh(&kubectl).await));
    assert!(matches!(
        with_secret.get_manifest(&kubectl, "v1.30").await.unwrap(),
        Lookup::Found(_)
    ));
    assert!(denied(anonymous.get_manifest(&kubectl, "v1.30").await));

    // And a client that gives up its credentials does not keep their answers either.
    let given_up = with_secret.with_keychain(Anonymous);
    assert!(denied(given_up.head_manifest(&kubectl, "v1.31").await));
    // While the pull secret's own client still answers, from memory or not.
    assert!(matches!(
        with_secret.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
}

/// A fleet's clusters name their pull secrets differently but often hold the same
/// credential: answers in memory (and the single flight) are kept per credential, so each
/// image is asked once per credential, however many keychains give it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keychains_that_give_the_same_credential_share_answers_and_flights() {
    let (_registry, seeded, proxy) = many_users_behind_a_slow_proxy();
    let kubectl = repo(&proxy.addr(), "clastix/kubectl");
    let shared = anonymous_client(8, None);
    let (user_0, password_0) = &users()[0];
    let (user_1, password_1) = &users()[1];
    // Five clusters' keychains (five Secret names) with user-0, three with user-1.
    let clients: Vec<Client> = (0..8)
        .map(|n| {
            let (user, password) = if n < 5 {
                (user_0, password_0)
            } else {
                (user_1, password_1)
            };
            shared.with_keychain(pull_secret(&proxy.addr(), n, user, password))
        })
        .collect();
    let answers = join_all(clients.iter().map(|client| {
        let kubectl = &kubectl;
        async move {
            (
                client.head_manifest(kubectl, "v1.31").await,
                client.head_manifest(kubectl, "v1.32").await,
                client.list_tags(kubectl).await,
            )
        }
    }))
    .await;
    for (found, missing, tags) in answers {
        assert!(
            matches!(found.unwrap(), Lookup::Found(head) if head.digest == seeded.digest("clastix/kubectl", "v1.31"))
        );
        assert!(matches!(missing.unwrap(), Lookup::Missing(_)));
        assert!(
            matches!(tags.unwrap(), Lookup::Found(tags) if tags.contains(&"v1.31".to_string()))
        );
    }
    let requests = proxy.requests();
    let asked = |user: &str, path: &str| {
        requests
            .iter()
            .filter(|r| format!("{} {}", r.method, r.target).starts_with(path))
            .filter(|r| {
                r.authorization_value
                    .as_deref()
                    .and_then(basic_user)
                    .as_deref()
                    == Some(user)
            })
            .count()
    };
    for user in [user_0, user_1] {
        for path in [
            "HEAD /v2/clastix/kubectl/manifests/v1.31",
            "HEAD /v2/clastix/kubectl/manifests/v1.32",
            "GET /v2/clastix/kubectl/tags/list",
        ] {
            assert_eq!(
                asked(user, path),
                1,
                "{user} {path}: {:?}",
                proxy.request_lines()
            );
        }
    }
    // And a third credential is not served what the other two learnt.
    let (user_2, password_2) = &users()[2];
    let third = shared.with_keychain(pull_secret(&proxy.addr(), 9, user_2, password_2));
    assert!(matches!(
        third.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
    let requests = proxy.requests();
    let third_asked = requests
        .iter()
        .filter(|r| {
            r.authorization_value
                .as_deref()
                .and_then(basic_user)
                .as_deref()
                == Some(user_2.as_str())
        })
        .count();
    assert_eq!(third_asked, 1, "{:?}", proxy.request_lines());
}

#[tokio::test]
async fn keychains_ask_first_before_the_clients_own() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    seed_standard(&registry);
    let (user, password) = registry.credentials();
    let ca = registry.ca_cert_path().unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, dockerconfigjson(registry.addr(), &user, &password)).unwrap();
    let local = Client::new(
        ClientOptions::builder()
            .credentials(CredentialStore::from_file(&config).unwrap())
            .ca_files(vec![ca.to_path_buf()])
            .build(),
    )
    .unwrap();
    // A pull secret for another registry: the local credentials still answer.
    let other = local.with_keychain_first(pull_secret("elsewhere.example", 0, "u", "p"));
    assert!(matches!(
        other.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
    // A wrong pull secret for this registry is asked first, and refused.
    let wrong = local.with_keychain_first(pull_secret(registry.addr(), 1, &user, "wrong"));
    let err = wrong.head_manifest(&kubectl, "v1.31").await.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert!(
        err.to_string().contains("team-1/regcred"),
        "the refused credential is named: {err}"
    );
}
