//! How long rendering `/metrics` takes at issue 17's scale: 750 unique images used by
//! 7,500 containers, every one of them unavailable (the worst case: one
//! `tagwarden_image_unavailable` series per use; the aim is at most 100 ms). A
//! measurement, not a test:
//!
//! ```text
//! scripts/bench-metrics.sh            # or:
//! cargo run --release -p tagwarden-cluster --example monitor_metrics -- [SERIES]
//! ```
//!
//! `SERIES` (7,500 by default) is rounded to a multiple of 10 uses per image.
//!
//! The images live on a registry address nobody listens on, so every check ends at once
//! as `unreachable`.

use std::time::{Duration, Instant};

use tagwarden_cluster::monitor::{
    Metrics, Monitor, MonitorOptions, RegistryGates, prepare_client_options,
};
use tagwarden_cluster::{ImageUse, WorkloadLocation};
use tagwarden_registry::{Client, ClientOptions};
use tokio::sync::{mpsc, watch};

const SERIES: usize = 7_500;
const USES_PER_IMAGE: usize = 10;
const RENDERS: u32 = 50;
const AIM: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() {
    let series: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SERIES: a number"))
        .unwrap_or(SERIES);
    let images = (series / USES_PER_IMAGE).max(1);
    let registry = tagwarden_testbed::dead_addr();
    let metrics = Metrics::new();
    let gates = RegistryGates::default();
    let mut client_options = ClientOptions::builder().max_attempts(1).build();
    prepare_client_options(&mut client_options, &gates, Some(&metrics));
    let monitor = Monitor::new(
        Client::new(client_options).expect("client"),
        MonitorOptions::default(),
        metrics.clone(),
        gates,
    );
    let uses: Vec<ImageUse> = (0..images)
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
        "first complete check of {images} images: {:?}",
        started.elapsed()
    );

    render("Prometheus text 0.0.4", RENDERS, || metrics.encode());
    render("OpenMetrics", RENDERS, || metrics.encode_openmetrics());
    task.abort();
}

/// Renders `RENDERS` times and prints the mean, the slowest and what was rendered.
fn render(format: &str, renders: u32, encode: impl Fn() -> String) {
    let mut slowest = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut text = String::new();
    for _ in 0..renders {
        let start = Instant::now();
        text = encode();
        let took = start.elapsed();
        slowest = slowest.max(took);
        total += took;
    }
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let unavailable = text
        .lines()
        .filter(|l| l.starts_with("tagwarden_image_unavailable{"))
        .count();
    let met = if slowest <= AIM { "met" } else { "NOT met" };
    println!(
        "render /metrics ({format}): mean {:?}, slowest {slowest:?} (aim <= {AIM:?}: {met}) over {renders} renders; {} bytes, {series} samples ({unavailable} tagwarden_image_unavailable)",
        total / renders,
        text.len()
    );
}
