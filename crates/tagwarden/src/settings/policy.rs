//! Which images track the Kubernetes version ([`tagwarden_core::track`]) and the fallback
//! policy ([`tagwarden_core::policy`]): `--track` adds to the file's `policy.track`;
//! `--max-skew` and `--prefer` win over the file's `policy.max_skew` and `policy.prefer`,
//! which win over the defaults (±1 minor, older first).

use anyhow::anyhow;
use tagwarden_core::config::PolicyConfig;
use tagwarden_core::{FallbackPolicy, KubeVersion, Prefer, TrackRule, Tracking};
use tagwarden_registry::{InspectOptions, Platform};

use crate::cli::LowArgs;
use crate::exit::Failure;

/// The policy of every command that decides about fallbacks; the Kubernetes version it
/// tracks comes later, where the command learns it (a flag, or the live cluster).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySettings {
    /// Repositories that track the version whatever their tags look like: `--track`,
    /// then the file's.
    pub rules: Vec<TrackRule>,
    /// Skew window and preference.
    pub fallback: FallbackPolicy,
}

impl PolicySettings {
    /// Flags first, then the config file's `policy:`, then the defaults.
    pub(super) fn new(low: &LowArgs<'_>, file: &PolicyConfig) -> Result<PolicySettings, Failure> {
        let mut rules = Vec::new();
        for text in low.track {
            rules.push(
                TrackRule::parse(text).map_err(|e| Failure::bad_input(anyhow!("--track: {e}")))?,
            );
        }
        rules.extend(
            file.track_rules()
                .map_err(|e| Failure::bad_input(anyhow!("config policy.track: {e}")))?,
        );
        Ok(PolicySettings {
            rules,
            fallback: file.fallback_policy(low.max_skew, low.prefer.map(Prefer::from)),
        })
    }

    /// What tracks the Kubernetes version `kube_version` (`None`: only the rules).
    pub fn tracking(&self, kube_version: Option<KubeVersion>) -> Tracking {
        Tracking {
            kube_version,
            rules: self.rules.clone(),
        }
    }

    /// What the library asks about every image under this policy, at `kube_version`, for
    /// `platforms`.
    pub fn inspect_options(
        &self,
        kube_version: Option<KubeVersion>,
        platforms: Vec<Platform>,
    ) -> InspectOptions {
        InspectOptions {
            tracking: self.tracking(kube_version),
            fallback: self.fallback,
            platforms,
            ..InspectOptions::default()
        }
    }
}
