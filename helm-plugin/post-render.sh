#!/bin/sh
# The Helm 4 post-renderer plugin's command: `tagwarden post-render` with Helm's
# --post-renderer-args. stdin and stdout go straight through; the exit code is tagwarden's.
#
# Which binary: $TAGWARDEN_BIN, else $HELM_PLUGIN_DIR/bin/tagwarden, else tagwarden on PATH.
#
# Arguments as Helm 3 passes them to the tagwarden binary itself (`--post-renderer-args
# post-render --post-renderer-args --kube-version=1.32`) work here too: a leading
# `post-render` is dropped, since this wrapper already runs `tagwarden post-render`.
#
# Helm 4 keeps a post-renderer plugin's stderr to itself (it reports only "plugin exited
# with error"), so tagwarden's explanations and errors would be lost. This wrapper copies
# them to $TAGWARDEN_POST_RENDER_LOG when that is set, and, when tagwarden fails, to the
# terminal when there is one.
set -u

bin=${TAGWARDEN_BIN:-}
if [ -z "$bin" ]; then
    if [ -x "${HELM_PLUGIN_DIR:-.}/bin/tagwarden" ]; then
        bin="${HELM_PLUGIN_DIR:-.}/bin/tagwarden"
    elif command -v tagwarden >/dev/null 2>&1; then
        bin=tagwarden
    else
        echo "tagwarden post-renderer: no tagwarden binary: install it on PATH, put it in ${HELM_PLUGIN_DIR:-.}/bin/, or set TAGWARDEN_BIN" >&2
        exit 2
    fi
fi

if [ "${1:-}" = post-render ]; then
    shift
fi

log=$(mktemp "${TMPDIR:-/tmp}/tagwarden-post-render.XXXXXX") || exit 2
"$bin" post-render "$@" 2>"$log"
status=$?
cat "$log" >&2
if [ -n "${TAGWARDEN_POST_RENDER_LOG:-}" ]; then
    cat "$log" >>"$TAGWARDEN_POST_RENDER_LOG"
fi
if [ "$status" -ne 0 ] && [ -s "$log" ] && ( : >/dev/tty ) 2>/dev/null; then
    cat "$log" >/dev/tty
fi
rm -f "$log"
exit "$status"
