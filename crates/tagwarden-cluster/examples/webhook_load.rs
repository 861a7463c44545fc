//! The admission webhook under load, as Kyverno's k6 test loads Kyverno: 500 busy
//! keep-alive HTTPS connections, each sending `AdmissionReview`s (Pod creates) back to back,
//! for a fixed number of admissions after a warm-up. A measurement, not a test:
//!
//! ```text
//! scripts/bench-webhook.sh load                   # or:
//! cargo run --release -p tagwarden-cluster --example webhook_load -- \
//!     [--connections 500] [--warmup 2000] [--admissions 5000,20000] [--cold]
//! ```
//!
//! `--cold` skips the first, checked answer of each Pod: with `--warmup 0`, the first run
//! starts with nothing remembered, its 500 connections asking about unasked images at once
//! (single flight: the registry requests stay those of one lookup per image).
//!
//! Two processes, so that the webhook's CPU time is its own:
//!
//! - **the webhook** (this example run again with `--serve REGISTRY`): assembled as
//!   `tagwarden serve` assembles it (`crates/tagwarden-cluster/src/serve/settings.rs`): the
//!   monitor's `Metrics` and `RegistryGates`, a registry client made with
//!   `prepare_client_options` (no answers kept in the client, both observing it),
//!   `Webhook::new(..).with_registry_gate(gates)` tracking Kubernetes 1.32 with the 2 s budget, bound
//!   and run with `Webhook::bind` / `BoundWebhook::run` (rustls on aws-lc-rs, hyper), on a
//!   multi-threaded runtime with one worker per CPU, logging at `warn` as `serve` does. No
//!   Event recorder (there is no API server here);
//! - **the load** (this process): the real test registry (Debian's docker-registry, seeded
//!   with the standard images) behind a `FaultProxy` that counts the registry requests, and
//!   500 connections sending realistic Pods (8–11 KB, several containers and an init
//!   container, env, probes, volumes, `managedFields`) with a mix of images: present, to be
//!   rewritten (`clastix/kubectl:v1.32` → `v1.31`), missing with no fallback, and untracked.
//!
//! It prints, for each run: p50/p90/p99/max, admissions per second, registry requests during
//! the run, and the webhook process's CPU (utime + stime from `/proc/PID/stat`) per
//! admission, next to the aims of issue 17. Both processes share the machine's CPUs (the
//! load's own CPU is printed too).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONNECTIONS: usize = 500;
const WARMUP: usize = 2_000;
const ADMISSIONS: [usize; 2] = [5_000, 20_000];
const AIM_P99: Duration = Duration::from_millis(250);
const AIM_CPU_MICROS: f64 = 150.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let registry = args.get(1).expect("--serve REGISTRY");
        return serve::run(registry);
    }
    let settings = Settings::from_args(&args);
    load::run(&settings);
}

struct Settings {
    connections: usize,
    warmup: usize,
    admissions: Vec<usize>,
    cold: bool,
}

impl Settings {
    fn from_args(args: &[String]) -> Settings {
        let mut settings = Settings {
            connections: CONNECTIONS,
            warmup: WARMUP,
            admissions: ADMISSIONS.to_vec(),
            cold: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--cold" {
                settings.cold = true;
                continue;
            }
            let value = args
                .next()
                .unwrap_or_else(|| panic!("{flag} needs a value"));
            let number = |v: &str| -> usize {
                v.parse()
                    .unwrap_or_else(|e| panic!("{flag} {v:?}: not a number ({e})"))
            };
            match flag.as_str() {
                "--connections" => settings.connections = number(value),
                "--warmup" => settings.warmup = number(value),
                "--admissions" => settings.admissions = value.split(',').map(number).collect(),
                other => {
                    panic!("unknown flag {other} (--connections, --warmup, --admissions, --cold)")
                }
            }
        }
        settings
    }
}

/// The webhook process.
mod serve {
    use std::time::Duration;

    use tagwarden_cluster::monitor::{Metrics, RegistryGates, prepare_client_options};
    use tagwarden_cluster::webhook::{HttpsEndpoint, Webhook, WebhookOptions};
    use tagwarden_core::{KubeVersion, Tracking};
    use tagwarden_registry::{Client, ClientOptions, InspectOptions, RepairOptions};

