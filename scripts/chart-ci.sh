#!/usr/bin/env bash
# Chart CI: render a Helm chart for each Kubernetes version of a matrix and check every
# image of each render with `tagwarden check`. The GitHub Action (action.yml) and the
# pre-commit hook (.pre-commit-hooks.yaml) both run this script.
#
#   scripts/chart-ci.sh --chart charts/capsule \
#       --kube-version v1.32.0-eks-5e0fdde --kube-version v1.31.4+k3s1 \
#       [--values values.yaml]... [--release NAME] [--namespace NS] \
#       [--sarif-dir DIR] [--summary FILE] [-- TAGWARDEN CHECK FLAGS...]
#
# Each flag has an environment variable for the action: CHART_CI_CHART, CHART_CI_VALUES
# and CHART_CI_KUBE_VERSIONS (lists: newlines, commas or spaces), CHART_CI_RELEASE,
# CHART_CI_NAMESPACE, CHART_CI_SARIF_DIR, CHART_CI_CHECK_ARGS (split on spaces), and
# GITHUB_STEP_SUMMARY for --summary. Kubernetes versions may be any distribution's
# (v1.30.5-gke.1014001, v1.33.1+k0s): `helm template --kube-version` and `tagwarden check
# --kube-version` both get the string as given.
#
# Without --sarif-dir and --summary (pre-commit): tagwarden's table for each version, on
# stderr, its locations in the chart's templates.
# With them: one SARIF file per version in DIR (its locations are the chart's template
# files, its category `tagwarden/CHART/VERSION`), and a Markdown table with the problem
# images appended to FILE (jq is needed for both).
#
# Exit: 2 a render failed or an image reference is invalid, else 3 an image could not be
# checked, else 1 an image is missing, else 0 (tagwarden's codes, the worst of all
# versions); every version is rendered and checked either way.
set -euo pipefail

chart=${CHART_CI_CHART:-}
release=${CHART_CI_RELEASE:-}
namespace=${CHART_CI_NAMESPACE:-default}
sarif_dir=${CHART_CI_SARIF_DIR:-}
summary=${GITHUB_STEP_SUMMARY:-}
values=()
kube_versions=()
check_args=()
# shellcheck disable=SC2206 # lists from the environment are split on purpose
IFS=$' \n\t,' read -r -d '' -a values < <(printf '%s\0' "${CHART_CI_VALUES:-}") || true
# shellcheck disable=SC2206
IFS=$' \n\t,' read -r -d '' -a kube_versions < <(printf '%s\0' "${CHART_CI_KUBE_VERSIONS:-}") || true
# shellcheck disable=SC2206
IFS=$' \n\t' read -r -d '' -a check_args < <(printf '%s\0' "${CHART_CI_CHECK_ARGS:-}") || true

usage() {
    echo "chart-ci: $1" >&2
    echo "usage: scripts/chart-ci.sh --chart DIR --kube-version V [--kube-version V]... [--values FILE]... [--release NAME] [--namespace NS] [--sarif-dir DIR] [--summary FILE] [-- CHECK FLAGS]" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --chart) chart=${2:?}; shift 2 ;;
        --values|-f) values+=("${2:?}"); shift 2 ;;
        --kube-version) kube_versions+=("${2:?}"); shift 2 ;;
        --release) release=${2:?}; shift 2 ;;
        --namespace|-n) namespace=${2:?}; shift 2 ;;
        --sarif-dir) sarif_dir=${2:?}; shift 2 ;;
        --summary) summary=${2:?}; shift 2 ;;
        --) shift; check_args+=("$@"); break ;;
        *) usage "unknown argument: $1" ;;
    esac
