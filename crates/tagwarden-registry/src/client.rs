//! The Distribution API operations tagwarden needs: HEAD and GET manifests, list tags,
//! GET blobs. Layering follows go-containerregistry: a [`Repository`] names what to ask
//! about, the [`Client`] asks, and the transport (see `transport.rs`) does the HTTP.
//!
//! On top of the transport the client adds what makes checking many images cheap:
//!
//! - **Single flight, with bounded memory.** Identical questions asked concurrently cost
//!   one request, and answers are remembered for a while: "present" longer than "missing",
//!   errors never, and at most a bounded number of them (see [`crate::memory`]).
//! - **Persistent cache.** Optionally, digests and tag lists are kept on disk for a TTL
//!   (see [`crate::cache`]). Only answers are cached; a failure never is, and an expired
//!   entry is never used, so a registry that is down never looks "present".
//! - **Mirrors.** As containerd's `hosts.toml`: mirrors first, then the upstream. The
//!   answer says which host gave it. An *authoritative* [`Mirror`] (an air-gapped
//!   registry) gives final answers: what it does not have is missing, and the upstream is
//!   never asked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tagwarden_core::Reference;
use url::Url;

use crate::cache::DiskCache;
use crate::error::{Lookup, RegistryError};
use crate::keychain::{Keychain, MultiKeychain};
use crate::memory::{Answers, Limits};
use crate::observe::Operation;
use crate::platform::Platform;
use crate::shared::SharedCache;
use crate::transport::{
    Call, ClientOptions, CredentialIdentity, Credentials, Fetched, RateLimit, Transport, header_str,
};

/// Every manifest media type tagwarden understands, for `Accept`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The repository part of a reference: which registry to ask and what to ask about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The registry as users name it (`docker.io`, `127.0.0.1:5000`); used for
    /// credentials, mirrors and messages.
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

    /// The same repository on a mirror host.
    fn on_mirror(&self, mirror: &str) -> Self {
        Self {
            registry: mirror.to_string(),
            api_host: mirror.to_string(),
            name: self.name.clone(),
        }
    }
}

/// What a manifest HEAD (or GET) tells us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestHead {
    /// `sha256:…` from `Docker-Content-Digest` (or computed from the body).
    pub digest: String,
    /// The `Content-Type` of the manifest.
    pub media_type: String,
    /// The host that answered (a mirror, or the registry's API host).
    pub source: String,
}

/// A manifest with its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sha256:…` of the body, checked against `Docker-Content-Digest`.
    pub digest: String,
    /// The `Content-Type` of the manifest.
    pub media_type: String,
    /// The manifest, byte for byte (base64 when serialized).
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

/// Bytes as a base64 string, for manifests kept in the shared cache.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A mirror of a registry: a host asked before the registry itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Mirror {
    /// `HOST[:PORT]`.
    pub host: String,
    /// When true, the mirror's answers are final: a manifest or repository it does not have
    /// is missing, an error is *could not decide*, and the upstream registry is never asked
    /// (an air-gapped mirror). Later mirrors are not asked either.
    pub authoritative: bool,
}

impl Mirror {
    /// A mirror whose misses fall through to the next mirror and the registry.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            authoritative: false,
        }
    }

    /// A mirror whose answers are final (see [`Mirror::authoritative`]).
    pub fn authoritative(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            authoritative: true,
        }
    }
}

/// A registry client. Cheap to clone; clones share connections, tokens, limits and caches.
///
/// A client is a shared transport plus a keychain. [`Client::with_keychain`] and
/// [`Client::with_keychain_first`] give a client that answers with other credentials over
/// the same transport, as go-containerregistry passes a keychain per request: the
/// per-host concurrency limit, pacing, host-down marks, learned challenges, connections
/// and the memory bound are one budget for the process, whatever the credentials. Tokens
/// and answers in memory are kept per credential (the identity of the credential the
/// keychain gives for the registry, a hash), so nothing obtained with one credential is
/// served to another, and keychains that give the same credential share what was learnt.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    credentials: Arc<Credentials>,
}

