//! Where registry credentials come from: the files users already keep.
//!
//! Lookup order, first file that has an entry for the registry wins:
//!
//! 1. an explicit file (`--registry-config`), when given;
//! 2. `REGISTRY_AUTH_FILE` (podman, skopeo, buildah);
//! 3. `$DOCKER_CONFIG/config.json`;
//! 4. `~/.docker/config.json`.
//!
//! Kubernetes pull secrets (`--pull-secret FILE`: a `kubernetes.io/dockerconfigjson` Secret
//! manifest, YAML or JSON, or a bare `.dockerconfigjson`) come before all of these.
//!
//! Within a file, as in Docker:
//!
//! - `credHelpers` names a helper per registry: `docker-credential-NAME get` is run with
//!   the server URL on stdin and a timeout, and answers `{"Username","Secret"}`
//!   (`Username` `<token>` means `Secret` is an identity token);
//! - `credsStore` names the helper for every registry without its own;
//! - `auths` entries hold `auth` (base64 `user:password`), `username`/`password`, or
//!   `identitytoken` (an OAuth2 refresh token, exchanged at the token realm).
//!
//! `auths` keys are matched the way Docker matches them: the key's scheme and path are
//! dropped before comparing hosts, so `https://ghcr.io`, `ghcr.io` and
//! `https://ghcr.io/v1/` all name `ghcr.io`; Docker Hub is stored under
//! `https://index.docker.io/v1/`, which matches `docker.io`.
//!
//! Secrets never appear in `Debug` output or in errors.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::process;

use base64::Engine as _;
use serde::Deserialize;

use crate::RegistryError;
use crate::keychain::{Keychain, Resolved};

/// A credentials file or credential helper that cannot be used: which file (or helper and
/// the file that names it), and what is wrong, with the underlying error as its
/// [`source`](std::error::Error::source). Messages are one line and never hold a secret:
/// a cause whose text could quote a file's content (a JSON type error, a base64 error)
/// is described in words instead of kept.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `--registry-config` names a file that does not exist.
    #[error("registry config {} does not exist", .path.display())]
    Absent {
        /// The file.
        path: PathBuf,
    },
    /// A docker config file exists but cannot be read.
    #[error("cannot read registry config {}: {source}", .path.display())]
    UnreadableDockerConfig {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A docker config file (or the `.dockerconfigjson` of a pull secret file) is unusable.
    #[error("registry config {}{}", .path.display(), in_file(.problem))]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        problem: DockerConfigProblem,
    },
    /// A `--pull-secret` file cannot be read.
    #[error("cannot read pull secret {}: {source}", .path.display())]
    UnreadablePullSecret {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A `--pull-secret` file is not a usable pull secret.
    #[error("pull secret {}: {problem}", .path.display())]
    PullSecret {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: PullSecretProblem,
    },
    /// The `.dockerconfigjson` of a pull secret read from a cluster is not a docker config.
    #[error(
        "pull secret {name}: its .dockerconfigjson is not a docker config (JSON with \"auths\"): {problem}"
    )]
    ClusterSecret {
        /// The secret, `namespace/name`.
        name: String,
        /// What is wrong with its content.
        #[source]
        problem: DockerConfigProblem,
    },
    /// A credential helper named for the registry is missing, failed or timed out.
    #[error("credential helper {program} (from {}) {problem}", .config.display())]
    Helper {
        /// `docker-credential-NAME`.
        program: String,
        /// The docker config that names it.
        config: PathBuf,
        /// What the helper did.
        #[source]
        problem: HelperProblem,
    },
}

/// What is wrong with the content of a docker config (`config.json`, `.dockerconfigjson`).
#[derive(Debug, thiserror::Error)]
pub enum DockerConfigProblem {
    /// Not JSON at all (a syntax error: its text names no content, only where).
    #[error("not valid JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// JSON of the wrong shape. serde's message is not kept: it may quote a value of the
    /// file, which may be a secret.
    #[error("not a docker config (line {line}, column {column})")]
    WrongShape {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An `auths` entry that holds no usable credential.
    #[error("entry \"{key}\": {problem}")]
    Entry {
        /// The `auths` key (a registry, never a secret).
        key: String,
        /// What is wrong with it.
        #[source]
        problem: EntryProblem,
    },
}

impl DockerConfigProblem {
    /// A serde_json error, kept when its text cannot quote the file (syntax), else only
    /// its position.
    fn from_json(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::NotJson(error),
            Category::Data => Self::WrongShape {
                line: error.line(),
                column: error.column(),
            },
        }
    }
}

