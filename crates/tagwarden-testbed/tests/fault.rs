//! The fault-injecting proxy and the capture server, against a real registry,
//! observed with a plain HTTP client and raw sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use tagwarden_testbed::image::sha256_digest;
use tagwarden_testbed::{
    ACCEPT_ALL_MANIFESTS, CaptureResponse, CaptureServer, Fault, FaultProxy, ManifestKind,
    Platform, Registry, Rule, Seeder, dead_addr,
};

const REPO: &str = "fault/repo";

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A plain registry with `fault/repo:1.0` (one OCI image); its digest.
fn registry() -> (Registry, String) {
    let registry = Registry::start();
    let digest =
        registry
            .seeder()
            .push_image(REPO, "1.0", ManifestKind::Oci, &[Platform::linux_amd64()]);
    (registry, digest)
}

fn manifest_url(base: &str, tag: &str) -> String {
    format!("{base}/v2/{REPO}/manifests/{tag}")
}

fn get(c: &Client, url: &str) -> Response {
    c.get(url)
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn head(c: &Client, url: &str) -> Response {
    c.head(url)
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap_or_else(|e| panic!("HEAD {url}: {e}"))
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// `GET target` over a raw socket; everything read until EOF, or the read error.
fn raw_get(addr: &str, target: &str) -> (Vec<u8>, Option<std::io::Error>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: {ACCEPT_ALL_MANIFESTS}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
}

fn is_sha256(d: &str) -> bool {
    d.len() == 71
        && d.starts_with("sha256:")
        && d[7..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn passes_everything_through_by_default() {
    let (registry, digest) = registry();
    let proxy = FaultProxy::start(&registry.url(), None);
    assert_eq!(proxy.upstream(), registry.url());
    let c = client();
    let (direct, via) = (registry.url(), proxy.url());

    // GET and HEAD of a manifest: identical status, type, digest, length and bytes.
    let view = |base: &str| {
        let resp = get(&c, &manifest_url(base, "1.0"));
        let h = |n| header(&resp, n);
        let meta = (
            resp.status(),
            h("content-type"),
            h("docker-content-digest"),
            h("content-length"),
        );
        (meta, resp.bytes().unwrap())
    };
    let (d, v) = (view(&direct), view(&via));
    assert_eq!(d, v);
    assert_eq!(d.0.2.as_deref(), Some(digest.as_str()));
    assert_eq!(sha256_digest(&v.1), digest);
    let resp = head(&c, &manifest_url(&via, "1.0"));
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    // Errors too.
    let resp = get(&c, &manifest_url(&via, "9.9"));
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "MANIFEST_UNKNOWN"
    );

    // A push through the proxy (Location must point back at it).
    proxy.clear_requests();
    let pushed = Seeder::new(&via).push_image(
        REPO,
        "2.0",
        ManifestKind::Docker,
        &[Platform::linux_arm64()],
    );
    assert_eq!(
        header(
            &head(&c, &manifest_url(&direct, "2.0")),
            "docker-content-digest"
        )
        .unwrap(),
        pushed
    );
    let lines = proxy.request_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("PUT /v2/{REPO}/blobs/uploads/"))),
        "{lines:?}"
    );

    // Authorization is recorded as present, its value only on request.
    proxy.clear_requests();
    c.get(format!("{via}/v2/"))
        .bearer_auth("s3cret")
        .send()
        .unwrap();
    c.get(format!("{via}/v2/")).send().unwrap();
    proxy.record_authorization_values(true);
    c.get(format!("{via}/v2/"))
        .bearer_auth("s3cret")
        .send()
        .unwrap();
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].authorization && reqs[0].authorization_value.is_none());
    assert!(!reqs[1].authorization && reqs[1].authorization_value.is_none());
    assert_eq!(
        reqs[2].authorization_value.as_deref(),
        Some("Bearer s3cret")
    );
    assert!(
        reqs.iter()
            .all(|r| r.rule.is_none() && r.method == "GET" && r.target == "/v2/")
    );
}

