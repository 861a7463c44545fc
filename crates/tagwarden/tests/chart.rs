//! What `tagwarden serve` is deployed with, checked with the real tools:
//!
//! - the Helm chart `deploy/helm/tagwarden`, rendered and linted by Helm v4's own library
//!   (PyPI's `helm-python-sdk`, through python3) at two Kubernetes versions, with the
//!   default values and with every optional feature on, for clusters with and without the
//!   APIs of its custom resources (Prometheus Operator, cert-manager), and for releases of
//!   other names (the leader-election Lease follows the release); every object deserialized into
//!   k8s-openapi's types (and back, so a misspelled field fails), its security, RBAC,
//!   probes and image asserted, and `tagwarden check` run on the result;
//! - the admission webhook's objects: its configurations' safety and scope, the Deployment's
//!   environment read by the built `tagwarden serve`, and the certificate Helm generates
//!   verified against the caBundle with `openssl verify`; then `tagwarden serve` run with
//!   the Deployment's environment and Helm's certificate (against the test API server), and
//!   called over HTTPS as the API server would (curl: the Service's DNS name, only the
//!   caBundle trusted); and the chart installed into the test API server: its webhook
//!   configurations created with kubectl, the Service routed to that serve, and a Pod
//!   that kubectl creates rewritten by the API server's own webhook calls;
//! - the alerts (`files/alerts.yaml`, the PrometheusRule's `spec`) through `promtool check
//!   rules` and the unit tests of `deploy/prometheus/alerts_test.yaml` (`promtool test
//!   rules`), both as the file and as the chart renders it;
//! - the Grafana dashboard: JSON, and every query valid PromQL (`promtool check rules` on a
//!   recording rule per query) over metrics that tagwarden or kube-state-metrics export;
//! - the Dockerfile: its stages, user and entrypoint, and a final image that matches how
//!   the binary links (`ldd`). There is no container runtime here to build it.
//!
//! Nothing is skipped: a missing python3 module or promtool fails with the command that
//! installs it (`scripts/test.sh` installs both).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tagwarden_testbed::{ManifestKind, Platform};

use crate::charts;
use crate::common::{tagwarden, tagwarden_with};

/// The two Kubernetes versions every render is made at: the chart must not depend on it.
pub(crate) const KUBE_VERSIONS: [&str; 2] = ["v1.30.0", "v1.33.0"];

/// The namespace of the test release.
const NAMESPACE: &str = "monitoring";

/// The kinds the chart renders that have no namespace.
const CLUSTER_SCOPED: [&str; 4] = [
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// A digest in the right shape, for renders that are not checked against a registry.
const SOME_DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Every metric tagwarden exports (issue 10's table); histograms add their series.
const TAGWARDEN_METRICS: &[&str] = &[
    "tagwarden_images",
    "tagwarden_image_unavailable",
    "tagwarden_image_fallback_info",
    "tagwarden_image_tag_changes_total",
    "tagwarden_registry_requests_total",
    "tagwarden_registry_request_duration_seconds",
    "tagwarden_registry_rate_limit_remaining",
    "tagwarden_check_cycle_duration_seconds",
    "tagwarden_last_full_check_timestamp_seconds",
    "tagwarden_is_leader",
    "tagwarden_build_info",
    "tagwarden_webhook_decisions_total",
    "tagwarden_webhook_duration_seconds",
];

/// The kube-state-metrics series the alerts and the dashboard join.
const KUBE_STATE_METRICS: &[&str] = &[
    "kube_pod_container_status_waiting_reason",
    "kube_pod_init_container_status_waiting_reason",
    "kube_pod_container_info",
    "kube_pod_init_container_info",
    "kube_pod_owner",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn chart_dir() -> PathBuf {
    repo("deploy/helm/tagwarden")
}

// --- Rendering with Helm's library ----------------------------------------------------------

/// One render of the chart: its objects (template path, object) and the lint report.
pub(crate) struct Rendered {
    objects: Vec<(String, Value)>,
    notes: String,
    lint: Value,
}

impl Rendered {
    /// The objects of `kind`.
    pub(crate) fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .map(|(_, object)| object)
            .filter(|object| object["kind"] == kind)
            .collect()
    }

    /// The one object of `kind`, as k8s-openapi's type.
    pub(crate) fn one<K: DeserializeOwned + serde::Serialize>(&self, kind: &str) -> K {
        let all = self.all(kind);
        assert_eq!(all.len(), 1, "one {kind} expected: {all:#?}");
        typed(all[0])
    }

    /// Every object, in template order.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().map(|(_, object)| object)
    }

    fn kinds(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .map(|(_, object)| object["kind"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The custom resources' APIs the chart may render objects of.
const CUSTOM_APIS: [&str; 4] = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "cert-manager.io/v1/Certificate",
    "cert-manager.io/v1/Issuer",
];

/// What a render is told about where it goes: the release's name and the APIs the
/// cluster serves besides the built-in ones (`helm template NAME --api-versions …`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub release: &'a str,
    pub api_versions: &'a [&'a str],
}

/// The release `tagwarden`, in a cluster with the Prometheus Operator and cert-manager.
pub(crate) const WITH_OPERATORS: Target<'static> = Target {
    release: "tagwarden",
    api_versions: &CUSTOM_APIS,
};

/// Renders the chart with `values` at `kube_version` for [`WITH_OPERATORS`]; `Err` is
/// Helm's message.
fn try_render(values: &Value, kube_version: &str) -> Result<Rendered, String> {
    try_render_for(values, kube_version, WITH_OPERATORS)
}

/// Renders (and lints, as `helm lint --strict`) the chart with `values` at `kube_version`
/// for `target`, in the namespace `monitoring`, with Helm v4's own library
/// ([`tagwarden_testbed::helm`]); `Err` is Helm's message.
fn try_render_for(values: &Value, kube_version: &str, target: Target) -> Result<Rendered, String> {
    let release = tagwarden_testbed::helm::Release {
        name: target.release,
        namespace: NAMESPACE,
        kube_version,
        api_versions: target.api_versions,
        lint: true,
    };
    let chart = tagwarden_testbed::helm::render(&chart_dir(), values, &release)?;
    let notes = chart
        .templates
        .iter()
        .find(|(template, _)| template.ends_with("NOTES.txt"))
        .map(|(_, text)| text.clone())
        .unwrap_or_default();
    Ok(Rendered {
        objects: chart.templates_objects(),
        notes,
        lint: chart.lint,
    })
}

pub(crate) fn render(values: &Value, kube_version: &str) -> Rendered {
    try_render(values, kube_version).unwrap_or_else(|e| panic!("render failed: {e}"))
}

pub(crate) fn render_for(values: &Value, kube_version: &str, target: Target) -> Rendered {
    try_render_for(values, kube_version, target).unwrap_or_else(|e| panic!("render failed: {e}"))
}

/// Every optional feature on. The webhook's certificate comes from cert-manager here, so
/// that the render is deterministic; [`self_signed_webhook`] renders Helm's own.
pub(crate) fn full_values() -> Value {
    json!({
        "image": {"digest": SOME_DIGEST},
        "rbac": {"readPullSecrets": true},
        "webhook": {
            "enabled": true,
            "budgetMs": 1500,
            "pin": true,
            "skipNamespaces": ["ci", "kube-system"],
            "certManager": {"enabled": true},
            "validate": {"enabled": true},
        },
        "serviceMonitor": {
            "enabled": true,
            "labels": {"release": "kube-prometheus-stack"},
            "relabelings": [{"targetLabel": "cluster", "replacement": "prod-eu-1"}],
        },
        "prometheusRule": {"enabled": true, "labels": {"release": "kube-prometheus-stack"}},
        "registryCredentials": {"secretName": "tagwarden-registry"},
        "logFilter": "info,tagwarden=debug",
        "config": {
            "cache": {"ttl": 0},
            "policy": {"max_skew": 1},
            "serve": {
                "skip_namespaces": ["kube-system"],
                "present_interval": 3600,
                "budgets": {"docker.io": {"requests": 300, "window": 3600}},
            },
        },
        "podAntiAffinity": "hard",
    })
}

/// The four renders most tests look at: default and full values, at both versions.
fn renders() -> &'static Vec<(&'static str, &'static str, Rendered)> {
    static RENDERS: OnceLock<Vec<(&str, &str, Rendered)>> = OnceLock::new();
    RENDERS.get_or_init(|| {
        let mut renders = Vec::new();
        for kube_version in KUBE_VERSIONS {
            renders.push(("default", kube_version, render(&json!({}), kube_version)));
            renders.push(("full", kube_version, render(&full_values(), kube_version)));
        }
        renders
    })
}

