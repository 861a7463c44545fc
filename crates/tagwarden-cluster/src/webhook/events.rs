//! An Event on the Pod's owner saying what the webhook rewrote and why: the Job of a Helm
//! hook, the ReplicaSet of a Deployment (a Pod being created has no name yet when it comes
//! from `generateName`, and its owner is what people look at).
//!
//! Not for dry runs (`kubectl create --dry-run=server`): the webhook configuration says
//! `sideEffects: NoneOnDryRun`, and an Event is a side effect. Best effort: publishing is
//! spawned, so it never delays the answer, and a failure is
//! only logged. kube-runtime's `Recorder` (events.k8s.io/v1) merges repeats into one
//! series, so a Job that retries its Pod does not flood.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::runtime::events::{Event, EventType, Recorder};

use super::patch::Rewrite;

/// The Event's reason (low cardinality: the images are in the note).
pub(crate) const REASON: &str = "ImageRewritten";

/// Whom to tell: the Pod's controller (else its first owner), else the Pod itself when it
/// already has a name; `None` for a nameless, ownerless Pod.
pub(crate) fn regarding(pod: &Pod, namespace: &str) -> Option<ObjectReference> {
    let namespace = Some(namespace.to_string()).filter(|ns| !ns.is_empty());
    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    let owner = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first());
    if let Some(owner) = owner {
        return Some(ObjectReference {
            api_version: Some(owner.api_version.clone()),
            kind: Some(owner.kind.clone()),
            name: Some(owner.name.clone()),
            uid: Some(owner.uid.clone()),
            namespace,
            ..ObjectReference::default()
        });
    }
    let name = pod.metadata.name.clone().filter(|n| !n.is_empty())?;
    Some(ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name),
        namespace,
        ..ObjectReference::default()
    })
}

/// The note: one line per rewrite, cut to the 1 kB Kubernetes allows.
pub(crate) fn note(rewrites: &[Rewrite]) -> String {
    let mut note = rewrites
        .iter()
        .map(|r| {
            format!(
                "container {}: {} -> {} ({})",
                r.container, r.original, r.replacement, r.why
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if note.len() > 1024 {
        let mut end = 1021;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    note
}

/// Publishes the Event in the background.
pub(crate) fn publish(recorder: &Recorder, regarding: ObjectReference, rewrites: &[Rewrite]) {
    let recorder = recorder.clone();
    let event = Event {
        type_: EventType::Warning,
        reason: REASON.into(),
        note: Some(note(rewrites)),
        action: "Admit".into(),
        secondary: None,
    };
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &regarding).await {
            tracing::warn!(
                error = %e,
                kind = regarding.kind.as_deref().unwrap_or_default(),
                name = regarding.name.as_deref().unwrap_or_default(),
                "cannot publish the ImageRewritten event"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_is_regarded_else_a_named_pod() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "generateName": "job-", "ownerReferences": [
                { "apiVersion": "v1", "kind": "Other", "name": "o", "uid": "1" },
                { "apiVersion": "batch/v1", "kind": "Job", "name": "job", "uid": "2", "controller": true },
            ] }
        }))
        .unwrap();
        let to = regarding(&pod, "ns").unwrap();
        assert_eq!(
            (to.kind.as_deref(), to.uid.as_deref()),
            (Some("Job"), Some("2"))
        );
        assert_eq!(to.namespace.as_deref(), Some("ns"));
        let nameless: Pod =
            serde_json::from_value(serde_json::json!({ "metadata": { "generateName": "x-" } }))
                .unwrap();
        assert!(regarding(&nameless, "ns").is_none());
        let long = vec![
            Rewrite {
                container: "c".into(),
                original: "a".repeat(600),
                replacement: "b".repeat(600),
                why: "w".into(),
            };
            2
        ];
        assert!(note(&long).len() <= 1024);
    }
}
