//! Challenges: how a host asks for credentials, and how a request answers.
//!
//! A registry that wants credentials answers `401` with `WWW-Authenticate`: `Basic` (send
//! the user and password on every request) or `Bearer realm=…,service=…` (fetch a scoped
//! token from the realm, see [`super::token`]). The first request to a host learns the
//! challenge; after that, requests carry the right `Authorization` up front.
//!
//! Credentials are only ever sent over TLS, or to loopback: never in clear text across a
//! network.

use reqwest::header::HeaderValue;

use base64::Engine as _;

use super::exchange::Scheme;
use super::token::pull_scope;
use super::{Call, Transport, is_loopback};
use crate::credentials::Credential;
use crate::error::RegistryError;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::keychain::{Keychain, Resolved};

/// What a host asks for, once its first answer is known.
#[derive(Debug, Clone)]
pub(super) enum HostAuth {
    /// The host answered without asking for credentials.
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// How long a keychain's answer is reused before asking it again (credentials rotate).
const CREDENTIALS_FOR: Duration = Duration::from_secs(300);

/// Past this many remembered answers, expired ones are dropped (and all of them, if none
/// has expired).
const MAX_REGISTRIES_REMEMBERED: usize = 1_000;

impl Transport {
    /// The `Authorization` header for a call, when the host's challenge is known.
    pub(super) async fn authorization(
        &self,
        call: &Call<'_>,
        scheme: Scheme,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let host = call.host;
        let auth = self.with_host(host, |s| s.auth.clone());
        Ok(match auth {
            None | Some(HostAuth::Anonymous) => None,
            Some(HostAuth::Basic) => {
                if !may_send_credentials(host, scheme) {
                    return Ok(None);
                }
                match self.credential(call).await? {
                    Some(Credential::Basic { username, password }) => {
                        basic_header(&username, &password)
                    }
                    _ => None,
                }
            }
            Some(HostAuth::Bearer { .. }) => {
                let key = (
                    pull_scope(call.repository),
                    self.credential_identity(call).await?,
                );
                self.with_host(host, |s| {
                    s.tokens
                        .get(&key)
                        .filter(|t| t.expires > Instant::now())
                        .and_then(|t| bearer_header(&t.token))
                })
            }
        })
    }

    /// The credential for the call's registry (and, for a keychain that
    /// [answers per repository](crate::Keychain::answers_per_repository), its repository)
    /// from the call's keychain, resolved off the async runtime (credential helpers and
    /// plugins are processes). A registry-wide answer is remembered for
    /// [`CREDENTIALS_FOR`]; a per-repository keychain is asked every time and caches on its
    /// own schedule.
    pub(super) async fn credential(
        &self,
        call: &Call<'_>,
    ) -> Result<Option<Credential>, RegistryError> {
        let credentials = call.credentials;
        let per_repository = credentials.keychain.answers_per_repository();
        let key = credential_key(call, per_repository);
        // (the answer still fresh, if any; the last answer, fresh or not)
        let remembered = || {
            let previous = credentials
                .resolved
                .lock()
                .expect("credentials poisoned")
                .get(&key)
                .cloned();
            let fresh = previous
                .as_ref()
                .filter(|(_, at)| !per_repository && at.elapsed() < CREDENTIALS_FOR)
                .map(|(resolved, _)| resolved.as_ref().map(|r| r.credential.clone()));
            (fresh, previous)
        };
        if let (Some(credential), _) = remembered() {
            return Ok(credential);
        }
        // One resolution at a time per keychain: concurrent requests (every image of a
        // run is asked at once) wait for the first one's answer instead of each running
        // the credential helper or plugin.
        let _turn = credentials.resolving.lock().await;
        let previous = match remembered() {
            (Some(credential), _) => return Ok(credential),
            (None, previous) => previous,
        };
        let keychain = credentials.keychain.clone();
        let (registry, repository) = (call.registry.to_string(), call.repository.to_string());
        let resolved = tokio::task::spawn_blocking(move || {
            if per_repository {
                keychain.resolve_repository(&registry, &repository)
            } else {
                keychain.resolve(&registry)
            }
        })
        .await
        .map_err(|source| RegistryError::CredentialLookup { source })??;
        let previous_source = previous.and_then(|(r, _)| r.map(|r| r.source));
        if let Some(r) = &resolved
            && previous_source.as_ref() != Some(&r.source)
        {
            tracing::debug!(registry = call.registry, repository = call.repository, source = %r.source, "credentials found");
        }
        let credential = resolved.as_ref().map(|r| r.credential.clone());
        let mut cache = credentials.resolved.lock().expect("credentials poisoned");
        if cache.len() >= MAX_REGISTRIES_REMEMBERED {
            cache.retain(|_, (_, at)| at.elapsed() < CREDENTIALS_FOR);
            if cache.len() >= MAX_REGISTRIES_REMEMBERED {
                cache.clear();
            }
        }
        cache.insert(key, (resolved, Instant::now()));
        Ok(credential)
    }

