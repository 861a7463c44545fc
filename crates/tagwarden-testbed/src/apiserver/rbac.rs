//! Authentication by bearer token and kube-apiserver's RBAC authorizer,
//! evaluated at request time from the stored `rbac.authorization.k8s.io/v1`
//! objects, with every decision recorded.
//!
//! - **Identities:** each token stands for a user and its groups. The
//!   default token is `kubernetes-admin` in `system:masters` (which, as in
//!   kube-apiserver, bypasses RBAC); ServiceAccount tokens authenticate as
//!   `system:serviceaccount:NS:NAME` in `system:serviceaccounts`,
//!   `system:serviceaccounts:NS` and `system:authenticated`.
//! - **Request attributes** as kube's `RequestInfoFactory` derives them:
//!   verb from the method (`list`/`watch` for collections, `deletecollection`),
//!   namespace, resource, subresource and name from the path (a list or watch
//!   with `fieldSelector=metadata.name=X` names `X`), non-resource paths with
//!   the lower-cased method as verb.
//! - **Rules** as `RuleAllows`: verbs, apiGroups, resources (`*`,
//!   `pods/status`, `*/scale`), resourceNames (only requests that name an
//!   object), nonResourceURLs (`*` suffix); ClusterRoleBindings first, then
//!   the RoleBindings of the request's namespace (to a Role or a ClusterRole);
//!   subjects User, Group, ServiceAccount. A binding to a missing role adds
//!   kube's `RBAC: …not found` reason to a denial.
//! - **Bootstrap policy:** `cluster-admin`, `system:discovery`,
//!   `system:public-info-viewer`, `system:basic-user` and their bindings are
//!   stored objects, as on a real cluster.
//! - **Impersonation** (`Impersonate-User`, `Impersonate-Group`), authorized
//!   with the `impersonate` verb, so `kubectl --as` works.
//! - **`SelfSubjectAccessReview`** answered by the same authorizer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::discovery;
use super::http::Inner;
use super::lock;
use super::store::{ApiError, Store};

/// `system:masters`: kube-apiserver's superuser group.
pub(crate) const MASTERS: &str = "system:masters";
const AUTHENTICATED: &str = "system:authenticated";

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) user: String,
    pub(crate) groups: Vec<String>,
}

impl Identity {
    /// A user in `groups`, plus `system:authenticated`.
    pub(crate) fn user(user: &str, groups: &[&str]) -> Identity {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.to_string());
        }
        Identity {
            user: user.to_string(),
            groups,
        }
    }

    /// `system:serviceaccount:NS:NAME` and its groups.
    pub(crate) fn service_account(namespace: &str, name: &str) -> Identity {
        Identity::user(
            &format!("system:serviceaccount:{namespace}:{name}"),
            &[
                "system:serviceaccounts",
                format!("system:serviceaccounts:{namespace}").as_str(),
            ],
        )
    }
}

/// What a request asks to do, as the authorizer sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) verb: String,
    pub(crate) resource_request: bool,
    pub(crate) api_group: String,
    pub(crate) api_version: String,
    pub(crate) resource: String,
    pub(crate) subresource: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) path: String,
}

impl Attributes {
    /// kube's `RequestInfoFactory.NewRequestInfo`, for `method`, `path`
    /// and the decoded query.
    pub(crate) fn of_request(method: &str, path: &str, query: &[(String, String)]) -> Attributes {
        let mut attrs = Attributes {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
            ..Attributes::default()
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest = match parts.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                attrs.api_version = version.to_string();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                attrs.api_group = group.to_string();
                attrs.api_version = version.to_string();
                rest
            }
            _ => return attrs,
        };
        attrs.resource_request = true;
        attrs.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
        let mut rest = rest;
        if rest[0] == "namespaces" && rest.len() > 1 {
            attrs.namespace = rest[1].to_string();
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        attrs.resource = rest[0].to_string();
        if rest.len() >= 2 {
            attrs.name = rest[1].to_string();
        }
        if rest.len() >= 3 {
            attrs.subresource = rest[2].to_string();
        }
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        if attrs.name.is_empty() && attrs.verb == "get" {
            let watch = matches!(
                get("watch"),
                Some("1" | "t" | "T" | "true" | "TRUE" | "True")
            );
            attrs.verb = if watch { "watch" } else { "list" }.to_string();
            if let Some(name) = get("fieldSelector").and_then(exact_name)
                && valid_path_segment(name)
            {
                attrs.name = name.to_string();
            }
        }
        if attrs.name.is_empty() && attrs.verb == "delete" {
            attrs.verb = "deletecollection".to_string();
        }
        attrs
    }