    /// Serves until stdin closes (the load process ended); prints `ADDR CA_FILE` first.
    pub fn run(registry: &str) {
        let _ = registry; // the Pods name it; the webhook needs no configuration for it
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "tagwarden=warn,tagwarden_cluster=warn,tagwarden_registry=warn,tagwarden_core=warn",
            ))
            .with_writer(std::io::stderr)
            .init();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let (ca, cert, key) = super::certificates();
            let (cert_file, key_file, ca_file) = (
                dir.path().join("tls.crt"),
                dir.path().join("tls.key"),
                dir.path().join("ca.crt"),
            );
            for (path, text) in [(&cert_file, cert), (&key_file, key), (&ca_file, ca)] {
                std::fs::write(path, text).expect("write a PEM file");
            }
            // As serve assembles it: the monitor's gates and metrics observe the client,
            // which keeps no answers.
            let metrics = Metrics::new();
            let gates = RegistryGates::default();
            let mut client_options = ClientOptions::default();
            prepare_client_options(&mut client_options, &gates, Some(&metrics));
            let client = Client::new(client_options).expect("a registry client");
            let repair = RepairOptions {
                inspect: InspectOptions {
                    tracking: Tracking {
                        kube_version: Some(KubeVersion::parse("v1.32.4").expect("a version")),
                        rules: Vec::new(),
                    },
                    ..InspectOptions::default()
                },
                pin: false,
            };
            let mut options = WebhookOptions::new(repair, Some("tagwarden"));
            options.budget = Duration::from_millis(2000);
            let webhook = Webhook::new(client, options).with_registry_gate(gates);
            let endpoint = HttpsEndpoint {
                listen: "127.0.0.1:0".parse().expect("an address"),
                cert: cert_file,
                key: key_file,
            };
            let bound = webhook.bind(&endpoint).await.expect("the webhook binds");
            let addr = bound.local_addr().expect("its address");
            println!("{addr} {}", ca_file.display());
            let stdin_closed = async {
                tokio::task::spawn_blocking(|| {
                    let mut sink = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
                })
                .await
                .ok();
            };
            bound.run(stdin_closed).await.expect("the webhook serves");
        });
    }
}

/// The load process.
mod load {
    use super::*;

