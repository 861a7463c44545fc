//! `tagwarden serve`: the in-cluster service. The work, and the assembly of its parts (the
//! registry client, the monitor, the webhook), is `tagwarden_cluster::Cluster::serve`; this
//! command turns flags, environment variables and the config file's `serve:` section into
//! its `ServeSettings`, and calls it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_cluster::monitor::{
    Budget, FAILING_EVERY, MonitorOptions, PRESENT_EVERY, UNDETERMINED_BACKOFF,
};
use tagwarden_cluster::serve::{
    LEASE_DURATION_SECONDS, LEASE_NAME, LISTEN, LeaseOptions, Listening, RegistrySettings,
    ServeConfig, ServeError, ServeOptions, ServeSettings, VERSION_INTERVAL, VersionWatch,
    WebhookSettings,
};
use tagwarden_cluster::webhook::{DEFAULT_BUDGET, HttpsEndpoint};
use tagwarden_registry::{DiskCacheLocation, SharedBudget, SharedCache, SharedCacheOptions};

use crate::cli::{ClusterArgs, PolicyArgs};
use crate::exit::{CommandResult, Failure, Status};
use crate::output::errln;
use crate::settings::{Given, Settings};

pub const EXAMPLES: &str = "\
Examples:
  # In the cluster (the Helm chart in deploy/helm/tagwarden runs it so)
  tagwarden serve

  # From a laptop, against the current context, one replica (no Lease)
  tagwarden serve --listen 127.0.0.1:8080 --namespace shop --namespace payments

  # With the admission webhook (certificates from cert-manager, re-read when rotated)
  tagwarden serve --webhook-listen 0.0.0.0:8443 --webhook-tls-cert /tls/tls.crt --webhook-tls-key /tls/tls.key

