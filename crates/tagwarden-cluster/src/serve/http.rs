//! The endpoints every replica serves: `/healthz` (the process is alive), `/readyz` (the
//! watchers have their first lists and the first inventory went to the monitor) and
//! `/metrics` (the Prometheus text format 0.0.4 that `Metrics::encode` writes, labelled as
//! such: labelled OpenMetrics, a real Prometheus refuses it for want of `# EOF`). The
//! admission webhook will join them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// What the endpoints read.
#[derive(Clone)]
pub(crate) struct Endpoints {
    /// True once the caches are synced.
    pub ready: Arc<AtomicBool>,
    /// Renders the metrics.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
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

async fn metrics(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::monitor::Metrics::CONTENT_TYPE)],
        (endpoints.metrics)(),
    )
}

/// Binds `listen`; an address in use is said with the address.
pub(crate) async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))
}
