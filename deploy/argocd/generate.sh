#!/bin/sh
# The generate step of tagwarden's Argo CD Config Management Plugin (plugin.yaml): render
# the application's chart with `helm template`, for the destination cluster's version,
# then repair it with `tagwarden post-render`. The argocd-cmp-server runs this in the
# application's source path with Argo CD's build environment; its stdout is what Argo CD
# applies, and on failure its stderr (tagwarden's one-line reason) becomes the
# application's ComparisonError.
#
# From Argo CD: ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE, KUBE_VERSION (the destination's
# version), KUBE_API_VERSIONS (its API versions, comma-separated). From the Application's
# spec.source.plugin.env (Argo CD prefixes each name with ARGOCD_ENV_):
#   RELEASE_NAME     the Helm release name (default: the application's name)
#   VALUES_FILES     values files, comma-separated, relative to the chart (as valueFiles)
#   VALUES           values as YAML text, applied after the files (as valuesObject)
#   TAGWARDEN_ARGS   more post-render flags, split on spaces (e.g. --pin --max-skew 2)
#   INCLUDE_CRDS     "false" to leave out crds/ (Argo CD's Helm includes them)
# No cluster is asked: the version comes from KUBE_VERSION alone.
set -eu

kube_version=${KUBE_VERSION:-}
if [ -z "$kube_version" ]; then
    echo "tagwarden plugin: KUBE_VERSION is empty: Argo CD sets it to the destination cluster's version" >&2
    exit 2
fi
# Old Argo CD releases passed the Major.Minor fields, such as 1.28+ on GKE and EKS: the
# trailing + is not part of a version, for Helm or tagwarden.
kube_version=${kube_version%+}

work=$(mktemp -d "${TMPDIR:-/tmp}/tagwarden-plugin.XXXXXX")
trap 'rm -rf "$work"' EXIT

set -- template "${ARGOCD_ENV_RELEASE_NAME:-${ARGOCD_APP_NAME:?Argo CD sets ARGOCD_APP_NAME}}" . \
    --namespace "${ARGOCD_APP_NAMESPACE:-default}" --kube-version "$kube_version"
if [ "${ARGOCD_ENV_INCLUDE_CRDS:-true}" != false ]; then
    set -- "$@" --include-crds
fi
old_ifs=$IFS
IFS=,
for api in ${KUBE_API_VERSIONS:-}; do
    set -- "$@" --api-versions "$api"
done
for file in ${ARGOCD_ENV_VALUES_FILES:-}; do
    set -- "$@" --values "$file"
done
IFS=$old_ifs
if [ -n "${ARGOCD_ENV_VALUES:-}" ]; then
    printf '%s\n' "$ARGOCD_ENV_VALUES" >"$work/values.yaml"
    set -- "$@" --values "$work/values.yaml"
fi

# Rendered to a file, not piped: a failed render must fail the step, never hand
# post-render an empty stream (which Argo CD would apply as "no objects").
helm "$@" >"$work/rendered.yaml"
status=0
# shellcheck disable=SC2086 # TAGWARDEN_ARGS is a list of flags, split on purpose.
tagwarden post-render --kube-version "$kube_version" ${ARGOCD_ENV_TAGWARDEN_ARGS:-} \
    <"$work/rendered.yaml" || status=$?
exit "$status"