/// `object` as k8s-openapi's `K`, which must serialize back to the same JSON: a field
/// that the API does not have (a typo, a wrong level) fails here, not in a cluster.
fn typed<K: DeserializeOwned + serde::Serialize>(object: &Value) -> K {
    let typed: K = serde_json::from_value(object.clone()).unwrap_or_else(|e| {
        panic!(
            "not a valid {}: {e}\n{object:#}",
            std::any::type_name::<K>()
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        back,
        object.clone(),
        "{} does not round-trip: a field it does not know, or a wrong type",
        std::any::type_name::<K>()
    );
    typed
}

fn pod_spec(rendered: &Rendered) -> PodSpec {
    let deployment: Deployment = rendered.one("Deployment");
    deployment.spec.unwrap().template.spec.unwrap()
}

fn container(rendered: &Rendered) -> Container {
    let mut containers = pod_spec(rendered).containers;
    assert_eq!(containers.len(), 1);
    containers.remove(0)
}

fn env(container: &Container, name: &str) -> Option<k8s_openapi::api::core::v1::EnvVar> {
    container
        .env
        .iter()
        .flatten()
        .find(|var| var.name == name)
        .cloned()
}

fn chart_yaml() -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
        .unwrap()
}

// --- The chart -----------------------------------------------------------------------------

#[test]
fn the_chart_renders_the_same_objects_at_every_kubernetes_version() {
    let renders = renders();
    for values in ["default", "full"] {
        let [first, second]: [&Rendered; 2] = renders
            .iter()
            .filter(|(name, _, _)| *name == values)
            .map(|(_, _, rendered)| rendered)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_else(|_| panic!("two renders of {values}"));
        assert_eq!(
            first.objects, second.objects,
            "{values} values: the objects depend on the Kubernetes version"
        );
    }
    let default = &renders[0].2;
    let expected: BTreeSet<String> = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    .map(String::from)
    .into();
    assert_eq!(default.kinds(), expected);
    let full = &renders[1].2;
    let mut with_everything = expected.clone();
    with_everything.extend(
        [
            "PrometheusRule",
            "ServiceMonitor",
            "Certificate",
            "Issuer",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ]
        .map(String::from),
    );
    assert_eq!(full.kinds(), with_everything);
}

#[test]
fn helm_lint_strict_finds_nothing() {
    // Helm lints with `fail` turned into a log line (and only the built-in APIs): the
    // custom resources' guards are tested by rendering, below.
    for (values, kube_version, rendered) in renders() {
        let lint = &rendered.lint;
        assert_eq!(
            lint["errors"],
            json!([]),
            "{values} at {kube_version}: {lint:#}"
        );
        // Severity 1 is information ("icon is recommended"); 2 and 3 are warnings, errors.
        let serious: Vec<&Value> = lint["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|message| message["severity"].as_u64().unwrap() >= 2)
            .collect();
        assert!(
            serious.is_empty(),
            "{values} at {kube_version}: {serious:#?}"
        );
    }
}

/// [`full_values`] without the objects of custom resources (ServiceMonitor,
/// PrometheusRule, cert-manager's): what a cluster without their CRDs can take.
fn full_values_without_custom_resources() -> Value {
    let mut values = full_values();
    values["serviceMonitor"]["enabled"] = json!(false);
    values["prometheusRule"]["enabled"] = json!(false);
    values["webhook"]["certManager"]["enabled"] = json!(false);
    values
}

/// Helm's error for `values`; panics when they render.
fn render_error(values: &Value) -> String {
    match try_render(values, KUBE_VERSIONS[0]) {
        Ok(_) => panic!("rendered with {values}"),
        Err(error) => error,
    }
}

#[test]
fn values_schema_refuses_what_the_templates_cannot_use() {
    for (values, expected) in [
        (json!({"podAntiAffinity": "sometimes"}), "/podAntiAffinity"),
        (
            json!({"prometheusrule": {"enabled": true}}),
            "'prometheusrule' not allowed",
        ),
        (json!({"replicaCount": "2"}), "/replicaCount"),
        (json!({"image": {"digest": "0123"}}), "/image/digest"),
        (
            json!({"image": {"digest": "sha256:0123"}}),
            "does not match pattern",
        ),
        (json!({"server": {"port": 0}}), "/server/port"),
        (
            json!({"webhook": {"enabled": true, "timeoutSeconds": 31}}),
            "/webhook/timeoutSeconds",
        ),
        (
            json!({"webhook": {"validate": {"failurePolicy": "Sometimes"}}}),
            "/webhook/validate/failurePolicy",
        ),
        (
            json!({"webhook": {"certManager": {"issuerRef": {"kind": "ClusterIssuer"}}}}),
            "/webhook/certManager/issuerRef",
        ),
        (
            json!({"webhook": {"enabled": true, "budgetMs": 5000, "timeoutSeconds": 5}}),
            "webhook.budgetMs (5000) must be below webhook.timeoutSeconds",
        ),
        (
            json!({"webhook": {"enabled": true, "port": 8080}}),
            "webhook.port must differ from server.port",
        ),
    ] {
        let error = render_error(&values);
        assert!(error.contains(expected), "{values}: {error}");
    }
}

#[test]
fn every_object_is_a_kubernetes_object_of_its_kind() {
    for (values, kube_version, rendered) in renders() {
        for (template, object) in &rendered.objects {
            let kind = object["kind"].as_str().unwrap();
            let where_ = format!("{values} at {kube_version}: {template}");
            match kind {
                "Deployment" => drop(typed::<Deployment>(object)),
                "Service" => drop(typed::<Service>(object)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(object)),
                "ConfigMap" => drop(typed::<ConfigMap>(object)),
                "ClusterRole" => drop(typed::<ClusterRole>(object)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(object)),
                "Role" => drop(typed::<Role>(object)),
                "RoleBinding" => drop(typed::<RoleBinding>(object)),
                "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(object)),
                "Secret" => drop(typed::<Secret>(object)),
                "MutatingWebhookConfiguration" => {
                    drop(typed::<MutatingWebhookConfiguration>(object))
                }
                "ValidatingWebhookConfiguration" => {
                    drop(typed::<ValidatingWebhookConfiguration>(object))
                }
                "ServiceMonitor" | "PrometheusRule" => {
                    assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1", "{where_}")
                }
                "Certificate" | "Issuer" => {
                    assert_eq!(object["apiVersion"], "cert-manager.io/v1", "{where_}")
                }
                other => panic!("{where_}: unexpected kind {other}"),
            }
            // Every namespaced object is in the release's namespace.
            if !CLUSTER_SCOPED.contains(&kind) {
                assert_eq!(object["metadata"]["namespace"], NAMESPACE, "{where_}");
            }
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/instance"], "tagwarden",
                "{where_}"
            );
        }
    }
}

#[test]
fn the_pods_run_unprivileged_on_a_read_only_root() {
    for (values, kube_version, rendered) in renders() {
        let where_ = format!("{values} at {kube_version}");
        let deployment: Deployment = rendered.one("Deployment");
        assert_eq!(
            deployment.spec.as_ref().unwrap().replicas,
            Some(2),
            "{where_}"
        );
        let pod = pod_spec(rendered);
        let pod_security = pod.security_context.clone().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true), "{where_}");
        assert_eq!(pod_security.run_as_user, Some(65532), "{where_}");
        assert_eq!(
            pod_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault",
            "{where_}"
        );
        let container = container(rendered);
        let security = container.security_context.clone().unwrap();
        assert_eq!(security.run_as_non_root, Some(true), "{where_}");
        assert_eq!(security.run_as_user, Some(65532), "{where_}");
        assert_eq!(security.read_only_root_filesystem, Some(true), "{where_}");
        assert_eq!(security.allow_privilege_escalation, Some(false), "{where_}");
        assert_eq!(security.privileged, None, "{where_}");
        let capabilities = security.capabilities.unwrap();
        assert_eq!(capabilities.drop, Some(vec!["ALL".to_string()]), "{where_}");
        assert_eq!(capabilities.add, None, "{where_}");
        assert_eq!(
            security.seccomp_profile.unwrap().type_,
            "RuntimeDefault",
            "{where_}"
        );
        assert_eq!(pod.host_network, None, "{where_}");
        assert_eq!(pod.host_pid, None, "{where_}");

        // Requests and limits for CPU and memory.
        let resources = container.resources.clone().unwrap();
        for (what, quantities) in [
            ("requests", resources.requests),
            ("limits", resources.limits),
        ] {
            let quantities = quantities.unwrap_or_default();
            assert!(
                quantities.contains_key("cpu") && quantities.contains_key("memory"),
                "{where_}: {what} {quantities:?}"
            );
        }

        // Writable: the cache's and /tmp's emptyDirs only; the config read-only.
        let volumes: BTreeMap<String, _> = pod
            .volumes
            .clone()
            .unwrap()
            .into_iter()
            .map(|volume| (volume.name.clone(), volume))
            .collect();
        for mount in container.volume_mounts.clone().unwrap() {
            let volume = &volumes[&mount.name];
            if mount.read_only != Some(true) {
                assert!(
                    volume.empty_dir.is_some(),
                    "{where_}: {} is writable and not an emptyDir",
                    mount.mount_path
                );
            }
        }
        let config_mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|mount| mount.name == "config")
            .expect("the config is mounted");
        assert_eq!(config_mount.read_only, Some(true), "{where_}");
        assert!(volumes["config"].config_map.is_some(), "{where_}");
        let cache = env(&container, "XDG_CACHE_HOME").unwrap().value.unwrap();
        let cache_mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|mount| mount.mount_path == cache)
            .unwrap_or_else(|| panic!("{where_}: XDG_CACHE_HOME {cache} is not a mount"));
        assert!(volumes[&cache_mount.name].empty_dir.is_some(), "{where_}");
        assert_eq!(
            env(&container, "TAGWARDEN_CONFIG").unwrap().value.unwrap(),
            format!("{}/config.yaml", config_mount.mount_path),
            "{where_}"
        );
    }
}

#[test]
fn probes_ports_and_the_downward_api_match_what_serve_expects() {
    for (values, kube_version, rendered) in renders() {
        let where_ = format!("{values} at {kube_version}");
        let container = container(rendered);
        assert_eq!(container.args, Some(vec!["serve".to_string()]), "{where_}");
        let port = &container.ports.clone().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.container_port),
            (Some("http"), 8080),
            "{where_}"
        );
        assert_eq!(
            env(&container, "TAGWARDEN_LISTEN")
                .unwrap()
                .value
                .as_deref(),
            Some("0.0.0.0:8080"),
            "{where_}"
        );
        for (probe, path) in [
            (container.liveness_probe.clone(), "/healthz"),
            (container.readiness_probe.clone(), "/readyz"),
        ] {
            let get = probe.unwrap().http_get.unwrap();
            assert_eq!(get.path.as_deref(), Some(path), "{where_}");
            assert_eq!(
                get.port,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()),
                "{where_}"
            );
        }
        for (name, field) in [
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace"),
        ] {
            let var = env(&container, name).unwrap_or_else(|| panic!("{where_}: no {name}"));
            let field_ref = var.value_from.unwrap().field_ref.unwrap();
            assert_eq!(field_ref.field_path, field, "{where_}");
        }
        let service: Service = rendered.one("Service");
        let service_port = &service.spec.unwrap().ports.unwrap()[0];
        assert_eq!(service_port.name.as_deref(), Some("http"), "{where_}");
        assert_eq!(service_port.port, 8080, "{where_}");
    }

    // The optional features reach the Pod.
    let full = &renders()[1].2;
    let container = container(full);
    assert_eq!(
        env(&container, "DOCKER_CONFIG").unwrap().value.as_deref(),
        Some("/etc/tagwarden/docker")
    );
    assert_eq!(
        env(&container, "TAGWARDEN_LOG").unwrap().value.as_deref(),
        Some("info,tagwarden=debug")
    );
    let monitor = full.all("ServiceMonitor")[0];
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["relabelings"],
        json!([{"targetLabel": "cluster", "replacement": "prod-eu-1"}])
    );
    let default = &renders()[0].2;
    assert_eq!(env(&self::container(default), "DOCKER_CONFIG"), None);
    // An IPv6 listen address is bracketed.
    let ipv6 = render(&json!({"server": {"host": "::"}}), KUBE_VERSIONS[0]);
    assert_eq!(
        env(&self::container(&ipv6), "TAGWARDEN_LISTEN")
            .unwrap()
            .value
            .as_deref(),
        Some("[::]:8080")
    );
}