    /// `pods` or `pods/log`, as messages and rules name it.
    fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// `metadata.name=X` (or `==`) as one of the terms of a field selector.
fn exact_name(selector: &str) -> Option<&str> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        Some(value.trim())
    })
}

fn valid_path_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
}

/// Which binding, role and rule allowed a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `ClusterRoleBinding tagwarden` or `RoleBinding payments/ledger`.
    pub binding: String,
    /// `ClusterRole tagwarden` or `Role payments/ledger`.
    pub role: String,
    /// The index of the rule in the role's `rules`.
    pub rule: usize,
}

/// One authorization decision of the server (see [`crate::ApiServer::authorizations`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The user asking (after impersonation, when the request impersonates).
    pub user: String,
    pub groups: Vec<String>,
    /// `get`, `list`, `watch`, `create`, …, `impersonate`; for a path: the
    /// lower-cased method.
    pub verb: String,
    /// `""` for core; empty too for a non-resource path.
    pub api_group: String,
    /// The plural (`pods`); empty for a non-resource path.
    pub resource: String,
    pub subresource: String,
    /// Empty at the cluster scope.
    pub namespace: String,
    /// Empty when the request names no object.
    pub name: String,
    /// The URL path.
    pub path: String,
    pub allowed: bool,
    /// The rule that allowed it (`None` when denied, or for
    /// `system:masters`, which bypasses RBAC).
    pub granted_by: Option<Grant>,
    /// kube's reason: `RBAC: allowed by ClusterRoleBinding "…" of
    /// ClusterRole "…" to ServiceAccount "name/ns"`, or why it was denied.
    pub reason: String,
}

/// The outcome of [`authorize`].
pub(crate) struct Decision {
    pub(crate) allowed: bool,
    pub(crate) grant: Option<Grant>,
    pub(crate) reason: String,
}

/// A binding, read from its stored object.
struct Binding {
    /// `ClusterRoleBinding` or `RoleBinding`.
    kind: &'static str,
    namespace: String,
    name: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Value>,
}

impl Binding {
    fn read(kind: &'static str, object: &Value) -> Binding {
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Binding {
            kind,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            role_kind: text("/roleRef/kind"),
            role_name: text("/roleRef/name"),
            subjects: object
                .get("subjects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    fn role_label(&self) -> String {
        if self.role_kind == "Role" {
            format!("Role {}/{}", self.namespace, self.role_name)
        } else {
            format!("ClusterRole {}", self.role_name)
        }
    }

    /// The subject through which this binding applies to `who`, if any
    /// (kube's `appliesTo`).
    fn subject_for(&self, who: &Identity) -> Option<&Value> {
        self.subjects.iter().find(|s| {
            let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
            match text("kind") {
                "User" => text("name") == who.user,
                "Group" => who.groups.iter().any(|g| g == text("name")),
                "ServiceAccount" => {
                    let ns = match text("namespace") {
                        "" => self.namespace.as_str(),
                        ns => ns,
                    };
                    !ns.is_empty()
                        && who.user == format!("system:serviceaccount:{ns}:{}", text("name"))
                }
                _ => false,
            }
        })
    }

    /// kube's describer: `ClusterRoleBinding "b" of ClusterRole "r" to
    /// ServiceAccount "name/ns"` (a RoleBinding is named `name/ns`).
    fn describe(&self, subject: &Value) -> String {
        let text = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or_default();
        let who = match text("kind") {
            "ServiceAccount" => {
                let ns = match text("namespace") {
                    "" => self.namespace.as_str(),
                    ns => ns,
                };
                format!("ServiceAccount \"{}/{ns}\"", text("name"))
            }
            kind => format!("{kind} \"{}\"", text("name")),
        };
        let binding = if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.name, self.namespace)
        };
        format!(
            "{} \"{binding}\" of {} \"{}\" to {who}",
            self.kind, self.role_kind, self.role_name
        )
    }
}

fn resource_index(plural: &str) -> usize {
    let group = "rbac.authorization.k8s.io";
    discovery::find(group, "v1", plural).expect("RBAC resources are served")
}

