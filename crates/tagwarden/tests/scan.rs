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
pub(crate) fn private() -> &'static Registry {
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
pub(crate) fn fixtures() -> Fixtures {
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

/// The fixture cluster at Kubernetes 1.32 (EKS), for other modules' tests.
pub(crate) fn fixture_api_server() -> ApiServer {
    api_server()
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

/// A Deployment labelled `team=x` whose ReplicaSet and two Pods are labelled `app=web`
/// (a Deployment's labels are not its Pods'), as a Deployment controller leaves them.
fn apply_team_deployment(api: &ApiServer, image: &str) {
    let template = serde_json::json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    });
    // The namespace exists, as in a real cluster (scan -n checks it).
    api.apply(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "storefront"},
    }));
    api.apply(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "storefront",
            "namespace": "storefront",
            "uid": "5f0c1a2e-0000-4000-8000-00000000d001",
            "labels": {"team": "x"},
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }));
    let owner = |kind: &str, name: &str, uid: &str| {
        serde_json::json!([{
            "apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true,
        }])
    };
    api.apply(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "storefront-6c9f7d",
            "namespace": "storefront",
            "uid": "5f0c1a2e-0000-4000-8000-00000000d002",
            "labels": {"app": "web", "pod-template-hash": "6c9f7d"},
            "ownerReferences": owner("Deployment", "storefront", "5f0c1a2e-0000-4000-8000-00000000d001"),
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "6c9f7d"}},
            "template": template,
        },
    }));
    for (n, suffix) in ["x2k4q", "m8z7w"].iter().enumerate() {
        api.apply(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("storefront-6c9f7d-{suffix}"),
                "namespace": "storefront",
                "uid": format!("5f0c1a2e-0000-4000-8000-00000000d10{n}"),
                "labels": {"app": "web", "pod-template-hash": "6c9f7d"},
                "ownerReferences": owner("ReplicaSet", "storefront-6c9f7d", "5f0c1a2e-0000-4000-8000-00000000d002"),
            },
            "spec": {"containers": [{"name": "web", "image": image}]},
            "status": {"phase": "Running"},
        }));
    }
}

#[test]
fn a_selector_reports_the_top_owner_with_all_its_pods() {
    let api = api_server();
    let busybox = format!("{}/library/busybox:1.36", shared().addr());
    apply_team_deployment(&api, &busybox);
    let expected =
        ["storefront/Deployment/storefront (web) spec.template.spec.containers[0].image pods=2"];
    // The Deployment's own label (its Pods do not match), the Pods' label (the Deployment
    // does not match), and both at once through the ReplicaSet's hash: one answer.
    for selector in ["team=x", "app=web", "pod-template-hash=6c9f7d"] {
        let run = scan(
            &api,
            &["scan", "-n", "storefront", "-l", selector, "-o", "json"],
        );
        assert_eq!(run.code, 0, "-l {selector}: {run:?}");
        let report = run.json();
        assert_eq!(
            report["images"].as_array().unwrap().len(),
            1,
            "-l {selector}: {report:#}"
        );
        assert_eq!(
            locations(image(&report, "/library/busybox:1.36")),
            expected,
            "-l {selector}"
        );
    }
    // Nothing selected is nothing reported, though the namespace has a Deployment.
    let run = scan(
        &api,
        &["scan", "-n", "storefront", "-l", "team=y", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["images"], serde_json::json!([]), "{run:?}");
    assert!(
        run.stderr
            .contains("no workloads or Pods matching team=y in namespace storefront"),
        "{}",
        run.stderr
    );
    // The selector still went to the server, which judged it.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/storefront/pods"
                && r.query.contains("labelSelector=app%3Dweb")),
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

/// A Deployment in `shop` whose container uses `image`, as `kubectl apply` would create it.
pub(crate) fn deployment(name: &str, image: &str) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": format!("0b7c4e2a-{name}"),
            "labels": {"app.kubernetes.io/name": name},
            "creationTimestamp": "2026-11-20T10:00:00Z",
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
        "status": {"observedGeneration": 1, "replicas": 0},
    })
}

