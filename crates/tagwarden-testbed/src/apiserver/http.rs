//! Requests: authentication, routing, and the verbs of the REST API
//! (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
//! `deletecollection`), answered as a v1.32 API server answers them.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::admission;
use super::convert;
use super::discovery::{self, RESOURCES, Resource};
use super::rbac::{self, Authorization, Identity};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ApiError, Change, ChangeKind, Key, Store, Stored, Write};
use super::table;
use super::validation;
use super::{ApiRequest, VersionAnswers, lock};
use crate::server::{Body, full_body};

/// Everything a request may need; shared by the server thread and the handle.
pub(crate) struct Inner {
    pub(crate) store: Store,
    /// What `/version` answers, in turn.
    pub(crate) version: Mutex<VersionAnswers>,
    /// Every watch ends at once, cleanly (a `200` with an empty body).
    pub(crate) watches_end_at_once: std::sync::atomic::AtomicBool,
    /// Streaming lists (`sendInitialEvents`) are served; else refused with `422`, as
    /// kube-apiserver refuses them without the `WatchList` feature.
    pub(crate) streaming_lists: bool,
    /// The admin token ([`crate::ApiServer::token`]).
    pub(crate) token: String,
    /// Every token that authenticates, and whom as.
    pub(crate) tokens: Mutex<BTreeMap<String, Identity>>,
    /// Every authorization decision, in order.
    pub(crate) authorizations: Mutex<Vec<Authorization>>,
    /// `IP:PORT`, for `serverAddressByClientCIDRs`.
    pub(crate) server_address: String,
    pub(crate) bookmark_interval: Duration,
    /// `resource.qualified()` names every verb on which is 403.
    pub(crate) forbidden: Mutex<BTreeSet<String>>,
    /// Bumped to cut every open watch connection.
    pub(crate) watch_cut: tokio::sync::watch::Sender<u64>,
    /// Webhook admission: the Pod webhook, Service routes, the calls made.
    pub(crate) admission: admission::Admission,
    pub(crate) requests: Mutex<Vec<ApiRequest>>,
}

/// The largest request body accepted (the real limit is 3 MiB for etcd).
const MAX_BODY: usize = 3 * 1024 * 1024;

type Answer = Result<Response<Body>, ApiError>;

/// Answer one request and record it.
pub(crate) async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Body> {
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut record = ApiRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        accept: header_text(header::ACCEPT),
        user_agent: header_text(header::USER_AGENT),
        content_type: header_text(header::CONTENT_TYPE),
        status: 0,
    };
    let query = Query::parse(req.uri().query());
    let resp = match rbac::admit_request(&inner, &req, &query.0) {
        Err(e) => status_response(&e),
        Ok(identity) => {
            let mut req = req;
            req.extensions_mut().insert(identity);
            route(&inner, req)
                .await
                .unwrap_or_else(|e| status_response(&e))
        }
    };
    record.status = resp.status().as_u16();
    lock(&inner.requests).push(record);
    resp
}

