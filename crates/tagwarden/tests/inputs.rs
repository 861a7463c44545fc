//! How `check` reads its inputs (issue 12 items 12 and 17): folders of any manifest
//! extension and case, folder entries that cannot be read, raw Helm templates, and
//! `--image-path` rules whose kind is spelled in the wrong case. No registry is needed: the
//! images here are invalid references, which are never asked about.

use crate::common::tagwarden;

/// A Pod whose image is not a valid reference (upper case), so `check` reports it as invalid
/// (exit 2, report written) without asking a registry.
fn pod(name: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: c\n    image: Invalid/Upper:1\n"
    )
}

#[test]
fn folders_read_yaml_yml_and_json_in_any_case_and_name_what_they_skip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.YAML"), pod("a")).unwrap();
    std::fs::write(root.join("b.yml"), pod("b")).unwrap();
    std::fs::write(
        root.join("c.Json"),
        r#"{"kind": "Pod", "metadata": {"name": "c"}, "spec": {"containers": [{"name": "c", "image": "Invalid/Upper:1"}]}}"#,
    )
    .unwrap();
    std::fs::write(root.join("notes.txt"), "kind: [").unwrap();
    std::os::unix::fs::symlink(root.join("gone.yaml"), root.join("dangling.yaml")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("pipe.yml"))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo (coreutils) failed");

    let folder = root.to_str().unwrap();
    let run = tagwarden(&["check", folder, "-o", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let files: Vec<String> = report["images"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let file = l["file"].as_str().unwrap();
            file.strip_prefix(folder).unwrap().to_string()
        })
        .collect();
    assert_eq!(files, ["/a.YAML", "/b.yml", "/c.Json"]);
    let dangling = format!("warning: {folder}/dangling.yaml: a symbolic link to nothing; not read");
    assert!(run.stderr.contains(&dangling), "{run:?}");
    let pipe = format!("warning: {folder}/pipe.yml: not a regular file");
    assert!(run.stderr.contains(&pipe), "{run:?}");
}

#[test]
fn raw_helm_templates_get_a_hint_to_render_them_first() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("chart/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        dir.path().join("chart/Chart.yaml"),
        "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("job.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ include \"chart.fullname\" . }}\nspec:\n  template:\n    spec:\n{{- with .Values.nodeSelector }}\n      nodeSelector:\n        {{- toYaml . | nindent 8 }}\n{{- end }}\n",
    )
    .unwrap();
    let chart = dir.path().join("chart");
    let run = tagwarden(&["check", chart.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let error = run.stderr.trim_end();
    assert_eq!(error.lines().count(), 1, "{run:?}");
    assert!(error.contains("templates/job.yaml:"), "{run:?}");
    assert!(
        error.ends_with(
            "; this is an unrendered Helm template: render it first: helm template … | tagwarden check -"
        ),
        "{run:?}"
    );

    // Broken YAML without template braces gets no such hint.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Pod\nspec: [\n").unwrap();
    let run = tagwarden(&["check", broken.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains("Helm template"), "{run:?}");
}

#[test]
fn an_image_path_kind_in_the_wrong_case_is_a_warning_with_the_right_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yaml");
    std::fs::write(
        &file,
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s}\nspec:\n  image: Invalid/Upper:1\n",
    )
    .unwrap();
    let name = file.to_str().unwrap();

    let run = tagwarden(&["check", name, "--image-path", "prometheus:spec.image"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "warning: --image-path prometheus:spec.image: no object has kind prometheus; kinds are case-sensitive: did you mean Prometheus?"
        ),
        "{run:?}"
    );

    // A kind that is not there in any case: a warning that the rule matched nothing.
    let run = tagwarden(&["check", name, "--image-path", "Alertmanager:spec.image"]);
    assert!(
        run.stderr.contains(
            "Alertmanager:spec.image: no object has kind Alertmanager, so it matched nothing"
        ),
        "{run:?}"
    );

    // The right case finds the image (invalid, so exit 2) and warns about nothing.
    let run = tagwarden(&["check", name, "--image-path", "Prometheus:spec.image"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains("--image-path"), "{run:?}");
}
