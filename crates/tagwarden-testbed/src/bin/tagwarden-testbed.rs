//! `tagwarden-testbed serve`: the test registry as a process, for demos and manual testing.
//!
//! Starts Debian's docker-registry on a free loopback port, seeds the standard data set
//! (see [`tagwarden_testbed::seed_standard`]), prints the address, and keeps running until
//! SIGINT or SIGTERM, when it stops the registry and removes its storage.
//!
//! ```text
//! tagwarden-testbed serve [--addr-file FILE] [--paging PAGE_SIZE]
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tagwarden_testbed::{PagingProxy, Registry, seed_standard};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!("usage: tagwarden-testbed serve [--addr-file FILE] [--paging PAGE_SIZE]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("serve") {
        usage();
    }
    let mut addr_file = None;
    let mut paging = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr-file" => addr_file = Some(args.next().unwrap_or_else(|| usage())),
            "--paging" => {
                paging = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or_else(|| usage()),
                )
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

    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let proxy = paging.map(|size| PagingProxy::start(&registry.url(), size));
    let addr = proxy
        .as_ref()
        .map(|p| p.addr().to_string())
        .unwrap_or_else(|| registry.addr().to_string());
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
    drop(proxy);
    drop(registry);
    eprintln!("tagwarden-testbed: stopped");
}
