//! The kubelet's `CredentialProviderConfig` file (`--image-credential-provider-config`),
//! read and validated as the kubelet reads it.
//!
//! ```yaml
//! apiVersion: kubelet.config.k8s.io/v1          # or v1beta1, v1alpha1
//! kind: CredentialProviderConfig
//! providers:
//!   - name: ecr-credential-provider             # a file in the bin dir: no path
//!     matchImages: ["*.dkr.ecr.*.amazonaws.com"]
//!     defaultCacheDuration: "12h"               # a Go duration: 12h, 1m30s, 0
//!     apiVersion: credentialprovider.kubelet.k8s.io/v1
//!     args: [get-credentials]
//!     env: [{name: AWS_PROFILE, value: ecr}]
//! ```
//!
//! YAML or JSON. Unknown fields are errors (the kubelet decodes strictly, and a misspelt
//! `matchImage` would otherwise silently match nothing). `tokenAttributes` (service-account
//! tokens for plugins) is refused: only a kubelet can mint those tokens. As in the kubelet,
//! the config path may also be a folder: its `*.json`, `*.yaml` and `*.yml` files are read
//! in name order and their providers merged, names unique.
//!
//! Every problem is a one-line [`ProviderConfigError`] naming the file and the field.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::matching::pattern_problem;
use crate::RegistryError;

/// A `CredentialProviderConfig` (or the bin dir of its plugins) that cannot be used:
/// which file, which field, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProviderConfigError {
    /// The file or folder cannot be read.
    #[error("cannot read credential provider config {}: {source}", .path.display())]
    Unreadable {
        /// The file or folder.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// Not YAML (or JSON) of the right shape. The parser's message is kept as its first
    /// line without the location (its full text shows the file, `env` values included).
    #[error("credential provider config {}{}: {message}", .path.display(), at(.position))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line and column, when known.
        position: Option<(u64, u64)>,
        /// What the parser said.
        message: String,
    },
    /// A field with a value the kubelet would refuse.
    #[error("credential provider config {}: {problem}", .path.display())]
    Invalid {
        /// The file (or folder).
        path: PathBuf,
        /// The field and what is wrong with it (`providers[0].name: is required`).
        problem: String,
    },
    /// The bin dir is not a folder.
    #[error("credential provider bin dir {} is not a folder", .bin_dir.display())]
    BinDirNotAFolder {
        /// The folder named by `--image-credential-provider-bin-dir`.
        bin_dir: PathBuf,
    },
    /// A provider's plugin is not an executable in the bin dir.
    #[error("credential provider config {}: providers[{index}].name: there is no executable {}", .path.display(), .program.display())]
    NoExecutable {
        /// The config file.
        path: PathBuf,
        /// The provider's index in `providers`.
        index: usize,
        /// The plugin's path in the bin dir.
        program: PathBuf,
    },
}

/// `:LINE:COLUMN`, or nothing.
fn at(position: &Option<(u64, u64)>) -> String {
    position
        .map(|(line, column)| format!(":{line}:{column}"))
        .unwrap_or_default()
}

/// The `apiVersion`s of the config file the kubelet reads.
pub const CONFIG_API_VERSIONS: [&str; 3] = [
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];

/// The plugin protocol versions (a provider's `apiVersion`).
pub const PLUGIN_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// One validated `providers[]` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialProvider {
    /// The plugin's file name in the bin dir (`ecr-credential-provider`).
    pub name: String,
    /// The images it answers for (see [`super::image_matches`]); never empty.
    pub match_images: Vec<String>,
    /// How long an answer without its own `cacheDuration` is reused; zero: not at all.
    pub default_cache_duration: Duration,
    /// The protocol version of the request and the expected response.
    pub api_version: String,
    /// Arguments of the plugin.
    pub args: Vec<String>,
    /// Environment variables added to (or overriding) tagwarden's own for the plugin.
    pub env: Vec<(String, String)>,
}

