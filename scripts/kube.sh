#!/usr/bin/env bash
# Prints the directory holding a real kube-apiserver and etcd for the API-server test
# (test/integration/injector-apiserver.test.ts), building them from the Go module proxy into a cache
# outside the clone when needed. Neither has a Debian, PyPI or npm package recent enough (Debian 12's
# etcd-server is 3.4, which Kubernetes' etcd 3.7 client no longer supports), and the Go module proxy
# serves both: k8s.io/kubernetes builds cmd/kube-apiserver once its k8s.io/* staging modules, which
# its go.mod replaces with ./staging directories that the module zip leaves out, are pinned to the
# published v0.X.Y versions that match v1.X.Y; etcd's server module has its main package at the root.
#
# A cold build (empty Go module and build caches) downloads ~300 modules and takes about 16 CPU-minutes
# (measured: 13 min user + 2.6 min sys), so about 10 minutes on 2 idle cores (71 minutes when the
# machine's load average was near 30); with the binaries cached it returns at once. By default it builds only
# when the kubernetes module is already in the Go module cache, and otherwise exits 3 with the
# reason, which the test reports as a skip (CI sets CLOUDTASER_KUBE_BUILD=always).
#
#   CLOUDTASER_KUBE_BUILD=always  build even from a cold cache
#   CLOUDTASER_KUBE_BUILD=never   never build; use the cache only
#   CLOUDTASER_CACHE              cache root (default ${XDG_CACHE_HOME:-~/.cache}/cloudtaser)
set -euo pipefail

kubernetes=v1.37.2
etcd=v3.7.3
cache=${CLOUDTASER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudtaser}
dir=$cache/kube-$kubernetes-etcd-$etcd
mode=${CLOUDTASER_KUBE_BUILD:-auto}

if [[ -x $dir/kube-apiserver && -x $dir/etcd ]]; then
  echo "$dir"
  exit 0
fi
if [[ $mode == never ]]; then
  echo "kube.sh: no kube-apiserver $kubernetes and etcd $etcd in $dir, and CLOUDTASER_KUBE_BUILD=never" >&2
  exit 3
fi
if ! command -v go >/dev/null; then
  echo "kube.sh: no Go toolchain to build kube-apiserver $kubernetes and etcd $etcd" >&2
  exit 3
fi
cached=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$kubernetes.zip
if [[ $mode != always && ! -f $cached ]]; then
  echo "kube.sh: k8s.io/kubernetes $kubernetes is not in the Go module cache; building kube-apiserver takes about 10 minutes: CLOUDTASER_KUBE_BUILD=always bash scripts/kube.sh" >&2
  exit 3
fi

started=$SECONDS
build=$dir.build
rm -rf "$build"
mkdir -p "$build/kube-apiserver" "$build/etcd"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

# Each binary is built in a module of our own that requires only it, so that its dependencies stay at
# the versions its project pins (building both in one module would raise kubernetes' etcd client and
# gRPC to etcd's). Replace directives of a dependency do not apply, so kubernetes' staging modules are
# replaced here with the published versions (v1.37.2 -> v0.37.2); etcd's point at sibling modules
# published at the same version, which its own requirements already name.
gomod_of() { go mod download -json "$1" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p'; }
minor=${kubernetes#v1.}
minor=${minor%%.*}
kubernetes_mod=$(gomod_of "k8s.io/kubernetes@$kubernetes")
{
  echo "module cloudtaser.local/kube-apiserver"
  echo
  grep -E '^(go|godebug) ' "$kubernetes_mod"
  echo
  echo "require k8s.io/kubernetes $kubernetes"
  echo
  echo "replace ("
  sed -n 's|^\t\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$|\t\1 => \1 v0.'"${kubernetes#v1.}"'|p' "$kubernetes_mod"
  echo ")"
} >"$build/kube-apiserver/go.mod"
etcd_mod=$(gomod_of "go.etcd.io/etcd/server/v3@$etcd")
{
  echo "module cloudtaser.local/etcd"
  echo
  grep -E '^go ' "$etcd_mod"
  echo
  echo "require go.etcd.io/etcd/server/v3 $etcd"
} >"$build/etcd/go.mod"

# The version the binary reports on /version (otherwise v0.0.0-master).
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kubernetes -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
(cd "$build/kube-apiserver" && go build -trimpath -ldflags "$kube_ldflags" -o kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver >&2)
(cd "$build/etcd" && go build -trimpath -ldflags "-s -w" -o etcd go.etcd.io/etcd/server/v3 >&2)
mkdir -p "$dir"
mv "$build/kube-apiserver/kube-apiserver" "$build/etcd/etcd" "$dir/"
rm -rf "$build"
echo "kube.sh: built kube-apiserver $kubernetes and etcd $etcd in $((SECONDS - started)) s" >&2
echo "$dir"
