#!/usr/bin/env bash
# Benchmarks of `post-render` and `check` against the local test registry (issue 4):
#
#  1. post-render of a generated, realistic ~11 MB rendered stream: 1,500 applications, each
#     a Deployment (labels, annotations, env lists, probes, resources, volumes, affinity; two
#     containers and an init container: 4,500 image fields, 108 unique images, kubectl tags
#     that follow Kubernetes 1.32), a Service, a ServiceAccount and a ConfigMap embedding a
#     CRD as text, plus a CRD with a schema and a Role for every 10th: many small scalars,
#     as real charts render them. With --pin so that every image is asked about: a cold run
#     (empty disk cache), warm runs answered by the disk cache (HEADs of published tags and
#     tag lists are cached; "not published" answers are asked again), warm runs without
#     --pin (only the kubectl images track the version), runs with nothing to ask (parse,
#     search, copy), and next to them a plain YAML parse of the same bytes (python3's yaml
#     event parser, libyaml when present) as the yardstick;
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
# 1. post-render: a realistic rendered stream of about 11 MB, many small scalars as real
#    charts render them (no padding): per application a Deployment (labels, annotations,
#    an init container, two containers with env lists, probes, resources, volume mounts,
#    affinity, tolerations), a Service, a ServiceAccount and a ConfigMap that embeds a CRD
#    as text; every 10th application also a CRD with an openAPIV3Schema and a Role.
#    1,500 Deployments x 3 containers = 4,500 image fields (init containers use busybox).
def labels(i, indent):
    pad = " " * indent
    return "".join(f"{pad}{k}: {v}\n" for k, v in [
        ("app.kubernetes.io/name", f"app-{i}"),
        ("app.kubernetes.io/instance", f"release-{i % 40}"),
        ("app.kubernetes.io/version", f'"1.{i % 9}.{i % 5}"'),
        ("app.kubernetes.io/component", ["api", "worker", "web", "cron"][i % 4]),
        ("app.kubernetes.io/part-of", f"platform-{i % 12}"),
        ("app.kubernetes.io/managed-by", "Helm"),
        ("helm.sh/chart", f"app-{i % 40}-2.{i % 7}.0"),
    ])

def env(i):
    out = []
    for n in range(7):
        if n % 6 == 5:
            out.append(f"""            - name: SECRET_{n}
              valueFrom:
                secretKeyRef:
                  name: app-{i}-secrets
                  key: key-{n}
""")
        elif n % 6 == 4:
            out.append(f"""            - name: POD_{n}
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
""")
        else:
            out.append(f'            - name: SETTING_{n}\n              value: "{["true", "30s", "info", f"svc-{n}.ns.svc.cluster.local:{8000 + n}"][n % 4]}"\n')
    return "".join(out)

def probe(kind, path, port, delay):
    return f"""          {kind}:
            httpGet:
              path: {path}
              port: {port}
              scheme: HTTP
            initialDelaySeconds: {delay}
            periodSeconds: 10
            timeoutSeconds: 3
            successThreshold: 1
            failureThreshold: 3
"""

def crd(i, fields):
    props = "".join(f"""                field{n}:
                  description: Field {n} of thing {i}, described in a sentence as CRDs do.
                  type: {["string", "integer", "boolean"][n % 3]}
""" for n in range(fields))
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things{i}.example.com
  annotations:
    controller-gen.kubebuilder.io/version: v0.16.1
