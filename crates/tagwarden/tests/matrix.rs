//! `tagwarden matrix check|show|verify` end to end: the real binary, real files, and for
//! `verify` Debian's docker-registry seeded with the standard data set (clastix/kubectl
//! v1.28–v1.31, no v1.32: the Capsule case).

use std::path::PathBuf;

use crate::common::tagwarden;
use serde_json::{Value, json};
use tagwarden_testbed::{ManifestKind, PagingProxy, Platform, Registry, dead_addr, seed_standard};

/// A matrix file in a temporary directory (kept alive with it).
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl File {
    fn new(text: &str) -> File {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compat.yaml");
        std::fs::write(&path, text).unwrap();
        File { _dir: dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// The Capsule-like matrix, pointing at a registry.
fn capsule(host: &str, platforms: bool) -> String {
    let platforms = if platforms {
        "platforms: [linux/amd64, linux/arm64]\n"
    } else {
        ""
    };
    format!(
        "# Capsule and the Kubernetes versions it supports
name: capsule
image: {host}/clastix/kubectl:v{{major}}.{{minor}}
{platforms}versions:
  - app: 0.7.x
    kubernetes: 1.28 - 1.32
  - app: \">=0.5.0 <0.7.0\"
    kubernetes: 1.26 - 1.29
    notes: CRDs are installed by a hook Job
  - app: 0.8.x
    kubernetes: 1.30 - 1.33
"
    )
}

#[test]
fn capsule_matrix_verify_names_the_unpublished_tag() {
    let registry = Registry::start();
    seed_standard(&registry);
    let host = registry.addr();
    let file = File::new(&format!(
        "name: capsule\nimage: {host}/clastix/kubectl:v{{major}}.{{minor}}\nversions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n"
    ));

    let run = tagwarden(&["matrix", "verify", "--file", file.arg()]);
    assert_eq!(run.code, 1, "{run:?}");
    let missing = format!("{host}/clastix/kubectl:v1.32");
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(&missing))
        .unwrap_or_else(|| panic!("{run:?}"));
    assert!(
        line.starts_with("0.7.x") && line.ends_with("missing"),
        "{line}"
    );
    for minor in 28..=31 {
        let present = run
            .stdout
            .lines()
            .find(|l| l.contains(&format!("{host}/clastix/kubectl:v1.{minor} ")))
            .unwrap_or_else(|| panic!("v1.{minor}: {run:?}"));
        assert!(present.ends_with("present"), "{present}");
    }
    assert!(
        run.stderr
            .contains(&format!("1 of 5 promised images missing: {missing}")),
        "{run:?}"
    );

    let run = tagwarden(&["matrix", "verify", "--file", file.arg(), "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(
        out["missing"],
        json!([{"app": "0.7.x", "kubernetes": "1.32", "image": missing, "tag": "v1.32"}])
    );
    let present: Vec<&str> = out["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(present, ["v1.28", "v1.29", "v1.30", "v1.31"]);

    // The publisher catches up: everything exists.
    registry.seeder().push_image(
        "clastix/kubectl",
        "v1.32",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let run = tagwarden(&["matrix", "verify", "--file", file.arg()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("all 5 promised images exist"),
        "{run:?}"
    );
}

#[test]
fn verify_checks_platforms_only_of_present_tags() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let host = registry.addr();
    // v1.28 and v1.29 are amd64-only images; v1.30 and v1.31 are amd64 + arm64 indexes.
    let file = File::new(&capsule(host, true));

    let run = tagwarden(&["matrix", "verify", "--file", file.arg(), "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    let image = |minor: u32| format!("{host}/clastix/kubectl:v1.{minor}");
    let digest = |minor: u32| seeded.digest("clastix/kubectl", &format!("v1.{minor}"));
    let missing: Vec<(String, String, Option<String>)> = out["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["app"].as_str().unwrap().to_string(),
                e["tag"].as_str().unwrap().to_string(),
                e["platform"].as_str().map(String::from),
            )
        })
        .collect();
    let arm = Some("linux/arm64/v8".to_string());
    let m = |app: &str, tag: &str, platform: &Option<String>| {
        (app.to_string(), tag.to_string(), platform.clone())
    };
    assert_eq!(
        missing,
        [
            m("0.7.x", "v1.28", &arm),
            m("0.7.x", "v1.29", &arm),
            m("0.7.x", "v1.32", &None),
            m(">=0.5.0 <0.7.0", "v1.26", &None),
            m(">=0.5.0 <0.7.0", "v1.27", &None),
            m(">=0.5.0 <0.7.0", "v1.28", &arm),
            m(">=0.5.0 <0.7.0", "v1.29", &arm),
            m("0.8.x", "v1.32", &None),
            m("0.8.x", "v1.33", &None),
        ]
    );
    // A platform gap carries the digest of the tag that lacks it.
    assert_eq!(out["missing"][0]["digest"], digest(28));
    assert_eq!(out["missing"][0]["image"], image(28));
    assert_eq!(
        out["present"],
        json!([
            {"app": "0.7.x", "kubernetes": "1.30", "image": image(30), "tag": "v1.30", "digest": digest(30)},
            {"app": "0.7.x", "kubernetes": "1.31", "image": image(31), "tag": "v1.31", "digest": digest(31)},
            {"app": "0.8.x", "kubernetes": "1.30", "image": image(30), "tag": "v1.30", "digest": digest(30)},
            {"app": "0.8.x", "kubernetes": "1.31", "image": image(31), "tag": "v1.31", "digest": digest(31)},
        ])
    );

    let run = tagwarden(&["matrix", "verify", "--file", file.arg()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.lines().any(|l| l.starts_with("0.7.x")
            && l.contains(&image(28))
            && l.ends_with("missing linux/arm64/v8")),
        "{run:?}"
    );
}

#[test]
fn verify_lists_each_repository_once_across_pages() {
    let registry = Registry::start();
    seed_standard(&registry);
    let proxy = PagingProxy::start(&registry.url(), 5);
    // Three entries, one repository, no platforms: tag listings only, never a manifest.
    let file = File::new(&capsule(proxy.addr(), false));

    let run = tagwarden(&["matrix", "verify", "--file", file.arg(), "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(out["missing"].as_array().unwrap().len(), 5, "{out}");
    assert_eq!(out["present"].as_array().unwrap().len(), 8, "{out}");
    assert!(out["present"][0].get("digest").is_none(), "{out}");

    let requests = proxy.requests();
    let pages = requests
        .iter()
        .filter(|r| r.starts_with("GET /v2/clastix/kubectl/tags/list"))
        .count();
    // clastix/kubectl has 23 tags: 5 pages of 5, read once.
    assert_eq!(pages, 5, "{requests:?}");
    assert!(
        !requests.iter().any(|r| r.contains("/manifests/")),
        "{requests:?}"
    );
}

#[test]
fn verify_with_the_registry_down_reports_nothing() {
    let file = File::new(&capsule(&dead_addr(), true));
    for output in ["text", "json"] {
        let run = tagwarden(&["matrix", "verify", "--file", file.arg(), "-o", output]);
        assert_eq!(run.code, 3, "{run:?}");
        assert_eq!(run.stdout, "", "{run:?}");
        assert!(run.stderr.contains("unreachable"), "{run:?}");
    }
}

#[test]
fn check_answers_and_offers_the_nearest_supported_combination() {
    let host = "registry.example";
    let file = File::new(&capsule(host, false));
    let check = |app: &str, kube: &str| {
        tagwarden(&[
            "matrix",
            "check",
            "--file",
            file.arg(),
            "--app",
            app,
            "--kube-version",
            kube,
            "-o",
            "json",
        ])
    };

    let run = check("0.7.3", "v1.30.2-eks-5e0fdde");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({
            "app": "0.7.3",
            "kubernetes": "1.30",
            "supported": true,
            "entry": {"app": "0.7.x", "kubernetes": "1.28 - 1.32", "line": 5},
            "image": format!("{host}/clastix/kubectl:v1.30"),
            "nearest": [],
        })
    );

    // Capsule 0.7 on 1.33: 0.8.x keeps the cluster, 1.32 keeps the application.
    let run = check("0.7.3", "1.33");
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(out["supported"], false);
    assert_eq!(
        out["nearest"],
        json!([
            {"app": "0.8.x", "kubernetes": "1.33", "image": format!("{host}/clastix/kubectl:v1.33"), "keeps": "kubernetes"},
            {"app": "0.7.x", "kubernetes": "1.32", "image": format!("{host}/clastix/kubectl:v1.32"), "keeps": "app"},
        ])
    );

    // An old cluster: the older range keeps it.
    let out = check("0.7.0", "1.26").json();
    assert_eq!(out["nearest"][0]["app"], ">=0.5.0 <0.7.0");
    assert_eq!(out["nearest"][1]["kubernetes"], "1.28");

    // A version no entry holds, on a cluster no entry supports: the nearest entry.
    let run = check("0.9.0", "1.40");
    assert_eq!(run.code, 1, "{run:?}");
    let out = run.json();
    assert_eq!(out["entry"], Value::Null);
    assert_eq!(
        out["nearest"],
        json!([{"app": "0.8.x", "kubernetes": "1.33", "image": format!("{host}/clastix/kubectl:v1.33"), "keeps": "neither"}])
    );

    // A pre-release of 0.8.0 counts as 0.8.0.
    assert_eq!(check("v0.8.0-rc.1", "1.31").code, 0);

    // Text: the verdict and the alternatives, on stdout.
    let run = tagwarden(&[
        "matrix",
        "check",
        "-f",
        file.arg(),
        "--app",
        "0.7.3",
        "--kube-version",
        "1.33",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "not supported: capsule 0.7.3 on Kubernetes 1.33 (0.7.x supports Kubernetes 1.28 - 1.32, line 5)\n\
             nearest supported: capsule 0.8.x on Kubernetes 1.33 (keeps Kubernetes 1.33, image {host}/clastix/kubectl:v1.33)\n\
             or: capsule 0.7.x on Kubernetes 1.32 (keeps 0.7.3, image {host}/clastix/kubectl:v1.32)\n"
        )
    );

    for (app, kube, needle) in [
        ("0.7.x", "1.30", "--app"),
        ("0.7.3", "banana", "--kube-version"),
        ("0.7.3", "{gitVersion}", "placeholder"),
    ] {
        let run = check(app, kube);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(needle), "{run:?}");
    }
}

#[test]
fn show_renders_markdown_for_readmes() {
    let file = File::new(&capsule("ghcr.io", false));
    let run = tagwarden(&["matrix", "show", "--file", file.arg()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "| capsule | Kubernetes | Image | Notes |\n\
         |---|---|---|---|\n\
         | 0.7.x | 1.28 - 1.32 | `ghcr.io/clastix/kubectl:v{major}.{minor}` |  |\n\
         | >=0.5.0 <0.7.0 | 1.26 - 1.29 | `ghcr.io/clastix/kubectl:v{major}.{minor}` | CRDs are installed by a hook Job |\n\
         | 0.8.x | 1.30 - 1.33 | `ghcr.io/clastix/kubectl:v{major}.{minor}` |  |\n"
    );

    let run = tagwarden(&["matrix", "show", "--file", file.arg(), "--layout", "grid"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "| capsule | 1.26 | 1.27 | 1.28 | 1.29 | 1.30 | 1.31 | 1.32 | 1.33 |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | 0.7.x |  |  | ✓ | ✓ | ✓ | ✓ | ✓ |  |\n\
         | >=0.5.0 <0.7.0 | ✓ | ✓ | ✓ | ✓ |  |  |  |  |\n\
         | 0.8.x |  |  |  |  | ✓ | ✓ | ✓ | ✓ |\n"
    );

    let run = tagwarden(&["matrix", "show", "--file", file.arg(), "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["name"], "capsule");
    assert_eq!(
        out["versions"][0],
        json!({
            "app": "0.7.x",
            "kubernetes": "1.28 - 1.32",
            "minors": ["1.28", "1.29", "1.30", "1.31", "1.32"],
            "image": "ghcr.io/clastix/kubectl:v{major}.{minor}",
            "platforms": [],
            "notes": null,
        })
    );

    let run = tagwarden(&["matrix", "show", "--file", file.arg(), "-o", "sarif"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn bad_files_are_reported_with_line_and_column() {
    let cases: &[(&str, &[&str])] = &[
        (
            "versions:\n  - app: 0.7.x\n    kubernets: 1.28 - 1.32\n",
            &["3:5: unknown field `kubernets`, expected one of app, kubernetes"],
        ),
        (
            "versions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n  - app: 0.7.2 - 0.8\n    kubernetes: 1.30\n",
            &[
                "4:10: application range \"0.7.2 - 0.8\" overlaps \"0.7.x\" on line 2 (both contain 0.7.2)",
            ],
        ),
        (
            "image: \"clastix/kubectl:v{major}.{minr}\"\nversions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n",
            &["1:34: tag format \"v{major}.{minr}\" has unknown placeholder \"{minr}\""],
        ),
        (
            "versions:\n  - app: 0.7.x\n    kubernetes: 1.32 - 1.28\n    image: clastix/kubectl:v{major}.{minor}.{patch}\n",
            &[
                "3:17: Kubernetes range \"1.32 - 1.28\" is inverted",
                "4:45: image template \"clastix/kubectl:v{major}.{minor}.{patch}\" uses {patch}",
            ],
        ),
        (
            "versions:\n  - app: \">=0.8.0 <0.7.0\"\n    kubernetes: 1.28\n",
            &["2:10: application range \">=0.8.0 <0.7.0\" matches no version"],
        ),
        (
            "versions:\n  - app: 0.7.x\n    app: 0.8.x\n    kubernetes: 1.28\n",
            &["3:5: duplicate mapping key: app"],
        ),
        (
            "versions:\n  - app: 0.7.x\n    kubernetes: 1.28\n    platforms: [linux/amd64, linux]\n",
            &[
                "4:16: platforms apply to the entry's image",
                "4:30: platform \"linux\" is not OS/ARCH",
            ],
        ),
        ("# nothing here\n", &["1:1: the matrix file is empty"]),
        ("versions: [\n", &["1:11: unclosed bracket"]),
        ("versions: []\n", &["1:11: `versions` is empty"]),
    ];
    for (text, expected) in cases {
        let file = File::new(text);
        let run = tagwarden(&["matrix", "show", "--file", file.arg()]);
        assert_eq!(run.code, 2, "{text}: {run:?}");
        assert_eq!(run.stdout, "", "{text}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{text}: {run:?}");
        for (line, want) in lines.iter().zip(expected.iter()) {
            let prefix = format!("error: {}:{want}", file.arg());
            assert!(
                line.starts_with(&prefix),
                "{text}\n got: {line}\nwant: {prefix}"
            );
        }
    }

    // The same errors stop `check` and `verify` before any request.
    let file = File::new("versions:\n  - app: 0.7.x\n    kubernetes: 1.32 - 1.28\n");
    let run = tagwarden(&["matrix", "verify", "--file", file.arg()]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden(&[
        "matrix",
        "check",
        "--file",
        file.arg(),
        "--app",
        "0.7.1",
        "--kube-version",
        "1.30",
    ]);
    assert_eq!(run.code, 2, "{run:?}");

    let run = tagwarden(&["matrix", "show", "--file", "/nonexistent/compat.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot read /nonexistent/compat.yaml"),
        "{run:?}"
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/compat.yaml");
    let run = tagwarden(&["matrix", "show", "--file", example]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("| capsule | Kubernetes |"),
        "{run:?}"
    );
}
