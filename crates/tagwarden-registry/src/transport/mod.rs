//! The transport: one HTTP exchange with a registry, done right.
//!
//! Everything between "send this request" and "here is the answer, classified" lives here,
//! layered as go-containerregistry's `pkg/v1/remote/transport`:
//!
//! - [`options`]: [`ClientOptions`], what a caller can tune.
//! - [`exchange`]: the scheme for a host (HTTPS, or plain HTTP for loopback and
//!   `--insecure-registry` hosts when HTTPS cannot connect) and one request with its body.
//! - [`tls`]: trusted roots (system, `--ca-file`, `/etc/docker/certs.d/HOST[:PORT]/*.crt`)
//!   and the hosts that are not verified.
//! - [`challenge`]: `WWW-Authenticate` challenges, and which credentials a request carries.
//! - [`token`]: Bearer tokens, fetched once per host and scope set, cached until expiry.
//! - [`retry`]: which failures are retried, backoff with jitter, `Retry-After`, and the
//!   per-host requests-per-second pacing.
//! - [`rate_limit`]: the rate-limit headers registries send.
//! - [`errors`]: short, printable reasons from error bodies and transport failures.
//!
//! This module ties them together in [`Transport::fetch`]: at most N requests in flight per
//! host; the first request to a host goes alone and learns its challenge, so a burst of
//! requests costs one 401, not one per request; a 401 on a cached token refreshes it once.
//! Only idempotent requests exist here (HEAD, GET).
//!
//! One transport serves every keychain of a process, as go-containerregistry passes a
//! keychain per request over one `http.RoundTripper`: each [`Call`] carries its
//! [`Credentials`], and the per-host limit, pacing, host-down marks, learned challenges
//! and connections are shared, so N sets of credentials never make N times the budget a
//! user set. What depends on the credentials is kept apart: a keychain's answers (in its
//! `Credentials`), and tokens, per host, scope and credential identity (a SHA-256 of the
//! credential; never the secret, in memory keys, logs or `Debug`).
//!
//! Credentials never travel over plain HTTP except to loopback, never to a token realm on
//! another host unless it is HTTPS, and never across a redirect to another host.

mod challenge;
mod errors;
mod exchange;
mod options;
mod rate_limit;
mod retry;
mod tls;
mod token;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use crate::error::{Lookup, Missing, RegistryError};
use crate::observe::{Operation, RequestEvent, RequestOutcome};
pub(crate) use challenge::CredentialIdentity;
use challenge::HostAuth;
use errors::{error_entries, error_message};
use exchange::{Answer, Exchange, Failure, Scheme, attempt_timeout};
use retry::{backoff, retry_after_header};
use tls::{build_http, load_certificates};
use token::{CachedToken, pull_scope};

pub(crate) use challenge::Credentials;
pub use options::{ClientOptions, ClientOptionsBuilder};
pub use rate_limit::RateLimit;
pub use tls::TlsError;

/// An answer with its body read (empty for HEAD).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A request as the retry loop sees it.
pub(crate) struct Call<'a> {
    /// The registry as users name it, for credentials and messages.
    pub registry: &'a str,
    /// The `host[:port]` to talk to.
    pub host: &'a str,
    /// The repository, for the token scope.
    pub repository: &'a str,
    pub method: Method,
    /// Path and query below the host, e.g. `/v2/library/busybox/manifests/1.36`.
    pub path: String,
    pub accept: Option<&'a str>,
    /// For messages: `HEAD clastix/kubectl:v1.32`.
    pub what: String,
    /// For observers.
    pub operation: Operation,
    /// The keychain this request answers challenges with.
    pub credentials: &'a Credentials,
}

/// Most repositories remembered per host for the next token request; more are asked for
/// one by one. Keeps a long-running process's memory bounded.
const MAX_ANNOUNCED: usize = 1_000;

