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
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

/// The waiting reasons that mean the kubelet cannot pull an image.
const PULL_FAILURE_REASONS: &[&str] = &["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

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
        if has(&["429", "toomanyrequests", "too many requests", "rate limit"]) {
            PullFailureClass::RateLimited
        } else if has(&["not found", "manifest unknown", "name unknown", "notfound"]) {
            PullFailureClass::NotFound
        } else if has(&[
            "401",
            "403",
            "unauthorized",
            "forbidden",
            "denied",
            "authentication required",
        ]) {
            PullFailureClass::Unauthorized
        } else {
            PullFailureClass::Other
        }
    }
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
#[derive(Default)]
struct ContainerEvents<'a> {
    /// The latest `Failed to pull image …` Event.
    latest_failure: Option<(Option<Timestamp>, &'a str)>,
    /// The earliest time of any pull Event (Pulling, Failed, BackOff).
    first_seen: Option<Timestamp>,
}

/// Every container of `pods` waiting on a pull failure, with its Event.
pub(crate) fn of(pods: &[Arc<Pod>], events: &[Arc<Event>]) -> Vec<PullFailure> {
    let by_container = index_events(events);
    let mut failures = Vec::new();
    for pod in pods {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let Some(status) = &pod.status else { continue };
        let statuses = [
            ("spec.containers", &status.container_statuses),
            ("spec.initContainers", &status.init_container_statuses),
            (
                "spec.ephemeralContainers",
                &status.ephemeral_container_statuses,
            ),
        ];
        for (list, statuses) in statuses {
            for container in statuses.iter().flatten() {
                let Some((reason, waiting_message)) = waiting_on_pull(container) else {
                    continue;
                };
                let key = (
                    namespace.clone(),
                    name.clone(),
                    format!("{list}{{{}}}", container.name),
                );
                let events = by_container.get(&key);
                let event_message = events
                    .and_then(|e| e.latest_failure)
                    .map(|(_, message)| message.to_string());
                let message = event_message.or(waiting_message);
                failures.push(PullFailure {
                    image: spec_image(pod, &container.name)
                        .unwrap_or_else(|| container.image.clone()),
                    namespace: namespace.clone(),
                    pod: name.clone(),
                    container: container.name.clone(),
                    class: match reason.as_str() {
                        "InvalidImageName" => PullFailureClass::Other,
                        _ => message
                            .as_deref()
                            .map(PullFailureClass::of_message)
                            .unwrap_or(PullFailureClass::Other),
                    },
                    reason,
                    since: events.and_then(|e| e.first_seen).map(|t| t.to_string()),
                    message,
                });
            }
        }
    }
    failures
}

/// `(reason, message)` when the container waits because its image cannot be pulled.
fn waiting_on_pull(status: &ContainerStatus) -> Option<(String, Option<String>)> {
    let waiting = status.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    PULL_FAILURE_REASONS
        .contains(&reason)
        .then(|| (reason.to_string(), waiting.message.clone()))
}

/// The image the Pod spec gives the container `name` (the status may spell it otherwise).
fn spec_image(pod: &Pod, name: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let containers = spec.containers.iter().map(|c| (&c.name, &c.image));
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (&c.name, &c.image));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| (&c.name, &c.image));
    containers
        .chain(init)
        .chain(ephemeral)
        .find(|(n, _)| *n == name)
        .and_then(|(_, image)| image.clone())
}

/// The kubelet's pull Events by (namespace, Pod, field path).
fn index_events(events: &[Arc<Event>]) -> HashMap<(String, String, String), ContainerEvents<'_>> {
    let mut index: HashMap<(String, String, String), ContainerEvents<'_>> = HashMap::new();
    for event in events {
        let object = &event.involved_object;
        if object.kind.as_deref() != Some("Pod") {
            continue;
        }
        let message = event.message.as_deref().unwrap_or_default();
        let reason = event.reason.as_deref().unwrap_or_default();
        let about_pulling = matches!(reason, "Pulling" | "Failed" | "BackOff" | "InspectFailed")
            && (message.contains("image") || message.contains("Image"));
        if !about_pulling {
            continue;
        }
        let key = (
            object.namespace.clone().unwrap_or_default(),
            object.name.clone().unwrap_or_default(),
            object.field_path.clone().unwrap_or_default(),
        );
        let entry = index.entry(key).or_default();
        let first = event
            .first_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0));
        let last = event
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0))
            .or(first);
        if let Some(first) = first {
            entry.first_seen = Some(entry.first_seen.map_or(first, |seen| seen.min(first)));
        }
        if reason == "Failed" && message.starts_with("Failed to pull image") {
            let newer = match entry.latest_failure {
                Some((seen, _)) => last >= seen,
                None => true,
            };
            if newer {
                entry.latest_failure = Some((last, message));
            }
        }
    }
    index
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
    }
}
