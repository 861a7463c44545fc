//! One exchange: choose the scheme for a host, send one request, read the whole answer.
//!
//! HTTPS first. Plain HTTP only for loopback hosts (asked in plain HTTP first, since a
//! developer's registry usually is) and `--insecure-registry` hosts, and only when HTTPS
//! cannot connect at all: a certificate problem is reported, never papered over with plain
//! HTTP. The scheme that worked is remembered per host. Bodies are read whole, up to
//! [`MAX_BODY`], and an answer shorter than its `Content-Length` is a transient failure.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};

use super::errors::describe_transport_error;
use super::{Call, Cause, HostHandles, Transport, is_loopback};
use crate::error::RegistryError;
use crate::observe::ErrorClass;

/// How a host is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Https,
    Http,
}

/// The outcome of one exchange, before the retry loop judges it.
pub(super) enum Exchange {
    /// The registry answered.
    Answer(Answer),
    /// No usable answer.
    Failed(Failure),
}

/// An answer with its body read.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// Whether the request carried credentials.
    pub(super) authenticated: bool,
}

/// Why an exchange got no usable answer.
pub(super) struct Failure {
    /// For messages: `timed out: operation timed out`.
    pub(super) reason: String,
    pub(super) class: ErrorClass,
    /// The transport error, when there was one.
    pub(super) cause: Cause,
}

impl Failure {
    fn new(class: ErrorClass, reason: String) -> Self {
        Self {
            reason,
            class,
            cause: None,
        }
    }

    fn caused_by(mut self, error: reqwest::Error) -> Self {
        self.cause = Some(Arc::new(error));
        self
    }
}

/// What one request costs at most: the request timeout, cut to what is left of the retry
/// budget (never below one second, so a tiny budget still gets one real attempt).
pub(super) fn attempt_timeout(request_timeout: Duration, budget_left: Duration) -> Duration {
    request_timeout.min(budget_left.max(Duration::from_secs(1)))
}

impl Transport {
    /// One HTTP exchange, choosing the scheme for the host, reading the whole body, within
    /// `timeout`.
    pub(super) async fn send_once(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
        timeout: Duration,
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
            match self
                .send_with_scheme(call, handles, scheme, known.is_none(), timeout)
                .await?
            {
                SchemeOutcome::Done(exchange) => {
                    if known.is_none() {
                        self.with_host(host, |s| s.scheme = Some(scheme));
                    }
                    return Ok(exchange);
                }
                SchemeOutcome::SpeaksOnlyTls => {
                    tracing::debug!(host, "plain HTTP refused, the registry speaks TLS");
                }
                SchemeOutcome::Failed {
                    failure: f,
                    try_next,
                } => {
                    failure = Some(f);
                    if !try_next {
                        break;
                    }
                }
            }
        }
        Ok(Exchange::Failed(failure.unwrap_or_else(|| {
            Failure::new(
                ErrorClass::Connect,
                "no scheme could be used for this host".into(),
            )
        })))
    }

    /// One request with one scheme.
    async fn send_with_scheme(
        &self,
        call: &Call<'_>,
        handles: &HostHandles,
        scheme: Scheme,
        probing: bool,
        timeout: Duration,
    ) -> Result<SchemeOutcome, RegistryError> {
        let host = call.host;
        let url = format!("{}://{}{}", scheme.as_str(), host, call.path);
        let mut request = handles
            .http
            .request(call.method.clone(), &url)
            .timeout(timeout);
        if let Some(accept) = call.accept {
            request = request.header(header::ACCEPT, accept);
        }
        let authorization = self.authorization(call, scheme).await?;
        let authenticated = authorization.is_some();
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Ok(send_failed(error, &url, host, scheme)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let expected_len = response.content_length();
        // Go answers plain HTTP on a TLS port with a bare HTTP/1.0 400 (its body, which
        // names the problem, is not there for HEAD).
        let http10 = response.version() == reqwest::Version::HTTP_10;
        let body = read_limited(response).await;
        if scheme == Scheme::Http
            && status == StatusCode::BAD_REQUEST
            && probing
            && (http10 || matches!(&body, Ok(b) if speaks_only_tls(b)))
        {
            return Ok(SchemeOutcome::SpeaksOnlyTls);
        }
        let exchange = match body {
            Ok(body)
                if call.method != Method::HEAD
                    && expected_len.is_some_and(|len| len != body.len() as u64) =>
            {
                Exchange::Failed(Failure::new(
                    ErrorClass::Interrupted,
                    format!(
                        "the answer was cut short ({} of {} bytes)",
                        body.len(),
                        expected_len.unwrap_or_default()
                    ),
                ))
            }
            Ok(body) => Exchange::Answer(Answer {
                status,
                headers,
                body,
                authenticated,
            }),
            Err(BodyError::TooLarge) => Exchange::Failed(Failure::new(
                ErrorClass::TooLarge,
                format!("the answer is larger than {MAX_BODY} bytes"),
            )),
            Err(BodyError::Read(e)) => Exchange::Failed(
                Failure::new(
                    classify(&e),
                    format!(
                        "reading the answer failed: {}",
                        describe_transport_error(&e)
                    ),
                )
                .caused_by(e),
            ),
        };
        Ok(SchemeOutcome::Done(exchange))
    }
}

/// A request that got no answer: what failed, and whether the next scheme may be tried.
/// Plain HTTP is tried only when HTTPS could not connect at all; a certificate the host
/// does present but is not trusted is reported, with where to trust its CA.
fn send_failed(error: reqwest::Error, url: &str, host: &str, scheme: Scheme) -> SchemeOutcome {
    let reason = describe_transport_error(&error);
    tracing::debug!(%url, error = %reason, "request failed");
    let certificate_problem = reason.contains("certificate");
    let try_next = error.is_connect() && scheme == Scheme::Https && !certificate_problem;
    let failure = if certificate_problem {
        Failure::new(
            ErrorClass::Tls,
            format!(
                "TLS: {reason}; trust its CA with --ca-file or /etc/docker/certs.d/{host}/ca.crt"
            ),
        )
    } else {
        Failure::new(classify(&error), reason)
    };
    SchemeOutcome::Failed {
        failure: failure.caused_by(error),
        try_next,
    }
}

/// What one scheme gave.
enum SchemeOutcome {
    /// An exchange to report (an answer, or a failure after the connection was made).
    Done(Exchange),
    /// Plain HTTP reached a TLS-only server: try HTTPS.
    SpeaksOnlyTls,
    /// No connection; `try_next` when the next scheme may still work.
    Failed { failure: Failure, try_next: bool },
}

impl Scheme {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// The class of a transport error: timeout, connection, or anything else on the wire.
pub(super) fn classify(error: &reqwest::Error) -> ErrorClass {
    if error.is_timeout() {
        ErrorClass::Timeout
    } else if error.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Interrupted
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
