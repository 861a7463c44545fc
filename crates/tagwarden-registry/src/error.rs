//! What can go wrong when asking a registry, sorted by what it lets us conclude.
//!
//! The one rule of this crate: only the registry saying "this does not exist"
//! (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, or a plain 404) is an answer. That answer is
//! not an error: operations return it as [`Lookup::Missing`]. Everything else here is a
//! [`RegistryError`], which means *could not decide*. Callers must never treat a
//! `RegistryError` as "missing", and must never fall back to another tag because of one.
//!
//! Each error's message is one whole line, its cause's text included, so a report that
//! shows `to_string()` says everything; the cause is also its
//! [`source`](std::error::Error::source), for programs (the CLI's `error:` line skips a
//! cause whose text the message already holds). A cause whose text could quote a secret
//! (a JSON type error about a credentials file, a base64 error) is described in words
//! instead of kept.

use std::fmt;
use std::sync::Arc;

use crate::cache::CacheError;
use crate::credential_provider::ProviderConfigError;
use crate::credentials::CredentialsError;
use crate::transport::TlsError;

/// The result of asking for something that may or may not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The registry has it.
    Found(T),
    /// The registry said it does not exist.
    Missing(Missing),
}

impl<T> Lookup<T> {
    /// The found value, if any.
    pub fn found(self) -> Option<T> {
        match self {
            Lookup::Found(value) => Some(value),
            Lookup::Missing(_) => None,
        }
    }
}

/// Why the registry said something does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The error code from the registry's JSON body (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`),
    /// or `None` for a bare 404 without a recognisable body.
    pub code: Option<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}"),
            None => f.write_str("HTTP 404"),
        }
    }
}

/// A registry question that got no usable answer: the caller could not decide.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401 or 403: the registry knows, but will not tell us.
    #[error(
        "{registry} denied {request} (HTTP {status}{}); {}",
        detail(.message),
        denied_advice(.registry, .credentials)
    )]
    Denied {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,
        /// 401 or 403.
        status: u16,
        /// The registry's error message, if its body had one.
        message: Option<String>,
        /// Where the credentials sent came from (`--pull-secret regcred.yaml`,
        /// `docker config …`), or `None` when there were none for this registry.
        credentials: Option<String>,
    },
    /// 429 after retries: the registry is rationing answers.
    #[error("{registry} rate-limited {request} (HTTP 429{}) and retries did not get through; try again later or log in to raise the limit", detail(.message))]
    RateLimited {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,
        /// The registry's error message, if its body had one.
        message: Option<String>,
    },
    /// No connection, a timeout, a TLS failure, a broken answer (after retries), or a host
    /// that failed moments ago: the registry could not be reached. The reason says which,
    /// and after how many attempts.
    #[error("{registry} is unreachable: {request} failed: {reason}")]
    Unreachable {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,
        /// What happened (a transport failure by its kind and innermost cause, which
        /// says the most), and after how many attempts.
        reason: String,
        /// The transport error of the last attempt, when there was one (not for an answer
        /// that was cut short). Shared: a host marked down answers with it again.
        #[source]
        cause: Option<Arc<reqwest::Error>>,
    },
    /// 5xx after retries: the registry is up, but failed to answer.
    #[error("{registry} failed to answer {request}: HTTP {status} after {attempts}{}", detail(.message))]
    ServerError {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,

        /// `503 Service Unavailable`.
        status: String,
        /// The registry's error message, if its body had one.
        message: Option<String>,
        /// `3 attempts`.
        attempts: String,
    },
    /// The registry answered, but with something that is not a valid Distribution API answer.
    #[error("{registry} gave a malformed answer to {request}: {reason}")]
    Malformed {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,
        /// What is wrong with the answer.
        reason: String,
        /// The parser's error, when one rejected the answer (its text is in the reason).
        #[source]
        cause: Option<BoxedCause>,
    },
    /// The config file is unusable: its message, naming the file and the place in it.
    #[error("{0}")]
    Config(String),
    /// A credentials file (docker config, pull secret) or credential helper is unusable.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// A kubelet `CredentialProviderConfig` (or its plugins' bin dir) is unusable.
    #[error(transparent)]
    CredentialProviderConfig(#[from] ProviderConfigError),
    /// A CA file is unusable, or HTTPS cannot be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The cache folder cannot be created or cleared.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A registry host that does not make a URL.
    #[error("bad URL for {host}: {source}")]
    BadHost {
        /// The host, as the image reference names it.
        host: String,
        /// Why it is not a URL.
        source: url::ParseError,
    },
    /// Looking up credentials did not finish: the keychain panicked or its task was
    /// cancelled.
    #[error("the credential lookup failed: {source}")]
    CredentialLookup {
        /// The task's failure.
        source: tokio::task::JoinError,
    },
    /// A credential source configured for this image could not give its credential: a
    /// kubelet credential-provider plugin failed, timed out, or printed something that is
    /// not a `CredentialProviderResponse`. Asking anonymously instead would turn this into
    /// a confusing "denied", so the image is undecided.
    #[error("{provider} failed for {image}: {reason}")]
    CredentialProvider {
        /// The provider, for messages: `credential provider NAME (from CONFIG)`.
        provider: String,
        /// The image it was asked about (`HOST/REPOSITORY`).
        image: String,
        /// What the plugin did: its exit status and the first line of its stderr, a
        /// timeout, or what is wrong with its answer. Never its credentials.
        reason: String,
    },
    /// The fleet's request budget for the registry, kept in the shared cache, is spent:
    /// the request was not sent (see [`crate::shared`]).
    #[error(
        "{request} was not sent to {registry}: the fleet's request budget ({budget}, shared in Redis) is spent for {retry_in:?}"
    )]
    BudgetSpent {
        /// The registry as users name it.
        registry: String,
        /// The request, for messages (`HEAD clastix/kubectl:v1.32`).
        request: String,
        /// The budget: `600 requests per 3600s`.
        budget: String,
        /// How long the budget's window still runs.
        retry_in: std::time::Duration,
    },
}

impl RegistryError {
    /// True when the registry (or the fleet's budget for it) is rationing answers: wait,
    /// and never call the image missing.
    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            RegistryError::RateLimited { .. } | RegistryError::BudgetSpent { .. }
        )
    }
}

/// A lower error kept as a cause.
pub type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What to check after a 401/403: the credentials that were used, or where to put some.
fn denied_advice(registry: &str, credentials: &Option<String>) -> String {
    match credentials {
        Some(source) => format!("the credentials from {source} were rejected"),
        None => format!(
            "no credentials for {registry} were found; add them to your docker config, REGISTRY_AUTH_FILE or a --pull-secret"
        ),
    }
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

/// The coarse kind of an undecided answer, as reported in JSON (`status` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecided {
    /// 401 or 403.
    Denied,
    /// Everything else that kept us from an answer.
    Unreachable,
}

impl RegistryError {
    /// How a report should label this failure: `denied` for 401/403, `unreachable` for
    /// everything else that kept us from an answer.
    pub fn undecided(&self) -> Undecided {
        match self {
            RegistryError::Denied { .. } => Undecided::Denied,
            _ => Undecided::Unreachable,
        }
    }

    /// True when the failure comes from the user's own configuration rather than the registry.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            RegistryError::Config(_)
                | RegistryError::Credentials(_)
                | RegistryError::CredentialProviderConfig(_)
                | RegistryError::Tls(_)
                | RegistryError::Cache(_)
                | RegistryError::BadHost { .. }
                | RegistryError::CredentialLookup { .. }
        )
    }
}