async fn route(inner: &Arc<Inner>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if req.method() != Method::GET && !matches!(segments.as_slice(), ["api" | "apis", _, _, ..]) {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    match segments.as_slice() {
        ["version"] => Ok(json_response(StatusCode::OK, &lock(&inner.version).next())),
        ["healthz" | "livez" | "readyz"] => Ok(text_response(StatusCode::OK, "ok")),
        ["api"] => Ok(discovery_root(&accept, true, || {
            discovery::api_versions(&inner.server_address)
        })),
        ["apis"] => Ok(discovery_root(&accept, false, discovery::api_group_list)),
        ["apis", group] => discovery::api_group(group)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(not_found_path),
        ["api", "v1"] => Ok(json_response(
            StatusCode::OK,
            &discovery::api_resource_list("", "v1").expect("core is served"),
        )),
        ["openapi", "v3"] => Ok(json_response(
            StatusCode::OK,
            &discovery::openapi_v3_index(OPENAPI_HASH),
        )),
        ["openapi", "v3", gv @ ..] => discovery::openapi_v3_document(&gv.join("/"))
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(not_found_path),
        ["apis", group, version] => discovery::api_resource_list(group, version)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(not_found_path),
        ["apis", "authorization.k8s.io", "v1", review]
            if req.method() == Method::POST && review.starts_with("selfsubject") =>
        {
            let review = review.to_string();
            self_subject_review(inner, req, &review).await
        }
        ["api", "v1", rest @ ..] => resource_request(inner, req, "", "v1", rest).await,
        ["apis", group, version, rest @ ..] => {
            let (group, version) = (group.to_string(), version.to_string());
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            resource_request(inner, req, &group, &version, &rest).await
        }
        _ => Ok(text_response(StatusCode::NOT_FOUND, "404 page not found\n")),
    }
}

/// The version hash of the OpenAPI documents (they never change).
const OPENAPI_HASH: &str = "6C8C4E1E0B0B6A2E3F9D7F1B3A5C4D2E1F0A9B8C7D6E5F4A3B2C1D0E9F8A7B6C";

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// `/api` or `/apis`: the aggregated list when the client asks for it, as
/// the first acceptable of its `Accept` types, else the legacy document.
fn discovery_root(accept: &str, core: bool, legacy: impl FnOnce() -> Value) -> Response<Body> {
    for media in accept.split(',') {
        let params = media_params(media);
        let is = |k: &str, v: &str| params.iter().any(|(pk, pv)| pk == k && pv == v);
        if params.first().map(|(t, _)| t.as_str()) == Some("application/json")
            && is("as", "APIGroupDiscoveryList")
            && is("g", "apidiscovery.k8s.io")
        {
            for version in ["v2", "v2beta1"] {
                if is("v", version) {
                    let mut resp =
                        json_response(StatusCode::OK, &discovery::aggregated(core, version));
                    let content_type = format!(
                        "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
                    );
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_str(&content_type).expect("ASCII"),
                    );
                    resp.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Accept"));
                    return resp;
                }
            }
        }
    }
    let mut resp = json_response(StatusCode::OK, &legacy());
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// `type/subtype;k=v;…` → `[(type/subtype, ""), (k, v), …]`, trimmed.
pub(crate) fn media_params(media: &str) -> Vec<(String, String)> {
    media
        .split(';')
        .enumerate()
        .map(|(i, p)| {
            let p = p.trim();
            if i == 0 {
                (p.to_ascii_lowercase(), String::new())
            } else {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.trim().to_string(), v.trim().trim_matches('"').to_string())
            }
        })
        .collect()
}

/// What a path below a group version names.
struct Target<'a> {
    /// Where the objects are stored (core Events for both Event APIs).
    resource: usize,
    namespace: Option<String>,
    name: Option<String>,
    /// The resource as the request names it.
    res: &'a Resource,
    /// `events.k8s.io/v1` Events: stored as core Events, converted.
    events_view: bool,
}

fn target<'a>(group: &str, version: &str, rest: &[&str]) -> Result<Target<'a>, ApiError> {
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(not_found_path()),
    };
    let resource = discovery::find(group, version, plural).ok_or_else(not_found_path)?;
    let res = &RESOURCES[resource];
    if namespace.is_some() && !res.namespaced {
        return Err(not_found_path());
    }
    if namespace.is_none() && res.namespaced && name.is_some() {
        return Err(not_found_path());
    }
    let events_view = res.group == "events.k8s.io";
    let storage = if events_view {
        discovery::find("", "v1", "events").expect("core events are served")
    } else {
        resource
    };
    Ok(Target {
        resource: storage,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        res,
        events_view,
    })
}

