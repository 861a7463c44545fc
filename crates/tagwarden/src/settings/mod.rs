//! What a command runs with, built once in `main` (ripgrep's `LowArgs` → `HiArgs`): the
//! command line ([`crate::cli`]), then the environment, then the config file (read once,
//! [`crate::config`]), then the defaults, in that order of precedence. Commands receive a
//! [`Settings`] and never read the flags, the environment or the file again.
//!
//! - [`ClientSettings`]: how the registry client is built (the registry options and the
//!   file's `registries:`, `mirrors:`, `cache:`).
//! - [`PolicySettings`]: track rules and the fallback policy (`--track`, `--max-skew`,
//!   `--prefer`, then the file's `policy:`, then ±1 minor, older first).
//! - [`KubeSettings`]: the Kubernetes version given (typed, parsed once) and how to reach
//!   the cluster.
//! - `output`: the command's own `-o` type, so that a command can only be handed a format
//!   it writes (clap offers each command only its own).
//! - `serve` and [`Given`]: the file's `serve:` section, and which flags were typed or set
//!   in the environment, so that `serve` can put the file between them and the defaults.

mod client;
pub mod kube;
mod policy;

use std::collections::BTreeSet;

use anyhow::anyhow;
use clap::ArgMatches;
use clap::parser::ValueSource;
use tagwarden_cluster::serve::ServeConfig;

pub use client::ClientSettings;
pub use kube::KubeSettings;
pub use policy::PolicySettings;

use crate::cli::{Cli, LowArgs};
use crate::config::Config;
use crate::exit::Failure;

/// Everything a command runs with; `O` is its `-o` type (`()` without one).
#[derive(Debug)]
pub struct Settings<O = ()> {
    /// The output format, of the command's own type.
    pub output: O,
    /// How the registry client is built.
    pub client: ClientSettings,
    /// Which images track the Kubernetes version, and how far a fallback may stray.
    pub policy: PolicySettings,
    /// The Kubernetes version given, and the cluster.
    pub kube: KubeSettings,
    /// The config file's `serve:` section (empty for other commands).
    pub serve: ServeConfig,
    /// Which of the command's flags were given (typed, or from the environment) rather
    /// than left at their defaults.
    pub given: Given,
}

impl Settings {
    /// The settings of the command `cli` holds; `matches` says which values clap took from
    /// its defaults. Bad values (a config file, `--track`, `--kube-version`) are exit 2.
    pub fn new(cli: &Cli, matches: &ArgMatches) -> Result<Settings, Failure> {
        Self::from_sources(&cli.low_args(), matches, |name| std::env::var(name).ok())
    }

    /// [`Settings::new`] from the command line's shared parts and an environment.
    fn from_sources(
        low: &LowArgs<'_>,
        matches: &ArgMatches,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, Failure> {
        // The file is read only by commands that take --config (the registry options).
        let file = match low.registry.and_then(|registry| registry.config.as_deref()) {
            Some(path) => Config::load(path).map_err(|e| Failure::bad_input(anyhow!(e)))?,
            None => Config::default(),
        };
        let policy = if low.decides_fallbacks {
            PolicySettings::new(low, &file.policy)?
        } else {
            PolicySettings::default()
        };
        Ok(Settings {
            output: (),
            client: ClientSettings::new(&low.registry_or_defaults(), file.registry),
            policy,
            kube: KubeSettings::new(low, env)?,
            serve: file.serve,
            given: Given::of(matches),
        })
    }

    /// These settings for a command whose `-o` is `output`.
    pub fn with_output<O>(self, output: O) -> Settings<O> {
        Settings {
            output,
            client: self.client,
            policy: self.policy,
            kube: self.kube,
            serve: self.serve,
            given: self.given,
        }
    }
}

/// The flags of the command (the innermost subcommand) that were typed or came from the
/// environment: for a setting the config file may also hold, the file wins over clap's
/// default but not over these.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Given(BTreeSet<String>);

impl Given {
    fn of(matches: &ArgMatches) -> Given {
        let mut matches = matches;
        while let Some((_, inner)) = matches.subcommand() {
            matches = inner;
        }
        Given(
            matches
                .ids()
                .filter(|id| {
                    matches!(
                        matches.value_source(id.as_str()),
                        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                    )
                })
                .map(|id| id.to_string())
                .collect(),
        )
    }

    /// Whether the flag whose clap id is `id` (the field name: `present_interval`) was
    /// given.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }

    /// `value` when the flag `id` was given, else `None`.
    pub fn value<T>(&self, id: &str, value: T) -> Option<T> {
        self.contains(id).then_some(value)
    }

    #[cfg(test)]
    pub fn these(ids: &[&str]) -> Given {
        Given(ids.iter().map(|id| id.to_string()).collect())
    }
}

#[cfg(test)]
mod tests;