fn stored(store: &Store, plural: &str, namespace: Option<&str>) -> Vec<Value> {
    store
        .list(
            resource_index(plural),
            namespace,
            &|_| true,
            None,
            None,
            None,
        )
        .map(|p| p.items.iter().map(|o| o.value()).collect())
        .unwrap_or_default()
}

/// The bindings that may apply to a request in `namespace` (`None`: every
/// namespace), ClusterRoleBindings first, as kube visits them.
fn bindings(store: &Store, namespace: Option<&str>) -> Vec<Binding> {
    let mut all: Vec<Binding> = stored(store, "clusterrolebindings", None)
        .iter()
        .map(|o| Binding::read("ClusterRoleBinding", o))
        .collect();
    if namespace != Some("") {
        all.extend(
            stored(store, "rolebindings", namespace)
                .iter()
                .map(|o| Binding::read("RoleBinding", o)),
        );
    }
    all
}

/// The rules of a binding's role, or kube's error when it is missing.
fn role_rules(store: &Store, binding: &Binding) -> Result<Vec<Value>, String> {
    let (plural, namespace, kind) = match binding.role_kind.as_str() {
        "Role" if !binding.namespace.is_empty() => ("roles", binding.namespace.as_str(), "role"),
        "ClusterRole" => ("clusterroles", "", "clusterrole"),
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    let key = super::store::Key {
        resource: resource_index(plural),
        namespace: namespace.to_string(),
        name: binding.role_name.clone(),
    };
    match store.get(&key) {
        Some(role) => Ok(role
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()),
        None => Err(format!(
            "{kind}.rbac.authorization.k8s.io \"{}\" not found",
            binding.role_name
        )),
    }
}

fn strings(rule: &Value, key: &str) -> Vec<String> {
    rule.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// kube's `RuleAllows`.
pub(crate) fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let has = |key: &str, want: &str| strings(rule, key).iter().any(|v| v == "*" || v == want);
    if !has("verbs", &attrs.verb) {
        return false;
    }
    if !attrs.resource_request {
        return strings(rule, "nonResourceURLs").iter().any(|url| {
            url == "*"
                || *url == attrs.path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| attrs.path.starts_with(prefix))
        });
    }
    let combined = attrs.combined_resource();
    let resource_matches = strings(rule, "resources").iter().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let names = strings(rule, "resourceNames");
    has("apiGroups", &attrs.api_group)
        && resource_matches
        && (names.is_empty() || names.contains(&attrs.name))
}

/// kube-apiserver's authorizer chain: `system:masters` first, then RBAC.
pub(crate) fn authorize(store: &Store, who: &Identity, attrs: &Attributes) -> Decision {
    if who.groups.iter().any(|g| g == MASTERS) {
        return Decision {
            allowed: true,
            grant: None,
            reason: String::new(),
        };
    }
    let namespace = attrs.namespace.as_str();
    let mut errors = Vec::new();
    for binding in bindings(store, Some(namespace)) {
        let Some(subject) = binding.subject_for(who) else {
            continue;
        };
        let rules = match role_rules(store, &binding) {
            Ok(rules) => rules,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(index) = rules.iter().position(|r| rule_allows(r, attrs)) {
            return Decision {
                allowed: true,
                grant: Some(Grant {
                    binding: binding.label(),
                    role: binding.role_label(),
                    rule: index,
                }),
                reason: format!("RBAC: allowed by {}", binding.describe(subject)),
            };
        }
    }
    let reason = match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision {
        allowed: false,
        grant: None,
        reason,
    }
}

/// kube's `403`: `pods "x" is forbidden: User "u" cannot get resource
/// "pods" in API group "" in the namespace "ns"`, or `forbidden: User "u"
/// cannot get path "/foo"`, with kube's `details`.
pub(crate) fn forbidden(user: &str, attrs: &Attributes, reason: &str) -> ApiError {
    let mut message = if !attrs.resource_request {
        format!("User {user:?} cannot {} path {:?}", attrs.verb, attrs.path)
    } else {
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", attrs.namespace)
        };
        format!(
            "User {user:?} cannot {} resource {:?} in API group {:?} {scope}",
            attrs.verb,
            attrs.combined_resource(),
            attrs.api_group
        )
    };
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    let qualified = match (attrs.resource.as_str(), attrs.api_group.as_str()) {
        ("", _) => String::new(),
        (r, "") => r.to_string(),
        (r, g) => format!("{r}.{g}"),
    };
    let message = match (qualified.is_empty(), attrs.name.is_empty()) {
        (true, _) => format!("forbidden: {message}"),
        (false, true) => format!("{qualified} is forbidden: {message}"),
        (false, false) => format!("{qualified} {:?} is forbidden: {message}", attrs.name),
    };
    let mut details = serde_json::Map::new();
    if !attrs.name.is_empty() {
        details.insert("name".into(), json!(attrs.name));
    }
    if !attrs.api_group.is_empty() {
        details.insert("group".into(), json!(attrs.api_group));
    }
    if !attrs.resource.is_empty() {
        details.insert("kind".into(), json!(attrs.resource));
    }
    let mut err = ApiError::new(403, "Forbidden", message);
    err.details = Some(Value::Object(details));
    err
}

