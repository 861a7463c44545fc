#!/usr/bin/env bash
# Registry-client benchmark: check N unique image references behind a proxy that adds
# LATENCY_MS to every request, and compare with skopeo (sequential and 8 in parallel).
#
#   cargo build --release --locked && scripts/bench-registry.sh [N]
#
# Prints the requests tagwarden sent (target: one per unique reference plus one token per
# scope set; the plain test registry needs no tokens) and the time ratios (targets: ≥10×
# faster than sequential skopeo, ≥2× faster than 8 parallel skopeo processes).
# Env: TAGWARDEN, TESTBED (default target/release/...), LATENCY_MS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
LATENCY_MS=${LATENCY_MS:-5}
TAGWARDEN=${TAGWARDEN:-target/release/tagwarden}
TESTBED=${TESTBED:-target/release/tagwarden-testbed}
for bin in "$TAGWARDEN" "$TESTBED"; do
    [ -x "$bin" ] || { echo "bench: $bin is missing; run: cargo build --release --locked" >&2; exit 2; }
done
command -v skopeo >/dev/null || { echo "bench: skopeo is missing; apt-get install -y skopeo" >&2; exit 2; }

work=$(mktemp -d)
. scripts/lib/testbed.sh
cleanup() {
    testbed_stop_all
    rm -rf "$work"
}
trap cleanup EXIT

start_testbed() { # NAME -> sets ADDR; writes $work/NAME.{addr,refs,stats}
    testbed_start "$1" --latency-ms "$LATENCY_MS" --extra-tags "$N" \
        --refs-file "$work/$1.refs" --stats-file "$work/$1.stats"
}
now() { date +%s.%N; }

# --- tagwarden: one process, N unique references in one manifest stream
start_testbed tw
head -n "$N" < <(grep '^bench/many:' "$work/tw.refs") > "$work/refs"
[ "$(wc -l < "$work/refs")" -eq "$N" ] || { echo "bench: fewer than $N references seeded" >&2; exit 3; }
{
    i=0
    while read -r ref; do
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\nspec:\n  containers:\n  - name: c\n    image: %s/%s\n' \
            "$i" "$ADDR" "$ref"
        i=$((i + 1))
    done < "$work/refs"
} > "$work/pods.yaml"
t0=$(now)
"$TAGWARDEN" check --no-cache -o json "$work/pods.yaml" > "$work/check.json"
t1=$(now)
testbed_stop "${TESTBED_PIDS[0]}"
present=$(jq '.summary.present' "$work/check.json")
requests=$(awk '$1=="total"{print $2}' "$work/tw.stats")
heads=$(awk '$1=="HEAD"{print $2}' "$work/tw.stats")
[ "$present" -eq "$N" ] || { echo "bench: tagwarden found $present of $N present" >&2; exit 1; }

# --- skopeo against a fresh instance with the same data
start_testbed sk
sk() { skopeo inspect --raw --tls-verify=false "docker://$ADDR/$1" >/dev/null; }
export -f sk; export ADDR
t2=$(now)
while read -r ref; do sk "$ref"; done < "$work/refs"
t3=$(now)
xargs -P 8 -I{} bash -c 'sk "$@"' _ {} < "$work/refs"
t4=$(now)

awk -v n="$N" -v lat="$LATENCY_MS" -v req="$requests" -v heads="${heads:-0}" \
    -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v t4="$t4" 'BEGIN {
    tw = t1 - t0; seq = t3 - t2; par = t4 - t3
    printf "%d unique references, %d ms added per request\n", n, lat
    printf "tagwarden check: %6.2f s, %d requests (%d HEAD) = %.2f per reference\n", tw, req, heads, req / n
    printf "skopeo inspect --raw, sequential: %6.2f s  -> tagwarden is %5.1fx faster (target >= 10x)\n", seq, seq / tw
    printf "skopeo inspect --raw, 8 parallel: %6.2f s  -> tagwarden is %5.1fx faster (target >= 2x)\n", par, par / tw
}'
