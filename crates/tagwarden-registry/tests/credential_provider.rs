//! Kubelet credential-provider plugins (KEP-2133) against the real htpasswd registry: the
//! config file as the kubelet validates it, `matchImages` as the kubelet matches it, the
//! plugin's exec protocol, its answer cache, and what a broken plugin does to a lookup.
//! The plugin is the testbed's shell script, run for real.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tagwarden_registry::credential_provider::{
    CredentialProviderConfig, CredentialProviderKeychain, ProviderConfigError, image_matches,
};
use tagwarden_registry::{
    Client, ClientOptions, Keychain, Lookup, MultiKeychain, RegistryError, Undecided,
};
use tagwarden_testbed::{
    CredentialPlugin, ManifestKind, PluginBehaviour, Registry, RegistryMode,
    credential_plugin::FAIL_MESSAGE,
};

use common::repo;

/// The htpasswd registry (HTTPS, its own CA) with `private/app:1.0` and `public/tool:1.0`.
fn private_registry() -> Registry {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeder = registry.seeder();
    for name in ["private/app", "public/tool"] {
        seeder.push_image(
            name,
            "1.0",
            ManifestKind::Oci,
            &[tagwarden_testbed::Platform::linux_amd64()],
        );
    }
    registry
}

fn client(registry: &Registry, keychain: impl Keychain) -> Client {
    Client::new(
        ClientOptions::builder()
            .credentials(keychain)
            .ca_files(vec![registry.ca_cert_path().unwrap().to_path_buf()])
            .build(),
    )
    .unwrap()
}

fn keychain(config: &Path, plugin: &CredentialPlugin) -> CredentialProviderKeychain {
    CredentialProviderKeychain::load(config, plugin.bin_dir()).unwrap()
}

/// The username of the credential `keychain` gives for `registry/repository`.
fn username(keychain: &impl Keychain, registry: &str, repository: &str) -> Option<String> {
    keychain
        .resolve_repository(registry, repository)
        .unwrap()
        .map(|r| match r.credential {
            tagwarden_registry::Credential::Basic { username, .. } => username,
            other => panic!("{other:?}"),
        })
}

#[tokio::test]
async fn the_plugin_opens_the_private_registry_that_is_denied_without_it() {
    let registry = private_registry();
    let (user, password) = registry.credentials();
    let plugin = CredentialPlugin::builder("test-credential-provider")
        .auth(registry.addr(), &user, &password)
        .cache("Registry", Some("1h"))
        .expect_image_prefix(registry.addr())
        .start();
    let config = plugin.write_config(&[registry.addr()], "0");
    let app = repo(registry.addr(), "private/app");
    let tool = repo(registry.addr(), "public/tool");

    // Without the provider: denied, never "missing".
    let anonymous = client(&registry, MultiKeychain::default());
    let err = anonymous.head_manifest(&app, "1.0").await.unwrap_err();
    assert_eq!(err.undecided(), Undecided::Denied, "{err}");

    let with_plugin = client(
        &registry,
        MultiKeychain::default().with(keychain(&config, &plugin)),
    );
    assert!(matches!(
        with_plugin.head_manifest(&app, "1.0").await.unwrap(),
        Lookup::Found(_)
    ));
    assert!(matches!(
        with_plugin.head_manifest(&app, "2.0").await.unwrap(),
        Lookup::Missing(_)
    ));
    assert!(matches!(
        with_plugin.head_manifest(&tool, "1.0").await.unwrap(),
        Lookup::Found(_)
    ));

    // cacheKeyType Registry for 1h: one run for every image of the registry.
    assert_eq!(plugin.runs(), 1, "{:?}", plugin.requests());
    let request = &plugin.requests()[0];
    assert_eq!(
        request["apiVersion"],
        "credentialprovider.kubelet.k8s.io/v1"
    );
    assert_eq!(request["kind"], "CredentialProviderRequest");
    assert_eq!(request["image"], format!("{}/private/app", registry.addr()));
    // The config's args and env reach the plugin.
    assert_eq!(
        plugin.invocations(),
        ["args=get-credentials env=from-config"]
    );
}

