//! The Distribution API client: transport, authentication and the read operations
//! tagwarden needs (HEAD/GET manifest, list tags, GET blob).
//!
//! Layering follows go-containerregistry: a [`Repository`] names what to ask about, the
//! [`Client`] owns one pooled HTTP client, the per-host scheme (https, or plain http for
//! loopback and `--insecure-registry` hosts), the authentication state and the tokens, and
//! each operation classifies the registry's answer into found / missing / could not decide.
//!
//! Authentication follows the registry's `WWW-Authenticate` challenge:
//!
//! - `Bearer realm=…,service=…` → a token from the realm for `repository:NAME:pull`,
//!   anonymous or with the user's credentials, cached per (host, scope) until it expires;
//! - `Basic` → the user's credentials on every request to that host.
//!
//! Once a host's challenge is known, later requests to it authenticate up front, so a
//! repository costs one token request, not a 401 round trip per request.
//!
//! Credentials never travel over plain HTTP to a host that is not on loopback, never to a
//! token realm on another host unless the realm is HTTPS, and never across a redirect to
//! another host (reqwest drops `Authorization` on such redirects).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tagwarden_core::Reference;
use tokio::sync::Semaphore;
use url::Url;

use crate::credentials::{Credential, CredentialStore};
use crate::error::{Lookup, Missing, RegistryError};

/// Every manifest media type tagwarden understands, for `Accept`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The repository part of a reference: which registry to ask and what to ask about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The registry as users name it (`docker.io`, `127.0.0.1:5000`); used for
    /// credentials and messages.
    pub registry: String,
    /// The host the API lives on (`registry-1.docker.io` for `docker.io`).
    pub api_host: String,
    /// The normalised repository path (`library/busybox`).
    pub name: String,
}

impl Repository {
    /// The repository a parsed reference points at.
    pub fn of(reference: &Reference) -> Self {
        Self {
            registry: reference.registry().to_string(),
            api_host: reference.api_host().to_string(),
            name: reference.repository().to_string(),
        }
    }
}

/// What a manifest HEAD (or GET) tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `sha256:…` from `Docker-Content-Digest` (or computed from the body).
    pub digest: String,
    /// The `Content-Type` of the manifest.
    pub media_type: String,
}

/// A manifest with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub body: Vec<u8>,
}

