//! The post-renderer's core without a registry: read a stream on stdin, rewrite every
//! `:v1.32` tag to `:v1.31`, write the result to stdout. For measuring time and peak memory:
//!
//! ```text
//! cargo run --release -p tagwarden-manifest --example post_render -- --generate all > /tmp/s.yaml
//! /usr/bin/time -v target/release/examples/post_render [--fast] < /tmp/s.yaml > /dev/null
//! ```
use std::io::Write;

use tagwarden_manifest::{Edit, FindOptions, Limits, STDIN_NAME, read_source, rewrite, scan};

#[path = "../benches/stream.rs"]
mod stream;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--generate") {
        let text = match args.get(1).map(String::as_str) {
            Some("mixed") => stream::mixed(),
            _ => stream::all_workloads(),
        };
        std::io::stdout()
            .write_all(text.as_bytes())
            .expect("stdout");
        return;
    }
    let fast = args.iter().any(|a| a == "--fast");
    // THREADS=n overrides the thread count (default: 1, or all CPUs with --fast).
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(if fast { 0 } else { 1 });
    let options = FindOptions::default()
        .with_validate_all_documents(!fast)
        .with_threads(threads);
    let start = std::time::Instant::now();
    let source = read_source(STDIN_NAME, std::io::stdin().lock(), &Limits::default())
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    let read = start.elapsed();
    let found = scan(&source.name, &source.contents, &options).unwrap_or_else(|e| {
        eprintln!("{}", e.snippet(&source.contents));
        std::process::exit(2)
    });
    let scanned = start.elapsed();
    let edits: Vec<Edit> = found
        .images
        .iter()
        .filter(|i| i.image.contains(":v1.32"))
        .map(|i| i.edit(i.image.replace(":v1.32", ":v1.31")))
        .collect();
    let out = rewrite(&source.contents, &edits).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let rewritten = start.elapsed();
    std::io::stdout().write_all(out.as_bytes()).expect("stdout");
    eprintln!(
        "{} bytes, {} documents, {} images, {} rewritten; read {:?}, find {:?}, rewrite {:?}, total {:?}",
        source.contents.len(),
        found.documents,
        found.images.len(),
        edits.len(),
        read,
        scanned - read,
        rewritten - scanned,
        start.elapsed()
    );
}
