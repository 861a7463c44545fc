//! Authentication against the real registry in its three modes: plain, htpasswd over TLS
//! with its own CA, and token auth with the harness's token server.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tagwarden_registry::{
    Client, ClientOptions, CredentialStore, Lookup, RegistryError, Repository,
};
use tagwarden_testbed::{Registry, RegistryMode, seed_standard};

use common::repo;

/// A docker config.json with one `auths` entry.
fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    let path = dir.join("config.json");
    let body = serde_json::json!({"auths": {registry: {"username": user, "password": password}}});
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

fn client(credentials: CredentialStore, ca: Option<&Path>, certs_dir: Option<PathBuf>) -> Client {
    Client::with_extras(
        ClientOptions::builder()
            .credentials(credentials)
            .ca_files(ca.map(Path::to_path_buf).into_iter().collect())
            .certs_dir(certs_dir)
            .build(),
        HashMap::new(),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn htpasswd_over_tls_needs_the_ca_and_the_password() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let ca = registry.ca_cert_path().expect("htpasswd mode has a CA");
    let dir = tempfile::tempdir().unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let good = || {
        CredentialStore::from_file(&docker_config(
            dir.path(),
            registry.addr(),
            &user,
            &password,
        ))
        .unwrap()
    };

    // With the CA from --ca-file and the password: found, with the seeded digest.
    let c = client(good(), Some(ca), None);
    match c.head_manifest(&kubectl, "v1.31").await.unwrap() {
        Lookup::Found(h) => assert_eq!(h.digest, seeded.digest("clastix/kubectl", "v1.31")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.head_manifest(&kubectl, "v1.32").await.unwrap(),
        Lookup::Missing(_)
    ));

    // The same CA through Docker's certs.d convention.
    let certs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(certs.path().join(registry.addr())).unwrap();
    std::fs::copy(ca, certs.path().join(registry.addr()).join("ca.crt")).unwrap();
    let c = client(good(), None, Some(certs.path().to_path_buf()));
    assert!(matches!(
        c.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));

    // Without the CA: a certificate error that says how to fix it, never plain HTTP.
    let c = client(good(), None, None);
    let err = c.head_manifest(&kubectl, "v1.31").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("TLS: ")
            && text.contains("certificate")
            && text.contains("--ca-file")
            && text.contains("after 1 attempt"),
        "{text}"
    );

    // Without credentials, or with a wrong password: denied, never missing.
    let c = client(CredentialStore::anonymous(), Some(ca), None);
    let err = c.head_manifest(&kubectl, "v1.32").await.unwrap_err();
    assert!(
        matches!(err, RegistryError::Denied { status: 401, .. }),
        "{err}"
    );
    let wrong =
        CredentialStore::from_file(&docker_config(dir.path(), registry.addr(), &user, "wrong"))
            .unwrap();
    let c = client(wrong, Some(ca), None);
    let err = c.head_manifest(&kubectl, "v1.32").await.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the password never shows: {err}"
    );
}

#[tokio::test]
async fn one_token_covers_every_announced_repository() {
    let registry = Registry::start_with(RegistryMode::Token);
    let seeded = seed_standard(&registry);
    let tokens = registry.token_server().expect("token mode");
    tokens.clear_requests();
    let names = [
        "clastix/kubectl",
        "bitnami/kubectl",
        "library/busybox",
        "acme/tools/kubectl",
        "seed/many-tags",
    ];
    let repos: Vec<Repository> = names.iter().map(|n| repo(registry.addr(), n)).collect();
    let c = client(CredentialStore::anonymous(), None, None);
    c.announce(&repos);

    let heads = repos.iter().map(|r| c.head_manifest(r, "latest"));
    let results = futures::future::join_all(heads).await;
    for (name, result) in names.iter().zip(results) {
        match result.unwrap() {
            Lookup::Found(h) => {
                if seeded.tags(name).contains(&"latest".to_string()) {
                    assert_eq!(h.digest, seeded.digest(name, "latest"));
                }
            }
            Lookup::Missing(_) => assert!(
                !seeded.tags(name).contains(&"latest".to_string()),
                "{name}:latest is seeded"
            ),
        }
    }
    let requests = tokens.requests();
    assert_eq!(requests.len(), 1, "one token request: {requests:?}");
    let mut scopes = requests[0].scopes.clone();
    scopes.sort();
    let mut wanted: Vec<String> = names
        .iter()
        .map(|n| format!("repository:{n}:pull"))
        .collect();
    wanted.sort();
    assert_eq!(scopes, wanted);
    assert!(
        !requests[0].authorization,
        "anonymous: no credentials to send"
    );
}

#[tokio::test]
async fn an_invalid_token_is_refreshed_once() {
    let registry = Registry::start_with(RegistryMode::Token);
    let seeded = seed_standard(&registry);
    let tokens = registry.token_server().unwrap();
    tokens.clear_requests();
    tokens.expire_next(1);
    let c = client(CredentialStore::anonymous(), None, None);
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    match c.head_manifest(&kubectl, "v1.30").await.unwrap() {
        Lookup::Found(h) => assert_eq!(h.digest, seeded.digest("clastix/kubectl", "v1.30")),
        other => panic!("{other:?}"),
    }
    assert_eq!(tokens.requests().len(), 2, "{:?}", tokens.requests());

    // A token server that keeps handing out dead tokens: denied after one refresh.
    tokens.clear_requests();
    tokens.expire_next(10);
    let c = client(CredentialStore::anonymous(), None, None);
    let err = c.head_manifest(&kubectl, "v1.29").await.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert_eq!(tokens.requests().len(), 2, "{:?}", tokens.requests());
}

#[tokio::test]
async fn private_repositories_need_credentials_and_refresh_tokens_work() {
    let registry = Registry::builder()
        .mode(RegistryMode::Token)
        .anonymous_pull(false)
        .start();
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let tokens = registry.token_server().unwrap();
    let kubectl = repo(registry.addr(), "clastix/kubectl");
    let dir = tempfile::tempdir().unwrap();

    // Anonymous: the token grants nothing, the registry denies.
    let c = client(CredentialStore::anonymous(), None, None);
    let err = c.head_manifest(&kubectl, "v1.31").await.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");

    // Username and password: sent to the token server on the registry's own (loopback) host.
    tokens.clear_requests();
    let store = CredentialStore::from_file(&docker_config(
        dir.path(),
        registry.addr(),
        &user,
        &password,
    ))
    .unwrap();
    let c = client(store, None, None);
    match c.head_manifest(&kubectl, "v1.31").await.unwrap() {
        Lookup::Found(h) => assert_eq!(h.digest, seeded.digest("clastix/kubectl", "v1.31")),
        other => panic!("{other:?}"),
    }
    let requests = tokens.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].authorization && requests[0].user.as_deref() == Some(user.as_str()));

    // An identity token (OAuth2 refresh token) is exchanged with grant_type=refresh_token.
    tokens.clear_requests();
    let refresh = tokens.issue_refresh_token();
    let path = dir.path().join("identity.json");
    std::fs::write(
        &path,
        serde_json::json!({"auths": {registry.addr(): {"identitytoken": refresh}}}).to_string(),
    )
    .unwrap();
    let c = client(CredentialStore::from_file(&path).unwrap(), None, None);
    assert!(matches!(
        c.head_manifest(&kubectl, "v1.31").await.unwrap(),
        Lookup::Found(_)
    ));
    let requests = tokens.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(requests[0].client_id.as_deref(), Some("tagwarden"));
}
