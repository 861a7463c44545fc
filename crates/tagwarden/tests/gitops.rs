//! The GitOps and chart-CI integrations (issue 20), each run as its host tool runs it:
//!
//! - **Argo CD**: `deploy/argocd/plugin.yaml`'s generate command, exactly as the
//!   argocd-cmp-server executes it (the command and args of the file, the script from the
//!   ConfigMap mount the sidecar declares, the application's source path as working
//!   directory, Argo CD's build environment and `ARGOCD_ENV_*` from the Application), on a
//!   chart whose pre-install hook needs a repair; and the sidecar as the real `kubectl
//!   kustomize` builds it from `deploy/argocd` as a component.
//! - **Flux**: `check -o kustomize-images` applied to the rendered charts by the Kustomize
//!   inside the real kubectl, against `post-render` on the same input.
//! - **Chart CI**: `scripts/chart-ci.sh` on the test chart for a matrix of vendor version
//!   strings, as the pre-commit hook runs it and through `action.yml`'s steps (run the way
//!   a runner runs a composite action's `run` steps), with tagwarden installed by
//!   `scripts/install-tagwarden.sh` from a release-binary URL.
//!
//! `helm` is [`tagwarden_testbed::helm::helm_dir`]'s: the shim that renders `helm template`
//! with Helm v4's library (no `helm` binary can be installed here).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tagwarden_testbed::helm::helm_dir;
use tagwarden_testbed::kubectl_binary;

use crate::charts::{rendered, shared, tagwarden_stdin};
use crate::common::Run;

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The test chart: a Deployment, and hook Jobs whose kubectl tag follows the cluster.
fn test_chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/kubectl-hooks")
}

