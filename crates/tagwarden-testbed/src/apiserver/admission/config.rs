//! `admissionregistration.k8s.io/v1` webhook configurations: the webhooks
//! they declare, with v1's defaults, and whether one applies to a request
//! (`k8s.io/apiserver/pkg/admission/plugin/webhook/predicates`).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::super::selector::LabelSelector;
use super::Request;

/// One webhook of a configuration (or the hand-set Pod webhook).
#[derive(Clone, Debug)]
pub(crate) struct Hook {
    /// `webhooks[].name`, as messages name it.
    pub(crate) name: String,
    /// The configuration's `metadata.name` (`""` for the Pod webhook).
    pub(crate) configuration: String,
    pub(crate) mutating: bool,
    pub(crate) rules: Vec<Rule>,
    pub(crate) namespace_selector: LabelSelector,
    pub(crate) object_selector: LabelSelector,
    /// `failurePolicy: Ignore` (v1's default is `Fail`).
    pub(crate) fail_open: bool,
    /// `timeoutSeconds` (default 10).
    pub(crate) timeout: Duration,
    /// `sideEffects` is `None` or `NoneOnDryRun`: may be called on a dry run.
    pub(crate) dry_run_safe: bool,
    /// `reinvocationPolicy: IfNeeded`.
    pub(crate) reinvoke_if_needed: bool,
    /// `admissionReviewVersions` lists `v1` (the only version sent here).
    pub(crate) accepts_v1: bool,
    pub(crate) client: ClientConfig,
}

/// `clientConfig`.
#[derive(Clone, Debug)]
pub(crate) struct ClientConfig {
    pub(crate) endpoint: Endpoint,
    /// `caBundle`, decoded: PEM. `None`: the system roots, which trust no
    /// test certificate.
    pub(crate) ca_pem: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    /// `service`: called as `https://NAME.NAMESPACE.svc:PORT/PATH`.
    Service {
        namespace: String,
        name: String,
        path: String,
        port: u16,
    },
    /// `url` (plain `http://` is accepted too, for the Pod webhook's tests).
    Url(String),
}

/// One of `rules`.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) operations: Vec<String>,
    pub(crate) api_groups: Vec<String>,
    pub(crate) api_versions: Vec<String>,
    pub(crate) resources: Vec<String>,
    /// `*` (the default), `Cluster` or `Namespaced`.
    pub(crate) scope: String,
}

/// The webhooks of one stored configuration, in their order.
pub(crate) fn hooks_of(configuration: &Value, mutating: bool) -> Result<Vec<Hook>, String> {
    let config_name = text(configuration.pointer("/metadata/name")).to_string();
    let mut hooks = Vec::new();
    let webhooks = configuration.get("webhooks").and_then(Value::as_array);
    for webhook in webhooks.into_iter().flatten() {
        hooks.push(
            hook_of(webhook, &config_name, mutating)
                .map_err(|e| format!("webhook configuration {config_name:?}: {e}"))?,
        );
    }
    Ok(hooks)
}

fn hook_of(webhook: &Value, configuration: &str, mutating: bool) -> Result<Hook, String> {
    let name = text(webhook.get("name")).to_string();
    let rules = webhook
        .get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(rule_of).collect())
        .unwrap_or_default();
    let timeout = webhook
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(10);
    Ok(Hook {
        rules,
        namespace_selector: selector_of(webhook.get("namespaceSelector"))?,
        object_selector: selector_of(webhook.get("objectSelector"))?,
        fail_open: text(webhook.get("failurePolicy")) == "Ignore",
        timeout: Duration::from_secs(timeout.clamp(1, 30)),
        dry_run_safe: matches!(text(webhook.get("sideEffects")), "None" | "NoneOnDryRun"),
        reinvoke_if_needed: mutating && text(webhook.get("reinvocationPolicy")) == "IfNeeded",
        accepts_v1: webhook
            .get("admissionReviewVersions")
            .and_then(Value::as_array)
            .is_none_or(|versions| versions.iter().any(|v| v == "v1")),
        client: client_of(webhook.get("clientConfig").unwrap_or(&Value::Null))?,
        configuration: configuration.to_string(),
        mutating,
        name,
    })
}

