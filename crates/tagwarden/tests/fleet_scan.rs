//! `tagwarden scan` of a fleet: the contexts of one kubeconfig, each a test API server (a
//! third one's server is gone), their images on real registries behind counting proxies.
//! The report is per cluster, an unreachable cluster is reported and makes the exit 3, and
//! each image is asked once for the whole fleet per credential, however the clusters name
//! their pull secrets.

use base64::Engine as _;
use serde_json::{Value, json};
use tagwarden_testbed::{
    ApiServer, FaultProxy, ManifestKind, Platform, Registry, RegistryMode, dead_addr,
};

use crate::common::{Run, tagwarden_stdin_in};
use crate::output_schemas::verdict;

/// The registries a fleet pulls from: a public one with kubectl and busybox, and an
/// htpasswd one with the ledger; each behind a proxy that counts requests.
struct Registries {
    public: FaultProxy,
    private: FaultProxy,
    _registries: (Registry, Registry),
}

const LEDGER_USER: &str = "ledger-reader";
const LEDGER_PASSWORD: &str = "s3cret-ledger";

impl Registries {
    fn start() -> Registries {
        let public = Registry::start();
        let seeder = public.seeder();
        for tag in ["v1.30", "v1.31"] {
            seeder.push_image(
                "clastix/kubectl",
                tag,
                ManifestKind::Oci,
                &[Platform::linux_amd64()],
            );
        }
        seeder.push_image(
            "library/busybox",
            "1.36",
            ManifestKind::Oci,
            &[Platform::linux_amd64()],
        );
        let private = Registry::builder()
            .mode(RegistryMode::Htpasswd)
            .extra_users([(LEDGER_USER.to_string(), LEDGER_PASSWORD.to_string())])
            .start();
        private.seeder().push_image(
            "payments/ledger",
            "3.1.0",
            ManifestKind::Oci,
            &[Platform::linux_amd64()],
        );
        let public_proxy = FaultProxy::in_front_of(&public);
        let private_proxy = FaultProxy::in_front_of(&private);
        private_proxy.record_authorization_values(true);
        Registries {
            public: public_proxy,
            private: private_proxy,
            _registries: (public, private),
        }
    }

    /// A cluster running kubectl `kubectl`, busybox and the ledger (with a pull secret
    /// named `secret` that holds the ledger's credential).
    fn cluster(&self, context: &str, git_version: &str, kubectl: &str, secret: &str) -> ApiServer {
        let api = ApiServer::builder()
            .empty()
            .context_name(context)
            .git_version(git_version)
            .start();
        apply_workloads(
            &api,
            &self.public.addr(),
            &self.private.addr(),
            kubectl,
            secret,
        );
        api
    }

    /// Every request both registries got, and forget them.
    fn take_requests(&self) -> usize {
        let n = self.public.requests().len() + self.private.requests().len();
        self.public.clear_requests();
        self.private.clear_requests();
        n
    }
}

/// The fleet: `prod-eu` (1.31), `prod-us` (1.32 on EKS), `gone` (nothing listens), and
/// the registries they pull from.
struct Fleet {
    eu: ApiServer,
    us: ApiServer,
    kubeconfig: tempfile::TempDir,
    registries: Registries,
}

