//! The JSON outputs and their JSON Schemas in `schema/` agree: `check`, `scan` (and
//! `check --cluster`), `resolve`, `kube-version` and `gaps` (and its `-o github-matrix`)
//! run for real, against the test registries and the test API server, in the situations
//! their reports describe, and every output passes its schema (validated by Python's
//! `jsonschema`, a real JSON Schema 2020-12 validator, with the schemas' `$ref`s between
//! files resolved locally). The schemas can fail: documents that break the contract are
//! rejected. The documentation's examples pass, and the reference names every schema.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tagwarden_testbed::{ApiServer, Fault, FaultProxy, Rule, dead_addr};

use crate::charts::{rendered_dir, shared};
use crate::common::{CannedServer, Run, tagwarden, tagwarden_stdin_in, tagwarden_with};

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Validates a document against `schema/NAME` (`NAME#/$defs/…` for a part of it), with
/// every schema of `schema/` known by its `$id`. Works with Debian's python3-jsonschema
/// (4.10, `RefResolver`) and with newer ones (`referencing`).
const VALIDATOR: &str = r#"
import glob, json, os, sys
try:
    import jsonschema
except ImportError:
    sys.exit('python3-jsonschema is missing: run scripts/test.sh (or apt-get install -y python3-jsonschema)')
folder, name = sys.argv[1], sys.argv[2]
schemas = {}
for path in sorted(glob.glob(os.path.join(folder, '*.schema.json'))):
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    schemas[schema['$id']] = schema
file, _, fragment = name.partition('#')
base = json.load(open(os.path.join(folder, file)))['$id']
root = {'$schema': 'https://json-schema.org/draft/2020-12/schema', '$ref': base + ('#' + fragment if fragment else '')}
try:
    from referencing import Registry, Resource
    registry = Registry().with_resources([(uri, Resource.from_contents(s)) for uri, s in schemas.items()])
    validator = jsonschema.Draft202012Validator(root, registry=registry)
except ImportError:
    resolver = jsonschema.RefResolver.from_schema(root, store=schemas)
    validator = jsonschema.Draft202012Validator(root, resolver=resolver)
errors = sorted(validator.iter_errors(json.load(sys.stdin)), key=lambda e: list(e.absolute_path))
for e in errors:
    print('/'.join(str(p) for p in e.absolute_path) or '(root)', ':', e.message)
sys.exit(1 if errors else 0)
"#;

/// Ok, or the validator's complaints (one per line, each with its JSON path): `document`
/// against `schema/SCHEMA` (which may `$ref` the others). `schema.rs` uses it too.
pub(crate) fn verdict(schema: &str, document: &Value) -> Result<(), String> {
    let mut child = Command::new("python3")
        .args(["-c", VALIDATOR, &repo("schema"), schema])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (run scripts/test.sh to install the test dependencies)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("missing") && !stderr.contains("Traceback"),
        "the schema validator did not run: {stderr}"
    );
    match output.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&output.stdout).into_owned()),
        other => panic!("validator exit {other:?}: {stderr}"),
    }
}

/// The run wrote JSON that passes `schema`; the document, for further assertions.
#[track_caller]
fn valid(schema: &str, run: &Run) -> Value {
    let document = run.json();
    if let Err(errors) = verdict(schema, &document) {
        panic!(
            "{schema} rejects the output:\n{errors}\n{document:#}\n--- stderr\n{}",
            run.stderr
        );
    }
    document
}

/// The schema rejects `document`; the validator's message.
#[track_caller]
fn rejected(schema: &str, document: &Value) -> String {
    match verdict(schema, document) {
        Ok(()) => panic!("{schema} accepts:\n{document:#}"),
        Err(errors) => errors,
    }
}

