//! Credentials from where users keep them, end to end: credential helpers on PATH, pull
//! secrets, certs.d CAs, and secrets that never show up in output, not even with --debug.

use std::os::unix::fs::PermissionsExt;

use crate::common::tagwarden_with;
use base64::Engine as _;
use tagwarden_testbed::{Registry, RegistryMode, seed_standard};

#[test]
fn a_credential_helper_on_path_answers_for_its_registry() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let ca = registry
        .ca_cert_path()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("helper.log");
    let helper = bin.join("docker-credential-twtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {log}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config_dir = dir.path().join("docker");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        serde_json::json!({"credHelpers": {registry.addr(): "twtest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let image = format!("{}/clastix/kubectl:v1.32", registry.addr());
    let envs = [
        ("PATH", path.as_str()),
        ("DOCKER_CONFIG", config_dir.to_str().unwrap()),
    ];

    let run = tagwarden_with(
        &["resolve", &image, "--ca-file", &ca, "-o", "json", "--debug"],
        &envs,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json()["digest"],
        seeded.digest("clastix/kubectl", "v1.31")
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        registry.addr(),
        "asked once, for this registry"
    );
    // The secret never shows, in any form.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(&password) && !out.contains(&basic), "{run:?}");
    }
    // --debug logs each request: method, URL, status, duration.
    let head = format!(
        "HEAD https://{}/v2/clastix/kubectl/manifests/v1.31 -> 200 in ",
        registry.addr()
    );
    assert!(run.stderr.contains(&head), "{run:?}");
    assert!(run.stderr.contains("-> 401 in "), "the challenge: {run:?}");

    // A helper that is not installed is a clear error naming it (exit 2).
    std::fs::write(
        config_dir.join("config.json"),
        serde_json::json!({"credHelpers": {registry.addr(): "not-installed"}}).to_string(),
    )
    .unwrap();
    let run = tagwarden_with(&["resolve", &image, "--ca-file", &ca], &envs);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("docker-credential-not-installed"),
        "{run:?}"
    );
}

#[test]
fn pull_secrets_and_certs_d() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeded = seed_standard(&registry);
    let (user, password) = registry.credentials();
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let dockerconfig = serde_json::json!({"auths": {registry.addr(): {"auth": auth}}}).to_string();
    let secret = dir.path().join("regcred.yaml");
    std::fs::write(
        &secret,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            base64::engine::general_purpose::STANDARD.encode(dockerconfig)
        ),
    )
    .unwrap();
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(certs.join(registry.addr())).unwrap();
    std::fs::copy(
        registry.ca_cert_path().unwrap(),
        certs.join(registry.addr()).join("ca.crt"),
    )
    .unwrap();
    let image = format!("{}/bitnami/kubectl:1.30", registry.addr());
    let secret_arg = secret.to_str().unwrap();
    let certs_arg = certs.to_str().unwrap();

    let run = tagwarden_with(
        &[
            "resolve",
            &image,
            "--pull-secret",
            secret_arg,
            "--certs-dir",
            certs_arg,
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json()["digest"],
        seeded.digest("bitnami/kubectl", "1.30")
    );

    // Without the secret: denied, exit 3, never a fallback or "missing".
    let run = tagwarden_with(&["resolve", &image, "--certs-dir", certs_arg], &[]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("denied"), "{run:?}");
    assert!(
        run.stderr.contains("no credentials for") && !run.stderr.contains("were rejected"),
        "{run:?}"
    );

    // A wrong password in the secret: the message names the secret, not the docker config.
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:not-the-password"));
    let bad_secret = dir.path().join("badcred.json");
    std::fs::write(
        &bad_secret,
        serde_json::json!({"auths": {registry.addr(): {"auth": wrong}}}).to_string(),
    )
    .unwrap();
    let run = tagwarden_with(
        &[
            "resolve",
            &image,
            "--pull-secret",
            bad_secret.to_str().unwrap(),
            "--certs-dir",
            certs_arg,
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the credentials from --pull-secret {} were rejected",
            bad_secret.display()
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not-the-password") && !run.stderr.contains(&wrong));
    // Without the CA: a certificate error that says how to fix it.
    let run = tagwarden_with(
        &[
            "resolve",
            &image,
            "--pull-secret",
            secret_arg,
            "--certs-dir",
            "/nonexistent",
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("certificate") && run.stderr.contains("certs.d"),
        "{run:?}"
    );
}

/// Broken local files: one `error:` line each, naming the file, with the cause's own words
/// once (the library keeps the cause as a source; the CLI does not repeat it), exit 2,
/// before any registry is asked. A docker config whose JSON error would quote a value
/// (a password where an entry belongs) is described by its position only.
#[test]
fn broken_local_files_are_one_line_with_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let broken = write("broken.json", "{\"auths\": {");
    let shape = write("shape.json", r#"{"auths":{"ghcr.io":"hunter2-secret"}}"#);
    let not_pem = write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let missing_ca = dir.path().join("absent.pem");
    let missing_ca = missing_ca.to_str().unwrap();
    // Nothing listens there: a registry asked would be exit 3, not 2.
    let image = "127.0.0.1:1/team/app:1.0";
    let cases: [(&[&str], String); 4] = [
        (
            &["--registry-config", &broken],
            format!(
                "error: registry config {broken} is not valid JSON (EOF while parsing an object at line 1 column 11): fix or remove it\n"
            ),
        ),
        (
            &["--registry-config", &shape],
            format!(
                "error: registry config {shape} is not a docker config (line 1, column 36): fix or remove it\n"
            ),
        ),
        (
            &["--ca-file", &not_pem],
            format!("error: CA file {not_pem} is not PEM: invalid certificate encoding\n"),
        ),
        (
            &["--ca-file", missing_ca],
            format!(
                "error: cannot read CA file {missing_ca}: No such file or directory (os error 2)\n"
            ),
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["resolve", image];
        args.extend_from_slice(flags);
        let run = tagwarden_with(&args, &[]);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr, expected, "{run:?}");
    }
}
