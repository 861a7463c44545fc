//! How the client behaves: [`ClientOptions`], the knobs a caller turns (timeouts,
//! retries, concurrency, TLS trust, credentials, in-memory answers, observation).
//!
//! `ClientOptions` is `#[non_exhaustive]`: build it with [`ClientOptions::builder`] (or
//! start from [`ClientOptions::default`] and assign fields), so that new options never
//! break callers.
//!
//! ```
//! use std::time::Duration;
//! use tagwarden_registry::ClientOptions;
//!
//! let options = ClientOptions::builder()
//!     .request_timeout(Duration::from_secs(5))
//!     .max_attempts(2)
//!     .insecure_registry("registry.local:5000")
//!     .build();
//! assert_eq!(options.max_attempts, 2);
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::keychain::{Anonymous, Keychain};
use crate::observe::Observer;
use crate::shared::SharedCache;

/// How the client behaves. `Default` is what the CLI uses without flags.
#[non_exhaustive]
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
    /// Where credentials come from (see [`crate::keychain`]); default: none. The keychain
    /// of a client built from these options; [`crate::Client::with_keychain`] gives
    /// clients with other keychains over the same transport.
    pub credentials: Arc<dyn Keychain>,
    /// Timeout for a whole request.
    pub request_timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts for a request that failed transiently. At least 1.
    pub max_attempts: u32,
    /// Upper bound of one wait between attempts (a longer `Retry-After` gives up at once).
    pub max_retry_wait: Duration,
    /// Upper bound of the time one request may spend, retries included. Each attempt's
    /// timeout is cut to what is left of it.
    pub max_retry_time: Duration,
    /// Concurrent requests per registry host, for the client and every client made from it
    /// with another keychain ([`crate::Client::with_keychain`]).
    pub max_concurrency_per_registry: usize,
    /// Requests per second per registry host (`None`: unlimited), shared the same way.
    pub requests_per_second: Option<f64>,
    /// How long a host that failed at the transport level (no connection, a timeout after
    /// its retries, a TLS failure) counts as down: requests to it fail at once with the
    /// original reason instead of waiting for their own timeouts. Default 30 s.
    pub host_down_for: Duration,
    /// How long an in-memory "present" answer (a digest, a manifest, a tag list) is reused.
    /// Default 10 minutes.
    pub found_ttl: Duration,
    /// How long an in-memory "missing" answer is reused; shorter than
    /// [`found_ttl`](Self::found_ttl), since a missing tag may be pushed any time.
    /// Default 1 minute. Undetermined answers are never kept.
    pub missing_ttl: Duration,
    /// Most in-memory answers kept per kind (manifest digests, manifests, tag lists);
    /// the oldest go first. Default 10,000.
    pub max_cached_answers: usize,
    /// Called once per registry request; see [`crate::observe`].
    pub observer: Option<Arc<dyn Observer>>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// A cache shared with other processes (Redis; see [`crate::shared`]): answers, a
    /// single flight and request budgets for a fleet. Default: none.
    pub shared_cache: Option<SharedCache>,
}

