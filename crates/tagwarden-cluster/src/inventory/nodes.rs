//! Nodes: their platforms, and which of them a Pod template could be scheduled on.
//!
//! A node's platform is its `status.nodeInfo` (`operatingSystem`, `architecture`), what
//! the kubelet pulls for. Whether a Pod may land on a node follows the scheduler's hard
//! rules that depend on the node alone: `nodeName`, `nodeSelector`, required node
//! affinity (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, and `metadata.name`
//! fields) and `NoSchedule`/`NoExecute` taints against the Pod's tolerations (a cordoned
//! node counts as tainted `node.kubernetes.io/unschedulable:NoSchedule`). Resources,
//! Pod affinity and topology spread are not considered: they move Pods between nodes
//! that are all possible.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration};
use serde::Serialize;
use tagwarden_core::Platform;

use super::objects::{PodTemplate, Scheduling};
use super::wire::NodeWire;

/// A platform and how many nodes have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePlatform {
    /// `linux/arm64/v8`.
    #[serde(serialize_with = "as_text")]
    pub platform: Platform,
    /// Nodes with this platform.
    pub nodes: usize,
}

fn as_text<S: serde::Serializer>(platform: &Platform, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(platform)
}

/// One node, reduced to what scheduling and pulling depend on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeFacts {
    name: String,
    platform: Platform,
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
}

impl NodeFacts {
    /// A node's facts; `None` for a node that has not reported its platform yet.
    pub fn of(node: NodeWire) -> Option<NodeFacts> {
        let info = node.status?.node_info?;
        let os = info.operating_system.filter(|o| !o.is_empty())?;
        let architecture = info.architecture.filter(|a| !a.is_empty())?;
        let spec = node.spec.unwrap_or_default();
        let mut taints = spec.taints.unwrap_or_default();
        if spec.unschedulable == Some(true) {
            taints.push(Taint {
                key: "node.kubernetes.io/unschedulable".to_string(),
                effect: "NoSchedule".to_string(),
                ..Taint::default()
            });
        }
        Some(NodeFacts {
            name: node.metadata.name.unwrap_or_default(),
            platform: Platform::new(&os, &architecture, None),
            labels: node.metadata.labels.unwrap_or_default(),
            taints,
        })
    }
}

/// The cluster's nodes (those that report a platform), by name, with the platforms of
/// each set of scheduling constraints remembered until the nodes change.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    nodes: BTreeMap<String, NodeFacts>,
    /// Platforms by scheduling constraints (as JSON): most Pod templates share a few.
    remembered: Mutex<HashMap<String, Arc<Vec<NodePlatform>>>>,
}

impl Nodes {
    /// Adds or replaces a node; false when nothing changed.
    pub fn upsert(&mut self, name: &str, facts: Option<NodeFacts>) -> bool {
        let changed = match facts {
            Some(facts) => {
                self.nodes.get(name) != Some(&facts) && {
                    self.nodes.insert(name.to_string(), facts);
                    true
                }
            }
            None => self.nodes.remove(name).is_some(),
        };
        if changed {
            self.remembered.lock().expect("nodes poisoned").clear();
        }
        changed
    }

    /// The names of every node.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Every node's platform, counted.
    pub fn all(&self) -> Vec<NodePlatform> {
        super::count_platforms(self.nodes.values().map(|n| &n.platform))
    }

    /// The platforms of the nodes `template` could run on, counted.
    pub fn platforms_for(&self, template: &PodTemplate) -> Vec<NodePlatform> {
        if let Some(bound) = &template.node_name {
            return super::count_platforms(
                self.nodes.get(&**bound).map(|n| &n.platform).into_iter(),
            );
        }
        let scheduling = template.scheduling();
        let key = serde_json::to_string(&(
            &scheduling.node_selector,
            &scheduling.required_terms,
            &scheduling.tolerations,
        ))
        .unwrap_or_default();
        let mut remembered = self.remembered.lock().expect("nodes poisoned");
        remembered
            .entry(key)
            .or_insert_with(|| {
                Arc::new(super::count_platforms(
                    self.nodes
                        .values()
                        .filter(|node| may_run_on(scheduling, node))
                        .map(|n| &n.platform),
                ))
            })
            .as_ref()
            .clone()
    }
}

/// Whether the scheduler's node-only hard rules let a Pod not yet bound run on `node`.
fn may_run_on(scheduling: &Scheduling, node: &NodeFacts) -> bool {
    let selected = scheduling
        .node_selector
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value));
    let affine = scheduling.required_terms.is_empty()
        || scheduling
            .required_terms
            .iter()
            .any(|term| term_matches(term, node));
    let tolerated = node
        .taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| scheduling.tolerations.iter().any(|t| tolerates(t, taint)));
    selected && affine && tolerated
}