#[tokio::test]
async fn match_images_with_a_path_open_only_that_path() {
    let registry = private_registry();
    let (user, password) = registry.credentials();
    let plugin = CredentialPlugin::builder("path-provider")
        .auth(registry.addr(), &user, &password)
        .cache("Image", Some("1h"))
        .start();
    let config = plugin.write_config(&[&format!("{}/private", registry.addr())], "0");
    let c = client(
        &registry,
        MultiKeychain::default().with(keychain(&config, &plugin)),
    );

    let found = c
        .head_manifest(&repo(registry.addr(), "private/app"), "1.0")
        .await;
    assert!(matches!(found.unwrap(), Lookup::Found(_)));
    // Same registry, another path: the plugin is not asked, and the registry denies.
    let err = c
        .head_manifest(&repo(registry.addr(), "public/tool"), "1.0")
        .await
        .unwrap_err();
    assert_eq!(err.undecided(), Undecided::Denied, "{err}");
    assert!(err.to_string().contains("no credentials"), "{err}");
    assert_eq!(plugin.runs(), 1);
}

#[tokio::test]
async fn the_most_specific_auth_entry_is_used() {
    let registry = private_registry();
    let (user, password) = registry.credentials();
    let plugin = CredentialPlugin::builder("two-entries")
        .auth(registry.addr(), "wrong-user", "wrong-password")
        .auth(&format!("{}/private", registry.addr()), &user, &password)
        .start();
    let config = plugin.write_config(&[registry.addr()], "1h");
    let c = client(
        &registry,
        MultiKeychain::default().with(keychain(&config, &plugin)),
    );

    let found = c
        .head_manifest(&repo(registry.addr(), "private/app"), "1.0")
        .await;
    assert!(matches!(found.unwrap(), Lookup::Found(_)));
    // public/tool gets the registry-wide entry, which the registry rejects, naming it.
    let err = c
        .head_manifest(&repo(registry.addr(), "public/tool"), "1.0")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.undecided(), Undecided::Denied, "{text}");
    assert!(
        text.contains(&format!(
            "the credentials from credential provider two-entries (from {}) were rejected",
            config.display()
        )),
        "{text}"
    );
    assert!(!text.contains("wrong-password"), "{text}");
}

#[tokio::test]
async fn bearer_tokens_are_asked_with_the_plugins_credential_one_repository_at_a_time() {
    let registry = Registry::builder()
        .mode(RegistryMode::Token)
        .anonymous_pull(false)
        .start();
    let seeder = registry.seeder();
    let names = ["team-a/app", "team-b/app"];
    for name in names {
        seeder.push_image(
            name,
            "1.0",
            ManifestKind::Oci,
            &[tagwarden_testbed::Platform::linux_amd64()],
        );
    }
    let tokens = registry.token_server().expect("token mode");
    tokens.clear_requests();
    let (user, password) = registry.credentials();
    let plugin = CredentialPlugin::builder("token-provider")
        .auth(registry.addr(), &user, &password)
        .cache("Registry", Some("1h"))
        .start();
    let config = plugin.write_config(&[registry.addr()], "0");
    let c = Client::new(
        ClientOptions::builder()
            .credentials(MultiKeychain::default().with(keychain(&config, &plugin)))
            .build(),
    )
    .unwrap();
    let repos: Vec<_> = names.iter().map(|n| repo(registry.addr(), n)).collect();
    c.announce(&repos);
    for r in &repos {
        assert!(matches!(
            c.head_manifest(r, "1.0").await.unwrap(),
            Lookup::Found(_)
        ));
    }
    // Credentials may differ per repository: no scope rides along on another's token
    // request, and each one is asked with the plugin's credential.
    let requests = tokens.requests();
    let scopes: Vec<Vec<String>> = requests.iter().map(|r| r.scopes.clone()).collect();
    assert_eq!(
        scopes,
        [
            vec!["repository:team-a/app:pull".to_string()],
            vec!["repository:team-b/app:pull".to_string()]
        ],
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.user.as_deref() == Some(user.as_str())),
        "{requests:?}"
    );
    assert_eq!(plugin.runs(), 1, "cacheKeyType Registry: one run");
}

