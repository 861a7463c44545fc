//! The config file's registry sections (`registries:`, `mirrors:`, `cache:`), and
//! building a [`Client`] from them.
//!
//! ```yaml
//! registries:
//!   insecure: [registry.local:5000]        # plain HTTP allowed, TLS not verified (like --insecure-registry)
//!   insecure_skip_verify: [harbor.corp]    # TLS not verified; a warning on every run
//!   ca_files: [/etc/ssl/corp-root.pem]     # extra trusted CAs (relative to this file)
//! mirrors:                                 # asked before the registry itself, in order
//!   docker.io: [mirror.local:5000]
//!   ghcr.io:
//!     - host: airgap.local:5000
//!       authoritative: true                # its answers are final: the upstream is never asked
//! cache:
//!   ttl: 600                               # seconds a cached digest or tag list stays valid; 0: no cache
//! ```
//!
//! The file holds more: `policy:` ([`tagwarden_core::config::PolicyConfig`]) and `serve:`
//! (the cluster crate's), each owned by the crate that acts on it. The front end composes
//! the file from the sections (the CLI's `config` module), reads it with [`from_yaml`]
//! (one [`ConfigError`] form for every section) and hands this crate its part, checked by
//! [`RegistryConfig::settled`]. [`RegistryConfig::parse`] reads a file of these sections
//! only.
//!
//! Unknown keys are errors, so a typo never silently disables a setting. Errors name the
//! file, and the line and column when the YAML has them, and say what was expected.
//! [`RegistryConfig::build_client`] is the one way a front end (the CLI, a long-running
//! service) turns the file plus its own settings into a [`Client`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tagwarden_core::config::whole_number;

use crate::cache::{self, DiskCache};
use crate::client::{Client, Mirror};
use crate::error::RegistryError;
use crate::transport::ClientOptions;

/// The registry sections of the config file. `Default` is the empty file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// TLS and plain-HTTP settings per registry.
    #[serde(default)]
    pub registries: RegistriesConfig,
    /// Registry (`docker.io`) → its mirrors, asked first, in order.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<Mirror>>,
    /// The on-disk cache.
    #[serde(default)]
    pub cache: CacheConfig,
}

/// `registries:`: how to talk to particular registries.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistriesConfig {
    /// Hosts that may use plain HTTP and whose TLS is not verified.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Hosts whose TLS certificates are not verified (with a warning on every run).
    #[serde(default)]
    pub insecure_skip_verify: Vec<String>,
    /// Extra trusted CA files; relative paths are relative to the config file.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
}

/// `cache:`: the on-disk cache.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Seconds a cached digest or tag list stays valid; `0` turns the cache off;
    /// `None`: [`cache::DEFAULT_TTL`].
    #[serde(default, deserialize_with = "whole_number")]
    pub ttl: Option<u64>,
}

/// Where the client keeps its on-disk cache, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiskCacheLocation {
    /// No on-disk cache (`--no-cache`).
    Off,
    /// [`DiskCache::default_path`] (`$XDG_CACHE_HOME/tagwarden/cache.redb`).
    Default,
    /// This file.
    At(PathBuf),
}

/// A config file that cannot be used: which file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "config {}:{line}:{column}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "config {}: {}", self.path.display(), self.message),
        }
    }
}

/// Read `text` (the file at `path`, for messages) as `T`, a whole config file or a front
/// end's composition of sections: a YAML error becomes a [`ConfigError`] with the file and
/// the line and column, and says what was expected.
pub fn from_yaml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        position: e.location().map(|l| (l.line(), l.column())),
        message: yaml_message(&e),
    })
}

/// The text of the config file at `path`; unreadable is a [`ConfigError`].
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read it: {e}"),
    })
}

impl RegistryConfig {
    /// Read and validate a file of these sections only. An empty file is the empty config.
    pub fn load(path: &Path) -> Result<RegistryConfig, ConfigError> {
        Self::parse(&read_text(path)?, path)
    }

