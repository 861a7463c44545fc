//! The transport: one HTTP exchange with a registry, done right.
//!
//! Everything between "send this request" and "here is the answer, classified" lives here:
//!
//! - **Scheme and TLS.** HTTPS first. Plain HTTP only for loopback hosts and
//!   `--insecure-registry` hosts, and only when HTTPS cannot connect at all (a certificate
//!   problem is reported, never papered over with plain HTTP). Trusted roots: the system's,
//!   `--ca-file`, and Docker's `/etc/docker/certs.d/HOST[:PORT]/*.crt`. `--insecure-registry`
//!   and the config file's `insecure_skip_verify` turn verification off for their hosts.
//! - **Authentication.** The first request to a host goes alone and learns its
//!   `WWW-Authenticate` challenge; the others wait for it, so a burst of requests costs one
//!   401, not one per request. Bearer tokens are fetched once per host and scope set (a
//!   token request carries every repository the caller announced with
//!   [`Transport::announce`]) and cached until they expire. A 401 on a cached token
//!   refreshes it once.
//! - **Limits.** At most N requests in flight per host, optionally at most R per second.
//! - **Retries.** Connection errors, timeouts, truncated bodies, 429 and 5xx are retried with
//!   exponential backoff and jitter, honouring `Retry-After`, within a bounded number of
//!   attempts and a bounded total time. Only idempotent requests exist here (HEAD, GET).
//! - **Rate-limit headers.** `ratelimit-limit`, `ratelimit-remaining` and
//!   `docker-ratelimit-source` are recorded per registry.
//!
//! Credentials never travel over plain HTTP except to loopback, never to a token realm on
//! another host unless it is HTTPS, and never across a redirect to another host.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use url::Url;

use crate::credentials::{Credential, CredentialStore};
use crate::error::{Lookup, Missing, RegistryError};

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

/// What a registry said about its rate limit on its latest answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// `ratelimit-limit`, e.g. `100;w=21600`.
    pub limit: Option<String>,
    /// `ratelimit-remaining`, e.g. `98;w=21600`.
    pub remaining: Option<String>,
    /// `docker-ratelimit-source`: the IP or account the limit is counted against.
    pub source: Option<String>,
}

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
    /// The host[:port] to talk to.
    pub host: &'a str,
    /// The repository, for the token scope.
    pub repository: &'a str,
    pub method: Method,
    /// Path and query below the host, e.g. `/v2/library/busybox/manifests/1.36`.
    pub path: String,
    pub accept: Option<&'a str>,
    /// For messages: `HEAD clastix/kubectl:v1.32`.
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

#[derive(Debug, Clone)]
enum HostAuth {
    /// The host answered without asking for credentials.
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    expires: Instant,
}

#[derive(Default)]
struct HostState {
    scheme: Option<Scheme>,
    auth: Option<HostAuth>,
    /// Scope → token.
    tokens: HashMap<String, CachedToken>,
    /// Repositories announced for this host whose scope should ride along on the next
    /// token request.
    announced: BTreeSet<String>,
    rate_limit: Option<RateLimit>,
    /// Earliest time the next request may start (requests-per-second limit).
    next_slot: Option<Instant>,
}

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