/// Every rule of every ClusterRole and Role the chart renders, with its kind.
fn rules(rendered: &Rendered) -> Vec<(String, PolicyRule)> {
    let mut all = Vec::new();
    for object in rendered.all("ClusterRole") {
        let role: ClusterRole = typed(object);
        all.extend(
            role.rules
                .unwrap()
                .into_iter()
                .map(|rule| ("ClusterRole".to_string(), rule)),
        );
    }
    for object in rendered.all("Role") {
        let role: Role = typed(object);
        all.extend(
            role.rules
                .unwrap()
                .into_iter()
                .map(|rule| ("Role".to_string(), rule)),
        );
    }
    all
}

/// `(kind, api group, resource)` → verbs.
fn grants(rendered: &Rendered) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let mut grants: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for (kind, rule) in rules(rendered) {
        for group in rule.api_groups.clone().unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                grants
                    .entry((kind.clone(), group.clone(), resource))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    grants
}

fn verbs(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|verb| verb.to_string()).collect()
}

#[test]
fn rbac_grants_what_serve_needs_and_nothing_more() {
    // Watched, never read one by one (installed::serve_does_its_work… lists what is unused).
    let read = verbs(&["list", "watch"]);
    let mut expected: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut grant = |kind: &str, group: &str, resources: &[&str], verbs: &BTreeSet<String>| {
        for resource in resources {
            expected.insert(
                (kind.to_string(), group.to_string(), resource.to_string()),
                verbs.clone(),
            );
        }
    };
    grant(
        "ClusterRole",
        "",
        &["pods", "nodes", "serviceaccounts", "replicationcontrollers"],
        &read,
    );
    grant(
        "ClusterRole",
        "apps",
        &["deployments", "statefulsets", "daemonsets", "replicasets"],
        &read,
    );
    grant("ClusterRole", "batch", &["jobs", "cronjobs"], &read);
    grant(
        "ClusterRole",
        "events.k8s.io",
        &["events"],
        &verbs(&["create", "patch"]),
    );
    grant(
        "Role",
        "coordination.k8s.io",
        &["leases"],
        &verbs(&["create", "get", "update", "patch"]),
    );
    // What the leader announced, for the next leader (instead of listing Events).
    grant(
        "Role",
        "",
        &["configmaps"],
        &verbs(&["create", "get", "update"]),
    );

    let default = &renders()[0].2;
    assert_eq!(grants(default), expected, "default values");
    let mut with_secrets = expected.clone();
    with_secrets.insert(
        ("ClusterRole".into(), "".into(), "secrets".into()),
        verbs(&["get"]),
    );
    let full = &renders()[1].2;
    assert_eq!(grants(full), with_secrets, "rbac.readPullSecrets=true");

    for (_, _, rendered) in renders() {
        for (kind, rule) in rules(rendered) {
            let everything =
                |list: &Option<Vec<String>>| list.iter().flatten().any(|item| item.contains('*'));
            assert!(
                !rule.verbs.iter().any(|verb| verb.contains('*'))
                    && !everything(&rule.resources)
                    && !everything(&rule.api_groups)
                    && !everything(&rule.resource_names),
                "{kind}: a wildcard in {rule:?}"
            );
            assert_eq!(rule.non_resource_urls, None, "{kind}: {rule:?}");
            // Only `create` cannot be limited to the Lease `tagwarden` and the ConfigMap
            // `tagwarden-announced` next to it.
            if kind == "Role" && rule.verbs != ["create"] {
                let name = match rule.resources.as_deref() {
                    Some([configmaps]) if configmaps == "configmaps" => "tagwarden-announced",
                    _ => "tagwarden",
                };
                assert_eq!(
                    rule.resource_names,
                    Some(vec![name.to_string()]),
                    "{rule:?}"
                );
            }
        }
        // The Role is bound in the release's namespace, the bindings to the ServiceAccount.
        let account: ServiceAccount = rendered.one("ServiceAccount");
        let account_name = account.metadata.name.unwrap();
        let pod = pod_spec(rendered);
        assert_eq!(pod.service_account_name.as_deref(), Some(&*account_name));
        let binding: RoleBinding = rendered.one("RoleBinding");
        let cluster_binding: ClusterRoleBinding = rendered.one("ClusterRoleBinding");
        for subjects in [binding.subjects, cluster_binding.subjects] {
            let subject = &subjects.unwrap()[0];
            assert_eq!(
                (
                    subject.kind.as_str(),
                    subject.name.as_str(),
                    subject.namespace.as_deref()
                ),
                ("ServiceAccount", &*account_name, Some(NAMESPACE))
            );
        }
    }
}

#[test]
fn the_image_is_pinned_by_digest_and_never_follows_the_cluster_version() {
    let version = chart_yaml()["appVersion"].as_str().unwrap().to_string();
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml's appVersion is tagwarden's version"
    );
    for (values, kube_version, rendered) in renders() {
        let image = container(rendered).image.unwrap();
        let expected = match *values {
            "full" => format!("ghcr.io/tagwarden/tagwarden:{version}@{SOME_DIGEST}"),
            _ => format!("ghcr.io/tagwarden/tagwarden:{version}"),
        };
        assert_eq!(image, expected, "{values} at {kube_version}");
    }
    // No template looks at the cluster's version for anything.
    for entry in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("Capabilities.KubeVersion"),
            "{} reads the cluster version",
            path.display()
        );
    }
    let custom = render(
        &json!({"image": {"repository": "mirror.corp/tools/tagwarden", "tag": "0.0.9", "digest": SOME_DIGEST}}),
        KUBE_VERSIONS[1],
    );
    assert_eq!(
        container(&custom).image.unwrap(),
        format!("mirror.corp/tools/tagwarden:0.0.9@{SOME_DIGEST}")
    );
}

#[test]
fn notes_say_how_to_find_the_leader_and_the_events() {
    let default = &renders()[0].2;
    assert!(
        default
            .notes
            .contains("kubectl -n monitoring get lease tagwarden"),
        "{}",
        default.notes
    );
    assert!(
        default.notes.contains("image.digest is not set"),
        "{}",
        default.notes
    );
    assert!(
        default.notes.contains("rbac.readPullSecrets=false"),
        "{}",
        default.notes
    );
    let full = &renders()[1].2;
    assert!(
        !full.notes.contains("image.digest is not set"),
        "{}",
        full.notes
    );
    assert!(
        full.notes.contains("A PrometheusRule holds"),
        "{}",
        full.notes
    );
}

/// The value paths of `values`, down to the leaves; `whole` mappings count as one value.
fn value_paths(values: &Value, prefix: &str, whole: &[&str], paths: &mut Vec<String>) {
    for (key, value) in values.as_object().unwrap() {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value.as_object() {
            Some(map) if !map.is_empty() && !whole.contains(&path.as_str()) => {
                value_paths(value, &path, whole, paths)
            }
            _ => paths.push(path),
        }
    }
}

#[test]
fn the_docs_cover_every_value_alert_and_metric() {
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap();
    let whole = [
        "webhook.namespaceSelector",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "podSecurityContext",
        "securityContext",
    ];
    let mut paths = Vec::new();
    value_paths(&values, "", &whole, &mut paths);
    assert!(paths.len() > 40, "{paths:?}");
    for path in &paths {
        assert!(
            readme.contains(&format!("| `{path}` |")),
            "the chart's README has no row for {path}"
        );
    }
    let operator = std::fs::read_to_string(repo("docs/operator.md")).unwrap();
    for alert in [
        "TagwardenImageUnavailable",
        "TagwardenRegistryRateLimited",
        "TagwardenImageTagChanged",
        "TagwardenImagePullFailing",
    ] {
        assert!(operator.contains(alert), "docs/operator.md lacks {alert}");
        assert!(readme.contains(alert), "the chart's README lacks {alert}");
    }
    for metric in TAGWARDEN_METRICS {
        assert!(
            operator.contains(&format!("| `{metric}` |")),
            "docs/operator.md's metrics table lacks {metric}"
        );
    }
}