#[test]
fn status_faults_apply_in_order_and_expire() {
    let (registry, digest) = registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let c = client();
    let url = manifest_url(&proxy.url(), "1.0");

    // 429 + Retry-After twice for HEAD, then the real answer.
    let limited = proxy.add_rule(
        Rule::new(Fault::too_many_requests(1))
            .method("HEAD")
            .path_contains("/manifests/1.0")
            .times(2),
    );
    for _ in 0..2 {
        let resp = head(&c, &url);
        assert_eq!(resp.status(), 429);
        assert_eq!(header(&resp, "retry-after").as_deref(), Some("1"));
        assert_eq!(header(&resp, "docker-content-digest"), None);
    }
    let resp = head(&c, &url);
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    assert_eq!(proxy.hits(limited), 2);
    // GET was never matched by the HEAD rule.
    assert_eq!(get(&c, &url).status(), 200);
    assert_eq!(proxy.hits(limited), 2);

    // The first applicable rule wins; once used up, the next one applies.
    proxy.clear_rules();
    let first = proxy.add_rule(
        Rule::new(Fault::unavailable(Some(2)))
            .path_contains("/manifests/")
            .times(1),
    );
    let second = proxy.add_rule(Rule::new(Fault::status(500)).path_contains("/manifests/"));
    let resp = get(&c, &url);
    assert_eq!(resp.status(), 503);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("2"));
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "UNAVAILABLE"
    );
    let resp = get(&c, &url);
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "UNKNOWN"
    );
    assert_eq!((proxy.hits(first), proxy.hits(second)), (1, 1));
    let resp = get(&c, &manifest_url(&proxy.url(), "1.0"));
    assert_eq!(resp.status(), 500);
    let rec = proxy.requests();
    assert_eq!(rec.last().unwrap().rule, Some(second));
    // Other paths pass.
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .send()
            .unwrap()
            .status(),
        200
    );

    // A 429 GET carries Docker Hub's error body; a Bearer challenge can be forged.
    proxy.clear_rules();
    proxy.add_rule(Rule::new(Fault::too_many_requests(7)).method("GET"));
    let resp = get(&c, &url);
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("7"));
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "TOOMANYREQUESTS"
    );
    proxy.clear_rules();
    proxy.add_rule(Rule::new(Fault::bearer_challenge(
        "http://127.0.0.2:9/token",
        "svc",
        Some("repository:fault/repo:pull"),
    )));
    let resp = head(&c, &url);
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "www-authenticate").unwrap(),
        "Bearer realm=\"http://127.0.0.2:9/token\",service=\"svc\",scope=\"repository:fault/repo:pull\""
    );

    // clear(): a plain pass-through proxy again, with nothing recorded.
    proxy.set_latency(Duration::from_millis(1));
    proxy.clear();
    assert_eq!(proxy.latency(), Duration::ZERO);
    assert!(proxy.requests().is_empty());
    assert_eq!(head(&c, &url).status(), 200);
}

