#!/usr/bin/env bash
# How the embedded store scales: for each size, a store of that many realistic reports
# (examples/store_fill.rs: four sites, about 450 problems, 30 days of arrivals ending at the
# fill), then the time of each summarizing command and dashboard page on it (median of 3), its
# size on disk, and what a server does on it: ingest, the alert path, the WAL under a burst.
# Prints one Markdown row per size (for BENCHMARKS.md) on stdout; progress goes to stderr.
#
#   bench/store-scale.sh [SIZES...]      # default: 10000 100000 1000000 5000000
#
#   FRESH=1   refill every store (by default a store in target/bench-stores/N is reused when
#             its marker, N/fill.txt, names the same N, seed and code: the git objects of
#             src/store, src/report and examples/store_fill.rs at HEAD; commit first to
#             measure uncommitted changes)
#   SEED=N    the generator's seed (default 1)
#   SERVE=0   only the store and the reads: no server figures
#
# Columns: times in milliseconds, wall clock, each the median of 3 runs, on a warm page cache:
#   - top 30d, policy, query --limit 50: `lookout top|policy|query` on shop.example (55 % of
#     the reports), process start included; query keeps its default window (24 h).
#   - front page (`/`, its default 7-day window), problems 30d (shop.example's problems), one
#     problem (shop.example's problem with the fewest reports, as `lookout top --json` ranks
#     them), policy page: `lookout ui` (started once per size, with --policy) read with curl,
#     time_total of an HTTP 200.
#   - DB on disk: lookout.db + -wal + -shm after the fill (MB = 10^6 bytes).
#   - fill reports/s: store_fill's rate (decode + put, 100 a put, 8 in flight).
#   - The server figures run `lookout serve` on a copy of the store (the store stays as
#     filled, for the next run), with --retention-days 3650 so that retention removes nothing
#     (each measure starts once the server's start-up work is done):
#     - ingest reports/s: 50,000 new reports in 100-report Reporting API batches (shop.example's
#       mix, every report unique), wrk at 16 connections, 2 threads.
#     - first/last alert after: with --alert-webhook to a local receiver, one batch of 100 new
#       problems; seconds from sending it to the first and the last alert received (the budget
#       is 10 messages per site and hour: 9 alerts and a digest), and how many came.
#     - WAL max: the largest lookout.db-wal seen (every 0.5 s) during a burst of 50,000 reports
#       sent as above to that server and until it is idle again; idle after burst: seconds from
#       the burst's end until the server uses under 4 % of a core over a whole second (the
#       alert tail has read every new report).
# Everything talks to 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000 5000000)
seed=${SEED:-1}
serve_figures=${SERVE:-1}
site=shop.example
burst=50000            # reports per wrk run (ingest, burst), 100 a request
alert_budget=10        # alert messages per site and hour (alert::ALERTS_PER_SITE_HOUR)
stores=target/bench-stores
lookout=target/release/lookout
fill=target/release/examples/store_fill

work=$(mktemp -d)
procs=()   # processes started here and still running
copy=      # the store copy the servers write into
cleanup() {
  local p
  for p in "${procs[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$copy" ]; then rm -rf "$copy"; fi
  rm -rf "$work"
}
trap cleanup EXIT
source bench/lib.sh   # installs wrk if missing; free_port, wait_http, cpu_ticks

# Runs a command in the background; its pid in $started.
start() {
  "$@" &
  started=$!
  procs+=("$started")
}

