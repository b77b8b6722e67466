#!/bin/sh
# bench/side_by_side.sh [BASE] [ROUNDS] — the tracing benchmark of an older
# commit and of this checkout's backends, interleaved in one run so that all
# see the same machine: small random Llama model, fast engine, all three
# kinds, S = 10, window 10, 32 tokens (bench/trace.c).  Per round:
#   base      BASE's build (float32 weights)
#   openblas  this checkout, --backend openblas (float32)
#   cpu       this checkout, the default backend (oneDNN, float32)
#   bf16      this checkout, bf16 weights and --dtype bf16 (bf16 products)
# Prints every round, the medians, and the ratios.
#   BASE defaults to 08582e2 (the last commit before the oneDNN products).
# The OpenMP wait policy is the caller's (OMP_WAIT_POLICY; unset: libgomp's
# default, what `ctrace` runs with).
set -eu
BASE=${1:-08582e2}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$(mktemp -d /tmp/ctrace-base-XXXXXX)
trap 'git -C "$ROOT" worktree remove --force "$OLD" >/dev/null 2>&1 || rm -rf "$OLD"' EXIT
git -C "$ROOT" worktree add --detach "$OLD" "$BASE" >/dev/null 2>&1
make -s -C "$OLD" build/bench/trace >/dev/null
make -s -C "$ROOT" build/bench/trace >/dev/null
total() { grep "^small *total:" | sed 's/.*fast \([0-9.]*\) s.*/\1/'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
B="$ROOT/build/bench/trace"
: >"$OLD/t.base"; : >"$OLD/t.openblas"; : >"$OLD/t.cpu"; : >"$OLD/t.bf16"
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset (libgomp default)}"
echo "round  base $BASE s   openblas s   cpu (oneDNN) s   bf16 s"
for r in $(seq "$ROUNDS"); do
    a=$("$OLD/build/bench/trace" small fast all | total)
    b=$("$B" small fast all f32 f32 openblas | total)
    c=$("$B" small fast all f32 f32 cpu | total)
    d=$("$B" small fast all bf16 bf16 cpu | total)
    echo "$a" >>"$OLD/t.base"; echo "$b" >>"$OLD/t.openblas"; echo "$c" >>"$OLD/t.cpu"; echo "$d" >>"$OLD/t.bf16"
    printf "%5d  %15s   %10s   %14s   %6s\n" "$r" "$a" "$b" "$c" "$d"
done
a=$(median <"$OLD/t.base"); b=$(median <"$OLD/t.openblas"); c=$(median <"$OLD/t.cpu"); d=$(median <"$OLD/t.bf16")
printf "median %15s   %10s   %14s   %6s\n" "$a" "$b" "$c" "$d"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
    printf "base/cpu %.2fx   openblas/cpu %.2fx   cpu/bf16 %.2fx   base/bf16 %.2fx\n", a / c, b / c, c / d, a / d }'