/// How a [`Client`] behaves. `Default` is what the CLI uses without flags.
#[derive(Debug)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) that may use plain HTTP and unverified TLS, like
    /// Docker's `insecure-registries`. Loopback hosts always may.
    pub insecure_registries: Vec<String>,
    /// Where credentials come from.
    pub credentials: CredentialStore,
    /// Timeout for a whole request.
    pub request_timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts for an idempotent request that failed transiently (connection error,
    /// timeout, 429, 5xx). At least 1.
    pub max_attempts: u32,
    /// Upper bound of a single wait between attempts (`Retry-After` above it gives up).
    pub max_retry_wait: Duration,
    /// Concurrent requests per registry host.
    pub max_concurrency_per_registry: usize,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            credentials: CredentialStore::anonymous(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 3,
            max_retry_wait: Duration::from_secs(10),
            max_concurrency_per_registry: 8,
            user_agent: concat!("tagwarden/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

#[derive(Debug, Clone)]
enum HostAuth {
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
struct State {
    schemes: HashMap<String, Scheme>,
    auth: HashMap<String, HostAuth>,
    tokens: HashMap<(String, String), CachedToken>,
    limits: HashMap<String, Arc<Semaphore>>,
}

/// A registry client. Cheap to clone; clones share connections, tokens and limits.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    options: ClientOptions,
    state: Mutex<State>,
}

/// A request as the retry loop sees it.
struct Call<'a> {
    repo: &'a Repository,
    method: Method,
    /// Path and query below the host, e.g. `/v2/library/busybox/manifests/1.36`.
    path: String,
    accept: Option<&'a str>,
    /// For messages: `HEAD clastix/kubectl:v1.32`.
    what: String,
}

impl Client {
    /// Build a client.
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let build = |verify: bool| {
            reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                .connect_timeout(options.connect_timeout)
                .timeout(options.request_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .redirect(reqwest::redirect::Policy::limited(5))
                .tls_danger_accept_invalid_certs(!verify)
                .build()
                .map_err(|e| RegistryError::Config(format!("cannot build the HTTP client: {e}")))
        };
        Ok(Self {
            inner: Arc::new(Inner {
                verified: build(true)?,
                unverified: build(false)?,
                state: Mutex::new(State::default()),
                options,
            }),
        })
    }

    /// HEAD a manifest by tag or digest. Free on Docker Hub's pull rate limit.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<ManifestHead>, RegistryError> {
        let call = Call {
            repo,
            method: Method::HEAD,
            path: format!("/v2/{}/manifests/{}", repo.name, reference),
            accept: Some(MANIFEST_ACCEPT),
            what: format!("HEAD {}{}", repo.name, sep_ref(reference)),
        };
        let response = match self.send(&call).await? {
            Lookup::Found(r) => r,
            Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
        };
        let media_type = content_type(response.headers());
        match header_str(response.headers(), "docker-content-digest") {
            Some(digest) => {
                check_digest_syntax(repo, &call.what, &digest)?;
                Ok(Lookup::Found(ManifestHead { digest, media_type }))
            }
            // Some registries omit the digest on HEAD: a GET computes it from the body.
            None => Ok(match self.get_manifest(repo, reference).await? {
                Lookup::Found(m) => Lookup::Found(ManifestHead {
                    digest: m.digest,
                    media_type: m.media_type,
                }),
                Lookup::Missing(m) => Lookup::Missing(m),
            }),
        }
    }

    /// GET a manifest by tag or digest, verifying the body against its digest.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<Manifest>, RegistryError> {
        let call = Call {
            repo,
            method: Method::GET,
            path: format!("/v2/{}/manifests/{}", repo.name, reference),
            accept: Some(MANIFEST_ACCEPT),
            what: format!("GET {}{}", repo.name, sep_ref(reference)),
        };
        let response = match self.send(&call).await? {
            Lookup::Found(r) => r,
            Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
        };
        let media_type = content_type(response.headers());
        let header_digest = header_str(response.headers(), "docker-content-digest");
        let body = read_body(repo, &call.what, response).await?;
        let computed = format!("sha256:{:x}", Sha256::digest(&body));
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != computed
        {
            return Err(RegistryError::Malformed {
                registry: repo.registry.clone(),
                request: call.what,
                reason: format!("the manifest body hashes to {computed}, not {expected}"),
            });
        }
        Ok(Lookup::Found(Manifest {
            digest: computed,
            media_type,
            body,
        }))
    }

    /// GET a blob (an image config, say), verifying it against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Lookup<Vec<u8>>, RegistryError> {
        let call = Call {
            repo,
            method: Method::GET,
            path: format!("/v2/{}/blobs/{}", repo.name, digest),
            accept: None,
            what: format!("GET blob {}@{}", repo.name, digest),
        };
        let response = match self.send(&call).await? {
            Lookup::Found(r) => r,
            Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
        };
        let body = read_body(repo, &call.what, response).await?;
        if let Some(hex) = digest.strip_prefix("sha256:") {
            let computed = format!("{:x}", Sha256::digest(&body));
            if computed != hex {
                return Err(RegistryError::Malformed {
                    registry: repo.registry.clone(),
                    request: call.what,
                    reason: format!("the blob hashes to sha256:{computed}"),
                });
            }
        }
        Ok(Lookup::Found(body))
    }

    /// All tags of a repository, following `Link: <…>; rel="next"` pagination until the
    /// registry says there are no more. Missing when the repository does not exist.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Lookup<Vec<String>>, RegistryError> {
        const MAX_PAGES: usize = 10_000;
        let mut tags = Vec::new();
        let mut path = format!("/v2/{}/tags/list", repo.name);
        let mut seen = std::collections::HashSet::new();
        for page in 0.. {
            if page == MAX_PAGES || !seen.insert(path.clone()) {
                return Err(RegistryError::Malformed {
                    registry: repo.registry.clone(),
                    request: format!("GET {} tags", repo.name),
                    reason: format!("tag pagination does not end (page {page}, next {path})"),
                });
            }
            let call = Call {
                repo,
                method: Method::GET,
                path: path.clone(),
                accept: Some("application/json"),
                what: format!("GET {} tags (page {})", repo.name, page + 1),
            };
            let response = match self.send(&call).await? {
                Lookup::Found(r) => r,
                Lookup::Missing(m) if page == 0 => return Ok(Lookup::Missing(m)),
                Lookup::Missing(m) => {
                    return Err(RegistryError::Malformed {
                        registry: repo.registry.clone(),
                        request: call.what,
                        reason: format!("a later page of the tag list vanished ({m})"),
                    });
                }
            };
            let next = next_link(response.headers())
                .map(|link| same_host_path(repo, &call, &link))
                .transpose()?;
            let body = read_body(repo, &call.what, response).await?;
            #[derive(Deserialize)]
            struct TagPage {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page_tags: TagPage =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Malformed {
                    registry: repo.registry.clone(),
                    request: call.what.clone(),
                    reason: format!("the tag list is not valid JSON: {e}"),
                })?;
            tags.extend(page_tags.tags.unwrap_or_default());
            match next {
                Some(next) => path = next,
                None => break,
            }
        }
        Ok(Lookup::Found(tags))
    }

    fn scheme_state(&self, host: &str) -> (Option<Scheme>, bool) {
        let insecure = self.is_insecure(host);
        let state = self.inner.state.lock().expect("client state poisoned");
        (state.schemes.get(host).copied(), insecure)
    }

    fn is_insecure(&self, host: &str) -> bool {
        is_loopback(host)
            || self
                .inner
                .options
                .insecure_registries
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host) || strip_port(h).eq_ignore_ascii_case(host))
    }

    fn limit(&self, host: &str) -> Arc<Semaphore> {
        let mut state = self.inner.state.lock().expect("client state poisoned");
        state
            .limits
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.inner.options.max_concurrency_per_registry.max(1),
                ))
            })
            .clone()
    }

    /// Send a request with retries and authentication. 2xx → `Found(response)`,
    /// 404 → `Missing`, everything else → an error that says why we could not decide.
    async fn send(&self, call: &Call<'_>) -> Result<Lookup<Response>, RegistryError> {
        let host = call.repo.api_host.as_str();
        let _permit = self
            .limit(host)
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let options = &self.inner.options;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let outcome = self.send_once(call).await;
            let retry_after = match outcome {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(Lookup::Found(response));
                    }
                    if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                        // Learn the challenge (or a fresh token) and try again once.
                        reauthenticated = true;
                        let challenge = header_str(response.headers(), "www-authenticate");
                        if self.learn_challenge(call, challenge.as_deref()).await? {
                            attempt -= 1;
                            continue;
                        }
                        return Err(denied(call, response).await);
                    }
                    match status {
                        StatusCode::NOT_FOUND => {
                            return Ok(Lookup::Missing(missing_from(response).await));
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(denied(call, response).await);
                        }
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = retry_after_header(response.headers());
                            if attempt >= options.max_attempts
                                || wait.is_some_and(|w| w > options.max_retry_wait)
                            {
                                let message = error_message(response).await;
                                return Err(RegistryError::RateLimited {
                                    registry: call.repo.registry.clone(),
                                    request: call.what.clone(),
                                    message,
                                });
                            }
                            wait
                        }
                        s if s.is_server_error() => {
                            let wait = retry_after_header(response.headers());
                            if attempt >= options.max_attempts
                                || wait.is_some_and(|w| w > options.max_retry_wait)
                            {
                                let message = error_message(response).await;
                                return Err(RegistryError::Unreachable {
                                    registry: call.repo.registry.clone(),
                                    request: call.what.clone(),
                                    reason: format!(
                                        "HTTP {}{}",
                                        s.as_u16(),
                                        message.map(|m| format!(": {m}")).unwrap_or_default()
                                    ),
                                });
                            }
                            wait
                        }
                        other => {
                            let message = error_message(response).await;
                            return Err(RegistryError::Malformed {
                                registry: call.repo.registry.clone(),
                                request: call.what.clone(),
                                reason: format!(
                                    "unexpected HTTP {}{}",
                                    other.as_u16(),
                                    message.map(|m| format!(": {m}")).unwrap_or_default()
                                ),
                            });
                        }
                    }
                }
                Err(error) => {
                    if attempt >= options.max_attempts {
                        return Err(RegistryError::Unreachable {
                            registry: call.repo.registry.clone(),
                            request: call.what.clone(),
                            reason: describe_transport_error(&error),
                        });
                    }
                    None
                }
            };
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            tracing::debug!(request = %call.what, attempt, ?wait, "retrying");
            tokio::time::sleep(wait.min(options.max_retry_wait)).await;
        }
    }

    /// One HTTP exchange, choosing the scheme for the host (https first; plain http for
    /// loopback and insecure hosts when https cannot connect).
    async fn send_once(&self, call: &Call<'_>) -> Result<Response, reqwest::Error> {
        let host = call.repo.api_host.as_str();
        let (known, insecure) = self.scheme_state(host);
        let schemes: &[Scheme] = match (known, insecure) {
            (Some(s), _) => match s {
                Scheme::Https => &[Scheme::Https],
                Scheme::Http => &[Scheme::Http],
            },
            (None, true) => &[Scheme::Https, Scheme::Http],
            (None, false) => &[Scheme::Https],
        };
        let mut last_error = None;
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
            let client = if insecure {
                &self.inner.unverified
            } else {
                &self.inner.verified
            };
            let mut request = client.request(call.method.clone(), &url);
            if let Some(accept) = call.accept {
                request = request.header(header::ACCEPT, accept);
            }
            if let Some(authorization) = self.authorization(call, scheme).await {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            match request.send().await {
                Ok(response) => {
                    if known.is_none() {
                        let mut state = self.inner.state.lock().expect("client state poisoned");
                        state.schemes.insert(host.to_string(), scheme);
                    }
                    return Ok(response);
                }
                Err(error) => {
                    tracing::debug!(%url, error = %describe_transport_error(&error), "request failed");
                    let can_fall_back = error.is_connect() && scheme == Scheme::Https;
                    last_error = Some(error);
                    if !can_fall_back {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("at least one scheme was tried"))
    }

    /// The `Authorization` header for a call, if the host's challenge is known.
    async fn authorization(&self, call: &Call<'_>, scheme: Scheme) -> Option<HeaderValue> {
        let host = call.repo.api_host.as_str();
        let auth = {
            let state = self.inner.state.lock().expect("client state poisoned");
            state.auth.get(host).cloned()
        }?;
        match auth {
            HostAuth::Basic => {
                if !self.may_send_credentials(host, scheme) {
                    return None;
                }
                match self.credential(&call.repo.registry) {
                    Some(Credential::Basic { username, password }) => {
                        basic_header(&username, &password)
                    }
                    _ => None,
                }
            }
            HostAuth::Bearer { .. } => {
                let scope = pull_scope(&call.repo.name);
                let state = self.inner.state.lock().expect("client state poisoned");
                let token = state.tokens.get(&(host.to_string(), scope))?;
                if token.expires <= Instant::now() {
                    return None;
                }
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.token)).ok()?;
                value.set_sensitive(true);
                Some(value)
            }
        }
    }

    fn credential(&self, registry: &str) -> Option<Credential> {
        self.inner
            .options
            .credentials
            .lookup(registry)
            .map(|(cred, _)| cred.clone())
    }

    /// Credentials go over TLS, or to loopback; never in clear text across a network.
    fn may_send_credentials(&self, host: &str, scheme: Scheme) -> bool {
        scheme == Scheme::Https || is_loopback(host)
    }

    /// React to a 401: remember the host's challenge and fetch a token when it is Bearer.
    /// Returns true when a retry may now succeed.
    async fn learn_challenge(
        &self,
        call: &Call<'_>,
        challenge: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let Some(challenge) = challenge else {
            return Ok(false);
        };
        let host = call.repo.api_host.as_str();
        let parsed = parse_challenge(challenge).ok_or_else(|| RegistryError::Malformed {
            registry: call.repo.registry.clone(),
            request: call.what.clone(),
            reason: format!("cannot parse the WWW-Authenticate challenge {challenge:?}"),
        })?;
        match parsed {
            HostAuth::Basic => {
                let had_basic = {
                    let mut state = self.inner.state.lock().expect("client state poisoned");
                    matches!(
                        state.auth.insert(host.to_string(), HostAuth::Basic),
                        Some(HostAuth::Basic)
                    )
                };
                let (scheme, _) = self.scheme_state(host);
                let can_answer = matches!(
                    self.credential(&call.repo.registry),
                    Some(Credential::Basic { .. })
                ) && self
                    .may_send_credentials(host, scheme.unwrap_or(Scheme::Https));
                // If we already sent Basic credentials and got 401, they are wrong.
                Ok(can_answer && !had_basic)
            }
            HostAuth::Bearer { realm, service } => {
                {
                    let mut state = self.inner.state.lock().expect("client state poisoned");
                    state.auth.insert(
                        host.to_string(),
                        HostAuth::Bearer {
                            realm: realm.clone(),
                            service: service.clone(),
                        },
                    );
                }
                self.fetch_token(call, &realm, service.as_deref()).await?;
                Ok(true)
            }
        }
    }

    /// Get a pull token for the call's repository from the realm and cache it.
    async fn fetch_token(
        &self,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
    ) -> Result<(), RegistryError> {
        let host = call.repo.api_host.as_str();
        let scope = pull_scope(&call.repo.name);
        let what = format!("token for {scope}");
        let malformed = |reason: String| RegistryError::Malformed {
            registry: call.repo.registry.clone(),
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
        let realm_is_https = realm_url.scheme() == "https";
        // Credentials go to the realm only over HTTPS, or on loopback, or to the
        // registry's own host over the same scheme it already uses.
        let same_host = strip_port(&realm_authority).eq_ignore_ascii_case(strip_port(host));
        let credential = self.credential(&call.repo.registry).filter(|_| {
            realm_is_https || is_loopback(&realm_authority) || (same_host && is_loopback(host))
        });
        let insecure = self.is_insecure(&realm_authority);
        let client = if insecure {
            &self.inner.unverified
        } else {
            &self.inner.verified
        };
        let request = match &credential {
            Some(Credential::IdentityToken(refresh_token)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh_token)
                    .append_pair("client_id", "tagwarden")
                    .append_pair("scope", &scope);
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                client
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
                    query.append_pair("scope", &scope);
                }
                let mut request = client.get(url);
                if let Some(Credential::Basic { username, password }) = other
                    && let Some(value) = basic_header(username, password)
                {
                    request = request.header(header::AUTHORIZATION, value);
                }
                request
            }
        };
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            match request
                .try_clone()
                .expect("token request body is a string")
                .send()
                .await
            {
                Ok(r)
                    if r.status().is_server_error()
                        && attempt < self.inner.options.max_attempts => {}
                Ok(r) => break r,
                Err(e) if attempt < self.inner.options.max_attempts => {
                    tracing::debug!(error = %describe_transport_error(&e), "token request failed, retrying");
                }
                Err(e) => {
                    return Err(RegistryError::Unreachable {
                        registry: call.repo.registry.clone(),
                        request: format!("{what} from {realm_authority}"),
                        reason: describe_transport_error(&e),
                    });
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Denied {
                registry: call.repo.registry.clone(),
                request: format!("{what} (token server {realm_authority})"),
                status: status.as_u16(),
                message: error_message(response).await,
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Unreachable {
                registry: call.repo.registry.clone(),
                request: format!("{what} from {realm_authority}"),
                reason: format!("HTTP {}", status.as_u16()),
            });
        }
        let body = read_body(call.repo, &what, response).await?;
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
        let expires = Instant::now()
            + lifetime
                .saturating_sub(Duration::from_secs(5))
                .max(Duration::from_secs(1));
        let mut state = self.inner.state.lock().expect("client state poisoned");
        state
            .tokens
            .insert((host.to_string(), scope), CachedToken { token, expires });
        Ok(())
    }
}