#[test]
fn the_operators_guide_config_example_is_valid_for_tagwarden() {
    let guide = std::fs::read_to_string(repo("docs/operator.md")).unwrap();
    let example = guide
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .map(|block| {
            // The block is indented inside a list item.
            block
                .lines()
                .map(|line| line.strip_prefix("  ").unwrap_or(line))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .find(|block| block.starts_with("config:"))
        .expect("a `config:` example in docs/operator.md");
    let values: Value = serde_saphyr::from_str(&example).unwrap();
    assert!(!values["config"]["serve"].is_null(), "{example}");
    // Through the chart, as an operator would install it, to tagwarden.
    let rendered = render(&values, KUBE_VERSIONS[0]);
    let config_map: ConfigMap = rendered.one("ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, &config_map.data.unwrap()["config.yaml"]).unwrap();
    let shared = charts::shared();
    let image = format!("{}/library/busybox:1.36", shared.addr());
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(
        &manifest,
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {image}\n"),
    )
    .unwrap();
    let run = tagwarden(&[
        "check",
        "--kube-version",
        "1.32",
        "--config",
        config.to_str().unwrap(),
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// The image the chart runs, pushed into the shared test registry once: its digest.
pub(crate) fn seeded_tagwarden_image() -> (&'static str, &'static str) {
    static SEEDED: OnceLock<(String, String)> = OnceLock::new();
    let (repository, digest) = SEEDED.get_or_init(|| {
        let shared = charts::shared();
        let digest = shared.registry.seeder().push_image(
            "tagwarden/tagwarden",
            env!("CARGO_PKG_VERSION"),
            ManifestKind::Oci,
            &[Platform::linux_amd64()],
        );
        (format!("{}/tagwarden/tagwarden", shared.addr()), digest)
    });
    (repository, digest)
}

#[test]
fn tagwarden_check_passes_on_the_rendered_chart_with_its_config() {
    let (repository, digest) = seeded_tagwarden_image();
    let mut values = full_values();
    values["image"] = json!({"repository": repository, "digest": digest});
    // Both certificate paths: cert-manager's objects, or the Secret Helm makes.
    let mut self_signed = values.clone();
    self_signed["webhook"]["certManager"]["enabled"] = json!(false);
    for (values, kube_version) in [
        (&values, KUBE_VERSIONS[0]),
        (&values, KUBE_VERSIONS[1]),
        (&self_signed, KUBE_VERSIONS[0]),
    ] {
        let rendered = render(values, kube_version);
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("tagwarden.yaml");
        let stream: String = rendered
            .objects
            .iter()
            .map(|(_, object)| format!("---\n{}\n", object))
            .collect();
        std::fs::write(&manifests, stream).unwrap();
        // tagwarden reads the config file the chart mounts: it is valid for tagwarden.
        let config_map: ConfigMap = rendered.one("ConfigMap");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, &config_map.data.unwrap()["config.yaml"]).unwrap();
        let minor = kube_version
            .trim_start_matches('v')
            .rsplit_once('.')
            .unwrap()
            .0;
        let run = tagwarden(&[
            "check",
            "--kube-version",
            minor,
            "--config",
            config.to_str().unwrap(),
            "-o",
            "json",
            manifests.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{run:?}");
        let report = run.json();
        let images = report["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{report:#}");
        assert_eq!(
            images[0]["image"],
            format!("{repository}:{}@{digest}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(images[0]["status"], "present", "{report:#}");
        assert_eq!(images[0]["locations"][0]["kind"], "Deployment");
    }
    // The same check fails when the pinned digest is not the published one.
    let mut values = full_values();
    values["image"] = json!({"repository": repository, "digest": SOME_DIGEST});
    let rendered = render(&values, KUBE_VERSIONS[0]);
    let deployment = rendered.all("Deployment")[0].to_string();
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("tagwarden.yaml");
    std::fs::write(&manifests, deployment).unwrap();
    let run = tagwarden(&[
        "check",
        "--kube-version",
        "1.30",
        manifests.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
}

// --- The admission webhook --------------------------------------------------------------------

/// The webhook on, with the certificate Helm makes (no cert-manager): a fresh CA per render.
fn self_signed_webhook() -> Rendered {
    render(&json!({"webhook": {"enabled": true}}), KUBE_VERSIONS[0])
}

/// The one webhook of the configuration, with the fields both kinds share.
fn mutating_webhook(
    rendered: &Rendered,
) -> k8s_openapi::api::admissionregistration::v1::MutatingWebhook {
    let configuration: MutatingWebhookConfiguration = rendered.one("MutatingWebhookConfiguration");
    let mut webhooks = configuration.webhooks.unwrap();
    assert_eq!(webhooks.len(), 1, "{webhooks:#?}");
    webhooks.remove(0)
}

/// Pods on CREATE, and nothing else.
fn assert_pod_creates_only(rules: &[RuleWithOperations], where_: &str) {
    assert_eq!(rules.len(), 1, "{where_}: {rules:#?}");
    let rule = &rules[0];
    assert_eq!(
        rule.operations,
        Some(vec!["CREATE".to_string()]),
        "{where_}"
    );
    assert_eq!(rule.api_groups, Some(vec![String::new()]), "{where_}");
    assert_eq!(rule.api_versions, Some(vec!["v1".to_string()]), "{where_}");
    assert_eq!(rule.resources, Some(vec!["pods".to_string()]), "{where_}");
    assert_eq!(rule.scope.as_deref(), Some("Namespaced"), "{where_}");
}

/// The opt-in label, and never kube-system, the release's namespace or `skipped`.
fn assert_namespace_scope(selector: &LabelSelector, skipped: &[&str], where_: &str) {
    assert_eq!(
        selector.match_labels,
        Some(BTreeMap::from([(
            "tagwarden.io/mutate".to_string(),
            "enabled".to_string()
        )])),
        "{where_}"
    );
    let expressions = selector.match_expressions.clone().unwrap();
    let not_in = expressions
        .iter()
        .find(|expression| {
            expression.key == "kubernetes.io/metadata.name" && expression.operator == "NotIn"
        })
        .unwrap_or_else(|| panic!("{where_}: no NotIn on the namespace's name: {expressions:#?}"));
    let mut expected = vec!["kube-system".to_string(), NAMESPACE.to_string()];
    expected.extend(skipped.iter().map(|name| name.to_string()));
    assert_eq!(not_in.values, Some(expected), "{where_}");
}

#[test]
fn the_webhook_configuration_never_blocks_pods_and_stays_in_its_namespaces() {
    for (values, kube_version, rendered) in renders().iter().filter(|(name, _, _)| *name == "full")
    {
        let where_ = format!("{values} at {kube_version}");
        let webhook = mutating_webhook(rendered);
        assert_eq!(webhook.name, "pods.tagwarden.io", "{where_}");
        assert_eq!(
            webhook.failure_policy.as_deref(),
            Some("Ignore"),
            "{where_}"
        );
        assert_eq!(webhook.side_effects, "NoneOnDryRun", "{where_}");
        assert_eq!(
            webhook.reinvocation_policy.as_deref(),
            Some("IfNeeded"),
            "{where_}"
        );
        assert_eq!(webhook.timeout_seconds, Some(5), "{where_}");
        assert_eq!(
            webhook.admission_review_versions,
            vec!["v1".to_string()],
            "{where_}"
        );
        assert_pod_creates_only(webhook.rules.as_deref().unwrap(), &where_);
        // skipNamespaces ["ci", "kube-system"]: kube-system only once.
        assert_namespace_scope(
            webhook.namespace_selector.as_ref().unwrap(),
            &["ci"],
            &where_,
        );
        let service = webhook.client_config.service.clone().unwrap();
        assert_eq!(
            (
                service.name.as_str(),
                service.namespace.as_str(),
                service.path.as_deref(),
                service.port
            ),
            ("tagwarden", NAMESPACE, Some("/mutate"), Some(443)),
            "{where_}"
        );
        // cert-manager's CA injector fills the caBundle (from the CA: see
        // `cert_manager_issues_the_webhook_certificate_from_a_ca_of_the_release`).
        assert_eq!(webhook.client_config.ca_bundle, None, "{where_}");
        let certificate = named(rendered, "Certificate", "tagwarden-webhook");
        let dns_names = certificate["spec"]["dnsNames"].as_array().unwrap();
        assert!(
            dns_names.contains(&json!("tagwarden.monitoring.svc")),
            "{where_}: {dns_names:?}"
        );

        // /validate: the operator's failurePolicy, the same scope.
        let validating: ValidatingWebhookConfiguration =
            rendered.one("ValidatingWebhookConfiguration");
        let validate = &validating.webhooks.unwrap()[0];
        assert_eq!(validate.failure_policy.as_deref(), Some("Fail"), "{where_}");
        assert_eq!(validate.side_effects, "NoneOnDryRun", "{where_}");
        assert_pod_creates_only(validate.rules.as_deref().unwrap(), &where_);
        assert_namespace_scope(
            validate.namespace_selector.as_ref().unwrap(),
            &["ci"],
            &where_,
        );
        let service = validate.client_config.service.clone().unwrap();
        assert_eq!(service.path.as_deref(), Some("/validate"), "{where_}");

        // The Pods serve it: port `webhook`, the Certificate's Secret mounted read-only, and
        // the Service's 443 in front.
        let container = container(rendered);
        let ports = container.ports.clone().unwrap();
        let port = ports
            .iter()
            .find(|port| port.name.as_deref() == Some("webhook"));
        assert_eq!(
            port.map(|port| port.container_port),
            Some(8443),
            "{where_}: {ports:?}"
        );
        assert_eq!(
            env(&container, "TAGWARDEN_WEBHOOK_LISTEN")
                .unwrap()
                .value
                .as_deref(),
            Some("0.0.0.0:8443"),
            "{where_}"
        );
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|mount| mount.name == "webhook-tls")
            .unwrap_or_else(|| panic!("{where_}: the TLS Secret is not mounted"));
        assert_eq!(mount.read_only, Some(true), "{where_}");
        assert_eq!(
            mount.sub_path, None,
            "{where_}: a subPath is never updated on rotation"
        );
        for (name, file) in [
            ("TAGWARDEN_WEBHOOK_TLS_CERT", "tls.crt"),
            ("TAGWARDEN_WEBHOOK_TLS_KEY", "tls.key"),
        ] {
            assert_eq!(
                env(&container, name).unwrap().value.unwrap(),
                format!("{}/{file}", mount.mount_path),
                "{where_}"
            );
        }
        let volume = pod_spec(rendered)
            .volumes
            .unwrap()
            .into_iter()
            .find(|volume| volume.name == "webhook-tls")
            .unwrap();
        assert_eq!(
            volume
                .secret
                .unwrap()
                .secret_name
                .as_ref()
                .map(|name| json!(name)),
            Some(certificate["spec"]["secretName"].clone()),
            "{where_}"
        );
        for (name, value) in [
            ("TAGWARDEN_WEBHOOK_BUDGET_MS", "1500"),
            ("TAGWARDEN_WEBHOOK_VALIDATE", "true"),
            ("TAGWARDEN_WEBHOOK_PIN", "true"),
            ("TAGWARDEN_WEBHOOK_SKIP_NAMESPACES", "ci,kube-system"),
            ("TAGWARDEN_READ_PULL_SECRETS", "true"),
        ] {
            assert_eq!(
                env(&container, name).and_then(|var| var.value).as_deref(),
                Some(value),
                "{where_}: {name}"
            );
        }
        let service: Service = rendered.one("Service");
        let ports = service.spec.unwrap().ports.unwrap();
        let webhook_port = ports
            .iter()
            .find(|port| port.name.as_deref() == Some("webhook"));
        assert_eq!(
            webhook_port.map(|port| (port.port, port.target_port.clone())),
            Some((
                443,
                Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                        "webhook".into()
                    )
                )
            )),
            "{where_}: {ports:?}"
        );
        // The PodDisruptionBudget keeps one replica serving it during drains.
        let budget: PodDisruptionBudget = rendered.one("PodDisruptionBudget");
        assert_eq!(
            budget.spec.unwrap().max_unavailable,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)),
            "{where_}"
        );
    }
}

/// The one object of `kind` named `name`.
fn named<'a>(rendered: &'a Rendered, kind: &str, name: &str) -> &'a Value {
    let all: Vec<&Value> = rendered
        .all(kind)
        .into_iter()
        .filter(|object| object["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        all.len(),
        1,
        "one {kind} {name} expected: {:#?}",
        rendered.all(kind)
    );
    all[0]
}

/// The Issuer a Certificate's `issuerRef` names (only namespaced Issuers of the chart).
fn issuer_of<'a>(rendered: &'a Rendered, certificate: &Value) -> &'a Value {
    let reference = &certificate["spec"]["issuerRef"];
    assert_eq!(reference["kind"], "Issuer", "{certificate:#}");
    named(rendered, "Issuer", reference["name"].as_str().unwrap())
}

/// cert-manager's duration (`87600h`, `2160h0m0s`) in hours.
fn hours(duration: &Value) -> u64 {
    let text = duration.as_str().unwrap_or_else(|| panic!("{duration}"));
    let (hours, _) = text.split_once('h').unwrap_or_else(|| panic!("{text}"));
    hours.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn cert_manager_issues_the_webhook_certificate_from_a_ca_of_the_release() {
    for (values, kube_version, rendered) in renders().iter().filter(|(name, _, _)| *name == "full")
    {
        let where_ = format!("{values} at {kube_version}");
        // The chain: self-signed Issuer -> CA Certificate -> CA Issuer -> the webhook's.
        let leaf = named(rendered, "Certificate", "tagwarden-webhook");
        let ca_issuer = issuer_of(rendered, leaf);
        let ca_secret = &ca_issuer["spec"]["ca"]["secretName"];
        assert!(
            ca_secret.is_string(),
            "{where_}: not a CA Issuer: {ca_issuer:#}"
        );
        let ca: Vec<&Value> = rendered
            .all("Certificate")
            .into_iter()
            .filter(|c| c["spec"]["secretName"] == *ca_secret)
            .collect();
        assert_eq!(
            ca.len(),
            1,
            "{where_}: the CA Issuer's Secret comes from no Certificate"
        );
        let ca = ca[0];
        assert_eq!(ca["spec"]["isCA"], true, "{where_}: {ca:#}");
        assert_eq!(
            issuer_of(rendered, ca)["spec"],
            json!({"selfSigned": {}}),
            "{where_}"
        );
        // The CA outlives many renewals of the leaf, and keeps its key when renewed: the
        // trust root's key never moves.
        assert!(
            hours(&ca["spec"]["duration"]) >= 5 * 365 * 24,
            "{where_}: {ca:#}"
        );
        assert_eq!(
            ca["spec"]["privateKey"]["rotationPolicy"], "Never",
            "{where_}"
        );
        assert!(
            hours(&leaf["spec"]["duration"]) * 10 <= hours(&ca["spec"]["duration"]),
            "{where_}: {leaf:#}"
        );
        assert_ne!(leaf["spec"]["isCA"], true, "{where_}");
        assert_eq!(
            leaf["spec"]["secretName"], "tagwarden-webhook-tls",
            "{where_}"
        );
        // Nothing self-signed serves TLS: the only self-signed certificate is the CA.
        for certificate in rendered.all("Certificate") {
            if issuer_of(rendered, certificate)["spec"]
                .get("selfSigned")
                .is_some()
            {
                assert_eq!(
                    certificate["spec"]["isCA"], true,
                    "{where_}: {certificate:#}"
                );
            }
        }
        // The caBundle is the CA: injected from the CA Certificate, so a renewal of the
        // leaf (a new key each time) never changes what the API server trusts.
        let injection = format!("{NAMESPACE}/{}", ca["metadata"]["name"].as_str().unwrap());
        for kind in [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ] {
            let object = rendered.all(kind)[0];
            assert_eq!(
                object["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], injection,
                "{where_}: {kind}"
            );
            assert_eq!(object["webhooks"][0]["clientConfig"].get("caBundle"), None);
        }
    }

    // An issuer of the operator's: only the webhook's Certificate, and the caBundle from
    // its Secret's ca.crt (that issuer's CA).
    let mut values = full_values();
    values["webhook"]["certManager"]["issuerRef"] =
        json!({"kind": "ClusterIssuer", "name": "corp-ca"});
    let rendered = render(&values, KUBE_VERSIONS[0]);
    assert_eq!(rendered.all("Issuer").len(), 0);
    let leaf: &Value = named(&rendered, "Certificate", "tagwarden-webhook");
    assert_eq!(rendered.all("Certificate").len(), 1);
    assert_eq!(
        leaf["spec"]["issuerRef"],
        json!({"kind": "ClusterIssuer", "name": "corp-ca"})
    );
    let webhook = rendered.all("MutatingWebhookConfiguration")[0];
    assert_eq!(
        webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!("{NAMESPACE}/tagwarden-webhook")
    );
}

#[test]
fn custom_resources_render_only_where_the_cluster_serves_them() {
    let kube_version = KUBE_VERSIONS[1];
    let bare = Target {
        release: "tagwarden",
        api_versions: &[],
    };
    let webhook_with_cert_manager =
        json!({"webhook": {"enabled": true, "certManager": {"enabled": true}}});
    // Enabled without the API: an error naming the value, the API and the way out.
    for (values, value, api) in [
        (
            json!({"serviceMonitor": {"enabled": true}}),
            "serviceMonitor.enabled",
            "monitoring.coreos.com/v1/ServiceMonitor",
        ),
        (
            json!({"prometheusRule": {"enabled": true}}),
            "prometheusRule.enabled",
            "monitoring.coreos.com/v1/PrometheusRule",
        ),
        (
            webhook_with_cert_manager.clone(),
            "webhook.certManager.enabled",
            "cert-manager.io/v1/Certificate",
        ),
    ] {
        let error = match try_render_for(&values, kube_version, bare) {
            Ok(rendered) => panic!("{values}: rendered {:?}", rendered.kinds()),
            Err(error) => error,
        };
        assert!(
            error.contains(&format!(
                "{value}=true needs the API {api}, which the cluster does not serve"
            )) && error.contains(&format!("or set {value}=false"))
                && error.contains(&format!("--api-versions {api}")),
            "{values}: {error}"
        );
    }
    // The chart's own CA needs Issuers as well; an operator's ClusterIssuer does not.
    let certificates_only = Target {
        release: "tagwarden",
        api_versions: &["cert-manager.io/v1/Certificate"],
    };
    let error = try_render_for(&webhook_with_cert_manager, kube_version, certificates_only)
        .err()
        .expect("rendered without Issuers");
    assert!(
        error.contains("needs the API cert-manager.io/v1/Issuer"),
        "{error}"
    );
    let mut with_cluster_issuer = webhook_with_cert_manager.clone();
    with_cluster_issuer["webhook"]["certManager"]["issuerRef"] =
        json!({"kind": "ClusterIssuer", "name": "corp-ca"});
    let rendered = render_for(&with_cluster_issuer, kube_version, certificates_only);
    assert_eq!(rendered.all("Certificate").len(), 1);

    // Not enabled: nothing of them, and nothing asked of the cluster.
    let rendered = render_for(&full_values_without_custom_resources(), kube_version, bare);
    for kind in ["ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"] {
        assert!(rendered.all(kind).is_empty(), "{kind}");
    }
    // Served and enabled: each of them (the full render).
    let full = &renders()[1].2;
    for kind in ["ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"] {
        assert!(!full.all(kind).is_empty(), "{kind}");
    }
}

#[test]
fn the_lease_is_named_after_the_release() {
    let mut names = BTreeSet::new();
    for (release, lease) in [
        ("tagwarden", "tagwarden"),
        ("prod", "prod-tagwarden"),
        ("staging", "staging-tagwarden"),
    ] {
        let target = Target {
            release,
            api_versions: &[],
        };
        let rendered = render_for(&json!({}), KUBE_VERSIONS[0], target);
        let container = container(&rendered);
        assert_eq!(
            env(&container, "TAGWARDEN_LEASE_NAME")
                .and_then(|var| var.value)
                .as_deref(),
            Some(lease),
            "{release}"
        );
        // The Role lets it use that Lease and the ConfigMap of what was announced next to
        // it (`<lease>-announced`), and no other.
        let role: Role = rendered.one("Role");
        let named_rules: Vec<(Vec<String>, Vec<String>)> = role
            .rules
            .unwrap()
            .into_iter()
            .filter_map(|rule| Some((rule.resources?, rule.resource_names?)))
            .collect();
        assert_eq!(
            named_rules,
            [
                (vec!["leases".to_string()], vec![lease.to_string()]),
                (
                    vec!["configmaps".to_string()],
                    vec![format!("{lease}-announced")]
                ),
            ],
            "{release}"
        );
        assert!(
            rendered
                .notes
                .contains(&format!("kubectl -n monitoring get lease {lease} ")),
            "{release}: {}",
            rendered.notes
        );
        names.insert(lease);
    }
    assert_eq!(names.len(), 3, "two releases share a Lease: {names:?}");
}

#[test]
fn without_the_webhook_nothing_of_it_is_rendered() {
    for (values, kube_version, rendered) in
        renders().iter().filter(|(name, _, _)| *name == "default")
    {
        let where_ = format!("{values} at {kube_version}");
        for kind in [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
            "Certificate",
            "Issuer",
            "Secret",
        ] {
            assert!(rendered.all(kind).is_empty(), "{where_}: a {kind}");
        }
        let container = container(rendered);
        let names: Vec<String> = container
            .env
            .iter()
            .flatten()
            .map(|var| var.name.clone())
            .collect();
        assert!(
            !names
                .iter()
                .any(|name| name.starts_with("TAGWARDEN_WEBHOOK")
                    || name == "TAGWARDEN_READ_PULL_SECRETS"),
            "{where_}: {names:?}"
        );
        assert_eq!(container.ports.unwrap().len(), 1, "{where_}");
        assert_eq!(
            container
                .volume_mounts
                .unwrap()
                .iter()
                .filter(|mount| mount.name == "webhook-tls")
                .count(),
            0
        );
        let service: Service = rendered.one("Service");
        assert_eq!(service.spec.unwrap().ports.unwrap().len(), 1, "{where_}");
    }
    // /validate only when asked for.
    let rendered = self_signed_webhook();
    assert!(rendered.all("ValidatingWebhookConfiguration").is_empty());
    assert_eq!(
        env(&container(&rendered), "TAGWARDEN_WEBHOOK_VALIDATE"),
        None
    );
    assert_eq!(
        env(&container(&rendered), "TAGWARDEN_READ_PULL_SECRETS"),
        None
    );
}

/// The PEM text of base64 `data`.
fn pem(data: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {data}"));
    String::from_utf8(bytes).unwrap()
}

/// Runs openssl; its success and its stdout and stderr.
fn openssl(args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn helm_makes_a_certificate_that_the_ca_bundle_verifies() {
    let rendered = self_signed_webhook();
    let lint = &rendered.lint;
    assert_eq!(lint["errors"], json!([]), "{lint:#}");
    let secret: Secret = rendered.one("Secret");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let secret_name = secret.metadata.name.clone().unwrap();
    let raw = rendered.all("Secret")[0];
    let data = |key: &str| {
        raw["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}"))
            .to_string()
    };
    let webhook = mutating_webhook(&rendered);
    assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
    assert_namespace_scope(
        webhook.namespace_selector.as_ref().unwrap(),
        &[],
        "self-signed",
    );
    // No cert-manager: no injection, the generated CA is the caBundle.
    assert!(rendered.all("Certificate").is_empty() && rendered.all("Issuer").is_empty());
    assert!(raw["metadata"]["annotations"].is_null());
    let ca_bundle = webhook.client_config.ca_bundle.clone().expect("a caBundle");
    let ca_pem = String::from_utf8(ca_bundle.0).unwrap();
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{ca_pem}"
    );
    assert_eq!(
        ca_pem,
        pem(&data("ca.crt")),
        "the caBundle is the Secret's ca.crt"
    );
    let volume = pod_spec(&rendered)
        .volumes
        .unwrap()
        .into_iter()
        .find(|volume| volume.name == "webhook-tls")
        .unwrap();
    assert_eq!(volume.secret.unwrap().secret_name, Some(secret_name));

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let ca = write("ca.pem", &ca_pem);
    let cert = write("tls.crt", &pem(&data("tls.crt")));
    let key = write("tls.key", &pem(&data("tls.key")));
    // The API server trusts the caBundle for the name it calls: the Service's DNS name.
    let (verified, output) = openssl(&[
        "verify",
        "-CAfile",
        &ca,
        "-verify_hostname",
        "tagwarden.monitoring.svc",
        "-purpose",
        "sslserver",
        &cert,
    ]);
    assert!(verified, "{output}");
    let (ok, sans) = openssl(&["x509", "-in", &cert, "-noout", "-ext", "subjectAltName"]);
    assert!(ok, "{sans}");
    for name in [
        "tagwarden",
        "tagwarden.monitoring",
        "tagwarden.monitoring.svc",
        "tagwarden.monitoring.svc.cluster.local",
    ] {
        assert!(sans.contains(&format!("DNS:{name}")), "{name}: {sans}");
    }
    // The key is the certificate's.
    let (ok, cert_key) = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]);
    assert!(ok, "{cert_key}");
    let (ok, private_key) = openssl(&["pkey", "-in", &key, "-pubout"]);
    assert!(ok, "{private_key}");
    assert_eq!(cert_key, private_key, "tls.key is not tls.crt's key");
    // Another render makes another CA, which does not verify this certificate: the check
    // above can fail.
    let other = self_signed_webhook();
    let other_ca =
        String::from_utf8(mutating_webhook(&other).client_config.ca_bundle.unwrap().0).unwrap();
    assert_ne!(other_ca, ca_pem);
    let other_ca = write("other-ca.pem", &other_ca);
    let (verified, output) = openssl(&["verify", "-CAfile", &other_ca, &cert]);
    assert!(!verified, "a foreign CA verified the certificate: {output}");
}

/// The Deployment's environment, with the downward API's fields given test values.
fn deployment_env(rendered: &Rendered) -> Vec<(String, String)> {
    container(rendered)
        .env
        .unwrap()
        .into_iter()
        .map(|var| {
            let value = match (var.value, var.value_from) {
                (Some(value), None) => value,
                // What the kubelet fills in: the Pod's name and the release's namespace.
                (None, Some(from)) => match from.field_ref.unwrap().field_path.as_str() {
                    "metadata.name" => "tagwarden-7d9f8-abcde".to_string(),
                    "metadata.namespace" => NAMESPACE.to_string(),
                    other => panic!("{}: a field the test cannot fill: {other}", var.name),
                },
                other => panic!("{}: {other:?}", var.name),
            };
            (var.name, value)
        })
        .collect()
}

#[test]
fn serve_accepts_the_environment_the_deployment_sets() {
    let help = tagwarden(&["serve", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    // Read by other parts than serve's flags: the cache's folder, the docker config, logs.
    let not_flags = ["XDG_CACHE_HOME", "DOCKER_CONFIG", "TAGWARDEN_LOG"];
    let renders = [
        ("full", render(&full_values(), KUBE_VERSIONS[0])),
        ("self-signed", self_signed_webhook()),
    ];
    for (values, rendered) in &renders {
        let env = deployment_env(rendered);
        assert!(env.len() > 5, "{values}: {env:?}");
        for (name, _) in &env {
            if !not_flags.contains(&name.as_str()) {
                assert!(
                    help.stdout.contains(&format!("[env: {name}=")),
                    "{values}: serve has no flag for {name}"
                );
            }
        }
        // And serve parses them: it gets as far as the (missing) cluster.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        let config_map: ConfigMap = rendered.one("ConfigMap");
        std::fs::write(&config, &config_map.data.unwrap()["config.yaml"]).unwrap();
        let mut envs: Vec<(&str, String)> = env
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        for (name, value) in envs.iter_mut() {
            match *name {
                "TAGWARDEN_CONFIG" => *value = config.to_str().unwrap().to_string(),
                "XDG_CACHE_HOME" | "DOCKER_CONFIG" => {
                    *value = dir.path().to_str().unwrap().to_string()
                }
                _ => {}
            }
        }
        let envs: Vec<(&str, &str)> = envs
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let run = tagwarden_with(&["serve", "--kubeconfig", "/nonexistent/kubeconfig"], &envs);
        assert_eq!(run.code, 2, "{values}: {run:?}");
        assert!(
            run.stderr.contains("/nonexistent/kubeconfig") && !run.stderr.contains("Usage:"),
            "{values}: serve refused the Deployment's environment: {run:?}"
        );
    }
    // The same check sees an environment serve refuses (the webhook without its address).
    let run = tagwarden_with(
        &["serve", "--kubeconfig", "/nonexistent/kubeconfig"],
        &[("TAGWARDEN_WEBHOOK_VALIDATE", "true")],
    );
    assert!(run.code == 2 && run.stderr.contains("Usage:"), "{run:?}");
}

/// A free loopback address (bound, then released for the child to bind).
pub(crate) fn free_loopback_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").to_string()
}

/// `tagwarden serve`, killed on drop.
pub(crate) struct RunningServe {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for RunningServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RunningServe {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process (its webhook goes with it).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` to `https://tagwarden.monitoring.svc:PORT/PATH` as the API server would:
/// the Service's DNS name (resolved to the loopback), only the caBundle `ca` trusted.
fn call_as_the_api_server(
    ca: &Path,
    webhook_addr: &str,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let port = webhook_addr.rsplit_once(':').unwrap().1;
    let host = format!("tagwarden.{NAMESPACE}.svc");
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "10",
            "--cacert",
        ])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(format!("https://{host}:{port}{path}?timeout=5s"))
        .output()
        .expect("curl (apt-get install curl)");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("not JSON ({e})"))
}

/// An AdmissionReview v1 of a Pod CREATE in `shop`, with an image on a loopback port that
/// nothing serves: undetermined, so admitted unchanged.
fn admission_review(uid: &str) -> Value {
    let gvk = json!({"group": "", "version": "v1", "kind": "Pod"});
    let gvr = json!({"group": "", "version": "v1", "resource": "pods"});
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": "web-0",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-0", "namespace": "shop"},
                "spec": {"containers": [{"name": "web", "image": "127.0.0.1:9/shop/web:1.0"}]}
            },
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// `tagwarden serve` as the chart's Deployment runs it: its environment (paths moved into
/// `dir`), Helm's certificate from the rendered Secret, the rendered ConfigMap, against
/// `api`; the webhook listens on `webhook_addr`.
pub(crate) fn serve_as_the_chart_runs_it(
    rendered: &Rendered,
    api: &tagwarden_testbed::ApiServer,
    dir: &Path,
    webhook_addr: &str,
) -> (RunningServe, crate::installed::Installed) {
    // As installed: the chart's RBAC in the API server, serve with its ServiceAccount.
    let installed = crate::installed::install(api, rendered, dir);
    // The Secret's files, where the Deployment's environment says they are (by name).
    let raw = rendered.all("Secret")[0];
    let tls_dir = dir.join("webhook-tls");
    std::fs::create_dir(&tls_dir).unwrap();
    for key in ["ca.crt", "tls.crt", "tls.key"] {
        std::fs::write(tls_dir.join(key), pem(raw["data"][key].as_str().unwrap())).unwrap();
    }
    let config_map: ConfigMap = rendered.one("ConfigMap");
    let config = dir.join("config.yaml");
    std::fs::write(&config, &config_map.data.unwrap()["config.yaml"]).unwrap();
    let cache = dir.join("cache");
    let listen = free_loopback_addr();
    let mut envs: Vec<(String, String)> = Vec::new();
    for (name, value) in deployment_env(rendered) {
        let value = match name.as_str() {
            "POD_NAME" => "tagwarden-test".to_string(),
            "POD_NAMESPACE" => NAMESPACE.to_string(),
            "TAGWARDEN_CONFIG" => config.to_str().unwrap().to_string(),
            "XDG_CACHE_HOME" => cache.to_str().unwrap().to_string(),
            "TAGWARDEN_LISTEN" => listen.clone(),
            "TAGWARDEN_WEBHOOK_LISTEN" => {
                assert_eq!(value, "0.0.0.0:8443");
                webhook_addr.to_string()
            }
            "TAGWARDEN_WEBHOOK_TLS_CERT" | "TAGWARDEN_WEBHOOK_TLS_KEY" => {
                let file = Path::new(&value).file_name().unwrap();
                tls_dir.join(file).to_str().unwrap().to_string()
            }
            _ => value,
        };
        envs.push((name, value));
    }
    envs.push((
        "KUBECONFIG".into(),
        installed.kubeconfig.to_str().unwrap().into(),
    ));
    let envs: Vec<(&str, &str)> = envs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    let log = dir.join("serve.log");
    let serve = RunningServe {
        child: crate::common::clean_command(&["serve"], &home, &envs)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tagwarden serve"),
        log,
    };
    (serve, installed)
}

#[test]
fn serve_runs_the_webhook_with_the_charts_environment_and_helms_certificate() {
    let rendered = render(
        &json!({"webhook": {"enabled": true, "validate": {"enabled": true}}}),
        KUBE_VERSIONS[0],
    );
    let dir = tempfile::tempdir().unwrap();
    let webhook_addr = free_loopback_addr();
    let api = tagwarden_testbed::ApiServer::builder().empty().start();
    let (serve, installed) = serve_as_the_chart_runs_it(&rendered, &api, dir.path(), &webhook_addr);

    // The API server's call, trusting only the caBundle of the rendered configuration.
    let webhook = mutating_webhook(&rendered);
    let ca = dir.path().join("ca-bundle.pem");
    std::fs::write(&ca, webhook.client_config.ca_bundle.unwrap().0).unwrap();
    let review = admission_review("0b6c7e1a-5f2e-4d8e-9c1a-1f2e3d4c5b6a");
    let mut answer = Err(String::new());
    for _ in 0..150 {
        answer = call_as_the_api_server(&ca, &webhook_addr, "/mutate", &review);
        if answer.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let answer =
        answer.unwrap_or_else(|e| panic!("the webhook never answered: {e}\n{}", serve.log()));
    assert_eq!(answer["kind"], "AdmissionReview", "{answer:#}");
    assert_eq!(
        answer["response"]["uid"], review["request"]["uid"],
        "{answer:#}"
    );
    assert_eq!(answer["response"]["allowed"], true, "{answer:#}");
    assert!(
        answer["response"]["patch"].is_null(),
        "undetermined is never changed: {answer:#}"
    );
    // TAGWARDEN_WEBHOOK_VALIDATE: /validate is served too, and never denies the undetermined.
    let validated = call_as_the_api_server(&ca, &webhook_addr, "/validate", &review)
        .unwrap_or_else(|e| panic!("/validate: {e}\n{}", serve.log()));
    assert_eq!(validated["response"]["allowed"], true, "{validated:#}");
    // A caBundle of another render does not trust this server: the check above can fail.
    let other = self_signed_webhook();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(
        &other_ca,
        mutating_webhook(&other).client_config.ca_bundle.unwrap().0,
    )
    .unwrap();
    let refused = call_as_the_api_server(&other_ca, &webhook_addr, "/mutate", &review);
    assert!(
        refused.is_err(),
        "a foreign caBundle was trusted: {refused:?}"
    );
    installed.assert_never_forbidden(&api, &serve.log());
}

/// `kubectl ARGS` against `api` (private HOME and cache): stdout and stderr, or a panic
/// with both.
fn kubectl(api: &tagwarden_testbed::ApiServer, home: &Path, args: &[&str]) -> (String, String) {
    let output = Command::new(&tagwarden_testbed::kubectl_binary().path)
        .args(args)
        .arg(format!("--cache-dir={}", home.join("cache").display()))
        .arg("--request-timeout=30s")
        .env("HOME", home)
        .env("KUBECONFIG", api.kubeconfig_path())
        .output()
        .unwrap_or_else(|e| panic!("these tests need kubectl on PATH: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "kubectl {args:?}: {stderr}{stdout}"
    );
    (stdout, stderr)
}

/// The chart installed into the test API server: its rendered webhook configurations
/// created with kubectl, the Service routed to `tagwarden serve` running as the Deployment
/// runs it with Helm's certificate. A Pod that kubectl creates in an opted-in namespace
/// comes out with the nearest published tag, the API server having called /mutate and
/// /validate as kube-apiserver does (service name, caBundle, timeout, failurePolicy).
#[test]
fn the_installed_charts_webhooks_rewrite_a_pod_created_with_kubectl() {
    let rendered = render(
        &json!({"webhook": {"enabled": true, "validate": {"enabled": true}}}),
        KUBE_VERSIONS[0],
    );
    let dir = tempfile::tempdir().unwrap();
    let webhook_addr = free_loopback_addr();
    let api = tagwarden_testbed::ApiServer::builder().empty().start();
    let service = mutating_webhook(&rendered).client_config.service.unwrap();
    assert_eq!(
        (service.namespace.as_str(), service.port),
        (NAMESPACE, Some(443))
    );
    api.route_service(NAMESPACE, &service.name, 443, webhook_addr.parse().unwrap());
    let (serve, installed) = serve_as_the_chart_runs_it(&rendered, &api, dir.path(), &webhook_addr);

    let home = dir.path().join("kubectl");
    std::fs::create_dir(&home).unwrap();
    let configurations: Vec<Value> = [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]
    .iter()
    .flat_map(|kind| rendered.all(kind))
    .cloned()
    .collect();
    assert_eq!(configurations.len(), 2);
    // One file of both objects (kubectl reads a stream of JSON objects).
    let file = dir.path().join("webhooks.json");
    let stream: Vec<String> = configurations.iter().map(Value::to_string).collect();
    std::fs::write(&file, stream.join("\n")).unwrap();
    let (created, _) = kubectl(&api, &home, &["create", "-f", file.to_str().unwrap()]);
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        [
            "mutatingwebhookconfiguration.admissionregistration.k8s.io/tagwarden created",
            "validatingwebhookconfiguration.admissionregistration.k8s.io/tagwarden created",
        ]
    );
    // (`kubectl create namespace` sends protobuf, which the test API server does not read.)
    let namespace = dir.path().join("namespace.json");
    let shop = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    std::fs::write(&namespace, shop.to_string()).unwrap();
    kubectl(&api, &home, &["create", "-f", namespace.to_str().unwrap()]);
    kubectl(
        &api,
        &home,
        &["label", "namespace", "shop", "tagwarden.io/mutate=enabled"],
    );

    // Wait for the webhook to listen: the configuration says Ignore, so a Pod created
    // before would pass unchanged and prove nothing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(&webhook_addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never listened on {webhook_addr}: {}",
            serve.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let public = crate::charts::shared().addr().to_string();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: capsule-crds-manual\n  namespace: shop\nspec:\n  restartPolicy: Never\n  containers:\n  - name: crds-hook\n    image: {public}/clastix/kubectl:v1.32\n"
        ),
    )
    .unwrap();
    let (created, warnings) = kubectl(&api, &home, &["create", "-f", pod.to_str().unwrap()]);
    assert_eq!(created.trim(), "pod/capsule-crds-manual created");
    assert!(
        warnings.contains("Warning:") && warnings.contains("v1.31"),
        "{warnings}"
    );
    let stored = api
        .get("v1", "Pod", Some("shop"), "capsule-crds-manual")
        .expect("the Pod was created");
    assert_eq!(
        stored["spec"]["containers"][0]["image"],
        format!("{public}/clastix/kubectl:v1.31"),
        "{}",
        serve.log()
    );
    let calls: Vec<_> = api
        .webhook_calls()
        .into_iter()
        .map(|c| (c.webhook, c.mutating, c.outcome))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "pods.tagwarden.io".to_string(),
                true,
                tagwarden_testbed::WebhookOutcome::Patched
            ),
            (
                "pods.tagwarden.io".to_string(),
                false,
                tagwarden_testbed::WebhookOutcome::Unchanged
            ),
        ]
    );
    installed.assert_never_forbidden(&api, &serve.log());
}

