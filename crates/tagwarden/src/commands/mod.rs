//! One module per command; each turns parsed flags into calls of the library crates.

pub mod cache;
pub mod check;
pub mod gaps;
pub mod kube_version;
pub mod manifests;
pub mod matrix;
pub mod policy;
pub mod post_render;
pub mod report;
pub mod resolve;
pub mod scan;
pub mod serve;

use std::time::Duration;

use anyhow::anyhow;
use tagwarden_registry::{
    Client, ClientOptions, CredentialProviderKeychain, DiskCacheLocation, DockerConfigKeychain,
    MultiKeychain, PullSecretKeychain,
};

use crate::cli::GlobalOptions;
use crate::config::Config;
use crate::exit::Failure;

/// The config file named by `--config`, or the empty config.
pub fn load_config(global: &GlobalOptions) -> Result<Config, Failure> {
    match &global.config {
        Some(path) => Config::load(path).map_err(|e| Failure::bad_input(anyhow!(e))),
        None => Ok(Config::default()),
    }
}

/// The registry client every command shares: the global flags as [`ClientOptions`], and
/// the config file's registries, mirrors and cache through [`Config::build_client`], as
/// any other front end builds it.
pub fn registry_client(global: &GlobalOptions) -> Result<Client, Failure> {
    registry_client_with(global, None)
}

/// [`registry_client`], with `first` asked for credentials before anything else: the pull
/// secrets a cluster's workloads name, for `scan`.
pub fn registry_client_with(
    global: &GlobalOptions,
    first: Option<std::sync::Arc<dyn tagwarden_registry::Keychain>>,
) -> Result<Client, Failure> {
    let config = load_config(global)?;
    let options = client_options(global, first)?;
    let disk = if global.no_cache {
        DiskCacheLocation::Off
    } else {
        DiskCacheLocation::Default
    };
    Ok(config.build_client(options, disk)?)
}

/// The registry flags as [`ClientOptions`], with `first` asked for credentials before
/// anything else; `serve` adjusts them before building its client.
pub fn client_options(
    global: &GlobalOptions,
    first: Option<std::sync::Arc<dyn tagwarden_registry::Keychain>>,
) -> Result<ClientOptions, Failure> {
    // `first` (a cluster's pull secrets, for scan), then --pull-secret, then the docker
    // config files and their helpers, then the kubelet's credential-provider plugins: the
    // credentials set up on this machine win over the ones a node would get. Anonymous
    // when none answers.
    let mut credentials = MultiKeychain::new(first.into_iter().collect())
        .with(PullSecretKeychain::from_files(&global.pull_secrets)?)
        .with(DockerConfigKeychain::from_environment(
            global.registry_config.as_deref(),
        )?);
    if let Some((config, bin_dir)) = &global.image_credential_provider {
        credentials = credentials.with(
            CredentialProviderKeychain::load(config, bin_dir)?.with_timeout(Duration::from_secs(
                global.image_credential_provider_timeout.max(1),
            )),
        );
    }
    Ok(ClientOptions::builder()
        .insecure_registries(global.insecure_registries.clone())
        .ca_files(global.ca_files.clone())
        .certs_dir(Some(global.certs_dir.clone()))
        .credentials(credentials)
        .request_timeout(Duration::from_secs(global.timeout.max(1)))
        .max_attempts(global.attempts.max(1))
        .max_retry_time(Duration::from_secs(global.retry_budget))
        .max_concurrency_per_registry(global.max_concurrency.max(1))
        .requests_per_second(global.rps)
        .build())
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
