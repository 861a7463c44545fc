//! Credentials the way the kubelet gets them: credential-provider plugins (KEP-2133).
//!
//! This is how ECR, GCR/Artifact Registry and ACR credentials reach nodes: the kubelet
//! reads a `CredentialProviderConfig` (`--image-credential-provider-config`), and for an
//! image that a provider's `matchImages` names, it runs the provider's plugin from
//! `--image-credential-provider-bin-dir` and uses the credentials it prints.
//! [`CredentialProviderKeychain`] does the same, on the [`Keychain`] trait:
//!
//! - [`config`]: the config file, validated as the kubelet validates it;
//! - `matching`: [`image_matches`], the kubelet's `URLsMatchStr` rules (per-label globs,
//!   same label count, same port, the pattern's path a prefix of the image's);
//! - `plugin`: one run of a plugin: request on stdin, response on stdout, under a timeout
//!   ([`KUBELET_PLUGIN_TIMEOUT`], the kubelet's own).
//!
//! For an image `HOST/REPOSITORY`, every provider whose `matchImages` match is asked (its
//! cached answer, or a run of its plugin); their `auth` entries are merged, an earlier
//! provider winning on an equal pattern, and the entry used is the first pattern, in
//! reverse lexical order, that matches the image: the most specific one
//! (`quay.io/team` before `quay.io`), as the kubelet's keyring orders them. No matching
//! provider, or no matching entry: no credential from here (the next keychain is asked).
//! A plugin that fails, hangs or prints garbage is a [`RegistryError::CredentialProvider`]
//! that names it, unless another provider gave a credential: the image is then
//! undecided rather than asked anonymously.
//!
//! Answers are cached as the plugin says (`cacheKeyType`): for the image, for its registry
//! host, or for every image of the provider, during the answer's `cacheDuration`, else the
//! provider's `defaultCacheDuration`; a zero duration is not cached at all. Lookups try the
//! image, then the registry, then the global entry, as the kubelet does. Each provider
//! keeps at most [`MAX_CACHED_ANSWERS`]. Lookups of one image that arrive while its plugin
//! runs share that run and its result (the kubelet's single flight).
//!
//! Because answers depend on the repository and expire on the plugin's schedule, this
//! keychain says so ([`Keychain::answers_per_repository`]): the client then asks it for
//! every request (a cache lookup) instead of reusing a registry-wide answer.
//!
//! Credentials never appear in `Debug` output, logs or messages; `tracing::debug!` names
//! only the provider.

pub mod config;
mod matching;
mod plugin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::{
    CONFIG_API_VERSIONS, CredentialProvider, CredentialProviderConfig, PLUGIN_API_VERSIONS,
    ProviderConfigError, parse_go_duration,
};
pub use matching::image_matches;

use crate::credentials::Credential;
use crate::error::RegistryError;
use crate::keychain::{Keychain, Resolved};
use plugin::{CacheKeyType, PluginAnswer, run_plugin};

/// How long a plugin may run before it is killed: the kubelet's catch-all exec timeout.
pub const KUBELET_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Most cached answers per provider; past it, expired ones go, then the oldest.
pub const MAX_CACHED_ANSWERS: usize = 1_000;

/// The kubelet's credential-provider plugins as a [`Keychain`]. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct CredentialProviderKeychain {
    config_path: PathBuf,
    bin_dir: PathBuf,
    timeout: Duration,
    providers: Vec<ProviderState>,
}

/// One provider, its cached answers, and the images whose plugin runs are in flight.
#[derive(Debug)]
struct ProviderState {
    provider: CredentialProvider,
    cache: Mutex<HashMap<CacheKey, CachedAnswer>>,
    in_flight: Mutex<HashMap<String, Arc<Flight>>>,
}

/// The `auth` entries of an answer: pattern → credential.
type Auth = Arc<Vec<(String, Credential)>>;

/// One run of a plugin for one image, shared by every lookup of that image that arrives
/// while it runs (the kubelet's single flight): they all get its result, an error
/// included, so a hung plugin costs one timeout, not one per waiting lookup.
#[derive(Debug, Default)]
struct Flight {
    result: Mutex<Option<Result<Auth, String>>>,
    done: std::sync::Condvar,
}

impl Flight {
    fn finish(&self, result: Result<Auth, String>) {
        *self.result.lock().expect("flight poisoned") = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<Auth, String> {
        let guard = self.result.lock().expect("flight poisoned");
        let guard = self
            .done
            .wait_while(guard, |result| result.is_none())
            .expect("flight poisoned");
        guard.clone().expect("waited until finished")
    }
}

/// Ends a flight even if its runner unwinds, so that no waiter waits forever and the next
/// lookup starts a new run: the flight leaves the in-flight map, then its waiters wake.
struct FinishOnDrop<'a> {
    state: &'a ProviderState,
    image: &'a str,
    flight: Arc<Flight>,
    result: Option<Result<Auth, String>>,
}

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(mut flights) = self.state.in_flight.lock()
            && flights
                .get(self.image)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(self.image);
        }
        let result = self
            .result
            .take()
            .unwrap_or_else(|| Err("stopped unexpectedly while running".into()));
        self.flight.finish(result);
    }
}

