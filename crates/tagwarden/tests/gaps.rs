//! `tagwarden gaps` end to end: the real binary against Debian's docker-registry, seeded
//! in each test with an upstream-like repository (kube-apiserver-style `v1.X.Y` tags with
//! alpha/rc pre-releases and junk tags) and a publisher repository with holes.

use std::io::Write as _;

use crate::common::{CannedServer, tagwarden};
use serde_json::{Value, json};
use tagwarden_testbed::{ManifestKind, PagingProxy, Platform, Registry, dead_addr};

const UPSTREAM: &str = "k8s/kube-apiserver";
const PUBLISHER: &str = "pub/kubectl";

/// The upstream: GA 1.26.0–1.26.3, 1.27.0–1.27.2, 1.28.0–1.28.4, 1.29.0–1.29.2,
/// 1.30.0–1.30.3, 1.31.0–1.31.4, 1.32.0–1.32.1; pre-releases 1.32.0-alpha.2,
/// 1.32.0-rc.1, 1.33.0-alpha.1, 1.33.0-rc.0 (1.33 has no GA yet); and tags that are no
/// release at all.
fn upstream_tags() -> Vec<String> {
    let mut tags = Vec::new();
    for (minor, last_patch) in [
        (26, 3),
        (27, 2),
        (28, 4),
        (29, 2),
        (30, 3),
        (31, 4),
        (32, 1),
    ] {
        for patch in 0..=last_patch {
            tags.push(format!("v1.{minor}.{patch}"));
        }
    }
    for pre in [
        "v1.32.0-alpha.2",
        "v1.32.0-rc.1",
        "v1.33.0-alpha.1",
        "v1.33.0-rc.0",
        "latest",
        "v1.32",
        "v1.31.4-debian-12",
        "sha256-0123abcd.sig",
    ] {
        tags.push(pre.to_string());
    }
    tags
}

/// The publisher: per-minor v1.28, v1.29, v1.31 (no v1.26, v1.27, v1.30, v1.32) and
/// per-patch v1.31.3, v1.31.4, v1.32.0.
fn publisher_tags() -> Vec<String> {
    [
        "v1.28", "v1.29", "v1.31", "v1.31.3", "v1.31.4", "v1.32.0", "latest",
    ]
    .map(String::from)
    .to_vec()
}

fn seeded() -> Registry {
    let registry = Registry::start();
    let seeder = registry.seeder();
    seeder.many_tags(UPSTREAM, &upstream_tags());
    seeder.many_tags(PUBLISHER, &publisher_tags());
    registry
}

fn repo(host: &str, name: &str) -> String {
    format!("{host}/{name}")
}

/// `[(version, tag)]` of a JSON list.
fn pairs(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            (
                e["version"].as_str().unwrap().to_string(),
                e["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, t)| (v.to_string(), t.to_string()))
        .collect()
}

#[test]
fn per_minor_format_reports_each_missing_minor_with_its_newest_release() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);
    let args = [
        "gaps",
        "--image",
        &image,
        "--upstream",
        &upstream,
        "--tag-format",
        "v{major}.{minor}",
        "--since",
        "1.28",
    ];

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let run = tagwarden(&json_args);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(
        pairs(&out["missing"]),
        owned(&[("1.30.3", "v1.30"), ("1.32.1", "v1.32")])
    );
    assert_eq!(
        pairs(&out["present"]),
        owned(&[
            ("1.28.4", "v1.28"),
            ("1.29.2", "v1.29"),
            ("1.31.4", "v1.31")
        ])
    );
    // Exactly the documented keys: no digest without --platform (no HEAD was made).
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["missing", "present"]);
    let entry_keys: Vec<&String> = out["missing"][0].as_object().unwrap().keys().collect();
    assert_eq!(entry_keys, ["tag", "version"]);

    // Text: a table of version, tag and status, and a summary on stderr.
    let run = tagwarden(&args);
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "VERSION  TAG    STATUS",
            "1.28.4   v1.28  present",
            "1.29.2   v1.29  present",
            "1.30.3   v1.30  missing",
            "1.31.4   v1.31  present",
            "1.32.1   v1.32  missing",
        ],
        "{run:?}"
    );
    assert!(
        run.stderr.contains("2 of 5 expected tags"),
        "{}",
        run.stderr
    );

    // Without --since every GA minor of the upstream counts.
    let run = tagwarden(&args[..7]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("1.26.3   v1.26  missing"), "{run:?}");
    assert!(run.stdout.contains("1.27.2   v1.27  missing"), "{run:?}");
}