/// The impersonation checks of a request, for the record.
pub(crate) type Checks = Vec<(Attributes, Decision)>;

/// The identity a request acts as: its own, or the one it impersonates
/// (`Impersonate-User`, `Impersonate-Group`), each impersonation authorized
/// with the `impersonate` verb as kube's impersonation filter does. The
/// checks are returned for the record.
pub(crate) fn impersonate(
    store: &Store,
    who: &Identity,
    user: Option<&str>,
    groups: &[String],
) -> Result<(Identity, Checks), (ApiError, Checks)> {
    let Some(user) = user else {
        if groups.is_empty() {
            return Ok((who.clone(), Vec::new()));
        }
        let err = ApiError::bad_request(format!(
            "requested [{}] without impersonating a user",
            groups
                .iter()
                .map(|g| format!("{{Group {g}  }}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        return Err((err, Vec::new()));
    };
    let mut checks = Vec::new();
    let mut ask = |resource: &str, namespace: &str, name: &str| {
        let attrs = Attributes {
            verb: "impersonate".into(),
            resource_request: true,
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Attributes::default()
        };
        let decision = authorize(store, who, &attrs);
        let result = if decision.allowed {
            Ok(())
        } else {
            Err(forbidden(&who.user, &attrs, &decision.reason))
        };
        checks.push((attrs, decision));
        result
    };
    let as_sa = user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'));
    let checked = match as_sa {
        Some((ns, name)) => ask("serviceaccounts", ns, name),
        None => ask("users", "", user),
    }
    .and_then(|()| groups.iter().try_for_each(|g| ask("groups", "", g)));
    if let Err(e) = checked {
        return Err((e, checks));
    }
    let mut acting = match (as_sa, groups.is_empty()) {
        (Some((ns, name)), true) => Identity::service_account(ns, name),
        _ => Identity {
            user: user.to_string(),
            groups: groups.to_vec(),
        },
    };
    if user != "system:anonymous" && !acting.groups.iter().any(|g| g == AUTHENTICATED) {
        acting.groups.push(AUTHENTICATED.to_string());
    }
    Ok((acting, checks))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the review
/// with its `status`, from the same authorizer.
pub(crate) fn self_subject_access_review(
    store: &Store,
    who: &Identity,
    mut review: Value,
) -> Result<Value, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let attrs = if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: text(r, "verb"),
            resource_request: true,
            api_group: text(r, "group"),
            api_version: text(r, "version"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            namespace: text(r, "namespace"),
            name: text(r, "name"),
            path: String::new(),
        }
    } else if let Some(n) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: text(n, "verb"),
            path: text(n, "path"),
            ..Attributes::default()
        }
    } else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: \
             [spec.resourceAttributes: Invalid value: \"null\": exactly one of \
             nonResourceAttributes or resourceAttributes must be specified, \
             spec.nonResourceAttributes: Invalid value: \"null\": exactly one of \
             nonResourceAttributes or resourceAttributes must be specified]",
        ));
    };
    let decision = authorize(store, who, &attrs);
    let mut status = json!({ "allowed": decision.allowed });
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    let Some(map) = review.as_object_mut() else {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    };
    map.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
    map.insert("kind".into(), json!("SelfSubjectAccessReview"));
    map.insert("metadata".into(), json!({ "creationTimestamp": null }));
    map.insert("status".into(), status);
    Ok(review)
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: every
/// rule that applies to the requester in `spec.namespace` (ClusterRoleBindings
/// and that namespace's RoleBindings), as `kubectl auth can-i --list` shows
/// them; bindings to missing roles make it `incomplete`, with kube's
/// `evaluationError`.
pub(crate) fn self_subject_rules_review(
    store: &Store,
    who: &Identity,
    mut review: Value,
) -> Result<Value, ApiError> {
    let namespace = review
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (mut resource_rules, mut non_resource_rules, mut errors) = (vec![], vec![], vec![]);
    for binding in bindings(store, Some(&namespace)) {
        if binding.subject_for(who).is_none() {
            continue;
        }
        match role_rules(store, &binding) {
            Ok(rules) => {
                for rule in rules {
                    let list = |k: &str| json!(strings(&rule, k));
                    if !strings(&rule, "resources").is_empty() {
                        let mut r = json!({ "verbs": list("verbs"), "apiGroups": list("apiGroups"),
                            "resources": list("resources") });
                        if !strings(&rule, "resourceNames").is_empty() {
                            r["resourceNames"] = list("resourceNames");
                        }
                        resource_rules.push(r);
                    }
                    if !strings(&rule, "nonResourceURLs").is_empty() {
                        non_resource_rules.push(json!({ "verbs": list("verbs"),
                            "nonResourceURLs": list("nonResourceURLs") }));
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    let Some(map) = review.as_object_mut() else {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    };
    map.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
    map.insert("kind".into(), json!("SelfSubjectRulesReview"));
    map.insert("metadata".into(), json!({ "creationTimestamp": null }));
    map.insert("status".into(), status);
    Ok(review)
}

/// The grants bound to `who` (not through `system:authenticated`, which
/// every user has) that no allowed request in `history` used: one line per
/// verb and resource (or path), e.g. `get secrets (ClusterRole tagwarden)`.
pub(crate) fn unused_grants(
    store: &Store,
    who: &Identity,
    history: &[Authorization],
) -> Vec<String> {
    let mut unused = Vec::new();
    for binding in bindings(store, None) {
        let Some(subject) = binding.subject_for(who) else {
            continue;
        };
        if subject.get("kind").and_then(Value::as_str) == Some("Group")
            && subject.get("name").and_then(Value::as_str) == Some(AUTHENTICATED)
        {
            continue;
        }
        let Ok(rules) = role_rules(store, &binding) else {
            continue;
        };
        let used_by = |index: usize| -> Vec<&Authorization> {
            history
                .iter()
                .filter(|a| {
                    a.allowed
                        && a.user == who.user
                        && a.granted_by.as_ref().is_some_and(|g| {
                            g.binding == binding.label()
                                && g.role == binding.role_label()
                                && g.rule == index
                        })
                })
                .collect()
        };
        for (index, rule) in rules.iter().enumerate() {
            let used = used_by(index);
            for (verb, what, single) in rule_items(rule) {
                let hit = used.iter().any(|a| {
                    let attrs = Attributes {
                        verb: a.verb.clone(),
                        resource_request: !a.resource.is_empty(),
                        api_group: a.api_group.clone(),
                        resource: a.resource.clone(),
                        subresource: a.subresource.clone(),
                        name: a.name.clone(),
                        path: a.path.clone(),
                        ..Attributes::default()
                    };
                    rule_allows(&single, &attrs)
                });
                if !hit {
                    let scope = if binding.namespace.is_empty() {
                        String::new()
                    } else {
                        format!(" in namespace {}", binding.namespace)
                    };
                    unused.push(format!("{verb} {what}{scope} ({})", binding.role_label()));
                }
            }
        }
    }
    unused
}

/// A rule split into one-verb, one-resource (or one-path) rules, each with
/// its human name: `(verb, "secrets \"regcred\"", rule)`.
fn rule_items(rule: &Value) -> Vec<(String, String, Value)> {
    let names = strings(rule, "resourceNames");
    let mut items = Vec::new();
    for verb in strings(rule, "verbs") {
        for url in strings(rule, "nonResourceURLs") {
            let single = json!({ "verbs": [verb], "nonResourceURLs": [url] });
            items.push((verb.clone(), url, single));
        }
        for group in strings(rule, "apiGroups") {
            for resource in strings(rule, "resources") {
                let mut what = match group.as_str() {
                    "" => resource.clone(),
                    g => format!("{resource}.{g}"),
                };
                if !names.is_empty() {
                    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                    what = format!("{what} {}", quoted.join(", "));
                }
                let single = json!({
                    "verbs": [verb], "apiGroups": [group], "resources": [resource],
                    "resourceNames": names,
                });
                items.push((verb.clone(), what, single));
            }
        }
    }
    items
}

/// The bootstrap policy every cluster has (kube's `bootstrappolicy`): the
/// ClusterRoles and ClusterRoleBindings that give `system:masters` all,
/// and every authenticated user discovery, `/version`, `/healthz` and
/// self-reviews.
pub(crate) fn bootstrap_policy() -> Vec<Value> {
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let roles: BTreeMap<&str, Value> = BTreeMap::from([
        (
            "cluster-admin",
            json!([
                { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] },
                { "nonResourceURLs": ["*"], "verbs": ["*"] },
            ]),
        ),
        (
            "system:discovery",
            json!([{ "nonResourceURLs": discovery_urls, "verbs": ["get"] }]),
        ),
        (
            "system:public-info-viewer",
            json!([{ "nonResourceURLs": public_urls, "verbs": ["get"] }]),
        ),
        (
            "system:basic-user",
            json!([
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"],
                    "verbs": ["create"],
                },
            ]),
        ),
    ]);
    let metadata = |name: &str| {
        json!({
            "name": name,
            "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" },
            "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
        })
    };
    let group = |name: &str| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name });
    let mut objects = Vec::new();
    for (name, rules) in roles {
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": metadata(name), "rules": rules,
        }));
        let subjects = match name {
            "cluster-admin" => json!([group(MASTERS)]),
            "system:public-info-viewer" => {
                json!([group(AUTHENTICATED), group("system:unauthenticated")])
            }
            _ => json!([group(AUTHENTICATED)]),
        };
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": metadata(name),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name },
            "subjects": subjects,
        }));
    }
    objects
}

