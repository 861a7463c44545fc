//! Kubernetes integration: the cluster's `/version`, workload and pod scanning, watchers,
//! metrics, events and the admission webhook.
//!
//! Not built yet: it arrives with the cluster issue. The crate exists now so the workspace
//! already shows the architecture and the direction of its dependencies.