    /// Who the call's credential is (a hash, never the secret): what its tokens are kept
    /// under, and the client's answers in memory (two keychains that give the same
    /// credential, or none, for a registry share what it was told).
    pub(crate) async fn credential_identity(
        &self,
        call: &Call<'_>,
    ) -> Result<CredentialIdentity, RegistryError> {
        Ok(CredentialIdentity::of(
            self.credential(call).await?.as_ref(),
        ))
    }

    /// Where the credential last used for the call came from, for messages.
    pub(super) fn credential_source(&self, call: &Call<'_>) -> Option<String> {
        let credentials = call.credentials;
        let key = credential_key(call, credentials.keychain.answers_per_repository());
        credentials
            .resolved
            .lock()
            .expect("credentials poisoned")
            .get(&key)
            .and_then(|(resolved, _)| resolved.as_ref().map(|r| r.source.clone()))
    }

    /// React to a 401: remember the host's challenge. Returns true when a retry may now
    /// succeed (there is something new to answer the challenge with).
    pub(super) async fn learn_challenge(
        &self,
        call: &Call<'_>,
        challenge: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let Some(challenge) = challenge else {
            return Ok(false);
        };
        let parsed = parse_challenge(challenge).ok_or_else(|| RegistryError::Malformed {
            registry: call.registry.to_string(),
            request: call.what.clone(),
            reason: format!("cannot parse the WWW-Authenticate challenge {challenge:?}"),
            cause: None,
        })?;
        let previous = self.with_host(call.host, |s| s.auth.replace(parsed.clone()));
        match parsed {
            HostAuth::Basic => {
                let scheme = self
                    .with_host(call.host, |s| s.scheme)
                    .unwrap_or(Scheme::Https);
                let can_answer =
                    matches!(self.credential(call).await?, Some(Credential::Basic { .. }))
                        && may_send_credentials(call.host, scheme);
                // Credentials already sent and refused are wrong; do not loop.
                Ok(can_answer && !matches!(previous, Some(HostAuth::Basic)))
            }
            HostAuth::Bearer { .. } => Ok(true),
            HostAuth::Anonymous => Ok(false),
        }
    }
}

/// What a keychain answer is remembered under: the registry, and the repository too when
/// the keychain answers per repository.
type CredentialKey = (String, Option<String>);

/// A keychain as requests carry it: the keychain, its answers of the last few minutes, and
/// an identity for the answers the client keeps in memory. Every [`crate::Client`] that
/// shares one transport may carry another (see [`crate::Client::with_keychain`]).
pub(crate) struct Credentials {
    keychain: Arc<dyn Keychain>,
    /// Unique per [`Credentials`] in the process: answers in memory are kept under it, so an
    /// answer obtained with one keychain is never served to another.
    id: u64,
    /// Registry (and repository, for a keychain that answers per repository) → the
    /// keychain's answer and when it was given.
    resolved: Mutex<HashMap<CredentialKey, (Option<Resolved>, Instant)>>,
    /// Held while the keychain is asked (see [`Transport::credential`]).
    resolving: tokio::sync::Mutex<()>,
}

impl Credentials {
    pub(crate) fn new(keychain: Arc<dyn Keychain>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            keychain,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            resolved: Mutex::new(HashMap::new()),
            resolving: tokio::sync::Mutex::new(()),
        }
    }

    /// The keychain.
    pub(crate) fn keychain(&self) -> &Arc<dyn Keychain> {
        &self.keychain
    }

