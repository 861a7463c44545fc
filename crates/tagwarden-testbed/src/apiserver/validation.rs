//! What kube-apiserver refuses before it stores anything, worded as it
//! words it:
//!
//! - a body in a media type it cannot read (this server reads JSON, YAML in
//!   its JSON form, and protobuf for a few kinds, see `protobuf.rs`):
//!   `415 UnsupportedMediaType`
//!   ("the body of the request was in an unknown format - accepted media
//!   types include: …"); a body that is not JSON: `400 BadRequest`;
//! - a write into a namespace that does not exist: `404 namespaces "x" not
//!   found` (the `NamespaceLifecycle` admission plugin);
//! - an invalid name: `422 Invalid` with the validation message of its kind
//!   (RFC 1123 subdomain for most, RFC 1123 label for Namespaces, RFC 1035
//!   label for Services, a path segment for RBAC objects);
//! - field selectors on fields a kind does not have: `400` ("field label not
//!   supported: spec.foo"), with the per-kind lists of kube's field label
//!   conversion functions, and the values as kube's selectable field sets
//!   compute them (booleans `"true"`/`"false"`, counts as numbers).

use serde_json::{Value, json};

use super::discovery::{self, Resource};
use super::protobuf;
use super::store::{ApiError, Key, Store};

/// The media types `POST` and `PUT` bodies may have here (kube-apiserver
/// also reads protobuf, which this server does not).
const BODY_TYPES: &[&str] = &["application/json", "application/yaml"];

/// The media types of `PATCH`, in kube's order.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fn unsupported_media_type(accepted: &[&str]) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
}

/// `415` unless `content_type` (without parameters; missing means JSON) is
/// one a `verb` body of `kind` may have (protobuf: only the kinds of
/// [`protobuf::KINDS`]).
pub(crate) fn check_content_type(
    verb: &str,
    content_type: Option<&str>,
    kind: &str,
) -> Result<(), ApiError> {
    let media = media_type(content_type);
    if verb != "patch" && media.as_deref() == Some(PROTOBUF) && protobuf::KINDS.contains(&kind) {
        return Ok(());
    }
    let accepted = if verb == "patch" {
        PATCH_TYPES
    } else {
        BODY_TYPES
    };
    match media {
        None if verb != "patch" => Ok(()),
        Some(m) if accepted.contains(&m.as_str()) => Ok(()),
        _ => Err(unsupported_media_type(accepted)),
    }
}

/// A request body as JSON; YAML is read only in its JSON form (JSON is
/// YAML), protobuf only for a few kinds; anything else is kube's `400`.
pub(crate) fn parse_body(bytes: &[u8], content_type: Option<&str>) -> Result<Value, ApiError> {
    if media_type(content_type).as_deref() == Some(PROTOBUF) {
        return protobuf::decode(bytes).map_err(ApiError::bad_request);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: {e} \
             (the test API server reads JSON, and YAML only in its JSON form)"
        ))
    })
}

/// `404 namespaces "x" not found` for a write into a namespace that does not
/// exist, as the `NamespaceLifecycle` admission plugin answers. A server
/// that holds no Namespace at all (started `empty()` and filled piecemeal)
/// does not check.
pub(crate) fn check_namespace_exists(store: &Store, namespace: &str) -> Result<(), ApiError> {
    let namespaces = discovery::find("", "v1", "namespaces").expect("namespaces are served");
    let key = Key {
        resource: namespaces,
        namespace: String::new(),
        name: namespace.to_string(),
    };
    if store.contains(&key) {
        return Ok(());
    }
    let any = store
        .list(namespaces, None, &|_| true, None, None, Some(1))
        .is_ok_and(|p| !p.items.is_empty());
    if !any {
        return Ok(());
    }
    Err(ApiError::not_found(
        &discovery::RESOURCES[namespaces],
        namespace,
    ))
}

const SUBDOMAIN_REGEX: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const LABEL_REGEX: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1035_REGEX: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";

fn is_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// kube's `IsDNS1123Subdomain`, `IsDNS1123Label`, `IsDNS1035Label`,
/// `IsValidPathSegmentName`: the messages of a name that is not valid.
fn name_errors(res: &Resource, name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    match (res.group, res.plural) {
        ("rbac.authorization.k8s.io", _) => {
            if name == "." || name == ".." {
                errors.push(format!("may not be '{name}'"));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    errors.push(format!("may not contain '{bad}'"));
                }
            }
        }
        ("", "namespaces") => {
            if name.len() > 63 {
                errors.push("must be no more than 63 characters".to_string());
            }
            if !is_label(name) {
                errors.push(format!(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric \
                     characters or '-', and must start and end with an alphanumeric character \
                     (e.g. 'my-name',  or '123-abc', regex used for validation is '{LABEL_REGEX}')"
                ));
            }
        }
        ("", "services") => {
            if name.len() > 63 {
                errors.push("must be no more than 63 characters".to_string());
            }
            if !is_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                errors.push(format!(
                    "a DNS-1035 label must consist of lower case alphanumeric characters or \
                     '-', start with an alphabetic character, and end with an alphanumeric \
                     character (e.g. 'my-name',  or 'abc-123', regex used for validation is \
                     '{DNS1035_REGEX}')"
                ));
            }
        }
        _ => {
            if name.len() > 253 {
                errors.push("must be no more than 253 characters".to_string());
            }
            if !name.split('.').all(is_label) {
                errors.push(format!(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                     characters, '-' or '.', and must start and end with an alphanumeric \
                     character (e.g. 'example.com', regex used for validation is \
                     '{SUBDOMAIN_REGEX}')"
                ));
            }
        }
    }
    errors
}

