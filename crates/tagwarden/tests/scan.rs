//! `tagwarden scan` against the fixture cluster of the test API server (HTTPS, bearer
//! token; `tagwarden_testbed::Fixtures`) and real registries: the shared seeded one for
//! public images, an htpasswd one for the private image that only the pull secret opens.

use std::sync::OnceLock;

use serde_json::Value;
use tagwarden_testbed::{ApiServer, Fixtures, ManifestKind, Platform, Registry, RegistryMode};

use crate::charts::shared;
use crate::common::{Run, tagwarden_stdin_in};

/// The private registry (htpasswd), with `payments/ledger:3.1.0` and
/// `platform/exporter:1.4.0`, shared by this module's tests.
fn private() -> &'static Registry {
    static PRIVATE: OnceLock<Registry> = OnceLock::new();
    PRIVATE.get_or_init(|| {
        let registry = Registry::start_with(RegistryMode::Htpasswd);
        let seeder = registry.seeder();
        seeder.push_image(
            "payments/ledger",
            "3.1.0",
            ManifestKind::Oci,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
        seeder.push_image(
            "platform/exporter",
            "1.4.0",
            ManifestKind::Oci,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
        registry
    })
}

/// The fixture cluster, its images on the test registries.
fn fixtures() -> Fixtures {
    let public = shared();
    // The Capsule controller's image is not in the standard data set.
    public.registry.seeder().push_image(
        "clastix/capsule",
        "v0.7.2",
        ManifestKind::Oci,
        &[Platform::linux_amd64(), Platform::linux_arm64()],
    );
    let private = private();
    let (user, password) = private.credentials();
    Fixtures::standard()
        .public_registry(public.addr())
        .private_registry(private.addr())
        .private_credentials(user, password)
        .provider_registry(private.addr())
}

fn api_server() -> ApiServer {
    ApiServer::builder()
        .git_version("v1.32.1-eks-5e0fdde")
        .fixtures(fixtures())
        .start()
}

/// `tagwarden ARGS` with the server's kubeconfig, in a clean environment.
fn scan(api: &ApiServer, args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    let kubeconfig = api.kubeconfig_path().to_str().expect("UTF-8 path").to_string();
    tagwarden_stdin_in(args, b"", home.path(), &[("KUBECONFIG", kubeconfig.as_str())])
}

/// The `images[]` entry whose image ends with `suffix`.
fn image<'a>(report: &'a Value, suffix: &str) -> &'a Value {
    report["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["image"].as_str().is_some_and(|s| s.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no image ending in {suffix} in {report:#}"))
}

#[test]
fn scan_all_namespaces_reports_every_image_once_rolled_up_to_its_owner() {
    let api = api_server();
    let run = scan(&api, &["scan", "-A", "-o", "json", "--fail-on", "never"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    eprintln!("{report:#}");
    panic!("look");
}
