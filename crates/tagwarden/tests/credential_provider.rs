//! `--image-credential-provider-config` and `--image-credential-provider-bin-dir` end to
//! end: the real binary, the htpasswd registry, and the testbed's shell-script plugin
//! speaking the kubelet's exec protocol.

use std::path::Path;

use crate::common::{Run, tagwarden, tagwarden_stdin_in};
use tagwarden_testbed::credential_plugin::FAIL_MESSAGE;
use tagwarden_testbed::{
    CredentialPlugin, ManifestKind, Platform, PluginBehaviour, Registry, RegistryMode,
};

/// The htpasswd registry with `private/app:1.0`, `private/app:1.1`, `public/tool:1.0` and
/// `private/kubectl:v1.31`.
fn private_registry() -> Registry {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeder = registry.seeder();
    for (name, tag) in [
        ("private/app", "1.0"),
        ("private/app", "1.1"),
        ("public/tool", "1.0"),
        ("private/kubectl", "v1.31"),
    ] {
        seeder.push_image(name, tag, ManifestKind::Oci, &[Platform::linux_amd64()]);
    }
    registry
}

/// A plugin that answers with the registry's user and password.
fn answering(registry: &Registry, key_type: &str, duration: Option<&str>) -> CredentialPlugin {
    let (user, password) = registry.credentials();
    CredentialPlugin::builder("test-credential-provider")
        .auth(registry.addr(), &user, &password)
        .cache(key_type, duration)
        .expect_image_prefix(registry.addr())
        .start()
}

/// `args`, plus the registry's CA and the plugin flags.
fn run_with_plugin(
    registry: &Registry,
    plugin: &CredentialPlugin,
    config: &Path,
    args: &[&str],
) -> Run {
    let ca = registry
        .ca_cert_path()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--ca-file",
        &ca,
        "--image-credential-provider-config",
        config.to_str().unwrap(),
        "--image-credential-provider-bin-dir",
        plugin.bin_dir().to_str().unwrap(),
    ]);
    tagwarden(&all)
}

/// A Deployment with these images, as a file in `dir`.
fn manifest(dir: &Path, images: &[String]) -> String {
    let containers: String = images
        .iter()
        .enumerate()
        .map(|(i, image)| format!("        - name: c{i}\n          image: {image}\n"))
        .collect();
    let path = dir.join("deployment.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn assert_no_secret(registry: &Registry, run: &Run) {
    let (_, password) = registry.credentials();
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(&password), "the password leaked: {run:?}");
    }
}

#[test]
fn the_plugin_opens_a_private_image_that_is_denied_without_it() {
    let registry = private_registry();
    let plugin = answering(&registry, "Registry", Some("1h"));
    let config = plugin.write_config(&[registry.addr()], "0");
    let image = format!("{}/private/app:1.0", registry.addr());
    let ca = registry.ca_cert_path().unwrap().to_str().unwrap();

    let denied = tagwarden(&["resolve", &image, "--ca-file", ca]);
    assert_eq!(denied.code, 3, "could not decide: {denied:?}");
    assert!(denied.stderr.contains("denied"), "{denied:?}");

    let run = run_with_plugin(
        &registry,
        &plugin,
        &config,
        &["resolve", &image, "-o", "json", "--debug"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["tag"], "1.0", "{run:?}");
    // --debug names the source, never the secret.
    let source = format!(
        "credential provider test-credential-provider (from {})",
        config.display()
    );
    assert!(run.stderr.contains(&source), "{run:?}");
    assert_no_secret(&registry, &run);
    let requests = plugin.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0]["image"],
        format!("{}/private/app", registry.addr())
    );
    assert_eq!(requests[0]["kind"], "CredentialProviderRequest");
}

