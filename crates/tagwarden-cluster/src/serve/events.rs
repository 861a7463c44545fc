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
//! stuck image is one Event, not one per check; across a change of leader, the history
//! in [`Announced`] keeps it so.
//!
//! Each Event's `regarding` names the workload with its uid (the inventory carries it),
//! so `kubectl describe deployment web` shows it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use super::announced::Announced;
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

/// The object an Event is about, with its uid: `kubectl describe` finds Events by
/// `regarding.uid` (the resourceVersion is left out: it would be stale at once).
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
        uid: location.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Publishes the transition's Event on each of its objects, unless the latest Event
/// about the image on that object already said the same ([`Announced`], which a new
/// leader reads first); a refused Event is logged (RBAC without `create` on events),
/// never fatal.
pub(crate) async fn publish(
    recorder: &Recorder,
    announced: &mut Announced,
    transition: &Transition,
) {
    let (event, objects) = event_of(transition);
    let note = event.note.clone().unwrap_or_default();
    for object in objects {
        let key = Announced::key(
            transition.image(),
            object.namespace.as_deref().unwrap_or_default(),
            object.kind.as_deref().unwrap_or_default(),
            object.name.as_deref().unwrap_or_default(),
        );
        if announced.already_said(&key, &event.reason, &note) {
            continue;
        }
        match recorder.publish(&event, &object).await {
            Ok(()) => announced.record(key, &event.reason, &note),
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
    fn reasons_are_pascal_case_and_bounded() {
        assert_eq!(reason_of("missing"), "ImageMissing");
        assert_eq!(reason_of("rate_limited"), "ImageRateLimited");
        let long = "é".repeat(2_000);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_NOTE, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }
}
