//! The config file (`--config FILE`, YAML), and building a [`Client`] from it.
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
//! policy:                                  # which tags follow the Kubernetes version
//!   track: [docker.io/clastix/kubectl, "ghcr.io/org/*"]
//!   max_skew: 1                            # minors a fallback may be away
//!   prefer: older                          # older|newer
//! ```
//!
//! Unknown keys are errors, so a typo never silently disables a setting. Errors name the
//! file, and the line and column when the YAML has them, and say what was expected.
//!
//! The `policy` section is plain data here: this crate does not interpret it (the caller
//! turns it into a tracking policy). Everything else is for the client:
//! [`Config::build_client`] is the one way a front end (the CLI, a long-running service)
//! turns the file plus its own settings into a [`Client`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tagwarden_core::track::TrackRuleError;
use tagwarden_core::{FallbackPolicy, Prefer, TrackRule};

use crate::cache::{self, DiskCache};
use crate::client::{Client, Mirror};
use crate::error::RegistryError;
use crate::transport::ClientOptions;

/// The whole config file. `Default` is the empty file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// TLS and plain-HTTP settings per registry.
    #[serde(default)]
    pub registries: RegistriesConfig,
    /// Registry (`docker.io`) → its mirrors, asked first, in order.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<Mirror>>,
    /// The on-disk cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Which images follow the Kubernetes version; read by the caller, not by this crate.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// `tagwarden serve`'s settings; read by the caller, not by this crate.
    #[serde(default)]
    pub serve: ServeConfig,
}

/// `serve:`: how `tagwarden serve` watches and checks. Flags and environment variables
/// win over these; durations are whole seconds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Where the endpoints listen (`0.0.0.0:8080`).
    pub listen: Option<String>,
    /// Namespaces to watch (default: every namespace).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces to ignore.
    #[serde(default)]
    pub skip_namespaces: Vec<String>,
    /// Seconds between checks of a present image (default 3600).
    #[serde(default, deserialize_with = "whole_number")]
    pub present_interval: Option<u64>,
    /// Seconds between checks of a missing or invalid image (default 300).
    #[serde(default, deserialize_with = "whole_number")]
    pub failing_interval: Option<u64>,
    /// The longest wait, in seconds, before an image that could not be checked is asked
    /// again (the wait doubles from 30 s up to this; default 1800).
    #[serde(default, deserialize_with = "whole_number")]
    pub undetermined_max_backoff: Option<u64>,
    /// Seconds between reads of the cluster's `/version` (default 60).
    #[serde(default, deserialize_with = "whole_number")]
    pub version_interval: Option<u64>,
    /// Registry (`docker.io`) → the requests it may get per window.
    #[serde(default)]
    pub budgets: BTreeMap<String, BudgetConfig>,
}

/// `serve.budgets.REGISTRY`: at most `requests` registry requests every `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Requests allowed per window (HEADs and GETs; token requests are not counted).
    #[serde(deserialize_with = "required_whole_number")]
    pub requests: u64,
    /// The window, in seconds.
    #[serde(deserialize_with = "required_whole_number")]
    pub window: u64,
}

fn required_whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    whole_number(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("a whole number is required"))
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

/// `policy:`: which images follow the Kubernetes version, and how far a fallback may stray.
/// Command-line flags win over these.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Repositories whose tag tracks the Kubernetes version, whatever the tag looks like:
    /// `docker.io/clastix/kubectl`, `clastix/kubectl` (Docker Hub, normalised),
    /// `ghcr.io/org/*` (`*` matches any run of characters, `/` included).
    #[serde(default)]
    pub track: Vec<String>,
    /// Minors a fallback may be away from the wanted tag (default 1).
    #[serde(default, deserialize_with = "whole_number")]
    pub max_skew: Option<u64>,
    /// Which side to try first once the wanted minor has nothing (default older).
    pub prefer: Option<PreferConfig>,
}

impl PolicyConfig {
    /// The `track` rules, parsed (`scan`, `serve` and the CLI all read them so).
    pub fn track_rules(&self) -> Result<Vec<TrackRule>, TrackRuleError> {
        self.track
            .iter()
            .map(|text| TrackRule::parse(text))
            .collect()
    }

