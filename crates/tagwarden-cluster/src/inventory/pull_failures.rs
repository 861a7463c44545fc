//! Pull failures Kubernetes already sees: containers waiting with `ErrImagePull`,
//! `ImagePullBackOff` or `InvalidImageName`, and the kubelet's Event saying why.
//!
//! The kubelet records a `Failed` Event (`Failed to pull image "…": rpc error: …`) on the
//! Pod, with the container in `involvedObject.fieldPath` (`spec.containers{NAME}`). Its
//! message is classified by what the registry answered, as containerd and CRI-O word it:
//!
//! | class | the message says |
//! |---|---|
//! | `rate_limited` | `429`, `toomanyrequests`, `rate limit` |
//! | `not_found` | `not found`, `manifest unknown`, `name unknown` |
//! | `unauthorized` | `401`, `403`, `unauthorized`, `forbidden`, `denied`, `authentication required` |
//! | `other` | anything else (DNS, TLS, timeouts, an invalid name) |

use std::collections::HashMap;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::objects::Object;
use super::wire::EventWire;

/// What the registry told the kubelet, from its Event's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullFailureClass {
    /// The tag or repository does not exist.
    NotFound,
    /// The registry refused the node's credentials (or asked for some).
    Unauthorized,
    /// The registry's rate limit (Docker Hub's `toomanyrequests`).
    RateLimited,
    /// Anything else: DNS, TLS, timeouts, an invalid name, or no message to tell.
    Other,
}

impl PullFailureClass {
    /// Classifies a kubelet message (see the [module documentation](self)).
    pub fn of_message(message: &str) -> PullFailureClass {
        let text = message.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        // A status code counts as a number of its own: the registry's port (…:42961) or a
        // digest holding "429" is no rate limit.
        let code = |codes: &[&str]| codes.iter().any(|c| has_number(&text, c));
        if code(&["429"]) || has(&["toomanyrequests", "too many requests", "rate limit"]) {
            PullFailureClass::RateLimited
        } else if has(&["not found", "manifest unknown", "name unknown", "notfound"]) {
            PullFailureClass::NotFound
        } else if code(&["401", "403"])
            || has(&[
                "unauthorized",
                "forbidden",
                "denied",
                "authentication required",
            ])
        {
            PullFailureClass::Unauthorized
        } else {
            PullFailureClass::Other
        }
    }
}

/// Whether `number` appears in `text` with no digit right before or after it.
fn has_number(text: &str, number: &str) -> bool {
    let digit_at = |i: Option<usize>| {
        i.and_then(|i| text.as_bytes().get(i))
            .is_some_and(u8::is_ascii_digit)
    };
    text.match_indices(number)
        .any(|(at, _)| !digit_at(at.checked_sub(1)) && !digit_at(Some(at + number.len())))
}

/// One container that cannot pull its image now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullFailure {
    /// The image, as the Pod spec writes it.
    pub image: String,
    /// The Pod's namespace.
    pub namespace: String,
    /// The Pod.
    pub pod: String,
    /// The container (init and ephemeral containers included).
    pub container: String,
    /// `ErrImagePull`, `ImagePullBackOff` or `InvalidImageName`.
    pub reason: String,
    /// When the kubelet first reported it (the earliest pull Event's first time), RFC 3339.
    pub since: Option<String>,
    /// The kubelet's latest `Failed to pull image` message, else the waiting message.
    pub message: Option<String>,
    /// What the message says the registry answered.
    pub class: PullFailureClass,
}

/// The kubelet's pull Events of one container.
#[derive(Debug, Default)]
struct ContainerEvents {
    /// The latest `Failed to pull image …` Event: when, and its message.
    latest_failure: Option<(Option<Timestamp>, String)>,
    /// The earliest time of any pull Event (Pulling, Failed, BackOff).
    first_seen: Option<Timestamp>,
}

/// The kubelet's pull Events, by (namespace, Pod, field path); every other Event is
/// dropped as it is read.
#[derive(Debug, Default)]
pub(crate) struct PullEvents {
    by_container: HashMap<(String, String, String), ContainerEvents>,
}