/// `PATH` with the helm shim and the built tagwarden first.
fn tool_path() -> OsString {
    let tagwarden = Path::new(env!("CARGO_BIN_EXE_tagwarden"));
    let mut dirs = vec![helm_dir(), tagwarden.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn run_of(output: std::process::Output) -> Run {
    Run {
        code: output.status.code().expect("killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every object of a YAML stream, by `kind/namespace/name`.
fn objects_by_name(yaml: &str) -> BTreeMap<String, Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml).expect("a YAML stream");
    documents
        .into_iter()
        .filter(|d| d.is_object())
        .map(|d| {
            let meta = &d["metadata"];
            let key = format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap_or(""),
                meta["namespace"].as_str().unwrap_or(""),
                meta["name"].as_str().unwrap_or("")
            );
            (key, d)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Argo CD

const APP: &str = "capsule";
const APP_NAMESPACE: &str = "capsule-system";
/// The built-in and custom APIs of the destination, as Argo CD lists them: group/version,
/// and group/version/Kind.
const API_VERSIONS: &str =
    "v1,apps/v1,batch/v1,monitoring.coreos.com/v1,monitoring.coreos.com/v1/ServiceMonitor";

/// The sidecar's volume mounts, by mount path: (volume, subPath).
fn sidecar_mounts() -> BTreeMap<String, (String, Option<String>)> {
    let patch = yaml_file(&repo().join("deploy/argocd/repo-server-sidecar.yaml"));
    let container = &patch["spec"]["template"]["spec"]["containers"][0];
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let path = m["mountPath"].as_str().unwrap().to_string();
            let volume = m["name"].as_str().unwrap().to_string();
            (path, (volume, m["subPath"].as_str().map(str::to_string)))
        })
        .collect()
}

/// plugin.yaml's generate command and args, with each file the sidecar mounts from the
/// plugin's ConfigMap (by subPath) read from deploy/argocd, where the ConfigMap takes it.
fn generate_argv() -> Vec<String> {
    let plugin = yaml_file(&repo().join("deploy/argocd/plugin.yaml"));
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let generate = &plugin["spec"]["generate"];
    let words = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|w| w.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut argv = words(&generate["command"]);
    argv.extend(words(&generate["args"]));
    let mounts = sidecar_mounts();
    argv.into_iter()
        .map(|word| match mounts.get(&word) {
            Some((volume, Some(sub_path))) if volume == "tagwarden-plugin-config" => repo()
                .join("deploy/argocd")
                .join(sub_path)
                .to_string_lossy()
                .into_owned(),
            _ => word,
        })
        .collect()
}

/// A checkout of the application's repository with the chart at `apps/kubectl-hooks`.
fn app_repository() -> (tempfile::TempDir, PathBuf) {
    let checkout = tempfile::tempdir().unwrap();
    let source = checkout.path().join("apps/kubectl-hooks");
    copy_dir(&test_chart(), &source);
    (checkout, source)
}

/// The plugin's generate command, as the argocd-cmp-server runs it: in the source path,
/// with the build environment and the Application's `plugin.env` as `ARGOCD_ENV_*`.
fn argocd_generate(source: &Path, kube_version: &str, plugin_env: &[(&str, &str)]) -> Run {
    let argv = generate_argv();
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(source)
        .env_clear()
        .env("PATH", tool_path())
        .env("HOME", home.path())
        .env("ARGOCD_APP_NAME", APP)
        .env("ARGOCD_APP_NAMESPACE", APP_NAMESPACE)
        .env("ARGOCD_APP_PROJECT_NAME", "default")
        .env(
            "ARGOCD_APP_REVISION",
            "f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8",
        )
        .env("ARGOCD_APP_REVISION_SHORT", "f913b6c")
        .env("ARGOCD_APP_SOURCE_PATH", "apps/kubectl-hooks")
        .env("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/apps.git")
        .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "main")
        .env("KUBE_VERSION", kube_version)
        .env("KUBE_API_VERSIONS", API_VERSIONS);
    for (name, value) in plugin_env {
        command.env(format!("ARGOCD_ENV_{name}"), value);
    }
    run_of(command.output().expect("run the plugin's generate command"))
}

/// `helm template` of the test chart in `source`, as Argo CD's own Helm would render it.
fn helm_template(source: &Path, kube_version: &str, registry: &str) -> String {
    let output = Command::new("helm")
        .env("PATH", tool_path())
        .current_dir(source)
        .args(["template", APP, ".", "--namespace", APP_NAMESPACE])
        .args(["--kube-version", kube_version, "--include-crds"])
        .args(["--api-versions", API_VERSIONS])
        .args(["--values", "values-production.yaml"])
        .args(["--set", &format!("registry={registry}")])
        .output()
        .expect("run helm");
    let run = run_of(output);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
}

#[test]
fn argocd_plugin_repairs_the_hook_and_changes_no_other_byte() {
    let addr = shared().addr();
    let (_checkout, source) = app_repository();
    let values = format!("registry: {addr}\n");
    let env = [
        ("VALUES_FILES", "values-production.yaml"),
        ("VALUES", values.as_str()),
    ];
    // Argo CD 3 passes the semantic version without metadata (1.32.0).
    let run = argocd_generate(&source, "1.32.0", &env);
    assert_eq!(run.code, 0, "{run:?}");

    let helm = helm_template(&source, "1.32.0", addr);
    let missing = format!(" image: \"{addr}/clastix/kubectl:v1.32\"");
    assert_eq!(helm.matches(&missing).count(), 2, "two hook Jobs:\n{helm}");
    // What reached helm: the values file, the values, the API versions, the version.
    assert!(helm.contains("replicas: 3"), "{helm}");
    assert!(helm.contains("kind: ServiceMonitor"), "{helm}");
    assert!(helm.contains("kube-version: \"v1.32.0\""), "{helm}");
    let expected = helm.replace(
        &missing,
        &format!(" image: \"{addr}/clastix/kubectl:v1.31\""),
    );
    assert_eq!(run.stdout, expected);
    // The ConfigMap's text that names the tag is data: it stays.
    assert!(
        run.stdout
            .contains(&format!("hook-image: \"{addr}/clastix/kubectl:v1.32\""))
    );
    assert!(
        run.stderr.contains(&format!(
            "{addr}/clastix/kubectl:v1.32 → {addr}/clastix/kubectl:v1.31 (v1.32 is not published"
        )),
        "{run:?}"
    );
}

#[test]
fn argocd_plugin_fails_generate_with_tagwardens_one_line_reason() {
    let addr = shared().addr();
    let (_checkout, source) = app_repository();
    let values = format!("registry: {addr}\n");
    // On 1.34 the nearest published kubectl, v1.31, is outside the skew policy of ±1.
    let run = argocd_generate(&source, "1.34.0", &[("VALUES", values.as_str())]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "", "nothing for Argo CD to apply: {run:?}");
    // tagwarden's reason, one line per image, then one line that nothing was rendered:
    // what Argo CD shows in the application's ComparisonError.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].starts_with(&format!(
            "error: <stdin>:67,85: {addr}/clastix/kubectl:v1.34: v1.34 is not published, and no compatible tag is within the skew policy of ±1"
        )),
        "{run:?}"
    );
    assert_eq!(
        lines[1],
        "error: 1 missing image with no fallback: nothing was rendered (--allow-missing renders them as they are)"
    );
    assert!(lines[0].contains("helm.sh/hook: pre-delete"), "{run:?}");

    // No KUBE_VERSION (an Argo CD that does not pass it): a reason, never a guess.
    let run = argocd_generate(&source, "", &[("VALUES", values.as_str())]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("KUBE_VERSION is empty"), "{run:?}");
}

