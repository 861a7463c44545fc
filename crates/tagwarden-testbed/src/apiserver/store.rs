//! The object store: etcd's model, in memory.
//!
//! - One global, increasing `resourceVersion` (etcd's revision): every write
//!   of any object takes the next number, and it is stamped into the object.
//! - A history of every change since the last compaction. It gives watches
//!   their events from any resourceVersion still in it, and lists their
//!   consistent snapshot at an older resourceVersion (a `continue` token
//!   reads the state at the resourceVersion of its first page, as etcd does).
//! - [`Store::compact`] forgets the history: a watch or a `continue` from an
//!   older resourceVersion is then `410 Gone`, as after etcd's compaction.
//!
//! Objects are kept as etcd keeps them, serialized ([`Stored`]: the JSON text
//! without `apiVersion` and `kind`, which the resource says), not as
//! `serde_json::Value` trees: a 9 KB Pod is 9 KB here, against about ten times
//! that as a tree, so a server can hold the 150,000 Pods of the scale
//! benchmarks. Lists and watches send that text as it is; what needs a tree
//! (selectors, admission, RBAC, writes) parses the objects it reads.
//!
//! Writers (the HTTP handlers and the test's [`crate::ApiServer`] handle)
//! bump a `tokio::sync::watch` channel holding the newest resourceVersion;
//! each open watch waits on it and reads the history from where it left off,
//! so no watcher can miss or lag behind a change.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::discovery::{RESOURCES, Resource};
use super::fields;
use crate::token::{rfc3339, unix_now};

/// Where an object lives: resource (index in [`RESOURCES`]), namespace
/// (`""` for cluster-scoped), name. Ordered as etcd orders its keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) resource: usize,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// The `type` of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One write, as kept in the history.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) kind: ChangeKind,
    pub(crate) key: Key,
    /// The object after the change (for a delete: its last state, with the
    /// resourceVersion of the delete, as the real server sends it).
    pub(crate) object: Obj,
    /// The object before the change (`None` for an add): what a snapshot at
    /// an older resourceVersion restores, and how a filtered watch sees an
    /// object leave its selector.
    pub(crate) previous: Option<Obj>,
}

/// A stored object, shared between the current state and the history.
pub(crate) type Obj = Arc<Stored>;

/// An object as stored: its JSON text without `apiVersion` and `kind` (a
/// list item's shape), which its resource gives back (every write sets them
/// to the resource's, so nothing is lost).
#[derive(Debug)]
pub(crate) struct Stored {
    resource: usize,
    item: Box<str>,
}

impl Stored {
    fn new(resource: usize, object: &Value) -> Stored {
        let map = object.as_object().expect("stored objects are JSON objects");
        let item = serde_json::to_string(&WithoutIdentity(map)).expect("a JSON value serializes");
        Stored {
            resource,
            item: item.into_boxed_str(),
        }
    }

    /// The object as a tree, with its `apiVersion` and `kind`.
    pub(crate) fn value(&self) -> Value {
        let mut value: Value =
            serde_json::from_str(&self.item).expect("the store wrote this JSON itself");
        let res = &RESOURCES[self.resource];
        let map = value
            .as_object_mut()
            .expect("stored objects are JSON objects");
        map.insert("apiVersion".into(), json!(res.api_version()));
        map.insert("kind".into(), json!(res.kind));
        value
    }

    /// The JSON text of the object as a list item (no `apiVersion`, `kind`).
    pub(crate) fn item_json(&self) -> &str {
        &self.item
    }

    /// The JSON text of the whole object, with its `apiVersion` and `kind`.
    pub(crate) fn json(&self) -> String {
        let res = &RESOURCES[self.resource];
        let head = format!(
            "{{\"apiVersion\":{},\"kind\":{}",
            json!(res.api_version()),
            json!(res.kind)
        );
        match self.item.strip_prefix('{') {
            Some("}") => format!("{head}}}"),
            Some(rest) => format!("{head},{rest}"),
            None => unreachable!("stored objects are JSON objects"),
        }
    }
}