impl PullEvents {
    /// Keeps `event` when it is the kubelet's about pulling a Pod's image.
    pub fn add(&mut self, event: EventWire) {
        let object = event.involved_object;
        if object.kind.as_deref() != Some("Pod") {
            return;
        }
        let message = event.message.unwrap_or_default();
        let reason = event.reason.unwrap_or_default();
        let about_pulling = matches!(
            reason.as_str(),
            "Pulling" | "Failed" | "BackOff" | "InspectFailed"
        ) && (message.contains("image") || message.contains("Image"));
        if !about_pulling {
            return;
        }
        let key = (
            object.namespace.unwrap_or_default(),
            object.name.unwrap_or_default(),
            object.field_path.unwrap_or_default(),
        );
        let entry = self.by_container.entry(key).or_default();
        let first = event
            .first_timestamp
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0));
        let last = event
            .last_timestamp
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0))
            .or(first);
        if let Some(first) = first {
            entry.first_seen = Some(entry.first_seen.map_or(first, |seen| seen.min(first)));
        }
        if reason == "Failed" && message.starts_with("Failed to pull image") {
            let newer = match &entry.latest_failure {
                Some((seen, _)) => last >= *seen,
                None => true,
            };
            if newer {
                entry.latest_failure = Some((last, message));
            }
        }
    }
}

/// Every container of `pods` waiting on a pull failure, with its Event, in the order of
/// the Pods (namespace, name) and of their containers.
pub(crate) fn of<'a>(
    pods: impl Iterator<Item = &'a Object>,
    events: &PullEvents,
) -> Vec<PullFailure> {
    let mut pods: Vec<&Object> = pods.filter(|p| !p.waiting.is_empty()).collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut failures = Vec::new();
    for pod in pods {
        for waiting in &pod.waiting {
            let key = (
                pod.namespace.to_string(),
                pod.name.to_string(),
                format!("spec.{}{{{}}}", waiting.list.field(), waiting.container),
            );
            let container_events = events.by_container.get(&key);
            let event_message = container_events
                .and_then(|e| e.latest_failure.as_ref())
                .map(|(_, message)| message.clone());
            let message = event_message.or(waiting.message.as_deref().map(str::to_string));
            failures.push(PullFailure {
                image: waiting.image.to_string(),
                namespace: pod.namespace.to_string(),
                pod: pod.name.to_string(),
                container: waiting.container.to_string(),
                class: match &*waiting.reason {
                    "InvalidImageName" => PullFailureClass::Other,
                    _ => message
                        .as_deref()
                        .map(PullFailureClass::of_message)
                        .unwrap_or(PullFailureClass::Other),
                },
                reason: waiting.reason.to_string(),
                since: container_events
                    .and_then(|e| e.first_seen)
                    .map(|t| t.to_string()),
                message,
            });
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_messages_are_classified_by_what_the_registry_said() {
        let cases = [
            (
                r#"Failed to pull image "clastix/kubectl:v1.32": rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/clastix/kubectl:v1.32": failed to resolve reference "docker.io/clastix/kubectl:v1.32": docker.io/clastix/kubectl:v1.32: not found"#,
                PullFailureClass::NotFound,
            ),
            (
                r#"Failed to pull image "registry.example.com/payments/ledger:3.1.0": rpc error: code = Unknown desc = failed to pull and unpack image: failed to resolve reference: unexpected status from HEAD request to https://registry.example.com/v2/payments/ledger/manifests/3.1.0: 401 Unauthorized"#,
                PullFailureClass::Unauthorized,
            ),
            (
                r#"Failed to pull image "nginx:1.27": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginx:1.27": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:…: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."#,
                PullFailureClass::RateLimited,
            ),
            (
                r#"Failed to pull image "ghcr.io/org/app:1": rpc error: code = DeadlineExceeded desc = failed to pull and unpack image: dial tcp 140.82.121.33:443: i/o timeout"#,
                PullFailureClass::Other,
            ),
        ];
        for (message, class) in cases {
            assert_eq!(PullFailureClass::of_message(message), class, "{message}");
        }
        // A registry on a port holding 429 (or 401, 403) is not a rate limit (or a denial).
        for port in ["42961", "14290", "40123", "24030"] {
            let message = format!(
                r#"Failed to pull image "127.0.0.1:{port}/clastix/kubectl:v1.32": rpc error: code = NotFound desc = failed to resolve reference "127.0.0.1:{port}/clastix/kubectl:v1.32": not found"#
            );
            assert_eq!(
                PullFailureClass::of_message(&message),
                PullFailureClass::NotFound,
                "{message}"
            );
        }
    }
}
