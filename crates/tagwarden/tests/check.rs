//! `tagwarden check` end to end: the real binary, rendered-chart fixtures, and Debian's
//! docker-registry started and seeded by `tagwarden-testbed`.

use crate::charts::{rendered, rendered_dir, shared, tagwarden_stdin};
use crate::common::{CannedServer, tagwarden};
use serde_json::{Value, json};
use tagwarden_testbed::{PagingProxy, dead_addr};

fn location(
    file: &str,
    document: usize,
    line: usize,
    column: usize,
    object: (&str, Option<&str>, &str),
    container: &str,
    path: &str,
) -> Value {
    let (kind, namespace, name) = object;
    json!({
        "file": file,
        "document": document,
        "line": line,
        "column": column,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "container": container,
        "path": path,
    })
}

fn image<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["images"]
        .as_array()
        .expect("images[]")
        .iter()
        .find(|i| i["image"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the report: {report:#}"))
}

#[test]
fn json_report_of_rendered_charts_with_locations_and_fallbacks() {
    let charts = shared();
    let addr = charts.addr();
    let dir = rendered_dir(addr);
    let root = dir.path().to_str().unwrap();
    let run = tagwarden(&[
        "check",
        root,
        "--kube-version",
        "v1.32.0-eks-5e0fdde",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "missing images are a finding: {run:?}");
    let report = run.json();

    // The top-level shape and the summary (unique images).
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["images", "summary"]);
    assert_eq!(
        report["summary"],
        json!({"present": 7, "missing": 2, "undetermined": 0, "invalid": 0})
    );

    // Images in order of first use: files sorted, then document order.
    let order: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = [
        "projectcapsule/capsule:v0.7.2",
        "clastix/kubectl:v1.32",
        "library/busybox:1.36",
        "bitnami/kubectl:1.32",
        "ingress-nginx/kube-webhook-certgen:v1.5.1",
        "prometheus-operator/prometheus-operator:v0.79.2",
        "library/busybox:1.36.1",
        "velero/velero:v1.15.0",
        "velero/velero-plugin-for-aws:v1.11.0",
    ]
    .iter()
    .map(|i| format!("{addr}/{i}"))
    .collect();
    assert_eq!(order, expected);

    // Capsule's hook image: used in two Jobs of capsule.yaml and, through an anchor and an
    // alias and a folded block scalar, in misc.yaml. Every location, exactly.
    let kubectl = image(&report, &format!("{addr}/clastix/kubectl:v1.32"));
    let capsule = format!("{root}/capsule.yaml");
    let misc = format!("{root}/misc.yaml");
    assert_eq!(
        *kubectl,
        json!({
            "image": format!("{addr}/clastix/kubectl:v1.32"),
            "status": "missing",
            "digest": null,
            "fallback": format!("{addr}/clastix/kubectl:v1.31"),
            "reason": "v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1",
            "locations": [
                location(&capsule, 3, 95, 18, ("Job", Some("capsule-system"), "capsule-crds"),
                    "crds-hook", "spec.template.spec.containers[0].image"),
                location(&capsule, 4, 131, 18, ("Job", Some("capsule-system"), "capsule-pre-delete"),
                    "pre-delete-job", "spec.template.spec.containers[0].image"),
                location(&misc, 0, 18, 31, ("CronJob", Some("ops"), "cert-refresh"),
                    "refresh", "spec.jobTemplate.spec.template.spec.containers[0].image"),
                location(&misc, 0, 18, 31, ("CronJob", Some("ops"), "cert-refresh"),
                    "wait", "spec.jobTemplate.spec.template.spec.initContainers[0].image"),
                location(&misc, 2, 47, 17, ("DaemonSet", Some("ops"), "node-agent"),
                    "agent", "items[1].spec.template.spec.containers[0].image"),
            ],
        })
    );

    // Velero's and kube-prometheus-stack's kubectl: single-quoted and double-quoted.
    let bitnami = image(&report, &format!("{addr}/bitnami/kubectl:1.32"));
    assert_eq!(bitnami["status"], "missing");
    assert_eq!(bitnami["fallback"], format!("{addr}/bitnami/kubectl:1.31"));
    let lines: Vec<(String, u64, u64)> = bitnami["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let file = l["file"].as_str().unwrap();
            let file = file.rsplit('/').next().unwrap().to_string();
            (
                file,
                l["line"].as_u64().unwrap(),
                l["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("kube-prometheus-stack.yaml".to_string(), 33, 18),
            ("velero.yaml".to_string(), 65, 18),
            ("velero.yaml".to_string(), 112, 18),
        ]
    );

    // Present images carry the registry's digest and no fallback.
    let manager = image(&report, &format!("{addr}/projectcapsule/capsule:v0.7.2"));
    assert_eq!(manager["status"], "present");
    assert_eq!(
        manager["digest"],
        charts.digest("projectcapsule/capsule", "v0.7.2")
    );
    assert_eq!(manager["fallback"], Value::Null);
    assert_eq!(manager["reason"], Value::Null);
    let busybox = image(&report, &format!("{addr}/library/busybox:1.36"));
    assert_eq!(busybox["digest"], charts.digest("library/busybox", "1.36"));
    // The Pod inside a List, written in flow style, is found at its exact column.
    assert_eq!(
        busybox["locations"][1]["path"],
        "items[0].spec.containers[0].image"
    );
    assert_eq!(busybox["locations"][1]["line"], 31);
    assert_eq!(busybox["locations"][1]["column"], 115);
    let keys: Vec<&String> = manager.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "digest",
            "fallback",
            "image",
            "locations",
            "reason",
            "status"
        ]
    );

    // The ConfigMap's `image:` data and the Prometheus resource are not images by default...
    assert!(
        !run.stdout.contains("prometheus/prometheus:v3.1.0"),
        "{run:?}"
    );
    // ...but --image-path makes the Prometheus one count (and it is missing, with no
    // fallback: its tag does not track the Kubernetes version).
    let run = tagwarden(&[
        "check",
        root,
        "--kube-version",
        "1.32",
        "-o",
        "json",
        "--image-path",
        "Prometheus:spec.image",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let prometheus = image(&report, &format!("{addr}/prometheus/prometheus:v3.1.0"));
    assert_eq!(prometheus["status"], "missing");
    assert_eq!(prometheus["fallback"], Value::Null);
    assert_eq!(prometheus["locations"][0]["kind"], "Prometheus");
    assert_eq!(prometheus["locations"][0]["path"], "spec.image");
    assert_eq!(prometheus["locations"][0]["container"], Value::Null);
    assert_eq!(report["summary"]["missing"], 3);
}

#[test]
fn without_kube_version_missing_images_get_no_fallback() {
    let charts = shared();
    let addr = charts.addr();
    let run = tagwarden_stdin(
        &["check", "-o", "json"],
        rendered("capsule.yaml", addr).as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let kubectl = image(&report, &format!("{addr}/clastix/kubectl:v1.32"));
    assert_eq!(kubectl["status"], "missing");
    assert_eq!(kubectl["fallback"], Value::Null);
    assert_eq!(kubectl["reason"], "v1.32 is not published (HTTP 404)");
    // stdin is named <stdin> in locations.
    assert_eq!(kubectl["locations"][0]["file"], "<stdin>");

    // A track rule makes the repository track the version without --kube-version.
    let rule = format!("{addr}/clastix/*");
    let run = tagwarden_stdin(
        &["check", "-", "-o", "json", "--track", &rule],
        rendered("capsule.yaml", addr).as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(
        image(&report, &format!("{addr}/clastix/kubectl:v1.32"))["fallback"],
        format!("{addr}/clastix/kubectl:v1.31")
    );

    // --max-skew 0 allows no other minor: missing, and the reason says what was nearest.
    let run = tagwarden_stdin(
        &[
            "check",
            "--kube-version",
            "1.32",
            "--max-skew",
            "0",
            "-o",
            "json",
        ],
        rendered("capsule.yaml", addr).as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let kubectl = image(&report, &format!("{addr}/clastix/kubectl:v1.32"));
    assert_eq!(kubectl["fallback"], Value::Null);
    assert!(
        kubectl["reason"]
            .as_str()
            .unwrap()
            .contains("no compatible tag is within the skew policy of ±0"),
        "{kubectl}"
    );
}

#[test]
fn text_report_is_a_table_grouped_by_image_with_a_summary() {
    let charts = shared();
    let addr = charts.addr();
    let dir = rendered_dir(addr);
    let root = dir.path().to_str().unwrap();
    let run = tagwarden(&["check", root, "--kube-version", "1.32"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("IMAGE"), "{run:?}");
    // One row per image: the image appears once, its five locations in its cell.
    let kubectl = format!("{addr}/clastix/kubectl:v1.32 ");
    assert_eq!(run.stdout.matches(&kubectl).count(), 1, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("fallback: {addr}/clastix/kubectl:v1.31"))
    );
    assert!(run.stdout.contains(&format!(
        "{root}/capsule.yaml:131:18 Job capsule-system/capsule-pre-delete (pre-delete-job)"
    )));
    // The summary is commentary: on stderr, alone (not a terminal: no progress bar).
    assert_eq!(
        run.stderr,
        "9 unique images in 17 places: 7 present, 2 missing, 0 undetermined, 0 invalid \
         (2 missing with a fallback: tagwarden post-render applies it)\n",
        "{run:?}"
    );
}

#[test]
fn each_unique_image_is_asked_for_once() {
    let charts = shared();
    let proxy = PagingProxy::start(&charts.registry.url(), 0);
    let addr = proxy.addr();
    // One image in five containers of three objects, another once.
    let manifest = format!(
        "\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  template:
    spec:
      initContainers:
        - {{name: init, image: {addr}/library/busybox:1.36}}
      containers:
        - {{name: a, image: {addr}/library/busybox:1.36}}
        - {{name: b, image: {addr}/library/busybox:1.36}}
---
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - name: c
      image: {addr}/library/busybox:1.36
    - name: d
      image: {addr}/bitnami/kubectl:1.31
  ephemeralContainers:
    - name: debug
      image: {addr}/library/busybox:1.36
"
    );
    let run = tagwarden_stdin(&["check", "-o", "json"], manifest.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["images"].as_array().unwrap().len(), 2);
    let busybox = image(&report, &format!("{addr}/library/busybox:1.36"));
    let containers: Vec<&str> = busybox["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["container"].as_str().unwrap())
        .collect();
    assert_eq!(containers, ["init", "a", "b", "c", "debug"]);
    assert_eq!(
        report["summary"],
        json!({"present": 2, "missing": 0, "undetermined": 0, "invalid": 0})
    );
    let heads: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("HEAD "))
        .collect();
    let busybox_heads = heads
        .iter()
        .filter(|r| r.contains("/v2/library/busybox/manifests/1.36"))
        .count();
    assert_eq!(busybox_heads, 1, "{heads:?}");
    assert_eq!(heads.len(), 2, "{heads:?}");
}

#[test]
fn sarif_has_one_result_per_location_of_every_missing_image() {
    let charts = shared();
    let addr = charts.addr();
    let dir = rendered_dir(addr);
    let root = dir.path().to_str().unwrap();
    let run = tagwarden(&["check", root, "--kube-version", "1.32", "-o", "sarif"]);
    assert_eq!(run.code, 1, "{run:?}");
    let sarif: Value = serde_json::from_str(&run.stdout).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "tagwarden");
    assert_eq!(run0["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["image-missing", "image-undetermined", "image-invalid"]
    );
    let results = run0["results"].as_array().unwrap();
    // clastix/kubectl:v1.32 in 5 places, bitnami/kubectl:1.32 in 3; nothing for present ones.
    assert_eq!(results.len(), 8, "{results:#?}");
    assert!(results.iter().all(|r| r["ruleId"] == "image-missing"));
    assert!(results.iter().all(|r| r["level"] == "error"));
    let first = &results[0];
    let physical = &first["locations"][0]["physicalLocation"];
    assert_eq!(
        physical["artifactLocation"]["uri"],
        format!("file://{root}/capsule.yaml")
    );
    assert_eq!(physical["region"]["startLine"], 95);
    assert_eq!(physical["region"]["startColumn"], 18);
    let message = first["message"]["text"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Suggested fallback: `{addr}/clastix/kubectl:v1.31`"
        )),
        "{message}"
    );
    assert_eq!(
        first["properties"]["fallback"],
        format!("{addr}/clastix/kubectl:v1.31")
    );
}

#[test]
fn sarif_for_stdin_invalid_and_undetermined_images() {
    let charts = shared();
    let addr = charts.addr();
    let dead = dead_addr();
    let manifest = format!(
        "\
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - {{name: ok, image: {addr}/library/busybox:1.36}}
    - {{name: bad, image: \"{addr}/Library/BusyBox:1.36\"}}
    - {{name: gone, image: {dead}/library/busybox:1.36}}
"
    );
    let run = tagwarden_stdin(
        &["check", "-o", "sarif", "--attempts", "1"],
        manifest.as_bytes(),
    );
    // An invalid reference is bad input: exit 2, and the report is still written.
    assert_eq!(run.code, 2, "{run:?}");
    let sarif: Value = serde_json::from_str(&run.stdout).expect("SARIF is JSON");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rules: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["image-invalid", "image-undetermined"]);
    assert_eq!(results[1]["level"], "warning");
    let uri = &results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(uri, "%3Cstdin%3E");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
    assert!(run.stderr.contains("1 invalid image reference"), "{run:?}");
}

#[test]
fn junit_has_one_testcase_per_unique_image_and_escapes_xml() {
    let charts = shared();
    let addr = charts.addr();
    let manifest = format!(
        "\
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - {{name: ok, image: {addr}/library/busybox:1.36}}
    - {{name: ok2, image: {addr}/library/busybox:1.36}}
    - {{name: missing, image: {addr}/clastix/kubectl:v1.32}}
    - {{name: weird, image: \"{addr}/a&b:<v1>\\\"'\"}}
"
    );
    let run = tagwarden_stdin(
        &["check", "-o", "junit", "--kube-version", "1.32"],
        manifest.as_bytes(),
    );
    assert_eq!(run.code, 2, "an invalid image: {run:?}");

    // Parse it with a real XML parser: well-formed, and the counts are right.
    let mut reader = quick_xml::Reader::from_str(&run.stdout);
    let mut testcases = Vec::new();
    let mut failures = Vec::new();
    let mut errors = 0;
    let mut suite_attrs = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("well-formed attribute");
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().expect("valid escapes").into_owned(),
                        )
                    })
                    .collect();
                let get = |k: &str| {
                    attrs
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testcase" => testcases.push(get("name")),
                    b"failure" => failures.push(get("type")),
                    b"error" => errors += 1,
                    b"testsuite" => suite_attrs = attrs.clone(),
                    _ => {}
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("JUnit is not well-formed XML: {e}\n{}", run.stdout),
        }
    }
    assert_eq!(
        testcases,
        [
            format!("{addr}/library/busybox:1.36"),
            format!("{addr}/clastix/kubectl:v1.32"),
            format!("{addr}/a&b:<v1>\"'"),
        ]
    );
    assert_eq!(failures, ["missing", "invalid"]);
    assert_eq!(errors, 0);
    let tests = suite_attrs
        .iter()
        .find(|(k, _)| k == "tests")
        .map(|(_, v)| v.as_str());
    assert_eq!(tests, Some("3"));
    assert!(
        run.stdout
            .contains(&format!("fallback: {addr}/clastix/kubectl:v1.31"))
    );
}

#[test]
fn fail_on_decides_what_fails_the_run() {
    let charts = shared();
    let addr = charts.addr();
    let dead = dead_addr();
    let manifest = format!(
        "\
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - {{name: ok, image: {addr}/library/busybox:1.36}}
    - {{name: missing, image: {addr}/library/busybox:9.9}}
    - {{name: down, image: {dead}/library/busybox:1.36}}
"
    );
    let input = manifest.as_bytes();
    let run = tagwarden_stdin(&["check", "-o", "json", "--attempts", "1"], input);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(
        report["summary"],
        json!({"present": 1, "missing": 1, "undetermined": 1, "invalid": 0})
    );
    let down = image(&report, &format!("{dead}/library/busybox:1.36"));
    assert_eq!(down["status"], "unreachable");
    assert_eq!(down["fallback"], Value::Null);
    assert!(
        run.stderr.contains("1 image could not be checked"),
        "{run:?}"
    );

    let run = tagwarden_stdin(&["check", "--fail-on", "missing", "--attempts", "1"], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("warning: 1 image could not be checked"),
        "{run:?}"
    );

    let run = tagwarden_stdin(&["check", "--fail-on", "never", "--attempts", "1"], input);
    assert_eq!(run.code, 0, "{run:?}");

    // Only an unreachable image: --fail-on missing passes, the default does not.
    let only_down = format!(
        "kind: Pod\nspec:\n  containers:\n    - {{name: down, image: {dead}/library/busybox:1.36}}\n"
    );
    let run = tagwarden_stdin(
        &["check", "--fail-on", "missing", "--attempts", "1"],
        only_down.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = tagwarden_stdin(&["check", "--attempts", "1"], only_down.as_bytes());
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("unreachable"), "{run:?}");
}

#[test]
fn denied_images_are_undetermined() {
    let server = CannedServer::start("403 Forbidden", &[]);
    let manifest = format!(
        "kind: Pod\nspec:\n  containers:\n    - {{name: a, image: {}/org/app:v1.32}}\n",
        server.addr
    );
    let run = tagwarden_stdin(
        &["check", "-o", "json", "--kube-version", "1.32"],
        manifest.as_bytes(),
    );
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["images"][0]["status"], "denied");
    // Never a fallback on a failure to decide, even for a tracking tag.
    assert_eq!(report["images"][0]["fallback"], Value::Null);
    assert_eq!(report["summary"]["undetermined"], 1);
}

#[test]
fn reads_folders_files_and_stdin_together() {
    let charts = shared();
    let addr = charts.addr();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nested/deeper")).unwrap();
    std::fs::write(
        dir.path().join("nested/deeper/velero.yml"),
        rendered("velero.yaml", addr),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "image: not/yaml:1").unwrap();
    let file = dir.path().join("single.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"kind":"Pod","metadata":{{"name":"j"}},"spec":{{"containers":[{{"name":"x","image":"{addr}/library/busybox:1.36.1"}}]}}}}"#
        ),
    )
    .unwrap();
    let nested = dir.path().join("nested");
    let run = tagwarden_stdin(
        &[
            "check",
            nested.to_str().unwrap(),
            "-",
            file.to_str().unwrap(),
            "-o",
            "json",
            "--kube-version",
            "1.32",
        ],
        rendered("capsule.yaml", addr).as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let files: Vec<String> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["locations"].as_array().unwrap().clone())
        .map(|l| l["file"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut expected = vec![
        "<stdin>".to_string(),
        file.to_str().unwrap().to_string(),
        format!("{}/deeper/velero.yml", nested.to_str().unwrap()),
    ];
    expected.sort();
    assert_eq!(files, expected);
    // velero.yml comes first (argument order), then stdin, then the JSON file.
    assert_eq!(
        report["images"][0]["image"],
        format!("{addr}/velero/velero:v1.15.0")
    );
    assert_eq!(
        report["summary"],
        json!({"present": 4, "missing": 2, "undetermined": 0, "invalid": 0})
    );
}

#[test]
fn invalid_references_are_reported_and_exit_2() {
    let charts = shared();
    let addr = charts.addr();
    let manifest = format!(
        "\
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - name: upper
      image: {addr}/Clastix/Kubectl:v1.32
    - name: number
      image: 1.32
    - name: fine
      image: {addr}/library/busybox:1.36
"
    );
    let run = tagwarden_stdin(&["check", "-o", "json"], manifest.as_bytes());
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    assert_eq!(
        report["summary"],
        json!({"present": 1, "missing": 0, "undetermined": 0, "invalid": 2})
    );
    let upper = image(&report, &format!("{addr}/Clastix/Kubectl:v1.32"));
    assert_eq!(upper["status"], "invalid");
    assert!(
        upper["reason"].as_str().unwrap().contains("lowercase"),
        "{upper}"
    );
    let number = image(&report, "1.32");
    assert_eq!(number["status"], "invalid");
    assert_eq!(number["locations"][0]["line"], 8);
    assert!(
        number["reason"].as_str().unwrap().contains("not a string"),
        "{number}"
    );
    // After the warning that no version is tracked (no kubeconfig here), the error.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("error: 2 invalid image references: ")),
        "{run:?}"
    );
    assert!(run.stderr.contains("(<stdin>:6:14)"), "{run:?}");

    // --fail-on never: the report is what matters, exit 0.
    let run = tagwarden_stdin(&["check", "--fail-on", "never"], manifest.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("invalid"), "{run:?}");
}

#[test]
fn broken_yaml_is_exit_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: [busybox: 1\n",
    )
    .unwrap();
    let run = tagwarden(&["check", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("error: {}:5:", path.display())),
        "{run:?}"
    );
    // Not a terminal: one line, no snippet.
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    // A file that does not exist, and binary garbage: exit 2 as well.
    let run = tagwarden(&["check", "/nonexistent/charts"]);
    assert_eq!(run.code, 2, "{run:?}");
    std::fs::write(&path, b"kind: Pod\n\x00\xff\xfe garbage").unwrap();
    let run = tagwarden(&["check", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(":2:"), "{run:?}");
}

#[test]
fn platforms_are_required_of_every_image() {
    let charts = shared();
    let addr = charts.addr();
    // v1.28.0 is a single linux/amd64 image; v1.31.4 an index with amd64 and arm64/v8.
    let manifest = format!(
        "kind: Pod\nspec:\n  containers:\n    - {{name: old, image: {addr}/clastix/kubectl:v1.28.0}}\n    - {{name: new, image: {addr}/clastix/kubectl:v1.31.4}}\n"
    );
    let run = tagwarden_stdin(
        &["check", "-o", "json", "--platform", "linux/arm64"],
        manifest.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let old = image(&report, &format!("{addr}/clastix/kubectl:v1.28.0"));
    assert_eq!(old["status"], "missing");
    assert!(
        old["reason"]
            .as_str()
            .unwrap()
            .starts_with("v1.28.0 lacks linux/arm64"),
        "{old}"
    );
    let new = image(&report, &format!("{addr}/clastix/kubectl:v1.31.4"));
    assert_eq!(new["status"], "present");
    assert_eq!(new["digest"], charts.digest("clastix/kubectl", "v1.31.4"));
}

#[test]
fn bad_flags_and_the_cluster_flag_without_a_cluster_are_exit_2() {
    // No kubeconfig at all (a clean HOME): nothing to scan.
    let run = tagwarden(&["check", "--cluster"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no cluster to scan"), "{run:?}");
    let run = tagwarden(&["check", "--cluster", "rendered.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not files"), "{run:?}");
    let run = tagwarden_stdin(&["check", "--kube-version", "one.two"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden_stdin(&["check", "--image-path", "no-colon"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden_stdin(&["check", "--track", "clastix/kubectl:v1"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden_stdin(&["check", "-o", "github-matrix"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    // Empty input is a mistake that would let a CI gate pass: exit 2, unless
    // --fail-on never, which warns and reports nothing.
    let run = tagwarden_stdin(&["check", "-o", "json"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden_stdin(&["check", "-o", "json", "--fail-on", "never"], b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"images": [], "summary": {"present": 0, "missing": 0, "undetermined": 0, "invalid": 0}})
    );
}
