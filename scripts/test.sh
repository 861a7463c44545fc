#!/usr/bin/env bash
# The test suite, on a fresh Debian machine with nothing before it: install what the tests
# need (when it is missing), then run every test of the workspace.
#
#   scripts/test.sh [CARGO TEST ARGS...]
#
# As root, missing packages are installed with apt-get; otherwise the script prints the one
# command that installs them and exits 2. The tests start their own registries on loopback
# (Debian's docker-registry, through crates/tagwarden-testbed), and run the real kubectl
# (1.27 or newer) against the test API server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/packages.sh

# docker-registry: the registry every test starts. The rest: scripts and benchmarks
# (skopeo, htpasswd, jq, curl, openssl), the JSON-schema check of schema/ (python3) and
# promtool for the alert rules and the dashboard's queries (prometheus).
TEST_PACKAGES=(docker-registry skopeo apache2-utils jq curl openssl python3 python3-jsonschema prometheus redis-server)
require_packages test "${TEST_PACKAGES[@]}"
# The chart tests render deploy/helm/tagwarden with Helm v4's own library, from PyPI.
require_python_module test helm_python helm-python-sdk==0.2.2
# The pre-commit hook's test runs the real pre-commit (crates/tagwarden/tests/gitops.rs).
require_python_module test pre_commit pre-commit==4.7.0
# kubectl 1.27+: the Google Cloud SDK's on CI (kubectl.1.27 … kubectl.1.33); where there is
# none, kubectl 1.27 and 1.33 from PyPI (Debian's kubernetes-client is 1.20, too old).
require_kubectl test

exec cargo test --workspace --locked "$@"
