#!/usr/bin/env bash
# Builds versitygw (an S3 gateway that checks the region of a SigV4 credential scope, as AWS does) from the
# Go module proxy into ~/.cache/cloudtaser/versitygw-<version>, outside the clone, once. The bucket-region
# test runs it with its posix backend: SeaweedFS accepts any region, so only versitygw gives the proxy a
# real wrong-region answer (400 AuthorizationHeaderMalformed naming the region).
#
#   scripts/build-versitygw.sh          build if missing
#   scripts/build-versitygw.sh --print  build if missing, then print the binary's path
#   scripts/build-versitygw.sh --where  print where the binary is (or would be), build nothing
#
# Cold (empty Go module and build caches) it downloads 75 modules and compiles them: 1 min 39 s to 3 min 7 s
# wall on the shared 2-core machine (two measurements, under different load), 2 min of CPU, 340 MB of Go
# module cache, 430 MB of build cache and an 84 MB binary; warm, nothing.
set -euo pipefail

version=v1.8.0
dir=${CLOUDTASER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudtaser}/versitygw-$version
log() { printf 'build-versitygw: %s\n' "$*" >&2; }
if [[ ${1:-} == --where ]]; then echo "$dir/versitygw"; exit 0; fi

if [[ ! -x $dir/versitygw ]]; then
  command -v go >/dev/null || { log "no Go toolchain: cannot build versitygw $version"; exit 1; }
  started=$SECONDS
  mkdir -p "$dir"
  GOFLAGS=-mod=mod GOBIN=$dir go install "github.com/versity/versitygw/cmd/versitygw@$version"
  log "built versitygw $version in $((SECONDS - started)) s"
fi
if [[ ${1:-} == --print ]]; then echo "$dir/versitygw"; fi