#[test]
fn reset_truncate_and_wrong_bytes() {
    let (registry, digest) = registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let c = client();
    let url = manifest_url(&proxy.url(), "1.0");
    let target = format!("/v2/{REPO}/manifests/1.0");
    let real = get(&c, &manifest_url(&registry.url(), "1.0"))
        .bytes()
        .unwrap();

    // Reset: no answer, and a TCP RST rather than a clean close.
    let reset = proxy.add_rule(
        Rule::new(Fault::Reset)
            .path_contains("/manifests/1.0")
            .times(2),
    );
    let err = c
        .get(&url)
        .send()
        .expect_err("a reset connection has no answer");
    assert!(!err.is_status(), "{err:?}");
    let (got, err) = raw_get(&proxy.addr(), &target);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
    assert_eq!(proxy.hits(reset), 2);
    assert_eq!(get(&c, &url).status(), 200, "times(2) is used up");

    // Truncate: the original Content-Length, half the body, then the connection closes.
    proxy.clear_rules();
    proxy.add_rule(
        Rule::new(Fault::Truncate)
            .method("GET")
            .path_contains("/manifests/"),
    );
    let resp = get(&c, &url);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(real.len() as u64));
    assert!(
        resp.bytes().is_err(),
        "a truncated body must be a client error"
    );
    let (got, _) = raw_get(&proxy.addr(), &target);
    let text = String::from_utf8_lossy(&got).to_string();
    let (head_text, body) = text
        .split_once("\r\n\r\n")
        .expect("a status line and headers");
    assert!(head_text.starts_with("HTTP/1.1 200"), "{head_text}");
    assert!(
        head_text
            .to_ascii_lowercase()
            .contains(&format!("content-length: {}", real.len())),
        "{head_text}"
    );
    assert_eq!(body.len(), real.len() / 2);
    assert_eq!(body.as_bytes(), &real[..real.len() / 2]);
    // HEAD has no body to cut: unchanged.
    assert_eq!(head(&c, &url).status(), 200);

    // WrongDigest: a well-formed digest that is not the body's; body intact.
    proxy.clear_rules();
    proxy.add_rule(Rule::new(Fault::WrongDigest));
    for resp in [head(&c, &url), get(&c, &url)] {
        let got = header(&resp, "docker-content-digest").unwrap();
        assert!(is_sha256(&got), "{got}");
        assert_ne!(got, digest);
        if resp.content_length() != Some(0) {
            assert_eq!(sha256_digest(&resp.bytes().unwrap()), digest);
        }
    }

    // CorruptBody: same length, other bytes, the real digest header.
    proxy.clear_rules();
    proxy.add_rule(Rule::new(Fault::CorruptBody));
    let resp = get(&c, &url);
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    let body = resp.bytes().unwrap();
    assert_eq!(body.len(), real.len());
    assert_ne!(body, real);
    assert_ne!(sha256_digest(&body), digest);
    assert!(
        serde_json::from_slice::<Value>(&body).is_ok(),
        "JSON stays well-formed"
    );
}

