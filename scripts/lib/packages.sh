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
