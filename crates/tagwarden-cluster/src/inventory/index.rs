//! The incremental inventory: projections of every workload, Pod, Node and
//! ServiceAccount, and the image uses they make, kept up to date one object at a time.
//!
//! Each object *contributes* to the uses:
//!
//! - an object at the top of its owner chain (a *root*: a Deployment, a CronJob, a bare
//!   Pod, …) contributes a use for each container of its template;
//! - a Pod under a root counts in the root's `pods`, and contributes a use of its own for
//!   each container its root's template does not have (a rollout in progress, an
//!   ephemeral container);
//! - anything else (a ReplicaSet or Job under a listed owner) contributes nothing.
//!
//! A changed Pod takes back its own contribution and makes it again: its work does not
//! grow with the cluster ([`Index::derived`] counts it). A changed workload does the same
//! for everything under it (its chain's Pods), as a rollout changes all of them anyway.
//! A Node or ServiceAccount that changes what it stands for (platform, labels, taints;
//! pull secrets) makes every image's uses change ([`Changes::full`]); heartbeats and
//! other updates that change nothing kept are no work.
//!
//! Uses are kept by image as (object, container) pairs, and an image's
//! [`ImageUse`]s are made only when [`Index::take_changes`] is asked for the images
//! whose uses changed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::nodes::{NodeFacts, NodePlatform, Nodes};
use super::objects::{Interner, Key, Kind, Object, key_of};
use super::pull_failures::{self, PullEvents, PullFailure};
use super::wire::{NodeWire, ServiceAccountWire, WorkloadWire};
use super::{ImageUse, SecretRef, WorkloadLocation};

/// A use: an object's key and the index of the container in its template.
type UseKey = (Key, u16);

/// A ServiceAccount: (namespace, name).
type AccountName = (Arc<str>, Box<str>);

/// Names of pull secrets.
type SecretNames = Box<[Box<str>]>;

/// What an object gave to the uses, to be taken back when it changes.
#[derive(Debug, Default)]
struct Contribution {
    /// The root whose `pods` it counts in.
    counted_in: Option<Key>,
    /// Its containers that are uses of their own.
    uses: Vec<u16>,
}

#[derive(Debug)]
struct Entry {
    object: Object,
    contribution: Contribution,
}

/// Which kind a list or watch fills, for [`Index::sweep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Workload(Kind),
    Node,
    ServiceAccount,
}

/// The images whose uses changed since the last [`Index::take_changes`].
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Every image in use is below, and an image not below is no longer used.
    pub full: bool,
    /// Each changed image with all its uses now (none: no longer used).
    pub images: Vec<(String, Vec<ImageUse>)>,
    /// Images of containers that newly cannot pull (`ErrImagePull`, `ImagePullBackOff`).
    pub newly_failing: Vec<String>,
}

/// See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Index {
    skip: HashSet<String>,
    interner: Interner,
    /// Boxed: a table sized for growth keeps its empty slots at a pointer's size.
    objects: HashMap<Key, Box<Entry>>,
    /// Owner uid → the keys of the objects naming it (listed or not).
    children: HashMap<Key, Vec<Key>>,
    /// Root → how many Pods count in it.
    pods_of: HashMap<Key, usize>,
    by_image: HashMap<Arc<str>, HashSet<UseKey>>,
    /// (namespace, ServiceAccount) → its `imagePullSecrets`.
    accounts: HashMap<AccountName, SecretNames>,
    nodes: Nodes,
    dirty: HashSet<Arc<str>>,
    all_dirty: bool,
    newly_failing: BTreeSet<Arc<str>>,
    projected: u64,
    derived: u64,
}

impl Index {
    /// An empty index that ignores the namespaces in `skip`.
    pub fn new(skip: &[String]) -> Index {
        Index {
            skip: skip.iter().cloned().collect(),
            interner: Interner::default(),
            objects: HashMap::new(),
            children: HashMap::new(),
            pods_of: HashMap::new(),
            by_image: HashMap::new(),
            accounts: HashMap::new(),
            nodes: Nodes::default(),
            dirty: HashSet::new(),
            all_dirty: true,
            newly_failing: BTreeSet::new(),
            projected: 0,
            derived: 0,
        }
    }

    /// Objects read so far (every upsert and delete, changed or not).
    pub fn projected(&self) -> u64 {
        self.projected
    }

