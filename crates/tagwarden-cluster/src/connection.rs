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
//!
//! The connection is kubectl's too:
//!
//! - a `server` without `https://` or `http://` is refused (exit 2): kubectl 1.33 would
//!   send the credentials over plain `http://` to it;
//! - **proxies**: the cluster's `proxy-url` (`http://`, `https://` or `socks5://`) always
//!   applies; else `HTTPS_PROXY` (`HTTP_PROXY` for an `http://` server), honouring
//!   `NO_PROXY`, and never for `localhost` or a loopback IP, as Go decides
//!   ([`tagwarden_registry::proxy`]);
//! - exec credential plugins and token files are kubectl's ([`crate::credentials`]);
//! - [`ClusterOptions::request_timeout`] bounds each request (`--request-timeout`);
//! - every client of one [`Cluster`] is the same client: one connection pool, one run of
//!   an exec plugin per command; but `serve`'s watches, which have a client of their own
//!   ([`Cluster::watch_client`]): an idle watch gets nothing for as long as the API server
//!   waits between bookmarks (about a minute), so a 30 s read timeout would cut every idle
//!   watch. Watches ask the server to end them after [`Timeouts::watch`] (290 s, as
//!   kube-rs), and their client's read timeout is 5 s longer (kube-rs's 295 s).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kube::config::{ExecAuthCluster, Kubeconfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tagwarden_registry::proxy::EnvProxy;

use crate::credentials::{CredentialError, TokenSource};
use crate::edge::{Edge, TimedOut};
use crate::error::{ClusterError, one_line};

/// How long connecting to the API server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer may take once connected.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the API server is asked to keep a watch open (`timeoutSeconds`; kube-rs's
/// default; kube-apiserver picks 5 to 10 minutes when not asked).
const WATCH_TIMEOUT: Duration = Duration::from_secs(290);
/// How much longer than [`Timeouts::watch`] a watch's client waits for its next bytes: the
/// server ends the watch first, cleanly.
const WATCH_READ_MARGIN: Duration = Duration::from_secs(5);