    pub fn run(settings: &Settings) {
        let registry = tagwarden_testbed::Registry::start();
        tagwarden_testbed::seed_standard(&registry);
        let proxy = tagwarden_testbed::FaultProxy::in_front_of(&registry);
        let mut server = std::process::Command::new(std::env::current_exe().expect("argv[0]"))
            .args(["--serve", &proxy.addr()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the webhook process");
        let line = {
            let mut line = String::new();
            let stdout = server.stdout.as_mut().expect("its stdout");
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .expect("the webhook's address");
            line
        };
        let (addr, ca_file) = line.trim().split_once(' ').expect("ADDR CA_FILE");
        let ca = std::fs::read_to_string(ca_file).expect("the webhook's CA");
        let url = format!("https://{addr}/mutate");
        let pods = super::pods(&proxy.addr());
        println!("{}", super::machine());
        println!(
            "webhook pid {}; {} connections; {} Pod templates of {}..{} bytes",
            server.id(),
            settings.connections,
            pods.len(),
            pods.iter().map(|p| p.body.len()).min().unwrap_or(0),
            pods.iter().map(|p| p.body.len()).max().unwrap_or(0)
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let clients = connect(&ca, settings.connections);
            let pods = Arc::new(pods);
            if !settings.cold {
                check_answers(&clients[0], &url, &pods).await;
            }
            let cold = proxy.requests().len();
            let started = Instant::now();
            drive(&clients, &url, &pods, settings.warmup).await;
            println!(
                "warm-up: {} admissions in {:?}; registry requests: {cold} for the cold answers, {} during the warm-up",
                settings.warmup,
                started.elapsed(),
                proxy.requests().len() - cold
            );
            for &admissions in &settings.admissions {
                let asked_before = proxy.requests().len();
                let cpu_before = cpu_seconds(server.id());
                let own_before = cpu_seconds(std::process::id());
                let started = Instant::now();
                let mut times = drive(&clients, &url, &pods, admissions).await;
                let took = started.elapsed();
                let cpu = cpu_seconds(server.id()) - cpu_before;
                let own = cpu_seconds(std::process::id()) - own_before;
                report(
                    admissions,
                    &mut times,
                    took,
                    cpu,
                    own,
                    proxy.requests().len() - asked_before,
                );
            }
        });
        drop(server.stdin.take());
        let _ = server.wait();
    }

    /// One HTTP/1.1 client per connection, each keeping its one connection open.
    fn connect(ca: &str, connections: usize) -> Vec<reqwest::Client> {
        let certificate = reqwest::Certificate::from_pem_bundle(ca.as_bytes()).expect("a CA");
        (0..connections)
            .map(|_| {
                reqwest::Client::builder()
                    .tls_certs_only(certificate.clone())
                    .http1_only()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("an HTTPS client")
            })
            .collect()
    }

    /// Each Pod once, from cold, and the answer checked for what it must say.
    async fn check_answers(client: &reqwest::Client, url: &str, pods: &[super::PodBody]) {
        let started = Instant::now();
        for pod in pods {
            let body = pod.body.replace(super::UID, "check");
            let answer: Value = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the webhook answers")
                .json()
                .await
                .expect("an AdmissionReview");
            let response = &answer["response"];
            assert_eq!(response["allowed"], true, "{answer}");
            assert_eq!(
                response.get("patch").is_some(),
                pod.rewritten,
                "{}: {answer}",
                pod.name
            );
            let warned = response["warnings"].as_array().map_or(0, Vec::len);
            assert!(warned >= pod.warnings, "{}: {answer}", pod.name);
        }
        println!(
            "cold: each of the {} Pods once, answers checked, in {:?}",
            pods.len(),
            started.elapsed()
        );
    }

    /// `admissions` admissions over every connection, back to back; the latency of each.
    pub(super) async fn drive(
        clients: &[reqwest::Client],
        url: &str,
        pods: &Arc<Vec<super::PodBody>>,
        admissions: usize,
    ) -> Vec<Duration> {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = clients
            .iter()
            .map(|client| {
                let (client, url, pods, next) =
                    (client.clone(), url.to_string(), pods.clone(), next.clone());
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= admissions {
                            return times;
                        }
                        let pod = &pods[n % pods.len()];
                        let body = pod.body.replace(super::UID, &format!("{n:08}"));
                        let started = Instant::now();
                        let answer = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .expect("the webhook answers")
                            .bytes()
                            .await
                            .expect("an answer");
                        times.push(started.elapsed());
                        const ALLOWED: &[u8] = b"\"allowed\":true";
                        assert!(
                            answer.windows(ALLOWED.len()).any(|w| w == ALLOWED),
                            "{}",
                            String::from_utf8_lossy(&answer)
                        );
                    }
                })
            })
            .collect();
        let mut times = Vec::with_capacity(admissions);
        for task in tasks {
            times.extend(task.await.expect("a connection's task"));
        }
        times
    }

    fn report(
        admissions: usize,
        times: &mut [Duration],
        took: Duration,
        cpu: f64,
        own: f64,
        registry_requests: usize,
    ) {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        let p99 = at(0.99);
        let micros = cpu * 1e6 / admissions as f64;
        println!(
            "{admissions} admissions: p50 {:?}, p90 {:?}, p99 {:?} (aim <= {:?}: {}), max {:?}; {:.0} admissions/s; {registry_requests} registry requests; webhook CPU {:.0} us per admission (aim <= {AIM_CPU_MICROS} us: {}); load generator CPU {:.0} us per admission",
            at(0.50),
            at(0.90),
            p99,
            AIM_P99,
            verdict(p99 <= AIM_P99),
            times[times.len() - 1],
            admissions as f64 / took.as_secs_f64(),
            micros,
            verdict(micros <= AIM_CPU_MICROS),
            own * 1e6 / admissions as f64,
        );
    }

    fn verdict(met: bool) -> &'static str {
        if met { "met" } else { "NOT met" }
    }

    /// utime + stime of process `pid`, in seconds (every thread of it).
    fn cpu_seconds(pid: u32) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
        // The fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a stat line")
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        ticks / clock_ticks()
    }

    fn clock_ticks() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    }
}

/// `nproc`, the CPU model, the kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim())
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // The machine may be shared: what else ran is part of the figures.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cpus} CPUs, {model}; load average before the run {}",
        load.join(" ")
    )
}

/// A CA, and a certificate it signed for 127.0.0.1 with its key, as PEM.
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".into()]).expect("parameters");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).expect("a certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// Stands for each request's own uid in a body.
const UID: &str = "@UID@";

/// One Pod's `AdmissionReview`, and what its answer must say.
struct PodBody {
    name: &'static str,
    body: String,
    /// A JSONPatch is expected.
    rewritten: bool,
    /// At least this many warnings.
    warnings: usize,
}

/// A Pod's name in the report, its containers and init containers (name, image), whether
/// it is rewritten, and how many warnings its answer has at least.
type Template = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<(&'static str, String)>,
    bool,
    usize,
);

