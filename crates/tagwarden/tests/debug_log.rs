//! `--debug` tells what tagwarden does: each request, each retry, and each decision.

use crate::common::tagwarden;
use tagwarden_testbed::{Registry, seed_standard};

#[test]
fn debug_logs_the_requests_and_the_decisions_that_made_the_answer() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let image = format!("{}/clastix/kubectl:v1.32", registry.addr());
    let run = tagwarden(&[
        "--debug",
        "--color",
        "never",
        "resolve",
        &image,
        "--no-cache",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let log = &run.stderr;
    for expected in [
        // The requests, with their answers.
        "/v2/clastix/kubectl/manifests/v1.32 -> 404",
        "/v2/clastix/kubectl/tags/list",
        "/v2/clastix/kubectl/manifests/v1.31 -> 200",
        // The decisions.
        "wanted tag",
        "fallback candidates within ±1 minors",
        "decided: v1.32 is not published; v1.31 is 1 minor older",
    ] {
        assert!(
            log.contains(expected),
            "{expected:?} is not in the log:\n{log}"
        );
    }
    // The candidates are named in the order they are tried: the same minor has nothing,
    // so the older minor comes first.
    let candidates = log
        .lines()
        .find(|l| l.contains("fallback candidates"))
        .expect("a candidates line");
    let v131 = candidates.find("\"v1.31\"").expect("v1.31 is a candidate");
    assert!(!candidates[..v131].contains("\"v1.32"), "{candidates}");
    // Without --debug, none of it.
    let quiet = tagwarden(&["resolve", &image, "--no-cache"]);
    assert!(!quiet.stderr.contains("decided"), "{quiet:?}");
    assert!(!quiet.stderr.contains("manifests/"), "{quiet:?}");
}
