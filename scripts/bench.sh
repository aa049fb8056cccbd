#!/usr/bin/env bash
# npm run bench: installs what is missing, then runs the throughput benchmark against real OpenBao and SeaweedFS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
exec node bench/throughput.ts "$@"
