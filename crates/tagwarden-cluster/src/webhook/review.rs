//! `AdmissionReview` v1 in and out.
//!
//! In: a Pod create, the one request the webhook is configured for, is read straight from
//! the bytes into the few fields the webhook uses (`ReviewIn`: the request's uid,
//! kind, operation, namespace and `dryRun`; the Pod's name, namespace, uid, annotations
//! and owners, each container's name and image, its `imagePullSecrets`), skipping the rest
//! of the object (env, probes, volumes, `managedFields`) without building it: most of a
//! warm admission's CPU was building and dropping the whole review three times (a JSON
//! value, kube's `AdmissionReview<DynamicObject>`, then a k8s-openapi [`Pod`]). Anything
//! else, and anything that does not read that way (another kind, another operation, a
//! malformed review), takes the general path: kube's [`AdmissionRequest`] over a
//! `DynamicObject`, so that any object parses and the scope is decided before the object
//! is read as a [`Pod`], with the same answers and messages as before.
//!
//! Out: an [`Answer`], kube's [`AdmissionResponse`] (as kube-rs's `admission_controller`
//! example builds it) in kube's [`AdmissionReview`]: `response.uid` copied from the
//! request, `allowed`, `patchType: JSONPatch` with the patch as **base64 of its JSON** (Go's
//! `[]byte`), `warnings`, and for a denial `status` (403, `Forbidden`, the message). The
//! `apiVersion` is the request's (the API server requires the same version back).
//!
//! A request that cannot be read still gets an answer: allowed, with a warning saying why
//! (and its `uid` when it has one). The webhook must never be the reason a Pod cannot be
//! created.

use std::collections::BTreeMap;

use base64::Engine as _;
use json_patch::Patch;
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, LocalObjectReference, Pod, PodSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_KIND, Operation,
};
use kube::core::{DynamicObject, Status, TypeMeta};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// The version this webhook speaks (and answers in when the request says nothing).
const ADMISSION_V1: &str = kube::core::admission::META_API_VERSION_V1;

/// A request that could be read far enough to answer it.
pub(crate) struct Request {
    /// `request.uid`, copied into the answer.
    pub(crate) uid: String,
    /// The review's `apiVersion`, echoed in the answer.
    pub(crate) api_version: String,
    /// `request.dryRun`: nothing will be stored, so no side effects (Events) either.
    pub(crate) dry_run: bool,
    /// What is admitted.
    pub(crate) subject: Subject,
}

/// What the request is about.
pub(crate) enum Subject {
    /// The creation of a Pod in `namespace`.
    PodCreate {
        /// The namespace of the request (empty when the API server sent none).
        namespace: String,
        /// The Pod as sent (for a `generateName` Pod, without its name yet): from the fast
        /// path, only the fields the webhook reads (see the module documentation).
        pod: Box<Pod>,
    },
    /// Anything else (another kind, another operation): not the webhook's business.
    Other(String),
}

/// A request that could not be read: answer with `uid` (maybe empty) and `why`.
pub(crate) struct Malformed {
    pub(crate) uid: String,
    pub(crate) api_version: String,
    pub(crate) why: String,
}

/// Reads an `AdmissionReview` body: a Pod create by the fast path, anything else (or a
/// body the fast path cannot read) by the general one.
pub(crate) fn parse(body: &[u8]) -> Result<Request, Malformed> {
    match serde_json::from_slice::<ReviewIn>(body) {
        Ok(review) => match review.into_pod_create() {
            Some(request) => Ok(request),
            None => parse_any(body),
        },
        Err(_) => parse_any(body),
    }
}

/// The fields of an `AdmissionReview` the webhook reads from a Pod create. The required
/// ones are those kube's `AdmissionRequest` requires, so that a review the general path
/// refuses does not pass here either.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: Option<String>,
    request: RequestIn,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    uid: String,
    kind: KindIn,
    #[allow(dead_code)] // required, as kube requires it
    resource: ResourceIn,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[allow(dead_code)] // required, as kube requires it
    user_info: IgnoredAny,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    object: Option<PodIn>,
}

