//! The resources the test API server serves, and the discovery documents
//! built from that one table, in the shapes a v1.32 server returns:
//!
//! - `/api` → `APIVersions`; `/apis` → `APIGroupList`; `/apis/{group}` →
//!   `APIGroup`; `/api/v1`, `/apis/{group}/{version}` → `APIResourceList`;
//! - aggregated discovery (KEP-3352): `/api` and `/apis` answer
//!   `APIGroupDiscoveryList` (`apidiscovery.k8s.io/v2`, or `v2beta1` for
//!   clients up to 1.29) when the `Accept` header asks for it, with the
//!   matching `Content-Type`, exactly as clients detect it. A client that does
//!   not ask gets the legacy documents.
//!
//! Left out on purpose: subresources (`pods/status`, `pods/log`,
//! `deployments/scale`, …) and `storageVersionHash`, which none of our
//! clients read; every resource of the served groups that tagwarden does not
//! need (ingresses, …), and of `authorization.k8s.io` all but
//! `selfsubjectaccessreviews` and `selfsubjectrulesreviews`.

use serde_json::{Value, json};

/// One resource type.
#[derive(Debug)]
pub(crate) struct Resource {
    /// `""` for the core group.
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    /// Plural, lower case: the path segment (`deployments`).
    pub(crate) plural: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) namespaced: bool,
    pub(crate) verbs: &'static [&'static str],
    pub(crate) short_names: &'static [&'static str],
    /// `["all"]` for the kinds `kubectl get all` shows.
    pub(crate) categories: &'static [&'static str],
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`: how RBAC and error messages name it.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn legacy_entry(&self) -> Value {
        let mut v = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            v["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            v["categories"] = json!(self.categories);
        }
        v
    }

    fn aggregated_entry(&self) -> Value {
        let mut v = json!({
            "resource": self.plural,
            "responseKind": { "group": self.group, "version": self.version, "kind": self.kind },
            "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": self.singular,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            v["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            v["categories"] = json!(self.categories);
        }
        v
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const fn res(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
) -> Resource {
    Resource {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        verbs: RW,
        short_names,
        categories,
    }
}

const ALL: &[&str] = &["all"];

/// Every served resource. Order is discovery order within a group.
pub(crate) static RESOURCES: &[Resource] = &[
    Resource {
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        ..res(
            "",
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &["ns"],
            &[],
        )
    },
    res("", "nodes", "node", "Node", false, &["no"], &[]),
    res("", "pods", "pod", "Pod", true, &["po"], ALL),
    res("", "secrets", "secret", "Secret", true, &[], &[]),
    res(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
    ),
    res(
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
    ),
    res("", "services", "service", "Service", true, &["svc"], ALL),
    res(
        "",
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        true,
        &["rc"],
        ALL,
    ),
    res("", "events", "event", "Event", true, &["ev"], &[]),
    res(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        ALL,
    ),
    res(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        ALL,
    ),
    res(
        "apps",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        ALL,
    ),
    res(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        ALL,
    ),
    res("batch", "jobs", "job", "Job", true, &[], ALL),
    res(
        "batch",
        "cronjobs",
        "cronjob",
        "CronJob",
        true,
        &["cj"],
        ALL,
    ),
    res(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        "MutatingWebhookConfiguration",
        false,
        &[],
        &["api-extensions"],
    ),
    res(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        &["api-extensions"],
    ),
    res(
        "events.k8s.io",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        &[],
    ),
    res(
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
        &[],
    ),
    // Not stored: answered by the authorizer (`rbac.rs`).
    Resource {
        verbs: &["create"],
        ..res(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
            &[],
            &[],
        )
    },
    Resource {
        verbs: &["create"],
        ..res(
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            "SelfSubjectRulesReview",
            false,
            &[],
            &[],
        )
    },
];

/// The groups other than core, in the order `/apis` lists them.
pub(crate) const GROUPS: &[&str] = &[
    "apps",
    "events.k8s.io",
    "authorization.k8s.io",
    "batch",
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
    "coordination.k8s.io",
];

/// The index in [`RESOURCES`] of `plural` in `group/version`.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The index of the resource for an object's `apiVersion` and `kind`.
pub(crate) fn find_kind(api_version: &str, kind: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.api_version() == api_version && r.kind == kind)
}

/// `/api`: the legacy `APIVersions`.
pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            { "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }
        ],
    })
}

fn group_versions(group: &str) -> Value {
    json!({ "groupVersion": format!("{group}/v1"), "version": "v1" })
}

/// `/apis/{group}`: an `APIGroup`.
pub(crate) fn api_group(group: &str) -> Option<Value> {
    GROUPS.contains(&group).then(|| {
        json!({
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": [group_versions(group)],
            "preferredVersion": group_versions(group),
        })
    })
}

/// `/apis`: the legacy `APIGroupList`.
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            json!({
                "name": g,
                "versions": [group_versions(g)],
                "preferredVersion": group_versions(g),
            })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/api/v1` or `/apis/{group}/{version}`: an `APIResourceList`, `None` for
