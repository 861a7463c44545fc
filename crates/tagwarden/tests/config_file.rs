//! The config file end to end: an authoritative (air-gapped) mirror answers alone and
//! nothing leaves loopback (issue 8, item 3), and config errors say where and what was
//! expected, with one "error:" (issue 12, item 18).

use crate::charts::tagwarden_stdin;
use crate::common::tagwarden;
use tagwarden_testbed::{CaptureResponse, CaptureServer, ManifestKind, Platform, Registry};

/// A manifest using `image`, and the same manifest using `repaired`.
fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tools\nspec:\n  template:\n    spec:\n      containers:\n        - name: kubectl\n          image: {image}  # the upstream's tag\n"
    )
}

#[test]
fn an_authoritative_mirror_answers_alone_and_the_upstream_is_never_asked() {
    // The air-gapped mirror: kubectl v1.35.2, and no v1.36.0.
    let mirror = Registry::start();
    mirror.seeder().push_image(
        "clastix/kubectl",
        "v1.35.2",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    // The upstream, which must see nothing: a capture server on another loopback address.
    let upstream = CaptureServer::start_on(
        "127.0.0.2".parse().unwrap(),
        CaptureResponse::json(
            404,
            &serde_json::json!({"errors": [{"code": "NAME_UNKNOWN"}]}),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(
        &config,
        format!(
            "mirrors:\n  \"{}\":\n    - host: \"{}\"\n      authoritative: true\n",
            upstream.addr(),
            mirror.addr()
        ),
    )
    .unwrap();
    let input = deployment(&format!("{}/clastix/kubectl:v1.36.0", upstream.addr()));
    let args = [
        "post-render",
        "--kube-version",
        "1.36",
        "--no-cache",
        "--config",
        config.to_str().unwrap(),
    ];

    let run = tagwarden_stdin(&args, input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        input.replace("kubectl:v1.36.0", "kubectl:v1.35.2"),
        "{run:?}"
    );
    assert!(
        upstream.requests().is_empty(),
        "the upstream was asked: {:?}",
        upstream.requests()
    );

    // The same mirror in the plain syntax is not authoritative: a miss there falls through
    // to the upstream (so the assertion above is what `authoritative: true` bought).
    std::fs::write(
        &config,
        format!(
            "mirrors:\n  \"{}\": [\"{}\"]\n",
            upstream.addr(),
            mirror.addr()
        ),
    )
    .unwrap();
    let _ = tagwarden_stdin(&args, input.as_bytes());
    assert!(!upstream.requests().is_empty());
}

#[test]
fn config_errors_name_the_place_and_the_expectation_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(&config, "cache:\n  ttl: -5\n").unwrap();
    let run = tagwarden(&[
        "resolve",
        "127.0.0.1:1/team/app:v1",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.matches("error").count(), 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{}:2:8: expected a whole number, 0 or more; found -5",
            config.display()
        )),
        "{run:?}"
    );
}
