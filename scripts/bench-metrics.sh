#!/usr/bin/env bash
# How long `GET /metrics` takes to render with 7,500 tagwarden_image_unavailable series
# (issue 17: at most 100 ms): 750 images on a registry nobody listens on, each used by 10
# containers, all unavailable; the mean and the slowest of 50 renders, in both formats.
# A measurement, not a test.
#
#   scripts/bench-metrics.sh [SERIES]
#
# It runs crates/tagwarden-cluster/examples/monitor_metrics.rs.
# Env: PROFILE (release, the default, or dev for a quick look; dev numbers are not serve's).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
case "$PROFILE" in
    release) flags=(--release) ;;
    dev) flags=() ;;
    *) echo "bench-metrics: PROFILE must be release or dev, not $PROFILE" >&2; exit 2 ;;
esac
echo "bench-metrics: profile $PROFILE, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
exec cargo run --locked "${flags[@]}" -p tagwarden-cluster --example monitor_metrics -- "$@"
