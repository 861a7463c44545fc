//! The API server's JSON, read for the few fields an inventory needs.
//!
//! A Pod as kube-apiserver returns it is 8 to 11 KB of JSON (labels, annotations, env,
//! mounts, probes, status, `managedFields`); as k8s-openapi's typed `Pod` it is about six
//! times that. These types name only the fields tagwarden reads: serde skips everything
//! else while parsing, so no list page or watch event is ever materialised whole. Each
//! type then becomes a projection ([`super::objects`]) kept by the
//! [index](super::index::Index).
//!
//! Every field is optional: a field the server leaves out, or sends as `null`, is empty.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Node, NodeSelector, Pod, ReplicationController, ServiceAccount, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::objects::Kind;

/// What every kind a watch or list reads has in common.
pub(crate) trait Wire: DeserializeOwned + Clone + Send + Sync + 'static {
    /// The kind's name (`Pod`), for messages and metrics.
    const KIND: &'static str;
    /// The path that lists it: in every namespace (`None`), or in one.
    fn url(namespace: Option<&str>) -> String;
    /// Its `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str>;
}

/// `metadata`, as far as it is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Meta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub owner_references: Option<Vec<OwnerReference>>,
    /// Read for Nodes only (the other kinds' labels are matched by the API server).
    pub labels: Option<BTreeMap<String, String>>,
}

/// An owner, by uid (names repeat across kinds; uids do not).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OwnerReference {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// A Pod spec: images, pull secrets, ServiceAccount and where it may run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PodSpec {
    pub containers: Option<Vec<Container>>,
    pub init_containers: Option<Vec<Container>>,
    pub ephemeral_containers: Option<Vec<Container>>,
    pub image_pull_secrets: Option<Vec<LocalName>>,
    pub service_account_name: Option<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub node_name: Option<String>,
}

/// A container's name and image.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Container {
    pub name: Option<String>,
    pub image: Option<String>,
}

/// `{name: …}`, as `imagePullSecrets` writes a Secret.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LocalName {
    pub name: Option<String>,
}

/// `affinity`: only the required node affinity decides where a Pod may run on its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
}

/// `spec.template` of a workload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TemplateSpec {
    pub template: Option<Template>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Template {
    pub spec: Option<PodSpec>,
}

