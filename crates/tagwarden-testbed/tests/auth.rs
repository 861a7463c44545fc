//! The registry in htpasswd (TLS + Basic) and token (Bearer) mode, and the
//! token server, against the real docker-registry.

use std::time::Duration;

use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use tagwarden_testbed::image::OCI_INDEX;
use tagwarden_testbed::{
    ACCEPT_ALL_MANIFESTS, FaultProxy, ManifestKind, Platform, Registry, RegistryMode, TokenServer,
    seed_standard,
};

/// A client that trusts only `ca` (or the system roots when `None`).
fn client(ca: Option<&std::path::Path>) -> Client {
    let mut b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
    }
    b.build().unwrap()
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {resp:?}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn head_manifest(c: &Client, base: &str, repo: &str, tag: &str, auth: Option<&str>) -> Response {
    let mut req = c
        .head(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("Accept", ACCEPT_ALL_MANIFESTS);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    req.send().unwrap()
}

#[test]
fn htpasswd_mode_is_tls_with_basic_auth() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    assert_eq!(registry.mode(), RegistryMode::Htpasswd);
    let base = registry.url();
    assert_eq!(base, format!("https://{}", registry.addr()));
    assert!(registry.token_server().is_none());
    let (user, password) = registry.credentials();
    assert_eq!(
        (user.as_str(), password.as_str()),
        ("testuser", "testpassword")
    );
    let ca = registry.ca_cert_path().expect("htpasswd mode has a CA");
    assert!(ca.starts_with(registry.data_dir()));
    let ca_dir = registry.ca_cert_dir().unwrap();
    assert_eq!(ca_dir.join("ca.crt"), ca);
    assert_eq!(
        std::fs::read_dir(ca_dir).unwrap().count(),
        1,
        "ca.crt alone, for --cert-dir"
    );
    assert!(
        registry.config().contains("htpasswd:"),
        "{}",
        registry.config()
    );

    // Without the CA the certificate is not trusted.
    let err = client(None)
        .get(format!("{base}/v2/"))
        .send()
        .expect_err("a client without the test CA must refuse the certificate");
    assert!(err.is_connect(), "{err:?}");

    let c = client(Some(ca));
    // No credentials: 401 with a Basic challenge.
    let resp = c.get(format!("{base}/v2/")).send().unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert!(
        challenge.starts_with("Basic realm=\"tagwarden-testbed\""),
        "{challenge}"
    );
    // Wrong password: 401.
    let resp = c
        .get(format!("{base}/v2/"))
        .basic_auth(&user, Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Right credentials: 200, also by the name `localhost` (SAN).
    for url in [
        format!("{base}/v2/"),
        format!(
            "https://localhost:{}/v2/",
            registry.addr().rsplit(':').next().unwrap()
        ),
    ] {
        let resp = c
            .get(&url)
            .basic_auth(&user, Some(&password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
    }

    // The standard data set seeds with the registry's own seeder.
    let seeded = seed_standard(&registry);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let resp = head_manifest(&c, &base, "clastix/kubectl", "v1.31", Some(&auth));
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-content-digest"),
        seeded.digest("clastix/kubectl", "v1.31.4")
    );
    assert_eq!(header(&resp, "content-type"), OCI_INDEX);
    let resp = head_manifest(&c, &base, "clastix/kubectl", "v1.31", None);
    assert_eq!(resp.status(), 401);

    // A FaultProxy in front of the HTTPS registry (it verifies with the CA):
    // auth passes both ways, and a push through it works (the registry's
    // upload Location must point back at the plain-HTTP proxy).
    let proxy = FaultProxy::in_front_of(&registry);
    let plain = client(None);
    let resp = plain.get(format!("{}/v2/", proxy.url())).send().unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").starts_with("Basic "));
    let resp = head_manifest(
        &plain,
        &proxy.url(),
        "clastix/kubectl",
        "v1.31",
        Some(&auth),
    );
    assert_eq!(resp.status(), 200);
    let digest = registry.seeder_for(&proxy.url()).push_image(
        "via/proxy",
        "1.0",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let resp = head_manifest(&c, &base, "via/proxy", "1.0", Some(&auth));
    assert_eq!(header(&resp, "docker-content-digest"), digest);
    let reqs = proxy.requests();
    assert!(
        reqs.iter()
            .any(|r| r.method == "PUT" && r.target.contains("/blobs/uploads/") && r.authorization),
        "the upload PUT must come back through the proxy, with credentials: {reqs:?}"
    );
    assert!(reqs.iter().all(|r| r.authorization_value.is_none()));
}

#[test]
fn htpasswd_mode_takes_custom_credentials() {
    let registry = Registry::builder()
        .mode(RegistryMode::Htpasswd)
        .credentials("alice", "s3cret with spaces")
        .start();
    assert_eq!(
        registry.credentials(),
        ("alice".to_string(), "s3cret with spaces".to_string())
    );
    let c = client(registry.ca_cert_path());
    let url = format!("{}/v2/", registry.url());
    let status = |user: &str, pw: &str| {
        c.get(&url)
            .basic_auth(user, Some(pw))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(status("alice", "s3cret with spaces"), 200);
    assert_eq!(status("testuser", "testpassword"), 401);
    let d = registry.seeder().push_image(
        "custom/creds",
        "1",
        ManifestKind::Docker,
        &[Platform::linux_amd64()],
    );
    assert!(d.starts_with("sha256:"));
}

/// `GET realm?service=S&scope=..&scope=..`, with Basic auth when given; the token.
fn get_token(c: &Client, ts: &TokenServer, scopes: &[&str], basic: Option<(&str, &str)>) -> String {
    let mut query = vec![("service", ts.service())];
    query.extend(scopes.iter().map(|s| ("scope", *s)));
    let mut req = c.get(ts.realm()).query(&query);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let issued = body["issued_at"].as_str().unwrap();
    assert!(
        issued.len() == 20 && issued.ends_with('Z') && issued.as_bytes()[10] == b'T',
        "issued_at {issued}"
    );
    body["token"].as_str().unwrap().to_string()
}

#[test]
fn token_mode_grants_what_the_token_server_says() {
    let registry = Registry::start_with(RegistryMode::Token);
    let ts = registry
        .token_server()
        .expect("token mode has a token server");
    let base = registry.url();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert!(registry.ca_cert_path().is_none());
    assert_ne!(ts.addr(), registry.addr());
    let (user, password) = registry.credentials();
    assert_eq!(ts.credentials(), (user.clone(), password.clone()));
    let seeded = seed_standard(&registry);
    // The seeder fetched one token per repository, authenticated, for pull,push.
    let seeding = ts.requests();
    assert!(!seeding.is_empty());
    assert!(
        seeding.iter().all(|r| r.user.as_deref() == Some("testuser")
            && r.scopes.len() == 1
            && r.scopes[0].ends_with(":pull,push")
            && r.status == 200),
        "{seeding:?}"
    );
    let mut scopes: Vec<&str> = seeding.iter().map(|r| r.scopes[0].as_str()).collect();
    scopes.sort();
    let want: Vec<String> = seeded
        .repos()
        .iter()
        .map(|r| format!("repository:{r}:pull,push"))
        .collect();
    assert_eq!(scopes, want, "exactly one token per repository");
    ts.clear_requests();

    let c = client(None);
    // No token: 401 with a Bearer challenge naming the harness's realm.
    let resp = c.get(format!("{base}/v2/")).send().unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "www-authenticate"),
        format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            ts.realm(),
            ts.service()
        )
    );
    let resp = head_manifest(&c, &base, "clastix/kubectl", "v1.31", None);
    assert_eq!(resp.status(), 401);
    assert!(
        header(&resp, "www-authenticate").contains("scope=\"repository:clastix/kubectl:pull\""),
    );

    // One anonymous token with two scopes opens both repositories for HEAD.
    let (a, b) = (
        "repository:clastix/kubectl:pull",
        "repository:bitnami/kubectl:pull",
    );
    let token = get_token(&c, ts, &[a, b], None);
    let bearer = format!("Bearer {token}");
    for (repo, tag) in [("clastix/kubectl", "v1.31"), ("bitnami/kubectl", "latest")] {
        let resp = head_manifest(&c, &base, repo, tag, Some(&bearer));
        assert_eq!(resp.status(), 200, "{repo}:{tag}");
        assert_eq!(
            header(&resp, "docker-content-digest"),
            seeded.digest(repo, tag)
        );
    }
    let reqs = ts.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/token");
    assert_eq!(reqs[0].scopes, [a, b]);
    assert_eq!(reqs[0].service.as_deref(), Some(ts.service()));
    assert!(!reqs[0].authorization);
    assert_eq!(reqs[0].user, None);
    // The JWT is what distribution expects.
    let cl = claims(&token);
    assert_eq!(cl["iss"], ts.issuer());
    assert_eq!(cl["aud"], ts.service());
    assert_eq!(cl["sub"], "");
    assert_eq!(cl["access"][0]["actions"], serde_json::json!(["pull"]));
    assert!(cl["exp"].as_u64().unwrap() > cl["iat"].as_u64().unwrap());

    // A token for A does not open B: 401 insufficient_scope.
    let only_a = format!("Bearer {}", get_token(&c, ts, &[a], None));
    assert_eq!(
        head_manifest(&c, &base, "clastix/kubectl", "v1.31", Some(&only_a)).status(),
        200
    );
    let resp = head_manifest(&c, &base, "bitnami/kubectl", "latest", Some(&only_a));
    assert_eq!(resp.status(), 401);
    assert!(
        header(&resp, "www-authenticate").contains("error=\"insufficient_scope\""),
        "{resp:?}"
    );

    // Anonymous callers get pull only, even when asking for push.
    let anon = get_token(&c, ts, &["repository:clastix/kubectl:pull,push"], None);
    assert_eq!(
        claims(&anon)["access"][0]["actions"],
        serde_json::json!(["pull"])
    );
    // Authenticated callers get pull and push; the user is recorded.
    ts.clear_requests();
    let authed = get_token(
        &c,
        ts,
        &["repository:clastix/kubectl:pull,push"],
        Some((&user, &password)),
    );
    assert_eq!(
        claims(&authed)["access"][0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    assert_eq!(claims(&authed)["sub"], "testuser");
    let reqs = ts.requests();
    assert!(reqs[0].authorization);
    assert_eq!(reqs[0].user.as_deref(), Some("testuser"));
    // Wrong credentials: 401 with a Basic challenge, recorded without a user.
    let resp = c
        .get(ts.realm())
        .query(&[("service", ts.service()), ("scope", a)])
        .basic_auth(&user, Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").starts_with("Basic "));
    let last = ts.requests().pop().unwrap();
    assert_eq!(
        (last.status, last.authorization, last.user),
        (401, true, None)
    );
    // Another service: 400.
    let resp = c
        .get(ts.realm())
        .query(&[("service", "elsewhere"), ("scope", a)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);

    // OAuth2 refresh-token grant (Docker's identitytoken).
    let refresh = ts.issue_refresh_token();
    ts.clear_requests();
    let form = |grant: &[(&str, &str)]| {
        let mut f = vec![
            ("service", ts.service()),
            ("scope", b),
            ("client_id", "tagwarden-test"),
        ];
        f.extend_from_slice(grant);
        c.post(ts.realm()).form(&f).send().unwrap()
    };
    let resp = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["sub"], "testuser");
    assert_eq!(
        head_manifest(
            &c,
            &base,
            "bitnami/kubectl",
            "latest",
            Some(&format!("Bearer {access}"))
        )
        .status(),
        200
    );
    let reqs = ts.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(reqs[0].client_id.as_deref(), Some("tagwarden-test"));
    assert_eq!(reqs[0].scopes, [b]);
    assert_eq!(reqs[0].user.as_deref(), Some("testuser"));
    assert!(!reqs[0].authorization);
    // An unknown refresh token: 400 invalid_grant.
    let resp = form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]);
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().unwrap()["error"], "invalid_grant");
    // Password grant, with a refresh token for later (access_type=offline).
    let resp = form(&[
        ("grant_type", "password"),
        ("username", &user),
        ("password", &password),
        ("access_type", "offline"),
    ]);
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    let again = body["refresh_token"]
        .as_str()
        .expect("offline asks for a refresh token");
    assert_eq!(
        form(&[("grant_type", "refresh_token"), ("refresh_token", again)]).status(),
        200
    );
    let resp = form(&[
        ("grant_type", "password"),
        ("username", &user),
        ("password", "wrong"),
    ]);
    assert_eq!(resp.status(), 400);

    // An expired token: the registry says invalid_token; the next one works.
    ts.expire_next(1);
    let stale = format!("Bearer {}", get_token(&c, ts, &[a], None));
    let resp = head_manifest(&c, &base, "clastix/kubectl", "v1.31", Some(&stale));
    assert_eq!(resp.status(), 401);
    assert!(
        header(&resp, "www-authenticate").contains("error=\"invalid_token\""),
        "{resp:?}"
    );
    let fresh = format!("Bearer {}", get_token(&c, ts, &[a], None));
    assert_eq!(
        head_manifest(&c, &base, "clastix/kubectl", "v1.31", Some(&fresh)).status(),
        200
    );

    // Bearer tokens pass through a FaultProxy.
    let proxy = FaultProxy::in_front_of(&registry);
    assert_eq!(
        head_manifest(&c, &proxy.url(), "clastix/kubectl", "v1.31", Some(&fresh)).status(),
        200
    );
    assert!(proxy.requests()[0].authorization);
}

#[test]
fn token_mode_without_anonymous_pull_and_with_a_fixed_refresh_token() {
    let registry = Registry::builder()
        .mode(RegistryMode::Token)
        .anonymous_pull(false)
        .refresh_token("fixed-refresh-token")
        .token_expires_in(60)
        .start();
    let ts = registry.token_server().unwrap();
    registry.seeder().push_image(
        "private/repo",
        "1.0",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let c = client(None);
    let scope = "repository:private/repo:pull";
    let resp = c
        .get(ts.realm())
        .query(&[("service", ts.service()), ("scope", scope)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["expires_in"], 60);
    let anon = body["token"].as_str().unwrap();
    assert_eq!(claims(anon)["access"], serde_json::json!([]));
    let resp = head_manifest(
        &c,
        &registry.url(),
        "private/repo",
        "1.0",
        Some(&format!("Bearer {anon}")),
    );
    assert_eq!(resp.status(), 401, "an anonymous token opens nothing");

    let resp = c
        .post(ts.realm())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "fixed-refresh-token"),
            ("service", ts.service()),
            ("scope", scope),
            ("client_id", "tagwarden-test"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let access = resp.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = head_manifest(
        &c,
        &registry.url(),
        "private/repo",
        "1.0",
        Some(&format!("Bearer {access}")),
    );
    assert_eq!(resp.status(), 200);

    // Switched on at run time, anonymous pull works.
    ts.set_anonymous_pull(true);
    let direct = ts.token(None, &[scope]);
    assert_eq!(
        head_manifest(
            &c,
            &registry.url(),
            "private/repo",
            "1.0",
            Some(&format!("Bearer {direct}"))
        )
        .status(),
        200
    );
}

#[test]
fn a_plain_seeder_fails_loudly_against_auth() {
    let registry = Registry::start_with(RegistryMode::Token);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tagwarden_testbed::Seeder::new(&registry.url()).push_image(
            "no/creds",
            "1",
            ManifestKind::Oci,
            &[Platform::linux_amd64()],
        )
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("the registry wants credentials") && msg.contains("registry.seeder()"),
        "{msg}"
    );
}
