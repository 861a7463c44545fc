//! Admission as kube-apiserver runs it for webhooks: every create and
//! update (`POST`, `PUT`) goes through the `admissionregistration.k8s.io/v1`
//! `MutatingWebhookConfiguration`s in the store (by name, each one's
//! webhooks in order), then the `ValidatingWebhookConfiguration`s, and
//! through the hand-set [`PodWebhook`] (first) if a test set one.
//!
//! - **Which webhooks** (`config.rs`): `rules` (`operations` with `*`,
//!   `apiGroups`, `apiVersions`, `resources` with `*`, `*/*` and
//!   `pods/status`-style subresources, `scope`), `namespaceSelector`
//!   against the labels of the Namespace object in the store (plus the
//!   `kubernetes.io/metadata.name` label the real server sets on every
//!   Namespace; a Namespace that is not stored has only that label), and
//!   `objectSelector` against the new or the old object's labels. Writes of
//!   the webhook configurations themselves are never sent to webhooks.
//! - **The call** (`call.rs`): `POST` of an `admission.k8s.io/v1`
//!   `AdmissionReview` (`uid` fresh per call, `kind`, `resource`,
//!   `requestKind`, `requestResource`, `name` (absent for a `generateName`
//!   create: admission runs before the name is made), `namespace`,
//!   `operation`, `userInfo`, `object`, `oldObject`, `dryRun`, `options`)
//!   to `https://NAME.NAMESPACE.svc:PORT/PATH?timeout=Ns` for a `service`
//!   (reaching the address [`crate::ApiServer::route_service`] gave it;
//!   unrouted is "connection refused") or to the `url`; the certificate is
//!   verified against `caBundle` for the name `NAME.NAMESPACE.svc`, within
//!   `timeoutSeconds` (default 10).
//! - **The answer:** `response.uid` must match and the review be
//!   `admission.k8s.io/v1` `AdmissionReview`; `allowed: false` is the
//!   rejection of `webhookerrors.ToStatusErr` (`admission webhook "NAME"
//!   denied the request: MSG`, the code from `status.code`, at least 400,
//!   and its `reason`); a mutating webhook's `JSONPatch` is applied (a patch
//!   that does not apply is a `500`, whatever the failure policy);
//!   `warnings` become `Warning: 299 - "…"` headers, which kubectl prints.
//! - **Failures** (refused, TLS, timeout, non-2xx, an invalid answer):
//!   `failurePolicy: Ignore` goes on unchanged; `Fail` (v1's default) is
//!   `500 InternalError` "Internal error occurred: failed calling webhook
//!   \"NAME\": failed to call webhook: Post \"https://…?timeout=2s\": …".
//! - **Dry run** (`?dryRun=All`, creates only): only webhooks with
//!   `sideEffects: None` or `NoneOnDryRun` are called, with `dryRun: true`;
//!   any other webhook that applies makes the request `400` ("admission
//!   webhook \"NAME\" does not support dry run").
//! - **Reinvocation:** after the mutating pass, each `reinvocationPolicy:
//!   IfNeeded` webhook that a later webhook's change followed is called
//!   once more.
//! - Every call is recorded ([`crate::ApiServer::webhook_calls`]).
//!
//! Left out: `matchPolicy` (each resource is served in one version, so
//! `Exact` and `Equivalent` agree), `matchConditions`,
//! `admissionReviewVersions` other than `v1` (a webhook that does not list
//! `v1` is a failed call), validating webhooks running in parallel (here
//! one after the other, the first denial wins), validating webhooks seeing
//! the generated name and uid (they see the object as mutated), `PATCH`,
//! `DELETE` and `CONNECT` requests (not admitted), and built-in admission
//! plugins.

mod call;
mod config;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::discovery::{self, Resource};
use super::lock;
use super::selector::LabelSelector;
use super::store::{ApiError, Key, Store};
use config::{ClientConfig, Endpoint, Hook, Rule};