#[test]
fn answers_are_cached_by_cache_key_type_and_duration() {
    let registry = "registry.example.com:5000";
    let other = "other.example.com:5000";
    let case = |key_type: &str, duration: Option<&str>, default: &str| {
        let plugin = CredentialPlugin::builder("cache-provider")
            .auth("*.example.com:5000", "u", "p")
            .cache(key_type, duration)
            .start();
        let config = plugin.write_config(&["*.example.com:5000"], default);
        let keychain = keychain(&config, &plugin);
        for (host, repository) in [
            (registry, "team/app"),
            (registry, "team/app"),
            (registry, "team/other"),
            (other, "team/app"),
        ] {
            assert_eq!(username(&keychain, host, repository).as_deref(), Some("u"));
        }
        plugin.runs()
    };
    assert_eq!(case("Image", Some("1h"), "0"), 3, "one run per image");
    assert_eq!(case("Registry", Some("1h"), "0"), 2, "one run per registry");
    assert_eq!(case("Global", Some("1h"), "0"), 1, "one run for everything");
    assert_eq!(
        case("Global", Some("0"), "1h"),
        4,
        "cacheDuration 0: asked every time"
    );
    assert_eq!(
        case("Global", None, "1h"),
        1,
        "no cacheDuration: the default"
    );
    assert_eq!(
        case("Global", None, "0"),
        4,
        "a default of 0: asked every time"
    );
    assert_eq!(
        case("Global", Some("-1s"), "1h"),
        4,
        "a negative duration: expired"
    );
}

#[test]
fn an_expired_answer_runs_the_plugin_again() {
    let plugin = CredentialPlugin::builder("short-lived")
        .auth("registry.example.com", "u", "p")
        .cache("Registry", Some("1ms"))
        .start();
    let config = plugin.write_config(&["registry.example.com"], "0");
    let keychain = keychain(&config, &plugin);
    username(&keychain, "registry.example.com", "a").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    username(&keychain, "registry.example.com", "a").unwrap();
    assert_eq!(plugin.runs(), 2);
}

#[test]
fn an_image_no_provider_matches_never_runs_a_plugin() {
    let plugin = CredentialPlugin::builder("ecr-like")
        .auth("*.dkr.ecr.*.amazonaws.com", "AWS", "p")
        .start();
    let config = plugin.write_config(&["*.dkr.ecr.*.amazonaws.com"], "1h");
    let ecr = keychain(&config, &plugin);
    assert!(ecr.answers_per_repository());
    for (registry, repository) in [
        ("ghcr.io", "org/app"),
        ("dkr.ecr.eu-west-1.amazonaws.com", "app"),
        ("1234.dkr.ecr.eu-west-1.amazonaws.com:444", "app"),
        ("a.1234.dkr.ecr.eu-west-1.amazonaws.com", "app"),
    ] {
        assert_eq!(username(&ecr, registry, repository), None, "{registry}");
    }
    assert_eq!(plugin.runs(), 0);
    assert_eq!(
        username(&ecr, "1234.dkr.ecr.eu-west-1.amazonaws.com", "team/app").as_deref(),
        Some("AWS")
    );
    assert_eq!(plugin.runs(), 1);

    // A plugin whose answer has no entry for the image gives no credential.
    let plugin = CredentialPlugin::builder("other-entries")
        .auth("ghcr.io", "u", "p")
        .start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    assert_eq!(
        username(&keychain(&config, &plugin), "registry.example.com", "app"),
        None
    );
    assert_eq!(plugin.runs(), 1);
}

/// What a broken plugin's lookup says: the error, and that it never shows the password.
fn broken(behaviour: PluginBehaviour, timeout: Duration) -> RegistryError {
    let plugin = CredentialPlugin::builder("broken-provider")
        .auth("registry.example.com", "u", "hunter2")
        .behaviour(behaviour)
        .start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    let keychain = keychain(&config, &plugin).with_timeout(timeout);
    let err = keychain
        .resolve_repository("registry.example.com", "team/app")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, RegistryError::CredentialProvider { .. }),
        "{text}"
    );
    assert_eq!(
        err.undecided(),
        Undecided::Unreachable,
        "could not decide: {text}"
    );
    assert!(!err.is_config(), "a runtime failure, not bad input: {text}");
    assert!(
        text.starts_with(&format!(
            "credential provider broken-provider (from {}) failed for registry.example.com/team/app: ",
            config.display()
        )),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    assert_eq!(plugin.runs(), 1);
    err
}

#[test]
fn a_failing_plugin_is_named_with_its_first_stderr_line() {
    let text = broken(PluginBehaviour::Fail, Duration::from_secs(60)).to_string();
    assert!(text.contains("failed (exit status: 7)"), "{text}");
    assert!(text.ends_with(FAIL_MESSAGE), "{text}");
}

#[test]
fn a_plugin_that_prints_garbage_is_named() {
    let text = broken(PluginBehaviour::Garbage, Duration::from_secs(60)).to_string();
    assert!(text.contains("not a CredentialProviderResponse"), "{text}");
}

