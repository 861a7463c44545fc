//! TLS and `certs.d`: which certificates a host's connection trusts.
//!
//! - The system roots, plus every `--ca-file` ([`ClientOptions::ca_files`]), read once.
//! - Docker's per-registry folders: `/etc/docker/certs.d/HOST[:PORT]/*.crt` are trusted
//!   for that host only ([`ClientOptions::certs_dir`]).
//! - `--insecure-registry` hosts and the config file's `insecure_skip_verify` hosts are not
//!   verified at all; the latter warn once per run.
//!
//! Each host gets the HTTP client built for its trust (see [`Transport::http_for_host`]);
//! hosts without special trust share one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ClientOptions, Transport, host_listed, is_loopback};
use crate::error::RegistryError;

/// A CA file that cannot be used, or an HTTPS client that cannot be built, with the
/// underlying error as its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The HTTP client cannot be built (its TLS setup failed).
    #[error("cannot set up HTTPS: {}", innermost(.0))]
    Setup(#[source] reqwest::Error),
    /// A CA file (`--ca-file`, a `certs.d` `*.crt`) cannot be read.
    #[error("cannot read CA file {}: {source}", .path.display())]
    UnreadableCaFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A CA file that is not a PEM bundle.
    #[error("CA file {} is not PEM: {}", .path.display(), innermost(.source))]
    NotPem {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: reqwest::Error,
    },
    /// A PEM file without a certificate in it.
    #[error("CA file {} holds no certificate", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
}

/// The text of the innermost cause of `error`, which says the most (reqwest's own text
/// is "builder error").
fn innermost(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl Transport {
    pub(super) fn plain_http_allowed(&self, host: &str) -> bool {
        is_loopback(host) || host_listed(&self.options.insecure_registries, host)
    }

    fn verification_off(&self, host: &str) -> bool {
        host_listed(&self.options.insecure_registries, host)
            || host_listed(&self.options.skip_verify, host)
    }

    /// The HTTP client for `host`: unverified, with its certs.d roots, or the shared one.
    pub(super) fn http_for_host(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        Ok(if self.verification_off(host) {
            if host_listed(&self.options.skip_verify, host)
                && self
                    .warned_skip_verify
                    .lock()
                    .expect("poisoned")
                    .insert(host.to_string())
            {
                tracing::warn!(
                    "TLS certificates of {host} are NOT verified (insecure_skip_verify in the config file)"
                );
            }
            self.unverified.clone()
        } else {
            match self.certs_d_roots(host)? {
                Some(roots) => {
                    let mut all = self.ca_file_roots.clone();
                    all.extend(roots);
                    build_http(&self.options, true, all)?
                }
                None => self.verified.clone(),
            }
        })
    }

    /// `DIR/HOST[:PORT]/*.crt`, Docker's per-registry CA convention.
    fn certs_d_roots(
        &self,
        host: &str,
    ) -> Result<Option<Vec<reqwest::Certificate>>, RegistryError> {
        let Some(dir) = &self.options.certs_dir else {
            return Ok(None);
        };
        let host_dir = dir.join(host);
        let Ok(entries) = std::fs::read_dir(&host_dir) else {
            return Ok(None);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Ok(None);
        }
        let mut certs = Vec::new();
        for path in paths {
            certs.extend(load_certificates(&path)?);
        }
        tracing::debug!(host, dir = %host_dir.display(), "trusting certs.d CAs");
        Ok(Some(certs))
    }
}

pub(super) fn build_http(
    options: &ClientOptions,
    verify: bool,
    extra_roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(options.user_agent.clone())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        // reqwest drops Authorization when a redirect leaves the host.
        .redirect(reqwest::redirect::Policy::limited(5))
        .tls_danger_accept_invalid_certs(!verify);
    // Proxies from the environment as Go's tools pick them (crate::proxy): never for
    // loopback, NO_PROXY as Go reads it. Through a proxy, an https registry is a CONNECT
    // tunnel: the proxy sees the host name, never the credentials.
    let proxies = crate::proxy::EnvProxy::from_env();
    builder = if proxies.is_empty() {
        builder.no_proxy()
    } else {
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.proxy_for(url).map(|mut proxy| {
                // Go's SOCKS5 dialer sends the host name to the proxy; reqwest's `socks5h`.
                if proxy.scheme() == "socks5" {
                    proxy = url::Url::parse(&proxy.as_str().replacen("socks5", "socks5h", 1))
                        .unwrap_or(proxy);
                }
                proxy
            })
        }))
    };
    if !extra_roots.is_empty() {
        builder = builder.tls_certs_merge(extra_roots);
    }
    Ok(builder.build().map_err(TlsError::Setup)?)
}

pub(super) fn load_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::UnreadableCaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| TlsError::NotPem {
        path: path.to_path_buf(),
        source,
    })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use crate::{Client, ClientOptions, RegistryError, TlsError};

    fn client_with_ca(path: &std::path::Path) -> RegistryError {
        let options = ClientOptions::builder().ca_file(path).build();
        Client::new(options)
            .err()
            .expect("a CA file that cannot be used")
    }

    #[test]
    fn an_unreadable_ca_file_keeps_its_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.pem");
        let err = client_with_ca(&path);
        assert!(err.is_config(), "{err}");
        let source = std::error::Error::source(&err).expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(
            matches!(&err, RegistryError::Tls(TlsError::UnreadableCaFile { path: p, .. }) if *p == path)
        );
        assert!(err.to_string().contains(&io.to_string()), "{err}");
    }

    #[test]
    fn a_ca_file_that_is_not_pem_keeps_the_parser_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = client_with_ca(&path);
        let RegistryError::Tls(TlsError::NotPem { source, .. }) = &err else {
            panic!("{err:?}");
        };
        assert!(source.is_builder(), "{source:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("CA file {} is not PEM: ", path.display()))
                && !text.ends_with("builder error")
                && !text.contains('\n'),
            "{text}"
        );

        std::fs::write(&path, "no PEM section at all\n").unwrap();
        let err = client_with_ca(&path);
        assert!(
            matches!(&err, RegistryError::Tls(TlsError::NoCertificate { .. })),
            "{err:?}"
        );
    }
}
