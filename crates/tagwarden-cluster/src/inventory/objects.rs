//! Projections: what the inventory keeps of each object, made from the
//! wire form. A Pod kept here is a few hundred bytes: its kind, names, uid, owners, images
//! (with where in the spec), pull secrets, ServiceAccount, node (or, while it is not
//! scheduled, its scheduling constraints) and the containers waiting on a pull.
//! Namespaces, images, container names, owner uids and node names are shared between
//! the objects that repeat them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{NodeSelectorTerm, Toleration};

use super::wire::{self, Meta, PodSpec, PodStatus};

/// An object's identity in the index: its uid (or, for an object without one, a key
/// made of its kind, namespace and name, which no uid can equal).
pub(crate) type Key = Arc<str>;

/// The kinds whose Pod templates the inventory reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    CronJob,
    Job,
    ReplicaSet,
    ReplicationController,
    Pod,
}

impl Kind {
    /// `Deployment`, as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
            Kind::Job => "Job",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Pod => "Pod",
        }
    }

    /// Where its Pod spec is.
    pub fn spec_path(self) -> &'static str {
        match self {
            Kind::CronJob => "spec.jobTemplate.spec.template.spec",
            Kind::Pod => "spec",
            _ => "spec.template.spec",
        }
    }
}

/// The three lists of containers a Pod spec has (the webhook's too:
/// `webhook::ContainerList`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerList {
    /// `spec.containers`
    Containers,
    /// `spec.initContainers`
    InitContainers,
    /// `spec.ephemeralContainers` (only through the `ephemeralcontainers` subresource,
    /// but a Pod create may carry them too)
    EphemeralContainers,
}

impl ContainerList {
    /// The field name in the Pod spec (`initContainers`).
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// One image field of a Pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerImage {
    /// The container's name (shared, as `app` and `istio-proxy` repeat).
    pub name: Arc<str>,
    /// The image as written (shared with every other use of it).
    pub image: Arc<str>,
    pub list: ContainerList,
    pub index: u16,
}

impl ContainerImage {
    /// The field's path in an object of `kind` (`spec.template.spec.containers[0].image`).
    pub fn path(&self, kind: Kind) -> String {
        format!(
            "{}.{}[{}].image",
            kind.spec_path(),
            self.list.field(),
            self.index
        )
    }
}

/// Where a Pod that is not bound to a node yet may run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scheduling {
    /// `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution` terms (ORed).
    pub required_terms: Vec<NodeSelectorTerm>,
    /// `tolerations`.
    pub tolerations: Vec<Toleration>,
}

/// What of a Pod spec decides where its images come from and where it may run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PodTemplate {
    /// Containers, then init containers, then ephemeral containers.
    pub containers: Box<[ContainerImage]>,
    /// `imagePullSecrets` names.
    pub pull_secrets: Box<[Box<str>]>,
    /// `serviceAccountName` (`None`: `default`).
    pub service_account: Option<Box<str>>,
    /// `nodeName`: a Pod already bound to a node.
    pub node_name: Option<Arc<str>>,
    /// Its constraints, when it is not bound and has some.
    pub scheduling: Option<Box<Scheduling>>,
}

/// A container that waits because its image cannot be pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitingOnPull {
    pub container: Box<str>,
    pub list: ContainerList,
    /// The image of the spec (the status may spell it otherwise).
    pub image: Arc<str>,
    /// `ErrImagePull`, `ImagePullBackOff` or `InvalidImageName`.
    pub reason: Box<str>,
    pub message: Option<Box<str>>,
}

/// A workload or Pod, reduced to what an inventory needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Object {
    pub kind: Kind,
    pub namespace: Arc<str>,
    pub name: Box<str>,
    pub key: Key,
    /// Whether `key` is the uid the API server gave.
    pub has_uid: bool,
    /// Owner uids, controller first.
    pub owners: Box<[Key]>,
    pub template: PodTemplate,
    /// A Pod's containers waiting on a pull.
    pub waiting: Box<[WaitingOnPull]>,
}

/// The waiting reasons that mean the kubelet cannot pull an image.
pub(crate) const PULL_FAILURE_REASONS: &[&str] =
    &["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

/// Shares the strings that repeat across objects: namespaces, images, node names.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `text`.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }

    /// Forgets strings nothing else holds any more.
    pub fn forget_unused(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
    }
}

/// The key of an object: its uid, else (objects made by hand) its kind, namespace and
/// name after a NUL, which no uid has.
pub(crate) fn key_of(kind: &str, meta: &Meta) -> (Key, bool) {
    match meta.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => (Arc::from(uid), true),
        None => (
            Arc::from(format!(
                "\0{kind}/{}/{}",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            )),
            false,
        ),
    }
}