#[test]
fn notes_say_how_to_opt_a_namespace_in() {
    let full = &renders()[1].2;
    for expected in [
        "kubectl label namespace NAMESPACE tagwarden.io/mutate=enabled",
        "cert-manager",
        "/validate is registered too (failurePolicy Fail)",
    ] {
        assert!(full.notes.contains(expected), "{expected}: {}", full.notes);
    }
    let self_signed = self_signed_webhook();
    assert!(
        self_signed
            .notes
            .contains("Secret monitoring/tagwarden-webhook-tls"),
        "{}",
        self_signed.notes
    );
    let default = &renders()[0].2;
    assert!(
        !default.notes.contains("tagwarden.io/mutate"),
        "{}",
        default.notes
    );
}

// --- Alerts -----------------------------------------------------------------------------------

/// Runs promtool; panics with the install command when it is missing.
fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool ({e}): run scripts/test.sh (or apt-get install -y prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_alerts_pass_promtool_and_their_unit_tests() {
    let rules = repo("deploy/helm/tagwarden/files/alerts.yaml");
    let (ok, output) = promtool(&["check", "rules", rules.to_str().unwrap()], &repo(""));
    assert!(ok, "{output}");
    assert!(output.contains("SUCCESS: 4 rules found"), "{output}");
    let tests = repo("deploy/prometheus/alerts_test.yaml");
    let (ok, output) = promtool(&["test", "rules", tests.to_str().unwrap()], &repo(""));
    assert!(ok, "{output}");
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn every_alert_is_unit_tested_with_its_annotations() {
    let rules: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/helm/tagwarden/files/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let tests: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/prometheus/alerts_test.yaml")).unwrap(),
    )
    .unwrap();
    let alerts: BTreeSet<String> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["alert"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        alerts,
        [
            "TagwardenImagePullFailing",
            "TagwardenImageTagChanged",
            "TagwardenImageUnavailable",
            "TagwardenRegistryRateLimited"
        ]
        .map(String::from)
        .into()
    );
    for alert in &alerts {
        let cases: Vec<&Value> = tests["tests"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|test| test["alert_rule_test"].as_array().unwrap())
            .filter(|case| case["alertname"] == alert.as_str())
            .collect();
        let fires = cases
            .iter()
            .filter(|case| !case["exp_alerts"].as_array().unwrap().is_empty());
        let annotated = fires.clone().any(|case| {
            case["exp_alerts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|expected| {
                    let annotations = &expected["exp_annotations"];
                    !annotations["summary"].is_null() && !annotations["description"].is_null()
                })
        });
        assert!(fires.count() > 0, "{alert}: never tested firing");
        assert!(annotated, "{alert}: annotations never tested");
        assert!(
            cases
                .iter()
                .any(|case| case["exp_alerts"].as_array().unwrap().is_empty()),
            "{alert}: never tested not firing"
        );
    }
    // Only metrics that exist.
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        assert_known_metrics(
            rule["expr"].as_str().unwrap(),
            rule["alert"].as_str().unwrap(),
        );
    }
}