fn client_of(config: &Value) -> Result<ClientConfig, String> {
    let ca_pem = match text(config.get("caBundle")) {
        "" => None,
        b64 => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("clientConfig.caBundle is not base64: {e}"))?,
        ),
    };
    let endpoint = match (config.get("service"), config.get("url")) {
        (Some(service), _) => Endpoint::Service {
            namespace: text(service.get("namespace")).to_string(),
            name: text(service.get("name")).to_string(),
            path: text(service.get("path")).to_string(),
            port: service
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443),
        },
        (None, Some(url)) => Endpoint::Url(text(Some(url)).to_string()),
        (None, None) => return Err("clientConfig needs a service or a url".into()),
    };
    Ok(ClientConfig { endpoint, ca_pem })
}

fn rule_of(rule: &Value) -> Rule {
    let list = |key: &str| -> Vec<String> {
        rule.get(key)
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    Rule {
        operations: list("operations"),
        api_groups: list("apiGroups"),
        api_versions: list("apiVersions"),
        resources: list("resources"),
        scope: match text(rule.get("scope")) {
            "" => "*".to_string(),
            s => s.to_string(),
        },
    }
}

/// A `metav1.LabelSelector` (`matchLabels`, `matchExpressions`) as the
/// selector grammar; absent or `{}` selects everything.
pub(crate) fn selector_of(selector: Option<&Value>) -> Result<LabelSelector, String> {
    let Some(selector) = selector else {
        return Ok(LabelSelector::default());
    };
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push(format!("{k}={}", text(Some(v))));
        }
    }
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    for e in expressions.into_iter().flatten() {
        let key = text(e.get("key"));
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match text(e.get("operator")) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        });
    }
    LabelSelector::parse(&parts.join(","))
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or_default()
}

impl Rule {
    /// `rules.Matcher`: operation, group, version, resource/subresource, scope.
    fn matches(&self, req: &Request<'_>) -> bool {
        let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let resource = self.resources.iter().any(|r| {
            let (res, sub) = r.split_once('/').unwrap_or((r, ""));
            (res == "*" || res == req.res.plural) && (sub == "*" || sub == req.subresource)
        });
        let scope = match self.scope.as_str() {
            "Cluster" => req.namespace.is_none(),
            "Namespaced" => req.namespace.is_some(),
            _ => true,
        };
        has(&self.operations, req.operation)
            && has(&self.api_groups, req.res.group)
            && has(&self.api_versions, req.res.version)
            && resource
            && scope
    }
}

impl Hook {
    /// Whether this webhook is called for `req`: a rule matches, the
    /// namespace's labels (`namespace`, a Namespace object) match
    /// `namespaceSelector` (for a namespaced object, or a Namespace itself;
    /// other cluster-scoped objects ignore it),
    /// and the new or the old object's labels match `objectSelector`.
    pub(crate) fn applies(
        &self,
        req: &Request<'_>,
        namespace: Option<&Value>,
        object: &Value,
        old: Option<&Value>,
    ) -> bool {
        if !self.rules.iter().any(|r| r.matches(req)) {
            return false;
        }
        let namespace_labels = if req.res.kind == "Namespace" && req.res.group.is_empty() {
            Some(with_name_label(object))
        } else {
            // No Namespace object stored: only the name label is known
            // (the real server would have refused the write with 404).
            let bare = |name: &str| json!({ "metadata": { "name": name } });
            req.namespace
                .map(|name| with_name_label(namespace.unwrap_or(&bare(name))))
        };
        let namespace_ok = match namespace_labels {
            Some(ns) => self.namespace_selector.matches(&ns),
            None => true,
        };
        let object_ok = self.object_selector.matches(object)
            || old.is_some_and(|o| self.object_selector.matches(o));
        namespace_ok && object_ok
    }
}

