//! `serve`: watch a cluster, keep checking the images it uses, and say what is wrong
//! before a scale-up, a node drain or a Helm hook needs an image.
//!
//! ```text
//!  watchers ─▶ reflector stores ─(debounced)─▶ inventory ─▶ Monitor::set_uses
//!                                     │                        │  (checks on schedule,
//!                       new pull failure ─▶ Monitor::check_soon  │   drift, metrics)
//!                                                              ▼
//!         Lease (kube-lease-manager) ─▶ leader? ─▶ Monitor::run ─▶ transitions ─▶ Events
//!         every replica: /healthz, /readyz, /metrics
//! ```
//!
//! - [`watch`]: one watcher and reflector store per kind, `managedFields` stripped, the
//!   default backoff (reconnects, relists after `410 Gone`).
//! - The image uses are recomputed from the stores after changes, at most once per
//!   [`ServeOptions::debounce`], with the same code as `scan` ([`crate::inventory`]); a
//!   container that newly waits in `ErrImagePull`/`ImagePullBackOff` makes the monitor
//!   check its image at once.
//! - [`crate::monitor`] decides what to check when and keeps the metrics; only the leader
//!   checks ([`leader`]) and writes Events ([`events`]).
//! - The endpoints ([`http`]) run on every replica. The shutdown future (SIGTERM) stops
//!   the server gracefully and releases the Lease.

mod clients;
mod events;
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

pub use clients::{ClientMaker, PullSecretClients, REREAD_EVERY};
pub use leader::LeaseOptions;

use crate::connection::Cluster;
use crate::error::ClusterError;
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
    /// The Lease to hold; `None`: no election, this process always checks.
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
        let (stop_sender, stop) = channel::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        });

        // Endpoints first: /healthz answers while the caches fill.
        let ready = Arc::new(AtomicBool::new(false));
        let render = {
            let metrics = metrics.clone();
            let webhook = webhook.as_ref().map(|(w, _)| w.clone());
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
        let router = http::router(http::Endpoints {
            ready: ready.clone(),
            metrics: render,
        });
        let server = {
            let mut stop = stop.clone();
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
        };

        let watched = Arc::new(watch::Watched::start(&client, &options.namespaces));
        let election = leader::elect(&client, options.lease.as_ref(), |reason| {
            ClusterError::Unreachable {
                server: self.server(),
                context: self.context_suffix(),
                reason: reason.to_string(),
            }
        })
        .await?;
        // The monitor keeps tagwarden_is_leader as it follows this flag.
        let leading = election.leading.clone();

        // Transitions become Events (the monitor only sends them while leading).
        let (transitions, mut received) = mpsc::channel(1_024);
        let recorder = Recorder::new(client.clone(), reporter);
        let publisher = {
            let client = client.clone();
            let controller = options.reporter.clone();
            let namespaces = options.namespaces.clone();
            let mut leading = leading.clone();
            tokio::spawn(async move {
                let mut history = events::History::default();
                let mut was_leading = false;
                while let Some(transition) = received.recv().await {
                    // A new leader first reads what was already said.
                    let now_leading = *leading.borrow_and_update();
                    if now_leading && !was_leading {
                        history = events::History::load(&client, &controller, &namespaces).await;
                    }
                    was_leading = now_leading;
                    events::publish(&recorder, &mut history, &transition).await;
                }
            })
        };

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

        let indexer = {
            let watched = watched.clone();
            let monitor = monitor.clone();
            let ready = ready.clone();
            let skip = options.skip_namespaces.clone();
            let debounce = options.debounce;
            let pull_secrets = options.pull_secrets.clone();
            let cluster = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = watched.ready() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let mut failing: BTreeSet<(String, String, String)> = BTreeSet::new();
                loop {
                    let objects = watched.objects(&skip);
                    let inventory = objects.inventory();
                    // Containers that newly cannot pull: check their image now.
                    let now: BTreeSet<(String, String, String)> = inventory
                        .pull_failures
                        .iter()
                        .map(|f| {
                            (
                                format!("{}/{}", f.namespace, f.pod),
                                f.container.clone(),
                                f.image.clone(),
                            )
                        })
                        .collect();
                    // Their Secrets first: the first check of an image uses them.
                    if let Some(clients) = &pull_secrets {
                        clients.refresh(&cluster, &inventory.uses).await;
                    }
                    // The uses next: check_soon only knows images that are in use.
                    monitor.set_uses(inventory.uses);
                    for (_, _, image) in now.difference(&failing) {
                        monitor.check_soon(image);
                    }
                    failing = now;
                    ready.store(true, Ordering::Release);
                    tokio::select! {
                        _ = watched.changed.notified() => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    tokio::time::sleep(debounce).await;
                }
            })
        };

        let mut stopped = stop.clone();
        let _ = stopped.wait_for(|s| *s).await;
        tracing::debug!("shutting down");
        let _ = indexer.await;
        let _ = checker.await;
        // The checker held the last transition sender: the publisher drains and ends.
        let _ = publisher.await;
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