/// A mutating webhook for Pod creates, set by hand (without a stored
/// configuration): as if a `MutatingWebhookConfiguration` registered it
/// with `rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1],
/// resources: [pods]}]`, `sideEffects: None`, `clientConfig.url`. It runs
/// before the stored configurations' webhooks.
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

    fn hook(&self) -> Result<Hook, ApiError> {
        let one = |s: &str| vec![s.to_string()];
        let selector = self.namespace_selector.as_deref().unwrap_or_default();
        Ok(Hook {
            name: self.name.clone(),
            configuration: String::new(),
            mutating: true,
            rules: vec![Rule {
                operations: one("CREATE"),
                api_groups: one(""),
                api_versions: one("v1"),
                resources: one("pods"),
                scope: "*".into(),
            }],
            namespace_selector: LabelSelector::parse(selector).map_err(ApiError::bad_request)?,
            object_selector: LabelSelector::default(),
            fail_open: !self.fail_closed,
            timeout: self.timeout,
            dry_run_safe: true,
            reinvoke_if_needed: false,
            accepts_v1: true,
            client: ClientConfig {
                endpoint: Endpoint::Url(self.url.clone()),
                ca_pem: self.ca_pem.clone().map(String::into_bytes),
            },
        })
    }
}

/// One webhook call the server made ([`crate::ApiServer::webhook_calls`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookCall {
    /// `webhooks[].name` (or the [`PodWebhook`]'s name).
    pub webhook: String,
    /// The configuration's name (`""` for the [`PodWebhook`]).
    pub configuration: String,
    /// A mutating (not a validating) webhook.
    pub mutating: bool,
    /// `CREATE` or `UPDATE`.
    pub operation: String,
    /// The resource as RBAC names it: `pods`, `deployments.apps`.
    pub resource: String,
    /// The object's namespace, if namespaced.
    pub namespace: Option<String>,
    /// The request was a dry run (`request.dryRun: true`).
    pub dry_run: bool,
    /// A second call of an `IfNeeded` webhook.
    pub reinvocation: bool,
    /// What came of it.
    pub outcome: WebhookOutcome,
    /// From the start of the call to its answer (or failure).
    pub duration: Duration,
}

/// What a webhook call did to the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Allowed, and its patch changed the object.
    Patched,
    /// Allowed, the object as it was.
    Unchanged,
    /// The call failed (the reason, as kube words it) and
    /// `failurePolicy: Ignore` let the request go on unchanged.
    FailedOpen(String),
    /// The request was refused: a denial, or a failure with `failurePolicy:
    /// Fail` (the message the client got).
    Rejected(String),
}

/// The admission state of a server: the hand-set Pod webhook, where
/// Services lead, and the calls made.
#[derive(Default)]
pub(crate) struct Admission {
    pub(crate) pod_webhook: Mutex<Option<PodWebhook>>,
    /// `(namespace, name, port)` → the address that port reaches.
    pub(crate) routes: Mutex<BTreeMap<(String, String, u16), SocketAddr>>,
    pub(crate) calls: Mutex<Vec<WebhookCall>>,
}

/// What is being admitted.
pub(crate) struct Request<'a> {
    /// The resource as the request names it.
    pub(crate) res: &'a Resource,
    /// `""`: the main resource.
    pub(crate) subresource: &'a str,
    pub(crate) namespace: Option<&'a str>,
    /// `""` for a create with `generateName`.
    pub(crate) name: &'a str,
    /// `CREATE` or `UPDATE`.
    pub(crate) operation: &'static str,
    /// The requester.
    pub(crate) user: &'a str,
    pub(crate) dry_run: bool,
    pub(crate) field_manager: Option<&'a str>,
}

/// The outcome of admission: the (possibly patched) object and the warnings.
pub(crate) struct Admitted {
    pub(crate) object: Value,
    pub(crate) warnings: Vec<String>,
}

/// Run the webhooks that apply to `req` on `object` (`old`: the stored
/// object of an update, as the request's version shows it).
pub(crate) async fn admit(
    store: &Store,
    state: &Admission,
    req: &Request<'_>,
    object: Value,
    old: Option<Value>,
) -> Result<Admitted, ApiError> {
    if req.res.group == "admissionregistration.k8s.io" {
        return Ok(Admitted {
            object,
            warnings: Vec::new(),
        });
    }
    let (mutating, validating) = hooks(store, state)?;
    let namespace = req.namespace.and_then(|ns| {
        let namespaces = discovery::find("", "v1", "namespaces").expect("namespaces are served");
        store.get(&Key {
            resource: namespaces,
            namespace: String::new(),
            name: ns.to_string(),
        })
    });
    let mut run = Run {
        store,
        state,
        req,
        old: old.as_ref(),
        namespace: namespace.as_deref(),
        warnings: Vec::new(),
    };
    let object = run.mutate(&mutating, object).await?;
    run.validate(&validating, &object).await?;
    Ok(Admitted {
        object,
        warnings: run.warnings,
    })
}

