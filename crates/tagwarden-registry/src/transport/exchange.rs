//! One exchange: choose the scheme for a host, send one request, read the whole answer.
//!
//! HTTPS first. Plain HTTP only for loopback hosts (asked in plain HTTP first, since a
//! developer's registry usually is) and `--insecure-registry` hosts, and only when HTTPS
//! cannot connect at all: a certificate problem is reported, never papered over with plain
//! HTTP. The scheme that worked is remembered per host. Bodies are read whole, up to
//! [`MAX_BODY`], and an answer shorter than its `Content-Length` is a transient failure.

use bytes::Bytes;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};

use super::errors::describe_transport_error;
use super::{Call, HostHandles, Transport, is_loopback};
use crate::error::RegistryError;

/// How a host is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Https,
    Http,
}

/// The outcome of one exchange, before the retry loop judges it.
pub(super) enum Exchange {
    /// The registry answered; the flag says whether the request carried credentials.
    Answer(StatusCode, HeaderMap, Bytes, bool),
    /// A transient failure: worth another attempt.
    Failed(String),
    /// A failure another attempt cannot fix.
    Fatal(String),
}

impl Transport {
    /// One HTTP exchange, choosing the scheme for the host, reading the whole body.
    pub(super) async fn send_once(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
    ) -> Result<Exchange, RegistryError> {
        let host = call.host;
        let known = self.with_host(host, |s| s.scheme);
        let schemes: &[Scheme] = match known {
            Some(Scheme::Https) => &[Scheme::Https],
            Some(Scheme::Http) => &[Scheme::Http],
            // Loopback registries are plain HTTP far more often than not (a developer's
            // registry, kind, a port-forward); ask in plain HTTP first, and move to HTTPS
            // when the server says it only speaks TLS.
            None if is_loopback(host) => &[Scheme::Http, Scheme::Https],
            None if self.plain_http_allowed(host) => &[Scheme::Https, Scheme::Http],
            None => &[Scheme::Https],
        };
        let mut failure = None;
        for &scheme in schemes {
            let url = format!(
                "{}://{}{}",
                if scheme == Scheme::Https {
                    "https"
                } else {
                    "http"
                },
                host,
                call.path
            );
            let mut request = handles.http.request(call.method.clone(), &url);
            if let Some(accept) = call.accept {
                request = request.header(header::ACCEPT, accept);
            }
            let authorization = self.authorization(call, scheme)?;
            let authenticated = authorization.is_some();
            if let Some(authorization) = authorization {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let expected_len = response.content_length();
                    // Go answers plain HTTP on a TLS port with a bare HTTP/1.0 400 (its
                    // body, which names the problem, is not there for HEAD).
                    let http10 = response.version() == reqwest::Version::HTTP_10;
                    let body = read_limited(response).await;
                    if scheme == Scheme::Http
                        && status == StatusCode::BAD_REQUEST
                        && known.is_none()
                        && (http10 || matches!(&body, Ok(b) if speaks_only_tls(b)))
                    {
                        tracing::debug!(host, "plain HTTP refused, the registry speaks TLS");
                        continue;
                    }
                    if known.is_none() {
                        self.with_host(host, |s| s.scheme = Some(scheme));
                    }
                    return Ok(match body {
                        Ok(body) => {
                            if call.method != Method::HEAD
                                && expected_len.is_some_and(|len| len != body.len() as u64)
                            {
                                Exchange::Failed(format!(
                                    "the answer was cut short ({} of {} bytes)",
                                    body.len(),
                                    expected_len.unwrap_or_default()
                                ))
                            } else {
                                Exchange::Answer(status, headers, body, authenticated)
                            }
                        }
                        Err(BodyError::TooLarge) => {
                            Exchange::Fatal(format!("the answer is larger than {} bytes", MAX_BODY))
                        }
                        Err(BodyError::Read(e)) => Exchange::Failed(format!(
                            "reading the answer failed: {}",
                            describe_transport_error(&e)
                        )),
                    });
                }
                Err(error) => {
                    let reason = describe_transport_error(&error);
                    tracing::debug!(%url, error = %reason, "request failed");
                    // Fall back to plain HTTP only when HTTPS could not connect at all;
                    // a certificate the host does present but we do not trust is reported.
                    let certificate_problem = reason.contains("certificate");
                    let can_fall_back =
                        error.is_connect() && scheme == Scheme::Https && !certificate_problem;
                    failure = Some(if certificate_problem {
                        Exchange::Fatal(format!(
                            "{reason}; trust its CA with --ca-file or /etc/docker/certs.d/{host}/ca.crt"
                        ))
                    } else {
                        Exchange::Failed(reason)
                    });
                    if !can_fall_back {
                        break;
                    }
                }
            }
        }
        Ok(failure.expect("at least one scheme was tried"))
    }
}

/// What Go's TLS server (and so the distribution registry) answers to plain HTTP.
fn speaks_only_tls(body: &[u8]) -> bool {
    body.windows(31)
        .any(|w| w.eq_ignore_ascii_case(b"HTTP request to an HTTPS server"))
}

/// The most tagwarden reads of one answer (manifests and tag lists are far smaller).
pub(super) const MAX_BODY: usize = 16 * 1024 * 1024;

pub(super) enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

pub(super) async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}
