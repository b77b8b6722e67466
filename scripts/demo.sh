#!/bin/sh
# scripts/demo.sh BIN — what `make demo` runs: the seed's three experiments on a
# handful of rows of data/demo.jsonl with the bundled demo model (models/demo,
# a small Llama trained on a synthetic world, docs/demo-model.md), then the
# segment averages.  Every 8th row (--shard 0/8): rows 0-23 of data/demo.jsonl
# have subjects whose facts are in the model's weights, rows 24-47 subjects it
# has never seen, so the demo takes 3 of each.
#   DEMO_MODEL, DEMO_DATA, DEMO_OUT, DEMO_EVERY override the defaults below.
# Rerunning reuses the finished cases (delete DEMO_OUT to start over).
set -eu
BIN=${1:-build/ctrace}
MODEL=${DEMO_MODEL:-models/demo}
DATA=${DEMO_DATA:-data/demo.jsonl}
OUT=${DEMO_OUT:-build/demo-run}
EVERY=${DEMO_EVERY:-8}

if [ ! -x "$BIN" ]; then echo "demo: $BIN not built (run make)" >&2; exit 1; fi
if [ ! -f "$MODEL/model.safetensors" ] || [ ! -f "$MODEL/tokenizer.json" ]; then
    echo "demo: no demo model in $MODEL (model.safetensors + tokenizer.json); set DEMO_MODEL=DIR" >&2; exit 1
fi
if [ ! -f "$DATA" ]; then echo "demo: no dataset $DATA; set DEMO_DATA=FILE" >&2; exit 1; fi

echo "demo: $MODEL on every ${EVERY}th row of $DATA -> $OUT"
start=$(date +%s)
for e in 1 2 3; do
    case $e in 1) what="subject";; 2) what="object";; 3) what="relation";; esac
    echo "== experiment $e: noise on the $what of the passage"
    # the seed tool's command line (run_causal_tracer.py), program name aside
    "$BIN" run --model_name "$MODEL" --experiment_type $e --data_path "$DATA" --output_dir "$OUT/exp$e" \
        --samples 10 --window 4 --shard "0/$EVERY"
    "$BIN" average "$OUT/exp$e" --out "$OUT/exp$e/average" | tail -n 1
done
echo
echo "demo finished in $(( $(date +%s) - start )) s.  Figures:"
for e in 1 2 3; do
    echo "  experiment $e: $OUT/exp$e/pdfs/ (one heat map per row and kind)"
    echo "                $OUT/exp$e/average/average_all.pdf (averaged by token segment; numbers in average.csv)"
done