    /// Objects whose uses were worked out again so far: one per changed Pod.
    pub fn derived(&self) -> u64 {
        self.derived
    }

    #[cfg(test)]
    /// Whether a Pod of that name is kept (any namespace).
    pub fn has_pod(&self, name: &str) -> bool {
        self.objects
            .values()
            .any(|e| e.object.kind == Kind::Pod && &*e.object.name == name)
    }

    fn skipped(&self, namespace: Option<&str>) -> bool {
        namespace.is_some_and(|ns| self.skip.contains(ns))
    }

    /// A workload or Pod as a list or watch gave it; its key (`None`: not kept).
    pub fn upsert_workload<W: WorkloadWire>(&mut self, wire: W) -> Option<Key> {
        let (meta, spec, status) = wire.into_parts();
        if self.skipped(meta.namespace.as_deref()) {
            return None;
        }
        let (key, _) = key_of(W::WORKLOAD.name(), &meta);
        match Object::of(W::WORKLOAD, meta, spec, status, &mut self.interner) {
            Some(object) => {
                self.upsert(object);
                Some(key)
            }
            // Without a Pod spec there is nothing to check (any earlier state goes).
            None => {
                self.remove(&key);
                None
            }
        }
    }

    /// A workload or Pod deleted.
    pub fn remove_workload<W: WorkloadWire>(&mut self, wire: W) {
        let (meta, _, _) = wire.into_parts();
        let (key, _) = key_of(W::WORKLOAD.name(), &meta);
        self.remove(&key);
    }

    /// A Node as a list or watch gave it; its key.
    pub fn upsert_node(&mut self, wire: NodeWire) -> Key {
        self.projected += 1;
        let name = wire.metadata.name.clone().unwrap_or_default();
        if self.nodes.upsert(&name, NodeFacts::of(wire)) {
            self.all_dirty = true;
        }
        Arc::from(name)
    }

    /// A Node deleted.
    pub fn remove_node(&mut self, wire: NodeWire) {
        self.projected += 1;
        if self
            .nodes
            .upsert(wire.metadata.name.as_deref().unwrap_or_default(), None)
        {
            self.all_dirty = true;
        }
    }

    /// A ServiceAccount as a list or watch gave it; its key (`None`: not kept).
    pub fn upsert_account(&mut self, wire: ServiceAccountWire) -> Option<Key> {
        self.projected += 1;
        if self.skipped(wire.metadata.namespace.as_deref()) {
            return None;
        }
        let namespace = self
            .interner
            .get(wire.metadata.namespace.as_deref().unwrap_or_default());
        let name: Box<str> = wire.metadata.name.unwrap_or_default().into_boxed_str();
        let key = account_key(&namespace, &name);
        let secrets: SecretNames = wire
            .image_pull_secrets
            .into_iter()
            .flatten()
            .filter_map(|s| s.name.filter(|n| !n.is_empty()))
            .map(String::into_boxed_str)
            .collect();
        let old = self.accounts.insert((namespace, name), secrets.clone());
        if old.as_ref() != Some(&secrets) {
            self.all_dirty = true;
        }
        Some(key)
    }

    /// A ServiceAccount deleted.
    pub fn remove_account(&mut self, wire: ServiceAccountWire) {
        self.projected += 1;
        let namespace = self
            .interner
            .get(wire.metadata.namespace.as_deref().unwrap_or_default());
        let name: Box<str> = wire.metadata.name.unwrap_or_default().into_boxed_str();
        if self.accounts.remove(&(namespace, name)).is_some() {
            self.all_dirty = true;
        }
    }

    /// After a list of `class` (in `namespace`, or all), forgets what it did not return.
    pub fn sweep(&mut self, class: Class, namespace: Option<&str>, seen: &HashSet<Key>) {
        let in_scope = |ns: &str| namespace.is_none_or(|n| n == ns);
        match class {
            Class::Workload(kind) => {
                let gone: Vec<Key> = self
                    .objects
                    .values()
                    .filter(|e| e.object.kind == kind && in_scope(&e.object.namespace))
                    .filter(|e| !seen.contains(&e.object.key))
                    .map(|e| e.object.key.clone())
                    .collect();
                for key in gone {
                    self.remove(&key);
                }
            }
            Class::Node => {
                for name in self.nodes.names() {
                    if !seen.contains(name.as_str()) && self.nodes.upsert(&name, None) {
                        self.all_dirty = true;
                    }
                }
            }
            Class::ServiceAccount => {
                let before = self.accounts.len();
                self.accounts.retain(|(ns, name), _| {
                    !in_scope(ns) || seen.contains(account_key(ns, name).as_ref())
                });
                if self.accounts.len() != before {
                    self.all_dirty = true;
                }
            }
        }
    }

