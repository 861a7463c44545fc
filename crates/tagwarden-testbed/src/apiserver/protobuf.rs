//! Just enough of Kubernetes' protobuf encoding to read the bodies kubectl's
//! typed clients send as `application/vnd.kubernetes.protobuf` (kubectl 1.28
//! and newer: `kubectl auth can-i`, `kubectl create namespace`, `kubectl
//! create serviceaccount|role|clusterrole|rolebinding|clusterrolebinding`):
//! the `k8s\0` envelope (`runtime.Unknown`), then a `SelfSubjectAccessReview`,
//! the RBAC kinds (rules, roleRef, subjects), or a `Namespace` or
//! `ServiceAccount` of which only the metadata (name, generateName, labels,
//! annotations) is read. Every other kind is `415`, as if the server did not
//! read protobuf.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The kinds whose protobuf bodies are read.
pub(crate) const KINDS: &[&str] = &[
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "Namespace",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
];

/// The fields of one message: number → every length-delimited or varint
/// value it had, in order.
#[derive(Default)]
struct Message<'a> {
    bytes: BTreeMap<u64, Vec<&'a [u8]>>,
    varints: BTreeMap<u64, Vec<u64>>,
}

fn varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn parse(data: &[u8]) -> Option<Message<'_>> {
    let mut m = Message::default();
    let mut at = 0;
    while at < data.len() {
        let key = varint(data, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => m
                .varints
                .entry(field)
                .or_default()
                .push(varint(data, &mut at)?),
            1 => at += 8,
            2 => {
                let len = usize::try_from(varint(data, &mut at)?).ok()?;
                let value = data.get(at..at.checked_add(len)?)?;
                at += len;
                m.bytes.entry(field).or_default().push(value);
            }
            5 => at += 4,
            _ => return None,
        }
    }
    Some(m)
}

impl<'a> Message<'a> {
    fn text(&self, field: u64) -> String {
        self.bytes
            .get(&field)
            .and_then(|v| v.last())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    fn texts(&self, field: u64) -> Vec<String> {
        self.bytes
            .get(&field)
            .into_iter()
            .flatten()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    fn messages(&self, field: u64) -> Vec<Message<'a>> {
        self.bytes
            .get(&field)
            .into_iter()
            .flatten()
            .filter_map(|b| parse(b))
            .collect()
    }

    /// The non-empty string fields of this message, by number, as a JSON object.
    fn strings(&self, names: &[(u64, &str)]) -> Value {
        let mut out = Map::new();
        for (field, key) in names {
            let text = self.text(*field);
            if !text.is_empty() {
                out.insert((*key).into(), json!(text));
            }
        }
        Value::Object(out)
    }

    fn message(&self, field: u64) -> Option<Message<'a>> {
        parse(self.bytes.get(&field)?.last()?)
    }

    fn string_map(&self, field: u64) -> Map<String, Value> {
        let mut map = Map::new();
        for entry in self.bytes.get(&field).into_iter().flatten() {
            if let Some(e) = parse(entry) {
                map.insert(e.text(1), json!(e.text(2)));
            }
        }
        map
    }
}

/// The `metadata` of an object: name, generateName, namespace, labels,
/// annotations.
fn object_meta(m: &Message<'_>) -> Value {
    let mut meta = Map::new();
    for (field, key) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
        let text = m.text(field);
        if !text.is_empty() {
            meta.insert(key.into(), json!(text));
        }
    }
    for (field, key) in [(11, "labels"), (12, "annotations")] {
        let map = m.string_map(field);
        if !map.is_empty() {
            meta.insert(key.into(), Value::Object(map));
        }
    }
    Value::Object(meta)
}

fn access_review_spec(spec: &Message<'_>) -> Value {
    let mut out = json!({});
    if let Some(r) = spec.message(1) {
        let mut attrs = Map::new();
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        for (i, key) in names.iter().enumerate() {
            let text = r.text(i as u64 + 1);
            if !text.is_empty() {
                attrs.insert((*key).into(), json!(text));
            }
        }
        out["resourceAttributes"] = Value::Object(attrs);
    }
    if let Some(n) = spec.message(2) {
        out["nonResourceAttributes"] = json!({ "path": n.text(1), "verb": n.text(2) });
    }
    out
}

/// An RBAC `PolicyRule`: verbs, apiGroups, resources, resourceNames,
/// nonResourceURLs (only the lists that are there).
fn policy_rule(rule: &Message<'_>) -> Value {
    let mut out = Map::new();
    let lists = [
        (1, "verbs"),
        (2, "apiGroups"),
        (3, "resources"),
        (4, "resourceNames"),
        (5, "nonResourceURLs"),
    ];
    for (field, key) in lists {
        let values = rule.texts(field);
        if !values.is_empty() || key == "verbs" {
            out.insert(key.into(), json!(values));
        }
    }
    Value::Object(out)
}

/// The JSON of a protobuf body, or why it cannot be read.
pub(crate) fn decode(data: &[u8]) -> Result<Value, String> {
    let body = data
        .strip_prefix(b"k8s\x00")
        .ok_or("a protobuf body must start with the k8s\\0 envelope")?;
    let unknown = parse(body).ok_or("the protobuf envelope is malformed")?;
    let type_meta = unknown.message(1).unwrap_or_default();
    let (api_version, kind) = (type_meta.text(1), type_meta.text(2));
    let raw = unknown
        .bytes
        .get(&2)
        .and_then(|v| v.last())
        .copied()
        .unwrap_or_default();
    let object = parse(raw).ok_or("the protobuf object is malformed")?;
    let metadata = object
        .message(1)
        .map(|m| object_meta(&m))
        .unwrap_or(json!({}));
    let mut out = json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata });
    match kind.as_str() {
        "SelfSubjectAccessReview" => {
            let spec = object.message(2).unwrap_or_default();
            out["spec"] = access_review_spec(&spec);
        }
        "SelfSubjectRulesReview" => {
            let spec = object.message(2).unwrap_or_default();
            out["spec"] = json!({ "namespace": spec.text(1) });
        }
        "Namespace" | "ServiceAccount" => {}
        "Role" | "ClusterRole" => {
            let rules: Vec<Value> = object.messages(2).iter().map(policy_rule).collect();
            out["rules"] = json!(rules);
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let subjects: Vec<Value> = object
                .messages(2)
                .iter()
                .map(|s| s.strings(&[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")]))
                .collect();
            out["subjects"] = json!(subjects);
            let role_ref = object.message(3).unwrap_or_default();
            out["roleRef"] = role_ref.strings(&[(1, "apiGroup"), (2, "kind"), (3, "name")]);
        }
        other => return Err(format!("the test API server reads no protobuf {other}")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_self_subject_access_review_is_read() {
        let attrs = [field(2, b"list"), field(5, b"pods"), field(1, b"shop")].concat();
        let spec = field(1, &attrs);
        let review = [field(1, &[]), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let unknown = [field(1, &type_meta), field(2, &review)].concat();
        let body = [b"k8s\x00".as_slice(), &unknown].concat();
        let json = decode(&body).unwrap();
        assert_eq!(json["kind"], "SelfSubjectAccessReview");
        assert_eq!(
            json["spec"]["resourceAttributes"],
            json!({ "namespace": "shop", "verb": "list", "resource": "pods" })
        );
        assert!(decode(b"{}").is_err());
    }
}
