//! Kubernetes integration: finding the cluster to talk to, and its `/version`.
//!
//! - [`Cluster::locate`] finds the cluster the way kubectl does ([`connection`]);
//! - [`Cluster::version`] reads its `/version` into a [`tagwarden_core::KubeVersion`].
//!
//! Workload scanning, watchers, metrics, events and the admission webhook come later and
//! build on the same [`Cluster`]. Kubernetes' own types (kube-rs, k8s-openapi) stay inside
//! this crate: its public API speaks tagwarden's types, strings and paths.

pub mod connection;
mod error;
mod version;

pub use connection::{Cluster, ClusterOptions, ConfigSource};
pub use error::ClusterError;
