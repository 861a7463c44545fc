//! What `serve` is given, as plain data ([`ServeSettings`]), and the one place where the
//! parts it runs are built from it ([`Assembled`]): the registry client, the registry
//! gates, the metrics (one `prometheus_client` registry), the clients by pull secrets,
//! the monitor and the webhook.
//!
//! ```text
//!  RegistrySettings ─▶ ClientOptions + prepare_client_options(gates, metrics) ─▶ Client
//!                                                                                 │
//!        read_pull_secrets? ─▶ PullSecretClients over that client ◀───────────────┘
//!                                          │ (one RegistryClients, shared)
//!                     ┌────────────────────┴────────────────────┐
//!   Monitor::new(clients, MonitorOptions, metrics, gates)   Webhook::with_clients(clients,
//!                                                             WebhookOptions).with_registry_gate(gates)
//!   metrics.register(webhook's families): one registry, one /metrics
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tagwarden_registry::{Client, ClientOptions, RegistryError, RepairOptions};

use super::{PullSecretClients, ServeOptions};
use crate::monitor::{
    Metrics, Monitor, MonitorOptions, RegistryClients, RegistryGates, prepare_client_options,
};
use crate::webhook::{DEFAULT_BUDGET, HttpsEndpoint, Webhook, WebhookOptions};

/// Everything [`crate::Cluster::serve`] needs, as plain data: it builds the registry
/// client, the monitor and the webhook from it. `Default`: serve's defaults
/// ([`ServeOptions::default`], [`MonitorOptions::default`], the registry options'
/// defaults, no webhook).
#[derive(Debug, Default)]
pub struct ServeSettings {
    /// Where the endpoints listen, what is watched, the Lease, the version followed.
    pub options: ServeOptions,
    /// The monitor's schedule and budgets, and what it asks about every image (its
    /// `inspect`: tracking at the cluster's version, the fallback policy, platforms); the
    /// webhook decides with the same `inspect`.
    pub monitor: MonitorOptions,
    /// The registry options, and how a client is built from them.
    pub registry: RegistrySettings,
    /// The admission webhook; `None`: no webhook.
    pub webhook: Option<WebhookSettings>,
}

/// How `serve` builds its one registry client: the registry options (credentials, TLS,
/// timeouts, concurrency, as every command takes them) and what builds a client from
/// them. `serve` makes the options fit for checking on a schedule first
/// ([`prepare_client_options`]: no answers kept, the registry gates and the metrics as
/// observers).
pub struct RegistrySettings {
    /// The registry options.
    pub options: ClientOptions,
    build: Box<dyn FnOnce(ClientOptions) -> Result<Client, RegistryError> + Send>,
}

impl RegistrySettings {
    /// `options`, built with [`Client::new`].
    pub fn new(options: ClientOptions) -> RegistrySettings {
        RegistrySettings::built_by(options, Client::new)
    }

    /// `options`, built by `build`: the CLI passes the config file's
    /// `Config::build_client` (its registries and mirrors), without a disk cache (a
    /// monitor must see a deleted or moved tag at its next check).
    pub fn built_by(
        options: ClientOptions,
        build: impl FnOnce(ClientOptions) -> Result<Client, RegistryError> + Send + 'static,
    ) -> RegistrySettings {
        RegistrySettings {
            options,
            build: Box::new(build),
        }
    }
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings::new(ClientOptions::default())
    }
}

impl fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The admission webhook `serve` runs next to the monitor ([`crate::webhook`]): every
/// replica answers it, leader or not.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Where it listens (HTTPS), and its certificate files.
    pub endpoint: HttpsEndpoint,
    /// Pin the replacements (and every image it sees) to their digests.
    pub pin: bool,
    /// How long an answer may take ([`DEFAULT_BUDGET`] by default).
    pub budget: Duration,
    /// Serve `POST /validate` too: deny Pods whose image is missing with no fallback.
    pub validate: bool,
    /// The namespace `serve` runs in (in a Pod: `POD_NAMESPACE`), never acted on.
    pub own_namespace: Option<String>,
    /// More namespaces never acted on (`kube-system` and `own_namespace` always are).
    pub skip_namespaces: Vec<String>,
}

impl WebhookSettings {
    /// On `endpoint`, with the defaults: not pinning, [`DEFAULT_BUDGET`], no
    /// `/validate`, no namespace skipped but `kube-system`.
    pub fn new(endpoint: HttpsEndpoint) -> WebhookSettings {
        WebhookSettings {
            endpoint,
            pin: false,
            budget: DEFAULT_BUDGET,
            validate: false,
            own_namespace: None,
            skip_namespaces: Vec::new(),
        }
    }