/// What the transport knows about one host.
#[derive(Default)]
struct HostState {
    scheme: Option<Scheme>,
    auth: Option<HostAuth>,
    /// (Scope, credential) → token.
    tokens: HashMap<(String, CredentialIdentity), CachedToken>,
    /// Repositories announced for this host whose scope should ride along on the next
    /// token request (at most [`MAX_ANNOUNCED`]; each rides along once).
    announced: BTreeSet<(u64, String)>,
    rate_limit: Option<RateLimit>,
    /// Earliest time the next request may start (requests-per-second limit).
    next_slot: Option<Instant>,
    /// Set when the host failed at the transport level: until when it counts as down, and
    /// why.
    down: Option<(Instant, Down)>,
}

/// Why a host counts as down: the reason, and the transport error behind it.
type Down = (String, Cause);

/// The transport error behind a failure, shared by the requests it fails.
type Cause = Option<Arc<reqwest::Error>>;

/// Per-host resources shared by every request to it.
struct HostHandles {
    limit: Arc<Semaphore>,
    /// Serialises learning the challenge and fetching tokens for this host.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The HTTP client for this host (its TLS trust).
    http: reqwest::Client,
}

/// The shared HTTP machinery of a [`crate::Client`].
pub(crate) struct Transport {
    options: ClientOptions,
    /// The `--ca-file` roots, read once; certs.d hosts add theirs to these.
    ca_file_roots: Vec<reqwest::Certificate>,
    verified: reqwest::Client,
    unverified: reqwest::Client,
    hosts: Mutex<HashMap<String, HostState>>,
    handles: Mutex<HashMap<String, Arc<HostHandles>>>,
    warned_skip_verify: Mutex<BTreeSet<String>>,
}

/// What the retry loop does after judging one exchange.
enum Next {
    /// Stop with this result.
    Return(Result<Lookup<Fetched>, RegistryError>),
    /// Try again after this wait (`None`: the usual backoff).
    Retry(Option<Duration>),
}

/// Which 401 retries a request has used: one to answer a freshly learned challenge, one to
/// refresh a stale token.
#[derive(Default)]
struct UnauthorizedRetries {
    learned_challenge: bool,
    refreshed: bool,
}

