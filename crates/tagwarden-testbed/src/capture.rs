//! An HTTP server that records what it is sent: the "other host" of the
//! credential-leak tests.
//!
//! # Why
//!
//! A registry client holds credentials for one registry, and must never hand
//! them to anyone else. The two ways they leak in practice:
//!
//! - **redirects**: Docker Hub, GHCR and ECR answer blob (and sometimes
//!   manifest) GETs with `307` to an object store or CDN on another host.
//!   A client that copies `Authorization` onto the redirected request sends
//!   the registry password to S3 or a CDN (and some object stores reject
//!   the request when it carries a header they did not sign).
//! - **token realms**: the `realm` of a `Bearer` challenge is chosen by the
//!   registry (or by anyone able to tamper with a plain-HTTP answer). A
//!   client that sends Basic credentials to any realm over plain HTTP, or
//!   to a realm on another host without TLS, gives them away.
//!
//! A [`CaptureServer`] stands in for that other host: point a redirect
//! ([`crate::Fault::Redirect`]) or a challenge ([`crate::Fault::bearer_challenge`])
//! at it and assert afterwards that no [`CapturedRequest`] had
//! `authorization: true`. It can listen on any loopback address, e.g.
//! `127.0.0.2`, which is a different *host* than `127.0.0.1`, not merely a
//! different port.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use crate::fault::header_pair;
use crate::server::{self, Conn, Handler, Outcome, Server};

/// The answer a [`CaptureServer`] gives to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body (also sent for `HEAD`'s `Content-Length`, without the bytes).
    pub body: Vec<u8>,
}

impl CaptureResponse {
    /// `status` with a JSON body and `Content-Type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> CaptureResponse {
        CaptureResponse {
            status,
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: serde_json::to_vec(value).expect("a JSON value serializes"),
        }
    }

    /// A token realm's answer: `200 {"token": token, "access_token": token, "expires_in": 300}`.
    pub fn token(token: &str) -> CaptureResponse {
        CaptureResponse::json(
            200,
            &serde_json::json!({ "token": token, "access_token": token, "expires_in": 300 }),
        )
    }

    /// An object store's answer: `200` with `bytes` as
    /// `application/octet-stream` (no `Docker-Content-Digest`: S3 and CDNs
    /// don't send one, the client must hash the bytes itself).
    pub fn bytes(bytes: &[u8]) -> CaptureResponse {
        CaptureResponse {
            status: 200,
            headers: vec![(
                "Content-Type".to_string(),
                "application/octet-stream".to_string(),
            )],
            body: bytes.to_vec(),
        }
    }

    /// Panic with a clear message if this cannot be sent as HTTP.
    fn validate(&self) {
        StatusCode::from_u16(self.status)
            .unwrap_or_else(|e| panic!("CaptureResponse: invalid status {}: {e}", self.status));
        for (name, value) in &self.headers {
            header_pair(name, value);
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> CaptureResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl Default for CaptureResponse {
    /// `200 {}`.
    fn default() -> Self {
        CaptureResponse::json(200, &serde_json::json!({}))
    }
}

/// One request a [`CaptureServer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Every header name, lower-case, in the order sent.
    pub header_names: Vec<String>,
    /// Whether an `Authorization` header came (its value is never kept).
    pub authorization: bool,
}

/// A running capture server. Stops on drop.
///
/// ```no_run
/// use tagwarden_testbed::{CaptureServer, Fault, FaultProxy, Registry, Rule};
///
/// let registry = Registry::start();
/// let blob_store = CaptureServer::serving(b"layer bytes");
/// let proxy = FaultProxy::in_front_of(&registry);
/// proxy.add_rule(Rule::new(Fault::redirect(&format!("{}/blob", blob_store.url())))
///     .path_contains("/blobs/"));
/// // ... let the client under test fetch a blob with credentials, then:
/// assert!(blob_store.requests().iter().all(|r| !r.authorization));
/// ```
pub struct CaptureServer {
    state: Arc<State>,
    server: Server,
}

struct State {
    response: Mutex<CaptureResponse>,
    requests: Mutex<Vec<CapturedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CaptureServer {
    /// On `127.0.0.1:<free port>`, answering `200 {}`.
    pub fn start() -> CaptureServer {
        CaptureServer::start_with(CaptureResponse::default())
    }

    /// On `127.0.0.1:<free port>`, answering `response`.
    pub fn start_with(response: CaptureResponse) -> CaptureServer {
        CaptureServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), response)
    }

    /// On `ip:<free port>` (e.g. `127.0.0.2`, another loopback host),
    /// answering `response`.
    ///
    /// # Panics
    ///
    /// If `ip:0` cannot be bound, or `response` has an invalid status or header.
    pub fn start_on(ip: IpAddr, response: CaptureResponse) -> CaptureServer {
        response.validate();
        let state = Arc::new(State {
            response: Mutex::new(response),
            requests: Mutex::new(Vec::new()),
        });
        let server = Server::start("capture-server", ip, Arc::clone(&state));
        CaptureServer { state, server }
    }

    /// A token realm that answers `{"token":"captured",…}` to everyone.
    pub fn token_realm() -> CaptureServer {
        CaptureServer::start_with(CaptureResponse::token("captured"))
    }

    /// A redirect target (an "object store") that serves `bytes`.
    pub fn serving(bytes: &[u8]) -> CaptureServer {
        CaptureServer::start_with(CaptureResponse::bytes(bytes))
    }

    /// Answer `response` from now on.
    ///
    /// # Panics
    ///
    /// If `response` has an invalid status or header.
    pub fn set_response(&self, response: CaptureResponse) {
        response.validate();
        *lock(&self.state.response) = response;
    }

    /// `IP:PORT`.
    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Whether any request so far carried `Authorization`.
    pub fn saw_authorization(&self) -> bool {
        lock(&self.state.requests).iter().any(|r| r.authorization)
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: Conn) -> Outcome {
        lock(&self.requests).push(CapturedRequest {
            method: req.method().as_str().to_string(),
            target: req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string(),
            header_names: req
                .headers()
                .keys()
                .map(|k| k.as_str().to_string())
                .collect(),
            authorization: req.headers().contains_key(header::AUTHORIZATION),
        });
        let answer = lock(&self.response).clone();
        let status = StatusCode::from_u16(answer.status)
            .unwrap_or_else(|e| panic!("CaptureResponse: invalid status {}: {e}", answer.status));
        let mut resp = Response::new(server::full_body(answer.body));
        *resp.status_mut() = status;
        for (name, value) in &answer.headers {
            let (name, value) = header_pair(name, value);
            resp.headers_mut().append(name, value);
        }
        Ok(resp)
    }
}
