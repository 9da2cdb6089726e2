#!/usr/bin/env bash
# Instructions per decoded request body, counted by callgrind: steadier than timings on a
# shared machine, so a change to the decoder can be judged by a few hundred instructions.
# Valgrind hides SHA-NI from the program, so the two SHA-256 digests run in software here and
# count several times what they cost on hardware; the "without SHA-256" column leaves them out.
#
#   bench/decode-instructions.sh [ITERATIONS] [FIXTURE...]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
iterations=${1:-2000}
shift || true
fixtures=("$@")
[ ${#fixtures[@]} -gt 0 ] || fixtures=(
  tests/fixtures/lookout/chromium-legacy-csp.json
  tests/fixtures/peers/icco-reportd__reportto__real-life.json
  tests/fixtures/peers/icco-reportd__reportto__nel.json
)

# Symbols kept, so that the SHA-256 compression function can be told apart.
export CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/prof}
cargo build --release --quiet --example decode_loop
bin=$CARGO_TARGET_DIR/release/examples/decode_loop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Exclusive counts per function, every function listed, no annotated source.
annotate() { callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null; }
total() { # out-file
  annotate "$1" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
sha() { # out-file
  annotate "$1" | awk '/:sha2::sha256::compress256/ {gsub(",", "", $1); s += $1} END {print s + 0}'
}

count() { # fixture mode → sets $all and $rest (per body)
  local n
  for n in 0 "$iterations"; do
    valgrind --tool=callgrind --callgrind-out-file="$work/$n" "$bin" "$1" "$n" "$2" >/dev/null 2>&1
  done
  all=$(( ($(total "$work/$iterations") - $(total "$work/0")) / iterations ))
  rest=$(( all - ($(sha "$work/$iterations") - $(sha "$work/0")) / iterations ))
}

printf '| body | decode, instructions | without SHA-256 | floor (`Value` parse) | ratio without SHA-256 |\n'
printf '| --- | --- | --- | --- | --- |\n'
for f in "${fixtures[@]}"; do
  count "$f" decode
  decode_all=$all decode_rest=$rest
  count "$f" floor
  printf '| `%s` | %s | %s | %s | %s× |\n' "$(basename "$f")" "$decode_all" "$decode_rest" "$all" \
    "$(awk -v a="$decode_rest" -v b="$all" 'BEGIN {printf "%.1f", a / b}')"
done