impl Transport {
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let mut ca_file_roots = Vec::new();
        for path in &options.ca_files {
            ca_file_roots.extend(load_certificates(path)?);
        }
        let verified = build_http(&options, true, ca_file_roots.clone())?;
        let unverified = build_http(&options, false, Vec::new())?;
        Ok(Self {
            options,
            ca_file_roots,
            verified,
            unverified,
            hosts: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            warned_skip_verify: Mutex::new(BTreeSet::new()),
        })
    }

    /// Tell the transport which repositories of `host` the keychain `keychain` (see
    /// [`Credentials::id`]) is about to ask about, so that one token request covers all of
    /// them. Announcements are an optimisation: when the bound is reached by keychains
    /// that never asked (clients dropped), they are forgotten.
    pub fn announce<'a>(
        &self,
        host: &str,
        keychain: u64,
        repositories: impl IntoIterator<Item = &'a str>,
    ) {
        let mut hosts = self.hosts.lock().expect("transport state poisoned");
        let state = hosts.entry(host.to_string()).or_default();
        if state.announced.len() >= MAX_ANNOUNCED {
            state.announced.clear();
        }
        for repository in repositories {
            if state.announced.len() >= MAX_ANNOUNCED {
                break;
            }
            state.announced.insert((keychain, repository.to_string()));
        }
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut hosts = self.hosts.lock().expect("transport state poisoned");
        f(hosts.entry(host.to_string()).or_default())
    }

    fn handles(&self, host: &str) -> Result<Arc<HostHandles>, RegistryError> {
        if let Some(h) = self.handles.lock().expect("handles poisoned").get(host) {
            return Ok(h.clone());
        }
        let http = self.http_for_host(host)?;
        let handles = Arc::new(HostHandles {
            limit: Arc::new(Semaphore::new(
                self.options.max_concurrency_per_registry.max(1),
            )),
            gate: Arc::new(tokio::sync::Mutex::new(())),
            http,
        });
        Ok(self
            .handles
            .lock()
            .expect("handles poisoned")
            .entry(host.to_string())
            .or_insert(handles)
            .clone())
    }

    /// Send a request with authentication, limits and retries. 2xx → `Found`, 404 →
    /// `Missing`, everything else → an error that says why we could not decide.
    ///
    /// A host that failed at the transport level is down for
    /// [`ClientOptions::host_down_for`]: requests to it fail at once, so a hung registry
    /// costs one timeout per run, not one per image.
    pub async fn fetch(&self, call: &Call<'_>) -> Result<Lookup<Fetched>, RegistryError> {
        self.refuse_if_down(call)?;
        let handles = self.handles(call.host)?;
        let _permit = handles
            .limit
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut unauthorized = UnauthorizedRetries::default();
        // Held while this request is the one learning the host's challenge, across its
        // retries: the others wait, then see the challenge, or that the host is down.
        let mut probe_guard = None;
        loop {
            attempt += 1;
            self.pace(call.host).await;
            if probe_guard.is_none() {
                probe_guard = self.probe_guard(call.host, &handles).await;
            }
            self.refuse_if_down(call)?;
            self.ensure_token(call, &handles).await?;
            let budget_left = self
                .options
                .max_retry_time
                .saturating_sub(started.elapsed());
            let timeout = attempt_timeout(self.options.request_timeout, budget_left);
            self.spend_shared_budget(call).await?;
            let sent = Instant::now();
            let exchange = self.send_once(call, &handles, timeout).await?;
            self.observe(call, &exchange, sent.elapsed(), attempt);
            let next = match exchange {
                Exchange::Answer(answer) => {
                    self.record_rate_limit(call.host, &answer.headers);
                    if answer.status == StatusCode::UNAUTHORIZED {
                        let retry = self
                            .on_unauthorized(
                                call,
                                &answer.headers,
                                answer.authenticated,
                                &mut unauthorized,
                            )
                            .await;
                        drop(probe_guard.take());
                        if retry? {
                            attempt -= 1;
                            continue;
                        }
                        return Err(self.denied(call, answer.status, &answer.body));
                    }
                    if self.with_host(call.host, |s| s.auth.is_none()) {
                        self.with_host(call.host, |s| s.auth = Some(HostAuth::Anonymous));
                    }
                    drop(probe_guard.take());
                    self.judge_answer(call, answer, attempt, started)
                }
                Exchange::Failed(failure) => self.judge_failure(call, failure, attempt, started),
            };
            let retry_after = match next {
                Next::Return(result) => return result,
                Next::Retry(wait) => wait,
            };
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            tracing::debug!(request = %call.what, attempt, ?wait, "retrying");
            tokio::time::sleep(wait.min(self.options.max_retry_wait)).await;
        }
    }

    /// Count the request against the fleet's budget in the shared cache, if there is one:
    /// a spent budget is *could not decide*, and nothing is sent.
    async fn spend_shared_budget(&self, call: &Call<'_>) -> Result<(), RegistryError> {
        let Some(shared) = &self.options.shared_cache else {
            return Ok(());
        };
        shared
            .spend(call.registry)
            .await
            .map_err(|spent| RegistryError::BudgetSpent {
                registry: call.registry.to_string(),
                request: call.what.clone(),
                budget: spent.budget,
                retry_in: spent.retry_in,
            })
    }

    /// Who the call's credential is, as the shared cache keys answers: a hash of the
    /// credential's identity hash (never the secret), or `anonymous`.
    pub(crate) async fn sharing_identity(&self, call: &Call<'_>) -> Result<String, RegistryError> {
        Ok(self.credential_identity(call).await?.for_sharing())
    }

    /// Fail at once when the host is marked down.
    fn refuse_if_down(&self, call: &Call<'_>) -> Result<(), RegistryError> {
        match self.down_reason(call.host) {
            Some(down) => {
                tracing::debug!(request = %call.what, host = call.host, "not asked: the host is down");
                Err(unreachable_host(call, call.host, down))
            }
            None => Ok(()),
        }
    }

    /// Why `host` counts as down, if it does (an expired mark is cleared).
    fn down_reason(&self, host: &str) -> Option<Down> {
        let now = Instant::now();
        self.with_host(host, |s| match &s.down {
            Some((until, down)) if *until > now => Some(down.clone()),
            Some(_) => {
                s.down = None;
                None
            }
            None => None,
        })
    }

    /// Remember that `host` is unusable, for [`ClientOptions::host_down_for`].
    fn mark_down(&self, host: &str, reason: &str, cause: &Cause) {
        let period = self.options.host_down_for;
        if period.is_zero() {
            return;
        }
        tracing::debug!(host, reason, ?period, "host marked down");
        let until = Instant::now() + period;
        self.with_host(host, |s| {
            s.down = Some((until, (reason.to_string(), cause.clone())));
        });
    }

    /// Judge a failed exchange: retry it, or give up (marking the host down when the
    /// failure was the host's, not the request's).
    fn judge_failure(
        &self,
        call: &Call<'_>,
        failure: Failure,
        attempt: u32,
        started: Instant,
    ) -> Next {
        if failure.class.is_transient() && !self.give_up(attempt, started, None) {
            return Next::Retry(None);
        }
        let reason = format!("{} (after {})", failure.reason, attempts(attempt));
        if failure.class.is_host_level() {
            self.mark_down(call.host, &reason, &failure.cause);
        }
        Next::Return(Err(unreachable(call, reason, failure.cause)))
    }

    /// Tell the observer (and `--debug`) about one exchange.
    fn observe(&self, call: &Call<'_>, exchange: &Exchange, duration: Duration, attempt: u32) {
        let (outcome, rate_limit, retry_after) = match exchange {
            Exchange::Answer(answer) => (
                RequestOutcome::Status(answer.status.as_u16()),
                RateLimit::from_headers(&answer.headers),
                retry_after_header(&answer.headers),
            ),
            Exchange::Failed(failure) => (RequestOutcome::Error(failure.class), None, None),
        };
        let event = RequestEvent {
            registry: call.registry.to_string(),
            host: call.host.to_string(),
            operation: call.operation,
            outcome,
            duration,
            attempt,
            rate_limit,
            retry_after,
        };
        let scheme = self
            .with_host(call.host, |s| s.scheme)
            .unwrap_or(Scheme::Https);
        let url = format!("{}://{}{}", scheme.as_str(), call.host, call.path);
        self.emit(call.method.as_str(), &url, &event);
    }

    /// Log one request for `--debug` and hand it to the observer.
    fn emit(&self, method: &str, url: &str, event: &RequestEvent) {
        log_request(method, url, event);
        if let Some(observer) = &self.options.observer {
            observer.on_request(event);
        }
    }

    /// The first request to a host learns its challenge alone: while the challenge is
    /// unknown, hold the host's gate (others wait for it, then find the challenge known).
    async fn probe_guard(
        &self,
        host: &str,
        handles: &HostHandles,
    ) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if !self.with_host(host, |s| s.auth.is_none()) {
            return None;
        }
        let guard = handles.gate.clone().lock_owned().await;
        // Another request may have learned the challenge while we waited.
        self.with_host(host, |s| s.auth.is_none()).then_some(guard)
    }

    /// React to a 401: learn the challenge it carries. True when another attempt may now
    /// succeed. An anonymous 401 teaches the challenge; an authenticated one means the token
    /// went stale (`invalid_token`): refresh it, once.
    async fn on_unauthorized(
        &self,
        call: &Call<'_>,
        headers: &HeaderMap,
        authenticated: bool,
        used: &mut UnauthorizedRetries,
    ) -> Result<bool, RegistryError> {
        let challenge = header_str(headers, "www-authenticate");
        let learned = self.learn_challenge(call, challenge.as_deref()).await?;
        let retry = if authenticated {
            !std::mem::replace(&mut used.refreshed, true)
        } else {
            !std::mem::replace(&mut used.learned_challenge, true)
        };
        if learned && retry {
            let key = (
                pull_scope(call.repository),
                self.credential_identity(call).await?,
            );
            self.with_host(call.host, |s| {
                s.tokens.remove(&key);
            });
        }
        Ok(learned && retry)
    }

    /// Judge an answer other than 401: found, missing, retry, or give up with a reason.
    fn judge_answer(
        &self,
        call: &Call<'_>,
        answer: Answer,
        attempt: u32,
        started: Instant,
    ) -> Next {
        let Answer {
            status,
            headers,
            body,
            ..
        } = answer;
        let with_message = |prefix: String| {
            format!(
                "{prefix}{}",
                error_message(&body)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        };
        match status {
            s if s.is_success() => Next::Return(Ok(Lookup::Found(Fetched { headers, body }))),
            StatusCode::NOT_FOUND => Next::Return(Ok(Lookup::Missing(Missing {
                code: error_entries(&body).into_iter().next().map(|e| e.code),
            }))),
            StatusCode::FORBIDDEN => Next::Return(Err(self.denied(call, status, &body))),
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = retry_after_header(&headers);
                if self.give_up(attempt, started, wait) {
                    Next::Return(Err(RegistryError::RateLimited {
                        registry: call.registry.to_string(),
                        request: call.what.clone(),
                        message: error_message(&body),
                    }))
                } else {
                    Next::Retry(wait)
                }
            }
            s if s.is_server_error() => {
                let wait = retry_after_header(&headers);
                if self.give_up(attempt, started, wait) {
                    Next::Return(Err(RegistryError::ServerError {
                        registry: call.registry.to_string(),
                        request: call.what.clone(),
                        status: status_line(s),
                        message: error_message(&body),
                        attempts: attempts(attempt),
                    }))
                } else {
                    Next::Retry(wait)
                }
            }
            other => Next::Return(Err(RegistryError::Malformed {
                registry: call.registry.to_string(),
                request: call.what.clone(),
                reason: with_message(format!("unexpected HTTP {}", other.as_u16())),
                cause: None,
            })),
        }
    }
}