/// A Namespace with the `kubernetes.io/metadata.name` label, which the real
/// API server sets on every Namespace (since 1.21): the chart's
/// `namespaceSelector` excludes namespaces by it.
fn with_name_label(namespace: &Value) -> Value {
    let mut ns = namespace.clone();
    let name = text(ns.pointer("/metadata/name")).to_string();
    if ns
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_none()
    {
        ns["metadata"]["labels"] = json!({});
    }
    ns["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    ns
}

#[cfg(test)]
mod tests {
    use super::super::super::discovery::{RESOURCES, find};
    use super::*;

    fn request<'a>(plural: &str, group: &str, namespace: Option<&'a str>) -> Request<'a> {
        Request {
            res: &RESOURCES[find(group, "v1", plural).unwrap()],
            subresource: "",
            namespace,
            name: "x",
            operation: "CREATE",
            user: "u",
            dry_run: false,
            field_manager: None,
        }
    }

    fn hook(rule: Value, extra: Value) -> Hook {
        let mut webhook = json!({
            "name": "h", "rules": [rule],
            "clientConfig": { "url": "https://127.0.0.1:1/" },
        });
        for (k, v) in extra.as_object().unwrap() {
            webhook[k] = v.clone();
        }
        hook_of(&webhook, "c", true).unwrap()
    }

    #[test]
    fn rules_match_as_kubes_matcher_does() {
        let pods = request("pods", "", Some("shop"));
        let deployments = request("deployments", "apps", Some("shop"));
        let nodes = request("nodes", "", None);
        let object = json!({ "metadata": { "labels": { "app": "web" } } });
        let applies = |rule: Value, req: &Request<'_>| {
            hook(rule, json!({})).applies(req, None, &object, None)
        };
        let all = json!({ "operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"] });
        assert!(applies(all.clone(), &pods) && applies(all.clone(), &nodes));
        let mut status_only = all.clone();
        status_only["resources"] = json!(["pods/status"]);
        assert!(!applies(status_only, &pods));
        let mut with_subresources = all.clone();
        with_subresources["resources"] = json!(["*/*"]);
        assert!(applies(with_subresources, &deployments));
        let mut core_only = all.clone();
        core_only["apiGroups"] = json!([""]);
        assert!(applies(core_only.clone(), &pods) && !applies(core_only, &deployments));
        let mut updates = all.clone();
        updates["operations"] = json!(["UPDATE", "DELETE"]);
        assert!(!applies(updates, &pods));
        let mut namespaced = all.clone();
        namespaced["scope"] = json!("Namespaced");
        assert!(applies(namespaced.clone(), &pods) && !applies(namespaced, &nodes));
        let mut cluster = all;
        cluster["scope"] = json!("Cluster");
        assert!(!applies(cluster.clone(), &pods) && applies(cluster, &nodes));
    }

    #[test]
    fn selectors_read_label_selector_objects() {
        let pods = request("pods", "", Some("shop"));
        let rule = json!({ "operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"] });
        let selecting = hook(
            rule.clone(),
            json!({
                "namespaceSelector": { "matchExpressions": [
                    { "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"] },
                ] },
                "objectSelector": { "matchLabels": { "app": "web" } },
            }),
        );
        let web = json!({ "metadata": { "labels": { "app": "web" } } });
        let db = json!({ "metadata": { "labels": { "app": "db" } } });
        let shop = json!({ "metadata": { "name": "shop" } });
        let system = json!({ "metadata": { "name": "kube-system" } });
        assert!(selecting.applies(&pods, Some(&shop), &web, None));
        assert!(!selecting.applies(&pods, Some(&system), &web, None));
        assert!(!selecting.applies(&pods, Some(&shop), &db, None));
        // The old object's labels count too (an update removing the label).
        assert!(selecting.applies(&pods, Some(&shop), &db, Some(&web)));
        // No Namespace stored: only its name label is known.
        assert!(selecting.applies(&pods, None, &web, None));
        let bad = json!({ "namespaceSelector": { "matchExpressions": [{ "key": "a", "operator": "Gt" }] } });
        let mut webhook = json!({ "name": "h", "rules": [rule], "clientConfig": { "url": "u" } });
        webhook["namespaceSelector"] = bad["namespaceSelector"].clone();
        assert!(hook_of(&webhook, "c", true).is_err());
        // v1's defaults: Fail, 10 s, no reinvocation, v1 accepted.
        assert!(!selecting.fail_open && !selecting.reinvoke_if_needed && selecting.accepts_v1);
        assert_eq!(selecting.timeout, Duration::from_secs(10));
    }
}
