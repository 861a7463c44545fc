#!/usr/bin/env bash
# The serve issue's scale benchmark, end to end (release build): `tagwarden serve` against
# the test API server with 5,000 Pods and 500 unique images, on the real registry behind a
# proxy adding 5 ms per request. Prints the time to the first complete check, the registry
# requests per unique image, the time to answer GET /metrics and serve's resident memory.
# A measurement, not a test. Needs docker-registry (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tagwarden --bins --example serve_scale
exec "${CARGO_TARGET_DIR:-target}/release/examples/serve_scale"