/// (who asked: the credential's identity, host, repository, reference).
type ReferenceKey = (CredentialIdentity, String, String, String);
/// (who asked: the credential's identity, host, repository).
type RepositoryKey = (CredentialIdentity, String, String);

struct Inner {
    transport: Transport,
    mirrors: HashMap<String, Vec<Mirror>>,
    heads: Answers<ReferenceKey, ManifestHead>,
    tags: Answers<RepositoryKey, Vec<String>>,
    /// Tag lists read from the registry, never from the disk cache.
    fresh_tags: Answers<RepositoryKey, Vec<String>>,
    manifests: Answers<ReferenceKey, Manifest>,
    /// The platform each image config names, by config digest: many tags (and a fleet's
    /// clusters) share one config, whose blob is read once.
    config_platforms: Answers<ReferenceKey, Platform>,
    disk: Option<DiskCache>,
    /// The identity of the keychain the client was built with: the only one whose answers
    /// go to (and come from) the disk cache, which does not know who asked.
    own_keychain: u64,
    /// The cache shared with other processes, if any (see [`Client::via_shared`]).
    shared: Option<SharedCache>,
}

impl Client {
    /// Build a client without mirrors or a persistent cache.
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        Self::with_extras(options, HashMap::new(), None)
    }

    /// Build a client with registry mirrors (`docker.io` → `["mirror.local:5000"]`) and an
    /// optional persistent cache.
    pub fn with_extras(
        options: ClientOptions,
        mirrors: HashMap<String, Vec<String>>,
        disk: Option<DiskCache>,
    ) -> Result<Self, RegistryError> {
        let mirrors = mirrors
            .into_iter()
            .map(|(registry, hosts)| (registry, hosts.into_iter().map(Mirror::new).collect()))
            .collect();
        Self::with_mirrors(options, mirrors, disk)
    }

    /// Build a client with registry mirrors (`docker.io` → its [`Mirror`]s, in order) and
    /// an optional persistent cache. [`crate::config::RegistryConfig::build_client`] builds one from
    /// the config file.
    pub fn with_mirrors(
        options: ClientOptions,
        mirrors: HashMap<String, Vec<Mirror>>,
        disk: Option<DiskCache>,
    ) -> Result<Self, RegistryError> {
        let limits = Limits {
            found_ttl: options.found_ttl,
            missing_ttl: options.missing_ttl,
            max_entries: options.max_cached_answers,
        };
        let credentials = Arc::new(Credentials::new(options.credentials.clone()));
        let shared = options.shared_cache.clone();
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport::new(options)?,
                mirrors,
                heads: Answers::new(limits),
                tags: Answers::new(limits),
                fresh_tags: Answers::new(limits),
                manifests: Answers::new(limits),
                config_platforms: Answers::new(limits),
                disk,
                own_keychain: credentials.id(),
                shared,
            }),
            credentials,
        })
    }

    /// A client that answers challenges with `keychain` instead of this client's, over
    /// the same transport: the same per-host concurrency limit, pacing, host-down marks,
    /// learned challenges and connections (one registry budget for every credential set).
    /// Its tokens and in-memory answers are those of the credential it gives for each
    /// registry: shared with every client of the transport that gives the same one, never
    /// with another. It does not use the disk cache (which does not know who asked).
    pub fn with_keychain(&self, keychain: impl Keychain) -> Client {
        Client {
            inner: self.inner.clone(),
            credentials: Arc::new(Credentials::new(Arc::new(keychain))),
        }
    }

    /// [`Client::with_keychain`] with `first` asked before this client's keychain (a
    /// workload's pull secrets before the local credentials).
    pub fn with_keychain_first(&self, first: impl Keychain) -> Client {
        let keychain =
            MultiKeychain::new(vec![Arc::new(first), self.credentials.keychain().clone()]);
        self.with_keychain(keychain)
    }

    /// The keychain this client answers challenges with.
    pub fn keychain(&self) -> Arc<dyn Keychain> {
        self.credentials.keychain().clone()
    }

    /// The disk cache, for the keychain the client was built with only.
    fn disk(&self) -> Option<&DiskCache> {
        self.inner
            .disk
            .as_ref()
            .filter(|_| self.credentials.id() == self.inner.own_keychain)
    }

    /// Who asks about `repo`: the identity of the credential this client's keychain gives
    /// for it (a hash, or anonymous). Answers in memory are kept under it, not under the
    /// keychain: clients whose keychains give the same credential (a fleet's clusters with
    /// the same pull secret, or none) share answers and single flights; different
    /// credentials never do.
    async fn asker(&self, repo: &Repository) -> Result<CredentialIdentity, RegistryError> {
        let call = manifest_call(repo, Method::HEAD, "", &self.credentials);
        self.inner.transport.credential_identity(&call).await
    }

    async fn reference_key(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<ReferenceKey, RegistryError> {
        Ok((
            self.asker(repo).await?,
            repo.api_host.clone(),
            repo.name.clone(),
            reference.to_string(),
        ))
    }

    async fn repository_key(&self, repo: &Repository) -> Result<RepositoryKey, RegistryError> {
        Ok((
            self.asker(repo).await?,
            repo.api_host.clone(),
            repo.name.clone(),
        ))
    }

    /// How many answers the client holds in memory (all kinds together, questions in
    /// flight included). Bounded by [`ClientOptions::max_cached_answers`] per kind.
    pub fn cache_len(&self) -> usize {
        let inner = &self.inner;
        inner.heads.len()
            + inner.tags.len()
            + inner.fresh_tags.len()
            + inner.manifests.len()
            + inner.config_platforms.len()
    }

    /// Announce the repositories about to be checked, so that one token request per
    /// registry covers all of them.
    pub fn announce<'a>(&self, repositories: impl IntoIterator<Item = &'a Repository>) {
        let mut by_host: HashMap<&str, Vec<&str>> = HashMap::new();
        for repo in repositories {
            by_host.entry(&repo.api_host).or_default().push(&repo.name);
            for mirror in self.mirrors_of(repo) {
                by_host.entry(&mirror.host).or_default().push(&repo.name);
            }
        }
        for (host, names) in by_host {
            self.inner
                .transport
                .announce(host, self.credentials.id(), names);
        }
    }

    /// The latest rate-limit headers each registry sent (Docker Hub sends them).
    pub fn rate_limits(&self) -> Vec<(String, RateLimit)> {
        self.inner.transport.rate_limits()
    }

    fn mirrors_of(&self, repo: &Repository) -> &[Mirror] {
        self.inner
            .mirrors
            .get(&repo.registry)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Ask the mirrors first, then the registry itself: the first `Found` wins, and the
    /// registry's own answer is final. An authoritative mirror's answer is final too, and
    /// nobody after it is asked.
    async fn via_mirrors<T, F, Fut>(
        &self,
        repo: &Repository,
        ask: F,
    ) -> Result<Lookup<T>, RegistryError>
    where
        F: Fn(Repository) -> Fut,
        Fut: std::future::Future<Output = Result<Lookup<T>, RegistryError>>,
    {
        for mirror in self.mirrors_of(repo) {
            let host = mirror.host.as_str();
            if mirror.authoritative {
                tracing::debug!(mirror = host, repo = %repo.name, "asking the authoritative mirror only");
                return ask(repo.on_mirror(host)).await;
            }
            match ask(repo.on_mirror(host)).await {
                Ok(Lookup::Found(found)) => return Ok(Lookup::Found(found)),
                Ok(Lookup::Missing(m)) => {
                    tracing::debug!(mirror = host, repo = %repo.name, missing = %m, "mirror does not have it");
                }
                Err(e) => {
                    tracing::debug!(mirror = host, repo = %repo.name, error = %e, "mirror failed")
                }
            }
        }
        ask(repo.clone()).await
    }

    /// HEAD a manifest by tag or digest. Free on Docker Hub's pull rate limit.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<ManifestHead>, RegistryError> {
        self.via_mirrors(repo, |r| async move {
            let key = self.reference_key(&r, reference).await?;
            self.inner
                .heads
                .get_or_try(&key, || self.head_uncached(&r, reference))
                .await
        })
        .await
    }

    async fn head_uncached(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<ManifestHead>, RegistryError> {
        let disk_key = format!("head\t{}\t{}\t{}", repo.api_host, repo.name, reference);
        if let Some(disk) = self.disk()
            && let Some(head) = disk.get::<ManifestHead>(&disk_key)
        {
            tracing::debug!(repo = %repo.name, reference, "manifest digest from the disk cache");
            return Ok(Lookup::Found(head));
        }
        let question = |identity: &str| {
            format!(
                "head:{identity}:{}/{}:{reference}",
                repo.api_host, repo.name
            )
        };
        let answer = self
            .via_shared(repo, question, || self.head_from_registry(repo, reference))
            .await?;
        if let (Some(disk), Lookup::Found(head)) = (self.disk(), &answer) {
            disk.put(&disk_key, head);
        }
        Ok(answer)
    }

    /// The one seam to the cache shared with other processes ([`crate::shared`]): its
    /// answer to `question` (made from the identity of the credential this client would
    /// use for `repo`, never the secret), or `ask`'s, asked by one process of the fleet
    /// at a time. Without a shared cache, `ask`.
    async fn via_shared<T, Q, F, Fut>(
        &self,
        repo: &Repository,
        question: Q,
        ask: F,
    ) -> Result<Lookup<T>, RegistryError>
    where
        T: Serialize + serde::de::DeserializeOwned,
        Q: FnOnce(&str) -> String,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Lookup<T>, RegistryError>>,
    {
        let Some(shared) = &self.inner.shared else {
            return ask().await;
        };
        let call = manifest_call(repo, Method::HEAD, "", &self.credentials);
        let identity = self.inner.transport.sharing_identity(&call).await?;
        shared.answer(&question(&identity), ask).await
    }

    /// HEAD a manifest on the registry (a GET when the HEAD has no digest).
    async fn head_from_registry(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<ManifestHead>, RegistryError> {
        let call = manifest_call(repo, Method::HEAD, reference, &self.credentials);
        let fetched = match self.inner.transport.fetch(&call).await? {
            Lookup::Found(f) => f,
            Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
        };
        let media_type = content_type(&fetched);
        let head = match header_str(&fetched.headers, "docker-content-digest") {
            Some(digest) => {
                check_digest_syntax(repo, &call.what, &digest)?;
                ManifestHead {
                    digest,
                    media_type,
                    source: repo.api_host.clone(),
                }
            }
            // Some registries omit the digest on HEAD: a GET computes it from the body.
            None => match self.manifest_on_host(repo, reference).await? {
                Lookup::Found(m) => ManifestHead {
                    digest: m.digest,
                    media_type: m.media_type,
                    source: repo.api_host.clone(),
                },
                Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
            },
        };
        Ok(Lookup::Found(head))
    }

    /// GET a manifest by tag or digest, verifying the body against its digest.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<Manifest>, RegistryError> {
        self.via_mirrors(repo, |r| async move {
            self.manifest_on_host(&r, reference).await
        })
        .await
    }

    /// GET a manifest from exactly `repo`'s host (no mirrors), once per run.
    async fn manifest_on_host(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<Manifest>, RegistryError> {
        let key = self.reference_key(repo, reference).await?;
        let question = |identity: &str| {
            format!(
                "manifest:{identity}:{}/{}:{reference}",
                repo.api_host, repo.name
            )
        };
        self.inner
            .manifests
            .get_or_try(&key, || {
                self.via_shared(repo, question, || {
                    self.get_manifest_uncached(repo, reference)
                })
            })
            .await
    }

    async fn get_manifest_uncached(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Lookup<Manifest>, RegistryError> {
        let call = manifest_call(repo, Method::GET, reference, &self.credentials);
        let fetched = match self.inner.transport.fetch(&call).await? {
            Lookup::Found(f) => f,
            Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
        };
        let media_type = content_type(&fetched);
        let computed = format!("sha256:{:x}", Sha256::digest(&fetched.body));
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            header_str(&fetched.headers, "docker-content-digest")
                .filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != computed
        {
            return Err(RegistryError::Malformed {
                registry: repo.registry.clone(),
                request: call.what,
                reason: format!("the manifest body hashes to {computed}, not {expected}"),
                cause: None,
            });
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&fetched.body).is_err() {
            return Err(RegistryError::Malformed {
                registry: repo.registry.clone(),
                request: call.what,
                reason: format!(
                    "the manifest is not JSON (Content-Type {:?})",
                    if media_type.is_empty() {
                        "none"
                    } else {
                        media_type.as_str()
                    }
                ),
                cause: None,
            });
        }
        Ok(Lookup::Found(Manifest {
            digest: computed,
            media_type,
            body: fetched.body.to_vec(),
        }))
    }

    /// The platform (`os`, `architecture`, `variant`) the image config `config_digest`
    /// names, read from its blob once per config and credential: the tags of a repository
    /// (and the clusters of a fleet) often share one config.
    pub async fn config_platform(
        &self,
        repo: &Repository,
        config_digest: &str,
    ) -> Result<Lookup<Platform>, RegistryError> {
        let key = self.reference_key(repo, config_digest).await?;
        self.inner
            .config_platforms
            .get_or_try(&key, || async {
                let bytes = match self.get_blob(repo, config_digest).await? {
                    Lookup::Found(bytes) => bytes,
                    Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
                };
                let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&bytes)
                    .map_err(|e| RegistryError::Malformed {
                        registry: repo.registry.clone(),
                        request: format!("GET blob {}@{config_digest}", repo.name),
                        reason: format!("the image config is malformed: {e}"),
                        cause: Some(e.into()),
                    })?;
                Ok(Lookup::Found(Platform::new(
                    &config.os().to_string(),
                    &config.architecture().to_string(),
                    config.variant().as_deref(),
                )))
            })
            .await
    }

    /// GET a blob (an image config, say), verifying it against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Lookup<Vec<u8>>, RegistryError> {
        self.via_mirrors(repo, |r| async move {
            let call = Call {
                registry: &r.registry,
                host: &r.api_host,
                repository: &r.name,
                method: Method::GET,
                path: format!("/v2/{}/blobs/{}", r.name, digest),
                accept: None,
                what: format!("GET blob {}@{}", r.name, digest),
                operation: Operation::GetBlob,
                credentials: &self.credentials,
            };
            let fetched = match self.inner.transport.fetch(&call).await? {
                Lookup::Found(f) => f,
                Lookup::Missing(m) => return Ok(Lookup::Missing(m)),
            };
            if let Some(hex) = digest.strip_prefix("sha256:") {
                let computed = format!("{:x}", Sha256::digest(&fetched.body));
                if computed != hex {
                    return Err(RegistryError::Malformed {
                        registry: r.registry.clone(),
                        request: call.what,
                        reason: format!("the blob hashes to sha256:{computed}"),
                        cause: None,
                    });
                }
            }
            Ok(Lookup::Found(fetched.body.to_vec()))
        })
        .await
    }

    /// All tags of a repository, following `Link: <…>; rel="next"` pagination until the
    /// registry says there are no more. Missing when the repository does not exist.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Lookup<Vec<String>>, RegistryError> {
        self.via_mirrors(repo, |r| async move {
            let key = self.repository_key(&r).await?;
            self.inner
                .tags
                .get_or_try(&key, || self.list_tags_uncached(&r))
                .await
        })
        .await
    }

    /// All tags of a repository as the registry lists them now: never from the disk cache
    /// (which it refreshes), at most once per run. For the moment an answer depends on the
    /// newest tags, such as choosing a fallback: a tag list cached before `v1.32.0` was
    /// published must not make `v1.32.1` fall back to `v1.31.1`.
    pub async fn list_tags_fresh(
        &self,
        repo: &Repository,
    ) -> Result<Lookup<Vec<String>>, RegistryError> {
        self.via_mirrors(repo, |r| async move {
            let key = self.repository_key(&r).await?;
            self.inner
                .fresh_tags
                .get_or_try(&key, || self.list_tags_from_registry(&r))
                .await
        })
        .await
    }

    async fn list_tags_uncached(
        &self,
        repo: &Repository,
    ) -> Result<Lookup<Vec<String>>, RegistryError> {
        let disk_key = tags_disk_key(repo);
        if let Some(disk) = self.disk()
            && let Some(tags) = disk.get::<Vec<String>>(&disk_key)
        {
            tracing::debug!(repo = %repo.name, "tag list from the disk cache");
            return Ok(Lookup::Found(tags));
        }
        self.list_tags_from_registry(repo).await
    }

    /// The tag list from the registry (or from the fleet's shared cache, which only holds
    /// lists read from a registry).
    async fn list_tags_from_registry(
        &self,
        repo: &Repository,
    ) -> Result<Lookup<Vec<String>>, RegistryError> {
        let question = |identity: &str| format!("tags:{identity}:{}/{}", repo.api_host, repo.name);
        self.via_shared(repo, question, || self.list_tag_pages(repo))
            .await
    }

    /// Every page of the tag list, from the registry; the answer goes to the disk cache.
    async fn list_tag_pages(
        &self,
        repo: &Repository,
    ) -> Result<Lookup<Vec<String>>, RegistryError> {
        const MAX_PAGES: usize = 10_000;
        let disk_key = tags_disk_key(repo);
        let mut tags = Vec::new();
        let mut path = format!("/v2/{}/tags/list", repo.name);
        let mut seen = HashSet::new();
        for page in 0.. {
            if page == MAX_PAGES || !seen.insert(path.clone()) {
                return Err(RegistryError::Malformed {
                    registry: repo.registry.clone(),
                    request: format!("GET {} tags", repo.name),
                    reason: format!("tag pagination does not end (page {page}, next {path})"),
                    cause: None,
                });
            }
            let call = Call {
                registry: &repo.registry,
                host: &repo.api_host,
                repository: &repo.name,
                method: Method::GET,
                path: path.clone(),
                accept: Some("application/json"),
                what: format!("GET {} tags (page {})", repo.name, page + 1),
                operation: Operation::ListTags,
                credentials: &self.credentials,
            };
            let fetched = match self.inner.transport.fetch(&call).await? {
                Lookup::Found(f) => f,
                Lookup::Missing(m) if page == 0 => return Ok(Lookup::Missing(m)),
                Lookup::Missing(m) => {
                    return Err(RegistryError::Malformed {
                        registry: repo.registry.clone(),
                        request: call.what,
                        reason: format!("a later page of the tag list vanished ({m})"),
                        cause: None,
                    });
                }
            };
            let next = next_link(&fetched.headers)
                .map(|link| same_host_path(repo, &call, &link))
                .transpose()?;
            #[derive(Deserialize)]
            struct TagPage {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page_tags: TagPage =
                serde_json::from_slice(&fetched.body).map_err(|e| RegistryError::Malformed {
                    registry: repo.registry.clone(),
                    request: call.what.clone(),
                    reason: format!("the tag list is not valid JSON: {e}"),
                    cause: Some(e.into()),
                })?;
            tags.extend(page_tags.tags.unwrap_or_default());
            match next {
                Some(next) => path = next,
                None => break,
            }
        }
        if let Some(disk) = self.disk() {
            disk.put(&disk_key, &tags);
        }
        Ok(Lookup::Found(tags))
    }
}