#[test]
fn post_render_repairs_a_private_image_with_the_plugin() {
    let registry = private_registry();
    let plugin = answering(&registry, "Registry", Some("1h"));
    let config = plugin.write_config(&[registry.addr()], "0");
    let ca = registry
        .ca_cert_path()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    // v1.32 is not published: the repair is v1.31, if the registry lets us look.
    let wanted = format!("{}/private/kubectl:v1.32", registry.addr());
    let file = manifest(dir.path(), std::slice::from_ref(&wanted));
    let input = std::fs::read_to_string(&file).unwrap();
    let home = tempfile::tempdir().unwrap();
    let post_render = |extra: &[&str]| {
        let mut args = vec!["post-render", "--kube-version", "1.32", "--ca-file", &ca];
        args.extend(extra);
        tagwarden_stdin_in(&args, input.as_bytes(), home.path(), &[])
    };

    let denied = post_render(&[]);
    assert_eq!(
        denied.code, 3,
        "could not decide without the plugin: {denied:?}"
    );
    let run = post_render(&[
        "--image-credential-provider-config",
        config.to_str().unwrap(),
        "--image-credential-provider-bin-dir",
        plugin.bin_dir().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let repaired = input.replace(
        &wanted,
        &format!("{}/private/kubectl:v1.31", registry.addr()),
    );
    assert_eq!(run.stdout, repaired, "only the image scalar changes");
    assert_no_secret(&registry, &run);
    assert_eq!(plugin.runs(), 1);
}

#[test]
fn check_asks_the_plugin_once_per_registry_or_image_as_it_says() {
    let registry = private_registry();
    let dir = tempfile::tempdir().unwrap();
    let addr = registry.addr();
    let images = [
        format!("{addr}/private/app:1.0"),
        format!("{addr}/private/app:1.1"),
        format!("{addr}/public/tool:1.0"),
    ];
    let file = manifest(dir.path(), &images);
    let check = |key_type: &str, duration: Option<&str>| {
        let plugin = answering(&registry, key_type, duration);
        let config = plugin.write_config(&[addr], "0");
        let run = run_with_plugin(
            &registry,
            &plugin,
            &config,
            &[
                "check",
                &file,
                "--kube-version",
                "1.32",
                "-o",
                "json",
                "--no-cache",
            ],
        );
        assert_eq!(run.code, 0, "{run:?}");
        let report = run.json();
        for image in report["images"].as_array().unwrap() {
            assert_eq!(image["status"], "present", "{report:#}");
        }
        assert_no_secret(&registry, &run);
        plugin.runs()
    };
    assert_eq!(check("Registry", Some("1h")), 1, "one run for the registry");
    assert_eq!(check("Image", Some("1h")), 2, "one run per repository");
    let every_time = check("Image", Some("0"));
    assert!(
        every_time >= 3,
        "cacheDuration 0: asked for every lookup, ran {every_time} times"
    );
}

#[test]
fn an_image_the_config_does_not_match_never_runs_the_plugin() {
    let registry = private_registry();
    let plugin = answering(&registry, "Registry", Some("1h"));
    let config = plugin.write_config(
        &[
            "*.dkr.ecr.*.amazonaws.com",
            &format!("{}/other", registry.addr()),
        ],
        "1h",
    );
    let image = format!("{}/private/app:1.0", registry.addr());
    let run = run_with_plugin(&registry, &plugin, &config, &["resolve", &image]);
    assert_eq!(run.code, 3, "denied, as without the plugin: {run:?}");
    assert!(run.stderr.contains("no credentials"), "{run:?}");
    assert_eq!(plugin.runs(), 0);
}

/// A broken plugin: could not decide (exit 3), the plugin named, no password anywhere.
fn broken(behaviour: PluginBehaviour, extra: &[&str]) -> Run {
    let registry = private_registry();
    let (user, password) = registry.credentials();
    let plugin = CredentialPlugin::builder("broken-provider")
        .auth(registry.addr(), &user, &password)
        .behaviour(behaviour)
        .start();
    let config = plugin.write_config(&[registry.addr()], "1h");
    let image = format!("{}/private/app:1.0", registry.addr());
    let mut args = vec!["resolve", image.as_str()];
    args.extend(extra);
    let run = run_with_plugin(&registry, &plugin, &config, &args);
    assert_eq!(run.code, 3, "could not decide: {run:?}");
    let named = format!(
        "credential provider broken-provider (from {}) failed for {}/private/app: ",
        config.display(),
        registry.addr()
    );
    assert!(run.stderr.contains(&named), "{run:?}");
    assert_no_secret(&registry, &run);
    assert_eq!(plugin.runs(), 1, "not retried");

    // check reports the image as undecided, with the same reason.
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(
        dir.path(),
        &[format!("{}/private/app:1.0", registry.addr())],
    );
    let mut args = vec![
        "check",
        file.as_str(),
        "--kube-version",
        "1.32",
        "-o",
        "json",
    ];
    args.extend(extra);
    let check = run_with_plugin(&registry, &plugin, &config, &args);
    assert_eq!(check.code, 3, "{check:?}");
    let report = check.json();
    assert_eq!(report["images"][0]["status"], "unreachable", "{report:#}");
    assert!(
        report["images"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&named),
        "{report:#}"
    );
    assert_no_secret(&registry, &check);
    run
}

#[test]
fn a_failing_plugin_is_could_not_decide_with_its_stderr() {
    let run = broken(PluginBehaviour::Fail, &[]);
    assert!(run.stderr.contains(FAIL_MESSAGE), "{run:?}");
    assert!(
        !run.stderr.contains("more detail"),
        "only the first line: {run:?}"
    );
}

#[test]
fn a_hung_plugin_is_killed_at_the_timeout() {
    let run = broken(
        PluginBehaviour::Hang,
        &["--image-credential-provider-timeout", "1"],
    );
    assert!(
        run.stderr
            .contains("did not answer within 1 s and was killed"),
        "{run:?}"
    );
}

#[test]
fn a_plugin_that_prints_garbage_is_could_not_decide() {
    let run = broken(PluginBehaviour::Garbage, &[]);
    assert!(
        run.stderr.contains("not a CredentialProviderResponse"),
        "{run:?}"
    );
}

#[test]
fn bad_configs_and_half_the_flags_are_bad_input() {
    let plugin = CredentialPlugin::builder("plugin").start();
    let bin = plugin.bin_dir().to_str().unwrap().to_string();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    let good = std::fs::read_to_string(&config).unwrap();
    let bad = plugin.dir().join("bad.yaml");
    let bad_arg = bad.to_str().unwrap().to_string();
    let resolve = |config: &str, bin: &str| {
        tagwarden(&[
            "resolve",
            "registry.example.com/app:1.0",
            "--image-credential-provider-config",
            config,
            "--image-credential-provider-bin-dir",
            bin,
        ])
    };
    for (from, to, field) in [
        (
            "defaultCacheDuration: \"1h\"",
            "defaultCacheDuration: \"1 hour\"",
            "providers[0].defaultCacheDuration",
        ),
        ("name: plugin", "name: /usr/bin/plugin", "providers[0].name"),
        (
            "matchImages: [\"registry.example.com\"]",
            "matchImages: []",
            "providers[0].matchImages",
        ),
        (
            "apiVersion: credentialprovider.kubelet.k8s.io/v1",
            "apiVersion: v1",
            "providers[0].apiVersion",
        ),
        ("name: plugin", "name: not-installed", "no executable"),
        ("kind: CredentialProviderConfig", "kind: [", "bad.yaml:"),
    ] {
        assert!(good.contains(from), "{from} in {good}");
        std::fs::write(&bad, good.replacen(from, to, 1)).unwrap();
        let run = resolve(&bad_arg, &bin);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("credential provider config {bad_arg}")),
            "{run:?}"
        );
        assert!(run.stderr.contains(field), "{field}: {run:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {run:?}");
    }
    let missing_dir = resolve(config.to_str().unwrap(), "/nonexistent/plugins");
    assert_eq!(missing_dir.code, 2, "{missing_dir:?}");
    assert!(
        missing_dir.stderr.contains("/nonexistent/plugins"),
        "{missing_dir:?}"
    );

    for half in [
        [
            "--image-credential-provider-config",
            config.to_str().unwrap(),
        ],
        ["--image-credential-provider-bin-dir", bin.as_str()],
    ] {
        let run = tagwarden(&["resolve", "registry.example.com/app:1.0", half[0], half[1]]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("required arguments were not provided"),
            "{run:?}"
        );
    }
    assert_eq!(plugin.runs(), 0);
}
