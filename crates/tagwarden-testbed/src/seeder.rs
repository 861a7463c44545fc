//! Push images with nothing but the Distribution HTTP API.
//!
//! The calls, exactly as any registry client makes them:
//!
//! 1. blob upload, monolithic in two steps:
//!    `POST /v2/<name>/blobs/uploads/` → `202 Accepted` + `Location: <upload URL>`,
//!    then `PUT <upload URL>&digest=sha256:…` with the whole blob as body → `201 Created`;
//! 2. `PUT /v2/<name>/manifests/<reference>` with `Content-Type: <manifest media type>`
//!    → `201 Created` + `Docker-Content-Digest`. The registry checks that every blob
//!    (or, for an index, every child manifest) the manifest points at already exists,
//!    which is why the order is layers, config, per-platform manifests (by digest),
//!    then the tag.
//!
//! Every answer is checked (status and `Docker-Content-Digest`); any surprise panics
//! with the method, URL, status and body, because a half-seeded registry would make
//! the tests that use it fail in confusing ways.
//!
//! # Authentication
//!
//! A seeder made with [`Seeder::new`] speaks plain HTTP without auth. One from
//! [`Seeder::builder`] (or [`crate::Registry::seeder`], which sets it up for the
//! registry's mode) may trust a CA file for `https://` and hold credentials,
//! which it uses the way registry clients do: it sends a request without
//! `Authorization`, and on `401` reads `WWW-Authenticate`:
//!
//! - `Basic realm=…`: from then on every request carries Basic credentials;
//! - `Bearer realm=…,service=…,scope=repository:NAME:…`: it asks the realm
//!   (with Basic credentials) for a token with `repository:NAME:pull,push`
//!   (push needs both, and asking once per repository avoids a second round
//!   when a GET is followed by a PUT), caches it per repository and sends it
//!   as `Bearer` from then on.
//!
//! Either way the request is retried once; a second `401` panics with the
//! registry's answer.
//!
//! The API is synchronous for `#[test]` functions. Internally it drives an async
//! [`reqwest::Client`] on a private single-threaded tokio runtime; when called from
//! inside another runtime (a `#[tokio::test]`), the work hops to a scoped thread, so
//! the seeder works from both worlds without "cannot block inside a runtime" panics.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::image::{self, ACCEPT_ALL_MANIFESTS, Blob, BuiltImage, ManifestKind, Platform};

/// How many manifest PUTs [`Seeder::many_tags`] keeps in flight.
const CONCURRENCY: usize = 8;

/// Pushes deterministic images to a registry at a base URL.
///
/// Cheap to clone; clones share the HTTP connection pool and the tokens.
#[derive(Clone)]
pub struct Seeder {
    http: Http,
    rt: Arc<Runtime>,
}

/// Options for [`Seeder::builder`]: a CA to trust and credentials.
#[derive(Clone, Debug)]
pub struct SeederBuilder {
    base: String,
    ca: Option<PathBuf>,
    credentials: Option<(String, String)>,
}

impl SeederBuilder {
    /// Trust the CA certificates in this PEM file (needed for `https://`),
    /// e.g. [`crate::Registry::ca_cert_path`].
    pub fn ca_cert(mut self, path: &Path) -> SeederBuilder {
        self.ca = Some(path.to_path_buf());
        self
    }

    /// Log in with these when the registry asks (Basic auth, or at the token
    /// realm of a Bearer challenge).
    pub fn credentials(mut self, username: &str, password: &str) -> SeederBuilder {
        self.credentials = Some((username.to_string(), password.to_string()));
        self
    }

    /// The seeder.
    ///
    /// # Panics
    ///
    /// If the URL is not `http://` or `https://`, if it is `https://`
    /// without a CA, or if the CA file is unreadable.
    pub fn build(self) -> Seeder {
        let base = self.base.trim_end_matches('/').to_string();
        let https = base.starts_with("https://");
        assert!(
            https || base.starts_with("http://"),
            "Seeder: the base URL must be http:// or https://; got {:?}",
            self.base
        );
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30));
        match &self.ca {
            Some(ca) => {
                let pem = std::fs::read(ca).unwrap_or_else(|e| {
                    panic!("Seeder: cannot read CA file {}: {e}", ca.display())
                });
                let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_else(|e| {
                    panic!(
                        "Seeder: CA file {} is not PEM certificates: {e}",
                        ca.display()
                    )
                });
                client = client.tls_certs_only(certs);
            }
            None => assert!(
                !https,
                "Seeder: {base} is HTTPS: give the CA that signed its certificate with \
                 Seeder::builder(url).ca_cert(path) (a test-bed registry's seeder() does that)"
            ),
        }
        let client = client
            .build()
            .expect("building a reqwest client cannot fail with these options");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the seeder's tokio runtime");
        Seeder {
            http: Http {
                client,
                base,
                auth: Arc::new(Auth {
                    credentials: self.credentials,
                    basic: AtomicBool::new(false),
                    tokens: tokio::sync::Mutex::new(HashMap::new()),
                }),
            },
            rt: Arc::new(Runtime(Some(rt))),
        }
    }
}

