//! A programmable, fault-injecting HTTP proxy in front of a registry.
//!
//! # Why
//!
//! Real registries fail in ways a healthy test registry never does, and a
//! registry client is only trustworthy if each of these has a test:
//!
//! - **rate limits**: Docker Hub answers `429 Too Many Requests` with
//!   `TOOMANYREQUESTS` once an IP or account used up its pulls, and sends
//!   `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 99;w=21600` and
//!   `docker-ratelimit-source` on manifest answers; GHCR, Quay and ECR send
//!   `429` or `503` with `Retry-After` under load ([`Fault::too_many_requests`],
//!   [`Fault::Header`]);
//! - **server errors**: `500`/`502`/`503` from a registry behind a load
//!   balancer during a deploy or a storage hiccup ([`Fault::status`]);
//! - **slow answers**: a cold CDN edge or an overloaded mirror
//!   ([`Fault::Delay`], [`FaultProxy::set_latency`]);
//! - **connection resets**: an idle keep-alive connection closed by a load
//!   balancer just as the client reuses it, or a proxy killing the stream
//!   ([`Fault::Reset`]);
//! - **truncated bodies**: a connection cut mid-body; the client got fewer
//!   bytes than `Content-Length` promised ([`Fault::Truncate`]);
//! - **wrong bytes**: a caching proxy or mirror serving stale or damaged
//!   content; only checking the body's sha256 against the digest catches it
//!   ([`Fault::WrongDigest`], [`Fault::CorruptBody`]);
//! - **redirects**: Docker Hub, GHCR and ECR answer blob (and some manifest)
//!   GETs with `307` to an object store or CDN on another host; a client must
//!   not send its `Authorization` there ([`Fault::Redirect`], with a
//!   [`crate::CaptureServer`] as the target).
//!
//! # What it does
//!
//! By default everything passes through unchanged, like [`crate::PagingProxy`]:
//! method, target, body and headers (including `Authorization` both ways and
//! the client's `Host`, so the absolute `Location` URLs the registry builds
//! point back at the proxy; for an HTTPS upstream the proxy adds
//! `X-Forwarded-Proto: http` so they also keep the proxy's scheme). Only
//! hop-by-hop headers are dropped, and redirects are not followed. The
//! listener is plain HTTP on `127.0.0.1`; the upstream may be `http://` or
//! `https://` (verified with the given CA file).
//!
//! [`Rule`]s change that. For each request the rules are tried in the order
//! they were added; the **first** one whose method and path match and whose
//! `times` is not used up applies, and no other. `path_contains` is matched
//! against the request target, path and query. Each application counts
//! ([`FaultProxy::hits`]).
//!
//! A global [`FaultProxy::set_latency`] delay is added to every request
//! before anything else (the issue's benchmark puts 5 ms on each request).
//!
//! Every request is recorded ([`ProxyRequest`]): method, target, whether an
//! `Authorization` header came (its value only after
//! [`FaultProxy::record_authorization_values`]) and which rule applied. The most
//! requests handled at once is counted too ([`FaultProxy::max_in_flight`]), to test a
//! client's concurrency limit.
//!
//! ```no_run
//! use std::time::Duration;
//! use tagwarden_testbed::{Fault, FaultProxy, Registry, Rule, seed_standard};
//!
//! let registry = Registry::start();
//! seed_standard(&registry);
//! let proxy = FaultProxy::in_front_of(&registry);
//! let limited = proxy.add_rule(
//!     Rule::new(Fault::too_many_requests(1)).method("HEAD").path_contains("/manifests/").times(2),
//! );
//! proxy.set_latency(Duration::from_millis(5));
//! // ... point the client under test at proxy.url(), then:
//! assert_eq!(proxy.hits(limited), 2);
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::{self, Body, BoxError, Conn, Handler, Outcome, Server};

