//! A mutating admission webhook for Pod creates, called as the real API
//! server calls one that a `MutatingWebhookConfiguration` registers with
//! `rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1],
//! resources: [pods]}]`, `sideEffects: None`,
//! `admissionReviewVersions: [v1]`:
//!
//! - `POST` of an `admission.k8s.io/v1` `AdmissionReview` with a fresh
//!   `request.uid`, the Pod as sent (for a `generateName` Pod, `name` is
//!   empty: admission runs before the name is generated), `userInfo`, and
//!   `options` (`CreateOptions`);
//! - the answer's `response.uid` must match; `allowed: false` is the
//!   denial (`admission webhook "NAME" denied the request: …`);
//!   `patchType: JSONPatch` with a base64 `patch` is applied (RFC 6902);
//!   `warnings` become `Warning: 299 - "…"` headers, which kubectl prints;
//! - a failed call (refused, timeout, bad answer) is ignored with
//!   `failurePolicy: Ignore` (the default here, and what tagwarden's
//!   webhook uses) and a `500 InternalError` with `Fail`;
//! - `namespaceSelector` is matched against the Namespace's labels.
//!
//! Not done: reinvocation, several webhooks, object selectors, validating
//! webhooks, other resources or operations.

use std::time::Duration;

use serde_json::{Value, json};

use super::selector::LabelSelector;
use super::store::ApiError;

/// The webhook the server calls for Pod creates.
#[derive(Clone, Debug)]
pub struct PodWebhook {
    /// The webhook's name in messages (`tagwarden.io`).
    pub name: String,
    /// `clientConfig.url`, e.g. `https://127.0.0.1:PORT/mutate` (plain
    /// `http://` is accepted too, for tests).
    pub url: String,
    /// `clientConfig.caBundle` as PEM: the only roots trusted for `url`.
    pub ca_pem: Option<String>,
    /// `timeoutSeconds` (default 10 s).
    pub timeout: Duration,
    /// `failurePolicy: Fail` instead of `Ignore`.
    pub fail_closed: bool,
    /// `namespaceSelector`, as a label selector string (`tagwarden.io/mutate=enabled`).
    pub namespace_selector: Option<String>,
}

impl PodWebhook {
    /// `failurePolicy: Ignore`, 10 s, no namespace selector.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> PodWebhook {
        PodWebhook {
            name: name.into(),
            url: url.into(),
            ca_pem: None,
            timeout: Duration::from_secs(10),
            fail_closed: false,
            namespace_selector: None,
        }
    }
}

/// The outcome of admission: the (possibly patched) Pod and the warnings.
pub(crate) struct Admitted {
    pub(crate) object: Value,
    pub(crate) warnings: Vec<String>,
}

/// Whether the webhook applies to a Pod in a namespace with `labels`.
pub(crate) fn selects(hook: &PodWebhook, namespace: Option<&Value>) -> Result<bool, ApiError> {
    let Some(text) = &hook.namespace_selector else {
        return Ok(true);
    };
    let selector = LabelSelector::parse(text).map_err(ApiError::bad_request)?;
    Ok(namespace.is_some_and(|ns| selector.matches(ns)))
}

/// Call `hook` for the creation of `pod` and apply its answer.
pub(crate) async fn admit(
    hook: &PodWebhook,
    pod: Value,
    uid: String,
    user: &str,
    field_manager: Option<&str>,
) -> Result<Admitted, ApiError> {
    match call(hook, &pod, &uid, user, field_manager).await {
        Ok(response) => apply_response(hook, pod, &uid, &response),
        Err(why) if hook.fail_closed => Err(ApiError::new(
            500,
            "InternalError",
            format!(
                "Internal error occurred: failed calling webhook \"{}\": {why}",
                hook.name
            ),
        )),
        Err(_) => Ok(Admitted {
            object: pod,
            warnings: Vec::new(),
        }),
    }
}

async fn call(
    hook: &PodWebhook,
    pod: &Value,
    uid: &str,
    user: &str,
    field_manager: Option<&str>,
) -> Result<Value, String> {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    let mut options = json!({ "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" });
    if let Some(m) = field_manager {
        options["fieldManager"] = json!(m);
    }
    let review = json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": pod.pointer("/metadata/name").cloned().unwrap_or(json!("")),
            "namespace": pod.pointer("/metadata/namespace").cloned().unwrap_or(json!("")),
            "operation": "CREATE",
            "userInfo": { "username": user, "groups": ["system:serviceaccounts", "system:authenticated"] },
            "object": pod,
            "oldObject": null,
            "dryRun": false,
            "options": options,
        },
    });
    let mut client = reqwest::Client::builder().timeout(hook.timeout);
    if let Some(pem) = &hook.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("bad caBundle: {e}"))?;
        client = client.tls_certs_only(certs);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let url = format!(
        "{}{}timeout={}s",
        hook.url,
        if hook.url.contains('?') { "&" } else { "?" },
        hook.timeout.as_secs().max(1)
    );
    let resp = client
        .post(url)
        .json(&review)
        .send()
        .await
        .map_err(|e| format!("failed to call webhook: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "received invalid webhook response status {}",
            resp.status()
        ));
    }
    resp.json::<Value>()
        .await
        .map_err(|e| format!("received invalid webhook response: {e}"))
}