#[test]
fn per_patch_format_expects_every_release_and_formats_combine() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);

    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--upstream",
        &upstream,
        "--tag-format",
        "v{major}.{minor}.{patch}",
        "--since",
        "1.31",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(
        pairs(&out["missing"]),
        owned(&[
            ("1.31.0", "v1.31.0"),
            ("1.31.1", "v1.31.1"),
            ("1.31.2", "v1.31.2"),
            ("1.32.1", "v1.32.1"),
        ])
    );
    assert_eq!(
        pairs(&out["present"]),
        owned(&[
            ("1.31.3", "v1.31.3"),
            ("1.31.4", "v1.31.4"),
            ("1.32.0", "v1.32.0")
        ])
    );

    // Both formats: the union, sorted by version then tag. --since with a patch.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--upstream",
        &upstream,
        "--tag-format",
        "v{major}.{minor}.{patch}",
        "--tag-format",
        "v{major}.{minor}",
        "--since",
        "1.31.4",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(
        pairs(&out["present"]),
        owned(&[
            ("1.31.4", "v1.31"),
            ("1.31.4", "v1.31.4"),
            ("1.32.0", "v1.32.0")
        ])
    );
    assert_eq!(
        pairs(&out["missing"]),
        owned(&[("1.32.1", "v1.32"), ("1.32.1", "v1.32.1")])
    );
}

#[test]
fn prereleases_count_only_when_asked_and_keep_their_suffix() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);
    let run_with = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "gaps",
            "--image",
            &image,
            "--upstream",
            &upstream,
            "--tag-format",
            format,
            "--since",
            "1.32",
            "-o",
            "json",
        ];
        args.extend(extra);
        let run = tagwarden(&args);
        assert_eq!(run.code, 1, "{run:?}");
        let out = run.json();
        let mut all = pairs(&out["present"]);
        all.extend(pairs(&out["missing"]));
        all.sort();
        all
    };

    // GA only: 1.33 has only pre-releases, so nothing of it is expected.
    assert_eq!(
        run_with("v{major}.{minor}.{patch}", &[]),
        owned(&[("1.32.0", "v1.32.0"), ("1.32.1", "v1.32.1")])
    );
    // With pre-releases each one is its own tag; none takes the GA tag.
    assert_eq!(
        run_with("v{major}.{minor}.{patch}", &["--include-prereleases"]),
        owned(&[
            ("1.32.0", "v1.32.0"),
            ("1.32.0-alpha.2", "v1.32.0-alpha.2"),
            ("1.32.0-rc.1", "v1.32.0-rc.1"),
            ("1.32.1", "v1.32.1"),
            ("1.33.0-alpha.1", "v1.33.0-alpha.1"),
            ("1.33.0-rc.0", "v1.33.0-rc.0"),
        ])
    );
    // Per minor, a minor with only pre-releases is expected, represented by the newest one.
    assert_eq!(
        run_with("v{major}.{minor}", &["--include-prereleases"]),
        owned(&[("1.32.1", "v1.32"), ("1.33.0-rc.0", "v1.33")])
    );
}

