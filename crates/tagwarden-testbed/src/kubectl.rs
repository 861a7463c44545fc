//! The real `kubectl` the suite runs against the test API server, found once.
//!
//! - The kubectl: `TAGWARDEN_KUBECTL` when it is set, else `kubectl` on `PATH`, resolved
//!   through symlinks (the Google Cloud SDK's `/usr/bin/kubectl` is a link into
//!   `/usr/lib/google-cloud-sdk/bin`).
//! - Its version, from `kubectl version --client -o json` (the Cloud SDK's dispatcher says
//!   `v1.32.4-dispatcher`: it runs the `kubectl.1.NN` matching the server's version).
//! - The versioned binaries next to it, `kubectl.1.NN` as the Google Cloud SDK ships them
//!   (`scripts/test.sh` installs `kubectl.1.27` and `kubectl.1.33` the same way where none
//!   is present). Without any, the kubectl itself is the one version.
//!
//! The suite needs kubectl 1.27 or newer (aggregated discovery, `auth can-i --list` as
//! the tests read it). A missing or older kubectl fails the calling test with what is
//! missing and how to get it ([`HOW_TO_GET_IT`]); nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The oldest kubectl minor version the suite runs (`1.27`).
pub const OLDEST_MINOR: u32 = 27;

/// How to get a kubectl the suite can use; the end of every panic of this module.
pub const HOW_TO_GET_IT: &str = "scripts/test.sh installs kubectl 1.27 and 1.33 (run it as \
     root), or install the Google Cloud SDK's kubectl components (kubectl, kubectl.1.27 … \
     kubectl.1.33), or put any kubectl 1.27+ on PATH, or set TAGWARDEN_KUBECTL to one; \
     Debian's kubernetes-client (1.20) is too old";

/// One kubectl binary and its client version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubectlBinary {
    /// The binary (symlinks resolved).
    pub path: PathBuf,
    /// The client's minor version: `33` for 1.33.
    pub minor: u32,
    /// The client's `gitVersion`, e.g. `v1.33.9` or `v1.32.4-dispatcher`.
    pub git_version: String,
}

impl KubectlBinary {
    /// A [`Command`] running this binary.
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }

    /// `kubectl 1.33 (/usr/lib/google-cloud-sdk/bin/kubectl.1.33)`, for failure messages.
    pub fn describe(&self) -> String {
        format!("kubectl 1.{} ({})", self.minor, self.path.display())
    }
}

/// The kubectl of this machine and the versions next to it.
#[derive(Debug, Clone)]
pub struct Kubectls {
    /// The kubectl to run by default.
    pub default: KubectlBinary,
    /// `kubectl.1.NN` (NN ≥ [`OLDEST_MINOR`]) next to it, oldest first; the default one
    /// alone when there are none.
    pub versions: Vec<KubectlBinary>,
}

impl Kubectls {
    /// The oldest version present.
    pub fn oldest(&self) -> &KubectlBinary {
        self.versions.first().expect("at least one version")
    }

    /// The newest version present.
    pub fn newest(&self) -> &KubectlBinary {
        self.versions.last().expect("at least one version")
    }

    /// The versions present, oldest first, as `1.27, 1.33`.
    pub fn describe_versions(&self) -> String {
        self.versions
            .iter()
            .map(|v| format!("1.{}", v.minor))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The kubectl the suite runs, found once per test process.
///
/// # Panics
///
/// When there is none, it does not run, or it is older than 1.27: the message says what
/// was found and how to get a kubectl ([`HOW_TO_GET_IT`]).
pub fn kubectl() -> &'static Kubectls {
    static FOUND: OnceLock<Result<Kubectls, String>> = OnceLock::new();
    match FOUND.get_or_init(find) {
        Ok(found) => found,
        Err(problem) => panic!(
            "the suite needs kubectl 1.{OLDEST_MINOR} or newer on PATH: {problem}. {HOW_TO_GET_IT}"
        ),
    }
}

/// The default kubectl [`kubectl`] found.
///
/// # Panics
///
/// As [`kubectl`].
pub fn kubectl_binary() -> &'static KubectlBinary {
    &kubectl().default
}

fn find() -> Result<Kubectls, String> {
    let named = match std::env::var_os("TAGWARDEN_KUBECTL") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => on_path("kubectl").ok_or("there is no kubectl on PATH")?,
    };
    let path = std::fs::canonicalize(&named).map_err(|e| format!("{}: {e}", named.display()))?;
    let default = binary(&path)?;
    if default.minor < OLDEST_MINOR {
        return Err(format!("{} is too old", default.describe()));
    }
    let mut versions = versioned_next_to(&path)?;
    if versions.is_empty() {
        versions.push(default.clone());
    }
    Ok(Kubectls { default, versions })
}

/// The first `name` in a directory of `PATH` that is a file.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `kubectl.1.NN` (NN ≥ [`OLDEST_MINOR`]) in the directory of `kubectl`, oldest first.
fn versioned_next_to(kubectl: &Path) -> Result<Vec<KubectlBinary>, String> {
    let Some(dir) = kubectl.parent() else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut minors: Vec<u32> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.strip_prefix("kubectl.1.")?.parse().ok()
        })
        .filter(|minor| *minor >= OLDEST_MINOR)
        .collect();
    minors.sort_unstable();
    minors
        .into_iter()
        .map(|minor| {
            let found = binary(&dir.join(format!("kubectl.1.{minor}")))?;
            if found.minor != minor {
                return Err(format!(
                    "{} says it is {}",
                    found.path.display(),
                    found.git_version
                ));
            }
            Ok(found)
        })
        .collect()
}

/// `path version --client -o json`, read.
fn binary(path: &Path) -> Result<KubectlBinary, String> {
    let output = Command::new(path)
        .args(["version", "--client", "-o", "json"])
        .env_remove("KUBECONFIG")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let said = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`{} version --client -o json` failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let (git_version, minor) = client_version(&said).ok_or_else(|| {
        format!(
            "`{} version --client -o json` printed no client version: {said}",
            path.display()
        )
    })?;
    Ok(KubectlBinary {
        path: path.to_path_buf(),
        minor,
        git_version,
    })
}

/// `(gitVersion, minor)` of `kubectl version --client -o json`'s `clientVersion`.
fn client_version(json: &str) -> Option<(String, u32)> {
    let document: serde_json::Value = serde_json::from_str(json).ok()?;
    let git_version = document["clientVersion"]["gitVersion"].as_str()?;
    let minor = git_version
        .strip_prefix("v1.")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((git_version.to_string(), minor))
}

#[cfg(test)]
mod tests {
    use super::client_version;

    #[test]
    fn the_minor_version_is_read_from_the_git_version() {
        let dispatcher =
            r#"{"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.4-dispatcher"}}"#;
        assert_eq!(
            client_version(dispatcher),
            Some(("v1.32.4-dispatcher".to_string(), 32))
        );
        let upstream = r#"{"clientVersion":{"gitVersion":"v1.33.9"},"kustomizeVersion":"v5.6.0"}"#;
        assert_eq!(client_version(upstream), Some(("v1.33.9".to_string(), 33)));
        assert_eq!(client_version(r#"{"clientVersion":{}}"#), None);
        assert_eq!(client_version("Client Version: v1.20.0"), None);
    }
}