fn sep_ref(reference: &str) -> String {
    if reference.contains(':') {
        format!("@{reference}")
    } else {
        format!(":{reference}")
    }
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn basic_header(username: &str, password: &str) -> Option<HeaderValue> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
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

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn content_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

fn check_digest_syntax(repo: &Repository, what: &str, digest: &str) -> Result<(), RegistryError> {
    let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }) || digest.strip_prefix("sha512:").is_some_and(|hex| {
        hex.len() == 128 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if valid {
        Ok(())
    } else {
        Err(RegistryError::Malformed {
            registry: repo.registry.clone(),
            request: what.to_string(),
            reason: format!("Docker-Content-Digest {digest:?} is not a valid digest"),
        })
    }
}

async fn read_body(
    repo: &Repository,
    what: &str,
    response: Response,
) -> Result<Vec<u8>, RegistryError> {
    const MAX_BODY: usize = 16 * 1024 * 1024;
    if response
        .content_length()
        .is_some_and(|len| len as usize > MAX_BODY)
    {
        return Err(RegistryError::Malformed {
            registry: repo.registry.clone(),
            request: what.to_string(),
            reason: format!("the answer is larger than {MAX_BODY} bytes"),
        });
    }
    response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| RegistryError::Unreachable {
            registry: repo.registry.clone(),
            request: what.to_string(),
            reason: format!(
                "reading the answer failed: {}",
                describe_transport_error(&e)
            ),
        })
}