/// The timeouts of a [`Cluster`]'s requests (shorter in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// How long one answer may take once connected (watches excepted).
    pub read: Duration,
    /// How long the API server is asked to keep a watch open (`timeoutSeconds`); a watch's
    /// read timeout is [`Timeouts::watch_read`].
    pub watch: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            read: READ_TIMEOUT,
            watch: WATCH_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// The read timeout of watches: longer than the server keeps them open, so that an
    /// idle watch ends at the server's timeout, never the client's.
    pub fn watch_read(&self) -> Duration {
        self.watch + WATCH_READ_MARGIN
    }
}
/// Where Kubernetes mounts a Pod's service account token.
const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What the user asked for, as kubectl's `--kubeconfig` and `--context` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// One kubeconfig file instead of `KUBECONFIG` and `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its `current-context`.
    pub context: Option<String>,
    /// The longest one request may wait for its answer (kubectl's `--request-timeout`);
    /// `None`: no limit but the connect and read timeouts. Watches are never cut.
    pub request_timeout: Option<Duration>,
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
    edge: Edge,
    timeouts: Timeouts,
    /// The one client, made when first needed and shared by every clone.
    client: Arc<OnceLock<kube::Client>>,
    /// The client of `serve`'s watches (their longer read timeout), made when first needed.
    watch_client: Arc<OnceLock<kube::Client>>,
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
        let Some(kubeconfig) = MergedKubeconfig::read(options, env)? else {
            if env.in_cluster && options.kubeconfig.is_none() {
                return in_cluster(options).map(Some);
            }
            return Ok(None);
        };
        let context_name = options
            .context
            .clone()
            .or_else(|| kubeconfig.merged.current_context.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                kubeconfig.error("no current-context is set; pass --context NAME".into())
            })?;
        kubeconfig.cluster(&context_name, options).await.map(Some)
    }

    /// The clusters of a fleet: each context named in `choice` (or every context of the
    /// merged kubeconfig), in the order given (the kubeconfig's order for all), each
    /// located as [`Cluster::locate_in`] would with `--context NAME`.
    ///
    /// The outer error is the kubeconfig's own (unreadable, or naming a context it does
    /// not define: bad input); the inner one is one cluster's, so that the others are
    /// still scanned (an exec plugin that fails, for one).
    pub async fn locate_fleet(
        options: &ClusterOptions,
        choice: &FleetChoice,
        env: &Environment,
    ) -> Result<Vec<(String, Result<Cluster, ClusterError>)>, ClusterError> {
        let kubeconfig = MergedKubeconfig::read(options, env)?.ok_or_else(|| {
            ClusterError::Config {
                source_name: "the environment".into(),
                reason: "no kubeconfig: several clusters are only read from a kubeconfig's contexts (set KUBECONFIG or pass --kubeconfig)".into(),
                cause: None,
            }
        })?;
        let names = kubeconfig.context_names(choice)?;
        let mut clusters = Vec::with_capacity(names.len());
        for name in names {
            let cluster = kubeconfig.cluster(&name, options).await;
            clusters.push((name, cluster));
        }
        Ok(clusters)
    }

    /// Runs the exec plugin, if any, now: once per command. A token it gives is kept for
    /// the requests; a client certificate goes into the TLS configuration.
    async fn with_exec_credential(mut self) -> Result<Cluster, ClusterError> {
        let Some(tokens) = self.edge.tokens.clone() else {
            return Ok(self);
        };
        let certificate = tokens
            .prime()
            .await
            .map_err(|e| self.credential_failure(e))?;
        if let Some(certificate) = certificate {
            use base64::Engine as _;
            let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
            let identity: kube::config::AuthInfo = serde_json::from_value(serde_json::json!({
                "client-certificate-data": encode(&certificate.certificate_pem),
                "client-key-data": encode(&certificate.key_pem),
            }))
            .map_err(|e| ClusterError::Config {
                source_name: self.source.to_string(),
                reason: format!("the exec credential plugin's certificate: {e}"),
                cause: None,
            })?;
            self.config.auth_info.client_certificate_data = identity.client_certificate_data;
            self.config.auth_info.client_key_data = identity.client_key_data;
            self.edge.tokens = None;
        }
        Ok(self)
    }

    /// The class of an exec plugin's or token file's failure.
    fn credential_failure(&self, error: CredentialError) -> ClusterError {
        match error {
            CredentialError::Config { message, cause } => ClusterError::Config {
                source_name: self.source.to_string(),
                reason: message,
                cause,
            },
            CredentialError::Failed { message, .. } => ClusterError::Unreachable {
                server: self.server(),
                context: self.context_suffix(),
                reason: message,
            },
        }
    }

    fn new(
        mut config: kube::Config,
        source: ConfigSource,
        context: Option<String>,
        options: &ClusterOptions,
    ) -> Cluster {
        let timeouts = Timeouts::default();
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(timeouts.read);
        config.reset_reader_on_write = true;
        // 429 and 5xx are "could not decide", said at once rather than retried quietly.
        config.default_retry = false;
        // Credentials kube-rs would get wrong are the edge's (crate::credentials), in
        // kube's order of precedence: a token or user/password in the file comes first.
        let auth = &mut config.auth_info;
        let tokens =
            if auth.token.is_some() || auth.username.is_some() || auth.auth_provider.is_some() {
                None
            } else if let Some(file) = auth.token_file.take() {
                Some(TokenSource::file(PathBuf::from(file)))
            } else {
                let timeout = options
                    .request_timeout
                    .unwrap_or(crate::credentials::PLUGIN_TIMEOUT);
                auth.exec
                    .take()
                    .map(|exec| TokenSource::exec(exec, timeout))
            };
        let server = redact_url(config.cluster_url.to_string().trim_end_matches('/'));
        Cluster {
            config,
            source,
            context,
            edge: Edge {
                tokens,
                timeout: options.request_timeout,
                server,
            },
            timeouts,
            client: Arc::new(OnceLock::new()),
            watch_client: Arc::new(OnceLock::new()),
        }
    }

    /// This cluster with other timeouts (tests: seconds rather than minutes). Clients made
    /// before are not kept.
    #[cfg(test)]
    pub(crate) fn with_timeouts(mut self, timeouts: Timeouts) -> Cluster {
        self.timeouts = timeouts;
        self.config.read_timeout = Some(timeouts.read);
        self.client = Arc::new(OnceLock::new());
        self.watch_client = Arc::new(OnceLock::new());
        self
    }

    /// The timeouts of this cluster's requests.
    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The one kube client of this cluster (made on first use; every clone shares it).
    pub(crate) fn client(&self) -> Result<kube::Client, ClusterError> {
        self.shared_client(&self.client, self.timeouts.read)
    }

    /// The client of long watches (`serve`'s): as [`Cluster::client`], with the read
    /// timeout [`Timeouts::watch_read`], so that a watch that hears nothing between two
    /// bookmarks stays open. Its watches must ask for `timeoutSeconds` of at most
    /// [`Timeouts::watch`]. Lists and other requests go through [`Cluster::client`].
    pub(crate) fn watch_client(&self) -> Result<kube::Client, ClusterError> {
        self.shared_client(&self.watch_client, self.timeouts.watch_read())
    }

    /// The client kept in `slot`, made on first use with `read_timeout`; the edge (and so
    /// the exec plugin's token) is shared by every client.
    fn shared_client(
        &self,
        slot: &OnceLock<kube::Client>,
        read_timeout: Duration,
    ) -> Result<kube::Client, ClusterError> {
        if let Some(client) = slot.get() {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.read_timeout = Some(read_timeout);
        let built = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::Config {
                source_name: self.source.to_string(),
                reason: self.scrub(&one_line(&e)),
                cause: None,
            })?
            .with_layer(&self.edge)
            .build();
        Ok(slot.get_or_init(|| built).clone())
    }

    /// The API server's URL, as the configuration gives it, without credentials
    /// (`https://REDACTED@host` when the URL holds a user or password).
    pub fn server(&self) -> String {
        redact_url(self.config.cluster_url.to_string().trim_end_matches('/'))
    }

    /// `text` without the credentials of the server's or the proxy's URL.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        let urls = [
            Some(&self.config.cluster_url),
            self.config.proxy_url.as_ref(),
        ];
        for uri in urls.into_iter().flatten() {
            if let Some((userinfo, _)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) {
                text = text.replace(&format!("{userinfo}@"), "REDACTED@");
            }
        }
        text
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

