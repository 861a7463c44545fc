//! The manifests that install the chart on every cluster of a fleet (`deploy/fleet/`,
//! docs/fleet.md): Argo CD's ApplicationSet, and Flux's HelmRelease with its chart source
//! (an OCIRepository, or a HelmRepository) and the per-cluster Kustomization.
//!
//! - Every object of every file round-trips through its Kubernetes type: YAML, then the
//!   typed object (types that refuse unknown fields, `argocd` and `flux` beside this file,
//!   with k8s-openapi's ObjectMeta and LabelSelector), then JSON equal to what was read, so
//!   no field is misspelt, unsupported or dropped.
//! - The chart they name is this repository's (`deploy/helm/tagwarden/Chart.yaml`: its name,
//!   version, appVersion's release tag and home), and the values they pass, once the
//!   per-cluster parameters are filled in as Argo CD and Flux fill them, are accepted by
//!   the chart (rendered by Helm's own library, values schema included) and put the
//!   cluster's name on every series the cluster's Prometheus scrapes.
//!
//! Why typed objects of our own: k8s-openapi has no custom resources, and the published
//! bindings do not fit the workspace: kube-custom-resources-rs 2024.11 has no
//! ApplicationSet and builds on kube 0.x; its per-group successors (`kcr_argoproj_io`,
//! `kcr_helm_toolkit_fluxcd_io`, … 3.2026) derive `kube::CustomResource` from kube 3,
//! whose kube-core pins k8s-openapi 0.27 beside the workspace's kube 5 and k8s-openapi
//! 0.29: a second Kubernetes stack to build on every test run, whose derived `Resource`
//! impls need one k8s-openapi for both. The types here are small, refuse unknown fields
//! (kopium's generated ones accept and drop them) and follow the upstream API references.

mod argocd;
mod flux;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The name and server of the cluster the per-cluster parameters are filled in for.
const CLUSTER: (&str, &str) = ("prod-eu-1", "https://10.20.0.1:6443");

/// The Prometheus Operator's APIs: the manifests enable the ServiceMonitor, which needs them.
const PROMETHEUS_OPERATOR: [&str; 2] = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The documents of a YAML file under deploy/fleet.
fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path}: not YAML: {e}"));
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

/// `object` as `K`, which must serialize back to exactly `object`.
fn typed<K: DeserializeOwned + Serialize>(object: &Value, whence: &str) -> K {
    let typed: K = serde_json::from_value(object.clone()).unwrap_or_else(|e| {
        panic!(
            "{whence}: not a valid {}: {e}\n{object:#}",
            std::any::type_name::<K>()
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back,
        object,
        "{whence}: {} does not round-trip",
        std::any::type_name::<K>()
    );
    typed
}

/// Round-trips `object` through the type of its `apiVersion` and `kind`.
fn round_trip(object: &Value, whence: &str) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("argoproj.io/v1alpha1", "ApplicationSet") => {
            typed::<argocd::ApplicationSet>(object, whence);
        }
        ("source.toolkit.fluxcd.io/v1", "GitRepository") => {
            typed::<flux::GitRepository>(object, whence);
        }
        ("source.toolkit.fluxcd.io/v1", "HelmRepository") => {
            typed::<flux::HelmRepository>(object, whence);
        }
        ("source.toolkit.fluxcd.io/v1", "OCIRepository") => {
            typed::<flux::OciRepository>(object, whence);
        }
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease") => {
            typed::<flux::HelmRelease>(object, whence);
        }
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization") => {
            typed::<flux::Kustomization>(object, whence);
        }
        other => panic!("{whence}: no type for {other:?}"),
    }
}

/// Every YAML file under `dir`, relative to the repository, sorted.
fn yaml_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else {
            let relative = path.strip_prefix(repo("")).unwrap();
            found.push(relative.to_str().unwrap().replace('\\', "/"));
        }
    }
    found.sort();
}

