//! A registry that accepts connections and never answers (issue 12, item 1): requests to it
//! stay concurrent, and once it has failed the rest of the run sees it as down at once, so
//! a run costs about one timeout, not one per image.

use std::time::{Duration, Instant};

use crate::common::tagwarden;
use tagwarden_testbed::HangingServer;

#[test]
fn twenty_images_on_a_hung_registry_cost_one_timeout_not_twenty() {
    let server = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pods.yaml");
    let mut yaml = String::new();
    for i in 0..20 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers:\n    - name: c\n      image: {}/team/app{i}:v1.0.{i}\n",
            server.addr()
        ));
    }
    std::fs::write(&manifest, yaml).unwrap();

    let started = Instant::now();
    let run = tagwarden(&[
        "check",
        manifest.to_str().unwrap(),
        "--timeout",
        "2",
        "--attempts",
        "1",
        "--no-cache",
        "-o",
        "json",
    ]);
    let elapsed = started.elapsed();

    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), 20, "{run:?}");
    for image in images {
        assert_eq!(image["status"], "unreachable", "{image}");
    }
    // A correctness bound, not a benchmark: one 2 s timeout per image, one at a time (the
    // old behaviour), is 40 s; one timeout for the run is ~2 s. 15 s leaves room for a
    // loaded 2-core machine.
    assert!(
        elapsed < Duration::from_secs(15),
        "took {elapsed:?}; the hung host was waited for image by image\n{run:?}"
    );
    // The host was asked once (plus a few concurrent requests at most), not once per image.
    assert!(
        server.connections() <= 8,
        "{} connections to the hung host",
        server.connections()
    );
    // The message says what happened, not just "unreachable".
    assert!(
        run.stderr.contains("timed out") || run.stdout.contains("timed out"),
        "{run:?}"
    );
}