#[test]
fn argocd_plugin_takes_an_old_argo_cds_major_minor_version_and_tagwarden_flags() {
    let addr = shared().addr();
    let (_checkout, source) = app_repository();
    let values = format!("registry: {addr}\n");
    // Argo CD 2.x on GKE/EKS passed the Major.Minor fields: 1.32+.
    let run = argocd_generate(
        &source,
        "1.32+",
        &[("VALUES", values.as_str()), ("TAGWARDEN_ARGS", "--pin")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let digest = shared().digest("clastix/kubectl", "v1.31");
    assert_eq!(
        run.stdout
            .matches(&format!("image: \"{addr}/clastix/kubectl:v1.31@{digest}\""))
            .count(),
        2,
        "{run:?}"
    );
}

/// deploy/argocd as a component of an Argo CD installation (a repo-server with Argo CD's
/// `var-files` and `plugins` volumes), built by the real `kubectl kustomize`, by object.
fn argocd_with_the_component() -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    std::fs::write(
        base.join("repo-server.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: argocd-repo-server}\n\
         spec:\n  template:\n    spec:\n      containers:\n        - {name: argocd-repo-server, image: quay.io/argoproj/argocd:v3.0.0}\n\
         \x20     volumes:\n        - {name: var-files, emptyDir: {}}\n        - {name: plugins, emptyDir: {}}\n",
    )
    .unwrap();
    let up = "../".repeat(base.components().count() - 1);
    let component = format!("{up}{}", repo().join("deploy/argocd").display());
    std::fs::write(
        base.join("kustomization.yaml"),
        format!(
            "namespace: argocd\nresources: [repo-server.yaml]\ncomponents: [\"{component}\"]\n"
        ),
    )
    .unwrap();
    let output = kubectl_binary()
        .command()
        .args(["kustomize"])
        .arg(&base)
        .output()
        .unwrap();
    let built = run_of(output);
    assert_eq!(built.code, 0, "{built:?}");
    objects_by_name(&built.stdout)
}

#[test]
fn argocd_sidecar_has_the_mounts_argo_cd_documents() {
    let objects = argocd_with_the_component();

    let config = &objects["ConfigMap/argocd/tagwarden-plugin-config"]["data"];
    for file in ["plugin.yaml", "generate.sh"] {
        let text = std::fs::read_to_string(repo().join("deploy/argocd").join(file)).unwrap();
        assert_eq!(config[file], text.as_str(), "{file}");
    }
    let pod = &objects["Deployment/argocd/argocd-repo-server"]["spec"]["template"]["spec"];
    let sidecar = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tagwarden-plugin")
        .expect("the sidecar");
    assert_eq!(
        sidecar["command"],
        serde_json::json!(["/var/run/argocd/argocd-cmp-server"])
    );
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], true);
    let mounts: BTreeMap<&str, (&str, Option<&str>)> = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let path = m["mountPath"].as_str().unwrap();
            (path, (m["name"].as_str().unwrap(), m["subPath"].as_str()))
        })
        .collect();
    assert_eq!(mounts["/var/run/argocd"], ("var-files", None));
    assert_eq!(mounts["/home/argocd/cmp-server/plugins"], ("plugins", None));
    assert_eq!(
        mounts["/home/argocd/cmp-server/config/plugin.yaml"],
        ("tagwarden-plugin-config", Some("plugin.yaml"))
    );
    assert_eq!(
        mounts["/home/argocd/cmp-server/config/generate.sh"],
        ("tagwarden-plugin-config", Some("generate.sh"))
    );
    // A /tmp of its own, not the repo-server's.
    let tmp_volume = mounts["/tmp"].0;
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == tmp_volume)
        .unwrap();
    assert!(volume["emptyDir"].is_object(), "{volume}");
    // The generate command runs the script at the path the sidecar mounts it.
    let plugin = yaml_file(&repo().join("deploy/argocd/plugin.yaml"));
    assert_eq!(
        plugin["spec"]["generate"]["command"],
        serde_json::json!(["sh", "/home/argocd/cmp-server/config/generate.sh"])
    );
}

// ---------------------------------------------------------------------------------------
// Flux

/// The rendered fixtures with hooks and missing Kubernetes-version tags.
const FLUX_CHARTS: [&str; 3] = ["capsule.yaml", "kube-prometheus-stack.yaml", "velero.yaml"];

/// `input` objects with every string that post-render changed pinned to `digests[new]`.
fn pin_changes(
    input: &Value,
    repaired: &Value,
    digests: &BTreeMap<String, String>,
    changed: &mut usize,
) -> Value {
    match (input, repaired) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            b.iter()
                .map(|(k, v)| {
                    let before = a.get(k).unwrap_or(&Value::Null);
                    (k.clone(), pin_changes(before, v, digests, changed))
                })
                .collect(),
        ),
        (Value::Array(a), Value::Array(b)) => Value::Array(
            b.iter()
                .enumerate()
                .map(|(i, v)| pin_changes(a.get(i).unwrap_or(&Value::Null), v, digests, changed))
                .collect(),
        ),
        (Value::String(a), Value::String(b)) if a != b => {
            *changed += 1;
            let digest = digests
                .get(b)
                .unwrap_or_else(|| panic!("no digest for {b}"));
            Value::String(format!("{b}@{digest}"))
        }
        (_, b) => b.clone(),
    }
}

