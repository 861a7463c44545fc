//! The roll-up with and without a selector, on objects as the API server returns them.

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};

use super::PullFailure;
use super::index::Index;
use super::pull_failures::PullEvents;
use super::wire::{PodWire, Templated, WorkloadWire};

fn owner(kind: &str, name: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}])
}

fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}})
}

/// A Pod of the ReplicaSet `web-6c9f7d`, labelled `app=web`; `waiting` makes it fail to pull.
fn pod(name: &str, image: &str, waiting: bool) -> Value {
    let state = if waiting {
        json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}})
    } else {
        json!({"running": {}})
    };
    json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "labels": {"app": "web"}, "ownerReferences": owner("ReplicaSet", "web-6c9f7d")},
        "spec": {"containers": [{"name": "web", "image": image}]},
        "status": {"containerStatuses": [{"name": "web", "image": image, "imageID": "", "ready": false,
                                          "restartCount": 0, "state": state}]},
    })
}

/// An object as the API server returns it.
fn of<W: WorkloadWire>(value: Value) -> W {
    serde_json::from_value(value).unwrap()
}

/// The Deployment `web` (team=x) -> ReplicaSet -> two Pods, and a bare Pod `debug`.
struct Objects {
    index: Index,
    selected: Option<HashSet<String>>,
}

impl Objects {
    fn inventory(&self) -> (Vec<super::ImageUse>, Vec<PullFailure>) {
        let (uses, failures, _) = self
            .index
            .inventory(self.selected.as_ref(), &PullEvents::default());
        (uses, failures)
    }
}

fn objects() -> Objects {
    let mut index = Index::new(&[]);
    // Pods first: their owners come later, as they may from separate watches.
    index.upsert_workload(of::<PodWire>(pod("web-6c9f7d-a", "web:1", false)));
    index.upsert_workload(of::<PodWire>(pod("web-6c9f7d-b", "web:1", true)));
    index.upsert_workload(of::<PodWire>(json!({
        "metadata": {"name": "debug", "namespace": "shop", "uid": "uid-debug"},
        "spec": {"containers": [{"name": "sh", "image": "busybox:1"}]},
    })));
    index.upsert_workload(of::<Templated<ReplicaSet>>(json!({
        "metadata": {"name": "web-6c9f7d", "namespace": "shop", "uid": "uid-web-6c9f7d",
                     "labels": {"app": "web"}, "ownerReferences": owner("Deployment", "web")},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template("web:1")},
    })));
    index.upsert_workload(of::<Templated<Deployment>>(json!({
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web", "labels": {"team": "x"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template("web:1")},
    })));
    Objects {
        index,
        selected: None,
    }
}

/// `kind/name pods=N` of every use.
fn reported(objects: &Objects) -> Vec<String> {
    objects
        .inventory()
        .0
        .iter()
        .map(|u| {
            format!(
                "{}/{} pods={}",
                u.location.kind, u.location.name, u.location.pods
            )
        })
        .collect()
}

fn selecting(uids: &[&str]) -> Objects {
    Objects {
        selected: Some(uids.iter().map(|u| u.to_string()).collect::<HashSet<_>>()),
        ..objects()
    }
}

#[test]
fn without_a_selector_everything_is_reported_at_its_owner() {
    let objects = objects();
    assert_eq!(
        reported(&objects),
        ["Deployment/web pods=2", "Pod/debug pods=1"]
    );
    assert_eq!(objects.inventory().1.len(), 1);
}

#[test]
fn a_selected_workload_counts_all_its_pods_and_their_pull_failures() {
    // -l team=x: the Deployment only, not its ReplicaSet or Pods.
    let objects = selecting(&["uid-web"]);
    assert_eq!(reported(&objects), ["Deployment/web pods=2"]);
    let failures = objects.inventory().1;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].pod, "web-6c9f7d-b");
}

#[test]
fn a_selected_pod_or_replica_set_is_reported_as_the_top_owner() {
    // -l app=web: the ReplicaSet and both Pods, not the Deployment.
    let all = selecting(&["uid-web-6c9f7d", "uid-web-6c9f7d-a", "uid-web-6c9f7d-b"]);
    assert_eq!(reported(&all), ["Deployment/web pods=2"]);
    // One Pod alone: still the whole Deployment.
    let one = selecting(&["uid-web-6c9f7d-a"]);
    assert_eq!(reported(&one), ["Deployment/web pods=2"]);
    // Nothing selected: nothing, not even the pull failure of an unselected chain.
    let none = selecting(&["uid-debug-gone"]);
    assert!(reported(&none).is_empty());
    assert!(none.inventory().1.is_empty());
    // The bare Pod alone.
    assert_eq!(reported(&selecting(&["uid-debug"])), ["Pod/debug pods=1"]);
}
