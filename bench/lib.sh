# Shared by the load scripts: payloads, one wrk run, and the server-side figures of that run.
# Sourced, not run. Expects $work (a scratch directory).

command -v wrk >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
  for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}

# Reports per request of each payload kind.
declare -A per_request=([legacy]=1 [batch20]=20)

# One Lua script per payload kind; {N} (the thread and request numbers) makes every request's
# reports unique, so no store folds a duplicate.
write_payloads() {
  local legacy item batch
  legacy='{"csp-report":{"document-uri":"https://example.com/page/{N}","referrer":"","violated-directive":"img-src","effective-directive":"img-src","original-policy":"default-src '"'"'self'"'"'; report-uri /r/example.com","disposition":"report","blocked-uri":"https://tracker.example.net/pixel.gif","status-code":200,"script-sample":""}}'
  item='{"type":"csp-violation","age":1200,"url":"https://example.com/app/{N}/ITEM","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","body":{"blockedURL":"https://cdn.example.net/lib.js","disposition":"report","documentURL":"https://example.com/app","effectiveDirective":"script-src-elem","originalPolicy":"script-src '"'"'self'"'"'; report-to lookout","statusCode":200}}'
  batch="[$(for i in $(seq 20); do printf '%s\n' "${item/ITEM/$i}"; done | paste -sd, -)]"
  write_lua legacy application/csp-report "$legacy"
  write_lua batch20 application/reports+json "$batch"
}

write_lua() { # name content-type body-template
  cat >"$work/$1.lua" <<LUA
-- Each wrk thread gets its own number (setup runs in the main state, once per thread), so
-- threads never send the same report.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local body = string.gsub([=[$3]=], "{N}", tid .. "-" .. n)
  return wrk.format("POST", wrk.path, {["Content-Type"] = "$2"}, body)
end
LUA
}

# CPU time (user + system, in clock ticks) of the processes named by pids.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat") ))
  done
  echo "$total"
}

# Runs wrk with payload kind $1 at $2 connections for $duration against URL $3, charging the
# CPU of pids $4... to it. Prints one table row and sets $accepted (reports answered 2xx).
# With 1 connection wrk gets one thread; otherwise two (the machine has two cores, shared
# with the server: wrk's own CPU is part of what the server competes with).
measure() {
  local kind=$1 conns=$2 url=$3; shift 3
  local threads=2; [ "$conns" -lt 2 ] && threads=1
  local before after out="$work/$kind-$conns.out"
  before=$(cpu_ticks "$@")
  wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$work/$kind.lua" "$url" >"$out" 2>&1
  after=$(cpu_ticks "$@")
  local reqs non2xx rps p50 p99 errors hz cpu_ms
  reqs=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print}' "$out")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  hz=$(getconf CLK_TCK)
  cpu_ms=$(awk -v t=$(( after - before )) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.3f", n ? t * 1000 / hz / n : 0}')
  accepted=$(( (reqs - non2xx) * ${per_request[$kind]} ))
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$kind" "$conns" "$rps" \
    "$(( rps * ${per_request[$kind]} ))" "$p50" "$p99" "$cpu_ms" "non-2xx ${non2xx}${errors:+, socket errors: $errors}"
}

table_header() {
  echo '| payload | connections | requests/s | reports/s | p50 | p99 | server CPU ms/request | errors |'
  echo '| --- | --- | --- | --- | --- | --- | --- | --- |'
}