/// Every line of `yaml` two spaces further in.
fn indent(yaml: &str) -> String {
    yaml.lines().map(|line| format!("  {line}\n")).collect()
}

/// `kubectl kustomize` of `manifests` with `images` (a YAML sequence), by object.
fn kustomize(manifests: &str, images: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rendered.yaml"), manifests).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("resources: [rendered.yaml]\nimages:\n{}", indent(images)),
    )
    .unwrap();
    let output = kubectl_binary()
        .command()
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    let built = run_of(output);
    assert_eq!(built.code, 0, "{built:?}");
    objects_by_name(&built.stdout)
}

#[test]
fn flux_kustomize_images_make_the_same_repairs_as_post_render() {
    let charts = shared();
    let addr = charts.addr();
    let input: String = FLUX_CHARTS
        .iter()
        .map(|name| rendered(name, addr))
        .collect();
    let clastix = charts.digest("clastix/kubectl", "v1.31");
    let bitnami = charts.digest("bitnami/kubectl", "1.31");

    let run = tagwarden_stdin(
        &["check", "--kube-version", "1.32", "-o", "kustomize-images"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "missing images are a finding: {run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "- name: \"{addr}/clastix/kubectl\"\n  newTag: \"v1.31\"\n  digest: \"{clastix}\"\n\
             - name: \"{addr}/bitnami/kubectl\"\n  newTag: \"1.31\"\n  digest: \"{bitnami}\"\n"
        )
    );
    assert!(!run.stderr.contains("warning"), "{run:?}");

    // The entries as a HelmRelease's post-renderer applies them: Kustomize's images.
    let kustomized = kustomize(&input, &run.stdout);
    // post-render on the same input, and both streams through Kustomize without images,
    // so that all three are serialized alike (Kustomize quotes `yes`, keeps timestamps).
    let post_rendered =
        tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(post_rendered.code, 0, "{post_rendered:?}");
    let before = kustomize(&input, "[]\n");
    let after = kustomize(&post_rendered.stdout, "[]\n");
    let digests = BTreeMap::from([
        (format!("{addr}/clastix/kubectl:v1.31"), clastix.clone()),
        (format!("{addr}/bitnami/kubectl:1.31"), bitnami.clone()),
    ]);
    let mut changed = 0;
    let expected: BTreeMap<String, Value> = after
        .iter()
        .map(|(key, object)| {
            (
                key.clone(),
                pin_changes(&before[key], object, &digests, &mut changed),
            )
        })
        .collect();
    // Capsule's two hooks, kube-prometheus-stack's CRD job, Velero's two.
    assert_eq!(changed, 5);
    assert_eq!(kustomized, expected);
    // Hooks included: Kustomize sees every object it is given.
    let hook = &kustomized["Job/capsule-system/capsule-crds"];
    assert!(
        hook["metadata"]["annotations"]["helm.sh/hook"].is_string(),
        "{hook}"
    );
    assert_eq!(
        hook["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{addr}/clastix/kubectl:v1.31@{clastix}")
    );
}

#[test]
fn flux_kustomize_images_warn_what_an_entry_cannot_tell_apart() {
    let addr = shared().addr();
    let pods = |images: &[&str]| -> String {
        images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n    - {{name: c, image: {addr}/{image}}}\n"
                )
            })
            .collect()
    };
    // Kustomize matches by name: the entry for v1.32 also rewrites the present v1.30.
    let input = pods(&["clastix/kubectl:v1.32", "clastix/kubectl:v1.30"]);
    let run = tagwarden_stdin(
        &["check", "--kube-version", "1.32", "-o", "kustomize-images"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "- name: \"{addr}/clastix/kubectl\"\n  newTag: \"v1.31\"\n"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "warning: the entry for {addr}/clastix/kubectl:v1.32 (name {addr}/clastix/kubectl) also rewrites {addr}/clastix/kubectl:v1.30 (<stdin>:"
        )),
        "{run:?}"
    );

    // Missing with nothing within the policy: no entry, and a warning that says so.
    let input = pods(&["clastix/kubectl:v1.34"]);
    let run = tagwarden_stdin(
        &["check", "--kube-version", "1.34", "-o", "kustomize-images"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "[]\n");
    assert!(
        run.stderr.contains(&format!(
            "warning: {addr}/clastix/kubectl:v1.34 (<stdin>:7:"
        )) && run.stderr.contains("no images entry can repair it"),
        "{run:?}"
    );

    // Everything present: nothing to repair.
    let input = pods(&["clastix/kubectl:v1.31"]);
    let run = tagwarden_stdin(
        &["check", "--kube-version", "1.31", "-o", "kustomize-images"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "[]\n");
}

// ---------------------------------------------------------------------------------------
// Chart CI: scripts/chart-ci.sh, the pre-commit hook and the GitHub Action

/// Kubernetes versions as distributions write them; the test registry has clastix/kubectl
/// v1.28 … v1.31, so v1.32 falls back to v1.31 and v1.33 has nothing within ±1.
const MATRIX: [&str; 4] = [
    "v1.32.0-eks-5e0fdde",
    "v1.31.4+k3s1",
    "v1.30.5-gke.1014001",
    "v1.33.1+k0s",
];

/// A chart repository: the test chart at charts/kubectl-hooks, and ci-values.yaml that
/// points it at the test registry.
fn chart_repository(addr: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&test_chart(), &dir.path().join("charts/kubectl-hooks"));
    std::fs::write(
        dir.path().join("ci-values.yaml"),
        format!("registry: {addr}\n"),
    )
    .unwrap();
    dir
}

