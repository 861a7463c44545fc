//! Where registry credentials come from: the files users already keep.
//!
//! Lookup order, first file that has an entry for the registry wins:
//!
//! 1. an explicit file (`--registry-config`), when given;
//! 2. `REGISTRY_AUTH_FILE` (podman, skopeo, buildah);
//! 3. `$DOCKER_CONFIG/config.json`;
//! 4. `~/.docker/config.json`.
//!
//! Within a file, `auths` keys are matched the way Docker matches them: the key's scheme
//! and path are dropped before comparing hosts, so `https://ghcr.io`, `ghcr.io` and
//! `https://ghcr.io/v1/` all name `ghcr.io`; Docker Hub is stored under
//! `https://index.docker.io/v1/`, which matches `docker.io`.
//!
//! Secrets never appear in `Debug` output or in errors.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::RegistryError;

/// A credential for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (or a personal access token in the password field).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken` in a docker config).
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// One loaded credentials file.
#[derive(Debug)]
struct ConfigSource {
    path: PathBuf,
    auths: HashMap<String, Credential>,
}

/// All credentials tagwarden may use, in lookup order.
#[derive(Debug, Default)]
pub struct CredentialStore {
    sources: Vec<ConfigSource>,
}

impl CredentialStore {
    /// A store without credentials: every request is anonymous.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Load the standard locations, with `explicit` (from `--registry-config`) first.
    ///
    /// Files that do not exist are skipped; a file that exists but cannot be read or parsed
    /// is an error that names it, because silently ignoring it would turn a credentials
    /// problem into a confusing "denied".
    pub fn from_environment(explicit: Option<&Path>) -> Result<Self, RegistryError> {
        let mut paths = Vec::new();
        if let Some(path) = explicit {
            if !path.exists() {
                return Err(RegistryError::Config(format!(
                    "registry config {} does not exist",
                    path.display()
                )));
            }
            paths.push(path.to_path_buf());
        }
        if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(path));
        }
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(dir).join("config.json"));
        }
        if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(home).join(".docker").join("config.json"));
        }
        let mut store = Self::default();
        for path in paths {
            if store.sources.iter().any(|s| s.path == path) || !path.is_file() {
                continue;
            }
            store.sources.push(load(&path)?);
        }
        Ok(store)
    }

    /// Load exactly one file (tests, and `--registry-config` alone).
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            sources: vec![load(path)?],
        })
    }

    /// The credential for `registry` (normalised host, e.g. `docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`), and the file it came from.
    pub fn lookup(&self, registry: &str) -> Option<(&Credential, &Path)> {
        let wanted = canonical_host(registry);
        self.sources.iter().find_map(|source| {
            source
                .auths
                .iter()
                .find(|(key, _)| canonical_host(&key_host(key)) == wanted)
                .map(|(_, cred)| (cred, source.path.as_path()))
        })
    }
}

fn load(path: &Path) -> Result<ConfigSource, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        RegistryError::Config(format!(
            "cannot read registry config {}: {e}",
            path.display()
        ))
    })?;
    let file: DockerConfigFile = serde_json::from_str(&text).map_err(|e| {
        RegistryError::Config(format!(
            "registry config {} is not valid JSON (line {}, column {}): fix or remove it",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let mut auths = HashMap::new();
    for (key, entry) in file.auths {
        if let Some(cred) = entry_credential(&entry).map_err(|reason| {
            RegistryError::Config(format!(
                "registry config {}: entry \"{key}\": {reason}",
                path.display()
            ))
        })? {
            auths.insert(key, cred);
        }
    }
    Ok(ConfigSource {
        path: path.to_path_buf(),
        auths,
    })
}

fn entry_credential(entry: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.to_string())));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "\"auth\" is not valid base64".to_string())?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| "\"auth\" does not decode to UTF-8 text".to_string())?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| "\"auth\" does not decode to username:password".to_string())?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => Ok(Some(Credential::Basic {
            username: username.clone(),
            password: password.clone(),
        })),
        _ => Ok(None),
    }
}

/// The host part of an `auths` key: Docker's `convertToHostname`.
fn key_host(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

/// Hosts that mean Docker Hub all compare equal.
fn canonical_host(host: &str) -> String {
    match host.to_ascii_lowercase().as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let store = CredentialStore::from_file(&path).unwrap();
        (dir, store)
    }

    #[test]
    fn docker_hub_key_matches_docker_io() {
        // "alice:s3cret" in base64
        let (_dir, store) =
            store(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"}}}"#);
        let (cred, _) = store.lookup("docker.io").expect("docker hub credential");
        assert_eq!(
            cred,
            &Credential::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        assert!(store.lookup("ghcr.io").is_none());
    }

    #[test]
    fn keys_match_with_or_without_scheme_and_path() {
        let (_dir, store) = store(
            r#"{"auths":{
                "https://ghcr.io":{"username":"u1","password":"p1"},
                "127.0.0.1:5000":{"auth":"dTI6cDI="},
                "http://quay.io/v1/":{"identitytoken":"refresh-me"}}}"#,
        );
        assert!(
            matches!(store.lookup("ghcr.io"), Some((Credential::Basic { username, .. }, _)) if username == "u1")
        );
        assert!(
            matches!(store.lookup("127.0.0.1:5000"), Some((Credential::Basic { username, .. }, _)) if username == "u2")
        );
        assert!(matches!(
            store.lookup("quay.io"),
            Some((Credential::IdentityToken(_), _))
        ));
        assert!(store.lookup("127.0.0.1:5001").is_none());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let (_dir, store) =
            store(r#"{"auths":{"ghcr.io":{"username":"bob","password":"hunter2-secret"}}}"#);
        let shown = format!("{store:?} {:?}", store.lookup("ghcr.io").unwrap().0);
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("bob"), "{shown}");
    }

    #[test]
    fn broken_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{\"auths\": {").unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("not valid JSON"),
            "{err}"
        );

        std::fs::write(&path, r#"{"auths":{"ghcr.io":{"auth":"!!!"}}}"#).unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("not valid base64") && !err.contains("!!!"),
            "{err}"
        );
    }
}
