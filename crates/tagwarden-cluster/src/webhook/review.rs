//! `AdmissionReview` v1 in and out.
//!
//! In: the request, read with kube's [`AdmissionRequest`] over a `DynamicObject`, so that
//! any object parses and the scope (kind, operation) is decided before the object is read
//! as a k8s-openapi [`Pod`].
//!
//! Out: an [`Answer`], serialized as the API server expects it: `response.uid` copied
//! from the request, `allowed`, `patchType: JSONPatch` with the patch as **base64 of its
//! JSON** (Go's `[]byte`), `warnings`, and for a denial `status.message`. The
//! `apiVersion` is the request's (the API server requires the same version back).
//!
//! A request that cannot be read still gets an answer: allowed, with a warning saying why
//! (and its `uid` when it has one). The webhook must never be the reason a Pod cannot be
//! created.

use base64::Engine as _;
use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use serde::Serialize;
use serde_json::Value;

/// The version this webhook speaks (and answers in when the request says nothing).
const ADMISSION_V1: &str = "admission.k8s.io/v1";

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
        /// The Pod as sent (for a `generateName` Pod, without its name yet).
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

/// Reads an `AdmissionReview` body.
pub(crate) fn parse(body: &[u8]) -> Result<Request, Malformed> {
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

/// What to answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    uid: String,
    api_version: String,
    denial: Option<String>,
    patch: Option<Patch>,
    warnings: Vec<String>,
}

impl Answer {
    /// Allow the object unchanged.
    pub(crate) fn allow(uid: &str, api_version: &str) -> Answer {
        Answer {
            uid: uid.to_string(),
            api_version: api_version.to_string(),
            denial: None,
            patch: None,
            warnings: Vec::new(),
        }
    }

    /// Allow a request that could not be read, saying why in a warning.
    pub(crate) fn malformed(malformed: &Malformed) -> Answer {
        Answer::allow(&malformed.uid, &malformed.api_version).warn(format!(
            "tagwarden: the admission request could not be read, so it was allowed unchanged: {}",
            malformed.why
        ))
    }

    /// With this JSONPatch applied (nothing when it is empty).
    pub(crate) fn patched(mut self, patch: Patch) -> Answer {
        self.patch = (!patch.0.is_empty()).then_some(patch);
        self
    }

    /// Denied, with `message` for the user.
    pub(crate) fn deny(mut self, message: String) -> Answer {
        self.denial = Some(message);
        self
    }

    /// With one more warning.
    pub(crate) fn warn(mut self, warning: String) -> Answer {
        self.warnings.push(warning);
        self
    }

    /// With these warnings added.
    pub(crate) fn warn_all(mut self, warnings: impl IntoIterator<Item = String>) -> Answer {
        self.warnings.extend(warnings);
        self
    }

    /// The `AdmissionReview` to send back.
    pub(crate) fn to_review(&self) -> Value {
        let response = Response {
            uid: &self.uid,
            allowed: self.denial.is_none(),
            status: self.denial.as_ref().map(|message| Status {
                code: 403,
                reason: "Forbidden",
                message,
            }),
            patch_type: self.patch.as_ref().map(|_| "JSONPatch"),
            patch: self.patch.as_ref().map(|patch| {
                let json = serde_json::to_vec(patch).expect("a JSONPatch is always JSON");
                base64::engine::general_purpose::STANDARD.encode(json)
            }),
            warnings: &self.warnings,
        };
        serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "AdmissionReview",
            "response": response,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Status<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
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
    }
}