#[test]
fn a_hung_plugin_is_killed_at_the_timeout() {
    let text = broken(PluginBehaviour::Hang, Duration::from_secs(1)).to_string();
    assert!(
        text.contains("did not answer within 1 s and was killed: waiting for the metadata service"),
        "{text}"
    );
}

#[test]
fn lookups_of_one_image_share_a_running_plugin_and_its_failure() {
    let plugin = CredentialPlugin::builder("hung-provider")
        .behaviour(PluginBehaviour::Hang)
        .start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    let keychain = keychain(&config, &plugin).with_timeout(Duration::from_secs(1));
    let errors: Vec<String> = std::thread::scope(|scope| {
        let lookups: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    keychain
                        .resolve_repository("registry.example.com", "team/app")
                        .unwrap_err()
                        .to_string()
                })
            })
            .collect();
        lookups.into_iter().map(|l| l.join().unwrap()).collect()
    });
    assert_eq!(plugin.runs(), 1, "one run for four lookups of one image");
    for error in &errors {
        assert!(error.contains("did not answer within 1 s"), "{error}");
    }
}

#[test]
fn a_chatty_plugin_cannot_block_on_a_full_pipe() {
    let plugin = CredentialPlugin::builder("chatty").start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    // 4 MiB on stdout and stderr, then exit 0: more than is kept, all of it drained.
    std::fs::write(
        plugin.bin_dir().join("chatty"),
        "#!/bin/sh\ncat >/dev/null\nhead -c 4194304 /dev/zero | tr '\\0' x\nhead -c 4194304 /dev/zero | tr '\\0' y >&2\n",
    )
    .unwrap();
    let err = keychain(&config, &plugin)
        .with_timeout(Duration::from_secs(50))
        .resolve_repository("registry.example.com", "app")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a CredentialProviderResponse"), "{err}");
}

#[test]
fn an_answer_in_another_protocol_version_is_refused() {
    let plugin = CredentialPlugin::builder("old-provider")
        .auth("registry.example.com", "u", "p")
        .api_version("credentialprovider.kubelet.k8s.io/v1alpha1")
        .start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    let err = keychain(&config, &plugin)
        .resolve_repository("registry.example.com", "app")
        .unwrap_err();
    assert!(err.to_string().contains("apiVersion"), "{err}");
}

#[tokio::test]
async fn a_failing_plugin_leaves_the_image_undecided_through_the_client() {
    let registry = private_registry();
    let plugin = CredentialPlugin::builder("failing")
        .behaviour(PluginBehaviour::Fail)
        .start();
    let config = plugin.write_config(&[registry.addr()], "1h");
    let c = client(
        &registry,
        MultiKeychain::default().with(keychain(&config, &plugin)),
    );
    let err = c
        .head_manifest(&repo(registry.addr(), "private/app"), "1.0")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::CredentialProvider { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(FAIL_MESSAGE), "{err}");
}

#[test]
fn a_keychain_before_the_provider_wins() {
    #[derive(Debug)]
    struct Fixed;
    impl Keychain for Fixed {
        fn resolve(&self, _: &str) -> Result<Option<tagwarden_registry::Resolved>, RegistryError> {
            Ok(Some(tagwarden_registry::Resolved {
                credential: tagwarden_registry::Credential::Basic {
                    username: "explicit".into(),
                    password: "p".into(),
                },
                source: "--pull-secret regcred.yaml".into(),
            }))
        }
    }
    let plugin = CredentialPlugin::builder("later")
        .auth("registry.example.com", "from-plugin", "p")
        .start();
    let config = plugin.write_config(&["registry.example.com"], "1h");
    let provider: Arc<dyn Keychain> = Arc::new(keychain(&config, &plugin));
    let multi = MultiKeychain::new(vec![Arc::new(Fixed), provider.clone()]);
    assert!(multi.answers_per_repository());
    assert_eq!(
        username(&multi, "registry.example.com", "app").as_deref(),
        Some("explicit")
    );
    assert_eq!(plugin.runs(), 0);
    assert_eq!(
        username(&provider, "registry.example.com", "app").as_deref(),
        Some("from-plugin")
    );
}

/// Load a config written as `yaml`, with an executable plugin called `plugin` in the bin dir.
fn load(yaml: &str) -> Result<CredentialProviderKeychain, RegistryError> {
    let plugin = CredentialPlugin::builder("plugin").start();
    let path = plugin.dir().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    CredentialProviderKeychain::load(&path, plugin.bin_dir())
}

