//! The config file's `serve:` section: how `tagwarden serve` watches and checks. The front
//! end reads the file and composes the sections (this one, the registry crate's, core's
//! `policy:`); flags and environment variables win over these. Durations are whole
//! seconds; unknown keys are refused.
//!
//! ```yaml
//! serve:
//!   listen: 0.0.0.0:8080
//!   namespaces: [shop]
//!   skip_namespaces: [sandbox]
//!   present_interval: 3600          # seconds between checks of a present image
//!   failing_interval: 300           # ... of a missing one
//!   undetermined_max_backoff: 1800  # the longest wait after "could not decide"
//!   version_interval: 60            # seconds between reads of /version
//!   budgets:
//!     docker.io: {requests: 600, window: 3600}
//!   shared_cache: redis://redis.tagwarden:6379   # the password: a file or the environment
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use tagwarden_core::config::{required_whole_number, whole_number};

/// `serve:`. `Default` is the empty section.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Where the endpoints listen (`0.0.0.0:8080`).
    pub listen: Option<String>,
    /// Namespaces to watch (default: every namespace).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces to ignore.
    #[serde(default)]
    pub skip_namespaces: Vec<String>,
    /// Seconds between checks of a present image
    /// (default [`crate::monitor::PRESENT_EVERY`]).
    #[serde(default, deserialize_with = "whole_number")]
    pub present_interval: Option<u64>,
    /// Seconds between checks of a missing or invalid image
    /// (default [`crate::monitor::FAILING_EVERY`]).
    #[serde(default, deserialize_with = "whole_number")]
    pub failing_interval: Option<u64>,
    /// The longest wait, in seconds, before an image that could not be checked is asked
    /// again (the wait doubles up to this; default [`crate::monitor::UNDETERMINED_BACKOFF`]).
    #[serde(default, deserialize_with = "whole_number")]
    pub undetermined_max_backoff: Option<u64>,
    /// Seconds between reads of the cluster's `/version`
    /// (default [`super::VERSION_INTERVAL`]).
    #[serde(default, deserialize_with = "whole_number")]
    pub version_interval: Option<u64>,
    /// Registry (`docker.io`) → the requests it may get per window.
    #[serde(default)]
    pub budgets: BTreeMap<String, BudgetConfig>,
    /// The Redis (or Valkey) every serve of a fleet shares answers and budgets through
    /// (`redis://…`, `rediss://…`); `serve --shared-cache` wins over it.
    pub shared_cache: Option<String>,
}

/// `serve.budgets.REGISTRY`: at most `requests` registry requests every `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Requests allowed per window (HEADs and GETs; token requests are not counted).
    #[serde(deserialize_with = "required_whole_number")]
    pub requests: u64,
    /// The window, in seconds.
    #[serde(deserialize_with = "required_whole_number")]
    pub window: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_section_parses_and_typos_are_refused() {
        let serve: ServeConfig = serde_saphyr::from_str(
            "listen: 0.0.0.0:8080\nnamespaces: [shop]\npresent_interval: 3600\nbudgets:\n  docker.io: {requests: 600, window: 3600}\nshared_cache: redis://127.0.0.1:6379\n",
        )
        .unwrap();
        assert_eq!(serve.listen.as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(
            serve.shared_cache.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(serve.present_interval, Some(3600));
        assert_eq!(
            serve.budgets["docker.io"],
            BudgetConfig {
                requests: 600,
                window: 3600
            }
        );
        let typo = serde_saphyr::from_str::<ServeConfig>("present_intervall: 1\n").unwrap_err();
        assert!(typo.to_string().contains("present_intervall"), "{typo}");
        let missing =
            serde_saphyr::from_str::<ServeConfig>("budgets:\n  docker.io: {requests: 1}\n")
                .unwrap_err();
        assert!(missing.to_string().contains("window"), "{missing}");
    }
}