impl ClientOptions {
    /// Docker's per-registry CA folders (the CLI's `--certs-dir` default).
    pub const DEFAULT_CERTS_DIR: &'static str = "/etc/docker/certs.d";
    /// Timeout of one request (`--timeout`).
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Attempts per request (`--attempts`).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
    /// The longest one request is retried (`--retry-budget`).
    pub const DEFAULT_MAX_RETRY_TIME: Duration = Duration::from_secs(60);
    /// Requests in flight per registry (`--max-concurrency`).
    pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            skip_verify: Vec::new(),
            ca_files: Vec::new(),
            certs_dir: Some(PathBuf::from(Self::DEFAULT_CERTS_DIR)),
            credentials: Arc::new(Anonymous),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            max_retry_wait: Duration::from_secs(10),
            max_retry_time: Self::DEFAULT_MAX_RETRY_TIME,
            max_concurrency_per_registry: Self::DEFAULT_MAX_CONCURRENCY,
            requests_per_second: None,
            host_down_for: Duration::from_secs(30),
            found_ttl: Duration::from_secs(600),
            missing_ttl: Duration::from_secs(60),
            max_cached_answers: 10_000,
            observer: None,
            user_agent: concat!("tagwarden/", env!("CARGO_PKG_VERSION")).to_string(),
            shared_cache: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("insecure_registries", &self.insecure_registries)
            .field("skip_verify", &self.skip_verify)
            .field("ca_files", &self.ca_files)
            .field("certs_dir", &self.certs_dir)
            .field("credentials", &self.credentials)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("max_retry_time", &self.max_retry_time)
            .field(
                "max_concurrency_per_registry",
                &self.max_concurrency_per_registry,
            )
            .field("requests_per_second", &self.requests_per_second)
            .field("host_down_for", &self.host_down_for)
            .field("found_ttl", &self.found_ttl)
            .field("missing_ttl", &self.missing_ttl)
            .field("max_cached_answers", &self.max_cached_answers)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .field("user_agent", &self.user_agent)
            .field("shared_cache", &self.shared_cache)
            .finish()
    }
}

impl ClientOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> ClientOptionsBuilder {
        ClientOptionsBuilder {
            options: ClientOptions::default(),
        }
    }
}

/// Builds [`ClientOptions`] one setting at a time; unset settings keep their defaults.
#[derive(Debug, Default)]
#[must_use]
pub struct ClientOptionsBuilder {
    options: ClientOptions,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.options.$name = value;
                self
            }
        )*
    };
}

impl ClientOptionsBuilder {
    setters! {
        /// See [`ClientOptions::insecure_registries`].
        insecure_registries: Vec<String>,
        /// See [`ClientOptions::skip_verify`].
        skip_verify: Vec<String>,
        /// See [`ClientOptions::ca_files`].
        ca_files: Vec<PathBuf>,
        /// See [`ClientOptions::certs_dir`].
        certs_dir: Option<PathBuf>,
        /// See [`ClientOptions::request_timeout`].
        request_timeout: Duration,
        /// See [`ClientOptions::connect_timeout`].
        connect_timeout: Duration,
        /// See [`ClientOptions::max_attempts`].
        max_attempts: u32,
        /// See [`ClientOptions::max_retry_wait`].
        max_retry_wait: Duration,
        /// See [`ClientOptions::max_retry_time`].
        max_retry_time: Duration,
        /// See [`ClientOptions::max_concurrency_per_registry`].
        max_concurrency_per_registry: usize,
        /// See [`ClientOptions::requests_per_second`].
        requests_per_second: Option<f64>,
        /// See [`ClientOptions::host_down_for`].
        host_down_for: Duration,
        /// See [`ClientOptions::found_ttl`].
        found_ttl: Duration,
        /// See [`ClientOptions::missing_ttl`].
        missing_ttl: Duration,
        /// See [`ClientOptions::max_cached_answers`].
        max_cached_answers: usize,
        /// See [`ClientOptions::user_agent`].
        user_agent: String,
    }

    /// Add one host to [`ClientOptions::insecure_registries`].
    pub fn insecure_registry(mut self, host: impl Into<String>) -> Self {
        self.options.insecure_registries.push(host.into());
        self
    }

    /// Add one file to [`ClientOptions::ca_files`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.ca_files.push(path.into());
        self
    }

    /// Set [`ClientOptions::credentials`]: a [`crate::CredentialStore`], a
    /// [`crate::MultiKeychain`], or any other [`Keychain`].
    pub fn credentials(mut self, keychain: impl Keychain) -> Self {
        self.options.credentials = Arc::new(keychain);
        self
    }

    /// Set [`ClientOptions::shared_cache`].
    pub fn shared_cache(mut self, cache: SharedCache) -> Self {
        self.options.shared_cache = Some(cache);
        self
    }

    /// Set [`ClientOptions::observer`].
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.options.observer = Some(Arc::new(observer));
        self
    }

    /// The options.
    pub fn build(self) -> ClientOptions {
        self.options
    }
}