    /// The fallback policy: the overrides (a front end's flags) first, then this section,
    /// then the defaults (±1 minor, older first).
    pub fn fallback_policy(&self, max_skew: Option<u64>, prefer: Option<Prefer>) -> FallbackPolicy {
        let defaults = FallbackPolicy::default();
        FallbackPolicy {
            max_skew: max_skew.or(self.max_skew).unwrap_or(defaults.max_skew),
            prefer: prefer
                .or(self.prefer.map(|p| match p {
                    PreferConfig::Older => Prefer::Older,
                    PreferConfig::Newer => Prefer::Newer,
                }))
                .unwrap_or(defaults.prefer),
        }
    }
}

/// `policy.prefer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferConfig {
    /// Try older minors first.
    Older,
    /// Try newer minors first.
    Newer,
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

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Config(e.to_string())
    }
}

impl Config {
    /// Read and validate a config file. An empty file is the empty config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            position: None,
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate config text read from `path` (used for messages and to resolve
    /// relative CA paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut config: Config = serde_saphyr::from_str(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            position: e.location().map(|l| (l.line(), l.column())),
            message: yaml_message(&e),
        })?;
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
                        "mirrors.{registry}: {:?} is not a mirror; expected HOST[:PORT], without scheme or path",
                        bad.host
                    ),
                });
            }
        }
        Ok(config)
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

/// A whole, non-negative number (seconds, minors), with a message that says so.
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Whole(i64),
        Fraction(f64),
        Text(String),
    }
    let found = match Option::<Number>::deserialize(deserializer) {
        Ok(None) => return Ok(None),
        Ok(Some(Number::Whole(n))) if n >= 0 => return Ok(Some(n as u64)),
        Ok(Some(Number::Whole(n))) => n.to_string(),
        Ok(Some(Number::Fraction(x))) => x.to_string(),
        Ok(Some(Number::Text(t))) => format!("{t:?}"),
        Err(_) => "something else".to_string(),
    };
    Err(serde::de::Error::custom(format!(
        "expected a whole number, 0 or more; found {found}"
    )))
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

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/tagwarden/config.yaml"))
    }

    #[test]
    fn the_policy_section_becomes_track_rules_and_a_fallback_policy() {
        let config =
            parse("policy:\n  track: [clastix/kubectl]\n  max_skew: 2\n  prefer: newer\n").unwrap();
        let rules = config.policy.track_rules().unwrap();
        let kubectl = tagwarden_core::Reference::parse("docker.io/clastix/kubectl:v1").unwrap();
        assert!(rules.len() == 1 && rules[0].matches(&kubectl));
        // The section over the defaults, the front end's flags over the section.
        let from_file = config.policy.fallback_policy(None, None);
        assert_eq!((from_file.max_skew, from_file.prefer), (2, Prefer::Newer));
        let flags = config.policy.fallback_policy(Some(0), Some(Prefer::Older));
        assert_eq!((flags.max_skew, flags.prefer), (0, Prefer::Older));
        let empty = parse("").unwrap().policy.fallback_policy(None, None);
        assert_eq!(empty, FallbackPolicy::default());
        let bad = parse("policy:\n  track: [\"clastix/kubectl:v1.32\"]\n").unwrap();
        assert!(
            bad.policy.track_rules().is_err(),
            "a tag is not a repository"
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            "registries:\n  insecure: [registry.local:5000]\n  insecure_skip_verify: [harbor.corp]\n  ca_files: [corp.pem]\nmirrors:\n  docker.io: [mirror.local:5000]\n  ghcr.io:\n    - host: airgap.local:5000\n      authoritative: true\ncache:\n  ttl: 600\npolicy:\n  track: [docker.io/clastix/kubectl, \"ghcr.io/org/*\"]\n  max_skew: 1\n  prefer: older\n",
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
        assert_eq!(config.policy.track.len(), 2);
        assert_eq!(config.policy.max_skew, Some(1));
        assert_eq!(config.policy.prefer, Some(PreferConfig::Older));
        assert_eq!(parse("\n").unwrap(), Config::default());
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
