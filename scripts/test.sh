#!/usr/bin/env bash
# The whole check, as `npm test` and CI run it: tools, type check, lint, then every test against real
# OpenBao and SeaweedFS started once for the run.
#
#   scripts/test.sh                                   all tests
#   scripts/test.sh test/integration/services.test.ts  only these files (or globs)
#   scripts/test.sh --test-name-pattern=range          node --test options pass through
#
# Exit status: the test runner's when it failed; otherwise non-zero if the type check or lint failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"

bash scripts/install-tools.sh || exit 1

options=()
files=()
for arg in "$@"; do
  if [[ $arg == -* ]]; then options+=("$arg"); else files+=("$arg"); fi
done
if ((${#files[@]} == 0)); then
  for layer in unit integration compat adversarial; do
    if [[ -n $(find "test/$layer" -name '*.test.ts' -print -quit 2>/dev/null) ]]; then
      files+=("test/$layer/**/*.test.ts")
    fi
  done
fi
if ((${#files[@]} == 0)); then
  echo "test.sh: no test files found" >&2
  exit 1
fi

# Pure unit tests need no services; anything else gets one shared set for the whole run.
needs_services=false
for file in "${files[@]}"; do
  [[ $file == test/unit/* ]] || needs_services=true
done

services_pid=
mkdir -p .run
state="$root/.run/services.$$.json"
services_log="$root/.run/services.$$.log"
stop_services() {
  if [[ -n $services_pid ]] && kill -0 "$services_pid" 2>/dev/null; then
    kill -TERM "$services_pid" 2>/dev/null
    wait "$services_pid" 2>/dev/null
  fi
  rm -f "$state" "$services_log"
}
trap stop_services EXIT

if $needs_services; then
  started=$SECONDS
  # Starts while the type check and lint run; waited for just before the tests.
  node test/support/services.ts up --state "$state" --exit-with $$ >"$services_log" 2>&1 &
  services_pid=$!
fi

status_of() { if (($1 == 0)); then echo ok; else echo "FAILED ($1)"; fi; }

echo "== tsc -p tsconfig.json"
tsc -p tsconfig.json
tsc_status=$?
echo "== build: tsc -p tsconfig.build.json (dist/, the JavaScript the proxy runs as)"
tsc -p tsconfig.build.json
build_status=$?
echo "== biome check ."
biome check .
biome_status=$?

if $needs_services; then
  echo "== services"
  until [[ -f $state ]]; do
    if ! kill -0 "$services_pid" 2>/dev/null || ((SECONDS - started > 120)); then
      echo "test.sh: the test services did not start:" >&2
      cat "$services_log" >&2
      exit 1
    fi
    sleep 0.2
  done
  cat "$services_log"
  export CLOUDTASER_TEST_SERVICES=$state
fi

echo "== node --test ${options[*]} ${files[*]}"
node --test --test-concurrency=2 --test-timeout=300000 "${options[@]}" "${files[@]}"
test_status=$?

echo "== summary: tsc $(status_of $tsc_status), build $(status_of $build_status), biome $(status_of $biome_status), tests $(status_of $test_status)"
if ((test_status != 0)); then exit "$test_status"; fi
if ((tsc_status != 0 || build_status != 0 || biome_status != 0)); then exit 1; fi
exit 0