/// The mutating webhooks (the Pod webhook first, then the stored
/// configurations by name) and the validating ones.
fn hooks(store: &Store, state: &Admission) -> Result<(Vec<Hook>, Vec<Hook>), ApiError> {
    let mut mutating = Vec::new();
    if let Some(pod) = lock(&state.pod_webhook).as_ref() {
        mutating.push(pod.hook()?);
    }
    let mut validating = Vec::new();
    for (plural, is_mutating, into) in [
        ("mutatingwebhookconfigurations", true, &mut mutating),
        ("validatingwebhookconfigurations", false, &mut validating),
    ] {
        let resource = discovery::find("admissionregistration.k8s.io", "v1", plural)
            .expect("webhook configurations are served");
        let page = store.list(resource, None, &|_| true, None, None, None)?;
        for configuration in &page.items {
            let hooks = config::hooks_of(&configuration.value(), is_mutating)
                .map_err(|e| ApiError::new(500, "InternalError", e))?;
            into.extend(hooks);
        }
    }
    Ok((mutating, validating))
}

/// One admission: the request, what it needs to match and what it collects.
struct Run<'a> {
    store: &'a Store,
    state: &'a Admission,
    req: &'a Request<'a>,
    old: Option<&'a Value>,
    namespace: Option<&'a Value>,
    warnings: Vec<String>,
}

/// Why a call did not admit the object.
enum Failure {
    /// `ErrCallingWebhook`: the failure policy decides.
    Call(String),
    /// A denial or an internal error: the request fails, whatever the policy.
    Refused(ApiError),
}

