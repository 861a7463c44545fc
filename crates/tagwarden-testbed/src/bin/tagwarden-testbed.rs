//! `tagwarden-testbed serve`: the test registry as a process, for demos and manual testing.
//!
//! Starts Debian's docker-registry on a free loopback port, seeds the standard data set
//! (see [`tagwarden_testbed::seed_standard`]), prints the address, and keeps running until
//! SIGINT or SIGTERM, when it stops the registry and removes its storage.
//!
//! ```text
//! tagwarden-testbed serve [--addr-file FILE] [--paging PAGE_SIZE] [--mode plain|htpasswd|token]
//!                         [--latency-ms MS] [--extra-tags N] [--refs-file FILE]
//!                         [--stats-file FILE]
//! ```
//!
//! With `--mode htpasswd` or `token` it also prints (to stderr) the user, the password, and
//! the CA file or the token realm. `--latency-ms` puts a [`tagwarden_testbed::FaultProxy`]
//! that delays every request by `MS` milliseconds in front (plain HTTP, whatever the mode),
//! and the printed address is the proxy's: the set-up of the registry client's benchmark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tagwarden_testbed::{FaultProxy, PagingProxy, Registry, RegistryMode, seed_standard};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!(
        "usage: tagwarden-testbed serve [--addr-file FILE] [--paging PAGE_SIZE] \
         [--mode plain|htpasswd|token] [--latency-ms MS] [--extra-tags N] [--refs-file FILE] \
         [--stats-file FILE]"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("serve") {
        usage();
    }
    let mut addr_file = None;
    let mut paging = None;
    let mut mode = RegistryMode::Plain;
    let mut latency = None;
    let mut extra_tags = 0usize;
    let mut refs_file = None;
    let mut stats_file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `bench/many:v1.0.0` … one manifest under N more tags, for benchmarks.
            "--extra-tags" => {
                extra_tags = args
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or_else(|| usage())
            }
            // Every seeded `repo:tag`, one a line, relative to the served address.
            "--refs-file" => refs_file = Some(args.next().unwrap_or_else(|| usage())),
            // On stop: how many requests the latency proxy served, by method.
            "--stats-file" => stats_file = Some(args.next().unwrap_or_else(|| usage())),
            "--addr-file" => addr_file = Some(args.next().unwrap_or_else(|| usage())),
            "--paging" => {
                paging = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--latency-ms" => {
                latency = Some(
                    args.next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("plain") => RegistryMode::Plain,
                    Some("htpasswd") => RegistryMode::Htpasswd,
                    Some("token") => RegistryMode::Token,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
    }

    if paging.is_some() && mode == RegistryMode::Htpasswd {
        eprintln!("--paging forwards to plain HTTP only; use it with --mode plain or token");
        std::process::exit(2);
    }
    let registry = Registry::start_with(mode);
    let seeded = seed_standard(&registry);
    let extra: Vec<String> = (0..extra_tags).map(|i| format!("v1.0.{i}")).collect();
    if !extra.is_empty() {
        registry.seeder().many_tags("bench/many", &extra);
    }
    if let Some(file) = &refs_file {
        let mut lines: Vec<String> = seeded
            .iter()
            .map(|(repo, tag, _)| format!("{repo}:{tag}"))
            .collect();
        lines.extend(extra.iter().map(|t| format!("bench/many:{t}")));
        std::fs::write(file, lines.join("\n") + "\n").expect("write the refs file");
    }
    if mode != RegistryMode::Plain {
        let (user, password) = registry.credentials();
        eprintln!("tagwarden-testbed: {mode:?} mode, user {user:?}, password {password:?}");
    }
    if let Some(ca) = registry.ca_cert_path() {
        eprintln!("tagwarden-testbed: HTTPS, CA certificate {}", ca.display());
    }
    if let Some(tokens) = registry.token_server() {
        eprintln!("tagwarden-testbed: token realm {}", tokens.realm());
    }
    let proxy = paging.map(|size| PagingProxy::start(&registry.url(), size));
    let slow = latency.map(|ms| {
        let slow = match &proxy {
            Some(p) => FaultProxy::start(&p.url(), None),
            None => FaultProxy::in_front_of(&registry),
        };
        slow.set_latency(Duration::from_millis(ms));
        eprintln!(
            "tagwarden-testbed: {ms} ms latency proxy at {}",
            slow.addr()
        );
        slow
    });
    let addr = match (&slow, &proxy) {
        (Some(s), _) => s.addr(),
        (None, Some(p)) => p.addr().to_string(),
        (None, None) => registry.addr().to_string(),
    };
    eprintln!(
        "tagwarden-testbed: registry at {addr} with {} repositories: {}",
        seeded.repos().len(),
        seeded.repos().join(", ")
    );
    println!("{addr}");
    if let Some(file) = addr_file {
        // Written last and in one go, so a reader never sees a partial address.
        let tmp = format!("{file}.tmp");
        std::fs::write(&tmp, format!("{addr}\n")).expect("write the address file");
        std::fs::rename(&tmp, &file).expect("write the address file");
    }
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if let (Some(file), Some(slow)) = (&stats_file, &slow) {
        let lines = slow.request_lines();
        let mut by_method = std::collections::BTreeMap::<String, usize>::new();
        for line in &lines {
            let method = line.split_whitespace().next().unwrap_or("?").to_string();
            *by_method.entry(method).or_default() += 1;
        }
        let mut out = format!("total {}\n", lines.len());
        for (method, count) in by_method {
            out.push_str(&format!("{method} {count}\n"));
        }
        std::fs::write(file, out).expect("write the stats file");
    }
    drop(slow);
    drop(proxy);
    drop(registry);
    eprintln!("tagwarden-testbed: stopped");
}
