//! Running one credential-provider plugin: the kubelet's exec protocol.
//!
//! `BIN_DIR/NAME ARGS…` runs with tagwarden's environment plus the provider's `env`, gets
//! a `CredentialProviderRequest` on stdin and must print a `CredentialProviderResponse`
//! on stdout:
//!
//! ```json
//! {"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest",
//!  "image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app"}
//! {"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse",
//!  "cacheKeyType":"Registry","cacheDuration":"6h",
//!  "auth":{"*.dkr.ecr.eu-west-1.amazonaws.com":{"username":"AWS","password":"…"}}}
//! ```
//!
//! The plugin runs in its own process group, under a timeout (the kubelet's: 1 minute);
//! when it passes, the whole group is killed, so a shell script's `sleep` goes too. Its
//! output is read on threads with a size bound, so a chatty or hung plugin can neither
//! block nor exhaust memory.
//!
//! A failure is described by what the plugin did (its exit status, the first line of its
//! stderr, shortened) and never by its stdout, which may hold credentials.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use super::config::{CredentialProvider, parse_go_duration};
use crate::credentials::Credential;
use crate::process;

/// The most stdout a plugin may print (a response is a few KiB).
const MAX_STDOUT: u64 = 1 << 20;
/// The most stderr kept (only its first line is ever shown).
const MAX_STDERR: u64 = 64 << 10;

/// What a response's credentials are reused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheKeyType {
    /// This image (host and repository) only.
    Image,
    /// Every image of the registry host.
    Registry,
    /// Every image the provider matches.
    Global,
}

/// A plugin's answer (`Debug` is safe: [`Credential`]'s hides the secrets).
#[derive(Debug, Clone)]
pub(crate) struct PluginAnswer {
    pub cache_key_type: CacheKeyType,
    /// `None`: the provider's `defaultCacheDuration`.
    pub cache_duration: Option<Duration>,
    /// `auth` pattern → credential, as the plugin listed them.
    pub auth: Vec<(String, Credential)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResponse {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cache_key_type: String,
    #[serde(default)]
    cache_duration: Option<String>,
    #[serde(default)]
    auth: HashMap<String, RawAuth>,
}

#[derive(Deserialize)]
struct RawAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl fmt::Debug for RawAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAuth(<redacted>)")
    }
}

/// The request for `image`, in the provider's protocol version.
fn request_body(api_version: &str, image: &str) -> String {
    serde_json::json!({
        "apiVersion": api_version,
        "kind": "CredentialProviderRequest",
        "image": image,
    })
    .to_string()
}

/// Run the plugin of `provider` from `bin_dir` for `image` and read its answer, or say
/// what went wrong (completing "credential provider NAME …").
pub(crate) fn run_plugin(
    bin_dir: &Path,
    provider: &CredentialProvider,
    image: &str,
    timeout: Duration,
) -> Result<PluginAnswer, String> {
    let program = bin_dir.join(&provider.name);
    let mut command = Command::new(&program);
    command
        .args(&provider.args)
        .envs(provider.env.iter().map(|(k, v)| (k, v)));
    let limits = process::Limits {
        stdout: MAX_STDOUT,
        stderr: MAX_STDERR,
    };
    let request = request_body(&provider.api_version, image);
    let output = match process::run(&mut command, request.as_bytes(), timeout, limits) {
        Ok(output) => output,
        Err(process::Failed::Start(e)) => {
            return Err(format!("could not be started ({}): {e}", program.display()));
        }
        Err(process::Failed::TimedOut { stderr }) => {
            return Err(format!(
                "did not answer within {} s and was killed{}",
                timeout.as_secs_f32(),
                said_suffix(&first_line(&stderr))
            ));
        }
        Err(process::Failed::Wait(e)) => return Err(format!("could not be waited for: {e}")),
    };
    if !output.status.success() {
        return Err(format!(
            "failed ({}){}",
            output.status,
            said_suffix(&first_line(&output.stderr))
        ));
    }
    parse_response(&output.stdout, &provider.api_version)
}

