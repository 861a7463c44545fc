//! Issue 17's scale benchmarks, end to end: the real `tagwarden serve` and `tagwarden scan
//! -A` processes against the test API server holding a realistic cluster
//! ([`RealisticCluster`]: 8–11 KB Pods with their owners, Nodes, Events), images on the
//! real registry behind a proxy adding 5 ms to every request. A measurement, not a test;
//! `scripts/bench-scale.sh` builds release and runs it. Settings (environment):
//!
//! - `AIM=memory` (default): for each of `SIZES` (Pods, default `1000 5000 20000`), serve's
//!   resident memory (VmRSS, VmHWM) after the first complete check (every unique image
//!   has a status in `/metrics`), the time to it, and the peak resident memory of `scan
//!   -A -o json` (its own `VmHWM`, see `run_scan`); then a least-squares fit of memory against
//!   Pods, next to the aims (serve ≤ 64 MB + 1 KB/Pod, scan ≤ 128 MB + 1 KB/Pod; 70 MB at
//!   5,000 and 220 MB at 150,000 Pods for serve).
//! - `AIM=first-check`: the same at `SIZES` (default 150000) with `NODES` (default 5000)
//!   and `IMAGES` (default 10000) unique images; aim: first complete check ≤ 15 s.
//! - `AIM=churn`: `SIZES` (default 150000) Pods; after the first complete check, rolling
//!   updates (`kubectl rollout restart`: new ReplicaSet, Pods created, set running, old
//!   ones deleted) at `RATE` Pod writes a second (default 100) for `SECONDS` (default
//!   60); serve's CPU (utime + stime of /proc/PID/stat) over that window, as % of one
//!   core; aim ≤ 10 %.
//!
//! - `AIM=fleet`: `CLUSTERS` (default 10) test API servers, each holding the same realistic
//!   cluster of `SIZES` Pods (default 2000; the first size only), in one `KUBECONFIG` list;
//!   `scan -A --context …` of each cluster one after the other, then `scan -A
//!   --all-contexts` (`--concurrent-clusters`, default 4): wall time, registry requests
//!   (counted at the proxy) and peak memory of each way, and their ratios. No serve.
//!
//! `NODES` (default 100), `IMAGES` (default one per 15 Pods), `LATENCY_MS` (default 5)
//! and `SCAN=0` (skip scan) apply to every mode. On a shared machine, `LIMIT_MB` (default
//! 8192) stops `serve` or `scan` once its resident memory passes it (reported, not
//! measured further), and `TIMEOUT_S` (default 1200) bounds the wait for a complete check.

use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tagwarden_testbed::realistic::Write;
use tagwarden_testbed::{
    ApiServer, FaultProxy, RealisticCluster, RealisticOptions, Registry, seed_realistic_images,
};

/// One run of `scan -A -o json`.
#[derive(Clone, Copy)]
struct Scan {
    took: Duration,
    peak_kb: u64,
    code: i32,
    /// Stopped at `LIMIT_MB`.
    stopped: bool,
}

/// One measured size.
struct Measured {
    pods: usize,
    images: usize,
    seed: Duration,
    pod_bytes: usize,
    apiserver_rss_kb: u64,
    /// The time to the first complete check, or why there was none.
    first_check: Result<Duration, String>,
    serve_rss_kb: u64,
    serve_hwm_kb: u64,
    statuses: String,
    scan: Option<Scan>,
    cpu: Option<(f64, usize, Duration)>,
}