/// What a matching [`Rule`] does to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer at once with this status, these headers and this body; the
    /// registry never sees the request. See [`Fault::status`] and
    /// [`Fault::too_many_requests`] for realistic bodies.
    Status {
        /// HTTP status code.
        code: u16,
        /// Extra response headers, e.g. `("Retry-After", "1")`.
        headers: Vec<(String, String)>,
        /// The body, sent as is.
        body: Vec<u8>,
    },
    /// Wait this long, then forward normally: a slow registry.
    Delay(Duration),
    /// Close the TCP connection with a reset (RST) and no answer; the
    /// registry never sees the request.
    Reset,
    /// Forward, then send the status, the headers (with the original
    /// `Content-Length`, or the full length when the registry sent none) and
    /// only the first half of the body, and close the connection. A client
    /// sees an early end of body. Answers without a body pass unchanged.
    Truncate,
    /// Forward, but replace `Docker-Content-Digest` (or add one) with another,
    /// well-formed `sha256:` digest that does not match the body.
    WrongDigest,
    /// Forward, but change one byte of the body (same length, same headers):
    /// the case of one ASCII letter from the middle on (so JSON usually stays
    /// well-formed and only a digest check notices), or, in a body without
    /// letters there, the middle byte inverted. Empty bodies pass unchanged.
    CorruptBody,
    /// Answer `307 Temporary Redirect` with this `Location`; the registry
    /// never sees the request.
    Redirect {
        /// The absolute URL to send the client to.
        location: String,
    },
    /// Forward, and add this header to the answer.
    Header {
        /// Header name, e.g. `ratelimit-remaining`.
        name: String,
        /// Header value, e.g. `99;w=21600`.
        value: String,
    },
}

