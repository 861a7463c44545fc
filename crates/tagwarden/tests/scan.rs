//! `tagwarden scan` against the fixture cluster of the test API server (HTTPS, bearer
//! token; `tagwarden_testbed::Fixtures`) and real registries: the shared seeded one for
//! public images, an htpasswd one for the private image that only the pull secret opens.

use std::sync::OnceLock;

use serde_json::Value;
use tagwarden_testbed::{ApiServer, Fixtures, ManifestKind, Platform, Registry, RegistryMode};

use crate::charts::shared;
use crate::common::{Run, tagwarden_stdin_in};

/// The private registry (htpasswd), with `payments/ledger:3.1.0` and
/// `platform/exporter:1.4.0`, shared by this module's tests.
fn private() -> &'static Registry {
    static PRIVATE: OnceLock<Registry> = OnceLock::new();
    PRIVATE.get_or_init(|| {
        let registry = Registry::start_with(RegistryMode::Htpasswd);
        let seeder = registry.seeder();
        seeder.push_image(
            "payments/ledger",
            "3.1.0",
            ManifestKind::Oci,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
        seeder.push_image(
            "platform/exporter",
            "1.4.0",
            ManifestKind::Oci,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
        registry
    })
}

/// The fixture cluster, its images on the test registries.
fn fixtures() -> Fixtures {
    let public = shared();
    // The Capsule controller's image is not in the standard data set.
    public.registry.seeder().push_image(
        "clastix/capsule",
        "v0.7.2",
        ManifestKind::Oci,
        &[Platform::linux_amd64(), Platform::linux_arm64()],
    );
    let private = private();
    let (user, password) = private.credentials();
    Fixtures::standard()
        .public_registry(public.addr())
        .private_registry(private.addr())
        .private_credentials(user, password)
        .provider_registry(private.addr())
}

fn api_server() -> ApiServer {
    ApiServer::builder()
        .git_version("v1.32.1-eks-5e0fdde")
        .fixtures(fixtures())
        .start()
}

/// `tagwarden ARGS` with the server's kubeconfig and the private registry's CA, in a
/// clean environment (temp HOME, no credentials of the developer's).
fn scan(api: &ApiServer, args: &[&str]) -> Run {
    scan_with(api, args, &[])
}

fn scan_with(api: &ApiServer, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    let kubeconfig = api
        .kubeconfig_path()
        .to_str()
        .expect("UTF-8 path")
        .to_string();
    let ca = private()
        .ca_cert_path()
        .expect("the htpasswd registry has a CA")
        .to_str()
        .expect("UTF-8 path")
        .to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--ca-file", ca.as_str()]);
    let mut env: Vec<(&str, &str)> = vec![("KUBECONFIG", kubeconfig.as_str())];
    env.extend_from_slice(envs);
    tagwarden_stdin_in(&all, b"", home.path(), &env)
}

/// The `images[]` entry whose image ends with `suffix`.
fn image<'a>(report: &'a Value, suffix: &str) -> &'a Value {
    report["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["image"].as_str().is_some_and(|s| s.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no image ending in {suffix} in {report:#}"))
}

/// `kind/name (container) path pods` of every location of an image.
fn locations(entry: &Value) -> Vec<String> {
    entry["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| {
            format!(
                "{}/{}/{} ({}) {} pods={}",
                l["namespace"].as_str().unwrap(),
                l["kind"].as_str().unwrap(),
                l["name"].as_str().unwrap(),
                l["container"].as_str().unwrap(),
                l["path"].as_str().unwrap(),
                l["pods"]
            )
        })
        .collect()
}