/// The disk cache key of a repository's tag list.
fn tags_disk_key(repo: &Repository) -> String {
    format!("tags\t{}\t{}", repo.api_host, repo.name)
}

fn manifest_call<'a>(
    repo: &'a Repository,
    method: Method,
    reference: &str,
    credentials: &'a Credentials,
) -> Call<'a> {
    Call {
        credentials,
        registry: &repo.registry,
        host: &repo.api_host,
        repository: &repo.name,
        what: format!(
            "{} {}{}",
            method.as_str(),
            repo.name,
            if reference.contains(':') {
                format!("@{reference}")
            } else {
                format!(":{reference}")
            }
        ),
        operation: if method == Method::HEAD {
            Operation::HeadManifest
        } else {
            Operation::GetManifest
        },
        method,
        path: format!("/v2/{}/manifests/{}", repo.name, reference),
        accept: Some(MANIFEST_ACCEPT),
    }
}

fn content_type(fetched: &Fetched) -> String {
    header_str(&fetched.headers, "content-type")
        .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

fn check_digest_syntax(repo: &Repository, what: &str, digest: &str) -> Result<(), RegistryError> {
    let hex_of = |len: usize, hex: &str| {
        hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = digest
        .strip_prefix("sha256:")
        .is_some_and(|h| hex_of(64, h))
        || digest
            .strip_prefix("sha512:")
            .is_some_and(|h| hex_of(128, h));
    if valid {
        Ok(())
    } else {
        Err(RegistryError::Malformed {
            registry: repo.registry.clone(),
            request: what.to_string(),
            reason: format!("Docker-Content-Digest {digest:?} is not a valid digest"),
            cause: None,
        })
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
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
    let base = Url::parse(&format!("http://{}{}", repo.api_host, call.path)).map_err(|source| {
        RegistryError::BadHost {
            host: repo.api_host.clone(),
            source,
        }
    })?;
    let target = base.join(link).map_err(|e| RegistryError::Malformed {
        registry: repo.registry.clone(),
        request: call.what.clone(),
        reason: format!("bad Link header {link:?}: {e}"),
        cause: Some(e.into()),
    })?;
    let authority = match target.port() {
        Some(port) => format!("{}:{port}", target.host_str().unwrap_or_default()),
        None => target.host_str().unwrap_or_default().to_string(),
    };
    if link.contains("://") && !authority.eq_ignore_ascii_case(&repo.api_host) {
        return Err(RegistryError::Malformed {
            registry: repo.registry.clone(),
            request: call.what.clone(),
            reason: format!("the next page is on another host ({authority}); refusing to follow"),
            cause: None,
        });
    }
    Ok(match target.query() {
        Some(query) => format!("{}?{}", target.path(), query),
        None => target.path().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LINK};

    #[test]
    fn link_header_parsing() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static("</v2/a/tags/list?last=x&n=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://h/x>; rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn next_pages_on_other_hosts_are_refused() {
        let repo = Repository {
            registry: "r.example".into(),
            api_host: "r.example".into(),
            name: "a".into(),
        };
        let credentials = Credentials::new(Arc::new(crate::Anonymous));
        let call = Call {
            registry: "r.example",
            host: "r.example",
            repository: "a",
            method: Method::GET,
            path: "/v2/a/tags/list".into(),
            accept: None,
            what: "GET a tags".into(),
            operation: Operation::ListTags,
            credentials: &credentials,
        };
        assert_eq!(
            same_host_path(&repo, &call, "/v2/a/tags/list?last=b").unwrap(),
            "/v2/a/tags/list?last=b"
        );
        assert_eq!(
            same_host_path(&repo, &call, "https://r.example/v2/a/tags/list?n=1").unwrap(),
            "/v2/a/tags/list?n=1"
        );
        let err = same_host_path(&repo, &call, "https://evil.example/v2/a/tags/list")
            .unwrap_err()
            .to_string();
        assert!(err.contains("another host"), "{err}");
    }
}
