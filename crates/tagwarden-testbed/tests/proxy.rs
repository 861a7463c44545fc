//! The paging proxy in front of a real registry.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use tagwarden_testbed::{
    ACCEPT_ALL_MANIFESTS, MANY_TAGS, ManifestKind, PagingProxy, Platform, Registry, Seeder,
    dead_addr, many_tag_names,
};

const REPO: &str = "seed/many-tags";

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn link(resp: &Response) -> Option<String> {
    resp.headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string())
}

fn tags_of(body: &Value) -> Vec<String> {
    body["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags array in {body}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// `</v2/...?last=x&n=50>; rel="next"` -> `/v2/...?last=x&n=50`
fn next_target(link: &str) -> String {
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .map(|(t, rest)| {
            assert_eq!(rest, "; rel=\"next\"", "Link: {link}");
            t
        })
        .unwrap_or_else(|| panic!("malformed Link: {link}"));
    target.to_string()
}

/// Follow `Link` from `first` to the end; returns (all tags, number of pages).
fn follow(c: &Client, base: &str, first: &str) -> (Vec<String>, Vec<usize>) {
    let mut target = first.to_string();
    let mut all = Vec::new();
    let mut pages = Vec::new();
    loop {
        assert!(pages.len() < 10, "too many pages");
        let resp = c.get(format!("{base}{target}")).send().unwrap();
        assert_eq!(resp.status(), 200, "GET {target}");
        let next = link(&resp);
        let body: Value = resp.json().unwrap();
        assert_eq!(body["name"], REPO);
        let tags = tags_of(&body);
        pages.push(tags.len());
        all.extend(tags);
        match next {
            Some(l) => target = next_target(&l),
            None => return (all, pages),
        }
    }
}

fn tag_list_requests(proxy: &PagingProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .collect()
}

#[test]
fn pages_like_docker_hub() {
    let registry = Registry::start();
    registry.seeder().many_tags(REPO, &many_tag_names());
    let mut sorted = many_tag_names();
    sorted.sort();

    let proxy = PagingProxy::start(&registry.url(), 50);
    let c = client();
    let base = proxy.url();

    // Without n, the default page size applies (Docker Hub pages even then).
    let resp = c.get(format!("{base}/v2/{REPO}/tags/list")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        link(&resp).as_deref(),
        Some(
            format!(
                "</v2/{REPO}/tags/list?last={}&n=50>; rel=\"next\"",
                sorted[49]
            )
            .as_str()
        )
    );
    assert_eq!(tags_of(&resp.json().unwrap()), sorted[..50]);
    proxy.clear_requests();

    let (all, pages) = follow(&c, &base, &format!("/v2/{REPO}/tags/list"));
    assert_eq!(pages, [50, 50, MANY_TAGS - 100]);
    assert_eq!(all, sorted, "every tag exactly once, bytewise sorted");
    let reqs = tag_list_requests(&proxy);
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[0], format!("GET /v2/{REPO}/tags/list"));
    assert_eq!(
        reqs[1],
        format!("GET /v2/{REPO}/tags/list?last={}&n=50", sorted[49])
    );

    // An explicit n=50 gives the same three pages.
    proxy.clear_requests();
    let (all, pages) = follow(&c, &base, &format!("/v2/{REPO}/tags/list?n=50"));
    assert_eq!(pages, [50, 50, 30]);
    assert_eq!(all, sorted);
    assert_eq!(
        tag_list_requests(&proxy)[0],
        format!("GET /v2/{REPO}/tags/list?n=50")
    );

    // An explicit n beats the default; a big one returns everything, no Link.
    let (all, pages) = follow(&c, &base, &format!("/v2/{REPO}/tags/list?n=1000"));
    assert_eq!((all.len(), pages.len()), (MANY_TAGS, 1));

    // n=0: an empty page and no Link.
    let resp = c
        .get(format!("{base}/v2/{REPO}/tags/list?n=0"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(link(&resp), None);
    assert!(tags_of(&resp.json().unwrap()).is_empty());

    // last beyond every tag: empty, no Link.
    let resp = c
        .get(format!("{base}/v2/{REPO}/tags/list?last=zzz"))
        .send()
        .unwrap();
    assert_eq!(link(&resp), None);
    assert!(tags_of(&resp.json().unwrap()).is_empty());

    // Invalid n: 400 PAGINATION_NUMBER_INVALID, as distribution v3 answers.
    for bad in ["abc", "-1"] {
        let resp = c
            .get(format!("{base}/v2/{REPO}/tags/list?n={bad}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 400, "n={bad}");
        let body: Value = resp.json().unwrap();
        assert_eq!(
            body["errors"][0]["code"], "PAGINATION_NUMBER_INVALID",
            "{body}"
        );
        assert_eq!(body["errors"][0]["detail"]["n"], bad);
    }

    // Page size 0 = no default: a client without n gets everything.
    let unpaged = PagingProxy::start(&registry.url(), 0);
    let (all, pages) = follow(&c, &unpaged.url(), &format!("/v2/{REPO}/tags/list"));
    assert_eq!(pages, [MANY_TAGS]);
    assert_eq!(all, sorted);
}

#[test]
fn everything_else_passes_through() {
    let registry = Registry::start();
    let proxy = PagingProxy::start(&registry.url(), 50);
    let c = client();
    let (direct, via) = (registry.url(), proxy.url());

    // A full push through the proxy: blob POST answers an absolute Location built
    // from our Host header, so the PUT that follows must come back to the proxy.
    let digest = Seeder::new(&via).push_image(
        "pass/through",
        "1.0",
        ManifestKind::Oci,
        &[Platform::linux_amd64(), Platform::linux_arm64()],
    );
    let reqs = proxy.requests();
    assert!(
        reqs.iter()
            .any(|r| r == "POST /v2/pass/through/blobs/uploads/"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("PUT /v2/pass/through/blobs/uploads/")
                && r.contains("_state=")
                && r.contains("digest=sha256%3A")),
        "upload PUT did not come through the proxy: {reqs:?}"
    );
    assert!(reqs.contains(&"PUT /v2/pass/through/manifests/1.0".to_string()));

    // HEAD and GET of a manifest: same status, digest, type, length and bytes.
    for base in [&direct, &via] {
        let resp = c
            .head(format!("{base}/v2/pass/through/manifests/1.0"))
            .header("Accept", ACCEPT_ALL_MANIFESTS)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());
    }
    let get = |base: &str| {
        let resp = c
            .get(format!("{base}/v2/pass/through/manifests/1.0"))
            .header("Accept", ACCEPT_ALL_MANIFESTS)
            .send()
            .unwrap();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        (resp.status(), ct, resp.bytes().unwrap())
    };
    assert_eq!(get(&direct), get(&via));
    let head_len = |base: &str| {
        c.head(format!("{base}/v2/pass/through/manifests/1.0"))
            .header("Accept", ACCEPT_ALL_MANIFESTS)
            .send()
            .unwrap()
            .headers()["content-length"]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(head_len(&direct), head_len(&via));

    // Errors pass through untouched (even with an invalid n: the 404 comes first).
    let resp = c
        .get(format!("{via}/v2/pass/through/manifests/9.9"))
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "MANIFEST_UNKNOWN"
    );
    let resp = c
        .get(format!("{via}/v2/nope/nothing/tags/list?n=abc"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "NAME_UNKNOWN"
    );

    // The API base and the catalog (with its own Link paging) are untouched.
    let resp = c.get(format!("{via}/v2/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let resp = c.get(format!("{via}/v2/_catalog")).send().unwrap();
    assert_eq!(
        resp.json::<Value>().unwrap()["repositories"][0],
        "pass/through"
    );

    // A small tag list still gets sorted and no Link.
    let resp = c
        .get(format!("{via}/v2/pass/through/tags/list"))
        .send()
        .unwrap();
    assert_eq!(link(&resp), None);
    assert_eq!(tags_of(&resp.json().unwrap()), ["1.0"]);
}

#[test]
fn dead_upstream_is_502() {
    let proxy = PagingProxy::start(&format!("http://{}", dead_addr()), 50);
    let resp = client().get(format!("{}/v2/", proxy.url())).send().unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        resp.json::<Value>().unwrap()["errors"][0]["code"],
        "UNAVAILABLE"
    );
    assert_eq!(proxy.requests(), ["GET /v2/"]);
}

#[test]
fn drop_stops_the_proxy() {
    let proxy = PagingProxy::start(&format!("http://{}", dead_addr()), 50);
    let addr: SocketAddr = proxy.addr().parse().unwrap();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
    drop(proxy);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