#[test]
fn listed_versions_and_version_files_replace_the_upstream() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);

    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions",
        "1.31.4,v1.32.0,1.33.0-rc.1",
        "--tag-format",
        "v{major}.{minor}",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(pairs(&out["present"]), owned(&[("1.31.4", "v1.31")]));
    assert_eq!(pairs(&out["missing"]), owned(&[("1.32.0", "v1.32")]));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("versions.txt");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(
        f,
        "# upstream releases\n1.28.4\n\n1.29.2   # a comment\nv1.31.3"
    )
    .unwrap();
    drop(f);
    let file_arg = file.to_str().unwrap();
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions-file",
        file_arg,
        "--tag-format",
        "v{major}.{minor}.{patch}",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(pairs(&out["present"]), owned(&[("1.31.3", "v1.31.3")]));
    assert_eq!(
        pairs(&out["missing"]),
        owned(&[("1.28.4", "v1.28.4"), ("1.29.2", "v1.29.2")])
    );

    // Nothing missing: exit 0, and the image's own tag is the template.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &format!("{image}:v1.30"),
        "--versions",
        "1.28.1,1.29.0",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"missing": [], "present": [
            {"version": "1.28.1", "tag": "v1.28"},
            {"version": "1.29.0", "tag": "v1.29"},
        ]})
    );

    // A bad line in the file names the file and line, before any request.
    std::fs::write(&file, "1.28.4\n1.29\nbanana\n").unwrap();
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions-file",
        file_arg,
        "--tag-format",
        "v{major}.{minor}",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!("{file_arg}:3: \"banana\"")),
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn github_matrix_is_one_line_with_one_entry_per_tag_to_build() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--upstream",
        &upstream,
        "--tag-format",
        "v{major}.{minor}",
        "--since",
        "1.28",
        "-o",
        "github-matrix",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "{\"include\":[{\"version\":\"1.30.3\",\"tag\":\"v1.30\"},{\"version\":\"1.32.1\",\"tag\":\"v1.32\"}]}\n"
    );

    // No gaps: an empty matrix and exit 0.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions",
        "1.31.4",
        "--tag-format",
        "v{major}.{minor}",
        "-o",
        "github-matrix",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "{\"include\":[]}\n");
}

