//! The outermost layer of every kube client a [`crate::Cluster`] builds: what kube-rs's own
//! stack does not do the way tagwarden needs.
//!
//! - **Credentials** that are not in the kubeconfig: the bearer token of an exec plugin or
//!   a token file ([`crate::credentials`]), one source per cluster, so that every client of
//!   a command shares one plugin run;
//! - **`--request-timeout`**: each request (but a watch, which is meant to stay open) must
//!   have its answer within it;
//! - **`--debug`**: one line per request, as for registry requests: method, URL (the
//!   server's without credentials), status and duration. Never a header, so never a token.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use kube::client::Body;
use tower::{BoxError, Layer, Service};

use crate::credentials::TokenSource;

/// What the layer adds; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub(crate) struct Edge {
    /// Where the bearer token comes from, when not from the kubeconfig itself.
    pub tokens: Option<TokenSource>,
    /// The longest a request may wait for its answer (`None`: no limit).
    pub timeout: Option<Duration>,
    /// The server's URL without credentials, for the log lines.
    pub server: String,
}

/// A request that had no answer within `--request-timeout`.
#[derive(Debug, thiserror::Error)]
#[error("no answer within the request timeout of {}", crate::connection::duration_text(*.0))]
pub struct TimedOut(pub Duration);

/// The [`Edge`] around kube's own stack.
pub(crate) struct EdgeService<S> {
    inner: Arc<Mutex<S>>,
    edge: Edge,
}

impl<S> Layer<S> for Edge {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            inner: Arc::new(Mutex::new(inner)),
            edge: self.clone(),
        }
    }
}

/// True for `?watch=true` (or `1`): a watch stays open, no timeout applies.
fn is_watch(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1"))
    })
}

impl<S, B> Service<Request<Body>> for EdgeService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the inner service's, asked when the request is sent.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let edge = self.edge.clone();
        Box::pin(async move {
            let mut request = request;
            let method = request.method().clone();
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let watch = is_watch(request.uri().query());
            if let Some(tokens) = &edge.tokens {
                let header = tokens.header().await.map_err(BoxError::from)?;
                request.headers_mut().insert(AUTHORIZATION, header);
            }
            let started = Instant::now();
            let answer = send(inner, request);
            let result = match edge.timeout {
                Some(limit) if !watch => tokio::time::timeout(limit, answer)
                    .await
                    .unwrap_or_else(|_| Err(Box::new(TimedOut(limit)) as BoxError)),
                _ => answer.await,
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(response) => tracing::debug!(
                    "Kubernetes API {method} {}{target} -> {} in {elapsed_ms} ms",
                    edge.server,
                    response.status().as_u16()
                ),
                Err(error) => tracing::debug!(
                    "Kubernetes API {method} {}{target} failed after {elapsed_ms} ms: {error}",
                    edge.server
                ),
            }
            result
        })
    }
}

/// The inner service's answer: ready, then called, under one lock (never held across an
/// await).
async fn send<S, B>(inner: Arc<Mutex<S>>, request: Request<Body>) -> Result<Response<B>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    let mut request = Some(request);
    let future = std::future::poll_fn(|cx| {
        let mut service = inner.lock().unwrap_or_else(|e| e.into_inner());
        match service.poll_ready(cx) {
            Poll::Ready(Ok(())) => match request.take() {
                Some(request) => Poll::Ready(Ok(service.call(request))),
                None => Poll::Pending,
            },
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await?;
    future.await.map_err(Into::into)
}
