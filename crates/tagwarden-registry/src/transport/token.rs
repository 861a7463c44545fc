//! Bearer tokens: the Docker Hub flow.
//!
//! A host that challenged with `Bearer realm=…,service=…` gets a token from the realm for a
//! set of scopes (`repository:NAME:pull`). One token request carries the call's scope and
//! every repository the caller announced with [`Transport::announce`] that has no live
//! token yet (at most [`MAX_SCOPES_PER_TOKEN`]), so a burst of checks costs one token
//! request per host, not one per repository (except with a keychain that answers per
//! repository, such as a credential-provider plugin: each repository's token is then asked
//! with its own credential, alone). Tokens are cached per scope and credential
//! (a hash of it, see `CredentialIdentity`: two credentials never share a token, one
//! credential reuses its own, whichever keychain gave it) until shortly before they expire (registries must honour them for 60 s when they do not say).
//!
//! The token request carries credentials only over HTTPS, or over plain HTTP to the
//! registry's own loopback host. An identity token (OAuth2 refresh token) is exchanged with
//! a `POST` (`grant_type=refresh_token`); a user and password go as Basic on a `GET`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header;
use serde::Deserialize;
use url::Url;

use super::challenge::{HostAuth, basic_header, may_send_credentials};
use super::errors::{describe_transport_error, error_message};
use super::exchange::{BodyError, Scheme, attempt_timeout, classify, read_limited};
use super::{
    Call, Cause, HostHandles, HostState, Transport, attempts, strip_port, unreachable_host,
};
use crate::credentials::Credential;
use crate::error::RegistryError;
use crate::observe::{ErrorClass, Operation, RequestEvent, RequestOutcome};

/// Most scopes on one token request; keeps the URL short.
pub(super) const MAX_SCOPES_PER_TOKEN: usize = 40;

/// A token and when to stop using it.
#[derive(Clone)]
pub(super) struct CachedToken {
    pub(super) token: String,
    pub(super) expires: Instant,
}

/// The scope that lets a token pull from `repository`.
pub(super) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The token realm of a Bearer host, parsed once per token request.
struct Realm {
    url: Url,
    /// `host[:port]`, for messages and the realm's own HTTP client.
    authority: String,
    /// True when the realm lives on the registry's own host (ports aside).
    same_host: bool,
}

impl Transport {
    /// Make sure a Bearer host has a live token for the call's scope, fetching one (for
    /// every announced scope without a token) under the host's gate.
    pub(super) async fn ensure_token(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
    ) -> Result<(), RegistryError> {
        let scope = pull_scope(call.repository);
        let (realm, service) = match self.with_host(call.host, |s| s.auth.clone()) {
            Some(HostAuth::Bearer { realm, service }) => (realm, service),
            _ => return Ok(()),
        };
        // Tokens are kept per credential: two keychains never share one, and one
        // credential reuses its own.
        let identity = self.credential_identity(call).await?;
        let has_token = |s: &HostState| {
            s.tokens
                .get(&(scope.clone(), identity))
                .is_some_and(|t| t.expires > Instant::now())
        };
        if self.with_host(call.host, |s| has_token(s)) {
            return Ok(());
        }
        let _gate = handles.gate.lock().await;
        if self.with_host(call.host, |s| has_token(s)) {
            return Ok(());
        }
        // A keychain that answers per repository may give other repositories other
        // credentials: their scopes do not ride along on this one's token request.
        let ride_along = if call.credentials.keychain().answers_per_repository() {
            0
        } else {
            MAX_SCOPES_PER_TOKEN - 1
        };
        // The repositories this keychain announced ride along (another keychain's may
        // need other credentials).
        let keychain = call.credentials.id();
        let scopes: Vec<String> = self.with_host(call.host, |s| {
            let now = Instant::now();
            let mut scopes = vec![scope.clone()];
            scopes.extend(
                s.announced
                    .iter()
                    .filter(|(announcer, _)| *announcer == keychain)
                    .map(|(_, repo)| pull_scope(repo))
                    .filter(|sc| {
                        *sc != scope
                            && s.tokens
                                .get(&(sc.clone(), identity))
                                .is_none_or(|t| t.expires <= now)
                    })
                    .take(ride_along),
            );
            scopes
        });
        let token = self
            .fetch_token(call, &realm, service.as_deref(), &scopes)
            .await?;
        self.with_host(call.host, |s| {
            // Expired tokens go, and announced repositories ride along once: both sets
            // stay bounded in a long-running process.
            let now = Instant::now();
            s.tokens.retain(|_, t| t.expires > now);
            s.announced.retain(|(announcer, repo)| {
                *announcer != keychain || !scopes.iter().any(|sc| *sc == pull_scope(repo))
            });
            for sc in scopes {
                s.tokens.insert((sc, identity), token.clone());
            }
        });
        Ok(())
    }

