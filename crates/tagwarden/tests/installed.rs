//! The chart installed into the strict test API server, as `helm install` leaves it: the
//! release's Namespace, and the rendered ServiceAccount and RBAC applied. `tagwarden
//! serve` then runs as that ServiceAccount (its own token, nothing more), so every request
//! it makes is authorised by the test API server's RBAC from the chart's own objects,
//! never from a hand copy; a test fails on any 403 serve received.
//!
//! The tests here run serve as the Deployment runs it against the fixture cluster, and
//! the API server calls its webhook from the rendered `MutatingWebhookConfiguration`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tagwarden_testbed::ApiServer;

use crate::chart::Rendered;

/// The chart's ServiceAccount in a test API server
/// ([`tagwarden_testbed::helm::install_service_account`]).
pub(crate) struct Installed {
    /// A kubeconfig whose user is the chart's ServiceAccount (its token only).
    pub(crate) kubeconfig: PathBuf,
    /// `system:serviceaccount:NAMESPACE:NAME`.
    pub(crate) user: String,
    pub(crate) namespace: String,
    pub(crate) service_account: String,
}

/// Applies the release's Namespace and the rendered ServiceAccount and RBAC to `api`, and
/// writes a kubeconfig for the ServiceAccount into `dir`.
pub(crate) fn install(api: &ApiServer, rendered: &Rendered, dir: &Path) -> Installed {
    let objects: Vec<Value> = rendered.objects().cloned().collect();
    let login = tagwarden_testbed::helm::install_service_account(api, &objects, dir);
    Installed {
        kubeconfig: login.kubeconfig,
        user: login.user,
        namespace: login.namespace,
        service_account: login.name,
    }
}

impl Installed {
    /// Fails on any request of the ServiceAccount that RBAC refused.
    pub(crate) fn assert_never_forbidden(&self, api: &ApiServer, log: &str) {
        let denied: Vec<String> = api
            .denials()
            .into_iter()
            .filter(|denial| denial.user == self.user)
            .map(|denial| format!("{denial:?}"))
            .collect();
        assert!(
            denied.is_empty(),
            "{} was refused under the chart's RBAC:\n{}\n--- serve's log:\n{log}",
            self.user,
            denied.join("\n")
        );
    }

    /// What the chart grants that the ServiceAccount never used, printed for the reader
    /// of the test's output (`--nocapture`), and returned.
    pub(crate) fn report_unused_grants(&self, api: &ApiServer) -> Vec<String> {
        let unused = api.unused_grants(&self.namespace, &self.service_account);
        eprintln!(
            "granted by the chart to {} and never used in this test:\n  {}",
            self.user,
            unused.join("\n  ")
        );
        unused
    }
}