/// Most scopes on one token request; keeps the URL short.
const MAX_SCOPES_PER_TOKEN: usize = 40;

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

    /// Tell the transport which repositories of `host` are about to be asked about, so
    /// that one token request covers all of them.
    pub fn announce<'a>(&self, host: &str, repositories: impl IntoIterator<Item = &'a str>) {
        let mut hosts = self.hosts.lock().expect("transport state poisoned");
        let state = hosts.entry(host.to_string()).or_default();
        state
            .announced
            .extend(repositories.into_iter().map(String::from));
    }

    /// The latest rate-limit headers per registry host.
    pub fn rate_limits(&self) -> Vec<(String, RateLimit)> {
        let hosts = self.hosts.lock().expect("transport state poisoned");
        let mut limits: Vec<(String, RateLimit)> = hosts
            .iter()
            .filter_map(|(host, state)| state.rate_limit.clone().map(|l| (host.clone(), l)))
            .collect();
        limits.sort_by(|a, b| a.0.cmp(&b.0));
        limits
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut hosts = self.hosts.lock().expect("transport state poisoned");
        f(hosts.entry(host.to_string()).or_default())
    }

    fn plain_http_allowed(&self, host: &str) -> bool {
        is_loopback(host) || host_listed(&self.options.insecure_registries, host)
    }

    fn verification_off(&self, host: &str) -> bool {
        host_listed(&self.options.insecure_registries, host)
            || host_listed(&self.options.skip_verify, host)
    }

    fn handles(&self, host: &str) -> Result<Arc<HostHandles>, RegistryError> {
        if let Some(h) = self.handles.lock().expect("handles poisoned").get(host) {
            return Ok(h.clone());
        }
        let http = if self.verification_off(host) {
            if host_listed(&self.options.skip_verify, host)
                && self
                    .warned_skip_verify
                    .lock()
                    .expect("poisoned")
                    .insert(host.to_string())
            {
                tracing::warn!(
                    "TLS certificates of {host} are NOT verified (insecure_skip_verify in the config file)"
                );
            }
            self.unverified.clone()
        } else {
            match self.certs_d_roots(host)? {
                Some(roots) => {
                    let mut all = self.ca_file_roots.clone();
                    all.extend(roots);
                    build_http(&self.options, true, all)?
                }
                None => self.verified.clone(),
            }
        };
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

    /// `DIR/HOST[:PORT]/*.crt`, Docker's per-registry CA convention.
    fn certs_d_roots(
        &self,
        host: &str,
    ) -> Result<Option<Vec<reqwest::Certificate>>, RegistryError> {
        let Some(dir) = &self.options.certs_dir else {
            return Ok(None);
        };
        let host_dir = dir.join(host);
        let Ok(entries) = std::fs::read_dir(&host_dir) else {
            return Ok(None);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Ok(None);
        }
        let mut certs = Vec::new();
        for path in paths {
            certs.extend(load_certificates(&path)?);
        }
        tracing::debug!(host, dir = %host_dir.display(), "trusting certs.d CAs");
        Ok(Some(certs))
    }

    /// Send a request with authentication, limits and retries. 2xx → `Found`, 404 →
    /// `Missing`, everything else → an error that says why we could not decide.
    pub async fn fetch(&self, call: &Call<'_>) -> Result<Lookup<Fetched>, RegistryError> {
        let handles = self.handles(call.host)?;
        let _permit = handles
            .limit
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let options = &self.options;
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut refreshed = false;
        let mut learned_challenge = false;
        loop {
            attempt += 1;
            self.pace(call.host).await;
            // The first request to a host learns its challenge alone.
            let probe_guard = if self.with_host(call.host, |s| s.auth.is_none()) {
                let guard = handles.gate.clone().lock_owned().await;
                // Another request may have learned the challenge while we waited.
                self.with_host(call.host, |s| s.auth.is_none())
                    .then_some(guard)
            } else {
                None
            };
            self.ensure_token(call, &handles).await?;
            let outcome = self.send_once(call, &handles).await?;
            let retry_after = match outcome {
                Exchange::Answer(status, headers, body, authenticated) => {
                    self.record_rate_limit(call.host, &headers);
                    if status == StatusCode::UNAUTHORIZED {
                        let challenge = header_str(&headers, "www-authenticate");
                        let learned = self.learn_challenge(call, challenge.as_deref())?;
                        drop(probe_guard);
                        // An anonymous 401 teaches the challenge; an authenticated one
                        // means the token went stale (invalid_token): refresh it, once.
                        let retry = if authenticated {
                            !std::mem::replace(&mut refreshed, true)
                        } else {
                            !std::mem::replace(&mut learned_challenge, true)
                        };
                        if learned && retry {
                            self.with_host(call.host, |s| {
                                s.tokens.remove(&pull_scope(call.repository));
                            });
                            attempt -= 1;
                            continue;
                        }
                        return Err(denied(call, status, &body));
                    }
                    if self.with_host(call.host, |s| s.auth.is_none()) {
                        self.with_host(call.host, |s| s.auth = Some(HostAuth::Anonymous));
                    }
                    drop(probe_guard);
                    match status {
                        s if s.is_success() => {
                            return Ok(Lookup::Found(Fetched { headers, body }));
                        }
                        StatusCode::NOT_FOUND => {
                            return Ok(Lookup::Missing(Missing {
                                code: error_entries(&body).into_iter().next().map(|e| e.code),
                            }));
                        }
                        StatusCode::FORBIDDEN => return Err(denied(call, status, &body)),
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = retry_after_header(&headers);
                            if self.give_up(attempt, started, wait) {
                                return Err(RegistryError::RateLimited {
                                    registry: call.registry.to_string(),
                                    request: call.what.clone(),
                                    message: error_message(&body),
                                });
                            }
                            wait
                        }
                        s if s.is_server_error() => {
                            let wait = retry_after_header(&headers);
                            if self.give_up(attempt, started, wait) {
                                return Err(RegistryError::Unreachable {
                                    registry: call.registry.to_string(),
                                    request: call.what.clone(),
                                    reason: format!(
                                        "HTTP {}{}",
                                        s.as_u16(),
                                        error_message(&body)
                                            .map(|m| format!(": {m}"))
                                            .unwrap_or_default()
                                    ),
                                });
                            }
                            wait
                        }
                        other => {
                            return Err(RegistryError::Malformed {
                                registry: call.registry.to_string(),
                                request: call.what.clone(),
                                reason: format!(
                                    "unexpected HTTP {}{}",
                                    other.as_u16(),
                                    error_message(&body)
                                        .map(|m| format!(": {m}"))
                                        .unwrap_or_default()
                                ),
                            });
                        }
                    }
                }
                Exchange::Failed(reason) => {
                    drop(probe_guard);
                    if self.give_up(attempt, started, None) {
                        return Err(RegistryError::Unreachable {
                            registry: call.registry.to_string(),
                            request: call.what.clone(),
                            reason,
                        });
                    }
                    None
                }
                Exchange::Fatal(reason) => {
                    return Err(RegistryError::Unreachable {
                        registry: call.registry.to_string(),
                        request: call.what.clone(),
                        reason,
                    });
                }
            };
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            tracing::debug!(request = %call.what, attempt, ?wait, "retrying");
            tokio::time::sleep(wait.min(options.max_retry_wait)).await;
        }
    }

    fn give_up(&self, attempt: u32, started: Instant, wait: Option<Duration>) -> bool {
        let options = &self.options;
        let wait = wait.unwrap_or_else(|| backoff(attempt));
        attempt >= options.max_attempts.max(1)
            || wait > options.max_retry_wait
            || started.elapsed() + wait > options.max_retry_time
    }

    /// Wait for this host's next request slot (requests-per-second limit).
    async fn pace(&self, host: &str) {
        let Some(rps) = self.options.requests_per_second.filter(|r| *r > 0.0) else {
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / rps);
        let slot = self.with_host(host, |s| {
            let now = Instant::now();
            let slot = s.next_slot.map_or(now, |n| n.max(now));
            s.next_slot = Some(slot + interval);
            slot
        });
        tokio::time::sleep_until(slot.into()).await;
    }

    fn record_rate_limit(&self, host: &str, headers: &HeaderMap) {
        let limit = header_str(headers, "ratelimit-limit");
        let remaining = header_str(headers, "ratelimit-remaining");
        let source = header_str(headers, "docker-ratelimit-source");
        if limit.is_none() && remaining.is_none() && source.is_none() {
            return;
        }
        tracing::debug!(
            host,
            limit = limit.as_deref().unwrap_or("-"),
            remaining = remaining.as_deref().unwrap_or("-"),
            source = source.as_deref().unwrap_or("-"),
            "registry rate limit"
        );
        self.with_host(host, |s| {
            s.rate_limit = Some(RateLimit {
                limit,
                remaining,
                source,
            })
        });
    }

    /// One HTTP exchange, choosing the scheme for the host, reading the whole body.
    async fn send_once(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
    ) -> Result<Exchange, RegistryError> {
        let host = call.host;
        let known = self.with_host(host, |s| s.scheme);
        let schemes: &[Scheme] = match known {
            Some(Scheme::Https) => &[Scheme::Https],
            Some(Scheme::Http) => &[Scheme::Http],
            // Loopback registries are plain HTTP far more often than not (a developer's
            // registry, kind, a port-forward); ask in plain HTTP first, and move to HTTPS
            // when the server says it only speaks TLS.
            None if is_loopback(host) => &[Scheme::Http, Scheme::Https],
            None if self.plain_http_allowed(host) => &[Scheme::Https, Scheme::Http],
            None => &[Scheme::Https],
        };
        let mut failure = None;
        for &scheme in schemes {
            let url = format!(
                "{}://{}{}",
                if scheme == Scheme::Https {
                    "https"
                } else {
                    "http"
                },
                host,
                call.path
            );
            let mut request = handles.http.request(call.method.clone(), &url);
            if let Some(accept) = call.accept {
                request = request.header(header::ACCEPT, accept);
            }
            let authorization = self.authorization(call, scheme)?;
            let authenticated = authorization.is_some();
            if let Some(authorization) = authorization {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let expected_len = response.content_length();
                    // Go answers plain HTTP on a TLS port with a bare HTTP/1.0 400 (its
                    // body, which names the problem, is not there for HEAD).
                    let http10 = response.version() == reqwest::Version::HTTP_10;
                    let body = read_limited(response).await;
                    if scheme == Scheme::Http
                        && status == StatusCode::BAD_REQUEST
                        && known.is_none()
                        && (http10 || matches!(&body, Ok(b) if speaks_only_tls(b)))
                    {
                        tracing::debug!(host, "plain HTTP refused, the registry speaks TLS");
                        continue;
                    }
                    if known.is_none() {
                        self.with_host(host, |s| s.scheme = Some(scheme));
                    }
                    return Ok(match body {
                        Ok(body) => {
                            if call.method != Method::HEAD
                                && expected_len.is_some_and(|len| len != body.len() as u64)
                            {
                                Exchange::Failed(format!(
                                    "the answer was cut short ({} of {} bytes)",
                                    body.len(),
                                    expected_len.unwrap_or_default()
                                ))
                            } else {
                                Exchange::Answer(status, headers, body, authenticated)
                            }
                        }
                        Err(BodyError::TooLarge) => {
                            Exchange::Fatal(format!("the answer is larger than {} bytes", MAX_BODY))
                        }
                        Err(BodyError::Read(e)) => Exchange::Failed(format!(
                            "reading the answer failed: {}",
                            describe_transport_error(&e)
                        )),
                    });
                }
                Err(error) => {
                    let reason = describe_transport_error(&error);
                    tracing::debug!(%url, error = %reason, "request failed");
                    // Fall back to plain HTTP only when HTTPS could not connect at all;
                    // a certificate the host does present but we do not trust is reported.
                    let certificate_problem = reason.contains("certificate");
                    let can_fall_back =
                        error.is_connect() && scheme == Scheme::Https && !certificate_problem;
                    failure = Some(if certificate_problem {
                        Exchange::Fatal(format!(
                            "{reason}; trust its CA with --ca-file or /etc/docker/certs.d/{host}/ca.crt"
                        ))
                    } else {
                        Exchange::Failed(reason)
                    });
                    if !can_fall_back {
                        break;
                    }
                }
            }
        }
        Ok(failure.expect("at least one scheme was tried"))
    }

    /// The `Authorization` header for a call, when the host's challenge is known.
    fn authorization(
        &self,
        call: &Call<'_>,
        scheme: Scheme,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let host = call.host;
        let auth = self.with_host(host, |s| s.auth.clone());
        Ok(match auth {
            None | Some(HostAuth::Anonymous) => None,
            Some(HostAuth::Basic) => {
                if !may_send_credentials(host, scheme) {
                    return Ok(None);
                }
                match self.credential(call.registry)? {
                    Some(Credential::Basic { username, password }) => {
                        basic_header(&username, &password)
                    }
                    _ => None,
                }
            }
            Some(HostAuth::Bearer { .. }) => {
                let scope = pull_scope(call.repository);
                self.with_host(host, |s| {
                    s.tokens
                        .get(&scope)
                        .filter(|t| t.expires > Instant::now())
                        .and_then(|t| bearer_header(&t.token))
                })
            }
        })
    }

    fn credential(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        Ok(self
            .options
            .credentials
            .lookup(registry)?
            .map(|(cred, _)| cred))
    }

    /// React to a 401: remember the host's challenge. Returns true when a retry may now
    /// succeed (there is something new to answer the challenge with).
    fn learn_challenge(
        &self,
        call: &Call<'_>,
        challenge: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let Some(challenge) = challenge else {
            return Ok(false);
        };
        let parsed = parse_challenge(challenge).ok_or_else(|| RegistryError::Malformed {
            registry: call.registry.to_string(),
            request: call.what.clone(),
            reason: format!("cannot parse the WWW-Authenticate challenge {challenge:?}"),
        })?;
        let previous = self.with_host(call.host, |s| s.auth.replace(parsed.clone()));
        match parsed {
            HostAuth::Basic => {
                let scheme = self
                    .with_host(call.host, |s| s.scheme)
                    .unwrap_or(Scheme::Https);
                let can_answer = matches!(
                    self.credential(call.registry)?,
                    Some(Credential::Basic { .. })
                ) && may_send_credentials(call.host, scheme);
                // Credentials already sent and refused are wrong; do not loop.
                Ok(can_answer && !matches!(previous, Some(HostAuth::Basic)))
            }
            HostAuth::Bearer { .. } => Ok(true),
            HostAuth::Anonymous => Ok(false),
        }
    }

    /// Make sure a Bearer host has a live token for the call's scope, fetching one (for
    /// every announced scope without a token) under the host's gate.
    async fn ensure_token(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
    ) -> Result<(), RegistryError> {
        let scope = pull_scope(call.repository);
        let has_token = |s: &HostState| {
            s.tokens
                .get(&scope)
                .is_some_and(|t| t.expires > Instant::now())
        };
        let (realm, service) = match self.with_host(call.host, |s| s.auth.clone()) {
            Some(HostAuth::Bearer { realm, service }) => (realm, service),
            _ => return Ok(()),
        };
        if self.with_host(call.host, |s| has_token(s)) {
            return Ok(());
        }
        let _gate = handles.gate.lock().await;
        if self.with_host(call.host, |s| has_token(s)) {
            return Ok(());
        }
        let scopes: Vec<String> = self.with_host(call.host, |s| {
            let now = Instant::now();
            let mut scopes = vec![scope.clone()];
            scopes.extend(
                s.announced
                    .iter()
                    .map(|repo| pull_scope(repo))
                    .filter(|sc| *sc != scope && s.tokens.get(sc).is_none_or(|t| t.expires <= now))
                    .take(MAX_SCOPES_PER_TOKEN - 1),
            );
            scopes
        });
        let token = self
            .fetch_token(call, &realm, service.as_deref(), &scopes)
            .await?;
        self.with_host(call.host, |s| {
            for sc in scopes {
                s.tokens.insert(sc, token.clone());
            }
        });
        Ok(())
    }

    /// Ask the realm for a token covering `scopes`.
    async fn fetch_token(
        &self,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<CachedToken, RegistryError> {
        let what = if scopes.len() == 1 {
            format!("a token for {}", scopes[0])
        } else {
            format!("a token for {} repositories", scopes.len())
        };
        let malformed = |reason: String| RegistryError::Malformed {
            registry: call.registry.to_string(),
            request: what.clone(),
            reason,
        };
        let realm_url =
            Url::parse(realm).map_err(|e| malformed(format!("token realm {realm:?}: {e}")))?;
        let realm_host = realm_url.host_str().unwrap_or_default().to_string();
        let realm_authority = match realm_url.port() {
            Some(port) => format!("{realm_host}:{port}"),
            None => realm_host.clone(),
        };
        // Credentials go to the realm only over HTTPS, or over plain HTTP to the
        // registry's own host (a loopback registry with its token server beside it).
        let same_host = strip_port(&realm_authority).eq_ignore_ascii_case(strip_port(call.host));
        let credential = self.credential(call.registry)?.filter(|_| {
            realm_url.scheme() == "https"
                || (same_host && may_send_credentials(call.host, Scheme::Http))
        });
        if credential.is_none() && !same_host && realm_url.scheme() != "https" {
            tracing::debug!(realm = %realm_authority, "token realm is plain HTTP on another host: asking anonymously");
        }
        let handles = self.handles(&realm_authority)?;
        let request = match &credential {
            Some(Credential::IdentityToken(refresh_token)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh_token)
                    .append_pair("client_id", "tagwarden");
                for scope in scopes {
                    form.append_pair("scope", scope);
                }
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                handles
                    .http
                    .post(realm_url.clone())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.finish())
            }
            other => {
                let mut url = realm_url.clone();
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in scopes {
                        query.append_pair("scope", scope);
                    }
                }
                let mut request = handles.http.get(url);
                if let Some(Credential::Basic { username, password }) = other
                    && let Some(value) = basic_header(username, password)
                {
                    request = request.header(header::AUTHORIZATION, value);
                }
                request
            }
        };
        let started = Instant::now();
        let mut attempt = 0;
        let (status, body) = loop {
            attempt += 1;
            let sent = request
                .try_clone()
                .expect("token request bodies are strings")
                .send()
                .await;
            let failure = match sent {
                Ok(r) if !r.status().is_server_error() => {
                    let status = r.status();
                    match read_limited(r).await {
                        Ok(body) => break (status, body),
                        Err(BodyError::TooLarge) => {
                            return Err(malformed("the token answer is too large".into()));
                        }
                        Err(BodyError::Read(e)) => describe_transport_error(&e),
                    }
                }
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => describe_transport_error(&e),
            };
            if self.give_up(attempt, started, None) {
                return Err(RegistryError::Unreachable {
                    registry: call.registry.to_string(),
                    request: format!("{what} from {realm_authority}"),
                    reason: failure,
                });
            }
            tokio::time::sleep(backoff(attempt)).await;
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Denied {
                registry: call.registry.to_string(),
                request: format!("{what} (token server {realm_authority})"),
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        if !status.is_success() {
            return Err(malformed(format!(
                "the token server {realm_authority} answered HTTP {}",
                status.as_u16()
            )));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| malformed(format!("the token answer is not valid JSON: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| malformed("the token answer has no token".into()))?;
        // Registries must honour tokens for at least 60 s when they do not say.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(1));
        let margin = Duration::from_secs(5).min(lifetime / 2);
        Ok(CachedToken {
            token,
            expires: Instant::now() + lifetime - margin,
        })
    }
}

enum Exchange {
    /// The registry answered; the flag says whether the request carried credentials.
    Answer(StatusCode, HeaderMap, Bytes, bool),
    /// A transient failure: worth another attempt.
    Failed(String),
    /// A failure another attempt cannot fix.
    Fatal(String),
}

/// What Go's TLS server (and so the distribution registry) answers to plain HTTP.
fn speaks_only_tls(body: &[u8]) -> bool {
    body.windows(31)
        .any(|w| w.eq_ignore_ascii_case(b"HTTP request to an HTTPS server"))
}

/// The most tagwarden reads of one answer (manifests and tag lists are far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

fn build_http(
    options: &ClientOptions,
    verify: bool,
    extra_roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(options.user_agent.clone())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        // reqwest drops Authorization when a redirect leaves the host.
        .redirect(reqwest::redirect::Policy::limited(5))
        .tls_danger_accept_invalid_certs(!verify);
    if !extra_roots.is_empty() {
        builder = builder.tls_certs_merge(extra_roots);
    }
    builder
        .build()
        .map_err(|e| RegistryError::Config(format!("cannot set up HTTPS: {e}")))
}

fn load_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let pem = std::fs::read(path).map_err(|e| {
        RegistryError::Config(format!("cannot read CA file {}: {e}", path.display()))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        RegistryError::Config(format!("CA file {} is not PEM: {e}", path.display()))
    })?;
    if certs.is_empty() {
        return Err(RegistryError::Config(format!(
            "CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn host_listed(list: &[String], host: &str) -> bool {
    list.iter()
        .any(|h| h.eq_ignore_ascii_case(host) || strip_port(host).eq_ignore_ascii_case(h))
}

/// Credentials go over TLS, or to loopback; never in clear text across a network.
fn may_send_credentials(host: &str, scheme: Scheme) -> bool {
    scheme == Scheme::Https || is_loopback(host)
}

pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn basic_header(username: &str, password: &str) -> Option<HeaderValue> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn parse_challenge(header_value: &str) -> Option<HostAuth> {
    let challenges = http_auth::parse_challenges(header_value).ok()?;
    // Prefer Bearer (scoped, short-lived) over Basic when a registry offers both.
    let mut basic = false;
    for challenge in challenges {
        if challenge.scheme.eq_ignore_ascii_case("bearer") {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm")?;
            return Some(HostAuth::Bearer {
                realm,
                service: param("service"),
            });
        }
        if challenge.scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    basic.then_some(HostAuth::Basic)
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The registry's JSON error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

fn error_entries(body: &[u8]) -> Vec<ErrorEntry> {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.code.is_empty())
        .collect()
}

/// A short, printable message from a JSON error body (`MANIFEST_UNKNOWN: manifest unknown`).
fn error_message(body: &[u8]) -> Option<String> {
    let first = error_entries(body).into_iter().next()?;
    Some(
        format!("{}: {}", first.code, first.message)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
    )
}

fn denied(call: &Call<'_>, status: StatusCode, body: &[u8]) -> RegistryError {
    RegistryError::Denied {
        registry: call.registry.to_string(),
        request: call.what.clone(),
        status: status.as_u16(),
        message: error_message(body),
    }
}

fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?;
    // Only the delta-seconds form; an HTTP date is treated as "no hint".
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with jitter: ~200 ms, ~400 ms, ~800 ms …
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(6));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 2 + 1))
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // The innermost cause says the most ("Connection refused", "invalid peer certificate").
    let mut cause: Option<&dyn std::error::Error> = error.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_string(),
    }
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
    fn challenge_parsing() {
        match parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
        ) {
            Some(HostAuth::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(HostAuth::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(
            backoff(1) >= Duration::from_millis(200) && backoff(1) < Duration::from_millis(400)
        );
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(60) <= Duration::from_millis(200 * 64 * 2));
    }

    #[test]
    fn credentials_never_travel_in_clear_text_across_a_network() {
        assert!(may_send_credentials("ghcr.io", Scheme::Https));
        assert!(may_send_credentials("10.0.0.5:5000", Scheme::Https));
        assert!(!may_send_credentials("10.0.0.5:5000", Scheme::Http));
        assert!(!may_send_credentials("registry.local", Scheme::Http));
        assert!(may_send_credentials("127.0.0.1:5000", Scheme::Http));
        assert!(may_send_credentials("localhost:5000", Scheme::Http));
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

    #[test]
    fn error_bodies_become_short_messages() {
        let body = br#"{"errors":[{"code":"DENIED","message":"no\naccess"}]}"#;
        assert_eq!(error_message(body).as_deref(), Some("DENIED: noaccess"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