/// A JSON object serialized without its `apiVersion` and `kind`.
struct WithoutIdentity<'a>(&'a Map<String, Value>);

impl Serialize for WithoutIdentity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self
            .0
            .iter()
            .filter(|(k, _)| *k != "apiVersion" && *k != "kind");
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// An error answer: becomes a `Status` object.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, res: &Resource, name: &str) -> ApiError {
        let mut details = json!({ "name": name, "kind": res.plural });
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        self.details = Some(details);
        self
    }

    pub(crate) fn not_found(res: &Resource, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified()),
        )
        .with_details(res, name)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The `410` of a resourceVersion older than the history.
    pub(crate) fn too_old(asked: u64, oldest: u64) -> ApiError {
        ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {asked} ({oldest})"),
        )
    }

    /// The `Status` object of this error.
    pub(crate) fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

struct State {
    rv: u64,
    objects: BTreeMap<Key, Obj>,
    history: VecDeque<Change>,
    /// The oldest resourceVersion a watch or a snapshot may start from.
    compacted: u64,
}

/// A page of a list.
pub(crate) struct Page {
    pub(crate) rv: u64,
    pub(crate) items: Vec<Obj>,
    /// The key of the last item, when more matching items follow.
    pub(crate) next: Option<Key>,
    /// How many matching items follow, when known.
    pub(crate) remaining: usize,
}

/// How a watch begins: what to send first, and from where to follow.
pub(crate) struct WatchStart {
    pub(crate) initial: Vec<Change>,
    pub(crate) from_rv: u64,
    pub(crate) changed: tokio::sync::watch::Receiver<u64>,
}

pub(crate) struct Store {
    state: Mutex<State>,
    changed: tokio::sync::watch::Sender<u64>,
    serial: AtomicU64,
    /// Makes uids differ between servers of one test process.
    seed: u64,
}

/// What a write asks for.
pub(crate) enum Write {
    /// Fails with 409 when the object exists.
    Create,
    /// Fails with 404 when it does not; with 409 when `metadata.resourceVersion`
    /// is set and is not the current one.
    Update,
    /// Create or replace, whatever is there (the test handle's `apply`).
    Apply,
    /// The body is a JSON merge patch onto the current object (404 when
    /// there is none), applied under the store's lock.
    MergePatch,
    /// The body is a server-side apply configuration: merged onto the
    /// current object (or created), `409` when it would change a field
    /// another manager owns, unless forced.
    ServerSideApply { force: bool },
}

