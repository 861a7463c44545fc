//! How long the admission webhook takes to answer with a warm cache: p50, p99 and the
//! worst of many `AdmissionReview`s over HTTPS, and the process's memory. A measurement,
//! not a test (the issue aims at p99 ≤ 10 ms):
//!
//! ```text
//! scripts/bench-webhook.sh            # or:
//! cargo run --release -p tagwarden-cluster --example webhook_latency
//! ```
//!
//! The webhook runs as `serve` runs it: its own HTTPS server (rustls, hyper), tracking at
//! Kubernetes 1.32, asking the real test registry (Debian's docker-registry, seeded with the
//! standard images). The client is in the same process and keeps its connection open, as
//! the API server does. Each review is the Capsule-like hook Pod (`clastix/kubectl:v1.32`,
//! rewritten to `v1.31`) or a Deployment's Pod with a present tracking image, an untracked
//! image and an init container: the two answers a warm webhook gives most.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tagwarden_cluster::webhook::{CertificateFiles, Webhook, WebhookOptions, serve_https};
use tagwarden_core::{KubeVersion, Tracking};
use tagwarden_registry::{Client, ClientOptions, InspectOptions, RepairOptions};

const SEQUENTIAL: usize = 2_000;
const CONCURRENT_CLIENTS: usize = 8;
const PER_CLIENT: usize = 250;

#[tokio::main]
async fn main() {
    let registry = tagwarden_testbed::Registry::start();
    tagwarden_testbed::seed_standard(&registry);
    let (url, ca) = start_webhook().await;
    let client = https_client(&ca);
    let reviews = [
        review(&hook_pod(registry.addr()), "hook"),
        review(&deployment_pod(registry.addr()), "deploy"),
    ];

    let cold = Instant::now();
    for r in &reviews {
        call(&client, &url, r).await;
    }
    println!(
        "cold (first answer of each Pod, registry asked): {:?}",
        cold.elapsed()
    );

    let mut by_pod = [Vec::new(), Vec::new()];
    for i in 0..SEQUENTIAL {
        let started = Instant::now();
        call(&client, &url, &reviews[i % reviews.len()]).await;
        by_pod[i % reviews.len()].push(started.elapsed());
    }
    let [hook, deployment] = by_pod;
    report(
        "warm, one connection, the hook Pod (rewritten)",
        &mut hook.clone(),
    );
    report(
        "warm, one connection, the Deployment's Pod (unchanged)",
        &mut deployment.clone(),
    );
    let mut times: Vec<Duration> = hook.into_iter().chain(deployment).collect();
    report("warm, one connection, one at a time", &mut times);

    let tasks: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let (client, url, reviews) = (https_client(&ca), url.clone(), reviews.clone());
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(PER_CLIENT);
                for i in 0..PER_CLIENT {
                    let started = Instant::now();
                    call(&client, &url, &reviews[i % reviews.len()]).await;
                    times.push(started.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("a client task"));
    }
    report(
        &format!("warm, {CONCURRENT_CLIENTS} connections at once"),
        &mut times,
    );
    println!(
        "memory (webhook, client and test harness in one process): {}",
        memory()
    );
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{what}: {} answers, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        times[times.len() - 1]
    );
}

/// `VmRSS` and `VmHWM` (peak) from /proc/self/status.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("resident {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

async fn call(client: &reqwest::Client, url: &str, review: &Value) {
    let answer: Value = client
        .post(url)
        .json(review)
        .send()
        .await
        .expect("the webhook answers")
        .json()
        .await
        .expect("an AdmissionReview");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
}

async fn start_webhook() -> (String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    let (ca, cert, key) = certificates();
    std::fs::write(dir.join("tls.crt"), cert).expect("write tls.crt");
    std::fs::write(dir.join("tls.key"), key).expect("write tls.key");
    let tls = CertificateFiles::load(dir.join("tls.crt"), dir.join("tls.key"))
        .expect("the certificate files")
        .server_config()
        .expect("a TLS configuration");
    let repair = RepairOptions {
        inspect: InspectOptions {
            tracking: Tracking {
                kube_version: Some(KubeVersion::parse("1.32").expect("a version")),
                rules: Vec::new(),
            },
            ..InspectOptions::default()
        },
        pin: false,
    };
    let client = Client::new(ClientOptions::default()).expect("a registry client");
    let webhook = Webhook::new(client, WebhookOptions::new(repair, Some("tagwarden")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "https://{}/mutate",
        listener.local_addr().expect("an address")
    );
    tokio::spawn(serve_https(
        listener,
        tls,
        webhook.router(),
        std::future::pending(),
    ));
    (url, ca)
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

fn https_client(ca: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca.as_bytes()).expect("a CA"))
        .build()
        .expect("an HTTPS client")
}

fn hook_pod(registry: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "capsule-crds-", "namespace": "capsule-system",
            "ownerReferences": [{ "apiVersion": "batch/v1", "kind": "Job", "name": "capsule-crds",
                "uid": "0b0c6a53-3c33-4f38-9b3a-2f3d8c7c9e11", "controller": true }],
        },
        "spec": { "restartPolicy": "Never", "containers": [
            { "name": "crds-hook", "image": format!("{registry}/clastix/kubectl:v1.32") },
        ] },
    })
}

fn deployment_pod(registry: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "shop-7d9c5b8f6d-", "namespace": "shop",
            "labels": { "app": "shop", "pod-template-hash": "7d9c5b8f6d" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "shop-7d9c5b8f6d", "uid": "5b7f1c2e-0d0a-4d43-9a57-9f3f2b1c0a11", "controller": true }],
        },
        "spec": {
            "initContainers": [{ "name": "migrate", "image": format!("{registry}/clastix/kubectl:v1.31") }],
            "containers": [
                { "name": "app", "image": format!("{registry}/library/busybox:1.36.1"),
                  "env": [{ "name": "MODE", "value": "production" }],
                  "resources": { "requests": { "cpu": "100m", "memory": "128Mi" } } },
                { "name": "proxy", "image": format!("{registry}/clastix/kubectl:v1.32.3") },
            ],
        },
    })
}

fn review(pod: &Value, uid: &str) -> Value {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": "", "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:job-controller" },
            "object": pod, "oldObject": null, "dryRun": false,
            "options": { "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" },
        },
    })
}