/// `env` values may be sensitive: `Debug` shows only their names.
impl fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("CredentialProvider")
            .field("name", &self.name)
            .field("match_images", &self.match_images)
            .field("default_cache_duration", &self.default_cache_duration)
            .field("api_version", &self.api_version)
            .field("args", &self.args)
            .field("env", &env_names)
            .finish()
    }
}

/// A `CredentialProviderConfig`: the file it came from and its providers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderConfig {
    /// The file (or folder) named by `--image-credential-provider-config`.
    pub path: PathBuf,
    /// At least one provider; names are unique.
    pub providers: Vec<CredentialProvider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    providers: Vec<RawProvider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProvider {
    #[serde(default)]
    name: String,
    #[serde(default)]
    match_images: Vec<String>,
    #[serde(default)]
    default_cache_duration: Option<String>,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<RawEnv>,
    #[serde(default)]
    token_attributes: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    name: String,
    #[serde(default)]
    value: String,
}

impl CredentialProviderConfig {
    /// Read and validate the file (or folder) at `path`.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let files = config_files(path)?;
        let mut providers: Vec<CredentialProvider> = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|source| {
                ProviderConfigError::Unreadable {
                    path: file.clone(),
                    source,
                }
            })?;
            for provider in Self::parse(file, &text)?.providers {
                if providers.iter().any(|p| p.name == provider.name) {
                    return Err(bad(
                        file,
                        format!(
                            "providers: duplicate provider name {:?} (names are unique across the folder)",
                            provider.name
                        ),
                    ));
                }
                providers.push(provider);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            providers,
        })
    }

    /// Parse and validate `text`, the contents of `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, RegistryError> {
        let raw: RawConfig =
            serde_saphyr::from_str(text).map_err(|e| ProviderConfigError::Syntax {
                path: path.to_path_buf(),
                position: e.location().map(|l| (l.line(), l.column())),
                message: crate::config::yaml_message(&e),
            })?;
        if raw.kind != "CredentialProviderConfig" {
            return Err(bad(
                path,
                format!("kind: {:?} is not CredentialProviderConfig", raw.kind),
            ));
        }
        if !CONFIG_API_VERSIONS.contains(&raw.api_version.as_str()) {
            return Err(bad(
                path,
                format!(
                    "apiVersion: {:?} is not one of {}",
                    raw.api_version,
                    CONFIG_API_VERSIONS.join(", ")
                ),
            ));
        }
        if raw.providers.is_empty() {
            return Err(bad(
                path,
                "providers: at least 1 provider is required".into(),
            ));
        }
        let mut providers: Vec<CredentialProvider> = Vec::new();
        for (index, raw) in raw.providers.into_iter().enumerate() {
            let provider = validate_provider(raw).map_err(|(field, problem)| {
                bad(path, format!("providers[{index}].{field}: {problem}"))
            })?;
            if providers.iter().any(|p| p.name == provider.name) {
                return Err(bad(
                    path,
                    format!(
                        "providers[{index}].name: duplicate provider name {:?}",
                        provider.name
                    ),
                ));
            }
            providers.push(provider);
        }
        Ok(Self {
            path: path.to_path_buf(),
            providers,
        })
    }
}

fn bad(path: &Path, problem: String) -> RegistryError {
    ProviderConfigError::Invalid {
        path: path.to_path_buf(),
        problem,
    }
    .into()
}

/// The file itself, or a folder's `*.json`/`*.yaml`/`*.yml` files in name order.
fn config_files(path: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let cannot = |source: std::io::Error| ProviderConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    if !std::fs::metadata(path).map_err(cannot)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(cannot)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "json" || ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(
            path,
            "the folder has no *.json, *.yaml or *.yml file".into(),
        ));
    }
    Ok(files)
}