/// How the `forbid` switch names a request's resource: `secrets`,
/// `leases.coordination.k8s.io`.
pub(crate) fn qualified_name(attrs: &Attributes) -> String {
    if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    }
}

/// Authenticate and authorize one request, as kube-apiserver's filters do
/// before any handler: `401` without a known bearer token; impersonation;
/// then RBAC (and the test's [`crate::ApiServer::forbid`] switch on top),
/// `403` when denied. Every decision is recorded. Returns who acts.
pub(crate) fn admit_request<B>(
    inner: &Inner,
    req: &hyper::Request<B>,
    query: &[(String, String)],
) -> Result<Identity, ApiError> {
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let token = header("authorization").into_iter().next().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let who = token
        .and_then(|t| lock(&inner.tokens).get(&t).cloned())
        .ok_or_else(|| ApiError::new(401, "Unauthorized", "Unauthorized"))?;
    let path = req.uri().path();
    let impersonated_user = header("impersonate-user").into_iter().next();
    let impersonated_groups = header("impersonate-group");
    let acting = match impersonate(
        &inner.store,
        &who,
        impersonated_user.as_deref(),
        &impersonated_groups,
    ) {
        Ok((acting, checks)) => {
            record_all(inner, &who, path, checks);
            acting
        }
        Err((e, checks)) => {
            record_all(inner, &who, path, checks);
            return Err(e);
        }
    };
    let attrs = Attributes::of_request(req.method().as_str(), path, query);
    let mut decision = authorize(&inner.store, &acting, &attrs);
    if decision.allowed
        && attrs.resource_request
        && lock(&inner.forbidden).contains(&qualified_name(&attrs))
    {
        decision = Decision {
            allowed: false,
            grant: None,
            reason: String::new(),
        };
        let denied = forbidden(&acting.user, &attrs, "");
        record(
            inner,
            &acting,
            &attrs,
            decision,
            "forbidden by ApiServer::forbid",
        );
        return Err(denied);
    }
    if decision.allowed {
        record(inner, &acting, &attrs, decision, "");
        Ok(acting)
    } else {
        let denied = forbidden(&acting.user, &attrs, &decision.reason);
        record(inner, &acting, &attrs, decision, "");
        Err(denied)
    }
}