impl Fleet {
    fn start() -> Fleet {
        let registries = Registries::start();
        // Both clusters run busybox and the ledger, with the same credential in pull
        // secrets of different names; each runs the kubectl of its own minor.
        let eu = registries.cluster("prod-eu", "v1.31.4", "v1.31", "regcred");
        let us = registries.cluster("prod-us", "v1.32.1-eks-5e0fdde", "v1.32", "ledger-pull");
        let kubeconfig = tempfile::tempdir().unwrap();
        std::fs::write(
            kubeconfig.path().join("gone"),
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster:\n    server: https://{}\n    insecure-skip-tls-verify: true\nusers:\n- name: gone\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: gone\n",
                dead_addr()
            ),
        )
        .unwrap();
        Fleet {
            eu,
            us,
            kubeconfig,
            registries,
        }
    }

    /// KUBECONFIG: the three files, merged as kubectl merges them.
    fn kubeconfig(&self) -> String {
        [
            self.eu.kubeconfig_path().to_path_buf(),
            self.us.kubeconfig_path().to_path_buf(),
            self.kubeconfig.path().join("gone"),
        ]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(":")
    }

    /// `scan -A` of prod-eu and prod-us at `--kube-version version`, as JSON.
    fn scan_both_at(&self, version: &str) -> Run {
        self.run(&[
            "scan",
            "-A",
            "--context",
            "prod-eu",
            "--context",
            "prod-us",
            "--kube-version",
            version,
            "-o",
            "json",
        ])
    }

    fn run(&self, args: &[&str]) -> Run {
        run_with_kubeconfig(args, &self.kubeconfig())
    }
}

/// `tagwarden ARGS` with `KUBECONFIG`, in a fresh HOME: no cache on disk, no credentials
/// of the developer's.
fn run_with_kubeconfig(args: &[&str], kubeconfig: &str) -> Run {
    let home = tempfile::tempdir().unwrap();
    tagwarden_stdin_in(args, b"", home.path(), &[("KUBECONFIG", kubeconfig)])
}

/// A namespace with a pull secret, a bare Pod running kubectl and busybox, and one
/// running the private ledger with the pull secret.
fn apply_workloads(api: &ApiServer, public: &str, private: &str, kubectl: &str, secret: &str) {
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{LEDGER_USER}:{LEDGER_PASSWORD}"));
    let config = json!({"auths": {private: {"auth": auth}}}).to_string();
    api.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}}));
    api.apply(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": secret, "namespace": "ops"},
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config)},
    }));
    api.apply(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "tools", "namespace": "ops", "uid": "7a1e0000-0000-4000-8000-000000000001"},
        "spec": {"containers": [
            {"name": "kubectl", "image": format!("{public}/clastix/kubectl:{kubectl}")},
            {"name": "shell", "image": format!("{public}/library/busybox:1.36")},
        ]},
        "status": {"phase": "Running"},
    }));
    api.apply(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ledger", "namespace": "ops", "uid": "7a1e0000-0000-4000-8000-000000000002"},
        "spec": {
            "containers": [{"name": "ledger", "image": format!("{private}/payments/ledger:3.1.0")}],
            "imagePullSecrets": [{"name": secret}],
        },
        "status": {"phase": "Running"},
    }));
}

/// The document passes `schema/scan-fleet.schema.json`.
#[track_caller]
fn assert_valid(report: &Value) {
    if let Err(errors) = verdict("scan-fleet.schema.json", report) {
        panic!("scan-fleet.schema.json rejects the output:\n{errors}\n{report:#}");
    }
}

/// The `clusters[]` entry of `context`.
fn cluster<'a>(report: &'a Value, context: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .expect("clusters[]")
        .iter()
        .find(|c| c["cluster"]["context"] == context)
        .unwrap_or_else(|| panic!("no cluster {context} in {report:#}"))
}

/// The image entry of a cluster whose image contains `part`.
fn image<'a>(cluster: &'a Value, part: &str) -> &'a Value {
    cluster["images"]
        .as_array()
        .expect("images[]")
        .iter()
        .find(|i| i["image"].as_str().is_some_and(|s| s.contains(part)))
        .unwrap_or_else(|| panic!("no image {part} in {cluster:#}"))
}

