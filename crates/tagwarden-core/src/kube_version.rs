//! Kubernetes versions as clusters actually report them.
//!
//! Every API server answers `GET /version` with a small JSON document:
//!
//! ```json
//! {"major": "1", "minor": "28+", "gitVersion": "v1.28.5-eks-5e0fdde", ...}
//! ```
//!
//! tagwarden only needs *which Kubernetes minor release* a cluster runs (and the
//! patch when known), but every vendor stamps its builds differently. This module
//! turns all of them into one [`KubeVersion`]:
//!
//! ```
//! use tagwarden_core::{Distribution, KubeVersion};
//!
//! let v = KubeVersion::parse("v1.28.5-eks-5e0fdde").unwrap();
//! assert_eq!((v.major, v.minor, v.patch), (1, 28, Some(5)));
//! assert_eq!(v.distribution, Distribution::Eks);
//! assert_eq!(v.to_string(), "1.28.5");
//!
//! // kcp stamps its own version; the fields carry the Kubernetes API level.
//! let kcp = KubeVersion::from_fields(Some("v0.2.3-1-g96ce0beb59c389+kcp"), Some("1"), Some("23")).unwrap();
//! assert_eq!((kcp.major_minor(), kcp.patch), ((1, 23), None));
//! ```
//!
//! # What `gitVersion` looks like
//!
//! The shape is always `vMAJOR.MINOR.PATCH`, optionally followed by a semver-style
//! pre-release (`-…`) and/or build metadata (`+…`). The suffix is where vendors
//! sign their builds, and where [`Distribution`] is read from:
//!
//! | distribution            | example `gitVersion`          | marker                                  |
//! |-------------------------|-------------------------------|-----------------------------------------|
//! | upstream, kind, minikube| `v1.31.0`, `v1.30.0-rc.1`     | none (or `alpha`/`beta`/`rc`)           |
//! | Amazon EKS              | `v1.28.5-eks-5e0fdde`         | `-eks-<hash>`                           |
//! | Google GKE              | `v1.30.5-gke.1014001`         | `-gke.<build>`                          |
//! | Azure AKS               | `v1.29.7`                     | none: AKS reports plain upstream        |
//! | k3s                     | `v1.29.4+k3s1`                | `+k3sN`                                 |
//! | RKE2                    | `v1.28.9+rke2r1`              | `+rke2rN`                               |
//! | OpenShift               | `v1.27.10+f1b5e0e`            | `+<hex hash>` and no pre-release        |
//! | Alibaba ACK             | `v1.24.6-aliyun.1`            | `-aliyun.N`                             |
//! | Tencent TKE             | `v1.18.4-tke.6`               | `-tke.N`                                |
//! | Huawei CCE              | `v1.23.4-r0-CCE22.3.1.B012`   | `CCE<n>` token                          |
//! | MicroK8s                | `v1.24.0-2+59bbb3530b6769`    | bare-number pre-release + `+<hex hash>` |
//! | IBM IKS                 | `v1.20.6+IKS`                 | `+IKS`                                  |
//! | k0s                     | `v1.24.3+k0s`                 | `+k0s`                                  |
//! | VMware TKG              | `v1.27.16+vmware.1-fips`      | `+vmware.N`                             |
//! | Mirantis                | `v1.24.0-mirantis-1`          | `-mirantis-N`                           |
//!
//! Markers are matched case-insensitively and token by token (the suffix is split
//! on `.`, `-` and `+`), so `eks` inside some unrelated word does not count.
//! AKS ships plain upstream binaries, so an AKS cluster is reported as
//! [`Distribution::Upstream`]; a token `aks` would be recognised if it ever
//! appeared. `Upstream` really means "no vendor marker recognised".
//!
//! Upstream pre-releases (`v1.30.0-rc.1`, `v1.31.0-alpha.3`) keep their numbers:
//! `v1.30.0-rc.1` is major 1, minor 30, patch 0.
//!
//! # Why the `major` / `minor` fields exist too
//!
//! The fields are the machine-readable half of `/version`. They usually agree with
//! `gitVersion`, with a twist: builds from a modified tree (EKS, GKE, old
//! OpenShift) report the minor with a trailing `+` (`"28+"`), and hand-written or
//! proxied servers sometimes put `"1.20"` in the minor field. Both are understood
//! by [`KubeVersion::from_fields`].
//!
//! The fields matter when `gitVersion` is *not* the Kubernetes version. kcp, for
//! instance, embeds a Kubernetes API server but stamps its own release:
//! `gitVersion: "v0.2.3-1-g96ce0beb59c389+kcp"` with `major: "1", minor: "23"`.
//! There the fields are the truth. The rule used by [`KubeVersion::from_fields`]:
//!
//! 1. a `gitVersion` that parses as a Kubernetes version (major ≥ 1) wins, because
//!    it carries the patch — unless valid fields **disagree** with it on
//!    major.minor. A real API server derives all three from the same build stamp,
//!    so a disagreement proves the `gitVersion` describes some other product; the
//!    fields win and the patch is unknown;
//! 2. a `gitVersion` that is absent, empty, a placeholder, garbage or has major 0
//!    gives way to the fields (patch unknown, `git_version` still kept as given);
//! 3. with neither usable, it is an error that explains both problems.
//!
//! # What is an error
//!
//! Unsubstituted build placeholders (`{gitVersion}`, `$(KUBE_GIT_VERSION)`,
//! `v0.0.0-master+$Format:%H$`, the zero version `v0.0.0`), strings that are not
//! `MAJOR.MINOR[.PATCH]` (including `1.2.3.4`: Kubernetes has at most three
//! numbers), numbers that do not fit in a `u64`, characters outside
//! `[A-Za-z0-9.+-]` in the suffix, and — from [`KubeVersion::parse`] alone — a
//! major version of 0. Nothing here panics, whatever the input.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Longest input quoted back in an error message, in characters.
const MAX_SHOWN: usize = 80;

