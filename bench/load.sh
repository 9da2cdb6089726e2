#!/usr/bin/env bash
# Load test of `lookout serve` (release build, embedded store with synchronous=FULL) on
# loopback with wrk. For each payload kind and connection count, a fresh server and store:
# requests/s, latency percentiles, server CPU per request, peak RSS, and a check that every
# report answered 2xx is in the store. Not a test: a script that measures.
#
#   bench/load.sh [DURATION=20s] [CONNECTIONS="1 16 64"] [KINDS="legacy batch20"]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
connections=${2:-1 16 64}
kinds=${3:-legacy batch20}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

cargo build --release --locked --bin lookout >&2
write_payloads
echo "lookout serve, embedded store; $(nproc) cores; $duration per row"
table_header
rss_rows=()
for kind in $kinds; do
  for conns in $connections; do
    port=$(free_port)
    RUST_LOG=warn target/release/lookout serve --addr "127.0.0.1:$port" \
      --data "$work/data-$kind-$conns" 2>"$work/server.log" &
    server=$!
    wait_http "http://127.0.0.1:$port/health"
    measure "$kind" "$conns" "http://127.0.0.1:$port/r/example.com" "$server"
    peak=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    kill "$server"; wait "$server" 2>/dev/null || true; server=
    stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from reports').fetchone()[0])" "$work/data-$kind-$conns/lookout.db")
    rss_rows+=("$kind at $conns: peak RSS $(( peak / 1024 )) MiB; reports answered 2xx $accepted, stored $stored")
    if [ "$stored" -lt "$accepted" ]; then echo "LOST: $kind at $conns: $(( accepted - stored )) reports"; exit 1; fi
    rm -rf "$work/data-$kind-$conns"
  done
done
printf '%s\n' "${rss_rows[@]}"
echo "lost: 0 (stored may exceed answered by requests cut off at the end of a run)"