#[derive(Deserialize)]
struct KindIn {
    group: String,
    #[allow(dead_code)] // required, as kube requires it
    version: String,
    kind: String,
}

#[derive(Deserialize)]
#[allow(dead_code)] // required, as kube requires them
struct ResourceIn {
    group: String,
    version: String,
    resource: String,
}

/// The Pod's fields the webhook reads; every other field is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodIn {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<MetaIn>,
    #[serde(default)]
    spec: Option<SpecIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MetaIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecIn {
    containers: Vec<ContainerIn>,
    #[serde(default)]
    init_containers: Option<Vec<ContainerIn>>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<ContainerIn>>,
    #[serde(default)]
    image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

#[derive(Deserialize)]
struct ContainerIn {
    name: String,
    #[serde(default)]
    image: Option<String>,
}

impl ReviewIn {
    /// The request, when it is a Pod create this path may answer (the rest goes the
    /// general way: its answers and messages are theirs).
    fn into_pod_create(self) -> Option<Request> {
        let request = self.request;
        let is_pod = request.kind.group.is_empty()
            && request.kind.kind == "Pod"
            && request.sub_resource.is_none()
            && request.operation == "CREATE";
        let object = request.object.filter(|_| is_pod)?;
        if object.api_version.as_deref().is_some_and(|v| v != "v1")
            || object.kind.as_deref().is_some_and(|k| k != "Pod")
        {
            return None;
        }
        let api_version = match self.api_version {
            Some(v) if v.starts_with("admission.k8s.io/") => v,
            _ => ADMISSION_V1.to_string(),
        };
        Some(Request {
            uid: request.uid,
            api_version,
            dry_run: request.dry_run,
            subject: Subject::PodCreate {
                namespace: request.namespace.unwrap_or_default(),
                pod: Box::new(object.into_pod()),
            },
        })
    }
}

impl PodIn {
    fn into_pod(self) -> Pod {
        let meta = self.metadata.unwrap_or_default();
        Pod {
            metadata: ObjectMeta {
                name: meta.name,
                generate_name: meta.generate_name,
                namespace: meta.namespace,
                uid: meta.uid,
                annotations: meta.annotations,
                owner_references: meta.owner_references,
                ..ObjectMeta::default()
            },
            spec: self.spec.map(|spec| PodSpec {
                containers: spec.containers.into_iter().map(container).collect(),
                init_containers: spec
                    .init_containers
                    .map(|list| list.into_iter().map(container).collect()),
                ephemeral_containers: spec.ephemeral_containers.map(|list| {
                    list.into_iter()
                        .map(|c| EphemeralContainer {
                            name: c.name,
                            image: c.image,
                            ..EphemeralContainer::default()
                        })
                        .collect()
                }),
                image_pull_secrets: spec.image_pull_secrets,
                ..PodSpec::default()
            }),
            status: None,
        }
    }
}

fn container(c: ContainerIn) -> Container {
    Container {
        name: c.name,
        image: c.image,
        ..Container::default()
    }
}

/// Reads any `AdmissionReview` body (the general path).
fn parse_any(body: &[u8]) -> Result<Request, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Malformed {
        uid: String::new(),
        api_version: ADMISSION_V1.to_string(),
        why: format!("the body is not JSON: {e}"),
    })?;
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let api_version = match value.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v.starts_with("admission.k8s.io/") => v.to_string(),
        _ => ADMISSION_V1.to_string(),
    };
    let malformed = |why: String| Malformed {
        uid: uid.clone(),
        api_version: api_version.clone(),
        why,
    };
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(value)
        .map_err(|e| malformed(format!("not an AdmissionReview: {e}")))?;
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| malformed("an AdmissionReview without a request".into()))?;
    let dry_run = request.dry_run;
    let kind = &request.kind;
    let subject = if kind.group.is_empty() && kind.kind == "Pod" && request.sub_resource.is_none() {
        match (&request.operation, request.object) {
            (Operation::Create, Some(object)) => Subject::PodCreate {
                namespace: request.namespace.unwrap_or_default(),
                pod: Box::new(
                    object
                        .try_parse::<Pod>()
                        .map_err(|e| malformed(format!("the object is not a Pod: {e}")))?,
                ),
            },
            (Operation::Create, None) => {
                return Err(malformed("a Pod CREATE without an object".into()));
            }
            (operation, _) => Subject::Other(format!("{operation:?} of a Pod")),
        }
    } else {
        Subject::Other(format!(
            "{:?} of {}/{}",
            request.operation, kind.group, kind.kind
        ))
    };
    Ok(Request {
        uid,
        api_version,
        dry_run,
        subject,
    })
}

