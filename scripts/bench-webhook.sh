#!/usr/bin/env bash
# Benchmarks of the admission webhook. A measurement, not a test.
#
#   scripts/bench-webhook.sh [latency]        # issue 11: warm p50/p90/p99 over HTTPS
#   scripts/bench-webhook.sh load [FLAGS]     # issue 17: 500 busy connections, as Kyverno's k6 test
#
# latency (the default) runs crates/tagwarden-cluster/examples/webhook_latency.rs: thousands
# of AdmissionReviews with a warm cache, one connection at a time and eight at once, plus
# the cold first answers and the process's memory. The aim: p99 at most 10 ms.
#
# load runs crates/tagwarden-cluster/examples/webhook_load.rs: the webhook in its own
# process, assembled as `tagwarden serve` assembles it, and 500 keep-alive HTTPS
# connections sending realistic Pod creates (8-11 KB) back to back: p50/p90/p99/max,
# admissions per second, registry requests during the run, and the webhook's CPU time per
# admission. The aims: p99 at most 250 ms, at most 150 us of CPU per warm admission.
# FLAGS: --connections N (500), --warmup N (2000), --admissions N,N (5000,20000).
#
# Both ask the real test registry (Debian's docker-registry, started and seeded by
# tagwarden-testbed). Env: PROFILE (release, the default, or dev for a quick look; dev
# numbers are not the webhook's).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
case "$PROFILE" in
    release) flags=(--release) ;;
    dev) flags=() ;;
    *) echo "bench-webhook: PROFILE must be release or dev, not $PROFILE" >&2; exit 2 ;;
esac
mode=${1:-latency}
[ $# -gt 0 ] && shift
case "$mode" in
    latency) example=webhook_latency ;;
    load) example=webhook_load ;;
    *) echo "bench-webhook: the mode is latency or load, not $mode" >&2; exit 2 ;;
esac
echo "bench-webhook: $mode, profile $PROFILE, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
exec cargo run --locked "${flags[@]}" -p tagwarden-cluster --example "$example" -- "$@"
