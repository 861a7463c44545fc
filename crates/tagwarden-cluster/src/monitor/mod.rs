//! The heart of `tagwarden serve`: which images to check when, what the answers were,
//! what changed, and the metrics.
//!
//! The Kubernetes side (watchers, leader election, Events, HTTP) lives in `serve` and
//! talks to a [`Monitor`] through four calls:
//!
//! - [`Monitor::set_uses`]: the cluster's image uses now (a full replacement), or
//!   `Monitor::apply_changes`: the uses of the images whose uses changed (from the
//!   incremental inventory). New unique images are checked at once; images nobody uses
//!   any more are forgotten, and their series disappear.
//! - [`Monitor::check_soon`]: a Pod just failed to pull this image: check it now.
//! - [`Monitor::run`]: checks while this replica leads, and sends a [`Transition`] for
//!   every change of an image's state.
//! - [`Monitor::snapshot`]: every known image with its latest answer, for `/readyz` and
//!   tests.
//!
//! # The schedule
//!
//! One unique image string is one check, however many workloads use it (workloads scaled
//! to zero included: they are in the uses). Each check asks the engine
//! ([`tagwarden_registry::inspect_image`]), with the platforms of the nodes the image's
//! Pods could run on, through the client for the pull secrets its workloads name
//! ([`RegistryClients`]). Then the image is due again after
//! [`MonitorOptions::present_every`] (present), [`MonitorOptions::failing_every`]
//! (missing, invalid), or a doubling backoff (denied, unreachable, rate-limited). At most
//! `inspect.concurrency` checks run at once; `check_soon` and new images go first.
//!
//! # Registries that ration answers
//!
//! A 429 pauses its registry for its `Retry-After`; `ratelimit-remaining: 0` pauses it for
//! the rate-limit window; a [`Budget`] closes it when its requests per window are used up
//! (Docker Hub has one by default). The [`RegistryGates`] decide it: an observer of the
//! client of their own ([`prepare_client_options`] attaches them, with or without the
//! metrics), so the budgets hold whatever else observes the client. A paused registry's
//! images are not asked: they keep their last answer (`rate_limited` if they had none) and
//! are checked when it opens. A rate limit is never "missing".
//!
//! # Tag drift
//!
//! The digest of each present tag is remembered. A tag that was present and is then
//! reported missing by the registry was deleted ([`TagChange::Deleted`]); a tag with a
//! new digest was retagged ([`TagChange::Retagged`]). Both are counted in
//! `tagwarden_image_tag_changes_total`. An image pinned by digest cannot drift. Every check
//! asks the registry afresh: the monitor's client keeps no answers
//! ([`prepare_client_options`]).
//!
//! # Leadership
//!
//! Only the leader checks ([`Monitor::run`]'s `active`). Losing the lead cancels the
//! checks in flight at once. State is per process: a replica that becomes leader again
//! announces only changes from what *it* last saw, and a fresh leader announces the images
//! it finds unavailable (present ones need no announcement). So after a handover the new
//! leader announces once more what the old one had announced; the Events side is where
//! such repeats are folded (the history the leaders keep in a ConfigMap next to the Lease).
//!
//! # The Kubernetes version
//!
//! [`Monitor::set_kube_version`] switches tracking while running (`serve` follows
//! `/version`): the images that tracked the old or track the new version are due at once.

mod book;
mod gates;
mod metrics;
mod options;
mod run;
mod shared_cache;
mod status;
mod transition;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tagwarden_core::{KubeVersion, Reference, Tracking};
use tagwarden_registry::Client;
use tokio::sync::Notify;

use crate::inventory::index::Changes;
use crate::inventory::{ImageUse, SecretRef, WorkloadLocation};

pub use gates::RegistryGates;
pub use metrics::Metrics;
pub use options::{
    Budget, FAILING_EVERY, MonitorOptions, PRESENT_EVERY, UNDETERMINED_BACKOFF,
    prepare_client_options,
};
pub use status::Status;
pub use transition::{TagChange, Transition};