/// What to answer: kube's [`AdmissionResponse`], built as kube-rs's `admission_controller`
/// example builds it (allowed, [`AdmissionResponse::with_patch`],
/// [`AdmissionResponse::deny`], [`AdmissionResponse::into_review`]).
#[derive(Debug, Clone)]
pub(crate) struct Answer(AdmissionResponse);

impl Answer {
    /// Allow the object unchanged: the answer to the request `uid` of a review in
    /// `api_version`. kube copies these two from an [`AdmissionRequest`]
    /// (`AdmissionResponse::from`); the fast path reads none, so the answer is made from
    /// them alone (kube's constructor without a request, then allowed).
    pub(crate) fn allow(uid: &str, api_version: &str) -> Answer {
        let mut response = AdmissionResponse::invalid("");
        response.types = TypeMeta {
            api_version: api_version.to_string(),
            kind: META_KIND.to_string(),
        };
        response.uid = uid.to_string();
        response.allowed = true;
        response.result = Status::default();
        Answer(response)
    }

    /// Allow a request that could not be read, saying why in a warning.
    pub(crate) fn malformed(malformed: &Malformed) -> Answer {
        Answer::allow(&malformed.uid, &malformed.api_version).warn(format!(
            "tagwarden: the admission request could not be read, so it was allowed unchanged: {}",
            malformed.why
        ))
    }

    /// With this JSONPatch applied (nothing when it is empty).
    pub(crate) fn patched(self, patch: Patch) -> Answer {
        if patch.0.is_empty() {
            return self;
        }
        match self.0.clone().with_patch(patch) {
            Ok(response) => Answer(response),
            Err(e) => self.warn(format!(
                "tagwarden: the patch could not be written ({e}); the Pod was admitted unchanged"
            )),
        }
    }

    /// Denied, with `message` for the user (as `403 Forbidden`, which the API server
    /// reports as the webhook's denial).
    pub(crate) fn deny(self, message: String) -> Answer {
        let mut response = self.0.deny(message);
        response.result.code = 403;
        response.result.reason = "Forbidden".to_string();
        Answer(response)
    }

    /// With one more warning.
    pub(crate) fn warn(self, warning: String) -> Answer {
        self.warn_all([warning])
    }

    /// With these warnings added.
    pub(crate) fn warn_all(mut self, warnings: impl IntoIterator<Item = String>) -> Answer {
        let mut warnings = warnings.into_iter().peekable();
        if warnings.peek().is_some() {
            self.0
                .warnings
                .get_or_insert_with(Vec::new)
                .extend(warnings);
        }
        self
    }

    /// The `AdmissionReview` to send back ([`AdmissionResponse::into_review`]), with
    /// `response.patch` written as Kubernetes documents it: base64 of the patch's JSON (Go's
    /// `[]byte`). kube serializes its `Vec<u8>` as an array of numbers (kube-rs#1781).
    pub(crate) fn to_review(&self) -> Value {
        let mut review = serde_json::to_value(self.0.clone().into_review()).unwrap_or_else(|e| {
            // An AdmissionReview of strings and booleans always serializes.
            tracing::error!("cannot write the admission answer: {e}");
            Value::Null
        });
        if let (Some(patch), Some(response)) = (&self.0.patch, review.get_mut("response")) {
            response["patch"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(patch));
        }
        review
    }

