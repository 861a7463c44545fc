//! The optional config file (`--config FILE`), YAML:
//!
//! ```yaml
//! registries:
//!   insecure: [registry.local:5000]        # plain HTTP allowed, TLS not verified (like --insecure-registry)
//!   insecure_skip_verify: [harbor.corp]    # TLS not verified; tagwarden warns on every run
//!   ca_files: [/etc/ssl/corp-root.pem]     # extra trusted CAs (like --ca-file)
//! mirrors:                                 # asked before the registry itself, in order
//!   docker.io: [mirror.local:5000]
//! cache:
//!   ttl: 600                               # seconds a cached digest or tag list stays valid; 0: no cache
//! policy:                                  # `check` and `post-render`
//!   track: [docker.io/clastix/kubectl, "ghcr.io/org/*"]  # repositories whose tag follows the Kubernetes version
//!   max_skew: 1                            # minors a fallback may be away (like --max-skew)
//!   prefer: older                          # older|newer (like --prefer)
//! ```
//!
//! Unknown keys are errors, so a typo never silently disables a setting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::Deserialize;

use crate::exit::Failure;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registries: RegistriesConfig,
    #[serde(default)]
    pub mirrors: HashMap<String, Vec<String>>,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConfig {
    #[serde(default)]
    pub insecure: Vec<String>,
    #[serde(default)]
    pub insecure_skip_verify: Vec<String>,
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub ttl: Option<u64>,
}

/// Which images follow the Kubernetes version, and how far a fallback may stray
/// (`check`, `post-render`). Flags given on the command line win over these.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Repositories whose tag tracks the Kubernetes version, whatever the tag looks like:
    /// `docker.io/clastix/kubectl`, `clastix/kubectl` (Docker Hub, normalised),
    /// `ghcr.io/org/*` (`*` matches any run of characters, `/` included).
    #[serde(default)]
    pub track: Vec<String>,
    /// Minors a fallback may be away from the wanted tag (default 1).
    pub max_skew: Option<u64>,
    /// Which side to try first once the wanted minor has nothing (default older).
    pub prefer: Option<PreferConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferConfig {
    Older,
    Newer,
}

impl Config {
    /// Read and validate a config file; errors name the file and, for YAML errors, the
    /// line and column.
    pub fn load(path: &Path) -> Result<Config, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(anyhow!("cannot read config {}: {e}", path.display()))
        })?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_saphyr::from_str(&text).map_err(|e| {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or("invalid YAML").to_string();
            Failure::bad_input(anyhow!("{}: {first}", path.display()))
        })?;
        // Relative CA paths are relative to the config file, as users expect.
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = config;
        for ca in &mut config.registries.ca_files {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
        for (registry, mirrors) in &config.mirrors {
            if mirrors.iter().any(|m| m.contains("://") || m.contains('/')) {
                return Err(Failure::bad_input(anyhow!(
                    "{}: mirrors of {registry} must be HOST[:PORT], without scheme or path",
                    path.display()
                )));
            }
        }
        Ok(config)
    }
}
