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
//! - `settings`: what `serve` is given, as plain data ([`ServeSettings`]), and the one
//!   place where its parts are built from it: one registry client observed by the
//!   registry gates and the metrics, the monitor and the webhook asking through it, the
//!   webhook's metrics in the monitor's one registry.
//! - [`config`]: the config file's `serve:` section; the defaults of serve's settings are
//!   constants here ([`LISTEN`], [`VERSION_INTERVAL`], [`LEASE_NAME`],
//!   [`LEASE_DURATION_SECONDS`]) and in [`crate::monitor`] (the check intervals).
//! - The endpoints ([`http`]) run on every replica. The shutdown future (SIGTERM) cancels
//!   one `CancellationToken` every task watches: the server stops gracefully and the
//!   Lease is released.

mod announced;
mod clients;
pub mod config;
mod events;
mod following;
mod http;
mod leader;
mod settings;
mod watch;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::{mpsc, watch as channel};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use clients::{PullSecretClients, REREAD_EVERY};
pub use config::{BudgetConfig, ServeConfig};
pub use following::{VERSION_INTERVAL, VersionWatch};
pub use leader::{LEASE_DURATION_SECONDS, LEASE_NAME, LeaseOptions};
pub use settings::{RegistrySettings, ServeSettings, WebhookSettings};

/// Where the endpoints listen by default (`serve --listen`).
pub const LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    8080,
));

use crate::connection::Cluster;
use crate::error::ClusterError;
use crate::inventory::SecretRef;
use crate::monitor::{Metrics, Monitor};
use crate::webhook::{BoundWebhook, HttpsEndpoint, Webhook, WebhookError};
use settings::Assembled;

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the endpoints listen (default [`LISTEN`], `0.0.0.0:8080`).
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
    /// Read the pull secrets the workloads name (`get` on Secrets), so that the monitor
    /// and the webhook ask with them, as the kubelet pulls; `false`: local credentials
    /// only.
    pub read_pull_secrets: bool,
    /// Follow the cluster's version from this one, reading `/version` again on a period;
    /// `None`: the version given to the monitor and webhook stays.
    pub version: Option<VersionWatch>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: LISTEN,
            namespaces: Vec::new(),
            skip_namespaces: Vec::new(),
            lease: None,
            reporter: "tagwarden".to_string(),
            instance: String::new(),
            debounce: Duration::from_millis(500),
            read_pull_secrets: false,
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
    /// The registry client could not be built (its options, a CA file).
    #[error(transparent)]
    Registry(#[from] tagwarden_registry::RegistryError),
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
    /// Serves until `shutdown` resolves; see the [module documentation](self). The
    /// registry client, the monitor and the webhook are built here, from `settings`.
    ///
    /// # Errors
    ///
    /// [`ServeError::Listen`] when the address cannot be bound; [`ServeError::Webhook`]
    /// when the webhook's address or certificate cannot be used; [`ServeError::Registry`]
    /// when the registry client cannot be built; [`ServeError::Cluster`] when the Lease
    /// cannot be used. Watch failures are retried, never fatal.
    pub async fn serve(
        &self,
        settings: ServeSettings,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        self.serve_and_tell(settings, shutdown, |_| {}).await
    }

    /// [`Cluster::serve`], calling `listening` once every address is bound (before that,
    /// nothing is served and an error is still possible).
    ///
    /// # Errors
    ///
    /// As [`Cluster::serve`].
    pub async fn serve_and_tell(
        &self,
        settings: ServeSettings,
        shutdown: impl Future<Output = ()> + Send + 'static,
        listening: impl FnOnce(&Listening),
    ) -> Result<(), ServeError> {
        let ServeSettings {
            options,
            monitor,
            registry,
            webhook,
        } = settings;
        let assembled = Assembled::of(registry, monitor, &options, webhook.as_ref())?;
        let client = self.client()?;
        let reporter = Reporter {
            controller: options.reporter.clone(),
            instance: Some(options.instance.clone()).filter(|i| !i.is_empty()),
        };
        let endpoint = webhook.map(|w| w.endpoint);
        let webhook = assembled.webhook.clone().zip(endpoint.as_ref());
        let bound = Bound::bind(options.listen, webhook, &client, &reporter).await?;
        listening(&bound.listening(&options, endpoint.as_ref()));
        assembled.metrics.know_watched_kinds(&watch::KINDS);
        if let Some(version) = &options.version {
            assembled.metrics.set_cluster_version(
                &following::git_version_of(&version.initial),
                version.initial.minor,
            );
        }
        self.run(&options, assembled, bound, client, reporter, shutdown)
            .await
    }

    /// Runs every task until `shutdown`: the endpoints first (`/healthz` answers while the
    /// watches fill the inventory), stopped last, after the Lease is released.
    async fn run(
        &self,
        options: &ServeOptions,
        assembled: Assembled,
        bound: Bound,
        client: kube::Client,
        reporter: Reporter,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        // One token stops every task; the JoinSets hold them all until they are done.
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                shutdown.await;
                stop.cancel();
            }
        });
        let mut serving = JoinSet::new();
        let ready = Arc::new(AtomicBool::new(false));
        let webhook = bound.start(&mut serving, &assembled.metrics, ready.clone(), &stop);
        let watched = Arc::new(watch::Watched::start(
            self,
            &options.namespaces,
            &options.skip_namespaces,
            &assembled.metrics,
        )?);
        let election = self.elect(&client, options).await?;
        let running = Running {
            cluster: self.clone(),
            recorder: Recorder::new(client.clone(), reporter),
            client,
            leading: election.leading.clone(),
            stop: stop.clone(),
            monitor: assembled.monitor,
            metrics: assembled.metrics,
            pull_secrets: assembled.pull_secrets,
            webhook,
            watched,
            ready,
        };
        let mut tasks = JoinSet::new();
        running.start(&mut tasks, options);

        stop.cancelled().await;
        tracing::debug!("shutting down");
        while tasks.join_next().await.is_some() {}
        let leader::Election { leading, task, .. } = election;
        drop(leading);
        if let Some(task) = task {
            // Dropping every receiver ends the election task, which releases the Lease.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        while serving.join_next().await.is_some() {}
        Ok(())
    }

    /// Joins the election for `options.lease` (none: this replica always leads). A
    /// refused Lease is RBAC's answer (403, who cannot do what), not "unreachable".
    async fn elect(
        &self,
        client: &kube::Client,
        options: &ServeOptions,
    ) -> Result<leader::Election, ClusterError> {
        leader::elect(client, options.lease.as_ref(), |lease, error| match error {
            kube_lease_manager::LeaseManagerError::KubeError(error) => self.request_error(error),
            other => ClusterError::Unreachable {
                server: self.server(),
                context: self.context_suffix(),
                reason: format!(
                    "cannot use Lease {}/{}: {other}",
                    lease.namespace, lease.name
                ),
            },
        })
        .await
    }
}

