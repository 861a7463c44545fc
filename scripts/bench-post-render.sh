#!/usr/bin/env bash
# Benchmarks of `post-render` and `check` against the local test registry (issue 4):
#
#  1. post-render of a generated ~10 MB stream holding 5,000 images (2,500 Deployments with
#     two containers each, 134 unique images, kubectl tags that follow Kubernetes 1.32),
#     with --pin so that every image is asked about: a cold run (empty disk cache), then a
#     warm run answered by the disk cache (HEADs of published tags and tag lists are cached;
#     "not published" answers are asked again), then a warm run without --pin (only the
#     kubectl images track the version);
#  2. check of 1,000 containers with 200 unique images (130 present, 70 missing), cold and
#     warm.
#
# Reports wall time and peak memory (maximum resident set size) of each run, from
# /usr/bin/time -v (Debian package `time`); without it, wall time only.
#
#   cargo build --release --locked && scripts/bench-post-render.sh
#
# Env: TAGWARDEN (default target/release/tagwarden), TESTBED (default
# target/release/tagwarden-testbed), RUNS (warm runs to take the best of, default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
TAGWARDEN=${TAGWARDEN:-target/release/tagwarden}
TESTBED=${TESTBED:-target/release/tagwarden-testbed}
RUNS=${RUNS:-5}
for bin in "$TAGWARDEN" "$TESTBED"; do
    [ -x "$bin" ] || { echo "bench: $bin is missing; run: cargo build --release --locked" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed to generate the input" >&2; exit 2; }

work=$(mktemp -d)
. scripts/lib/testbed.sh
cleanup() {
    testbed_stop_all
    rm -rf "$work"
}
trap cleanup EXIT

testbed_start bench
registry=$ADDR

python3 - "$registry" "$work" <<'PY'
import sys
registry, work = sys.argv[1], sys.argv[2]
pad = "x" * 3270  # a realistic amount of labels, annotations, env and probes per object

# 1. post-render: 2,500 Deployments x 2 containers = 5,000 image fields.
docs = []
for i in range(2500):
    if i % 10 == 0:
        first = f"{registry}/clastix/kubectl:v1.32"        # tracks 1.32, missing: v1.31
    elif i % 10 == 1:
        first = f"'{registry}/bitnami/kubectl:1.32'"       # tracks 1.32, missing: 1.31
    else:
        first = f"{registry}/seed/many-tags:v1.{i % 130}.0"
    second = f'"{registry}/library/busybox:1.36"' if i % 2 else f"{registry}/library/busybox:1.36.1"
    docs.append(f"""---
# Source: bench/templates/deployment-{i}.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: bench
  labels:
    app.kubernetes.io/name: app-{i}
    app.kubernetes.io/managed-by: Helm
  annotations:
    checksum/config: "{pad}"
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i}
    spec:
      containers:
        - name: main
          image: {first}
          args: ["--port=8080", "--log-level=info"]  # a comment
        - name: sidecar
          image: {second}
          resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}
""")
with open(f"{work}/stream.yaml", "w") as f:
    f.write("".join(docs))

# 2. check: 500 Pods x 2 containers = 1,000 containers, 200 unique images.
images = [f"{registry}/seed/many-tags:v1.{i}.0" for i in range(130)]
images += [f"{registry}/missing/app-{i}:1.0" for i in range(70)]
pods = []
for i in range(500):
    a, b = images[(2 * i) % 200], images[(2 * i + 1) % 200]
    pods.append(f"""---
apiVersion: v1
kind: Pod
metadata: {{name: pod-{i}, namespace: bench}}
spec:
  containers:
    - {{name: a, image: {a}}}
    - {{name: b, image: {b}}}
""")
with open(f"{work}/pods.yaml", "w") as f:
    f.write("".join(pods))
PY

bytes=$(wc -c <"$work/stream.yaml")
fields=$(grep -c ' image: ' "$work/stream.yaml")
echo "registry $registry; stream: $bytes bytes, $fields image fields; pods.yaml: $(grep -c 'image:' "$work/pods.yaml") containers"

# measure LABEL HOME STDIN ARGS...: prints "LABEL: X s, Y MB peak RSS (exit N)".
measure() {
    local label=$1 home=$2 input=$3
    shift 3
    local status=0
    if [ -x /usr/bin/time ]; then
        HOME=$home /usr/bin/time -v -o "$work/time" "$@" <"$input" >"$work/out" 2>"$work/err" || status=$?
        local wall rss
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
        printf '%-44s %10s wall  %6.1f MB peak RSS  (exit %d)\n' "$label" "$wall" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$status"
    else
        local start end
        start=$(date +%s.%N)
        HOME=$home "$@" <"$input" >"$work/out" 2>"$work/err" || status=$?
        end=$(date +%s.%N)
        printf '%-44s %10.3f s wall  (exit %d)\n' "$label" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$status"
    fi
}

home=$work/home
mkdir -p "$home"
echo
echo "post-render --kube-version 1.32 --pin (5,000 images, 134 unique):"
measure "cold (empty disk cache)" "$home" "$work/stream.yaml" "$TAGWARDEN" post-render --kube-version 1.32 --pin
cmp -s "$work/out" "$work/stream.yaml" && { echo "bench: nothing was rewritten" >&2; exit 1; }
echo "  $(grep -c '@sha256:' "$work/out") pinned image fields, $(wc -c <"$work/out") bytes out, $(wc -l <"$work/err") explanation lines"
for run in $(seq 1 "$RUNS"); do
    measure "warm #$run (disk cache)" "$home" "$work/stream.yaml" "$TAGWARDEN" post-render --kube-version 1.32 --pin
done
echo "post-render --kube-version 1.32 (no --pin: only the tracking kubectl images are asked about):"
for run in $(seq 1 "$RUNS"); do
    measure "warm #$run" "$home" "$work/stream.yaml" "$TAGWARDEN" post-render --kube-version 1.32
done
echo "post-render with nothing to ask (no tracking image; parse, search, copy):"
sed 's/v1\.32/v1.31/; s/kubectl:1\.32/kubectl:1.31/' "$work/stream.yaml" >"$work/stream-ok.yaml"
for run in $(seq 1 "$RUNS"); do
    measure "run #$run" "$home" "$work/stream-ok.yaml" "$TAGWARDEN" post-render --kube-version 1.32
done

echo
echo "check -o json (1,000 containers, 200 unique images):"
home2=$work/home2
mkdir -p "$home2"
measure "cold (empty disk cache)" "$home2" "$work/pods.yaml" "$TAGWARDEN" check -o json
python3 -c "import json,sys; print('  summary:', json.load(open(sys.argv[1]))['summary'])" "$work/out"
for run in $(seq 1 "$RUNS"); do
    measure "warm #$run (disk cache)" "$home2" "$work/pods.yaml" "$TAGWARDEN" check -o json
done