    fn upsert(&mut self, object: Object) {
        self.projected += 1;
        let key = object.key.clone();
        let old_waiting = match self.objects.get(&key) {
            Some(entry) if entry.object == object => return,
            Some(entry) => entry.object.waiting.clone(),
            None => Box::default(),
        };
        for waiting in object.waiting.iter() {
            if !old_waiting.iter().any(|w| w.container == waiting.container) {
                self.newly_failing.insert(waiting.image.clone());
            }
        }
        let affected = if object.kind == Kind::Pod {
            vec![key.clone()]
        } else {
            self.subtree(&key)
        };
        for k in &affected {
            self.retract(k);
        }
        let owners = object.owners.clone();
        let old = self.objects.insert(
            key.clone(),
            Box::new(Entry {
                object,
                contribution: Contribution::default(),
            }),
        );
        let old_owners = old.map(|e| e.object.owners).unwrap_or_default();
        self.relink(&key, &old_owners, &owners);
        for k in &affected {
            self.contribute(k);
        }
    }

    fn remove(&mut self, key: &Key) {
        self.projected += 1;
        if !self.objects.contains_key(key) {
            return;
        }
        let affected = self.subtree(key);
        for k in &affected {
            self.retract(k);
        }
        if let Some(old) = self.objects.remove(key) {
            self.relink(key, &old.object.owners, &[]);
        }
        for k in affected.iter().filter(|k| *k != key) {
            self.contribute(k);
        }
    }

    /// Moves `key` from the children of `old` owners to those of `new` ones.
    fn relink(&mut self, key: &Key, old: &[Key], new: &[Key]) {
        for owner in old.iter().filter(|o| !new.contains(o)) {
            if let Some(children) = self.children.get_mut(owner) {
                children.retain(|c| c != key);
                if children.is_empty() {
                    self.children.remove(owner);
                }
            }
        }
        for owner in new.iter().filter(|o| !old.contains(o)) {
            self.children
                .entry(owner.clone())
                .or_default()
                .push(key.clone());
        }
    }

    /// `key` and everything under it.
    fn subtree(&self, key: &Key) -> Vec<Key> {
        let mut found = vec![key.clone()];
        let mut seen: HashSet<Key> = HashSet::from([key.clone()]);
        let mut at = 0;
        while at < found.len() {
            if let Some(children) = self.children.get(&found[at]) {
                for child in children {
                    if seen.insert(child.clone()) {
                        found.push(child.clone());
                    }
                }
            }
            at += 1;
        }
        found
    }

    /// The top listed owner of `key` (itself when it has none).
    fn root_of(&self, key: &Key) -> Key {
        let mut at = key.clone();
        // Owner chains are short (Pod → ReplicaSet → Deployment); a cycle is not followed.
        for _ in 0..8 {
            let next = self.objects.get(&at).and_then(|e| {
                e.object
                    .owners
                    .iter()
                    .find(|o| self.objects.contains_key(*o))
                    .cloned()
            });
            match next {
                Some(owner) if owner != at => at = owner,
                _ => break,
            }
        }
        at
    }

    /// Takes back what `key` gave to the uses.
    fn retract(&mut self, key: &Key) {
        let Some(entry) = self.objects.get_mut(key) else {
            return;
        };
        let contribution = std::mem::take(&mut entry.contribution);
        let images: Vec<Arc<str>> = contribution
            .uses
            .iter()
            .filter_map(|i| entry.object.template.containers.get(usize::from(*i)))
            .map(|c| c.image.clone())
            .collect();
        for (i, image) in contribution.uses.iter().zip(images) {
            if let Some(keys) = self.by_image.get_mut(&image) {
                keys.remove(&(key.clone(), *i));
                if keys.is_empty() {
                    self.by_image.remove(&image);
                }
            }
            self.dirty.insert(image);
        }
        if let Some(root) = contribution.counted_in {
            if let Some(count) = self.pods_of.get_mut(&root) {
                *count -= 1;
                if *count == 0 {
                    self.pods_of.remove(&root);
                }
            }
            self.touch(&root);
        }
    }

