//! The endpoints every replica serves: `/healthz` (the process is alive), `/readyz` (the
//! watchers have their first lists and the first inventory went to the monitor) and
//! `/metrics` (OpenMetrics or the text format: the one registry of the monitor's and the
//! webhook's metrics). The admission webhook has its own HTTPS port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};

use crate::monitor::Metrics;
use axum::response::IntoResponse;
use axum::routing::get;

/// The two exposition formats Prometheus reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exposition {
    /// OpenMetrics text (ends with `# EOF`), what Prometheus asks for first.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everything else (`promtool`, `curl`).
    Text,
}

/// What the endpoints read.
#[derive(Clone)]
pub(crate) struct Endpoints {
    /// True once the caches are synced.
    pub ready: Arc<AtomicBool>,
    /// Renders the metrics in a format.
    pub metrics: Arc<dyn Fn(Exposition) -> String + Send + Sync>,
}

/// The router of the endpoints.
pub(crate) fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(endpoints)
}

async fn readyz(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    if endpoints.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "caches are not synced yet\n",
        )
    }
}

/// `/metrics` in the format the scraper accepts: OpenMetrics when its `Accept` names it
/// (Prometheus does), else the classic text format.
async fn metrics(State(endpoints): State<Endpoints>, headers: HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (format, content_type) = if openmetrics {
        (Exposition::OpenMetrics, Metrics::OPENMETRICS_CONTENT_TYPE)
    } else {
        (Exposition::Text, Metrics::CONTENT_TYPE)
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        (endpoints.metrics)(format),
    )
}

/// Binds `listen`; an address in use is said with the address.
pub(crate) async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))
}
