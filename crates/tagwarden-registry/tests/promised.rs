//! Promised tags (`gaps`, `matrix verify`) against a real registry: the tags of each
//! repository listed once, and only the listed tags whose promise names platforms asked
//! about; each promise answered with its own platforms, in input order.

mod common;

use tagwarden_core::Platform;
use tagwarden_registry::inspect::TagQuestion;
use tagwarden_registry::promised::{PromisedTag, check_promised_tags};
use tagwarden_registry::{Client, ClientOptions, Undecided};
use tagwarden_testbed::{PagingProxy, Registry, dead_addr, seed_standard};

fn promise(addr: &str, repo: &str, tag: &str, platforms: &[&Platform]) -> TagQuestion {
    TagQuestion {
        repository: common::repo(addr, repo),
        tag: tag.to_string(),
        platforms: platforms.iter().map(|&p| p.clone()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_listed_once_and_only_listed_tags_with_platforms_are_asked_about() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = PagingProxy::start(&registry.url(), 0);
    let addr = proxy.addr().to_string();
    let amd64: Platform = "linux/amd64".parse().unwrap();
    let arm64: Platform = "linux/arm64".parse().unwrap();
    let promises = vec![
        // v1.29.x is amd64 only, v1.30.x has both.
        promise(&addr, "clastix/kubectl", "v1.30", &[&amd64, &arm64]),
        promise(&addr, "clastix/kubectl", "v1.29", &[&amd64, &arm64]),
        // The same tag, promised by another entry with other platforms.
        promise(&addr, "clastix/kubectl", "v1.29", &[&amd64]),
        promise(&addr, "clastix/kubectl", "v1.31", &[]),
        promise(&addr, "clastix/kubectl", "v1.99", &[&amd64]),
        promise(&addr, "nobody/nothing", "v1.30", &[&amd64]),
    ];
    let client = Client::new(ClientOptions::default()).unwrap();
    let answers = check_promised_tags(&client, &promises).await.unwrap();

    let v130 = seeded.digest("clastix/kubectl", "v1.30").to_string();
    let v129 = seeded.digest("clastix/kubectl", "v1.29").to_string();
    assert_eq!(
        answers,
        [
            PromisedTag::Present {
                digest: v130,
                lacking: vec![]
            },
            PromisedTag::Present {
                digest: v129.clone(),
                lacking: vec![arm64.clone()]
            },
            PromisedTag::Present {
                digest: v129,
                lacking: vec![]
            },
            PromisedTag::Listed,
            PromisedTag::Missing,
            PromisedTag::Missing,
        ]
    );

    let requests = proxy.requests();
    let count = |method: &str, path: &str| {
        requests
            .iter()
            .filter(|r| r.starts_with(method) && r.contains(path))
            .count()
    };
    assert_eq!(count("GET", "clastix/kubectl/tags/list"), 1, "{requests:?}");
    assert_eq!(count("GET", "nobody/nothing/tags/list"), 1, "{requests:?}");
    assert_eq!(
        count("HEAD", "/manifests/v1.29"),
        1,
        "one HEAD for two promises"
    );
    for unasked in [
        "/manifests/v1.31",
        "/manifests/v1.99",
        "nobody/nothing/manifests",
    ] {
        assert_eq!(
            count("HEAD", unasked) + count("GET", unasked),
            0,
            "{requests:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_cannot_be_listed_is_an_error_not_a_gap() {
    let addr = dead_addr();
    let client = Client::new(ClientOptions::default()).unwrap();
    let promises = vec![promise(&addr, "clastix/kubectl", "v1.30", &[])];
    let error = check_promised_tags(&client, &promises).await.unwrap_err();
    assert_eq!(error.undecided(), Undecided::Unreachable, "{error}");
}
