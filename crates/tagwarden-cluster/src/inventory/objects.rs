//! From Kubernetes objects to what a scan needs of them: kind, name, owners and the Pod
//! template (its images with their field paths, pull secrets, ServiceAccount and
//! scheduling constraints).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    NodeSelectorTerm, Pod, PodSpec, PodTemplateSpec, ReplicationController, Toleration,
};
use kube::ResourceExt;

/// An owner reference, by uid (names repeat across kinds; uids do not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerKey {
    pub uid: String,
}

/// One image field of a Pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerImage {
    /// The container's name.
    pub name: String,
    /// The image as written.
    pub image: String,
    /// The field's path in the object (`spec.template.spec.containers[0].image`).
    pub path: String,
}

/// What of a Pod spec decides where its images come from and where it may run.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodTemplate {
    /// Containers, then init containers, then ephemeral containers.
    pub containers: Vec<ContainerImage>,
    /// `imagePullSecrets` names.
    pub pull_secrets: Vec<String>,
    /// `serviceAccountName` (`None`: `default`).
    pub service_account: Option<String>,
    /// `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution` terms (ORed).
    pub required_terms: Vec<NodeSelectorTerm>,
    /// `tolerations`.
    pub tolerations: Vec<Toleration>,
    /// `nodeName`: a Pod already bound to a node.
    pub node_name: Option<String>,
}

/// A workload or Pod, reduced to what a scan needs.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// Owner references, controller first.
    pub owners: Vec<OwnerKey>,
    pub template: PodTemplate,
}

impl Workload {
    fn new(
        kind: &str,
        meta: &impl ResourceExt,
        spec: Option<&PodSpec>,
        spec_path: &str,
    ) -> Option<Workload> {
        let spec = spec?;
        let mut owners: Vec<(bool, OwnerKey)> = meta
            .owner_references()
            .iter()
            .map(|o| (o.controller == Some(true), OwnerKey { uid: o.uid.clone() }))
            .collect();
        owners.sort_by_key(|(controller, _)| !controller);
        Some(Workload {
            kind: kind.to_string(),
            namespace: meta.namespace().unwrap_or_default(),
            name: meta.name_any(),
            uid: meta.uid(),
            owners: owners.into_iter().map(|(_, o)| o).collect(),
            template: PodTemplate::of(spec, spec_path),
        })
    }

    fn templated(
        kind: &str,
        meta: &impl ResourceExt,
        template: Option<&PodTemplateSpec>,
    ) -> Option<Workload> {
        Workload::new(
            kind,
            meta,
            template.and_then(|t| t.spec.as_ref()),
            "spec.template.spec",
        )
    }

    pub fn deployment(d: &Deployment) -> Option<Workload> {
        Workload::templated("Deployment", d, d.spec.as_ref().map(|s| &s.template))
    }

    pub fn stateful_set(s: &StatefulSet) -> Option<Workload> {
        Workload::templated("StatefulSet", s, s.spec.as_ref().map(|s| &s.template))
    }

    pub fn daemon_set(d: &DaemonSet) -> Option<Workload> {
        Workload::templated("DaemonSet", d, d.spec.as_ref().map(|s| &s.template))
    }

    pub fn replica_set(r: &ReplicaSet) -> Option<Workload> {
        Workload::templated(
            "ReplicaSet",
            r,
            r.spec.as_ref().and_then(|s| s.template.as_ref()),
        )
    }

    pub fn replication_controller(r: &ReplicationController) -> Option<Workload> {
        Workload::templated(
            "ReplicationController",
            r,
            r.spec.as_ref().and_then(|s| s.template.as_ref()),
        )
    }

    pub fn job(j: &Job) -> Option<Workload> {
        Workload::templated("Job", j, j.spec.as_ref().map(|s| &s.template))
    }

    pub fn cron_job(c: &CronJob) -> Option<Workload> {
        Workload::new(
            "CronJob",
            c,
            c.spec
                .as_ref()
                .and_then(|s| s.job_template.spec.as_ref())
                .and_then(|j| j.template.spec.as_ref()),
            "spec.jobTemplate.spec.template.spec",
        )
    }

    pub fn pod(p: &Pod) -> Option<Workload> {
        Workload::new("Pod", p, p.spec.as_ref(), "spec")
    }
}

impl PodTemplate {
    fn of(spec: &PodSpec, at: &str) -> PodTemplate {
        let mut containers = Vec::new();
        let mut add = |list: &str, items: Vec<(String, Option<String>)>| {
            for (i, (name, image)) in items.into_iter().enumerate() {
                // An absent image is for the API server to reject; nothing to check.
                if let Some(image) = image {
                    containers.push(ContainerImage {
                        name,
                        image,
                        path: format!("{at}.{list}[{i}].image"),
                    });
                }
            }
        };
        add(
            "containers",
            spec.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect(),
        );
        add(
            "initContainers",
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect(),
        );
        add(
            "ephemeralContainers",
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect(),
        );
        PodTemplate {
            containers,
            pull_secrets: spec
                .image_pull_secrets
                .iter()
                .flatten()
                .map(|s| s.name.clone())
                .filter(|n| !n.is_empty())
                .collect(),
            service_account: spec.service_account_name.clone().filter(|n| !n.is_empty()),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_terms: spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|r| r.node_selector_terms.clone())
                .unwrap_or_default(),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        }
    }
}