/// A Kubernetes version as reported by a cluster, with the distribution that built it.
///
/// Serialises (field order is a stable interface) as
/// `{"major":1,"minor":32,"patch":1,"distribution":"eks","git_version":"v1.32.1-eks-5e0fdde"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeVersion {
    /// Major version; 1 for every Kubernetes release so far.
    pub major: u64,
    /// Minor version, the number that matters for compatibility (`28` in `v1.28.5`).
    pub minor: u64,
    /// Patch version; `None` when unknown (`"1.32"`, or only `major`/`minor` fields).
    pub patch: Option<u64>,
    /// Which distribution stamped the version; [`Distribution::Upstream`] when none is recognised.
    pub distribution: Distribution,
    /// The `gitVersion` string as given (trimmed); `None` when only fields were given.
    pub git_version: Option<String>,
}

/// The Kubernetes distribution a version string reveals.
///
/// Serialised in lowercase, the same text as [`Distribution::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// No vendor marker: upstream builds, kind, minikube, Docker Desktop, and AKS.
    Upstream,
    /// Amazon EKS (`-eks-<hash>`).
    Eks,
    /// Google GKE (`-gke.<build>`).
    Gke,
    /// Azure AKS; only detected from an explicit `aks` token, since AKS reports plain upstream versions.
    Aks,
    /// k3s (`+k3sN`).
    K3s,
    /// Rancher RKE2 (`+rke2rN`).
    Rke2,
    /// Red Hat OpenShift (`+<hex hash>` without a pre-release).
    Openshift,
    /// Alibaba Cloud ACK (`-aliyun.N`).
    Ack,
    /// Tencent TKE (`-tke.N`).
    Tke,
    /// Huawei Cloud CCE (`-r0-CCE22.3.1.B012`).
    Cce,
    /// Canonical MicroK8s (`-N+<hex hash>`).
    Microk8s,
    /// IBM Cloud Kubernetes Service (`+IKS`).
    Iks,
    /// k0s (`+k0s`).
    K0s,
    /// VMware Tanzu Kubernetes Grid (`+vmware.N`).
    Vmware,
    /// Mirantis Kubernetes Engine (`-mirantis-N`).
    Mirantis,
}