impl Object {
    /// The projection of a workload or Pod; `None` without a Pod spec (nothing to check).
    pub fn of(
        kind: Kind,
        meta: Meta,
        spec: Option<PodSpec>,
        status: Option<PodStatus>,
        interner: &mut Interner,
    ) -> Option<Object> {
        let spec = spec?;
        let (key, has_uid) = key_of(kind.name(), &meta);
        let mut owners: Vec<(bool, Key)> = meta
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .filter(|o| !o.uid.is_empty())
            .map(|o| (o.controller == Some(true), interner.get(&o.uid)))
            .collect();
        owners.sort_by_key(|(controller, _)| !controller);
        let template = PodTemplate::of(spec, interner);
        let waiting = status
            .map(|s| waiting_on_pull(s, &template))
            .unwrap_or_default();
        Some(Object {
            kind,
            namespace: interner.get(meta.namespace.as_deref().unwrap_or_default()),
            name: meta.name.unwrap_or_default().into_boxed_str(),
            key,
            has_uid,
            owners: owners.into_iter().map(|(_, o)| o).collect(),
            template,
            waiting: waiting.into_boxed_slice(),
        })
    }

    /// Its uid, when the API server gave one.
    pub fn uid(&self) -> Option<String> {
        self.has_uid.then(|| self.key.to_string())
    }
}

impl PodTemplate {
    fn of(spec: PodSpec, interner: &mut Interner) -> PodTemplate {
        let mut containers = Vec::new();
        let lists = [
            (ContainerList::Containers, spec.containers),
            (ContainerList::InitContainers, spec.init_containers),
            (
                ContainerList::EphemeralContainers,
                spec.ephemeral_containers,
            ),
        ];
        for (list, items) in lists {
            for (index, container) in items.into_iter().flatten().enumerate() {
                // An absent image is for the API server to reject; nothing to check.
                let Some(image) = container.image else {
                    continue;
                };
                containers.push(ContainerImage {
                    name: interner.get(container.name.as_deref().unwrap_or_default()),
                    image: interner.get(&image),
                    list,
                    index: u16::try_from(index).unwrap_or(u16::MAX),
                });
            }
        }
        let node_name = spec
            .node_name
            .filter(|n| !n.is_empty())
            .map(|n| interner.get(&n));
        // A bound Pod stays where it is: its constraints no longer matter.
        let scheduling = if node_name.is_some() {
            None
        } else {
            let scheduling = Scheduling {
                node_selector: spec.node_selector.unwrap_or_default(),
                required_terms: spec
                    .affinity
                    .and_then(|a| a.node_affinity)
                    .and_then(|n| n.required_during_scheduling_ignored_during_execution)
                    .map(|r| r.node_selector_terms)
                    .unwrap_or_default(),
                tolerations: spec.tolerations.unwrap_or_default(),
            };
            (scheduling != Scheduling::default()).then(|| Box::new(scheduling))
        };
        PodTemplate {
            containers: containers.into_boxed_slice(),
            pull_secrets: spec
                .image_pull_secrets
                .into_iter()
                .flatten()
                .filter_map(|s| s.name.filter(|n| !n.is_empty()))
                .map(String::into_boxed_str)
                .collect(),
            service_account: spec
                .service_account_name
                .filter(|n| !n.is_empty())
                .map(String::into_boxed_str),
            node_name,
            scheduling,
        }
    }

    /// Its scheduling constraints (none for a bound Pod).
    pub fn scheduling(&self) -> &Scheduling {
        static NONE: std::sync::OnceLock<Scheduling> = std::sync::OnceLock::new();
        self.scheduling
            .as_deref()
            .unwrap_or_else(|| NONE.get_or_init(Scheduling::default))
    }
}

/// The containers of a Pod's status that wait on a pull, with the spec's image.
fn waiting_on_pull(status: PodStatus, template: &PodTemplate) -> Vec<WaitingOnPull> {
    let lists = [
        (ContainerList::Containers, status.container_statuses),
        (
            ContainerList::InitContainers,
            status.init_container_statuses,
        ),
        (
            ContainerList::EphemeralContainers,
            status.ephemeral_container_statuses,
        ),
    ];
    let mut waiting = Vec::new();
    for (list, statuses) in lists {
        for container in statuses.into_iter().flatten() {
            let Some(wire::Waiting { reason, message }) = container.state.and_then(|s| s.waiting)
            else {
                continue;
            };
            let Some(reason) = reason.filter(|r| PULL_FAILURE_REASONS.contains(&r.as_str())) else {
                continue;
            };
            let name = container.name.unwrap_or_default();
            let image = template
                .containers
                .iter()
                .find(|c| *c.name == *name)
                .map(|c| c.image.clone())
                .unwrap_or_else(|| Arc::from(container.image.unwrap_or_default()));
            waiting.push(WaitingOnPull {
                container: name.into_boxed_str(),
                list,
                image,
                reason: reason.into_boxed_str(),
                message: message.map(String::into_boxed_str),
            });
        }
    }
    waiting
}
