//! The bearer token a cluster's requests carry, when it is not written in the kubeconfig:
//! an exec credential plugin's, or a token file's.
//!
//! kube-rs runs an exec plugin once per client, waits for it without a limit and reports a
//! failure as Rust's `Output { status: … }`; it sends a token file's trailing newline as
//! part of the token. tagwarden does what kubectl does instead:
//!
//! - **exec plugins** (`users[].user.exec`) run once per command, and again only when the
//!   credential's `expirationTimestamp` is near (every client of a [`crate::Cluster`]
//!   shares the one [`TokenSource`]); a plugin that has not answered within
//!   `--request-timeout`, else [`PLUGIN_TIMEOUT`], is killed (kubectl waits forever; a
//!   hung `aws` or `gcloud` must not hang a CI job); a failing plugin is reported with its
//!   exit status and its stderr;
//! - a plugin that gives a client certificate instead of a token (Teleport's `tsh`) is run
//!   once, when the cluster is located, and its certificate goes into the client's TLS
//!   configuration (it is not renewed within one command);
//! - **token files** (`tokenFile`, and a Pod's service account token) are re-read at most
//!   once a minute, as client-go does, and trimmed of surrounding whitespace (client-go
//!   trims them too).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;
use k8s_openapi::jiff::Timestamp;
use kube::config::{ExecConfig, ExecInteractiveMode};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

/// How long an exec credential plugin may run before it is killed.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A token file is re-read after this long (client-go: one minute).
const TOKEN_FILE_TTL: Duration = Duration::from_secs(60);
/// A plugin's credential is renewed this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Characters of a failing plugin's stderr shown.
const STDERR_SHOWN: usize = 2000;

/// Why no token could be had. The message is one line, the cause's text included; the
/// cause (an [`std::io::Error`], a [`serde_json::Error`]) is also the
/// [`source`](std::error::Error::source). A JSON error that could quote the plugin's
/// output (its token) is described by its position only.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The plugin or the file is not there, or the plugin's output is not a credential: the
    /// kubeconfig must change (exit 2).
    #[error("{message}")]
    Config {
        /// What is wrong, naming the plugin or the file.
        message: String,
        /// The lower error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// The plugin ran and failed or hung: could not decide (exit 3).
    #[error("{message}")]
    Failed {
        /// What the plugin did.
        message: String,
        /// The lower error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
}

/// A lower error kept as a cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl CredentialError {
    fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
            cause: None,
        }
    }

    fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            cause: None,
        }
    }

    /// The same error, caused by `cause`.
    fn because(mut self, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        let (Self::Config { cause, .. } | Self::Failed { cause, .. }) = &mut self;
        *cause = Some(Box::new(error));
        self
    }

    /// The same error without its cause (for one seen inside another error, which owns it).
    pub(crate) fn message_only(&self) -> Self {
        match self {
            Self::Config { message, .. } => Self::config(message.clone()),
            Self::Failed { message, .. } => Self::failed(message.clone()),
        }
    }
}

/// Where the bearer token comes from.
#[derive(Debug)]
enum Source {
    Exec(Box<ExecConfig>, Duration),
    File(PathBuf),
}

/// A token and until when it may be used.
#[derive(Debug)]
struct Cached {
    header: HeaderValue,
    valid_until: Option<Instant>,
}

/// A bearer token, fetched when first needed and kept until it expires; shared by every
/// client of one cluster (one per command run).
#[derive(Debug, Clone)]
pub(crate) struct TokenSource {
    source: Arc<Source>,
    cached: Arc<Mutex<Option<Cached>>>,
}

/// What an exec plugin prints (`client.authentication.k8s.io` `ExecCredential`).
#[derive(Debug, Deserialize)]
struct ExecCredential {
    status: Option<ExecStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    expiration_timestamp: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

/// A client certificate and key (PEM) an exec plugin gave instead of a token: it goes into
/// the TLS configuration of the client, once.
#[derive(Debug, Clone)]
pub(crate) struct ClientCertificate {
    pub certificate_pem: String,
    pub key_pem: String,
}

/// What a plugin gave.
enum Credential {
    Token(Cached),
    Certificate(ClientCertificate),
}

impl TokenSource {
    /// A plugin's token; the plugin is killed when it has not answered within `timeout`.
    pub(crate) fn exec(config: ExecConfig, timeout: Duration) -> TokenSource {
        TokenSource::of(Source::Exec(Box::new(config), timeout))
    }

