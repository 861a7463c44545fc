//! The webhook as `serve` runs it: bound to its HTTPS address with its certificate loaded
//! first (so that a wrong path or a busy port stops `serve` at start, with the reason), then
//! run until shutdown.
//!
//! ```no_run
//! # async fn demo(webhook: tagwarden_cluster::webhook::Webhook) -> Result<(), Box<dyn std::error::Error>> {
//! use tagwarden_cluster::webhook::HttpsEndpoint;
//!
//! let endpoint = HttpsEndpoint {
//!     listen: "0.0.0.0:8443".parse()?,
//!     cert: "/tls/tls.crt".into(),
//!     key: "/tls/tls.key".into(),
//! };
//! let bound = webhook.bind(&endpoint).await?;
//! tokio::spawn(bound.run(async { /* SIGTERM */ }));
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use super::Webhook;
use super::tls::{CertificateFiles, TlsError, serve_https};

/// Where the webhook listens, and the PEM files of its certificate and key.
#[derive(Debug, Clone)]
pub struct HttpsEndpoint {
    /// The address to listen on (`0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// The certificate chain, PEM, leaf first (cert-manager's `tls.crt`).
    pub cert: PathBuf,
    /// Its private key, PEM (`tls.key`).
    pub key: PathBuf,
}

/// Why the webhook cannot start. The message says the cause itself (and it is not a
/// `source` too): an error chain printed in full says it once.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The address could not be bound.
    #[error("the webhook cannot listen on {listen}: {reason}")]
    Listen {
        /// The address.
        listen: SocketAddr,
        /// Why.
        reason: std::io::Error,
    },
    /// The certificate files cannot be used.
    #[error("the webhook's TLS certificate: {0}")]
    Tls(TlsError),
}

impl From<TlsError> for WebhookError {
    fn from(error: TlsError) -> Self {
        WebhookError::Tls(error)
    }
}

/// A webhook bound to its address, certificate loaded: [`BoundWebhook::run`] serves it.
pub struct BoundWebhook {
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
}

impl Webhook {
    /// Binds `endpoint.listen` and loads the certificate files (re-read when they change).
    pub async fn bind(&self, endpoint: &HttpsEndpoint) -> Result<BoundWebhook, WebhookError> {
        let tls = CertificateFiles::load(&endpoint.cert, &endpoint.key)?.server_config()?;
        let listener =
            TcpListener::bind(endpoint.listen)
                .await
                .map_err(|reason| WebhookError::Listen {
                    listen: endpoint.listen,
                    reason,
                })?;
        Ok(BoundWebhook {
            listener,
            tls,
            router: self.router(),
        })
    }
}

impl BoundWebhook {
    /// The address it is bound to (the port, when `listen` asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `/mutate` (and `/validate`) over HTTPS until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        serve_https(self.listener, self.tls, self.router, shutdown).await
    }
}
