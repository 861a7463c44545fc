//! The decisions `check`, `post-render` and `resolve` share through the engine
//! (`tagwarden_registry::inspect`), each item of "what a new user hit" that is a decision:
//! empty and non-string images, `--pin` on a digest, `post-render --platform`, no input at
//! all, the nearest tag outside the policy in JSON, and the wording of counts and policies.

use serde_json::json;

use crate::charts::{shared, tagwarden_stdin};
use crate::common::tagwarden;

/// A Pod whose containers hold every kind of "no image string", plus one good image.
fn pod_with_broken_images(addr: &str) -> String {
    format!(
        "\
kind: Pod
metadata: {{name: p}}
spec:
  containers:
  - name: empty
    image: \"\"
  - name: unset
    image: null
  - name: tilde
    image: ~
  - name: absent
    command: [sh]
  - name: mapping
    image: &map {{repository: nginx, tag: \"1.27\"}}
  - name: sequence
    image: [nginx]
  - name: alias
    image: *map
  - name: number
    image: 1.32
  - name: good
    image: {addr}/library/busybox:1.36
"
    )
}

#[test]
fn check_reports_empty_and_non_string_images_as_invalid_with_their_locations() {
    let charts = shared();
    let input = pod_with_broken_images(charts.addr());
    let run = tagwarden_stdin(&["check", "-", "-o", "json"], input.as_bytes());
    assert_eq!(run.code, 2, "invalid images are exit 2: {run:?}");
    let report = run.json();
    let invalid: Vec<(String, u64, String)> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "invalid")
        .flat_map(|i| {
            i["locations"].as_array().unwrap().iter().map(move |l| {
                (
                    l["container"].as_str().unwrap_or("").to_string(),
                    l["line"].as_u64().unwrap(),
                    i["reason"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    let containers: Vec<&str> = invalid.iter().map(|(c, _, _)| c.as_str()).collect();
    for name in [
        "empty", "unset", "tilde", "absent", "mapping", "sequence", "alias", "number",
    ] {
        assert!(
            containers.contains(&name),
            "{name} is reported: {invalid:?}"
        );
    }
    // Each with its line, and a reason that says what it holds.
    let line_of = |name: &str| invalid.iter().find(|(c, _, _)| c == name).unwrap().1;
    assert_eq!(line_of("empty"), 6);
    assert_eq!(line_of("number"), 20);
    let reason_of = |name: &str| &invalid.iter().find(|(c, _, _)| c == name).unwrap().2;
    assert!(reason_of("unset").contains("null"), "{invalid:?}");
    assert!(reason_of("alias").contains("alias"), "{invalid:?}");
    assert!(reason_of("sequence").contains("sequence"), "{invalid:?}");
    assert_eq!(report["summary"]["present"], 1);
    // The one-line error lists three and counts the rest.
    let error = run.stderr.lines().last().unwrap();
    let groups = report["summary"]["invalid"].as_u64().unwrap();
    assert!(groups > 3, "{report}");
    assert!(
        error.contains(&format!("{groups} invalid image references: "))
            && error.ends_with(&format!("and {} more", groups - 3)),
        "{error}"
    );
}

#[test]
fn post_render_warns_once_per_broken_image_and_passes_them_through() {
    let charts = shared();
    let input = pod_with_broken_images(charts.addr());
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input, "byte for byte");
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 8, "one per field: {run:?}");
    for line in &warnings {
        assert!(
            line.starts_with("warning: <stdin>:") && line.ends_with("; left as it is"),
            "one form: {line}"
        );
        assert!(
            !line.contains("\\\"") && !line.contains("\\n"),
            "no escapes: {line}"
        );
    }
    // An invalid string gets the same form, its quotes unescaped.
    let input = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: 'Nginx:1.27'\n";
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .starts_with("warning: <stdin>:6: invalid image reference \"Nginx:1.27\""),
        "{run:?}"
    );
}

#[test]
fn post_render_pin_checks_an_image_already_pinned_by_digest() {
    let charts = shared();
    let addr = charts.addr();
    let pod = |image: &str| {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: {image}\n"
        )
    };
    let absent = pod(&format!(
        "{addr}/clastix/kubectl:v1.31@sha256:{}",
        "0".repeat(64)
    ));
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32", "--pin"],
        absent.as_bytes(),
    );
    assert_eq!(
        run.code, 1,
        "a pinned digest that does not exist is missing: {run:?}"
    );
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("is not published"), "{run:?}");

    let digest = charts.digest("clastix/kubectl", "v1.31");
    let present = pod(&format!("{addr}/clastix/kubectl:v1.31@{digest}"));
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32", "--pin"],
        present.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, present, "an existing digest is left as it is");
}

