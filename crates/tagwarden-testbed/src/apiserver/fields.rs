//! Field ownership (`metadata.managedFields`), enough for server-side apply
//! to conflict as the real server does.
//!
//! Leader election libraries (kube-lease-manager, which tagwarden's `serve`
//! uses) race for a Lease with server-side apply: two replicas apply
//! `spec.holderIdentity`, and the second gets `409 Conflict` because the
//! field is owned by the first's field manager with another value. So:
//!
//! - a write with a field manager records which fields it set: an update
//!   (`PUT`, merge patch) owns the fields whose value it changed, an apply
//!   owns exactly the fields in its configuration; a manager that loses a
//!   field's value loses the field; fields that are gone are owned by none;
//! - an apply without `force=true` that would change a field another
//!   manager owns fails with the real `Conflict` (`FieldManagerConflict`
//!   causes naming the manager and the field).
//!
//! Simplified: a list is one field (no merge keys, no `k:`/`v:` item
//! ownership of our own), only `labels`, `annotations`, `ownerReferences`
//! and `finalizers` of `metadata` are owned, and an apply does not remove
//! fields it stopped applying.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::store::ApiError;

/// A field: the object keys from the root.
pub(crate) type Path = Vec<String>;

const OWNED_METADATA: &[&str] = &["labels", "annotations", "ownerReferences", "finalizers"];

/// The leaf fields set in `object` (objects recursed, anything else a leaf;
/// an empty object sets nothing).
pub(crate) fn leaf_paths(object: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    prefix.push(k.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                out.insert(prefix.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Some(map) = object.as_object() {
        for (k, v) in map {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for f in OWNED_METADATA {
                        if let Some(child) = v.get(*f) {
                            walk(child, &mut vec![k.clone(), f.to_string()], &mut out);
                        }
                    }
                }
                _ => walk(v, &mut vec![k.clone()], &mut out),
            }
        }
    }
    out
}

fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The fields of a `fieldsV1` set (`{"f:spec":{"f:replicas":{}}}`); an item
/// set (`k:`/`v:`/`i:`) counts as its whole list.
pub(crate) fn parse(fields: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (k, child) in children {
            prefix.push(k[2..].to_string());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// The `fieldsV1` of a set of fields.
pub(crate) fn render(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for k in path {
            node = node
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("built as objects");
        }
    }
    Value::Object(root)
}

fn entries(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `409 Conflict` when applying `applied` as `manager` would change a field
/// that another manager owns.
pub(crate) fn check_apply_conflicts(
    current: &Value,
    applied: &Value,
    manager: &str,
    kind: &str,
    name: &str,
) -> Result<(), ApiError> {
    let paths = leaf_paths(applied);
    let mut conflicts = Vec::new();
    for entry in entries(current) {
        let owner = entry["manager"].as_str().unwrap_or_default();
        if owner == manager {
            continue;
        }
        let owned = parse(&entry["fieldsV1"]);
        for p in &paths {
            let contested = owned.iter().any(|o| overlaps(o, p));
            if contested && value_at(current, p) != value_at(applied, p) {
                let api_version = entry["apiVersion"].as_str().unwrap_or_default();
                conflicts.push((
                    owner.to_string(),
                    api_version.to_string(),
                    format!(".{}", p.join(".")),
                ));
            }
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = conflicts
        .iter()
        .map(|(m, v, f)| format!("conflict with \"{m}\" using {v}: {f}"))
        .collect();
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, f)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\" using {v}"),
                "field": f,
            })
        })
        .collect();
    let message = if conflicts.len() == 1 {
        format!("Apply failed with 1 conflict: {}", listed[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            listed.join("\n")
        )
    };
    let mut err = ApiError::new(409, "Conflict", message);
    err.details = Some(json!({ "name": name, "kind": kind, "causes": causes }));
    Err(err)
}

/// Update `object`'s `managedFields` for a write by `manager`: `applied`
/// is the configuration of an apply, `None` for an update.
pub(crate) fn record(
    object: &mut Value,
    previous: Option<&Value>,
    manager: &str,
    api_version: &str,
    time: &str,
    applied: Option<&Value>,
) {
    let present = |p: &Path, obj: &Value| value_at(obj, p).is_some();
    let changed: BTreeSet<Path> = leaf_paths(object)
        .into_iter()
        .filter(|p| previous.and_then(|prev| value_at(prev, p)) != value_at(object, p))
        .collect();
    let operation = if applied.is_some() { "Apply" } else { "Update" };
    let mut ours: BTreeSet<Path> = BTreeSet::new();
    let mut kept = Vec::new();
    for mut entry in entries(object) {
        let mut set = parse(&entry["fieldsV1"]);
        let is_ours = entry["manager"] == manager && entry["operation"] == operation;
        // Another manager loses the fields whose value this write changed.
        let lost = |p: &Path| !is_ours && changed.iter().any(|c| overlaps(c, p));
        set.retain(|p| present(p, object) && !lost(p));
        if is_ours {
            ours = set;
            continue;
        }
        if !set.is_empty() {
            entry["fieldsV1"] = render(&set);
            kept.push(entry);
        }
    }
    match applied {
        Some(config) => ours = leaf_paths(config),
        None => ours.extend(changed),
    }
    ours.retain(|p| present(p, object));
    if !ours.is_empty() {
        kept.push(json!({
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": render(&ours),
        }));
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(kept));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trips() {
        let fields = json!({ "f:spec": { "f:holderIdentity": {}, "f:containers": { "k:{\"name\":\"a\"}": {} } }, "f:metadata": { "f:labels": { ".": {}, "f:app": {} } } });
        let paths = parse(&fields);
        assert!(paths.contains(&vec!["spec".to_string(), "containers".to_string()]));
        assert!(paths.contains(&vec![
            "metadata".to_string(),
            "labels".to_string(),
            "app".to_string()
        ]));
        assert_eq!(parse(&render(&paths)), paths);
    }

    #[test]
    fn apply_conflicts_only_on_changed_fields_owned_by_others() {
        let mut lease = json!({ "metadata": { "name": "l" }, "spec": { "holderIdentity": "a", "leaseDurationSeconds": 15 } });
        let config_a = lease.clone();
        record(
            &mut lease,
            None,
            "lease-a",
            "coordination.k8s.io/v1",
            "t",
            Some(&config_a),
        );
        let same = json!({ "spec": { "leaseDurationSeconds": 15 } });
        assert!(check_apply_conflicts(&lease, &same, "lease-b", "leases", "l").is_ok());
        let take = json!({ "spec": { "holderIdentity": "b" } });
        let err = check_apply_conflicts(&lease, &take, "lease-b", "leases", "l").unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"lease-a\" using coordination.k8s.io/v1: .spec.holderIdentity"
        );
        assert!(check_apply_conflicts(&lease, &take, "lease-a", "leases", "l").is_ok());
        // An update by b takes the field over; then b may apply it.
        let before = lease.clone();
        lease["spec"]["holderIdentity"] = json!("b");
        record(
            &mut lease,
            Some(&before),
            "lease-b",
            "coordination.k8s.io/v1",
            "t",
            None,
        );
        assert!(
            check_apply_conflicts(
                &lease,
                &json!({ "spec": { "holderIdentity": "c" } }),
                "lease-b",
                "leases",
                "l"
            )
            .is_ok()
        );
    }
}
