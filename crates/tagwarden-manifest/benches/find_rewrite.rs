//! Finding and rewriting 5,000 images in a 10 MB stream (the post-renderer's work).
//!
//! `cargo bench -p tagwarden-manifest`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tagwarden_manifest::{Edit, FindOptions, rewrite, scan};

mod stream;

fn post_render(source: &str, options: &FindOptions) -> String {
    let found = scan("bench.yaml", source, options).expect("valid");
    let edits: Vec<Edit> = found
        .images
        .iter()
        .map(|i| i.edit(i.image.replace(":v1.32", ":v1.31")))
        .collect();
    rewrite(source, &edits).expect("rewritable")
}

fn bench(c: &mut Criterion) {
    let streams = [
        ("all-workloads", stream::all_workloads()),
        ("mixed-crds", stream::mixed()),
    ];
    let mut group = c.benchmark_group("10MB-5000-images");
    group.sample_size(10);
    for (name, source) in &streams {
        let strict = FindOptions::default();
        assert_eq!(
            scan("bench.yaml", source, &strict).unwrap().images.len(),
            5_000
        );
        group.throughput(Throughput::Bytes(source.len() as u64));
        group.bench_function(format!("{name}/find/1-thread"), |b| {
            b.iter(|| scan("bench.yaml", black_box(source), &strict).unwrap())
        });
        let fast = FindOptions::default()
            .with_validate_all_documents(false)
            .with_threads(0);
        group.bench_function(format!("{name}/find/fast-all-cpus"), |b| {
            b.iter(|| scan("bench.yaml", black_box(source), &fast).unwrap())
        });
        let found = scan("bench.yaml", source, &strict).unwrap();
        let edits: Vec<Edit> = found
            .images
            .iter()
            .map(|i| i.edit("registry.example.com/x:v1.31"))
            .collect();
        group.bench_function(format!("{name}/rewrite"), |b| {
            b.iter(|| rewrite(black_box(source), &edits).unwrap())
        });
        group.bench_function(format!("{name}/post-render/1-thread"), |b| {
            b.iter(|| post_render(black_box(source), &strict))
        });
        group.bench_function(format!("{name}/post-render/fast-all-cpus"), |b| {
            b.iter(|| post_render(black_box(source), &fast))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
