#!/usr/bin/env bash
# The main job, on a fresh Debian machine: start a throw-away registry on loopback, seed it
# like Docker Hub's clastix/kubectl (v1.28 … v1.31 published, no v1.32), and resolve the
# Capsule 1.32 case end to end. Nothing leaves loopback.
#
#   cargo build --release --locked && scripts/demo.sh
#
# The registry is Debian's docker-registry. When it is missing, the demo installs it with
# apt-get as root; otherwise it prints the one command that installs it and exits 2.
# (With TAGWARDEN_TEST_REGISTRY_BIN pointing at a registry binary, that one is used.)
#
# Env: TAGWARDEN (default target/release/tagwarden), TESTBED (default target/release/tagwarden-testbed)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/packages.sh
if [ -z "${TAGWARDEN_TEST_REGISTRY_BIN:-}" ]; then
    require_packages demo docker-registry
fi

TAGWARDEN=${TAGWARDEN:-target/release/tagwarden}
TESTBED=${TESTBED:-target/release/tagwarden-testbed}
for bin in "$TAGWARDEN" "$TESTBED"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing; run: cargo build --release --locked" >&2; exit 2; }
done

work=$(mktemp -d)
. scripts/lib/testbed.sh
cleanup() {
    testbed_stop_all
    rm -rf "$work"
}
trap cleanup EXIT

# The testbed starts docker-registry, seeds it, writes its address and waits until killed.
testbed_start demo
registry=$ADDR

run() {
    printf '\n$ %s\n' "$*"
    set +e
    "$@" 2>&1
    echo "(exit $?)"
    set -e
}
echo "A local registry at $registry holds clastix/kubectl v1.28 … v1.31, but no v1.32."
run "$TAGWARDEN" kube-version v1.32.0-eks-5e0fdde --minor 32+
run "$TAGWARDEN" resolve "$registry/clastix/kubectl:v1.32"
run "$TAGWARDEN" resolve "$registry/clastix/kubectl" --kube-version v1.32.0-eks-5e0fdde --tag-format 'v{major}.{minor}' --pin
run "$TAGWARDEN" resolve "$registry/clastix/kubectl:v1.32" --platform linux/arm64 -o json
run "$TAGWARDEN" resolve "$registry/clastix/kubectl:v1.34"
