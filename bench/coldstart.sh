#!/usr/bin/env bash
# Cold start of `lookout serve` and of the Lambda bootstrap (release builds, this machine's
# architecture), with AWS's DynamoDB Local as the function's table. Not a test: a script that
# measures. See bench/coldstart.py for what is timed.
#
#   bench/coldstart.sh [RUNS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
./scripts/setup-test-tools >&2
cargo build --release --locked --bin lookout --bin bootstrap >&2
work=$(mktemp -d)
ddb=
trap '[ -n "$ddb" ] && kill "$ddb" 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh
jar=.cache/dynamodb-local/package/aws_dynamodb_local
port=$(free_port)
java "-Djava.library.path=$jar/DynamoDBLocal_lib" -jar "$jar/DynamoDBLocal.jar" -inMemory \
  -port "$port" >"$work/ddb.log" 2>&1 &
ddb=$!
for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local target/release/lookout create-table \
  --table coldstart --endpoint-url "http://127.0.0.1:$port" --region us-east-1 >&2
python3 bench/coldstart.py target/release/lookout target/release/bootstrap \
  "http://127.0.0.1:$port" coldstart "$runs"
ls -l target/release/bootstrap | awk '{print "bootstrap (x86_64, release):", $5, "bytes"}'
