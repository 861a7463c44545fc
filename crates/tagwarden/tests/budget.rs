//! `--max-concurrency` is per registry host for the whole command, whatever the
//! credentials: `scan -A` over 50 Pods, each naming its own pull secret (50 users of one
//! htpasswd registry), never has more requests in flight at the registry than the flag
//! says. The registry sits behind the test bed's fault proxy, which counts them.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tagwarden_testbed::{ApiServer, FaultProxy, Registry, RegistryMode};

use crate::common::tagwarden_stdin_in;

const PODS: usize = 50;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Namespace `budget`, and Pod `app-N` naming Secret `regcred-N` (user `user-N`) for the
/// image `{registry}/app/ledger:vN`, for N in 0..PODS.
fn apply_pods(api: &ApiServer, registry: &str) {
    api.apply(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "budget"},
    }));
    for n in 0..PODS {
        let config = json!({"auths": {registry: {
            "username": format!("user-{n}"),
            "password": format!("password-{n}"),
        }}});
        api.apply(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": format!("regcred-{n}"), "namespace": "budget"},
            "data": {".dockerconfigjson": b64(&config.to_string())},
        }));
        api.apply(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("app-{n}"),
                "namespace": "budget",
                "uid": format!("7b2d0c1e-0000-4000-8000-{n:012}"),
            },
            "spec": {
                "containers": [{"name": "app", "image": format!("{registry}/app/ledger:v{n}")}],
                "imagePullSecrets": [{"name": format!("regcred-{n}")}],
            },
            "status": {"phase": "Running"},
        }));
    }
}

/// The user a recorded `Authorization: Basic …` value names.
fn basic_user(value: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.0.to_string())
}

#[test]
fn scan_with_fifty_pull_secrets_keeps_max_concurrency_per_registry() {
    let registry = Registry::builder()
        .mode(RegistryMode::Htpasswd)
        .extra_users((0..PODS).map(|n| (format!("user-{n}"), format!("password-{n}"))))
        .start();
    let tags: Vec<String> = (0..PODS).map(|n| format!("v{n}")).collect();
    registry.seeder().many_tags("app/ledger", &tags);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.record_authorization_values(true);
    // Slow answers, so that requests that may overlap do.
    proxy.set_latency(Duration::from_millis(30));
    let api = ApiServer::builder().empty().start();
    apply_pods(&api, &proxy.addr());

    let home = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig_path().to_str().unwrap().to_string();
    let run = tagwarden_stdin_in(
        &[
            "scan",
            "-A",
            "--max-concurrency",
            "2",
            "--no-cache",
            "-o",
            "json",
        ],
        b"",
        home.path(),
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = run.json();
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), PODS, "{report:#}");
    for image in images {
        assert_eq!(image["status"], "present", "{image:#}");
        let tag = image["image"]
            .as_str()
            .unwrap()
            .rsplit(":v")
            .next()
            .unwrap();
        assert_eq!(
            image["pull_secrets"],
            json!([format!("budget/regcred-{tag}")]),
            "{image:#}"
        );
    }
    let requests = proxy.requests();
    assert!(requests.len() >= PODS, "{}", requests.len());
    assert_eq!(
        proxy.max_in_flight(),
        2,
        "--max-concurrency 2 is the registry's budget, whatever the pull secrets"
    );
    let users: BTreeSet<String> = requests
        .iter()
        .filter_map(|r| r.authorization_value.as_deref().and_then(basic_user))
        .collect();
    let expected: BTreeSet<String> = (0..PODS).map(|n| format!("user-{n}")).collect();
    assert_eq!(
        users, expected,
        "each Pod's image asked with its own secret"
    );
}