/// `… is not valid JSON (…): fix or remove it`, or `…: entry "K": …`.
fn in_file(problem: &DockerConfigProblem) -> String {
    match problem {
        DockerConfigProblem::Entry { .. } => format!(": {problem}"),
        _ => format!(" is {problem}: fix or remove it"),
    }
}

/// What is wrong with an `auths` entry. The base64 decoder's error is not kept: it quotes
/// a byte of what may be a password.
#[derive(Debug, thiserror::Error)]
pub enum EntryProblem {
    /// `auth` is not base64.
    #[error("\"auth\" is not valid base64")]
    AuthNotBase64,
    /// `auth` decodes to bytes that are not text.
    #[error("\"auth\" does not decode to UTF-8 text ({0})")]
    AuthNotUtf8(#[source] std::string::FromUtf8Error),
    /// `auth` decodes to text without a `:`.
    #[error("\"auth\" does not decode to username:password")]
    AuthNotUserPassword,
}

/// What is wrong with a pull secret file.
#[derive(Debug, thiserror::Error)]
pub enum PullSecretProblem {
    /// Neither YAML nor JSON; the first line of the parser's message (its full text
    /// shows the file's content, so the error itself is not kept).
    #[error("not a YAML or JSON document: {0}")]
    NotYaml(String),
    /// A document that is neither a Secret manifest nor a bare `.dockerconfigjson`.
    #[error("expected a Secret manifest or a .dockerconfigjson file")]
    NotASecret,
    /// A Secret of another type.
    #[error("type {0} holds no registry credentials; expected kubernetes.io/dockerconfigjson")]
    WrongType(String),
    /// `data[KEY]` is not base64 (the decoder's error quotes a byte of the secret).
    #[error("data[{0}] is not valid base64")]
    NotBase64(&'static str),
    /// `data[KEY]` decodes to bytes that are not text.
    #[error("data[{key}] is not UTF-8 ({source})")]
    NotUtf8 {
        /// `.dockerconfigjson` or `.dockercfg`.
        key: &'static str,
        /// Where the text breaks.
        source: std::string::FromUtf8Error,
    },
    /// A Secret without `.dockerconfigjson` (or `.dockercfg`).
    #[error("it has no .dockerconfigjson key")]
    NoKey,
}

/// What a credential helper did instead of answering; completes "helper X (from F) …".
#[derive(Debug, thiserror::Error)]
pub enum HelperProblem {
    /// The program is not on `PATH`.
    #[error(
        "is not installed: put docker-credential-{helper} on PATH, or remove \"{helper}\" from credHelpers/credsStore"
    )]
    NotInstalled {
        /// The helper's name (`docker-credential-NAME`).
        helper: String,
    },
    /// The program exists but cannot be started.
    #[error("cannot be started: {0}")]
    CannotStart(#[source] std::io::Error),
    /// No answer within the timeout; the helper was killed.
    #[error("did not answer within {} s", .0.as_secs_f32())]
    TimedOut(Duration),
    /// Waiting for the program failed.
    #[error("could not be waited for: {0}")]
    Wait(#[source] std::io::Error),
    /// The answer is not JSON (a syntax error: its text quotes nothing).
    #[error("answered with something that is not credentials JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// The answer is JSON of the wrong shape (serde's text could quote the secret).
    #[error("answered with something that is not credentials JSON")]
    NotCredentials,
    /// The helper failed: its exit status and the first line it printed, shortened.
    #[error("failed ({status}): {said}")]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The first line of what it printed, at most 160 characters.
        said: String,
    },
}

/// A credential for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (or a personal access token in the password field).
    Basic {
        /// The user name.
        username: String,
        /// The password or token; never shown.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in a docker config).
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// What kind of file a source is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    PullSecret,
    DockerConfig,
    /// A pull secret read from a cluster; `path` holds `namespace/name`.
    ClusterSecret,
}

/// One loaded credentials file.
#[derive(Debug)]
struct ConfigSource {
    path: PathBuf,
    kind: SourceKind,
    auths: HashMap<String, Credential>,
    /// Registry host (as written in the file) → helper name.
    cred_helpers: HashMap<String, String>,
    creds_store: Option<String>,
}

/// All credentials tagwarden may use, in lookup order.
#[derive(Debug)]
pub struct CredentialStore {
    sources: Vec<ConfigSource>,
    /// How long a credential helper may take.
    helper_timeout: Duration,
    /// Helper answers, per (helper, registry): helpers run once per registry and run.
    helper_cache: Mutex<HashMap<(String, String), Option<Credential>>>,
}

impl Default for CredentialStore {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            helper_timeout: Duration::from_secs(10),
            helper_cache: Mutex::new(HashMap::new()),
        }
    }
}