fn main() {
    let aim = env("AIM", "memory");
    let default_sizes = match aim.as_str() {
        "memory" => "1000 5000 20000",
        "fleet" => "2000",
        _ => "150000",
    };
    let sizes: Vec<usize> = env("SIZES", default_sizes)
        .split_whitespace()
        .map(|s| s.parse().expect("SIZES: numbers of Pods"))
        .collect();
    let nodes: usize = env("NODES", if aim == "first-check" { "5000" } else { "100" })
        .parse()
        .expect("NODES: a number");
    let images: Option<usize> = std::env::var("IMAGES")
        .ok()
        .or_else(|| (aim == "first-check").then(|| "10000".to_string()))
        .map(|s| s.parse().expect("IMAGES: a number"));
    let latency = Duration::from_millis(env("LATENCY_MS", "5").parse().expect("LATENCY_MS"));
    let scan = env("SCAN", "1") != "0";
    print_machine();

    let registry = Registry::start();
    let proxy = FaultProxy::in_front_of(&registry);
    let options = |pods: usize| {
        let o = RealisticOptions::new(pods)
            .nodes(nodes)
            .registry(proxy.addr());
        match images {
            Some(n) => o.unique_images(n),
            None => o,
        }
    };
    // Image names do not depend on the size: seeding the largest pool serves every size.
    let largest = sizes.iter().copied().max().unwrap_or(1000);
    let started = Instant::now();
    let pushed = seed_realistic_images(&registry, &RealisticCluster::generate(options(largest)));
    println!(
        "registry: {pushed} tags pushed in {:.1?}; {latency:?} added per request\n",
        started.elapsed()
    );
    proxy.set_latency(latency);

    if aim == "fleet" {
        let cluster = RealisticCluster::generate(options(sizes[0]));
        fleet(&cluster, &proxy);
        return;
    }
    let mut results = Vec::new();
    for &pods in &sizes {
        let cluster = RealisticCluster::generate(options(pods));
        let m = measure(&cluster, &aim, scan);
        print_one(&m);
        results.push(m);
    }
    match aim.as_str() {
        "memory" => print_fit(&results),
        "first-check" => {
            for m in &results {
                match &m.first_check {
                    Ok(took) => println!(
                        "first complete check at {} Pods, {} images: {took:.1?} (aim ≤ 15 s)",
                        m.pods, m.images
                    ),
                    Err(why) => println!(
                        "at {} Pods, {} images: {why} (aim ≤ 15 s)",
                        m.pods, m.images
                    ),
                }
            }
            print_fit(&results);
        }
        _ => {}
    }
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn print_machine() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo.lines().next().unwrap_or("MemTotal: unknown");
    println!("machine: {cores} cores ({model}), {mem}");
}

fn measure(cluster: &RealisticCluster, aim: &str, scan: bool) -> Measured {
    let api = ApiServer::builder().empty().start();
    let started = Instant::now();
    let mut pod_bytes = 0;
    api.seed(cluster.objects().inspect(|o| {
        if o["kind"] == "Pod" {
            pod_bytes += serde_json::to_vec(o).map_or(0, |b| b.len());
        }
    }));
    let seed = started.elapsed();
    // The test API server lives in this process.
    let (apiserver_rss_kb, _) = memory_of(std::process::id());
    let images = cluster.images().len();
    let binary = tagwarden_binary();
    let home = tempfile::tempdir().expect("temp home");
    let listen = free_addr();
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
    let (first_check, statuses) = wait_for_complete_check(listen, images, &mut serve);
    let (serve_rss_kb, serve_hwm_kb) = memory_of(serve.id());
    let cpu = (aim == "churn" && first_check.is_ok()).then(|| churn(cluster, &api, serve.id()));
    let _ = serve.kill();
    let _ = serve.wait();
    let scan = scan.then(|| run_scan(&binary, &api, home.path()));
    Measured {
        pods: cluster.pod_count(),
        images,
        seed,
        pod_bytes,
        apiserver_rss_kb,
        first_check,
        serve_rss_kb,
        serve_hwm_kb,
        statuses,
        scan,
        cpu,
    }
}

fn tagwarden_binary() -> PathBuf {
    std::env::current_exe()
        .expect("this example's path")
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("tagwarden"))
        .expect("the target directory")
}

