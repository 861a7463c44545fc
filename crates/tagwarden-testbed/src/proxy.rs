//! A pass-through HTTP proxy that adds Docker Hub-style paging to `tags/list`.
//!
//! # Why
//!
//! Real registries page `GET /v2/<name>/tags/list`: Docker Hub, GHCR, Quay and
//! distribution v3 return at most `n` tags, sorted, and a
//! `Link: </v2/<name>/tags/list?last=<last>&n=<n>>; rel="next"` header while more
//! remain. Docker Hub pages even when the client sends no `n`. Debian's
//! distribution 2.8 does none of that: it ignores `n` and `last`, returns every
//! tag unsorted and never sends `Link`. A tag checker that forgets to follow
//! `Link` would pass every test against 2.8 and miss tags in production. This
//! proxy sits in front of the real registry and makes it page like Docker Hub,
//! so the paging code is tested against real HTTP.
//!
//! # What it does
//!
//! Every request is forwarded unchanged (method, path, query, body, headers
//! including `Authorization`; only hop-by-hop headers are dropped) and every
//! answer comes back unchanged (including `WWW-Authenticate` and `Location`).
//! The client's `Host` header is kept, so the absolute `Location` URLs the
//! registry builds from it (blob uploads) point back at the proxy. Redirects are
//! not followed. Only a successful `GET /v2/<name>/tags/list` is rewritten:
//!
//! 1. the upstream is asked for the full list (query dropped);
//! 2. tags are sorted bytewise and those `<= last` dropped;
//! 3. at most `n` are kept, where `n` is the client's (clamped to 1000) or, when
//!    the client gave none, the proxy's default page size; `n=0` gives an empty
//!    page; a non-numeric or negative `n` is answered `400` with
//!    `PAGINATION_NUMBER_INVALID`, like distribution v3;
//! 4. `Link: </v2/<name>/tags/list?last=<last kept>&n=<n>>; rel="next"` is added
//!    when tags were cut off.
//!
//! The proxy counts every request it served (`"GET /v2/…/tags/list?n=50"`) so
//! tests can assert how many pages a client fetched. It is the Rust twin of the
//! test-bed notes' `tags-paginate-proxy.py`, with the default page size added.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so it
//! works under plain `#[test]` functions, and stops when dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::{Body, BoxError, Conn, Handler, Outcome, Server, full_body, strip_hop_by_hop};

/// Largest page the proxy hands out; a larger `n` is clamped (Docker Hub caps too).
pub const MAX_PAGE_SIZE: usize = 1000;