/// `scripts/chart-ci.sh ARGS` in `dir`, with helm and tagwarden on PATH and nothing of a
/// GitHub runner in the environment.
fn chart_ci(dir: &Path, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(repo().join("scripts/chart-ci.sh"))
        .args(args)
        .current_dir(dir)
        .env("PATH", tool_path())
        .env("HOME", home.path())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("TAGWARDEN_CONFIG")
        .env_remove("TAGWARDEN_KUBE_VERSION")
        .env_remove("KUBECONFIG")
        .output()
        .expect("run scripts/chart-ci.sh");
    run_of(output)
}

/// `--kube-version V` for each version.
fn matrix_args(versions: &[&str]) -> Vec<String> {
    versions
        .iter()
        .flat_map(|v| ["--kube-version".to_string(), v.to_string()])
        .collect()
}

/// The Markdown summary chart-ci.sh writes for the test chart on [`MATRIX`].
fn expected_summary(addr: &str) -> String {
    format!(
        "### tagwarden: images of `charts/kubectl-hooks`\n\n\
         | Kubernetes | exit | missing | undetermined | invalid |\n\
         |---|---|---|---|---|\n\
         | `v1.32.0-eks-5e0fdde` | ❌ 1 | 1 | 0 | 0 |\n\
         | `v1.31.4+k3s1` | ✅ 0 | 0 | 0 | 0 |\n\
         | `v1.30.5-gke.1014001` | ✅ 0 | 0 | 0 | 0 |\n\
         | `v1.33.1+k0s` | ❌ 1 | 1 | 0 | 0 |\n\n\
         - `v1.32.0-eks-5e0fdde`: `{addr}/clastix/kubectl:v1.32` missing → fallback `{addr}/clastix/kubectl:v1.31` (charts/kubectl-hooks/templates/hooks.yaml)\n\
         - `v1.33.1+k0s`: `{addr}/clastix/kubectl:v1.33` missing (charts/kubectl-hooks/templates/hooks.yaml)\n\n"
    )
}

#[test]
fn chart_ci_checks_every_version_into_sarif_and_a_job_summary() {
    let addr = shared().addr();
    let dir = chart_repository(addr);
    let mut args = vec![
        "--chart",
        "charts/kubectl-hooks",
        "--values",
        "charts/kubectl-hooks/values-production.yaml",
        "--values",
        "ci-values.yaml",
        "--sarif-dir",
        "sarif",
        "--summary",
        "summary.md",
    ];
    let versions = matrix_args(&MATRIX);
    args.extend(versions.iter().map(String::as_str));
    let run = chart_ci(dir.path(), &args);
    assert_eq!(run.code, 1, "missing images, nothing worse: {run:?}");
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert_eq!(summary, expected_summary(addr));

    let sarif_of = |version: &str| -> Value {
        let file = dir.path().join(format!("sarif/tagwarden-{version}.sarif"));
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    };
    let eks = sarif_of("v1.32.0-eks-5e0fdde");
    let run0 = &eks["runs"][0];
    assert_eq!(
        run0["automationDetails"]["id"],
        "tagwarden/kubectl-hooks/v1.32.0-eks-5e0fdde/"
    );
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "one per hook Job: {eks}");
    for result in results {
        assert_eq!(result["ruleId"], "image-missing");
        assert_eq!(
            result["properties"]["fallback"],
            format!("{addr}/clastix/kubectl:v1.31")
        );
        let location = &result["locations"][0]["physicalLocation"];
        // The chart's template, in the repository, where code scanning can show it.
        assert_eq!(
            location["artifactLocation"]["uri"],
            "charts/kubectl-hooks/templates/hooks.yaml"
        );
        assert!(
            dir.path()
                .join("charts/kubectl-hooks/templates/hooks.yaml")
                .is_file()
        );
        assert_eq!(location["region"]["startLine"], 1);
        let text = result["message"]["text"].as_str().unwrap();
        assert!(
            text.contains("Kubernetes v1.32.0-eks-5e0fdde; rendered at line "),
            "{text}"
        );
    }
    // The k3s version's kubectl exists: a SARIF file with no results.
    let k3s = sarif_of("v1.31.4_k3s1");
    assert_eq!(k3s["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(
        std::fs::read_dir(dir.path().join("sarif")).unwrap().count(),
        MATRIX.len()
    );
}

