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

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};
use kube::ResourceExt;
use serde::Serialize;
use tagwarden_core::Platform;

use super::objects::PodTemplate;

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
#[derive(Debug, Clone)]
struct NodeFacts {
    name: String,
    platform: Platform,
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
}

/// The cluster's nodes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nodes {
    nodes: Vec<NodeFacts>,
}

impl Nodes {
    /// The nodes that report a platform (a node that has not reported yet is skipped).
    pub fn of(nodes: &[std::sync::Arc<Node>]) -> Nodes {
        let nodes = nodes
            .iter()
            .filter_map(|node| {
                let info = node.status.as_ref()?.node_info.as_ref()?;
                if info.operating_system.is_empty() || info.architecture.is_empty() {
                    return None;
                }
                let mut taints = node
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.clone())
                    .unwrap_or_default();
                if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
                    taints.push(Taint {
                        key: "node.kubernetes.io/unschedulable".to_string(),
                        effect: "NoSchedule".to_string(),
                        ..Taint::default()
                    });
                }
                Some(NodeFacts {
                    name: node.name_any(),
                    platform: Platform::new(&info.operating_system, &info.architecture, None),
                    labels: node.labels().clone(),
                    taints,
                })
            })
            .collect();
        Nodes { nodes }
    }

    /// Every node's platform, counted.
    pub fn all(&self) -> Vec<NodePlatform> {
        super::count_platforms(self.nodes.iter().map(|n| &n.platform))
    }

    /// The platforms of the nodes `template` could run on, counted.
    pub fn platforms_for(&self, template: &PodTemplate) -> Vec<NodePlatform> {
        super::count_platforms(
            self.nodes
                .iter()
                .filter(|node| may_run_on(template, node))
                .map(|n| &n.platform),
        )
    }
}

/// Whether the scheduler's node-only hard rules let `template` run on `node`.
fn may_run_on(template: &PodTemplate, node: &NodeFacts) -> bool {
    if let Some(bound) = &template.node_name {
        return *bound == node.name;
    }
    let selected = template
        .node_selector
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value));
    let affine = template.required_terms.is_empty()
        || template
            .required_terms
            .iter()
            .any(|term| term_matches(term, node));
    let tolerated = node
        .taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| template.tolerations.iter().any(|t| tolerates(t, taint)));
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
        let mut template = PodTemplate::default();
        assert!(may_run_on(&template, &amd) && may_run_on(&template, &arm));

        template
            .node_selector
            .insert("kubernetes.io/arch".into(), "amd64".into());
        assert!(may_run_on(&template, &amd));
        assert!(!may_run_on(&template, &arm));

        let mut template = PodTemplate {
            required_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![requirement(
                    "kubernetes.io/arch",
                    "NotIn",
                    &["amd64"],
                )]),
                match_fields: None,
            }],
            ..PodTemplate::default()
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
        let mut template = PodTemplate::default();
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

        let bound = PodTemplate {
            node_name: Some("other".into()),
            ..PodTemplate::default()
        };
        assert!(!may_run_on(&bound, &node("n", "amd64", &[], vec![])));
    }
}