/// The `images[]` entry whose image ends with `suffix`.
fn image<'a>(report: &'a Value, suffix: &str) -> &'a Value {
    report["images"]
        .as_array()
        .expect("images[]")
        .iter()
        .find(|i| i["image"].as_str().is_some_and(|s| s.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no image ending in {suffix} in {report:#}"))
}

/// A file with `text` in a fresh folder, and its path.
fn manifest(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A Pod with one container per image.
fn pod(name: &str, images: &[&str]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  containers:\n"
    );
    for (i, image) in images.iter().enumerate() {
        text.push_str(&format!("  - name: c{i}\n    image: {image}\n"));
    }
    text
}

#[test]
fn kube_version_outputs_pass_their_schema() {
    for args in [
        vec!["v1.32.1-eks-5e0fdde"],
        vec!["v1.29.4+k3s1"],
        vec!["1.32"],
        vec![
            "v0.2.3-1-g96ce0beb59c389+kcp",
            "--major",
            "1",
            "--minor",
            "23",
        ],
        vec!["v1.31.0", "--major", "1", "--minor", "30"],
    ] {
        let mut full = vec!["kube-version"];
        full.extend(&args);
        full.extend(["-o", "json"]);
        let run = tagwarden(&full);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        valid("kube-version.schema.json", &run);
    }
    // Only fields: no gitVersion, no patch.
    let run = tagwarden(&[
        "kube-version",
        "--major",
        "1",
        "--minor",
        "28+",
        "-o",
        "json",
    ]);
    let version = valid("kube-version.schema.json", &run);
    assert_eq!(version["git_version"], Value::Null);
    assert_eq!(version["patch"], Value::Null);

    // The live cluster's /version.
    let api = ApiServer::builder()
        .git_version("v1.31.2-gke.1014001")
        .empty()
        .start();
    let kubeconfig = api.kubeconfig_path().to_str().unwrap().to_string();
    let run = tagwarden_with(
        &["kube-version", "-o", "json"],
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        valid("kube-version.schema.json", &run)["distribution"],
        "gke"
    );
}

#[test]
fn resolve_outputs_pass_their_schema() {
    let charts = shared();
    let addr = charts.addr();
    let kubectl = format!("{addr}/clastix/kubectl");
    let by_digest = format!(
        "{kubectl}@{}",
        charts.seeded.digest("clastix/kubectl", "v1.31")
    );
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec![format!("{kubectl}:v1.31")], 0, "exact"),
        (vec![format!("{kubectl}:v1.32")], 0, "fallback"),
        (
            vec![format!("{kubectl}:v1.32"), "--pin".into()],
            0,
            "fallback",
        ),
        (vec![format!("{kubectl}:v1.35")], 1, "missing"),
        (vec![format!("{addr}/no/such-repo:v1.32")], 1, "missing"),
        (vec![by_digest], 0, "exact"),
        (
            vec![kubectl.clone(), "--kube-version".into(), "1.32".into()],
            0,
            "fallback",
        ),
        (
            vec![
                format!("{kubectl}:v1.28"),
                "--kube-version".into(),
                "v1.30.2-eks-5e0fdde".into(),
            ],
            0,
            "exact",
        ),
        (
            vec![
                kubectl.clone(),
                "--kube-version".into(),
                "1.31.2".into(),
                "--tag-format".into(),
                "v{major}.{minor}.{patch}".into(),
                "--platform".into(),
                "linux/arm64".into(),
            ],
            0,
            "exact",
        ),
    ];
    let mut sources = Vec::new();
    for (args, code, outcome) in cases {
        let mut full = vec!["resolve"];
        full.extend(args.iter().map(String::as_str));
        full.extend(["-o", "json"]);
        let run = tagwarden(&full);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        let answer = valid("resolve.schema.json", &run);
        assert_eq!(answer["outcome"], outcome, "{args:?}: {answer:#}");
        if let Some(source) = answer["scheme"]["source"].as_str() {
            sources.push(source.to_string());
        }
    }
    sources.sort();
    assert_eq!(sources, ["format", "image-tag", "published-tags"]);

    // Rate-limit headers add `rate_limits`.
    let proxy = FaultProxy::in_front_of(&charts.registry);
    proxy.add_rule(Rule::new(Fault::header(
        "ratelimit-remaining",
        "42;w=21600",
    )));
    let image = format!("{}/clastix/kubectl:v1.31", proxy.addr());
    let run = tagwarden(&["resolve", &image, "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        valid("resolve.schema.json", &run)["rate_limits"][0]["remaining"],
        "42;w=21600"
    );

    // Could not decide: exit 3 and nothing on stdout, so nothing to validate.
    let run = tagwarden(&[
        "resolve",
        &format!("{}/clastix/kubectl:v1.32", dead_addr()),
        "-o",
        "json",
    ]);
    assert_eq!((run.code, run.stdout.as_str()), (3, ""), "{run:?}");
}

#[test]
fn check_outputs_pass_their_schema() {
    let charts = shared();
    let addr = charts.addr();

    // Rendered charts: present images, and missing ones with their fallbacks.
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
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("check.schema.json", &run);
    assert_eq!(
        image(&report, "/clastix/kubectl:v1.32")["status"],
        "missing"
    );
    assert!(image(&report, "/clastix/kubectl:v1.32")["fallback"].is_string());

    let files = tempfile::tempdir().unwrap();
    // Missing: with nothing within the policy (and the nearest tag outside it), not
    // tracking the version, and lacking a platform.
    let missing = manifest(
        &files,
        "missing.yaml",
        &pod(
            "missing",
            &[
                &format!("{addr}/clastix/kubectl:v1.34"),
                &format!("{addr}/library/busybox:9.9"),
                &format!("{addr}/no/such-repo:1.0"),
            ],
        ),
    );
    let run = tagwarden(&["check", &missing, "--kube-version", "1.34", "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("check.schema.json", &run);
    let kubectl = image(&report, "/clastix/kubectl:v1.34");
    assert!(kubectl["nearest_outside_policy"].is_string(), "{kubectl:#}");
    let platform = manifest(
        &files,
        "platform.yaml",
        &pod("platform", &[&format!("{addr}/clastix/kubectl:v1.28.1")]),
    );
    let run = tagwarden(&[
        "check",
        &platform,
        "--platform",
        "linux/arm64",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("check.schema.json", &run);
    assert!(
        report["images"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("lacks"),
        "{report:#}"
    );

    // Invalid fields, each with its location: exit 2, the report still written.
    let invalid = manifest(
        &files,
        "invalid.yaml",
        &[
            "apiVersion: v1",
            "kind: Pod",
            "metadata:",
            "  name: broken",
            "spec:",
            "  containers:",
            "  - name: empty",
            "    image: \"\"",
            "  - name: nothing",
            "    image:",
            "  - name: number",
            "    image: 42",
            "  - name: mapping",
            "    image: {a: 1}",
            "  - name: absent",
            "  - name: grammar",
            "    image: \"Not A/Ref::\"",
            "---",
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata:",
            "  name: data",
            "data:",
            "  image: x",
        ]
        .join("\n"),
    );
    let run = tagwarden(&["check", &invalid, "-o", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = valid("check.schema.json", &run);
    assert_eq!(report["summary"]["invalid"], 6, "{report:#}");
    // As the reference says: in a file, fields with no image string come after its
    // image strings (here the one that is a string, but no reference).
    let order: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["locations"][0]["container"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["grammar", "empty", "nothing", "number", "mapping", "absent"]
    );

    // Could not decide: unreachable, denied, and a rate limit with its headers.
    let refused = dead_addr();
    let forbidden = CannedServer::start("403 Forbidden", &[]);
    let limited = CannedServer::start(
        "429 Too Many Requests",
        &[
            "Retry-After: 0",
            "ratelimit-limit: 100;w=21600",
            "ratelimit-remaining: 0;w=21600",
        ],
    );
    let undecided = manifest(
        &files,
        "undecided.yaml",
        &pod(
            "undecided",
            &[
                &format!("{refused}/a/b:1.0"),
                &format!("{}/a/b:1.0", forbidden.addr),
                &format!("{}/a/b:1.0", limited.addr),
                &format!("{addr}/library/busybox:1.36"),
            ],
        ),
    );
    let run = tagwarden(&["check", &undecided, "--attempts", "1", "-o", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = valid("check.schema.json", &run);
    let statuses: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["unreachable", "denied", "unreachable", "present"]
    );
    assert_eq!(
        report["rate_limits"][0]["remaining"], "0;w=21600",
        "{report:#}"
    );

    // No input at all, let pass by --fail-on never: an empty report.
    let empty = tempfile::tempdir().unwrap();
    let run = tagwarden(&[
        "check",
        empty.path().to_str().unwrap(),
        "--fail-on",
        "never",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(valid("check.schema.json", &run)["images"], json!([]));
}

/// `tagwarden ARGS` against the fixture cluster, with the private registry's CA.
fn on_the_cluster(api: &ApiServer, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig_path().to_str().unwrap().to_string();
    let ca = crate::scan::private()
        .ca_cert_path()
        .expect("the htpasswd registry has a CA")
        .to_str()
        .unwrap()
        .to_string();
    let mut all = args.to_vec();
    all.extend(["--ca-file", ca.as_str(), "-o", "json"]);
    tagwarden_stdin_in(
        &all,
        b"",
        home.path(),
        &[("KUBECONFIG", kubeconfig.as_str())],
    )
}

#[test]
fn scan_outputs_pass_their_schema() {
    let api = crate::scan::fixture_api_server();

    // Every namespace: present, missing (a fallback, a lacking platform, scaled to zero),
    // denied; pull failures, pull secrets, node platforms.
    let run = on_the_cluster(&api, &["scan", "-A"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = valid("scan.schema.json", &run);
    let hook = image(&report, "/clastix/kubectl:v1.32");
    assert_eq!(hook["pull_failures"][0]["class"], "not_found", "{hook:#}");
    assert_eq!(
        image(&report, "/payments/ledger:3.1.0")["pull_secrets"],
        json!(["payments/regcred"])
    );
    assert_eq!(
        image(&report, "/platform/exporter:1.4.0")["status"],
        "denied"
    );
    assert!(report["nodes"].as_array().is_some_and(|n| !n.is_empty()));

    // `check --cluster` writes the same shape.
    let run = on_the_cluster(&api, &["check", "--cluster", "--fail-on", "never"]);
    assert_eq!(run.code, 0, "{run:?}");
    valid("scan.schema.json", &run);

    // An upgrade preflight: the target version, and the tags asked for after it.
    let run = on_the_cluster(
        &api,
        &["scan", "-A", "--kube-version", "1.33", "--fail-on", "never"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = valid("scan.schema.json", &run);
    assert_eq!(report["cluster"]["target_kube_version"]["minor"], 33);
    assert!(image(&report, "/clastix/kubectl:v1.32")["after_upgrade"].is_string());

    // Platforms given instead of the nodes': one no node has.
    let run = on_the_cluster(&api, &["scan", "-n", "shop", "--platform", "linux/s390x"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("scan.schema.json", &run);
    assert_eq!(
        image(&report, "/library/busybox:1.36.1")["platforms"],
        json!([{"platform": "linux/s390x", "nodes": 0}])
    );

    // A pull failure of a container the Pod's spec does not have (a kubelet's status out
    // of step): no workload in scope uses its image, so it is reported on its own.
    let busybox = image(&report, "/library/busybox:1.36.1")["image"]
        .as_str()
        .unwrap()
        .to_string();
    api.apply(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ghost", "namespace": "debug"},
        "spec": {"containers": [{"name": "main", "image": busybox}]},
        "status": {"phase": "Pending", "containerStatuses": [{
            "name": "sidecar", "image": "example.invalid/ghost:1", "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}},
        }]},
    }));
    let run = on_the_cluster(&api, &["scan", "-n", "debug"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = valid("scan.schema.json", &run);
    assert_eq!(
        report["other_pull_failures"][0]["image"], "example.invalid/ghost:1",
        "{report:#}"
    );

    // A namespace with nothing in it.
    let run = on_the_cluster(&api, &["scan", "-n", "kube-system"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(valid("scan.schema.json", &run)["images"], json!([]));
}

#[test]
fn gaps_outputs_pass_their_schema() {
    let charts = shared();
    let addr = charts.addr();
    let upstream = format!("{addr}/schemas/kube-apiserver");
    let mut tags: Vec<String> = (28..=32)
        .flat_map(|minor| (0..=2).map(move |patch| format!("v1.{minor}.{patch}")))
        .collect();
    tags.extend(["v1.33.0-rc.0".to_string(), "latest".to_string()]);
    charts
        .registry
        .seeder()
        .many_tags("schemas/kube-apiserver", &tags);
    let kubectl = format!("{addr}/clastix/kubectl");
    let gaps = |args: &[&str], format: &str| {
        let mut full = vec!["gaps", "--image", kubectl.as_str()];
        full.extend(args);
        full.extend(["-o", format]);
        tagwarden(&full)
    };
    let from_upstream = [
        "--upstream",
        upstream.as_str(),
        "--tag-format",
        "v{major}.{minor}",
    ];

    // Missing and present tags; with --platform, platform gaps with their digests.
    let run = gaps(&from_upstream, "json");
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("gaps.schema.json", &run);
    assert_eq!(
        report["missing"],
        json!([{"version": "1.32.2", "tag": "v1.32"}])
    );
    let mut args = from_upstream.to_vec();
    args.extend(["--platform", "linux/arm64"]);
    let run = gaps(&args, "json");
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("gaps.schema.json", &run);
    assert!(
        report["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["platform"] == "linux/arm64/v8"),
        "{report:#}"
    );
    let run = gaps(&args, "github-matrix");
    assert_eq!(run.code, 1, "{run:?}");
    let matrix = valid("gaps.schema.json#/$defs/github-matrix", &run);
    assert!(matrix["include"][0]["platforms"].is_string(), "{matrix:#}");
    let run = gaps(&from_upstream, "github-matrix");
    valid("gaps.schema.json#/$defs/github-matrix", &run);

    // Listed versions: bare minors, and pre-releases with their suffix.
    let run = gaps(
        &[
            "--versions",
            "1.31,1.32",
            "--tag-format",
            "v{major}.{minor}",
        ],
        "json",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        valid("gaps.schema.json", &run)["present"],
        json!([{"version": "1.31", "tag": "v1.31"}])
    );
    let run = gaps(
        &[
            "--versions",
            "1.31.4,1.33.0-rc.1",
            "--include-prereleases",
            "--tag-format",
            "v{major}.{minor}.{patch}",
        ],
        "json",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = valid("gaps.schema.json", &run);
    assert_eq!(
        report["missing"],
        json!([{"version": "1.33.0-rc.1", "tag": "v1.33.0-rc.1"}])
    );

    // Nothing missing.
    let run = gaps(
        &["--versions", "1.31.4", "--tag-format", "v{major}.{minor}"],
        "json",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(valid("gaps.schema.json", &run)["missing"], json!([]));
    let run = gaps(
        &["--versions", "1.31.4", "--tag-format", "v{major}.{minor}"],
        "github-matrix",
    );
    assert_eq!(
        valid("gaps.schema.json#/$defs/github-matrix", &run),
        json!({"include": []})
    );

    // A registry that cannot be read: exit 3, nothing on stdout.
    let dead = format!("{}/clastix/kubectl", dead_addr());
    let run = tagwarden(&[
        "gaps",
        "--image",
        &dead,
        "--versions",
        "1.31.4",
        "--tag-format",
        "v{major}.{minor}",
        "-o",
        "json",
    ]);
    assert_eq!((run.code, run.stdout.as_str()), (3, ""), "{run:?}");
}

/// `document` with the value at the JSON pointer `at` set to `change` (a new key is
/// added), or removed when `change` is `None`.
fn changed(document: &Value, at: &str, change: Option<Value>) -> Value {
    let mut copy = document.clone();
    let (parent, key) = at.rsplit_once('/').unwrap();
    let target = copy
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match (target, change) {
        (Value::Object(map), Some(value)) => {
            map.insert(key.to_string(), value);
        }
        (Value::Object(map), None) => {
            map.remove(key).unwrap_or_else(|| panic!("no {at}"));
        }
        (Value::Array(items), Some(value)) => items[key.parse::<usize>().unwrap()] = value,
        (other, _) => panic!("cannot change {at} in {other}"),
    }
    copy
}

const DIGEST: &str = "sha256:9e309cf96625511a487eb84d76a88d3067922e4a1c25a397942e74bcb3995ebe";

#[test]
fn documents_that_break_the_contract_are_rejected() {
    let kube = json!({"major": 1, "minor": 32, "patch": 1, "distribution": "eks", "git_version": "v1.32.1-eks-5e0fdde"});
    let location = json!({"file": "<stdin>", "document": 0, "line": 7, "column": 12, "kind": "Pod",
        "namespace": null, "name": "p", "container": "c", "path": "spec.containers[0].image"});
    let present = json!({"image": "a/b:1", "status": "present", "digest": DIGEST, "fallback": null,
        "reason": null, "locations": [location]});
    let check = json!({"images": [present], "summary": {"present": 1, "missing": 0, "undetermined": 0, "invalid": 0}});
    let workload = json!({"namespace": "shop", "kind": "Deployment", "name": "web", "container": "web",
        "path": "spec.template.spec.containers[0].image", "pods": 2});
    let failure = json!({"image": "a/b:1", "namespace": "shop", "pod": "web-1", "container": "web",
        "reason": "ErrImagePull", "since": null, "message": null, "class": "not_found"});
    let scanned = json!({"image": "a/b:1", "status": "missing", "digest": null, "fallback": null,
        "reason": "1 is not published", "locations": [workload], "pull_failures": [failure],
        "platforms": [{"platform": "linux/amd64", "nodes": 1}], "pull_secrets": ["shop/regcred"]});
    let scan = json!({"cluster": {"server": "https://127.0.0.1:6443", "context": "test", "kube_version": kube},
        "images": [scanned], "summary": {"present": 0, "missing": 1, "undetermined": 0, "invalid": 0},
        "nodes": [{"platform": "linux/amd64", "nodes": 1}]});
    let resolve = json!({"requested": "a/b:v1.32", "resolved": "a/b:v1.31", "tag": "v1.31", "digest": DIGEST,
        "outcome": "fallback", "skew": -1, "tried": ["v1.32", "v1.31"]});
    let gaps = json!({"missing": [{"version": "1.32.2", "tag": "v1.32"}],
        "present": [{"version": "1.31.6", "tag": "v1.31"}]});
    for (schema, document) in [
        ("kube-version.schema.json", &kube),
        ("check.schema.json", &check),
        ("scan.schema.json", &scan),
        ("resolve.schema.json", &resolve),
        ("gaps.schema.json", &gaps),
    ] {
        assert_eq!(verdict(schema, document), Ok(()), "{schema}: {document:#}");
    }

    let cases: Vec<(&str, Value, &str)> = vec![
        // Enums: statuses, distributions, outcomes, classes, kinds.
        (
            "check.schema.json",
            changed(&check, "/images/0/status", Some(json!("gone"))),
            "'gone' is not one of",
        ),
        (
            "kube-version.schema.json",
            changed(&kube, "/distribution", Some(json!("aws"))),
            "'aws' is not one of",
        ),
        (
            "resolve.schema.json",
            changed(&resolve, "/outcome", Some(json!("nearest"))),
            "'nearest' is not one of",
        ),
        (
            "scan.schema.json",
            changed(
                &scan,
                "/images/0/pull_failures/0/class",
                Some(json!("timeout")),
            ),
            "'timeout' is not one of",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/images/0/locations/0/kind", Some(json!("Rollout"))),
            "'Rollout' is not one of",
        ),
        // Closed objects: a new field must be added to the schema on purpose.
        (
            "check.schema.json",
            changed(&check, "/images/0/severity", Some(json!("high"))),
            "severity",
        ),
        (
            "check.schema.json",
            changed(&check, "/images/0/locations/0/pods", Some(json!(1))),
            "pods",
        ),
        (
            "check.schema.json",
            changed(&check, "/generated_at", Some(json!("now"))),
            "generated_at",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/images/0/locations/0/line", Some(json!(3))),
            "line",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/images/0/severity", Some(json!("high"))),
            "severity",
        ),
        (
            "kube-version.schema.json",
            changed(&kube, "/platform", Some(json!("linux"))),
            "platform",
        ),
        (
            "gaps.schema.json",
            changed(&gaps, "/present/0/status", Some(json!("present"))),
            "status",
        ),
        // What is always there.
        (
            "check.schema.json",
            changed(&check, "/summary", None),
            "'summary' is a required property",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/images/0/pull_failures", None),
            "'pull_failures' is a required property",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/cluster/kube_version/patch", None),
            "'patch' is a required property",
        ),
        (
            "resolve.schema.json",
            changed(&resolve, "/tried", None),
            "'tried' is a required property",
        ),
        // How the fields go together.
        (
            "check.schema.json",
            changed(&check, "/images/0/digest", Some(Value::Null)),
            "None is not",
        ),
        (
            "check.schema.json",
            changed(&check, "/images/0/fallback", Some(json!("a/b:0"))),
            "'a/b:0' is not of type 'null'",
        ),
        (
            "scan.schema.json",
            changed(&scan, "/images/0/reason", Some(Value::Null)),
            "None is not of type 'string'",
        ),
        (
            "resolve.schema.json",
            changed(&resolve, "/outcome", Some(json!("missing"))),
            "is not of type 'null'",
        ),
        (
            "gaps.schema.json",
            changed(&gaps, "/missing/0/platform", Some(json!("linux/arm64/v8"))),
            "'digest' is a dependency of 'platform'",
        ),
        (
            "gaps.schema.json",
            changed(&gaps, "/present/0/version", Some(json!("v1.31.6"))),
            "does not match",
        ),
    ];
    for (schema, document, expected) in cases {
        let errors = rejected(schema, &document);
        assert!(
            errors.contains(expected),
            "{schema} rejects for another reason than {expected:?}:\n{errors}\n{document:#}"
        );
    }
}

/// The JSON examples of a Markdown text that are whole documents.
fn json_examples(text: &str) -> Vec<Value> {
    text.split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|block| serde_json::from_str(block).ok())
        .collect()
}

#[test]
fn the_documented_examples_pass_and_the_reference_names_every_schema() {
    let reference = std::fs::read_to_string(repo("docs/reference.md")).unwrap();
    let mut seen = Vec::new();
    for example in json_examples(&reference) {
        let schema = if example.get("cluster").is_some() {
            "scan.schema.json"
        } else if example.get("images").is_some() {
            "check.schema.json"
        } else if example.get("requested").is_some() {
            "resolve.schema.json"
        } else {
            continue;
        };
        assert_eq!(verdict(schema, &example), Ok(()), "{schema}: {example:#}");
        seen.push(schema);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "check.schema.json",
            "resolve.schema.json",
            "scan.schema.json"
        ]
    );

    // publishers.md writes digests as `sha256:…`; a real one stands in.
    let text = std::fs::read_to_string(repo("docs/publishers.md"))
        .unwrap()
        .replace("sha256:…", DIGEST);
    let examples = json_examples(&text);
    let gaps = examples
        .iter()
        .find(|e| e.get("present").is_some())
        .expect("a gaps example");
    assert_eq!(verdict("gaps.schema.json", gaps), Ok(()), "{gaps:#}");
    let matrix = examples
        .iter()
        .find(|e| e.get("include").is_some())
        .expect("a matrix example");
    assert_eq!(
        verdict("gaps.schema.json#/$defs/github-matrix", matrix),
        Ok(()),
        "{matrix:#}"
    );
    // The kube-version example is in a console block.
    let start = reference
        .find("$ tagwarden kube-version v1.32.1-eks-5e0fdde -o json\n")
        .unwrap();
    let block = &reference[start..];
    let object = &block[block.find('{').unwrap()..=block.find('}').unwrap()];
    assert_eq!(
        verdict(
            "kube-version.schema.json",
            &serde_json::from_str(object).unwrap()
        ),
        Ok(())
    );

    // Each schema's `$id` is its file's: the `$ref`s between them depend on it.
    for entry in std::fs::read_dir(repo("schema")).unwrap() {
        let path = entry.unwrap().path();
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            schema["$id"],
            format!("https://github.com/tagwarden/tagwarden/schema/{file}"),
            "{file}"
        );
    }

    // Every schema of an output is named where its JSON is described.
    for name in ["check", "scan", "resolve", "kube-version", "gaps"] {
        let line = format!("Schema: [`schema/{name}.schema.json`]");
        assert!(
            reference.contains(&line),
            "docs/reference.md does not say {line}"
        );
    }
    assert!(text.contains("Schema: [`schema/gaps.schema.json`]"));
}
