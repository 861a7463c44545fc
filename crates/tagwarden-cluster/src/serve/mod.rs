//! `serve`: watch a cluster, keep checking the images it uses, and say what is wrong
//! before a scale-up, a node drain or a Helm hook needs an image.
//!
//! ```text
//!  watchers ─▶ incremental inventory ─(debounced)─▶ Monitor::apply_changes
//!                                     │                        │  (checks on schedule,
//!                       new pull failure ─▶ Monitor::check_soon  │   drift, metrics)
//!                                                              ▼
//!         Lease (kube-lease-manager) ─▶ leader? ─▶ Monitor::run ─▶ transitions ─▶ Events
//!         every replica: /healthz, /readyz, /metrics
//! ```
//!
//! - [`watch`]: one list-then-watch loop per kind into the incremental inventory
//!   ([`crate::inventory::index`]: projections, not objects), a jittered exponential
//!   backoff after failures (a watch that ends at once is one), resumed after a dropped
//!   connection, relisted after `410 Gone`; Nodes and ServiceAccounts are optional
//!   (forbidden: one warning, listed empty).
//! - The images whose uses changed go to the monitor after changes, at most once per
//!   [`ServeOptions::debounce`], worked out as `scan` works them out; a
//!   container that newly waits in `ErrImagePull`/`ImagePullBackOff` makes the monitor
//!   check its image at once.
//! - [`crate::monitor`] decides what to check when and keeps the metrics; only the leader
//!   checks ([`leader`]) and writes Events ([`events`]); what it announced is kept in a
//!   ConfigMap next to the Lease ([`announced`]) for the next leader.
//! - [`following`]: `/version` is read again every [`VersionWatch::every`]; a new version
//!   switches the monitor's and the webhook's tracking without a restart.
//! - The endpoints ([`http`]) run on every replica. The shutdown future (SIGTERM) stops
//!   the server gracefully and releases the Lease.

mod announced;
mod clients;
mod events;
mod following;
mod http;
mod leader;
mod watch;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::{mpsc, watch as channel};

pub use clients::{PullSecretClients, REREAD_EVERY};
pub use following::VersionWatch;
pub use leader::LeaseOptions;