/// A running paging proxy in front of one registry. Stops on drop.
///
/// ```no_run
/// let registry = tagwarden_testbed::Registry::start();
/// tagwarden_testbed::seed_standard(&registry);
/// let proxy = tagwarden_testbed::PagingProxy::start(&registry.url(), 50);
/// // point the client under test at proxy.url(), then:
/// let pages = proxy.requests().iter().filter(|r| r.contains("/tags/list")).count();
/// # let _ = pages;
/// ```
pub struct PagingProxy {
    /// Stops the proxy when dropped.
    _server: Server,
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl PagingProxy {
    /// Listen on `127.0.0.1:<free port>` and forward to `upstream_url`
    /// (`http://host:port`). `default_page_size` is used when a client sends
    /// no `n`; `0` means "no default": such clients get every tag, as from
    /// distribution v3.
    ///
    /// The proxy accepts connections as soon as this returns.
    ///
    /// # Panics
    ///
    /// If `upstream_url` is not a plain `http://` URL or no port can be bound.
    pub fn start(upstream_url: &str, default_page_size: usize) -> PagingProxy {
        let upstream = url::Url::parse(upstream_url)
            .unwrap_or_else(|e| panic!("PagingProxy: bad upstream URL {upstream_url:?}: {e}"));
        assert_eq!(
            upstream.scheme(),
            "http",
            "PagingProxy forwards to plain http:// upstreams only, got {upstream_url:?}"
        );
        let upstream = upstream.origin().ascii_serialization();

        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            upstream,
            default_n: (default_page_size > 0).then_some(default_page_size),
            client: Client::builder(TokioExecutor::new()).build_http(),
            requests: Arc::clone(&requests),
        });
        let server = Server::start("paging-proxy", IpAddr::V4(Ipv4Addr::LOCALHOST), state);
        PagingProxy {
            addr: server.addr(),
            _server: server,
            requests,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request served so far, in arrival order, as `"METHOD /path?query"`
    /// exactly as the client sent the request target.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forget the requests counted so far.
    pub fn clear_requests(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

struct State {
    /// `http://host:port` of the registry.
    upstream: String,
    default_n: Option<usize>,
    client: Client<HttpConnector, Incoming>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: Conn) -> Outcome {
        forward(self, req).await
    }
}

async fn forward(state: Arc<State>, mut req: Request<Incoming>) -> Outcome {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    state
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{} {target}", req.method()));

    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let is_get = req.method() == Method::GET;
    let is_tags = (is_get || req.method() == Method::HEAD)
        && path.starts_with("/v2/")
        && path.ends_with("/tags/list");
    // For tags/list we ask for everything and page it ourselves.
    let upstream_target = if is_tags { &path } else { &target };
    let uri: Uri = match format!("{}{upstream_target}", state.upstream).parse() {
        Ok(uri) => uri,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &e.to_string(),
                None,
            ));
        }
    };
    *req.uri_mut() = uri;
    strip_hop_by_hop(req.headers_mut());

    let resp = match state.client.request(req).await {
        Ok(resp) => resp,
        Err(e) => {
            let msg = format!("upstream {}: {e}", state.upstream);
            return Ok(error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", &msg, None));
        }
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);

    if !(is_tags && is_get && parts.status == StatusCode::OK) {
        let body = body.map_err(|e| Box::new(e) as BoxError).boxed();
        return Ok(Response::from_parts(parts, body));
    }
    let full = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let msg = format!("reading upstream tags/list: {e}");
            return Ok(error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", &msg, None));
        }
    };
    match page_tags(&full, &path, &query, state.default_n) {
        Paged::Page { body, link } => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.remove(header::LINK);
            if let Some(link) = link {
                let value = HeaderValue::from_str(&link).expect("Link is built from URL-safe text");
                parts.headers.insert(header::LINK, value);
            }
            Ok(Response::from_parts(parts, full_body(body)))
        }
        Paged::InvalidN(n) => Ok(error(
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested",
            Some(serde_json::json!({ "n": n })),
        )),
        // Not JSON we understand: hand it over untouched rather than hide it.
        Paged::Unchanged => Ok(Response::from_parts(parts, full_body(full.to_vec()))),
    }
}

/// The outcome of paging one upstream `tags/list` answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Paged {
    /// The rewritten JSON body and, when tags were cut off, the `Link` value.
    Page { body: Vec<u8>, link: Option<String> },
    /// `n` was given but is not a non-negative integer.
    InvalidN(String),
    /// The upstream body is not a tags/list JSON object.
    Unchanged,
}

/// Apply `n`/`last` from `query` to the upstream's full tag list (pure function).
pub(crate) fn page_tags(
    upstream: &[u8],
    path: &str,
    query: &str,
    default_n: Option<usize>,
) -> Paged {
    let mut n_param = None;
    let mut last = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "n" if n_param.is_none() => n_param = Some(v.into_owned()),
            "last" if last.is_empty() => last = v.into_owned(),
            _ => {}
        }
    }
    let n = match n_param.as_deref() {
        None | Some("") => default_n,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return Paged::InvalidN(s.to_string()),
        },
    }
    .map(|n| n.min(MAX_PAGE_SIZE));

    let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_slice(upstream) else {
        return Paged::Unchanged;
    };
    let mut tags: Vec<String> = match doc.get("tags") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::Null) | None => Vec::new(),
        Some(_) => return Paged::Unchanged,
    };
    tags.sort(); // String's Ord is bytewise
    if !last.is_empty() {
        tags.retain(|t| t.as_str() > last.as_str());
    }
    let mut link = None;
    if let Some(n) = n
        && tags.len() > n
    {
        tags.truncate(n);
        if let Some(last_kept) = tags.last() {
            let next = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("last", last_kept)
                .append_pair("n", &n.to_string())
                .finish();
            link = Some(format!("<{path}?{next}>; rel=\"next\""));
        }
    }
    doc.insert("tags".to_string(), serde_json::json!(tags));
    Paged::Page {
        body: serde_json::to_vec(&doc).expect("a JSON value serializes"),
        link,
    }
}

