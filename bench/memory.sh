#!/bin/sh
# bench/memory.sh [1b|8b] [OLD_CTRACE] — memory and speed of a bf16 checkpoint:
# writes a random Llama-layout checkpoint (build/tools/make_checkpoint) under
# ${CTRACE_BENCH_DIR:-/tmp/ctrace-bench} unless it is there, then measures with
# /usr/bin/time the peak resident memory and wall time of
#   ctrace logits, 1 token (≈ load time) and 32 tokens (tokens/s from the difference);
#   ctrace trace --kind all, 32 tokens, span [4, 8), S = 10, window 10 (1b only:
#     on 2 cores an 8B three-kind trace takes hours; 8b runs --kind hidden, S = 1,
#     16 tokens instead).
# OLD_CTRACE, when given, is measured the same way (e.g. a build of the commit
# before weights were kept as stored).
set -u
SIZE=${1:-1b}
OLD=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$ROOT" build/ctrace build/tools/make_checkpoint >/dev/null || exit 1
DIR=${CTRACE_BENCH_DIR:-/tmp/ctrace-bench}/llama-$SIZE-bf16
mkdir -p "$(dirname "$DIR")"
if [ ! -f "$DIR/model.safetensors" ]; then
    t0=$(date +%s)
    "$ROOT/build/tools/make_checkpoint" "$SIZE" "$DIR" bf16 || exit 1
    echo "written in $(($(date +%s) - t0)) s"
fi
FILE=$(stat -c %s "$DIR/model.safetensors")
ids() { seq 1 "$1" | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7919 + 11) % 32000 }'; }
T=32; TT=32; KIND=all; S=10
[ "$SIZE" = 8b ] && { TT=16; KIND=hidden; S=1; }
TMP=$(mktemp -d /tmp/ctrace-mem-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf "checkpoint %s: %.2f GiB bf16\n" "$DIR" "$(echo "$FILE" | awk '{print $1 / 2^30}')"
printf "%-8s %-34s %10s %8s %9s\n" "binary" "command" "peak MiB" "/ file" "wall s"
run() {   # label binary args...: prints one row, sets $wall
    lab=$1; bin=$2; shift 2
    /usr/bin/time -f "%M %e" -o "$TMP/t" "$bin" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne 0 ]; then
        printf "%-8s %-34s failed: %s\n" "$lab" "$what" "$(grep -v 'Command exited' "$TMP/err" | tail -n 1)"
        wall=""; return
    fi
    set -- $(tail -n 1 "$TMP/t")
    wall=$2
    printf "%-8s %-34s %10.0f %8.2f %9.2f\n" "$lab" "$what" "$(($1 / 1024))" "$(echo "$1 $FILE" | awk '{print $1 * 1024 / $2}')" "$2"
}
for b in new old; do
    bin="$ROOT/build/ctrace"
    [ $b = old ] && { [ -n "$OLD" ] || continue; bin=$OLD; }
    what="logits, 1 token (load)"; run $b "$bin" logits --model_name "$DIR" --token_ids "$(ids 1)" --out "$TMP/l.st"; w1=$wall
    what="logits, $T tokens"; run $b "$bin" logits --model_name "$DIR" --token_ids "$(ids $T)" --out "$TMP/l.st"; w32=$wall
    [ -n "$w1" ] && [ -n "$w32" ] && awk -v a="$w1" -v b="$w32" -v t=$T 'BEGIN { if (b > a) printf "         forward: %.1f tokens/s (%d tokens in %.2f s after load)\n", t / (b - a), t, b - a }'
    what="trace --kind $KIND, T=$TT, S=$S"; run $b "$bin" trace --model_name "$DIR" --token_ids "$(ids $TT)" --target 4:8 \
        --answer_ids 1234 --kind $KIND --samples $S --window 10 --out "$TMP/c.bin"
done
