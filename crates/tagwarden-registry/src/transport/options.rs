//! How the transport behaves: [`ClientOptions`], the knobs a caller turns (timeouts,
//! retries, concurrency, TLS trust, credentials).

use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::CredentialStore;

/// How the transport behaves. `Default` is what the CLI uses without flags.
#[derive(Debug)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) that may use plain HTTP and unverified TLS, like
    /// Docker's `insecure-registries`. Loopback hosts may always use plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Hosts whose TLS certificates are not verified (the config file's
    /// `insecure_skip_verify`). tagwarden warns on every run that uses one.
    pub skip_verify: Vec<String>,
    /// Extra trusted CA certificates (PEM), for every host.
    pub ca_files: Vec<PathBuf>,
    /// Docker's per-registry certificate folders: `DIR/HOST[:PORT]/*.crt` are trusted for
    /// that host. `None` disables the lookup.
    pub certs_dir: Option<PathBuf>,
    /// Where credentials come from.
    pub credentials: CredentialStore,
    /// Timeout for a whole request.
    pub request_timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts for a request that failed transiently. At least 1.
    pub max_attempts: u32,
    /// Upper bound of one wait between attempts (a longer `Retry-After` gives up at once).
    pub max_retry_wait: Duration,
    /// Upper bound of the time one request may spend retrying.
    pub max_retry_time: Duration,
    /// Concurrent requests per registry host.
    pub max_concurrency_per_registry: usize,
    /// Requests per second per registry host (`None`: unlimited).
    pub requests_per_second: Option<f64>,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            skip_verify: Vec::new(),
            ca_files: Vec::new(),
            certs_dir: Some(PathBuf::from("/etc/docker/certs.d")),
            credentials: CredentialStore::anonymous(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 3,
            max_retry_wait: Duration::from_secs(10),
            max_retry_time: Duration::from_secs(60),
            max_concurrency_per_registry: 8,
            requests_per_second: None,
            user_agent: concat!("tagwarden/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}