    /// Works out what `key` gives to the uses now.
    fn contribute(&mut self, key: &Key) {
        if !self.objects.contains_key(key) {
            return;
        }
        self.derived += 1;
        let root = self.root_of(key);
        let object = &self.objects[key].object;
        let mut contribution = Contribution::default();
        let containers = object.template.containers.iter().enumerate();
        if root == *key {
            let mut seen = HashSet::new();
            contribution.uses = containers
                .filter(|(_, c)| seen.insert((c.name.clone(), c.image.clone())))
                .map(|(i, _)| u16::try_from(i).unwrap_or(u16::MAX))
                .collect();
        } else if object.kind == Kind::Pod {
            let owner = &self.objects[&root].object.template.containers;
            contribution.uses = containers
                .filter(|(_, c)| !owner.iter().any(|o| o.name == c.name && o.image == c.image))
                .map(|(i, _)| u16::try_from(i).unwrap_or(u16::MAX))
                .collect();
            contribution.counted_in = Some(root.clone());
        }
        let images: Vec<Arc<str>> = contribution
            .uses
            .iter()
            .map(|i| object.template.containers[usize::from(*i)].image.clone())
            .collect();
        for (i, image) in contribution.uses.iter().zip(images) {
            self.by_image
                .entry(image.clone())
                .or_default()
                .insert((key.clone(), *i));
            self.dirty.insert(image);
        }
        if let Some(root) = &contribution.counted_in {
            *self.pods_of.entry(root.clone()).or_default() += 1;
            self.touch(root);
        }
        if let Some(entry) = self.objects.get_mut(key) {
            entry.contribution = contribution;
        }
    }

    /// The uses of `root` changed (its `pods`): its images are dirty.
    fn touch(&mut self, root: &Key) {
        let Some(entry) = self.objects.get(root) else {
            return;
        };
        for i in &entry.contribution.uses {
            if let Some(c) = entry.object.template.containers.get(usize::from(*i)) {
                self.dirty.insert(c.image.clone());
            }
        }
    }

    /// The changes since the last call (the first call: everything).
    pub fn take_changes(&mut self) -> Changes {
        let full = std::mem::take(&mut self.all_dirty);
        let dirty = std::mem::take(&mut self.dirty);
        let images: Vec<Arc<str>> = if full {
            self.by_image.keys().cloned().collect()
        } else {
            dirty.into_iter().collect()
        };
        let images = images
            .into_iter()
            .map(|image| {
                let uses = self.uses_of(&image, None);
                (image.to_string(), uses)
            })
            .collect();
        let newly_failing = std::mem::take(&mut self.newly_failing)
            .into_iter()
            .map(|i| i.to_string())
            .collect();
        self.interner.forget_unused();
        Changes {
            full,
            images,
            newly_failing,
        }
    }

    /// Every pull secret the uses name (to read them all again now and then).
    pub fn pull_secrets_in_use(&self) -> BTreeSet<SecretRef> {
        let mut secrets = BTreeSet::new();
        for keys in self.by_image.values() {
            for (key, _) in keys {
                if let Some(entry) = self.objects.get(key) {
                    secrets.extend(self.pull_secrets_of(&entry.object));
                }
            }
        }
        secrets
    }

    /// The uses of `image`, in report order.
    fn uses_of(&self, image: &str, reported: Option<&HashSet<Key>>) -> Vec<ImageUse> {
        let keys = self.by_image.get(image).into_iter().flatten();
        self.in_report_order(keys, reported)
    }