/// The first line of a plugin's stderr, without control characters, at most 160
/// characters: a plugin must not be able to make us print whatever it likes.
fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(160)
        .collect()
}

fn said_suffix(line: &str) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

/// The answer in `stdout`, checked as the kubelet checks it. Messages never quote the
/// answer's credentials (nor serde's messages, which could).
fn parse_response(stdout: &[u8], api_version: &str) -> Result<PluginAnswer, String> {
    let raw: RawResponse = serde_json::from_slice(stdout).map_err(|_| {
        if stdout.iter().all(u8::is_ascii_whitespace) {
            "printed nothing on stdout (expected a CredentialProviderResponse)".to_string()
        } else {
            "printed something that is not a CredentialProviderResponse JSON".to_string()
        }
    })?;
    let clip = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect::<String>()
    };
    if raw.kind != "CredentialProviderResponse" {
        return Err(format!(
            "answered with kind {:?}, not CredentialProviderResponse",
            clip(&raw.kind)
        ));
    }
    if raw.api_version != api_version {
        return Err(format!(
            "answered with apiVersion {:?}, but the config says {api_version}",
            clip(&raw.api_version)
        ));
    }
    let cache_key_type = match raw.cache_key_type.as_str() {
        "Image" => CacheKeyType::Image,
        "Registry" => CacheKeyType::Registry,
        "Global" => CacheKeyType::Global,
        other => {
            return Err(format!(
                "answered with cacheKeyType {:?} (expected Image, Registry or Global)",
                clip(other)
            ));
        }
    };
    let cache_duration = match raw.cache_duration.as_deref() {
        None => None,
        // A negative duration has already expired: not cached.
        Some(text) => Some(
            parse_go_duration(text)
                .map_err(|problem| format!("answered with cacheDuration {problem}"))?
                .unwrap_or(Duration::ZERO),
        ),
    };
    let mut auth: Vec<(String, Credential)> = raw
        .auth
        .into_iter()
        .filter(|(_, a)| !(a.username.is_empty() && a.password.is_empty()))
        .map(|(pattern, a)| {
            (
                pattern,
                Credential::Basic {
                    username: a.username,
                    password: a.password,
                },
            )
        })
        .collect();
    auth.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PluginAnswer {
        cache_key_type,
        cache_duration,
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

    #[test]
    fn responses_are_checked_as_the_kubelet_checks_them() {
        let good = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"1m","auth":{"b.io":{"username":"u","password":"hunter2"},"a.io":{"username":"","password":""}}}"#;
        let answer = parse_response(good, V1).unwrap();
        assert_eq!(answer.cache_key_type, CacheKeyType::Registry);
        assert_eq!(answer.cache_duration, Some(Duration::from_secs(60)));
        assert_eq!(answer.auth.len(), 1, "empty entries are no credential");

        let wrong_version = parse_response(good, "credentialprovider.kubelet.k8s.io/v1beta1");
        assert!(wrong_version.unwrap_err().contains("apiVersion"));
        let bad_key = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Pod","auth":{}}"#;
        assert!(
            parse_response(bad_key, V1)
                .unwrap_err()
                .contains("cacheKeyType")
        );
        let garbage = parse_response(b"password=hunter2", V1).unwrap_err();
        assert!(!garbage.contains("hunter2"), "{garbage}");
        let typed_wrong = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Image","auth":{"a.io":{"username":"u","password":["hunter2"]}}}"#;
        let message = parse_response(typed_wrong, V1).unwrap_err();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(parse_response(b"", V1).unwrap_err().contains("nothing"));
    }

    #[test]
    fn stderr_lines_are_cleaned_and_shortened() {
        assert_eq!(first_line(b"\n  boom \x1b[31mred\nsecond"), "boom [31mred");
        assert_eq!(first_line(&[b'x'; 500]).len(), 160);
        assert_eq!(first_line(b""), "");
    }
}