impl CredentialStore {
    /// A store without credentials: every request is anonymous.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Load the standard locations, with `explicit` (from `--registry-config`) first.
    ///
    /// Files that do not exist are skipped; a file that exists but cannot be read or parsed
    /// is an error that names it, because silently ignoring it would turn a credentials
    /// problem into a confusing "denied".
    pub fn from_environment(explicit: Option<&Path>) -> Result<Self, RegistryError> {
        Self::from_environment_with(explicit, &[])
    }

    /// Like [`Self::from_environment`], with Kubernetes pull secrets (`--pull-secret`) first.
    pub fn from_environment_with(
        explicit: Option<&Path>,
        pull_secrets: &[PathBuf],
    ) -> Result<Self, RegistryError> {
        let mut store = Self::from_environment_with_only_pull_secrets(pull_secrets)?;
        let mut paths = Vec::new();
        if let Some(path) = explicit {
            if !path.exists() {
                return Err(CredentialsError::Absent {
                    path: path.to_path_buf(),
                }
                .into());
            }
            paths.push(path.to_path_buf());
        }
        if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(path));
        }
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(dir).join("config.json"));
        }
        if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(home).join(".docker").join("config.json"));
        }
        for path in paths {
            if store.sources.iter().any(|s| s.path == path) || !path.is_file() {
                continue;
            }
            store.sources.push(load(&path)?);
        }
        Ok(store)
    }

    /// Only Kubernetes pull secrets (`--pull-secret`), in order: see
    /// [`crate::keychain::PullSecretKeychain`].
    pub(crate) fn from_environment_with_only_pull_secrets(
        pull_secrets: &[PathBuf],
    ) -> Result<Self, RegistryError> {
        let mut store = Self::default();
        for path in pull_secrets {
            store.sources.push(load_pull_secret(path)?);
        }
        Ok(store)
    }

    /// The `.dockerconfigjson` (or legacy `.dockercfg`, the `auths` map alone) of pull
    /// secrets read from a cluster, in order; each is named `namespace/name` in messages.
    pub(crate) fn from_cluster_secrets(
        secrets: &[(String, String)],
    ) -> Result<Self, RegistryError> {
        let mut store = Self::default();
        for (name, config_json) in secrets {
            let mut source = parse_config(Path::new(name), config_json).map_err(|problem| {
                CredentialsError::ClusterSecret {
                    name: name.clone(),
                    problem,
                }
            })?;
            source.kind = SourceKind::ClusterSecret;
            // The kubelet never runs helpers a Secret names; neither do we.
            source.cred_helpers.clear();
            source.creds_store = None;
            store.sources.push(source);
        }
        Ok(store)
    }

    /// The credential for `registry` and a description of where it came from (the file,
    /// or the credential helper and its file), as a [`Keychain`] answers.
    pub fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        let wanted = canonical_host(registry);
        for source in &self.sources {
            if let Some(helper) = source.helper_for(&wanted)
                && let Some(credential) = self.run_helper(helper, registry, &source.path)?
            {
                return Ok(Some(Resolved {
                    credential,
                    source: format!(
                        "credential helper docker-credential-{helper} (from {})",
                        source.describe()
                    ),
                }));
            }
            if let Some(credential) = source.auth_for(&wanted) {
                return Ok(Some(Resolved {
                    credential: credential.clone(),
                    source: source.describe(),
                }));
            }
        }
        Ok(None)
    }

    /// Load exactly one file (tests, and `--registry-config` alone).
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            sources: vec![load(path)?],
            ..Self::default()
        })
    }

    /// How long a credential helper may run before it counts as failed (default 10 s).
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    /// The credential for `registry` (normalised host, e.g. `docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`), and the file that named it.
    ///
    /// Errors when a credential helper is configured for the registry but is missing,
    /// fails or times out: guessing "anonymous" then would turn a broken setup into a
    /// confusing "denied".
    pub fn lookup(&self, registry: &str) -> Result<Option<(Credential, PathBuf)>, RegistryError> {
        let wanted = canonical_host(registry);
        for source in &self.sources {
            if let Some(helper) = source.helper_for(&wanted)
                && let Some(cred) = self.run_helper(helper, registry, &source.path)?
            {
                return Ok(Some((cred, source.path.clone())));
            }
            if let Some(cred) = source.auth_for(&wanted) {
                return Ok(Some((cred.clone(), source.path.clone())));
            }
        }
        Ok(None)
    }

    /// Ask `docker-credential-HELPER get` for `registry`'s credential. `None` when the
    /// helper says it has none.
    fn run_helper(
        &self,
        helper: &str,
        registry: &str,
        config: &Path,
    ) -> Result<Option<Credential>, RegistryError> {
        let key = (helper.to_string(), canonical_host(registry));
        if let Some(cached) = self.helper_cache.lock().expect("cache poisoned").get(&key) {
            return Ok(cached.clone());
        }
        let program = format!("docker-credential-{helper}");
        // Docker Hub's credentials live under its legacy index URL, everything else under
        // the host name.
        let server = if canonical_host(registry) == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            registry.to_string()
        };
        let fail = |problem: HelperProblem| CredentialsError::Helper {
            program: program.clone(),
            config: config.to_path_buf(),
            problem,
        };
        let output =
            run_with_timeout(&program, helper, &server, self.helper_timeout).map_err(fail)?;
        let answer = helper_answer(&output).map_err(fail)?;
        self.helper_cache
            .lock()
            .expect("cache poisoned")
            .insert(key, answer.clone());
        Ok(answer)
    }
}