/// The addresses `serve` listens on, bound before anything else starts: a busy port or
/// a bad certificate stops serve at once.
struct Bound {
    listener: tokio::net::TcpListener,
    webhook: Option<(Webhook, BoundWebhook)>,
}

impl Bound {
    /// Binds `listen`, and the webhook on its endpoint: every replica answers the webhook
    /// (each Pod create reaches one), leader or not.
    async fn bind(
        listen: SocketAddr,
        webhook: Option<(Webhook, &HttpsEndpoint)>,
        client: &kube::Client,
        reporter: &Reporter,
    ) -> Result<Bound, ServeError> {
        let listener = http::bind(listen).await.map_err(ServeError::Listen)?;
        let webhook = match webhook {
            Some((webhook, endpoint)) => {
                let webhook =
                    webhook.with_recorder(Recorder::new(client.clone(), reporter.clone()));
                let bound = webhook.bind(endpoint).await?;
                Some((webhook, bound))
            }
            None => None,
        };
        Ok(Bound { listener, webhook })
    }

    fn listening(&self, options: &ServeOptions, endpoint: Option<&HttpsEndpoint>) -> Listening {
        let webhook_default = endpoint.map_or(options.listen, |e| e.listen);
        Listening {
            endpoints: self.listener.local_addr().unwrap_or(options.listen),
            webhook: self
                .webhook
                .as_ref()
                .map(|(_, b)| b.local_addr().unwrap_or(webhook_default)),
        }
    }

    /// Serves the endpoints and the webhook until `stop`; the webhook, for the tasks
    /// that follow the cluster's version.
    fn start(
        self,
        tasks: &mut JoinSet<()>,
        metrics: &Metrics,
        ready: Arc<AtomicBool>,
        stop: &CancellationToken,
    ) -> Option<Webhook> {
        let webhook = self.webhook.as_ref().map(|(w, _)| w.clone());
        tasks.spawn(serve_endpoints(self.listener, metrics, ready, stop.clone()));
        if let Some((_, bound)) = self.webhook {
            let stopped = stop.clone().cancelled_owned();
            tasks.spawn(async move {
                if let Err(e) = bound.run(stopped).await {
                    tracing::warn!("the admission webhook stopped: {e}");
                }
            });
        }
        webhook
    }
}