use crate::connection::Cluster;
use crate::error::ClusterError;
use crate::inventory::SecretRef;
use crate::monitor::{Metrics, Monitor};
use crate::webhook::{HttpsEndpoint, Webhook, WebhookError};

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the endpoints listen (`0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// Namespaces to watch; empty: every namespace.
    pub namespaces: Vec<String>,
    /// Namespaces whose workloads are ignored.
    pub skip_namespaces: Vec<String>,
    /// The Lease to hold; `None`: no election, this process always checks. What the
    /// leader announced is kept next to it, in the ConfigMap `<lease name>-announced`.
    pub lease: Option<LeaseOptions>,
    /// The controller name on Events (`tagwarden`) and this replica's name.
    pub reporter: String,
    /// This replica's name on Events (its Pod name).
    pub instance: String,
    /// The least time between two recomputations of the image uses.
    pub debounce: Duration,
    /// Read the pull secrets the workloads name into these clients (the monitor's), so
    /// that images are checked with them; `None`: local credentials only.
    pub pull_secrets: Option<Arc<PullSecretClients>>,
    /// Where the admission webhook listens (HTTPS), with its certificate files; `None`:
    /// no webhook.
    pub webhook: Option<HttpsEndpoint>,
    /// Follow the cluster's version from this one, reading `/version` again on a period;
    /// `None`: the version given to the monitor and webhook stays.
    pub version: Option<VersionWatch>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            namespaces: Vec::new(),
            skip_namespaces: Vec::new(),
            lease: None,
            reporter: "tagwarden".to_string(),
            instance: String::new(),
            debounce: Duration::from_millis(500),
            pull_secrets: None,
            webhook: None,
            version: None,
        }
    }
}

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The cluster could not be used.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The listen address could not be bound.
    #[error("{0}")]
    Listen(std::io::Error),
    /// The webhook could not start (its address, its certificate files).
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// Where `serve` listens, once every address is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// `/healthz`, `/readyz`, `/metrics`.
    pub endpoints: SocketAddr,
    /// The admission webhook (HTTPS), when it runs.
    pub webhook: Option<SocketAddr>,
}

/// The `ConfigMap` that keeps what the leader of `lease` announced.
pub fn announced_configmap_name(lease: &LeaseOptions) -> String {
    format!("{}-announced", lease.name)
}

impl Cluster {
    /// Serves until `shutdown` resolves; see the [module documentation](self).
    ///
    /// # Errors
    ///
    /// [`ServeError::Listen`] when the address cannot be bound; [`ServeError::Cluster`]
    /// when the Lease cannot be used. Watch failures are retried, never fatal.
    pub async fn serve(
        &self,
        options: &ServeOptions,
        monitor: Monitor,
        metrics: Metrics,
        webhook: Option<Webhook>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        self.serve_and_tell(options, monitor, metrics, webhook, shutdown, |_| {})
            .await
    }

    /// [`Cluster::serve`], calling `listening` once every address is bound (before that,
    /// nothing is served and an error is still possible).
    ///
    /// # Errors
    ///
    /// As [`Cluster::serve`].
    pub async fn serve_and_tell(
        &self,
        options: &ServeOptions,
        monitor: Monitor,
        metrics: Metrics,
        webhook: Option<Webhook>,
        shutdown: impl Future<Output = ()> + Send + 'static,
        listening: impl FnOnce(&Listening),
    ) -> Result<(), ServeError> {
        let client = self.client()?;
        let listener = http::bind(options.listen)
            .await
            .map_err(ServeError::Listen)?;
        let reporter = Reporter {
            controller: options.reporter.clone(),
            instance: Some(options.instance.clone()).filter(|i| !i.is_empty()),
        };
        // The webhook binds at start: a bad certificate or a busy port stops serve now.
        // Every replica answers it (each Pod create reaches one), leader or not.
        let webhook = match (webhook, &options.webhook) {
            (Some(webhook), Some(endpoint)) => {
                let webhook =
                    webhook.with_recorder(Recorder::new(client.clone(), reporter.clone()));
                let bound = webhook.bind(endpoint).await?;
                Some((webhook, bound))
            }
            _ => None,
        };
        listening(&Listening {
            endpoints: listener.local_addr().unwrap_or(options.listen),
            webhook: webhook.as_ref().map(|(_, b)| {
                b.local_addr().unwrap_or(
                    options
                        .webhook
                        .as_ref()
                        .map_or(options.listen, |e| e.listen),
                )
            }),
        });
        metrics.know_watched_kinds(&watch::KINDS);
        if let Some(version) = &options.version {
            metrics.set_cluster_version(
                &following::git_version_of(&version.initial),
                version.initial.minor,
            );
        }
        let (stop_sender, stop) = channel::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        });

        // Endpoints first: /healthz answers while the caches fill.
        let ready = Arc::new(AtomicBool::new(false));
        let server = spawn_endpoints(
            listener,
            &metrics,
            webhook.as_ref().map(|(w, _)| w.clone()),
            ready.clone(),
            stop.clone(),
        );
        let webhook_for_versions = webhook.as_ref().map(|(w, _)| w.clone());
        let admission = webhook.map(|(_, bound)| {
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = bound.run(stopped).await {
                    tracing::warn!("the admission webhook stopped: {e}");
                }
            })
        });

        let watched = Arc::new(watch::Watched::start(
            self,
            &options.namespaces,
            &options.skip_namespaces,
            &metrics,
        )?);
        // A refused Lease is RBAC's answer (403, who cannot do what), not "unreachable".
        let election = leader::elect(
            &client,
            options.lease.as_ref(),
            |lease, error| match error {
                kube_lease_manager::LeaseManagerError::KubeError(error) => {
                    self.request_error(error)
                }
                other => ClusterError::Unreachable {
                    server: self.server(),
                    context: self.context_suffix(),
                    reason: format!(
                        "cannot use Lease {}/{}: {other}",
                        lease.namespace, lease.name
                    ),
                },
            },
        )
        .await?;
        // The monitor keeps tagwarden_is_leader as it follows this flag.
        let leading = election.leading.clone();

        // Transitions become Events (the monitor only sends them while leading).
        let (transitions, received) = mpsc::channel(1_024);
        let recorder = Recorder::new(client.clone(), reporter);
        let publisher = spawn_publisher(
            &client,
            options,
            recorder.clone(),
            leading.clone(),
            received,
        );
        let follower = options.version.clone().map(|version| {
            let followers = following::Followers {
                cluster: self.clone(),
                client: client.clone(),
                monitor: monitor.clone(),
                webhook: webhook_for_versions,
                metrics: metrics.clone(),
                leading: leading.clone(),
                recorder,
                lease: options.lease.clone(),
            };
            tokio::spawn(followers.follow(version, stop.clone()))
        });

        let checker = {
            let monitor = monitor.clone();
            let leading = leading.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                monitor
                    .run(leading, transitions, async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        let indexer = spawn_indexer(self, options, watched, monitor, ready, stop.clone());

        let mut stopped = stop.clone();
        let _ = stopped.wait_for(|s| *s).await;
        tracing::debug!("shutting down");
        let _ = indexer.await;
        let _ = checker.await;
        // The checker held the last transition sender: the publisher drains and ends.
        let _ = publisher.await;
        if let Some(follower) = follower {
            let _ = follower.await;
        }
        drop(leading);
        let leader::Election { leading, task, .. } = election;
        drop(leading);
        if let Some(task) = task {
            // Dropping every receiver ends the election task, which releases the Lease.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let _ = server.await;
        if let Some(admission) = admission {
            let _ = admission.await;
        }
        Ok(())
    }
}

/// `/healthz`, `/readyz` and `/metrics` (the monitor's and the webhook's), until `stop`.
fn spawn_endpoints(
    listener: tokio::net::TcpListener,
    metrics: &Metrics,
    webhook: Option<Webhook>,
    ready: Arc<AtomicBool>,
    mut stop: channel::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let render = {
        let metrics = metrics.clone();
        Arc::new(move |format| {
            let mut text = match format {
                http::Exposition::OpenMetrics => metrics.encode_openmetrics(),
                http::Exposition::Text => metrics.encode(),
            };
            if let Some(webhook) = &webhook {
                webhook.append_metrics(&mut text);
            }
            text
        }) as Arc<dyn Fn(http::Exposition) -> String + Send + Sync>
    };
    let router = http::router(http::Endpoints {
        ready,
        metrics: render,
    });
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!("the HTTP server stopped: {e}");
        }
    })
}

/// Turns transitions into Events; a new leader first reads what was announced, and the
/// records are written back (batched) to the ConfigMap next to the Lease.
fn spawn_publisher(
    client: &kube::Client,
    options: &ServeOptions,
    recorder: Recorder,
    mut leading: channel::Receiver<bool>,
    mut received: mpsc::Receiver<crate::monitor::Transition>,
) -> tokio::task::JoinHandle<()> {
    let place = options.lease.as_ref().map(|lease| announced::Place {
        api: kube::Api::namespaced(client.clone(), &lease.namespace),
        name: announced_configmap_name(lease),
    });
    tokio::spawn(async move {
        let mut announced = announced::Announced::new(place);
        let mut was_leading = false;
        let mut flush_at: Option<tokio::time::Instant> = None;
        loop {
            let transition = tokio::select! {
                transition = received.recv() => transition,
                () = sleep_until_some(flush_at) => {
                    announced.flush().await;
                    flush_at = None;
                    continue;
                }
            };
            let Some(transition) = transition else {
                break;
            };
            // A new leader first reads what was already said.
            let now_leading = *leading.borrow_and_update();
            if now_leading && !was_leading {
                announced.load().await;
            }
            was_leading = now_leading;
            events::publish(&recorder, &mut announced, &transition).await;
            if announced.dirty() && flush_at.is_none() {
                flush_at = Some(tokio::time::Instant::now() + announced::FLUSH_AFTER);
            }
        }
        announced.flush().await;
    })
}

/// Sleeps until `at`; never wakes for `None`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Hands the images whose uses changed to the monitor after changes (debounced), and
/// hurries the images of containers that newly cannot pull.
fn spawn_indexer(
    cluster: &Cluster,
    options: &ServeOptions,
    watched: Arc<watch::Watched>,
    monitor: Monitor,
    ready: Arc<AtomicBool>,
    mut stop: channel::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let debounce = options.debounce;
    let pull_secrets = options.pull_secrets.clone();
    let cluster = cluster.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = watched.ready() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        loop {
            let changes = watched.take_changes();
            // Their Secrets first: the first check of an image uses them.
            if let Some(clients) = &pull_secrets {
                let secrets: BTreeSet<SecretRef> = if clients.stale() {
                    watched.index().pull_secrets_in_use()
                } else {
                    changes
                        .images
                        .iter()
                        .flat_map(|(_, uses)| uses.iter().flat_map(|u| &u.pull_secrets))
                        .cloned()
                        .collect()
                };
                clients.refresh(&cluster, &secrets).await;
            }
            // The uses next: check_soon only knows images that are in use.
            let newly_failing = monitor.apply_changes(changes);
            for image in &newly_failing {
                monitor.check_soon(image);
            }
            ready.store(true, Ordering::Release);
            tokio::select! {
                _ = watched.changed.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::time::sleep(debounce).await;
        }
    })
}