fn apply_response(
    hook: &PodWebhook,
    mut pod: Value,
    uid: &str,
    review: &Value,
) -> Result<Admitted, ApiError> {
    let invalid = |why: String| {
        ApiError::new(
            500,
            "InternalError",
            format!(
                "Internal error occurred: failed calling webhook \"{}\": {why}",
                hook.name
            ),
        )
    };
    let Some(response) = review.get("response") else {
        return Err(invalid("webhook response was absent".into()));
    };
    let got = response
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != uid {
        return Err(invalid(format!(
            "expected response.uid=\"{uid}\", got \"{got}\""
        )));
    }
    let warnings: Vec<String> = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if response.get("allowed") != Some(&Value::Bool(true)) {
        let status = response.get("status").cloned().unwrap_or(json!({}));
        let code = status
            .get("code")
            .and_then(Value::as_u64)
            .filter(|c| *c >= 400)
            .unwrap_or(400);
        let message = status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::new(
            u16::try_from(code).unwrap_or(400),
            "BadRequest",
            format!(
                "admission webhook \"{}\" denied the request: {message}",
                hook.name
            ),
        ));
    }
    if let Some(patch) = response.get("patch").and_then(Value::as_str) {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| invalid(format!("patch is not base64: {e}")))?;
        let ops: Value = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("patch is not JSON: {e}")))?;
        json_patch(&mut pod, &ops).map_err(invalid)?;
    }
    Ok(Admitted {
        object: pod,
        warnings,
    })
}

/// RFC 6902 JSON Patch: `add`, `remove`, `replace`, `move`, `copy`, `test`.
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch is an array")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("an operation without path")?;
        match op["op"].as_str() {
            Some("add") => add(doc, path, op["value"].clone())?,
            Some("remove") => {
                remove(doc, path)?;
            }
            Some("replace") => {
                remove(doc, path)?;
                add(doc, path, op["value"].clone())?;
            }
            Some("move") => {
                let from = op["from"].as_str().ok_or("move without from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            Some("copy") => {
                let from = op["from"].as_str().ok_or("copy without from")?;
                let v = doc
                    .pointer(from)
                    .cloned()
                    .ok_or(format!("copy: no {from}"))?;
                add(doc, path, v)?;
            }
            Some("test") => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown JSON patch op {other:?}")),
        }
    }
    Ok(())
}

/// The parent's pointer and the last token, unescaped.
fn split(path: &str) -> Result<(&str, String), String> {
    let i = path
        .rfind('/')
        .ok_or(format!("bad JSON pointer {path:?}"))?;
    Ok((
        &path[..i],
        path[i + 1..].replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, key) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            let at = if key == "-" {
                list.len()
            } else {
                key.parse::<usize>()
                    .map_err(|_| format!("bad index in {path}"))?
            };
            if at > list.len() {
                return Err(format!("index out of range in {path}"));
            }
            list.insert(at, value);
            Ok(())
        }
        _ => Err(format!("add: no parent for {path}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&key).ok_or(format!("remove: no {path}")),
        Some(Value::Array(list)) => {
            let at: usize = key.parse().map_err(|_| format!("bad index in {path}"))?;
            if at < list.len() {
                Ok(list.remove(at))
            } else {
                Err(format!("remove: no {path}"))
            }
        }
        _ => Err(format!("remove: no parent for {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut doc = json!({ "spec": { "containers": [{ "image": "a:1" }] }, "metadata": {} });
        let ops = json!([
            { "op": "test", "path": "/spec/containers/0/image", "value": "a:1" },
            { "op": "replace", "path": "/spec/containers/0/image", "value": "a:2" },
            { "op": "add", "path": "/metadata/annotations", "value": {} },
            { "op": "add", "path": "/metadata/annotations/tagwarden.io~1original-images", "value": "{}" },
            { "op": "add", "path": "/spec/containers/-", "value": { "image": "b" } },
            { "op": "remove", "path": "/spec/containers/1" },
        ]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(doc["spec"]["containers"], json!([{ "image": "a:2" }]));
        assert_eq!(
            doc["metadata"]["annotations"]["tagwarden.io/original-images"],
            "{}"
        );
        assert!(
            json_patch(
                &mut doc,
                &json!([{ "op": "test", "path": "/spec", "value": 1 }])
            )
            .is_err()
        );
        assert!(json_patch(&mut doc, &json!([{ "op": "remove", "path": "/nope/x" }])).is_err());
    }
}
