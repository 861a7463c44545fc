#!/usr/bin/env bash
# Issue 17's scale benchmarks, end to end (release build): the real `tagwarden serve` and
# `tagwarden scan -A -o json` against the test API server holding a realistic cluster
# (8-11 KB Pods owned by ReplicaSets/Deployments, StatefulSets, DaemonSets, CronJobs/Jobs,
# Nodes, Events; crates/tagwarden-testbed/src/realistic.rs), images on the real registry
# (Debian docker-registry) behind a proxy adding 5 ms per request. A measurement, not a
# test; docs/benchmarks.md has the aims and the figures measured.
#
#   scripts/bench-scale.sh                          # AIM=memory, SIZES="1000 5000 20000"
#   SIZES="1000 5000 20000 50000" scripts/bench-scale.sh
#   AIM=first-check scripts/bench-scale.sh          # 150,000 Pods, 5,000 Nodes, 10,000 images
#   AIM=churn SIZES=150000 scripts/bench-scale.sh   # 100 Pod writes/s for 60 s: serve's CPU
#   AIM=fleet CLUSTERS=10 SIZES=2000 scripts/bench-scale.sh  # scan one by one vs --all-contexts
#
# Env: AIM (memory | first-check | churn | fleet), SIZES (Pods, space-separated), NODES
# (default 100; 5000 for first-check), IMAGES (unique images; default one per 15 Pods,
# 10000 for first-check), LATENCY_MS (5), SCAN=0 (skip scan -A), RATE (100) and SECONDS
# (60) for churn, CLUSTERS (10) and CONCURRENT (4) for fleet. Needs docker-registry
# (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p tagwarden --bins --example scale
echo "nproc: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/\s*:\s*/: /')"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (modified)')"
exec "$target/release/examples/scale"