const GOOD: &str = "apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: plugin
    matchImages: [\"*.dkr.ecr.*.amazonaws.com\", \"registry.example.com:5000/team\"]
    defaultCacheDuration: 12h
    apiVersion: credentialprovider.kubelet.k8s.io/v1
";

#[test]
fn configs_in_yaml_and_json_and_every_api_version_load() {
    let keychain = load(GOOD).unwrap();
    let provider = keychain.providers().next().unwrap();
    assert_eq!(
        provider.default_cache_duration,
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(provider.match_images.len(), 2);
    for (config_version, plugin_version) in [
        (
            "kubelet.config.k8s.io/v1beta1",
            "credentialprovider.kubelet.k8s.io/v1beta1",
        ),
        (
            "kubelet.config.k8s.io/v1alpha1",
            "credentialprovider.kubelet.k8s.io/v1alpha1",
        ),
    ] {
        let json = serde_json::json!({
            "apiVersion": config_version,
            "kind": "CredentialProviderConfig",
            "providers": [{
                "name": "plugin",
                "matchImages": ["gcr.io", "*.pkg.dev"],
                "defaultCacheDuration": "1m30s",
                "apiVersion": plugin_version,
                "args": ["--v=2"],
                "env": [{"name": "AWS_PROFILE", "value": "secret-profile"}],
            }],
        });
        let keychain = load(&json.to_string()).unwrap();
        let provider = keychain.providers().next().unwrap();
        assert_eq!(provider.default_cache_duration, Duration::from_secs(90));
        assert_eq!(provider.api_version, plugin_version);
        assert!(
            !format!("{keychain:?}").contains("secret-profile"),
            "env values stay out of Debug"
        );
    }
}

#[test]
fn bad_configs_name_the_file_and_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "kind: CredentialProviderConfig",
            "apiVersion: kubelet.config.k8s.io/v2",
            "apiVersion",
        ),
        (
            "kind: CredentialProviderConfig",
            "kind: KubeletConfiguration",
            "kind",
        ),
        ("name: plugin", "name: ../bin/plugin", "providers[0].name"),
        ("name: plugin", "name: \"\"", "providers[0].name"),
        (
            "matchImages: [\"*.dkr.ecr.*.amazonaws.com\", \"registry.example.com:5000/team\"]",
            "matchImages: []",
            "providers[0].matchImages",
        ),
        (
            "matchImages: [\"*.dkr.ecr.*.amazonaws.com\", \"registry.example.com:5000/team\"]",
            "matchImages: [\"registry.example.com:http\"]",
            "providers[0].matchImages",
        ),
        (
            "defaultCacheDuration: 12h",
            "defaultCacheDuration: 12 hours",
            "providers[0].defaultCacheDuration",
        ),
        (
            "defaultCacheDuration: 12h",
            "defaultCacheDuration: -1h",
            "providers[0].defaultCacheDuration",
        ),
        (
            "    defaultCacheDuration: 12h\n",
            "",
            "providers[0].defaultCacheDuration",
        ),
        (
            "apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
            "apiVersion: credentialprovider.kubelet.k8s.io/v2\n",
            "providers[0].apiVersion",
        ),
        (
            "    defaultCacheDuration: 12h\n",
            "    defaultCacheDuration: 12h\n    matchImage: [x]\n",
            "matchImage",
        ),
        (
            "    defaultCacheDuration: 12h\n",
            "    defaultCacheDuration: 12h\n    tokenAttributes: {serviceAccountTokenAudience: x}\n",
            "providers[0].tokenAttributes",
        ),
        ("name: plugin", "name: missing-plugin", "no executable"),
        ("providers:", "providers: []\nunused:", ""),
    ];
    for (from, to, field) in cases {
        assert!(GOOD.contains(from), "{from}");
        let err = load(&GOOD.replacen(from, to, 1)).map(|_| ()).unwrap_err();
        let text = err.to_string();
        assert!(err.is_config(), "{text}");
        assert!(text.starts_with("credential provider config /"), "{text}");
        assert!(text.contains("config.yaml"), "names the file: {text}");
        assert!(text.contains(field), "names {field}: {text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }
    let two = GOOD.to_string()
        + "  - name: plugin\n    matchImages: [a.io]\n    defaultCacheDuration: 0\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n";
    assert!(
        load(&two)
            .unwrap_err()
            .to_string()
            .contains("providers[1].name: duplicate")
    );
    let empty =
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n";
    assert!(
        load(empty)
            .unwrap_err()
            .to_string()
            .contains("at least 1 provider")
    );
    let missing =
        CredentialProviderConfig::load(Path::new("/nonexistent/config.yaml")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/config.yaml"),
        "{missing}"
    );
    // The file system's error is the cause, for programs; the message already says it.
    let io = std::error::Error::source(&missing)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("no io::Error source: {missing:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(
        matches!(
            &missing,
            RegistryError::CredentialProviderConfig(ProviderConfigError::Unreadable { .. })
        ),
        "{missing:?}"
    );
    let plugin = CredentialPlugin::builder("plugin").start();
    let path = plugin.dir().join("config.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let no_bin = CredentialProviderKeychain::load(&path, &plugin.dir().join("nope")).unwrap_err();
    assert!(no_bin.to_string().contains("bin dir"), "{no_bin}");
}

#[test]
fn a_folder_of_configs_merges_its_providers_in_name_order() {
    let plugin = CredentialPlugin::builder("plugin").start();
    let folder = plugin.dir().join("configs");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("20-second.yaml"),
        GOOD.replace("name: plugin", "name: plugin\n    args: [second]"),
    )
    .unwrap();
    std::fs::write(folder.join("README.md"), "not a config").unwrap();
    std::fs::write(
        folder.join("10-first.json"),
        serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig",
        "providers": [{"name": "plugin", "matchImages": ["a.io"], "defaultCacheDuration": "0",
                       "apiVersion": "credentialprovider.kubelet.k8s.io/v1"}]})
        .to_string(),
    )
    .unwrap();
    let err = CredentialProviderKeychain::load(&folder, plugin.bin_dir()).unwrap_err();
    assert!(
        err.to_string().contains("20-second.yaml") && err.to_string().contains("duplicate"),
        "{err}"
    );
    std::fs::remove_file(folder.join("20-second.yaml")).unwrap();
    let keychain = CredentialProviderKeychain::load(&folder, plugin.bin_dir()).unwrap();
    assert_eq!(keychain.providers().count(), 1);
}