/// Which contexts of a kubeconfig make the fleet (`--context A --context B`, or
/// `--all-contexts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetChoice {
    /// The contexts named, in order; duplicates are asked once.
    pub contexts: Vec<String>,
    /// Every context of the merged kubeconfig, in its order.
    pub all: bool,
}

/// The kubeconfig files of the environment, merged by kubectl's rules.
struct MergedKubeconfig {
    source: ConfigSource,
    merged: Kubeconfig,
}

impl MergedKubeconfig {
    /// `Ok(None)` when there is no kubeconfig file (see [`kubeconfig_files`]).
    fn read(
        options: &ClusterOptions,
        env: &Environment,
    ) -> Result<Option<MergedKubeconfig>, ClusterError> {
        let files = kubeconfig_files(options, env);
        if files.is_empty() {
            return Ok(None);
        }
        let mut kubeconfig = MergedKubeconfig {
            source: ConfigSource::Kubeconfig(files.clone()),
            merged: Kubeconfig::default(),
        };
        for file in &files {
            let one = Kubeconfig::read_from(file).map_err(|e| kubeconfig.error(one_line(&e)))?;
            kubeconfig.merged = std::mem::take(&mut kubeconfig.merged)
                .merge(one)
                .map_err(|e| kubeconfig.error(one_line(&e)))?;
        }
        Ok(Some(kubeconfig))
    }

    fn error(&self, reason: String) -> ClusterError {
        ClusterError::Config {
            source_name: self.source.to_string(),
            reason,
            cause: None,
        }
    }

