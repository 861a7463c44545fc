//! Registry options end to end: the config file's insecure_skip_verify, mirrors and cache
//! TTL, and the cache command.

use crate::common::tagwarden_with;
use tagwarden_testbed::{ManifestKind, Platform, Registry, RegistryMode, seed_standard};

#[test]
fn insecure_skip_verify_works_and_warns_on_every_run() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  insecure_skip_verify: [\"{}\"]\n",
            registry.addr()
        ),
    )
    .unwrap();
    let docker = dir.path().join("docker.json");
    std::fs::write(
        &docker,
        serde_json::json!({"auths": {registry.addr(): {"username": user, "password": password}}})
            .to_string(),
    )
    .unwrap();
    let image = format!("{}/clastix/kubectl:v1.30", registry.addr());
    let args = [
        "resolve",
        &image,
        "--config",
        config.to_str().unwrap(),
        "--registry-config",
        docker.to_str().unwrap(),
        "-o",
        "json",
    ];
    for _ in 0..2 {
        let run = tagwarden_with(&args, &[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            run.json()["digest"],
            seeded.digest("clastix/kubectl", "v1.30")
        );
        assert!(run.stderr.contains("NOT verified"), "{run:?}");
    }

    // A typo in the config file is an error, not a silently ignored setting.
    std::fs::write(&config, "registries:\n  insecure_skip_verfy: [x]\n").unwrap();
    let run = tagwarden_with(&args, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("tagwarden.yaml"), "{run:?}");
}

#[test]
fn mirrors_from_the_config_file_answer_first() {
    let upstream = Registry::start();
    let _seeded = seed_standard(&upstream);
    let mirror = Registry::start();
    let mirrored = mirror.seeder().push_image(
        "clastix/kubectl",
        "v1.31",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(
        &config,
        format!(
            "mirrors:\n  \"{}\": [\"{}\"]\n",
            upstream.addr(),
            mirror.addr()
        ),
    )
    .unwrap();
    let image = format!("{}/clastix/kubectl:v1.32", upstream.addr());
    let run = tagwarden_with(
        &[
            "resolve",
            &image,
            "--config",
            config.to_str().unwrap(),
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // v1.32 is nowhere; the fallback v1.31 is answered by the mirror.
    assert_eq!(run.json()["tag"], "v1.31");
    assert_eq!(run.json()["digest"], mirrored.as_str());
    assert!(
        run.stderr
            .contains(&format!("(answered by mirror {})", mirror.addr())),
        "{run:?}"
    );
}

#[test]
fn the_cache_lives_under_the_cache_home_and_can_be_cleared() {
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let home = tempfile::tempdir().unwrap();
    let cache_home = home.path().join("xdg-cache");
    let envs = [("XDG_CACHE_HOME", cache_home.to_str().unwrap())];
    let image = format!("{}/clastix/kubectl:v1.32", registry.addr());
    let folder = cache_home.join("tagwarden");
    let entries = || {
        std::fs::read_dir(folder.join("entries"))
            .map(|files| files.count())
            .unwrap_or(0)
    };

    let run = tagwarden_with(&["resolve", &image, "--no-cache"], &envs);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(entries(), 0, "--no-cache writes nothing");

    let run = tagwarden_with(&["resolve", &image], &envs);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(entries() > 0);
    let run = tagwarden_with(&["cache", "path"], &envs);
    assert_eq!(run.stdout.trim(), folder.to_str().unwrap());
    let run = tagwarden_with(&["cache", "clear"], &envs);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.starts_with("cleared "), "{run:?}");
    assert_eq!(entries(), 0);
}

#[test]
fn check_names_a_broken_index() {
    let registry = Registry::start();
    let digest = registry.seeder().push_image(
        "broken/app",
        "v1.0",
        ManifestKind::Oci,
        &[Platform::linux_amd64(), Platform::linux_arm64()],
    );
    let seeder = registry.seeder();
    seeder.delete_manifest(
        "broken/app",
        &seeder.index_child("broken/app", &digest, "arm64"),
    );

    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n  - name: app\n    image: {}/broken/app:v1.0\n",
            registry.addr()
        ),
    )
    .unwrap();
    let file = manifest.to_str().unwrap();
    for platform in ["linux/arm64", "all"] {
        let run = tagwarden_with(&["check", file, "--platform", platform, "-o", "json"], &[]);
        assert_eq!(run.code, 1, "{platform}: {run:?}");
        let image = &run.json()["images"][0];
        assert_eq!(image["status"], "missing", "{platform}");
        let reason = image["reason"].as_str().unwrap();
        assert!(
            reason.contains("broken index") && reason.contains("linux/arm64/v8"),
            "{platform}: {reason}"
        );
    }
    let run = tagwarden_with(
        &["check", file, "--platform", "linux/amd64", "-o", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["images"][0]["status"], "present");
}

#[test]
fn rate_limit_headers_reach_the_json_reports() {
    use tagwarden_testbed::{Fault, FaultProxy, Rule};
    let registry = Registry::start();
    let _seeded = seed_standard(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.add_rule(Rule::new(Fault::header(
        "ratelimit-remaining",
        "42;w=21600",
    )));
    let image = format!("{}/clastix/kubectl:v1.31", proxy.addr());
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(
        &manifest,
        format!("kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: {image}\n"),
    )
    .unwrap();
    for args in [
        vec!["resolve", image.as_str(), "-o", "json"],
        vec!["check", manifest.to_str().unwrap(), "-o", "json"],
    ] {
        let run = tagwarden_with(&args, &[]);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let limits = &run.json()["rate_limits"];
        assert_eq!(limits[0]["registry"], proxy.addr(), "{args:?}: {run:?}");
        assert_eq!(limits[0]["remaining"], "42;w=21600", "{args:?}");
    }
}