    /// Ask the realm for a token covering `scopes`.
    async fn fetch_token(
        &self,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<CachedToken, RegistryError> {
        let what = if scopes.len() == 1 {
            format!("a token for {}", scopes[0])
        } else {
            format!("a token for {} repositories", scopes.len())
        };
        let malformed = |reason: String| RegistryError::Malformed {
            registry: call.registry.to_string(),
            request: what.clone(),
            reason,
            cause: None,
        };
        let realm = parse_realm(realm, call.host).map_err(|e| RegistryError::Malformed {
            registry: call.registry.to_string(),
            request: what.clone(),
            reason: format!("token realm {realm:?}: {e}"),
            cause: Some(e.into()),
        })?;
        // Credentials go to the realm only over HTTPS, or over plain HTTP to the
        // registry's own host (a loopback registry with its token server beside it).
        let credential = self.credential(call).await?.filter(|_| {
            realm.url.scheme() == "https"
                || (realm.same_host && may_send_credentials(call.host, Scheme::Http))
        });
        if credential.is_none() && !realm.same_host && realm.url.scheme() != "https" {
            tracing::debug!(realm = %realm.authority, "token realm is plain HTTP on another host: asking anonymously");
        }
        let handles = self.handles(&realm.authority)?;
        let request = token_request(&handles, &realm, credential.as_ref(), service, scopes);
        let (status, body) = self
            .send_token_request(call, &what, &realm, request)
            .await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Denied {
                registry: call.registry.to_string(),
                request: format!("{what} (token server {})", realm.authority),
                status: status.as_u16(),
                message: error_message(&body),
                credentials: credential.as_ref().and(self.credential_source(call)),
            });
        }
        if !status.is_success() {
            return Err(malformed(format!(
                "the token server {} answered HTTP {}",
                realm.authority,
                status.as_u16()
            )));
        }
        parse_token_answer(&body).map_err(malformed)
    }

    /// Send a token request, retrying connection failures and 5xx like any other request.
    /// A realm that cannot be reached is marked down like a registry host.
    async fn send_token_request(
        &self,
        call: &Call<'_>,
        what: &str,
        realm: &Realm,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Bytes), RegistryError> {
        if let Some(reason) = self.down_reason(&realm.authority) {
            return Err(unreachable_host(call, &realm.authority, reason));
        }
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let budget_left = self
                .options
                .max_retry_time
                .saturating_sub(started.elapsed());
            let sent_at = Instant::now();
            let sent = request
                .try_clone()
                .expect("token request bodies are strings")
                .timeout(attempt_timeout(self.options.request_timeout, budget_left))
                .send()
                .await;
            let (failure, class, outcome, cause) = match sent {
                Ok(r) if !r.status().is_server_error() => {
                    let status = r.status();
                    let read = read_limited(r).await;
                    match read {
                        Ok(body) => {
                            let outcome = RequestOutcome::Status(status.as_u16());
                            self.observe_token(call, realm, outcome, sent_at, attempt);
                            return Ok((status, body));
                        }
                        Err(BodyError::TooLarge) => {
                            let outcome = RequestOutcome::Error(ErrorClass::TooLarge);
                            self.observe_token(call, realm, outcome, sent_at, attempt);
                            return Err(RegistryError::Malformed {
                                registry: call.registry.to_string(),
                                request: what.to_string(),
                                reason: "the token answer is too large".into(),
                                cause: None,
                            });
                        }
                        Err(BodyError::Read(e)) => transport_failure(e),
                    }
                }
                Ok(r) => (
                    format!("HTTP {}", r.status().as_u16()),
                    None,
                    RequestOutcome::Status(r.status().as_u16()),
                    None,
                ),
                Err(e) => transport_failure(e),
            };
            self.observe_token(call, realm, outcome, sent_at, attempt);
            if self.give_up(attempt, started, None) {
                let reason = format!("{failure} (after {})", attempts(attempt));
                if class.is_some_and(ErrorClass::is_host_level) {
                    self.mark_down(&realm.authority, &reason, &cause);
                }
                return Err(RegistryError::Unreachable {
                    registry: call.registry.to_string(),
                    request: format!("{what} from {}", realm.authority),
                    reason,
                    cause,
                });
            }
            tokio::time::sleep(super::retry::backoff(attempt)).await;
        }
    }

    /// One event per token request.
    fn observe_token(
        &self,
        call: &Call<'_>,
        realm: &Realm,
        outcome: RequestOutcome,
        sent_at: Instant,
        attempt: u32,
    ) {
        let event = RequestEvent {
            registry: call.registry.to_string(),
            host: realm.authority.clone(),
            operation: Operation::Token,
            outcome,
            duration: sent_at.elapsed(),
            attempt,
            rate_limit: None,
            retry_after: None,
        };
        let mut url = realm.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        let _ = url.set_password(None);
        let _ = url.set_username("");
        self.emit("token", url.as_str(), &event);
    }
}