impl Seeder {
    /// A seeder for the registry at `base_url`, e.g. `http://127.0.0.1:5000`
    /// (a [`crate::PagingProxy`] or [`crate::FaultProxy`] URL works too:
    /// everything passes through it). Plain HTTP, no credentials: for
    /// registries with auth use [`crate::Registry::seeder`] or [`Seeder::builder`].
    pub fn new(base_url: &str) -> Seeder {
        assert!(
            base_url.starts_with("http://"),
            "Seeder::new speaks plain HTTP only; got base URL {base_url:?}: for HTTPS use \
             Seeder::builder(url).ca_cert(path) or registry.seeder()"
        );
        Seeder::builder(base_url).build()
    }

    /// A seeder with options (CA, credentials) for the registry at `base_url`.
    pub fn builder(base_url: &str) -> SeederBuilder {
        SeederBuilder {
            base: base_url.to_string(),
            ca: None,
            credentials: None,
        }
    }

    /// The registry base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.http.base
    }

    /// Push a deterministic image for `repo:tag` and return the digest of the
    /// top-level manifest.
    ///
    /// One platform: layer, config and an image manifest tagged `tag`. Several
    /// platforms: one image per platform (pushed by digest) and an OCI index or
    /// Docker manifest list, with `platform` fields, tagged `tag`. Each layer is a
    /// gzip'd tar holding `/etc/seed-release` with repo, tag and platform, so every
    /// (repo, tag, platform) has its own blobs and digests.
    ///
    /// The returned digest is the sha256 of the exact bytes PUT, checked against
    /// the registry's `Docker-Content-Digest` answer.
    ///
    /// # Panics
    ///
    /// If `platforms` is empty or the registry answers anything unexpected.
    pub fn push_image(
        &self,
        repo: &str,
        tag: &str,
        kind: ManifestKind,
        platforms: &[Platform],
    ) -> String {
        self.block_on(self.http.push_image(repo, tag, kind, platforms))
    }

    /// Put the manifest currently at `repo:src` under `repo:dst` as well (same
    /// bytes, same media type, same digest). Returns the digest.
    pub fn alias(&self, repo: &str, src: &str, dst: &str) -> String {
        self.block_on(self.http.alias(repo, src, dst))
    }

    /// Tag one single-platform OCI image (linux/amd64) with every tag in `tags`,
    /// cheaply: one image push for `tags[0]`, then concurrent manifest PUTs of
    /// the same bytes. Returns the shared digest. Used for pagination tests.
    ///
    /// # Panics
    ///
    /// If `tags` is empty or the registry answers anything unexpected.
    pub fn many_tags(&self, repo: &str, tags: &[String]) -> String {
        self.block_on(self.http.many_tags(repo, tags))
    }

    /// PUT raw manifest bytes under `repo:reference` (a tag or a digest) with the
    /// given media type. Returns the digest, checked against the registry's answer.
    /// The blobs it references must already be in `repo`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        self.block_on(self.http.put_manifest(repo, reference, media_type, bytes))
    }

    /// Upload one blob into `repo` (POST + PUT). Uploading a blob the repository
    /// already has is harmless: the registry answers 201 again.
    pub fn upload_blob(&self, repo: &str, blob: &Blob) {
        self.block_on(self.http.upload_blob(repo, blob))
    }

    /// GET a manifest with all four manifest media types accepted; returns
    /// `(Content-Type, bytes)`.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        self.block_on(self.http.get_manifest(repo, reference))
    }

    /// The digest of the `architecture` entry of the index at `repo@index_digest`.
    pub fn index_child(&self, repo: &str, index_digest: &str, architecture: &str) -> String {
        let (_, body) = self.get_manifest(repo, index_digest);
        let index: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{repo}@{index_digest} is not JSON: {e}"));
        index["manifests"]
            .as_array()
            .and_then(|entries| {
                entries
                    .iter()
                    .find(|m| m["platform"]["architecture"] == architecture)
            })
            .and_then(|m| m["digest"].as_str())
            .unwrap_or_else(|| panic!("{repo}@{index_digest} has no {architecture} entry"))
            .to_string()
    }

    /// DELETE a manifest by digest (the test registry allows deletes), e.g. to leave an
    /// index pointing at a manifest that is gone.
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        self.block_on(self.http.delete_manifest(repo, digest))
    }

    /// The async core, for concurrent seeding inside this crate.
    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    /// Run `fut` to completion on the private runtime, from any context.
    pub(crate) fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let rt = self.rt.0.as_ref().expect("runtime is only taken in Drop");
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking a runtime thread is forbidden; block a helper thread instead.
            std::thread::scope(|s| {
                s.spawn(|| rt.block_on(fut))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            rt.block_on(fut)
        }
    }
}