/// A workload with a Pod template at `spec.template` (Deployments, StatefulSets,
/// DaemonSets, ReplicaSets, ReplicationControllers, Jobs); `K` is k8s-openapi's type of
/// the kind, for its name and path only.
#[derive(Debug, Deserialize)]
#[serde(bound = "", default)]
pub(crate) struct Templated<K> {
    pub metadata: Meta,
    pub spec: Option<TemplateSpec>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Default for Templated<K> {
    fn default() -> Self {
        Templated {
            metadata: Meta::default(),
            spec: None,
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Templated<K> {
    fn clone(&self) -> Self {
        Templated {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Templated<K> {
    /// The Pod spec of its template.
    pub fn pod_spec(self) -> (Meta, Option<PodSpec>) {
        let spec = self.spec.and_then(|s| s.template).and_then(|t| t.spec);
        (self.metadata, spec)
    }
}

/// A CronJob: its Pod template is at `spec.jobTemplate.spec.template`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CronJobWire {
    pub metadata: Meta,
    pub spec: Option<CronJobSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct CronJobSpec {
    pub job_template: Option<JobTemplate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct JobTemplate {
    pub spec: Option<TemplateSpec>,
}

impl CronJobWire {
    /// The Pod spec of its Job template.
    pub fn pod_spec(self) -> (Meta, Option<PodSpec>) {
        let spec = self
            .spec
            .and_then(|s| s.job_template)
            .and_then(|j| j.spec)
            .and_then(|s| s.template)
            .and_then(|t| t.spec);
        (self.metadata, spec)
    }
}

/// A Pod: its spec, and which containers wait on a pull.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PodWire {
    pub metadata: Meta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PodStatus {
    pub container_statuses: Option<Vec<ContainerStatus>>,
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    pub ephemeral_container_statuses: Option<Vec<ContainerStatus>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerStatus {
    pub name: Option<String>,
    pub image: Option<String>,
    pub state: Option<ContainerState>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerState {
    pub waiting: Option<Waiting>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Waiting {
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// A Node: its name, labels, taints and platform.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NodeWire {
    pub metadata: Meta,
    pub spec: Option<NodeSpec>,
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NodeSpec {
    pub taints: Option<Vec<Taint>>,
    pub unschedulable: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NodeStatus {
    pub node_info: Option<NodeInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NodeInfo {
    pub operating_system: Option<String>,
    pub architecture: Option<String>,
}

/// A ServiceAccount: the pull secrets it adds to its Pods.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServiceAccountWire {
    pub metadata: Meta,
    pub image_pull_secrets: Option<Vec<LocalName>>,
}

/// A core/v1 Event, as far as pull failures read it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct EventWire {
    pub involved_object: InvolvedObject,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub first_timestamp: Option<Time>,
    pub last_timestamp: Option<Time>,
    pub event_time: Option<MicroTime>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct InvolvedObject {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub field_path: Option<String>,
}

/// Only the uid: what a list with a selector answers (`scan -l`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UidOnly<K> {
    pub metadata: Meta,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

/// One page of a list.
#[derive(Debug, Deserialize)]
#[serde(bound = "W: Deserialize<'de>")]
pub(crate) struct List<W> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<W>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListMeta {
    #[serde(rename = "continue")]
    pub continue_: Option<String>,
    pub resource_version: Option<String>,
}

fn null_as_empty<'de, D, W>(deserializer: D) -> Result<Vec<W>, D::Error>
where
    D: serde::Deserializer<'de>,
    W: Deserialize<'de>,
{
    Ok(Option::<Vec<W>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The path of `K`'s objects, cluster-wide or in one namespace.
fn path_of<K>(namespace: Option<&str>) -> String
where
    K: kube::Resource<DynamicType = ()>,
{
    K::url_path(&(), namespace)
}

macro_rules! wire_kind {
    ($wire:ty, $k8s:ty, $kind:literal) => {
        impl Wire for $wire {
            const KIND: &'static str = $kind;
            fn url(namespace: Option<&str>) -> String {
                path_of::<$k8s>(namespace)
            }
            fn resource_version(&self) -> Option<&str> {
                self.metadata.resource_version.as_deref()
            }
        }
    };
}

wire_kind!(Templated<Deployment>, Deployment, "Deployment");
wire_kind!(Templated<StatefulSet>, StatefulSet, "StatefulSet");
wire_kind!(Templated<DaemonSet>, DaemonSet, "DaemonSet");
wire_kind!(Templated<ReplicaSet>, ReplicaSet, "ReplicaSet");
wire_kind!(
    Templated<ReplicationController>,
    ReplicationController,
    "ReplicationController"
);
wire_kind!(Templated<Job>, Job, "Job");
wire_kind!(CronJobWire, CronJob, "CronJob");
wire_kind!(PodWire, Pod, "Pod");
wire_kind!(NodeWire, Node, "Node");
wire_kind!(ServiceAccountWire, ServiceAccount, "ServiceAccount");

macro_rules! uid_only_kind {
    ($k8s:ty, $kind:literal) => {
        impl Wire for UidOnly<$k8s> {
            const KIND: &'static str = $kind;
            fn url(namespace: Option<&str>) -> String {
                path_of::<$k8s>(namespace)
            }
            fn resource_version(&self) -> Option<&str> {
                self.metadata.resource_version.as_deref()
            }
        }
    };
}

uid_only_kind!(Deployment, "Deployment");
uid_only_kind!(StatefulSet, "StatefulSet");
uid_only_kind!(DaemonSet, "DaemonSet");
uid_only_kind!(ReplicaSet, "ReplicaSet");
uid_only_kind!(ReplicationController, "ReplicationController");
uid_only_kind!(Job, "Job");
uid_only_kind!(CronJob, "CronJob");
uid_only_kind!(Pod, "Pod");

impl<K> Clone for UidOnly<K> {
    fn clone(&self) -> Self {
        UidOnly {
            metadata: self.metadata.clone(),
            kind: PhantomData,
        }
    }
}

impl Wire for EventWire {
    const KIND: &'static str = "Event";
    fn url(namespace: Option<&str>) -> String {
        path_of::<k8s_openapi::api::core::v1::Event>(namespace)
    }
    fn resource_version(&self) -> Option<&str> {
        None
    }
}

/// A workload kind's template, whichever wire type it came in.
pub(crate) trait WorkloadWire: Wire {
    /// Which kind.
    const WORKLOAD: Kind;
    /// Its metadata and Pod spec (for a Pod, its status too).
    fn into_parts(self) -> (Meta, Option<PodSpec>, Option<PodStatus>);
}

macro_rules! templated_workload {
    ($k8s:ty, $kind:ident) => {
        impl WorkloadWire for Templated<$k8s> {
            const WORKLOAD: Kind = Kind::$kind;
            fn into_parts(self) -> (Meta, Option<PodSpec>, Option<PodStatus>) {
                let (meta, spec) = self.pod_spec();
                (meta, spec, None)
            }
        }
    };
}

templated_workload!(Deployment, Deployment);
templated_workload!(StatefulSet, StatefulSet);
templated_workload!(DaemonSet, DaemonSet);
templated_workload!(ReplicaSet, ReplicaSet);
templated_workload!(ReplicationController, ReplicationController);
templated_workload!(Job, Job);

impl WorkloadWire for CronJobWire {
    const WORKLOAD: Kind = Kind::CronJob;
    fn into_parts(self) -> (Meta, Option<PodSpec>, Option<PodStatus>) {
        let (meta, spec) = self.pod_spec();
        (meta, spec, None)
    }
}

impl WorkloadWire for PodWire {
    const WORKLOAD: Kind = Kind::Pod;
    fn into_parts(self) -> (Meta, Option<PodSpec>, Option<PodStatus>) {
        (self.metadata, self.spec, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_fields_nulls_and_absences_are_all_fine() {
        let pod: PodWire = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod",
                "metadata":{"name":"a","namespace":"n","uid":"u","labels":null,
                            "managedFields":[{"manager":"kubectl","fieldsV1":{"f:spec":{}}}],
                            "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"o","controller":true}]},
                "spec":{"containers":[{"name":"c","image":"i:1","env":[{"name":"X","value":"y"}]}],
                        "initContainers":null,"tolerations":[{"key":"k","operator":"Exists"}]},
                "status":{"containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ErrImagePull"}}}]}}"#,
        )
        .expect("a Pod as the API server sends it");
        let (meta, spec, status) = pod.into_parts();
        assert_eq!(meta.owner_references.unwrap()[0].uid, "o");
        let spec = spec.unwrap();
        assert_eq!(spec.containers.unwrap()[0].image.as_deref(), Some("i:1"));
        assert!(spec.init_containers.is_none());
        assert_eq!(spec.tolerations.unwrap().len(), 1);
        let waiting = status.unwrap().container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .waiting
            .unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("ErrImagePull"));

        let list: List<PodWire> = serde_json::from_str(
            r#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":null}"#,
        )
        .expect("an empty list");
        assert!(list.items.is_empty());
        assert_eq!(list.metadata.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn each_kind_lists_at_its_path() {
        assert_eq!(PodWire::url(None), "/api/v1/pods");
        assert_eq!(
            Templated::<Deployment>::url(Some("shop")),
            "/apis/apps/v1/namespaces/shop/deployments"
        );
        assert_eq!(CronJobWire::url(None), "/apis/batch/v1/cronjobs");
        assert_eq!(NodeWire::url(None), "/api/v1/nodes");
    }
}