async fn resource_request(
    inner: &Arc<Inner>,
    req: Request<Incoming>,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Answer {
    let target = target(group, version, rest)?;
    let query = Query::parse(req.uri().query());
    let method = req.method().clone();
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, false) if query.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    if !target.res.verbs.contains(&verb) {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    let user = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.user.clone())
        .unwrap_or_default();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let table = table::requested(&accept).map(|v| (v, query.get("includeObject")));
    let manager = manager(&req, &query);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    match verb {
        "watch" => watch(inner, &target, &query, table),
        "list" => list(inner, &target, &query, table),
        "get" => {
            let object = inner
                .store
                .get(&target.key())
                .ok_or_else(|| ApiError::not_found(target.res, target.name()))?;
            let object = Arc::new(target.show(&object));
            Ok(match table {
                Some((v, include)) => json_response(
                    StatusCode::OK,
                    &table::table(target.res, &[object], &v, include.as_deref(), None),
                ),
                None => json_response(StatusCode::OK, &object),
            })
        }
        "create" | "update" | "patch" => {
            let dry_run = dry_run(verb, &query)?;
            let given_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            validation::check_content_type(verb, given_type, target.res.kind)?;
            let body = read_json(req).await?;
            if let Some(ns) = &target.namespace {
                validation::check_namespace_exists(&inner.store, ns)?;
            }
            let admitted = admit(
                inner,
                &target,
                verb,
                body,
                manager.as_deref(),
                dry_run,
                &user,
            )
            .await?;
            let (body, warnings) = (admitted.object, admitted.warnings);
            let object = match verb {
                "create" if dry_run => create_dry_run(inner, &target, body, manager.as_deref())?,
                "create" => create(inner, &target, body, manager.as_deref())?,
                "update" => update(inner, &target, body, manager.as_deref())?,
                _ => patch(
                    inner,
                    &target,
                    body,
                    &content_type,
                    manager.as_deref(),
                    &query,
                )?,
            };
            let code = if verb == "create" || object.1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut resp = json_response(code, &target.show(&object.0));
            for w in warnings {
                let value = format!("299 - \"{}\"", w.replace('"', "\\\""));
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut().append(header::WARNING, v);
                }
            }
            Ok(resp)
        }
        "delete" => {
            let gone = inner.store.delete(&target.key())?;
            Ok(json_response(StatusCode::OK, &target.show(&gone)))
        }
        _ => delete_collection(inner, &target, &query),
    }
}

/// `POST …/selfsubjectaccessreviews` (may the requester do what the review
/// asks?) and `…/selfsubjectrulesreviews` (what may it do in a namespace?):
/// answered by the authorizer, never stored.
async fn self_subject_review(inner: &Inner, req: Request<Incoming>, plural: &str) -> Answer {
    let who = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .expect("every routed request is authenticated");
    let given_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let kind = match plural {
        "selfsubjectaccessreviews" => "SelfSubjectAccessReview",
        "selfsubjectrulesreviews" => "SelfSubjectRulesReview",
        _ => return Err(not_found_path()),
    };
    validation::check_content_type("create", given_type, kind)?;
    let review = read_json(req).await?;
    let answered = if kind == "SelfSubjectAccessReview" {
        rbac::self_subject_access_review(&inner.store, &who, review)?
    } else {
        rbac::self_subject_rules_review(&inner.store, &who, review)?
    };
    Ok(json_response(StatusCode::CREATED, &answered))
}

/// `?dryRun`: `All` on a create (admission runs, nothing is stored); any
/// other value is `422`, and other verbs are refused with `400`.
fn dry_run(verb: &str, query: &Query) -> Result<bool, ApiError> {
    match query.get("dryRun").as_deref() {
        None => Ok(false),
        Some("All") if verb == "create" => Ok(true),
        Some(_) if verb != "create" => Err(ApiError::bad_request(
            "dryRun is supported by the tagwarden test API server for creates only",
        )),
        Some(other) => Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "CreateOptions.meta.k8s.io \"\" is invalid: dryRun[0]: Unsupported value: \"{other}\": supported values: \"All\""
            ),
        )),
    }
}

/// Webhook admission (`admission.rs`) of a create or an update; a patch
/// is not admitted.
async fn admit(
    inner: &Inner,
    target: &Target<'_>,
    verb: &str,
    mut body: Value,
    manager: Option<&str>,
    dry_run: bool,
    user: &str,
) -> Result<admission::Admitted, ApiError> {
    let unchanged = |object| admission::Admitted {
        object,
        warnings: Vec::new(),
    };
    let (operation, old) = match verb {
        "create" => ("CREATE", None),
        "update" => match inner.store.get(&target.key()) {
            Some(old) => ("UPDATE", Some(target.show(&old))),
            None => return Ok(unchanged(body)), // the update answers 404
        },
        _ => return Ok(unchanged(body)),
    };
    if target.res.namespaced && target.namespace.is_none() {
        return Ok(unchanged(body)); // the create answers 405
    }
    place(target, &mut body)?;
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let request = admission::Request {
        res: target.res,
        subresource: "",
        namespace: target.namespace.as_deref(),
        name: &name,
        operation,
        user,
        dry_run,
        field_manager: manager,
    };
    admission::admit(&inner.store, &inner.admission, &request, body, old).await
}