/// What a cached answer is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Image(String),
    Registry(String),
    Global,
}

#[derive(Debug, Clone)]
struct CachedAnswer {
    auth: Auth,
    expires: Instant,
}

impl CredentialProviderKeychain {
    /// Load the config at `config_path` (a file, or a folder of them) and check that every
    /// provider's plugin is an executable in `bin_dir`, as the kubelet does at start.
    pub fn load(config_path: &Path, bin_dir: &Path) -> Result<Self, RegistryError> {
        let config = CredentialProviderConfig::load(config_path)?;
        Self::new(config, bin_dir)
    }

    /// The keychain for an already loaded `config`.
    pub fn new(config: CredentialProviderConfig, bin_dir: &Path) -> Result<Self, RegistryError> {
        if !bin_dir.is_dir() {
            return Err(ProviderConfigError::BinDirNotAFolder {
                bin_dir: bin_dir.to_path_buf(),
            }
            .into());
        }
        for (index, provider) in config.providers.iter().enumerate() {
            let program = bin_dir.join(&provider.name);
            if !is_executable(&program) {
                return Err(ProviderConfigError::NoExecutable {
                    path: config.path,
                    index,
                    program,
                }
                .into());
            }
        }
        Ok(Self {
            config_path: config.path,
            bin_dir: bin_dir.to_path_buf(),
            timeout: KUBELET_PLUGIN_TIMEOUT,
            providers: config
                .providers
                .into_iter()
                .map(|provider| ProviderState {
                    provider,
                    cache: Mutex::new(HashMap::new()),
                    in_flight: Mutex::new(HashMap::new()),
                })
                .collect(),
        })
    }

    /// Kill a plugin that runs longer than `timeout` (default [`KUBELET_PLUGIN_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The providers, in config order.
    pub fn providers(&self) -> impl Iterator<Item = &CredentialProvider> {
        self.providers.iter().map(|p| &p.provider)
    }

    /// For messages: `credential provider NAME (from CONFIG)`.
    fn source(&self, provider: &CredentialProvider) -> String {
        format!(
            "credential provider {} (from {})",
            provider.name,
            self.config_path.display()
        )
    }

    /// The credential for `image` (`HOST[/REPOSITORY]`); see the module documentation.
    fn resolve_image(&self, image: &str) -> Result<Option<Resolved>, RegistryError> {
        // Pattern → (credential, provider), earlier providers first.
        let mut merged: Vec<(String, Credential, &CredentialProvider)> = Vec::new();
        let mut failure = None;
        for state in &self.providers {
            let provider = &state.provider;
            if !provider
                .match_images
                .iter()
                .any(|p| image_matches(p, image))
            {
                continue;
            }
            match self.answer(state, image) {
                Ok(auth) => {
                    for (pattern, credential) in auth.iter() {
                        if !merged.iter().any(|(p, ..)| p == pattern) {
                            merged.push((pattern.clone(), credential.clone(), provider));
                        }
                    }
                }
                Err(reason) => {
                    tracing::debug!(provider = %provider.name, image, %reason, "credential provider failed");
                    failure.get_or_insert(RegistryError::CredentialProvider {
                        provider: self.source(provider),
                        image: image.to_string(),
                        reason,
                    });
                }
            }
        }
        let best = best_entry(merged.iter().map(|(p, ..)| p.as_str()), image);
        match (best, failure) {
            (Some(index), _) => {
                let (_, credential, provider) = &merged[index];
                let source = self.source(provider);
                tracing::debug!(image, %source, "credential from a credential provider");
                Ok(Some(Resolved {
                    credential: credential.clone(),
                    source,
                }))
            }
            (None, Some(error)) => Err(error),
            (None, None) => Ok(None),
        }
    }

    /// The provider's answer for `image`: cached, or from a run of its plugin, shared by
    /// the lookups of the same image that arrive while it runs.
    fn answer(&self, state: &ProviderState, image: &str) -> Result<Auth, String> {
        if let Some(auth) = state.cached(image) {
            return Ok(auth);
        }
        let flight = {
            let mut flights = state.in_flight.lock().expect("in-flight poisoned");
            if let Some(running) = flights.get(image) {
                let running = running.clone();
                drop(flights);
                return running.wait();
            }
            let flight = Arc::new(Flight::default());
            flights.insert(image.to_string(), flight.clone());
            flight
        };
        let mut finish = FinishOnDrop {
            state,
            image,
            flight,
            result: None,
        };
        tracing::debug!(provider = %state.provider.name, image, "running the credential provider plugin");
        let result = run_plugin(&self.bin_dir, &state.provider, image, self.timeout)
            .map(|answer| state.remember(image, answer));
        finish.result = Some(result.clone());
        drop(finish);
        result
    }
}

