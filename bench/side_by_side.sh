#!/bin/sh
# bench/side_by_side.sh [BASE] [ROUNDS] — the tracing benchmark of an older
# commit and of this checkout, interleaved in one run so that both see the same
# machine: small random Llama model, fast engine, all three kinds, S = 10,
# window 10, 32 tokens (bench/trace.c).  This checkout runs twice per round:
# float32 weights and bf16 weights.  Prints every round and the medians.
#   BASE defaults to 60e4ab0 (the last commit before the ops seam).
set -eu
BASE=${1:-60e4ab0}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$(mktemp -d /tmp/ctrace-base-XXXXXX)
trap 'git -C "$ROOT" worktree remove --force "$OLD" >/dev/null 2>&1 || rm -rf "$OLD"' EXIT
git -C "$ROOT" worktree add --detach "$OLD" "$BASE" >/dev/null 2>&1
make -s -C "$OLD" build/bench/trace >/dev/null
make -s -C "$ROOT" build/bench/trace >/dev/null
total() { grep "^small *total:" | sed 's/.*fast \([0-9.]*\) s.*/\1/'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
: >"$OLD/old.txt"; : >"$OLD/new.txt"; : >"$OLD/bf16.txt"
echo "round  base $BASE (f32) s   this (f32) s   this (bf16) s"
for r in $(seq "$ROUNDS"); do
    a=$(OMP_WAIT_POLICY=passive "$OLD/build/bench/trace" small fast all | total)
    b=$(OMP_WAIT_POLICY=passive "$ROOT/build/bench/trace" small fast all f32 | total)
    c=$(OMP_WAIT_POLICY=passive "$ROOT/build/bench/trace" small fast all bf16 | total)
    echo "$a" >>"$OLD/old.txt"; echo "$b" >>"$OLD/new.txt"; echo "$c" >>"$OLD/bf16.txt"
    printf "%5d  %20s   %12s   %13s\n" "$r" "$a" "$b" "$c"
done
a=$(median <"$OLD/old.txt"); b=$(median <"$OLD/new.txt"); c=$(median <"$OLD/bf16.txt")
printf "median %20s   %12s   %13s\n" "$a" "$b" "$c"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "this/base (f32): %.3f   bf16/f32: %.3f\n", b / a, c / b }'