Endpoints: /healthz (alive), /readyz (caches synced), /metrics (OpenMetrics or text);
with --webhook-listen, POST /mutate (and /validate) over HTTPS on that address.
Leader election: with --lease-namespace (POD_NAMESPACE in a Pod), replicas share the
Lease --lease-name; only the leader checks images and writes Events, and keeps what it
announced in the ConfigMap <lease-name>-announced for the next leader.
The cluster's /version is read again every --version-interval seconds: after an upgrade,
images are tracked at the new version without a restart.
serve's own flags have an environment variable (shown as [env: …]; not
--no-leader-election and --platform) and most a key in the config file's serve: section;
flags win, then the environment, then the file. The policy, cluster and registry options
have none, but --config and --registry-config.";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Where /healthz, /readyz and /metrics listen [config: serve.listen].
    #[arg(long, value_name = "ADDR", env = "TAGWARDEN_LISTEN", default_value_t = LISTEN)]
    pub listen: SocketAddr,

    /// Watch only this namespace; repeatable (default: every namespace)
    /// [config: serve.namespaces].
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "TAGWARDEN_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Ignore this namespace; repeatable [config: serve.skip_namespaces].
    #[arg(
        long = "skip-namespace",
        value_name = "NS",
        env = "TAGWARDEN_SKIP_NAMESPACES",
        value_delimiter = ','
    )]
    pub skip_namespaces: Vec<String>,

    /// Seconds between checks of a present image [config: serve.present_interval].
    #[arg(long, value_name = "SECS", env = "TAGWARDEN_PRESENT_INTERVAL", default_value_t = PRESENT_EVERY.as_secs())]
    pub present_interval: u64,

    /// Seconds between checks of a missing image [config: serve.failing_interval].
    #[arg(long, value_name = "SECS", env = "TAGWARDEN_FAILING_INTERVAL", default_value_t = FAILING_EVERY.as_secs())]
    pub failing_interval: u64,

    /// The longest wait before an image that could not be checked is asked again (it
    /// doubles from 30) [config: serve.undetermined_max_backoff].
    #[arg(long, value_name = "SECS", env = "TAGWARDEN_UNDETERMINED_MAX_BACKOFF", default_value_t = UNDETERMINED_BACKOFF.1.as_secs())]
    pub undetermined_max_backoff: u64,

    /// Seconds between reads of the cluster's /version: an upgrade is followed without a
    /// restart (a higher version at once, a lower one after 5 reads in a row)
    /// [config: serve.version_interval].
    #[arg(long, value_name = "SECS", env = "TAGWARDEN_VERSION_INTERVAL", default_value_t = VERSION_INTERVAL.as_secs())]
    pub version_interval: u64,

    /// A registry's request budget, REGISTRY=REQUESTS/SECONDS (docker.io=600/3600: at most
    /// 600 requests an hour); repeatable. Adds to (and wins over) the config file's
    /// serve.budgets; Docker Hub has 600/3600 by default.
    #[arg(long = "budget", value_name = "REGISTRY=REQUESTS/SECONDS", env = "TAGWARDEN_BUDGETS", value_delimiter = ',', value_parser = budget)]
    pub budgets: Vec<(String, u64, u64)>,

    /// The namespace of the Lease for leader election (in a Pod: its own namespace, from
    /// POD_NAMESPACE). Without it, this process is the only checker.
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// The Lease's name.
    #[arg(
        long,
        value_name = "NAME",
        env = "TAGWARDEN_LEASE_NAME",
        default_value = LEASE_NAME
    )]
    pub lease_name: String,

    /// Seconds a Lease stays valid without renewal; the holder renews a third of it before
    /// it expires, and another replica takes over this long after the holder dies.
    #[arg(long, value_name = "SECS", env = "TAGWARDEN_LEASE_DURATION", default_value_t = LEASE_DURATION_SECONDS, value_parser = clap::value_parser!(u64).range(2..))]
    pub lease_duration: u64,

    /// This replica's identity in the Lease and on Events (in a Pod: POD_NAME; default:
    /// the host name and a random suffix, so that two processes never share one).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub identity: Option<String>,

    /// Read the pull secrets the workloads name (Pod specs, ServiceAccounts) and check
    /// their images with them, as the kubelet pulls; needs `get` on Secrets.
    #[arg(long, env = "TAGWARDEN_READ_PULL_SECRETS")]
    pub read_pull_secrets: bool,

    /// Share answers, one registry request per question, and the registry budgets
    /// (--budget) with every serve using this Redis (or Valkey):
    /// redis://HOST:PORT/DB (USER@HOST, :PORT and /DB as needed), or rediss://… over TLS
    /// (trusting --ca-file too). When it is down or slow, each serve checks on its own.
    /// Default: the config file's serve.shared_cache. See docs/operator.md.
    #[arg(
        long,
        value_name = "URL",
        env = "TAGWARDEN_SHARED_CACHE",
        hide_env_values = true
    )]
    pub shared_cache: Option<String>,

    /// A file holding the shared cache's AUTH password (a mounted Secret); else
    /// TAGWARDEN_SHARED_CACHE_PASSWORD, else the URL's.
    #[arg(
        long,
        value_name = "PATH",
        env = "TAGWARDEN_SHARED_CACHE_PASSWORD_FILE"
    )]
    pub shared_cache_password_file: Option<PathBuf>,

    /// Serve the admission webhook (POST /mutate) over HTTPS here; needs
    /// --webhook-tls-cert and --webhook-tls-key. See docs/webhook.md.
    #[arg(long, value_name = "ADDR", env = "TAGWARDEN_WEBHOOK_LISTEN", requires_all = ["webhook_tls_cert", "webhook_tls_key"])]
    pub webhook_listen: Option<SocketAddr>,

    /// The webhook's certificate chain (PEM); re-read when the file changes.
    #[arg(
        long,
        value_name = "FILE",
        env = "TAGWARDEN_WEBHOOK_TLS_CERT",
        requires = "webhook_listen"
    )]
    pub webhook_tls_cert: Option<PathBuf>,

    /// The webhook's private key (PEM); re-read when the file changes.
    #[arg(
        long,
        value_name = "FILE",
        env = "TAGWARDEN_WEBHOOK_TLS_KEY",
        requires = "webhook_listen"
    )]
    pub webhook_tls_key: Option<PathBuf>,

    /// How long the webhook may wait for the registries before it lets a Pod through
    /// unchanged, in milliseconds (keep it under the webhook's timeoutSeconds).
    #[arg(long, value_name = "MS", env = "TAGWARDEN_WEBHOOK_BUDGET_MS", default_value_t = DEFAULT_BUDGET.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_budget_ms: u64,

    /// Also serve POST /validate: deny Pods whose image is missing with no fallback.
    #[arg(long, env = "TAGWARDEN_WEBHOOK_VALIDATE", requires = "webhook_listen")]
    pub webhook_validate: bool,

    /// Namespaces the webhook never acts on, besides kube-system and its own; repeatable.
    #[arg(
        long = "webhook-skip-namespace",
        value_name = "NS",
        env = "TAGWARDEN_WEBHOOK_SKIP_NAMESPACES",
        value_delimiter = ','
    )]
    pub webhook_skip_namespaces: Vec<String>,

    /// Pin the webhook's replacements (and every image it sees) to their digests.
    #[arg(long, env = "TAGWARDEN_WEBHOOK_PIN")]
    pub pin: bool,

    /// Check from this process even when a Lease namespace is known.
    #[arg(long)]
    pub no_leader_election: bool,

    /// A platform every image must provide (default: the platforms of the nodes each
    /// image's Pods could run on); repeatable.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(settings: &Settings, args: &Args) -> CommandResult {
    // Everything that can be wrong in the flags and the file, before the cluster is asked.
    let settled = Settled::of(args, &settings.serve, &settings.given)?;
    let platforms = crate::commands::platforms_flag(&args.platforms)?;

    let cluster = crate::cluster::locate(
        &settings.kube,
        "to watch",
        "run serve in a Pod, or point it at a kubeconfig",
        "fix the kubeconfig, or run serve in a Pod",
    )
    .await?;
    let version = cluster
        .version()
        .await
        .map_err(|e| crate::cluster::failure(e, HINT))?;
    let version_text = version.to_string();
    let monitor = MonitorOptions {
        inspect: settings
            .policy
            .inspect_options(Some(version.clone()), platforms),
        ..settled.monitor.clone()
    };
    let file = settings.client.file.clone();
    let mut client_options = settings.client.options()?;
    client_options.shared_cache =
        shared_cache_of(args, &settings.serve, &monitor, &client_options)?;
    let serve_settings = ServeSettings {
        options: serve_options_of(args, settled, version),
        monitor,
        // No disk cache: a monitor must see a deleted or moved tag at its next check.
        registry: RegistrySettings::built_by(client_options, move |options| {
            file.build_client(options, DiskCacheLocation::Off)
        }),
        webhook: webhook_of(args),
    };
    let started = {
        let (options, server) = (serve_settings.options.clone(), cluster.server());
        move |listening: &Listening| {
            errln!(
                "{}",
                start_line(&options, &server, &version_text, listening)
            );
        }
    };
    cluster
        .serve_and_tell(serve_settings, termination(), started)
        .await
        .map_err(|e| match e {
            ServeError::Listen(e) => Failure::bad_input(anyhow!(e)),
            ServeError::Webhook(e) => Failure::bad_input(anyhow!(e)),
            ServeError::Registry(e) => Failure::from(e),
            ServeError::Cluster(e) => crate::cluster::failure(e, HINT),
        })?;
    errln!("tagwarden serve: stopped");
    Ok(Status::Success)
}

