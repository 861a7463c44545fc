//! Which cluster to talk to, found the way kubectl finds it.
//!
//! In order, the first that applies wins:
//!
//! 1. `--kubeconfig FILE` ([`ClusterOptions::kubeconfig`]): that one file, which must exist;
//! 2. `KUBECONFIG`: a list of files (`:`-separated, `;` on Windows), merged by kubectl's
//!    rules (the first file to set a value wins, `current-context` included); files that
//!    do not exist are skipped, as kubectl skips them;
//! 3. `~/.kube/config`, when it exists;
//! 4. the in-cluster configuration: inside a Pod (`KUBERNETES_SERVICE_HOST` and
//!    `KUBERNETES_SERVICE_PORT` set, and the service account token mounted).
//!
//! From a kubeconfig, the context is `--context` ([`ClusterOptions::context`]) or the
//! file's `current-context`. When none of the four applies, there is no cluster:
//! [`Cluster::locate`] returns `Ok(None)` and the caller decides what that means.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{ClusterError, one_line};

/// How long connecting to the API server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer may take once connected.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Kubernetes mounts a Pod's service account token.
const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What the user asked for, as kubectl's `--kubeconfig` and `--context` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// One kubeconfig file instead of `KUBECONFIG` and `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its `current-context`.
    pub context: Option<String>,
}

/// Where a cluster's configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Kubeconfig files, merged in this order.
    Kubeconfig(Vec<PathBuf>),
    /// The service account of the Pod tagwarden runs in.
    InCluster,
}

impl fmt::Display for ConfigSource {
    /// The files joined by `, `, or `in-cluster service account`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Kubeconfig(paths) => {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                f.write_str(&names.join(", "))
            }
            ConfigSource::InCluster => f.write_str("in-cluster service account"),
        }
    }
}

/// A cluster tagwarden can ask: its server, credentials and where they came from.
///
/// Nothing is sent before a method such as [`Cluster::version`] asks.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) config: kube::Config,
    source: ConfigSource,
    context: Option<String>,
}

impl fmt::Debug for Cluster {
    /// Server, context and source; never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server())
            .field("context", &self.context)
            .field("source", &self.source)
            .finish()
    }
}

/// The parts of the process environment that decide the cluster (read once, so that
/// [`Cluster::locate_in`] can be tested without changing the process's environment).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `KUBECONFIG`.
    pub kubeconfig: Option<OsString>,
    /// The home directory (`HOME`, or `USERPROFILE` on Windows).
    pub home: Option<PathBuf>,
    /// Whether this process runs in a Pod with a service account (see the module docs).
    pub in_cluster: bool,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Environment {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some()
            && Path::new(IN_CLUSTER_TOKEN).is_file();
        Environment {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home,
            in_cluster,
        }
    }
}

impl Cluster {
    /// The cluster of this process's environment and the options: see the [module
    /// docs](self) for the order. `Ok(None)` when there is no kubeconfig and no in-cluster
    /// configuration.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Config`] when a kubeconfig cannot be read or does not name a usable
    /// cluster (a missing `--kubeconfig` file, broken YAML, an unknown `--context`).
    pub async fn locate(options: &ClusterOptions) -> Result<Option<Cluster>, ClusterError> {
        Self::locate_in(options, &Environment::current()).await
    }

    /// [`Cluster::locate`] with the given environment instead of the process's.
    pub async fn locate_in(
        options: &ClusterOptions,
        env: &Environment,
    ) -> Result<Option<Cluster>, ClusterError> {
        let files = kubeconfig_files(options, env);
        if files.is_empty() {
            if env.in_cluster && options.kubeconfig.is_none() {
                return in_cluster().map(Some);
            }
            return Ok(None);
        }
        let source = ConfigSource::Kubeconfig(files.clone());
        let config_error = |reason: String| ClusterError::Config {
            source_name: source.to_string(),
            reason,
        };
        let mut merged = Kubeconfig::default();
        for file in &files {
            let one = Kubeconfig::read_from(file).map_err(|e| config_error(one_line(&e)))?;
            merged = merged.merge(one).map_err(|e| config_error(one_line(&e)))?;
        }
        let context = options
            .context
            .clone()
            .or_else(|| merged.current_context.clone())
            .filter(|c| !c.is_empty());
        let Some(context_name) = context.clone() else {
            return Err(config_error(
                "no current-context is set; pass --context NAME".to_string(),
            ));
        };
        if !merged.contexts.iter().any(|c| c.name == context_name) {
            let known: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(config_error(format!(
                "no context named {context_name:?} (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let kube_options = KubeConfigOptions {
            context: Some(context_name),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(merged, &kube_options)
            .await
            .map_err(|e| config_error(one_line(&e)))?;
        Ok(Some(Cluster::new(config, source, context)))
    }

    fn new(mut config: kube::Config, source: ConfigSource, context: Option<String>) -> Cluster {
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        config.reset_reader_on_write = true;
        // 429 and 5xx are "could not decide", said at once rather than retried quietly.
        config.default_retry = false;
        Cluster {
            config,
            source,
            context,
        }
    }

    /// The API server's URL, as the configuration gives it.
    pub fn server(&self) -> String {
        self.config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string()
    }

    /// The kubeconfig context used; `None` in-cluster.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The namespace kubectl would use without `-n`: the context's, else `default` (in a
    /// Pod: the Pod's own).
    pub fn default_namespace(&self) -> String {
        self.config.default_namespace.clone()
    }

    /// Where the configuration came from.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// ` (context NAME)` for error messages, or nothing.
    pub(crate) fn context_suffix(&self) -> String {
        match &self.context {
            Some(name) => format!(" (context {name})"),
            None => String::new(),
        }
    }
}

/// The kubeconfig files to merge, in order (see the module docs); empty when there are none.
fn kubeconfig_files(options: &ClusterOptions, env: &Environment) -> Vec<PathBuf> {
    if let Some(path) = &options.kubeconfig {
        // kubectl refuses a --kubeconfig that does not exist; reading it says so.
        return vec![path.clone()];
    }
    if let Some(list) = env.kubeconfig.as_ref().filter(|l| !l.is_empty()) {
        return std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty() && p.is_file())
            .collect();
    }
    env.home
        .as_ref()
        .map(|home| home.join(".kube").join("config"))
        .filter(|p| p.is_file())
        .into_iter()
        .collect()
}

/// The Pod's own service account.
fn in_cluster() -> Result<Cluster, ClusterError> {
    let config = kube::Config::incluster().map_err(|e| ClusterError::Config {
        source_name: ConfigSource::InCluster.to_string(),
        reason: one_line(&e),
    })?;
    Ok(Cluster::new(config, ConfigSource::InCluster, None))
}
