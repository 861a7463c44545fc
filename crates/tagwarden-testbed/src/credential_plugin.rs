//! A kubelet credential-provider plugin for tests: a small `/bin/sh` script in a fresh
//! bin dir, speaking the real exec protocol (KEP-2133).
//!
//! The script reads the `CredentialProviderRequest` from stdin, logs it (one line per
//! run, so tests count runs and read what was asked), logs its arguments and the
//! `TAGWARDEN_TEST_PLUGIN_ENV` variable (to check the config's `args` and `env`), checks
//! that the request is a `CredentialProviderRequest` for an image under the expected
//! prefix (anything else: exit 1 with a message on stderr), then does what its
//! [`PluginBehaviour`] says:
//!
//! - [`Answer`](PluginBehaviour::Answer): prints a `CredentialProviderResponse` with the
//!   builder's `auth` entries, `cacheKeyType` and `cacheDuration`;
//! - [`Fail`](PluginBehaviour::Fail): prints the password on stdout (which must never be
//!   shown), [`FAIL_MESSAGE`] on stderr, and exits 7;
//! - [`Hang`](PluginBehaviour::Hang): says so on stderr and sleeps for 10 minutes in a
//!   child process (the caller must kill the whole process group);
//! - [`Garbage`](PluginBehaviour::Garbage): prints text that is not JSON, with the
//!   password in it.
//!
//! ```no_run
//! use tagwarden_testbed::{CredentialPlugin, PluginBehaviour};
//!
//! let plugin = CredentialPlugin::builder("test-credential-provider")
//!     .auth("127.0.0.1:5000", "testuser", "testpassword")
//!     .cache("Registry", Some("1h"))
//!     .start();
//! let config = plugin.write_config(&["127.0.0.1:5000"], "0");
//! // ... run the code under test with `config` and `plugin.bin_dir()`
//! assert_eq!(plugin.runs(), 1);
//! ```

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The first stderr line of a plugin that [fails](PluginBehaviour::Fail).
pub const FAIL_MESSAGE: &str = "plugin-error: the metadata service refused the request";

/// The plugin protocol version the test plugin speaks by default.
pub const PLUGIN_API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";

/// What the test plugin does after checking the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginBehaviour {
    /// Print a `CredentialProviderResponse`.
    Answer,
    /// Exit 7 with [`FAIL_MESSAGE`] on stderr (and the password on stdout).
    Fail,
    /// Never answer.
    Hang,
    /// Print something that is not JSON (with the password in it).
    Garbage,
}

/// Builds a [`CredentialPlugin`].
#[derive(Debug, Clone)]
pub struct CredentialPluginBuilder {
    name: String,
    behaviour: PluginBehaviour,
    auth: Vec<(String, String, String)>,
    cache_key_type: String,
    cache_duration: Option<String>,
    api_version: String,
    image_prefix: String,
}