impl Store {
    pub(crate) fn new() -> Store {
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Store {
            state: Mutex::new(State {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 1,
            }),
            changed: tokio::sync::watch::channel(1).0,
            serial: AtomicU64::new(0),
            seed: nanos
                ^ (u64::from(std::process::id()) << 32)
                ^ SERVERS.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest resourceVersion.
    pub(crate) fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// A fresh uid (random-looking, version-4 shaped).
    pub(crate) fn uid(&self) -> String {
        let h = self.hash("uid");
        let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-4{}-8{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// Five characters as `generateName` appends them.
    fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.hash("name")
            .iter()
            .take(5)
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect()
    }

    fn hash(&self, what: &str) -> [u8; 32] {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(n.to_le_bytes());
        h.update(what.as_bytes());
        h.finalize().into()
    }

    /// The stored object, parsed.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Value>> {
        let stored = self.lock().objects.get(key).cloned();
        stored.map(|o| Arc::new(o.value()))
    }

    /// Whether an object is stored at `key`.
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.lock().objects.contains_key(key)
    }

    /// Write `object` of resource `resource` (namespace and name from its
    /// metadata, which the caller has checked against the path). `manager`
    /// names the field manager of a new `managedFields` entry.
    pub(crate) fn write(
        &self,
        resource: usize,
        object: Value,
        how: Write,
        manager: Option<&str>,
    ) -> Result<Arc<Value>, ApiError> {
        self.write_or_try(resource, object, how, manager, true)
    }

    /// What [`Store::write`] would store, checked the same way, but nothing
    /// is stored and no resourceVersion is used (`dryRun=All`).
    pub(crate) fn try_write(
        &self,
        resource: usize,
        object: Value,
        how: Write,
        manager: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.write_or_try(resource, object, how, manager, false)
            .map(|o| (*o).clone())
    }

    fn write_or_try(
        &self,
        resource: usize,
        mut object: Value,
        how: Write,
        manager: Option<&str>,
        persist: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let res = &RESOURCES[resource];
        prepare_identity(res, &mut object)?;
        if object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none()
        {
            let prefix = object
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .map(str::to_string);
            let Some(prefix) = prefix else {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        res.kind
                    ),
                ));
            };
            object["metadata"]["name"] = json!(format!("{prefix}{}", self.name_suffix()));
        }
        let key = key_of(resource, &object);
        let now = rfc3339(unix_now());
        let mut state = self.lock();
        let previous_stored = state.objects.get(&key).cloned();
        let previous = previous_stored.as_ref().map(|p| p.value());
        let body = object;
        let mut applied = None;
        let mut object = match (&how, &previous) {
            (Write::Create, Some(_)) => {
                return Err(ApiError::new(
                    409,
                    "AlreadyExists",
                    format!("{} \"{}\" already exists", res.qualified(), key.name),
                )
                .with_details(res, &key.name));
            }
            (Write::Update | Write::MergePatch, None) => {
                return Err(ApiError::not_found(res, &key.name));
            }
            (Write::Update, Some(old)) => {
                check_precondition(res, &key, &body, old)?;
                body
            }
            (Write::MergePatch, Some(old)) => {
                check_precondition(res, &key, &body, old)?;
                let mut merged = old.clone();
                merge_patch(&mut merged, &body);
                merged
            }
            (Write::ServerSideApply { force }, Some(old)) => {
                check_precondition(res, &key, &body, old)?;
                if !force {
                    fields::check_apply_conflicts(
                        old,
                        &body,
                        manager.unwrap_or_default(),
                        res.plural,
                        &key.name,
                    )?;
                }
                let mut merged = old.clone();
                merge_patch(&mut merged, &body);
                applied = Some(body);
                merged
            }
            (Write::ServerSideApply { .. }, None) => {
                applied = Some(body.clone());
                body
            }
            (Write::Create | Write::Apply, _) => body,
        };
        let rv = state.rv + 1;
        let meta = object["metadata"].as_object_mut().expect("checked above");
        match &previous {
            Some(old) => {
                for field in ["uid", "creationTimestamp"] {
                    if let Some(v) = old.pointer(&format!("/metadata/{field}")) {
                        meta.insert(field.to_string(), v.clone());
                    }
                }
                let generation = old.pointer("/metadata/generation").and_then(Value::as_i64);
                if let Some(g) = generation {
                    let spec_changed = old.get("spec") != object.get("spec");
                    object["metadata"]["generation"] = json!(g + i64::from(spec_changed));
                }
            }
            None => {
                meta.entry("uid").or_insert_with(|| json!(self.uid()));
                meta.entry("creationTimestamp")
                    .or_insert_with(|| json!(now));
                if object.get("spec").is_some() {
                    object["metadata"]
                        .as_object_mut()
                        .expect("an object")
                        .entry("generation")
                        .or_insert(json!(1));
                }
            }
        }
        if let Some(manager) = manager {
            fields::record(
                &mut object,
                previous.as_ref(),
                manager,
                &res.api_version(),
                &now,
                applied.as_ref(),
            );
        }
        if !persist {
            return Ok(Arc::new(object));
        }
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        let stored = Arc::new(Stored::new(resource, &object));
        self.commit(&mut state, rv, kind, key, stored, previous_stored);
        Ok(Arc::new(object))
    }

    /// Delete; the answer is the last state with the delete's resourceVersion.
    pub(crate) fn delete(&self, key: &Key) -> Result<Arc<Value>, ApiError> {
        let mut state = self.lock();
        let Some(old) = state.objects.get(key).cloned() else {
            return Err(ApiError::not_found(&RESOURCES[key.resource], &key.name));
        };
        let rv = state.rv + 1;
        let mut last = old.value();
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        let stored = Arc::new(Stored::new(key.resource, &last));
        self.commit(
            &mut state,
            rv,
            ChangeKind::Deleted,
            key.clone(),
            stored,
            Some(old),
        );
        Ok(Arc::new(last))
    }

    fn commit(
        &self,
        state: &mut State,
        rv: u64,
        kind: ChangeKind,
        key: Key,
        object: Obj,
        previous: Option<Obj>,
    ) {
        state.rv = rv;
        match kind {
            ChangeKind::Deleted => state.objects.remove(&key),
            _ => state.objects.insert(key.clone(), Arc::clone(&object)),
        };
        state.history.push_back(Change {
            rv,
            kind,
            key,
            object,
            previous,
        });
        self.changed.send_replace(rv);
    }

    /// Forget the history: older resourceVersions are `410 Gone` from now on.
    pub(crate) fn compact(&self) -> u64 {
        let mut state = self.lock();
        state.compacted = state.rv;
        state.history.clear();
        state.rv
    }

    /// One page of the objects of `resource` (in `namespace`, or all) that
    /// `keep` accepts, as they were at `at` (default: now), after `after`.
    pub(crate) fn list(
        &self,
        resource: usize,
        namespace: Option<&str>,
        keep: &dyn Fn(&Stored) -> bool,
        at: Option<u64>,
        after: Option<&Key>,
        limit: Option<usize>,
    ) -> Result<Page, ApiError> {
        let state = self.lock();
        let rv = at.unwrap_or(state.rv);
        let mut matching = snapshot(&state, resource, rv, after)?
            .filter(|(k, v)| namespace.is_none_or(|ns| k.namespace == ns) && keep(v));
        let limit = limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        for (k, v) in matching.by_ref().take(limit) {
            items.push(v);
            last = Some(k);
        }
        let remaining = matching.count();
        Ok(Page {
            rv,
            items,
            next: if remaining > 0 {
                last.map(Cow::into_owned)
            } else {
                None
            },
            remaining,
        })
    }

    /// Begin a watch of `resource` from `from` (`None`: the current state as
    /// ADDED events first, as `resourceVersion` unset or `"0"` asks).
    pub(crate) fn begin_watch(
        &self,
        resource: usize,
        from: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let state = self.lock();
        let mut changed = self.changed.subscribe();
        changed.borrow_and_update();
        let (initial, from_rv) = match from {
            None => {
                let initial = snapshot(&state, resource, state.rv, None)?
                    .map(|(key, object)| Change {
                        rv: state.rv,
                        kind: ChangeKind::Added,
                        key: key.into_owned(),
                        object,
                        previous: None,
                    })
                    .collect();
                (initial, state.rv)
            }
            Some(rv) => (changes_after(&state, resource, rv)?, state.rv),
        };
        Ok(WatchStart {
            initial,
            from_rv,
            changed,
        })
    }

    /// The changes of `resource` after `rv`, or 410 when the history no
    /// longer reaches back that far.
    pub(crate) fn changes_after(&self, resource: usize, rv: u64) -> Result<Vec<Change>, ApiError> {
        changes_after(&self.lock(), resource, rv)
    }
}

