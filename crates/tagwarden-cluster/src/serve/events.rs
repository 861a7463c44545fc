//! Kubernetes Events for the monitor's transitions, on each workload that uses the image
//! (events.k8s.io/v1 through kube-runtime's `Recorder`, which folds repeats into a series).
//!
//! | transition | type | reason |
//! |---|---|---|
//! | an image became missing, denied, rate-limited, unreachable or invalid | Warning | `ImageMissing`, `ImageDenied`, `ImageRateLimited`, `ImageUnreachable`, `ImageInvalid` |
//! | it is available again | Normal | `ImageAvailable` |
//! | a tag that was present was deleted or now points at another digest | Warning | `ImageTagChanged` |
//!
//! The reason stays low-cardinality; the image, the registry's answer and the fallback go
//! in the note (at most 1 kB). The monitor sends one transition per state change, so a
//! stuck image is one Event, not one per check.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Event, EventType, Recorder};

use crate::inventory::WorkloadLocation;
use crate::monitor::{TagChange, Transition};

/// The most a note may hold (the API server's limit is 1 kB).
const MAX_NOTE: usize = 1_000;

/// The Event for a transition, and the objects it is about.
pub(crate) fn event_of(transition: &Transition) -> (Event, Vec<ObjectReference>) {
    let (type_, reason, note, uses) = match transition {
        Transition::Unavailable {
            image,
            status,
            reason,
            fallback,
            uses,
        } => {
            let mut note = format!("image {image} is {}: {reason}", status.as_str());
            if let Some(fallback) = fallback {
                note.push_str(&format!(
                    "; the nearest published compatible tag is {fallback}"
                ));
            }
            (EventType::Warning, reason_of(status.as_str()), note, uses)
        }
        Transition::Available { image, uses } => (
            EventType::Normal,
            "ImageAvailable".to_string(),
            format!("image {image} is available again"),
            uses,
        ),
        Transition::TagChanged {
            image,
            change,
            uses,
        } => {
            let what = match change {
                TagChange::Deleted { digest } => {
                    format!("was deleted from its registry (it was {digest})")
                }
                TagChange::Retagged { from, to } => {
                    format!("now points at {to} (it was {from}): the tag was moved")
                }
            };
            (
                EventType::Warning,
                "ImageTagChanged".to_string(),
                format!("the tag of image {image} {what}"),
                uses,
            )
        }
    };
    let event = Event {
        type_,
        reason,
        note: Some(truncate(note)),
        action: "CheckImage".to_string(),
        secondary: None,
    };
    (event, uses.iter().map(reference_of).collect())
}

/// `ImageMissing`, `ImageDenied`, … from a status word (`rate_limited` → `ImageRateLimited`).
fn reason_of(status: &str) -> String {
    let camel: String = status
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect();
    format!("Image{camel}")
}

fn truncate(mut note: String) -> String {
    if note.len() > MAX_NOTE {
        let mut cut = MAX_NOTE - 3;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push('…');
    }
    note
}

/// The object an Event is about.
fn reference_of(location: &WorkloadLocation) -> ObjectReference {
    let api_version = match location.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "v1",
    };
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(location.kind.clone()),
        name: Some(location.name.clone()),
        namespace: Some(location.namespace.clone()),
        ..ObjectReference::default()
    }
}

/// (namespace, kind, name, image) of an Event about an image on an object.
type Subject = (String, String, String, String);

/// The latest Event tagwarden wrote about each image on each object, as (reason, note):
/// what a new leader reads from the cluster so that it does not announce again what the
/// previous leader already said.
#[derive(Debug, Default)]
pub(crate) struct History {
    latest: HashMap<Subject, (String, String)>,
}

impl History {
    /// The Events `controller` wrote (events.k8s.io/v1) in `namespaces` (empty: all).
    pub async fn load(client: &kube::Client, controller: &str, namespaces: &[String]) -> History {
        let apis: Vec<Api<K8sEvent>> = if namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        };
        let mut history = History::default();
        let mut newest: HashMap<Subject, String> = HashMap::new();
        for api in apis {
            let events = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(e) => {
                    tracing::warn!("cannot read earlier Events (they may be repeated): {e}");
                    continue;
                }
            };
            for event in events {
                if event.reporting_controller.as_deref() != Some(controller) {
                    continue;
                }
                let (Some(regarding), Some(reason), Some(note)) =
                    (&event.regarding, &event.reason, &event.note)
                else {
                    continue;
                };
                let Some(image) = image_in(note) else {
                    continue;
                };
                let subject = (
                    regarding.namespace.clone().unwrap_or_default(),
                    regarding.kind.clone().unwrap_or_default(),
                    regarding.name.clone().unwrap_or_default(),
                    image,
                );
                let when = event
                    .series
                    .as_ref()
                    .map(|s| s.last_observed_time.0.to_string())
                    .or(event.event_time.as_ref().map(|t| t.0.to_string()))
                    .unwrap_or_default();
                if newest.get(&subject).is_none_or(|seen| *seen <= when) {
                    newest.insert(subject.clone(), when);
                    history
                        .latest
                        .insert(subject, (reason.clone(), note.clone()));
                }
            }
        }
        history
    }
}

/// The image an Event's note is about (`image X …`, `the tag of image X …`).
fn image_in(note: &str) -> Option<String> {
    let rest = note.split_once("image ")?.1;
    rest.split_whitespace().next().map(str::to_string)
}

/// Publishes the transition's Event on each of its objects, unless the latest Event
/// about the image on that object already says the same; a refused Event is logged
/// (RBAC without `create` on events), never fatal.
pub(crate) async fn publish(recorder: &Recorder, history: &mut History, transition: &Transition) {
    let (event, objects) = event_of(transition);
    let note = event.note.clone().unwrap_or_default();
    for object in objects {
        let subject = (
            object.namespace.clone().unwrap_or_default(),
            object.kind.clone().unwrap_or_default(),
            object.name.clone().unwrap_or_default(),
            transition.image().to_string(),
        );
        let said = (event.reason.clone(), note.clone());
        if history.latest.get(&subject) == Some(&said) {
            continue;
        }
        match recorder.publish(&event, &object).await {
            Ok(()) => {
                history.latest.insert(subject, said);
            }
            Err(e) => tracing::warn!(
                reason = %event.reason,
                object = ?object.name,
                "cannot write the Event: {e}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_their_image() {
        assert_eq!(
            image_in("image r/clastix/kubectl:v1.32 is missing: v1.32 is not published").as_deref(),
            Some("r/clastix/kubectl:v1.32")
        );
        assert_eq!(
            image_in("the tag of image nginx:1.27 was deleted from its registry").as_deref(),
            Some("nginx:1.27")
        );
        assert_eq!(image_in("nothing here"), None);
    }

    #[test]
    fn reasons_are_pascal_case_and_bounded() {
        assert_eq!(reason_of("missing"), "ImageMissing");
        assert_eq!(reason_of("rate_limited"), "ImageRateLimited");
        let long = "é".repeat(2_000);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_NOTE, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }
}