#[test]
fn delays_latency_headers_and_redirects() {
    let (registry, digest) = registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let c = client();
    let url = manifest_url(&proxy.url(), "1.0");

    // Delay one path, not the others.
    proxy
        .add_rule(Rule::new(Fault::Delay(Duration::from_millis(150))).path_contains("/manifests/"));
    let t = Instant::now();
    assert_eq!(head(&c, &url).status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );

    // Global latency: every request takes at least that long.
    proxy.clear_rules();
    proxy.set_latency(Duration::from_millis(5));
    assert_eq!(proxy.latency(), Duration::from_millis(5));
    let t = Instant::now();
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(head(&c, &url).status(), 200);
        assert!(t.elapsed() >= Duration::from_millis(5), "{:?}", t.elapsed());
    }
    assert!(t.elapsed() >= Duration::from_millis(50));
    proxy.set_latency(Duration::ZERO);

    // Header: Docker Hub's rate-limit headers on a real answer.
    proxy.add_rule(Rule::new(Fault::header("ratelimit-remaining", "99;w=21600")).method("HEAD"));
    proxy.add_rule(Rule::new(Fault::header(
        "docker-ratelimit-source",
        "203.0.113.7",
    )));
    let resp = head(&c, &url);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "ratelimit-remaining").as_deref(),
        Some("99;w=21600")
    );
    assert_eq!(
        header(&resp, "docker-ratelimit-source"),
        None,
        "only the first rule applies"
    );
    assert_eq!(header(&resp, "docker-content-digest").unwrap(), digest);
    let resp = get(&c, &url);
    assert_eq!(
        header(&resp, "docker-ratelimit-source").as_deref(),
        Some("203.0.113.7")
    );

    // Redirect to an "object store" on another loopback host.
    let store = CaptureServer::start_on(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        CaptureResponse::bytes(b"layer bytes"),
    );
    assert!(
        store.url().starts_with("http://127.0.0.2:"),
        "{}",
        store.url()
    );
    let location = format!("{}/bucket/blob?X-Amz-Signature=abc", store.url());
    proxy.clear_rules();
    let redirect = proxy.add_rule(Rule::new(Fault::redirect(&location)).path_contains("/blobs/"));
    let resp = c
        .get(format!(
            "{}/v2/{REPO}/blobs/sha256:{}",
            proxy.url(),
            "0".repeat(64)
        ))
        .basic_auth("testuser", Some("testpassword"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert_eq!(
        header(&resp, "location").as_deref(),
        Some(location.as_str())
    );
    assert_eq!(proxy.hits(redirect), 1);
    // A client that follows it: reqwest drops Authorization for another host.
    let following = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = following
        .get(format!(
            "{}/v2/{REPO}/blobs/sha256:{}",
            proxy.url(),
            "0".repeat(64)
        ))
        .basic_auth("testuser", Some("testpassword"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().unwrap().as_ref(), b"layer bytes");
    let seen = store.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/bucket/blob?X-Amz-Signature=abc");
    assert!(!store.saw_authorization());
    assert!(
        proxy.requests().last().unwrap().authorization,
        "the proxy did get it"
    );
}

#[test]
fn capture_server_records_authorization() {
    let realm = CaptureServer::token_realm();
    let c = client();
    let url = format!("{}/token?service=x&scope=repository:a:pull", realm.url());
    let resp = c
        .get(&url)
        .basic_auth("testuser", Some("testpassword"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap()["token"], "captured");
    c.get(&url).header("X-Custom", "1").send().unwrap();
    let reqs = realm.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, "/token?service=x&scope=repository:a:pull");
    assert!(reqs[0].authorization);
    assert!(reqs[0].header_names.iter().any(|h| h == "authorization"));
    assert!(!reqs[1].authorization);
    assert!(reqs[1].header_names.iter().any(|h| h == "x-custom"));
    assert!(!reqs[1].header_names.iter().any(|h| h == "authorization"));
    assert!(realm.saw_authorization());
    realm.clear_requests();
    assert!(!realm.saw_authorization());

    // Default answer, and a configurable one.
    let plain = CaptureServer::start();
    let resp = c.post(plain.url()).body("x").send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap(), serde_json::json!({}));
    plain.set_response(
        CaptureResponse::json(418, &serde_json::json!({"no": "tea"})).with_header("X-A", "b"),
    );
    let resp = c.get(plain.url()).send().unwrap();
    assert_eq!(resp.status(), 418);
    assert_eq!(header(&resp, "x-a").as_deref(), Some("b"));
    assert_eq!(plain.requests()[0].method, "POST");
    let store = CaptureServer::serving(b"\x00\x01bytes");
    let resp = c.get(format!("{}/any", store.url())).send().unwrap();
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(resp.bytes().unwrap().as_ref(), b"\x00\x01bytes");
}

#[test]
fn dead_upstream_is_502() {
    let proxy = FaultProxy::start(&format!("http://{}", dead_addr()), None);
    let resp = client().get(format!("{}/v2/", proxy.url())).send().unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "UNAVAILABLE"
    );
    assert_eq!(proxy.request_lines(), ["GET /v2/"]);
}

#[test]
#[should_panic(expected = "invalid HTTP header \"bad header\"")]
fn invalid_rules_fail_in_the_test() {
    let proxy = FaultProxy::start(&format!("http://{}", dead_addr()), None);
    proxy.add_rule(Rule::new(Fault::header("bad header", "x")));
}

#[test]
#[should_panic(expected = "registry.ca_cert_path()")]
fn https_upstream_needs_a_ca() {
    let _ = FaultProxy::start("https://127.0.0.1:1", None);
}

#[test]
fn drop_stops_the_servers() {
    // A freed port may be taken at once by a server of a test running in parallel, so a
    // connection after the drop is not proof by itself; servers that never stop fail
    // every round, while a stray reuse cannot happen three times in a row.
    let mut answered = Vec::new();
    for _round in 0..3 {
        let proxy = FaultProxy::start(&format!("http://{}", dead_addr()), None);
        let capture = CaptureServer::start();
        let addrs: Vec<SocketAddr> = [proxy.addr(), capture.addr()]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        for a in &addrs {
            assert!(TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok());
        }
        drop(proxy);
        drop(capture);
        let still_answering: Vec<&SocketAddr> = addrs
            .iter()
            .filter(|a| TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok())
            .collect();
        if still_answering.is_empty() {
            return;
        }
        answered.push(format!("{still_answering:?}"));
    }
    panic!("dropped servers still accept connections: {answered:?}");
}