/// A runtime that may be dropped anywhere: dropping a tokio runtime inside
/// another runtime panics, `shutdown_background` does not.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The async core; cheap to clone (reqwest's client is an `Arc` inside).
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    auth: Arc<Auth>,
}

/// Credentials and what the registry told us to do with them.
struct Auth {
    credentials: Option<(String, String)>,
    /// The registry asked for Basic auth: send it with every request.
    basic: AtomicBool,
    /// Bearer tokens by repository name (or by scope, for other scopes).
    tokens: tokio::sync::Mutex<HashMap<String, String>>,
}

impl Http {
    pub(crate) async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        kind: ManifestKind,
        platforms: &[Platform],
    ) -> String {
        assert!(
            !platforms.is_empty(),
            "push_image({repo}:{tag}) needs at least one platform"
        );
        let images: Vec<BuiltImage> = platforms
            .iter()
            .map(|p| image::build_image(repo, tag, kind, p))
            .collect();
        for img in &images {
            self.upload_blob(repo, &img.layer).await;
            self.upload_blob(repo, &img.config).await;
        }
        if let [img] = images.as_slice() {
            return self
                .put_manifest(repo, tag, img.manifest.media_type, &img.manifest.bytes)
                .await;
        }
        for img in &images {
            self.put_manifest(
                repo,
                &img.manifest.digest,
                img.manifest.media_type,
                &img.manifest.bytes,
            )
            .await;
        }
        let index = image::build_index(kind, &images);
        self.put_manifest(repo, tag, index.media_type, &index.bytes)
            .await
    }

    pub(crate) async fn alias(&self, repo: &str, src: &str, dst: &str) -> String {
        let (media_type, bytes) = self.get_manifest(repo, src).await;
        self.put_manifest(repo, dst, &media_type, &bytes).await
    }

    pub(crate) async fn many_tags(&self, repo: &str, tags: &[String]) -> String {
        let (first, rest) = tags
            .split_first()
            .unwrap_or_else(|| panic!("many_tags({repo}) needs at least one tag"));
        let platform = Platform::linux_amd64();
        let img = image::build_image(repo, first, ManifestKind::Oci, &platform);
        let digest = self
            .push_image(
                repo,
                first,
                ManifestKind::Oci,
                std::slice::from_ref(&platform),
            )
            .await;
        // Owned values in the closure: borrowing ones trip the compiler's
        // higher-ranked `Send` check when this future is sent to a thread.
        let (http, name, manifest) = (self.clone(), repo.to_string(), img.manifest);
        let digests: Vec<String> = futures::stream::iter(rest.to_vec())
            .map(move |tag| {
                let (http, name, manifest) = (http.clone(), name.clone(), manifest.clone());
                async move {
                    http.put_manifest(&name, &tag, manifest.media_type, &manifest.bytes)
                        .await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for d in digests {
            assert_eq!(d, digest, "every tag of {repo} must share one digest");
        }
        digest
    }

    /// Upload a blob (POST a session, PUT the bytes). Distribution 2.8 on a busy machine
    /// occasionally answers a concurrent upload with 500 UNKNOWN; a fresh session is tried
    /// then, a few times, as a registry client would.
    pub(crate) async fn upload_blob(&self, repo: &str, blob: &Blob) {
        for attempt in 1..=SERVER_ERROR_ATTEMPTS {
            if self
                .try_upload_blob(repo, blob, attempt == SERVER_ERROR_ATTEMPTS)
                .await
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
        }
    }

    /// One upload; false when the registry answered 5xx and `last` is not set.
    async fn try_upload_blob(&self, repo: &str, blob: &Blob, last: bool) -> bool {
        let start_url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let (status, headers, body) = self.send(Method::POST, &start_url, repo, |r| r).await;
        if status.is_server_error() && !last {
            return false;
        }
        if status != StatusCode::ACCEPTED {
            fail("POST", &start_url, status, &body, "202 Accepted");
        }
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("POST {start_url}: 202 without a Location header"));
        // Location may be absolute or relative to the registry (the spec allows both).
        let mut put_url = url::Url::parse(&format!("{}/", self.base))
            .and_then(|base| base.join(location))
            .unwrap_or_else(|e| panic!("POST {start_url}: bad Location {location:?}: {e}"));
        put_url
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);

        let bytes = Bytes::from(blob.bytes.clone());
        let (status, headers, body) = self
            .send(Method::PUT, put_url.as_str(), repo, |r| {
                r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            })
            .await;
        if status.is_server_error() && !last {
            return false;
        }
        if status != StatusCode::CREATED {
            fail("PUT", put_url.as_str(), status, &body, "201 Created");
        }
        check_digest("PUT", put_url.as_str(), &headers, &blob.digest);
        true
    }

    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let digest = image::sha256_digest(bytes);
        let body = Bytes::copy_from_slice(bytes);
        let (status, headers, resp) = self
            .send(Method::PUT, &url, repo, |r| {
                r.header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await;
        if status != StatusCode::CREATED {
            fail("PUT", &url, status, &resp, "201 Created");
        }
        check_digest("PUT", &url, &headers, &digest);
        digest
    }

    pub(crate) async fn delete_manifest(&self, repo: &str, digest: &str) {
        let url = format!("{}/v2/{repo}/manifests/{digest}", self.base);
        let (status, _, body) = self.send(Method::DELETE, &url, repo, |r| r).await;
        if status != StatusCode::ACCEPTED {
            fail("DELETE", &url, status, &body, "202 Accepted");
        }
    }

    pub(crate) async fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (status, headers, body) = self
            .send(Method::GET, &url, repo, |r| {
                r.header(reqwest::header::ACCEPT, ACCEPT_ALL_MANIFESTS)
            })
            .await;
        if status != StatusCode::OK {
            fail("GET", &url, status, &body, "200 OK");
        }
        let media_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("GET {url}: 200 without a Content-Type"))
            .to_string();
        check_digest("GET", &url, &headers, &image::sha256_digest(&body));
        (media_type, body)
    }

    /// Send a request about `repo`, authenticating as the registry asks
    /// (see the module docs); `build` may be called twice.
    async fn send(
        &self,
        method: Method,
        url: &str,
        repo: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut retried = false;
        let mut server_errors = 0u32;
        loop {
            let mut req = build(self.client.request(method.clone(), url));
            let sent = self.auth_header(repo).await;
            if let Some(value) = &sent {
                req = req.header(AUTHORIZATION, value);
            }
            let resp = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {url}: no answer from the registry: {e}"));
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
            // Distribution 2.8 on a busy machine sometimes answers 500 UNKNOWN to a
            // request that races another; idempotent ones (reads, manifest PUTs of the
            // same bytes) are simply asked again.
            let idempotent = matches!(method, Method::GET | Method::HEAD)
                || (method == Method::PUT && url.contains("/manifests/"));
            if status.is_server_error() && idempotent && server_errors + 1 < SERVER_ERROR_ATTEMPTS {
                server_errors += 1;
                tokio::time::sleep(std::time::Duration::from_millis(
                    50 * u64::from(server_errors),
                ))
                .await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                let challenge = headers
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| {
                        fail(
                            method.as_str(),
                            url,
                            status,
                            &body,
                            "an answer or a WWW-Authenticate challenge",
                        )
                    })
                    .to_string();
                self.answer_challenge(&method, url, &challenge, sent.as_deref())
                    .await;
                continue;
            }
            return (status, headers, body.to_vec());
        }
    }

    async fn auth_header(&self, repo: &str) -> Option<String> {
        let (user, password) = self.auth.credentials.as_ref()?;
        if self.auth.basic.load(Ordering::SeqCst) {
            return Some(crate::server::basic_header(user, password));
        }
        let tokens = self.auth.tokens.lock().await;
        tokens.get(repo).map(|t| format!("Bearer {t}"))
    }

    /// Do what a `401` challenge asks: switch to Basic, or fetch a token.
    /// `sent` is the `Authorization` the rejected request carried.
    async fn answer_challenge(
        &self,
        method: &Method,
        url: &str,
        challenge: &str,
        sent: Option<&str>,
    ) {
        let Some((user, password)) = self.auth.credentials.clone() else {
            panic!(
                "{method} {url}: the registry wants credentials ({challenge}) but this Seeder has \
                 none: use registry.seeder(), or Seeder::builder(url).credentials(user, password)"
            );
        };
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            self.auth.basic.store(true, Ordering::SeqCst);
            return;
        }
        assert!(
            scheme.eq_ignore_ascii_case("bearer"),
            "{method} {url}: unsupported challenge {challenge:?}"
        );
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let realm = param("realm").unwrap_or_else(|| {
            panic!("{method} {url}: Bearer challenge without realm: {challenge}")
        });
        let scope = param("scope").unwrap_or("");
        // Ask for pull and push at once; key the token by repository name.
        let (key, scope) = match scope
            .strip_prefix("repository:")
            .and_then(|r| r.rsplit_once(':'))
        {
            Some((name, _)) => (name.to_string(), format!("repository:{name}:pull,push")),
            None => (scope.to_string(), scope.to_string()),
        };
        let mut token_url = url::Url::parse(realm)
            .unwrap_or_else(|e| panic!("{method} {url}: bad token realm {realm:?}: {e}"));
        {
            let mut q = token_url.query_pairs_mut();
            if let Some(service) = param("service") {
                q.append_pair("service", service);
            }
            if !scope.is_empty() {
                q.append_pair("scope", &scope);
            }
        }
        let mut tokens = self.auth.tokens.lock().await;
        if let Some(cached) = tokens.get(&key)
            && sent != Some(format!("Bearer {cached}").as_str())
        {
            // A concurrent request fetched a token since this one was sent.
            return;
        }
        let resp = self
            .client
            .get(token_url.as_str())
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {token_url}: no answer from the token realm: {e}"));
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("GET {token_url}: reading the token failed: {e}"));
        if status != StatusCode::OK {
            fail(
                "GET",
                token_url.as_str(),
                status,
                &body,
                "200 OK from the token realm",
            );
        }
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "GET {token_url}: the token answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        let token = answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .unwrap_or_else(|| panic!("GET {token_url}: no token in the answer: {answer}"));
        tokens.insert(key, token.to_string());
    }
}