/// The admission webhook, when `--webhook-listen` asks for it (serve builds it to ask
/// through the monitor's clients, within the monitor's registry gates).
fn webhook_of(args: &Args) -> Option<WebhookSettings> {
    let (Some(listen), Some(cert), Some(key)) = (
        args.webhook_listen,
        &args.webhook_tls_cert,
        &args.webhook_tls_key,
    ) else {
        return None;
    };
    let mut webhook = WebhookSettings::new(HttpsEndpoint {
        listen,
        cert: cert.clone(),
        key: key.clone(),
    });
    webhook.pin = args.pin;
    webhook.budget = Duration::from_millis(args.webhook_budget_ms);
    webhook.validate = args.webhook_validate;
    webhook.own_namespace = args.lease_namespace.clone();
    webhook.skip_namespaces = args.webhook_skip_namespaces.clone();
    Some(webhook)
}

/// What serve is told: where to listen, what to watch, the Lease and the version to
/// follow.
fn serve_options_of(
    args: &Args,
    settled: Settled,
    version: tagwarden_core::KubeVersion,
) -> ServeOptions {
    let identity = args
        .identity
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(default_identity);
    let lease = match (&args.lease_namespace, args.no_leader_election) {
        (Some(namespace), false) if !namespace.is_empty() => {
            let mut lease = LeaseOptions::new(namespace, &identity);
            lease.name = args.lease_name.clone();
            Some(lease.held_for(args.lease_duration))
        }
        _ => None,
    };
    let mut version_watch = VersionWatch::new(version);
    version_watch.every = settled.version_every;
    ServeOptions {
        listen: settled.listen,
        namespaces: settled.namespaces,
        skip_namespaces: settled.skip_namespaces,
        lease,
        instance: identity,
        read_pull_secrets: args.read_pull_secrets,
        version: Some(version_watch),
        ..ServeOptions::default()
    }
}

