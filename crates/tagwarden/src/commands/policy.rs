//! The flags every command that decides about fallbacks shares (`resolve` takes the skew
//! and preference; `check`, `post-render`, `scan` and `serve` all of them), turned into the
//! library's types: which images track the Kubernetes version
//! ([`tagwarden_core::track`]) and the fallback policy ([`tagwarden_core::policy`]).
//!
//! Flags come first, then the config file, then the defaults (±1 minor, older first).

use anyhow::anyhow;
use tagwarden_core::{FallbackPolicy, KubeVersion, Prefer, TrackRule, Tracking};
use tagwarden_registry::{InspectOptions, Platform};

use crate::config::Config;
use crate::exit::Failure;

/// Everything `check` and `post-render` need to decide about fallbacks.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Which images track the Kubernetes version.
    pub tracking: Tracking,
    /// Skew window and preference for fallbacks.
    pub fallback: FallbackPolicy,
}

/// The fallback-policy flags of every command that decides about fallbacks (`check`,
/// `post-render`, `scan`, `serve`), declared once and flattened into each.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PolicyArgs {
    /// A repository whose tag tracks the Kubernetes version whatever it looks like
    /// (docker.io/clastix/kubectl, 'ghcr.io/org/*'); repeatable. Adds to the config's
    /// policy.track.
    #[arg(long = "track", value_name = "REPOSITORY")]
    pub track: Vec<String>,

    /// How many minor versions a fallback may be away from the wanted tag (default: the
    /// config's policy.max_skew, else 1).
    #[arg(long, value_name = "N")]
    pub max_skew: Option<u64>,

    /// Which side to try first once the wanted minor has nothing (default: the config's
    /// policy.prefer, else older).
    #[arg(long, value_enum)]
    pub prefer: Option<PreferArg>,
}

/// `--prefer`: which side a fallback is tried on first once the wanted minor has nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PreferArg {
    Older,
    Newer,
}

impl From<PreferArg> for Prefer {
    fn from(prefer: PreferArg) -> Prefer {
        match prefer {
            PreferArg::Older => Prefer::Older,
            PreferArg::Newer => Prefer::Newer,
        }
    }
}

/// The policy flags as given, with the Kubernetes version the command works at (parsed
/// once, where it was read).
pub struct PolicyFlags<'a> {
    pub kube_version: Option<&'a KubeVersion>,
    pub args: &'a PolicyArgs,
}

impl Policy {
    /// Flags first, then the config file, then the defaults (±1 minor, older first).
    pub fn from_flags(flags: &PolicyFlags<'_>, config: &Config) -> Result<Policy, Failure> {
        let kube_version = flags.kube_version.cloned();
        let mut rules = Vec::new();
        for text in &flags.args.track {
            rules.push(
                TrackRule::parse(text).map_err(|e| Failure::bad_input(anyhow!("--track: {e}")))?,
            );
        }
        rules.extend(
            config
                .policy
                .track_rules()
                .map_err(|e| Failure::bad_input(anyhow!("config policy.track: {e}")))?,
        );
        let prefer = flags.args.prefer.map(Prefer::from);
        Ok(Policy {
            tracking: Tracking {
                kube_version,
                rules,
            },
            fallback: config.policy.fallback_policy(flags.args.max_skew, prefer),
        })
    }

    /// What the library asks about every image under this policy and these platforms.
    pub fn inspect_options(&self, platforms: Vec<Platform>) -> InspectOptions {
        InspectOptions {
            tracking: self.tracking.clone(),
            fallback: self.fallback,
            platforms,
            ..InspectOptions::default()
        }
    }
}
