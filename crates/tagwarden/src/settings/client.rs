//! How the registry client is built: the registry options (flags; `--registry-config` and
//! `--config` also from the environment) over the config file's `registries:` (added to
//! the flags' hosts and CAs), `mirrors:` and `cache:` (`--no-cache` wins over its TTL),
//! over the defaults (clap's, on each flag).

use std::path::PathBuf;
use std::time::Duration;

use tagwarden_registry::{
    Client, ClientOptions, CredentialProviderKeychain, DiskCacheLocation, DockerConfigKeychain,
    MultiKeychain, PullSecretKeychain, RegistryConfig,
};

use crate::cli::RegistryOptions;
use crate::exit::Failure;

/// The kubelet's credential-provider plugins: config, bin dir, and how long one may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderSettings {
    /// `--image-credential-provider-config`.
    pub config: PathBuf,
    /// `--image-credential-provider-bin-dir`.
    pub bin_dir: PathBuf,
    /// `--image-credential-provider-timeout`.
    pub timeout: Duration,
}

/// Everything the registry client is built from. The files it names (pull secrets,
/// docker config, credential-provider config) are read when the client is built, by the
/// commands that ask a registry.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `--insecure-registry` (the file's `registries.insecure` are added when built).
    pub insecure_registries: Vec<String>,
    /// `--registry-config` / `TAGWARDEN_REGISTRY_CONFIG`.
    pub registry_config: Option<PathBuf>,
    /// `--pull-secret`.
    pub pull_secrets: Vec<PathBuf>,
    /// The credential-provider plugins, when configured.
    pub credential_provider: Option<CredentialProviderSettings>,
    /// `--ca-file` (after the file's `registries.ca_files`).
    pub ca_files: Vec<PathBuf>,
    /// `--certs-dir`.
    pub certs_dir: PathBuf,
    /// `--timeout`.
    pub request_timeout: Duration,
    /// `--attempts`.
    pub attempts: u32,
    /// `--retry-budget`.
    pub retry_budget: Duration,
    /// `--max-concurrency`.
    pub max_concurrency: usize,
    /// `--rps`.
    pub rps: Option<f64>,
    /// Where the on-disk cache is: off with `--no-cache`, else the default place (the
    /// file's `cache.ttl` may still turn it off).
    pub disk: DiskCacheLocation,
    /// The config file's registry sections.
    pub file: RegistryConfig,
}

impl ClientSettings {
    /// The flags over the file's registry sections.
    pub(super) fn new(flags: &RegistryOptions, file: RegistryConfig) -> ClientSettings {
        let credential_provider = flags
            .image_credential_provider_config
            .clone()
            .zip(flags.image_credential_provider_bin_dir.clone())
            .map(|(config, bin_dir)| CredentialProviderSettings {
                config,
                bin_dir,
                timeout: Duration::from_secs(flags.image_credential_provider_timeout.max(1)),
            });
        ClientSettings {
            insecure_registries: flags.insecure_registries.clone(),
            registry_config: flags.registry_config.clone(),
            pull_secrets: flags.pull_secrets.clone(),
            credential_provider,
            ca_files: flags.ca_files.clone(),
            certs_dir: flags.certs_dir.clone(),
            request_timeout: Duration::from_secs(flags.timeout.max(1)),
            attempts: flags.attempts.max(1),
            retry_budget: Duration::from_secs(flags.retry_budget),
            max_concurrency: flags.max_concurrency.max(1),
            rps: flags.rps,
            disk: if flags.no_cache {
                DiskCacheLocation::Off
            } else {
                DiskCacheLocation::Default
            },
            file,
        }
    }

    /// The registry client every command shares: [`ClientSettings::options`] and the
    /// file's registries, mirrors and cache, through [`RegistryConfig::build_client`], as
    /// any other front end builds it.
    pub fn build(&self) -> Result<Client, Failure> {
        self.build_from(self.options()?, self.disk.clone())
    }

    /// The client from `options` (adjusted by the caller: `serve`'s fresh answers) and
    /// the on-disk cache at `disk`, with the file's sections.
    pub fn build_from(
        &self,
        options: ClientOptions,
        disk: DiskCacheLocation,
    ) -> Result<Client, Failure> {
        Ok(self.file.build_client(options, disk)?)
    }

    /// The options of the client. Reads the credential files.
    pub fn options(&self) -> Result<ClientOptions, Failure> {
        // --pull-secret, then the docker config files and their helpers, then the
        // kubelet's credential-provider plugins: the credentials set up on this machine
        // win over the ones a node would get (a cluster's pull secrets ask first, through
        // their own keychain). Anonymous when none answers.
        let mut credentials = MultiKeychain::new(Vec::new())
            .with(PullSecretKeychain::from_files(&self.pull_secrets)?)
            .with(DockerConfigKeychain::from_environment(
                self.registry_config.as_deref(),
            )?);
        if let Some(provider) = &self.credential_provider {
            credentials = credentials.with(
                CredentialProviderKeychain::load(&provider.config, &provider.bin_dir)?
                    .with_timeout(provider.timeout),
            );
        }
        Ok(ClientOptions::builder()
            .insecure_registries(self.insecure_registries.clone())
            .ca_files(self.ca_files.clone())
            .certs_dir(Some(self.certs_dir.clone()))
            .credentials(credentials)
            .request_timeout(self.request_timeout)
            .max_attempts(self.attempts)
            .max_retry_time(self.retry_budget)
            .max_concurrency_per_registry(self.max_concurrency)
            .requests_per_second(self.rps)
            .build())
    }
}