impl Distribution {
    /// Every distribution, upstream first.
    pub const ALL: [Distribution; 15] = [
        Distribution::Upstream,
        Distribution::Eks,
        Distribution::Gke,
        Distribution::Aks,
        Distribution::K3s,
        Distribution::Rke2,
        Distribution::Openshift,
        Distribution::Ack,
        Distribution::Tke,
        Distribution::Cce,
        Distribution::Microk8s,
        Distribution::Iks,
        Distribution::K0s,
        Distribution::Vmware,
        Distribution::Mirantis,
    ];

    /// The lowercase name, as serialised: `"upstream"`, `"eks"`, `"microk8s"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Upstream => "upstream",
            Distribution::Eks => "eks",
            Distribution::Gke => "gke",
            Distribution::Aks => "aks",
            Distribution::K3s => "k3s",
            Distribution::Rke2 => "rke2",
            Distribution::Openshift => "openshift",
            Distribution::Ack => "ack",
            Distribution::Tke => "tke",
            Distribution::Cce => "cce",
            Distribution::Microk8s => "microk8s",
            Distribution::Iks => "iks",
            Distribution::K0s => "k0s",
            Distribution::Vmware => "vmware",
            Distribution::Mirantis => "mirantis",
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a version string or the `/version` fields could not be understood.
///
/// Every message is one line, starts in lowercase, quotes the offending input
/// (cut to 80 characters, control characters escaped) and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KubeVersionError {
    /// The string was empty or only whitespace.
    #[error("empty version string (expected something like v1.32.1 or 1.32)")]
    Empty,

    /// A build placeholder that was never substituted (`{gitVersion}`, `v0.0.0-master+$Format:%H$`, `v0.0.0`).
    #[error(
        "{input:?} is an unsubstituted build placeholder, not a Kubernetes version (expected something like v1.32.1)"
    )]
    Placeholder {
        /// The offending input.
        input: String,
    },

    /// Not of the form `MAJOR.MINOR[.PATCH][-pre][+build]`.
    #[error(
        "{input:?} is not a Kubernetes version{} (expected MAJOR.MINOR[.PATCH], e.g. v1.32.1 or 1.32)",
        detail(.problem)
    )]
    Malformed {
        /// The offending input.
        input: String,
        /// What exactly is wrong, when there is more to say than "not a version".
        problem: Option<String>,
    },

    /// A numeric part does not fit in a `u64`.
    #[error(
        "{input:?} is not a Kubernetes version: {part} {value} is too large (expected MAJOR.MINOR[.PATCH] with numbers below 2^64, e.g. v1.32.1)"
    )]
    TooLarge {
        /// The offending input.
        input: String,
        /// `"major"`, `"minor"` or `"patch"`.
        part: &'static str,
        /// The digits that overflowed (cut to 80 characters).
        value: String,
    },

    /// Major version 0, which no Kubernetes release has (kcp reports its own `v0.x`).
    #[error(
        "{input:?} has major version 0, so it is not a Kubernetes version (expected major 1, e.g. v1.32.1)"
    )]
    MajorZero {
        /// The offending input.
        input: String,
    },

    /// A `major` or `minor` field that is not a usable number.
    #[error("{field} field {value:?} {problem} (expected {})", field_expectation(.field))]
    BadField {
        /// `"major"` or `"minor"`.
        field: &'static str,
        /// The field as given (trimmed, cut to 80 characters).
        value: String,
        /// What is wrong with it: `"is not a number"`, `"is too large"`, ...
        problem: &'static str,
    },

    /// A hand-edited minor field (`"1.20"`) names a different major than the major field.
    #[error(
        "major field {major:?} disagrees with minor field {minor:?} (expected the same major in both, e.g. major \"1\" with minor \"1.20\")"
    )]
    FieldsDisagree {
        /// The major field as given.
        major: String,
        /// The minor field as given.
        minor: String,
    },

    /// The fields had to stand in for `gitVersion` but one of them is missing.
    #[error(
        "the {field} field is missing (expected e.g. major \"1\" and minor \"32\", or a gitVersion like v1.32.1)"
    )]
    MissingField {
        /// `"major"` or `"minor"`.
        field: &'static str,
    },

    /// `gitVersion`, `major` and `minor` were all absent or empty.
    #[error(
        "no version given: gitVersion, major and minor are all absent or empty (expected e.g. gitVersion \"v1.32.1\", or major \"1\" and minor \"32\")"
    )]
    NoVersion,

    /// `gitVersion` is not a Kubernetes version and the fields cannot replace it.
    #[error("{git_version}; the major/minor fields cannot stand in for it: {fields}")]
    Unusable {
        /// Why `gitVersion` was rejected.
        git_version: Box<KubeVersionError>,
        /// Why the fields were rejected.
        fields: Box<KubeVersionError>,
    },
}