/// `Bearer realm="r",service="s",scope="a:b:pull,push"` →
/// `("Bearer", [("realm","r"), ("service","s"), ("scope","a:b:pull,push")])`.
/// Quoted values may hold commas; names are lower-cased.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((name, value));
        rest = next;
    }
    (scheme.to_string(), params)
}

/// How often a request that the registry answered with 5xx is tried in all.
const SERVER_ERROR_ATTEMPTS: u32 = 4;

fn fail(method: &str, url: &str, status: StatusCode, body: &[u8], wanted: &str) -> ! {
    panic!(
        "{method} {url}: registry answered {status}, wanted {wanted}; body: {}",
        String::from_utf8_lossy(body)
    )
}

fn check_digest(method: &str, url: &str, headers: &reqwest::header::HeaderMap, want: &str) {
    let got = headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{method} {url}: no Docker-Content-Digest header in the answer"));
    assert_eq!(
        got, want,
        "{method} {url}: registry's Docker-Content-Digest differs from the sha256 of the bytes"
    );
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn challenges_parse() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="svc",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(scheme, "Bearer");
        let want = [
            ("realm", "http://127.0.0.1:1/token"),
            ("service", "svc"),
            ("scope", "repository:a/b:pull,push"),
            ("error", "insufficient_scope"),
        ];
        assert_eq!(
            params,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="x \"y\"", charset=UTF-8"#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params[0].1, "x \"y\"");
        assert_eq!(params[1], ("charset".to_string(), "UTF-8".to_string()));
    }
}