#[test]
fn a_fleet_is_reported_per_cluster_and_each_image_asked_once() {
    let fleet = Fleet::start();
    let run = fleet.run(&["scan", "-A", "--all-contexts", "-o", "json"]);
    assert_eq!(run.code, 3, "an unreachable cluster is exit 3: {run:?}");
    let report = run.json();
    assert_valid(&report);
    let contexts: Vec<&str> = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"]["context"].as_str().unwrap())
        .collect();
    assert_eq!(
        contexts,
        ["prod-eu", "prod-us", "gone"],
        "the kubeconfig's order"
    );

    let eu = cluster(&report, "prod-eu");
    assert_eq!(
        eu["cluster"]["kube_version"]["git_version"], "v1.31.4",
        "{eu:#}"
    );
    assert_eq!(eu["cluster"]["server"], fleet.eu.url());
    assert_eq!(image(eu, "kubectl:v1.31")["status"], "present");
    assert_eq!(image(eu, "busybox")["status"], "present");
    assert_eq!(image(eu, "ledger")["status"], "present", "{eu:#}");
    assert_eq!(image(eu, "ledger")["pull_secrets"], json!(["ops/regcred"]));
    for entry in eu["images"].as_array().unwrap() {
        for location in entry["locations"].as_array().unwrap() {
            assert_eq!(location["cluster"]["context"], "prod-eu", "{location:#}");
            assert_eq!(
                location["cluster"]["kube_version"]["git_version"],
                "v1.31.4"
            );
        }
    }
    let us = cluster(&report, "prod-us");
    assert_eq!(image(us, "kubectl:v1.32")["status"], "missing", "{us:#}");
    assert_eq!(image(us, "ledger")["status"], "present", "{us:#}");
    assert_eq!(
        image(us, "ledger")["pull_secrets"],
        json!(["ops/ledger-pull"])
    );
    assert_eq!(
        image(us, "busybox")["locations"][0]["cluster"]["context"],
        "prod-us"
    );

    let gone = cluster(&report, "gone");
    assert!(gone["images"].is_null(), "{gone:#}");
    let error = gone["error"].as_str().expect("the reason");
    assert!(
        error.contains(&dead_addr()) || error.contains("connect"),
        "{error}"
    );
    assert_eq!(
        report["summary"],
        json!({"clusters": 3, "unreachable": 1, "present": 5, "missing": 1, "undetermined": 0, "invalid": 0})
    );
    assert!(
        run.stderr
            .contains("1 of 3 clusters could not be scanned: gone"),
        "{}",
        run.stderr
    );

    // Each image once for the fleet: busybox (anonymous) and the ledger (one credential,
    // two pull secrets of different names) were each asked about once.
    let heads = |proxy: &FaultProxy, path: &str| {
        proxy
            .requests()
            .iter()
            .filter(|r| r.method == "HEAD" && r.target == path)
            .filter(|r| r.authorization || path.contains("busybox"))
            .count()
    };
    assert_eq!(
        heads(
            &fleet.registries.public,
            "/v2/library/busybox/manifests/1.36"
        ),
        1,
        "{:?}",
        fleet.registries.public.request_lines()
    );
    assert_eq!(
        heads(
            &fleet.registries.private,
            "/v2/payments/ledger/manifests/3.1.0"
        ),
        1,
        "{:?}",
        fleet.registries.private.request_lines()
    );
}

