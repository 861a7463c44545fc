//! The connection to Redis: every command with a short timeout, and the state that says
//! whether Redis is usable now (a failure leaves it alone for a while, said once in the log).

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, IntoConnectionInfo, TlsCertificates};

use super::SharedCacheOptions;

/// Why the shared cache cannot be set up, or a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedCacheError {
    /// The URL is not a Redis URL.
    #[error(
        "the shared cache URL {url} is not usable: {reason} (expected redis://HOST[:PORT] or rediss://HOST[:PORT])"
    )]
    Url {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CA file for `rediss://` could not be read.
    #[error("cannot read the shared cache's CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed or timed out.
    #[error("the shared cache {url} did not answer: {reason}")]
    Unavailable {
        /// The URL, without its password.
        url: String,
        /// What happened.
        reason: String,
    },
}

/// The URL with any password replaced by `***`.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<not a URL>".to_string(),
    }
}

/// Whether Redis is usable, and whether its failure was logged.
#[derive(Debug, Default)]
struct Health {
    /// Until when Redis is left alone after a failure.
    down_until: Option<Instant>,
    /// True from the first failure until Redis answers again.
    failing: bool,
}

pub(crate) struct Store {
    client: redis::Client,
    manager: OnceLock<ConnectionManager>,
    url: String,
    timeout: Duration,
    retry_after: Duration,
    health: Mutex<Health>,
}

impl Store {
    pub(crate) fn new(options: &SharedCacheOptions) -> Result<Self, SharedCacheError> {
        let url = redacted(&options.url);
        let bad = |reason: String| SharedCacheError::Url {
            url: url.clone(),
            reason,
        };
        let mut info = options
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        if !(options.url.starts_with("redis://") || options.url.starts_with("rediss://")) {
            return Err(bad("only redis:// and rediss:// are supported".into()));
        }
        if let Some(password) = &options.password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        // The CA files matter for TLS only (serve passes --ca-file, whatever the scheme).
        let client = if options.ca_files.is_empty() || !options.url.starts_with("rediss://") {
            redis::Client::open(info)
        } else {
            let mut roots = Vec::new();
            for path in &options.ca_files {
                roots.extend(
                    std::fs::read(path).map_err(|source| SharedCacheError::CaFile {
                        path: path.display().to_string(),
                        source,
                    })?,
                );
                roots.push(b'\n');
            }
            let certificates = TlsCertificates {
                client_tls: None,
                root_cert: Some(roots),
            };
            redis::Client::build_with_tls(info, certificates)
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            client,
            manager: OnceLock::new(),
            url,
            timeout: options.timeout,
            retry_after: options.retry_after,
            health: Mutex::new(Health::default()),
        })
    }

    /// The connection manager (it reconnects on its own after a failure).
    fn manager(&self) -> Result<ConnectionManager, SharedCacheError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.unavailable(e.to_string()))?;
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    fn unavailable(&self, reason: String) -> SharedCacheError {
        SharedCacheError::Unavailable {
            url: self.url.clone(),
            reason,
        }
    }

    /// True unless a recent failure says to leave Redis alone.
    pub(crate) fn is_up(&self) -> bool {
        let health = self.health.lock().expect("health poisoned");
        health
            .down_until
            .is_none_or(|until| until <= Instant::now())
    }

    /// Run one command within the timeout. `None` when Redis is being left alone after a
    /// failure (nothing sent); an error when this command failed (Redis is then left alone
    /// for a while, and the first failure is logged).
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Option<Result<T, SharedCacheError>> {
        if !self.is_up() {
            return None;
        }
        let result = match self.manager() {
            Ok(mut manager) => {
                match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut manager)).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(self.unavailable(e.to_string())),
                    Err(_) => Err(self.unavailable(format!("no answer within {:?}", self.timeout))),
                }
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => self.answered(),
            Err(e) => self.failed(e),
        }
        Some(result)
    }

    pub(crate) async fn ping(&self) -> Result<(), SharedCacheError> {
        let mut manager = self.manager()?;
        let cmd = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut manager)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.unavailable(e.to_string())),
            Err(_) => Err(self.unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    fn answered(&self) {
        let mut health = self.health.lock().expect("health poisoned");
        if std::mem::take(&mut health.failing) {
            tracing::warn!(url = %self.url, "the shared cache answers again; sharing answers and budgets with the fleet");
        }
        health.down_until = None;
    }

    fn failed(&self, error: &SharedCacheError) {
        let mut health = self.health.lock().expect("health poisoned");
        health.down_until = Some(Instant::now() + self.retry_after);
        if !std::mem::replace(&mut health.failing, true) {
            tracing::warn!(%error, "the shared cache is unavailable; checking on our own, within our own budget, until it answers");
        } else {
            tracing::debug!(%error, "the shared cache is still unavailable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        let shown = redacted("redis://user:hunter2@cache.local:6379/2");
        assert_eq!(shown, "redis://user:***@cache.local:6379/2");
        let options = SharedCacheOptions {
            password: Some("hunter2".into()),
            ..SharedCacheOptions::new("rediss://:hunter2@cache.local")
        };
        let debug = format!("{options:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn urls_are_checked_and_ca_files_only_matter_for_tls() {
        let ca = tempfile::NamedTempFile::new().unwrap();
        let with_ca = |url: &str| {
            let mut options = SharedCacheOptions::new(url);
            options.ca_files = vec![ca.path().to_path_buf()];
            Store::new(&options).map(|_| ())
        };
        // serve passes --ca-file whatever the scheme: plain redis:// ignores it.
        with_ca("redis://127.0.0.1:6379").unwrap();
        let err = with_ca("http://:hunter2@127.0.0.1:6379")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("redis://") && !err.contains("hunter2"),
            "{err}"
        );
        let mut missing = SharedCacheOptions::new("rediss://127.0.0.1:6379");
        missing.ca_files = vec!["/nonexistent/ca.pem".into()];
        let err = Store::new(&missing).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
