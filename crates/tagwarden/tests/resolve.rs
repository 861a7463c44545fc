//! `tagwarden resolve` end to end: the real binary against Debian's docker-registry,
//! started and seeded by `tagwarden-testbed` for each test.

use crate::common::{CannedServer, tagwarden};
use tagwarden_testbed::{ManifestKind, PagingProxy, Platform, Registry, dead_addr, seed_standard};

const EXPLAIN_CAPSULE: &str =
    "v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1";

#[test]
fn capsule_case_falls_back_to_the_previous_minor_with_its_digest() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/clastix/kubectl:v1.32", registry.addr());

    let run = tagwarden(&["resolve", &image]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{}/clastix/kubectl:v1.31\n", registry.addr())
    );
    assert_eq!(run.stderr.trim_end(), EXPLAIN_CAPSULE, "{run:?}");

    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["requested"], image.as_str());
    assert_eq!(
        json["resolved"],
        format!("{}/clastix/kubectl:v1.31", registry.addr()).as_str()
    );
    assert_eq!(json["tag"], "v1.31");
    assert_eq!(json["outcome"], "fallback");
    assert_eq!(json["skew"], -1);
    // Every tag asked for, the chosen one included.
    assert_eq!(json["tried"], serde_json::json!(["v1.32", "v1.31"]));
    // The digest is what the registry reports for v1.31 (an alias of v1.31.4).
    assert_eq!(json["digest"], seeded.digest("clastix/kubectl", "v1.31"));
    assert_eq!(
        seeded.digest("clastix/kubectl", "v1.31"),
        seeded.digest("clastix/kubectl", "v1.31.4")
    );
    // The keys are the documented, stable interface.
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "digest",
            "outcome",
            "requested",
            "resolved",
            "skew",
            "tag",
            "tried"
        ]
    );
}

