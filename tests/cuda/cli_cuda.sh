#!/bin/sh
# cli_cuda.sh — the end-to-end GPU checks of make test-cuda (needs a CUDA
# build and a GPU; NOT YET RUN ON A GPU):
#   - ctrace logits --device cuda vs the CPU on every hf-tiny fixture:
#     max |logits_cuda - logits_cpu| / max |logits_cpu| <= 1e-4 (f32 compute);
#   - ctrace trace --device cuda vs the CPU fast engine, all three kinds, and
#     with --reverse_patching 1, --replace 1, a multi-token answer and two target ranges:
#     every score (p) within 1e-5;
#   - ctrace run on the demo model, --device cuda vs cpu: case files' scores within 1e-5;
#   - bf16 compute on the GPU vs f32 on the CPU: printed, not checked.
BIN=${CTRACE_BIN:-build-cuda/ctrace}
F=${CTRACE_FIXTURES:-build-cuda/fixtures}/hf-tiny
HERE=$(dirname "$0")
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0; n=0
ok() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
within() { awk -v d="$1" -v m="$2" -v t="$3" -v rel="$4" 'BEGIN { if (rel) d = d / (m > 0 ? m : 1); exit !(d <= t) }'; }
IDS=1,200,13,77,511,0,5,5,42,300,128,9,77
for M in "$F"/*/; do
    M=${M%/}; name=$(basename "$M")
    [ -f "$M/config.json" ] || continue
    "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/c.st" >/dev/null 2>"$D/err" || { bad "$name cpu logits: $(cat "$D/err")"; continue; }
    "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/g.st" --device cuda >/dev/null 2>"$D/err" ||
        { bad "$name cuda logits: $(cat "$D/err")"; continue; }
    set -- $(python3 "$HERE/st_maxdiff.py" "$D/g.st" "$D/c.st" logits)
    echo "logits $name: max |cuda - cpu| $1 (max |cpu| $2)"
    within "$1" "$2" 1e-4 1 && ok || bad "$name logits: normalized error $1 / $2 > 1e-4"
    "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/b.st" --device cuda --dtype bf16 >/dev/null 2>"$D/err" &&
        set -- $(python3 "$HERE/st_maxdiff.py" "$D/b.st" "$D/c.st" logits) && echo "logits $name bf16 (cuda) vs f32 (cpu): $1 (max $2)"
done
M="$F/llama_gqa"
tr() { "$BIN" trace --model_name "$M" --token_ids $IDS --samples 3 --threads 1 "$@"; }
for variant in "--target 5:8 --answer_ids 492" "--target 5:8 --answer_ids 492 --reverse_patching 1" \
               "--target 5:8 --answer_ids 492 --replace 1" "--target 5:8 --answer_ids 492,17,300" \
               "--target 1:3,6:8 --answer_ids 492"; do
    # shellcheck disable=SC2086
    tr $variant --kind all --out "$D/c.bin" >/dev/null 2>"$D/err" || { bad "cpu trace $variant: $(cat "$D/err")"; continue; }
    # shellcheck disable=SC2086
    tr $variant --kind all --out "$D/g.bin" --device cuda >/dev/null 2>"$D/err" || { bad "cuda trace $variant: $(cat "$D/err")"; continue; }
    for k in hidden mlp attention; do
        set -- $(python3 "$HERE/st_maxdiff.py" "$D/g.$k.bin" "$D/c.$k.bin" scores scores_samples low_score high_score)
        echo "trace $k $variant: max |p_cuda - p_cpu| $1"
        within "$1" "$2" 1e-5 0 && ok || bad "trace $k $variant: $1 > 1e-5"
    done
done
# ctrace run on the demo model: the same case files (scores within 1e-5)
for dev in cpu cuda; do
    "$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$D/run_$dev" --max_datapoints 2 \
        --samples 3 --device $dev >/dev/null 2>"$D/err" || bad "run --device $dev: $(cat "$D/err")"
done
for c in "$D"/run_cpu/cases/*.bin; do
    [ -f "$c" ] || { bad "run: no case files"; break; }
    g="$D/run_cuda/cases/$(basename "$c")"
    [ -f "$g" ] || { bad "run --device cuda: no $(basename "$c")"; continue; }
    set -- $(python3 "$HERE/st_maxdiff.py" "$g" "$c" scores scores_samples low_score high_score)
    echo "run case $(basename "$c"): max |p_cuda - p_cpu| $1"
    within "$1" "$2" 1e-5 0 && ok || bad "run case $(basename "$c"): $1 > 1e-5"
done
echo "cli_cuda.sh: $n checks passed, $fail failed"
[ "$fail" -eq 0 ]
