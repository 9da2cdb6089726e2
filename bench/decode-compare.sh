#!/usr/bin/env bash
# Decode time of this checkout against another commit's, each body's two builds run in
# alternation (base, this, base, this...), fastest round of each: on a shared VM a change of a
# few per cent is only seen this way, and a build's code layout alone moves the figures by a
# few per cent, so judge a change by several pairs, never by one run.
#
#   bench/decode-compare.sh BASE_COMMIT [PAIRS=4] [FIXTURE...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/decode-lib.sh

base=${1:?usage: bench/decode-compare.sh BASE_COMMIT [PAIRS] [FIXTURE...]}
pairs=${2:-4}
shift 2 || shift $#
fixtures=("$@")
[ ${#fixtures[@]} -gt 0 ] || fixtures=("${decode_fixtures[@]}")

work=$(mktemp -d)
cleanup() {
  git worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The base commit in a worktree of its own; both builds share one target directory for their
# dependencies (only the crate itself is built twice).
target=${CARGO_TARGET_DIR:-$PWD/target}
git worktree add --detach --quiet "$work/base" "$base"
(cd "$work/base" && CARGO_TARGET_DIR=$target/compare-base cargo build --release --quiet --example decode_loop)
cp "$target/compare-base/release/examples/decode_loop" "$work/before"
CARGO_TARGET_DIR=$target cargo build --release --quiet --example decode_loop
cp "$target/release/examples/decode_loop" "$work/after"

printf 'base %s against %s, %d pairs of 10 rounds\n\n' "$(git rev-parse --short "$base")" \
  "$(git rev-parse --short HEAD)" "$pairs"
printf '| body | reports | before | after | change | floor | ratio after |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for f in "${fixtures[@]}"; do
  n=$(iterations_for "$f" 20000)
  for _ in $(seq "$pairs"); do
    for build in before after; do
      echo "$build $("$work/$build" "$f" "$n" best 10)"
    done
  done | awk -v f="$(basename "$f")" '
    { if (!($1 in d) || $3 < d[$1]) d[$1] = $3
      if (!(fl) || $4 < fl) fl = $4
      r = $2 }
    END { printf "| `%s` | %d | %.3f µs | %.3f µs | %+.1f %% | %.3f µs | %.2f× |\n",
            f, r, d["before"], d["after"], (d["after"] / d["before"] - 1) * 100, fl, d["after"] / fl }'
done
