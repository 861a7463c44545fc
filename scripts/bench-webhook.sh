#!/usr/bin/env bash
# Latency benchmark of the admission webhook (issue 11): p50, p90, p99 and the worst of
# thousands of AdmissionReviews over HTTPS with a warm cache, one connection at a time and
# eight at once, plus the cold first answers and the process's memory. The aim: p99 at
# most 10 ms on the CI machine.
#
#   scripts/bench-webhook.sh
#
# It runs crates/tagwarden-cluster/examples/webhook_latency.rs against the real test
# registry (Debian's docker-registry, started and seeded by tagwarden-testbed).
# Env: PROFILE (release, the default, or dev for a quick look; dev numbers are not the
# webhook's).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
case "$PROFILE" in
    release) flags=(--release) ;;
    dev) flags=() ;;
    *) echo "bench-webhook: PROFILE must be release or dev, not $PROFILE" >&2; exit 2 ;;
esac
echo "bench-webhook: profile $PROFILE, $(nproc) CPUs"
exec cargo run --locked "${flags[@]}" -p tagwarden-cluster --example webhook_latency
