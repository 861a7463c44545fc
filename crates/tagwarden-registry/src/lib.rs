//! An OCI Distribution API client built for one question: *does this image exist, and if
//! not, which compatible tag does?*
//!
//! - [`Client`] speaks the protocol: HEAD and GET manifests with every manifest media type
//!   in `Accept`, list tags across `Link` pages, fetch blobs, authenticate with Basic or
//!   Bearer tokens, retry transient failures, and limit concurrency per registry.
//! - [`resolve()`] turns an image reference (and maybe a Kubernetes version) into a tag
//!   that exists, following the fallback policy of `tagwarden-core`.
//! - [`inspect`] holds the decisions every front end shares: the verdict about an image
//!   (present, missing with its fallback, undetermined, invalid), for one or many images,
//!   and what a repair (`post-render`, the admission webhook) does with it.
//!
//! # Modules
//!
//! - [`inspect`]: the verdict about one image or many, and repairs (the engine of `check`,
//!   `post-render` and the cluster front ends).
//! - [`preflight`]: the verdict after a Kubernetes upgrade, and whether a run is one.
//! - [`promised`]: whether the tags a publisher promises exist, on the platforms promised
//!   (`gaps`, `matrix verify`): the tags listed once per repository, then the platforms
//!   of the listed tags checked.
//! - [`resolve()`](resolve()) (module `resolve`): from a reference and a Kubernetes version to a tag
//!   that exists.
//! - `client`: [`Client`], [`Repository`], [`Mirror`]: the Distribution API operations,
//!   single flight, mirrors (authoritative ones for air gaps). A client is a shared
//!   transport and a keychain: [`Client::with_keychain`] and
//!   [`Client::with_keychain_first`] answer with other credentials within the same
//!   per-host limits (one registry budget per process, whatever the credentials), with
//!   tokens per credential and answers in memory per keychain.
//! - `memory`: the client's in-memory answers, with a TTL by kind and a size bound
//!   ([`ClientOptions::found_ttl`], [`ClientOptions::missing_ttl`],
//!   [`ClientOptions::max_cached_answers`], [`Client::cache_len`]).
//! - `transport`: one HTTP exchange done right, in layers: options ([`ClientOptions`]),
//!   exchange (scheme and body), tls (CAs and `certs.d`), challenge and token (Basic and
//!   Bearer), retry (backoff, `Retry-After`, pacing, hosts marked down), rate_limit
//!   ([`RateLimit`]), errors (error bodies).
//! - [`config`]: the config file's registry sections (registries, mirrors, cache), and
//!   [`RegistryConfig::build_client`], the one way a front end builds its client from them.
//! - [`keychain`]: where credentials come from ([`Keychain`], [`MultiKeychain`],
//!   [`PullSecretKeychain`], [`DockerConfigKeychain`]); [`credentials`]: reading docker
//!   config files, pull secrets and credential helpers; [`credential_provider`]: the
//!   kubelet's credential-provider plugins ([`CredentialProviderKeychain`]).
//! - [`observe`]: one [`RequestEvent`] per registry request, for metrics.
//! - [`cache`]: the persistent cache on disk ([`DiskCache`]).
//! - [`shared`]: the cache a fleet shares in Redis ([`SharedCache`]): answers, a single
//!   flight across processes, request budgets per registry.
//! - `error`: [`Lookup`], [`Missing`], [`RegistryError`]: "missing" versus *could not
//!   decide*.
//! - `platform`: [`Platform`], re-exported from `tagwarden-core`.
//!
//! Answers are sorted by what they let us conclude. [`Lookup::Missing`] means the registry
//! said the thing does not exist; every other failure is a [`RegistryError`], which means
//! *could not decide* and never leads to a fallback.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tagwarden_core::Reference;
//! use tagwarden_registry::{resolve, Client, ClientOptions, ResolveRequest};
//!
//! let client = Client::new(ClientOptions::default())?;
//! let request = ResolveRequest {
//!     reference: Reference::parse("clastix/kubectl:v1.32")?,
//!     kube_version: None,
//!     tag_format: None,
//!     policy: Default::default(),
//!     platforms: vec![],
//! };
//! let resolution = resolve(&client, &request).await?;
//! println!("{}", resolution.explanation);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod cache;
mod client;
pub mod config;
pub mod credential_provider;
pub mod credentials;
mod error;
pub mod inspect;
pub mod keychain;
mod memory;
pub mod observe;
mod platform;
pub mod preflight;
mod process;
pub mod promised;
pub mod proxy;
mod resolve;
pub mod shared;
mod transport;

pub use cache::{CacheError, DiskCache};
pub use client::{Client, MANIFEST_ACCEPT, Manifest, ManifestHead, Mirror, Repository};
pub use config::{ConfigError, DiskCacheLocation, RegistryConfig};
pub use credential_provider::{CredentialProviderKeychain, ProviderConfigError};
pub use credentials::{Credential, CredentialStore, CredentialsError};
pub use error::{BoxedCause, Lookup, Missing, RegistryError, Undecided};
pub use inspect::{
    InspectOptions, Repair, RepairOptions, decide_repair, decide_repairs, inspect_image,
    inspect_images, inspect_reference,
};
pub use keychain::{
    Anonymous, DockerConfigKeychain, Keychain, MultiKeychain, PullSecretKeychain, Resolved,
};
pub use observe::{ErrorClass, Observer, Operation, RequestEvent, RequestOutcome};
pub use platform::{Platform, PlatformError};
pub use preflight::{JudgedAt, UpgradeVerdict, inspect_images_after_upgrade, inspect_upgrade};
pub use promised::{PromisedTag, check_promised_tags};
pub use resolve::{
    Outcome, PlatformReport, Resolution, ResolveError, ResolveRequest, SchemeSource, TagScheme,
    missing_platforms, platform_report, platforms_of, resolve,
};
pub use shared::{
    SharedBudget, SharedCache, SharedCacheError, SharedCacheOptions, SharedCacheStats,
};
pub use transport::{ClientOptions, ClientOptionsBuilder, RateLimit, TlsError, is_loopback};