spec:
  group: example.com
  names: {{kind: Thing{i}, listKind: Thing{i}List, plural: things{i}, singular: thing{i}}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
{props}"""

docs = []
for i in range(1500):
    if i % 10 == 0:
        first = f"{registry}/clastix/kubectl:v1.32"        # tracks 1.32, missing: v1.31
    elif i % 10 == 1:
        first = f"'{registry}/bitnami/kubectl:1.32'"       # tracks 1.32, missing: 1.31
    else:
        first = f"{registry}/seed/many-tags:v1.{i % 130}.0"
    second = f'"{registry}/library/busybox:1.36"' if i % 2 else f"{registry}/library/busybox:1.36.1"
    ns = f"team-{i % 25}"
    docs.append(f"""---
# Source: app-{i % 40}/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
  labels:
{labels(i, 4)}  annotations:
    deployment.kubernetes.io/revision: "{i % 17 + 1}"
    meta.helm.sh/release-name: release-{i % 40}
    meta.helm.sh/release-namespace: {ns}
spec:
  replicas: {i % 3 + 1}
  revisionHistoryLimit: 10
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
      app.kubernetes.io/instance: release-{i % 40}
  template:
    metadata:
      labels:
{labels(i, 8)}      annotations:
        checksum/config: {"%064x" % (i * 7919)}
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      serviceAccountName: app-{i}
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      initContainers:
        - name: wait-for-db
          image: {second}
          command: ["sh", "-c", "until nc -z db.{ns}.svc 5432; do sleep 2; done"]
      containers:
        - name: main
          image: {first}
          imagePullPolicy: IfNotPresent
          args: ["--port=8080", "--log-level=info", "--metrics-port=9090"]  # a comment
          ports:
            - {{name: http, containerPort: 8080, protocol: TCP}}
            - {{name: metrics, containerPort: 9090, protocol: TCP}}
          env:
{env(i)}{probe("livenessProbe", "/healthz", "http", 15)}{probe("readinessProbe", "/readyz", "http", 5)}          resources:
            limits: {{cpu: "1", memory: 512Mi}}
            requests: {{cpu: 100m, memory: 128Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
          volumeMounts:
            - {{name: config, mountPath: /etc/app, readOnly: true}}
            - {{name: tmp, mountPath: /tmp}}
        - name: sidecar
          image: {second}
          args: ["--upstream=http://127.0.0.1:8080"]
          resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}
      volumes:
        - name: config
          configMap: {{name: app-{i}-config}}
        - name: tmp
          emptyDir: {{}}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels: {{app.kubernetes.io/name: app-{i}}}
      tolerations:
        - {{key: dedicated, operator: Equal, value: apps, effect: NoSchedule}}
---
# Source: app-{i % 40}/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: {ns}
  labels:
{labels(i, 4)}spec:
  type: ClusterIP
  ports:
    - {{name: http, port: 80, targetPort: http, protocol: TCP}}
    - {{name: metrics, port: 9090, targetPort: metrics, protocol: TCP}}
  selector:
    app.kubernetes.io/name: app-{i}
---
# Source: app-{i % 40}/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-{i}
  namespace: {ns}
  labels:
{labels(i, 4)}---
# Source: app-{i % 40}/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}-config
  namespace: {ns}
data:
  config.yaml: |
    server: {{port: 8080, timeout: 30s}}
    image: not-a-container-image:{i}
  thing-crd.yaml: |
""" + "".join("    " + line + "\n" for line in crd(i, 2).splitlines()))
    if i % 10 == 0:
        docs.append(f"---\n# Source: app-{i % 40}/crds/things{i}.yaml\n" + crd(i, 40))
        docs.append(f"""---
# Source: app-{i % 40}/templates/role.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-{i}
  namespace: {ns}
rules:
  - apiGroups: [""]
    resources: [configmaps, secrets, services, endpoints]
    verbs: [get, list, watch]
  - apiGroups: [example.com]
    resources: [things{i}, things{i}/status]
    verbs: [get, list, watch, update, patch]
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
fields=$(grep -cE '^ {10}image: ' "$work/stream.yaml")
unique=$(grep -E '^ {10}image: ' "$work/stream.yaml" | sed "s/.*image: //; s/[\"']//g" | sort -u | wc -l)
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
echo "post-render --kube-version 1.32 --pin ($fields image fields, $unique unique images):"
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

if python3 -c 'import yaml' 2>/dev/null; then
    parser=$(python3 -c 'import yaml; print("libyaml C parser" if yaml.__with_libyaml__ else "pure-Python parser")')
    echo "plain YAML parse of the same bytes, for comparison (python3 yaml.parse, $parser, events only):"
    for run in $(seq 1 "$RUNS"); do
        measure "run #$run" "$home" "$work/stream-ok.yaml" python3 -c '
import sys, yaml
loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
print(sum(1 for _ in yaml.parse(sys.stdin, Loader=loader)))'
    done
else
    echo "plain YAML parse: python3 yaml (Debian package python3-yaml) is not installed; skipped"
fi

echo
echo "check -o json (1,000 containers, 200 unique images):"
home2=$work/home2
mkdir -p "$home2"
measure "cold (empty disk cache)" "$home2" "$work/pods.yaml" "$TAGWARDEN" check -o json
python3 -c "import json,sys; print('  summary:', json.load(open(sys.argv[1]))['summary'])" "$work/out"
for run in $(seq 1 "$RUNS"); do
    measure "warm #$run (disk cache)" "$home2" "$work/pods.yaml" "$TAGWARDEN" check -o json
done