#[test]
fn eks_kube_version_with_tag_format_resolves_and_pins() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/clastix/kubectl", registry.addr());
    let digest = seeded.digest("clastix/kubectl", "v1.31");

    let run = tagwarden(&[
        "resolve",
        &image,
        "--kube-version",
        "v1.32.0-eks-5e0fdde",
        "--tag-format",
        "v{major}.{minor}",
        "--pin",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{image}:v1.31@{digest}\n"));
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "Kubernetes 1.32.0 → v1.32: tag scheme v{{major}}.{{minor}}, from --tag-format\n{EXPLAIN_CAPSULE}"
        )
    );

    // Global flags are accepted after the subcommand too, and --pin puts the digest in
    // `resolved` while `digest` is always filled.
    let run = tagwarden(&[
        "resolve",
        &image,
        "--kube-version",
        "v1.32.0-eks-5e0fdde",
        "--tag-format",
        "v{major}.{minor}",
        "--pin",
        "--output",
        "json",
    ]);
    let json = run.json();
    assert_eq!(json["resolved"], format!("{image}:v1.31@{digest}").as_str());
    assert_eq!(json["digest"], digest);
    assert_eq!(json["requested"], image.as_str());

    // Without --tag-format the scheme is inferred from the published tags: the cluster's
    // patch (1.31.2) is published, so the three-part scheme is the exact hit.
    let run = tagwarden(&[
        "resolve",
        &image,
        "--kube-version",
        "v1.31.2-eks-5e0fdde",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.31.2");
    assert_eq!(json["outcome"], "exact");
    assert_eq!(json["digest"], seeded.digest("clastix/kubectl", "v1.31.2"));

    // The image's own tag is a template for --kube-version: v1.28 becomes v1.32 → v1.31.
    let run = tagwarden(&[
        "resolve",
        &format!("{image}:v1.28"),
        "--kube-version",
        "1.32",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.31");
    assert_eq!(run.json()["tried"], serde_json::json!(["v1.32", "v1.31"]));
    assert_eq!(run.json()["scheme"]["source"], "image-tag");
    assert_eq!(run.json()["scheme"]["format"], "v{major}.{minor}");
}

#[test]
fn a_kube_version_names_the_tag_scheme_and_every_tag_asked_for() {
    let registry = Registry::start();
    seed_standard(&registry);
    // clastix/kubectl publishes v1.28…v1.31 and their patches: one tag per minor and many
    // patches per minor cover the same four minors, so the shorter scheme wins for an EKS
    // 1.32.0 cluster (it used to be v1.32.0 → v1.31.4, by counting patch tags).
    let image = format!("{}/clastix/kubectl", registry.addr());
    let run = tagwarden(&[
        "resolve",
        &image,
        "--kube-version",
        "v1.32.0-eks-5e0fdde",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.31", "{run:?}");
    assert_eq!(json["tried"], serde_json::json!(["v1.32", "v1.31"]));
    assert_eq!(
        json["scheme"],
        serde_json::json!({
            "format": "v{major}.{minor}",
            "source": "published-tags",
            "reason": "its published tags cover 4 minors of 1.x, the most of 2 schemes"
        })
    );
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        "Kubernetes 1.32.0 → v1.32: tag scheme v{major}.{minor}, inferred from the published tags (its published tags cover 4 minors of 1.x, the most of 2 schemes)"
    );

    // GKE 1.30.5: v1.30 is published and v1.30.5 is not, so v1.30 is the exact answer,
    // and the explanation says why v1.30.5 was never asked for.
    let run = tagwarden(&[
        "resolve",
        &image,
        "--kube-version",
        "v1.30.5-gke.1014001",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.30");
    assert_eq!(json["outcome"], "exact");
    assert_eq!(json["tried"], serde_json::json!(["v1.30"]));
    assert_eq!(json["scheme"]["reason"], "v1.30 is published");
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        "Kubernetes 1.30.5 → v1.30: tag scheme v{major}.{minor}, inferred from the published tags (v1.30 is published)"
    );
}

#[test]
fn exact_hit_reports_the_registry_digest_and_no_fallback() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    for (repo, tag) in [
        ("clastix/kubectl", "v1.30"),
        ("bitnami/kubectl", "1.29"),
        ("library/busybox", "1.36.1"),
    ] {
        let image = format!("{}/{repo}:{tag}", registry.addr());
        let run = tagwarden(&["resolve", &image, "-o", "json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let json = run.json();
        assert_eq!(json["outcome"], "exact", "{run:?}");
        assert_eq!(json["tag"], tag);
        assert_eq!(json["skew"], 0);
        assert_eq!(json["tried"], serde_json::json!([tag]));
        assert_eq!(json["digest"], seeded.digest(repo, tag));
        assert_eq!(json["resolved"], image.as_str());
    }
    // A digest reference is checked as it is.
    let digest = seeded.digest("clastix/kubectl", "v1.30.1");
    let image = format!("{}/clastix/kubectl@{digest}", registry.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["outcome"], "exact");
    assert_eq!(run.json()["digest"], digest.to_string().as_str());
}

#[test]
fn prefer_newer_takes_the_next_minor_first() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let amd64 = [Platform::linux_amd64()];
    let older = seeder.push_image("gap/kubectl", "v1.29", ManifestKind::Oci, &amd64);
    let newer = seeder.push_image("gap/kubectl", "v1.31", ManifestKind::Oci, &amd64);
    assert_ne!(older, newer);
    let image = format!("{}/gap/kubectl:v1.30", registry.addr());

    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.29");
    assert_eq!(run.json()["skew"], -1);
    assert_eq!(run.json()["digest"], older.as_str());

    let run = tagwarden(&["resolve", &image, "--prefer", "newer", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.31");
    assert_eq!(run.json()["skew"], 1);
    assert_eq!(run.json()["digest"], newer.as_str());
    assert!(run.stderr.contains("v1.31 is 1 minor newer"), "{run:?}");
}

#[test]
fn nothing_within_the_skew_is_a_finding_and_max_skew_widens_it() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/clastix/kubectl:v1.33", registry.addr());

    let run = tagwarden(&["resolve", &image]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "", "nothing resolved, nothing on stdout");
    assert!(run.stderr.contains("v1.33 is not published"), "{run:?}");
    assert!(
        run.stderr.contains("--max-skew"),
        "the hint names the flag: {run:?}"
    );

    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["outcome"], "missing");
    assert_eq!(json["resolved"], serde_json::Value::Null);
    assert_eq!(json["digest"], serde_json::Value::Null);
    assert_eq!(json["skew"], serde_json::Value::Null);
    assert_eq!(json["tried"], serde_json::json!(["v1.33"]));

    let run = tagwarden(&["resolve", &image, "--max-skew", "2", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.31");
    assert_eq!(run.json()["skew"], -2);
    assert_eq!(
        run.json()["digest"],
        seeded.digest("clastix/kubectl", "v1.31")
    );

    // A tag that is no version cannot fall back at all.
    let run = tagwarden(&[
        "resolve",
        &format!("{}/clastix/kubectl:nightly", registry.addr()),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no fallback applies"), "{run:?}");

    // Nor can a repository that does not exist.
    let run = tagwarden(&["resolve", &format!("{}/nobody/here:v1.32", registry.addr())]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
}

#[test]
fn same_minor_patch_fallback_takes_the_highest_published_patch() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/clastix/kubectl:v1.31.9", registry.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.31.4");
    assert_eq!(json["skew"], 0);
    assert_eq!(json["outcome"], "fallback");
    assert_eq!(json["digest"], seeded.digest("clastix/kubectl", "v1.31.4"));
}

#[test]
fn suffix_families_stay_apart() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/suffix/kubectl:1.32.1-debian-12", registry.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    // Not 1.31.5 (no suffix), not 1.31.3-debian-11, not 1.32.0-alpine.
    assert_eq!(json["tag"], "1.31.2-debian-12");
    assert_eq!(
        json["digest"],
        seeded.digest("suffix/kubectl", "1.31.2-debian-12")
    );
    assert_eq!(json["skew"], -1);
}

#[test]
fn nested_repository_paths_work() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let image = format!("{}/acme/tools/kubectl:v1.32.0", registry.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.31.1");
    assert_eq!(
        run.json()["resolved"],
        format!("{}/acme/tools/kubectl:v1.31.1", registry.addr()).as_str()
    );
    assert_eq!(
        run.json()["digest"],
        seeded.digest("acme/tools/kubectl", "v1.31.1")
    );
}

#[test]
fn platforms_skip_tags_that_lack_them() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    // v1.29.x are amd64-only images; v1.30 is an index with arm64/v8.
    let image = format!("{}/clastix/kubectl:v1.29", registry.addr());
    let run = tagwarden(&["resolve", &image, "--platform", "linux/arm64", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.30", "{run:?}");
    assert_eq!(json["skew"], 1);
    assert_eq!(json["digest"], seeded.digest("clastix/kubectl", "v1.30"));
    assert_eq!(
        json["tried"],
        serde_json::json!(["v1.29", "v1.28", "v1.30"])
    );
    assert_eq!(
        run.stderr.trim_end(),
        "v1.29 lacks linux/arm64/v8; v1.30 is 1 minor newer, within the kubectl skew policy of ±1"
    );

    // amd64 is in the single-platform image's config: exact.
    let run = tagwarden(&["resolve", &image, "--platform", "linux/amd64", "-o", "json"]);
    assert_eq!(run.json()["outcome"], "exact", "{run:?}");

    // Docker manifest lists are read the same way.
    let image = format!("{}/bitnami/kubectl:1.31", registry.addr());
    let run = tagwarden(&[
        "resolve",
        &image,
        "--platform",
        "linux/arm64/v8",
        "-o",
        "json",
    ]);
    assert_eq!(run.json()["outcome"], "exact", "{run:?}");
    let run = tagwarden(&["resolve", &image, "--platform", "linux/s390x"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("1.31 lacks linux/s390x, and no compatible tag"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("nearest"),
        "unchecked tags are not offered: {run:?}"
    );
}

#[test]
fn tag_lists_that_span_pages_are_read_to_the_end() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    // v1.0 … v1.98 and v1.100: sorted bytewise, v1.98 is the very last tag, so the
    // fallback for v1.99 is only found on the last page.
    let mut tags: Vec<String> = (0..=98).map(|m| format!("v1.{m}")).collect();
    tags.push("v1.100".into());
    let digest = seeder.many_tags("paged/kubectl", &tags);
    let proxy = PagingProxy::start(&registry.url(), 25);

    let image = format!("{}/paged/kubectl:v1.99", proxy.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["tag"], "v1.98");
    assert_eq!(json["digest"], digest.as_str());
    assert_eq!(json["skew"], -1);
    let pages = proxy
        .requests()
        .iter()
        .filter(|r| r.contains("/tags/list"))
        .count();
    assert_eq!(pages, 4, "100 tags in pages of 25: {:?}", proxy.requests());
}

#[test]
fn a_registry_that_is_down_is_undecided_never_a_fallback() {
    let image = format!("{}/clastix/kubectl:v1.32", dead_addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.contains("unreachable"), "{run:?}");
}

#[test]
fn server_errors_rate_limits_and_denials_are_undecided() {
    // 503 on every request: retried a bounded number of times, then exit 3.
    let server = CannedServer::start("503 Service Unavailable", &[]);
    let run = tagwarden(&["resolve", &format!("{}/clastix/kubectl:v1.32", server.addr)]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("HTTP 503"), "{run:?}");
    assert_eq!(server.hits(), 3, "three attempts, never a tag listing");

    // 429 with Retry-After: honoured, then given up.
    let server = CannedServer::start("429 Too Many Requests", &["Retry-After: 0"]);
    let run = tagwarden(&["resolve", &format!("{}/clastix/kubectl:v1.32", server.addr)]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("rate-limited"), "{run:?}");
    assert_eq!(server.hits(), 3);

    // 403: denied at once, no retries.
    let server = CannedServer::start("403 Forbidden", &[]);
    let run = tagwarden(&["resolve", &format!("{}/clastix/kubectl:v1.32", server.addr)]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("denied"), "{run:?}");
    assert_eq!(server.hits(), 1);

    // 401 with a Basic challenge and no credentials: denied.
    let server = CannedServer::start("401 Unauthorized", &["WWW-Authenticate: Basic realm=\"r\""]);
    let run = tagwarden(&["resolve", &format!("{}/clastix/kubectl:v1.32", server.addr)]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("denied"), "{run:?}");
}

#[test]
fn invalid_references_and_versions_are_bad_input() {
    let registry = Registry::start();
    let base = format!("{}/clastix/kubectl", registry.addr());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["Clastix/Kubectl:v1.32".into()], "lowercase"),
        (vec![format!("{base}:")], "tag"),
        (vec![format!("{base}:-bad")], "tag"),
        (vec![format!("https://{base}:v1.32")], "scheme"),
        (
            vec![base.clone(), "--kube-version".into(), "{gitVersion}".into()],
            "placeholder",
        ),
        (
            vec![base.clone(), "--kube-version".into(), "banana".into()],
            "banana",
        ),
        (
            vec![
                base.clone(),
                "--kube-version".into(),
                "1.32".into(),
                "--tag-format".into(),
                "v{foo}".into(),
            ],
            "{foo}",
        ),
        (
            vec![base.clone(), "--tag-format".into(), "v{major}".into()],
            "--kube-version",
        ),
        (
            vec![format!("{base}:v1.32"), "--platform".into(), "linux".into()],
            "OS/ARCH",
        ),
        (
            vec![
                format!("{base}:v1.32.1"),
                "--kube-version".into(),
                "1.32".into(),
            ],
            "patch",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["resolve"];
        full.extend(args.iter().map(String::as_str));
        let run = tagwarden(&full);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
        assert!(
            run.stderr.contains(needle),
            "{args:?} should mention {needle}: {run:?}"
        );
    }
    // Unknown flags are usage errors too.
    let run = tagwarden(&["resolve", &base, "--max-skew", "-1"]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// `resolve` takes the config file's `policy:` as check, post-render, scan and serve do:
/// its flags first, then the file, then ±1 minor, older first.
#[test]
fn the_config_files_policy_applies_and_flags_win() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let amd64 = [Platform::linux_amd64()];
    seeder.push_image("gap/kubectl", "v1.29", ManifestKind::Oci, &amd64);
    seeder.push_image("gap/kubectl", "v1.31", ManifestKind::Oci, &amd64);
    let image = format!("{}/gap/kubectl:v1.30", registry.addr());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    let config_flag = config.to_str().unwrap();
    let resolve = |extra: &[&str]| {
        let mut args = vec![
            "resolve",
            image.as_str(),
            "--config",
            config_flag,
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        tagwarden(&args)
    };

    // max_skew 0 in the file: v1.29 and v1.31 are out of the policy; the flag wins.
    std::fs::write(&config, "policy:\n  max_skew: 0\n").unwrap();
    let run = resolve(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["outcome"], "missing", "{run:?}");
    let run = resolve(&["--max-skew", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.29", "{run:?}");

    // prefer newer in the file: v1.31 first; the flag wins.
    std::fs::write(&config, "policy:\n  prefer: newer\n").unwrap();
    let run = resolve(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "v1.31", "{run:?}");
    let run = resolve(&["--prefer", "older"]);
    assert_eq!(run.json()["tag"], "v1.29", "{run:?}");
}