#[test]
fn the_prometheus_rule_is_the_alerts_file_and_passes_the_same_tests() {
    let full = &renders()[1].2;
    let rule = full.all("PrometheusRule")[0];
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let file: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/helm/tagwarden/files/alerts.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        rule["spec"], file,
        "the PrometheusRule's spec is files/alerts.yaml"
    );
    // And as Prometheus loads it from the cluster: the rendered spec, with the unit tests.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rendered.yaml"), rule["spec"].to_string()).unwrap();
    let tests = std::fs::read_to_string(repo("deploy/prometheus/alerts_test.yaml"))
        .unwrap()
        .replace("../helm/tagwarden/files/alerts.yaml", "rendered.yaml");
    assert!(tests.contains("rendered.yaml"));
    std::fs::write(dir.path().join("alerts_test.yaml"), tests).unwrap();
    let (ok, output) = promtool(&["check", "rules", "rendered.yaml"], dir.path());
    assert!(ok, "{output}");
    let (ok, output) = promtool(&["test", "rules", "alerts_test.yaml"], dir.path());
    assert!(ok && output.contains("SUCCESS"), "{output}");
}

/// Panics unless `expr` names metrics, and every one is exported by tagwarden or
/// kube-state-metrics (a histogram's `_bucket`, `_sum`, `_count` included).
fn assert_known_metrics(expr: &str, what: &str) {
    let known: BTreeSet<String> = TAGWARDEN_METRICS
        .iter()
        .flat_map(|name| ["", "_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}")))
        .chain(KUBE_STATE_METRICS.iter().map(|name| name.to_string()))
        .collect();
    let names = metric_names(expr);
    assert!(!names.is_empty(), "{what}: no metric in {expr}");
    for name in names {
        assert!(
            known.contains(&name),
            "{what}: unknown metric {name} in {expr}"
        );
    }
}