impl Target<'_> {
    fn key(&self) -> Key {
        Key {
            resource: self.resource,
            namespace: self.namespace.clone().unwrap_or_default(),
            name: self.name.clone().unwrap_or_default(),
        }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// A stored object as this request's API version shows it.
    fn show(&self, object: &Value) -> Value {
        if self.events_view {
            convert::core_to_events(object)
        } else {
            object.clone()
        }
    }

    /// A stored object, parsed, as this request's API version shows it.
    fn show_stored(&self, object: &Stored) -> Value {
        let value = object.value();
        if self.events_view {
            convert::core_to_events(&value)
        } else {
            value
        }
    }

    /// Whether a stored object is sent as stored (no conversion, no selector):
    /// then nothing needs to parse it.
    fn as_stored(&self, filter: &Filter) -> bool {
        !self.events_view && filter.is_empty()
    }

    /// A body of this request in the stored shape.
    fn stored(&self, body: Value) -> Value {
        if self.events_view {
            convert::events_to_core(&body)
        } else {
            body
        }
    }
}

/// The field manager of a write: `fieldManager`, else the program name of
/// the `User-Agent` (what the real server does).
fn manager(req: &Request<Incoming>, query: &Query) -> Option<String> {
    query.get("fieldManager").or_else(|| {
        let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?;
        Some(ua.split('/').next().unwrap_or(ua).to_string())
    })
}

/// The query string, decoded.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// `1` or `true` (how Go's `strconv.ParseBool` reads the flags).
    fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key).as_deref(),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }

    fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {key} {v:?}: not a number"))),
        }
    }
}

/// The label and field selectors of a request, as one predicate.
struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn from_query(query: &Query, res: &Resource) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(&query.get("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(
            &query.get("fieldSelector").unwrap_or_default(),
            &validation::field_labels(res),
        )
        .map_err(ApiError::bad_request)?;
        Ok(Filter { labels, fields })
    }

    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// No selector: everything matches.
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// `{"v":"meta.k8s.io/v1","rv":N,"start":"ns/name\u0000"}`, base64url: the
/// shape of the real server's continue token.
fn encode_continue(rv: u64, key: &Key) -> String {
    use base64::Engine as _;
    let start = format!("{}/{}\u{0}", key.namespace, key.name);
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": start });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str, resource: usize) -> Result<(u64, Key), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request("continue key is not valid: illegal base64 data or JSON");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (namespace, name) = start
        .trim_end_matches('\u{0}')
        .split_once('/')
        .ok_or_else(bad)?;
    Ok((
        rv,
        Key {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    ))
}

fn list(
    inner: &Inner,
    target: &Target<'_>,
    query: &Query,
    table: Option<(String, Option<String>)>,
) -> Answer {
    let filter = Filter::from_query(query, target.res)?;
    let limit = query
        .number("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let rv = query.get("resourceVersion").unwrap_or_default();
    let (at, after) = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            if !rv.is_empty() {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let (at, after) = decode_continue(&token, target.resource)?;
            (Some(at), Some(after))
        }
        None => {
            let exact = query.get("resourceVersionMatch").as_deref() == Some("Exact");
            let at = if exact {
                Some(parse_rv(&rv)?.ok_or_else(|| {
                    ApiError::bad_request("resourceVersionMatch=Exact needs a resourceVersion")
                })?)
            } else {
                None
            };
            (at, None)
        }
    };
    let as_stored = target.as_stored(&filter);
    let page = inner
        .store
        .list(
            target.resource,
            target.namespace.as_deref(),
            &|o| as_stored || filter.matches(&target.show_stored(o)),
            at,
            after.as_ref(),
            limit,
        )
        .map_err(|e| {
            if e.code == 410 && after.is_some() {
                ApiError::new(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter, or use \
                     the continue token in this response to retrieve the remainder of the \
                     results. Continuing with the provided token results in an inconsistent \
                     list - objects that were created, modified, or deleted between the time \
                     the first chunk was returned and now may show up in the list.",
                )
            } else {
                e
            }
        })?;
    let continue_token = page.next.as_ref().map(|k| encode_continue(page.rv, k));
    if let Some((version, include)) = table {
        let shown: Vec<Arc<Value>> = page
            .items
            .iter()
            .map(|o| Arc::new(target.show_stored(o)))
            .collect();
        let mut t = table::table(
            target.res,
            &shown,
            &version,
            include.as_deref(),
            Some(page.rv),
        );
        if let Some(c) = &continue_token {
            t["metadata"]["continue"] = json!(c);
        }
        return Ok(json_response(StatusCode::OK, &t));
    }
    let mut metadata = json!({ "resourceVersion": page.rv.to_string() });
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
        if filter.labels.is_empty() && query.get("fieldSelector").unwrap_or_default().is_empty() {
            metadata["remainingItemCount"] = json!(page.remaining);
        }
    }
    Ok(list_response(target, &metadata, &page.items))
}