/// A node selector term: every expression holds (an empty term matches no node).
fn term_matches(term: &NodeSelectorTerm, node: &NodeFacts) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| requirement_holds(r, node.labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(node.name.as_str());
            requirement_holds(r, value)
        })
}

/// One requirement against a label's (or field's) value.
fn requirement_holds(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |v: &str| v.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if requirement.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        // An operator the API server would have refused.
        _ => false,
    }
}

/// Whether `toleration` tolerates `taint` (Kubernetes' `ToleratesTaint`).
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let exists = toleration.operator.as_deref() == Some("Exists");
    if key.is_empty() {
        // An empty key with Exists tolerates everything.
        return exists;
    }
    if key != taint.key {
        return false;
    }
    exists
        || toleration.value.as_deref().unwrap_or_default()
            == taint.value.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, arch: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> NodeFacts {
        NodeFacts {
            name: name.to_string(),
            platform: Platform::new("linux", arch, None),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints,
        }
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.map(str::to_string),
            effect: effect.to_string(),
            ..Taint::default()
        }
    }

    #[test]
    fn node_selector_and_required_affinity_narrow_the_nodes() {
        let amd = node("a", "amd64", &[("kubernetes.io/arch", "amd64")], vec![]);
        let arm = node("b", "arm64", &[("kubernetes.io/arch", "arm64")], vec![]);
        let mut template = Scheduling::default();
        assert!(may_run_on(&template, &amd) && may_run_on(&template, &arm));

        template
            .node_selector
            .insert("kubernetes.io/arch".into(), "amd64".into());
        assert!(may_run_on(&template, &amd));
        assert!(!may_run_on(&template, &arm));

        let mut template = Scheduling {
            required_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![requirement(
                    "kubernetes.io/arch",
                    "NotIn",
                    &["amd64"],
                )]),
                match_fields: None,
            }],
            ..Scheduling::default()
        };
        assert!(!may_run_on(&template, &amd));
        assert!(may_run_on(&template, &arm));

        // Terms are ORed; an empty term matches nothing.
        template.required_terms.push(NodeSelectorTerm::default());
        assert!(!may_run_on(&template, &amd));
        template.required_terms.push(NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement("metadata.name", "In", &["a"])]),
        });
        assert!(may_run_on(&template, &amd));
    }

    #[test]
    fn numbers_compare_as_numbers_and_garbage_never_matches() {
        let n = node("n", "amd64", &[("gpus", "10")], vec![]);
        let with = |op: &str, v: &str| {
            requirement_holds(
                &requirement("gpus", op, &[v]),
                n.labels.get("gpus").map(String::as_str),
            )
        };
        assert!(with("Gt", "9"));
        assert!(!with("Gt", "10"));
        assert!(with("Lt", "11"));
        assert!(!with("Gt", "x"));
        assert!(!with("Bogus", "10"));
    }

    #[test]
    fn taints_need_tolerations_and_bound_pods_stay_put() {
        let tainted = node(
            "gpu",
            "amd64",
            &[],
            vec![
                taint("nvidia.com/gpu", Some("true"), "NoSchedule"),
                taint("soft", None, "PreferNoSchedule"),
            ],
        );
        let mut template = Scheduling::default();
        assert!(!may_run_on(&template, &tainted));
        template.tolerations = vec![Toleration {
            key: Some("nvidia.com/gpu".into()),
            operator: Some("Equal".into()),
            value: Some("false".into()),
            ..Toleration::default()
        }];
        assert!(!may_run_on(&template, &tainted), "the value differs");
        template.tolerations[0].value = Some("true".into());
        assert!(may_run_on(&template, &tainted));
        template.tolerations = vec![Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        }];
        assert!(may_run_on(&template, &tainted), "tolerates everything");

        let mut nodes = Nodes::default();
        assert!(nodes.upsert("n", Some(node("n", "amd64", &[], vec![]))));
        assert!(
            !nodes.upsert("n", Some(node("n", "amd64", &[], vec![]))),
            "no change"
        );
        let bound = PodTemplate {
            node_name: Some("other".into()),
            ..PodTemplate::default()
        };
        assert!(nodes.platforms_for(&bound).is_empty());
        let here = PodTemplate {
            node_name: Some("n".into()),
            ..PodTemplate::default()
        };
        assert_eq!(nodes.platforms_for(&here).len(), 1);
    }
}
