//! The serve issue's scale benchmark, end to end: the real `tagwarden serve` process
//! against the test API server holding 5,000 Pods that use 500 unique images (one in ten
//! missing), on the real registry behind a proxy adding 5 ms to every request. It reports
//! the time from start to the first complete check (aim: 10 s), the registry requests
//! (aim: about one per unique image), the time to answer `GET /metrics` (aim: 50 ms) and
//! the resident memory of `serve` (aim: 128 MB). A measurement, not a test:
//!
//! ```text
//! scripts/bench-serve.sh      # builds release, then runs this example
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tagwarden_testbed::{ApiServer, FaultProxy, Registry, SCALE_MISSING_EVERY, seed_scale_set};

const PODS: usize = 5_000;
const LATENCY: Duration = Duration::from_millis(5);
const RENDERS: u32 = 50;

fn main() {
    let registry = Registry::start();
    let images = seed_scale_set(&registry);
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.set_latency(LATENCY);

    let api = ApiServer::builder().empty().start();
    for pod in 0..PODS {
        let image = format!("{}/{}", proxy.addr(), images[pod % images.len()]);
        api.apply(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod-{pod}"), "namespace": format!("team-{}", pod % 50),
                         "uid": format!("00000000-0000-0000-0000-{pod:012}")},
            "spec": {"containers": [{"name": "main", "image": image}]},
            "status": {"phase": "Running"},
        }));
    }

    let binary = std::env::current_exe()
        .expect("this example's path")
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("tagwarden"))
        .expect("the target directory");
    let listen = free_addr();
    let home = tempfile::tempdir().expect("temp home");
    let started = Instant::now();
    let mut serve = Command::new(&binary)
        .args(["serve", "--listen", &listen.to_string()])
        .env("HOME", home.path())
        .env("KUBECONFIG", api.kubeconfig_path())
        .env_remove("POD_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "run {}: {e} (cargo build --release -p tagwarden)",
                binary.display()
            )
        });

    // Complete: every unique image has a status (they sum to 500).
    let first_check = loop {
        if let Some(text) = get(listen, "/metrics") {
            let decided: f64 = text
                .lines()
                .filter(|l| l.starts_with("tagwarden_images{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            if decided >= images.len() as f64 {
                break started.elapsed();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no complete check in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let requests = proxy.requests().len();

    let mut slowest = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut bytes = 0;
    for _ in 0..RENDERS {
        let start = Instant::now();
        bytes = get(listen, "/metrics").expect("metrics").len();
        let took = start.elapsed();
        slowest = slowest.max(took);
        total += took;
    }
    let rss = std::fs::read_to_string(format!("/proc/{}/status", serve.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = serve.kill();
    let _ = serve.wait();

    println!(
        "{PODS} Pods, {} unique images (one in {SCALE_MISSING_EVERY} missing), {LATENCY:?} added per registry request",
        images.len()
    );
    println!("start to first complete check: {first_check:?} (watch, list, check)");
    println!(
        "registry requests: {requests} ({:.2} per unique image)",
        requests as f64 / images.len() as f64
    );
    println!(
        "GET /metrics: mean {:?}, slowest {slowest:?} over {RENDERS} ({bytes} bytes)",
        total / RENDERS
    );
    println!("resident memory of serve: {rss}");
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The body of `GET path`, or `None` while nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .starts_with("HTTP/1.1 200")
        .then(|| response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))?
}