/// A list answer, written item by item: stored objects as they are stored
/// (list items carry no apiVersion/kind, as in real list answers), Events
/// converted when asked for as `events.k8s.io`.
fn list_response(
    target: &Target<'_>,
    metadata: &Value,
    items: &[super::store::Obj],
) -> Response<Body> {
    let mut body =
        Vec::with_capacity(items.iter().map(|o| o.item_json().len() + 1).sum::<usize>() + 256);
    body.extend_from_slice(b"{\"kind\":");
    body.extend_from_slice(
        json!(format!("{}List", target.res.kind))
            .to_string()
            .as_bytes(),
    );
    body.extend_from_slice(b",\"apiVersion\":");
    body.extend_from_slice(json!(target.res.api_version()).to_string().as_bytes());
    body.extend_from_slice(b",\"metadata\":");
    body.extend_from_slice(metadata.to_string().as_bytes());
    body.extend_from_slice(b",\"items\":[");
    for (i, object) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        if target.events_view {
            let mut shown = target.show_stored(object);
            if let Some(map) = shown.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            body.extend_from_slice(shown.to_string().as_bytes());
        } else {
            body.extend_from_slice(object.item_json().as_bytes());
        }
    }
    body.extend_from_slice(b"]}");
    let mut resp = Response::new(full_body(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn parse_rv(text: &str) -> Result<Option<u64>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("invalid resource version {text:?}")))
}

/// The namespace of the path wins; a different one in the body is 400.
fn place(target: &Target<'_>, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    };
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if let (Some(ns), Some(meta)) = (&target.namespace, meta.as_object_mut()) {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    }
    if let Some(name) = &target.name {
        let given = object.pointer("/metadata/name").and_then(Value::as_str);
        if given.is_some_and(|g| g != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                given.unwrap_or_default()
            )));
        }
        object["metadata"]["name"] = json!(name);
    }
    Ok(())
}

fn check_kind(target: &Target<'_>, object: &Value) -> Result<(), ApiError> {
    let kind = object.get("kind").and_then(Value::as_str);
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != target.res.kind)
        || api_version.is_some_and(|v| v != target.res.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            api_version.unwrap_or_default(),
            target.res.api_version()
        )));
    }
    Ok(())
}

fn create(
    inner: &Inner,
    target: &Target<'_>,
    body: Value,
    manager: Option<&str>,
) -> Result<(Arc<Value>, bool), ApiError> {
    let body = checked_for_create(target, body)?;
    Ok((
        inner
            .store
            .write(target.resource, body, Write::Create, manager)?,
        true,
    ))
}

/// A create with `dryRun=All`: checked and answered as [`create`] would
/// be, nothing stored (no resourceVersion; watchers see nothing).
fn create_dry_run(
    inner: &Inner,
    target: &Target<'_>,
    body: Value,
    manager: Option<&str>,
) -> Result<(Arc<Value>, bool), ApiError> {
    let body = checked_for_create(target, body)?;
    let object = inner
        .store
        .try_write(target.resource, body, Write::Create, manager)?;
    Ok((Arc::new(object), true))
}