    pub(crate) fn file(path: PathBuf) -> TokenSource {
        TokenSource::of(Source::File(path))
    }

    fn of(source: Source) -> TokenSource {
        TokenSource {
            source: Arc::new(source),
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// `Bearer …`, from the cache while it is valid.
    pub(crate) async fn header(&self) -> Result<HeaderValue, CredentialError> {
        let mut cached = self.cached.lock().await;
        if let Some(known) = cached.as_ref()
            && known.valid_until.is_none_or(|until| Instant::now() < until)
        {
            return Ok(known.header.clone());
        }
        let fresh = match self.source.as_ref() {
            Source::Exec(config, timeout) => match run_plugin(config, *timeout).await? {
                Credential::Token(token) => token,
                Credential::Certificate(_) => {
                    return Err(CredentialError::config(
                        "the exec credential plugin gave a client certificate where it gave a token before",
                    ));
                }
            },
            Source::File(path) => read_token_file(path)?,
        };
        let header = fresh.header.clone();
        *cached = Some(fresh);
        Ok(header)
    }

    /// Runs an exec plugin now (once per command: its token is kept for the requests);
    /// `Some` when it gave a client certificate instead, which the caller puts into the
    /// client's TLS configuration. A token file is read when first needed, not here.
    pub(crate) async fn prime(&self) -> Result<Option<ClientCertificate>, CredentialError> {
        let Source::Exec(config, timeout) = self.source.as_ref() else {
            return Ok(None);
        };
        match run_plugin(config, *timeout).await? {
            Credential::Token(token) => {
                *self.cached.lock().await = Some(token);
                Ok(None)
            }
            Credential::Certificate(certificate) => Ok(Some(certificate)),
        }
    }
}

fn bearer(token: &str) -> Result<HeaderValue, CredentialError> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| CredentialError::config("the token holds characters an HTTP header cannot"))?;
    value.set_sensitive(true);
    Ok(value)
}

fn read_token_file(path: &PathBuf) -> Result<Cached, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CredentialError::config(format!("cannot read tokenFile {}: {e}", path.display())).because(e)
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CredentialError::config(format!(
            "tokenFile {} is empty",
            path.display()
        )));
    }
    Ok(Cached {
        header: bearer(token)?,
        valid_until: Some(Instant::now() + TOKEN_FILE_TTL),
    })
}

/// Runs the plugin as client-go does (`KUBERNETES_EXEC_INFO`, its args and env), killed
/// after `timeout`.
async fn run_plugin(config: &ExecConfig, timeout: Duration) -> Result<Credential, CredentialError> {
    let Some(program) = config.command.as_deref().filter(|c| !c.is_empty()) else {
        return Err(CredentialError::config(
            "the exec credential plugin has no command",
        ));
    };
    let interactive = match config.interactive_mode {
        Some(ExecInteractiveMode::Never) => false,
        _ => {
            use std::io::IsTerminal;
            std::io::stdin().is_terminal()
        }
    };
    let mut command = plugin_command(config, program, interactive);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        let hint = config
            .install_hint
            .as_deref()
            .map(|h| format!(" ({})", h.trim().replace('\n', " ")))
            .unwrap_or_default();
        CredentialError::config(format!(
            "cannot run the exec credential plugin {program}: {e}{hint}"
        ))
        .because(e)
    })?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let finished = tokio::time::timeout(timeout, async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let read_out = async {
            if let Some(pipe) = stdout.as_mut() {
                let _ = pipe.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    })
    .await;
    let Ok((status, stdout, stderr)) = finished else {
        return Err(CredentialError::failed(format!(
            "the exec credential plugin {program} did not answer within {} and was killed",
            crate::connection::duration_text(timeout)
        )));
    };
    tracing::debug!(
        plugin = program,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ran the exec credential plugin"
    );
    let status = status.map_err(|e| {
        CredentialError::failed(format!("the exec credential plugin {program}: {e}")).because(e)
    })?;
    if !status.success() {
        let said = String::from_utf8_lossy(&stderr);
        let said = said.trim();
        let said: String = said.chars().take(STDERR_SHOWN).collect();
        return Err(CredentialError::failed(format!(
            "the exec credential plugin {program} failed ({status}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", said.replace('\n', " / "))
            }
        )));
    }
    credential_of(program, &stdout)
}