fn detail(problem: &Option<String>) -> String {
    match problem {
        Some(p) => format!(": {p}"),
        None => String::new(),
    }
}

fn field_expectation(field: &str) -> &'static str {
    if field == "major" {
        "1"
    } else {
        "e.g. 32 or 32+"
    }
}

/// The input as quoted in error messages: at most [`MAX_SHOWN`] characters.
fn shown(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// The pieces of `[v]MAJOR.MINOR[.PATCH][-pre][+build]`, before any judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape<'a> {
    major: u64,
    minor: u64,
    patch: Option<u64>,
    pre: Option<&'a str>,
    build: Option<&'a str>,
}

/// Why a decimal number could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberError {
    Empty,
    NotDigits,
    TooLarge,
}

/// Reads plain ASCII decimal digits (no sign, no spaces) into a `u64`.
fn parse_number(s: &str) -> Result<u64, NumberError> {
    if s.is_empty() {
        return Err(NumberError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotDigits);
    }
    // Only digits remain, so the one possible failure is overflow.
    s.parse().map_err(|_| NumberError::TooLarge)
}

/// True for text a build system should have replaced: `{gitVersion}`, `$(VAR)`, `$Format:%H$`.
fn is_placeholder_text(s: &str) -> bool {
    s.contains(['{', '}', '$', '%'])
}

/// Splits `s` (already trimmed, non-empty) into its numeric core and suffix.
fn parse_shape(s: &str) -> Result<Shape<'_>, KubeVersionError> {
    let malformed = |problem: Option<String>| KubeVersionError::Malformed {
        input: shown(s),
        problem,
    };

    let body = s
        .strip_prefix('v')
        .or_else(|| s.strip_prefix('V'))
        .unwrap_or(s);
    if !body.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(malformed(None));
    }

    let (core, suffix) = match body.find(['-', '+']) {
        Some(i) => body.split_at(i),
        None => (body, ""),
    };

    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() < 2 {
        return Err(malformed(Some("the minor version is missing".to_owned())));
    }
    if parts.len() > 3 {
        return Err(malformed(Some(format!(
            "it has {} dot-separated numbers where Kubernetes has at most 3",
            parts.len()
        ))));
    }

    let mut numbers = [0u64; 3];
    for (i, (part, name)) in parts.iter().zip(["major", "minor", "patch"]).enumerate() {
        numbers[i] = match parse_number(part) {
            Ok(n) => n,
            Err(NumberError::Empty) => {
                return Err(malformed(Some(format!("the {name} version is empty"))));
            }
            Err(NumberError::NotDigits) => {
                return Err(malformed(Some(format!("{name} {part:?} is not a number"))));
            }
            Err(NumberError::TooLarge) => {
                return Err(KubeVersionError::TooLarge {
                    input: shown(s),
                    part: name,
                    value: shown(part),
                });
            }
        };
    }

    let (pre, build) = suffix_parts(suffix).map_err(|problem| malformed(Some(problem)))?;

    Ok(Shape {
        major: numbers[0],
        minor: numbers[1],
        patch: (parts.len() == 3).then_some(numbers[2]),
        pre,
        build,
    })
}

