#!/usr/bin/env bash
# `npm run demo`: the proxy on 127.0.0.1:8190 in front of a real SeaweedFS, with its data keys wrapped
# by a real OpenBao Transit key, and a bucket `demo` ready to use with the AWS CLI. Ctrl-C stops it all.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"

listen=${CLOUDTASER_DEMO_LISTEN_ADDR:-127.0.0.1:8190}
health=${CLOUDTASER_DEMO_HEALTH_ADDR:-127.0.0.1:8191}
endpoint="http://$listen"

bash scripts/install-tools.sh

port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
for addr in "$listen" "$health"; do
  if port_in_use "$addr"; then
    echo "demo: $addr is already in use (another demo running?). Stop it, or set CLOUDTASER_DEMO_LISTEN_ADDR / CLOUDTASER_DEMO_HEALTH_ADDR." >&2
    exit 1
  fi
done

mkdir -p .run
state=$root/.run/demo-services.json
services_log=$root/.run/demo-services.log
proxy_log=$root/.run/demo-proxy.log
services_pid=
proxy_pid=

stop_all() {
  trap - INT TERM HUP EXIT
  echo
  if [[ -n $proxy_pid ]] && kill -0 "$proxy_pid" 2>/dev/null; then
    echo "demo: stopping the proxy"
    kill -TERM "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  if [[ -n $services_pid ]] && kill -0 "$services_pid" 2>/dev/null; then
    echo "demo: stopping OpenBao and SeaweedFS"
    kill -TERM "$services_pid" 2>/dev/null || true
    wait "$services_pid" 2>/dev/null || true
  fi
  rm -f "$state"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 129' HUP
trap stop_all EXIT

echo "demo: starting OpenBao and SeaweedFS"
node test/support/services.ts up --state "$state" --exit-with $$ >"$services_log" 2>&1 &
services_pid=$!
started=$SECONDS
until [[ -f $state ]]; do
  if ! kill -0 "$services_pid" 2>/dev/null || ((SECONDS - started > 120)); then
    echo "demo: the services did not start:" >&2
    cat "$services_log" >&2
    exit 1
  fi
  sleep 0.2
done
cat "$services_log"

field() { node -e 'const s = require(process.argv[1]); console.log(process.argv[2].split(".").reduce((o, k) => o[k], s))' "$state" "$1"; }
s3_endpoint=$(field s3.endpoint)
s3_key=$(field s3.accessKeyId)
s3_secret=$(field s3.secretAccessKey)
vault_addr=$(field vault.directAddr)
root_token=$(field vault.rootToken)

# The proxy runs as it ships: src/ compiled to dist/ (package.json "build").
if ! tsc -p tsconfig.build.json; then
  echo "demo: the build failed; the services are up (state in $state). Ctrl-C stops them." >&2
  wait "$services_pid"
  exit 1
fi

echo "demo: starting the proxy on $listen (health on $health), log in $proxy_log"
(
  eval "$(node test/support/services.ts proxy-env --state "$state" --listen "$listen" --health "$health")"
  exec node --max-semi-space-size=1 --initial-old-space-size=64 dist/main.js serve
) >"$proxy_log" 2>&1 &
proxy_pid=$!

until node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' \
  "http://$health/healthz"; do
  if ! kill -0 "$proxy_pid" 2>/dev/null || ((SECONDS - started > 120)); then
    echo "demo: the proxy did not become healthy; its output:" >&2
    cat "$proxy_log" >&2
    exit 1
  fi
  sleep 0.2
done

# The proxy does not check client credentials unless inbound authentication is configured; it signs
# upstream requests with its own (SeaweedFS's) credentials.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo-secret AWS_DEFAULT_REGION=us-east-1
.venv/bin/aws --endpoint-url "$endpoint" s3 mb s3://demo >/dev/null
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION

cat <<EOF

CloudTaser S3 proxy demo is running. Bucket "demo" was created through the proxy.

  proxy         $endpoint   (health: http://$health/healthz, log: $proxy_log)
  OpenBao       $vault_addr   (root token $root_token, Transit key transit/keys/cloudtaser-test)
  SeaweedFS S3  $s3_endpoint

Store and read an object through the proxy (any credentials will do):

  export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo-secret AWS_DEFAULT_REGION=us-east-1
  echo 'hello, encrypted world' > /tmp/hello.txt
  .venv/bin/aws --endpoint-url $endpoint s3 cp /tmp/hello.txt s3://demo/hello.txt
  .venv/bin/aws --endpoint-url $endpoint s3 cp s3://demo/hello.txt -
  .venv/bin/aws --endpoint-url $endpoint s3 ls s3://demo/

Look at what the storage really holds, straight from SeaweedFS (ciphertext, and the wrapped key in the metadata):

  AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \\
    .venv/bin/aws --endpoint-url $s3_endpoint --region us-east-1 s3 cp s3://demo/hello.txt - | od -A d -c | head
  AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \\
    .venv/bin/aws --endpoint-url $s3_endpoint --region us-east-1 s3api head-object --bucket demo --key hello.txt

Ctrl-C stops the proxy, OpenBao and SeaweedFS (all data is thrown away).
EOF

# Ctrl-C reaches the whole process group: the proxy and the services stop on it too, and the traps
# above wait for them.
status=0
wait "$proxy_pid" || status=$?
if ((status > 128)); then exit 130; fi
echo "demo: the proxy exited with status $status; its log is $proxy_log" >&2
exit 1