#[test]
fn chart_ci_runs_as_the_pre_commit_hook_declares_it() {
    let hooks: Value = yaml_file(&repo().join(".pre-commit-hooks.yaml"));
    let hook = &hooks[0];
    assert_eq!(hook["id"], "tagwarden-chart-images");
    assert_eq!(hook["language"], "script");
    assert_eq!(hook["pass_filenames"], false);
    let entry = repo().join(hook["entry"].as_str().unwrap());
    assert_eq!(entry, repo().join("scripts/chart-ci.sh"));
    // pre-commit runs the entry with the hook's args, in the repository's root.
    let addr = shared().addr();
    let dir = chart_repository(addr);
    let mut args = vec![
        "--chart",
        "charts/kubectl-hooks",
        "--values",
        "ci-values.yaml",
    ];
    let versions = matrix_args(&["v1.31.4+k3s1", "v1.32.0-eks-5e0fdde"]);
    args.extend(versions.iter().map(String::as_str));
    let run = chart_ci(dir.path(), &args);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    // tagwarden's table for each version, on the terminal.
    assert!(
        run.stderr
            .contains("chart-ci: charts/kubectl-hooks at Kubernetes v1.31.4+k3s1"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("{addr}/clastix/kubectl:v1.32")),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("{addr}/clastix/kubectl:v1.31")),
        "{run:?}"
    );
    // Its locations are the chart's templates, not the render's temporary folder.
    assert!(
        run.stderr
            .contains("charts/kubectl-hooks/templates/hooks.yaml:20:18 Job default/kubectl-hooks-pre-delete (kubectl)"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("chart-ci."), "{run:?}");
}