#[test]
fn kube_version_previews_an_upgrade_in_each_images_own_tag_format() {
    let public = shared();
    let seeder = public.registry.seeder();
    for tag in ["1.32.4", "1.33.0", "1.33.2", "1.33.10"] {
        seeder.push_image(
            "preflight/kubectl",
            tag,
            ManifestKind::Oci,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
    }
    let api = api_server();
    let patch_image = format!("{}/preflight/kubectl:1.32.4", public.addr());
    api.apply(deployment("tools", &patch_image));

    // Today, 1.32: both tracking images as they are.
    let run = scan(
        &api,
        &["scan", "-n", "shop", "-o", "json", "--fail-on", "never"],
    );
    let today = run.json();
    assert!(
        image(&today, "/preflight/kubectl:1.32.4")
            .get("after_upgrade")
            .is_none()
    );
    assert_eq!(
        image(&today, "/preflight/kubectl:1.32.4")["status"],
        "present"
    );

    // 1.33: the patch tag becomes the highest published 1.33.x.
    let run = scan(
        &api,
        &[
            "scan",
            "-A",
            "--kube-version",
            "1.33",
            "-o",
            "json",
            "--fail-on",
            "never",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["cluster"]["kube_version"]["minor"], 32);
    assert_eq!(report["cluster"]["target_kube_version"]["minor"], 33);
    let tools = image(&report, "/preflight/kubectl:1.32.4");
    assert_eq!(
        tools["after_upgrade"],
        format!("{}/preflight/kubectl:1.33.10", public.addr())
    );
    assert_eq!(tools["status"], "present", "{tools:#}");

    // The hook's v1.32 becomes v1.33: not published, nothing within ±1 of 1.33 either.
    let hook = image(&report, "/clastix/kubectl:v1.32");
    assert_eq!(
        hook["after_upgrade"],
        format!("{}/clastix/kubectl:v1.33", public.addr())
    );
    assert_eq!(hook["status"], "missing", "{hook:#}");
    assert_eq!(hook["fallback"], Value::Null);
    assert!(
        hook["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("v1.33 is not published")),
        "{hook:#}"
    );
    // Checked for the nodes' platforms, so no unchecked nearest tag is offered.
    assert!(hook.get("nearest_outside_policy").is_none(), "{hook:#}");
    // An image that does not follow the version keeps its tag.
    assert!(
        image(&report, "/library/busybox:1.36.1")
            .get("after_upgrade")
            .is_none()
    );

    // The text report says what will be asked for.
    let run = scan(
        &api,
        &["scan", "-n", "capsule-system", "--kube-version", "1.33"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("after the upgrade: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("clastix/kubectl:v1.33"),
        "{}",
        run.stdout
    );
}

#[test]
fn without_rbac_on_secrets_it_says_so_once_and_uses_local_credentials() {
    let api = ApiServer::builder()
        .git_version("v1.32.1-eks-5e0fdde")
        .fixtures(fixtures())
        .forbid("secrets")
        .start();
    let run = scan(&api, &["scan", "-n", "payments", "-o", "json", "--debug"]);
    // Without the pull secret, the private registry refuses: could not decide.
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    let ledger = image(&report, "/payments/ledger:3.1.0");
    assert_eq!(ledger["status"], "denied", "{ledger:#}");
    assert_eq!(ledger["pull_secrets"], serde_json::json!([]));
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("RBAC forbids reading Secrets"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].contains("payments/regcred"), "{}", warnings[0]);

    // With RBAC: the secret opens it, and its contents are never printed, even with --debug.
    api.allow("secrets");
    let run = scan(&api, &["scan", "-n", "payments", "-o", "json", "--debug"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        image(&run.json(), "/payments/ledger:3.1.0")["status"],
        "present"
    );
    let (user, password) = private().credentials();
    for secret in [password.clone(), base64_of(&format!("{user}:{password}"))] {
        assert!(!run.stdout.contains(&secret), "stdout leaks a credential");
        assert!(!run.stderr.contains(&secret), "stderr leaks a credential");
    }
    assert!(
        run.stderr.contains("pull secret payments/regcred"),
        "{}",
        run.stderr
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn an_unreachable_api_server_is_exit_3_and_no_kubeconfig_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let dead = tagwarden_testbed::dead_addr();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://{dead}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = tagwarden_stdin_in(
        &["scan", "-A", "--kubeconfig", kubeconfig.to_str().unwrap()],
        b"",
        home.path(),
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!("https://{dead}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = tagwarden_stdin_in(&["scan", "-A"], b"", home.path(), &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no cluster to scan"), "{}", run.stderr);
}

#[test]
fn without_a_namespace_the_contexts_namespace_is_scanned() {
    let api = api_server();
    // The test kubeconfig's context names no namespace: `default`, which runs nothing.
    let run = scan(&api, &["scan", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["images"], serde_json::json!([]));
    assert!(run.stderr.contains("namespace default"), "{}", run.stderr);
    assert!(
        api.requests()
            .iter()
            .any(|r| r.path == "/apis/apps/v1/namespaces/default/deployments"),
        "{:?}",
        api.requests()
    );
}

#[test]
fn kubectl_runs_it_as_a_plugin() {
    let api = api_server();
    let plugins = tempfile::tempdir().unwrap();
    let link = plugins.path().join("kubectl-tagwarden");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tagwarden"), &link).unwrap();
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let ca = private()
        .ca_cert_path()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let kubectl = |args: &[&str]| {
        let output = std::process::Command::new(&tagwarden_testbed::kubectl_binary().path)
            .args(args)
            .env("HOME", home.path())
            .env("PATH", &path)
            .env("KUBECONFIG", api.kubeconfig_path())
            .env_remove("TAGWARDEN_CONFIG")
            .env_remove("DOCKER_CONFIG")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}",
                    tagwarden_testbed::kubectl_binary().describe()
                )
            });
        (
            output.status.code().expect("kubectl exited"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    // kubectl finds the plugin on PATH…
    let (code, stdout, stderr) = kubectl(&["plugin", "list"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("kubectl-tagwarden"), "{stdout}{stderr}");

    // …and runs it with the arguments after its name, the kubeconfig in the environment.
    let (code, stdout, stderr) = kubectl(&[
        "tagwarden",
        "scan",
        "-n",
        "shop",
        "-o",
        "json",
        "--fail-on",
        "never",
        "--ca-file",
        &ca,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["images"].as_array().unwrap().len(), 2, "{report:#}");
    // A failing scan's exit code comes through kubectl.
    let (code, _, stderr) = kubectl(&["tagwarden", "scan", "-n", "shop", "--ca-file", &ca]);
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn check_cluster_is_scan_of_every_namespace() {
    let api = api_server();
    let scanned = scan(&api, &["scan", "-A", "-o", "json"]);
    let checked = scan(&api, &["check", "--cluster", "-o", "json"]);
    assert_eq!(checked.code, scanned.code, "{checked:?}");
    assert_eq!(checked.json()["images"], scanned.json()["images"]);
    assert_eq!(checked.json()["summary"], scanned.json()["summary"]);
}

#[test]
fn a_kubelet_credential_provider_opens_what_nodes_pull_through_it() {
    let api = api_server();
    let registry = private();
    let (user, password) = registry.credentials();
    let plugin = tagwarden_testbed::CredentialPlugin::builder("ecr-credential-provider")
        .auth(registry.addr(), &user, &password)
        .cache("Registry", Some("1h"))
        .expect_image_prefix(registry.addr())
        .start();
    let config = plugin.write_config(&[registry.addr()], "0");

    // Without the provider, nothing opens the CronJob's image (its namespace has no pull secret).
    let run = scan(
        &api,
        &[
            "scan",
            "-n",
            "reports",
            "-o",
            "json",
            "--fail-on",
            "missing",
        ],
    );
    assert_eq!(
        image(&run.json(), "/platform/exporter:1.4.0")["status"],
        "denied"
    );

    let run = scan(
        &api,
        &[
            "scan",
            "-n",
            "reports",
            "-o",
            "json",
            "--fail-on",
            "missing",
            "--image-credential-provider-config",
            config.to_str().unwrap(),
            "--image-credential-provider-bin-dir",
            plugin.bin_dir().to_str().unwrap(),
        ],
    );
    let report = run.json();
    let exporter = image(&report, "/platform/exporter:1.4.0");
    assert_eq!(exporter["status"], "present", "{exporter:#}");
    // The kubelet's protocol: one request, for the image, answered for the registry.
    let requests = plugin.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0]["image"],
        format!("{}/platform/exporter", registry.addr())
    );
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password));
}
