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

pub mod cache;
mod client;
pub mod config;
pub mod credentials;
mod error;
pub mod inspect;
pub mod keychain;
mod memory;
pub mod observe;
mod platform;
mod resolve;
mod transport;

pub use cache::DiskCache;
pub use client::{Client, MANIFEST_ACCEPT, Manifest, ManifestHead, Mirror, Repository};
pub use config::{Config, ConfigError, DiskCacheLocation};
pub use credentials::{Credential, CredentialStore};
pub use error::{Lookup, Missing, RegistryError, Undecided};
pub use inspect::{
    InspectOptions, Repair, RepairOptions, decide_repair, decide_repairs, inspect_image,
    inspect_images, inspect_reference,
};
pub use keychain::{
    Anonymous, DockerConfigKeychain, Keychain, MultiKeychain, PullSecretKeychain, Resolved,
};
pub use observe::{ErrorClass, Observer, Operation, RequestEvent, RequestOutcome};
pub use platform::{Platform, PlatformError};
pub use resolve::{
    Outcome, PlatformReport, Resolution, ResolveError, ResolveRequest, SchemeSource, TagScheme,
    missing_platforms, platform_report, platforms_of, resolve,
};
pub use transport::{ClientOptions, ClientOptionsBuilder, RateLimit, is_loopback};