#[test]
fn chart_ci_fails_a_version_helm_cannot_render_and_checks_the_others() {
    let addr = shared().addr();
    let dir = chart_repository(addr);
    // A version helm cannot read fails the hook as a render failure (exit 2), and the
    // other versions are still checked.
    let args = [
        "--chart",
        "charts/kubectl-hooks",
        "--values",
        "ci-values.yaml",
        "--kube-version",
        "one-point-thirty",
        "--kube-version",
        "v1.31.4+k3s1",
    ];
    let run = chart_ci(dir.path(), &args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("chart-ci: helm template failed for Kubernetes one-point-thirty"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("chart-ci: charts/kubectl-hooks at Kubernetes v1.31.4+k3s1"),
        "{run:?}"
    );

    // No version at all is a usage error, not a pass.
    let run = chart_ci(dir.path(), &["--chart", "charts/kubectl-hooks"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("chart-ci: no Kubernetes version"),
        "{run:?}"
    );
}

/// `${{ … }}` in `text` replaced as a runner would, for the expressions action.yml uses in
/// its `run` steps' `env`: `inputs.NAME` (given, else the input's default) and
/// `github.action_path`. Anything else fails the test: the runner would need to know it.
fn substitute(text: &str, action: &Value, inputs: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("a closed expression") + start;
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs.get(name).cloned().unwrap_or_else(|| {
                let input = &action["inputs"][name];
                assert!(input.is_object(), "action.yml has no input {name}");
                input["default"].as_str().unwrap_or("").to_string()
            })
        } else if expression == "github.action_path" {
            repo().to_string_lossy().into_owned()
        } else {
            panic!("an expression this test's runner does not know: {expression}");
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What running action.yml's steps left behind.
struct ActionRun {
    /// Each step's name and exit code (`None`: skipped).
    steps: Vec<(String, Option<i32>)>,
    stderr: String,
    outputs: String,
}

/// action.yml's steps as a runner runs a composite action's: each `run` step through
/// `bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`), with its `env`, the
/// runner's files (GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY), and the folders a
/// step adds to GITHUB_PATH on the PATH of the steps after it. A `uses` step can only run
/// on GitHub: its `if` must make it skip with these inputs.
fn run_action(
    workspace: &Path,
    runner: &Path,
    inputs: &BTreeMap<&str, String>,
    path: &OsString,
) -> ActionRun {
    let action = yaml_file(&repo().join("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let files = |name: &str| runner.join(name);
    for name in ["output", "path", "summary"] {
        std::fs::write(files(name), "").unwrap();
    }
    let (mut steps, mut stderr, mut failed) = (Vec::new(), String::new(), false);
    for step in action["runs"]["steps"].as_array().unwrap() {
        let name = step["name"].as_str().unwrap().to_string();
        if let Some(uses) = step["uses"].as_str() {
            assert_eq!(uses, "github/codeql-action/upload-sarif@v3");
            assert_eq!(
                step["if"],
                "${{ always() && inputs.upload-sarif == 'true' }}"
            );
            assert_ne!(inputs.get("upload-sarif").map(String::as_str), Some("true"));
            steps.push((name, None));
            continue;
        }
        if failed {
            steps.push((name, None));
            continue;
        }
        assert_eq!(step["shell"], "bash", "{name}");
        let script = files("step.sh");
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let added = std::fs::read_to_string(files("path")).unwrap();
        let mut dirs: Vec<PathBuf> = added.lines().rev().map(PathBuf::from).collect();
        dirs.extend(std::env::split_paths(path));
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .env("HOME", runner)
            .env("RUNNER_TEMP", files("temp"))
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTION_PATH", repo())
            .env("GITHUB_OUTPUT", files("output"))
            .env("GITHUB_PATH", files("path"))
            .env("GITHUB_STEP_SUMMARY", files("summary"));
        for (key, value) in step["env"].as_object().into_iter().flatten() {
            command.env(key, substitute(value.as_str().unwrap(), &action, inputs));
        }
        let run = run_of(command.output().unwrap());
        stderr.push_str(&run.stderr);
        failed = run.code != 0;
        steps.push((name, Some(run.code)));
    }
    let outputs = std::fs::read_to_string(files("output")).unwrap();
    ActionRun {
        steps,
        stderr,
        outputs,
    }
}

/// PATH without any folder that has a tagwarden: the action must install it.
fn path_without_tagwarden() -> OsString {
    let dirs: Vec<PathBuf> = std::iter::once(helm_dir())
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .filter(|dir| !dir.join("tagwarden").exists())
        .collect();
    std::env::join_paths(dirs).unwrap()
}

fn sha256_of(file: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(file)
        .output()
        .expect("sha256sum");
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_action_installs_a_release_binary_then_checks_every_version() {
    let addr = shared().addr();
    let workspace = chart_repository(addr);
    let runner = tempfile::tempdir().unwrap();
    // The release binary: the one this build made, served from a file:// URL.
    let binary = Path::new(env!("CARGO_BIN_EXE_tagwarden"));
    let inputs = BTreeMap::from([
        ("chart", "charts/kubectl-hooks".to_string()),
        ("kube-versions", format!("{}\n", MATRIX.join("\n"))),
        (
            "values-files",
            "charts/kubectl-hooks/values-production.yaml, ci-values.yaml".to_string(),
        ),
        ("install", format!("file://{}", binary.display())),
        ("binary-sha256", sha256_of(binary)),
    ]);
    let run = run_action(
        workspace.path(),
        runner.path(),
        &inputs,
        &path_without_tagwarden(),
    );
    let codes: Vec<Option<i32>> = run.steps.iter().map(|(_, code)| *code).collect();
    assert_eq!(
        codes,
        [Some(0), Some(1), None],
        "{:?}\n{}",
        run.steps,
        run.stderr
    );
    let installed = runner.path().join("temp/tagwarden/bin/tagwarden");
    assert!(installed.is_file(), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(runner.path().join("path")).unwrap(),
        format!("{}\n", installed.parent().unwrap().display())
    );
    assert_eq!(run.outputs, "exit-code=1\n");
    let summary = std::fs::read_to_string(runner.path().join("summary")).unwrap();
    assert_eq!(summary, expected_summary(addr));
    let sarif = workspace.path().join("tagwarden-sarif");
    assert_eq!(std::fs::read_dir(sarif).unwrap().count(), MATRIX.len());
}

#[test]
fn the_install_script_refuses_a_download_whose_digest_differs() {
    let runner = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_tagwarden"));
    let install = |envs: &[(&str, &str)]| -> Run {
        let mut command = Command::new(repo().join("scripts/install-tagwarden.sh"));
        command
            .env("PATH", path_without_tagwarden())
            .env("HOME", runner.path())
            .env("TAGWARDEN_INSTALL_ROOT", runner.path().join("root"))
            .env_remove("GITHUB_PATH")
            .env_remove("RUNNER_TEMP");
        for (key, value) in envs {
            command.env(key, value);
        }
        run_of(command.output().unwrap())
    };
    let url = format!("file://{}", binary.display());
    let wrong = "0".repeat(64);
    let run = install(&[("TAGWARDEN_INSTALL", &url), ("TAGWARDEN_SHA256", &wrong)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("SHA-256 is {}, not {wrong}", sha256_of(binary))),
        "{run:?}"
    );
    assert!(!runner.path().join("root/bin/tagwarden").exists());
    // `path` needs a tagwarden on PATH; an unknown mode is named.
    let run = install(&[("TAGWARDEN_INSTALL", "path")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("tagwarden is not on PATH"), "{run:?}");
    let run = install(&[("TAGWARDEN_INSTALL", "brew")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not 'brew'"), "{run:?}");
}

/// `git ARGS` in `dir`, with no configuration of the developer's; panics unless it works.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    let run = run_of(output);
    assert_eq!(run.code, 0, "git {args:?}: {run:?}");
    run.stdout
}

/// A hook repository with this tree's hook files, committed: what `repo:` names.
fn hook_repository() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    for file in [".pre-commit-hooks.yaml", "scripts/chart-ci.sh"] {
        std::fs::copy(repo().join(file), dir.path().join(file)).unwrap();
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "hooks"]);
    let rev = git(dir.path(), &["rev-parse", "HEAD"]).trim().to_string();
    (dir, rev)
}

#[test]
fn the_pre_commit_hook_runs_in_the_real_pre_commit() {
    let imports = Command::new("python3")
        .args(["-c", "import pre_commit"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        imports,
        "this test runs pre-commit: run scripts/test.sh (or python3 -m pip install pre-commit==4.7.0)"
    );
    let addr = shared().addr();
    let (hooks, rev) = hook_repository();
    let workspace = chart_repository(addr);
    std::fs::write(
        workspace.path().join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: tagwarden-chart-images\n        \
             args: [--chart, charts/kubectl-hooks, --values, ci-values.yaml,\n               \
             --kube-version, v1.31.4+k3s1, --kube-version, v1.32.0-eks-5e0fdde]\n",
            hooks.path().display()
        ),
    )
    .unwrap();
    git(workspace.path(), &["init", "-q"]);
    git(workspace.path(), &["add", "-A"]);
    git(workspace.path(), &["commit", "-qm", "chart"]);
    let home = tempfile::tempdir().unwrap();
    let pre_commit = |args: &[&str]| -> Run {
        let output = Command::new("python3")
            .args(["-m", "pre_commit", "run"])
            .args(args)
            .current_dir(workspace.path())
            .env("PATH", tool_path())
            .env("HOME", home.path())
            .env("PRE_COMMIT_HOME", home.path().join("pre-commit"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("TAGWARDEN_CONFIG")
            .env_remove("KUBECONFIG")
            .output()
            .expect("run pre-commit");
        run_of(output)
    };
    // A template changed: the hook renders both versions and fails on the missing v1.32.
    let run = pre_commit(&["--files", "charts/kubectl-hooks/templates/hooks.yaml"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("tagwarden chart images"), "{run:?}");
    assert!(
        run.stdout
            .contains("Failed\n- hook id: tagwarden-chart-images\n- exit code: 1"),
        "{run:?}"
    );
    let missing = run
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("{addr}/clastix/kubectl:v1.32 ")))
        .unwrap_or_else(|| panic!("no line for the missing image: {run:?}"));
    assert!(missing.contains(" missing "), "{run:?}");
    assert!(
        run.stdout.contains("charts/kubectl-hooks/templates/hooks.yaml:20:18 Job default/kubectl-hooks-pre-delete (kubectl)"),
        "{run:?}"
    );
    // A file that is not part of the chart: the hook does not run.
    let run = pre_commit(&["--files", ".pre-commit-config.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("(no files to check)Skipped"), "{run:?}");
}

#[test]
fn chart_ci_passes_on_this_repositorys_own_chart_for_every_vendor_version() {
    // deploy/helm/tagwarden, its image pushed into the test registry.
    let (repository, digest) = crate::chart::seeded_tagwarden_image();
    let work = tempfile::tempdir().unwrap();
    let values = work.path().join("values.yaml");
    std::fs::write(
        &values,
        format!("image:\n  repository: {repository}\n  digest: {digest}\n"),
    )
    .unwrap();
    let summary = work.path().join("summary.md");
    let mut args = vec![
        "--chart".to_string(),
        "deploy/helm/tagwarden".to_string(),
        "--values".to_string(),
        values.display().to_string(),
        "--summary".to_string(),
        summary.display().to_string(),
        "--sarif-dir".to_string(),
        work.path().join("sarif").display().to_string(),
    ];
    args.extend(matrix_args(&MATRIX));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = chart_ci(&repo(), &args);
    assert_eq!(run.code, 0, "{run:?}");
    let summary = std::fs::read_to_string(summary).unwrap();
    for version in MATRIX {
        assert!(
            summary.contains(&format!("| `{version}` | ✅ 0 | 0 | 0 | 0 |\n")),
            "{summary}"
        );
    }
}
