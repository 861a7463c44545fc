#!/usr/bin/env bash
# Puts tagwarden on PATH for the GitHub Action (action.yml); usable on its own too.
#
#   TAGWARDEN_INSTALL=cargo  cargo install --locked --path "$TAGWARDEN_SOURCE/crates/tagwarden"
#                            (TAGWARDEN_SOURCE: a checkout of tagwarden; the action passes its
#                            own, so the binary is the action's version)
#   TAGWARDEN_INSTALL=path   nothing to install: tagwarden must already be on PATH
#   TAGWARDEN_INSTALL=URL    download a release binary (the executable, or a .tar.gz with
#                            `tagwarden` in it); TAGWARDEN_SHA256, when set, must match
#
# The binary goes to $TAGWARDEN_INSTALL_ROOT/bin (default root: $RUNNER_TEMP/tagwarden,
# else ~/.local), which is added to $GITHUB_PATH when that is set (later steps see it).
# Exit 2 with one line when something is missing or wrong.
set -euo pipefail

mode=${TAGWARDEN_INSTALL:-cargo}
root=${TAGWARDEN_INSTALL_ROOT:-${RUNNER_TEMP:+$RUNNER_TEMP/tagwarden}}
root=${root:-$HOME/.local}
dir=$root/bin

fail() { echo "install-tagwarden: $1" >&2; exit 2; }

# Downloads URL into $dir/tagwarden (unpacking a .tar.gz), checking TAGWARDEN_SHA256.
download() {
    local url=$1
    command -v curl >/dev/null || fail "curl is needed to download $url"
    # Global, and removed on exit: a refused download (fail exits) leaves nothing behind.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    curl --fail --silent --show-error --location --output "$tmp/download" "$url" \
        || fail "could not download $url"
    if [ -n "${TAGWARDEN_SHA256:-}" ]; then
        echo "${TAGWARDEN_SHA256}  $tmp/download" | sha256sum --check --status \
            || fail "$url: SHA-256 is $(sha256sum "$tmp/download" | cut -d' ' -f1), not $TAGWARDEN_SHA256"
    fi
    case $url in
        *.tar.gz|*.tgz)
            tar -xzf "$tmp/download" -C "$tmp"
            local found
            found=$(find "$tmp" -type f -name tagwarden | head -n1)
            [ -n "$found" ] || fail "$url has no file named tagwarden"
            install -m 0755 "$found" "$dir/tagwarden" ;;
        *) install -m 0755 "$tmp/download" "$dir/tagwarden" ;;
    esac
}

case $mode in
    path)
        command -v tagwarden >/dev/null || fail "install: path, but tagwarden is not on PATH" ;;
    cargo)
        command -v cargo >/dev/null || fail "install: cargo, but cargo is not on PATH (actions/checkout + a Rust toolchain, or install: URL)"
        source=${TAGWARDEN_SOURCE:?TAGWARDEN_SOURCE: a checkout of tagwarden}
        [ -f "$source/crates/tagwarden/Cargo.toml" ] || fail "$source is not a checkout of tagwarden"
        mkdir -p "$dir"
        cargo install --locked --path "$source/crates/tagwarden" --root "$root" --bin tagwarden ;;
    http://*|https://*|file://*)
        mkdir -p "$dir"
        download "$mode" ;;
    *)
        fail "install must be cargo, path or the URL of a release binary, not '$mode'" ;;
esac

if [ "$mode" != path ]; then
    [ -x "$dir/tagwarden" ] || fail "no tagwarden in $dir after installing"
    [ -z "${GITHUB_PATH:-}" ] || echo "$dir" >>"$GITHUB_PATH"
    export PATH="$dir:$PATH"
fi
tagwarden --version >&2