impl Fault {
    /// `code` with a Distribution-style error body, as registries send:
    /// `429` `TOOMANYREQUESTS`, `503` `UNAVAILABLE`, `401` `UNAUTHORIZED`,
    /// `403` `DENIED`, `404` `NOT_FOUND`, anything else `UNKNOWN`.
    pub fn status(code: u16) -> Fault {
        let (error, message) = match code {
            401 => ("UNAUTHORIZED", "authentication required"),
            403 => ("DENIED", "requested access to the resource is denied"),
            404 => ("NOT_FOUND", "not found"),
            429 => (
                "TOOMANYREQUESTS",
                "You have reached your pull rate limit. (injected by the tagwarden test bed)",
            ),
            503 => (
                "UNAVAILABLE",
                "service unavailable (injected by the tagwarden test bed)",
            ),
            _ => (
                "UNKNOWN",
                "unknown error (injected by the tagwarden test bed)",
            ),
        };
        let body = serde_json::to_vec(
            &serde_json::json!({ "errors": [{ "code": error, "message": message }] }),
        )
        .expect("JSON");
        Fault::Status {
            code,
            headers: vec![(
                "Content-Type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )],
            body,
        }
    }

    /// Docker Hub's rate-limit answer: `429` `TOOMANYREQUESTS` with
    /// `Retry-After: <seconds>`.
    pub fn too_many_requests(retry_after_secs: u64) -> Fault {
        Fault::status(429).with_header("Retry-After", &retry_after_secs.to_string())
    }

    /// `503` `UNAVAILABLE`, with `Retry-After` when given.
    pub fn unavailable(retry_after_secs: Option<u64>) -> Fault {
        match retry_after_secs {
            Some(s) => Fault::status(503).with_header("Retry-After", &s.to_string()),
            None => Fault::status(503),
        }
    }

    /// `401` with `WWW-Authenticate: Bearer realm="<realm>",service="<service>"`
    /// (and `,scope="<scope>"` when given): sends the client to a token realm
    /// of the test's choosing, e.g. a [`crate::CaptureServer`] on another host.
    pub fn bearer_challenge(realm: &str, service: &str, scope: Option<&str>) -> Fault {
        let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
        if let Some(scope) = scope {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        Fault::status(401).with_header("WWW-Authenticate", &challenge)
    }

    /// [`Fault::Redirect`] to `location`.
    pub fn redirect(location: &str) -> Fault {
        Fault::Redirect {
            location: location.to_string(),
        }
    }

    /// [`Fault::Header`] `name: value`.
    pub fn header(name: &str, value: &str) -> Fault {
        Fault::Header {
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    /// Panic with a clear message if this fault cannot be sent as HTTP.
    fn validate(&self) {
        match self {
            Fault::Status { code, headers, .. } => {
                StatusCode::from_u16(*code)
                    .unwrap_or_else(|e| panic!("Fault::Status: invalid status code {code}: {e}"));
                for (name, value) in headers {
                    header_pair(name, value);
                }
            }
            Fault::Redirect { location } => {
                header_pair("Location", location);
            }
            Fault::Header { name, value } => {
                header_pair(name, value);
            }
            Fault::Delay(_)
            | Fault::Reset
            | Fault::Truncate
            | Fault::WrongDigest
            | Fault::CorruptBody => {}
        }
    }

    /// A [`Fault::Status`] with one more header; other faults are unchanged.
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        if let Fault::Status { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }
}

/// When a [`Fault`] applies: method, path substring and how many times.
#[derive(Clone, Debug)]
pub struct Rule {
    fault: Fault,
    method: Option<String>,
    path_contains: Option<String>,
    times: Option<usize>,
}

impl Rule {
    /// `fault` for every request, forever, until narrowed down.
    pub fn new(fault: Fault) -> Rule {
        Rule {
            fault,
            method: None,
            path_contains: None,
            times: None,
        }
    }

    /// Only requests with this method (case-insensitive), e.g. `"HEAD"`.
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose target (path and query) contains `part`,
    /// e.g. `"/manifests/v1.32"`.
    pub fn path_contains(mut self, part: &str) -> Rule {
        self.path_contains = Some(part.to_string());
        self
    }

    /// Apply only to the first `n` matching requests, then let them pass
    /// (to the next rule, or to the registry): "fail twice, then recover".
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// The fault.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    fn matches(&self, method: &str, target: &str, hits: usize) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| target.contains(p))
            && self.times.is_none_or(|n| hits < n)
    }
}

/// Names a rule added with [`FaultProxy::add_rule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleId(usize);

/// One request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Path and query exactly as the client sent them.
    pub target: String,
    /// Whether an `Authorization` header came.
    pub authorization: bool,
    /// Its value, only when [`FaultProxy::record_authorization_values`] is on.
    pub authorization_value: Option<String>,
    /// The rule that applied, if any.
    pub rule: Option<RuleId>,
}

/// A running fault-injecting proxy on `127.0.0.1:<free port>`. Stops on drop.
pub struct FaultProxy {
    state: Arc<State>,
    server: Server,
}

struct ActiveRule {
    id: RuleId,
    rule: Rule,
    hits: usize,
}

struct State {
    /// `http(s)://host:port` of the upstream.
    upstream: String,
    https: bool,
    client: Client<HttpsConnector<HttpConnector>, Incoming>,
    rules: Mutex<Vec<ActiveRule>>,
    hits: Mutex<HashMap<RuleId, usize>>,
    next_id: AtomicUsize,
    latency_nanos: AtomicU64,
    record_auth: AtomicBool,
    requests: Mutex<Vec<ProxyRequest>>,
    /// Requests being handled right now, and the most at once since the last reset.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts one request in flight until dropped (whatever way the handler ends).
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultProxy {
    /// Listen on `127.0.0.1:<free port>` and forward to `upstream_url`
    /// (`http://host:port` or `https://host:port`). `ca` is the PEM file that
    /// verifies an HTTPS upstream (e.g. [`crate::Registry::ca_cert_path`]).
    ///
    /// # Panics
    ///
    /// If the URL is not `http(s)://`, if it is HTTPS and `ca` is `None`, if
    /// the CA file is unreadable, or if no port can be bound.
    pub fn start(upstream_url: &str, ca: Option<&Path>) -> FaultProxy {
        let upstream = url::Url::parse(upstream_url)
            .unwrap_or_else(|e| panic!("FaultProxy: bad upstream URL {upstream_url:?}: {e}"));
        let https = match upstream.scheme() {
            "http" => false,
            "https" => true,
            other => panic!("FaultProxy: upstream must be http:// or https://, got {other}://"),
        };
        assert!(
            !https || ca.is_some(),
            "FaultProxy: the upstream {upstream_url} is HTTPS: pass the CA that signed its \
             certificate (for a test-bed registry: registry.ca_cert_path())"
        );
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config(ca))
            .https_or_http()
            .enable_http1()
            .build();
        let state = Arc::new(State {
            upstream: upstream.origin().ascii_serialization(),
            https,
            client: Client::builder(TokioExecutor::new()).build(connector),
            rules: Mutex::new(Vec::new()),
            hits: Mutex::new(HashMap::new()),
            next_id: AtomicUsize::new(0),
            latency_nanos: AtomicU64::new(0),
            record_auth: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let server = Server::start(
            "fault-proxy",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Arc::clone(&state),
        );
        FaultProxy { state, server }
    }

    /// [`FaultProxy::start`] in front of `registry`, with its CA.
    pub fn in_front_of(registry: &crate::Registry) -> FaultProxy {
        FaultProxy::start(&registry.url(), registry.ca_cert_path())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The upstream origin, `http(s)://host:port`.
    pub fn upstream(&self) -> &str {
        &self.state.upstream
    }

    /// Add a rule after the existing ones.
    ///
    /// # Panics
    ///
    /// If the fault's status code, header names or header values are
    /// invalid (here, in the test, rather than later on the proxy's thread).
    pub fn add_rule(&self, rule: Rule) -> RuleId {
        rule.fault.validate();
        let id = RuleId(self.state.next_id.fetch_add(1, Ordering::SeqCst));
        lock(&self.state.hits).insert(id, 0);
        lock(&self.state.rules).push(ActiveRule { id, rule, hits: 0 });
        id
    }

    /// How many requests rule `id` was applied to (also after
    /// [`FaultProxy::clear_rules`]).
    ///
    /// # Panics
    ///
    /// If `id` is not from this proxy.
    pub fn hits(&self, id: RuleId) -> usize {
        *lock(&self.state.hits)
            .get(&id)
            .unwrap_or_else(|| panic!("{id:?} was not added to this proxy"))
    }

    /// Remove every rule: everything passes through again.
    pub fn clear_rules(&self) {
        lock(&self.state.rules).clear();
    }

    /// Add `latency` to every request from now on (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.state.latency_nanos.store(nanos, Ordering::SeqCst);
    }

    /// The current global latency.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.state.latency_nanos.load(Ordering::SeqCst))
    }

    /// Also record `Authorization` values (off by default, so that a test
    /// log never shows a credential by accident).
    pub fn record_authorization_values(&self, on: bool) {
        self.state.record_auth.store(on, Ordering::SeqCst);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.state.requests).clone()
    }

    /// Every request as `"METHOD target"`, the format of [`crate::PagingProxy::requests`].
    pub fn request_lines(&self) -> Vec<String> {
        lock(&self.state.requests)
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }

    /// The most requests the proxy was handling at once (from arrival until the answer's
    /// headers went back) since it started or since [`FaultProxy::reset_max_in_flight`].
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Start counting [`FaultProxy::max_in_flight`] afresh (from the requests in flight
    /// now).
    pub fn reset_max_in_flight(&self) {
        let now = self.state.in_flight.load(Ordering::SeqCst);
        self.state.max_in_flight.store(now, Ordering::SeqCst);
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Back to a plain pass-through proxy: no rules, no latency, no recorded
    /// requests, no hit counts.
    pub fn clear(&self) {
        self.clear_rules();
        self.clear_requests();
        self.set_latency(Duration::ZERO);
        lock(&self.state.hits).clear();
    }
}

impl State {
    /// The first applicable rule, counted as applied.
    fn pick(&self, method: &str, target: &str) -> Option<(RuleId, Fault)> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|r| r.rule.matches(method, target, r.hits))?;
        rule.hits += 1;
        *lock(&self.hits).entry(rule.id).or_insert(0) += 1;
        Some((rule.id, rule.rule.fault.clone()))
    }

    async fn forward(&self, mut req: Request<Incoming>, target: &str) -> Response<Body> {
        let uri: Uri = match format!("{}{target}", self.upstream).parse() {
            Ok(uri) => uri,
            Err(e) => {
                return server::dist_error(StatusCode::BAD_REQUEST, "UNSUPPORTED", &e.to_string());
            }
        };
        *req.uri_mut() = uri;
        server::strip_hop_by_hop(req.headers_mut());
        if self.https && !req.headers().contains_key("x-forwarded-proto") {
            req.headers_mut()
                .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        }
        match self.client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                server::strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.map_err(BoxError::from).boxed())
            }
            Err(e) => server::dist_error(
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                &format!("upstream {}: {e}", self.upstream),
            ),
        }
    }
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, conn: Conn) -> Outcome {
        let _in_flight = InFlight::enter(&self);
        let method = req.method().as_str().to_string();
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let auth = req.headers().get(header::AUTHORIZATION);
        let picked = self.pick(&method, &target);
        lock(&self.requests).push(ProxyRequest {
            method,
            target: target.clone(),
            authorization: auth.is_some(),
            authorization_value: auth
                .filter(|_| self.record_auth.load(Ordering::SeqCst))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            rule: picked.as_ref().map(|(id, _)| *id),
        });

        let latency = self.latency_nanos.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_nanos(latency)).await;
        }
        let Some((_, fault)) = picked else {
            return Ok(self.forward(req, &target).await);
        };
        match fault {
            Fault::Status {
                code,
                headers,
                body,
            } => Ok(status_response(code, &headers, body)),
            Fault::Redirect { location } => Ok(status_response(
                307,
                &[("Location".to_string(), location)],
                Vec::new(),
            )),
            Fault::Reset => Err(conn.reset()),
            Fault::Delay(d) => {
                tokio::time::sleep(d).await;
                Ok(self.forward(req, &target).await)
            }
            Fault::Header { name, value } => {
                let mut resp = self.forward(req, &target).await;
                let (name, value) = header_pair(&name, &value);
                resp.headers_mut().append(name, value);
                Ok(resp)
            }
            Fault::WrongDigest => {
                let mut resp = self.forward(req, &target).await;
                let original = resp
                    .headers()
                    .get("docker-content-digest")
                    .map(|v| v.as_bytes().to_vec())
                    .unwrap_or_default();
                let wrong = wrong_digest(&original);
                resp.headers_mut().insert(
                    "docker-content-digest",
                    HeaderValue::from_str(&wrong).expect("a digest is a valid header value"),
                );
                Ok(resp)
            }
            Fault::CorruptBody => {
                let resp = self.forward(req, &target).await;
                let (parts, body) = resp.into_parts();
                let mut bytes = match body.collect().await {
                    Ok(c) => c.to_bytes().to_vec(),
                    Err(_) => return Err(conn.reset()),
                };
                corrupt(&mut bytes);
                Ok(Response::from_parts(parts, server::full_body(bytes)))
            }
            Fault::Truncate => {
                let resp = self.forward(req, &target).await;
                let (mut parts, body) = resp.into_parts();
                let full = match body.collect().await {
                    Ok(c) => c.to_bytes(),
                    Err(_) => return Err(conn.reset()),
                };
                if full.is_empty() {
                    return Ok(Response::from_parts(parts, server::full_body(full)));
                }
                if !parts.headers.contains_key(header::CONTENT_LENGTH) {
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
                }
                Ok(Response::from_parts(parts, truncated_body(full)))
            }
        }
    }
}