/// What the tasks of a running `serve` share.
struct Running {
    cluster: Cluster,
    client: kube::Client,
    recorder: Recorder,
    /// The leader-election flag.
    leading: channel::Receiver<bool>,
    stop: CancellationToken,
    monitor: Monitor,
    metrics: Metrics,
    /// The clients by pull secrets, when serve reads them.
    pull_secrets: Option<Arc<PullSecretClients>>,
    /// The webhook, when it runs (its tracking follows the cluster's version).
    webhook: Option<Webhook>,
    watched: Arc<watch::Watched>,
    /// Set once the first uses are with the monitor (`/readyz`).
    ready: Arc<AtomicBool>,
}

impl Running {
    /// Starts the publisher of Events, the version follower, the checker and the indexer.
    fn start(self, tasks: &mut JoinSet<()>, options: &ServeOptions) {
        let Running {
            cluster,
            client,
            recorder,
            leading,
            stop,
            monitor,
            metrics,
            pull_secrets,
            webhook,
            watched,
            ready,
        } = self;
        // Transitions become Events (the monitor only sends them while leading); the
        // publisher drains them and ends once the checker, their only sender, has ended.
        let (transitions, received) = mpsc::channel(1_024);
        tasks.spawn(publish(
            &client,
            options,
            recorder.clone(),
            leading.clone(),
            received,
        ));
        if let Some(version) = options.version.clone() {
            let followers = following::Followers {
                cluster: cluster.clone(),
                client,
                monitor: monitor.clone(),
                webhook,
                metrics,
                leading: leading.clone(),
                recorder,
                lease: options.lease.clone(),
            };
            tasks.spawn(followers.follow(version, stop.clone()));
        }
        // The monitor keeps tagwarden_is_leader as it follows the flag.
        let checker = monitor.clone();
        let stopped = stop.clone().cancelled_owned();
        tasks.spawn(async move { checker.run(leading, transitions, stopped).await });
        let indexer = Indexer {
            cluster,
            watched,
            monitor,
            pull_secrets,
            ready,
        };
        tasks.spawn(indexer.index(options.debounce, stop));
    }
}

/// `/healthz`, `/readyz` and `/metrics` (one registry: the monitor's families and the
/// webhook's), until `stop`.
fn serve_endpoints(
    listener: tokio::net::TcpListener,
    metrics: &Metrics,
    ready: Arc<AtomicBool>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let render = {
        let metrics = metrics.clone();
        Arc::new(move |format| match format {
            http::Exposition::OpenMetrics => metrics.encode_openmetrics(),
            http::Exposition::Text => metrics.encode(),
        }) as Arc<dyn Fn(http::Exposition) -> String + Send + Sync>
    };
    let router = http::router(http::Endpoints {
        ready,
        metrics: render,
    });
    async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::warn!("the HTTP server stopped: {e}");
        }
    }
}

/// Turns transitions into Events; a new leader first reads what was announced, and the
/// records are written back (batched) to the ConfigMap next to the Lease.
fn publish(
    client: &kube::Client,
    options: &ServeOptions,
    recorder: Recorder,
    mut leading: channel::Receiver<bool>,
    mut received: mpsc::Receiver<crate::monitor::Transition>,
) -> impl Future<Output = ()> + Send + 'static {
    let place = options.lease.as_ref().map(|lease| announced::Place {
        api: kube::Api::namespaced(client.clone(), &lease.namespace),
        name: announced_configmap_name(lease),
    });
    async move {
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
    }
}

/// Sleeps until `at`; never wakes for `None`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the indexer works with.
struct Indexer {
    cluster: Cluster,
    watched: Arc<watch::Watched>,
    monitor: Monitor,
    /// The clients by pull secrets, when serve reads them: the Secrets the uses name are
    /// read into them before the monitor hears of the uses.
    pull_secrets: Option<Arc<PullSecretClients>>,
    /// Set once the first uses are with the monitor (`/readyz`).
    ready: Arc<AtomicBool>,
}

impl Indexer {
    /// Hands the images whose uses changed to the monitor after changes (at most once per
    /// `debounce`), and hurries the images of containers that newly cannot pull.
    async fn index(self, debounce: Duration, stop: CancellationToken) {
        let Indexer {
            cluster,
            watched,
            monitor,
            pull_secrets,
            ready,
        } = self;
        tokio::select! {
            _ = watched.ready() => {}
            _ = stop.cancelled() => return,
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
                _ = stop.cancelled() => return,
            }
            tokio::time::sleep(debounce).await;
        }
    }
}
