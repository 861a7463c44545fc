//! The admission webhook of `tagwarden serve`: Pods get the nearest published tag at
//! admission, so that every path into the cluster is covered (Helm 3 hooks, Argo CD, Flux,
//! operators, a tag deleted after deploy), not only the ones a post-renderer sees.
//!
//! # One decision for `post-render` and the webhook
//!
//! What to do with an image is [`tagwarden_registry::decide_repairs`], the very function
//! `tagwarden post-render` calls, with the same [`RepairOptions`]: an image whose exact tag
//! is missing and that tracks the Kubernetes version gets the nearest published compatible
//! tag within the skew policy (pinned by digest with `pin`); a present image is never
//! changed (except to pin it), and anything a registry did not answer
//! ([`Repair::Undetermined`]) is never changed.
//!
//! # The pieces, one job per file
//!
//! - `scope`: which requests the webhook acts on: `CREATE` of a Pod, not in an excluded
//!   namespace (`kube-system` and tagwarden's own, by default), not opted out with the
//!   annotation `tagwarden.io/mutate: "false"`.
//! - [`patch`]: the pure core. From a k8s-openapi `Pod` and one [`Repair`] per image field
//!   (containers, init containers, ephemeral containers), the [`Mutation`]: a JSONPatch
//!   that replaces only the image fields that need it, the annotation
//!   `tagwarden.io/original-images` (container name → original image, as JSON) and one
//!   warning per rewrite, which the API server hands to `kubectl`.
//! - `review`: `AdmissionReview` v1 in and out: the request (read with kube's
//!   `AdmissionRequest<Pod>`), and the answers, kube's `AdmissionResponse` (as kube-rs's
//!   `admission_controller` example builds them): allow, allow with a patch, deny, and the
//!   answer to a malformed request (allowed, with a warning: the webhook never fails closed
//!   by accident).
//! - `handler`: [`Webhook`], the context ([`Webhook::with_clients`] takes the monitor's
//!   `RegistryClients`, so each Pod's images are asked with its `imagePullSecrets`), and its
//!   axum [`Router`] (`POST /mutate`, and
//!   `POST /validate` when enabled), a thin layer over the two above. It answers within a
//!   **latency budget** ([`WebhookOptions::budget`], 2 s by default): the engine's decision
//!   runs in a task of its own, and when it is not ready in time the Pod is allowed
//!   unchanged (`timeout` is counted) while the task finishes and leaves its answer in the
//!   webhook's own memory, so the next Pod with that image gets a warm answer.
//! - `memory`: the webhook's decisions per image and pull secrets (present 10 min, missing
//!   1 min, errors never kept) and the one task in flight per image: a burst of Pods with
//!   one image costs one resolution. It does not depend on the registry client's memory
//!   (which `serve`'s clients keep at zero for the monitor).
//! - `metrics`: `tagwarden_webhook_decisions_total{decision}` (`rewritten`, `unchanged`,
//!   `timeout`, `undetermined`, `error`, and `denied` from `/validate`) and
//!   `tagwarden_webhook_duration_seconds`, registered into the caller's
//!   `prometheus_client` registry ([`Webhook::register_metrics`]).
//! - `events`: an Event (`ImageRewritten`) on the Pod's owner saying what was rewritten and
//!   why, through an optional kube-runtime `Recorder`; best effort, spawned, never in the
//!   way of the answer.
//! - [`tls`]: rustls (aws-lc-rs) from PEM files, re-read when the files change (cert-manager
//!   rotates them; checked at most once a second), and [`serve_https`], which serves a
//!   `Router` over HTTPS (HTTP/1.1 and HTTP/2) on a `TcpListener`.
//! - `endpoint`: [`Webhook::bind`] an [`HttpsEndpoint`] (address, certificate and key
//!   files) at start, then [`BoundWebhook::run`] it until shutdown: what `serve` calls.
//!
//! # How it is deployed
//!
//! The MutatingWebhookConfiguration (see the chart) sends `CREATE` of `pods` here with
//! `failurePolicy: Ignore` (the webhook must never be why a Pod cannot be created),
//! `sideEffects: NoneOnDryRun` (an Event is its one side effect, skipped on dry runs),
//! `reinvocationPolicy: IfNeeded` (other webhooks that change images
//! are seen: a second call keeps what is already published, and the annotation keeps the
//! first original), `timeoutSeconds` above the budget, and a `namespaceSelector` on the
//! label `tagwarden.io/mutate: enabled`: namespaces opt in. `/validate` (off by default)
//! denies a Pod whose image is missing with no fallback; it belongs in a
//! ValidatingWebhookConfiguration with `failurePolicy: Fail` only where an operator chooses.

mod endpoint;
mod events;
mod handler;
mod memory;
mod metrics;
pub mod patch;
mod review;
mod scope;
pub mod tls;

use std::time::Duration;

pub use endpoint::{BoundWebhook, HttpsEndpoint, WebhookError};
pub use handler::{RegistryGate, Webhook};
pub use memory::{MISSING_TTL, PRESENT_TTL};
pub use patch::{
    ContainerList, ImageSlot, MUTATE_ANNOTATION, Mutation, ORIGINAL_IMAGES_ANNOTATION, Rewrite,
};
pub use tls::{CertificateFiles, TlsError, serve_https};

pub use axum::Router;
pub use tagwarden_registry::{Repair, RepairOptions};

/// The latency budget by default: well under the API server's `timeoutSeconds` (10 s by
/// default, the chart sets 5 s).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(2);

/// The namespace never acted on, whatever the configuration says (with tagwarden's own).
pub const KUBE_SYSTEM: &str = "kube-system";

/// How the webhook decides and how long it may take.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The decision's options, as `post-render` builds them: tracking at the cluster's
    /// version plus the config's track rules, the fallback policy, platforms, `pin`.
    pub repair: RepairOptions,
    /// How long an answer may take (or three quarters of the API server's `?timeout=`,
    /// when shorter). When the engine's decision is not ready by then, the Pod is allowed
    /// unchanged and `timeout` is counted.
    pub budget: Duration,
    /// Namespaces whose Pods are never changed (nor denied).
    pub excluded_namespaces: Vec<String>,
    /// Serve `POST /validate`: deny Pods whose image is missing with no fallback.
    pub validate: bool,
}

impl WebhookOptions {
    /// The defaults around `repair`: a 2 s budget, `kube-system` and `own_namespace` (the
    /// namespace tagwarden runs in, when known) excluded, `/validate` off.
    pub fn new(repair: RepairOptions, own_namespace: Option<&str>) -> WebhookOptions {
        let mut excluded_namespaces = vec![KUBE_SYSTEM.to_string()];
        if let Some(own) = own_namespace.filter(|ns| !ns.is_empty() && *ns != KUBE_SYSTEM) {
            excluded_namespaces.push(own.to_string());
        }
        WebhookOptions {
            repair,
            budget: DEFAULT_BUDGET,
            excluded_namespaces,
            validate: false,
        }
    }
}