use book::Book;

/// Checks a cluster's images on a schedule; see the [module documentation](self). Cheap to
/// clone (clones share everything); `Send + Sync`.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
}

struct Shared {
    clients: Box<dyn RegistryClients>,
    options: MonitorOptions,
    metrics: Metrics,
    /// When each registry may be asked (they observe the clients' requests).
    gates: RegistryGates,
    book: Arc<Mutex<Book>>,
    /// The Kubernetes version tracked now (starts as `options.inspect.tracking`'s).
    kube_version: RwLock<Option<KubeVersion>>,
    /// Wakes [`Monitor::run`] when uses change or an image is hurried.
    wake: Notify,
}

/// Which client asks about an image, by the pull secrets its workloads name (the Pod
/// specs' `imagePullSecrets`, then their ServiceAccounts', over every use of the image, in
/// order, without repeats), as `scan` does. A [`Client`] is one for every image.
///
/// Build each client's options with [`prepare_client_options`] (fresh answers, the
/// monitor's [`RegistryGates`] and the metrics as observers), and hand out the same
/// client for the same secrets: clients are
/// cheap to clone, and one client per set of secrets keeps their tokens and connections.
/// A secret that cannot be read is the implementation's to report (and skip).
pub trait RegistryClients: Send + Sync + 'static {
    /// The client for an image used with `pull_secrets` (empty: none named).
    fn client_for(&self, pull_secrets: &[SecretRef]) -> Client;
}

impl RegistryClients for Client {
    fn client_for(&self, _pull_secrets: &[SecretRef]) -> Client {
        self.clone()
    }
}

/// What the monitor knows about one unique image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageState {
    /// The image as written in the workloads.
    pub image: String,
    /// Its registry (`docker.io`), or `none` when it is not an image reference.
    pub registry: String,
    /// The latest answer; `None` before the first.
    pub status: Option<Status>,
    /// Why it is not present (the engine's reason).
    pub reason: Option<String>,
    /// The manifest digest, when present.
    pub digest: Option<String>,
    /// A published stand-in, for a missing image that tracks the Kubernetes version.
    pub fallback: Option<String>,
    /// Where it is used.
    pub uses: Vec<WorkloadLocation>,
    /// Checks finished so far (answers kept or not).
    pub checks: u64,
    /// When the latest check finished.
    pub checked_at: Option<SystemTime>,
    /// How long until the next check is due (zero when due now); `None` while a check is
    /// running.
    pub next_check_in: Option<Duration>,
}

impl Monitor {
    /// A monitor asking through `clients` (a [`Client`] for every image, or a
    /// [`RegistryClients`] that chooses by pull secrets; build their options with
    /// [`prepare_client_options`] and `gates`), writing `metrics`, and asking no registry
    /// `gates` keep closed. The gates get `options`' budgets and rate-limit pause.
    pub fn new(
        clients: impl RegistryClients,
        options: MonitorOptions,
        metrics: Metrics,
        gates: RegistryGates,
    ) -> Monitor {
        gates.configure(
            options.budgets.clone(),
            options.default_budget,
            options.rate_limit_pause,
        );
        let book = Arc::new(Mutex::new(Book::default()));
        metrics.attach(Arc::downgrade(&book));
        Monitor {
            shared: Arc::new(Shared {
                clients: Box::new(clients),
                kube_version: RwLock::new(options.inspect.tracking.kube_version.clone()),
                options,
                metrics,
                gates,
                book,
                wake: Notify::new(),
            }),
        }
    }

    /// The cluster's image uses now, replacing the previous ones. New unique images are
    /// queued for a check at once; images no longer used are forgotten.
    pub fn set_uses(&self, uses: Vec<ImageUse>) {
        self.book().set_uses(uses, Instant::now());
        self.uses_changed();
    }

