//! Keychains: where the credential for a registry comes from.
//!
//! A [`Keychain`] answers one question, "which credential for this registry, and from
//! where?", as go-containerregistry's `authn.Keychain` does. Front ends combine several
//! with a [`MultiKeychain`], which asks each in order and takes the first answer:
//!
//! - [`PullSecretKeychain`]: explicit Kubernetes pull-secret files (`--pull-secret`);
//! - [`DockerConfigKeychain`]: the docker config files and credential helpers
//!   (`--registry-config`, `REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG`, `~/.docker`);
//! - [`Anonymous`]: no credentials.
//!
//! The kubelet's credential-provider plugins are
//! [`CredentialProviderKeychain`](crate::CredentialProviderKeychain). Other keychains (a
//! cluster's pull secrets) implement the trait outside this crate, without Kubernetes
//! types in it.
//!
//! Most keychains answer per registry. One whose answer depends on the repository (a
//! credential-provider plugin is asked about an image, and its `matchImages` may name a
//! path) implements [`Keychain::resolve_repository`] and says so with
//! [`Keychain::answers_per_repository`]; the client then asks it for every request and
//! leaves reuse to it.
//!
//! Keychains may block (a credential helper is a process): the client calls them off the
//! async runtime (`spawn_blocking`) and remembers their answers for a few minutes. Each
//! answer names its [`source`](Resolved::source), so that a rejected credential can be
//! blamed on the right file. Secrets never appear in `Debug` output or messages.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::credentials::{Credential, CredentialStore};
use crate::error::RegistryError;

/// Resolves the credential for a registry.
pub trait Keychain: Send + Sync + fmt::Debug + 'static {
    /// The credential for `registry` (as users name it: `docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`), or `None` to ask anonymously. An error means the keychain is
    /// configured for this registry but broken (a credential helper failed): guessing
    /// "anonymous" then would turn it into a confusing "denied".
    ///
    /// May block; the client calls it off the async runtime.
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError>;

    /// The credential for `repository` (`library/busybox`) in `registry`. By default the
    /// registry's credential: only keychains whose answer depends on the repository
    /// override it (and [`answers_per_repository`](Keychain::answers_per_repository)).
    fn resolve_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Resolved>, RegistryError> {
        let _ = repository;
        self.resolve(registry)
    }

    /// True when answers may differ between repositories of one registry, or expire on
    /// the keychain's own schedule: the client then calls
    /// [`resolve_repository`](Keychain::resolve_repository) for every request (so such a
    /// keychain caches its own answers) instead of reusing one answer per registry for a
    /// few minutes. Default: false.
    fn answers_per_repository(&self) -> bool {
        false
    }
}

/// A credential and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The credential.
    pub credential: Credential,
    /// For messages, never secret: `--pull-secret regcred.yaml`,
    /// `docker config /home/me/.docker/config.json`, `credential helper
    /// docker-credential-pass (from …)`.
    pub source: String,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("credential", &self.credential)
            .field("source", &self.source)
            .finish()
    }
}

/// No credentials for anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl Keychain for Anonymous {
    fn resolve(&self, _registry: &str) -> Result<Option<Resolved>, RegistryError> {
        Ok(None)
    }
}

/// Several keychains, asked in order: the first that has a credential answers, and the
/// first error stops the search.
#[derive(Debug, Clone, Default)]
pub struct MultiKeychain {
    keychains: Vec<Arc<dyn Keychain>>,
}

impl MultiKeychain {
    /// Ask `keychains` in this order.
    pub fn new(keychains: Vec<Arc<dyn Keychain>>) -> Self {
        Self { keychains }
    }

    /// Ask `keychain` after the ones already there.
    pub fn with(mut self, keychain: impl Keychain) -> Self {
        self.keychains.push(Arc::new(keychain));
        self
    }
}

impl Keychain for MultiKeychain {
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        for keychain in &self.keychains {
            if let Some(resolved) = keychain.resolve(registry)? {
                return Ok(Some(resolved));
            }
        }
        Ok(None)
    }

    fn resolve_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Resolved>, RegistryError> {
        for keychain in &self.keychains {
            if let Some(resolved) = keychain.resolve_repository(registry, repository)? {
                return Ok(Some(resolved));
            }
        }
        Ok(None)
    }

    fn answers_per_repository(&self) -> bool {
        self.keychains.iter().any(|k| k.answers_per_repository())
    }
}

impl<K: Keychain + ?Sized> Keychain for Arc<K> {
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        (**self).resolve(registry)
    }

    fn resolve_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Resolved>, RegistryError> {
        (**self).resolve_repository(registry, repository)
    }

    fn answers_per_repository(&self) -> bool {
        (**self).answers_per_repository()
    }
}

