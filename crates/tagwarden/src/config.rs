//! The config file (`--config FILE`, YAML), composed here from the sections each crate
//! owns: `registries:`, `mirrors:` and `cache:` ([`tagwarden_registry::config`], which
//! builds the client), `policy:` ([`tagwarden_core::config`]) and `serve:`
//! ([`tagwarden_cluster::serve::config`]). It is read once, by
//! [`crate::settings::Settings`].
//!
//! The sections are listed field by field rather than flattened: serde's `flatten` cannot
//! be combined with `deny_unknown_fields`, and an unknown key must stay an error (naming
//! the file, line and column) so that a typo never silently disables a setting.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tagwarden_cluster::serve::ServeConfig;
use tagwarden_core::config::PolicyConfig;
use tagwarden_registry::Mirror;
use tagwarden_registry::config::{
    CacheConfig, ConfigError, RegistriesConfig, RegistryConfig, from_yaml, read_text,
};

/// The whole config file, each section typed by the crate that acts on it. `Default` is
/// the empty file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    /// `registries:`, `mirrors:`, `cache:`: how the registry client is built.
    pub registry: RegistryConfig,
    /// `policy:`: which images track the Kubernetes version, and the fallback policy.
    pub policy: PolicyConfig,
    /// `serve:`: the service's own settings.
    pub serve: ServeConfig,
}

/// The file as written: every top-level key, in the order the file documents them (an
/// unknown key's message lists them so).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    registries: RegistriesConfig,
    #[serde(default)]
    mirrors: BTreeMap<String, Vec<Mirror>>,
    #[serde(default)]
    cache: CacheConfig,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    serve: ServeConfig,
}

impl Config {
    /// Read and validate the config file at `path`. An empty file is the empty config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::parse(&read_text(path)?, path)
    }

    /// Parse and validate config text read from `path` (used for messages and to resolve
    /// relative CA paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let file: File = from_yaml(text, path)?;
        let mut registry = RegistryConfig::default();
        registry.registries = file.registries;
        registry.mirrors = file.mirrors;
        registry.cache = file.cache;
        Ok(Config {
            registry: registry.settled(path)?,
            policy: file.policy,
            serve: file.serve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/tagwarden/config.yaml"))
    }

    #[test]
    fn the_documented_example_parses_into_each_crates_section() {
        let config = parse(
            "registries:\n  insecure: [registry.local:5000]\n  ca_files: [corp.pem]\nmirrors:\n  docker.io: [mirror.local:5000]\ncache:\n  ttl: 600\npolicy:\n  track: [docker.io/clastix/kubectl, \"ghcr.io/org/*\"]\n  max_skew: 1\n  prefer: older\nserve:\n  present_interval: 600\n",
        )
        .unwrap();
        assert_eq!(config.registry.registries.insecure, ["registry.local:5000"]);
        assert_eq!(
            config.registry.registries.ca_files,
            [PathBuf::from("/etc/tagwarden/corp.pem")],
            "relative to the file"
        );
        assert_eq!(config.registry.cache.ttl, Some(600));
        assert_eq!(config.policy.track.len(), 2);
        assert_eq!(config.policy.max_skew, Some(1));
        assert_eq!(config.serve.present_interval, Some(600));
        assert_eq!(parse("\n").unwrap(), Config::default());
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let text = parse("cache:\n  ttl: -5\n").unwrap_err().to_string();
        assert!(
            text.starts_with("config /etc/tagwarden/config.yaml:2:8: expected a whole number, 0 or more; found -5"),
            "{text}"
        );
        // An unknown key, top level or in any section, is refused with its place.
        for (yaml, key) in [
            (
                "registries:\n  insecure_skip_verfy: [x]\n",
                "insecure_skip_verfy",
            ),
            ("polcy:\n  max_skew: 1\n", "polcy"),
            ("policy:\n  max_skwe: 1\n", "max_skwe"),
            ("serve:\n  listn: 0.0.0.0:1\n", "listn"),
        ] {
            let text = parse(yaml).unwrap_err().to_string();
            assert!(text.contains(":2:") || text.contains(":1:"), "{text}");
            assert!(text.contains(key), "{text}");
            assert!(!text.to_lowercase().contains("error:"), "{text}");
        }
        let text = parse("polcy: {}\n").unwrap_err().to_string();
        assert!(
            text.contains("registries") && text.contains("serve"),
            "the keys there are: {text}"
        );
        let text = parse("mirrors:\n  docker.io: [\"https://m.local\"]\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("expected HOST[:PORT]"), "{text}");
    }
}
