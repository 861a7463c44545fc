//! A Docker registry token server (distribution's "token" auth), in Rust, for
//! a [`crate::Registry`] started in [`crate::RegistryMode::Token`].
//!
//! # The flow it serves
//!
//! This is how Docker Hub, GHCR, Quay, Harbor and ECR's public gallery work:
//!
//! 1. the client asks the registry, gets `401` and
//!    `WWW-Authenticate: Bearer realm="http://127.0.0.1:P/token",service="…",scope="repository:foo:pull"`;
//! 2. it asks the realm `GET /token?service=…&scope=repository:foo:pull[&scope=…]`,
//!    with `Authorization: Basic …` when it has credentials, without when not;
//! 3. it retries at the registry with `Authorization: Bearer <token>`.
//!
//! Clients with an OAuth2 refresh token (Docker's `identitytoken` in
//! `config.json`) use `POST /token` with the form
//! `grant_type=refresh_token&refresh_token=…&service=…&scope=…&client_id=…`
//! instead; `grant_type=password&username=…&password=…` works too.
//!
//! # What it grants
//!
//! - anonymous callers: `pull` on every repository they ask for when
//!   [`TokenServerConfig::anonymous_pull`] is on (the default; Docker Hub does
//!   the same for public images), otherwise a token with no access at all (as
//!   Docker Hub answers for a private repository: the registry then says 401);
//! - the configured user (Basic auth, password grant or a refresh token):
//!   `pull` and `push` where asked, and `*` on `registry:catalog:*`;
//! - wrong Basic credentials: `401` with a Basic challenge; a wrong password
//!   or unknown refresh token on `POST`: `400 {"error":"invalid_grant"}`
//!   (RFC 6749 §5.2); another `service` than the configured one: `400`.
//!
//! One request may carry several `scope` parameters (and a `scope` may hold
//! several space-separated scopes, the OAuth2 form): the one token grants
//! them all. That is what lets a client check many repositories with one
//! token request.
//!
//! # The token
//!
//! An RS256 JWT, exactly what `token-server.py` of the test-bed notes makes
//! and distribution 2.8 accepts: header `{"alg":"RS256","typ":"JWT","x5c":[cert]}`
//! and claims `iss`, `sub` (user, or `""`), `aud` (service), `exp`, `nbf`
//! (10 s in the past, for clock skew), `iat`, `jti` and
//! `access: [{type, name, actions}]`. The answer is
//! `{"token","access_token","expires_in","issued_at"}` (plus `refresh_token`
//! when one was asked for with `offline_token=true` or `access_type=offline`).
//!
//! # What it records
//!
//! Every request, as a [`TokenRequest`]: method, path, the scopes, whether an
//! `Authorization` header came and which user it authenticated, the status.
//! Tests count token requests ("one per scope set") and check the scopes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};

use crate::server::{self, Conn, Handler, Outcome, Server};
use crate::tls::TokenSigner;

/// The user a [`crate::Registry`] with auth accepts unless told otherwise.
pub const DEFAULT_USERNAME: &str = "testuser";
/// The password of [`DEFAULT_USERNAME`].
pub const DEFAULT_PASSWORD: &str = "testpassword";
/// The registry's `auth.token.service`, and the `aud` of every token.
pub const DEFAULT_SERVICE: &str = "tagwarden-testbed-registry";
/// The registry's `auth.token.issuer`, and the `iss` of every token.
pub const DEFAULT_ISSUER: &str = "tagwarden-testbed-token-issuer";

/// How a [`TokenServer`] behaves. `Default` is what [`crate::Registry`] uses.
#[derive(Clone, Debug)]
pub struct TokenServerConfig {
    /// The `service` it serves; tokens carry it as `aud`.
    pub service: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The one user that authenticates (Basic auth or password grant).
    pub username: String,
    /// That user's password.
    pub password: String,
    /// Whether anonymous callers get `pull` (default `true`).
    pub anonymous_pull: bool,
    /// `expires_in` of every answer and lifetime of every token, in seconds
    /// (default 300, what Docker Hub gives).
    pub expires_in: u64,
    /// A fixed refresh token accepted for the user, in addition to those
    /// [`TokenServer::issue_refresh_token`] hands out.
    pub refresh_token: Option<String>,
}

impl Default for TokenServerConfig {
    fn default() -> Self {
        TokenServerConfig {
            service: DEFAULT_SERVICE.to_string(),
            issuer: DEFAULT_ISSUER.to_string(),
            username: DEFAULT_USERNAME.to_string(),
            password: DEFAULT_PASSWORD.to_string(),
            anonymous_pull: true,
            expires_in: 300,
            refresh_token: None,
        }
    }
}