/// Waits up to `within` for `condition`.
fn wait_until(
    within: Duration,
    what: &str,
    log: impl Fn() -> String,
    condition: impl Fn() -> bool,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}, within {within:?}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kubectl create -f` of a Pod with one container `crds-hook` of `image`, as the
/// cluster's admin: (created, kubectl's stderr, how long it took).
pub(crate) fn kubectl_create_pod(
    api: &ApiServer,
    dir: &Path,
    namespace: &str,
    name: &str,
    image: &str,
) -> (bool, String, Duration) {
    let manifest = dir.join(format!("{namespace}-{name}.yaml"));
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: crds-hook\n    image: {image}\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let created = Command::new(&tagwarden_testbed::kubectl_binary().path)
        .args(["create", "-f", manifest.to_str().unwrap()])
        .arg(format!("--cache-dir={}", dir.join("kube-cache").display()))
        .arg("--request-timeout=60s")
        .env("HOME", dir)
        .env("KUBECONFIG", api.kubeconfig_path())
        .output()
        .unwrap_or_else(|e| panic!("these tests need kubectl on PATH: {e}"));
    (
        created.status.success(),
        String::from_utf8_lossy(&created.stderr).into_owned(),
        started.elapsed(),
    )
}

fn image_of(api: &ApiServer, namespace: &str, name: &str) -> Value {
    api.get("v1", "Pod", Some(namespace), name)
        .unwrap_or_else(|| panic!("the Pod {namespace}/{name} was not created"))["spec"]
        ["containers"][0]["image"]
        .clone()
}

/// The rendered configuration's webhooks, with the Service routed to `webhook_addr`.
fn apply_webhook_configuration(api: &ApiServer, rendered: &Rendered, webhook_addr: &str) -> u64 {
    let configuration = rendered.all("MutatingWebhookConfiguration");
    assert_eq!(configuration.len(), 1);
    let webhook = &configuration[0]["webhooks"][0];
    let service = &webhook["clientConfig"]["service"];
    api.route_service(
        service["namespace"].as_str().unwrap(),
        service["name"].as_str().unwrap(),
        service["port"].as_u64().unwrap_or(443) as u16,
        webhook_addr.parse().unwrap(),
    );
    api.apply(configuration[0].clone());
    webhook["timeoutSeconds"].as_u64().unwrap_or(10)
}

/// serve under the chart's RBAC does all its work (watches, checks, Events, the Lease,
/// the webhook's Event) without a single 403, on the fixture cluster.
#[test]
fn serve_does_its_work_under_the_charts_rbac_without_a_403() {
    let api = crate::scan::fixture_api_server();
    let rendered = crate::chart::render(
        &json!({"webhook": {"enabled": true}}),
        crate::chart::KUBE_VERSIONS[0],
    );
    let dir = tempfile::tempdir().unwrap();
    let webhook_addr = crate::chart::free_loopback_addr();
    let (serve, installed) =
        crate::chart::serve_as_the_chart_runs_it(&rendered, &api, dir.path(), &webhook_addr);
    apply_webhook_configuration(&api, &rendered, &webhook_addr);
    // Its work: the hook Job's missing image announced (an Event written), and a Pod
    // repaired at creation (the webhook's Event on it).
    wait_until(
        Duration::from_secs(60),
        "no ImageMissing Event",
        || serve.log(),
        || {
            api.list("v1", "Event")
                .iter()
                .any(|event| event["reason"] == "ImageMissing")
        },
    );
    let shop_opted_in = |ns: &mut Value| {
        ns["metadata"]["labels"]["tagwarden.io/mutate"] = json!("enabled");
    };
    api.modify("v1", "Namespace", None, "shop", shop_opted_in);
    wait_until(
        Duration::from_secs(30),
        "the webhook never listened",
        || serve.log(),
        || std::net::TcpStream::connect(&webhook_addr).is_ok(),
    );
    let public = crate::charts::shared().addr().to_string();
    let (created, stderr, _) = kubectl_create_pod(
        &api,
        dir.path(),
        "shop",
        "crds-hook",
        &format!("{public}/clastix/kubectl:v1.32"),
    );
    assert!(created, "{stderr}\n{}", serve.log());
    assert_eq!(
        image_of(&api, "shop", "crds-hook"),
        format!("{public}/clastix/kubectl:v1.31")
    );
    installed.assert_never_forbidden(&api, &serve.log());
    let allowed = api
        .authorizations()
        .into_iter()
        .filter(|decision| decision.user == installed.user && decision.allowed)
        .count();
    assert!(allowed > 10, "serve made {allowed} authorised requests");
    installed.report_unused_grants(&api);
}

/// The chart installed: a Pod created with kubectl in an opted-in namespace comes out
/// repaired; in another namespace it is untouched (the webhook is not even called); with
/// serve stopped, the Pod is created unchanged within the configuration's
/// `timeoutSeconds` (failurePolicy Ignore: fail open).
#[test]
fn the_rendered_webhook_repairs_opted_in_namespaces_only_and_fails_open() {
    let api = crate::scan::fixture_api_server();
    let rendered = crate::chart::render(
        &json!({"webhook": {"enabled": true}}),
        crate::chart::KUBE_VERSIONS[0],
    );
    let dir = tempfile::tempdir().unwrap();
    let webhook_addr = crate::chart::free_loopback_addr();
    let (mut serve, installed) =
        crate::chart::serve_as_the_chart_runs_it(&rendered, &api, dir.path(), &webhook_addr);
    let timeout = apply_webhook_configuration(&api, &rendered, &webhook_addr);
    api.modify("v1", "Namespace", None, "shop", |ns| {
        ns["metadata"]["labels"]["tagwarden.io/mutate"] = json!("enabled");
    });
    wait_until(
        Duration::from_secs(30),
        "the webhook never listened",
        || serve.log(),
        || std::net::TcpStream::connect(&webhook_addr).is_ok(),
    );
    let public = crate::charts::shared().addr().to_string();
    let missing = format!("{public}/clastix/kubectl:v1.32");

    let (created, stderr, _) = kubectl_create_pod(&api, dir.path(), "shop", "hook", &missing);
    assert!(created, "{stderr}\n{}", serve.log());
    assert!(
        stderr.contains("Warning:") && stderr.contains("v1.31"),
        "{stderr}"
    );
    assert_eq!(
        image_of(&api, "shop", "hook"),
        format!("{public}/clastix/kubectl:v1.31")
    );

    // payments has no opt-in label: the namespaceSelector keeps the webhook out.
    api.clear_webhook_calls();
    let (created, stderr, _) = kubectl_create_pod(&api, dir.path(), "payments", "hook", &missing);
    assert!(created, "{stderr}");
    assert_eq!(image_of(&api, "payments", "hook"), json!(missing));
    assert!(
        api.webhook_calls().is_empty(),
        "the webhook was called for payments: {:?}",
        api.webhook_calls()
    );
    installed.assert_never_forbidden(&api, &serve.log());

    // serve gone: failurePolicy Ignore admits the Pod unchanged, within timeoutSeconds.
    serve.stop();
    let (created, stderr, took) = kubectl_create_pod(&api, dir.path(), "shop", "hook-2", &missing);
    assert!(
        created,
        "failurePolicy Ignore must let the Pod in: {stderr}"
    );
    assert_eq!(image_of(&api, "shop", "hook-2"), json!(missing));
    assert!(
        took < Duration::from_secs(timeout),
        "the create took {took:?}, timeoutSeconds is {timeout}"
    );
    let calls = api.webhook_calls();
    assert!(
        calls.iter().any(|call| matches!(
            call.outcome,
            tagwarden_testbed::WebhookOutcome::FailedOpen(_)
        )),
        "the API server did call the stopped webhook and failed open: {calls:?}"
    );
}