#[test]
fn scan_all_namespaces_reports_each_image_once_at_its_owner() {
    let api = api_server();
    let run = scan(&api, &["scan", "-A", "-o", "json"]);
    let report = run.json();

    // Every image of the fixture cluster, once each; no ReplicaSet, no owned Pod.
    let mut listed: Vec<String> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect();
    let count = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), count, "an image is listed twice: {report:#}");
    assert_eq!(count, 9, "{report:#}");
    let kinds: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["locations"].as_array().unwrap())
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"ReplicaSet"), "{kinds:?}");

    // Owners, not Pods: the Deployment with its two Pods, init container included.
    assert_eq!(
        locations(image(&report, "/library/busybox:1.36.1")),
        ["shop/Deployment/web (web) spec.template.spec.containers[0].image pods=2"]
    );
    let tools = image(&report, "/acme/tools/kubectl:v1.30.2");
    assert_eq!(
        locations(tools),
        ["shop/Deployment/web (wait-for-config) spec.template.spec.initContainers[0].image pods=2"]
    );
    // Node platforms: amd64-only, while two of the three nodes are arm64.
    assert_eq!(tools["status"], "missing", "{tools:#}");
    let reason = tools["reason"].as_str().unwrap();
    assert!(reason.contains("lacks linux/arm64/v8"), "{reason}");
    assert!(
        reason.contains("2 nodes its Pods could run on are linux/arm64/v8"),
        "{reason}"
    );
    assert_eq!(
        tools["platforms"],
        serde_json::json!([{"platform": "linux/amd64", "nodes": 1}, {"platform": "linux/arm64/v8", "nodes": 2}])
    );

    // The Helm hook Job in ImagePullBackOff: missing, with its fallback and the kubelet's Event.
    let hook = image(&report, "/clastix/kubectl:v1.32");
    assert_eq!(hook["status"], "missing");
    assert!(
        hook["fallback"]
            .as_str()
            .unwrap()
            .ends_with("/clastix/kubectl:v1.31"),
        "{hook:#}"
    );
    assert_eq!(
        locations(hook),
        [
            "capsule-system/Job/capsule-crds (crds-hook) spec.template.spec.containers[0].image pods=1"
        ]
    );
    let failures = hook["pull_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{hook:#}");
    assert_eq!(failures[0]["pod"], "capsule-crds-8x7kq");
    assert_eq!(failures[0]["container"], "crds-hook");
    assert_eq!(failures[0]["reason"], "ImagePullBackOff");
    assert_eq!(failures[0]["class"], "not_found");
    assert_eq!(failures[0]["since"], "2026-11-29T21:03:13Z");
    assert!(
        failures[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to pull image")
    );

    // Scaled to zero, and its tag is gone: still reported.
    let janitor = image(&report, "/bitnami/kubectl:1.27.3");
    assert_eq!(janitor["status"], "missing");
    assert_eq!(
        locations(janitor),
        [
            "reports/Deployment/cluster-janitor (janitor) spec.template.spec.containers[0].image pods=0"
        ]
    );
    // A CronJob's image, at its path.
    assert_eq!(
        locations(image(&report, "/platform/exporter:1.4.0")),
        [
            "reports/CronJob/nightly-export (export) spec.jobTemplate.spec.template.spec.containers[0].image pods=0"
        ]
    );
    // A bare Pod and its ephemeral container; platforms of the node it is bound to.
    let debugger = image(&report, "/library/busybox:latest");
    assert_eq!(
        locations(debugger),
        ["debug/Pod/toolbox (debugger-wq7nz) spec.ephemeralContainers[0].image pods=1"]
    );
    assert_eq!(debugger["status"], "present");
    assert_eq!(debugger["platforms"].as_array().unwrap().len(), 1);

    // The private image: only the pull secret (Pod and ServiceAccount name it) opens it.
    let ledger = image(&report, "/payments/ledger:3.1.0");
    assert_eq!(ledger["status"], "present", "{ledger:#}");
    assert_eq!(
        ledger["pull_secrets"],
        serde_json::json!(["payments/regcred"])
    );
    // The credential-provider image gets no secret of another namespace: denied.
    let exporter = image(&report, "/platform/exporter:1.4.0");
    assert_eq!(exporter["status"], "denied", "{exporter:#}");
    assert_eq!(exporter["pull_secrets"], serde_json::json!([]));

    assert_eq!(
        report["summary"],
        serde_json::json!({"present": 5, "missing": 3, "undetermined": 1, "invalid": 0})
    );
    assert_eq!(
        report["nodes"],
        serde_json::json!([{"platform": "linux/amd64", "nodes": 1}, {"platform": "linux/arm64/v8", "nodes": 2}])
    );
    assert_eq!(report["cluster"]["kube_version"]["minor"], 32);
    assert!(report["cluster"].get("target_kube_version").is_none());
    // Undetermined wins over missing, as in check.
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("reports/CronJob/nightly-export"),
        "{}",
        run.stderr
    );

    // Secrets were read with GET, never listed.
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/namespaces/payments/secrets/regcred"),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.path.ends_with("/secrets")),
        "{requests:?}"
    );
}

#[test]
fn a_namespace_and_a_selector_narrow_the_scan() {
    let api = api_server();
    let run = scan(
        &api,
        &["scan", "-n", "shop", "-o", "json", "--fail-on", "missing"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let images: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(
        images
            .iter()
            .all(|i| i.contains("busybox:1.36.1") || i.contains("acme/tools"))
    );

    let run = scan(
        &api,
        &[
            "scan",
            "-A",
            "-l",
            "app.kubernetes.io/name=capsule",
            "-o",
            "json",
            "--fail-on",
            "never",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let images: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(images.iter().all(|i| i.contains("clastix/")), "{images:?}");
    // The selector went to the server.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.path == "/apis/apps/v1/deployments" && r.query.contains("labelSelector=")),
        "{:?}",
        api.requests()
    );
}

#[test]
fn text_and_junit_say_the_same_as_json() {
    let api = api_server();
    let run = scan(&api, &["scan", "-n", "capsule-system"]);
    assert_eq!(run.code, 1, "{run:?}");
    let hook_row = run
        .stdout
        .lines()
        .position(|l| l.contains("clastix/kubectl:v1.32"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let table = run
        .stdout
        .lines()
        .skip(hook_row)
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(table.contains("missing"), "{table}");
    assert!(
        table.contains("ImagePullBackOff in capsule-system/capsule-crds-8x7kq (crds-hook)"),
        "{table}"
    );
    assert!(
        table.contains("capsule-system/Job/capsule-crds (crds-hook), 1 pod"),
        "{table}"
    );
    assert!(run.stderr.contains("2 unique images"), "{}", run.stderr);

    let run = scan(&api, &["scan", "-n", "capsule-system", "-o", "junit"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("<testsuite name=\"tagwarden scan\" tests=\"2\" failures=\"1\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("classname=\"tagwarden.scan\""),
        "{}",
        run.stdout
    );

    let run = scan(&api, &["scan", "-n", "capsule-system", "-o", "sarif"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
}
