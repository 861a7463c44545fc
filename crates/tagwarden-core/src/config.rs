//! The config file's `policy:` section, which this crate owns (it decides tracking and
//! fallbacks), and the one rule every section's numbers follow ([`whole_number`]).
//!
//! ```yaml
//! policy:                                  # which tags follow the Kubernetes version
//!   track: [docker.io/clastix/kubectl, "ghcr.io/org/*"]
//!   max_skew: 1                            # minors a fallback may be away
//!   prefer: older                          # older|newer
//! ```
//!
//! The file itself is read by the front end, which composes each crate's section (the
//! registry crate's `registries:`, `mirrors:` and `cache:`, the cluster crate's `serve:`).
//! Every section refuses unknown keys, so a typo never silently disables a setting.

use serde::{Deserialize, Deserializer};

use crate::policy::{FallbackPolicy, Prefer};
use crate::track::{TrackRule, TrackRuleError};

/// `policy:`: which images follow the Kubernetes version, and how far a fallback may stray.
/// Command-line flags win over these.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Repositories whose tag tracks the Kubernetes version, whatever the tag looks like:
    /// `docker.io/clastix/kubectl`, `clastix/kubectl` (Docker Hub, normalised),
    /// `ghcr.io/org/*` (`*` matches any run of characters, `/` included).
    #[serde(default)]
    pub track: Vec<String>,
    /// Minors a fallback may be away from the wanted tag (default 1).
    #[serde(default, deserialize_with = "whole_number")]
    pub max_skew: Option<u64>,
    /// Which side to try first once the wanted minor has nothing (default older).
    pub prefer: Option<PreferConfig>,
}

impl PolicyConfig {
    /// The `track` rules, parsed.
    pub fn track_rules(&self) -> Result<Vec<TrackRule>, TrackRuleError> {
        self.track
            .iter()
            .map(|text| TrackRule::parse(text))
            .collect()
    }

    /// The fallback policy: the overrides (a front end's flags) first, then this section,
    /// then the defaults ([`FallbackPolicy::default`]: ±1 minor, older first).
    pub fn fallback_policy(&self, max_skew: Option<u64>, prefer: Option<Prefer>) -> FallbackPolicy {
        let defaults = FallbackPolicy::default();
        FallbackPolicy {
            max_skew: max_skew.or(self.max_skew).unwrap_or(defaults.max_skew),
            prefer: prefer
                .or(self.prefer.map(Prefer::from))
                .unwrap_or(defaults.prefer),
        }
    }
}

/// `policy.prefer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferConfig {
    /// Try older minors first.
    Older,
    /// Try newer minors first.
    Newer,
}

impl From<PreferConfig> for Prefer {
    fn from(prefer: PreferConfig) -> Prefer {
        match prefer {
            PreferConfig::Older => Prefer::Older,
            PreferConfig::Newer => Prefer::Newer,
        }
    }
}

/// A whole, non-negative number (seconds, minors), with a message that says so: the rule
/// of every number in the config file, whichever crate owns its section.
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Whole(i64),
        Fraction(f64),
        Text(String),
    }
    let found = match Option::<Number>::deserialize(deserializer) {
        Ok(None) => return Ok(None),
        Ok(Some(Number::Whole(n))) if n >= 0 => return Ok(Some(n as u64)),
        Ok(Some(Number::Whole(n))) => n.to_string(),
        Ok(Some(Number::Fraction(x))) => x.to_string(),
        Ok(Some(Number::Text(t))) => format!("\"{t}\""),
        Err(_) => "something else".to_string(),
    };
    Err(serde::de::Error::custom(format!(
        "expected a whole number, 0 or more; found {found}"
    )))
}

/// [`whole_number`] for a key that must be there.
pub fn required_whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    whole_number(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("a whole number is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PolicyConfig, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    #[test]
    fn the_section_becomes_track_rules_and_a_fallback_policy() {
        let policy = parse("track: [clastix/kubectl]\nmax_skew: 2\nprefer: newer\n").unwrap();
        let rules = policy.track_rules().unwrap();
        let kubectl = crate::Reference::parse("docker.io/clastix/kubectl:v1").unwrap();
        assert!(rules.len() == 1 && rules[0].matches(&kubectl));
        // The section over the defaults, the front end's flags over the section.
        let from_file = policy.fallback_policy(None, None);
        assert_eq!((from_file.max_skew, from_file.prefer), (2, Prefer::Newer));
        let flags = policy.fallback_policy(Some(0), Some(Prefer::Older));
        assert_eq!((flags.max_skew, flags.prefer), (0, Prefer::Older));
        let empty = PolicyConfig::default().fallback_policy(None, None);
        assert_eq!(empty, FallbackPolicy::default());
        let bad = parse("track: [\"clastix/kubectl:v1.32\"]\n").unwrap();
        assert!(bad.track_rules().is_err(), "a tag is not a repository");
    }

    #[test]
    fn numbers_are_whole_and_unknown_keys_refused() {
        let text = parse("max_skew: -1\n").unwrap_err().to_string();
        assert!(
            text.contains("expected a whole number, 0 or more; found -1"),
            "{text}"
        );
        let text = parse("max_skew: \"two\"\n").unwrap_err().to_string();
        assert!(text.contains("found \"two\""), "{text}");
        let text = parse("max_skwe: 1\n").unwrap_err().to_string();
        assert!(text.contains("max_skwe"), "{text}");
    }
}