/// The most a helper may print on stdout (an answer is a few hundred bytes) and stderr
/// (only its first line is ever shown).
const HELPER_LIMITS: process::Limits = process::Limits {
    stdout: 1 << 20,
    stderr: 64 << 10,
};

/// Runs `program get` with `server` on stdin ([`process::run`]: its own process group,
/// killed with its children when it takes longer than `timeout`).
fn run_with_timeout(
    program: &str,
    helper: &str,
    server: &str,
    timeout: Duration,
) -> Result<HelperOutput, HelperProblem> {
    let mut command = Command::new(program);
    command.arg("get");
    process::run(&mut command, server.as_bytes(), timeout, HELPER_LIMITS).map_err(|e| match e {
        process::Failed::Start(e) if e.kind() == std::io::ErrorKind::NotFound => {
            HelperProblem::NotInstalled {
                helper: helper.to_string(),
            }
        }
        process::Failed::Start(e) => HelperProblem::CannotStart(e),
        process::Failed::TimedOut { .. } => HelperProblem::TimedOut(timeout),
        process::Failed::Wait(e) => HelperProblem::Wait(e),
    })
}

/// What a credential helper process said.
type HelperOutput = process::Output;

/// The credential in a helper's answer (`None`: the protocol's "no credentials"), or
/// what went wrong, completing "helper X …". Only the first line of a failure, shortened,
/// is repeated: a helper must not be able to make us print whatever it likes.
fn helper_answer(output: &HelperOutput) -> Result<Option<Credential>, HelperProblem> {
    if output.status.success() {
        #[derive(Deserialize)]
        struct HelperAnswer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let parsed: HelperAnswer =
            serde_json::from_slice(&output.stdout).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => HelperProblem::NotCredentials,
                _ => HelperProblem::NotJson(e),
            })?;
        return Ok(if parsed.secret.is_empty() {
            None
        } else if parsed.username == "<token>" {
            Some(Credential::IdentityToken(parsed.secret))
        } else {
            Some(Credential::Basic {
                username: parsed.username,
                password: parsed.secret,
            })
        });
    }
    let said = if output.stdout.is_empty() {
        &output.stderr
    } else {
        &output.stdout
    };
    let message = String::from_utf8_lossy(said).trim().to_string();
    if message
        .to_ascii_lowercase()
        .contains("credentials not found")
    {
        return Ok(None);
    }
    let first: String = message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    Err(HelperProblem::Failed {
        status: output.status,
        said: first,
    })
}

