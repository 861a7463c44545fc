//! How long rendering `/metrics` takes at the issue's scale: 500 unique images used by
//! 5,000 containers, every one of them unavailable (the worst case: one
//! `tagwarden_image_unavailable` series per use). A measurement, not a test:
//!
//! ```text
//! cargo run --release -p tagwarden-cluster --example monitor_metrics
//! ```
//!
//! The images live on a registry address nobody listens on, so every check ends at once
//! as `unreachable`.

use std::time::{Duration, Instant};

use tagwarden_cluster::monitor::{Metrics, Monitor, MonitorOptions, prepare_client_options};
use tagwarden_cluster::{ImageUse, WorkloadLocation};
use tagwarden_registry::{Client, ClientOptions};
use tokio::sync::{mpsc, watch};

const IMAGES: usize = 500;
const USES_PER_IMAGE: usize = 10;
const RENDERS: u32 = 50;

#[tokio::main]
async fn main() {
    let registry = tagwarden_testbed::dead_addr();
    let metrics = Metrics::new();
    let mut client_options = ClientOptions::builder().max_attempts(1).build();
    prepare_client_options(&mut client_options, &metrics);
    let monitor = Monitor::new(
        Client::new(client_options).expect("client"),
        MonitorOptions::default(),
        metrics.clone(),
    );
    let uses: Vec<ImageUse> = (0..IMAGES)
        .flat_map(|i| {
            let image = format!("{registry}/team-{}/service-{i}:v1.{i}", i % 20);
            (0..USES_PER_IMAGE).map(move |u| ImageUse {
                image: image.clone(),
                location: WorkloadLocation {
                    namespace: format!("namespace-{}", u % 50),
                    kind: "Deployment".into(),
                    name: format!("workload-{i}-{u}"),
                    container: "main".into(),
                    path: "spec.template.spec.containers[0].image".into(),
                    pods: 3,
                    uid: None,
                },
                pull_secrets: Vec::new(),
                node_platforms: Vec::new(),
            })
        })
        .collect();
    monitor.set_uses(uses);

    let (_lead, active) = watch::channel(true);
    let (sender, mut transitions) = mpsc::channel(1024);
    tokio::spawn(async move { while transitions.recv().await.is_some() {} });
    let running = monitor.clone();
    let started = Instant::now();
    let task =
        tokio::spawn(async move { running.run(active, sender, std::future::pending()).await });
    while monitor.snapshot().iter().any(|s| s.status.is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "checks did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "first complete check of {IMAGES} images: {:?}",
        started.elapsed()
    );

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
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let unavailable = text
        .lines()
        .filter(|l| l.starts_with("tagwarden_image_unavailable{"))
        .count();
    println!(
        "render /metrics: mean {:?}, slowest {:?} over {RENDERS} renders; {} bytes, {series} samples ({unavailable} tagwarden_image_unavailable)",
        total / RENDERS,
        slowest,
        text.len()
    );
    task.abort();
}