/// What every create (dry run or not) goes through before the store: the
/// namespace in the path, the kind, the name's validation and the
/// defaults the server fills in.
fn checked_for_create(target: &Target<'_>, mut body: Value) -> Result<Value, ApiError> {
    if target.res.namespaced && target.namespace.is_none() {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    check_kind(target, &body)?;
    place(target, &mut body)?;
    validation::check_object(target.res, &body)?;
    validation::prepare_for_create(target.res, &mut body);
    Ok(target.stored(body))
}

fn update(
    inner: &Inner,
    target: &Target<'_>,
    mut body: Value,
    manager: Option<&str>,
) -> Result<(Arc<Value>, bool), ApiError> {
    check_kind(target, &body)?;
    place(target, &mut body)?;
    let body = target.stored(body);
    Ok((
        inner
            .store
            .write(target.resource, body, Write::Update, manager)?,
        false,
    ))
}

/// JSON Patch (RFC 6902) for `json-patch`; JSON merge patch (RFC 7386) for
/// `merge-patch`, `strategic-merge-patch`
/// (lists are replaced whole, which is what the strategic merge does for
/// every list without a merge key) and `apply-patch` (server-side apply: a
/// merge that creates a missing object, with field-ownership conflicts, see
/// [`super::fields`]).
fn patch(
    inner: &Inner,
    target: &Target<'_>,
    body: Value,
    content_type: &str,
    manager: Option<&str>,
    query: &Query,
) -> Result<(Arc<Value>, bool), ApiError> {
    let media = media_params(content_type)
        .first()
        .map(|(t, _)| t.clone())
        .unwrap_or_default();
    let apply = media == "application/apply-patch+yaml";
    let json_patch = media == "application/json-patch+json";
    if json_patch {
        return json_patch_update(inner, target, &body, manager).map(|o| (o, false));
    }
    if apply && query.get("fieldManager").is_none() {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let mut body = body;
    if apply {
        check_kind(target, &body)?;
    }
    place(target, &mut body)?;
    let how = if apply {
        Write::ServerSideApply {
            force: query.flag("force"),
        }
    } else {
        Write::MergePatch
    };
    let existed = inner.store.contains(&target.key());
    if !existed {
        validation::check_object(target.res, &body)?;
    }
    let body = target.stored(body);
    let stored = inner.store.write(target.resource, body, how, manager)?;
    Ok((stored, !existed))
}

/// RFC 6902 JSON Patch as the real server applies it: onto the current
/// object (as the request's API version shows it), then an update with the
/// current resourceVersion as precondition, retried when another write came
/// in between.
fn json_patch_update(
    inner: &Inner,
    target: &Target<'_>,
    ops: &Value,
    manager: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    for _ in 0..5 {
        let current = inner
            .store
            .get(&target.key())
            .ok_or_else(|| ApiError::not_found(target.res, target.name()))?;
        let mut patched = target.show(&current);
        admission::json_patch(&mut patched, ops).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!("the JSON patch does not apply: {e}"),
            )
        })?;
        let patched = target.stored(patched);
        if super::store::key_of(target.resource, &patched) != target.key() {
            return Err(ApiError::bad_request(
                "a JSON patch may not change the name or namespace",
            ));
        }
        let raced = patched.pointer("/metadata/resourceVersion")
            == current.pointer("/metadata/resourceVersion");
        match inner
            .store
            .write(target.resource, patched, Write::Update, manager)
        {
            Err(e) if e.reason == "Conflict" && raced => continue,
            result => return result,
        }
    }
    Err(ApiError::new(
        409,
        "Conflict",
        "the object kept changing while the JSON patch was applied",
    ))
}

fn delete_collection(inner: &Inner, target: &Target<'_>, query: &Query) -> Answer {
    let filter = Filter::from_query(query, target.res)?;
    let page = inner.store.list(
        target.resource,
        target.namespace.as_deref(),
        &|o| filter.matches(&target.show_stored(o)),
        None,
        None,
        None,
    )?;
    let mut gone = Vec::new();
    for object in page.items {
        let key = super::store::key_of(target.resource, &object.value());
        if let Ok(last) = inner.store.delete(&key) {
            gone.push(target.show(&last));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", target.res.kind),
            "apiVersion": target.res.api_version(),
            "metadata": { "resourceVersion": inner.store.resource_version().to_string() },
            "items": gone,
        }),
    ))
}

async fn read_json(req: Request<Incoming>) -> Result<Value, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::new(413, "RequestEntityTooLarge", e.to_string()))?
        .to_bytes();
    validation::parse_body(&bytes, content_type.as_deref())
}

/// What a watch was asked for.
struct WatchOptions {
    bookmarks: bool,
    initial_events_end: bool,
    timeout: Option<Duration>,
    table: Option<(String, Option<String>)>,
}

