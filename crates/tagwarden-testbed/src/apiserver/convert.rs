//! The two Event APIs are two views of one store, as in the real server:
//! an Event written through `events.k8s.io/v1` (kube-runtime's `Recorder`)
//! is listed by `kubectl get events` (core `v1`), and the kubelet's core
//! Events are readable through `events.k8s.io/v1`.
//!
//! Objects are stored in the core shape; the `events.k8s.io/v1` view renames
//! the fields that differ (`involvedObject` ↔ `regarding`, `message` ↔
//! `note`, `reportingComponent` ↔ `reportingController`, and the
//! `deprecated…` source, timestamps and count). The renames are all at the
//! top level and one-to-one, so merge patches and apply configurations
//! convert by the same renaming.

use serde_json::{Map, Value};

/// `(core v1 field, events.k8s.io/v1 field)`.
const RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn rename(object: &Value, to_events: bool, api_version: &str) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let key = RENAMES
            .iter()
            .find_map(|(core, events)| match to_events {
                true if k == core => Some(*events),
                false if k == events => Some(*core),
                _ => None,
            })
            .unwrap_or(k);
        let v = if k == "apiVersion" {
            Value::from(api_version)
        } else {
            v.clone()
        };
        out.insert(key.to_string(), v);
    }
    Value::Object(out)
}

/// A stored (core) Event as `events.k8s.io/v1` shows it.
pub(crate) fn core_to_events(object: &Value) -> Value {
    rename(object, true, "events.k8s.io/v1")
}

/// An `events.k8s.io/v1` Event (or patch) in the stored core shape.
pub(crate) fn events_to_core(object: &Value) -> Value {
    rename(object, false, "v1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_views_round_trip() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": { "name": "e" },
            "involvedObject": { "kind": "Pod" }, "message": "m", "count": 3, "reason": "Failed",
        });
        let events = core_to_events(&core);
        assert_eq!(events["apiVersion"], "events.k8s.io/v1");
        assert_eq!(events["regarding"]["kind"], "Pod");
        assert_eq!(events["note"], "m");
        assert_eq!(events["deprecatedCount"], 3);
        assert_eq!(events["reason"], "Failed");
        assert_eq!(events_to_core(&events), core);
    }
}