/// A version's suffix as its pre-release (after `-`) and build metadata (after `+`), or
/// what is wrong with it.
fn suffix_parts(suffix: &str) -> Result<(Option<&str>, Option<&str>), String> {
    let (pre, build) = if let Some(rest) = suffix.strip_prefix('-') {
        match rest.split_once('+') {
            Some((pre, build)) => (Some(pre), Some(build)),
            None => (Some(rest), None),
        }
    } else if let Some(build) = suffix.strip_prefix('+') {
        (None, Some(build))
    } else {
        (None, None)
    };
    if pre == Some("") {
        return Err("the pre-release after '-' is empty".to_owned());
    }
    if build == Some("") {
        return Err("the build metadata after '+' is empty".to_owned());
    }
    if let Some(bad) = suffix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
    {
        return Err(format!(
            "its suffix contains {bad:?} (expected only letters, digits, '.', '-' and '+')"
        ));
    }
    Ok((pre, build))
}

/// True when `token` is `word` followed only by digits (`k3s`, `k3s1`, `k3s12`).
fn word_then_digits(token: &str, word: &str) -> bool {
    token
        .strip_prefix(word)
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The distribution a single lowercase suffix token names, if any.
fn vendor_token(token: &str) -> Option<Distribution> {
    let d = match token {
        "eks" => Distribution::Eks,
        "gke" => Distribution::Gke,
        "aks" => Distribution::Aks,
        "aliyun" | "ack" => Distribution::Ack,
        "tke" => Distribution::Tke,
        "iks" => Distribution::Iks,
        "vmware" => Distribution::Vmware,
        "mirantis" => Distribution::Mirantis,
        "openshift" => Distribution::Openshift,
        "microk8s" => Distribution::Microk8s,
        "rke2" => Distribution::Rke2,
        t if word_then_digits(t, "rke2r") => Distribution::Rke2,
        t if word_then_digits(t, "k3s") => Distribution::K3s,
        t if word_then_digits(t, "k0s") => Distribution::K0s,
        t if word_then_digits(t, "cce") => Distribution::Cce,
        _ => return None,
    };
    Some(d)
}

/// A short git hash as OpenShift and MicroK8s put in build metadata: 7+ hex digits.
fn is_hex_hash(s: &str) -> bool {
    s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads the distribution from the pre-release and build metadata of a version.
fn detect_distribution(pre: Option<&str>, build: Option<&str>) -> Distribution {
    let named = [pre, build]
        .into_iter()
        .flatten()
        .map(str::to_ascii_lowercase)
        .find_map(|part| part.split(['.', '-', '+']).find_map(vendor_token));
    if let Some(d) = named {
        return d;
    }
    match (pre, build) {
        (None, Some(b)) if is_hex_hash(b) => Distribution::Openshift,
        (Some(p), Some(b)) if parse_number(p).is_ok() && is_hex_hash(b) => Distribution::Microk8s,
        _ => Distribution::Upstream,
    }
}

/// Reads the `major` and `minor` fields of `/version` (already trimmed, non-empty).
///
/// Returns `(major, minor)`. The minor may end in one `+` (`"28+"`) or carry the
/// major itself (`"1.20"`); the major may also end in `+`.
fn parse_fields(major: Option<&str>, minor: Option<&str>) -> Result<(u64, u64), KubeVersionError> {
    fn number(field: &'static str, raw: &str, text: &str) -> Result<u64, KubeVersionError> {
        let bad = |problem| KubeVersionError::BadField {
            field,
            value: shown(raw),
            problem,
        };
        match parse_number(text) {
            Ok(n) => Ok(n),
            Err(NumberError::TooLarge) => Err(bad("is too large")),
            Err(_) => Err(bad("is not a number")),
        }
    }
    fn zero_major(field: &'static str, raw: &str) -> KubeVersionError {
        KubeVersionError::BadField {
            field,
            value: shown(raw),
            problem: "has major version 0, which no Kubernetes release has",
        }
    }

    let Some(minor_raw) = minor else {
        return Err(KubeVersionError::MissingField { field: "minor" });
    };
    let minor_text = minor_raw.strip_suffix('+').unwrap_or(minor_raw);
    let (minor_major, minor_value) = match minor_text.split_once('.') {
        Some((m, n)) => (
            Some(number("minor", minor_raw, m)?),
            number("minor", minor_raw, n)?,
        ),
        None => (None, number("minor", minor_raw, minor_text)?),
    };
    if minor_major == Some(0) {
        return Err(zero_major("minor", minor_raw));
    }

    let major_value = match major {
        Some(major_raw) => {
            let text = major_raw.strip_suffix('+').unwrap_or(major_raw);
            let value = number("major", major_raw, text)?;
            if value == 0 {
                return Err(zero_major("major", major_raw));
            }
            if minor_major.is_some_and(|m| m != value) {
                return Err(KubeVersionError::FieldsDisagree {
                    major: shown(major_raw),
                    minor: shown(minor_raw),
                });
            }
            value
        }
        None => match minor_major {
            Some(m) => m,
            None => return Err(KubeVersionError::MissingField { field: "major" }),
        },
    };
    Ok((major_value, minor_value))
}

/// Trims a `/version` value; empty or whitespace-only counts as absent.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl KubeVersion {
    /// Parses a `gitVersion`-like string.
    ///
    /// Accepts `v1.28.5-eks-5e0fdde`, `1.32`, `v1.32`, `1.32.1`, `V1.30.1`, with
    /// surrounding whitespace, and every vendor suffix listed in the
    /// [module documentation](self). The result keeps the trimmed input in
    /// [`git_version`](KubeVersion::git_version).
    ///
    /// # Errors
    ///
    /// Empty input, build placeholders (`{gitVersion}`, `v0.0.0`), anything not
    /// shaped `MAJOR.MINOR[.PATCH][-pre][+build]`, numbers overflowing `u64`, and a
    /// major version of 0 (with no fields to fall back on, a `v0.x` string is not
    /// Kubernetes).
    pub fn parse(git_version: &str) -> Result<Self, KubeVersionError> {
        let s = git_version.trim();
        if s.is_empty() {
            return Err(KubeVersionError::Empty);
        }
        if is_placeholder_text(s) {
            return Err(KubeVersionError::Placeholder { input: shown(s) });
        }
        let shape = parse_shape(s)?;
        if shape.major == 0 {
            return Err(if shape.minor == 0 && shape.patch.unwrap_or(0) == 0 {
                // `v0.0.0` is what unstamped builds report.
                KubeVersionError::Placeholder { input: shown(s) }
            } else {
                KubeVersionError::MajorZero { input: shown(s) }
            });
        }
        Ok(KubeVersion {
            major: shape.major,
            minor: shape.minor,
            patch: shape.patch,
            distribution: detect_distribution(shape.pre, shape.build),
            git_version: Some(s.to_owned()),
        })
    }

    /// Combines what `/version` returns: `gitVersion` and/or the `major`/`minor` fields.
    ///
    /// Empty or whitespace-only values count as absent. The rule:
    ///
    /// - a `gitVersion` that [`parse`](KubeVersion::parse)s wins, since it carries
    ///   the patch and the distribution; malformed or partial fields are then ignored;
    /// - but if the fields are valid and disagree with it on major.minor, the
    ///   `gitVersion` belongs to another product (a real API server stamps all three
    ///   from one build), so the fields win: patch `None`, distribution still read
    ///   from the `gitVersion`, which is kept as given;
    /// - a `gitVersion` that is absent, a placeholder, garbage or major 0 (kcp's
    ///   `v0.2.3-1-g96ce0beb59c389+kcp`) gives way to the fields, patch `None`;
    /// - fields alone give distribution [`Distribution::Upstream`] and `git_version: None`.
    ///
    /// The minor field may end in `+` (`"28+"`) or carry the major (`"1.20"`).
    ///
    /// # Errors
    ///
    /// [`KubeVersionError::NoVersion`] when everything is absent; the `gitVersion`
    /// error when there are no fields; the field error when there is no
    /// `gitVersion`; [`KubeVersionError::Unusable`] (both reasons) when neither works.
    pub fn from_fields(
        git_version: Option<&str>,
        major: Option<&str>,
        minor: Option<&str>,
    ) -> Result<Self, KubeVersionError> {
        let git = present(git_version);
        let (major, minor) = (present(major), present(minor));
        let fields_given = major.is_some() || minor.is_some();

        let Some(git) = git else {
            if !fields_given {
                return Err(KubeVersionError::NoVersion);
            }
            let (major, minor) = parse_fields(major, minor)?;
            return Ok(KubeVersion {
                major,
                minor,
                patch: None,
                distribution: Distribution::Upstream,
                git_version: None,
            });
        };

        match Self::parse(git) {
            Ok(parsed) => match parse_fields(major, minor) {
                Ok((major, minor)) if fields_given && (major, minor) != parsed.major_minor() => {
                    Ok(KubeVersion {
                        major,
                        minor,
                        patch: None,
                        ..parsed
                    })
                }
                _ => Ok(parsed),
            },
            Err(git_error) if !fields_given => Err(git_error),
            Err(git_error) => match parse_fields(major, minor) {
                Ok((major, minor)) => Ok(KubeVersion {
                    major,
                    minor,
                    patch: None,
                    distribution: parse_shape(git)
                        .map(|shape| detect_distribution(shape.pre, shape.build))
                        .unwrap_or(Distribution::Upstream),
                    git_version: Some(git.to_owned()),
                }),
                Err(field_error) => Err(KubeVersionError::Unusable {
                    git_version: Box::new(git_error),
                    fields: Box::new(field_error),
                }),
            },
        }
    }

    /// `(major, minor)`, the pair that decides compatibility.
    pub fn major_minor(&self) -> (u64, u64) {
        (self.major, self.minor)
    }
}

impl FromStr for KubeVersion {
    type Err = KubeVersionError;

    /// Same as [`KubeVersion::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for KubeVersion {
    /// `1.32.1`, or `1.32` when the patch is unknown; no `v`, no vendor suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(patch) => write!(f, "{}.{}.{}", self.major, self.minor, patch),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(s: &str) -> Shape<'_> {
        parse_shape(s).unwrap_or_else(|e| panic!("{s:?} should have a shape: {e}"))
    }

    #[test]
    fn shape_splits_core_pre_and_build() {
        assert_eq!(
            shape("v1.24.0-2+59bbb3530b6769"),
            Shape {
                major: 1,
                minor: 24,
                patch: Some(0),
                pre: Some("2"),
                build: Some("59bbb3530b6769"),
            }
        );
        assert_eq!(
            shape("1.29.4+k3s1"),
            Shape {
                major: 1,
                minor: 29,
                patch: Some(4),
                pre: None,
                build: Some("k3s1"),
            }
        );
        assert_eq!(
            shape("V1.32-eks-5e0fdde"),
            Shape {
                major: 1,
                minor: 32,
                patch: None,
                pre: Some("eks-5e0fdde"),
                build: None,
            }
        );
        // kcp: a pre-release with a dash inside, then build metadata.
        assert_eq!(
            shape("v0.2.3-1-g96ce0beb59c389+kcp"),
            Shape {
                major: 0,
                minor: 2,
                patch: Some(3),
                pre: Some("1-g96ce0beb59c389"),
                build: Some("kcp"),
            }
        );
    }

    #[test]
    fn numbers_are_plain_ascii_digits() {
        assert_eq!(parse_number("0"), Ok(0));
        assert_eq!(parse_number("007"), Ok(7));
        assert_eq!(parse_number(&u64::MAX.to_string()), Ok(u64::MAX));
        assert_eq!(
            parse_number("18446744073709551616"),
            Err(NumberError::TooLarge)
        );
        assert_eq!(parse_number(""), Err(NumberError::Empty));
        // `u64::from_str` would accept a leading '+'; a version must not.
        assert_eq!(parse_number("+5"), Err(NumberError::NotDigits));
        assert_eq!(parse_number("٣"), Err(NumberError::NotDigits));
        assert_eq!(parse_number(" 1"), Err(NumberError::NotDigits));
    }

    #[test]
    fn vendor_tokens_match_whole_tokens_only() {
        assert_eq!(vendor_token("k3s"), Some(Distribution::K3s));
        assert_eq!(vendor_token("k3s12"), Some(Distribution::K3s));
        assert_eq!(vendor_token("k3sx"), None);
        assert_eq!(vendor_token("rke2"), Some(Distribution::Rke2));
        assert_eq!(vendor_token("rke2r1"), Some(Distribution::Rke2));
        assert_eq!(vendor_token("rke"), None);
        assert_eq!(vendor_token("cce22"), Some(Distribution::Cce));
        assert_eq!(vendor_token("k0s"), Some(Distribution::K0s));
        assert_eq!(vendor_token("aliyun"), Some(Distribution::Ack));
        assert_eq!(vendor_token("weeks"), None);
        assert_eq!(vendor_token("gke1"), None);
        assert_eq!(vendor_token(""), None);
    }

    #[test]
    fn hashes_decide_openshift_and_microk8s() {
        assert_eq!(
            detect_distribution(None, Some("f1b5e0e")),
            Distribution::Openshift
        );
        assert_eq!(
            detect_distribution(None, Some("F1B5E0E")),
            Distribution::Openshift
        );
        // Six hex digits is too short to be a git hash here.
        assert_eq!(
            detect_distribution(None, Some("f1b5e0")),
            Distribution::Upstream
        );
        assert_eq!(
            detect_distribution(Some("2"), Some("59bbb3530b6769")),
            Distribution::Microk8s
        );
        // An upstream development build: pre-release is not a bare number.
        assert_eq!(
            detect_distribution(Some("alpha.0.123"), Some("8f1b3d7a6c5e4f")),
            Distribution::Upstream
        );
        assert_eq!(
            detect_distribution(Some("2"), Some("kcp")),
            Distribution::Upstream
        );
        assert_eq!(detect_distribution(None, None), Distribution::Upstream);
    }

    #[test]
    fn vendor_marker_beats_hash_shape() {
        // A token is stronger evidence than a hex-looking build.
        assert_eq!(
            detect_distribution(Some("eks"), Some("5e0fdde")),
            Distribution::Eks
        );
    }

    #[test]
    fn shown_cuts_long_input_on_char_boundary() {
        let long = "é".repeat(100);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown("v1.32.1"), "v1.32.1");
    }

    #[test]
    fn exact_error_messages() {
        let msg = |s: &str| KubeVersion::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("{gitVersion}"),
            r#""{gitVersion}" is an unsubstituted build placeholder, not a Kubernetes version (expected something like v1.32.1)"#
        );
        assert_eq!(
            msg("banana"),
            r#""banana" is not a Kubernetes version (expected MAJOR.MINOR[.PATCH], e.g. v1.32.1 or 1.32)"#
        );
        assert_eq!(
            msg("1.x"),
            r#""1.x" is not a Kubernetes version: minor "x" is not a number (expected MAJOR.MINOR[.PATCH], e.g. v1.32.1 or 1.32)"#
        );
        assert_eq!(
            msg("  "),
            "empty version string (expected something like v1.32.1 or 1.32)"
        );
        assert_eq!(
            msg("v0.2.3-1-g96ce0beb59c389+kcp"),
            r#""v0.2.3-1-g96ce0beb59c389+kcp" has major version 0, so it is not a Kubernetes version (expected major 1, e.g. v1.32.1)"#
        );
        assert_eq!(
            KubeVersion::from_fields(None, Some("1"), Some("x"))
                .unwrap_err()
                .to_string(),
            r#"minor field "x" is not a number (expected e.g. 32 or 32+)"#
        );
        assert_eq!(
            KubeVersion::from_fields(Some("banana"), Some("one"), Some("28"))
                .unwrap_err()
                .to_string(),
            r#""banana" is not a Kubernetes version (expected MAJOR.MINOR[.PATCH], e.g. v1.32.1 or 1.32); the major/minor fields cannot stand in for it: major field "one" is not a number (expected 1)"#
        );
    }

    #[test]
    fn control_characters_are_escaped_in_messages() {
        let err = KubeVersion::parse("v1.2.3-a\nb").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains(r"\n"), "{text}");
    }

    #[test]
    fn distribution_names_match_serde() {
        for d in Distribution::ALL {
            let json = format!("\"{}\"", d.as_str());
            assert_eq!(serde_json::to_string(&d).unwrap(), json);
            assert_eq!(d.to_string(), d.as_str());
        }
    }
}
