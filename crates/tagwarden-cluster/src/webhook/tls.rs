//! HTTPS for the webhook: the API server only calls webhooks over TLS, with the CA of the
//! webhook configuration's `caBundle`.
//!
//! - [`CertificateFiles`]: the certificate chain and key from PEM files (cert-manager's
//!   `tls.crt` and `tls.key` in a Secret volume). It is a rustls certificate resolver that
//!   looks at the files again at most once a second (size, modification time, inode: a
//!   Secret volume swaps a symlink, so a rotated file is a new inode) and re-reads them when
//!   they changed. A new TLS connection then gets the new certificate; no restart. A
//!   half-written pair (a new certificate with the old key) is refused and the current one
//!   kept until the files agree.
//! - [`serve_https`]: serves an axum `Router` over HTTPS on a `TcpListener`, HTTP/1.1 and
//!   HTTP/2 (ALPN), with `TCP_NODELAY` (Nagle's algorithm would hold answers back for the
//!   client's delayed ACK), until a shutdown future completes.
//!
//! The crypto provider is aws-lc-rs, like everything else in tagwarden (with ring in the
//! build too, rustls cannot pick a default and panics at start).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How often the files are looked at, at most.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate files cannot be used: which file (or pair), what was being done,
/// and the PEM reader's or rustls' error as the [`source`](std::error::Error::source) (its
/// text is in the message too, which stays one line).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, or holds no usable PEM.
    #[error("{}: cannot read the {what}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// `certificates` or `private key`.
        what: &'static str,
        /// The PEM reader's error (an unreadable file is its `Io`).
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file without a certificate.
    #[error("{}: no CERTIFICATE in the file", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key does not belong to the certificate, or rustls refused them.
    #[error("{} and {}: {what}: {source}", cert.display(), key.display())]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What failed (`the key does not belong to the certificate`).
        what: &'static str,
        /// rustls' error, a [`rustls::Error`] (boxed: it is large).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A certificate and key read from PEM files, re-read when the files change. Use
/// [`CertificateFiles::server_config`] for a rustls server that always presents the
/// current pair.
pub struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    check_interval: Duration,
    state: Mutex<Loaded>,
}

struct Loaded {
    certified: Arc<CertifiedKey>,
    /// What the files looked like when `certified` was read (or last failed to be).
    seen: Option<Fingerprint>,
    checked: Instant,
}

/// Enough of a file's metadata to notice that it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(u64, Option<SystemTime>, u64)>);

impl CertificateFiles {
    /// Reads `cert` (a PEM chain, leaf first) and `key` (a PEM private key: PKCS#8, PKCS#1
    /// or SEC1); they must belong together.
    pub fn load(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<Arc<CertificateFiles>, TlsError> {
        let (cert, key) = (cert.into(), key.into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let seen = fingerprint(&[&cert, &key]);
        let certified = read_pair(&cert, &key, &provider)?;
        Ok(Arc::new(CertificateFiles {
            cert,
            key,
            provider,
            check_interval: CHECK_INTERVAL,
            state: Mutex::new(Loaded {
                certified,
                seen,
                checked: Instant::now(),
            }),
        }))
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) whose
    /// certificate is always the current one of these files.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| self.pair_error("no TLS version to offer", e))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The pair to present now: the files are looked at when the last look is older than
    /// the check interval, and re-read when they changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= self.check_interval {
            state.checked = Instant::now();
            let now = fingerprint(&[&self.cert, &self.key]);
            if now.is_some() && now != state.seen {
                match read_pair(&self.cert, &self.key, &self.provider) {
                    Ok(certified) => {
                        tracing::info!(cert = %self.cert.display(), "the webhook's TLS certificate changed: serving the new one");
                        state.certified = certified;
                        state.seen = now;
                    }
                    // Mid-rotation (a new certificate, the old key): keep serving the
                    // current pair and look again at the next check.
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot load the new TLS certificate yet; keeping the current one")
                    }
                }
            }
        }
        state.certified.clone()
    }

    fn pair_error(&self, what: &'static str, source: rustls::Error) -> TlsError {
        TlsError::Pair {
            cert: self.cert.clone(),
            key: self.key.clone(),
            what,
            source: Box::new(source),
        }
    }
}

impl fmt::Debug for CertificateFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateFiles")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertificateFiles {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The files' metadata, or `None` when one cannot be read (mid-rotation).
fn fingerprint(paths: &[&Path]) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt as _;
    paths
        .iter()
        .map(|path| {
            let m = std::fs::metadata(path).ok()?;
            Some((m.len(), m.modified().ok(), m.ino()))
        })
        .collect::<Option<Vec<_>>>()
        .map(Fingerprint)
}

/// Reads and checks one certificate chain and its key.
fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let file_error = |path: &Path, what: &'static str| {
        let path = path.to_path_buf();
        move |source| TlsError::File { path, what, source }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(file_error(cert, "certificates"))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(file_error(key, "private key"))?;
    let pair_error = |what: &'static str| {
        move |source: rustls::Error| TlsError::Pair {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            what,
            source: Box::new(source),
        }
    };
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(pair_error("unusable private key"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(pair_error("the key does not belong to the certificate"))?;
    Ok(Arc::new(certified))
}

/// Serves `router` over HTTPS on `listener` with `tls` (see
/// [`CertificateFiles::server_config`]) until `shutdown` completes; then it stops accepting
/// (connections already open finish on their own tasks). Each connection is handled on its
/// own task; a failed handshake or a broken connection only ends that connection.
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "webhook: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Without it, a response written in two segments waits for the client's delayed
        // ACK: 40 ms on Linux, on about one answer in five.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "webhook: cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "webhook: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "webhook: TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "webhook: connection ended with an error");
            }
        });
    }
}
