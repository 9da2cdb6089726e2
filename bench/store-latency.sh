#!/usr/bin/env bash
# Request latency of `lookout serve --table` on DynamoDB Local: Reporting API batches of
# PROBLEMS reports (20 by default; 100 is the deployed cap), each a different problem (its own
# blocked URL), PARALLEL requests at a time (1 by default), every request's reports new (the page
# URL carries the request number). Prints p50, p90 and max of curl's time_total in milliseconds.
#
#   [PROBLEMS=N] [PARALLEL=N] bench/store-latency.sh [LOOKOUT_BINARY] [REQUESTS] [SERVE_FLAGS...]
#
# `--stream-counts off` measures the request path alone, as on Lambda, where the stream's
# counting runs in other invocations; by default the same process also counts from the stream
# (and shares DynamoDB Local with it).
# The binary defaults to target/release/lookout (built if missing). Pass another build (an older
# commit's) to compare. DynamoDB Local comes from scripts/setup-test-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bin=${1:-target/release/lookout}
requests=${2:-100}
problems=${PROBLEMS:-20}
parallel=${PARALLEL:-1}
shift $(( $# < 2 ? $# : 2 ))
if [ ! -x "$bin" ] && [ "$bin" = target/release/lookout ]; then
  cargo build --release --locked --bin lookout
fi
jar=.cache/dynamodb-local/package/aws_dynamodb_local
[ -f "$jar/DynamoDBLocal.jar" ] || scripts/setup-test-tools

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
ddb_port=$(free_port)
java -Djava.library.path="$jar/DynamoDBLocal_lib" -jar "$jar/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$ddb_port" >"$work/ddb.log" 2>&1 &
pids+=($!)
endpoint=http://127.0.0.1:$ddb_port
for _ in $(seq 300); do curl -s -o /dev/null "$endpoint" && break; sleep 0.1; done
"$bin" create-table --table bench --endpoint-url "$endpoint" >/dev/null

port=$(free_port)
"$bin" serve --addr "127.0.0.1:$port" --table bench --endpoint-url "$endpoint" "$@" \
  >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done

body() { # request number
  local i items=()
  for i in $(seq "$problems"); do
    items+=("{\"type\":\"csp-violation\",\"age\":1200,\"url\":\"https://example.com/page/$1\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\",\"body\":{\"blockedURL\":\"https://cdn$i.example.net/lib.js\",\"disposition\":\"report\",\"documentURL\":\"https://example.com/page/$1\",\"effectiveDirective\":\"script-src-elem\",\"originalPolicy\":\"script-src 'self'; report-to lookout\",\"statusCode\":200}}")
  done
  local IFS=,
  printf '[%s]' "${items[*]}"
}

for n in $(seq "$requests"); do body "$n" >"$work/body-$n.json"; done
url="http://127.0.0.1:$port/r/example.com"
# Warm-up: the first requests pay for connections and DynamoDB Local's JIT.
for n in $(seq 10); do
  body "warm-$n" | curl -fsS -o /dev/null -H 'Content-Type: application/reports+json' \
    --data-binary @- "$url"
done
seq "$requests" | xargs -P "$parallel" -I{} curl -fsS -o /dev/null -w '%{time_total}\n' \
  -H 'Content-Type: application/reports+json' --data-binary "@$work/body-{}.json" "$url" \
  | sort -n | awk -v p="$problems" -v c="$parallel" '{ms[NR] = $1 * 1000} END {
  printf "%d-problem batch, %d requests, %d at a time: p50 %.1f ms, p90 %.1f ms, max %.1f ms\n",
    p, NR, c, ms[int(NR * 0.5 + 0.5)], ms[int(NR * 0.9 + 0.5)], ms[NR]
}'