/// One request a [`TokenServer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST` (or whatever came).
    pub method: String,
    /// The path, e.g. `/token`.
    pub path: String,
    /// Every scope asked for, split at spaces, in order.
    pub scopes: Vec<String>,
    /// The `service` parameter, if any.
    pub service: Option<String>,
    /// `POST` only: the `grant_type` form field.
    pub grant_type: Option<String>,
    /// `POST` only: the `client_id` form field.
    pub client_id: Option<String>,
    /// Whether an `Authorization` header was sent (its value is never kept).
    pub authorization: bool,
    /// The user that authenticated (Basic, password or refresh token), or
    /// `None` for an anonymous or failed request.
    pub user: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A running token server on `127.0.0.1:<free port>`. Stops on drop.
///
/// ```no_run
/// use tagwarden_testbed::{Registry, RegistryMode};
///
/// let registry = Registry::start_with(RegistryMode::Token);
/// let tokens = registry.token_server().unwrap();
/// // ... run the client under test against registry.url(), then:
/// assert_eq!(tokens.requests().len(), 1, "one token for the whole scope set");
/// ```
pub struct TokenServer {
    state: Arc<State>,
    server: Server,
    // Holds `token-signer.crt`; dropped after the server.
    dir: tempfile::TempDir,
    cert_path: PathBuf,
}

