#!/bin/sh
# bench/rome_side_by_side.sh [--quick] [ROUNDS] — ctrace against ROME's procedure
# in plain PyTorch (tools/rome/rome_trace.py), interleaved in one run so that all
# three see the same machine.  Per round:
#   1. /usr/bin/python3 tools/rome/rome_trace.py  (one forward of 1 clean + S
#      corrupted rows per cell, in-place patches; Debian's python3-torch)
#   2. build/ctrace trace --engine fast  --kind all
#   3. build/ctrace trace --engine naive --kind all
# on the same checkpoint directory, prompt, span, answer and noise (ctrace's
# default level, 3 × std(W_E), which the tool computes the same way; compare.py
# checks the levels are equal).  Every round checks that the three sets of grids
# (scores per cell, low and high score, hidden/mlp/attention) agree to float32
# rounding (tools/rome/compare.py: max |Δ| ≤ 1e-5 and ≤ 1e-4 of the largest
# score) and stops with an error if not.  Prints each round's wall times (whole
# processes: start, load, trace, write), the medians and the ratios.
#
# Model: the "small" random Llama of bench/trace.c (hidden 512, 8 layers, 8/8
# heads, MLP 1376, vocab 32000, f32), written by build/tools/make_checkpoint
# under ${CTRACE_BENCH_DIR:-/tmp/ctrace-bench}; 32-token prompt, span [4, 8),
# S = 10, window 10, answer id 1234.  The PyTorch run takes minutes per round.
# --quick: a tiny GQA model (hidden 64, 2 layers, 4/2 heads, MLP 96, vocab 512),
# 16 tokens, S = 3, one round by default: a correctness smoke of a few seconds.
# Threads: 2 for all three (torch.set_num_threads; ctrace --threads 2).
set -eu
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
ROUNDS=${1:-$([ $QUICK = 1 ] && echo 1 || echo 3)}
THREADS=${CTRACE_BENCH_THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    echo "rome_side_by_side: $PY has no torch/numpy (Debian: apt-get install python3-torch)" >&2
    exit 1
fi
make -s -C "$ROOT" build/ctrace build/tools/make_checkpoint >/dev/null
# The OpenMP wait policy (all three tools use libgomp): ctrace runs with the
# caller's OMP_WAIT_POLICY (unset: libgomp's default, what `ctrace` runs with);
# PyTorch with TORCH_WAIT_POLICY, default passive, its faster one here
# (TORCH_WAIT_POLICY=default leaves it unset: libgomp's default, with which
# this tool took 302 s against 141 s passive, 2026-12-02).
TORCH_WAIT_POLICY=${TORCH_WAIT_POLICY:-passive}
torch_env() { if [ "$TORCH_WAIT_POLICY" = default ]; then env -u OMP_WAIT_POLICY "$@"; else OMP_WAIT_POLICY=$TORCH_WAIT_POLICY "$@"; fi; }
echo "rome_side_by_side: ctrace OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset (libgomp default)}, PyTorch OMP_WAIT_POLICY=$TORCH_WAIT_POLICY"

if [ $QUICK = 1 ]; then
    NAME=rome-tiny-f32; SHAPE=64,2,4,2,96,512; T=16; S=3; VOCAB=512; ANSWER=42
else
    NAME=rome-small-f32; SHAPE=512,8,8,8,1376,32000; T=32; S=10; VOCAB=32000; ANSWER=1234
fi
SPAN=4:8; WINDOW=10
DIR=${CTRACE_BENCH_DIR:-/tmp/ctrace-bench}/$NAME
mkdir -p "$(dirname "$DIR")"
if [ ! -f "$DIR/model.safetensors" ]; then
    "$ROOT/build/tools/make_checkpoint" "$SHAPE" "$DIR" f32 >/dev/null
fi
# the prompt: T fixed ids spread over the vocabulary (as bench/memory.sh's)
IDS=$(seq 1 "$T" | awk -v v="$VOCAB" '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7919 + 11) % v }')

TMP=$(mktemp -d /tmp/ctrace-rome-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ctrace_trace() {   # engine out
    "$ROOT/build/ctrace" trace --model_name "$DIR" --token_ids "$IDS" --target $SPAN --answer_ids $ANSWER \
        --kind all --samples $S --window $WINDOW --engine "$1" --threads "$THREADS" --out "$2.bin" >"$TMP/log" 2>&1 ||
        { cat "$TMP/log" >&2; exit 1; }
}

echo "model $DIR ($SHAPE f32), T=$T, span $SPAN, S=$S, window $WINDOW, answer $ANSWER, $THREADS threads; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/py.txt"; : >"$TMP/fast.txt"; : >"$TMP/naive.txt"; : >"$TMP/own.txt"
printf "%5s  %12s  %14s  %12s  %s\n" round "pytorch s" "ctrace fast s" "ctrace naive s" "worst max|d|"
for r in $(seq "$ROUNDS"); do
    t0=$(now)
    torch_env "$PY" "$ROOT/tools/rome/rome_trace.py" --model_name "$DIR" --token_ids "$IDS" --target $SPAN \
        --answer_ids $ANSWER --kind all --samples $S --window $WINDOW --threads "$THREADS" \
        --out "$TMP/rome.npz" >"$TMP/pylog" 2>&1 || { cat "$TMP/pylog" >&2; exit 1; }
    t1=$(now)
    ctrace_trace fast "$TMP/fast"
    t2=$(now)
    ctrace_trace naive "$TMP/naive"
    t3=$(now)
    if ! "$PY" "$ROOT/tools/rome/compare.py" "$TMP/rome.npz" "$TMP/fast" "$TMP/naive" >"$TMP/cmp" 2>&1; then
        cat "$TMP/cmp" >&2
        echo "rome_side_by_side: round $r: the grids disagree (above)" >&2
        exit 1
    fi
    a=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
    b=$(echo "$t1 $t2" | awk '{printf "%.2f", $2 - $1}')
    c=$(echo "$t2 $t3" | awk '{printf "%.2f", $2 - $1}')
    echo "$a" >>"$TMP/py.txt"; echo "$b" >>"$TMP/fast.txt"; echo "$c" >>"$TMP/naive.txt"
    printf "%5d  %12s  %14s  %12s  %s\n" "$r" "$a" "$b" "$c" "$(sed -n 's/.*worst: max|d| \([^,]*\),.*/\1/p' "$TMP/cmp")"
    sed -n 's/.*trace seconds: pytorch \([0-9.]*\) fast \([0-9.]*\) naive \([0-9.]*\).*/\1 \2 \3/p' "$TMP/cmp" >>"$TMP/own.txt"
    if [ "$r" = 1 ]; then cp "$TMP/cmp" "$TMP/cmp1"; fi
done
echo "grids of round 1 (pytorch = tools/rome/rome_trace.py):"
cat "$TMP/cmp1"
a=$(median <"$TMP/py.txt"); b=$(median <"$TMP/fast.txt"); c=$(median <"$TMP/naive.txt")
printf "median %11s  %14s  %12s\n" "$a" "$b" "$c"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "wall (whole processes):   pytorch/fast %.1f×   pytorch/naive %.2f×   naive/fast %.2f×\n", a / b, a / c, c / b }'
# the same from the tools' own trace times (no interpreter start, no model load)
a=$(cut -d' ' -f1 "$TMP/own.txt" | median); b=$(cut -d' ' -f2 "$TMP/own.txt" | median); c=$(cut -d' ' -f3 "$TMP/own.txt" | median)
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "trace only (medians %.2f, %.2f, %.2f s): pytorch/fast %.1f×   pytorch/naive %.2f×   naive/fast %.2f×\n", a, b, c, a / b, a / c, c / b }'