fn status_response(code: u16, headers: &[(String, String)], body: Vec<u8>) -> Response<Body> {
    let status = StatusCode::from_u16(code)
        .unwrap_or_else(|e| panic!("Fault::Status: invalid status code {code}: {e}"));
    let mut resp = Response::new(server::full_body(body));
    *resp.status_mut() = status;
    for (name, value) in headers {
        let (name, value) = header_pair(name, value);
        resp.headers_mut().append(name, value);
    }
    resp
}

/// `name: value` as hyper types.
///
/// # Panics
///
/// If either is not valid in HTTP.
pub(crate) fn header_pair(name: &str, value: &str) -> (HeaderName, HeaderValue) {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(n), Ok(v)) => (n, v),
        _ => panic!("invalid HTTP header {name:?}: {value:?}"),
    }
}

/// The first half of `full`, then (once hyper has had time to flush it) a
/// body error, which makes hyper close the connection short of the
/// `Content-Length` it announced.
fn truncated_body(full: Bytes) -> Body {
    let half = full.slice(..full.len() / 2);
    let frames = futures::stream::iter([Ok::<_, BoxError>(Frame::data(half))]).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<Frame<Bytes>, BoxError>(
                "body truncated on purpose by the tagwarden test bed".into(),
            )
        }),
    );
    BodyExt::boxed(StreamBody::new(frames))
}