#[test]
fn post_render_platform_never_repairs_to_a_tag_without_it() {
    let charts = shared();
    let addr = charts.addr();
    // v1.29 and v1.28 are amd64-only; v1.30 is an index with arm64/v8.
    let input = format!(
        "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: {addr}/clastix/kubectl:v1.29\n"
    );
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.29"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input, "present: left alone");

    let run = tagwarden_stdin(
        &[
            "post-render",
            "--kube-version",
            "1.29",
            "--platform",
            "linux/arm64",
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        input.replace("kubectl:v1.29", "kubectl:v1.30"),
        "{run:?}"
    );
    assert!(run.stderr.contains("v1.29 lacks linux/arm64/v8"), "{run:?}");

    // With a platform nothing within the policy has, it is missing, not repaired.
    let run = tagwarden_stdin(
        &[
            "post-render",
            "--kube-version",
            "1.29",
            "--platform",
            "linux/s390x",
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn check_with_no_input_at_all_is_an_error_unless_fail_on_never() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let run = tagwarden(&["check", root]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no manifest files were found"),
        "{run:?}"
    );
    let run = tagwarden(&["check", root, "--fail-on", "missing"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden(&["check", root, "--fail-on", "never"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.starts_with("warning: "), "{run:?}");
    // Empty stdin is no input either.
    let run = tagwarden_stdin(&["check", "-"], b"\n");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("the input is empty"), "{run:?}");
}

#[test]
fn json_of_a_missing_image_names_the_nearest_tag_outside_the_policy() {
    let charts = shared();
    let addr = charts.addr();
    let input = format!(
        "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: {addr}/clastix/kubectl:v1.34\n"
    );
    let run = tagwarden_stdin(
        &["check", "-", "--kube-version", "1.34", "-o", "json"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let image = &run.json()["images"][0];
    assert_eq!(image["status"], "missing");
    assert_eq!(image["fallback"], json!(null));
    assert_eq!(
        image["nearest_outside_policy"],
        format!("{addr}/clastix/kubectl:v1.31")
    );
    // The text output gives the same tag.
    let run = tagwarden_stdin(&["check", "-", "--kube-version", "1.34"], input.as_bytes());
    assert!(
        run.stdout.contains("nearest compatible tag is v1.31"),
        "{run:?}"
    );
}

#[test]
fn only_a_window_of_one_is_called_the_kubectl_skew_policy() {
    let charts = shared();
    let image = format!("{}/library/busybox:1.38", charts.addr());
    let run = tagwarden(&["resolve", &image, "--max-skew", "100"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr.trim_end(),
        "1.38 is not published; 1.36 is 2 minors older, within a skew policy of ±100 minors"
    );
}

#[test]
fn gaps_and_matrix_count_in_the_singular_when_there_is_one() {
    let charts = shared();
    let addr = charts.addr();
    // v1.29 exists for amd64 only: one platform gap, from one upstream version.
    let run = tagwarden(&[
        "gaps",
        "--image",
        &format!("{addr}/clastix/kubectl"),
        "--versions",
        "1.29.0",
        "--tag-format",
        "v{major}.{minor}",
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let summary = run.stderr.lines().last().unwrap();
    assert!(
        summary.starts_with("0 of 1 expected tag of ")
            && summary.contains(" missing, 1 platform gap (1 upstream version from "),
        "{summary}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compat.yaml");
    let matrix = |kubernetes: &str| {
        format!(
            "name: demo\nimage: {addr}/clastix/kubectl:v{{major}}.{{minor}}\nplatforms: [linux/arm64]\nversions:\n  - app: 1.0.x\n    kubernetes: \"{kubernetes}\"\n"
        )
    };
    std::fs::write(&file, matrix("1.31")).unwrap();
    let run = tagwarden(&["matrix", "verify", "--file", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr.trim_end(), "the 1 promised image exists");
    std::fs::write(&file, matrix("1.29")).unwrap();
    let run = tagwarden(&["matrix", "verify", "--file", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("1 of 1 promised image missing: "),
        "{run:?}"
    );
    assert!(run.stdout.contains("missing linux/arm64/v8"), "{run:?}");
}
