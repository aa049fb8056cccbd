#!/usr/bin/env bash
# Installs what the tests and the demo need, inside the repository only: Node 24 and the npm
# dependencies (node_modules/), and the real services and clients (.venv/, from test/requirements.txt).
# Idempotent and quick when nothing changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf 'install-tools: %s\n' "$*"; }

# npm ci rewrites node_modules/.package-lock.json, so it is newer than package-lock.json after a good install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  step "npm ci (node_modules missing or older than package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
else
  step "node_modules up to date"
fi

requirements=test/requirements.txt
stamp=.venv/.requirements.sha256
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$wanted" ]]; then
  step ".venv up to date with $requirements"
else
  if [[ ! -x .venv/bin/python ]]; then
    step "creating .venv with $(python3 --version)"
    if ! python3 -m venv .venv 2>/dev/null; then
      # Debian without python3-venv has no ensurepip: make the venv bare and let the system pip fill it.
      step "python3 -m venv failed (no ensurepip?); creating .venv without pip"
      rm -rf .venv
      python3 -m venv --without-pip .venv
    fi
  fi
  step "pip install -r $requirements"
  if [[ -x .venv/bin/pip ]]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  else
    python3 -m pip --python .venv/bin/python install --quiet --disable-pip-version-check -r "$requirements"
  fi
  printf '%s\n' "$wanted" >"$stamp"
fi

# AWS CLI v2 is not on PyPI (the `awscli` package there is v1); Debian's `awscli` is v2. The compat tests
# run both, since v2's managed copy sends what v1 does not.
if [[ -x /usr/bin/aws ]] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2\.'; then
  step "AWS CLI v2 present: $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1)"
elif command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  step "apt-get install awscli (AWS CLI v2 from Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli >/dev/null
else
  step "AWS CLI v2 missing: install Debian's awscli package (apt-get install awscli) for the compat tests" >&2
fi

# A JDK and Maven build the Java SDK client; Go (on the machine, as for helm and kube-apiserver) the Go one.
if ! command -v javac >/dev/null || ! command -v mvn >/dev/null; then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    step "apt-get install default-jdk-headless maven (the Java SDK client of the compat tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null
  else
    step "javac or mvn missing: install Debian's default-jdk-headless and maven for the compat tests" >&2
  fi
fi

# The Go and Java SDK clients of the compat tests, built once per source change into ~/.cache/cloudtaser.
bash scripts/build-sdk-clients.sh
# versitygw, the one S3 server here that refuses a wrong SigV4 region (test/integration/bucket-region.test.ts).
bash scripts/build-versitygw.sh

step "ready: $(node_modules/.bin/node --version) · $(.venv/bin/bao version | cut -d' ' -f1-2) · weed $(.venv/bin/weed version 2>&1 | awk 'NR == 1 {print $3}') · $(.venv/bin/rclone version | head -1)"
