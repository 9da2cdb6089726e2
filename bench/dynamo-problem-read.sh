#!/usr/bin/env bash
# What opening one problem costs on DynamoDB Local: REPORTS CSP reports of one site (1,000,000
# by default) over 300 problems and a rare one of 50 reports, stored through the store in
# 100-report batches, 8 at a time; then the rare problem's first page read from the index
# `by_problem` and as it was read before it (the type's partition filtered by fingerprint).
# Prints the fill rate, and the read units and milliseconds of each read (examples/problem_read.rs).
#
#   bench/dynamo-problem-read.sh [REPORTS]
#
# DynamoDB Local comes from scripts/setup-test-tools; its heap is JAVA_HEAP (4g by default).
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

reports=${1:-1000000}
cargo build --release --locked --example problem_read
jar=.cache/dynamodb-local/package/aws_dynamodb_local
[ -f "$jar/DynamoDBLocal.jar" ] || scripts/setup-test-tools

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
ddb_port=$(free_port)
java "-Xmx${JAVA_HEAP:-4g}" -Djava.library.path="$jar/DynamoDBLocal_lib" -jar "$jar/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$ddb_port" >"$work/ddb.log" 2>&1 &
pids+=($!)
endpoint=http://127.0.0.1:$ddb_port
for _ in $(seq 300); do curl -s -o /dev/null "$endpoint" && break; sleep 0.1; done

target/release/examples/problem_read "$endpoint" "$reports"