impl Run<'_> {
    /// The mutating pass, then the reinvocation of `IfNeeded` webhooks
    /// whose call a later change followed.
    async fn mutate(&mut self, hooks: &[Hook], mut object: Value) -> Result<Value, ApiError> {
        let mut changes = 0usize;
        let mut changes_seen = vec![None; hooks.len()];
        for (i, hook) in hooks.iter().enumerate() {
            if !self.applies(hook, &object) {
                continue;
            }
            let (next, changed) = self.call(hook, object, false).await?;
            object = next;
            changes += usize::from(changed);
            changes_seen[i] = Some(changes);
        }
        for (i, hook) in hooks.iter().enumerate() {
            let stale = changes_seen[i].is_some_and(|seen| seen < changes);
            if hook.reinvoke_if_needed && stale && self.applies(hook, &object) {
                object = self.call(hook, object, true).await?.0;
            }
        }
        Ok(object)
    }

    async fn validate(&mut self, hooks: &[Hook], object: &Value) -> Result<(), ApiError> {
        for hook in hooks {
            if self.applies(hook, object) {
                self.call(hook, object.clone(), false).await?;
            }
        }
        Ok(())
    }

    fn applies(&self, hook: &Hook, object: &Value) -> bool {
        hook.applies(self.req, self.namespace, object, self.old)
    }

    /// Call `hook`, apply its answer and its failure policy, record the
    /// call. The object (patched or not) and whether it changed.
    async fn call(
        &mut self,
        hook: &Hook,
        object: Value,
        reinvocation: bool,
    ) -> Result<(Value, bool), ApiError> {
        if self.req.dry_run && !hook.dry_run_safe {
            return Err(ApiError::bad_request(format!(
                "admission webhook {:?} does not support dry run",
                hook.name
            )));
        }
        let uid = self.store.uid();
        let review = review(self.req, &uid, &object, self.old);
        let started = Instant::now();
        let route = match &hook.client.endpoint {
            Endpoint::Service {
                namespace,
                name,
                port,
                ..
            } => lock(&self.state.routes)
                .get(&(namespace.clone(), name.clone(), *port))
                .copied(),
            Endpoint::Url(_) => None,
        };
        let answer = match hook.accepts_v1 {
            true => call::post(&hook.client, route, hook.timeout, &review).await,
            false => Err("webhook does not accept v1 AdmissionReview".to_string()),
        };
        let duration = started.elapsed();
        let result = match answer {
            Ok(answer) => self.answer(hook, &uid, &answer, object.clone()),
            Err(why) => Err(Failure::Call(why)),
        };
        let (outcome, result) = match result {
            Ok((patched, changed)) => {
                let outcome = if changed {
                    WebhookOutcome::Patched
                } else {
                    WebhookOutcome::Unchanged
                };
                (outcome, Ok((patched, changed)))
            }
            Err(Failure::Call(why)) if hook.fail_open => {
                (WebhookOutcome::FailedOpen(why), Ok((object, false)))
            }
            Err(Failure::Call(why)) => {
                let e = internal_error(format!("failed calling webhook {:?}: {why}", hook.name));
                (WebhookOutcome::Rejected(e.message.clone()), Err(e))
            }
            Err(Failure::Refused(e)) => (WebhookOutcome::Rejected(e.message.clone()), Err(e)),
        };
        lock(&self.state.calls).push(WebhookCall {
            webhook: hook.name.clone(),
            configuration: hook.configuration.clone(),
            mutating: hook.mutating,
            operation: self.req.operation.to_string(),
            resource: self.req.res.qualified(),
            namespace: self.req.namespace.map(str::to_string),
            dry_run: self.req.dry_run,
            reinvocation,
            outcome,
            duration,
        });
        result
    }

    /// `VerifyAdmissionResponse`, then the denial or the patch.
    fn answer(
        &mut self,
        hook: &Hook,
        uid: &str,
        review: &Value,
        mut object: Value,
    ) -> Result<(Value, bool), Failure> {
        let invalid =
            |why: String| Failure::Call(format!("received invalid webhook response: {why}"));
        let Some(response) = review.get("response").filter(|r| r.is_object()) else {
            return Err(invalid("webhook response was absent".into()));
        };
        let got = response
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if got != uid {
            return Err(invalid(format!(
                "expected response.uid={uid:?}, got {got:?}"
            )));
        }
        let text = |k: &str| review.get(k).and_then(Value::as_str).unwrap_or_default();
        if (text("apiVersion"), text("kind")) != ("admission.k8s.io/v1", "AdmissionReview") {
            let (group, version) = text("apiVersion")
                .rsplit_once('/')
                .unwrap_or(("", text("apiVersion")));
            return Err(invalid(format!(
                "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {group}/{version}, Kind={}",
                text("kind")
            )));
        }
        let warnings = response.get("warnings").and_then(Value::as_array);
        self.warnings.extend(
            warnings
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
        if response.get("allowed") != Some(&Value::Bool(true)) {
            return Err(Failure::Refused(denial(&hook.name, response.get("status"))));
        }
        let patch = response
            .get("patch")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !hook.mutating || patch.is_empty() {
            return Ok((object, false));
        }
        match response.get("patchType").and_then(Value::as_str) {
            None => {
                return Err(invalid(
                    "webhook returned response.patch but not response.patchType".into(),
                ));
            }
            Some("JSONPatch") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "webhook returned invalid response.patchType of {other:?}"
                )));
            }
        }
        use base64::Engine as _;
        let ops = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| format!("illegal base64 data: {e}"))
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
            .map_err(|e| Failure::Refused(internal_error(e)))?;
        let before = object.clone();
        json_patch(&mut object, &ops).map_err(|e| Failure::Refused(internal_error(e)))?;
        let changed = object != before;
        Ok((object, changed))
    }
}

/// `apierrors.NewInternalError`.
fn internal_error(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        format!("Internal error occurred: {why}"),
    )
}

/// `webhookerrors.ToStatusErr`: the webhook's `status`, its code at least
/// 400, its message prefixed with who denied it.
fn denial(webhook: &str, status: Option<&Value>) -> ApiError {
    let status = status.cloned().unwrap_or(json!({}));
    let text = |k: &str| status.get(k).and_then(Value::as_str).unwrap_or_default();
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    let denied = format!("admission webhook {webhook:?} denied the request");
    let message = match (text("message"), text("reason")) {
        ("", "") => format!("{denied} without explanation"),
        ("", reason) => format!("{denied}: {reason}"),
        (message, _) => format!("{denied}: {message}"),
    };
    let mut e = ApiError::new(code, status_reason(text("reason")), message);
    e.details = status.get("details").cloned();
    e
}

