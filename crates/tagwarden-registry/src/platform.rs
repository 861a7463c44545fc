//! Platforms (`linux/arm64/v8`) and how they are compared.
//!
//! containerd normalises platforms before comparing them, and so does tagwarden:
//! `arm64` without a variant means `arm64/v8`, `arm` without a variant means `arm/v7`,
//! `aarch64` is `arm64` and `x86_64` is `amd64`. An index that lists `linux/arm64`
//! therefore satisfies a request for `linux/arm64/v8`, and the other way round.
//!
//! `--platform all` ([`Platform::all`]) asks for every platform an index lists: each
//! entry's manifest must exist, so a broken index is caught whatever its platforms.

use std::fmt;
use std::str::FromStr;

/// An OS/architecture/variant triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Build a platform and normalise it.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalize_arch(
            &architecture.to_ascii_lowercase(),
            variant
                .map(str::to_ascii_lowercase)
                .filter(|v| !v.is_empty()),
        );
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// Every platform an index lists (`--platform all`).
    pub fn all() -> Self {
        Self {
            os: "*".into(),
            architecture: "*".into(),
            variant: None,
        }
    }

    /// True for [`Platform::all`].
    pub fn is_all(&self) -> bool {
        self.os == "*" && self.architecture == "*"
    }

    /// True when `self` (what the user asked for) is satisfied by `offered`.
    pub fn matches(&self, offered: &Platform) -> bool {
        if self.is_all() {
            return true;
        }
        self.os == offered.os
            && self.architecture == offered.architecture
            && (self.variant.is_none() || self.variant == offered.variant)
    }
}

fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" | "amd64" => {
            // amd64 micro-architecture levels (v1..v4) are not distinguished here.
            ("amd64".into(), None)
        }
        "aarch64" | "arm64" => {
            let variant = match variant.as_deref() {
                None | Some("8") | Some("v8") => Some("v8".to_string()),
                _ => variant,
            };
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => {
            let variant = match variant.as_deref() {
                None | Some("7") => Some("v7".to_string()),
                Some("5") => Some("v5".to_string()),
                Some("6") => Some("v6".to_string()),
                Some("8") => Some("v8".to_string()),
                _ => variant,
            };
            ("arm".into(), variant)
        }
        "i386" | "i686" | "386" => ("386".into(), None),
        other => (other.to_string(), variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Error for a `--platform` value that is not `OS/ARCH[/VARIANT]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid platform \"{0}\": expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8, or all"
)]
pub struct PlatformError(pub String);

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Platform::all());
        }
        let parts: Vec<&str> = s.split('/').collect();
        let valid_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid_part) {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_implies_v8_as_containerd_does() {
        let asked: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(asked.to_string(), "linux/arm64/v8");
        assert!(asked.matches(&Platform::new("linux", "arm64", None)));
        assert!(asked.matches(&Platform::new("linux", "aarch64", Some("v8"))));
        assert!(!asked.matches(&Platform::new("linux", "amd64", None)));
        let v7: Platform = "linux/arm".parse().unwrap();
        assert_eq!(v7.to_string(), "linux/arm/v7");
        assert!(!v7.matches(&Platform::new("linux", "arm", Some("v6"))));
    }

    #[test]
    fn all_matches_everything() {
        let all: Platform = "all".parse().unwrap();
        assert!(all.is_all());
        assert_eq!(all.to_string(), "all");
        assert!(all.matches(&Platform::new("windows", "amd64", None)));
        assert!(!"linux/amd64".parse::<Platform>().unwrap().is_all());
    }

    #[test]
    fn bad_platforms_are_rejected() {
        for bad in [
            "linux",
            "",
            "linux/",
            "/amd64",
            "linux/amd64/v8/extra",
            "linux/am d64",
        ] {
            let err = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(err.contains("expected OS/ARCH"), "{bad}: {err}");
        }
    }
}