impl ProviderState {
    /// A live cached answer for `image`: for the image, else its registry, else global.
    fn cached(&self, image: &str) -> Option<Auth> {
        let cache = self.cache.lock().expect("answer cache poisoned");
        let now = Instant::now();
        [
            CacheKey::Image(image.to_string()),
            CacheKey::Registry(registry_of(image).to_string()),
            CacheKey::Global,
        ]
        .iter()
        .find_map(|key| cache.get(key).filter(|a| a.expires > now))
        .map(|a| a.auth.clone())
    }

    /// Cache `answer` as it asks (or not at all for a zero duration), and return its
    /// entries.
    fn remember(&self, image: &str, answer: PluginAnswer) -> Auth {
        let auth = Arc::new(answer.auth);
        let duration = answer
            .cache_duration
            .unwrap_or(self.provider.default_cache_duration);
        if duration.is_zero() {
            return auth;
        }
        let key = match answer.cache_key_type {
            CacheKeyType::Image => CacheKey::Image(image.to_string()),
            CacheKeyType::Registry => CacheKey::Registry(registry_of(image).to_string()),
            CacheKeyType::Global => CacheKey::Global,
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("answer cache poisoned");
        if cache.len() >= MAX_CACHED_ANSWERS {
            cache.retain(|_, a| a.expires > now);
        }
        if cache.len() >= MAX_CACHED_ANSWERS
            && let Some(soonest) = cache
                .iter()
                .min_by_key(|(_, a)| a.expires)
                .map(|(k, _)| k.clone())
        {
            cache.remove(&soonest);
        }
        cache.insert(
            key,
            CachedAnswer {
                auth: auth.clone(),
                expires: now + duration,
            },
        );
        auth
    }
}

/// The registry host of `image` (`HOST[:PORT]`), as the kubelet's `parseRegistry`.
fn registry_of(image: &str) -> &str {
    image.split('/').next().unwrap_or(image)
}

/// The index of the entry to use for `image`: of the patterns that match it, the first
/// in reverse lexical order of their normalised form (the most specific).
fn best_entry<'a>(patterns: impl Iterator<Item = &'a str>, image: &str) -> Option<usize> {
    patterns
        .enumerate()
        .map(|(index, pattern)| (normalise_auth_key(pattern), index))
        .filter(|(key, _)| image_matches(key, image))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, index)| index)
}

/// An `auth` key as the kubelet's keyring stores it: no scheme, and a `/v1/` or `/v2/`
/// path (Docker's legacy index URLs) or a bare `/` means the host alone.
fn normalise_auth_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = match key.find('/') {
        Some(slash) => key.split_at(slash),
        None => (key, ""),
    };
    let path = path
        .strip_prefix("/v1/")
        .or_else(|| path.strip_prefix("/v2/"))
        .map(|rest| format!("/{rest}"))
        .unwrap_or_else(|| path.to_string());
    if path.is_empty() || path == "/" {
        host.to_string()
    } else {
        format!("{host}{path}")
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

impl Keychain for CredentialProviderKeychain {
    /// Without a repository, the image is the registry host alone: providers whose
    /// `matchImages` have a path do not match.
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        self.resolve_image(registry)
    }

    fn resolve_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Resolved>, RegistryError> {
        if repository.is_empty() {
            return self.resolve_image(registry);
        }
        self.resolve_image(&format!("{registry}/{repository}"))
    }

    fn answers_per_repository(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_auth_entry_wins() {
        let patterns = ["quay.io", "https://quay.io/team", "*.io", "quay.io/other"];
        let best = |image| best_entry(patterns.iter().copied(), image).map(|i| patterns[i]);
        assert_eq!(best("quay.io/team/app"), Some("https://quay.io/team"));
        assert_eq!(best("quay.io/else/app"), Some("quay.io"));
        assert_eq!(best("ghcr.io/app"), Some("*.io"));
        assert_eq!(best("registry.k8s.io/app"), None);
    }

    #[test]
    fn auth_keys_lose_their_scheme_and_legacy_paths() {
        assert_eq!(normalise_auth_key("https://quay.io/v1/"), "quay.io");
        assert_eq!(
            normalise_auth_key("https://index.docker.io/v2/"),
            "index.docker.io"
        );
        assert_eq!(normalise_auth_key("http://a.io/team"), "a.io/team");
        assert_eq!(normalise_auth_key("a.io/"), "a.io");
        assert_eq!(normalise_auth_key("*.a.io:5000"), "*.a.io:5000");
    }

    #[test]
    fn registry_is_the_first_path_element() {
        assert_eq!(registry_of("127.0.0.1:5000/team/app"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io"), "ghcr.io");
    }
}