/// The chart's Chart.yaml.
fn chart_yaml() -> Value {
    let text = std::fs::read_to_string(repo("deploy/helm/tagwarden/Chart.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The release tag of the chart's appVersion (`v0.1.0`).
fn release_tag() -> String {
    format!("v{}", chart_yaml()["appVersion"].as_str().unwrap())
}

/// The repository's Git URL, from the chart's `home`.
fn git_url() -> String {
    format!("{}.git", chart_yaml()["home"].as_str().unwrap())
}

/// Renders the chart with `values` as `release` in `namespace`, on a cluster with the
/// Prometheus Operator; panics with Helm's message when the chart refuses them.
fn render(values: &Value, release: &str, namespace: &str) -> Vec<Value> {
    let target = tagwarden_testbed::helm::Release {
        name: release,
        namespace,
        kube_version: "v1.33.0",
        api_versions: &PROMETHEUS_OPERATOR,
        lint: false,
    };
    tagwarden_testbed::helm::render(&repo("deploy/helm/tagwarden"), values, &target)
        .unwrap_or_else(|e| panic!("the chart refuses the values ({e}):\n{values:#}"))
        .objects()
}

/// The rendered objects' kinds, and the ServiceMonitor's relabelings.
fn kinds_and_relabelings(objects: &[Value]) -> (BTreeSet<String>, Value) {
    let kinds = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect();
    let monitor = objects
        .iter()
        .find(|o| o["kind"] == "ServiceMonitor")
        .unwrap_or_else(|| panic!("no ServiceMonitor: {objects:#?}"));
    (
        kinds,
        monitor["spec"]["endpoints"][0]["relabelings"].clone(),
    )
}

/// Every string in `value` with `replace` applied.
fn map_strings(value: &Value, replace: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(text) => Value::String(replace(text)),
        Value::Array(items) => items.iter().map(|v| map_strings(v, replace)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), map_strings(v, replace)))
            .collect(),
        other => other.clone(),
    }
}

