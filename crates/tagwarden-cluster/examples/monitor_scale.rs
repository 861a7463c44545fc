//! The issue's scale benchmark, for the monitor: 500 unique images (450 published, 50
//! missing) used by 5,000 containers, on the real registry behind a proxy that adds 5 ms
//! to every request. It reports the time to the first complete check (aim: 10 s), the
//! requests made (aim: close to one per unique image), the time to render `/metrics`
//! (aim: 50 ms) and the resident memory (aim: 128 MB, for all of `serve`). A measurement,
//! not a test:
//!
//! ```text
//! cargo run --release -p tagwarden-cluster --example monitor_scale
//! ```

use std::time::{Duration, Instant};

use tagwarden_cluster::monitor::{
    Metrics, Monitor, MonitorOptions, RegistryGates, prepare_client_options,
};
use tagwarden_cluster::{ImageUse, WorkloadLocation};
use tagwarden_registry::{Client, ClientOptions};
use tagwarden_testbed::{FaultProxy, Registry, seed_scale_set};
use tokio::sync::{mpsc, watch};

const USES_PER_IMAGE: usize = 10;
const LATENCY: Duration = Duration::from_millis(5);
const RENDERS: u32 = 50;

#[tokio::main]
async fn main() {
    let registry = Registry::start();
    let images = seed_scale_set(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.set_latency(LATENCY);

    let metrics = Metrics::new();
    let gates = RegistryGates::default();
    let mut client_options = ClientOptions::default();
    prepare_client_options(&mut client_options, &gates, Some(&metrics));
    let monitor = Monitor::new(
        Client::new(client_options).expect("client"),
        MonitorOptions::default(),
        metrics.clone(),
        gates,
    );
    let uses: Vec<ImageUse> = images
        .iter()
        .enumerate()
        .flat_map(|(i, repo_tag)| {
            let image = format!("{}/{repo_tag}", proxy.addr());
            (0..USES_PER_IMAGE).map(move |u| ImageUse {
                image: image.clone(),
                location: WorkloadLocation {
                    namespace: format!("namespace-{}", u % 50),
                    kind: "Deployment".into(),
                    name: format!("workload-{i}-{u}"),
                    container: "main".into(),
                    path: "spec.template.spec.containers[0].image".into(),
                    pods: 1,
                    uid: None,
                },
                pull_secrets: Vec::new(),
                node_platforms: Vec::new(),
            })
        })
        .collect();
    let (unique, total_uses) = (images.len(), uses.len());

    let (_lead, active) = watch::channel(true);
    let (sender, mut transitions) = mpsc::channel(1024);
    tokio::spawn(async move { while transitions.recv().await.is_some() {} });
    let running = monitor.clone();
    let task =
        tokio::spawn(async move { running.run(active, sender, std::future::pending()).await });
    let started = Instant::now();
    monitor.set_uses(uses);
    while monitor.snapshot().iter().any(|s| s.status.is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "checks did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first_check = started.elapsed();
    let requests = proxy.requests().len();
    let states = monitor.snapshot();
    let missing = states
        .iter()
        .filter(|s| s.status.is_some_and(|s| !s.is_available()))
        .count();

    let mut slowest = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut text = String::new();
    for _ in 0..RENDERS {
        let start = Instant::now();
        text = metrics.encode();
        let took = start.elapsed();
        slowest = slowest.max(took);
        total += took;
    }
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();

    println!(
        "{unique} unique images ({missing} unavailable), {total_uses} uses, {LATENCY:?} added per request"
    );
    println!("first complete check: {first_check:?}");
    println!(
        "registry requests: {requests} ({:.2} per unique image)",
        requests as f64 / unique as f64
    );
    println!(
        "render /metrics: mean {:?}, slowest {slowest:?} over {RENDERS}; {} bytes, {samples} samples",
        total / RENDERS,
        text.len()
    );
    println!(
        "resident memory (this process, registry client and test bed included): {}",
        resident_memory()
    );
    task.abort();
}

/// `VmRSS` of this process, as /proc says it.
fn resident_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