fn watch(
    inner: &Arc<Inner>,
    target: &Target<'_>,
    query: &Query,
    table: Option<(String, Option<String>)>,
) -> Answer {
    let filter = Filter::from_query(query, target.res)?;
    let rv = parse_rv(&query.get("resourceVersion").unwrap_or_default())?;
    let send_initial = query
        .get("sendInitialEvents")
        .map(|_| query.flag("sendInitialEvents"));
    let bookmarks = query.flag("allowWatchBookmarks");
    if send_initial.is_some() && !inner.streaming_lists {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
             sendInitialEvents is forbidden for watch unless the WatchList feature gate is \
             enabled",
        ));
    }
    if send_initial.is_some() {
        let not_older = query.get("resourceVersionMatch").as_deref() == Some("NotOlderThan");
        if !not_older || !bookmarks {
            return Err(ApiError::new(
                422,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
                 sendInitialEvents requires setting resourceVersionMatch to NotOlderThan \
                 and allowWatchBookmarks to true",
            ));
        }
    }
    // rv unset or 0: the current state first; sendInitialEvents overrides.
    let from = match (send_initial, rv) {
        (Some(true), _) => None,
        (Some(false), None | Some(0)) => Some(inner.store.resource_version()),
        (_, None | Some(0)) => None,
        (_, Some(n)) => Some(n),
    };
    let opts = WatchOptions {
        bookmarks,
        initial_events_end: send_initial == Some(true),
        timeout: query.number("timeoutSeconds")?.map(Duration::from_secs),
        table,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(64);
    if inner
        .watches_end_at_once
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // A proxy or server that closes watches at once: the body ends cleanly, empty.
        drop(tx);
        let mut resp = Response::new(ChannelBody(rx).boxed());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    }
    let cut = inner.watch_cut.subscribe();
    let inner = Arc::clone(inner);
    let resource = target.resource;
    let view = discovery::find(target.res.group, target.res.version, target.res.plural)
        .expect("the target's resource is served");
    let events_view = target.events_view;
    let namespace = target.namespace.clone();
    match inner.store.begin_watch(resource, from) {
        Ok(start) => {
            tokio::spawn(async move {
                let w = Watcher {
                    inner: &inner,
                    resource,
                    view,
                    events_view,
                    namespace,
                    filter,
                    opts,
                    tx,
                    cut,
                };
                w.run(start).await;
            });
        }
        Err(e) => {
            // As the real server: 200, then one ERROR event, then the end.
            let line = watch_line("ERROR", &e.status());
            tokio::spawn(async move {
                let _ = tx.send(Some(line)).await;
            });
        }
    }
    let mut resp = Response::new(ChannelBody(rx).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

struct Watcher<'a> {
    inner: &'a Inner,
    /// Where the objects are stored.
    resource: usize,
    /// The resource as the request names it (differs for `events.k8s.io`).
    view: usize,
    events_view: bool,
    namespace: Option<String>,
    filter: Filter,
    opts: WatchOptions,
    /// `None` cuts the connection (see [`ChannelBody`]).
    tx: tokio::sync::mpsc::Sender<Option<Bytes>>,
    /// Bumped by [`crate::ApiServer::drop_watches`].
    cut: tokio::sync::watch::Receiver<u64>,
}