#[test]
fn every_fleet_manifest_round_trips_through_its_kubernetes_type() {
    let mut files = Vec::new();
    yaml_files(&repo("deploy/fleet"), &mut files);
    assert_eq!(
        files,
        [
            "deploy/fleet/argocd/applicationset.yaml",
            "deploy/fleet/flux/cluster.yaml",
            "deploy/fleet/flux/helmrepository/tagwarden.yaml",
            "deploy/fleet/flux/oci/tagwarden.yaml",
        ]
    );
    let mut kinds = Vec::new();
    for file in &files {
        for (index, object) in documents(file).iter().enumerate() {
            round_trip(object, &format!("{file}, document {}", index + 1));
            kinds.push(object["kind"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        kinds,
        [
            "ApplicationSet",
            "GitRepository",
            "Kustomization",
            "HelmRepository",
            "HelmRelease",
            "OCIRepository",
            "HelmRelease",
        ]
    );
}

#[test]
fn a_misspelt_or_unknown_field_fails_the_round_trip() {
    let mut application_set = documents("deploy/fleet/argocd/applicationset.yaml").remove(0);
    let automated = &mut application_set["spec"]["template"]["spec"]["syncPolicy"]["automated"];
    automated["selfheal"] = json!(true);
    let typed = serde_json::from_value::<argocd::ApplicationSet>(application_set);
    let error = typed
        .expect_err("an unknown field was accepted")
        .to_string();
    assert!(error.contains("unknown field `selfheal`"), "{error}");

    let mut release = documents("deploy/fleet/flux/oci/tagwarden.yaml").remove(1);
    release["spec"]["install"]["createNamespaces"] = json!(true);
    let typed = serde_json::from_value::<flux::HelmRelease>(release);
    let error = typed
        .expect_err("an unknown field was accepted")
        .to_string();
    assert!(
        error.contains("unknown field `createNamespaces`"),
        "{error}"
    );
}

/// The Application the ApplicationSet generates for [`CLUSTER`]: its template with the
/// cluster generator's parameters filled in (`{{.name}}`, `{{.server}}`: the only ones the
/// manifest may use; anything else left in braces fails).
fn application_for_cluster(set: &argocd::ApplicationSet) -> argocd::ApplicationSetTemplate {
    let (name, server) = CLUSTER;
    let template = serde_json::to_value(&set.spec.template).unwrap();
    let filled = map_strings(&template, &|text| {
        text.replace("{{.name}}", name)
            .replace("{{.server}}", server)
    });
    let text = filled.to_string();
    assert!(
        !text.contains("{{"),
        "a parameter this test does not fill in: {text}"
    );
    typed(&filled, "the generated Application")
}

/// What the chart renders with `values` for a release on [`CLUSTER`]: the values are
/// accepted, the ServiceMonitor labels every series with the cluster's name, and the
/// rules are left to the central ruler.
fn assert_values_label_the_cluster(values: &Value, release: &str, namespace: &str) -> Vec<Value> {
    let objects = render(values, release, namespace);
    let (kinds, relabelings) = kinds_and_relabelings(&objects);
    assert!(!kinds.contains("PrometheusRule"), "{kinds:?}");
    assert!(kinds.contains("Deployment"), "{kinds:?}");
    assert_eq!(
        relabelings,
        json!([{"targetLabel": "cluster", "replacement": CLUSTER.0}])
    );
    for object in &objects {
        if object["metadata"]["namespace"].is_string() {
            assert_eq!(object["metadata"]["namespace"], namespace, "{object:#}");
        }
    }
    objects
}

#[test]
fn the_application_set_installs_this_repositorys_chart_on_every_cluster_with_its_name() {
    let object = documents("deploy/fleet/argocd/applicationset.yaml").remove(0);
    let set: argocd::ApplicationSet = typed(&object, "the ApplicationSet");
    assert!(set.spec.go_template);
    assert_eq!(set.spec.go_template_options, ["missingkey=error"]);
    let [generator] = &set.spec.generators[..] else {
        panic!("one generator: {:#?}", set.spec.generators)
    };
    let clusters = generator.clusters.as_ref().expect("the cluster generator");
    let selected = clusters
        .selector
        .match_labels
        .as_ref()
        .expect("matchLabels");
    assert_eq!(selected["tagwarden.io/install"], "true");

    let application = application_for_cluster(&set);
    assert_eq!(
        application.metadata.name,
        format!("tagwarden-{}", CLUSTER.0)
    );
    assert_eq!(
        application.metadata.finalizers,
        ["resources-finalizer.argocd.argoproj.io"]
    );
    let destination = &application.spec.destination;
    assert_eq!(destination.server, CLUSTER.1);
    let sync = application.spec.sync_policy.as_ref().expect("syncPolicy");
    assert!(
        sync.sync_options
            .contains(&"CreateNamespace=true".to_string())
    );
    // The chart of this repository, at the release tag of its appVersion.
    let source = application.spec.source.as_ref().expect("source");
    assert_eq!(source.repo_url, git_url());
    assert_eq!(source.target_revision, release_tag());
    assert_eq!(source.path, "deploy/helm/tagwarden");
    let chart: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo(&source.path).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["name"], "tagwarden");
    // Its values, as Helm reads them once Argo CD has filled them in.
    let helm = source.helm.as_ref().expect("helm");
    let values: Value = serde_saphyr::from_str(&helm.values)
        .unwrap_or_else(|e| panic!("the values are not YAML ({e}):\n{}", helm.values));
    let objects =
        assert_values_label_the_cluster(&values, &helm.release_name, &destination.namespace);
    let config_map = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    let config: Value =
        serde_saphyr::from_str(config_map["data"]["config.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(
        config["serve"]["budgets"]["docker.io"],
        json!({"requests": 100, "window": 3600})
    );
}

/// The HelmRelease of a Flux manifest, with `${CLUSTER_NAME}` substituted as the
/// Kustomization's `postBuild` does (any other variable left fails).
fn release_for_cluster(release: &flux::HelmRelease) -> flux::HelmRelease {
    let value = serde_json::to_value(release).unwrap();
    let substituted = map_strings(&value, &|text| text.replace("${CLUSTER_NAME}", CLUSTER.0));
    let text = substituted.to_string();
    assert!(
        !text.contains("${"),
        "a variable this test does not substitute: {text}"
    );
    typed(&substituted, "the substituted HelmRelease")
}

/// Renders the chart with the HelmRelease's values, as its release in its namespace.
fn assert_release_labels_the_cluster(release: &flux::HelmRelease) {
    let release = release_for_cluster(release);
    let spec = &release.spec;
    assert_eq!(spec.release_name.as_deref(), Some("tagwarden"));
    let namespace = spec.target_namespace.as_deref().expect("targetNamespace");
    let install = spec.install.as_ref().expect("install");
    assert_eq!(install.create_namespace, Some(true));
    let values = Value::Object(spec.values.clone().expect("values"));
    assert_values_label_the_cluster(&values, "tagwarden", namespace);
}

#[test]
fn the_flux_release_from_an_oci_repository_takes_this_charts_name_and_version() {
    let objects = documents("deploy/fleet/flux/oci/tagwarden.yaml");
    let source: flux::OciRepository = typed(&objects[0], "the OCIRepository");
    let release: flux::HelmRelease = typed(&objects[1], "the HelmRelease");
    let chart = chart_yaml();
    let name = chart["name"].as_str().unwrap();
    // The OCI repository is named after the chart; the tag is its version.
    assert!(
        source.spec.url.ends_with(&format!("/{name}")),
        "{}",
        source.spec.url
    );
    assert!(source.spec.url.starts_with("oci://"), "{}", source.spec.url);
    let reference = source.spec.r#ref.as_ref().expect("ref");
    assert_eq!(reference.tag.as_deref(), chart["version"].as_str());
    let layers = source.spec.layer_selector.as_ref().expect("layerSelector");
    assert_eq!(
        layers.media_type.as_deref(),
        Some("application/vnd.cncf.helm.chart.content.v1.tar+gzip")
    );
    assert_eq!(layers.operation, Some(flux::LayerOperation::Copy));
    // The release takes its chart from that source, in the same namespace.
    assert!(release.spec.chart.is_none());
    let chart_ref = release.spec.chart_ref.as_ref().expect("chartRef");
    assert_eq!(chart_ref.kind, "OCIRepository");
    assert_eq!(
        Some(chart_ref.name.as_str()),
        source.metadata.name.as_deref()
    );
    assert_eq!(release.metadata.namespace, source.metadata.namespace);
    assert_release_labels_the_cluster(&release);
}

#[test]
fn the_flux_release_from_a_helm_repository_takes_this_charts_name_and_version() {
    let objects = documents("deploy/fleet/flux/helmrepository/tagwarden.yaml");
    let repository: flux::HelmRepository = typed(&objects[0], "the HelmRepository");
    let release: flux::HelmRelease = typed(&objects[1], "the HelmRelease");
    let chart = chart_yaml();
    let spec = &release
        .spec
        .chart
        .as_ref()
        .expect("chart.spec: the chart from the HelmRepository")
        .spec;
    assert_eq!(Some(spec.chart.as_str()), chart["name"].as_str());
    assert_eq!(spec.version.as_deref(), chart["version"].as_str());
    assert_eq!(spec.source_ref.kind, "HelmRepository");
    assert_eq!(
        Some(spec.source_ref.name.as_str()),
        repository.metadata.name.as_deref()
    );
    assert_eq!(release.metadata.namespace, repository.metadata.namespace);
    // The same chart as the OCIRepository's: the repository plus the chart's name.
    assert_eq!(repository.spec.r#type, Some(flux::HelmRepositoryType::Oci));
    let oci: flux::OciRepository = typed(
        &documents("deploy/fleet/flux/oci/tagwarden.yaml")[0],
        "the OCIRepository",
    );
    assert_eq!(
        format!("{}/{}", repository.spec.url, spec.chart),
        oci.spec.url
    );
    // Both files install the same release with the same values.
    let other: flux::HelmRelease = typed(
        &documents("deploy/fleet/flux/oci/tagwarden.yaml")[1],
        "the HelmRelease",
    );
    assert_eq!(release.spec.values, other.spec.values);
    assert_eq!(release.spec.target_namespace, other.spec.target_namespace);
    assert_release_labels_the_cluster(&release);
}

#[test]
fn each_flux_cluster_applies_the_oci_release_from_this_repository_with_its_variables() {
    let objects = documents("deploy/fleet/flux/cluster.yaml");
    let git: flux::GitRepository = typed(&objects[0], "the GitRepository");
    let kustomization: flux::Kustomization = typed(&objects[1], "the Kustomization");
    assert_eq!(git.spec.url, git_url());
    let reference = git.spec.r#ref.as_ref().expect("ref");
    assert_eq!(reference.tag.as_deref(), Some(release_tag().as_str()));
    // The Kustomization applies a folder of this repository that the GitRepository
    // keeps (its `ignore` drops the rest).
    let spec = &kustomization.spec;
    assert_eq!(spec.source_ref.kind, "GitRepository");
    assert_eq!(
        Some(spec.source_ref.name.as_str()),
        git.metadata.name.as_deref()
    );
    let path = spec.path.as_deref().expect("path");
    let folder = path.trim_start_matches("./");
    assert!(repo(folder).join("tagwarden.yaml").is_file(), "{path}");
    let ignore = git.spec.ignore.as_deref().expect("ignore");
    assert!(
        ignore.lines().any(
            |line| line.starts_with('!') && folder.starts_with(line[2..].trim_end_matches('/'))
        ),
        "{ignore}"
    );
    // CLUSTER_NAME comes from the cluster's own ConfigMap, which must exist.
    let post_build = spec.post_build.as_ref().expect("postBuild");
    let [from] = &post_build.substitute_from[..] else {
        panic!("{post_build:#?}")
    };
    assert_eq!(
        (from.kind.as_str(), from.name.as_str()),
        ("ConfigMap", "cluster-vars")
    );
    assert_ne!(from.optional, Some(true));
}

#[test]
fn the_fleet_guide_links_every_manifest_and_its_links_resolve() {
    let guide = std::fs::read_to_string(repo("docs/fleet.md")).unwrap();
    let mut files = Vec::new();
    yaml_files(&repo("deploy/fleet"), &mut files);
    for file in &files {
        assert!(
            guide.contains(&format!("(../{file})")),
            "docs/fleet.md: no link to {file}"
        );
    }
    let mut links = 0;
    for (start, _) in guide.match_indices("](../") {
        let rest = &guide[start + 5..];
        let target = &rest[..rest.find(')').unwrap()];
        let path = target.split('#').next().unwrap();
        assert!(
            repo(path).exists(),
            "docs/fleet.md links to {target}: no such file"
        );
        links += 1;
    }
    assert!(links >= files.len(), "{links} links");
}