    /// The uses at `keys` in report order (namespace, kind, name, container); with
    /// `reported`, only those in the owner chains of these roots.
    fn in_report_order<'a>(
        &self,
        keys: impl Iterator<Item = &'a UseKey>,
        reported: Option<&HashSet<Key>>,
    ) -> Vec<ImageUse> {
        let mut uses: Vec<(&Object, u16)> = keys
            .filter_map(|(key, i)| Some((&self.objects.get(key)?.object, *i)))
            .filter(|(object, _)| {
                reported.is_none_or(|roots| roots.contains(&self.root_of(&object.key)))
            })
            .collect();
        uses.sort_by(|(a, i), (b, j)| {
            (&a.namespace, a.kind, &a.name, i).cmp(&(&b.namespace, b.kind, &b.name, j))
        });
        uses.into_iter()
            .map(|(object, i)| self.use_at(object, i))
            .collect()
    }

    fn use_at(&self, object: &Object, i: u16) -> ImageUse {
        let container = &object.template.containers[usize::from(i)];
        ImageUse {
            image: container.image.to_string(),
            location: WorkloadLocation {
                namespace: object.namespace.to_string(),
                kind: object.kind.name().to_string(),
                name: object.name.to_string(),
                container: container.name.to_string(),
                path: container.path(object.kind),
                pods: match object.kind {
                    Kind::Pod => 1,
                    _ => self.pods_of.get(&object.key).copied().unwrap_or(0),
                },
                uid: object.uid(),
            },
            pull_secrets: self.pull_secrets_of(object),
            node_platforms: self.nodes.platforms_for(&object.template),
        }
    }

    /// The Pod template's pull secrets, then its ServiceAccount's, without repeats.
    fn pull_secrets_of(&self, object: &Object) -> Vec<SecretRef> {
        let account = object
            .template
            .service_account
            .as_deref()
            .unwrap_or("default");
        let from_account = self
            .accounts
            .get(&(object.namespace.clone(), Box::from(account)))
            .map(|s| &s[..])
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        object
            .template
            .pull_secrets
            .iter()
            .chain(from_account)
            .filter(|name| seen.insert(&***name))
            .map(|name| SecretRef {
                namespace: object.namespace.to_string(),
                name: name.to_string(),
            })
            .collect()
    }

    /// The whole inventory (`scan`): every use in report order, the pull failures and
    /// the nodes' platforms. With `selected` uids, only the owner chains they are in.
    pub fn inventory(
        &self,
        selected: Option<&HashSet<String>>,
        events: &PullEvents,
    ) -> (Vec<ImageUse>, Vec<PullFailure>, Vec<NodePlatform>) {
        let reported: Option<HashSet<Key>> = selected.map(|uids| {
            self.objects
                .values()
                .filter(|e| e.object.has_uid && uids.contains(&*e.object.key))
                .map(|e| self.root_of(&e.object.key))
                .collect()
        });
        let uses = self.in_report_order(self.by_image.values().flatten(), reported.as_ref());
        let pods = self
            .objects
            .values()
            .map(|e| &e.object)
            .filter(|o| o.kind == Kind::Pod)
            .filter(|o| {
                reported
                    .as_ref()
                    .is_none_or(|roots| roots.contains(&self.root_of(&o.key)))
            });
        let failures = pull_failures::of(pods, events);
        (uses, failures, self.nodes.all())
    }
}