fn unreachable(call: &Call<'_>, reason: String, cause: Cause) -> RegistryError {
    RegistryError::Unreachable {
        registry: call.registry.to_string(),
        request: call.what.clone(),
        reason,
        cause,
    }
}

/// The error for a request that was not sent because its host is down: why it is, and
/// the transport error that marked it.
fn unreachable_host(call: &Call<'_>, host: &str, (reason, cause): Down) -> RegistryError {
    RegistryError::Unreachable {
        registry: call.registry.to_string(),
        request: call.what.clone(),
        reason: format!("not asked, {host} failed moments ago: {reason}"),
        cause,
    }
}

/// `1 attempt`, `3 attempts`.
pub(super) fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_string()
    } else {
        format!("{n} attempts")
    }
}

/// `503 Service Unavailable`.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// One `--debug` line per request: method, URL (paths and queries carry no secrets; token
/// requests are logged without their query), status or error, duration, attempt.
fn log_request(method: &str, url: &str, event: &RequestEvent) {
    let outcome = match event.outcome {
        RequestOutcome::Status(code) => code.to_string(),
        RequestOutcome::Error(class) => class.to_string(),
    };
    tracing::debug!(
        attempt = event.attempt,
        "{method} {url} -> {outcome} in {} ms",
        event.duration.as_millis()
    );
}

fn host_listed(list: &[String], host: &str) -> bool {
    list.iter()
        .any(|h| h.eq_ignore_ascii_case(host) || strip_port(host).eq_ignore_ascii_case(h))
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub(crate) fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback(authority: &str) -> bool {
    let host = strip_port(authority);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.8.9.1",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn listed_hosts_match_with_and_without_port() {
        let list = vec!["registry.local".to_string(), "10.1.2.3:5000".to_string()];
        assert!(host_listed(&list, "registry.local:5000"));
        assert!(host_listed(&list, "registry.local"));
        assert!(host_listed(&list, "10.1.2.3:5000"));
        assert!(!host_listed(&list, "10.1.2.3:5001"));
        assert!(!host_listed(&list, "other.local"));
    }
}