    /// The images whose uses changed (all of them when `changes.full`), as
    /// [`Monitor::set_uses`] takes them; the images of containers that newly cannot pull.
    pub(crate) fn apply_changes(&self, changes: Changes) -> Vec<String> {
        let Changes {
            full,
            images,
            newly_failing,
        } = changes;
        {
            let mut book = self.book();
            let now = Instant::now();
            if full {
                let kept: std::collections::HashSet<&str> =
                    images.iter().map(|(image, _)| image.as_str()).collect();
                book.images.retain(|image, _| kept.contains(image.as_str()));
            }
            for (image, uses) in images {
                book.set_image_uses(image, uses, now);
            }
        }
        self.uses_changed();
        newly_failing
    }

    /// After the uses changed: the registries in use, and wake the checker.
    fn uses_changed(&self) {
        let book = self.book();
        let registries: std::collections::HashSet<String> =
            book.images.values().map(|e| e.registry.clone()).collect();
        drop(book);
        self.shared.metrics.know_registries(
            registries
                .iter()
                .filter(|r| r.as_str() != book::NO_REGISTRY),
        );
        self.shared
            .gates
            .retain(|registry| registries.contains(registry));
        self.shared.wake.notify_one();
    }

    /// A Pod just failed to pull `image` (`ErrImagePull`, `ImagePullBackOff`): check it
    /// now, ahead of the schedule (a paused registry stays paused). An image no current
    /// use names is ignored: it is checked as soon as [`Monitor::set_uses`] brings it.
    pub fn check_soon(&self, image: &str) {
        if self.book().hurry(image, Instant::now()) {
            self.shared.wake.notify_one();
        } else {
            tracing::debug!(image, "check_soon: no workload uses this image (yet)");
        }
    }

    /// Track `version` from now on (the cluster was upgraded): every image that tracks the
    /// old or the new version is checked again at once, with the new one.
    pub fn set_kube_version(&self, version: &KubeVersion) {
        let old = {
            let mut current = self
                .shared
                .kube_version
                .write()
                .expect("monitor version poisoned");
            if current.as_ref() == Some(version) {
                return;
            }
            current.replace(version.clone())
        };
        let rules = &self.shared.options.inspect.tracking.rules;
        let before = Tracking {
            kube_version: old,
            rules: rules.clone(),
        };
        let after = Tracking {
            kube_version: Some(version.clone()),
            rules: rules.clone(),
        };
        let now = Instant::now();
        let mut book = self.book();
        let affected: Vec<String> = book
            .images
            .keys()
            .filter(|image| {
                Reference::parse(image)
                    .is_ok_and(|r| before.tracks(&r).is_some() || after.tracks(&r).is_some())
            })
            .cloned()
            .collect();
        for image in &affected {
            book.hurry(image, now);
        }
        drop(book);
        tracing::debug!(checks = affected.len(), "tracking a new Kubernetes version");
        self.shared.wake.notify_one();
    }

    /// The Kubernetes version tracked now.
    pub fn kube_version(&self) -> Option<KubeVersion> {
        self.shared
            .kube_version
            .read()
            .expect("monitor version poisoned")
            .clone()
    }

    /// Every known image with its latest answer, in image order.
    pub fn snapshot(&self) -> Vec<ImageState> {
        let now = Instant::now();
        self.book()
            .images
            .iter()
            .map(|(image, entry)| {
                let answer = entry.answer.as_ref();
                ImageState {
                    image: image.clone(),
                    registry: entry.registry.clone(),
                    status: answer.map(|a| a.status),
                    reason: answer.and_then(|a| a.reason.clone()),
                    digest: answer.and_then(|a| a.digest.clone()),
                    fallback: answer.and_then(|a| a.fallback.clone()),
                    uses: entry.uses.clone(),
                    checks: entry.checks,
                    checked_at: entry.checked_at,
                    next_check_in: (!entry.in_flight)
                        .then(|| entry.due.saturating_duration_since(now)),
                }
            })
            .collect()
    }

    /// The metrics this monitor writes.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.shared.book.lock().expect("monitor state poisoned")
    }
}