/// A ServiceAccount's key: namespace and name.
fn account_key(namespace: &str, name: &str) -> Key {
    Arc::from(format!("{namespace}/{name}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::inventory::wire::{PodWire, Templated};

    /// One change of a small cluster: Deployments `d0`–`d1`, their ReplicaSets `r0`–`r2`
    /// (`r2` owned by nobody listed), Pods `p0`–`p7`, images `i0`–`i2`.
    #[derive(Debug, Clone)]
    enum Change {
        Deployment {
            n: u8,
            image: u8,
        },
        ReplicaSet {
            n: u8,
            owner: u8,
            image: u8,
        },
        Pod {
            n: u8,
            owner: Option<u8>,
            image: u8,
            sidecar: bool,
        },
        Delete {
            kind: u8,
            n: u8,
        },
        Account {
            secret: bool,
        },
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (0..2u8, 0..3u8).prop_map(|(n, image)| Change::Deployment { n, image }),
            (0..3u8, 0..3u8, 0..3u8).prop_map(|(n, owner, image)| Change::ReplicaSet {
                n,
                owner,
                image
            }),
            (0..8u8, proptest::option::of(0..3u8), 0..3u8, any::<bool>()).prop_map(
                |(n, owner, image, sidecar)| Change::Pod {
                    n,
                    owner,
                    image,
                    sidecar
                }
            ),
            (0..3u8, 0..8u8).prop_map(|(kind, n)| Change::Delete { kind, n }),
            any::<bool>().prop_map(|secret| Change::Account { secret }),
        ]
    }

    fn template(image: u8) -> Value {
        json!({"spec": {"containers": [{"name": "app", "image": format!("i{image}")}]}})
    }

    fn owned_by(kind: &str, owner: &str) -> Value {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": owner, "controller": true}])
    }

    /// Applies `change` to `index` (and to `state`, the objects as they are now).
    fn apply(change: &Change, index: &mut Index, state: &mut BTreeMap<String, Change>) {
        match change {
            Change::Deployment { n, image } => {
                let name = format!("d{n}");
                index.upsert_workload::<Templated<Deployment>>(
                    serde_json::from_value(json!({
                        "metadata": {"name": name, "namespace": "ns", "uid": name},
                        "spec": {"template": template(*image)},
                    }))
                    .unwrap(),
                );
                state.insert(name, change.clone());
            }
            Change::ReplicaSet { n, owner, image } => {
                let name = format!("r{n}");
                index.upsert_workload::<Templated<ReplicaSet>>(
                    serde_json::from_value(json!({
                        "metadata": {"name": name, "namespace": "ns", "uid": name,
                                     "ownerReferences": owned_by("Deployment", &format!("d{owner}"))},
                        "spec": {"template": template(*image)},
                    }))
                    .unwrap(),
                );
                state.insert(name, change.clone());
            }
            Change::Pod {
                n,
                owner,
                image,
                sidecar,
            } => {
                let name = format!("p{n}");
                let mut containers = vec![json!({"name": "app", "image": format!("i{image}")})];
                if *sidecar {
                    containers.push(json!({"name": "proxy", "image": "proxy:1"}));
                }
                let owners = owner.map(|o| owned_by("ReplicaSet", &format!("r{o}")));
                index.upsert_workload::<PodWire>(
                    serde_json::from_value(json!({
                        "metadata": {"name": name, "namespace": "ns", "uid": name,
                                     "ownerReferences": owners},
                        "spec": {"containers": containers, "serviceAccountName": "runner"},
                    }))
                    .unwrap(),
                );
                state.insert(name, change.clone());
            }
            Change::Delete { kind, n } => {
                let name = match kind {
                    0 => format!("d{}", n % 2),
                    1 => format!("r{}", n % 3),
                    _ => format!("p{n}"),
                };
                let wire: PodWire =
                    serde_json::from_value(json!({"metadata": {"name": name, "uid": name}}))
                        .unwrap();
                // Keys are uids: the kind of the wire type does not matter for a delete.
                index.remove_workload(wire);
                state.remove(&name);
            }
            Change::Account { secret } => {
                let secrets = if *secret {
                    json!([{"name": "pull"}])
                } else {
                    json!([])
                };
                index.upsert_account(
                    serde_json::from_value(json!({
                        "metadata": {"name": "runner", "namespace": "ns"},
                        "imagePullSecrets": secrets,
                    }))
                    .unwrap(),
                );
                state.insert("account".into(), change.clone());
            }
        }
    }

    /// Image → its uses as text, as a consumer of [`Changes`] keeps them.
    fn follow(book: &mut BTreeMap<String, Vec<String>>, changes: Changes) {
        if changes.full {
            let kept: HashSet<&String> = changes.images.iter().map(|(i, _)| i).collect();
            book.retain(|image, _| kept.contains(image));
        }
        for (image, uses) in changes.images {
            if uses.is_empty() {
                book.remove(&image);
            } else {
                book.insert(image, uses.iter().map(text).collect());
            }
        }
    }

    fn text(u: &ImageUse) -> String {
        let l = &u.location;
        let secrets: Vec<String> = u.pull_secrets.iter().map(|s| s.to_string()).collect();
        format!(
            "{}/{} {} {} pods={} secrets={secrets:?}",
            l.kind, l.name, l.container, l.path, l.pods
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the order of changes, and wherever the consumer took them, what it
        /// holds equals an index built from the final objects alone, in one go.
        #[test]
        fn incremental_changes_add_up_to_the_inventory_from_scratch(
            changes in proptest::collection::vec(change(), 1..40),
            takes in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut index = Index::new(&[]);
            let mut state = BTreeMap::new();
            let mut book = BTreeMap::new();
            for (change, take) in changes.iter().zip(takes) {
                apply(change, &mut index, &mut state);
                if take {
                    follow(&mut book, index.take_changes());
                }
            }
            follow(&mut book, index.take_changes());

            let mut scratch = Index::new(&[]);
            let mut unused = BTreeMap::new();
            for change in state.values() {
                apply(change, &mut scratch, &mut unused);
            }
            let (uses, _, _) = scratch.inventory(None, &PullEvents::default());
            let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for u in &uses {
                expected.entry(u.image.clone()).or_default().push(text(u));
            }
            prop_assert_eq!(book, expected);
        }
    }
}

/// What the index holds per Pod of a realistic cluster, counted by the allocator.
#[cfg(test)]
mod memory_tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    use k8s_openapi::api::batch::v1::Job;
    use tagwarden_testbed::{RealisticCluster, RealisticOptions};

    use super::*;
    use crate::inventory::wire::{CronJobWire, PodWire, Templated};

    /// The system allocator, counting the bytes this thread holds.
    struct Counting;

    thread_local! {
        static HELD: Cell<isize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = HELD.try_with(|h| h.set(h.get() + layout.size() as isize));
            // SAFETY: forwarded as asked.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = HELD.try_with(|h| h.set(h.get() - layout.size() as isize));
            // SAFETY: forwarded as asked.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    fn held() -> isize {
        HELD.with(Cell::get)
    }

    /// Every object of `cluster` into `index`, as the API server's JSON.
    fn load(index: &mut Index, cluster: &RealisticCluster) {
        for object in cluster.objects() {
            let text = object.to_string();
            match object["kind"].as_str().unwrap_or_default() {
                "Pod" => {
                    drop(index.upsert_workload::<PodWire>(serde_json::from_str(&text).unwrap()))
                }
                "Deployment" => drop(index.upsert_workload::<Templated<Deployment>>(
                    serde_json::from_str(&text).unwrap(),
                )),
                "ReplicaSet" => drop(index.upsert_workload::<Templated<ReplicaSet>>(
                    serde_json::from_str(&text).unwrap(),
                )),
                "StatefulSet" => drop(index.upsert_workload::<Templated<StatefulSet>>(
                    serde_json::from_str(&text).unwrap(),
                )),
                "DaemonSet" => {
                    drop(index.upsert_workload::<Templated<DaemonSet>>(
                        serde_json::from_str(&text).unwrap(),
                    ))
                }
                "Job" => drop(
                    index.upsert_workload::<Templated<Job>>(serde_json::from_str(&text).unwrap()),
                ),
                "CronJob" => {
                    drop(index.upsert_workload::<CronJobWire>(serde_json::from_str(&text).unwrap()))
                }
                "Node" => drop(index.upsert_node(serde_json::from_str(&text).unwrap())),
                "ServiceAccount" => {
                    drop(index.upsert_account(serde_json::from_str(&text).unwrap()))
                }
                _ => {}
            }
        }
    }

    /// Bytes held by an index of about `pods` realistic Pods (8-11 KB of JSON each), and
    /// how many Pods that was.
    fn held_for(pods: usize) -> (f64, f64) {
        let cluster = RealisticCluster::generate(RealisticOptions::new(pods));
        let before = held();
        let mut index = Index::new(&[]);
        load(&mut index, &cluster);
        drop(index.take_changes());
        let bytes = held() - before;
        drop(index);
        (bytes as f64, cluster.pod_count() as f64)
    }

    /// The index keeps projections: each more Pod costs it less than a kilobyte (about
    /// 900 bytes today), however large its JSON (here 8-11 KB).
    #[test]
    fn a_realistic_pod_costs_the_index_less_than_a_kilobyte() {
        let (small, small_pods) = held_for(1_000);
        let (large, large_pods) = held_for(4_000);
        let per_pod = (large - small) / (large_pods - small_pods);
        eprintln!(
            "index: {:.0} bytes per Pod at {large_pods} Pods, {per_pod:.0} per Pod more",
            large / large_pods
        );
        assert!(per_pod < 1_000.0, "{per_pod:.0} bytes per Pod more");
        assert!(
            large / large_pods < 1_000.0,
            "{:.0} bytes per Pod",
            large / large_pods
        );
    }
}