fn record_all(inner: &Inner, who: &Identity, path: &str, checks: Checks) {
    for (mut attrs, decision) in checks {
        attrs.path = path.to_string();
        record(inner, who, &attrs, decision, "");
    }
}

fn record(inner: &Inner, who: &Identity, attrs: &Attributes, decision: Decision, why: &str) {
    let reason = match (why, decision.reason.as_str(), decision.allowed) {
        ("", "", true) => "allowed: system:masters bypasses authorization".to_string(),
        ("", "", false) => "RBAC: no rule allows it".to_string(),
        ("", reason, _) => reason.to_string(),
        (why, _, _) => why.to_string(),
    };
    lock(&inner.authorizations).push(Authorization {
        user: who.user.clone(),
        groups: who.groups.clone(),
        verb: attrs.verb.clone(),
        api_group: attrs.api_group.clone(),
        resource: attrs.resource.clone(),
        subresource: attrs.subresource.clone(),
        namespace: attrs.namespace.clone(),
        name: attrs.name.clone(),
        path: attrs.path.clone(),
        allowed: decision.allowed,
        granted_by: decision.grant,
        reason,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Attributes::of_request(method, path, &query)
    }

    #[test]
    fn request_attributes_follow_kubes_request_info() {
        let a = attrs("GET", "/api/v1/namespaces/shop/pods", &[]);
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()),
            ("list", "pods", "shop")
        );
        let a = attrs("GET", "/api/v1/pods", &[("watch", "true")]);
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", ""));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/shop/pods",
            &[("fieldSelector", "metadata.name=web")],
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("list", "web"));
        let a = attrs("GET", "/api/v1/namespaces/shop/pods/web/log", &[]);
        assert_eq!(
            (a.combined_resource().as_str(), a.name.as_str()),
            ("pods/log", "web")
        );
        let a = attrs("GET", "/api/v1/namespaces/shop", &[]);
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "shop", "shop")
        );
        let a = attrs("DELETE", "/apis/apps/v1/namespaces/shop/deployments", &[]);
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str()),
            ("deletecollection", "apps")
        );
        let a = attrs("GET", "/apis/apps/v1", &[]);
        assert!(!a.resource_request);
        assert_eq!(a.verb, "get");
    }

    #[test]
    fn rules_match_as_rule_allows_does() {
        let rule = json!({
            "apiGroups": ["", "apps"], "resources": ["pods", "pods/status", "*/scale"],
            "verbs": ["get", "list"],
        });
        let mut a = attrs("GET", "/api/v1/namespaces/shop/pods/web", &[]);
        assert!(rule_allows(&rule, &a));
        a.verb = "delete".into();
        assert!(!rule_allows(&rule, &a));
        let a = attrs(
            "GET",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            &[],
        );
        assert!(rule_allows(&rule, &a));
        let a = attrs("GET", "/api/v1/namespaces/shop/pods/web/log", &[]);
        assert!(!rule_allows(&rule, &a));
        let named = json!({ "apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"], "resourceNames": ["regcred"] });
        assert!(rule_allows(
            &named,
            &attrs("GET", "/api/v1/namespaces/p/secrets/regcred", &[])
        ));
        assert!(!rule_allows(
            &named,
            &attrs("GET", "/api/v1/namespaces/p/secrets", &[])
        ));
        let urls = json!({ "nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"] });
        assert!(rule_allows(&urls, &attrs("GET", "/apis/apps", &[])));
        assert!(rule_allows(&urls, &attrs("GET", "/version", &[])));
        assert!(!rule_allows(&urls, &attrs("GET", "/metrics", &[])));
    }

    #[test]
    fn denials_are_worded_as_kube_apiserver_words_them() {
        let user = "system:serviceaccount:tagwarden:tagwarden";
        let a = attrs("GET", "/apis/events.k8s.io/v1/events", &[]);
        assert_eq!(
            forbidden(user, &a, "").message,
            "events.events.k8s.io is forbidden: User \"system:serviceaccount:tagwarden:tagwarden\" \
             cannot list resource \"events\" in API group \"events.k8s.io\" at the cluster scope"
        );
        let a = attrs("GET", "/api/v1/namespaces/payments/secrets/regcred", &[]);
        let e = forbidden(user, &a, "");
        assert_eq!(
            e.message,
            "secrets \"regcred\" is forbidden: User \"system:serviceaccount:tagwarden:tagwarden\" \
             cannot get resource \"secrets\" in API group \"\" in the namespace \"payments\""
        );
        assert_eq!(
            e.details,
            Some(json!({ "name": "regcred", "kind": "secrets" }))
        );
        let a = attrs("GET", "/foo", &[]);
        assert_eq!(
            forbidden("u", &a, "").message,
            "forbidden: User \"u\" cannot get path \"/foo\""
        );
    }
}