#[test]
fn a_present_tag_without_a_platform_is_a_gap_per_platform() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let both = [Platform::linux_amd64(), Platform::linux_arm64()];
    let d130 = seeder.push_image("plat/kubectl", "v1.30", ManifestKind::Oci, &both);
    // Docker manifest list with amd64 only, and a single-platform image: both lack arm64.
    let d131 = seeder.push_image(
        "plat/kubectl",
        "v1.31",
        ManifestKind::Docker,
        &[Platform::linux_amd64()],
    );
    let d129 = seeder.push_image(
        "plat/kubectl",
        "v1.29",
        ManifestKind::Oci,
        &[Platform::new("linux", "s390x", None)],
    );
    let image = repo(registry.addr(), "plat/kubectl");
    let base = [
        "gaps",
        "--image",
        &image,
        "--versions",
        "1.29.9,1.30.5,1.31.2,1.32.0",
        "--tag-format",
        "v{major}.{minor}",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
    ];

    let mut args = base.to_vec();
    args.extend(["-o", "json"]);
    let run = tagwarden(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.json(),
        json!({
            "missing": [
                {"version": "1.29.9", "tag": "v1.29", "platform": "linux/amd64", "digest": d129},
                {"version": "1.29.9", "tag": "v1.29", "platform": "linux/arm64/v8", "digest": d129},
                {"version": "1.31.2", "tag": "v1.31", "platform": "linux/arm64/v8", "digest": d131},
                {"version": "1.32.0", "tag": "v1.32"},
            ],
            "present": [
                {"version": "1.30.5", "tag": "v1.30", "digest": d130},
            ],
        })
    );

    let run = tagwarden(&base);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("1.31.2   v1.31  missing linux/arm64/v8"),
        "{run:?}"
    );
    assert!(run.stdout.contains("1.30.5   v1.30  present"), "{run:?}");

    // The build matrix rebuilds each tag once, with every requested platform.
    let mut args = base.to_vec();
    args.extend(["-o", "github-matrix"]);
    let run = tagwarden(&args);
    assert_eq!(run.code, 1, "{run:?}");
    let platforms = "linux/amd64,linux/arm64/v8";
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"include": [
            {"version": "1.29.9", "tag": "v1.29", "platforms": platforms},
            {"version": "1.31.2", "tag": "v1.31", "platforms": platforms},
            {"version": "1.32.0", "tag": "v1.32", "platforms": platforms},
        ]})
    );

    // amd64 alone is satisfied by v1.30 and v1.31.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions",
        "1.30.5,1.31.2",
        "--tag-format",
        "v{major}.{minor}",
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn tag_lists_spanning_pages_are_read_once_and_to_the_end() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    // 130 upstream releases 1.20.0 … 1.32.9; the publisher has all but three.
    let upstream: Vec<String> = (20..=32)
        .flat_map(|minor| (0..=9).map(move |patch| format!("v1.{minor}.{patch}")))
        .collect();
    seeder.many_tags(UPSTREAM, &upstream);
    let holes = ["v1.20.0", "v1.25.5", "v1.32.9"];
    let published: Vec<String> = upstream
        .iter()
        .filter(|t| !holes.contains(&t.as_str()))
        .cloned()
        .collect();
    seeder.many_tags(PUBLISHER, &published);
    let proxy = PagingProxy::start(&registry.url(), 50);

    let run = tagwarden(&[
        "gaps",
        "--image",
        &repo(proxy.addr(), PUBLISHER),
        "--upstream",
        &repo(proxy.addr(), UPSTREAM),
        "--tag-format",
        "v{major}.{minor}.{patch}",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(
        pairs(&out["missing"]),
        owned(&[
            ("1.20.0", "v1.20.0"),
            ("1.25.5", "v1.25.5"),
            ("1.32.9", "v1.32.9")
        ])
    );
    assert_eq!(out["present"].as_array().unwrap().len(), 127);

    // Each repository listed once (3 pages of 50), and not a single HEAD per expected tag.
    let requests = proxy.requests();
    let pages = |name: &str| {
        requests
            .iter()
            .filter(|r| r.starts_with(&format!("GET /v2/{name}/tags/list")))
            .count()
    };
    assert_eq!(pages(UPSTREAM), 3, "{requests:?}");
    assert_eq!(pages(PUBLISHER), 3, "{requests:?}");
    assert!(
        !requests.iter().any(|r| r.contains("/manifests/")),
        "{requests:?}"
    );
}

#[test]
fn a_registry_that_is_down_reports_no_gap() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);
    let dead = dead_addr();
    let cases: [[String; 2]; 3] = [
        // Upstream down, image up; image down, upstream up; both down.
        [repo(&dead, PUBLISHER), upstream.clone()],
        [image.clone(), repo(&dead, UPSTREAM)],
        [repo(&dead, PUBLISHER), repo(&dead, UPSTREAM)],
    ];
    for (i, [image, upstream]) in cases.iter().enumerate() {
        // Every output format once; each registry retries with backoff, so keep it short.
        let outputs: &[&str] = if i == 0 {
            &["text", "json", "github-matrix"]
        } else {
            &["json"]
        };
        for &output in outputs {
            let run = tagwarden(&[
                "gaps",
                "--image",
                image,
                "--upstream",
                upstream,
                "--tag-format",
                "v{major}.{minor}",
                "-o",
                output,
            ]);
            assert_eq!(run.code, 3, "{run:?}");
            assert_eq!(run.stdout, "", "nothing may look like a report: {run:?}");
            assert!(run.stderr.contains("unreachable"), "{run:?}");
        }
    }

    // Denied is undecided too, never "missing".
    let server = CannedServer::start("403 Forbidden", &[]);
    let run = tagwarden(&[
        "gaps",
        "--image",
        &repo(&server.addr, PUBLISHER),
        "--versions",
        "1.32.0",
        "--tag-format",
        "v{major}.{minor}",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("denied"), "{run:?}");

    // Platform checks that fail midway report nothing either: the manifest HEADs go to a
    // registry that stops answering after the tag listing.
    drop(registry);
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--versions",
        "1.31.4",
        "--tag-format",
        "v{major}.{minor}",
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn the_tag_scheme_is_inferred_when_not_given() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);
    // Three-part tags (v1.31.3, v1.31.4, v1.32.0) outnumber none; the newest upstream
    // release 1.32.1 is not published in either scheme, so the larger scheme wins:
    // v1.28, v1.29, v1.31 (3) against v1.31.3, v1.31.4, v1.32.0 (3): a tie goes to
    // fewer parts.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--upstream",
        &upstream,
        "--since",
        "1.30",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("tag format v{major}.{minor} inferred from the tags of"),
        "{run:?}"
    );
    assert_eq!(
        pairs(&run.json()["missing"]),
        owned(&[("1.30.3", "v1.30"), ("1.32.1", "v1.32")])
    );

    // A repository with no version tags cannot tell: bad input, not a guess.
    let registry2 = Registry::start();
    registry2
        .seeder()
        .many_tags("empty/kubectl", &["latest".to_string()]);
    let run = tagwarden(&[
        "gaps",
        "--image",
        &repo(registry2.addr(), "empty/kubectl"),
        "--versions",
        "1.32.0",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--tag-format"), "{run:?}");
}

#[test]
fn missing_repositories_and_bad_flags() {
    let registry = seeded();
    let image = repo(registry.addr(), PUBLISHER);
    let upstream = repo(registry.addr(), UPSTREAM);

    // The image repository does not exist: every expected tag is missing.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &repo(registry.addr(), "nobody/kubectl"),
        "--versions",
        "1.31.4,1.32.0",
        "--tag-format",
        "v{major}.{minor}",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        pairs(&run.json()["missing"]),
        owned(&[("1.31.4", "v1.31"), ("1.32.0", "v1.32")])
    );
    assert!(run.stderr.contains("does not exist"), "{run:?}");

    // The upstream repository does not exist: that is a wrong flag, not a finding.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &image,
        "--upstream",
        &repo(registry.addr(), "nobody/kube-apiserver"),
        "--tag-format",
        "v{major}.{minor}",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");

    let tf = "--tag-format";
    let tagged_upstream = format!("{upstream}:v1.32.0");
    let latest = format!("{image}:latest");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--image", &image, tf, "v{major}.{minor}"],
            "--upstream",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32.0",
                "--upstream",
                &upstream,
            ],
            "cannot be used with",
        ),
        (
            vec!["--image", &image, "--versions", "1.32.0", tf, "v{mnr}"],
            "{mnr}",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32.0-eks-1",
                tf,
                "v{major}",
            ],
            "1.32.0-eks-1",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32",
                tf,
                "v{major}.{minor}.{patch}",
            ],
            "needs {patch}",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32.0",
                tf,
                "v{major}",
                "--since",
                "1.x",
            ],
            "--since",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32.0",
                tf,
                "v{major}",
                "--platform",
                "linux",
            ],
            "OS/ARCH",
        ),
        (
            vec![
                "--image",
                &image,
                "--versions",
                "1.32.0",
                tf,
                "v{major}",
                "-o",
                "sarif",
            ],
            "invalid value 'sarif'",
        ),
        (
            vec!["--image", &image, "--upstream", &tagged_upstream],
            "repository only",
        ),
        (
            vec!["--image", &latest, "--versions", "1.32.0"],
            "not a template",
        ),
        (
            vec![
                "--image",
                "Bad/Name",
                "--versions",
                "1.32.0",
                tf,
                "v{major}",
            ],
            "lowercase",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["gaps"];
        full.extend(args.iter().copied());
        let run = tagwarden(&full);
        assert_eq!(run.code, 2, "{full:?}: {run:?}");
        assert_eq!(run.stdout, "", "{full:?}");
        assert!(run.stderr.contains(needle), "{full:?}: {run:?}");
    }
}

#[test]
fn help_documents_the_choices() {
    let run = tagwarden(&["gaps", "--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "--upstream",
        "--versions-file",
        "--include-prereleases",
        "minor's newest release",
        "github-matrix",
        "Exit: 0 nothing missing",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
}