/// Docker config files and their credential helpers (`credHelpers`, `credsStore`), in
/// Docker's lookup order; see [`crate::credentials`].
#[derive(Debug)]
pub struct DockerConfigKeychain {
    store: CredentialStore,
}

impl DockerConfigKeychain {
    /// The standard locations, with `explicit` (`--registry-config`) first.
    pub fn from_environment(explicit: Option<&Path>) -> Result<Self, RegistryError> {
        Ok(Self {
            store: CredentialStore::from_environment(explicit)?,
        })
    }

    /// Exactly one file.
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            store: CredentialStore::from_file(path)?,
        })
    }
}

impl Keychain for DockerConfigKeychain {
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        self.store.resolve(registry)
    }
}

/// Kubernetes pull-secret files (`kubernetes.io/dockerconfigjson` Secrets, or bare
/// `.dockerconfigjson` files), in the order given.
#[derive(Debug)]
pub struct PullSecretKeychain {
    store: CredentialStore,
}

impl PullSecretKeychain {
    /// Load every file; one that cannot be read or parsed is an error that names it.
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, RegistryError> {
        Ok(Self {
            store: CredentialStore::from_environment_with_only_pull_secrets(paths)?,
        })
    }
}

impl PullSecretKeychain {
    /// Pull secrets read from a cluster: `(namespace/name, .dockerconfigjson text)` pairs,
    /// asked in order. A secret that is not a docker config is an error that names it
    /// (never its contents).
    pub fn from_cluster_secrets(secrets: &[(String, String)]) -> Result<Self, RegistryError> {
        Ok(Self {
            store: CredentialStore::from_cluster_secrets(secrets)?,
        })
    }
}

impl Keychain for PullSecretKeychain {
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        self.store.resolve(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keychain that answers for one registry, from a named source.
    #[derive(Debug)]
    struct Fixed(&'static str, &'static str);

    impl Keychain for Fixed {
        fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
            Ok((registry == self.0).then(|| Resolved {
                credential: Credential::Basic {
                    username: "u".into(),
                    password: "p".into(),
                },
                source: self.1.to_string(),
            }))
        }
    }

    #[derive(Debug)]
    struct Broken;

    impl Keychain for Broken {
        fn resolve(&self, _: &str) -> Result<Option<Resolved>, RegistryError> {
            Err(crate::credentials::CredentialsError::Helper {
                program: "docker-credential-broken".into(),
                config: "config.json".into(),
                problem: crate::credentials::HelperProblem::NotCredentials,
            }
            .into())
        }
    }

    fn source(k: &impl Keychain, registry: &str) -> Option<String> {
        k.resolve(registry).unwrap().map(|r| r.source)
    }

    #[test]
    fn the_first_keychain_with_an_answer_wins() {
        let multi = MultiKeychain::default()
            .with(Fixed("ghcr.io", "first"))
            .with(Fixed("ghcr.io", "second"))
            .with(Fixed("quay.io", "third"));
        assert_eq!(source(&multi, "ghcr.io").as_deref(), Some("first"));
        assert_eq!(source(&multi, "quay.io").as_deref(), Some("third"));
        assert_eq!(source(&multi, "docker.io"), None);
        assert_eq!(source(&Anonymous, "ghcr.io"), None);
    }

    #[test]
    fn an_error_stops_the_search_but_an_earlier_answer_wins() {
        let multi = MultiKeychain::default()
            .with(Fixed("ghcr.io", "first"))
            .with(Broken);
        assert_eq!(source(&multi, "ghcr.io").as_deref(), Some("first"));
        assert!(multi.resolve("quay.io").is_err());
    }

    #[test]
    fn pull_secrets_before_docker_config_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("regcred.json");
        // u2:p2
        std::fs::write(
            &secret,
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dTI6cDI="}}}"#,
        )
        .unwrap();
        let docker = dir.path().join("config.json");
        // u1:hunter2
        std::fs::write(
            &docker,
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dTE6aHVudGVyMg=="},"ghcr.io":{"auth":"dTE6aHVudGVyMg=="}}}"#,
        )
        .unwrap();
        let multi = MultiKeychain::default()
            .with(PullSecretKeychain::from_files(std::slice::from_ref(&secret)).unwrap())
            .with(DockerConfigKeychain::from_file(&docker).unwrap());
        let local = multi.resolve("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(local.source, format!("--pull-secret {}", secret.display()));
        assert!(
            matches!(local.credential, Credential::Basic { ref username, .. } if username == "u2")
        );
        let ghcr = multi.resolve("ghcr.io").unwrap().unwrap();
        assert_eq!(ghcr.source, format!("docker config {}", docker.display()));
        assert!(!format!("{local:?} {ghcr:?}").contains("hunter2"));
    }
}
