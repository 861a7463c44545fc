//! Which Pods the webhook acts on.
//!
//! Namespaces opt in through the webhook configuration's `namespaceSelector` (label
//! `tagwarden.io/mutate: enabled`), so the API server only calls for them. Here, on top of
//! that, whatever the configuration says:
//!
//! - a Pod in an excluded namespace is never changed ([`WebhookOptions::excluded_namespaces`]:
//!   `kube-system` and the namespace tagwarden runs in, by default): a webhook that rewrites
//!   its own Pods, or the control plane's, can lock a cluster out;
//! - a Pod with the annotation `tagwarden.io/mutate: "false"` opted out.
//!
//! [`WebhookOptions::excluded_namespaces`]: super::WebhookOptions::excluded_namespaces

use k8s_openapi::api::core::v1::Pod;

use super::patch::MUTATE_ANNOTATION;

/// Why the webhook leaves this Pod alone, or `None` when it acts on it. `namespace` is the
/// request's (the Pod's own when the request has none).
pub(crate) fn why_skipped(namespace: &str, pod: &Pod, excluded: &[String]) -> Option<String> {
    let namespace = match namespace {
        "" => pod.metadata.namespace.as_deref().unwrap_or_default(),
        ns => ns,
    };
    if excluded.iter().any(|ns| ns == namespace) {
        return Some(format!("the namespace {namespace} is excluded"));
    }
    let opted_out = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MUTATE_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    opted_out.then(|| format!("the Pod opted out ({MUTATE_ANNOTATION}: \"false\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn excluded_namespaces_and_the_opt_out_annotation_skip() {
        let excluded = vec!["kube-system".to_string(), "tagwarden".to_string()];
        let plain = pod(serde_json::json!({ "metadata": { "namespace": "kube-system" } }));
        assert!(why_skipped("", &plain, &excluded).is_some());
        assert!(why_skipped("tagwarden", &plain, &excluded).is_some());
        assert!(why_skipped("team", &plain, &excluded).is_none());
        let out = pod(
            serde_json::json!({ "metadata": { "annotations": { MUTATE_ANNOTATION: "False" } } }),
        );
        assert!(
            why_skipped("team", &out, &excluded)
                .unwrap()
                .contains("opted out")
        );
        let in_ = pod(
            serde_json::json!({ "metadata": { "annotations": { MUTATE_ANNOTATION: "true" } } }),
        );
        assert!(why_skipped("team", &in_, &excluded).is_none());
    }
}