/// Parse a realm URL and say whether it lives on the registry host `host`.
fn parse_realm(realm: &str, host: &str) -> Result<Realm, url::ParseError> {
    let url = Url::parse(realm)?;
    let realm_host = url.host_str().unwrap_or_default().to_string();
    let authority = match url.port() {
        Some(port) => format!("{realm_host}:{port}"),
        None => realm_host,
    };
    let same_host = strip_port(&authority).eq_ignore_ascii_case(strip_port(host));
    Ok(Realm {
        url,
        authority,
        same_host,
    })
}

/// The token request: a refresh-token `POST`, or a `GET` with Basic credentials or none.
fn token_request(
    handles: &HostHandles,
    realm: &Realm,
    credential: Option<&Credential>,
    service: Option<&str>,
    scopes: &[String],
) -> reqwest::RequestBuilder {
    match credential {
        Some(Credential::IdentityToken(refresh_token)) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", refresh_token)
                .append_pair("client_id", "tagwarden");
            for scope in scopes {
                form.append_pair("scope", scope);
            }
            if let Some(service) = service {
                form.append_pair("service", service);
            }
            handles
                .http
                .post(realm.url.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        }
        other => {
            let mut url = realm.url.clone();
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                for scope in scopes {
                    query.append_pair("scope", scope);
                }
            }
            let mut request = handles.http.get(url);
            if let Some(Credential::Basic { username, password }) = other
                && let Some(value) = basic_header(username, password)
            {
                request = request.header(header::AUTHORIZATION, value);
            }
            request
        }
    }
}

/// The token from a token server's JSON answer, cached until shortly before it expires.
fn parse_token_answer(body: &[u8]) -> Result<CachedToken, String> {
    #[derive(Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let parsed: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| format!("the token answer is not valid JSON: {e}"))?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token answer has no token".to_string())?;
    // Registries must honour tokens for at least 60 s when they do not say.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(1));
    let margin = Duration::from_secs(5).min(lifetime / 2);
    Ok(CachedToken {
        token,
        expires: Instant::now() + lifetime - margin,
    })
}

/// A token request that failed on the wire: its reason, class, outcome and the error.
fn transport_failure(error: reqwest::Error) -> (String, Option<ErrorClass>, RequestOutcome, Cause) {
    let class = classify(&error);
    (
        describe_transport_error(&error),
        Some(class),
        RequestOutcome::Error(class),
        Some(std::sync::Arc::new(error)),
    )
}