fn changes_after(state: &State, resource: usize, rv: u64) -> Result<Vec<Change>, ApiError> {
    if rv < state.compacted {
        return Err(ApiError::too_old(rv, state.compacted));
    }
    let start = state.history.partition_point(|c| c.rv <= rv);
    Ok(state
        .history
        .range(start..)
        .filter(|c| c.key.resource == resource)
        .cloned()
        .collect())
}

/// The objects of `resource` after `after` (all: `None`), in key order, as
/// they were at `rv`: today's, with the history after `rv` undone. Lazy, so a
/// page of 500 of 150,000 Pods touches only what it reads (and counts the rest).
fn snapshot<'a>(
    state: &'a State,
    resource: usize,
    rv: u64,
    after: Option<&Key>,
) -> Result<impl Iterator<Item = (Cow<'a, Key>, Obj)> + 'a, ApiError> {
    if rv < state.compacted {
        return Err(ApiError::too_old(rv, state.compacted));
    }
    let lo = Key {
        resource,
        namespace: String::new(),
        name: String::new(),
    };
    let hi = Key {
        resource: resource + 1,
        ..lo.clone()
    };
    let start = match after {
        Some(a) => Bound::Excluded(a.clone()),
        None => Bound::Included(lo),
    };
    // The state at `rv` of every key changed since: the earliest change's `previous`.
    let mut undone: BTreeMap<Key, Option<Obj>> = BTreeMap::new();
    for change in state.history.iter().rev().take_while(|c| c.rv > rv) {
        if change.key.resource == resource && after.is_none_or(|a| &change.key > a) {
            undone.insert(change.key.clone(), change.previous.clone());
        }
    }
    let mut today = state
        .objects
        .range((start, Bound::Excluded(hi)))
        .map(|(k, v)| (Cow::Borrowed(k), Arc::clone(v)))
        .peekable();
    let mut undone = undone.into_iter().peekable();
    Ok(std::iter::from_fn(move || {
        loop {
            let order = match (today.peek(), undone.peek()) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((t, _)), Some((u, _))) => (**t).cmp(u),
            };
            match order {
                std::cmp::Ordering::Less => return today.next(),
                // Changed since `rv`: the undone state replaces today's.
                std::cmp::Ordering::Equal => {
                    today.next();
                }
                std::cmp::Ordering::Greater => {}
            }
            match undone.next() {
                Some((key, Some(object))) => return Some((Cow::Owned(key), object)),
                // Absent at `rv` (added since): skip.
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }))
}

/// Set `apiVersion` and `kind`, and check that `metadata` is an object.
fn prepare_identity(res: &Resource, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    };
    map.insert("apiVersion".into(), json!(res.api_version()));
    map.insert("kind".into(), json!(res.kind));
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return Err(ApiError::bad_request("metadata is not a JSON object"));
    };
    if !res.namespaced {
        meta.remove("namespace");
    } else if meta.get("namespace").and_then(Value::as_str).is_none() {
        meta.insert("namespace".into(), json!("default"));
    }
    Ok(())
}