    /// This keychain's identity in the client's memory.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("keychain", &self.keychain)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Who a credential is, for keeping tokens apart: a SHA-256 of the credential (or
/// "anonymous"). Never the secret itself; `Debug` shows a short prefix of the hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CredentialIdentity(Option<[u8; 32]>);

impl CredentialIdentity {
    pub(super) fn of(credential: Option<&Credential>) -> Self {
        Self(credential.map(|credential| {
            let mut hash = Sha256::new();
            match credential {
                Credential::Basic { username, password } => {
                    hash.update(b"basic\0");
                    hash.update(username.as_bytes());
                    hash.update(b"\0");
                    hash.update(password.as_bytes());
                }
                Credential::IdentityToken(token) => {
                    hash.update(b"identity-token\0");
                    hash.update(token.as_bytes());
                }
            }
            hash.finalize().into()
        }))
    }
}

impl CredentialIdentity {
    /// The identity as the shared cache keys answers: a SHA-256 of this identity's hash in
    /// hex (so it never equals what tokens are kept under), or `anonymous`.
    pub(super) fn for_sharing(&self) -> String {
        match &self.0 {
            None => "anonymous".to_string(),
            Some(hash) => {
                let mut outer = Sha256::new();
                outer.update(b"tagwarden shared cache identity\0");
                outer.update(hash);
                format!("{:x}", outer.finalize())
            }
        }
    }
}

impl fmt::Debug for CredentialIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("anonymous"),
            Some(hash) => write!(
                f,
                "credential {:02x}{:02x}{:02x}{:02x}",
                hash[0], hash[1], hash[2], hash[3]
            ),
        }
    }
}

fn credential_key(call: &Call<'_>, per_repository: bool) -> CredentialKey {
    (
        call.registry.to_string(),
        per_repository.then(|| call.repository.to_string()),
    )
}

/// Credentials go over TLS, or to loopback; never in clear text across a network.
pub(super) fn may_send_credentials(host: &str, scheme: Scheme) -> bool {
    scheme == Scheme::Https || is_loopback(host)
}

pub(super) fn basic_header(username: &str, password: &str) -> Option<HeaderValue> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

pub(super) fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

pub(super) fn parse_challenge(header_value: &str) -> Option<HostAuth> {
    let challenges = http_auth::parse_challenges(header_value).ok()?;
    // Prefer Bearer (scoped, short-lived) over Basic when a registry offers both.
    let mut basic = false;
    for challenge in challenges {
        if challenge.scheme.eq_ignore_ascii_case("bearer") {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm")?;
            return Some(HostAuth::Bearer {
                realm,
                service: param("service"),
            });
        }
        if challenge.scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    basic.then_some(HostAuth::Basic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        match parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
        ) {
            Some(HostAuth::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(HostAuth::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
    }

    #[test]
    fn credential_identities_tell_credentials_apart_without_showing_them() {
        let basic = |user: &str, password: &str| Credential::Basic {
            username: user.into(),
            password: password.into(),
        };
        let hunter = CredentialIdentity::of(Some(&basic("u", "hunter2")));
        assert_eq!(hunter, CredentialIdentity::of(Some(&basic("u", "hunter2"))));
        assert_ne!(hunter, CredentialIdentity::of(Some(&basic("u", "hunter3"))));
        assert_ne!(hunter, CredentialIdentity::of(Some(&basic("v", "hunter2"))));
        // The separator keeps user and password apart: "u:" + "x" is not "u" + ":x".
        assert_ne!(
            CredentialIdentity::of(Some(&basic("ab", "c"))),
            CredentialIdentity::of(Some(&basic("a", "bc")))
        );
        let token = CredentialIdentity::of(Some(&Credential::IdentityToken("hunter2".into())));
        assert_ne!(hunter, token);
        assert_ne!(hunter, CredentialIdentity::of(None));
        let shown = format!("{hunter:?} {token:?} {:?}", CredentialIdentity::of(None));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.ends_with("anonymous"), "{shown}");
    }

    #[test]
    fn credentials_never_travel_in_clear_text_across_a_network() {
        assert!(may_send_credentials("ghcr.io", Scheme::Https));
        assert!(may_send_credentials("10.0.0.5:5000", Scheme::Https));
        assert!(!may_send_credentials("10.0.0.5:5000", Scheme::Http));
        assert!(!may_send_credentials("registry.local", Scheme::Http));
        assert!(may_send_credentials("127.0.0.1:5000", Scheme::Http));
        assert!(may_send_credentials("localhost:5000", Scheme::Http));
    }
}