/// A well-formed digest that differs from `original` (a pure function of it).
fn wrong_digest(original: &[u8]) -> String {
    let mut seed = b"tagwarden-testbed wrong digest for ".to_vec();
    seed.extend_from_slice(original);
    crate::image::sha256_digest(&seed)
}

/// Change exactly one byte of `bytes` (see [`Fault::CorruptBody`]).
fn corrupt(bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let mid = bytes.len() / 2;
    match bytes[mid..].iter().position(u8::is_ascii_alphabetic) {
        Some(i) => bytes[mid + i] ^= 0x20,
        None => bytes[mid] ^= 0xff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_changes_one_byte_and_keeps_json_shape() {
        let original = br#"{"digest":"sha256:abcdef0123"}"#.to_vec();
        let mut changed = original.clone();
        corrupt(&mut changed);
        assert_eq!(changed.len(), original.len());
        let diffs = original
            .iter()
            .zip(&changed)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diffs, 1);
        assert!(serde_json::from_slice::<serde_json::Value>(&changed).is_ok());
        let mut digits = b"0123456789".to_vec();
        corrupt(&mut digits);
        assert_eq!(digits[5], b'5' ^ 0xff);
    }

    #[test]
    fn wrong_digest_is_well_formed_and_different() {
        let d = wrong_digest(b"sha256:00");
        assert!(d.starts_with("sha256:") && d.len() == 71, "{d}");
        assert_ne!(d, wrong_digest(b"sha256:01"));
    }

    #[test]
    fn rules_match_method_path_and_times() {
        let r = Rule::new(Fault::Reset)
            .method("head")
            .path_contains("/manifests/v1")
            .times(2);
        assert!(r.matches("HEAD", "/v2/a/manifests/v1.2", 0));
        assert!(r.matches("HEAD", "/v2/a/manifests/v1.2", 1));
        assert!(!r.matches("HEAD", "/v2/a/manifests/v1.2", 2));
        assert!(!r.matches("GET", "/v2/a/manifests/v1.2", 0));
        assert!(!r.matches("HEAD", "/v2/a/blobs/x", 0));
        assert!(Rule::new(Fault::Reset).matches("PATCH", "/", 1000));
    }
}