/// One provider, or the field at fault and why.
fn validate_provider(raw: RawProvider) -> Result<CredentialProvider, (&'static str, String)> {
    let name = raw.name;
    if name.is_empty() {
        return Err(("name", "is required".into()));
    }
    if name.contains('/') || name.contains(' ') || name == "." || name == ".." {
        return Err((
            "name",
            format!(
                "{name:?} must be a plain file name in the bin dir (no '/', no spaces, not . or ..)"
            ),
        ));
    }
    if raw.match_images.is_empty() {
        return Err(("matchImages", "at least 1 pattern is required".into()));
    }
    if let Some((pattern, problem)) = raw
        .match_images
        .iter()
        .find_map(|p| pattern_problem(p).map(|problem| (p, problem)))
    {
        return Err(("matchImages", format!("{pattern:?} is invalid: {problem}")));
    }
    let default_cache_duration = match raw.default_cache_duration {
        None => {
            return Err((
                "defaultCacheDuration",
                "is required (e.g. \"12h\", or \"0\" not to cache)".into(),
            ));
        }
        Some(text) => match parse_go_duration(&text) {
            Ok(Some(duration)) => duration,
            Ok(None) => {
                return Err((
                    "defaultCacheDuration",
                    format!("{text:?} must be 0 or more"),
                ));
            }
            Err(problem) => return Err(("defaultCacheDuration", problem)),
        },
    };
    if raw.api_version.is_empty() {
        return Err((
            "apiVersion",
            format!("is required: one of {}", PLUGIN_API_VERSIONS.join(", ")),
        ));
    }
    if !PLUGIN_API_VERSIONS.contains(&raw.api_version.as_str()) {
        return Err((
            "apiVersion",
            format!(
                "{:?} is not one of {}",
                raw.api_version,
                PLUGIN_API_VERSIONS.join(", ")
            ),
        ));
    }
    if raw.token_attributes.is_some() {
        return Err((
            "tokenAttributes",
            "is not supported: service-account tokens for plugins are minted by the kubelet".into(),
        ));
    }
    if let Some(env) = raw
        .env
        .iter()
        .find(|e| e.name.is_empty() || e.name.contains('='))
    {
        return Err(("env", format!("{:?} is not a variable name", env.name)));
    }
    Ok(CredentialProvider {
        name,
        match_images: raw.match_images,
        default_cache_duration,
        api_version: raw.api_version,
        args: raw.args,
        env: raw.env.into_iter().map(|e| (e.name, e.value)).collect(),
    })
}

/// A Go duration (`time.ParseDuration`, the text form of a Kubernetes `metav1.Duration`):
/// `0`, or an optionally signed sequence of decimal numbers with units `ns`, `us` (`µs`),
/// `ms`, `s`, `m`, `h`, such as `12h`, `1m30s` or `1.5h`. `Ok(None)` for a negative one.
pub fn parse_go_duration(text: &str) -> Result<Option<Duration>, String> {
    let invalid = || format!("{text:?} is not a Go duration (e.g. \"12h\", \"1m30s\", \"0\")");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(digits_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(per_unit).ok_or_else(invalid)?;
        // Fractions beyond nanoseconds are dropped, as Go does.
        let mut scale = per_unit;
        for digit in fraction.bytes().take(20) {
            scale /= 10;
            part += u128::from(digit - b'0') * scale;
        }
        nanos = nanos.checked_add(part).ok_or_else(invalid)?;
        rest = after;
    }
    let nanos = u64::try_from(nanos).map_err(|_| invalid())?;
    Ok(if negative && nanos > 0 {
        None
    } else {
        Some(Duration::from_nanos(nanos))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |t: &str| parse_go_duration(t).unwrap().unwrap();
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("12h"), Duration::from_secs(12 * 3600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(
            ok("2h45m0.5s"),
            Duration::from_millis((2 * 3600 + 45 * 60) * 1000 + 500)
        );
        assert_eq!(ok("1µs"), Duration::from_micros(1));
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(parse_go_duration("-5s").unwrap(), None);
        for bad in [
            "",
            "12",
            "h",
            "1d",
            "1.2.3s",
            ".s",
            "5 s",
            "-",
            "1h-5m",
            "99999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }
}