    /// The contexts `choice` names, each once, after checking that the kubeconfig
    /// defines them.
    fn context_names(&self, choice: &FleetChoice) -> Result<Vec<String>, ClusterError> {
        let known: Vec<&str> = self
            .merged
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        if choice.all {
            if known.is_empty() {
                return Err(self.error("it defines no contexts".into()));
            }
            return Ok(known.iter().map(|name| name.to_string()).collect());
        }
        let mut names: Vec<String> = Vec::new();
        for name in &choice.contexts {
            if !known.contains(&name.as_str()) {
                return Err(self.error(format!(
                    "no context named {name:?} (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Ok(names)
    }

    /// The cluster of one context, its exec plugin run.
    async fn cluster(
        &self,
        context_name: &str,
        options: &ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        let config = config_of(&self.merged, context_name).map_err(|e| self.error(e))?;
        let cluster = Cluster::new(
            config,
            self.source.clone(),
            Some(context_name.to_string()),
            options,
        );
        cluster.with_exec_credential().await
    }
}

/// The Pod's own service account.
fn in_cluster(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
    let mut config = kube::Config::incluster().map_err(|e| ClusterError::Config {
        source_name: ConfigSource::InCluster.to_string(),
        reason: one_line(&e),
        cause: Some(Box::new(e)),
    })?;
    let target = url::Url::parse(&config.cluster_url.to_string()).ok();
    config.proxy_url = target
        .and_then(|t| EnvProxy::from_env().proxy_for(&t))
        .and_then(|p| p.as_str().parse().ok());
    Ok(Cluster::new(config, ConfigSource::InCluster, None, options))
}

/// The kube configuration of one context of a (merged) kubeconfig, as kubectl reads it;
/// the error is the reason, for [`ClusterError::Config`].
///
/// kube-rs's own loader is not used: it decides the proxy from the environment in its own
/// way (it matches `NO_PROXY` against the proxy's address, and fails on an empty entry of
/// it), and lets a server URL without a scheme through to a panic.
fn config_of(merged: &Kubeconfig, context_name: &str) -> Result<kube::Config, String> {
    let Some(context) = merged.contexts.iter().find(|c| c.name == context_name) else {
        let known: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "no context named {context_name:?} (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    let context = context.context.clone().unwrap_or_default();
    let cluster = merged
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| {
            format!(
                "context {context_name:?} names cluster {:?}, which it does not define",
                context.cluster
            )
        })?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("cluster {:?} has no server URL", context.cluster))?;
    let cluster_url = server_url(&server)?;
    let mut auth_info = match &context.user {
        Some(user) => merged
            .auth_infos
            .iter()
            .find(|u| &u.name == user)
            .and_then(|u| u.auth_info.clone())
            .ok_or_else(|| {
                format!("context {context_name:?} names user {user:?}, which it does not define")
            })?,
        None => Default::default(),
    };
    let exec_cluster = ExecAuthCluster::try_from(&cluster).map_err(|e| one_line(&e))?;
    if let Some(exec) = auth_info.exec.as_mut().filter(|e| e.provide_cluster_info) {
        exec.cluster = Some(exec_cluster.clone());
    }
    let mut config = kube::Config::new(cluster_url);
    config.default_namespace = context
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    if let Some(pem) = &exec_cluster.certificate_authority_data {
        config.root_cert = Some(certificates(pem)?);
    }
    config.accept_invalid_certs = cluster.insecure_skip_tls_verify.unwrap_or(false);
    config.disable_compression = cluster.disable_compression.unwrap_or(false);
    config.tls_server_name = cluster.tls_server_name.clone();
    config.auth_info = auth_info;
    config.proxy_url = proxy_for(cluster.proxy_url.as_deref(), &server)?;
    Ok(config)
}

/// A kubeconfig's `server`, which must say `https://` (or `http://`).
fn server_url(server: &str) -> Result<http::Uri, String> {
    let server = server.trim();
    let shown = redact_url(server);
    let parsed = url::Url::parse(server)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host());
    if parsed.is_none() {
        return Err(if server.contains("://") {
            format!("server {shown:?} is not an https:// URL")
        } else {
            format!(
                "server {shown:?} has no scheme: write https://{shown} (kubectl would use plain http:// and send the credentials unencrypted)"
            )
        });
    }
    server
        .parse::<http::Uri>()
        .map_err(|e| format!("server {shown:?} is not a URL: {e}"))
}

/// The proxy for `server`: the kubeconfig's `proxy-url` when set, else the environment's.
fn proxy_for(explicit: Option<&str>, server: &str) -> Result<Option<http::Uri>, String> {
    let proxy = match explicit.map(str::trim).filter(|p| !p.is_empty()) {
        Some(url) => Some(url.to_string()),
        None => url::Url::parse(server)
            .ok()
            .and_then(|target| EnvProxy::from_env().proxy_for(&target))
            .map(|p| p.as_str().trim_end_matches('/').to_string()),
    };
    let Some(proxy) = proxy else {
        return Ok(None);
    };
    let shown = redact_url(&proxy);
    let uri: http::Uri = proxy
        .parse()
        .map_err(|e| format!("proxy-url {shown:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https" | "socks5") => Ok(Some(uri)),
        _ => Err(format!(
            "proxy {shown:?} is not an http://, https:// or socks5:// URL"
        )),
    }
}

/// DER certificates of a PEM bundle.
fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate authority is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the certificate authority holds no certificate".to_string());
    }
    Ok(certs)
}

/// `scheme://REDACTED@host…` for a URL with a user or password; others unchanged.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => {
            let tail = &rest[end..];
            match scheme {
                Some(scheme) => format!("{scheme}://REDACTED@{host}{tail}"),
                None => format!("REDACTED@{host}{tail}"),
            }
        }
        None => url.to_string(),
    }
}