/// The metric names in a PromQL expression: the identifiers that start with `tagwarden_`
/// or `kube_` outside strings, and every name a `__name__=~"…"` selector matches (its
/// pattern may only use optional groups, `(init_)?`).
fn metric_names(expr: &str) -> Vec<String> {
    const SELECTOR: &str = "__name__=~\"";
    let mut names = Vec::new();
    let mut rest = expr.to_string();
    while let Some(start) = rest.find(SELECTOR) {
        let pattern_start = start + SELECTOR.len();
        let length = rest[pattern_start..].find('"').expect("a closed pattern");
        let pattern = rest[pattern_start..pattern_start + length].to_string();
        names.extend(expand_optional_groups(&pattern));
        rest.replace_range(start..pattern_start + length + 1, "");
    }
    // Label values are strings, not metrics.
    let mut outside_strings = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in rest.chars() {
        match (quoted, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, _, '"') => quoted = !quoted,
            (false, _, c) => outside_strings.push(c),
            _ => {}
        }
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for word in outside_strings.split(|c: char| !is_word(c)) {
        if word.starts_with("tagwarden_") || word.starts_with("kube_") {
            names.push(word.to_string());
        }
    }
    names
}

/// `a(b)?c` → `ac`, `abc`; any other regular-expression syntax is refused.
fn expand_optional_groups(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('(') else {
        assert!(
            !pattern.contains(['|', '*', '+', '.', '[', '?']),
            "only (x)? groups are supported in name patterns: {pattern}"
        );
        return vec![pattern.to_string()];
    };
    let close = open + pattern[open..].find(")?").expect("only (x)? groups");
    let (before, group, after) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 2..],
    );
    expand_optional_groups(after)
        .into_iter()
        .flat_map(|tail| [format!("{before}{tail}"), format!("{before}{group}{tail}")])
        .collect()
}