/// A `metav1.StatusReason` the server knows, as a static string (`""`, as
/// kube sends it, for an unknown or absent one).
fn status_reason(reason: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "Timeout",
        "TooManyRequests",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
        "ServiceUnavailable",
    ];
    KNOWN.iter().find(|k| **k == reason).copied().unwrap_or("")
}

/// The `AdmissionReview` v1 request kube-apiserver sends.
fn review(req: &Request<'_>, uid: &str, object: &Value, old: Option<&Value>) -> Value {
    let res = req.res;
    let gvk = json!({ "group": res.group, "version": res.version, "kind": res.kind });
    let gvr = json!({ "group": res.group, "version": res.version, "resource": res.plural });
    let options_kind = if req.operation == "CREATE" {
        "CreateOptions"
    } else {
        "UpdateOptions"
    };
    let mut options = json!({ "kind": options_kind, "apiVersion": "meta.k8s.io/v1" });
    if req.dry_run {
        options["dryRun"] = json!(["All"]);
    }
    if let Some(m) = req.field_manager {
        options["fieldManager"] = json!(m);
    }
    let mut request = json!({
        "uid": uid,
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "operation": req.operation,
        "userInfo": user_info(req.user),
        "object": object,
        "oldObject": old,
        "dryRun": req.dry_run,
        "options": options,
    });
    if !req.subresource.is_empty() {
        request["subResource"] = json!(req.subresource);
        request["requestSubResource"] = json!(req.subresource);
    }
    if !req.name.is_empty() {
        request["name"] = json!(req.name);
    }
    if let Some(ns) = req.namespace {
        request["namespace"] = json!(ns);
    }
    json!({ "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request })
}

/// The requester with the groups the authenticator gives it: a service
/// account is in `system:serviceaccounts` and `system:serviceaccounts:NS`.
fn user_info(user: &str) -> Value {
    let mut groups = Vec::new();
    if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
        let namespace = rest.split(':').next().unwrap_or_default();
        groups.push("system:serviceaccounts".to_string());
        groups.push(format!("system:serviceaccounts:{namespace}"));
    }
    groups.push("system:authenticated".to_string());
    json!({ "username": user, "groups": groups })
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
    fn denials_are_webhookerrors_to_status_err() {
        let e = denial("v.io", None);
        assert_eq!(
            (e.code, e.reason, e.message.as_str()),
            (
                400,
                "",
                "admission webhook \"v.io\" denied the request without explanation"
            )
        );
        let e = denial("v.io", Some(&json!({ "code": 200, "reason": "Teapot" })));
        assert_eq!(
            (e.code, e.reason, e.message.as_str()),
            (
                400,
                "",
                "admission webhook \"v.io\" denied the request: Teapot"
            )
        );
        let status = json!({ "code": 422, "reason": "Invalid", "message": "no", "details": { "name": "p" } });
        let e = denial("v.io", Some(&status));
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert_eq!(
            e.message,
            "admission webhook \"v.io\" denied the request: no"
        );
        assert_eq!(e.details, Some(json!({ "name": "p" })));
    }

    #[test]
    fn reviews_omit_what_kube_omits() {
        let pods = &discovery::RESOURCES[discovery::find("", "v1", "pods").unwrap()];
        let req = Request {
            res: pods,
            subresource: "",
            namespace: Some("shop"),
            name: "",
            operation: "CREATE",
            user: "system:serviceaccount:ci:deployer",
            dry_run: true,
            field_manager: Some("kubectl-create"),
        };
        let review = review(&req, "u-1", &json!({ "kind": "Pod" }), None);
        let request = &review["request"];
        assert!(request.get("name").is_none() && request.get("subResource").is_none());
        assert_eq!(request["namespace"], "shop");
        assert_eq!(request["oldObject"], Value::Null);
        assert_eq!(
            request["userInfo"]["groups"],
            json!([
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ])
        );
        assert_eq!(
            request["options"],
            json!({ "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                    "dryRun": ["All"], "fieldManager": "kubectl-create" })
        );
    }

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