/// a group version that is not served.
pub(crate) fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(Resource::legacy_entry)
        .collect();
    if resources.is_empty() {
        return None;
    }
    Some(if group.is_empty() {
        // The core list has no apiVersion, as the real one.
        json!({ "kind": "APIResourceList", "groupVersion": version, "resources": resources })
    } else {
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": format!("{group}/{version}"),
            "resources": resources,
        })
    })
}

/// The aggregated `APIGroupDiscoveryList` of `/api` (`core`) or `/apis`.
/// `version` is `v2` or `v2beta1` (same shape).
pub(crate) fn aggregated(core: bool, version: &str) -> Value {
    let item = |group: &str| {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.group == group)
            .map(Resource::aggregated_entry)
            .collect();
        let mut metadata = json!({ "creationTimestamp": null });
        if !group.is_empty() {
            metadata["name"] = json!(group);
        }
        json!({
            "metadata": metadata,
            "versions": [{ "version": "v1", "resources": resources, "freshness": "Current" }],
        })
    };
    let items: Vec<Value> = if core {
        vec![item("")]
    } else {
        GROUPS.iter().map(|g| item(g)).collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// `group/version` path segments as OpenAPI v3 names them: `api/v1`,
/// `apis/apps/v1`.
fn openapi_gv_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".to_string()
    } else {
        format!("apis/{group}/v1")
    }
}

/// `/openapi/v3`: the index of the per-group-version documents.
///
/// Only what kubectl reads: since 1.27 `kubectl create`/`replace`/`apply`
/// look here to learn whether the server validates fields itself
/// (`fieldValidation`); when it does, they skip client-side validation,
/// which would need the whole `/openapi/v2` schema.
pub(crate) fn openapi_v3_index(hash: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for group in std::iter::once("").chain(GROUPS.iter().copied()) {
        let gv = openapi_gv_path(group);
        paths.insert(
            gv.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}") }),
        );
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/{api/v1|apis/G/V}`: an OpenAPI 3 document whose operations
/// are the `patch` of each resource, with its group-version-kind and the
/// `fieldValidation` parameter (no schemas: objects are not validated).
pub(crate) fn openapi_v3_document(gv_path: &str) -> Option<Value> {
    let resources: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| openapi_gv_path(r.group) == gv_path)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for r in resources.into_iter().filter(|r| r.verbs.contains(&"patch")) {
        let path = if r.namespaced {
            format!("/{gv_path}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/{gv_path}/{}/{{name}}", r.plural)
        };
        let param = |name: &str| json!({ "name": name, "in": "query", "schema": { "type": "string", "uniqueItems": true } });
        paths.insert(
            path,
            json!({
                "patch": {
                    "description": format!("partially update the specified {}", r.kind),
                    "operationId": format!("patch{}", r.kind),
                    "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
                    "responses": { "200": { "description": "OK" } },
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": { "group": r.group, "version": r.version, "kind": r.kind },
                },
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.32.1" },
        "paths": paths,
        "components": {},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_resources_and_every_resource_a_group() {
        for g in GROUPS {
            assert!(api_resource_list(g, "v1").is_some(), "{g}");
        }
        for r in RESOURCES {
            assert!(
                r.group.is_empty() || GROUPS.contains(&r.group),
                "{}",
                r.plural
            );
            assert_eq!(
                find(r.group, r.version, r.plural).map(|i| &RESOURCES[i].kind),
                Some(&r.kind)
            );
        }
        assert_eq!(
            find_kind("apps/v1", "Deployment"),
            find("apps", "v1", "deployments")
        );
        assert_ne!(
            find_kind("v1", "Event"),
            find_kind("events.k8s.io/v1", "Event")
        );
    }
}