impl Keychain for CredentialStore {
    fn resolve(&self, registry: &str) -> Result<Option<Resolved>, RegistryError> {
        CredentialStore::resolve(self, registry)
    }
}

impl ConfigSource {
    /// The helper this file names for `wanted` (a canonical host): its own, else
    /// `credsStore`.
    fn helper_for(&self, wanted: &str) -> Option<&str> {
        self.cred_helpers
            .iter()
            .find(|(key, _)| canonical_host(&key_host(key)) == wanted)
            .map(|(_, helper)| helper)
            .or(self.creds_store.as_ref())
            .map(String::as_str)
            .filter(|h| !h.is_empty())
    }

    /// The `auths` entry for `wanted` (a canonical host).
    fn auth_for(&self, wanted: &str) -> Option<&Credential> {
        self.auths
            .iter()
            .find(|(key, _)| canonical_host(&key_host(key)) == wanted)
            .map(|(_, cred)| cred)
    }

    /// `--pull-secret FILE` or `docker config FILE`.
    fn describe(&self) -> String {
        match self.kind {
            SourceKind::PullSecret => format!("--pull-secret {}", self.path.display()),
            SourceKind::DockerConfig => format!("docker config {}", self.path.display()),
            SourceKind::ClusterSecret => format!("pull secret {}", self.path.display()),
        }
    }
}

/// A Kubernetes pull secret: a Secret manifest of type `kubernetes.io/dockerconfigjson`
/// (YAML or JSON, `data` base64 or `stringData`), or a bare `.dockerconfigjson` file.
fn load_pull_secret(path: &Path) -> Result<ConfigSource, CredentialsError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CredentialsError::UnreadablePullSecret {
            path: path.to_path_buf(),
            source,
        })?;
    let bad = |problem: PullSecretProblem| CredentialsError::PullSecret {
        path: path.to_path_buf(),
        problem,
    };
    #[derive(Deserialize)]
    struct Secret {
        #[serde(default)]
        kind: Option<String>,
        #[serde(default, rename = "type")]
        secret_type: Option<String>,
        #[serde(default)]
        data: HashMap<String, String>,
        #[serde(default, rename = "stringData")]
        string_data: HashMap<String, String>,
    }
    let secret: Secret = serde_saphyr::from_str(&text).map_err(|e| {
        bad(PullSecretProblem::NotYaml(
            first_line(&e.to_string()).into(),
        ))
    })?;
    let config_json = if secret.kind.is_none() && secret.data.is_empty() {
        // A bare .dockerconfigjson file.
        text.clone()
    } else {
        if secret.kind.as_deref() != Some("Secret") {
            return Err(bad(PullSecretProblem::NotASecret));
        }
        if let Some(t) = &secret.secret_type
            && t != "kubernetes.io/dockerconfigjson"
            && t != "kubernetes.io/dockercfg"
        {
            return Err(bad(PullSecretProblem::WrongType(t.clone())));
        }
        if let Some(plain) = secret.string_data.get(".dockerconfigjson") {
            plain.clone()
        } else if let Some(encoded) = secret.data.get(".dockerconfigjson") {
            decode_data(encoded, ".dockerconfigjson").map_err(bad)?
        } else if let Some(encoded) = secret.data.get(".dockercfg") {
            // The legacy format is the `auths` map itself.
            let legacy = decode_data(encoded, ".dockercfg").map_err(bad)?;
            format!("{{\"auths\":{legacy}}}")
        } else {
            return Err(bad(PullSecretProblem::NoKey));
        }
    };
    let mut source =
        parse_config(path, &config_json).map_err(|problem| CredentialsError::DockerConfig {
            path: path.to_path_buf(),
            problem,
        })?;
    source.kind = SourceKind::PullSecret;
    Ok(source)
}

/// The text of a Secret's `data[key]`: base64, then UTF-8.
fn decode_data(encoded: &str, key: &'static str) -> Result<String, PullSecretProblem> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| PullSecretProblem::NotBase64(key))?;
    String::from_utf8(bytes).map_err(|source| PullSecretProblem::NotUtf8 { key, source })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn load(path: &Path) -> Result<ConfigSource, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        CredentialsError::UnreadableDockerConfig {
            path: path.to_path_buf(),
            source,
        }
    })?;
    parse_config(path, &text).map_err(|problem| CredentialsError::DockerConfig {
        path: path.to_path_buf(),
        problem,
    })
}