    /// The webhook's options, deciding with the monitor's `inspect`.
    fn options(&self, monitor: &MonitorOptions) -> WebhookOptions {
        let repair = RepairOptions {
            inspect: monitor.inspect.clone(),
            pin: self.pin,
        };
        let mut options = WebhookOptions::new(repair, self.own_namespace.as_deref());
        options.budget = self.budget;
        options.validate = self.validate;
        options
            .excluded_namespaces
            .extend(self.skip_namespaces.iter().cloned());
        options
    }
}

/// The parts `serve` runs, built from its settings in one place.
pub(crate) struct Assembled {
    /// The one registry `/metrics` encodes (the webhook's families added to it).
    pub metrics: Metrics,
    pub monitor: Monitor,
    /// The webhook (without its Event recorder yet), when it runs.
    pub webhook: Option<Webhook>,
    /// The clients by pull secrets, with `--read-pull-secrets`: the indexer reads the
    /// Secrets into them.
    pub pull_secrets: Option<Arc<PullSecretClients>>,
}

impl Assembled {
    /// One registry client (so one transport: one budget per registry, one single flight),
    /// observed by the gates and the metrics; the monitor and the webhook ask through the
    /// same clients and keep within the same gates.
    pub(crate) fn of(
        registry: RegistrySettings,
        monitor: MonitorOptions,
        options: &ServeOptions,
        webhook: Option<&WebhookSettings>,
    ) -> Result<Assembled, RegistryError> {
        let metrics = Metrics::new();
        let gates = RegistryGates::default();
        let RegistrySettings {
            options: mut client_options,
            build,
        } = registry;
        prepare_client_options(&mut client_options, &gates, Some(&metrics));
        if let Some(cache) = &client_options.shared_cache {
            metrics.watch_shared_cache(cache.clone());
        }
        let local = build(client_options)?;
        // Pull secrets ask through the local client's transport.
        let pull_secrets = options
            .read_pull_secrets
            .then(|| Arc::new(PullSecretClients::new(local.clone())));
        let clients: Arc<dyn RegistryClients> = match &pull_secrets {
            Some(clients) => clients.clone(),
            None => Arc::new(local),
        };
        let webhook = webhook.map(|settings| {
            Webhook::with_clients(clients.clone(), settings.options(&monitor))
                .with_registry_gate(gates.clone())
        });
        if let Some(webhook) = &webhook {
            metrics.register(|registry| webhook.register_metrics(registry));
        }
        Ok(Assembled {
            monitor: Monitor::new(clients, monitor, metrics.clone(), gates),
            metrics,
            webhook,
            pull_secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assembled(webhook: Option<&WebhookSettings>) -> Assembled {
        let options = ServeOptions::default();
        Assembled::of(
            RegistrySettings::default(),
            MonitorOptions::default(),
            &options,
            webhook,
        )
        .expect("a client from the default options")
    }

    #[test]
    fn the_webhooks_metrics_are_in_the_one_registry_only_when_it_runs() {
        let endpoint = HttpsEndpoint {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: "tls.crt".into(),
            key: "tls.key".into(),
        };
        let with = assembled(Some(&WebhookSettings::new(endpoint)));
        assert!(with.webhook.is_some());
        let text = with.metrics.encode_openmetrics();
        assert_eq!(
            text.matches("# TYPE tagwarden_webhook_decisions counter")
                .count(),
            1,
            "{text}"
        );
        assert!(text.contains("tagwarden_is_leader 0"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");

        let without = assembled(None);
        assert!(without.webhook.is_none() && without.pull_secrets.is_none());
        let text = without.metrics.encode();
        assert!(!text.contains("tagwarden_webhook_"), "{text}");
        assert!(text.contains("tagwarden_is_leader 0"), "{text}");
    }

    #[test]
    fn the_webhook_skips_kube_system_its_own_and_the_named_namespaces() {
        let mut settings = WebhookSettings::new(HttpsEndpoint {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: "tls.crt".into(),
            key: "tls.key".into(),
        });
        settings.own_namespace = Some("tagwarden".into());
        settings.skip_namespaces = vec!["batch".into()];
        let options = settings.options(&MonitorOptions::default());
        assert_eq!(
            options.excluded_namespaces,
            ["kube-system", "tagwarden", "batch"]
        );
        assert_eq!(options.budget, DEFAULT_BUDGET);
        assert!(!options.validate && !options.repair.pin);
    }
}