/// Waits until the unique images' statuses in `/metrics` sum to `images`; the time since
/// start (or why it did not happen: `LIMIT_MB`, `TIMEOUT_S`) and the statuses.
fn wait_for_complete_check(
    listen: SocketAddr,
    images: usize,
    serve: &mut Child,
) -> (Result<Duration, String>, String) {
    let limit_kb = limit_mb() * 1024;
    let timeout = Duration::from_secs(env("TIMEOUT_S", "1200").parse().expect("TIMEOUT_S"));
    let started = Instant::now();
    let mut said = Instant::now();
    let (mut decided, mut statuses) = (0.0, String::new());
    loop {
        if let Some(text) = get(listen, "/metrics") {
            (decided, statuses) = image_statuses(&text);
            if decided >= images as f64 {
                return (Ok(started.elapsed()), statuses);
            }
        }
        if let Ok(Some(status)) = serve.try_wait() {
            return (Err(format!("serve exited: {status}")), statuses);
        }
        let (rss, _) = memory_of(serve.id());
        let failure = if rss > limit_kb {
            Some(format!(
                "serve passed LIMIT_MB ({:.0} MB resident)",
                mb(rss)
            ))
        } else if started.elapsed() > timeout {
            Some("TIMEOUT_S passed".to_string())
        } else {
            None
        };
        if let Some(why) = failure {
            let why = format!(
                "no complete check: {why} after {:.0?}, {decided} of {images} images decided",
                started.elapsed()
            );
            return (Err(why), statuses);
        }
        if said.elapsed() > Duration::from_secs(30) {
            said = Instant::now();
            println!(
                "  … {:.0?}: {decided} of {images} images decided, serve {:.0} MB resident",
                started.elapsed(),
                mb(rss)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The unique images with a status in `/metrics` text, and the statuses (`present=…`).
fn image_statuses(text: &str) -> (f64, String) {
    let mut statuses = Vec::new();
    let mut decided = 0.0;
    for line in text.lines().filter(|l| l.starts_with("tagwarden_images{")) {
        let Some(n) = line.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()) else {
            continue;
        };
        decided += n;
        if n > 0.0 {
            let status = line
                .split("status=\"")
                .nth(1)
                .and_then(|s| s.split('"').next());
            statuses.push(format!("{}={n}", status.unwrap_or("?")));
        }
    }
    (decided, statuses.join(" "))
}

fn limit_mb() -> u64 {
    env("LIMIT_MB", "8192").parse().expect("LIMIT_MB: a number")
}

/// VmRSS and VmHWM of a process, in KB.
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15: indices 11 and 12 after the name.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / per_second
}

/// Rolling updates at `RATE` Pod writes a second for `SECONDS`; serve's CPU over the
/// window as % of one core, the Pod writes made, the window.
fn churn(cluster: &RealisticCluster, api: &ApiServer, pid: u32) -> (f64, usize, Duration) {
    let rate: usize = env("RATE", "100")
        .parse()
        .expect("RATE: Pod writes a second");
    let seconds: u64 = env("SECONDS", "60").parse().expect("SECONDS: a number");
    let deployments = cluster.deployments();
    let mut revisions: Vec<usize> = deployments
        .iter()
        .map(|&d| cluster.current_revision(d))
        .collect();
    let mut pending: std::collections::VecDeque<Write> = Default::default();
    let mut next = 0usize;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut pod_writes = 0usize;
    for second in 1..=seconds {
        let mut this_second = 0;
        while this_second < rate {
            if pending.is_empty() {
                let i = next % deployments.len();
                pending.extend(cluster.rollout(deployments[i], revisions[i]));
                revisions[i] += 1;
                next += 1;
            }
            let write = pending.pop_front().expect("filled above");
            if write.is_pod() {
                this_second += 1;
                pod_writes += 1;
            }
            match write {
                Write::Apply(object) => {
                    api.apply(object);
                }
                Write::Delete(api_version, kind, ns, name) => {
                    api.delete(api_version, kind, Some(&ns), &name);
                }
            }
        }
        let due = started + Duration::from_secs(second);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let window = started.elapsed();
    let used = cpu_seconds(pid) - cpu_before;
    (100.0 * used / window.as_secs_f64(), pod_writes, window)
}

/// `tagwarden scan -A -o json`: its time, peak resident memory and exit code; stopped
/// once its resident memory passes `LIMIT_MB`.
///
/// The peak is the highest `VmHWM` of `/proc/PID/status` seen while it runs (read every
/// few milliseconds; `VmHWM` only grows, and belongs to the program's own memory map).
/// Not `ru_maxrss`: Linux carries the parent's high-water mark into a child that execs
/// (`exec_mmap` keeps the old map's), and the parent here is this process, which holds the
/// whole test API server: `ru_maxrss` read this process's size, not scan's.
fn run_scan(binary: &Path, api: &ApiServer, home: &Path) -> Scan {
    run_scan_with(
        binary,
        &["scan", "-A", "-o", "json"],
        api.kubeconfig_path().as_os_str(),
        home,
    )
}

/// `AIM=fleet`: the same clusters scanned one by one, then as a fleet.
fn fleet(cluster: &RealisticCluster, proxy: &FaultProxy) {
    let clusters: usize = env("CLUSTERS", "10").parse().expect("CLUSTERS: a number");
    let concurrent = env("CONCURRENT", "4");
    let started = Instant::now();
    let apis: Vec<ApiServer> = (0..clusters)
        .map(|n| {
            let api = ApiServer::builder()
                .empty()
                .context_name(format!("cluster-{n}"))
                .start();
            api.seed(cluster.objects());
            api
        })
        .collect();
    println!(
        "{clusters} clusters of {} Pods and {} unique images each (the same images), seeded in {:.1?}",
        cluster.pod_count(),
        cluster.images().len(),
        started.elapsed()
    );
    let kubeconfig = std::env::join_paths(apis.iter().map(|a| a.kubeconfig_path()))
        .expect("kubeconfig paths without ':'");
    let binary = tagwarden_binary();
    let home = tempfile::tempdir().expect("temp home");
    proxy.clear_requests();
    let mut one_by_one = Scan {
        took: Duration::ZERO,
        peak_kb: 0,
        code: 0,
        stopped: false,
    };
    for n in 0..clusters {
        let context = format!("cluster-{n}");
        let scan = run_scan_with(
            &binary,
            &["scan", "-A", "--context", &context, "-o", "json"],
            &kubeconfig,
            home.path(),
        );
        one_by_one.took += scan.took;
        one_by_one.peak_kb = one_by_one.peak_kb.max(scan.peak_kb);
        one_by_one.code = one_by_one.code.max(scan.code);
    }
    let requests_one_by_one = proxy.requests().len();
    proxy.clear_requests();
    let fleet = run_scan_with(
        &binary,
        &[
            "scan",
            "-A",
            "--all-contexts",
            "--concurrent-clusters",
            &concurrent,
            "-o",
            "json",
        ],
        &kubeconfig,
        home.path(),
    );
    let fleet_requests = proxy.requests();
    let requests_fleet = fleet_requests.len();
    let mut asked: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &fleet_requests {
        *asked
            .entry(format!("{} {}", r.method, r.target))
            .or_default() += 1;
    }
    let mut repeated: Vec<(&String, &usize)> = asked.iter().filter(|(_, n)| **n > 1).collect();
    repeated.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "as a fleet: {} distinct requests; asked more than once: {}",
        asked.len(),
        repeated
            .iter()
            .take(5)
            .map(|(what, n)| format!("{what} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = |what: &str, scan: &Scan, requests: usize| {
        println!(
            "{what:<34} {:>8.1?} {requests:>9} requests  peak {:>6.0} MB  exit {}{}",
            scan.took,
            mb(scan.peak_kb),
            scan.code,
            if scan.stopped {
                " (stopped at LIMIT_MB)"
            } else {
                ""
            }
        );
    };
    row(
        "one by one (scan --context, each)",
        &one_by_one,
        requests_one_by_one,
    );
    row(
        &format!("as a fleet (--concurrent-clusters {concurrent})"),
        &fleet,
        requests_fleet,
    );
    println!(
        "fleet vs one by one: {:.2}x the time, {:.3}x the registry requests, {:.2}x the peak memory",
        fleet.took.as_secs_f64() / one_by_one.took.as_secs_f64().max(f64::EPSILON),
        requests_fleet as f64 / requests_one_by_one.max(1) as f64,
        mb(fleet.peak_kb) / mb(one_by_one.peak_kb).max(f64::EPSILON)
    );
}

/// Runs `tagwarden ARGS` (a scan) with `KUBECONFIG`, stdout to a file, measuring its own
/// peak memory and stopping it at `LIMIT_MB` (see [`run_scan`]).
#[allow(clippy::zombie_processes)] // reaped by wait4
fn run_scan_with(binary: &Path, args: &[&str], kubeconfig: &std::ffi::OsStr, home: &Path) -> Scan {
    let out = tempfile::NamedTempFile::new().expect("a temp file");
    let started = Instant::now();
    let child = Command::new(binary)
        .args(args)
        .env("HOME", home)
        .env("KUBECONFIG", kubeconfig)
        .stdout(out.reopen().expect("reopen"))
        .stderr(Stdio::null())
        .spawn()
        .expect("run tagwarden scan");
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicBool::new(false));
    let guard = {
        let (done, stopped) = (Arc::clone(&done), Arc::clone(&stopped));
        let limit_kb = limit_mb() * 1024;
        std::thread::spawn(move || {
            let mut peak_kb = 0;
            while !done.load(Ordering::SeqCst) {
                let (rss_kb, hwm_kb) = memory_of(pid);
                peak_kb = peak_kb.max(hwm_kb);
                if rss_kb > limit_kb {
                    stopped.store(true, Ordering::SeqCst);
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    return peak_kb;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            peak_kb
        })
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4: this child's own peak, whatever other children did.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    done.store(true, Ordering::SeqCst);
    let peak_kb = guard.join().unwrap_or(0);
    assert_eq!(waited, pid as libc::pid_t, "wait4 on scan");
    Scan {
        took: started.elapsed(),
        peak_kb,
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stopped: stopped.load(Ordering::SeqCst),
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn print_one(m: &Measured) {
    let first_check = match &m.first_check {
        Ok(took) => format!("first complete check {took:.1?}"),
        Err(why) => why.clone(),
    };
    println!(
        "{} Pods ({:.1} KB of JSON each on average), {} unique images: {first_check} [{}]",
        m.pods,
        m.pod_bytes as f64 / m.pods as f64 / 1024.0,
        m.images,
        m.statuses
    );
    println!(
        "  test API server: seeded in {:.1?}, this process {:.0} MB resident",
        m.seed,
        mb(m.apiserver_rss_kb)
    );
    println!(
        "  serve: VmRSS {:.0} MB, VmHWM {:.0} MB ({:.1} KB per Pod)",
        mb(m.serve_rss_kb),
        mb(m.serve_hwm_kb),
        m.serve_rss_kb as f64 / m.pods as f64
    );
    if let Some(scan) = m.scan {
        let stopped = if scan.stopped {
            " (stopped at LIMIT_MB)"
        } else {
            ""
        };
        println!(
            "  scan -A -o json: peak {:.0} MB{stopped}, {:.1?}, exit {}",
            mb(scan.peak_kb),
            scan.took,
            scan.code
        );
    }
    if let Some((cpu, writes, window)) = m.cpu {
        println!(
            "  churn: {writes} Pod writes in {window:.1?} ({:.0}/s); serve CPU {cpu:.1} % of one core (aim ≤ 10 %)",
            writes as f64 / window.as_secs_f64()
        );
    }
}

/// Least squares of `y` (MB) against Pods: (intercept MB, slope KB per Pod).
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((my - slope * mx, slope * 1024.0))
}

fn print_fit(results: &[Measured]) {
    let serve: Vec<(f64, f64)> = results
        .iter()
        .filter(|m| m.first_check.is_ok())
        .map(|m| (m.pods as f64, mb(m.serve_rss_kb)))
        .collect();
    let scan: Vec<(f64, f64)> = results
        .iter()
        .filter_map(|m| {
            m.scan
                .filter(|s| !s.stopped)
                .map(|s| (m.pods as f64, mb(s.peak_kb)))
        })
        .collect();
    println!();
    for (what, points, aim_mb, predictions) in [
        (
            "serve (VmRSS)",
            &serve,
            64.0,
            &[(5_000.0, 70.0), (150_000.0, 220.0)][..],
        ),
        (
            "scan -A (peak)",
            &scan,
            128.0,
            &[(5_000.0, 133.0), (150_000.0, 275.0)][..],
        ),
    ] {
        let Some((intercept, slope_kb)) = fit(points) else {
            println!("{what}: fewer than two sizes, no fit");
            continue;
        };
        println!(
            "{what}: {intercept:.0} MB + {slope_kb:.1} KB per Pod (aim ≤ {aim_mb:.0} MB + 1 KB per Pod)"
        );
        for (pods, aim) in predictions {
            let predicted = intercept + slope_kb * pods / 1024.0;
            println!("  predicted at {pods:.0} Pods: {predicted:.0} MB (aim ≤ {aim:.0} MB)");
        }
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The body of `GET path`, or `None` while nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
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