/// The docker config in `text`, read from `path` (a file, or `namespace/name` of a
/// secret).
fn parse_config(path: &Path, text: &str) -> Result<ConfigSource, DockerConfigProblem> {
    let file: DockerConfigFile =
        serde_json::from_str(text).map_err(DockerConfigProblem::from_json)?;
    let mut auths = HashMap::new();
    for (key, entry) in file.auths {
        if let Some(cred) =
            entry_credential(&entry).map_err(|problem| DockerConfigProblem::Entry {
                key: key.clone(),
                problem,
            })?
        {
            auths.insert(key, cred);
        }
    }
    Ok(ConfigSource {
        path: path.to_path_buf(),
        kind: SourceKind::DockerConfig,
        auths,
        cred_helpers: file.cred_helpers,
        creds_store: file.creds_store,
    })
}

fn entry_credential(entry: &AuthEntry) -> Result<Option<Credential>, EntryProblem> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.to_string())));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| EntryProblem::AuthNotBase64)?;
        let decoded = String::from_utf8(decoded).map_err(EntryProblem::AuthNotUtf8)?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or(EntryProblem::AuthNotUserPassword)?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => Ok(Some(Credential::Basic {
            username: username.clone(),
            password: password.clone(),
        })),
        _ => Ok(None),
    }
}