    /// Parse and validate text of these sections only, read from `path` (used for
    /// messages and to resolve relative CA paths).
    pub fn parse(text: &str, path: &Path) -> Result<RegistryConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(RegistryConfig::default());
        }
        from_yaml::<RegistryConfig>(text, path)?.settled(path)
    }

    /// These sections as read from the file at `path`, made ready for use: relative CA
    /// paths made relative to the file, as users expect, and every mirror checked.
    pub fn settled(mut self, path: &Path) -> Result<RegistryConfig, ConfigError> {
        let config = &mut self;
        // Relative CA paths are relative to the config file, as users expect.
        let base = path.parent().unwrap_or(Path::new("."));
        for ca in &mut config.registries.ca_files {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
        for (registry, mirrors) in &config.mirrors {
            if let Some(bad) = mirrors
                .iter()
                .find(|m| m.host.is_empty() || m.host.contains("://") || m.host.contains('/'))
            {
                return Err(ConfigError {
                    path: path.to_path_buf(),
                    position: None,
                    message: format!(
                        "mirrors.{registry}: \"{}\" is not a mirror; expected HOST[:PORT], without scheme or path",
                        bad.host
                    ),
                });
            }
        }
        Ok(self)
    }

    /// Build the client: `options` (from flags, or a service's own settings) with this
    /// file's registries added (insecure hosts, unverified hosts, CA files), its mirrors,
    /// and the on-disk cache at `disk` with this file's TTL.
    ///
    /// A cache that cannot be opened (locked, unwritable) is skipped with a warning: the
    /// cache only saves time, it never changes an answer.
    pub fn build_client(
        &self,
        mut options: ClientOptions,
        disk: DiskCacheLocation,
    ) -> Result<Client, RegistryError> {
        options
            .insecure_registries
            .extend(self.registries.insecure.iter().cloned());
        options
            .skip_verify
            .extend(self.registries.insecure_skip_verify.iter().cloned());
        let mut ca_files = self.registries.ca_files.clone();
        ca_files.append(&mut options.ca_files);
        options.ca_files = ca_files;
        let ttl = self.cache_ttl();
        let disk = match disk {
            _ if ttl.is_zero() => None,
            DiskCacheLocation::Off => None,
            DiskCacheLocation::Default => {
                DiskCache::default_path().and_then(|path| DiskCache::open_or_skip(&path, ttl))
            }
            DiskCacheLocation::At(path) => DiskCache::open_or_skip(&path, ttl),
        };
        let mirrors = self
            .mirrors
            .iter()
            .map(|(registry, mirrors)| (registry.clone(), mirrors.clone()))
            .collect();
        Client::with_mirrors(options, mirrors, disk)
    }

    /// How long on-disk cache entries stay valid (zero: no cache).
    pub fn cache_ttl(&self) -> Duration {
        self.cache
            .ttl
            .map(Duration::from_secs)
            .unwrap_or(cache::DEFAULT_TTL)
    }
}

impl<'de> Deserialize<'de> for Mirror {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Detailed {
            host: String,
            #[serde(default)]
            authoritative: bool,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Host(String),
            Detailed(Detailed),
        }
        match Entry::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a mirror: HOST[:PORT], or {host: HOST[:PORT], authoritative: true|false}",
            )
        })? {
            Entry::Host(host) => Ok(Mirror::new(host)),
            Entry::Detailed(d) => Ok(Mirror {
                host: d.host,
                authoritative: d.authoritative,
            }),
        }
    }
}

/// The message of a YAML error, on one line, without its location (which the
/// [`ConfigError`] carries) or a leading "error:".
pub(crate) fn yaml_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let first = first
        .strip_prefix("error:")
        .map(str::trim_start)
        .unwrap_or(first);
    // serde-saphyr appends " at line L column C"; the location is printed up front.
    let first = match first.rfind(" at line ") {
        Some(at) => &first[..at],
        None => first,
    };
    first.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RegistryConfig, ConfigError> {
        RegistryConfig::parse(text, Path::new("/etc/tagwarden/config.yaml"))
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            "registries:\n  insecure: [registry.local:5000]\n  insecure_skip_verify: [harbor.corp]\n  ca_files: [corp.pem]\nmirrors:\n  docker.io: [mirror.local:5000]\n  ghcr.io:\n    - host: airgap.local:5000\n      authoritative: true\ncache:\n  ttl: 600\n",
        )
        .unwrap();
        assert_eq!(config.registries.insecure, vec!["registry.local:5000"]);
        assert_eq!(
            config.registries.ca_files,
            vec![PathBuf::from("/etc/tagwarden/corp.pem")]
        );
        assert_eq!(
            config.mirrors["docker.io"],
            vec![Mirror::new("mirror.local:5000")]
        );
        assert_eq!(
            config.mirrors["ghcr.io"],
            vec![Mirror {
                host: "airgap.local:5000".into(),
                authoritative: true
            }]
        );
        assert_eq!(config.cache.ttl, Some(600));
        assert_eq!(parse("\n").unwrap(), RegistryConfig::default());
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let err = parse("cache:\n  ttl: -5\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("config /etc/tagwarden/config.yaml:2:"),
            "{text}"
        );
        assert!(
            text.contains("expected a whole number, 0 or more; found -5"),
            "{text}"
        );
        assert!(!text.contains("error:"), "{text}");

        let text = parse("registries:\n  insecure_skip_verfy: [x]\n")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(":2:") && text.contains("insecure_skip_verfy"),
            "{text}"
        );
        assert!(!text.to_lowercase().contains("error:"), "{text}");

        let text = parse("mirrors:\n  docker.io: [\"https://m.local\"]\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("expected HOST[:PORT]"), "{text}");

        let text = parse("mirrors:\n  docker.io: [{host: m, authoritative: maybe}]\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("expected a mirror"), "{text}");
    }
}
