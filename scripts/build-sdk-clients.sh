#!/usr/bin/env bash
# Builds the AWS SDK clients of the compat tests (test/compat/go-client from the Go module proxy,
# test/compat/java-client from Maven Central) into ~/.cache/cloudtaser/sdk-clients, outside the clone,
# once per change of their sources, so warm runs (and fresh clones on the same machine) take a second.
#
#   scripts/build-sdk-clients.sh             build what is missing
#   scripts/build-sdk-clients.sh --print go  build if missing, then print the Go client's binary
#   scripts/build-sdk-clients.sh --print java  ... the `java` arguments that run the Java client
#
# Cold (empty Go module and build caches, empty Maven repository) it downloads ~40 MB of jars and the
# Go SDK's modules and compiles them: 1 min 22 s of CPU (measured; docs/CLIENTS.md); warm about 1.5 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${CLOUDTASER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudtaser}/sdk-clients
mkdir -p "$cache"

log() { printf 'build-sdk-clients: %s\n' "$*" >&2; }
# A key over the sources and the toolchain: a change to either builds anew into a new folder.
key_of() { { cat "$@"; "$toolchain" version 2>&1 || "$toolchain" -version 2>&1; } | sha256sum | cut -c1-16; }

go_client() {
  local src=test/compat/go-client toolchain=go
  command -v go >/dev/null || { log "no Go toolchain: cannot build $src"; return 1; }
  local dir
  dir=$cache/go-$(key_of "$src/go.mod" "$src/go.sum" "$src"/*.go)
  if [[ ! -x $dir/s3-go-client ]]; then
    local started=$SECONDS
    mkdir -p "$dir"
    (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -o "$dir/s3-go-client.tmp" .)
    mv "$dir/s3-go-client.tmp" "$dir/s3-go-client"
    log "built the Go SDK client in $((SECONDS - started)) s"
  fi
  echo "$dir/s3-go-client"
}

java_client() {
  local src=test/compat/java-client toolchain=javac
  command -v javac >/dev/null && command -v mvn >/dev/null || { log "no javac or mvn: cannot build $src"; return 1; }
  local dir
  dir=$cache/java-$(key_of "$src/pom.xml" "$src"/src/main/java/cloudtaser/*.java)
  if [[ ! -f $dir/classpath ]]; then
    local started=$SECONDS
    mkdir -p "$dir"
    (cd "$src" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$cache/m2" dependency:build-classpath \
      -Dmdep.outputFile="$dir/dependencies.tmp" >&2)
    javac --release 17 -nowarn -cp "$(cat "$dir/dependencies.tmp")" -d "$dir/classes" "$src"/src/main/java/cloudtaser/*.java
    printf '%s:%s\n' "$dir/classes" "$(cat "$dir/dependencies.tmp")" >"$dir/classpath"
    rm "$dir/dependencies.tmp"
    log "built the Java SDK client in $((SECONDS - started)) s"
  fi
  printf '%s\n' -cp "$(cat "$dir/classpath")" cloudtaser.Main
}

if [[ ${1:-} == --print ]]; then
  case ${2:-} in
    go) go_client ;;
    java) java_client ;;
    *) log "usage: $0 [--print go|java]"; exit 2 ;;
  esac
  exit 0
fi
go_client >/dev/null
java_client >/dev/null