pub(crate) fn key_of(resource: usize, object: &Value) -> Key {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Key {
        resource,
        namespace: if RESOURCES[resource].namespaced {
            text("/metadata/namespace")
        } else {
            String::new()
        },
        name: text("/metadata/name"),
    }
}

fn check_precondition(res: &Resource, key: &Key, new: &Value, old: &Value) -> Result<(), ApiError> {
    let want = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    let have = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    match want {
        Some(w) if !w.is_empty() && Some(w) != have => Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                res.qualified(),
                key.name
            ),
        )
        .with_details(res, &key.name)),
        _ => Ok(()),
    }
}

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::discovery::find;
    use super::*;

    fn pod(name: &str) -> Value {
        json!({ "metadata": { "name": name, "namespace": "ns" }, "spec": { "containers": [] } })
    }

    #[test]
    fn snapshots_undo_later_changes_and_compaction_forgets() {
        let store = Store::new();
        let pods = find("", "v1", "pods").unwrap();
        store.write(pods, pod("a"), Write::Create, None).unwrap();
        let rv_one = store.resource_version();
        store.write(pods, pod("b"), Write::Create, None).unwrap();
        let key_a = key_of(pods, &pod("a"));
        store.delete(&key_a).unwrap();
        let now = store.list(pods, None, &|_| true, None, None, None).unwrap();
        assert_eq!(now.items.len(), 1);
        let then = store
            .list(pods, None, &|_| true, Some(rv_one), None, None)
            .unwrap();
        let names: Vec<_> = then
            .items
            .iter()
            .map(|o| o.value()["metadata"]["name"].clone())
            .collect();
        assert_eq!(names, [json!("a")]);
        assert_eq!(store.changes_after(pods, rv_one).unwrap().len(), 2);
        store.compact();
        assert_eq!(store.changes_after(pods, rv_one).unwrap_err().code, 410);
        assert!(
            store
                .changes_after(pods, store.resource_version())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn pages_read_the_state_of_their_first_page() {
        let store = Store::new();
        let pods = find("", "v1", "pods").unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            store.write(pods, pod(name), Write::Create, None).unwrap();
        }
        let first = store
            .list(pods, None, &|_| true, None, None, Some(2))
            .unwrap();
        assert_eq!((first.items.len(), first.remaining), (2, 3));
        let mut changed = pod("c");
        changed["metadata"]["labels"] = json!({ "changed": "yes" });
        store.write(pods, changed, Write::Apply, None).unwrap();
        store.delete(&key_of(pods, &pod("d"))).unwrap();
        store.write(pods, pod("f"), Write::Create, None).unwrap();
        store.write(pods, pod("bb"), Write::Create, None).unwrap();
        let rest = store
            .list(
                pods,
                None,
                &|_| true,
                Some(first.rv),
                first.next.as_ref(),
                None,
            )
            .unwrap();
        let seen: Vec<Value> = rest.items.iter().map(|o| o.value()).collect();
        let names: Vec<&Value> = seen.iter().map(|o| &o["metadata"]["name"]).collect();
        assert_eq!(names, [&json!("c"), &json!("d"), &json!("e")]);
        assert_eq!(seen[0]["metadata"].get("labels"), None, "c as it was");
        assert_eq!(
            (seen[0]["apiVersion"].as_str(), seen[0]["kind"].as_str()),
            (Some("v1"), Some("Pod"))
        );
        let now = store.list(pods, None, &|_| true, None, None, None).unwrap();
        let names: Vec<Value> = now
            .items
            .iter()
            .map(|o| o.value()["metadata"]["name"].clone())
            .collect();
        assert_eq!(
            names,
            [
                json!("a"),
                json!("b"),
                json!("bb"),
                json!("c"),
                json!("e"),
                json!("f")
            ]
        );
    }

    #[test]
    fn objects_are_stored_as_list_items_and_given_back_whole() {
        let store = Store::new();
        let pods = find("", "v1", "pods").unwrap();
        store.write(pods, pod("x"), Write::Create, None).unwrap();
        let page = store.list(pods, None, &|_| true, None, None, None).unwrap();
        let stored = &page.items[0];
        assert!(
            !stored.item_json().contains("apiVersion"),
            "{}",
            stored.item_json()
        );
        let whole: Value = serde_json::from_str(&stored.json()).unwrap();
        assert_eq!(whole, stored.value());
        assert_eq!(whole["kind"], "Pod");
        assert_eq!(whole["metadata"]["name"], "x");
    }

    #[test]
    fn writes_stamp_metadata_and_check_preconditions() {
        let store = Store::new();
        let pods = find("", "v1", "pods").unwrap();
        let mut p = pod("x");
        p["metadata"]["name"] = Value::Null;
        p["metadata"]["generateName"] = json!("job-");
        let made = store
            .write(pods, p, Write::Create, Some("kubectl-create"))
            .unwrap();
        let name = made["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("job-") && name.len() == 9, "{name}");
        assert_eq!(made["metadata"]["uid"].as_str().unwrap().len(), 36);
        assert_eq!(
            made["metadata"]["managedFields"][0]["manager"],
            "kubectl-create"
        );
        let mut stale = (*made).clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        let err = store.write(pods, stale, Write::Update, None).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
        let err = store
            .write(pods, (*made).clone(), Write::Create, None)
            .unwrap_err();
        assert_eq!(err.reason, "AlreadyExists");
    }
}