    /// [`Answer::to_review`] as JSON bytes.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        self.to_review().to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(request: Value) -> Vec<u8> {
        json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request })
            .to_string()
            .into_bytes()
    }

    fn request(kind: &str, operation: &str, object: Value) -> Value {
        json!({
            "uid": "u-1",
            "kind": { "group": "", "version": "v1", "kind": kind },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "namespace": "team",
            "operation": operation,
            "userInfo": { "username": "me" },
            "object": object,
        })
    }

    #[test]
    fn a_pod_create_is_read_and_anything_else_is_out_of_scope() {
        let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "generateName": "x-" },
            "spec": { "containers": [{ "name": "c", "image": "a:1" }] } });
        let read = parse(&review(request("Pod", "CREATE", pod.clone())))
            .ok()
            .unwrap();
        assert_eq!(read.uid, "u-1");
        match read.subject {
            Subject::PodCreate { namespace, pod } => {
                assert_eq!(namespace, "team");
                assert_eq!(
                    pod.spec.unwrap().containers[0].image.as_deref(),
                    Some("a:1")
                );
            }
            Subject::Other(what) => panic!("{what}"),
        }
        let update = parse(&review(request("Pod", "UPDATE", pod))).ok().unwrap();
        assert!(matches!(update.subject, Subject::Other(_)));
        let secret = json!({ "apiVersion": "v1", "kind": "Secret" });
        let other = parse(&review(request("Secret", "CREATE", secret)))
            .ok()
            .unwrap();
        assert!(matches!(other.subject, Subject::Other(_)));
    }

    fn pod_create(request: &Request) -> (&str, &Pod) {
        match &request.subject {
            Subject::PodCreate { namespace, pod } => (namespace, pod),
            Subject::Other(what) => panic!("not a Pod create: {what}"),
        }
    }

    #[test]
    fn the_fast_path_reads_a_pod_create_as_the_general_path_does() {
        let pod = json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "generateName": "web-", "namespace": "team", "uid": "p-1",
                "labels": { "app": "web" },
                "annotations": { "tagwarden.io/mutate": "true", "note": "x" },
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-1", "uid": "rs-1", "controller": true }],
                "managedFields": [{ "manager": "m", "fieldsType": "FieldsV1", "fieldsV1": { "f:spec": {} } }] },
            "spec": {
                "containers": [
                    { "name": "app", "image": "r/app:v1.32", "env": [{ "name": "A", "value": "1" }],
                      "resources": { "limits": { "memory": "1Gi" } } },
                    { "name": "noimage" },
                ],
                "initContainers": [{ "name": "init", "image": "r/init:v1.31" }],
                "ephemeralContainers": [{ "name": "debug", "image": "busybox" }],
                "imagePullSecrets": [{ "name": "pull" }],
                "volumes": [{ "name": "v", "emptyDir": {} }],
            } });
        let mut request = request("Pod", "CREATE", pod);
        request["dryRun"] = json!(true);
        let body = review(request);
        let fast = parse(&body).ok().unwrap();
        let general = parse_any(&body).ok().unwrap();
        assert_eq!(
            (&fast.uid, &fast.api_version, fast.dry_run),
            (&general.uid, &general.api_version, general.dry_run)
        );
        assert!(fast.dry_run);
        let ((fast_ns, fast_pod), (general_ns, general_pod)) =
            (pod_create(&fast), pod_create(&general));
        assert_eq!(fast_ns, general_ns);
        let slots = super::super::patch::image_slots;
        assert_eq!(slots(fast_pod), slots(general_pod));
        assert_eq!(slots(fast_pod).len(), 3);
        let (fast_meta, general_meta) = (&fast_pod.metadata, &general_pod.metadata);
        assert_eq!(fast_meta.annotations, general_meta.annotations);
        assert_eq!(fast_meta.owner_references, general_meta.owner_references);
        assert_eq!(fast_meta.generate_name, general_meta.generate_name);
        assert_eq!(fast_meta.namespace, general_meta.namespace);
        assert_eq!(fast_meta.uid, general_meta.uid);
        let secrets = |pod: &Pod| pod.spec.as_ref().unwrap().image_pull_secrets.clone();
        assert_eq!(secrets(fast_pod), secrets(general_pod));
        assert_eq!(secrets(fast_pod).unwrap()[0].name, "pull");
    }

    #[test]
    fn what_the_fast_path_cannot_read_gets_the_general_paths_answer() {
        let pod = json!({ "apiVersion": "v1", "kind": "Pod",
            "spec": { "containers": [{ "name": "c", "image": "a:1" }] } });
        // Without `resource`, kube refuses the review: so does the webhook, as before.
        let mut no_resource = request("Pod", "CREATE", pod.clone());
        no_resource.as_object_mut().unwrap().remove("resource");
        let refused = parse(&review(no_resource)).err().unwrap();
        assert!(
            refused.why.contains("not an AdmissionReview"),
            "{}",
            refused.why
        );
        assert_eq!(refused.uid, "u-1");
        // An object of another kind under a Pod request is no Pod.
        let wrong = json!({ "apiVersion": "v1", "kind": "Secret" });
        let refused = parse(&review(request("Pod", "CREATE", wrong)))
            .err()
            .unwrap();
        assert!(refused.why.contains("not a Pod"), "{}", refused.why);
        // A create without an object.
        let mut empty = request("Pod", "CREATE", json!(null));
        empty.as_object_mut().unwrap().remove("object");
        let refused = parse(&review(empty)).err().unwrap();
        assert!(refused.why.contains("without an object"), "{}", refused.why);
        // A Pod's ephemeral containers subresource is not a create of a Pod.
        let mut sub = request("Pod", "CREATE", pod);
        sub["subResource"] = json!("ephemeralcontainers");
        assert!(matches!(
            parse(&review(sub)).ok().unwrap().subject,
            Subject::Other(_)
        ));
    }

    #[test]
    fn unreadable_requests_are_allowed_with_a_warning_and_their_uid() {
        let broken = parse(&review(request("Pod", "CREATE", json!({ "spec": 3 }))))
            .err()
            .unwrap();
        assert_eq!(broken.uid, "u-1");
        let answer = Answer::malformed(&broken).to_review();
        assert_eq!(answer["response"]["uid"], "u-1");
        assert_eq!(answer["response"]["allowed"], true);
        assert!(
            answer["response"]["warnings"][0]
                .as_str()
                .unwrap()
                .contains("could not be read")
        );
        let garbage = parse(b"{").err().unwrap();
        assert_eq!(garbage.uid, "");
        assert_eq!(
            Answer::malformed(&garbage).to_review()["apiVersion"],
            ADMISSION_V1
        );
    }

    #[test]
    fn the_patch_is_base64_json_and_a_denial_has_a_message() {
        let patch: Patch = serde_json::from_value(
            json!([{ "op": "replace", "path": "/spec/containers/0/image", "value": "a:2" }]),
        )
        .unwrap();
        let answer = Answer::allow("u", ADMISSION_V1).patched(patch).to_review();
        assert_eq!(answer["response"]["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(answer["response"]["patch"].as_str().unwrap())
            .unwrap();
        let ops: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(ops[0]["value"], "a:2");
        let unchanged = Answer::allow("u", ADMISSION_V1)
            .patched(Patch(vec![]))
            .to_review();
        assert!(unchanged["response"].get("patch").is_none());
        let denied = Answer::allow("u", ADMISSION_V1)
            .deny("no".into())
            .to_review();
        assert_eq!(denied["response"]["allowed"], false);
        assert_eq!(denied["response"]["status"]["message"], "no");
        assert_eq!(denied["response"]["status"]["code"], 403);
        assert_eq!(denied["response"]["status"]["reason"], "Forbidden");
        assert_eq!(denied["kind"], "AdmissionReview");
        assert_eq!(denied["apiVersion"], ADMISSION_V1);
    }
}