/// The host part of an `auths` key: Docker's `convertToHostname`.
fn key_host(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

/// Hosts that mean Docker Hub all compare equal.
fn canonical_host(host: &str) -> String {
    match host.to_ascii_lowercase().as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let store = CredentialStore::from_file(&path).unwrap();
        (dir, store)
    }

    #[test]
    fn docker_hub_key_matches_docker_io() {
        // "alice:s3cret" in base64
        let (_dir, store) =
            store(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"}}}"#);
        let (cred, _) = store
            .lookup("docker.io")
            .unwrap()
            .expect("docker hub credential");
        assert_eq!(
            cred,
            Credential::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        assert!(store.lookup("ghcr.io").unwrap().is_none());
    }

    #[test]
    fn keys_match_with_or_without_scheme_and_path() {
        let (_dir, store) = store(
            r#"{"auths":{
                "https://ghcr.io":{"username":"u1","password":"p1"},
                "127.0.0.1:5000":{"auth":"dTI6cDI="},
                "http://quay.io/v1/":{"identitytoken":"refresh-me"}}}"#,
        );
        assert!(
            matches!(store.lookup("ghcr.io").unwrap(), Some((Credential::Basic { username, .. }, _)) if username == "u1")
        );
        assert!(
            matches!(store.lookup("127.0.0.1:5000").unwrap(), Some((Credential::Basic { username, .. }, _)) if username == "u2")
        );
        assert!(matches!(
            store.lookup("quay.io").unwrap(),
            Some((Credential::IdentityToken(_), _))
        ));
        assert!(store.lookup("127.0.0.1:5001").unwrap().is_none());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let (_dir, store) =
            store(r#"{"auths":{"ghcr.io":{"username":"bob","password":"hunter2-secret"}}}"#);
        let shown = format!(
            "{store:?} {:?}",
            store.lookup("ghcr.io").unwrap().unwrap().0
        );
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("bob"), "{shown}");
    }

    #[test]
    fn pull_secrets_in_every_shape() {
        let dir = tempfile::tempdir().unwrap();
        // {"auths":{"127.0.0.1:5000":{"auth":"dTI6cDI="}}}  (u2:p2)
        let inner = r#"{"auths":{"127.0.0.1:5000":{"auth":"dTI6cDI="}}}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
        let shapes = [
            (
                "secret.yaml",
                format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {encoded}\n"
                ),
            ),
            (
                "secret.json",
                format!(
                    r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{{".dockerconfigjson":"{encoded}"}}}}"#
                ),
            ),
            (
                "string-data.yaml",
                format!(
                    "kind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{inner}'\n"
                ),
            ),
            ("bare.dockerconfigjson", inner.to_string()),
        ];
        for (name, text) in shapes {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let store = CredentialStore::from_environment_with(None, std::slice::from_ref(&path))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (cred, from) = store
                .lookup("127.0.0.1:5000")
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: no credential"));
            assert_eq!(
                cred,
                Credential::Basic {
                    username: "u2".into(),
                    password: "p2".into()
                },
                "{name}"
            );
            assert_eq!(from, path);
        }
        let path = dir.path().join("opaque.yaml");
        std::fs::write(
            &path,
            "kind: Secret\ntype: Opaque\ndata:\n  password: eA==\n",
        )
        .unwrap();
        let err = CredentialStore::from_environment_with(None, &[path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubernetes.io/dockerconfigjson"), "{err}");
    }

    #[test]
    fn a_missing_credential_helper_is_a_clear_error() {
        let (_dir, store) = store(r#"{"credHelpers":{"ghcr.io":"tagwarden-test-no-such-helper"}}"#);
        let err = store.lookup("ghcr.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-tagwarden-test-no-such-helper")
                && err.contains("is not installed"),
            "{err}"
        );
        // Other registries are unaffected.
        assert!(store.lookup("quay.io").unwrap().is_none());
    }

    /// The first cause of type `T` in `error`'s chain of sources.
    fn cause<T: std::error::Error + 'static>(error: &RegistryError) -> Option<&T> {
        let mut next = std::error::Error::source(error);
        while let Some(cause) = next {
            if let Some(found) = cause.downcast_ref::<T>() {
                return Some(found);
            }
            next = cause.source();
        }
        None
    }

    #[test]
    fn causes_are_kept_as_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{\"auths\": {").unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err();
        let json = cause::<serde_json::Error>(&err).expect("a serde_json::Error source");
        assert!(json.is_eof(), "{json}");
        assert!(err.is_config());
        assert!(
            matches!(&err, RegistryError::Credentials(CredentialsError::DockerConfig { path: p, .. }) if *p == path)
        );
        // The message says it all on one line, the cause's text included.
        let text = err.to_string();
        assert!(
            text.contains(&json.to_string()) && !text.contains('\n'),
            "{text}"
        );

        let missing = dir.path().join("absent.yaml");
        let err = CredentialStore::from_environment_with(None, std::slice::from_ref(&missing))
            .unwrap_err();
        let io = cause::<std::io::Error>(&err).expect("an io::Error source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

        let secret = dir.path().join("secret.yaml");
        std::fs::write(
            &secret,
            "kind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData: {}\ndata:\n  .dockerconfigjson: /w==\n",
        )
        .unwrap();
        let err = CredentialStore::from_environment_with(None, std::slice::from_ref(&secret))
            .unwrap_err();
        assert!(cause::<std::string::FromUtf8Error>(&err).is_some(), "{err}");
        assert!(err.to_string().contains("is not UTF-8"), "{err}");
    }

    #[test]
    fn a_cause_that_could_quote_a_secret_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // A password where an entry belongs: serde's message would quote it.
        std::fs::write(&path, r#"{"auths":{"ghcr.io":"hunter2-secret"}}"#).unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err();
        let mut chain = vec![err.to_string()];
        let mut next = std::error::Error::source(&err);
        while let Some(cause) = next {
            chain.push(cause.to_string());
            next = cause.source();
        }
        let chain = chain.join(" | ");
        assert!(!chain.contains("hunter2"), "{chain}");
        assert!(
            chain.contains("is not a docker config (line 1, column"),
            "{chain}"
        );
        assert!(cause::<serde_json::Error>(&err).is_none(), "{chain}");
    }

    #[test]
    fn a_failing_helper_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        // A helper that is a folder: it exists, but cannot be started.
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(bin.join("docker-credential-folder")).unwrap();
        let problem = run_with_timeout(
            bin.join("docker-credential-folder").to_str().unwrap(),
            "folder",
            "ghcr.io",
            Duration::from_secs(5),
        )
        .unwrap_err();
        let HelperProblem::CannotStart(io) = &problem else {
            panic!("{problem}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied, "{io}");
        let source = std::error::Error::source(&problem).expect("a source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn broken_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{\"auths\": {").unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("not valid JSON"),
            "{err}"
        );

        std::fs::write(&path, r#"{"auths":{"ghcr.io":{"auth":"!!!"}}}"#).unwrap();
        let err = CredentialStore::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("not valid base64") && !err.contains("!!!"),
            "{err}"
        );
    }
}