/// The mix: Deployments' Pods with present images, a Job's with images to rewrite, one
/// with an image missing with no fallback, and one with nothing tracked.
fn pods(registry: &str) -> Vec<PodBody> {
    let r = registry;
    let specs: [Template; 6] = [
        (
            "shop (present)",
            vec![
                ("app", format!("{r}/library/busybox:1.36.1")),
                ("kubectl", format!("{r}/clastix/kubectl:v1.31.4")),
                ("tools", format!("{r}/acme/tools/kubectl:v1.31.1")),
            ],
            vec![("migrate", format!("{r}/bitnami/kubectl:1.31.2"))],
            false,
            0,
        ),
        (
            "capsule hook (rewritten)",
            vec![
                ("crds-hook", format!("{r}/clastix/kubectl:v1.32")),
                ("logs", format!("{r}/library/busybox:1.36")),
            ],
            vec![("wait", format!("{r}/library/busybox:1.36.1"))],
            true,
            1,
        ),
        (
            "payments (present)",
            vec![
                ("api", format!("{r}/library/busybox:latest")),
                ("sidecar", format!("{r}/bitnami/kubectl:1.31")),
                ("metrics", format!("{r}/library/busybox:1.36.1")),
            ],
            vec![("setup", format!("{r}/clastix/kubectl:v1.31"))],
            false,
            0,
        ),
        (
            "cleanup job (rewritten)",
            vec![
                ("cleanup", format!("{r}/clastix/kubectl:v1.32")),
                ("report", format!("{r}/clastix/kubectl:v1.31.4")),
            ],
            vec![("fetch", format!("{r}/library/busybox:1.36.1"))],
            true,
            1,
        ),
        (
            "legacy (missing, no fallback)",
            vec![
                ("app", format!("{r}/gone/kubectl:v1.32")),
                ("proxy", format!("{r}/library/busybox:1.36.1")),
            ],
            vec![("init", format!("{r}/bitnami/kubectl:1.31.2"))],
            false,
            1,
        ),
        (
            "untracked",
            vec![
                ("web", format!("{r}/library/busybox:1.36.1")),
                ("cache", format!("{r}/library/busybox:1.36")),
                ("worker", format!("{r}/library/busybox:latest")),
            ],
            vec![("init", format!("{r}/library/busybox:1.36.1"))],
            false,
            0,
        ),
    ];
    specs
        .into_iter()
        .enumerate()
        .map(
            |(i, (name, containers, init, rewritten, warnings))| PodBody {
                name,
                body: review(&pod(i, &containers, &init)).to_string(),
                rewritten,
                warnings,
            },
        )
        .collect()
}

/// A Deployment's Pod as the ReplicaSet controller sends it: labels, an owner, containers
/// with env, ports, resources, probes, mounts and a security context, volumes, and the
/// `managedFields` the API server has added by admission time.
fn pod(i: usize, containers: &[(&str, String)], init: &[(&str, String)]) -> Value {
    let container = |(name, image): &(&str, String)| {
        let env: Vec<Value> = (0..18)
            .map(|e| json!({ "name": format!("SETTING_{e}"), "value": format!("value-{e}-of-{name}") }))
            .chain([json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.name" } } })])
            .collect();
        json!({
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "args": ["--config=/etc/app/config.yaml", "--log-level=info"],
            "env": env,
            "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
            "resources": { "requests": { "cpu": "100m", "memory": "128Mi" }, "limits": { "memory": "256Mi" } },
            "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
            "volumeMounts": [
                { "name": "config", "mountPath": "/etc/app", "readOnly": true },
                { "name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true },
            ],
            "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": { "drop": ["ALL"] } },
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        })
    };
    let hash = format!("7d9c5b8f{i:02}");
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": format!("service-{i}-{hash}-"), "namespace": format!("team-{i}"),
            "labels": { "app.kubernetes.io/name": format!("service-{i}"), "app.kubernetes.io/part-of": "shop", "pod-template-hash": hash },
            "annotations": { "kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z", "prometheus.io/scrape": "true" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("service-{i}-{hash}"),
                "uid": "5b7f1c2e-0d0a-4d43-9a57-9f3f2b1c0a11", "controller": true, "blockOwnerDeletion": true }],
            "managedFields": [{ "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": "2026-12-07T03:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": { "f:metadata": { "f:generateName": {}, "f:labels": { ".": {}, "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {} },
                    "f:ownerReferences": { ".": {}, "k:{\"uid\":\"5b7f1c2e-0d0a-4d43-9a57-9f3f2b1c0a11\"}": {} } },
                    "f:spec": { "f:containers": {}, "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}, "f:volumes": {} } } }],
        },
        "spec": {
            "initContainers": init.iter().map(container).collect::<Vec<_>>(),
            "containers": containers.iter().map(container).collect::<Vec<_>>(),
            "volumes": [
                { "name": "config", "configMap": { "name": format!("service-{i}-config"), "defaultMode": 420 } },
                { "name": "kube-api-access-x7k2p", "projected": { "defaultMode": 420, "sources": [
                    { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
                    { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                    { "downwardAPI": { "items": [{ "path": "namespace", "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } } ] } },
            ],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": { "fsGroup": 2000 },
            "schedulerName": "default-scheduler", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "tolerations": [
                { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
                { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
            ],
        },
    })
}

fn review(pod: &Value) -> Value {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": UID, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": "", "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "a3c2f9a0-6a35-4b6e-9e43-2f6b3f1d8c55", "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"] },
            "object": pod, "oldObject": null, "dryRun": false,
            "options": { "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" },
        },
    })
}
