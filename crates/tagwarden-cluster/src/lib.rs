//! Kubernetes integration: finding the cluster, reading what it runs, checking its images,
//! and `serve`.
//!
//! - [`Cluster::locate`] finds the cluster the way kubectl does ([`connection`]);
//! - [`Cluster::version`] reads its `/version` into a [`tagwarden_core::KubeVersion`];
//! - [`Cluster::inventory`] reads what the cluster runs ([`inventory`]);
//! - [`Cluster::scan`] checks every image of it against its registry ([`scan`]), with the
//!   pull secrets the workloads name ([`pull_secrets`]);
//! - [`scan_fleet`] scans the clusters of several contexts ([`Cluster::locate_fleet`]) at
//!   once, through one registry client, each at its own version or a [`FleetTarget`]
//!   ([`fleet`]);
//! - [`Cluster::serve`] takes plain settings ([`serve::ServeSettings`]), builds the
//!   registry client, the monitor and the webhook from them, watches the cluster into the
//!   incremental inventory and keeps checking ([`serve`]: watchers, Events, leader
//!   election, `/healthz`, `/readyz`, `/metrics`), with the schedule, registry gates,
//!   drift and metrics of [`monitor`] and, when asked, the admission webhook ([`webhook`]);
//! - [`names`] checks namespaces and names before they go into a request path;
//!   [`ClusterError`] sorts what went wrong into classes that say what to do ([`error`]).
//!
//! All of it builds on the same [`Cluster`]. Kubernetes' own types (kube-rs, k8s-openapi)
//! stay inside this crate: its public API speaks tagwarden's types, strings and paths.

#![warn(missing_docs)]

pub mod connection;
pub mod credentials;
mod edge;
pub mod error;
pub mod fleet;
pub mod inventory;
pub mod monitor;
pub mod names;
pub mod pull_secrets;
pub mod scan;
pub mod serve;
mod version;
pub mod webhook;

pub use connection::{Cluster, ClusterOptions, ConfigSource, Environment, FleetChoice};
pub use error::ClusterError;
pub use fleet::{
    ClusterScan, FleetMember, FleetProgress, FleetScanOptions, FleetTarget, scan_fleet,
};
pub use inventory::{
    ImageUse, Inventory, NodePlatform, PullFailure, PullFailureClass, Scope, SecretRef,
    WorkloadLocation,
};
pub use names::InvalidName;
pub use pull_secrets::PullSecrets;
pub use scan::{ScanError, ScanOptions, ScanReport, ScannedImage};
pub use version::{LOWER_VERSION_READS, VersionFollower};