struct State {
    config: TokenServerConfig,
    signer: TokenSigner,
    anonymous_pull: Mutex<bool>,
    expires_in: AtomicU64,
    expire_next: AtomicU64,
    serial: AtomicU64,
    refresh_tokens: Mutex<HashMap<String, String>>,
    requests: Mutex<Vec<TokenRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TokenServer {
    /// Start a token server with `config` on `127.0.0.1:<free port>`.
    ///
    /// # Panics
    ///
    /// If no port can be bound or the key material cannot be written.
    pub fn start(config: TokenServerConfig) -> TokenServer {
        let dir = crate::registry::scratch_dir("tagwarden-token-");
        let signer = TokenSigner::generate("tagwarden-testbed token signer");
        let cert_path = dir.path().join("token-signer.crt");
        std::fs::write(&cert_path, &signer.cert_pem)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", cert_path.display()));
        let mut refresh_tokens = HashMap::new();
        if let Some(fixed) = &config.refresh_token {
            refresh_tokens.insert(fixed.clone(), config.username.clone());
        }
        let state = Arc::new(State {
            anonymous_pull: Mutex::new(config.anonymous_pull),
            expires_in: AtomicU64::new(config.expires_in),
            expire_next: AtomicU64::new(0),
            serial: AtomicU64::new(0),
            refresh_tokens: Mutex::new(refresh_tokens),
            requests: Mutex::new(Vec::new()),
            signer,
            config,
        });
        let server = Server::start(
            "token-server",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Arc::clone(&state),
        );
        TokenServer {
            state,
            server,
            dir,
            cert_path,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The `service` it serves (the registry's `auth.token.service`).
    pub fn service(&self) -> &str {
        &self.state.config.service
    }

    /// The `iss` of its tokens (the registry's `auth.token.issuer`).
    pub fn issuer(&self) -> &str {
        &self.state.config.issuer
    }

    /// The configured user and password.
    pub fn credentials(&self) -> (String, String) {
        let c = &self.state.config;
        (c.username.clone(), c.password.clone())
    }

    /// PEM file of the signing certificate (the registry's `rootcertbundle`).
    pub fn signer_cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The directory that holds [`TokenServer::signer_cert_path`].
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// A new refresh token for the configured user, accepted by
    /// `POST /token` with `grant_type=refresh_token` (the `identitytoken`
    /// that `docker login` stores for OAuth2 registries).
    pub fn issue_refresh_token(&self) -> String {
        self.state.new_refresh_token(&self.state.config.username)
    }

    /// Mint a token directly (not recorded): for `user` (`None` =
    /// anonymous; any name is taken on trust) and `scopes`, with the grant
    /// rules of the module docs.
    pub fn token(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.state.mint(user, &scopes).0
    }

    /// Turn anonymous `pull` on or off from now on.
    pub fn set_anonymous_pull(&self, on: bool) {
        *lock(&self.state.anonymous_pull) = on;
    }

    /// Change `expires_in` (and the tokens' lifetime) from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// Make the next `n` tokens expired on arrival (`exp` an hour in the past,
    /// beyond any clock-skew leeway) while the answer still claims the usual
    /// `expires_in`. The registry then answers 401 with
    /// `error="invalid_token"`: the situation of a cached token that was
    /// revoked or outlived its real lifetime, which a client must handle by
    /// fetching a new token once.
    pub fn expire_next(&self, n: u64) {
        self.state.expire_next.store(n, Ordering::SeqCst);
    }
}

/// `service`, repeated `scope`, and the other fields of a token request.
#[derive(Default)]
struct Params {
    all: Vec<(String, String)>,
}

impl Params {
    fn parse(text: &[u8]) -> Params {
        Params {
            all: url::form_urlencoded::parse(text).into_owned().collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.all
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn scopes(&self) -> Vec<String> {
        self.all
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Who a request authenticated as.
enum Caller {
    Anonymous,
    User(String),
    /// Wrong credentials: answered with this response.
    Rejected(hyper::Response<server::Body>),
}

impl State {
    fn new_refresh_token(&self, user: &str) -> String {
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        let token = format!("tagwarden-refresh-{n:04}");
        lock(&self.refresh_tokens).insert(token.clone(), user.to_string());
        token
    }

    /// The JWT, its `expires_in` and the unix time it was issued.
    fn mint(&self, user: Option<&str>, scopes: &[String]) -> (String, u64, u64) {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let anonymous_pull = *lock(&self.anonymous_pull);
        let mut access = Vec::new();
        for scope in scopes {
            let Some((typ, name, actions)) = parse_scope(scope) else {
                continue;
            };
            let granted: Vec<&str> = actions
                .into_iter()
                .filter(|a| match (user, typ) {
                    (Some(_), "repository") => matches!(*a, "pull" | "push"),
                    (Some(_), "registry") => *a == "*",
                    (None, "repository") => anonymous_pull && *a == "pull",
                    _ => false,
                })
                .collect();
            if !granted.is_empty() {
                access.push(serde_json::json!({ "type": typ, "name": name, "actions": granted }));
            }
        }
        let now = unix_now();
        let expires_in = self.expires_in.load(Ordering::SeqCst);
        let expired = self
            .expire_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let (iat, exp) = if expired {
            (now - 7200, now - 3600)
        } else {
            (now, now + expires_in)
        };
        let header = serde_json::json!({ "typ": "JWT", "alg": "RS256", "x5c": [self.signer.x5c] });
        let claims = serde_json::json!({
            "iss": self.config.issuer,
            "sub": user.unwrap_or(""),
            "aud": self.config.service,
            "exp": exp,
            "nbf": iat - 10,
            "iat": iat,
            "jti": format!("tagwarden-jti-{}", self.serial.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).expect("JSON")),
            b64(&serde_json::to_vec(&claims).expect("JSON"))
        );
        let signature = self.signer.sign(signing_input.as_bytes());
        (
            format!("{signing_input}.{}", b64(&signature)),
            expires_in,
            now,
        )
    }

    /// The token answer for `user` and `scopes`.
    fn answer(&self, user: Option<&str>, scopes: &[String], refresh: bool) -> Outcome {
        let (token, expires_in, issued_at) = self.mint(user, scopes);
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": rfc3339(issued_at),
        });
        if !scopes.is_empty() {
            body["scope"] = scopes.join(" ").into();
        }
        if let (true, Some(user)) = (refresh, user) {
            body["refresh_token"] = self.new_refresh_token(user).into();
        }
        Ok(server::json(StatusCode::OK, &body))
    }

    fn caller_from_basic(&self, headers: &hyper::HeaderMap) -> Caller {
        match server::basic_credentials(headers) {
            None => Caller::Anonymous,
            Some(Ok((u, p))) if u == self.config.username && p == self.config.password => {
                Caller::User(u)
            }
            Some(_) => {
                let mut resp = server::dist_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "authentication required: wrong user name or password",
                );
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tagwarden-testbed token server\""),
                );
                Caller::Rejected(resp)
            }
        }
    }

    /// The `400` for a `service` other than ours.
    fn wrong_service(&self, params: &Params) -> Option<hyper::Response<server::Body>> {
        match params.get("service") {
            Some(s) if s != self.config.service => Some(server::dist_error(
                StatusCode::BAD_REQUEST,
                "DENIED",
                &format!(
                    "unknown service {s:?}; this token server serves {:?}",
                    self.config.service
                ),
            )),
            _ => None,
        }
    }

    fn get_token(&self, params: &Params, caller: Caller, rec: &mut TokenRequest) -> Outcome {
        let user = match caller {
            Caller::Rejected(resp) => return Ok(resp),
            Caller::Anonymous => None,
            Caller::User(u) => Some(u),
        };
        rec.user = user.clone();
        if let Some(answer) = self.wrong_service(params) {
            return Ok(answer);
        }
        let offline = params.get("offline_token") == Some("true");
        self.answer(user.as_deref(), &rec.scopes, offline)
    }

    fn post_token(&self, params: &Params, rec: &mut TokenRequest) -> Outcome {
        let invalid_grant = |why: &str| {
            Ok(server::json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": "invalid_grant", "error_description": why }),
            ))
        };
        let user = match params.get("grant_type") {
            Some("password") => {
                let ok = params.get("username") == Some(self.config.username.as_str())
                    && params.get("password") == Some(self.config.password.as_str());
                if !ok {
                    return invalid_grant("wrong user name or password");
                }
                self.config.username.clone()
            }
            Some("refresh_token") => {
                let given = params.get("refresh_token").unwrap_or("");
                match lock(&self.refresh_tokens).get(given) {
                    Some(user) => user.clone(),
                    None => return invalid_grant("unknown refresh token"),
                }
            }
            other => {
                return Ok(server::json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({
                        "error": "unsupported_grant_type",
                        "error_description": format!("grant_type {other:?}: use password or refresh_token"),
                    }),
                ));
            }
        };
        rec.user = Some(user.clone());
        if let Some(answer) = self.wrong_service(params) {
            return Ok(answer);
        }
        let offline = params.get("access_type") == Some("offline");
        self.answer(Some(&user), &rec.scopes, offline)
    }
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: Conn) -> Outcome {
        let (parts, body) = req.into_parts();
        let mut rec = TokenRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            scopes: Vec::new(),
            service: None,
            grant_type: None,
            client_id: None,
            authorization: parts.headers.contains_key(header::AUTHORIZATION),
            user: None,
            status: 0,
        };
        let outcome = match (&parts.method, parts.uri.path()) {
            (&Method::GET, "/token") => {
                let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
                rec.scopes = params.scopes();
                rec.service = params.get("service").map(str::to_string);
                let caller = self.caller_from_basic(&parts.headers);
                self.get_token(&params, caller, &mut rec)
            }
            (&Method::POST, "/token") => match Limited::new(body, 64 * 1024).collect().await {
                Ok(collected) => {
                    let params = Params::parse(&collected.to_bytes());
                    rec.scopes = params.scopes();
                    rec.service = params.get("service").map(str::to_string);
                    rec.grant_type = params.get("grant_type").map(str::to_string);
                    rec.client_id = params.get("client_id").map(str::to_string);
                    self.post_token(&params, &mut rec)
                }
                Err(e) => Ok(server::json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "error": "invalid_request", "error_description": e.to_string() }),
                )),
            },
            (_, "/token") => Ok(server::dist_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "use GET or POST",
            )),
            (_, "/healthz") => Ok(server::json(
                StatusCode::OK,
                &serde_json::json!({ "ok": true }),
            )),
            _ => Ok(server::dist_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "the token endpoint is /token",
            )),
        };
        if let Ok(resp) = &outcome {
            rec.status = resp.status().as_u16();
        }
        lock(&self.requests).push(rec);
        outcome
    }
}