# Stops a process started by `start`.
stop() { # pid
  local p keep=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${procs[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  procs=("${keep[@]}")
}

# Whether a child process still runs (an exited child stays a zombie until waited for).
running() { # pid
  local state
  state=$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits until something answers HTTP at a URL, whatever the status.
wait_answer() { # url
  local _
  for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2
  return 1
}

# 1234567 → 1,234,567
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

# Median of 3 runs of a command, in milliseconds; its output is discarded, a failure stops
# the run.
median_ms() {
  local _ t0 t1 runs=()
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>"$work/cmd.err" || { echo "failed: $*" >&2; cat "$work/cmd.err" >&2; return 1; }
    t1=$(date +%s%N)
    runs+=($(( t1 - t0 )))
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p | awk '{printf "%.1f", $1 / 1e6}'
}

# Median of 3 GETs of a page, in milliseconds (curl's time_total); anything but 200 stops
# the run.
page_ms() { # url
  local _ out runs=()
  for _ in 1 2 3; do
    out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' "$1") || return 1
    [ "${out%% *}" = 200 ] || { echo "GET $1: HTTP ${out%% *}" >&2; return 1; }
    runs+=("${out#* }")
  done
  printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p | awk '{printf "%.1f", $1 * 1000}'
}

# lookout.db + -wal + -shm in a directory, in bytes.
db_bytes() { # dir
  local total=0 f
  for f in "$1/lookout.db" "$1/lookout.db-wal" "$1/lookout.db-shm"; do
    if [ -f "$f" ]; then total=$(( total + $(stat -c %s "$f") )); fi
  done
  echo "$total"
}

# Waits (at most max seconds) until a process has used at most 2 clock ticks of CPU in each
# of two consecutive half-seconds (under 4 % of a core); prints the seconds from the call to
# the start of that quiet second, or ">max".
wait_idle() { # pid max-seconds
  local t0 t prev now quiet=0 since=0 deadline=$(( SECONDS + $2 ))
  t0=$(date +%s%N)
  prev=$(cpu_ticks "$1")
  while [ "$quiet" -lt 2 ] && [ "$SECONDS" -lt "$deadline" ]; do
    t=$(date +%s%N)
    sleep 0.5
    now=$(cpu_ticks "$1")
    if [ $(( now - prev )) -le 2 ]; then
      [ "$quiet" -gt 0 ] || since=$t
      quiet=$(( quiet + 1 ))
    else
      quiet=0
    fi
    prev=$now
  done
  if [ "$quiet" -lt 2 ]; then printf '>%s' "$2"; return 0; fi
  awk -v a="$t0" -v b="$since" 'BEGIN {printf "%.1f", (b > a ? b - a : 0) / 1e9}'
}

# Starts `lookout serve` on a store and a port (more flags after them); waits until it answers
# and its start-up work (retention's first pass) is done. Its pid in $server.
serve() { # dir port [flags...]
  start env RUST_LOG=warn "$lookout" serve --data "$1" --addr "127.0.0.1:$2" \
    --allowed-sites '*' --retention-days 3650 "${@:3}" >>"$work/serve.log" 2>&1
  server=$started
  wait_http "http://127.0.0.1:$2/health" || { tail -20 "$work/serve.log" >&2; return 1; }
  wait_idle "$server" 120 >/dev/null
}

# A wrk script posting a batch (store_fill --payload: its {N} replaced per request with a value
# no other request of any run has) until each of wrk's 2 threads has its share of answers;
# a thread that has leaves $work/sent.<thread> behind and stops.
write_sender() { # file reports
  local per_thread=$(( $2 / 100 / 2 )) payload
  payload=$("$fill" --payload "$site" "$seed")
  cat >"$1" <<LUA
local run = "$(date +%s%N)"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local template = [==[$payload]==]
local n, answered = 0, 0
function request()
  n = n + 1
  local body = string.gsub(template, "{N}", run .. "-" .. tid .. "-" .. n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/reports+json"}, body)
end
function response()
  answered = answered + 1
  if answered == $per_thread then
    local f = io.open("$work/sent." .. tid, "w")
    if f then f:close() end
    pcall(function() wrk.thread:stop() end)
  end
end
LUA
}

# Runs a wrk script from write_sender at 16 connections against a URL until both threads have
# their answers (wrk itself only stops at the end of its duration, or on SIGINT, when it prints
# its figures); prints reports answered 2xx per second of wall time.
send() { # script url
  local out="$work/wrk.out" t0 t1 wrk_pid reqs non2xx errors _ deadline=$(( SECONDS + 900 ))
  rm -f "$work"/sent.*
  t0=$(date +%s%N)
  start wrk -t2 -c16 -d3600s --timeout 30s -s "$1" "$2" >"$out" 2>&1
  wrk_pid=$started
  until [ -e "$work/sent.1" ] && [ -e "$work/sent.2" ]; do
    if [ "$SECONDS" -ge "$deadline" ] || ! running "$wrk_pid"; then break; fi
    sleep 0.02
  done
  t1=$(date +%s%N)
  kill -INT "$wrk_pid" 2>/dev/null || true
  for _ in $(seq 100); do running "$wrk_pid" || break; sleep 0.1; done
  stop "$wrk_pid"
  reqs=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  errors=$(awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print}' "$out")
  [ -n "$reqs" ] || { echo "wrk gave no figures:" >&2; cat "$out" >&2; return 1; }
  [ -z "$non2xx$errors" ] || echo "wrk: non-2xx ${non2xx:-0}${errors:+, socket errors: $errors}" >&2
  awk -v r="$reqs" -v bad="${non2xx:-0}" -v ns=$(( t1 - t0 )) \
    'BEGIN {printf "%d", (r - bad) * 100 / (ns / 1e9)}'
}

# The alert receiver: answers 200 to every POST and appends its arrival time (epoch seconds).
cat >"$work/hook.py" <<'PY'
import http.server, sys, time

log = open(sys.argv[2], "a", buffering=1)

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        arrived = time.time()
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        log.write(f"{arrived:.6f}\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY

# The server figures on a copy of the store: ingest, the alert path, the WAL under a burst.
# Sets ingest, alerts, wal_mb, idle.
server_figures() { # store-dir
  local port rport hook t0 count last_count last_change deadline poller
  copy=$stores/serve-copy
  rm -rf "$copy"
  mkdir -p "$copy"
  cp "$1/lookout.db" "$copy/"
  if [ -f "$1/lookout.db-wal" ]; then cp "$1/lookout.db-wal" "$copy/"; fi
  # The copy's pages written out first: otherwise the kernel writes gigabytes back during the
  # measures, and every commit's fsync waits behind them.
  sync

  echo "  ingest: $burst reports" >&2
  port=$(free_port)
  serve "$copy" "$port"
  write_sender "$work/send.lua" "$burst"
  ingest=$(send "$work/send.lua" "http://127.0.0.1:$port/r/$site")
  ingest=$(commas "$ingest")
  stop "$server"

  echo "  alerts: 100 new problems, then a burst of $burst reports" >&2
  : >"$work/alerts.txt"
  rport=$(free_port)
  start python3 "$work/hook.py" "$rport" "$work/alerts.txt" >>"$work/hook.log" 2>&1
  hook=$started
  wait_answer "http://127.0.0.1:$rport/"
  port=$(free_port)
  serve "$copy" "$port" --alert-webhook "http://127.0.0.1:$rport/"
  "$fill" --new-problems "$site" "n$(date +%s%N)" >"$work/new.json"
  t0=$(date +%s.%N)
  curl -fsS -o /dev/null -H 'Content-Type: application/reports+json' \
    --data-binary "@$work/new.json" "http://127.0.0.1:$port/r/$site"
  # Until the budget's worth has come, or 5 s pass without another, or 30 s in all.
  last_count=0 last_change=$SECONDS deadline=$(( SECONDS + 30 ))
  while [ "$SECONDS" -lt "$deadline" ]; do
    count=$(wc -l <"$work/alerts.txt")
    [ "$count" -lt "$alert_budget" ] || break
    if [ "$count" -ne "$last_count" ]; then last_count=$count last_change=$SECONDS; fi
    if [ "$count" -gt 0 ] && [ $(( SECONDS - last_change )) -ge 5 ]; then break; fi
    sleep 0.1
  done
  alerts=$(python3 - "$work/alerts.txt" "$t0" <<'PY'
import sys
times = [float(line) for line in open(sys.argv[1]) if line.strip()]
t0 = float(sys.argv[2])
print(f"{min(times) - t0:.2f} / {max(times) - t0:.2f} s ({len(times)})" if times else "none in 30 s")
PY
)

  echo 0 >"$work/walmax"
  (
    max=0
    while :; do
      size=$(stat -c %s "$copy/lookout.db-wal" 2>/dev/null || echo 0)
      if [ "$size" -gt "$max" ]; then max=$size; echo "$max" >"$work/walmax"; fi
      sleep 0.5
    done
  ) >/dev/null &
  poller=$!
  procs+=("$poller")
  write_sender "$work/burst.lua" "$burst"
  send "$work/burst.lua" "http://127.0.0.1:$port/r/$site" >/dev/null
  idle=$(wait_idle "$server" 900)
  stop "$poller"
  wal_mb=$(awk -v b="$(cat "$work/walmax")" 'BEGIN {printf "%.1f", b / 1e6}')
  stop "$server"
  stop "$hook"
  rm -rf "$copy"
  copy=
}

echo "building (release)" >&2
cargo build --release --locked --bin lookout --examples >&2
policy=$("$fill" --policy "$site")
code=$(git rev-parse HEAD:src/store HEAD:src/report HEAD:examples/store_fill.rs 2>/dev/null \
  | cut -c1-12 | paste -sd-) || code=unknown
commit=$(git rev-parse --short HEAD 2>/dev/null) || commit=unknown
if [ -n "$(git status --porcelain -- src examples/store_fill.rs 2>/dev/null)" ]; then
  echo "note: uncommitted changes; stores are matched by the committed code" >&2
fi
mkdir -p "$stores"

echo "| reports | DB on disk (MB) | bytes/report | fill reports/s | top 30d (ms) | policy (ms) | front page (ms) | problems 30d (ms) | one problem (ms) | policy page (ms) | query --limit 50 (ms) | ingest reports/s | first/last alert after | WAL max (MB) | idle after burst (s) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${sizes[@]}"; do
  dir=$stores/$n
  key="n=$n seed=$seed code=$code"
  if [ "${FRESH:-0}" != 1 ] && [ -f "$dir/fill.txt" ] && [ "$(head -1 "$dir/fill.txt")" = "$key" ]; then
    echo "$n: reusing $dir ($(sed -n 2p "$dir/fill.txt"))" >&2
  else
    echo "$n: filling $dir" >&2
    rm -rf "$dir"
    "$fill" "$dir" "$n" "$seed" >"$work/fill.out"
    cat "$work/fill.out" >&2
    { echo "$key"; echo "filled $(date -u +%FT%TZ) at commit $commit"; cat "$work/fill.out"; } >"$dir/fill.txt"
  fi
  fill_rate=$(awk '/^result / {for (i = 2; i <= NF; i++) if ($i ~ /^fill_rate=/) print substr($i, 11)}' "$dir/fill.txt")
  bytes=$(db_bytes "$dir")
  db_mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}')
  per_report=$(( bytes / n ))

  echo "$n: commands" >&2
  top_ms=$(median_ms "$lookout" top --data "$dir" --site "$site" --since 30d)
  policy_ms=$(median_ms "$lookout" policy --data "$dir" --site "$site" --from-policy "$policy")
  query_ms=$(median_ms "$lookout" query --data "$dir" --site "$site" --limit 50)
  rare=$("$lookout" top --data "$dir" --site "$site" --since 30d --limit 1000000 --json | python3 -c '
import json, sys
groups = [json.loads(line) for line in sys.stdin if line.strip()]
g = min(groups, key=lambda g: g["count"])
print(g["type"], g["fingerprint"], g["count"], len(groups))')
  read -r rare_type rare_fp rare_count groups <<<"$rare"
  echo "  $groups problems on $site; the rarest: $rare_type $rare_fp ($rare_count reports)" >&2

  echo "$n: dashboard" >&2
  port=$(free_port)
  start env RUST_LOG=warn "$lookout" ui --data "$dir" --addr "127.0.0.1:$port" --policy "$policy" \
    >>"$work/ui.log" 2>&1
  ui=$started
  wait_answer "http://127.0.0.1:$port/none"
  base=http://127.0.0.1:$port
  front_ms=$(page_ms "$base/")
  problems_ms=$(page_ms "$base/?site=$site&window=30d")
  problem_ms=$(page_ms "$base/problem?site=$site&window=30d&type=$rare_type&fingerprint=$rare_fp")
  policy_page_ms=$(page_ms "$base/policy?site=$site&window=30d")
  stop "$ui"

  ingest=- alerts=- wal_mb=- idle=-
  if [ "$serve_figures" != 0 ]; then
    echo "$n: server" >&2
    server_figures "$dir"
  fi

  echo "| $(commas "$n") | $db_mb | $per_report | $(commas "${fill_rate:-?}") | $top_ms | $policy_ms | $front_ms | $problems_ms | $problem_ms | $policy_page_ms | $query_ms | $ingest | $alerts | $wal_mb | $idle |"
done
