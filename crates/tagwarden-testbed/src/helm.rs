//! The project's Helm chart as a cluster gets it: rendered by Helm v4's own Go library (the
//! PyPI package `helm-python-sdk`, which `scripts/test.sh` installs; there is no `helm`
//! binary), and its ServiceAccount and RBAC installed into the test API server, so that a
//! test runs `tagwarden serve` (or the webhook's client) with exactly the rights the chart
//! grants, never a hand copy of them.
//!
//! ```no_run
//! use tagwarden_testbed::{ApiServer, helm};
//!
//! let api = ApiServer::start();
//! let chart = helm::render(
//!     "deploy/helm/tagwarden".as_ref(),
//!     &serde_json::json!({}),
//!     &helm::Release::new("tagwarden", "monitoring", "v1.32.0"),
//! )
//! .unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let login = helm::install_service_account(&api, &chart.objects(), dir.path());
//! // … run serve with KUBECONFIG=login.kubeconfig, then:
//! assert!(api.denials().iter().all(|d| d.user != login.user));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::ApiServer;

/// Renders the chart (`argv`: chart, values, Kubernetes version, release) and, when asked,
/// lints it as `helm lint --strict` would; stdout is `{"manifests": {template: yaml},
/// "lint": report}` or `{"error": message}`. Helm's lint has no `--api-versions`.
const HELM_SCRIPT: &str = r#"
import json, sys
try:
    import helm_python as helm
    from helm_python import _native
except ImportError:
    sys.exit("helm-python-sdk is missing: run scripts/test.sh "
             "(or python3 -m pip install helm-python-sdk==0.2.2)")
chart_dir, values, kube_version = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
release = json.loads(sys.argv[4])
with helm.Chart.load(chart_dir) as chart:
    options = {"name": release["name"], "namespace": release["namespace"],
               "kube_version": kube_version, "is_install": True,
               "api_versions": release["api_versions"]}
    try:
        manifests = json.loads(_native.call_string(
            "helm_render", chart._raw(), json.dumps(values), json.dumps(options)))
    except helm.HelmError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(0)
lint = None
if release["lint"]:
    lint = helm.lint(chart_dir, values, strict=True, namespace=release["namespace"],
                     kube_version=kube_version)
print(json.dumps({"manifests": manifests, "lint": lint}))
"#;

/// Where a render goes, as `helm template NAME -n NAMESPACE --kube-version V
/// --api-versions …` says it.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// The release's name.
    pub name: &'a str,
    /// The release's namespace.
    pub namespace: &'a str,
    /// The cluster's version, as `.Capabilities.KubeVersion` (`v1.32.0`).
    pub kube_version: &'a str,
    /// The APIs the cluster serves besides the built-in ones (`GROUP/VERSION/KIND`).
    pub api_versions: &'a [&'a str],
    /// Also run `helm lint --strict` ([`Chart::lint`]).
    pub lint: bool,
}

impl<'a> Release<'a> {
    /// A release with only the built-in APIs and no lint.
    pub fn new(name: &'a str, namespace: &'a str, kube_version: &'a str) -> Release<'a> {
        Release {
            name,
            namespace,
            kube_version,
            api_versions: &[],
            lint: false,
        }
    }
}

/// One render: each template's text, and Helm's lint report when asked for.
#[derive(Debug, Clone)]
pub struct Chart {
    /// (template path, rendered text), `NOTES.txt` included.
    pub templates: Vec<(String, String)>,
    /// `helm lint --strict`'s report (`null` without [`Release::lint`]).
    pub lint: Value,
}

impl Chart {
    /// Every object of every template but `NOTES.txt`, in template order.
    ///
    /// Panics on a template that is not YAML: Helm would refuse to install it.
    pub fn objects(&self) -> Vec<Value> {
        self.templates_objects()
            .into_iter()
            .map(|(_, object)| object)
            .collect()
    }