impl CredentialPluginBuilder {
    /// What the plugin does (default [`PluginBehaviour::Answer`]).
    pub fn behaviour(mut self, behaviour: PluginBehaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// Add an `auth` entry: `pattern` → `username`/`password` (no `'` or `"` in them).
    pub fn auth(mut self, pattern: &str, username: &str, password: &str) -> Self {
        for text in [pattern, username, password] {
            assert!(
                !text.contains(['\'', '"', '\\', '\n']),
                "keep test credentials free of quotes, backslashes and line breaks: {text:?}"
            );
        }
        self.auth
            .push((pattern.into(), username.into(), password.into()));
        self
    }

    /// The answer's `cacheKeyType` (default `Registry`) and `cacheDuration` (default none:
    /// the provider's `defaultCacheDuration`).
    pub fn cache(mut self, key_type: &str, duration: Option<&str>) -> Self {
        self.cache_key_type = key_type.into();
        self.cache_duration = duration.map(Into::into);
        self
    }

    /// The `apiVersion` the plugin answers with (default [`PLUGIN_API_VERSION`]).
    pub fn api_version(mut self, api_version: &str) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Refuse (exit 1) requests for images that do not start with `prefix` (default: any).
    pub fn expect_image_prefix(mut self, prefix: &str) -> Self {
        self.image_prefix = prefix.into();
        self
    }

    /// Write the script into a fresh bin dir.
    pub fn start(self) -> CredentialPlugin {
        let dir = tempfile::tempdir().expect("temp dir for the credential plugin");
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir(&bin_dir).expect("plugin bin dir");
        let script = bin_dir.join(&self.name);
        std::fs::write(&script, self.script(dir.path())).expect("write the plugin");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make the plugin executable");
        CredentialPlugin {
            dir,
            bin_dir,
            name: self.name,
        }
    }

    fn response(&self) -> String {
        let auth: serde_json::Map<String, serde_json::Value> = self
            .auth
            .iter()
            .map(|(pattern, username, password)| {
                (
                    pattern.clone(),
                    serde_json::json!({"username": username, "password": password}),
                )
            })
            .collect();
        let mut response = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "CredentialProviderResponse",
            "cacheKeyType": self.cache_key_type,
            "auth": auth,
        });
        if let Some(duration) = &self.cache_duration {
            response["cacheDuration"] = duration.clone().into();
        }
        response.to_string()
    }

    fn script(&self, state: &Path) -> String {
        let password = self.auth.first().map(|a| a.2.as_str()).unwrap_or("secret");
        let act = match self.behaviour {
            PluginBehaviour::Answer => format!("printf '%s' '{}'", self.response()),
            PluginBehaviour::Fail => {
                format!(
                    "echo 'password={password}'\necho '{FAIL_MESSAGE}' >&2\necho 'more detail' >&2\nexit 7"
                )
            }
            PluginBehaviour::Hang => {
                "echo 'waiting for the metadata service' >&2\nsleep 600".into()
            }
            PluginBehaviour::Garbage => format!("echo 'this is not JSON: password={password}'"),
        };
        format!(
            r#"#!/bin/sh
request=$(cat)
printf '%s\n' "$request" >> '{requests}'
printf 'args=%s env=%s\n' "$*" "$TAGWARDEN_TEST_PLUGIN_ENV" >> '{invocations}'
case "$request" in
  *'"kind":"CredentialProviderRequest"'*) ;;
  *) echo "not a CredentialProviderRequest" >&2; exit 1 ;;
esac
case "$request" in
  *'"image":"{prefix}'*) ;;
  *) echo "unexpected image in $request" >&2; exit 1 ;;
esac
{act}
"#,
            requests = state.join("requests.log").display(),
            invocations = state.join("invocations.log").display(),
            prefix = self.image_prefix,
        )
    }
}

/// A test credential-provider plugin in its own bin dir, removed on drop.
#[derive(Debug)]
pub struct CredentialPlugin {
    dir: tempfile::TempDir,
    bin_dir: PathBuf,
    name: String,
}

impl CredentialPlugin {
    /// A plugin named `name` (its file name in the bin dir).
    pub fn builder(name: &str) -> CredentialPluginBuilder {
        CredentialPluginBuilder {
            name: name.into(),
            behaviour: PluginBehaviour::Answer,
            auth: Vec::new(),
            cache_key_type: "Registry".into(),
            cache_duration: None,
            api_version: PLUGIN_API_VERSION.into(),
            image_prefix: String::new(),
        }
    }

    /// The folder for `--image-credential-provider-bin-dir`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The plugin's name (`providers[].name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times the plugin has run.
    pub fn runs(&self) -> usize {
        self.requests().len()
    }

    /// Every request it got, parsed, in order.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        read_lines(&self.dir.path().join("requests.log"))
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("the plugin got a request that is not JSON ({e}): {line}")
                })
            })
            .collect()
    }

    /// One `args=… env=…` line per run: its arguments and `$TAGWARDEN_TEST_PLUGIN_ENV`.
    pub fn invocations(&self) -> Vec<String> {
        read_lines(&self.dir.path().join("invocations.log"))
    }

    /// Write a `CredentialProviderConfig` (YAML, `kubelet.config.k8s.io/v1`) with this
    /// plugin as the one provider, and return its path. The provider passes the argument
    /// `get-credentials` and sets `TAGWARDEN_TEST_PLUGIN_ENV=from-config`.
    pub fn write_config(&self, match_images: &[&str], default_cache_duration: &str) -> PathBuf {
        let patterns: Vec<String> = match_images.iter().map(|p| format!("\"{p}\"")).collect();
        let yaml = format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: {name}\n    matchImages: [{patterns}]\n    defaultCacheDuration: \"{default_cache_duration}\"\n    apiVersion: {PLUGIN_API_VERSION}\n    args: [get-credentials]\n    env:\n      - name: TAGWARDEN_TEST_PLUGIN_ENV\n        value: from-config\n",
            name = self.name,
            patterns = patterns.join(", "),
        );
        let path = self.dir.path().join("credential-provider-config.yaml");
        std::fs::write(&path, yaml).expect("write the credential provider config");
        path
    }

    /// A folder for more files (configs a test writes itself).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}