/// The plugin's command as client-go starts it: its args and env, `KUBERNETES_EXEC_INFO`,
/// stdin and stderr the terminal's only when interactive (else stderr is kept for the
/// error message), killed when dropped.
fn plugin_command(
    config: &ExecConfig,
    program: &str,
    interactive: bool,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.args(config.args.iter().flatten());
    for pair in config.env.iter().flatten() {
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            command.env(name, value);
        }
    }
    for name in config.drop_env.iter().flatten() {
        command.env_remove(name);
    }
    let mut spec = serde_json::json!({ "interactive": interactive });
    if config.provide_cluster_info
        && let Some(cluster) = &config.cluster
    {
        spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
    }
    let info = serde_json::json!({
        "apiVersion": config.api_version.as_deref().unwrap_or("client.authentication.k8s.io/v1"),
        "kind": "ExecCredential",
        "spec": spec,
    });
    let terminal_or = |other: fn() -> Stdio| {
        if interactive {
            Stdio::inherit()
        } else {
            other()
        }
    };
    command
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(terminal_or(Stdio::null))
        .stdout(Stdio::piped())
        .stderr(terminal_or(Stdio::piped))
        .kill_on_drop(true);
    command
}

fn credential_of(program: &str, stdout: &[u8]) -> Result<Credential, CredentialError> {
    let bad = |why: String| {
        CredentialError::config(format!(
            "the exec credential plugin {program} printed no usable ExecCredential: {why}"
        ))
    };
    let credential: ExecCredential = serde_json::from_slice(stdout).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            // serde's text may quote a value of the output: the token.
            bad(format!(
                "not an ExecCredential (line {}, column {})",
                e.line(),
                e.column()
            ))
        } else {
            bad(e.to_string()).because(e)
        }
    })?;
    let status = credential
        .status
        .ok_or_else(|| bad("it has no status".to_string()))?;
    let Some(token) = status.token.filter(|t| !t.is_empty()) else {
        return match (status.client_certificate_data, status.client_key_data) {
            (Some(certificate_pem), Some(key_pem)) => {
                Ok(Credential::Certificate(ClientCertificate {
                    certificate_pem,
                    key_pem,
                }))
            }
            _ => Err(bad(
                "it has neither status.token nor status.clientCertificateData and clientKeyData"
                    .to_string(),
            )),
        };
    };
    let valid_until = match status.expiration_timestamp {
        None => None,
        Some(text) => {
            let expires: Timestamp = text
                .parse()
                .map_err(|e| bad(format!("expirationTimestamp {text:?}: {e}")))?;
            let left = expires.duration_since(Timestamp::now());
            let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
            Some(Instant::now() + left.saturating_sub(EXPIRY_MARGIN))
        }
    };
    Ok(Credential::Token(Cached {
        header: bearer(token.trim())?,
        valid_until,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreadable_token_file_keeps_its_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent-token");
        let err = TokenSource::file(path.clone()).header().await.unwrap_err();
        assert!(matches!(err, CredentialError::Config { .. }), "{err:?}");
        let io = std::error::Error::source(&err)
            .and_then(|cause| cause.downcast_ref::<std::io::Error>())
            .unwrap_or_else(|| panic!("no io::Error source: {err:?}"));
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains(&io.to_string()),
            "{text}"
        );
    }

    #[test]
    fn an_exec_credential_of_the_wrong_shape_is_not_quoted() {
        // A token where the status object belongs: serde's text would quote it.
        let output = br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":"s3cret-token"}"#;
        let err = credential_of("plugin", output)
            .err()
            .expect("not a credential");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("line 1, column"), "{err}");
        assert!(std::error::Error::source(&err).is_none(), "{err:?}");

        let err = credential_of("plugin", b"{").err().expect("not JSON");
        let json = std::error::Error::source(&err)
            .and_then(|cause| cause.downcast_ref::<serde_json::Error>())
            .unwrap_or_else(|| panic!("no serde_json::Error source: {err:?}"));
        assert!(json.is_eof(), "{json}");
    }
}