/// `repository:library/foo:pull,push` → `("repository", "library/foo", ["pull", "push"])`.
/// The name may contain `:` (a registry with a port in theory); the type is
/// the first field and the actions the last.
fn parse_scope(scope: &str) -> Option<(&str, &str, Vec<&str>)> {
    let (typ, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if typ.is_empty() || name.is_empty() {
        return None;
    }
    Some((
        typ,
        name,
        actions.split(',').filter(|a| !a.is_empty()).collect(),
    ))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// `2024-05-01T12:00:00Z` for a unix time (UTC, no leap seconds).
pub(crate) fn rfc3339(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(
            parse_scope("repository:library/foo:pull,push"),
            Some(("repository", "library/foo", vec!["pull", "push"]))
        );
        assert_eq!(
            parse_scope("repository:host:5000/foo:pull"),
            Some(("repository", "host:5000/foo", vec!["pull"]))
        );
        assert_eq!(
            parse_scope("registry:catalog:*"),
            Some(("registry", "catalog", vec!["*"]))
        );
        assert_eq!(parse_scope("nonsense"), None);
        assert_eq!(parse_scope("repository::pull"), None);
        let p = Params::parse(b"scope=a:b:pull+c:d:pull&scope=e:f:push&service=s");
        assert_eq!(p.scopes(), ["a:b:pull", "c:d:pull", "e:f:push"]);
        assert_eq!(p.get("service"), Some("s"));
    }
}
