//! Test bed for tagwarden's integration tests: a **real** OCI registry.
//!
//! Mocks of a registry agree with whatever the code under test believes; a real
//! registry does not. So integration tests across the workspace (registry
//! client, CLI) run against Debian's `docker-registry` package, which is CNCF
//! distribution 2.8, the same server Docker Hub's protocol grew from:
//!
//! - [`Registry::start`] runs it on a free `127.0.0.1` port with a throw-away
//!   filesystem store and stops it on drop ([`registry`] explains the config,
//!   the port choice and why the child gets `PR_SET_PDEATHSIG`);
//! - [`Seeder`] pushes small, valid, deterministic images through the
//!   Distribution HTTP API alone: blob upload `POST` + `PUT`, manifest `PUT`.
//!   No docker, no skopeo ([`image`] explains what the bytes are);
//! - [`seed_standard`] pushes the data set the tests share ([`standard`] has
//!   the table) and returns a [`Seeded`] to look digests up in;
//! - [`PagingProxy`] adds the `tags/list` paging that distribution 2.8 lacks
//!   but Docker Hub has ([`proxy`] explains why it matters);
//! - [`Registry::start_with`] runs it the other two ways registries are met
//!   in the wild ([`RegistryMode`]): HTTPS with a fresh test CA and Basic auth
//!   (htpasswd), or Bearer tokens from this crate's [`TokenServer`] (the Docker
//!   Hub flow); [`Registry::seeder`] logs in as each mode requires;
//! - [`FaultProxy`] injects what real registries do on bad days: 429 with
//!   `Retry-After`, 5xx, resets, slow and truncated answers, wrong digests,
//!   redirects, rate-limit headers ([`fault`] explains each one);
//! - [`ConnectProxy`] is a forward proxy (HTTP CONNECT, plain HTTP, SOCKS5) that resolves
//!   the test names ([`TEST_HOST_NAMES`]) to loopback and logs what it forwarded;
//! - [`CaptureServer`] records what reaches "another host", to prove that
//!   credentials never follow a redirect or go to a foreign token realm;
//! - [`dead_addr`] gives an address where nothing listens, and [`HangingServer`] one that
//!   accepts connections and never answers (a hung registry);
//! - [`RedisServer`] is a real `redis-server` (plain or TLS, with or without a password)
//!   for the cache `serve`s share, and can be killed mid-test;
//! - [`CredentialPlugin`] is a kubelet credential-provider plugin (a shell script in a
//!   fresh bin dir) that answers, fails, hangs or prints garbage, and counts its runs;
//! - [`RealisticCluster`] generates a cluster as kube-apiserver returns it (8–11 KB Pods
//!   with owners, Nodes, Events), for the scale benchmarks; [`ApiServer::seed`] loads it;
//! - [`ApiServer`] is a test Kubernetes API server (HTTPS, bearer tokens,
//!   discovery, list/watch, writes) loaded with a realistic fixture cluster
//!   ([`Fixtures`]); the real `kubectl` is its conformance test ([`apiserver`]), found
//!   by [`kubectl()`]: the one on `PATH` (1.27 or newer) and the `kubectl.1.NN` next to it.
//!
//! The API is synchronous, for plain `#[test]` functions (the CLI tests run the
//! binary with `std::process::Command`), and safe to call from async tests too.
//!
//! ```no_run
//! use tagwarden_testbed::{Registry, seed_standard};
//!
//! let registry = Registry::start();          // panics loudly if it cannot
//! let seeded = seed_standard(&registry);
//! let want = seeded.digest("clastix/kubectl", "v1.31.4");
//! assert_eq!(want, seeded.digest("clastix/kubectl", "latest"));
//! // ... run the code under test against registry.url() / registry.addr()
//! ```
//!
//! # Requirements
//!
//! Linux and `/usr/bin/docker-registry` (`apt-get install -y docker-registry`),
//! or `TAGWARDEN_TEST_REGISTRY_BIN` pointing at a distribution `registry`
//! binary. Nothing is skipped when it is missing: tests fail with that advice.
//! Everything else (certificates, bcrypt, RS256 JWT signing) is done in-process
//! with `rcgen`, `bcrypt` and rustls on aws-lc-rs, the crypto library the
//! workspace already uses (never `ring`): no `openssl`, `htpasswd` or
//! `python3` processes.

pub mod apiserver;
pub mod capture;
pub mod connect_proxy;
pub mod credential_plugin;
pub mod fault;
pub mod hanging;
pub mod helm;
pub mod image;
pub mod kubectl;
pub mod logs;
pub mod promtool;
pub mod proxy;
pub mod realistic;
pub mod redis;
pub mod registry;
pub mod seeder;
mod server;
pub mod standard;
mod tls;
pub mod token;

pub use apiserver::{
    ApiRequest, ApiServer, ApiServerBuilder, FixtureImage, Fixtures, PodWebhook, WebhookCall,
    WebhookOutcome,
};
pub use capture::{CaptureResponse, CaptureServer, CapturedRequest};
pub use connect_proxy::{ConnectProxy, ProxiedRequest, ProxyProtocol};
pub use credential_plugin::{CredentialPlugin, CredentialPluginBuilder, PluginBehaviour};
pub use fault::{Fault, FaultProxy, ProxyRequest, Rule, RuleId};
pub use hanging::HangingServer;
pub use image::{ACCEPT_ALL_MANIFESTS, ManifestKind, Platform};
pub use kubectl::{KubectlBinary, Kubectls, kubectl, kubectl_binary};
pub use logs::Warnings;
pub use proxy::PagingProxy;
pub use realistic::{RealisticCluster, RealisticImage, RealisticOptions, seed_realistic_images};
pub use redis::{RedisBuilder, RedisServer};
pub use registry::{Registry, RegistryBuilder, RegistryMode, dead_addr};
pub use seeder::{Seeder, SeederBuilder};
pub use standard::{
    MANY_TAGS, SCALE_MISSING_EVERY, Seeded, many_tag_names, seed_scale_set, seed_standard,
    seed_standard_with,
};
pub use tls::{ServerPki, TEST_HOST_NAMES};
pub use token::{TokenRequest, TokenServer, TokenServerConfig};

/// Every handle can live in a `static` (`OnceLock<Registry>`) and be shared
/// between test threads.
#[cfg(test)]
#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Registry>();
    check::<TokenServer>();
    check::<FaultProxy>();
    check::<CaptureServer>();
    check::<PagingProxy>();
    check::<Seeder>();
    check::<HangingServer>();
    check::<RedisServer>();
}
