#!/usr/bin/env bash
# The test suite, on a fresh Debian machine with nothing before it: install what the tests
# need (when it is missing), then run every test of the workspace.
#
#   scripts/test.sh [CARGO TEST ARGS...]
#
# As root, missing packages are installed with apt-get; otherwise the script prints the one
# command that installs them and exits 2. The tests start their own registries on loopback
# (Debian's docker-registry, through crates/tagwarden-testbed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/packages.sh

# docker-registry: the registry every test starts. The rest: scripts and benchmarks
# (skopeo, htpasswd, jq, curl, openssl) and the JSON-schema check of schema/ (python3).
TEST_PACKAGES=(docker-registry skopeo apache2-utils jq curl openssl python3 python3-jsonschema)
require_packages test "${TEST_PACKAGES[@]}"

exec cargo test --workspace --locked "$@"