/// A Distribution-style error answer: `{"errors":[{"code","message","detail"}]}`.
fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<serde_json::Value>,
) -> Response<Body> {
    let mut err = serde_json::json!({ "code": code, "message": message });
    if let Some(detail) = detail {
        err["detail"] = detail;
    }
    let body = serde_json::to_vec(&serde_json::json!({ "errors": [err] })).expect("JSON");
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/v2/r/tags/list";

    fn doc(tags: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "name": "r", "tags": tags })).unwrap()
    }

    fn page(tags: &[&str], query: &str, default_n: Option<usize>) -> (Vec<String>, Option<String>) {
        match page_tags(&doc(tags), P, query, default_n) {
            Paged::Page { body, link } => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["name"], "r");
                let tags = v["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                (tags, link)
            }
            other => panic!("expected a page, got {other:?}"),
        }
    }

    #[test]
    fn sorts_bytewise_and_pages() {
        let all = ["b", "a", "B", "c", "a1"];
        assert_eq!(
            page(&all, "", None),
            (
                vec!["B", "a", "a1", "b", "c"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                None
            )
        );
        let (tags, link) = page(&all, "n=2", None);
        assert_eq!(tags, ["B", "a"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/r/tags/list?last=a&n=2>; rel=\"next\"")
        );
        let (tags, link) = page(&all, "last=a&n=2", None);
        assert_eq!(tags, ["a1", "b"]);
        assert!(link.is_some());
        let (tags, link) = page(&all, "last=b&n=2", None);
        assert_eq!(tags, ["c"]);
        assert_eq!(link, None);
    }

    #[test]
    fn exact_fit_has_no_link() {
        assert_eq!(page(&["a", "b"], "n=2", None).1, None);
    }

    #[test]
    fn default_page_size_applies_without_n() {
        let (tags, link) = page(&["a", "b", "c"], "", Some(2));
        assert_eq!(tags, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/r/tags/list?last=b&n=2>; rel=\"next\"")
        );
        // explicit n wins over the default
        assert_eq!(page(&["a", "b", "c"], "n=3", Some(2)).0.len(), 3);
        // empty n counts as absent
        assert_eq!(page(&["a", "b", "c"], "n=", Some(1)).0, ["a"]);
    }

    #[test]
    fn n_zero_is_an_empty_page() {
        assert_eq!(page(&["a", "b"], "n=0", None), (vec![], None));
    }

    #[test]
    fn invalid_n_is_rejected() {
        for bad in ["abc", "-1", "1.5"] {
            assert_eq!(
                page_tags(&doc(&["a"]), P, &format!("n={bad}"), None),
                Paged::InvalidN(bad.to_string())
            );
        }
    }

    #[test]
    fn huge_n_is_clamped() {
        let many: Vec<String> = (0..MAX_PAGE_SIZE + 5).map(|i| format!("t{i:05}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let (tags, link) = page(&refs, "n=99999", None);
        assert_eq!(tags.len(), MAX_PAGE_SIZE);
        assert!(link.unwrap().contains(&format!("n={MAX_PAGE_SIZE}")));
    }

    #[test]
    fn null_tags_and_odd_bodies() {
        let body = br#"{"name":"r","tags":null}"#;
        match page_tags(body, P, "", Some(5)) {
            Paged::Page { body, link: None } => {
                assert_eq!(body, br#"{"name":"r","tags":[]}"#);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(page_tags(b"not json", P, "", None), Paged::Unchanged);
    }

    #[test]
    fn last_is_url_encoded_in_link() {
        let (_, link) = page(&["a b", "c"], "n=1", None);
        assert_eq!(
            link.as_deref(),
            Some("</v2/r/tags/list?last=a+b&n=1>; rel=\"next\"")
        );
    }
}
