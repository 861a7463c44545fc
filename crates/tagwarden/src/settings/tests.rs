//! The order of precedence, setting by setting: flag, then environment, then the config
//! file, then the default.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use tagwarden_cluster::FleetChoice;
use tagwarden_core::{FallbackPolicy, KubeVersion, Prefer};
use tagwarden_registry::DiskCacheLocation;

use super::*;
use crate::cli::Cli;

/// Tests that set a variable clap reads hold this, so no other test here sees it.
static PROCESS_ENV: Mutex<()> = Mutex::new(());

/// The settings of `tagwarden ARGS` in an environment that holds only `env`.
fn settings_of(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, Failure> {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("tagwarden").chain(args.iter().copied()))
        .expect("a valid command line");
    let cli = Cli::from_arg_matches(&matches).expect("a valid command line");
    Settings::from_sources(&cli.low_args(), &matches, |name| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    })
}

fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("tagwarden.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn max_skew_and_prefer_come_from_the_flag_then_the_file_then_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), "policy:\n  max_skew: 2\n  prefer: newer\n");
    let fallback = |args: &[&str]| settings_of(args, &[]).unwrap().policy.fallback;

    let flags = fallback(&[
        "check",
        "--config",
        &file,
        "--max-skew",
        "0",
        "--prefer",
        "older",
    ]);
    assert_eq!((flags.max_skew, flags.prefer), (0, Prefer::Older));
    let from_file = fallback(&["check", "--config", &file]);
    assert_eq!((from_file.max_skew, from_file.prefer), (2, Prefer::Newer));
    // One from each: the flag where given, the file for the other.
    let mixed = fallback(&["scan", "--config", &file, "--prefer", "older"]);
    assert_eq!((mixed.max_skew, mixed.prefer), (2, Prefer::Older));
    assert_eq!(fallback(&["check"]), FallbackPolicy::default());
    // resolve reads the file's policy as the other commands do.
    let resolve = fallback(&["resolve", "x/y:v1", "--config", &file, "--max-skew", "1"]);
    assert_eq!((resolve.max_skew, resolve.prefer), (1, Prefer::Newer));
}

#[test]
fn track_rules_add_the_flags_to_the_file_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), "policy:\n  track: [clastix/kubectl]\n");
    let settings = settings_of(
        &["check", "--config", &file, "--track", "ghcr.io/org/*"],
        &[],
    );
    assert_eq!(settings.unwrap().policy.rules.len(), 2);
    let bad = settings_of(&["check", "--track", "clastix/kubectl:v1"], &[]).unwrap_err();
    assert!(bad.error().to_string().starts_with("--track: "), "{bad:?}");
    // A command that decides no fallbacks never reads policy: (nor fails on it).
    let bad_file = config_file(dir.path(), "policy:\n  track: [\"a:b\"]\n");
    let gaps = [
        "gaps",
        "--image",
        "x/y",
        "--versions",
        "1.32",
        "--config",
        &bad_file,
    ];
    assert!(settings_of(&gaps, &[]).is_ok());
    let refused = settings_of(&["scan", "--config", &bad_file], &[]).unwrap_err();
    assert!(
        refused
            .error()
            .to_string()
            .starts_with("config policy.track: "),
        "{refused:?}"
    );
}

#[test]
fn the_kube_version_comes_from_the_flag_then_the_environment_typed() {
    let env = [("TAGWARDEN_KUBE_VERSION", "v1.31.2-eks-1")];
    let version =
        |args: &[&str], env: &[(&str, &str)]| settings_of(args, env).unwrap().kube.version;
    let flag = version(&["check", "--kube-version", "1.33"], &env).unwrap();
    assert_eq!(flag, KubeVersion::parse("1.33").unwrap());
    let from_env = version(&["check"], &env).unwrap();
    assert_eq!(from_env, KubeVersion::parse("v1.31.2-eks-1").unwrap());
    assert_eq!(version(&["check"], &[]), None);
    // `check --cluster` is `scan -A`: its version is an upgrade's target, never the
    // environment's; neither is scan's nor resolve's.
    assert_eq!(version(&["check", "--cluster"], &env), None);
    assert_eq!(version(&["scan"], &env), None);
    assert_eq!(version(&["resolve", "x/y:v1"], &env), None);
    let bad = settings_of(&["check"], &[("TAGWARDEN_KUBE_VERSION", "banana")]).unwrap_err();
    assert!(
        bad.error()
            .to_string()
            .starts_with("TAGWARDEN_KUBE_VERSION: "),
        "{bad:?}"
    );
    let bad = settings_of(&["scan", "--kube-version", "banana"], &env).unwrap_err();
    assert!(
        bad.error().to_string().starts_with("--kube-version: "),
        "{bad:?}"
    );
}

#[test]
fn the_cluster_context_comes_from_the_flag_then_helm() {
    let helm = [("HELM_KUBECONTEXT", "from-helm")];
    let context = |args: &[&str]| settings_of(args, &helm).unwrap().kube.cluster.context;
    assert_eq!(
        context(&["post-render", "--context", "typed"]).as_deref(),
        Some("typed")
    );
    assert_eq!(context(&["post-render"]).as_deref(), Some("from-helm"));
    assert!(
        settings_of(&["kube-version", "--context", "c"], &[])
            .unwrap()
            .kube
            .cluster_given
    );
}