    /// [`Chart::objects`], each with its template's path.
    pub fn templates_objects(&self) -> Vec<(String, Value)> {
        let mut objects = Vec::new();
        for (template, text) in &self.templates {
            if template.ends_with("NOTES.txt") {
                continue;
            }
            let documents: Vec<Value> = serde_saphyr::from_multiple(text)
                .unwrap_or_else(|e| panic!("{template} is not YAML ({e}):\n{text}"));
            objects.extend(
                documents
                    .into_iter()
                    .filter(|document| !document.is_null())
                    .map(|document| (template.clone(), document)),
            );
        }
        objects
    }
}

/// Renders the chart in `chart_dir` with `values` for `release`; `Err` is Helm's message
/// (a `fail` in a template, a schema violation).
///
/// Panics when Python or the Helm library cannot run: the test cannot mean anything then.
pub fn render(chart_dir: &Path, values: &Value, release: &Release<'_>) -> Result<Chart, String> {
    let output = Command::new("python3")
        .args(["-c", HELM_SCRIPT])
        .arg(chart_dir)
        .arg(values.to_string())
        .arg(release.kube_version)
        .arg(
            json!({
                "name": release.name,
                "namespace": release.namespace,
                "api_versions": release.api_versions,
                "lint": release.lint,
            })
            .to_string(),
        )
        .output()
        .expect("python3 (run scripts/test.sh to install the test dependencies)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Helm library did not run: {stderr}"
    );
    let answer: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the Helm script's answer is not JSON ({e}): {stderr}"));
    if let Some(error) = answer["error"].as_str() {
        return Err(error.to_string());
    }
    let templates = answer["manifests"]
        .as_object()
        .expect("Helm's manifests")
        .iter()
        .map(|(template, text)| {
            let text = text.as_str().expect("a template's text").to_string();
            (template.clone(), text)
        })
        .collect();
    Ok(Chart {
        templates,
        lint: answer["lint"].clone(),
    })
}

/// The kinds of a chart that say what its ServiceAccount may do.
const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// A chart's ServiceAccount, installed into a test API server.
#[derive(Debug, Clone)]
pub struct ServiceAccountLogin {
    /// A kubeconfig whose user is the ServiceAccount (its token, nothing more).
    pub kubeconfig: PathBuf,
    /// `system:serviceaccount:NAMESPACE:NAME`, as [`ApiServer::denials`] names it.
    pub user: String,
    /// The ServiceAccount's namespace (the release's).
    pub namespace: String,
    /// The ServiceAccount's name.
    pub name: String,
}

/// Applies the release's Namespace and the chart's ServiceAccount, Roles, ClusterRoles and
/// bindings (from `objects`, a render's [`Chart::objects`]) to `api`, as `helm install`
/// would, and writes a kubeconfig for the ServiceAccount into `dir`.
///
/// Panics unless `objects` hold exactly one ServiceAccount.
pub fn install_service_account(
    api: &ApiServer,
    objects: &[Value],
    dir: &Path,
) -> ServiceAccountLogin {
    let accounts: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ServiceAccount")
        .collect();
    assert_eq!(
        accounts.len(),
        1,
        "one ServiceAccount expected: {accounts:#?}"
    );
    let field = |name: &str| {
        accounts[0]["metadata"][name]
            .as_str()
            .unwrap_or_else(|| panic!("the ServiceAccount has no metadata.{name}"))
            .to_string()
    };
    let (namespace, name) = (field("namespace"), field("name"));
    if api.get("v1", "Namespace", None, &namespace).is_none() {
        api.apply(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace},
            "status": {"phase": "Active"},
        }));
    }
    for kind in RBAC_KINDS {
        for object in objects.iter().filter(|o| o["kind"] == kind) {
            api.apply(object.clone());
        }
    }
    let token = api.service_account_token(&namespace, &name);
    let kubeconfig = dir.join(format!("{namespace}-{name}.kubeconfig"));
    api.write_kubeconfig_with_token(&kubeconfig, &token);
    ServiceAccountLogin {
        kubeconfig,
        user: format!("system:serviceaccount:{namespace}:{name}"),
        namespace,
        name,
    }
}

/// The folder of the `helm` this suite puts first on `PATH` for scripts that run `helm
/// template` (the Argo CD plugin, the chart-CI script): `TAGWARDEN_HELM_DIR` when it is set
/// (a folder with a real `helm` binary), else `helm-shim/`, whose `helm` renders `helm
/// template` through Helm v4's own library, the one [`render`] uses (there is no `helm`
/// binary to install here: Debian has none, and nothing outside the package registries can
/// be fetched).
///
/// Panics when the shim's library is missing, with the command that installs it.
pub fn helm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TAGWARDEN_HELM_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let imports = Command::new("python3")
        .args(["-c", "import helm_python"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        imports,
        "the helm shim needs python3 with helm-python-sdk: run scripts/test.sh \
         (or python3 -m pip install helm-python-sdk==0.2.2)"
    );
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/helm-shim"))
}
