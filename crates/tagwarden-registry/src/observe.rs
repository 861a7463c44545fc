//! Observing the client: one structured event per registry request.
//!
//! Give [`ClientOptions`](crate::ClientOptions) an [`Observer`] (any
//! `Fn(&RequestEvent) + Send + Sync` closure is one) and it is called once per HTTP exchange
//! with a registry or its token server: retries are separate events with their attempt
//! number, and an answer from a cache is no event at all. Metrics (requests per registry,
//! error rates, latency histograms, remaining rate limit) can be built from these events
//! without parsing logs.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use tagwarden_registry::{ClientOptions, RequestEvent};
//!
//! let requests = Arc::new(AtomicUsize::new(0));
//! let counter = requests.clone();
//! let options = ClientOptions::builder()
//!     .observer(move |event: &RequestEvent| {
//!         counter.fetch_add(1, Ordering::Relaxed);
//!         eprintln!("{} {:?} {:?} in {:?}", event.registry, event.operation, event.outcome, event.duration);
//!     })
//!     .build();
//! # drop(options);
//! ```
//!
//! Observers run on the request's task: keep them quick and never block.

use std::fmt;
use std::time::Duration;

use crate::RateLimit;

/// Receives one [`RequestEvent`] per registry request.
pub trait Observer: Send + Sync + 'static {
    /// Called after each HTTP exchange (or attempt at one) with a registry.
    fn on_request(&self, event: &RequestEvent);
}

impl<F> Observer for F
where
    F: Fn(&RequestEvent) + Send + Sync + 'static,
{
    fn on_request(&self, event: &RequestEvent) {
        self(event)
    }
}

/// One request to a registry, as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestEvent {
    /// The registry as users name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The host that was asked (`registry-1.docker.io`, a mirror, a token realm's host).
    pub host: String,
    /// What was asked.
    pub operation: Operation,
    /// How it ended.
    pub outcome: RequestOutcome,
    /// From sending the request to reading the whole answer.
    pub duration: Duration,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    /// The rate-limit headers of the answer, when it had any.
    pub rate_limit: Option<RateLimit>,
    /// The answer's `Retry-After` (delta-seconds form), when it had one: how long the
    /// registry asks callers to stay away, e.g. after a 429. A service that checks on a
    /// schedule pauses that registry for this long instead of asking again.
    pub retry_after: Option<Duration>,
}

/// The kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `HEAD /v2/NAME/manifests/REF`.
    HeadManifest,
    /// `GET /v2/NAME/manifests/REF`.
    GetManifest,
    /// `GET /v2/NAME/tags/list` (one page).
    ListTags,
    /// `GET /v2/NAME/blobs/DIGEST`.
    GetBlob,
    /// A Bearer token request to the registry's token realm.
    Token,
}

impl Operation {
    /// A short, stable name for metrics labels: `head_manifest`, `get_manifest`,
    /// `list_tags`, `get_blob`, `token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::HeadManifest => "head_manifest",
            Operation::GetManifest => "get_manifest",
            Operation::ListTags => "list_tags",
            Operation::GetBlob => "get_blob",
            Operation::Token => "token",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestOutcome {
    /// The registry answered with this HTTP status.
    Status(u16),
    /// No answer.
    Error(ErrorClass),
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// No connection (refused, no route, name not resolved).
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The TLS handshake failed, usually an untrusted certificate.
    Tls,
    /// The connection broke, or the answer was cut short.
    Interrupted,
    /// The answer was larger than tagwarden reads.
    TooLarge,
}

impl ErrorClass {
    /// A short, stable name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::Interrupted => "interrupted",
            ErrorClass::TooLarge => "too_large",
        }
    }

    /// Whether another attempt may get an answer.
    pub(crate) fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorClass::Connect | ErrorClass::Timeout | ErrorClass::Interrupted
        )
    }

    /// Whether the failure says the host itself is unusable (rather than one request):
    /// then the host is treated as down for a while.
    pub(crate) fn is_host_level(self) -> bool {
        matches!(
            self,
            ErrorClass::Connect | ErrorClass::Timeout | ErrorClass::Tls
        )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