/// `422 Invalid` for an object whose name (or namespace) its kind does not
/// accept: `Pod "Bad_Name" is invalid: metadata.name: Invalid value:
/// "Bad_Name": a lowercase RFC 1123 subdomain must …`.
pub(crate) fn check_object(res: &Resource, object: &Value) -> Result<(), ApiError> {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str);
    let name = text("/metadata/name").unwrap_or_default();
    let mut causes = Vec::new();
    if !name.is_empty() {
        for e in name_errors(res, name) {
            causes.push(("metadata.name", name, e));
        }
    }
    if res.namespaced
        && let Some(ns) = text("/metadata/namespace")
    {
        let namespaces = &discovery::RESOURCES
            [discovery::find("", "v1", "namespaces").expect("namespaces are served")];
        for e in name_errors(namespaces, ns) {
            causes.push(("metadata.namespace", ns, e));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = causes
        .iter()
        .map(|(field, value, e)| format!("{field}: Invalid value: {value:?}: {e}"))
        .collect();
    let joined = if lines.len() == 1 {
        lines[0].clone()
    } else {
        format!("[{}]", lines.join(", "))
    };
    let mut err = ApiError::new(
        422,
        "Invalid",
        format!("{} {name:?} is invalid: {joined}", res.kind),
    );
    let causes: Vec<Value> = causes
        .iter()
        .map(|(field, value, e)| {
            json!({
                "reason": "FieldValueInvalid",
                "message": format!("Invalid value: {value:?}: {e}"),
                "field": field,
            })
        })
        .collect();
    let mut details = json!({ "name": name, "kind": res.kind, "causes": causes });
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    err.details = Some(details);
    Err(err)
}

/// What kube's create strategies set on a new object that matters to
/// clients: a Namespace is `Active`, with the `kubernetes` finalizer.
pub(crate) fn prepare_for_create(res: &Resource, object: &mut Value) {
    if res.group.is_empty() && res.kind == "Namespace" {
        object["status"] = json!({ "phase": "Active" });
        if object.pointer("/spec/finalizers").is_none() {
            object["spec"]["finalizers"] = json!(["kubernetes"]);
        }
    }
}

/// The field labels a kind's `fieldSelector` accepts (kube's field label
/// conversion functions; the default is `metadata.name`, `metadata.namespace`).
pub(crate) fn field_labels(res: &Resource) -> Vec<&'static str> {
    let meta: &[&'static str] = &["metadata.name", "metadata.namespace"];
    let specific: &[&'static str] = match (res.group, res.kind) {
        ("", "Node") => return vec!["metadata.name", "spec.unschedulable"],
        ("", "Namespace") => return vec!["metadata.name", "status.phase"],
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "Secret") => &["type"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    };
    meta.iter().chain(specific).copied().collect()
}

/// The value of a field label on an object, as kube's selectable field set
/// holds it (`""` when the field is unset).
pub(crate) fn field_value(object: &Value, label: &str) -> String {
    let at = |p: &str| object.pointer(p);
    let text = |p: &str| {
        at(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let count = |p: &str| at(p).and_then(Value::as_i64).unwrap_or(0).to_string();
    let flag = |p: &str| at(p).and_then(Value::as_bool).unwrap_or(false).to_string();
    match label {
        "spec.hostNetwork" => flag("/spec/hostNetwork"),
        "spec.unschedulable" => flag("/spec/unschedulable"),
        "status.replicas" => count("/status/replicas"),
        "status.successful" => count("/status/succeeded"),
        "status.podIP" => match text("/status/podIP") {
            ip if ip.is_empty() => text("/status/podIPs/0/ip"),
            ip => ip,
        },
        "source" => match text("/source/component") {
            s if s.is_empty() => text("/reportingComponent"),
            s => s,
        },
        _ => text(&format!("/{}", label.replace('.', "/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(plural: &str) -> &'static Resource {
        let group = if plural == "deployments" { "apps" } else { "" };
        &discovery::RESOURCES[discovery::find(group, "v1", plural).unwrap()]
    }

    #[test]
    fn names_are_validated_per_kind() {
        let err =
            check_object(res("pods"), &json!({ "metadata": { "name": "Bad_Name" } })).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase \
             RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com', regex \
             used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        for ok in ["web", "web-1.shop", "0a"] {
            assert!(
                check_object(res("deployments"), &json!({ "metadata": { "name": ok } })).is_ok()
            );
        }
        let ns = check_object(res("namespaces"), &json!({ "metadata": { "name": "a.b" } }));
        assert!(ns.unwrap_err().message.contains("RFC 1123 label"));
        let svc = check_object(res("services"), &json!({ "metadata": { "name": "1abc" } }));
        assert!(svc.unwrap_err().message.contains("DNS-1035 label"));
    }

    #[test]
    fn content_types() {
        assert!(check_content_type("create", None, "Pod").is_ok());
        assert!(
            check_content_type("create", Some("application/json; charset=utf-8"), "Pod").is_ok()
        );
        let e = check_content_type("update", Some("text/plain"), "Pod").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                415,
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json, application/yaml"
            )
        );
        assert!(check_content_type("patch", Some("application/json"), "Pod").is_err());
        assert!(check_content_type("patch", Some("application/merge-patch+json"), "Pod").is_ok());
    }

    #[test]
    fn field_values_are_kubes_selectable_fields() {
        let pod = json!({ "spec": {}, "status": { "podIPs": [{ "ip": "10.0.0.1" }] } });
        assert_eq!(field_value(&pod, "spec.hostNetwork"), "false");
        assert_eq!(field_value(&pod, "status.podIP"), "10.0.0.1");
        assert_eq!(
            field_value(
                &json!({ "status": { "succeeded": 2 } }),
                "status.successful"
            ),
            "2"
        );
        assert!(!field_labels(res("nodes")).contains(&"metadata.namespace"));
    }
}
