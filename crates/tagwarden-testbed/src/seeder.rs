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
//! The API is synchronous for `#[test]` functions. Internally it drives an async
//! [`reqwest::Client`] on a private single-threaded tokio runtime; when called from
//! inside another runtime (a `#[tokio::test]`), the work hops to a scoped thread, so
//! the seeder works from both worlds without "cannot block inside a runtime" panics.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use reqwest::{Method, StatusCode};

use crate::image::{self, ACCEPT_ALL_MANIFESTS, Blob, BuiltImage, ManifestKind, Platform};

/// How many manifest PUTs [`Seeder::many_tags`] keeps in flight.
const CONCURRENCY: usize = 8;

/// Pushes deterministic images to a registry at a base URL (plain HTTP, no auth).
///
/// Cheap to clone; clones share the HTTP connection pool.
#[derive(Clone)]
pub struct Seeder {
    http: Http,
    rt: Arc<Runtime>,
}

impl Seeder {
    /// A seeder for the registry at `base_url`, e.g. `http://127.0.0.1:5000`
    /// (a [`crate::PagingProxy`] URL works too: everything passes through it).
    pub fn new(base_url: &str) -> Seeder {
        let base = base_url.trim_end_matches('/').to_string();
        assert!(
            base.starts_with("http://"),
            "Seeder speaks plain HTTP only; got base URL {base_url:?}"
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("building a reqwest client cannot fail with these options");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the seeder's tokio runtime");
        Seeder {
            http: Http { client, base },
            rt: Arc::new(Runtime(Some(rt))),
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

    pub(crate) async fn upload_blob(&self, repo: &str, blob: &Blob) {
        let start_url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let (status, headers, body) = self.send(Method::POST, &start_url, |r| r).await;
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

        let bytes = blob.bytes.clone();
        let (status, headers, body) = self
            .send(Method::PUT, put_url.as_str(), |r| {
                r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes)
            })
            .await;
        if status != StatusCode::CREATED {
            fail("PUT", put_url.as_str(), status, &body, "201 Created");
        }
        check_digest("PUT", put_url.as_str(), &headers, &blob.digest);
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
        let body = bytes.to_vec();
        let (status, headers, resp) = self
            .send(Method::PUT, &url, |r| {
                r.header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(body)
            })
            .await;
        if status != StatusCode::CREATED {
            fail("PUT", &url, status, &resp, "201 Created");
        }
        check_digest("PUT", &url, &headers, &digest);
        digest
    }

    pub(crate) async fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (status, headers, body) = self
            .send(Method::GET, &url, |r| {
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

    async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let req = build(self.client.request(method.clone(), url));
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
        (status, headers, body.to_vec())
    }
}

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
