#!/usr/bin/env bash
# npm run bench: installs what is missing, then runs the benchmark against real OpenBao and SeaweedFS
# (bench/throughput.ts; settings: BENCH_HELP=1 npm run bench, or docs/BENCHMARKS.md).
#
#   npm run bench                      the whole table (curl and SDK; direct, proxy, rclone-crypt)
#   BENCH_ROWS=get-single BENCH_CLIENTS=curl npm run bench     one row, quickly
#   npm run bench -- profile [DIR]     where the proxy's CPU goes: CPU profiles, GC counts and strace
#                                      for 256 MiB PUT and GET, single-part and multipart, then a summary
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
bash scripts/install-tools.sh
# The proxy runs as it ships: the JavaScript in dist/ (see package.json "build").
tsc -p tsconfig.build.json

if [[ ${1:-} != profile ]]; then
  exec node bench/throughput.ts "$@"
fi

dir=${2:-bench/results/profile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$dir"
export BENCH_ROWS=${BENCH_ROWS:-put-single,get-single,put-multipart,get-multipart}
export BENCH_TARGETS=proxy BENCH_ROUNDS=1 BENCH_MULTIPART_ROUNDS=1
export BENCH_SINGLE_MIB=${BENCH_SINGLE_MIB:-256} BENCH_MULTIPART_MIB=${BENCH_MULTIPART_MIB:-256}
# 1. V8 CPU profiles (GC counts are in every run's results), a fresh proxy per transfer (BENCH_PROFILE_DIR implies it).
BENCH_PROFILE_DIR="$dir/cpu" BENCH_RESULTS_DIR="$dir/cpu-run" node bench/throughput.ts
# 2. System calls, in a run of its own: strace slows the proxy down and would distort the profiles.
BENCH_STRACE_DIR="$dir/strace" BENCH_FRESH_PROXY=1 BENCH_RESULTS_DIR="$dir/strace-run" node bench/throughput.ts
node bench/profile-summary.ts "$dir/cpu" "$dir/strace" --results "$dir/cpu-run/results.json" | tee "$dir/summary.txt"
echo "profiles, GC counts (cpu-run/results.json), strace summaries and summary.txt: $dir"