#[test]
fn the_metric_name_check_sees_every_name() {
    assert_eq!(
        metric_names(
            r#"max by (a) ({__name__=~"kube_pod_(init_)?container_info", x="tagwarden_no"}) + tagwarden_images"#
        ),
        [
            "kube_pod_container_info",
            "kube_pod_init_container_info",
            "tagwarden_images"
        ]
    );
    let unknown = std::panic::catch_unwind(|| assert_known_metrics("tagwarden_imagez > 0", "t"));
    assert!(unknown.is_err(), "a misspelled metric passes");
}

// --- Grafana dashboard ------------------------------------------------------------------------

#[test]
fn the_dashboard_queries_are_promql_over_exported_metrics() {
    let text = std::fs::read_to_string(repo("deploy/grafana/tagwarden.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "tagwarden");
    let mut exprs = Vec::new();
    let mut titles = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap().to_string();
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap().to_string();
            assert_known_metrics(&expr, &title);
            exprs.push((title.clone(), expr));
        }
        titles.push(title);
    }
    // What an operator looks for, each in a panel.
    for wanted in [
        "Unavailable images",
        "Images by status",
        "Images by registry and status",
        "Registry requests",
        "Registry latency (p50, p95)",
        "Rate limit remaining",
        "Check cycle duration (p50, p95)",
        "Last full check",
        "Tag changes",
        "Leader",
        "Webhook decisions",
        "Webhook latency (p50, p95, p99)",
        "Webhook timeouts",
    ] {
        assert!(
            titles.iter().any(|t| t == wanted),
            "no panel {wanted:?}: {titles:?}"
        );
    }
    // The webhook's panels ask what their titles say.
    let queries_of = |title: &str| -> Vec<&str> {
        exprs
            .iter()
            .filter(|(t, _)| t == title)
            .map(|(_, expr)| expr.as_str())
            .collect()
    };
    assert_eq!(
        queries_of("Webhook decisions"),
        [
            r#"sum by (decision) (rate(tagwarden_webhook_decisions_total{cluster=~"$cluster"}[$__rate_interval]))"#
        ]
    );
    let latency = queries_of("Webhook latency (p50, p95, p99)");
    for (query, quantile) in latency.iter().zip(["0.5", "0.95", "0.99"]) {
        assert!(
            query.starts_with(&format!("histogram_quantile({quantile}, "))
                && query.contains("rate(tagwarden_webhook_duration_seconds_bucket{"),
            "{query}"
        );
    }
    assert_eq!(latency.len(), 3, "{latency:?}");
    let timeouts = queries_of("Webhook timeouts");
    assert!(
        timeouts.len() == 1
            && timeouts[0].contains(
                r#"tagwarden_webhook_decisions_total{cluster=~"$cluster", decision="timeout"}"#
            ),
        "{timeouts:?}"
    );
    // On a fleet (docs/fleet.md), every query keeps to the clusters picked in the
    // `cluster` variable, whose All also takes series without the label.
    let cluster = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == "cluster")
        .expect("a cluster variable");
    assert_eq!(cluster["allValue"], ".*", "{cluster:#}");
    assert_eq!(
        cluster["query"]["query"],
        "label_values(tagwarden_build_info, cluster)"
    );
    for (title, expr) in &exprs {
        let selectors = expr.matches('{').count();
        let filtered = expr.matches(r#"{cluster=~"$cluster""#).count();
        assert!(
            selectors > 0 && selectors == filtered,
            "{title}: a selector without the cluster filter: {expr}"
        );
    }
    // Every metric tagwarden exports is on the dashboard.
    for metric in TAGWARDEN_METRICS {
        assert!(
            exprs.iter().any(|(_, expr)| expr.contains(metric)),
            "{metric} is on no panel"
        );
    }
    // promtool parses PromQL in rules files: one recording rule per query, with Grafana's
    // interval variables as Prometheus durations.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let expr = expr
                .replace("$cluster", ".*")
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$__range", "1h");
            json!({"record": format!("dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.path().join("dashboard.yaml"), file.to_string()).unwrap();
    let (ok, output) = promtool(&["check", "rules", "dashboard.yaml"], dir.path());
    assert!(ok, "{output}\n{exprs:#?}");
    assert!(
        output.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{output}"
    );
    // The check is real: broken PromQL fails it.
    std::fs::write(
        dir.path().join("broken.yaml"),
        json!({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (registry (tagwarden_images)"}]}]})
            .to_string(),
    )
    .unwrap();
    let (ok, output) = promtool(&["check", "rules", "broken.yaml"], dir.path());
    assert!(!ok, "{output}");
}

// --- Dockerfile -------------------------------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined, comments dropped:
/// `(INSTRUCTION, arguments)`.
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (instruction, arguments) = current.split_once(' ').unwrap_or((&current, ""));
        instructions.push((instruction.to_uppercase(), arguments.trim().to_string()));
        current.clear();
    }
    instructions
}

#[test]
fn the_dockerfile_builds_the_locked_release_and_runs_it_unprivileged() {
    let instructions = dockerfile();
    let stages: Vec<&String> = instructions
        .iter()
        .filter(|(instruction, _)| instruction == "FROM")
        .map(|(_, arguments)| arguments)
        .collect();
    assert_eq!(stages.len(), 2, "a builder and a final stage: {stages:?}");
    assert!(stages[0].ends_with(" AS builder"), "{}", stages[0]);
    assert!(stages[0].starts_with("rust:"), "{}", stages[0]);
    // The builder's Rust is the workspace's rust-version.
    let workspace = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let rust_version = workspace
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        instructions.contains(&("ARG".into(), format!("RUST_VERSION={rust_version}"))),
        "{instructions:?}"
    );
    let builder_end = instructions
        .iter()
        .rposition(|(instruction, _)| instruction == "FROM")
        .unwrap();
    let (builder, last) = instructions.split_at(builder_end);
    assert!(
        builder
            .iter()
            .any(|(instruction, arguments)| instruction == "RUN"
                && arguments.contains("cargo build --release --locked -p tagwarden")),
        "{builder:?}"
    );

    // The final image matches how the binary links: glibc dynamically needs distroless
    // `cc` (glibc and libgcc_s); a static binary would take `static`.
    let ldd = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_tagwarden"))
        .output()
        .expect("ldd (libc-bin)");
    let linked = String::from_utf8_lossy(&ldd.stdout);
    let base = &last[0].1;
    if linked.contains("libc.so") {
        assert!(linked.contains("libgcc_s"), "{linked}");
        assert!(
            base.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
            "the binary links glibc; the final stage is {base}"
        );
        // The builder's Debian release is the final image's.
        assert!(stages[0].contains("-bookworm"), "{}", stages[0]);
    } else {
        assert!(base.starts_with("gcr.io/distroless/static"), "{base}");
    }
    let in_final = |name: &str| -> Vec<&String> {
        last.iter()
            .filter(|(instruction, _)| instruction == name)
            .map(|(_, arguments)| arguments)
            .collect()
    };
    assert_eq!(in_final("USER"), vec!["65532:65532"]);
    assert_eq!(in_final("ENTRYPOINT"), vec![r#"["/tagwarden"]"#]);
    assert_eq!(in_final("CMD"), vec![r#"["serve"]"#]);
    assert_eq!(in_final("EXPOSE"), vec!["8080"]);
    assert!(
        in_final("COPY")
            .iter()
            .any(|arguments| arguments.starts_with("--from=builder ")
                && arguments.ends_with(" /tagwarden")),
        "{last:?}"
    );
    assert!(
        in_final("RUN").is_empty(),
        "the final stage runs nothing: {last:?}"
    );
    // The chart's user is the image's.
    let default = &renders()[0].2;
    let security = container(default).security_context.unwrap();
    assert_eq!(security.run_as_user, Some(65532));
}

#[test]
fn the_docker_build_context_is_the_workspace_alone() {
    let ignore = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(patterns.first(), Some(&"*"), "everything out by default");
    // What the builder copies is let back in; nothing else is.
    let copied: BTreeSet<String> = dockerfile()
        .iter()
        .filter(|(instruction, arguments)| {
            instruction == "COPY" && !arguments.starts_with("--from")
        })
        .flat_map(|(_, arguments)| {
            let words: Vec<&str> = arguments.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|word| word.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let allowed: BTreeSet<String> = patterns
        .iter()
        .filter_map(|pattern| pattern.strip_prefix('!'))
        .map(|pattern| pattern.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(copied, allowed);
    for path in &copied {
        assert!(repo(path).exists(), "{path} does not exist");
    }
    assert!(patterns.contains(&"crates/*/target"), "{patterns:?}");
}
