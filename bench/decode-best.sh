#!/usr/bin/env bash
# Decode time per request body and per report, beside the floor (a bare serde_json::Value
# parse of the same bytes), as the fastest of many interleaved rounds: on a shared machine a
# neighbour's burst slows some rounds and never speeds one up, so the fastest round is the
# figure that repeats. Criterion's means (`cargo bench --bench decode`) move by ±30 % there.
#
#   bench/decode-best.sh [ITERATIONS=20000] [ROUNDS=30] [FIXTURE...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/decode-lib.sh

iterations=${1:-20000}
rounds=${2:-30}
shift 2 || shift $#
fixtures=("$@")
[ ${#fixtures[@]} -gt 0 ] || fixtures=("${decode_fixtures[@]}")

cargo build --release --quiet --example decode_loop
bin=${CARGO_TARGET_DIR:-target}/release/examples/decode_loop

printf '| body | reports | decode per body | reports/s | floor per body | ratio |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for f in "${fixtures[@]}"; do
  n=$(iterations_for "$f" "$iterations")
  read -r reports decode floor < <("$bin" "$f" "$n" best "$rounds")
  awk -v f="$(basename "$f")" -v r="$reports" -v d="$decode" -v fl="$floor" 'BEGIN {
    printf "| `%s` | %d | %.2f µs | %.0f k | %.2f µs | %.1f× |\n", f, r, d, r / d * 1000, fl, d / fl
  }'
done
