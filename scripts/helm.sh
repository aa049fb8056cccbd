#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests, building it from the Go module proxy into
# .tools/ (git-ignored) when needed. Helm has no PyPI or npm package, so `go install` is the way here.
#
# A build from a cold Go cache downloads and compiles ~200 modules: about 4 minutes on 2 cores; with
# the module and build caches warm it takes about 10 seconds. So by default it builds only when the
# helm module is already in the Go module cache, and otherwise exits 3 with the reason, which the
# chart tests report as a skip rather than slowing every CI run by minutes.
#
#   CLOUDTASER_HELM_BUILD=always  build even from a cold cache
#   CLOUDTASER_HELM_BUILD=never   never build; use .tools/ or a helm on PATH only
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=v3.22.0
dir=$PWD/.tools/helm-$version
binary=$dir/helm
mode=${CLOUDTASER_HELM_BUILD:-auto}

if [[ -x $binary ]]; then
  echo "$binary"
  exit 0
fi
if [[ $mode == never ]]; then
  if command -v helm >/dev/null; then command -v helm; exit 0; fi
  echo "helm.sh: no helm in .tools/ or on PATH, and CLOUDTASER_HELM_BUILD=never" >&2
  exit 3
fi
if ! command -v go >/dev/null; then
  if command -v helm >/dev/null; then command -v helm; exit 0; fi
  echo "helm.sh: no Go toolchain to build helm $version, and no helm on PATH" >&2
  exit 3
fi
cached=$(go env GOMODCACHE)/cache/download/helm.sh/helm/v3/@v/$version.zip
if [[ $mode != always && ! -f $cached ]]; then
  echo "helm.sh: helm $version is not in the Go module cache; building it takes minutes: CLOUDTASER_HELM_BUILD=always bash scripts/helm.sh" >&2
  exit 3
fi
started=$SECONDS
mkdir -p "$dir"
GOFLAGS=-mod=mod GOBIN=$dir go install "helm.sh/helm/v3/cmd/helm@$version" >&2
echo "helm.sh: built helm $version in $((SECONDS - started)) s" >&2
echo "$binary"