/// The cache shared with other serves (`--shared-cache`, else the config file's
/// `serve.shared_cache`), with the budgets as fleet budgets, trusting the client's CA
/// files. Redis is not asked here: one that is down at start is a fallback, not an error.
fn shared_cache_of(
    args: &Args,
    file: &ServeConfig,
    monitor: &MonitorOptions,
    client: &tagwarden_registry::ClientOptions,
) -> Result<Option<SharedCache>, Failure> {
    let url = args
        .shared_cache
        .as_deref()
        .or(file.shared_cache.as_deref())
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        if args.shared_cache_password_file.is_some() {
            return Err(Failure::bad_input(anyhow!(
                "--shared-cache-password-file needs a shared cache: pass --shared-cache URL or set serve.shared_cache in the config file"
            )));
        }
        return Ok(None);
    };
    let mut options = SharedCacheOptions::new(url);
    options.password = match &args.shared_cache_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    Failure::bad_input(anyhow!(
                        "--shared-cache-password-file {}: {e}",
                        path.display()
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        None => std::env::var("TAGWARDEN_SHARED_CACHE_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    options.ca_files = client.ca_files.clone();
    options.budgets = monitor
        .budgets
        .iter()
        .map(|(registry, budget)| {
            let shared = SharedBudget {
                requests: budget.requests,
                per: budget.per,
            };
            (registry.clone(), shared)
        })
        .collect();
    let cache = SharedCache::new(options)
        .map_err(|e| Failure::bad_input(anyhow!("--shared-cache: {e}")))?;
    errln!(
        "tagwarden serve: sharing answers and registry budgets through {}",
        tagwarden_registry::shared::redacted_url(url)
    );
    Ok(Some(cache))
}

const HINT: &str = "serve needs the cluster's version to know which images follow it";

/// `tagwarden serve: watching … of SERVER (Kubernetes V), endpoints on ADDR, webhook on
/// ADDR, leader election …`: said once every address is bound.
fn start_line(
    options: &ServeOptions,
    server: &str,
    version: &str,
    listening: &Listening,
) -> String {
    let watching = if options.namespaces.is_empty() {
        "every namespace".to_string()
    } else {
        options.namespaces.join(", ")
    };
    let webhook = listening
        .webhook
        .map(|addr| format!(", webhook on https://{addr}/mutate"))
        .unwrap_or_default();
    let election = match &options.lease {
        Some(lease) => format!(
            ", leader election through Lease {}/{} as {}",
            lease.namespace, lease.name, lease.identity
        ),
        None => ", no leader election".to_string(),
    };
    format!(
        "tagwarden serve: watching {watching} of {server} (Kubernetes {version}), endpoints on {}{webhook}{election}",
        listening.endpoints
    )
}

/// What the flags and the config file settle, checked before the cluster is asked.
struct Settled {
    listen: SocketAddr,
    namespaces: Vec<String>,
    skip_namespaces: Vec<String>,
    /// Intervals and budgets (its `inspect` is filled once the version is known).
    monitor: MonitorOptions,
    version_every: Duration,
}

impl Settled {
    /// Each setting from its flag or environment variable (`given`), else the config
    /// file's `serve:` section, else the flag's default (the library's constant).
    fn of(args: &Args, settings: &ServeConfig, given: &Given) -> Result<Settled, Failure> {
        let listen = match (given.value("listen", args.listen), &settings.listen) {
            (Some(listen), _) => listen,
            (None, Some(text)) => text.parse().map_err(|e| {
                Failure::bad_input(anyhow!(
                    "config serve.listen \"{text}\": {e} (expected HOST:PORT)"
                ))
            })?,
            (None, None) => args.listen,
        };
        let interval = |key: &str, flag: u64, file: Option<u64>| {
            seconds(given.value(key, flag), file, key, flag)
        };
        let mut monitor = MonitorOptions {
            present_every: interval(
                "present_interval",
                args.present_interval,
                settings.present_interval,
            )?,
            failing_every: interval(
                "failing_interval",
                args.failing_interval,
                settings.failing_interval,
            )?,
            undetermined_backoff: (
                UNDETERMINED_BACKOFF.0,
                interval(
                    "undetermined_max_backoff",
                    args.undetermined_max_backoff,
                    settings.undetermined_max_backoff,
                )?,
            ),
            ..MonitorOptions::default()
        };
        add_budgets(&mut monitor, args, settings)?;
        let namespaces = if args.namespaces.is_empty() {
            settings.namespaces.clone()
        } else {
            args.namespaces.clone()
        };
        let skip_namespaces = if args.skip_namespaces.is_empty() {
            settings.skip_namespaces.clone()
        } else {
            args.skip_namespaces.clone()
        };
        check_names(args, &namespaces, &skip_namespaces)?;
        if let Some(both) = namespaces.iter().find(|ns| skip_namespaces.contains(ns)) {
            return Err(Failure::bad_input(anyhow!(
                "namespace {both:?} is both watched (--namespace) and skipped (--skip-namespace): name it in one of them"
            )));
        }
        Ok(Settled {
            listen,
            namespaces,
            skip_namespaces,
            monitor,
            version_every: interval(
                "version_interval",
                args.version_interval,
                settings.version_interval,
            )?,
        })
    }
}

/// The registry budgets of the config file, then those of `--budget` (which win).
fn add_budgets(
    monitor: &mut MonitorOptions,
    args: &Args,
    settings: &ServeConfig,
) -> Result<(), Failure> {
    for (registry, budget) in &settings.budgets {
        if budget.requests == 0 || budget.window == 0 {
            return Err(Failure::bad_input(anyhow!(
                "config serve.budgets.{registry}: requests and window must be at least 1 \
                 (got requests: {}, window: {})",
                budget.requests,
                budget.window
            )));
        }
        monitor.budgets.insert(
            registry.clone(),
            Budget {
                requests: u32::try_from(budget.requests).unwrap_or(u32::MAX),
                per: Duration::from_secs(budget.window),
            },
        );
    }
    for (registry, requests, seconds) in &args.budgets {
        monitor.budgets.insert(
            registry.clone(),
            Budget {
                requests: u32::try_from(*requests).unwrap_or(u32::MAX),
                per: Duration::from_secs(*seconds),
            },
        );
    }
    Ok(())
}

/// Every namespace and object name serve will put into a request path, checked as kubectl
/// checks them (RFC 1123), before the cluster is asked: exit 2 with one line.
fn check_names(args: &Args, namespaces: &[String], skipped: &[String]) -> Result<(), Failure> {
    let invalid = |flag: &str, error: tagwarden_cluster::names::InvalidName| {
        Failure::bad_input(anyhow!("{flag}: {error}"))
    };
    for (flag, list) in [
        ("--namespace", namespaces),
        ("--skip-namespace", skipped),
        (
            "--webhook-skip-namespace",
            &args.webhook_skip_namespaces[..],
        ),
    ] {
        for namespace in list {
            tagwarden_cluster::names::namespace(namespace).map_err(|e| invalid(flag, e))?;
        }
    }
    if let Some(namespace) = args.lease_namespace.as_deref().filter(|ns| !ns.is_empty()) {
        tagwarden_cluster::names::namespace(namespace)
            .map_err(|e| invalid("--lease-namespace", e))?;
    }
    tagwarden_cluster::names::name(&args.lease_name).map_err(|e| invalid("--lease-name", e))?;
    Ok(())
}

/// A flag's seconds (`None`: not given), else the config file's, else `default`; 0 is
/// exit 2 with one line naming the flag (`--present-interval`) or the key
/// (`serve.present_interval`).
fn seconds(
    flag: Option<u64>,
    file: Option<u64>,
    key: &str,
    default: u64,
) -> Result<Duration, Failure> {
    let zero = |what: String| {
        Failure::bad_input(anyhow!("{what}: 0 is not a number of seconds (at least 1)"))
    };
    match (flag, file) {
        (Some(0), _) => Err(zero(format!("--{} 0", key.replace('_', "-")))),
        (Some(flag), _) => Ok(Duration::from_secs(flag)),
        (None, Some(0)) => Err(zero(format!("config serve.{key}"))),
        (None, Some(file)) => Ok(Duration::from_secs(file)),
        (None, None) => Ok(Duration::from_secs(default)),
    }
}

/// Without POD_NAME: the host name and a random suffix. Two processes on one host name
/// (containers sharing it, two shells on a laptop) must never share a Lease identity:
/// both would think they lead.
fn default_identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tagwarden".to_string());
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{host}-{:08x}", random & 0xffff_ffff)
}

/// Resolves on SIGTERM (Kubernetes stopping the Pod) or SIGINT (Ctrl-C).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `REGISTRY=REQUESTS/SECONDS`, both numbers at least 1.
fn budget(text: &str) -> Result<(String, u64, u64), String> {
    let bad = || format!("{text:?} is not REGISTRY=REQUESTS/SECONDS (e.g. docker.io=600/3600)");
    let (registry, rest) = text.split_once('=').ok_or_else(bad)?;
    let (requests, seconds) = rest.split_once('/').ok_or_else(bad)?;
    let number = |t: &str| t.trim().parse::<u64>().ok().filter(|n| *n > 0);
    match (registry.trim(), number(requests), number(seconds)) {
        (registry, Some(requests), Some(seconds)) if !registry.is_empty() => {
            Ok((registry.to_string(), requests, seconds))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `serve ARGS`'s own arguments, as clap gives them.
    fn args_of(args: &[&str]) -> Args {
        #[derive(Parser)]
        struct Serve {
            #[command(flatten)]
            args: Args,
        }
        Serve::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn the_shared_cache_comes_from_the_flag_else_the_file() {
        let monitor = MonitorOptions::default();
        let client = tagwarden_registry::ClientOptions::default();
        let mut file = ServeConfig::default();
        let none = shared_cache_of(&args_of(&[]), &file, &monitor, &client).unwrap();
        assert!(none.is_none());
        file.shared_cache = Some("redis://127.0.0.1:6379".into());
        let from_file = shared_cache_of(&args_of(&[]), &file, &monitor, &client).unwrap();
        assert!(from_file.is_some());
        let refused = shared_cache_of(
            &args_of(&["--shared-cache", "http://x"]),
            &file,
            &monitor,
            &client,
        );
        assert!(
            refused.is_err(),
            "the flag wins over the file, and is checked"
        );
        let lonely = args_of(&["--shared-cache-password-file", "/nonexistent"]);
        let error = shared_cache_of(&lonely, &ServeConfig::default(), &monitor, &client)
            .unwrap_err()
            .error()
            .to_string();
        assert!(error.contains("needs a shared cache"), "{error}");
    }

    #[test]
    fn each_setting_comes_from_the_flag_or_environment_then_the_file_then_the_default() {
        let mut file = ServeConfig::default();
        file.listen = Some("127.0.0.1:9000".into());
        file.present_interval = Some(600);
        file.failing_interval = Some(60);
        // Typed (or from the environment: clap says which, `Given` records both).
        let typed = args_of(&["--present-interval", "5", "--listen", "127.0.0.1:1"]);
        let given = Given::these(&["present_interval", "listen"]);
        let settled = Settled::of(&typed, &file, &given).unwrap();
        assert_eq!(settled.monitor.present_every, Duration::from_secs(5));
        assert_eq!(settled.listen.to_string(), "127.0.0.1:1");
        // Not given: the file, where it has the key, over the flag's default.
        assert_eq!(settled.monitor.failing_every, Duration::from_secs(60));
        // Neither: the library's defaults, which are also the flags' defaults.
        assert_eq!(settled.monitor.undetermined_backoff, UNDETERMINED_BACKOFF);
        assert_eq!(settled.version_every, VERSION_INTERVAL);
        let defaults = Settled::of(&args_of(&[]), &ServeConfig::default(), &Given::default());
        let defaults = defaults.unwrap();
        assert_eq!(defaults.listen, LISTEN);
        assert_eq!(defaults.monitor.present_every, PRESENT_EVERY);
        assert_eq!(defaults.monitor.failing_every, FAILING_EVERY);
        let from_file = Settled::of(&args_of(&[]), &file, &Given::default()).unwrap();
        assert_eq!(from_file.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(from_file.monitor.present_every, Duration::from_secs(600));
        // A typed value that equals the default still wins over the file.
        let same = args_of(&["--present-interval", "3600"]);
        let settled = Settled::of(&same, &file, &Given::these(&["present_interval"])).unwrap();
        assert_eq!(settled.monitor.present_every, PRESENT_EVERY);
    }

    #[test]
    fn budgets_read_as_registry_requests_per_seconds() {
        assert_eq!(
            budget("docker.io=600/3600"),
            Ok(("docker.io".into(), 600, 3600))
        );
        assert_eq!(budget("ghcr.io = 100/60"), Ok(("ghcr.io".into(), 100, 60)));
        for bad in [
            "docker.io",
            "docker.io=600",
            "=1/1",
            "docker.io=0/60",
            "docker.io=1/x",
        ] {
            assert!(budget(bad).is_err(), "{bad}");
        }
    }
}
