//! Platforms (`linux/arm64/v8`): the one grammar every front end and the matrix file use,
//! and how a requested platform is compared with what an image index offers.
//!
//! # Grammar
//!
//! `OS/ARCH[/VARIANT]`, each part one or more of `[A-Za-z0-9_.-]`, compared case-insensitively,
//! or the word `all` ([`Platform::all`]): every platform an image index lists.
//!
//! # Normalisation
//!
//! containerd normalises platforms before comparing them, and so does tagwarden:
//! `arm64` without a variant means `arm64/v8`, `arm` without a variant means `arm/v7`,
//! `aarch64` is `arm64`, `x86_64` is `amd64`, `armhf` is `arm/v7`, `armel` is `arm/v6` and
//! `i386`/`i686` are `386`. An index that lists `linux/arm64` therefore satisfies a request for
//! `linux/arm64/v8`, and the other way round.
//!
//! ```
//! use tagwarden_core::platform::{Platform, parse_platforms};
//!
//! let asked = parse_platforms(["linux/arm64", "linux/aarch64/v8", "linux/amd64"])?;
//! // `linux/aarch64/v8` is `linux/arm64` again: each platform once, in first-seen order.
//! assert_eq!(asked.len(), 2);
//! assert_eq!(asked[0].to_string(), "linux/arm64/v8");
//! assert!(asked[0].matches(&Platform::new("linux", "arm64", None)));
//! assert!(parse_platforms(["linux"]).is_err());
//! # Ok::<(), tagwarden_core::platform::PlatformError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// An OS/architecture/variant triple, normalised (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The operating system, lower case: `linux`, `windows`; `*` for [`Platform::all`].
    pub os: String,
    /// The architecture, normalised: `amd64`, `arm64`, `arm`, `386`; `*` for [`Platform::all`].
    pub architecture: String,
    /// The variant, normalised: `v8` for `arm64`, `v7` for a bare `arm`; `None` when the
    /// architecture has none (or for `amd64`, whose micro-architecture levels are ignored).
    pub variant: Option<String>,
}

impl Platform {
    /// Builds a platform from its parts and normalises it.
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

    /// Parses `OS/ARCH[/VARIANT]` or `all`; the same as `text.parse::<Platform>()`.
    pub fn parse(text: &str) -> Result<Self, PlatformError> {
        text.parse()
    }

    /// Every platform an index lists (written `all`): each entry's manifest must exist, so a
    /// broken index is caught whatever its platforms.
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

    /// True when `self` (what the user asked for) is satisfied by `offered` (what an index
    /// lists). A request without a variant accepts any variant.
    pub fn matches(&self, offered: &Platform) -> bool {
        if self.is_all() {
            return true;
        }
        self.os == offered.os
            && self.architecture == offered.architecture
            && (self.variant.is_none() || self.variant == offered.variant)
    }
}

/// Parses a list of platforms (repeated command-line values, a matrix file's `platforms:`),
/// keeping each normalised platform once, in the order first given. The first invalid entry
/// is the error.
pub fn parse_platforms<I, S>(texts: I) -> Result<Vec<Platform>, PlatformError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<Platform> = Vec::new();
    for text in texts {
        let platform = Platform::parse(text.as_ref())?;
        if !out.contains(&platform) {
            out.push(platform);
        }
    }
    Ok(out)
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
    /// `os/arch[/variant]`, normalised (`linux/arm64/v8`), or `all`.
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

/// A platform that is not `OS/ARCH[/VARIANT]` or `all`; holds the text as given.
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
        assert_eq!(
            Platform::parse("Linux/X86_64").unwrap().to_string(),
            "linux/amd64"
        );
    }

    #[test]
    fn all_matches_everything() {
        let all: Platform = "all".parse().unwrap();
        assert!(all.is_all());
        assert_eq!(all.to_string(), "all");
        assert!(all.matches(&Platform::new("windows", "amd64", None)));
        assert!(!"linux/amd64".parse::<Platform>().unwrap().is_all());
        assert_eq!(Platform::parse("ALL").unwrap(), Platform::all());
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
            assert!(err.contains(&format!("\"{bad}\"")), "{bad}: {err}");
        }
    }

    #[test]
    fn lists_keep_each_normalised_platform_once_in_order() {
        let list = parse_platforms([
            "linux/amd64",
            "linux/arm64",
            "linux/x86_64",
            "linux/arm64/v8",
            "all",
            "ALL",
        ])
        .unwrap();
        let shown: Vec<String> = list.iter().map(Platform::to_string).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64/v8", "all"]);
        assert!(parse_platforms(Vec::<String>::new()).unwrap().is_empty());
        let err = parse_platforms(["linux/amd64", "linux", "bad/"]).unwrap_err();
        assert_eq!(err, PlatformError("linux".into()));
    }
}
