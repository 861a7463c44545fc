//! One module per command; each turns parsed flags into calls of the library crates.

pub mod cache;
pub mod check;
pub mod gaps;
pub mod kube_version;
pub mod matrix;
pub mod post_render;
pub mod resolve;

use std::time::Duration;

use tagwarden_registry::{Client, ClientOptions, CredentialStore, DiskCache};

use crate::cli::GlobalOptions;
use crate::config::Config;
use crate::exit::Failure;

/// The config file named by `--config`, or the empty config.
pub fn load_config(global: &GlobalOptions) -> Result<Config, Failure> {
    match &global.config {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
}

/// The registry client every command shares, configured from the global flags and the
/// config file.
pub fn registry_client(global: &GlobalOptions) -> Result<Client, Failure> {
    let config = load_config(global)?;
    let credentials = CredentialStore::from_environment_with(
        global.registry_config.as_deref(),
        &global.pull_secrets,
    )?;
    let mut insecure = global.insecure_registries.clone();
    insecure.extend(config.registries.insecure.iter().cloned());
    let mut ca_files = config.registries.ca_files.clone();
    ca_files.extend(global.ca_files.iter().cloned());
    let options = ClientOptions::builder()
        .insecure_registries(insecure)
        .skip_verify(config.registries.insecure_skip_verify.clone())
        .ca_files(ca_files)
        .certs_dir(Some(global.certs_dir.clone()))
        .credentials(credentials)
        .request_timeout(Duration::from_secs(global.timeout.max(1)))
        .max_attempts(global.attempts.max(1))
        .max_retry_time(Duration::from_secs(global.retry_budget))
        .max_concurrency_per_registry(global.max_concurrency.max(1))
        .requests_per_second(global.rps)
        .build();
    let ttl = config
        .cache
        .ttl
        .map(Duration::from_secs)
        .unwrap_or(tagwarden_registry::cache::DEFAULT_TTL);
    let disk = if global.no_cache || ttl.is_zero() {
        None
    } else {
        DiskCache::default_path().and_then(|path| DiskCache::open_or_skip(&path, ttl))
    };
    Ok(Client::with_extras(options, config.mirrors, disk)?)
}

/// A registry's rate-limit headers, as last seen.
#[derive(Debug, serde::Serialize)]
pub struct RateLimitOutput {
    pub registry: String,
    #[serde(flatten)]
    pub limit: tagwarden_registry::RateLimit,
}

/// The rate-limit headers the client saw, for JSON output.
pub fn rate_limits_of(client: &tagwarden_registry::Client) -> Vec<RateLimitOutput> {
    client
        .rate_limits()
        .into_iter()
        .map(|(registry, limit)| RateLimitOutput { registry, limit })
        .collect()
}

/// Print a value as JSON on stdout, followed by a newline (see [`crate::output`]).
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    crate::output::json(value)
}

/// The `--platform` values of a command, parsed by core's one platform grammar
/// (deduplicated, in the order given).
pub fn platforms_flag(values: &[String]) -> Result<Vec<tagwarden_registry::Platform>, Failure> {
    tagwarden_core::platform::parse_platforms(values)
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("--platform: {e}")))
}