/// The registry's JSON error body, as a short message (`MANIFEST_UNKNOWN: manifest unknown`).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

async fn error_body(response: Response) -> Option<ErrorBody> {
    let bytes = response.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn error_message(response: Response) -> Option<String> {
    let body = error_body(response).await?;
    let first = body.errors.into_iter().next()?;
    let message: String = format!("{}: {}", first.code, first.message)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Some(message)
}

async fn missing_from(response: Response) -> Missing {
    let code = error_body(response)
        .await
        .and_then(|b| b.errors.into_iter().next())
        .map(|e| e.code)
        .filter(|c| !c.is_empty());
    Missing { code }
}

async fn denied(call: &Call<'_>, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    RegistryError::Denied {
        registry: call.repo.registry.clone(),
        request: call.what.clone(),
        status,
        message: error_message(response).await,
    }
}

fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?;
    // Only the delta-seconds form; an HTTP date is treated as "no hint".
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with jitter: ~200 ms, ~400 ms, ~800 ms …
fn backoff(attempt: u32) -> Duration {
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

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut pieces = link.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next && target.starts_with('<') && target.ends_with('>') {
                return Some(target[1..target.len() - 1].to_string());
            }
        }
    }
    None
}

/// Turn a `Link` target into a path on the registry host; refuse other hosts, so
/// pagination can never carry credentials elsewhere.
fn same_host_path(repo: &Repository, call: &Call<'_>, link: &str) -> Result<String, RegistryError> {
    let base = Url::parse(&format!("http://{}{}", repo.api_host, call.path))
        .map_err(|e| RegistryError::Config(format!("bad URL for {}: {e}", repo.api_host)))?;
    let target = base.join(link).map_err(|e| RegistryError::Malformed {
        registry: repo.registry.clone(),
        request: call.what.clone(),
        reason: format!("bad Link header {link:?}: {e}"),
    })?;
    let authority = match target.port() {
        Some(port) => format!("{}:{port}", target.host_str().unwrap_or_default()),
        None => target.host_str().unwrap_or_default().to_string(),
    };
    let link_is_relative = !link.contains("://");
    if !link_is_relative && !authority.eq_ignore_ascii_case(&repo.api_host) {
        return Err(RegistryError::Malformed {
            registry: repo.registry.clone(),
            request: call.what.clone(),
            reason: format!("the next page is on another host ({authority}); refusing to follow"),
        });
    }
    Ok(match target.query() {
        Some(query) => format!("{}?{}", target.path(), query),
        None => target.path().to_string(),
    })
}

fn strip_port(authority: &str) -> &str {
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
    fn link_header_parsing() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static("</v2/a/tags/list?last=x&n=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        headers.insert(
            header::LINK,
            HeaderValue::from_static("<https://h/x>; rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
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
}