done
[ -n "$chart" ] || usage "no chart: give --chart DIR"
[ -f "$chart/Chart.yaml" ] || usage "$chart/Chart.yaml: no such file"
[ ${#kube_versions[@]} -gt 0 ] || usage "no Kubernetes version: give --kube-version V (one per version of the matrix)"
for tool in helm tagwarden; do
    command -v "$tool" >/dev/null || usage "$tool is not on PATH"
done
if [ -n "$sarif_dir$summary" ]; then
    command -v jq >/dev/null || usage "jq is needed for --sarif-dir and --summary"
fi
chart=${chart%/}
chart=${chart#./}
# helm template --output-dir writes DIR/<the chart's name>/templates/…
chart_name=$(sed -n 's/^name:[[:space:]]*//p' "$chart/Chart.yaml" | head -n1 | tr -d "\"' \r")
release=${release:-$chart_name}
work=$(mktemp -d "${TMPDIR:-/tmp}/chart-ci.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The worst of two exit codes, in tagwarden's order: 2, then 3, then 1, then 0.
worst() {
    local a=$1 b=$2
    for code in 2 3 1; do
        if [ "$a" = "$code" ] || [ "$b" = "$code" ]; then echo "$code"; return; fi
    done
    echo 0
}

# A version as a file name: v1.31.4+k3s1 -> v1.31.4_k3s1.
slug() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# Renders the chart for one version into $work/SLUG; helm's errors go to stderr.
render() {
    local version=$1 out=$2 args=()
    for file in "${values[@]}"; do args+=(--values "$file"); done
    helm template "$release" "$chart" --namespace "$namespace" --kube-version "$version" \
        "${args[@]}" --output-dir "$out" >/dev/null
}

# The SARIF of one render with its locations moved from the rendered files to the chart's
# templates (the rendered line, which has no place in the template, goes into the
# message), and a category of its own, so that the versions' files upload side by side.
relocate_sarif() {
    local version=$1 out=$2
    jq --arg prefix "file://$out/$chart_name/" --arg chart "$chart/" \
        --arg category "tagwarden/$chart_name/$version/" --arg version "$version" '
        .runs[].automationDetails = {id: $category}
        | .runs[].results[] |= (
            .locations[0].physicalLocation as $where
            | .message.text += " Kubernetes \($version); rendered at line \($where.region.startLine)."
            | .locations[].physicalLocation |= (
                if .artifactLocation.uri | startswith($prefix)
                then .artifactLocation.uri = $chart + (.artifactLocation.uri | ltrimstr($prefix))
                    | .region = {startLine: 1}
                else . end))'
}

# One row of the Markdown summary, and the problem images under it, from a SARIF file.
summarize() {
    local version=$1 code=$2 sarif=$3
    jq -r --arg version "$version" --arg code "$code" '
        [.runs[].results[]] as $results
        | def images(rule): [$results[] | select(.ruleId == rule) | .properties.image] | unique;
        "| `\($version)` | \(if $code == "0" then "✅" else "❌" end) \($code) | \(images("image-missing") | length) | \(images("image-undetermined") | length) | \(images("image-invalid") | length) |"' "$sarif"
}

summarize_problems() {
    local version=$1 sarif=$2
    jq -r --arg version "$version" '
        [.runs[].results[]] | group_by(.properties.image)[]
        | "- `\($version)`: `\(.[0].properties.image)` \(.[0].properties.status)"
          + (if .[0].properties.fallback then " → fallback `\(.[0].properties.fallback)`" else "" end)
          + " (" + ([.[].locations[0].physicalLocation.artifactLocation.uri] | unique | join(", ")) + ")"' "$sarif"
}

# Renders and checks one version; prints its exit code.
check_version() {
    local version=$1 out sarif code=0
    out="$work/$(slug "$version")"
    echo "chart-ci: $chart at Kubernetes $version" >&2
    if ! render "$version" "$out"; then
        echo "chart-ci: helm template failed for Kubernetes $version" >&2
        [ -z "$summary" ] || echo "| \`$version\` | ❌ helm template failed | | | |" >>"$work/rows.md"
        echo 2
        return
    fi
    if [ -z "$sarif_dir$summary" ]; then
        # The table and the errors name the chart's templates, not the render's folder.
        tagwarden check "$out" --kube-version "$version" "${check_args[@]}" \
            >"$out.table" 2>"$out.errors" || code=$?
        sed "s#$out/$chart_name/#$chart/#g" "$out.table" "$out.errors" >&2
        echo "$code"
        return
    fi
    sarif="$work/$(slug "$version").sarif"
    tagwarden check "$out" --kube-version "$version" -o sarif "${check_args[@]}" \
        >"$sarif.raw" || code=$?
    if [ ! -s "$sarif.raw" ]; then
        # Broken input or flags: tagwarden said why on stderr, and wrote no report.
        [ -z "$summary" ] || echo "| \`$version\` | ❌ $code, no report | | | |" >>"$work/rows.md"
        echo "$code"
        return
    fi
    relocate_sarif "$version" "$out" <"$sarif.raw" >"$sarif"
    if [ -n "$sarif_dir" ]; then
        mkdir -p "$sarif_dir"
        cp "$sarif" "$sarif_dir/tagwarden-$(slug "$version").sarif"
    fi
    if [ -n "$summary" ]; then
        summarize "$version" "$code" "$sarif" >>"$work/rows.md"
        summarize_problems "$version" "$sarif" >>"$work/problems.md"
    fi
    echo "$code"
}

status=0
for version in "${kube_versions[@]}"; do
    status=$(worst "$status" "$(check_version "$version")")
done

if [ -n "$summary" ]; then
    {
        echo "### tagwarden: images of \`$chart\`"
        echo
        echo "| Kubernetes | exit | missing | undetermined | invalid |"
        echo "|---|---|---|---|---|"
        cat "$work/rows.md"
        if [ -s "$work/problems.md" ]; then
            echo
            cat "$work/problems.md"
        fi
        echo
    } >>"$summary"
fi
exit "$status"