impl Watcher<'_> {
    /// Stream until the client goes away, `timeoutSeconds` pass, the history
    /// is compacted past this watch, or the server stops.
    async fn run(mut self, start: super::store::WatchStart) {
        let mut last = start.from_rv;
        let mut changed = start.changed;
        for change in &start.initial {
            if !self.send_change(change).await {
                return;
            }
        }
        if self.opts.initial_events_end && !self.send_bookmark(last, true).await {
            return;
        }
        let deadline = self.opts.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticks = tokio::time::interval(self.inner.bookmark_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = sleep_until(deadline) => return,
                _ = self.cut.changed() => {
                    let _ = self.tx.send(None).await;
                    return;
                }
                _ = ticks.tick(), if self.opts.bookmarks => {
                    if !self.send_bookmark(last, false).await {
                        return;
                    }
                }
                r = changed.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let newest = *changed.borrow_and_update();
                    match self.inner.store.changes_after(self.resource, last) {
                        Ok(changes) => {
                            for change in &changes {
                                last = last.max(change.rv);
                                if !self.send_change(change).await {
                                    return;
                                }
                            }
                            last = last.max(newest);
                        }
                        Err(e) => {
                            let _ = self.tx.send(Some(watch_line("ERROR", &e.status()))).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The event a change is for this watch, if any: an object entering the
    /// selector is ADDED, one leaving it DELETED, as the real server does.
    async fn send_change(&self, change: &Change) -> bool {
        if let Some(ns) = &self.namespace
            && &change.key.namespace != ns
        {
            return true;
        }
        if self.opts.table.is_none() && !self.events_view && self.filter.is_empty() {
            // As stored: no parsing (150,000 Pods of initial events stay cheap).
            let kind = match change.kind {
                ChangeKind::Added => "ADDED",
                ChangeKind::Modified => "MODIFIED",
                ChangeKind::Deleted => "DELETED",
            };
            let line = format!(
                "{{\"type\":\"{kind}\",\"object\":{}}}\n",
                change.object.json()
            );
            return self.tx.send(Some(Bytes::from(line))).await.is_ok();
        }
        let show = |o: &Stored| {
            let value = o.value();
            if self.events_view {
                convert::core_to_events(&value)
            } else {
                value
            }
        };
        let shown = show(&change.object);
        let now = change.kind != ChangeKind::Deleted && self.filter.matches(&shown);
        let before = change
            .previous
            .as_ref()
            .is_some_and(|p| self.filter.matches(&show(p)));
        let kind = match (change.kind, before, now) {
            (ChangeKind::Added, _, true) => "ADDED",
            (ChangeKind::Modified, true, true) => "MODIFIED",
            (ChangeKind::Modified, false, true) => "ADDED",
            (ChangeKind::Modified, true, false) => "DELETED",
            (ChangeKind::Deleted, true, _) => "DELETED",
            _ => return true,
        };
        let object = match &self.opts.table {
            Some((version, include)) => table::table(
                &RESOURCES[self.view],
                &[Arc::new(shown)],
                version,
                include.as_deref(),
                None,
            ),
            None => shown,
        };
        self.tx.send(Some(watch_line(kind, &object))).await.is_ok()
    }

    async fn send_bookmark(&self, rv: u64, initial_events_end: bool) -> bool {
        let res = &RESOURCES[self.view];
        let mut metadata = json!({ "resourceVersion": rv.to_string(), "creationTimestamp": null });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object =
            json!({ "kind": res.kind, "apiVersion": res.api_version(), "metadata": metadata });
        self.tx
            .send(Some(watch_line("BOOKMARK", &object)))
            .await
            .is_ok()
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({ "type": kind, "object": object }))
        .expect("a JSON value serializes");
    line.push(b'\n');
    Bytes::from(line)
}

/// A response body fed by a channel: each message is one chunk, flushed as
/// it comes, and the channel's end is the body's end. A `None` message is
/// a body error, on which hyper drops the connection without ending the
/// chunked body: a connection lost mid-watch. Dropping the body (client
/// gone) closes the channel, which ends the watch task.
struct ChannelBody(tokio::sync::mpsc::Receiver<Option<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = crate::server::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| {
            o.map(|chunk| match chunk {
                Some(b) => Ok(Frame::data(b)),
                None => Err("the test dropped the watch connection".into()),
            })
        })
    }
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("a JSON value serializes");
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text_response(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(full_body(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn status_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.status())
}

#[cfg(test)]
mod tests {
    use super::super::store::merge_patch;
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({ "a": "b", "c": { "d": "e", "f": "g" }, "l": [1, 2] });
        merge_patch(
            &mut doc,
            &json!({ "a": "z", "c": { "f": null, "h": 1 }, "l": [3] }),
        );
        assert_eq!(
            doc,
            json!({ "a": "z", "c": { "d": "e", "h": 1 }, "l": [3] })
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        let key = Key {
            resource: 2,
            namespace: "shop".into(),
            name: "web-1".into(),
        };
        let (rv, back) = decode_continue(&encode_continue(42, &key), 2).unwrap();
        assert_eq!((rv, back), (42, key));
        assert_eq!(decode_continue("!!", 2).unwrap_err().code, 400);
    }
}