/// A duration as kubectl writes one: `30s`, `1m30s`, `500ms`.
pub(crate) fn duration_text(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

impl Cluster {
    /// The class of a failed request ([`ClusterError`]); see [`crate::error`].
    pub(crate) fn request_error(&self, error: kube::Error) -> ClusterError {
        let server = self.server();
        let context = self.context_suffix();
        match error {
            kube::Error::Api(status) => {
                let message = self.scrub(&status.message);
                // kube-rs's reason for an error answer that is not a Status.
                if status.reason == "Failed to parse error data" {
                    let text = message.trim_start();
                    if text.starts_with('<') {
                        return ClusterError::NotKubernetes {
                            server,
                            context,
                            reason: format!("HTTP {} with an HTML page", status.code),
                        };
                    }
                }
                let message = shorten(&message);
                match status.code {
                    401 => ClusterError::Unauthorized {
                        server,
                        context,
                        message,
                    },
                    403 => ClusterError::Forbidden {
                        server,
                        context,
                        message,
                    },
                    404 => ClusterError::NotFound {
                        server,
                        context,
                        path: String::new(),
                        message,
                    },
                    code => ClusterError::ServerError {
                        server,
                        context,
                        code,
                        reason: status.reason.clone(),
                        message,
                    },
                }
            }
            kube::Error::SerdeError(e) => ClusterError::NotKubernetes {
                server,
                context,
                reason: format!("the answer is not a Kubernetes API document ({e})"),
            },
            other => {
                if let Some(credential) = find_cause::<CredentialError>(&other) {
                    return self.credential_failure(credential.message_only());
                }
                if let Some(timeout) = find_cause::<TimedOut>(&other) {
                    return self.unreachable(timeout);
                }
                self.unreachable(&other)
            }
        }
    }

    pub(crate) fn unreachable(&self, error: &(dyn std::error::Error + 'static)) -> ClusterError {
        ClusterError::Unreachable {
            server: self.server(),
            context: self.context_suffix(),
            reason: self.scrub(&one_line(error)),
        }
    }
}

impl Cluster {
    /// Checks that `namespace` is one and exists: [`ClusterError::InvalidName`] or
    /// [`ClusterError::NoSuchNamespace`] (exit 2) when not. When RBAC does not let us
    /// read Namespaces, it is taken as given.
    pub async fn check_namespace(&self, namespace: &str) -> Result<(), ClusterError> {
        crate::names::namespace(namespace)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(self.client()?);
        match api.get_opt(namespace).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(ClusterError::NoSuchNamespace {
                namespace: namespace.to_string(),
            }),
            Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
            Err(e) => Err(self
                .request_error(e)
                .during(&format!("GET /api/v1/namespaces/{namespace}"))),
        }
    }
}

/// The first error of type `T` in `error`'s chain of causes.
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// A message cut to one line of at most 300 characters (an error page can be long).
fn shorten(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_url("http://user:pass@host:8080/base"),
            "http://REDACTED@host:8080/base"
        );
        assert_eq!(redact_url("https://host:6443"), "https://host:6443");
        assert_eq!(redact_url("https://h/p@x"), "https://h/p@x");
    }

    #[test]
    fn a_server_needs_a_scheme() {
        assert!(server_url("https://127.0.0.1:6443").is_ok());
        let error = server_url("127.0.0.1:6443").unwrap_err();
        assert!(
            error.contains("has no scheme: write https://127.0.0.1:6443"),
            "{error}"
        );
        assert!(server_url("ftp://host").is_err());
    }

    #[test]
    fn durations_read_as_kubectl_writes_them() {
        assert_eq!(duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(duration_text(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
    }

    /// A kubeconfig file with one cluster and one context per name.
    fn kubeconfig_with(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
        let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for name in names {
            text.push_str(&format!(
                "- name: {name}\n  cluster: {{server: 'https://{name}.example:6443'}}\n"
            ));
        }
        text.push_str("users:\n- name: u\n  user: {token: t}\ncontexts:\n");
        for name in names {
            text.push_str(&format!(
                "- name: {name}\n  context: {{cluster: {name}, user: u}}\n"
            ));
        }
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn environment_of(files: &[&Path]) -> Environment {
        Environment {
            kubeconfig: Some(std::env::join_paths(files).unwrap()),
            home: None,
            in_cluster: false,
        }
    }

    #[tokio::test]
    async fn a_fleet_is_every_context_of_the_merged_kubeconfig_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let first = kubeconfig_with(dir.path(), "a", &["prod-eu", "prod-us"]);
        let second = kubeconfig_with(dir.path(), "b", &["staging", "prod-eu"]);
        let env = environment_of(&[&first, &second]);
        let all = FleetChoice {
            contexts: vec![],
            all: true,
        };
        let fleet = Cluster::locate_fleet(&ClusterOptions::default(), &all, &env)
            .await
            .unwrap();
        let names: Vec<&str> = fleet.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["prod-eu", "prod-us", "staging"]);
        let servers: Vec<String> = fleet
            .iter()
            .map(|(_, cluster)| cluster.as_ref().unwrap().server())
            .collect();
        assert_eq!(
            servers,
            [
                "https://prod-eu.example:6443",
                "https://prod-us.example:6443",
                "https://staging.example:6443"
            ]
        );
    }

    #[tokio::test]
    async fn named_contexts_are_asked_once_each_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let file = kubeconfig_with(dir.path(), "config", &["a", "b", "c"]);
        let env = environment_of(&[&file]);
        let choice = FleetChoice {
            contexts: vec!["c".into(), "a".into(), "c".into()],
            all: false,
        };
        let fleet = Cluster::locate_fleet(&ClusterOptions::default(), &choice, &env)
            .await
            .unwrap();
        let names: Vec<&str> = fleet.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["c", "a"]);
        let unknown = FleetChoice {
            contexts: vec!["a".into(), "nope".into()],
            all: false,
        };
        let error = Cluster::locate_fleet(&ClusterOptions::default(), &unknown, &env)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no context named \"nope\" (it has: a, b, c)"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_fleet_needs_a_kubeconfig() {
        let env = Environment::default();
        let all = FleetChoice {
            contexts: vec![],
            all: true,
        };
        let error = Cluster::locate_fleet(&ClusterOptions::default(), &all, &env)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("no kubeconfig"), "{error}");
    }
}