/// A DNS label without glob characters.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn host() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(label(), 1..5)
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9._-]{1,8}", 1..4).prop_map(|parts| parts.join("/"))
}

fn port() -> impl Strategy<Value = Option<u16>> {
    prop::option::of(1u16..)
}

fn authority(labels: &[String], port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{}:{port}", labels.join(".")),
        None => labels.join("."),
    }
}

proptest! {
    #[test]
    fn a_host_matches_every_image_under_it(labels in host(), port in port(), repository in path()) {
        let host = authority(&labels, port);
        let image = format!("{host}/{repository}");
        prop_assert!(image_matches(&host, &image));
        prop_assert!(image_matches(&image, &image));
    }

    #[test]
    fn a_star_matches_any_one_label(labels in host(), port in port(), repository in path(), at in any::<prop::sample::Index>()) {
        let mut globbed = labels.clone();
        let i = at.index(labels.len());
        globbed[i] = "*".into();
        let image = format!("{}/{repository}", authority(&labels, port));
        prop_assert!(image_matches(&authority(&globbed, port), &image));
        // but never two labels, nor none
        let mut more = globbed.clone();
        more.insert(i, "*".into());
        prop_assert!(!image_matches(&authority(&more, port), &image));
        let mut fewer = labels.clone();
        fewer.remove(i);
        if !fewer.is_empty() {
            prop_assert!(!image_matches(&authority(&fewer, port), &image));
        }
    }

    #[test]
    fn ports_must_be_equal(labels in host(), a in port(), b in port(), repository in path()) {
        let image = format!("{}/{repository}", authority(&labels, b));
        prop_assert_eq!(image_matches(&authority(&labels, a), &image), a == b);
    }

    #[test]
    fn the_pattern_path_is_a_prefix(labels in host(), pattern_path in path(), repository in path()) {
        let host = labels.join(".");
        let image = format!("{host}/{repository}");
        let pattern = format!("{host}/{pattern_path}");
        prop_assert_eq!(image_matches(&pattern, &image), repository.starts_with(&pattern_path));
    }

    #[test]
    fn matching_never_panics(pattern in "\\PC{0,30}", image in "\\PC{0,30}") {
        let _ = image_matches(&pattern, &image);
    }
}
