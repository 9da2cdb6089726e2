#!/usr/bin/env bash
# Load test of `lookout serve` (embedded store) on loopback with wrk: a mix of real payloads,
# each request unique (so none is a duplicate the store would fold), for DURATION at CONNS
# connections. Prints requests/s, latency percentiles, errors, peak RSS, and checks that every
# report answered 204 is in the store. Not a test: a script that measures.
#
#   bench/load.sh [DURATION=30s] [CONNS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30s}
conns=${2:-64}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --bin lookout >&2
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn target/release/lookout serve --addr "127.0.0.1:$port" --data "$work/data" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done

# One Lua script per payload kind (one wrk thread each); {N}, the request number, makes each
# request's reports unique.
write_lua() { # name content-type reports-per-request body-template
  cat >"$work/$1.lua" <<LUA
local n = 0
function request()
  n = n + 1
  local body = string.gsub([=[$4]=], "{N}", n)
  return wrk.format("POST", "/r/example.com", {["Content-Type"] = "$2"}, body)
end
LUA
}
legacy='{"csp-report":{"document-uri":"https://example.com/page/{N}","referrer":"","violated-directive":"img-src","effective-directive":"img-src","original-policy":"default-src '"'"'self'"'"'; report-uri /r/example.com","disposition":"report","blocked-uri":"https://tracker.example.net/pixel.gif","status-code":200,"script-sample":""}}'
write_lua legacy application/csp-report 1 "$legacy"
item='{"type":"csp-violation","age":1200,"url":"https://example.com/app/{N}/ITEM","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","body":{"blockedURL":"https://cdn.example.net/lib.js","disposition":"report","documentURL":"https://example.com/app","effectiveDirective":"script-src-elem","originalPolicy":"script-src '"'"'self'"'"'; report-to lookout","statusCode":200}}'
batch="[$(for i in $(seq 20); do printf '%s\n' "${item/ITEM/$i}"; done | paste -sd, -)]"
write_lua batch20 application/reports+json 20 "$batch"

run() { # name connections
  wrk -t1 -c"$2" -d"$duration" --latency -s "$work/$1.lua" "http://127.0.0.1:$port" >"$work/$1.out" 2>&1 &
}
c1=$(( conns / 2 )); c2=$(( conns - c1 ))
run legacy "$c1"; p1=$!
run batch20 "$c2"; p2=$!
wait "$p1" "$p2"

peak_rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")
report() { # name reports-per-request
  local out="$work/$1.out"
  local reqs non2xx rps p50 p99 errors
  reqs=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {print}' "$out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  printf '%-8s requests=%s req/s=%s p50=%s p99=%s non-2xx=%s %s\n' "$1" "$reqs" "$rps" "$p50" "$p99" "$non2xx" "${errors:-socket errors: none}"
  echo $(( (reqs - non2xx) * $2 ))
}
legacy_line=$(report legacy 1); batch_line=$(report batch20 20)
echo "$legacy_line" | head -1; echo "$batch_line" | head -1
accepted=$(( $(echo "$legacy_line" | tail -1) + $(echo "$batch_line" | tail -1) ))
kill "$server"; wait "$server" 2>/dev/null || true
stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from reports').fetchone()[0])" "$work/data/lookout.db")
echo "connections=$conns duration=$duration peak_rss=$peak_rss"
echo "reports answered 204: $accepted; stored: $stored (requests cut off by the end of the run may add a few)"
if [ "$stored" -lt "$accepted" ]; then echo "LOST: $(( accepted - stored )) reports"; exit 1; fi
echo "lost: 0"