#[test]
fn several_contexts_or_all_of_them_make_a_fleet_only_where_a_fleet_is_read() {
    let kube = |args: &[&str]| settings_of(args, &[]).unwrap().kube;
    let two = kube(&["scan", "--context", "a", "--context", "b"]);
    assert_eq!(
        two.fleet,
        Some(FleetChoice {
            contexts: vec!["a".into(), "b".into()],
            all: false
        })
    );
    let all = kube(&["scan", "--all-contexts"]).fleet.unwrap();
    assert!(all.all && all.contexts.is_empty());
    // One context is the one-cluster scan, as before.
    let one = kube(&["scan", "--context", "a"]);
    assert_eq!(
        (one.fleet, one.cluster.context.as_deref()),
        (None, Some("a"))
    );
    assert!(
        kube(&["check", "--cluster", "--context", "a", "--context", "b"])
            .fleet
            .is_some()
    );
    let refused =
        settings_of(&["check", "-", "--context", "a", "--context", "b"], &[]).unwrap_err();
    assert!(
        refused.error().to_string().contains("reads one cluster"),
        "{}",
        refused.error()
    );
}

#[test]
fn plus_n_is_minors_ahead_for_cluster_scans_and_refused_elsewhere() {
    let scan = settings_of(&["scan", "--kube-version", "+2"], &[])
        .unwrap()
        .kube;
    assert_eq!((scan.minors_ahead, scan.version), (Some(2), None));
    let bad = settings_of(&["scan", "--kube-version", "+x"], &[]).unwrap_err();
    assert!(
        bad.error().to_string().contains("+N takes a whole number"),
        "{}",
        bad.error()
    );
    for args in [
        &["check", "-", "--kube-version", "+1"][..],
        &["post-render", "--kube-version", "+1"],
        &["resolve", "a/b:v1", "--kube-version", "+1"],
    ] {
        assert!(settings_of(args, &[]).is_err(), "{args:?}");
    }
}

#[test]
fn client_settings_come_from_the_flag_then_the_environment_then_the_file_then_the_default() {
    let _env = PROCESS_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(
        dir.path(),
        "registries:\n  insecure: [file.local:5000]\ncache:\n  ttl: 0\n",
    );
    // SAFETY: the tests that set a variable clap reads hold PROCESS_ENV; no other thread
    // of this test binary reads TAGWARDEN_REGISTRY_CONFIG.
    unsafe { std::env::set_var("TAGWARDEN_REGISTRY_CONFIG", "/from/env.json") };
    let flag = settings_of(
        &["resolve", "x/y:v1", "--registry-config", "/from/flag.json"],
        &[],
    );
    let env = settings_of(&["resolve", "x/y:v1"], &[]);
    unsafe { std::env::remove_var("TAGWARDEN_REGISTRY_CONFIG") };
    assert_eq!(
        flag.unwrap().client.registry_config.as_deref(),
        Some(Path::new("/from/flag.json"))
    );
    assert_eq!(
        env.unwrap().client.registry_config.as_deref(),
        Some(Path::new("/from/env.json"))
    );

    let client = settings_of(
        &[
            "check",
            "--config",
            &file,
            "--insecure-registry",
            "flag.local",
            "--timeout",
            "5",
        ],
        &[],
    )
    .unwrap()
    .client;
    assert_eq!(client.request_timeout, Duration::from_secs(5));
    assert_eq!(client.insecure_registries, ["flag.local"]);
    assert_eq!(
        client.file.registries.insecure,
        ["file.local:5000"],
        "added when built"
    );
    assert_eq!(
        client.file.cache_ttl(),
        Duration::ZERO,
        "the file over the default TTL"
    );
    let defaults = settings_of(&["check"], &[]).unwrap().client;
    assert_eq!(defaults.request_timeout, Duration::from_secs(30));
    assert_eq!(defaults.disk, DiskCacheLocation::Default);
    assert_eq!(
        defaults.file.cache_ttl(),
        tagwarden_registry::cache::DEFAULT_TTL
    );
    let no_cache = settings_of(&["check", "--no-cache"], &[]).unwrap().client;
    assert_eq!(
        no_cache.disk,
        DiskCacheLocation::Off,
        "the flag over the file"
    );
}

#[test]
fn the_file_is_read_only_by_commands_that_take_it() {
    let dir = tempfile::tempdir().unwrap();
    let broken = config_file(dir.path(), "cache:\n  ttl: -5\n");
    let error = settings_of(&["check", "--config", &broken], &[]).unwrap_err();
    assert!(
        error
            .error()
            .to_string()
            .ends_with(":2:8: expected a whole number, 0 or more; found -5"),
        "{error:?}"
    );
    assert!(settings_of(&["kube-version", "v1.32.0"], &[]).is_ok());
    assert!(settings_of(&["matrix", "show", "-f", "m.yaml"], &[]).is_ok());
}

#[test]
fn given_names_the_flags_typed_not_the_defaults() {
    let _env = PROCESS_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let settings = settings_of(&["serve", "--present-interval", "5"], &[]).unwrap();
    assert!(settings.given.contains("present_interval"));
    assert!(
        !settings.given.contains("failing_interval"),
        "{:?}",
        settings.given
    );
    assert!(!settings.given.contains("listen"), "{:?}", settings.given);
}