#[test]
fn text_and_junit_group_by_cluster() {
    let fleet = Fleet::start();
    let text = fleet.run(&["scan", "-A", "--all-contexts"]);
    assert_eq!(text.code, 3, "{text:?}");
    let eu = text.stdout.find("cluster prod-eu · ").expect(&text.stdout);
    let us = text.stdout.find("cluster prod-us · ").expect(&text.stdout);
    let gone = text.stdout.find("cluster gone").expect(&text.stdout);
    assert!(eu < us && us < gone, "{}", text.stdout);
    let us_section = &text.stdout[us..gone];
    assert!(
        us_section.contains("kubectl:v1.32") && us_section.contains("missing"),
        "{us_section}"
    );
    assert!(
        !text.stdout[eu..us].contains("kubectl:v1.32"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout[gone..].contains("could not be scanned: "),
        "{}",
        text.stdout
    );
    assert!(
        text.stderr
            .contains("prod-us: 3 unique images in 3 places: 2 present, 1 missing"),
        "{}",
        text.stderr
    );
    assert!(
        text.stderr.contains(
            "fleet: 3 clusters (1 could not be scanned); images per cluster: 5 present, 1 missing"
        ),
        "{}",
        text.stderr
    );

    // `check --cluster` is `scan -A`, fleets included.
    let check = fleet.run(&["check", "--cluster", "--all-contexts"]);
    assert_eq!(check.code, 3, "{check:?}");
    assert_eq!(check.stdout, text.stdout, "{check:?}");
    let refused = fleet.run(&["check", "--all-contexts", "-"]);
    assert_eq!(
        refused.code, 2,
        "--all-contexts needs --cluster: {refused:?}"
    );

    let junit = fleet.run(&[
        "scan",
        "-A",
        "--context",
        "prod-us",
        "--context",
        "gone",
        "-o",
        "junit",
    ]);
    assert_eq!(junit.code, 3, "{junit:?}");
    assert_eq!(
        junit.stdout.matches("<testsuite ").count(),
        2,
        "{}",
        junit.stdout
    );
    assert!(
        junit.stdout.contains(
            "<testsuite name=\"tagwarden scan: prod-us\" tests=\"3\" failures=\"1\" errors=\"0\""
        ),
        "{}",
        junit.stdout
    );
    assert!(
        junit.stdout.contains(
            "<testsuite name=\"tagwarden scan: gone\" tests=\"1\" failures=\"0\" errors=\"1\""
        ),
        "{}",
        junit.stdout
    );
}

#[test]
fn plus_one_judges_each_cluster_at_its_own_next_minor() {
    let fleet = Fleet::start();
    let run = fleet.scan_both_at("+1");
    // No cluster is unreachable: the missing tags decide (exit 1).
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_valid(&report);
    let eu = cluster(&report, "prod-eu");
    assert_eq!(eu["cluster"]["target_kube_version"]["minor"], 32, "{eu:#}");
    let kubectl = image(eu, "kubectl:v1.31");
    assert!(
        kubectl["after_upgrade"]
            .as_str()
            .unwrap()
            .ends_with("clastix/kubectl:v1.32"),
        "{kubectl:#}"
    );
    assert_eq!(kubectl["status"], "missing");
    let us = cluster(&report, "prod-us");
    assert_eq!(us["cluster"]["target_kube_version"]["minor"], 33, "{us:#}");
    let kubectl = image(us, "kubectl:v1.32");
    assert!(
        kubectl["after_upgrade"]
            .as_str()
            .unwrap()
            .ends_with("clastix/kubectl:v1.33"),
        "{kubectl:#}"
    );
    // An image that does not follow the version is asked as it is.
    assert_eq!(image(us, "busybox")["status"], "present");
    assert!(image(us, "busybox")["after_upgrade"].is_null());

    // One version for every cluster: 1.32 is prod-eu's next minor and prod-us's own.
    let run = fleet.scan_both_at("1.32");
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let eu = cluster(&report, "prod-eu");
    assert_eq!(eu["cluster"]["target_kube_version"]["minor"], 32, "{eu:#}");
    let us = cluster(&report, "prod-us");
    assert!(
        us["cluster"]["target_kube_version"].is_null(),
        "not a preflight: {us:#}"
    );
    assert!(
        image(us, "kubectl:v1.32")["after_upgrade"].is_null(),
        "{us:#}"
    );
}

#[test]
fn one_context_keeps_the_single_cluster_report() {
    let fleet = Fleet::start();
    let run = fleet.run(&[
        "scan",
        "-A",
        "--context",
        "prod-us",
        "--kube-version",
        "+1",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert!(report["clusters"].is_null(), "{report:#}");
    assert_eq!(report["cluster"]["context"], "prod-us");
    assert_eq!(
        report["cluster"]["target_kube_version"]["minor"], 33,
        "{report:#}"
    );
}

#[test]
fn fleet_flags_that_cannot_work_are_exit_2_with_what_to_do() {
    let fleet = Fleet::start();
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "scan",
                "--all-contexts",
                "--kube-version",
                "+18446744073709551615",
            ],
            "from 1 to 100",
        ),
        (
            &[
                "kube-version",
                "--context",
                "prod-eu",
                "--context",
                "prod-us",
            ],
            "this command reads one cluster; scan reads several",
        ),
        (
            &["scan", "--all-contexts", "--context", "prod-eu"],
            "--all-contexts reads every context of the kubeconfig: drop --context prod-eu",
        ),
        (
            &["scan", "--all-contexts", "--concurrent-clusters", "0"],
            "--concurrent-clusters 0",
        ),
        (
            &["scan", "--context", "prod-eu", "--context", "nope"],
            "nope",
        ),
        (
            &["check", "--kube-version", "+1", "-"],
            "+N (N minors after the cluster's version) is for scan and check --cluster",
        ),
    ];
    for (args, expected) in cases {
        let run = fleet.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
}

/// The same ten clusters scanned one by one and as a fleet: the fleet asks each question
/// once, one by one asks it ten times.
#[test]
fn ten_clusters_cost_the_registries_what_one_does() {
    const CLUSTERS: usize = 10;
    let registries = Registries::start();
    let clusters: Vec<ApiServer> = (0..CLUSTERS)
        .map(|n| {
            let context = format!("cluster-{n}");
            registries.cluster(&context, "v1.31.4", "v1.31", &format!("pull-{n}"))
        })
        .collect();
    let kubeconfig = clusters
        .iter()
        .map(|c| c.kubeconfig_path().to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(":");
    registries.take_requests();

    let one_by_one: usize = (0..CLUSTERS)
        .map(|n| {
            let run = run_with_kubeconfig(
                &[
                    "scan",
                    "-A",
                    "--context",
                    &format!("cluster-{n}"),
                    "-o",
                    "json",
                ],
                &kubeconfig,
            );
            assert_eq!(run.code, 0, "{run:?}");
            registries.take_requests()
        })
        .sum();
    let run = run_with_kubeconfig(&["scan", "-A", "--all-contexts", "-o", "json"], &kubeconfig);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["summary"]["clusters"], CLUSTERS);
    assert_eq!(report["summary"]["present"], 3 * CLUSTERS, "{report:#}");
    let fleet = registries.take_requests();
    eprintln!(
        "registry requests for {CLUSTERS} clusters: one by one {one_by_one}, as a fleet {fleet}"
    );
    assert_eq!(
        one_by_one % CLUSTERS,
        0,
        "each run asks the same: {one_by_one}"
    );
    assert_eq!(
        fleet,
        one_by_one / CLUSTERS,
        "the fleet asks what one cluster's scan asks"
    );
}

/// `kubectl config` on a `KUBECONFIG` list.
fn kubectl_config(kubeconfig: &str, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(&tagwarden_testbed::kubectl_binary().path)
        .arg("config")
        .args(args)
        .env("HOME", home.path())
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("these tests need kubectl on PATH: {e}"));
    assert!(
        output.status.success(),
        "kubectl config {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `--all-contexts` reads the `KUBECONFIG` list as kubectl does: the same contexts, and
/// where two files name the same context, the first file's.
#[test]
fn all_contexts_are_the_contexts_kubectl_merges() {
    let registries = Registries::start();
    let eu = registries.cluster("prod-eu", "v1.31.4", "v1.31", "regcred");
    let us = registries.cluster("prod-us", "v1.32.1-eks-5e0fdde", "v1.31", "regcred");
    // A later file that names prod-eu again (another server) and a context of its own.
    let dir = tempfile::tempdir().unwrap();
    let later = dir.path().join("later");
    std::fs::write(
        &later,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod-eu\n  cluster:\n    server: https://{dead}\n- name: gone\n  cluster:\n    server: https://{dead}\nusers:\n- name: gone\n  user:\n    token: t\ncontexts:\n- name: prod-eu\n  context:\n    cluster: gone\n    user: gone\n- name: gone\n  context:\n    cluster: gone\n    user: gone\n",
            dead = dead_addr()
        ),
    )
    .unwrap();
    let kubeconfig = [eu.kubeconfig_path(), later.as_path(), us.kubeconfig_path()]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(":");

    let mut kubectl_contexts: Vec<String> =
        kubectl_config(&kubeconfig, &["get-contexts", "-o", "name"])
            .lines()
            .map(str::to_string)
            .collect();
    kubectl_contexts.sort();
    let kubectl_server = kubectl_config(
        &kubeconfig,
        &[
            "view",
            "--minify",
            "--context",
            "prod-eu",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    assert_eq!(
        kubectl_server,
        eu.url(),
        "kubectl: the first file's prod-eu"
    );

    let run = run_with_kubeconfig(&["scan", "-A", "--all-contexts", "-o", "json"], &kubeconfig);
    let report = run.json();
    let mut contexts: Vec<String> = report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"]["context"].as_str().unwrap().to_string())
        .collect();
    contexts.sort();
    assert_eq!(contexts, kubectl_contexts, "{report:#}");
    let prod_eu = cluster(&report, "prod-eu");
    assert_eq!(
        prod_eu["cluster"]["server"],
        kubectl_server.as_str(),
        "{prod_eu:#}"
    );
    assert_eq!(image(prod_eu, "ledger")["status"], "present", "{prod_eu:#}");
    // Only `gone` could not be scanned: exit 3.
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(report["summary"]["unreachable"], 1, "{report:#}");
}

/// On a terminal, a fleet's scan counts its clusters on stderr while it waits; piped, it
/// does not.
#[test]
fn a_terminal_sees_the_clusters_counted_and_a_pipe_does_not() {
    let fleet = Fleet::start();
    let home = tempfile::tempdir().unwrap();
    let line = format!(
        "exec '{}' scan -A --all-contexts",
        env!("CARGO_BIN_EXE_tagwarden")
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env("KUBECONFIG", fleet.kubeconfig())
        .output()
        .expect("run util-linux `script` for a pseudo-terminal");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{terminal}");
    assert!(terminal.contains("scanning 3 clusters"), "{terminal}");
    assert!(terminal.contains("cluster prod-us"), "{terminal}");
    let piped = fleet.run(&["scan", "-A", "--all-contexts"]);
    assert_eq!(piped.code, 3, "{piped:?}");
    assert!(!piped.stderr.contains("scanning 3 clusters"), "{piped:?}");
}

/// A namespace some clusters of a fleet lack is scanned where it exists and said where it
/// does not; one that none has is exit 2, as on one cluster.
#[test]
fn a_namespace_only_some_clusters_have_is_scanned_where_it_exists() {
    let fleet = Fleet::start();
    fleet
        .us
        .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}));
    fleet.us.apply(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "batch", "namespace": "payments", "uid": "7a1e0000-0000-4000-8000-000000000003"},
        "spec": {"containers": [{"name": "batch", "image": format!("{}/library/busybox:1.36", fleet.registries.public.addr())}]},
        "status": {"phase": "Running"},
    }));
    let run = fleet.run(&[
        "scan",
        "-n",
        "payments",
        "--context",
        "prod-eu",
        "--context",
        "prod-us",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let eu = cluster(&report, "prod-eu");
    assert_eq!(eu["images"], json!([]), "{eu:#}");
    assert!(
        eu["warnings"][0]
            .as_str()
            .unwrap()
            .contains("namespace payments does not exist in this cluster"),
        "{eu:#}"
    );
    assert!(
        run.stderr
            .contains("warning: prod-eu: namespace payments does not exist"),
        "{}",
        run.stderr
    );
    let us = cluster(&report, "prod-us");
    assert_eq!(
        image(us, "busybox")["locations"][0]["namespace"],
        "payments",
        "{us:#}"
    );

    let typo = fleet.run(&[
        "scan",
        "-n",
        "paymnets",
        "--context",
        "prod-eu",
        "--context",
        "prod-us",
    ]);
    assert_eq!(typo.code, 2, "{typo:?}");
    assert!(
        typo.stderr
            .contains("not found in any of the 2 clusters reached"),
        "{typo:?}"
    );
}
